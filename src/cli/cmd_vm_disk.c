/* SPDX-License-Identifier: Apache-2.0 */
/* vireo vm disk-list | disk-grow | disk-add | disk-attach | disk-remove: a VM's virtual disks. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

/* The largest disk: 64 TiB. */
#define MAX_DISK_MIB (64ull * 1024 * 1024)

enum {
	OPT_NO_WAIT = 256,
	OPT_SLOT,
	OPT_MODE,
	OPT_FORMAT,
	OPT_DELETE_FILE,
};

static char *disks_path(const char *vm, const char *suffix)
{
	_cleanup_free_ char *escaped = client_escape(vm);
	return xasprintf("/api/v1/vms/%s/disks%s", escaped, suffix ? suffix : "");
}

/* Like cli_fail(), naming the VM when the server's message does not. */
static int disk_fail(const char *vm, const struct vr_error *err)
{
	const char *msg = vr_error_msg(err);
	if (strstr(msg, vm))
		return cli_fail(err);
	fprintf(stderr, "vireo: VM \"%s\": %s\n", vm, msg);
	return CLI_EXIT_FAILED;
}

int cli_vm_disk_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("vm disk-list ", "expected one VM (name or id)");
	const char *vm = argv[1];
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = disks_path(vm, NULL);
	json_t *reply = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &reply, &err) < 0)
		return disk_fail(vm, err);
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"SLOT",	   "DEVICE", "FORMAT", "CAPACITY",
					      "ALLOCATED", "TYPE",   "CHAIN",  "FILE",
					      NULL};
	struct table *t = table_new(headers);
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(reply, "disks"), i, d) {
		_cleanup_free_ char *cap = output_bytes(d, "capacity_bytes");
		_cleanup_free_ char *alloc = output_bytes(d, "allocated_bytes");
		_cleanup_free_ char *chain =
			json_object_get(d, "chain_length")
				? xasprintf("%lld", (long long)json_get_int(d, "chain_length", 1))
				: NULL;
		const char *error = json_get_string(d, "error", NULL);
		const char *cells[] = {
			json_get_string(d, "slot", NULL),
			json_get_string(d, "device", NULL),
			json_get_string(d, "format", NULL),
			cap,
			alloc,
			error ? "unreadable" : json_get_string(d, "provisioning", NULL),
			chain,
			json_get_string(d, "file", NULL),
		};
		table_add_row(t, cells);
		if (error)
			fprintf(stderr, "vireo: disk %s: %s\n", json_get_string(d, "slot", "?"), error);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

int cli_vm_disk_grow(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "vm disk-grow ";
	bool no_wait = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == OPT_NO_WAIT)
			no_wait = true;
		else
			return cli_usage_error(cmd, "bad option");
	}
	if (optind + 3 != argc)
		return cli_usage_error(cmd, "expected a VM, a disk slot (e.g. scsi0:1) and the new "
					    "size in MiB");
	const char *vm = argv[optind], *slot = argv[optind + 1], *size = argv[optind + 2];
	uint64_t mib;
	if (parse_u64(size, 1, MAX_DISK_MIB, &mib) < 0)
		return cli_usage_error(cmd, "size \"%s\" is not a whole number of MiB from 1 to %llu",
				       size, (unsigned long long)MAX_DISK_MIB);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *escaped = client_escape(slot);
	_cleanup_free_ char *suffix = xasprintf("/%s/grow", escaped);
	_cleanup_free_ char *path = disks_path(vm, suffix);
	json_t *body = json_pack("{s:I}", "size_mib", (json_int_t)mib);
	json_t *reply = NULL;
	int r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return disk_fail(vm, err);
	json_t *task = NULL;
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json) {
		const json_t *res = json_object_get(task, "result");
		printf("Disk %s of VM %s is now %llu MiB%s.\n", slot, vm, (unsigned long long)mib,
		       json_get_bool(res, "online", false) ? " (grown while running)" : "");
	}
	json_decref(task);
	return r;
}

