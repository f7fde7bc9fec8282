/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Commands for vireo-center: inventory ls|create|rename|move|delete,
 * host add|list|remove|disconnect|reconnect (the "host" group), role
 * list|create|delete and permission list|set|remove.  Objects are named
 * by id (datacenter-3, vm-12) or inventory path (/DC1/vm/web01).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

/* Sends a request; prints the reply with --json, else returns it in *reply. */
static int request(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
		   json_t **reply)
{
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	if (client_request(client, method, path, body, NULL, reply, &err) < 0)
		return cli_fail(err);
	return CLI_EXIT_OK;
}

/* "/api/v1/inventory/REF" + suffix, REF escaped as one segment. */
static char *object_path(const char *base, const char *ref, const char *suffix)
{
	_cleanup_free_ char *esc = client_escape(ref);
	return xasprintf("%s/%s%s", base, esc, suffix ? suffix : "");
}

static void print_objects(json_t *list)
{
	static const char *const headers[] = {"ID", "KIND", "NAME", "STATE", NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		json_t *p = json_object_get(o, "properties");
		const char *state = json_get_string(p, "power_state", NULL);
		if (!state)
			state = json_get_string(o, "connection_state", NULL);
		const char *cells[] = {json_get_string(o, "id", NULL), json_get_string(o, "kind", NULL),
				       json_get_string(o, "name", NULL), state};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

static int cmd_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return cli_usage_error("inventory ls ", "expected at most one object");
	_cleanup_free_ char *path = argc == 2 ? object_path("/api/v1/inventory", argv[1], NULL)
					      : xstrdup("/api/v1/inventory");
	json_t *reply = NULL;
	int r = request(ctx, "GET", path, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json)
		output_json(reply);
	else {
		printf("%s (%s)\n", json_get_string(reply, "path", "/"),
		       json_get_string(reply, "id", ""));
		print_objects(json_object_get(reply, "children"));
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 4)
		return cli_usage_error("inventory create ", "expected KIND PARENT NAME");
	json_t *body = json_pack("{s:s, s:s, s:s}", "kind", argv[1], "parent", argv[2], "name",
				 argv[3]);
	json_t *reply = NULL;
	int r = request(ctx, "POST", "/api/v1/inventory", body, &reply);
	json_decref(body);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json)
		output_json(reply);
	else
		printf("Created %s %s (%s).\n", json_get_string(reply, "kind", ""),
		       json_get_string(reply, "path", ""), json_get_string(reply, "id", ""));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int change(struct cli_ctx *ctx, const char *ref, const char *key, const char *value,
		  const char *done)
{
	_cleanup_free_ char *path = object_path("/api/v1/inventory", ref, NULL);
	json_t *body = json_pack("{s:s}", key, value);
	json_t *reply = NULL;
	int r = request(ctx, "PATCH", path, body, &reply);
	json_decref(body);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json)
		output_json(reply);
	else
		printf("%s %s.\n", done, json_get_string(reply, "path", ""));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_rename(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("inventory rename ", "expected OBJECT NEW-NAME");
	return change(ctx, argv[1], "name", argv[2], "Renamed to");
}

static int cmd_move(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("inventory move ", "expected OBJECT NEW-PARENT");
	return change(ctx, argv[1], "parent", argv[2], "Moved to");
}

static int cmd_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("inventory delete ", "expected one object");
	_cleanup_free_ char *path = object_path("/api/v1/inventory", argv[1], NULL);
	int r = request(ctx, "DELETE", path, NULL, NULL);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("Deleted %s.\n", argv[1]);
	return r;
}

