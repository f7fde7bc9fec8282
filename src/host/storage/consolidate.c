/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk tree behind the snapshots: which delta files are still needed,
 * merging the ones that are not (consolidation), and the consistency
 * check that finds and repairs a mismatch between .vmsd, .vmx and files.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostd.h"
#include "host/lifecycle.h"
#include "host/storage/clone.h"
#include "host/storage/snapshot.h"
#include "host/storage/cbt.h"
#include "host/storage/snapshot_priv.h"
#include "host/storage/vmsd.h"
#include "host/tasks.h"
#include "qemu/block.h"
#include "qemu/img.h"

#define QMP_TIMEOUT_MS 10000
#define MAX_MERGES 256

struct tnode {
	char *path;
	char *parent; /* NULL for a base */
	bool referenced;
	bool pinned; /* a linked clone's base, or outside the VM's folder: never merged */
	unsigned children;
};

struct tree {
	struct tnode *v;
	size_t n;
};

static void tree_clear(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].path);
		free(t->v[i].parent);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

static struct tnode *tree_find(struct tree *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].path, path) == 0)
			return &t->v[i];
	return NULL;
}

static struct tnode *tree_add(struct tree *t, const char *path)
{
	struct tnode *n = tree_find(t, path);
	if (n)
		return n;
	t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n] = (struct tnode){.path = xstrdup(path)};
	return &t->v[t->n++];
}

/* Canonical absolute path (the file must exist); falls back to the name given. */
static char *canon(const char *path)
{
	char buf[PATH_MAX];
	return xstrdup(realpath(path, buf) ? buf : path);
}

/*
 * Adds path and its backing chain; referenced marks path itself as needed,
 * pin the whole chain as unchangeable.
 */
static int tree_add_chain(struct tree *t, const char *path, bool referenced, bool pin,
			  struct vr_error **err)
{
	_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
	int r = qemu_img_chain_get("qemu-img", path, vm_disk_format_name(vm_disk_format_from_name(path)),
				   &chain, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *top = canon(path);
	struct tnode *n = tree_add(t, top);
	n->referenced = n->referenced || referenced;
	n->pinned = n->pinned || pin;
	for (size_t i = 0; i + 1 < chain->n; i++) {
		_cleanup_free_ char *child = canon(chain->images[i].filename);
		_cleanup_free_ char *parent = canon(chain->images[i + 1].filename);
		struct tnode *c = tree_add(t, child);
		if (!c->parent)
			c->parent = xstrdup(parent);
		tree_add(t, parent)->pinned |= pin;
	}
	return 0;
}

/* The tree of one disk slot: files the .vmx and the snapshots name, and their chains. */
static int tree_build(struct vm *vm, const struct vmsd *vmsd, const struct snap_disk *d,
		      struct tree *t, struct vr_error **err)
{
	int r = tree_add_chain(t, d->path, true, false, err);
	for (size_t i = 0; r >= 0 && i < vmsd_count(vmsd); i++) {
		const struct vmsd_snapshot *s = vmsd_at(vmsd, i);
		for (size_t k = 0; r >= 0 && k < s->n_disks; k++) {
			if (strcmp(s->disks[k].node, d->slot) != 0)
				continue;
			_cleanup_free_ char *p = snap_abs(vm, s->disks[k].file_name);
			r = tree_add_chain(t, p, true, false, err);
		}
	}
	/* Files linked clones are built on (clone_deps.c) never change. */
	bool unreadable = false;
	_cleanup_strv_ char **pins = clone_deps_files(vm->vmx_path, d->slot, &unreadable);
	for (size_t i = 0; r >= 0 && pins && pins[i]; i++)
		r = tree_add_chain(t, pins[i], true, true, err);
	if (r >= 0 && unreadable)
		r = vr_error_set(err, EIO, "the linked-clone records of the VM cannot be read");
	/* Nor do files of other folders (the base of a linked clone, a shared disk). */
	_cleanup_free_ char *dir = canon(vm->dir);
	size_t dl = strlen(dir);
	for (size_t i = 0; i < t->n; i++)
		if (strncmp(t->v[i].path, dir, dl) != 0 || t->v[i].path[dl] != '/')
			t->v[i].pinned = true;
	for (size_t i = 0; i < t->n; i++) {
		t->v[i].children = 0;
		for (size_t j = 0; j < t->n; j++)
			if (t->v[j].parent && strcmp(t->v[j].parent, t->v[i].path) == 0)
				t->v[i].children++;
	}
	return r;
}

bool snap_file_referenced(struct vm *vm, const struct vmsd *vmsd_in, const char *abs_path)
{
	_cleanup_vmsd_ struct vmsd *own = NULL;
	const struct vmsd *vmsd = vmsd_in;
	if (!vmsd) {
		if (snap_vmsd_load(vm, &own, NULL) < 0)
			return true; /* when in doubt, keep the file */
		vmsd = own;
	}
	struct snap_disk *d = NULL;
	size_t n = 0;
	if (snap_disks(vm, &d, &n, NULL) < 0)
		return true;
	_cleanup_free_ char *want = canon(abs_path);
	bool found = false;
	for (size_t i = 0; i < n && !found; i++) {
		struct tree t = {0};
		struct vr_error *e = NULL;
		if (tree_build(vm, vmsd, &d[i], &t, &e) < 0) {
			vr_error_free(e);
			found = true; /* cannot tell: keep it */
		} else {
			struct tnode *x = tree_find(&t, want);
			found = x && (x->referenced || x->pinned || x->children > 0);
		}
		tree_clear(&t);
	}
	snap_disks_free(d, n);
	return found;
}

void snap_remove_leaf(struct vm *vm, const char *abs_path)
{
	if (unlink(abs_path) == 0)
		vm_log(vm, "removed the delta \"%s\", which nothing needs any more", abs_path);
	else if (errno != ENOENT)
		log_warn("cannot remove \"%s\": %s", abs_path, strerror(errno));
}

struct commit_progress {
	struct task *task;
};

static int commit_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct commit_progress *cp = opaque;
	if (total && cp->task)
		task_set_progress(cp->task, (int)(20 + 70 * done / total));
	return 0;
}

