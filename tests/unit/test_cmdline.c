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
	int taps[] = {42, -1};
	struct qemu_launch l = {
		.qemu_binary = "qemu-system-x86_64",
		.vm_dir = vm_dir,
		.run_dir = run_dir,
		.accel = accel,
		.run_as_user = "vireo-qemu",
		.sandbox = true,
		.start_paused = true,
		.incoming = incoming,
		.nic_tap_fds = taps,
		.n_nic_tap_fds = 2,
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
		cmocka_unit_test(test_accel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
