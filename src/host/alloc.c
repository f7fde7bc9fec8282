/* SPDX-License-Identifier: Apache-2.0 */
/* Resource allocation of running VMs (alloc.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "host/alloc.h"
#include "host/alloc_priv.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/resources/admission.h"
#include "host/resources/blkdev.h"
#include "host/resources/cgroup.h"
#include "host/resources/pools.h"
#include "host/resources/shares.h"
#include "host/stats/proc.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"
#include "qemu/throttle.h"


/* ------------------------------------------------------------- host capacity */

static uint32_t read_core_mhz(void)
{
	char buf[16384];
	if (stats_read_small(AT_FDCWD, "/proc/cpuinfo", buf, sizeof(buf)) < 0)
		return 1000;
	unsigned mhz = stats_parse_cpuinfo_mhz(buf);
	return mhz >= 1 && mhz < 100000 ? mhz : 1000;
}

static uint64_t read_mem_mib(void)
{
	char buf[8192];
	struct stats_meminfo mi;
	if (stats_read_small(AT_FDCWD, "/proc/meminfo", buf, sizeof(buf)) < 0 ||
	    stats_parse_meminfo(buf, &mi) < 0 || mi.total < 0)
		return 0;
	return (uint64_t)mi.total >> 20;
}

/* Settings an administrator changes through the API, kept in STATE/resources.json. */
static int settings_save(struct hostd *h, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	_cleanup_free_ char *path = xasprintf("%s/resources.json", h->cfg.state_dir);
	json_t *arr = json_pack("[{s:I, s:I, s:I}]", "reserve_cpu_mhz",
				(json_int_t)a->cap.reserve_cpu_mhz, "reserve_memory_mib",
				(json_int_t)a->cap.reserve_mem_mib, "vm_memory_mib",
				(json_int_t)a->vm_memory_mib);
	return json_state_save(path, "resources", arr, err);
}

static void settings_load(struct hostd *h)
{
	struct alloc *a = h->alloc;
	_cleanup_free_ char *path = xasprintf("%s/resources.json", h->cfg.state_dir);
	json_t *doc = NULL, *arr = NULL;
	struct vr_error *err = NULL;
	if (json_state_load(path, 1 << 16, "resources", &doc, &arr, &err) < 0) {
		log_error("%s: %s (using defaults)", path, err->msg);
		vr_error_free(err);
		return;
	}
	json_t *o = json_array_get(arr, 0);
	json_int_t v;
	if ((v = json_integer_value(json_object_get(o, "reserve_cpu_mhz"))) > 0)
		a->cap.reserve_cpu_mhz = (uint64_t)v;
	if ((v = json_integer_value(json_object_get(o, "reserve_memory_mib"))) > 0)
		a->cap.reserve_mem_mib = (uint64_t)v;
	if ((v = json_integer_value(json_object_get(o, "vm_memory_mib"))) > 0)
		a->vm_memory_mib = (uint64_t)v;
	json_decref(doc);
}

int alloc_init(struct hostd *h, struct vr_error **err)
{
	struct alloc *a = xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	h->alloc = a;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	a->cap.cpu_cores = cores > 0 ? (uint32_t)cores : 1;
	a->cap.core_mhz = read_core_mhz();
	a->cap.mem_mib = read_mem_mib();
	/* What the host keeps for itself: ESX-like defaults, changeable through the API. */
	a->cap.reserve_cpu_mhz = 0;
	a->cap.reserve_mem_mib = a->cap.mem_mib / 16 < 512 ? a->cap.mem_mib / 16 : 512;
	settings_load(h);
	struct vr_error *e = NULL;
	struct res_cgroup_params p = { .parent = h->cfg.cgroup_parent };
	if (res_cgroup_system_open(&p, &a->sys, &e) < 0) {
		a->cg_error = xstrdup(e->msg);
		log_warn("resources: no cgroups (%s): shares and limits cannot be enforced",
			 e->msg);
		vr_error_free(e);
	} else {
		log_info("resources: cgroup %s; %u cores at %u MHz, %llu MiB",
			 res_cgroup_system_version(a->sys), a->cap.cpu_cores, a->cap.core_mhz,
			 (unsigned long long)a->cap.mem_mib);
	}
	/* Before running VMs are reattached: they find their pools' groups in place. */
	alloc_pools_init(h);
	/* Last: the balloon thread reads the cgroup system and the pools (pools_lock). */
	alloc_mem_init(h);
	(void)err;
	return 0;
}

