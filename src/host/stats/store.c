/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The statistics store: per entity (the host, each VM) a ring of the last
 * `capacity` samples.  Memory is bounded by capacity x entities; a VM's
 * disk and NIC arrays are reused when their slot is overwritten.  One
 * mutex: the sampler adds a round at a time, readers copy out.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "host/stats/stats.h"

/* ---- samples and counters ---- */

void stats_host_sample_init(struct stats_host_sample *s)
{
	*s = (struct stats_host_sample){
		.cpu_used_pct = NAN,
		.cpu_used_mhz = NAN,
		.cpu_count = STATS_UNKNOWN,
		.cpu_capacity_mhz = STATS_UNKNOWN,
		.cpu_used_ns_total = STATS_UNKNOWN,
		.mem_total = STATS_UNKNOWN,
		.mem_used = STATS_UNKNOWN,
		.mem_available = STATS_UNKNOWN,
		.swap_total = STATS_UNKNOWN,
		.swap_used = STATS_UNKNOWN,
		.ksm_shared = STATS_UNKNOWN,
		.vms_running = 0,
		.sample_ms = NAN,
		.sampler_cpu_ns_total = STATS_UNKNOWN,
	};
}

void stats_vm_sample_init(struct stats_vm_sample *s)
{
	*s = (struct stats_vm_sample){
		.cpu_used_pct = NAN,
		.cpu_ready_pct = NAN,
		.cpu_used_ns_total = STATS_UNKNOWN,
		.cpu_ready_ns_total = STATS_UNKNOWN,
		.mem_configured = STATS_UNKNOWN,
		.mem_granted = STATS_UNKNOWN,
		.mem_consumed = STATS_UNKNOWN,
		.mem_active = STATS_UNKNOWN,
		.mem_ballooned = STATS_UNKNOWN,
		.mem_shared = STATS_UNKNOWN,
		.mem_swapped = STATS_UNKNOWN,
	};
}

void stats_vm_sample_clear(struct stats_vm_sample *s)
{
	free(s->disks);
	free(s->nics);
	s->disks = NULL;
	s->nics = NULL;
	s->n_disks = 0;
	s->n_nics = 0;
}

void stats_vm_sample_copy(struct stats_vm_sample *dst, const struct stats_vm_sample *src)
{
	struct stats_disk_sample *disks = dst->disks;
	struct stats_nic_sample *nics = dst->nics;
	*dst = *src;
	dst->disks = src->n_disks ? xrealloc(disks, src->n_disks * sizeof(*disks)) : NULL;
	dst->nics = src->n_nics ? xrealloc(nics, src->n_nics * sizeof(*nics)) : NULL;
	if (!src->n_disks)
		free(disks);
	if (!src->n_nics)
		free(nics);
	if (src->n_disks)
		memcpy(dst->disks, src->disks, src->n_disks * sizeof(*disks));
	if (src->n_nics)
		memcpy(dst->nics, src->nics, src->n_nics * sizeof(*nics));
}

int64_t stats_counter_delta(int64_t prev, int64_t cur)
{
	if (prev < 0 || cur < 0)
		return STATS_UNKNOWN;
	return cur >= prev ? cur - prev : cur;
}

double stats_rate(int64_t delta, double seconds)
{
	if (delta < 0 || !(seconds > 0))
		return NAN;
	return (double)delta / seconds;
}

/* ---- the store ---- */

struct vm_ring {
	char id[37];
	char name[256];
	unsigned vcpus;
	size_t head, n; /* next slot to write, samples held */
	struct stats_vm_sample *ring;
	struct vm_ring *next;
};

struct stats_store {
	pthread_mutex_t lock;
	unsigned capacity;
	unsigned interval_ms;
	size_t host_head, host_n;
	struct stats_host_sample *host;
	int64_t latest_round_ms; /* time of the newest host sample */
	struct vm_ring *vms;
};

