/* SPDX-License-Identifier: Apache-2.0 */
/* Changed-block tracking on qcow2 persistent dirty bitmaps (see cbt.h, docs/design.md). */
#include "host/storage/cbt.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/hostd.h"
#include "host/lifecycle.h"
#include "host/storage/snapshot_priv.h"
#include "qemu/block.h"
#include "qemu/block_cbt.h"
#include "qemu/img.h"
#include "qemu/qmp.h"

#define QMP_TIMEOUT_MS 10000
#define CBT_QUERY_BITMAP "vireo-cbt-query"

static int bitmap_op(const char *file, const char *op, const char *name, struct vr_error **err)
{
	char gran[24];
	snprintf(gran, sizeof(gran), "%u", CBT_GRANULARITY);
	char *add[] = {"qemu-img", "bitmap", "-f", "qcow2", "--add", "-g", gran, (char *)file,
		       (char *)name, NULL};
	char *other[] = {"qemu-img", "bitmap", "-f", "qcow2", (char *)op, (char *)file,
			 (char *)name, NULL};
	int r = qemu_img_run("qemu-img", strcmp(op, "--add") == 0 ? add : other, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot change dirty bitmap \"%s\" of \"%s\"", name, file);
	return 0;
}

/* Merges bitmap `name` of src (an image of top's chain, or top itself) into top's `target`. */
static int bitmap_merge(const char *top, const char *target, const char *src, const char *name,
			struct vr_error **err)
{
	char *same[] = {"qemu-img", "bitmap", "-f", "qcow2", "--merge", (char *)name,
			(char *)top, (char *)target, NULL};
	char *other[] = {"qemu-img", "bitmap", "-f", "qcow2", "--merge", (char *)name, "-b",
			 (char *)src, "-F", "qcow2", (char *)top, (char *)target, NULL};
	int r = qemu_img_run("qemu-img", strcmp(top, src) == 0 ? same : other, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot merge dirty bitmap \"%s\" of \"%s\"", name, src);
	return 0;
}

static const struct snap_disk *find_disk(struct snap_disk *d, size_t n, const char *slot)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].slot, slot) == 0)
			return &d[i];
	return NULL;
}

static char *disk_id(struct vm *vm, const struct snap_disk *d)
{
	pthread_mutex_lock(&vm->lock);
	char *id = xasprintf("%s-%s", vm->cfg && vm->cfg->uuid[0] ? vm->cfg->uuid : "vm", d->qdev);
	pthread_mutex_unlock(&vm->lock);
	for (char *p = id; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return id;
}

static bool slot_enabled(struct vm *vm, const char *slot)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	struct vr_error *e = NULL;
	if (vmx_load_file(vm->vmx_path, &vmx, &e) < 0) {
		vr_error_free(e);
		return false;
	}
	char key[64];
	snprintf(key, sizeof(key), "%s.ctkEnabled", slot);
	return vmx_get_bool(vmx, "ctkEnabled", false) && vmx_get_bool(vmx, key, false);
}

