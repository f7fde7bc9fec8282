/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VMDK descriptors: every subformat qemu-img makes (created at test time),
 * hand-written ESX and Workstation descriptors in tests/data/vmdk/, damaged
 * sparse headers, and the refusals in tests/data/vmdk/bad/ (each file says
 * what its error must mention on a "# expect: " line).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmx.h"
#include "host/storage/vmdk_desc.h"

#define GiB (1ull << 30)

static const char *data_dir;

struct env {
	char dir[64];
};

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/vireo-test-vmdk-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	rm_rf(e->dir);
	free(e);
	return 0;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	int r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
	free(cmd);
}

static struct vmdk_desc *load_ok(const char *path, unsigned flags)
{
	struct vmdk_desc *d = NULL;
	struct vr_error *err = NULL;
	if (vmdk_desc_load(path, flags, &d, &err) < 0)
		fail_msg("%s", err->msg);
	return d;
}

static void expect_error(int rc, struct vr_error **errp, const char *frag)
{
	assert_true(rc < 0);
	assert_non_null(*errp);
	if (frag && !strstr((*errp)->msg, frag))
		fail_msg("error \"%s\" does not mention \"%s\"", (*errp)->msg, frag);
	if (getenv("VIREO_TEST_VERBOSE"))
		fprintf(stderr, "  error: %s\n", (*errp)->msg);
	vr_error_free(*errp);
	*errp = NULL;
}

static char *files_joined(const struct vmdk_desc *d, const char *name)
{
	_cleanup_strv_ char **files = vmdk_desc_files(d, name);
	return strv_join(files, ",");
}

/* ---- what qemu-img makes ---- */

static void test_qemu_subformats(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *subformat;
		enum vmdk_create_type type;
		size_t n_extents;
		enum vmdk_extent_type extent;
		bool embedded;
		const char *files;
	} cases[] = {
		{"monolithicSparse", VMDK_CREATE_MONOLITHIC_SPARSE, 1, VMDK_EXTENT_SPARSE, true,
		 "monolithicSparse.vmdk"},
		{"streamOptimized", VMDK_CREATE_STREAM_OPTIMIZED, 1, VMDK_EXTENT_SPARSE, true,
		 "streamOptimized.vmdk"},
		{"monolithicFlat", VMDK_CREATE_MONOLITHIC_FLAT, 1, VMDK_EXTENT_FLAT, false,
		 "monolithicFlat.vmdk,monolithicFlat-flat.vmdk"},
		{"twoGbMaxExtentSparse", VMDK_CREATE_TWO_GB_SPARSE, 3, VMDK_EXTENT_SPARSE, false,
		 "twoGbMaxExtentSparse.vmdk,twoGbMaxExtentSparse-s001.vmdk,"
		 "twoGbMaxExtentSparse-s002.vmdk,twoGbMaxExtentSparse-s003.vmdk"},
		{"twoGbMaxExtentFlat", VMDK_CREATE_TWO_GB_FLAT, 3, VMDK_EXTENT_FLAT, false,
		 "twoGbMaxExtentFlat.vmdk,twoGbMaxExtentFlat-f001.vmdk,"
		 "twoGbMaxExtentFlat-f002.vmdk,twoGbMaxExtentFlat-f003.vmdk"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		sh("cd %s && qemu-img create -q -f vmdk -o subformat=%s,adapter_type=lsilogic "
		   "%s.vmdk 5G",
		   e->dir, cases[i].subformat, cases[i].subformat);
		_cleanup_free_ char *path = xasprintf("%s/%s.vmdk", e->dir, cases[i].subformat);
		struct vmdk_desc *d = load_ok(path, 0);
		assert_int_equal(d->create_type, cases[i].type);
		assert_string_equal(d->create_type_name, cases[i].subformat);
		assert_string_equal(vmdk_create_type_name(d->create_type), cases[i].subformat);
		assert_int_equal(d->version, 1);
		assert_int_equal(d->parent_cid, 0xffffffffu);
		assert_null(d->parent_file_name_hint);
		assert_int_equal(d->capacity_sectors, 5 * GiB / 512);
		assert_int_equal(d->n_extents, cases[i].n_extents);
		assert_int_equal(d->extents[0].type, cases[i].extent);
		assert_int_equal(d->extents[0].access, VMDK_ACCESS_RW);
		assert_int_equal(d->embedded, cases[i].embedded);
		if (d->embedded) {
			assert_int_equal(d->sparse.capacity, 5 * GiB / 512);
			assert_int_equal(d->sparse.grain_size, 128);
		}
		assert_string_equal(d->adapter_type, "lsilogic");
		assert_int_equal(d->virtual_hw_version, 4);
		assert_int_equal(d->heads, 255); /* what qemu-img picks for SCSI */
		assert_int_equal(d->sectors_per_track, 63);
		assert_true(d->cylinders > 0);
		_cleanup_free_ char *base = xasprintf("%s.vmdk", cases[i].subformat);
		_cleanup_free_ char *files = files_joined(d, base);
		assert_string_equal(files, cases[i].files);
		struct vr_error *err = NULL;
		if (vmdk_desc_check_extents(d, e->dir, &err) < 0)
			fail_msg("%s: %s", cases[i].subformat, err->msg);
		vmdk_desc_free(d);
	}

	/* An extent of a split disk is not a disk of its own. */
	_cleanup_free_ char *extent = xasprintf("%s/twoGbMaxExtentSparse-s001.vmdk", e->dir);
	struct vmdk_desc *d = NULL;
	struct vr_error *err = NULL;
	expect_error(vmdk_desc_load(extent, 0, &d, &err), &err, "has no embedded descriptor");
	/* Neither is a flat extent. */
	_cleanup_free_ char *flat = xasprintf("%s/monolithicFlat-flat.vmdk", e->dir);
	expect_error(vmdk_desc_load(flat, 0, &d, &err), &err, "is not a VMDK descriptor");
	assert_null(d);
}

