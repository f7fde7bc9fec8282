/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live statistics (src/host/stats, src/qemu/stats.c): the ring store, the
 * JSON and Prometheus renderers, the /proc and /sys parsers on fixture
 * text and trees, counter deltas across resets, and the checks on what
 * QEMU and the (hostile) guest report.
 */
#include <errno.h>
#include <math.h>
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
#include "host/stats/proc.h"
#include "host/stats/stats.h"
#include "qemu/stats.h"

/* ---- counters ---- */

static void test_counter_delta(void **state)
{
	(void)state;
	assert_int_equal(stats_counter_delta(100, 250), 150);
	assert_int_equal(stats_counter_delta(100, 100), 0);
	/* QEMU restarted: the counter started again from 0; never negative. */
	assert_int_equal(stats_counter_delta(1000000, 30), 30);
	assert_int_equal(stats_counter_delta(1000000, 0), 0);
	assert_int_equal(stats_counter_delta(STATS_UNKNOWN, 30), STATS_UNKNOWN);
	assert_int_equal(stats_counter_delta(30, STATS_UNKNOWN), STATS_UNKNOWN);
	assert_true(stats_rate(100, 2.0) == 50.0);
	assert_true(isnan(stats_rate(STATS_UNKNOWN, 2.0)));
	assert_true(isnan(stats_rate(10, 0.0)));
	/* A series with a reset in the middle: every rate is >= 0. */
	const int64_t series[] = {0, 500, 1200, 40, 90, 90, 7000};
	for (size_t i = 1; i < ARRAY_SIZE(series); i++) {
		double r = stats_rate(stats_counter_delta(series[i - 1], series[i]), 20.0);
		assert_true(r >= 0.0);
	}
	assert_true(stats_rate(stats_counter_delta(1200, 40), 20.0) == 2.0);
}

static void test_threads_delta(void **state)
{
	(void)state;
	const struct stats_thread_times prev[] = {
		{.tid = 10, .run_ns = 1000, .wait_ns = 100},
		{.tid = 11, .run_ns = 5000, .wait_ns = 500}, /* ends */
		{.tid = 12, .run_ns = 9000, .wait_ns = 900}, /* id reused by a new thread */
	};
	const struct stats_thread_times cur[] = {
		{.tid = 10, .run_ns = 1600, .wait_ns = 150},
		{.tid = 12, .run_ns = 300, .wait_ns = 30},
		{.tid = 13, .run_ns = 2000, .wait_ns = 7}, /* new */
	};
	uint64_t run, wait;
	stats_threads_delta(prev, 3, cur, 3, &run, &wait);
	assert_int_equal(run, 600 + 300 + 2000);
	assert_int_equal(wait, 50 + 30 + 7);
	/* First reading: everything so far. */
	stats_threads_delta(NULL, 0, cur, 3, &run, &wait);
	assert_int_equal(run, 1600 + 300 + 2000);
	stats_threads_delta(cur, 3, NULL, 0, &run, &wait);
	assert_int_equal(run, 0);
	assert_int_equal(wait, 0);
}

/* ---- /proc and /sys parsers ---- */

static const char proc_stat[] =
	"cpu  4705 356 584 3699 23 0 23 5 12 0\n"
	"cpu0 1393 280 290 1849 3 0 20 2 6 0\n"
	"cpu1 3312 76 294 1850 20 0 3 3 6 0\n"
	"intr 114930548 113199788 3 0 5 263 0 4 [... lots more numbers ...]\n"
	"ctxt 1990473\nbtime 1062191376\nprocesses 2915\nprocs_running 1\n";

static void test_parse_proc_stat(void **state)
{
	(void)state;
	struct stats_proc_cpu c;
	assert_int_equal(stats_parse_proc_stat(proc_stat, &c), 0);
	assert_int_equal(c.ncpu, 2);
	assert_int_equal(c.busy, 4705 + 356 + 584 + 0 + 23 + 5);
	assert_int_equal(c.total, c.busy + 3699 + 23);
	/* Old kernels: only four fields. */
	assert_int_equal(stats_parse_proc_stat("cpu  10 0 5 100\ncpu0 10 0 5 100\n", &c), 0);
	assert_int_equal(c.busy, 15);
	assert_int_equal(c.total, 115);
	assert_int_equal(stats_parse_proc_stat("cpu  1 2\n", &c), -EINVAL);
	assert_int_equal(stats_parse_proc_stat("intr 5\n", &c), -EINVAL);
	assert_int_equal(stats_parse_proc_stat("cpu  99999999999999999999999 1 1 1\n", &c), -EINVAL);
	assert_int_equal(stats_parse_proc_stat("", &c), -EINVAL);
}

