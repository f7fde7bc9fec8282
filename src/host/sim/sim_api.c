/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated hosts' resources (sim.h): host, VMs and their power
 * operations (tasks that finish at once), tasks, the event feed with long
 * polling, statistics, datastores, network and resource pools (kept,
 * not enforced).  Shapes follow hostd's API
 * (docs/api/hostd.yaml) for what vireo-center reads.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "api/server.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmspec.h"
#include "host/events.h"
#include "host/resources/pools.h"
#include "host/sim/sim_priv.h"

#define SIM_DATASTORE "simds"
#define SIM_DATASTORE_PATH "/sim/datastore"
#define SIM_PORTGROUP "VM Network"
#define SIM_HOST_CPUS 32
#define SIM_HOST_MHZ 2400
#define SIM_HOST_MEMORY (256ull << 30)
#define SIM_DATASTORE_CAPACITY (64ull << 40)
#define STATS_INTERVAL_S 20

static const char *const power_names[] = {
	[SIM_POWER_OFF] = "poweredOff",
	[SIM_POWER_ON] = "poweredOn",
	[SIM_POWER_SUSPENDED] = "suspended",
};

/* Under h->lock. */
static struct sim_vm *vm_find(struct sim_host *h, const char *id)
{
	for (size_t i = 0; i < h->n_vms; i++)
		if (strcmp(h->vms[i].id, id) == 0)
			return &h->vms[i];
	return NULL;
}

/* Under h->lock. */
static json_t *vm_json(const struct sim_vm *vm, bool detail)
{
	char path[2 * sizeof(vm->name) + 8];
	snprintf(path, sizeof(path), "%s/%s.vmx", vm->name, vm->name);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:s, s:b}", "id", vm->id, "name",
			      vm->name, "datastore", SIM_DATASTORE, "path", path, "power_state",
			      power_names[vm->power], "memory_mib", (json_int_t)vm->memory_mib,
			      "vcpus", (int)vm->vcpus, "guest_os", "other-64", "template", false);
	if (vm->power == SIM_POWER_ON) {
		char t[32];
		time_format_iso(vm->powered_on_ms, t);
		json_object_set_new(o, "runtime", json_pack("{s:s, s:s, s:s}", "state", "running",
							    "accel", "simulated", "powered_on", t));
	}
	if (detail)
		json_object_set_new(o, "config",
				    json_pack("{s:s, s:I, s:i}", "display_name", vm->name,
					      "memory_mib", (json_int_t)vm->memory_mib, "vcpus",
					      (int)vm->vcpus));
	return o;
}

static void host_get(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	unsigned running = 0;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_vms; i++)
		running += h->vms[i].power == SIM_POWER_ON;
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200,
			 json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:i, s:I, s:i, s:i, s:b}",
				   "id", h->id, "name", h->name, "version", VIREO_VERSION,
				   "accelerator", "detected", "simulated", "setting", "auto",
				   "reason", "simulated host: no VM runs", "cpus", SIM_HOST_CPUS,
				   "memory_bytes", (json_int_t)SIM_HOST_MEMORY, "vms",
				   (int)h->n_vms, "vms_running", (int)running, "simulated", true));
}

static void vms_list(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	json_t *a = json_array();
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_vms; i++)
		json_array_append_new(a, vm_json(&h->vms[i], false));
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200, json_pack("{s:o}", "vms", a));
}

static void vms_get(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	const char *id = api_request_param(req, "id");
	pthread_mutex_lock(&h->lock);
	struct sim_vm *vm = vm_find(h, id);
	json_t *o = vm ? vm_json(vm, true) : NULL;
	pthread_mutex_unlock(&h->lock);
	if (!o) {
		api_respond_error(req, 404, "no VM \"%s\" on this host", id);
		return;
	}
	api_respond_json(req, 200, o);
}

/* ---- power operations: tasks that are over when they are answered ---- */

enum power_op {
	OP_ON,
	OP_OFF,
	OP_RESET,
	OP_SHUTDOWN,
	OP_REBOOT,
	OP_SUSPEND,
	OP_CONTINUE,
};

static const struct {
	const char *name, *description;
} power_ops[] = {
	[OP_ON] = {"on", "Power on VM"},
	[OP_OFF] = {"off", "Power off VM"},
	[OP_RESET] = {"reset", "Reset VM"},
	[OP_SHUTDOWN] = {"shutdown", "Shut down guest"},
	[OP_REBOOT] = {"reboot", "Restart guest"},
	[OP_SUSPEND] = {"suspend", "Suspend VM"},
	[OP_CONTINUE] = {"continue", "Continue paused VM"},
};

