/* SPDX-License-Identifier: Apache-2.0 */
/* Virtual switches and port groups: the model, its file, its checks (vswitch.h). */
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/net/vnet.h"
#include "host/vswitch.h"
#include "host/vswitch_dp.h"
#include "host/vswitch_priv.h"

#define MAX_KBPS (100ull * 1000 * 1000) /* 100 Gbit/s */
#define MAX_BURST_KIB (4ull * 1024 * 1024 - 1) /* the kernel counts bytes in 32 bits */

/* ------------------------------------------------------------- validation */

static int switch_name_validate(const char *name, struct vr_error **err)
{
	if (!name || !*name)
		return vr_error_set(err, EINVAL, "switch name is empty");
	size_t n = strlen(name);
	if (n > VSWITCH_NAME_MAX)
		return vr_error_set(err, EINVAL,
				    "switch name \"%.32s\" is %zu characters long; the limit is %d "
				    "(it names the bridge \"vb-NAME\")",
				    name, n, VSWITCH_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return vr_error_set(err, EINVAL,
					    "switch name \"%s\": only letters, digits, '_' and '-' are "
					    "allowed",
					    name);
	}
	return 0;
}

static int ifname_validate(const char *name, struct vr_error **err)
{
	if (!name || !*name || strlen(name) > 15 || strchr(name, '/') || strchr(name, ' ') ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return vr_error_set(err, EINVAL, "\"%.32s\" is not a network interface name",
				    name ? name : "");
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == ':')
			return vr_error_set(err, EINVAL,
					    "\"%.32s\" is not a network interface name", name);
	if (strncmp(name, "vb-", 3) == 0 || strncmp(name, "vt", 2) == 0 ||
	    strncmp(name, "vs", 2) == 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\" cannot be an uplink: names beginning with vb-, vt or vs "
				    "are hostd's own bridges and VM ports",
				    name);
	if (strcmp(name, "lo") == 0)
		return vr_error_set(err, EINVAL, "the loopback interface cannot be an uplink");
	return 0;
}

int vnet_shaping_from_json(const json_t *o, struct vnet_shaping *out, struct vr_error **err)
{
	*out = (struct vnet_shaping){ 0 };
	if (!o || json_is_null(o))
		return 0;
	static const struct json_field fields[] = {
		{ "average_kbps", JSON_INTEGER, true, 8, (int64_t)MAX_KBPS },
		{ "peak_kbps", JSON_INTEGER, false, 8, (int64_t)MAX_KBPS },
		{ "burst_kib", JSON_INTEGER, true, 1, (int64_t)MAX_BURST_KIB },
	};
	int r = json_check_object(o, fields, ARRAY_SIZE(fields), "traffic shaping", err);
	if (r < 0)
		return r;
	out->enabled = true;
	out->average_kbps = (uint64_t)json_integer_value(json_object_get(o, "average_kbps"));
	json_t *p = json_object_get(o, "peak_kbps");
	out->peak_kbps = p ? (uint64_t)json_integer_value(p) : out->average_kbps;
	out->burst_kib = (uint64_t)json_integer_value(json_object_get(o, "burst_kib"));
	if (out->peak_kbps < out->average_kbps)
		return vr_error_set(err, EINVAL,
				    "traffic shaping: the peak bandwidth (%llu Kbit/s) is below the "
				    "average (%llu Kbit/s)",
				    (unsigned long long)out->peak_kbps,
				    (unsigned long long)out->average_kbps);
	return 0;
}

static json_t *shaping_to_json(const struct vnet_shaping *s)
{
	if (!s->enabled)
		return json_null();
	return json_pack("{s:I, s:I, s:I}", "average_kbps", (json_int_t)s->average_kbps,
			 "peak_kbps", (json_int_t)s->peak_kbps, "burst_kib",
			 (json_int_t)s->burst_kib);
}

/* ------------------------------------------------------------- the model */

