/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_API_SERVER_H
#define VIREO_API_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;
struct api_server;
struct api_request;

struct api_server_config {
	const char *bind_address; /* IPv4 or IPv6 literal; NULL: "127.0.0.1" */
	uint16_t port;		  /* 0: any free port, see api_server_port() */
	const char *tls_cert_file; /* PEM; TLS is on when both files are set */
	const char *tls_key_file;
	size_t max_body_bytes;	   /* 0: 1 MiB; larger bodies get 413 */
	unsigned thread_pool_size; /* 0: 4 */
	unsigned connection_timeout_s; /* idle HTTP connections; 0: 60 */
};

#define API_DEFAULT_MAX_BODY (1u << 20)
#define API_DEFAULT_THREADS 4
#define API_JSON_MAX_DEPTH 32

enum api_route_flags {
	API_ROUTE_NO_AUTH = 1u << 0,	   /* health and session creation only */
	API_ROUTE_ADMIN = 1u << 1,	   /* needs the admin role */
	API_ROUTE_BODY_OPTIONAL = 1u << 2, /* POST/PUT/PATCH may come without a body */
	/* Bodies up to API_LARGE_BODY_FACTOR times the server's limit (authenticated routes only). */
	API_ROUTE_LARGE_BODY = 1u << 3,
};
#define API_LARGE_BODY_FACTOR 16

typedef void (*api_handler_fn)(struct api_request *req, void *opaque);

/*
 * How the server checks a session token (hostd: its users file; center:
 * its database).  check() returns 0 with *user (caller frees; the name
 * shown in logs and messages) and *admin (for API_ROUTE_ADMIN routes),
 * -ENOENT for an unknown token or -ETIMEDOUT for an expired session.  It
 * runs on the server's worker threads, concurrently.
 */
struct api_auth_ops {
	int (*check)(void *opaque, const char *token, char **user, bool *admin);
};

/*
 * Runs on its own detached thread and owns the upgraded socket (in
 * blocking mode) until it returns; it must not close sock_fd (the server
 * does), and should write with send(..., MSG_NOSIGNAL) or run in a
 * process that ignores SIGPIPE.  api_server_stop_and_free() shuts the
 * socket down, so reads then return 0, and waits for fn to return.  extra holds bytes
 * the client sent after its request headers, to be treated as read.
 */
typedef void (*api_upgrade_fn)(int sock_fd, const char *extra, size_t extra_len, void *opaque);

/*
 * A route whose request body is a stream of bytes (Content-Type:
 * application/octet-stream, Content-Length given) rather than JSON, e.g.
 * a file upload: nothing is buffered.  begin() runs once the headers are
 * in and authenticated, and returns the handler's state, or NULL once it
 * has responded (a refusal).  chunk() gets the body as it arrives; when it
 * fails (err set) the server answers with that error and discards the
 * rest.  end() runs when the whole body is in and must respond.
 * free_state() always runs last, also when the client went away mid-body:
 * that is where a half-written file is removed.
 */
struct api_stream_ops {
	void *(*begin)(struct api_request *req, void *opaque);
	int (*chunk)(void *state, const void *data, size_t len, struct vr_error **err);
	void (*end)(struct api_request *req, void *state);
	void (*free_state)(void *state);
};

/* auth and auth_opaque are borrowed and must outlive the server. */
struct api_server *api_server_new(const struct api_server_config *cfg,
				  const struct api_auth_ops *auth, void *auth_opaque,
				  struct vr_error **err);
/*
 * Pattern: "/api/v1/users/{name}/password"; a "{x}" segment matches one
 * non-empty path segment, available as api_request_param(req, "x").
 * Routes are added before api_server_start().
 */
void api_server_add_route(struct api_server *srv, const char *method, const char *pattern,
			  api_handler_fn fn, void *opaque, unsigned flags);
/* ops is borrowed and must outlive the server. */
void api_server_add_stream_route(struct api_server *srv, const char *method, const char *pattern,
				 const struct api_stream_ops *ops, void *opaque, unsigned flags);
int api_server_start(struct api_server *srv, struct vr_error **err);
/* The bound port (the actual one when 0 was configured). */
uint16_t api_server_port(const struct api_server *srv);
/* Ends console upgrades, waits for their threads, stops, frees. NULL ok. */
void api_server_stop_and_free(struct api_server *srv);

