/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/vms: the VMs and templates of every host, listed and searched
 * from center's inventory (no host is asked), and operated through the
 * host that runs them, as center tasks that follow the host's task.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "api/client.h"
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
#include "common/log.h"
#include "common/util.h"

#define LIST_LIMIT_DEFAULT 1000
#define LIST_LIMIT_MAX 5000
/* How long one poll of a host's task may wait there. */
#define HOST_TASK_WAIT_MS 2000

static const struct {
	const char *op, *privilege, *type, *label;
} power_ops[] = {
	{"on", "VirtualMachine.Interact.PowerOn", "VirtualMachine.powerOn", "Power on"},
	{"off", "VirtualMachine.Interact.PowerOff", "VirtualMachine.powerOff", "Power off"},
	{"reset", "VirtualMachine.Interact.Reset", "VirtualMachine.reset", "Reset"},
	{"suspend", "VirtualMachine.Interact.Suspend", "VirtualMachine.suspend", "Suspend"},
	{"shutdown", "VirtualMachine.Interact.PowerOff", "VirtualMachine.shutdownGuest",
	 "Shut down guest of"},
	{"reboot", "VirtualMachine.Interact.Reset", "VirtualMachine.rebootGuest",
	 "Restart guest of"},
};

/* The summary the CLI and the web client show, from the inventory alone. */
static json_t *vm_json(const struct inv_object *o)
{
	json_t *j = inv_object_json(o);
	json_t *p = json_object_get(j, "properties");
	/* The fields hostd's VM list has, at the top level, so one client reads both. */
	static const char *const lift[] = {"power_state", "datastore", "path", "memory_mib",
					   "vcpus", "guest_os", "runtime", "last_error"};
	for (size_t i = 0; i < ARRAY_SIZE(lift); i++) {
		json_t *v = json_object_get(p, lift[i]);
		if (v)
			json_object_set(j, lift[i], v);
	}
	json_object_set_new(j, "template", json_boolean(o->kind == INV_KIND_TEMPLATE));
	return j;
}

static void vms_list(struct api_request *req, void *opaque)
{
	const char *prefix = api_request_query(req, "prefix");
	const char *after = api_request_query(req, "after");
	const char *limit_s = api_request_query(req, "limit");
	const char *host_ref = api_request_query(req, "host");
	uint64_t limit = LIST_LIMIT_DEFAULT;
	if (limit_s && parse_u64(limit_s, 1, LIST_LIMIT_MAX, &limit) < 0) {
		api_respond_error(req, 400, "limit=\"%s\" is not a number from 1 to %d", limit_s,
				  LIST_LIMIT_MAX);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_list vms = {0}, tpl = {0};
	struct inv_object host = {0};
	int r;
	if (host_ref) {
		if (!creq_object(&x, host_ref, &host))
			goto out;
		r = inventory_list_on_host(x.db, host.id, &vms, &err);
	} else if (prefix) {
		r = inventory_search_prefix(x.db, INV_KIND_VM, prefix, limit, &vms, &err);
		if (r == 0)
			r = inventory_search_prefix(x.db, INV_KIND_TEMPLATE, prefix, limit, &tpl, &err);
	} else {
		r = inventory_list_kind(x.db, INV_KIND_VM, after, limit, &vms, &err);
		if (r == 0)
			r = inventory_list_kind(x.db, INV_KIND_TEMPLATE, after, limit, &tpl, &err);
	}
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	/* Merge the two name-ordered lists, keep the first `limit` the user may see. */
	json_t *a = json_array();
	size_t i = 0, k = 0, shown = 0;
	const char *last = NULL;
	int can = 1;
	while ((i < vms.n || k < tpl.n) && shown < limit) {
		const struct inv_object *o;
		if (k >= tpl.n || (i < vms.n && strcmp(vms.items[i].name, tpl.items[k].name) <= 0))
			o = &vms.items[i++];
		else
			o = &tpl.items[k++];
		can = creq_can(&x, o->id, "System.Read");
		if (can < 0)
			break;
		if (!can)
			continue;
		json_array_append_new(a, vm_json(o));
		last = o->name;
		shown++;
	}
	if (can < 0) {
		json_decref(a);
		goto out;
	}
	json_t *reply = json_pack("{s:o}", "vms", a);
	if (!host_ref && !prefix && shown == limit && last)
		json_object_set_new(reply, "next", json_string(last));
	api_respond_json(req, 200, reply);
out:
	inv_list_clear(&vms);
	inv_list_clear(&tpl);
	inv_object_clear(&host);
	creq_end(&x);
}

/*
 * {ref}: an object id (vm-12), a number, an inventory path, a VM's uuid,
 * or a name that only one VM or template has.
 */
static bool find_vm(struct creq *x, const char *ref, struct inv_object *out)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (uuid_is_valid(ref)) {
		if (inventory_find_uuid(x->db, ref, out, &err) == 0) {
			int can = creq_can(x, out->id, "System.Read");
			if (can > 0 && (out->kind == INV_KIND_VM || out->kind == INV_KIND_TEMPLATE))
				return true;
			inv_object_clear(out);
			if (can < 0)
				return false;
		}
		api_respond_error(x->req, 404, "no VM \"%s\"", ref);
		return false;
	}
	bool looks_like_ref = ref[0] == '/' || str_has_prefix(ref, "vm-");
	if (!looks_like_ref) {
		struct inv_list a = {0}, b = {0};
		int r = inventory_find_name(x->db, INV_KIND_VM, ref, 2, &a, &err);
		if (r == 0)
			r = inventory_find_name(x->db, INV_KIND_TEMPLATE, ref, 2, &b, &err);
		if (r < 0) {
			creq_fail(x, err);
			return false;
		}
		size_t n = a.n + b.n;
		if (n == 1) {
			*out = a.n ? a.items[0] : b.items[0];
			if (a.n)
				a.n = 0;
			else
				b.n = 0;
			free(a.items);
			free(b.items);
			a.items = b.items = NULL;
			int can = creq_can(x, out->id, "System.Read");
			if (can > 0)
				return true;
			inv_object_clear(out);
			if (can == 0)
				api_respond_error(x->req, 404, "no VM \"%s\"", ref);
			return false;
		}
		inv_list_clear(&a);
		inv_list_clear(&b);
		if (n > 1) {
			api_respond_error(x->req, 409,
					  "several VMs are named \"%s\"; name one by its id (vm-N) or path",
					  ref);
			return false;
		}
		uint64_t v;
		if (parse_u64(ref, 1, INT64_MAX, &v) < 0) {
			api_respond_error(x->req, 404, "no VM \"%s\"", ref);
			return false;
		}
	}
	if (!creq_object(x, ref, out))
		return false;
	if (out->kind != INV_KIND_VM && out->kind != INV_KIND_TEMPLATE) {
		api_respond_error(x->req, 400, "\"%s\" is a %s, not a VM", out->name,
				  inv_kind_name(out->kind));
		inv_object_clear(out);
		return false;
	}
	return true;
}

