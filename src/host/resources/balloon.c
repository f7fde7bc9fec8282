/* SPDX-License-Identifier: Apache-2.0 */
#include "host/resources/balloon.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/util.h"

const struct res_mem_policy res_mem_policy_default = {
	.idle_tax = 0.75,
	.threshold_pct = {6.0, 4.0, 2.0, 1.0},
	.max_balloon_pct = 65,
};

const char *res_mem_state_name(enum res_mem_state s)
{
	switch (s) {
	case RES_MEM_STATE_HIGH:
		return "high";
	case RES_MEM_STATE_SOFT:
		return "soft";
	case RES_MEM_STATE_HARD:
		return "hard";
	case RES_MEM_STATE_LOW:
		return "low";
	}
	return "unknown";
}

static uint64_t threshold_mib(const struct res_mem_policy *p, enum res_mem_state s, uint64_t capacity)
{
	return (uint64_t)ceil((double)capacity * p->threshold_pct[s] / 100.0);
}

enum res_mem_state res_mem_state_next(const struct res_mem_policy *p, enum res_mem_state prev,
				      uint64_t capacity_mib, uint64_t free_mib)
{
	enum res_mem_state s = prev;
	/* Down: below the threshold of a lower state (the high state's own
	 * threshold is only the way back up). */
	for (int d = RES_MEM_STATE_LOW; d > (int)s; d--)
		if (free_mib < threshold_mib(p, (enum res_mem_state)d, capacity_mib)) {
			s = (enum res_mem_state)d;
			break;
		}
	if (s != prev)
		return s;
	/* Up: one step for each higher threshold reached. */
	while (s > RES_MEM_STATE_HIGH && free_mib >= threshold_mib(p, (enum res_mem_state)(s - 1), capacity_mib))
		s = (enum res_mem_state)(s - 1);
	return s;
}

double res_mem_rho(uint64_t shares, uint64_t alloc_mib, uint64_t active_mib, double idle_tax)
{
	if (alloc_mib == 0)
		return INFINITY;
	double k = 1.0 / (1.0 - idle_tax);
	double p = (double)alloc_mib;
	double a = active_mib < alloc_mib ? (double)active_mib : p;
	double f = a / p;
	return (double)shares / (p * (f + k * (1.0 - f)));
}

struct vm_state {
	uint64_t floor, ceiling, cur, active;
	bool held; /* a group above it is at its floor: nothing more is taken this round */
};

static bool policy_valid(const struct res_mem_policy *p)
{
	if (!(p->idle_tax >= 0.0 && p->idle_tax < 1.0) || p->max_balloon_pct > 100)
		return false;
	for (int i = 0; i < 4; i++)
		if (!(p->threshold_pct[i] >= 0.0 && p->threshold_pct[i] < 100.0) ||
		    (i > 0 && p->threshold_pct[i] > p->threshold_pct[i - 1]))
			return false;
	return true;
}

/* Index of the VM with the lowest (reclaim) or highest (give back) rho that can still move. */
static ssize_t pick(const struct res_mem_vm *vms, const struct vm_state *st, size_t n, double tax, bool reclaim)
{
	ssize_t best = -1;
	double best_rho = 0;
	for (size_t i = 0; i < n; i++) {
		if (reclaim ? st[i].cur <= st[i].floor || st[i].held : st[i].cur >= st[i].ceiling)
			continue;
		double rho = res_mem_rho(vms[i].shares, st[i].cur, st[i].active, tax);
		if (best < 0 || (reclaim ? rho < best_rho : rho > best_rho)) {
			best = (ssize_t)i;
			best_rho = rho;
		}
	}
	return best;
}

/* Every index in range and no cycle among the parents. */
static bool groups_valid(const long *vm_group, size_t n, const struct res_mem_group *groups, size_t n_groups)
{
	for (size_t g = 0; g < n_groups; g++) {
		size_t steps = 0;
		for (long k = groups[g].parent; k >= 0; k = groups[k].parent)
			if ((size_t)k >= n_groups || ++steps > n_groups)
				return false;
	}
	for (size_t i = 0; i < n; i++)
		if (vm_group[i] >= 0 && (size_t)vm_group[i] >= n_groups)
			return false;
	return true;
}

/*
 * What the groups from g up allow to be taken still (UINT64_MAX: no
 * group); *full: the lowest group with nothing left, or -1.
 */
static uint64_t groups_room(const struct res_mem_group *groups, const uint64_t *total, long g, long *full)
{
	uint64_t room = UINT64_MAX;
	*full = -1;
	for (; g >= 0; g = groups[g].parent) {
		uint64_t r = total[g] > groups[g].floor_mib ? total[g] - groups[g].floor_mib : 0;
		if (r == 0 && *full < 0)
			*full = g;
		if (r < room)
			room = r;
	}
	return room;
}