static const struct cli_command inventory_commands[] = {
	{"ls", "[OBJECT]", "list an object's children (the root folder by default)", cmd_ls},
	{"create", "KIND PARENT NAME", "create a folder, datacenter, cluster or resource_pool",
	 cmd_create},
	{"rename", "OBJECT NAME", "rename an object", cmd_rename},
	{"move", "OBJECT PARENT", "move an object to another parent", cmd_move},
	{"delete", "OBJECT", "delete an empty object", cmd_delete},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_inventory = {
	.name = "inventory",
	.summary = "vireo-center's inventory: datacenters, folders, clusters, pools",
	.commands = inventory_commands,
};

/* ---- hosts (vireo-center) ---- */

int cli_host_add(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_PARENT = 1, OPT_USER, OPT_PWFILE, OPT_NAME, OPT_INSECURE };
	static const struct option options[] = {
		{"parent", required_argument, NULL, OPT_PARENT},
		{"user", required_argument, NULL, OPT_USER},
		{"password-file", required_argument, NULL, OPT_PWFILE},
		{"name", required_argument, NULL, OPT_NAME},
		{"insecure-tls", no_argument, NULL, OPT_INSECURE},
		{NULL, 0, NULL, 0},
	};
	const char *parent = NULL, *user = "admin", *pwfile = NULL, *name = NULL;
	bool insecure = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_PARENT:
			parent = optarg;
			break;
		case OPT_USER:
			user = optarg;
			break;
		case OPT_PWFILE:
			pwfile = optarg;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case OPT_INSECURE:
			insecure = true;
			break;
		default:
			return cli_usage_error("host add ", "bad option");
		}
	}
	if (optind + 1 != argc || !parent)
		return cli_usage_error("host add ", "expected the host's URL and --parent");
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *prompt = xasprintf("Password of %s on %s: ", user, argv[optind]);
	char *password = NULL;
	if (cli_read_password(prompt, pwfile, "VIREO_HOST_PASSWORD", &password, &err) < 0)
		return cli_fail(err);
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:b}", "url", argv[optind], "username", user,
				 "password", password, "parent", parent, "tls_insecure", insecure);
	explicit_bzero(password, strlen(password));
	free(password);
	if (name)
		json_object_set_new(body, "name", json_string(name));
	json_t *reply = NULL;
	int r = request(ctx, "POST", "/api/v1/hosts", body, &reply);
	json_object_clear(body);
	json_decref(body);
	if (r != CLI_EXIT_OK)
		return r;
	json_t *task = NULL;
	r = cli_task_started(ctx, reply, false, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("Added host %s.\n",
		       json_get_string(json_object_get(task, "result"), "host", argv[optind]));
	json_decref(task);
	return r;
}

