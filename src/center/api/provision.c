/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clones, templates and cold migration through center.
 *
 * Cold migration moves a powered-off VM to another host that reaches the
 * same datastore, in phases: validate (powered off, the target connected
 * and reaching the VM's datastore and networks) -> register the VM's
 * folder on the target -> record the target in the inventory -> remove
 * it from the source.  The inventory moves before the source lets go, so
 * the source's "VM gone" event does not delete the inventory entry (its
 * folder, pool and permissions stay).  If removing it from the source
 * fails, everything goes back: the inventory points at the source again
 * and the target forgets the VM.  The VM's files are never copied or
 * deleted, so no phase can lose them; and while it is registered on two
 * hosts it is powered off and its folder lock keeps it from running
 * twice.  Moving files to another datastore is not done yet.
 *
 * A clone is made by the source's host (full or linked, on the source's
 * datastore); when it is placed on another host it is then migrated
 * there as above, and powered on there if asked.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

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

static char *vm_path(const char *uuid, const char *suffix)
{
	_cleanup_free_ char *esc = api_client_escape(uuid);
	return xasprintf("/api/v1/vms/%s%s", esc, suffix ? suffix : "");
}

/* ---- cold migration ---- */

struct migration {
	int64_t vm_id, src_host, dst_host, dst_pool;
	char *uuid, *name, *dst_name;
};

static void migration_free(struct migration *m)
{
	free(m->uuid);
	free(m->name);
	free(m->dst_name);
}

/*
 * Validates a migration of VM o to host dst (and pool, 0: the target's
 * root pool): the live VM is read from its host.  Fills m.
 */
static int migration_check(struct center *c, struct db *db, const struct inv_object *o,
			   int64_t dst, struct migration *m, struct vr_error **err)
{
	*m = (struct migration){.vm_id = o->id, .src_host = o->host_id, .dst_host = dst};
	m->uuid = xstrdup(o->uuid ? o->uuid : "");
	m->name = xstrdup(o->name);
	if (!o->host_id || !o->uuid)
		return vr_error_set(err, EINVAL, "VM \"%s\" is on no host", o->name);
	if (dst == o->host_id)
		return vr_error_set(err, EINVAL, "VM \"%s\" is already on that host", o->name);
	_cleanup_free_ char *path = vm_path(o->uuid, NULL);
	json_t *live = NULL;
	int r = chosts_call(c->hosts, o->host_id, "GET", path, NULL, NULL, &live, err);
	if (r < 0)
		return r;
	const char *power = json_get_string(live, "power_state", "");
	if (strcmp(power, "poweredOff") != 0) {
		r = vr_error_set(err, EBUSY, "VM \"%s\" is %s: only a powered-off VM migrates cold",
				 o->name, power);
		json_decref(live);
		return r;
	}
	/* The target reaches its datastore and the networks of its NICs. */
	const char *ds = json_get_string(live, "datastore", "");
	const char **nets = NULL;
	size_t n = 0, i;
	json_t *nic;
	json_array_foreach(json_object_get(json_object_get(live, "config"), "nics"), i, nic) {
		const char *net = json_get_string(nic, "network", NULL);
		if (net && strcmp(json_get_string(nic, "connection", ""), "bridged") == 0) {
			nets = xrealloc(nets, (n + 1) * sizeof(*nets));
			nets[n++] = net;
		}
	}
	struct placement_request pr = {
		.target_id = dst,
		.datastore = ds,
		.networks = nets,
		.n_networks = n,
	};
	struct placement_result pl;
	r = placement_choose(db, &pr, &pl, err);
	free(nets);
	json_decref(live);
	if (r < 0)
		return vr_error_wrap(err, "VM \"%s\" cannot move there", o->name);
	m->dst_pool = pl.pool_id;
	m->dst_name = xstrdup(pl.host_name);
	return 0;
}

