/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Importing an OVF/OVA package as a new VM (ovf_vm.h).  Order: the package
 * is read (an OVA's members extracted, confined and bounded, into a staging
 * folder inside the new VM's folder), every manifest digest verified, then
 * the descriptor parsed and checked against the files, then the disks
 * converted.  Any failure removes the new folder: nothing is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/storage/clone.h"
#include "host/storage/ovf.h"
#include "host/storage/ovf_vm.h"
#include "host/storage/snapshot.h"
#include "host/tasks.h"
#include "qemu/img.h"

#define QEMU_IMG "qemu-img"
#define STAGING ".ovf-import"
#define MAX_MANIFEST (64u << 10)

/* The source package, absolute and canonical, confined to its datastore. */
static int resolve_source(struct hostd *h, const struct ovf_import_params *p, char **out,
			  bool *ova, struct vr_error **err)
{
	_cleanup_free_ char *ds = datastore_path(h, p->datastore);
	if (!ds)
		return vr_error_set(err, ENOENT, "no datastore \"%s\"", p->datastore);
	int r = vm_path_validate("source", p->source, false, err);
	if (r < 0)
		return r;
	*ova = str_has_suffix(p->source, ".ova");
	if (!*ova && !str_has_suffix(p->source, ".ovf"))
		return vr_error_set(err, EINVAL, "source \"%s\" is neither an .ova nor an .ovf",
				    p->source);
	_cleanup_free_ char *abs = xasprintf("%s/%s", ds, p->source);
	char canon[PATH_MAX], canon_ds[PATH_MAX];
	if (!realpath(ds, canon_ds) || !realpath(abs, canon))
		return vr_error_set_errno(err, errno, "source \"[%s] %s\"", p->datastore, p->source);
	size_t n = strlen(canon_ds);
	if (strncmp(canon, canon_ds, n) != 0 || canon[n] != '/')
		return vr_error_set(err, EINVAL, "source \"%s\" leads out of datastore \"%s\"",
				    p->source, p->datastore);
	struct stat st;
	if (stat(canon, &st) < 0 || !S_ISREG(st.st_mode))
		return vr_error_set(err, EINVAL, "source \"[%s] %s\" is not a file", p->datastore,
				    p->source);
	*out = xstrdup(canon);
	return 0;
}

int ovf_import_check(struct hostd *h, const struct ovf_import_params *p, struct vr_error **err)
{
	_cleanup_free_ char *src = NULL;
	bool ova;
	int r = storage_new_vm_check(h, p->datastore, p->name, err);
	if (r >= 0)
		r = resolve_source(h, p, &src, &ova, err);
	return r;
}

/* A package member: a regular file (no link) directly in dir. */
static int member_path(const char *dir, const char *name, char **out, struct vr_error **err)
{
	if (!ovf_file_name_valid(name))
		return vr_error_set(err, EINVAL, "file \"%s\" is not a plain file name", name);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	if (lstat(path, &st) < 0)
		return vr_error_set_errno(err, errno, "package file \"%s\"", name);
	if (!S_ISREG(st.st_mode))
		return vr_error_set(err, EINVAL, "package file \"%s\" is not a regular file", name);
	*out = steal_pointer(&path);
	return 0;
}

/* Every digest of the manifest (when there is one) is checked first. */
static int verify_manifest(const char *dir, const char *mf_name, const char *ovf_name,
			   struct ovf_manifest **out, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, mf_name);
	if (access(path, F_OK) < 0) {
		*out = NULL;
		return 0;
	}
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = file_read_all(path, MAX_MANIFEST, &text, &len, err);
	if (r < 0 || (r = ovf_manifest_parse(text, len, out, err)) < 0)
		return vr_error_wrap(err, "manifest \"%s\"", mf_name);
	bool has_ovf = false;
	for (size_t i = 0; i < (*out)->n; i++) {
		const struct ovf_manifest_entry *e = &(*out)->entries[i];
		_cleanup_free_ char *file = NULL;
		char hex[129];
		if ((r = member_path(dir, e->file, &file, err)) < 0 ||
		    (r = ovf_file_digest(file, e->algorithm, hex, err)) < 0)
			return vr_error_wrap(err, "manifest \"%s\"", mf_name);
		if (strcmp(hex, e->digest) != 0)
			return vr_error_set(err, EBADMSG,
					    "file \"%s\" does not match the manifest: its %s is %s, the "
					    "manifest says %s (the package is damaged or was altered)",
					    e->file, e->algorithm, hex, e->digest);
		has_ovf |= strcmp(e->file, ovf_name) == 0;
	}
	if (!has_ovf)
		return vr_error_set(err, EBADMSG, "manifest \"%s\" does not cover the descriptor \"%s\"",
				    mf_name, ovf_name);
	return 0;
}

