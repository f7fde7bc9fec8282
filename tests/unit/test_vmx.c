/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the .vmx parser/writer and the neutral VM configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"

static const char *data_dir;

static struct vmx *parse(const char *text)
{
	struct vmx *vmx = NULL;
	struct vr_error *err = NULL;
	int r = vmx_parse(text, strlen(text), "test.vmx", &vmx, &err);
	if (r < 0)
		fail_msg("parse failed: %s", err->msg);
	return vmx;
}

static char *parse_error(const char *text)
{
	struct vmx *vmx = NULL;
	struct vr_error *err = NULL;
	int r = vmx_parse(text, strlen(text), "test.vmx", &vmx, &err);
	assert_true(r < 0);
	assert_null(vmx);
	char *m = xstrdup(err->msg);
	vr_error_free(err);
	return m;
}

static void test_basic(void **state)
{
	(void)state;
	struct vmx *vmx = parse("# comment\n.encoding = \"UTF-8\"\r\ndisplayName = \"web 01\"\n"
				"  memsize=\"512\"  # trailing\nNumVCPUs = 2\n\n");
	assert_string_equal(vmx_get(vmx, "displayname"), "web 01");
	assert_string_equal(vmx_get(vmx, "MEMSIZE"), "512");
	assert_string_equal(vmx_get(vmx, "numvcpus"), "2");
	assert_null(vmx_get(vmx, "guestOS"));
	vmx_set(vmx, "memsize", "1024");
	vmx_set(vmx, "guestOS", "other");
	assert_string_equal(vmx_get(vmx, "memsize"), "1024");
	vmx_remove(vmx, "displayName");
	assert_null(vmx_get(vmx, "displayName"));
	vmx_free(vmx);
}

static void test_escapes_roundtrip(void **state)
{
	(void)state;
	struct vmx *vmx = parse("annotation = \"say |22hi|22 |7C pipe # not a comment\"\n");
	assert_string_equal(vmx_get(vmx, "annotation"), "say \"hi\" | pipe # not a comment");
	vmx_set(vmx, "odd", "tab\there \"q\" #x");
	char *text = vmx_format(vmx);
	assert_true(str_has_prefix(text, ".encoding = \"UTF-8\"\n"));
	struct vmx *again = parse(text);
	assert_string_equal(vmx_get(again, "annotation"), vmx_get(vmx, "annotation"));
	assert_string_equal(vmx_get(again, "odd"), "tab\there \"q\" #x");
	assert_int_equal(again->n, vmx->n + 1); /* + .encoding */
	free(text);
	vmx_free(vmx);
	vmx_free(again);
}

/* VMware writes line breaks in annotations as |0A; they survive a round trip. */
static void test_escaped_line_breaks(void **state)
{
	(void)state;
	struct vmx *vmx = parse("annotation = \"line one|0Aline two|0D|0A\"\n");
	assert_string_equal(vmx_get(vmx, "annotation"), "line one\nline two\r\n");
	char *text = vmx_format(vmx);
	assert_non_null(strstr(text, "line one|0Aline two|0D|0A"));
	struct vmx *again = parse(text);
	assert_string_equal(vmx_get(again, "annotation"), vmx_get(vmx, "annotation"));
	free(text);
	vmx_free(vmx);
	vmx_free(again);
}

/* A value whose escaped form overflows a line is refused, and nothing is written. */
static void test_save_refuses_unreadable(void **state)
{
	(void)state;
	char dir[] = "/tmp/vireo-vmx-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/x.vmx", dir);
	struct vmx *vmx = parse("displayName = \"x\"\n");
	size_t n = VMX_MAX_LINE / 3 + 10;
	char *big = xmalloc(n + 1);
	memset(big, '"', n);
	big[n] = '\0';
	vmx_set(vmx, "annotation", big);
	struct vr_error *err = NULL;
	assert_true(vmx_save_file(vmx, path, &err) < 0);
	assert_non_null(strstr(err->msg, "refusing to write"));
	assert_int_equal(access(path, F_OK), -1);
	vr_error_free(err);
	free(big);
	vmx_free(vmx);
	rmdir(dir);
	free(path);
}

