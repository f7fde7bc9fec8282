/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden-file tests of the .vmx -> QEMU command line translation:
 * tests/data/vmx/NAME.vmx -> NAME.args (one argument per line).
 * VIREO_TEST_REGENERATE_OUTPUT=1 rewrites the golden files.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "qemu/accel.h"
#include "qemu/cmdline.h"

static const char *data_dir;

static struct vm_config *load(const char *path)
{
	struct vmx *vmx = NULL;
	struct vm_config *cfg = NULL;
	struct vr_error *err = NULL;
	if (vmx_load_file(path, &vmx, &err) < 0 || vm_config_from_vmx(vmx, path, &cfg, &err) < 0)
		fail_msg("%s: %s", path, err->msg);
	vmx_free(vmx);
	return cfg;
}

static char *build(const struct vm_config *cfg, enum vm_accel accel, bool incoming)
{
	_cleanup_free_ char *vm_dir = xasprintf("/datastores/ds1/%s", cfg->display_name);
	_cleanup_free_ char *run_dir = xasprintf("/run/vireo/%s", cfg->uuid);
	char *taps[] = {"vt0123abcdn0", NULL};
	struct qemu_launch l = {
		.qemu_binary = "qemu-system-x86_64",
		.vm_dir = vm_dir,
		.run_dir = run_dir,
		.accel = accel,
		.run_as_user = "vireo-qemu",
		.sandbox = true,
		.start_paused = true,
		.incoming = incoming,
		.nic_taps = taps,
		.n_nic_taps = 2,
	};
	char **argv = NULL;
	struct vr_error *err = NULL;
	if (qemu_cmdline_build(cfg, &l, &argv, &err) < 0)
		fail_msg("%s: %s", cfg->display_name, err->msg);
	char *joined = strv_join(argv, "\n");
	strv_free(argv);
	char *with_nl = xasprintf("%s\n", joined);
	free(joined);
	return with_nl;
}

static void compare_golden(const char *golden_path, const char *actual)
{
	if (getenv("VIREO_TEST_REGENERATE_OUTPUT")) {
		FILE *f = fopen(golden_path, "w");
		assert_non_null(f);
		fputs(actual, f);
		fclose(f);
		return;
	}
	char *expect = NULL;
	struct vr_error *err = NULL;
	if (file_read_all(golden_path, 1 << 20, &expect, NULL, &err) < 0)
		fail_msg("%s (run with VIREO_TEST_REGENERATE_OUTPUT=1 to create it)", err->msg);
	if (strcmp(expect, actual) != 0)
		fail_msg("%s differs from the generated command line:\n%s", golden_path, actual);
	free(expect);
}

static void test_golden_all(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = xasprintf("%s/vmx", data_dir);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (!str_has_suffix(de->d_name, ".vmx"))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_free_ char *base = xstrndup(de->d_name, strlen(de->d_name) - 4);
		struct vm_config *cfg = load(path);
		char *args = build(cfg, VM_ACCEL_TCG, false);
		_cleanup_free_ char *golden = xasprintf("%s/%s.args", dir, base);
		compare_golden(golden, args);
		free(args);
		vm_config_free(cfg);
		n++;
	}
	closedir(d);
	assert_true(n >= 3);
}

static void test_kvm_and_incoming(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/vmx/guest-image.vmx", data_dir);
	struct vm_config *cfg = load(path);
	char *args = build(cfg, VM_ACCEL_KVM, true);
	assert_non_null(strstr(args, "q35,accel=kvm,"));
	assert_non_null(strstr(args, "\n-cpu\nhost\n"));
	assert_non_null(strstr(args, "\n-incoming\ndefer\n"));
	free(args);
	vm_config_free(cfg);
}

static void test_refusals(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/vmx/minimal.vmx", data_dir);
	struct vm_config *cfg = load(path);
	struct qemu_launch l = {.qemu_binary = "q", .vm_dir = "/d", .run_dir = "/r",
				.accel = VM_ACCEL_AUTO};
	char **argv = NULL;
	struct vr_error *err = NULL;
	assert_int_equal(qemu_cmdline_build(cfg, &l, &argv, &err), -EINVAL);
	vr_error_freep(&err);
	l.accel = VM_ACCEL_TCG;
	cfg->disks[0].mode = VM_DISK_MODE_INDEPENDENT_NONPERSISTENT;
	assert_int_equal(qemu_cmdline_build(cfg, &l, &argv, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "redo file"));
	vr_error_freep(&err);
	/* With its redo file, the disk runs on that file. */
	char *redo[] = {(char *)"/d/web01-REDO.qcow2"};
	l.disk_redo = redo;
	l.n_disk_redo = 1;
	assert_int_equal(qemu_cmdline_build(cfg, &l, &argv, &err), 0);
	_cleanup_free_ char *joined = strv_join(argv, " ");
	assert_non_null(strstr(joined, "\"filename\":\"/d/web01-REDO.qcow2\""));
	strv_free(argv);
	argv = NULL;
	l.disk_redo = NULL;
	l.n_disk_redo = 0;
	cfg->disks[0].mode = VM_DISK_MODE_PERSISTENT;
	cfg->firmware = VM_FIRMWARE_EFI;
	assert_int_equal(qemu_cmdline_build(cfg, &l, &argv, &err), -ENOTSUP);
	vr_error_freep(&err);
	assert_null(argv);
	vm_config_free(cfg);
}

