/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo vm list | info | create | register | unregister | delete |
 * power-on | power-off | reset | shutdown | reboot | suspend | resume |
 * continue | reconfigure | guest  (console, console-log: cmd_vm_console.c;
 * disk-list, disk-grow, disk-add, disk-attach, disk-remove: cmd_vm_disk.c)
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/vm_resources.h"
#include "cli/vm_nic.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmconfig.h"

#define MAX_DISK_MIB (64ull * 1024 * 1024)

enum {
	OPT_NO_WAIT = 256,
	OPT_DATASTORE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_GUEST_OS,
	OPT_DISK,
	OPT_NIC,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_ACCEL,
	OPT_ANNOTATION,
	OPT_TIMEOUT,
	OPT_NIC_ADD,
	OPT_NIC_REMOVE,
	OPT_NIC_SET,
	OPT_TARGET,
	OPT_FOLDER,
};

/* "vm create " etc., for usage hints. */
static char *cmd_name(char **argv)
{
	return xasprintf("vm %s ", argv[0]);
}

/* Strict number of an option; on failure prints a usage error naming it. */
static int parse_number_opt(const char *cmd, const char *opt, const char *value, uint64_t min,
			    uint64_t max, uint64_t *out)
{
	if (parse_u64(value, min, max, out) < 0)
		return cli_usage_error(cmd, "%s \"%s\" is not a whole number from %llu to %llu",
				       opt, value, (unsigned long long)min,
				       (unsigned long long)max);
	return 0;
}

/* Like cli_fail(), naming the VM when the server's message does not (e.g. "not logged in"). */
static int vm_fail(const char *vm, const struct vr_error *err)
{
	const char *msg = vr_error_msg(err);
	if (strstr(msg, vm))
		return cli_fail(err);
	fprintf(stderr, "vireo: VM \"%s\": %s\n", vm, msg);
	return CLI_EXIT_FAILED;
}

static char *vm_path(const char *vm, const char *suffix)
{
	_cleanup_free_ char *escaped = client_escape(vm);
	return xasprintf("/api/v1/vms/%s%s", escaped, suffix ? suffix : "");
}

static char *format_mib(json_int_t mib)
{
	if (mib >= 1024 && mib % 1024 == 0)
		return xasprintf("%lld GiB", (long long)mib / 1024);
	return xasprintf("%lld MiB", (long long)mib);
}