static void test_qemu_chain(void **state)
{
	struct env *e = *state;
	sh("cd %s && qemu-img create -q -f vmdk base.vmdk 1G && "
	   "qemu-img create -q -f vmdk -b base.vmdk -F vmdk child.vmdk && "
	   "qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b child.vmdk -F vmdk "
	   "grandchild.vmdk",
	   e->dir);
	_cleanup_free_ char *bp = xasprintf("%s/base.vmdk", e->dir);
	_cleanup_free_ char *cp = xasprintf("%s/child.vmdk", e->dir);
	_cleanup_free_ char *gp = xasprintf("%s/grandchild.vmdk", e->dir);
	struct vmdk_desc *base = load_ok(bp, 0), *child = load_ok(cp, 0), *grand = load_ok(gp, 0);
	assert_int_equal(child->parent_cid, base->cid);
	assert_string_equal(child->parent_file_name_hint, "base.vmdk");
	assert_int_equal(grand->parent_cid, child->cid);
	assert_string_equal(grand->parent_file_name_hint, "child.vmdk");
	_cleanup_free_ char *files = files_joined(grand, "grandchild.vmdk");
	assert_string_equal(files, "grandchild.vmdk,grandchild-s001.vmdk");
	vmdk_desc_free(base);
	vmdk_desc_free(child);
	vmdk_desc_free(grand);

	/* Tiny SCSI disks get 0 cylinders from qemu-img. */
	sh("cd %s && qemu-img create -q -f vmdk -o adapter_type=lsilogic tiny.vmdk 1M", e->dir);
	_cleanup_free_ char *tp = xasprintf("%s/tiny.vmdk", e->dir);
	struct vmdk_desc *tiny = load_ok(tp, 0);
	assert_int_equal(tiny->cylinders, 0);
	assert_int_equal(tiny->capacity_sectors, 2048);
	vmdk_desc_free(tiny);
}

/* Rewrites len bytes at off in path. */
static void patch(const char *path, off_t off, const void *bytes, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
	close(fd);
}

