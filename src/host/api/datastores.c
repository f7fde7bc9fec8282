/* SPDX-License-Identifier: Apache-2.0 */
/* REST resource: /api/v1/datastores */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "host/api/server.h"
#include "host/hostd.h"

static json_t *datastore_json(struct hostd *h, const struct datastore *ds)
{
	json_t *o = json_pack("{s:s, s:s}", "name", ds->name, "path", ds->path);
	struct statvfs sv;
	if (statvfs(ds->path, &sv) == 0) {
		json_object_set_new(o, "capacity_bytes",
				    json_integer((json_int_t)(sv.f_blocks * sv.f_frsize)));
		json_object_set_new(o, "free_bytes",
				    json_integer((json_int_t)(sv.f_bavail * sv.f_frsize)));
		json_object_set_new(o, "accessible", json_true());
	} else {
		json_object_set_new(o, "accessible", json_false());
		json_object_set_new(o, "error", json_string(strerror(errno)));
	}
	unsigned vms = 0;
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		if (strcmp(vm->datastore, ds->name) == 0)
			vms++;
	json_object_set_new(o, "vms", json_integer(vms));
	return o;
}

static void datastores_list(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *a = json_array();
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_datastores; i++)
		json_array_append_new(a, datastore_json(h, &h->datastores[i]));
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200, json_pack("{s:o}", "datastores", a));
}

static void datastores_get(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	const char *name = api_request_param(req, "name");
	json_t *o = NULL;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_datastores; i++)
		if (strcmp(h->datastores[i].name, name) == 0)
			o = datastore_json(h, &h->datastores[i]);
	pthread_mutex_unlock(&h->lock);
	if (!o) {
		api_respond_error(req, 404, "no datastore \"%s\"", name);
		return;
	}
	api_respond_json(req, 200, o);
}

static const struct json_field add_fields[] = {
	{"name", JSON_STRING, true, 1, 80},
	{"path", JSON_STRING, true, 1, 1024},
};

static void datastores_add(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, add_fields, ARRAY_SIZE(add_fields), "datastore", &err) < 0 ||
	    datastore_add(h, json_string_value(json_object_get(body, "name")),
			  json_string_value(json_object_get(body, "path")), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 201, json_pack("{s:s}", "name",
					     json_string_value(json_object_get(body, "name"))));
}

static void datastores_remove(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	if (datastore_remove(h, api_request_param(req, "name"), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

void api_datastores_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/datastores", datastores_list, h, 0);
	api_server_add_route(srv, "POST", "/api/v1/datastores", datastores_add, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/api/v1/datastores/{name}", datastores_get, h, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/datastores/{name}", datastores_remove, h,
			     API_ROUTE_ADMIN);
}