static bool strv_has(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void portgroup_clear(struct portgroup *pg)
{
	free(pg->name);
}

static void vswitch_clear(struct vswitch *sw)
{
	free(sw->name);
	strv_free(sw->uplinks);
	for (size_t i = 0; i < sw->n_pgs; i++)
		portgroup_clear(&sw->pgs[i]);
	free(sw->pgs);
	free(sw->active_uplink);
}

static struct vswitch *find_switch(struct vnet *n, const char *name)
{
	for (size_t i = 0; i < n->n_sws; i++)
		if (strcmp(n->sws[i].name, name) == 0)
			return &n->sws[i];
	return NULL;
}

struct portgroup *vnet_find_pg(struct vnet *n, const char *name, struct vswitch **sw_out)
{
	for (size_t i = 0; i < n->n_sws; i++)
		for (size_t j = 0; j < n->sws[i].n_pgs; j++)
			if (strcmp(n->sws[i].pgs[j].name, name) == 0) {
				if (sw_out)
					*sw_out = &n->sws[i];
				return &n->sws[i].pgs[j];
			}
	return NULL;
}

static json_t *model_to_json(const struct vnet *n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n->n_sws; i++) {
		const struct vswitch *sw = &n->sws[i];
		json_t *ups = json_array(), *pgs = json_array();
		for (size_t u = 0; u < sw->n_uplinks; u++)
			json_array_append_new(ups, json_string(sw->uplinks[u]));
		for (size_t p = 0; p < sw->n_pgs; p++)
			json_array_append_new(
				pgs, json_pack("{s:s, s:i, s:o}", "name", sw->pgs[p].name, "vlan",
					       (int)sw->pgs[p].vlan, "shaping",
					       shaping_to_json(&sw->pgs[p].shaping)));
		json_array_append_new(a, json_pack("{s:s, s:o, s:i, s:o}", "name", sw->name,
						   "uplinks", ups, "mtu", (int)sw->mtu,
						   "portgroups", pgs));
	}
	return a;
}

static int model_save(struct vnet *n, struct vr_error **err)
{
	return json_state_save(n->path, "vswitches", model_to_json(n), err);
}

static const struct json_field switch_fields[] = {
	{ "name", JSON_STRING, true, 0, 0 },
	{ "uplinks", JSON_ARRAY, false, 0, VSWITCH_MAX_UPLINKS },
	{ "mtu", JSON_INTEGER, false, 1280, 9000 },
	{ "portgroups", JSON_ARRAY, false, 0, 0 },
};
static const struct json_field pg_fields[] = {
	{ "name", JSON_STRING, true, 0, 0 },
	{ "vswitch", JSON_STRING, false, 0, 0 },
	{ "vlan", JSON_INTEGER, false, 0, VSWITCH_VLAN_TRUNK },
	{ "shaping", JSON_NULL, false, 0, 0 }, /* object or null: checked by hand */
};

static int uplinks_from_json(const json_t *a, char ***out, size_t *n_out, struct vr_error **err)
{
	_cleanup_strv_ char **v = NULL;
	size_t n = 0, i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		const char *s = json_string_value(e);
		if (!s)
			return vr_error_set(err, EINVAL, "uplink %zu is not a string", i);
		int r = ifname_validate(s, err);
		if (r < 0)
			return r;
		for (size_t k = 0; k < n; k++)
			if (strcmp(v[k], s) == 0)
				return vr_error_set(err, EINVAL, "uplink \"%s\" is listed twice", s);
		strv_push(&v, s);
		n++;
	}
	*out = steal_pointer(&v);
	*n_out = n;
	return 0;
}

