/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-over-HTTP client of the Vireo REST API on libcurl. */
#include "api/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

struct api_client {
	char *url; /* without trailing '/' */
	bool insecure;
	char *ca_file;
	char *token;
	long timeout_s, connect_timeout_s;
	const volatile bool *abort_flag;
	CURL *curl;
};

struct reply_buf {
	char *data;
	size_t len;
	bool too_big;
};

char *api_client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *p = out;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~') {
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

struct api_client *api_client_new(const char *url, bool insecure_tls, const char *ca_file,
				  struct vr_error **err)
{
	if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
		vr_error_set(err, EINVAL, "server URL \"%s\" must begin with http:// or https://",
			     url ? url : "");
		return NULL;
	}
	struct api_client *c = xcalloc(1, sizeof(*c));
	c->url = xstrdup(url);
	size_t l = strlen(c->url);
	while (l > 0 && c->url[l - 1] == '/')
		c->url[--l] = '\0';
	c->insecure = insecure_tls;
	c->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	c->timeout_s = 300;
	c->connect_timeout_s = 10;
	c->curl = curl_easy_init();
	if (!c->curl) {
		vr_error_set(err, ENOMEM, "cannot initialise libcurl");
		api_client_free(c);
		return NULL;
	}
	return c;
}

void api_client_free(struct api_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->ca_file);
	api_client_set_token(c, NULL);
	free(c);
}

const char *api_client_url(const struct api_client *c)
{
	return c->url;
}

void api_client_set_token(struct api_client *c, const char *token)
{
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	c->token = token ? xstrdup(token) : NULL;
}

const char *api_client_token(const struct api_client *c)
{
	return c->token;
}

bool api_client_tls_insecure(const struct api_client *c)
{
	return c->insecure;
}

const char *api_client_ca_file(const struct api_client *c)
{
	return c->ca_file;
}

void api_client_set_timeouts(struct api_client *c, long request_s, long connect_s)
{
	if (request_s > 0)
		c->timeout_s = request_s;
	if (connect_s > 0)
		c->connect_timeout_s = connect_s;
}

void api_client_set_abort_flag(struct api_client *c, const volatile bool *flag)
{
	c->abort_flag = flag;
}

static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const volatile bool *flag = opaque;
	return *flag ? 1 : 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > API_CLIENT_REPLY_MAX) {
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
	case 429: /* e.g. a user name locked by failed logins: try again later */
	case 503:
		return EAGAIN;
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

int api_client_request(struct api_client *c, const char *method, const char *path,
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
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Not reused once the server may be closing it (its idle timeout is 60 s). */
	curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, 30L);
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
	if (c->abort_flag) {
		if (*c->abort_flag) {
			curl_slist_free_all(headers);
			return vr_error_set(err, ECANCELED, "%s %s: cancelled", method, path);
		}
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->abort_flag);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}

	CURLcode cr = curl_easy_perform(h);
	curl_slist_free_all(headers);
	_cleanup_free_ char *data = buf.data;
	if (auth_header)
		explicit_bzero(auth_header, strlen(auth_header));
	if (body_text && strstr(body_text, "\"password\""))
		explicit_bzero(body_text, strlen(body_text));
	if (buf.too_big)
		return vr_error_set(err, EFBIG, "reply to %s %s is larger than %u bytes", method,
				    path, API_CLIENT_REPLY_MAX);
	if (cr == CURLE_ABORTED_BY_CALLBACK)
		return vr_error_set(err, ECANCELED, "%s %s: cancelled", method, path);
	if (cr != CURLE_OK)
		return vr_error_set(err, errno_from_curl(cr), "cannot reach %s: %s", c->url,
				    curl_msg[0] ? curl_msg : curl_easy_strerror(cr));
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
		int r = msg ? vr_error_set(err, errno_from_status(*status), "%s", msg)
			    : vr_error_set(err, errno_from_status(*status),
					   "%s %s failed with HTTP status %ld", method, path,
					   *status);
		json_decref(doc);
		return r;
	}
	if (reply)
		*reply = doc;
	else
		json_decref(doc);
	return 0;
}

