/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource allocation primitives, on text and fixture trees: shares
 * parsing, admission control, balloon targets, KSM figures, scheduler
 * lists and partitions, mountinfo, and the cgroup v2 variant's files.
 * test_resources_live.c does the same against the running kernel.
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
/* shares                                                              */

static void test_shares_parse(void **state)
{
	struct vr_error *err = NULL;
	uint64_t v;
	assert_int_equal(res_cpu_shares_parse("low", 2, &v, &err), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(res_cpu_shares_parse("NORMAL", 4, &v, &err), 0);
	assert_int_equal(v, 4000);
	assert_int_equal(res_cpu_shares_parse("high", 1, &v, &err), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(res_cpu_shares_parse("1500", 8, &v, &err), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(res_cpu_shares_parse("1000000", 8, &v, &err), 0);
	assert_int_equal(v, 1000000);
	assert_int_equal(res_mem_shares_parse("normal", 4096, &v, &err), 0);
	assert_int_equal(v, 40960);
	assert_int_equal(res_mem_shares_parse("low", 4096, &v, &err), 0);
	assert_int_equal(v, 20480);
	/* Named levels are not capped: 128 GiB at high. */
	assert_int_equal(res_mem_shares_parse("high", 131072, &v, &err), 0);
	assert_int_equal(v, 2621440);
	assert_int_equal(res_disk_shares_parse("high", &v, &err), 0);
	assert_int_equal(v, 2000);

	const char *bad[] = {"0", "1000001", "abc", "", "-5", "12x", " 10", "lowish"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(res_cpu_shares_parse(bad[i], 2, &v, &err), -EINVAL);
		assert_non_null(strstr(err->msg, "CPU shares"));
		vr_error_freep(&err);
	}
	assert_int_equal(res_mem_shares_parse("abc", 1024, &v, &err), -EINVAL);
	assert_string_equal(err->msg, "memory shares \"abc\" are invalid: expected low, normal, high or a number from 1 to 1000000");
	vr_error_freep(&err);
	assert_int_equal(res_cpu_shares_parse("normal", 0, &v, &err), -EINVAL);
	vr_error_freep(&err);
	assert_int_equal(res_cpu_shares_parse(NULL, 1, &v, &err), -EINVAL);
	vr_error_freep(&err);
}

static void test_shares_mapping(void **state)
{
	assert_int_equal(res_cpu_shares_to_v1(1), 2);
	assert_int_equal(res_cpu_shares_to_v1(1000), 1000);
	assert_int_equal(res_cpu_shares_to_v1(1000000), 262144);
	assert_int_equal(res_cpu_shares_to_v2_weight(2), 1);
	assert_int_equal(res_cpu_shares_to_v2_weight(1024), 39);
	assert_int_equal(res_cpu_shares_to_v2_weight(262144), 10000);
	assert_int_equal(res_cpu_shares_to_v2_weight(1000000), 10000);
	assert_int_equal(res_disk_shares_to_bfq_weight(1000), 100);
	assert_int_equal(res_disk_shares_to_bfq_weight(500), 50);
	assert_int_equal(res_disk_shares_to_bfq_weight(2000), 200);
	assert_int_equal(res_disk_shares_to_bfq_weight(5), 1);
	assert_int_equal(res_disk_shares_to_bfq_weight(20000), 1000);
	assert_int_equal(res_cpu_quota_us(650, 2600), 25000);
	assert_int_equal(res_cpu_quota_us(5200, 2600), 200000);
	assert_int_equal(res_cpu_quota_us(1, 2600), RES_CPU_QUOTA_MIN_US);
	assert_int_equal(res_cpu_quota_us(0, 2600), 0);
}

static void test_settings_validate(void **state)
{
	struct vr_error *err = NULL;
	struct res_cgroup_settings s = {.cpu_shares = 1000};
	assert_int_equal(res_cgroup_settings_validate(&s, &err), 0);
	s.cpu_shares = 0;
	assert_int_equal(res_cgroup_settings_validate(&s, &err), -EINVAL);
	vr_error_freep(&err);
	s.cpu_shares = 1000;
	s.cpu_limit_mhz = 500;
	assert_int_equal(res_cgroup_settings_validate(&s, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "MHz per core"));
	vr_error_freep(&err);
	s.host_core_mhz = 2600;
	assert_int_equal(res_cgroup_settings_validate(&s, &err), 0);
	s.mem_limit_mib = 1024;
	s.mem_reservation_mib = 2048;
	assert_int_equal(res_cgroup_settings_validate(&s, &err), -EINVAL);
	assert_string_equal(err->msg, "memory reservation of 2048 MiB is above the limit of 1024 MiB");
	vr_error_freep(&err);
	s.mem_reservation_mib = 512;
	s.io_weight = 1001;
	assert_int_equal(res_cgroup_settings_validate(&s, &err), -EINVAL);
	vr_error_freep(&err);
	s.io_weight = 100;
	struct res_io_device_weight devs[] = {{254, 0, 0}};
	s.io_devices = devs;
	s.n_io_devices = 1;
	assert_int_equal(res_cgroup_settings_validate(&s, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "254:0"));
	vr_error_freep(&err);
}

/* ------------------------------------------------------------------ */
/* mountinfo, /proc/self/cgroup, flat-keyed files                      */

static const char mountinfo_v1[] =
	"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
	"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char mountinfo_comounted[] =
	"25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
	"26 24 0:23 /lxc/c1 /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory\n"
	"27 24 0:24 / /mnt/my\\040cgroups rw master:3 - cgroup cgroup rw,blkio\n";

static const char mountinfo_v2[] =
	"29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

static void test_mountinfo_parse(void **state)
{
	struct vr_error *err = NULL;
	struct res_cgroup_mounts m;
	assert_int_equal(res_mountinfo_parse(mountinfo_v1, &m, &err), 0);
	assert_string_equal(m.v1[RES_CTL_CPU].mount_point, "/sys/fs/cgroup/cpu");
	assert_string_equal(m.v1[RES_CTL_CPUACCT].mount_point, "/sys/fs/cgroup/cpuacct");
	assert_string_equal(m.v1[RES_CTL_MEMORY].mount_point, "/sys/fs/cgroup/memory");
	assert_string_equal(m.v1[RES_CTL_IO].mount_point, "/sys/fs/cgroup/blkio");
	assert_string_equal(m.v2.mount_point, "/sys/fs/cgroup/unified");
	res_cgroup_mounts_clear(&m);

	assert_int_equal(res_mountinfo_parse(mountinfo_comounted, &m, &err), 0);
	assert_string_equal(m.v1[RES_CTL_CPU].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(m.v1[RES_CTL_CPUACCT].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(m.v1[RES_CTL_MEMORY].root, "/lxc/c1");
	assert_string_equal(m.v1[RES_CTL_IO].mount_point, "/mnt/my cgroups");
	assert_null(m.v2.mount_point);
	res_cgroup_mounts_clear(&m);

	assert_int_equal(res_mountinfo_parse(mountinfo_v2, &m, &err), 0);
	assert_string_equal(m.v2.mount_point, "/sys/fs/cgroup");
	assert_null(m.v1[RES_CTL_CPU].mount_point);
	res_cgroup_mounts_clear(&m);

	assert_int_equal(res_mountinfo_parse("1 2 3\n", &m, &err), -EPROTO);
	assert_string_equal(err->msg, "mountinfo line 1 is malformed");
	vr_error_freep(&err);
}

static void test_proc_cgroup_path(void **state)
{
	const char text[] = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/e9\n2:cpu,cpuacct:/a/b\n0::/user.slice/x\n";
	char *p = res_proc_cgroup_path(text, "memory");
	assert_string_equal(p, "/process_api/e9");
	free(p);
	p = res_proc_cgroup_path(text, "cpuacct");
	assert_string_equal(p, "/a/b");
	free(p);
	p = res_proc_cgroup_path(text, NULL);
	assert_string_equal(p, "/user.slice/x");
	free(p);
	assert_null(res_proc_cgroup_path(text, "blkio"));
	assert_null(res_proc_cgroup_path("1:cpu:/\n", NULL));
}

static void test_flat_keyed(void **state)
{
	const char text[] = "nr_periods 12\nnr_throttled 3\nthrottled_time 4500\nnr_bursts 0\n";
	uint64_t v;
	assert_int_equal(res_flat_keyed_get(text, "nr_throttled", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(res_flat_keyed_get(text, "throttled_time", &v), 0);
	assert_int_equal(v, 4500);
	assert_int_equal(res_flat_keyed_get(text, "nr_period", &v), -ENOENT);
	assert_int_equal(res_flat_keyed_get("rss 1x\n", "rss", &v), -EPROTO);
}

/* ------------------------------------------------------------------ */
/* admission control                                                   */

static const struct res_host_capacity host24 = {
	.cpu_cores = 4, .core_mhz = 2600, .mem_mib = 24000,
	.reserve_cpu_mhz = 1000, .reserve_mem_mib = 6010,
};

/* 5 VMs reserving 3000 MiB + 136 MiB overhead and 1500 MHz each: 21690 MiB, 8500 MHz with the host. */
static void five_running(struct res_vm_reservation run[5])
{
	static const char *names[] = {"a", "b", "c", "d", "e"};
	for (int i = 0; i < 5; i++)
		run[i] = (struct res_vm_reservation){
			.name = names[i], .vcpus = 1, .mem_mib = 4096,
			.mem_reservation_mib = 3000, .cpu_reservation_mhz = 1500,
		};
}

static void test_admission(void **state)
{
	struct vr_error *err = NULL;
	struct res_vm_reservation run[5];
	five_running(run);
	assert_int_equal(res_vm_mem_overhead_mib(1, 4096), 136);
	assert_int_equal(res_vm_mem_overhead_mib(2, 4096), 144);
	assert_int_equal(res_vm_mem_overhead_mib(4, 1000), 64 + 32 + 16);

	struct res_vm_reservation web = {.name = "web01", .vcpus = 2, .mem_mib = 4096, .mem_reservation_mib = 4096};
	struct res_admission_result res;
	assert_int_equal(res_admission_check(&host24, run, 5, &web, &res, &err), -ENOSPC);
	assert_string_equal(err->msg,
			    "cannot power on \"web01\": it reserves 4096 MiB of memory (plus 144 MiB overhead), but only 2310 MiB of the host's 24000 MiB is unreserved (21690 MiB reserved by 5 powered-on VMs and the host)");
	vr_error_freep(&err);
	assert_int_equal(res.mem_reserved_mib, 21690);
	assert_int_equal(res.mem_needed_mib, 4240);
	assert_int_equal(res.cpu_reserved_mhz, 8500);

	/* Exactly fitting: 2166 + 144 = 2310. */
	web.mem_reservation_mib = 2166;
	assert_int_equal(res_admission_check(&host24, run, 5, &web, &res, &err), 0);
	assert_null(err);
	web.mem_reservation_mib = 2167;
	assert_int_equal(res_admission_check(&host24, run, 5, &web, NULL, &err), -ENOSPC);
	vr_error_freep(&err);
	/* No reservation at all still needs the overhead. */
	web.mem_reservation_mib = 0;
	assert_int_equal(res_admission_check(&host24, run, 5, &web, NULL, &err), 0);

	/* CPU: 10400 MHz, 8500 reserved, 1900 free. */
	web.cpu_reservation_mhz = 2000;
	assert_int_equal(res_admission_check(&host24, run, 5, &web, NULL, &err), -ENOSPC);
	assert_string_equal(err->msg,
			    "cannot power on \"web01\": it reserves 2000 MHz of CPU, but only 1900 MHz of the host's 10400 MHz is unreserved (8500 MHz reserved by 5 powered-on VMs and the host)");
	vr_error_freep(&err);
	web.cpu_reservation_mhz = 1900;
	assert_int_equal(res_admission_check(&host24, run, 5, &web, NULL, &err), 0);

	/* An empty host. */
	web.cpu_reservation_mhz = 5200;
	web.mem_reservation_mib = 4096;
	assert_int_equal(res_admission_check(&host24, NULL, 0, &web, &res, &err), 0);
	assert_int_equal(res.mem_reserved_mib, 6010);
	/* A host reserve above the capacity leaves nothing, without wrapping. */
	struct res_host_capacity tiny = host24;
	tiny.reserve_mem_mib = 30000;
	assert_int_equal(res_admission_check(&tiny, run, 1, &web, NULL, &err), -ENOSPC);
	assert_non_null(strstr(err->msg, "only 0 MiB of the host's 24000 MiB is unreserved (33136 MiB reserved by 1 powered-on VM and the host)"));
	vr_error_freep(&err);
}

static void test_admission_own_settings(void **state)
{
	struct vr_error *err = NULL;
	struct res_vm_reservation vm = {.name = "db", .vcpus = 2, .mem_mib = 2048, .mem_reservation_mib = 4096};
	assert_int_equal(res_admission_check(&host24, NULL, 0, &vm, NULL, &err), -EINVAL);
	assert_string_equal(err->msg, "cannot power on \"db\": it reserves 4096 MiB of memory, more than its configured 2048 MiB");
	vr_error_freep(&err);
	vm.mem_reservation_mib = 1024;
	vm.mem_limit_mib = 512;
	assert_int_equal(res_admission_check(&host24, NULL, 0, &vm, NULL, &err), -EINVAL);
	assert_string_equal(err->msg, "cannot power on \"db\": it reserves 1024 MiB of memory, more than its limit of 512 MiB");
	vr_error_freep(&err);
	vm.mem_limit_mib = 0;
	vm.cpu_reservation_mhz = 3000;
	vm.cpu_limit_mhz = 2000;
	assert_int_equal(res_admission_check(&host24, NULL, 0, &vm, NULL, &err), -EINVAL);
	assert_string_equal(err->msg, "cannot power on \"db\": it reserves 3000 MHz of CPU, more than its limit of 2000 MHz");
	vr_error_freep(&err);
	vm.cpu_limit_mhz = 0;
	vm.cpu_reservation_mhz = 6000;
	assert_int_equal(res_admission_check(&host24, NULL, 0, &vm, NULL, &err), -EINVAL);
	assert_string_equal(err->msg, "cannot power on \"db\": it reserves 6000 MHz of CPU, more than its 2 vCPUs can use (5200 MHz at 2600 MHz each)");
	vr_error_freep(&err);
	vm.cpu_reservation_mhz = 5200;
	assert_int_equal(res_admission_check(&host24, NULL, 0, &vm, NULL, &err), 0);
}

/* ------------------------------------------------------------------ */
/* balloon targets                                                     */

static struct res_mem_vm vm4g(const char *name, uint64_t shares)
{
	return (struct res_mem_vm){.name = name, .configured_mib = 4096, .shares = shares};
}

static void with_stats(struct res_mem_vm *v, uint64_t active)
{
	v->stats_valid = true;
	v->guest_total_mib = v->configured_mib;
	v->guest_available_mib = v->configured_mib - active;
}

static void test_mem_states(void **state)
{
	const struct res_mem_policy *p = &res_mem_policy_default;
	/* 10000 MiB: thresholds 600 / 400 / 200 / 100. */
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_HIGH, 10000, 500), RES_MEM_STATE_HIGH);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_SOFT, 10000, 500), RES_MEM_STATE_SOFT);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_HIGH, 10000, 399), RES_MEM_STATE_SOFT);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_SOFT, 10000, 600), RES_MEM_STATE_HIGH);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_HIGH, 10000, 150), RES_MEM_STATE_HARD);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_HIGH, 10000, 50), RES_MEM_STATE_LOW);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_HARD, 10000, 300), RES_MEM_STATE_HARD);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_LOW, 10000, 250), RES_MEM_STATE_HARD);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_LOW, 10000, 450), RES_MEM_STATE_SOFT);
	assert_int_equal(res_mem_state_next(p, RES_MEM_STATE_LOW, 10000, 700), RES_MEM_STATE_HIGH);
	assert_string_equal(res_mem_state_name(RES_MEM_STATE_HARD), "hard");
	/* rho: idle pages cost k = 4 times. */
	assert_true(res_mem_rho(1000, 1000, 1000, 0.75) > 0.999);
	assert_true(res_mem_rho(1000, 1000, 0, 0.75) < 0.2501 && res_mem_rho(1000, 1000, 0, 0.75) > 0.2499);
	assert_true(res_mem_rho(1000, 1000, 0, 0.0) > 0.999);
}

