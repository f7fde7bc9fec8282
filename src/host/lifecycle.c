/* SPDX-License-Identifier: Apache-2.0 */
/* VM lifecycle: power on/off, reset, guest shutdown/restart, suspend/resume. */
#include "host/lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/lock.h"
#include "host/runtime.h"
#include "host/shim.h"
#include "host/storage/import.h"
#include "host/storage/disk.h"
#include "host/storage/snapshot.h"
#include "host/tasks.h"
#include "host/net/vnet.h"
#include "host/vswitch.h"
#include "host/alloc.h"
#include "qemu/accel.h"
#include "qemu/cmdline.h"
#include "qemu/nic.h"
#include "qemu/process.h"
#include "qemu/qga.h"
#include "qemu/qmp.h"

#define QMP_CONNECT_TIMEOUT_MS 30000

static struct vm_lock_params lock_params(struct hostd *h)
{
	return (struct vm_lock_params){
		.host_id = h->host_id,
		.host_name = h->cfg.host_name,
		.renew_ms = h->cfg.lock_renew_ms,
		.lease_ms = h->cfg.lock_lease_ms,
	};
}

/* Waits until the VM's QEMU is gone and torn down; SIGKILL after timeout_ms. */
static void wait_powered_off(struct vm *vm, int timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&vm->lock);
	while (vm->pid != 0) {
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT) {
			if (vm->pid > 0) {
				log_warn("VM \"%s\": QEMU (pid %d) did not exit; killing it",
					 vm_display_name(vm), (int)vm->pid);
				kill(vm->pid, SIGKILL);
			}
			while (vm->pid != 0)
				pthread_cond_wait(&vm->cond, &vm->lock);
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

static bool wait_until_off(struct vm *vm, int timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	bool off;
	pthread_mutex_lock(&vm->lock);
	while (vm->pid != 0)
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
			break;
	off = vm->pid == 0;
	pthread_mutex_unlock(&vm->lock);
	return off;
}

static int vm_qmp(struct vm *vm, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
		  struct vr_error **err)
{
	struct qmp *q = vm_qmp_get(vm);
	if (!q) {
		json_decref(args);
		return vr_error_set(err, ENOTCONN, "VM \"%s\" is not running", vm_display_name(vm));
	}
	int r = qmp_execute(q, cmd, args, timeout_ms, ret, err);
	vm_qmp_put(vm);
	return r;
}

/* Checks that every file the VM uses lies in its folder or in a datastore. */
static int check_vm_files(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	const struct vm_config *c = vm->cfg;
	const char *files[VM_MAX_DISKS + 2];
	const char *what[VM_MAX_DISKS + 2];
	size_t n = 0;
	for (size_t i = 0; i < c->n_disks; i++) {
		what[n] = "disk";
		files[n++] = c->disks[i].file_name;
	}
	if (c->kernel) {
		what[n] = "kernel";
		files[n++] = c->kernel;
	}
	if (c->initrd) {
		what[n] = "initrd";
		files[n++] = c->initrd;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = qemu_cmdline_resolve_path(vm->dir, files[i]);
		if (access(p, R_OK) < 0)
			return vr_error_set_errno(err, errno, "VM \"%s\": %s \"%s\"", vm_display_name(vm),
						  what[i], files[i]);
		_cleanup_free_ char *ds = datastore_of_path(h, p, NULL);
		if (!ds)
			return vr_error_set(err, EACCES,
					    "VM \"%s\": %s \"%s\" is not on a datastore of this host",
					    vm_display_name(vm), what[i], files[i]);
	}
	return 0;
}

static int migrate_wait(struct vm *vm, struct task *task, int timeout_ms, struct vr_error **err)
{
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		json_t *ret = NULL;
		int r = vm_qmp(vm, "query-migrate", NULL, QMP_TIMEOUT_MS, &ret, err);
		if (r < 0)
			return r;
		const char *status = json_string_value(json_object_get(ret, "status"));
		if (status && strcmp(status, "completed") == 0) {
			json_decref(ret);
			return 0;
		}
		if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
			const char *why = json_string_value(json_object_get(ret, "error-desc"));
			r = vr_error_set(err, EIO, "saving or restoring the VM state %s: %s", status,
					 why ? why : "no reason given");
			json_decref(ret);
			return r;
		}
		json_t *ram = json_object_get(ret, "ram");
		json_int_t total = json_integer_value(json_object_get(ram, "total"));
		json_int_t done = json_integer_value(json_object_get(ram, "transferred"));
		if (task && total > 0 && done >= 0)
			task_set_progress(task, (int)(10 + 80 * (done > total ? total : done) / total));
		json_decref(ret);
		if (time_mono_ms() > end)
			return vr_error_set(err, ETIMEDOUT, "saving or restoring the VM state took longer than %d s",
					    timeout_ms / 1000);
		runtime_sleep_ms(100);
	}
}