/* A port group from JSON (name, vlan, shaping); fills pg, which the caller owns. */
static int pg_from_json(const json_t *o, struct portgroup *pg, struct vr_error **err)
{
	json_t *sh = json_object_get(o, "shaping");
	json_t *copy = json_deep_copy(o);
	json_object_del(copy, "shaping");
	int r = json_check_object(copy, pg_fields, ARRAY_SIZE(pg_fields), "port group", err);
	json_decref(copy);
	if (r < 0)
		return r;
	const char *name = json_string_value(json_object_get(o, "name"));
	r = name_validate("port group", name, err);
	if (r < 0)
		return r;
	struct vnet_shaping s;
	r = vnet_shaping_from_json(sh, &s, err);
	if (r < 0)
		return vr_error_wrap(err, "port group \"%s\"", name);
	json_t *vl = json_object_get(o, "vlan");
	pg->name = xstrdup(name);
	pg->vlan = vl ? (unsigned)json_integer_value(vl) : 0;
	pg->shaping = s;
	return 0;
}

/* Parses a switch with its port groups (the state file, or a create request). */
static int switch_from_json(struct vnet *n, const json_t *o, struct vswitch *sw,
			    struct vr_error **err)
{
	int r = json_check_object(o, switch_fields, ARRAY_SIZE(switch_fields), "switch", err);
	if (r < 0)
		return r;
	const char *name = json_string_value(json_object_get(o, "name"));
	r = switch_name_validate(name, err);
	if (r < 0)
		return r;
	if (find_switch(n, name))
		return vr_error_set(err, EEXIST, "switch \"%s\" already exists", name);
	*sw = (struct vswitch){ .name = xstrdup(name), .mtu = 1500 };
	json_t *m = json_object_get(o, "mtu");
	if (m)
		sw->mtu = (unsigned)json_integer_value(m);
	json_t *ups = json_object_get(o, "uplinks");
	if (ups && (r = uplinks_from_json(ups, &sw->uplinks, &sw->n_uplinks, err)) < 0)
		goto fail;
	for (size_t u = 0; u < sw->n_uplinks; u++)
		for (size_t i = 0; i < n->n_sws; i++)
			for (size_t k = 0; k < n->sws[i].n_uplinks; k++)
				if (strcmp(n->sws[i].uplinks[k], sw->uplinks[u]) == 0) {
					r = vr_error_set(err, EBUSY,
							 "\"%s\" is already an uplink of switch "
							 "\"%s\"",
							 sw->uplinks[u], n->sws[i].name);
					goto fail;
				}
	json_t *pgs = json_object_get(o, "portgroups");
	size_t i;
	json_t *e;
	json_array_foreach(pgs, i, e)
	{
		struct portgroup pg = { 0 };
		r = pg_from_json(e, &pg, err);
		if (r < 0)
			goto fail;
		if (vnet_find_pg(n, pg.name, NULL)) {
			r = vr_error_set(err, EEXIST, "port group \"%s\" already exists", pg.name);
			portgroup_clear(&pg);
			goto fail;
		}
		for (size_t k = 0; k < sw->n_pgs; k++)
			if (strcmp(sw->pgs[k].name, pg.name) == 0) {
				r = vr_error_set(err, EEXIST, "port group \"%s\" is listed twice",
						 pg.name);
				portgroup_clear(&pg);
				goto fail;
			}
		sw->pgs = xrealloc(sw->pgs, (sw->n_pgs + 1) * sizeof(*sw->pgs));
		sw->pgs[sw->n_pgs++] = pg;
	}
	return 0;
fail:
	vswitch_clear(sw);
	*sw = (struct vswitch){ 0 };
	return r;
}

/* ------------------------------------------------------------- switches */