static bool in_manifest(const struct ovf_manifest *m, const char *file)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (strcmp(m->entries[i].file, file) == 0)
			return true;
	return false;
}

/* A disk file: a sparse VMDK extent (so no extent or parent file names), of the declared size. */
static int check_disk(const char *dir, const struct ovf_descriptor *d, const struct ovf_disk *k,
		      const struct ovf_manifest *m, char **path_out, struct vr_error **err)
{
	const struct ovf_file *f = NULL;
	for (size_t i = 0; i < d->n_files; i++)
		if (strcmp(d->files[i].id, k->file_ref) == 0)
			f = &d->files[i];
	if (!f) /* the parser refuses such descriptors; say so rather than trust it */
		return vr_error_set(err, EBADMSG, "disk \"%s\" names no file of the package",
				    k->file_ref);
	_cleanup_free_ char *path = NULL;
	int r = member_path(dir, f->href, &path, err);
	if (r < 0)
		return r;
	if (m && !in_manifest(m, f->href))
		return vr_error_set(err, EBADMSG, "disk file \"%s\" is not in the manifest", f->href);
	struct stat st;
	char magic[4] = {0};
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return vr_error_set_errno(err, errno, "disk file \"%s\"", f->href);
	if (f->size && (uint64_t)st.st_size != f->size)
		return vr_error_set(err, EINVAL, "disk file \"%s\" has %lld bytes, the descriptor says %llu",
				    f->href, (long long)st.st_size, (unsigned long long)f->size);
	if (read(fd, magic, 4) != 4 || memcmp(magic, "KDMV", 4) != 0)
		return vr_error_set(err, EINVAL,
				    "disk file \"%s\" is not a sparse (streamOptimized) VMDK", f->href);
	_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
	if ((r = qemu_img_chain_get(QEMU_IMG, path, "vmdk", &chain, err)) < 0)
		return vr_error_wrap(err, "disk file \"%s\"", f->href);
	if (chain->n != 1 || chain->images[0].backing_filename)
		return vr_error_set(err, EINVAL, "disk file \"%s\" names a parent disk", f->href);
	if (chain->images[0].virtual_size != k->capacity)
		return vr_error_set(err, EINVAL,
				    "disk file \"%s\" holds %llu bytes, the descriptor says %llu",
				    f->href, (unsigned long long)chain->images[0].virtual_size,
				    (unsigned long long)k->capacity);
	*path_out = steal_pointer(&path);
	return 0;
}

static const char *scsi_dev(const char *subtype)
{
	if (strcasecmp(subtype, "VirtualSCSI") == 0)
		return "pvscsi";
	if (strcasecmp(subtype, "lsilogicsas") == 0)
		return "lsisas1068";
	if (strcasecmp(subtype, "virtio-scsi") == 0)
		return "virtio-scsi";
	return "lsilogic"; /* lsilogic, buslogic and unknown ones: the common emulated one */
}