int lifecycle_power_on(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err)
{
	return lifecycle_power_on_state(h, vm, task, NULL, err);
}

int lifecycle_power_on_state(struct hostd *h, struct vm *vm, struct task *task,
			     const char *state_file, struct vr_error **err)
{
	int r;
	_cleanup_free_ char *vmss = NULL, *console_log = NULL, *joined = NULL, *log_path = NULL,
			    *qmp_path = NULL, *qga_path = NULL;
	_cleanup_close_ int vmss_fd = -1, lock_fd = -1;
	_cleanup_strv_ char **argv = NULL;
	pthread_mutex_lock(&vm->lock);
	if (vm->power == VM_POWER_ON) {
		pthread_mutex_unlock(&vm->lock);
		return vr_error_set(err, EALREADY, "VM \"%s\" is already powered on", vm_display_name(vm));
	}
	r = vm_reload_config(vm, err);
	bool resuming = vm->power == VM_POWER_SUSPENDED || state_file;
	/* A suspended VM's own state is consumed by resuming; a snapshot's is kept. */
	bool consume_state = !state_file;
	pthread_mutex_unlock(&vm->lock);
	if (r < 0)
		return r;
	const struct vm_config *cfg = vm->cfg; /* stable while we hold the claim */
	if (cfg->is_template)
		return vr_error_set(err, EPERM,
				    "VM \"%s\" is a template: templates are not powered on; deploy "
				    "a clone of it, or convert it back to a VM first",
				    cfg->display_name);

	enum vm_accel accel;
	r = qemu_accel_resolve(cfg->accel, h->cfg.accel, h->detected_accel, h->accel_reason,
			       &accel, err);
	if (r < 0)
		return vr_error_wrap(err, "VM \"%s\"", cfg->display_name);
	r = check_vm_files(h, vm, err);
	if (r < 0)
		return r;
	r = storage_check_vm_disks(h, vm->dir, cfg, true, err);
	if (r == 0)
		r = storage_prepare_disks(h, vm, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot power on VM \"%s\"", cfg->display_name);
	r = disk_check_space(h, vm, err); /* a full datastore would pause the VM at once */
	if (r < 0)
		return vr_error_wrap(err, "cannot power on VM \"%s\"", cfg->display_name);
	task_set_progress(task, 5);
	/* Admission control: its reservations must fit in what is unreserved. */
	r = alloc_admit(h, vm, err);
	if (r < 0)
		return r;

	struct vm_lock_params lp = lock_params(h);
	uint64_t lock_counter;
	r = vm_lock_acquire(vm->dir, &lp, &lock_fd, &lock_counter, err);
	if (r < 0) {
		alloc_vm_stopped(h, vm);
		return vr_error_wrap(err, "cannot power on VM \"%s\"", cfg->display_name);
	}

	rm_rf(vm->run_dir);
	r = mkdir_p(vm->run_dir, 0750);
	if (r < 0) {
		r = vr_error_set_errno(err, -r, "cannot create \"%s\"", vm->run_dir);
		goto fail_unlocked;
	}
	vmss = state_file ? xstrdup(state_file) : xasprintf("%s/%s.vmss", vm->dir, cfg->display_name);
	if (resuming) {
		vmss_fd = open(vmss, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (vmss_fd < 0) {
			r = vr_error_set_errno(err, errno, "cannot open the suspended state \"%s\"",
					       vmss);
			goto fail_unlocked;
		}
	}
	/* Keep the serial console's log from growing without bound. */
	console_log = xasprintf("%s/console.log", vm->dir);
	struct stat st;
	if (stat(console_log, &st) == 0 && st.st_size > (1 << 20)) {
		_cleanup_free_ char *old = xasprintf("%s.1", console_log);
		rename(console_log, old);
	}

	char **redo = NULL;
	size_t n_redo = 0;
	r = storage_redo_prepare(h, vm, resuming && consume_state, &redo, &n_redo, err);
	if (r < 0)
		goto fail_unlocked;
	/* Bridged NICs: their taps on the port groups' switches. */
	r = vnet_vm_connect(h, vm, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot power on VM \"%s\"", cfg->display_name);
		for (size_t i = 0; i < n_redo; i++)
			free(redo[i]);
		free(redo);
		goto fail_unlocked;
	}
	char *taps[VM_MAX_NICS] = { 0 };
	char tap_names[VM_MAX_NICS][VNET_IFNAME_MAX];
	for (size_t i = 0; i < cfg->n_nics && i < VM_MAX_NICS; i++)
		if (cfg->nics[i].connection == VM_NIC_CONN_BRIDGE) {
			vnet_tap_name(vm->id, cfg->nics[i].index, tap_names[i]);
			taps[i] = tap_names[i];
		}
	/* O_DIRECT for every disk whose file system takes it (docs/design.md, "Disk cache mode"). */
	bool buffered[VM_MAX_DISKS] = { false };
	for (size_t i = 0; i < cfg->n_disks && i < VM_MAX_DISKS; i++) {
		_cleanup_free_ char *path =
			i < n_redo && redo[i] ? xstrdup(redo[i])
					      : qemu_cmdline_resolve_path(vm->dir, cfg->disks[i].file_name);
		buffered[i] = !qemu_disk_direct_supported(path);
		if (buffered[i])
			vm_log(vm, "disk \"%s\": its file system refuses O_DIRECT; QEMU opens it "
				   "through the page cache (disk shares are not enforced on it)",
			       path);
	}
	struct qemu_launch launch = {
		.qemu_binary = h->cfg.qemu_binary,
		.vm_dir = vm->dir,
		.run_dir = vm->run_dir,
		.accel = accel,
		.run_as_user = h->cfg.qemu_user,
		.sandbox = h->cfg.qemu_sandbox,
		.start_paused = true,
		.incoming = resuming,
		.disk_redo = redo,
		.n_disk_redo = n_redo,
		.disk_buffered = buffered,
		.n_disk_buffered = cfg->n_disks < VM_MAX_DISKS ? cfg->n_disks : VM_MAX_DISKS,
		.nic_taps = taps,
		.n_nic_taps = cfg->n_nics < VM_MAX_NICS ? cfg->n_nics : VM_MAX_NICS,
	};
	r = qemu_cmdline_build(cfg, &launch, &argv, err);
	for (size_t i = 0; i < n_redo; i++)
		free(redo[i]);
	free(redo);
	if (r < 0) {
		vr_error_wrap(err, "VM \"%s\"", cfg->display_name);
		goto fail_unlocked;
	}
	joined = strv_join(argv, " ");
	vm_log(vm, "%s with %s: %s", resuming ? "resuming" : "powering on", vm_accel_name(accel),
	       joined);
	log_path = xasprintf("%s/vireo.log", vm->dir);
	pid_t pid, shim_pid;
	struct shim_start ss = {
		.shim_binary = h->cfg.shim_binary,
		.vm_dir = vm->dir,
		.run_dir = vm->run_dir,
		.log_path = log_path,
		.lock_fd = lock_fd,
		.lock_counter = lock_counter,
		.lock = &lp,
		.qemu_argv = argv,
	};
	r = shim_spawn(&ss, &shim_pid, &pid, err);
	if (r < 0)
		goto fail_unlocked;
	/* The shim holds the lock from now on, and releases it when QEMU ends. */
	close(steal_fd(&lock_fd));
	pthread_mutex_lock(&vm->lock);
	vm->pid = pid;
	vm->shim_pid = shim_pid;
	vm->shim_is_child = true;
	vm->expect_exit = false;
	vm->accel = accel;
	free(vm->runtime_error);
	vm->runtime_error = NULL;
	free(vm->last_shutdown_reason);
	vm->last_shutdown_reason = NULL;
	pthread_mutex_unlock(&vm->lock);
	task_set_progress(task, 10);

	qmp_path = xasprintf("%s/qmp.sock", vm->run_dir);
	struct qmp *qmp = NULL;
	for (uint64_t end = time_mono_ms() + QMP_CONNECT_TIMEOUT_MS;;) {
		struct vr_error *e2 = NULL;
		qmp = qmp_open(h->loop, qmp_path, 200, runtime_on_qmp_event, vm, &e2);
		if (qmp) {
			vr_error_free(e2);
			break;
		}
		/* QEMU's early death ends the shim, which records how. */
		if (waitpid(shim_pid, NULL, WNOHANG) == shim_pid) {
			vr_error_free(e2);
			_cleanup_free_ char *last = vm_log_last_line(vm);
			_cleanup_free_ char *how = runtime_exit_description(vm);
			r = vr_error_set(err, EIO, "QEMU %s while starting VM \"%s\"; the VM log's last "
					 "line: %s", how, cfg->display_name, last ? last : "none");
			goto fail_started;
		}
		if (time_mono_ms() > end) {
			r = vr_error_set(err, ETIMEDOUT, "QEMU of VM \"%s\" did not open QMP: %s",
					 cfg->display_name, e2 ? e2->msg : "timeout");
			vr_error_free(e2);
			kill(pid, SIGKILL);
			runtime_wait_shim(shim_pid, true, EXIT_WAIT_MS);
			goto fail_started;
		}
		vr_error_free(e2);
	}
	qga_path = xasprintf("%s/qga.sock", vm->run_dir);
	pthread_mutex_lock(&vm->lock);
	vm->qmp = qmp;
	vm->qga = qga_new(qga_path);
	free(vm->qemu_version);
	vm->qemu_version = xstrdup(qmp_get_version(qmp));
	vm->paused = true;
	vm->power = VM_POWER_ON;
	pthread_mutex_unlock(&vm->lock);
	/* Connected from the start: an agent whose host side is closed busy-polls. */
	qga_keep_connected(vm->qga, NULL);
	task_set_progress(task, 20);

	if (resuming) {
		struct qmp *q = vm_qmp_get(vm);
		r = q ? qmp_execute_with_fd(q, "getfd", json_pack("{s:s}", "fdname", "vmss"), vmss_fd,
					    QMP_TIMEOUT_MS, NULL, err)
		      : vr_error_set(err, ENOTCONN, "QEMU went away");
		if (q)
			vm_qmp_put(vm);
		if (r >= 0)
			r = vm_qmp(vm, "migrate-incoming", json_pack("{s:s}", "uri", "fd:vmss"),
				   QMP_TIMEOUT_MS, NULL, err);
		if (r >= 0)
			r = migrate_wait(vm, task, 600000, err);
		if (r < 0) {
			vr_error_wrap(err, "cannot resume VM \"%s\" from \"%s\"", cfg->display_name,
				      vmss);
			goto fail_running;
		}
	}
	/* Shares, limits and I/O throttles hold before the first guest instruction. */
	r = alloc_vm_started(h, vm, err);
	if (r < 0)
		goto fail_running;
	if (!resuming) { /* ethernetN.startConnected = "FALSE": link down before the guest runs */
		struct qmp *q = vm_qmp_get(vm);
		r = q ? qemu_nics_apply_start_connected(q, cfg, QMP_TIMEOUT_MS, err)
		      : vr_error_set(err, ENOTCONN, "QEMU went away");
		if (q)
			vm_qmp_put(vm);
		if (r < 0)
			goto fail_running;
	}
	r = vm_qmp(vm, "cont", NULL, QMP_TIMEOUT_MS, NULL, err);
	if (r < 0)
		goto fail_running;
	pthread_mutex_lock(&vm->lock);
	vm->powered_on_ms = time_real_ms();
	pthread_mutex_unlock(&vm->lock);
	if (resuming && consume_state) {
		if (unlink(vmss) < 0)
			log_warn("cannot remove \"%s\" after resuming: %s", vmss, strerror(errno));
		fsync_dir_of(vmss);
	}
	vm_log(vm, "%s (QEMU pid %d, %s)", resuming ? "resumed" : "powered on", (int)pid,
	       vm_accel_name(accel));
	events_add(h->events, EVENT_INFO, vm->id, resuming ? "VmResumed" : "VmPoweredOn",
		   "VM \"%s\" %s on %s", cfg->display_name, resuming ? "resumed" : "powered on",
		   vm_accel_name(accel));
	task_set_result(task, json_pack("{s:s, s:i, s:s}", "id", vm->id, "pid", (int)pid, "accel",
					vm_accel_name(accel)));
	return 0;

fail_running:
	pthread_mutex_lock(&vm->lock);
	vm->expect_exit = true;
	if (vm->pid > 0)
		kill(vm->pid, SIGKILL);
	pthread_mutex_unlock(&vm->lock);
	wait_powered_off(vm, EXIT_WAIT_MS);
	vm_log(vm, "power on failed: %s", vr_error_msg(*err));
	return r;

fail_started:
	pthread_mutex_lock(&vm->lock);
	vm->pid = 0;
	vm->shim_pid = 0;
	vm->shim_is_child = false;
	pthread_mutex_unlock(&vm->lock);
fail_unlocked:
	rm_rf(vm->run_dir);
	vnet_vm_disconnect(h, vm);
	alloc_vm_stopped(h, vm);
	if (!(resuming && consume_state))
		storage_redo_discard(vm);
	if (lock_fd >= 0)
		vm_lock_release_fd(lock_fd, vm->dir, NULL);
	else
		vm_lock_release(vm->dir, h->host_id, NULL);
	vm_log(vm, "power on failed: %s", err && *err ? (*err)->msg : "error");
	return r;
}

