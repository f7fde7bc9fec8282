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
 * twice.
 *
 * With another datastore (on another host or the same one) the files are
 * copied: validate -> the source holds the VM and lists its folder (POST
 * /vms/{id}/transfer) -> the target announces a hidden staging folder
 * (POST /incoming) -> each file streams through center, its SHA-256
 * checked -> the target moves the folder into place and registers it
 * (commit; on the same host the copy replaces the original there) ->
 * the inventory records the target -> the source removes the VM and its
 * folder.  Until the commit a failure or a cancel drops the staging
 * folder and releases the source: nothing changed.  After it, a failure
 * deletes the copy and points everything back at the source, whose files
 * are removed last of all.
 *
 * A clone is made by the source's host (full or linked, on the source's
 * datastore).  When it is placed on another host it is then migrated
 * there as above: registered there if that host shares the datastore,
 * copied otherwise (a full clone placed where the source's datastore is
 * not reached goes to the chosen host's roomiest datastore, or the one
 * asked for).  A clone that cannot move is deleted.  It is powered on
 * where it ends if asked.  A linked clone stays on its source's
 * datastore: its disks refer to the source's.
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
	char *dst_ds; /* with copy: the datastore the files go to */
	bool copy;
};

static void migration_free(struct migration *m)
{
	free(m->uuid);
	free(m->name);
	free(m->dst_name);
	free(m->dst_ds);
}

/* The networks a VM's bridged NICs join (pointers into live; free the array). */
static const char **bridged_networks(json_t *live, size_t *n)
{
	const char **nets = NULL;
	size_t i;
	json_t *nic;
	*n = 0;
	json_array_foreach(json_object_get(json_object_get(live, "config"), "nics"), i, nic) {
		const char *net = json_get_string(nic, "network", NULL);
		if (net && strcmp(json_get_string(nic, "connection", ""), "bridged") == 0) {
			nets = xrealloc(nets, (*n + 1) * sizeof(*nets));
			nets[(*n)++] = net;
		}
	}
	return nets;
}

/*
 * Files the VM uses from outside its folder (a kernel, an initrd, an ISO)
 * are not copied with it: on another host each must be on a datastore
 * that host reaches, or the VM would not power on there.  Located by the
 * source host's datastores (their paths); -EBUSY naming the first that
 * the target lacks.
 */
static int outside_files_check(struct center *c, struct db *db, const struct inv_object *o,
			       json_t *live, int64_t dst, const char *dst_name,
			       struct vr_error **err)
{
	if (dst == o->host_id)
		return 0;
	json_t *cfg = json_object_get(live, "config");
	const char **files = NULL;
	size_t n = 0, i;
	json_t *d;
	const char *boot[] = {json_get_string(json_object_get(cfg, "boot"), "kernel", NULL),
			      json_get_string(json_object_get(cfg, "boot"), "initrd", NULL)};
	for (size_t k = 0; k < ARRAY_SIZE(boot); k++)
		if (boot[k] && boot[k][0] == '/') {
			files = xrealloc(files, (n + 1) * sizeof(*files));
			files[n++] = boot[k];
		}
	json_array_foreach(json_object_get(cfg, "disks"), i, d) {
		const char *f = json_get_string(d, "file", NULL);
		if (f && f[0] == '/') {
			files = xrealloc(files, (n + 1) * sizeof(*files));
			files[n++] = f;
		}
	}
	if (!n)
		return 0;
	json_t *stores = NULL;
	int r = chosts_call(c->hosts, o->host_id, "GET", "/api/v1/datastores", NULL, NULL, &stores,
			    err);
	for (size_t k = 0; r == 0 && k < n; k++) {
		const char *on = NULL;
		size_t best = 0;
		json_t *ds;
		json_array_foreach(json_object_get(stores, "datastores"), i, ds) {
			const char *path = json_get_string(ds, "path", "");
			size_t len = strlen(path);
			while (len > 1 && path[len - 1] == '/')
				len--;
			if (len > best && strncmp(files[k], path, len) == 0 && files[k][len] == '/') {
				best = len;
				on = json_get_string(ds, "name", NULL);
			}
		}
		int64_t id;
		if (!on)
			r = vr_error_set(err, EBUSY,
					 "VM \"%s\" uses %s, which is on no datastore of its host: "
					 "it would not power on on host \"%s\"",
					 o->name, files[k], dst_name);
		else if (placement_link_target(db, dst, "host_datastore", on, &id, NULL) < 0)
			r = vr_error_set(err, EBUSY,
					 "VM \"%s\" uses %s on datastore \"%s\", which host \"%s\" "
					 "does not reach: it would not power on there",
					 o->name, files[k], on, dst_name);
	}
	json_decref(stores);
	free(files);
	return r;
}