int cli_host_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("host list ", "unexpected argument \"%s\"", argv[1]);
	json_t *reply = NULL;
	int r = request(ctx, "GET", "/api/v1/hosts", NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"ID", "NAME", "STATE", "URL", "VMS", "REASON", NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(reply, "hosts"), i, h) {
		json_t *p = json_object_get(h, "properties");
		_cleanup_free_ char *vms = xasprintf("%lld", (long long)json_get_int(p, "vms", 0));
		const char *cells[] = {json_get_string(h, "id", NULL),
				       json_get_string(h, "name", NULL),
				       json_get_string(h, "connection_state", NULL),
				       json_get_string(h, "url", NULL), vms,
				       json_get_string(h, "connection_reason", NULL)};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int host_action(struct cli_ctx *ctx, int argc, char **argv, const char *op)
{
	if (argc != 2)
		return cli_usage_error("host ", "expected one host (host-N or its path)");
	_cleanup_free_ char *suffix = xasprintf("/%s", op);
	_cleanup_free_ char *path = object_path("/api/v1/hosts", argv[1], suffix);
	json_t *reply = NULL;
	int r = request(ctx, "POST", path, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json)
		output_json(reply);
	else
		printf("Host %s is %s.\n", json_get_string(reply, "name", argv[1]),
		       json_get_string(reply, "connection_state", "?"));
	json_decref(reply);
	return CLI_EXIT_OK;
}

int cli_host_disconnect(struct cli_ctx *ctx, int argc, char **argv)
{
	return host_action(ctx, argc, argv, "disconnect");
}

int cli_host_reconnect(struct cli_ctx *ctx, int argc, char **argv)
{
	return host_action(ctx, argc, argv, "reconnect");
}

int cli_host_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("host remove ", "expected one host (host-N or its path)");
	_cleanup_free_ char *path = object_path("/api/v1/hosts", argv[1], NULL);
	json_t *reply = NULL;
	int r = request(ctx, "DELETE", path, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	r = cli_task_started(ctx, reply, false, NULL);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("Removed host %s; its VMs keep running there.\n", argv[1]);
	return r;
}

/* ---- roles and permissions ---- */

static int cmd_role_list(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL;
	int r = request(ctx, "GET", "/api/v1/roles", NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"NAME", "LABEL", "BUILT-IN", "PRIVILEGES", NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *role;
	json_array_foreach(json_object_get(reply, "roles"), i, role) {
		_cleanup_free_ char *n = xasprintf(
			"%zu", json_array_size(json_object_get(role, "privileges")));
		const char *cells[] = {json_get_string(role, "name", NULL),
				       json_get_string(role, "label", NULL),
				       json_is_true(json_object_get(role, "system")) ? "yes" : "no", n};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_role_create(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("role create ", "expected NAME [PRIVILEGE...]");
	json_t *privs = json_array();
	for (int i = 2; i < argc; i++)
		json_array_append_new(privs, json_string(argv[i]));
	json_t *body = json_pack("{s:s, s:o}", "name", argv[1], "privileges", privs);
	json_t *reply = NULL;
	int r = request(ctx, "POST", "/api/v1/roles", body, &reply);
	json_decref(body);
	if (r == CLI_EXIT_OK) {
		if (ctx->json)
			output_json(reply);
		else
			printf("Created role %s.\n", argv[1]);
	}
	json_decref(reply);
	return r;
}

static int cmd_role_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("role delete ", "expected one role");
	_cleanup_free_ char *path = object_path("/api/v1/roles", argv[1], NULL);
	int r = request(ctx, "DELETE", path, NULL, NULL);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("Deleted role %s.\n", argv[1]);
	return r;
}

static const struct cli_command role_commands[] = {
	{"list", "", "list the roles", cmd_role_list},
	{"create", "NAME [PRIVILEGE...]", "create a role from privileges", cmd_role_create},
	{"delete", "NAME", "delete a role no permission uses", cmd_role_delete},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_role = {
	.name = "role",
	.summary = "vireo-center's roles",
	.commands = role_commands,
};

static int cmd_perm_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("permission list ", "expected one object");
	_cleanup_free_ char *path = object_path("/api/v1/inventory", argv[1], "/permissions");
	json_t *reply = NULL;
	int r = request(ctx, "GET", path, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"PRINCIPAL", "KIND", "ROLE", "PROPAGATE", "DEFINED ON",
					       NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(reply, "permissions"), i, p) {
		const char *cells[] = {
			json_get_string(p, "principal", NULL), json_get_string(p, "kind", NULL),
			json_get_string(p, "role", NULL),
			json_is_true(json_object_get(p, "propagate")) ? "yes" : "no",
			json_is_true(json_object_get(p, "inherited"))
				? json_get_string(p, "object_name", "an ancestor")
				: "this object"};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_perm_set(struct cli_ctx *ctx, int argc, char **argv)
{
	bool propagate = true;
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "--no-propagate") == 0) {
		propagate = false;
		first = 2;
	}
	if (argc - first != 3)
		return cli_usage_error("permission set ",
				       "expected [--no-propagate] OBJECT PRINCIPAL ROLE");
	_cleanup_free_ char *esc = client_escape(argv[first + 1]);
	_cleanup_free_ char *suffix = xasprintf("/permissions/%s", esc);
	_cleanup_free_ char *path = object_path("/api/v1/inventory", argv[first], suffix);
	json_t *body = json_pack("{s:s, s:b}", "role", argv[first + 2], "propagate", propagate);
	int r = request(ctx, "PUT", path, body, NULL);
	json_decref(body);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("%s has role %s on %s.\n", argv[first + 1], argv[first + 2], argv[first]);
	return r;
}

static int cmd_perm_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("permission remove ", "expected OBJECT PRINCIPAL");
	_cleanup_free_ char *esc = client_escape(argv[2]);
	_cleanup_free_ char *suffix = xasprintf("/permissions/%s", esc);
	_cleanup_free_ char *path = object_path("/api/v1/inventory", argv[1], suffix);
	int r = request(ctx, "DELETE", path, NULL, NULL);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("Removed the permission of %s on %s.\n", argv[2], argv[1]);
	return r;
}

static const struct cli_command permission_commands[] = {
	{"list", "OBJECT", "permissions on an object, inherited ones too", cmd_perm_list},
	{"set", "[--no-propagate] OBJECT PRINCIPAL ROLE", "give a user or group a role on an object",
	 cmd_perm_set},
	{"remove", "OBJECT PRINCIPAL", "remove a permission", cmd_perm_remove},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_permission = {
	.name = "permission",
	.summary = "vireo-center's permissions",
	.commands = permission_commands,
};

/* ---- cold migration (vireo-center) ---- */

static int cmd_migrate(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_HOST = 1, OPT_POOL, OPT_NO_WAIT, OPT_DATASTORE };
	static const struct option options[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"datastore", required_argument, NULL, OPT_DATASTORE},
		{"resource-pool", required_argument, NULL, OPT_POOL},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	const char *host = NULL, *pool = NULL, *datastore = NULL;
	bool no_wait = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == OPT_HOST)
			host = optarg;
		else if (opt == OPT_DATASTORE)
			datastore = optarg;
		else if (opt == OPT_POOL)
			pool = optarg;
		else if (opt == OPT_NO_WAIT)
			no_wait = true;
		else
			return cli_usage_error("migrate ", "bad option");
	}
	if (optind + 1 != argc || (!host && !datastore))
		return cli_usage_error("migrate ", "expected a VM and --host, --datastore or both");
	json_t *body = json_object();
	if (host)
		json_object_set_new(body, "host", json_string(host));
	if (datastore)
		json_object_set_new(body, "datastore", json_string(datastore));
	if (pool)
		json_object_set_new(body, "resource_pool", json_string(pool));
	_cleanup_free_ char *path = object_path("/api/v1/vms", argv[optind], "/migrate");
	json_t *reply = NULL;
	int r = request(ctx, "POST", path, body, &reply);
	json_decref(body);
	if (r != CLI_EXIT_OK)
		return r;
	json_t *task = NULL;
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && task && !ctx->json)
		printf("Migrated %s to %s%s%s.\n", argv[optind],
		       json_get_string(json_object_get(task, "result"), "host", host ? host : "?"),
		       datastore ? ", datastore " : "", datastore ? datastore : "");
	json_decref(task);
	return r;
}

