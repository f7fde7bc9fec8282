/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_IMG_H
#define VIREO_QEMU_IMG_H

#include <stdint.h>

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

#endif