/*
 * Validates a migration of VM o to host dst (and pool, 0: the target's
 * root pool): the live VM is read from its host.  Fills m.
 */
static int migration_check(struct center *c, struct db *db, const struct inv_object *o,
			   int64_t dst, const char *dst_ds, struct migration *m,
			   struct vr_error **err)
{
	*m = (struct migration){.vm_id = o->id, .src_host = o->host_id, .dst_host = dst};
	m->uuid = xstrdup(o->uuid ? o->uuid : "");
	m->name = xstrdup(o->name);
	if (!o->host_id || !o->uuid)
		return vr_error_set(err, EINVAL, "VM \"%s\" is on no host", o->name);
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
	/* The target reaches the datastore and the networks of its NICs. */
	const char *cur_ds = json_get_string(live, "datastore", "");
	const char *ds = dst_ds ? dst_ds : cur_ds;
	m->copy = strcmp(ds, cur_ds) != 0;
	m->dst_ds = xstrdup(ds);
	if (dst == o->host_id && !m->copy) {
		json_decref(live);
		return vr_error_set(err, EINVAL, "VM \"%s\" is already on that host and datastore",
				    o->name);
	}
	size_t n;
	const char **nets = bridged_networks(live, &n);
	struct placement_request pr = {
		.target_id = dst,
		.datastore = ds,
		.networks = nets,
		.n_networks = n,
	};
	struct placement_result pl;
	r = placement_choose(db, &pr, &pl, err);
	free(nets);
	if (r == 0)
		r = outside_files_check(c, db, o, live, dst, pl.host_name, err);
	json_decref(live);
	if (r < 0)
		return vr_error_wrap(err, "VM \"%s\" cannot move there", o->name);
	/* Storage only: the VM stays in its pool (vSphere's "change storage only"). */
	m->dst_pool = dst == o->host_id && o->pool_id ? o->pool_id : pl.pool_id;
	m->dst_name = xstrdup(pl.host_name);
	return 0;
}


/* ---- cold migration with a copy of the files ---- */

struct copy_progress {
	struct taskrun_job *job;
	uint64_t before, total; /* bytes of the files already copied, of all */
	int last;
};

/* 5..85 % while copying; a cancel stops the copy. */
static void copy_progress(void *opaque, uint64_t done, volatile bool *abort)
{
	struct copy_progress *p = opaque;
	int pct = 5 + (int)(p->total ? 80 * (p->before + done) / p->total : 80);
	if (pct == p->last)
		return;
	p->last = pct;
	taskrun_progress(p->job, pct);
	if (taskrun_cancel_requested(p->job))
		*abort = true;
}

static void host_call_quiet(struct center *c, int64_t host, const char *method, const char *path,
			    const char *what)
{
	struct vr_error *e = NULL;
	if (chosts_call(c->hosts, host, method, path, NULL, NULL, NULL, &e) < 0) {
		log_error("%s: %s", what, vr_error_msg(e));
		vr_error_free(e);
	}
}

