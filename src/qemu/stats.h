/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_STATS_H
#define VIREO_QEMU_STATS_H

/*
 * Statistics of a running QEMU over QMP: per-disk I/O counters
 * (query-blockstats), the balloon's size (query-balloon) and the memory
 * statistics the guest's balloon driver reports (qom-get of the balloon
 * device's "guest-stats").  The three queries are sent together and
 * answered together: one round trip per VM.
 *
 * The guest's statistics come from the guest, which is hostile: every
 * value is checked (a non-negative integer, memory figures no larger than
 * the VM's memory, free and cache no larger than the total); what fails a
 * check is reported as unknown, never passed on.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct qmp;
struct vr_error;

/* The balloon device the command line adds (qemu/cmdline.c). */
#define QEMU_BALLOON_QOM_PATH "/machine/peripheral/balloon0"

struct qemu_blockstat {
	char device[64]; /* qdev id of the disk ("scsi0-0"), from the "qdev" path */
	uint64_t rd_ops, wr_ops, flush_ops;
	uint64_t rd_bytes, wr_bytes;
	uint64_t rd_time_ns, wr_time_ns, flush_time_ns;
};

/* Memory figures from the guest's balloon driver, in bytes; -1 = not reported or not credible. */
struct qemu_guest_mem {
	int64_t last_update; /* host time (s) QEMU last heard from the guest; 0 = never */
	int64_t total, free, available, caches;
	int64_t swap_in, swap_out, major_faults, minor_faults;
};

struct qemu_vm_stats {
	int block_err; /* 0 or -errno; then n_disks is 0 */
	struct qemu_blockstat *disks;
	size_t n_disks;
	int balloon_err;         /* 0, or -ENODEV when the VM has no balloon, or another -errno */
	int64_t balloon_actual;  /* bytes of guest memory the balloon leaves to the guest */
	int guest_err;           /* 0 or -errno (ETIMEDOUT: the guest has not reported) */
	struct qemu_guest_mem guest;
};

void qemu_vm_stats_clear(struct qemu_vm_stats *s);

/* Which queries to send. */
enum {
	QEMU_STATS_BLOCK = 1u << 0,
	QEMU_STATS_BALLOON = 1u << 1,
	QEMU_STATS_GUEST_MEM = 1u << 2,
};

struct qemu_stats_query;

/*
 * Sends the queries (all at once, without waiting).  mem_bytes is the VM's
 * memory size, the bound for the guest's figures.  Never fails: a query
 * that cannot be sent is reported by qemu_stats_query_finish().
 */
struct qemu_stats_query *qemu_stats_query_start(struct qmp *q, unsigned what, uint64_t mem_bytes,
						int timeout_ms, int guest_timeout_ms);
/* Waits for every answer (or its timeout), fills *out and frees the query. */
void qemu_stats_query_finish(struct qemu_stats_query *qq, struct qemu_vm_stats *out);

/*
 * Asks the guest's balloon driver for statistics every `seconds` (qom-set
 * of guest-stats-polling-interval); -ENODEV when the VM has no balloon.
 */
int qemu_stats_balloon_polling(struct qmp *q, unsigned seconds, int timeout_ms,
			       struct vr_error **err);

/* ---- parsers of the replies (exposed for tests and the fuzz target) ---- */

/* The "return" of query-blockstats: one entry per device with a qdev path. Caller frees *out. */
int qemu_blockstats_parse(const json_t *ret, struct qemu_blockstat **out, size_t *n_out,
			  struct vr_error **err);
/* The "return" of qom-get guest-stats; values checked against mem_bytes. */
int qemu_guest_mem_parse(const json_t *ret, uint64_t mem_bytes, struct qemu_guest_mem *out,
			 struct vr_error **err);
/* The "return" of query-balloon: the "actual" size in bytes. */
int qemu_balloon_parse(const json_t *ret, uint64_t mem_bytes, int64_t *actual,
		       struct vr_error **err);

#endif
