/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource pools on this host (vSphere's per-host mirror of the pool
 * tree): vireo-center sends the whole tree and the VM -> pool map; each
 * pool becomes a cgroup nested as the tree, and each running VM's group
 * sits below its pool's (host/resources/pools.h).
 *
 * Order of a change (PUT), so that STATE/resource-pools.json always
 * describes what the kernel enforces: apply, then persist.  Applying is
 *   A. lift the CPU limit of every group in the pools' subtrees (pools and
 *      VMs), bottom-up (cgroup v1 refuses a child quota above its parent's,
 *      so limits are only ever written top-down below);
 *   B. create or update the pools' groups, top-down;
 *   C. re-apply each running VM's own settings in place, or move it: new
 *      group with its settings, QEMU attached (all threads), old removed;
 *   D. remove the groups of pools no longer listed, deepest first (VMs
 *      have moved out); one still holding something stays, with a warning.
 * When a step fails, or the file cannot be written, the same procedure
 * runs with the previous tree, which moves VMs back and restores the
 * settings; the answer names what failed.  Should that fail too, the
 * pools are reported as not enforced, with the reason.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "host/alloc.h"
#include "host/alloc_priv.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/resources/cgroup.h"
#include "host/resources/pools.h"

#define POOLS_FILE_MAX (32u << 20)

static char *pools_file(struct hostd *h)
{
	return xasprintf("%s/resource-pools.json", h->cfg.state_dir);
}

static int pools_save(struct hostd *h, const struct res_pool_tree *t, struct vr_error **err)
{
	_cleanup_free_ char *path = pools_file(h);
	json_t *arr = json_array();
	json_array_append_new(arr, res_pool_tree_to_json(t));
	return json_state_save(path, "resource_pools", arr, err);
}

static int pool_group_apply(struct alloc *a, const struct res_pool_tree *t, const struct res_pool *p,
			    struct vr_error **err)
{
	struct res_cgroup *cg = NULL;
	int r = res_cgroup_create(a->sys, p->path, &cg, err);
	if (r == 0) {
		struct res_cgroup_settings s;
		res_pool_cgroup_settings(t, p, a->cap.core_mhz, &s);
		r = res_cgroup_apply(cg, &s, err);
	}
	res_cgroup_free(cg);
	if (r < 0)
		return vr_error_wrap(err, "resource pool \"%s\" (\"%s\")", p->id, p->name);
	return 0;
}

int alloc_pools_vm_cgroup_locked(struct hostd *h, const char *vm_id, char **name, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	const struct res_pool *p = res_pool_tree_vm_pool(a->pools, vm_id);
	/* The pool's chain, top-down: a group removed behind our back comes back with its settings. */
	const struct res_pool *chain[RES_POOL_MAX_DEPTH];
	size_t n = 0;
	for (const struct res_pool *q = p; q && n < RES_POOL_MAX_DEPTH;
	     q = q->parent >= 0 ? &a->pools->pools[q->parent] : NULL)
		chain[n++] = q;
	while (n > 0) {
		int r = pool_group_apply(a, a->pools, chain[--n], err);
		if (r < 0)
			return r;
	}
	*name = res_pool_tree_vm_cgroup(a->pools, vm_id);
	return 0;
}

/* Pool paths of both trees, deepest first (or shallowest first). */
struct pool_ref {
	const struct res_pool_tree *t;
	const struct res_pool *p;
};

static int ref_deeper_first(const void *a, const void *b)
{
	const struct pool_ref *x = a, *y = b;
	return (int)y->p->depth - (int)x->p->depth;
}

static struct pool_ref *pools_by_depth(const struct res_pool_tree *t1, const struct res_pool_tree *t2,
				       size_t *n)
{
	size_t total = (t1 ? t1->n_pools : 0) + (t2 ? t2->n_pools : 0), k = 0;
	struct pool_ref *v = xcalloc(total ? total : 1, sizeof(*v));
	for (size_t i = 0; t1 && i < t1->n_pools; i++)
		v[k++] = (struct pool_ref){ t1, &t1->pools[i] };
	for (size_t i = 0; t2 && i < t2->n_pools; i++)
		v[k++] = (struct pool_ref){ t2, &t2->pools[i] };
	qsort(v, k, sizeof(*v), ref_deeper_first);
	*n = k;
	return v;
}

