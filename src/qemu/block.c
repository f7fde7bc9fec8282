/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block operations on a running QEMU: devices' chains, snapshots, online
 * growth and persistent dirty bitmaps.  Block jobs are in block_job.c.
 */
#include "qemu/block.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/block_priv.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"

/* Longest device id accepted; QEMU has no limit, ours are like "scsi0-0". */
#define BLOCK_DEVICE_MAX 127
/* Deepest chain walked (img.h's limit on chains, plus the top). */
#define BLOCK_CHAIN_MAX 256

/* ---- names, deadlines, errors ---- */

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* What is wrong with name as an id of at most max characters, or NULL. */
static const char *id_problem(const char *name, size_t max)
{
	if (!name || !*name)
		return "it is empty";
	size_t len = strlen(name);
	if (len > max)
		return "it is too long";
	if (!is_letter(name[0]))
		return "it must begin with a letter";
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok(name[i]))
			return "it may only hold letters, digits, '-', '_' and '.'";
	return NULL;
}

int block_check_device(const char *device, struct vr_error **err)
{
	const char *why = id_problem(device, BLOCK_DEVICE_MAX);
	if (why) {
		_cleanup_free_ char *shown = xstrndup(device ? device : "", 64);
		return vr_error_set(err, EINVAL, "invalid device id \"%s\": %s (at most %d characters)",
				    shown, why, BLOCK_DEVICE_MAX);
	}
	return 0;
}

