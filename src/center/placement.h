/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_PLACEMENT_H
#define VIREO_CENTER_PLACEMENT_H

/* Initial placement of a new VM (placement.c says how a host is chosen). */

#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

struct placement_request {
	int64_t target_id;	   /* a cluster, resource pool or host */
	const char *datastore;	   /* by name; NULL: any */
	const char *const *networks; /* port groups its NICs join */
	size_t n_networks;
	int64_t cpu_reservation_mhz, mem_reservation_mib;
};

struct placement_result {
	int64_t host_id;
	char host_name[96];
	int64_t pool_id; /* the pool the VM goes to (0: none) */
};

/*
 * The datastore (relation "host_datastore") or network ("host_network")
 * called name that host reaches: its inventory id; -ENOENT if none.
 */
int placement_link_target(struct db *db, int64_t host, const char *relation, const char *name,
			  int64_t *id, struct vr_error **err);

/*
 * The datastore host reaches with the most free space (its name, in out),
 * for a VM that must go there and names none; -ENOENT if it reaches none.
 */
int placement_roomiest_datastore(struct db *db, int64_t host, char *out, size_t size,
				 struct vr_error **err);

/* 0 and the host; -EBUSY naming why each candidate was turned down. */
int placement_choose(struct db *db, const struct placement_request *req,
		     struct placement_result *out, struct vr_error **err);

#endif
