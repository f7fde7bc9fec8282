/* SPDX-License-Identifier: Apache-2.0 */
/* vireo snapshot list | create | revert | delete | consolidate | check */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/util.h"

enum {
	OPT_DESCRIPTION = 1000,
	OPT_MEMORY,
	OPT_QUIESCE,
	OPT_ALL,
	OPT_REPAIR,
	OPT_NO_WAIT,
};

static char *snap_path(const char *vm, const char *snap, const char *suffix)
{
	_cleanup_free_ char *v = client_escape(vm);
	if (!snap)
		return xasprintf("/api/v1/vms/%s/snapshots%s", v, suffix ? suffix : "");
	_cleanup_free_ char *s = client_escape(snap);
	return xasprintf("/api/v1/vms/%s/snapshots/%s%s", v, s, suffix ? suffix : "");
}

/* Parses the options every command shares plus its own; fills operands[]. */
static int parse(int argc, char **argv, const struct option *opts, size_t want_operands,
		 const char **operands, int (*on_opt)(int opt, void *), void *opaque)
{
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == '?' || !on_opt || on_opt(opt, opaque) < 0)
			return cli_usage_error(argv[0], "bad option");
	}
	if ((size_t)(argc - optind) != want_operands)
		return cli_usage_error(argv[0], "expected %zu operand%s", want_operands,
				       want_operands == 1 ? "" : "s");
	for (size_t i = 0; i < want_operands; i++)
		operands[i] = argv[optind + (int)i];
	return 0;
}

static void print_tree(const json_t *list, json_int_t current, int depth, struct table *t)
{
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s)
	{
		json_int_t uid = json_integer_value(json_object_get(s, "uid"));
		char uidtxt[24];
		snprintf(uidtxt, sizeof(uidtxt), "%lld", (long long)uid);
		_cleanup_free_ char *name = xasprintf("%*s%s%s", depth * 2, "",
						      json_string_value(json_object_get(s, "name")),
						      uid == current ? "  <- current" : "");
		const char *cells[] = {uidtxt, name,
				       json_string_value(json_object_get(s, "created")),
				       json_is_true(json_object_get(s, "memory")) ? "yes" : "no",
				       NULL};
		table_add_row(t, cells);
		print_tree(json_object_get(s, "children"), current, depth + 1, t);
	}
}

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{NULL, 0, NULL, 0}};
	const char *vm = NULL;
	int r = parse(argc, argv, opts, 1, &vm, NULL, NULL);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = snap_path(vm, NULL, NULL);
	json_t *reply = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
	} else if (json_integer_value(json_object_get(reply, "count")) == 0) {
		printf("VM %s has no snapshots.\n", vm);
	} else {
		const char *headers[] = {"UID", "NAME", "CREATED", "MEMORY", NULL};
		struct table *t = table_new(headers);
		json_t *cur = json_object_get(reply, "current");
		print_tree(json_object_get(reply, "snapshots"), json_is_integer(cur) ? json_integer_value(cur) : -1,
			   0, t);
		table_print(t, stdout);
		table_free(t);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

struct create_opts {
	const char *description;
	bool memory, quiesce, no_wait;
};

static int create_opt(int opt, void *opaque)
{
	struct create_opts *o = opaque;
	switch (opt) {
	case OPT_DESCRIPTION:
		o->description = optarg;
		return 0;
	case OPT_MEMORY:
		o->memory = true;
		return 0;
	case OPT_QUIESCE:
		o->quiesce = true;
		return 0;
	case OPT_NO_WAIT:
		o->no_wait = true;
		return 0;
	}
	return -1;
}

/* Sends a request answered by a task and follows it. */
static int run_task(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
		    bool no_wait, const char *done)
{
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL, *task = NULL;
	if (client_request(client, method, path, body, NULL, &reply, &err) < 0)
		return cli_fail(err);
	int r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json && done)
		printf("%s\n", done);
	json_decref(task);
	return r;
}

static int cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"description", required_argument, NULL, OPT_DESCRIPTION},
		{"memory", no_argument, NULL, OPT_MEMORY},
		{"quiesce", no_argument, NULL, OPT_QUIESCE},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	struct create_opts o = {0};
	const char *ops[2];
	int r = parse(argc, argv, opts, 2, ops, create_opt, &o);
	if (r)
		return r;
	json_t *body = json_pack("{s:s, s:b, s:b}", "name", ops[1], "memory", o.memory, "quiesce",
				 o.quiesce);
	if (o.description)
		json_object_set_new(body, "description", json_string(o.description));
	_cleanup_free_ char *path = snap_path(ops[0], NULL, NULL);
	_cleanup_free_ char *done = xasprintf("Snapshot \"%s\" of VM %s taken.", ops[1], ops[0]);
	r = run_task(ctx, "POST", path, body, o.no_wait, done);
	json_decref(body);
	return r;
}

