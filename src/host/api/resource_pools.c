/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/host/resource-pools: the resource pool tree mirrored from vireo-center (host/alloc.h). */
#include <jansson.h>

#include "common/error.h"
#include "host/alloc.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/hostd.h"

static void pools_get(struct api_request *req, void *opaque)
{
	api_respond_json(req, 200, alloc_pools_json(opaque));
}

static void pools_put(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (alloc_pools_put(opaque, api_request_body_json(req), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, alloc_pools_json(opaque));
}

void api_resource_pools_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/host/resource-pools", pools_get, h, 0);
	/* 100000 VM entries take about 8 MiB. */
	api_server_add_route(srv, "PUT", "/api/v1/host/resource-pools", pools_put, h,
			     API_ROUTE_ADMIN | API_ROUTE_LARGE_BODY);
}