static bool qemu_generated_name(const char *name)
{
	if (strncmp(name, "#block", 6) != 0 || !name[6] || strlen(name) > BLOCK_NODE_NAME_MAX)
		return false;
	for (const char *p = name + 6; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

int block_check_node(const char *what, const char *name, size_t max, bool existing,
		     struct vr_error **err)
{
	if (existing && name && qemu_generated_name(name))
		return 0;
	const char *why = id_problem(name, max);
	if (why) {
		_cleanup_free_ char *shown = xstrndup(name ? name : "", 64);
		return vr_error_set(err, EINVAL,
				    "invalid %s \"%s\": %s (a node name has at most %zu letters, "
				    "digits, '-', '_' or '.', beginning with a letter)",
				    what, shown, why, max);
	}
	return 0;
}

uint64_t block_deadline(int timeout_ms)
{
	return timeout_ms <= 0 ? UINT64_MAX : time_mono_ms() + (uint64_t)timeout_ms;
}

int block_exec(struct qmp *q, const char *command, json_t *args, uint64_t deadline, json_t **ret,
	       struct vr_error **err)
{
	int ms = 0; /* qmp_execute: no limit */
	if (deadline != UINT64_MAX) {
		uint64_t now = time_mono_ms();
		if (now >= deadline) {
			json_decref(args);
			if (ret)
				*ret = NULL;
			return vr_error_set(err, ETIMEDOUT,
					    "QMP command \"%s\" not sent: the time allowed ran out",
					    command);
		}
		ms = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
	}
	return qmp_execute(q, command, args, ms, ret, err);
}

void block_error_note(struct vr_error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *note = NULL;
	if (vasprintf(&note, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *msg = xasprintf("%s (%s)", (*err)->msg, note);
	free(note);
	free((*err)->msg);
	(*err)->msg = msg;
}

/* ---- the block layer as QEMU reports it ---- */

static const char *jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int block_named_nodes(struct qmp *q, uint64_t deadline, json_t **out, struct vr_error **err)
{
	int r = block_exec(q, "query-named-block-nodes", json_pack("{s:b}", "flat", 1), deadline,
			   out, err);
	if (r == 0 && !json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return vr_error_set(err, EPROTO, "query-named-block-nodes did not return a list");
	}
	return r;
}

json_t *block_named_node(json_t *nodes, const char *name)
{
	size_t i;
	json_t *n;
	json_array_foreach(nodes, i, n) {
		const char *nn = jstr(n, "node-name");
		if (nn && strcmp(nn, name) == 0)
			return n;
	}
	return NULL;
}

/*
 * Whether a query-block "qdev" names device: QEMU gives the id itself, or
 * for devices whose drive sits on an inner object (virtio-blk) a QOM path
 * such as "/machine/peripheral/virtio0/virtio-backend".
 */
bool block_qdev_matches(const char *qdev, const char *device)
{
	static const char prefix[] = "/machine/peripheral/";
	if (!qdev)
		return false;
	if (strcmp(qdev, device) == 0)
		return true;
	if (strncmp(qdev, prefix, sizeof(prefix) - 1) != 0)
		return false;
	const char *rest = qdev + sizeof(prefix) - 1;
	size_t n = strlen(device);
	return strncmp(rest, device, n) == 0 && (rest[n] == '/' || rest[n] == '\0');
}

/* The device's "inserted" member in a query-block reply (borrowed). */
static int device_inserted(json_t *blocks, const char *device, json_t **inserted,
			   struct vr_error **err)
{
	size_t i;
	json_t *b;
	json_array_foreach(blocks, i, b) {
		if (!block_qdev_matches(jstr(b, "qdev"), device))
			continue;
		*inserted = json_object_get(b, "inserted");
		if (!json_is_object(*inserted) || !jstr(*inserted, "node-name"))
			return vr_error_set(err, ENOMEDIUM, "disk device \"%s\" has no medium",
					    device);
		return 0;
	}
	_cleanup_strv_ char **ids = NULL;
	json_array_foreach(blocks, i, b) {
		const char *qdev = jstr(b, "qdev");
		if (qdev && *qdev)
			strv_push(&ids, qdev);
	}
	_cleanup_free_ char *list = ids ? strv_join(ids, ", ") : xstrdup("none");
	return vr_error_set(err, ENOENT, "QEMU has no disk device \"%s\" (its disk devices: %s)",
			    device, list);
}

static int query_block(struct qmp *q, uint64_t deadline, json_t **out, struct vr_error **err)
{
	int r = block_exec(q, "query-block", NULL, deadline, out, err);
	if (r == 0 && !json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return vr_error_set(err, EPROTO, "query-block did not return a list");
	}
	return r;
}

int qemu_block_top_node(struct qmp *q, const char *device, char **node_out, int timeout_ms,
			struct vr_error **err)
{
	*node_out = NULL;
	int r = block_check_device(device, err);
	if (r < 0)
		return r;
	json_t *blocks = NULL, *inserted = NULL;
	r = query_block(q, block_deadline(timeout_ms), &blocks, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot find the top node of disk device \"%s\"", device);
	r = device_inserted(blocks, device, &inserted, err);
	if (r == 0)
		*node_out = xstrdup(jstr(inserted, "node-name"));
	json_decref(blocks);
	return r;
}

/* ---- chains ---- */

void qemu_block_chain_free(struct qemu_block_chain *chain)
{
	if (!chain)
		return;
	for (size_t i = 0; i < chain->n; i++) {
		struct qemu_block_image *im = &chain->images[i];
		free(im->node_name);
		free(im->file_node);
		free(im->filename);
		free(im->format);
		free(im->backing_name);
	}
	free(chain->images);
	free(chain);
}

void qemu_block_chain_freep(struct qemu_block_chain **chain)
{
	qemu_block_chain_free(*chain);
	*chain = NULL;
}

/* The block graph: ids of nodes by name, and their children by edge name. */
static json_int_t graph_id(json_t *graph, const char *name)
{
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(graph, "nodes"), i, n) {
		const char *nn = jstr(n, "name"), *type = jstr(n, "type");
		if (nn && type && strcmp(type, "block-driver") == 0 && strcmp(nn, name) == 0 &&
		    json_is_integer(json_object_get(n, "id")))
			return json_integer_value(json_object_get(n, "id"));
	}
	return -1;
}

static const char *graph_name(json_t *graph, json_int_t id)
{
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(graph, "nodes"), i, n)
		if (json_integer_value(json_object_get(n, "id")) == id &&
		    json_is_integer(json_object_get(n, "id")))
			return jstr(n, "name");
	return NULL;
}

static const char *graph_child(json_t *graph, const char *parent, const char *edge)
{
	json_int_t pid = graph_id(graph, parent);
	if (pid < 0)
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(graph, "edges"), i, e) {
		const char *en = jstr(e, "name");
		json_t *p = json_object_get(e, "parent"), *c = json_object_get(e, "child");
		if (en && strcmp(en, edge) == 0 && json_is_integer(p) && json_is_integer(c) &&
		    json_integer_value(p) == pid)
			return graph_name(graph, json_integer_value(c));
	}
	return NULL;
}

/* Filters QEMU inserts above or inside a chain while a block job runs. */
static bool job_filter(const char *drv)
{
	return strcmp(drv, "mirror_top") == 0 || strcmp(drv, "commit_top") == 0;
}

/*
 * The file under a format node: its protocol node's name, through
 * protocol-level filters (blkdebug's "image", throttle's "file").
 */
static const char *node_filename(json_t *graph, json_t *nodes, const char *name)
{
	const char *cur = graph_child(graph, name, "file");
	for (int depth = 0; cur && depth < 8; depth++) {
		json_t *info = block_named_node(nodes, cur);
		const char *drv = jstr(info, "drv");
		if (drv && (strcmp(drv, "file") == 0 || strcmp(drv, "host_device") == 0))
			return jstr(info, "file");
		const char *next = graph_child(graph, cur, "file");
		cur = next ? next : graph_child(graph, cur, "image");
	}
	return NULL;
}

static int chain_walk(const char *device, const char *top, json_t *graph, json_t *nodes,
		      struct qemu_block_chain **out, struct vr_error **err)
{
	_cleanup_block_chain_ struct qemu_block_chain *c = xcalloc(1, sizeof(*c));
	const char *name = top;
	for (int steps = 0; name; steps++) {
		if (steps > BLOCK_CHAIN_MAX)
			return vr_error_set(err, ELOOP,
					    "the chain of disk device \"%s\" is deeper than %d images",
					    device, BLOCK_CHAIN_MAX);
		json_t *info = block_named_node(nodes, name);
		const char *drv = jstr(info, "drv");
		if (!drv)
			return vr_error_set(err, EPROTO,
					    "QEMU shows node \"%s\" in the chain of disk device \"%s\" "
					    "but does not describe it",
					    name, device);
		if (job_filter(drv)) {
			name = graph_child(graph, name, "backing");
			continue;
		}
		c->images = xrealloc(c->images, (c->n + 1) * sizeof(*c->images));
		struct qemu_block_image *im = &c->images[c->n++];
		memset(im, 0, sizeof(*im));
		im->node_name = xstrdup(name);
		im->format = xstrdup(drv);
		const char *file_node = graph_child(graph, name, "file");
		const char *filename = node_filename(graph, nodes, name);
		if (file_node)
			im->file_node = xstrdup(file_node);
		if (!filename)
			filename = jstr(info, "file");
		im->filename = xstrdup(filename ? filename : "");
		json_t *image = json_object_get(info, "image");
		const char *backing = jstr(image, "backing-filename");
		if (backing)
			im->backing_name = xstrdup(backing);
		json_int_t size = json_integer_value(json_object_get(image, "virtual-size"));
		im->virtual_size = size > 0 ? (uint64_t)size : 0;
		im->read_only = json_is_true(json_object_get(info, "ro"));
		name = graph_child(graph, name, "backing");
	}
	*out = steal_pointer(&c);
	return 0;
}

int block_chain_parse(json_t *blocks, json_t *graph, json_t *nodes, const char *device,
		      struct qemu_block_chain **out, struct vr_error **err)
{
	*out = NULL;
	json_t *inserted = NULL;
	int r = device_inserted(blocks, device, &inserted, err);
	if (r < 0)
		return r;
	return chain_walk(device, jstr(inserted, "node-name"), graph, nodes, out, err);
}

int block_chains_get(struct qmp *q, const char *const *devices, size_t n, uint64_t deadline,
		     struct qemu_block_chain **chains, struct vr_error **err)
{
	json_t *blocks = NULL, *graph = NULL, *nodes = NULL;
	int r = query_block(q, deadline, &blocks, err);
	if (r == 0)
		r = block_exec(q, "x-debug-query-block-graph", NULL, deadline, &graph, err);
	if (r == 0)
		r = block_named_nodes(q, deadline, &nodes, err);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = block_chain_parse(blocks, graph, nodes, devices[i], &chains[i], err);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			qemu_block_chain_freep(&chains[i]);
	}
	json_decref(blocks);
	json_decref(graph);
	json_decref(nodes);
	return r;
}

