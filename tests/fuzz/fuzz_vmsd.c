/* SPDX-License-Identifier: Apache-2.0 */
/*
 * .vmsd files come from datastores other hosts and people write: parse
 * arbitrary bytes; what loads must format and load again to the same text,
 * and must stay consistent through the tree operations.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/storage/vmsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Formats v and checks that the text loads again and formats identically. */
static void check_roundtrip(const struct vmsd *v)
{
	char *text = vmsd_format(v);
	size_t len = strlen(text);
	/* Escaping can triple a value; past 64 KiB a line may exceed the parser's limit. */
	if (len <= 65536) {
		struct vmsd *again = NULL;
		struct vr_error *err = NULL;
		if (vmsd_parse(text, len, "formatted.vmsd", &again, &err) < 0)
			abort(); /* what we write, we must read back */
		char *text2 = vmsd_format(again);
		if (strcmp(text, text2) != 0)
			abort();
		free(text2);
		vmsd_free(again);
	}
	free(text);
}

/* Every snapshot is reachable from the roots exactly once, and parents agree. */
static void check_tree(const struct vmsd *v, const struct vmsd_snapshot *parent, size_t *seen,
		       size_t depth)
{
	if (depth > vmsd_count(v))
		abort();
	for (struct vmsd_snapshot *c = vmsd_first_child(v, parent); c; c = c->next_sibling) {
		if (c->parent != parent || vmsd_find_uid(v, c->uid) != c)
			abort();
		if (++*seen > vmsd_count(v))
			abort();
		check_tree(v, c, seen, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmsd *v = NULL;
	struct vr_error *err = NULL;
	if (vmsd_parse((const char *)data, size, "fuzz.vmsd", &v, &err) < 0) {
		if (!err || !err->msg || !*err->msg || v)
			abort(); /* every refusal says why, and returns nothing */
		vr_error_free(err);
		return 0;
	}
	size_t seen = 0;
	check_tree(v, NULL, &seen, 0);
	if (seen != vmsd_count(v))
		abort();
	check_roundtrip(v);

	/* Drive the tree: remove the first snapshot, revert, take a new one. */
	if (vmsd_count(v) > 0) {
		uint32_t uid = vmsd_at(v, 0)->uid;
		if (vmsd_snapshot_remove(v, uid, &err) < 0 || vmsd_find_uid(v, uid))
			abort();
	}
	if (vmsd_count(v) > 0 && vmsd_set_current(v, vmsd_at(v, vmsd_count(v) - 1)->uid, &err) < 0)
		abort();
	struct vmsd_disk disk = {"vm-000001.vmdk", "scsi0:0"};
	struct vmsd_snapshot_spec spec = {.display_name = "fuzz", .disks = &disk, .n_disks = 1};
	struct vmsd_snapshot *added = NULL;
	if (vmsd_snapshot_add(v, &spec, &added, &err) == 0) {
		if (vmsd_current(v) != added || added->uid != vmsd_last_uid(v))
			abort();
	} else {
		vr_error_free(err);
		err = NULL;
	}
	seen = 0;
	check_tree(v, NULL, &seen, 0);
	if (seen != vmsd_count(v))
		abort();
	check_roundtrip(v);
	vmsd_free(v);
	return 0;
}