static void test_parse_meminfo_status(void **state)
{
	(void)state;
	struct stats_meminfo m;
	assert_int_equal(stats_parse_meminfo("MemTotal:        8052904 kB\n"
					     "MemFree:          512000 kB\n"
					     "MemAvailable:    4026452 kB\n"
					     "Buffers:           1 kB\n"
					     "SwapTotal:       2097148 kB\n"
					     "SwapFree:        2097000 kB\n"
					     "HugePages_Total:       0\n",
					     &m),
			 0);
	assert_int_equal(m.total, 8052904LL * 1024);
	assert_int_equal(m.available, 4026452LL * 1024);
	assert_int_equal(m.free, 512000LL * 1024);
	assert_int_equal(m.swap_total - m.swap_free, 148 * 1024);
	assert_int_equal(stats_parse_meminfo("MemFree: 5 kB\n", &m), -EINVAL);
	assert_int_equal(m.available, STATS_UNKNOWN);

	struct stats_pid_status st;
	assert_int_equal(stats_parse_pid_status("Name:\tqemu-system-x86\n"
						"VmRSS:\t  300000 kB\n"
						"RssAnon:\t  262144 kB\n"
						"RssFile:\t   30000 kB\n"
						"RssShmem:\t    1024 kB\n"
						"VmSwap:\t       8 kB\n"
						"Threads:\t5\n",
						&st),
			 0);
	assert_int_equal(st.rss_anon, 262144LL * 1024);
	assert_int_equal(st.rss_shmem, 1024 * 1024);
	assert_int_equal(st.vm_swap, 8 * 1024);
	/* Kernel threads have no memory lines; an absurd value is unknown. */
	assert_int_equal(stats_parse_pid_status("Name:\tkthreadd\nThreads:\t1\n", &st), -ENOENT);
	assert_int_equal(stats_parse_pid_status("RssAnon:\t18446744073709551 kB\n", &st), -ENOENT);
}

