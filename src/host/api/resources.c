/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/host/resources: capacity, reservations, memory state (host/alloc.h). */
#include <jansson.h>

#include "common/error.h"
#include "host/alloc.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/hostd.h"

static void resources_get(struct api_request *req, void *opaque)
{
	api_respond_json(req, 200, alloc_host_json(opaque));
}

static void resources_update(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (alloc_host_update(opaque, api_request_body_json(req), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, alloc_host_json(opaque));
}

void api_resources_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/host/resources", resources_get, h, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/host/resources", resources_update, h,
			     API_ROUTE_ADMIN);
}