static int nic_dev(const char *subtype, const char **out, struct vr_error **err)
{
	static const char *const map[][2] = {
		{"E1000", "e1000"}, {"E1000e", "e1000e"}, {"VmxNet3", "vmxnet3"},
		{"virtio", "virtio"}, {"PCNet32", "e1000"}, {"VmxNet2", "vmxnet3"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcasecmp(subtype, map[i][0]) == 0) {
			*out = map[i][1];
			return 0;
		}
	return vr_error_set(err, EINVAL, "network adapter type \"%s\" is not supported", subtype);
}

/* Kernel and initrd of the Vireo guest: only files on one of this host's datastores. */
static int boot_file(struct hostd *h, struct vmx *vmx, const char *key, const char *path,
		     struct vr_error **err)
{
	if (!path)
		return 0;
	char canon[PATH_MAX];
	_cleanup_free_ char *rel = NULL;
	if (path[0] != '/' || !realpath(path, canon))
		return vr_error_set(err, EINVAL, "ExtraConfig %s \"%s\" is not an existing file", key,
				    path);
	_cleanup_free_ char *ds = datastore_of_path(h, canon, &rel);
	if (!ds)
		return vr_error_set(err, EINVAL, "ExtraConfig %s \"%s\" is not on a datastore", key,
				    path);
	vmx_set(vmx, key, canon);
	return 0;
}

static int build_vmx(struct hostd *h, const struct ovf_descriptor *d, const char *name,
		     char *const *disk_names, struct vmx **out, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = vmx_new();
	char uuid[37];
	uuid_generate_str(uuid);
	vmx_set(vmx, ".encoding", "UTF-8");
	vmx_set(vmx, "config.version", "8");
	vmx_set(vmx, "virtualHW.version", "19");
	vmx_set(vmx, "displayName", name);
	vmx_set(vmx, "guestOS", d->os_type ? d->os_type : "other");
	vmx_set(vmx, "uuid.bios", uuid);
	vmx_setf(vmx, "memsize", "%llu", (unsigned long long)d->memory_mib);
	vmx_setf(vmx, "numvcpus", "%u", d->vcpus);
	if (d->n_disks) {
		vmx_set(vmx, "scsi0.present", "TRUE");
		vmx_set(vmx, "scsi0.virtualDev", scsi_dev(d->scsi_subtype));
	}
	char key[64];
	for (size_t i = 0; i < d->n_disks; i++) {
		snprintf(key, sizeof(key), "scsi0:%u.present", d->disks[i].unit);
		vmx_set(vmx, key, "TRUE");
		snprintf(key, sizeof(key), "scsi0:%u.fileName", d->disks[i].unit);
		vmx_set(vmx, key, disk_names[i]);
	}
	for (size_t i = 0; i < d->n_nics; i++) {
		const char *dev = NULL;
		int r = nic_dev(d->nics[i].subtype, &dev, err);
		if (r < 0)
			return r;
		char mac[18];
		vm_mac_generate(mac);
		snprintf(key, sizeof(key), "ethernet%zu.present", i);
		vmx_set(vmx, key, "TRUE");
		snprintf(key, sizeof(key), "ethernet%zu.virtualDev", i);
		vmx_set(vmx, key, dev);
		/* The source's networks mean nothing here: NAT until the user connects it. */
		snprintf(key, sizeof(key), "ethernet%zu.connectionType", i);
		vmx_set(vmx, key, "nat");
		snprintf(key, sizeof(key), "ethernet%zu.addressType", i);
		vmx_set(vmx, key, "generated");
		snprintf(key, sizeof(key), "ethernet%zu.generatedAddress", i);
		vmx_set(vmx, key, mac);
	}
	int r;
	if ((r = boot_file(h, vmx, "vireo.kernel", d->kernel, err)) < 0 ||
	    (r = boot_file(h, vmx, "vireo.initrd", d->initrd, err)) < 0)
		return r;
	if (d->cmdline)
		vmx_set(vmx, "vireo.cmdline", d->cmdline);
	_cleanup_vm_config_ struct vm_config *check = NULL;
	if ((r = vm_config_from_vmx(vmx, name, &check, err)) < 0)
		return vr_error_wrap(err, "the imported configuration is invalid");
	*out = steal_pointer(&vmx);
	return 0;
}

struct import_progress {
	struct task *task;
	size_t index, count;
};

static int import_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct import_progress *ip = opaque;
	uint64_t pct = total ? done * 100 / total : 100;
	task_set_progress(ip->task, (int)(30 + (ip->index * 100 + pct) * 60 / (ip->count * 100)));
	return 0;
}