int api_client_login(struct api_client *c, const char *user, const char *password,
		     json_t **reply_out, struct vr_error **err)
{
	json_t *body = json_pack("{s:s,s:s}", "username", user, "password", password);
	json_t *reply = NULL;
	long status;
	api_client_set_token(c, NULL);
	int r = api_client_request(c, "POST", "/api/v1/sessions", body, &status, &reply, err);
	json_object_clear(body);
	json_decref(body);
	if (r < 0)
		return r;
	const char *token = json_get_string(reply, "token", NULL);
	if (!token) {
		json_decref(reply);
		return vr_error_set(err, EPROTO, "the login reply of %s has no token", c->url);
	}
	api_client_set_token(c, token);
	json_object_del(reply, "token");
	if (reply_out)
		*reply_out = reply;
	else
		json_decref(reply);
	return 0;
}

/* ---- relaying a file between two servers ---- */

struct relay_get {
	struct api_client *c;
	char *path;
	int fd;		  /* the write end of the socket pair; closed when done */
	long status;
	CURLcode cr;
	char curl_msg[CURL_ERROR_SIZE];
	struct reply_buf error_body; /* the source's reply when it is not 200 */
	uint64_t sent;
};

static size_t relay_on_get_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct relay_get *g = userdata;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(g->c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return on_data(ptr, size, nmemb, &g->error_body);
	for (size_t off = 0; off < n;) {
		ssize_t w = send(g->fd, ptr + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0; /* the receiving side is gone: stop */
		off += (size_t)w;
	}
	g->sent += n;
	return n;
}

static void set_common(struct api_client *c, CURL *h, const char *url, struct curl_slist *headers,
		       char *curl_msg)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
	/* A large file takes long: stop only when nothing moves for a while. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout_s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
}

static void *relay_get_thread(void *opaque)
{
	struct relay_get *g = opaque;
	_cleanup_free_ char *url = xasprintf("%s%s", g->c->url, g->path);
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", g->c->token ? g->c->token : "");
	struct curl_slist *headers = curl_slist_append(NULL, auth);
	set_common(g->c, g->c->curl, url, headers, g->curl_msg);
	curl_easy_setopt(g->c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(g->c->curl, CURLOPT_WRITEFUNCTION, relay_on_get_data);
	curl_easy_setopt(g->c->curl, CURLOPT_WRITEDATA, g);
	g->cr = curl_easy_perform(g->c->curl);
	curl_easy_getinfo(g->c->curl, CURLINFO_RESPONSE_CODE, &g->status);
	curl_slist_free_all(headers);
	explicit_bzero(auth, strlen(auth));
	shutdown(g->fd, SHUT_WR);
	return NULL;
}

struct relay_put {
	struct api_client *c;
	int fd; /* the read end */
	uint64_t size, done;
	bool short_read;
	void (*on_bytes)(void *opaque, const void *data, size_t len);
	void *opaque;
};

static size_t relay_on_put_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct relay_put *p = userdata;
	if (p->c->abort_flag && *p->c->abort_flag)
		return CURL_READFUNC_ABORT;
	size_t want = size * nitems;
	if (want > p->size - p->done)
		want = (size_t)(p->size - p->done);
	if (want == 0)
		return 0;
	ssize_t n;
	do
		n = recv(p->fd, buf, want, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		p->short_read = true; /* the source ended early (or failed) */
		return CURL_READFUNC_ABORT;
	}
	p->done += (uint64_t)n;
	if (p->on_bytes)
		p->on_bytes(p->opaque, buf, (size_t)n);
	return (size_t)n;
}

