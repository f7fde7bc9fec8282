/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_ERROR_H
#define VIREO_COMMON_ERROR_H

#include <stdarg.h>

/*
 * Control-plane error object. Functions that can fail take a
 * `struct vr_error **err` out-parameter and return a negative errno
 * (or NULL).  The caller owns *err and frees it with vr_error_free().
 * A NULL `err` means the caller does not care about the message.
 */
struct vr_error {
	int code;  /* positive errno value */
	char *msg; /* human-readable, names the object and the reason */
};

/* Sets *err (if err != NULL and *err == NULL) and returns -code. */
int vr_error_set(struct vr_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vr_error_setv(struct vr_error **err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Like vr_error_set() but appends ": strerror(code)". */
int vr_error_set_errno(struct vr_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Prefixes an existing error with context: "context: old message".
 * Returns -(*err)->code, or -EIO if there was no error to wrap.
 */
int vr_error_wrap(struct vr_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void vr_error_free(struct vr_error *err);
void vr_error_freep(struct vr_error **err);
#define _cleanup_error_ __attribute__((cleanup(vr_error_freep)))

/* Returns the message, or "unknown error" for NULL. */
const char *vr_error_msg(const struct vr_error *err);

#endif
