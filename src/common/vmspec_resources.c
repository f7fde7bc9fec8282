/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource allocation settings between the REST API and the .vmx
 * (vmspec.h): {"cpu": {"shares", "reservation_mhz", "limit_mhz"},
 * "memory": {"shares", "reservation_mib", "limit_mib"},
 * "disks": {"scsi0:0": {"shares", "iops_limit"}}}.  Shares are "low",
 * "normal", "high" or a number; a limit of -1 is none.
 */
#include "common/vmspec.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"

static json_t *shares_json(const struct vm_shares *s, uint32_t resolved)
{
	return json_pack("{s:s, s:I}", "level", vm_shares_level_name(s->level), "shares",
			 (json_int_t)resolved);
}

static json_t *limit_json(int64_t v)
{
	return v == VM_UNLIMITED ? json_integer(-1) : json_integer((json_int_t)v);
}

json_t *vmspec_resources_json(const struct vm_config *cfg)
{
	const struct vm_sched *s = &cfg->sched;
	json_t *disks = json_object();
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK)
			continue;
		char slot[32];
		snprintf(slot, sizeof(slot), "%s%u:%u", vm_disk_bus_name(d->bus), d->controller,
			 d->unit);
		json_object_set_new(disks, slot,
				    json_pack("{s:o, s:I}", "shares",
					      shares_json(&d->shares, vm_sched_disk_shares(d)),
					      "iops_limit", (json_int_t)d->iops_limit));
	}
	json_t *aff = json_array();
	for (unsigned c = 0; c < 64; c++)
		if (s->cpu_affinity & (1ull << c))
			json_array_append_new(aff, json_integer(c));
	return json_pack("{s:{s:o, s:I, s:o, s:o}, s:{s:o, s:I, s:o}, s:o}", "cpu", "shares",
			 shares_json(&s->cpu_shares, vm_sched_cpu_shares(cfg)), "reservation_mhz",
			 (json_int_t)s->cpu_min_mhz, "limit_mhz", limit_json(s->cpu_max_mhz),
			 "affinity", s->cpu_affinity ? aff : (json_decref(aff), json_string("all")),
			 "memory", "shares", shares_json(&s->mem_shares, vm_sched_mem_shares(cfg)),
			 "reservation_mib", (json_int_t)s->mem_min_mib, "limit_mib",
			 limit_json(s->mem_max_mib), "disks", disks);
}

/* "high", or a number: written as the .vmx spells it. */
static int set_shares(struct vmx *vmx, const char *key, const json_t *v, const char *what,
		      struct vr_error **err)
{
	struct vm_shares s;
	char buf[32];
	const char *text = json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		text = buf;
	}
	if (!text || vm_shares_parse(text, &s) < 0)
		return vr_error_set(err, EINVAL,
				    "%s shares must be \"low\", \"normal\", \"high\" or a number "
				    "from 1 to %u",
				    what, VM_SHARES_MAX);
	_cleanup_free_ char *f = vm_shares_format(&s);
	vmx_set(vmx, key, f);
	return 0;
}

static int set_number(struct vmx *vmx, const char *key, const json_t *v, bool limit,
		      const char *what, struct vr_error **err)
{
	if (!json_is_integer(v) || json_integer_value(v) < (limit ? -1 : 0))
		return vr_error_set(err, EINVAL, "%s must be %s", what,
				    limit ? "a whole number, or -1 for no limit"
					  : "a whole number, 0 or more");
	if (limit && json_integer_value(v) == -1)
		vmx_remove(vmx, key);
	else if (!limit && json_integer_value(v) == 0)
		vmx_remove(vmx, key);
	else
		vmx_setf(vmx, key, "%lld", (long long)json_integer_value(v));
	return 0;
}

/* "all" or a list of CPU numbers. */
static int set_affinity(struct vmx *vmx, const json_t *v, struct vr_error **err)
{
	if (json_is_string(v) && strcmp(json_string_value(v), "all") == 0) {
		vmx_remove(vmx, "sched.cpu.affinity");
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
		goto bad;
	char buf[64 * 4] = "";
	size_t len = 0, i;
	json_t *c;
	json_array_foreach(v, i, c)
	{
		if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 63)
			goto bad;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
					(long long)json_integer_value(c));
	}
	vmx_set(vmx, "sched.cpu.affinity", buf);
	return 0;