static void test_last_definition_wins(void **state)
{
	(void)state;
	struct vmx *vmx = parse("memsize = \"1\"\nMemSize = \"2\"\n");
	assert_int_equal(vmx->n, 1);
	assert_string_equal(vmx_get(vmx, "memsize"), "2");
	vmx_free(vmx);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	struct {
		const char *text;
		const char *expect;
	} cases[] = {
		{"a = \"b\"\nnot a pair\n", "line 2: missing '='"},
		{"a = \"unterminated\n", "line 1: unterminated quoted value"},
		{"a b = \"c\"\n", "line 1: invalid key"},
		{"a = \"c\" extra\n", "unexpected text after the closing quote"},
		{"a = \"c\x01\"\n", "control character 0x01"},
		{"a = \"|01\"\n", "escaped control character"},
		{"= \"c\"\n", "invalid key"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *m = parse_error(cases[i].text);
		if (!strstr(m, cases[i].expect))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, m, cases[i].expect);
		free(m);
	}
	/* A NUL byte inside the text. */
	struct vmx *vmx = NULL;
	struct vr_error *err = NULL;
	assert_true(vmx_parse("a = \"b\0c\"\n", 10, "nul.vmx", &vmx, &err) < 0);
	assert_non_null(strstr(err->msg, "NUL"));
	vr_error_free(err);
}

static void test_limits(void **state)
{
	(void)state;
	size_t big = VMX_MAX_FILE_SIZE + 1;
	char *text = xmalloc(big);
	memset(text, '#', big);
	struct vmx *vmx = NULL;
	struct vr_error *err = NULL;
	assert_int_equal(vmx_parse(text, big, "big.vmx", &vmx, &err), -EFBIG);
	vr_error_free(err);
	free(text);
}

static struct vm_config *load_config(const char *path, char **errmsg)
{
	struct vmx *vmx = NULL;
	struct vm_config *cfg = NULL;
	struct vr_error *err = NULL;
	int r = vmx_load_file(path, &vmx, &err);
	if (r >= 0)
		r = vm_config_from_vmx(vmx, path, &cfg, &err);
	vmx_free(vmx);
	if (r < 0) {
		*errmsg = xstrdup(err->msg);
		vr_error_free(err);
		return NULL;
	}
	return cfg;
}

static void test_config_vmware(void **state)
{
	(void)state;
	char *path = xasprintf("%s/vmx/vmware-import.vmx", data_dir), *msg = NULL;
	struct vm_config *c = load_config(path, &msg);
	if (!c)
		fail_msg("%s", msg);
	assert_non_null(c);
	assert_string_equal(c->display_name, "Legacy, App (1)");
	assert_string_equal(c->uuid, "421a6b0d-8f2e-4c11-a9b2-334455667788");
	assert_int_equal(c->memory_mib, 4096);
	assert_int_equal(c->vcpus, 4);
	assert_int_equal(c->cores_per_socket, 2);
	assert_int_equal(c->n_disks, 4);
	assert_int_equal(c->scsi_model[0], VM_SCSI_LSILOGIC);
	assert_int_equal(c->scsi_model[1], VM_SCSI_PVSCSI);
	assert_int_equal(c->disks[0].format, VM_DISK_FORMAT_VMDK);
	assert_int_equal(c->disks[1].mode, VM_DISK_MODE_INDEPENDENT_PERSISTENT);
	assert_int_equal(c->disks[3].device, VM_DISK_DEVICE_CDROM);
	assert_int_equal(c->n_nics, 2);
	assert_int_equal(c->nics[0].model, VM_NIC_VMXNET3);
	assert_int_equal(c->nics[0].connection, VM_NIC_CONN_BRIDGE);
	assert_true(c->nics[0].mac_static);
	assert_string_equal(c->nics[0].mac, "00:50:56:01:02:03");
	assert_int_equal(c->nics[1].connection, VM_NIC_CONN_NONE);
	vm_config_free(c);
	free(path);
}

