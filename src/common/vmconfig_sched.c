/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The resource-allocation keys of a .vmx, as vSphere writes them:
 *   sched.cpu.shares = "low" | "normal" | "high" | N
 *   sched.cpu.min    = reservation in MHz
 *   sched.cpu.max    = limit in MHz ("-1" or absent: unlimited)
 *   sched.mem.shares / sched.mem.min / sched.mem.max (MiB)
 *   sched.scsi0:1.shares, sched.scsi0:1.throughputCap (I/O per second,
 *   written "500" or "500IOPS")
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"

#define VM_MAX_MHZ (1000u * 1000u * 1000u) /* far above any host */

int vm_shares_parse(const char *s, struct vm_shares *out)
{
	if (!s)
		return -EINVAL;
	if (strcasecmp(s, "normal") == 0) {
		*out = (struct vm_shares){ .level = VM_SHARES_NORMAL };
		return 0;
	}
	if (strcasecmp(s, "low") == 0) {
		*out = (struct vm_shares){ .level = VM_SHARES_LOW };
		return 0;
	}
	if (strcasecmp(s, "high") == 0) {
		*out = (struct vm_shares){ .level = VM_SHARES_HIGH };
		return 0;
	}
	uint64_t v;
	int r = parse_u64(s, 1, VM_SHARES_MAX, &v);
	if (r < 0)
		return r;
	*out = (struct vm_shares){ .level = VM_SHARES_CUSTOM, .custom = (uint32_t)v };
	return 0;
}

const char *vm_shares_level_name(enum vm_shares_level l)
{
	switch (l) {
	case VM_SHARES_LOW:
		return "low";
	case VM_SHARES_HIGH:
		return "high";
	case VM_SHARES_CUSTOM:
		return "custom";
	case VM_SHARES_NORMAL:
		break;
	}
	return "normal";
}

char *vm_shares_format(const struct vm_shares *s)
{
	if (s->level == VM_SHARES_CUSTOM)
		return xasprintf("%u", s->custom);
	return xstrdup(vm_shares_level_name(s->level));
}

static uint64_t level_value(const struct vm_shares *s, uint64_t normal_per_unit, uint64_t units)
{
	uint64_t v;
	switch (s->level) {
	case VM_SHARES_CUSTOM:
		return s->custom;
	case VM_SHARES_LOW:
		v = normal_per_unit / 2 * units;
		break;
	case VM_SHARES_HIGH:
		v = normal_per_unit * 2 * units;
		break;
	case VM_SHARES_NORMAL:
	default:
		v = normal_per_unit * units;
		break;
	}
	/* Named levels scale with the VM and are not capped (as in vSphere). */
	return v < 1 ? 1 : v;
}

uint64_t vm_sched_cpu_shares(const struct vm_config *cfg)
{
	return level_value(&cfg->sched.cpu_shares, 1000, cfg->vcpus ? cfg->vcpus : 1);
}

uint64_t vm_sched_mem_shares(const struct vm_config *cfg)
{
	return level_value(&cfg->sched.mem_shares, 10, cfg->memory_mib);
}

uint64_t vm_sched_disk_shares(const struct vm_disk *d)
{
	return level_value(&d->shares, 1000, 1);
}

static int get_shares(const struct vmx *vmx, const char *source, const char *key,
		      struct vm_shares *out, struct vr_error **err)
{
	const char *v = vmx_get(vmx, key);
	*out = (struct vm_shares){ .level = VM_SHARES_NORMAL };
	if (!v)
		return 0;
	if (vm_shares_parse(v, out) < 0)
		return vr_error_set(err, EINVAL,
				    "%s: %s = \"%.64s\" is not low, normal, high or a number of "
				    "shares from 1 to %u",
				    source, key, v, VM_SHARES_MAX);
	return 0;
}

/* Absent, "-1" or "unlimited": VM_UNLIMITED. */
static int get_limit(const struct vmx *vmx, const char *source, const char *key,
		     uint64_t max, const char *unit, int64_t *out, struct vr_error **err)
{
	const char *v = vmx_get(vmx, key);
	*out = VM_UNLIMITED;
	if (!v || strcmp(v, "-1") == 0 || strcasecmp(v, "unlimited") == 0)
		return 0;
	uint64_t n;
	if (parse_u64(v, 0, max, &n) < 0)
		return vr_error_set(err, EINVAL,
				    "%s: %s = \"%.64s\" is not a limit in %s (0..%llu, or -1 for "
				    "none)",
				    source, key, v, unit, (unsigned long long)max);
	*out = (int64_t)n;
	return 0;
}

static int get_amount(const struct vmx *vmx, const char *source, const char *key,
		      uint64_t max, const char *unit, uint64_t *out, struct vr_error **err)
{
	const char *v = vmx_get(vmx, key);
	*out = 0;
	if (!v)
		return 0;
	if (parse_u64(v, 0, max, out) < 0)
		return vr_error_set(err, EINVAL, "%s: %s = \"%.64s\" is not a reservation in %s "
				    "(0..%llu)",
				    source, key, v, unit, (unsigned long long)max);
	return 0;
}

