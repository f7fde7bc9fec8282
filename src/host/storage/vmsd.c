/* SPDX-License-Identifier: Apache-2.0 */
#include "host/storage/vmsd.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmx.h"
#include "host/storage/filename.h"

#define VMSD_VERSION_KEY "vireo.vmsdVersion"
#define VMSD_MAX_NODE 32

struct vmsd {
	struct vmsd_snapshot **snaps; /* file order */
	size_t n, cap;
	struct vmsd_snapshot *first_root;
	struct vmsd_snapshot *current;
	uint32_t last_uid;
	uint32_t *mru;
	size_t n_mru;
	struct vmx *extra; /* keys Vireo does not know, in file order */
};

static void snapshot_free(struct vmsd_snapshot *s)
{
	if (!s)
		return;
	free(s->display_name);
	free(s->description);
	free(s->filename);
	for (size_t i = 0; i < s->n_disks; i++) {
		free(s->disks[i].file_name);
		free(s->disks[i].node);
	}
	free(s->disks);
	vmx_free(s->extra);
	free(s);
}

struct vmsd *vmsd_new(void)
{
	struct vmsd *v = xcalloc(1, sizeof(*v));
	v->extra = vmx_new();
	return v;
}

void vmsd_free(struct vmsd *vmsd)
{
	if (!vmsd)
		return;
	for (size_t i = 0; i < vmsd->n; i++)
		snapshot_free(vmsd->snaps[i]);
	free(vmsd->snaps);
	free(vmsd->mru);
	vmx_free(vmsd->extra);
	free(vmsd);
}

void vmsd_freep(struct vmsd **vmsd)
{
	vmsd_free(*vmsd);
	*vmsd = NULL;
}

/* ---- queries ---- */

size_t vmsd_count(const struct vmsd *vmsd)
{
	return vmsd->n;
}

struct vmsd_snapshot *vmsd_at(const struct vmsd *vmsd, size_t i)
{
	return i < vmsd->n ? vmsd->snaps[i] : NULL;
}

struct vmsd_snapshot *vmsd_current(const struct vmsd *vmsd)
{
	return vmsd->current;
}

uint32_t vmsd_last_uid(const struct vmsd *vmsd)
{
	return vmsd->last_uid;
}

const uint32_t *vmsd_mru(const struct vmsd *vmsd, size_t *n)
{
	*n = vmsd->n_mru;
	return vmsd->mru;
}

struct vmsd_snapshot *vmsd_find_uid(const struct vmsd *vmsd, uint32_t uid)
{
	for (size_t i = 0; i < vmsd->n; i++)
		if (vmsd->snaps[i]->uid == uid)
			return vmsd->snaps[i];
	return NULL;
}

int vmsd_find_name(const struct vmsd *vmsd, const char *name, struct vmsd_snapshot **out,
		   struct vr_error **err)
{
	struct vmsd_snapshot *found = NULL;
	_cleanup_strv_ char **uids = NULL;
	for (size_t i = 0; i < vmsd->n; i++) {
		if (strcmp(vmsd->snaps[i]->display_name, name) != 0)
			continue;
		if (!found)
			found = vmsd->snaps[i];
		strv_pushf(&uids, "%u", vmsd->snaps[i]->uid);
	}
	if (!found)
		return vr_error_set(err, ENOENT, "no snapshot is named \"%s\"", name);
	if (strv_len(uids) > 1) {
		_cleanup_free_ char *list = strv_join(uids, ", ");
		return vr_error_set(err, ENOTUNIQ,
				    "%zu snapshots are named \"%s\" (uids %s); choose one by uid",
				    strv_len(uids), name, list);
	}
	*out = found;
	return 0;
}

struct vmsd_snapshot *vmsd_first_child(const struct vmsd *vmsd,
				       const struct vmsd_snapshot *parent)
{
	return parent ? parent->first_child : vmsd->first_root;
}

/* ---- tree links ---- */

static struct vmsd_snapshot **child_list(struct vmsd *vmsd, struct vmsd_snapshot *parent)
{
	return parent ? &parent->first_child : &vmsd->first_root;
}

static void link_child(struct vmsd *vmsd, struct vmsd_snapshot *parent, struct vmsd_snapshot *s)
{
	struct vmsd_snapshot **pp = child_list(vmsd, parent);
	while (*pp)
		pp = &(*pp)->next_sibling;
	*pp = s;
	s->parent = parent;
	s->next_sibling = NULL;
}