static const struct cli_command migrate_commands[] = {
	{"migrate", "VM [--host HOST] [--datastore DATASTORE] [--resource-pool POOL] [--no-wait]",
	 "center: move a powered-off VM to another host and/or datastore (files are copied)",
	 cmd_migrate},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_migrate = {
	.name = NULL,
	.summary = "cold migration",
	.commands = migrate_commands,
};

/* ---- alarms and performance (vireo-center) ---- */

static int cmd_alarm_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return cli_usage_error("alarm list ", "expected at most one object");
	_cleanup_free_ char *esc = client_escape(argc == 2 ? argv[1] : "/");
	_cleanup_free_ char *path = xasprintf("/api/v1/alarms/triggered?object=%s", esc);
	json_t *reply = NULL;
	int r = request(ctx, "GET", path, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"ALARM", "NAME", "OBJECT", "STATUS", "STATE",
					       "VALUE", "SINCE", NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(reply, "triggered"), i, a) {
		const char *cells[] = {json_get_string(a, "alarm", NULL),
				       json_get_string(a, "alarm_name", NULL),
				       json_get_string(a, "object_name", NULL),
				       json_get_string(a, "status", NULL),
				       json_get_string(a, "state", NULL),
				       json_get_string(a, "value", NULL),
				       json_get_string(a, "triggered", NULL)};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int alarm_change(struct cli_ctx *ctx, int argc, char **argv, const char *op,
			const char *done)
{
	if (argc != 3)
		return cli_usage_error("alarm ", "expected ALARM (alarm-N) and OBJECT");
	_cleanup_free_ char *suffix = xasprintf("/%s", op);
	_cleanup_free_ char *path = object_path("/api/v1/alarms", argv[1], suffix);
	json_t *body = json_pack("{s:s}", "object", argv[2]);
	int r = request(ctx, "POST", path, body, NULL);
	json_decref(body);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("%s %s on %s.\n", done, argv[1], argv[2]);
	return r;
}

static int cmd_alarm_ack(struct cli_ctx *ctx, int argc, char **argv)
{
	return alarm_change(ctx, argc, argv, "acknowledge", "Acknowledged");
}

static int cmd_alarm_clear(struct cli_ctx *ctx, int argc, char **argv)
{
	return alarm_change(ctx, argc, argv, "clear", "Cleared");
}

static const struct cli_command alarm_commands[] = {
	{"list", "[OBJECT]", "triggered alarms at and below an object", cmd_alarm_list},
	{"ack", "ALARM OBJECT", "acknowledge a triggered alarm", cmd_alarm_ack},
	{"clear", "ALARM OBJECT", "set an alarm back to green", cmd_alarm_clear},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_alarm = {
	.name = "alarm",
	.summary = "vireo-center's alarms",
	.commands = alarm_commands,
};

static int cmd_perf(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_INTERVAL = 1 };
	static const struct option options[] = {
		{"interval", required_argument, NULL, OPT_INTERVAL},
		{NULL, 0, NULL, 0},
	};
	const char *interval = "20";
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt != OPT_INTERVAL)
			return cli_usage_error("perf ", "bad option");
		interval = optarg;
	}
	if (optind + 1 != argc && optind + 2 != argc)
		return cli_usage_error("perf ", "expected OBJECT [COUNTER]");
	_cleanup_free_ char *obj = client_escape(argv[optind]);
	json_t *reply = NULL;
	if (optind + 1 == argc) {
		/* No counter: the ones the object has. */
		_cleanup_free_ char *path = xasprintf("/api/v1/perf/counters?object=%s", obj);
		int r = request(ctx, "GET", path, NULL, &reply);
		if (r != CLI_EXIT_OK)
			return r;
		if (ctx->json) {
			output_json(reply);
		} else {
			size_t i;
			json_t *c;
			json_array_foreach(json_object_get(reply, "counters"), i, c)
				printf("%s\n", json_string_value(c));
		}
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	_cleanup_free_ char *counter = client_escape(argv[optind + 1]);
	_cleanup_free_ char *iv = client_escape(interval);
	_cleanup_free_ char *path =
		xasprintf("/api/v1/perf?object=%s&counter=%s&interval=%s", obj, counter, iv);
	int r = request(ctx, "GET", path, NULL, &reply);
	if (r != CLI_EXIT_OK)
		return r;
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"TIME", "VALUE", NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(reply, "points"), i, p) {
		char when[32];
		time_format_iso((uint64_t)json_integer_value(json_array_get(p, 0)), when);
		_cleanup_free_ char *v = xasprintf("%.2f", json_number_value(json_array_get(p, 1)));
		const char *cells[] = {when, v};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static const struct cli_command perf_commands[] = {
	{"perf", "OBJECT [COUNTER] [--interval 20|300|1800|7200|86400]",
	 "center: an object's performance history (no counter: list them)", cmd_perf},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_perf = {
	.name = NULL,
	.summary = "performance history",
	.commands = perf_commands,
};

/* ---- resource pools (vireo-center) ---- */

/* --cpu-reservation etc. into an "allocation" object; 0 or a usage error. */
static int pool_options(int argc, char **argv, const char *cmd, json_t *alloc)
{
	enum {
		OPT_CPU_RES = 1, OPT_CPU_LIM, OPT_CPU_SHARES, OPT_MEM_RES, OPT_MEM_LIM,
		OPT_MEM_SHARES, OPT_EXPANDABLE,
	};
	static const struct option options[] = {
		{"cpu-reservation", required_argument, NULL, OPT_CPU_RES},
		{"cpu-limit", required_argument, NULL, OPT_CPU_LIM},
		{"cpu-shares", required_argument, NULL, OPT_CPU_SHARES},
		{"mem-reservation", required_argument, NULL, OPT_MEM_RES},
		{"mem-limit", required_argument, NULL, OPT_MEM_LIM},
		{"mem-shares", required_argument, NULL, OPT_MEM_SHARES},
		{"expandable", required_argument, NULL, OPT_EXPANDABLE},
		{NULL, 0, NULL, 0},
	};
	json_t *cpu = json_object(), *mem = json_object();
	int opt, r = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		json_t *side = opt <= OPT_CPU_SHARES ? cpu : mem;
		uint64_t v;
		switch (opt) {
		case OPT_CPU_RES:
		case OPT_MEM_RES:
		case OPT_CPU_LIM:
		case OPT_MEM_LIM: {
			bool lim = opt == OPT_CPU_LIM || opt == OPT_MEM_LIM;
			const char *key = opt == OPT_CPU_RES ? "reservation_mhz"
					  : opt == OPT_CPU_LIM ? "limit_mhz"
					  : opt == OPT_MEM_RES ? "reservation_mib"
							       : "limit_mib";
			if (lim && strcmp(optarg, "unlimited") == 0) {
				json_object_set_new(side, key, json_integer(-1));
				break;
			}
			if (parse_u64(optarg, 0, 1ull << 40, &v) < 0)
				r = cli_usage_error(cmd, "\"%s\" is not a number%s", optarg,
						    lim ? " or \"unlimited\"" : "");
			else
				json_object_set_new(side, key, json_integer((json_int_t)v));
			break;
		}
		case OPT_CPU_SHARES:
		case OPT_MEM_SHARES:
			if (parse_u64(optarg, 1, 1000000, &v) == 0)
				json_object_set_new(side, "shares", json_integer((json_int_t)v));
			else
				json_object_set_new(side, "shares", json_string(optarg));
			break;
		case OPT_EXPANDABLE:
			if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0) {
				r = cli_usage_error(cmd, "--expandable takes yes or no");
				break;
			}
			json_object_set_new(cpu, "expandable", json_boolean(optarg[0] == 'y'));
			json_object_set_new(mem, "expandable", json_boolean(optarg[0] == 'y'));
			break;
		default:
			r = cli_usage_error(cmd, "bad option");
		}
	}
	if (json_object_size(cpu))
		json_object_set(alloc, "cpu", cpu);
	if (json_object_size(mem))
		json_object_set(alloc, "memory", mem);
	json_decref(cpu);
	json_decref(mem);
	return r;
}

static void print_pool(json_t *p)
{
	json_t *a = json_object_get(p, "allocation"), *u = json_object_get(p, "usage");
	printf("%s (%s)%s\n", json_get_string(p, "name", "?"), json_get_string(p, "id", "?"),
	       json_is_true(json_object_get(p, "root")) ? ", the root pool: its hosts' capacity" : "");
	static const char *const sides[] = {"cpu", "memory"};
	static const char *const units[] = {"MHz", "MiB"};
	static const char *const res[] = {"reservation_mhz", "reservation_mib"};
	static const char *const lim[] = {"limit_mhz", "limit_mib"};
	static const char *const used[] = {"reserved_for_children_mhz", "reserved_for_children_mib"};
	static const char *const left[] = {"unreserved_mhz", "unreserved_mib"};
	for (int k = 0; k < 2; k++) {
		json_t *s = json_object_get(a, sides[k]), *us = json_object_get(u, sides[k]);
		long long l = (long long)json_get_int(s, lim[k], -1);
		_cleanup_free_ char *limit = l < 0 ? xstrdup("none") : xasprintf("%lld %s", l, units[k]);
		printf("  %-6s reservation %lld %s, limit %s, shares %s (%lld), %sexpandable; "
		       "reserved for children %lld, unreserved %lld %s\n",
		       sides[k], (long long)json_get_int(s, res[k], 0), units[k], limit,
		       json_get_string(s, "shares_level", "?"), (long long)json_get_int(s, "shares", 0),
		       json_is_true(json_object_get(s, "expandable")) ? "" : "not ",
		       (long long)json_get_int(us, used[k], 0), (long long)json_get_int(us, left[k], 0),
		       units[k]);
	}
}

static int cmd_pool_info(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("pool info ", "expected one resource pool");
	_cleanup_free_ char *path = object_path("/api/v1/resource-pools", argv[1], NULL);
	json_t *reply = NULL;
	int r = request(ctx, "GET", path, NULL, &reply);
	if (r == CLI_EXIT_OK) {
		if (ctx->json)
			output_json(reply);
		else
			print_pool(reply);
	}
	json_decref(reply);
	return r;
}

static int cmd_pool_create(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *alloc = json_object();
	int r = pool_options(argc, argv, "pool create ", alloc);
	if (r == 0 && optind + 2 != argc)
		r = cli_usage_error("pool create ", "expected PARENT-POOL NAME");
	if (r) {
		json_decref(alloc);
		return r;
	}
	json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "kind", "resource_pool", "parent",
				 argv[optind], "name", argv[optind + 1], "allocation", alloc);
	json_t *reply = NULL;
	r = request(ctx, "POST", "/api/v1/inventory", body, &reply);
	json_decref(body);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("Created resource pool %s (%s).\n", json_get_string(reply, "path", ""),
		       json_get_string(reply, "id", ""));
	else if (r == CLI_EXIT_OK)
		output_json(reply);
	json_decref(reply);
	return r;
}

