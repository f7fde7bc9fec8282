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

/* A suspended long poll (wait.c). */
struct api_wait {
	struct api_request *req;
	struct api_waitq *q; /* NULL: waits for its deadline only */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC */
	api_wait_fn fn;
	void *opaque;
	void (*free_opaque)(void *opaque);
	bool fired;
	struct api_wait *srv_next, *q_next, *resume_next;
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

	/* Long polls (wait.c), under its wait_lock. */
	struct api_wait *waits; /* suspended, not fired */
	unsigned resuming;	/* fired, MHD_resume_connection() not yet returned */
	unsigned waited;	/* requests that have waited and are not yet freed */
	pthread_cond_t wait_cond;
	bool wait_cond_ready;
	pthread_t wait_timer;
	bool wait_timer_running;
	bool wait_stopping;
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
	char peer[INET6_ADDRSTRLEN]; /* api_request_peer(), filled on first use */
	bool responded;
	int status;
	uint64_t start_ms;
	struct upgrade *pending_upgrade; /* queued, callback not yet run */
	void *stream_state;		 /* from the stream route's begin() */
	struct api_wait *wait;		 /* suspended by api_request_wait() */
	bool waited;			 /* counted in the server's "waited" */
};

/* Stream routes (stream.c): headers in, a chunk of body, the body complete, the end. */
bool stream_begin(struct api_request *req);
void stream_chunk(struct api_request *req, const char *data, size_t len);
void stream_end(struct api_request *req);
void stream_free(struct api_request *req);

/* Long polls (wait.c): the server's timer, its stop (before MHD's), a resumed or ended request. */
int wait_server_start(struct api_server *srv);
void wait_server_stop(struct api_server *srv);
void wait_server_free(struct api_server *srv);
void wait_resume(struct api_request *req);
void wait_discard(struct api_request *req);

/* Frees an upgrade that never started (runs its release callback). */
void upgrade_discard(struct upgrade *u);
/* Logs a response line at a level chosen by the status. */
void log_response(struct api_request *req, int status, const char *message);
/* Answers with a JSON error body and optionally one extra header. */
void respond_error_with(struct api_request *req, int status, const char *header,
			const char *header_value, const char *message);

#endif
