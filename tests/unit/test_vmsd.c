/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The .vmsd snapshot tree: VMware-written files, the tree operations, the
 * atomic save, and every inconsistency in tests/data/vmsd/bad/ (each file
 * says what its error must mention on a "# expect: " line).
 * VIREO_TEST_REGENERATE_OUTPUT=1 rewrites tests/data/vmsd/built.vmsd.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmx.h"
#include "host/storage/vmsd.h"

static const char *data_dir;

static struct vmsd *load_ok(const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/vmsd/%s", data_dir, name);
	struct vmsd *v = NULL;
	struct vr_error *err = NULL;
	if (vmsd_load(path, &v, &err) < 0)
		fail_msg("%s", err->msg);
	return v;
}

static struct vmsd *parse_ok(const char *text)
{
	struct vmsd *v = NULL;
	struct vr_error *err = NULL;
	if (vmsd_parse(text, strlen(text), "test.vmsd", &v, &err) < 0)
		fail_msg("%s", err->msg);
	return v;
}

static void expect_error(int rc, struct vr_error **errp, int code, const char *frag)
{
	assert_true(rc < 0);
	assert_non_null(*errp);
	if (code && (*errp)->code != code)
		fail_msg("error code %d, expected %d: %s", (*errp)->code, code, (*errp)->msg);
	if (frag && !strstr((*errp)->msg, frag))
		fail_msg("error \"%s\" does not mention \"%s\"", (*errp)->msg, frag);
	vr_error_free(*errp);
	*errp = NULL;
}

/* uids of parent's children (roots for NULL), as "1,2,3". */
static char *children(const struct vmsd *v, const struct vmsd_snapshot *parent)
{
	_cleanup_strv_ char **uids = NULL;
	for (struct vmsd_snapshot *c = vmsd_first_child(v, parent); c; c = c->next_sibling) {
		assert_ptr_equal(c->parent, parent);
		strv_pushf(&uids, "%u", c->uid);
	}
	return uids ? strv_join(uids, ",") : xstrdup("");
}

static void assert_children(const struct vmsd *v, uint32_t parent_uid, const char *expect)
{
	const struct vmsd_snapshot *p = parent_uid ? vmsd_find_uid(v, parent_uid) : NULL;
	if (parent_uid)
		assert_non_null(p);
	_cleanup_free_ char *got = children(v, p);
	if (strcmp(got, expect) != 0)
		fail_msg("children of %u: \"%s\", expected \"%s\"", parent_uid, got, expect);
}

