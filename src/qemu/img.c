/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/img.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "qemu/img_priv.h"


/* Called while qemu-img runs; non-zero asks to stop it. */
typedef int (*img_tick_fn)(void *opaque);

#define IMG_TICK_MS 200

/*
 * Reads both pipes to EOF (bounded), so the child never blocks on a full
 * pipe.  With a tick function, calls it about every IMG_TICK_MS and sends
 * SIGTERM to pid when it asks to stop.
 */
static void drain(int out_fd, int err_fd, pid_t pid, img_tick_fn tick, void *opaque,
		  char **out, char **errtext, bool *cancelled)
{
	size_t cap[2] = {4096, 4096}, len[2] = {0, 0};
	char *buf[2] = {xmalloc(cap[0]), xmalloc(cap[1])};
	struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
	int open_n = 2;
	uint64_t next_tick = time_mono_ms() + IMG_TICK_MS;
	while (open_n > 0) {
		int timeout = -1;
		if (tick && !*cancelled) {
			uint64_t now = time_mono_ms();
			if (now >= next_tick) {
				if (tick(opaque) != 0) {
					*cancelled = true;
					kill(pid, SIGTERM);
				}
				next_tick = now + IMG_TICK_MS;
			}
			timeout = (int)(next_tick - now > IMG_TICK_MS ? IMG_TICK_MS : next_tick - now);
		}
		int n = poll(p, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2 && n > 0; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (len[i] + 1024 >= cap[i] && cap[i] < (1u << 20)) {
				cap[i] *= 2;
				buf[i] = xrealloc(buf[i], cap[i]);
			}
			char sink[1024];
			bool full = len[i] + 1024 >= cap[i];
			ssize_t r = read(p[i].fd, full ? sink : buf[i] + len[i], 1023);
			if (r <= 0) {
				p[i].fd = -1;
				open_n--;
				continue;
			}
			if (!full)
				len[i] += (size_t)r;
		}
	}
	buf[0][len[0]] = '\0';
	buf[1][len[1]] = '\0';
	*out = buf[0];
	*errtext = buf[1];
}

static int img_run(const char *binary, char *const argv[], char **stdout_out, img_tick_fn tick,
		   void *opaque, struct vr_error **err)
{
	int out_pipe[2], err_pipe[2];
	if (pipe2(out_pipe, O_CLOEXEC) < 0)
		return vr_error_set_errno(err, errno, "cannot create a pipe");
	if (pipe2(err_pipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(out_pipe[0]);
		close(out_pipe[1]);
		return vr_error_set_errno(err, e, "cannot create a pipe");
	}
	_cleanup_strv_ char **args = NULL;
	strv_push(&args, binary);
	for (size_t i = 1; argv[i]; i++)
		strv_push(&args, argv[i]);
	/*
	 * fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: if hostd
	 * dies, a qemu-img it started (a commit, say) must not go on changing
	 * disks under the next hostd.
	 */
	pid_t parent = getpid();
	int exec_pipe[2];
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(out_pipe[0]);
		close(out_pipe[1]);
		close(err_pipe[0]);
		close(err_pipe[1]);
		return vr_error_set_errno(err, e, "cannot create a pipe");
	}
	int r = 0;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_pipe[1], 1) < 0 ||
		    dup2(err_pipe[1], 2) < 0)
			_exit(127);
		execvp(binary, args);
		int e = errno;
		ssize_t w = write(exec_pipe[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	if (pid < 0) {
		r = errno;
		close(exec_pipe[0]);
		close(exec_pipe[1]);
	} else {
		close(exec_pipe[1]);
		int child_errno = 0;
		ssize_t n;
		do {
			n = read(exec_pipe[0], &child_errno, sizeof(child_errno));
		} while (n < 0 && errno == EINTR);
		close(exec_pipe[0]);
		if (n == (ssize_t)sizeof(child_errno)) {
			waitpid(pid, NULL, 0);
			r = child_errno;
		}
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (r != 0) {
		close(out_pipe[0]);
		close(err_pipe[0]);
		return vr_error_set_errno(err, r, "cannot run %s", binary);
	}
	_cleanup_free_ char *out = NULL, *errtext = NULL;
	bool cancelled = false;
	drain(out_pipe[0], err_pipe[0], pid, tick, opaque, &out, &errtext, &cancelled);
	close(out_pipe[0]);
	close(err_pipe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (cancelled)
		return vr_error_set(err, ECANCELED, "%s %s was cancelled", binary,
				    argv[1] ? argv[1] : "");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t l = strlen(errtext);
		while (l > 0 && (errtext[l - 1] == '\n' || errtext[l - 1] == '\r'))
			errtext[--l] = '\0';
		return vr_error_set(err, EIO, "%s %s failed: %s", binary, argv[1] ? argv[1] : "",
				    l ? errtext : "no message");
	}
	if (stdout_out)
		*stdout_out = steal_pointer(&out);
	return 0;
}

int qemu_img_run(const char *binary, char *const argv[], char **stdout_out,
		 struct vr_error **err)
{
	return img_run(binary, argv, stdout_out, NULL, NULL, err);
}

int qemu_img_create(const char *binary, const char *path, const char *format,
		    uint64_t size_bytes, struct vr_error **err)
{
	if (size_bytes == 0 || size_bytes > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE,
				    "disk size %llu bytes is out of range (1 byte .. 64 TiB)",
				    (unsigned long long)size_bytes);
	if (access(path, F_OK) == 0)
		return vr_error_set(err, EEXIST, "disk \"%s\" already exists", path);
	char size[32];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)size_bytes);
	char *argv[] = {"qemu-img", "create", "-q", "-f", (char *)format, (char *)path, size, NULL};
	return qemu_img_run(binary, argv, NULL, err);
}

