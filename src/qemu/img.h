/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_IMG_H
#define VIREO_QEMU_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/vmconfig.h"

struct vr_error;

/* Largest virtual disk we create: 64 TiB, as VMFS 6 allows 62 TiB. */
#define QEMU_IMG_MAX_SIZE (64ull << 40)

/*
 * Runs qemu-img with argv (argv[0] is ignored and replaced by the
 * binary); on failure the error carries qemu-img's own message.
 */
int qemu_img_run(const char *binary, char *const argv[], char **stdout_out,
		 struct vr_error **err);
/* Creates a new, thin disk image; refuses to overwrite. */
int qemu_img_create(const char *binary, const char *path, const char *format,
		    uint64_t size_bytes, struct vr_error **err);

/* ---- backing chains ---- */

/* Deepest backing chain accepted (qcow2 images have no limit of their own). */
#define QEMU_IMG_MAX_CHAIN 255

struct qemu_img_bitmap {
	char *name;
	uint64_t granularity; /* bytes */
	bool in_use;          /* not saved cleanly: its contents cannot be trusted */
	bool auto_enabled;    /* tracks writes while the image is in use */
};

/* One image of a chain, as `qemu-img info` reports it. */
struct qemu_img_info {
	char *filename;
	char *format; /* "raw", "qcow2" or "vmdk" */
	uint64_t virtual_size;
	int64_t actual_size;         /* bytes allocated on the host; -1 when unknown */
	char *backing_filename;      /* as recorded in the image; NULL for the base */
	char *full_backing_filename; /* as QEMU resolves it */
	char *backing_format;        /* as recorded in the image */
	bool dirty_flag;
	struct qemu_img_bitmap *bitmaps; /* qcow2 persistent dirty bitmaps */
	size_t n_bitmaps;
};

/* images[0] is the image asked about, images[n - 1] the base. */
struct qemu_img_chain {
	struct qemu_img_info *images;
	size_t n;
};

void qemu_img_chain_free(struct qemu_img_chain *chain);
void qemu_img_chain_freep(struct qemu_img_chain **chain);
#define _cleanup_img_chain_ __attribute__((cleanup(qemu_img_chain_freep)))

/*
 * Reads the backing chain of path, opened as `format` (never probed), with
 * `qemu-img info --backing-chain -U` (so it works while a VM runs), and
 * checks it: every backing file exists and has a recorded format that its
 * contents agree with, no loop, at most QEMU_IMG_MAX_CHAIN levels, sizes up
 * to QEMU_IMG_MAX_SIZE, only plain files (no json: or protocol names), no
 * image marked corrupt.  Errors name the file at fault.
 */
int qemu_img_chain_get(const char *binary, const char *path, const char *format,
		       struct qemu_img_chain **out, struct vr_error **err);

/* ---- creating and growing disks ---- */

/* Provisioning (thin, thick lazy- or eager-zeroed): enum vm_disk_provisioning, common/vmconfig.h. */

/*
 * Progress of a long qemu-img run, called about every 200 ms and once at the
 * end with done == total.  Returning non-zero cancels the operation.
 */
typedef int (*qemu_img_progress_fn)(uint64_t done, uint64_t total, void *opaque);

struct qemu_img_create_opts {
	const char *path;
	const char *format; /* "qcow2" or "raw" */
	uint64_t size;      /* bytes, 1 .. QEMU_IMG_MAX_SIZE */
	enum vm_disk_provisioning provisioning;
	qemu_img_progress_fn progress; /* optional */
	void *opaque;
};

/*
 * Creates a new disk.  Refuses an existing path, and refuses up front when
 * the file system's free space cannot hold what the disk reserves (its
 * metadata when thin, all of it when thick).  On failure or cancellation
 * (-ECANCELED) the partial file is removed.
 */
int qemu_img_create_disk(const char *binary, const struct qemu_img_create_opts *opts,
			 struct vr_error **err);

/*
 * Grows a qcow2 or raw disk to new_size bytes; the added space is
 * provisioned as asked.  Shrinking is refused (-EINVAL) and the same size
 * is a no-op.  Checks the image (as qemu_img_chain_get) first.
 */
int qemu_img_resize(const char *binary, const char *path, const char *format,
		    uint64_t new_size, enum vm_disk_provisioning provisioning,
		    struct vr_error **err);

/* ---- copies and linked overlays (clones) ---- */

/*
 * Copies what the chain of src (opened as src_format, shared: a running
 * VM may hold its files read-only) holds into a new thin qcow2 dst, with
 * `qemu-img convert`.  Refuses an existing dst and, up front, too little
 * free space (`qemu-img measure`).  Progress from dst's allocated blocks.
 * On failure or cancellation dst is removed.
 */
int qemu_img_convert_qcow2(const char *binary, const char *src, const char *src_format,
			   const char *dst, qemu_img_progress_fn progress, void *opaque,
			   struct vr_error **err);
/*
 * Creates a new qcow2 dst of size bytes on backing (an absolute path,
 * recorded with backing_format) without opening backing; refuses an
 * existing dst.
 */
int qemu_img_create_overlay(const char *binary, const char *dst, const char *backing,
			    const char *backing_format, uint64_t size, struct vr_error **err);

#endif
