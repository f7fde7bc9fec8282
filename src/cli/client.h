/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CLI_CLIENT_H
#define VIREO_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

struct vr_error;
struct vireo_client;

#define CLIENT_DEFAULT_SERVER "http://127.0.0.1:8443"
#define CLIENT_SERVER_ENV "VIREO_SERVER"

/*
 * server_url: "http(s)://host:port"; NULL means $VIREO_SERVER, else
 * CLIENT_DEFAULT_SERVER.  The saved session for that URL, if any, is
 * loaded from the sessions file ($XDG_CONFIG_HOME/vireo/sessions.json,
 * else ~/.config/vireo/sessions.json).  $VIREO_TOKEN overrides it.
 */
struct vireo_client *client_new(const char *server_url, bool insecure_tls, const char *ca_file,
				struct vr_error **err);
void client_free(struct vireo_client *client);

const char *client_server_url(const struct vireo_client *client);
bool client_has_token(const struct vireo_client *client);
/* For connections made outside client_request() (the console): NULL when absent. */
const char *client_token(const struct vireo_client *client);
bool client_tls_insecure(const struct vireo_client *client);
const char *client_ca_file(const struct vireo_client *client);

/*
 * Sends a request with the session token.  body is borrowed (NULL: none).
 * *status gets the HTTP status (0 if there was no answer); *reply (may be
 * NULL) the parsed JSON reply of a successful request (NULL for 204).
 * An error status becomes a vr_error carrying the server's message.
 */
int client_request(struct vireo_client *client, const char *method, const char *path,
		   json_t *body, long *status, json_t **reply, struct vr_error **err);

/* Creates a session and saves it in the sessions file. */
int client_login(struct vireo_client *client, const char *user, const char *password,
		 json_t **reply, struct vr_error **err);
/* Ends the session on the server (if it is still valid) and forgets it. */
int client_logout(struct vireo_client *client, struct vr_error **err);
/* Forgets the saved session without asking the server. */
int client_forget_session(struct vireo_client *client, struct vr_error **err);

/* Percent-encodes s for use as one URL path segment (caller frees). */
char *client_escape(const char *s);

/* Path of the sessions file (caller frees); NULL without $HOME. */
char *client_sessions_path(void);

#endif
