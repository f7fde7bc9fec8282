/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory over-commit of running VMs: the balloon policy (ESX's model,
 * host/resources/balloon.h) run every few seconds on its own thread,
 * and page sharing (KSM) switched per host.
 *
 * Each round: the balloon size and the guest's statistics of every
 * running VM (one QMP round trip each; the statistics sampler sets how
 * often the guest reports), the resident memory of each
 * QEMU, the host's free memory; then the targets, set where they
 * changed.  The memory VMs may use is the host's memory less its
 * reserve, or less if the administrator set vm_memory_mib; what the
 * host itself still has free (MemAvailable) bounds it too.  VMs in
 * resource pools are weighed by their pools' memory shares and kept
 * above their pools' reservations (alloc_pools_mem_view()).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/alloc.h"
#include "host/alloc_priv.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/resources/balloon.h"
#include "host/resources/ksm.h"
#include "host/resources/pools.h"
#include "host/stats/proc.h"
#include "qemu/balloon.h"
#include "qemu/qmp.h"
#include "qemu/stats.h"

#define MIB (1024ull * 1024)

struct mem_vm {
	char id[37];
	uint64_t target_mib; /* set by us; 0 = none yet */
	uint64_t actual_mib;
	uint64_t rss_mib;
	bool stats_valid;
	uint64_t guest_total_mib, guest_available_mib;
};

struct alloc_mem {
	pthread_t thread;
	bool started;
	bool stop;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	enum res_mem_state state;
	struct res_mem_plan plan;
	uint64_t capacity_mib, used_mib;
	struct mem_vm *vms;
	size_t n_vms;
	int page_sharing; /* -1: as the kernel has it */
};

static uint64_t proc_rss_mib(pid_t pid)
{
	char path[64], buf[4096];
	struct stats_pid_status st;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (stats_read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0 ||
	    stats_parse_pid_status(buf, &st) < 0)
		return 0;
	int64_t rss = 0;
	rss += st.rss_anon > 0 ? st.rss_anon : 0;
	rss += st.rss_file > 0 ? st.rss_file : 0;
	rss += st.rss_shmem > 0 ? st.rss_shmem : 0;
	return (uint64_t)rss >> 20;
}

static uint64_t host_available_mib(void)
{
	char buf[8192];
	struct stats_meminfo mi;
	if (stats_read_small(AT_FDCWD, "/proc/meminfo", buf, sizeof(buf)) < 0 ||
	    stats_parse_meminfo(buf, &mi) < 0 || mi.available < 0)
		return UINT64_MAX;
	return (uint64_t)mi.available >> 20;
}

static struct mem_vm *find_prev(struct alloc_mem *m, const char *id)
{
	for (size_t i = 0; i < m->n_vms; i++)
		if (strcmp(m->vms[i].id, id) == 0)
			return &m->vms[i];
	return NULL;
}

