/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routes whose request body is a byte stream (file uploads): the body goes
 * to the handler chunk by chunk as MHD reads it, never into memory whole.
 * The pipeline before begin() is the same as for JSON routes (routing,
 * authentication); the size and type checks are these.
 */
#include <errno.h>
#include <microhttpd.h>
#include <string.h>
#include <strings.h>

#include "api/server.h"
#include "api/server_internal.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

static bool is_octet_stream(const char *ct)
{
	static const char want[] = "application/octet-stream";
	if (!ct || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	char c = ct[sizeof(want) - 1];
	return c == '\0' || c == ';' || c == ' ';
}

bool stream_begin(struct api_request *req)
{
	if (!is_octet_stream(api_request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		api_respond_error(req, 415, "%s %s takes the bytes of a file "
					    "(Content-Type: application/octet-stream)",
				  req->method, req->path);
		return false;
	}
	if (!api_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		api_respond_error(req, 411, "%s %s needs a Content-Length", req->method,
				  req->path);
		return false;
	}
	req->stream_state = req->route->stream->begin(req, req->route->opaque);
	if (!req->stream_state) {
		if (!req->responded) {
			log_error("%s %s: the stream handler refused without responding",
				  req->method, req->path);
			api_respond_error(req, 500, "internal error: no response from the handler");
		}
		return false;
	}
	return true;
}

void stream_chunk(struct api_request *req, const char *data, size_t len)
{
	if (!req->stream_state)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	if (req->route->stream->chunk(req->stream_state, data, len, &err) < 0) {
		if (!err)
			vr_error_set(&err, EIO, "writing the upload failed");
		api_respond_vr_error(req, err);
	}
}

void stream_end(struct api_request *req)
{
	if (!req->stream_state)
		return;
	req->route->stream->end(req, req->stream_state);
	if (!req->responded) {
		log_error("%s %s: the stream handler returned without responding", req->method,
			  req->path);
		api_respond_error(req, 500, "internal error: no response from the handler");
	}
}

void stream_free(struct api_request *req)
{
	if (req->stream_state && req->route && req->route->stream)
		req->route->stream->free_state(req->stream_state);
	req->stream_state = NULL;
}
