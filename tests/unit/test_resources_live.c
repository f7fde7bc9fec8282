/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource allocation primitives against the running kernel (as root):
 * real cgroups of whichever version the machine has, through the ops
 * table -- settings read back, a process attached and charged, a memory
 * limit enforced, CPU shares 2:1 and a 25% CPU limit measured on busy
 * children -- plus a loop device's scheduler and the host's KSM files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/resources/admission.h"
#include "host/resources/balloon.h"
#include "host/resources/blkdev.h"
#include "host/resources/cgroup.h"
#include "host/resources/cgroup_priv.h"
#include "host/resources/ksm.h"
#include "host/resources/shares.h"

/* ------------------------------------------------------------------ */
/* KSM and block devices                                               */

static void test_ksm_live(void **state)
{
	struct vr_error *err = NULL;
	struct res_ksm_stats s;
	assert_int_equal(res_ksm_read(NULL, &s, &err), 0);
	assert_true(s.run <= 2);
	assert_true(s.pages_to_scan >= 1);
	assert_true(s.sleep_millisecs >= 1);
	assert_true(s.has_general_profit);
	assert_true(s.has_zero_pages);
	print_message("KSM: run=%llu shared=%llu sharing=%llu unshared=%llu full_scans=%llu profit=%lld\n",
		      (unsigned long long)s.run, (unsigned long long)s.pages_shared,
		      (unsigned long long)s.pages_sharing, (unsigned long long)s.pages_unshared,
		      (unsigned long long)s.full_scans, (long long)s.general_profit);
	/* Rewrite the host's own values: the write path, without changing the machine. */
	assert_int_equal(res_ksm_set_scan_rate(NULL, (unsigned)s.pages_to_scan, (unsigned)s.sleep_millisecs, &err), 0);
	assert_int_equal(res_ksm_set_run(NULL, (unsigned)s.run, &err), 0);
	struct res_ksm_stats s2;
	assert_int_equal(res_ksm_read(NULL, &s2, &err), 0);
	assert_int_equal(s2.pages_to_scan, s.pages_to_scan);
	assert_int_equal(s2.run, s.run);

	/* A process that marks memory mergeable shows it in ksm_stat. */
	size_t len = 4u << 20;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	memset(mem, 0x5a, len);
	assert_int_equal(madvise(mem, len, MADV_MERGEABLE), 0);
	struct res_ksm_proc p;
	assert_int_equal(res_ksm_proc_read(NULL, getpid(), &p, &err), 0);
	assert_true(p.mergeable);
	assert_int_equal(res_ksm_proc_read(NULL, 0x7ffffff0, &p, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "process 2147483632"));
	vr_error_freep(&err);
	munmap(mem, len);
}

/* A loop device over a sparse image, detached when its fd closes. */
struct loopdev {
	int fd;
	int nr;
	char image[64];
};

static void loop_close(struct loopdev *l)
{
	if (l->fd >= 0) {
		ioctl(l->fd, LOOP_CLR_FD, 0);
		close(l->fd);
		l->fd = -1;
	}
	if (l->image[0])
		unlink(l->image);
	l->image[0] = '\0';
}

static struct loopdev g_loop = {.fd = -1};

static void loop_open(struct loopdev *l)
{
	snprintf(l->image, sizeof(l->image), "/work/vireo-res-loop-%d.img", (int)getpid());
	int img = open(l->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(img >= 0);
	assert_int_equal(ftruncate(img, 64 << 20), 0);
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	assert_true(ctl >= 0);
	for (int attempt = 0; attempt < 5; attempt++) {
		l->nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		assert_true(l->nr >= 0);
		char dev[32];
		snprintf(dev, sizeof(dev), "/dev/loop%d", l->nr);
		l->fd = open(dev, O_RDWR | O_CLOEXEC);
		assert_true(l->fd >= 0);
		struct loop_config cfg = {.fd = (uint32_t)img};
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(l->fd, LOOP_CONFIGURE, &cfg) == 0)
			break;
		assert_int_equal(errno, EBUSY); /* taken by someone else meanwhile */
		close(l->fd);
		l->fd = -1;
	}
	close(img);
	assert_true(l->fd >= 0);
}