static void test_config_errors(void **state)
{
	(void)state;
	struct {
		const char *file;
		const char *expect;
	} cases[] = {
		{"bad-memsize.vmx", "memsize = \"lots\" is not a number"},
		{"bad-name.vmx", "contains '/'"},
		{"bad-path.vmx", "\"..\" component"},
		{"bad-quote.vmx", "unterminated quoted value"},
		{"bad-mac.vmx", "is not a unicast MAC address"},
		{"bad-vcpus.vmx", "numvcpus = \"999\" is out of range"},
		{"bad-slot.vmx", "no such scsi slot 0:7"},
		{"bad-syntax.vmx", "line 1: missing '='"},
		{"bad-lsilogic-unit.vmx", "controller scsi0 (lsilogic) is emulated with targets 0-6"},
		{"bad-vlance.vmx", "VMware's legacy NIC has no emulation here"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *path = xasprintf("%s/vmx-bad/%s", data_dir, cases[i].file), *msg = NULL;
		struct vm_config *c = load_config(path, &msg);
		if (c)
			fail_msg("%s was accepted", cases[i].file);
		if (!strstr(msg, cases[i].expect))
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].file, msg, cases[i].expect);
		free(msg);
		free(path);
	}
}

/* The resource allocation keys (vmconfig_sched.c): values, levels, and refusals. */
static struct vm_config *sched_config(const char *extra, char **msg)
{
	char *text = xasprintf("displayName = \"s\"\nmemsize = \"512\"\nnumvcpus = \"2\"\n"
			       "uuid.bios = \"56 4d 00 11 22 33 44 55-66 77 88 99 aa bb cc dd\"\n"
			       "scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\n"
			       "scsi0:0.fileName = \"s.qcow2\"\n%s",
			       extra);
	struct vmx *vmx = parse(text);
	free(text);
	struct vm_config *cfg = NULL;
	struct vr_error *err = NULL;
	if (vm_config_from_vmx(vmx, "s.vmx", &cfg, &err) < 0) {
		*msg = xstrdup(err->msg);
		vr_error_free(err);
	}
	vmx_free(vmx);
	return cfg;
}

