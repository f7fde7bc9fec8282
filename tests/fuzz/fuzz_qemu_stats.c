/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What QEMU answers for the statistics (src/qemu/stats.c), the guest's
 * balloon figures above all, which the guest controls: parse arbitrary
 * JSON as each of the three answers and check every promise on success
 * (no figure negative unless unknown, memory figures within the VM's
 * memory, free plus cache within the total, device names short and
 * printable) and a message on failure.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "qemu/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_mem(int64_t v, uint64_t bound)
{
	if (v < -1 || (v >= 0 && (uint64_t)v > bound))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
			       NULL);
	if (!j)
		return 0;
	const uint64_t mem = 256ull << 20;

	struct qemu_guest_mem g;
	struct vr_error *err = NULL;
	if (qemu_guest_mem_parse(j, mem, &g, &err) == 0) {
		check_mem(g.total, mem);
		uint64_t bound = g.total >= 0 ? (uint64_t)g.total : mem;
		check_mem(g.free, bound);
		check_mem(g.available, bound);
		check_mem(g.caches, bound);
		if (g.free >= 0 && g.caches >= 0 && g.total >= 0 && g.free + g.caches > g.total)
			abort();
		if (g.swap_in < -1 || g.swap_out < -1 || g.major_faults < -1 || g.minor_faults < -1 ||
		    g.last_update < -1)
			abort();
	} else if (!err || !*vr_error_msg(err)) {
		abort();
	}
	vr_error_free(err);
	err = NULL;

	int64_t actual = 0;
	if (qemu_balloon_parse(j, mem, &actual, &err) == 0) {
		if (actual < 0 || (uint64_t)actual > mem)
			abort();
	} else if (!err) {
		abort();
	}
	vr_error_free(err);
	err = NULL;

	struct qemu_blockstat *b = NULL;
	size_t n = 0;
	if (qemu_blockstats_parse(j, &b, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			size_t len = strnlen(b[i].device, sizeof(b[i].device));
			if (len == 0 || len == sizeof(b[i].device))
				abort();
			for (size_t k = 0; k < len; k++)
				if ((unsigned char)b[i].device[k] < 0x20 || b[i].device[k] == '/')
					abort();
			for (size_t k = 0; k < i; k++)
				if (strcmp(b[k].device, b[i].device) == 0)
					abort();
		}
		free(b);
	} else if (!err || b) {
		abort();
	}
	vr_error_free(err);
	json_decref(j);
	return 0;
}
