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

struct alloc {
	pthread_mutex_t lock; /* admission decisions and the settings below */
	struct res_cgroup_system *sys; /* NULL when the host has no usable cgroups */
	char *cg_error;                /* why not */
	struct res_host_capacity cap;
	uint64_t vm_memory_mib; /* memory set aside for VMs; 0 = all but the host reserve */
	struct alloc_mem *mem;  /* alloc_mem.c */
};

/* alloc_mem.c: the balloon policy and page sharing. */
void alloc_mem_init(struct hostd *h);
void alloc_mem_fini(struct hostd *h);
void alloc_mem_vm_stopped(struct hostd *h, struct vm *vm);
json_t *alloc_mem_json(struct hostd *h);
int alloc_mem_set_page_sharing(struct hostd *h, bool on, struct vr_error **err);

#endif
