/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_LOG_H
#define VIREO_COMMON_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* A sink receives one complete, formatted line (without newline). */
typedef void (*log_sink_fn)(enum log_level level, const char *line, void *opaque);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out);
/* Replaces the sink (default: stderr with timestamps). NULL restores it. */
void log_set_sink(log_sink_fn sink, void *opaque);
/* Also append lines to this file (NULL to stop). Returns 0 or -errno. */
int log_open_file(const char *path);

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...)                                                        \
	do {                                                                  \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                       \
			log_msg(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#endif
