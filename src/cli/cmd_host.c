/* SPDX-License-Identifier: Apache-2.0 */
/* vireo host info | pools | events */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("host info ", "unexpected argument \"%s\"", argv[1]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *o = NULL;
	if (client_request(client, "GET", "/api/v1/host", NULL, NULL, &o, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(o);
		json_decref(o);
		return CLI_EXIT_OK;
	}
	const json_t *acc = json_object_get(o, "accelerator");
	double gib = (double)json_get_int(o, "memory_bytes", 0) / (1024.0 * 1024 * 1024);
	printf("Name:         %s\n", json_get_string(o, "name", "?"));
	printf("ID:           %s\n", json_get_string(o, "id", "?"));
	printf("Version:      %s\n", json_get_string(o, "version", "?"));
	printf("Server:       %s\n", client_server_url(client));
	printf("Accelerator:  %s (setting %s)\n", json_get_string(acc, "detected", "?"),
	       json_get_string(acc, "setting", "?"));
	const char *reason = json_get_string(acc, "reason", NULL);
	if (reason && *reason)
		printf("              %s\n", reason);
	printf("CPUs:         %lld\n", (long long)json_get_int(o, "cpus", 0));
	printf("Memory:       %.1f GiB\n", gib);
	printf("VMs:          %lld (%lld running)\n", (long long)json_get_int(o, "vms", 0),
	       (long long)json_get_int(o, "vms_running", 0));
	json_decref(o);
	return CLI_EXIT_OK;
}

static char *limit_text(const json_t *pool, const char *key, const char *unit)
{
	json_int_t v = json_get_int(pool, key, -1);
	return v < 0 ? xstrdup("none") : xasprintf("%lld %s", (long long)v, unit);
}

/* GET /api/v1/host/resource-pools: the pool tree vireo-center mirrors on this host. */
static int cmd_pools(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("host pools ", "unexpected argument \"%s\"", argv[1]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *o = NULL;
	if (client_request(client, "GET", "/api/v1/host/resource-pools", NULL, NULL, &o, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(o);
		json_decref(o);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = { "ID", "PARENT", "NAME", "CPU SHARES", "CPU LIMIT",
					       "MEM LIMIT", "VMS", "CGROUP", NULL };
	struct table *t = table_new(headers);
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(o, "pools"), i, p) {
		_cleanup_free_ char *shares = xasprintf("%lld", (long long)json_get_int(p, "cpu_shares", 0));
		_cleanup_free_ char *cpu = limit_text(p, "cpu_limit_mhz", "MHz");
		_cleanup_free_ char *mem = limit_text(p, "mem_limit_mib", "MiB");
		_cleanup_free_ char *vms = xasprintf("%zu", json_array_size(json_object_get(p, "vms")));
		const char *cells[] = { json_get_string(p, "id", "?"), json_get_string(p, "parent", "-"),
					json_get_string(p, "name", ""), shares, cpu, mem, vms,
					json_get_string(p, "cgroup", "-"), NULL };
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	const char *reason = json_get_string(o, "reason", NULL);
	printf("Enforced: %s%s%s\n", json_get_bool(o, "enforced", false) ? "yes" : "no", reason ? ": " : "",
	       reason ? reason : "");
	json_decref(o);
	return CLI_EXIT_OK;
}

static int cmd_events(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_SINCE = 256, OPT_OBJECT };
	static const struct option options[] = {
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "object", required_argument, NULL, OPT_OBJECT },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "events ";
	const char *object = NULL;
	uint64_t since = 0;
	bool have_since = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SINCE:
			if (parse_u64(optarg, 0, UINT64_MAX, &since) < 0)
				return cli_usage_error(cmd, "--since \"%s\" is not an event id",
						       optarg);
			have_since = true;
			break;
		case OPT_OBJECT:
			object = optarg;
			break;
		default:
			return cli_usage_error(cmd, "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_free_ char *escaped = object ? client_escape(object) : NULL;
	_cleanup_free_ char *since_q =
		have_since ? xasprintf("since=%llu", (unsigned long long)since) : NULL;
	_cleanup_free_ char *object_q = object ? xasprintf("object=%s", escaped) : NULL;
	_cleanup_free_ char *path = xasprintf(
		"/api/v1/events%s%s%s%s", since_q || object_q ? "?" : "", since_q ? since_q : "",
		since_q && object_q ? "&" : "", object_q ? object_q : "");
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = { "ID", "TIME", "LEVEL", "TYPE", "OBJECT", "MESSAGE",
					       NULL };
	struct table *t = table_new(headers);
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(reply, "events"), i, e) {
		_cleanup_free_ char *id = xasprintf("%lld", (long long)json_get_int(e, "id", 0));
		const char *cells[] = {
			id,
			json_get_string(e, "time", NULL),
			json_get_string(e, "level", json_get_string(e, "category", NULL)),
			json_get_string(e, "type", NULL),
			json_get_string(e, "object", NULL),
			json_get_string(e, "message", NULL),
		};
		table_add_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* "host info" is in the "host" group; "events" is top-level like "login". */
static const struct cli_command host_commands[] = {
	{ "info", "", "show the host's identity, accelerator and capacity", cmd_info },
	{ "pools", "", "the resource pools this host enforces (sent by vireo-center)", cmd_pools },
	{ "add", "URL --parent OBJECT [--user U] [--password-file F] [--name N] [--insecure-tls]",
	  "center: join a host to a cluster or datacenter", cli_host_add },
	{ "list", "", "center: the hosts and their connection state", cli_host_list },
	{ "remove", "HOST", "center: remove a host (its VMs keep running)", cli_host_remove },
	{ "disconnect", "HOST", "center: stop managing a host for now", cli_host_disconnect },
	{ "reconnect", "HOST", "center: manage a disconnected host again", cli_host_reconnect },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_host = {
	.name = "host",
	.summary = "this host (hostd), or the hosts of a center",
	.commands = host_commands,
};

static const struct cli_command events_commands[] = {
	{ "events", "[--since ID] [--object ID]", "list the host's recent events", cmd_events },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_events = {
	.name = NULL,
	.summary = "events",
	.commands = events_commands,
};
