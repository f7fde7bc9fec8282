/* SPDX-License-Identifier: Apache-2.0 */
/* Changed-block tracking: change IDs, bitmap names and `qemu-img map` output (pure code). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/storage/cbt.h"

#define CBT_MAX_SEQ 1000000000u

static bool parse_hex64(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 16)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
						    : 16;
		if (d == 16)
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

static bool parse_seq(const char *s, size_t len, uint32_t *out)
{
	if (len == 0 || len > 10 || (s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > CBT_MAX_SEQ)
		return false;
	*out = (uint32_t)v;
	return true;
}

int cbt_change_id_parse(const char *s, struct cbt_change_id *out, struct vr_error **err)
{
	const char *a = s ? strchr(s, '/') : NULL;
	const char *b = a ? strchr(a + 1, '/') : NULL;
	size_t dl = a ? (size_t)(a - s) : 0;
	bool ok = b && !strchr(b + 1, '/') && dl > 0 && dl <= CBT_MAX_DISK_ID;
	for (size_t i = 0; ok && i < dl; i++) {
		char c = s[i];
		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
	}
	uint64_t epoch = 0;
	uint32_t seq = 0;
	ok = ok && parse_hex64(a + 1, (size_t)(b - a - 1), &epoch) && epoch != 0 &&
	     parse_seq(b + 1, strlen(b + 1), &seq);
	if (!ok)
		return vr_error_set(err, EINVAL,
				    "\"%.80s\" is not a change ID (expected \"*\" or "
				    "DISK/EPOCH/SEQUENCE as a changes query returned it)",
				    s ? s : "");
	memcpy(out->disk, s, dl);
	out->disk[dl] = '\0';
	out->epoch = epoch;
	out->seq = seq;
	return 0;
}

char *cbt_change_id_format(const char *disk, uint64_t epoch, uint32_t seq)
{
	return xasprintf("%s/%016" PRIx64 "/%" PRIu32, disk, epoch, seq);
}

bool cbt_bitmap_name_parse(const char *name, uint64_t *epoch, uint32_t *seq)
{
	size_t pl = strlen(CBT_BITMAP_PREFIX);
	if (!name || strncmp(name, CBT_BITMAP_PREFIX, pl) != 0)
		return false;
	const char *e = name + pl;
	const char *dash = strchr(e, '-');
	if (!dash || dash - e != 16)
		return false;
	return parse_hex64(e, 16, epoch) && *epoch != 0 && parse_seq(dash + 1, strlen(dash + 1), seq);
}

char *cbt_bitmap_name(uint64_t epoch, uint32_t seq)
{
	return xasprintf(CBT_BITMAP_PREFIX "%016" PRIx64 "-%" PRIu32, epoch, seq);
}

static bool get_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

int cbt_map_parse(const char *json, size_t len, bool dirty_bitmap, uint64_t disk_size,
		  struct cbt_extent **out, size_t *n_out, struct vr_error **err)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return vr_error_set(err, EPROTO, "cannot parse qemu-img map output: %s (line %d)",
				    je.text, je.line);
	struct cbt_extent *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t pos = 0;
	int r = 0;
	if (!json_is_array(root)) {
		r = vr_error_set(err, EPROTO, "qemu-img map output is not a JSON array");
		goto out;
	}
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e) {
		uint64_t start, length;
		json_t *data = json_object_get(e, "data");
		if (!json_is_object(e) || !get_u64(e, "start", &start) ||
		    !get_u64(e, "length", &length) || !json_is_boolean(data)) {
			r = vr_error_set(err, EPROTO,
					 "qemu-img map entry %zu lacks \"start\", \"length\" or \"data\"",
					 i);
			goto out;
		}
		if (start != pos || length == 0 || length > disk_size - start) {
			r = vr_error_set(err, EPROTO,
					 "qemu-img map entry %zu (%" PRIu64 "+%" PRIu64
					 ") does not follow on at %" PRIu64 " inside the disk (%" PRIu64
					 " bytes)",
					 i, start, length, pos, disk_size);
			goto out;
		}
		pos = start + length;
		/* With x-dirty-bitmap, QEMU reports the dirty areas as holding no data. */
		if (json_is_true(data) == dirty_bitmap)
			continue;
		if (n && v[n - 1].offset + v[n - 1].length == start) {
			v[n - 1].length += length;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = (struct cbt_extent){.offset = start, .length = length};
	}
	if (pos != disk_size)
		r = vr_error_set(err, EPROTO,
				 "qemu-img map output covers %" PRIu64 " of the disk's %" PRIu64 " bytes",
				 pos, disk_size);
out:
	json_decref(root);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n_out = n;
	return 0;
}
