/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qemu-img describes images that other hosts and people made: parse
 * arbitrary bytes as `qemu-img info` and `qemu-img measure` output and
 * check that an accepted chain keeps every promise of qemu_img_chain_get().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "qemu/img_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	if (qemu_img_parse_chain((const char *)data, size, "fuzz.qcow2", &c, &err) < 0) {
		if (!err || !err->msg || !*err->msg || c)
			abort();
		vr_error_free(err);
		err = NULL;
	} else {
		if (c->n == 0 || c->n > QEMU_IMG_MAX_CHAIN)
			abort();
		for (size_t i = 0; i < c->n; i++) {
			const struct qemu_img_info *img = &c->images[i];
			if (!img->filename || !img->format || img->virtual_size > QEMU_IMG_MAX_SIZE)
				abort();
			if (!img->backing_filename != (i + 1 == c->n))
				abort(); /* only the base lacks a backing file */
			if (img->backing_filename &&
			    (!img->backing_format || strcmp(img->backing_format, c->images[i + 1].format)))
				abort();
			for (size_t j = 0; j < i; j++)
				if (strcmp(c->images[j].filename, img->filename) == 0)
					abort();
			for (size_t b = 0; b < img->n_bitmaps; b++)
				if (!img->bitmaps[b].name || img->bitmaps[b].granularity < 512)
					abort();
		}
		qemu_img_chain_free(c);
	}
	uint64_t req, full;
	if (qemu_img_parse_measure((const char *)data, size, &req, &full, &err) < 0)
		vr_error_free(err);
	(void)qemu_img_probe_format(data, size);
	return 0;
}
