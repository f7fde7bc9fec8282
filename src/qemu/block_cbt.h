/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_BLOCK_CBT_H
#define VIREO_QEMU_BLOCK_CBT_H

/*
 * Changed-block tracking on a running QEMU: listing the dirty bitmaps of a
 * device's chain, rotating the recording bitmap in one transaction, and a
 * read-only NBD export of the device's top (optionally with a scratch
 * bitmap merged from bitmaps anywhere in the chain) that `qemu-img map`
 * reads.  Devices, timeouts and names as in block.h.
 */

#include <stdbool.h>
#include <stddef.h>

struct qmp;
struct vr_error;

struct qemu_block_bitmap {
	char *node;        /* node name */
	size_t depth;      /* 0: the device's top, 1: its backing, ... */
	char *name;
	bool recording;
	bool inconsistent; /* loaded "in-use": QEMU did not save it cleanly */
};

/* The dirty bitmaps on every image of the device's chain.  *top_node_out: caller frees. */
int qemu_block_bitmaps_list(struct qmp *q, const char *device, char **top_node_out,
			    struct qemu_block_bitmap **out, size_t *n_out, int timeout_ms,
			    struct vr_error **err);
void qemu_block_bitmaps_free(struct qemu_block_bitmap *v, size_t n);

/*
 * In one transaction: adds persistent bitmap `next` (granularity bytes) on
 * node and, when freeze is not NULL, stops bitmap `freeze` of node from
 * recording; no guest write falls between the two.
 */
int qemu_block_bitmap_rotate(struct qmp *q, const char *node, const char *freeze,
			     const char *next, unsigned granularity, int timeout_ms,
			     struct vr_error **err);
/* Removes bitmap `name` of node (block-dirty-bitmap-remove). */
int qemu_block_bitmap_remove_node(struct qmp *q, const char *node, const char *name,
				  int timeout_ms, struct vr_error **err);

struct qemu_block_bitmap_ref {
	const char *node;
	const char *name;
};

/*
 * Starts an NBD server on unix socket `socket_path` and exports node
 * read-only as `export_name`.  With scratch: first a new disabled,
 * non-persistent bitmap `scratch` on node receives the union of srcs
 * (block-dirty-bitmap-merge), and the export offers it as the meta
 * context qemu:dirty-bitmap:<scratch>.  On failure everything is undone.
 */
int qemu_block_nbd_export_start(struct qmp *q, const char *node, const char *socket_path,
				const char *export_name, const char *scratch,
				const struct qemu_block_bitmap_ref *srcs, size_t n_srcs,
				int timeout_ms, struct vr_error **err);
/* Ends it again: the export, the server, the scratch bitmap (best effort, errors logged). */
void qemu_block_nbd_export_stop(struct qmp *q, const char *node, const char *export_name,
				const char *scratch, int timeout_ms);

#endif
