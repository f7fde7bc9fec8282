/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST server of vireo-hostd and vireo-center, on libmicrohttpd.
 *
 * Requests go through one pipeline before any handler runs: routing (404,
 * 405), authentication (401, 403), body size and type (413, 415) and JSON
 * parsing (400).  Handlers then run synchronously on the MHD worker thread
 * and answer exactly once through api_respond_*().
 */
#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "api/server_internal.h"
#include "api/server_priv.h"

#define TLS_FILE_MAX (1u << 20)
#define DEFAULT_CONNECTION_TIMEOUT_S 60
/* Oversized chunked bodies are drained up to this many times the limit. */
#define DRAIN_FACTOR 4


/* ---- small helpers ---- */

int api_status_from_errno(int code)
{
	switch (code < 0 ? -code : code) {
	case EINVAL:
	case ERANGE:
		return 400;
	case ENOENT:
	case ENODEV:
		return 404;
	case EEXIST:
	case EBUSY:
	case EALREADY:
	case EADDRINUSE:
	case ENOTEMPTY:
		return 409;
	case EACCES:
	case EPERM:
		return 403;
	case ENOSPC:
		return 507;
	case EFBIG:
	case E2BIG:
		return 413;
	case ETIMEDOUT:
		return 504;
	case EHOSTDOWN: /* center: the host that would do it does not answer */
	case EAGAIN:
		return 503;
	case ECONNREFUSED: /* center: a host it talks to */
	case EHOSTUNREACH:
	case EPROTO:
		return 502;
	case ELOOP: /* a move into its own subtree */
	case EXDEV: /* a move into another datacenter */
		return 400;
	case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
	case EOPNOTSUPP:
#endif
		return 501;
	default:
		return 500;
	}
}

static bool method_has_body(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	       strcmp(method, "PATCH") == 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *api_url_decode(const char *s, size_t len, bool plus_is_space)
{
	char *out = xmalloc(len + 1), *p = out;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*p++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '\0') {
			free(out);
			return NULL;
		} else {
			*p++ = plus_is_space && c == '+' ? ' ' : c;
		}
	}
	*p = '\0';
	return out;
}

/* Keeps MHD from decoding the path: we decode each segment after splitting. */
static size_t unescape_nothing(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt,
							       va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	/* Mostly misbehaving clients (bad TLS handshakes, broken requests). */
	log_info("libmicrohttpd: %s", buf);
}

/* ---- JSON bodies ---- */

static int json_depth_check(const char *data, size_t len, struct vr_error **err)
{
	unsigned depth = 0;
	bool in_string = false, escaped = false;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > API_JSON_MAX_DEPTH)
				return vr_error_set(err, EINVAL,
						    "request body is nested deeper than %d levels",
						    API_JSON_MAX_DEPTH);
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int api_json_parse_body(const char *data, size_t len, json_t **out, struct vr_error **err)
{
	int r = json_depth_check(data, len, err);
	if (r < 0)
		return r;
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return vr_error_set(err, EINVAL,
				    "request body is not valid JSON: %s (line %d, column %d)",
				    jerr.text, jerr.line, jerr.column);
	if (!json_is_object(v)) {
		const char *t = json_type_name(json_typeof(v));
		json_decref(v);
		return vr_error_set(err, EINVAL, "request body must be a JSON object, not %s %s",
				    strchr("aeiou", t[0]) ? "an" : "a", t);
	}
	*out = v;
	return 0;
}

/* ---- server ---- */

static int parse_bind_address(struct api_server *srv, const char *addr, uint16_t port,
			      struct vr_error **err)
{
	memset(&srv->addr, 0, sizeof(srv->addr));
	struct sockaddr_in *sin = (struct sockaddr_in *)&srv->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&srv->addr;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		srv->ipv6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		srv->ipv6 = true;
		return 0;
	}
	return vr_error_set(err, EINVAL, "bind address \"%s\" is not an IPv4 or IPv6 address",
			    addr);
}

