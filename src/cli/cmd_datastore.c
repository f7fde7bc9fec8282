/* SPDX-License-Identifier: Apache-2.0 */
/* vireo datastore list | info | add | remove */
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

/* "1.25x": provisioned space over capacity; NULL when absent. */
static char *format_ratio(const json_t *o)
{
	const json_t *v = json_object_get(o, "overcommit_ratio");
	return json_is_number(v) ? xasprintf("%.2fx", json_number_value(v)) : NULL;
}

static char *datastore_path(const char *name)
{
	_cleanup_free_ char *escaped = client_escape(name);
	return xasprintf("/api/v1/datastores/%s", escaped);
}

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("datastore list ", "unexpected argument \"%s\"", argv[1]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", "/api/v1/datastores", NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = { "NAME", "CAPACITY", "FREE", "PROVISIONED", "USED",
					       "OVERCOMMIT", "VMS", "PATH", NULL };
	struct table *t = table_new(headers);
	size_t i;
	json_t *ds;
	json_array_foreach(json_object_get(reply, "datastores"), i, ds) {
		_cleanup_free_ char *cap = output_bytes(ds, "capacity_bytes");
		_cleanup_free_ char *free_ = output_bytes(ds, "free_bytes");
		_cleanup_free_ char *prov = output_bytes(ds, "provisioned_bytes");
		_cleanup_free_ char *used = output_bytes(ds, "used_bytes");
		_cleanup_free_ char *ratio = format_ratio(ds);
		_cleanup_free_ char *vms = xasprintf("%lld", (long long)json_get_int(ds, "vms", 0));
		const char *cells[] = {
			json_get_string(ds, "name", NULL),
			json_get_bool(ds, "accessible", true) ? cap : "inaccessible",
			free_,
			prov,
			used,
			ratio,
			vms,
			json_get_string(ds, "path", NULL),
		};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("datastore info ", "expected one datastore name");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = datastore_path(argv[1]);
	json_t *ds = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &ds, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(ds);
		json_decref(ds);
		return CLI_EXIT_OK;
	}
	_cleanup_free_ char *cap = output_bytes(ds, "capacity_bytes");
	_cleanup_free_ char *free_ = output_bytes(ds, "free_bytes");
	_cleanup_free_ char *prov = output_bytes(ds, "provisioned_bytes");
	_cleanup_free_ char *used = output_bytes(ds, "used_bytes");
	_cleanup_free_ char *ratio = format_ratio(ds);
	printf("Name:        %s\n", json_get_string(ds, "name", "?"));
	printf("Path:        %s\n", json_get_string(ds, "path", "?"));
	if (json_get_bool(ds, "accessible", true)) {
		printf("Accessible:  yes\n");
		printf("Capacity:    %s\n", cap ? cap : "-");
		printf("Free:        %s\n", free_ ? free_ : "-");
		printf("Provisioned: %s (virtual size of the disks of this host's VMs)\n",
		       prov ? prov : "-");
		printf("Used:        %s (allocated by this host's VMs' files)\n", used ? used : "-");
		printf("Overcommit:  %s (provisioned / capacity)\n", ratio ? ratio : "-");
	} else {
		printf("Accessible:  no (%s)\n", json_get_string(ds, "error", "unknown error"));
	}
	printf("VMs:         %lld\n", (long long)json_get_int(ds, "vms", 0));
	json_decref(ds);
	return CLI_EXIT_OK;
}

static int cmd_add(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("datastore add ", "expected a name and a path");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = json_pack("{s:s,s:s}", "name", argv[1], "path", argv[2]);
	json_t *reply = NULL;
	int r = client_request(client, "POST", "/api/v1/datastores", body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("Added datastore %s at %s.\n", argv[1], argv[2]);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("datastore remove ", "expected one datastore name");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = datastore_path(argv[1]);
	if (client_request(client, "DELETE", path, NULL, NULL, NULL, &err) < 0)
		return cli_fail(err);
	if (!ctx->json)
		printf("Removed datastore %s; its files are untouched.\n", argv[1]);
	return CLI_EXIT_OK;
}

static const struct cli_command datastore_commands[] = {
	{ "list", "", "list the datastores of the host", cmd_list },
	{ "info", "NAME", "show a datastore's capacity and use", cmd_info },
	{ "add", "NAME PATH", "add a directory of the host as a datastore", cmd_add },
	{ "remove", "NAME", "remove a datastore (its files stay)", cmd_remove },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_datastore = {
	.name = "datastore",
	.summary = "datastores of the host",
	.commands = datastore_commands,
};