static void test_vmware_tree(void **state)
{
	(void)state;
	struct vmsd *v = load_ok("vmware-tree.vmsd");
	assert_int_equal(vmsd_count(v), 4);
	assert_int_equal(vmsd_last_uid(v), 5);
	assert_int_equal(vmsd_current(v)->uid, 4);
	size_t n_mru;
	const uint32_t *mru = vmsd_mru(v, &n_mru);
	assert_int_equal(n_mru, 3);
	assert_int_equal(mru[0], 4);
	assert_int_equal(mru[2], 1);

	const struct vmsd_snapshot *s = vmsd_find_uid(v, 1);
	assert_non_null(s);
	assert_ptr_equal(s, vmsd_at(v, 0));
	assert_string_equal(s->display_name, "Before upgrade");
	assert_string_equal(s->description, "Clean install, patched to \"March\"");
	assert_string_equal(s->filename, "web01-Snapshot1.vmsn");
	assert_int_equal(s->create_time_us, 1735938154070564ll);
	assert_int_equal(s->type, VMSD_SNAPSHOT_WITH_MEMORY);
	assert_int_equal(s->n_disks, 2);
	assert_string_equal(s->disks[1].file_name, "web01_1.vmdk");
	assert_string_equal(s->disks[1].node, "scsi0:1");
	assert_string_equal(vmx_get(s->extra, "disk1.mode"), "persistent");
	assert_null(s->parent);

	s = vmsd_find_uid(v, 2);
	assert_int_equal(s->create_time_us, 1735939881709625ll);
	assert_int_equal(s->type, VMSD_SNAPSHOT_DISKS_ONLY);
	assert_null(s->description);
	assert_string_equal(vmx_get(vmsd_find_uid(v, 4)->extra, "vendorThing"), "kept");
	assert_int_equal(vmsd_find_uid(v, 5)->n_disks, 0);
	assert_null(vmsd_find_uid(v, 3));

	assert_children(v, 0, "1");
	assert_children(v, 1, "2,4");
	assert_children(v, 2, "5");
	assert_children(v, 4, "");

	struct vmsd_snapshot *found = NULL;
	struct vr_error *err = NULL;
	assert_int_equal(vmsd_find_name(v, "Before upgrade", &found, &err), 0);
	assert_int_equal(found->uid, 1);
	expect_error(vmsd_find_name(v, "Upgraded", &found, &err), &err, ENOTUNIQ, "uids 2, 5");
	expect_error(vmsd_find_name(v, "nope", &found, &err), &err, ENOENT, "\"nope\"");
	vmsd_free(v);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct vmsd *v = load_ok("vmware-tree.vmsd");
	char tmpl[] = "/tmp/vireo-test-vmsd-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	_cleanup_free_ char *path = xasprintf("%s/web01.vmsd", tmpl);
	struct vr_error *err = NULL;
	if (vmsd_save(v, path, &err) < 0)
		fail_msg("%s", err->msg);
	struct vmsd *again = NULL;
	if (vmsd_load(path, &again, &err) < 0)
		fail_msg("%s", err->msg);
	_cleanup_free_ char *a = vmsd_format(v), *b = vmsd_format(again);
	assert_string_equal(a, b);
	/* What Vireo does not know is written back. */
	assert_non_null(strstr(a, "snapshot.needConsolidate = \"FALSE\"\n"));
	assert_non_null(strstr(a, "snapshot2.vendorThing = \"kept\"\n"));
	assert_non_null(strstr(a, "snapshot0.disk1.mode = \"persistent\"\n"));
	assert_non_null(strstr(a, "snapshot0.createTimeLow = \"-1727626716\"\n"));
	assert_non_null(strstr(a, "vireo.vmsdVersion = \"1\"\n"));
	assert_int_equal(vmsd_current(again)->uid, 4);
	assert_children(again, 1, "2,4");
	vmsd_free(again);
	vmsd_free(v);
	rm_rf(tmpl);
}

