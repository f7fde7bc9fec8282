/* SPDX-License-Identifier: Apache-2.0 */
/* /proc and /sys readers for the statistics; see proc.h. */
#include "host/stats/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "host/stats/stats.h"

/* Parses an unsigned decimal at *p, moving past it; false when there is none or it overflows. */
static bool take_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	uint64_t v = 0;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

int stats_parse_proc_stat(const char *text, struct stats_proc_cpu *out)
{
	*out = (struct stats_proc_cpu){0};
	bool found = false;
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, "cpu", 3) != 0)
			continue;
		if (line[3] >= '0' && line[3] <= '9') {
			out->ncpu++;
			continue;
		}
		if (line[3] != ' ' || found)
			continue;
		/* user nice system idle iowait irq softirq steal guest guest_nice */
		const char *p = line + 3;
		uint64_t v[8] = {0};
		size_t n = 0;
		while (n < 8 && take_u64(&p, &v[n]))
			n++;
		if (n < 4)
			return -EINVAL;
		uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		out->busy = busy;
		out->total = busy + v[3] + v[4];
		found = true;
	}
	return found ? 0 : -EINVAL;
}

/* "Key:   123 kB" lines; value times 1024 when the unit is kB. */
static int64_t kv_bytes(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, kl) != 0 || line[kl] != ':')
			continue;
		const char *p = line + kl + 1;
		uint64_t v;
		if (!take_u64(&p, &v))
			return STATS_UNKNOWN;
		while (*p == ' ')
			p++;
		if (strncmp(p, "kB", 2) == 0) {
			if (v > (uint64_t)INT64_MAX / 1024)
				return STATS_UNKNOWN;
			v *= 1024;
		}
		return v > (uint64_t)INT64_MAX ? STATS_UNKNOWN : (int64_t)v;
	}
	return STATS_UNKNOWN;
}

int stats_parse_meminfo(const char *text, struct stats_meminfo *out)
{
	out->total = kv_bytes(text, "MemTotal");
	out->free = kv_bytes(text, "MemFree");
	out->available = kv_bytes(text, "MemAvailable");
	out->swap_total = kv_bytes(text, "SwapTotal");
	out->swap_free = kv_bytes(text, "SwapFree");
	return out->total < 0 ? -EINVAL : 0;
}

int stats_parse_pid_status(const char *text, struct stats_pid_status *out)
{
	out->rss_anon = kv_bytes(text, "RssAnon");
	out->rss_file = kv_bytes(text, "RssFile");
	out->rss_shmem = kv_bytes(text, "RssShmem");
	out->vm_swap = kv_bytes(text, "VmSwap");
	/* Kernel threads and zombies have no memory lines. */
	return out->rss_anon < 0 ? -ENOENT : 0;
}

int stats_parse_schedstat(const char *text, uint64_t *run_ns, uint64_t *wait_ns)
{
	const char *p = text;
	if (!take_u64(&p, run_ns) || !take_u64(&p, wait_ns))
		return -EINVAL;
	return 0;
}

int stats_parse_u64(const char *text, uint64_t *out)
{
	const char *p = text;
	if (!take_u64(&p, out))
		return -EINVAL;
	while (*p == ' ' || *p == '\n')
		p++;
	return *p ? -EINVAL : 0;
}

unsigned stats_parse_cpuinfo_mhz(const char *text)
{
	const char *line = strstr(text, "cpu MHz");
	if (!line)
		return 0;
	const char *colon = strchr(line, ':');
	if (!colon)
		return 0;
	const char *p = colon + 1;
	uint64_t mhz;
	if (!take_u64(&p, &mhz) || mhz > 1000000)
		return 0;
	return (unsigned)mhz;
}

ssize_t stats_read_small(int dirfd, const char *path, char *buf, size_t size)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static int cmp_tid(const void *a, const void *b)
{
	pid_t x = ((const struct stats_thread_times *)a)->tid;
	pid_t y = ((const struct stats_thread_times *)b)->tid;
	return (x > y) - (x < y);
}

int stats_read_threads(const char *proc_root, pid_t pid, struct stats_thread_times **out,
		       size_t *n_out)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%d/task", proc_root, (int)pid);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return -e;
	}
	size_t n = 0, cap = 16;
	struct stats_thread_times *v = xmalloc(cap * sizeof(*v));
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (*end || tid <= 0 || tid > INT_MAX)
			continue;
		char rel[64], buf[128];
		snprintf(rel, sizeof(rel), "%ld/schedstat", tid);
		uint64_t run, wait;
		/* A thread that ended meanwhile is simply not counted. */
		if (stats_read_small(dirfd(d), rel, buf, sizeof(buf)) < 0 ||
		    stats_parse_schedstat(buf, &run, &wait) < 0)
			continue;
		if (n == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = (struct stats_thread_times){.tid = (pid_t)tid, .run_ns = run, .wait_ns = wait};
	}
	closedir(d);
	if (n == 0) {
		free(v);
		return -ENOENT;
	}
	qsort(v, n, sizeof(*v), cmp_tid);
	*out = v;
	*n_out = n;
	return 0;
}

void stats_threads_delta(const struct stats_thread_times *prev, size_t n_prev,
			 const struct stats_thread_times *cur, size_t n_cur, uint64_t *run_ns,
			 uint64_t *wait_ns)
{
	uint64_t run = 0, wait = 0;
	size_t j = 0;
	for (size_t i = 0; i < n_cur; i++) {
		while (j < n_prev && prev[j].tid < cur[i].tid)
			j++;
		if (j < n_prev && prev[j].tid == cur[i].tid) {
			/* The same thread: its counters only grow; a smaller value is a new thread with a reused id. */
			run += cur[i].run_ns >= prev[j].run_ns ? cur[i].run_ns - prev[j].run_ns
							       : cur[i].run_ns;
			wait += cur[i].wait_ns >= prev[j].wait_ns ? cur[i].wait_ns - prev[j].wait_ns
								  : cur[i].wait_ns;
		} else {
			run += cur[i].run_ns;
			wait += cur[i].wait_ns;
		}
	}
	*run_ns = run;
	*wait_ns = wait;
}

int stats_read_netdev(const char *sys_root, const char *dev, struct stats_netdev *out)
{
	static const char *const names[] = {"rx_packets", "tx_packets", "rx_bytes",
					    "tx_bytes",   "rx_dropped", "tx_dropped"};
	int64_t *fields[] = {&out->rx_packets, &out->tx_packets, &out->rx_bytes,
			     &out->tx_bytes,   &out->rx_dropped, &out->tx_dropped};
	if (!*dev || strchr(dev, '/') || strcmp(dev, ".") == 0 || strcmp(dev, "..") == 0)
		return -EINVAL;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/class/net/%s/statistics", sys_root, dev);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char buf[64];
		uint64_t v;
		if (stats_read_small(dfd, names[i], buf, sizeof(buf)) < 0 ||
		    stats_parse_u64(buf, &v) < 0 || v > (uint64_t)INT64_MAX)
			*fields[i] = STATS_UNKNOWN;
		else
			*fields[i] = (int64_t)v;
	}
	close(dfd);
	return 0;
}
