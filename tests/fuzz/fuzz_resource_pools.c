/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The body of PUT /api/v1/host/resource-pools (host/resources/pools.h):
 * arbitrary JSON into res_pool_tree_from_json().  On success every promise
 * holds (parents listed, depth within the limit, paths built from the ids,
 * every VM in a listed pool) and the tree survives a round trip; on
 * failure there is a message and no tree.  An accepted tree is then made
 * the balloon policy's weights and floors (res_pool_mem_view()) for its
 * VMs and one outside the pools, with shares taken from the input: every
 * weight is 1 to the top, the groups mirror the tree, and (small trees)
 * the policy takes them and no pool ends below its reservation.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/resources/balloon.h"
#include "host/resources/pools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void mem_view_check(const struct res_pool_tree *t, const uint8_t *data, size_t size)
{
	size_t n = t->n_vms + 1;
	const char **ids = xcalloc(n, sizeof(*ids));
	uint64_t *shares = xcalloc(n, sizeof(*shares));
	for (size_t i = 0; i < n; i++) {
		ids[i] = i < t->n_vms ? t->vms[i].id : "00000000-0000-4000-8000-000000000000";
		/* 0 (never sent, still safe) to 2^32 - 1, from the input's bytes. */
		uint64_t b = size ? data[i % size] : 0;
		shares[i] = b == 0 ? 0 : b == 1 ? 1 : b == 2 ? UINT32_MAX : 1 + (b * 2654435761u + i) % 1000000;
	}
	struct res_pool_mem_view v;
	res_pool_mem_view(t, ids, shares, n, &v);
	if (v.n_pooled != t->n_vms || v.vm_group[n - 1] != -1 || v.n_groups != (t->n_vms ? t->n_pools : 0))
		abort();
	for (size_t i = 0; i < n; i++) {
		/* No VM in a pool: the own shares, unchanged. */
		if (t->n_vms ? v.weights[i] < 1 || v.weights[i] > RES_POOL_MEM_WEIGHT_TOP : v.weights[i] != shares[i])
			abort();
		if (i < t->n_vms && v.vm_group[i] != (long)t->vms[i].pool)
			abort();
	}
	for (size_t k = 0; k < v.n_groups; k++)
		if (v.groups[k].parent != t->pools[k].parent || v.groups[k].floor_mib != t->pools[k].mem_reservation_mib)
			abort();
	if (n <= 256) {
		struct res_mem_vm *vms = xcalloc(n, sizeof(*vms));
		uint64_t *targets = xcalloc(n, sizeof(*targets));
		for (size_t i = 0; i < n; i++)
			vms[i] = (struct res_mem_vm){ .configured_mib = 1024 + 512 * (i % 4), .shares = v.weights[i] };
		struct res_mem_host host = { .capacity_mib = 8192, .used_mib = 8192 };
		struct res_mem_plan plan;
		if (res_mem_balloon_targets_grouped(NULL, &host, vms, n, v.vm_group, v.groups, v.n_groups, targets,
						    &plan) != 0)
			abort();
		/* Each group's VMs together: at their reservation or untouched. */
		for (size_t k = 0; k < v.n_groups; k++) {
			uint64_t before = 0, after = 0;
			for (size_t i = 0; i < n; i++)
				for (long g = v.vm_group[i]; g >= 0; g = v.groups[g].parent)
					if (g == (long)k) {
						before += vms[i].configured_mib;
						after += targets[i];
						break;
					}
			if (after > before || (after < before && after < v.groups[k].floor_mib))
				abort();
		}
		free(targets);
		free(vms);
	}
	res_pool_mem_view_clear(&v);
	free(shares);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!body)
		return 0;
	struct res_pool_tree *t = NULL;
	struct vr_error *err = NULL;
	if (res_pool_tree_from_json(body, &t, &err) < 0) {
		if (!err || !*vr_error_msg(err) || t)
			abort();
		vr_error_free(err);
		json_decref(body);
		return 0;
	}
	for (size_t i = 0; i < t->n_pools; i++) {
		const struct res_pool *p = &t->pools[i];
		if (p->depth < 1 || p->depth > RES_POOL_MAX_DEPTH || res_pool_tree_find(t, p->id) != (long)i)
			abort();
		size_t plen = strlen(p->path), ilen = strlen(p->id);
		if (plen < ilen || strcmp(p->path + plen - ilen, p->id) != 0)
			abort();
		if (p->parent >= 0) {
			const struct res_pool *up = &t->pools[p->parent];
			if ((size_t)p->parent >= t->n_pools || up->depth + 1 != p->depth ||
			    strncmp(p->path, up->path, strlen(up->path)) != 0)
				abort();
		} else if (p->depth != 1 || strcmp(p->path, p->id) != 0) {
			abort();
		}
	}
	for (size_t i = 0; i < t->n_vms; i++)
		if (t->vms[i].pool >= t->n_pools || res_pool_tree_vm_pool(t, t->vms[i].id) != &t->pools[t->vms[i].pool])
			abort();
	mem_view_check(t, data, size);
	json_t *out = res_pool_tree_to_json(t);
	struct res_pool_tree *t2 = NULL;
	if (res_pool_tree_from_json(out, &t2, NULL) < 0 || t2->n_pools != t->n_pools || t2->n_vms != t->n_vms)
		abort();
	res_pool_tree_free(t2);
	json_decref(out);
	res_pool_tree_free(t);
	json_decref(body);
	return 0;
}
