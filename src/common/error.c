/* SPDX-License-Identifier: Apache-2.0 */
#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int vr_error_setv(struct vr_error **err, int code, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = code < 0 ? -code : EIO;
	if (!err || *err)
		return -code;
	struct vr_error *e = xmalloc(sizeof(*e));
	e->code = code;
	if (vasprintf(&e->msg, fmt, ap) < 0)
		abort();
	*err = e;
	return -code;
}

int vr_error_set(struct vr_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vr_error_setv(err, code, fmt, ap);
	va_end(ap);
	return r;
}

int vr_error_set_errno(struct vr_error **err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (!err || *err)
		return -code;
	_cleanup_free_ char *prefix = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&prefix, fmt, ap) < 0)
		abort();
	va_end(ap);
	return vr_error_set(err, code, "%s: %s", prefix, strerror(code));
}

int vr_error_wrap(struct vr_error **err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	if (!*err)
		return vr_error_set(err, EIO, "unknown error");
	_cleanup_free_ char *prefix = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&prefix, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
	free((*err)->msg);
	(*err)->msg = msg;
	return -(*err)->code;
}

void vr_error_free(struct vr_error *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err);
}

void vr_error_freep(struct vr_error **err)
{
	vr_error_free(*err);
	*err = NULL;
}

const char *vr_error_msg(const struct vr_error *err)
{
	return err && err->msg ? err->msg : "unknown error";
}
