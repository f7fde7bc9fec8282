/* SPDX-License-Identifier: Apache-2.0 */
/* vireo login | logout | whoami | health */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static int cmd_login(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = getenv("VIREO_USER");
	const char *password_file = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "u:p:", options, NULL)) != -1) {
		switch (opt) {
		case 'u':
			user = optarg;
			break;
		case 'p':
			password_file = optarg;
			break;
		default:
			return cli_usage_error("login ", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error("login ", "unexpected argument \"%s\"", argv[optind]);
	if (!user || !*user)
		user = "admin";

	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *prompt = xasprintf("Password for %s at %s: ", user,
						client_server_url(client));
	_cleanup_free_ char *password = NULL;
	if (cli_read_password(prompt, password_file, "VIREO_PASSWORD", &password, &err) < 0)
		return cli_fail(err);
	json_t *reply = NULL;
	int r = client_login(client, user, password, &reply, &err);
	explicit_bzero(password, strlen(password));
	if (r < 0)
		return cli_fail(err);
	if (ctx->json) {
		json_object_set_new(reply, "server", json_string(client_server_url(client)));
		output_json(reply);
	} else {
		printf("Logged in to %s as %s (%s).\n", client_server_url(client),
		       json_get_string(reply, "user", user), json_get_string(reply, "role", "?"));
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int no_arguments(const char *cmd, int argc, char **argv)
{
	while (getopt_long(argc, argv, "", (const struct option[]){ { NULL, 0, NULL, 0 } },
			   NULL) != -1)
		return cli_usage_error(cmd, "bad option");
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

static int cmd_logout(struct cli_ctx *ctx, int argc, char **argv)
{
	int r = no_arguments("logout ", argc, argv);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	if (client_logout(client, &err) < 0)
		return cli_fail(err);
	if (!ctx->json)
		printf("Logged out of %s.\n", client_server_url(client));
	return CLI_EXIT_OK;
}

static int cmd_whoami(struct cli_ctx *ctx, int argc, char **argv)
{
	int r = no_arguments("whoami ", argc, argv);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", "/api/v1/sessions/current", NULL, NULL, &reply, &err) <
	    0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("%s (%s) on %s\n", json_get_string(reply, "user", "?"),
		       json_get_string(reply, "role", "?"), client_server_url(client));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_health(struct cli_ctx *ctx, int argc, char **argv)
{
	int r = no_arguments("health ", argc, argv);
	if (r)
		return r;
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", "/api/v1/health", NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("%s: %s (vireo %s)\n", client_server_url(client),
		       json_get_string(reply, "status", "?"), json_get_string(reply, "version", "?"));
	bool ok = strcmp(json_get_string(reply, "status", ""), "ok") == 0;
	json_decref(reply);
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

static const struct cli_command session_commands[] = {
	{ "login", "[--user NAME] [--password-file FILE]",
	  "log in and save the session (password from FILE, $VIREO_PASSWORD or the terminal)",
	  cmd_login },
	{ "logout", "", "end the saved session", cmd_logout },
	{ "whoami", "", "show the user and role of the saved session", cmd_whoami },
	{ "health", "", "check that the host answers (no login needed)", cmd_health },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_session = {
	.name = NULL,
	.summary = "sessions",
	.commands = session_commands,
};