static int cmd_pool_set(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *alloc = json_object();
	int r = pool_options(argc, argv, "pool set ", alloc);
	if (r == 0 && optind + 1 != argc)
		r = cli_usage_error("pool set ", "expected one resource pool");
	if (r == 0 && json_object_size(alloc) == 0)
		r = cli_usage_error("pool set ", "nothing to change");
	if (r) {
		json_decref(alloc);
		return r;
	}
	_cleanup_free_ char *path = object_path("/api/v1/resource-pools", argv[optind], NULL);
	json_t *body = json_pack("{s:o}", "allocation", alloc);
	json_t *reply = NULL;
	r = request(ctx, "PATCH", path, body, &reply);
	json_decref(body);
	if (r == CLI_EXIT_OK) {
		if (ctx->json)
			output_json(reply);
		else
			print_pool(reply);
	}
	json_decref(reply);
	return r;
}

static int cmd_pool_move_vm(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("pool move-vm ", "expected VM POOL");
	_cleanup_free_ char *path = object_path("/api/v1/vms", argv[1], NULL);
	json_t *body = json_pack("{s:s}", "resource_pool", argv[2]);
	int r = request(ctx, "PATCH", path, body, NULL);
	json_decref(body);
	if (r == CLI_EXIT_OK && !ctx->json)
		printf("VM %s is in resource pool %s.\n", argv[1], argv[2]);
	return r;
}

#define POOL_OPTS                                                                  \
	"[--cpu-reservation MHZ] [--cpu-limit MHZ|unlimited] [--cpu-shares low|normal|high|N] " \
	"[--mem-reservation MIB] [--mem-limit MIB|unlimited] [--mem-shares ...] "      \
	"[--expandable yes|no]"

static const struct cli_command pool_commands[] = {
	{"info", "POOL", "a pool's allocation and what it has handed out", cmd_pool_info},
	{"create", "PARENT NAME " POOL_OPTS, "create a resource pool", cmd_pool_create},
	{"set", "POOL " POOL_OPTS, "change a pool's allocation", cmd_pool_set},
	{"move-vm", "VM POOL", "put a VM into a pool of its cluster or host", cmd_pool_move_vm},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_pool = {
	.name = "pool",
	.summary = "vireo-center's resource pools",
	.commands = pool_commands,
};