static void policy_round(struct hostd *h)
{
	struct alloc *a = h->alloc;
	struct alloc_mem *m = a->mem;
	/* The running VMs, with a reference each. */
	struct vm **vms = NULL;
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		bool on = vm->power == VM_POWER_ON && vm->pid > 0 && vm->qmp && vm->cfg &&
			  !vm->busy_task;
		pthread_mutex_unlock(&vm->lock);
		if (!on)
			continue;
		vms = xrealloc(vms, (n + 1) * sizeof(*vms));
		vms[n++] = vm_ref(vm);
	}
	pthread_mutex_unlock(&h->lock);

	struct res_mem_vm *in = xcalloc(n ? n : 1, sizeof(*in));
	struct mem_vm *now = xcalloc(n ? n : 1, sizeof(*now));
	struct qmp **qs = xcalloc(n ? n : 1, sizeof(*qs));
	struct qemu_stats_query **qq = xcalloc(n ? n : 1, sizeof(*qq));
	uint64_t used = 0;
	for (size_t i = 0; i < n; i++) {
		struct vm *vm = vms[i];
		pthread_mutex_lock(&vm->lock);
		const struct vm_config *cfg = vm->cfg;
		pid_t pid = vm->pid;
		in[i] = (struct res_mem_vm){
			.name = NULL,
			.configured_mib = cfg->memory_mib,
			.reservation_mib = cfg->sched.mem_min_mib,
			.limit_mib = cfg->sched.mem_max_mib == VM_UNLIMITED
					     ? 0
					     : (uint64_t)cfg->sched.mem_max_mib,
			.shares = vm_sched_mem_shares(cfg),
		};
		pthread_mutex_unlock(&vm->lock);
		snprintf(now[i].id, sizeof(now[i].id), "%s", vm->id);
		now[i].rss_mib = proc_rss_mib(pid);
		used += now[i].rss_mib;
		pthread_mutex_lock(&m->lock);
		struct mem_vm *prev = find_prev(m, vm->id);
		in[i].target_mib = prev ? prev->target_mib : 0;
		pthread_mutex_unlock(&m->lock);
		qs[i] = vm_qmp_get(vm);
		if (qs[i])
			qq[i] = qemu_stats_query_start(qs[i], QEMU_STATS_BALLOON | QEMU_STATS_GUEST_MEM,
						       in[i].configured_mib * MIB, QMP_TIMEOUT_MS,
						       QMP_TIMEOUT_MS);
	}
	for (size_t i = 0; i < n; i++) {
		if (!qq[i])
			continue;
		struct qemu_vm_stats st = { 0 };
		qemu_stats_query_finish(qq[i], &st);
		if (st.balloon_err == 0 && st.balloon_actual > 0)
			in[i].actual_mib = (uint64_t)st.balloon_actual / MIB;
		if (st.guest_err == 0 && st.guest.total > 0 && st.guest.available >= 0) {
			in[i].stats_valid = true;
			in[i].guest_total_mib = (uint64_t)st.guest.total / MIB;
			in[i].guest_available_mib = (uint64_t)st.guest.available / MIB;
		}
		qemu_vm_stats_clear(&st);
		now[i].actual_mib = in[i].actual_mib;
		now[i].stats_valid = in[i].stats_valid;
		now[i].guest_total_mib = in[i].guest_total_mib;
		now[i].guest_available_mib = in[i].guest_available_mib;
	}

	pthread_mutex_lock(&a->lock);
	uint64_t capacity = a->vm_memory_mib ? a->vm_memory_mib
					     : a->cap.mem_mib > a->cap.reserve_mem_mib
						       ? a->cap.mem_mib - a->cap.reserve_mem_mib
						       : 0;
	uint64_t reserve = a->cap.reserve_mem_mib;
	pthread_mutex_unlock(&a->lock);
	/* What the host really has left bounds what the VMs may still take. */
	uint64_t avail = host_available_mib();
	uint64_t host_free = avail > reserve ? avail - reserve : 0;
	if (capacity > used && capacity - used > host_free)
		used = capacity - host_free;

	/* The pools' shares and reservations, for the VMs of this round. */
	const char **ids = xcalloc(n ? n : 1, sizeof(*ids));
	uint64_t *own_shares = xcalloc(n ? n : 1, sizeof(*own_shares));
	for (size_t i = 0; i < n; i++) {
		ids[i] = now[i].id;
		own_shares[i] = in[i].shares;
	}
	struct res_pool_mem_view pv;
	alloc_pools_mem_view(h, ids, own_shares, n, &pv);
	for (size_t i = 0; i < n; i++)
		in[i].shares = pv.weights[i];

	pthread_mutex_lock(&m->lock);
	struct res_mem_host host = { .capacity_mib = capacity, .used_mib = used, .state = m->state };
	pthread_mutex_unlock(&m->lock);
	uint64_t *targets = xcalloc(n ? n : 1, sizeof(*targets));
	struct res_mem_plan plan = { 0 };
	int r = capacity ? res_mem_balloon_targets_grouped(NULL, &host, in, n, pv.vm_group, pv.groups,
							   pv.n_groups, targets, &plan)
			 : -EINVAL;
	res_pool_mem_view_clear(&pv);
	free(own_shares);
	free(ids);
	for (size_t i = 0; r == 0 && i < n; i++) {
		now[i].target_mib = in[i].target_mib;
		if (!qs[i] || !targets[i])
			continue;
		/* A first target equal to the full size needs no command. */
		if (targets[i] == in[i].target_mib ||
		    (!in[i].target_mib && targets[i] >= in[i].configured_mib))
			continue;
		struct vr_error *e = NULL;
		if (qemu_balloon_set_target(qs[i], targets[i] * MIB, QMP_TIMEOUT_MS, &e) < 0) {
			log_warn("VM \"%s\": %s", vm_display_name(vms[i]), e->msg);
			vr_error_free(e);
			continue;
		}
		now[i].target_mib = targets[i];
		vm_log(vms[i], "balloon target %llu MiB (host memory state %s)",
		       (unsigned long long)targets[i], res_mem_state_name(plan.state));
	}
	for (size_t i = 0; i < n; i++) {
		if (qs[i])
			vm_qmp_put(vms[i]);
		vm_unref(vms[i]);
	}
	pthread_mutex_lock(&m->lock);
	enum res_mem_state before = m->state;
	if (r == 0) {
		m->state = plan.state;
		m->plan = plan;
	}
	m->capacity_mib = capacity;
	m->used_mib = used;
	free(m->vms);
	m->vms = now;
	m->n_vms = n;
	enum res_mem_state after = m->state;
	pthread_mutex_unlock(&m->lock);
	if (before != after)
		events_add(h->events, after == RES_MEM_STATE_HIGH ? EVENT_INFO : EVENT_WARNING, NULL,
			   "HostMemoryState",
			   "host memory state %s -> %s: %llu of %llu MiB for VMs in use",
			   res_mem_state_name(before), res_mem_state_name(after),
			   (unsigned long long)used, (unsigned long long)capacity);
	free(targets);
	free(in);
	free(qs);
	free(qq);
	free(vms);
}

