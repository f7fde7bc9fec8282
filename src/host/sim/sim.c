/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated hosts (sim.h): their identities, users and sessions, and
 * the server that serves them all.  Handlers run on the API server's
 * worker threads; long polls of the event feeds are parked without one
 * (api_request_wait()), so a small pool serves every host.
 */
#include "host/sim/sim.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/server.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "host/auth.h"
#include "host/events.h"
#include "host/resources/pools.h"
#include "host/sim/sim_priv.h"

#define SESSION_IDLE_MS (30u * 60 * 1000)
#define EVENTS_KEPT 256
/* The API's workers, whatever the number of hosts (long polls hold none). */
#define SIM_WORKERS 32

int sim_spec_parse(const char *spec, unsigned *hosts, unsigned *vms_per_host)
{
	uint64_t h, v = SIM_DEFAULT_VMS_PER_HOST;
	_cleanup_free_ char *copy = xstrdup(spec);
	char *colon = strchr(copy, ':');
	if (colon) {
		*colon = '\0';
		if (parse_u64(colon + 1, 0, SIM_MAX_VMS_PER_HOST, &v) < 0)
			return -EINVAL;
	}
	if (parse_u64(copy, 1, SIM_MAX_HOSTS, &h) < 0)
		return -EINVAL;
	*hosts = (unsigned)h;
	*vms_per_host = (unsigned)v;
	return 0;
}

void sim_uuid(const struct sim *s, const char *what, char out[37])
{
	_cleanup_free_ char *text = xasprintf("vireo-sim/%llu/%s", (unsigned long long)s->cfg.seed,
					      what);
	unsigned char d[32];
	unsigned int dl = sizeof(d);
	if (EVP_Digest(text, strlen(text), d, &dl, EVP_sha256(), NULL) != 1)
		abort();
	d[6] = (unsigned char)((d[6] & 0x0f) | 0x50); /* name-based */
	d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0],
		 d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13],
		 d[14], d[15]);
}

/* ---- users ---- */

static void password_hash(const unsigned char salt[16], const char *password,
			  unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 32;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, salt, 16) != 1 ||
	    EVP_DigestUpdate(ctx, password, strlen(password)) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
}

static void user_set_password(struct sim_user *u, const char *password)
{
	if (random_bytes(u->salt, sizeof(u->salt)) < 0)
		abort();
	password_hash(u->salt, password, u->hash);
}

/* Under h->lock. */
static struct sim_user *user_find(struct sim_host *h, const char *name)
{
	for (size_t i = 0; i < h->n_users; i++)
		if (strcmp(h->users[i].name, name) == 0)
			return &h->users[i];
	return NULL;
}

static void user_add(struct sim_host *h, const char *name, const char *password, bool admin)
{
	h->users = xrealloc(h->users, (h->n_users + 1) * sizeof(*h->users));
	struct sim_user *u = &h->users[h->n_users++];
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(name);
	u->admin = admin;
	user_set_password(u, password);
}

/* ---- sessions ---- */

