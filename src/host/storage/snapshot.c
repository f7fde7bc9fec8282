/* SPDX-License-Identifier: Apache-2.0 */
/* VM snapshots: take, revert, delete, consolidate (see snapshot.h). */
#include "host/storage/snapshot.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/lifecycle.h"
#include "host/storage/cbt.h"
#include "host/storage/snapshot_priv.h"
#include "host/storage/vmsd.h"
#include "host/tasks.h"
#include "qemu/block.h"
#include "qemu/img.h"
#include "qemu/qga.h"
#include "qemu/qmp.h"

#define QMP_TIMEOUT_MS 10000
#define QUIESCE_TIMEOUT_MS 30000

int storage_grant_qemu(struct hostd *h, const char *path, struct vr_error **err)
{
	if (!h->cfg.qemu_user)
		return 0;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(h->cfg.qemu_user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return vr_error_set(err, ENOENT, "no user \"%s\" for QEMU", h->cfg.qemu_user);
	if (chown(path, (uid_t)-1, pw.pw_gid) < 0 || chmod(path, 0660) < 0)
		return vr_error_set_errno(err, errno, "cannot give QEMU's user access to \"%s\"",
					  path);
	return 0;
}

int storage_prepare_disks(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	size_t n = vm->cfg ? vm->cfg->n_disks : 0;
	char **paths = xcalloc(n + 1, sizeof(*paths));
	char **formats = xcalloc(n + 1, sizeof(*formats));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vm_disk *k = &vm->cfg->disks[i];
		if (k->device != VM_DISK_DEVICE_DISK)
			continue;
		paths[m] = snap_abs(vm, k->file_name);
		formats[m++] = xstrdup(vm_disk_format_name(k->format));
	}
	pthread_mutex_unlock(&vm->lock);
	int r = 0;
	for (size_t i = 0; i < m && r >= 0; i++) {
		_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
		r = qemu_img_chain_get("qemu-img", paths[i], formats[i], &chain, err);
		for (size_t k = 0; r >= 0 && k < chain->n; k++)
			r = storage_grant_qemu(h, chain->images[k].filename, err);
	}
	strv_free(paths);
	strv_free(formats);
	return r;
}

/* "web01.qcow2" and "web01-000003.qcow2" both give "web01". */
static char *delta_stem(const char *file)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	const char *dot = strrchr(base, '.');
	size_t l = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	if (l > 7 && base[l - 7] == '-') {
		bool digits = true;
		for (size_t i = l - 6; i < l; i++)
			digits = digits && base[i] >= '0' && base[i] <= '9';
		if (digits)
			l -= 7;
	}
	return xasprintf("%.*s", (int)l, base);
}

/* "web01_1.qcow2" -> "/ds/web01/web01_1-REDO.qcow2" */
static char *redo_path(struct vm *vm, const char *file_name)
{
	_cleanup_free_ char *stem = delta_stem(file_name);
	return xasprintf("%s/%s-REDO.qcow2", vm->dir, stem);
}

void storage_redo_discard(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	size_t n = vm->cfg ? vm->cfg->n_disks : 0;
	char **paths = xcalloc(n + 1, sizeof(*paths));
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (vm->cfg->disks[i].mode == VM_DISK_MODE_INDEPENDENT_NONPERSISTENT)
			paths[m++] = redo_path(vm, vm->cfg->disks[i].file_name);
	pthread_mutex_unlock(&vm->lock);
	for (size_t i = 0; i < m; i++)
		if (unlink(paths[i]) == 0)
			vm_log(vm, "discarded the changes of the nonpersistent disk (%s)", paths[i]);
	strv_free(paths);
}