static int relocate_run(struct taskrun_job *job, struct migration *m, struct vr_error **err)
{
	struct center *c = job->c;
	if (taskrun_cancel_requested(job))
		return vr_error_set(err, ECANCELED, "cancelled before VM \"%s\" moved (nothing changed)",
				    m->name);
	/* The source holds the VM and says what its folder holds. */
	_cleanup_free_ char *tpath = vm_path(m->uuid, "/transfer");
	_cleanup_free_ char *tid = NULL, *release = NULL, *iid = NULL, *drop = NULL, *cpath = NULL;
	json_t *out = NULL, *inc = NULL;
	bool same = m->src_host == m->dst_host;
	struct copy_progress prog;
	size_t i;
	json_t *f, *files;
	struct db *db = NULL;
	struct inv_object before = {0};
	json_t *added, *commit;
	bool same_id;
	int r = chosts_call(c->hosts, m->src_host, "POST", tpath, NULL, NULL, &out, err);
	if (r < 0)
		return vr_error_wrap(err, "the source cannot hand VM \"%s\" over", m->name);
	tid = api_client_escape(json_get_string(out, "id", ""));
	release = xasprintf("/api/v1/transfers/%s", tid);
	files = json_object_get(out, "files");
	json_t *announce = json_pack("{s:s, s:s, s:O}", "datastore", m->dst_ds, "folder",
				     json_get_string(out, "folder", ""), "files", files);
	r = chosts_call(c->hosts, m->dst_host, "POST", "/api/v1/incoming", announce, NULL, &inc,
			err);
	json_decref(announce);
	if (r < 0) {
		vr_error_wrap(err, "host \"%s\" cannot take the files (nothing changed)", m->dst_name);
		goto release_source;
	}
	taskrun_progress(job, 5);
	iid = api_client_escape(json_get_string(inc, "id", ""));
	drop = xasprintf("/api/v1/incoming/%s", iid);

	/* The copy, file by file. */
	prog = (struct copy_progress){ .job = job, .last = 5 };
	json_array_foreach(files, i, f)
		prog.total += (uint64_t)json_integer_value(json_object_get(f, "size"));
	json_array_foreach(files, i, f) {
		const char *fname = json_get_string(f, "name", "");
		uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		_cleanup_free_ char *esc = api_client_escape(fname);
		_cleanup_free_ char *from = xasprintf("/api/v1/transfers/%s/files/%s", tid, esc);
		_cleanup_free_ char *to = xasprintf("/api/v1/incoming/%s/files/%s", iid, esc);
		r = chosts_relay(c->hosts, m->src_host, from, m->dst_host, to, size, copy_progress,
				 &prog, err);
		if (r < 0)
			break;
		prog.before += size;
	}
	if (r == -ECANCELED)
		vr_error_set(err, ECANCELED, "cancelled while copying VM \"%s\" (nothing changed)",
			     m->name);
	else if (r < 0)
		vr_error_wrap(err, "copying VM \"%s\" to host \"%s\" failed (nothing changed)",
			      m->name, m->dst_name);
	if (r == 0 && taskrun_cancel_requested(job))
		r = vr_error_set(err, ECANCELED, "cancelled after copying VM \"%s\" (nothing changed)",
				 m->name);
	if (r < 0)
		goto drop_copy;
	taskrun_progress(job, 85);

	/* Into place and registered on the target (on the same host: in place of the original). */
	added = NULL;
	commit = json_pack("{s:s}", "vmx", json_get_string(out, "vmx", ""));
	if (same)
		json_object_set_new(commit, "replaces", json_string(json_get_string(out, "id", "")));
	cpath = xasprintf("/api/v1/incoming/%s/commit", iid);
	r = chosts_call(c->hosts, m->dst_host, "POST", cpath, commit, NULL, &added, err);
	json_decref(commit);
	same_id = r == 0 && strcasecmp(json_get_string(added, "id", ""), m->uuid) == 0;
	json_decref(added);
	if (r < 0) {
		vr_error_wrap(err, "registering the copy on host \"%s\" failed (nothing changed)",
			      m->dst_name);
		goto drop_copy;
	}
	if (!same_id) {
		r = vr_error_set(err, EPROTO, "host \"%s\" registered the copy under another id",
				 m->dst_name);
		goto fail_after_commit;
	}
	taskrun_progress(job, 90);
	db = dbpool_get(c->pool, err);
	if (!db) {
		r = -EIO;
		goto fail_after_commit;
	}
	if (same) {
		/* The same host: the files moved; only the pool may change (resource_pool). */
		struct vr_error *e = NULL;
		if (inventory_set_placement(db, m->vm_id, m->dst_host, m->dst_pool, &e) < 0)
			log_warn("VM \"%s\": moved, but its resource pool is not recorded: %s",
				 m->name, vr_error_msg(e));
		vr_error_free(e);
	} else {
		r = inventory_get(db, m->vm_id, &before, err);
		if (r == 0)
			r = inventory_set_placement(db, m->vm_id, m->dst_host, m->dst_pool, err);
		if (r == 0) {
			/* The source lets go last: its files are removed only now. */
			_cleanup_free_ char *rm = xasprintf("%s?remove=true", release);
			r = chosts_call(c->hosts, m->src_host, "DELETE", rm, NULL, NULL, NULL, err);
			if (r < 0) {
				if (inventory_set_placement(db, m->vm_id, before.host_id, before.pool_id,
							    NULL) < 0)
					log_error("VM \"%s\": cannot point the inventory back at its "
						  "source",
						  m->name);
				vr_error_wrap(err, "removing VM \"%s\" from its source failed; rolled "
						   "back",
					      m->name);
			}
		}
	}
	if (r == 0) {
		struct vr_error *e = NULL;
		if (chosts_refresh_vm(c->hosts, m->dst_host, m->uuid, &e) < 0)
			log_warn("VM \"%s\": not refreshed after moving: %s", m->name, vr_error_msg(e));
		vr_error_free(e);
		center_post_event(c, db, "VmRelocatedEvent", "info", m->vm_id, m->name,
				  job->principal, job->task_id,
				  "VM \"%s\" moved to host \"%s\", datastore \"%s\"", m->name,
				  m->dst_name, m->dst_ds);
	}
	inv_object_clear(&before);
	dbpool_put(c->pool, db);
	db = NULL;
	if (r == 0) {
		json_decref(out);
		json_decref(inc);
		return 0;
	}

fail_after_commit:
	/* The copy is registered on the target: it goes; the source keeps the original. */
	if (!same) {
		_cleanup_free_ char *unreg = vm_path(m->uuid, "/unregister");
		host_call_quiet(c, m->dst_host, "POST", unreg, "rollback: unregistering the copy");
	}
	log_error("VM \"%s\": the copy on \"[%s]\" of host \"%s\" is left unregistered "
		  "after the failure; its folder can be removed",
		  m->name, m->dst_ds, m->dst_name);
	goto release_source;
drop_copy:
	host_call_quiet(c, m->dst_host, "DELETE", drop, "rollback: dropping the partial copy");
release_source:
	host_call_quiet(c, m->src_host, "DELETE", release, "rollback: releasing the source");
	json_decref(out);
	json_decref(inc);
	return r;
}

