/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/network: virtual switches and port groups (host/vswitch.h). */
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/hostd.h"
#include "host/vswitch.h"

static void network_get(struct api_request *req, void *opaque)
{
	api_respond_json(req, 200, vnet_to_json(opaque));
}

/* The object named `name` in the array `member` of the live view. */
static json_t *find_live(struct hostd *h, const char *kind, const char *name)
{
	json_t *all = vnet_to_json(h), *found = NULL;
	json_t *sws = json_object_get(all, "vswitches");
	size_t i, j;
	json_t *sw, *pg;
	json_array_foreach(sws, i, sw)
	{
		if (strcmp(kind, "vswitch") == 0 &&
		    strcmp(json_string_value(json_object_get(sw, "name")), name) == 0)
			found = json_incref(sw);
		json_array_foreach(json_object_get(sw, "portgroups"), j, pg)
			if (!found && strcmp(kind, "portgroup") == 0 &&
			    strcmp(json_string_value(json_object_get(pg, "name")), name) == 0)
				found = json_incref(pg);
	}
	json_decref(all);
	return found;
}

static void respond_live(struct api_request *req, struct hostd *h, int status, const char *kind,
			 const char *name)
{
	json_t *o = find_live(h, kind, name);
	if (!o) {
		api_respond_error(req, 404, "no %s \"%s\"",
				  strcmp(kind, "vswitch") == 0 ? "switch" : "port group", name);
		return;
	}
	api_respond_json(req, status, o);
}

static void vswitch_get(struct api_request *req, void *opaque)
{
	respond_live(req, opaque, 200, "vswitch", api_request_param(req, "name"));
}

static void vswitch_add(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (vnet_vswitch_add(opaque, body, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	respond_live(req, opaque, 201, "vswitch", json_string_value(json_object_get(body, "name")));
}

static void vswitch_update(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	const char *name = api_request_param(req, "name");
	if (vnet_vswitch_update(opaque, name, api_request_body_json(req), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	respond_live(req, opaque, 200, "vswitch", name);
}

static void vswitch_remove(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (vnet_vswitch_remove(opaque, api_request_param(req, "name"), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

static void portgroup_get(struct api_request *req, void *opaque)
{
	respond_live(req, opaque, 200, "portgroup", api_request_param(req, "name"));
}

static void portgroup_add(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (vnet_portgroup_add(opaque, body, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	respond_live(req, opaque, 201, "portgroup", json_string_value(json_object_get(body, "name")));
}

static void portgroup_update(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	const char *name = api_request_param(req, "name");
	if (vnet_portgroup_update(opaque, name, api_request_body_json(req), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	respond_live(req, opaque, 200, "portgroup", name);
}

static void portgroup_remove(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (vnet_portgroup_remove(opaque, api_request_param(req, "name"), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

void api_network_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/network", network_get, h, 0);
	api_server_add_route(srv, "POST", "/api/v1/network/vswitches", vswitch_add, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/api/v1/network/vswitches/{name}", vswitch_get, h, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/network/vswitches/{name}", vswitch_update, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/network/vswitches/{name}", vswitch_remove, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/network/portgroups", portgroup_add, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/api/v1/network/portgroups/{name}", portgroup_get, h, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/network/portgroups/{name}", portgroup_update,
			     h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/network/portgroups/{name}", portgroup_remove,
			     h, API_ROUTE_ADMIN);
}
