/* SPDX-License-Identifier: Apache-2.0 */
/* Resource allocation in `vireo vm reconfigure` and `vm info` (vm_resources.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/vm_resources.h"
#include "common/jsonutil.h"
#include "common/util.h"

bool cli_resources_is_opt(int opt)
{
	return opt >= CLI_OPT_CPU_SHARES && opt <= CLI_OPT_DISK_IOPS;
}

static json_t *section(json_t *body, const char *name)
{
	json_t *res = json_object_get(body, "resources");
	if (!res) {
		res = json_object();
		json_object_set_new(body, "resources", res);
	}
	json_t *s = json_object_get(res, name);
	if (!s) {
		s = json_object();
		json_object_set_new(res, name, s);
	}
	return s;
}

/* "low", "normal", "high" or a number: sent as given (hostd checks the range). */
static json_t *shares_value(const char *arg)
{
	uint64_t n;
	if (parse_u64(arg, 1, UINT32_MAX, &n) == 0)
		return json_integer((json_int_t)n);
	return json_string(arg);
}

/* A number, or -1 / "unlimited" for a limit. */
static int amount(const char *cmd, const char *opt, const char *arg, bool limit, json_t **out)
{
	uint64_t n;
	if (limit && (strcmp(arg, "-1") == 0 || strcmp(arg, "unlimited") == 0)) {
		*out = json_integer(-1);
		return 0;
	}
	if (parse_u64(arg, 0, 1ull << 40, &n) < 0)
		return cli_usage_error(cmd, "%s \"%s\" is not a whole number%s", opt, arg,
				       limit ? " (or -1 / unlimited)" : "");
	*out = json_integer((json_int_t)n);
	return 0;
}

int cli_resources_opt(const char *cmd, int opt, const char *arg, json_t *body)
{
	json_t *v = NULL;
	int r = 0;
	switch (opt) {
	case CLI_OPT_CPU_SHARES:
		json_object_set_new(section(body, "cpu"), "shares", shares_value(arg));
		return 0;
	case CLI_OPT_MEM_SHARES:
		json_object_set_new(section(body, "memory"), "shares", shares_value(arg));
		return 0;
	case CLI_OPT_CPU_RESERVATION:
		if ((r = amount(cmd, "--cpu-reservation", arg, false, &v)) == 0)
			json_object_set_new(section(body, "cpu"), "reservation_mhz", v);
		return r;
	case CLI_OPT_CPU_LIMIT:
		if ((r = amount(cmd, "--cpu-limit", arg, true, &v)) == 0)
			json_object_set_new(section(body, "cpu"), "limit_mhz", v);
		return r;
	case CLI_OPT_MEM_RESERVATION:
		if ((r = amount(cmd, "--mem-reservation", arg, false, &v)) == 0)
			json_object_set_new(section(body, "memory"), "reservation_mib", v);
		return r;
	case CLI_OPT_MEM_LIMIT:
		if ((r = amount(cmd, "--mem-limit", arg, true, &v)) == 0)
			json_object_set_new(section(body, "memory"), "limit_mib", v);
		return r;
	case CLI_OPT_CPU_AFFINITY: {
		if (strcmp(arg, "all") == 0) {
			json_object_set_new(section(body, "cpu"), "affinity", json_string("all"));
			return 0;
		}
		json_t *a = json_array();
		_cleanup_free_ char *copy = xstrdup(arg);
		char *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			uint64_t c;
			if (parse_u64(t, 0, 63, &c) < 0) {
				json_decref(a);
				return cli_usage_error(cmd, "--cpu-affinity \"%s\" is not \"all\" or "
							    "CPU numbers separated by ','",
						       arg);
			}
			json_array_append_new(a, json_integer((json_int_t)c));
		}
		json_object_set_new(section(body, "cpu"), "affinity", a);
		return 0;
	}
	case CLI_OPT_DISK_SHARES:
	case CLI_OPT_DISK_IOPS: {
		const char *eq = strchr(arg, '=');
		const char *name = opt == CLI_OPT_DISK_SHARES ? "--disk-shares" : "--disk-iops";
		if (!eq || eq == arg || !eq[1])
			return cli_usage_error(cmd, "%s \"%s\" is not SLOT=VALUE (scsi0:0=high)", name,
					       arg);
		_cleanup_free_ char *slot = xstrndup(arg, (size_t)(eq - arg));
		json_t *disk = json_object_get(section(body, "disks"), slot);
		if (!disk) {
			disk = json_object();
			json_object_set_new(section(body, "disks"), slot, disk);
		}
		if (opt == CLI_OPT_DISK_SHARES) {
			json_object_set_new(disk, "shares", shares_value(eq + 1));
		} else if ((r = amount(cmd, name, eq + 1, false, &v)) == 0) {
			json_object_set_new(disk, "iops_limit", v);
		}
		return r;
	}
	default:
		return cli_usage_error(cmd, "bad option");
	}
}

static void print_line(const char *label, const char *text)
{
	printf("%-16s%s\n", label, text);
}

static char *shares_text(const json_t *s)
{
	const char *level = json_get_string(s, "level", "normal");
	long long n = json_get_int(s, "shares", 0);
	return strcmp(level, "custom") == 0 ? xasprintf("%lld", n) : xasprintf("%s (%lld)", level, n);
}

static char *limit_text(const json_t *o, const char *key, const char *unit)
{
	long long v = json_get_int(o, key, -1);
	return v < 0 ? xstrdup("unlimited") : xasprintf("%lld %s", v, unit);
}

void cli_resources_print(const json_t *res)
{
	if (!res)
		return;
	const json_t *cpu = json_object_get(res, "cpu"), *mem = json_object_get(res, "memory");
	_cleanup_free_ char *cs = shares_text(json_object_get(cpu, "shares"));
	_cleanup_free_ char *cl = limit_text(cpu, "limit_mhz", "MHz");
	_cleanup_free_ char *ms = shares_text(json_object_get(mem, "shares"));
	_cleanup_free_ char *ml = limit_text(mem, "limit_mib", "MiB");
	const json_t *aff = json_object_get(cpu, "affinity");
	_cleanup_free_ char *af = NULL;
	if (json_is_array(aff)) {
		_cleanup_strv_ char **parts = NULL;
		size_t i;
		json_t *c;
		json_array_foreach(aff, i, c)
			strv_pushf(&parts, "%lld", (long long)json_integer_value(c));
		af = strv_join(parts, ",");
	}
	_cleanup_free_ char *cpu_line =
		xasprintf("shares %s, reservation %lld MHz, limit %s%s%s", cs,
			  (long long)json_get_int(cpu, "reservation_mhz", 0), cl,
			  af ? ", host CPUs " : "", af ? af : "");
	_cleanup_free_ char *mem_line =
		xasprintf("shares %s, reservation %lld MiB, limit %s", ms,
			  (long long)json_get_int(mem, "reservation_mib", 0), ml);
	print_line("CPU:", cpu_line);
	print_line("Memory:", mem_line);
	const char *slot;
	json_t *d;
	json_object_foreach((json_t *)json_object_get(res, "disks"), slot, d)
	{
		_cleanup_free_ char *ds = shares_text(json_object_get(d, "shares"));
		long long iops = json_get_int(d, "iops_limit", 0);
		_cleanup_free_ char *label = xasprintf("Disk %s:", slot);
		_cleanup_free_ char *line =
			iops ? xasprintf("shares %s, limit %lld IOPS", ds, iops)
			     : xasprintf("shares %s, no IOPS limit", ds);
		print_line(label, line);
	}
}