struct api_server *api_server_new(const struct api_server_config *cfg,
				  const struct api_auth_ops *auth, void *auth_opaque,
				  struct vr_error **err)
{
	struct api_server *srv = xcalloc(1, sizeof(*srv));
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->upgrades_done, NULL);
	srv->auth = auth;
	srv->auth_opaque = auth_opaque;
	srv->port = cfg->port;
	srv->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : API_DEFAULT_MAX_BODY;
	srv->threads = cfg->thread_pool_size ? cfg->thread_pool_size : API_DEFAULT_THREADS;
	srv->conn_timeout_s =
		cfg->connection_timeout_s ? cfg->connection_timeout_s : DEFAULT_CONNECTION_TIMEOUT_S;

	if (parse_bind_address(srv, cfg->bind_address ? cfg->bind_address : "127.0.0.1",
			       cfg->port, err) < 0)
		goto fail;

	bool has_cert = cfg->tls_cert_file && *cfg->tls_cert_file;
	bool has_key = cfg->tls_key_file && *cfg->tls_key_file;
	if (has_cert != has_key) {
		vr_error_set(err, EINVAL, "TLS needs both a certificate and a key file; only the %s was given",
			     has_cert ? "certificate" : "key");
		goto fail;
	}
	if (has_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			vr_error_set(err, ENOTSUP, "this libmicrohttpd was built without TLS");
			goto fail;
		}
		if (file_read_all(cfg->tls_cert_file, TLS_FILE_MAX, &srv->tls_cert, NULL, err) < 0 ||
		    file_read_all(cfg->tls_key_file, TLS_FILE_MAX, &srv->tls_key, &srv->tls_key_len,
				  err) < 0) {
			vr_error_wrap(err, "cannot load the TLS certificate or key");
			goto fail;
		}
	}
	return srv;
fail:
	api_server_stop_and_free(srv);
	return NULL;
}

static void route_free(struct route *r)
{
	free(r->method);
	free(r->pattern);
	strv_free(r->segs);
}

static char **split_path(const char *path, size_t *n_out)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = path[0] == '/' ? path + 1 : path;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = xstrndup(p, len);
		v[n] = NULL;
		if (!slash)
			break;
		p = slash + 1;
	}
	*n_out = n;
	return v;
}

static bool seg_is_param(const char *seg)
{
	size_t l = strlen(seg);
	return l >= 3 && seg[0] == '{' && seg[l - 1] == '}';
}

void api_server_add_route(struct api_server *srv, const char *method, const char *pattern,
			  api_handler_fn fn, void *opaque, unsigned flags)
{
	srv->routes = xrealloc(srv->routes, (srv->n_routes + 1) * sizeof(*srv->routes));
	struct route *r = &srv->routes[srv->n_routes++];
	memset(r, 0, sizeof(*r));
	r->method = xstrdup(method);
	r->pattern = xstrdup(pattern);
	r->segs = split_path(pattern, &r->n_segs);
	for (size_t i = 0; i < r->n_segs; i++)
		r->n_literals += !seg_is_param(r->segs[i]);
	r->fn = fn;
	r->opaque = opaque;
	r->flags = flags;
}

void api_server_add_stream_route(struct api_server *srv, const char *method, const char *pattern,
				 const struct api_stream_ops *ops, void *opaque, unsigned flags)
{
	api_server_add_route(srv, method, pattern, NULL, opaque, flags);
	srv->routes[srv->n_routes - 1].stream = ops;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe);