/* ---- backing chains ---- */

/* Whether the file's first bytes agree with the format the chain gives it. */
static int check_magic(const struct qemu_img_info *img, size_t level, const char *source,
		       struct vr_error **err)
{
	_cleanup_close_ int fd = open(img->filename, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open \"%s\" (level %zu of the chain of \"%s\")",
					  img->filename, level, source);
	uint8_t buf[512];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vr_error_set_errno(err, errno, "cannot read \"%s\"", img->filename);
	const char *looks = qemu_img_probe_format(buf, (size_t)n);
	if (strcmp(img->format, "raw") == 0) {
		/*
		 * A raw top image holds whatever its guest wrote, so only backing
		 * files are checked: one used as raw that looks like an image
		 * format was almost certainly meant to be opened as that format.
		 */
		if (level == 0 || strcmp(looks, "raw") == 0)
			return 0;
	} else if (strcmp(looks, img->format) == 0) {
		return 0;
	} else if (strcmp(img->format, "vmdk") == 0 && n > 0) {
		/* Descriptor files need not begin with the usual comment. */
		_cleanup_free_ char *text = xstrndup((const char *)buf, (size_t)n);
		if (strstr(text, "createType"))
			return 0;
	}
	if (level == 0)
		return vr_error_set(err, EINVAL, "format mismatch: \"%s\" is used as %s but its contents look like %s",
				    img->filename, img->format, looks);
	return vr_error_set(err, EINVAL,
			    "format mismatch: \"%s\" (level %zu of the chain of \"%s\") is recorded as %s but its contents look like %s",
			    img->filename, level, source, img->format, looks);
}

static char *info_json(const char *binary, const char *path, const char *format, bool chain,
		       struct vr_error **err)
{
	char *argv[] = {"qemu-img", "info", "-U", "--output=json", "-f", (char *)format,
			chain ? "--backing-chain" : (char *)path, chain ? (char *)path : NULL, NULL};
	char *out = NULL;
	if (img_run(binary, argv, &out, NULL, NULL, err) < 0)
		return NULL;
	return out;
}

/*
 * The reason in a qemu-img failure message, without the "qemu-img info
 * failed: qemu-img: Could not open 'FILE': " prefixes that repeat the file.
 */
static const char *qemu_reason(const char *msg)
{
	const char *p = strstr(msg, "Could not open '");
	if (!p)
		return msg;
	while (strncmp(p, "Could not open '", 16) == 0) {
		const char *end = strstr(p + 16, "': ");
		if (!end)
			return msg;
		p = end + 3;
	}
	return p;
}

/*
 * qemu-img stops at the first problem with a terse message; walk the chain
 * one image at a time to say which file is at fault and why.  Returns 0 when
 * it finds nothing wrong.
 */