static void mru_remove(struct vmsd *vmsd, uint32_t uid)
{
	size_t j = 0;
	for (size_t i = 0; i < vmsd->n_mru; i++)
		if (vmsd->mru[i] != uid)
			vmsd->mru[j++] = vmsd->mru[i];
	vmsd->n_mru = j;
}

static void mru_touch(struct vmsd *vmsd, uint32_t uid)
{
	mru_remove(vmsd, uid);
	vmsd->mru = xrealloc(vmsd->mru, (vmsd->n_mru + 1) * sizeof(*vmsd->mru));
	memmove(vmsd->mru + 1, vmsd->mru, vmsd->n_mru * sizeof(*vmsd->mru));
	vmsd->mru[0] = uid;
	vmsd->n_mru++;
}

static void snaps_append(struct vmsd *vmsd, struct vmsd_snapshot *s)
{
	if (vmsd->n == vmsd->cap) {
		vmsd->cap = vmsd->cap ? vmsd->cap * 2 : 8;
		vmsd->snaps = xrealloc(vmsd->snaps, vmsd->cap * sizeof(*vmsd->snaps));
	}
	vmsd->snaps[vmsd->n++] = s;
}

/* ---- field checks shared by loading and adding ---- */

static bool has_control(const char *s, bool allow_tab)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7f)
			return true;
	return false;
}

static int check_display_name(const char *name, const char *source, const char *what,
			      struct vr_error **err)
{
	size_t len = strlen(name);
	if (len == 0 || len > VMSD_MAX_NAME)
		return vr_error_set(err, EINVAL, "\"%s\": %s has %zu bytes (1..%d allowed)", source,
				    what, len, VMSD_MAX_NAME);
	if (!utf8_valid(name) || has_control(name, false))
		return vr_error_set(err, EINVAL,
				    "\"%s\": %s contains control characters or invalid UTF-8", source,
				    what);
	return 0;
}

static int check_description(const char *d, const char *source, const char *what,
			     struct vr_error **err)
{
	size_t len = strlen(d);
	if (len > VMSD_MAX_DESCRIPTION)
		return vr_error_set(err, EINVAL, "\"%s\": %s has %zu bytes (at most %d allowed)",
				    source, what, len, VMSD_MAX_DESCRIPTION);
	if (!utf8_valid(d) || has_control(d, true))
		return vr_error_set(err, EINVAL,
				    "\"%s\": %s contains control characters or invalid UTF-8", source,
				    what);
	return 0;
}

/* A controller slot: letters, digits, ':', digits ("scsi0:0", "sata1:15", "nvme0:3"). */
static int check_node(const char *node, const char *source, const char *what,
		      struct vr_error **err)
{
	const char *p = node;
	size_t letters = 0, d1 = 0, d2 = 0;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
		p++, letters++;
	while (*p >= '0' && *p <= '9')
		p++, d1++;
	if (*p == ':')
		for (p++; *p >= '0' && *p <= '9'; p++)
			d2++;
	if (letters == 0 || d1 == 0 || d2 == 0 || *p || strlen(node) > VMSD_MAX_NODE)
		return vr_error_set(err, EINVAL,
				    "\"%s\": %s \"%.40s\" is not a disk slot such as \"scsi0:0\"",
				    source, what, node);
	return 0;
}

static int parse_uid(const char *s, uint32_t *out)
{
	uint64_t v;
	int r = parse_u64(s, 1, VMSD_MAX_UID, &v);
	if (r < 0)
		return r;
	*out = (uint32_t)v;
	return 0;
}

