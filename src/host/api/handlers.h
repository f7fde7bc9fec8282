/* SPDX-License-Identifier: Apache-2.0 */
/* Registration of the REST resources of vireo-hostd, one file each. */
#ifndef VIREO_HOST_API_HANDLERS_H
#define VIREO_HOST_API_HANDLERS_H

#include <stdbool.h>

struct api_server;
struct auth;

/* GET /api/v1/health (no authentication). */
void api_health_register(struct api_server *srv);
/* Session checks against hostd's users (host/auth.h); opaque is the struct auth. */
extern const struct api_auth_ops api_hostd_auth;
/* POST /api/v1/sessions, GET and DELETE /api/v1/sessions/current. */
void api_sessions_register(struct api_server *srv, struct auth *auth);
/* GET, POST /api/v1/users; DELETE /api/v1/users/{name}; PUT /api/v1/users/{name}/password. */
void api_users_register(struct api_server *srv, struct auth *auth);

struct hostd;
void api_host_register(struct api_server *srv, struct hostd *h);
void api_datastores_register(struct api_server *srv, struct hostd *h);
void api_vms_register(struct api_server *srv, struct hostd *h);
/* GET /api/v1/vms/{id}/disks; POST /api/v1/vms/{id}/disks/{slot}/grow. */
void api_disks_register(struct api_server *srv, struct hostd *h);
void api_snapshots_register(struct api_server *srv, struct hostd *h);
void api_cbt_register(struct api_server *srv, struct hostd *h);
/* POST /api/v1/vms/{id}/clone and /api/v1/vms/{id}/template. */
void api_clones_register(struct api_server *srv, struct hostd *h);
void api_tasks_register(struct api_server *srv, struct hostd *h);
/* Moving VMs in from VMware: disk conversion (import.c). */
void api_import_register(struct api_server *srv, struct hostd *h);
/* /api/v1/network: virtual switches and port groups (network.c). */
void api_network_register(struct api_server *srv, struct hostd *h);
/* /api/v1/host/resources: capacity, reservations, host reserves (resources.c). */
void api_resources_register(struct api_server *srv, struct hostd *h);
/* /api/v1/host/resource-pools: the pool tree center mirrors on this host (resource_pools.c). */
void api_resource_pools_register(struct api_server *srv, struct hostd *h);
/* Moving a VM's folder to another datastore or host (transfers.c). */
void api_transfers_register(struct api_server *srv, struct hostd *h);

struct stats_sampler;
/*
 * GET /api/v1/stats, /api/v1/stats/history and /metrics (stats.c);
 * /metrics without authentication when metrics_no_auth.
 */
void api_stats_register(struct api_server *srv, struct stats_sampler *s, bool metrics_no_auth);

#endif
