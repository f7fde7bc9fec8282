/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block operations against a real QEMU (q35, TCG, vCPUs never started),
 * with disks put on the command line as cmdline.c does: a qcow2 on
 * virtio-scsi ("scsi0-0") and a raw on SATA ("sata0-0").  Data is written
 * and read through the devices with HMP's qemu-io, and the files are
 * checked with qemu-io and qemu-img once QEMU has quit.  QEMU is a
 * required dependency: without it the tests fail, they do not skip.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/loop.h"
#include "common/util.h"
#include "qemu/block.h"
#include "qemu/block_priv.h"
#include "qemu/cmdline.h"
#include "qemu/img.h"
#include "qemu/qmp.h"

extern char **environ;

#define MiB (1ull << 20)
#define T 10000 /* ms for each call */

struct env {
	struct vr_loop *loop;
	char dir[64];
	char *sock;
	char *out_path; /* QEMU's stdout and stderr, where HMP's qemu-io prints */
	size_t out_seen;
	pid_t pid;
	struct qmp *qmp;
};

static char *path_of(struct env *e, const char *name)
{
	return xasprintf("%s/%s", e->dir, name);
}

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	strcpy(e->dir, "/tmp/vireo-test-block-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	e->sock = path_of(e, "qmp.sock");
	e->out_path = path_of(e, "qemu.out");
	_cleanup_error_ struct vr_error *err = NULL;
	e->loop = vr_loop_new(&err);
	if (!e->loop || vr_loop_start(e->loop) < 0)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	qmp_close(e->qmp);
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
	}
	vr_loop_stop_and_free(e->loop);
	rm_rf(e->dir);
	free(e->sock);
	free(e->out_path);
	free(e);
	return 0;
}

/* ---- files ---- */