struct stats_store *stats_store_new(unsigned capacity, unsigned interval_ms)
{
	struct stats_store *st = xcalloc(1, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	st->capacity = capacity ? capacity : 1;
	st->interval_ms = interval_ms;
	st->host = xcalloc(st->capacity, sizeof(*st->host));
	st->latest_round_ms = -1;
	return st;
}

static void vm_ring_free(struct vm_ring *r, unsigned capacity)
{
	for (unsigned i = 0; i < capacity; i++)
		stats_vm_sample_clear(&r->ring[i]);
	free(r->ring);
	free(r);
}

void stats_store_free(struct stats_store *st)
{
	if (!st)
		return;
	for (struct vm_ring *r = st->vms, *n; r; r = n) {
		n = r->next;
		vm_ring_free(r, st->capacity);
	}
	free(st->host);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

unsigned stats_store_interval_ms(const struct stats_store *st)
{
	return st->interval_ms;
}

void stats_store_add_host(struct stats_store *st, const struct stats_host_sample *s)
{
	pthread_mutex_lock(&st->lock);
	st->host[st->host_head] = *s;
	st->host_head = (st->host_head + 1) % st->capacity;
	if (st->host_n < st->capacity)
		st->host_n++;
	st->latest_round_ms = s->time_ms;
	pthread_mutex_unlock(&st->lock);
}

static struct vm_ring *find_vm(struct stats_store *st, const char *id)
{
	for (struct vm_ring *r = st->vms; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

void stats_store_add_vm(struct stats_store *st, const char *id, const char *name, unsigned vcpus,
			const struct stats_vm_sample *s)
{
	pthread_mutex_lock(&st->lock);
	struct vm_ring *r = find_vm(st, id);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", id);
		r->ring = xcalloc(st->capacity, sizeof(*r->ring));
		r->next = st->vms;
		st->vms = r;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->vcpus = vcpus;
	stats_vm_sample_copy(&r->ring[r->head], s);
	r->head = (r->head + 1) % st->capacity;
	if (r->n < st->capacity)
		r->n++;
	pthread_mutex_unlock(&st->lock);
}

static const struct stats_vm_sample *vm_newest(const struct stats_store *st, const struct vm_ring *r)
{
	return r->n ? &r->ring[(r->head + st->capacity - 1) % st->capacity] : NULL;
}

void stats_store_prune(struct stats_store *st, const char *const *ids, size_t n_ids,
		       int64_t older_than_ms)
{
	pthread_mutex_lock(&st->lock);
	for (struct vm_ring **p = &st->vms; *p;) {
		struct vm_ring *r = *p;
		bool listed = false;
		for (size_t i = 0; i < n_ids && !listed; i++)
			listed = strcmp(ids[i], r->id) == 0;
		const struct stats_vm_sample *newest = vm_newest(st, r);
		if (listed && newest && newest->time_ms >= older_than_ms) {
			p = &r->next;
			continue;
		}
		*p = r->next;
		vm_ring_free(r, st->capacity);
	}
	pthread_mutex_unlock(&st->lock);
}

size_t stats_store_vm_count(struct stats_store *st)
{
	pthread_mutex_lock(&st->lock);
	size_t n = 0;
	for (struct vm_ring *r = st->vms; r; r = r->next)
		n++;
	pthread_mutex_unlock(&st->lock);
	return n;
}

void stats_series_free(struct stats_series *s)
{
	if (!s)
		return;
	if (s->vm)
		for (size_t i = 0; i < s->n; i++)
			stats_vm_sample_clear(&s->vm[i]);
	free(s->vm);
	free(s->host);
	s->vm = NULL;
	s->host = NULL;
	s->n = 0;
}

/* Copies ring samples at or after since_ms, oldest first (lock held). */
static void copy_vm_series(const struct stats_store *st, const struct vm_ring *r, int64_t since_ms,
			   size_t max, struct stats_series *out)
{
	*out = (struct stats_series){.vcpus = r->vcpus};
	snprintf(out->id, sizeof(out->id), "%s", r->id);
	snprintf(out->name, sizeof(out->name), "%s", r->name);
	out->vm = xcalloc(r->n ? r->n : 1, sizeof(*out->vm));
	size_t first = r->n > max ? r->n - max : 0;
	for (size_t k = first; k < r->n; k++) {
		const struct stats_vm_sample *s =
			&r->ring[(r->head + st->capacity - r->n + k) % st->capacity];
		if (s->time_ms < since_ms)
			continue;
		stats_vm_sample_copy(&out->vm[out->n++], s);
	}
}

bool stats_store_history(struct stats_store *st, const char *id, int64_t since_ms,
			 struct stats_series *out)
{
	pthread_mutex_lock(&st->lock);
	if (!id) {
		*out = (struct stats_series){0};
		snprintf(out->id, sizeof(out->id), "host");
		out->host = xcalloc(st->host_n ? st->host_n : 1, sizeof(*out->host));
		for (size_t k = 0; k < st->host_n; k++) {
			const struct stats_host_sample *s =
				&st->host[(st->host_head + st->capacity - st->host_n + k) % st->capacity];
			if (s->time_ms >= since_ms)
				out->host[out->n++] = *s;
		}
		pthread_mutex_unlock(&st->lock);
		return true;
	}
	struct vm_ring *r = find_vm(st, id);
	if (r)
		copy_vm_series(st, r, since_ms, SIZE_MAX, out);
	pthread_mutex_unlock(&st->lock);
	return r != NULL;
}

void stats_store_latest(struct stats_store *st, struct stats_series *out_host,
			struct stats_series **out_vms, size_t *n_vms)
{
	pthread_mutex_lock(&st->lock);
	*out_host = (struct stats_series){0};
	snprintf(out_host->id, sizeof(out_host->id), "host");
	out_host->host = xcalloc(1, sizeof(*out_host->host));
	if (st->host_n) {
		out_host->host[0] = st->host[(st->host_head + st->capacity - 1) % st->capacity];
		out_host->n = 1;
	}
	size_t n = 0, cap = 0;
	struct stats_series *v = NULL;
	for (struct vm_ring *r = st->vms; r; r = r->next) {
		const struct stats_vm_sample *newest = vm_newest(st, r);
		if (!newest || newest->time_ms < st->latest_round_ms)
			continue; /* not sampled in the latest round: powered off */
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		copy_vm_series(st, r, INT64_MIN, 1, &v[n++]);
	}
	pthread_mutex_unlock(&st->lock);
	*out_vms = v;
	*n_vms = n;
}
