/* SPDX-License-Identifier: Apache-2.0 */
/* Exporting a powered-off VM to an OVF folder or an OVA archive (ovf_vm.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/storage/ovf.h"
#include "host/storage/ovf_vm.h"
#include "host/storage/snapshot_priv.h"
#include "host/tasks.h"
#include "qemu/img.h"

#define QEMU_IMG "qemu-img"

static const char *scsi_subtype(enum vm_scsi_model m)
{
	switch (m) {
	case VM_SCSI_PVSCSI:
		return "VirtualSCSI";
	case VM_SCSI_LSILOGIC:
		return "lsilogic";
	case VM_SCSI_LSISAS1068:
		return "lsilogicsas";
	case VM_SCSI_VIRTIO:
		break;
	}
	return "virtio-scsi";
}

static const char *nic_subtype(enum vm_nic_model m)
{
	switch (m) {
	case VM_NIC_VMXNET3:
		return "VmxNet3";
	case VM_NIC_E1000:
		return "E1000";
	case VM_NIC_E1000E:
		return "E1000e";
	case VM_NIC_VIRTIO:
		break;
	}
	return "virtio";
}

/* The package's folder (absolute, canonical) and stem from p->path; checks they stay inside the datastore. */
static int resolve_target(struct hostd *h, const struct ovf_export_params *p, bool create,
			  char **dir_out, char **stem_out, struct vr_error **err)
{
	_cleanup_free_ char *ds = datastore_path(h, p->datastore);
	if (!ds)
		return vr_error_set(err, ENOENT, "no datastore \"%s\"", p->datastore);
	if (p->path[0] == '/')
		return vr_error_set(err, EINVAL,
				    "export path \"%s\" must be relative to the datastore", p->path);
	int r = vm_path_validate("export path", p->path, false, err);
	if (r < 0)
		return r;
	const char *ext = p->ova ? ".ova" : ".ovf";
	const char *base = strrchr(p->path, '/');
	base = base ? base + 1 : p->path;
	if (!str_has_suffix(base, ext) || strlen(base) <= 4 || !ovf_file_name_valid(base))
		return vr_error_set(err, EINVAL, "export path \"%s\": the file name must be NAME%s",
				    p->path, ext);
	_cleanup_free_ char *parent = xstrndup(p->path, (size_t)(base - p->path));
	_cleanup_free_ char *abs_parent = xasprintf("%s/%s", ds, parent);
	if (create && mkdir_p(abs_parent, 0755) < 0)
		return vr_error_set_errno(err, errno, "cannot create folder \"[%s] %s\"", p->datastore,
					  parent);
	char canon[PATH_MAX], canon_ds[PATH_MAX];
	if (!realpath(ds, canon_ds))
		return vr_error_set_errno(err, errno, "datastore \"%s\"", p->datastore);
	if (realpath(abs_parent, canon)) {
		size_t n = strlen(canon_ds);
		if (strncmp(canon, canon_ds, n) != 0 || (canon[n] != '/' && canon[n] != '\0'))
			return vr_error_set(err, EINVAL,
					    "export path \"%s\" leads out of datastore \"%s\"", p->path,
					    p->datastore);
	} else if (create || errno != ENOENT) {
		return vr_error_set_errno(err, errno, "folder \"[%s] %s\"", p->datastore, parent);
	} else {
		snprintf(canon, sizeof(canon), "%s", abs_parent);
	}
	/* lstat: a dangling symbolic link is taken too (writing through it would leave the datastore). */
	struct stat st;
	_cleanup_free_ char *target = xasprintf("%s/%s", canon, base);
	if (lstat(target, &st) == 0)
		return vr_error_set(err, EEXIST, "\"[%s] %s\" already exists", p->datastore, p->path);
	_cleanup_free_ char *mf = xasprintf("%s/%.*s.mf", canon, (int)strlen(base) - 4, base);
	if (!p->ova && lstat(mf, &st) == 0)
		return vr_error_set(err, EEXIST, "\"%s\" already exists", mf);
	*dir_out = xstrdup(canon);
	*stem_out = xstrndup(base, strlen(base) - 4);
	return 0;
}

