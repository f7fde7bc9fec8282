/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Moving a powered-off VM's folder between datastores and hosts, file by
 * file over the REST API (vireo-center relays the bytes; src/host/api/
 * transfers.c is the HTTP side).
 *
 * Outgoing: a transfer holds the VM's claim (nothing powers it on or
 * changes it meanwhile) and names the files to copy; it ends released
 * (the VM stays) or with the VM removed (unregistered and its folder
 * deleted), once its copy is registered elsewhere.
 *
 * Incoming: files are written into a hidden staging folder on the
 * datastore (".vireo-incoming-HOST-ID", HOST: the first 8 characters of
 * the host id, as datastores may be shared), each through a ".part" file that is
 * synced and renamed when complete; commit renames the folder into place
 * and registers the VM.  Until then nothing is visible; an abandoned or
 * aborted one leaves nothing (the staging folder is removed, also at the
 * next start).  Both kinds expire after TRANSFER_IDLE_MS without use.
 */
#ifndef VIREO_HOST_TRANSFER_H
#define VIREO_HOST_TRANSFER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct hostd;
struct vm;
struct vr_error;

#define TRANSFER_IDLE_MS (10u * 60u * 1000u)
#define TRANSFER_SWEEP_MS 30000u
#define TRANSFER_MAX_FILES 1024
#define TRANSFER_STAGING_PREFIX ".vireo-incoming-"

struct transfers *transfers_new(void);
/* Releases every claim and removes every staging folder. */
void transfers_free(struct hostd *h, struct transfers *t);
/* Ends what has been idle too long (on hostd's supervision timer). */
void transfers_sweep(struct hostd *h);
/* Removes staging folders a stopped hostd left on its datastores. */
void transfers_clean_datastores(struct hostd *h);

/* ---- outgoing ---- */
/* Starts one for a powered-off VM whose files are all in its folder; *out: its JSON. */
int transfer_out_start(struct hostd *h, struct vm *vm, json_t **out, struct vr_error **err);
/* Opens one of its files for reading: fd (caller closes) and size. */
int transfer_out_open(struct hostd *h, const char *id, const char *name, int *fd,
		      uint64_t *size, struct vr_error **err);
/* Ends it: the VM released, or (remove) unregistered and its folder deleted. */
int transfer_out_end(struct hostd *h, const char *id, bool remove, struct vr_error **err);

/* ---- incoming ---- */
/* body: {"datastore", "folder", "files": [{"name", "size"}]}; *out: {"id", ...}. */
int transfer_in_start(struct hostd *h, const json_t *body, json_t **out, struct vr_error **err);

struct transfer_upload;
/* One file's upload of `length` bytes; fails for a name not announced or a wrong length. */
struct transfer_upload *transfer_upload_begin(struct hostd *h, const char *id, const char *name,
					      uint64_t length, struct vr_error **err);
int transfer_upload_write(struct transfer_upload *u, const void *data, size_t len,
			  struct vr_error **err);
/* All bytes in: synced and renamed into place; *out: {"name","size","sha256"}. */
int transfer_upload_finish(struct transfer_upload *u, json_t **out, struct vr_error **err);
/* Frees it; an unfinished one's partial file is removed. */
void transfer_upload_free(struct transfer_upload *u);

/*
 * Moves the staging folder into place and registers its .vmx (a name in
 * the folder).  replaces: an outgoing transfer on this host whose VM the
 * new copy replaces (another datastore of the same host): that VM is
 * unregistered first, and removed once the copy is registered.
 * *vm: the registered VM (a reference).
 */
int transfer_in_commit(struct hostd *h, const char *id, const char *vmx, const char *replaces,
		       struct vm **vm, struct vr_error **err);
/* Drops it and its staging folder. */
int transfer_in_abort(struct hostd *h, const char *id, struct vr_error **err);

#endif