static void monitor_cb(int fd, uint32_t events, void *opaque)
{
	struct hostd *h = opaque;
	struct vnet *n = h->net;
	pthread_mutex_lock(&n->lock);
	if (!vnet_dp_monitor_read(n->dp, fd)) {
		pthread_mutex_unlock(&n->lock);
		return;
	}
	for (size_t i = 0; i < n->n_sws; i++) {
		struct vswitch *sw = &n->sws[i];
		if (sw->n_uplinks == 0)
			continue;
		_cleanup_free_ char *before = sw->active_uplink ? xstrdup(sw->active_uplink) : NULL;
		struct vr_error *e = NULL;
		if (vnet_dp_switch_apply(n->dp, sw, NULL, 0, &e) < 0) {
			log_error("switch \"%s\": %s", sw->name, e->msg);
			vr_error_free(e);
			continue;
		}
		const char *after = sw->active_uplink;
		if ((before == NULL) != (after == NULL) ||
		    (before && after && strcmp(before, after) != 0)) {
			if (after)
				events_add(h->events, before ? EVENT_WARNING : EVENT_INFO, NULL,
					   "UplinkFailover",
					   "switch \"%s\": uplink \"%s\" now forwards%s%s%s",
					   sw->name, after, before ? " (\"" : "",
					   before ? before : "", before ? "\" lost its link)" : "");
			else
				events_add(h->events, EVENT_ERROR, NULL, "UplinkDown",
					   "switch \"%s\": no uplink has a link (\"%s\" was the "
					   "last)",
					   sw->name, before);
		}
	}
	pthread_mutex_unlock(&n->lock);
}

int vnet_init(struct hostd *h, struct vr_error **err)
{
	struct vnet *n = xcalloc(1, sizeof(*n));
	pthread_mutex_init(&n->lock, NULL);
	n->monitor_fd = -1;
	n->path = xasprintf("%s/network.json", h->cfg.state_dir);
	h->net = n;
	n->dp = vnet_dp_open(err);
	if (!n->dp)
		return -EIO;
	json_t *doc = NULL, *a = NULL;
	int r = json_state_load(n->path, 4 << 20, "vswitches", &doc, &a, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		struct vswitch sw;
		struct vr_error *e2 = NULL;
		if (switch_from_json(n, e, &sw, &e2) < 0) {
			log_error("%s: skipping switch %zu: %s", n->path, i, e2->msg);
			vr_error_free(e2);
			continue;
		}
		n->sws = xrealloc(n->sws, (n->n_sws + 1) * sizeof(*n->sws));
		n->sws[n->n_sws++] = sw;
	}
	json_decref(doc);
	for (i = 0; i < n->n_sws; i++) {
		struct vr_error *e2 = NULL;
		if (vnet_dp_switch_apply(n->dp, &n->sws[i], NULL, 0, &e2) < 0) {
			log_error("switch \"%s\": %s", n->sws[i].name, e2->msg);
			vr_error_free(e2);
		}
	}
	n->monitor_fd = vnet_dp_monitor_open(n->dp, err);
	if (n->monitor_fd < 0)
		return n->monitor_fd;
	r = vr_loop_add_fd(h->loop, n->monitor_fd, EPOLLIN, monitor_cb, h);
	if (r < 0)
		return vr_error_set(err, -r, "cannot watch link events");
	log_info("network: %zu switch(es) from %s", n->n_sws, n->path);
	return 0;
}

void vnet_fini(struct hostd *h)
{
	struct vnet *n = h->net;
	if (!n)
		return;
	if (n->monitor_fd >= 0) {
		if (h->loop)
			vr_loop_remove_fd(h->loop, n->monitor_fd);
		close(n->monitor_fd);
	}
	for (size_t i = 0; i < n->n_sws; i++)
		vswitch_clear(&n->sws[i]);
	free(n->sws);
	vnet_dp_close(n->dp);
	free(n->path);
	pthread_mutex_destroy(&n->lock);
	free(n);
	h->net = NULL;
}

