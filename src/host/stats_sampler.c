/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The statistics sampler (see stats_sampler.h and docs/design.md
 * "Statistics").  A round: the host's /proc/stat, /proc/meminfo and KSM
 * counters; for every running VM its QMP queries are sent first (all VMs
 * at once), its QEMU's threads, memory and tap counters are read while
 * QEMU answers, then the answers are collected.  Rates come from the
 * difference with the previous round of the same QEMU process.
 */
#include "host/stats_sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostd.h"
#include "host/net/vnet.h"
#include "host/stats/proc.h"
#include "host/stats/stats.h"
#include "qemu/cmdline.h"
#include "qemu/stats.h"

#define PROC_ROOT "/proc"
#define SYS_ROOT "/sys"
#define GUEST_BACKOFF_MAX 3 /* skip at most 2^3 rounds after the guest did not answer */

/* What the sampler remembers of a running VM between rounds. */
struct vm_track {
	char id[37];
	pid_t pid; /* the QEMU process the counters belong to */
	uint64_t mono_ns;
	struct stats_thread_times *threads;
	size_t n_threads;
	int64_t cpu_used_ns_total, cpu_ready_ns_total;
	struct stats_disk_sample *disks;
	size_t n_disks;
	struct stats_nic_sample *nics;
	size_t n_nics;
	bool polling_set;
	bool no_balloon;
	unsigned guest_skip, guest_backoff;
	bool seen;
	struct vm_track *next;
};

struct stats_sampler {
	struct hostd *h;
	struct stats_store *store;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;

	long page_size;
	long clk_tck;
	unsigned cpu_mhz;
	bool have_prev_cpu;
	struct stats_proc_cpu prev_cpu;
	struct vm_track *tracks;
	/*
	 * For /proc/stat: the cpu lines come first, then the interrupt counts,
	 * which can be long; 64 KiB holds the cpu lines of ~1000 CPUs.
	 */
	char *procbuf;
	size_t procbuf_size;
};