int api_client_relay(struct api_client *src, const char *src_path, struct api_client *dst,
		     const char *dst_path, uint64_t size,
		     void (*on_bytes)(void *opaque, const void *data, size_t len), void *opaque,
		     json_t **reply, struct vr_error **err)
{
	if (reply)
		*reply = NULL;
	if (src == dst)
		return vr_error_set(err, EINVAL, "a relay needs two client objects");
	if (dst->abort_flag && *dst->abort_flag)
		return vr_error_set(err, ECANCELED, "copying %s: cancelled", src_path);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return vr_error_set_errno(err, errno, "cannot create a socket pair");
	struct relay_get g = { .c = src, .path = xstrdup(src_path), .fd = sv[1] };
	pthread_t th;
	int e = pthread_create(&th, NULL, relay_get_thread, &g);
	if (e) {
		close(sv[0]);
		close(sv[1]);
		free(g.path);
		return vr_error_set_errno(err, e, "cannot start the copy thread");
	}

	struct relay_put p = { .c = dst, .fd = sv[0], .size = size, .on_bytes = on_bytes,
			       .opaque = opaque };
	_cleanup_free_ char *url = xasprintf("%s%s", dst->url, dst_path);
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", dst->token ? dst->token : "");
	struct curl_slist *headers = curl_slist_append(NULL, auth);
	headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
	headers = curl_slist_append(headers, "Accept: application/json");
	char curl_msg[CURL_ERROR_SIZE] = "";
	struct reply_buf buf = { 0 };
	CURL *h = dst->curl;
	set_common(dst, h, url, headers, curl_msg);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, relay_on_put_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &p);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
	CURLcode cr = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	explicit_bzero(auth, strlen(auth));
	/* Unblocks the source's thread if it is still sending, then waits for it. */
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	free(g.path);
	_cleanup_free_ char *data = buf.data;
	_cleanup_free_ char *gdata = g.error_body.data;

	int r = 0;
	json_t *doc = buf.len ? json_loadb(data, buf.len, 0, NULL) : NULL;
	if (status >= 400) { /* the target refused: its reason comes first */
		const char *msg = json_get_string(json_object_get(doc, "error"), "message", NULL);
		r = msg ? vr_error_set(err, errno_from_status(status), "%s", msg)
			: vr_error_set(err, errno_from_status(status),
				       "PUT %s failed with HTTP status %ld", dst_path, status);
		json_decref(doc);
		return r;
	}
	if (g.status != 200 && g.status != 0) {
		json_t *gdoc = gdata ? json_loadb(gdata, g.error_body.len, 0, NULL) : NULL;
		const char *msg = json_get_string(json_object_get(gdoc, "error"), "message", NULL);
		r = vr_error_set(err, errno_from_status(g.status), "reading %s: %s", src_path,
				 msg ? msg : "failed");
		json_decref(gdoc);
	} else if (g.cr != CURLE_OK && g.sent < size) {
		r = vr_error_set(err, errno_from_curl(g.cr), "reading %s from %s: %s", src_path,
				 src->url, g.curl_msg[0] ? g.curl_msg : curl_easy_strerror(g.cr));
	} else if (cr == CURLE_ABORTED_BY_CALLBACK && dst->abort_flag && *dst->abort_flag) {
		r = vr_error_set(err, ECANCELED, "copying %s: cancelled", src_path);
	} else if (p.short_read || g.sent != size) {
		r = vr_error_set(err, EIO, "%s: the source sent %llu bytes, %llu expected",
				 src_path, (unsigned long long)g.sent, (unsigned long long)size);
	} else if (cr != CURLE_OK) {
		r = vr_error_set(err, errno_from_curl(cr), "writing to %s: %s", dst->url,
				 curl_msg[0] ? curl_msg : curl_easy_strerror(cr));
	} else if (status != 200 && status != 201) {
		r = vr_error_set(err, EPROTO, "PUT %s answered HTTP status %ld", dst_path, status);
	}
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	if (reply)
		*reply = doc;
	else
		json_decref(doc);
	return 0;
}
