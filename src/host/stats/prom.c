/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metric definitions and their rendering in the Prometheus text
 * exposition format 0.0.4 (GET /metrics).  Each family is written whole:
 * "# HELP", "# TYPE", then one line per series; unknown values are left
 * out.  Counters are the cumulative values (QEMU's, the kernel's, or the
 * sampler's sums of per-interval CPU time), gauges the latest sample.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "host/stats/stats.h"

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
}

char *stats_prometheus_escape_label(const char *value)
{
	size_t n = 0;
	for (const char *s = value; *s; s++)
		n += (*s == '\\' || *s == '"' || *s == '\n') ? 2 : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *s = value; *s; s++) {
		if (*s == '\\' || *s == '"') {
			*o++ = '\\';
			*o++ = *s;
		} else if (*s == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

/* Counters and integer gauges print as integers, the rest with enough digits. */
static void put_value(struct buf *b, double v)
{
	if (v == floor(v) && fabs(v) < 9e15)
		buf_printf(b, "%.0f\n", v);
	else
		buf_printf(b, "%.9g\n", v);
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- the definitions ---- */

typedef double (*host_get_fn)(const struct stats_host_sample *s);
typedef double (*vm_get_fn)(const struct stats_vm_sample *s);
typedef double (*disk_get_fn)(const struct stats_disk_sample *d);
typedef double (*nic_get_fn)(const struct stats_nic_sample *n);

static double known(int64_t v)
{
	return v >= 0 ? (double)v : NAN;
}
static double seconds(int64_t ns)
{
	return ns >= 0 ? (double)ns / 1e9 : NAN;
}
static double ratio(double pct)
{
	return pct / 100.0;
}

#define HOST_GET(fn, expr)                                       \
	static double fn(const struct stats_host_sample *s) \
	{                                                        \
		return expr;                                     \
	}
HOST_GET(h_cpu_ratio, ratio(s->cpu_used_pct))
HOST_GET(h_cpu_mhz, s->cpu_used_mhz)
HOST_GET(h_cpu_count, known(s->cpu_count))
HOST_GET(h_cpu_capacity, known(s->cpu_capacity_mhz))
HOST_GET(h_cpu_seconds, seconds(s->cpu_used_ns_total))
HOST_GET(h_mem_total, known(s->mem_total))
HOST_GET(h_mem_used, known(s->mem_used))
HOST_GET(h_mem_available, known(s->mem_available))
HOST_GET(h_swap_used, known(s->swap_used))
HOST_GET(h_ksm_shared, known(s->ksm_shared))
HOST_GET(h_vms_running, known(s->vms_running))
HOST_GET(h_sample_seconds, s->sample_ms / 1000.0)
HOST_GET(h_sampler_cpu, seconds(s->sampler_cpu_ns_total))

static const struct {
	const char *name, *type, *help;
	host_get_fn get;
} host_metrics[] = {
	{"vireo_host_cpu_used_ratio", "gauge", "Share of all cores busy over the last interval (1 = every core).", h_cpu_ratio},
	{"vireo_host_cpu_used_mhz", "gauge", "CPU used over the last interval in MHz (cores x nominal clock x used ratio).", h_cpu_mhz},
	{"vireo_host_cpu_count", "gauge", "Logical CPUs of the host.", h_cpu_count},
	{"vireo_host_cpu_capacity_mhz", "gauge", "Logical CPUs times their nominal clock in MHz.", h_cpu_capacity},
	{"vireo_host_cpu_used_seconds_total", "counter", "Busy time of all cores since boot (/proc/stat).", h_cpu_seconds},
	{"vireo_host_memory_total_bytes", "gauge", "Physical memory of the host.", h_mem_total},
	{"vireo_host_memory_used_bytes", "gauge", "Memory in use: total minus available (/proc/meminfo).", h_mem_used},
	{"vireo_host_memory_available_bytes", "gauge", "Memory available without swapping (MemAvailable).", h_mem_available},
	{"vireo_host_swap_used_bytes", "gauge", "Swap space in use.", h_swap_used},
	{"vireo_host_ksm_shared_bytes", "gauge", "Memory saved by kernel same-page merging (pages_sharing x page size).", h_ksm_shared},
	{"vireo_host_vms_running", "gauge", "VMs powered on.", h_vms_running},
	{"vireo_stats_sample_duration_seconds", "gauge", "Wall time the last round of sampling took.", h_sample_seconds},
	{"vireo_stats_sampler_cpu_seconds_total", "counter", "CPU time used by hostd's statistics sampler.", h_sampler_cpu},
};

#define VM_GET(fn, expr)                                       \
	static double fn(const struct stats_vm_sample *s) \
	{                                                      \
		return expr;                                   \
	}
VM_GET(v_cpu_used_ratio, ratio(s->cpu_used_pct))
VM_GET(v_cpu_ready_ratio, ratio(s->cpu_ready_pct))
VM_GET(v_cpu_used_seconds, seconds(s->cpu_used_ns_total))
VM_GET(v_cpu_ready_seconds, seconds(s->cpu_ready_ns_total))
VM_GET(v_paused, s->paused ? 1.0 : 0.0)
VM_GET(v_mem_configured, known(s->mem_configured))
VM_GET(v_mem_granted, known(s->mem_granted))
VM_GET(v_mem_consumed, known(s->mem_consumed))
VM_GET(v_mem_active, known(s->mem_active))
VM_GET(v_mem_ballooned, known(s->mem_ballooned))
VM_GET(v_mem_shared, known(s->mem_shared))
VM_GET(v_mem_swapped, known(s->mem_swapped))

static const struct {
	const char *name, *type, *help;
	vm_get_fn get;
} vm_metrics[] = {
	{"vireo_vm_cpu_used_ratio", "gauge", "CPU time used by the VM's QEMU over the last interval (1 = one core).", v_cpu_used_ratio},
	{"vireo_vm_cpu_ready_ratio", "gauge", "Time the VM's threads were runnable but waited for a core over the last interval (esxtop %RDY / 100).", v_cpu_ready_ratio},
	{"vireo_vm_cpu_used_seconds_total", "counter", "CPU time used by the VM's QEMU threads.", v_cpu_used_seconds},
	{"vireo_vm_cpu_ready_seconds_total", "counter", "Time the VM's QEMU threads were runnable but waiting for a core.", v_cpu_ready_seconds},
	{"vireo_vm_paused", "gauge", "1 when the VM's vCPUs are stopped.", v_paused},
	{"vireo_vm_memory_configured_bytes", "gauge", "Memory size of the VM.", v_mem_configured},
	{"vireo_vm_memory_granted_bytes", "gauge", "Guest memory backed by host memory (QEMU's RssAnon + RssShmem, at most the configured size).", v_mem_granted},
	{"vireo_vm_memory_consumed_bytes", "gauge", "Granted memory minus the VM's share of page-sharing savings.", v_mem_consumed},
	{"vireo_vm_memory_active_bytes", "gauge", "Memory the guest uses (its total minus available, from the balloon driver's statistics).", v_mem_active},
	{"vireo_vm_memory_ballooned_bytes", "gauge", "Memory reclaimed by the balloon driver (configured minus the balloon's actual size).", v_mem_ballooned},
	{"vireo_vm_memory_shared_bytes", "gauge", "VM memory merged by KSM (ksm_merging_pages x page size).", v_mem_shared},
	{"vireo_vm_memory_swapped_bytes", "gauge", "VM memory swapped out by the host (VmSwap).", v_mem_swapped},
};

#define DISK_GET(fn, expr)                                       \
	static double fn(const struct stats_disk_sample *d) \
	{                                                        \
		return expr;                                     \
	}
DISK_GET(d_rd_ops, known(d->rd_ops))
DISK_GET(d_wr_ops, known(d->wr_ops))
DISK_GET(d_rd_bytes, known(d->rd_bytes))
DISK_GET(d_wr_bytes, known(d->wr_bytes))
DISK_GET(d_rd_time, seconds(d->rd_time_ns))
DISK_GET(d_wr_time, seconds(d->wr_time_ns))

static const struct {
	const char *name, *type, *help;
	disk_get_fn get;
} disk_metrics[] = {
	{"vireo_vm_disk_read_ops_total", "counter", "Read requests completed by the virtual disk.", d_rd_ops},
	{"vireo_vm_disk_write_ops_total", "counter", "Write requests completed by the virtual disk.", d_wr_ops},
	{"vireo_vm_disk_read_bytes_total", "counter", "Bytes read by the virtual disk.", d_rd_bytes},
	{"vireo_vm_disk_write_bytes_total", "counter", "Bytes written by the virtual disk.", d_wr_bytes},
	{"vireo_vm_disk_read_time_seconds_total", "counter", "Total latency of the disk's reads (divide its rate by the ops rate for the average latency).", d_rd_time},
	{"vireo_vm_disk_write_time_seconds_total", "counter", "Total latency of the disk's writes.", d_wr_time},
};

#define NIC_GET(fn, expr)                                       \
	static double fn(const struct stats_nic_sample *n) \
	{                                                       \
		return expr;                                    \
	}
NIC_GET(n_rx_packets, known(n->rx_packets))
NIC_GET(n_tx_packets, known(n->tx_packets))
NIC_GET(n_rx_bytes, known(n->rx_bytes))
NIC_GET(n_tx_bytes, known(n->tx_bytes))
NIC_GET(n_rx_drops, known(n->rx_drops))
NIC_GET(n_tx_drops, known(n->tx_drops))

static const struct {
	const char *name, *type, *help;
	nic_get_fn get;
} nic_metrics[] = {
	{"vireo_vm_nic_receive_packets_total", "counter", "Packets the VM's NIC received (its tap's transmit counter).", n_rx_packets},
	{"vireo_vm_nic_transmit_packets_total", "counter", "Packets the VM's NIC sent.", n_tx_packets},
	{"vireo_vm_nic_receive_bytes_total", "counter", "Bytes the VM's NIC received.", n_rx_bytes},
	{"vireo_vm_nic_transmit_bytes_total", "counter", "Bytes the VM's NIC sent.", n_tx_bytes},
	{"vireo_vm_nic_receive_drops_total", "counter", "Packets for the VM dropped on the host side.", n_rx_drops},
	{"vireo_vm_nic_transmit_drops_total", "counter", "Packets from the VM dropped on the host side.", n_tx_drops},
};

/* ---- rendering ---- */

struct vm_labels {
	char *name;
	const char *id;
};

char *stats_prometheus_render(const struct stats_series *host, const struct stats_series *vms,
			      size_t n_vms, unsigned interval_ms)
{
	struct buf b = {.p = xmalloc(4096), .cap = 4096};
	b.p[0] = '\0';
	family(&b, "vireo_stats_interval_seconds", "gauge", "Sampling interval of the statistics.");
	buf_printf(&b, "vireo_stats_interval_seconds %.9g\n", (double)interval_ms / 1000.0);

	const struct stats_host_sample *hs = host && host->n ? &host->host[host->n - 1] : NULL;
	for (size_t m = 0; hs && m < ARRAY_SIZE(host_metrics); m++) {
		double v = host_metrics[m].get(hs);
		if (!isfinite(v))
			continue;
		family(&b, host_metrics[m].name, host_metrics[m].type, host_metrics[m].help);
		buf_printf(&b, "%s ", host_metrics[m].name);
		put_value(&b, v);
	}

	struct vm_labels *lab = xcalloc(n_vms ? n_vms : 1, sizeof(*lab));
	for (size_t i = 0; i < n_vms; i++) {
		lab[i].name = stats_prometheus_escape_label(vms[i].name);
		lab[i].id = vms[i].id; /* a UUID: nothing to escape */
	}
#define LATEST(i) (vms[i].n ? &vms[i].vm[vms[i].n - 1] : NULL)

	family(&b, "vireo_vm_vcpus", "gauge", "Virtual CPUs of the VM.");
	for (size_t i = 0; i < n_vms; i++)
		buf_printf(&b, "vireo_vm_vcpus{vm=\"%s\",vm_id=\"%s\"} %u\n", lab[i].name, lab[i].id,
			   vms[i].vcpus);

	for (size_t m = 0; m < ARRAY_SIZE(vm_metrics); m++) {
		bool header = false;
		for (size_t i = 0; i < n_vms; i++) {
			const struct stats_vm_sample *s = LATEST(i);
			double v = s ? vm_metrics[m].get(s) : NAN;
			if (!isfinite(v))
				continue;
			if (!header)
				family(&b, vm_metrics[m].name, vm_metrics[m].type, vm_metrics[m].help);
			header = true;
			buf_printf(&b, "%s{vm=\"%s\",vm_id=\"%s\"} ", vm_metrics[m].name, lab[i].name,
				   lab[i].id);
			put_value(&b, v);
		}
	}
	for (size_t m = 0; m < ARRAY_SIZE(disk_metrics); m++) {
		bool header = false;
		for (size_t i = 0; i < n_vms; i++) {
			const struct stats_vm_sample *s = LATEST(i);
			for (size_t k = 0; s && k < s->n_disks; k++) {
				double v = disk_metrics[m].get(&s->disks[k]);
				if (!isfinite(v))
					continue;
				if (!header)
					family(&b, disk_metrics[m].name, disk_metrics[m].type,
					       disk_metrics[m].help);
				header = true;
				_cleanup_free_ char *disk = stats_prometheus_escape_label(s->disks[k].name);
				buf_printf(&b, "%s{vm=\"%s\",vm_id=\"%s\",disk=\"%s\"} ",
					   disk_metrics[m].name, lab[i].name, lab[i].id, disk);
				put_value(&b, v);
			}
		}
	}
	for (size_t m = 0; m < ARRAY_SIZE(nic_metrics); m++) {
		bool header = false;
		for (size_t i = 0; i < n_vms; i++) {
			const struct stats_vm_sample *s = LATEST(i);
			for (size_t k = 0; s && k < s->n_nics; k++) {
				double v = nic_metrics[m].get(&s->nics[k]);
				if (!isfinite(v))
					continue;
				if (!header)
					family(&b, nic_metrics[m].name, nic_metrics[m].type,
					       nic_metrics[m].help);
				header = true;
				_cleanup_free_ char *nic = stats_prometheus_escape_label(s->nics[k].name);
				_cleanup_free_ char *dev = stats_prometheus_escape_label(s->nics[k].device);
				buf_printf(&b, "%s{vm=\"%s\",vm_id=\"%s\",nic=\"%s\",device=\"%s\"} ",
					   nic_metrics[m].name, lab[i].name, lab[i].id, nic, dev);
				put_value(&b, v);
			}
		}
	}
#undef LATEST
	for (size_t i = 0; i < n_vms; i++)
		free(lab[i].name);
	free(lab);
	return b.p;
}