/*
 * Applies op under h->lock; returns NULL, or the reason it cannot be
 * done (a constant), and the event to post.
 */
static const char *power_apply(struct sim_vm *vm, enum power_op op, const char **event)
{
	*event = NULL;
	switch (op) {
	case OP_ON:
		if (vm->power == SIM_POWER_ON)
			return "the VM is already powered on";
		*event = vm->power == SIM_POWER_SUSPENDED ? "VmResumed" : "VmPoweredOn";
		vm->power = SIM_POWER_ON;
		vm->powered_on_ms = time_real_ms();
		return NULL;
	case OP_OFF:
	case OP_SHUTDOWN:
		if (vm->power == SIM_POWER_OFF)
			return "the VM is already powered off";
		if (op == OP_SHUTDOWN && vm->power != SIM_POWER_ON)
			return "the VM is not running";
		*event = op == OP_OFF ? "VmPoweredOff" : "VmGuestShutdown";
		vm->power = SIM_POWER_OFF;
		return NULL;
	case OP_RESET:
	case OP_REBOOT:
	case OP_SUSPEND:
		if (vm->power != SIM_POWER_ON)
			return "the VM is not powered on";
		if (op == OP_SUSPEND) {
			vm->power = SIM_POWER_SUSPENDED;
			*event = "VmSuspended";
		} else {
			*event = op == OP_RESET ? "VmReset" : "VmGuestReboot";
		}
		return NULL;
	case OP_CONTINUE:
		return "the VM is not paused";
	}
	return "unknown operation";
}

/* Under h->lock: records a finished task; returns its number. */
static uint64_t task_record(struct sim_host *h, const char *description, const char *vm,
			    const char *user, const char *error)
{
	uint64_t num = h->next_task++;
	struct sim_task *t = &h->tasks[num % SIM_TASKS_KEPT];
	free(t->description);
	free(t->user);
	free(t->error);
	t->num = num;
	t->description = xstrdup(description);
	snprintf(t->vm, sizeof(t->vm), "%s", vm);
	t->user = xstrdup(user ? user : "");
	t->error = error ? xstrdup(error) : NULL;
	t->time_ms = time_real_ms();
	return num;
}

static void vms_power(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	const char *id = api_request_param(req, "id");
	const char *op_name = api_request_param(req, "op");
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	int timeout_s;
	if (vmspec_power_check(body, &timeout_s, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	int op = -1;
	for (size_t i = 0; i < ARRAY_SIZE(power_ops); i++)
		if (strcmp(op_name, power_ops[i].name) == 0)
			op = (int)i;
	pthread_mutex_lock(&h->lock);
	struct sim_vm *vm = vm_find(h, id);
	if (!vm || op < 0) {
		pthread_mutex_unlock(&h->lock);
		if (!vm)
			api_respond_error(req, 404, "no VM \"%s\" on this host", id);
		else
			api_respond_error(req, 404,
					  "no power operation \"%s\" (on, off, reset, shutdown, "
					  "reboot, suspend, continue)",
					  op_name);
		return;
	}
	const char *event = NULL;
	const char *why = power_apply(vm, (enum power_op)op, &event);
	_cleanup_free_ char *name = xstrdup(vm->name);
	uint64_t num = task_record(h, power_ops[op].description, vm->id, api_request_user(req),
				   why);
	pthread_mutex_unlock(&h->lock);
	if (event)
		events_add(h->events, EVENT_INFO, id, event, "VM \"%s\": %s (simulated host %s)",
			   name, power_ops[op].description, h->name);
	char task[32];
	snprintf(task, sizeof(task), "task-%llu", (unsigned long long)num);
	api_respond_json(req, 202, json_pack("{s:s}", "task", task));
}

/* Under h->lock. */
static json_t *task_json(const struct sim_task *t)
{
	char id[32], time[32];
	snprintf(id, sizeof(id), "task-%llu", (unsigned long long)t->num);
	time_format_iso(t->time_ms, time);
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "id", id,
			      "description", t->description, "state",
			      t->error ? "error" : "success", "progress", 100, "queued", time,
			      "started", time, "finished", time, "object", t->vm, "user", t->user);
	if (t->error)
		json_object_set_new(o, "error", json_string(t->error));
	return o;
}

static void tasks_list(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	const char *object = api_request_query(req, "object");
	json_t *a = json_array();
	pthread_mutex_lock(&h->lock);
	uint64_t first = h->next_task > SIM_TASKS_KEPT ? h->next_task - SIM_TASKS_KEPT : 1;
	for (uint64_t n = first; n < h->next_task; n++) {
		const struct sim_task *t = &h->tasks[n % SIM_TASKS_KEPT];
		if (t->num == n && (!object || strcmp(object, t->vm) == 0))
			json_array_append_new(a, task_json(t));
	}
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200, json_pack("{s:o}", "tasks", a));
}