static int vmx_set_ctk(struct vm *vm, const struct snap_disk *d, size_t n, bool enabled,
		       struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_load_file(vm->vmx_path, &vmx, err);
	if (r < 0)
		return r;
	vmx_set(vmx, "ctkEnabled", enabled ? "TRUE" : "FALSE");
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s.ctkEnabled", d[i].slot);
		vmx_set(vmx, key, enabled ? "TRUE" : "FALSE");
	}
	r = vmx_save_file(vmx, vm->vmx_path, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* Removes every tracking bitmap from every image of the chain (VM powered off). */
static int remove_all(const struct qemu_img_chain *c, struct vr_error **err)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct qemu_img_info *img = &c->images[i];
		for (size_t k = 0; k < img->n_bitmaps; k++) {
			const char *name = img->bitmaps[k].name;
			if (strncmp(name, CBT_BITMAP_PREFIX, strlen(CBT_BITMAP_PREFIX)) != 0)
				continue;
			int r = bitmap_op(img->filename, "--remove", name, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static uint64_t new_epoch(const struct qemu_img_chain *c)
{
	uint64_t e = (uint64_t)time_real_ms() * 1000;
	for (size_t i = 0; c && i < c->n; i++)
		for (size_t k = 0; k < c->images[i].n_bitmaps; k++) {
			uint64_t be;
			uint32_t bs;
			if (cbt_bitmap_name_parse(c->images[i].bitmaps[k].name, &be, &bs) && be >= e)
				e = be + 1;
		}
	return e;
}

/* Starts a new epoch on a powered-off disk: every old bitmap goes, <epoch>-1 records. */
static int start_epoch(const struct snap_disk *d, const struct qemu_img_chain *c, uint64_t *epoch,
		       struct vr_error **err)
{
	if (d->format != VM_DISK_FORMAT_QCOW2 || strcmp(c->images[0].format, "qcow2") != 0)
		return vr_error_set(err, EINVAL,
				    "disk %s (\"%s\") is %s: changed-block tracking needs a qcow2 "
				    "disk (persistent dirty bitmaps); convert it first",
				    d->slot, d->path, c->images[0].format);
	*epoch = new_epoch(c);
	int r = remove_all(c, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *name = cbt_bitmap_name(*epoch, 1);
	return bitmap_op(d->path, "--add", name, err);
}

int cbt_set_enabled(struct hostd *h, struct vm *vm, bool enabled, struct vr_error **err)
{
	(void)h;
	struct snap_disk *d = NULL;
	size_t n = 0;
	int r = snap_disks(vm, &d, &n, err);
	if (r < 0)
		return r;
	bool running = lifecycle_is_running(vm);
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (d[i].format != VM_DISK_FORMAT_QCOW2 && enabled) {
			r = vr_error_set(err, EINVAL,
					 "disk %s (\"%s\") is %s: changed-block tracking needs a "
					 "qcow2 disk (persistent dirty bitmaps); convert it first",
					 d[i].slot, d[i].file, vm_disk_format_name(d[i].format));
			break;
		}
		if (running) {
			if (!enabled)
				continue; /* the bitmaps go at the next change while powered off */
			struct qmp *q = vm_qmp_get(vm);
			if (!q) {
				r = vr_error_set(err, ENOTCONN, "the VM stopped running");
				break;
			}
			_cleanup_free_ char *name = cbt_bitmap_name(new_epoch(NULL), 1);
			r = qemu_block_bitmap_add(q, d[i].qdev, name, QMP_TIMEOUT_MS, err);
			vm_qmp_put(vm);
			continue;
		}
		_cleanup_img_chain_ struct qemu_img_chain *c = NULL;
		r = qemu_img_chain_get("qemu-img", d[i].path, vm_disk_format_name(d[i].format), &c,
				       err);
		if (r < 0)
			break;
		uint64_t epoch;
		r = enabled ? start_epoch(&d[i], c, &epoch, err) : remove_all(c, err);
	}
	if (r >= 0)
		r = vmx_set_ctk(vm, d, n, enabled, err);
	if (r >= 0)
		vm_log(vm, "changed-block tracking %s on %zu disk(s)", enabled ? "enabled" : "disabled",
		       n);
	snap_disks_free(d, n);
	if (r < 0)
		return vr_error_wrap(err, "cannot %s changed-block tracking",
				     enabled ? "enable" : "disable");
	return 0;
}

/* The epoch's state on a chain: current epoch and sequence from the top, the oldest kept. */
struct cbt_state {
	uint64_t epoch;
	uint32_t cur;    /* recording bitmap's sequence on the top */
	uint32_t oldest; /* lowest sequence present anywhere in the chain */
	bool trusted;
};

static struct cbt_state chain_state(const struct qemu_img_chain *c)
{
	struct cbt_state s = {0};
	const struct qemu_img_info *top = &c->images[0];
	for (size_t k = 0; k < top->n_bitmaps; k++) {
		uint64_t e;
		uint32_t q;
		if (cbt_bitmap_name_parse(top->bitmaps[k].name, &e, &q) &&
		    (e > s.epoch || (e == s.epoch && q > s.cur))) {
			s.epoch = e;
			s.cur = q;
		}
	}
	s.trusted = s.epoch != 0;
	s.oldest = s.cur;
	for (size_t i = 0; i < c->n; i++)
		for (size_t k = 0; k < c->images[i].n_bitmaps; k++) {
			const struct qemu_img_bitmap *b = &c->images[i].bitmaps[k];
			uint64_t e;
			uint32_t q;
			if (!cbt_bitmap_name_parse(b->name, &e, &q) || e != s.epoch)
				continue;
			if (b->in_use)
				s.trusted = false; /* not saved cleanly: QEMU stopped uncleanly */
			if (q < s.oldest)
				s.oldest = q;
		}
	return s;
}

/* Reads a map through qemu-nbd (bitmap: its dirty areas) or straight from the chain. */
static int read_map(struct vm *vm, const struct snap_disk *d, const char *bitmap, uint64_t size,
		    struct cbt_extent **ext, size_t *n_ext, struct vr_error **err)
{
	_cleanup_free_ char *out = NULL;
	int r;
	if (!bitmap) {
		char *argv[] = {"qemu-img", "map", "--output=json", "-f", "qcow2", d->path, NULL};
		r = qemu_img_run("qemu-img", argv, &out, err);
	} else {
		_cleanup_free_ char *sock = xasprintf("%s/.cbt-%s.sock", vm->dir, d->qdev);
		_cleanup_free_ char *pidf = xasprintf("%s/.cbt-%s.pid", vm->dir, d->qdev);
		_cleanup_free_ char *bm = xasprintf("--bitmap=%s", bitmap);
		_cleanup_free_ char *so = xasprintf("--socket=%s", sock);
		_cleanup_free_ char *po = xasprintf("--pid-file=%s", pidf);
		unlink(sock);
		/* Serves one client, then exits. */
		char *nbd[] = {"qemu-nbd", "--read-only", bm, so, po, "--format=qcow2", "--fork",
			       "--export-name=cbt", d->path, NULL};
		r = qemu_img_run("qemu-nbd", nbd, NULL, err);
		if (r >= 0) {
			_cleanup_free_ char *opts = xasprintf(
				"driver=nbd,server.type=unix,server.path=%s,export=cbt,"
				"x-dirty-bitmap=qemu:dirty-bitmap:%s",
				sock, bitmap);
			char *argv[] = {"qemu-img", "map", "--output=json", "--image-opts", opts,
					NULL};
			r = qemu_img_run("qemu-img", argv, &out, err);
			if (r < 0) { /* no client came: stop the server ourselves */
				_cleanup_free_ char *pid = NULL;
				if (file_read_all(pidf, 64, &pid, NULL, NULL) >= 0 && atoi(pid) > 1)
					kill(atoi(pid), SIGTERM);
			}
		}
		unlink(pidf);
		unlink(sock);
	}
	if (r < 0)
		return vr_error_wrap(err, "cannot read the %s of disk %s",
				     bitmap ? "changed areas" : "allocated areas", d->slot);
	return cbt_map_parse(out, strlen(out), bitmap != NULL, size, ext, n_ext, err);
}

/* The changes since `since` (seq) of the epoch, merged from every image into a scratch bitmap. */
static int incremental(struct vm *vm, const struct snap_disk *d, const struct qemu_img_chain *c,
		       uint64_t epoch, uint32_t since, struct cbt_extent **ext, size_t *n_ext,
		       struct vr_error **err)
{
	struct vr_error *e = NULL;
	if (bitmap_op(d->path, "--remove", CBT_QUERY_BITMAP, &e) < 0)
		vr_error_free(e); /* usually absent */
	char *add[] = {"qemu-img", "bitmap", "-f", "qcow2", "--add", "--disable", "-g", "65536",
		       d->path, CBT_QUERY_BITMAP, NULL};
	int r = qemu_img_run("qemu-img", add, NULL, err);
	for (size_t i = 0; r >= 0 && i < c->n; i++)
		for (size_t k = 0; r >= 0 && k < c->images[i].n_bitmaps; k++) {
			uint64_t be;
			uint32_t bs;
			const char *name = c->images[i].bitmaps[k].name;
			if (cbt_bitmap_name_parse(name, &be, &bs) && be == epoch && bs >= since)
				r = bitmap_merge(d->path, CBT_QUERY_BITMAP, c->images[i].filename,
						 name, err);
		}
	if (r >= 0)
		r = read_map(vm, d, CBT_QUERY_BITMAP, c->images[0].virtual_size, ext, n_ext, err);
	e = NULL;
	if (bitmap_op(d->path, "--remove", CBT_QUERY_BITMAP, &e) < 0) {
		log_warn("VM \"%s\": %s", vm->id, e->msg);
		vr_error_free(e);
	}
	return r;
}

/* Drops the epoch's bitmaps below `keep` and every other epoch's, best effort. */
static void prune(struct vm *vm, const struct qemu_img_chain *c, uint64_t epoch, uint32_t keep)
{
	for (size_t i = 0; i < c->n; i++)
		for (size_t k = 0; k < c->images[i].n_bitmaps; k++) {
			uint64_t be;
			uint32_t bs;
			const char *name = c->images[i].bitmaps[k].name;
			if (!cbt_bitmap_name_parse(name, &be, &bs) || (be == epoch && bs >= keep))
				continue;
			struct vr_error *e = NULL;
			if (bitmap_op(c->images[i].filename, "--remove", name, &e) < 0) {
				log_warn("VM \"%s\": %s", vm->id, e->msg);
				vr_error_free(e);
			}
		}
}

static json_t *extents_json(const struct cbt_extent *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:I}", "offset", (json_int_t)v[i].offset,
						   "length", (json_int_t)v[i].length));
	return a;
}