/* References to the VMs that run in a cgroup now. */
static struct vm **running_vms(struct hostd *h, size_t *n)
{
	struct vm **v = NULL;
	size_t k = 0;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		bool in = vm->cgroup != NULL;
		pthread_mutex_unlock(&vm->lock);
		if (!in)
			continue;
		v = xrealloc(v, (k + 1) * sizeof(*v));
		v[k++] = vm_ref(vm);
	}
	pthread_mutex_unlock(&h->lock);
	*n = k;
	return v;
}

/*
 * Puts a running VM's group at `to` with its own settings (pools_lock and
 * vm->lock held).  On failure the VM stays where it was.
 */
static int vm_place(struct hostd *h, struct vm *vm, const struct res_pool_tree *t, const char *to,
		    bool *moved, struct vr_error **err)
{
	struct res_cgroup *old = vm->cgroup;
	*moved = false;
	if (!old)
		return 0;
	if (strcmp(res_cgroup_name(old), to) == 0)
		return vm->cfg ? alloc_vm_apply_cgroup(h, vm, vm->cfg, t, old, err) : 0;
	struct res_cgroup *cg = NULL;
	int r = res_cgroup_create(h->alloc->sys, to, &cg, err);
	if (r == 0 && vm->cfg)
		r = alloc_vm_apply_cgroup(h, vm, vm->cfg, t, cg, err);
	if (r == 0)
		r = res_cgroup_attach(cg, vm->pid, err);
	if (r < 0) {
		if (cg) {
			/* Back where it was (v1 may have moved it in some hierarchies only). */
			struct vr_error *e2 = NULL;
			res_cgroup_attach(old, vm->pid, &e2);
			res_cgroup_destroy(cg, &e2);
			vr_error_free(e2);
			res_cgroup_free(cg);
		}
		return r;
	}
	struct vr_error *e2 = NULL;
	if (res_cgroup_destroy(old, &e2) < 0) {
		log_warn("VM \"%s\": %s", vm_display_name(vm), e2->msg);
		vr_error_free(e2);
	}
	res_cgroup_free(old);
	vm->cgroup = cg;
	*moved = true;
	return 0;
}

/* Makes the kernel match `target`; groups of `other`'s pools not in target are removed. */
static int pools_enforce(struct hostd *h, const struct res_pool_tree *target,
			 const struct res_pool_tree *other, size_t *n_moved, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	size_t n_vms = 0, n_refs = 0;
	struct vm **vms = running_vms(h, &n_vms);
	struct pool_ref *refs = pools_by_depth(target, other, &n_refs);
	int r = 0;
	*n_moved = 0;

	/*
	 * A: lift CPU limits bottom-up: every group in the pools' trees, the
	 * groups of VMs not reattached yet (hostd starting) included.
	 */
	for (size_t i = 0; i < n_refs; i++) {
		struct vr_error *e = NULL;
		if (refs[i].p->depth == 1 && res_cgroup_lift_cpu_limit_tree(a->sys, refs[i].p->path, &e) < 0) {
			log_warn("resource pools: %s", e->msg);
			vr_error_free(e);
		}
	}

	/* B: the target's pools, top-down. */
	for (size_t i = n_refs; r == 0 && i-- > 0;)
		if (refs[i].t == target)
			r = pool_group_apply(a, target, refs[i].p, err);

	/* C: each running VM in its place. */
	for (size_t i = 0; r == 0 && i < n_vms; i++) {
		struct vm *vm = vms[i];
		_cleanup_free_ char *to = res_pool_tree_vm_cgroup(target, vm->id);
		const struct res_pool *p = res_pool_tree_vm_pool(target, vm->id);
		bool moved = false;
		pthread_mutex_lock(&vm->lock);
		r = vm_place(h, vm, target, to, &moved, err);
		pthread_mutex_unlock(&vm->lock);
		if (r < 0)
			r = vr_error_wrap(err, "VM \"%s\" (%s): cannot put it %s%s%s", vm_display_name(vm), vm->id,
					  p ? "in resource pool \"" : "outside resource pools", p ? p->id : "",
					  p ? "\"" : "");
		else if (moved)
			(*n_moved)++;
	}

	/* D: pools no longer listed, deepest first. */
	for (size_t i = 0; r == 0 && i < n_refs; i++) {
		if (refs[i].t == target || res_pool_tree_find_path(target, refs[i].p->path) >= 0)
			continue;
		struct res_cgroup *cg = NULL;
		struct vr_error *e = NULL;
		if (res_cgroup_open(a->sys, refs[i].p->path, &cg, &e) == 0 && res_cgroup_destroy(cg, &e) < 0) {
			events_add(h->events, EVENT_WARNING, "host", "ResourcePoolNotRemoved",
				   "resource pool \"%s\" is no longer listed but its group stays: %s",
				   refs[i].p->id, e->msg);
		}
		vr_error_free(e);
		res_cgroup_free(cg);
	}
	free(refs);
	for (size_t i = 0; i < n_vms; i++)
		vm_unref(vms[i]);
	free(vms);
	/* The body was valid: what the kernel refused is not the client's fault (not a 400). */
	if (r < 0 && err && *err && ((*err)->code == EINVAL || (*err)->code == ERANGE)) {
		(*err)->code = EIO;
		r = -EIO;
	}
	return r;
}