static unsigned bucket_of(const char *token)
{
	unsigned hash = 2166136261u;
	for (const char *p = token; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	return hash % SIM_SESSION_BUCKETS;
}

static void session_new(struct sim *s, unsigned host, const char *user, bool admin,
			char token[65])
{
	unsigned char raw[32];
	if (random_bytes(raw, sizeof(raw)) < 0)
		abort();
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	struct sim_session *se = xcalloc(1, sizeof(*se));
	memcpy(se->token, token, 65);
	se->host = host;
	se->user = xstrdup(user);
	se->admin = admin;
	se->expires_mono = time_mono_ms() + SESSION_IDLE_MS;
	unsigned b = bucket_of(token);
	pthread_mutex_lock(&s->sessions_lock);
	se->next = s->sessions[b];
	s->sessions[b] = se;
	pthread_mutex_unlock(&s->sessions_lock);
}

static void session_free(struct sim_session *se)
{
	free(se->user);
	free(se);
}

/* Under sessions_lock: the live session of token (expired ones are dropped). */
static struct sim_session *session_find(struct sim *s, const char *token)
{
	struct sim_session **link = &s->sessions[bucket_of(token)];
	uint64_t now = time_mono_ms();
	while (*link) {
		struct sim_session *se = *link;
		if (strcmp(se->token, token) == 0) {
			if (se->expires_mono < now) {
				*link = se->next;
				session_free(se);
				return NULL;
			}
			se->expires_mono = now + SESSION_IDLE_MS;
			return se;
		}
		link = &se->next;
	}
	return NULL;
}

/* Ends the sessions of one user of a host, or the one of token when token is set. */
static void sessions_end(struct sim *s, unsigned host, const char *user, const char *token)
{
	pthread_mutex_lock(&s->sessions_lock);
	for (size_t b = 0; b < SIM_SESSION_BUCKETS; b++) {
		if (token && b != bucket_of(token))
			continue;
		for (struct sim_session **link = &s->sessions[b]; *link;) {
			struct sim_session *se = *link;
			bool match = token ? strcmp(se->token, token) == 0
					   : se->host == host && strcmp(se->user, user) == 0;
			if (match) {
				*link = se->next;
				session_free(se);
			} else {
				link = &se->next;
			}
		}
	}
	pthread_mutex_unlock(&s->sessions_lock);
}

static int check_token(void *opaque, const char *token, char **user, bool *admin)
{
	struct sim *s = opaque;
	pthread_mutex_lock(&s->sessions_lock);
	struct sim_session *se = session_find(s, token);
	if (se) {
		*user = xstrdup(se->user);
		*admin = se->admin;
	}
	pthread_mutex_unlock(&s->sessions_lock);
	return se ? 0 : -ENOENT;
}

static const struct api_auth_ops sim_auth = {
	.check = check_token,
};

struct sim_host *sim_request_host(struct api_request *req, struct sim *s)
{
	const char *p = api_request_param(req, "h");
	uint64_t i;
	if (!p || parse_u64(p, 0, s->cfg.hosts - 1, &i) < 0) {
		api_respond_error(req, 404, "no simulated host \"%s\" (0 to %u)", p ? p : "",
				  s->cfg.hosts - 1);
		return NULL;
	}
	const char *token = api_request_token(req);
	if (token) {
		pthread_mutex_lock(&s->sessions_lock);
		struct sim_session *se = session_find(s, token);
		bool mine = se && se->host == (unsigned)i;
		pthread_mutex_unlock(&s->sessions_lock);
		if (!mine) {
			api_respond_error(req, 401, "invalid session token; log in again");
			return NULL;
		}
	}
	return &s->hosts[i];
}

/* ---- /sim/{h}/api/v1/sessions and users ---- */

static const struct json_field session_fields[] = {
	{"username", JSON_STRING, true, 1, 80},
	{"password", JSON_STRING, true, 1, AUTH_PASSWORD_MAX},
};

static void session_create(struct api_request *req, void *opaque)
{
	struct sim *s = opaque;
	struct sim_host *h = sim_request_host(req, s);
	if (!h)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, session_fields, ARRAY_SIZE(session_fields),
			      "session create request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *name = json_get_string(body, "username", "");
	const char *password = json_get_string(body, "password", "");
	pthread_mutex_lock(&h->lock);
	struct sim_user *u = user_find(h, name);
	bool ok = false, admin = false;
	if (u) {
		unsigned char hash[32];
		password_hash(u->salt, password, hash);
		ok = CRYPTO_memcmp(hash, u->hash, sizeof(hash)) == 0;
		admin = u->admin;
	}
	pthread_mutex_unlock(&h->lock);
	if (!ok) {
		api_respond_error(req, 401, "invalid user name or password");
		return;
	}
	char token[65], expires[32];
	session_new(s, h->index, name, admin, token);
	time_format_iso(time_real_ms() + SESSION_IDLE_MS, expires);
	api_respond_json(req, 201,
			 json_pack("{s:s, s:s, s:s, s:s}", "token", token, "expires", expires,
				   "user", name, "role", admin ? "admin" : "read-only"));
	explicit_bzero(token, sizeof(token));
}

static void session_get(struct api_request *req, void *opaque)
{
	if (!sim_request_host(req, opaque))
		return;
	api_respond_json(req, 200,
			 json_pack("{s:s, s:s}", "user", api_request_user(req), "role",
				   api_request_is_admin(req) ? "admin" : "read-only"));
}

static void session_delete(struct api_request *req, void *opaque)
{
	struct sim *s = opaque;
	struct sim_host *h = sim_request_host(req, s);
	if (!h)
		return;
	sessions_end(s, h->index, NULL, api_request_token(req));
	api_respond_no_content(req);
}

static json_t *users_json(struct sim_host *h)
{
	json_t *a = json_array();
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_users; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", h->users[i].name, "role",
						   h->users[i].admin ? "admin" : "read-only"));
	pthread_mutex_unlock(&h->lock);
	return a;
}

static void users_list(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (h)
		api_respond_json(req, 200, json_pack("{s:o}", "users", users_json(h)));
}

static const struct json_field user_create_fields[] = {
	{"name", JSON_STRING, true, 1, 80},
	{"password", JSON_STRING, true, AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX},
	{"role", JSON_STRING, false, 0, 16},
};