static int require_running(struct vm *vm, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	bool on = vm->power == VM_POWER_ON && vm->qmp;
	pthread_mutex_unlock(&vm->lock);
	if (!on)
		return vr_error_set(err, EINVAL, "VM \"%s\" is not powered on", vm_display_name(vm));
	return 0;
}

static void set_expect_exit(struct vm *vm, bool v)
{
	pthread_mutex_lock(&vm->lock);
	vm->expect_exit = v;
	pthread_mutex_unlock(&vm->lock);
}

/* Hard power off: QMP quit, then SIGKILL if QEMU does not go. */
static void power_off_now(struct vm *vm)
{
	set_expect_exit(vm, true);
	struct vr_error *e = NULL;
	if (vm_qmp(vm, "quit", NULL, 5000, NULL, &e) < 0) {
		log_info("VM \"%s\": quit: %s", vm_display_name(vm), e->msg);
		vr_error_free(e);
		pthread_mutex_lock(&vm->lock);
		if (vm->pid > 0)
			kill(vm->pid, SIGKILL);
		pthread_mutex_unlock(&vm->lock);
	}
	wait_powered_off(vm, EXIT_WAIT_MS);
}

int lifecycle_power_off(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err)
{
	int r = require_running(vm, err);
	if (r < 0)
		return r;
	power_off_now(vm);
	vm_log(vm, "powered off");
	events_add(h->events, EVENT_INFO, vm->id, "VmPoweredOff", "VM \"%s\" powered off",
		   vm_display_name(vm));
	set_expect_exit(vm, false);
	(void)task;
	return 0;
}

