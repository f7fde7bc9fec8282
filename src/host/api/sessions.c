/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/sessions: log in, who am I, log out. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/lockout.h"
#include "api/server.h"
#include "host/api/server_priv.h"
#include "host/auth.h"

const struct json_field api_session_create_fields[] = {
	{ "username", JSON_STRING, true, 1, 80 },
	{ "password", JSON_STRING, true, 1, AUTH_PASSWORD_MAX },
};
const size_t api_session_create_nfields = ARRAY_SIZE(api_session_create_fields);

static void session_create(struct api_request *req, void *opaque)
{
	struct auth *auth = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, api_session_create_fields, api_session_create_nfields,
			      "session create request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *user = json_get_string(body, "username", "");
	const char *password = json_get_string(body, "password", "");
	_cleanup_free_ char *token = NULL;
	uint64_t expires_ms = 0;
	struct login_lockout_verdict lockout;
	int r = auth_login(auth, user, password, api_request_peer(req), &token, &expires_ms,
			   &lockout, &err);
	if (r == -EAGAIN && lockout.locked) {
		login_lockout_respond(req, &lockout);
		return;
	}
	if (r < 0) {
		api_respond_error(req, r == -EACCES ? 401 : api_status_from_errno(r), "%s",
				  vr_error_msg(err));
		return;
	}
	enum auth_role role = AUTH_ROLE_READ_ONLY;
	auth_user_role(auth, user, &role);
	char expires[32];
	time_format_iso(expires_ms, expires);
	api_respond_json(req, 201,
			 json_pack("{s:s,s:s,s:s,s:s}", "token", token, "expires", expires, "user",
				   user, "role", auth_role_name(role)));
	explicit_bzero(token, strlen(token));
}

static void session_get(struct api_request *req, void *opaque)
{
	api_respond_json(req, 200,
			 json_pack("{s:s,s:s}", "user", api_request_user(req), "role",
				   auth_role_name(api_request_is_admin(req) ? AUTH_ROLE_ADMIN
									   : AUTH_ROLE_READ_ONLY)));
}

static void session_delete(struct api_request *req, void *opaque)
{
	struct auth *auth = opaque;
	const char *token = api_request_token(req);
	if (!token || auth_logout(auth, token) < 0) {
		api_respond_error(req, 401, "invalid session token");
		return;
	}
	api_respond_no_content(req);
}

/* The API server's view of hostd's sessions. */
static int check_token(void *opaque, const char *token, char **user, bool *admin)
{
	enum auth_role role = AUTH_ROLE_READ_ONLY;
	int r = auth_check(opaque, token, user, &role);
	*admin = role == AUTH_ROLE_ADMIN;
	return r;
}

const struct api_auth_ops api_hostd_auth = {
	.check = check_token,
};

void api_sessions_register(struct api_server *srv, struct auth *auth)
{
	api_server_add_route(srv, "POST", "/api/v1/sessions", session_create, auth,
			     API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "GET", "/api/v1/sessions/current", session_get, auth, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/sessions/current", session_delete, auth, 0);
}