int vnet_vswitch_add(struct hostd *h, const json_t *spec, struct vr_error **err)
{
	struct vnet *n = h->net;
	pthread_mutex_lock(&n->lock);
	struct vswitch sw = { 0 };
	int r = switch_from_json(n, spec, &sw, err);
	for (size_t u = 0; r == 0 && u < sw.n_uplinks; u++)
		r = vnet_dp_uplink_check(n->dp, sw.uplinks[u], sw.name, err);
	if (r == 0 && (r = vnet_dp_switch_apply(n->dp, &sw, NULL, 0, err)) < 0) {
		struct vr_error *e2 = NULL;
		vnet_dp_switch_remove(n->dp, &sw, &e2);
		vr_error_free(e2);
	}
	if (r < 0) {
		if (sw.name)
			vswitch_clear(&sw);
		pthread_mutex_unlock(&n->lock);
		return r;
	}
	n->sws = xrealloc(n->sws, (n->n_sws + 1) * sizeof(*n->sws));
	n->sws[n->n_sws++] = sw;
	r = model_save(n, err);
	pthread_mutex_unlock(&n->lock);
	if (r == 0)
		events_add(h->events, EVENT_INFO, NULL, "VswitchAdded", "switch \"%s\" added",
			   sw.name);
	return r;
}

static const struct json_field switch_change_fields[] = {
	{ "uplinks", JSON_ARRAY, false, 0, VSWITCH_MAX_UPLINKS },
	{ "mtu", JSON_INTEGER, false, 1280, 9000 },
};

int vnet_vswitch_update(struct hostd *h, const char *name, const json_t *changes,
			struct vr_error **err)
{
	struct vnet *n = h->net;
	int r = json_check_object(changes, switch_change_fields, ARRAY_SIZE(switch_change_fields),
				  "switch change", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&n->lock);
	struct vswitch *sw = find_switch(n, name);
	if (!sw) {
		pthread_mutex_unlock(&n->lock);
		return vr_error_set(err, ENOENT, "no switch \"%s\"", name);
	}
	_cleanup_strv_ char **ups = NULL;
	size_t n_ups = sw->n_uplinks;
	json_t *ua = json_object_get(changes, "uplinks");
	if (ua) {
		r = uplinks_from_json(ua, &ups, &n_ups, err);
		for (size_t u = 0; r == 0 && u < n_ups; u++) {
			for (size_t i = 0; r == 0 && i < n->n_sws; i++)
				for (size_t k = 0; &n->sws[i] != sw && k < n->sws[i].n_uplinks; k++)
					if (strcmp(n->sws[i].uplinks[k], ups[u]) == 0)
						r = vr_error_set(err, EBUSY,
								 "\"%s\" is already an uplink of "
								 "switch \"%s\"",
								 ups[u], n->sws[i].name);
			if (r == 0 && !strv_has(sw->uplinks, ups[u]))
				r = vnet_dp_uplink_check(n->dp, ups[u], sw->name, err);
		}
	}
	if (r < 0) {
		pthread_mutex_unlock(&n->lock);
		return r;
	}
	/* Uplinks that leave the team are let go. */
	_cleanup_strv_ char **released = NULL;
	size_t n_released = 0;
	if (ua)
		for (size_t u = 0; u < sw->n_uplinks; u++)
			if (!strv_has(ups, sw->uplinks[u])) {
				strv_push(&released, sw->uplinks[u]);
				n_released++;
			}
	struct vswitch next = *sw;
	json_t *m = json_object_get(changes, "mtu");
	if (m)
		next.mtu = (unsigned)json_integer_value(m);
	if (ua) {
		next.uplinks = ups;
		next.n_uplinks = n_ups;
	}
	r = vnet_dp_switch_apply(n->dp, &next, released, n_released, err);
	if (r == 0) {
		if (ua) {
			strv_free(sw->uplinks);
			sw->uplinks = steal_pointer(&ups);
			sw->n_uplinks = n_ups;
		}
		sw->mtu = next.mtu;
		sw->active_uplink = next.active_uplink;
		r = model_save(n, err);
	} else {
		/* Back to what it was. */
		struct vr_error *e2 = NULL;
		sw->active_uplink = next.active_uplink;
		if (vnet_dp_switch_apply(n->dp, sw, NULL, 0, &e2) < 0) {
			log_error("switch \"%s\": restoring after a failed change: %s", sw->name,
				  e2->msg);
			vr_error_free(e2);
		}
	}
	pthread_mutex_unlock(&n->lock);
	return r;
}