static void vms_get(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *perr = NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (!find_vm(&x, api_request_param(req, "ref"), &o))
		goto out;
	json_t *j = vm_json(&o);
	/* The host's full view (configuration, resources) when it answers. */
	if (o.host_id && o.uuid) {
		_cleanup_free_ char *esc = api_client_escape(o.uuid);
		_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s", esc);
		json_t *live = NULL;
		_cleanup_error_ struct vr_error *err = NULL;
		if (chosts_call(x.c->hosts, o.host_id, "GET", path, NULL, NULL, &live, &err) == 0) {
			json_object_del(live, "id");
			json_object_del(live, "name");
			json_object_update(j, live);
			json_decref(live);
		} else {
			json_object_set_new(j, "host_unavailable", json_string(vr_error_msg(err)));
		}
	}
	struct inv_list up = {0};
	if (inventory_ancestors(x.db, o.id, &up, &perr) == 0) {
		_cleanup_free_ char *p = inventory_path_of(&up);
		json_object_set_new(j, "inventory_path", json_string(p));
	}
	inv_list_clear(&up);
	api_respond_json(req, 200, j);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* ---- operations through the host ---- */

struct host_op {
	int64_t vm_id, host_id;
	char *vm_uuid, *vm_name;
	char *method, *path; /* on the host */
	json_t *body;
	const char *event_type;
};

static void host_op_free(void *opaque)
{
	struct host_op *op = opaque;
	free(op->vm_uuid);
	free(op->vm_name);
	free(op->method);
	free(op->path);
	json_decref(op->body);
	free(op);
}

/* Follows a host's task to its end, mirroring its progress. */
static int follow_host_task(struct taskrun_job *job, int64_t host_id, const char *host_task,
			    json_t **result, struct vr_error **err)
{
	_cleanup_free_ char *esc = api_client_escape(host_task);
	_cleanup_free_ char *path = xasprintf("/api/v1/tasks/%s?wait_ms=%d", esc, HOST_TASK_WAIT_MS);
	int last_progress = -1, failures = 0;
	for (;;) {
		json_t *t = NULL;
		struct vr_error *e = NULL;
		int r = chosts_call_timeout(job->c->hosts, host_id, "GET", path, NULL, 30, NULL, &t,
					    &e);
		if (r < 0) {
			/* The host may be busy or briefly unreachable: a few tries before giving up. */
			if (++failures >= 10) {
				*err = e;
				return vr_error_wrap(err, "lost track of the host's task %s", host_task);
			}
			vr_error_free(e);
			struct timespec ts = {1, 0};
			nanosleep(&ts, NULL);
			continue;
		}
		failures = 0;
		const char *state = json_get_string(t, "state", "");
		int progress = (int)json_get_int(t, "progress", 0);
		if (progress != last_progress && progress < 100) {
			taskrun_progress(job, progress);
			last_progress = progress;
		}
		if (strcmp(state, "success") == 0) {
			if (result)
				*result = json_incref(json_object_get(t, "result"));
			json_decref(t);
			return 0;
		}
		if (strcmp(state, "error") == 0) {
			r = vr_error_set(err, EIO, "%s", json_get_string(t, "error", "the host's task failed"));
			json_decref(t);
			return r;
		}
		json_decref(t);
	}
}

static int host_op_run(struct taskrun_job *job, struct vr_error **err)
{
	struct host_op *op = job->opaque;
	json_t *reply = NULL;
	int r = chosts_call(job->c->hosts, op->host_id, op->method, op->path, op->body, NULL,
			    &reply, err);
	if (r < 0)
		return r;
	const char *host_task = json_get_string(reply, "task", NULL);
	json_t *result = NULL;
	if (host_task)
		r = follow_host_task(job, op->host_id, host_task, &result, err);
	json_decref(reply);
	/* Read the VM back now rather than wait for the event. */
	struct vr_error *e = NULL;
	if (chosts_refresh_vm(job->c->hosts, op->host_id, op->vm_uuid, &e) < 0)
		log_info("VM \"%s\": not refreshed after the task: %s", op->vm_name, vr_error_msg(e));
	vr_error_free(e);
	if (r < 0) {
		json_decref(result);
		return r;
	}
	job->result = result ? result : json_object();
	return 0;
}

/* Queues an operation on a VM's host as a center task; answers 202 {"task"}. */
static void submit_host_op(struct creq *x, const struct inv_object *o, const char *type,
			   const char *label, const char *method, const char *host_path,
			   json_t *body)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (!o->host_id || !o->uuid) {
		api_respond_error(x->req, 409, "VM \"%s\" is on no host", o->name);
		return;
	}
	struct host_op *op = xcalloc(1, sizeof(*op));
	op->vm_id = o->id;
	op->host_id = o->host_id;
	op->vm_uuid = xstrdup(o->uuid);
	op->vm_name = xstrdup(o->name);
	op->method = xstrdup(method);
	op->path = xstrdup(host_path);
	op->body = body ? json_incref(body) : NULL;
	_cleanup_free_ char *desc = xasprintf("%s VM %s", label, o->name);
	struct ctask_spec ts = {
		.type = type,
		.object_id = o->id,
		.object_name = o->name,
		.principal = x->user,
		.description = desc,
	};
	int64_t task;
	if (taskrun_submit(x->c->tasks, x->db, &ts, host_op_run, op, host_op_free, &task, &err) <
	    0) {
		creq_fail(x, err);
		return;
	}
	_cleanup_free_ char *tref = xasprintf("task-%lld", (long long)task);
	api_respond_json(x->req, 202, json_pack("{s:s}", "task", tref));
}