/* Phases 2..4 (register, record, remove), with rollback. */
static int migration_run(struct taskrun_job *job, struct migration *m, struct vr_error **err)
{
	struct center *c = job->c;
	/* The last moment a cancel is honoured: after this, phases run to the end or roll back. */
	if (taskrun_cancel_requested(job))
		return vr_error_set(err, ECANCELED, "cancelled before VM \"%s\" moved (nothing changed)",
				    m->name);
	/* The folder on the target: where the source has it. */
	_cleanup_free_ char *path = vm_path(m->uuid, NULL);
	json_t *live = NULL;
	int r = chosts_call(c->hosts, m->src_host, "GET", path, NULL, NULL, &live, err);
	if (r < 0)
		return r;
	json_t *reg = json_pack("{s:s, s:s}", "datastore", json_get_string(live, "datastore", ""),
				"path", json_get_string(live, "path", ""));
	json_decref(live);
	taskrun_progress(job, 30);
	json_t *added = NULL;
	r = chosts_call(c->hosts, m->dst_host, "POST", "/api/v1/vms/register", reg, NULL, &added,
			err);
	json_decref(reg);
	if (r < 0)
		return vr_error_wrap(err, "registering on host \"%s\" failed (nothing changed)",
				     m->dst_name);
	bool same = strcasecmp(json_get_string(added, "id", ""), m->uuid) == 0;
	json_decref(added);
	struct db *db = dbpool_get(c->pool, err);
	if (!db)
		r = -EIO;
	struct inv_object before = {0};
	if (r == 0 && !same)
		r = vr_error_set(err, EPROTO, "host \"%s\" registered the folder under another id",
				 m->dst_name);
	if (r == 0)
		r = inventory_get(db, m->vm_id, &before, err);
	if (r == 0)
		r = inventory_set_placement(db, m->vm_id, m->dst_host, m->dst_pool, err);
	taskrun_progress(job, 60);
	if (r == 0) {
		_cleanup_free_ char *unreg = vm_path(m->uuid, "/unregister");
		struct vr_error *e = NULL;
		r = chosts_call(c->hosts, m->src_host, "POST", unreg, NULL, NULL, NULL, &e);
		if (r < 0) {
			/* Back to the source: the inventory first, then the target lets go. */
			if (inventory_set_placement(db, m->vm_id, before.host_id, before.pool_id, NULL) < 0)
				log_error("VM \"%s\": cannot point the inventory back at its source",
					  m->name);
			*err = e;
			vr_error_wrap(err, "removing it from the source failed; rolled back");
		}
	}
	if (r < 0 && same) {
		_cleanup_free_ char *unreg = vm_path(m->uuid, "/unregister");
		struct vr_error *e = NULL;
		if (chosts_call(c->hosts, m->dst_host, "POST", unreg, NULL, NULL, NULL, &e) < 0) {
			log_error("VM \"%s\": rollback: host \"%s\" still has it registered: %s",
				  m->name, m->dst_name, vr_error_msg(e));
			vr_error_free(e);
		}
	}
	if (r == 0) {
		struct vr_error *e = NULL;
		if (chosts_refresh_vm(c->hosts, m->dst_host, m->uuid, &e) < 0)
			log_warn("VM \"%s\": not refreshed after migrating: %s", m->name,
				 vr_error_msg(e));
		vr_error_free(e);
		center_post_event(c, db, "VmMigratedEvent", "info", m->vm_id, m->name,
				  job->principal, job->task_id, "VM \"%s\" migrated to host \"%s\"",
				  m->name, m->dst_name);
	}
	inv_object_clear(&before);
	if (db)
		dbpool_put(c->pool, db);
	return r;
}

static void migration_job_free(void *opaque)
{
	migration_free(opaque);
	free(opaque);
}

static int migrate_run(struct taskrun_job *job, struct vr_error **err)
{
	struct migration *m = job->opaque;
	int r = migration_run(job, m, err);
	if (r == 0) {
		_cleanup_free_ char *h = moref_of(INV_KIND_HOST, m->dst_host);
		job->result = json_pack("{s:s}", "host", h);
	}
	return r;
}

static const struct json_field migrate_fields[] = {
	{"host", JSON_STRING, false, 1, 4096},
	{"resource_pool", JSON_STRING, false, 1, 4096},
	{"datastore", JSON_STRING, false, 1, 80},
};

static bool find_vm_ref(struct creq *x, struct inv_object *o)
{
	return capi_find_vm(x, api_request_param(x->req, "ref"), o);
}