/* Only the operand VM, plus --no-wait when allowed. Returns 0 or an exit code. */
static int parse_vm_operand(int argc, char **argv, bool allow_no_wait, bool *no_wait,
			    const char **vm)
{
	static const struct option options[] = {
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option no_options[] = { { NULL, 0, NULL, 0 } };
	_cleanup_free_ char *cmd = cmd_name(argv);
	int opt;
	while ((opt = getopt_long(argc, argv, "", allow_no_wait ? options : no_options, NULL)) !=
	       -1) {
		if (opt == OPT_NO_WAIT)
			*no_wait = true;
		else
			return cli_usage_error(cmd, "bad option");
	}
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "expected one VM (name or id)");
	*vm = argv[optind];
	return 0;
}

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("vm list ", "unexpected argument \"%s\"", argv[1]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", "/api/v1/vms", NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = { "NAME", "POWER", "CPUS", "MEMORY", "DATASTORE",
					       "ID", NULL };
	struct table *t = table_new(headers);
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(reply, "vms"), i, vm) {
		bool valid = !json_object_get(vm, "invalid");
		_cleanup_free_ char *cpus =
			valid ? xasprintf("%lld", (long long)json_get_int(vm, "vcpus", 0)) : NULL;
		_cleanup_free_ char *mem = valid ? format_mib(json_get_int(vm, "memory_mib", 0))
						 : NULL;
		_cleanup_free_ char *invalid_name =
			valid ? NULL
			      : xasprintf("(invalid) %s", json_get_string(vm, "path", "?"));
		const char *cells[] = {
			valid ? json_get_string(vm, "name", NULL) : invalid_name,
			json_get_string(vm, "power_state", NULL),
			cpus,
			mem,
			json_get_string(vm, "datastore", NULL),
			json_get_string(vm, "id", NULL),
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
		printf("%-14s %s\n", label, value);
}

static void print_vm_nics(const json_t *cfg)
{
	size_t i;
	json_t *d;
	const json_t *nics = json_object_get(cfg, "nics");
	printf("NICs:%s\n", json_array_size(nics) ? "" : "          none");
	json_array_foreach(nics, i, d) {
		const char *net = json_get_string(d, "network", NULL);
		printf("  ethernet%lld  %s  %s%s%s  %s%s\n", (long long)json_get_int(d, "index", 0),
		       json_get_string(d, "model", "?"), json_get_string(d, "connection", "?"),
		       net ? ":" : "", net ? net : "", json_get_string(d, "mac", "?"),
		       json_get_bool(d, "start_connected", true) ? "" : "  (starts disconnected)");
	}
}

static void print_vm_config(const json_t *cfg)
{
	_cleanup_free_ char *cpus = xasprintf("%lld (%lld per socket)",
					      (long long)json_get_int(cfg, "vcpus", 0),
					      (long long)json_get_int(cfg, "cores_per_socket", 1));
	_cleanup_free_ char *mem = format_mib(json_get_int(cfg, "memory_mib", 0));
	print_field("Guest OS:", json_get_string(cfg, "guest_os", NULL));
	print_field("CPUs:", cpus);
	print_field("Memory:", mem);
	print_field("Firmware:", json_get_string(cfg, "firmware", NULL));
	print_field("Accelerator:", json_get_string(cfg, "accel", NULL));
	const json_t *boot = json_object_get(cfg, "boot");
	if (boot) {
		print_field("Kernel:", json_get_string(boot, "kernel", NULL));
		print_field("Initrd:", json_get_string(boot, "initrd", NULL));
		print_field("Cmdline:", json_get_string(boot, "cmdline", NULL));
	}
	print_field("Annotation:", json_get_string(cfg, "annotation", NULL));
	size_t i;
	json_t *d;
	const json_t *disks = json_object_get(cfg, "disks");
	printf("Disks:%s\n", json_array_size(disks) ? "" : "         none");
	json_array_foreach(disks, i, d) {
		printf("  %-10s %s  (%s, %s, %s)\n", json_get_string(d, "slot", "?"),
		       json_get_string(d, "file", "?"), json_get_string(d, "device", "disk"),
		       json_get_string(d, "format", "?"), json_get_string(d, "mode", "?"));
	}
	print_vm_nics(cfg);
}

static int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *vm = NULL;
	int r = parse_vm_operand(argc, argv, false, NULL, &vm);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(vm, NULL);
	json_t *o = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &o, &err) < 0)
		return vm_fail(vm, err);
	if (ctx->json) {
		output_json(o);
		json_decref(o);
		return CLI_EXIT_OK;
	}
	_cleanup_free_ char *vmx = xasprintf("[%s] %s", json_get_string(o, "datastore", "?"),
					     json_get_string(o, "path", "?"));
	print_field("Name:", json_get_string(o, "name", "(invalid configuration)"));
	print_field("ID:", json_get_string(o, "id", NULL));
	print_field("Config file:", vmx);
	print_field("Power:", json_get_string(o, "power_state", NULL));
	const json_t *rt = json_object_get(o, "runtime");
	if (rt) {
		_cleanup_free_ char *state = xasprintf(
			"%s, pid %lld, accelerator %s", json_get_string(rt, "state", "?"),
			(long long)json_get_int(rt, "pid", 0), json_get_string(rt, "accel", "?"));
		print_field("Runtime:", state);
		print_field("Paused by:", json_get_string(rt, "paused_reason", NULL));
		print_field("Powered on:", json_get_string(rt, "powered_on", NULL));
		print_field("QEMU:", json_get_string(rt, "qemu_version", NULL));
	}
	print_field("Invalid:", json_get_string(o, "invalid", NULL));
	print_field("Busy with:", json_get_string(o, "busy_task", NULL));
	print_field("Last error:", json_get_string(o, "last_error", NULL));
	print_field("Last shutdown:", json_get_string(o, "last_shutdown_reason", NULL));
	if (json_get_bool(o, "template", false))
		print_field("Template:", "yes");
	const json_t *cfg = json_object_get(o, "config");
	if (cfg)
		print_vm_config(cfg);
	cli_resources_print(json_object_get(o, "resources"));
	json_decref(o);
	return CLI_EXIT_OK;
}