static int chain_diagnose(const char *binary, const char *path, const char *format,
			  struct vr_error **err)
{
	_cleanup_free_ char *cur = xstrdup(path), *fmt = xstrdup(format), *prev = NULL;
	struct {
		dev_t dev;
		ino_t ino;
	} seen[QEMU_IMG_MAX_CHAIN + 1];
	for (size_t level = 0; level <= QEMU_IMG_MAX_CHAIN; level++) {
		struct stat st;
		if (stat(cur, &st) < 0) {
			if (level == 0)
				return vr_error_set_errno(err, errno, "disk \"%s\"", cur);
			return vr_error_set_errno(err, errno, "the backing file \"%s\" of \"%s\"", cur,
						  prev);
		}
		for (size_t j = 0; j < level; j++)
			if (seen[j].dev == st.st_dev && seen[j].ino == st.st_ino)
				return vr_error_set(err, ELOOP,
						    "the backing chain of \"%s\" loops: \"%s\" (level %zu) is the same file as level %zu",
						    path, cur, level, j);
		seen[level].dev = st.st_dev;
		seen[level].ino = st.st_ino;
		_cleanup_error_ struct vr_error *sub = NULL;
		_cleanup_free_ char *json = info_json(binary, cur, fmt, false, &sub);
		if (!json) {
			const char *why = qemu_reason(sub->msg);
			if (level == 0)
				return vr_error_set(err, sub->code, "cannot open disk \"%s\" as %s: %s",
						    cur, fmt, why);
			return vr_error_set(err, sub->code,
					    "cannot open \"%s\" as %s (level %zu of the chain of \"%s\"): %s",
					    cur, fmt, level, path, why);
		}
		_cleanup_img_chain_ struct qemu_img_chain *one = NULL;
		if (qemu_img_parse_images(json, strlen(json), path, &one, &sub) < 0)
			return vr_error_set(err, sub->code, "%s", sub->msg);
		const struct qemu_img_info *img = &one->images[0];
		if (!img->backing_filename)
			return 0;
		if (!img->backing_format)
			return vr_error_set(err, EINVAL,
					    "the backing file \"%s\" of \"%s\" has no recorded format, so QEMU would guess it",
					    img->backing_filename, cur);
		free(prev);
		prev = steal_pointer(&cur);
		cur = xstrdup(img->full_backing_filename ? img->full_backing_filename
							 : img->backing_filename);
		free(fmt);
		fmt = xstrdup(img->backing_format);
	}
	return vr_error_set(err, E2BIG, "the backing chain of \"%s\" has more than %d levels", path,
			    QEMU_IMG_MAX_CHAIN);
}

int qemu_img_chain_get(const char *binary, const char *path, const char *format,
		       struct qemu_img_chain **out, struct vr_error **err)
{
	_cleanup_error_ struct vr_error *run_err = NULL;
	_cleanup_free_ char *json = info_json(binary, path, format, true, &run_err);
	if (!json) {
		int r = chain_diagnose(binary, path, format, err);
		if (r < 0)
			return r;
		return vr_error_set(err, run_err->code, "cannot read the backing chain of \"%s\": %s",
				    path, run_err->msg);
	}
	_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
	int r = qemu_img_parse_chain(json, strlen(json), path, &chain, err);
	if (r < 0)
		return r;
	if (strcmp(chain->images[0].format, format) != 0)
		return vr_error_set(err, EPROTO, "qemu-img opened \"%s\" as %s, not %s", path,
				    chain->images[0].format, format);
	for (size_t i = 0; i < chain->n; i++)
		if ((r = check_magic(&chain->images[i], i, path, err)) < 0)
			return r;
	*out = steal_pointer(&chain);
	return 0;
}

/* ---- provisioning ---- */

static const char *prealloc_of(enum vm_disk_provisioning p)
{
	switch (p) {
	case VM_DISK_PROVISIONING_THIN:
		return "off";
	case VM_DISK_PROVISIONING_THICK_LAZY:
		return "falloc";
	case VM_DISK_PROVISIONING_THICK_EAGER:
		return "full";
	}
	return NULL;
}

static bool format_provisionable(const char *format)
{
	return strcmp(format, "qcow2") == 0 || strcmp(format, "raw") == 0;
}

static void human_size(uint64_t bytes, char out[32])
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(out, 32, "%.1f %s", v, units[u]);
}

/* Refuses when the file system holding path has less than need bytes free. */
static int check_free_space(const char *path, uint64_t need, const char *what,
			    struct vr_error **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash) {
		free(dir);
		dir = xstrdup(".");
	} else {
		slash[slash == dir ? 1 : 0] = '\0';
	}
	struct statvfs vfs;
	if (statvfs(dir, &vfs) < 0)
		return vr_error_set_errno(err, errno, "cannot read the free space of \"%s\"", dir);
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (need > avail) {
		char h_need[32], h_avail[32];
		human_size(need, h_need);
		human_size(avail, h_avail);
		return vr_error_set(err, ENOSPC, "%s \"%s\" needs %s but \"%s\" has %s free", what,
				    path, h_need, dir, h_avail);
	}
	return 0;
}

