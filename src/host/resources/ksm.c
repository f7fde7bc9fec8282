/* SPDX-License-Identifier: Apache-2.0 */
#include "host/resources/ksm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"

int res_ksm_parse_value(const char *text, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || (*end != '\0' && !(end[0] == '\n' && end[1] == '\0')))
		return -EPROTO;
	*out = v;
	return 0;
}

int res_ksm_proc_stat_parse(const char *text, struct res_ksm_proc *out)
{
	bool seen_rmap = false;
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		if (len == 0)
			continue;
		_cleanup_free_ char *copy = xstrndup(line, len);
		char *sp = strchr(copy, ' ');
		if (!sp)
			return -EPROTO;
		*sp = '\0';
		const char *key = copy, *val = sp + 1;
		if (strcmp(key, "ksm_merge_any:") == 0 || strcmp(key, "ksm_mergeable:") == 0) {
			bool b;
			if (strcmp(val, "yes") == 0)
				b = true;
			else if (strcmp(val, "no") == 0)
				b = false;
			else
				return -EPROTO;
			if (strcmp(key, "ksm_merge_any:") == 0)
				out->merge_any = b;
			else
				out->mergeable = b;
			continue;
		}
		int64_t v;
		if (res_ksm_parse_value(val, &v) < 0)
			return -EPROTO;
		if (strcmp(key, "ksm_rmap_items") == 0) {
			out->rmap_items = (uint64_t)v;
			seen_rmap = true;
		} else if (strcmp(key, "ksm_zero_pages") == 0) {
			out->zero_pages = (uint64_t)v;
		} else if (strcmp(key, "ksm_process_profit") == 0) {
			out->process_profit = v;
		}
		/* ksm_merging_pages is read from its own file; unknown keys are newer kernels'. */
	}
	return seen_rmap ? 0 : -EPROTO;
}

static int read_value(const char *dir, const char *name, bool optional, bool *present, int64_t *out,
		      struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = NULL;
	if (present)
		*present = false;
	int r = file_read_all(path, 4096, &text, NULL, NULL);
	if (r == -ENOENT && optional)
		return 0;
	if (r < 0)
		return vr_error_set_errno(err, -r, "cannot read %s", path);
	if (res_ksm_parse_value(text, out) < 0)
		return vr_error_set(err, EPROTO, "%s does not hold a number", path);
	if (present)
		*present = true;
	return 0;
}

int res_ksm_read(const char *dir, struct res_ksm_stats *out, struct vr_error **err)
{
	if (!dir)
		dir = RES_KSM_DIR;
	memset(out, 0, sizeof(*out));
	struct {
		const char *name;
		uint64_t *dst;
	} fields[] = {
		{"run", &out->run},
		{"pages_shared", &out->pages_shared},
		{"pages_sharing", &out->pages_sharing},
		{"pages_unshared", &out->pages_unshared},
		{"pages_volatile", &out->pages_volatile},
		{"full_scans", &out->full_scans},
		{"pages_to_scan", &out->pages_to_scan},
		{"sleep_millisecs", &out->sleep_millisecs},
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int64_t v;
		int r = read_value(dir, fields[i].name, false, NULL, &v, err);
		if (r < 0)
			return r;
		if (v < 0)
			return vr_error_set(err, EPROTO, "%s/%s is negative", dir, fields[i].name);
		*fields[i].dst = (uint64_t)v;
	}
	int64_t v = 0;
	int r = read_value(dir, "general_profit", true, &out->has_general_profit, &v, err);
	if (r < 0)
		return r;
	out->general_profit = v;
	v = 0;
	r = read_value(dir, "ksm_zero_pages", true, &out->has_zero_pages, &v, err);
	if (r < 0)
		return r;
	out->ksm_zero_pages = (uint64_t)v;
	return 0;
}

int res_ksm_proc_read(const char *proc_root, pid_t pid, struct res_ksm_proc *out, struct vr_error **err)
{
	if (!proc_root)
		proc_root = "/proc";
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *dir = xasprintf("%s/%d", proc_root, (int)pid);
	_cleanup_free_ char *path = xasprintf("%s/ksm_stat", dir);
	_cleanup_free_ char *text = NULL;
	int r = file_read_all(path, 65536, &text, NULL, NULL);
	if (r < 0)
		return vr_error_set_errno(err, -r, "cannot read the page sharing figures of process %d (%s)",
					  (int)pid, path);
	if (res_ksm_proc_stat_parse(text, out) < 0)
		return vr_error_set(err, EPROTO, "%s is malformed", path);
	int64_t v;
	r = read_value(dir, "ksm_merging_pages", false, NULL, &v, err);
	if (r < 0)
		return r;
	out->merging_pages = (uint64_t)v;
	return 0;
}

uint64_t res_ksm_saved_bytes(const struct res_ksm_stats *s)
{
	return s->pages_sharing * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int write_value(const char *dir, const char *name, unsigned v, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%u\n", v);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open %s", path);
	ssize_t n = write(fd, buf, (size_t)len);
	if (n < 0)
		return vr_error_set_errno(err, errno, "cannot write %u to %s", v, path);
	if (n != len)
		return vr_error_set(err, EIO, "short write of %u to %s", v, path);
	return 0;
}

int res_ksm_set_run(const char *dir, unsigned run, struct vr_error **err)
{
	if (run > 2)
		return vr_error_set(err, EINVAL, "KSM run mode %u is invalid: 0 stops, 1 runs, 2 unmerges", run);
	return write_value(dir ? dir : RES_KSM_DIR, "run", run, err);
}

int res_ksm_set_scan_rate(const char *dir, unsigned pages_to_scan, unsigned sleep_millisecs,
			  struct vr_error **err)
{
	if (pages_to_scan < 1 || pages_to_scan > 100000)
		return vr_error_set(err, EINVAL, "KSM pages to scan %u is out of range 1..100000", pages_to_scan);
	if (sleep_millisecs < 1 || sleep_millisecs > 60000)
		return vr_error_set(err, EINVAL, "KSM sleep of %u ms is out of range 1..60000", sleep_millisecs);
	if (!dir)
		dir = RES_KSM_DIR;
	int r = write_value(dir, "pages_to_scan", pages_to_scan, err);
	return r < 0 ? r : write_value(dir, "sleep_millisecs", sleep_millisecs, err);
}