/* Sends the request that starts a disk task and follows it; *task: the finished task. */
static int disk_task(struct cli_ctx *ctx, const char *vm, const char *method, const char *path,
		     json_t *body, bool no_wait, json_t **task)
{
	*task = NULL;
	struct vireo_client *client = cli_client(ctx);
	if (!client) {
		json_decref(body);
		return CLI_EXIT_FAILED;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	int r = client_request(client, method, path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return disk_fail(vm, err);
	r = cli_task_started(ctx, reply, no_wait, task);
	json_decref(reply);
	return r;
}

static void print_added(struct cli_ctx *ctx, const char *vm, int r, bool no_wait, json_t *task)
{
	if (r != CLI_EXIT_OK || no_wait || ctx->json)
		return;
	const json_t *res = json_object_get(task, "result");
	printf("Disk %s (%s) added to VM %s%s.\n", json_get_string(res, "slot", "?"),
	       json_get_string(res, "file", "?"), vm,
	       json_get_bool(res, "online", false) ? " while running" : "");
}

/* Options shared by disk-add and disk-attach, into body. */
static int add_options(const char *cmd, int argc, char **argv, bool with_format, json_t *body,
		       bool *no_wait)
{
	static const struct option options[] = {
		{"slot", required_argument, NULL, OPT_SLOT},
		{"mode", required_argument, NULL, OPT_MODE},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SLOT:
			json_object_set_new(body, "slot", json_string(optarg));
			break;
		case OPT_MODE:
			if (strcmp(optarg, "persistent") != 0 &&
			    strcmp(optarg, "independent-persistent") != 0 &&
			    strcmp(optarg, "independent-nonpersistent") != 0)
				return cli_usage_error(cmd,
						       "--mode must be persistent, independent-persistent "
						       "or independent-nonpersistent, not \"%s\"",
						       optarg);
			json_object_set_new(body, "mode", json_string(optarg));
			break;
		case OPT_FORMAT:
			if (!with_format)
				return cli_usage_error(cmd, "bad option");
			json_object_set_new(body, "format", json_string(optarg));
			break;
		case OPT_NO_WAIT:
			*no_wait = true;
			break;
		default:
			return cli_usage_error(cmd, "bad option");
		}
	}
	return 0;
}

int cli_vm_disk_add(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *cmd = "vm disk-add ";
	bool no_wait = false;
	json_t *body = json_object();
	int r = add_options(cmd, argc, argv, false, body, &no_wait);
	if (r) {
		json_decref(body);
		return r;
	}
	if (optind + 2 != argc) {
		json_decref(body);
		return cli_usage_error(cmd, "expected a VM and SIZE_MIB[:qcow2|raw]"
					    "[:thin|thick-lazy|thick-eager]");
	}
	const char *vm = argv[optind], *spec = argv[optind + 1];
	_cleanup_free_ char *copy = xstrdup(spec);
	char *rest = strchr(copy, ':');
	if (rest)
		*rest++ = '\0';
	uint64_t mib;
	if (parse_u64(copy, 1, MAX_DISK_MIB, &mib) < 0) {
		json_decref(body);
		return cli_usage_error(cmd, "size \"%s\" is not a whole number of MiB from 1 to %llu",
				       copy, (unsigned long long)MAX_DISK_MIB);
	}
	json_object_set_new(body, "size_mib", json_integer((json_int_t)mib));
	char *save = NULL;
	for (char *part = rest ? strtok_r(rest, ":", &save) : NULL; part;
	     part = strtok_r(NULL, ":", &save)) {
		const char *key = NULL;
		if (strcmp(part, "qcow2") == 0 || strcmp(part, "raw") == 0)
			key = "format";
		else if (strcmp(part, "thin") == 0 || strcmp(part, "thick-lazy") == 0 ||
			 strcmp(part, "thick-eager") == 0)
			key = "provisioning";
		if (!key || json_object_get(body, key)) {
			json_decref(body);
			return cli_usage_error(cmd,
					       "\"%s\": \"%s\" is not a format (qcow2, raw) or a "
					       "provisioning (thin, thick-lazy, thick-eager), or is given "
					       "twice",
					       spec, part);
		}
		json_object_set_new(body, key, json_string(part));
	}
	_cleanup_free_ char *path = disks_path(vm, NULL);
	json_t *task = NULL;
	r = disk_task(ctx, vm, "POST", path, body, no_wait, &task);
	print_added(ctx, vm, r, no_wait, task);
	json_decref(task);
	return r;
}

int cli_vm_disk_attach(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *cmd = "vm disk-attach ";
	bool no_wait = false;
	json_t *body = json_object();
	int r = add_options(cmd, argc, argv, true, body, &no_wait);
	if (r) {
		json_decref(body);
		return r;
	}
	if (optind + 2 != argc) {
		json_decref(body);
		return cli_usage_error(cmd, "expected a VM and a disk file (relative to the VM "
					    "folder, or an absolute path on a datastore)");
	}
	const char *vm = argv[optind];
	json_object_set_new(body, "file", json_string(argv[optind + 1]));
	_cleanup_free_ char *path = disks_path(vm, NULL);
	json_t *task = NULL;
	r = disk_task(ctx, vm, "POST", path, body, no_wait, &task);
	print_added(ctx, vm, r, no_wait, task);
	json_decref(task);
	return r;
}

int cli_vm_disk_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{"delete-file", no_argument, NULL, OPT_DELETE_FILE},
		{"no-wait", no_argument, NULL, OPT_NO_WAIT},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "vm disk-remove ";
	bool no_wait = false, delete_file = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == OPT_NO_WAIT)
			no_wait = true;
		else if (opt == OPT_DELETE_FILE)
			delete_file = true;
		else
			return cli_usage_error(cmd, "bad option");
	}
	if (optind + 2 != argc)
		return cli_usage_error(cmd, "expected a VM and a disk slot (e.g. scsi0:1)");
	const char *vm = argv[optind], *slot = argv[optind + 1];
	_cleanup_free_ char *escaped = client_escape(slot);
	_cleanup_free_ char *suffix =
		xasprintf("/%s?delete_file=%s", escaped, delete_file ? "true" : "false");
	_cleanup_free_ char *path = disks_path(vm, suffix);
	json_t *task = NULL;
	int r = disk_task(ctx, vm, "DELETE", path, NULL, no_wait, &task);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json) {
		const json_t *res = json_object_get(task, "result");
		printf("Disk %s removed from VM %s%s%s.\n", slot, vm,
		       json_get_bool(res, "online", false) ? " while running" : "",
		       json_get_int(res, "files_deleted", 0) > 0 ? "; its file was deleted" : "");
	}
	json_decref(task);
	return r;
}
