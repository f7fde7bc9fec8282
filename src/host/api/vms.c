/* SPDX-License-Identifier: Apache-2.0 */
/* REST resource: /api/v1/vms — inventory, create, power, guest, console. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmspec.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/lifecycle.h"
#include "host/provision.h"
#include "host/tasks.h"


static void vms_list(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *a = json_array();
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		json_array_append_new(a, vm_to_json(vm, false));
	pthread_mutex_unlock(&h->lock);
	api_respond_json(req, 200, json_pack("{s:o}", "vms", a));
}

static void vms_get(struct api_request *req, void *opaque)
{
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, opaque);
	if (vm)
		api_respond_json(req, 200, vm_to_json(vm, true));
}

/* ---- tasks that hold a VM ---- */

enum vm_op {
	VM_OP_POWER_ON,
	VM_OP_POWER_OFF,
	VM_OP_RESET,
	VM_OP_SHUTDOWN,
	VM_OP_REBOOT,
	VM_OP_SUSPEND,
	VM_OP_CONTINUE,
	VM_OP_DELETE,
};

static const struct {
	const char *name;
	const char *description;
} vm_ops[] = {
	[VM_OP_POWER_ON] = {"on", "Power on VM"},
	[VM_OP_POWER_OFF] = {"off", "Power off VM"},
	[VM_OP_RESET] = {"reset", "Reset VM"},
	[VM_OP_SHUTDOWN] = {"shutdown", "Shut down guest"},
	[VM_OP_REBOOT] = {"reboot", "Restart guest"},
	[VM_OP_SUSPEND] = {"suspend", "Suspend VM"},
	[VM_OP_CONTINUE] = {"continue", "Continue paused VM"},
	[VM_OP_DELETE] = {"delete", "Delete VM"},
};

struct vm_op_arg {
	enum vm_op op;
	int timeout_s;
};

static int vm_op_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		     struct vr_error **err)
{
	const struct vm_op_arg *t = arg;
	int r = -EINVAL;
	switch (t->op) {
	case VM_OP_POWER_ON:
		r = lifecycle_power_on(h, vm, task, err);
		break;
	case VM_OP_POWER_OFF:
		r = lifecycle_power_off(h, vm, task, err);
		break;
	case VM_OP_RESET:
		r = lifecycle_reset(h, vm, task, err);
		break;
	case VM_OP_SHUTDOWN:
		r = lifecycle_shutdown_guest(h, vm, task, t->timeout_s, err);
		break;
	case VM_OP_REBOOT:
		r = lifecycle_reboot_guest(h, vm, task, t->timeout_s, err);
		break;
	case VM_OP_SUSPEND:
		r = lifecycle_suspend(h, vm, task, err);
		break;
	case VM_OP_CONTINUE:
		r = lifecycle_continue(h, vm, task, err);
		break;
	case VM_OP_DELETE:
		r = provision_destroy(h, vm, task, err);
		break;
	}
	return r;
}

/* Starts a task on a VM: claims the VM first, so one operation at a time. */
static void start_vm_task(struct api_request *req, struct hostd *h, struct vm *vm,
			  enum vm_op op, int timeout_s)
{
	struct vm_op_arg *t = xcalloc(1, sizeof(*t));
	*t = (struct vm_op_arg){.op = op, .timeout_s = timeout_s};
	api_vm_task_start(req, h, vm, vm_ops[op].description, vm_op_run, t, free);
}