/* A signed 32-bit decimal, as VMware writes the halves of times. */
static int parse_i32(const char *s, int64_t *out)
{
	bool neg = s[0] == '-';
	uint64_t v;
	int r = parse_u64(s + neg, 0, neg ? 2147483648u : 2147483647u, &v);
	if (r < 0)
		return r;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* ---- loading ---- */

struct disk_slot {
	const char *file_name, *node;
};

/* What the file says about snapshot N, before checking. */
struct snap_slot {
	const char *uid, *filename, *display_name, *description, *time_high, *time_low;
	const char *parent, *num_disks, *type;
	struct disk_slot *disks;
	size_t n_disk_slots;
	struct vmx *extra;
};

struct load {
	const char *source;
	struct snap_slot *slots;
	size_t n_slots;
	const char **mru;
	size_t n_mru_slots;
	const char *last_uid, *current, *num_snapshots, *version;
};

static void load_clear(struct load *l)
{
	for (size_t i = 0; i < l->n_slots; i++) {
		free(l->slots[i].disks);
		vmx_free(l->slots[i].extra);
	}
	free(l->slots);
	free(l->mru);
}

/*
 * Parses a decimal index at *p (no sign, no leading zero) followed by '.',
 * and moves *p past the dot.  Returns false when the text is not of that form.
 */
static bool take_index(const char **p, size_t max, size_t *out, bool *too_big)
{
	const char *s = *p;
	size_t v = 0, n = 0;
	*too_big = false;
	while (s[n] >= '0' && s[n] <= '9') {
		if (v > max)
			*too_big = true;
		else
			v = v * 10 + (size_t)(s[n] - '0');
		n++;
	}
	if (n == 0 || s[n] != '.' || (n > 1 && s[0] == '0'))
		return false;
	if (v > max)
		*too_big = true;
	*out = v;
	*p = s + n + 1;
	return true;
}

static int classify_snapshot_key(struct load *l, const char *key, const char *value,
				 size_t num, struct vr_error **err)
{
	const char *p = key + strlen("snapshot");
	size_t idx;
	bool too_big;
	if (!take_index(&p, VMSD_MAX_SNAPSHOTS, &idx, &too_big))
		return vr_error_set(err, EINVAL,
				    "\"%s\": key \"%s\" has a malformed snapshot index", l->source,
				    key);
	if (too_big || idx >= num)
		return vr_error_set(err, EINVAL,
				    "\"%s\": key \"%s\" is present but snapshot.numSnapshots is %zu",
				    l->source, key, num);
	struct snap_slot *s = &l->slots[idx];
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{"uid", offsetof(struct snap_slot, uid)},
		{"filename", offsetof(struct snap_slot, filename)},
		{"displayName", offsetof(struct snap_slot, display_name)},
		{"description", offsetof(struct snap_slot, description)},
		{"createTimeHigh", offsetof(struct snap_slot, time_high)},
		{"createTimeLow", offsetof(struct snap_slot, time_low)},
		{"parent", offsetof(struct snap_slot, parent)},
		{"numDisks", offsetof(struct snap_slot, num_disks)},
		{"type", offsetof(struct snap_slot, type)},
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		if (strcasecmp(p, fields[i].name) == 0) {
			*(const char **)((char *)s + fields[i].off) = value;
			return 0;
		}
	}
	if (strncasecmp(p, "disk", 4) == 0 && p[4] >= '0' && p[4] <= '9') {
		const char *q = p + 4;
		size_t k;
		if (!take_index(&q, VMSD_MAX_DISKS, &k, &too_big))
			return vr_error_set(err, EINVAL,
					    "\"%s\": key \"%s\" has a malformed disk index",
					    l->source, key);
		if (too_big || k >= VMSD_MAX_DISKS)
			return vr_error_set(err, E2BIG,
					    "\"%s\": key \"%s\": a snapshot has at most %d disks",
					    l->source, key, VMSD_MAX_DISKS);
		bool is_file = strcasecmp(q, "fileName") == 0, is_node = strcasecmp(q, "node") == 0;
		if (is_file || is_node) {
			if (k >= s->n_disk_slots) {
				s->disks = xrealloc(s->disks, (k + 1) * sizeof(*s->disks));
				memset(s->disks + s->n_disk_slots, 0,
				       (k + 1 - s->n_disk_slots) * sizeof(*s->disks));
				s->n_disk_slots = k + 1;
			}
			if (is_file)
				s->disks[k].file_name = value;
			else
				s->disks[k].node = value;
			return 0;
		}
	}
	if (!s->extra)
		s->extra = vmx_new();
	vmx_set(s->extra, p, value);
	return 0;
}

