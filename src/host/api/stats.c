/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resource: live statistics.  GET /api/v1/stats (the latest sample of
 * the host and of every running VM), GET /api/v1/stats/history (one
 * entity's last hour) and GET /metrics (Prometheus text format 0.0.4).
 * Every reader copies from the store; nothing here waits for a VM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/hostd.h"
#include "host/stats/stats.h"
#include "host/stats_sampler.h"

static json_t *vm_entry(const struct stats_series *v)
{
	json_t *o = stats_vm_sample_json(&v->vm[v->n - 1]);
	json_object_set_new(o, "id", json_string(v->id));
	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "vcpus", json_integer(v->vcpus));
	return o;
}

static void stats_latest(struct api_request *req, void *opaque)
{
	struct stats_store *st = stats_sampler_store(opaque);
	struct stats_series host;
	struct stats_series *vms = NULL;
	size_t n = 0;
	stats_store_latest(st, &host, &vms, &n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(a, vm_entry(&vms[i]));
		stats_series_free(&vms[i]);
	}
	free(vms);
	json_t *o = json_pack("{s:f, s:o, s:o}", "interval_s",
			      (double)stats_store_interval_ms(st) / 1000.0, "host",
			      host.n ? stats_host_sample_json(&host.host[0]) : json_null(), "vms", a);
	stats_series_free(&host);
	api_respond_json(req, 200, o);
}

static void stats_history(struct api_request *req, void *opaque)
{
	struct stats_sampler *s = opaque;
	struct stats_store *st = stats_sampler_store(s);
	const char *entity = api_request_query(req, "entity");
	const char *since_s = api_request_query(req, "since");
	uint64_t since = 0;
	if (since_s && parse_u64(since_s, 0, (uint64_t)INT64_MAX / 1000, &since) < 0) {
		api_respond_error(req, 400, "since=\"%s\" is not a time in seconds since the epoch",
				  since_s);
		return;
	}
	if (!entity || !*entity)
		entity = "host";
	struct stats_series series;
	json_t *samples = json_array();
	if (strcmp(entity, "host") == 0) {
		stats_store_history(st, NULL, (int64_t)since * 1000, &series);
		for (size_t i = 0; i < series.n; i++)
			json_array_append_new(samples, stats_host_sample_json(&series.host[i]));
		stats_series_free(&series);
		api_respond_json(req, 200,
				 json_pack("{s:s, s:f, s:o}", "entity", "host", "interval_s",
					   (double)stats_store_interval_ms(st) / 1000.0, "samples",
					   samples));
		return;
	}
	/* A VM by id or display name. */
	char id[37];
	snprintf(id, sizeof(id), "%s", entity);
	struct vm *vm = inventory_find(stats_sampler_host(s), entity);
	if (vm) {
		snprintf(id, sizeof(id), "%s", vm->id);
		vm_unref(vm);
	}
	if ((!vm && strlen(entity) >= sizeof(id)) ||
	    !stats_store_history(st, id, (int64_t)since * 1000, &series)) {
		json_decref(samples);
		api_respond_error(req, 404,
				  vm ? "VM \"%s\" has no statistics (it has not run in the last hour)"
				     : "no VM \"%s\" (entity is \"host\", a VM id or a VM name)",
				  entity);
		return;
	}
	for (size_t i = 0; i < series.n; i++)
		json_array_append_new(samples, stats_vm_sample_json(&series.vm[i]));
	json_t *o = json_pack("{s:s, s:s, s:i, s:f, s:o}", "entity", series.id, "name", series.name,
			      "vcpus", (int)series.vcpus, "interval_s",
			      (double)stats_store_interval_ms(st) / 1000.0, "samples", samples);
	stats_series_free(&series);
	api_respond_json(req, 200, o);
}

static void metrics(struct api_request *req, void *opaque)
{
	struct stats_store *st = stats_sampler_store(opaque);
	struct stats_series host;
	struct stats_series *vms = NULL;
	size_t n = 0;
	stats_store_latest(st, &host, &vms, &n);
	char *text = stats_prometheus_render(&host, vms, n, stats_store_interval_ms(st));
	for (size_t i = 0; i < n; i++)
		stats_series_free(&vms[i]);
	free(vms);
	stats_series_free(&host);
	api_respond_text(req, 200, STATS_PROMETHEUS_CONTENT_TYPE, text, strlen(text));
	free(text);
}

void api_stats_register(struct api_server *srv, struct stats_sampler *s, bool metrics_no_auth)
{
	api_server_add_route(srv, "GET", "/api/v1/stats", stats_latest, s, 0);
	api_server_add_route(srv, "GET", "/api/v1/stats/history", stats_history, s, 0);
	api_server_add_route(srv, "GET", "/metrics", metrics, s,
			     metrics_no_auth ? API_ROUTE_NO_AUTH : 0);
}
