/* SPDX-License-Identifier: Apache-2.0 */
/* Statistics of a running QEMU over QMP; see stats.h. */
#include "qemu/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "qemu/qmp.h"

void qemu_vm_stats_clear(struct qemu_vm_stats *s)
{
	free(s->disks);
	s->disks = NULL;
	s->n_disks = 0;
}

/* ---- parsers ---- */

/* A non-negative JSON integer member; false when absent, not an integer or negative. */
static bool get_u64(const json_t *o, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/*
 * QEMU names the device by its qdev id ("scsi0-0"), or by its QOM path
 * when the block backend hangs off an unnamed child
 * ("/machine/peripheral/vda0/virtio-backend"): both give "scsi0-0"/"vda0".
 */
static bool qdev_id(const char *path, char *out, size_t size)
{
	static const char prefix[] = "/machine/peripheral/";
	const char *id = path;
	if (path[0] == '/') {
		if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
			return false;
		id = path + sizeof(prefix) - 1;
	}
	size_t len = strcspn(id, "/");
	if (id == path && id[len] != '\0')
		return false;
	if (len == 0 || len >= size)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] >= 0x7f)
			return false;
	memcpy(out, id, len);
	out[len] = '\0';
	return true;
}

int qemu_blockstats_parse(const json_t *ret, struct qemu_blockstat **out, size_t *n_out,
			  struct vr_error **err)
{
	*out = NULL;
	*n_out = 0;
	if (!json_is_array(ret))
		return vr_error_set(err, EPROTO, "query-blockstats: the answer is not a list");
	size_t cap = json_array_size(ret);
	if (cap > 1024)
		return vr_error_set(err, EPROTO, "query-blockstats: %zu devices is implausible", cap);
	struct qemu_blockstat *v = xcalloc(cap ? cap : 1, sizeof(*v));
	size_t n = 0, i;
	const json_t *e;
	json_array_foreach(ret, i, e) {
		const char *qdev = json_string_value(json_object_get(e, "qdev"));
		const json_t *st = json_object_get(e, "stats");
		struct qemu_blockstat b = {0};
		if (!qdev || !json_is_object(st) || !qdev_id(qdev, b.device, sizeof(b.device)))
			continue; /* a block backend without a device of ours */
		if (!get_u64(st, "rd_operations", &b.rd_ops) ||
		    !get_u64(st, "wr_operations", &b.wr_ops) ||
		    !get_u64(st, "rd_bytes", &b.rd_bytes) || !get_u64(st, "wr_bytes", &b.wr_bytes) ||
		    !get_u64(st, "rd_total_time_ns", &b.rd_time_ns) ||
		    !get_u64(st, "wr_total_time_ns", &b.wr_time_ns)) {
			free(v);
			return vr_error_set(err, EPROTO,
					    "query-blockstats: device \"%s\" lacks a counter or has "
					    "a negative one",
					    b.device);
		}
		get_u64(st, "flush_operations", &b.flush_ops);
		get_u64(st, "flush_total_time_ns", &b.flush_time_ns);
		bool dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = strcmp(v[k].device, b.device) == 0;
		if (!dup)
			v[n++] = b;
	}
	*out = v;
	*n_out = n;
	return 0;
}

int qemu_balloon_parse(const json_t *ret, uint64_t mem_bytes, int64_t *actual,
		       struct vr_error **err)
{
	uint64_t a;
	if (!get_u64(ret, "actual", &a))
		return vr_error_set(err, EPROTO, "query-balloon: no valid \"actual\" size");
	/* QEMU reports what the guest acknowledged; never more than the VM's memory. */
	*actual = (int64_t)(a > mem_bytes ? mem_bytes : a);
	return 0;
}

/*
 * One guest figure: a non-negative integer no larger than limit.  QEMU's
 * "not reported" is UINT64_MAX, which the QMP parser reads as -1.
 */
static int64_t guest_value(const json_t *stats, const char *key, uint64_t limit)
{
	uint64_t v;
	if (!get_u64(stats, key, &v) || v > limit)
		return -1;
	return (int64_t)v;
}

int qemu_guest_mem_parse(const json_t *ret, uint64_t mem_bytes, struct qemu_guest_mem *out,
			 struct vr_error **err)
{
	*out = (struct qemu_guest_mem){.last_update = 0, .total = -1, .free = -1,
				       .available = -1, .caches = -1, .swap_in = -1,
				       .swap_out = -1, .major_faults = -1, .minor_faults = -1};
	const json_t *stats = json_object_get(ret, "stats");
	uint64_t last;
	if (!json_is_object(stats) || !get_u64(ret, "last-update", &last))
		return vr_error_set(err, EPROTO, "guest-stats: no \"stats\" or \"last-update\"");
	out->last_update = last > (uint64_t)INT64_MAX ? -1 : (int64_t)last;
	out->total = guest_value(stats, "stat-total-memory", mem_bytes);
	uint64_t bound = out->total >= 0 ? (uint64_t)out->total : mem_bytes;
	out->free = guest_value(stats, "stat-free-memory", bound);
	out->available = guest_value(stats, "stat-available-memory", bound);
	out->caches = guest_value(stats, "stat-disk-caches", bound);
	/* Event counters: any non-negative value (in pages or events, not bytes). */
	out->swap_in = guest_value(stats, "stat-swap-in", (uint64_t)INT64_MAX);
	out->swap_out = guest_value(stats, "stat-swap-out", (uint64_t)INT64_MAX);
	out->major_faults = guest_value(stats, "stat-major-faults", (uint64_t)INT64_MAX);
	out->minor_faults = guest_value(stats, "stat-minor-faults", (uint64_t)INT64_MAX);
	/* Free plus caches cannot exceed what there is. */
	if (out->total >= 0 && out->free >= 0 && out->caches >= 0 &&
	    out->free + out->caches > out->total)
		out->caches = -1;
	return 0;
}