int vnet_vswitch_remove(struct hostd *h, const char *name, struct vr_error **err)
{
	struct vnet *n = h->net;
	pthread_mutex_lock(&n->lock);
	struct vswitch *sw = find_switch(n, name);
	int r = 0;
	if (!sw)
		r = vr_error_set(err, ENOENT, "no switch \"%s\"", name);
	else if (sw->n_pgs)
		r = vr_error_set(err, EBUSY,
				 "switch \"%s\" still has %zu port group(s) (\"%s\"...): remove them "
				 "first",
				 name, sw->n_pgs, sw->pgs[0].name);
	if (r == 0)
		r = vnet_dp_switch_remove(n->dp, sw, err);
	if (r == 0) {
		vswitch_clear(sw);
		size_t i = (size_t)(sw - n->sws);
		memmove(&n->sws[i], &n->sws[i + 1], (n->n_sws - i - 1) * sizeof(*n->sws));
		n->n_sws--;
		r = model_save(n, err);
	}
	pthread_mutex_unlock(&n->lock);
	if (r == 0)
		events_add(h->events, EVENT_INFO, NULL, "VswitchRemoved", "switch \"%s\" removed",
			   name);
	return r;
}

int vnet_portgroup_add(struct hostd *h, const json_t *spec, struct vr_error **err)
{
	struct vnet *n = h->net;
	struct portgroup pg = { 0 };
	int r = pg_from_json(spec, &pg, err);
	if (r < 0)
		return r;
	const char *swname = json_string_value(json_object_get(spec, "vswitch"));
	pthread_mutex_lock(&n->lock);
	struct vswitch *sw = swname ? find_switch(n, swname) : NULL;
	if (!swname)
		r = vr_error_set(err, EINVAL, "port group \"%s\": vswitch is required", pg.name);
	else if (!sw)
		r = vr_error_set(err, ENOENT, "port group \"%s\": no switch \"%s\"", pg.name,
				 swname);
	else if (vnet_find_pg(n, pg.name, NULL))
		r = vr_error_set(err, EEXIST, "port group \"%s\" already exists", pg.name);
	if (r == 0) {
		sw->pgs = xrealloc(sw->pgs, (sw->n_pgs + 1) * sizeof(*sw->pgs));
		sw->pgs[sw->n_pgs++] = pg;
		pg.name = NULL;
		r = model_save(n, err);
	}
	pthread_mutex_unlock(&n->lock);
	portgroup_clear(&pg);
	return r;
}

static const struct json_field pg_change_fields[] = {
	{ "vlan", JSON_INTEGER, false, 0, VSWITCH_VLAN_TRUNK },
	{ "shaping", JSON_NULL, false, 0, 0 },
};

int vnet_portgroup_update(struct hostd *h, const char *name, const json_t *changes,
			  struct vr_error **err)
{
	struct vnet *n = h->net;
	json_t *sh = json_object_get(changes, "shaping");
	json_t *copy = json_deep_copy(changes);
	json_object_del(copy, "shaping");
	int r = json_check_object(copy, pg_change_fields, ARRAY_SIZE(pg_change_fields),
				  "port group change", err);
	json_decref(copy);
	if (r < 0)
		return r;
	struct vnet_shaping s = { 0 };
	if (sh && (r = vnet_shaping_from_json(sh, &s, err)) < 0)
		return r;
	pthread_mutex_lock(&n->lock);
	struct vswitch *sw = NULL;
	struct portgroup *pg = vnet_find_pg(n, name, &sw);
	if (!pg) {
		pthread_mutex_unlock(&n->lock);
		return vr_error_set(err, ENOENT, "no port group \"%s\"", name);
	}
	struct portgroup old = *pg;
	json_t *vl = json_object_get(changes, "vlan");
	if (vl)
		pg->vlan = (unsigned)json_integer_value(vl);
	if (sh)
		pg->shaping = s;
	r = vnet_reapply_pg_ports(h, sw, pg, err);
	if (r < 0) {
		*pg = old;
		struct vr_error *e2 = NULL;
		if (vnet_reapply_pg_ports(h, sw, pg, &e2) < 0) {
			log_error("port group \"%s\": restoring after a failed change: %s", name,
				  e2->msg);
			vr_error_free(e2);
		}
	} else {
		r = model_save(n, err);
	}
	pthread_mutex_unlock(&n->lock);
	return r;
}

