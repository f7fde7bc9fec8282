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
#include "center/placement.h"
#include "center/pools.h"
#include "center/taskrun.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmspec.h"

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

/*
 * A body the VM's host would refuse: 400 with the host's own message, at
 * once, so that no task is started only to fail.  The checks are the
 * host's (common/vmspec.c), so center refuses nothing a host takes.
 */
static void respond_bad_body(struct api_request *req, const struct vr_error *err)
{
	api_respond_error(req, 400, "%s", vr_error_msg(err));
}

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
bool capi_find_vm(struct creq *x, const char *ref, struct inv_object *out)
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
		/* Only the VMs the user may see count: others neither match nor clash. */
		struct inv_list lists[2] = {{0}, {0}};
		int r = inventory_find_name(x->db, INV_KIND_VM, ref, 64, &lists[0], &err);
		if (r == 0)
			r = inventory_find_name(x->db, INV_KIND_TEMPLATE, ref, 64, &lists[1], &err);
		if (r < 0) {
			inv_list_clear(&lists[0]);
			creq_fail(x, err);
			return false;
		}
		size_t n = 0;
		int can = 1;
		for (int l = 0; l < 2 && can >= 0; l++)
			for (size_t i = 0; i < lists[l].n && can >= 0; i++) {
				can = creq_can(x, lists[l].items[i].id, "System.Read");
				if (can <= 0)
					continue;
				if (n++ == 0) {
					*out = lists[l].items[i];
					lists[l].items[i] = (struct inv_object){0};
				}
			}
		inv_list_clear(&lists[0]);
		inv_list_clear(&lists[1]);
		if (can < 0) {
			if (n)
				inv_object_clear(out);
			return false;
		}
		if (n == 1)
			return true;
		if (n > 1)
			inv_object_clear(out);
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
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o))
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
	bool admit; /* a power-on: check the resource pools first */
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

int capi_follow_host_task(struct taskrun_job *job, int64_t host_id, const char *host_task,
			  json_t **result, struct vr_error **err)
{
	return capi_follow_host_task_for(job, host_id, host_task, 0, result, err);
}

