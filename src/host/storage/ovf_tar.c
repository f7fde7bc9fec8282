/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ustar archives of OVA packages (POSIX.1-1988 ustar, as OVF 1.x asks):
 * written and read here because only plain members are needed, and reading
 * them must be strict (see ovf_tar_extract()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/storage/ovf.h"

#define BLOCK 512

struct ustar {
	char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag;
	char linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8],
		devminor[8], prefix[155], pad[12];
};
_Static_assert(sizeof(struct ustar) == BLOCK, "ustar header is one block");

static unsigned header_sum(const struct ustar *h)
{
	const unsigned char *p = (const unsigned char *)h;
	unsigned sum = 0;
	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : p[i];
	return sum;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies len bytes from in to out; a short input is -EIO. */
static int copy_bytes(int in, int out, uint64_t len, char *buf, size_t bufsize)
{
	while (len) {
		size_t want = len < bufsize ? (size_t)len : bufsize;
		ssize_t n = read(in, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		int r = write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
		len -= (uint64_t)n;
	}
	return 0;
}

int ovf_tar_write(const char *dst, const char *dir, char *const *names, struct vr_error **err)
{
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return vr_error_set_errno(err, errno, "cannot create \"%s\"", dst);
	size_t bufsize = 1 << 20;
	_cleanup_free_ char *buf = xmalloc(bufsize);
	int r = 0;
	for (size_t i = 0; names[i] && r >= 0; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
		_cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (in < 0 || fstat(in, &st) < 0)
			return vr_error_set_errno(err, errno, "cannot read \"%s\"", path);
		if (strlen(names[i]) >= 100 || (uint64_t)st.st_size >= (1ull << 33))
			return vr_error_set(err, EFBIG,
					    "\"%s\": too large or too long a name for a ustar member",
					    path);
		struct ustar h;
		memset(&h, 0, sizeof(h));
		memcpy(h.name, names[i], strlen(names[i]));
		snprintf(h.mode, sizeof(h.mode), "%07o", 0644);
		snprintf(h.uid, sizeof(h.uid), "%07o", 0);
		snprintf(h.gid, sizeof(h.gid), "%07o", 0);
		snprintf(h.size, sizeof(h.size), "%011llo", (unsigned long long)st.st_size);
		snprintf(h.mtime, sizeof(h.mtime), "%011llo", (unsigned long long)st.st_mtime);
		h.typeflag = '0';
		memcpy(h.magic, "ustar", 6);
		memcpy(h.version, "00", 2);
		snprintf(h.chksum, sizeof(h.chksum), "%06o", header_sum(&h));
		h.chksum[7] = ' ';
		if ((r = write_all(out, &h, BLOCK)) < 0 ||
		    (r = copy_bytes(in, out, (uint64_t)st.st_size, buf, bufsize)) < 0)
			break;
		size_t pad = (BLOCK - (size_t)(st.st_size % BLOCK)) % BLOCK;
		memset(buf, 0, BLOCK);
		r = write_all(out, buf, pad);
	}
	if (r >= 0) {
		memset(buf, 0, 2 * BLOCK);
		r = write_all(out, buf, 2 * BLOCK);
	}
	if (r >= 0 && fsync(out) < 0)
		r = -errno;
	if (r < 0) {
		unlink(dst);
		return vr_error_set_errno(err, -r, "cannot write \"%s\"", dst);
	}
	return 0;
}

static int parse_octal(const char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	while (i < len && f[i] == ' ')
		i++;
	size_t digits = 0;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 60)
			return -EINVAL;
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	for (; i < len; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -EINVAL;
	if (!digits)
		return -EINVAL;
	*out = v;
	return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (int)got;
}

int ovf_tar_extract(const char *src, const char *dir, uint64_t max_member, char ***names_out,
		    struct vr_error **err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return vr_error_set_errno(err, errno, "cannot open \"%s\"", src);
	size_t bufsize = 1 << 20;
	_cleanup_free_ char *buf = xmalloc(bufsize);
	_cleanup_strv_ char **names = NULL;
	size_t members = 0;
	for (;;) {
		struct ustar h;
		int n = read_full(in, &h, BLOCK);
		if (n < 0)
			return vr_error_set_errno(err, -n, "cannot read \"%s\"", src);
		if (n < BLOCK)
			return vr_error_set(err, EINVAL, "\"%s\": truncated tar archive (no end blocks)",
					    src);
		static const char zero[BLOCK];
		if (memcmp(&h, zero, BLOCK) == 0)
			break;
		uint64_t sum, size;
		if (parse_octal(h.chksum, sizeof(h.chksum), &sum) < 0 || sum != header_sum(&h))
			return vr_error_set(err, EINVAL, "\"%s\": member %zu: bad tar header checksum",
					    src, members + 1);
		if (memcmp(h.magic, "ustar", 5) != 0)
			return vr_error_set(err, EINVAL, "\"%s\": member %zu: not a ustar header", src,
					    members + 1);
		char name[101];
		memcpy(name, h.name, 100);
		name[100] = '\0';
		if (h.prefix[0] || !ovf_file_name_valid(name))
			return vr_error_set(err, EINVAL,
					    "\"%s\": member \"%.100s\" is not a plain file name", src,
					    name);
		if (h.typeflag != '0' && h.typeflag != '\0')
			return vr_error_set(err, EINVAL,
					    "\"%s\": member \"%s\" is not a regular file (type '%c')",
					    src, name, h.typeflag);
		if (parse_octal(h.size, sizeof(h.size), &size) < 0 || size > max_member)
			return vr_error_set(err, EFBIG, "\"%s\": member \"%s\": size %.12s is invalid or "
					    "more than %llu bytes", src, name, h.size,
					    (unsigned long long)max_member);
		if (++members > OVF_MAX_FILES + 2)
			return vr_error_set(err, EINVAL, "\"%s\": more than %d members", src,
					    OVF_MAX_FILES + 2);
		for (size_t i = 0; names && names[i]; i++)
			if (strcmp(names[i], name) == 0)
				return vr_error_set(err, EINVAL, "\"%s\": member \"%s\" appears twice",
						    src, name);
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
		_cleanup_close_ int out =
			open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
		if (out < 0)
			return vr_error_set_errno(err, errno, "cannot create \"%s\"", path);
		int r = copy_bytes(in, out, size, buf, bufsize);
		if (r == -EIO)
			return vr_error_set(err, EINVAL, "\"%s\": member \"%s\" is truncated", src, name);
		if (r < 0)
			return vr_error_set_errno(err, -r, "cannot extract \"%s\"", path);
		size_t pad = (BLOCK - (size_t)(size % BLOCK)) % BLOCK;
		if (pad && read_full(in, buf, pad) != (int)pad)
			return vr_error_set(err, EINVAL, "\"%s\": member \"%s\" is truncated", src, name);
		strv_push(&names, name);
	}
	if (!names)
		return vr_error_set(err, EINVAL, "\"%s\": empty archive", src);
	*names_out = steal_pointer(&names);
	return 0;
}
