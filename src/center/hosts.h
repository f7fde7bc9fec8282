/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_HOSTS_H
#define VIREO_CENTER_HOSTS_H

/*
 * Center's connections to its hosts.
 *
 * Joining.  A host joins with its URL and an administrator's credentials
 * on it, used once: center logs in, creates its own service account on
 * the host ("vireo-center-" and the first 8 digits of center's uuid, a
 * random 32-character password, kept sealed in the database:
 * center/secrets.h) and from then on uses only that, as vCenter does with
 * vpxuser.  The host gets an inventory object under a cluster or a host
 * folder, with a root resource pool "Resources" when it stands alone.
 *
 * Keeping in sync.  One monitor thread per host long-polls the host's
 * event feed (GET /api/v1/events?since=N&wait=S): every answer, events or
 * not, proves the host alive; each event about a VM re-reads that VM, and
 * each event is copied into center's event log.  A full resync (host,
 * datastores, port groups, VMs) runs when the monitor starts, when the
 * host restarted (its feed's instance changed), when events were missed
 * (the cursor fell out of the host's ring) and every resync period.
 *
 * States.  connected: the last request answered.  not responding: no
 * answer for not_responding_ms (host down, network cut); the monitor keeps
 * trying and reconnects by itself.  disconnected: by an administrator
 * (disconnect), or the host refused center's credentials; reconnect
 * starts again.  Center never powers a VM on or off by itself: a host
 * that stops answering keeps running its VMs, and a center that stops or
 * restarts leaves every host as it is.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct vr_error;
struct center;
struct chosts;

enum chost_state {
	CHOST_CONNECTED,
	CHOST_DISCONNECTED,
	CHOST_NOT_RESPONDING,
};

const char *chost_state_name(enum chost_state s);

struct chost_add_spec {
	const char *url;
	const char *username;
	const char *password;
	int64_t parent_id; /* a cluster or a host folder */
	const char *name;  /* NULL: the host's own name */
	bool tls_insecure;
	const char *ca_file;
	const char *principal; /* who asked (events) */
	int64_t task_id;       /* 0 if none */
};

struct chosts *chosts_new(struct center *c);
/* Starts a monitor for every host in the database. */
int chosts_start(struct chosts *hs, struct vr_error **err);
void chosts_stop_and_free(struct chosts *hs);

/* Joins a host (a task's body; synchronous). */
int chosts_add(struct chosts *hs, const struct chost_add_spec *spec, int64_t *host_id,
	       struct vr_error **err);
/*
 * Removes a host from the inventory with its VMs' entries (the VMs keep
 * running there) and, if it answers, deletes the service account.
 */
int chosts_remove(struct chosts *hs, int64_t host_id, const char *principal,
		  struct vr_error **err);
int chosts_disconnect(struct chosts *hs, int64_t host_id, const char *principal,
		      struct vr_error **err);
int chosts_reconnect(struct chosts *hs, int64_t host_id, const char *principal,
		     struct vr_error **err);
/*
 * A VM whose files are being moved: while held, a sync that finds it
 * missing on its host (unregistered for a moment) leaves its inventory
 * object alone.  Holds nest (one per call).
 */
void chosts_hold_vm(struct chosts *hs, const char *uuid);
void chosts_release_vm(struct chosts *hs, const char *uuid);
bool chosts_vm_held(struct chosts *hs, const char *uuid);
/* Full resync now (synchronous). */
int chosts_sync(struct chosts *hs, int64_t host_id, struct vr_error **err);

/* Current state and its reason (caller frees; may be NULL). -ENOENT for no such host. */
int chosts_state(struct chosts *hs, int64_t host_id, enum chost_state *state, char **reason);

/*
 * A request to a host's API as center's service account (logs in again
 * once when the session has expired).  -EHOSTDOWN when the host is
 * disconnected or not responding, naming it.
 */
int chosts_call(struct chosts *hs, int64_t host_id, const char *method, const char *path,
		json_t *body, long *status, json_t **reply, struct vr_error **err);
/* The same with a request timeout in seconds (long polls). */
int chosts_call_timeout(struct chosts *hs, int64_t host_id, const char *method,
			const char *path, json_t *body, long timeout_s, long *status,
			json_t **reply, struct vr_error **err);
/*
 * The same, failing within about a second (ECANCELED) once *abort (may
 * be NULL) turns true: for task bodies while center stops.
 */
int chosts_call_abortable(struct chosts *hs, int64_t host_id, const char *method,
			  const char *path, json_t *body, long timeout_s,
			  const volatile bool *abort, long *status, json_t **reply,
			  struct vr_error **err);
/*
 * Sends the host its part of the resource-pool tree now if the tree
 * changed since it was last sent (else its monitor does within a
 * heartbeat): before a power-on, so that the VM starts in its pool's
 * group.  Failures are the monitor's to report.
 */
void chosts_pools_push(struct chosts *hs, int64_t host_id);
/*
 * Copies size bytes from GET src_path on one host to PUT dst_path on
 * another (or the same) host, streaming through center, and checks the
 * SHA-256 the receiver reports.  progress (may be NULL) sees the bytes
 * done so far and may set *abort to cancel (ECANCELED).  relay.c.
 */
int chosts_relay(struct chosts *hs, int64_t src_host, const char *src_path, int64_t dst_host,
		 const char *dst_path, uint64_t size,
		 void (*progress)(void *opaque, uint64_t done, volatile bool *abort), void *opaque,
		 struct vr_error **err);
/* Re-reads one VM (by the host's VM id) into the inventory. */
int chosts_refresh_vm(struct chosts *hs, int64_t host_id, const char *vm_uuid,
		      struct vr_error **err);

#endif
