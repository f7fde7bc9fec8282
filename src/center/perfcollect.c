/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Performance history: every 20 s each host's monitor reads the host's
 * latest statistics (GET /api/v1/stats) and stores them as vCenter's
 * counters, per host and per VM (with per-disk and per-NIC instances),
 * then feeds each value to the metric alarms.  Roll-ups and retention
 * are the housekeeping thread's (perf_rollup()).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "center/center.h"
#include "center/db/alarms.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/perf.h"
#include "center/hosts_priv.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

#define SAMPLE_MS 20000

struct batch {
	struct perf_sample_in *items;
	size_t n, cap;
	char **owned; /* instance names */
};

static void add(struct batch *b, int64_t object, const char *counter, const char *instance,
		int64_t ts, json_t *v, double scale)
{
	if (!json_is_number(v))
		return;
	double x = json_number_value(v) * scale;
	if (!isfinite(x))
		return;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->items = xrealloc(b->items, b->cap * sizeof(*b->items));
	}
	const char *inst = "";
	if (instance && *instance) {
		char *copy = xstrdup(instance);
		strv_push_owned(&b->owned, copy);
		inst = copy;
	}
	b->items[b->n++] = (struct perf_sample_in){object, counter, inst, ts, x};
}

static int64_t sample_time(json_t *o)
{
	json_t *t = json_object_get(o, "timestamp");
	return json_is_number(t) ? (int64_t)(json_number_value(t) * 1000.0) : center_now_ms();
}

static void host_samples(struct batch *b, int64_t host, json_t *h)
{
	if (!json_is_object(h))
		return;
	int64_t ts = sample_time(h);
	json_t *cpu = json_object_get(h, "cpu"), *mem = json_object_get(h, "memory");
	add(b, host, "cpu.usage.average", NULL, ts, json_object_get(cpu, "used_pct"), 1);
	add(b, host, "cpu.usagemhz.average", NULL, ts, json_object_get(cpu, "used_mhz"), 1);
	add(b, host, "mem.consumed.average", NULL, ts, json_object_get(mem, "used_bytes"),
	    1.0 / 1024);
	add(b, host, "mem.shared.average", NULL, ts, json_object_get(mem, "ksm_shared_bytes"),
	    1.0 / 1024);
	json_t *used = json_object_get(mem, "used_bytes"), *total = json_object_get(mem, "total_bytes");
	if (json_is_number(used) && json_is_number(total) && json_number_value(total) > 0) {
		json_t *pct = json_real(100.0 * json_number_value(used) / json_number_value(total));
		add(b, host, "mem.usage.average", NULL, ts, pct, 1);
		json_decref(pct);
	}
}

static void vm_samples(struct batch *b, int64_t vm, json_t *v, int interval_s)
{
	int64_t ts = sample_time(v);
	json_t *cpu = json_object_get(v, "cpu"), *mem = json_object_get(v, "memory");
	add(b, vm, "cpu.usage.average", NULL, ts, json_object_get(cpu, "used_pct"), 1);
	/* vCenter's ready time: milliseconds ready-but-waiting within the sample interval. */
	add(b, vm, "cpu.ready.summation", NULL, ts, json_object_get(cpu, "ready_pct"),
	    interval_s * 1000.0 / 100.0);
	add(b, vm, "mem.consumed.average", NULL, ts, json_object_get(mem, "consumed_bytes"),
	    1.0 / 1024);
	add(b, vm, "mem.active.average", NULL, ts, json_object_get(mem, "active_bytes"), 1.0 / 1024);
	add(b, vm, "mem.balloon.average", NULL, ts, json_object_get(mem, "ballooned_bytes"),
	    1.0 / 1024);
	add(b, vm, "mem.shared.average", NULL, ts, json_object_get(mem, "shared_bytes"), 1.0 / 1024);
	json_t *granted = json_object_get(mem, "granted_bytes"),
	       *consumed = json_object_get(mem, "consumed_bytes");
	if (json_is_number(granted) && json_is_number(consumed) && json_number_value(granted) > 0) {
		json_t *pct =
			json_real(100.0 * json_number_value(consumed) / json_number_value(granted));
		add(b, vm, "mem.usage.average", NULL, ts, pct, 1);
		json_decref(pct);
	}
	double rd = 0, wr = 0, lat = 0;
	bool have_disk = false;
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(v, "disks"), i, d) {
		const char *name = json_get_string(d, "disk", NULL);
		json_t *r = json_object_get(d, "read_kibps"), *w = json_object_get(d, "write_kibps");
		add(b, vm, "disk.read.average", name, ts, r, 1);
		add(b, vm, "disk.write.average", name, ts, w, 1);
		if (json_is_number(r))
			rd += json_number_value(r), have_disk = true;
		if (json_is_number(w))
			wr += json_number_value(w), have_disk = true;
		for (int k = 0; k < 2; k++) {
			json_t *l = json_object_get(d, k ? "write_latency_ms" : "read_latency_ms");
			if (json_is_number(l) && json_number_value(l) > lat)
				lat = json_number_value(l);
		}
	}
	if (have_disk) {
		json_t *jr = json_real(rd), *jw = json_real(wr), *jl = json_real(lat);
		add(b, vm, "disk.read.average", NULL, ts, jr, 1);
		add(b, vm, "disk.write.average", NULL, ts, jw, 1);
		add(b, vm, "disk.maxTotalLatency.latest", NULL, ts, jl, 1);
		json_decref(jr);
		json_decref(jw);
		json_decref(jl);
	}
	double rx = 0, tx = 0;
	bool have_nic = false;
	json_t *n;
	json_array_foreach(json_object_get(v, "nics"), i, n) {
		const char *name = json_get_string(n, "nic", NULL);
		json_t *r = json_object_get(n, "rx_kibps"), *t = json_object_get(n, "tx_kibps");
		add(b, vm, "net.received.average", name, ts, r, 1);
		add(b, vm, "net.transmitted.average", name, ts, t, 1);
		if (json_is_number(r))
			rx += json_number_value(r), have_nic = true;
		if (json_is_number(t))
			tx += json_number_value(t), have_nic = true;
	}
	if (have_nic) {
		json_t *jr = json_real(rx), *jt = json_real(tx);
		add(b, vm, "net.received.average", NULL, ts, jr, 1);
		add(b, vm, "net.transmitted.average", NULL, ts, jt, 1);
		json_decref(jr);
		json_decref(jt);
	}
}

