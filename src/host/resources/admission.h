/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_ADMISSION_H
#define VIREO_HOST_RESOURCES_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

struct vr_error;

/*
 * Admission control at power-on, as in vSphere: a VM powers on only if
 * its reservations fit in what is not yet reserved.  A pure function.
 *
 * Reserved CPU    = host reserve + sum of the powered-on VMs' CPU reservations
 * Reserved memory = host reserve + sum over powered-on VMs of
 *                   (memory reservation + overhead)
 * where the overhead is what the QEMU process needs beyond guest RAM,
 * estimated by res_vm_mem_overhead_mib():
 *
 *   overhead = 64 MiB            QEMU's binary, libraries, heap, monitor,
 *                                I/O buffers, firmware and VGA memory
 *            + 8 MiB per vCPU    thread stacks, per-vCPU accelerator state,
 *                                TCG's per-CPU structures
 *            + guest MiB / 64    page tables and dirty/migration bitmaps
 *                                (about 1.6% of guest memory), rounded up
 *
 * (ESX's own overhead estimate has the same shape: a fixed part, a part
 * per vCPU and one proportional to memory.)  The overhead is always
 * reserved, even for a VM without a memory reservation, because the
 * process cannot run without it.
 *
 * Checks on the VM itself: the memory reservation may not exceed its
 * configured memory nor its memory limit; the CPU reservation may not
 * exceed its CPU limit nor what its vCPUs can use (vcpus x core MHz).
 */

struct res_host_capacity {
	uint32_t cpu_cores;
	uint32_t core_mhz;
	uint64_t mem_mib;
	uint64_t reserve_cpu_mhz; /* kept for hostd and the host itself */
	uint64_t reserve_mem_mib;
};

struct res_vm_reservation {
	const char *name;
	uint32_t vcpus;
	uint64_t mem_mib;             /* configured memory */
	uint64_t cpu_reservation_mhz;
	uint64_t cpu_limit_mhz;       /* 0: unlimited */
	uint64_t mem_reservation_mib;
	uint64_t mem_limit_mib;       /* 0: unlimited */
};

/* The numbers behind a decision, for the API and for messages. */
struct res_admission_result {
	uint64_t cpu_capacity_mhz;
	uint64_t cpu_reserved_mhz;    /* host reserve + running VMs */
	uint64_t cpu_needed_mhz;      /* by the VM asking */
	uint64_t mem_capacity_mib;
	uint64_t mem_reserved_mib;    /* host reserve + running VMs (with overheads) */
	uint64_t mem_needed_mib;      /* reservation + overhead of the VM asking */
	uint64_t mem_overhead_mib;    /* of the VM asking */
};

#define RES_OVERHEAD_BASE_MIB 64u
#define RES_OVERHEAD_PER_VCPU_MIB 8u
#define RES_OVERHEAD_MEM_DIVISOR 64u

uint64_t res_vm_mem_overhead_mib(uint32_t vcpus, uint64_t mem_mib);

/*
 * 0: the VM may power on.  -EINVAL: its own settings are inconsistent.
 * -ENOSPC: its reservation does not fit; err says which, with numbers:
 *   cannot power on "web01": it reserves 4096 MiB of memory (plus 136 MiB
 *   overhead), but only 2310 MiB of the host's 24000 MiB is unreserved
 *   (21690 MiB reserved by 5 powered-on VMs and the host)
 * result (may be NULL) is filled in every case.
 */
int res_admission_check(const struct res_host_capacity *host, const struct res_vm_reservation *running,
			size_t n_running, const struct res_vm_reservation *vm,
			struct res_admission_result *result, struct vr_error **err);

#endif
