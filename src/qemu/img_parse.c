/* SPDX-License-Identifier: Apache-2.0 */
/* Checks of qemu-img's JSON output: chains, measurements, image magic. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "qemu/img_priv.h"

#define IMG_MAX_NAME 4096
#define IMG_MAX_BITMAPS 65535
#define IMG_MAX_BITMAP_NAME 1023

static void info_clear(struct qemu_img_info *i)
{
	free(i->filename);
	free(i->format);
	free(i->backing_filename);
	free(i->full_backing_filename);
	free(i->backing_format);
	for (size_t b = 0; b < i->n_bitmaps; b++)
		free(i->bitmaps[b].name);
	free(i->bitmaps);
}

void qemu_img_chain_free(struct qemu_img_chain *chain)
{
	if (!chain)
		return;
	for (size_t i = 0; i < chain->n; i++)
		info_clear(&chain->images[i]);
	free(chain->images);
	free(chain);
}

void qemu_img_chain_freep(struct qemu_img_chain **chain)
{
	qemu_img_chain_free(*chain);
	*chain = NULL;
}

static bool is_known_format(const char *f)
{
	return strcmp(f, "raw") == 0 || strcmp(f, "qcow2") == 0 || strcmp(f, "vmdk") == 0;
}

/*
 * QEMU reads "name:rest" as protocol "name" when the ':' comes before any
 * '/', and "json:{...}" as a whole block-device description.  Only plain
 * files belong in a chain on a datastore.
 */
static bool names_protocol(const char *name)
{
	const char *colon = strchr(name, ':');
	const char *slash = strchr(name, '/');
	return colon && (!slash || colon < slash);
}

struct where {
	const char *source;
	size_t level;
	const char *file; /* the image's own name once known */
};

static int bad(const struct where *w, const char *member, const char *problem,
	       struct vr_error **err)
{
	return vr_error_set(err, EPROTO,
			    "qemu-img info of \"%s\" is invalid: level %zu: \"%s\" %s", w->source,
			    w->level, member, problem);
}

/* An optional string member: NULL when absent; else 1..IMG_MAX_NAME bytes, no NUL. */
static int get_str(json_t *obj, const char *key, bool required, const struct where *w,
		   char **out, struct vr_error **err)
{
	*out = NULL;
	json_t *v = json_object_get(obj, key);
	if (!v)
		return required ? bad(w, key, "is missing", err) : 0;
	if (!json_is_string(v))
		return bad(w, key, "is not a string", err);
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (len == 0 || len > IMG_MAX_NAME || strlen(s) != len)
		return bad(w, key, "is empty, too long or contains NUL", err);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return bad(w, key, "contains control characters", err);
	*out = xstrdup(s);
	return 0;
}

