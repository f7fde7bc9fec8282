/* SPDX-License-Identifier: Apache-2.0 */
#include "host/storage/filename.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

bool storage_file_name_is_absolute(const char *name)
{
	if (is_sep(name[0]))
		return true;
	/* "C:\x", "C:x": a Windows drive, absolute for our purposes. */
	if (((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')) &&
	    name[1] == ':')
		return true;
	return false;
}

int storage_file_name_check(const char *name, unsigned flags, const char *source,
			    const char *what, struct vr_error **err)
{
	size_t len = strlen(name);
	if (len == 0)
		return vr_error_set(err, EINVAL, "\"%s\": %s is an empty file name", source, what);
	if (len > STORAGE_FILE_NAME_MAX)
		return vr_error_set(err, ENAMETOOLONG,
				    "\"%s\": %s is a file name of %zu bytes (at most %d allowed)",
				    source, what, len, STORAGE_FILE_NAME_MAX);
	if (!utf8_valid(name))
		return vr_error_set(err, EINVAL, "\"%s\": %s is not valid UTF-8", source, what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return vr_error_set(err, EINVAL,
					    "\"%s\": %s contains the control character 0x%02x",
					    source, what, c);
	}
	if (!(flags & STORAGE_NAME_ALLOW_ABSOLUTE) && storage_file_name_is_absolute(name))
		return vr_error_set(err, EPERM,
				    "\"%s\": %s \"%s\" is an absolute path; only names inside the VM folder are allowed",
				    source, what, name);
	if (is_sep(name[len - 1]))
		return vr_error_set(err, EINVAL, "\"%s\": %s \"%s\" names a folder, not a file",
				    source, what, name);
	for (const char *p = name; *p;) {
		size_t n = 0;
		while (p[n] && !is_sep(p[n]))
			n++;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return vr_error_set(err, EPERM,
					    "\"%s\": %s \"%s\" contains \"..\" and could leave the VM folder",
					    source, what, name);
		p += n;
		while (is_sep(*p))
			p++;
	}
	return 0;
}
