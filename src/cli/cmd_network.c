/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo network list | vswitch-add | vswitch-set | vswitch-remove |
 *               portgroup-add | portgroup-set | portgroup-remove
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static char *shaping_text(const json_t *s)
{
	if (!json_is_object(s))
		return xstrdup("off");
	return xasprintf("avg %lld / peak %lld Kbit/s, burst %lld KiB",
			 (long long)json_get_int(s, "average_kbps", 0),
			 (long long)json_get_int(s, "peak_kbps", 0),
			 (long long)json_get_int(s, "burst_kib", 0));
}

static char *uplinks_text(const json_t *sw)
{
	const json_t *ups = json_object_get(sw, "uplinks");
	if (json_array_size(ups) == 0)
		return xstrdup("(private)");
	_cleanup_strv_ char **parts = NULL;
	size_t i;
	json_t *u;
	json_array_foreach(ups, i, u)
	{
		bool fwd = json_get_bool(u, "forwarding", false);
		bool carrier = json_get_bool(u, "carrier", false);
		strv_pushf(&parts, "%s%s", json_get_string(u, "name", "?"),
			   fwd ? "*" : carrier ? "" : "(down)");
	}
	return strv_join(parts, ",");
}

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("network list ", "unexpected argument \"%s\"", argv[1]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", "/api/v1/network", NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = { "SWITCH", "UPLINKS (*active)", "MTU", "PORT GROUP",
					       "VLAN", "SHAPING", "PORTS", NULL };
	struct table *t = table_new(headers);
	size_t i, j;
	json_t *sw, *pg;
	json_array_foreach(json_object_get(reply, "vswitches"), i, sw)
	{
		_cleanup_free_ char *ups = uplinks_text(sw);
		_cleanup_free_ char *mtu = xasprintf("%lld", (long long)json_get_int(sw, "mtu", 0));
		const json_t *pgs = json_object_get(sw, "portgroups");
		if (json_array_size(pgs) == 0) {
			const char *cells[] = { json_get_string(sw, "name", "?"), ups, mtu, NULL,
						NULL, NULL, NULL };
			table_add_row(t, cells);
		}
		json_array_foreach(pgs, j, pg)
		{
			long long vlan = json_get_int(pg, "vlan", 0);
			_cleanup_free_ char *vl = vlan == 4095 ? xstrdup("4095 (trunk)")
					       : vlan == 0    ? xstrdup("none")
							      : xasprintf("%lld", vlan);
			_cleanup_free_ char *sh = shaping_text(json_object_get(pg, "shaping"));
			_cleanup_free_ char *ports =
				xasprintf("%zu", json_array_size(json_object_get(pg, "ports")));
			const char *cells[] = { j == 0 ? json_get_string(sw, "name", "?") : "",
						j == 0 ? ups : "",
						j == 0 ? mtu : "",
						json_get_string(pg, "name", "?"),
						vl,
						sh,
						ports };
			table_add_row(t, cells);
		}
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* "AVG:PEAK:BURST" (Kbit/s, Kbit/s, KiB) or "AVG::BURST" (peak = average). */
static int parse_shaping(const char *s, json_t **out)
{
	_cleanup_free_ char *copy = xstrdup(s);
	char *peak = strchr(copy, ':');
	char *burst = peak ? strchr(peak + 1, ':') : NULL;
	if (!peak || !burst)
		return -1;
	*peak++ = '\0';
	*burst++ = '\0';
	uint64_t a, p = 0, b;
	if (parse_u64(copy, 1, UINT32_MAX * 64ull, &a) < 0 ||
	    (*peak && parse_u64(peak, 1, UINT32_MAX * 64ull, &p) < 0) ||
	    parse_u64(burst, 1, UINT32_MAX, &b) < 0)
		return -1;
	*out = json_pack("{s:I, s:I}", "average_kbps", (json_int_t)a, "burst_kib",
			 (json_int_t)b);
	if (*peak)
		json_object_set_new(*out, "peak_kbps", json_integer((json_int_t)p));
	return 0;
}

/* Sends the request; prints "Added switch vs0." (verb, what, name) or the JSON reply. */
static int send(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
		const char *verb, const char *what, const char *name)
{
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
		return cli_fail(err);
	if (ctx->json && reply)
		output_json(reply);
	else if (!ctx->json)
		printf("%s %s %s.\n", verb, what, name);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static char *item_path(const char *kind, const char *name)
{
	_cleanup_free_ char *e = client_escape(name);
	return xasprintf("/api/v1/network/%s/%s", kind, e);
}

static int vswitch_opts(const char *cmd, int argc, char **argv, json_t *body, bool allow_clear)
{
	static const struct option opts[] = {
		{ "uplink", required_argument, NULL, 'u' },
		{ "uplinks", required_argument, NULL, 'U' },
		{ "no-uplinks", no_argument, NULL, 'N' },
		{ "mtu", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	cli_getopt_reset();
	int c;
	json_t *ups = NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t v;
		switch (c) {
		case 'u':
			if (!ups)
				ups = json_array();
			json_array_append_new(ups, json_string(optarg));
			break;
		case 'U': {
			if (!ups)
				ups = json_array();
			_cleanup_free_ char *copy = xstrdup(optarg);
			char *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(ups, json_string(t));
			break;
		}
		case 'N':
			if (!allow_clear)
				goto usage;
			json_decref(ups);
			ups = json_array();
			break;
		case 'm':
			if (parse_u64(optarg, 1280, 9000, &v) < 0) {
				json_decref(ups);
				cli_usage_error(cmd, "--mtu \"%s\" is not 1280..9000", optarg);
				return -1;
			}
			json_object_set_new(body, "mtu", json_integer((json_int_t)v));
			break;
		default:
			goto usage;
		}
	}
	if (ups)
		json_object_set_new(body, "uplinks", ups);
	return optind;
usage:
	json_decref(ups);
	cli_usage_error(cmd, "unknown option");
	return -1;
}

static int cmd_vswitch_add(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *body = json_object();
	int r = vswitch_opts("network vswitch-add ", argc, argv, body, false);
	if (r < 0 || argc - r != 1) {
		json_decref(body);
		return r < 0 ? CLI_EXIT_USAGE
			     : cli_usage_error("network vswitch-add ",
							     "expected one switch name");
	}
	json_object_set_new(body, "name", json_string(argv[r]));
	return send(ctx, "POST", "/api/v1/network/vswitches", body, "Added", "switch",
		    argv[r]);
}

static int cmd_vswitch_set(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *body = json_object();
	int r = vswitch_opts("network vswitch-set ", argc, argv, body, true);
	if (r < 0 || argc - r != 1) {
		json_decref(body);
		return r < 0 ? CLI_EXIT_USAGE
			     : cli_usage_error("network vswitch-set ",
							     "expected one switch name");
	}
	_cleanup_free_ char *path = item_path("vswitches", argv[r]);
	return send(ctx, "PATCH", path, body, "Changed", "switch", argv[r]);
}

static int cmd_remove(struct cli_ctx *ctx, int argc, char **argv, const char *kind,
		      const char *what)
{
	if (argc != 2)
		return cli_usage_error(argv[0], "expected one %s name", what);
	_cleanup_free_ char *path = item_path(kind, argv[1]);
	return send(ctx, "DELETE", path, NULL, "Removed", what, argv[1]);
}

static int cmd_vswitch_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	return cmd_remove(ctx, argc, argv, "vswitches", "switch");
}

static int portgroup_opts(const char *cmd, int argc, char **argv, json_t *body, bool is_set)
{
	static const struct option opts[] = {
		{ "vswitch", required_argument, NULL, 's' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "shaping", required_argument, NULL, 'S' },
		{ "no-shaping", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	cli_getopt_reset();
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t v;
		json_t *sh = NULL;
		switch (c) {
		case 's':
			if (is_set) {
				cli_usage_error(cmd, "a port group cannot move to another switch; "
						     "remove it and add it again");
				return -1;
			}
			json_object_set_new(body, "vswitch", json_string(optarg));
			break;
		case 'v':
			if (parse_u64(optarg, 0, 4095, &v) < 0) {
				cli_usage_error(cmd, "--vlan \"%s\" is not 0 (none), 1..4094 or 4095 "
						     "(trunk)", optarg);
				return -1;
			}
			json_object_set_new(body, "vlan", json_integer((json_int_t)v));
			break;
		case 'S':
			if (parse_shaping(optarg, &sh) < 0) {
				cli_usage_error(cmd, "--shaping \"%s\" is not "
						     "AVERAGE_KBPS:PEAK_KBPS:BURST_KIB", optarg);
				return -1;
			}
			json_object_set_new(body, "shaping", sh);
			break;
		case 'n':
			json_object_set_new(body, "shaping", json_null());
			break;
		default:
			cli_usage_error(cmd, "unknown option");
			return -1;
		}
	}
	return optind;
}

static int cmd_portgroup_add(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *body = json_object();
	int r = portgroup_opts("network portgroup-add ", argc, argv, body, false);
	if (r < 0 || argc - r != 1) {
		json_decref(body);
		return r < 0 ? CLI_EXIT_USAGE
			     : cli_usage_error("network portgroup-add ",
							     "expected one port group name");
	}
	json_object_set_new(body, "name", json_string(argv[r]));
	return send(ctx, "POST", "/api/v1/network/portgroups", body, "Added", "port group",
		    argv[r]);
}

static int cmd_portgroup_set(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *body = json_object();
	int r = portgroup_opts("network portgroup-set ", argc, argv, body, true);
	if (r < 0 || argc - r != 1) {
		json_decref(body);
		return r < 0 ? CLI_EXIT_USAGE
			     : cli_usage_error("network portgroup-set ",
							     "expected one port group name");
	}
	_cleanup_free_ char *path = item_path("portgroups", argv[r]);
	return send(ctx, "PATCH", path, body, "Changed", "port group", argv[r]);
}

static int cmd_portgroup_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	return cmd_remove(ctx, argc, argv, "portgroups", "port group");
}

static const struct cli_command network_commands[] = {
	{ "list", "", "list virtual switches, their uplinks and port groups", cmd_list },
	{ "vswitch-add", "NAME [--uplink IFNAME]... [--mtu N]",
	  "add a virtual switch (no uplink: a private switch)", cmd_vswitch_add },
	{ "vswitch-set", "NAME [--uplinks IF1,IF2|--no-uplinks] [--mtu N]",
	  "change a switch's uplinks (teaming order) or MTU", cmd_vswitch_set },
	{ "vswitch-remove", "NAME", "remove a switch without port groups", cmd_vswitch_remove },
	{ "portgroup-add", "NAME --vswitch SWITCH [--vlan ID] [--shaping AVG:PEAK:BURST]",
	  "add a port group (VLAN 0 none, 4095 trunk; shaping in Kbit/s, Kbit/s, KiB)",
	  cmd_portgroup_add },
	{ "portgroup-set", "NAME [--vlan ID] [--shaping AVG:PEAK:BURST|--no-shaping]",
	  "change a port group's VLAN or shaping (applies to running VMs at once)",
	  cmd_portgroup_set },
	{ "portgroup-remove", "NAME", "remove a port group no running VM uses",
	  cmd_portgroup_remove },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_network = {
	.name = "network",
	.summary = "virtual switches and port groups of the host",
	.commands = network_commands,
};