static int classify_key(struct load *l, struct vmsd *v, const char *key, const char *value,
			size_t num, struct vr_error **err)
{
	if (strncasecmp(key, "snapshot.", 9) == 0) {
		const char *p = key + 9;
		if (strcasecmp(p, "lastUID") == 0) {
			l->last_uid = value;
			return 0;
		}
		if (strcasecmp(p, "current") == 0) {
			l->current = value;
			return 0;
		}
		if (strcasecmp(p, "numSnapshots") == 0)
			return 0;
		if (strncasecmp(p, "mru", 3) == 0 && p[3] >= '0' && p[3] <= '9') {
			const char *q = p + 3;
			size_t k;
			bool too_big;
			if (!take_index(&q, VMSD_MAX_SNAPSHOTS, &k, &too_big) ||
			    strcasecmp(q, "uid") != 0)
				return vr_error_set(err, EINVAL, "\"%s\": malformed key \"%s\"",
						    l->source, key);
			if (too_big || k >= num)
				return vr_error_set(err, EINVAL,
						    "\"%s\": key \"%s\" is present but snapshot.numSnapshots is %zu",
						    l->source, key, num);
			l->mru[k] = value;
			if (k + 1 > l->n_mru_slots)
				l->n_mru_slots = k + 1;
			return 0;
		}
	} else if (strncasecmp(key, "snapshot", 8) == 0 && key[8] >= '0' && key[8] <= '9') {
		return classify_snapshot_key(l, key, value, num, err);
	} else if (strcasecmp(key, VMSD_VERSION_KEY) == 0) {
		l->version = value;
		return 0;
	} else if (strcasecmp(key, ".encoding") == 0) {
		return 0;
	}
	vmx_set(v->extra, key, value);
	return 0;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static int check_encoding(const struct vmx *vmx, const char *source, struct vr_error **err)
{
	const char *enc = vmx_get(vmx, ".encoding");
	if (!enc || strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0)
		return 0;
	/* Another declared encoding is harmless only while every byte is ASCII. */
	for (size_t i = 0; i < vmx->n; i++)
		if (!is_ascii(vmx->entries[i].value))
			return vr_error_set(err, EILSEQ,
					    "\"%s\" declares the encoding \"%.40s\" and %s holds non-ASCII text; only UTF-8 is supported",
					    source, enc, vmx->entries[i].key);
	return 0;
}

static int build_snapshot(struct load *l, size_t i, struct vmsd_snapshot **out,
			  struct vr_error **err)
{
	struct snap_slot *s = &l->slots[i];
	const char *src = l->source;
	char what[64];
	if (!s->uid)
		return vr_error_set(err, EINVAL, "\"%s\": snapshot%zu.uid is missing", src, i);
	uint32_t uid;
	if (parse_uid(s->uid, &uid) < 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot%zu.uid \"%.40s\" is not a number from 1 to %u",
				    src, i, s->uid, VMSD_MAX_UID);
	if (!s->display_name)
		return vr_error_set(err, EINVAL, "\"%s\": snapshot%zu.displayName is missing", src,
				    i);
	snprintf(what, sizeof(what), "snapshot%zu.displayName", i);
	int r = check_display_name(s->display_name, src, what, err);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "snapshot%zu.description", i);
	if (s->description && (r = check_description(s->description, src, what, err)) < 0)
		return r;
	snprintf(what, sizeof(what), "snapshot%zu.filename", i);
	if (s->filename && (r = storage_file_name_check(s->filename, 0, src, what, err)) < 0)
		return r;
	int64_t t = 0;
	if (!!s->time_high != !!s->time_low)
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot%zu has only one of createTimeHigh and createTimeLow",
				    src, i);
	if (s->time_high) {
		int64_t hi, lo;
		if (parse_i32(s->time_high, &hi) < 0 || parse_i32(s->time_low, &lo) < 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot%zu.createTimeHigh/Low \"%.20s\"/\"%.20s\" are not 32-bit numbers",
					    src, i, s->time_high, s->time_low);
		if (hi < 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot%zu was created before 1970 (createTimeHigh %lld)",
					    src, i, (long long)hi);
		t = (int64_t)((uint64_t)hi << 32 | (uint32_t)lo);
	}
	enum vmsd_snapshot_type type = VMSD_SNAPSHOT_DISKS_ONLY;
	if (s->type) {
		if (strcmp(s->type, "0") == 0)
			type = VMSD_SNAPSHOT_DISKS_ONLY;
		else if (strcmp(s->type, "1") == 0)
			type = VMSD_SNAPSHOT_WITH_MEMORY;
		else
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot%zu.type \"%.20s\" is neither 0 (disks only) nor 1 (with memory)",
					    src, i, s->type);
	}
	uint64_t n_disks = 0;
	if (s->num_disks && parse_u64(s->num_disks, 0, VMSD_MAX_DISKS, &n_disks) < 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot%zu.numDisks \"%.20s\" is not a number from 0 to %d",
				    src, i, s->num_disks, VMSD_MAX_DISKS);
	if (s->n_disk_slots > n_disks)
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot%zu.disk%zu is present but snapshot%zu.numDisks is %llu",
				    src, i, s->n_disk_slots - 1, i, (unsigned long long)n_disks);

	struct vmsd_snapshot *snap = xcalloc(1, sizeof(*snap));
	snap->uid = uid;
	snap->create_time_us = t;
	snap->type = type;
	snap->display_name = xstrdup(s->display_name);
	snap->description = s->description ? xstrdup(s->description) : NULL;
	snap->filename = s->filename ? xstrdup(s->filename) : NULL;
	snap->extra = s->extra ? steal_pointer(&s->extra) : vmx_new();
	snap->disks = xcalloc(n_disks ? n_disks : 1, sizeof(*snap->disks));
	*out = snap; /* the caller frees it on error */
	for (size_t k = 0; k < n_disks; k++) {
		const struct disk_slot *d = k < s->n_disk_slots ? &s->disks[k] : NULL;
		if (!d || !d->file_name || !d->node)
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot%zu.disk%zu needs both fileName and node",
					    src, i, k);
		snprintf(what, sizeof(what), "snapshot%zu.disk%zu.fileName", i, k);
		if ((r = storage_file_name_check(d->file_name, 0, src, what, err)) < 0)
			return r;
		snprintf(what, sizeof(what), "snapshot%zu.disk%zu.node", i, k);
		if ((r = check_node(d->node, src, what, err)) < 0)
			return r;
		for (size_t j = 0; j < k; j++)
			if (strcasecmp(snap->disks[j].node, d->node) == 0)
				return vr_error_set(err, EINVAL,
						    "\"%s\": snapshot%zu has two disks at %s",
						    src, i, d->node);
		snap->disks[k].file_name = xstrdup(d->file_name);
		snap->disks[k].node = xstrdup(d->node);
		snap->n_disks = k + 1;
	}
	return 0;
}