int storage_redo_prepare(struct hostd *h, struct vm *vm, bool keep, char ***redo_out,
			 size_t *n_out, struct vr_error **err)
{
	if (!keep)
		storage_redo_discard(vm); /* left over from a run that ended without hostd */
	pthread_mutex_lock(&vm->lock);
	size_t n = vm->cfg ? vm->cfg->n_disks : 0;
	char **redo = xcalloc(n + 1, sizeof(*redo));
	char **base = xcalloc(n + 1, sizeof(*base));
	enum vm_disk_format *fmt = xcalloc(n + 1, sizeof(*fmt));
	for (size_t i = 0; i < n; i++) {
		const struct vm_disk *k = &vm->cfg->disks[i];
		if (k->mode != VM_DISK_MODE_INDEPENDENT_NONPERSISTENT)
			continue;
		redo[i] = redo_path(vm, k->file_name);
		base[i] = snap_abs(vm, k->file_name);
		fmt[i] = k->format;
	}
	pthread_mutex_unlock(&vm->lock);
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!redo[i])
			continue;
		if (keep && access(redo[i], F_OK) == 0)
			continue; /* resuming: the saved state goes with these changes */
		char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", base[i], "-F",
				(char *)vm_disk_format_name(fmt[i]), redo[i], NULL};
		r = qemu_img_run("qemu-img", argv, NULL, err);
		if (r >= 0)
			r = storage_grant_qemu(h, redo[i], err);
	}
	for (size_t i = 0; i < n; i++)
		free(base[i]);
	free(base);
	free(fmt);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			if (redo[i])
				unlink(redo[i]);
		for (size_t i = 0; i < n; i++)
			free(redo[i]);
		free(redo);
		return vr_error_wrap(err, "cannot prepare the redo file of a nonpersistent disk");
	}
	*redo_out = redo;
	*n_out = n;
	return 0;
}

int storage_check_qemu_reach(struct hostd *h, const char *dir, struct vr_error **err)
{
	if (!h->cfg.qemu_user)
		return 0;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(h->cfg.qemu_user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return vr_error_set(err, ENOENT, "no user \"%s\" for QEMU", h->cfg.qemu_user);
	_cleanup_free_ char *p = xstrdup(dir);
	for (char *slash = p + strlen(p);; ) {
		struct stat st;
		if (stat(p, &st) < 0)
			return vr_error_set_errno(err, errno, "cannot check \"%s\"", p);
		bool ok = (st.st_mode & S_IXOTH) || (st.st_uid == pw.pw_uid && (st.st_mode & S_IXUSR)) ||
			  (st.st_gid == pw.pw_gid && (st.st_mode & S_IXGRP));
		if (!ok)
			return vr_error_set(err, EACCES,
					    "QEMU runs as user \"%s\", which cannot reach the folder "
					    "\"%s\" (mode %04o): make it traversable (chmod o+x) so that "
					    "QEMU can open new files of a running VM",
					    h->cfg.qemu_user, p, (unsigned)(st.st_mode & 07777));
		slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	return 0;
}

char *snap_vmsd_path(struct vm *vm)
{
	size_t l = strlen(vm->vmx_path);
	if (l > 4 && strcmp(vm->vmx_path + l - 4, ".vmx") == 0)
		l -= 4;
	return xasprintf("%.*s.vmsd", (int)l, vm->vmx_path);
}

int snap_vmsd_load(struct vm *vm, struct vmsd **out, struct vr_error **err)
{
	_cleanup_free_ char *path = snap_vmsd_path(vm);
	struct vr_error *e = NULL;
	int r = vmsd_load(path, out, &e);
	if (r == -ENOENT) {
		vr_error_free(e);
		*out = vmsd_new();
		return 0;
	}
	if (r < 0 && err && !*err)
		*err = e;
	else
		vr_error_free(e);
	return r;
}

int snap_vmsd_save(struct vm *vm, const struct vmsd *vmsd, struct vr_error **err)
{
	_cleanup_free_ char *path = snap_vmsd_path(vm);
	return vmsd_save(vmsd, path, err);
}

char *snap_abs(struct vm *vm, const char *file_name)
{
	if (file_name[0] == '/')
		return xstrdup(file_name);
	return xasprintf("%s/%s", vm->dir, file_name);
}

/* The name to record for a file: relative when it lies in the VM folder. */
char *snap_rel(struct vm *vm, const char *abs_path)
{
	size_t dl = strlen(vm->dir);
	if (strncmp(abs_path, vm->dir, dl) == 0 && abs_path[dl] == '/' &&
	    !strchr(abs_path + dl + 1, '/'))
		return xstrdup(abs_path + dl + 1);
	return xstrdup(abs_path);
}

void snap_disks_free(struct snap_disk *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].file);
		free(d[i].path);
	}
	free(d);
}