int api_server_start(struct api_server *srv, struct vr_error **err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_UPGRADE | MHD_ALLOW_SUSPEND_RESUME;
	if (srv->ipv6)
		flags |= MHD_USE_IPv6;
	struct MHD_OptionItem opts[4] = {
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL }, /* always the end */
	};
	if (srv->tls_cert) {
		flags |= MHD_USE_TLS;
		opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key };
		opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert };
	}
	/*
	 * libmicrohttpd's default connection limit is select()'s (about 1020),
	 * shared by the pool's workers; with epoll, only the process's file
	 * limit matters.  Half of it, leaving the rest to the daemon's own
	 * files (disks, sockets), serves center's long polls of 1,000 hosts.
	 */
	unsigned conn_limit = 0;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 > 1020)
		conn_limit = rl.rlim_cur / 2 > 32768 ? 32768 : (unsigned)(rl.rlim_cur / 2);
	if (conn_limit) {
		for (size_t i = 0; i + 1 < ARRAY_SIZE(opts); i++)
			if (opts[i].option == MHD_OPTION_END) {
				opts[i] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
								      conn_limit, NULL };
				break;
			}
	}
	int wr = wait_server_start(srv);
	if (wr < 0)
		return vr_error_set(err, -wr, "cannot start the API server's timer thread");
	srv->daemon = MHD_start_daemon(
		flags, srv->port, NULL, NULL, on_request, srv,
		/* The logger first, or MHD logs the other options' problems itself. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)srv->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->conn_timeout_s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&srv->addr,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape_nothing, NULL,
		MHD_OPTION_ARRAY, opts,
		MHD_OPTION_END);
	if (!srv->daemon) {
		char host[INET6_ADDRSTRLEN] = "?";
		if (srv->ipv6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&srv->addr)->sin6_addr, host,
				  sizeof(host));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&srv->addr)->sin_addr, host,
				  sizeof(host));
		return vr_error_set(err, EADDRINUSE,
				    "cannot start the API server on %s port %u (address in use, "
				    "or not available on this host?)",
				    host, srv->port);
	}
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info && info->port)
		srv->port = info->port;
	log_info("API server listening on port %u (%s)", srv->port,
		 srv->tls_cert ? "HTTPS" : "HTTP");
	return 0;
}

uint16_t api_server_port(const struct api_server *srv)
{
	return srv->port;
}

void api_server_stop_and_free(struct api_server *srv)
{
	if (!srv)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	for (struct upgrade *u = srv->upgrades; u; u = u->next)
		shutdown(u->sock, SHUT_RDWR);
	while (srv->upgrades) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_cond_timedwait(&srv->upgrades_done, &srv->lock, &ts) == ETIMEDOUT)
			log_warn("waiting for upgraded API connections to end");
	}
	pthread_mutex_unlock(&srv->lock);

	/* libmicrohttpd aborts when stopped with a connection suspended. */
	wait_server_stop(srv);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	wait_server_free(srv);
	for (size_t i = 0; i < srv->n_routes; i++)
		route_free(&srv->routes[i]);
	free(srv->routes);
	free(srv->tls_cert);
	if (srv->tls_key)
		explicit_bzero(srv->tls_key, srv->tls_key_len);
	free(srv->tls_key);
	pthread_cond_destroy(&srv->upgrades_done);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* ---- requests ---- */

const char *api_request_method(const struct api_request *req)
{
	return req->method;
}

const char *api_request_path(const struct api_request *req)
{
	return req->path;
}

const char *api_request_param(struct api_request *req, const char *name)
{
	if (!req->route || !req->params)
		return NULL;
	size_t nl = strlen(name);
	for (size_t i = 0; i < req->route->n_segs; i++) {
		const char *s = req->route->segs[i];
		if (seg_is_param(s) && strlen(s) == nl + 2 && strncmp(s + 1, name, nl) == 0)
			return req->params[i];
	}
	return NULL;
}

const char *api_request_query(struct api_request *req, const char *name)
{
	const char *raw = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!raw)
		return NULL;
	char *v = api_url_decode(raw, strlen(raw), true);
	if (!v)
		return NULL;
	size_t n = strv_len(req->allocs);
	req->allocs = xrealloc(req->allocs, (n + 2) * sizeof(char *));
	req->allocs[n] = v;
	req->allocs[n + 1] = NULL;
	return v;
}

