/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_PROVISION_H
#define VIREO_HOST_PROVISION_H

#include <jansson.h>

struct hostd;
struct vm;
struct task;
struct vr_error;

/*
 * Validates a VM create request (the API's JSON body) without touching
 * anything.  Used by the handler so that bad input is refused with 400
 * before any task starts.
 */
int provision_validate(struct hostd *h, const json_t *spec, struct vr_error **err);

/*
 * Creates the VM folder NAME on the datastore, its disks and NAME.vmx,
 * and registers it; *out is a reference for the caller.  On failure
 * removes everything it created.
 */
int provision_create(struct hostd *h, const json_t *spec, struct task *task, struct vm **out,
		     struct vr_error **err);

/* Applies a reconfiguration (API JSON) to a powered-off VM's .vmx. */
int provision_reconfigure(struct hostd *h, struct vm *vm, const json_t *changes,
			  struct vr_error **err);

/* Unregisters a powered-off VM and deletes its folder. */
int provision_destroy(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err);

#endif