/* Everything after the new folder exists; the caller removes it on failure. */
static int import_into(struct hostd *h, const struct ovf_import_params *p, const char *src,
		       bool ova, const char *dir, struct task *task, struct vr_error **err)
{
	_cleanup_free_ char *pkg = NULL, *ovf_name = NULL;
	int r;
	if (ova) {
		pkg = xasprintf("%s/%s", dir, STAGING);
		if (mkdir(pkg, 0700) < 0)
			return vr_error_set_errno(err, errno, "cannot create \"%s\"", pkg);
		struct statvfs sv;
		uint64_t room = statvfs(dir, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize
						       : QEMU_IMG_MAX_SIZE;
		_cleanup_strv_ char **names = NULL;
		if ((r = ovf_tar_extract(src, pkg, room, &names, err)) < 0)
			return r;
		if (!str_has_suffix(names[0], ".ovf"))
			return vr_error_set(err, EINVAL,
					    "\"%s\": the first member \"%s\" is not the descriptor (.ovf)",
					    p->source, names[0]);
		ovf_name = xstrdup(names[0]);
	} else {
		const char *slash = strrchr(src, '/');
		pkg = xstrndup(src, (size_t)(slash - src));
		ovf_name = xstrdup(slash + 1);
		if (!ovf_file_name_valid(ovf_name))
			return vr_error_set(err, EINVAL, "descriptor name \"%s\" is not plain", ovf_name);
	}
	task_set_progress(task, 10);
	_cleanup_free_ char *mf_name = xasprintf("%.*s.mf", (int)(strlen(ovf_name) - 4), ovf_name);
	struct ovf_manifest *m = NULL;
	if ((r = verify_manifest(pkg, mf_name, ovf_name, &m, err)) < 0) {
		ovf_manifest_free(m);
		return r;
	}
	task_set_progress(task, 20);
	_cleanup_free_ char *ovf_path = NULL, *text = NULL;
	_cleanup_free_ char *vmx_path = xasprintf("%s/%s.vmx", dir, p->name);
	_cleanup_vmx_ struct vmx *vmx = NULL;
	char **paths = NULL;
	size_t len = 0;
	_cleanup_ovf_ struct ovf_descriptor *d = NULL;
	_cleanup_strv_ char **disk_names = NULL;
	if ((r = member_path(pkg, ovf_name, &ovf_path, err)) < 0 ||
	    (r = file_read_all(ovf_path, OVF_MAX_DESCRIPTOR, &text, &len, err)) < 0 ||
	    (r = ovf_descriptor_parse(text, len, &d, err)) < 0) {
		vr_error_wrap(err, "\"%s\"", ovf_name);
		goto out;
	}
	paths = xcalloc(d->n_disks + 1, sizeof(*paths));
	for (size_t i = 0; i < d->n_disks && r >= 0; i++)
		r = check_disk(pkg, d, &d->disks[i], m, &paths[i], err);
	for (size_t i = 0; i < d->n_disks && r >= 0; i++) {
		char *dst_name = i == 0 ? xasprintf("%s.qcow2", p->name)
					: xasprintf("%s_%zu.qcow2", p->name, i);
		strv_push_owned(&disk_names, dst_name);
		_cleanup_free_ char *dst = xasprintf("%s/%s", dir, dst_name);
		struct import_progress ip = {.task = task, .index = i, .count = d->n_disks};
		r = qemu_img_convert_qcow2(QEMU_IMG, paths[i], "vmdk", dst, import_progress, &ip, err);
		if (r >= 0)
			r = storage_grant_qemu(h, dst, err);
		if (r < 0)
			vr_error_wrap(err, "disk \"%s\"", d->disks[i].id);
	}
	strv_free(paths);
	if (r < 0)
		goto out;
	if (ova && (r = rm_rf(pkg)) < 0) {
		r = vr_error_set_errno(err, -r, "cannot remove \"%s\"", pkg);
		goto out;
	}
	if ((r = build_vmx(h, d, p->name, disk_names, &vmx, err)) < 0 ||
	    (r = vmx_save_file(vmx, vmx_path, err)) < 0)
		goto out;
out:
	ovf_manifest_free(m);
	return r;
}

int ovf_import_vm(struct hostd *h, const struct ovf_import_params *p, struct task *task,
		  struct vm **out, struct vr_error **err)
{
	_cleanup_free_ char *src = NULL;
	bool ova = false;
	int r = ovf_import_check(h, p, err);
	if (r < 0 || (r = resolve_source(h, p, &src, &ova, err)) < 0)
		return r;
	_cleanup_free_ char *ds = datastore_path(h, p->datastore);
	_cleanup_free_ char *dir = xasprintf("%s/%s", ds, p->name);
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST ? vr_error_set(err, EEXIST, "folder \"[%s] %s\" already exists",
						      p->datastore, p->name)
				       : vr_error_set_errno(err, errno, "cannot create \"%s\"", dir);
	_cleanup_free_ char *rel = xasprintf("%s/%s.vmx", p->name, p->name);
	if ((r = storage_check_qemu_reach(h, dir, err)) < 0 ||
	    (r = import_into(h, p, src, ova, dir, task, err)) < 0 ||
	    (r = inventory_register(h, p->datastore, rel, out, err)) < 0) {
		rm_rf(dir);
		return vr_error_wrap(err, "cannot import \"[%s] %s\"", p->datastore, p->source);
	}
	vm_log(*out, "imported from \"[%s] %s\"", p->datastore, p->source);
	events_add(h->events, EVENT_INFO, (*out)->id, "VmImported",
		   "VM \"%s\" imported from \"[%s] %s\"", p->name, p->datastore, p->source);
	task_set_progress(task, 100);
	return 0;
}
