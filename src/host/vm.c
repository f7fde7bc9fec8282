/* SPDX-License-Identifier: Apache-2.0 */
/* One registered VM: its configuration, its own log, its runtime state. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmspec.h"
#include "common/vmx.h"
#include "host/hostd.h"
#include "host/resources/cgroup.h"
#include "host/lock.h"
#include "qemu/qmp.h"

#define VM_LOG_MAX (1u << 20)
#define VM_LOG_KEEP 3

const char *vm_power_name(enum vm_power_state s)
{
	switch (s) {
	case VM_POWER_ON:
		return "poweredOn";
	case VM_POWER_SUSPENDED:
		return "suspended";
	case VM_POWER_OFF:
		break;
	}
	return "poweredOff";
}

struct vm *vm_ref(struct vm *vm)
{
	__atomic_add_fetch(&vm->refs, 1, __ATOMIC_RELAXED);
	return vm;
}

void vm_unref(struct vm *vm)
{
	if (vm && __atomic_sub_fetch(&vm->refs, 1, __ATOMIC_ACQ_REL) == 0)
		vm_free(vm);
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	free(vm->datastore);
	free(vm->rel_path);
	free(vm->dir);
	free(vm->vmx_path);
	free(vm->run_dir);
	vm_config_free(vm->cfg);
	vmx_free(vm->vmx);
	free(vm->invalid_reason);
	free(vm->busy_task);
	free(vm->qemu_version);
	free(vm->last_shutdown_reason);
	free(vm->runtime_error);
	free(vm->kill_reason);
	free(vm->paused_reason);
	res_cgroup_free(vm->cgroup); /* the handle: the group stays with its running QEMU */
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

int vm_reload_config(struct vm *vm, struct vr_error **err)
{
	struct vmx *vmx = NULL;
	struct vm_config *cfg = NULL;
	int r = vmx_load_file(vm->vmx_path, &vmx, err);
	if (r >= 0)
		r = vm_config_from_vmx(vmx, vm->vmx_path, &cfg, err);
	if (r < 0) {
		vmx_free(vmx);
		free(vm->invalid_reason);
		vm->invalid_reason = xstrdup(err && *err ? (*err)->msg : "invalid .vmx");
		return r;
	}
	if (vm->id[0] && strcmp(vm->id, cfg->uuid) != 0) {
		/* The id is how clients know the VM: it must not change under them. */
		r = vr_error_set(err, EINVAL, "%s: uuid.bios changed from %s to %s", vm->vmx_path,
				 vm->id, cfg->uuid);
		vmx_free(vmx);
		vm_config_free(cfg);
		free(vm->invalid_reason);
		vm->invalid_reason = xstrdup((*err)->msg);
		return r;
	}
	memcpy(vm->id, cfg->uuid, sizeof(vm->id));
	vmx_free(vm->vmx);
	vm_config_free(vm->cfg);
	vm->vmx = vmx;
	vm->cfg = cfg;
	free(vm->invalid_reason);
	vm->invalid_reason = NULL;
	return 0;
}

static void vm_log_rotate(const char *path)
{
	for (int i = VM_LOG_KEEP - 1; i >= 1; i--) {
		_cleanup_free_ char *from = xasprintf("%s.%d", path, i);
		_cleanup_free_ char *to = xasprintf("%s.%d", path, i + 1);
		rename(from, to);
	}
	_cleanup_free_ char *first = xasprintf("%s.1", path);
	rename(path, first);
}

void vm_log(struct vm *vm, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	_cleanup_free_ char *path = xasprintf("%s/vireo.log", vm->dir);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size > (off_t)VM_LOG_MAX)
		vm_log_rotate(path);
	char t[32];
	time_format_iso(time_real_ms(), t);
	_cleanup_free_ char *line = xasprintf("%s vireo-hostd: %s\n", t, msg);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		log_warn("cannot write the VM log \"%s\": %s", path, strerror(errno));
		return;
	}
	ssize_t w = write(fd, line, strlen(line));
	(void)w;
}

