/* SPDX-License-Identifier: Apache-2.0 */
/* The vireo CLI's client: the shared API client (api/client.h) plus saved sessions. */
#include "cli/client.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/client.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define SESSIONS_FILE_MAX (1u << 20)
#define SESSIONS_VERSION 1

struct vireo_client {
	struct api_client *api;
};

char *client_escape(const char *s)
{
	return api_client_escape(s);
}

char *client_sessions_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/vireo/sessions.json", xdg);
	const char *home = getenv("HOME");
	if (home && *home)
		return xasprintf("%s/.config/vireo/sessions.json", home);
	return NULL;
}

/* Returns the sessions document, a new empty one when there is no file. */
static json_t *sessions_load(const char *path, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (access(path, F_OK) < 0)
		return json_pack("{s:i,s:{}}", "version", SESSIONS_VERSION, "sessions");
	if (file_read_all(path, SESSIONS_FILE_MAX, &text, &len, err) < 0)
		return NULL;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	if (!doc || !json_is_object(json_object_get(doc, "sessions"))) {
		json_decref(doc);
		vr_error_set(err, EINVAL, "\"%s\" is malformed; delete it and log in again", path);
		return NULL;
	}
	return doc;
}

static int sessions_save(const char *path, json_t *doc, struct vr_error **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int r = mkdir_p(dir, 0700);
		if (r < 0)
			return vr_error_set_errno(err, -r, "cannot create \"%s\"", dir);
	}
	_cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		abort();
	_cleanup_free_ char *line = xasprintf("%s\n", text);
	return file_write_atomic(path, line, strlen(line), 0600, err);
}

struct vireo_client *client_new(const char *server_url, bool insecure_tls, const char *ca_file,
				struct vr_error **err)
{
	if (!server_url || !*server_url)
		server_url = getenv(CLIENT_SERVER_ENV);
	if (!server_url || !*server_url)
		server_url = CLIENT_DEFAULT_SERVER;
	struct api_client *api = api_client_new(server_url, insecure_tls, ca_file, err);
	if (!api)
		return NULL;
	struct vireo_client *c = xcalloc(1, sizeof(*c));
	c->api = api;

	const char *env_token = getenv("VIREO_TOKEN");
	if (env_token && *env_token) {
		api_client_set_token(api, env_token);
		return c;
	}
	_cleanup_free_ char *path = client_sessions_path();
	if (path) {
		json_t *doc = sessions_load(path, NULL);
		const char *tok = json_get_string(
			json_object_get(json_object_get(doc, "sessions"), api_client_url(api)),
			"token", NULL);
		if (tok)
			api_client_set_token(api, tok);
		json_decref(doc);
	}
	return c;
}

void client_free(struct vireo_client *c)
{
	if (!c)
		return;
	api_client_free(c->api);
	free(c);
}

const char *client_server_url(const struct vireo_client *c)
{
	return api_client_url(c->api);
}

bool client_has_token(const struct vireo_client *c)
{
	return api_client_token(c->api) != NULL;
}

const char *client_token(const struct vireo_client *c)
{
	return api_client_token(c->api);
}

bool client_tls_insecure(const struct vireo_client *c)
{
	return api_client_tls_insecure(c->api);
}

const char *client_ca_file(const struct vireo_client *c)
{
	return api_client_ca_file(c->api);
}

int client_request(struct vireo_client *c, const char *method, const char *path,
		   json_t *body, long *status, json_t **reply, struct vr_error **err)
{
	long st = 0;
	_cleanup_error_ struct vr_error *e = NULL;
	int r = api_client_request(c->api, method, path, body, &st, reply, &e);
	if (status)
		*status = st;
	if (r >= 0)
		return r;
	/* Tell people what to do about a missing or stale session. */
	if (st == 401 && !client_has_token(c))
		return vr_error_set(err, EACCES, "not logged in to %s (run \"vireo login\")",
				    client_server_url(c));
	if (st == 401 && strcmp(path, "/api/v1/sessions") != 0)
		return vr_error_set(err, EACCES, "%s (run \"vireo login\")", vr_error_msg(e));
	if (st == 0 && (r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ETIMEDOUT))
		return vr_error_set(err, -r, "%s (is the Vireo server running there?)",
				    vr_error_msg(e));
	if (err && !*err)
		*err = steal_pointer(&e);
	return r;
}

static int session_store(struct vireo_client *c, const json_t *entry, struct vr_error **err)
{
	_cleanup_free_ char *path = client_sessions_path();
	if (!path)
		return vr_error_set(err, ENOENT,
				    "neither $XDG_CONFIG_HOME nor $HOME is set; cannot save the session");
	json_t *doc = sessions_load(path, err);
	if (!doc)
		return -EINVAL;
	json_t *sessions = json_object_get(doc, "sessions");
	if (entry)
		json_object_set(sessions, client_server_url(c), (json_t *)entry);
	else
		json_object_del(sessions, client_server_url(c));
	json_object_set_new(doc, "version", json_integer(SESSIONS_VERSION));
	int r = sessions_save(path, doc, err);
	json_decref(doc);
	return r;
}

int client_login(struct vireo_client *c, const char *user, const char *password,
		 json_t **reply_out, struct vr_error **err)
{
	json_t *reply = NULL;
	int r = api_client_login(c->api, user, password, &reply, err);
	if (r < 0)
		return r;
	json_t *entry = json_pack("{s:s,s:s,s:s}", "token", api_client_token(c->api), "user",
				  user, "expires", json_get_string(reply, "expires", ""));
	r = session_store(c, entry, err);
	json_decref(entry);
	if (r < 0) {
		json_decref(reply);
		return vr_error_wrap(err, "logged in, but cannot save the session");
	}
	if (reply_out)
		*reply_out = reply;
	else
		json_decref(reply);
	return 0;
}

int client_forget_session(struct vireo_client *c, struct vr_error **err)
{
	api_client_set_token(c->api, NULL);
	_cleanup_free_ char *path = client_sessions_path();
	if (!path || access(path, F_OK) < 0)
		return 0;
	return session_store(c, NULL, err);
}

int client_logout(struct vireo_client *c, struct vr_error **err)
{
	if (client_has_token(c)) {
		long status;
		_cleanup_error_ struct vr_error *ignored = NULL;
		int r = api_client_request(c->api, "DELETE", "/api/v1/sessions/current", NULL,
					   &status, NULL, &ignored);
		/* An expired session is as good as ended. */
		if (r < 0 && status != 401) {
			if (err && !*err)
				*err = steal_pointer(&ignored);
			return r;
		}
	}
	return client_forget_session(c, err);
}
