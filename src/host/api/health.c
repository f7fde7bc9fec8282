/* SPDX-License-Identifier: Apache-2.0 */
/* GET /api/v1/health: liveness, without authentication. */
#include <jansson.h>

#include "host/api/handlers.h"
#include "api/server.h"

static void health_get(struct api_request *req, void *opaque)
{
	api_respond_json(req, 200, json_pack("{s:s,s:s}", "status", "ok", "version", VIREO_VERSION));
}

void api_health_register(struct api_server *srv)
{
	api_server_add_route(srv, "GET", "/api/v1/health", health_get, NULL, API_ROUTE_NO_AUTH);
}
