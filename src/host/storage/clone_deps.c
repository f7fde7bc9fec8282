/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which files of a VM linked clones are built on: SRCNAME.vireo-clones,
 * next to the source's .vmx (see docs/storage-formats.md):
 *
 *   {"version": 1, "clones": [{"id": UUID, "name": NAME, "vmx": ABS,
 *                              "disks": [{"slot": "scsi0:0", "file": ABS}]}]}
 *
 * A record whose clone .vmx no longer exists (its folder was removed by
 * hand) is dropped when the file is read.  One process-wide mutex orders
 * the read-modify-write cycles: the clone task holds the source's claim,
 * but deleting a clone does not.
 */
#include "host/storage/clone.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

#define DEPS_MAX_FILE (4u << 20)

static pthread_mutex_t deps_lock = PTHREAD_MUTEX_INITIALIZER;

static char *deps_path(const char *src_vmx)
{
	size_t l = strlen(src_vmx);
	if (l > 4 && strcmp(src_vmx + l - 4, ".vmx") == 0)
		l -= 4;
	return xasprintf("%.*s.vireo-clones", (int)l, src_vmx);
}

static bool clone_exists(const json_t *c)
{
	const char *vmx = json_string_value(json_object_get(c, "vmx"));
	struct stat st;
	return !vmx || stat(vmx, &st) == 0 || errno != ENOENT;
}

/* The records (a new reference; an empty array when there is no file), stale ones dropped. */
static json_t *deps_load(const char *path, struct vr_error **err)
{
	json_t *doc = NULL, *arr = NULL;
	if (json_state_load(path, DEPS_MAX_FILE, "clones", &doc, &arr, err) < 0)
		return NULL;
	json_t *out = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(arr, i, c)
	{
		if (!json_is_object(c) || !json_is_array(json_object_get(c, "disks"))) {
			vr_error_set(err, EINVAL, "\"%s\": record %zu is not a linked clone", path, i);
			json_decref(out);
			json_decref(doc);
			return NULL;
		}
		if (clone_exists(c))
			json_array_append(out, c);
	}
	json_decref(doc);
	return out;
}

static int deps_save(const char *path, json_t *arr /* stolen */, struct vr_error **err)
{
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		if (unlink(path) < 0 && errno != ENOENT)
			return vr_error_set_errno(err, errno, "cannot remove \"%s\"", path);
		return 0;
	}
	return json_state_save(path, "clones", arr, err);
}

int clone_deps_add(const char *src_vmx, const char *clone_id, const char *clone_name,
		   const char *clone_vmx, const char *const *slots, const char *const *files,
		   size_t n, struct vr_error **err)
{
	_cleanup_free_ char *path = deps_path(src_vmx);
	pthread_mutex_lock(&deps_lock);
	json_t *arr = deps_load(path, err);
	int r = -EINVAL;
	if (arr) {
		json_t *disks = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(disks, json_pack("{s:s, s:s}", "slot", slots[i], "file",
							       files[i]));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "id", clone_id, "name",
						     clone_name, "vmx", clone_vmx, "disks", disks));
		r = deps_save(path, arr, err);
	}
	pthread_mutex_unlock(&deps_lock);
	if (r < 0)
		return vr_error_wrap(err, "cannot record the linked clone in \"%s\"", path);
	return 0;
}

void clone_deps_remove(const char *src_vmx, const char *clone_vmx)
{
	_cleanup_free_ char *path = deps_path(src_vmx);
	struct vr_error *err = NULL;
	pthread_mutex_lock(&deps_lock);
	json_t *arr = deps_load(path, &err);
	if (arr) {
		json_t *keep = json_array();
		size_t i;
		json_t *c;
		json_array_foreach(arr, i, c)
		{
			const char *v = json_string_value(json_object_get(c, "vmx"));
			if (!v || strcmp(v, clone_vmx) != 0)
				json_array_append(keep, c);
		}
		json_decref(arr);
		deps_save(path, keep, &err);
	}
	pthread_mutex_unlock(&deps_lock);
	if (err) {
		log_warn("linked clone \"%s\": cannot update \"%s\": %s", clone_vmx, path,
			 vr_error_msg(err));
		vr_error_free(err);
	}
}

int clone_deps_refuse_delete(const char *src_vmx, struct vr_error **err)
{
	_cleanup_free_ char *path = deps_path(src_vmx);
	pthread_mutex_lock(&deps_lock);
	json_t *arr = deps_load(path, err);
	pthread_mutex_unlock(&deps_lock);
	if (!arr)
		return vr_error_wrap(err, "cannot tell which linked clones depend on this VM");
	int r = 0;
	if (json_array_size(arr) > 0) {
		_cleanup_strv_ char **names = NULL;
		size_t i;
		json_t *c;
		json_array_foreach(arr, i, c)
			strv_pushf(&names, "\"%s\" (%s)",
				   json_string_value(json_object_get(c, "name")) ?: "?",
				   json_string_value(json_object_get(c, "vmx")) ?: "?");
		_cleanup_free_ char *list = strv_join(names, ", ");
		r = vr_error_set(err, EBUSY,
				 "linked clones are built on this VM's snapshot files: %s; delete "
				 "them (or make full clones of them) first",
				 list);
	}
	json_decref(arr);
	return r;
}

char **clone_deps_files(const char *src_vmx, const char *slot, bool *unreadable)
{
	_cleanup_free_ char *path = deps_path(src_vmx);
	struct vr_error *err = NULL;
	*unreadable = false;
	pthread_mutex_lock(&deps_lock);
	json_t *arr = deps_load(path, &err);
	pthread_mutex_unlock(&deps_lock);
	if (!arr) {
		log_warn("%s", vr_error_msg(err));
		vr_error_free(err);
		*unreadable = true;
		return NULL;
	}
	char **files = NULL;
	size_t i, k;
	json_t *c, *d;
	json_array_foreach(arr, i, c)
	{
		json_array_foreach(json_object_get(c, "disks"), k, d)
		{
			const char *s = json_string_value(json_object_get(d, "slot"));
			const char *f = json_string_value(json_object_get(d, "file"));
			if (s && f && f[0] == '/' && strcmp(s, slot) == 0)
				strv_push(&files, f);
		}
	}
	json_decref(arr);
	return files;
}
