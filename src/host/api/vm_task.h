/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the VM resources' handlers: finding a VM, starting a task on it. */
#ifndef VIREO_HOST_API_VM_TASK_H
#define VIREO_HOST_API_VM_TASK_H

struct api_request;
struct hostd;
struct task;
struct vm;
struct vr_error;

/* The VM named by the {id} parameter, referenced; answers 404 itself when there is none. */
struct vm *api_find_vm(struct api_request *req, struct hostd *h);

/* Work of a VM task; runs on the task's thread while the task holds the VM's claim. */
typedef int (*api_vm_task_fn)(struct hostd *h, struct vm *vm, struct task *task, void *arg,
			      struct vr_error **err);

/*
 * Claims the VM (one operation at a time; 409 naming the holder when
 * busy), starts a task running fn and answers 202 with its id.  arg is
 * freed with arg_free (may be NULL) whatever happens.
 */
void api_vm_task_start(struct api_request *req, struct hostd *h, struct vm *vm,
		       const char *description, api_vm_task_fn fn, void *arg,
		       void (*arg_free)(void *));

#endif
