/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v2: one unified tree, controllers enabled through cgroup.subtree_control. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"
#include "host/resources/cgroup_priv.h"
#include "host/resources/shares.h"

static int enable_controllers(struct res_cgroup *cg, const char *dir, struct vr_error **err)
{
	const char *ctls = cg->sys->v2_has_io ? "+cpu +memory +io" : "+cpu +memory";
	int r = res_cg_write(dir, "cgroup.subtree_control", ctls, err);
	if (r == -EBUSY)
		return vr_error_wrap(err, "%s holds processes itself, so it cannot enable controllers for its children (cgroup v2 \"no internal processes\" rule)",
				     dir);
	return r;
}

static int v2_create(struct res_cgroup *cg, struct vr_error **err)
{
	const char *base = cg->sys->base[RES_CTL_CPU];
	int r = enable_controllers(cg, base, err);
	if (r < 0)
		return r;
	if (mkdir(cg->parent_dir[RES_CTL_CPU], 0755) < 0 && errno != EEXIST)
		return vr_error_set_errno(err, errno, "cannot create cgroup %s", cg->parent_dir[RES_CTL_CPU]);
	/* The parent and every intermediate level (resource pools) pass controllers down. */
	return res_cg_create_levels(cg, RES_CTL_CPU, enable_controllers, err);
}

