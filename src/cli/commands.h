/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command groups of the `vireo` CLI.  A group is one file exporting a
 * `const struct cli_group`; adding one is a declaration here and a line
 * in the table in main.c.
 */
#ifndef VIREO_CLI_COMMANDS_H
#define VIREO_CLI_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

struct vr_error;
struct vireo_client;

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1, /* the operation failed */
	CLI_EXIT_USAGE = 2,  /* bad command line */
};

struct cli_ctx {
	const char *server_url;
	const char *ca_file;
	bool insecure;
	bool json;
	struct vireo_client *client; /* created on first use by cli_client() */
};

/*
 * Runs a command: argv[0] is the command name, options and operands
 * follow (parse them with getopt_long after cli_getopt_reset()).
 * Returns an enum cli_exit value.
 */
typedef int (*cli_command_fn)(struct cli_ctx *ctx, int argc, char **argv);

struct cli_command {
	const char *name;
	const char *args; /* for the usage line, e.g. "NAME [--role ROLE]" */
	const char *summary;
	cli_command_fn fn;
};

struct cli_group {
	const char *name; /* NULL: the commands are top-level ("vireo login") */
	const char *summary;
	const struct cli_command *commands; /* ends with a { NULL } entry */
};

extern const struct cli_group cli_group_session; /* login, logout, whoami, health */
extern const struct cli_group cli_group_user;	 /* user list|add|remove|passwd */
extern const struct cli_group cli_group_vm;	 /* vm list|info|create|power-on|console|... */
extern const struct cli_group cli_group_snapshot; /* snapshot list|create|revert|delete|... */
extern const struct cli_group cli_group_cbt;      /* cbt enable|disable|changes */
extern const struct cli_group cli_group_clone;    /* clone, template (top-level) */
extern const struct cli_group cli_group_import;    /* import register|convert|ovf */
extern const struct cli_group cli_group_export;    /* export (top-level, in cmd_import.c) */
extern const struct cli_group cli_group_datastore; /* datastore list|add|remove|info */
extern const struct cli_group cli_group_network;   /* network list|vswitch-*|portgroup-* */
extern const struct cli_group cli_group_task;	   /* task list|info|wait */
extern const struct cli_group cli_group_host;	   /* host info */
extern const struct cli_group cli_group_events;	   /* events (top-level, in cmd_host.c) */
extern const struct cli_group cli_group_top;	   /* top (top-level, cmd_top.c) */
/* vireo-center (cmd_center.c) */
extern const struct cli_group cli_group_inventory;  /* inventory ls|create|rename|move|delete */
extern const struct cli_group cli_group_role;	    /* role list|create|delete */
extern const struct cli_group cli_group_permission; /* permission list|set|remove */
extern const struct cli_group cli_group_migrate;    /* migrate (top-level) */
extern const struct cli_group cli_group_alarm;      /* alarm list|ack|clear */
extern const struct cli_group cli_group_perf;       /* perf (top-level) */
extern const struct cli_group cli_group_pool;       /* pool info|create|set|move-vm */
/* host add|list|remove|disconnect|reconnect, in the "host" group (cmd_center.c) */
int cli_host_add(struct cli_ctx *ctx, int argc, char **argv);
int cli_host_list(struct cli_ctx *ctx, int argc, char **argv);
int cli_host_remove(struct cli_ctx *ctx, int argc, char **argv);
int cli_host_disconnect(struct cli_ctx *ctx, int argc, char **argv);
int cli_host_reconnect(struct cli_ctx *ctx, int argc, char **argv);

/* ---- helpers from main.c ---- */

/* The API client; NULL after printing an error. */
struct vireo_client *cli_client(struct cli_ctx *ctx);
/* Prints "vireo: <message>" on stderr; returns CLI_EXIT_FAILED. */
int cli_fail(const struct vr_error *err);
/* Prints "vireo: <message>" and a hint to use --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Resets getopt for parsing a command's own arguments. */
void cli_getopt_reset(void);

/* vireo vm console | console-log (cmd_vm_console.c) */
int cli_vm_console(struct cli_ctx *ctx, int argc, char **argv);
int cli_vm_console_log(struct cli_ctx *ctx, int argc, char **argv);

/* vireo vm disk-list | disk-grow | disk-add | disk-attach | disk-remove (cmd_vm_disk.c) */
int cli_vm_disk_list(struct cli_ctx *ctx, int argc, char **argv);
int cli_vm_disk_grow(struct cli_ctx *ctx, int argc, char **argv);
int cli_vm_disk_add(struct cli_ctx *ctx, int argc, char **argv);
int cli_vm_disk_attach(struct cli_ctx *ctx, int argc, char **argv);
int cli_vm_disk_remove(struct cli_ctx *ctx, int argc, char **argv);

/* ---- tasks (task_follow.c) ---- */

/*
 * Follows a task of the host until it ends, drawing its progress on
 * stderr.  With --json prints the final task object on stdout.  When it
 * fails, prints "vireo: <description> failed: <error>".  *task_out (may
 * be NULL) gets the final task object (caller decrefs).  Returns an enum
 * cli_exit value.
 */
int cli_task_follow(struct cli_ctx *ctx, const char *task_id, json_t **task_out);

/*
 * For a request answered 202 {"task": ID}: with no_wait prints the task
 * id (with --json the reply) and returns, else follows the task.
 */
int cli_task_started(struct cli_ctx *ctx, json_t *reply, bool no_wait, json_t **task_out);

#endif
