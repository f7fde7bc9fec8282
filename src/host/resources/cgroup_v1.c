/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v1: one hierarchy per controller (cpu, cpuacct, memory, blkio). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"
#include "host/resources/cgroup_priv.h"
#include "host/resources/shares.h"

/* memory.limit_in_bytes reads PAGE_COUNTER_MAX pages when unlimited. */
#define V1_UNLIMITED_FLOOR (1ULL << 62)

static bool seen_before(char *const *dirs, int c)
{
	for (int i = 0; i < c; i++)
		if (dirs[i] && strcmp(dirs[i], dirs[c]) == 0)
			return true;
	return false;
}

static int mkdir_group(const char *dir, struct vr_error **err)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return vr_error_set_errno(err, errno, "cannot create cgroup %s", dir);
	return 0;
}

static int v1_create(struct res_cgroup *cg, struct vr_error **err)
{
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		if (!cg->dir[c] || seen_before(cg->dir, c))
			continue;
		int r = mkdir_group(cg->parent_dir[c], err);
		if (r == 0)
			r = res_cg_create_levels(cg, c, NULL, err);
		/*
		 * Memory a process already uses follows it into this group (anonymous
		 * and file pages): a VM moved to another pool is counted against that
		 * pool's limit at once, not only for what it touches afterwards.
		 * Kernels since 6.x may refuse it (EINVAL; it was deprecated, then
		 * kept only as 0): the charge then stays behind, as on v2.
		 */
		if (r == 0 && c == RES_CTL_MEMORY &&
		    res_cg_exists(cg->dir[c], "memory.move_charge_at_immigrate")) {
			struct vr_error *e = NULL;
			r = res_cg_write(cg->dir[c], "memory.move_charge_at_immigrate", "3", &e);
			if (r == -EINVAL)
				r = 0;
			if (r < 0 && err)
				*err = e;
			else
				vr_error_free(e);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int v1_apply(struct res_cgroup *cg, const struct res_cgroup_settings *s, struct vr_error **err)
{
	const char *cpu = cg->dir[RES_CTL_CPU], *mem = cg->dir[RES_CTL_MEMORY], *io = cg->dir[RES_CTL_IO];
	/* Refuse before writing anything. */
	if ((s->io_weight || s->n_io_devices) && (!io || !res_cg_exists(io, "blkio.bfq.weight")))
		return vr_error_set(err, EOPNOTSUPP, "disk shares cannot be enforced: %s",
				    io ? "the blkio controller has no blkio.bfq.weight (the bfq scheduler is not loaded)"
				       : "the blkio controller is not mounted");
	int r = res_cg_writef(err, cpu, "cpu.shares", "%llu",
			      (unsigned long long)res_cpu_shares_to_v1(s->cpu_shares));
	if (r < 0)
		return r;
	uint64_t quota = res_cpu_quota_us(s->cpu_limit_mhz, s->host_core_mhz);
	r = res_cg_writef(err, cpu, "cpu.cfs_period_us", "%u", RES_CPU_PERIOD_US);
	if (r < 0)
		return r;
	r = quota ? res_cg_writef(err, cpu, "cpu.cfs_quota_us", "%llu", (unsigned long long)quota)
		  : res_cg_write(cpu, "cpu.cfs_quota_us", "-1", err);
	if (r < 0)
		return r;
	r = s->mem_limit_mib ? res_cg_writef(err, mem, "memory.limit_in_bytes", "%llu",
					     (unsigned long long)(s->mem_limit_mib << 20))
			     : res_cg_write(mem, "memory.limit_in_bytes", "-1", err);
	if (r < 0)
		return r;
	/* Not a guarantee: see cgroup.h. */
	r = res_cg_writef(err, mem, "memory.soft_limit_in_bytes", "%llu",
			  (unsigned long long)(s->mem_reservation_mib << 20));
	if (r < 0)
		return r;
	if (!s->io_weight && !s->n_io_devices)
		return 0;
	if (s->io_weight) {
		r = res_cg_writef(err, io, "blkio.bfq.weight", "%u", s->io_weight);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < s->n_io_devices; i++) {
		const struct res_io_device_weight *d = &s->io_devices[i];
		r = res_cg_writef(err, io, "blkio.bfq.weight_device", "%u:%u %u", d->major, d->minor, d->weight);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_i64(const char *dir, const char *file, int64_t *out, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = res_cg_read(dir, file, &text, err);
	if (r < 0)
		return r;
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || (*end != '\n' && *end != '\0'))
		return vr_error_set(err, EPROTO, "%s/%s does not hold a number", dir, file);
	*out = v;
	return 0;
}

static uint64_t v1_bytes(uint64_t v)
{
	return v >= V1_UNLIMITED_FLOOR ? UINT64_MAX : v;
}

static int v1_read_values(struct res_cgroup *cg, struct res_cgroup_values *out, struct vr_error **err)
{
	const char *cpu = cg->dir[RES_CTL_CPU], *mem = cg->dir[RES_CTL_MEMORY], *io = cg->dir[RES_CTL_IO];
	int r;
	if ((r = res_cg_read_u64(cpu, "cpu.shares", &out->cpu_weight, err)) < 0 ||
	    (r = read_i64(cpu, "cpu.cfs_quota_us", &out->cpu_quota_us, err)) < 0 ||
	    (r = res_cg_read_u64(cpu, "cpu.cfs_period_us", &out->cpu_period_us, err)) < 0 ||
	    (r = res_cg_read_u64(mem, "memory.limit_in_bytes", &out->mem_limit_bytes, err)) < 0 ||
	    (r = res_cg_read_u64(mem, "memory.soft_limit_in_bytes", &out->mem_guarantee_bytes, err)) < 0)
		return r;
	out->mem_limit_bytes = v1_bytes(out->mem_limit_bytes);
	out->mem_guarantee_bytes = v1_bytes(out->mem_guarantee_bytes);
	if (out->cpu_quota_us < 0)
		out->cpu_quota_us = -1;
	uint64_t w = 0;
	if (io && res_cg_exists(io, "blkio.bfq.weight")) {
		if ((r = res_cg_read_u64(io, "blkio.bfq.weight", &w, err)) < 0)
			return r;
	}
	out->io_weight = (unsigned)w;
	return 0;
}

static int v1_usage(struct res_cgroup *cg, struct res_cgroup_usage *out, struct vr_error **err)
{
	const char *cpu = cg->dir[RES_CTL_CPU], *mem = cg->dir[RES_CTL_MEMORY];
	int r = res_cg_read_u64(cg->dir[RES_CTL_CPUACCT], "cpuacct.usage", &out->cpu_usage_ns, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *cpustat = NULL, *memstat = NULL;
	if ((r = res_cg_read(cpu, "cpu.stat", &cpustat, err)) < 0)
		return r;
	if (res_flat_keyed_get(cpustat, "nr_periods", &out->cpu_nr_periods) < 0 ||
	    res_flat_keyed_get(cpustat, "nr_throttled", &out->cpu_nr_throttled) < 0 ||
	    res_flat_keyed_get(cpustat, "throttled_time", &out->cpu_throttled_ns) < 0)
		return vr_error_set(err, EPROTO, "%s/cpu.stat lacks nr_periods, nr_throttled or throttled_time", cpu);
	if ((r = res_cg_read_u64(mem, "memory.usage_in_bytes", &out->mem_usage_bytes, err)) < 0)
		return r;
	if ((r = res_cg_read(mem, "memory.stat", &memstat, err)) < 0)
		return r;
	/* total_*: the group and its descendants. */
	if (res_flat_keyed_get(memstat, "total_rss", &out->mem_anon_bytes) < 0 ||
	    res_flat_keyed_get(memstat, "total_cache", &out->mem_file_bytes) < 0)
		return vr_error_set(err, EPROTO, "%s/memory.stat lacks total_rss or total_cache", mem);
	/* Present only with swap accounting. */
	if (res_flat_keyed_get(memstat, "total_swap", &out->mem_swap_bytes) < 0)
		out->mem_swap_bytes = 0;
	return 0;
}

static int v1_lift_cpu_limit(struct res_cgroup *cg, struct vr_error **err)
{
	return res_cg_write(cg->dir[RES_CTL_CPU], "cpu.cfs_quota_us", "-1", err);
}

const struct res_cgroup_ops res_cgroup_v1_ops = {
	.version = "v1",
	.create = v1_create,
	.apply = v1_apply,
	.read_values = v1_read_values,
	.usage = v1_usage,
	.lift_cpu_limit = v1_lift_cpu_limit,
};
