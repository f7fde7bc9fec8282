/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qemu-img wrappers: the JSON checks on their own, then chains, disk
 * creation and resizing against the real qemu-img on temporary files.
 * qemu-img is a required dependency (scripts/install-deps.sh): without it
 * the tests fail, they do not skip.
 */
#include <errno.h>
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
#include "qemu/img.h"
#include "qemu/img_priv.h"

#define QEMU_IMG "qemu-img"
#define MiB (1ull << 20)

struct env {
	char dir[64];
};

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/vireo-test-img-XXXXXX");
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

static char *path_in(struct env *e, const char *name)
{
	return xasprintf("%s/%s", e->dir, name);
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

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	struct vr_error *err = NULL;
	if (file_read_all(path, 64 * MiB, &data, len, &err) < 0)
		fail_msg("%s", err->msg);
	return data;
}

static void assert_unchanged(const char *path, const char *before, size_t before_len)
{
	size_t len;
	char *now = slurp(path, &len);
	assert_int_equal(len, before_len);
	assert_memory_equal(now, before, len);
	free(now);
}

/* Expects rc < 0 with a message containing every fragment. */
static void expect_error(int rc, struct vr_error **errp, int code, ...)
{
	struct vr_error *err = *errp;
	assert_true(rc < 0);
	assert_non_null(err);
	if (code && err->code != code)
		fail_msg("error code %d, expected %d: %s", err->code, code, err->msg);
	va_list ap;
	va_start(ap, code);
	for (const char *frag; (frag = va_arg(ap, const char *));)
		if (!strstr(err->msg, frag))
			fail_msg("error \"%s\" does not mention \"%s\"", err->msg, frag);
	va_end(ap);
	if (getenv("VIREO_TEST_VERBOSE"))
		fprintf(stderr, "  error: %s\n", err->msg);
	vr_error_free(err);
	*errp = NULL;
}

/* ---- JSON checks ---- */

static int parse(const char *json, struct qemu_img_chain **c, struct vr_error **err)
{
	return qemu_img_parse_chain(json, strlen(json), "top.qcow2", c, err);
}

#define IMG(name, fmt, extra) \
	"{\"filename\":\"" name "\",\"format\":\"" fmt "\",\"virtual-size\":1073741824" extra "}"
#define BACKED(name, fmt, back, backfmt)                                                  \
	IMG(name, fmt, ",\"backing-filename\":\"" back "\",\"full-backing-filename\":\"" back \
		       "\",\"backing-filename-format\":\"" backfmt "\"")

