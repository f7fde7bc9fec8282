/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP client of the vireo CLI on libcurl, with saved sessions. */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define REPLY_MAX (64u << 20)
#define SESSIONS_FILE_MAX (1u << 20)
#define SESSIONS_VERSION 1

struct vireo_client {
	char *url; /* without trailing '/' */
	bool insecure;
	char *ca_file;
	char *token;
	CURL *curl;
};

struct reply_buf {
	char *data;
	size_t len;
	bool too_big;
};

char *client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *p = out;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_' || *c == '~') {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hex[*c >> 4];
			*p++ = hex[*c & 15];
		}
	}
	*p = '\0';
	return out;
}

char *client_sessions_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/vireo/sessions.json", xdg);
	const char *home = getenv("HOME");
	if (home && *home)
		return xasprintf("%s/.config/vireo/sessions.json", home);
	return NULL;
}

/* Returns the sessions document, a new empty one when there is no file. */
static json_t *sessions_load(const char *path, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (access(path, F_OK) < 0)
		return json_pack("{s:i,s:{}}", "version", SESSIONS_VERSION, "sessions");
	if (file_read_all(path, SESSIONS_FILE_MAX, &text, &len, err) < 0)
		return NULL;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	if (!doc || !json_is_object(json_object_get(doc, "sessions"))) {
		json_decref(doc);
		vr_error_set(err, EINVAL, "\"%s\" is malformed; delete it and log in again", path);
		return NULL;
	}
	return doc;
}

static int sessions_save(const char *path, json_t *doc, struct vr_error **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int r = mkdir_p(dir, 0700);
		if (r < 0)
			return vr_error_set_errno(err, -r, "cannot create \"%s\"", dir);
	}
	_cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		abort();
	_cleanup_free_ char *line = xasprintf("%s\n", text);
	return file_write_atomic(path, line, strlen(line), 0600, err);
}

struct vireo_client *client_new(const char *server_url, bool insecure_tls, const char *ca_file,
				struct vr_error **err)
{
	if (!server_url || !*server_url)
		server_url = getenv(CLIENT_SERVER_ENV);
	if (!server_url || !*server_url)
		server_url = CLIENT_DEFAULT_SERVER;
	if (strncasecmp(server_url, "http://", 7) != 0 &&
	    strncasecmp(server_url, "https://", 8) != 0) {
		vr_error_set(err, EINVAL, "server URL \"%s\" must begin with http:// or https://",
			     server_url);
		return NULL;
	}
	struct vireo_client *c = xcalloc(1, sizeof(*c));
	c->url = xstrdup(server_url);
	size_t l = strlen(c->url);
	while (l > 0 && c->url[l - 1] == '/')
		c->url[--l] = '\0';
	c->insecure = insecure_tls;
	c->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	c->curl = curl_easy_init();
	if (!c->curl) {
		vr_error_set(err, ENOMEM, "cannot initialise libcurl");
		client_free(c);
		return NULL;
	}

	const char *env_token = getenv("VIREO_TOKEN");
	if (env_token && *env_token) {
		c->token = xstrdup(env_token);
		return c;
	}
	_cleanup_free_ char *path = client_sessions_path();
	if (path) {
		json_t *doc = sessions_load(path, NULL);
		const char *tok =
			json_get_string(json_object_get(json_object_get(doc, "sessions"), c->url),
					"token", NULL);
		if (tok)
			c->token = xstrdup(tok);
		json_decref(doc);
	}
	return c;
}

void client_free(struct vireo_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->ca_file);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c);
}

const char *client_server_url(const struct vireo_client *c)
{
	return c->url;
}

bool client_has_token(const struct vireo_client *c)
{
	return c->token != NULL;
}

const char *client_token(const struct vireo_client *c)
{
	return c->token;
}

bool client_tls_insecure(const struct vireo_client *c)
{
	return c->insecure;
}

const char *client_ca_file(const struct vireo_client *c)
{
	return c->ca_file;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > REPLY_MAX) {
		b->too_big = true;
		return 0;
	}
	b->data = xrealloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int errno_from_status(long status)
{
	switch (status) {
	case 400:
	case 415:
		return EINVAL;
	case 401:
		return EACCES;
	case 403:
		return EPERM;
	case 404:
		return ENOENT;
	case 405:
	case 501:
		return ENOTSUP;
	case 409:
		return EEXIST;
	case 413:
		return EFBIG;
	case 504:
		return ETIMEDOUT;
	case 507:
		return ENOSPC;
	default:
		return EIO;
	}
}

static int errno_from_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return EPROTO;
	default:
		return EIO;
	}
}

