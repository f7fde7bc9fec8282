/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the API server's files (server.c, upgrade.c); not for handlers. */
#ifndef VIREO_API_SERVER_INTERNAL_H
#define VIREO_API_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/server.h"

struct route {
	char *method;
	char *pattern;
	char **segs; /* "{name}" for parameters */
	size_t n_segs;
	size_t n_literals;
	api_handler_fn fn;
	void *opaque;
	unsigned flags;
	const struct api_stream_ops *stream; /* a byte-stream body (stream.c) */
};

struct upgrade {
	struct api_server *srv;
	api_upgrade_fn fn;
	void *opaque;
	void (*release)(void *opaque);
	MHD_socket sock;
	struct MHD_UpgradeResponseHandle *urh;
	char *extra;
	size_t extra_len;
	struct upgrade *next;
};

struct api_server {
	struct MHD_Daemon *daemon;
	const struct api_auth_ops *auth;
	void *auth_opaque;
	struct sockaddr_storage addr;
	bool ipv6;
	uint16_t port;
	char *tls_cert;
	char *tls_key;
	size_t tls_key_len;
	size_t max_body;
	unsigned threads;
	unsigned conn_timeout_s;
	struct route *routes;
	size_t n_routes;

	pthread_mutex_t lock;
	pthread_cond_t upgrades_done;
	struct upgrade *upgrades; /* running upgrade threads */
	bool stopping;
};

struct api_request {
	struct api_server *srv;
	struct MHD_Connection *conn;
	char *method;
	char *path;
	const struct route *route;
	char **params; /* decoded values, parallel to the route's segments */
	char **allocs; /* decoded query values */
	char *body;
	size_t body_len;
	size_t body_seen;
	json_t *body_json;
	char *user;
	bool admin;
	char *token;
	bool responded;
	int status;
	uint64_t start_ms;
	struct upgrade *pending_upgrade; /* queued, callback not yet run */
	void *stream_state;		 /* from the stream route's begin() */
};

/* Stream routes (stream.c): headers in, a chunk of body, the body complete, the end. */
bool stream_begin(struct api_request *req);
void stream_chunk(struct api_request *req, const char *data, size_t len);
void stream_end(struct api_request *req);
void stream_free(struct api_request *req);

/* Frees an upgrade that never started (runs its release callback). */
void upgrade_discard(struct upgrade *u);
/* Logs a response line at a level chosen by the status. */
void log_response(struct api_request *req, int status, const char *message);
/* Answers with a JSON error body and optionally one extra header. */
void respond_error_with(struct api_request *req, int status, const char *header,
			const char *header_value, const char *message);

#endif