/* Links parents, then checks that walking up from every snapshot ends at a root. */
static int link_tree(struct vmsd *v, struct load *l, struct vr_error **err)
{
	for (size_t i = 0; i < v->n; i++) {
		const char *p = l->slots[i].parent;
		if (!p)
			continue;
		uint32_t puid;
		if (parse_uid(p, &puid) < 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot%zu.parent \"%.40s\" is not a uid",
					    l->source, i, p);
		struct vmsd_snapshot *parent = vmsd_find_uid(v, puid);
		if (!parent)
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot%zu.parent %u is not the uid of any snapshot",
					    l->source, i, puid);
		v->snaps[i]->parent = parent;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t steps = 0;
		for (struct vmsd_snapshot *s = v->snaps[i]; s; s = s->parent)
			if (++steps > v->n)
				return vr_error_set(err, ELOOP,
						    "\"%s\": the parent links of snapshot uid %u (\"%s\") form a loop",
						    l->source, v->snaps[i]->uid,
						    v->snaps[i]->display_name);
	}
	for (size_t i = 0; i < v->n; i++)
		link_child(v, v->snaps[i]->parent, v->snaps[i]);
	return 0;
}

static int load_globals(struct vmsd *v, struct load *l, struct vr_error **err)
{
	const char *src = l->source;
	uint32_t max_uid = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->snaps[i]->uid > max_uid)
			max_uid = v->snaps[i]->uid;
	if (l->last_uid) {
		uint64_t last;
		if (parse_u64(l->last_uid, 0, VMSD_MAX_UID, &last) < 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot.lastUID \"%.40s\" is not a number from 0 to %u",
					    src, l->last_uid, VMSD_MAX_UID);
		v->last_uid = (uint32_t)last;
	} else if (v->n > 0) {
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot.lastUID is missing while there are snapshots",
				    src);
	}
	if (max_uid > v->last_uid)
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot uid %u is above snapshot.lastUID %u; new uids would collide",
				    src, max_uid, v->last_uid);
	if (l->current) {
		uint32_t cur;
		if (parse_uid(l->current, &cur) < 0 || !(v->current = vmsd_find_uid(v, cur)))
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot.current \"%.40s\" is not the uid of any snapshot",
					    src, l->current);
	}
	v->mru = xcalloc(l->n_mru_slots ? l->n_mru_slots : 1, sizeof(*v->mru));
	for (size_t k = 0; k < l->n_mru_slots; k++) {
		uint32_t uid;
		if (!l->mru[k])
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot.mru%zu.uid is missing but later entries exist",
					    src, k);
		if (parse_uid(l->mru[k], &uid) < 0 || !vmsd_find_uid(v, uid))
			return vr_error_set(err, EINVAL,
					    "\"%s\": snapshot.mru%zu.uid \"%.40s\" is not the uid of any snapshot",
					    src, k, l->mru[k]);
		for (size_t j = 0; j < k; j++)
			if (v->mru[j] == uid)
				return vr_error_set(err, EINVAL,
						    "\"%s\": uid %u appears twice in the snapshot.mru list",
						    src, uid);
		v->mru[v->n_mru++] = uid;
	}
	return 0;
}