static void test_balloon_no_pressure(void **state)
{
	struct res_mem_vm vms[2] = {vm4g("a", 40960), vm4g("b", 40960)};
	with_stats(&vms[0], 100);
	uint64_t t[2];
	struct res_mem_plan plan;
	struct res_mem_host host = {.capacity_mib = 10000, .used_mib = 5000};
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_HIGH);
	assert_int_equal(t[0], 4096);
	assert_int_equal(t[1], 4096);
	assert_int_equal(plan.reclaim_mib, 0);
}

static void test_balloon_idle_first(void **state)
{
	struct res_mem_vm vms[2] = {vm4g("idle", 40960), vm4g("busy", 40960)};
	with_stats(&vms[0], 410);  /* 10% active */
	with_stats(&vms[1], 3686); /* 90% active */
	uint64_t t[2];
	struct res_mem_plan plan;
	/* free 300 < 4%: soft; back to 6% needs 300. */
	struct res_mem_host host = {.capacity_mib = 10000, .used_mib = 9700};
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_SOFT);
	assert_int_equal(plan.reclaim_mib, 300);
	assert_int_equal(t[0], 4096 - 300);
	assert_int_equal(t[1], 4096);
	/* Without the tax, equal shares and sizes split the need evenly. */
	struct res_mem_policy notax = res_mem_policy_default;
	notax.idle_tax = 0;
	assert_int_equal(res_mem_balloon_targets(&notax, &host, vms, 2, t, &plan), 0);
	assert_true(t[0] >= 3945 && t[0] <= 3947);
	assert_int_equal(t[0] + t[1], 8192 - 300);
}