/* "SIZE_MIB[:FORMAT][:PROVISIONING]", each part optional after the size, in any order */
static int parse_disk(const char *cmd, const char *spec, json_t *disks)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	char *rest = strchr(copy, ':');
	if (rest)
		*rest++ = '\0';
	uint64_t mib;
	int r = parse_number_opt(cmd, "--disk", copy, 1, MAX_DISK_MIB, &mib);
	if (r)
		return r;
	json_t *d = json_pack("{s:I}", "size_mib", (json_int_t)mib);
	char *save = NULL;
	for (char *part = rest ? strtok_r(rest, ":", &save) : NULL; part;
	     part = strtok_r(NULL, ":", &save)) {
		const char *key = NULL;
		if (strcmp(part, "qcow2") == 0 || strcmp(part, "raw") == 0)
			key = "format";
		else if (strcmp(part, "thin") == 0 || strcmp(part, "thick-lazy") == 0 ||
			 strcmp(part, "thick-eager") == 0)
			key = "provisioning";
		if (!key || json_object_get(d, key)) {
			json_decref(d);
			return cli_usage_error(cmd,
					       "--disk \"%s\": \"%s\" is not a format (qcow2, raw) or a "
					       "provisioning (thin, thick-lazy, thick-eager), or is given "
					       "twice",
					       spec, part);
		}
		json_object_set_new(d, key, json_string(part));
	}
	json_array_append_new(disks, d);
	return 0;
}

static int check_accel(const char *cmd, const char *accel)
{
	if (strcmp(accel, "auto") != 0 && strcmp(accel, "kvm") != 0 && strcmp(accel, "tcg") != 0)
		return cli_usage_error(cmd, "--accel must be auto, kvm or tcg, not \"%s\"", accel);
	return 0;
}

