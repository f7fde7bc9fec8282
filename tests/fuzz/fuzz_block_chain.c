/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A device's chain is read from what QEMU answers to query-block,
 * x-debug-query-block-graph and query-named-block-nodes: parse arbitrary
 * JSON as those replies ({"device", "blocks", "graph", "nodes"}) and check
 * the promises of qemu_block_chain_get(); relative backing names are made
 * from QEMU's file names too ("from", "to").
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "qemu/block_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_chain(json_t *in)
{
	const char *device = json_string_value(json_object_get(in, "device"));
	struct qemu_block_chain *c = NULL;
	struct vr_error *err = NULL;
	int r = block_chain_parse(json_object_get(in, "blocks"), json_object_get(in, "graph"),
				  json_object_get(in, "nodes"), device ? device : "scsi0-0", &c,
				  &err);
	if (r < 0) {
		if (!err || !err->msg || !*err->msg || c)
			abort();
		vr_error_free(err);
		return;
	}
	if (!c || c->n == 0 || c->n > 257)
		abort();
	for (size_t i = 0; i < c->n; i++) {
		const struct qemu_block_image *im = &c->images[i];
		if (!im->node_name || !im->filename || !im->format)
			abort();
		if (block_chain_find(c, im->node_name) != (int)i)
			abort(); /* a node appears once: a loop is refused */
	}
	free(block_chain_describe(c));
	qemu_block_chain_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK, NULL);
	if (!json_is_object(in)) {
		json_decref(in);
		return 0;
	}
	check_chain(in);
	const char *from = json_string_value(json_object_get(in, "from"));
	const char *to = json_string_value(json_object_get(in, "to"));
	if (from && to) {
		char *rel = block_relative_path(from, to);
		if (!rel || (from[0] == '/' && to[0] == '/' && rel[0] == '/'))
			abort(); /* two absolute paths always give a relative one */
		free(rel);
	}
	json_decref(in);
	return 0;
}
