/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_ALLOC_H
#define VIREO_HOST_ALLOC_H

/*
 * Resource allocation of running VMs (the vSphere model: shares,
 * reservations and limits of CPU, memory and disk I/O), built on
 * host/resources/: a cgroup per VM, admission control at power-on,
 * QEMU's I/O throttling for IOPS limits, and the balloon policy that
 * reclaims memory from idle VMs when the host runs short.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct hostd;
struct vm;
struct vm_config;
struct vr_error;

/* Finds the cgroup hierarchy and the host's capacity. */
int alloc_init(struct hostd *h, struct vr_error **err);
void alloc_fini(struct hostd *h);
/* Refuses a power-on whose reservations the host cannot honour, naming the numbers. */
int alloc_admit(struct hostd *h, struct vm *vm, struct vr_error **err);
/* Whether a running VM's changed settings (cfg) still fit the host's reservations. */
int alloc_check_change(struct hostd *h, struct vm *vm, const struct vm_config *cfg,
		       struct vr_error **err);
/* QEMU started (paused): its cgroup, settings and disk throttles, before the vCPUs run. */
int alloc_vm_started(struct hostd *h, struct vm *vm, struct vr_error **err);
/* Settings changed while the VM runs: applies them at once. */
int alloc_vm_update(struct hostd *h, struct vm *vm, struct vr_error **err);
/* QEMU ended: removes its cgroup. */
void alloc_vm_stopped(struct hostd *h, struct vm *vm);
/* hostd restarted while the VM ran: counts its reservation, finds its group again. */
void alloc_vm_reattached(struct hostd *h, struct vm *vm);
/* Capacity, reservations and the memory state, for GET /api/v1/host/resources. */
json_t *alloc_host_json(struct hostd *h);
/* PATCH /api/v1/host/resources: host reserves, memory for VMs, page sharing. */
int alloc_host_update(struct hostd *h, const json_t *changes, struct vr_error **err);
/*
 * After running VMs are reattached at start: removes groups named like
 * pools that the saved tree does not have (left by a crash between
 * applying a change and saving it), when nothing runs in them.
 */
void alloc_pools_sweep(struct hostd *h);
/* GET /api/v1/host/resource-pools (alloc_pools.c). */
json_t *alloc_pools_json(struct hostd *h);
/* PUT /api/v1/host/resource-pools: the whole tree and VM map; applied, then saved. */
int alloc_pools_put(struct hostd *h, const json_t *body, struct vr_error **err);

#endif
