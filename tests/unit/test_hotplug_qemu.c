/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qemu/hotplug.c against a real QEMU (q35, TCG, vCPUs never started): a
 * SCSI disk added next to one from the command line gets the command
 * line's names and takes data; a failed device_add leaves no block node
 * behind; removal waits for DEVICE_DELETED and closes the nodes (QEMU no
 * longer holds the file); a device whose unplug needs the guest (PCIe
 * hot-plug, vCPUs stopped) times out and stays.  QEMU is a required
 * dependency: without it the tests fail, they do not skip.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/loop.h"
#include "common/util.h"
#include "qemu/hotplug.h"
#include "qemu/img.h"
#include "qemu/qmp.h"

extern char **environ;

#define MiB (1ull << 20)
#define T 10000 /* ms for each call */

struct env {
	struct vr_loop *loop;
	char dir[64];
	char *sock;
	pid_t pid;
	struct qmp *qmp;
};

static char *path_of(struct env *e, const char *name)
{
	return xasprintf("%s/%s", e->dir, name);
}

static void on_event(struct qmp *q, const char *event, json_t *data, uint64_t ts, void *opaque)
{
	(void)ts;
	(void)opaque;
	qemu_hotplug_on_event(q, event, data);
}

static void disk_create(struct env *e, const char *name, const char *fmt)
{
	_cleanup_free_ char *p = path_of(e, name);
	_cleanup_error_ struct vr_error *err = NULL;
	if (qemu_img_create("qemu-img", p, fmt, 16 * MiB, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
}

/* scsi0 (virtio-scsi) with disk0.qcow2 as cmdline.c puts it, and an empty PCIe root port. */
static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	strcpy(e->dir, "/tmp/vireo-test-hotplug-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	e->sock = path_of(e, "qmp.sock");
	_cleanup_error_ struct vr_error *err = NULL;
	e->loop = vr_loop_new(&err);
	if (!e->loop || vr_loop_start(e->loop) < 0)
		return -1;
	*state = e;
	disk_create(e, "disk0.qcow2", "qcow2");
	_cleanup_free_ char *d0 = path_of(e, "disk0.qcow2");
	_cleanup_strv_ char **argv = NULL;
	const char *fixed[] = { "qemu-system-x86_64", "-nodefaults", "-no-user-config",
				"-display", "none", "-machine", "q35,accel=tcg", "-m", "64", "-S",
				"-device", "virtio-scsi-pci,id=scsi0",
				"-device", "pcie-root-port,id=rp0,chassis=1,bus=pcie.0",
				"-qmp" };
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		strv_push(&argv, fixed[i]);
	strv_pushf(&argv, "unix:%s,server=on,wait=off", e->sock);
	strv_push(&argv, "-blockdev");
	strv_pushf(&argv, "{\"driver\":\"file\",\"node-name\":\"file-scsi0-0\",\"filename\":\"%s\"}", d0);
	strv_push(&argv, "-blockdev");
	strv_push(&argv, "{\"driver\":\"qcow2\",\"node-name\":\"drive-scsi0-0\",\"file\":\"file-scsi0-0\"}");
	strv_push(&argv, "-device");
	strv_push(&argv, "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0-0,id=scsi0-0");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (posix_spawnp(&e->pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		fprintf(stderr, "qemu-system-x86_64 is a required dependency "
				"(scripts/install-deps.sh)\n");
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	e->qmp = qmp_open(e->loop, e->sock, 20000, on_event, NULL, &err);
	if (!e->qmp) {
		fprintf(stderr, "cannot talk to QEMU: %s\n", vr_error_msg(err));
		return -1;
	}
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
	free(e);
	return 0;
}

static json_t *qmp(struct env *e, const char *cmd, json_t *args)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *ret = NULL;
	if (qmp_execute(e->qmp, cmd, args, T, &ret, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return ret;
}

/* Whether QEMU has a block node of that name. */
static bool has_node(struct env *e, const char *name)
{
	json_t *nodes = qmp(e, "query-named-block-nodes", json_pack("{s:b}", "flat", 1));
	bool found = false;
	size_t i;
	json_t *n;
	json_array_foreach(nodes, i, n) {
		const char *nn = json_string_value(json_object_get(n, "node-name"));
		found |= nn && strcmp(nn, name) == 0;
	}
	json_decref(nodes);
	return found;
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

static bool device_exists(struct env *e, const char *id)
{
	_cleanup_free_ char *type = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	int r = qemu_hotplug_device_type(e->qmp, id, &type, T, &err);
	if (r == -ENOENT)
		return false;
	if (r < 0)
		fail_msg("%s", vr_error_msg(err));
	return true;
}

static void test_add_remove(void **state)
{
	struct env *e = *state;
	_cleanup_free_ char *type = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qemu_hotplug_device_type(e->qmp, "scsi0", &type, T, &err), 0);
	assert_string_equal(type, "virtio-scsi-pci");
	free(type);
	assert_int_equal(qemu_hotplug_device_type(e->qmp, "scsi1", &type, T, &err), -ENOENT);
	assert_non_null(strstr(vr_error_msg(err), "scsi1"));
	vr_error_free(err);
	err = NULL;

	disk_create(e, "disk1.raw", "raw");
	_cleanup_free_ char *p1 = path_of(e, "disk1.raw");
	struct qemu_hotplug_disk d = {.controller = 0, .unit = 3, .path = p1, .format = "raw"};
	assert_int_equal(qemu_hotplug_disk_add(e->qmp, &d, T, &err), 0);
	assert_true(has_node(e, "file-scsi0-3") && has_node(e, "drive-scsi0-3"));
	assert_true(device_exists(e, "scsi0-3"));
	assert_true(qemu_has_open(e, "disk1.raw"));
	/* The device takes data through the command line's node name. */
	json_t *ret = qmp(e, "human-monitor-command",
			  json_pack("{s:s}", "command-line",
				    "qemu-io -d scsi0-3 \"write -P 0x5a 0 64k\""));
	json_decref(ret);

	/* Unit 3 is taken: device_add fails and the new nodes are closed again. */
	disk_create(e, "disk2.qcow2", "qcow2");
	_cleanup_free_ char *p2 = path_of(e, "disk2.qcow2");
	struct qemu_hotplug_disk taken = {.controller = 0, .unit = 3, .path = p2, .format = "qcow2"};
	assert_true(qemu_hotplug_disk_add(e->qmp, &taken, T, &err) < 0);
	assert_non_null(strstr(vr_error_msg(err), "scsi0-3"));
	vr_error_free(err);
	err = NULL;
	assert_true(has_node(e, "drive-scsi0-3")); /* the first disk's */
	assert_false(qemu_has_open(e, "disk2.qcow2"));
	/* A wrong format: nothing stays open either. */
	struct qemu_hotplug_disk wrong = {.controller = 0, .unit = 4, .path = p1, .format = "qcow2"};
	assert_true(qemu_hotplug_disk_add(e->qmp, &wrong, T, &err) < 0);
	vr_error_free(err);
	err = NULL;
	assert_false(has_node(e, "file-scsi0-4") || has_node(e, "drive-scsi0-4"));

	/* Removal: DEVICE_DELETED, then both nodes closed and the file released. */
	assert_int_equal(qemu_hotplug_disk_del(e->qmp, "scsi0-3", 5000, T, &err), 0);
	assert_false(device_exists(e, "scsi0-3"));
	assert_false(has_node(e, "file-scsi0-3") || has_node(e, "drive-scsi0-3"));
	assert_false(qemu_has_open(e, "disk1.raw"));
	assert_true(qemu_has_open(e, "disk0.qcow2"));
	/* The same slot can take a disk again. */
	assert_int_equal(qemu_hotplug_disk_add(e->qmp, &taken, T, &err), 0);
	assert_int_equal(qemu_hotplug_disk_del(e->qmp, "scsi0-3", 5000, T, &err), 0);
	assert_int_equal(qemu_hotplug_disk_del(e->qmp, "scsi0-9", 5000, T, &err), -ENOENT);
}

/* PCIe unplug needs the guest's consent, which stopped vCPUs never give. */
static void test_del_timeout(void **state)
{
	struct env *e = *state;
	disk_create(e, "disk3.raw", "raw");
	_cleanup_free_ char *p3 = path_of(e, "disk3.raw");
	json_decref(qmp(e, "blockdev-add",
			json_pack("{s:s, s:s, s:s}", "driver", "file", "node-name", "file-virtio0-0",
				  "filename", p3)));
	json_decref(qmp(e, "blockdev-add",
			json_pack("{s:s, s:s, s:s}", "driver", "raw", "node-name",
				  "drive-virtio0-0", "file", "file-virtio0-0")));
	json_decref(qmp(e, "device_add",
			json_pack("{s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci", "bus", "rp0",
				  "drive", "drive-virtio0-0", "id", "virtio0-0")));
	_cleanup_error_ struct vr_error *err = NULL;
	uint64_t t0 = time_mono_ms();
	assert_int_equal(qemu_hotplug_disk_del(e->qmp, "virtio0-0", 1500, T, &err), -ETIMEDOUT);
	uint64_t waited = time_mono_ms() - t0;
	assert_true(waited >= 1400 && waited < 8000);
	assert_non_null(strstr(vr_error_msg(err), "virtio0-0"));
	assert_true(has_node(e, "drive-virtio0-0"));
	assert_true(qemu_has_open(e, "disk3.raw"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_timeout, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