static void test_balloon_reservation(void **state)
{
	struct res_mem_vm vms[2] = {vm4g("idle", 40960), vm4g("busy", 40960)};
	with_stats(&vms[0], 410);
	with_stats(&vms[1], 3686);
	vms[0].reservation_mib = 3900;
	uint64_t t[2];
	struct res_mem_plan plan;
	struct res_mem_host host = {.capacity_mib = 10000, .used_mib = 9700};
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(t[0], 3900);
	assert_int_equal(t[1], 4096 - 104);
	assert_int_equal(plan.shortfall_mib, 0);
	/* Everyone at the floor: the rest is a shortfall (65% balloon max: floor 1434). */
	vms[0].target_mib = 3900;
	vms[1].target_mib = 1434;
	host.used_mib = 9990;
	host.state = RES_MEM_STATE_SOFT;
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_LOW);
	assert_int_equal(t[0], 3900);
	assert_int_equal(t[1], 1434);
	assert_int_equal(plan.reclaim_mib, 590);
	assert_int_equal(plan.shortfall_mib, 590);
}

static void test_balloon_shares(void **state)
{
	/* All active (no statistics): allocations end proportional to shares. */
	struct res_mem_vm vms[2] = {vm4g("gold", 81920), vm4g("bronze", 40960)};
	vms[0].configured_mib = vms[1].configured_mib = 8192;
	struct res_mem_policy p = res_mem_policy_default;
	p.max_balloon_pct = 100;
	uint64_t t[2];
	struct res_mem_plan plan;
	struct res_mem_host host = {.capacity_mib = 100000, .used_mib = 100000};
	assert_int_equal(res_mem_balloon_targets(&p, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_LOW);
	assert_int_equal(plan.reclaim_mib, 6000);
	assert_int_equal(t[0] + t[1], 16384 - 6000);
	double ratio = (double)t[0] / (double)t[1];
	print_message("balloon shares 2:1 -> targets %llu / %llu MiB (ratio %.3f)\n",
		      (unsigned long long)t[0], (unsigned long long)t[1], ratio);
	assert_true(ratio > 1.98 && ratio < 2.02);
}

static void test_balloon_hysteresis(void **state)
{
	struct res_mem_vm vms[2] = {vm4g("a", 40960), vm4g("b", 40960)};
	vms[0].target_mib = 3500;
	vms[1].target_mib = 3500;
	uint64_t t[2];
	struct res_mem_plan plan;
	/* free 500 (5%): from high nothing happens, neither reclaim nor deflate... */
	struct res_mem_host host = {.capacity_mib = 10000, .used_mib = 9500, .state = RES_MEM_STATE_HIGH};
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_HIGH);
	assert_int_equal(t[0], 3500);
	assert_int_equal(t[1], 3500);
	/* ...from soft it goes on reclaiming up to 6%. */
	host.state = RES_MEM_STATE_SOFT;
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_SOFT);
	assert_int_equal(plan.reclaim_mib, 100);
	assert_int_equal(t[0] + t[1], 7000 - 100);
	/* Reclaim not yet done by the guests is not asked again. */
	vms[0].actual_mib = 3600;
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.reclaim_mib, 0);
	assert_int_equal(t[0] + t[1], 7000);
	vms[0].actual_mib = 0;
	/* Deflating only hands back what is free above 6%. */
	host.used_mib = 9000; /* free 1000: high, 400 to give back */
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(plan.state, RES_MEM_STATE_HIGH);
	assert_int_equal(plan.returned_mib, 400);
	assert_int_equal(t[0] + t[1], 7400);
	/* With pressure gone, targets return to the configured size. */
	host.used_mib = 5000;
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(t[0], 4096);
	assert_int_equal(t[1], 4096);
	assert_int_equal(plan.returned_mib, 2 * 596);
}