int qemu_block_chain_get(struct qmp *q, const char *device, struct qemu_block_chain **out,
			 int timeout_ms, struct vr_error **err)
{
	*out = NULL;
	int r = block_check_device(device, err);
	if (r < 0)
		return r;
	r = block_chains_get(q, &device, 1, block_deadline(timeout_ms), out, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot read the chain of disk device \"%s\"", device);
	return 0;
}

int block_chain_find(const struct qemu_block_chain *chain, const char *node)
{
	for (size_t i = 0; i < chain->n && i < INT_MAX; i++)
		if (strcmp(chain->images[i].node_name, node) == 0)
			return (int)i;
	return -1;
}

char *block_chain_describe(const struct qemu_block_chain *chain)
{
	_cleanup_strv_ char **parts = NULL;
	for (size_t i = 0; i < chain->n; i++)
		strv_pushf(&parts, "%s (\"%s\")", chain->images[i].node_name,
			   chain->images[i].filename);
	return parts ? strv_join(parts, ", ") : xstrdup("empty");
}

/* ---- paths ---- */

/* Splits an absolute path into components, resolving "." and ".." lexically. */
static char **path_components(const char *path, size_t *n_out)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char **v = xcalloc(strlen(path) + 1, sizeof(*v)); /* more than the components */
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (strcmp(t, ".") == 0)
			continue;
		if (strcmp(t, "..") == 0) {
			if (n > 0) {
				free(v[--n]);
				v[n] = NULL;
			}
			continue;
		}
		v[n++] = xstrdup(t);
	}
	*n_out = n;
	return v;
}

