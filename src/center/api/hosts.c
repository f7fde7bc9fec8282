/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/hosts: joining, listing, disconnecting, reconnecting and removing hosts. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/tasks.h"
#include "center/hosts.h"
#include "center/taskrun.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static const struct json_field add_fields[] = {
	{"url", JSON_STRING, true, 8, 2048},
	{"username", JSON_STRING, true, 1, 80},
	{"password", JSON_STRING, true, 1, 256},
	{"parent", JSON_STRING, true, 1, 4096},
	{"name", JSON_STRING, false, 1, 80},
	{"tls_insecure", JSON_TRUE, false, 0, 0},
	{"ca_file", JSON_STRING, false, 1, 4096},
};

static json_t *host_json(struct creq *x, const struct inv_object *o)
{
	json_t *j = inv_object_json(o);
	enum chost_state st;
	_cleanup_free_ char *reason = NULL;
	if (chosts_state(x->c->hosts, o->id, &st, &reason) == 0) {
		json_object_set_new(j, "connection_state", json_string(chost_state_name(st)));
		if (reason && *reason)
			json_object_set_new(j, "connection_reason", json_string(reason));
	}
	_cleanup_stmt_ struct db_stmt *s = NULL;
	if (db_prepare(x->db, "read a host's connection",
		       "SELECT url, username, last_seen_ms, last_sync_ms FROM host_connection"
		       " WHERE host_id = $1",
		       &s, NULL) == 0) {
		db_bind_int64(s, 1, o->id);
		if (db_step(s, NULL) > 0) {
			json_object_set_new(j, "url", json_string(db_column_text(s, 0)));
			json_object_set_new(j, "service_account", json_string(db_column_text(s, 1)));
			char t[32];
			if (!db_column_is_null(s, 2)) {
				time_format_iso((uint64_t)db_column_int64(s, 2), t);
				json_object_set_new(j, "last_seen", json_string(t));
			}
			if (!db_column_is_null(s, 3)) {
				time_format_iso((uint64_t)db_column_int64(s, 3), t);
				json_object_set_new(j, "last_sync", json_string(t));
			}
		}
	}
	return j;
}

static void hosts_list(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_list hosts = {0};
	json_t *a = json_array();
	const char *after = NULL;
	int can = 1;
	/* Pages of 1000 by name, so that any number of hosts lists. */
	for (;;) {
		inv_list_clear(&hosts);
		if (inventory_list_kind(x.db, INV_KIND_HOST, after, 1000, &hosts, &err) < 0) {
			creq_fail(&x, err);
			can = -1;
			break;
		}
		for (size_t i = 0; i < hosts.n && can >= 0; i++) {
			can = creq_can(&x, hosts.items[i].id, "System.Read");
			if (can > 0)
				json_array_append_new(a, host_json(&x, &hosts.items[i]));
		}
		if (can < 0 || hosts.n < 1000)
			break;
		after = hosts.items[hosts.n - 1].name;
	}
	if (can >= 0)
		api_respond_json(req, 200, json_pack("{s:o}", "hosts", a));
	else
		json_decref(a);
	inv_list_clear(&hosts);
	creq_end(&x);
}

/* Resolves {ref} to a host the user may see. */
static bool find_host(struct creq *x, struct inv_object *o)
{
	if (!creq_object(x, api_request_param(x->req, "ref"), o))
		return false;
	if (o->kind != INV_KIND_HOST) {
		api_respond_error(x->req, 400, "\"%s\" is a %s, not a host", o->name,
				  inv_kind_name(o->kind));
		inv_object_clear(o);
		return false;
	}
	return true;
}

static void hosts_get(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (find_host(&x, &o)) {
		api_respond_json(req, 200, host_json(&x, &o));
		inv_object_clear(&o);
	}
	creq_end(&x);
}

struct add_job {
	struct chost_add_spec spec;
	char *url, *username, *password, *name, *ca_file;
};

static void add_job_free(void *opaque)
{
	struct add_job *j = opaque;
	if (j->password)
		explicit_bzero(j->password, strlen(j->password));
	free(j->password);
	free(j->url);
	free(j->username);
	free(j->name);
	free(j->ca_file);
	free(j);
}