const char *api_request_header(struct api_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

json_t *api_request_body_json(struct api_request *req)
{
	return req->body_json;
}

const char *api_request_user(const struct api_request *req)
{
	return req->user;
}

bool api_request_is_admin(const struct api_request *req)
{
	return req->admin;
}

const char *api_request_token(const struct api_request *req)
{
	return req->token;
}

const char *api_request_peer(struct api_request *req)
{
	if (req->peer[0])
		return req->peer;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const void *addr = NULL;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (!addr || !inet_ntop(sa->sa_family, addr, req->peer, sizeof(req->peer))) {
		req->peer[0] = '\0';
		return NULL;
	}
	return req->peer;
}

/* For an upgrade whose function will never run. */
void upgrade_discard(struct upgrade *u)
{
	if (u->release)
		u->release(u->opaque);
	free(u->extra);
	free(u);
}

static void request_free(struct api_request *req)
{
	if (!req)
		return;
	if (req->pending_upgrade)
		upgrade_discard(req->pending_upgrade);
	wait_discard(req);
	stream_free(req);
	free(req->method);
	free(req->path);
	if (req->params && req->route) {
		for (size_t i = 0; i < req->route->n_segs; i++)
			free(req->params[i]);
	}
	free(req->params);
	strv_free(req->allocs);
	free(req->body);
	json_decref(req->body_json);
	free(req->user);
	if (req->token)
		explicit_bzero(req->token, strlen(req->token));
	free(req->token);
	free(req);
}

/* ---- responses ---- */

void log_response(struct api_request *req, int status, const char *message)
{
	uint64_t ms = time_mono_ms() - req->start_ms;
	const char *user = req->user ? req->user : "-";
	if (status >= 500)
		log_warn("%s %s -> %d (user %s, %llu ms): %s", req->method, req->path, status, user,
			 (unsigned long long)ms, message ? message : "");
	else if (status >= 400)
		log_info("%s %s -> %d (user %s, %llu ms): %s", req->method, req->path, status, user,
			 (unsigned long long)ms, message ? message : "");
	else
		log_debug("%s %s -> %d (user %s, %llu ms)", req->method, req->path, status, user,
			  (unsigned long long)ms);
}

/* Queues resp (consumed) unless the request already has its response. */
static void queue(struct api_request *req, int status, struct MHD_Response *resp,
		  const char *message)
{
	if (req->responded) {
		log_error("%s %s: handler responded twice (second status %d); ignored", req->method,
			  req->path, status);
		MHD_destroy_response(resp);
		return;
	}
	req->responded = true;
	req->status = status;
	if (MHD_queue_response(req->conn, (unsigned int)status, resp) != MHD_YES)
		log_warn("%s %s: cannot queue the %d response", req->method, req->path, status);
	MHD_destroy_response(resp);
	log_response(req, status, message);
}

static struct MHD_Response *json_response(const json_t *body)
{
	char *text = json_dump_compact(body);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		abort();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	return resp;
}

void respond_error_with(struct api_request *req, int status, const char *header,
			       const char *header_value, const char *message)
{
	json_t *body = json_error_body(status, message);
	struct MHD_Response *resp = json_response(body);
	json_decref(body);
	if (header)
		MHD_add_response_header(resp, header, header_value);
	queue(req, status, resp, message);
}

void api_respond_json(struct api_request *req, int status, json_t *body)
{
	if (!body) {
		respond_error_with(req, 500, NULL, NULL, "internal error: handler produced no body");
		return;
	}
	struct MHD_Response *resp = json_response(body);
	json_decref(body);
	queue(req, status, resp, status >= 400 ? "(handler reply)" : NULL);
}

void api_respond_error(struct api_request *req, int status, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	respond_error_with(req, status, status == 401 ? MHD_HTTP_HEADER_WWW_AUTHENTICATE : NULL,
			   "Bearer", msg);
}

void api_respond_error_header(struct api_request *req, int status, const char *header,
			      const char *value, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	respond_error_with(req, status, header, value, msg);
}

void api_respond_vr_error(struct api_request *req, const struct vr_error *err)
{
	int status = err ? api_status_from_errno(err->code) : 500;
	api_respond_error(req, status, "%s", vr_error_msg(err));
}

void api_respond_no_content(struct api_request *req)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		abort();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	queue(req, 204, resp, NULL);
}