static bool in_group(const struct res_mem_group *groups, long g, long which)
{
	for (; g >= 0; g = groups[g].parent)
		if (g == which)
			return true;
	return false;
}

int res_mem_balloon_targets(const struct res_mem_policy *p, const struct res_mem_host *host,
			    const struct res_mem_vm *vms, size_t n, uint64_t *targets,
			    struct res_mem_plan *plan)
{
	return res_mem_balloon_targets_grouped(p, host, vms, n, NULL, NULL, 0, targets, plan);
}

int res_mem_balloon_targets_grouped(const struct res_mem_policy *p, const struct res_mem_host *host,
				    const struct res_mem_vm *vms, size_t n, const long *vm_group,
				    const struct res_mem_group *groups, size_t n_groups,
				    uint64_t *targets, struct res_mem_plan *plan)
{
	if (!p)
		p = &res_mem_policy_default;
	if (!policy_valid(p) || host->capacity_mib == 0 || host->state > RES_MEM_STATE_LOW)
		return -EINVAL;
	if (!vm_group || !groups)
		n_groups = 0;
	if (n_groups && !groups_valid(vm_group, n, groups, n_groups))
		return -EINVAL;
	memset(plan, 0, sizeof(*plan));
	struct vm_state *st = xcalloc(n ? n : 1, sizeof(*st));
	uint64_t pending = 0;
	for (size_t i = 0; i < n; i++) {
		const struct res_mem_vm *v = &vms[i];
		uint64_t ceiling = v->configured_mib;
		if (v->limit_mib && v->limit_mib < ceiling)
			ceiling = v->limit_mib;
		uint64_t floor = (v->configured_mib * (100 - p->max_balloon_pct) + 99) / 100;
		if (v->reservation_mib > floor)
			floor = v->reservation_mib;
		if (floor > ceiling)
			floor = ceiling;
		uint64_t cur = v->target_mib ? v->target_mib : ceiling;
		if (cur > ceiling)
			cur = ceiling;
		if (cur < floor)
			cur = floor;
		uint64_t active = cur;
		if (v->stats_valid && v->guest_total_mib)
			active = v->guest_available_mib >= v->guest_total_mib
					 ? 0 : v->guest_total_mib - v->guest_available_mib;
		st[i] = (struct vm_state){.floor = floor, .ceiling = ceiling, .cur = cur, .active = active};
		if (v->actual_mib > cur)
			pending += v->actual_mib - cur;
	}
	/* Each group's VMs' targets together, kept up to date as memory is taken. */
	uint64_t *total = n_groups ? xcalloc(n_groups, sizeof(*total)) : NULL;
	for (size_t i = 0; total && i < n; i++)
		for (long g = vm_group[i]; g >= 0; g = groups[g].parent)
			total[g] = st[i].cur > UINT64_MAX - total[g] ? UINT64_MAX : total[g] + st[i].cur;
	plan->free_mib = host->used_mib >= host->capacity_mib ? 0 : host->capacity_mib - host->used_mib;
	plan->state = res_mem_state_next(p, host->state, host->capacity_mib, plan->free_mib);
	uint64_t high = threshold_mib(p, RES_MEM_STATE_HIGH, host->capacity_mib);
	bool reclaim = plan->state != RES_MEM_STATE_HIGH;
	uint64_t amount = 0;
	if (reclaim) {
		uint64_t want = high > plan->free_mib ? high - plan->free_mib : 0;
		amount = want > pending ? want - pending : 0;
		plan->reclaim_mib = amount;
	} else {
		amount = plan->free_mib > high ? plan->free_mib - high : 0;
	}
	uint64_t step = amount / 1024 + 1;
	uint64_t left = amount;
	while (left > 0) {
		ssize_t i = pick(vms, st, n, p->idle_tax, reclaim);
		if (i < 0)
			break;
		uint64_t room = reclaim ? st[i].cur - st[i].floor : st[i].ceiling - st[i].cur;
		if (reclaim && total) {
			long full;
			uint64_t g_room = groups_room(groups, total, vm_group[i], &full);
			if (g_room == 0) {
				/* Totals only fall while reclaiming: the group's VMs are held for the round. */
				for (size_t j = 0; j < n; j++)
					if (in_group(groups, vm_group[j], full))
						st[j].held = true;
				continue;
			}
			if (g_room < room)
				room = g_room;
		}
		uint64_t take = step < left ? step : left;
		if (take > room)
			take = room;
		st[i].cur = reclaim ? st[i].cur - take : st[i].cur + take;
		left -= take;
		for (long g = total && reclaim ? vm_group[i] : -1; g >= 0; g = groups[g].parent)
			total[g] -= take;
	}
	if (reclaim)
		plan->shortfall_mib = left;
	else
		plan->returned_mib = amount - left;
	for (size_t i = 0; i < n; i++)
		targets[i] = st[i].cur;
	free(total);
	free(st);
	return 0;
}
