/* SPDX-License-Identifier: Apache-2.0 */
/* vireo task list | info | wait */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_OBJECT = 256 };
	static const struct option options[] = {
		{ "object", required_argument, NULL, OPT_OBJECT },
		{ NULL, 0, NULL, 0 },
	};
	const char *object = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt != OPT_OBJECT)
			return cli_usage_error("task list ", "bad option");
		object = optarg;
	}
	if (optind < argc)
		return cli_usage_error("task list ", "unexpected argument \"%s\"", argv[optind]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *escaped = object ? client_escape(object) : NULL;
	_cleanup_free_ char *path = object ? xasprintf("/api/v1/tasks?object=%s", escaped)
					   : xstrdup("/api/v1/tasks");
	json_t *reply = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = { "ID", "DESCRIPTION", "STATE", "PROGRESS", "OBJECT",
					       "USER", "QUEUED", NULL };
	struct table *t = table_new(headers);
	size_t i;
	json_t *task;
	json_array_foreach(json_object_get(reply, "tasks"), i, task) {
		_cleanup_free_ char *pct =
			xasprintf("%lld%%", (long long)json_get_int(task, "progress", 0));
		const char *cells[] = {
			json_get_string(task, "id", NULL),
			json_get_string(task, "description", NULL),
			json_get_string(task, "state", NULL),
			pct,
			json_get_string(task, "object", NULL),
			json_get_string(task, "user", NULL),
			json_get_string(task, "queued", NULL),
		};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static void print_field(const char *label, const char *value)
{
	if (value)
		printf("%-13s %s\n", label, value);
}

static int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("task info ", "expected one task id");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *escaped = client_escape(argv[1]);
	_cleanup_free_ char *path = xasprintf("/api/v1/tasks/%s", escaped);
	json_t *task = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &task, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(task);
		json_decref(task);
		return CLI_EXIT_OK;
	}
	_cleanup_free_ char *pct =
		xasprintf("%lld%%", (long long)json_get_int(task, "progress", 0));
	print_field("ID:", json_get_string(task, "id", NULL));
	print_field("Description:", json_get_string(task, "description", NULL));
	print_field("State:", json_get_string(task, "state", NULL));
	print_field("Progress:", pct);
	print_field("Object:", json_get_string(task, "object", NULL));
	print_field("User:", json_get_string(task, "user", NULL));
	print_field("Queued:", json_get_string(task, "queued", NULL));
	print_field("Started:", json_get_string(task, "started", NULL));
	print_field("Finished:", json_get_string(task, "finished", NULL));
	print_field("Error:", json_get_string(task, "error", NULL));
	const json_t *result = json_object_get(task, "result");
	if (result) {
		_cleanup_free_ char *text = json_dump_compact(result);
		print_field("Result:", text);
	}
	json_decref(task);
	return CLI_EXIT_OK;
}

static int cmd_wait(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("task wait ", "expected one task id");
	json_t *task = NULL;
	int r = cli_task_follow(ctx, argv[1], &task);
	if (r == CLI_EXIT_OK && !ctx->json) {
		const json_t *result = json_object_get(task, "result");
		_cleanup_free_ char *text = result ? json_dump_compact(result) : NULL;
		printf("%s: %s%s%s\n", json_get_string(task, "description", argv[1]),
		       json_get_string(task, "state", "?"), text ? " " : "", text ? text : "");
	}
	json_decref(task);
	return r;
}

static const struct cli_command task_commands[] = {
	{ "list", "[--object ID]", "list the recent tasks of the host (of one object)", cmd_list },
	{ "info", "ID", "show a task", cmd_info },
	{ "wait", "ID", "follow a task until it ends; fails when the task fails", cmd_wait },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_task = {
	.name = "task",
	.summary = "tasks of the host",
	.commands = task_commands,
};
