/* SPDX-License-Identifier: Apache-2.0 */
#include "host/resources/admission.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"

uint64_t res_vm_mem_overhead_mib(uint32_t vcpus, uint64_t mem_mib)
{
	return RES_OVERHEAD_BASE_MIB + (uint64_t)RES_OVERHEAD_PER_VCPU_MIB * vcpus +
	       (mem_mib + RES_OVERHEAD_MEM_DIVISOR - 1) / RES_OVERHEAD_MEM_DIVISOR;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int check_own_settings(const struct res_host_capacity *host, const struct res_vm_reservation *vm,
			      struct vr_error **err)
{
	unsigned long long mres = vm->mem_reservation_mib, cres = vm->cpu_reservation_mhz;
	if (vm->mem_reservation_mib > vm->mem_mib)
		return vr_error_set(err, EINVAL,
				    "cannot power on \"%s\": it reserves %llu MiB of memory, more than its configured %llu MiB",
				    vm->name, mres, (unsigned long long)vm->mem_mib);
	if (vm->mem_limit_mib && vm->mem_reservation_mib > vm->mem_limit_mib)
		return vr_error_set(err, EINVAL,
				    "cannot power on \"%s\": it reserves %llu MiB of memory, more than its limit of %llu MiB",
				    vm->name, mres, (unsigned long long)vm->mem_limit_mib);
	if (vm->cpu_limit_mhz && vm->cpu_reservation_mhz > vm->cpu_limit_mhz)
		return vr_error_set(err, EINVAL,
				    "cannot power on \"%s\": it reserves %llu MHz of CPU, more than its limit of %llu MHz",
				    vm->name, cres, (unsigned long long)vm->cpu_limit_mhz);
	uint64_t usable = (uint64_t)vm->vcpus * host->core_mhz;
	if (vm->cpu_reservation_mhz > usable)
		return vr_error_set(err, EINVAL,
				    "cannot power on \"%s\": it reserves %llu MHz of CPU, more than its %u vCPU%s can use (%llu MHz at %u MHz each)",
				    vm->name, cres, vm->vcpus, vm->vcpus == 1 ? "" : "s",
				    (unsigned long long)usable, host->core_mhz);
	return 0;
}

int res_admission_check(const struct res_host_capacity *host, const struct res_vm_reservation *running,
			size_t n_running, const struct res_vm_reservation *vm,
			struct res_admission_result *result, struct vr_error **err)
{
	struct res_admission_result res = {
		.cpu_capacity_mhz = (uint64_t)host->cpu_cores * host->core_mhz,
		.mem_capacity_mib = host->mem_mib,
		.cpu_reserved_mhz = host->reserve_cpu_mhz,
		.mem_reserved_mib = host->reserve_mem_mib,
		.cpu_needed_mhz = vm->cpu_reservation_mhz,
		.mem_overhead_mib = res_vm_mem_overhead_mib(vm->vcpus, vm->mem_mib),
	};
	res.mem_needed_mib = sat_add(vm->mem_reservation_mib, res.mem_overhead_mib);
	for (size_t i = 0; i < n_running; i++) {
		const struct res_vm_reservation *r = &running[i];
		res.cpu_reserved_mhz = sat_add(res.cpu_reserved_mhz, r->cpu_reservation_mhz);
		res.mem_reserved_mib = sat_add(res.mem_reserved_mib,
					       sat_add(r->mem_reservation_mib, res_vm_mem_overhead_mib(r->vcpus, r->mem_mib)));
	}
	if (result)
		*result = res;
	int rc = check_own_settings(host, vm, err);
	if (rc < 0)
		return rc;
	const char *by = n_running == 1 ? "VM" : "VMs";
	uint64_t mem_free = res.mem_reserved_mib >= res.mem_capacity_mib ? 0 : res.mem_capacity_mib - res.mem_reserved_mib;
	if (res.mem_needed_mib > mem_free)
		return vr_error_set(err, ENOSPC,
				    "cannot power on \"%s\": it reserves %llu MiB of memory (plus %llu MiB overhead), but only %llu MiB of the host's %llu MiB is unreserved (%llu MiB reserved by %zu powered-on %s and the host)",
				    vm->name, (unsigned long long)vm->mem_reservation_mib,
				    (unsigned long long)res.mem_overhead_mib, (unsigned long long)mem_free,
				    (unsigned long long)res.mem_capacity_mib,
				    (unsigned long long)res.mem_reserved_mib, n_running, by);
	uint64_t cpu_free = res.cpu_reserved_mhz >= res.cpu_capacity_mhz ? 0 : res.cpu_capacity_mhz - res.cpu_reserved_mhz;
	if (res.cpu_needed_mhz > cpu_free)
		return vr_error_set(err, ENOSPC,
				    "cannot power on \"%s\": it reserves %llu MHz of CPU, but only %llu MHz of the host's %llu MHz is unreserved (%llu MHz reserved by %zu powered-on %s and the host)",
				    vm->name, (unsigned long long)vm->cpu_reservation_mhz,
				    (unsigned long long)cpu_free, (unsigned long long)res.cpu_capacity_mhz,
				    (unsigned long long)res.cpu_reserved_mhz, n_running, by);
	return 0;
}