static char *run_tool(const char *tool, char **argv)
{
	_cleanup_error_ struct vr_error *err = NULL;
	char *out = NULL;
	if (qemu_img_run(tool, argv, &out, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return out;
}

static void disk_create(struct env *e, const char *name, const char *fmt, uint64_t size)
{
	_cleanup_free_ char *p = path_of(e, name);
	_cleanup_error_ struct vr_error *err = NULL;
	if (qemu_img_create("qemu-img", p, fmt, size, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
}

/* A qcow2 overlay recording its backing file by a relative name, as hostd does. */
static char *overlay_create(struct env *e, const char *name, const char *backing,
			    const char *backing_fmt, const char *size)
{
	char *p = path_of(e, name);
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", (char *)backing, "-F",
			 (char *)backing_fmt, p, (char *)size, NULL };
	free(run_tool("qemu-img", argv));
	return p;
}

/* qemu-io on a file (QEMU not holding it): the output, which must not report a failure. */
static char *file_io(struct env *e, const char *name, const char *fmt, const char *cmd)
{
	_cleanup_free_ char *p = path_of(e, name);
	char *argv[] = { "qemu-io", "-f", (char *)fmt, "-c", (char *)cmd, p, NULL };
	char *out = run_tool("qemu-io", argv);
	if (strstr(out, "failed") || strstr(out, "rror"))
		fail_msg("qemu-io -c '%s' %s: %s", cmd, name, out);
	return out;
}

static void file_expect(struct env *e, const char *name, const char *fmt, int pattern,
			const char *off, const char *len)
{
	_cleanup_free_ char *cmd = xasprintf("read -P 0x%02x %s %s", pattern, off, len);
	free(file_io(e, name, fmt, cmd));
}

/* Whether the image itself (not its backing files) holds data in the range. */
static bool file_allocated(struct env *e, const char *name, const char *off, const char *len)
{
	_cleanup_free_ char *cmd = xasprintf("alloc %s %s", off, len);
	_cleanup_free_ char *out = file_io(e, name, "qcow2", cmd);
	return strncmp(out, "0/", 2) != 0;
}

static struct qemu_img_chain *file_chain(struct env *e, const char *name, const char *fmt)
{
	_cleanup_free_ char *p = path_of(e, name);
	_cleanup_error_ struct vr_error *err = NULL;
	struct qemu_img_chain *c = NULL;
	if (qemu_img_chain_get("qemu-img", p, fmt, &c, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return c;
}

/* ---- QEMU ---- */

static bool program_in_path(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path ? path : "/usr/bin:/bin");
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *full = xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0)
			return true;
	}
	return false;
}

/*
 * A disk as cmdline.c puts it: file node "file-ID", format node "drive-ID", device "ID";
 * scsi0-0 with O_DIRECT where the file system takes it, the others buffered (as on a file
 * system that refuses O_DIRECT), so that snapshots meet both modes.
 */
static void push_disk(char ***argv, struct env *e, const char *id, const char *fmt,
		      const char *file, bool blkdebug)
{
	_cleanup_free_ char *p = path_of(e, file);
	bool direct = strcmp(id, "scsi0-0") == 0 && qemu_disk_direct_supported(p);
	json_t *proto = json_pack("{s:s, s:s, s:s, s:b, s:o, s:s, s:s}", "driver", "file",
				  "node-name", "", "filename", p, "read-only", 0, "cache",
				  qemu_disk_cache_json(direct), "aio", qemu_disk_aio(direct),
				  "discard", "unmap");
	if (blkdebug) {
		/* Writes at 1 MiB and reads at 2 MiB fail with EIO. */
		json_object_del(proto, "node-name");
		proto = json_pack("{s:s, s:s, s:o, s:[{s:s, s:i, s:i, s:b}, {s:s, s:i, s:i, s:b}]}",
				  "driver", "blkdebug", "node-name", "", "image", proto,
				  "inject-error", "event", "write_aio", "errno", EIO, "sector", 2048,
				  "once", 0, "event", "read_aio", "errno", EIO, "sector", 4096, "once",
				  0);
	}
	json_object_set_new(proto, "node-name", json_sprintf("file-%s", id));
	json_t *format = json_pack("{s:s, s:o, s:o, s:b, s:o, s:s}", "driver", fmt, "node-name",
				   json_sprintf("drive-%s", id), "file",
				   json_sprintf("file-%s", id), "read-only", 0, "cache",
				   qemu_disk_cache_json(direct), "discard", "unmap");
	char *s1 = json_dumps(proto, JSON_COMPACT), *s2 = json_dumps(format, JSON_COMPACT);
	strv_push(argv, "-blockdev");
	strv_push_owned(argv, s1);
	strv_push(argv, "-blockdev");
	strv_push_owned(argv, s2);
	json_decref(proto);
	json_decref(format);
}

enum { WITH_BLKDEBUG = 1, WITH_VIRTIO_BLK = 2 };

/* disk0.qcow2 on scsi0-0 and disk1.raw on sata0-0 (plus disk2.raw on virtio0-0). */
static void qemu_start(struct env *e, int flags)
{
	if (!program_in_path("qemu-system-x86_64"))
		fail_msg("qemu-system-x86_64 not found in PATH: it is a required dependency "
			 "(install qemu-system-x86, see scripts/install-deps.sh)");
	_cleanup_strv_ char **argv = NULL;
	const char *fixed[] = { "qemu-system-x86_64", "-nodefaults", "-no-user-config",
				"-display", "none", "-machine", "q35,accel=tcg", "-m", "64", "-S",
				"-qmp" };
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		strv_push(&argv, fixed[i]);
	strv_pushf(&argv, "unix:%s,server=on,wait=off", e->sock);
	push_disk(&argv, e, "scsi0-0", "qcow2", "disk0.qcow2", false);
	strv_push(&argv, "-device");
	strv_push(&argv, "virtio-scsi-pci,id=scsi0");
	strv_push(&argv, "-device");
	strv_push(&argv, "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0-0,"
			 "id=scsi0-0,werror=enospc,rerror=report");
	push_disk(&argv, e, "sata0-0", "raw", "disk1.raw", flags & WITH_BLKDEBUG);
	strv_push(&argv, "-device");
	strv_push(&argv, "ahci,id=sata0");
	strv_push(&argv, "-device");
	strv_push(&argv, "ide-hd,bus=sata0.0,drive=drive-sata0-0,id=sata0-0,werror=enospc,"
			 "rerror=report");
	if (flags & WITH_VIRTIO_BLK) {
		push_disk(&argv, e, "virtio0-0", "raw", "disk2.raw", false);
		strv_push(&argv, "-device");
		strv_push(&argv, "virtio-blk-pci,drive=drive-virtio0-0,id=virtio0-0");
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, e->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(posix_spawnp(&e->pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	e->out_seen = 0;
	_cleanup_error_ struct vr_error *err = NULL;
	e->qmp = qmp_open(e->loop, e->sock, 20000, NULL, NULL, &err);
	if (!e->qmp)
		fail_msg("cannot talk to QEMU: %s", vr_error_msg(err));
}

static void qemu_quit(struct env *e)
{
	int r = qmp_execute(e->qmp, "quit", NULL, T, NULL, NULL);
	assert_true(r == 0 || r == -ECONNRESET);
	int status = 0;
	assert_int_equal(waitpid(e->pid, &status, 0), e->pid);
	e->pid = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	qmp_close(e->qmp);
	e->qmp = NULL;
}

/* Whether QEMU has the file open. */
static bool qemu_has_open(struct env *e, const char *name)
{
	_cleanup_free_ char *want = path_of(e, name);
	_cleanup_free_ char *fds = xasprintf("/proc/%d/fd", (int)e->pid);
	DIR *d = opendir(fds);
	assert_non_null(d);
	bool found = false;
	for (struct dirent *de; !found && (de = readdir(d));) {
		_cleanup_free_ char *link = xasprintf("%s/%s", fds, de->d_name);
		char target[4096];
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = strcmp(target, want) == 0;
		}
	}
	closedir(d);
	return found;
}

static json_t *qmp(struct env *e, const char *cmd, json_t *args)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *ret = NULL;
	if (qmp_execute(e->qmp, cmd, args, T, &ret, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return ret;
}

/* HMP's qemu-io on a device: what HMP answered plus what qemu-io printed. */
static char *device_io(struct env *e, const char *device, const char *cmd)
{
	_cleanup_free_ char *line = xasprintf("qemu-io -d %s \"%s\"", device, cmd);
	json_t *ret = qmp(e, "human-monitor-command", json_pack("{s:s}", "command-line", line));
	_cleanup_free_ char *all = NULL;
	size_t len = 0;
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(file_read_all(e->out_path, 64 * MiB, &all, &len, &err), 0);
	char *out = xasprintf("%s%s", json_string_value(ret), all + e->out_seen);
	e->out_seen = len;
	json_decref(ret);
	if (strstr(out, "failed") || strstr(out, "rror"))
		fail_msg("%s on %s: %s", cmd, device, out);
	return out;
}

static void dev_write(struct env *e, const char *device, int pattern, const char *off,
		      const char *len)
{
	_cleanup_free_ char *cmd = xasprintf("write -P 0x%02x %s %s", pattern, off, len);
	_cleanup_free_ char *out = device_io(e, device, cmd);
	assert_non_null(strstr(out, "wrote"));
}

static void dev_expect(struct env *e, const char *device, int pattern, const char *off,
		       const char *len)
{
	_cleanup_free_ char *cmd = xasprintf("read -P 0x%02x %s %s", pattern, off, len);
	_cleanup_free_ char *out = device_io(e, device, cmd);
	assert_non_null(strstr(out, "read "));
}

static char *top(struct env *e, const char *device)
{
	_cleanup_error_ struct vr_error *err = NULL;
	char *node = NULL;
	if (qemu_block_top_node(e->qmp, device, &node, T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return node;
}

static void assert_top(struct env *e, const char *device, const char *node)
{
	_cleanup_free_ char *t = top(e, device);
	assert_string_equal(t, node);
}

static bool node_exists(struct env *e, const char *name)
{
	json_t *nodes = qmp(e, "query-named-block-nodes", NULL);
	bool found = block_named_node(nodes, name) != NULL;
	json_decref(nodes);
	return found;
}

/* Whether QEMU has node `name` open with O_DIRECT. */
static bool node_direct(struct env *e, const char *name)
{
	json_t *nodes = qmp(e, "query-named-block-nodes", NULL);
	json_t *node = block_named_node(nodes, name);
	if (!node)
		fail_msg("no node \"%s\"", name);
	bool direct = json_is_true(json_object_get(json_object_get(node, "cache"), "direct"));
	json_decref(nodes);
	return direct;
}

static struct qemu_block_chain *chain(struct env *e, const char *device)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct qemu_block_chain *c = NULL;
	if (qemu_block_chain_get(e->qmp, device, &c, T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return c;
}

static void snapshot(struct env *e, const struct qemu_block_overlay *ov, size_t n)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (qemu_block_snapshot(e->qmp, ov, n, T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
}

/* Expects r to be -code with a message holding each of the NULL-terminated words. */
static void expect_error(int r, struct vr_error **err, int code, ...)
{
	assert_non_null(*err);
	if (r != -code)
		fail_msg("expected -%d, got %d: %s", code, r, vr_error_msg(*err));
	va_list ap;
	va_start(ap, code);
	for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
		if (!strstr((*err)->msg, w))
			fail_msg("\"%s\" not in the error: %s", w, (*err)->msg);
	va_end(ap);
	vr_error_freep(err);
}

struct progress {
	int calls;
	int cancel_at; /* cancel on this call (0: never) */
	uint64_t done, total;
};

static int on_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct progress *p = opaque;
	p->calls++;
	p->done = done;
	p->total = total;
	return p->cancel_at && p->calls >= p->cancel_at;
}

/* disk0.qcow2 (16 MiB) and disk1.raw (16 MiB) with 0x11 in their first 64 KiB. */
static void start_with_data(struct env *e, int flags)
{
	disk_create(e, "disk0.qcow2", "qcow2", 16 * MiB);
	disk_create(e, "disk1.raw", "raw", 16 * MiB);
	if (flags & WITH_VIRTIO_BLK)
		disk_create(e, "disk2.raw", "raw", 16 * MiB);
	qemu_start(e, flags);
	dev_write(e, "scsi0-0", 0x11, "0", "64k");
	dev_write(e, "sata0-0", 0x11, "0", "64k");
}

/* Overlays s1 (on the base) and s2 (on s1) for scsi0-0, with 0x22 at 64k and 0x33 at 128k. */
static void build_scsi_chain(struct env *e)
{
	free(overlay_create(e, "s1.qcow2", "disk0.qcow2", "qcow2", NULL));
	_cleanup_free_ char *s1 = path_of(e, "s1.qcow2");
	struct qemu_block_overlay o1 = { "scsi0-0", s1, "s1" };
	snapshot(e, &o1, 1);
	dev_write(e, "scsi0-0", 0x22, "64k", "64k");
	free(overlay_create(e, "s2.qcow2", "s1.qcow2", "qcow2", NULL));
	_cleanup_free_ char *s2 = path_of(e, "s2.qcow2");
	struct qemu_block_overlay o2 = { "scsi0-0", s2, "s2" };
	snapshot(e, &o2, 1);
	dev_write(e, "scsi0-0", 0x33, "128k", "64k");
	_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
	assert_int_equal(c->n, 3);
	assert_string_equal(c->images[1].node_name, "s1");
	assert_string_equal(c->images[2].node_name, "drive-scsi0-0");
}

static void expect_scsi_data(struct env *e)
{
	dev_expect(e, "scsi0-0", 0x11, "0", "64k");
	dev_expect(e, "scsi0-0", 0x22, "64k", "64k");
	dev_expect(e, "scsi0-0", 0x33, "128k", "64k");
}

/* ---- tests ---- */

static void test_snapshot_two_disks(void **state)
{
	struct env *e = *state;
	start_with_data(e, 0);
	assert_top(e, "scsi0-0", "drive-scsi0-0");
	assert_top(e, "sata0-0", "drive-sata0-0");
	_cleanup_free_ char *o0 = overlay_create(e, "d0-s1.qcow2", "disk0.qcow2", "qcow2", NULL);
	_cleanup_free_ char *o1 = overlay_create(e, "d1-s1.qcow2", "disk1.raw", "raw", NULL);
	struct qemu_block_overlay ov[] = { { "scsi0-0", o0, "s1-scsi0-0" },
					   { "sata0-0", o1, "s1-sata0-0" } };
	snapshot(e, ov, 2);
	assert_top(e, "scsi0-0", "s1-scsi0-0");
	assert_top(e, "sata0-0", "s1-sata0-0");
	/* Each overlay in the cache mode of the image below it: one mode per chain. */
	bool direct0 = node_direct(e, "file-scsi0-0");
	assert_true(direct0 == qemu_disk_direct_supported(o0));
	assert_true(node_direct(e, "s1-scsi0-0") == direct0);
	assert_true(node_direct(e, "f-s1-scsi0-0") == direct0);
	assert_false(node_direct(e, "file-sata0-0"));
	assert_false(node_direct(e, "s1-sata0-0"));
	assert_false(node_direct(e, "f-s1-sata0-0"));

	_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "sata0-0");
	assert_int_equal(c->n, 2);
	assert_string_equal(c->images[0].filename, o1);
	assert_string_equal(c->images[0].format, "qcow2");
	assert_string_equal(c->images[0].file_node, "f-s1-sata0-0");
	assert_string_equal(c->images[0].backing_name, "disk1.raw");
	assert_false(c->images[0].read_only);
	assert_string_equal(c->images[1].node_name, "drive-sata0-0");
	assert_string_equal(c->images[1].format, "raw");
	assert_true(c->images[1].read_only); /* QEMU reopens the old top read-only */
	assert_int_equal(c->images[1].virtual_size, 16 * MiB);

	dev_write(e, "scsi0-0", 0x22, "64k", "64k");
	dev_write(e, "sata0-0", 0x22, "64k", "64k");
	dev_expect(e, "scsi0-0", 0x11, "0", "64k");
	dev_expect(e, "scsi0-0", 0x22, "64k", "64k");
	dev_expect(e, "sata0-0", 0x11, "0", "64k");
	dev_expect(e, "sata0-0", 0x22, "64k", "64k");
	qemu_quit(e);

	/* The bases hold the old data only, the overlays the new. */
	file_expect(e, "disk0.qcow2", "qcow2", 0x11, "0", "64k");
	file_expect(e, "disk0.qcow2", "qcow2", 0x00, "64k", "64k");
	file_expect(e, "disk1.raw", "raw", 0x11, "0", "64k");
	file_expect(e, "disk1.raw", "raw", 0x00, "64k", "64k");
	const char *overlays[] = { "d0-s1.qcow2", "d1-s1.qcow2" };
	const char *bases[] = { "disk0.qcow2", "disk1.raw" };
	for (int i = 0; i < 2; i++) {
		file_expect(e, overlays[i], "qcow2", 0x11, "0", "64k");
		file_expect(e, overlays[i], "qcow2", 0x22, "64k", "64k");
		assert_false(file_allocated(e, overlays[i], "0", "64k"));
		assert_true(file_allocated(e, overlays[i], "64k", "64k"));
		_cleanup_img_chain_ struct qemu_img_chain *ic = file_chain(e, overlays[i], "qcow2");
		assert_int_equal(ic->n, 2);
		assert_string_equal(ic->images[0].backing_filename, bases[i]);
		assert_string_equal(ic->images[1].format, i == 0 ? "qcow2" : "raw");
	}
}

static void test_snapshot_failures(void **state)
{
	struct env *e = *state;
	start_with_data(e, 0);
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *o0 = overlay_create(e, "d0-s1.qcow2", "disk0.qcow2", "qcow2", NULL);
	_cleanup_free_ char *missing = path_of(e, "no-such-overlay.qcow2");
	struct qemu_block_overlay ov[] = { { "scsi0-0", o0, "s1-scsi0-0" },
					   { "sata0-0", missing, "s1-sata0-0" } };

	/* One overlay cannot be opened: the other one's node goes again. */
	int r = qemu_block_snapshot(e->qmp, ov, 2, T, &err);
	expect_error(r, &err, EIO, "sata0-0", missing, "No such file", "still write", NULL);
	assert_top(e, "scsi0-0", "drive-scsi0-0");
	assert_top(e, "sata0-0", "drive-sata0-0");
	assert_false(node_exists(e, "s1-scsi0-0"));
	assert_false(node_exists(e, "f-s1-scsi0-0"));

	/* Overlays that do not fit the device. */
	_cleanup_free_ char *wrong = overlay_create(e, "wrong.qcow2", "disk1.raw", "raw", NULL);
	struct qemu_block_overlay bad = { "scsi0-0", wrong, "s1-scsi0-0" };
	r = qemu_block_snapshot(e->qmp, &bad, 1, T, &err);
	expect_error(r, &err, EINVAL, "wrong.qcow2", "records backing file", "disk0.qcow2", NULL);
	_cleanup_free_ char *big = overlay_create(e, "big.qcow2", "disk0.qcow2", "qcow2", "32M");
	bad.overlay = big;
	r = qemu_block_snapshot(e->qmp, &bad, 1, T, &err);
	expect_error(r, &err, EINVAL, "big.qcow2", "33554432 bytes", "16777216", NULL);
	assert_false(node_exists(e, "s1-scsi0-0"));

	/* The transaction itself fails: sata0-0 is busy with a (slow) mirror job. */
	_cleanup_free_ char *o1 = overlay_create(e, "d1-s1.qcow2", "disk1.raw", "raw", NULL);
	ov[1].overlay = o1;
	_cleanup_free_ char *target = path_of(e, "mirror.raw");
	json_decref(qmp(e, "drive-mirror",
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "job-id", "busy", "device",
				  "drive-sata0-0", "target", target, "format", "raw", "sync",
				  "full", "speed", 1)));
	r = qemu_block_snapshot(e->qmp, ov, 2, T, &err);
	expect_error(r, &err, EIO, "scsi0-0, sata0-0", "transaction", "busy", NULL);
	assert_top(e, "scsi0-0", "drive-scsi0-0");
	assert_top(e, "sata0-0", "drive-sata0-0");
	assert_false(node_exists(e, "s1-scsi0-0"));
	assert_false(node_exists(e, "s1-sata0-0"));
	json_decref(qmp(e, "job-cancel", json_pack("{s:s}", "id", "busy")));
	for (int i = 0; i < 100; i++) {
		json_t *jobs = qmp(e, "query-jobs", NULL);
		size_t n = json_array_size(jobs);
		json_decref(jobs);
		if (n == 0)
			break;
		usleep(20000);
	}

	/* Arguments refused before QEMU is asked. */
	struct qemu_block_overlay twice[] = { { "scsi0-0", o0, "a" }, { "scsi0-0", o1, "b" } };
	r = qemu_block_snapshot(e->qmp, twice, 2, T, &err);
	expect_error(r, &err, EINVAL, "scsi0-0", "twice", NULL);
	struct qemu_block_overlay names[] = { { "scsi0-0", o0, "x" }, { "sata0-0", o1, "x" } };
	r = qemu_block_snapshot(e->qmp, names, 2, T, &err);
	expect_error(r, &err, EINVAL, "\"x\"", NULL);
	struct qemu_block_overlay rel = { "scsi0-0", "d0-s1.qcow2", "s1" };
	r = qemu_block_snapshot(e->qmp, &rel, 1, T, &err);
	expect_error(r, &err, EINVAL, "absolute", NULL);
	r = qemu_block_snapshot(e->qmp, ov, 0, T, &err);
	expect_error(r, &err, EINVAL, "at least one", NULL);

	/* Everything was cleaned up: the same names work now. */
	snapshot(e, ov, 2);
	assert_top(e, "scsi0-0", "s1-scsi0-0");
	assert_top(e, "sata0-0", "s1-sata0-0");
	qemu_quit(e);
}

static void test_commit(void **state)
{
	struct env *e = *state;
	start_with_data(e, 0);
	build_scsi_chain(e);
	_cleanup_error_ struct vr_error *err = NULL;

	/* Intermediate: s1 into the base; s2 now sits on the base. */
	struct progress p = { 0 };
	if (qemu_block_commit(e->qmp, "scsi0-0", "s1", "drive-scsi0-0", on_progress, &p, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_true(p.calls >= 1);
	assert_int_equal(p.done, p.total);
	assert_top(e, "scsi0-0", "s2");
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
		assert_int_equal(c->n, 2);
		assert_string_equal(c->images[1].node_name, "drive-scsi0-0");
		assert_string_equal(c->images[0].backing_name, "disk0.qcow2"); /* still relative */
	}
	assert_false(node_exists(e, "s1")); /* QEMU let go of s1.qcow2 */
	assert_false(node_exists(e, "f-s1"));
	assert_false(qemu_has_open(e, "s1.qcow2"));
	expect_scsi_data(e);

	/* Active: s2 into the base; the device writes to the base again. */
	p = (struct progress){ 0 };
	if (qemu_block_commit(e->qmp, "scsi0-0", NULL, "drive-scsi0-0", on_progress, &p, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_true(p.calls >= 2);
	assert_true(p.total > 0);
	assert_int_equal(p.done, p.total);
	assert_top(e, "scsi0-0", "drive-scsi0-0");
	assert_false(node_exists(e, "s2"));
	assert_false(node_exists(e, "f-s2"));
	assert_false(qemu_has_open(e, "s2.qcow2"));
	assert_true(qemu_has_open(e, "disk0.qcow2"));
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
		assert_int_equal(c->n, 1);
		assert_false(c->images[0].read_only);
	}
	dev_write(e, "scsi0-0", 0x44, "192k", "64k");
	expect_scsi_data(e);

	/* Nothing left to merge, and names that are not in the chain. */
	int r = qemu_block_commit(e->qmp, "scsi0-0", NULL, "drive-scsi0-0", NULL, NULL, &err);
	expect_error(r, &err, EINVAL, "below the top", "scsi0-0", NULL);
	r = qemu_block_commit(e->qmp, "scsi0-0", "s1", "drive-scsi0-0", NULL, NULL, &err);
	expect_error(r, &err, ENOENT, "top node \"s1\"", "scsi0-0", "drive-scsi0-0", NULL);
	r = qemu_block_commit(e->qmp, "scsi0-0", NULL, "drive-sata0-0", NULL, NULL, &err);
	expect_error(r, &err, ENOENT, "base node \"drive-sata0-0\"", NULL);
	qemu_quit(e);

	/* The base file holds everything; s2.qcow2 records its new backing file relatively. */
	file_expect(e, "disk0.qcow2", "qcow2", 0x11, "0", "64k");
	file_expect(e, "disk0.qcow2", "qcow2", 0x22, "64k", "64k");
	file_expect(e, "disk0.qcow2", "qcow2", 0x33, "128k", "64k");
	file_expect(e, "disk0.qcow2", "qcow2", 0x44, "192k", "64k");
	_cleanup_img_chain_ struct qemu_img_chain *ic = file_chain(e, "s2.qcow2", "qcow2");
	assert_int_equal(ic->n, 2);
	assert_string_equal(ic->images[0].backing_filename, "disk0.qcow2");
}

static void test_commit_cancel_and_error(void **state)
{
	struct env *e = *state;
	start_with_data(e, WITH_BLKDEBUG);
	build_scsi_chain(e);
	_cleanup_error_ struct vr_error *err = NULL;

	/* Cancelled from the progress callback: the chain stays as it was. */
	struct progress p = { .cancel_at = 1 };
	int r = qemu_block_commit(e->qmp, "scsi0-0", NULL, "drive-scsi0-0", on_progress, &p, &err);
	expect_error(r, &err, ECANCELED, "cancelled", "s2.qcow2", "disk0.qcow2", NULL);
	assert_int_equal(p.calls, 1);
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
		assert_int_equal(c->n, 3);
		assert_string_equal(c->images[0].node_name, "s2");
	}
	json_t *jobs = qmp(e, "query-jobs", NULL);
	assert_int_equal(json_array_size(jobs), 0); /* dismissed */
	json_decref(jobs);
	expect_scsi_data(e);

	/* The base fails writes at 1 MiB: QEMU's job error comes back. */
	_cleanup_free_ char *o1 = overlay_create(e, "d1-s1.qcow2", "disk1.raw", "raw", NULL);
	struct qemu_block_overlay ov = { "sata0-0", o1, "s1-sata0-0" };
	snapshot(e, &ov, 1);
	dev_write(e, "sata0-0", 0x22, "1M", "64k");
	r = qemu_block_commit(e->qmp, "sata0-0", NULL, "drive-sata0-0", NULL, NULL, &err);
	expect_error(r, &err, EIO, "sata0-0", "d1-s1.qcow2", "disk1.raw", "Input/output error",
		     NULL);
	assert_top(e, "sata0-0", "s1-sata0-0");
	dev_expect(e, "sata0-0", 0x22, "1M", "64k");
	jobs = qmp(e, "query-jobs", NULL);
	assert_int_equal(json_array_size(jobs), 0);
	json_decref(jobs);

	/* Reads at 2 MiB fail: the stream job stops, is cancelled and reports it. */
	p = (struct progress){ 0 };
	r = qemu_block_stream(e->qmp, "sata0-0", NULL, on_progress, &p, &err);
	expect_error(r, &err, EIO, "sata0-0", "d1-s1.qcow2", "I/O error", NULL);
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "sata0-0");
		assert_int_equal(c->n, 2);
		assert_string_equal(c->images[1].node_name, "drive-sata0-0");
	}
	jobs = qmp(e, "query-jobs", NULL);
	assert_int_equal(json_array_size(jobs), 0);
	json_decref(jobs);
	dev_expect(e, "sata0-0", 0x11, "0", "64k");
	qemu_quit(e);
}

/* Waits for the only job to reach status. */
static void wait_job(struct env *e, const char *status)
{
	for (int i = 0; i < 250; i++) {
		json_t *jobs = qmp(e, "query-jobs", NULL);
		const char *st = json_string_value(json_object_get(json_array_get(jobs, 0), "status"));
		bool done = st && strcmp(st, status) == 0;
		json_decref(jobs);
		if (done)
			return;
		usleep(20000);
	}
	fail_msg("no job reached status %s", status);
}

static void test_jobs_left_by_earlier_run(void **state)
{
	struct env *e = *state;
	start_with_data(e, 0);
	build_scsi_chain(e);
	_cleanup_error_ struct vr_error *err = NULL;

	/*
	 * A stream job left concluded: dismissed before anything else (QEMU
	 * 7.2 crashes on query-named-block-nodes while it is there).
	 */
	json_decref(qmp(e, "block-stream",
			json_pack("{s:s, s:s, s:s, s:b}", "job-id", "vireo-stream-scsi0-0", "device",
				  "s1", "base-node", "drive-scsi0-0", "auto-dismiss", 0)));
	wait_job(e, "concluded");
	if (qemu_block_stream(e->qmp, "scsi0-0", "drive-scsi0-0", NULL, NULL, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_false(node_exists(e, "s1"));
	expect_scsi_data(e);

	/* An active commit left waiting in "ready": cancelled, then ours runs. */
	json_decref(qmp(e, "block-commit",
			json_pack("{s:s, s:s, s:s, s:b}", "job-id", "vireo-commit-scsi0-0", "device",
				  "s2", "base-node", "drive-scsi0-0", "auto-dismiss", 0)));
	wait_job(e, "ready");
	if (qemu_block_commit(e->qmp, "scsi0-0", NULL, "drive-scsi0-0", NULL, NULL, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_top(e, "scsi0-0", "drive-scsi0-0");
	json_t *jobs = qmp(e, "query-jobs", NULL);
	assert_int_equal(json_array_size(jobs), 0);
	json_decref(jobs);
	expect_scsi_data(e);
	qemu_quit(e);
}

/* A VM started on an overlay: QEMU opens its backing file itself and names it "#blockN". */
static void test_chain_after_restart(void **state)
{
	struct env *e = *state;
	disk_create(e, "base.qcow2", "qcow2", 16 * MiB);
	free(overlay_create(e, "disk0.qcow2", "base.qcow2", "qcow2", NULL));
	disk_create(e, "disk1.raw", "raw", 16 * MiB);
	qemu_start(e, 0);
	dev_write(e, "scsi0-0", 0x11, "0", "64k");
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *base_node = NULL;
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
		assert_int_equal(c->n, 2);
		assert_string_equal(c->images[0].node_name, "drive-scsi0-0");
		assert_string_equal(c->images[0].file_node, "file-scsi0-0");
		assert_string_equal(c->images[0].backing_name, "base.qcow2");
		assert_true(str_has_prefix(c->images[1].node_name, "#block"));
		_cleanup_free_ char *base = path_of(e, "base.qcow2");
		assert_string_equal(c->images[1].filename, base);
		assert_true(c->images[1].read_only);
		base_node = xstrdup(c->images[1].node_name);
	}
	/* Merged down into the base by QEMU's name for it; the command-line nodes go. */
	if (qemu_block_commit(e->qmp, "scsi0-0", NULL, base_node, NULL, NULL, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_top(e, "scsi0-0", base_node);
	assert_false(node_exists(e, "drive-scsi0-0"));
	assert_false(node_exists(e, "file-scsi0-0"));
	assert_false(qemu_has_open(e, "disk0.qcow2")); /* the caller may delete it */

	/* And the next snapshot goes on top of the base. */
	_cleanup_free_ char *o = overlay_create(e, "s1.qcow2", "base.qcow2", "qcow2", NULL);
	struct qemu_block_overlay ov = { "scsi0-0", o, "s1" };
	snapshot(e, &ov, 1);
	dev_write(e, "scsi0-0", 0x22, "64k", "64k");
	qemu_quit(e);
	file_expect(e, "base.qcow2", "qcow2", 0x11, "0", "64k");
	file_expect(e, "base.qcow2", "qcow2", 0x00, "64k", "64k");
	file_expect(e, "s1.qcow2", "qcow2", 0x22, "64k", "64k");
}

static void test_stream(void **state)
{
	struct env *e = *state;
	start_with_data(e, 0);
	build_scsi_chain(e);
	_cleanup_error_ struct vr_error *err = NULL;

	/* Down to the base: s1's data moves into s2, which then sits on the base. */
	struct progress p = { 0 };
	if (qemu_block_stream(e->qmp, "scsi0-0", "drive-scsi0-0", on_progress, &p, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_int_equal(p.done, p.total);
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
		assert_int_equal(c->n, 2);
		assert_string_equal(c->images[0].node_name, "s2");
		assert_string_equal(c->images[0].backing_name, "disk0.qcow2");
		assert_string_equal(c->images[1].node_name, "drive-scsi0-0");
	}
	assert_false(node_exists(e, "s1"));
	expect_scsi_data(e);

	/* Nothing between the top and base: nothing to do. */
	if (qemu_block_stream(e->qmp, "scsi0-0", "drive-scsi0-0", NULL, NULL, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	int r = qemu_block_stream(e->qmp, "scsi0-0", "s2", NULL, NULL, &err);
	expect_error(r, &err, EINVAL, "itself", NULL);

	/* The whole chain: s2 stands alone and QEMU closes the base. */
	if (qemu_block_stream(e->qmp, "scsi0-0", NULL, NULL, NULL, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	{
		_cleanup_block_chain_ struct qemu_block_chain *c = chain(e, "scsi0-0");
		assert_int_equal(c->n, 1);
		assert_string_equal(c->images[0].node_name, "s2");
	}
	assert_false(node_exists(e, "drive-scsi0-0"));
	assert_false(node_exists(e, "file-scsi0-0"));
	/* Closed, so no longer locked: qemu-io can open it while QEMU runs. */
	assert_false(qemu_has_open(e, "disk0.qcow2"));
	assert_true(qemu_has_open(e, "s2.qcow2"));
	file_expect(e, "disk0.qcow2", "qcow2", 0x00, "64k", "64k");
	expect_scsi_data(e);
	qemu_quit(e);

	_cleanup_img_chain_ struct qemu_img_chain *ic = file_chain(e, "s2.qcow2", "qcow2");
	assert_int_equal(ic->n, 1);
	assert_true(file_allocated(e, "s2.qcow2", "0", "64k"));
	file_expect(e, "s2.qcow2", "qcow2", 0x11, "0", "64k");
	file_expect(e, "s2.qcow2", "qcow2", 0x22, "64k", "64k");
	file_expect(e, "s2.qcow2", "qcow2", 0x33, "128k", "64k");
}

static uint64_t device_size(struct env *e, const char *device)
{
	json_t *blocks = qmp(e, "query-block", NULL);
	size_t i;
	json_t *b;
	uint64_t size = 0;
	json_array_foreach(blocks, i, b)
		if (strcmp(json_string_value(json_object_get(b, "qdev")), device) == 0)
			size = (uint64_t)json_integer_value(json_object_get(
				json_object_get(json_object_get(b, "inserted"), "image"),
				"virtual-size"));
	json_decref(blocks);
	return size;
}

static void test_resize_and_bitmaps(void **state)
{
	struct env *e = *state;
	start_with_data(e, WITH_VIRTIO_BLK);
	_cleanup_error_ struct vr_error *err = NULL;

	if (qemu_block_resize(e->qmp, "scsi0-0", 32 * MiB, T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_int_equal(device_size(e, "scsi0-0"), 32 * MiB);
	int r = qemu_block_resize(e->qmp, "scsi0-0", 16 * MiB, T, &err);
	expect_error(r, &err, EINVAL, "shrink", "scsi0-0", "33554432", NULL);
	assert_int_equal(device_size(e, "scsi0-0"), 32 * MiB);
	assert_int_equal(qemu_block_resize(e->qmp, "scsi0-0", 32 * MiB, T, &err), 0);
	if (qemu_block_resize(e->qmp, "sata0-0", 24 * MiB, T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	_cleanup_free_ char *raw = path_of(e, "disk1.raw");
	struct stat st;
	assert_int_equal(stat(raw, &st), 0);
	assert_int_equal(st.st_size, 24 * MiB);

	if (qemu_block_bitmap_add(e->qmp, "scsi0-0", "cbt-1", T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	r = qemu_block_bitmap_add(e->qmp, "scsi0-0", "cbt-1", T, &err);
	expect_error(r, &err, EIO, "cbt-1", "scsi0-0", "already exists", NULL);
	r = qemu_block_bitmap_add(e->qmp, "sata0-0", "cbt-1", T, &err);
	expect_error(r, &err, EIO, "sata0-0", "drive-sata0-0", "persistent", NULL);
	if (qemu_block_bitmap_add(e->qmp, "scsi0-0", "cbt-2", T, &err) < 0 ||
	    qemu_block_bitmap_remove(e->qmp, "scsi0-0", "cbt-2", T, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	r = qemu_block_bitmap_remove(e->qmp, "scsi0-0", "cbt-2", T, &err);
	expect_error(r, &err, EIO, "cbt-2", "not found", NULL);
	r = qemu_block_bitmap_add(e->qmp, "scsi0-0", "a b", T, &err);
	expect_error(r, &err, EINVAL, "bitmap name", NULL);
	r = qemu_block_bitmap_add(e->qmp, "scsi0-0", "", T, &err);
	expect_error(r, &err, EINVAL, "bitmap name", NULL);

	/* virtio-blk: query-block names the device by a QOM path. */
	json_t *blocks = qmp(e, "query-block", NULL);
	bool path_seen = false;
	size_t i;
	json_t *b;
	json_array_foreach(blocks, i, b)
		path_seen = path_seen || str_has_prefix(json_string_value(json_object_get(b, "qdev")),
							"/machine/peripheral/virtio0-0/");
	json_decref(blocks);
	assert_true(path_seen);
	assert_top(e, "virtio0-0", "drive-virtio0-0");
	_cleanup_free_ char *no = NULL;
	r = qemu_block_top_node(e->qmp, "virtio0", &no, T, &err); /* a prefix is not a match */
	expect_error(r, &err, ENOENT, "\"virtio0\"", "virtio0-0", NULL);
	qemu_quit(e);

	_cleanup_img_chain_ struct qemu_img_chain *ic = file_chain(e, "disk0.qcow2", "qcow2");
	assert_int_equal(ic->images[0].virtual_size, 32 * MiB);
	assert_int_equal(ic->images[0].n_bitmaps, 1);
	assert_string_equal(ic->images[0].bitmaps[0].name, "cbt-1");
	assert_false(ic->images[0].bitmaps[0].in_use); /* saved cleanly at quit */
	file_expect(e, "disk0.qcow2", "qcow2", 0x11, "0", "64k");
}

static void test_bad_names_and_devices(void **state)
{
	struct env *e = *state;
	start_with_data(e, 0);
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *node = NULL;
	struct qemu_block_chain *c = NULL;

	int r = qemu_block_top_node(e->qmp, "scsi9-9", &node, T, &err);
	expect_error(r, &err, ENOENT, "\"scsi9-9\"", "scsi0-0, sata0-0", NULL);
	r = qemu_block_chain_get(e->qmp, "scsi9-9", &c, T, &err);
	expect_error(r, &err, ENOENT, "scsi9-9", NULL);
	r = qemu_block_resize(e->qmp, "scsi9-9", 32 * MiB, T, &err);
	expect_error(r, &err, ENOENT, "scsi9-9", NULL);
	r = qemu_block_bitmap_add(e->qmp, "scsi9-9", "cbt", T, &err);
	expect_error(r, &err, ENOENT, "scsi9-9", NULL);
	r = qemu_block_commit(e->qmp, "scsi9-9", NULL, "drive-scsi0-0", NULL, NULL, &err);
	expect_error(r, &err, ENOENT, "scsi9-9", NULL);
	r = qemu_block_stream(e->qmp, "scsi9-9", NULL, NULL, NULL, &err);
	expect_error(r, &err, ENOENT, "scsi9-9", NULL);
	_cleanup_free_ char *o0 = overlay_create(e, "d0-s1.qcow2", "disk0.qcow2", "qcow2", NULL);
	struct qemu_block_overlay ov = { "scsi9-9", o0, "s1" };
	r = qemu_block_snapshot(e->qmp, &ov, 1, T, &err);
	expect_error(r, &err, ENOENT, "scsi9-9", NULL);
	assert_false(node_exists(e, "s1"));

	/* Device ids and node names. */
	r = qemu_block_top_node(e->qmp, "scsi0-0\"", &node, T, &err);
	expect_error(r, &err, EINVAL, "invalid device id", NULL);
	r = qemu_block_top_node(e->qmp, "", &node, T, &err);
	expect_error(r, &err, EINVAL, "empty", NULL);
	const char *bad[] = { "1bad", "bad name", "a/b", "", "-x",
			      "a23456789012345678901234567890" /* 30: no room for "f-" */ };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ov = (struct qemu_block_overlay){ "scsi0-0", o0, bad[i] };
		r = qemu_block_snapshot(e->qmp, &ov, 1, T, &err);
		expect_error(r, &err, EINVAL, "invalid node name", "scsi0-0", NULL);
	}
	ov.node_name = "a2345678901234567890123456789"; /* 29 */
	snapshot(e, &ov, 1);
	assert_top(e, "scsi0-0", ov.node_name);
	assert_true(node_exists(e, "f-a2345678901234567890123456789"));

	r = qemu_block_commit(e->qmp, "scsi0-0", "a23456789012345678901234567890123", "drive-scsi0-0",
			      NULL, NULL, &err);
	expect_error(r, &err, EINVAL, "invalid top node", "too long", NULL);
	r = qemu_block_commit(e->qmp, "scsi0-0", NULL, "#blockx", NULL, NULL, &err);
	expect_error(r, &err, EINVAL, "invalid base node", NULL);
	r = qemu_block_commit(e->qmp, "scsi0-0", NULL, "#block1", NULL, NULL, &err);
	expect_error(r, &err, ENOENT, "\"#block1\" is not in the chain", NULL); /* a valid name */
	r = qemu_block_commit(e->qmp, "scsi0-0", NULL, NULL, NULL, NULL, &err);
	expect_error(r, &err, EINVAL, "base node", NULL);
	r = qemu_block_stream(e->qmp, "scsi0-0", "no way", NULL, NULL, &err);
	expect_error(r, &err, EINVAL, "invalid base node", NULL);
	qemu_quit(e);
}

static void test_relative_path(void **state)
{
	(void)state;
	const char *cases[][3] = {
		{ "/vm/a", "/vm/a/base.qcow2", "base.qcow2" },
		{ "/vm/a", "/vm/b/base.qcow2", "../b/base.qcow2" },
		{ "/vm/a/snaps", "/vm/a/base.qcow2", "../base.qcow2" },
		{ "/vm/a", "/vm/a/x/../base.qcow2", "base.qcow2" },
		{ "/vm//a/.", "/other/base.qcow2", "../../other/base.qcow2" },
		{ "/", "/base.qcow2", "base.qcow2" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *rel = block_relative_path(cases[i][0], cases[i][1]);
		assert_string_equal(rel, cases[i][2]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relative_path),
		cmocka_unit_test_setup_teardown(test_snapshot_two_disks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_cancel_and_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_left_by_earlier_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize_and_bitmaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_and_devices, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