/* ---- requests ---- */
const char *api_request_method(const struct api_request *req);
const char *api_request_path(const struct api_request *req);
/* URL-decoded path parameter, or NULL. */
const char *api_request_param(struct api_request *req, const char *name);
/* URL-decoded query parameter, or NULL (also when it is malformed). */
const char *api_request_query(struct api_request *req, const char *name);
/* Request header (case-insensitive name), or NULL. */
const char *api_request_header(struct api_request *req, const char *name);
/*
 * The body, already checked to be a JSON object (borrowed).  NULL only
 * for methods without a body or an empty body on an API_ROUTE_BODY_OPTIONAL
 * route.
 */
json_t *api_request_body_json(struct api_request *req);
/* NULL on API_ROUTE_NO_AUTH routes. */
const char *api_request_user(const struct api_request *req);
/* Whether the session may use API_ROUTE_ADMIN routes. */
bool api_request_is_admin(const struct api_request *req);
/* The session token the request authenticated with, or NULL. */
const char *api_request_token(const struct api_request *req);
/*
 * The client's IP address as text ("192.0.2.7", "2001:db8::7"), or NULL
 * when it is not known: the TCP peer, never a header the client wrote.
 */
const char *api_request_peer(struct api_request *req);

/* ---- long polls, without holding a worker thread ---- */
/*
 * A queue of waiting requests with a version; api_waitq_notify() bumps
 * the version and wakes every request waiting on it.  Any thread may
 * notify.  Free a queue only after the servers whose requests wait on it
 * have stopped.
 */
struct api_waitq;
struct api_waitq *api_waitq_new(void);
void api_waitq_free(struct api_waitq *q);
uint64_t api_waitq_version(struct api_waitq *q);
void api_waitq_notify(struct api_waitq *q);

typedef void (*api_wait_fn)(struct api_request *req, void *opaque);
/*
 * Instead of responding: parks the request (its connection is suspended,
 * no thread is held) until q's version differs from seen (read it before
 * looking at the state being waited for), until deadline_ms (CLOCK_MONOTONIC,
 * time_mono_ms()) passes, or until the server stops (then the answer is
 * 503 and fn does not run).  fn then runs on a worker thread and responds
 * or waits again.  free_opaque(opaque) runs once the request no longer
 * needs it (also when the client goes away); q may be NULL.
 */
void api_request_wait(struct api_request *req, struct api_waitq *q, uint64_t seen,
		      uint64_t deadline_ms, api_wait_fn fn, void *opaque,
		      void (*free_opaque)(void *opaque));

/* ---- responses: exactly one per request ---- */
void api_respond_json(struct api_request *req, int status, json_t *body /* stolen */);
void api_respond_error(struct api_request *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_respond_vr_error(struct api_request *req, const struct vr_error *err);
/* An error answer with one more header, e.g. Retry-After on a 429 or 503. */
void api_respond_error_header(struct api_request *req, int status, const char *header,
			      const char *value, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void api_respond_no_content(struct api_request *req);
/* A non-JSON body (copied), e.g. the Prometheus text format; content_type names it. */
/*
 * Answers with size bytes of the open file fd from its start (the server
 * takes fd and closes it), without reading it into memory.
 */
void api_respond_file(struct api_request *req, int status, const char *content_type, int fd,
		      uint64_t size);
void api_respond_text(struct api_request *req, int status, const char *content_type,
		      const char *body, size_t len);
/*
 * Answers 101 Switching Protocols when the client asked for
 * "Connection: Upgrade" and "Upgrade: <protocol>" (else 400), then runs
 * fn on a new thread with the raw socket.
 */
void api_respond_upgrade(struct api_request *req, const char *protocol, api_upgrade_fn fn,
			 void *opaque);
/*
 * The same, plus release(opaque) when fn will never run: the request
 * lacked the upgrade headers (426), the client went away before the 101
 * was sent, or the server is stopping.  Either fn or release runs, once.
 */
void api_respond_upgrade_ex(struct api_request *req, const char *protocol, api_upgrade_fn fn,
			    void *opaque, void (*release)(void *opaque));

/* The same with one more response header (WebSocket's Sec-WebSocket-Accept). */
void api_respond_upgrade_hdr(struct api_request *req, const char *protocol, const char *header,
			     const char *value, api_upgrade_fn fn, void *opaque,
			     void (*release)(void *opaque));

/* HTTP status for an errno value (EINVAL -> 400, ENOENT -> 404, ...). */
int api_status_from_errno(int code);

#endif