void alloc_pools_init(struct hostd *h)
{
	struct alloc *a = h->alloc;
	pthread_mutex_init(&a->pools_lock, NULL);
	_cleanup_free_ char *path = pools_file(h);
	json_t *doc = NULL, *arr = NULL;
	struct vr_error *err = NULL;
	struct res_pool_tree *t = NULL;
	if (json_state_load(path, POOLS_FILE_MAX, "resource_pools", &doc, &arr, &err) < 0 ||
	    (doc && res_pool_tree_from_json(json_array_get(arr, 0), &t, &err) < 0)) {
		a->pools_error = xasprintf("%s cannot be used: %s", path, err->msg);
		log_error("resource pools: %s", a->pools_error);
		vr_error_free(err);
		err = NULL;
	}
	json_decref(doc);
	a->pools = t ? t : res_pool_tree_new();
	if (!a->sys || a->pools_error)
		return;
	size_t moved;
	if (pools_enforce(h, a->pools, NULL, &moved, &err) < 0) {
		a->pools_error = xasprintf("cannot enforce the resource pools: %s", err->msg);
		log_error("%s", a->pools_error);
		vr_error_free(err);
	} else if (a->pools->n_pools) {
		log_info("resource pools: %zu enforced, %zu VMs mapped", a->pools->n_pools, a->pools->n_vms);
	}
}

/* Removes the group `name` and every group below it, deepest first; false when one stays. */
static bool remove_tree(struct alloc *a, const char *name, unsigned levels)
{
	char **kids = NULL;
	struct vr_error *e = NULL;
	bool ok = levels < RES_CGROUP_MAX_LEVELS && res_cgroup_children(a->sys, name, &kids, &e) == 0;
	for (size_t i = 0; ok && kids && kids[i]; i++) {
		_cleanup_free_ char *child = xasprintf("%s/%s", name, kids[i]);
		ok = remove_tree(a, child, levels + 1);
	}
	strv_free(kids);
	struct res_cgroup *cg = NULL;
	if (ok && (res_cgroup_open_partial(a->sys, name, &cg, &e) < 0 || res_cgroup_destroy(cg, &e) < 0))
		ok = false;
	if (!ok && e)
		log_warn("resource pools: a group left over stays: %s", e->msg);
	vr_error_free(e);
	res_cgroup_free(cg);
	return ok;
}

/* Groups named like pools below `prefix` (NULL: the parent) that the tree does not have. */
static void sweep(struct hostd *h, const char *prefix, unsigned levels)
{
	struct alloc *a = h->alloc;
	char **kids = NULL;
	struct vr_error *e = NULL;
	if (levels > RES_POOL_MAX_DEPTH || res_cgroup_children(a->sys, prefix, &kids, &e) < 0) {
		vr_error_free(e);
		return;
	}
	for (size_t i = 0; kids && kids[i]; i++) {
		if (!res_pool_id_valid(kids[i]))
			continue; /* a VM's group (a uuid) or not ours */
		_cleanup_free_ char *path = prefix ? xasprintf("%s/%s", prefix, kids[i]) : xstrdup(kids[i]);
		if (res_pool_tree_find_path(a->pools, path) >= 0)
			sweep(h, path, levels + 1);
		else if (remove_tree(a, path, 0))
			log_info("resource pools: removed the left-over group %s", path);
	}
	strv_free(kids);
}