int vm_claim(struct vm *vm, const char *task_id, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->busy_task) {
		int r = vr_error_set(err, EBUSY, "VM \"%s\" is busy with %s",
				     vm->cfg ? vm->cfg->display_name : vm->id, vm->busy_task);
		pthread_mutex_unlock(&vm->lock);
		return r;
	}
	vm->busy_task = xstrdup(task_id);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void vm_release(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	free(vm->busy_task);
	vm->busy_task = NULL;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

struct qmp *vm_qmp_get(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	struct qmp *q = vm->qmp;
	if (q)
		vm->qmp_users++;
	pthread_mutex_unlock(&vm->lock);
	return q;
}

void vm_qmp_put(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->qmp_users--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

struct qga *vm_qga_get(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	struct qga *g = vm->qga;
	if (g)
		vm->qmp_users++;
	pthread_mutex_unlock(&vm->lock);
	return g;
}

void vm_qga_put(struct vm *vm)
{
	vm_qmp_put(vm);
}

static json_t *vm_config_json(const struct vm_config *c)
{
	json_t *disks = json_array();
	for (size_t i = 0; i < c->n_disks; i++) {
		const struct vm_disk *d = &c->disks[i];
		char slot[32];
		snprintf(slot, sizeof(slot), "%s%u:%u", vm_disk_bus_name(d->bus), d->controller,
			 d->unit);
		json_array_append_new(
			disks, json_pack("{s:s, s:s, s:s, s:s, s:s}", "slot", slot, "file",
					 d->file_name, "format", vm_disk_format_name(d->format),
					 "mode", vm_disk_mode_name(d->mode), "device",
					 d->device == VM_DISK_DEVICE_CDROM ? "cdrom" : "disk"));
	}
	json_t *nics = json_array();
	for (size_t i = 0; i < c->n_nics; i++) {
		const struct vm_nic *n = &c->nics[i];
		json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:b}", "index", n->index, "model",
				      vm_nic_model_name(n->model), "connection",
				      vm_nic_connection_name(n->connection), "mac", n->mac,
				      "start_connected", n->start_connected);
		if (n->network_name)
			json_object_set_new(o, "network", json_string(n->network_name));
		json_array_append_new(nics, o);
	}
	json_t *o = json_pack("{s:I, s:i, s:i, s:s, s:s, s:s, s:o, s:o}", "memory_mib",
			      (json_int_t)c->memory_mib, "vcpus", c->vcpus, "cores_per_socket",
			      c->cores_per_socket, "guest_os", c->guest_os, "firmware",
			      c->firmware == VM_FIRMWARE_EFI ? "efi" : "bios", "accel",
			      vm_accel_name(c->accel), "disks", disks, "nics", nics);
	if (c->kernel) {
		json_t *boot = json_pack("{s:s}", "kernel", c->kernel);
		if (c->initrd)
			json_object_set_new(boot, "initrd", json_string(c->initrd));
		if (c->cmdline)
			json_object_set_new(boot, "cmdline", json_string(c->cmdline));
		json_object_set_new(o, "boot", boot);
	}
	if (c->annotation)
		json_object_set_new(o, "annotation", json_string(c->annotation));
	return o;
}

json_t *vm_to_json(struct vm *vm, bool with_config)
{
	pthread_mutex_lock(&vm->lock);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", vm->id, "datastore", vm->datastore,
			      "path", vm->rel_path, "power_state", vm_power_name(vm->power));
	if (vm->cfg) {
		json_object_set_new(o, "name", json_string(vm->cfg->display_name));
		json_object_set_new(o, "memory_mib", json_integer((json_int_t)vm->cfg->memory_mib));
		json_object_set_new(o, "vcpus", json_integer(vm->cfg->vcpus));
		json_object_set_new(o, "guest_os", json_string(vm->cfg->guest_os));
		json_object_set_new(o, "template", json_boolean(vm->cfg->is_template));
		if (with_config) {
			json_object_set_new(o, "config", vm_config_json(vm->cfg));
			json_object_set_new(o, "resources", vmspec_resources_json(vm->cfg));
		}
	} else {
		json_object_set_new(o, "invalid", json_string(vm->invalid_reason ? vm->invalid_reason
										 : "invalid"));
	}
	if (vm->power == VM_POWER_ON) {
		json_t *rt = json_pack("{s:s, s:i, s:s}", "state", vm->paused ? "paused" : "running",
				       "pid", (int)vm->pid, "accel", vm_accel_name(vm->accel));
		if (vm->paused && vm->paused_reason)
			json_object_set_new(rt, "paused_reason", json_string(vm->paused_reason));
		if (vm->qemu_version)
			json_object_set_new(rt, "qemu_version", json_string(vm->qemu_version));
		if (vm->shim_pid > 0)
			json_object_set_new(rt, "shim_pid", json_integer(vm->shim_pid));
		if (vm->powered_on_ms) {
			char t[32];
			time_format_iso(vm->powered_on_ms, t);
			json_object_set_new(rt, "powered_on", json_string(t));
		}
		json_object_set_new(o, "runtime", rt);
	}
	if (vm->runtime_error)
		json_object_set_new(o, "last_error", json_string(vm->runtime_error));
	if (vm->last_shutdown_reason)
		json_object_set_new(o, "last_shutdown_reason", json_string(vm->last_shutdown_reason));
	if (vm->busy_task)
		json_object_set_new(o, "busy_task", json_string(vm->busy_task));
	pthread_mutex_unlock(&vm->lock);
	return o;
}