void alloc_fini(struct hostd *h)
{
	struct alloc *a = h->alloc;
	if (!a)
		return;
	alloc_mem_fini(h);
	alloc_pools_fini(h);
	res_cgroup_system_free(a->sys);
	free(a->cg_error);
	pthread_mutex_destroy(&a->lock);
	free(a);
	h->alloc = NULL;
}

/* ------------------------------------------------------------- admission */

static struct res_vm_reservation reservation_of(const struct vm_config *cfg)
{
	const struct vm_sched *s = &cfg->sched;
	return (struct res_vm_reservation){
		.name = cfg->display_name,
		.vcpus = cfg->vcpus,
		.mem_mib = cfg->memory_mib,
		.cpu_reservation_mhz = s->cpu_min_mhz,
		.cpu_limit_mhz = s->cpu_max_mhz == VM_UNLIMITED ? 0 : (uint64_t)s->cpu_max_mhz,
		.mem_reservation_mib = s->mem_min_mib,
		.mem_limit_mib = s->mem_max_mib == VM_UNLIMITED ? 0 : (uint64_t)s->mem_max_mib,
	};
}

/* Reservations of the admitted VMs other than `except`; names borrowed from their configs. */
static size_t admitted(struct hostd *h, const struct vm *except, struct res_vm_reservation **out)
{
	struct res_vm_reservation *v = NULL;
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		if (vm == except || !vm->admitted)
			continue;
		pthread_mutex_lock(&vm->lock);
		if (vm->cfg) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = reservation_of(vm->cfg);
		}
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_unlock(&h->lock);
	*out = v;
	return n;
}

static struct res_host_capacity capacity(const struct alloc *a)
{
	struct res_host_capacity c = a->cap;
	/* An administrator may set aside less memory for VMs than the host has. */
	if (a->vm_memory_mib && a->vm_memory_mib + c.reserve_mem_mib < c.mem_mib)
		c.reserve_mem_mib = c.mem_mib - a->vm_memory_mib;
	return c;
}

static int check_locked(struct hostd *h, struct vm *vm, const struct vm_config *cfg,
			struct vr_error **err)
{
	struct alloc *a = h->alloc;
	struct res_vm_reservation *running;
	size_t n = admitted(h, vm, &running);
	struct res_vm_reservation me = reservation_of(cfg);
	struct res_host_capacity cap = capacity(a);
	int r = res_admission_check(&cap, running, n, &me, NULL, err);
	free(running);
	return r;
}

int alloc_admit(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&a->lock);
	int r = check_locked(h, vm, vm->cfg, err);
	if (r == 0) {
		pthread_mutex_lock(&h->lock);
		vm->admitted = true;
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

int alloc_check_change(struct hostd *h, struct vm *vm, const struct vm_config *cfg,
		       struct vr_error **err)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&a->lock);
	int r = check_locked(h, vm, cfg, err);
	pthread_mutex_unlock(&a->lock);
	if (r < 0)
		return vr_error_wrap(err, "the new reservations do not fit");
	return 0;
}

/* ------------------------------------------------------------- cgroups and throttles */

/* Whether the VM asks for anything a cgroup must enforce. */
static bool needs_cgroup(const struct vm_config *cfg)
{
	const struct vm_sched *s = &cfg->sched;
	if (s->cpu_shares.level != VM_SHARES_NORMAL || s->mem_shares.level != VM_SHARES_NORMAL ||
	    s->cpu_max_mhz != VM_UNLIMITED || s->mem_max_mib != VM_UNLIMITED || s->mem_min_mib)
		return true;
	for (size_t i = 0; i < cfg->n_disks; i++)
		if (cfg->disks[i].shares.level != VM_SHARES_NORMAL)
			return true;
	return false;
}

/*
 * BFQ weights per device: the shares of the VM's disks on each device,
 * summed (a VM with two disks on one device competes with both), and
 * the warning once per device when its scheduler is not bfq.
 */
