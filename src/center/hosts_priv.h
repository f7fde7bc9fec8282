/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by hosts.c (connections, monitors) and sync.c (host state -> inventory). */
#ifndef VIREO_CENTER_HOSTS_PRIV_H
#define VIREO_CENTER_HOSTS_PRIV_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "center/hosts.h"

struct api_client;
struct db;

/*
 * Connections kept open per host for calls through chosts_call() and
 * refreshes: a request on a kept-alive connection saves the TCP (and
 * TLS) set-up.  (hostd's long polls hold no worker, so a kept-alive
 * connection never waits behind one.)
 */
#define CHOST_IDLE_CLIENTS 4

struct chost {
	int refs; /* atomic */
	int64_t id;   /* inventory object */
	char *name;
	char *url;
	char *username; /* center's service account */
	char *sealed;   /* its password, sealed (secrets.h) */
	bool insecure;
	char *ca_file;
	struct chosts *hosts;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t wake;
	volatile bool stop;
	bool kick;
	char *token;
	enum chost_state state;
	char *reason;
	bool admin_disconnected;
	bool sync_wanted;
	uint64_t last_ok_mono;
	struct api_client *idle[CHOST_IDLE_CLIENTS]; /* kept-alive connections for calls */
	unsigned n_idle;
	char *instance; /* the host's event feed instance */
	int64_t cursor; /* last event seen */

	/*
	 * Reads of the host's state are numbered (read_seq, atomic) and
	 * applied one at a time (apply_lock, sync.c): a full sync (monitor)
	 * and a VM refresh (a task) may overlap, and the older read must not
	 * overwrite, or delete, what a newer one wrote.  full_seq: the read
	 * of the last full sync applied; vm_seq: VM uuid -> the read of its
	 * last refresh applied (pruned by full syncs); both under apply_lock.
	 */
	uint64_t read_seq;
	pthread_mutex_t apply_lock;
	uint64_t full_seq;
	json_t *vm_seq;

	/*
	 * Resource pools sent to the host (poolsync.c), by its monitor and
	 * before a power-on (chosts_pools_push()), under pools_lock.
	 */
	pthread_mutex_t pools_lock;
	char *pools_sent;  /* what it holds, NULL: send */
	char *pools_error; /* the last refusal, told once */
	uint64_t pools_gen; /* inventory_generation() when last worked out */
	struct chost *next;
};

struct chosts {
	struct center *c;
	pthread_mutex_t lock;
	struct chost *list;
	char **held; /* VMs being moved (chosts_hold_vm()), under lock */
};

/* A host by id with a reference (NULL if none); chost_put() drops it. */
struct chost *chost_get(struct chosts *hs, int64_t id);
void chost_put(struct chost *h);
/* The session token for the host (logs in when there is none, or again when fresh). */
int chost_token(struct chosts *hs, struct chost *h, bool fresh, char **token,
		struct vr_error **err);

int chost_request(struct chosts *hs, struct chost *h, struct api_client *cl, const char *method,
		  const char *path, json_t *body, long *status, json_t **reply,
		  struct vr_error **err);

/* sync.c */
int sync_full(struct chosts *hs, struct chost *h, struct api_client *cl, struct vr_error **err);
/* Tests only: runs in sync_full() between reading the host and applying (NULL: nothing). */
extern void (*sync_full_test_hook)(struct chost *h);
int sync_refresh_vm(struct chosts *hs, struct chost *h, struct api_client *cl,
		    const char *vm_uuid, struct vr_error **err);
void sync_mirror_event(struct chosts *hs, struct chost *h, json_t *event);
/* perfcollect.c: the host's latest statistics into the performance history. */
int perf_collect(struct chosts *hs, struct chost *h, struct api_client *cl, struct vr_error **err);
/* Whether a collection is due; moves *next_mono on when it is. */
bool perf_due(uint64_t *next_mono);

/* poolsync.c: the host's part of the pool tree, sent when it changed. */
int pool_tree_for_host(struct db *db, int64_t host_id, json_t **out, struct vr_error **err);
void poolsync_host(struct chosts *hs, struct chost *h, struct api_client *cl);

/* Deletes an object and everything under it (pools of a removed host). */
int sync_delete_subtree(struct db *db, int64_t id, struct vr_error **err);

#endif
