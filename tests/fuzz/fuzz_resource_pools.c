/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The body of PUT /api/v1/host/resource-pools (host/resources/pools.h):
 * arbitrary JSON into res_pool_tree_from_json().  On success every promise
 * holds (parents listed, depth within the limit, paths built from the ids,
 * every VM in a listed pool) and the tree survives a round trip; on
 * failure there is a message and no tree.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "host/resources/pools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