int vmsd_from_vmx(const struct vmx *vmx, const char *source, struct vmsd **out,
		  struct vr_error **err)
{
	int r = check_encoding(vmx, source, err);
	if (r < 0)
		return r;
	const char *num_s = vmx_get(vmx, "snapshot.numSnapshots");
	uint64_t num = 0;
	if (num_s && parse_u64(num_s, 0, VMSD_MAX_SNAPSHOTS, &num) < 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\": snapshot.numSnapshots \"%.40s\" is not a number from 0 to %d",
				    source, num_s, VMSD_MAX_SNAPSHOTS);
	_cleanup_vmsd_ struct vmsd *v = vmsd_new();
	struct load l = {.source = source, .n_slots = num};
	l.slots = xcalloc(num ? num : 1, sizeof(*l.slots));
	l.mru = xcalloc(num ? num : 1, sizeof(*l.mru));
	for (size_t i = 0; i < vmx->n && r == 0; i++)
		r = classify_key(&l, v, vmx->entries[i].key, vmx->entries[i].value, num, err);
	if (r == 0 && l.version) {
		uint64_t ver;
		if (parse_u64(l.version, 1, UINT32_MAX, &ver) < 0)
			r = vr_error_set(err, EINVAL, "\"%s\": %s \"%.40s\" is not a version number",
					 source, VMSD_VERSION_KEY, l.version);
		else if (ver > VMSD_VERSION)
			r = vr_error_set(err, EPROTONOSUPPORT,
					 "\"%s\" has format version %llu; this Vireo reads version %d",
					 source, (unsigned long long)ver, VMSD_VERSION);
	}
	for (size_t i = 0; i < num && r == 0; i++) {
		struct vmsd_snapshot *s = NULL;
		r = build_snapshot(&l, i, &s, err);
		if (s)
			snaps_append(v, s);
		for (size_t j = 0; j < i && r == 0; j++)
			if (v->snaps[j]->uid == s->uid)
				r = vr_error_set(err, EINVAL,
						 "\"%s\": snapshot%zu and snapshot%zu have the same uid %u",
						 source, j, i, s->uid);
	}
	if (r == 0)
		r = link_tree(v, &l, err);
	if (r == 0)
		r = load_globals(v, &l, err);
	load_clear(&l);
	if (r < 0)
		return r;
	*out = steal_pointer(&v);
	return 0;
}

int vmsd_parse(const char *text, size_t len, const char *source, struct vmsd **out,
	       struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_parse(text, len, source, &vmx, err);
	if (r < 0)
		return r;
	return vmsd_from_vmx(vmx, source, out, err);
}

int vmsd_load(const char *path, struct vmsd **out, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = file_read_all(path, VMX_MAX_FILE_SIZE, &text, &len, err);
	if (r < 0)
		return r;
	return vmsd_parse(text, len, path, out, err);
}

/* ---- saving ---- */

static void time_split(int64_t t, long long *hi, long long *lo)
{
	uint64_t u = (uint64_t)t;
	uint32_t low = (uint32_t)u;
	*hi = (long long)(u >> 32);
	*lo = low >= 0x80000000u ? (long long)low - 0x100000000ll : (long long)low;
}

/*
 * Appends without looking for an existing key: every key written here is
 * distinct, and vmx_set() would make formatting quadratic.  Takes both.
 */
