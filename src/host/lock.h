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
 *
 * The holder keeps a descriptor on the lock file's inode and renews
 * through it, never through the path: a host that broke the lock has
 * renamed that inode away, so a late renewal can never overwrite the new
 * owner's lock (a compare-and-swap by inode).  The holder finds out it
 * lost the lock when the path no longer names its inode.
 */

#define VM_LOCK_FILE "vireo.lck"
/* The file is rewritten in place at this fixed size (JSON padded with spaces). */
#define VM_LOCK_SIZE 512

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
 * Takes the lock of vm_dir and returns a descriptor on it in *fd_out
 * (close-on-exec) with the counter written in *counter_out.  A lock this
 * host left behind is taken over.  If another host holds it and renewed
 * it within the lease, fails with EBUSY naming the host.  If the lease
 * expired, watches the counter for one more renewal period and breaks
 * the lock only if it did not move.
 */
int vm_lock_acquire(const char *vm_dir, const struct vm_lock_params *p, int *fd_out,
		    uint64_t *counter_out, struct vr_error **err);
/*
 * Writes counter into the held lock.  Fails with ESTALE naming the new
 * owner if another host's lock replaced ours.  If the lock file vanished
 * without a replacement, puts ours back (returns 1).
 */
int vm_lock_renew_fd(int *fd, const char *vm_dir, const struct vm_lock_params *p,
		     uint64_t counter, struct vr_error **err);
/* Removes the lock if the path still names the inode of fd. */
int vm_lock_release_fd(int fd, const char *vm_dir, struct vr_error **err);
/* Removes the lock if this host owns it (clean-up after a holder died). */
int vm_lock_release(const char *vm_dir, const char *host_id, struct vr_error **err);
/* Reads the lock; -ENOENT if the folder is not locked. */
int vm_lock_read(const char *vm_dir, struct vm_lock_info *info, struct vr_error **err);

#endif