int lifecycle_reset(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err)
{
	int r = require_running(vm, err);
	if (r < 0)
		return r;
	r = vm_qmp(vm, "system_reset", NULL, QMP_TIMEOUT_MS, NULL, err);
	if (r < 0)
		return r;
	vm_log(vm, "reset");
	events_add(h->events, EVENT_INFO, vm->id, "VmReset", "VM \"%s\" was reset", vm_display_name(vm));
	(void)task;
	return 0;
}

/* Asks the guest agent for a shutdown or reboot; true if it accepted. */
static bool agent_shutdown(struct vm *vm, const char *mode)
{
	struct vr_error *e = NULL;
	struct qga *qga = vm_qga_get(vm);
	bool ok = false;
	if (qga && qga_ping(qga, 3000, &e) == 0 && qga_shutdown(qga, mode, 5000, &e) == 0)
		ok = true;
	if (!ok)
		log_info("VM \"%s\": guest agent %s not possible: %s", vm_display_name(vm), mode,
			 e ? e->msg : "no agent");
	vr_error_free(e);
	if (qga)
		vm_qga_put(vm);
	return ok;
}

int lifecycle_shutdown_guest(struct hostd *h, struct vm *vm, struct task *task, int timeout_s,
			     struct vr_error **err)
{
	int r = require_running(vm, err);
	if (r < 0)
		return r;
	set_expect_exit(vm, true);
	const char *method = NULL;
	if (agent_shutdown(vm, "powerdown")) {
		task_set_progress(task, 30);
		if (wait_until_off(vm, timeout_s * 1000))
			method = "guest agent";
	}
	if (!method) {
		struct vr_error *e = NULL;
		if (vm_qmp(vm, "system_powerdown", NULL, QMP_TIMEOUT_MS, NULL, &e) == 0) {
			task_set_progress(task, 60);
			if (wait_until_off(vm, timeout_s * 1000))
				method = "ACPI power button";
		} else {
			vr_error_free(e);
		}
	}
	if (!method) {
		task_set_progress(task, 90);
		power_off_now(vm);
		method = "power off (the guest did not shut down in time)";
	}
	set_expect_exit(vm, false);
	vm_log(vm, "guest shut down by %s", method);
	events_add(h->events, EVENT_INFO, vm->id, "VmGuestShutdown",
		   "VM \"%s\" shut down by %s", vm_display_name(vm), method);
	task_set_result(task, json_pack("{s:s}", "method", method));
	return 0;
}