static void test_balloon_limit(void **state)
{
	struct res_mem_vm vms[2] = {vm4g("capped", 40960), vm4g("free", 40960)};
	vms[0].limit_mib = 2048;
	uint64_t t[2];
	struct res_mem_plan plan;
	struct res_mem_host host = {.capacity_mib = 10000, .used_mib = 1000};
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(t[0], 2048);
	assert_int_equal(t[1], 4096);
	/* A stale target above the limit is cut to it too. */
	vms[0].target_mib = 4096;
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), 0);
	assert_int_equal(t[0], 2048);
	/* Bad input. */
	struct res_mem_policy bad = res_mem_policy_default;
	bad.idle_tax = 1.0;
	assert_int_equal(res_mem_balloon_targets(&bad, &host, vms, 2, t, &plan), -EINVAL);
	host.capacity_mib = 0;
	assert_int_equal(res_mem_balloon_targets(NULL, &host, vms, 2, t, &plan), -EINVAL);
}

static void test_balloon_groups(void **state)
{
	/* a and b in group 1 (floor 6000), itself in group 0 (floor 7000); c in none. */
	struct res_mem_vm vms[3] = {vm4g("a", 40960), vm4g("b", 40960), vm4g("c", 409600)};
	const long in_group[3] = {1, 1, -1};
	struct res_mem_group groups[2] = {{.parent = -1, .floor_mib = 7000}, {.parent = 0, .floor_mib = 6000}};
	struct res_mem_policy p = res_mem_policy_default;
	p.max_balloon_pct = 100;
	uint64_t t[3];
	struct res_mem_plan plan;
	/* Reclaim 3000: a and b have the lowest shares but may give only 8192 - 7000 together. */
	struct res_mem_host host = {.capacity_mib = 50000, .used_mib = 50000};
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), 0);
	assert_int_equal(plan.reclaim_mib, 3000);
	assert_int_equal(t[0] + t[1], 7000);
	assert_int_equal(t[2], 4096 - (3000 - 1192));
	assert_int_equal(plan.shortfall_mib, 0);
	/* Without the groups, c (ten times the shares) would give nothing. */
	assert_int_equal(res_mem_balloon_targets(&p, &host, vms, 3, t, &plan), 0);
	assert_int_equal(t[2], 4096);
	assert_int_equal(t[0] + t[1], 8192 - 3000);
	/* The inner floor holds when it is the higher one. */
	groups[1].floor_mib = 7500;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), 0);
	assert_int_equal(t[0] + t[1], 7500);
	assert_int_equal(t[2], 4096 - (3000 - 692));
	/* A group already below its floor (raised while under pressure) gives nothing more. */
	vms[0].target_mib = 3000;
	vms[1].target_mib = 3000;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), 0);
	assert_int_equal(t[0], 3000);
	assert_int_equal(t[1], 3000);
	assert_int_equal(t[2], 4096 - 3000);
	/* Everyone held or at the floor: the rest is a shortfall. */
	vms[2].target_mib = 1000;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), 0);
	assert_int_equal(t[2], 0);
	assert_int_equal(plan.shortfall_mib, 2000);
	/* Groups do not hold back giving memory back. */
	host.used_mib = 10000;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), 0);
	assert_int_equal(t[0], 4096);
	assert_int_equal(t[1], 4096);
	assert_int_equal(t[2], 4096);
	/* Bad groups: an index out of range, parents in a cycle. */
	const long bad_vm[3] = {2, 1, -1};
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, bad_vm, groups, 2, t, &plan), -EINVAL);
	groups[1].parent = 5;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), -EINVAL);
	groups[1].parent = 0;
	groups[0].parent = 1;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), -EINVAL);
	groups[0].parent = 0;
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, 3, in_group, groups, 2, t, &plan), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* KSM                                                                 */