static void test_parse_good_chain(void **state)
{
	(void)state;
	const char *json =
		"[" IMG("top.qcow2", "qcow2",
			",\"actual-size\":208896,\"dirty-flag\":false,\"backing-filename\":\"mid.qcow2\","
			"\"full-backing-filename\":\"mid.qcow2\",\"backing-filename-format\":\"qcow2\","
			"\"format-specific\":{\"type\":\"qcow2\",\"data\":{\"corrupt\":false,"
			"\"bitmaps\":[{\"flags\":[\"auto\"],\"name\":\"bm0\",\"granularity\":65536},"
			"{\"flags\":[\"in-use\"],\"name\":\"old\",\"granularity\":1048576}]}},"
			"\"some-future-field\":[1,2]") ","
		BACKED("mid.qcow2", "qcow2", "base.raw", "raw") "," IMG("base.raw", "raw", "") "]";
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	if (parse(json, &c, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(c->n, 3);
	assert_string_equal(c->images[0].filename, "top.qcow2");
	assert_int_equal(c->images[0].actual_size, 208896);
	assert_int_equal(c->images[0].n_bitmaps, 2);
	assert_string_equal(c->images[0].bitmaps[0].name, "bm0");
	assert_true(c->images[0].bitmaps[0].auto_enabled);
	assert_false(c->images[0].bitmaps[0].in_use);
	assert_int_equal(c->images[0].bitmaps[1].granularity, MiB);
	assert_true(c->images[0].bitmaps[1].in_use);
	assert_string_equal(c->images[1].backing_format, "raw");
	assert_string_equal(c->images[2].format, "raw");
	assert_int_equal(c->images[2].actual_size, -1);
	assert_null(c->images[2].backing_filename);
	assert_int_equal(c->images[2].virtual_size, 1ull << 30);
	qemu_img_chain_free(c);

	/* A single object (info without --backing-chain) is a chain of one. */
	assert_int_equal(parse(IMG("top.qcow2", "qcow2", ""), &c, &err), 0);
	assert_int_equal(c->n, 1);
	qemu_img_chain_free(c);
}

static void test_parse_bad_chains(void **state)
{
	(void)state;
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	int r;

	r = parse("[" BACKED("top.qcow2", "qcow2", "a.qcow2", "qcow2") ","
		  BACKED("a.qcow2", "qcow2", "top.qcow2", "qcow2") ","
		  IMG("top.qcow2", "qcow2", "") "]", &c, &err);
	expect_error(r, &err, ELOOP, "loops", "\"top.qcow2\" is both level 0 and level 2", NULL);

	r = parse("[" BACKED("top.qcow2", "qcow2", "/ds/base.qcow2", "qcow2") "]", &c, &err);
	expect_error(r, &err, ENOENT, "/ds/base.qcow2", "missing", NULL);

	r = parse("[" BACKED("top.qcow2", "qcow2", "base.img", "raw") ","
		  IMG("base.img", "qcow2", "") "]", &c, &err);
	expect_error(r, &err, EINVAL, "format mismatch", "base.img", "raw", "qcow2", NULL);

	r = parse("[" IMG("top.qcow2", "qcow2", ",\"backing-filename\":\"base.qcow2\"") ","
		  IMG("base.qcow2", "qcow2", "") "]", &c, &err);
	expect_error(r, &err, EINVAL, "no recorded format", "base.qcow2", NULL);

	r = parse("[{\"filename\":\"top.qcow2\",\"format\":\"qcow2\",\"virtual-size\":"
		  "70368744177665}]", &c, &err);
	expect_error(r, &err, EFBIG, "top.qcow2", "virtual-size", "absurd", NULL);

	r = parse("[" BACKED("top.qcow2", "qcow2", "nbd://evil/x", "raw") ","
		  IMG("nbd://evil/x", "raw", "") "]", &c, &err);
	expect_error(r, &err, EPERM, "nbd://evil/x", "not a plain file", NULL);

	r = parse("[" IMG("json:{\\\"driver\\\":\\\"file\\\"}", "raw", "") "]", &c, &err);
	expect_error(r, &err, EPERM, "not a plain file", NULL);

	r = parse("[" IMG("top.qcow2", "vpc", "") "]", &c, &err);
	expect_error(r, &err, ENOTSUP, "vpc", NULL);

	r = parse("[" IMG("top.qcow2", "qcow2",
			  ",\"format-specific\":{\"data\":{\"corrupt\":true}}") "]", &c, &err);
	expect_error(r, &err, EUCLEAN, "top.qcow2", "corrupt", NULL);

	r = parse("[" BACKED("top.qcow2", "qcow2", "a.qcow2", "qcow2") ","
		  IMG("b.qcow2", "qcow2", "") "]", &c, &err);
	expect_error(r, &err, EPROTO, "a.qcow2", "b.qcow2", NULL);

	r = parse("[" IMG("top.qcow2", "qcow2", "") "," IMG("extra.qcow2", "qcow2", "") "]", &c,
		  &err);
	expect_error(r, &err, EPROTO, "no backing file but more images follow", NULL);

	const char *type_errors[] = {
		"[]",
		"{}",
		"[1]",
		"[{\"filename\":\"x\",\"format\":\"raw\",\"virtual-size\":-1}]",
		"[{\"filename\":\"x\",\"format\":\"raw\",\"virtual-size\":\"1\"}]",
		"[{\"filename\":\"\",\"format\":\"raw\",\"virtual-size\":1}]",
		"[{\"filename\":\"a\\u0000b\",\"format\":\"raw\",\"virtual-size\":1}]",
		"[{\"filename\":\"x\",\"format\":\"raw\",\"virtual-size\":1,\"dirty-flag\":1}]",
		("[{\"filename\":\"x\",\"format\":\"qcow2\",\"virtual-size\":1,\"format-specific\":"
		 "{\"data\":{\"bitmaps\":[{\"name\":\"b\",\"granularity\":1000}]}}}]"),
		"[{\"filename\":\"x\",\"format\":\"raw\",\"virtual-size\":1,\"virtual-size\":2}]",
		"[{\"filename\":\"x\",\"format\":\"raw\"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(type_errors); i++) {
		r = parse(type_errors[i], &c, &err);
		if (r >= 0)
			fail_msg("accepted: %s", type_errors[i]);
		assert_true(strstr(err->msg, "top.qcow2") != NULL);
		vr_error_free(err);
		err = NULL;
	}
}

static void test_parse_too_deep(void **state)
{
	(void)state;
	/* 256 levels: one more than allowed. */
	char *json = xstrdup("[");
	for (int i = 0; i < 256; i++) {
		char *next = i < 255 ? xasprintf(",\"backing-filename\":\"l%d\","
						 "\"backing-filename-format\":\"qcow2\"", i + 1)
				     : xstrdup("");
		char *tmp = xasprintf("%s%s{\"filename\":\"l%d\",\"format\":\"qcow2\","
				      "\"virtual-size\":1%s}", json, i ? "," : "", i, next);
		free(json);
		free(next);
		json = tmp;
	}
	char *tmp = xasprintf("%s]", json);
	free(json);
	json = tmp;
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	expect_error(parse(json, &c, &err), &err, E2BIG, "256 levels", "255", NULL);
	free(json);
}

static void test_parse_measure_and_probe(void **state)
{
	(void)state;
	uint64_t req, full;
	struct vr_error *err = NULL;
	const char *ok = "{\"required\": 393216, \"fully-allocated\": 1074135040}";
	assert_int_equal(qemu_img_parse_measure(ok, strlen(ok), &req, &full, &err), 0);
	assert_int_equal(req, 393216);
	assert_int_equal(full, 1074135040);
	const char *bad = "{\"required\": -1, \"fully-allocated\": 1}";
	expect_error(qemu_img_parse_measure(bad, strlen(bad), &req, &full, &err), &err, EPROTO,
		     "required", NULL);

	uint8_t buf[512] = {0};
	assert_string_equal(qemu_img_probe_format(buf, sizeof(buf)), "raw");
	memcpy(buf, "QFI\xfb", 4);
	assert_string_equal(qemu_img_probe_format(buf, sizeof(buf)), "qcow2");
	memcpy(buf, "KDMV", 4);
	assert_string_equal(qemu_img_probe_format(buf, sizeof(buf)), "vmdk");
	assert_string_equal(qemu_img_probe_format(buf, 3), "raw");
}

/* ---- chains with the real qemu-img ---- */

static void test_chain_real(void **state)
{
	struct env *e = *state;
	sh("cd %s && qemu-img create -q -f raw base.raw 64M && "
	   "qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
	   "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 128M && "
	   "qemu-img bitmap --add top.qcow2 cbt0",
	   e->dir);
	char *top = path_in(e, "top.qcow2");
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	if (qemu_img_chain_get(QEMU_IMG, top, "qcow2", &c, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(c->n, 3);
	assert_string_equal(c->images[0].filename, top);
	assert_int_equal(c->images[0].virtual_size, 128 * MiB);
	assert_int_equal(c->images[0].n_bitmaps, 1);
	assert_string_equal(c->images[0].bitmaps[0].name, "cbt0");
	assert_true(c->images[0].bitmaps[0].auto_enabled);
	assert_string_equal(c->images[1].format, "qcow2");
	assert_string_equal(c->images[2].format, "raw");
	assert_true(str_has_suffix(c->images[2].filename, "/base.raw"));
	assert_true(c->images[2].actual_size >= 0);
	qemu_img_chain_free(c);

	/* A VMDK chain made by qemu-img. */
	sh("cd %s && qemu-img create -q -f vmdk b.vmdk 32M && "
	   "qemu-img create -q -f vmdk -b b.vmdk -F vmdk c.vmdk",
	   e->dir);
	char *cv = path_in(e, "c.vmdk");
	if (qemu_img_chain_get(QEMU_IMG, cv, "vmdk", &c, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(c->n, 2);
	assert_string_equal(c->images[1].format, "vmdk");
	qemu_img_chain_free(c);

	/* Opened as what the caller says, never probed. */
	expect_error(qemu_img_chain_get(QEMU_IMG, top, "vmdk", &c, &err), &err, 0, top, "vmdk",
		     NULL);
	free(top);
	free(cv);
}

static void test_chain_missing_parent(void **state)
{
	struct env *e = *state;
	sh("cd %s && qemu-img create -q -f qcow2 base.qcow2 64M && "
	   "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
	   "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 && rm base.qcow2",
	   e->dir);
	char *top = path_in(e, "top.qcow2"), *mid = path_in(e, "mid.qcow2");
	char *base = path_in(e, "base.qcow2");
	size_t len;
	char *before = slurp(top, &len);
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	int r = qemu_img_chain_get(QEMU_IMG, top, "qcow2", &c, &err);
	expect_error(r, &err, ENOENT, base, mid, "No such file", NULL);
	assert_null(c);
	assert_unchanged(top, before, len);

	/* Resizing checks the chain first and changes nothing. */
	r = qemu_img_resize(QEMU_IMG, top, "qcow2", 128 * MiB, VM_DISK_PROVISIONING_THIN, &err);
	expect_error(r, &err, ENOENT, base, NULL);
	assert_unchanged(top, before, len);
	free(before);
	free(top);
	free(mid);
	free(base);
}

static void test_chain_loop(void **state)
{
	struct env *e = *state;
	sh("cd %s && qemu-img create -q -f qcow2 a.qcow2 64M && "
	   "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 && "
	   "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 c.qcow2 && "
	   "qemu-img rebase -u -b c.qcow2 -F qcow2 a.qcow2",
	   e->dir);
	char *c_path = path_in(e, "c.qcow2");
	size_t len;
	char *before = slurp(c_path, &len);
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	int r = qemu_img_chain_get(QEMU_IMG, c_path, "qcow2", &c, &err);
	expect_error(r, &err, ELOOP, "loops", c_path, "level 3", NULL);
	assert_unchanged(c_path, before, len);
	free(before);
	free(c_path);
}

static void test_chain_format_mismatch(void **state)
{
	struct env *e = *state;
	/* The chain says raw, the file is a qcow2 image. */
	sh("cd %s && qemu-img create -q -f qcow2 base.qcow2 64M && "
	   "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && "
	   "qemu-img rebase -u -b base.qcow2 -F raw top.qcow2",
	   e->dir);
	char *top = path_in(e, "top.qcow2");
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	int r = qemu_img_chain_get(QEMU_IMG, top, "qcow2", &c, &err);
	expect_error(r, &err, EINVAL, "format mismatch", "base.qcow2", "raw", "qcow2", NULL);
	free(top);
}

static void test_garbled_header(void **state)
{
	struct env *e = *state;
	/* Version 7 where qcow2 has 2 or 3. */
	sh("cd %s && qemu-img create -q -f qcow2 bad.qcow2 64M && "
	   "printf '\\000\\000\\000\\007' | dd of=bad.qcow2 bs=1 seek=4 conv=notrunc status=none",
	   e->dir);
	char *bad = path_in(e, "bad.qcow2");
	size_t len;
	char *before = slurp(bad, &len);
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	int r = qemu_img_chain_get(QEMU_IMG, bad, "qcow2", &c, &err);
	expect_error(r, &err, 0, "cannot open disk", bad, "version", NULL);
	assert_unchanged(bad, before, len);
	r = qemu_img_resize(QEMU_IMG, bad, "qcow2", 128 * MiB, VM_DISK_PROVISIONING_THICK_LAZY, &err);
	expect_error(r, &err, 0, "cannot resize", bad, NULL);
	assert_unchanged(bad, before, len);
	free(before);
	free(bad);
}

/* ---- creation ---- */

struct progress_log {
	size_t calls;
	uint64_t last_done, total;
	bool went_back;
	size_t cancel_after; /* 0: never */
};

static int on_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct progress_log *p = opaque;
	if (done < p->last_done || done > total || (p->total && p->total != total))
		p->went_back = true;
	p->last_done = done;
	p->total = total;
	p->calls++;
	return p->cancel_after && p->calls >= p->cancel_after;
}

static uint64_t allocated(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static uint64_t virtual_size(const char *path, const char *format)
{
	struct qemu_img_chain *c = NULL;
	struct vr_error *err = NULL;
	if (qemu_img_chain_get(QEMU_IMG, path, format, &c, &err) < 0)
		fail_msg("%s", err->msg);
	uint64_t v = c->images[0].virtual_size;
	qemu_img_chain_free(c);
	return v;
}

static void create(struct env *e, const char *name, const char *format, uint64_t size,
		   enum vm_disk_provisioning p, struct progress_log *log)
{
	char *path = path_in(e, name);
	struct qemu_img_create_opts o = {.path = path, .format = format, .size = size,
					 .provisioning = p, .progress = log ? on_progress : NULL,
					 .opaque = log};
	struct vr_error *err = NULL;
	if (qemu_img_create_disk(QEMU_IMG, &o, &err) < 0)
		fail_msg("%s", err->msg);
	free(path);
}

static void test_create_provisioning(void **state)
{
	struct env *e = *state;
	create(e, "thin.qcow2", "qcow2", 256 * MiB, VM_DISK_PROVISIONING_THIN, NULL);
	create(e, "thin.raw", "raw", 256 * MiB, VM_DISK_PROVISIONING_THIN, NULL);
	create(e, "lazy.qcow2", "qcow2", 256 * MiB, VM_DISK_PROVISIONING_THICK_LAZY, NULL);
	create(e, "lazy.raw", "raw", 256 * MiB, VM_DISK_PROVISIONING_THICK_LAZY, NULL);
	struct progress_log log = {0};
	create(e, "eager.raw", "raw", 256 * MiB, VM_DISK_PROVISIONING_THICK_EAGER, &log);
	assert_true(log.calls >= 1);
	assert_false(log.went_back);
	assert_int_equal(log.last_done, 256 * MiB);
	assert_int_equal(log.total, 256 * MiB);
	struct progress_log qlog = {0};
	create(e, "eager.qcow2", "qcow2", 256 * MiB, VM_DISK_PROVISIONING_THICK_EAGER, &qlog);
	assert_false(qlog.went_back);
	assert_true(qlog.total > 256 * MiB); /* data plus metadata, from qemu-img measure */
	assert_int_equal(qlog.last_done, qlog.total);

	const char *names[] = {"thin.qcow2", "thin.raw", "lazy.qcow2", "lazy.raw", "eager.raw",
			       "eager.qcow2"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *p = path_in(e, names[i]);
		uint64_t a = allocated(p);
		bool thin = str_has_prefix(names[i], "thin");
		if (thin)
			assert_true(a < 2 * MiB);
		else
			assert_true(a >= 256 * MiB);
		assert_int_equal(virtual_size(p, strchr(names[i], '.') + 1), 256 * MiB);
		free(p);
	}
}

static void test_create_refusals(void **state)
{
	struct env *e = *state;
	char *path = path_in(e, "x.qcow2");
	struct vr_error *err = NULL;
	struct qemu_img_create_opts o = {.path = path, .format = "qcow2", .size = 60ull << 40,
					 .provisioning = VM_DISK_PROVISIONING_THICK_LAZY};
	/* 60 TiB reserved: more than any test machine has free. */
	expect_error(qemu_img_create_disk(QEMU_IMG, &o, &err), &err, ENOSPC, path, "TiB", "free",
		     NULL);
	assert_int_equal(access(path, F_OK), -1);
	/* Thin needs only metadata, so the same size is fine. */
	o.provisioning = VM_DISK_PROVISIONING_THIN;
	if (qemu_img_create_disk(QEMU_IMG, &o, &err) < 0)
		fail_msg("%s", err->msg);
	assert_true(allocated(path) < 64 * MiB);

	/* An existing file is never overwritten. */
	size_t len;
	char *before = slurp(path, &len);
	o.size = MiB;
	expect_error(qemu_img_create_disk(QEMU_IMG, &o, &err), &err, EEXIST, path, NULL);
	assert_unchanged(path, before, len);
	free(before);

	o.format = "vmdk";
	expect_error(qemu_img_create_disk(QEMU_IMG, &o, &err), &err, ENOTSUP, "vmdk", NULL);
	o.format = "raw";
	o.size = 0;
	expect_error(qemu_img_create_disk(QEMU_IMG, &o, &err), &err, ERANGE, NULL);
	o.size = (64ull << 40) + 1;
	expect_error(qemu_img_create_disk(QEMU_IMG, &o, &err), &err, ERANGE, NULL);
	free(path);
}

static void test_create_cancel(void **state)
{
	struct env *e = *state;
	char *path = path_in(e, "cancel.raw");
	/* 4 GiB of zeroes take far longer than the first progress tick. */
	struct progress_log log = {.cancel_after = 1};
	struct qemu_img_create_opts o = {.path = path, .format = "raw", .size = 4ull << 30,
					 .provisioning = VM_DISK_PROVISIONING_THICK_EAGER,
					 .progress = on_progress, .opaque = &log};
	struct vr_error *err = NULL;
	expect_error(qemu_img_create_disk(QEMU_IMG, &o, &err), &err, ECANCELED, path, NULL);
	assert_int_equal(log.calls, 1);
	assert_int_equal(access(path, F_OK), -1);
	free(path);
}

static void test_provisioning_names(void **state)
{
	(void)state;
	enum vm_disk_provisioning p;
	assert_int_equal(vm_disk_provisioning_parse("thin", &p), 0);
	assert_int_equal(p, VM_DISK_PROVISIONING_THIN);
	assert_int_equal(vm_disk_provisioning_parse("EagerZeroedThick", &p), 0);
	assert_int_equal(p, VM_DISK_PROVISIONING_THICK_EAGER);
	assert_int_equal(vm_disk_provisioning_parse("thick-lazy", &p), 0);
	assert_int_equal(p, VM_DISK_PROVISIONING_THICK_LAZY);
	assert_int_equal(vm_disk_provisioning_parse("fat", &p), -EINVAL);
	assert_string_equal(vm_disk_provisioning_name(VM_DISK_PROVISIONING_THICK_EAGER), "thick-eager");
}

/* ---- resize ---- */

static void test_resize(void **state)
{
	struct env *e = *state;
	create(e, "grow.qcow2", "qcow2", 64 * MiB, VM_DISK_PROVISIONING_THIN, NULL);
	create(e, "grow.raw", "raw", 64 * MiB, VM_DISK_PROVISIONING_THICK_LAZY, NULL);
	char *q = path_in(e, "grow.qcow2"), *raw = path_in(e, "grow.raw");
	struct vr_error *err = NULL;
	if (qemu_img_resize(QEMU_IMG, q, "qcow2", 128 * MiB, VM_DISK_PROVISIONING_THIN, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(virtual_size(q, "qcow2"), 128 * MiB);
	/* Same size: nothing to do. */
	assert_int_equal(qemu_img_resize(QEMU_IMG, q, "qcow2", 128 * MiB, VM_DISK_PROVISIONING_THIN, &err), 0);

	size_t len;
	char *before = slurp(q, &len);
	int r = qemu_img_resize(QEMU_IMG, q, "qcow2", 64 * MiB, VM_DISK_PROVISIONING_THIN, &err);
	expect_error(r, &err, EINVAL, "cannot shrink", q, "128.0 MiB", "64.0 MiB", NULL);
	assert_unchanged(q, before, len);
	free(before);

	/* Raw shrinks silently in qemu-img: the check is ours. */
	r = qemu_img_resize(QEMU_IMG, raw, "raw", 32 * MiB, VM_DISK_PROVISIONING_THIN, &err);
	expect_error(r, &err, EINVAL, "cannot shrink", NULL);
	assert_int_equal(virtual_size(raw, "raw"), 64 * MiB);

	if (qemu_img_resize(QEMU_IMG, raw, "raw", 128 * MiB, VM_DISK_PROVISIONING_THICK_LAZY, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(virtual_size(raw, "raw"), 128 * MiB);
	assert_true(allocated(raw) >= 128 * MiB);

	r = qemu_img_resize(QEMU_IMG, raw, "raw", 60ull << 40, VM_DISK_PROVISIONING_THICK_EAGER, &err);
	expect_error(r, &err, ENOSPC, "free", NULL);
	assert_int_equal(virtual_size(raw, "raw"), 128 * MiB);
	free(q);
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_chain),
		cmocka_unit_test(test_parse_bad_chains),
		cmocka_unit_test(test_parse_too_deep),
		cmocka_unit_test(test_parse_measure_and_probe),
		cmocka_unit_test(test_provisioning_names),
		cmocka_unit_test_setup_teardown(test_chain_real, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_missing_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_format_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbled_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_provisioning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