/* Whether path is in the running chain of the disk (the .vmx file or below it). */
static bool in_active_chain(const struct tree *t, const struct snap_disk *d, const char *path)
{
	_cleanup_free_ char *p = canon(d->path);
	for (int depth = 0; p && depth < QEMU_IMG_MAX_CHAIN + 1; depth++) {
		if (strcmp(p, path) == 0)
			return true;
		const char *next = NULL;
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->v[i].path, p) == 0)
				next = t->v[i].parent;
		free(p);
		p = next ? xstrdup(next) : NULL;
	}
	free(p);
	return false;
}

/* Merges child c into its parent f, then points everything that named c at f. */
static int merge(struct hostd *h, struct vm *vm, struct vmsd *vmsd, const struct snap_disk *d,
		 const struct tree *t, const char *c, const char *f, struct task *task,
		 struct vr_error **err)
{
	(void)h;
	_cleanup_free_ char *top = canon(d->path);
	bool online = lifecycle_is_running(vm) && in_active_chain(t, d, c);
	int r;
	struct commit_progress cp = {.task = task};
	if (online) {
		struct qmp *q = vm_qmp_get(vm);
		if (!q)
			return vr_error_set(err, ENOTCONN, "the VM stopped running");
		/* Node names from the device's chain, matched by canonical path. */
		_cleanup_block_chain_ struct qemu_block_chain *chain = NULL;
		const char *top_node = NULL, *base_node = NULL;
		r = qemu_block_chain_get(q, d->qdev, &chain, QMP_TIMEOUT_MS, err);
		for (size_t i = 0; r >= 0 && i < chain->n; i++) {
			_cleanup_free_ char *p = canon(chain->images[i].filename);
			if (strcmp(p, c) == 0 && i > 0)
				top_node = chain->images[i].node_name;
			if (strcmp(p, f) == 0)
				base_node = chain->images[i].node_name;
		}
		if (r >= 0 && !base_node)
			r = vr_error_set(err, ENOENT, "the running VM does not have \"%s\" open", f);
		if (r >= 0 && strcmp(c, top) != 0 && !top_node)
			r = vr_error_set(err, ENOENT, "the running VM does not have \"%s\" open", c);
		if (r >= 0)
			r = qemu_block_commit(q, d->qdev, top_node, base_node, commit_progress, &cp, err);
		vm_qmp_put(vm);
	} else {
		char *argv[] = {"qemu-img", "commit", "-q", "-f",
				(char *)vm_disk_format_name(vm_disk_format_from_name(c)), (char *)c,
				NULL};
		/* qemu-img commit leaves c's dirty bitmaps behind: carry them into f. */
		r = cbt_commit_prepare(c, f, err);
		if (r >= 0)
			r = qemu_img_run("qemu-img", argv, NULL, err);
	}
	if (r < 0)
		return vr_error_wrap(err, "cannot merge \"%s\" into \"%s\"", c, f);
	_cleanup_free_ char *f_rel = snap_rel(vm, f);
	const char *f_fmt = vm_disk_format_name(vm_disk_format_from_name(f));
	/* Files on top of c now read through f, which holds c's data. */
	for (size_t i = 0; i < t->n; i++) {
		const struct tnode *x = &t->v[i];
		if (!x->parent || strcmp(x->parent, c) != 0)
			continue;
		if (online && in_active_chain(t, d, x->path))
			continue; /* QEMU rewrote its backing name during the commit */
		char *argv[] = {"qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b", f_rel, "-F",
				(char *)f_fmt, x->path, NULL};
		r = qemu_img_run("qemu-img", argv, NULL, err);
		if (r < 0)
			return vr_error_wrap(err, "cannot rebase \"%s\" onto \"%s\"", x->path, f);
	}
	/* Names: the .vmx and the snapshots that named c name f. */
	if (strcmp(c, top) == 0) {
		const char *slots[] = {d->slot};
		const char *files[] = {f_rel};
		r = snap_vmx_set_disks(vm, slots, files, 1, err);
		if (r < 0)
			return r;
	}
	bool tree_changed = false;
	for (size_t i = 0; i < vmsd_count(vmsd); i++) {
		struct vmsd_snapshot *s = vmsd_at(vmsd, i);
		for (size_t k = 0; k < s->n_disks; k++) {
			if (strcmp(s->disks[k].node, d->slot) != 0)
				continue;
			_cleanup_free_ char *p = snap_abs(vm, s->disks[k].file_name);
			_cleanup_free_ char *pc = canon(p);
			if (strcmp(pc, c) == 0) {
				free(s->disks[k].file_name);
				s->disks[k].file_name = xstrdup(f_rel);
				tree_changed = true;
			}
		}
	}
	if (tree_changed && (r = snap_vmsd_save(vm, vmsd, err)) < 0)
		return r;
	snap_remove_leaf(vm, c);
	vm_log(vm, "merged \"%s\" into \"%s\" (%s)", c, f, online ? "online" : "offline");
	return 0;
}

