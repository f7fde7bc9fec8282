/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_CGROUP_H
#define VIREO_HOST_RESOURCES_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vr_error;

/*
 * Control groups for VMs: one parent group (default "vireo") and one
 * group per VM (named by the caller, e.g. the VM's uuid), possibly nested
 * in resource pools' groups ("resgroup-12/resgroup-13/<uuid>", pools.h).
 * Each VM is one QEMU process, attached whole (cgroup.procs moves all its
 * threads).
 *
 * The hierarchy is found from /proc/self/mountinfo, not assumed:
 *  - v2 when a cgroup2 mount offers the cpu and memory controllers
 *    (io is used when offered too); controllers are enabled for the
 *    children through cgroup.subtree_control at the base and the parent;
 *  - v1 otherwise, with the cpu, cpuacct, memory and blkio hierarchies
 *    (co-mounted hierarchies such as "cpu,cpuacct" are handled).
 * The two variants sit behind one const ops table (cgroup_priv.h).
 *
 * What each setting becomes:
 *
 *  CPU shares       v1 cpu.shares (2..262144, vSphere number clamped);
 *                   v2 cpu.weight by the standard conversion (shares.h).
 *  CPU limit        cfs quota/period: period 100 ms, quota =
 *                   period * limit_mhz / host_core_mhz (at least 1 ms);
 *                   v1 cpu.cfs_quota_us + cpu.cfs_period_us, v2 cpu.max.
 *  CPU reservation  no cgroup file guarantees CPU time; shares only
 *                   divide contended time.  Reservations are kept by
 *                   admission control (admission.h), not by the kernel.
 *  memory limit     v1 memory.limit_in_bytes, v2 memory.max.
 *  memory reserv.   v2 memory.min: a real guarantee against reclaim.
 *                   v1 has no guarantee.  We write the reservation to
 *                   memory.soft_limit_in_bytes, which only makes the
 *                   kernel reclaim from groups above their soft limit
 *                   first under global pressure: it is an ordering hint,
 *                   NOT a guarantee, and a v1 VM can lose pages below
 *                   its reservation.  On v1 the reservation holds only
 *                   because admission control never lets the sum of
 *                   reservations exceed the host, and the balloon policy
 *                   (balloon.h) never goes below it.
 *  disk weight      BFQ weight 1..1000: v1 blkio.bfq.weight (and
 *                   blkio.bfq.weight_device per device), v2 io.bfq.weight.
 *                   It is enforced only on devices whose I/O scheduler
 *                   is bfq: check with res_blkdev_check_bfq() (blkdev.h).
 *  memory shares   no cgroup file: they steer the balloon (balloon.h);
 *                   a resource pool's are recorded only.
 *  IOPS limit       not here: QEMU's block throttling (QMP) does it per
 *                   virtual disk.
 */

enum res_cgroup_base {
	/* The parent is created at the root of each hierarchy. */
	RES_CGROUP_BASE_ROOT,
	/* Below the calling process's own group in each hierarchy (delegated
	 * subtrees, tests).  On v2 the caller must not sit in that group
	 * itself once controllers are enabled ("no internal processes"). */
	RES_CGROUP_BASE_SELF,
};

struct res_cgroup_params {
	const char *parent;           /* NULL: "vireo" */
	enum res_cgroup_base base;
	const char *mountinfo_path;   /* NULL: /proc/self/mountinfo */
	const char *self_cgroup_path; /* NULL: /proc/self/cgroup */
};

struct res_io_device_weight {
	unsigned major, minor;
	unsigned weight; /* 1..1000 */
};

struct res_cgroup_settings {
	uint64_t cpu_shares;          /* vSphere shares, >= 1 */
	uint64_t cpu_limit_mhz;       /* 0: unlimited */
	uint64_t host_core_mhz;       /* MHz of one core, needed for a CPU limit */
	uint64_t mem_limit_mib;       /* 0: unlimited */
	uint64_t mem_reservation_mib; /* 0: none */
	unsigned io_weight;           /* BFQ weight 1..1000, 0: leave unset */
	const struct res_io_device_weight *io_devices;
	size_t n_io_devices;
};

/* What the kernel holds for a group, read back from its files. */
struct res_cgroup_values {
	uint64_t cpu_weight;       /* v1 cpu.shares or v2 cpu.weight, as written */
	int64_t cpu_quota_us;      /* -1: unlimited */
	uint64_t cpu_period_us;
	uint64_t mem_limit_bytes;  /* UINT64_MAX: unlimited */
	uint64_t mem_guarantee_bytes; /* v2 memory.min, v1 soft limit (a hint) */
	unsigned io_weight;        /* 0 when the file is missing */
};

