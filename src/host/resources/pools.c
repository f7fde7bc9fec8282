/* SPDX-License-Identifier: Apache-2.0 */
/* The resource pool tree sent by vireo-center: parsing, checks, cgroup settings (pools.h). */
#include "host/resources/pools.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/resources/balloon.h"
#include "host/resources/cgroup.h"

struct res_pool_tree *res_pool_tree_new(void)
{
	return xcalloc(1, sizeof(struct res_pool_tree));
}

void res_pool_tree_free(struct res_pool_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_pools; i++) {
		free(t->pools[i].id);
		free(t->pools[i].name);
		free(t->pools[i].path);
	}
	free(t->pools);
	free(t->vms);
	free(t);
}

void res_pool_tree_freep(struct res_pool_tree **t)
{
	res_pool_tree_free(*t);
	*t = NULL;
}

/* ^[a-z]+-[a-z]?[0-9]+$, at most RES_POOL_ID_MAX bytes ("resgroup-12", "pool-v3"). */
bool res_pool_id_valid(const char *s)
{
	size_t len = strlen(s), i = 0;
	if (len > RES_POOL_ID_MAX)
		return false;
	while (s[i] >= 'a' && s[i] <= 'z')
		i++;
	if (i == 0 || s[i] != '-')
		return false;
	i++;
	if (s[i] >= 'a' && s[i] <= 'z')
		i++;
	size_t digits = 0;
	while (s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	return digits > 0 && s[i] == '\0';
}

/* hostd's VM ids: lowercase RFC 4122 text (uuid_generate_str()). */
static bool vm_id_valid(const char *s)
{
	if (!uuid_is_valid(s))
		return false;
	for (const char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return false;
	return true;
}

static bool name_ok(const char *s)
{
	if (!utf8_valid(s))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

long res_pool_tree_find(const struct res_pool_tree *t, const char *id)
{
	for (size_t i = 0; i < t->n_pools; i++)
		if (strcmp(t->pools[i].id, id) == 0)
			return (long)i;
	return -1;
}

long res_pool_tree_find_path(const struct res_pool_tree *t, const char *path)
{
	for (size_t i = 0; t && i < t->n_pools; i++)
		if (strcmp(t->pools[i].path, path) == 0)
			return (long)i;
	return -1;
}

static int vm_cmp(const void *a, const void *b)
{
	return strcmp(((const struct res_pool_vm *)a)->id, ((const struct res_pool_vm *)b)->id);
}

const struct res_pool *res_pool_tree_vm_pool(const struct res_pool_tree *t, const char *vm_id)
{
	if (!t || !t->n_vms || strlen(vm_id) >= sizeof(t->vms[0].id))
		return NULL;
	struct res_pool_vm key = { 0 };
	snprintf(key.id, sizeof(key.id), "%s", vm_id);
	const struct res_pool_vm *v = bsearch(&key, t->vms, t->n_vms, sizeof(*v), vm_cmp);
	return v ? &t->pools[v->pool] : NULL;
}

char *res_pool_tree_vm_cgroup(const struct res_pool_tree *t, const char *vm_id)
{
	const struct res_pool *p = res_pool_tree_vm_pool(t, vm_id);
	return p ? xasprintf("%s/%s", p->path, vm_id) : xstrdup(vm_id);
}

uint64_t res_pool_cpu_limit_effective(const struct res_pool_tree *t, const struct res_pool *p)
{
	uint64_t lim = 0;
	for (;;) {
		if (p->cpu_limit_mhz > 0 && (lim == 0 || (uint64_t)p->cpu_limit_mhz < lim))
			lim = (uint64_t)p->cpu_limit_mhz;
		if (p->parent < 0)
			return lim;
		p = &t->pools[p->parent];
	}
}

void res_pool_cgroup_settings(const struct res_pool_tree *t, const struct res_pool *p,
			      uint64_t host_core_mhz, struct res_cgroup_settings *out)
{
	*out = (struct res_cgroup_settings){
		.cpu_shares = p->cpu_shares,
		.cpu_limit_mhz = res_pool_cpu_limit_effective(t, p),
		.host_core_mhz = host_core_mhz,
		.mem_limit_mib = p->mem_limit_mib > 0 ? (uint64_t)p->mem_limit_mib : 0,
		.mem_reservation_mib = p->mem_reservation_mib,
	};
}

/* Depth and cgroup path of pool i (parents first, by recursion: depth is bounded). */
static void pool_place(struct res_pool_tree *t, size_t i)
{
	struct res_pool *p = &t->pools[i];
	if (p->path)
		return;
	if (p->parent < 0) {
		p->depth = 1;
		p->path = xstrdup(p->id);
		return;
	}
	struct res_pool *up = &t->pools[p->parent];
	pool_place(t, (size_t)p->parent);
	p->depth = up->depth + 1;
	p->path = xasprintf("%s/%s", up->path, p->id);
}

static int pool_parse(const json_t *o, size_t index, struct res_pool *p, struct vr_error **err)
{
	static const struct json_field fields[] = {
		{ "id", JSON_STRING, true, 1, RES_POOL_ID_MAX },
		{ "parent", JSON_NULL, true, 0, 0 },
		{ "name", JSON_STRING, true, 1, RES_POOL_NAME_MAX },
		{ "cpu_shares", JSON_INTEGER, true, 1, 1000000 },
		{ "cpu_limit_mhz", JSON_INTEGER, true, -1, RES_POOL_AMOUNT_MAX },
		{ "cpu_reservation_mhz", JSON_INTEGER, true, 0, RES_POOL_AMOUNT_MAX },
		{ "mem_shares", JSON_INTEGER, true, 1, 1000000 },
		{ "mem_limit_mib", JSON_INTEGER, true, -1, RES_POOL_AMOUNT_MAX },
		{ "mem_reservation_mib", JSON_INTEGER, true, 0, RES_POOL_AMOUNT_MAX },
	};
	/* Name the pool by its id once that is known to be a string. */
	const char *idv = json_string_value(json_object_get(o, "id"));
	_cleanup_free_ char *what = idv && json_is_object(o) && strlen(idv) <= RES_POOL_ID_MAX && name_ok(idv)
					    ? xasprintf("resource pool \"%s\"", idv)
					    : xasprintf("resource pool %zu (counting from 0)", index);
	if (!json_is_object(o))
		return vr_error_set(err, EINVAL, "%s is not an object", what);
	int r = json_check_object(o, fields, ARRAY_SIZE(fields), what, err);
	if (r < 0)
		return r;
	const char *id = json_get_string(o, "id", "");
	if (!res_pool_id_valid(id))
		return vr_error_set(err, EINVAL,
				    "%s: the id must be lowercase letters, '-', an optional letter and digits (like \"resgroup-12\"), at most %d bytes",
				    what, RES_POOL_ID_MAX);
	const char *name = json_get_string(o, "name", "");
	if (!name_ok(name))
		return vr_error_set(err, EINVAL, "%s: the name is not valid UTF-8 or holds a control character", what);
	const json_t *parent = json_object_get(o, "parent");
	if (!json_is_null(parent) && !json_is_string(parent))
		return vr_error_set(err, EINVAL, "%s: \"parent\" must be a pool id or null", what);
	*p = (struct res_pool){
		.parent = -1,
		.cpu_shares = (uint64_t)json_get_int(o, "cpu_shares", 0),
		.cpu_limit_mhz = json_get_int(o, "cpu_limit_mhz", -1),
		.cpu_reservation_mhz = (uint64_t)json_get_int(o, "cpu_reservation_mhz", 0),
		.mem_shares = (uint64_t)json_get_int(o, "mem_shares", 0),
		.mem_limit_mib = json_get_int(o, "mem_limit_mib", -1),
		.mem_reservation_mib = (uint64_t)json_get_int(o, "mem_reservation_mib", 0),
	};
	if (p->cpu_limit_mhz == 0)
		return vr_error_set(err, ERANGE, "%s: cpu_limit_mhz must be -1 (no limit) or at least 1", what);
	if (p->mem_limit_mib == 0)
		return vr_error_set(err, ERANGE, "%s: mem_limit_mib must be -1 (no limit) or at least 1", what);
	if (p->cpu_limit_mhz > 0 && p->cpu_reservation_mhz > (uint64_t)p->cpu_limit_mhz)
		return vr_error_set(err, ERANGE, "%s: the CPU reservation (%llu MHz) is above its limit (%lld MHz)",
				    what, (unsigned long long)p->cpu_reservation_mhz, (long long)p->cpu_limit_mhz);
	if (p->mem_limit_mib > 0 && p->mem_reservation_mib > (uint64_t)p->mem_limit_mib)
		return vr_error_set(err, ERANGE, "%s: the memory reservation (%llu MiB) is above its limit (%lld MiB)",
				    what, (unsigned long long)p->mem_reservation_mib, (long long)p->mem_limit_mib);
	p->id = xstrdup(id);
	p->name = xstrdup(name);
	return 0;
}

int res_pool_tree_from_json(const json_t *body, struct res_pool_tree **out, struct vr_error **err)
{
	static const struct json_field fields[] = {
		{ "pools", JSON_ARRAY, true, 0, RES_POOL_MAX_POOLS },
		{ "vms", JSON_OBJECT, true, 0, 0 },
	};
	int r = json_check_object(body, fields, ARRAY_SIZE(fields), "resource pools", err);
	if (r < 0)
		return r;
	const json_t *pools = json_object_get(body, "pools"), *vms = json_object_get(body, "vms");
	if (json_object_size(vms) > RES_POOL_MAX_VMS)
		return vr_error_set(err, ERANGE, "\"vms\" in resource pools has %zu entries; the limit is %d",
				    json_object_size(vms), RES_POOL_MAX_VMS);
	_cleanup_(res_pool_tree_freep) struct res_pool_tree *t = res_pool_tree_new();
	size_t n = json_array_size(pools);
	t->pools = xcalloc(n ? n : 1, sizeof(*t->pools));
	for (size_t i = 0; i < n; i++) {
		r = pool_parse(json_array_get(pools, i), i, &t->pools[i], err);
		if (r < 0)
			return r;
		t->n_pools++;
		if (res_pool_tree_find(t, t->pools[i].id) != (long)i)
			return vr_error_set(err, EINVAL, "resource pool \"%s\" is listed twice", t->pools[i].id);
	}
	for (size_t i = 0; i < n; i++) {
		const char *parent = json_string_value(json_object_get(json_array_get(pools, i), "parent"));
		if (!parent)
			continue;
		long k = res_pool_tree_find(t, parent);
		if (k < 0)
			return vr_error_set(err, EINVAL,
					    "resource pool \"%s\": its parent \"%.*s\" is not a listed pool",
					    t->pools[i].id, RES_POOL_ID_MAX + 8, parent);
		t->pools[i].parent = k;
	}
	/* A chain of parents longer than the number of pools goes round in a cycle. */
	for (size_t i = 0; i < n; i++) {
		size_t steps = 0;
		for (long k = t->pools[i].parent; k >= 0; k = t->pools[k].parent)
			if (++steps > n)
				return vr_error_set(err, EINVAL, "resource pool \"%s\": its parents form a cycle",
						    t->pools[i].id);
		if (steps + 1 > RES_POOL_MAX_DEPTH)
			return vr_error_set(err, ERANGE,
					    "resource pool \"%s\" is %zu levels deep; the limit is %d",
					    t->pools[i].id, steps + 1, RES_POOL_MAX_DEPTH);
	}
	for (size_t i = 0; i < n; i++)
		pool_place(t, i);

	t->vms = xcalloc(json_object_size(vms) ? json_object_size(vms) : 1, sizeof(*t->vms));
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)vms, key, value) {
		if (!vm_id_valid(key))
			return vr_error_set(err, EINVAL,
					    "\"vms\" in resource pools: \"%.40s\" is not a VM id (a lowercase UUID)", key);
		const char *pool = json_string_value(value);
		if (!pool)
			return vr_error_set(err, EINVAL, "\"vms\" in resource pools: VM %s must map to a pool id",
					    key);
		long k = res_pool_tree_find(t, pool);
		if (k < 0)
			return vr_error_set(err, EINVAL,
					    "\"vms\" in resource pools: VM %s is in \"%.48s\", which is not a listed pool",
					    key, pool);
		struct res_pool_vm *v = &t->vms[t->n_vms++];
		snprintf(v->id, sizeof(v->id), "%s", key);
		v->pool = (size_t)k;
	}
	/* Keys of a JSON object are unique, so no VM is listed twice. */
	qsort(t->vms, t->n_vms, sizeof(*t->vms), vm_cmp);
	*out = steal_pointer(&t);
	return 0;
}

json_t *res_pool_to_json(const struct res_pool_tree *t, const struct res_pool *p)
{
	return json_pack("{s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", p->id, "parent",
			 p->parent >= 0 ? t->pools[p->parent].id : NULL, "name", p->name, "cpu_shares",
			 (json_int_t)p->cpu_shares, "cpu_limit_mhz", (json_int_t)p->cpu_limit_mhz,
			 "cpu_reservation_mhz", (json_int_t)p->cpu_reservation_mhz, "mem_shares",
			 (json_int_t)p->mem_shares, "mem_limit_mib", (json_int_t)p->mem_limit_mib,
			 "mem_reservation_mib", (json_int_t)p->mem_reservation_mib);
}

json_t *res_pool_tree_to_json(const struct res_pool_tree *t)
{
	json_t *pools = json_array(), *vms = json_object();
	for (size_t i = 0; i < t->n_pools; i++)
		json_array_append_new(pools, res_pool_to_json(t, &t->pools[i]));
	for (size_t i = 0; i < t->n_vms; i++)
		json_object_set_new(vms, t->vms[i].id, json_string(t->pools[t->vms[i].pool].id));
	return json_pack("{s:o, s:o}", "pools", pools, "vms", vms);
}

/* Shares as a divisor's term: the parser allows 1 and up, 0 would still count as 1. */
static double shares_term(uint64_t s)
{
	return s ? (double)s : 1.0;
}

/* Where pool k's shares are summed with its siblings': its parent, or np for the top. */
static size_t parent_slot(const struct res_pool_tree *t, size_t k)
{
	long up = t->pools[k].parent;
	return up >= 0 && (size_t)up < t->n_pools ? (size_t)up : t->n_pools;
}

/*
 * The part of the contended memory pool k's subtree gets: its parent's
 * part times its shares over its active siblings'.  k is active, so the
 * sum holds its own shares and is not 0; a chain deeper than the parser
 * allows (a cycle) is cut at the top.
 */
static double pool_part(const struct res_pool_tree *t, const double *sum, double *part, bool *done, size_t k,
			unsigned depth)
{
	if (done[k])
		return part[k];
	size_t up = parent_slot(t, k);
	double above = up < t->n_pools && depth < RES_POOL_MAX_DEPTH ? pool_part(t, sum, part, done, up, depth + 1)
								     : 1.0;
	part[k] = above * shares_term(t->pools[k].mem_shares) / sum[up];
	done[k] = true;
	return part[k];
}

void res_pool_mem_view(const struct res_pool_tree *t, const char *const *vm_ids, const uint64_t *shares,
		       size_t n, struct res_pool_mem_view *out)
{
	*out = (struct res_pool_mem_view){
		.weights = xcalloc(n ? n : 1, sizeof(*out->weights)),
		.vm_group = xcalloc(n ? n : 1, sizeof(*out->vm_group)),
	};
	for (size_t i = 0; i < n; i++) {
		const struct res_pool *p = res_pool_tree_vm_pool(t, vm_ids[i]);
		out->vm_group[i] = p ? (long)(p - t->pools) : -1;
		out->weights[i] = shares[i];
		if (p)
			out->n_pooled++;
	}
	if (!out->n_pooled)
		return;

	size_t np = t->n_pools;
	out->groups = xcalloc(np, sizeof(*out->groups));
	out->n_groups = np;
	for (size_t k = 0; k < np; k++) {
		size_t up = parent_slot(t, k);
		out->groups[k] = (struct res_mem_group){
			.parent = up < np ? (long)up : -1,
			.floor_mib = t->pools[k].mem_reservation_mib,
		};
	}

	/*
	 * sum[k]: the shares of pool k's active children and VMs, sum[np] the
	 * top's.  Doubles: 100000 VMs of at most 2^32 shares each sum exactly.
	 */
	double *sum = xcalloc(np + 1, sizeof(*sum));
	double *part = xcalloc(np, sizeof(*part));
	bool *active = xcalloc(np, sizeof(*active)), *done = xcalloc(np, sizeof(*done));
	for (size_t i = 0; i < n; i++) {
		long g = out->vm_group[i];
		sum[g >= 0 ? (size_t)g : np] += shares_term(shares[i]);
		/* Up the chain until a pool already known active: each is marked once. */
		for (size_t k = (size_t)g; g >= 0 && k < np && !active[k]; k = parent_slot(t, k))
			active[k] = true;
	}
	for (size_t k = 0; k < np; k++)
		if (active[k])
			sum[parent_slot(t, k)] += shares_term(t->pools[k].mem_shares);

	double *w = xcalloc(n, sizeof(*w)), top = 0;
	for (size_t i = 0; i < n; i++) {
		long g = out->vm_group[i];
		size_t slot = g >= 0 ? (size_t)g : np;
		double above = g >= 0 ? pool_part(t, sum, part, done, slot, 1) : 1.0;
		w[i] = above * shares_term(shares[i]) / sum[slot];
		if (w[i] > top)
			top = w[i];
	}
	for (size_t i = 0; i < n; i++) {
		double x = top > 0 ? w[i] / top * (double)RES_POOL_MEM_WEIGHT_TOP + 0.5 : 1.0;
		out->weights[i] = x >= 1.0 ? (uint64_t)x : 1;
	}
	free(w);
	free(done);
	free(active);
	free(part);
	free(sum);
}

void res_pool_mem_view_clear(struct res_pool_mem_view *v)
{
	free(v->weights);
	free(v->vm_group);
	free(v->groups);
	*v = (struct res_pool_mem_view){ 0 };
}