static void push_owned(struct vmx *v, char *key, char *value)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->entries = xrealloc(v->entries, v->cap * sizeof(*v->entries));
	}
	v->entries[v->n].key = key;
	v->entries[v->n].value = value;
	v->n++;
}

char *vmsd_format(const struct vmsd *vmsd)
{
	_cleanup_vmx_ struct vmx *out = vmx_new();
	push_owned(out, xstrdup(".encoding"), xstrdup("UTF-8"));
	push_owned(out, xstrdup(VMSD_VERSION_KEY), xasprintf("%d", VMSD_VERSION));
	push_owned(out, xstrdup("snapshot.lastUID"), xasprintf("%u", vmsd->last_uid));
	if (vmsd->current)
		push_owned(out, xstrdup("snapshot.current"), xasprintf("%u", vmsd->current->uid));
	push_owned(out, xstrdup("snapshot.numSnapshots"), xasprintf("%zu", vmsd->n));
	for (size_t k = 0; k < vmsd->n_mru; k++)
		push_owned(out, xasprintf("snapshot.mru%zu.uid", k), xasprintf("%u", vmsd->mru[k]));
	for (size_t i = 0; i < vmsd->extra->n; i++)
		push_owned(out, xstrdup(vmsd->extra->entries[i].key),
			   xstrdup(vmsd->extra->entries[i].value));
	for (size_t i = 0; i < vmsd->n; i++) {
		const struct vmsd_snapshot *s = vmsd->snaps[i];
#define PUT(suffix, ...) push_owned(out, xasprintf("snapshot%zu.%s", i, suffix), xasprintf(__VA_ARGS__))
		PUT("uid", "%u", s->uid);
		if (s->filename)
			PUT("filename", "%s", s->filename);
		PUT("displayName", "%s", s->display_name);
		if (s->description)
			PUT("description", "%s", s->description);
		if (s->create_time_us) {
			long long hi, lo;
			time_split(s->create_time_us, &hi, &lo);
			PUT("createTimeHigh", "%lld", hi);
			PUT("createTimeLow", "%lld", lo);
		}
		if (s->parent)
			PUT("parent", "%u", s->parent->uid);
		PUT("type", "%d", (int)s->type);
		PUT("numDisks", "%zu", s->n_disks);
		for (size_t k = 0; k < s->n_disks; k++) {
			push_owned(out, xasprintf("snapshot%zu.disk%zu.fileName", i, k),
				   xstrdup(s->disks[k].file_name));
			push_owned(out, xasprintf("snapshot%zu.disk%zu.node", i, k),
				   xstrdup(s->disks[k].node));
		}
		for (size_t k = 0; k < s->extra->n; k++)
			PUT(s->extra->entries[k].key, "%s", s->extra->entries[k].value);
#undef PUT
	}
	return vmx_format(out);
}

int vmsd_save(const struct vmsd *vmsd, const char *path, struct vr_error **err)
{
	_cleanup_free_ char *text = vmsd_format(vmsd);
	size_t len = strlen(text);
	_cleanup_vmsd_ struct vmsd *check = NULL;
	int r = vmsd_parse(text, len, path, &check, err);
	if (r < 0)
		return vr_error_wrap(err, "refusing to write \"%s\", it would not load again", path);
	return file_write_atomic(path, text, len, 0644, err);
}

/* ---- changes ---- */

