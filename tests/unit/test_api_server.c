/* SPDX-License-Identifier: Apache-2.0 */
/* The REST server end to end: a real server on 127.0.0.1, driven by libcurl. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/lockout.h"
#include "api/server.h"
#include "host/auth.h"

#define MAX_BODY 4096

struct fixture {
	char dir[64];
	struct auth *auth;
	struct api_server *srv;
	char *admin_password;
	char base[64];
	uint16_t port;
};

static atomic_int handler_runs;

/* ---- test routes ---- */

static const struct json_field test_vm_fields[] = {
	{ "name", JSON_STRING, true, 1, 80 },
	{ "memory_mb", JSON_INTEGER, false, 16, 1 << 20 },
};

static void test_vm_create(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
	struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (json_check_object(body, test_vm_fields, ARRAY_SIZE(test_vm_fields), "VM create request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		vr_error_free(err);
		return;
	}
	api_respond_json(req, 201, json_pack("{s:s,s:s}", "name", json_get_string(body, "name", ""),
					     "user", api_request_user(req)));
}

static void test_item_get(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
	const char *q = api_request_query(req, "q");
	api_respond_json(req, 200, json_pack("{s:s,s:s?}", "id", api_request_param(req, "id"), "q",
					     q));
}

static void test_optional_body(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
	json_t *body = api_request_body_json(req);
	api_respond_json(req, 200, json_pack("{s:b}", "had_body", body != NULL));
}

static void test_no_reply(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
}

static void test_admin_only(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
	api_respond_no_content(req);
}

static void echo(int sock, const char *extra, size_t extra_len, void *opaque)
{
	if (extra_len && send(sock, extra, extra_len, MSG_NOSIGNAL) < 0)
		return;
	char buf[256];
	for (;;) {
		ssize_t n = recv(sock, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (send(sock, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			return;
	}
}

static atomic_int releases;

static void release_counter(void *opaque)
{
	atomic_fetch_add(&releases, 1);
}

static void test_console(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
	api_respond_upgrade_ex(req, "vireo-console", echo, NULL, release_counter);
}

/*
 * GET /api/v1/test/poll?since=N&ms=M: a long poll on poll_q, answered when
 * its version passes N or after M ms, without holding a worker.
 */
static struct api_waitq *poll_q;
static atomic_int polls_made, polls_freed, polls_parked;

struct test_poll {
	uint64_t since;
	uint64_t deadline_ms;
};

static void test_poll_free(void *opaque)
{
	atomic_fetch_add(&polls_freed, 1);
	free(opaque);
}

static bool test_poll_answer(struct api_request *req, struct test_poll *p);

static void test_poll_resumed(struct api_request *req, void *opaque)
{
	test_poll_answer(req, opaque);
}

static bool test_poll_answer(struct api_request *req, struct test_poll *p)
{
	uint64_t v = api_waitq_version(poll_q);
	if (v <= p->since && time_mono_ms() < p->deadline_ms) {
		atomic_fetch_add(&polls_parked, 1);
		api_request_wait(req, poll_q, v, p->deadline_ms, test_poll_resumed, p,
				 test_poll_free);
		return true;
	}
	api_respond_json(req, 200, json_pack("{s:I, s:b}", "version", (json_int_t)v, "timed_out",
					     v <= p->since));
	return false;
}

static void test_poll(struct api_request *req, void *opaque)
{
	atomic_fetch_add(&handler_runs, 1);
	uint64_t since = 0, ms = 0;
	if (parse_u64(api_request_query(req, "since") ? api_request_query(req, "since") : "0", 0,
		      UINT64_MAX, &since) < 0 ||
	    parse_u64(api_request_query(req, "ms") ? api_request_query(req, "ms") : "0", 0, 60000,
		      &ms) < 0) {
		api_respond_error(req, 400, "bad since or ms");
		return;
	}
	struct test_poll *p = xmalloc(sizeof(*p));
	*p = (struct test_poll){ .since = since, .deadline_ms = time_mono_ms() + ms };
	atomic_fetch_add(&polls_made, 1);
	if (!test_poll_answer(req, p))
		test_poll_free(p);
}

/* ---- fixture ---- */

static unsigned fixture_idle_timeout_s; /* 0: the default */

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/vireo-test-api-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct vr_error *err = NULL;
	f->auth = auth_open(f->dir, &err);
	assert_non_null(f->auth);
	auth_set_failure_delay(f->auth, 5);
	_cleanup_free_ char *pwpath = xasprintf("%s/initial-admin-password", f->dir);
	assert_int_equal(file_read_all(pwpath, 100, &f->admin_password, NULL, &err), 0);
	f->admin_password[strcspn(f->admin_password, "\n")] = '\0';

	struct api_server_config cfg = {
		.bind_address = "127.0.0.1",
		.port = 0,
		.max_body_bytes = MAX_BODY,
		.thread_pool_size = 2,
		.connection_timeout_s = fixture_idle_timeout_s,
	};
	f->srv = api_server_new(&cfg, &api_hostd_auth, f->auth, &err);
	assert_non_null(f->srv);
	api_health_register(f->srv);
	api_sessions_register(f->srv, f->auth);
	api_users_register(f->srv, f->auth);
	api_server_add_route(f->srv, "POST", "/api/v1/test/vms", test_vm_create, NULL, 0);
	api_server_add_route(f->srv, "GET", "/api/v1/test/items/{id}", test_item_get, NULL, 0);
	api_server_add_route(f->srv, "POST", "/api/v1/test/optional", test_optional_body, NULL,
			     API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(f->srv, "GET", "/api/v1/test/noreply", test_no_reply, NULL, 0);
	api_server_add_route(f->srv, "POST", "/api/v1/test/admin", test_admin_only, NULL,
			     API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(f->srv, "PUT", "/api/v1/test/large", test_admin_only, NULL,
			     API_ROUTE_ADMIN | API_ROUTE_LARGE_BODY);
	api_server_add_route(f->srv, "GET", "/api/v1/test/console", test_console, NULL, 0);
	api_server_add_route(f->srv, "GET", "/api/v1/test/poll", test_poll, NULL, 0);
	poll_q = api_waitq_new();
	atomic_store(&polls_made, 0);
	atomic_store(&polls_freed, 0);
	atomic_store(&polls_parked, 0);
	if (api_server_start(f->srv, &err) < 0)
		fail_msg("start: %s", vr_error_msg(err));
	f->port = api_server_port(f->srv);
	assert_true(f->port != 0);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", f->port);
	atomic_store(&handler_runs, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	api_server_stop_and_free(f->srv);
	api_waitq_free(poll_q); /* after the server: nothing waits on it now */
	poll_q = NULL;
	auth_free(f->auth);
	rm_rf(f->dir);
	free(f->admin_password);
	free(f);
	return 0;
}

/* ---- HTTP helpers ---- */

struct result {
	long status;
	char *body;
	size_t len;
	char *headers;
	size_t hlen;
	json_t *json;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	char **buf = userdata;
	size_t *len = (size_t *)(buf + 1);
	size_t n = size * nmemb;
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, ptr, n);
	*len += n;
	(*buf)[*len] = '\0';
	return n;
}

static void result_free(struct result *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* body NULL: none.  ctype NULL: application/json when there is a body. */
static void http_ex(struct fixture *f, const char *method, const char *path, const char *token,
		    const char *body, size_t body_len, const char *ctype, const char *extra_header,
		    struct result *res)
{
	memset(res, 0, sizeof(*res));
	CURL *h = curl_easy_init();
	assert_non_null(h);
	_cleanup_free_ char *url = xasprintf("%s%s", f->base, path);
	_cleanup_free_ char *auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	_cleanup_free_ char *ct = xasprintf("Content-Type: %s", ctype ? ctype : "application/json");
	struct curl_slist *hdrs = NULL;
	if (auth)
		hdrs = curl_slist_append(hdrs, auth);
	if (body)
		hdrs = curl_slist_append(hdrs, ct);
	if (extra_header)
		hdrs = curl_slist_append(hdrs, extra_header);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &res->headers);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	CURLcode cr = curl_easy_perform(h);
	if (cr != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(cr));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (res->body && res->len)
		res->json = json_loadb(res->body, res->len, 0, NULL);
}

static void http(struct fixture *f, const char *method, const char *path, const char *token,
		 const char *body, struct result *res)
{
	http_ex(f, method, path, token, body, body ? strlen(body) : 0, NULL, NULL, res);
}

static const char *error_message(const struct result *r)
{
	const json_t *e = json_object_get(r->json, "error");
	assert_non_null(e);
	assert_int_equal(json_get_int(e, "status", 0), r->status);
	return json_get_string(e, "message", "");
}

static void expect_error(const struct result *r, long status, const char *needle)
{
	if (r->status != status)
		fail_msg("status %ld, expected %ld; body: %s", r->status, status,
			 r->body ? r->body : "");
	assert_non_null(strcasestr(r->headers, "Content-Type: application/json"));
	const char *msg = error_message(r);
	if (needle && !strstr(msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

static char *login(struct fixture *f, const char *user, const char *password)
{
	struct result r;
	_cleanup_free_ char *body = xasprintf("{\"username\":\"%s\",\"password\":\"%s\"}", user,
					      password);
	http(f, "POST", "/api/v1/sessions", NULL, body, &r);
	if (r.status != 201)
		fail_msg("login as %s: %ld %s", user, r.status, r.body ? r.body : "");
	const char *token = json_get_string(r.json, "token", NULL);
	assert_non_null(token);
	assert_int_equal(strlen(token), 64);
	assert_non_null(json_get_string(r.json, "expires", NULL));
	char *t = xstrdup(token);
	result_free(&r);
	return t;
}

/* ---- tests ---- */

static void test_health(void **state)
{
	struct fixture *f = *state;
	struct result r;
	http(f, "GET", "/api/v1/health", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.headers, "Content-Type: application/json"));
	assert_string_equal(json_get_string(r.json, "status", ""), "ok");
	assert_string_equal(json_get_string(r.json, "version", ""), VIREO_VERSION);
	result_free(&r);
}

static void test_requires_token(void **state)
{
	struct fixture *f = *state;
	struct result r;
	http(f, "GET", "/api/v1/users", NULL, NULL, &r);
	expect_error(&r, 401, "authentication required");
	assert_non_null(strcasestr(r.headers, "WWW-Authenticate: Bearer"));
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", NULL, "{\"name\":\"x\"}", &r);
	expect_error(&r, 401, NULL);
	result_free(&r);
	http(f, "GET", "/api/v1/test/items/1", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL, &r);
	expect_error(&r, 401, "invalid session token");
	result_free(&r);
	http_ex(f, "GET", "/api/v1/test/items/1", NULL, NULL, 0, NULL,
		"Authorization: Basic YWRtaW46YWRtaW4=", &r);
	expect_error(&r, 401, NULL);
	result_free(&r);
	assert_int_equal(atomic_load(&handler_runs), 0);
}

static void test_login(void **state)
{
	struct fixture *f = *state;
	struct result r;
	http(f, "POST", "/api/v1/sessions", NULL,
	     "{\"username\":\"admin\",\"password\":\"wrong password\"}", &r);
	expect_error(&r, 401, "invalid user name or password");
	result_free(&r);
	http(f, "POST", "/api/v1/sessions", NULL,
	     "{\"username\":\"nobody\",\"password\":\"wrong password\"}", &r);
	expect_error(&r, 401, "invalid user name or password");
	result_free(&r);
	http(f, "POST", "/api/v1/sessions", NULL, "{\"username\":\"admin\"}", &r);
	expect_error(&r, 400, "missing required field \"password\"");
	result_free(&r);

	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	http(f, "GET", "/api/v1/sessions/current", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_get_string(r.json, "user", ""), "admin");
	assert_string_equal(json_get_string(r.json, "role", ""), "admin");
	result_free(&r);

	/* The alternative header. */
	_cleanup_free_ char *hdr = xasprintf("X-Vireo-Session: %s", token);
	http_ex(f, "GET", "/api/v1/test/items/7?q=x+y%21", NULL, NULL, 0, NULL, hdr, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_get_string(r.json, "id", ""), "7");
	assert_string_equal(json_get_string(r.json, "q", ""), "x y!");
	result_free(&r);

	http(f, "DELETE", "/api/v1/sessions/current", token, NULL, &r);
	assert_int_equal(r.status, 204);
	result_free(&r);
	http(f, "GET", "/api/v1/sessions/current", token, NULL, &r);
	expect_error(&r, 401, NULL);
	result_free(&r);
}

static char locked_peer[64];

static void note_locked(void *opaque, const char *user, const char *peer,
			const struct login_lockout_verdict *v)
{
	snprintf(locked_peer, sizeof(locked_peer), "%s %s", user, peer ? peer : "(none)");
}

static void expect_locked(struct result *r)
{
	expect_error(r, 429, "too many failed logins for this user name: it is locked for about");
	/* 300 s at most (the default), rounded up: 299 or 300 here. */
	const char *h = strcasestr(r->headers, "\r\nRetry-After: ");
	assert_non_null(h);
	unsigned long s = strtoul(h + strlen("\r\nRetry-After: "), NULL, 10);
	assert_true(s >= 299 && s <= 300);
	assert_null(strcasestr(r->headers, "WWW-Authenticate"));
}

/* Five wrong passwords lock the name (defaults): 429 with Retry-After, sessions go on. */
static void test_login_lockout(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(auth_user_add(f->auth, "alice", "alices password", AUTH_ROLE_READ_ONLY,
				       &err),
			 0);
	auth_set_lock_notify(f->auth, note_locked, NULL);
	locked_peer[0] = '\0';
	_cleanup_free_ char *alice = login(f, "alice", "alices password");
	struct result r;
	for (int i = 0; i < 4; i++) {
		http(f, "POST", "/api/v1/sessions", NULL,
		     "{\"username\":\"alice\",\"password\":\"wrong password\"}", &r);
		expect_error(&r, 401, "invalid user name or password");
		result_free(&r);
	}
	assert_string_equal(locked_peer, "");
	http(f, "POST", "/api/v1/sessions", NULL,
	     "{\"username\":\"alice\",\"password\":\"wrong password\"}", &r);
	expect_locked(&r);
	result_free(&r);
	/* The notification has the client's address, from the connection. */
	assert_string_equal(locked_peer, "alice 127.0.0.1");
	http(f, "POST", "/api/v1/sessions", NULL,
	     "{\"username\":\"alice\",\"password\":\"alices password\"}", &r);
	expect_locked(&r);
	result_free(&r);
	/* Alice's session still works; admin logs in as usual. */
	http(f, "GET", "/api/v1/sessions/current", alice, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_get_string(r.json, "user", ""), "alice");
	result_free(&r);
	free(login(f, "admin", f->admin_password));
	/* An unknown name: the same answers. */
	for (int i = 0; i < 4; i++) {
		http(f, "POST", "/api/v1/sessions", NULL,
		     "{\"username\":\"nobody\",\"password\":\"wrong password\"}", &r);
		expect_error(&r, 401, "invalid user name or password");
		result_free(&r);
	}
	http(f, "POST", "/api/v1/sessions", NULL,
	     "{\"username\":\"nobody\",\"password\":\"wrong password\"}", &r);
	expect_locked(&r);
	result_free(&r);
}

static void test_params(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct result r;
	http(f, "GET", "/api/v1/test/items/a%20b%2Fc", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_get_string(r.json, "id", ""), "a b/c");
	assert_null(json_get_string(r.json, "q", NULL));
	result_free(&r);
	http(f, "GET", "/api/v1/test/items/a%00b", token, NULL, &r);
	expect_error(&r, 400, "malformed escape");
	result_free(&r);
	http(f, "GET", "/api/v1/test/items/a%zz", token, NULL, &r);
	expect_error(&r, 400, NULL);
	result_free(&r);
	http(f, "GET", "/api/v1/test/items/", token, NULL, &r);
	expect_error(&r, 404, NULL);
	result_free(&r);
}

static void test_bodies(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct result r;

	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"web01\",\"memory_mb\":512}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(json_get_string(r.json, "user", ""), "admin");
	result_free(&r);

	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"web01\",", &r);
	expect_error(&r, 400, "not valid JSON");
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"a\"} x", &r);
	expect_error(&r, 400, "not valid JSON");
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", token, "[1,2]", &r);
	expect_error(&r, 400, "must be a JSON object, not an array");
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"a\",\"name\":\"b\"}", &r);
	expect_error(&r, 400, "duplicate");
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"a\\u0000b\"}", &r);
	expect_error(&r, 400, NULL);
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"\xff\"}", &r);
	expect_error(&r, 400, NULL);
	result_free(&r);

	char deep[200] = "{\"name\":\"a\",\"x\":";
	for (int i = 0; i < 32; i++)
		strcat(deep, "[");
	for (int i = 0; i < 32; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	http(f, "POST", "/api/v1/test/vms", token, deep, &r);
	expect_error(&r, 400, "nested deeper than 32");
	result_free(&r);
	/* Depth 32 exactly passes the parser (and fails on the unknown field). */
	char ok_depth[200] = "{\"name\":\"a\",\"x\":";
	for (int i = 0; i < 31; i++)
		strcat(ok_depth, "[");
	for (int i = 0; i < 31; i++)
		strcat(ok_depth, "]");
	strcat(ok_depth, "}");
	http(f, "POST", "/api/v1/test/vms", token, ok_depth, &r);
	expect_error(&r, 400, "unknown field \"x\" in VM create request");
	result_free(&r);

	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"a\",\"memsize\":5}", &r);
	expect_error(&r, 400, "unknown field \"memsize\" in VM create request");
	result_free(&r);
	http(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"a\",\"memory_mb\":1}", &r);
	expect_error(&r, 400, "between 16 and");
	result_free(&r);

	http_ex(f, "POST", "/api/v1/test/vms", token, "name=a", 6,
		"application/x-www-form-urlencoded", NULL, &r);
	expect_error(&r, 415, NULL);
	result_free(&r);
	http_ex(f, "POST", "/api/v1/test/vms", token, "{\"name\":\"a\"}", 12,
		"application/json; charset=utf-8", NULL, &r);
	assert_int_equal(r.status, 201);
	result_free(&r);

	http(f, "POST", "/api/v1/test/vms", token, "", &r);
	expect_error(&r, 400, "request body is missing");
	result_free(&r);
	http(f, "POST", "/api/v1/test/optional", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_false(json_get_bool(r.json, "had_body", true));
	result_free(&r);
	http(f, "POST", "/api/v1/test/optional", token, "{}", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_get_bool(r.json, "had_body", false));
	result_free(&r);
	http(f, "GET", "/api/v1/test/items/1", token, "{}", &r);
	expect_error(&r, 400, "take no body");
	result_free(&r);
}

static void test_too_large(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct result r;
	size_t n = MAX_BODY * 2;
	char *big = xmalloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	int before = atomic_load(&handler_runs);
	http(f, "POST", "/api/v1/test/vms", token, big, &r);
	expect_error(&r, 413, "over the limit");
	result_free(&r);
	/* Chunked, without Content-Length. */
	http_ex(f, "POST", "/api/v1/test/vms", token, big, n, NULL, "Transfer-Encoding: chunked",
		&r);
	expect_error(&r, 413, "over the limit");
	result_free(&r);
	assert_int_equal(atomic_load(&handler_runs), before);
	/* A route that takes large bodies: up to API_LARGE_BODY_FACTOR times the limit. */
	http(f, "PUT", "/api/v1/test/large", token, big, &r);
	assert_int_equal(r.status, 204);
	result_free(&r);
	assert_int_equal(atomic_load(&handler_runs), before + 1);
	free(big);
	n = MAX_BODY * API_LARGE_BODY_FACTOR + 1;
	big = xmalloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	http(f, "PUT", "/api/v1/test/large", token, big, &r);
	expect_error(&r, 413, "over the limit of 65536");
	result_free(&r);
	http_ex(f, "PUT", "/api/v1/test/large", token, big, n, NULL, "Transfer-Encoding: chunked", &r);
	expect_error(&r, 413, "over the limit of 65536");
	result_free(&r);
	assert_int_equal(atomic_load(&handler_runs), before + 1);
	free(big);
}

static void test_routing(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct result r;
	http(f, "GET", "/api/v1/nothing", token, NULL, &r);
	expect_error(&r, 404, "no such resource: /api/v1/nothing");
	result_free(&r);
	http(f, "GET", "/api/v1/nothing", NULL, NULL, &r);
	expect_error(&r, 404, NULL);
	result_free(&r);
	http(f, "DELETE", "/api/v1/health", token, NULL, &r);
	expect_error(&r, 405, "not allowed");
	assert_non_null(strcasestr(r.headers, "Allow: GET"));
	result_free(&r);
	http(f, "PATCH", "/api/v1/users", token, "{}", &r);
	expect_error(&r, 405, NULL);
	assert_non_null(strcasestr(r.headers, "Allow: GET, POST"));
	result_free(&r);

	http(f, "GET", "/api/v1/test/noreply", token, NULL, &r);
	expect_error(&r, 500, "no response");
	result_free(&r);
}

static void test_expired_session(void **state)
{
	struct fixture *f = *state;
	auth_set_session_timeouts(f->auth, 300, 0);
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct result r;
	http(f, "GET", "/api/v1/users", token, NULL, &r);
	assert_int_equal(r.status, 200);
	result_free(&r);
	struct timespec ts = { 0, 600 * 1000000L };
	nanosleep(&ts, NULL);
	int before = atomic_load(&handler_runs);
	http(f, "GET", "/api/v1/test/items/1", token, NULL, &r);
	expect_error(&r, 401, "session expired");
	result_free(&r);
	assert_int_equal(atomic_load(&handler_runs), before);
}

static void test_roles(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *admin = login(f, "admin", f->admin_password);
	struct result r;
	http(f, "POST", "/api/v1/users", admin,
	     "{\"name\":\"viewer\",\"password\":\"viewer password\",\"role\":\"read-only\"}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(json_get_string(r.json, "name", ""), "viewer");
	assert_string_equal(json_get_string(r.json, "role", ""), "read-only");
	assert_null(json_object_get(r.json, "password_hash"));
	result_free(&r);
	http(f, "POST", "/api/v1/users", admin,
	     "{\"name\":\"viewer\",\"password\":\"viewer password\"}", &r);
	expect_error(&r, 409, "already exists");
	result_free(&r);
	http(f, "POST", "/api/v1/users", admin, "{\"name\":\"a/b\",\"password\":\"long enough\"}",
	     &r);
	expect_error(&r, 400, "contains '/'");
	result_free(&r);
	http(f, "POST", "/api/v1/users", admin,
	     "{\"name\":\"x\",\"password\":\"long enough\",\"role\":\"root\"}", &r);
	expect_error(&r, 400, "\"role\"");
	result_free(&r);

	_cleanup_free_ char *viewer = login(f, "viewer", "viewer password");
	int before = atomic_load(&handler_runs);
	http(f, "POST", "/api/v1/test/admin", viewer, NULL, &r);
	expect_error(&r, 403, "needs the admin role");
	result_free(&r);
	assert_int_equal(atomic_load(&handler_runs), before);
	http(f, "POST", "/api/v1/test/admin", admin, NULL, &r);
	assert_int_equal(r.status, 204);
	result_free(&r);

	http(f, "POST", "/api/v1/users", viewer,
	     "{\"name\":\"mallory\",\"password\":\"long enough\",\"role\":\"admin\"}", &r);
	expect_error(&r, 403, "admin role");
	result_free(&r);
	http(f, "DELETE", "/api/v1/users/admin", viewer, NULL, &r);
	expect_error(&r, 403, NULL);
	result_free(&r);
	http(f, "GET", "/api/v1/users", viewer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "users")), 2);
	assert_null(strstr(r.body, "$y$"));
	result_free(&r);

	/* Passwords: others' only for admins; one's own with the current password. */
	http(f, "PUT", "/api/v1/users/admin/password", viewer, "{\"password\":\"new password\"}",
	     &r);
	expect_error(&r, 403, NULL);
	result_free(&r);
	http(f, "PUT", "/api/v1/users/viewer/password", viewer, "{\"password\":\"new password\"}",
	     &r);
	expect_error(&r, 400, "current_password");
	result_free(&r);
	http(f, "PUT", "/api/v1/users/viewer/password", viewer,
	     "{\"password\":\"new password\",\"current_password\":\"wrong one\"}", &r);
	expect_error(&r, 403, "current password");
	result_free(&r);
	http(f, "PUT", "/api/v1/users/viewer/password", viewer,
	     "{\"password\":\"new password\",\"current_password\":\"viewer password\"}", &r);
	assert_int_equal(r.status, 204);
	result_free(&r);
	http(f, "GET", "/api/v1/users", viewer, NULL, &r);
	expect_error(&r, 401, NULL);
	result_free(&r);
	free(login(f, "viewer", "new password"));
	http(f, "PUT", "/api/v1/users/viewer/password", admin, "{\"password\":\"short\"}", &r);
	expect_error(&r, 400, "\"password\"");
	result_free(&r);
	http(f, "PUT", "/api/v1/users/nobody/password", admin, "{\"password\":\"long enough\"}",
	     &r);
	expect_error(&r, 404, NULL);
	result_free(&r);

	/* The last admin stays. */
	http(f, "DELETE", "/api/v1/users/admin", admin, NULL, &r);
	expect_error(&r, 409, "last admin");
	result_free(&r);
	http(f, "DELETE", "/api/v1/users/viewer", admin, NULL, &r);
	assert_int_equal(r.status, 204);
	result_free(&r);
	http(f, "DELETE", "/api/v1/users/viewer", admin, NULL, &r);
	expect_error(&r, 404, "does not exist");
	result_free(&r);
}

/* ---- upgrade ---- */

static int connect_port(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads until buf holds needle (returns its end offset) or the peer stops. */
static size_t read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle)
{
	for (;;) {
		char *p = memmem(buf, *len, needle, strlen(needle));
		if (p)
			return (size_t)(p - buf) + strlen(needle);
		assert_true(*len < cap);
		ssize_t n = recv(fd, buf + *len, cap - *len, 0);
		if (n <= 0)
			fail_msg("connection ended before \"%s\"; got: %.*s", needle, (int)*len, buf);
		*len += (size_t)n;
	}
}

static int open_console(struct fixture *f, const char *token, const char *early)
{
	int fd = connect_port(f->port);
	_cleanup_free_ char *req = xasprintf("GET /api/v1/test/console HTTP/1.1\r\n"
					     "Host: 127.0.0.1\r\n"
					     "Authorization: Bearer %s\r\n"
					     "Connection: Upgrade\r\n"
					     "Upgrade: vireo-console\r\n\r\n%s",
					     token, early);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	char buf[4096];
	size_t len = 0;
	size_t hdr_end = read_until(fd, buf, sizeof(buf) - 1, &len, "\r\n\r\n");
	buf[len] = '\0';
	if (!str_has_prefix(buf, "HTTP/1.1 101"))
		fail_msg("no 101: %s", buf);
	assert_non_null(strcasestr(buf, "Upgrade: vireo-console"));
	/* The early bytes come back first, through extra_in or the socket. */
	char echo_buf[256];
	size_t elen = len - hdr_end;
	memcpy(echo_buf, buf + hdr_end, elen);
	if (*early)
		read_until(fd, echo_buf, sizeof(echo_buf), &elen, early);
	return fd;
}

static void test_upgrade(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);

	int fd = open_console(f, token, "early-bytes");
	for (int i = 0; i < 3; i++) {
		char msg[32], buf[64];
		snprintf(msg, sizeof(msg), "ping %d", i);
		assert_int_equal(send(fd, msg, strlen(msg), MSG_NOSIGNAL), (ssize_t)strlen(msg));
		size_t len = 0;
		read_until(fd, buf, sizeof(buf), &len, msg);
	}
	close(fd);

	assert_int_equal(atomic_load(&releases), 0);
	/* Without the upgrade headers: no upgrade, and opaque is released. */
	struct result r;
	http(f, "GET", "/api/v1/test/console", token, NULL, &r);
	expect_error(&r, 426, "Upgrade: vireo-console");
	result_free(&r);
	assert_int_equal(atomic_load(&releases), 1);
	/* Without a token, no upgrade. */
	http_ex(f, "GET", "/api/v1/test/console", NULL, NULL, 0, NULL, "Upgrade: vireo-console", &r);
	expect_error(&r, 401, NULL);
	result_free(&r);

	/* A console still open when the server stops is ended by it (teardown). */
	int fd2 = open_console(f, token, "");
	assert_int_equal(send(fd2, "x", 1, MSG_NOSIGNAL), 1);
	char c;
	assert_int_equal(recv(fd2, &c, 1, 0), 1);
	api_server_stop_and_free(f->srv);
	f->srv = NULL;
	assert_int_equal(recv(fd2, &c, 1, 0), 0);
	close(fd2);
}

/* A request on its own thread (cmocka's asserts stay on the main one). */
struct bg_request {
	char *url;
	char *token;
	long timeout_ms;
	pthread_t thread;
	CURLcode code;
	long status;
	char *body;
	size_t len;
};

static void *bg_main(void *opaque)
{
	struct bg_request *b = opaque;
	CURL *h = curl_easy_init();
	_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", b->token);
	struct curl_slist *hdrs = curl_slist_append(NULL, auth);
	curl_easy_setopt(h, CURLOPT_URL, b->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, b->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b->body);
	b->code = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &b->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return NULL;
}

static struct bg_request *bg_start(struct fixture *f, const char *token, long timeout_ms,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct bg_request *bg_start(struct fixture *f, const char *token, long timeout_ms,
				   const char *fmt, ...)
{
	struct bg_request *b = xcalloc(1, sizeof(*b));
	_cleanup_free_ char *path = NULL;
	va_list ap;
	va_start(ap, fmt);
	assert_true(vasprintf(&path, fmt, ap) >= 0);
	va_end(ap);
	b->url = xasprintf("%s%s", f->base, path);
	b->token = xstrdup(token);
	b->timeout_ms = timeout_ms;
	assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
	return b;
}

/* Joins the request; returns its JSON body (or NULL) and status. */
static json_t *bg_join(struct bg_request *b, CURLcode *code, long *status)
{
	pthread_join(b->thread, NULL);
	*code = b->code;
	*status = b->status;
	json_t *j = b->body ? json_loadb(b->body, b->len, 0, NULL) : NULL;
	free(b->url);
	free(b->token);
	free(b->body);
	free(b);
	return j;
}

static bool wait_until(atomic_int *v, int want, unsigned timeout_ms)
{
	for (uint64_t end = time_mono_ms() + timeout_ms; time_mono_ms() < end;) {
		if (atomic_load(v) >= want)
			return true;
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return atomic_load(v) >= want;
}

/*
 * More long polls than worker threads (2): they wait without a thread, so
 * other requests still answer; a notification answers them all; a
 * deadline answers one; a client that left is cleaned up.
 */
static void test_long_poll(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	enum { N = 6 };
	struct bg_request *polls[N];
	for (int i = 0; i < N; i++)
		polls[i] = bg_start(f, token, 20000, "/api/v1/test/poll?since=0&ms=15000");
	if (!wait_until(&polls_parked, N, 10000))
		fail_msg("only %d of %d long polls are waiting", atomic_load(&polls_parked), N);
	struct result r;
	http(f, "GET", "/api/v1/test/items/x", token, NULL, &r);
	assert_int_equal(r.status, 200);
	result_free(&r);
	assert_int_equal(atomic_load(&polls_freed), 0); /* all still waiting */
	api_waitq_notify(poll_q);
	for (int i = 0; i < N; i++) {
		CURLcode code;
		long status;
		json_t *j = bg_join(polls[i], &code, &status);
		assert_int_equal(code, CURLE_OK);
		assert_int_equal(status, 200);
		assert_int_equal(json_get_int(j, "version", 0), 1);
		assert_false(json_is_true(json_object_get(j, "timed_out")));
		json_decref(j);
	}
	assert_int_equal(atomic_load(&polls_freed), N);

	/* A poll whose version moved on answers at once; one that sees nothing, at its deadline. */
	http(f, "GET", "/api/v1/test/poll?since=0&ms=15000", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_get_int(r.json, "version", 0), 1);
	result_free(&r);
	uint64_t t0 = time_mono_ms();
	http(f, "GET", "/api/v1/test/poll?since=1&ms=300", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "timed_out")));
	assert_true(time_mono_ms() - t0 >= 300);
	result_free(&r);

	/* A client that gives up: its request is freed once the wait ends. */
	int made = atomic_load(&polls_made), parked = atomic_load(&polls_parked);
	struct bg_request *gone = bg_start(f, token, 200, "/api/v1/test/poll?since=1&ms=15000");
	CURLcode code;
	long status;
	json_decref(bg_join(gone, &code, &status));
	assert_int_equal(code, CURLE_OPERATION_TIMEDOUT);
	assert_true(wait_until(&polls_parked, parked + 1, 5000));
	api_waitq_notify(poll_q);
	if (!wait_until(&polls_freed, made + 1, 5000))
		fail_msg("the abandoned poll was not freed (%d of %d)", atomic_load(&polls_freed),
			 made + 1);
}

/* Waiting polls end with 503 when the server stops, and are freed. */
static void test_long_poll_stop(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct bg_request *a = bg_start(f, token, 20000, "/api/v1/test/poll?since=0&ms=15000");
	struct bg_request *b = bg_start(f, token, 20000, "/api/v1/test/poll?since=0&ms=15000");
	assert_true(wait_until(&polls_parked, 2, 10000));
	api_server_stop_and_free(f->srv);
	f->srv = NULL;
	struct bg_request *both[] = { a, b };
	for (int i = 0; i < 2; i++) {
		CURLcode code;
		long status;
		json_t *j = bg_join(both[i], &code, &status);
		assert_int_equal(code, CURLE_OK);
		assert_int_equal(status, 503);
		json_decref(j);
	}
	assert_int_equal(atomic_load(&polls_freed), 2);
}

static int setup_idle_1s(void **state)
{
	fixture_idle_timeout_s = 1;
	int r = setup(state);
	fixture_idle_timeout_s = 0;
	return r;
}

/* A wait longer than the idle-connection timeout still gets its answer. */
static void test_long_poll_past_idle_timeout(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *token = login(f, "admin", f->admin_password);
	struct result r;
	http(f, "GET", "/api/v1/test/poll?since=0&ms=2500", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "timed_out")));
	result_free(&r);
	struct bg_request *b = bg_start(f, token, 20000, "/api/v1/test/poll?since=0&ms=15000");
	assert_true(wait_until(&polls_parked, 2, 10000));
	struct timespec ts = { 2, 500 * 1000000L };
	nanosleep(&ts, NULL);
	api_waitq_notify(poll_q);
	CURLcode code;
	long status;
	json_t *j = bg_join(b, &code, &status);
	assert_int_equal(code, CURLE_OK);
	assert_int_equal(status, 200);
	assert_int_equal(json_get_int(j, "version", 0), 1);
	json_decref(j);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	unsetenv(AUTH_INITIAL_PASSWORD_ENV);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requires_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_poll_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_poll_past_idle_timeout, setup_idle_1s,
						teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
