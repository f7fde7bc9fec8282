/* SPDX-License-Identifier: Apache-2.0 */
#include "host/resources/blkdev.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/error.h"
#include "common/util.h"

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

int res_blk_scheduler_parse(const char *text, char *active, size_t active_len, char *available,
			    size_t available_len, bool *bfq_available)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char **names = NULL;
	char *act = NULL, *save = NULL;
	*bfq_available = false;
	for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		size_t n = strlen(tok);
		if (n >= 2 && tok[0] == '[' && tok[n - 1] == ']') {
			tok[n - 1] = '\0';
			tok++;
			if (act) {
				strv_free(names);
				return -EPROTO;
			}
			act = tok;
		}
		if (strcmp(tok, "bfq") == 0)
			*bfq_available = true;
		strv_push(&names, tok);
	}
	size_t count = strv_len(names);
	if (count == 0) {
		strv_free(names);
		return -EPROTO;
	}
	if (!act) {
		if (count != 1) {
			strv_free(names);
			return -EPROTO;
		}
		act = names[0];
	}
	copy_str(active, active_len, act);
	_cleanup_free_ char *all = strv_join(names, " ");
	copy_str(available, available_len, all);
	strv_free(names);
	return 0;
}

void res_blkdev_clear(struct res_blkdev *d)
{
	free(d->loop_backing);
	memset(d, 0, sizeof(*d));
}

static char *read_line(const char *path)
{
	char *text = NULL;
	if (file_read_all(path, 65536, &text, NULL, NULL) < 0)
		return NULL;
	text[strcspn(text, "\n")] = '\0';
	return text;
}

int res_blkdev_from_devnum(const char *sysfs_root, unsigned major, unsigned minor,
			   struct res_blkdev *out, struct vr_error **err)
{
	memset(out, 0, sizeof(*out));
	if (!sysfs_root)
		sysfs_root = "/sys";
	if (major == 0)
		return vr_error_set(err, ENODEV, "device %u:%u is not a block device (a filesystem such as tmpfs, overlay or a btrfs subvolume)",
				    major, minor);
	_cleanup_free_ char *link = xasprintf("%s/dev/block/%u:%u", sysfs_root, major, minor);
	char real[PATH_MAX];
	if (!realpath(link, real))
		return vr_error_set_errno(err, errno, "cannot find block device %u:%u (%s)", major, minor, link);
	_cleanup_free_ char *partfile = xasprintf("%s/partition", real);
	_cleanup_free_ char *disk = NULL;
	if (access(partfile, F_OK) == 0) {
		copy_str(out->part, sizeof(out->part), basename(real));
		_cleanup_free_ char *tmp = xstrdup(real);
		disk = xstrdup(dirname(tmp));
	} else {
		disk = xstrdup(real);
	}
	_cleanup_free_ char *tmp = xstrdup(disk);
	copy_str(out->name, sizeof(out->name), basename(tmp));
	_cleanup_free_ char *devfile = xasprintf("%s/dev", disk);
	_cleanup_free_ char *devtext = read_line(devfile);
	if (!devtext || sscanf(devtext, "%u:%u", &out->major, &out->minor) != 2)
		return vr_error_set(err, EPROTO, "cannot read the device number of %s (%s)", out->name, devfile);
	_cleanup_free_ char *schedfile = xasprintf("%s/queue/scheduler", disk);
	_cleanup_free_ char *sched = read_line(schedfile);
	if (!sched) {
		copy_str(out->scheduler, sizeof(out->scheduler), "none");
		copy_str(out->available, sizeof(out->available), "none");
	} else if (res_blk_scheduler_parse(sched, out->scheduler, sizeof(out->scheduler), out->available,
					   sizeof(out->available), &out->bfq_available) < 0) {
		return vr_error_set(err, EPROTO, "%s holds \"%s\", not a scheduler list", schedfile, sched);
	}
	_cleanup_free_ char *backfile = xasprintf("%s/loop/backing_file", disk);
	out->loop_backing = read_line(backfile);
	return 0;
}

int res_blkdev_from_path(const char *path, struct res_blkdev *out, struct vr_error **err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return vr_error_set_errno(err, errno, "cannot find the device of \"%s\"", path);
	dev_t dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	int r = res_blkdev_from_devnum(NULL, major(dev), minor(dev), out, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot find the device of \"%s\"", path);
	return 0;
}

int res_blkdev_check_bfq(const struct res_blkdev *d, const char *what, struct vr_error **err)
{
	if (strcmp(d->scheduler, "bfq") == 0)
		return 0;
	_cleanup_free_ char *loop = d->loop_backing ? xasprintf(", a loop device backed by %s", d->loop_backing)
						    : xstrdup("");
	if (!d->bfq_available)
		return vr_error_set(err, EOPNOTSUPP,
				    "disk shares of \"%s\" cannot be enforced: it is on %s (%u:%u%s), whose I/O scheduler is %s and which does not offer bfq (offered: %s)",
				    what, d->name, d->major, d->minor, loop, d->scheduler, d->available);
	return vr_error_set(err, EOPNOTSUPP,
			    "disk shares of \"%s\" cannot be enforced: it is on %s (%u:%u%s), whose I/O scheduler is %s, not bfq (offered: %s; to switch: echo bfq > /sys/block/%s/queue/scheduler)",
			    what, d->name, d->major, d->minor, loop, d->scheduler, d->available, d->name);
}

int res_blkdev_set_scheduler(const char *sysfs_root, const struct res_blkdev *d, const char *scheduler,
			     struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/dev/block/%u:%u/queue/scheduler", sysfs_root ? sysfs_root : "/sys",
					      d->major, d->minor);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open %s", path);
	if (write(fd, scheduler, strlen(scheduler)) < 0)
		return vr_error_set_errno(err, errno, "cannot set the I/O scheduler of %s to %s", d->name, scheduler);
	return 0;
}
