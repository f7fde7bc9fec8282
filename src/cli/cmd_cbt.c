/* SPDX-License-Identifier: Apache-2.0 */
/* vireo cbt enable | disable | changes: changed-block tracking for incremental backup. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/util.h"

enum {
	OPT_SINCE = 1000,
};

static int set_enabled(struct cli_ctx *ctx, int argc, char **argv, bool enabled)
{
	if (argc != 2)
		return cli_usage_error(argv[0], "expected 1 operand (the VM)");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *v = client_escape(argv[1]);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/cbt", v);
	json_t *body = json_pack("{s:b}", "enabled", enabled);
	json_t *reply = NULL;
	int r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("Changed-block tracking %s on VM \"%s\".\n", enabled ? "enabled" : "disabled",
		       argv[1]);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_enable(struct cli_ctx *ctx, int argc, char **argv)
{
	return set_enabled(ctx, argc, argv, true);
}

static int cmd_disable(struct cli_ctx *ctx, int argc, char **argv)
{
	return set_enabled(ctx, argc, argv, false);
}

static int cmd_changes(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"since", required_argument, NULL, OPT_SINCE},
		{NULL, 0, NULL, 0},
	};
	const char *since = "*";
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != OPT_SINCE)
			return cli_usage_error(argv[0], "bad option");
		since = optarg;
	}
	if (argc - optind != 2)
		return cli_usage_error(argv[0], "expected 2 operands (VM and disk slot)");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *v = client_escape(argv[optind]);
	_cleanup_free_ char *s = client_escape(argv[optind + 1]);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/disks/%s/changes", v, s);
	json_t *body = json_pack("{s:s}", "since", since);
	json_t *reply = NULL;
	int r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
	} else {
		json_t *ext = json_object_get(reply, "extents");
		uint64_t total = 0;
		size_t i;
		json_t *e;
		json_array_foreach(ext, i, e) {
			uint64_t off = (uint64_t)json_integer_value(json_object_get(e, "offset"));
			uint64_t len = (uint64_t)json_integer_value(json_object_get(e, "length"));
			printf("%" PRIu64 " %" PRIu64 "\n", off, len);
			total += len;
		}
		printf("change ID: %s\n%zu extent(s), %" PRIu64 " bytes%s\n",
		       json_string_value(json_object_get(reply, "change_id")), json_array_size(ext),
		       total,
		       json_is_true(json_object_get(reply, "full_copy_needed"))
			       ? "; FULL COPY NEEDED: the change ID could not be honoured"
			       : "");
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static const struct cli_command cbt_commands[] = {
	{"enable", "VM", "track changed blocks of the VM's disks (qcow2)", cmd_enable},
	{"disable", "VM", "stop tracking changed blocks", cmd_disable},
	{"changes", "VM SLOT [--since CHANGE_ID]",
	 "areas of disk SLOT (e.g. scsi0:0) written since a change ID (default: all allocated)",
	 cmd_changes},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_cbt = {
	.name = "cbt",
	.summary = "changed-block tracking (incremental backup)",
	.commands = cbt_commands,
};