static void test_parse_small_files(void **state)
{
	(void)state;
	uint64_t run, wait, v;
	assert_int_equal(stats_parse_schedstat("223589415 20300228 766\n", &run, &wait), 0);
	assert_int_equal(run, 223589415);
	assert_int_equal(wait, 20300228);
	assert_int_equal(stats_parse_schedstat("12\n", &run, &wait), -EINVAL);
	assert_int_equal(stats_parse_schedstat("-1 2 3\n", &run, &wait), -EINVAL);
	assert_int_equal(stats_parse_u64("4096\n", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(stats_parse_u64("12 13\n", &v), -EINVAL);
	assert_int_equal(stats_parse_u64("x", &v), -EINVAL);
	assert_int_equal(stats_parse_u64("18446744073709551616", &v), -EINVAL);
	assert_int_equal(stats_parse_cpuinfo_mhz("processor\t: 0\nvendor_id\t: GenuineIntel\n"
						 "cpu MHz\t\t: 2399.998\ncache size\t: 4 MB\n"),
			 2399);
	assert_int_equal(stats_parse_cpuinfo_mhz("processor\t: 0\n"), 0);
}

static char *fixture_dir(void)
{
	char tmpl[] = "/tmp/vireo-test-stats-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_read_threads_and_netdev(void **state)
{
	(void)state;
	_cleanup_free_ char *root = fixture_dir();
	_cleanup_free_ char *task = xasprintf("%s/4242/task", root);
	assert_int_equal(mkdir_p(task, 0755), 0);
	const struct {
		const char *tid, *text;
	} threads[] = {{"4250", "700 70 3\n"}, {"4242", "1000 10 5\n"}, {"4244", "garbage\n"},
		       {"4243", "200 20 1\n"}};
	for (size_t i = 0; i < ARRAY_SIZE(threads); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", task, threads[i].tid);
		assert_int_equal(mkdir(d, 0755), 0);
		_cleanup_free_ char *f = xasprintf("%s/schedstat", d);
		write_file(f, threads[i].text);
	}
	struct stats_thread_times *t = NULL;
	size_t n = 0;
	assert_int_equal(stats_read_threads(root, 4242, &t, &n), 0);
	assert_int_equal(n, 3); /* the unparsable one is skipped */
	assert_int_equal(t[0].tid, 4242);
	assert_int_equal(t[1].tid, 4243);
	assert_int_equal(t[2].tid, 4250);
	assert_int_equal(t[2].run_ns, 700);
	assert_int_equal(t[2].wait_ns, 70);
	free(t);
	assert_int_equal(stats_read_threads(root, 999, &t, &n), -ENOENT);

	_cleanup_free_ char *stat = xasprintf("%s/class/net/vt1234abcdn0/statistics", root);
	assert_int_equal(mkdir_p(stat, 0755), 0);
	const char *names[] = {"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped"};
	const char *vals[] = {"11\n", "22\n", "3300\n", "4400\n", "5\n"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", stat, names[i]);
		write_file(f, vals[i]);
	}
	struct stats_netdev d;
	assert_int_equal(stats_read_netdev(root, "vt1234abcdn0", &d), 0);
	assert_int_equal(d.rx_packets, 11);
	assert_int_equal(d.tx_bytes, 4400);
	assert_int_equal(d.rx_dropped, 5);
	assert_int_equal(d.tx_dropped, STATS_UNKNOWN); /* missing file */
	assert_int_equal(stats_read_netdev(root, "nosuch0", &d), -ENOENT);
	assert_int_equal(stats_read_netdev(root, "../../etc", &d), -EINVAL);
	assert_int_equal(rm_rf(root), 0);
}

/* ---- the store ---- */

static void vm_sample(struct stats_vm_sample *s, int64_t t, size_t n_disks)
{
	stats_vm_sample_init(s);
	s->time_ms = t;
	s->cpu_used_pct = (double)t;
	s->n_disks = n_disks;
	s->disks = xcalloc(n_disks ? n_disks : 1, sizeof(*s->disks));
	for (size_t i = 0; i < n_disks; i++) {
		snprintf(s->disks[i].name, sizeof(s->disks[i].name), "scsi0:%zu", i);
		s->disks[i].wr_ops = t / 1000 * 10 + (int64_t)i;
	}
}

static void test_ring_wraparound(void **state)
{
	(void)state;
	struct stats_store *st = stats_store_new(4, 1000);
	for (int64_t t = 0; t < 10; t++) {
		struct stats_host_sample h;
		stats_host_sample_init(&h);
		h.time_ms = t * 1000;
		h.cpu_used_pct = (double)t;
		stats_store_add_host(st, &h);
		struct stats_vm_sample v;
		vm_sample(&v, t * 1000, (size_t)(t % 3));
		stats_store_add_vm(st, "vm-a", "web01", 2, &v);
		/* The store owns a copy: changing ours afterwards changes nothing there. */
		if (v.n_disks)
			v.disks[0].wr_ops = -5;
		stats_vm_sample_clear(&v);
	}
	struct stats_series s;
	assert_true(stats_store_history(st, NULL, 0, &s));
	assert_int_equal(s.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(s.host[i].time_ms, (int64_t)(6 + i) * 1000); /* oldest first */
	stats_series_free(&s);

	assert_true(stats_store_history(st, "vm-a", 8000, &s));
	assert_int_equal(s.n, 2);
	assert_string_equal(s.name, "web01");
	assert_int_equal(s.vcpus, 2);
	assert_int_equal(s.vm[0].time_ms, 8000);
	assert_int_equal(s.vm[0].n_disks, 2);
	assert_int_equal(s.vm[0].disks[1].wr_ops, 81);
	assert_int_equal(s.vm[0].disks[0].wr_ops, 80);
	assert_int_equal(s.vm[1].n_disks, 0);
	stats_series_free(&s);
	assert_false(stats_store_history(st, "vm-b", 0, &s));

	/* Latest: only VMs sampled in the newest round. */
	struct stats_vm_sample v;
	vm_sample(&v, 5000, 1);
	stats_store_add_vm(st, "vm-old", "old", 1, &v);
	stats_vm_sample_clear(&v);
	struct stats_series host, *vms;
	size_t n;
	stats_store_latest(st, &host, &vms, &n);
	assert_int_equal(host.n, 1);
	assert_int_equal(host.host[0].time_ms, 9000);
	assert_int_equal(n, 1);
	assert_string_equal(vms[0].id, "vm-a");
	assert_int_equal(vms[0].n, 1);
	assert_int_equal(vms[0].vm[0].time_ms, 9000);
	stats_series_free(&host);
	stats_series_free(&vms[0]);
	free(vms);

	/* Pruning: unregistered VMs and VMs without a recent sample go. */
	assert_int_equal(stats_store_vm_count(st), 2);
	const char *ids[] = {"vm-a", "vm-old"};
	stats_store_prune(st, ids, 2, 6000);
	assert_int_equal(stats_store_vm_count(st), 1);
	stats_store_prune(st, ids, 1, 0);
	assert_int_equal(stats_store_vm_count(st), 1);
	stats_store_prune(st, NULL, 0, 0);
	assert_int_equal(stats_store_vm_count(st), 0);
	stats_store_free(st);
}

/* ---- renderers ---- */

static void test_json(void **state)
{
	(void)state;
	struct stats_vm_sample v;
	vm_sample(&v, 1795320874000, 1);
	v.cpu_ready_pct = NAN;
	v.mem_granted = 268435456;
	v.disks[0].rd_latency_ms = 1.234567;
	json_t *o = stats_vm_sample_json(&v);
	assert_true(json_is_null(json_object_get(json_object_get(o, "cpu"), "ready_pct")));
	assert_true(json_is_null(json_object_get(json_object_get(o, "memory"), "active_bytes")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "memory"),
							    "granted_bytes")),
			 268435456);
	json_t *d = json_array_get(json_object_get(o, "disks"), 0);
	assert_string_equal(json_string_value(json_object_get(d, "disk")), "scsi0:0");
	assert_true(fabs(json_real_value(json_object_get(d, "read_latency_ms")) - 1.23) < 1e-9);
	assert_string_equal(json_string_value(json_object_get(o, "time")), "2026-11-22T04:14:34Z");
	json_decref(o);
	stats_vm_sample_clear(&v);
}

/* Checks the text format line by line; returns the number of sample lines. */
static size_t check_exposition(const char *text)
{
	char type_of[64][96];
	size_t n_types = 0, samples = 0;
	char last_help[96] = "";
	_cleanup_free_ char *copy = xstrdup(text);
	assert_true(copy[strlen(copy) - 1] == '\n');
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[96];
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%95s", last_help), 1);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char type[32];
			assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
			assert_string_equal(name, last_help); /* HELP right before TYPE */
			assert_true(strcmp(type, "gauge") == 0 || strcmp(type, "counter") == 0);
			if (strcmp(type, "counter") == 0)
				assert_true(str_has_suffix(name, "_total"));
			for (size_t i = 0; i < n_types; i++)
				assert_string_not_equal(type_of[i], name); /* one family, one block */
			assert_true(n_types < 64);
			snprintf(type_of[n_types++], sizeof(type_of[0]), "%s", name);
			continue;
		}
		assert_true(line[0] != '#');
		/* name{labels} value: the family is the last TYPE seen. */
		size_t len = strcspn(line, "{ ");
		assert_true(len > 0 && len < sizeof(name));
		memcpy(name, line, len);
		name[len] = '\0';
		assert_true(n_types > 0);
		assert_string_equal(name, type_of[n_types - 1]);
		const char *value = strrchr(line, ' ');
		assert_non_null(value);
		char *end;
		double v = strtod(value + 1, &end);
		assert_true(*end == '\0' && isfinite(v));
		assert_null(strstr(line, "nan"));
		samples++;
	}
	return samples;
}