void api_respond_file(struct api_request *req, int status, const char *content_type, int fd,
		      uint64_t size)
{
	struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
	if (!resp) {
		close(fd);
		respond_error_with(req, 500, NULL, NULL, "internal error: cannot send the file");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	queue(req, status, resp, NULL);
}

void api_respond_text(struct api_request *req, int status, const char *content_type,
		      const char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		abort();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	queue(req, status, resp, status >= 400 ? "(handler reply)" : NULL);
}

/* ---- the request pipeline ---- */

/* Finds the route; responds 404/405/400 itself and returns false on failure. */
static bool route_request(struct api_request *req)
{
	struct api_server *srv = req->srv;
	size_t n;
	_cleanup_strv_ char **segs = split_path(req->path, &n);
	const struct route *best = NULL;
	_cleanup_free_ char *allow = NULL;

	if (req->path[0] != '/') {
		api_respond_error(req, 400, "request path must begin with '/'");
		return false;
	}
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct route *r = &srv->routes[i];
		if (r->n_segs != n)
			continue;
		bool match = true;
		for (size_t k = 0; k < n && match; k++) {
			if (seg_is_param(r->segs[k]))
				match = segs[k][0] != '\0';
			else
				match = strcmp(r->segs[k], segs[k]) == 0;
		}
		if (!match)
			continue;
		if (strcmp(r->method, req->method) != 0) {
			if (!allow || !strstr(allow, r->method)) {
				char *a = allow ? xasprintf("%s, %s", allow, r->method)
						: xstrdup(r->method);
				free(allow);
				allow = a;
			}
			continue;
		}
		if (!best || r->n_literals > best->n_literals)
			best = r;
	}
	if (!best && allow) {
		_cleanup_free_ char *msg = xasprintf("method %s is not allowed on %s (allowed: %s)",
						     req->method, req->path, allow);
		respond_error_with(req, 405, MHD_HTTP_HEADER_ALLOW, allow, msg);
		return false;
	}
	if (!best) {
		api_respond_error(req, 404, "no such resource: %s", req->path);
		return false;
	}
	req->route = best;
	req->params = xcalloc(n, sizeof(char *));
	for (size_t k = 0; k < n; k++) {
		if (!seg_is_param(best->segs[k]))
			continue;
		req->params[k] = api_url_decode(segs[k], strlen(segs[k]), false);
		if (!req->params[k]) {
			api_respond_error(req, 400, "path segment %zu of %s has a malformed escape",
					  k + 1, req->path);
			return false;
		}
	}
	return true;
}

static const char *request_token(struct api_request *req)
{
	const char *h = api_request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h) {
		if (strncasecmp(h, "Bearer ", 7) != 0)
			return NULL;
		h += 7;
		while (*h == ' ')
			h++;
		return h;
	}
	return api_request_header(req, "X-Vireo-Session");
}

static bool authenticate(struct api_request *req)
{
	if (req->route->flags & API_ROUTE_NO_AUTH)
		return true;
	const char *token = request_token(req);
	if (!token || !*token) {
		api_respond_error(req, 401,
				  "authentication required: send \"Authorization: Bearer <token>\"; "
				  "create a session with POST /api/v1/sessions");
		return false;
	}
	int r = req->srv->auth->check(req->srv->auth_opaque, token, &req->user, &req->admin);
	if (r == -ETIMEDOUT) {
		api_respond_error(req, 401, "session expired; log in again");
		return false;
	}
	if (r < 0) {
		api_respond_error(req, 401, "invalid session token; log in again");
		return false;
	}
	req->token = xstrdup(token);
	if ((req->route->flags & API_ROUTE_ADMIN) && !req->admin) {
		api_respond_error(req, 403, "%s %s needs the admin role; user \"%s\" is read-only",
				  req->method, req->path, req->user);
		return false;
	}
	return true;
}

static bool content_type_is_json(const char *ct)
{
	if (!ct)
		return false;
	size_t l = strlen("application/json");
	if (strncasecmp(ct, "application/json", l) != 0)
		return false;
	return ct[l] == '\0' || ct[l] == ';' || ct[l] == ' ';
}

static bool body_announced(struct api_request *req, uint64_t *length)
{
	const char *cl = api_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = api_request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	*length = 0;
	if (cl && parse_u64(cl, 0, UINT64_MAX, length) == 0 && *length > 0)
		return true;
	return te != NULL;
}

