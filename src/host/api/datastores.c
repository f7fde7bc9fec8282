/* SPDX-License-Identifier: Apache-2.0 */
/* REST resource: /api/v1/datastores, with capacity, free, provisioned and used space */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/hostd.h"
#include "host/storage/disk.h"

static json_t *datastore_json(const struct datastore *ds, const struct datastore_space *sp)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:i}", "name", ds->name, "path", ds->path,
			      "accessible", sp->accessible, "vms", (int)sp->vms);
	if (!sp->accessible) {
		json_object_set_new(o, "error", json_string(strerror(sp->error)));
		return o;
	}
	json_object_set_new(o, "capacity_bytes", json_integer((json_int_t)sp->capacity));
	json_object_set_new(o, "free_bytes", json_integer((json_int_t)sp->free));
	json_object_set_new(o, "provisioned_bytes", json_integer((json_int_t)sp->provisioned));
	json_object_set_new(o, "used_bytes", json_integer((json_int_t)sp->used));
	if (sp->capacity > 0)
		json_object_set_new(o, "overcommit_ratio",
				    json_real((double)sp->provisioned / (double)sp->capacity));
	return o;
}

/* Copies of the datastores (all, or the one named); the space is computed without locks. */
static size_t datastores_copy(struct hostd *h, const char *only, struct datastore **out)
{
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	*out = xcalloc(h->n_datastores ? h->n_datastores : 1, sizeof(**out));
	for (size_t i = 0; i < h->n_datastores; i++) {
		if (only && strcmp(h->datastores[i].name, only) != 0)
			continue;
		(*out)[n].name = xstrdup(h->datastores[i].name);
		(*out)[n].path = xstrdup(h->datastores[i].path);
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

static json_t *datastores_json(struct hostd *h, const char *only, size_t *n_out)
{
	struct datastore *ds = NULL;
	size_t n = datastores_copy(h, only, &ds);
	struct datastore_space *sp = xcalloc(n ? n : 1, sizeof(*sp));
	disk_datastores_space(h, ds, n, sp);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(a, datastore_json(&ds[i], &sp[i]));
		free(ds[i].name);
		free(ds[i].path);
	}
	free(ds);
	free(sp);
	*n_out = n;
	return a;
}

static void datastores_list(struct api_request *req, void *opaque)
{
	size_t n;
	json_t *a = datastores_json(opaque, NULL, &n);
	api_respond_json(req, 200, json_pack("{s:o}", "datastores", a));
}

static void datastores_get(struct api_request *req, void *opaque)
{
	const char *name = api_request_param(req, "name");
	size_t n;
	json_t *a = datastores_json(opaque, name, &n);
	if (n == 0) {
		json_decref(a);
		api_respond_error(req, 404, "no datastore \"%s\"", name);
		return;
	}
	api_respond_json(req, 200, json_incref(json_array_get(a, 0)));
	json_decref(a);
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