int snapshot_consolidate(struct hostd *h, struct vm *vm, struct task *task,
			 struct vr_error **err)
{
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	struct snap_disk *d = NULL;
	size_t n = 0;
	r = snap_disks(vm, &d, &n, err);
	if (r < 0)
		return r;
	unsigned merges = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		for (unsigned round = 0; round < MAX_MERGES && r >= 0; round++) {
			/* The .vmx may have changed (an active commit): take the disk afresh. */
			struct snap_disk *cur = NULL;
			size_t m = 0;
			r = snap_disks(vm, &cur, &m, err);
			if (r < 0)
				break;
			const struct snap_disk *dd = NULL;
			for (size_t j = 0; j < m; j++)
				if (strcmp(cur[j].slot, d[i].slot) == 0)
					dd = &cur[j];
			struct tree t = {0};
			const struct tnode *f = NULL, *c = NULL;
			if (dd && (r = tree_build(vm, vmsd, dd, &t, err)) >= 0) {
				for (size_t k = 0; k < t.n && !f; k++)
					if (!t.v[k].referenced && !t.v[k].pinned &&
					    t.v[k].children == 1)
						f = &t.v[k];
				for (size_t k = 0; f && k < t.n && !c; k++)
					if (t.v[k].parent && strcmp(t.v[k].parent, f->path) == 0)
						c = &t.v[k];
			}
			if (r >= 0 && c)
				r = merge(h, vm, vmsd, dd, &t, c->path, f->path, task, err);
			bool done = r < 0 || !c;
			tree_clear(&t);
			snap_disks_free(cur, m);
			if (done)
				break;
			merges++;
		}
	}
	snap_disks_free(d, n);
	if (r < 0)
		return vr_error_wrap(err, "cannot consolidate the disks");
	if (merges)
		vm_log(vm, "consolidated: %u delta file(s) merged", merges);
	return 0;
}

