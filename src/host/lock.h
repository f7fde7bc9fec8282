/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_LOCK_H
#define VIREO_HOST_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct vr_error;

/*
 * The lock of a VM folder, in the spirit of VMFS's on-disk locks: a
 * file `vireo.lck` naming the owning host, with a counter that the
 * owner bumps every renewal period.  Works on a datastore shared
 * between hosts (no shared clock is assumed for breaking: a lock is
 * only broken after its counter was seen not to move).
 */

#define VM_LOCK_FILE "vireo.lck"

struct vm_lock_info {
	char host_id[37];
	char host_name[128];
	uint64_t counter;
	int64_t age_ms; /* since the file was last written, by our clock */
};

struct vm_lock_params {
	const char *host_id;
	const char *host_name;
	unsigned renew_ms; /* the owner renews this often */
	unsigned lease_ms; /* not renewed for this long: may be stale */
};

/*
 * Takes the lock of vm_dir.  If this host already owns it, succeeds.  If
 * another host holds it and renewed it within the lease, fails with
 * EBUSY naming the host.  If the lease expired, watches the counter for
 * one more renewal period and breaks the lock if it did not move.
 */
int vm_lock_acquire(const char *vm_dir, const struct vm_lock_params *p, struct vr_error **err);
/* Bumps the counter; fails with ESTALE if another host now owns the lock. */
int vm_lock_renew(const char *vm_dir, const struct vm_lock_params *p, struct vr_error **err);
/* Removes the lock if this host owns it. */
int vm_lock_release(const char *vm_dir, const char *host_id, struct vr_error **err);
/* Reads the lock; -ENOENT if the folder is not locked. */
int vm_lock_read(const char *vm_dir, struct vm_lock_info *info, struct vr_error **err);

#endif