static void user_create(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, user_create_fields, ARRAY_SIZE(user_create_fields),
			      "user create request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *name = json_get_string(body, "name", "");
	const char *role = json_get_string(body, "role", "read-only");
	if (strcmp(role, "admin") != 0 && strcmp(role, "read-only") != 0) {
		api_respond_error(req, 400,
				  "field \"role\" in user create request must be \"admin\" or "
				  "\"read-only\", not \"%s\"",
				  role);
		return;
	}
	pthread_mutex_lock(&h->lock);
	bool exists = user_find(h, name) != NULL;
	if (!exists)
		user_add(h, name, json_get_string(body, "password", ""), strcmp(role, "admin") == 0);
	pthread_mutex_unlock(&h->lock);
	if (exists) {
		api_respond_error(req, 409, "user \"%s\" already exists", name);
		return;
	}
	api_respond_json(req, 201, json_pack("{s:s, s:s}", "name", name, "role", role));
}

static void user_delete(struct api_request *req, void *opaque)
{
	struct sim *s = opaque;
	struct sim_host *h = sim_request_host(req, s);
	if (!h)
		return;
	const char *name = api_request_param(req, "name");
	int status = 0;
	pthread_mutex_lock(&h->lock);
	struct sim_user *u = user_find(h, name);
	size_t admins = 0;
	for (size_t i = 0; i < h->n_users; i++)
		admins += h->users[i].admin;
	if (!u) {
		status = 404;
	} else if (u->admin && admins == 1) {
		status = 409;
	} else {
		free(u->name);
		size_t k = (size_t)(u - h->users);
		memmove(u, u + 1, (h->n_users - k - 1) * sizeof(*u));
		h->n_users--;
	}
	pthread_mutex_unlock(&h->lock);
	if (status == 404) {
		api_respond_error(req, 404, "no user \"%s\"", name);
		return;
	}
	if (status == 409) {
		api_respond_error(req, 409, "\"%s\" is the last admin of this host", name);
		return;
	}
	sessions_end(s, h->index, name, NULL);
	api_respond_no_content(req);
}

static const struct json_field password_fields[] = {
	{"password", JSON_STRING, true, AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX},
	{"current_password", JSON_STRING, false, 0, AUTH_PASSWORD_MAX},
};

static void user_password(struct api_request *req, void *opaque)
{
	struct sim_host *h = sim_request_host(req, opaque);
	if (!h)
		return;
	const char *name = api_request_param(req, "name");
	if (strcmp(name, api_request_user(req)) != 0 && !api_request_is_admin(req)) {
		api_respond_error(req, 403,
				  "only an admin can change the password of another user (\"%s\")",
				  name);
		return;
	}
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, password_fields, ARRAY_SIZE(password_fields),
			      "password change request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *current = json_get_string(body, "current_password", NULL);
	if (!api_request_is_admin(req) && !current) {
		api_respond_error(req, 400,
				  "missing required field \"current_password\" in password change "
				  "request");
		return;
	}
	int status = 0;
	pthread_mutex_lock(&h->lock);
	struct sim_user *self = user_find(h, api_request_user(req));
	if (current && self) {
		unsigned char hash[32];
		password_hash(self->salt, current, hash);
		if (CRYPTO_memcmp(hash, self->hash, sizeof(hash)) != 0)
			status = 403;
	}
	struct sim_user *u = user_find(h, name);
	if (!status && !u)
		status = 404;
	if (!status)
		user_set_password(u, json_get_string(body, "password", ""));
	pthread_mutex_unlock(&h->lock);
	if (status == 403)
		api_respond_error(req, 403, "current password is wrong");
	else if (status == 404)
		api_respond_error(req, 404, "no user \"%s\"", name);
	else
		api_respond_no_content(req);
}

static void health(struct api_request *req, void *opaque)
{
	struct sim *s = opaque;
	const char *p = api_request_param(req, "h");
	if (p && !sim_request_host(req, s))
		return;
	api_respond_json(req, 200,
			 json_pack("{s:s, s:s, s:i}", "status", "ok", "version", VIREO_VERSION,
				   "simulated_hosts", (int)s->cfg.hosts));
}