/* One VM of this round: what was copied from struct vm under its lock. */
struct vm_round {
	struct vm *vm; /* a reference */
	char id[37];
	char name[256];
	pid_t pid;
	bool running;
	bool paused;
	unsigned vcpus;
	uint64_t mem_bytes;
	size_t n_disks;
	struct {
		char slot[STATS_NAME_MAX];
		char device[STATS_NAME_MAX];
	} disks[VM_MAX_DISKS];
	size_t n_nics;
	struct {
		unsigned index;
		bool has_tap;
	} nics[VM_MAX_NICS];
	struct qmp *qmp; /* borrowed with vm_qmp_get() */
	struct qemu_stats_query *query;
	struct vm_track *track;
	struct stats_vm_sample sample;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t read_u64_file(const char *path)
{
	char buf[64];
	uint64_t v;
	if (stats_read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0 || stats_parse_u64(buf, &v) < 0 ||
	    v > (uint64_t)INT64_MAX)
		return STATS_UNKNOWN;
	return (int64_t)v;
}

static unsigned host_cpu_mhz(void)
{
	int64_t khz = read_u64_file(SYS_ROOT "/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
	if (khz > 0)
		return (unsigned)(khz / 1000);
	_cleanup_free_ char *text = NULL;
	if (file_read_all(PROC_ROOT "/cpuinfo", 8u << 20, &text, NULL, NULL) < 0)
		return 0;
	return stats_parse_cpuinfo_mhz(text);
}

/* ---- the host ---- */

static void sample_host(struct stats_sampler *s, struct stats_host_sample *hs)
{
	char buf[8192];
	struct stats_proc_cpu cpu;
	if (stats_read_small(AT_FDCWD, PROC_ROOT "/stat", s->procbuf, s->procbuf_size) >= 0 &&
	    stats_parse_proc_stat(s->procbuf, &cpu) == 0) {
		hs->cpu_count = cpu.ncpu;
		hs->cpu_used_ns_total = (int64_t)(cpu.busy * (1000000000ull / (uint64_t)s->clk_tck));
		if (s->cpu_mhz)
			hs->cpu_capacity_mhz = (int64_t)cpu.ncpu * s->cpu_mhz;
		if (s->have_prev_cpu && cpu.total > s->prev_cpu.total) {
			uint64_t busy = cpu.busy >= s->prev_cpu.busy ? cpu.busy - s->prev_cpu.busy : 0;
			double pct = 100.0 * (double)busy / (double)(cpu.total - s->prev_cpu.total);
			hs->cpu_used_pct = pct > 100.0 ? 100.0 : pct;
			if (s->cpu_mhz)
				hs->cpu_used_mhz = hs->cpu_used_pct / 100.0 * (double)hs->cpu_capacity_mhz;
		}
		s->prev_cpu = cpu;
		s->have_prev_cpu = true;
	}
	struct stats_meminfo mi;
	if (stats_read_small(AT_FDCWD, PROC_ROOT "/meminfo", buf, sizeof(buf)) >= 0 &&
	    stats_parse_meminfo(buf, &mi) == 0) {
		hs->mem_total = mi.total;
		hs->mem_available = mi.available;
		if (mi.available >= 0 && mi.available <= mi.total)
			hs->mem_used = mi.total - mi.available;
		hs->swap_total = mi.swap_total;
		if (mi.swap_total >= 0 && mi.swap_free >= 0 && mi.swap_free <= mi.swap_total)
			hs->swap_used = mi.swap_total - mi.swap_free;
	}
	int64_t sharing = read_u64_file(SYS_ROOT "/kernel/mm/ksm/pages_sharing");
	if (sharing >= 0)
		hs->ksm_shared = sharing * s->page_size;
}

/* Share of a merged page's memory that KSM saves, host-wide: sharing / (shared + sharing). */
static double ksm_saved_fraction(void)
{
	int64_t sharing = read_u64_file(SYS_ROOT "/kernel/mm/ksm/pages_sharing");
	int64_t shared = read_u64_file(SYS_ROOT "/kernel/mm/ksm/pages_shared");
	if (sharing <= 0 || shared < 0)
		return 0.0;
	return (double)sharing / (double)(sharing + shared);
}

/* ---- VMs ---- */

static struct vm_track *track_get(struct stats_sampler *s, const char *id)
{
	for (struct vm_track *t = s->tracks; t; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	struct vm_track *t = xcalloc(1, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->next = s->tracks;
	s->tracks = t;
	return t;
}

static void track_reset(struct vm_track *t, pid_t pid)
{
	free(t->threads);
	free(t->disks);
	free(t->nics);
	char id[37];
	memcpy(id, t->id, sizeof(id));
	struct vm_track *next = t->next;
	*t = (struct vm_track){.pid = pid, .next = next};
	memcpy(t->id, id, sizeof(id));
}

static void tracks_drop_unseen(struct stats_sampler *s)
{
	for (struct vm_track **p = &s->tracks; *p;) {
		struct vm_track *t = *p;
		if (t->seen) {
			t->seen = false;
			p = &t->next;
			continue;
		}
		*p = t->next;
		track_reset(t, 0);
		free(t);
	}
}

/* Copies what the round needs from the VM (under its lock). */
static void round_prepare(struct vm_round *r, struct vm *vm)
{
	r->vm = vm;
	snprintf(r->id, sizeof(r->id), "%s", vm->id);
	pthread_mutex_lock(&vm->lock);
	r->running = vm->power == VM_POWER_ON && vm->pid > 0;
	r->pid = vm->pid;
	r->paused = vm->paused;
	const struct vm_config *c = vm->cfg;
	snprintf(r->name, sizeof(r->name), "%s", c ? c->display_name : vm->id);
	if (c) {
		r->vcpus = c->vcpus;
		r->mem_bytes = c->memory_mib << 20;
		for (size_t i = 0; i < c->n_disks && i < VM_MAX_DISKS; i++) {
			const struct vm_disk *d = &c->disks[i];
			snprintf(r->disks[i].slot, STATS_NAME_MAX, "%s%u:%u", vm_disk_bus_name(d->bus),
				 d->controller, d->unit);
			qemu_cmdline_disk_id(d, r->disks[i].device, STATS_NAME_MAX);
			r->n_disks++;
		}
		for (size_t i = 0; i < c->n_nics && i < VM_MAX_NICS; i++) {
			r->nics[i].index = c->nics[i].index;
			r->nics[i].has_tap = c->nics[i].connection == VM_NIC_CONN_BRIDGE;
			r->n_nics++;
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

static void sample_cpu(struct vm_round *r, struct vm_track *t, double dt)
{
	struct stats_thread_times *cur = NULL;
	size_t n = 0;
	if (stats_read_threads(PROC_ROOT, r->pid, &cur, &n) < 0)
		return;
	uint64_t run, wait;
	stats_threads_delta(t->threads, t->n_threads, cur, n, &run, &wait);
	bool first = t->threads == NULL;
	t->cpu_used_ns_total += (int64_t)run;
	t->cpu_ready_ns_total += (int64_t)wait;
	free(t->threads);
	t->threads = cur;
	t->n_threads = n;
	r->sample.cpu_used_ns_total = t->cpu_used_ns_total;
	r->sample.cpu_ready_ns_total = t->cpu_ready_ns_total;
	if (!first && dt > 0) {
		r->sample.cpu_used_pct = 100.0 * (double)run / (dt * 1e9);
		r->sample.cpu_ready_pct = 100.0 * (double)wait / (dt * 1e9);
	}
}

static void sample_memory_proc(struct stats_sampler *s, struct vm_round *r, double saved_fraction)
{
	char path[64], buf[4096];
	struct stats_vm_sample *v = &r->sample;
	v->mem_configured = (int64_t)r->mem_bytes;
	snprintf(path, sizeof(path), PROC_ROOT "/%d/status", (int)r->pid);
	struct stats_pid_status st;
	if (stats_read_small(AT_FDCWD, path, buf, sizeof(buf)) >= 0 &&
	    stats_parse_pid_status(buf, &st) == 0) {
		int64_t backed = st.rss_anon + (st.rss_shmem > 0 ? st.rss_shmem : 0);
		v->mem_granted = backed < (int64_t)r->mem_bytes ? backed : (int64_t)r->mem_bytes;
		v->mem_swapped = st.vm_swap;
	}
	snprintf(path, sizeof(path), PROC_ROOT "/%d/ksm_merging_pages", (int)r->pid);
	int64_t merging = read_u64_file(path);
	if (merging >= 0)
		v->mem_shared = merging * s->page_size;
	if (v->mem_granted >= 0) {
		double saved = v->mem_shared > 0 ? (double)v->mem_shared * saved_fraction : 0.0;
		int64_t consumed = v->mem_granted - (int64_t)saved;
		v->mem_consumed = consumed > 0 ? consumed : 0;
	}
}

static void sample_nics(struct vm_round *r, struct vm_track *t, double dt)
{
	struct stats_vm_sample *v = &r->sample;
	v->nics = r->n_nics ? xcalloc(r->n_nics, sizeof(*v->nics)) : NULL;
	v->n_nics = r->n_nics;
	for (size_t i = 0; i < r->n_nics; i++) {
		struct stats_nic_sample *n = &v->nics[i];
		snprintf(n->name, sizeof(n->name), "ethernet%u", r->nics[i].index);
		n->rx_packets = n->tx_packets = n->rx_bytes = n->tx_bytes = n->rx_drops =
			n->tx_drops = STATS_UNKNOWN;
		n->rx_pps = n->tx_pps = n->rx_kibps = n->tx_kibps = NAN;
		if (!r->nics[i].has_tap)
			continue; /* NAT and unconnected NICs have no host device */
		vnet_tap_name(r->id, r->nics[i].index, n->device);
		struct stats_netdev d;
		if (stats_read_netdev(SYS_ROOT, n->device, &d) < 0)
			continue;
		/* The tap's transmit is what the VM receives. */
		n->rx_packets = d.tx_packets;
		n->tx_packets = d.rx_packets;
		n->rx_bytes = d.tx_bytes;
		n->tx_bytes = d.rx_bytes;
		n->rx_drops = d.tx_dropped;
		n->tx_drops = d.rx_dropped;
		const struct stats_nic_sample *p = NULL;
		for (size_t k = 0; k < t->n_nics && !p; k++)
			if (strcmp(t->nics[k].name, n->name) == 0 &&
			    strcmp(t->nics[k].device, n->device) == 0)
				p = &t->nics[k];
		if (!p)
			continue;
		n->rx_pps = stats_rate(stats_counter_delta(p->rx_packets, n->rx_packets), dt);
		n->tx_pps = stats_rate(stats_counter_delta(p->tx_packets, n->tx_packets), dt);
		n->rx_kibps = stats_rate(stats_counter_delta(p->rx_bytes, n->rx_bytes), dt) / 1024.0;
		n->tx_kibps = stats_rate(stats_counter_delta(p->tx_bytes, n->tx_bytes), dt) / 1024.0;
	}
	free(t->nics);
	t->nics = v->n_nics ? xmalloc(v->n_nics * sizeof(*t->nics)) : NULL;
	if (v->n_nics)
		memcpy(t->nics, v->nics, v->n_nics * sizeof(*t->nics));
	t->n_nics = v->n_nics;
}

static void disk_rates(struct stats_disk_sample *d, const struct stats_disk_sample *p, double dt)
{
	int64_t rd = stats_counter_delta(p->rd_ops, d->rd_ops);
	int64_t wr = stats_counter_delta(p->wr_ops, d->wr_ops);
	d->rd_iops = stats_rate(rd, dt);
	d->wr_iops = stats_rate(wr, dt);
	d->rd_kibps = stats_rate(stats_counter_delta(p->rd_bytes, d->rd_bytes), dt) / 1024.0;
	d->wr_kibps = stats_rate(stats_counter_delta(p->wr_bytes, d->wr_bytes), dt) / 1024.0;
	int64_t rt = stats_counter_delta(p->rd_time_ns, d->rd_time_ns);
	int64_t wt = stats_counter_delta(p->wr_time_ns, d->wr_time_ns);
	/* No request in the interval: no waiting either (esxtop shows 0). */
	d->rd_latency_ms = rd > 0 && rt >= 0 ? (double)rt / (double)rd / 1e6 : rd == 0 ? 0.0 : NAN;
	d->wr_latency_ms = wr > 0 && wt >= 0 ? (double)wt / (double)wr / 1e6 : wr == 0 ? 0.0 : NAN;
}

static int64_t clamp_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void sample_disks(struct vm_round *r, struct vm_track *t, const struct qemu_vm_stats *q,
			 double dt)
{
	struct stats_vm_sample *v = &r->sample;
	if (q->block_err < 0)
		return;
	v->disks = q->n_disks ? xcalloc(q->n_disks, sizeof(*v->disks)) : NULL;
	/* In the .vmx's order first, then devices QEMU has that the .vmx does not (yet) list. */
	bool *used = xcalloc(q->n_disks ? q->n_disks : 1, sizeof(bool));
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < (pass == 0 ? r->n_disks : q->n_disks); k++) {
			const struct qemu_blockstat *b = NULL;
			const char *slot = NULL;
			size_t bi = 0;
			if (pass == 0) {
				for (bi = 0; bi < q->n_disks; bi++)
					if (!used[bi] && strcmp(q->disks[bi].device, r->disks[k].device) == 0)
						break;
				if (bi == q->n_disks)
					continue;
				slot = r->disks[k].slot;
			} else {
				bi = k;
				if (used[bi])
					continue;
				slot = q->disks[bi].device;
			}
			used[bi] = true;
			b = &q->disks[bi];
			struct stats_disk_sample *d = &v->disks[v->n_disks++];
			snprintf(d->name, sizeof(d->name), "%s", slot);
			snprintf(d->device, sizeof(d->device), "%s", b->device);
			d->rd_ops = clamp_i64(b->rd_ops);
			d->wr_ops = clamp_i64(b->wr_ops);
			d->rd_bytes = clamp_i64(b->rd_bytes);
			d->wr_bytes = clamp_i64(b->wr_bytes);
			d->rd_time_ns = clamp_i64(b->rd_time_ns);
			d->wr_time_ns = clamp_i64(b->wr_time_ns);
			d->rd_iops = d->wr_iops = d->rd_kibps = d->wr_kibps = NAN;
			d->rd_latency_ms = d->wr_latency_ms = NAN;
			for (size_t j = 0; j < t->n_disks; j++)
				if (strcmp(t->disks[j].device, d->device) == 0)
					disk_rates(d, &t->disks[j], dt);
		}
	}
	free(used);
	free(t->disks);
	t->disks = v->n_disks ? xmalloc(v->n_disks * sizeof(*t->disks)) : NULL;
	if (v->n_disks)
		memcpy(t->disks, v->disks, v->n_disks * sizeof(*t->disks));
	t->n_disks = v->n_disks;
}

static void sample_qemu(struct stats_sampler *s, struct vm_round *r, struct vm_track *t,
			const struct qemu_vm_stats *q, int64_t now_s)
{
	struct stats_vm_sample *v = &r->sample;
	if (q->balloon_err == -ENODEV)
		t->no_balloon = true;
	if (q->balloon_err == 0 && q->balloon_actual >= 0)
		v->mem_ballooned = (int64_t)r->mem_bytes - q->balloon_actual;
	if (q->guest_err == -ETIMEDOUT) {
		/* Not reported yet (or not parseable): ask less often for a while. */
		if (t->guest_backoff < GUEST_BACKOFF_MAX)
			t->guest_backoff++;
		t->guest_skip = (1u << t->guest_backoff) - 1;
	} else if (q->guest_err == 0) {
		t->guest_backoff = 0;
		const struct qemu_guest_mem *g = &q->guest;
		int64_t poll_s = (int64_t)(s->interval_ms / 1000 ? s->interval_ms / 1000 : 1);
		bool fresh = g->last_update > 0 && now_s - g->last_update <= 3 * poll_s + 2;
		if (fresh && g->total >= 0) {
			if (g->available >= 0)
				v->mem_active = g->total - g->available;
			else if (g->free >= 0 && g->caches >= 0)
				v->mem_active = g->total - g->free - g->caches;
		}
	}
}

static void round_run(struct stats_sampler *s)
{
	struct hostd *h = s->h;
	uint64_t t0 = mono_ns();
	int64_t now_ms = (int64_t)time_real_ms();
	struct stats_host_sample hs;
	stats_host_sample_init(&hs);
	hs.time_ms = now_ms;
	sample_host(s, &hs);

	pthread_mutex_lock(&h->lock);
	size_t n = 0;
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		n++;
	struct vm_round *rounds = xcalloc(n ? n : 1, sizeof(*rounds));
	const char **ids = xcalloc(n ? n : 1, sizeof(*ids));
	n = 0;
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		rounds[n++].vm = vm_ref(vm);
	pthread_mutex_unlock(&h->lock);

	/* Send every VM's queries first: QEMU answers while /proc is read. */
	unsigned timeout = s->interval_ms / 2 < 5000 ? s->interval_ms / 2 : 5000;
	unsigned guest_timeout = s->interval_ms / 4 < 1000 ? s->interval_ms / 4 : 1000;
	for (size_t i = 0; i < n; i++) {
		struct vm_round *r = &rounds[i];
		round_prepare(r, r->vm);
		ids[i] = r->id;
		stats_vm_sample_init(&r->sample);
		r->sample.time_ms = now_ms;
		r->sample.paused = r->paused;
		if (!r->running)
			continue;
		struct vm_track *t = track_get(s, r->id);
		if (t->pid != r->pid)
			track_reset(t, r->pid); /* a new QEMU: its counters start again */
		t->seen = true;
		r->track = t;
		r->qmp = vm_qmp_get(r->vm);
		if (!r->qmp)
			continue;
		if (!t->polling_set) {
			_cleanup_error_ struct vr_error *e = NULL;
			unsigned poll_s = s->interval_ms / 1000 ? s->interval_ms / 1000 : 1;
			if (qemu_stats_balloon_polling(r->qmp, poll_s, (int)timeout, &e) == -ENODEV)
				t->no_balloon = true;
			else if (e)
				log_debug("VM \"%s\": cannot set the balloon's polling interval: %s",
					  r->name, e->msg);
			t->polling_set = true;
		}
		unsigned what = QEMU_STATS_BLOCK;
		if (!t->no_balloon) {
			what |= QEMU_STATS_BALLOON;
			if (t->guest_skip > 0)
				t->guest_skip--;
			else
				what |= QEMU_STATS_GUEST_MEM;
		}
		r->query = qemu_stats_query_start(r->qmp, what, r->mem_bytes, (int)timeout,
						  (int)guest_timeout);
	}

	double saved_fraction = ksm_saved_fraction();
	uint64_t now_mono = mono_ns();
	for (size_t i = 0; i < n; i++) {
		struct vm_round *r = &rounds[i];
		if (!r->running)
			continue;
		struct vm_track *t = r->track;
		double dt = t->mono_ns ? (double)(now_mono - t->mono_ns) / 1e9 : 0.0;
		sample_cpu(r, t, dt);
		sample_memory_proc(s, r, saved_fraction);
		sample_nics(r, t, dt);
	}
	for (size_t i = 0; i < n; i++) {
		struct vm_round *r = &rounds[i];
		if (!r->running)
			continue;
		struct vm_track *t = r->track;
		double dt = t->mono_ns ? (double)(now_mono - t->mono_ns) / 1e9 : 0.0;
		if (r->query) {
			struct qemu_vm_stats q;
			qemu_stats_query_finish(r->query, &q);
			r->query = NULL;
			sample_disks(r, t, &q, dt);
			sample_qemu(s, r, t, &q, now_ms / 1000);
			qemu_vm_stats_clear(&q);
		}
		if (r->qmp)
			vm_qmp_put(r->vm);
		t->mono_ns = now_mono;
		stats_store_add_vm(s->store, r->id, r->name, r->vcpus, &r->sample);
		hs.vms_running++;
	}
	tracks_drop_unseen(s);
	stats_store_prune(s->store, ids, n,
			  now_ms - (int64_t)STATS_HISTORY_SAMPLES * s->interval_ms);
	for (size_t i = 0; i < n; i++) {
		stats_vm_sample_clear(&rounds[i].sample);
		vm_unref(rounds[i].vm);
	}
	free(rounds);
	free(ids);

	struct timespec cpu;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
		hs.sampler_cpu_ns_total = (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec;
	hs.sample_ms = (double)(mono_ns() - t0) / 1e6;
	/* Last: the host's sample marks the round complete for readers. */
	stats_store_add_host(s->store, &hs);
}

static void *sampler_main(void *opaque)
{
	struct stats_sampler *s = opaque;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		pthread_mutex_unlock(&s->lock);
		round_run(s);
		pthread_mutex_lock(&s->lock);
		next.tv_sec += s->interval_ms / 1000;
		next.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		/* A round that overran: the next one starts now, not in a burst. */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
			next = now;
		while (!s->stop &&
		       pthread_cond_timedwait(&s->cond, &s->lock, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct stats_sampler *stats_sampler_start(struct hostd *h, unsigned interval_ms,
					  struct vr_error **err)
{
	if (interval_ms < 500)
		return vr_error_set(err, EINVAL, "the statistics interval (%u ms) is below 500 ms",
				    interval_ms),
		       NULL;
	struct stats_sampler *s = xcalloc(1, sizeof(*s));
	s->h = h;
	s->interval_ms = interval_ms;
	s->store = stats_store_new(STATS_HISTORY_SAMPLES, interval_ms);
	s->page_size = sysconf(_SC_PAGESIZE);
	s->clk_tck = sysconf(_SC_CLK_TCK);
	if (s->page_size <= 0)
		s->page_size = 4096;
	if (s->clk_tck <= 0)
		s->clk_tck = 100;
	s->cpu_mhz = host_cpu_mhz();
	s->procbuf_size = 64u << 10;
	s->procbuf = xmalloc(s->procbuf_size);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&s->thread, NULL, sampler_main, s);
	if (r != 0) {
		vr_error_set_errno(err, r, "cannot start the statistics thread");
		stats_store_free(s->store);
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s->procbuf);
		free(s);
		return NULL;
	}
	return s;
}

void stats_sampler_stop(struct stats_sampler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	for (struct vm_track *t = s->tracks, *n; t; t = n) {
		n = t->next;
		track_reset(t, 0);
		free(t);
	}
	stats_store_free(s->store);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->procbuf);
	free(s);
}

struct stats_store *stats_sampler_store(struct stats_sampler *s)
{
	return s->store;
}

struct hostd *stats_sampler_host(struct stats_sampler *s)
{
	return s->h;
}
