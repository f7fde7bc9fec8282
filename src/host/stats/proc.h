/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Readers of the kernel's accounting in /proc and /sys for the statistics:
 * the parsers work on text (tested on fixtures), the readers take the root
 * ("/proc", "/sys") so that tests can point them at a fixture tree.  The
 * readers use one open/read/close per small file and no stdio, so that a
 * round over 20 VMs costs a few hundred system calls.
 */
#ifndef VIREO_HOST_STATS_PROC_H
#define VIREO_HOST_STATS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The aggregate "cpu" line of /proc/stat, in USER_HZ ticks. */
struct stats_proc_cpu {
	uint64_t busy;  /* user nice system irq softirq steal (guest time is inside user) */
	uint64_t total; /* busy + idle + iowait */
	unsigned ncpu;  /* "cpuN" lines */
};
int stats_parse_proc_stat(const char *text, struct stats_proc_cpu *out);

/* /proc/meminfo in bytes; fields not found are STATS_UNKNOWN. */
struct stats_meminfo {
	int64_t total, free, available, swap_total, swap_free;
};
int stats_parse_meminfo(const char *text, struct stats_meminfo *out);

/* /proc/PID/status in bytes; fields not found are STATS_UNKNOWN. */
struct stats_pid_status {
	int64_t rss_anon, rss_file, rss_shmem, vm_swap;
};
int stats_parse_pid_status(const char *text, struct stats_pid_status *out);

/* /proc/PID/task/TID/schedstat: time on CPU and time runnable but waiting, in ns. */
int stats_parse_schedstat(const char *text, uint64_t *run_ns, uint64_t *wait_ns);

/* A file holding one unsigned decimal number (sysfs counters). */
int stats_parse_u64(const char *text, uint64_t *out);

/* The clock of the first "cpu MHz" line of /proc/cpuinfo; 0 when none. */
unsigned stats_parse_cpuinfo_mhz(const char *text);

/* Reads a small file relative to dirfd (AT_FDCWD for absolute paths) into buf (NUL-terminated). */
ssize_t stats_read_small(int dirfd, const char *path, char *buf, size_t size);

struct stats_thread_times {
	pid_t tid;
	uint64_t run_ns;
	uint64_t wait_ns;
};

/*
 * The schedstat times of every thread of pid, sorted by tid (caller
 * frees *out).  -ENOENT when the process is gone.
 */
int stats_read_threads(const char *proc_root, pid_t pid, struct stats_thread_times **out,
		       size_t *n_out);

/*
 * CPU and wait time the threads used between two readings: threads in
 * both count their increase, new threads all of their time (they started
 * since), threads that ended count nothing more.  Never negative.
 */
void stats_threads_delta(const struct stats_thread_times *prev, size_t n_prev,
			 const struct stats_thread_times *cur, size_t n_cur, uint64_t *run_ns,
			 uint64_t *wait_ns);

/* Counters of a network device from SYS/class/net/DEV/statistics (-ENOENT: no such device). */
struct stats_netdev {
	int64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped, tx_dropped;
};
int stats_read_netdev(const char *sys_root, const char *dev, struct stats_netdev *out);

#endif