static size_t io_devices(struct hostd *h, struct vm *vm, const struct vm_config *cfg,
			 struct res_io_device_weight *out, size_t max)
{
	size_t n = 0;
	uint64_t sum[VM_MAX_DISKS] = { 0 };
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK)
			continue;
		_cleanup_free_ char *path = qemu_cmdline_resolve_path(vm->dir, d->file_name);
		struct res_blkdev bd = { 0 };
		struct vr_error *e = NULL;
		if (res_blkdev_from_path(path, &bd, &e) < 0) {
			if (d->shares.level != VM_SHARES_NORMAL)
				vm_log(vm, "disk shares of %s are not enforced: %s", d->file_name,
				       e->msg);
			vr_error_free(e);
			continue;
		}
		/* Only a device scheduled by BFQ takes a weight (the kernel refuses others). */
		if (res_blkdev_check_bfq(&bd, d->file_name, &e) < 0) {
			if (d->shares.level != VM_SHARES_NORMAL)
				events_add(h->events, EVENT_WARNING, vm->id, "DiskSharesNotEnforced",
					   "VM \"%s\": %s", cfg->display_name, e->msg);
			vr_error_free(e);
			res_blkdev_clear(&bd);
			continue;
		}
		size_t k;
		for (k = 0; k < n; k++)
			if (out[k].major == bd.major && out[k].minor == bd.minor)
				break;
		if (k == n && n < max) {
			out[n++] = (struct res_io_device_weight){ .major = bd.major,
								  .minor = bd.minor };
		}
		if (k < max)
			sum[k] += vm_sched_disk_shares(d);
		res_blkdev_clear(&bd);
	}
	for (size_t k = 0; k < n; k++)
		out[k].weight = res_disk_shares_to_bfq_weight(sum[k]);
	return n;
}

int alloc_vm_apply_cgroup(struct hostd *h, struct vm *vm, const struct vm_config *cfg,
			  const struct res_pool_tree *pools, struct res_cgroup *cg,
			  struct vr_error **err)
{
	struct alloc *a = h->alloc;
	const struct vm_sched *s = &cfg->sched;
	struct res_io_device_weight devs[VM_MAX_DISKS];
	size_t n_devs = io_devices(h, vm, cfg, devs, VM_MAX_DISKS);
	struct res_cgroup_settings set = {
		.cpu_shares = vm_sched_cpu_shares(cfg),
		.cpu_limit_mhz = s->cpu_max_mhz == VM_UNLIMITED ? 0 : (uint64_t)s->cpu_max_mhz,
		.host_core_mhz = a->cap.core_mhz,
		.mem_limit_mib = 0,
		.mem_reservation_mib = s->mem_min_mib,
		.io_weight = 0,
		.io_devices = devs,
		.n_io_devices = n_devs,
	};
	/* The memory limit caps guest RAM; QEMU's own overhead comes on top. */
	if (s->mem_max_mib != VM_UNLIMITED)
		set.mem_limit_mib = (uint64_t)s->mem_max_mib +
				    res_vm_mem_overhead_mib(cfg->vcpus, cfg->memory_mib);
	/*
	 * Its pools' limit holds anyway; cgroup v1 refuses a quota above an
	 * ancestor's, so the VM's is written as at most that.
	 */
	const struct res_pool *pool = res_pool_tree_vm_pool(pools, vm->id);
	uint64_t cap = pool ? res_pool_cpu_limit_effective(pools, pool) : 0;
	if (cap && (set.cpu_limit_mhz == 0 || set.cpu_limit_mhz > cap))
		set.cpu_limit_mhz = cap;
	return res_cgroup_apply(cg, &set, err);
}

/*
 * sched.cpu.affinity: every QEMU thread (threads created later inherit
 * it from their creator); "all" gives back every CPU hostd may use.
 */
static int apply_affinity(struct vm *vm, pid_t pid, uint64_t mask, struct vr_error **err)
{
	cpu_set_t host, want;
	if (sched_getaffinity(0, sizeof(host), &host) < 0)
		return vr_error_set_errno(err, errno, "cannot read the host's CPUs");
	CPU_ZERO(&want);
	if (!mask) {
		want = host;
	} else {
		for (unsigned c = 0; c < 64; c++) {
			if (!(mask & (1ull << c)))
				continue;
			if (!CPU_ISSET(c, &host))
				return vr_error_set(err, EINVAL,
						    "sched.cpu.affinity names CPU %u, which this host "
						    "does not have (or hostd may not use)",
						    c);
			CPU_SET(c, &want);
		}
	}
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return vr_error_set_errno(err, errno, "cannot list the threads of QEMU (pid %d)",
					  (int)pid);
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && sched_setaffinity(tid, sizeof(want), &want) < 0 && errno != ESRCH) {
			r = vr_error_set_errno(err, errno, "cannot set the CPU affinity of VM \"%s\"",
					       vm_display_name(vm));
			break;
		}
	}
	closedir(d);
	return r;
}

