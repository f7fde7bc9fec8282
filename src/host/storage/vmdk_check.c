/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks the disks of a VM before it is registered or powered on, so that a
 * VMware folder with a corrupt, incomplete or hostile disk is refused with a
 * message naming the file, rather than left to QEMU's terse errors (or, for
 * an extent named through a symbolic link, to QEMU reading a host file).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "host/hostd.h"
#include "host/storage/filename.h"
#include "host/storage/import.h"
#include "host/storage/snapshot.h"
#include "host/storage/vmdk_desc.h"
#include "qemu/img.h"

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* Whether `path` (which exists) resolves to a file under the folder `root` (resolved). */
static int check_inside(const char *root_real, const char *path, const char *what,
			struct vr_error **err)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return vr_error_set_errno(err, errno, "%s \"%s\"", what, path);
	size_t l = strlen(root_real);
	if (strncmp(real, root_real, l) != 0 || (real[l] != '/' && strcmp(root_real, "/") != 0))
		return vr_error_set(err, EPERM,
				    "%s \"%s\" leads out of the disk's folder \"%s\" (to \"%s\")", what,
				    path, root_real, real);
	return 0;
}

static const char *conversion_reason(enum vmdk_create_type t)
{
	switch (t) {
	case VMDK_CREATE_STREAM_OPTIMIZED:
		return "streamOptimized is VMware's export format: QEMU opens it read-only";
	case VMDK_CREATE_SE_SPARSE:
		return "seSparse deltas are read-only in QEMU";
	default:
		return NULL;
	}
}

int vmdk_chain_check(const char *vm_dir, const char *path, char ***files_out,
		     struct vr_error **err)
{
	/* A disk on another datastore (an absolute name in the .vmx) is confined to its own folder. */
	char root[PATH_MAX], top[PATH_MAX];
	if (!realpath(vm_dir, root))
		return vr_error_set_errno(err, errno, "VM folder \"%s\"", vm_dir);
	if (realpath(path, top)) {
		size_t l = strlen(root);
		if (strncmp(top, root, l) != 0 || top[l] != '/') {
			_cleanup_free_ char *own = dir_of(top);
			snprintf(root, sizeof(root), "%s", own);
		}
	}
	struct {
		dev_t dev;
		ino_t ino;
	} seen[QEMU_IMG_MAX_CHAIN];
	_cleanup_strv_ char **files = NULL;
	_cleanup_free_ char *cur = xstrdup(path), *child = NULL;
	uint32_t want_cid = 0;
	for (size_t level = 0;; level++) {
		if (level >= QEMU_IMG_MAX_CHAIN)
			return vr_error_set(err, E2BIG, "the VMDK chain of \"%s\" has more than %d levels",
					    path, QEMU_IMG_MAX_CHAIN);
		struct stat st;
		if (stat(cur, &st) < 0) {
			if (level == 0)
				return vr_error_set_errno(err, errno, "disk \"%s\"", cur);
			return vr_error_set_errno(err, errno,
						  "the parent disk \"%s\" named by \"%s\" (parentFileNameHint)",
						  cur, child);
		}
		for (size_t j = 0; j < level; j++)
			if (seen[j].dev == st.st_dev && seen[j].ino == st.st_ino)
				return vr_error_set(err, ELOOP,
						    "the VMDK chain of \"%s\" loops: \"%s\" names \"%s\" as its parent, which is level %zu of the chain",
						    path, child, cur, j);
		seen[level].dev = st.st_dev;
		seen[level].ino = st.st_ino;
		int r = check_inside(root, cur, level ? "parent disk" : "disk", err);
		if (r < 0)
			return r;
		_cleanup_vmdk_desc_ struct vmdk_desc *d = NULL;
		r = vmdk_desc_load(cur, 0, &d, err);
		if (r < 0)
			return r;
		const char *why = conversion_reason(d->create_type);
		if (why)
			return vr_error_set(err, ENOTSUP,
					    "disk \"%s\" needs conversion: %s; convert it to qcow2 "
					    "(qemu-img convert -O qcow2, or import it as an OVF package)",
					    cur, why);
		if (level > 0 && d->cid != want_cid)
			return vr_error_set(err, EINVAL,
					    "\"%s\" was made on \"%s\" with content ID %08x, but the parent's is now %08x: the parent changed after the child was made, so the disk would read corrupt data",
					    child, cur, want_cid, d->cid);
		_cleanup_free_ char *dir = dir_of(cur);
		r = vmdk_desc_check_extents(d, dir, err);
		if (r < 0)
			return r;
		const char *base = strrchr(cur, '/') ? strrchr(cur, '/') + 1 : cur;
		_cleanup_strv_ char **own = vmdk_desc_files(d, base);
		for (size_t i = 0; own[i]; i++) {
			_cleanup_free_ char *f = storage_file_name_is_absolute(own[i])
							 ? xstrdup(own[i])
							 : xasprintf("%s/%s", dir, own[i]);
			if (i > 0 && d->change_track_path && strcmp(own[i], d->change_track_path) == 0 &&
			    access(f, F_OK) < 0)
				continue; /* a missing -ctk.vmdk only loses change tracking */
			_cleanup_free_ char *what = xasprintf("extent of \"%s\":", cur);
			r = check_inside(root, f, i ? what : "disk", err);
			if (r < 0)
				return r;
			strv_push(&files, f);
		}
		if (!d->parent_file_name_hint)
			break;
		want_cid = d->parent_cid;
		free(child);
		child = steal_pointer(&cur);
		cur = xasprintf("%s/%s", dir, d->parent_file_name_hint);
	}
	if (files_out)
		*files_out = steal_pointer(&files);
	return 0;
}

static char *disk_path(const char *vm_dir, const char *name)
{
	return name[0] == '/' ? xstrdup(name) : xasprintf("%s/%s", vm_dir, name);
}

int storage_check_vm_disks(struct hostd *h, const char *vm_dir, const struct vm_config *cfg,
			   bool grant, struct vr_error **err)
{
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *k = &cfg->disks[i];
		if (k->device != VM_DISK_DEVICE_DISK)
			continue;
		_cleanup_free_ char *path = disk_path(vm_dir, k->file_name);
		_cleanup_strv_ char **vmdk_files = NULL;
		int r;
		if (k->format == VM_DISK_FORMAT_VMDK) {
			r = vmdk_chain_check(vm_dir, path, &vmdk_files, err);
			if (r < 0)
				return r;
		}
		_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
		r = qemu_img_chain_get("qemu-img", path, vm_disk_format_name(k->format), &chain, err);
		if (r < 0)
			return r;
		/* VMDK images below a qcow2 delta (a snapshot of an imported disk). */
		for (size_t j = 0; j < chain->n && k->format != VM_DISK_FORMAT_VMDK; j++) {
			if (strcmp(chain->images[j].format, "vmdk") != 0)
				continue;
			_cleanup_free_ char *img_dir = dir_of(chain->images[j].filename);
			r = vmdk_chain_check(img_dir, chain->images[j].filename, &vmdk_files, err);
			if (r < 0)
				return r;
			break; /* the VMDK check followed the rest of the chain */
		}
		for (size_t j = 0; grant && h && vmdk_files && vmdk_files[j]; j++) {
			r = storage_grant_qemu(h, vmdk_files[j], err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