int capi_follow_host_task_for(struct taskrun_job *job, int64_t host_id, const char *host_task,
			      int64_t timeout_ms, json_t **result, struct vr_error **err)
{
	_cleanup_free_ char *esc = api_client_escape(host_task);
	uint64_t deadline = timeout_ms > 0 ? time_mono_ms() + (uint64_t)timeout_ms : 0;
	int last_progress = -1, failures = 0;
	for (;;) {
		if (taskrun_stopping(job))
			return vr_error_set(err, ESHUTDOWN,
					    "vireo-center stopped while following the host's task "
					    "%s (it goes on there)",
					    host_task);
		/* A long poll, shortened to what is left of the time allowed. */
		long wait_ms = HOST_TASK_WAIT_MS, timeout_s = 30;
		if (deadline) {
			uint64_t now = time_mono_ms();
			if (now >= deadline)
				return vr_error_set(err, ETIMEDOUT,
						    "the host's task %s did not end within %lld s "
						    "(it may still end there)",
						    host_task, (long long)(timeout_ms + 999) / 1000);
			uint64_t left = deadline - now;
			if ((uint64_t)wait_ms > left)
				wait_ms = (long)left;
			if ((uint64_t)timeout_s > left / 1000 + 2)
				timeout_s = (long)(left / 1000 + 2);
		}
		_cleanup_free_ char *path = xasprintf("/api/v1/tasks/%s?wait_ms=%ld", esc, wait_ms);
		json_t *t = NULL;
		struct vr_error *e = NULL;
		int r = chosts_call_abortable(job->c->hosts, host_id, "GET", path, NULL, timeout_s,
					      taskrun_stop_flag(job), NULL, &t, &e);
		if (r < 0 && taskrun_stopping(job)) {
			vr_error_free(e);
			continue; /* said at the top */
		}
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
	if (op->admit) {
		struct db *db = dbpool_get(job->c->pool, err);
		if (!db)
			return -EIO;
		int a = pool_poweron_begin(db, op->vm_id, err);
		dbpool_put(job->c->pool, db);
		if (a < 0)
			return vr_error_wrap(err, "cannot power on VM \"%s\"", op->vm_name);
	}
	/* It starts in its pool's group: the host gets a pool change not yet sent first. */
	if (op->admit)
		chosts_pools_push(job->c->hosts, op->host_id);
	int r = chosts_call(job->c->hosts, op->host_id, op->method, op->path, op->body, NULL,
			    &reply, err);
	if (r < 0) {
		if (op->admit)
			pool_poweron_done(op->vm_id);
		return r;
	}
	const char *host_task = json_get_string(reply, "task", NULL);
	json_t *result = NULL;
	if (host_task)
		r = capi_follow_host_task(job, op->host_id, host_task, &result, err);
	json_decref(reply);
	/* Read the VM back now rather than wait for the event (not while center stops). */
	struct vr_error *e = NULL;
	if (!taskrun_stopping(job) &&
	    chosts_refresh_vm(job->c->hosts, op->host_id, op->vm_uuid, &e) < 0)
		log_info("VM \"%s\": not refreshed after the task: %s", op->vm_name, vr_error_msg(e));
	vr_error_free(e);
	if (op->admit)
		pool_poweron_done(op->vm_id);
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
			   json_t *body, bool admit)
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
	op->admit = admit;
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
	_cleanup_error_ struct vr_error *err = NULL;
	int timeout_s;
	if (vmspec_power_check(api_request_body_json(req), &timeout_s, &err) < 0) {
		respond_bad_body(req, err);
		return;
	}
	_cleanup_free_ char *esc = NULL, *path = NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o))
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
		       api_request_body_json(req), strcmp(opname, "on") == 0);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* GET /api/v1/vms/{ref}/console/log: what the serial console printed (the host's file). */
static void vms_console_log(struct api_request *req, void *opaque)
{
	const char *bytes = api_request_query(req, "bytes");
	uint64_t n = 65536;
	if (bytes && parse_u64(bytes, 1, 1u << 20, &n) < 0) {
		api_respond_error(req, 400, "bytes=\"%s\" is not a number from 1 to 1048576", bytes);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *esc = NULL, *path = NULL;
	struct inv_object o = {0};
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o) ||
	    !creq_allow(&x, &o, "VirtualMachine.Interact.ConsoleInteract"))
		goto out;
	if (!o.host_id || !o.uuid) {
		api_respond_error(req, 409, "VM \"%s\" is on no host", o.name);
		goto out;
	}
	esc = api_client_escape(o.uuid);
	path = xasprintf("/api/v1/vms/%s/console/log?bytes=%llu", esc, (unsigned long long)n);
	json_t *log = NULL;
	if (chosts_call(x.c->hosts, o.host_id, "GET", path, NULL, NULL, &log, &err) < 0)
		creq_fail(&x, err);
	else
		api_respond_json(req, 200, log);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* ---- snapshots, through the VM's host ---- */

static void snapshots_list(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *esc = NULL, *path = NULL;
	struct inv_object o = {0};
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o))
		goto out;
	if (!o.host_id || !o.uuid) {
		api_respond_error(req, 409, "VM \"%s\" is on no host", o.name);
		goto out;
	}
	esc = api_client_escape(o.uuid);
	path = xasprintf("/api/v1/vms/%s/snapshots", esc);
	json_t *tree = NULL;
	if (chosts_call(x.c->hosts, o.host_id, "GET", path, NULL, NULL, &tree, &err) < 0)
		creq_fail(&x, err);
	else
		api_respond_json(req, 200, tree);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* take (POST), delete all (DELETE), delete one (DELETE .../{snap}), revert (POST .../revert). */
static void snapshots_op(struct api_request *req, void *opaque)
{
	const char *method = api_request_method(req);
	const char *snap = api_request_param(req, "snap");
	bool revert = str_has_suffix(api_request_path(req), "/revert");
	bool take = strcmp(method, "POST") == 0 && !revert;
	/* The host checks a new snapshot's body; revert's and delete's it ignores. */
	_cleanup_error_ struct vr_error *err = NULL;
	if (take && vmspec_snapshot_check(api_request_body_json(req), &err) < 0) {
		respond_bad_body(req, err);
		return;
	}
	const char *privilege = "VirtualMachine.State.RemoveSnapshot";
	const char *type = "VirtualMachine.removeSnapshot";
	const char *label = snap ? "Delete a snapshot of" : "Delete all snapshots of";
	if (take) {
		privilege = "VirtualMachine.State.CreateSnapshot";
		type = "VirtualMachine.createSnapshot";
		label = "Snapshot";
	} else if (revert) {
		privilege = "VirtualMachine.State.RevertToSnapshot";
		type = "VirtualMachine.revertToSnapshot";
		label = "Revert to a snapshot:";
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_free_ char *esc = NULL, *snap_esc = NULL, *path = NULL;
	struct inv_object o = {0};
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o) || !creq_allow(&x, &o, privilege))
		goto out;
	esc = api_client_escape(o.uuid ? o.uuid : "");
	snap_esc = snap ? api_client_escape(snap) : NULL;
	path = xasprintf("/api/v1/vms/%s/snapshots%s%s%s", esc, snap ? "/" : "",
			 snap ? snap_esc : "", revert ? "/revert" : "");
	submit_host_op(&x, &o, type, label, method, path, api_request_body_json(req), false);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* ---- create, with initial placement ---- */