/* IOPS limits (QEMU's block throttling) of the disks that have one. */
static int apply_throttles(struct vm *vm, const struct vm_config *cfg, struct vr_error **err)
{
	struct qmp *q = vm_qmp_get(vm);
	if (!q)
		return vr_error_set(err, ENOTCONN, "QEMU went away");
	int r = 0;
	for (size_t i = 0; i < cfg->n_disks && r == 0; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK || !d->iops_limit)
			continue;
		char id[QEMU_DISK_ID_MAX];
		qemu_cmdline_disk_id(d, id, sizeof(id));
		r = qemu_block_set_iops_limit(q, id, d->iops_limit, QMP_TIMEOUT_MS, err);
	}
	vm_qmp_put(vm);
	return r;
}

int alloc_vm_started(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	const struct vm_config *cfg = vm->cfg; /* stable: the caller holds the VM's claim */
	pthread_mutex_lock(&vm->lock);
	pid_t pid = vm->pid;
	pthread_mutex_unlock(&vm->lock);
	int r = 0;
	if (a->sys) {
		struct res_cgroup *cg = NULL;
		_cleanup_free_ char *name = NULL;
		/* In its resource pool's group, if it has one. */
		pthread_mutex_lock(&a->pools_lock);
		r = alloc_pools_vm_cgroup_locked(h, vm->id, &name, err);
		if (r == 0)
			r = res_cgroup_create(a->sys, name, &cg, err);
		if (r == 0)
			r = alloc_vm_apply_cgroup(h, vm, cfg, a->pools, cg, err);
		if (r == 0)
			r = res_cgroup_attach(cg, pid, err);
		if (r == 0) {
			pthread_mutex_lock(&vm->lock);
			vm->cgroup = cg;
			pthread_mutex_unlock(&vm->lock);
		}
		pthread_mutex_unlock(&a->pools_lock);
		if (r < 0) {
			if (cg) {
				struct vr_error *e2 = NULL;
				res_cgroup_destroy(cg, &e2);
				vr_error_free(e2);
				res_cgroup_free(cg);
			}
			return vr_error_wrap(err, "VM \"%s\": cannot set up its resource group",
					     cfg->display_name);
		}
	} else if (needs_cgroup(cfg)) {
		return vr_error_set(err, EOPNOTSUPP,
				    "VM \"%s\" has shares, limits or reservations, but this host "
				    "cannot enforce them: %s",
				    cfg->display_name, a->cg_error);
	}
	if (cfg->sched.cpu_affinity && (r = apply_affinity(vm, pid, cfg->sched.cpu_affinity, err)) < 0)
		return r;
	r = apply_throttles(vm, cfg, err);
	return r;
}

int alloc_vm_update(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&a->pools_lock);
	pthread_mutex_lock(&vm->lock);
	struct res_cgroup *cg = vm->cgroup;
	/* The config was just reloaded; the old one is gone, so throttles are re-set in full. */
	pthread_mutex_unlock(&vm->lock);
	const struct vm_config *cfg = vm->cfg;
	int r = 0;
	if (cg)
		r = alloc_vm_apply_cgroup(h, vm, cfg, a->pools, cg, err);
	pthread_mutex_unlock(&a->pools_lock);
	if (!cg && needs_cgroup(cfg))
		r = vr_error_set(err, EOPNOTSUPP, "this host cannot enforce shares and limits: %s",
				 a->cg_error ? a->cg_error : "the VM has no resource group");
	pthread_mutex_lock(&vm->lock);
	pid_t pid = vm->pid;
	pthread_mutex_unlock(&vm->lock);
	if (r == 0 && pid > 0)
		r = apply_affinity(vm, pid, cfg->sched.cpu_affinity, err);
	if (r == 0)
		r = apply_throttles(vm, cfg, err);
	/* A limit that was lifted must be lifted in QEMU too. */
	for (size_t i = 0; r == 0 && i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK || d->iops_limit)
			continue;
		struct qmp *q = vm_qmp_get(vm);
		if (!q)
			break;
		char id[QEMU_DISK_ID_MAX];
		qemu_cmdline_disk_id(d, id, sizeof(id));
		uint64_t cur = 0;
		struct vr_error *e2 = NULL;
		if (qemu_block_get_iops_limit(q, id, &cur, QMP_TIMEOUT_MS, &e2) == 0 && cur)
			r = qemu_block_set_iops_limit(q, id, 0, QMP_TIMEOUT_MS, err);
		vr_error_free(e2);
		vm_qmp_put(vm);
	}
	return r;
}