static const char ksm_stat_fixture[] =
	"ksm_rmap_items 2048\n"
	"ksm_zero_pages 7\n"
	"ksm_merging_pages 1500\n"
	"ksm_process_profit -4096\n"
	"ksm_merge_any: no\n"
	"ksm_mergeable: yes\n";

static void test_ksm_parse(void **state)
{
	int64_t v;
	assert_int_equal(res_ksm_parse_value("1234\n", &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(res_ksm_parse_value("-42", &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(res_ksm_parse_value("", &v), -EPROTO);
	assert_int_equal(res_ksm_parse_value("12 34\n", &v), -EPROTO);
	assert_int_equal(res_ksm_parse_value("7\n\n", &v), -EPROTO);

	struct res_ksm_proc p = {0};
	assert_int_equal(res_ksm_proc_stat_parse(ksm_stat_fixture, &p), 0);
	assert_int_equal(p.rmap_items, 2048);
	assert_int_equal(p.zero_pages, 7);
	assert_int_equal(p.process_profit, -4096);
	assert_false(p.merge_any);
	assert_true(p.mergeable);
	/* Older kernels: fewer lines. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(res_ksm_proc_stat_parse("ksm_rmap_items 5\n", &p), 0);
	assert_int_equal(p.rmap_items, 5);
	assert_int_equal(res_ksm_proc_stat_parse("ksm_rmap_items x\n", &p), -EPROTO);
	assert_int_equal(res_ksm_proc_stat_parse("ksm_mergeable: maybe\nksm_rmap_items 1\n", &p), -EPROTO);
	assert_int_equal(res_ksm_proc_stat_parse("", &p), -EPROTO);
}

static void write_fixture(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	assert_int_equal(file_write_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static void test_ksm_fixture_dir(void **state)
{
	char tmpl[] = "/tmp/vireo-ksm-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct vr_error *err = NULL;
	const char *files[][2] = {
		{"run", "1\n"}, {"pages_shared", "100\n"}, {"pages_sharing", "900\n"},
		{"pages_unshared", "50\n"}, {"pages_volatile", "3\n"}, {"full_scans", "12\n"},
		{"pages_to_scan", "100\n"}, {"sleep_millisecs", "20\n"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		write_fixture(tmpl, files[i][0], files[i][1]);
	struct res_ksm_stats s;
	/* An older kernel: no general_profit nor ksm_zero_pages. */
	assert_int_equal(res_ksm_read(tmpl, &s, &err), 0);
	assert_int_equal(s.run, 1);
	assert_int_equal(s.pages_sharing, 900);
	assert_false(s.has_general_profit);
	assert_false(s.has_zero_pages);
	assert_int_equal(res_ksm_saved_bytes(&s), 900 * (uint64_t)sysconf(_SC_PAGESIZE));
	write_fixture(tmpl, "general_profit", "-8192\n");
	write_fixture(tmpl, "ksm_zero_pages", "4\n");
	assert_int_equal(res_ksm_read(tmpl, &s, &err), 0);
	assert_true(s.has_general_profit);
	assert_int_equal(s.general_profit, -8192);
	assert_int_equal(s.ksm_zero_pages, 4);
	/* Setters write the files. */
	assert_int_equal(res_ksm_set_run(tmpl, 0, &err), 0);
	assert_int_equal(res_ksm_set_scan_rate(tmpl, 5000, 50, &err), 0);
	assert_int_equal(res_ksm_read(tmpl, &s, &err), 0);
	assert_int_equal(s.run, 0);
	assert_int_equal(s.pages_to_scan, 5000);
	assert_int_equal(s.sleep_millisecs, 50);
	assert_int_equal(res_ksm_set_run(tmpl, 3, &err), -EINVAL);
	vr_error_freep(&err);
	assert_int_equal(res_ksm_set_scan_rate(tmpl, 0, 50, &err), -EINVAL);
	vr_error_freep(&err);
	assert_int_equal(res_ksm_set_scan_rate(tmpl, 10, 0, &err), -EINVAL);
	vr_error_freep(&err);
	/* A malformed or missing required file is an error naming it. */
	write_fixture(tmpl, "pages_shared", "lots\n");
	assert_int_equal(res_ksm_read(tmpl, &s, &err), -EPROTO);
	assert_non_null(strstr(err->msg, "pages_shared"));
	vr_error_freep(&err);
	_cleanup_free_ char *p = xasprintf("%s/pages_shared", tmpl);
	unlink(p);
	assert_int_equal(res_ksm_read(tmpl, &s, &err), -ENOENT);
	vr_error_freep(&err);
	rm_rf(tmpl);
}

/* ------------------------------------------------------------------ */
/* block devices                                                       */

static void test_scheduler_parse(void **state)
{
	char act[32], all[160];
	bool bfq;
	assert_int_equal(res_blk_scheduler_parse("none [mq-deadline] kyber bfq\n", act, sizeof(act), all, sizeof(all), &bfq), 0);
	assert_string_equal(act, "mq-deadline");
	assert_string_equal(all, "none mq-deadline kyber bfq");
	assert_true(bfq);
	assert_int_equal(res_blk_scheduler_parse("[none] mq-deadline\n", act, sizeof(act), all, sizeof(all), &bfq), 0);
	assert_string_equal(act, "none");
	assert_false(bfq);
	assert_int_equal(res_blk_scheduler_parse("none\n", act, sizeof(act), all, sizeof(all), &bfq), 0);
	assert_string_equal(act, "none");
	assert_int_equal(res_blk_scheduler_parse("mq-deadline bfq\n", act, sizeof(act), all, sizeof(all), &bfq), -EPROTO);
	assert_int_equal(res_blk_scheduler_parse("[a] [b]\n", act, sizeof(act), all, sizeof(all), &bfq), -EPROTO);
	assert_int_equal(res_blk_scheduler_parse("\n", act, sizeof(act), all, sizeof(all), &bfq), -EPROTO);
}

/*
 * A fake sysfs with a partitioned disk: this machine's kernel has no
 * partition table support (CONFIG_MSDOS_PARTITION and EFI are off), so
 * partitions cannot be made for real here.
 */
static void test_blkdev_partition_sysfs(void **state)
{
	char tmpl[] = "/tmp/vireo-sysfs-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct vr_error *err = NULL;
	_cleanup_free_ char *disk = xasprintf("%s/devices/pci0000:00/virtio1/block/sda", tmpl);
	_cleanup_free_ char *part = xasprintf("%s/sda2", disk);
	_cleanup_free_ char *queue = xasprintf("%s/queue", disk);
	_cleanup_free_ char *links = xasprintf("%s/dev/block", tmpl);
	assert_int_equal(mkdir_p(part, 0755), 0);
	assert_int_equal(mkdir_p(queue, 0755), 0);
	assert_int_equal(mkdir_p(links, 0755), 0);
	write_fixture(disk, "dev", "8:0\n");
	write_fixture(part, "dev", "8:2\n");
	write_fixture(part, "partition", "2\n");
	write_fixture(queue, "scheduler", "none [mq-deadline] kyber bfq\n");
	_cleanup_free_ char *l1 = xasprintf("%s/8:2", links), *l0 = xasprintf("%s/8:0", links);
	assert_int_equal(symlink("../../devices/pci0000:00/virtio1/block/sda/sda2", l1), 0);
	assert_int_equal(symlink("../../devices/pci0000:00/virtio1/block/sda", l0), 0);
	struct res_blkdev d;
	assert_int_equal(res_blkdev_from_devnum(tmpl, 8, 2, &d, &err), 0);
	assert_string_equal(d.name, "sda");
	assert_string_equal(d.part, "sda2");
	assert_int_equal(d.major, 8);
	assert_int_equal(d.minor, 0);
	assert_string_equal(d.scheduler, "mq-deadline");
	assert_null(d.loop_backing);
	assert_int_equal(res_blkdev_check_bfq(&d, "db.vmdk", &err), -EOPNOTSUPP);
	assert_string_equal(err->msg,
			    "disk shares of \"db.vmdk\" cannot be enforced: it is on sda (8:0), whose I/O scheduler is mq-deadline, not bfq (offered: none mq-deadline kyber bfq; to switch: echo bfq > /sys/block/sda/queue/scheduler)");
	vr_error_freep(&err);
	res_blkdev_clear(&d);
	/* The whole disk itself. */
	assert_int_equal(res_blkdev_from_devnum(tmpl, 8, 0, &d, &err), 0);
	assert_string_equal(d.part, "");
	res_blkdev_clear(&d);
	/* A device-mapper-like disk without a choice of scheduler. */
	write_fixture(queue, "scheduler", "none\n");
	assert_int_equal(res_blkdev_from_devnum(tmpl, 8, 2, &d, &err), 0);
	assert_int_equal(res_blkdev_check_bfq(&d, "db.vmdk", &err), -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "which does not offer bfq (offered: none)"));
	vr_error_freep(&err);
	res_blkdev_clear(&d);
	assert_int_equal(res_blkdev_from_devnum(tmpl, 8, 9, &d, &err), -ENOENT);
	vr_error_freep(&err);
	rm_rf(tmpl);
}

/* ------------------------------------------------------------------ */
/* cgroups: fake v2 tree (the v2 variant's files), then the real thing */

static void put(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	char *text = NULL;
	assert_int_equal(file_read_all(path, 65536, &text, NULL, NULL), 0);
	return text;
}

static void assert_file(const char *dir, const char *name, const char *want)
{
	_cleanup_free_ char *text = get(dir, name);
	assert_string_equal(text, want);
}

static void test_cgroup_v2_files(void **state)
{
	char tmpl[] = "/tmp/vireo-cg2-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct vr_error *err = NULL;
	_cleanup_free_ char *mi = xasprintf("%s/mountinfo", tmpl);
	_cleanup_free_ char *root = xasprintf("%s/root", tmpl);
	_cleanup_free_ char *parent = xasprintf("%s/vireo", root);
	_cleanup_free_ char *vm = xasprintf("%s/vm1", parent);
	assert_int_equal(mkdir_p(vm, 0755), 0);
	_cleanup_free_ char *mitext = xasprintf("41 31 0:38 / %s rw,relatime - cgroup2 cgroup2 rw\n", root);
	put(tmpl, "mountinfo", mitext);
	/* A tmpfs does not make a group's files as cgroupfs does: lay them out. */
	put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
	put(root, "cgroup.subtree_control", "");
	put(parent, "cgroup.subtree_control", "");
	const char *files[] = {"cpu.weight", "cpu.max", "memory.max", "memory.min", "io.bfq.weight", "cgroup.procs"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		put(vm, files[i], "");
	put(vm, "cpu.stat", "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\n");
	put(vm, "memory.current", "1048576\n");
	put(vm, "memory.stat", "anon 4096\nfile 8192\nkernel 100\n");
	put(vm, "memory.swap.current", "512\n");

	struct res_cgroup_params params = {.mountinfo_path = mi};
	struct res_cgroup_system *sys = NULL;
	assert_int_equal(res_cgroup_system_open(&params, &sys, &err), 0);
	assert_string_equal(res_cgroup_system_version(sys), "v2");
	struct res_cgroup *cg = NULL;
	assert_int_equal(res_cgroup_create(sys, "vm1", &cg, &err), 0);
	assert_file(root, "cgroup.subtree_control", "+cpu +memory +io");
	assert_file(parent, "cgroup.subtree_control", "+cpu +memory +io");
	assert_string_equal(res_cgroup_dir(cg, "memory"), vm);

	struct res_io_device_weight devs[] = {{7, 3, 300}};
	struct res_cgroup_settings s = {
		.cpu_shares = 2048, .cpu_limit_mhz = 1300, .host_core_mhz = 2600,
		.mem_limit_mib = 256, .mem_reservation_mib = 128, .io_weight = 200,
		.io_devices = devs, .n_io_devices = 1,
	};
	assert_int_equal(res_cgroup_apply(cg, &s, &err), 0);
	assert_file(vm, "cpu.weight", "79");
	assert_file(vm, "cpu.max", "50000 100000");
	assert_file(vm, "memory.max", "268435456");
	assert_file(vm, "memory.min", "134217728");
	assert_file(vm, "io.bfq.weight", "7:3 300"); /* the last write */
	put(vm, "io.bfq.weight", "default 200\n7:3 300\n"); /* what the kernel shows */
	struct res_cgroup_values v;
	assert_int_equal(res_cgroup_read_values(cg, &v, &err), 0);
	assert_int_equal(v.cpu_weight, 79);
	assert_int_equal(v.cpu_quota_us, 50000);
	assert_int_equal(v.cpu_period_us, 100000);
	assert_int_equal(v.mem_limit_bytes, 256u << 20);
	assert_int_equal(v.mem_guarantee_bytes, 128u << 20);
	assert_int_equal(v.io_weight, 200);

	struct res_cgroup_settings unl = {.cpu_shares = 1000};
	assert_int_equal(res_cgroup_apply(cg, &unl, &err), 0);
	assert_file(vm, "cpu.max", "max 100000");
	assert_file(vm, "memory.max", "max");
	assert_file(vm, "memory.min", "0");
	assert_int_equal(res_cgroup_read_values(cg, &v, &err), 0);
	assert_int_equal(v.cpu_quota_us, -1);
	assert_true(v.mem_limit_bytes == UINT64_MAX);

	struct res_cgroup_usage u;
	assert_int_equal(res_cgroup_usage(cg, &u, &err), 0);
	assert_int_equal(u.cpu_usage_ns, 5000000);
	assert_int_equal(u.cpu_nr_periods, 10);
	assert_int_equal(u.cpu_nr_throttled, 2);
	assert_int_equal(u.cpu_throttled_ns, 300000);
	assert_int_equal(u.mem_usage_bytes, 1048576);
	assert_int_equal(u.mem_anon_bytes, 4096);
	assert_int_equal(u.mem_file_bytes, 8192);
	assert_int_equal(u.mem_swap_bytes, 512);

	assert_int_equal(res_cgroup_attach(cg, 4242, &err), 0);
	assert_file(vm, "cgroup.procs", "4242");
	put(vm, "memory.stat", "kernel 100\n");
	assert_int_equal(res_cgroup_usage(cg, &u, &err), -EPROTO);
	assert_non_null(strstr(err->msg, "lacks anon or file"));
	vr_error_freep(&err);
	/* No io.bfq.weight (bfq not loaded): refused before anything is written. */
	_cleanup_free_ char *bfqfile = xasprintf("%s/io.bfq.weight", vm);
	assert_int_equal(unlink(bfqfile), 0);
	put(vm, "cpu.weight", "7");
	struct res_cgroup_settings withio = {.cpu_shares = 2048, .io_weight = 100};
	assert_int_equal(res_cgroup_apply(cg, &withio, &err), -EOPNOTSUPP);
	assert_string_equal(err->msg, "cannot apply the resource settings of \"vm1\": disk shares cannot be enforced: there is no io.bfq.weight (the bfq scheduler is not loaded)");
	vr_error_freep(&err);
	assert_file(vm, "cpu.weight", "7");
	res_cgroup_free(cg);
	res_cgroup_system_free(sys);

	/* A cgroup2 mount without cpu and memory, and no v1: refused with the reason. */
	put(root, "cgroup.controllers", "hugetlb\n");
	assert_int_equal(res_cgroup_system_open(&params, &sys, &err), -EOPNOTSUPP);
	assert_string_equal(err->msg, "no usable cgroup hierarchy: cgroup v2 offers no cpu and memory controllers, and v1 lacks cpu, cpuacct, memory");
	vr_error_freep(&err);
	rm_rf(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_parse),
		cmocka_unit_test(test_shares_mapping),
		cmocka_unit_test(test_settings_validate),
		cmocka_unit_test(test_mountinfo_parse),
		cmocka_unit_test(test_proc_cgroup_path),
		cmocka_unit_test(test_flat_keyed),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_admission_own_settings),
		cmocka_unit_test(test_mem_states),
		cmocka_unit_test(test_balloon_no_pressure),
		cmocka_unit_test(test_balloon_idle_first),
		cmocka_unit_test(test_balloon_reservation),
		cmocka_unit_test(test_balloon_shares),
		cmocka_unit_test(test_balloon_hysteresis),
		cmocka_unit_test(test_balloon_limit),
		cmocka_unit_test(test_balloon_groups),
		cmocka_unit_test(test_ksm_parse),
		cmocka_unit_test(test_ksm_fixture_dir),
		cmocka_unit_test(test_scheduler_parse),
		cmocka_unit_test(test_blkdev_partition_sysfs),
		cmocka_unit_test(test_cgroup_v2_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
