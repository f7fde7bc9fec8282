/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_KSM_H
#define VIREO_HOST_RESOURCES_KSM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vr_error;

/*
 * Page sharing: the kernel's KSM (/sys/kernel/mm/ksm).  QEMU marks guest
 * RAM mergeable by default; KSM merges identical pages once run = 1.
 *
 *   pages_shared    KSM pages in use (one per distinct content)
 *   pages_sharing   further mappings of them: the pages saved
 *   pages_unshared  scanned, unique so far
 *   pages_volatile  changing too fast to merge
 *   general_profit  bytes saved minus KSM's own metadata (may be negative;
 *                   kernels >= 6.1)
 *   ksm_zero_pages  empty pages merged with the zero page (use_zero_pages)
 *
 * Parsers take text so that they can be tested on fixtures; the readers
 * take a directory (NULL: the kernel's) and wrap them.
 */

#define RES_KSM_DIR "/sys/kernel/mm/ksm"

struct res_ksm_stats {
	uint64_t run; /* 0 stop, 1 run, 2 stop and unmerge */
	uint64_t pages_shared;
	uint64_t pages_sharing;
	uint64_t pages_unshared;
	uint64_t pages_volatile;
	uint64_t full_scans;
	uint64_t pages_to_scan;
	uint64_t sleep_millisecs;
	bool has_general_profit; /* older kernels lack these two */
	int64_t general_profit;
	bool has_zero_pages;
	uint64_t ksm_zero_pages;
};

/* /proc/PID/ksm_stat and /proc/PID/ksm_merging_pages. */
struct res_ksm_proc {
	uint64_t merging_pages;
	uint64_t rmap_items;
	uint64_t zero_pages;
	int64_t process_profit;
	bool merge_any;  /* prctl(PR_SET_MEMORY_MERGE) */
	bool mergeable;  /* has MADV_MERGEABLE areas or merge_any */
};

/* One sysfs value: a signed decimal and an optional newline. */
int res_ksm_parse_value(const char *text, int64_t *out);
/* Text of /proc/PID/ksm_stat ("key value" lines); merging_pages is left alone. */
int res_ksm_proc_stat_parse(const char *text, struct res_ksm_proc *out);

int res_ksm_read(const char *dir, struct res_ksm_stats *out, struct vr_error **err);
/* proc_root NULL: "/proc". */
int res_ksm_proc_read(const char *proc_root, pid_t pid, struct res_ksm_proc *out, struct vr_error **err);
/* Bytes saved by sharing: pages_sharing * page size. */
uint64_t res_ksm_saved_bytes(const struct res_ksm_stats *s);

/* run: 0 stop, 1 run, 2 stop and unmerge everything. */
int res_ksm_set_run(const char *dir, unsigned run, struct vr_error **err);
/* pages_to_scan 1..100000 per wake-up, sleep_millisecs 1..60000 between. */
int res_ksm_set_scan_rate(const char *dir, unsigned pages_to_scan, unsigned sleep_millisecs,
			  struct vr_error **err);

#endif
