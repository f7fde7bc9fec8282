/* SPDX-License-Identifier: Apache-2.0 */
/* Following the host's tasks from the CLI: polling, progress, outcome. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

/* How long one poll lets the server wait for the task to change. */
#define TASK_POLL_WAIT_MS 1000

/* hostd says success/error, center succeeded/failed. */
static bool task_succeeded(const char *state)
{
	return strcmp(state, "success") == 0 || strcmp(state, "succeeded") == 0;
}

static bool task_ended(const char *state)
{
	return task_succeeded(state) || strcmp(state, "error") == 0 ||
	       strcmp(state, "failed") == 0;
}

int cli_task_follow(struct cli_ctx *ctx, const char *task_id, json_t **task_out)
{
	if (task_out)
		*task_out = NULL;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_free_ char *escaped = client_escape(task_id);
	_cleanup_free_ char *path =
		xasprintf("/api/v1/tasks/%s?wait_ms=%d", escaped, TASK_POLL_WAIT_MS);
	bool show_progress = !ctx->json;
	bool bar_open = false; /* a terminal bar without its final newline */
	json_t *task = NULL;
	for (;;) {
		_cleanup_error_ struct vr_error *err = NULL;
		json_t *t = NULL;
		if (client_request(client, "GET", path, NULL, NULL, &t, &err) < 0) {
			if (bar_open)
				fputc('\n', stderr);
			json_decref(task);
			return cli_fail(err);
		}
		json_decref(task);
		task = t;
		const char *state = json_get_string(task, "state", "");
		const char *label = json_get_string(task, "description", task_id);
		if (task_ended(state))
			break;
		if (show_progress) {
			int pct = (int)json_get_int(task, "progress", 0);
			progress_draw(label, pct >= 100 ? 99 : pct);
			bar_open = isatty(STDERR_FILENO);
		}
	}

	const char *label = json_get_string(task, "description", task_id);
	bool ok = task_succeeded(json_get_string(task, "state", ""));
	if (show_progress) {
		if (ok)
			progress_draw(label, 100);
		else if (bar_open)
			fputc('\n', stderr);
	}
	if (ctx->json)
		output_json(task);
	if (!ok)
		fprintf(stderr, "vireo: %s failed: %s\n", label,
			json_get_string(task, "error", "unknown error"));
	if (task_out)
		*task_out = task;
	else
		json_decref(task);
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

int cli_task_started(struct cli_ctx *ctx, json_t *reply, bool no_wait, json_t **task_out)
{
	if (task_out)
		*task_out = NULL;
	const char *id = json_get_string(reply, "task", NULL);
	if (!id) {
		fprintf(stderr, "vireo: the server's reply names no task\n");
		return CLI_EXIT_FAILED;
	}
	if (no_wait) {
		if (ctx->json)
			output_json(reply);
		else
			printf("%s\n", id);
		return CLI_EXIT_OK;
	}
	return cli_task_follow(ctx, id, task_out);
}