/* Center's own members; the rest of the body goes to the chosen host as it is. */
static const char *const create_own[] = {"target", "folder", "resources"};

struct create_job {
	int64_t host_id, pool_id, folder_id;
	char *host_name, *name;
	json_t *body;	   /* for the host's POST /api/v1/vms */
	json_t *resources; /* then PATCHed on the host */
};

static void create_job_free(void *opaque)
{
	struct create_job *j = opaque;
	free(j->host_name);
	free(j->name);
	json_decref(j->body);
	json_decref(j->resources);
	free(j);
}

static int create_run(struct taskrun_job *job, struct vr_error **err)
{
	struct create_job *j = job->opaque;
	struct center *c = job->c;
	json_t *reply = NULL;
	if (taskrun_cancel_requested(job))
		return vr_error_set(err, ECANCELED, "cancelled before the VM was created");
	int r = chosts_call(c->hosts, j->host_id, "POST", "/api/v1/vms", j->body, NULL, &reply,
			    err);
	if (r < 0)
		return r;
	json_t *result = NULL;
	const char *host_task = json_get_string(reply, "task", NULL);
	r = host_task ? capi_follow_host_task(job, j->host_id, host_task, &result, err)
		      : vr_error_set(err, EPROTO, "host \"%s\" started no task", j->host_name);
	json_decref(reply);
	_cleanup_free_ char *uuid = xstrdup(json_get_string(result, "id", ""));
	json_decref(result);
	if (r < 0)
		return r;
	if (!uuid_is_valid(uuid))
		return vr_error_set(err, EPROTO, "host \"%s\" did not say the new VM's id",
				    j->host_name);
	_cleanup_free_ char *esc = api_client_escape(uuid);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s", esc);
	if (j->resources) {
		json_t *patch = json_pack("{s:O}", "resources", j->resources);
		r = chosts_call(c->hosts, j->host_id, "PATCH", path, patch, NULL, NULL, err);
		json_decref(patch);
		if (r < 0) {
			/* Nothing half-made is left behind: the VM goes again. */
			struct vr_error *e = NULL;
			json_t *del = NULL;
			if (chosts_call(c->hosts, j->host_id, "DELETE", path, NULL, NULL, &del, &e) == 0 &&
			    json_get_string(del, "task", NULL))
				capi_follow_host_task(job, j->host_id, json_get_string(del, "task", ""), NULL,
						 &e);
			json_decref(del);
			vr_error_free(e);
			return vr_error_wrap(err, "the VM's resources were refused, so it was deleted");
		}
	}
	if ((r = chosts_refresh_vm(c->hosts, j->host_id, uuid, err)) < 0)
		return r;
	struct db *db = dbpool_get(c->pool, err);
	if (!db)
		return -EIO;
	struct inv_object o = {0};
	r = inventory_find_uuid(db, uuid, &o, err);
	if (r == 0 && j->pool_id)
		r = inventory_set_placement(db, o.id, j->host_id, j->pool_id, err);
	if (r == 0 && j->folder_id && o.parent_id != j->folder_id)
		r = inventory_move(db, o.id, j->folder_id, err);
	if (r == 0 && j->folder_id && o.parent_id != j->folder_id)
		center_access_changed();
	if (r == 0) {
		_cleanup_free_ char *ref = moref_of(o.kind, o.id);
		_cleanup_free_ char *href = moref_of(INV_KIND_HOST, j->host_id);
		job->result = json_pack("{s:s, s:s, s:s}", "vm", ref, "uuid", uuid, "host", href);
		center_post_event(c, db, "VmCreatedEvent", "info", o.id, o.name, job->principal,
				  job->task_id, "VM \"%s\" created on host \"%s\" by %s", o.name,
				  j->host_name, job->principal);
	}
	inv_object_clear(&o);
	dbpool_put(c->pool, db);
	return r;
}