char *block_relative_path(const char *from_dir, const char *to)
{
	if (from_dir[0] != '/' || to[0] != '/')
		return xstrdup(to);
	size_t nf = 0, nd = 0, k = 0;
	_cleanup_strv_ char **from = path_components(from_dir, &nf);
	_cleanup_strv_ char **dest = path_components(to, &nd);
	while (k < nf && k + 1 < nd && strcmp(from[k], dest[k]) == 0)
		k++;
	_cleanup_strv_ char **parts = NULL;
	for (size_t i = k; i < nf; i++)
		strv_push(&parts, "..");
	for (size_t i = k; i < nd; i++)
		strv_push(&parts, dest[i]);
	return parts ? strv_join(parts, "/") : xstrdup(".");
}

/* ---- snapshots ---- */

static int snapshot_check_args(const struct qemu_block_overlay *disks, size_t n,
			       struct vr_error **err)
{
	if (n == 0)
		return vr_error_set(err, EINVAL, "a snapshot needs at least one disk");
	for (size_t i = 0; i < n; i++) {
		const struct qemu_block_overlay *d = &disks[i];
		int r = block_check_device(d->device, err);
		if (r < 0)
			return r;
		/* Room for the "f-" of the file node. */
		r = block_check_node("node name", d->node_name, BLOCK_NODE_NAME_MAX - 2, false, err);
		if (r < 0)
			return vr_error_wrap(err, "overlay for disk device \"%s\"", d->device);
		if (!d->overlay || d->overlay[0] != '/')
			return vr_error_set(err, EINVAL,
					    "the overlay of disk device \"%s\" must be an absolute path, "
					    "not \"%s\"",
					    d->device, d->overlay ? d->overlay : "");
		for (size_t k = 0; k < i; k++) {
			if (strcmp(disks[k].device, d->device) == 0)
				return vr_error_set(err, EINVAL,
						    "disk device \"%s\" is listed twice in one snapshot",
						    d->device);
			if (strcmp(disks[k].node_name, d->node_name) == 0)
				return vr_error_set(err, EINVAL,
						    "node name \"%s\" is given to two overlays",
						    d->node_name);
		}
	}
	return 0;
}

/*
 * Whether the device's top image is open with O_DIRECT: the cache mode of
 * its protocol node (the format node's where it has none), as QEMU
 * reports it.
 */
static bool top_direct(json_t *nodes, const struct qemu_block_image *top)
{
	json_t *info = block_named_node(nodes, top->file_node ? top->file_node : top->node_name);
	return json_is_true(json_object_get(json_object_get(info, "cache"), "direct"));
}