static bool wait_reset(struct vm *vm, uint64_t seen, int timeout_ms)
{
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	bool reset = false;
	pthread_mutex_lock(&vm->lock);
	while (!(reset = vm->reset_count > seen) && vm->pid != 0 && time_mono_ms() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	}
	pthread_mutex_unlock(&vm->lock);
	return reset;
}

int lifecycle_reboot_guest(struct hostd *h, struct vm *vm, struct task *task, int timeout_s,
			   struct vr_error **err)
{
	int r = require_running(vm, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	uint64_t seen = vm->reset_count;
	pthread_mutex_unlock(&vm->lock);
	const char *method = NULL;
	if (agent_shutdown(vm, "reboot") && wait_reset(vm, seen, timeout_s * 1000))
		method = "guest agent";
	if (!method) {
		r = vm_qmp(vm, "system_reset", NULL, QMP_TIMEOUT_MS, NULL, err);
		if (r < 0)
			return r;
		method = "hard reset (the guest agent did not restart the guest)";
	}
	vm_log(vm, "guest restarted by %s", method);
	events_add(h->events, EVENT_INFO, vm->id, "VmGuestReboot", "VM \"%s\" restarted by %s",
		   vm_display_name(vm), method);
	task_set_result(task, json_pack("{s:s}", "method", method));
	return 0;
}

int lifecycle_save_state(struct vm *vm, const char *path, struct task *task,
			 struct vr_error **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return vr_error_set(err, EINVAL, "\"%s\" is not an absolute path", path);
	*slash = '\0';
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.tmp", dir, slash + 1);
	unlink(tmp);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create \"%s\"", tmp);
	/* Saving to a local file: no reason to throttle. */
	int r = vm_qmp(vm, "migrate-set-parameters",
		       json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 40), QMP_TIMEOUT_MS, NULL,
		       err);
	struct qmp *q = r < 0 ? NULL : vm_qmp_get(vm);
	if (r >= 0) {
		r = q ? qmp_execute_with_fd(q, "getfd", json_pack("{s:s}", "fdname", "vmstate"), fd,
					    QMP_TIMEOUT_MS, NULL, err)
		      : vr_error_set(err, ENOTCONN, "QEMU went away");
		if (q)
			vm_qmp_put(vm);
	}
	if (r >= 0)
		r = vm_qmp(vm, "migrate", json_pack("{s:s}", "uri", "fd:vmstate"), QMP_TIMEOUT_MS,
			   NULL, err);
	if (r >= 0)
		r = migrate_wait(vm, task, 600000, err);
	if (r >= 0 && fsync(fd) < 0)
		r = vr_error_set_errno(err, errno, "cannot sync \"%s\"", tmp);
	if (r >= 0 && rename(tmp, path) < 0)
		r = vr_error_set_errno(err, errno, "cannot rename \"%s\" to \"%s\"", tmp, path);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	fsync_dir_of(path);
	return 0;
}

