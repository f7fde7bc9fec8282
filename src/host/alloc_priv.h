/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_ALLOC_PRIV_H
#define VIREO_HOST_ALLOC_PRIV_H

/* Internals shared by alloc.c (CPU, disk, admission) and alloc_mem.c (memory). */
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/resources/admission.h"

struct hostd;
struct vm;
struct vr_error;
struct res_cgroup_system;
struct alloc_mem;
struct res_cgroup;
struct res_pool_tree;
struct res_pool_mem_view;
struct vm_config;

struct alloc {
	pthread_mutex_t lock; /* admission decisions and the settings below */
	struct res_cgroup_system *sys; /* NULL when the host has no usable cgroups */
	char *cg_error;                /* why not */
	struct res_host_capacity cap;
	uint64_t vm_memory_mib; /* memory set aside for VMs; 0 = all but the host reserve */
	struct alloc_mem *mem;  /* alloc_mem.c */
	/*
	 * Resource pools (alloc_pools.c).  pools_lock serialises changes of
	 * the tree with the VMs' groups being made, changed, moved or removed;
	 * taken before a VM's lock and hostd's.
	 */
	pthread_mutex_t pools_lock;
	struct res_pool_tree *pools; /* what is enforced (and in STATE/resource-pools.json) */
	char *pools_error;           /* why the pools are not enforced although cgroups are usable */
};

/*
 * alloc.c: a VM's own settings into its group, its pool's CPU limit in
 * `pools` as a cap (pools_lock held).
 */
int alloc_vm_apply_cgroup(struct hostd *h, struct vm *vm, const struct vm_config *cfg,
			  const struct res_pool_tree *pools, struct res_cgroup *cg,
			  struct vr_error **err);

/* alloc_pools.c (the _locked ones with pools_lock held). */
void alloc_pools_init(struct hostd *h);
void alloc_pools_fini(struct hostd *h);
/* Makes sure the groups of the VM's pool exist with their settings; *name: the VM's group name. */
int alloc_pools_vm_cgroup_locked(struct hostd *h, const char *vm_id, char **name, struct vr_error **err);
/*
 * For the balloon policy: the pools' memory weights and reservations for
 * the n VMs of a round (res_pool_mem_view(), computed under pools_lock;
 * no other lock held).  Pools not enforced: the VMs' own shares.
 */
void alloc_pools_mem_view(struct hostd *h, const char *const *vm_ids, const uint64_t *shares, size_t n,
			  struct res_pool_mem_view *out);

/* alloc_mem.c: the balloon policy and page sharing. */
void alloc_mem_init(struct hostd *h);
void alloc_mem_fini(struct hostd *h);
void alloc_mem_vm_stopped(struct hostd *h, struct vm *vm);
json_t *alloc_mem_json(struct hostd *h);
int alloc_mem_set_page_sharing(struct hostd *h, bool on, struct vr_error **err);

#endif
