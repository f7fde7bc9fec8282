/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_BALLOON_H
#define VIREO_HOST_RESOURCES_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Memory over-commit: balloon targets, after ESX's model (Waldspurger,
 * "Memory Resource Management in VMware ESX Server", OSDI 2002).  A pure
 * function; hostd feeds it the guests' virtio-balloon statistics and
 * the host's figures, and sets each VM's balloon to its target (QMP).
 *
 * Host states, from the host's free memory as a share of the memory
 * available for VMs, with ESX's thresholds 6% / 4% / 2% / 1%:
 *
 *   high  no reclamation; memory is handed back (deflate)
 *   soft  entered when free < 4%     balloon
 *   hard  entered when free < 2%     balloon (the host kernel swaps too)
 *   low   entered when free < 1%     balloon, hostd should alarm
 *
 * Hysteresis: a state is entered downwards when free falls below its
 * threshold, and left upwards only when free reaches the threshold of
 * the state above (soft is left for high at 6%, hard for soft at 4%,
 * low for hard at 2%).  The 2% band stops targets from flapping.
 *
 * Who gives memory: the VM with the lowest shares-per-page ratio, with
 * the idle memory tax,
 *
 *   rho = S / (P * (f + k * (1 - f))),   k = 1 / (1 - tau)
 *
 * S: the VM's memory shares, P: the MiB it is allowed now (its current
 * target), f: its active fraction, tau: the tax rate (ESX default 0.75,
 * so k = 4: an idle page costs four active ones).  f is estimated from
 * the guest's balloon statistics as (total - available) / total, where
 * "available" counts free and easily reclaimed memory; without
 * statistics f = 1 (no tax).  As memory is taken, the active MiB
 * A = f * P stay and the idle ones go first, so rho is recomputed with
 * f = min(1, A / P) after every step.  Reclamation goes in small steps
 * (1/1024 of the need, at least 1 MiB), each from the VM whose rho is
 * lowest.
 *
 * Bounds: a target is never above min(configured, limit) -- a limit below
 * the configured size is enforced by the balloon even without pressure
 * -- and never below max(reservation, configured * (1 - max_balloon)),
 * where max_balloon is 65% as ESX's sched.mem.maxmemctl default.
 *
 * Resource pools: the policy itself is flat.  Pools' memory shares reach
 * it as each VM's S, the VM's share of the host made from the pool tree
 * (res_pool_mem_view(), pools.h); pools' reservations as groups: the
 * targets of the VMs below a group, together, are not taken below the
 * group's floor (a group already below it gives nothing more; it gets
 * memory back as every VM does when the pressure goes).
 *
 * How much: under pressure, enough to bring free memory back to the high
 * threshold (6%), minus what earlier targets have not yet reclaimed
 * (actual size above target).  In the high state, memory is handed back
 * only out of the free memory above the high threshold, to the VMs with
 * the highest rho first, so deflating cannot itself push the host back
 * into the soft state.  With enough free memory every target returns to
 * min(configured, limit).
 */

enum res_mem_state {
	RES_MEM_STATE_HIGH,
	RES_MEM_STATE_SOFT,
	RES_MEM_STATE_HARD,
	RES_MEM_STATE_LOW,
};

struct res_mem_policy {
	double idle_tax;                /* 0 <= tax < 1; ESX: 0.75 */
	double threshold_pct[4];        /* per state, descending; ESX: 6 4 2 1 */
	unsigned max_balloon_pct;       /* ESX: 65 */
};
extern const struct res_mem_policy res_mem_policy_default;

struct res_mem_vm {
	const char *name;
	uint64_t configured_mib;
	uint64_t reservation_mib;
	uint64_t limit_mib;       /* 0: none */
	uint64_t shares;
	uint64_t target_mib;      /* target in force now; 0: none yet */
	uint64_t actual_mib;      /* guest size the balloon reports now; 0: unknown */
	bool stats_valid;         /* guest statistics below are known */
	uint64_t guest_total_mib;
	uint64_t guest_available_mib;
};

struct res_mem_host {
	uint64_t capacity_mib;    /* memory available for VMs */
	uint64_t used_mib;        /* of it, in use now */
	enum res_mem_state state; /* the state returned by the previous call */
};

struct res_mem_plan {
	enum res_mem_state state;
	uint64_t free_mib;
	uint64_t reclaim_mib;     /* asked of the VMs this round */
	uint64_t shortfall_mib;   /* could not be asked: every VM at its floor */
	uint64_t returned_mib;    /* handed back this round */
};

const char *res_mem_state_name(enum res_mem_state s);
enum res_mem_state res_mem_state_next(const struct res_mem_policy *p, enum res_mem_state prev,
				      uint64_t capacity_mib, uint64_t free_mib);
/* rho for a VM allowed alloc_mib of which active_mib are active. */
double res_mem_rho(uint64_t shares, uint64_t alloc_mib, uint64_t active_mib, double idle_tax);

/*
 * Fills targets[i] (MiB) for vms[i] and the plan.  p NULL: the default
 * policy.  Returns 0 or -EINVAL (bad policy or host figures).
 */
int res_mem_balloon_targets(const struct res_mem_policy *p, const struct res_mem_host *host,
			    const struct res_mem_vm *vms, size_t n, uint64_t *targets,
			    struct res_mem_plan *plan);

/* VMs whose targets together are not ballooned below a floor: a resource pool's reservation. */
struct res_mem_group {
	long parent;        /* index in the groups, -1: none */
	uint64_t floor_mib; /* 0: none */
};

/*
 * The same with groups: vm_group[i] is the innermost group of vms[i]
 * (-1: none), and a group holds its descendants' VMs too.  -EINVAL also
 * for an index out of range or parents going round in a cycle.
 */
int res_mem_balloon_targets_grouped(const struct res_mem_policy *p, const struct res_mem_host *host,
				    const struct res_mem_vm *vms, size_t n, const long *vm_group,
				    const struct res_mem_group *groups, size_t n_groups,
				    uint64_t *targets, struct res_mem_plan *plan);

#endif