static void vms_migrate(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, migrate_fields, ARRAY_SIZE(migrate_fields), "migration",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	if (json_object_get(body, "datastore")) {
		api_respond_error(req, 501,
				  "moving a VM's files to another datastore is not supported yet; a "
				  "cold migration changes its host on a datastore both hosts reach");
		return;
	}
	if (!json_object_get(body, "host")) {
		api_respond_error(req, 400, "give \"host\": where the VM goes");
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_free_ char *desc = NULL, *tref = NULL;
	struct inv_object o = {0}, dst = {0}, pool = {0};
	struct migration *m = xcalloc(1, sizeof(*m));
	if (!find_vm_ref(&x, &o) || !creq_object(&x, json_get_string(body, "host", ""), &dst))
		goto out;
	if (dst.kind != INV_KIND_HOST) {
		api_respond_error(req, 400, "\"%s\" is a %s, not a host", dst.name,
				  inv_kind_name(dst.kind));
		goto out;
	}
	if (!creq_allow(&x, &o, "Resource.ColdMigrate") ||
	    !creq_allow(&x, &dst, "Resource.AssignVMToPool"))
		goto out;
	if (migration_check(x.c, x.db, &o, dst.id, m, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (json_object_get(body, "resource_pool")) {
		if (!creq_object(&x, json_get_string(body, "resource_pool", ""), &pool))
			goto out;
		if (pool.kind != INV_KIND_RESOURCE_POOL) {
			api_respond_error(req, 400, "\"%s\" is not a resource pool", pool.name);
			goto out;
		}
		if (!creq_allow(&x, &pool, "Resource.AssignVMToPool"))
			goto out;
		m->dst_pool = pool.id;
	}
	desc = xasprintf("Migrate VM %s to host %s", o.name, dst.name);
	struct ctask_spec ts = {
		.type = "VirtualMachine.migrate",
		.object_id = o.id,
		.object_name = o.name,
		.principal = x.user,
		.description = desc,
		.cancellable = true,
	};
	int64_t task;
	if (taskrun_submit(x.c->tasks, x.db, &ts, migrate_run, m, migration_job_free, &task, &err) <
	    0) {
		m = NULL; /* freed by taskrun_submit */
		creq_fail(&x, err);
		goto out;
	}
	m = NULL;
	tref = xasprintf("task-%lld", (long long)task);
	api_respond_json(req, 202, json_pack("{s:s}", "task", tref));
out:
	if (m)
		migration_job_free(m);
	inv_object_clear(&o);
	inv_object_clear(&dst);
	inv_object_clear(&pool);
	creq_end(&x);
}

/* ---- clones ---- */

static const struct json_field clone_fields[] = {
	{"name", JSON_STRING, true, 1, 80},
	{"linked", JSON_TRUE, false, 0, 0},
	{"snapshot", JSON_STRING, false, 1, 255},
	{"power_on", JSON_TRUE, false, 0, 0},
	{"target", JSON_STRING, false, 1, 4096},
	{"folder", JSON_STRING, false, 1, 4096},
};

struct clone_job {
	int64_t src_host, src_vm, folder_id;
	char *src_uuid, *name;
	json_t *body; /* for the source's host */
	bool power_on;
	struct placement_result pl;
};

static void clone_job_free(void *opaque)
{
	struct clone_job *j = opaque;
	free(j->src_uuid);
	free(j->name);
	json_decref(j->body);
	free(j);
}

static int clone_run(struct taskrun_job *job, struct vr_error **err)
{
	struct clone_job *j = job->opaque;
	struct center *c = job->c;
	if (taskrun_cancel_requested(job))
		return vr_error_set(err, ECANCELED, "cancelled before the clone started");
	_cleanup_free_ char *path = vm_path(j->src_uuid, "/clone");
	json_t *reply = NULL, *result = NULL;
	int r = chosts_call(c->hosts, j->src_host, "POST", path, j->body, NULL, &reply, err);
	if (r < 0)
		return r;
	const char *t = json_get_string(reply, "task", NULL);
	r = t ? capi_follow_host_task(job, j->src_host, t, &result, err)
	      : vr_error_set(err, EPROTO, "the source's host started no task");
	json_decref(reply);
	_cleanup_free_ char *uuid = xstrdup(json_get_string(result, "id", ""));
	json_decref(result);
	if (r < 0)
		return r;
	if (!uuid_is_valid(uuid))
		return vr_error_set(err, EPROTO, "the source's host did not say the clone's id");
	if ((r = chosts_refresh_vm(c->hosts, j->src_host, uuid, err)) < 0)
		return r;
	struct db *db = dbpool_get(c->pool, err);
	if (!db)
		return -EIO;
	struct inv_object o = {0};
	r = inventory_find_uuid(db, uuid, &o, err);
	if (r == 0 && j->folder_id && o.parent_id != j->folder_id)
		r = inventory_move(db, o.id, j->folder_id, err);
	if (r == 0 && j->folder_id && o.parent_id != j->folder_id)
		center_access_changed();
	/* Placed on another host: it moves there (the datastore is shared). */
	if (r == 0 && j->pl.host_id && j->pl.host_id != j->src_host) {
		struct migration m = {
			.vm_id = o.id,
			.src_host = j->src_host,
			.dst_host = j->pl.host_id,
			.dst_pool = j->pl.pool_id,
			.uuid = xstrdup(uuid),
			.name = xstrdup(o.name),
			.dst_name = xstrdup(j->pl.host_name),
		};
		dbpool_put(c->pool, db);
		r = migration_run(job, &m, err);
		migration_free(&m);
		db = dbpool_get(c->pool, err);
		if (!db)
			r = r < 0 ? r : -EIO;
		if (r < 0)
			vr_error_wrap(err, "the clone \"%s\" was made on the source's host but could not "
					   "move to \"%s\"",
				      j->name, j->pl.host_name);
	} else if (r == 0 && j->pl.pool_id) {
		r = inventory_set_placement(db, o.id, j->src_host, j->pl.pool_id, err);
	}
	int64_t host = j->pl.host_id ? j->pl.host_id : j->src_host;
	if (r == 0 && j->power_on) {
		_cleanup_free_ char *on = vm_path(uuid, "/power/on");
		json_t *pr = NULL;
		r = chosts_call(c->hosts, host, "POST", on, NULL, NULL, &pr, err);
		if (r == 0 && json_get_string(pr, "task", NULL))
			r = capi_follow_host_task(job, host, json_get_string(pr, "task", ""), NULL, err);
		json_decref(pr);
		struct vr_error *e = NULL;
		chosts_refresh_vm(c->hosts, host, uuid, &e);
		vr_error_free(e);
	}
	if (r == 0) {
		_cleanup_free_ char *ref = moref_of(o.kind, o.id);
		_cleanup_free_ char *href = moref_of(INV_KIND_HOST, host);
		job->result = json_pack("{s:s, s:s, s:s}", "vm", ref, "uuid", uuid, "host", href);
		center_post_event(c, db, "VmClonedEvent", "info", o.id, j->name, job->principal,
				  job->task_id, "VM \"%s\" cloned by %s", j->name, job->principal);
	}
	inv_object_clear(&o);
	if (db)
		dbpool_put(c->pool, db);
	return r;
}

static void vms_clone(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, clone_fields, ARRAY_SIZE(clone_fields), "clone", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_free_ char *desc = NULL, *tref = NULL;
	struct inv_object o = {0}, folder = {0}, target = {0};
	if (!find_vm_ref(&x, &o))
		goto out;
	if (!creq_allow(&x, &o,
			o.kind == INV_KIND_TEMPLATE ? "VirtualMachine.Provisioning.DeployTemplate"
						    : "VirtualMachine.Provisioning.Clone"))
		goto out;
	const char *fref = json_get_string(body, "folder", NULL);
	if (fref) {
		if (!creq_object(&x, fref, &folder))
			goto out;
	} else if (inventory_get(x.db, o.parent_id, &folder, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (folder.kind != INV_KIND_VM_FOLDER) {
		api_respond_error(req, 400, "\"%s\" is not a VM folder", folder.name);
		goto out;
	}
	if (!creq_allow(&x, &folder, "VirtualMachine.Inventory.CreateFromExisting"))
		goto out;
	/* The clone lives in that folder: powering it on is a power-on there. */
	if (json_is_true(json_object_get(body, "power_on")) &&
	    !creq_allow(&x, &folder, "VirtualMachine.Interact.PowerOn"))
		goto out;
	struct placement_result pl = {0};
	const char *tgt = json_get_string(body, "target", NULL);
	bool linked = json_is_true(json_object_get(body, "linked"));
	if (tgt) {
		if (!creq_object(&x, tgt, &target))
			goto out;
		json_error_t jerr;
		json_t *props = json_loads(o.properties, 0, &jerr);
		struct placement_request pr = {
			.target_id = target.id,
			.datastore = json_get_string(props, "datastore", NULL),
		};
		int r = placement_choose(x.db, &pr, &pl, &err);
		json_decref(props);
		if (r < 0) {
			creq_fail(&x, err);
			goto out;
		}
		if (pl.pool_id) {
			struct inv_object pool = {0};
			bool ok = inventory_get(x.db, pl.pool_id, &pool, &err) == 0 &&
				  creq_allow(&x, &pool, "Resource.AssignVMToPool");
			if (!pool.id)
				creq_fail(&x, err);
			inv_object_clear(&pool);
			if (!ok)
				goto out;
		}
	}
	if (!o.host_id || !o.uuid) {
		api_respond_error(req, 409, "\"%s\" is on no host", o.name);
		goto out;
	}
	struct clone_job *j = xcalloc(1, sizeof(*j));
	j->src_host = o.host_id;
	j->src_vm = o.id;
	j->src_uuid = xstrdup(o.uuid);
	j->name = xstrdup(json_get_string(body, "name", ""));
	j->folder_id = folder.id;
	j->power_on = json_is_true(json_object_get(body, "power_on"));
	j->pl = pl;
	j->body = json_pack("{s:s, s:b}", "name", j->name, "linked", linked);
	if (json_object_get(body, "snapshot"))
		json_object_set(j->body, "snapshot", json_object_get(body, "snapshot"));
	desc = xasprintf("Clone %s to %s", o.name, j->name);
	struct ctask_spec ts = {
		.type = "VirtualMachine.clone",
		.object_id = o.id,
		.object_name = o.name,
		.principal = x.user,
		.description = desc,
		.cancellable = true,
	};
	int64_t task;
	if (taskrun_submit(x.c->tasks, x.db, &ts, clone_run, j, clone_job_free, &task, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	tref = xasprintf("task-%lld", (long long)task);
	api_respond_json(req, 202, json_pack("{s:s}", "task", tref));
out:
	inv_object_clear(&o);
	inv_object_clear(&folder);
	inv_object_clear(&target);
	creq_end(&x);
}

/* ---- VM <-> template ---- */

static const struct json_field template_fields[] = {
	{"template", JSON_TRUE, true, 0, 0},
};

static void vms_template(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, template_fields, ARRAY_SIZE(template_fields),
			      "template request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	bool to_template = json_is_true(json_object_get(body, "template"));
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_free_ char *path = NULL;
	struct inv_object o = {0}, now = {0};
	if (!find_vm_ref(&x, &o) ||
	    !creq_allow(&x, &o,
			to_template ? "VirtualMachine.Provisioning.MarkAsTemplate"
				    : "VirtualMachine.Provisioning.MarkAsVM"))
		goto out;
	if (!o.host_id || !o.uuid) {
		api_respond_error(req, 409, "\"%s\" is on no host", o.name);
		goto out;
	}
	path = vm_path(o.uuid, "/template");
	if (chosts_call(x.c->hosts, o.host_id, "POST", path, body, NULL, NULL, &err) < 0 ||
	    chosts_refresh_vm(x.c->hosts, o.host_id, o.uuid, &err) < 0 ||
	    inventory_get(x.db, o.id, &now, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	/* A template belongs to no resource pool; a VM again to its host's or cluster's root. */
	int64_t pool = 0;
	if (!to_template) {
		struct inv_object host = {0}, parent = {0};
		if (inventory_get(x.db, o.host_id, &host, &err) == 0 &&
		    inventory_get(x.db, host.parent_id, &parent, &err) == 0)
			pool_root_of(x.db, parent.kind == INV_KIND_CLUSTER ? parent.id : host.id, &pool,
				     &err);
		inv_object_clear(&host);
		inv_object_clear(&parent);
	}
	inventory_set_placement(x.db, o.id, o.host_id, pool, NULL);
	center_post_event(x.c, x.db, to_template ? "VmMarkedAsTemplateEvent" : "VmMarkedAsVmEvent",
			  "info", o.id, o.name, x.user, 0, "\"%s\" turned into a %s by %s", o.name,
			  to_template ? "template" : "VM", x.user);
	inv_object_clear(&now);
	if (inventory_get(x.db, o.id, &now, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *j = inv_object_json(&now);
	json_object_set_new(j, "template", json_boolean(now.kind == INV_KIND_TEMPLATE));
	api_respond_json(req, 200, j);
out:
	inv_object_clear(&o);
	inv_object_clear(&now);
	creq_end(&x);
}

void capi_provision_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/migrate", vms_migrate, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/clone", vms_clone, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/template", vms_template, c, 0);
}
