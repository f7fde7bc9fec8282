/* SPDX-License-Identifier: Apache-2.0 */
/* Hot-plugging SCSI disks over QMP; see hotplug.h. */
#include "qemu/hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/block.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"

/* ---- waiting for DEVICE_DELETED ---- */

struct del_waiter {
	struct qmp *q;
	const char *id;
	bool deleted;
	struct del_waiter *next;
};

static pthread_mutex_t waiters_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t waiters_cond = PTHREAD_COND_INITIALIZER;
static struct del_waiter *waiters;

static void waiter_add(struct del_waiter *w)
{
	pthread_mutex_lock(&waiters_lock);
	w->next = waiters;
	waiters = w;
	pthread_mutex_unlock(&waiters_lock);
}

static void waiter_remove(struct del_waiter *w)
{
	pthread_mutex_lock(&waiters_lock);
	for (struct del_waiter **p = &waiters; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&waiters_lock);
}

/* Waits until w is signalled or timeout_ms pass; whether it was signalled. */
static bool waiter_wait(struct del_waiter *w, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&waiters_lock);
	while (!w->deleted) {
		if (pthread_cond_timedwait(&waiters_cond, &waiters_lock, &until) == ETIMEDOUT)
			break;
	}
	bool done = w->deleted;
	pthread_mutex_unlock(&waiters_lock);
	return done;
}

void qemu_hotplug_on_event(struct qmp *q, const char *event, json_t *data)
{
	bool gone = strcmp(event, QMP_EVENT_DISCONNECTED) == 0;
	if (!gone && strcmp(event, "DEVICE_DELETED") != 0)
		return;
	const char *dev = json_string_value(json_object_get(data, "device"));
	pthread_mutex_lock(&waiters_lock);
	bool any = false;
	for (struct del_waiter *w = waiters; w; w = w->next) {
		/* QEMU went away: the device went with it. */
		if (w->q == q && (gone || (dev && strcmp(dev, w->id) == 0))) {
			w->deleted = true;
			any = true;
		}
	}
	if (any)
		pthread_cond_broadcast(&waiters_cond);
	pthread_mutex_unlock(&waiters_lock);
}

/* ---- QMP helpers ---- */

int qemu_hotplug_device_type(struct qmp *q, const char *id, char **type_out, int timeout_ms,
			     struct vr_error **err)
{
	*type_out = NULL;
	_cleanup_free_ char *path = xasprintf("/machine/peripheral/%s", id);
	json_t *ret = NULL;
	struct vr_error *e = NULL;
	int r = qmp_execute(q, "qom-get", json_pack("{s:s, s:s}", "path", path, "property", "type"),
			    timeout_ms, &ret, &e);
	if (r < 0) {
		/* QMP error replies (EIO/ENODEV): no such object; anything else is a real failure. */
		if (r == -EIO || r == -ENODEV) {
			vr_error_free(e);
			return vr_error_set(err, ENOENT, "the VM has no device \"%s\"", id);
		}
		*err = e;
		return vr_error_wrap(err, "cannot look up device \"%s\"", id);
	}
	const char *t = json_string_value(ret);
	*type_out = xstrdup(t ? t : "");
	json_decref(ret);
	return 0;
}

static int blockdev_del(struct qmp *q, const char *node, int timeout_ms, struct vr_error **err)
{
	return qmp_execute(q, "blockdev-del", json_pack("{s:s}", "node-name", node), timeout_ms,
			   NULL, err);
}