static void tasks_get(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	const char *id = api_request_param(req, "id");
	const char *wait = api_request_query(req, "wait_ms");
	uint64_t wait_ms = 0, num = 0;
	if (wait && parse_u64(wait, 0, 60000, &wait_ms) < 0) {
		api_respond_error(req, 400, "wait_ms=\"%s\" is not a number from 0 to 60000", wait);
		return;
	}
	json_t *o = NULL;
	if (strncmp(id, "task-", 5) == 0 && parse_u64(id + 5, 1, UINT64_MAX, &num) == 0) {
		pthread_mutex_lock(&h->lock);
		const struct sim_task *t = &h->tasks[num % SIM_TASKS_KEPT];
		if (t->num == num)
			o = task_json(t);
		pthread_mutex_unlock(&h->lock);
	}
	if (!o) {
		api_respond_error(req, 404, "no task \"%s\"", id);
		return;
	}
	api_respond_json(req, 200, o); /* every task is over: nothing to wait for */
}

static void events_list(struct api_request *req, void *opaque)
{
	struct sim *s = opaque;
	struct sim_host *h = sim_request_host(req, s);
	if (h)
		events_respond(req, h->events, s->instance);
}

/* ---- statistics: smooth, deterministic, different per VM ---- */

static double wave(unsigned a, unsigned b, double t, double lo, double hi)
{
	double phase = (double)((a * 2654435761u + b * 40503u) % 1000) / 1000.0 * 6.283;
	double x = 0.5 + 0.5 * sin(t / 300.0 + phase);
	return lo + (hi - lo) * x;
}

static void stats_get(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	uint64_t now_ms = time_real_ms();
	double ts = (double)(now_ms / (STATS_INTERVAL_S * 1000) * STATS_INTERVAL_S);
	json_t *vms = json_array();
	double host_cpu_mhz = 0, host_mem = 8.0 * (1u << 30);
	pthread_mutex_lock(&h->lock);
	for (size_t j = 0; j < h->n_vms; j++) {
		const struct sim_vm *vm = &h->vms[j];
		if (vm->power != SIM_POWER_ON)
			continue;
		double granted = (double)vm->memory_mib * 1048576.0;
		double used_pct = wave(h->index, (unsigned)j, ts, 2, 60);
		double consumed = granted * wave(h->index, (unsigned)j + 7, ts, 0.3, 0.9);
		host_cpu_mhz += used_pct / 100.0 * vm->vcpus * SIM_HOST_MHZ;
		host_mem += consumed;
		json_array_append_new(
			vms, json_pack("{s:s, s:s, s:i, s:f, s:{s:f, s:f}, s:{s:I, s:I, s:I, s:I, "
				       "s:I}, s:[], s:[]}",
				       "id", vm->id, "name", vm->name, "vcpus", (int)vm->vcpus,
				       "timestamp", ts, "cpu", "used_pct", used_pct, "ready_pct",
				       wave(h->index, (unsigned)j + 3, ts, 0.1, 3), "memory",
				       "granted_bytes", (json_int_t)granted, "consumed_bytes",
				       (json_int_t)consumed, "active_bytes",
				       (json_int_t)(consumed * 0.4), "ballooned_bytes", (json_int_t)0,
				       "shared_bytes", (json_int_t)(consumed * 0.05), "disks",
				       "nics"));
	}
	pthread_mutex_unlock(&h->lock);
	double cap_mhz = (double)SIM_HOST_CPUS * SIM_HOST_MHZ;
	json_t *host = json_pack(
		"{s:f, s:{s:f, s:f}, s:{s:I, s:I, s:I}}", "timestamp", ts, "cpu", "used_pct",
		100.0 * host_cpu_mhz / cap_mhz, "used_mhz", host_cpu_mhz, "memory", "used_bytes",
		(json_int_t)host_mem, "total_bytes", (json_int_t)SIM_HOST_MEMORY, "ksm_shared_bytes",
		(json_int_t)(host_mem * 0.03));
	api_respond_json(req, 200,
			 json_pack("{s:f, s:o, s:o}", "interval_s", (double)STATS_INTERVAL_S, "host",
				   host, "vms", vms));
}