int ovf_export_check(struct hostd *h, struct vm *vm, const struct ovf_export_params *p,
		     struct vr_error **err)
{
	_cleanup_free_ char *dir = NULL, *stem = NULL;
	int r = resolve_target(h, p, false, &dir, &stem, err);
	if (r < 0)
		return r;
	if (!vm->cfg)
		return vr_error_set(err, EINVAL, "VM \"%s\" has an invalid configuration: %s", vm->id,
				    vm->invalid_reason ? vm->invalid_reason : "unknown");
	pthread_mutex_lock(&vm->lock);
	enum vm_power_state power = vm->power;
	pthread_mutex_unlock(&vm->lock);
	if (power != VM_POWER_OFF)
		return vr_error_set(err, EBUSY, "VM \"%s\" is %s: only a powered-off VM can be exported",
				    vm_display_name(vm), vm_power_name(power));
	return 0;
}

/* The package's files, in the order of an OVA: NAME.ovf, NAME.mf, the disks. */
struct export_files {
	char **names;
	char *dir; /* where they are written */
};

static int write_text(const char *dir, const char *name, const char *text,
		      struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return file_write_atomic(path, text, strlen(text), 0644, err);
}

static void remove_files(const struct export_files *f)
{
	for (size_t i = 0; f->names && f->names[i]; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", f->dir, f->names[i]);
		unlink(path);
	}
}

