/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_IMG_PRIV_H
#define VIREO_QEMU_IMG_PRIV_H

/*
 * Parsers of qemu-img's JSON output, for img.c, the unit tests and the
 * fuzzer.  The images qemu-img describes come from datastores other hosts
 * and people write, so the output is checked like untrusted input.
 */

#include <stddef.h>
#include <stdint.h>

#include "qemu/img.h"

/*
 * Parses `qemu-img info --output=json`: an array (--backing-chain) or one
 * object, checking each image but not how they link.  `source` is the top
 * image, for messages.
 */
int qemu_img_parse_images(const char *json, size_t len, const char *source,
			  struct qemu_img_chain **out, struct vr_error **err);
/*
 * Checks how the images link: each backing file is the next image, with a
 * recorded format that matches it; no loop; only plain files.
 */
int qemu_img_chain_check(const struct qemu_img_chain *c, const char *source,
			 struct vr_error **err);
/* qemu_img_parse_images() + qemu_img_chain_check(). */
int qemu_img_parse_chain(const char *json, size_t len, const char *source,
			 struct qemu_img_chain **out, struct vr_error **err);

/* Parses `qemu-img measure --output=json`. */
int qemu_img_parse_measure(const char *json, size_t len, uint64_t *required,
			   uint64_t *fully_allocated, struct vr_error **err);

/*
 * The format the first bytes of an image (at least 512 when the file has
 * them) look like: "qcow2", "vmdk", "qed", "vdi", "vpc", "vhdx", "luks", or
 * "raw" for anything else.
 */
const char *qemu_img_probe_format(const uint8_t *buf, size_t len);

#endif
