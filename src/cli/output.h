/* SPDX-License-Identifier: Apache-2.0 */
/* Terminal output (tables, --json, progress) and password input of the CLI. */
#ifndef VIREO_CLI_OUTPUT_H
#define VIREO_CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct vr_error;
struct table;

/* Pretty-prints a JSON value on stdout (the --json output). */
void output_json(const json_t *value);

/* A byte count member as "1.5 GiB" (caller frees); NULL when the member is absent. */
char *output_bytes(const json_t *obj, const char *key);

/* Columns are sized to their widest cell; headers are printed as given. */
struct table *table_new(const char *const *headers /* NULL-terminated */);
/* Exactly as many cells as headers; NULL prints "-". Copied. */
void table_add_row(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/*
 * Progress of a long operation on stderr: a redrawn bar when stderr is a
 * terminal, else one line per 10% step.  100 ends the bar.
 */
void progress_draw(const char *label, int percent);

/*
 * Reads a password: from file when not NULL (the first line), else from
 * the environment variable env_name when set, else by prompting on the
 * terminal without echo.  Caller frees (and should wipe) *out.
 */
int cli_read_password(const char *prompt, const char *file, const char *env_name, char **out,
		      struct vr_error **err);

#endif