int ovf_export_vm(struct hostd *h, struct vm *vm, const struct ovf_export_params *p,
		  struct task *task, struct vr_error **err)
{
	int r = ovf_export_check(h, vm, p, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = NULL, *stem = NULL, *staging = NULL;
	if ((r = resolve_target(h, p, true, &dir, &stem, err)) < 0)
		return r;
	const struct vm_config *cfg = vm->cfg; /* stable while we hold the claim */
	struct export_files files = {0};
	if (p->ova) {
		staging = xasprintf("%s/.%s.ova-export-XXXXXX", dir, stem);
		if (!mkdtemp(staging))
			return vr_error_set_errno(err, errno, "cannot create a folder in \"%s\"", dir);
		files.dir = staging;
	} else {
		files.dir = dir;
	}
	_cleanup_free_ char *xml = NULL, *mf = NULL;
	_cleanup_free_ char *ovf_name = xasprintf("%s.ovf", stem);
	_cleanup_free_ char *mf_name = xasprintf("%s.mf", stem);
	struct ovf_descriptor d = {
		.name = cfg->display_name,
		.os_type = cfg->guest_os,
		.vcpus = cfg->vcpus,
		.memory_mib = cfg->memory_mib,
		.scsi_subtype = (char *)scsi_subtype(cfg->scsi_model[0]),
		.kernel = cfg->kernel, .initrd = cfg->initrd, .cmdline = cfg->cmdline,
	};
	_cleanup_free_ char *kernel = NULL, *initrd = NULL;
	if (cfg->kernel)
		d.kernel = kernel = snap_abs(vm, cfg->kernel);
	if (cfg->initrd)
		d.initrd = initrd = snap_abs(vm, cfg->initrd);
	d.files = xcalloc(cfg->n_disks + 1, sizeof(*d.files));
	d.disks = xcalloc(cfg->n_disks + 1, sizeof(*d.disks));
	d.nics = xcalloc(cfg->n_nics + 1, sizeof(*d.nics));
	for (size_t i = 0; i < cfg->n_nics; i++) {
		d.nics[i].subtype = (char *)nic_subtype(cfg->nics[i].model);
		d.nics[i].network = cfg->nics[i].network_name;
	}
	d.n_nics = cfg->n_nics;
	strv_push(&files.names, ovf_name);
	strv_push(&files.names, mf_name);
	size_t n_disks = 0;
	for (size_t i = 0; i < cfg->n_disks; i++)
		n_disks += cfg->disks[i].device == VM_DISK_DEVICE_DISK;
	if (n_disks > OVF_MAX_DISKS) {
		r = vr_error_set(err, E2BIG, "VM \"%s\" has %zu disks; a package holds up to %d",
				 vm_display_name(vm), n_disks, OVF_MAX_DISKS);
		goto out;
	}
	unsigned unit = 0;
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *k = &cfg->disks[i];
		if (k->device != VM_DISK_DEVICE_DISK)
			continue;
		size_t n = d.n_disks;
		_cleanup_free_ char *src = snap_abs(vm, k->file_name);
		const char *fmt = vm_disk_format_name(k->format);
		_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
		if ((r = qemu_img_chain_get(QEMU_IMG, src, fmt, &chain, err)) < 0)
			goto out;
		_cleanup_free_ char *vmdk = xasprintf("%s-disk%zu.vmdk", stem, n + 1);
		_cleanup_free_ char *dst = xasprintf("%s/%s", files.dir, vmdk);
		struct stat st;
		if (lstat(dst, &st) == 0) {
			r = vr_error_set(err, EEXIST, "\"%s\" already exists", dst);
			goto out;
		}
		strv_push(&files.names, vmdk);
		char *argv[] = {"qemu-img", "convert", "-f", (char *)fmt, "-O", "vmdk", "-o",
				"subformat=streamOptimized", src, dst, NULL};
		vm_log(vm, "exporting disk \"%s\" to \"%s\"", k->file_name, dst);
		if ((r = qemu_img_run(QEMU_IMG, argv, NULL, err)) < 0) {
			vr_error_wrap(err, "cannot export disk \"%s\"", k->file_name);
			goto out;
		}
		if (stat(dst, &st) < 0) {
			r = vr_error_set_errno(err, errno, "\"%s\"", dst);
			goto out;
		}
		if (unit == 7)
			unit++;
		d.files[n].id = xasprintf("file%zu", n + 1);
		d.files[n].href = xstrdup(vmdk);
		d.files[n].size = (uint64_t)st.st_size;
		d.disks[n].id = xasprintf("vmdisk%zu", n + 1);
		d.disks[n].file_ref = xstrdup(d.files[n].id);
		d.disks[n].capacity = chain->images[0].virtual_size;
		d.disks[n].unit = unit++;
		d.n_files = d.n_disks = n + 1;
		task_set_progress(task, (int)(5 + 80 * (n + 1) / (n_disks ? n_disks : 1)));
	}
	xml = ovf_descriptor_write(&d, NULL);
	if ((r = write_text(files.dir, ovf_name, xml, err)) < 0)
		goto out;
	mf = xstrdup("");
	for (size_t i = 0; files.names[i]; i++) {
		if (i == 1)
			continue; /* the manifest itself */
		_cleanup_free_ char *path = xasprintf("%s/%s", files.dir, files.names[i]);
		char hex[129];
		if ((r = ovf_file_digest(path, "SHA256", hex, err)) < 0)
			goto out;
		char *line = xasprintf("%sSHA256(%s)= %s\n", mf, files.names[i], hex);
		free(mf);
		mf = line;
	}
	if ((r = write_text(files.dir, mf_name, mf, err)) < 0)
		goto out;
	task_set_progress(task, 90);
	if (p->ova) {
		_cleanup_free_ char *ova = xasprintf("%s/%s.ova", dir, stem);
		if ((r = ovf_tar_write(ova, files.dir, files.names, err)) < 0)
			goto out;
		fsync_dir_of(ova);
	}
	vm_log(vm, "exported to \"[%s] %s\"", p->datastore, p->path);
	task_set_result(task, json_pack("{s:s, s:s, s:i}", "datastore", p->datastore, "path",
					p->path, "disks", (int)d.n_disks));
out:
	if (r < 0 || p->ova)
		remove_files(&files);
	if (staging)
		rmdir(staging);
	for (size_t i = 0; i < d.n_disks; i++) {
		free(d.files[i].id);
		free(d.files[i].href);
		free(d.disks[i].id);
		free(d.disks[i].file_ref);
	}
	free(d.files);
	free(d.disks);
	free(d.nics);
	strv_free(files.names);
	return r;
}