static void register_routes(struct api_server *srv, struct sim *s)
{
	api_server_add_route(srv, "GET", "/api/v1/health", health, s, API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/health", health, s, API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "POST", "/sim/{h}/api/v1/sessions", session_create, s,
			     API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/sessions/current", session_get, s, 0);
	api_server_add_route(srv, "DELETE", "/sim/{h}/api/v1/sessions/current", session_delete, s,
			     0);
	api_server_add_route(srv, "GET", "/sim/{h}/api/v1/users", users_list, s, 0);
	api_server_add_route(srv, "POST", "/sim/{h}/api/v1/users", user_create, s,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/sim/{h}/api/v1/users/{name}", user_delete, s,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "PUT", "/sim/{h}/api/v1/users/{name}/password", user_password,
			     s, 0);
	sim_api_register(srv, s);
}

/* ---- the world ---- */

static void host_init(struct sim *s, struct sim_host *h, unsigned index)
{
	h->index = index;
	h->sim = s;
	snprintf(h->name, sizeof(h->name), "sim-%u", index);
	char what[64];
	snprintf(what, sizeof(what), "host/%u", index);
	sim_uuid(s, what, h->id);
	pthread_mutex_init(&h->lock, NULL);
	h->events = events_new(EVENTS_KEPT);
	h->pools = res_pool_tree_new();
	h->next_task = 1;
	user_add(h, "admin", s->cfg.admin_password, true);
	h->n_vms = s->cfg.vms_per_host;
	h->vms = xcalloc(h->n_vms ? h->n_vms : 1, sizeof(*h->vms));
	for (size_t j = 0; j < h->n_vms; j++) {
		struct sim_vm *vm = &h->vms[j];
		snprintf(what, sizeof(what), "host/%u/vm/%zu", index, j);
		sim_uuid(s, what, vm->id);
		snprintf(vm->name, sizeof(vm->name), "sim%u-vm%zu", index, j);
		/* Half of them run, as in a busy cluster; sizes vary a little. */
		vm->power = j % 2 == 0 ? SIM_POWER_ON : SIM_POWER_OFF;
		vm->memory_mib = 1024u << (j % 3);
		vm->vcpus = 1u + (unsigned)(j % 4);
		if (vm->power == SIM_POWER_ON)
			vm->powered_on_ms = time_real_ms();
	}
}

static void host_fini(struct sim_host *h)
{
	for (size_t i = 0; i < h->n_users; i++) {
		explicit_bzero(h->users[i].hash, sizeof(h->users[i].hash));
		free(h->users[i].name);
	}
	free(h->users);
	for (size_t i = 0; i < SIM_TASKS_KEPT; i++) {
		free(h->tasks[i].description);
		free(h->tasks[i].user);
		free(h->tasks[i].error);
	}
	free(h->vms);
	events_free(h->events);
	res_pool_tree_free(h->pools);
	pthread_mutex_destroy(&h->lock);
}

int sim_run(const struct sim_config *cfg, struct vr_error **err)
{
	if (!cfg->admin_password)
		return vr_error_set(err, EINVAL,
				    "the simulated hosts need an admin password: give "
				    "--simulate-password or set VIREO_INITIAL_ADMIN_PASSWORD");
	if (strlen(cfg->admin_password) < AUTH_PASSWORD_MIN)
		return vr_error_set(err, EINVAL,
				    "the simulated hosts' admin password (--simulate-password or "
				    "VIREO_INITIAL_ADMIN_PASSWORD) must have at least %d characters",
				    AUTH_PASSWORD_MIN);
	struct sim *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	pthread_mutex_init(&s->sessions_lock, NULL);
	uuid_generate_str(s->instance);
	s->hosts = xcalloc(cfg->hosts, sizeof(*s->hosts));
	for (unsigned i = 0; i < cfg->hosts; i++)
		host_init(s, &s->hosts[i], i);

	struct api_server_config api_cfg = {
		.bind_address = cfg->listen,
		.port = cfg->port,
		.thread_pool_size = SIM_WORKERS,
		.tls_cert_file = cfg->tls_cert,
		.tls_key_file = cfg->tls_key,
	};
	int r = 0;
	s->api = api_server_new(&api_cfg, &sim_auth, s, err);
	if (!s->api) {
		r = -EIO;
		goto out;
	}
	register_routes(s->api, s);
	if ((r = api_server_start(s->api, err)) < 0)
		goto out;
	log_info("vireo-hostd %s: simulating %u hosts with %u VMs each on %s://%s:%u, host i under "
		 "/sim/<i>/api/v1 (i = 0..%u)",
		 VIREO_VERSION, cfg->hosts, cfg->vms_per_host, cfg->tls_cert ? "https" : "http",
		 cfg->listen ? cfg->listen : "127.0.0.1", api_server_port(s->api), cfg->hosts - 1);

	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("received %s: stopping the simulator", strsignal(sig));
out:
	api_server_stop_and_free(s->api); /* long polls end at once, 503 */
	for (unsigned i = 0; i < cfg->hosts; i++)
		host_fini(&s->hosts[i]);
	free(s->hosts);
	for (size_t b = 0; b < SIM_SESSION_BUCKETS; b++)
		for (struct sim_session *se = s->sessions[b], *n; se; se = n) {
			n = se->next;
			session_free(se);
		}
	pthread_mutex_destroy(&s->sessions_lock);
	free(s);
	return r;
}