/* Phases 2..4 (register, record, remove), with rollback. */
static int migration_run(struct taskrun_job *job, struct migration *m, struct vr_error **err)
{
	struct center *c = job->c;
	if (m->copy)
		return relocate_run(job, m, err);
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
	/* The host unregisters it for a moment: the inventory object is kept. */
	chosts_hold_vm(job->c->hosts, m->uuid);
	int r = migration_run(job, m, err);
	chosts_release_vm(job->c->hosts, m->uuid);
	if (r == 0) {
		_cleanup_free_ char *h = moref_of(INV_KIND_HOST, m->dst_host);
		job->result = json_pack("{s:s, s:s}", "host", h, "datastore", m->dst_ds ? m->dst_ds : "");
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

/*
 * A datastore argument: a name, or an inventory id or path of one (ids
 * win).  Given as an object it is checked for Datastore.AllocateSpace
 * here and *arg becomes its name (valid while ds_obj is); answers and
 * returns false when it is no datastore or not allowed.
 */
static bool datastore_arg(struct creq *x, const char **arg, struct inv_object *ds_obj)
{
	if (!*arg || !(moref_like(*arg) || (*arg)[0] == '/'))
		return true;
	if (!creq_object(x, *arg, ds_obj))
		return false;
	if (ds_obj->kind != INV_KIND_DATASTORE) {
		api_respond_error(x->req, 400, "\"%s\" is a %s, not a datastore", ds_obj->name,
				  inv_kind_name(ds_obj->kind));
		return false;
	}
	if (!creq_allow(x, ds_obj, "Datastore.AllocateSpace"))
		return false;
	*arg = ds_obj->name;
	return true;
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
	if (!json_object_get(body, "host") && !json_object_get(body, "datastore")) {
		api_respond_error(req, 400, "give \"host\", \"datastore\" or both: where the VM goes");
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_free_ char *desc = NULL, *tref = NULL;
	struct inv_object o = {0}, dst = {0}, pool = {0}, ds_obj = {0};
	_cleanup_free_ char *own_host = NULL;
	struct migration *m = xcalloc(1, sizeof(*m));
	if (!find_vm_ref(&x, &o))
		goto out;
	const char *host_ref = json_get_string(body, "host", NULL);
	own_host = host_ref ? NULL : moref_of(INV_KIND_HOST, o.host_id);
	if (!host_ref && !o.host_id) {
		api_respond_error(req, 409, "VM \"%s\" is on no host", o.name);
		goto out;
	}
	if (!creq_object(&x, host_ref ? host_ref : own_host, &dst))
		goto out;
	const char *ds_arg = json_get_string(body, "datastore", NULL);
	if (!datastore_arg(&x, &ds_arg, &ds_obj))
		goto out;
	if (dst.kind != INV_KIND_HOST) {
		api_respond_error(req, 400, "\"%s\" is a %s, not a host", dst.name,
				  inv_kind_name(dst.kind));
		goto out;
	}
	if (!creq_allow(&x, &o, "Resource.ColdMigrate") ||
	    !creq_allow(&x, &dst, "Resource.AssignVMToPool"))
		goto out;
	if (migration_check(x.c, x.db, &o, dst.id, ds_arg, m, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	/* Files copied to a datastore named by name: its space is asked for here. */
	if (m->copy && !ds_obj.id &&
	    !creq_allow_link(&x, dst.id, "host_datastore", m->dst_ds, "Datastore.AllocateSpace"))
		goto out;
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
	desc = m->copy ? xasprintf("Migrate VM %s to host %s, datastore %s", o.name, dst.name,
				   m->dst_ds)
		       : xasprintf("Migrate VM %s to host %s", o.name, dst.name);
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
	inv_object_clear(&ds_obj);
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
	{"datastore", JSON_STRING, false, 1, 4096},
};

struct clone_job {
	int64_t src_host, src_vm, folder_id;
	char *src_uuid, *name;
	json_t *body; /* for the source's host */
	bool power_on;
	bool placed; /* a target was given: pl says where */
	struct placement_result pl;
	char *dst_ds; /* another datastore than the source's: its files are copied there */
};

static void clone_job_free(void *opaque)
{
	struct clone_job *j = opaque;
	free(j->src_uuid);
	free(j->name);
	free(j->dst_ds);
	json_decref(j->body);
	free(j);
}

/* A clone that could not reach its place is deleted from the source's host. */
static int clone_discard(struct taskrun_job *job, int64_t host, const char *uuid,
			 struct vr_error **err)
{
	_cleanup_free_ char *path = vm_path(uuid, NULL);
	json_t *reply = NULL;
	int r = chosts_call(job->c->hosts, host, "DELETE", path, NULL, NULL, &reply, err);
	if (r == 0)
		r = json_get_string(reply, "task", NULL)
			    ? capi_follow_host_task(job, host, json_get_string(reply, "task", ""),
						    NULL, err)
			    : vr_error_set(err, EPROTO, "the host started no task");
	json_decref(reply);
	struct vr_error *e = NULL;
	chosts_refresh_vm(job->c->hosts, host, uuid, &e);
	vr_error_free(e);
	return r;
}

/*
 * The clone, made on the source's host and datastore, moves to its place:
 * registered on a host that shares the datastore, or copied to another
 * datastore (of that host or another).  If it cannot, it is deleted: a
 * failed clone leaves nothing behind.
 */
static int clone_place(struct taskrun_job *job, struct clone_job *j, const struct inv_object *o,
		       struct vr_error **err)
{
	int64_t dst = j->placed ? j->pl.host_id : j->src_host;
	struct migration m = {
		.vm_id = o->id,
		.src_host = j->src_host,
		.dst_host = dst,
		.dst_pool = j->placed && j->pl.pool_id ? j->pl.pool_id : o->pool_id,
		.uuid = xstrdup(o->uuid),
		.name = xstrdup(o->name),
		.dst_name = xstrdup(j->pl.host_name),
		.dst_ds = j->dst_ds ? xstrdup(j->dst_ds) : NULL,
		.copy = j->dst_ds != NULL,
	};
	chosts_hold_vm(job->c->hosts, m.uuid);
	int r = migration_run(job, &m, err);
	chosts_release_vm(job->c->hosts, m.uuid);
	if (r < 0) {
		struct vr_error *e = NULL;
		if (clone_discard(job, j->src_host, m.uuid, &e) < 0) {
			vr_error_wrap(err, "the clone \"%s\" could not move to host \"%s\"; it is left on "
					   "the source's host, removing it failed (%s)",
				      j->name, m.dst_name, vr_error_msg(e));
			vr_error_free(e);
		} else {
			vr_error_wrap(err, "the clone \"%s\" could not move to host \"%s\" and was removed",
				      j->name, m.dst_name);
		}
	}
	migration_free(&m);
	return r;
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
	if (r == 0 && (j->dst_ds || (j->placed && j->pl.host_id != j->src_host))) {
		dbpool_put(c->pool, db);
		r = clone_place(job, j, &o, err);
		db = dbpool_get(c->pool, err);
		if (!db)
			r = r < 0 ? r : -EIO;
	} else if (r == 0 && j->placed && j->pl.pool_id) {
		r = inventory_set_placement(db, o.id, j->src_host, j->pl.pool_id, err);
	}
	int64_t host = j->placed ? j->pl.host_id : j->src_host;
	if (r == 0 && j->power_on) {
		_cleanup_free_ char *on = vm_path(uuid, "/power/on");
		chosts_pools_push(c->hosts, host); /* it starts in its pool's group */
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
		if (j->dst_ds)
			json_object_set_new(job->result, "datastore", json_string(j->dst_ds));
		center_post_event(c, db, "VmClonedEvent", "info", o.id, j->name, job->principal,
				  job->task_id, "VM \"%s\" cloned by %s", j->name, job->principal);
	}
	inv_object_clear(&o);
	if (db)
		dbpool_put(c->pool, db);
	return r;
}

/*
 * Where a clone goes: the target's best host (placement) that reaches
 * its datastore and networks.  The datastore is the one asked for, else
 * the source's; a full clone to a target whose hosts do not reach the
 * source's datastore goes to the chosen host's roomiest one.  A linked
 * clone's disks refer to its source's, so it stays on that datastore.
 * Fills j->placed, j->pl and j->dst_ds (set only when not the source's);
 * answers and returns false when there is no such place.
 */
static bool clone_where(struct creq *x, const struct inv_object *o, const char *target_ref,
			const char *ds, bool linked, struct clone_job *j)
{
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(o->uuid, NULL);
	json_t *live = NULL;
	struct inv_object target = {0};
	const char **nets = NULL;
	bool ok = false;
	if (chosts_call(x->c->hosts, o->host_id, "GET", path, NULL, NULL, &live, &err) < 0) {
		creq_fail(x, err);
		return false;
	}
	const char *src_ds = json_get_string(live, "datastore", "");
	if (ds && strcmp(ds, src_ds) == 0)
		ds = NULL;
	if (ds && linked) {
		api_respond_error(x->req, 400,
				  "a linked clone stays on its source's datastore \"%s\" (its disks "
				  "refer to the source's); clone in full to put it on \"%s\"",
				  src_ds, ds);
		goto out;
	}
	j->placed = target_ref != NULL;
	if (target_ref && !creq_object(x, target_ref, &target))
		goto out;
	size_t n;
	nets = bridged_networks(live, &n);
	struct placement_request pr = {
		.target_id = target_ref ? target.id : o->host_id,
		.datastore = ds ? ds : src_ds,
		.networks = nets,
		.n_networks = n,
	};
	int r = placement_choose(x->db, &pr, &j->pl, &err);
	if (r == -EBUSY && !ds && !linked && target_ref) {
		/* No host there reaches the source's datastore: a full clone is copied over. */
		struct placement_result other;
		struct vr_error *e = NULL;
		char room[256];
		pr.datastore = NULL;
		if (placement_choose(x->db, &pr, &other, &e) == 0 &&
		    placement_roomiest_datastore(x->db, other.host_id, room, sizeof(room), &e) == 0) {
			j->pl = other;
			j->dst_ds = xstrdup(room);
			vr_error_free(err);
			err = NULL;
			r = 0;
		}
		vr_error_free(e);
	}
	if (r == -EBUSY && linked)
		vr_error_wrap(&err, "a linked clone stays on its source's datastore \"%s\"", src_ds);
	if (r == 0)
		r = outside_files_check(x->c, x->db, o, live, j->pl.host_id, j->pl.host_name, &err);
	if (r < 0) {
		creq_fail(x, err);
		goto out;
	}
	if (ds)
		j->dst_ds = xstrdup(ds);
	ok = true;
out:
	free(nets);
	json_decref(live);
	inv_object_clear(&target);
	return ok;
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
	struct inv_object o = {0}, folder = {0}, ds_obj = {0};
	struct clone_job *j = xcalloc(1, sizeof(*j));
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
	if (!o.host_id || !o.uuid) {
		api_respond_error(req, 409, "\"%s\" is on no host", o.name);
		goto out;
	}
	const char *ds = json_get_string(body, "datastore", NULL);
	bool linked = json_is_true(json_object_get(body, "linked"));
	if (!datastore_arg(&x, &ds, &ds_obj) ||
	    !clone_where(&x, &o, json_get_string(body, "target", NULL), ds, linked, j))
		goto out;
	if (j->placed && j->pl.pool_id && !creq_allow_pool(&x, j->pl.pool_id))
		goto out;
	/* The clone is made on the source's datastore, and copied on from there. */
	json_error_t jerr;
	json_t *props = json_loads(o.properties, 0, &jerr);
	const char *src_ds = json_get_string(props, "datastore", NULL);
	bool ds_ok = (!src_ds || creq_allow_link(&x, o.host_id, "host_datastore", src_ds,
						   "Datastore.AllocateSpace")) &&
		     (!j->dst_ds ||
		      creq_allow_link(&x, j->placed ? j->pl.host_id : o.host_id, "host_datastore",
				      j->dst_ds, "Datastore.AllocateSpace"));
	json_decref(props);
	if (!ds_ok)
		goto out;
	j->src_host = o.host_id;
	j->src_vm = o.id;
	j->src_uuid = xstrdup(o.uuid);
	j->name = xstrdup(json_get_string(body, "name", ""));
	j->folder_id = folder.id;
	j->power_on = json_is_true(json_object_get(body, "power_on"));
	j->body = json_pack("{s:s, s:b}", "name", j->name, "linked", linked);
	if (json_object_get(body, "snapshot"))
		json_object_set(j->body, "snapshot", json_object_get(body, "snapshot"));
	desc = j->dst_ds ? xasprintf("Clone %s to %s on host %s, datastore %s", o.name, j->name,
				     j->pl.host_name, j->dst_ds)
			 : xasprintf("Clone %s to %s", o.name, j->name);
	struct ctask_spec ts = {
		.type = "VirtualMachine.clone",
		.object_id = o.id,
		.object_name = o.name,
		.principal = x.user,
		.description = desc,
		.cancellable = true,
	};
	int64_t task;
	int r = taskrun_submit(x.c->tasks, x.db, &ts, clone_run, j, clone_job_free, &task, &err);
	j = NULL; /* the task's, or freed by taskrun_submit */
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	tref = xasprintf("task-%lld", (long long)task);
	api_respond_json(req, 202, json_pack("{s:s}", "task", tref));
out:
	if (j)
		clone_job_free(j);
	inv_object_clear(&o);
	inv_object_clear(&folder);
	inv_object_clear(&ds_obj);
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