static void vms_create(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	const char *name = json_get_string(body, "name", NULL);
	const char *target_ref = json_get_string(body, "target", NULL);
	if (!name || !target_ref) {
		api_respond_error(req, 400,
				  "give \"name\" and \"target\" (the cluster, resource pool or host "
				  "to place the VM in), and the VM's settings as a host takes them");
		return;
	}
	json_t *res = json_object_get(body, "resources");
	if (res && !json_is_object(res)) {
		api_respond_error(req, 400, "\"resources\" must be an object");
		return;
	}
	/* What goes to the host, checked as the host will check it (and then its resources). */
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *spec = json_deep_copy(body);
	for (size_t k = 0; k < ARRAY_SIZE(create_own); k++)
		json_object_del(spec, create_own[k]);
	if (vmspec_create_check(spec, res, &err) < 0) {
		json_decref(spec);
		respond_bad_body(req, err);
		return;
	}
	const char *folder_ref = json_get_string(body, "folder", NULL);
	struct creq x;
	if (!creq_begin(&x, req, opaque)) {
		json_decref(spec);
		return;
	}
	_cleanup_free_ char *desc = NULL, *tref = NULL;
	const char **nets = NULL;
	size_t n_nets = 0;
	struct inv_object target = {0}, folder = {0};
	if (!creq_object(&x, target_ref, &target))
		goto out;
	/* The VM folder: the one given, else the datacenter's. */
	if (folder_ref) {
		if (!creq_object(&x, folder_ref, &folder))
			goto out;
	} else {
		int64_t dc;
		if (inventory_datacenter_of(x.db, target.id, &dc, &err) < 0 ||
		    inventory_lookup(x.db, dc, "vm", &folder, &err) < 0) {
			creq_fail(&x, err);
			goto out;
		}
	}
	if (folder.kind != INV_KIND_VM_FOLDER) {
		api_respond_error(req, 400, "\"%s\" is a %s, not a VM folder", folder.name,
				  inv_kind_name(folder.kind));
		goto out;
	}
	if (!creq_allow(&x, &folder, "VirtualMachine.Inventory.Create"))
		goto out;
	size_t i;
	json_t *nic;
	json_array_foreach(json_object_get(body, "nics"), i, nic) {
		const char *net = json_get_string(nic, "network", NULL);
		if (net) {
			nets = xrealloc(nets, (n_nets + 1) * sizeof(*nets));
			nets[n_nets++] = net;
		}
	}
	struct placement_request pr = {
		.target_id = target.id,
		.datastore = json_get_string(body, "datastore", NULL),
		.networks = nets,
		.n_networks = n_nets,
		.cpu_reservation_mhz = json_get_int(json_object_get(res, "cpu"), "reservation_mhz", 0),
		.mem_reservation_mib =
			json_get_int(json_object_get(res, "memory"), "reservation_mib", 0),
	};
	struct placement_result pl;
	if (placement_choose(x.db, &pr, &pl, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (pl.pool_id && !creq_allow_pool(&x, pl.pool_id))
		goto out;
	/* Its disks take space on the datastore; its NICs join the networks. */
	if (pr.datastore && !creq_allow_link(&x, pl.host_id, "host_datastore", pr.datastore,
					     "Datastore.AllocateSpace"))
		goto out;
	for (size_t k = 0; k < n_nets; k++)
		if (!creq_allow_link(&x, pl.host_id, "host_network", nets[k], "Network.Assign"))
			goto out;
	struct create_job *j = xcalloc(1, sizeof(*j));
	j->host_id = pl.host_id;
	j->pool_id = pl.pool_id;
	j->folder_id = folder.id;
	j->host_name = xstrdup(pl.host_name);
	j->name = xstrdup(name);
	j->body = steal_pointer(&spec);
	j->resources = res ? json_incref(res) : NULL;
	desc = xasprintf("Create VM %s on host %s", name, pl.host_name);
	struct ctask_spec ts = {
		.type = "Folder.createVm",
		.object_id = folder.id,
		.object_name = folder.name,
		.principal = x.user,
		.description = desc,
		.cancellable = true,
	};
	int64_t task;
	if (taskrun_submit(x.c->tasks, x.db, &ts, create_run, j, create_job_free, &task, &err) <
	    0) {
		creq_fail(&x, err);
		goto out;
	}
	tref = xasprintf("task-%lld", (long long)task);
	char *href = moref_of(INV_KIND_HOST, pl.host_id);
	api_respond_json(req, 202, json_pack("{s:s, s:s}", "task", tref, "host", href));
	free(href);
out:
	json_decref(spec);
	free(nets);
	inv_object_clear(&target);
	inv_object_clear(&folder);
	creq_end(&x);
}

static const struct json_field vm_change_fields[] = {
	{"resource_pool", JSON_STRING, true, 1, 4096},
};

/* The owner of a pool's tree: the cluster or standalone host it belongs to. */
static int pool_owner(struct db *db, int64_t pool_id, int64_t *owner, struct vr_error **err)
{
	struct inv_list up = {0};
	int r = inventory_ancestors(db, pool_id, &up, err);
	*owner = 0;
	for (size_t i = 0; r == 0 && i < up.n; i++)
		if (up.items[i].kind == INV_KIND_CLUSTER || up.items[i].kind == INV_KIND_HOST) {
			*owner = up.items[i].id;
			break;
		}
	inv_list_clear(&up);
	return r;
}

/* PATCH /api/v1/vms/{ref} {"resource_pool"}: moves a VM into a pool of its cluster or host. */
static void vms_patch(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (json_check_object(body, vm_change_fields, ARRAY_SIZE(vm_change_fields), "VM change",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0}, pool = {0}, host = {0};
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o) ||
	    !creq_object(&x, json_get_string(body, "resource_pool", ""), &pool))
		goto out;
	if (pool.kind != INV_KIND_RESOURCE_POOL) {
		api_respond_error(req, 400, "\"%s\" is a %s, not a resource pool", pool.name,
				  inv_kind_name(pool.kind));
		goto out;
	}
	if (o.kind != INV_KIND_VM || !o.host_id) {
		api_respond_error(req, 409, "\"%s\" is not a VM on a host", o.name);
		goto out;
	}
	if (!creq_allow(&x, &pool, "Resource.AssignVMToPool") ||
	    !creq_allow(&x, &o, "Resource.AssignVMToPool"))
		goto out;
	/* The pool must belong to the VM's host or to the cluster the host is in. */
	int64_t owner = 0;
	if (pool_owner(x.db, pool.id, &owner, &err) < 0 ||
	    inventory_get(x.db, o.host_id, &host, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (owner != host.id && owner != host.parent_id) {
		api_respond_error(req, 409,
				  "resource pool \"%s\" is not in the cluster or host that runs VM "
				  "\"%s\" (host \"%s\")",
				  pool.name, o.name, host.name);
		goto out;
	}
	/* A running VM brings its reservation: the new pool must take it. */
	json_error_t jerr;
	json_t *props = json_loads(o.properties, 0, &jerr);
	json_t *res = json_object_get(props, "resources");
	int64_t cpu = json_get_int(json_object_get(res, "cpu"), "reservation_mhz", 0);
	int64_t mem = json_get_int(json_object_get(res, "memory"), "reservation_mib", 0);
	bool on = strcmp(json_get_string(props, "power_state", ""), "poweredOn") == 0;
	json_decref(props);
	if (on && pool.id != o.pool_id && (cpu > 0 || mem > 0) &&
	    pool_admit(x.db, pool.id, cpu, mem, 0, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (inventory_set_placement(x.db, o.id, o.host_id, pool.id, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, "VmResourcePoolMovedEvent", "info", o.id, o.name, x.user, 0,
			  "VM \"%s\" moved to resource pool \"%s\" by %s", o.name, pool.name,
			  x.user);
	struct inv_object now = {0};
	if (inventory_get(x.db, o.id, &now, &err) < 0)
		creq_fail(&x, err);
	else
		api_respond_json(req, 200, vm_json(&now));
	inv_object_clear(&now);
out:
	inv_object_clear(&o);
	inv_object_clear(&pool);
	inv_object_clear(&host);
	creq_end(&x);
}

void capi_vms_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "PATCH", "/api/v1/vms/{ref}", vms_patch, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms", vms_create, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/vms/{ref}/snapshots", snapshots_list, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/vms/{ref}/console/log", vms_console_log, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/snapshots", snapshots_op, c,
			     API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "DELETE", "/api/v1/vms/{ref}/snapshots", snapshots_op, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/vms/{ref}/snapshots/{snap}", snapshots_op, c,
			     0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/snapshots/{snap}/revert", snapshots_op,
			     c, API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "GET", "/api/v1/vms", vms_list, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/vms/{ref}", vms_get, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/power/{op}", vms_power, c,
			     API_ROUTE_BODY_OPTIONAL);
}