static int no_wait_opt(int opt, void *opaque)
{
	if (opt != OPT_NO_WAIT)
		return -1;
	*(bool *)opaque = true;
	return 0;
}

static int cmd_revert(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	bool no_wait = false;
	const char *ops[2];
	int r = parse(argc, argv, opts, 2, ops, no_wait_opt, &no_wait);
	if (r)
		return r;
	_cleanup_free_ char *path = snap_path(ops[0], ops[1], "/revert");
	_cleanup_free_ char *done = xasprintf("VM %s reverted to snapshot \"%s\".", ops[0], ops[1]);
	return run_task(ctx, "POST", path, NULL, no_wait, done);
}

struct delete_opts {
	bool all, no_wait;
};

static int delete_opt(int opt, void *opaque)
{
	struct delete_opts *o = opaque;
	if (opt == OPT_ALL)
		o->all = true;
	else if (opt == OPT_NO_WAIT)
		o->no_wait = true;
	else
		return -1;
	return 0;
}

static int cmd_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, OPT_ALL},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	struct delete_opts o = {0};
	const char *ops[2] = {NULL, NULL};
	/* Either VM SNAPSHOT or VM --all. */
	int r = parse(argc, argv, opts, 2, ops, delete_opt, &o);
	if (r && o.all && argc - optind == 1) {
		ops[0] = argv[optind];
		r = 0;
	} else if (!r && o.all) {
		return cli_usage_error(argv[0], "--all takes no snapshot operand");
	}
	if (r)
		return r;
	_cleanup_free_ char *path = snap_path(ops[0], o.all ? NULL : ops[1], NULL);
	_cleanup_free_ char *done = o.all ? xasprintf("All snapshots of VM %s deleted.", ops[0])
					  : xasprintf("Snapshot \"%s\" of VM %s deleted.", ops[1],
						      ops[0]);
	return run_task(ctx, "DELETE", path, NULL, o.no_wait, done);
}

static int cmd_consolidate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	bool no_wait = false;
	const char *vm = NULL;
	int r = parse(argc, argv, opts, 1, &vm, no_wait_opt, &no_wait);
	if (r)
		return r;
	_cleanup_free_ char *path = snap_path(vm, NULL, "/consolidate");
	_cleanup_free_ char *done = xasprintf("Disks of VM %s consolidated.", vm);
	return run_task(ctx, "POST", path, NULL, no_wait, done);
}

static int repair_opt(int opt, void *opaque)
{
	if (opt != OPT_REPAIR)
		return -1;
	*(bool *)opaque = true;
	return 0;
}

static int cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"repair", no_argument, NULL, OPT_REPAIR},
		{NULL, 0, NULL, 0},
	};
	bool repair = false;
	const char *vm = NULL;
	int r = parse(argc, argv, opts, 1, &vm, repair_opt, &repair);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = snap_path(vm, NULL, "/check");
	json_t *body = json_pack("{s:b}", "repair", repair);
	json_t *reply = NULL, *task = NULL;
	if (client_request(client, "POST", path, body, NULL, &reply, &err) < 0) {
		json_decref(body);
		return cli_fail(err);
	}
	json_decref(body);
	bool quiet = ctx->json;
	ctx->json = false; /* the report is printed below */
	r = cli_task_started(ctx, reply, false, &task);
	ctx->json = quiet;
	json_decref(reply);
	if (r != CLI_EXIT_OK) {
		json_decref(task);
		return r;
	}
	json_t *report = json_object_get(task, "result");
	bool ok = json_is_true(json_object_get(report, "ok"));
	if (quiet) {
		output_json(report);
	} else {
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(report, "problems"), i, p)
			printf("problem: %s\n", json_string_value(p));
		json_array_foreach(json_object_get(report, "repaired"), i, p)
			printf("repaired: %s\n", json_string_value(p));
		printf("%s\n", ok ? "VM's snapshots and disks are consistent."
				  : "VM's snapshots and disks are not consistent.");
	}
	json_decref(task);
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

static const struct cli_command snapshot_commands[] = {
	{"list", "VM", "show a VM's snapshot tree", cmd_list},
	{"create", "VM NAME [--description TEXT] [--memory] [--quiesce] [--no-wait]",
	 "take a snapshot (--memory: with the running VM's memory)", cmd_create},
	{"revert", "VM SNAPSHOT [--no-wait]", "go back to a snapshot (name or uid)", cmd_revert},
	{"delete", "VM SNAPSHOT | VM --all [--no-wait]",
	 "delete a snapshot, its data merged into what remains", cmd_delete},
	{"consolidate", "VM [--no-wait]", "merge delta files no snapshot needs", cmd_consolidate},
	{"check", "VM [--repair]", "check (and repair) that snapshots and disks agree", cmd_check},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_snapshot = {
	.name = "snapshot",
	.summary = "VM snapshots",
	.commands = snapshot_commands,
};