static int v2_apply(struct res_cgroup *cg, const struct res_cgroup_settings *s, struct vr_error **err)
{
	const char *dir = cg->dir[RES_CTL_CPU];
	/* Refuse before writing anything. */
	if ((s->io_weight || s->n_io_devices) && (!cg->sys->v2_has_io || !res_cg_exists(dir, "io.bfq.weight")))
		return vr_error_set(err, EOPNOTSUPP, "disk shares cannot be enforced: %s",
				    cg->sys->v2_has_io ? "there is no io.bfq.weight (the bfq scheduler is not loaded)"
						       : "the io controller is not offered");
	int r = res_cg_writef(err, dir, "cpu.weight", "%llu",
			      (unsigned long long)res_cpu_shares_to_v2_weight(s->cpu_shares));
	if (r < 0)
		return r;
	uint64_t quota = res_cpu_quota_us(s->cpu_limit_mhz, s->host_core_mhz);
	r = quota ? res_cg_writef(err, dir, "cpu.max", "%llu %u", (unsigned long long)quota, RES_CPU_PERIOD_US)
		  : res_cg_writef(err, dir, "cpu.max", "max %u", RES_CPU_PERIOD_US);
	if (r < 0)
		return r;
	r = s->mem_limit_mib ? res_cg_writef(err, dir, "memory.max", "%llu",
					     (unsigned long long)(s->mem_limit_mib << 20))
			     : res_cg_write(dir, "memory.max", "max", err);
	if (r < 0)
		return r;
	r = res_cg_writef(err, dir, "memory.min", "%llu", (unsigned long long)(s->mem_reservation_mib << 20));
	if (r < 0)
		return r;
	if (!s->io_weight && !s->n_io_devices)
		return 0;
	if (s->io_weight && (r = res_cg_writef(err, dir, "io.bfq.weight", "default %u", s->io_weight)) < 0)
		return r;
	for (size_t i = 0; i < s->n_io_devices; i++) {
		const struct res_io_device_weight *d = &s->io_devices[i];
		r = res_cg_writef(err, dir, "io.bfq.weight", "%u:%u %u", d->major, d->minor, d->weight);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "max" or a number; out UINT64_MAX for "max". */
static int read_max_or_u64(const char *dir, const char *file, uint64_t *out, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = res_cg_read(dir, file, &text, err);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = '\0';
	if (strcmp(text, "max") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	if (parse_u64(text, 0, UINT64_MAX, out) < 0)
		return vr_error_set(err, EPROTO, "%s/%s holds \"%s\", not a number or max", dir, file, text);
	return 0;
}

static int v2_read_values(struct res_cgroup *cg, struct res_cgroup_values *out, struct vr_error **err)
{
	const char *dir = cg->dir[RES_CTL_CPU];
	_cleanup_free_ char *cpumax = NULL;
	int r;
	if ((r = res_cg_read_u64(dir, "cpu.weight", &out->cpu_weight, err)) < 0 ||
	    (r = res_cg_read(dir, "cpu.max", &cpumax, err)) < 0 ||
	    (r = read_max_or_u64(dir, "memory.max", &out->mem_limit_bytes, err)) < 0 ||
	    (r = read_max_or_u64(dir, "memory.min", &out->mem_guarantee_bytes, err)) < 0)
		return r;
	char quota[32];
	unsigned long long period;
	if (sscanf(cpumax, "%31s %llu", quota, &period) != 2)
		return vr_error_set(err, EPROTO, "%s/cpu.max is malformed", dir);
	out->cpu_period_us = period;
	uint64_t q;
	if (strcmp(quota, "max") == 0)
		out->cpu_quota_us = -1;
	else if (parse_u64(quota, 0, INT64_MAX, &q) == 0)
		out->cpu_quota_us = (int64_t)q;
	else
		return vr_error_set(err, EPROTO, "%s/cpu.max is malformed", dir);
	if (cg->sys->v2_has_io && res_cg_exists(dir, "io.bfq.weight")) {
		_cleanup_free_ char *w = NULL;
		if ((r = res_cg_read(dir, "io.bfq.weight", &w, err)) < 0)
			return r;
		unsigned v;
		if (sscanf(w, "default %u", &v) == 1 || sscanf(w, "%u", &v) == 1)
			out->io_weight = v;
	}
	return 0;
}

static int v2_usage(struct res_cgroup *cg, struct res_cgroup_usage *out, struct vr_error **err)
{
	const char *dir = cg->dir[RES_CTL_CPU];
	_cleanup_free_ char *cpustat = NULL, *memstat = NULL;
	int r = res_cg_read(dir, "cpu.stat", &cpustat, err);
	if (r < 0)
		return r;
	uint64_t usage_us, throttled_us;
	if (res_flat_keyed_get(cpustat, "usage_usec", &usage_us) < 0)
		return vr_error_set(err, EPROTO, "%s/cpu.stat lacks usage_usec", dir);
	out->cpu_usage_ns = usage_us * 1000;
	/* Present once the cpu controller is enabled. */
	if (res_flat_keyed_get(cpustat, "nr_periods", &out->cpu_nr_periods) < 0)
		out->cpu_nr_periods = 0;
	if (res_flat_keyed_get(cpustat, "nr_throttled", &out->cpu_nr_throttled) < 0)
		out->cpu_nr_throttled = 0;
	if (res_flat_keyed_get(cpustat, "throttled_usec", &throttled_us) == 0)
		out->cpu_throttled_ns = throttled_us * 1000;
	if ((r = res_cg_read_u64(dir, "memory.current", &out->mem_usage_bytes, err)) < 0)
		return r;
	if ((r = res_cg_read(dir, "memory.stat", &memstat, err)) < 0)
		return r;
	if (res_flat_keyed_get(memstat, "anon", &out->mem_anon_bytes) < 0 ||
	    res_flat_keyed_get(memstat, "file", &out->mem_file_bytes) < 0)
		return vr_error_set(err, EPROTO, "%s/memory.stat lacks anon or file", dir);
	if (res_cg_exists(dir, "memory.swap.current") &&
	    (r = res_cg_read_u64(dir, "memory.swap.current", &out->mem_swap_bytes, err)) < 0)
		return r;
	return 0;
}

static int v2_lift_cpu_limit(struct res_cgroup *cg, struct vr_error **err)
{
	return res_cg_writef(err, cg->dir[RES_CTL_CPU], "cpu.max", "max %u", RES_CPU_PERIOD_US);
}

const struct res_cgroup_ops res_cgroup_v2_ops = {
	.version = "v2",
	.create = v2_create,
	.apply = v2_apply,
	.read_values = v2_read_values,
	.usage = v2_usage,
	.lift_cpu_limit = v2_lift_cpu_limit,
};