static void test_damaged_sparse(void **state)
{
	struct env *e = *state;
	static const struct {
		off_t off;
		const char *bytes;
		size_t len;
		const char *frag;
	} cases[] = {
		{4, "\x09\0\0\0", 4, "version 9 is not supported"},
		{20, "\x03\0\0\0\0\0\0\0", 8, "not a power of two"},
		{12, "\0\0\0\0\0\0\0\0", 8, "capacity of 0 sectors"},
		{12, "\0\0\0\0\0\0\0\x01", 8, "out of range"},
		{12, "\0\x08\0\0\0\0\0\0", 8, "the sparse header says 2048"},
		{28, "\0\0\0\x01\0\0\0\0", 8, "lies past the end of the file"},
		{36, "\0\0\0\0\0\0\0\0", 8, "disagree"},
		{36, "\xff\xff\0\0\0\0\0\0", 8, "larger than"},
		{56, "\0\0\0\0\0\x10\0\0", 8, "grain directory at sector"},
		{44, "\0\x10\0\0", 4, "entries per grain table"},
		{73, "\r\n \r", 4, "text-mode transfer"},
		{77, "\x07\0", 2, "compression algorithm 7"},
		{1 * 512 + 10, "\xff", 1, "not valid UTF-8"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		sh("cd %s && rm -f d.vmdk && qemu-img create -q -f vmdk d.vmdk 1G", e->dir);
		_cleanup_free_ char *path = xasprintf("%s/d.vmdk", e->dir);
		patch(path, cases[i].off, cases[i].bytes, cases[i].len);
		struct vmdk_desc *d = NULL;
		struct vr_error *err = NULL;
		int r = vmdk_desc_load(path, 0, &d, &err);
		if (r >= 0)
			fail_msg("case %zu (%s) loaded", i, cases[i].frag);
		if (!strstr(err->msg, path))
			fail_msg("case %zu: \"%s\" does not name the file", i, err->msg);
		expect_error(r, &err, cases[i].frag);
		assert_null(d);
	}

	/* Cut short after the magic. */
	sh("cd %s && rm -f d.vmdk && qemu-img create -q -f vmdk d.vmdk 1G && "
	   "truncate -s 300 d.vmdk",
	   e->dir);
	_cleanup_free_ char *path = xasprintf("%s/d.vmdk", e->dir);
	struct vmdk_desc *d = NULL;
	struct vr_error *err = NULL;
	expect_error(vmdk_desc_load(path, 0, &d, &err), &err, "too short (300 bytes)");
}

static void test_check_extents(void **state)
{
	struct env *e = *state;
	sh("cd %s && qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse s.vmdk 5G && "
	   "qemu-img create -q -f vmdk -o subformat=monolithicFlat f.vmdk 64M && "
	   "qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse other.vmdk 1G",
	   e->dir);
	_cleanup_free_ char *sp = xasprintf("%s/s.vmdk", e->dir);
	_cleanup_free_ char *fp = xasprintf("%s/f.vmdk", e->dir);
	struct vmdk_desc *s = load_ok(sp, 0), *f = load_ok(fp, 0);
	struct vr_error *err = NULL;
	assert_int_equal(vmdk_desc_check_extents(s, e->dir, &err), 0);
	assert_int_equal(vmdk_desc_check_extents(f, e->dir, &err), 0);

	sh("cd %s && truncate -s 1M f-flat.vmdk", e->dir);
	expect_error(vmdk_desc_check_extents(f, e->dir, &err), &err,
		     "f-flat.vmdk\" is 1048576 bytes but the descriptor needs 67108864");
	sh("cd %s && rm f-flat.vmdk && mkdir f-flat.vmdk", e->dir);
	expect_error(vmdk_desc_check_extents(f, e->dir, &err), &err, "is not a regular file");

	/* A sparse extent of another size in place of the second one. */
	sh("cd %s && mv other-s001.vmdk s-s002.vmdk", e->dir);
	expect_error(vmdk_desc_check_extents(s, e->dir, &err), &err,
		     "s-s002.vmdk\" holds 2097152 sectors but the descriptor says 4194304");
	sh("cd %s && rm s-s002.vmdk", e->dir);
	expect_error(vmdk_desc_check_extents(s, e->dir, &err), &err, "vmdk\" extent 2: cannot open");
	sh("cd %s && head -c 4096 /dev/zero | tr '\\0' x > s-s002.vmdk", e->dir);
	expect_error(vmdk_desc_check_extents(s, e->dir, &err), &err, "no VMDK sparse header");
	vmdk_desc_free(s);
	vmdk_desc_free(f);
}

/* ---- hand-written descriptors ---- */

static void test_esx_descriptors(void **state)
{
	(void)state;
	_cleanup_free_ char *thin_path = xasprintf("%s/vmdk/esx-thin.vmdk", data_dir);
	struct vmdk_desc *d = load_ok(thin_path, 0);
	assert_int_equal(d->create_type, VMDK_CREATE_VMFS);
	assert_int_equal(d->cid, 0xfffffffe);
	assert_string_equal(d->encoding, "UTF-8");
	assert_int_equal(d->n_extents, 1);
	assert_int_equal(d->extents[0].type, VMDK_EXTENT_VMFS);
	assert_int_equal(d->extents[0].offset, 0);
	assert_int_equal(d->capacity_sectors, 41943040);
	assert_string_equal(d->change_track_path, "app01-ctk.vmdk");
	assert_true(d->has_uuid);
	static const uint8_t uuid[16] = {0x60, 0x00, 0xc2, 0x9a, 0x5b, 0x2b, 0x3c, 0x7e,
					 0x2b, 0x54, 0x0e, 0x1e, 0x5c, 0x0d, 0x83, 0x9d};
	assert_memory_equal(d->uuid, uuid, 16);
	assert_string_equal(d->long_content_id, "8c5e9a0e3a5f1b2c7d4e6f8091a2b3c4");
	assert_int_equal(d->cylinders, 2610);
	assert_int_equal(d->heads, 255);
	assert_int_equal(d->virtual_hw_version, 14);
	assert_string_equal(vmx_get(d->keys, "ddb.thinProvisioned"), "1");
	assert_string_equal(vmx_get(d->keys, "isNativeSnapshot"), "no");
	_cleanup_free_ char *files = files_joined(d, "app01.vmdk");
	assert_string_equal(files, "app01.vmdk,app01-flat.vmdk,app01-ctk.vmdk");
	vmdk_desc_free(d);

	/* A delta whose parent is on a datastore path: only with the flag. */
	_cleanup_free_ char *delta_path = xasprintf("%s/vmdk/esx-delta.vmdk", data_dir);
	struct vr_error *err = NULL;
	d = NULL;
	expect_error(vmdk_desc_load(delta_path, 0, &d, &err), &err,
		     "parentFileNameHint \"/vmfs/volumes/");
	d = load_ok(delta_path, VMDK_DESC_ALLOW_ABSOLUTE);
	assert_int_equal(d->create_type, VMDK_CREATE_VMFS_SPARSE);
	assert_int_equal(d->parent_cid, 0xfffffffe);
	assert_true(str_has_prefix(d->parent_file_name_hint, "/vmfs/volumes/"));
	assert_int_equal(d->extents[0].type, VMDK_EXTENT_VMFSSPARSE);
	assert_false(d->has_uuid);
	vmdk_desc_free(d);

	_cleanup_free_ char *split_path = xasprintf("%s/vmdk/workstation-split.vmdk", data_dir);
	d = load_ok(split_path, 0);
	assert_int_equal(d->n_extents, 4);
	assert_int_equal(d->extents[1].access, VMDK_ACCESS_RDONLY);
	assert_int_equal(d->extents[2].access, VMDK_ACCESS_NOACCESS);
	assert_int_equal(d->extents[2].type, VMDK_EXTENT_ZERO);
	assert_null(d->extents[2].file_name);
	assert_int_equal(d->extents[3].offset, 4192256);
	assert_int_equal(d->capacity_sectors, 4192256 * 2 + 2048 + 1024);
	assert_string_equal(d->encoding, "windows-1252");
	assert_string_equal(d->adapter_type, "lsisas1068");
	_cleanup_free_ char *split_files = files_joined(d, "Windows 10 x64.vmdk");
	assert_string_equal(split_files, "Windows 10 x64.vmdk,Windows 10 x64-f001.vmdk,"
					 "Windows 10 x64-f002.vmdk");
	vmdk_desc_free(d);
}

static void test_limits(void **state)
{
	(void)state;
	/* One extent more than allowed. */
	char *text = xstrdup("version=1\nCID=1\ncreateType=\"monolithicFlat\"\n");
	for (int i = 0; i <= VMDK_MAX_EXTENTS; i++) {
		char *t = xasprintf("%sRW 1 ZERO\n", text);
		free(text);
		text = t;
	}
	struct vmdk_desc *d = NULL;
	struct vr_error *err = NULL;
	expect_error(vmdk_desc_parse(text, strlen(text), "many.vmdk", 0, &d, &err), &err,
		     "more than 4096 extents");
	free(text);

	/* CRLF line ends and a byte-order mark are fine. */
	const char *crlf = "\xef\xbb\xbfversion=1\r\nCID=00000001\r\ncreateType=\"monolithicFlat\"\r\n"
			   "RW 2048 FLAT \"a-flat.vmdk\" 0\r\n";
	assert_int_equal(vmdk_desc_parse(crlf, strlen(crlf), "crlf.vmdk", 0, &d, &err), 0);
	assert_int_equal(d->cid, 1);
	assert_string_equal(d->extents[0].file_name, "a-flat.vmdk");
	vmdk_desc_free(d);

	/* COWD extents and big files without a header are not descriptors. */
	static const char cowd[512] = "COWD";
	expect_error(vmdk_desc_parse_image(cowd, sizeof(cowd), "x-delta.vmdk", 0, &d, &err), &err,
		     "ESX sparse extent (COWD)");
	char *big = xcalloc(1, VMDK_MAX_DESC_SIZE + 1);
	expect_error(vmdk_desc_parse_image(big, VMDK_MAX_DESC_SIZE + 1, "x-flat.vmdk", 0, &d,
					   &err),
		     &err, "is not a VMDK descriptor");
	free(big);
	char *long_line = xcalloc(1, VMDK_MAX_LINE + 64);
	memset(long_line, 'a', VMDK_MAX_LINE + 10);
	expect_error(vmdk_desc_parse(long_line, strlen(long_line), "long.vmdk", 0, &d, &err),
		     &err, "longer than 8192 bytes");
	free(long_line);
}

static void test_bad_fixtures(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = xasprintf("%s/vmdk/bad", data_dir);
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n > 0);
	int checked = 0;
	for (int i = 0; i < n; i++) {
		if (str_has_suffix(names[i]->d_name, ".vmdk")) {
			_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]->d_name);
			_cleanup_free_ char *text = NULL;
			struct vr_error *err = NULL;
			assert_int_equal(file_read_all(path, 1 << 20, &text, NULL, &err), 0);
			if (!str_has_prefix(text, "# expect: "))
				fail_msg("%s has no \"# expect: \" first line", path);
			char *frag = text + strlen("# expect: ");
			*strchr(frag, '\n') = '\0';
			struct vmdk_desc *d = NULL;
			int r = vmdk_desc_load(path, 0, &d, &err);
			if (r >= 0)
				fail_msg("%s loaded", path);
			assert_null(d);
			if (!strstr(err->msg, frag) || !strstr(err->msg, path))
				fail_msg("%s: error \"%s\" does not name the file and \"%s\"", path,
					 err->msg, frag);
			expect_error(r, &err, NULL);
			checked++;
		}
		free(names[i]);
	}
	free(names);
	assert_true(checked >= 40);
}

