/* SPDX-License-Identifier: Apache-2.0 */
/* vireo user list | add | remove | passwd */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void wipe_freep(char **s)
{
	wipe_free(*s);
}
#define _cleanup_secret_ _cleanup_(wipe_freep)

/* From the file, $VIREO_NEW_PASSWORD, or asked twice on the terminal. */
static int read_new_password(const char *user, const char *file, char **out,
			     struct vr_error **err)
{
	_cleanup_free_ char *prompt = xasprintf("New password for %s: ", user);
	_cleanup_secret_ char *first = NULL;
	int r = cli_read_password(prompt, file, "VIREO_NEW_PASSWORD", &first, err);
	if (r < 0)
		return r;
	if (!file && !getenv("VIREO_NEW_PASSWORD")) {
		_cleanup_secret_ char *again = NULL;
		r = cli_read_password("Repeat the new password: ", NULL, NULL, &again, err);
		if (r < 0)
			return r;
		if (strcmp(first, again) != 0)
			return vr_error_set(err, EINVAL, "the two passwords differ");
	}
	*out = steal_pointer(&first);
	return 0;
}

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("user list ", "unexpected argument \"%s\"", argv[1]);
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *reply = NULL;
	if (client_request(client, "GET", "/api/v1/users", NULL, NULL, &reply, &err) < 0)
		return cli_fail(err);
	if (ctx->json) {
		output_json(json_object_get(reply, "users"));
	} else {
		static const char *const headers[] = { "NAME", "ROLE", "CREATED", NULL };
		struct table *t = table_new(headers);
		size_t i;
		json_t *u;
		json_array_foreach(json_object_get(reply, "users"), i, u) {
			const char *cells[] = { json_get_string(u, "name", NULL),
						json_get_string(u, "role", NULL),
						json_get_string(u, "created", NULL) };
			table_add_row(t, cells);
		}
		table_print(t, stdout);
		table_free(t);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_add(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *role = NULL; /* hostd's default is read-only; center has no role here */
	const char *password_file = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "r:p:", options, NULL)) != -1) {
		switch (opt) {
		case 'r':
			role = optarg;
			break;
		case 'p':
			password_file = optarg;
			break;
		default:
			return cli_usage_error("user add ", "bad option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("user add ", "expected one user name");
	const char *name = argv[optind];
	if (role && strcmp(role, "admin") != 0 && strcmp(role, "read-only") != 0)
		return cli_usage_error("user add ", "role must be \"admin\" or \"read-only\"");

	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_secret_ char *password = NULL;
	if (read_new_password(name, password_file, &password, &err) < 0)
		return cli_fail(err);
	json_t *body = json_pack("{s:s,s:s}", "name", name, "password", password);
	if (role)
		json_object_set_new(body, "role", json_string(role));
	json_t *reply = NULL;
	int r = client_request(client, "POST", "/api/v1/users", body, NULL, &reply, &err);
	json_object_clear(body);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (ctx->json)
		output_json(reply);
	else
		printf("Added user %s (%s).\n", name,
		       role ? role
			    : json_get_string(reply, "role", "a center user: give it permissions"));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cmd_remove(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("user remove ", "expected one user name");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *escaped = client_escape(argv[1]);
	_cleanup_free_ char *path = xasprintf("/api/v1/users/%s", escaped);
	if (client_request(client, "DELETE", path, NULL, NULL, NULL, &err) < 0)
		return cli_fail(err);
	if (!ctx->json)
		printf("Removed user %s.\n", argv[1]);
	return CLI_EXIT_OK;
}

static int cmd_passwd(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "current-password-file", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *password_file = NULL, *current_file = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "p:c:", options, NULL)) != -1) {
		switch (opt) {
		case 'p':
			password_file = optarg;
			break;
		case 'c':
			current_file = optarg;
			break;
		default:
			return cli_usage_error("user passwd ", "bad option");
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("user passwd ", "expected at most one user name");

	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *me = NULL;
	if (client_request(client, "GET", "/api/v1/sessions/current", NULL, NULL, &me, &err) < 0)
		return cli_fail(err);
	_cleanup_free_ char *my_name = xstrdup(json_get_string(me, "user", ""));
	bool admin = strcmp(json_get_string(me, "role", ""), "admin") == 0;
	json_decref(me);
	const char *name = optind < argc ? argv[optind] : my_name;
	bool self = strcmp(name, my_name) == 0;

	_cleanup_secret_ char *current = NULL;
	if (self && (!admin || current_file)) {
		_cleanup_free_ char *prompt = xasprintf("Current password for %s: ", name);
		if (cli_read_password(prompt, current_file, "VIREO_PASSWORD", &current, &err) < 0)
			return cli_fail(err);
	}
	_cleanup_secret_ char *password = NULL;
	if (read_new_password(name, password_file, &password, &err) < 0)
		return cli_fail(err);

	json_t *body = json_pack("{s:s}", "password", password);
	if (current)
		json_object_set_new(body, "current_password", json_string(current));
	_cleanup_free_ char *escaped = client_escape(name);
	_cleanup_free_ char *path = xasprintf("/api/v1/users/%s/password", escaped);
	int r = client_request(client, "PUT", path, body, NULL, NULL, &err);
	json_object_clear(body);
	json_decref(body);
	if (r < 0)
		return cli_fail(err);
	if (self) {
		/* The server ends all sessions of a user whose password changes. */
		client_forget_session(client, NULL);
		if (!ctx->json)
			printf("Changed the password of %s; log in again with \"vireo login\".\n",
			       name);
	} else if (!ctx->json) {
		printf("Changed the password of %s.\n", name);
	}
	return CLI_EXIT_OK;
}

static const struct cli_command user_commands[] = {
	{ "list", "", "list the local users of the host", cmd_list },
	{ "add", "NAME [--role admin|read-only] [--password-file FILE]",
	  "add a user (password from FILE, $VIREO_NEW_PASSWORD or the terminal; role read-only "
	  "unless given)",
	  cmd_add },
	{ "remove", "NAME", "remove a user and end its sessions", cmd_remove },
	{ "passwd", "[NAME] [--password-file FILE] [--current-password-file FILE]",
	  "change your password, or as an admin another user's", cmd_passwd },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_group cli_group_user = {
	.name = "user",
	.summary = "local users of the host",
	.commands = user_commands,
};