void alloc_pools_sweep(struct hostd *h)
{
	struct alloc *a = h->alloc;
	if (!a->sys)
		return;
	pthread_mutex_lock(&a->pools_lock);
	if (!a->pools_error)
		sweep(h, NULL, 0);
	pthread_mutex_unlock(&a->pools_lock);
}

void alloc_pools_mem_view(struct hostd *h, const char *const *vm_ids, const uint64_t *shares, size_t n,
			  struct res_pool_mem_view *out)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&a->pools_lock);
	/* Not enforced (no cgroups, or a tree that could not be applied): as without pools. */
	bool enforced = a->sys && !a->pools_error;
	res_pool_mem_view(enforced ? a->pools : NULL, vm_ids, shares, n, out);
	pthread_mutex_unlock(&a->pools_lock);
}

void alloc_pools_fini(struct hostd *h)
{
	struct alloc *a = h->alloc;
	res_pool_tree_free(a->pools);
	free(a->pools_error);
	pthread_mutex_destroy(&a->pools_lock);
}

json_t *alloc_pools_json(struct hostd *h)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&a->pools_lock);
	const struct res_pool_tree *t = a->pools;
	json_t *doc = res_pool_tree_to_json(t);
	json_t *pools = json_object_get(doc, "pools");
	for (size_t i = 0; i < t->n_pools; i++) {
		json_t *o = json_array_get(pools, i);
		json_object_set_new(o, "vms", json_array());
		struct res_cgroup *cg = NULL;
		if (a->sys && res_cgroup_open(a->sys, t->pools[i].path, &cg, NULL) == 0)
			json_object_set_new(o, "cgroup", json_string(res_cgroup_rel_path(cg)));
		else
			json_object_set_new(o, "cgroup", json_null());
		res_cgroup_free(cg);
	}
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		const struct res_pool *p = res_pool_tree_vm_pool(t, vm->id);
		if (p)
			json_array_append_new(json_object_get(json_array_get(pools, (size_t)(p - t->pools)), "vms"),
					      json_string(vm->id));
	}
	pthread_mutex_unlock(&h->lock);
	const char *reason = !a->sys ? a->cg_error : a->pools_error;
	json_object_set_new(doc, "enforced", json_boolean(reason == NULL));
	if (reason)
		json_object_set_new(doc, "reason", json_string(reason));
	pthread_mutex_unlock(&a->pools_lock);
	return doc;
}

int alloc_pools_put(struct hostd *h, const json_t *body, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	struct res_pool_tree *t = NULL;
	int r = res_pool_tree_from_json(body, &t, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->pools_lock);
	size_t moved = 0;
	if (a->sys)
		r = pools_enforce(h, t, a->pools, &moved, err);
	if (r == 0 && (r = pools_save(h, t, err)) < 0)
		vr_error_wrap(err, "the resource pools were applied but cannot be saved, so they were undone");
	if (r < 0) {
		struct vr_error *e2 = NULL;
		size_t back;
		if (a->sys && pools_enforce(h, a->pools, t, &back, &e2) < 0) {
			free(a->pools_error);
			a->pools_error = xasprintf("a failed change could not be undone: %s", e2->msg);
			log_error("resource pools: %s", a->pools_error);
			vr_error_free(e2);
		}
		pthread_mutex_unlock(&a->pools_lock);
		res_pool_tree_free(t);
		return r;
	}
	res_pool_tree_free(a->pools);
	a->pools = t;
	free(a->pools_error);
	a->pools_error = NULL;
	size_t n_pools = t->n_pools, n_vms = t->n_vms;
	pthread_mutex_unlock(&a->pools_lock);
	events_add(h->events, EVENT_INFO, "host", "ResourcePoolsChanged",
		   "resource pools: %zu pools, %zu VMs mapped, %zu running VMs moved%s", n_pools, n_vms, moved,
		   a->sys ? "" : " (not enforced: no usable cgroups)");
	return 0;
}
