/* SPDX-License-Identifier: Apache-2.0 */
/* vireo import register | convert | ovf: bringing VMs in from VMware. */
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
	OPT_NO_WAIT = 1000,
};

static int parse_no_wait(int argc, char **argv, size_t want, const char **operands,
			 bool *no_wait)
{
	static const struct option opts[] = {
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != OPT_NO_WAIT)
			return cli_usage_error(argv[0], "bad option");
		*no_wait = true;
	}
	if ((size_t)(argc - optind) != want)
		return cli_usage_error(argv[0], "expected %zu operand%s", want, want == 1 ? "" : "s");
	for (size_t i = 0; i < want; i++)
		operands[i] = argv[optind + (int)i];
	return 0;
}

/* A VMware folder as it is: its disks are checked before anything is registered. */
static int cmd_register(struct cli_ctx *ctx, int argc, char **argv)
{
	bool no_wait = false;
	const char *ops[2];
	int r = parse_no_wait(argc, argv, 2, ops, &no_wait);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = json_pack("{s:s,s:s}", "datastore", ops[0], "path", ops[1]);
	json_t *reply = NULL;
	r = client_request(client, "POST", "/api/v1/vms/register", body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("Registered VM %s (%s); its disks were checked.\n",
		       json_get_string(reply, "name", "(invalid)"), json_get_string(reply, "id", "?"));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_convert(struct cli_ctx *ctx, int argc, char **argv)
{
	bool no_wait = false;
	const char *vm = NULL;
	int r = parse_no_wait(argc, argv, 1, &vm, &no_wait);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *v = client_escape(vm);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/disks/convert", v);
	json_t *body = json_pack("{s:s}", "format", "qcow2");
	json_t *reply = NULL, *task = NULL;
	r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json) {
		json_t *disks = json_object_get(json_object_get(task, "result"), "disks");
		size_t i;
		json_t *d;
		if (json_array_size(disks) == 0)
			printf("VM %s has no disk to convert.\n", vm);
		json_array_foreach(disks, i, d)
		printf("%s: %s (%s) -> %s\n", json_get_string(d, "slot", "?"),
		       json_get_string(d, "old_file", "?"), json_get_string(d, "old_format", "?"),
		       json_get_string(d, "new_file", "?"));
	}
	json_decref(task);
	return r;
}

/* An OVF/OVA package on a datastore, as a new VM. */
static int cmd_ovf(struct cli_ctx *ctx, int argc, char **argv)
{
	bool no_wait = false;
	const char *ops[3];
	int r = parse_no_wait(argc, argv, 3, ops, &no_wait);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = json_pack("{s:s,s:s,s:s}", "datastore", ops[0], "source", ops[1], "name",
				 ops[2]);
	json_t *reply = NULL, *task = NULL;
	r = client_request(client, "POST", "/api/v1/vms/import", body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json) {
		json_t *res = json_object_get(task, "result");
		printf("Imported VM %s (%s) from [%s] %s.\n", json_get_string(res, "name", ops[2]),
		       json_get_string(res, "id", "?"), ops[0], ops[1]);
	}
	json_decref(task);
	return r;
}

static const struct cli_command import_commands[] = {
	{"register", "DATASTORE PATH/NAME.vmx",
	 "register a VMware VM folder as it is (its VMDK disks are checked)", cmd_register},
	{"convert", "VM [--no-wait]",
	 "convert a powered-off VM's VMDK and raw disks to qcow2 (no snapshots)", cmd_convert},
	{"ovf", "DATASTORE SOURCE.ova|SOURCE.ovf NAME [--no-wait]",
	 "import an OVF/OVA package as a new VM (digests verified, disks to qcow2)", cmd_ovf},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_import = {
	.name = "import",
	.summary = "bring VMs in from VMware",
	.commands = import_commands,
};

/* vireo export VM DATASTORE PATH [--ovf]: a powered-off VM to an OVA (or OVF folder). */
static int cmd_export(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_OVF = 1001 };
	static const struct option opts[] = {
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{"ovf", no_argument, NULL, OPT_OVF},
		{NULL, 0, NULL, 0},
	};
	bool no_wait = false, ovf = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_NO_WAIT)
			no_wait = true;
		else if (opt == OPT_OVF)
			ovf = true;
		else
			return cli_usage_error(argv[0], "bad option");
	}
	if (argc - optind != 3)
		return cli_usage_error(argv[0], "expected VM DATASTORE PATH");
	const char *vm = argv[optind], *ds = argv[optind + 1], *path = argv[optind + 2];
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *v = client_escape(vm);
	_cleanup_free_ char *url = xasprintf("/api/v1/vms/%s/export", v);
	json_t *body = json_pack("{s:s,s:s,s:s}", "datastore", ds, "path", path, "format",
				 ovf ? "ovf" : "ova");
	json_t *reply = NULL, *task = NULL;
	int r = client_request(client, "POST", url, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json)
		printf("Exported VM %s to [%s] %s.\n", vm, ds, path);
	json_decref(task);
	return r;
}

static const struct cli_command export_commands[] = {
	{"export", "VM DATASTORE PATH.ova|PATH.ovf [--ovf] [--no-wait]",
	 "export a powered-off VM to an OVA archive (or, with --ovf, an OVF folder)", cmd_export},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_export = {
	.name = NULL,
	.summary = "OVF/OVA export",
	.commands = export_commands,
};
