/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live statistics of a host and its VMs (vSphere's "realtime" performance
 * data, esxtop's counters): the samples, the in-memory store that keeps
 * the last hour of them, and their JSON and Prometheus renderings.  Pure
 * code: the sampler that fills the store is host/stats_sampler.c.
 *
 * Unknown values: byte and counter fields are int64_t with STATS_UNKNOWN
 * (-1); ratios and rates are doubles, NAN when unknown.  Both render as
 * JSON null and are left out of /metrics.
 */
#ifndef VIREO_HOST_STATS_STATS_H
#define VIREO_HOST_STATS_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_UNKNOWN (-1)
#define STATS_DEFAULT_INTERVAL_MS 20000u
#define STATS_HISTORY_SAMPLES 180u /* one hour at 20 s */
#define STATS_NAME_MAX 64

struct stats_host_sample {
	int64_t time_ms; /* wall clock, ms since the epoch */
	double cpu_used_pct; /* of all cores together: 100 = every core busy */
	double cpu_used_mhz;
	int64_t cpu_count;
	int64_t cpu_capacity_mhz; /* cores x nominal clock */
	int64_t cpu_used_ns_total; /* busy time of all cores since boot */
	int64_t mem_total;
	int64_t mem_used; /* total - available */
	int64_t mem_available;
	int64_t swap_total;
	int64_t swap_used;
	int64_t ksm_shared; /* memory saved by page sharing (pages_sharing x page size) */
	int64_t vms_running;
	double sample_ms; /* how long this round of sampling took (wall) */
	int64_t sampler_cpu_ns_total; /* CPU time the sampler thread has used */
};

struct stats_disk_sample {
	char name[STATS_NAME_MAX];   /* the .vmx slot, "scsi0:0" */
	char device[STATS_NAME_MAX]; /* QEMU's qdev id, "scsi0-0" */
	int64_t rd_ops, wr_ops, rd_bytes, wr_bytes, rd_time_ns, wr_time_ns; /* counters */
	double rd_iops, wr_iops, rd_kibps, wr_kibps, rd_latency_ms, wr_latency_ms; /* over the interval */
};

struct stats_nic_sample {
	char name[STATS_NAME_MAX];   /* "ethernet0" */
	char device[STATS_NAME_MAX]; /* host tap; "" when the NIC has none (NAT, not connected) */
	/* Counters seen from the VM: rx = what the VM received. */
	int64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_drops, tx_drops;
	double rx_pps, tx_pps, rx_kibps, tx_kibps;
};

struct stats_vm_sample {
	int64_t time_ms;
	bool paused;
	double cpu_used_pct;  /* 100 = one core */
	double cpu_ready_pct; /* runnable but waiting for a core (esxtop %RDY) */
	int64_t cpu_used_ns_total;
	int64_t cpu_ready_ns_total;
	int64_t mem_configured, mem_granted, mem_consumed, mem_active, mem_ballooned, mem_shared,
		mem_swapped;
	size_t n_disks;
	struct stats_disk_sample *disks;
	size_t n_nics;
	struct stats_nic_sample *nics;
};

void stats_vm_sample_init(struct stats_vm_sample *s);
/* Frees the disk and NIC arrays (not s itself). */
void stats_vm_sample_clear(struct stats_vm_sample *s);
/* Deep copy into dst (which must be cleared or initialised). */
void stats_vm_sample_copy(struct stats_vm_sample *dst, const struct stats_vm_sample *src);
void stats_host_sample_init(struct stats_host_sample *s);

/* ---- counters ---- */

/*
 * The increase of a cumulative counter between two readings.  A counter
 * that went down was reset (QEMU restarted, a device was re-created): the
 * new value is all that was counted since, never a negative amount.
 * Unknown (negative) readings give an unknown (-1) delta.
 */
int64_t stats_counter_delta(int64_t prev, int64_t cur);
/* delta / seconds, NAN when either is unknown or seconds <= 0. */
double stats_rate(int64_t delta, double seconds);

/* ---- the store: per entity a ring of the last `capacity` samples ---- */

struct stats_store;

struct stats_store *stats_store_new(unsigned capacity, unsigned interval_ms);
void stats_store_free(struct stats_store *st);
unsigned stats_store_interval_ms(const struct stats_store *st);

void stats_store_add_host(struct stats_store *st, const struct stats_host_sample *s);
/* Adds a copy of s for the VM (created on first use); name and vcpus are updated. */
void stats_store_add_vm(struct stats_store *st, const char *id, const char *name, unsigned vcpus,
			const struct stats_vm_sample *s);
/*
 * Drops the VMs whose id is not in ids (unregistered) and those without a
 * sample newer than older_than_ms (powered off for longer than the history).
 */
void stats_store_prune(struct stats_store *st, const char *const *ids, size_t n_ids,
		       int64_t older_than_ms);
/* Number of VMs held (tests). */
size_t stats_store_vm_count(struct stats_store *st);

/* A copy of one entity's samples, oldest first. */
struct stats_series {
	char id[37];
	char name[256];
	unsigned vcpus;
	size_t n;
	struct stats_host_sample *host; /* for the host: n samples */
	struct stats_vm_sample *vm;     /* for a VM */
};
void stats_series_free(struct stats_series *s);

/*
 * The samples of the host (id NULL) or of a VM by id, taken at or after
 * since_ms.  Returns false when the store holds no such VM.
 */
bool stats_store_history(struct stats_store *st, const char *id, int64_t since_ms,
			 struct stats_series *out);
/*
 * The newest sample of the host and of every VM whose newest sample is from
 * the latest round (the running VMs): out_vms[i].n is 1.  Caller frees each
 * with stats_series_free() and the array with free().
 */
void stats_store_latest(struct stats_store *st, struct stats_series *out_host,
			struct stats_series **out_vms, size_t *n_vms);

/* ---- renderers ---- */

json_t *stats_host_sample_json(const struct stats_host_sample *s);
json_t *stats_vm_sample_json(const struct stats_vm_sample *s);

/*
 * The Prometheus text exposition format 0.0.4: every metric family with
 * its HELP and TYPE lines, then its samples.  Returns a NUL-terminated
 * string (caller frees).
 */
char *stats_prometheus_render(const struct stats_series *host, const struct stats_series *vms,
			      size_t n_vms, unsigned interval_ms);
#define STATS_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Escapes a label value (\ " and newline) into a new string. */
char *stats_prometheus_escape_label(const char *value);

#endif