/* The body limit of the request's route (the server's until a route is found). */
static size_t body_limit(const struct api_request *req)
{
	if (req->route && (req->route->flags & API_ROUTE_LARGE_BODY) && !(req->route->flags & API_ROUTE_NO_AUTH))
		return req->srv->max_body * API_LARGE_BODY_FACTOR;
	return req->srv->max_body;
}

/* First call: headers are in.  Returns false once a response is queued. */
static bool request_begin(struct api_request *req)
{
	if (!route_request(req) || !authenticate(req))
		return false;
	if (req->route->stream)
		return stream_begin(req);
	uint64_t length;
	bool has_body = body_announced(req, &length);
	if (length > body_limit(req)) {
		api_respond_error(req, 413, "request body of %llu bytes is over the limit of %zu",
				  (unsigned long long)length, body_limit(req));
		return false;
	}
	if (has_body && !method_has_body(req->method)) {
		api_respond_error(req, 400, "%s requests take no body", req->method);
		return false;
	}
	if (has_body && !content_type_is_json(
				api_request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		api_respond_error(req, 415, "request body must be JSON (Content-Type: application/json)");
		return false;
	}
	return true;
}

/* Last call: the whole body is in. */
static void request_run(struct api_request *req)
{
	if (req->body_seen > body_limit(req)) {
		api_respond_error(req, 413, "request body is over the limit of %zu bytes",
				  body_limit(req));
		return;
	}
	if (method_has_body(req->method)) {
		if (req->body_len == 0) {
			if (!(req->route->flags & API_ROUTE_BODY_OPTIONAL)) {
				api_respond_error(req, 400,
						  "request body is missing; expected a JSON object");
				return;
			}
		} else {
			if (!content_type_is_json(
				    api_request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
				api_respond_error(
					req, 415,
					"request body must be JSON (Content-Type: application/json)");
				return;
			}
			_cleanup_error_ struct vr_error *err = NULL;
			if (api_json_parse_body(req->body, req->body_len, &req->body_json, &err) <
			    0) {
				api_respond_error(req, 400, "%s", vr_error_msg(err));
				return;
			}
		}
	} else if (req->body_seen > 0) {
		api_respond_error(req, 400, "%s requests take no body", req->method);
		return;
	}

	req->route->fn(req, req->route->opaque);
	if (!req->responded && !req->wait) {
		log_error("%s %s: the handler returned without responding", req->method,
			  req->path);
		api_respond_error(req, 500, "internal error: no response from the handler");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct api_server *srv = cls;
	struct api_request *req = *con_cls;

	if (!req) {
		req = xcalloc(1, sizeof(*req));
		req->srv = srv;
		req->conn = conn;
		req->method = xstrdup(method);
		req->path = xstrdup(url);
		req->start_ms = time_mono_ms();
		*con_cls = req;
		request_begin(req);
		return MHD_YES;
	}
	if (req->wait) { /* a long poll is back */
		wait_resume(req);
		if (!req->responded && !req->wait) {
			log_error("%s %s: the wait ended without a response", req->method,
				  req->path);
			api_respond_error(req, 500, "internal error: no response from the handler");
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0 && req->route && req->route->stream) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		req->body_seen += n;
		if (!req->responded)
			stream_chunk(req, upload_data, n);
		return MHD_YES;
	}
	if (req->route && req->route->stream) {
		if (!req->responded)
			stream_end(req);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		req->body_seen += n;
		if (req->responded)
			return req->body_seen > DRAIN_FACTOR * body_limit(req) ? MHD_NO : MHD_YES;
		if (req->body_seen > body_limit(req)) {
			/* Drain a little so the client can read the 413; then hang up. */
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			return req->body_seen > DRAIN_FACTOR * body_limit(req) ? MHD_NO : MHD_YES;
		}
		req->body = xrealloc(req->body, req->body_len + n + 1);
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (!req->responded)
		request_run(req);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_request *req = *con_cls;
	*con_cls = NULL;
	if (req && !req->responded && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("%s %s: connection ended before a response (code %d)", req->method,
			  req->path, (int)toe);
	request_free(req);
}