/* Space the new disk takes at once: qemu-img measure for qcow2, the size for thick raw. */
static int reservation(const char *binary, const struct qemu_img_create_opts *o,
		       uint64_t *need, struct vr_error **err)
{
	if (strcmp(o->format, "raw") == 0) {
		*need = o->provisioning == VM_DISK_PROVISIONING_THIN ? 0 : o->size;
		return 0;
	}
	char size[32], opt[64];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)o->size);
	snprintf(opt, sizeof(opt), "preallocation=%s", prealloc_of(o->provisioning));
	char *argv[] = {"qemu-img", "measure", "--output=json", "--size", size,
			"-O", (char *)o->format, "-o", opt, NULL};
	_cleanup_free_ char *json = NULL;
	int r = img_run(binary, argv, &json, NULL, NULL, err);
	if (r < 0)
		return r;
	uint64_t fully;
	return qemu_img_parse_measure(json, strlen(json), need, &fully, err);
}

struct create_watch {
	const struct qemu_img_create_opts *o;
	uint64_t total;
};

static int create_tick(void *opaque)
{
	struct create_watch *w = opaque;
	struct stat st;
	uint64_t done = 0;
	if (stat(w->o->path, &st) == 0)
		done = (uint64_t)st.st_blocks * 512;
	if (done > w->total)
		done = w->total;
	/* Not finished until qemu-img says so. */
	if (done == w->total && done > 0)
		done--;
	return w->o->progress(done, w->total, w->o->opaque);
}

int qemu_img_create_disk(const char *binary, const struct qemu_img_create_opts *o,
			 struct vr_error **err)
{
	if (o->size == 0 || o->size > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE,
				    "disk size %llu bytes is out of range (1 byte .. 64 TiB)",
				    (unsigned long long)o->size);
	if (!format_provisionable(o->format))
		return vr_error_set(err, ENOTSUP,
				    "cannot create \"%s\": new disks are qcow2 or raw, not %s", o->path,
				    o->format);
	const char *prealloc = prealloc_of(o->provisioning);
	if (!prealloc)
		return vr_error_set(err, EINVAL, "unknown provisioning type %d", (int)o->provisioning);
	if (access(o->path, F_OK) == 0)
		return vr_error_set(err, EEXIST, "disk \"%s\" already exists", o->path);
	uint64_t need;
	int r = reservation(binary, o, &need, err);
	if (r < 0)
		return r;
	char what[64];
	snprintf(what, sizeof(what), "the %s disk", vm_disk_provisioning_name(o->provisioning));
	if ((r = check_free_space(o->path, need, what, err)) < 0)
		return r;
	/* Claim the name, so that qemu-img never overwrites a file that appeared meanwhile. */
	int fd = open(o->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create \"%s\"", o->path);
	close(fd);

	char size[32], opt[64];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)o->size);
	snprintf(opt, sizeof(opt), "preallocation=%s", prealloc);
	char *argv[] = {"qemu-img", "create", "-q", "-f", (char *)o->format, "-o", opt,
			(char *)o->path, size, NULL};
	struct create_watch w = {.o = o, .total = need ? need : o->size};
	r = img_run(binary, argv, NULL, o->progress ? create_tick : NULL, &w, err);
	if (r < 0) {
		unlink(o->path);
		return vr_error_wrap(err, "cannot create disk \"%s\"", o->path);
	}
	if (o->progress)
		o->progress(w.total, w.total, o->opaque);
	return 0;
}