static void test_blkdev_live(void **state)
{
	struct vr_error *err = NULL;
	struct res_blkdev d;
	/* A file of the test tree: on the machine's disk. */
	assert_int_equal(res_blkdev_from_path("/work", &d, &err), 0);
	struct stat st;
	assert_int_equal(stat("/work", &st), 0);
	assert_int_equal(d.major, major(st.st_dev));
	print_message("/work is on %s (%u:%u), scheduler %s, offered: %s\n", d.name, d.major, d.minor,
		      d.scheduler, d.available);
	if (strcmp(d.scheduler, "bfq") != 0) {
		assert_int_equal(res_blkdev_check_bfq(&d, "web01.vmdk", &err), -EOPNOTSUPP);
		assert_non_null(strstr(err->msg, "disk shares of \"web01.vmdk\" cannot be enforced"));
		assert_non_null(strstr(err->msg, d.scheduler));
		vr_error_freep(&err);
	} else {
		assert_int_equal(res_blkdev_check_bfq(&d, "web01.vmdk", &err), 0);
	}
	res_blkdev_clear(&d);
	/* tmpfs has no block device. */
	assert_int_equal(res_blkdev_from_path("/dev/shm", &d, &err), -ENODEV);
	assert_non_null(strstr(err->msg, "\"/dev/shm\""));
	vr_error_freep(&err);
	assert_int_equal(res_blkdev_from_path("/nonexistent/x", &d, &err), -ENOENT);
	vr_error_freep(&err);

	/* A loop device node: its own queue, with its backing file named. */
	loop_open(&g_loop);
	char dev[32], name[16];
	snprintf(dev, sizeof(dev), "/dev/loop%d", g_loop.nr);
	snprintf(name, sizeof(name), "loop%d", g_loop.nr);
	assert_int_equal(stat(dev, &st), 0);
	assert_int_equal(res_blkdev_from_path(dev, &d, &err), 0);
	assert_string_equal(d.name, name);
	assert_string_equal(d.part, "");
	assert_int_equal(d.major, major(st.st_rdev));
	assert_int_equal(d.minor, minor(st.st_rdev));
	assert_non_null(d.loop_backing);
	assert_string_equal(d.loop_backing, g_loop.image);
	if (!d.bfq_available) {
		/* A kernel built without BFQ: shares cannot be enforced, and hostd must say so. */
		printf("this kernel offers no bfq scheduler (CONFIG_IOSCHED_BFQ not set): "
		       "checking that it is refused\n");
		assert_int_equal(res_blkdev_set_scheduler(NULL, &d, "none", &err), 0);
		res_blkdev_clear(&d);
		assert_int_equal(res_blkdev_from_path(dev, &d, &err), 0);
		assert_int_equal(res_blkdev_check_bfq(&d, "x.vmdk", &err), -EOPNOTSUPP);
		assert_non_null(strstr(err->msg, "does not offer bfq"));
		vr_error_freep(&err);
		assert_true(res_blkdev_set_scheduler(NULL, &d, "bfq", &err) < 0);
		vr_error_freep(&err);
		res_blkdev_clear(&d);
		loop_close(&g_loop);
		return;
	}
	assert_int_equal(res_blkdev_set_scheduler(NULL, &d, "none", &err), 0);
	res_blkdev_clear(&d);
	assert_int_equal(res_blkdev_from_path(dev, &d, &err), 0);
	assert_string_equal(d.scheduler, "none");
	assert_int_equal(res_blkdev_check_bfq(&d, "x.vmdk", &err), -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "a loop device backed by"));
	assert_non_null(strstr(err->msg, "whose I/O scheduler is none, not bfq"));
	vr_error_freep(&err);
	assert_int_equal(res_blkdev_set_scheduler(NULL, &d, "bfq", &err), 0);
	res_blkdev_clear(&d);
	assert_int_equal(res_blkdev_from_path(dev, &d, &err), 0);
	assert_string_equal(d.scheduler, "bfq");
	assert_int_equal(res_blkdev_check_bfq(&d, "x.vmdk", &err), 0);
	res_blkdev_clear(&d);
	loop_close(&g_loop);
}

