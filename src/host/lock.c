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

/* The lock's text: JSON padded with spaces to VM_LOCK_SIZE, so that it is rewritten in place. */
static void lock_content(const struct vm_lock_params *p, uint64_t counter, char out[VM_LOCK_SIZE])
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
	size_t n = strlen(s);
	if (n > VM_LOCK_SIZE - 1) /* host names are limited well below this */
		n = VM_LOCK_SIZE - 1;
	memset(out, ' ', VM_LOCK_SIZE);
	memcpy(out, s, n);
	out[VM_LOCK_SIZE - 1] = '\n';
	free(s);
}

static int lock_write_fd(int fd, const struct vm_lock_params *p, uint64_t counter,
			 const char *path, struct vr_error **err)
{
	char buf[VM_LOCK_SIZE];
	lock_content(p, counter, buf);
	ssize_t w = pwrite(fd, buf, sizeof(buf), 0);
	if (w != (ssize_t)sizeof(buf))
		return vr_error_set_errno(err, w < 0 ? errno : EIO, "cannot write the lock \"%s\"",
					  path);
	/* Other hosts read it over the shared datastore: it must reach the storage. */
	if (fsync(fd) < 0)
		return vr_error_set_errno(err, errno, "cannot write the lock \"%s\"", path);
	return 0;
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

/*
 * Creates the lock only if there is none: write a private file, then
 * link() it into place.  Returns a descriptor on the new lock.
 */
static int lock_create_excl(const char *vm_dir, const struct vm_lock_params *p,
			    uint64_t counter, int *fd_out, struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	_cleanup_free_ char *tmp = xasprintf("%s.%s.new", path, p->host_id);
	_cleanup_close_ int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create \"%s\"", tmp);
	int r = lock_write_fd(fd, p, counter, tmp, err);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	if (link(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		if (e == EEXIST)
			return -EEXIST;
		return vr_error_set_errno(err, e, "cannot create the lock \"%s\"", path);
	}
	unlink(tmp);
	fsync_dir_of(path);
	*fd_out = steal_fd(&fd);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Breaks a lock whose counter stayed at `seen`: renames it away, then
 * checks the renamed file once more, as its owner may have renewed it
 * at the last moment (it writes through its descriptor, so a late
 * renewal lands in the renamed file).  If it did, puts it back.
 */
static int lock_break(const char *vm_dir, const struct vm_lock_info *info, uint64_t seen,
		      struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	_cleanup_free_ char *stale = xasprintf("%s.stale", path);
	if (rename(path, stale) < 0) {
		if (errno == ENOENT)
			return 0; /* someone else broke it first */
		return vr_error_set_errno(err, errno, "cannot break the stale lock \"%s\"", path);
	}
	_cleanup_free_ char *text = NULL;
	json_int_t counter = -1;
	if (file_read_all(stale, 4096, &text, NULL, NULL) == 0) {
		json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
		json_unpack(o, "{s:I}", "counter", &counter);
		json_decref(o);
	}
	if (counter >= 0 && (uint64_t)counter != seen) {
		if (link(stale, path) < 0 && errno != EEXIST)
			log_warn("cannot restore the lock \"%s\": %s", path, strerror(errno));
		return vr_error_set(err, EBUSY,
				    "the VM is locked by host \"%s\" (%s), which renewed the lock "
				    "just now",
				    info->host_name, info->host_id);
	}
	log_warn("broke the stale lock of \"%s\" held by host \"%s\" (%s), not renewed for "
		 "%lld ms",
		 vm_dir, info->host_name, info->host_id, (long long)info->age_ms);
	return 0;
}

int vm_lock_acquire(const char *vm_dir, const struct vm_lock_params *p, int *fd_out,
		    uint64_t *counter_out, struct vr_error **err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = lock_create_excl(vm_dir, p, 1, fd_out, err);
		if (r != -EEXIST) {
			if (r == 0)
				*counter_out = 1;
			return r;
		}
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
		/*
		 * Our own host's lock is treated like any other: a VM process of
		 * this host may still hold it (a keeper outliving hostd's state).
		 */
		bool ours = strcmp(info.host_id, p->host_id) == 0;
		if (info.age_ms < (int64_t)p->lease_ms)
			return vr_error_set(err, EBUSY,
					    "the VM is locked by %s \"%s\" (%s), which renewed the "
					    "lock %lld ms ago; it is probably running there",
					    ours ? "this host" : "host", info.host_name, info.host_id,
					    (long long)info.age_ms);
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
		if (info.counter != seen)
			return vr_error_set(err, EBUSY,
					    "the VM is locked by host \"%s\" (%s), which is still "
					    "renewing the lock",
					    info.host_name, info.host_id);
		r = lock_break(vm_dir, &info, seen, err);
		if (r < 0)
			return r;
	}
	return vr_error_set(err, EBUSY, "cannot take the lock of \"%s\": it keeps changing hands",
			    vm_dir);
}

/* Puts the inode of fd back at path after the lock file vanished. */
static int lock_relink(int *fd, const char *vm_dir, const struct vm_lock_params *p,
		       uint64_t counter, struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", *fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) {
		fsync_dir_of(path);
		return lock_write_fd(*fd, p, counter, path, err);
	}
	if (errno == ENOENT) {
		/* Our inode was deleted outright: write a new lock file. */
		int nfd = -1;
		int r = lock_create_excl(vm_dir, p, counter, &nfd, err);
		if (r == 0) {
			close(*fd);
			*fd = nfd;
			return 0;
		}
		if (r != -EEXIST)
			return r;
	} else if (errno != EEXIST) {
		return vr_error_set_errno(err, errno, "cannot restore the lock \"%s\"", path);
	}
	/* Somebody else's lock appeared meanwhile. */
	struct vm_lock_info info;
	if (vm_lock_read(vm_dir, &info, NULL) == 0)
		return vr_error_set(err, ESTALE, "the lock of \"%s\" now belongs to host \"%s\" (%s)",
				    vm_dir, info.host_name, info.host_id);
	return vr_error_set(err, ESTALE, "the lock of \"%s\" was replaced", vm_dir);
}