int snap_disks(struct vm *vm, struct snap_disk **out, size_t *n_out, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	const struct vm_config *c = vm->cfg;
	if (!c) {
		int r = vr_error_set(err, EINVAL, "the VM's configuration is invalid: %s",
				     vm->invalid_reason ? vm->invalid_reason : "unknown");
		pthread_mutex_unlock(&vm->lock);
		return r;
	}
	struct snap_disk *d = xcalloc(c->n_disks ? c->n_disks : 1, sizeof(*d));
	size_t n = 0;
	for (size_t i = 0; i < c->n_disks; i++) {
		const struct vm_disk *k = &c->disks[i];
		if (k->device != VM_DISK_DEVICE_DISK || k->mode != VM_DISK_MODE_PERSISTENT)
			continue; /* independent disks and CD-ROMs stay out of snapshots */
		const char *bus = vm_disk_bus_name(k->bus);
		snprintf(d[n].slot, sizeof(d[n].slot), "%s%u:%u", bus, k->controller, k->unit);
		snprintf(d[n].qdev, sizeof(d[n].qdev), "%s%u-%u", bus, k->controller, k->unit);
		d[n].file = xstrdup(k->file_name);
		d[n].path = snap_abs(vm, k->file_name);
		d[n].format = k->format;
		n++;
	}
	pthread_mutex_unlock(&vm->lock);
	*out = d;
	*n_out = n;
	return 0;
}

int snap_delta_create(struct hostd *h, struct vm *vm, const struct snap_disk *d,
		      const char *backing_abs, enum vm_disk_format backing_fmt, char **out_abs,
		      struct vr_error **err)
{
	_cleanup_free_ char *stem = delta_stem(backing_abs);
	_cleanup_free_ char *path = NULL;
	for (unsigned n = 1; n < 1000000; n++) {
		free(path);
		path = xasprintf("%s/%s-%06u.qcow2", vm->dir, stem, n);
		if (access(path, F_OK) < 0 && errno == ENOENT)
			break;
	}
	_cleanup_free_ char *backing = snap_rel(vm, backing_abs);
	char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F",
			(char *)vm_disk_format_name(backing_fmt), path, NULL};
	int r = qemu_img_run("qemu-img", argv, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create a delta for disk %s", d->slot);
	r = storage_grant_qemu(h, path, err);
	if (r < 0) {
		unlink(path);
		return r;
	}
	*out_abs = steal_pointer(&path);
	return 0;
}