/* ---- a running VM: the same steps over QMP ---- */

struct online_query {
	struct vm *vm;
	const struct snap_disk *disk;
	const struct cbt_change_id *id;
	bool all;
	uint64_t size;
	/* answer */
	uint64_t epoch;
	uint32_t next;
	bool full;
	struct cbt_extent *ext;
	size_t n_ext;
};

static int online_map(struct qmp *q, struct online_query *oq, const char *top,
		      const struct qemu_block_bitmap_ref *srcs, size_t n_srcs,
		      struct vr_error **err)
{
	_cleanup_free_ char *sock = xasprintf("%s/cbt.sock", oq->vm->run_dir);
	_cleanup_free_ char *export = xasprintf("vireo-cbt-%s", oq->disk->qdev);
	const char *scratch = oq->full ? NULL : CBT_QUERY_BITMAP;
	unlink(sock);
	int r = qemu_block_nbd_export_start(q, top, sock, export, scratch, srcs, n_srcs,
					    QMP_TIMEOUT_MS, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *opts = xasprintf(
		"driver=nbd,server.type=unix,server.path=%s,export=%s%s%s", sock, export,
		scratch ? ",x-dirty-bitmap=qemu:dirty-bitmap:" : "", scratch ? scratch : "");
	char *argv[] = {"qemu-img", "map", "--output=json", "--image-opts", opts, NULL};
	_cleanup_free_ char *out = NULL;
	r = qemu_img_run("qemu-img", argv, &out, err);
	qemu_block_nbd_export_stop(q, top, export, scratch, QMP_TIMEOUT_MS);
	unlink(sock);
	if (r < 0)
		return vr_error_wrap(err, "cannot read the %s of disk %s",
				     scratch ? "changed areas" : "allocated areas", oq->disk->slot);
	return cbt_map_parse(out, strlen(out), scratch != NULL, oq->size, &oq->ext, &oq->n_ext,
			     err);
}

static int online_query_run(struct qmp *q, struct online_query *oq, struct vr_error **err)
{
	_cleanup_free_ char *top = NULL;
	struct qemu_block_bitmap *b = NULL;
	size_t nb = 0;
	int r = qemu_block_bitmaps_list(q, oq->disk->qdev, &top, &b, &nb, QMP_TIMEOUT_MS, err);
	if (r < 0)
		return r;
	uint64_t epoch = 0, max_epoch = 0;
	uint32_t cur = 0;
	for (size_t i = 0; i < nb; i++) {
		uint64_t e;
		uint32_t sq;
		if (!cbt_bitmap_name_parse(b[i].name, &e, &sq))
			continue;
		if (e > max_epoch)
			max_epoch = e;
		if (b[i].depth == 0 && (e > epoch || (e == epoch && sq > cur))) {
			epoch = e;
			cur = sq;
		}
	}
	bool trusted = epoch != 0;
	uint32_t oldest = cur;
	bool deep_old = false; /* an old bitmap QEMU holds read-only (below the top) */
	uint32_t keep_hint = oq->all ? cur : oq->id->seq;
	for (size_t i = 0; i < nb; i++) {
		uint64_t e;
		uint32_t sq;
		if (!cbt_bitmap_name_parse(b[i].name, &e, &sq) || e != epoch)
			continue;
		trusted = trusted && !b[i].inconsistent;
		if (sq < oldest)
			oldest = sq;
		if (b[i].depth > 0 && sq < keep_hint)
			deep_old = true;
	}
	if (!oq->all && trusted && oq->id->epoch == epoch && oq->id->seq > cur)
		trusted = false;
	oq->full = oq->all || !trusted || oq->id->epoch != epoch || oq->id->seq < oldest;
	if (!trusted) {
		if (epoch)
			vm_log(oq->vm, "disk %s: the tracking bitmaps cannot be trusted (not saved "
				       "cleanly, or missing); a new epoch starts with a full copy",
			       oq->disk->slot);
		for (size_t i = 0; r >= 0 && i < nb; i++)
			if (b[i].depth == 0 &&
			    strncmp(b[i].name, CBT_BITMAP_PREFIX, strlen(CBT_BITMAP_PREFIX)) == 0)
				r = qemu_block_bitmap_remove_node(q, top, b[i].name, QMP_TIMEOUT_MS,
								  err);
		uint64_t now = (uint64_t)time_real_ms() * 1000;
		oq->epoch = now > max_epoch ? now : max_epoch + 1;
		oq->next = 1;
		_cleanup_free_ char *nb1 = cbt_bitmap_name(oq->epoch, 1);
		if (r >= 0)
			r = qemu_block_bitmap_rotate(q, top, NULL, nb1, CBT_GRANULARITY,
						     QMP_TIMEOUT_MS, err);
	} else {
		oq->epoch = epoch;
		oq->next = cur + 1;
		_cleanup_free_ char *cb = cbt_bitmap_name(epoch, cur);
		_cleanup_free_ char *nbn = cbt_bitmap_name(epoch, cur + 1);
		r = qemu_block_bitmap_rotate(q, top, cb, nbn, CBT_GRANULARITY, QMP_TIMEOUT_MS, err);
	}
	struct qemu_block_bitmap_ref *srcs = xcalloc(nb + 1, sizeof(*srcs));
	size_t ns = 0;
	for (size_t i = 0; !oq->full && i < nb; i++) {
		uint64_t e;
		uint32_t sq;
		if (cbt_bitmap_name_parse(b[i].name, &e, &sq) && e == epoch && sq >= oq->id->seq)
			srcs[ns++] = (struct qemu_block_bitmap_ref){.node = b[i].node,
								    .name = b[i].name};
	}
	if (r >= 0)
		r = online_map(q, oq, top, srcs, ns, err);
	/*
	 * Pruning: all or nothing, as QEMU holds the images below the top
	 * read-only; a sequence removed from one image only would leave a
	 * later query a partial union.
	 */
	for (size_t i = 0; r >= 0 && trusted && !deep_old && i < nb; i++) {
		uint64_t e;
		uint32_t sq;
		if (b[i].depth != 0 || !cbt_bitmap_name_parse(b[i].name, &e, &sq) ||
		    (e == epoch && sq >= keep_hint))
			continue;
		struct vr_error *e2 = NULL;
		if (qemu_block_bitmap_remove_node(q, top, b[i].name, QMP_TIMEOUT_MS, &e2) < 0) {
			log_warn("VM \"%s\": %s", oq->vm->id, vr_error_msg(e2));
			vr_error_free(e2);
			break;
		}
	}
	free(srcs);
	qemu_block_bitmaps_free(b, nb);
	return r;
}

int cbt_changes(struct hostd *h, struct vm *vm, const char *slot, const char *since,
		json_t **out, struct vr_error **err)
{
	(void)h;
	struct cbt_change_id id = {0};
	bool all = strcmp(since, "*") == 0;
	if (!all && cbt_change_id_parse(since, &id, err) < 0)
		return -EINVAL;
	struct snap_disk *d = NULL;
	size_t n = 0;
	int r = snap_disks(vm, &d, &n, err);
	if (r < 0)
		return r;
	const struct snap_disk *disk = find_disk(d, n, slot);
	_cleanup_free_ char *did = disk ? disk_id(vm, disk) : NULL;
	_cleanup_img_chain_ struct qemu_img_chain *c = NULL;
	struct cbt_extent *ext = NULL;
	size_t n_ext = 0;
	_cleanup_free_ char *cid = NULL;
	if (!disk) {
		r = vr_error_set(err, ENOENT, "VM \"%s\" has no disk %s that snapshots and "
					      "changed-block tracking include", vm->id, slot);
		goto out;
	}
	if (!all && strcmp(id.disk, did) != 0) {
		r = vr_error_set(err, EINVAL, "change ID \"%s\" belongs to another disk (this is %s)",
				 since, did);
		goto out;
	}
	if (!slot_enabled(vm, slot)) {
		r = vr_error_set(err, EBUSY, "changed-block tracking is not enabled on disk %s", slot);
		goto out;
	}
	r = qemu_img_chain_get("qemu-img", disk->path, vm_disk_format_name(disk->format), &c, err);
	if (r < 0)
		goto out;
	if (lifecycle_is_running(vm)) {
		struct online_query oq = {.vm = vm, .disk = disk, .id = &id, .all = all,
					  .size = c->images[0].virtual_size};
		struct qmp *q = vm_qmp_get(vm);
		if (!q) {
			r = vr_error_set(err, EBUSY, "the VM stopped running during the query");
			goto out;
		}
		r = online_query_run(q, &oq, err);
		vm_qmp_put(vm);
		ext = oq.ext;
		n_ext = oq.n_ext;
		if (r >= 0) {
			cid = cbt_change_id_format(did, oq.epoch, oq.next);
			*out = json_pack("{s:s, s:o, s:b}", "change_id", cid, "extents",
					 extents_json(ext, n_ext), "full_copy_needed", oq.full && !all);
		}
		goto out;
	}
	struct cbt_state st = chain_state(c);
	/*
	 * A sequence beyond the recording bitmap's means the disk lost bitmaps
	 * it had (a merge that did not carry them, a file replaced): the epoch
	 * cannot be trusted any more.
	 */
	if (!all && st.trusted && id.epoch == st.epoch && id.seq > st.cur)
		st.trusted = false;
	bool full = all || !st.trusted || id.epoch != st.epoch || id.seq < st.oldest;
	uint64_t epoch = st.epoch;
	uint32_t next;
	if (!st.trusted) {
		if (st.epoch)
			vm_log(vm, "disk %s: the tracking bitmaps cannot be trusted (not saved "
				   "cleanly, or missing); a new epoch starts with a full copy", slot);
		r = start_epoch(disk, c, &epoch, err);
		next = 1;
	} else {
		/* Rotation: the next bitmap records from now on, the current one is frozen. */
		next = st.cur + 1;
		_cleanup_free_ char *nb = cbt_bitmap_name(epoch, next);
		_cleanup_free_ char *cb = cbt_bitmap_name(epoch, st.cur);
		r = bitmap_op(disk->path, "--add", nb, err);
		if (r >= 0)
			r = bitmap_op(disk->path, "--disable", cb, err);
	}
	if (r < 0)
		goto out;
	if (full)
		r = read_map(vm, disk, NULL, c->images[0].virtual_size, &ext, &n_ext, err);
	else
		r = incremental(vm, disk, c, epoch, id.seq, &ext, &n_ext, err);
	if (r < 0)
		goto out;
	if (st.trusted) {
		/* Keep what a retry of this query (or the answer's predecessor) needs. */
		prune(vm, c, epoch, full ? st.cur : id.seq);
	}
	cid = cbt_change_id_format(did, epoch, next);
	*out = json_pack("{s:s, s:o, s:b}", "change_id", cid, "extents", extents_json(ext, n_ext),
			 "full_copy_needed", full && !all);
out:
	free(ext);
	snap_disks_free(d, n);
	if (r < 0 && r != -EINVAL && r != -ENOENT && r != -EBUSY)
		return vr_error_wrap(err, "cannot query the changes of disk %s", slot);
	return r;
}

int cbt_delta_prepare(struct vm *vm, const char *slot, const char *top, const char *delta,
		      struct vr_error **err)
{
	if (!slot_enabled(vm, slot))
		return 0;
	struct cbt_state st = {0};
	struct qmp *q = lifecycle_is_running(vm) ? vm_qmp_get(vm) : NULL;
	if (q) {
		/* QEMU writes bitmaps it made into the file only when it closes it: ask it. */
		char qdev[24];
		snprintf(qdev, sizeof(qdev), "%s", slot);
		if (strchr(qdev, ':'))
			*strchr(qdev, ':') = '-';
		_cleanup_free_ char *node = NULL;
		struct qemu_block_bitmap *b = NULL;
		size_t nb = 0;
		int r = qemu_block_bitmaps_list(q, qdev, &node, &b, &nb, QMP_TIMEOUT_MS, err);
		vm_qmp_put(vm);
		if (r < 0)
			return r;
		for (size_t i = 0; i < nb; i++) {
			uint64_t e;
			uint32_t sq;
			if (b[i].depth == 0 && cbt_bitmap_name_parse(b[i].name, &e, &sq) &&
			    (e > st.epoch || (e == st.epoch && sq > st.cur))) {
				st.epoch = e;
				st.cur = sq;
			}
		}
		qemu_block_bitmaps_free(b, nb);
	} else {
		_cleanup_img_chain_ struct qemu_img_chain *c = NULL;
		int r = qemu_img_chain_get("qemu-img", top, "qcow2", &c, err);
		if (r < 0)
			return r;
		st = chain_state(c);
	}
	if (!st.epoch)
		return 0; /* nothing records: the next query starts a new epoch */
	/* The delta records from its first write: QEMU loads the bitmap when it opens it. */
	_cleanup_free_ char *name = cbt_bitmap_name(st.epoch, st.cur);
	return bitmap_op(delta, "--add", name, err);
}

int cbt_commit_prepare(const char *top, const char *base, struct vr_error **err)
{
	_cleanup_img_chain_ struct qemu_img_chain *c = NULL;
	int r = qemu_img_chain_get("qemu-img", top, "qcow2", &c, err);
	if (r < 0 || c->n < 2 || strcmp(c->images[1].format, "qcow2") != 0)
		return r;
	const struct qemu_img_info *t = &c->images[0], *b = &c->images[1];
	for (size_t k = 0; k < t->n_bitmaps; k++) {
		uint64_t be;
		uint32_t bs;
		const char *name = t->bitmaps[k].name;
		if (!cbt_bitmap_name_parse(name, &be, &bs))
			continue;
		bool present = false;
		for (size_t j = 0; j < b->n_bitmaps; j++)
			present = present || strcmp(b->bitmaps[j].name, name) == 0;
		if (!present && (r = bitmap_op(b->filename, "--add", name, err)) < 0)
			return r;
		if ((r = bitmap_merge(b->filename, name, t->filename, name, err)) < 0)
			return r;
	}
	(void)base;
	return 0;
}