int vm_lock_renew_fd(int *fd, const char *vm_dir, const struct vm_lock_params *p,
		     uint64_t counter, struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	struct stat mine, there;
	if (fstat(*fd, &mine) < 0)
		return vr_error_set_errno(err, errno, "cannot check the lock \"%s\"", path);
	if (stat(path, &there) < 0) {
		if (errno != ENOENT)
			return vr_error_set_errno(err, errno, "cannot check the lock \"%s\"", path);
		int r = lock_relink(fd, vm_dir, p, counter, err);
		return r < 0 ? r : 1;
	}
	if (!same_file(&mine, &there)) {
		struct vm_lock_info info;
		if (vm_lock_read(vm_dir, &info, NULL) == 0)
			return vr_error_set(err, ESTALE,
					    "the lock of \"%s\" now belongs to host \"%s\" (%s)", vm_dir,
					    info.host_name, info.host_id);
		return vr_error_set(err, ESTALE, "the lock of \"%s\" was replaced", vm_dir);
	}
	/*
	 * If another host renames our lock away right now, this write lands in
	 * the renamed file, not in its new lock; the next renewal sees it.
	 */
	return lock_write_fd(*fd, p, counter, path, err);
}

int vm_lock_release_fd(int fd, const char *vm_dir, struct vr_error **err)
{
	_cleanup_free_ char *path = lock_path(vm_dir);
	struct stat mine, there;
	if (fstat(fd, &mine) < 0)
		return vr_error_set_errno(err, errno, "cannot check the lock \"%s\"", path);
	if (stat(path, &there) < 0) {
		if (errno == ENOENT)
			return 0;
		return vr_error_set_errno(err, errno, "cannot check the lock \"%s\"", path);
	}
	if (!same_file(&mine, &there))
		return vr_error_set(err, EPERM, "the lock of \"%s\" belongs to another holder now",
				    vm_dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return vr_error_set_errno(err, errno, "cannot remove the lock \"%s\"", path);
	fsync_dir_of(path);
	return 0;
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