int snap_vmx_set_disks(struct vm *vm, const char *const *slots, const char *const *files,
		       size_t n, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_load_file(vm->vmx_path, &vmx, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s.fileName", slots[i]);
		vmx_set(vmx, key, files[i]);
	}
	r = vmx_save_file(vmx, vm->vmx_path, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

char *snap_config_path(struct vm *vm, uint32_t uid)
{
	_cleanup_free_ char *stem = snap_vmsd_path(vm);
	stem[strlen(stem) - 5] = '\0'; /* ".vmsd" */
	return xasprintf("%s-Snapshot%u.vmx", stem, uid);
}

/*
 * Reverting restores the VM's configuration as it was at the snapshot
 * (memory, CPUs, NICs...: a memory state only fits the hardware it was
 * saved from), keeping today's name, with the dependent disks on their
 * new deltas.  One atomic write of the .vmx.
 */
static int restore_config(struct vm *vm, const char *config, const char *const *slots,
			  const char *const *files, size_t n, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_load_file(config, &vmx, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot read the snapshot's configuration");
	pthread_mutex_lock(&vm->lock);
	if (vm->cfg)
		vmx_set(vmx, "displayName", vm->cfg->display_name);
	pthread_mutex_unlock(&vm->lock);
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s.fileName", slots[i]);
		vmx_set(vmx, key, files[i]);
	}
	r = vmx_save_file(vmx, vm->vmx_path, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static char *vmsn_path(struct vm *vm, uint32_t uid)
{
	_cleanup_free_ char *stem = snap_vmsd_path(vm);
	stem[strlen(stem) - 5] = '\0'; /* ".vmsd" */
	return xasprintf("%s-Snapshot%u.vmsn", stem, uid);
}

static int quiesce(struct vm *vm, bool freeze, struct vr_error **err)
{
	struct qga *qga = vm_qga_get(vm);
	if (!qga)
		return vr_error_set(err, ENOTCONN, "the VM is not running");
	int r = freeze ? qga_fsfreeze_freeze(qga, QUIESCE_TIMEOUT_MS, err)
		       : qga_fsfreeze_thaw(qga, QUIESCE_TIMEOUT_MS, err);
	vm_qga_put(vm);
	if (r < 0)
		return vr_error_wrap(err, "cannot %s the guest's file systems through its agent",
				     freeze ? "freeze" : "thaw");
	return 0;
}

/* Switches a running VM's disks to the new deltas in one transaction. */
static int switch_running(struct vm *vm, const struct snap_disk *d, char **deltas, size_t n,
			  uint32_t uid, struct vr_error **err)
{
	struct qmp *q = vm_qmp_get(vm);
	if (!q)
		return vr_error_set(err, ENOTCONN, "the VM is not running");
	struct qemu_block_overlay *ov = xcalloc(n ? n : 1, sizeof(*ov));
	char (*names)[32] = xcalloc(n ? n : 1, sizeof(*names));
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "s%u-%s", uid, d[i].qdev);
		ov[i] = (struct qemu_block_overlay){
			.device = d[i].qdev, .overlay = deltas[i], .node_name = names[i]};
	}
	int r = qemu_block_snapshot(q, ov, n, QMP_TIMEOUT_MS, err);
	vm_qmp_put(vm);
	free(ov);
	free(names);
	return r;
}

int snapshot_take(struct hostd *h, struct vm *vm, const struct snapshot_params *p,
		  struct task *task, struct vr_error **err)
{
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	if (vmsd_count(vmsd) >= VMSD_MAX_SNAPSHOTS)
		return vr_error_set(err, ENOSPC, "the VM already has %d snapshots, the most allowed",
				    VMSD_MAX_SNAPSHOTS);
	struct snap_disk *d = NULL;
	size_t n = 0;
	r = snap_disks(vm, &d, &n, err);
	if (r < 0)
		return r;
	bool running = lifecycle_is_running(vm);
	pthread_mutex_lock(&vm->lock);
	bool suspended = vm->power == VM_POWER_SUSPENDED;
	pthread_mutex_unlock(&vm->lock);
	char **deltas = xcalloc(n + 1, sizeof(*deltas));
	const char **slots = xcalloc(n + 1, sizeof(*slots));
	const char **rels = xcalloc(n + 1, sizeof(*rels));
	struct vmsd_disk *vd = xcalloc(n + 1, sizeof(*vd));
	uint32_t uid = vmsd_last_uid(vmsd) + 1;
	_cleanup_free_ char *vmsn = p->memory ? vmsn_path(vm, uid) : NULL;
	_cleanup_free_ char *vmsn_rel = vmsn ? snap_rel(vm, vmsn) : NULL;
	_cleanup_free_ char *config = snap_config_path(vm, uid);
	bool config_saved = false;
	struct vmsd_snapshot *s = NULL;
	bool frozen = false, stopped = false, switched = false;

	if (p->memory && !running) {
		r = vr_error_set(err, EINVAL, "a snapshot with memory needs the VM powered on");
		goto out;
	}
	if (p->quiesce && !running) {
		r = vr_error_set(err, EINVAL, "quiescing needs the VM powered on (and its agent)");
		goto out;
	}
	if (suspended) {
		r = vr_error_set(err, EBUSY, "the VM is suspended: resume or power it off first");
		goto out;
	}
	if (n == 0 && !p->memory) {
		r = vr_error_set(err, EINVAL, "the VM has no disk that snapshots include "
					      "(independent disks are excluded)");
		goto out;
	}
	/* 1. New deltas, while the guest still runs (orphans at worst). */
	for (size_t i = 0; i < n; i++) {
		r = snap_delta_create(h, vm, &d[i], d[i].path, d[i].format, &deltas[i], err);
		if (r >= 0) /* changed-block tracking records on the delta from its first write */
			r = cbt_delta_prepare(vm, d[i].slot, d[i].path, deltas[i], err);
		if (r < 0)
			goto out;
		task_set_progress(task, (int)(5 + 20 * (i + 1) / (n ? n : 1)));
	}
	/* 2. The switch: atomic across the disks, and with the memory state if asked. */
	if (running && n && (r = storage_check_qemu_reach(h, vm->dir, err)) < 0)
		goto out;
	if (running) {
		if (p->quiesce) {
			r = quiesce(vm, true, err);
			if (r < 0)
				goto out;
			frozen = true;
		}
		if (p->memory) {
			r = lifecycle_qmp(vm, "stop", NULL, QMP_TIMEOUT_MS, NULL, err);
			if (r < 0)
				goto out;
			stopped = true;
		}
		if (n) {
			r = switch_running(vm, d, deltas, n, uid, err);
			if (r < 0)
				goto out;
		}
	}
	switched = true;
	/* The configuration at the snapshot, for revert (the .vmx still names the old files). */
	{
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		r = file_read_all(vm->vmx_path, VMX_MAX_FILE_SIZE, &text, &len, err);
		if (r >= 0)
			r = file_write_atomic(config, text, len, 0644, err);
		if (r < 0)
			goto out;
		config_saved = true;
	}
	/* 3. The .vmx names the deltas at once: from now on the VM opens on them. */
	for (size_t i = 0; i < n; i++) {
		slots[i] = d[i].slot;
		rels[i] = snap_rel(vm, deltas[i]);
	}
	r = snap_vmx_set_disks(vm, slots, rels, n, err);
	if (r < 0) {
		log_error("VM \"%s\": the disks switched to new deltas but the .vmx could not be "
			  "updated: %s; `vireo vm snapshot check --repair` fixes this",
			  vm->id, vr_error_msg(*err));
		goto out;
	}
	if (p->memory) {
		task_set_progress(task, 30);
		r = lifecycle_save_state(vm, vmsn, task, err);
		if (r < 0)
			goto out;
	}
	if (stopped) {
		r = lifecycle_qmp(vm, "cont", NULL, QMP_TIMEOUT_MS, NULL, err);
		if (r < 0)
			goto out;
		stopped = false;
	}
	if (frozen) {
		struct vr_error *e = NULL;
		if (quiesce(vm, false, &e) < 0) {
			log_warn("VM \"%s\": %s", vm->id, e->msg);
			vr_error_free(e);
		}
		frozen = false;
	}
	/* 4. The tree: the snapshot keeps the files the VM used until now. */
	for (size_t i = 0; i < n; i++)
		vd[i] = (struct vmsd_disk){.file_name = d[i].file, .node = d[i].slot};
	struct vmsd_snapshot_spec spec = {
		.display_name = p->name,
		.description = p->description,
		.filename = vmsn_rel,
		.create_time_us = (int64_t)time_real_ms() * 1000,
		.type = p->memory ? VMSD_SNAPSHOT_WITH_MEMORY : VMSD_SNAPSHOT_DISKS_ONLY,
		.disks = vd,
		.n_disks = n,
	};
	r = vmsd_snapshot_add(vmsd, &spec, &s, err);
	if (r >= 0)
		r = snap_vmsd_save(vm, vmsd, err);
	if (r < 0)
		goto out;
	vm_log(vm, "snapshot %u \"%s\" taken (%s%s)", s->uid, p->name,
	       p->memory ? "with memory" : "disks only", p->quiesce ? ", quiesced" : "");
	events_add(h->events, EVENT_INFO, vm->id, "VmSnapshotCreated",
		   "VM \"%s\": snapshot \"%s\" taken", vm->cfg ? vm->cfg->display_name : vm->id,
		   p->name);
	task_set_result(task, json_pack("{s:i, s:s, s:b}", "uid", (int)s->uid, "name", p->name,
					"memory", p->memory));
out:
	if (stopped) {
		struct vr_error *e = NULL;
		if (lifecycle_qmp(vm, "cont", NULL, QMP_TIMEOUT_MS, NULL, &e) < 0) {
			log_error("VM \"%s\": cannot continue after a failed snapshot: %s", vm->id,
				  e->msg);
			vr_error_free(e);
		}
	}
	if (frozen) {
		struct vr_error *e = NULL;
		if (quiesce(vm, false, &e) < 0) {
			log_error("VM \"%s\": %s", vm->id, e->msg);
			vr_error_free(e);
		}
	}
	if (r < 0 && !switched) {
		for (size_t i = 0; i < n; i++)
			if (deltas[i])
				unlink(deltas[i]);
	}
	if (r < 0 && vmsn)
		unlink(vmsn);
	if (r < 0 && config_saved)
		unlink(config);
	for (size_t i = 0; i < n; i++) {
		free(deltas[i]);
		free((char *)rels[i]);
	}
	free(deltas);
	free(slots);
	free(rels);
	free(vd);
	snap_disks_free(d, n);
	if (r < 0)
		return vr_error_wrap(err, "cannot take snapshot \"%s\"", p->name);
	return 0;
}

int snapshot_revert(struct hostd *h, struct vm *vm, uint32_t uid, struct task *task,
		    struct vr_error **err)
{
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	struct vmsd_snapshot *s = vmsd_find_uid(vmsd, uid);
	if (!s)
		return vr_error_set(err, ENOENT, "the VM has no snapshot %u", uid);
	_cleanup_free_ char *name = xstrdup(s->display_name);
	_cleanup_free_ char *vmsn = s->type == VMSD_SNAPSHOT_WITH_MEMORY && s->filename
					    ? snap_abs(vm, s->filename)
					    : NULL;
	if (vmsn && access(vmsn, R_OK) < 0)
		return vr_error_set_errno(err, errno, "the memory state of snapshot \"%s\" (%s)",
					  name, vmsn);
	struct snap_disk *d = NULL;
	size_t n = 0;
	r = snap_disks(vm, &d, &n, err);
	if (r < 0)
		return r;
	if (lifecycle_is_running(vm)) {
		vm_log(vm, "powering off to revert to snapshot \"%s\"", name);
		lifecycle_power_off_now(vm);
	}
	/* A suspended state belongs to the state being discarded. */
	_cleanup_free_ char *vmss = xasprintf("%s/%s.vmss", vm->dir,
					      vm->cfg ? vm->cfg->display_name : vm->id);
	task_set_progress(task, 10);

	const char **slots = xcalloc(s->n_disks + 1, sizeof(*slots));
	char **rels = xcalloc(s->n_disks + 1, sizeof(*rels));
	char **created = xcalloc(s->n_disks + 1, sizeof(*created));
	size_t m = 0;
	for (size_t i = 0; i < s->n_disks; i++) {
		const struct snap_disk *cur = NULL;
		for (size_t j = 0; j < n; j++)
			if (strcmp(d[j].slot, s->disks[i].node) == 0)
				cur = &d[j];
		if (!cur) {
			log_warn("VM \"%s\": snapshot \"%s\" has disk %s, which the VM no longer has; "
				 "left out",
				 vm->id, name, s->disks[i].node);
			continue;
		}
		_cleanup_free_ char *base = snap_abs(vm, s->disks[i].file_name);
		r = snap_delta_create(h, vm, cur, base, vm_disk_format_from_name(base), &created[m],
				      err);
		if (r < 0)
			goto out;
		slots[m] = cur->slot;
		rels[m] = snap_rel(vm, created[m]);
		m++;
	}
	{
		_cleanup_free_ char *config = snap_config_path(vm, uid);
		if (access(config, R_OK) == 0)
			r = restore_config(vm, config, slots, (const char *const *)rels, m, err);
		else /* a snapshot made before configurations were kept */
			r = snap_vmx_set_disks(vm, slots, (const char *const *)rels, m, err);
	}
	if (r < 0)
		goto out;
	r = vmsd_set_current(vmsd, uid, err);
	if (r >= 0)
		r = snap_vmsd_save(vm, vmsd, err);
	if (r < 0)
		goto out;
	if (unlink(vmss) == 0) {
		pthread_mutex_lock(&vm->lock);
		vm->power = VM_POWER_OFF;
		pthread_mutex_unlock(&vm->lock);
	}
	task_set_progress(task, 40);
	/* The discarded state: the old deltas nothing refers to any more. */
	for (size_t j = 0; j < n; j++) {
		bool replaced = false;
		for (size_t i = 0; i < m; i++)
			replaced = replaced || strcmp(slots[i], d[j].slot) == 0;
		if (replaced && !snap_file_referenced(vm, vmsd, d[j].path))
			snap_remove_leaf(vm, d[j].path);
	}
	r = snapshot_consolidate(h, vm, task, err);
	if (r < 0)
		goto out;
	vm_log(vm, "reverted to snapshot %u \"%s\"", uid, name);
	events_add(h->events, EVENT_INFO, vm->id, "VmSnapshotReverted",
		   "VM \"%s\": reverted to snapshot \"%s\"", vm->cfg ? vm->cfg->display_name : vm->id,
		   name);
	if (vmsn) {
		task_set_progress(task, 60);
		r = lifecycle_power_on_state(h, vm, task, vmsn, err);
		if (r < 0)
			goto out;
	}
	task_set_result(task, json_pack("{s:i, s:s, s:b}", "uid", (int)uid, "name", name,
					"powered_on", vmsn != NULL));
out:
	if (r < 0)
		for (size_t i = 0; i < m; i++)
			if (created[i] && !snap_file_referenced(vm, NULL, created[i]))
				unlink(created[i]);
	for (size_t i = 0; i < s->n_disks; i++) {
		free(rels[i]);
		free(created[i]);
	}
	free(slots);
	free(rels);
	free(created);
	snap_disks_free(d, n);
	if (r < 0)
		return vr_error_wrap(err, "cannot revert to snapshot \"%s\"", name);
	return 0;
}

int snapshot_delete(struct hostd *h, struct vm *vm, uint32_t uid, struct task *task,
		    struct vr_error **err)
{
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	size_t count = vmsd_count(vmsd);
	uint32_t *uids = xcalloc(count + 1, sizeof(*uids));
	size_t k = 0;
	if (uid == 0) {
		for (size_t i = 0; i < count; i++)
			uids[k++] = vmsd_at(vmsd, i)->uid;
	} else if (vmsd_find_uid(vmsd, uid)) {
		uids[k++] = uid;
	} else {
		free(uids);
		return vr_error_set(err, ENOENT, "the VM has no snapshot %u", uid);
	}
	char **vmsns = xcalloc(k + 1, sizeof(*vmsns));
	for (size_t i = 0; i < k && r >= 0; i++) {
		struct vmsd_snapshot *s = vmsd_find_uid(vmsd, uids[i]);
		if (s->filename)
			vmsns[i] = snap_abs(vm, s->filename);
		r = vmsd_snapshot_remove(vmsd, uids[i], err);
	}
	/* The tree first: a crash afterwards leaves only files to consolidate. */
	if (r >= 0)
		r = snap_vmsd_save(vm, vmsd, err);
	if (r >= 0) {
		for (size_t i = 0; i < k; i++) {
			if (vmsns[i] && unlink(vmsns[i]) < 0 && errno != ENOENT)
				log_warn("cannot remove \"%s\": %s", vmsns[i], strerror(errno));
			_cleanup_free_ char *config = snap_config_path(vm, uids[i]);
			unlink(config);
		}
		task_set_progress(task, 20);
		r = snapshot_consolidate(h, vm, task, err);
	}
	for (size_t i = 0; i < k; i++)
		free(vmsns[i]);
	free(vmsns);
	free(uids);
	if (r < 0)
		return vr_error_wrap(err, "cannot delete %s", uid ? "the snapshot" : "the snapshots");
	vm_log(vm, uid ? "snapshot %u deleted" : "all snapshots deleted", uid);
	events_add(h->events, EVENT_INFO, vm->id, "VmSnapshotDeleted", "VM \"%s\": %s",
		   vm->cfg ? vm->cfg->display_name : vm->id,
		   uid ? "a snapshot was deleted" : "all snapshots were deleted");
	task_set_result(task, json_pack("{s:i}", "deleted", (int)k));
	return 0;
}

static json_t *snap_json(const struct vmsd *vmsd, const struct vmsd_snapshot *s)
{
	char t[32];
	time_format_iso((uint64_t)(s->create_time_us / 1000), t);
	json_t *o = json_pack("{s:i, s:s, s:s, s:b}", "uid", (int)s->uid, "name",
			      s->display_name, "created", t, "memory",
			      s->type == VMSD_SNAPSHOT_WITH_MEMORY);
	if (s->description)
		json_object_set_new(o, "description", json_string(s->description));
	json_t *disks = json_array();
	for (size_t i = 0; i < s->n_disks; i++)
		json_array_append_new(disks, json_pack("{s:s, s:s}", "slot", s->disks[i].node,
						       "file", s->disks[i].file_name));
	json_object_set_new(o, "disks", disks);
	json_t *children = json_array();
	for (const struct vmsd_snapshot *c = vmsd_first_child(vmsd, s); c; c = c->next_sibling)
		json_array_append_new(children, snap_json(vmsd, c));
	json_object_set_new(o, "children", children);
	return o;
}

json_t *snapshot_tree_json(struct vm *vm, struct vr_error **err)
{
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	if (snap_vmsd_load(vm, &vmsd, err) < 0)
		return NULL;
	json_t *roots = json_array();
	for (const struct vmsd_snapshot *c = vmsd_first_child(vmsd, NULL); c; c = c->next_sibling)
		json_array_append_new(roots, snap_json(vmsd, c));
	const struct vmsd_snapshot *cur = vmsd_current(vmsd);
	return json_pack("{s:o, s:o, s:i}", "current",
			 cur ? json_integer(cur->uid) : json_null(), "snapshots", roots, "count",
			 (int)vmsd_count(vmsd));
}

int snapshot_find(struct vm *vm, const char *uid_or_name, uint32_t *uid, struct vr_error **err)
{
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	uint64_t v;
	if (parse_u64(uid_or_name, 1, VMSD_MAX_UID, &v) == 0 && vmsd_find_uid(vmsd, (uint32_t)v)) {
		*uid = (uint32_t)v;
		return 0;
	}
	struct vmsd_snapshot *s = NULL;
	r = vmsd_find_name(vmsd, uid_or_name, &s, err);
	if (r < 0)
		return r;
	*uid = s->uid;
	return 0;
}
