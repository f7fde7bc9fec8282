/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VMDK files arrive with imports and from other hosts: parse arbitrary
 * bytes as a whole .vmdk (a sparse extent with an embedded descriptor, or a
 * descriptor file) and check what is accepted against the limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/storage/vmdk_desc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

static bool has_dotdot(const char *name)
{
	for (const char *p = name; (p = strstr(p, "..")); p++)
		if ((p == name || is_sep(p[-1])) && (p[2] == '\0' || is_sep(p[2])))
			return true;
	return false;
}

static void check(const struct vmdk_desc *d)
{
	if (d->n_extents == 0 || d->n_extents > VMDK_MAX_EXTENTS)
		abort();
	uint64_t total = 0;
	for (size_t i = 0; i < d->n_extents; i++) {
		const struct vmdk_extent *e = &d->extents[i];
		if (e->sectors == 0 || (e->type == VMDK_EXTENT_ZERO) != !e->file_name)
			abort();
		total += e->sectors;
	}
	if (total != d->capacity_sectors || total > VMDK_MAX_SECTORS)
		abort();
	if ((d->parent_cid != 0xffffffffu) != !!d->parent_file_name_hint)
		abort();
	char **files = vmdk_desc_files(d, "fuzz.vmdk");
	if (!files || strcmp(files[0], "fuzz.vmdk") != 0)
		abort();
	for (size_t i = 1; files[i]; i++)
		if (has_dotdot(files[i]))
			abort(); /* a name that leaves the folder got through */
	strv_free(files);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdk_desc *d = NULL;
	struct vr_error *err = NULL;
	int strict = vmdk_desc_parse_image(data, size, "fuzz.vmdk", 0, &d, &err);
	if (strict < 0) {
		if (!err || !err->msg || !*err->msg || d)
			abort();
		vr_error_free(err);
		err = NULL;
	} else {
		check(d);
		if (d->parent_file_name_hint && d->parent_file_name_hint[0] == '/')
			abort(); /* absolute names need the flag */
		vmdk_desc_free(d);
		d = NULL;
	}
	int lax = vmdk_desc_parse_image(data, size, "fuzz.vmdk", VMDK_DESC_ALLOW_ABSOLUTE, &d, &err);
	if (lax < 0) {
		if (strict == 0)
			abort(); /* allowing more can only accept more */
		vr_error_free(err);
		return 0;
	}
	check(d);
	vmdk_desc_free(d);
	return 0;
}