/* ---- datastores and network ---- */

static json_t *datastore_json(struct sim_host *h)
{
	json_int_t provisioned = 0;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_vms; i++)
		provisioned += (json_int_t)(16ull << 30);
	size_t n = h->n_vms;
	pthread_mutex_unlock(&h->lock);
	/* Shared by every simulated host: the same numbers everywhere. */
	json_int_t used = (json_int_t)(SIM_DATASTORE_CAPACITY / 3);
	return json_pack("{s:s, s:s, s:b, s:i, s:I, s:I, s:I, s:I}", "name", SIM_DATASTORE,
			 "path", SIM_DATASTORE_PATH, "accessible", true, "vms", (int)n,
			 "capacity_bytes", (json_int_t)SIM_DATASTORE_CAPACITY, "free_bytes",
			 (json_int_t)SIM_DATASTORE_CAPACITY - used, "provisioned_bytes",
			 provisioned, "used_bytes", used);
}

static void datastores_list(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (h)
		api_respond_json(req, 200, json_pack("{s:[o]}", "datastores", datastore_json(h)));
}

static void datastores_get(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	const char *name = api_request_param(req, "name");
	if (strcmp(name, SIM_DATASTORE) != 0) {
		api_respond_error(req, 404, "no datastore \"%s\"", name);
		return;
	}
	api_respond_json(req, 200, datastore_json(h));
}

static void network_get(struct api_request *req, void *opaque)
{
	if (!sim_request_host(req, opaque))
		return;
	api_respond_json(req, 200,
			 json_pack("{s:[{s:s, s:i, s:[], s:[{s:s, s:i}]}]}", "vswitches", "name",
				   "vSwitch0", "mtu", 1500, "uplinks", "portgroups", "name",
				   SIM_PORTGROUP, "vlan", 0));
}

/*
 * Resource pools as hostd shows them (GET/PUT /api/v1/host/resource-pools),
 * checked by hostd's own parser; a simulated host has no QEMU to put in a
 * group, so it says they are not enforced.  Under h->lock.
 */
static json_t *pools_json(struct sim_host *h)
{
	const struct res_pool_tree *t = h->pools;
	json_t *doc = res_pool_tree_to_json(t);
	json_t *pools = json_object_get(doc, "pools");
	for (size_t i = 0; i < t->n_pools; i++) {
		json_t *o = json_array_get(pools, i);
		json_object_set_new(o, "vms", json_array());
		json_object_set_new(o, "cgroup", json_null());
	}
	for (size_t i = 0; i < h->n_vms; i++) {
		const struct res_pool *p = res_pool_tree_vm_pool(t, h->vms[i].id);
		if (p)
			json_array_append_new(
				json_object_get(json_array_get(pools, (size_t)(p - t->pools)), "vms"),
				json_string(h->vms[i].id));
	}
	json_object_set_new(doc, "enforced", json_false());
	json_object_set_new(doc, "reason", json_string("a simulated host enforces nothing"));
	return doc;
}

static void pools_get(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	json_t *doc = pools_json(h);
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200, doc);
}

static void pools_put(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct res_pool_tree *t = NULL;
	if (res_pool_tree_from_json(api_request_body_json(req), &t, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	pthread_mutex_lock(&h->lock);
	res_pool_tree_free(h->pools);
	h->pools = t;
	json_t *doc = pools_json(h);
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200, doc);
}

void sim_api_register(struct api_server *srv, struct sim *s)
{
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/host", host_get, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/vms", vms_list, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/vms/{id}", vms_get, s, 0);
	api_server_add_route(srv, "POST", "/sim/{h}/api/v1/vms/{id}/power/{op}", vms_power, s,
			     API_ROUTE_BODY_OPTIONAL | API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/tasks", tasks_list, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/tasks/{id}", tasks_get, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/events", events_list, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/stats", stats_get, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/datastores", datastores_list, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/datastores/{name}", datastores_get, s,
			     0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/network", network_get, s, 0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/host/resource-pools", pools_get, s, 0);
	api_server_add_route(srv, "PUT", "/sim/{h}/api/v1/host/resource-pools", pools_put, s,
			     API_ROUTE_ADMIN | API_ROUTE_LARGE_BODY);
}