static void test_prometheus(void **state)
{
	(void)state;
	struct stats_series host = {0};
	host.n = 1;
	host.host = xcalloc(1, sizeof(*host.host));
	stats_host_sample_init(&host.host[0]);
	host.host[0].cpu_used_pct = 25.0;
	host.host[0].mem_total = 8LL << 30;
	host.host[0].vms_running = 2;

	struct stats_series vms[2] = {0};
	const char *names[] = {"web \"01\"\\prod\nx", "db"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(vms[i].id, sizeof(vms[i].id), "564d0000-0000-0000-0000-00000000000%zu", i);
		snprintf(vms[i].name, sizeof(vms[i].name), "%s", names[i]);
		vms[i].vcpus = 2;
		vms[i].n = 1;
		vms[i].vm = xcalloc(1, sizeof(*vms[i].vm));
		vm_sample(&vms[i].vm[0], 1000, i + 1);
		vms[i].vm[0].cpu_ready_ns_total = 1500000000;
		vms[i].vm[0].cpu_ready_pct = 3.0;
	}
	vms[1].vm[0].cpu_ready_ns_total = STATS_UNKNOWN; /* left out */
	vms[1].vm[0].n_nics = 1;
	vms[1].vm[0].nics = xcalloc(1, sizeof(struct stats_nic_sample));
	struct stats_nic_sample *nic = &vms[1].vm[0].nics[0];
	snprintf(nic->name, sizeof(nic->name), "ethernet0");
	snprintf(nic->device, sizeof(nic->device), "vt564d0000n0");
	nic->rx_packets = 7;
	nic->tx_packets = nic->rx_bytes = nic->tx_bytes = nic->rx_drops = nic->tx_drops = 0;

	char *text = stats_prometheus_render(&host, vms, 2, 20000);
	size_t samples = check_exposition(text);
	assert_true(samples > 20);
	assert_non_null(strstr(text, "# TYPE vireo_host_cpu_used_ratio gauge\n"
				     "vireo_host_cpu_used_ratio 0.25\n"));
	assert_non_null(strstr(text, "# TYPE vireo_vm_cpu_ready_seconds_total counter\n"));
	assert_non_null(strstr(text, "vireo_vm_cpu_ready_seconds_total{vm=\"web \\\"01\\\"\\\\prod\\nx\","
				     "vm_id=\"564d0000-0000-0000-0000-000000000000\"} 1.5\n"));
	assert_null(strstr(text, "vireo_vm_cpu_ready_seconds_total{vm=\"db\""));
	assert_non_null(strstr(text, "vireo_vm_cpu_ready_ratio{vm=\"db\",vm_id=\"564d0000-0000-0000-0000-000000000001\"} 0.03\n"));
	assert_non_null(strstr(text, "vireo_vm_disk_write_ops_total{vm=\"db\",vm_id=\"564d0000-0000-0000-0000-000000000001\",disk=\"scsi0:1\"} 11\n"));
	assert_non_null(strstr(text, "vireo_vm_nic_receive_packets_total{vm=\"db\",vm_id=\"564d0000-0000-0000-0000-000000000001\",nic=\"ethernet0\",device=\"vt564d0000n0\"} 7\n"));
	assert_non_null(strstr(text, "vireo_host_memory_total_bytes 8589934592\n"));
	/* Unknown host values are left out, with their family. */
	assert_null(strstr(text, "vireo_host_swap_used_bytes"));
	free(text);

	/* No VMs, no host sample yet: still well-formed. */
	struct stats_series empty = {0};
	text = stats_prometheus_render(&empty, NULL, 0, 20000);
	check_exposition(text);
	free(text);

	_cleanup_free_ char *e = stats_prometheus_escape_label("a\\b\"c\nd");
	assert_string_equal(e, "a\\\\b\\\"c\\nd");
	stats_series_free(&host);
	for (size_t i = 0; i < 2; i++)
		stats_series_free(&vms[i]);
}

