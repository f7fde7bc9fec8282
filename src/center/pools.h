/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_POOLS_H
#define VIREO_CENTER_POOLS_H

/*
 * Resource pools as vSphere has them.  Every cluster, and every host that
 * stands alone, has a root pool "Resources" whose reservation is what its
 * connected hosts can give (their capacity after the hosts' own reserve,
 * as each host reports it); pools nest below it, each with a CPU and a
 * memory reservation, limit, shares and an "expandable reservation" flag.
 *
 * Admission.  What a pool has reserved for its children is the sum of the
 * reservations of its powered-on VMs (and those being powered on) and of
 * its child pools (a child counts for the larger of its reservation and
 * what its own children use).  A VM's power-on needing r fits in pool P
 * when P's unreserved part covers it; if not and P is expandable, P asks
 * its parent for the rest, and so on up the tree; the root pool is not
 * expandable.  A limit caps what a pool may hand out, expandable or not.
 * The same rule checks a new or changed child pool's reservation.  A
 * refusal names the pool, the resource, what is needed and what is free.
 *
 * Power-ons are admitted one at a time (a mutex), and an admitted VM's
 * reservation counts as "pending" until its power-on ends, so two
 * concurrent power-ons cannot both take the last of a pool.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct db;
struct vr_error;

struct pool_alloc {
	int64_t cpu_reservation_mhz, cpu_limit_mhz; /* limit -1: none */
	int64_t mem_reservation_mib, mem_limit_mib;
	char cpu_shares_level[8], mem_shares_level[8]; /* low normal high custom */
	int64_t cpu_shares, mem_shares;
	bool cpu_expandable, mem_expandable;
};

/* vSphere's defaults: no reservation or limit, normal shares, expandable. */
void pool_alloc_default(struct pool_alloc *a);
/* From the API's {"cpu": {...}, "memory": {...}} over *a; -EINVAL naming the problem. */
int pool_alloc_from_json(const json_t *j, struct pool_alloc *a, struct vr_error **err);
json_t *pool_alloc_to_json(const struct pool_alloc *a);

/* The pool's allocation (defaults when it has no row). */
int pool_alloc_get(struct db *db, int64_t pool_id, struct pool_alloc *out, struct vr_error **err);
int pool_alloc_set(struct db *db, int64_t pool_id, const struct pool_alloc *a,
		   struct vr_error **err);

/* What a pool has reserved for its children and what it could still give (JSON for the API). */
int pool_usage_json(struct db *db, int64_t pool_id, json_t **out, struct vr_error **err);

/*
 * Whether a reservation of cpu_mhz and mem_mib fits in pool_id (walking up
 * expandable pools).  exclude_child: a child pool whose own reservation is
 * being changed (0 for a VM).  0 when it fits, -EBUSY with the reason.
 */
int pool_admit(struct db *db, int64_t pool_id, int64_t cpu_mhz, int64_t mem_mib,
	       int64_t exclude_child, struct vr_error **err);

/*
 * A VM's power-on: checks its reservation against its pool and, when it
 * fits, records it as pending until pool_poweron_done().  The VM's
 * reservation is read from its properties ("resources" as its host reports
 * them).  A VM in no pool is admitted (its host still checks).
 */
int pool_poweron_begin(struct db *db, int64_t vm_id, struct vr_error **err);
void pool_poweron_done(int64_t vm_id);

/* The root pool "Resources" of a cluster or a standalone host (0 if none). */
int pool_root_of(struct db *db, int64_t owner_id, int64_t *pool_id, struct vr_error **err);

#endif