int qemu_hotplug_disk_add(struct qmp *q, const struct qemu_hotplug_disk *d, int timeout_ms,
			  struct vr_error **err)
{
	char fnode[64], node[64], id[64], bus[32];
	snprintf(fnode, sizeof(fnode), "file-scsi%u-%u", d->controller, d->unit);
	snprintf(node, sizeof(node), "drive-scsi%u-%u", d->controller, d->unit);
	snprintf(id, sizeof(id), "scsi%u-%u", d->controller, d->unit);
	snprintf(bus, sizeof(bus), "scsi%u.0", d->controller);
	/* As qemu/cmdline.c opens a writable disk. */
	json_t *file = json_pack("{s:s, s:s, s:s, s:b, s:o, s:s, s:s}", "driver", "file",
				 "node-name", fnode, "filename", d->path, "read-only", 0, "cache",
				 qemu_disk_cache_json(!d->buffered), "aio", qemu_disk_aio(!d->buffered),
				 "discard", "unmap");
	int r = qmp_execute(q, "blockdev-add", file, timeout_ms, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot open \"%s\" in QEMU", d->path);
	json_t *fmt = json_pack("{s:s, s:s, s:s, s:b, s:o, s:s}", "driver", d->format, "node-name",
				node, "file", fnode, "read-only", 0, "cache",
				qemu_disk_cache_json(!d->buffered), "discard", "unmap");
	r = qmp_execute(q, "blockdev-add", fmt, timeout_ms, NULL, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot open \"%s\" as %s in QEMU", d->path, d->format);
		goto drop_file;
	}
	json_t *dev = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:s}", "driver", "scsi-hd",
				"bus", bus, "channel", 0, "scsi-id", (int)d->unit, "lun", 0, "drive",
				node, "id", id, "werror", "enospc", "rerror", "report");
	r = qmp_execute(q, "device_add", dev, timeout_ms, NULL, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot add SCSI disk %s", id);
		goto drop_fmt;
	}
	return 0;
drop_fmt:;
	struct vr_error *e = NULL;
	if (blockdev_del(q, node, timeout_ms, &e) < 0) {
		log_warn("after a failed hot-add: %s", e->msg);
		vr_error_free(e);
		e = NULL;
	}
drop_file:
	if (blockdev_del(q, fnode, timeout_ms, &e) < 0) {
		log_warn("after a failed hot-add: %s", e->msg);
		vr_error_free(e);
	}
	return r;
}

/* QEMU's own names ("#block123") belong to nodes that go with their parent. */
static int del_node(struct qmp *q, const char *node, int timeout_ms, int r,
		    struct vr_error **err)
{
	if (!node || node[0] == '#')
		return r;
	struct vr_error *e = NULL;
	if (blockdev_del(q, node, timeout_ms, &e) < 0) {
		if (r == 0) {
			*err = e;
			return vr_error_wrap(err, "cannot close block node \"%s\"", node);
		}
		vr_error_free(e);
	}
	return r;
}

int qemu_hotplug_disk_del(struct qmp *q, const char *id, int del_timeout_ms, int timeout_ms,
			  struct vr_error **err)
{
	_cleanup_block_chain_ struct qemu_block_chain *chain = NULL;
	int r = qemu_block_chain_get(q, id, &chain, timeout_ms, err);
	if (r < 0)
		return r;
	struct del_waiter w = {.q = q, .id = id};
	waiter_add(&w);
	r = qmp_execute(q, "device_del", json_pack("{s:s}", "id", id), timeout_ms, NULL, err);
	if (r < 0) {
		waiter_remove(&w);
		return vr_error_wrap(err, "cannot remove device \"%s\"", id);
	}
	bool deleted = waiter_wait(&w, del_timeout_ms);
	waiter_remove(&w);
	if (!deleted)
		return vr_error_set(err, ETIMEDOUT,
				    "the guest did not release disk device \"%s\" within %d s (its "
				    "operating system must support SCSI hot-removal and not hold the "
				    "disk busy); the disk stays attached",
				    id, del_timeout_ms / 1000);
	if (!qmp_is_connected(q))
		return 0;
	for (size_t i = 0; i < chain->n; i++) {
		r = del_node(q, chain->images[i].node_name, timeout_ms, r, err);
		r = del_node(q, chain->images[i].file_node, timeout_ms, r, err);
	}
	return r;
}