static void vms_power(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	const char *op = api_request_param(req, "op");
	_cleanup_error_ struct vr_error *err = NULL;
	int timeout_s;
	if (vmspec_power_check(api_request_body_json(req), &timeout_s, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(vm_ops); i++) {
		if (i != VM_OP_DELETE && strcmp(op, vm_ops[i].name) == 0) {
			/* Power on re-reads the .vmx and reports what is wrong with it. */
			start_vm_task(req, h, vm, (enum vm_op)i, timeout_s);
			return;
		}
	}
	api_respond_error(req, 404,
			  "no power operation \"%s\" (on, off, reset, shutdown, reboot, suspend, "
			  "continue)",
			  op);
}

static void vms_delete(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (vm)
		start_vm_task(req, h, vm, VM_OP_DELETE, 0);
}

/* ---- create ---- */

struct create_task {
	struct hostd *h;
	json_t *spec;
};

static void create_task_free(void *p)
{
	struct create_task *c = p;
	json_decref(c->spec);
	free(c);
}

static int create_task_run(struct task *task, void *opaque, struct vr_error **err)
{
	struct create_task *c = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = NULL;
	int r = provision_create(c->h, c->spec, task, &vm, err);
	if (r < 0)
		return r;
	task_set_result(task, json_pack("{s:s}", "id", vm->id));
	return 0;
}

static void vms_create(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *spec = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (provision_validate(h, spec, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct create_task *c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->spec = json_deep_copy(spec);
	char id[24];
	_cleanup_free_ char *desc =
		xasprintf("Create VM \"%s\"", json_string_value(json_object_get(spec, "name")));
	if (tasks_start(h->tasks, desc, NULL, api_request_user(req), create_task_run, c,
			create_task_free, id, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 202, json_pack("{s:s}", "task", id));
}

static const struct json_field register_fields[] = {
	{"datastore", JSON_STRING, true, 1, 80},
	{"path", JSON_STRING, true, 1, 1024},
};

static void vms_register(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_(vm_unrefp) struct vm *vm = NULL;
	if (json_check_object(body, register_fields, ARRAY_SIZE(register_fields),
			      "register request", &err) < 0 ||
	    inventory_register(h, json_string_value(json_object_get(body, "datastore")),
			       json_string_value(json_object_get(body, "path")), &vm, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	vm_log(vm, "registered on this host");
	api_respond_json(req, 201, vm_to_json(vm, true));
}

static void vms_unregister(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	if (vm_claim(vm, "unregister", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	int r = inventory_unregister(h, vm, &err);
	vm_release(vm);
	if (r < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

static void vms_reconfigure(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	if (vm_claim(vm, "reconfigure", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	int r = provision_reconfigure(h, vm, api_request_body_json(req), &err);
	vm_release(vm);
	if (r < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, vm_to_json(vm, true));
}

static void vms_guest(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (vm)
		api_respond_json(req, 200, lifecycle_guest_info(h, vm));
}

/* ---- console ---- */

struct console_session {
	char *socket_path;
	char *vm_id;
};

static int unix_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				poll(&pf, 1, 1000);
				continue;
			}
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Relays bytes between the client and QEMU's serial socket until either side closes. */
static void console_session_free(void *opaque)
{
	struct console_session *s = opaque;
	free(s->socket_path);
	free(s->vm_id);
	free(s);
}

static void console_relay(int client, const char *extra, size_t extra_len, void *opaque)
{
	struct console_session *s = opaque;
	int qemu = unix_connect(s->socket_path);
	if (qemu < 0) {
		const char *msg = "vireo: the console of this VM is not available\r\n";
		write_all(client, msg, strlen(msg));
		goto out;
	}
	log_info("console of VM %s attached", s->vm_id);
	if (extra_len > 0 && !write_all(qemu, extra, extra_len))
		goto out_close;
	char buf[16384];
	for (;;) {
		struct pollfd p[2] = {{.fd = client, .events = POLLIN}, {.fd = qemu, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(client, buf, sizeof(buf), 0);
			if (r <= 0 || !write_all(qemu, buf, (size_t)r))
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(qemu, buf, sizeof(buf), 0);
			if (r <= 0 || !write_all(client, buf, (size_t)r))
				break;
		}
	}
	log_info("console of VM %s detached", s->vm_id);
out_close:
	close(qemu);
out:
	console_session_free(s);
}

static void vms_console(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	bool on = vm->power == VM_POWER_ON;
	pthread_mutex_unlock(&vm->lock);
	if (!on) {
		api_respond_error(req, 409, "VM \"%s\" is not powered on", vm->id);
		return;
	}
	struct console_session *s = xcalloc(1, sizeof(*s));
	s->socket_path = xasprintf("%s/console.sock", vm->run_dir);
	s->vm_id = xstrdup(vm->id);
	api_respond_upgrade_ex(req, "vireo-console", console_relay, s, console_session_free);
}

static void vms_console_log(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	uint64_t max = 65536;
	const char *q = api_request_query(req, "bytes");
	if (q && parse_u64(q, 1, 1 << 20, &max) < 0) {
		api_respond_error(req, 400, "bytes=\"%s\" is not a number from 1 to 1048576", q);
		return;
	}
	_cleanup_free_ char *path = xasprintf("%s/console.log", vm->dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (file_read_all(path, 64u << 20, &text, &len, NULL) < 0) {
		api_respond_json(req, 200, json_pack("{s:s}", "text", ""));
		return;
	}
	size_t start = len > max ? len - max : 0;
	/* Serial output is arbitrary bytes: hand out valid UTF-8 only. */
	json_t *s = json_stringn(text + start, len - start);
	if (!s) {
		for (size_t i = start; i < len; i++)
			if ((unsigned char)text[i] >= 0x80 || text[i] == '\0')
				text[i] = '?';
		s = json_stringn(text + start, len - start);
	}
	api_respond_json(req, 200, json_pack("{s:o}", "text", s ? s : json_string("")));
}

void api_vms_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/vms", vms_list, h, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms", vms_create, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/register", vms_register, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}", vms_get, h, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/vms/{id}", vms_reconfigure, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/vms/{id}", vms_delete, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/unregister", vms_unregister, h,
			     API_ROUTE_BODY_OPTIONAL | API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/power/{op}", vms_power, h,
			     API_ROUTE_BODY_OPTIONAL | API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}/guest", vms_guest, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}/console", vms_console, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}/console/log", vms_console_log, h, 0);
}