/*
 * Opens the overlay in the cache mode of the image below it (direct), so
 * that a chain keeps one mode; buffered only where the overlay's file
 * system refuses O_DIRECT.
 */
static int snapshot_add(struct qmp *q, const struct qemu_block_overlay *d, bool direct,
			uint64_t deadline, struct vr_error **err)
{
	if (direct && !qemu_disk_direct_supported(d->overlay)) {
		log_warn("overlay \"%s\" of disk device \"%s\": its file system refuses O_DIRECT, "
			 "QEMU opens it through the page cache",
			 d->overlay, d->device);
		direct = false;
	}
	_cleanup_free_ char *file_node = xasprintf("f-%s", d->node_name);
	json_t *args = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:s, s:o, s:s}, s:n, s:s}",
				 "driver", "qcow2", "node-name", d->node_name, "cache",
				 qemu_disk_cache_json(direct), "file", "driver", "file", "node-name",
				 file_node, "filename", d->overlay, "discard", "unmap", "cache",
				 qemu_disk_cache_json(direct), "aio", qemu_disk_aio(direct), "backing",
				 "discard", "unmap");
	int r = block_exec(q, "blockdev-add", args, deadline, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot open overlay \"%s\" for disk device \"%s\"",
				     d->overlay, d->device);
	return 0;
}

/* Whether two paths name the same file. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Checks an added overlay node against the device's current top. */
static int snapshot_check_overlay(const struct qemu_block_overlay *d, json_t *nodes,
				  const struct qemu_block_image *top, struct vr_error **err)
{
	json_t *image = json_object_get(block_named_node(nodes, d->node_name), "image");
	if (!image)
		return vr_error_set(err, EPROTO, "QEMU does not describe the new node \"%s\"",
				    d->node_name);
	const char *backing = jstr(image, "full-backing-filename");
	if (!backing)
		backing = jstr(image, "backing-filename");
	const char *backing_fmt = jstr(image, "backing-filename-format");
	if (!backing)
		return vr_error_set(err, EINVAL,
				    "overlay \"%s\" records no backing file: for disk device \"%s\" "
				    "it must be created on top of \"%s\"",
				    d->overlay, d->device, top->filename);
	if (!same_file(backing, top->filename))
		return vr_error_set(err, EINVAL,
				    "overlay \"%s\" records backing file \"%s\", but disk device "
				    "\"%s\" writes to \"%s\"",
				    d->overlay, backing, d->device, top->filename);
	if (!backing_fmt || strcmp(backing_fmt, top->format) != 0)
		return vr_error_set(err, EINVAL,
				    "overlay \"%s\" records its backing file's format as %s, but "
				    "\"%s\" is %s",
				    d->overlay, backing_fmt ? backing_fmt : "unknown (not recorded)",
				    top->filename, top->format);
	json_int_t size = json_integer_value(json_object_get(image, "virtual-size"));
	if (size < 0 || (uint64_t)size != top->virtual_size)
		return vr_error_set(err, EINVAL,
				    "overlay \"%s\" is %lld bytes but disk device \"%s\" is %llu "
				    "bytes: the guest would see its disk change size",
				    d->overlay, (long long)size, d->device,
				    (unsigned long long)top->virtual_size);
	return 0;
}

static json_t *snapshot_actions(const struct qemu_block_overlay *disks, size_t n,
				struct qemu_block_chain **chains)
{
	json_t *actions = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(actions,
				      json_pack("{s:s, s:{s:s, s:s}}", "type", "blockdev-snapshot",
						"data", "node", chains[i]->images[0].node_name,
						"overlay", disks[i].node_name));
	return json_pack("{s:o}", "actions", actions);
}

/*
 * After a transaction whose reply did not come in time: 1 when every
 * device is on its overlay, 0 when none is, -1 when that cannot be told.
 * QMP runs commands in order, so query-block answers after the transaction.
 */
