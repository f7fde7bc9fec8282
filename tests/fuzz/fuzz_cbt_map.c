/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `qemu-img map` output read back for changed-block tracking: parse
 * arbitrary bytes and check every promise of cbt_map_parse() on success
 * (sorted, disjoint, joined extents inside the disk) and a message on failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "host/storage/cbt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t disk = 64ull << 20;
	for (int dirty = 0; dirty < 2; dirty++) {
		struct cbt_extent *v = NULL;
		size_t n = 0;
		struct vr_error *err = NULL;
		if (cbt_map_parse((const char *)data, size, dirty, disk, &v, &n, &err) < 0) {
			if (!err || !vr_error_msg(err) || !*vr_error_msg(err) || v)
				abort();
			vr_error_free(err);
			continue;
		}
		uint64_t end = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].length == 0 || v[i].offset > disk || v[i].length > disk - v[i].offset)
				abort();
			if (i > 0 && v[i].offset <= end)
				abort(); /* overlapping, unsorted or not joined */
			end = v[i].offset + v[i].length;
		}
		free(v);
	}
	return 0;
}
