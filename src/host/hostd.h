/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_HOSTD_H
#define VIREO_HOST_HOSTD_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/vmconfig.h"

struct vr_error;
struct vr_loop;
struct auth;
struct api_server;
struct tasks;
struct events;
struct qmp;
struct qga;
struct vmx;
struct disk_size_cache;
struct vnet;
struct alloc;
struct stats_sampler;
struct res_cgroup;
struct transfers;


/* Settings of one host agent; from the command line and hostd.json. */
struct hostd_config {
	char *state_dir;   /* users, inventory, datastores, host id */
	char *run_dir;     /* per-VM sockets and pid files */
	char *listen;      /* "127.0.0.1" */
	unsigned port;     /* 8443 */
	char *tls_cert;
	char *tls_key;
	char *qemu_binary; /* "qemu-system-x86_64" */
	char *shim_binary; /* vireo-shim; default: next to vireo-hostd */
	char *qemu_user;   /* QEMU drops to this user; NULL = stay */
	bool qemu_sandbox;
	enum vm_accel accel; /* host override: auto, kvm, tcg */
	unsigned lock_renew_ms;  /* lease renewal period */
	unsigned lock_lease_ms;  /* a lock not renewed for this long may be broken */
	char *host_name;   /* shown in locks and events; default: gethostname() */
	char *cgroup_parent; /* the VMs' parent cgroup ("vireo") */
	unsigned balloon_period_ms; /* balloon policy rounds; 0 turns the policy off */
	unsigned stats_interval_ms; /* statistics sampling (stats_sampler.h) */
	bool metrics_no_auth;       /* /metrics open to anonymous scrapers */
	unsigned login_lockout_failures; /* failed logins that lock a user name; 0: no lockout */
	unsigned login_lockout_window_s; /* ... when they fall within this many seconds */
	unsigned login_lockout_unlock_s; /* how long the name stays locked */
};

struct datastore {
	char *name;
	char *path; /* absolute */
};

enum vm_power_state {
	VM_POWER_OFF,
	VM_POWER_ON,
	VM_POWER_SUSPENDED,
};

/*
 * One registered VM.  Fields after `lock` are protected by it.  Counted:
 * the inventory list holds one reference, and so does whoever found the
 * VM (inventory_find) or works on it (a task, the exit handler).
 */
struct vm {
	unsigned refs;      /* atomic */
	char id[37];        /* uuid.bios; stable API identifier */
	char *datastore;    /* datastore name */
	char *rel_path;     /* "web01/web01.vmx", relative to the datastore */
	char *dir;          /* absolute folder */
	char *vmx_path;     /* absolute .vmx path */
	char *run_dir;      /* absolute runtime folder */

	pthread_mutex_t lock;
	pthread_cond_t cond;   /* signalled when runtime fields change */
	struct hostd *host;
	struct vm_config *cfg; /* NULL while the .vmx is invalid */
	char *invalid_reason;
	struct vmx *vmx;
	enum vm_power_state power;
	bool paused;           /* vCPUs stopped (QMP STOP) */
	char *paused_reason;   /* why QEMU paused it (a full datastore); NULL when not known */
	char *busy_task;       /* id of the task holding the VM, NULL if idle */
	pid_t pid;             /* QEMU */
	pid_t shim_pid;        /* its vireo-shim (QEMU's parent, keeper of the lock) */
	bool shim_is_child;    /* started by this hostd (else found at start-up) */
	struct qmp *qmp;
	struct qga *qga;       /* guest agent, connected for the whole run */
	unsigned qmp_users;    /* threads using qmp or qga; they are closed only at 0 */
	uint64_t reset_count;  /* QMP RESET events seen */
	enum vm_accel accel;   /* accelerator of the running QEMU */
	char *qemu_version;
	char *last_shutdown_reason; /* from QMP SHUTDOWN */
	bool expect_exit;      /* a power-off/suspend is in progress */
	uint64_t powered_on_ms;
	char *runtime_error;   /* why the last run ended abnormally */
	char *kill_reason;     /* why hostd killed QEMU, for the exit report */
	struct res_cgroup *cgroup; /* its resource group while QEMU runs (alloc.c) */
	bool admitted;         /* its reservations are counted (alloc.c; under hostd's lock) */
	struct vm *next;
};