static int add_run(struct taskrun_job *job, struct vr_error **err)
{
	struct add_job *j = job->opaque;
	j->spec.principal = job->principal;
	j->spec.task_id = job->task_id;
	int64_t id;
	taskrun_progress(job, 10);
	int r = chosts_add(job->c->hosts, &j->spec, &id, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *ref = moref_of(INV_KIND_HOST, id);
	job->result = json_pack("{s:s}", "host", ref);
	return 0;
}

/* The parent a host joins: a cluster or host folder; a datacenter means its host folder. */
static bool host_parent(struct creq *x, const char *ref, struct inv_object *out)
{
	if (!creq_object(x, ref, out))
		return false;
	if (out->kind == INV_KIND_DATACENTER) {
		_cleanup_error_ struct vr_error *err = NULL;
		struct inv_object folder = {0};
		if (inventory_lookup(x->db, out->id, "host", &folder, &err) < 0) {
			creq_fail(x, err);
			inv_object_clear(out);
			return false;
		}
		inv_object_clear(out);
		*out = folder;
	}
	if (out->kind != INV_KIND_CLUSTER && out->kind != INV_KIND_HOST_FOLDER) {
		api_respond_error(x->req, 400,
				  "a host joins a cluster, a datacenter or a host folder, not %s \"%s\"",
				  inv_kind_name(out->kind), out->name);
		inv_object_clear(out);
		return false;
	}
	return true;
}

static void hosts_add(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, add_fields, ARRAY_SIZE(add_fields), "add-host request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *url = json_get_string(body, "url", "");
	if (!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://")) {
		api_respond_error(req, 400, "url \"%s\" must begin with http:// or https://", url);
		return;
	}
	_cleanup_free_ char *desc = NULL, *tref = NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object parent = {0};
	if (!host_parent(&x, json_get_string(body, "parent", ""), &parent))
		goto out;
	if (!creq_allow(&x, &parent,
			parent.kind == INV_KIND_CLUSTER ? "Host.Inventory.AddHostToCluster"
							: "Host.Inventory.AddStandaloneHost"))
		goto out;
	struct add_job *j = xcalloc(1, sizeof(*j));
	j->url = xstrdup(url);
	j->username = xstrdup(json_get_string(body, "username", ""));
	j->password = xstrdup(json_get_string(body, "password", ""));
	j->name = json_get_string(body, "name", NULL) ? xstrdup(json_get_string(body, "name", ""))
						       : NULL;
	j->ca_file = json_get_string(body, "ca_file", NULL)
			     ? xstrdup(json_get_string(body, "ca_file", ""))
			     : NULL;
	j->spec = (struct chost_add_spec){
		.url = j->url,
		.username = j->username,
		.password = j->password,
		.parent_id = parent.id,
		.name = j->name,
		.tls_insecure = json_is_true(json_object_get(body, "tls_insecure")),
		.ca_file = j->ca_file,
	};
	desc = xasprintf("Add host %s", url);
	struct ctask_spec ts = {
		.type = "Host.add",
		.object_id = parent.id,
		.object_name = parent.name,
		.principal = x.user,
		.description = desc,
	};
	int64_t task;
	if (taskrun_submit(x.c->tasks, x.db, &ts, add_run, j, add_job_free, &task, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	tref = xasprintf("task-%lld", (long long)task);
	api_respond_json(req, 202, json_pack("{s:s}", "task", tref));
out:
	inv_object_clear(&parent);
	creq_end(&x);
}

struct host_job {
	int64_t host_id;
};

static int remove_run(struct taskrun_job *job, struct vr_error **err)
{
	struct host_job *j = job->opaque;
	return chosts_remove(job->c->hosts, j->host_id, job->principal, err);
}

static void hosts_remove(struct api_request *req, void *opaque)
{
	_cleanup_free_ char *desc = NULL, *tref = NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	if (!find_host(&x, &o))
		goto out;
	if (!creq_allow(&x, &o, "Host.Inventory.RemoveHostFromCluster"))
		goto out;
	struct host_job *j = xcalloc(1, sizeof(*j));
	j->host_id = o.id;
	desc = xasprintf("Remove host %s", o.name);
	struct ctask_spec ts = {
		.type = "Host.remove",
		.object_id = o.id,
		.object_name = o.name,
		.principal = x.user,
		.description = desc,
	};
	int64_t task;
	if (taskrun_submit(x.c->tasks, x.db, &ts, remove_run, j, free, &task, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	tref = xasprintf("task-%lld", (long long)task);
	api_respond_json(req, 202, json_pack("{s:s}", "task", tref));
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* disconnect, reconnect, sync: quick enough to answer in the request. */
static void hosts_action(struct api_request *req, void *opaque)
{
	const char *op = api_request_param(req, "op");
	if (strcmp(op, "disconnect") != 0 && strcmp(op, "reconnect") != 0 &&
	    strcmp(op, "sync") != 0) {
		api_respond_error(req, 404, "no host action \"%s\" (disconnect, reconnect, sync)", op);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	if (!find_host(&x, &o) || !creq_allow(&x, &o, "Host.Config.Connection"))
		goto out;
	int r;
	if (strcmp(op, "disconnect") == 0)
		r = chosts_disconnect(x.c->hosts, o.id, x.user, &err);
	else if (strcmp(op, "reconnect") == 0)
		r = chosts_reconnect(x.c->hosts, o.id, x.user, &err);
	else
		r = chosts_sync(x.c->hosts, o.id, &err);
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	struct inv_object now = {0};
	if (inventory_get(x.db, o.id, &now, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	api_respond_json(req, 200, host_json(&x, &now));
	inv_object_clear(&now);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

void capi_hosts_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/hosts", hosts_list, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/hosts", hosts_add, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/hosts/{ref}", hosts_get, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/hosts/{ref}", hosts_remove, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/hosts/{ref}/{op}", hosts_action, c,
			     API_ROUTE_BODY_OPTIONAL);
}