static int cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "datastore", required_argument, NULL, OPT_DATASTORE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "guest-os", required_argument, NULL, OPT_GUEST_OS },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "nic", required_argument, NULL, OPT_NIC },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "annotation", required_argument, NULL, OPT_ANNOTATION },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "folder", required_argument, NULL, OPT_FOLDER },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "vm create ";
	json_t *body = json_object();
	json_t *disks = json_array(), *nics = json_array(), *boot = json_object();
	bool no_wait = false;
	uint64_t n = 0;
	int r = 0, opt;
	while (r == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_DATASTORE:
			json_object_set_new(body, "datastore", json_string(optarg));
			break;
		case OPT_MEMORY:
			r = parse_number_opt(cmd, "--memory", optarg, VM_MIN_MEMORY_MIB,
					     VM_MAX_MEMORY_MIB, &n);
			json_object_set_new(body, "memory_mib", json_integer((json_int_t)n));
			break;
		case OPT_CPUS:
			r = parse_number_opt(cmd, "--cpus", optarg, 1, VM_MAX_VCPUS, &n);
			json_object_set_new(body, "vcpus", json_integer((json_int_t)n));
			break;
		case OPT_GUEST_OS:
			json_object_set_new(body, "guest_os", json_string(optarg));
			break;
		case OPT_DISK:
			r = parse_disk(cmd, optarg, disks);
			break;
		case OPT_NIC:
			r = cli_nic_parse(cmd, "--nic", optarg, nics);
			break;
		case OPT_KERNEL:
			json_object_set_new(boot, "kernel", json_string(optarg));
			break;
		case OPT_INITRD:
			json_object_set_new(boot, "initrd", json_string(optarg));
			break;
		case OPT_CMDLINE:
			json_object_set_new(boot, "cmdline", json_string(optarg));
			break;
		case OPT_ACCEL:
			r = check_accel(cmd, optarg);
			json_object_set_new(body, "accel", json_string(optarg));
			break;
		case OPT_ANNOTATION:
			json_object_set_new(body, "annotation", json_string(optarg));
			break;
		case OPT_TARGET: /* center: the cluster, pool or host to place it in */
			json_object_set_new(body, "target", json_string(optarg));
			break;
		case OPT_FOLDER: /* center: the VM folder */
			json_object_set_new(body, "folder", json_string(optarg));
			break;
		case OPT_NO_WAIT:
			no_wait = true;
			break;
		default:
			r = cli_usage_error(cmd, "bad option");
		}
	}
	if (r == 0 && optind + 1 != argc)
		r = cli_usage_error(cmd, "expected one VM name");
	if (r == 0 && !json_object_get(body, "datastore"))
		r = cli_usage_error(cmd, "--datastore is required");
	if (r == 0 && json_object_size(boot) > 0 && !json_object_get(boot, "kernel"))
		r = cli_usage_error(cmd, "--initrd and --cmdline need --kernel");
	if (r) {
		json_decref(body);
		json_decref(disks);
		json_decref(nics);
		json_decref(boot);
		return r;
	}
	const char *name = argv[optind];
	json_object_set_new(body, "name", json_string(name));
	if (json_array_size(disks))
		json_object_set(body, "disks", disks);
	if (json_array_size(nics))
		json_object_set(body, "nics", nics);
	if (json_object_size(boot))
		json_object_set(body, "boot", boot);
	json_decref(disks);
	json_decref(nics);
	json_decref(boot);

	struct vireo_client *client = cli_client(ctx);
	if (!client) {
		json_decref(body);
		return CLI_EXIT_FAILED;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	r = client_request(client, "POST", "/api/v1/vms", body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return vm_fail(name, err);
	json_t *task = NULL;
	r = cli_task_started(ctx, reply, no_wait, &task);
	json_decref(reply);
	/* hostd answers the VM's id; center its inventory id ("vm") and the host it chose. */
	json_t *res = json_object_get(task, "result");
	if (r == CLI_EXIT_OK && task && !ctx->json && json_get_string(res, "vm", NULL))
		printf("%s on %s\n", json_get_string(res, "vm", "?"), json_get_string(res, "host", "?"));
	else if (r == CLI_EXIT_OK && task && !ctx->json)
		printf("%s\n", json_get_string(res, "id", "?"));
	json_decref(task);
	return r;
}

static int cmd_register(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("vm register ", "expected a datastore and a path");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = json_pack("{s:s,s:s}", "datastore", argv[1], "path", argv[2]);
	json_t *reply = NULL;
	int r = client_request(client, "POST", "/api/v1/vms/register", body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("Registered VM %s (%s).\n", json_get_string(reply, "name", "(invalid)"),
		       json_get_string(reply, "id", "?"));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_unregister(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *vm = NULL;
	int r = parse_vm_operand(argc, argv, false, NULL, &vm);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(vm, "/unregister");
	if (client_request(client, "POST", path, NULL, NULL, NULL, &err) < 0)
		return vm_fail(vm, err);
	if (!ctx->json)
		printf("Unregistered VM %s; its files stay on the datastore.\n", vm);
	return CLI_EXIT_OK;
}

static int cmd_delete(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *vm = NULL;
	bool no_wait = false;
	int r = parse_vm_operand(argc, argv, true, &no_wait, &vm);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(vm, NULL);
	json_t *reply = NULL;
	if (client_request(client, "DELETE", path, NULL, NULL, &reply, &err) < 0)
		return vm_fail(vm, err);
	r = cli_task_started(ctx, reply, no_wait, NULL);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json)
		printf("Deleted VM %s.\n", vm);
	return r;
}

static const struct {
	const char *command;
	const char *op;
	const char *done;
} power_ops[] = {
	{ "power-on", "on", "Powered on" },	 { "power-off", "off", "Powered off" },
	{ "reset", "reset", "Reset" },		 { "shutdown", "shutdown", "Shut down" },
	{ "reboot", "reboot", "Restarted" },	 { "suspend", "suspend", "Suspended" },
	{ "resume", "on", "Resumed" },	 { "continue", "continue", "Continued" },
};

static int cmd_power(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	size_t k = 0;
	while (k + 1 < ARRAY_SIZE(power_ops) && strcmp(power_ops[k].command, argv[0]) != 0)
		k++;
	_cleanup_free_ char *cmd = cmd_name(argv);
	bool no_wait = false;
	uint64_t timeout = 0;
	int r, opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_TIMEOUT:
			r = parse_number_opt(cmd, "--timeout", optarg, 1, 3600, &timeout);
			if (r)
				return r;
			break;
		case OPT_NO_WAIT:
			no_wait = true;
			break;
		default:
			return cli_usage_error(cmd, "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "expected one VM (name or id)");
	const char *vm = argv[optind];
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *suffix = xasprintf("/power/%s", power_ops[k].op);
	_cleanup_free_ char *path = vm_path(vm, suffix);
	json_t *body = timeout ? json_pack("{s:I}", "timeout_s", (json_int_t)timeout) : NULL;
	json_t *reply = NULL;
	r = client_request(client, "POST", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return vm_fail(vm, err);
	r = cli_task_started(ctx, reply, no_wait, NULL);
	json_decref(reply);
	if (r == CLI_EXIT_OK && !no_wait && !ctx->json)
		printf("%s VM %s.\n", power_ops[k].done, vm);
	return r;
}

/* Adds the NIC changes to a reconfigure request, from the VM's NICs now. */
static int reconfigure_nics(struct vireo_client *client, const char *vm,
			    const struct cli_nic_changes *changes, json_t *body)
{
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(vm, NULL);
	json_t *current = NULL, *nics = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &current, &err) < 0)
		return vm_fail(vm, err);
	int r = cli_nic_changes_build(changes, current, &nics, &err);
	json_decref(current);
	if (r < 0)
		return vm_fail(vm, err);
	json_object_set_new(body, "nics", nics);
	return CLI_EXIT_OK;
}

static int cmd_reconfigure(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "annotation", required_argument, NULL, OPT_ANNOTATION },
		{ "guest-os", required_argument, NULL, OPT_GUEST_OS },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "nic-add", required_argument, NULL, OPT_NIC_ADD },
		{ "nic-remove", required_argument, NULL, OPT_NIC_REMOVE },
		{ "nic-set", required_argument, NULL, OPT_NIC_SET },
		CLI_RESOURCE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "vm reconfigure ";
	json_t *body = json_object();
	struct cli_nic_changes nics = { .add = json_array() };
	uint64_t n = 0;
	int r = 0, opt;
	while (r == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_MEMORY:
			r = parse_number_opt(cmd, "--memory", optarg, VM_MIN_MEMORY_MIB,
					     VM_MAX_MEMORY_MIB, &n);
			json_object_set_new(body, "memory_mib", json_integer((json_int_t)n));
			break;
		case OPT_CPUS:
			r = parse_number_opt(cmd, "--cpus", optarg, 1, VM_MAX_VCPUS, &n);
			json_object_set_new(body, "vcpus", json_integer((json_int_t)n));
			break;
		case OPT_ANNOTATION:
			json_object_set_new(body, "annotation", json_string(optarg));
			break;
		case OPT_GUEST_OS:
			json_object_set_new(body, "guest_os", json_string(optarg));
			break;
		case OPT_ACCEL:
			r = check_accel(cmd, optarg);
			json_object_set_new(body, "accel", json_string(optarg));
			break;
		case OPT_NIC_ADD:
			r = cli_nic_parse(cmd, "--nic-add", optarg, nics.add);
			break;
		case OPT_NIC_REMOVE:
			r = cli_nic_remove(cmd, optarg, &nics);
			break;
		case OPT_NIC_SET:
			r = cli_nic_set(cmd, optarg, &nics);
			break;
		default:
			if (cli_resources_is_opt(opt))
				r = cli_resources_opt(cmd, opt, optarg, body);
			else
				r = cli_usage_error(cmd, "bad option");
		}
	}
	if (r == 0 && optind + 1 != argc)
		r = cli_usage_error(cmd, "expected one VM (name or id)");
	if (r == 0 && json_object_size(body) == 0 && cli_nic_changes_empty(&nics))
		r = cli_usage_error(cmd, "nothing to change: give --memory, --cpus, --annotation, "
					 "--guest-os, --accel, --nic-add, --nic-remove, --nic-set or a "
					 "resource option (--cpu-shares, --mem-limit, ...)");
	struct vireo_client *client = r ? NULL : cli_client(ctx);
	if (r == 0 && !client)
		r = CLI_EXIT_FAILED;
	const char *vm = argv[optind];
	if (r == 0 && !cli_nic_changes_empty(&nics))
		r = reconfigure_nics(client, vm, &nics, body);
	cli_nic_changes_release(&nics);
	if (r) {
		json_decref(body);
		return r;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(vm, NULL);
	json_t *reply = NULL;
	r = client_request(client, "PATCH", path, body, NULL, &reply, &err);
	json_decref(body);
	if (r < 0)
		return vm_fail(vm, err);
	if (ctx->json) {
		output_json(reply);
	} else {
		printf("Reconfigured VM %s.\n", vm);
		const json_t *cfg = json_object_get(reply, "config");
		if (cfg && json_object_get(cfg, "nics"))
			print_vm_nics(cfg);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_guest(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *vm = NULL;
	int r = parse_vm_operand(argc, argv, false, NULL, &vm);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *path = vm_path(vm, "/guest");
	json_t *o = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &o, &err) < 0)
		return vm_fail(vm, err);
	if (ctx->json) {
		output_json(o);
		json_decref(o);
		return CLI_EXIT_OK;
	}
	const char *reason = json_get_string(o, "reason", NULL);
	_cleanup_free_ char *agent = reason ? xasprintf("%s (%s)", json_get_string(o, "agent", "?"),
							reason)
					    : xstrdup(json_get_string(o, "agent", "?"));
	print_field("Guest agent:", agent);
	print_field("Hostname:", json_get_string(o, "hostname", NULL));
	print_field("OS:", json_get_string(o, "os", NULL));
	print_field("Kernel:", json_get_string(o, "kernel", NULL));
	const json_t *ips = json_object_get(o, "ip_addresses");
	if (ips) {
		char **v = NULL;
		size_t i;
		json_t *ip;
		json_array_foreach(ips, i, ip)
			if (json_is_string(ip))
				strv_push(&v, json_string_value(ip));
		_cleanup_free_ char *joined = v ? strv_join(v, ", ") : xstrdup("none");
		strv_free(v);
		print_field("IP addresses:", joined);
	}
	size_t i;
	json_t *itf;
	json_array_foreach(json_object_get(o, "interfaces"), i, itf) {
		printf("  %-10s %s", json_get_string(itf, "name", "?"),
		       json_get_string(itf, "mac", ""));
		size_t j;
		json_t *a;
		json_array_foreach(json_object_get(itf, "addresses"), j, a)
			printf(" %s/%lld", json_get_string(a, "address", "?"),
			       (long long)json_get_int(a, "prefix", 0));
		putchar('\n');
	}
	json_decref(o);
	return CLI_EXIT_OK;
}

