/* SPDX-License-Identifier: Apache-2.0 */
#include "host/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

static char *lock_path(const char *vm_dir)
{
	return xasprintf("%s/%s", vm_dir, VM_LOCK_FILE);
}

static char *lock_content(const struct vm_lock_params *p, uint64_t counter)
{
	char t[32];
	time_format_iso(time_real_ms(), t);
	json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:I, s:s}", "version", 1, "host_id",
			      p->host_id, "host_name", p->host_name ? p->host_name : "", "pid",
			      (int)getpid(), "counter", (json_int_t)counter, "renewed", t);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

int vm_lock_read(const char *vm_dir, struct vm_lock_info *info, struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return vr_error_set_errno(err, errno, "cannot read the lock \"%s\"", path);
	}
	_cleanup_free_ char *text = NULL;
	int r = file_read_all(path, 4096, &text, NULL, err);
	if (r < 0)
		return r;
	memset(info, 0, sizeof(*info));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	info->age_ms = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 +
		       (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	const char *hid = NULL, *hname = "";
	json_int_t counter = 0;
	if (!o || json_unpack(o, "{s:s, s?s, s:I}", "host_id", &hid, "host_name", &hname,
			      "counter", &counter) < 0 ||
	    !uuid_is_valid(hid) || counter < 0) {
		json_decref(o);
		return vr_error_set(err, EBADMSG, "the lock \"%s\" is malformed", path);
	}
	snprintf(info->host_id, sizeof(info->host_id), "%s", hid);
	snprintf(info->host_name, sizeof(info->host_name), "%s", hname);
	info->counter = (uint64_t)counter;
	json_decref(o);
	return 0;
}

/* Creates the lock only if there is none: write a private file, then link() it. */
static int lock_create_excl(const char *vm_dir, const struct vm_lock_params *p,
			    struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	_cleanup_free_ char *tmp = xasprintf("%s.%s.new", path, p->host_id);
	_cleanup_free_ char *content = lock_content(p, 1);
	int r = file_write_atomic(tmp, content, strlen(content), 0644, err);
	if (r < 0)
		return r;
	if (link(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		if (e == EEXIST)
			return -EEXIST;
		return vr_error_set_errno(err, e, "cannot create the lock \"%s\"", path);
	}
	unlink(tmp);
	fsync_dir_of(path);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int vm_lock_acquire(const char *vm_dir, const struct vm_lock_params *p, struct vr_error **err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = lock_create_excl(vm_dir, p, err);
		if (r != -EEXIST)
			return r;
		struct vm_lock_info info;
		struct vr_error *read_err = NULL;
		r = vm_lock_read(vm_dir, &info, &read_err);
		if (r == -ENOENT) {
			vr_error_free(read_err);
			continue; /* released meanwhile */
		}
		if (r == -EBADMSG) {
			/* A live owner rewrites its lock every renewal: an old malformed one is debris. */
			_cleanup_free_ char *path = lock_path(vm_dir);
			struct stat st;
			bool old = stat(path, &st) == 0 &&
				   (int64_t)time(NULL) - st.st_mtime > (int64_t)(p->lease_ms / 1000 + 1);
			if (!old) {
				r = vr_error_set(err, EBUSY, "%s; it was written less than the lease (%u ms) ago",
						 read_err->msg, p->lease_ms);
				vr_error_free(read_err);
				return r;
			}
			vr_error_free(read_err);
			_cleanup_free_ char *stale = xasprintf("%s.stale", path);
			if (rename(path, stale) < 0 && errno != ENOENT)
				return vr_error_set_errno(err, errno, "cannot remove the malformed lock \"%s\"",
							  path);
			log_warn("removed the malformed lock of \"%s\"", vm_dir);
			continue;
		}
		if (r < 0) {
			if (err && !*err)
				*err = read_err;
			else
				vr_error_free(read_err);
			return r;
		}
		if (strcmp(info.host_id, p->host_id) == 0)
			return vm_lock_renew(vm_dir, p, err);
		if (info.age_ms < (int64_t)p->lease_ms)
			return vr_error_set(err, EBUSY,
					    "the VM is locked by host \"%s\" (%s), which renewed the "
					    "lock %lld ms ago; it is probably running there",
					    info.host_name, info.host_id, (long long)info.age_ms);
		/*
		 * The lease looks expired by our clock.  Clocks may differ
		 * between hosts, so confirm by watching the counter.
		 */
		uint64_t seen = info.counter;
		sleep_ms(p->renew_ms + 1000);
		r = vm_lock_read(vm_dir, &info, err);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (info.counter != seen || strcmp(info.host_id, p->host_id) == 0)
			return vr_error_set(err, EBUSY,
					    "the VM is locked by host \"%s\" (%s), which is still "
					    "renewing the lock",
					    info.host_name, info.host_id);
		_cleanup_free_ char *path = lock_path(vm_dir);
		_cleanup_free_ char *stale = xasprintf("%s.stale", path);
		if (rename(path, stale) < 0) {
			if (errno == ENOENT)
				continue; /* someone else broke it first */
			return vr_error_set_errno(err, errno, "cannot break the stale lock \"%s\"",
						  path);
		}
		log_warn("broke the stale lock of \"%s\" held by host \"%s\" (%s), not renewed "
			 "for %lld ms",
			 vm_dir, info.host_name, info.host_id, (long long)info.age_ms);
	}
	return vr_error_set(err, EBUSY, "cannot take the lock of \"%s\": it keeps changing hands",
			    vm_dir);
}

int vm_lock_renew(const char *vm_dir, const struct vm_lock_params *p, struct vr_error **err)
{
	struct vm_lock_info info;
	int r = vm_lock_read(vm_dir, &info, err);
	if (r == -ENOENT)
		return vr_error_set(err, ESTALE, "the lock of \"%s\" has disappeared", vm_dir);
	if (r < 0)
		return r;
	if (strcmp(info.host_id, p->host_id) != 0)
		return vr_error_set(err, ESTALE, "the lock of \"%s\" now belongs to host \"%s\" (%s)",
				    vm_dir, info.host_name, info.host_id);
	_cleanup_free_ char *path = lock_path(vm_dir);
	_cleanup_free_ char *content = lock_content(p, info.counter + 1);
	return file_write_atomic(path, content, strlen(content), 0644, err);
}

int vm_lock_release(const char *vm_dir, const char *host_id, struct vr_error **err)
{
	struct vm_lock_info info;
	int r = vm_lock_read(vm_dir, &info, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (strcmp(info.host_id, host_id) != 0)
		return vr_error_set(err, EPERM, "the lock of \"%s\" belongs to host \"%s\"", vm_dir,
				    info.host_name);
	_cleanup_free_ char *path = lock_path(vm_dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return vr_error_set_errno(err, errno, "cannot remove the lock \"%s\"", path);
	fsync_dir_of(path);
	return 0;
}