static void add(struct vmsd *v, const char *name, uint32_t expect_uid)
{
	static const struct vmsd_disk disks[] = {{"vm.vmdk", "scsi0:0"}, {"data.vmdk", "sata0:1"}};
	struct vmsd_snapshot_spec spec = {.display_name = name, .disks = disks, .n_disks = 2,
					  .create_time_us = 1700000000000000ll};
	struct vmsd_snapshot *s = NULL;
	struct vr_error *err = NULL;
	if (vmsd_snapshot_add(v, &spec, &s, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(s->uid, expect_uid);
	assert_ptr_equal(vmsd_current(v), s);
	assert_ptr_equal(s->parent ? vmsd_find_uid(v, s->parent->uid) : NULL, s->parent);
}

static void test_tree_operations(void **state)
{
	(void)state;
	struct vmsd *v = vmsd_new();
	struct vr_error *err = NULL;
	assert_null(vmsd_current(v));
	add(v, "A", 1);
	add(v, "B", 2);
	assert_int_equal(vmsd_set_current(v, 1, &err), 0);
	add(v, "C", 3);
	add(v, "D", 4);
	assert_children(v, 0, "1");
	assert_children(v, 1, "2,3");
	assert_children(v, 3, "4");
	size_t n_mru;
	const uint32_t *mru = vmsd_mru(v, &n_mru);
	assert_int_equal(n_mru, 4);
	assert_int_equal(mru[0], 4);
	assert_int_equal(mru[1], 3);
	assert_int_equal(mru[2], 1); /* made current again before C */

	/* C goes; its child D takes its place under A. */
	assert_int_equal(vmsd_snapshot_remove(v, 3, &err), 0);
	assert_children(v, 1, "2,4");
	assert_int_equal(vmsd_current(v)->uid, 4);
	assert_null(vmsd_find_uid(v, 3));
	mru = vmsd_mru(v, &n_mru);
	assert_int_equal(n_mru, 3);

	/* Removing the current snapshot makes its parent current. */
	assert_int_equal(vmsd_snapshot_remove(v, 4, &err), 0);
	assert_int_equal(vmsd_current(v)->uid, 1);

	/* Removing a root makes its children roots; uids are never reused. */
	add(v, "E", 5);
	assert_int_equal(vmsd_snapshot_remove(v, 1, &err), 0);
	assert_children(v, 0, "2,5");
	assert_int_equal(vmsd_current(v)->uid, 5);
	assert_null(vmsd_current(v)->parent);
	assert_int_equal(vmsd_set_current(v, 0, &err), 0);
	assert_null(vmsd_current(v));
	add(v, "F", 6);
	assert_children(v, 0, "2,5,6");

	expect_error(vmsd_snapshot_remove(v, 1, &err), &err, ENOENT, "uid 1");
	expect_error(vmsd_set_current(v, 42, &err), &err, ENOENT, "uid 42");

	/* The result loads again, tree and all. */
	_cleanup_free_ char *text = vmsd_format(v);
	struct vmsd *again = parse_ok(text);
	assert_children(again, 0, "2,5,6");
	assert_int_equal(vmsd_current(again)->uid, 6);
	assert_int_equal(vmsd_last_uid(again), 6);
	assert_int_equal(vmsd_find_uid(again, 5)->n_disks, 2);
	vmsd_free(again);
	vmsd_free(v);
}

static void test_add_refusals(void **state)
{
	(void)state;
	struct vmsd *v = vmsd_new();
	struct vr_error *err = NULL;
	struct vmsd_disk bad_path[] = {{"../other/vm.vmdk", "scsi0:0"}};
	struct vmsd_disk abs_path[] = {{"/vmfs/volumes/ds2/vm.vmdk", "scsi0:0"}};
	struct vmsd_disk bad_node[] = {{"vm.vmdk", "scsi0:x"}};
	struct vmsd_disk same_node[] = {{"a.vmdk", "scsi0:0"}, {"b.vmdk", "scsi0:0"}};
	struct {
		struct vmsd_snapshot_spec spec;
		const char *frag;
	} cases[] = {
		{{.display_name = ""}, "1..255"},
		{{.display_name = "tab\there"}, "control"},
		{{.display_name = "x", .filename = "../x.vmsn"}, ".."},
		{{.display_name = "x", .disks = bad_path, .n_disks = 1}, "could leave the VM folder"},
		{{.display_name = "x", .disks = abs_path, .n_disks = 1}, "absolute"},
		{{.display_name = "x", .disks = bad_node, .n_disks = 1}, "disk slot"},
		{{.display_name = "x", .disks = same_node, .n_disks = 2}, "scsi0:0"},
		{{.display_name = "x", .type = 5}, "type 5"},
		{{.display_name = "x", .create_time_us = -1}, "1970"},
		{{.display_name = "x", .n_disks = VMSD_MAX_DISKS + 1}, "at most 256"},
		{{.display_name = NULL}, "needs a name"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = vmsd_snapshot_add(v, &cases[i].spec, NULL, &err);
		expect_error(r, &err, 0, cases[i].frag);
		assert_int_equal(vmsd_count(v), 0);
		assert_int_equal(vmsd_last_uid(v), 0);
	}
	char *long_name = xmalloc(VMSD_MAX_NAME + 2);
	memset(long_name, 'n', VMSD_MAX_NAME + 1);
	long_name[VMSD_MAX_NAME + 1] = '\0';
	struct vmsd_snapshot_spec spec = {.display_name = long_name};
	expect_error(vmsd_snapshot_add(v, &spec, NULL, &err), &err, EINVAL, "256 bytes");
	long_name[VMSD_MAX_NAME] = '\0';
	assert_int_equal(vmsd_snapshot_add(v, &spec, NULL, &err), 0);
	free(long_name);

	/* The VMware limit on the number of snapshots. */
	spec.display_name = "many";
	for (size_t i = 1; i < VMSD_MAX_SNAPSHOTS; i++)
		assert_int_equal(vmsd_snapshot_add(v, &spec, NULL, &err), 0);
	expect_error(vmsd_snapshot_add(v, &spec, NULL, &err), &err, E2BIG, "496");
	vmsd_free(v);

	/* No uid left. */
	v = parse_ok("snapshot.lastUID = \"2147483647\"\n");
	expect_error(vmsd_snapshot_add(v, &spec, NULL, &err), &err, EOVERFLOW, "no snapshot uid");
	vmsd_free(v);
}

static void test_empty_and_missing(void **state)
{
	(void)state;
	struct vmsd *v = load_ok("empty.vmsd");
	assert_int_equal(vmsd_count(v), 0);
	assert_int_equal(vmsd_last_uid(v), 7);
	assert_null(vmsd_first_child(v, NULL));
	add(v, "first", 8);
	vmsd_free(v);

	struct vr_error *err = NULL;
	v = NULL;
	expect_error(vmsd_load("/nonexistent/vm.vmsd", &v, &err), &err, ENOENT, "/nonexistent/vm.vmsd");
	assert_null(v);
}

static void test_time_halves(void **state)
{
	(void)state;
	struct vmsd *v = vmsd_new();
	struct vr_error *err = NULL;
	const int64_t times[] = {0x0000000180000000ll, 0x000062ab7fffffffll, 1ll << 52, 1};
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		struct vmsd_snapshot_spec spec = {.display_name = "t", .create_time_us = times[i]};
		assert_int_equal(vmsd_snapshot_add(v, &spec, NULL, &err), 0);
	}
	_cleanup_free_ char *text = vmsd_format(v);
	assert_non_null(strstr(text, "snapshot0.createTimeHigh = \"1\"\nsnapshot0.createTimeLow = \"-2147483648\"\n"));
	struct vmsd *again = parse_ok(text);
	for (size_t i = 0; i < ARRAY_SIZE(times); i++)
		assert_int_equal(vmsd_at(again, i)->create_time_us, times[i]);
	vmsd_free(again);
	vmsd_free(v);
}

static void test_save_refuses_unloadable(void **state)
{
	(void)state;
	/* 300 snapshots of 256 disks: far more than the 1 MiB a .vmsd may hold. */
	struct vmsd *v = vmsd_new();
	struct vmsd_disk *disks = xcalloc(VMSD_MAX_DISKS, sizeof(*disks));
	for (size_t k = 0; k < VMSD_MAX_DISKS; k++) {
		disks[k].file_name = xasprintf("a-rather-long-disk-file-name-%03zu-000001.vmdk", k);
		disks[k].node = xasprintf("scsi%zu:%zu", k / 16, k % 16);
	}
	struct vr_error *err = NULL;
	struct vmsd_snapshot_spec spec = {.display_name = "big", .disks = disks,
					  .n_disks = VMSD_MAX_DISKS};
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(vmsd_snapshot_add(v, &spec, NULL, &err), 0);
	char tmpl[] = "/tmp/vireo-test-vmsd-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	_cleanup_free_ char *path = xasprintf("%s/big.vmsd", tmpl);
	expect_error(vmsd_save(v, path, &err), &err, EFBIG, "refusing to write");
	assert_int_equal(access(path, F_OK), -1);
	rm_rf(tmpl);
	for (size_t k = 0; k < VMSD_MAX_DISKS; k++) {
		free(disks[k].file_name);
		free(disks[k].node);
	}
	free(disks);
	vmsd_free(v);
}

/* A tree built by the API, against a golden file. */
static void test_golden(void **state)
{
	(void)state;
	struct vmsd *v = vmsd_new();
	struct vr_error *err = NULL;
	struct vmsd_disk disks[] = {{"db01.vmdk", "scsi0:0"}, {"db01_1.vmdk", "scsi0:1"}};
	struct vmsd_snapshot_spec spec = {.display_name = "Base \"golden\" | 100%",
					  .description = "Line one\tand a tab",
					  .filename = "db01-Snapshot1.vmsn",
					  .create_time_us = 1763769600123456ll,
					  .type = VMSD_SNAPSHOT_WITH_MEMORY,
					  .disks = disks,
					  .n_disks = 2};
	assert_int_equal(vmsd_snapshot_add(v, &spec, NULL, &err), 0);
	disks[0].file_name = "db01-000001.vmdk";
	disks[1].file_name = "db01_1-000001.vmdk";
	spec.display_name = "Nach dem Update — äöü";
	spec.description = NULL;
	spec.filename = "db01-Snapshot2.vmsn";
	spec.type = VMSD_SNAPSHOT_DISKS_ONLY;
	spec.create_time_us += 3600000000ll;
	assert_int_equal(vmsd_snapshot_add(v, &spec, NULL, &err), 0);
	_cleanup_free_ char *text = vmsd_format(v);
	_cleanup_free_ char *golden = xasprintf("%s/vmsd/built.vmsd", data_dir);
	if (getenv("VIREO_TEST_REGENERATE_OUTPUT")) {
		assert_int_equal(file_write_atomic(golden, text, strlen(text), 0644, &err), 0);
	} else {
		char *expect = NULL;
		if (file_read_all(golden, 1 << 20, &expect, NULL, &err) < 0)
			fail_msg("%s (run with VIREO_TEST_REGENERATE_OUTPUT=1 to create it)", err->msg);
		if (strcmp(expect, text) != 0)
			fail_msg("%s differs from:\n%s", golden, text);
		free(expect);
	}
	vmsd_free(v);
}

static void test_bad_fixtures(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = xasprintf("%s/vmsd/bad", data_dir);
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n > 0);
	int checked = 0;
	for (int i = 0; i < n; i++) {
		if (str_has_suffix(names[i]->d_name, ".vmsd")) {
			_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]->d_name);
			_cleanup_free_ char *text = NULL;
			struct vr_error *err = NULL;
			assert_int_equal(file_read_all(path, 1 << 20, &text, NULL, &err), 0);
			if (!str_has_prefix(text, "# expect: "))
				fail_msg("%s has no \"# expect: \" first line", path);
			char *frag = text + strlen("# expect: ");
			*strchr(frag, '\n') = '\0';
			struct vmsd *v = NULL;
			int r = vmsd_load(path, &v, &err);
			if (r >= 0)
				fail_msg("%s loaded", path);
			assert_null(v);
			if (!strstr(err->msg, frag) || !strstr(err->msg, path))
				fail_msg("%s: error \"%s\" does not name the file and \"%s\"", path,
					 err->msg, frag);
			if (getenv("VIREO_TEST_VERBOSE"))
				fprintf(stderr, "  error: %s\n", err->msg);
			vr_error_free(err);
			checked++;
		}
		free(names[i]);
	}
	free(names);
	assert_true(checked >= 25);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s TEST_DATA_DIR\n", argv[0]);
		return 2;
	}
	data_dir = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmware_tree),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_tree_operations),
		cmocka_unit_test(test_add_refusals),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_time_halves),
		cmocka_unit_test(test_save_refuses_unloadable),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_bad_fixtures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
