/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Users, groups, roles and permissions: /api/v1/users, /api/v1/groups,
 * /api/v1/roles, /api/v1/privileges and /api/v1/inventory/{ref}/permissions.
 * Managing principals and permissions needs Authorization.ModifyPermissions
 * (on the root folder for principals, on the object for its permissions);
 * roles need Authorization.ModifyRoles on the root.  Everyone may change
 * their own password, giving the current one.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/access.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/principals.h"
#include "center/db/privileges.h"
#include "center/sessions.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static const struct json_field user_fields[] = {
	{"name", JSON_STRING, true, 1, 64},
	{"password", JSON_STRING, true, 1, 256},
	{"full_name", JSON_STRING, false, 0, 256},
};
static const struct json_field group_fields[] = {
	{"name", JSON_STRING, true, 1, 64},
	{"full_name", JSON_STRING, false, 0, 256},
};
static const struct json_field password_fields[] = {
	{"password", JSON_STRING, true, 1, 256},
	{"current_password", JSON_STRING, false, 0, 256},
};
static const struct json_field user_patch_fields[] = {
	{"disabled", JSON_TRUE, true, 0, 0},
};
static const struct json_field member_fields[] = {
	{"member", JSON_STRING, true, 1, 320},
};
static const struct json_field role_fields[] = {
	{"name", JSON_STRING, true, 1, 255},
	{"label", JSON_STRING, false, 0, 255},
	{"description", JSON_STRING, false, 0, 1024},
	{"privileges", JSON_ARRAY, true, 0, 0},
};
static const struct json_field role_set_fields[] = {
	{"privileges", JSON_ARRAY, true, 0, 0},
};
static const struct json_field permission_fields[] = {
	{"role", JSON_STRING, true, 1, 255},
	{"propagate", JSON_TRUE, false, 0, 0},
};

/* Checks a body against its fields; answers 400 when it does not fit. */
static bool body_ok(struct api_request *req, const struct json_field *f, size_t n,
		    const char *what)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(api_request_body_json(req), f, n, what, &err) < 0) {
		api_respond_vr_error(req, err);
		return false;
	}
	return true;
}

/* Whether the user holds privilege on the root folder (answers 403 when not). */
static bool allow_on_root(struct creq *x, const char *privilege)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object root = {0};
	if (inventory_get(x->db, x->c->root_id, &root, &err) < 0) {
		creq_fail(x, err);
		return false;
	}
	bool ok = creq_allow(x, &root, privilege);
	inv_object_clear(&root);
	return ok;
}

static json_t *principal_json(const struct principal *p)
{
	_cleanup_free_ char *full = xasprintf("%s@%s", p->name, p->domain);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", full, "kind",
			      p->is_group ? "group" : "user", "domain", p->domain, "full_name",
			      p->full_name ? p->full_name : "", "disabled", p->disabled);
	char t[32];
	time_format_iso((uint64_t)p->created_ms, t);
	json_object_set_new(o, "created", json_string(t));
	return o;
}

/* Looks up {name}; answers 404 when there is none. */
static bool find_principal(struct creq *x, const char *name, struct principal *out)
{
	_cleanup_error_ struct vr_error *err = NULL;
	int r = principal_get_by_name(x->db, name, out, &err);
	if (r == -ENOENT)
		api_respond_error(x->req, 404, "no user or group \"%s\"", name);
	else if (r < 0)
		creq_fail(x, err);
	return r == 0;
}

static void users_list(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct principal_list l = {0};
	if (allow_on_root(&x, "Authorization.ModifyPermissions")) {
		if (principal_list(x.db, &l, &err) < 0) {
			creq_fail(&x, err);
		} else {
			json_t *a = json_array();
			for (size_t i = 0; i < l.n; i++)
				json_array_append_new(a, principal_json(&l.items[i]));
			api_respond_json(req, 200, json_pack("{s:o}", "principals", a));
		}
	}
	principal_list_clear(&l);
	creq_end(&x);
}

