/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_TESTS_PG_SERVER_H
#define VIREO_TESTS_PG_SERVER_H

/*
 * A throw-away PostgreSQL server for tests, from Debian's package
 * (/usr/lib/postgresql/N/bin, the newest N; VIREO_PG_BINDIR overrides):
 * initdb in a temporary directory, run as "nobody" when we are root (the
 * server refuses root), listening only on a unix socket in that directory
 * (no TCP), superuser "vireo" with trust authentication.  The server gets
 * SIGINT if the test process dies; pg_server_stop() stops it by its PID
 * and removes the directory.
 */

#include <sys/types.h>

struct pg_server {
	char *dir; /* socket, data, log */
	pid_t pid;
};

/* Returns 0, or -1 after printing why (and the server's log) on stderr. */
int pg_server_start(struct pg_server *s);
/* Idempotent. */
void pg_server_stop(struct pg_server *s);
/* "host=DIR dbname=NAME user=vireo"; a new string. */
char *pg_server_location(const struct pg_server *s, const char *dbname);

#endif
