/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources that move a powered-off VM's folder between datastores
 * and hosts (host/transfer.h):
 *   POST   /api/v1/vms/{id}/transfer              hold the VM, list its files
 *   GET    /api/v1/transfers/{id}/files/{name}    one file's bytes
 *   DELETE /api/v1/transfers/{id}[?remove=true]   release it, or remove the VM
 *   POST   /api/v1/incoming                       announce a folder's files
 *   PUT    /api/v1/incoming/{id}/files/{name}     one file (octet stream)
 *   POST   /api/v1/incoming/{id}/commit           into place, registered
 *   DELETE /api/v1/incoming/{id}                  drop it
 * All need the admin role.  vireo-center relays the bytes from one host to
 * the other and checks each file's SHA-256.
 */
#include <errno.h>
#include <string.h>

#include "api/server.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/transfer.h"

static void out_start(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *out = NULL;
	if (transfer_out_start(h, vm, &out, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 201, out);
}

static void out_file(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	int fd;
	uint64_t size;
	if (transfer_out_open(h, api_request_param(req, "id"), api_request_param(req, "name"), &fd,
			      &size, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_file(req, 200, "application/octet-stream", fd, size);
}

static void out_end(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	const char *remove = api_request_query(req, "remove");
	if (remove && strcmp(remove, "true") != 0 && strcmp(remove, "false") != 0) {
		api_respond_error(req, 400, "remove=\"%s\": true or false", remove);
		return;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	if (transfer_out_end(h, api_request_param(req, "id"), remove && strcmp(remove, "true") == 0,
			     &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

static void in_start(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *out = NULL;
	if (transfer_in_start(h, api_request_body_json(req), &out, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 201, out);
}

static void *upload_begin(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	const char *cl = api_request_header(req, "Content-Length");
	uint64_t length;
	if (!cl || parse_u64(cl, 0, UINT64_MAX, &length) < 0) {
		api_respond_error(req, 400, "Content-Length \"%s\" is not a number", cl ? cl : "");
		return NULL;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	struct transfer_upload *u = transfer_upload_begin(
		h, api_request_param(req, "id"), api_request_param(req, "name"), length, &err);
	if (!u)
		api_respond_vr_error(req, err);
	return u;
}

static int upload_chunk(void *state, const void *data, size_t len, struct vr_error **err)
{
	return transfer_upload_write(state, data, len, err);
}

static void upload_end(struct api_request *req, void *state)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *out = NULL;
	if (transfer_upload_finish(state, &out, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, out);
}

static void upload_free(void *state)
{
	transfer_upload_free(state);
}

static const struct api_stream_ops upload_ops = {
	.begin = upload_begin,
	.chunk = upload_chunk,
	.end = upload_end,
	.free_state = upload_free,
};

static const struct json_field commit_fields[] = {
	{ "vmx", JSON_STRING, true, 1, 255 },
	{ "replaces", JSON_STRING, false, 1, 64 },
};

static void in_commit(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_(vm_unrefp) struct vm *vm = NULL;
	if (json_check_object(body, commit_fields, ARRAY_SIZE(commit_fields), "commit", &err) < 0 ||
	    transfer_in_commit(h, api_request_param(req, "id"), json_get_string(body, "vmx", ""),
			       json_get_string(body, "replaces", NULL), &vm, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 201, vm_to_json(vm, true));
}

static void in_abort(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	if (transfer_in_abort(h, api_request_param(req, "id"), &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_no_content(req);
}

void api_transfers_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/transfer", out_start, h,
			     API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "GET", "/api/v1/transfers/{id}/files/{name}", out_file, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/transfers/{id}", out_end, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/incoming", in_start, h, API_ROUTE_ADMIN);
	api_server_add_stream_route(srv, "PUT", "/api/v1/incoming/{id}/files/{name}", &upload_ops, h,
				    API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/incoming/{id}/commit", in_commit, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/incoming/{id}", in_abort, h, API_ROUTE_ADMIN);
}