static void test_sched_keys(void **state)
{
	(void)state;
	char *msg = NULL;
	struct vm_config *c = sched_config("", &msg);
	if (!c)
		fail_msg("%s", msg);
	assert_int_equal(c->sched.cpu_shares.level, VM_SHARES_NORMAL);
	assert_true(vm_sched_cpu_shares(c) == 2000);  /* normal: 1000 per vCPU */
	assert_true(vm_sched_mem_shares(c) == 5120);  /* normal: 10 per MiB */
	assert_true(c->sched.cpu_max_mhz == VM_UNLIMITED && c->sched.mem_max_mib == VM_UNLIMITED);
	assert_true(vm_sched_disk_shares(&c->disks[0]) == 1000 && c->disks[0].iops_limit == 0);
	vm_config_free(c);

	c = sched_config("sched.cpu.shares = \"high\"\nsched.cpu.min = \"500\"\n"
			 "sched.cpu.max = \"1500\"\nsched.mem.shares = \"low\"\n"
			 "sched.mem.min = \"256\"\nsched.mem.max = \"384\"\n"
			 "sched.scsi0:0.shares = \"1234\"\nsched.scsi0:0.throughputCap = \"250IOPS\"\n"
			 "sched.cpu.affinity = \"0,2-3\"\n",
			 &msg);
	if (!c)
		fail_msg("%s", msg);
	assert_true(vm_sched_cpu_shares(c) == 4000 && vm_sched_mem_shares(c) == 2560);
	assert_true(c->sched.cpu_min_mhz == 500 && c->sched.cpu_max_mhz == 1500);
	assert_true(c->sched.mem_min_mib == 256 && c->sched.mem_max_mib == 384);
	assert_true(vm_sched_disk_shares(&c->disks[0]) == 1234 && c->disks[0].iops_limit == 250);
	assert_true(c->sched.cpu_affinity == 0xd);
	char *f = vm_shares_format(&c->disks[0].shares);
	assert_string_equal(f, "1234");
	free(f);
	vm_config_free(c);

	struct {
		const char *keys;
		const char *expect;
	} bad[] = {
		{"sched.cpu.shares = \"lots\"\n", "not low, normal, high or a number"},
		{"sched.cpu.shares = \"0\"\n", "not low, normal, high or a number"},
		{"sched.mem.shares = \"1000001\"\n", "from 1 to 1000000"},
		{"sched.cpu.min = \"900\"\nsched.cpu.max = \"800\"\n", "above the CPU limit"},
		{"sched.cpu.max = \"0\"\n", "would never let the VM run"},
		{"sched.mem.min = \"1024\"\n", "above the VM's memory"},
		{"sched.mem.min = \"300\"\nsched.mem.max = \"200\"\n", "above the memory limit"},
		{"sched.mem.max = \"8\"\n", "below the smallest VM"},
		{"sched.scsi0:0.throughputCap = \"fast\"\n", "not a number of I/O operations"},
		{"sched.scsi0:0.throughputCap = \"IOPS\"\n", "not a number of I/O operations"},
		{"sched.cpu.affinity = \"64\"\n", "host CPUs 0..63"},
		{"sched.cpu.affinity = \"3-1\"\n", "host CPUs 0..63"},
		{"sched.cpu.max = \"-2\"\n", "not a limit in MHz"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		msg = NULL;
		c = sched_config(bad[i].keys, &msg);
		if (c)
			fail_msg("accepted: %s", bad[i].keys);
		if (!strstr(msg, bad[i].expect))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].keys, msg, bad[i].expect);
		free(msg);
	}
}

static void test_mac_and_paths(void **state)
{
	(void)state;
	char mac[18];
	assert_int_equal(vm_mac_parse("00-0C-29-AA-bb-01", mac), 0);
	assert_string_equal(mac, "00:0c:29:aa:bb:01");
	assert_true(vm_mac_parse("01:00:5e:00:00:01", mac) < 0);
	assert_true(vm_mac_parse("00:0c:29:aa:bb", mac) < 0);
	assert_true(vm_mac_parse("00:0c:29:aa:bb:0g", mac) < 0);
	vm_mac_generate(mac);
	assert_int_equal(vm_mac_parse(mac, mac), 0);
	assert_true(str_has_prefix(mac, "00:0c:29:"));
	assert_int_equal(vm_path_validate("p", "a/b.vmdk", false, NULL), 0);
	assert_true(vm_path_validate("p", "/abs.vmdk", false, NULL) < 0);
	assert_int_equal(vm_path_validate("p", "/abs.vmdk", true, NULL), 0);
	assert_true(vm_path_validate("p", "a/../b", true, NULL) < 0);
	assert_true(vm_path_validate("p", "a//b", true, NULL) < 0);
	assert_true(vm_path_validate("p", "", true, NULL) < 0);
	assert_int_equal(name_validate("VM", "web-01 prod", NULL), 0);
	assert_true(name_validate("VM", "a/b", NULL) < 0);
	assert_true(name_validate("VM", "a\nb", NULL) < 0);
	assert_true(name_validate("VM", "..", NULL) < 0);
	assert_true(name_validate("VM", "-x", NULL) < 0);
}

int main(int argc, char **argv)
{
	data_dir = argc > 1 ? argv[1] : "tests/data";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_escapes_roundtrip),
		cmocka_unit_test(test_escaped_line_breaks),
		cmocka_unit_test(test_save_refuses_unreadable),
		cmocka_unit_test(test_last_definition_wins),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_config_vmware),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_mac_and_paths),
		cmocka_unit_test(test_sched_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
