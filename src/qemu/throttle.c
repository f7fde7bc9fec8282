/* SPDX-License-Identifier: Apache-2.0 */
/* Block I/O throttling over QMP (throttle.h). */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "qemu/block_priv.h"
#include "qemu/qmp.h"
#include "qemu/throttle.h"

int qemu_block_set_iops_limit(struct qmp *q, const char *qdev_id, uint64_t iops, int timeout_ms,
			      struct vr_error **err)
{
	if (iops > (uint64_t)1e15)
		return vr_error_set(err, EINVAL, "disk %s: an IOPS limit of %llu is out of range",
				    qdev_id, (unsigned long long)iops);
	/* Every rate is a required member; 0 means unlimited. */
	json_t *args = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", qdev_id, "bps", 0,
				 "bps_rd", 0, "bps_wr", 0, "iops", (json_int_t)iops, "iops_rd", 0,
				 "iops_wr", 0);
	int r = qmp_execute(q, "block_set_io_throttle", args, timeout_ms, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot set the IOPS limit of disk %s", qdev_id);
	return 0;
}

int qemu_block_get_iops_limit(struct qmp *q, const char *qdev_id, uint64_t *iops, int timeout_ms,
			      struct vr_error **err)
{
	json_t *ret = NULL;
	int r = qmp_execute(q, "query-block", NULL, timeout_ms, &ret, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *b;
	r = -ENOENT;
	json_array_foreach(ret, i, b)
	{
		if (!block_qdev_matches(json_string_value(json_object_get(b, "qdev")), qdev_id))
			continue;
		json_t *ins = json_object_get(b, "inserted");
		json_t *v = json_object_get(ins, "iops");
		*iops = json_is_integer(v) && json_integer_value(v) > 0
				? (uint64_t)json_integer_value(v)
				: 0;
		r = 0;
		break;
	}
	json_decref(ret);
	if (r < 0)
		return vr_error_set(err, ENOENT, "QEMU has no disk %s", qdev_id);
	return r;
}