/*
 * The counters some enabled metric alarm watches (NULL: none).  Values of
 * other counters cannot change any alarm, and evaluating one costs a
 * transaction: with a thousand hosts that was most of center's idle CPU.
 */
static char **watched_metrics(struct db *db)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	char **out = NULL;
	int r = db_prepare(db, "list the metrics alarms watch",
			   "SELECT DISTINCT metric FROM alarm_definition"
			   " WHERE enabled AND condition_kind = 'metric'",
			   &st, &err);
	while (r >= 0 && (r = db_step(st, &err)) > 0)
		if (db_column_text(st, 0))
			strv_push(&out, db_column_text(st, 0));
	if (r < 0) {
		/* Evaluate everything rather than miss an alarm. */
		log_debug("metric alarms: %s", vr_error_msg(err));
		strv_free(out);
		out = NULL;
		strv_push(&out, "*");
	}
	return out;
}

static bool watched(char **metrics, const char *counter)
{
	for (size_t i = 0; metrics && metrics[i]; i++)
		if (strcmp(metrics[i], "*") == 0 || strcmp(metrics[i], counter) == 0)
			return true;
	return false;
}

/* The aggregate values of one object go to the metric alarms. */
static void feed_alarms(struct center *c, struct db *db, const struct batch *b)
{
	_cleanup_strv_ char **metrics = watched_metrics(db);
	for (size_t i = 0; metrics && i < b->n; i++) {
		const struct perf_sample_in *s = &b->items[i];
		if ((s->instance && *s->instance) || !watched(metrics, s->counter))
			continue;
		struct alarm_fire_list fires = {0};
		_cleanup_error_ struct vr_error *err = NULL;
		if (alarm_eval_metric(db, s->object_id, s->counter, s->value, center_now_ms(), &fires,
				      &err) < 0)
			log_debug("metric alarms of object %lld: %s", (long long)s->object_id,
				  vr_error_msg(err));
		else
			center_run_alarm_fires(c, db, &fires);
		alarm_fire_list_clear(&fires);
	}
}

int perf_collect(struct chosts *hs, struct chost *h, struct api_client *cl, struct vr_error **err)
{
	json_t *stats = NULL;
	int r = chost_request(hs, h, cl, "GET", "/api/v1/stats", NULL, NULL, &stats, err);
	if (r < 0)
		return r;
	struct center *c = hs->c;
	struct db *db = dbpool_get(c->pool, err);
	if (!db) {
		json_decref(stats);
		return -EIO;
	}
	int interval_s = (int)json_get_number(stats, "interval_s", 20);
	struct batch b = {0};
	host_samples(&b, h->id, json_object_get(stats, "host"));
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(stats, "vms"), i, v) {
		const char *uuid = json_get_string(v, "id", NULL);
		if (!uuid || !uuid_is_valid(uuid))
			continue;
		struct inv_object o = {0};
		struct vr_error *e = NULL;
		if (inventory_find_uuid(db, uuid, &o, &e) == 0 && o.host_id == h->id)
			vm_samples(&b, o.id, v, interval_s);
		vr_error_free(e);
		inv_object_clear(&o);
	}
	r = b.n ? perf_store(db, b.items, b.n, err) : 0;
	if (r == 0)
		feed_alarms(c, db, &b);
	dbpool_put(c->pool, db);
	free(b.items);
	strv_free(b.owned);
	json_decref(stats);
	return r;
}

bool perf_due(uint64_t *next_mono)
{
	uint64_t now = time_mono_ms();
	if (now < *next_mono)
		return false;
	*next_mono = now + SAMPLE_MS;
	return true;
}