static void vms_power(struct api_request *req, void *opaque)
{
	const char *opname = api_request_param(req, "op");
	size_t i = 0;
	while (i < ARRAY_SIZE(power_ops) && strcmp(power_ops[i].op, opname) != 0)
		i++;
	if (i == ARRAY_SIZE(power_ops)) {
		api_respond_error(req, 404,
				  "no power operation \"%s\" (on, off, reset, suspend, shutdown, reboot)",
				  opname);
		return;
	}
	_cleanup_free_ char *esc = NULL, *path = NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (!find_vm(&x, api_request_param(req, "ref"), &o))
		goto out;
	if (o.kind == INV_KIND_TEMPLATE) {
		api_respond_error(req, 409, "\"%s\" is a template; templates do not power on",
				  o.name);
		goto out;
	}
	if (!creq_allow(&x, &o, power_ops[i].privilege))
		goto out;
	esc = api_client_escape(o.uuid ? o.uuid : "");
	path = xasprintf("/api/v1/vms/%s/power/%s", esc, opname);
	submit_host_op(&x, &o, power_ops[i].type, power_ops[i].label, "POST", path,
		       api_request_body_json(req));
out:
	inv_object_clear(&o);
	creq_end(&x);
}

void capi_vms_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/vms", vms_list, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/vms/{ref}", vms_get, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/power/{op}", vms_power, c,
			     API_ROUTE_BODY_OPTIONAL);
}
