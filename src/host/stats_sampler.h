/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STATS_SAMPLER_H
#define VIREO_HOST_STATS_SAMPLER_H

/*
 * The statistics sampler: a thread of hostd that, every interval (20 s by
 * default, esxtop's and vSphere's realtime period), reads the host's and
 * each running VM's counters (/proc, /sys, one pipelined QMP round trip
 * per VM) and adds a sample of each to the store (host/stats/stats.h).
 * It never blocks the event loop or the API: readers copy from the store.
 */

struct hostd;
struct stats_store;
struct vr_error;

struct stats_sampler;

/* Starts the thread; the first round runs at once.  interval_ms >= 500. */
struct stats_sampler *stats_sampler_start(struct hostd *h, unsigned interval_ms,
					  struct vr_error **err);
/* Stops the thread (waiting for a round in progress) and frees.  Accepts NULL. */
void stats_sampler_stop(struct stats_sampler *s);

struct stats_store *stats_sampler_store(struct stats_sampler *s);
struct hostd *stats_sampler_host(struct stats_sampler *s);

#endif