int lifecycle_suspend(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err)
{
	int r = require_running(vm, err);
	if (r < 0)
		return r;
	const char *name = vm->cfg->display_name;
	_cleanup_free_ char *vmss = xasprintf("%s/%s.vmss", vm->dir, name);
	r = vm_qmp(vm, "stop", NULL, QMP_TIMEOUT_MS, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot suspend VM \"%s\"", name);
	task_set_progress(task, 5);
	r = lifecycle_save_state(vm, vmss, task, err);
	if (r < 0) {
		struct vr_error *e = NULL;
		if (vm_qmp(vm, "cont", NULL, QMP_TIMEOUT_MS, NULL, &e) < 0) {
			log_error("VM \"%s\": cannot continue after a failed suspend: %s", name,
				  e->msg);
			vr_error_free(e);
		}
		return vr_error_wrap(err, "cannot suspend VM \"%s\"", name);
	}
	task_set_progress(task, 95);
	power_off_now(vm);
	set_expect_exit(vm, false);
	struct stat st;
	long long size = stat(vmss, &st) == 0 ? (long long)st.st_size : -1;
	vm_log(vm, "suspended to %s (%lld bytes)", vmss, size);
	events_add(h->events, EVENT_INFO, vm->id, "VmSuspended", "VM \"%s\" suspended", name);
	task_set_result(task, json_pack("{s:s, s:I}", "file", vmss, "bytes", (json_int_t)size));
	return 0;
}