static void problem(json_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	json_array_append_new(a, json_string(s));
	free(s);
}

/*
 * A delta or snapshot file of ours by its name: "X-000001.qcow2", or
 * "STEM-SnapshotN.vmsn" / "STEM-SnapshotN.vmx" for this VM's STEM (never
 * the VM's own .vmx, whatever the VM is called).
 */
static bool ours_by_name(const char *name, const char *stem, const char *own_vmx)
{
	size_t l = strlen(name);
	if (strcmp(name, own_vmx) == 0)
		return false;
	if (l > 13 && strcmp(name + l - 6, ".qcow2") == 0 && name[l - 13] == '-') {
		for (size_t i = l - 12; i < l - 6; i++)
			if (name[i] < '0' || name[i] > '9')
				return false;
		return true;
	}
	size_t sl = strlen(stem);
	if (strncmp(name, stem, sl) != 0 || strncmp(name + sl, "-Snapshot", 9) != 0)
		return false;
	const char *p = name + sl + 9;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return strcmp(p, ".vmsn") == 0 || strcmp(p, ".vmx") == 0;
}

/* The uid in "STEM-Snapshot12.vmx"; 0 when the name is not that. */
static uint32_t config_uid(const char *name, const char *stem)
{
	size_t sl = strlen(stem), l = strlen(name);
	if (l < sl + 9 + 5 || strcmp(name + l - 4, ".vmx") != 0)
		return 0;
	_cleanup_free_ char *digits = xstrndup(name + sl + 9, l - 4 - (sl + 9));
	uint64_t v = 0;
	return parse_u64(digits, 1, VMSD_MAX_UID, &v) == 0 ? (uint32_t)v : 0;
}