static int loop_teardown(void **state)
{
	loop_close(&g_loop);
	return 0;
}


/* ------------------------------------------------------------------ */
/* cgroups                                                             */

static char *get(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	char *text = NULL;
	assert_int_equal(file_read_all(path, 65536, &text, NULL, NULL), 0);
	return text;
}

#define MAX_CHILDREN 4
#define MAX_GROUPS 4
static struct {
	struct res_cgroup_system *sys;
	struct res_cgroup *groups[MAX_GROUPS];
	pid_t pids[MAX_CHILDREN];
	char parent[64];
} g_cg;

static int cg_setup(void **state)
{
	struct vr_error *err = NULL;
	memset(&g_cg, 0, sizeof(g_cg));
	snprintf(g_cg.parent, sizeof(g_cg.parent), "vireo-test-%d", (int)getpid());
	/*
	 * v1: below our own groups, so the tree stays inside whatever
	 * confines this test.  v2 forbids controllers below a group that
	 * holds processes (ours does), so there the tree goes at the root.
	 */
	struct res_cgroup_params p = {.parent = g_cg.parent, .base = RES_CGROUP_BASE_SELF};
	int r = res_cgroup_system_open(&p, &g_cg.sys, &err);
	if (r == 0 && strcmp(res_cgroup_system_version(g_cg.sys), "v2") == 0) {
		res_cgroup_system_free(g_cg.sys);
		p.base = RES_CGROUP_BASE_ROOT;
		r = res_cgroup_system_open(&p, &g_cg.sys, &err);
	}
	if (r < 0) {
		fprintf(stderr, "cgroups: %s\n", vr_error_msg(err));
		vr_error_free(err);
		return -1;
	}
	return 0;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int cg_teardown(void **state)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (g_cg.pids[i] > 0)
			reap(g_cg.pids[i]);
	for (int i = 0; i < MAX_GROUPS; i++) {
		if (!g_cg.groups[i])
			continue;
		struct vr_error *err = NULL;
		if (res_cgroup_destroy(g_cg.groups[i], &err) < 0)
			fprintf(stderr, "teardown: %s\n", vr_error_msg(err));
		vr_error_free(err);
		res_cgroup_free(g_cg.groups[i]);
	}
	struct vr_error *err = NULL;
	if (res_cgroup_system_remove_parent(g_cg.sys, &err) < 0)
		fprintf(stderr, "teardown: %s\n", vr_error_msg(err));
	vr_error_free(err);
	res_cgroup_system_free(g_cg.sys);
	loop_close(&g_loop);
	memset(&g_cg, 0, sizeof(g_cg));
	return 0;
}

static struct res_cgroup *cg_new(int slot, const char *name)
{
	struct vr_error *err = NULL;
	assert_int_equal(res_cgroup_create(g_cg.sys, name, &g_cg.groups[slot], &err), 0);
	return g_cg.groups[slot];
}

static void cg_gone(int slot)
{
	struct vr_error *err = NULL;
	assert_int_equal(res_cgroup_destroy(g_cg.groups[slot], &err), 0);
	res_cgroup_freep(&g_cg.groups[slot]);
}

enum child_body { CHILD_SPIN, CHILD_TOUCH };

struct child {
	pid_t pid;
	int go;   /* parent writes one byte: start */
	int done; /* child writes one byte: its work is done (CHILD_TOUCH) */
};

