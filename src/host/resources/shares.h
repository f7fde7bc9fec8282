/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_SHARES_H
#define VIREO_HOST_RESOURCES_SHARES_H

#include <stdint.h>

struct vr_error;

/*
 * Shares as in vSphere: a custom number in 1..1,000,000, or a named level
 * scaled by the size of the VM:
 *
 *            low    normal   high
 *   CPU      500    1000     2000    per vCPU
 *   memory   5      10       20      per MiB of configured memory
 *   disk     500    1000     2000    per virtual disk
 *
 * Named levels are not capped at 1,000,000 (a 128 GiB VM at "high" has
 * 2,621,440 memory shares, as in vSphere); only custom numbers are.
 */
#define RES_SHARES_MIN 1u
#define RES_SHARES_MAX 1000000u

/* .vmx spellings: "low", "normal", "high" (any case) or a decimal number. */
int res_cpu_shares_parse(const char *text, unsigned vcpus, uint64_t *out, struct vr_error **err);
int res_mem_shares_parse(const char *text, uint64_t mem_mib, uint64_t *out, struct vr_error **err);
int res_disk_shares_parse(const char *text, uint64_t *out, struct vr_error **err);

/*
 * Disk shares to a BFQ weight (1..1000): shares / 10, so that "normal"
 * (1000) is BFQ's default weight 100, "low" 50, "high" 200; clamped.
 */
unsigned res_disk_shares_to_bfq_weight(uint64_t shares);

/*
 * CPU shares to cgroup values.  v1 cpu.shares takes 2..262144: the
 * vSphere number is written as it is, clamped.  v2 cpu.weight takes
 * 1..10000 and gets the standard conversion of that v1 value
 * (systemd, runc, crun): 1 + (shares - 2) * 9999 / 262142.
 */
uint64_t res_cpu_shares_to_v1(uint64_t shares);
uint64_t res_cpu_shares_to_v2_weight(uint64_t shares);

#endif
