/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_QGA_H
#define VIREO_QEMU_QGA_H

#include <stdbool.h>
#include <stddef.h>

struct vr_error;

/*
 * Client for the QEMU guest agent.  Synchronous: every call blocks the
 * calling (worker) thread for at most timeout_ms (<= 0: no limit) and calls
 * on one connection are serialised.  The guest is untrusted: every reply is
 * validated and bounded before use.  The connection re-synchronises with
 * guest-sync-delimited after a connect, a timeout or a protocol error.
 */
struct qga;

/* Limits applied to guest-supplied data. */
#define QGA_MAX_IFACES 256
#define QGA_MAX_ADDRS_PER_IFACE 64
#define QGA_MAX_NAME_LEN 256

struct qga_ip {
	char *address; /* normalised textual address, without any "%scope" */
	unsigned prefix;
	bool ipv6;
};

struct qga_iface {
	char *name;
	char *hwaddr; /* NULL when the guest did not report one */
	struct qga_ip *ips;
	size_t n_ips;
};

/* Any member may be NULL when the guest did not report it. */
struct qga_osinfo {
	char *id;
	char *name;
	char *pretty_name;
	char *version;
	char *version_id;
	char *kernel_release;
	char *kernel_version;
	char *machine;
};

/*
 * Connects to the agent's Unix socket (retrying until it exists, within
 * timeout_ms) and synchronises.  Fails with ETIMEDOUT when no agent answers.
 */
struct qga *qga_open(const char *socket_path, int timeout_ms, struct vr_error **err);
/*
 * A client that connects lazily: the first command connects and
 * synchronises.  For a connection held for a VM's whole run.
 */
struct qga *qga_new(const char *socket_path);
/*
 * Connects if not connected (one attempt, no synchronisation) and keeps
 * the connection open: an agent whose host side is closed busy-polls its
 * port in the guest.  Never blocks on a command in progress.
 */
int qga_keep_connected(struct qga *qga, struct vr_error **err);
void qga_close(struct qga *qga);

int qga_ping(struct qga *qga, int timeout_ms, struct vr_error **err);
/* *out: caller frees. */
int qga_get_host_name(struct qga *qga, int timeout_ms, char **out, struct vr_error **err);
/* *out: free with qga_free_interfaces(*out, *n). */
int qga_get_interfaces(struct qga *qga, int timeout_ms, struct qga_iface **out, size_t *n,
		       struct vr_error **err);
void qga_free_interfaces(struct qga_iface *ifaces, size_t n);
/* *out: free with qga_free_osinfo(). */
int qga_get_osinfo(struct qga *qga, int timeout_ms, struct qga_osinfo **out,
		   struct vr_error **err);
void qga_free_osinfo(struct qga_osinfo *info);

/*
 * mode: "powerdown", "reboot" or "halt".  The agent does not answer a
 * successful shutdown, so 0 is returned when no error arrives within
 * timeout_ms or the connection closes; keep timeout_ms short.
 */
int qga_shutdown(struct qga *qga, const char *mode, int timeout_ms, struct vr_error **err);

/* Return the number of file systems frozen/thawed (>= 0) or -errno. */
int qga_fsfreeze_freeze(struct qga *qga, int timeout_ms, struct vr_error **err);
int qga_fsfreeze_thaw(struct qga *qga, int timeout_ms, struct vr_error **err);
int qga_fsfreeze_status(struct qga *qga, int timeout_ms, bool *frozen, struct vr_error **err);

#endif