static int snapshot_applied(struct qmp *q, const struct qemu_block_overlay *disks, size_t n)
{
	json_t *blocks = NULL;
	if (query_block(q, block_deadline(BLOCK_RECOVERY_TIMEOUT_MS), &blocks, NULL) < 0)
		return -1;
	size_t on = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *inserted = NULL;
		if (device_inserted(blocks, disks[i].device, &inserted, NULL) == 0 &&
		    strcmp(jstr(inserted, "node-name"), disks[i].node_name) == 0)
			on++;
	}
	json_decref(blocks);
	return on == n ? 1 : on == 0 ? 0 : -1;
}

/* Removes the overlay nodes added so far; a node in use is never detached by blockdev-del. */
static void snapshot_rollback(struct qmp *q, const struct qemu_block_overlay *disks,
			      const bool *added, size_t n, struct vr_error **err)
{
	for (size_t i = n; i-- > 0;) {
		if (!added[i])
			continue;
		_cleanup_error_ struct vr_error *e = NULL;
		json_t *args = json_pack("{s:s}", "node-name", disks[i].node_name);
		if (qmp_execute(q, "blockdev-del", args, BLOCK_RECOVERY_TIMEOUT_MS, NULL, &e) < 0) {
			log_warn("cannot remove overlay node \"%s\" (\"%s\") after a failed snapshot: %s",
				 disks[i].node_name, disks[i].overlay, vr_error_msg(e));
			block_error_note(err, "and overlay node \"%s\" could not be removed again: %s",
					 disks[i].node_name, vr_error_msg(e));
		}
	}
}

int qemu_block_snapshot(struct qmp *q, const struct qemu_block_overlay *disks, size_t n,
			int timeout_ms, struct vr_error **err)
{
	int r = snapshot_check_args(disks, n, err);
	if (r < 0)
		return r;
	uint64_t deadline = block_deadline(timeout_ms);
	const char **devices = xcalloc(n, sizeof(*devices));
	struct qemu_block_chain **chains = xcalloc(n, sizeof(*chains));
	bool *added = xcalloc(n, sizeof(*added));
	json_t *nodes = NULL;
	for (size_t i = 0; i < n; i++)
		devices[i] = disks[i].device;

	r = block_chains_get(q, devices, n, deadline, chains, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot take a snapshot");
		goto out;
	}
	r = block_named_nodes(q, deadline, &nodes, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot take a snapshot");
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		r = snapshot_add(q, &disks[i], top_direct(nodes, &chains[i]->images[0]), deadline,
				 err);
		/* A command that timed out may still take effect. */
		added[i] = r == 0 || r == -ETIMEDOUT;
	}
	json_decref(nodes);
	nodes = NULL;
	if (r == 0)
		r = block_named_nodes(q, deadline, &nodes, err);
	for (size_t i = 0; i < n && r == 0; i++)
		r = snapshot_check_overlay(&disks[i], nodes, &chains[i]->images[0], err);
	int applied = 0;
	if (r == 0) {
		r = block_exec(q, "transaction", snapshot_actions(disks, n, chains), deadline, NULL,
			       err);
		if (r == -ETIMEDOUT)
			applied = snapshot_applied(q, disks, n);
		if (applied == 1) {
			log_warn("snapshot of %zu disk(s): QEMU answered late, but every disk is on "
				 "its overlay",
				 n);
			vr_error_freep(err);
			r = 0;
		} else if (r < 0) {
			_cleanup_strv_ char **ids = NULL;
			for (size_t i = 0; i < n; i++)
				strv_push(&ids, disks[i].device);
			_cleanup_free_ char *list = strv_join(ids, ", ");
			vr_error_wrap(err, "cannot switch disk devices %s to their overlays", list);
		}
	}
	if (r < 0) {
		if (r == -ECONNRESET || applied < 0)
			vr_error_wrap(err, "snapshot failed; QEMU could not be asked which images "
					   "the disks write to");
		else
			vr_error_wrap(err, "snapshot failed; the disks still write to their "
					   "previous images");
		snapshot_rollback(q, disks, added, n, err);
	}
out:
	for (size_t i = 0; i < n; i++)
		qemu_block_chain_free(chains[i]);
	free(chains);
	free(devices);
	free(added);
	json_decref(nodes);
	return r;
}

/* ---- growing ---- */

