/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime of a running VM: QMP events, the end of QEMU (waiting for
 * its keeper, reporting why, tearing down), reattaching after a hostd
 * restart, and watching the keepers.
 */
#include "host/runtime.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/lock.h"
#include "host/shim.h"
#include "host/storage/snapshot.h"
#include "host/storage/disk.h"
#include "host/vswitch.h"
#include "host/alloc.h"
#include "qemu/hotplug.h"
#include "qemu/process.h"
#include "qemu/qga.h"
#include "qemu/qmp.h"

void runtime_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *vm_display_name(struct vm *vm)
{
	return vm->cfg ? vm->cfg->display_name : vm->id;
}

/* The last non-empty line QEMU wrote to the VM's log: usually its error. */
char *vm_log_last_line(struct vm *vm)
{
	_cleanup_free_ char *path = xasprintf("%s/vireo.log", vm->dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (file_read_all(path, 8 << 20, &text, &len, NULL) < 0 || len == 0)
		return NULL;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	char *nl = strrchr(text, '\n');
	return xstrdup(nl ? nl + 1 : text);
}

/*
 * Frees the runtime of a VM whose QEMU has ended: waits until nobody
 * uses the QMP connection, closes it, removes the run folder, releases
 * the lock.  Called without vm->lock.
 */
void runtime_teardown(struct hostd *h, struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (vm->qmp_users > 0)
		pthread_cond_wait(&vm->cond, &vm->lock);
	struct qmp *qmp = vm->qmp;
	struct qga *qga = vm->qga;
	vm->qmp = NULL;
	vm->qga = NULL;
	pthread_mutex_unlock(&vm->lock);
	if (qmp)
		qmp_close(qmp);
	qga_close(qga);
	rm_rf(vm->run_dir);
	vnet_vm_disconnect(h, vm);
	alloc_vm_stopped(h, vm);
	/* The shim released the lock; if it died first, the lock is left to us. */
	struct vr_error *err = NULL;
	if (vm_lock_release(vm->dir, h->host_id, &err) < 0) {
		log_warn("VM \"%s\": %s", vm_display_name(vm), err->msg);
		vr_error_free(err);
	}
	pthread_mutex_lock(&vm->lock);
	vm->pid = 0;
	vm->shim_pid = 0;
	vm->shim_is_child = false;
	vm->paused = false;
	vm->powered_on_ms = 0;
	free(vm->qemu_version);
	vm->qemu_version = NULL;
	vm->power = VM_POWER_OFF;
	if (vm->cfg) {
		_cleanup_free_ char *vmss = xasprintf("%s/%s.vmss", vm->dir, vm->cfg->display_name);
		if (access(vmss, F_OK) == 0)
			vm->power = VM_POWER_SUSPENDED;
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	/* Nonpersistent disks lose their changes at power-off (kept while suspended). */
	if (vm->power != VM_POWER_SUSPENDED)
		storage_redo_discard(vm);
}

/* Waits for a process that is not our child to disappear. */
bool runtime_wait_gone(pid_t pid, int timeout_ms)
{
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	while (kill(pid, 0) == 0 || errno != ESRCH) {
		if (time_mono_ms() > end)
			return false;
		runtime_sleep_ms(20);
	}
	return true;
}

/* Waits for the shim to end; reaps it if it is our child. */
void runtime_wait_shim(pid_t shim, bool child, int timeout_ms)
{
	if (shim <= 0)
		return;
	if (!child) {
		runtime_wait_gone(shim, timeout_ms);
		return;
	}
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		pid_t w = waitpid(shim, NULL, WNOHANG);
		if (w == shim || (w < 0 && errno != EINTR) || time_mono_ms() > end)
			return;
		runtime_sleep_ms(10);
	}
}

/* How QEMU ended, from the shim's record; caller frees. */
char *runtime_exit_description(struct vm *vm)
{
	struct shim_exit ex;
	struct vr_error *e = NULL;
	int r = shim_exit_read(vm->run_dir, &ex, &e);
	if (r < 0) {
		char *d = r == -ENOENT ? xstrdup("ended (its keeper recorded no exit status)")
				       : xasprintf("ended (%s)", e->msg);
		vr_error_free(e);
		return d;
	}
	char *d = shim_exit_summary(&ex);
	shim_exit_clear(&ex);
	return d;
}

/* Runs on its own thread after the QMP connection of a VM closed. */
static void *vm_exit_thread(void *arg)
{
	struct vm *vm = arg;
	struct hostd *h = vm->host;
	pthread_mutex_lock(&vm->lock);
	pid_t pid = vm->pid;
	pid_t shim = vm->shim_pid;
	bool shim_child = vm->shim_is_child;
	bool expected = vm->expect_exit;
	_cleanup_free_ char *reason =
		vm->last_shutdown_reason ? xstrdup(vm->last_shutdown_reason) : NULL;
	pthread_mutex_unlock(&vm->lock);

	if (pid > 0 && !runtime_wait_gone(pid, EXIT_WAIT_MS)) {
		log_warn("VM \"%s\": QEMU (pid %d) closed QMP but did not exit; killing it",
			 vm_display_name(vm), (int)pid);
		kill(pid, SIGKILL);
		runtime_wait_gone(pid, EXIT_WAIT_MS);
	}
	/* The shim records QEMU's exit status and releases the lock, then ends. */
	runtime_wait_shim(shim, shim_child, EXIT_WAIT_MS);
	pthread_mutex_lock(&vm->lock);
	_cleanup_free_ char *how = steal_pointer(&vm->kill_reason);
	pthread_mutex_unlock(&vm->lock);
	if (!how)
		how = runtime_exit_description(vm);
	runtime_teardown(h, vm);

	if (expected) {
		vm_log(vm, "QEMU %s", how ? how : "ended");
	} else if (reason) {
		vm_log(vm, "guest powered off (%s); QEMU %s", reason, how ? how : "ended");
		events_add(h->events, EVENT_INFO, vm->id, "VmPoweredOff",
			   "VM \"%s\" powered off: %s", vm_display_name(vm), reason);
	} else {
		_cleanup_free_ char *last = vm_log_last_line(vm);
		pthread_mutex_lock(&vm->lock);
		free(vm->runtime_error);
		vm->runtime_error = xasprintf("QEMU %s unexpectedly%s%s", how ? how : "ended",
					      last ? "; last log line: " : "", last ? last : "");
		pthread_mutex_unlock(&vm->lock);
		vm_log(vm, "QEMU %s unexpectedly", how ? how : "ended");
		events_add(h->events, EVENT_ERROR, vm->id, "VmFailed",
			   "VM \"%s\" powered off: its QEMU process %s unexpectedly", vm_display_name(vm),
			   how ? how : "ended");
	}
	vm_unref(vm);
	return NULL;
}

void runtime_on_qmp_event(struct qmp *qmp, const char *event, json_t *data,
			    uint64_t timestamp_us, void *opaque)
{
	struct vm *vm = opaque;
	(void)timestamp_us;
	qemu_hotplug_on_event(qmp, event, data); /* DEVICE_DELETED for a disk being removed */
	if (strcmp(event, QMP_EVENT_DISCONNECTED) == 0) {
		pthread_t th;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		vm_ref(vm); /* the exit handler's; it may outlive an unregistration */
		if (pthread_create(&th, &attr, vm_exit_thread, vm) != 0) {
			log_error("VM \"%s\": cannot start the exit handler", vm->id);
			vm_unref(vm);
		}
		pthread_attr_destroy(&attr);
		return;
	}
	disk_on_qmp_event(vm, event, data); /* storage/disk.c: BLOCK_IO_ERROR (full datastore) */
	pthread_mutex_lock(&vm->lock);
	if (strcmp(event, "STOP") == 0) {
		vm->paused = true;
	} else if (strcmp(event, "RESUME") == 0) {
		vm->paused = false;
	} else if (strcmp(event, "RESET") == 0) {
		vm->reset_count++;
	} else if (strcmp(event, "SHUTDOWN") == 0) {
		const char *reason = json_string_value(json_object_get(data, "reason"));
		free(vm->last_shutdown_reason);
		vm->last_shutdown_reason = xstrdup(reason ? reason : "unknown");
	} else if (strcmp(event, "GUEST_PANICKED") == 0) {
		free(vm->runtime_error);
		vm->runtime_error = xstrdup("the guest kernel panicked");
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	log_debug("VM %s: QMP event %s", vm->id, event);
}

/* Reports a VM whose QEMU ended while hostd was not running. */
static void report_ended_while_away(struct hostd *h, struct vm *vm, pid_t pid)
{
	_cleanup_free_ char *how = runtime_exit_description(vm);
	rm_rf(vm->run_dir);
	vm_lock_release(vm->dir, h->host_id, NULL);
	vm_log(vm, "found powered off: its QEMU (pid %d) %s while hostd was not running", (int)pid,
	       how);
	events_add(h->events, EVENT_WARNING, vm->id, "VmPoweredOff",
		   "VM \"%s\" was found powered off: its QEMU (pid %d) %s while hostd was not "
		   "running",
		   vm_display_name(vm), (int)pid, how);
}

/* Kills a QEMU whose keeper is gone: nothing renews its lock any more. */
static void fence_unkept(struct hostd *h, struct vm *vm, pid_t pid, const char *why)
{
	kill(pid, SIGKILL);
	runtime_wait_gone(pid, EXIT_WAIT_MS);
	pthread_mutex_lock(&vm->lock);
	free(vm->runtime_error);
	vm->runtime_error = xasprintf("QEMU (pid %d) was killed: %s, so nothing renewed the "
				      "VM's lock and another host could have started it",
				      (int)pid, why);
	pthread_mutex_unlock(&vm->lock);
	vm_log(vm, "killed QEMU (pid %d): %s", (int)pid, why);
	events_add(h->events, EVENT_ERROR, vm->id, "VmFailed",
		   "VM \"%s\" powered off: %s, so its QEMU (pid %d) was killed to keep the lock "
		   "safe",
		   vm_display_name(vm), why, (int)pid);
}

void lifecycle_reattach(struct hostd *h, struct vm *vm)
{
	_cleanup_free_ char *pidfile = xasprintf("%s/qemu.pid", vm->run_dir);
	_cleanup_free_ char *shimfile = xasprintf("%s/%s", vm->run_dir, SHIM_PIDFILE);
	pid_t pid, shim = 0;
	if (qemu_process_read_pidfile(pidfile, &pid) < 0) {
		/* QEMU removes its pid file when it exits; the shim's record may remain. */
		if (access(vm->run_dir, F_OK) == 0)
			report_ended_while_away(h, vm, 0);
		return;
	}
	if (qemu_process_read_pidfile(shimfile, &shim) < 0 || !shim_process_matches(shim, vm->run_dir))
		shim = 0;
	if (!qemu_process_matches(pid, vm->id)) {
		if (shim)
			runtime_wait_gone(shim, EXIT_WAIT_MS); /* it is writing the exit record */
		report_ended_while_away(h, vm, pid);
		return;
	}
	if (!shim) {
		fence_unkept(h, vm, pid, "its keeper (vireo-shim) is gone");
		rm_rf(vm->run_dir);
		vm_lock_release(vm->dir, h->host_id, NULL);
		return;
	}
	pthread_mutex_lock(&vm->lock);
	vm->pid = pid;
	vm->shim_pid = shim;
	vm->shim_is_child = false;
	vm->power = VM_POWER_ON;
	vm->expect_exit = false;
	pthread_mutex_unlock(&vm->lock);
	_cleanup_free_ char *qmp_path = xasprintf("%s/qmp.sock", vm->run_dir);
	struct vr_error *e = NULL;
	struct qmp *qmp = qmp_open(h->loop, qmp_path, 5000, runtime_on_qmp_event, vm, &e);
	if (!qmp) {
		/* QEMU accepts one QMP client; without it we cannot manage the VM. */
		events_add(h->events, EVENT_ERROR, vm->id, "VmReattachFailed",
			   "VM \"%s\": QEMU (pid %d) runs but its QMP socket does not answer: %s",
			   vm_display_name(vm), (int)pid, e->msg);
		pthread_mutex_lock(&vm->lock);
		vm->runtime_error = xasprintf("cannot reattach: %s", e->msg);
		pthread_mutex_unlock(&vm->lock);
		vr_error_free(e);
		return;
	}
	json_t *st = NULL;
	bool running = true;
	bool io_error = false;
	if (qmp_execute(qmp, "query-status", NULL, QMP_TIMEOUT_MS, &st, &e) == 0) {
		running = json_is_true(json_object_get(st, "running"));
		/* Paused on a disk error before this hostd started (e.g. a full datastore). */
		const char *status = json_string_value(json_object_get(st, "status"));
		io_error = status && strcmp(status, "io-error") == 0;
		json_decref(st);
	}
	vr_error_free(e);
	e = NULL;
	_cleanup_free_ char *qga_path = xasprintf("%s/qga.sock", vm->run_dir);
	pthread_mutex_lock(&vm->lock);
	vm->qmp = qmp;
	vm->qga = qga_new(qga_path);
	vm->paused = !running;
	if (io_error && !vm->paused_reason)
		vm->paused_reason = xstrdup("a disk write failed (a datastore may be full); "
					    "free space, then continue the VM");
	vm->accel = VM_ACCEL_TCG;
	vm->qemu_version = xstrdup(qmp_get_version(qmp));
	pthread_mutex_unlock(&vm->lock);
	qga_keep_connected(vm->qga, NULL);
	json_t *accel = NULL;
	if (qmp_execute(qmp, "query-kvm", NULL, QMP_TIMEOUT_MS, &accel, &e) == 0) {
		pthread_mutex_lock(&vm->lock);
		vm->accel = json_is_true(json_object_get(accel, "enabled")) ? VM_ACCEL_KVM : VM_ACCEL_TCG;
		pthread_mutex_unlock(&vm->lock);
		json_decref(accel);
	}
	vr_error_free(e);
	alloc_vm_reattached(h, vm);
	if (vnet_vm_reapply(h, vm, &e) < 0) {
		events_add(h->events, EVENT_ERROR, vm->id, "VmNetworkReapplyFailed",
			   "VM \"%s\": its NICs' switch ports could not be restored: %s",
			   vm_display_name(vm), e->msg);
		vr_error_free(e);
		e = NULL;
	}
	vm_log(vm, "hostd reattached to QEMU pid %d (keeper pid %d)", (int)pid, (int)shim);
	events_add(h->events, EVENT_INFO, vm->id, "VmReattached",
		   "VM \"%s\" is running (QEMU pid %d); reattached", vm_display_name(vm), (int)pid);
}

/* Whether the shim still runs; a dead child of ours is seen without reaping it. */
static bool shim_alive(pid_t shim, bool child, const char *run_dir)
{
	if (child) {
		siginfo_t si = {0};
		if (waitid(P_PID, (id_t)shim, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
			return errno != ECHILD;
		return si.si_pid == 0;
	}
	return shim_process_matches(shim, run_dir);
}

void lifecycle_supervise(void *opaque)
{
	struct hostd *h = opaque;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		pid_t pid = vm->pid, shim = vm->shim_pid;
		bool child = vm->shim_is_child;
		pthread_mutex_unlock(&vm->lock);
		if (pid <= 0)
			continue;
		struct qga *qga = vm_qga_get(vm);
		if (qga) {
			qga_keep_connected(qga, NULL);
			vm_qga_put(vm);
		}
		if (shim <= 0 || shim_alive(shim, child, vm->run_dir))
			continue;
		/* The shim ends after QEMU; if QEMU still runs, the keeper died. */
		if (!qemu_process_matches(pid, vm->id))
			continue;
		log_error("VM \"%s\": its keeper (vireo-shim pid %d) died; killing QEMU (pid %d)",
			  vm_display_name(vm), (int)shim, (int)pid);
		pthread_mutex_lock(&vm->lock);
		free(vm->kill_reason);
		vm->kill_reason = xasprintf("was killed by hostd because its keeper (vireo-shim pid "
					    "%d) died and nothing renewed the VM's lock",
					    (int)shim);
		pthread_mutex_unlock(&vm->lock);
		kill(pid, SIGKILL); /* QMP closes; the exit thread reports and tears down */
	}
	pthread_mutex_unlock(&h->lock);
}