static int get_u64(json_t *obj, const char *key, bool required, uint64_t max,
		   const struct where *w, uint64_t *out, bool *present, struct vr_error **err)
{
	json_t *v = json_object_get(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return required ? bad(w, key, "is missing", err) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(w, key, "is not a non-negative integer", err);
	uint64_t n = (uint64_t)json_integer_value(v);
	if (n > max)
		return vr_error_set(err, EFBIG,
				    "image \"%s\" (level %zu of the chain of \"%s\"): %s of %llu bytes is absurd (at most %llu)",
				    w->file ? w->file : "?", w->level,
				    w->source, key, (unsigned long long)n, (unsigned long long)max);
	*out = n;
	return 0;
}

static int parse_bitmaps(json_t *bitmaps, const struct where *w, struct qemu_img_info *info,
			 struct vr_error **err)
{
	if (!json_is_array(bitmaps))
		return bad(w, "bitmaps", "is not an array", err);
	size_t n = json_array_size(bitmaps);
	if (n > IMG_MAX_BITMAPS)
		return bad(w, "bitmaps", "has too many entries", err);
	info->bitmaps = xcalloc(n ? n : 1, sizeof(*info->bitmaps));
	for (size_t i = 0; i < n; i++) {
		json_t *b = json_array_get(bitmaps, i);
		if (!json_is_object(b))
			return bad(w, "bitmaps", "holds something other than objects", err);
		struct qemu_img_bitmap *bm = &info->bitmaps[i];
		int r = get_str(b, "name", true, w, &bm->name, err);
		info->n_bitmaps = i + 1;
		if (r < 0)
			return r;
		if (strlen(bm->name) > IMG_MAX_BITMAP_NAME)
			return bad(w, "bitmaps", "has a name longer than 1023 bytes", err);
		uint64_t g;
		if ((r = get_u64(b, "granularity", true, 1ull << 31, w, &g, NULL, err)) < 0)
			return r;
		if (g < 512 || (g & (g - 1)))
			return bad(w, "granularity", "is not a power of two of at least 512", err);
		bm->granularity = g;
		json_t *flags = json_object_get(b, "flags");
		if (flags && !json_is_array(flags))
			return bad(w, "flags", "is not an array", err);
		size_t k;
		json_t *f;
		json_array_foreach(flags, k, f) {
			if (!json_is_string(f))
				return bad(w, "flags", "holds something other than strings", err);
			if (strcmp(json_string_value(f), "in-use") == 0)
				bm->in_use = true;
			else if (strcmp(json_string_value(f), "auto") == 0)
				bm->auto_enabled = true;
		}
	}
	return 0;
}

static int parse_one(json_t *obj, struct where *w, struct qemu_img_info *info,
		     struct vr_error **err)
{
	if (!json_is_object(obj))
		return vr_error_set(err, EPROTO,
				    "qemu-img info of \"%s\" is invalid: level %zu is not an object",
				    w->source, w->level);
	int r;
	if ((r = get_str(obj, "filename", true, w, &info->filename, err)) < 0 ||
	    (r = get_str(obj, "format", true, w, &info->format, err)) < 0)
		return r;
	w->file = info->filename;
	if (names_protocol(info->filename) || strncmp(info->filename, "json:", 5) == 0)
		return vr_error_set(err, EPERM,
				    "image \"%s\" (level %zu of the chain of \"%s\") is not a plain file; only files on a datastore are allowed",
				    info->filename, w->level, w->source);
	if (!is_known_format(info->format))
		return vr_error_set(err, ENOTSUP,
				    "image \"%s\" (level %zu of the chain of \"%s\") is in format \"%s\"; only raw, qcow2 and vmdk are supported",
				    info->filename, w->level, w->source, info->format);
	if ((r = get_u64(obj, "virtual-size", true, QEMU_IMG_MAX_SIZE, w, &info->virtual_size,
			 NULL, err)) < 0)
		return r;
	uint64_t actual = 0;
	bool has_actual;
	if ((r = get_u64(obj, "actual-size", false, INT64_MAX, w, &actual, &has_actual, err)) < 0)
		return r;
	info->actual_size = has_actual ? (int64_t)actual : -1;
	if ((r = get_str(obj, "backing-filename", false, w, &info->backing_filename, err)) < 0 ||
	    (r = get_str(obj, "full-backing-filename", false, w, &info->full_backing_filename,
			 err)) < 0 ||
	    (r = get_str(obj, "backing-filename-format", false, w, &info->backing_format, err)) <
		    0)
		return r;
	json_t *dirty = json_object_get(obj, "dirty-flag");
	if (dirty && !json_is_boolean(dirty))
		return bad(w, "dirty-flag", "is not a boolean", err);
	info->dirty_flag = json_is_true(dirty);
	json_t *fs = json_object_get(obj, "format-specific");
	if (fs && !json_is_object(fs))
		return bad(w, "format-specific", "is not an object", err);
	json_t *data = json_object_get(fs, "data");
	if (data && !json_is_object(data))
		return bad(w, "data", "is not an object", err);
	json_t *corrupt = json_object_get(data, "corrupt");
	if (json_is_true(corrupt))
		return vr_error_set(err, EUCLEAN,
				    "image \"%s\" (level %zu of the chain of \"%s\") is marked corrupt; repair it with qemu-img check -r all",
				    info->filename, w->level, w->source);
	json_t *bitmaps = json_object_get(data, "bitmaps");
	if (bitmaps && (r = parse_bitmaps(bitmaps, w, info, err)) < 0)
		return r;
	return 0;
}

/* How image i links to image i + 1. */
static int check_link(const struct qemu_img_chain *c, size_t i, const char *source,
		      struct vr_error **err)
{
	const struct qemu_img_info *img = &c->images[i];
	if (!img->backing_filename) {
		if (i + 1 < c->n)
			return vr_error_set(err, EPROTO,
					    "qemu-img info of \"%s\" is invalid: \"%s\" has no backing file but more images follow it",
					    source, img->filename);
		return 0;
	}
	const char *full = img->full_backing_filename ? img->full_backing_filename
						      : img->backing_filename;
	if (names_protocol(img->backing_filename) || strncmp(img->backing_filename, "json:", 5) == 0)
		return vr_error_set(err, EPERM,
				    "the backing file \"%s\" of \"%s\" is not a plain file; only files on a datastore are allowed",
				    img->backing_filename, img->filename);
	if (i + 1 == c->n)
		return vr_error_set(err, ENOENT,
				    "the backing file \"%s\" of \"%s\" is missing from the chain of \"%s\"",
				    full, img->filename, source);
	if (!img->backing_format)
		return vr_error_set(err, EINVAL,
				    "the backing file \"%s\" of \"%s\" has no recorded format, so QEMU would guess it; record it with qemu-img rebase -u -F FORMAT -b \"%s\" \"%s\"",
				    full, img->filename, img->backing_filename, img->filename);
	const struct qemu_img_info *next = &c->images[i + 1];
	if (strcmp(next->filename, full) != 0)
		return vr_error_set(err, EPROTO,
				    "qemu-img info of \"%s\" is invalid: \"%s\" has the backing file \"%s\" but the next image is \"%s\"",
				    source, img->filename, full, next->filename);
	if (strcmp(next->format, img->backing_format) != 0)
		return vr_error_set(err, EINVAL,
				    "format mismatch: \"%s\" records its backing file \"%s\" as %s, but it was opened as %s",
				    img->filename, full, img->backing_format, next->format);
	return 0;
}

int qemu_img_parse_images(const char *json, size_t len, const char *source,
			  struct qemu_img_chain **out, struct vr_error **err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return vr_error_set(err, EPROTO,
				    "qemu-img info of \"%s\" printed invalid JSON: %s (line %d)", source,
				    jerr.text, jerr.line);
	json_t *arr = doc;
	if (json_is_object(doc)) {
		arr = json_array();
		json_array_append(arr, doc);
		json_decref(doc);
	}
	int r = 0;
	_cleanup_img_chain_ struct qemu_img_chain *c = xcalloc(1, sizeof(*c));
	size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
	if (!json_is_array(arr) || n == 0)
		r = vr_error_set(err, EPROTO,
				 "qemu-img info of \"%s\" is invalid: not a non-empty array of images",
				 source);
	else if (n > QEMU_IMG_MAX_CHAIN)
		r = vr_error_set(err, E2BIG,
				 "the backing chain of \"%s\" has %zu levels; at most %d are allowed",
				 source, n, QEMU_IMG_MAX_CHAIN);
	if (r == 0)
		c->images = xcalloc(n, sizeof(*c->images));
	for (size_t i = 0; i < n && r == 0; i++) {
		struct where w = {.source = source, .level = i};
		c->n = i + 1;
		r = parse_one(json_array_get(arr, i), &w, &c->images[i], err);
	}
	json_decref(arr);
	if (r < 0)
		return r;
	*out = steal_pointer(&c);
	return 0;
}

int qemu_img_chain_check(const struct qemu_img_chain *c, const char *source,
			 struct vr_error **err)
{
	for (size_t i = 0; i < c->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->images[j].filename, c->images[i].filename) == 0)
				return vr_error_set(err, ELOOP,
						    "the backing chain of \"%s\" loops: \"%s\" is both level %zu and level %zu",
						    source, c->images[i].filename, j, i);
	for (size_t i = 0; i < c->n; i++) {
		int r = check_link(c, i, source, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int qemu_img_parse_chain(const char *json, size_t len, const char *source,
			 struct qemu_img_chain **out, struct vr_error **err)
{
	_cleanup_img_chain_ struct qemu_img_chain *c = NULL;
	int r = qemu_img_parse_images(json, len, source, &c, err);
	if (r < 0)
		return r;
	if ((r = qemu_img_chain_check(c, source, err)) < 0)
		return r;
	*out = steal_pointer(&c);
	return 0;
}

int qemu_img_parse_measure(const char *json, size_t len, uint64_t *required,
			   uint64_t *fully_allocated, struct vr_error **err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return vr_error_set(err, EPROTO, "qemu-img measure printed invalid JSON: %s",
				    jerr.text);
	json_t *req = json_object_get(doc, "required");
	json_t *full = json_object_get(doc, "fully-allocated");
	int r = 0;
	if (!json_is_integer(req) || !json_is_integer(full) || json_integer_value(req) < 0 ||
	    json_integer_value(full) < 0 ||
	    (uint64_t)json_integer_value(req) > 2 * QEMU_IMG_MAX_SIZE ||
	    (uint64_t)json_integer_value(full) > 2 * QEMU_IMG_MAX_SIZE)
		r = vr_error_set(err, EPROTO,
				 "qemu-img measure printed no valid \"required\" and \"fully-allocated\" sizes");
	else {
		*required = (uint64_t)json_integer_value(req);
		*fully_allocated = (uint64_t)json_integer_value(full);
	}
	json_decref(doc);
	return r;
}

const char *qemu_img_probe_format(const uint8_t *buf, size_t len)
{
	static const struct {
		size_t off;
		const char *magic;
		size_t len;
		const char *format;
	} magics[] = {
		{0, "QFI\xfb", 4, "qcow2"},
		{0, "KDMV", 4, "vmdk"},
		{0, "COWD", 4, "vmdk"},
		{0, "# Disk DescriptorFile", 21, "vmdk"},
		{0, "QED\0", 4, "qed"},
		{0, "conectix", 8, "vpc"},
		{0, "vhdxfile", 8, "vhdx"},
		{0, "LUKS\xba\xbe", 6, "luks"},
		{0x40, "\x7f\x10\xda\xbe", 4, "vdi"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(magics); i++)
		if (len >= magics[i].off + magics[i].len &&
		    memcmp(buf + magics[i].off, magics[i].magic, magics[i].len) == 0)
			return magics[i].format;
	return "raw";
}
