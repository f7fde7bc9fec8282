/* SPDX-License-Identifier: Apache-2.0 */
/* Samples as JSON for the REST API (GET /api/v1/stats, /api/v1/stats/history). */
#include <math.h>

#include "common/util.h"
#include "host/stats/stats.h"

static json_t *num(double v)
{
	return isfinite(v) ? json_real(round(v * 100.0) / 100.0) : json_null();
}

static json_t *integer(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *time_json(json_t *o, int64_t ms)
{
	char iso[32];
	time_format_iso((uint64_t)ms, iso);
	json_object_set_new(o, "time", json_string(iso));
	json_object_set_new(o, "timestamp", json_real((double)ms / 1000.0));
	return o;
}

json_t *stats_host_sample_json(const struct stats_host_sample *s)
{
	json_t *o = time_json(json_object(), s->time_ms);
	json_object_set_new(o, "cpu",
			    json_pack("{s:o, s:o, s:o, s:o, s:o}", "used_pct", num(s->cpu_used_pct),
				      "used_mhz", num(s->cpu_used_mhz), "count", integer(s->cpu_count),
				      "capacity_mhz", integer(s->cpu_capacity_mhz),
				      "used_seconds_total",
				      s->cpu_used_ns_total >= 0
					      ? json_real((double)s->cpu_used_ns_total / 1e9)
					      : json_null()));
	json_object_set_new(o, "memory",
			    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "total_bytes",
				      integer(s->mem_total), "used_bytes", integer(s->mem_used),
				      "available_bytes", integer(s->mem_available), "swap_total_bytes",
				      integer(s->swap_total), "swap_used_bytes", integer(s->swap_used),
				      "ksm_shared_bytes", integer(s->ksm_shared)));
	json_object_set_new(o, "vms_running", integer(s->vms_running));
	json_object_set_new(o, "sampling",
			    json_pack("{s:o, s:o}", "duration_ms", num(s->sample_ms),
				      "cpu_seconds_total",
				      s->sampler_cpu_ns_total >= 0
					      ? json_real((double)s->sampler_cpu_ns_total / 1e9)
					      : json_null()));
	return o;
}

static json_t *disk_json(const struct stats_disk_sample *d)
{
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "disk",
			 d->name, "device", d->device, "read_iops", num(d->rd_iops), "write_iops",
			 num(d->wr_iops), "read_kibps", num(d->rd_kibps), "write_kibps",
			 num(d->wr_kibps), "read_latency_ms", num(d->rd_latency_ms),
			 "write_latency_ms", num(d->wr_latency_ms), "read_ops_total",
			 integer(d->rd_ops), "write_ops_total", integer(d->wr_ops),
			 "read_bytes_total", integer(d->rd_bytes), "write_bytes_total",
			 integer(d->wr_bytes));
}

static json_t *nic_json(const struct stats_nic_sample *n)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "nic",
			 n->name, "device", n->device[0] ? json_string(n->device) : json_null(),
			 "rx_pps", num(n->rx_pps), "tx_pps", num(n->tx_pps), "rx_kibps",
			 num(n->rx_kibps), "tx_kibps", num(n->tx_kibps), "rx_packets_total",
			 integer(n->rx_packets), "tx_packets_total", integer(n->tx_packets),
			 "rx_bytes_total", integer(n->rx_bytes), "tx_bytes_total",
			 integer(n->tx_bytes), "rx_drops_total", integer(n->rx_drops),
			 "tx_drops_total", integer(n->tx_drops));
}

json_t *stats_vm_sample_json(const struct stats_vm_sample *s)
{
	json_t *o = time_json(json_object(), s->time_ms);
	json_object_set_new(o, "state", json_string(s->paused ? "paused" : "running"));
	json_object_set_new(
		o, "cpu",
		json_pack("{s:o, s:o, s:o, s:o}", "used_pct", num(s->cpu_used_pct), "ready_pct",
			  num(s->cpu_ready_pct), "used_seconds_total",
			  s->cpu_used_ns_total >= 0 ? json_real((double)s->cpu_used_ns_total / 1e9)
						    : json_null(),
			  "ready_seconds_total",
			  s->cpu_ready_ns_total >= 0 ? json_real((double)s->cpu_ready_ns_total / 1e9)
						     : json_null()));
	json_object_set_new(o, "memory",
			    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "configured_bytes",
				      integer(s->mem_configured), "granted_bytes",
				      integer(s->mem_granted), "consumed_bytes",
				      integer(s->mem_consumed), "active_bytes", integer(s->mem_active),
				      "ballooned_bytes", integer(s->mem_ballooned), "shared_bytes",
				      integer(s->mem_shared), "swapped_bytes", integer(s->mem_swapped)));
	json_t *disks = json_array();
	for (size_t i = 0; i < s->n_disks; i++)
		json_array_append_new(disks, disk_json(&s->disks[i]));
	json_object_set_new(o, "disks", disks);
	json_t *nics = json_array();
	for (size_t i = 0; i < s->n_nics; i++)
		json_array_append_new(nics, nic_json(&s->nics[i]));
	json_object_set_new(o, "nics", nics);
	return o;
}
