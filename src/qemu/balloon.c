/* SPDX-License-Identifier: Apache-2.0 */
/* The balloon target over QMP (balloon.h). */
#include <errno.h>
#include <jansson.h>

#include "common/error.h"
#include "qemu/balloon.h"
#include "qemu/qmp.h"

int qemu_balloon_set_target(struct qmp *q, uint64_t bytes, int timeout_ms, struct vr_error **err)
{
	if (bytes < (1u << 20) || bytes > (1ull << 52))
		return vr_error_set(err, EINVAL, "a balloon target of %llu bytes is out of range",
				    (unsigned long long)bytes);
	int r = qmp_execute(q, "balloon", json_pack("{s:I}", "value", (json_int_t)bytes),
			    timeout_ms, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot set the balloon to %llu MiB",
				     (unsigned long long)(bytes >> 20));
	return 0;
}