/* The -blockdev arguments of disk `pos` of cfg (file and format node). */
static size_t disk_blockdevs(const struct vm_config *cfg, char **argv, size_t pos,
			     const char *out[2])
{
	char node[64], fnode[64];
	qemu_cmdline_disk_node(&cfg->disks[pos], node, sizeof(node));
	snprintf(fnode, sizeof(fnode), "file-%s", node + strlen("drive-"));
	_cleanup_free_ char *want_fmt = xasprintf("\"node-name\":\"%s\"", node);
	_cleanup_free_ char *want_file = xasprintf("\"node-name\":\"%s\"", fnode);
	size_t n = 0;
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (strcmp(argv[i], "-blockdev") == 0 &&
		    (strstr(argv[i + 1], want_fmt) || strstr(argv[i + 1], want_file)) && n < 2)
			out[n++] = argv[i + 1];
	return n;
}

/* Each disk in the cache mode hostd chose for it, on both of its nodes. */
static void test_disk_cache(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/vmx/disk-buses.vmx", data_dir);
	struct vm_config *cfg = load(path);
	assert_true(cfg->n_disks >= 2);
	bool buffered[] = {false, true};
	struct qemu_launch l = {.qemu_binary = "q", .vm_dir = "/d", .run_dir = "/r",
				.accel = VM_ACCEL_TCG, .disk_buffered = buffered,
				.n_disk_buffered = 2};
	char **argv = NULL;
	struct vr_error *err = NULL;
	assert_int_equal(qemu_cmdline_build(cfg, &l, &argv, &err), 0);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const char *nodes[2] = {NULL, NULL};
		assert_int_equal(disk_blockdevs(cfg, argv, i, nodes), 2);
		/* Disks past n_disk_buffered: O_DIRECT. */
		const char *want = i == 1 ? "\"cache\":{\"direct\":false,\"no-flush\":false}"
					  : "\"cache\":{\"direct\":true,\"no-flush\":false}";
		for (size_t k = 0; k < 2; k++) {
			if (!strstr(nodes[k], want))
				fail_msg("disk %zu: %s lacks %s", i, nodes[k], want);
			/* Native AIO needs O_DIRECT; only the file node has an aio. */
			const char *aio = !strstr(nodes[k], "\"driver\":\"file\"") ? NULL
					  : i == 1 ? "\"aio\":\"threads\""
						   : "\"aio\":\"native\"";
			if (aio ? !strstr(nodes[k], aio) : strstr(nodes[k], "\"aio\"") != NULL)
				fail_msg("disk %zu: %s: expected %s", i, nodes[k],
					 aio ? aio : "no aio on a format node");
		}
	}
	strv_free(argv);
	vm_config_free(cfg);

	json_t *c = qemu_disk_cache_json(true);
	assert_true(json_is_true(json_object_get(c, "direct")));
	assert_true(json_is_false(json_object_get(c, "no-flush")));
	json_decref(c);
}

/*
 * The probe: procfs refuses O_DIRECT (EINVAL, as tmpfs before Linux 6.6
 * does), so QEMU must open such a file buffered; a file that cannot be
 * opened at all is left to QEMU, which reports why.
 */
static void test_direct_probe(void **state)
{
	(void)state;
	assert_false(qemu_disk_direct_supported("/proc/self/status"));
	assert_true(qemu_disk_direct_supported("/nonexistent/vireo-disk.vmdk"));
}

static void test_accel(void **state)
{
	(void)state;
	char *reason = NULL;
	/* A missing device node means TCG, with the reason. */
	assert_int_equal(qemu_accel_detect("/sys", "/nonexistent/kvm", &reason), VM_ACCEL_TCG);
	assert_non_null(strstr(reason, "cannot be opened"));
	free(reason);
	enum vm_accel out;
	struct vr_error *err = NULL;
	assert_int_equal(qemu_accel_resolve(VM_ACCEL_AUTO, VM_ACCEL_AUTO, VM_ACCEL_TCG, "r", &out, &err), 0);
	assert_int_equal(out, VM_ACCEL_TCG);
	assert_int_equal(qemu_accel_resolve(VM_ACCEL_TCG, VM_ACCEL_KVM, VM_ACCEL_KVM, "r", &out, &err), 0);
	assert_int_equal(out, VM_ACCEL_TCG);
	assert_int_equal(qemu_accel_resolve(VM_ACCEL_AUTO, VM_ACCEL_TCG, VM_ACCEL_KVM, "r", &out, &err), 0);
	assert_int_equal(out, VM_ACCEL_TCG);
	assert_true(qemu_accel_resolve(VM_ACCEL_KVM, VM_ACCEL_AUTO, VM_ACCEL_TCG, "PVM", &out, &err) < 0);
	assert_non_null(strstr(err->msg, "PVM"));
	vr_error_free(err);
	/* On this kind of machine: PVM present means TCG. */
	if (access("/sys/module/kvm_pvm", F_OK) == 0) {
		assert_int_equal(qemu_accel_detect("/sys", "/dev/kvm", &reason), VM_ACCEL_TCG);
		free(reason);
	}
}

int main(int argc, char **argv)
{
	data_dir = argc > 1 ? argv[1] : "tests/data";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_all),
		cmocka_unit_test(test_kvm_and_incoming),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_disk_cache),
		cmocka_unit_test(test_direct_probe),
		cmocka_unit_test(test_accel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
