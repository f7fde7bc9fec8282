/* SPDX-License-Identifier: Apache-2.0 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static log_sink_fn log_sink;
static void *log_sink_opaque;
static int log_file_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_sink(log_sink_fn sink, void *opaque)
{
	pthread_mutex_lock(&log_lock);
	log_sink = sink;
	log_sink_opaque = opaque;
	pthread_mutex_unlock(&log_lock);
}

int log_open_file(const char *path)
{
	int fd = -1;
	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0)
			return -errno;
	}
	pthread_mutex_lock(&log_lock);
	if (log_file_fd >= 0)
		close(log_file_fd);
	log_file_fd = fd;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char body[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);

	char full[2400];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (level == LOG_LEVEL_DEBUG)
		snprintf(full, sizeof(full), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s:%d: %s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], file, line, body);
	else
		snprintf(full, sizeof(full), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], body);

	pthread_mutex_lock(&log_lock);
	if (log_sink)
		log_sink(level, full, log_sink_opaque);
	else
		fprintf(stderr, "%s\n", full);
	if (log_file_fd >= 0) {
		size_t n = strlen(full);
		full[n] = '\n';
		ssize_t w = write(log_file_fd, full, n + 1);
		(void)w;
	}
	pthread_mutex_unlock(&log_lock);
}