void alloc_vm_stopped(struct hostd *h, struct vm *vm)
{
	struct alloc *a = h->alloc;
	if (!a)
		return;
	pthread_mutex_lock(&h->lock);
	vm->admitted = false;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&a->pools_lock);
	pthread_mutex_lock(&vm->lock);
	struct res_cgroup *cg = vm->cgroup;
	vm->cgroup = NULL;
	pthread_mutex_unlock(&vm->lock);
	struct vr_error *e = NULL;
	if (cg && res_cgroup_destroy(cg, &e) < 0) {
		log_warn("VM \"%s\": %s", vm_display_name(vm), e->msg);
		vr_error_free(e);
	}
	pthread_mutex_unlock(&a->pools_lock);
	res_cgroup_free(cg);
	alloc_mem_vm_stopped(h, vm);
}

/*
 * hostd restarted while the VM ran: its group is found again, its
 * reservation counted.  A VM whose group is not where its resource pool
 * says (the pools changed while hostd was away) is moved there.
 */
void alloc_vm_reattached(struct hostd *h, struct vm *vm)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&h->lock);
	vm->admitted = true;
	pthread_mutex_unlock(&h->lock);
	if (!a->sys)
		return;
	pthread_mutex_lock(&a->pools_lock);
	pthread_mutex_lock(&vm->lock);
	pid_t pid = vm->pid;
	pthread_mutex_unlock(&vm->lock);
	struct res_cgroup *cg = NULL, *old = NULL;
	struct vr_error *e = NULL;
	_cleanup_free_ char *want = NULL, *now = NULL;
	if (alloc_pools_vm_cgroup_locked(h, vm->id, &want, &e) < 0)
		goto fail;
	if (res_cgroup_find_process(a->sys, pid, &now, &e) < 0) {
		/* Started when it needed no group (or with no cgroups): left as it is. */
		vr_error_free(e);
		e = NULL;
		if (!strchr(want, '/'))
			goto out;
	} else if (strcmp(now, want) == 0) {
		/* In place: its settings again (its pools' limits were lifted and written anew). */
		if (res_cgroup_open(a->sys, want, &cg, &e) < 0)
			goto fail;
		pthread_mutex_lock(&vm->lock);
		int r = vm->cfg ? alloc_vm_apply_cgroup(h, vm, vm->cfg, a->pools, cg, &e) : 0;
		pthread_mutex_unlock(&vm->lock);
		if (r < 0) {
			events_add(h->events, EVENT_WARNING, vm->id, "VmResourceSettingsNotApplied",
				   "VM \"%s\": %s", vm_display_name(vm), e->msg);
			vr_error_free(e);
			e = NULL;
		}
		goto done;
	} else if (res_pool_tree_find_path(a->pools, now) < 0 &&
		   res_cgroup_open_partial(a->sys, now, &old, &e) < 0) {
		/* (A pool's own group is never removed here, should QEMU have been put in one.) */
		goto fail;
	}
	if (res_cgroup_create(a->sys, want, &cg, &e) < 0)
		goto fail;
	pthread_mutex_lock(&vm->lock);
	int r = vm->cfg ? alloc_vm_apply_cgroup(h, vm, vm->cfg, a->pools, cg, &e) : 0;
	pthread_mutex_unlock(&vm->lock);
	if (r < 0 || res_cgroup_attach(cg, pid, &e) < 0)
		goto fail;
	if (old && res_cgroup_destroy(old, &e) < 0) {
		log_warn("VM \"%s\": %s", vm_display_name(vm), e->msg);
		vr_error_free(e);
		e = NULL;
	}
	vm_log(vm, "resource group moved from %s to %s", now ? now : "(none)", want);
done:
	pthread_mutex_lock(&vm->lock);
	vm->cgroup = cg;
	pthread_mutex_unlock(&vm->lock);
	cg = NULL;
	goto out;