int qemu_block_resize(struct qmp *q, const char *device, uint64_t new_size, int timeout_ms,
		      struct vr_error **err)
{
	int r = block_check_device(device, err);
	if (r < 0)
		return r;
	if (new_size == 0 || new_size > (uint64_t)INT64_MAX)
		return vr_error_set(err, EINVAL, "cannot resize disk device \"%s\" to %llu bytes",
				    device, (unsigned long long)new_size);
	uint64_t deadline = block_deadline(timeout_ms);
	json_t *blocks = NULL, *inserted = NULL;
	r = query_block(q, deadline, &blocks, err);
	if (r == 0)
		r = device_inserted(blocks, device, &inserted, err);
	if (r < 0) {
		json_decref(blocks);
		return vr_error_wrap(err, "cannot resize disk device \"%s\"", device);
	}
	_cleanup_free_ char *node = xstrdup(jstr(inserted, "node-name"));
	json_int_t cur = json_integer_value(
		json_object_get(json_object_get(inserted, "image"), "virtual-size"));
	json_decref(blocks);
	if (cur <= 0)
		return vr_error_set(err, EPROTO, "QEMU does not report the size of disk device \"%s\"",
				    device);
	if (new_size < (uint64_t)cur)
		return vr_error_set(err, EINVAL,
				    "cannot shrink disk device \"%s\" from %lld to %llu bytes: only "
				    "growing is supported",
				    device, (long long)cur, (unsigned long long)new_size);
	if (new_size == (uint64_t)cur)
		return 0;
	r = block_exec(q, "block_resize", json_pack("{s:s, s:I}", "node-name", node, "size",
						    (json_int_t)new_size),
		       deadline, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot grow disk device \"%s\" (node \"%s\") from %lld "
				     "to %llu bytes",
				     device, node, (long long)cur, (unsigned long long)new_size);
	log_info("disk device \"%s\" (node \"%s\") grown from %lld to %llu bytes", device, node,
		 (long long)cur, (unsigned long long)new_size);
	return 0;
}

/* ---- dirty bitmaps ---- */

static int bitmap_op(struct qmp *q, const char *device, const char *name, bool add,
		     int timeout_ms, struct vr_error **err)
{
	int r = block_check_device(device, err);
	if (r < 0)
		return r;
	if (!name || !*name || strlen(name) > BLOCK_BITMAP_NAME_MAX)
		return vr_error_set(err, EINVAL,
				    "invalid dirty bitmap name for disk device \"%s\": it must have "
				    "1 to %d characters",
				    device, BLOCK_BITMAP_NAME_MAX);
	for (const char *p = name; *p; p++)
		if (!name_char_ok(*p))
			return vr_error_set(err, EINVAL,
					    "invalid dirty bitmap name \"%.64s\" for disk device "
					    "\"%s\": it may only hold letters, digits, '-', '_' and '.'",
					    name, device);
	uint64_t deadline = block_deadline(timeout_ms);
	json_t *blocks = NULL, *inserted = NULL;
	r = query_block(q, deadline, &blocks, err);
	if (r == 0)
		r = device_inserted(blocks, device, &inserted, err);
	_cleanup_free_ char *node = r == 0 ? xstrdup(jstr(inserted, "node-name")) : NULL;
	json_decref(blocks);
	if (r == 0) {
		json_t *args = add ? json_pack("{s:s, s:s, s:b}", "node", node, "name", name,
					       "persistent", 1)
				   : json_pack("{s:s, s:s}", "node", node, "name", name);
		r = block_exec(q, add ? "block-dirty-bitmap-add" : "block-dirty-bitmap-remove",
			       args, deadline, NULL, err);
	}
	if (r < 0)
		return vr_error_wrap(err, "cannot %s dirty bitmap \"%s\" %s disk device \"%s\"%s%s%s",
				     add ? "add" : "remove", name, add ? "to" : "from", device,
				     node ? " (node \"" : "", node ? node : "", node ? "\")" : "");
	return 0;
}

int qemu_block_bitmap_add(struct qmp *q, const char *device, const char *name, int timeout_ms,
			  struct vr_error **err)
{
	return bitmap_op(q, device, name, true, timeout_ms, err);
}

int qemu_block_bitmap_remove(struct qmp *q, const char *device, const char *name,
			     int timeout_ms, struct vr_error **err)
{
	return bitmap_op(q, device, name, false, timeout_ms, err);
}
