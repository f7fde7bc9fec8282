/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP connection upgrade (101 Switching Protocols) for the API server:
 * the console's "vireo-console" protocol runs on the raw socket, each
 * upgraded connection on its own thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "api/server_internal.h"

static void *upgrade_thread(void *arg)
{
	struct upgrade *u = arg;
	struct api_server *srv = u->srv;

	/* MHD hands the socket over non-blocking; the handler gets a plain one. */
	int fl = fcntl(u->sock, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(u->sock, F_SETFL, fl & ~O_NONBLOCK);
	u->fn(u->sock, u->extra, u->extra_len, u->opaque);
	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);

	pthread_mutex_lock(&srv->lock);
	for (struct upgrade **pp = &srv->upgrades; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	free(u->extra);
	free(u);
	pthread_cond_broadcast(&srv->upgrades_done);
	/* The server may be freed as soon as this unlocks. */
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
			const char *extra_in, size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	struct api_request *req = con_cls;
	struct upgrade *u = cls;
	struct api_server *srv = u->srv;

	req->pending_upgrade = NULL;
	u->sock = sock;
	u->urh = urh;
	if (extra_in_size) {
		u->extra = xmalloc(extra_in_size);
		memcpy(u->extra, extra_in, extra_in_size);
		u->extra_len = extra_in_size;
	}

	pthread_mutex_lock(&srv->lock);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->lock);
		goto close;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t tid;
	int r = pthread_create(&tid, &attr, upgrade_thread, u);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		pthread_mutex_unlock(&srv->lock);
		log_warn("%s %s: cannot start a thread for the upgraded connection: %s",
			 req->method, req->path, strerror(r));
		goto close;
	}
	u->next = srv->upgrades;
	srv->upgrades = u;
	pthread_mutex_unlock(&srv->lock);
	return;
close:
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	upgrade_discard(u);
}

static bool header_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	const char *p = value;
	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		size_t trimmed = len;
		while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
			trimmed--;
		if (trimmed == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p += len;
	}
	return false;
}

void api_respond_upgrade(struct api_request *req, const char *protocol, api_upgrade_fn fn,
			 void *opaque)
{
	api_respond_upgrade_ex(req, protocol, fn, opaque, NULL);
}

void api_respond_upgrade_ex(struct api_request *req, const char *protocol, api_upgrade_fn fn,
			    void *opaque, void (*release)(void *opaque))
{
	api_respond_upgrade_hdr(req, protocol, NULL, NULL, fn, opaque, release);
}

void api_respond_upgrade_hdr(struct api_request *req, const char *protocol, const char *header,
			     const char *value, api_upgrade_fn fn, void *opaque,
			     void (*release)(void *opaque))
{
	const char *connection = api_request_header(req, MHD_HTTP_HEADER_CONNECTION);
	const char *upgrade = api_request_header(req, MHD_HTTP_HEADER_UPGRADE);
	if (!connection || !header_has_token(connection, "upgrade") || !upgrade ||
	    !header_has_token(upgrade, protocol)) {
		_cleanup_free_ char *msg = xasprintf(
			"this endpoint needs the headers \"Connection: Upgrade\" and \"Upgrade: %s\"",
			protocol);
		respond_error_with(req, 426, MHD_HTTP_HEADER_UPGRADE, protocol, msg);
		if (release)
			release(opaque);
		return;
	}
	if (req->responded) {
		log_error("%s %s: handler responded twice (upgrade); ignored", req->method,
			  req->path);
		if (release)
			release(opaque);
		return;
	}
	struct upgrade *u = xcalloc(1, sizeof(*u));
	u->srv = req->srv;
	u->fn = fn;
	u->opaque = opaque;
	u->release = release;
	u->sock = MHD_INVALID_SOCKET;
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, u);
	if (!resp)
		abort();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, protocol);
	if (header && value)
		MHD_add_response_header(resp, header, value);
	if (MHD_queue_response(req->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp) != MHD_YES) {
		MHD_destroy_response(resp);
		upgrade_discard(u);
		respond_error_with(req, 500, NULL, NULL, "cannot switch protocols");
		return;
	}
	MHD_destroy_response(resp);
	req->pending_upgrade = u;
	req->responded = true;
	req->status = 101;
	log_response(req, 101, NULL);
}