int snapshot_check(struct hostd *h, struct vm *vm, bool repair, json_t **report,
		   struct vr_error **err)
{
	json_t *problems = json_array(), *repaired = json_array();
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	struct vr_error *e = NULL;
	if (snap_vmsd_load(vm, &vmsd, &e) < 0) {
		problem(problems, "the snapshot tree cannot be read: %s", e->msg);
		vr_error_free(e);
		*report = json_pack("{s:b, s:o, s:o}", "ok", 0, "problems", problems, "repaired",
				    repaired);
		return 0;
	}
	struct snap_disk *d = NULL;
	size_t n = 0;
	int r = snap_disks(vm, &d, &n, err);
	if (r < 0) {
		json_decref(problems);
		json_decref(repaired);
		return r;
	}
	struct tree all = {0};
	bool chains_ok = true, unconsolidated = false;
	for (size_t i = 0; i < n; i++) {
		struct tree t = {0};
		if (tree_build(vm, vmsd, &d[i], &t, &e) < 0) {
			problem(problems, "disk %s: %s", d[i].slot, e->msg);
			vr_error_freep(&e);
			chains_ok = false;
		}
		for (size_t k = 0; k < t.n; k++) {
			tree_add(&all, t.v[k].path);
			if (!t.v[k].referenced && !t.v[k].pinned && t.v[k].children == 1)
				unconsolidated = true;
		}
		tree_clear(&t);
	}
	/* Memory files the tree names must exist. */
	for (size_t i = 0; i < vmsd_count(vmsd); i++) {
		const struct vmsd_snapshot *s = vmsd_at(vmsd, i);
		if (s->type != VMSD_SNAPSHOT_WITH_MEMORY || !s->filename)
			continue;
		_cleanup_free_ char *p = snap_abs(vm, s->filename);
		if (access(p, R_OK) < 0)
			problem(problems, "snapshot %u \"%s\": its memory file \"%s\" is missing",
				s->uid, s->display_name, s->filename);
	}
	/*
	 * The current snapshot is the newest one whose disks all lie in the
	 * chains the VM runs on (what the running state descends from).
	 */
	const struct vmsd_snapshot *cur = vmsd_current(vmsd), *best = NULL;
	for (size_t i = 0; chains_ok && i < vmsd_count(vmsd); i++) {
		const struct vmsd_snapshot *s = vmsd_at(vmsd, i);
		bool ok = true;
		for (size_t k = 0; k < s->n_disks && ok; k++) {
			_cleanup_free_ char *p = snap_abs(vm, s->disks[k].file_name);
			_cleanup_free_ char *pc = canon(p);
			for (size_t j = 0; j < n; j++) {
				if (strcmp(d[j].slot, s->disks[k].node) != 0)
					continue;
				struct tree t = {0};
				ok = tree_build(vm, vmsd, &d[j], &t, NULL) == 0 &&
				     in_active_chain(&t, &d[j], pc);
				tree_clear(&t);
			}
		}
		if (ok && (!best || s->create_time_us > best->create_time_us))
			best = s;
	}
	if (chains_ok && cur != best) {
		problem(problems, "the current snapshot is %s, but the disks descend from %s",
			cur ? cur->display_name : "none", best ? best->display_name : "none");
		if (repair) {
			if (vmsd_set_current(vmsd, best ? best->uid : 0, &e) < 0 ||
			    snap_vmsd_save(vm, vmsd, &e) < 0) {
				problem(problems, "cannot repair the current snapshot: %s", e->msg);
				vr_error_freep(&e);
			} else {
				problem(repaired, "the current snapshot is now %s",
					best ? best->display_name : "none");
			}
		}
	}
	/* Our delta and memory files that nothing refers to. */
	_cleanup_free_ char *vmsd_file = snap_vmsd_path(vm);
	const char *stem = strrchr(vmsd_file, '/') ? strrchr(vmsd_file, '/') + 1 : vmsd_file;
	vmsd_file[strlen(vmsd_file) - 5] = '\0'; /* ".vmsd": stem is now the VM's file stem */
	const char *own_vmx = strrchr(vm->vmx_path, '/') ? strrchr(vm->vmx_path, '/') + 1
							 : vm->vmx_path;
	DIR *dir = opendir(vm->dir);
	for (struct dirent *de; chains_ok && dir && (de = readdir(dir));) {
		if (!ours_by_name(de->d_name, stem, own_vmx))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", vm->dir, de->d_name);
		_cleanup_free_ char *pc = canon(p);
		bool used = tree_find(&all, pc) != NULL;
		uint32_t cu = config_uid(de->d_name, stem);
		if (cu && vmsd_find_uid(vmsd, cu))
			used = true;
		for (size_t i = 0; !used && i < vmsd_count(vmsd); i++) {
			const struct vmsd_snapshot *s = vmsd_at(vmsd, i);
			if (s->filename && strcmp(s->filename, de->d_name) == 0)
				used = true;
		}
		if (used)
			continue;
		problem(problems, "\"%s\" belongs to no snapshot and no disk", de->d_name);
		if (repair) {
			if (unlink(p) == 0)
				problem(repaired, "removed \"%s\"", de->d_name);
			else
				problem(problems, "cannot remove \"%s\": %s", de->d_name, strerror(errno));
		}
	}
	if (dir)
		closedir(dir);
	tree_clear(&all);
	snap_disks_free(d, n);
	if (chains_ok && unconsolidated) {
		problem(problems, "some delta files are no longer needed and can be merged");
		if (repair) {
			if (snapshot_consolidate(h, vm, NULL, &e) < 0) {
				problem(problems, "cannot consolidate: %s", e->msg);
				vr_error_freep(&e);
			} else {
				problem(repaired, "consolidated the disks");
			}
		}
	}
	size_t np = json_array_size(problems), nr = json_array_size(repaired);
	*report = json_pack("{s:b, s:o, s:o}", "ok", np == 0 || (repair && nr == np), "problems",
			    problems, "repaired", repaired);
	return 0;
}
