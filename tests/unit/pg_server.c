/* SPDX-License-Identifier: Apache-2.0 */
#include "pg_server.h"

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/util.h"

#define NOBODY 65534

static char *find_bindir(void)
{
	const char *env = getenv("VIREO_PG_BINDIR");
	if (env && *env)
		return xstrdup(env);
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) != 0)
		return NULL;
	const char *best = NULL;
	long best_v = -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
		if (v > best_v) {
			best_v = v;
			best = g.gl_pathv[i];
		}
	}
	char *dir = best ? xstrndup(best, strlen(best) - strlen("/postgres")) : NULL;
	globfree(&g);
	return dir;
}

/* In the child: become "nobody" if root, log to a file, exec. */
static void exec_unprivileged(const char *dir, const char *log, char *const argv[],
			      bool die_with_parent)
{
	if (chdir(dir) < 0)
		_exit(126);
	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
		_exit(126);
	if (die_with_parent)
		prctl(PR_SET_PDEATHSIG, SIGINT); /* after setuid, which clears it */
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

static void print_file(const char *path)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (file_read_all(path, 1 << 20, &text, &len, NULL) == 0)
		fprintf(stderr, "---- %s ----\n%s\n", path, text);
}

void pg_server_stop(struct pg_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGINT); /* fast shutdown */
		int status;
		for (int i = 0; i < 200 && waitpid(s->pid, &status, WNOHANG) == 0; i++)
			usleep(50 * 1000);
		if (waitpid(s->pid, &status, WNOHANG) == 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
		}
		s->pid = -1;
	}
	if (s->dir) {
		rm_rf(s->dir);
		free(s->dir);
		s->dir = NULL;
	}
}

char *pg_server_location(const struct pg_server *s, const char *dbname)
{
	return xasprintf("host=%s dbname=%s user=vireo", s->dir, dbname);
}

int pg_server_start(struct pg_server *s)
{
	s->pid = -1;
	s->dir = NULL;
	_cleanup_free_ char *bindir = find_bindir();
	if (!bindir) {
		fprintf(stderr, "PostgreSQL server binaries not found (scripts/install-deps.sh "
				"installs Debian's postgresql; VIREO_PG_BINDIR overrides)\n");
		return -1;
	}
	char tmpl[] = "/tmp/vireo-pg-XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return -1;
	}
	s->dir = xstrdup(tmpl);
	if (geteuid() == 0 && chown(s->dir, NOBODY, NOBODY) < 0) {
		perror("chown");
		return -1;
	}
	_cleanup_free_ char *initdb = xasprintf("%s/initdb", bindir);
	_cleanup_free_ char *postgres = xasprintf("%s/postgres", bindir);
	_cleanup_free_ char *data = xasprintf("%s/data", s->dir);
	_cleanup_free_ char *log = xasprintf("%s/server.log", s->dir);
	char *init_argv[] = {initdb, "-D", data, "-U", "vireo", "-A", "trust", "-E", "UTF8",
			     "--locale=C.UTF-8", "--no-sync", NULL};
	pid_t pid = fork();
	if (pid == 0)
		exec_unprivileged(s->dir, log, init_argv, true);
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "initdb failed\n");
		print_file(log);
		return -1;
	}
	/* Throw-away data: no fsync.  listen_addresses empty: the unix socket only. */
	char *pg_argv[] = {postgres, "-D", data, "-k", s->dir, "-c", "listen_addresses=",
			   "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
			   "full_page_writes=off", "-c", "max_connections=20", NULL};
	s->pid = fork();
	if (s->pid == 0)
		exec_unprivileged(s->dir, log, pg_argv, true);
	if (s->pid < 0) {
		perror("fork");
		return -1;
	}
	_cleanup_free_ char *conninfo = pg_server_location(s, "postgres");
	for (int i = 0; i < 300; i++) {
		if (PQping(conninfo) == PQPING_OK)
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			break;
		}
		usleep(50 * 1000);
	}
	fprintf(stderr, "PostgreSQL did not start\n");
	print_file(log);
	return -1;
}