/* Forks a child that waits for "go", then spins or touches touch_mib of memory and waits. */
static struct child spawn(int slot, enum child_body body, int cpu, size_t touch_mib)
{
	int go[2], done[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(done, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) < 0)
				_exit(2);
		}
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		if (body == CHILD_SPIN) {
			volatile uint64_t n = 0;
			for (;;)
				n++;
		}
		size_t len = touch_mib << 20;
		char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			_exit(4);
		for (size_t off = 0; off < len; off += 4096)
			mem[off] = 1;
		if (write(done[1], "d", 1) != 1)
			_exit(5);
		for (;;)
			pause();
	}
	close(go[0]);
	close(done[1]);
	g_cg.pids[slot] = pid;
	return (struct child){.pid = pid, .go = go[1], .done = done[0]};
}

static void child_go(struct child *c)
{
	assert_int_equal(write(c->go, "g", 1), 1);
	close(c->go);
	c->go = -1;
}

/* Kills and reaps the child in slot. */
static void child_end(int slot, struct child *c)
{
	reap(c->pid);
	g_cg.pids[slot] = 0;
	if (c->go >= 0)
		close(c->go);
	close(c->done);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool is_v1(void)
{
	return strcmp(res_cgroup_system_version(g_cg.sys), "v1") == 0;
}

static void test_cgroup_lifecycle(void **state)
{
	struct vr_error *err = NULL;
	print_message("cgroup %s, VM group in %s\n", res_cgroup_system_version(g_cg.sys),
		      res_cgroup_dir(cg_new(0, "vm-life"), "cpu"));
	struct res_cgroup *cg = g_cg.groups[0];
	struct stat st;
	assert_int_equal(stat(res_cgroup_dir(cg, "cpu"), &st), 0);
	assert_int_equal(stat(res_cgroup_dir(cg, "memory"), &st), 0);
	/* Creating again reuses; opening finds it. */
	struct res_cgroup *again = NULL;
	assert_int_equal(res_cgroup_create(g_cg.sys, "vm-life", &again, &err), 0);
	res_cgroup_freep(&again);
	assert_int_equal(res_cgroup_open(g_cg.sys, "vm-life", &again, &err), 0);
	res_cgroup_freep(&again);
	assert_int_equal(res_cgroup_create(g_cg.sys, "../escape", &again, &err), -EINVAL);
	vr_error_freep(&err);

	/* Settings, read back from the kernel. */
	loop_open(&g_loop);
	struct res_blkdev d;
	char dev[32];
	snprintf(dev, sizeof(dev), "/dev/loop%d", g_loop.nr);
	assert_int_equal(res_blkdev_from_path(dev, &d, &err), 0);
	/* Per-device weights need BFQ, which not every kernel has. */
	bool bfq = d.bfq_available;
	if (bfq)
		assert_int_equal(res_blkdev_set_scheduler(NULL, &d, "bfq", &err), 0);
	struct res_io_device_weight devs[] = {{d.major, d.minor, 300}};
	res_blkdev_clear(&d);
	struct res_cgroup_settings s = {
		.cpu_shares = 2000, .cpu_limit_mhz = 1300, .host_core_mhz = 2600,
		.mem_limit_mib = 256, .mem_reservation_mib = 128, .io_weight = bfq ? 200 : 0,
		.io_devices = bfq ? devs : NULL, .n_io_devices = bfq ? 1 : 0,
	};
	assert_int_equal(res_cgroup_apply(cg, &s, &err), 0);
	struct res_cgroup_values v;
	assert_int_equal(res_cgroup_read_values(cg, &v, &err), 0);
	assert_int_equal(v.cpu_weight, is_v1() ? res_cpu_shares_to_v1(2000) : res_cpu_shares_to_v2_weight(2000));
	assert_int_equal(v.cpu_quota_us, 50000);
	assert_int_equal(v.cpu_period_us, 100000);
	assert_int_equal(v.mem_limit_bytes, 256u << 20);
	assert_int_equal(v.mem_guarantee_bytes, 128u << 20);
	if (bfq) {
		assert_int_equal(v.io_weight, 200);
		_cleanup_free_ char *wd = get(res_cgroup_dir(cg, "io"), is_v1() ? "blkio.bfq.weight_device" : "io.bfq.weight");
		_cleanup_free_ char *want = xasprintf("%u:%u 300", devs[0].major, devs[0].minor);
		assert_non_null(strstr(wd, want));
	}
	loop_close(&g_loop);

	/* Back to unlimited. */
	struct res_cgroup_settings unl = {.cpu_shares = 1000};
	assert_int_equal(res_cgroup_apply(cg, &unl, &err), 0);
	assert_int_equal(res_cgroup_read_values(cg, &v, &err), 0);
	assert_int_equal(v.cpu_quota_us, -1);
	assert_true(v.mem_limit_bytes == UINT64_MAX);
	if (bfq)
		assert_int_equal(v.io_weight, 200); /* 0 leaves it alone */
	/* Invalid settings change nothing. */
	struct res_cgroup_settings bad = {.cpu_shares = 1000, .mem_limit_mib = 100, .mem_reservation_mib = 200};
	assert_int_equal(res_cgroup_apply(cg, &bad, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "\"vm-life\""));
	vr_error_freep(&err);

	/* A process, attached before it touches 32 MiB: charged to the group. */
	struct child c = spawn(0, CHILD_TOUCH, -1, 32);
	assert_int_equal(res_cgroup_attach(cg, c.pid, &err), 0);
	child_go(&c);
	char b;
	assert_int_equal(read(c.done, &b, 1), 1);
	pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(res_cgroup_pids(cg, &pids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], c.pid);
	free(pids);
	struct res_cgroup_usage u;
	assert_int_equal(res_cgroup_usage(cg, &u, &err), 0);
	print_message("usage: mem %llu anon %llu file %llu cpu %llu ns\n", (unsigned long long)u.mem_usage_bytes,
		      (unsigned long long)u.mem_anon_bytes, (unsigned long long)u.mem_file_bytes,
		      (unsigned long long)u.cpu_usage_ns);
	assert_true(u.mem_usage_bytes >= (32u << 20));
	assert_true(u.mem_anon_bytes >= (30u << 20));
	assert_true(u.cpu_usage_ns > 0);

	/* Destroy refuses while the process lives, naming it. */
	assert_int_equal(res_cgroup_destroy(cg, &err), -EBUSY);
	_cleanup_free_ char *pidtxt = xasprintf("(pid %d)", (int)c.pid);
	assert_non_null(strstr(err->msg, pidtxt));
	assert_non_null(strstr(err->msg, "still holds 1 process"));
	vr_error_freep(&err);
	child_end(0, &c);
	_cleanup_free_ char *dir = xstrdup(res_cgroup_dir(cg, "cpu"));
	cg_gone(0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(res_cgroup_open(g_cg.sys, "vm-life", &again, &err), -ENOENT);
	vr_error_freep(&err);
}

static void test_cgroup_memory_limit(void **state)
{
	struct vr_error *err = NULL;
	struct res_cgroup *cg = cg_new(0, "vm-mem");
	struct res_cgroup_settings s = {.cpu_shares = 1000, .mem_limit_mib = 64};
	assert_int_equal(res_cgroup_apply(cg, &s, &err), 0);
	struct child c = spawn(0, CHILD_TOUCH, -1, 256);
	assert_int_equal(res_cgroup_attach(cg, c.pid, &err), 0);
	child_go(&c);
	char b;
	ssize_t got = read(c.done, &b, 1);
	if (got == 1) {
		/* Survived: only possible by swapping; it never held more than the limit. */
		struct res_cgroup_usage u;
		assert_int_equal(res_cgroup_usage(cg, &u, &err), 0);
		assert_true(u.mem_usage_bytes <= (64u << 20));
		assert_true(u.mem_swap_bytes > 0);
		child_end(0, &c);
	} else {
		int status;
		assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
		g_cg.pids[0] = 0;
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		close(c.done);
		print_message("a process touching 256 MiB under a 64 MiB limit was OOM-killed\n");
	}
	cg_gone(0);
}

static uint64_t cpu_ns(struct res_cgroup *cg)
{
	struct vr_error *err = NULL;
	struct res_cgroup_usage u;
	assert_int_equal(res_cgroup_usage(cg, &u, &err), 0);
	return u.cpu_usage_ns;
}

static int last_cpu(void)
{
	cpu_set_t set;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	int cpu = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			cpu = i;
	return cpu;
}

static void test_cgroup_cpu_shares(void **state)
{
	struct vr_error *err = NULL;
	struct res_cgroup *hi = cg_new(0, "vm-hi"), *lo = cg_new(1, "vm-lo");
	struct res_cgroup_settings shi = {.cpu_shares = 2048}, slo = {.cpu_shares = 1024};
	assert_int_equal(res_cgroup_apply(hi, &shi, &err), 0);
	assert_int_equal(res_cgroup_apply(lo, &slo, &err), 0);
	/* Both on one CPU, so that they contend with each other. */
	int cpu = last_cpu();
	struct child a = spawn(0, CHILD_SPIN, cpu, 0), b = spawn(1, CHILD_SPIN, cpu, 0);
	assert_int_equal(res_cgroup_attach(hi, a.pid, &err), 0);
	assert_int_equal(res_cgroup_attach(lo, b.pid, &err), 0);
	child_go(&a);
	child_go(&b);
	sleep_ms(300);
	uint64_t a0 = cpu_ns(hi), b0 = cpu_ns(lo);
	sleep_ms(3000);
	uint64_t a1 = cpu_ns(hi), b1 = cpu_ns(lo);
	child_end(0, &a);
	child_end(1, &b);
	double ratio = (double)(a1 - a0) / (double)(b1 - b0);
	print_message("CPU shares 2048:1024 on CPU %d over 3 s: %.3f s vs %.3f s, ratio %.3f\n", cpu,
		      (double)(a1 - a0) / 1e9, (double)(b1 - b0) / 1e9, ratio);
	assert_true(b1 > b0);
	assert_true(ratio >= 1.8 && ratio <= 2.2);
	cg_gone(0);
	cg_gone(1);
}

static void test_cgroup_cpu_limit(void **state)
{
	struct vr_error *err = NULL;
	struct res_cgroup *cg = cg_new(0, "vm-cap");
	/* A quarter of a 2600 MHz core. */
	struct res_cgroup_settings s = {.cpu_shares = 1000, .cpu_limit_mhz = 650, .host_core_mhz = 2600};
	assert_int_equal(res_cgroup_apply(cg, &s, &err), 0);
	struct child c = spawn(0, CHILD_SPIN, -1, 0);
	assert_int_equal(res_cgroup_attach(cg, c.pid, &err), 0);
	child_go(&c);
	sleep_ms(300);
	struct res_cgroup_usage u0, u1;
	assert_int_equal(res_cgroup_usage(cg, &u0, &err), 0);
	uint64_t t0 = time_mono_ms();
	sleep_ms(3000);
	assert_int_equal(res_cgroup_usage(cg, &u1, &err), 0);
	uint64_t t1 = time_mono_ms();
	child_end(0, &c);
	double share = (double)(u1.cpu_usage_ns - u0.cpu_usage_ns) / ((double)(t1 - t0) * 1e6);
	print_message("CPU limit 650 MHz of 2600 MHz: used %.3f of a core, throttled %llu times (%.2f s)\n", share,
		      (unsigned long long)(u1.cpu_nr_throttled - u0.cpu_nr_throttled),
		      (double)(u1.cpu_throttled_ns - u0.cpu_throttled_ns) / 1e9);
	assert_true(share >= 0.225 && share <= 0.275);
	assert_true(u1.cpu_nr_throttled > u0.cpu_nr_throttled);
	assert_true(u1.cpu_throttled_ns > u0.cpu_throttled_ns);
	cg_gone(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ksm_live),
		cmocka_unit_test_teardown(test_blkdev_live, loop_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_lifecycle, cg_setup, cg_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_memory_limit, cg_setup, cg_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_cpu_shares, cg_setup, cg_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_cpu_limit, cg_setup, cg_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
