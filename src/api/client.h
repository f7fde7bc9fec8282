/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_API_CLIENT_H
#define VIREO_API_CLIENT_H

/*
 * A JSON-over-HTTP client of the Vireo REST API (libcurl), used by the
 * vireo CLI (which adds saved sessions, cli/client.h) and by vireo-center
 * to talk to its hosts.  One struct api_client is one connection (kept
 * alive between requests) used by one thread at a time.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct vr_error;
struct api_client;

/* Replies larger than this are refused. */
#define API_CLIENT_REPLY_MAX (64u << 20)

/* url: "http(s)://host:port" (a trailing '/' is dropped). */
struct api_client *api_client_new(const char *url, bool insecure_tls, const char *ca_file,
				  struct vr_error **err);
void api_client_free(struct api_client *c);

const char *api_client_url(const struct api_client *c);
/* The session token sent as "Authorization: Bearer" (copied; NULL: none). */
void api_client_set_token(struct api_client *c, const char *token);
const char *api_client_token(const struct api_client *c);
bool api_client_tls_insecure(const struct api_client *c);
const char *api_client_ca_file(const struct api_client *c);
/* Whole-request and connect timeouts in seconds (defaults 300 and 10). */
void api_client_set_timeouts(struct api_client *c, long request_s, long connect_s);

/*
 * A flag that, once true, makes the request in progress (and any later
 * one) fail at once with -ECANCELED: for stopping threads that long-poll.
 */
void api_client_set_abort_flag(struct api_client *c, const volatile bool *flag);

/*
 * Sends a request.  body is borrowed (NULL: none).  *status gets the HTTP
 * status (0 if there was no answer); *reply (may be NULL) the parsed JSON
 * reply of a successful request (NULL for 204).  An error status becomes
 * a vr_error carrying the server's message and an errno from the status
 * (401 EACCES, 403 EPERM, 404 ENOENT, 409 EEXIST, ...); no answer at all
 * ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, EPROTO (TLS) or EIO.
 */
int api_client_request(struct api_client *c, const char *method, const char *path,
		       json_t *body, long *status, json_t **reply, struct vr_error **err);

/*
 * POST /api/v1/sessions; on success the client uses the new token and
 * *reply (may be NULL) gets the server's answer without the token.
 */
int api_client_login(struct api_client *c, const char *user, const char *password,
		     json_t **reply, struct vr_error **err);

/* Percent-encodes s for use as one URL path segment or query value (caller frees). */
char *api_client_escape(const char *s);

/*
 * Streams a file from one server to another: GET src_path on src, PUT
 * dst_path on dst (application/octet-stream, Content-Length: size), with
 * nothing held whole in memory.  Both clients need their tokens set and
 * must be distinct objects (even for one server).  on_bytes (may be NULL)
 * sees each chunk as it goes by (checksums, progress).  The abort flag of
 * dst cancels it (ECANCELED).  A source that answers with an error, or
 * with more or fewer than size bytes, fails the copy, and so does the PUT:
 * its JSON reply goes to *reply (caller decrefs) on success.
 */
int api_client_relay(struct api_client *src, const char *src_path, struct api_client *dst,
		     const char *dst_path, uint64_t size,
		     void (*on_bytes)(void *opaque, const void *data, size_t len), void *opaque,
		     json_t **reply, struct vr_error **err);

#endif
