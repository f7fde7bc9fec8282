/* SPDX-License-Identifier: Apache-2.0 */
#include "host/api/vm_task.h"

#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "api/server.h"
#include "host/hostd.h"
#include "host/tasks.h"

struct vm *api_find_vm(struct api_request *req, struct hostd *h)
{
	const char *id = api_request_param(req, "id");
	struct vm *vm = id ? inventory_find(h, id) : NULL;
	if (!vm)
		api_respond_error(req, 404, "no VM \"%s\" on this host", id ? id : "");
	return vm;
}

struct vm_task {
	struct hostd *h;
	struct vm *vm;
	api_vm_task_fn fn;
	void *arg;
	void (*arg_free)(void *);
};

static int vm_task_run(struct task *task, void *opaque, struct vr_error **err)
{
	struct vm_task *t = opaque;
	int r = t->fn(t->h, t->vm, task, t->arg, err);
	vm_release(t->vm);
	return r;
}

static void vm_task_free(void *opaque)
{
	struct vm_task *t = opaque;
	if (t->arg_free)
		t->arg_free(t->arg);
	vm_unref(t->vm);
	free(t);
}

void api_vm_task_start(struct api_request *req, struct hostd *h, struct vm *vm,
		       const char *description, api_vm_task_fn fn, void *arg,
		       void (*arg_free)(void *))
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct vm_task *t = xcalloc(1, sizeof(*t));
	*t = (struct vm_task){
		.h = h, .vm = vm_ref(vm), .fn = fn, .arg = arg, .arg_free = arg_free};
	/* Claim with a provisional name, then rename to the task id. */
	if (vm_claim(vm, "a starting task", &err) < 0) {
		vm_task_free(t);
		api_respond_vr_error(req, err);
		return;
	}
	char id[24];
	if (tasks_start(h->tasks, description, vm->id, api_request_user(req), vm_task_run, t,
			vm_task_free, id, &err) < 0) {
		vm_release(vm);
		api_respond_vr_error(req, err);
		return;
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->busy_task && strcmp(vm->busy_task, "a starting task") == 0) {
		free(vm->busy_task);
		vm->busy_task = xstrdup(id);
	}
	pthread_mutex_unlock(&vm->lock);
	api_respond_json(req, 202, json_pack("{s:s}", "task", id));
}
