/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/users: local user accounts of this host. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/api/server_priv.h"
#include "host/auth.h"

const struct json_field api_user_create_fields[] = {
	{ "name", JSON_STRING, true, 1, 80 },
	{ "password", JSON_STRING, true, AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX },
	{ "role", JSON_STRING, false, 0, 16 },
};
const size_t api_user_create_nfields = ARRAY_SIZE(api_user_create_fields);

const struct json_field api_user_password_fields[] = {
	{ "password", JSON_STRING, true, AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX },
	{ "current_password", JSON_STRING, false, 0, AUTH_PASSWORD_MAX },
};
const size_t api_user_password_nfields = ARRAY_SIZE(api_user_password_fields);

static json_t *find_user(json_t *list, const char *name)
{
	size_t i;
	json_t *u;
	json_array_foreach(list, i, u) {
		if (strcmp(json_get_string(u, "name", ""), name) == 0)
			return u;
	}
	return NULL;
}

static void users_list(struct api_request *req, void *opaque)
{
	struct auth *auth = opaque;
	api_respond_json(req, 200, json_pack("{s:o}", "users", auth_users_list(auth)));
}

static void user_create(struct api_request *req, void *opaque)
{
	struct auth *auth = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, api_user_create_fields, api_user_create_nfields,
			      "user create request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *name = json_get_string(body, "name", "");
	const char *role_name = json_get_string(body, "role", "read-only");
	enum auth_role role;
	if (auth_role_parse(role_name, &role) < 0) {
		api_respond_error(req, 400,
				  "field \"role\" in user create request must be \"admin\" or "
				  "\"read-only\", not \"%s\"",
				  role_name);
		return;
	}
	if (auth_user_add(auth, name, json_get_string(body, "password", ""), role, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	json_t *list = auth_users_list(auth);
	json_t *u = find_user(list, name);
	api_respond_json(req, 201, u ? json_incref(u) : json_pack("{s:s}", "name", name));
	json_decref(list);
}

static void user_delete(struct api_request *req, void *opaque)
{
	struct auth *auth = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	if (auth_user_remove(auth, api_request_param(req, "name"), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

static void user_set_password(struct api_request *req, void *opaque)
{
	struct auth *auth = opaque;
	const char *name = api_request_param(req, "name");
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	bool self = strcmp(name, api_request_user(req)) == 0;
	bool admin = api_request_is_admin(req);

	if (!self && !admin) {
		api_respond_error(req, 403,
				  "only an admin can change the password of another user (\"%s\")",
				  name);
		return;
	}
	if (json_check_object(body, api_user_password_fields, api_user_password_nfields,
			      "password change request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *current = json_get_string(body, "current_password", NULL);
	if (!admin && !current) {
		api_respond_error(req, 400,
				  "missing required field \"current_password\" in password change "
				  "request");
		return;
	}
	/* current_password is always the caller's own. */
	if (current && !auth_verify_password(auth, api_request_user(req), current)) {
		api_respond_error(req, 403, "current password is wrong");
		return;
	}
	if (auth_user_set_password(auth, name, json_get_string(body, "password", ""), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

void api_users_register(struct api_server *srv, struct auth *auth)
{
	api_server_add_route(srv, "GET", "/api/v1/users", users_list, auth, 0);
	api_server_add_route(srv, "POST", "/api/v1/users", user_create, auth, API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/users/{name}", user_delete, auth,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "PUT", "/api/v1/users/{name}/password", user_set_password, auth,
			     0);
}