/* QEMU rewrites a descriptor file when it writes the disk, padded with NULs to 512 bytes. */
static void test_qemu_written_descriptor(void **state)
{
	struct env *e = *state;
	sh("cd %s && qemu-img create -q -f vmdk -o subformat=monolithicFlat w.vmdk 16M && "
	   "qemu-io -f vmdk -c 'write -P 0x33 0 64k' w.vmdk >/dev/null",
	   e->dir);
	_cleanup_free_ char *path = xasprintf("%s/w.vmdk", e->dir);
	struct vmdk_desc *d = load_ok(path, 0);
	assert_int_equal(d->create_type, VMDK_CREATE_MONOLITHIC_FLAT);
	assert_int_equal(d->capacity_sectors, 16 * 2048);
	vmdk_desc_free(d);
	d = NULL;

	/* Text after the padding is not padding. */
	const char text[] = "version=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"
			    "RW 2048 FLAT \"x-flat.vmdk\" 0\n\0\0RW 2048 FLAT \"y.vmdk\" 0\n";
	struct vr_error *err = NULL;
	expect_error(vmdk_desc_parse_image(text, sizeof(text) - 1, "t.vmdk", 0, &d, &err), &err,
		     "NUL byte at offset");
	assert_null(d);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s TEST_DATA_DIR\n", argv[0]);
		return 2;
	}
	data_dir = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_subformats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_extents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_written_descriptor, setup, teardown),
		cmocka_unit_test(test_esx_descriptors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad_fixtures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
