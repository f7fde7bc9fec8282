/* SPDX-License-Identifier: Apache-2.0 */
#include "host/resources/shares.h"

#include <errno.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"

/* Returns the multiplier of a named level, or 0 when text is not a name. */
static uint64_t level_multiplier(const char *text, uint64_t low, uint64_t normal, uint64_t high)
{
	if (strcasecmp(text, "low") == 0)
		return low;
	if (strcasecmp(text, "normal") == 0)
		return normal;
	if (strcasecmp(text, "high") == 0)
		return high;
	return 0;
}

static int shares_parse(const char *kind, const char *text, uint64_t units, uint64_t low,
			uint64_t normal, uint64_t high, uint64_t *out, struct vr_error **err)
{
	if (!text || !*text)
		return vr_error_set(err, EINVAL, "%s shares are empty: expected low, normal, high or a number from %u to %u",
				    kind, RES_SHARES_MIN, RES_SHARES_MAX);
	uint64_t mult = level_multiplier(text, low, normal, high);
	if (mult) {
		if (units == 0)
			return vr_error_set(err, EINVAL, "%s shares \"%s\" need the VM's size, which is 0", kind, text);
		*out = mult * units;
		return 0;
	}
	uint64_t v;
	if (parse_u64(text, RES_SHARES_MIN, RES_SHARES_MAX, &v) < 0)
		return vr_error_set(err, EINVAL, "%s shares \"%s\" are invalid: expected low, normal, high or a number from %u to %u",
				    kind, text, RES_SHARES_MIN, RES_SHARES_MAX);
	*out = v;
	return 0;
}

int res_cpu_shares_parse(const char *text, unsigned vcpus, uint64_t *out, struct vr_error **err)
{
	return shares_parse("CPU", text, vcpus, 500, 1000, 2000, out, err);
}

int res_mem_shares_parse(const char *text, uint64_t mem_mib, uint64_t *out, struct vr_error **err)
{
	return shares_parse("memory", text, mem_mib, 5, 10, 20, out, err);
}

int res_disk_shares_parse(const char *text, uint64_t *out, struct vr_error **err)
{
	return shares_parse("disk", text, 1, 500, 1000, 2000, out, err);
}

unsigned res_disk_shares_to_bfq_weight(uint64_t shares)
{
	uint64_t w = shares / 10;
	if (w < 1)
		w = 1;
	if (w > 1000)
		w = 1000;
	return (unsigned)w;
}

uint64_t res_cpu_shares_to_v1(uint64_t shares)
{
	if (shares < 2)
		return 2;
	if (shares > 262144)
		return 262144;
	return shares;
}

uint64_t res_cpu_shares_to_v2_weight(uint64_t shares)
{
	uint64_t s = res_cpu_shares_to_v1(shares);
	return 1 + ((s - 2) * 9999) / 262142;
}