int client_request(struct vireo_client *c, const char *method, const char *path,
		   json_t *body, long *status, json_t **reply, struct vr_error **err)
{
	long dummy_status;
	if (!status)
		status = &dummy_status;
	*status = 0;
	if (reply)
		*reply = NULL;

	_cleanup_free_ char *url = xasprintf("%s%s", c->url, path);
	_cleanup_free_ char *body_text = body ? json_dump_compact(body) : NULL;
	_cleanup_free_ char *auth_header = c->token ? xasprintf("Authorization: Bearer %s", c->token)
						    : NULL;
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body_text)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (auth_header)
		headers = curl_slist_append(headers, auth_header);

	struct reply_buf buf = { 0 };
	char curl_msg[CURL_ERROR_SIZE] = "";
	CURL *h = c->curl;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body_text) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body_text));
	}
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);

	CURLcode cr = curl_easy_perform(h);
	curl_slist_free_all(headers);
	_cleanup_free_ char *data = buf.data;
	if (auth_header)
		explicit_bzero(auth_header, strlen(auth_header));
	if (buf.too_big)
		return vr_error_set(err, EFBIG, "reply to %s %s is larger than %u bytes", method,
				    path, REPLY_MAX);
	if (cr != CURLE_OK)
		return vr_error_set(err, errno_from_curl(cr), "cannot reach the Vireo host at %s: %s",
				    c->url, curl_msg[0] ? curl_msg : curl_easy_strerror(cr));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);

	json_t *doc = NULL;
	if (buf.len > 0) {
		json_error_t jerr;
		doc = json_loadb(data, buf.len, 0, &jerr);
		if (!doc && *status < 400)
			return vr_error_set(err, EPROTO, "%s %s: the server sent malformed JSON: %s",
					    method, path, jerr.text);
	}
	if (*status >= 400) {
		const char *msg = json_get_string(json_object_get(doc, "error"), "message", NULL);
		_cleanup_free_ char *fallback = xasprintf("%s %s failed with HTTP status %ld",
							  method, path, *status);
		int code = errno_from_status(*status);
		int r;
		if (*status == 401 && !c->token)
			r = vr_error_set(err, code, "not logged in to %s (run \"vireo login\")",
					 c->url);
		else if (*status == 401 && strcmp(path, "/api/v1/sessions") != 0)
			r = vr_error_set(err, code, "%s (run \"vireo login\")", msg ? msg : fallback);
		else
			r = vr_error_set(err, code, "%s", msg ? msg : fallback);
		json_decref(doc);
		return r;
	}
	if (reply)
		*reply = doc;
	else
		json_decref(doc);
	return 0;
}

static int session_store(struct vireo_client *c, const json_t *entry, struct vr_error **err)
{
	_cleanup_free_ char *path = client_sessions_path();
	if (!path)
		return vr_error_set(err, ENOENT,
				    "neither $XDG_CONFIG_HOME nor $HOME is set; cannot save the session");
	json_t *doc = sessions_load(path, err);
	if (!doc)
		return -EINVAL;
	json_t *sessions = json_object_get(doc, "sessions");
	if (entry)
		json_object_set(sessions, c->url, (json_t *)entry);
	else
		json_object_del(sessions, c->url);
	json_object_set_new(doc, "version", json_integer(SESSIONS_VERSION));
	int r = sessions_save(path, doc, err);
	json_decref(doc);
	return r;
}

int client_login(struct vireo_client *c, const char *user, const char *password,
		 json_t **reply_out, struct vr_error **err)
{
	json_t *body = json_pack("{s:s,s:s}", "username", user, "password", password);
	json_t *reply = NULL;
	long status;
	free(c->token);
	c->token = NULL;
	int r = client_request(c, "POST", "/api/v1/sessions", body, &status, &reply, err);
	json_object_clear(body);
	json_decref(body);
	if (r < 0)
		return r;
	const char *token = json_get_string(reply, "token", NULL);
	if (!token) {
		json_decref(reply);
		return vr_error_set(err, EPROTO, "the server's login reply has no token");
	}
	c->token = xstrdup(token);
	json_t *entry = json_pack("{s:s,s:s,s:s}", "token", token, "user", user, "expires",
				  json_get_string(reply, "expires", ""));
	r = session_store(c, entry, err);
	json_decref(entry);
	if (r < 0) {
		json_decref(reply);
		return vr_error_wrap(err, "logged in, but cannot save the session");
	}
	json_object_del(reply, "token");
	if (reply_out)
		*reply_out = reply;
	else
		json_decref(reply);
	return 0;
}

int client_forget_session(struct vireo_client *c, struct vr_error **err)
{
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	c->token = NULL;
	_cleanup_free_ char *path = client_sessions_path();
	if (!path || access(path, F_OK) < 0)
		return 0;
	return session_store(c, NULL, err);
}

int client_logout(struct vireo_client *c, struct vr_error **err)
{
	if (c->token) {
		long status;
		_cleanup_error_ struct vr_error *ignored = NULL;
		int r = client_request(c, "DELETE", "/api/v1/sessions/current", NULL, &status, NULL,
				       &ignored);
		/* An expired session is as good as ended. */
		if (r < 0 && status != 401) {
			if (err && !*err)
				*err = steal_pointer(&ignored);
			return r;
		}
	}
	return client_forget_session(c, err);
}