int vmsd_snapshot_add(struct vmsd *vmsd, const struct vmsd_snapshot_spec *spec,
		      struct vmsd_snapshot **out, struct vr_error **err)
{
	const char *src = "new snapshot";
	if (vmsd->n >= VMSD_MAX_SNAPSHOTS)
		return vr_error_set(err, E2BIG, "the VM already has %d snapshots, the most allowed",
				    VMSD_MAX_SNAPSHOTS);
	if (vmsd->last_uid >= VMSD_MAX_UID)
		return vr_error_set(err, EOVERFLOW, "no snapshot uid is left (the last was %u)",
				    vmsd->last_uid);
	int r;
	if (!spec->display_name)
		return vr_error_set(err, EINVAL, "a new snapshot needs a name");
	if ((r = check_display_name(spec->display_name, src, "the name", err)) < 0)
		return r;
	if (spec->description &&
	    (r = check_description(spec->description, src, "the description", err)) < 0)
		return r;
	if (spec->filename &&
	    (r = storage_file_name_check(spec->filename, 0, src, "the state file", err)) < 0)
		return r;
	if (spec->create_time_us < 0)
		return vr_error_set(err, EINVAL, "a snapshot cannot be created before 1970");
	if (spec->type != VMSD_SNAPSHOT_DISKS_ONLY && spec->type != VMSD_SNAPSHOT_WITH_MEMORY)
		return vr_error_set(err, EINVAL, "unknown snapshot type %d", (int)spec->type);
	if (spec->n_disks > VMSD_MAX_DISKS)
		return vr_error_set(err, E2BIG, "a snapshot has at most %d disks, not %zu",
				    VMSD_MAX_DISKS, spec->n_disks);
	for (size_t k = 0; k < spec->n_disks; k++) {
		const struct vmsd_disk *d = &spec->disks[k];
		if (!d->file_name || !d->node)
			return vr_error_set(err, EINVAL, "disk %zu of a new snapshot needs a file and a slot", k);
		if ((r = storage_file_name_check(d->file_name, 0, src, "a disk", err)) < 0 ||
		    (r = check_node(d->node, src, "a disk slot", err)) < 0)
			return r;
		for (size_t j = 0; j < k; j++)
			if (strcasecmp(spec->disks[j].node, d->node) == 0)
				return vr_error_set(err, EINVAL, "two disks of a new snapshot are at %s",
						    d->node);
	}
	struct vmsd_snapshot *s = xcalloc(1, sizeof(*s));
	s->uid = ++vmsd->last_uid;
	s->display_name = xstrdup(spec->display_name);
	s->description = spec->description ? xstrdup(spec->description) : NULL;
	s->filename = spec->filename ? xstrdup(spec->filename) : NULL;
	s->create_time_us = spec->create_time_us;
	s->type = spec->type;
	s->extra = vmx_new();
	s->disks = xcalloc(spec->n_disks ? spec->n_disks : 1, sizeof(*s->disks));
	for (size_t k = 0; k < spec->n_disks; k++) {
		s->disks[k].file_name = xstrdup(spec->disks[k].file_name);
		s->disks[k].node = xstrdup(spec->disks[k].node);
	}
	s->n_disks = spec->n_disks;
	snaps_append(vmsd, s);
	link_child(vmsd, vmsd->current, s);
	vmsd->current = s;
	mru_touch(vmsd, s->uid);
	if (out)
		*out = s;
	return 0;
}

int vmsd_snapshot_remove(struct vmsd *vmsd, uint32_t uid, struct vr_error **err)
{
	size_t idx = SIZE_MAX;
	for (size_t i = 0; i < vmsd->n; i++)
		if (vmsd->snaps[i]->uid == uid)
			idx = i;
	if (idx == SIZE_MAX)
		return vr_error_set(err, ENOENT, "no snapshot has uid %u", uid);
	struct vmsd_snapshot *s = vmsd->snaps[idx];
	/* Replace s in its parent's child list by its children, in order. */
	struct vmsd_snapshot **pp = child_list(vmsd, s->parent);
	while (*pp != s)
		pp = &(*pp)->next_sibling;
	struct vmsd_snapshot *after = s->next_sibling;
	if (s->first_child) {
		*pp = s->first_child;
		struct vmsd_snapshot *c = s->first_child;
		for (;; c = c->next_sibling) {
			c->parent = s->parent;
			if (!c->next_sibling)
				break;
		}
		c->next_sibling = after;
	} else {
		*pp = after;
	}
	if (vmsd->current == s)
		vmsd->current = s->parent;
	mru_remove(vmsd, uid);
	memmove(vmsd->snaps + idx, vmsd->snaps + idx + 1, (vmsd->n - idx - 1) * sizeof(*vmsd->snaps));
	vmsd->n--;
	snapshot_free(s);
	return 0;
}

int vmsd_set_current(struct vmsd *vmsd, uint32_t uid, struct vr_error **err)
{
	if (uid == 0) {
		vmsd->current = NULL;
		return 0;
	}
	struct vmsd_snapshot *s = vmsd_find_uid(vmsd, uid);
	if (!s)
		return vr_error_set(err, ENOENT, "no snapshot has uid %u", uid);
	vmsd->current = s;
	mru_touch(vmsd, uid);
	return 0;
}