fail:
	events_add(h->events, EVENT_WARNING, vm->id, "VmResourceGroupNotFound",
		   "VM \"%s\": its resource group cannot be found or made again: %s", vm_display_name(vm),
		   e ? e->msg : "unknown error");
	vr_error_free(e);
out:
	res_cgroup_free(cg);
	res_cgroup_free(old);
	pthread_mutex_unlock(&a->pools_lock);
}

/* ------------------------------------------------------------- API */

json_t *alloc_host_json(struct hostd *h)
{
	struct alloc *a = h->alloc;
	pthread_mutex_lock(&a->lock);
	struct res_vm_reservation *running;
	size_t n = admitted(h, NULL, &running);
	struct res_host_capacity cap = capacity(a);
	struct res_admission_result res = { 0 };
	/* A VM asking for nothing: the result holds the reserved totals. */
	struct res_vm_reservation none = { .name = "", .vcpus = 1, .mem_mib = 0 };
	struct vr_error *e = NULL;
	res_admission_check(&cap, running, n, &none, &res, &e);
	vr_error_free(e);
	free(running);
	json_t *o = json_pack(
		"{s:s, s:s?, s:{s:i, s:i, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, s:i}",
		"cgroup", a->sys ? res_cgroup_system_version(a->sys) : "none", "cgroup_error",
		a->cg_error, "cpu", "cores", (int)cap.cpu_cores, "core_mhz", (int)cap.core_mhz,
		"capacity_mhz", (json_int_t)res.cpu_capacity_mhz, "reserved_mhz",
		(json_int_t)res.cpu_reserved_mhz, "host_reserve_mhz",
		(json_int_t)cap.reserve_cpu_mhz, "memory", "total_mib", (json_int_t)a->cap.mem_mib,
		"capacity_mib", (json_int_t)res.mem_capacity_mib, "reserved_mib",
		(json_int_t)res.mem_reserved_mib, "host_reserve_mib",
		(json_int_t)cap.reserve_mem_mib, "vm_memory_mib", (json_int_t)a->vm_memory_mib,
		"admitted_vms", (int)n);
	pthread_mutex_unlock(&a->lock);
	json_object_set_new(o, "memory_state", alloc_mem_json(h));
	return o;
}

int alloc_host_update(struct hostd *h, const json_t *changes, struct vr_error **err)
{
	static const struct json_field fields[] = {
		{ "reserve_cpu_mhz", JSON_INTEGER, false, 0, 100000000 },
		{ "reserve_memory_mib", JSON_INTEGER, false, 0, 1ll << 32 },
		{ "vm_memory_mib", JSON_INTEGER, false, 0, 1ll << 32 },
		{ "page_sharing", JSON_TRUE, false, 0, 0 },
	};
	int r = json_check_object(changes, fields, ARRAY_SIZE(fields), "host resources", err);
	if (r < 0)
		return r;
	struct alloc *a = h->alloc;
	json_t *v;
	pthread_mutex_lock(&a->lock);
	struct res_host_capacity old_cap = a->cap;
	uint64_t old_vm_memory = a->vm_memory_mib;
	if ((v = json_object_get(changes, "reserve_cpu_mhz")))
		a->cap.reserve_cpu_mhz = (uint64_t)json_integer_value(v);
	if ((v = json_object_get(changes, "reserve_memory_mib")))
		a->cap.reserve_mem_mib = (uint64_t)json_integer_value(v);
	if ((v = json_object_get(changes, "vm_memory_mib")))
		a->vm_memory_mib = (uint64_t)json_integer_value(v);
	if (a->cap.reserve_mem_mib >= a->cap.mem_mib)
		r = vr_error_set(err, EINVAL,
				 "reserve_memory_mib (%llu) must be below the host's memory (%llu MiB)",
				 (unsigned long long)a->cap.reserve_mem_mib,
				 (unsigned long long)a->cap.mem_mib);
	if (r == 0)
		r = settings_save(h, err);
	if (r < 0) {
		a->cap = old_cap;
		a->vm_memory_mib = old_vm_memory;
	}
	pthread_mutex_unlock(&a->lock);
	if (r == 0 && (v = json_object_get(changes, "page_sharing")))
		r = alloc_mem_set_page_sharing(h, json_is_true(v), err);
	return r;
}
