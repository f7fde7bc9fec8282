/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_POOLS_H
#define VIREO_HOST_RESOURCES_POOLS_H

/*
 * Resource pools as vSphere mirrors them on each host: a tree of pools,
 * each with CPU and memory shares, limits and reservations, and a map of
 * VM uuid -> pool.  vireo-center sends the whole tree
 * (PUT /api/v1/host/resource-pools, docs/api/hostd.yaml); this file
 * parses and checks it and turns a pool into cgroup settings.  Pure: no
 * file is touched (hostd's glue is alloc_pools.c).
 *
 * Each pool is a cgroup named by its id below its parent's, the top-level
 * pools directly below hostd's parent group ("vireo"), so that a VM in
 * pool resgroup-13 (child of resgroup-12) runs in
 * vireo/resgroup-12/resgroup-13/<uuid>.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;
struct res_cgroup_settings;
struct res_mem_group;

#define RES_POOL_ID_MAX 40
#define RES_POOL_NAME_MAX 80
#define RES_POOL_MAX_DEPTH 16
#define RES_POOL_MAX_POOLS 1024
#define RES_POOL_MAX_VMS 100000
#define RES_POOL_AMOUNT_MAX (1LL << 40) /* MHz or MiB */

struct res_pool {
	char *id;
	char *name;
	long parent;        /* index in the tree's pools, -1: top level */
	unsigned depth;     /* 1 for a top-level pool */
	char *path;         /* cgroup levels below the parent group: "resgroup-12/resgroup-13" */
	uint64_t cpu_shares;
	int64_t cpu_limit_mhz; /* -1: none */
	uint64_t cpu_reservation_mhz;
	uint64_t mem_shares;
	int64_t mem_limit_mib; /* -1: none */
	uint64_t mem_reservation_mib;
};

struct res_pool_vm {
	char id[37];
	size_t pool; /* index in the tree's pools */
};

struct res_pool_tree {
	struct res_pool *pools; /* in the order sent; a parent may come after its child */
	size_t n_pools;
	struct res_pool_vm *vms; /* sorted by id */
	size_t n_vms;
};

/* Whether id is a pool id: ^[a-z]+-[a-z]?[0-9]+$, at most RES_POOL_ID_MAX bytes. */
bool res_pool_id_valid(const char *id);

/* An empty tree (no pools, no VMs). */
struct res_pool_tree *res_pool_tree_new(void);
void res_pool_tree_free(struct res_pool_tree *t);
void res_pool_tree_freep(struct res_pool_tree **t);

/*
 * Parses and checks a request body {"pools": [...], "vms": {...}}: every
 * rule of the API (unknown fields, ids, parents, cycles, depth, counts,
 * ranges, reservations within limits, VM uuids, VM pools).  -EINVAL or
 * -ERANGE with a message naming the pool or VM at fault.
 */
int res_pool_tree_from_json(const json_t *body, struct res_pool_tree **out, struct vr_error **err);
/* The tree as it is sent (and stored): {"pools": [...], "vms": {...}}. */
json_t *res_pool_tree_to_json(const struct res_pool_tree *t);
/* One pool as it is sent. */
json_t *res_pool_to_json(const struct res_pool_tree *t, const struct res_pool *p);

/* Index of the pool with this id, or -1. */
long res_pool_tree_find(const struct res_pool_tree *t, const char *id);
/* Index of the pool whose cgroup path is path, or -1. */
long res_pool_tree_find_path(const struct res_pool_tree *t, const char *path);
/* The pool a VM is mapped to, or NULL. */
const struct res_pool *res_pool_tree_vm_pool(const struct res_pool_tree *t, const char *vm_id);
/* The cgroup name of a VM: "<pool path>/<uuid>", or the uuid when in no pool; caller frees. */
char *res_pool_tree_vm_cgroup(const struct res_pool_tree *t, const char *vm_id);

/*
 * The CPU limit that holds for a pool, in MHz: the smallest of its own and
 * its ancestors' (0: none).  cgroup v1 refuses a child quota above an
 * ancestor's, so groups below a pool are written with at most this.
 */
uint64_t res_pool_cpu_limit_effective(const struct res_pool_tree *t, const struct res_pool *p);

/*
 * A pool's cgroup settings, converted as a VM's are (cgroup.h): shares ->
 * cpu.shares/cpu.weight, the effective CPU limit -> CFS quota, memory
 * limit -> memory.limit_in_bytes/memory.max, memory reservation ->
 * memory.min (v2) or the soft limit (v1, a hint).  CPU reservations have
 * no cgroup file (recorded only); memory shares have none either: the
 * balloon policy enforces them (res_pool_mem_view()).
 */
void res_pool_cgroup_settings(const struct res_pool_tree *t, const struct res_pool *p,
			      uint64_t host_core_mhz, struct res_cgroup_settings *out);

/*
 * Memory shares of pools, enforced by the balloon policy (balloon.h) as
 * ESX does: under contention memory is divided between sibling pools, and
 * the VMs that sit beside them in their parent, by their shares, then
 * within each pool among its children, down to the VMs.  The policy is
 * flat, so the tree is made flat for it: a VM's weight is the product,
 * from the top down, of each ancestor's memory shares over the sum of its
 * active siblings' (pools with a VM of this round below them, and VMs of
 * this round), times the VM's own shares over the sum of its active
 * siblings' in its pool.  VMs in no pool sit at the top, beside the
 * top-level pools.  A pool with no VM of the round takes nothing.
 *
 * The weights are scaled so that the largest is RES_POOL_MEM_WEIGHT_TOP
 * (exact in a double), rounded, and never below 1: weights over 2^-52 of
 * the largest keep their ratios to within 2^-52 of the largest, smaller
 * ones count as 1.
 */
#define RES_POOL_MEM_WEIGHT_TOP (1ull << 52)

struct res_pool_mem_view {
	uint64_t *weights;            /* per VM: the shares the balloon policy weighs it by */
	long *vm_group;               /* per VM: its pool's index in groups, -1: in no pool */
	struct res_mem_group *groups; /* one per pool, in the tree's order: parent, reservation as floor */
	size_t n_groups;
	size_t n_pooled;              /* VMs of the round that are in a pool */
};

/*
 * The view for one balloon round of n VMs, vm_ids[i] with their own memory
 * shares[i] (t NULL: no pools).  When no VM of the round is in a pool the
 * weights are the shares unchanged and there are no groups: the policy
 * runs exactly as without pools.
 */
void res_pool_mem_view(const struct res_pool_tree *t, const char *const *vm_ids, const uint64_t *shares,
		       size_t n, struct res_pool_mem_view *out);
void res_pool_mem_view_clear(struct res_pool_mem_view *v);

#endif
