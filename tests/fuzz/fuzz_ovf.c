/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OVF descriptors come from packages anyone can hand us: parse arbitrary
 * bytes; every refusal says why; what parses must write and parse again to
 * the same descriptor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "host/storage/ovf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ovf_descriptor *d = NULL;
	struct vr_error *err = NULL;
	if (ovf_descriptor_parse((const char *)data, size, &d, &err) < 0) {
		if (!err || !err->msg || !*err->msg || d)
			abort();
		vr_error_free(err);
		err = NULL;
	} else {
		if (!d->vcpus || d->vcpus > OVF_MAX_VCPUS || !d->memory_mib ||
		    d->memory_mib > OVF_MAX_MEMORY_MIB || d->n_disks > OVF_MAX_DISKS ||
		    d->n_files > OVF_MAX_FILES || d->n_nics > OVF_MAX_NICS)
			abort();
		for (size_t i = 0; i < d->n_files; i++)
			if (!ovf_file_name_valid(d->files[i].href))
				abort();
		size_t len = 0;
		char *text = ovf_descriptor_write(d, &len);
		struct ovf_descriptor *again = NULL;
		if (ovf_descriptor_parse(text, len, &again, &err) < 0)
			abort(); /* what we write, we must read back */
		if (again->vcpus != d->vcpus || again->memory_mib != d->memory_mib ||
		    again->n_disks != d->n_disks || again->n_nics != d->n_nics ||
		    again->n_files != d->n_files || !same(again->kernel, d->kernel) ||
		    !same(again->cmdline, d->cmdline))
			abort();
		for (size_t i = 0; i < d->n_disks; i++)
			if (again->disks[i].capacity != d->disks[i].capacity ||
			    again->disks[i].unit != d->disks[i].unit ||
			    strcmp(again->disks[i].id, d->disks[i].id) != 0)
				abort();
		ovf_descriptor_free(again);
		free(text);
	}
	ovf_descriptor_free(d);
	/* The manifest parser takes the same bytes. */
	struct ovf_manifest *m = NULL;
	if (ovf_manifest_parse((const char *)data, size, &m, &err) < 0)
		vr_error_free(err);
	ovf_manifest_free(m);
	return 0;
}