static int parse_disk_sched(const struct vmx *vmx, const char *source, struct vm_disk *d,
			    struct vr_error **err)
{
	char key[64];
	snprintf(key, sizeof(key), "sched.%s%u:%u.shares", vm_disk_bus_name(d->bus),
		 d->controller, d->unit);
	int r = get_shares(vmx, source, key, &d->shares, err);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "sched.%s%u:%u.throughputCap", vm_disk_bus_name(d->bus),
		 d->controller, d->unit);
	const char *v = vmx_get(vmx, key);
	d->iops_limit = 0;
	if (!v || strcmp(v, "-1") == 0 || strcasecmp(v, "off") == 0)
		return 0;
	char num[32];
	size_t n = strlen(v);
	if (n > 4 && strcasecmp(v + n - 4, "IOPS") == 0)
		n -= 4;
	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, v, n);
	num[n] = '\0';
	if (parse_u64(num, 1, 10u * 1000u * 1000u, &d->iops_limit) < 0)
		goto bad;
	return 0;
bad:
	return vr_error_set(err, EINVAL,
			    "%s: %s = \"%.64s\" is not a number of I/O operations per second "
			    "(1..10000000, or -1 for no limit)",
			    source, key, v);
}

/* "all", or CPU numbers and ranges: "0,2-3". */
static int get_affinity(const struct vmx *vmx, const char *source, uint64_t *out,
			struct vr_error **err)
{
	const char *v = vmx_get(vmx, "sched.cpu.affinity");
	*out = 0;
	if (!v || strcasecmp(v, "all") == 0)
		return 0;
	_cleanup_free_ char *copy = xstrdup(v);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		char *dash = strchr(t, '-');
		uint64_t a, b;
		if (dash)
			*dash = '\0';
		if (parse_u64(t, 0, 63, &a) < 0 || (dash && parse_u64(dash + 1, 0, 63, &b) < 0) ||
		    (dash && b < a))
			return vr_error_set(err, EINVAL,
					    "%s: sched.cpu.affinity = \"%.64s\" is not \"all\" or a "
					    "list of host CPUs 0..63 (\"0,2-3\")",
					    source, v);
		if (!dash)
			b = a;
		for (uint64_t c = a; c <= b; c++)
			*out |= 1ull << c;
	}
	if (!*out)
		return vr_error_set(err, EINVAL, "%s: sched.cpu.affinity = \"%.64s\" names no CPU",
				    source, v);
	return 0;
}

int vm_sched_parse(const struct vmx *vmx, const char *source, struct vm_config *cfg,
		   struct vr_error **err)
{
	struct vm_sched *s = &cfg->sched;
	int r;
	if ((r = get_shares(vmx, source, "sched.cpu.shares", &s->cpu_shares, err)) < 0 ||
	    (r = get_amount(vmx, source, "sched.cpu.min", VM_MAX_MHZ, "MHz", &s->cpu_min_mhz,
			    err)) < 0 ||
	    (r = get_limit(vmx, source, "sched.cpu.max", VM_MAX_MHZ, "MHz", &s->cpu_max_mhz,
			   err)) < 0 ||
	    (r = get_shares(vmx, source, "sched.mem.shares", &s->mem_shares, err)) < 0 ||
	    (r = get_amount(vmx, source, "sched.mem.min", VM_MAX_MEMORY_MIB, "MiB",
			    &s->mem_min_mib, err)) < 0 ||
	    (r = get_limit(vmx, source, "sched.mem.max", VM_MAX_MEMORY_MIB, "MiB",
			   &s->mem_max_mib, err)) < 0 ||
	    (r = get_affinity(vmx, source, &s->cpu_affinity, err)) < 0)
		return r;
	if (s->cpu_max_mhz != VM_UNLIMITED && s->cpu_min_mhz > (uint64_t)s->cpu_max_mhz)
		return vr_error_set(err, EINVAL,
				    "%s: the CPU reservation (sched.cpu.min = %llu MHz) is above "
				    "the CPU limit (sched.cpu.max = %lld MHz)",
				    source, (unsigned long long)s->cpu_min_mhz,
				    (long long)s->cpu_max_mhz);
	if (s->cpu_max_mhz == 0)
		return vr_error_set(err, EINVAL,
				    "%s: sched.cpu.max = 0 would never let the VM run; use -1 for "
				    "no limit",
				    source);
	if (s->mem_min_mib > cfg->memory_mib)
		return vr_error_set(err, EINVAL,
				    "%s: the memory reservation (sched.mem.min = %llu MiB) is above "
				    "the VM's memory (memsize = %llu MiB)",
				    source, (unsigned long long)s->mem_min_mib,
				    (unsigned long long)cfg->memory_mib);
	if (s->mem_max_mib != VM_UNLIMITED && s->mem_min_mib > (uint64_t)s->mem_max_mib)
		return vr_error_set(err, EINVAL,
				    "%s: the memory reservation (sched.mem.min = %llu MiB) is above "
				    "the memory limit (sched.mem.max = %lld MiB)",
				    source, (unsigned long long)s->mem_min_mib,
				    (long long)s->mem_max_mib);
	if (s->mem_max_mib != VM_UNLIMITED && s->mem_max_mib < VM_MIN_MEMORY_MIB)
		return vr_error_set(err, EINVAL,
				    "%s: sched.mem.max = %lld MiB is below the smallest VM (%u MiB)",
				    source, (long long)s->mem_max_mib, VM_MIN_MEMORY_MIB);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		r = parse_disk_sched(vmx, source, &cfg->disks[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}