#define POWER_ARGS "VM [--timeout SECONDS] [--no-wait]"

static const struct cli_command vm_commands[] = {
	{ "list", "", "list the VMs of the host", cmd_list },
	{ "info", "VM", "show a VM's configuration and state", cmd_info },
	{ "create",
	  "NAME --datastore DS [--memory MIB] [--cpus N] [--guest-os OS] "
	  "[--disk SIZE_MIB[:qcow2|raw][:thin|thick-lazy|thick-eager]]... "
	  "[--nic " CLI_NIC_SPEC "]... "
	  "[--kernel PATH] [--initrd PATH] [--cmdline TEXT] [--accel auto|kvm|tcg] "
	  "[--target CLUSTER|POOL|HOST] [--folder VM-FOLDER] "
	  "[--annotation TEXT] [--no-wait]",
	  "create a VM and print its id", cmd_create },
	{ "register", "DATASTORE PATH", "add an existing .vmx to the inventory", cmd_register },
	{ "unregister", "VM", "remove a VM from the inventory, keeping its files",
	  cmd_unregister },
	{ "delete", "VM [--no-wait]", "delete a powered-off VM and its files", cmd_delete },
	{ "power-on", POWER_ARGS, "power on a VM", cmd_power },
	{ "power-off", POWER_ARGS, "power off a VM (hard)", cmd_power },
	{ "reset", POWER_ARGS, "reset a VM (hard)", cmd_power },
	{ "shutdown", POWER_ARGS, "shut the guest down", cmd_power },
	{ "reboot", POWER_ARGS, "restart the guest", cmd_power },
	{ "suspend", POWER_ARGS, "suspend a VM", cmd_power },
	{ "resume", POWER_ARGS, "resume a suspended VM (power on)", cmd_power },
	{ "continue", POWER_ARGS, "continue a VM paused by QEMU (e.g. its datastore was full)",
	  cmd_power },
	{ "disk-list", "VM", "list a VM's disks with their sizes", cli_vm_disk_list },
	{ "disk-grow", "VM SLOT SIZE_MIB [--no-wait]",
	  "grow a disk (SLOT as vm info shows, e.g. scsi0:1), powered off or running",
	  cli_vm_disk_grow },
	{ "disk-add",
	  "VM SIZE_MIB[:qcow2|raw][:thin|thick-lazy|thick-eager] [--slot S] [--mode M] [--no-wait]",
	  "add a new disk (default slot: the first free unit of scsi0); hot-added while the VM "
	  "runs (SCSI only)",
	  cli_vm_disk_add },
	{ "disk-attach", "VM FILE [--slot S] [--mode M] [--format F] [--no-wait]",
	  "attach an existing disk file (in the VM folder, or an absolute path on a datastore)",
	  cli_vm_disk_attach },
	{ "disk-remove", "VM SLOT [--delete-file] [--no-wait]",
	  "remove a disk (hot-removed while the VM runs; the file is kept unless --delete-file)",
	  cli_vm_disk_remove },
	{ "reconfigure",
	  "VM [--memory MIB] [--cpus N] [--annotation TEXT] [--guest-os OS] "
	  "[--accel auto|kvm|tcg] [--nic-add " CLI_NIC_SPEC "]... [--nic-remove N]... "
	  "[--nic-set " CLI_NIC_SET_SPEC "]... [--cpu-shares low|normal|high|N] "
	  "[--cpu-reservation MHZ] [--cpu-limit MHZ|-1] [--cpu-affinity all|0,1] "
	  "[--mem-shares S] [--mem-reservation MIB] [--mem-limit MIB|-1] "
	  "[--disk-shares SLOT=S]... [--disk-iops SLOT=N]...",
	  "change a powered-off VM's settings; resources (shares, reservations, limits) "
	  "change at any time (N: the NIC ethernetN, as vm info shows)",
	  cmd_reconfigure },
	{ "guest", "VM", "show what the guest agent reports", cmd_guest },
	{ "console", "VM [--linger SECONDS]",
	  "attach to a VM's serial console (escape character ^])", cli_vm_console },
	{ "console-log", "VM [--bytes N]", "print the end of a VM's console log",
	  cli_vm_console_log },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_vm = {
	.name = "vm",
	.summary = "virtual machines",
	.commands = vm_commands,
};
