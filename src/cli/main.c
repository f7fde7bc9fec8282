/* SPDX-License-Identifier: Apache-2.0 */
/* vireo: the command-line client of vireo-hostd. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/util.h"

/* Command groups, in the order of the help text. */
static const struct cli_group *const cli_groups[] = {
	&cli_group_session,
	&cli_group_user,
	&cli_group_vm,
	&cli_group_snapshot,
	&cli_group_cbt,
	&cli_group_import,
	&cli_group_export,
	&cli_group_clone,
	&cli_group_datastore,
	&cli_group_network,
	&cli_group_task,
	&cli_group_host,
	&cli_group_events,
	&cli_group_top,
	&cli_group_inventory,
	&cli_group_role,
	&cli_group_permission,
	&cli_group_migrate,
	&cli_group_alarm,
	&cli_group_perf,
	&cli_group_pool,
	NULL,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vireo [OPTIONS] COMMAND [ARGS...]\n"
		"\n"
		"Options:\n"
		"  -s, --server URL   Vireo host to talk to (default: $VIREO_SERVER, else %s)\n"
		"      --json         print results as JSON\n"
		"  -k, --insecure     do not verify the server's TLS certificate\n"
		"      --ca-file FILE trust the certificate authority in FILE\n"
		"  -h, --help         show this help\n"
		"  -V, --version      show the version\n"
		"\n"
		"Commands:\n",
		CLIENT_DEFAULT_SERVER);
	for (size_t g = 0; cli_groups[g]; g++) {
		const struct cli_group *grp = cli_groups[g];
		for (const struct cli_command *c = grp->commands; c->name; c++) {
			char left[64];
			if (grp->name)
				snprintf(left, sizeof(left), "%s %s", grp->name, c->name);
			else
				snprintf(left, sizeof(left), "%s", c->name);
			fprintf(out, "  %-18s %s\n", left, c->summary);
		}
	}
	fprintf(out, "\nRun \"vireo COMMAND --help\" for the arguments of a command.\n"
		     "Exit status: 0 success, 1 the operation failed, 2 usage error.\n");
}

static void command_usage(FILE *out, const struct cli_group *grp, const struct cli_command *c)
{
	fprintf(out, "Usage: vireo %s%s%s %s\n%s\n", grp->name ? grp->name : "",
		grp->name ? " " : "", c->name, c->args ? c->args : "", c->summary);
}

static void group_usage(FILE *out, const struct cli_group *grp)
{
	fprintf(out, "Usage: vireo %s COMMAND [ARGS...]\n%s\n\nCommands:\n", grp->name,
		grp->summary);
	for (const struct cli_command *c = grp->commands; c->name; c++)
		fprintf(out, "  %s %s\n      %s\n", c->name, c->args ? c->args : "", c->summary);
}

struct vireo_client *cli_client(struct cli_ctx *ctx)
{
	if (ctx->client)
		return ctx->client;
	_cleanup_error_ struct vr_error *err = NULL;
	ctx->client = client_new(ctx->server_url, ctx->insecure, ctx->ca_file, &err);
	if (!ctx->client)
		cli_fail(err);
	return ctx->client;
}

int cli_fail(const struct vr_error *err)
{
	fprintf(stderr, "vireo: %s\n", vr_error_msg(err));
	return CLI_EXIT_FAILED;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("vireo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun \"vireo %s%s--help\" for usage.\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_EXIT_USAGE;
}

void cli_getopt_reset(void)
{
	optind = 0; /* glibc: full re-initialisation */
	opterr = 1;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static int run_command(struct cli_ctx *ctx, const struct cli_group *grp,
		       const struct cli_command *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (is_help(argv[i])) {
			command_usage(stdout, grp, c);
			return CLI_EXIT_OK;
		}
	}
	cli_getopt_reset();
	return c->fn(ctx, argc, argv);
}

static int dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *name = argv[0];
	for (size_t g = 0; cli_groups[g]; g++) {
		const struct cli_group *grp = cli_groups[g];
		if (grp->name)
			continue;
		for (const struct cli_command *c = grp->commands; c->name; c++)
			if (strcmp(c->name, name) == 0)
				return run_command(ctx, grp, c, argc, argv);
	}
	for (size_t g = 0; cli_groups[g]; g++) {
		const struct cli_group *grp = cli_groups[g];
		if (!grp->name || strcmp(grp->name, name) != 0)
			continue;
		if (argc < 2 || is_help(argv[1])) {
			group_usage(argc < 2 ? stderr : stdout, grp);
			return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
		}
		for (const struct cli_command *c = grp->commands; c->name; c++)
			if (strcmp(c->name, argv[1]) == 0)
				return run_command(ctx, grp, c, argc - 1, argv + 1);
		_cleanup_free_ char *cmd = xasprintf("%s ", grp->name);
		return cli_usage_error(cmd, "unknown command \"%s %s\"", grp->name, argv[1]);
	}
	return cli_usage_error(NULL, "unknown command \"%s\"", name);
}

int main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_CA_FILE };
	static const struct option options[] = {
		{ "server", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "insecure", no_argument, NULL, 'k' },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_ctx ctx = { .ca_file = getenv("VIREO_CA_FILE") };
	int opt;
	while ((opt = getopt_long(argc, argv, "+s:khV", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			ctx.server_url = optarg;
			break;
		case OPT_JSON:
			ctx.json = true;
			break;
		case 'k':
			ctx.insecure = true;
			break;
		case OPT_CA_FILE:
			ctx.ca_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("vireo %s\n", VIREO_VERSION);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Run \"vireo --help\" for usage.\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "vireo: cannot initialise libcurl\n");
		return CLI_EXIT_FAILED;
	}
	int r = dispatch(&ctx, argc - optind, argv + optind);
	client_free(ctx.client);
	curl_global_cleanup();
	return r;
}
