/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_FILENAME_H
#define VIREO_HOST_STORAGE_FILENAME_H

#include <stdbool.h>

struct vr_error;

/* Longest file name a .vmsd or a VMDK descriptor may refer to. */
#define STORAGE_FILE_NAME_MAX 4096

/* Accept absolute names (a VMDK parent on another datastore). */
#define STORAGE_NAME_ALLOW_ABSOLUTE 0x1u

/*
 * Checks a file name that one datastore file uses to refer to another (a
 * snapshot's disk in a .vmsd, an extent in a VMDK descriptor): 1 to
 * STORAGE_FILE_NAME_MAX bytes of UTF-8 without control characters, no ".."
 * component, not ending in a separator, and not absolute ('/' or '\' first,
 * or a drive letter such as "C:") unless STORAGE_NAME_ALLOW_ABSOLUTE.
 * Both '/' and '\' count as separators, since these files also come from
 * Windows hosts.  `source` is the referring file and `what` the key or line
 * that holds the name; both appear in the error.
 */
int storage_file_name_check(const char *name, unsigned flags, const char *source,
			    const char *what, struct vr_error **err);

/* Whether name is absolute in the sense above. */
bool storage_file_name_is_absolute(const char *name);

#endif
