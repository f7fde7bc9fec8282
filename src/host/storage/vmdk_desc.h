/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_VMDK_DESC_H
#define VIREO_HOST_STORAGE_VMDK_DESC_H

/*
 * VMDK descriptors: the text that says which files make up a VMware disk
 * and how big it is, either a small file of its own (monolithicFlat,
 * twoGbMaxExtent*, vmfs*) or embedded in a hosted sparse extent
 * (monolithicSparse, streamOptimized).  Reading one never reads disk data.
 * See docs/storage-formats.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;
struct vmx;

#define VMDK_SECTOR 512u
/* Largest disk: 64 TiB, as QEMU_IMG_MAX_SIZE. */
#define VMDK_MAX_SECTORS ((64ull << 40) / VMDK_SECTOR)
/* 4096 extents of 2 GiB make 8 TiB, the largest twoGbMaxExtent disk VMware makes. */
#define VMDK_MAX_EXTENTS 4096
/* Largest descriptor text, separate or embedded. */
#define VMDK_MAX_DESC_SIZE (1u << 20)
#define VMDK_MAX_LINE 8192

/* Allow absolute extent names and parent hints (a parent on another datastore). */
#define VMDK_DESC_ALLOW_ABSOLUTE 0x1u

enum vmdk_create_type {
	VMDK_CREATE_MONOLITHIC_SPARSE,
	VMDK_CREATE_MONOLITHIC_FLAT,
	VMDK_CREATE_TWO_GB_SPARSE,
	VMDK_CREATE_TWO_GB_FLAT,
	VMDK_CREATE_STREAM_OPTIMIZED,
	VMDK_CREATE_VMFS,        /* ESX thick or thin (ddb.thinProvisioned), "-flat.vmdk" */
	VMDK_CREATE_VMFS_SPARSE, /* ESX snapshot delta, "-delta.vmdk" (COWD) */
	VMDK_CREATE_SE_SPARSE,   /* ESX space-efficient delta, "-sesparse.vmdk" */
};

enum vmdk_access {
	VMDK_ACCESS_RW,
	VMDK_ACCESS_RDONLY,
	VMDK_ACCESS_NOACCESS,
};

enum vmdk_extent_type {
	VMDK_EXTENT_FLAT,
	VMDK_EXTENT_SPARSE,
	VMDK_EXTENT_ZERO,
	VMDK_EXTENT_VMFS,
	VMDK_EXTENT_VMFSSPARSE,
	VMDK_EXTENT_SESPARSE,
};

struct vmdk_extent {
	enum vmdk_access access;
	enum vmdk_extent_type type;
	uint64_t sectors;
	char *file_name; /* as written; NULL for ZERO */
	uint64_t offset; /* in sectors, FLAT and VMFS only */
};

/* The 512-byte header of a hosted sparse extent ("KDMV"), little-endian on disk. */
struct vmdk_sparse_header {
	uint32_t version;
	uint32_t flags;
	uint64_t capacity; /* sectors */
	uint64_t grain_size; /* sectors */
	uint64_t descriptor_offset, descriptor_size; /* sectors; 0 when none */
	uint32_t num_gtes_per_gt;
	uint64_t rgd_offset, gd_offset, overhead;
	uint16_t compress_algorithm;
};

#define VMDK_SPARSE_MAGIC 0x564d444bu /* "KDMV" read as little-endian */
#define VMDK_GD_AT_END UINT64_MAX

struct vmdk_desc {
	char *source; /* where it was read from, for messages */
	unsigned version;
	char *encoding; /* NULL when not declared */
	uint32_t cid;
	uint32_t parent_cid; /* 0xffffffff: no parent */
	enum vmdk_create_type create_type;
	char *create_type_name;       /* as written */
	char *parent_file_name_hint;  /* NULL for a base disk */
	char *change_track_path;      /* the -ctk.vmdk of changed-block tracking, or NULL */
	struct vmdk_extent *extents;
	size_t n_extents;
	uint64_t capacity_sectors; /* sum of the extents */

	/* Disk database (ddb.*); 0 or NULL when absent. */
	char *adapter_type;
	uint32_t cylinders, heads, sectors_per_track;
	unsigned virtual_hw_version;
	bool has_uuid;
	uint8_t uuid[16];
	char *long_content_id; /* 32 hex digits */

	/* Every key = value line, in order (the fields above included). */
	struct vmx *keys;

	/* Set when the descriptor was read from a hosted sparse extent. */
	bool embedded;
	struct vmdk_sparse_header sparse;
};

void vmdk_desc_free(struct vmdk_desc *d);
void vmdk_desc_freep(struct vmdk_desc **d);
#define _cleanup_vmdk_desc_ __attribute__((cleanup(vmdk_desc_freep)))

/*
 * Checks a sparse header (at least 512 bytes at buf) against the size of
 * the file it came from: magic, version 1..3, capacity, grain size,
 * descriptor and grain directory inside the file.
 */
int vmdk_sparse_header_parse(const void *buf, size_t len, uint64_t file_size,
			     const char *source, struct vmdk_sparse_header *out,
			     struct vr_error **err);

/*
 * Parses descriptor text (need not be NUL-terminated).  `source` names it in
 * messages; flags: VMDK_DESC_ALLOW_ABSOLUTE.
 */
int vmdk_desc_parse(const char *text, size_t len, const char *source, unsigned flags,
		    struct vmdk_desc **out, struct vr_error **err);
/*
 * Parses the bytes of a whole .vmdk file: a hosted sparse extent with an
 * embedded descriptor, or a descriptor file.
 */
int vmdk_desc_parse_image(const void *data, size_t len, const char *source, unsigned flags,
			  struct vmdk_desc **out, struct vr_error **err);
/* Reads the descriptor of the .vmdk at path (only the header and descriptor of a sparse file). */
int vmdk_desc_load(const char *path, unsigned flags, struct vmdk_desc **out,
		   struct vr_error **err);

/*
 * The files the disk is made of, for copying, cloning and deleting: first
 * `descriptor_name` (the .vmdk itself), then each extent file and the
 * change-tracking file, each once, as the descriptor names them (relative
 * to the descriptor's folder unless absolute).  The parent is not included.
 */
char **vmdk_desc_files(const struct vmdk_desc *d, const char *descriptor_name);

/*
 * Checks the extent files in `dir` (the descriptor's folder): each exists
 * and is a regular file, flat extents are large enough for their sectors,
 * sparse extents have a valid header whose capacity matches the extent.
 */
int vmdk_desc_check_extents(const struct vmdk_desc *d, const char *dir, struct vr_error **err);

const char *vmdk_create_type_name(enum vmdk_create_type t);

#endif
