/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_BLOCK_H
#define VIREO_QEMU_BLOCK_H

/*
 * Block operations on a running QEMU over QMP: the engine side of
 * snapshots, disk merges, online growth and changed-block tracking.
 * Everything here is QMP JSON; callers (hostd's storage code) say what
 * they want in terms of devices and files and never build QMP themselves.
 *
 * Devices are named by their qdev id as the command line gives them
 * ("scsi0-0", "sata0-1", "nvme0-0", "ide0-0").  Node names are chosen by
 * the caller (at most 31 characters: letters, digits, '-', '_', '.',
 * beginning with a letter); where a function takes the name of an
 * existing node, QEMU's own names for nodes it opened by itself (backing
 * files read from an image header after a restart: "#block123") are
 * accepted too.
 *
 * Files: QEMU opens overlays, and reopens backing files read-write while
 * it merges into them, possibly as an unprivileged user (-runas): making
 * the files readable and writable by that user is the caller's job.
 *
 * Timeouts: timeout_ms bounds the whole call (<= 0: no limit).  Commit and
 * stream have none: they wait for their job, each QMP command bounded.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qmp;
struct vr_error;

/* Progress of a block job: bytes done of total; return non-zero to cancel. */
typedef int (*qemu_block_progress_fn)(uint64_t done, uint64_t total, void *opaque);

/*
 * The node at the top of a device's chain (what the guest writes to),
 * from query-block.  *node_out: caller frees.  -ENOENT naming the device
 * when QEMU has no such device.
 */
int qemu_block_top_node(struct qmp *q, const char *device, char **node_out, int timeout_ms,
			struct vr_error **err);

/* One image of a device's chain as QEMU has it open. */
struct qemu_block_image {
	char *node_name;     /* format node: what commit and stream take */
	char *file_node;     /* its protocol node; NULL when it has none */
	char *filename;      /* the image file (the protocol node's, never "json:") */
	char *format;        /* QEMU driver: "qcow2", "raw", "vmdk" */
	char *backing_name;  /* backing file name as recorded in the image; NULL if none */
	uint64_t virtual_size;
	bool read_only;
};

/* images[0] is the device's top, images[n - 1] its base. */
struct qemu_block_chain {
	struct qemu_block_image *images;
	size_t n;
};

/*
 * A device's chain with node names, from the block graph
 * (x-debug-query-block-graph) and query-named-block-nodes.  Use it to
 * find the node of a file: after a restart QEMU names the backing files
 * it opened itself "#blockNNN", and for a node whose backing was attached
 * by a snapshot QEMU 7.2 reports its "file" as "json:{...}" when the
 * image records its backing file by a relative name, so matching
 * query-named-block-nodes' "file" against a path misses it.  Block job
 * filters are skipped.  -ENOENT naming the device when there is no such
 * device.
 */
int qemu_block_chain_get(struct qmp *q, const char *device, struct qemu_block_chain **out,
			 int timeout_ms, struct vr_error **err);
void qemu_block_chain_free(struct qemu_block_chain *chain);
void qemu_block_chain_freep(struct qemu_block_chain **chain);
#define _cleanup_block_chain_ __attribute__((cleanup(qemu_block_chain_freep)))

/* One disk of a snapshot: put a new overlay file on top of a device's chain. */
struct qemu_block_overlay {
	const char *device;      /* qdev id, e.g. "scsi0-0" */
	const char *overlay;     /* absolute path of an existing qcow2 file whose backing
				  * file is the device's current top image */
	const char *node_name;   /* name for the overlay's format node ("f-" + it: file node),
				  * so at most 29 characters */
};

/*
 * Adds each overlay as a node (opened by QEMU, so the file must be
 * readable and writable by QEMU's user), then switches every device to
 * its overlay in one QMP transaction (blockdev-snapshot): all disks or
 * none.  The caller stops the vCPUs first when the disks must agree with
 * a saved memory state.  On failure the added nodes are removed again
 * and the devices still write to their old tops.
 *
 * Before switching, each overlay is checked as QEMU opened it: it must
 * record a backing file that is the device's top file (same inode) with
 * the top's format, and have the top's virtual size (a different size
 * would change the disk under the guest).  Persistent dirty bitmaps stay
 * on the old top, which becomes read-only: changed-block tracking must add
 * a new bitmap on the overlay.
 */
int qemu_block_snapshot(struct qmp *q, const struct qemu_block_overlay *disks, size_t n,
			int timeout_ms, struct vr_error **err);

/*
 * Merges the image `top` (a node name, or NULL for the device's top) into
 * `base` (a node below it in the same device's chain), with block-commit.
 * Committing the active layer ends with QEMU switching the device to base
 * (job-complete).  Waits for the job; progress is reported while it runs.
 * On failure or cancellation the chain is unchanged (an interrupted
 * commit leaves base holding part of top's data, which top still covers);
 * cancellation returns -ECANCELED, but a job that has already finished
 * when the cancel arrives counts as done.  progress is called about every
 * 100 ms and, on success, once more with done == total.
 *
 * The image above top gets base as its backing file, recorded by a
 * relative name if it recorded top's by a relative name (else by base's
 * absolute file name; QEMU's own default can be a "json:{...}" string).
 * Afterwards the nodes that left the chain are deleted (blockdev-del), so
 * QEMU no longer has their files open and the caller may remove them.
 *
 * One job per device at a time: -EBUSY while this process runs one on
 * it; a job left by an earlier hostd (QEMU job "vireo-commit-<device>")
 * is cancelled or dismissed first.
 */
int qemu_block_commit(struct qmp *q, const char *device, const char *top, const char *base,
		      qemu_block_progress_fn progress, void *opaque, struct vr_error **err);

/*
 * Copies into the device's top image the data of every image above `base`
 * (a node name, or NULL for the whole chain) with block-stream, then
 * makes base the top's backing.  Waits for the job.  Backing names,
 * progress, cancellation and removed nodes as for qemu_block_commit().
 */
int qemu_block_stream(struct qmp *q, const char *device, const char *base,
		      qemu_block_progress_fn progress, void *opaque, struct vr_error **err);

/*
 * Grows the device's disk as the guest sees it (block_resize on its top
 * node); shrinking is refused (-EINVAL: QEMU would shrink a qcow2), the
 * same size is a no-op.
 */
int qemu_block_resize(struct qmp *q, const char *device, uint64_t new_size, int timeout_ms,
		      struct vr_error **err);

/*
 * Changed-block tracking: adds a persistent dirty bitmap `name` to the
 * device's top node (kept in the qcow2 file across restarts), or removes
 * one from it.  Names: 1 to 1023 letters, digits, '-', '_', '.'.  A raw
 * top cannot hold persistent bitmaps (QEMU's error is passed on).
 */
int qemu_block_bitmap_add(struct qmp *q, const char *device, const char *name, int timeout_ms,
			  struct vr_error **err);
int qemu_block_bitmap_remove(struct qmp *q, const char *device, const char *name,
			     int timeout_ms, struct vr_error **err);

#endif
