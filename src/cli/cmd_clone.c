/* SPDX-License-Identifier: Apache-2.0 */
/* vireo clone | template: clones of VMs and templates (top-level commands). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

enum {
	OPT_LINKED = 1000,
	OPT_SNAPSHOT,
	OPT_DATASTORE,
	OPT_POWER_ON,
	OPT_NO_WAIT,
	OPT_TARGET,
	OPT_FOLDER,
};

static int cmd_clone(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"linked", no_argument, NULL, OPT_LINKED},
		{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
		{"datastore", required_argument, NULL, OPT_DATASTORE},
		{"power-on", no_argument, NULL, OPT_POWER_ON},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{"target", required_argument, NULL, OPT_TARGET},
		{"folder", required_argument, NULL, OPT_FOLDER},
		{NULL, 0, NULL, 0},
	};
	bool linked = false, power_on = false, no_wait = false;
	const char *snapshot = NULL, *datastore = NULL, *target = NULL, *folder = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_LINKED:
			linked = true;
			break;
		case OPT_SNAPSHOT:
			snapshot = optarg;
			break;
		case OPT_DATASTORE:
			datastore = optarg;
			break;
		case OPT_POWER_ON:
			power_on = true;
			break;
		case OPT_NO_WAIT:
			no_wait = true;
			break;
		case OPT_TARGET:
			target = optarg;
			break;
		case OPT_FOLDER:
			folder = optarg;
			break;
		default:
			return cli_usage_error(argv[0], "bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(argv[0], "expected the source VM and the new VM's name");
	if (snapshot && !linked)
		return cli_usage_error(argv[0], "--snapshot is for linked clones (--linked)");
	const char *src = argv[optind], *name = argv[optind + 1];
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	json_t *body = json_pack("{s:s}", "name", name);
	if (linked)
		json_object_set_new(body, "linked", json_true());
	if (power_on)
		json_object_set_new(body, "power_on", json_true());
	if (snapshot)
		json_object_set_new(body, "snapshot", json_string(snapshot));
	if (datastore)
		json_object_set_new(body, "datastore", json_string(datastore));
	if (target)
		json_object_set_new(body, "target", json_string(target));
	if (folder)
		json_object_set_new(body, "folder", json_string(folder));
	_cleanup_free_ char *esc = client_escape(src);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/clone", esc);
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL, *task = NULL;
	int r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json) {
		/* hostd says the id; center the inventory object, uuid and where it went. */
		json_t *res = json_object_get(task, "result");
		const char *id = json_get_string(res, "id", json_get_string(res, "uuid", "?"));
		const char *host = json_get_string(res, "host", NULL);
		const char *ds = json_get_string(res, "datastore", NULL);
		printf("%s clone \"%s\" of VM %s created (id %s)%s%s%s%s%s.\n",
		       linked ? "Linked" : "Full", name, src, id, host ? " on " : "", host ? host : "",
		       ds ? ", datastore " : "", ds ? ds : "", power_on ? " and powered on" : "");
	}
	json_decref(task);
	return r;
}

static int cmd_template(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{NULL, 0, NULL, 0}};
	if (getopt_long(argc, argv, "", opts, NULL) != -1)
		return cli_usage_error(argv[0], "bad option");
	if (argc - optind != 2)
		return cli_usage_error(argv[0], "expected a VM and on or off");
	const char *vm = argv[optind], *state = argv[optind + 1];
	bool on;
	if (strcmp(state, "on") == 0)
		on = true;
	else if (strcmp(state, "off") == 0)
		on = false;
	else
		return cli_usage_error(argv[0], "\"%s\" is not on or off", state);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_free_ char *esc = client_escape(vm);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/template", esc);
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = json_pack("{s:b}", "template", on), *reply = NULL;
	int r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf(on ? "VM %s is now a template.\n" : "Template %s is now a VM.\n", vm);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static const struct cli_command clone_commands[] = {
	{"clone",
	 "SRC NEW [--linked [--snapshot S]] [--datastore DS] [--power-on] [--no-wait] "
	 "[--target CLUSTER|POOL|HOST] [--folder VM-FOLDER]",
	 "clone a VM or template (full copy, or --linked on a snapshot)", cmd_clone},
	{"template", "VM on|off", "convert a powered-off VM to a template, or back", cmd_template},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_clone = {
	.name = NULL,
	.summary = "clones and templates",
	.commands = clone_commands,
};