struct res_cgroup_usage {
	uint64_t cpu_usage_ns;
	uint64_t cpu_nr_periods;
	uint64_t cpu_nr_throttled;
	uint64_t cpu_throttled_ns;
	uint64_t mem_usage_bytes;
	uint64_t mem_anon_bytes;
	uint64_t mem_file_bytes;
	uint64_t mem_swap_bytes;
};

struct res_cgroup_system;
struct res_cgroup;

/* Finds the hierarchy; fails with a message when cpu or memory is missing. */
int res_cgroup_system_open(const struct res_cgroup_params *params, struct res_cgroup_system **out,
			   struct vr_error **err);
void res_cgroup_system_free(struct res_cgroup_system *sys);
/* "v1" or "v2". */
const char *res_cgroup_system_version(const struct res_cgroup_system *sys);
/* Removes the (empty) parent group everywhere; ENOENT is not an error. */
int res_cgroup_system_remove_parent(struct res_cgroup_system *sys, struct vr_error **err);

/*
 * A group's name is one or more levels below the parent, separated by '/'
 * ("resgroup-12/resgroup-13/<uuid>" nests a VM in resource pools); each
 * level is a name as name_validate() accepts, at most RES_CGROUP_MAX_LEVELS.
 */
#define RES_CGROUP_MAX_LEVELS 32
int res_cgroup_name_validate(const char *name, struct vr_error **err);

/*
 * Creates the parent if needed, any missing intermediate level, and the
 * group (existing ones are reused).  On v2 each level above the group
 * enables the controllers for its children.
 */
int res_cgroup_create(struct res_cgroup_system *sys, const char *name, struct res_cgroup **out,
		      struct vr_error **err);
/* Opens an existing group (hostd restarted); -ENOENT if missing in any hierarchy. */
int res_cgroup_open(struct res_cgroup_system *sys, const char *name, struct res_cgroup **out,
		    struct vr_error **err);
void res_cgroup_free(struct res_cgroup *cg);
void res_cgroup_freep(struct res_cgroup **cg);

/* Validates everything first, then writes. */
int res_cgroup_apply(struct res_cgroup *cg, const struct res_cgroup_settings *s,
		     struct vr_error **err);
int res_cgroup_settings_validate(const struct res_cgroup_settings *s, struct vr_error **err);
int res_cgroup_read_values(struct res_cgroup *cg, struct res_cgroup_values *out,
			   struct vr_error **err);
/* Moves the process and all its threads. */
int res_cgroup_attach(struct res_cgroup *cg, pid_t pid, struct vr_error **err);
/* Processes in the group (from cgroup.procs of the cpu hierarchy); caller frees *pids. */
int res_cgroup_pids(struct res_cgroup *cg, pid_t **pids, size_t *n, struct vr_error **err);
int res_cgroup_usage(struct res_cgroup *cg, struct res_cgroup_usage *out, struct vr_error **err);
/*
 * Opens a group that exists in the cpu hierarchy and maybe not in others
 * (one made by hand), to destroy it: the missing parts are skipped.
 */
int res_cgroup_open_partial(struct res_cgroup_system *sys, const char *name, struct res_cgroup **out,
			    struct vr_error **err);
/*
 * The group (name below the parent, as res_cgroup_open() takes it) that
 * process pid is in, from /proc/PID/cgroup; -ENOENT when it is not below
 * the parent.
 */
int res_cgroup_find_process(struct res_cgroup_system *sys, pid_t pid, char **name, struct vr_error **err);
/*
 * Removes the group's CPU limit (quota "-1" / "max") and nothing else.
 * cgroup v1 refuses a child quota above an ancestor's; lifting groups
 * bottom-up before lowering a parent's limit keeps every write valid.
 */
int res_cgroup_lift_cpu_limit(struct res_cgroup *cg, struct vr_error **err);
/* The same for the group `name` and every group below it (deepest first); a missing one is no error. */
int res_cgroup_lift_cpu_limit_tree(struct res_cgroup_system *sys, const char *name, struct vr_error **err);
/* Names of the groups right below `name` (NULL: the parent) in the cpu hierarchy; *out NULL-terminated or NULL. */
int res_cgroup_children(struct res_cgroup_system *sys, const char *name, char ***out, struct vr_error **err);
/* The name given at create/open. */
const char *res_cgroup_name(const struct res_cgroup *cg);
/* The cpu hierarchy's directory of the group relative to its mount point ("vireo/<uuid>"). */
const char *res_cgroup_rel_path(const struct res_cgroup *cg);
/*
 * Removes the group (its last level only) everywhere.  Call after the QEMU process has
 * exited; while processes remain it fails with -EBUSY naming them.
 */
int res_cgroup_destroy(struct res_cgroup *cg, struct vr_error **err);
/* Directory of the group in a controller ("cpu", "memory", "blkio"/"io"); v2 ignores it. */
const char *res_cgroup_dir(const struct res_cgroup *cg, const char *controller);

#endif
