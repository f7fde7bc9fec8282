/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/health and /api/v1/sessions of vireo-center. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/lockout.h"
#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/sessions.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static const struct json_field session_fields[] = {
	{"username", JSON_STRING, true, 1, 320},
	{"password", JSON_STRING, true, 1, 256},
};

static void health(struct api_request *req, void *opaque)
{
	struct center *c = opaque;
	api_respond_json(req, 200,
			 json_pack("{s:s, s:s, s:s, s:s}", "status", "ok", "service", "vireo-center",
				   "version", VIREO_VERSION, "database",
				   dbpool_backend_name(c->pool)));
}

static void session_create(struct api_request *req, void *opaque)
{
	struct center *c = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, session_fields, ARRAY_SIZE(session_fields),
			      "session create request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *user = json_get_string(body, "username", "");
	struct login_lockout_verdict lockout;
	/* A locked name costs neither a database connection nor an event. */
	if (csessions_locked(c->sessions, user, &lockout)) {
		login_lockout_respond(req, &lockout);
		return;
	}
	struct db *db = dbpool_get(c->pool, &err);
	if (!db) {
		api_respond_error(req, 503, "the database is unavailable: %s", vr_error_msg(err));
		return;
	}
	_cleanup_free_ char *token = NULL;
	struct csession_info info = {0};
	int r = csessions_login(c->sessions, db, user, json_get_string(body, "password", ""),
				&token, &info, &lockout, &err);
	if (r < 0) {
		const char *peer = api_request_peer(req);
		if (r == -EACCES || lockout.locked_now)
			center_post_event(c, db, "BadUsernameSessionEvent", "warning", 0, "", "", 0,
					  "failed login as \"%.64s\" from %s", user,
					  peer ? peer : "an unknown address");
		if (lockout.locked_now) {
			_cleanup_free_ char *name = csessions_qualified_name(user);
			center_post_event(c, db, "AccountLockedEvent", "warning", 0, "", "", 0,
					  "user name \"%s\" locked for %llu s after %u failed logins "
					  "within %u s (the last from %s); its open sessions go on",
					  name ? name : "(invalid name)",
					  (unsigned long long)login_lockout_retry_after_s(&lockout),
					  lockout.failures, c->cfg.login_lockout_window_s,
					  peer ? peer : "an unknown address");
		}
		dbpool_put(c->pool, db);
		if (r == -EAGAIN && lockout.locked)
			login_lockout_respond(req, &lockout);
		else
			api_respond_error(req, r == -EACCES ? 401 : api_status_from_errno(r), "%s",
					  vr_error_msg(err));
		return;
	}
	center_post_event(c, db, "UserLoginSessionEvent", "info", 0, "", info.user, 0,
			  "user %s logged in", info.user);
	dbpool_put(c->pool, db);
	char expires[32];
	time_format_iso((uint64_t)info.expires_ms, expires);
	api_respond_json(req, 201,
			 json_pack("{s:s, s:s, s:s}", "token", token, "expires", expires, "user",
				   info.user));
	explicit_bzero(token, strlen(token));
	csession_info_clear(&info);
}

static void session_get(struct api_request *req, void *opaque)
{
	struct center *c = opaque;
	struct csession_info info = {0};
	if (csessions_check(c->sessions, api_request_token(req), &info) < 0) {
		api_respond_error(req, 401, "session ended; log in again");
		return;
	}
	char expires[32];
	time_format_iso((uint64_t)info.expires_ms, expires);
	api_respond_json(req, 200, json_pack("{s:s, s:s}", "user", info.user, "expires", expires));
	csession_info_clear(&info);
}

static void session_delete(struct api_request *req, void *opaque)
{
	struct center *c = opaque;
	const char *token = api_request_token(req);
	if (!token || csessions_logout(c->sessions, token) < 0) {
		api_respond_error(req, 401, "invalid session token");
		return;
	}
	api_respond_no_content(req);
}

void capi_core_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/health", health, c, API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "POST", "/api/v1/sessions", session_create, c,
			     API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "GET", "/api/v1/sessions/current", session_get, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/sessions/current", session_delete, c, 0);
}