struct hostd {
	struct hostd_config cfg;
	char host_id[37];
	char instance_id[37]; /* new at every start: tells readers of events that hostd restarted */
	enum vm_accel detected_accel;
	char *accel_reason;
	struct vr_loop *loop;
	struct auth *auth;
	struct api_server *api;
	struct tasks *tasks;
	struct events *events;
	uint64_t supervise_timer;
	uint64_t transfer_timer; /* expires idle transfers */
	struct disk_size_cache *disk_sizes; /* storage/disk.c: virtual sizes of disk files */
	struct vnet *net;     /* vswitch.h: virtual switches and port groups */
	struct alloc *alloc;  /* alloc.h: shares, reservations, limits, balloons */
	struct stats_sampler *stats; /* stats_sampler.h: the 20 s statistics */
	struct transfers *transfers; /* transfer.h: VM folders moving in or out */

	pthread_mutex_t lock; /* protects the lists below */
	struct datastore *datastores;
	size_t n_datastores;
	struct vm *vms;
};

/* ---- datastore.c ---- */
int datastores_load(struct hostd *h, struct vr_error **err);
int datastore_add(struct hostd *h, const char *name, const char *path, struct vr_error **err);
int datastore_remove(struct hostd *h, const char *name, struct vr_error **err);
/* Copies of the path (caller frees) for a name, or NULL. */
char *datastore_path(struct hostd *h, const char *name);
/* Which datastore holds an absolute path; returns the name (caller frees) or NULL. */
char *datastore_of_path(struct hostd *h, const char *abs_path, char **rel_out);

/* ---- inventory.c: the VMs registered on this host ---- */
int inventory_load(struct hostd *h, struct vr_error **err);
int inventory_save(struct hostd *h, struct vr_error **err);
/* Finds a VM by id or by display name and takes a reference; NULL if none. */
struct vm *inventory_find(struct hostd *h, const char *id_or_name);
/* Registers a .vmx (datastore-relative path); loads and validates it.  *out: a reference. */
int inventory_register(struct hostd *h, const char *datastore, const char *rel_path,
		       struct vm **out, struct vr_error **err);
/* Removes from the inventory (files stay) and drops the list's reference. VM must be powered off. */
int inventory_unregister(struct hostd *h, struct vm *vm, struct vr_error **err);
void vm_free(struct vm *vm);
struct vm *vm_ref(struct vm *vm);
/* Drops a reference; the last one frees the VM.  Accepts NULL. */
void vm_unref(struct vm *vm);
static inline void vm_unrefp(struct vm **vm)
{
	vm_unref(*vm);
}

/* ---- vm.c ---- */
/* Re-reads the .vmx into vm->cfg/vm->vmx (call with vm->lock held). */
int vm_reload_config(struct vm *vm, struct vr_error **err);
/* Appends a line to the VM's own log (vireo.log), rotated at 1 MiB. */
void vm_log(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *vm_power_name(enum vm_power_state s);
/* Marks the VM busy with a task; fails with EBUSY naming the holder. */
int vm_claim(struct vm *vm, const char *task_id, struct vr_error **err);
void vm_release(struct vm *vm);
/* Borrows the VM's QMP connection (NULL if not running); give it back with vm_qmp_put(). */
struct qmp *vm_qmp_get(struct vm *vm);
void vm_qmp_put(struct vm *vm);
/* Borrows the VM's guest-agent client (NULL if not running); give it back with vm_qga_put(). */
struct qga *vm_qga_get(struct vm *vm);
void vm_qga_put(struct vm *vm);
/* JSON summary (with_config: also hardware details). Takes vm->lock. */
json_t *vm_to_json(struct vm *vm, bool with_config);

/* ---- lifecycle.c ---- */
/* Finds the QEMU of a VM left running by an earlier hostd and reattaches. */
void lifecycle_reattach(struct hostd *h, struct vm *vm);
/*
 * Checks that every running VM still has its keeper (timer on the loop
 * thread); a QEMU whose shim died is stopped, as nothing renews its lock.
 */
void lifecycle_supervise(void *opaque);

#endif