static void *policy_thread(void *opaque)
{
	struct hostd *h = opaque;
	struct alloc_mem *m = h->alloc->mem;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		pthread_mutex_unlock(&m->lock);
		policy_round(h);
		pthread_mutex_lock(&m->lock);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)h->cfg.balloon_period_ms * 1000000ull;
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
		while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void alloc_mem_init(struct hostd *h)
{
	struct alloc_mem *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->page_sharing = -1;
	h->alloc->mem = m;
	if (h->cfg.balloon_period_ms == 0)
		return; /* turned off */
	if (pthread_create(&m->thread, NULL, policy_thread, h) != 0)
		log_error("resources: cannot start the balloon policy thread");
	else
		m->started = true;
}

void alloc_mem_fini(struct hostd *h)
{
	struct alloc_mem *m = h->alloc ? h->alloc->mem : NULL;
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->started)
		pthread_join(m->thread, NULL);
	free(m->vms);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
	h->alloc->mem = NULL;
}

void alloc_mem_vm_stopped(struct hostd *h, struct vm *vm)
{
	struct alloc_mem *m = h->alloc->mem;
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct mem_vm *p = find_prev(m, vm->id);
	if (p) {
		size_t i = (size_t)(p - m->vms);
		memmove(&m->vms[i], &m->vms[i + 1], (m->n_vms - i - 1) * sizeof(*m->vms));
		m->n_vms--;
	}
	pthread_mutex_unlock(&m->lock);
}

json_t *alloc_mem_json(struct hostd *h)
{
	struct alloc_mem *m = h->alloc->mem;
	json_t *vms = json_array();
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_vms; i++) {
		const struct mem_vm *v = &m->vms[i];
		json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "vm_id", v->id, "balloon_target_mib",
				      (json_int_t)v->target_mib, "balloon_actual_mib",
				      (json_int_t)v->actual_mib, "resident_mib",
				      (json_int_t)v->rss_mib);
		if (v->stats_valid) {
			json_object_set_new(o, "guest_total_mib",
					    json_integer((json_int_t)v->guest_total_mib));
			json_object_set_new(o, "guest_available_mib",
					    json_integer((json_int_t)v->guest_available_mib));
		}
		json_array_append_new(vms, o);
	}
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "state",
			      res_mem_state_name(m->state), "capacity_mib",
			      (json_int_t)m->capacity_mib, "used_mib", (json_int_t)m->used_mib,
			      "reclaim_mib", (json_int_t)m->plan.reclaim_mib, "shortfall_mib",
			      (json_int_t)m->plan.shortfall_mib, "returned_mib",
			      (json_int_t)m->plan.returned_mib, "vms", vms);
	int ps = m->page_sharing;
	pthread_mutex_unlock(&m->lock);
	struct res_ksm_stats k;
	struct vr_error *e = NULL;
	if (res_ksm_read(NULL, &k, &e) == 0) {
		json_object_set_new(o, "page_sharing",
				    json_pack("{s:b, s:b, s:I, s:I, s:I}", "enabled", k.run == 1,
					      "set_by_hostd", ps >= 0, "pages_shared",
					      (json_int_t)k.pages_shared, "pages_sharing",
					      (json_int_t)k.pages_sharing, "saved_bytes",
					      (json_int_t)res_ksm_saved_bytes(&k)));
	} else {
		json_object_set_new(o, "page_sharing", json_pack("{s:s}", "error", e->msg));
		vr_error_free(e);
	}
	return o;
}

int alloc_mem_set_page_sharing(struct hostd *h, bool on, struct vr_error **err)
{
	struct alloc_mem *m = h->alloc->mem;
	/* Off unmerges (run = 2): the memory goes back to being each VM's own. */
	int r = res_ksm_set_run(NULL, on ? 1 : 2, err);
	if (r == 0 && on)
		r = res_ksm_set_scan_rate(NULL, 1000, 20, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot turn page sharing %s", on ? "on" : "off");
	pthread_mutex_lock(&m->lock);
	m->page_sharing = on;
	pthread_mutex_unlock(&m->lock);
	events_add(h->events, EVENT_INFO, NULL, "PageSharing", "page sharing turned %s",
		   on ? "on" : "off");
	return 0;
}