/* ---- the queries ---- */

enum { Q_BLOCK, Q_BALLOON, Q_GUEST, Q_COUNT };

struct qemu_stats_query {
	pthread_mutex_t lock;
	pthread_cond_t done;
	unsigned pending;
	uint64_t mem_bytes;
	struct qemu_vm_stats out;
};

struct reply_ctx {
	struct qemu_stats_query *qq;
	int which;
};

static int reply_code(const struct vr_error *err)
{
	return err && err->code > 0 ? -err->code : -EIO;
}

static void on_reply(struct qmp *q, json_t *ret, const struct vr_error *err, void *opaque)
{
	(void)q;
	struct reply_ctx *c = opaque;
	struct qemu_stats_query *qq = c->qq;
	struct qemu_vm_stats *o = &qq->out;
	pthread_mutex_lock(&qq->lock);
	switch (c->which) {
	case Q_BLOCK:
		if (!ret)
			o->block_err = reply_code(err);
		else
			o->block_err = qemu_blockstats_parse(ret, &o->disks, &o->n_disks, NULL);
		break;
	case Q_BALLOON:
		if (!ret)
			o->balloon_err = reply_code(err);
		else
			o->balloon_err = qemu_balloon_parse(ret, qq->mem_bytes, &o->balloon_actual, NULL);
		break;
	case Q_GUEST:
		if (!ret)
			o->guest_err = reply_code(err);
		else
			o->guest_err = qemu_guest_mem_parse(ret, qq->mem_bytes, &o->guest, NULL);
		break;
	}
	qq->pending--;
	pthread_cond_broadcast(&qq->done);
	pthread_mutex_unlock(&qq->lock);
	free(c);
}

static void send_query(struct qmp *q, struct qemu_stats_query *qq, int which, const char *cmd,
		       json_t *args, int timeout_ms)
{
	struct reply_ctx *c = xcalloc(1, sizeof(*c));
	*c = (struct reply_ctx){.qq = qq, .which = which};
	pthread_mutex_lock(&qq->lock);
	qq->pending++;
	pthread_mutex_unlock(&qq->lock);
	int r = qmp_execute_async(q, cmd, args, timeout_ms, on_reply, c);
	if (r == 0)
		return;
	free(c);
	pthread_mutex_lock(&qq->lock);
	qq->pending--;
	if (which == Q_BLOCK)
		qq->out.block_err = r;
	else if (which == Q_BALLOON)
		qq->out.balloon_err = r;
	else
		qq->out.guest_err = r;
	pthread_mutex_unlock(&qq->lock);
}

struct qemu_stats_query *qemu_stats_query_start(struct qmp *q, unsigned what, uint64_t mem_bytes,
						int timeout_ms, int guest_timeout_ms)
{
	struct qemu_stats_query *qq = xcalloc(1, sizeof(*qq));
	pthread_mutex_init(&qq->lock, NULL);
	pthread_cond_init(&qq->done, NULL);
	qq->mem_bytes = mem_bytes;
	qq->out.block_err = qq->out.balloon_err = qq->out.guest_err = -ENODATA;
	qq->out.balloon_actual = -1;
	qq->out.guest = (struct qemu_guest_mem){.total = -1, .free = -1, .available = -1,
						.caches = -1, .swap_in = -1, .swap_out = -1,
						.major_faults = -1, .minor_faults = -1};
	if (what & QEMU_STATS_BALLOON)
		send_query(q, qq, Q_BALLOON, "query-balloon", NULL, timeout_ms);
	if (what & QEMU_STATS_BLOCK)
		send_query(q, qq, Q_BLOCK, "query-blockstats", NULL, timeout_ms);
	/*
	 * Last, and with its own short timeout: the round must not wait long
	 * for an answer that depends on the guest's driver.
	 */
	if (what & QEMU_STATS_GUEST_MEM)
		send_query(q, qq, Q_GUEST, "qom-get",
			   json_pack("{s:s, s:s}", "path", QEMU_BALLOON_QOM_PATH, "property",
				     "guest-stats"),
			   guest_timeout_ms);
	return qq;
}

void qemu_stats_query_finish(struct qemu_stats_query *qq, struct qemu_vm_stats *out)
{
	pthread_mutex_lock(&qq->lock);
	while (qq->pending > 0)
		pthread_cond_wait(&qq->done, &qq->lock); /* every reply callback comes, by timeout at the latest */
	pthread_mutex_unlock(&qq->lock);
	*out = qq->out;
	pthread_cond_destroy(&qq->done);
	pthread_mutex_destroy(&qq->lock);
	free(qq);
}

int qemu_stats_balloon_polling(struct qmp *q, unsigned seconds, int timeout_ms,
			       struct vr_error **err)
{
	json_t *args = json_pack("{s:s, s:s, s:I}", "path", QEMU_BALLOON_QOM_PATH, "property",
				 "guest-stats-polling-interval", "value", (json_int_t)seconds);
	int r = qmp_execute(q, "qom-set", args, timeout_ms, NULL, err);
	if (r < 0 && err && *err && strstr((*err)->msg, "not found"))
		(*err)->code = ENODEV;
	return r < 0 && err && *err && (*err)->code == ENODEV ? -ENODEV : r;
}