int lifecycle_qmp(struct vm *vm, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
		  struct vr_error **err)
{
	return vm_qmp(vm, cmd, args, timeout_ms, ret, err);
}

void lifecycle_power_off_now(struct vm *vm)
{
	power_off_now(vm);
	set_expect_exit(vm, false);
}

bool lifecycle_is_running(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool on = vm->power == VM_POWER_ON && vm->qmp;
	pthread_mutex_unlock(&vm->lock);
	return on;
}

json_t *lifecycle_guest_info(struct hostd *h, struct vm *vm)
{
	(void)h;
	pthread_mutex_lock(&vm->lock);
	bool on = vm->power == VM_POWER_ON;
	pthread_mutex_unlock(&vm->lock);
	if (!on)
		return json_pack("{s:s}", "agent", "notRunning");
	struct vr_error *e = NULL;
	struct qga *qga = vm_qga_get(vm);
	if (!qga || qga_ping(qga, 2000, &e) < 0) {
		json_t *o = json_pack("{s:s, s:s}", "agent", "notRunning", "reason",
				      e ? e->msg : "no answer");
		vr_error_free(e);
		if (qga)
			vm_qga_put(vm);
		return o;
	}
	json_t *o = json_pack("{s:s}", "agent", "running");
	char *hostname = NULL;
	if (qga_get_host_name(qga, 2000, &hostname, &e) == 0) {
		json_object_set_new(o, "hostname", json_string(hostname));
		free(hostname);
	}
	vr_error_free(e);
	e = NULL;
	struct qga_iface *ifs = NULL;
	size_t n = 0;
	if (qga_get_interfaces(qga, 2000, &ifs, &n, &e) == 0) {
		json_t *a = json_array(), *ips = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *addrs = json_array();
			for (size_t j = 0; j < ifs[i].n_ips; j++) {
				json_array_append_new(addrs, json_pack("{s:s, s:i, s:s}", "address",
								       ifs[i].ips[j].address, "prefix",
								       (int)ifs[i].ips[j].prefix, "family",
								       ifs[i].ips[j].ipv6 ? "ipv6" : "ipv4"));
				if (strcmp(ifs[i].name, "lo") != 0)
					json_array_append_new(ips, json_string(ifs[i].ips[j].address));
			}
			json_t *io = json_pack("{s:s, s:o}", "name", ifs[i].name, "addresses", addrs);
			if (ifs[i].hwaddr)
				json_object_set_new(io, "mac", json_string(ifs[i].hwaddr));
			json_array_append_new(a, io);
		}
		json_object_set_new(o, "interfaces", a);
		json_object_set_new(o, "ip_addresses", ips);
		qga_free_interfaces(ifs, n);
	}
	vr_error_free(e);
	e = NULL;
	struct qga_osinfo *os = NULL;
	if (qga_get_osinfo(qga, 2000, &os, &e) == 0) {
		if (os->pretty_name)
			json_object_set_new(o, "os", json_string(os->pretty_name));
		if (os->kernel_release)
			json_object_set_new(o, "kernel", json_string(os->kernel_release));
		qga_free_osinfo(os);
	}
	vr_error_free(e);
	vm_qga_put(vm);
	return o;
}

int lifecycle_continue(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err)
{
	int r = require_running(vm, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	if (!paused)
		return vr_error_set(err, EALREADY, "VM \"%s\" is not paused", vm_display_name(vm));
	r = disk_check_space(h, vm, err); /* else it would pause again at its next write */
	if (r < 0)
		return vr_error_wrap(err, "cannot continue VM \"%s\"", vm_display_name(vm));
	r = vm_qmp(vm, "cont", NULL, QMP_TIMEOUT_MS, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot continue VM \"%s\"", vm_display_name(vm));
	vm_log(vm, "continued");
	events_add(h->events, EVENT_INFO, vm->id, "VmContinued", "VM \"%s\" continued",
		   vm_display_name(vm));
	(void)task;
	return 0;
}