/* ---- QEMU's answers ---- */

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	assert_non_null(j);
	return j;
}

static void test_qemu_blockstats(void **state)
{
	(void)state;
	json_t *ret = load(
		"[{\"device\": \"\", \"qdev\": \"scsi0-0\", \"stats\": {"
		"\"rd_operations\": 10, \"wr_operations\": 20, \"rd_bytes\": 4096, \"wr_bytes\": 8192,"
		"\"rd_total_time_ns\": 1000000, \"wr_total_time_ns\": 3000000, \"flush_operations\": 2,"
		"\"flush_total_time_ns\": 5}},"
		"{\"device\": \"\", \"qdev\": \"/machine/peripheral/vda0/virtio-backend\", \"stats\": {"
		"\"rd_operations\": 1, \"wr_operations\": 2, \"rd_bytes\": 3, \"wr_bytes\": 4,"
		"\"rd_total_time_ns\": 5, \"wr_total_time_ns\": 6}},"
		"{\"device\": \"pflash0\", \"stats\": {}},"
		"{\"device\": \"\", \"qdev\": \"/machine/unattached/device[3]\", \"stats\": {}}]");
	struct qemu_blockstat *b = NULL;
	size_t n = 0;
	assert_int_equal(qemu_blockstats_parse(ret, &b, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(b[0].device, "scsi0-0");
	assert_int_equal(b[0].wr_ops, 20);
	assert_int_equal(b[0].wr_time_ns, 3000000);
	assert_string_equal(b[1].device, "vda0");
	free(b);
	json_decref(ret);

	const char *bad[] = {
		"{}",
		"[{\"qdev\": \"/machine/peripheral/scsi0-0\", \"stats\": {\"rd_operations\": -1,"
		"\"wr_operations\": 0, \"rd_bytes\": 0, \"wr_bytes\": 0, \"rd_total_time_ns\": 0,"
		"\"wr_total_time_ns\": 0}}]",
		"[{\"qdev\": \"/machine/peripheral/scsi0-0\", \"stats\": {\"rd_operations\": \"1\"}}]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ret = load(bad[i]);
		struct vr_error *err = NULL;
		assert_true(qemu_blockstats_parse(ret, &b, &n, &err) < 0);
		assert_non_null(err);
		assert_null(b);
		vr_error_free(err);
		json_decref(ret);
	}
}

static void test_qemu_guest_mem(void **state)
{
	(void)state;
	const uint64_t mem = 256ull << 20;
	json_t *ret = load("{\"last-update\": 1795320874, \"stats\": {"
			   "\"stat-total-memory\": 251658240, \"stat-free-memory\": 150000000,"
			   "\"stat-available-memory\": 200000000, \"stat-disk-caches\": 20000000,"
			   "\"stat-swap-in\": 0, \"stat-swap-out\": 0, \"stat-major-faults\": 3,"
			   "\"stat-minor-faults\": 9000, \"stat-htlb-pgalloc\": 0,"
			   "\"stat-htlb-pgfail\": 0}}");
	struct qemu_guest_mem g;
	assert_int_equal(qemu_guest_mem_parse(ret, mem, &g, NULL), 0);
	assert_int_equal(g.last_update, 1795320874);
	assert_int_equal(g.total, 251658240);
	assert_int_equal(g.available, 200000000);
	assert_int_equal(g.caches, 20000000);
	assert_int_equal(g.minor_faults, 9000);
	json_decref(ret);

	/* A hostile guest: more memory than the VM has, negative and non-numeric values,
	 * free + caches above the total. */
	ret = load("{\"last-update\": 5, \"stats\": {"
		   "\"stat-total-memory\": 999999999999, \"stat-free-memory\": -5,"
		   "\"stat-available-memory\": \"lots\", \"stat-disk-caches\": 268435456,"
		   "\"stat-major-faults\": -1}}");
	assert_int_equal(qemu_guest_mem_parse(ret, mem, &g, NULL), 0);
	assert_int_equal(g.total, -1);
	assert_int_equal(g.free, -1);
	assert_int_equal(g.available, -1);
	assert_int_equal(g.caches, 268435456); /* within the VM's memory, the only bound left */
	assert_int_equal(g.major_faults, -1);
	json_decref(ret);
	ret = load("{\"last-update\": 5, \"stats\": {\"stat-total-memory\": 1000,"
		   "\"stat-free-memory\": 900, \"stat-disk-caches\": 900, \"stat-available-memory\": 1001}}");
	assert_int_equal(qemu_guest_mem_parse(ret, mem, &g, NULL), 0);
	assert_int_equal(g.free, 900);
	assert_int_equal(g.caches, -1);
	assert_int_equal(g.available, -1);
	json_decref(ret);
	ret = load("{\"stats\": {}}");
	struct vr_error *err = NULL;
	assert_true(qemu_guest_mem_parse(ret, mem, &g, &err) < 0);
	vr_error_free(err);
	json_decref(ret);

	int64_t actual;
	ret = load("{\"actual\": 134217728}");
	assert_int_equal(qemu_balloon_parse(ret, mem, &actual, NULL), 0);
	assert_int_equal(actual, 134217728);
	json_decref(ret);
	ret = load("{\"actual\": 999999999999}");
	assert_int_equal(qemu_balloon_parse(ret, mem, &actual, NULL), 0);
	assert_int_equal(actual, (int64_t)mem);
	json_decref(ret);
	ret = load("{\"actual\": -3}");
	assert_true(qemu_balloon_parse(ret, mem, &actual, NULL) < 0);
	json_decref(ret);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_delta),
		cmocka_unit_test(test_threads_delta),
		cmocka_unit_test(test_parse_proc_stat),
		cmocka_unit_test(test_parse_meminfo_status),
		cmocka_unit_test(test_parse_small_files),
		cmocka_unit_test(test_read_threads_and_netdev),
		cmocka_unit_test(test_ring_wraparound),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_qemu_blockstats),
		cmocka_unit_test(test_qemu_guest_mem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
