/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_UTIL_H
#define VIREO_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct vr_error;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- clean-up helpers (systemd/crun style) ---- */
static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
void strv_free(char **v);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_ _cleanup_(strv_freep)

/* Hands ownership on: returns *pp and sets it to NULL. */
#define steal_pointer(pp)                          \
	({                                         \
		__typeof__(*(pp)) steal_tmp_ = *(pp); \
		*(pp) = NULL;                      \
		steal_tmp_;                        \
	})
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* ---- allocation: the only place that aborts on out-of-memory ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- string vectors (NULL-terminated) ---- */
size_t strv_len(char *const *v);
/* Appends a copy of s; *v may be NULL. */
void strv_push(char ***v, const char *s);
void strv_pushf(char ***v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s itself (takes ownership). */
void strv_push_owned(char ***v, char *s);
/* Joins with sep; returns a new string. */
char *strv_join(char *const *v, const char *sep);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);

/* ---- files ---- */
/*
 * Writes data to path atomically: temporary file in the same directory,
 * fsync, rename over path, fsync of the directory.  Returns 0 or -errno.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct vr_error **err);
/* Reads a whole file (at most max_len bytes, else -EFBIG). NUL-terminated. */
int file_read_all(const char *path, size_t max_len, char **out, size_t *out_len,
		  struct vr_error **err);
/* mkdir -p with mode for the created directories. */
int mkdir_p(const char *path, mode_t mode);
/* Removes a directory tree (no symlink following). */
int rm_rf(const char *path);
int fsync_dir_of(const char *path);

/* ---- names ---- */
/*
 * A VM, datastore or user name: 1..80 bytes, no '/', no control
 * characters, not "." or "..", no leading or trailing space or '-'.
 * On failure fills err with a message naming the problem.
 */
int name_validate(const char *kind, const char *name, struct vr_error **err);

/* Whether s is well-formed UTF-8 (no overlong forms, no surrogates). */
bool utf8_valid(const char *s);

/* ---- identifiers and randomness ---- */
int random_bytes(void *buf, size_t len);
/* Random RFC 4122 v4 UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
void uuid_generate_str(char out[37]);
bool uuid_is_valid(const char *s);

/*
 * Raises this process's soft limit of open files to its hard limit (at
 * most 1,048,576), as daemons holding a connection per host or client
 * do; the limits the administrator set stay the ceiling.
 */
void raise_file_limit(void);

/* ---- time ---- */
uint64_t time_mono_ms(void);
uint64_t time_real_ms(void);
/* ISO-8601 UTC, "2026-11-21T23:56:19Z"; out must hold 32 bytes. */
void time_format_iso(uint64_t real_ms, char out[32]);

/* ---- parsing ---- */
/* Strict decimal parse of an unsigned value within [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