bad:
	return vr_error_set(err, EINVAL,
			    "resources.cpu.affinity must be \"all\" or a list of host CPU numbers "
			    "(0..63)");
}

static int section(struct vmx *vmx, const json_t *o, const char *name, const char *unit,
		   struct vr_error **err)
{
	if (!o)
		return 0;
	if (!json_is_object(o))
		return vr_error_set(err, EINVAL, "resources.%s must be an object", name);
	const char *key;
	json_t *v;
	char vk[64], what[64];
	json_object_foreach((json_t *)o, key, v)
	{
		int r;
		snprintf(what, sizeof(what), "resources.%s.%s", name, key);
		const char *short_name = strcmp(name, "cpu") == 0 ? "cpu" : "mem";
		if (strcmp(key, "shares") == 0) {
			snprintf(vk, sizeof(vk), "sched.%s.shares", short_name);
			r = set_shares(vmx, vk, v, what, err);
		} else if (strncmp(key, "reservation_", 12) == 0 && strcmp(key + 12, unit) == 0) {
			snprintf(vk, sizeof(vk), "sched.%s.min", short_name);
			r = set_number(vmx, vk, v, false, what, err);
		} else if (strcmp(name, "cpu") == 0 && strcmp(key, "affinity") == 0) {
			r = set_affinity(vmx, v, err);
		} else if (strncmp(key, "limit_", 6) == 0 && strcmp(key + 6, unit) == 0) {
			snprintf(vk, sizeof(vk), "sched.%s.max", short_name);
			r = set_number(vmx, vk, v, true, what, err);
		} else {
			r = vr_error_set(err, EINVAL,
					 "resources.%s has no member \"%s\" (shares, reservation_%s, "
					 "limit_%s)",
					 name, key, unit, unit);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int vmspec_resources_to_vmx(struct vmx *vmx, const json_t *res, struct vr_error **err)
{
	if (!json_is_object(res))
		return vr_error_set(err, EINVAL, "resources must be an object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)res, key, v)
	{
		if (strcmp(key, "cpu") != 0 && strcmp(key, "memory") != 0 &&
		    strcmp(key, "disks") != 0)
			return vr_error_set(err, EINVAL,
					    "resources has no member \"%s\" (cpu, memory, disks)", key);
	}
	int r = section(vmx, json_object_get(res, "cpu"), "cpu", "mhz", err);
	if (r == 0)
		r = section(vmx, json_object_get(res, "memory"), "memory", "mib", err);
	if (r < 0)
		return r;
	json_t *disks = json_object_get(res, "disks");
	if (!disks)
		return 0;
	if (!json_is_object(disks))
		return vr_error_set(err, EINVAL, "resources.disks must be an object keyed by slot");
	const char *slot;
	json_t *d;
	json_object_foreach(disks, slot, d)
	{
		char k[64], present[64];
		snprintf(present, sizeof(present), "%s.present", slot);
		if (strlen(slot) > 24 || !strchr(slot, ':') || !vmx_get(vmx, present))
			return vr_error_set(err, ENOENT, "resources.disks: the VM has no disk \"%.32s\"",
					    slot);
		if (!json_is_object(d))
			return vr_error_set(err, EINVAL, "resources.disks.%s must be an object", slot);
		const char *m;
		json_object_foreach(d, m, v)
		{
			char what[96];
			snprintf(what, sizeof(what), "resources.disks.%s.%s", slot, m);
			if (strcmp(m, "shares") == 0) {
				snprintf(k, sizeof(k), "sched.%s.shares", slot);
				r = set_shares(vmx, k, v, what, err);
			} else if (strcmp(m, "iops_limit") == 0) {
				snprintf(k, sizeof(k), "sched.%s.throughputCap", slot);
				r = set_number(vmx, k, v, false, what, err);
			} else {
				r = vr_error_set(err, EINVAL,
						 "resources.disks.%s has no member \"%s\" (shares, "
						 "iops_limit)",
						 slot, m);
			}
			if (r < 0)
				return r;
		}
	}
	return 0;
}