int qemu_img_resize(const char *binary, const char *path, const char *format,
		    uint64_t new_size, enum vm_disk_provisioning provisioning,
		    struct vr_error **err)
{
	if (new_size == 0 || new_size > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE,
				    "disk size %llu bytes is out of range (1 byte .. 64 TiB)",
				    (unsigned long long)new_size);
	if (!format_provisionable(format))
		return vr_error_set(err, ENOTSUP, "cannot resize \"%s\": only qcow2 and raw disks can be resized, not %s",
				    path, format);
	const char *prealloc = prealloc_of(provisioning);
	if (!prealloc)
		return vr_error_set(err, EINVAL, "unknown provisioning type %d", (int)provisioning);
	_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
	int r = qemu_img_chain_get(binary, path, format, &chain, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot resize \"%s\"", path);
	uint64_t cur = chain->images[0].virtual_size;
	if (new_size < cur) {
		char h_cur[32], h_new[32];
		human_size(cur, h_cur);
		human_size(new_size, h_new);
		return vr_error_set(err, EINVAL,
				    "cannot shrink disk \"%s\" from %s to %s: disks only grow (shrinking would cut off guest data)",
				    path, h_cur, h_new);
	}
	if (new_size == cur)
		return 0;
	if (provisioning != VM_DISK_PROVISIONING_THIN) {
		uint64_t growth = new_size - cur;
		/* qcow2 also needs L2 tables and refcounts: well under 1/4096 of the data. */
		uint64_t need = growth + (strcmp(format, "qcow2") == 0 ? growth / 4096 + (1u << 20) : 0);
		if ((r = check_free_space(path, need, "growing the disk", err)) < 0)
			return r;
	}
	char size[32], opt[64];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)new_size);
	snprintf(opt, sizeof(opt), "--preallocation=%s", prealloc);
	char *argv[] = {"qemu-img", "resize", "-q", "-f", (char *)format, opt, (char *)path, size,
			NULL};
	r = img_run(binary, argv, NULL, NULL, NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot resize \"%s\"", path);
	return 0;
}

/* ---- copies and linked overlays ---- */

struct convert_watch {
	const char *dst;
	uint64_t total;
	qemu_img_progress_fn progress;
	void *opaque;
};

static int convert_tick(void *opaque)
{
	struct convert_watch *w = opaque;
	struct stat st;
	uint64_t done = 0;
	if (stat(w->dst, &st) == 0)
		done = (uint64_t)st.st_blocks * 512;
	if (done >= w->total)
		done = w->total ? w->total - 1 : 0; /* finished only when qemu-img says so */
	return w->progress(done, w->total, w->opaque);
}

int qemu_img_convert_qcow2(const char *binary, const char *src, const char *src_format,
			   const char *dst, qemu_img_progress_fn progress, void *opaque,
			   struct vr_error **err)
{
	if (access(dst, F_OK) == 0)
		return vr_error_set(err, EEXIST, "disk \"%s\" already exists", dst);
	/* What the copy will take: the data of the whole chain, in qcow2. */
	char *measure[] = {"qemu-img", "measure", "--output=json", "-U", "-f", (char *)src_format,
			   "-O", "qcow2", (char *)src, NULL};
	_cleanup_free_ char *json = NULL;
	int r = img_run(binary, measure, &json, NULL, NULL, err);
	uint64_t need = 0, fully = 0;
	if (r >= 0)
		r = qemu_img_parse_measure(json, strlen(json), &need, &fully, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot measure \"%s\"", src);
	if ((r = check_free_space(dst, need, "the copy", err)) < 0)
		return r;
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create \"%s\"", dst);
	close(fd);
	/* -U: the source may be a running VM's frozen snapshot file, which QEMU holds read-only. */
	char *argv[] = {"qemu-img", "convert", "-U", "-f", (char *)src_format, "-O", "qcow2",
			(char *)src, (char *)dst, NULL};
	struct convert_watch w = {.dst = dst, .total = need ? need : 1, .progress = progress,
				  .opaque = opaque};
	r = img_run(binary, argv, NULL, progress ? convert_tick : NULL, &w, err);
	if (r < 0) {
		unlink(dst);
		return vr_error_wrap(err, "cannot copy \"%s\" to \"%s\"", src, dst);
	}
	if (progress)
		progress(w.total, w.total, opaque);
	return 0;
}

int qemu_img_create_overlay(const char *binary, const char *dst, const char *backing,
			    const char *backing_format, uint64_t size, struct vr_error **err)
{
	if (backing[0] != '/')
		return vr_error_set(err, EINVAL, "backing file \"%s\" is not an absolute path",
				    backing);
	if (size == 0 || size > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE, "disk size %llu bytes is out of range",
				    (unsigned long long)size);
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create \"%s\"", dst);
	close(fd);
	char sz[32];
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	/* -u: the backing file is not opened (a running VM may hold it); its size is given. */
	char *argv[] = {"qemu-img", "create", "-q", "-u", "-f", "qcow2", "-b", (char *)backing,
			"-F", (char *)backing_format, (char *)dst, sz, NULL};
	int r = img_run(binary, argv, NULL, NULL, NULL, err);
	if (r < 0) {
		unlink(dst);
		return vr_error_wrap(err, "cannot create \"%s\" on \"%s\"", dst, backing);
	}
	return 0;
}