static void principal_create(struct api_request *req, void *opaque, bool group)
{
	if (!body_ok(req, group ? group_fields : user_fields,
		     group ? ARRAY_SIZE(group_fields) : ARRAY_SIZE(user_fields),
		     group ? "group create request" : "user create request"))
		return;
	json_t *body = api_request_body_json(req);
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	if (!allow_on_root(&x, "Authorization.ModifyPermissions"))
		goto out;
	const char *name = json_get_string(body, "name", "");
	int64_t id;
	int r = group ? principal_group_create(x.db, name, json_get_string(body, "full_name", NULL),
					       center_now_ms(), &id, &err)
		      : principal_user_create(x.db, name, json_get_string(body, "password", ""),
					      json_get_string(body, "full_name", NULL),
					      center_now_ms(), &id, &err);
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	struct principal p = {0};
	if (principal_get(x.db, id, &p, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, group ? "GroupAddedEvent" : "UserAddedEvent", "info", 0, "",
			  x.user, 0, "%s %s@%s created by %s", group ? "group" : "user", p.name,
			  p.domain, x.user);
	api_respond_json(req, 201, principal_json(&p));
	principal_clear(&p);
out:
	creq_end(&x);
}

static void users_create(struct api_request *req, void *opaque)
{
	principal_create(req, opaque, false);
}

static void groups_create(struct api_request *req, void *opaque)
{
	principal_create(req, opaque, true);
}

static void users_delete(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct principal p = {0};
	if (!allow_on_root(&x, "Authorization.ModifyPermissions") ||
	    !find_principal(&x, api_request_param(req, "name"), &p))
		goto out;
	/* DELETE /users/{name} deletes users, /groups/{name} groups. */
	bool want_group = str_has_prefix(api_request_path(req), "/api/v1/groups/");
	if (p.is_group != want_group) {
		api_respond_error(req, 404, "no %s \"%s\"", want_group ? "group" : "user",
				  api_request_param(req, "name"));
		goto out;
	}
	if (principal_delete(x.db, p.id, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	csessions_end_principal(x.c->sessions, p.id);
	center_access_changed();
	center_post_event(x.c, x.db, "UserRemovedEvent", "info", 0, "", x.user, 0,
			  "%s %s@%s deleted by %s", p.is_group ? "group" : "user", p.name, p.domain,
			  x.user);
	api_respond_no_content(req);
out:
	principal_clear(&p);
	creq_end(&x);
}

static void users_patch(struct api_request *req, void *opaque)
{
	if (!body_ok(req, user_patch_fields, ARRAY_SIZE(user_patch_fields), "user change request"))
		return;
	bool disabled = json_is_true(json_object_get(api_request_body_json(req), "disabled"));
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct principal p = {0};
	if (!allow_on_root(&x, "Authorization.ModifyPermissions") ||
	    !find_principal(&x, api_request_param(req, "name"), &p))
		goto out;
	if (principal_set_disabled(x.db, p.id, disabled, center_now_ms(), &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (disabled)
		csessions_end_principal(x.c->sessions, p.id);
	p.disabled = disabled;
	center_access_changed();
	center_post_event(x.c, x.db, "UserChangedEvent", "info", 0, "", x.user, 0,
			  "user %s@%s %s by %s", p.name, p.domain, disabled ? "disabled" : "enabled",
			  x.user);
	api_respond_json(req, 200, principal_json(&p));
out:
	principal_clear(&p);
	creq_end(&x);
}

static void users_password(struct api_request *req, void *opaque)
{
	if (!body_ok(req, password_fields, ARRAY_SIZE(password_fields), "password change request"))
		return;
	json_t *body = api_request_body_json(req);
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct principal p = {0};
	/* Someone else's password needs the privilege, asked before the name is looked up. */
	const char *name = api_request_param(req, "name");
	size_t ul = strcspn(x.user, "@");
	bool self_name = strcmp(name, x.user) == 0 ||
			 (strlen(name) == ul && strncmp(name, x.user, ul) == 0);
	if (!self_name && !allow_on_root(&x, "Authorization.ModifyPermissions"))
		goto out;
	if (!find_principal(&x, name, &p))
		goto out;
	bool self = p.id == x.principal_id;
	if (self) {
		/* One's own password: prove it is you, whatever one's privileges. */
		int64_t id;
		_cleanup_free_ char *full = xasprintf("%s@%s", p.name, p.domain);
		if (principal_verify_password(x.db, full, json_get_string(body, "current_password", ""),
					      &id, NULL) < 0) {
			api_respond_error(req, 403, "the current password is wrong");
			goto out;
		}
	} else if (!allow_on_root(&x, "Authorization.ModifyPermissions")) {
		goto out;
	}
	if (principal_set_password(x.db, p.id, json_get_string(body, "password", ""),
				   center_now_ms(), &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	/* The user's sessions end; one changing their own password keeps this one. */
	csessions_end_principal_except(x.c->sessions, p.id, self ? api_request_token(req) : NULL);
	center_post_event(x.c, x.db, "UserPasswordChanged", "info", 0, "", x.user, 0,
			  "password of %s@%s changed by %s", p.name, p.domain, x.user);
	api_respond_no_content(req);
out:
	principal_clear(&p);
	creq_end(&x);
}

static void group_members(struct api_request *req, void *opaque, bool add)
{
	if (add && !body_ok(req, member_fields, ARRAY_SIZE(member_fields), "member request"))
		return;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct principal g = {0}, m = {0};
	const char *member = add ? json_get_string(api_request_body_json(req), "member", "")
				 : api_request_param(req, "member");
	if (!allow_on_root(&x, "Authorization.ModifyPermissions") ||
	    !find_principal(&x, api_request_param(req, "name"), &g) ||
	    !find_principal(&x, member, &m))
		goto out;
	int r = add ? group_add_member(x.db, g.id, m.id, &err)
		    : group_remove_member(x.db, g.id, m.id, &err);
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, add ? "UserAssignedToGroup" : "UserUnassignedFromGroup",
			  "info", 0, "", x.user, 0, "%s@%s %s group %s@%s by %s", m.name, m.domain,
			  add ? "added to" : "removed from", g.name, g.domain, x.user);
	api_respond_no_content(req);
out:
	principal_clear(&g);
	principal_clear(&m);
	creq_end(&x);
}

static void groups_add_member(struct api_request *req, void *opaque)
{
	group_members(req, opaque, true);
}

static void groups_remove_member(struct api_request *req, void *opaque)
{
	group_members(req, opaque, false);
}

static void privileges_list(struct api_request *req, void *opaque)
{
	json_t *a = json_array();
	for (size_t i = 0; i < center_privileges_count; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "id", center_privileges[i].id,
						   "description", center_privileges[i].description));
	api_respond_json(req, 200, json_pack("{s:o}", "privileges", a));
}

static json_t *role_json(const struct role *r)
{
	json_t *p = json_array();
	for (size_t i = 0; i < r->n_privileges; i++)
		json_array_append_new(p, json_string(r->privileges[i]));
	return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", r->name, "label",
			 r->label ? r->label : r->name, "description",
			 r->description ? r->description : "", "system", r->is_system, "privileges",
			 p);
}

static void roles_list(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct role_list l = {0};
	if (role_list(x.db, &l, &err) < 0) {
		creq_fail(&x, err);
	} else {
		json_t *a = json_array();
		for (size_t i = 0; i < l.n; i++)
			json_array_append_new(a, role_json(&l.items[i]));
		api_respond_json(req, 200, json_pack("{s:o}", "roles", a));
	}
	role_list_clear(&l);
	creq_end(&x);
}

/* The privilege ids of a JSON array of strings; answers 400 otherwise. */
static bool privilege_array(struct api_request *req, json_t *a, const char ***out, size_t *n)
{
	size_t i;
	json_t *v;
	*n = json_array_size(a);
	*out = xcalloc(*n + 1, sizeof(**out));
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			api_respond_error(req, 400, "privileges[%zu] is not a string", i);
			free(*out);
			*out = NULL;
			return false;
		}
		(*out)[i] = json_string_value(v);
	}
	return true;
}

static bool find_role(struct creq *x, const char *name, struct role *out)
{
	_cleanup_error_ struct vr_error *err = NULL;
	int r = role_get_by_name(x->db, name, out, &err);
	if (r == -ENOENT)
		api_respond_error(x->req, 404, "no role \"%s\"", name);
	else if (r < 0)
		creq_fail(x, err);
	return r == 0;
}

static void roles_create(struct api_request *req, void *opaque)
{
	if (!body_ok(req, role_fields, ARRAY_SIZE(role_fields), "role create request"))
		return;
	json_t *body = api_request_body_json(req);
	const char **privs = NULL;
	size_t n = 0;
	if (!privilege_array(req, json_object_get(body, "privileges"), &privs, &n))
		return;
	struct creq x;
	if (!creq_begin(&x, req, opaque)) {
		free(privs);
		return;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	int64_t id;
	struct role r = {0};
	if (!allow_on_root(&x, "Authorization.ModifyRoles"))
		goto out;
	const char *name = json_get_string(body, "name", "");
	if (role_create(x.db, name, json_get_string(body, "label", name),
			json_get_string(body, "description", ""), privs, n, center_now_ms(), &id,
			&err) < 0 ||
	    role_get(x.db, id, &r, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, "RoleAddedEvent", "info", 0, "", x.user, 0,
			  "role \"%s\" created by %s", name, x.user);
	api_respond_json(req, 201, role_json(&r));
out:
	role_clear(&r);
	free(privs);
	creq_end(&x);
}

static void roles_update(struct api_request *req, void *opaque)
{
	if (!body_ok(req, role_set_fields, ARRAY_SIZE(role_set_fields), "role change request"))
		return;
	const char **privs = NULL;
	size_t n = 0;
	if (!privilege_array(req, json_object_get(api_request_body_json(req), "privileges"), &privs,
			     &n))
		return;
	struct creq x;
	if (!creq_begin(&x, req, opaque)) {
		free(privs);
		return;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	struct role r = {0}, now = {0};
	if (!allow_on_root(&x, "Authorization.ModifyRoles") ||
	    !find_role(&x, api_request_param(req, "name"), &r))
		goto out;
	if (role_set_privileges(x.db, r.id, privs, n, center_now_ms(), &err) < 0 ||
	    role_get(x.db, r.id, &now, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, "RoleUpdatedEvent", "info", 0, "", x.user, 0,
			  "role \"%s\" changed by %s", r.name, x.user);
	api_respond_json(req, 200, role_json(&now));
out:
	role_clear(&r);
	role_clear(&now);
	free(privs);
	creq_end(&x);
}

static void roles_delete(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct role r = {0};
	if (!allow_on_root(&x, "Authorization.ModifyRoles") ||
	    !find_role(&x, api_request_param(req, "name"), &r))
		goto out;
	if (role_delete(x.db, r.id, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, "RoleRemovedEvent", "info", 0, "", x.user, 0,
			  "role \"%s\" deleted by %s", r.name, x.user);
	api_respond_no_content(req);
out:
	role_clear(&r);
	creq_end(&x);
}

static json_t *permission_json(const struct permission *p, int64_t asked_for)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b}", "principal", p->principal_name, "kind",
			      p->principal_is_group ? "group" : "user", "role", p->role_name,
			      "propagate", p->propagate, "inherited", p->object_id != asked_for);
	json_object_set_new(o, "object_id", json_integer(p->object_id));
	if (p->object_name)
		json_object_set_new(o, "object_name", json_string(p->object_name));
	return o;
}

static void permissions_list(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	struct permission_list l = {0};
	if (!creq_object(&x, api_request_param(req, "ref"), &o))
		goto out;
	const char *inh = api_request_query(req, "inherited");
	bool inherited = !inh || strcmp(inh, "false") != 0;
	if (permission_list_object(x.db, o.id, inherited, &l, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(a, permission_json(&l.items[i], o.id));
	api_respond_json(req, 200, json_pack("{s:o}", "permissions", a));
out:
	permission_list_clear(&l);
	inv_object_clear(&o);
	creq_end(&x);
}

static void permissions_set(struct api_request *req, void *opaque)
{
	if (!body_ok(req, permission_fields, ARRAY_SIZE(permission_fields), "permission request"))
		return;
	json_t *body = api_request_body_json(req);
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	struct principal p = {0};
	struct role r = {0};
	if (!creq_object(&x, api_request_param(req, "ref"), &o) ||
	    !creq_allow(&x, &o, "Authorization.ModifyPermissions") ||
	    !find_principal(&x, api_request_param(req, "principal"), &p) ||
	    !find_role(&x, json_get_string(body, "role", ""), &r))
		goto out;
	json_t *prop = json_object_get(body, "propagate");
	if (permission_set(x.db, o.id, p.id, r.id, prop ? json_is_true(prop) : true,
			   center_now_ms(), &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, "PermissionAddedEvent", "info", o.id, o.name, x.user, 0,
			  "%s@%s given role \"%s\" on \"%s\" by %s", p.name, p.domain, r.name,
			  o.name, x.user);
	api_respond_no_content(req);
out:
	inv_object_clear(&o);
	principal_clear(&p);
	role_clear(&r);
	creq_end(&x);
}

static void permissions_remove(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	struct principal p = {0};
	if (!creq_object(&x, api_request_param(req, "ref"), &o) ||
	    !creq_allow(&x, &o, "Authorization.ModifyPermissions") ||
	    !find_principal(&x, api_request_param(req, "principal"), &p))
		goto out;
	if (permission_remove(x.db, o.id, p.id, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, "PermissionRemovedEvent", "info", o.id, o.name, x.user, 0,
			  "permission of %s@%s on \"%s\" removed by %s", p.name, p.domain, o.name,
			  x.user);
	api_respond_no_content(req);
out:
	inv_object_clear(&o);
	principal_clear(&p);
	creq_end(&x);
}

/* What the session's user may do on an object (the web client greys out the rest). */
static void my_privileges(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	const char *ref = api_request_query(req, "object");
	if (!creq_object(&x, ref ? ref : "/", &o))
		goto out;
	if (!x.acx && access_ctx_new(x.db, x.principal_id, &x.acx, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	char **privs = NULL;
	size_t n = 0;
	if (access_ctx_privileges(x.acx, x.db, o.id, &privs, &n, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(a, json_string(privs[i]));
		free(privs[i]);
	}
	free(privs);
	char *id = moref_of(o.kind, o.id);
	api_respond_json(req, 200,
			 json_pack("{s:s, s:s, s:o}", "user", x.user, "object", id, "privileges", a));
	free(id);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

void capi_access_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/users", users_list, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/users", users_create, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/groups", groups_create, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/users/{name}", users_delete, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/groups/{name}", users_delete, c, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/users/{name}", users_patch, c, 0);
	api_server_add_route(srv, "PUT", "/api/v1/users/{name}/password", users_password, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/groups/{name}/members", groups_add_member, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/groups/{name}/members/{member}",
			     groups_remove_member, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/privileges", privileges_list, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/roles", roles_list, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/roles", roles_create, c, 0);
	api_server_add_route(srv, "PUT", "/api/v1/roles/{name}", roles_update, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/roles/{name}", roles_delete, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/inventory/{ref}/permissions", permissions_list, c,
			     0);
	api_server_add_route(srv, "PUT", "/api/v1/inventory/{ref}/permissions/{principal}",
			     permissions_set, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/inventory/{ref}/permissions/{principal}",
			     permissions_remove, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/sessions/current/privileges", my_privileges, c,
			     0);
}