int vnet_portgroup_remove(struct hostd *h, const char *name, struct vr_error **err)
{
	struct vnet *n = h->net;
	_cleanup_free_ char *user = NULL;
	if (vnet_pg_in_use(h, name, &user))
		return vr_error_set(err, EBUSY,
				    "port group \"%s\" is in use by the running VM \"%s\"", name,
				    user);
	pthread_mutex_lock(&n->lock);
	struct vswitch *sw = NULL;
	struct portgroup *pg = vnet_find_pg(n, name, &sw);
	int r = 0;
	if (!pg) {
		r = vr_error_set(err, ENOENT, "no port group \"%s\"", name);
	} else {
		portgroup_clear(pg);
		size_t i = (size_t)(pg - sw->pgs);
		memmove(&sw->pgs[i], &sw->pgs[i + 1], (sw->n_pgs - i - 1) * sizeof(*sw->pgs));
		sw->n_pgs--;
		r = model_save(n, err);
	}
	pthread_mutex_unlock(&n->lock);
	return r;
}

json_t *vnet_to_json(struct hostd *h)
{
	struct vnet *n = h->net;
	struct vm_port *ports;
	size_t n_ports = vnet_running_ports(h, &ports);
	json_t *a = json_array();
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->n_sws; i++) {
		const struct vswitch *sw = &n->sws[i];
		char br[16];
		vnet_bridge_name(sw->name, br);
		json_t *pgs = json_array();
		for (size_t p = 0; p < sw->n_pgs; p++) {
			const struct portgroup *pg = &sw->pgs[p];
			json_t *pj = json_array();
			for (size_t k = 0; k < n_ports; k++) {
				if (strcmp(ports[k].pg, pg->name) != 0)
					continue;
				char tap[VNET_IFNAME_MAX];
				vnet_tap_name(ports[k].vm->id, ports[k].nic_index, tap);
				pthread_mutex_lock(&ports[k].vm->lock);
				json_array_append_new(
					pj, json_pack("{s:s, s:s, s:s, s:s, s:s}", "vm_id",
						      ports[k].vm->id, "vm",
						      ports[k].vm->cfg ? ports[k].vm->cfg->display_name
								       : ports[k].vm->id,
						      "nic", "", "mac", ports[k].mac, "tap", tap));
				pthread_mutex_unlock(&ports[k].vm->lock);
				json_t *last = json_array_get(pj, json_array_size(pj) - 1);
				json_object_set_new(last, "nic",
						    json_sprintf("ethernet%u", ports[k].nic_index));
			}
			json_array_append_new(
				pgs, json_pack("{s:s, s:s, s:i, s:o, s:o}", "name", pg->name,
					       "vswitch", sw->name, "vlan", (int)pg->vlan, "shaping",
					       shaping_to_json(&pg->shaping), "ports", pj));
		}
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:i, s:o, s:s?, s:b, s:o}", "name", sw->name,
				     "bridge", br, "mtu", (int)sw->mtu, "uplinks",
				     vnet_dp_uplinks_json(n->dp, sw), "active_uplink",
				     sw->active_uplink, "private", sw->n_uplinks == 0,
				     "portgroups", pgs));
	}
	pthread_mutex_unlock(&n->lock);
	vnet_ports_free(ports, n_ports);
	return json_pack("{s:o}", "vswitches", a);
}
