/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's serial console in the browser, through center.
 *
 * A browser's WebSocket cannot send an Authorization header, so the
 * client first asks for a ticket (POST /api/v1/vms/{ref}/console/ticket,
 * authenticated, checked for VirtualMachine.Interact.ConsoleInteract):
 * 32 random bytes, good once, for 30 s, for that VM only (vSphere's
 * console tickets work the same way).  The WebSocket (RFC 6455) then
 * opens GET /api/v1/vms/{ref}/console/ws?ticket=T.  Center connects to the
 * VM's host as its service account (the host's own console upgrade,
 * "vireo-console", over TCP or TLS) and relays bytes: the browser's
 * frames (masked, as the RFC requires of clients) to the host, the host's
 * bytes to the browser as binary frames.  A frame over 64 KiB, an unmasked
 * client frame or a bad opcode closes the connection (1009/1002).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/client.h"
#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/hosts_priv.h"
#include "center/ws.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

#define TICKET_BYTES 32
#define TICKET_TTL_MS 30000
#define MAX_TICKETS 1024
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ticket {
	char value[2 * TICKET_BYTES + 1];
	int64_t vm_id, host_id;
	char uuid[37];
	char user[128];
	uint64_t expires_mono;
};

static pthread_mutex_t tickets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ticket tickets[MAX_TICKETS];

static bool ticket_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* Takes a ticket out (single use) if it is for vm_id; false if unknown, expired or another's. */
static bool ticket_take(const char *value, int64_t vm_id, struct ticket *out)
{
	bool found = false;
	uint64_t now = time_mono_ms();
	pthread_mutex_lock(&tickets_lock);
	for (size_t i = 0; i < MAX_TICKETS; i++) {
		if (!tickets[i].value[0])
			continue;
		if (tickets[i].expires_mono < now) {
			memset(&tickets[i], 0, sizeof(tickets[i]));
			continue;
		}
		if (!found && tickets[i].vm_id == vm_id && ticket_equal(tickets[i].value, value)) {
			*out = tickets[i];
			memset(&tickets[i], 0, sizeof(tickets[i]));
			found = true;
		}
	}
	pthread_mutex_unlock(&tickets_lock);
	return found;
}

static int ticket_issue(const struct inv_object *vm, const char *user, char out[2 * TICKET_BYTES + 1],
			struct vr_error **err)
{
	unsigned char raw[TICKET_BYTES];
	if (random_bytes(raw, sizeof(raw)) < 0)
		return vr_error_set(err, EIO, "cannot get random bytes for a console ticket");
	for (int i = 0; i < TICKET_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	uint64_t now = time_mono_ms();
	pthread_mutex_lock(&tickets_lock);
	size_t slot = MAX_TICKETS;
	for (size_t i = 0; i < MAX_TICKETS; i++)
		if (!tickets[i].value[0] || tickets[i].expires_mono < now) {
			slot = i;
			break;
		}
	if (slot < MAX_TICKETS) {
		struct ticket *t = &tickets[slot];
		memset(t, 0, sizeof(*t));
		snprintf(t->value, sizeof(t->value), "%s", out);
		t->vm_id = vm->id;
		t->host_id = vm->host_id;
		snprintf(t->uuid, sizeof(t->uuid), "%s", vm->uuid);
		snprintf(t->user, sizeof(t->user), "%s", user);
		t->expires_mono = now + TICKET_TTL_MS;
	}
	pthread_mutex_unlock(&tickets_lock);
	if (slot == MAX_TICKETS)
		return vr_error_set(err, EAGAIN, "too many console tickets outstanding; try again");
	return 0;
}

/* ---- the connection to the host ---- */

struct hconn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static void hconn_close(struct hconn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
	c->ctx = NULL;
}

static ssize_t hconn_write(struct hconn *c, const void *buf, size_t len)
{
	if (c->ssl) {
		int n = SSL_write(c->ssl, buf, (int)len);
		return n > 0 ? n : -1;
	}
	return send(c->fd, buf, len, MSG_NOSIGNAL);
}

static ssize_t hconn_read(struct hconn *c, void *buf, size_t len)
{
	if (c->ssl) {
		int n = SSL_read(c->ssl, buf, (int)len);
		return n > 0 ? n : (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
	}
	return recv(c->fd, buf, len, 0);
}

static int write_all(struct hconn *c, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = hconn_write(c, p, len);
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "http(s)://host:port/prefix" -> parts. */
static int url_split(const char *url, bool *tls, char **host, char **port, char **prefix)
{
	const char *p;
	if (strncasecmp(url, "https://", 8) == 0) {
		*tls = true;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		*tls = false;
		p = url + 7;
	} else {
		return -EINVAL;
	}
	const char *slash = strchr(p, '/');
	size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
	*prefix = xstrdup(slash ? slash : "");
	_cleanup_free_ char *hp = xstrndup(p, hostport);
	char *colon = hp[0] == '[' ? strstr(hp, "]:") : strrchr(hp, ':');
	if (colon && hp[0] == '[')
		colon++;
	if (colon) {
		*colon = '\0';
		*port = xstrdup(colon + 1);
	} else {
		*port = xstrdup(*tls ? "443" : "80");
	}
	size_t hl = strlen(hp);
	if (hp[0] == '[' && hl >= 2 && hp[hl - 1] == ']')
		*host = xstrndup(hp + 1, hl - 2);
	else
		*host = xstrdup(hp);
	return 0;
}

/*
 * Opens the host's console of a VM: TCP (or TLS) to the host, the
 * upgrade request with center's session, the 101.  Bytes the host sent
 * after its headers go to *extra.
 */
static int console_connect(struct chosts *hs, struct chost *h, const char *uuid, bool fresh,
			   struct hconn *c, char **extra, size_t *extra_len, int *status,
			   struct vr_error **err)
{
	*c = (struct hconn){.fd = -1};
	*extra = NULL;
	*extra_len = 0;
	*status = 0;
	bool tls;
	_cleanup_free_ char *host = NULL, *port = NULL, *prefix = NULL, *token = NULL;
	_cleanup_free_ char *esc = NULL, *request = NULL;
	if (url_split(h->url, &tls, &host, &port, &prefix) < 0)
		return vr_error_set(err, EINVAL, "host URL %s is not http(s)", h->url);
	int r = chost_token(hs, h, fresh, &token, err);
	if (r < 0)
		return r;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0)
		return vr_error_set(err, EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(g));
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (c->fd < 0)
			continue;
		struct timeval tv = {5, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(ai);
	if (c->fd < 0)
		return vr_error_set_errno(err, errno, "cannot connect to host \"%s\"", h->name);
	if (tls) {
		c->ctx = SSL_CTX_new(TLS_client_method());
		if (!c->ctx)
			goto tls_fail;
		if (!h->insecure) {
			SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
			if ((h->ca_file ? SSL_CTX_load_verify_locations(c->ctx, h->ca_file, NULL)
					: SSL_CTX_set_default_verify_paths(c->ctx)) != 1)
				goto tls_fail;
		}
		c->ssl = SSL_new(c->ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
			goto tls_fail;
		SSL_set_tlsext_host_name(c->ssl, host);
		if (!h->insecure)
			SSL_set1_host(c->ssl, host);
		if (SSL_connect(c->ssl) != 1)
			goto tls_fail;
	}
	esc = api_client_escape(uuid);
	request = xasprintf(
		"GET %s/api/v1/vms/%s/console HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
		"Connection: Upgrade\r\nUpgrade: vireo-console\r\n\r\n",
		prefix, esc, host, port, token);
	r = write_all(c, request, strlen(request));
	explicit_bzero(request, strlen(request));
	if (r < 0) {
		hconn_close(c);
		return vr_error_set(err, EIO, "host \"%s\" closed the console connection", h->name);
	}
	/* The response headers, up to 16 KiB. */
	char buf[16384];
	size_t got = 0;
	char *end = NULL;
	while (!end && got < sizeof(buf) - 1) {
		ssize_t n = hconn_read(c, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end) {
		hconn_close(c);
		return vr_error_set(err, EPROTO, "host \"%s\" did not answer the console request",
				    h->name);
	}
	int code = 0;
	sscanf(buf, "HTTP/1.%*d %d", &code);
	*status = code;
	if (code != 101) {
		/* The body says why (JSON error). */
		const char *body = end + 4;
		json_error_t jerr;
		json_t *doc = json_loads(body, JSON_DISABLE_EOF_CHECK, &jerr);
		const char *msg = json_get_string(json_object_get(doc, "error"), "message", NULL);
		r = vr_error_set(err, code == 404 ? ENOENT : code == 401 ? EACCES : EIO,
				 "host \"%s\" refused the console: %s", h->name,
				 msg ? msg : "no reason given");
		json_decref(doc);
		hconn_close(c);
		return r;
	}
	size_t hdr = (size_t)(end + 4 - buf);
	if (got > hdr) {
		*extra_len = got - hdr;
		*extra = xmalloc(*extra_len);
		memcpy(*extra, buf + hdr, *extra_len);
	}
	struct timeval none = {0, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	return 0;
tls_fail: {
	unsigned long e = ERR_get_error();
	char msg[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	hconn_close(c);
	return vr_error_set(err, EPROTO, "TLS to host \"%s\" failed: %s", h->name, msg);
}
}

/* ---- WebSocket frames ---- */

static int send_frame(int fd, int opcode, const void *data, size_t len)
{
	unsigned char hdr[10];
	size_t hl = 2;
	hdr[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		hdr[1] = (unsigned char)len;
	} else if (len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = (unsigned char)(len >> 8);
		hdr[3] = (unsigned char)len;
		hl = 4;
	} else {
		hdr[1] = 127;
		for (int i = 0; i < 8; i++)
			hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	if (send(fd, hdr, hl, MSG_NOSIGNAL) != (ssize_t)hl)
		return -EIO;
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_close(int fd, unsigned code)
{
	unsigned char b[2] = {(unsigned char)(code >> 8), (unsigned char)code};
	send_frame(fd, 0x8, b, 2);
}

struct bridge {
	struct center *c;
	struct ticket t;
};

static void bridge_free(void *opaque)
{
	free(opaque);
}

static void relay(int ws, struct hconn *host, struct wsin *in)
{
	unsigned char buf[16384];
	for (;;) {
		struct pollfd p[2] = {{.fd = ws, .events = POLLIN}, {.fd = host->fd, .events = POLLIN}};
		/* TLS may hold decrypted bytes the socket no longer shows. */
		int timeout = host->ssl && SSL_pending(host->ssl) > 0 ? 0 : -1;
		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) ||
		    (host->ssl && SSL_pending(host->ssl) > 0)) {
			ssize_t n = hconn_read(host, buf, sizeof(buf));
			if (n <= 0) {
				send_close(ws, 1000);
				return;
			}
			if (send_frame(ws, 0x2, buf, (size_t)n) < 0)
				return;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(ws, buf, sizeof(buf), 0);
			if (n <= 0)
				return;
			if (in->len + (size_t)n > WS_MAX_PAYLOAD + 16) {
				send_close(ws, 1009);
				return;
			}
			in->buf = xrealloc(in->buf, in->len + (size_t)n);
			memcpy(in->buf + in->len, buf, (size_t)n);
			in->len += (size_t)n;
			for (;;) {
				int op = 0;
				unsigned char *payload = NULL;
				size_t plen = 0;
				unsigned code = 1000;
				int f = ws_next(in, &op, &payload, &plen, &code);
				if (f < 0) {
					send_close(ws, code);
					return;
				}
				if (f == WS_MORE)
					break;
				int rr = 0;
				switch (op) {
				case 0x0: /* continuation */
				case 0x1: /* text */
				case 0x2: /* binary */
					rr = write_all(host, payload, plen);
					break;
				case 0x8: /* close */
					send_close(ws, 1000);
					free(payload);
					return;
				case 0x9: /* ping */
					rr = send_frame(ws, 0xA, payload, plen);
					break;
				case 0xA: /* pong */
					break;
				default:
					send_close(ws, 1002);
					free(payload);
					return;
				}
				free(payload);
				if (rr < 0)
					return;
			}
		}
	}
}

static void bridge_main(int ws, const char *extra, size_t extra_len, void *opaque)
{
	/* fn owns opaque once it runs (api/server.h). */
	struct bridge bb = *(struct bridge *)opaque, *b = &bb;
	free(opaque);
	struct chosts *hs = b->c->hosts;
	struct chost *h = chost_get(hs, b->t.host_id);
	if (!h) {
		send_close(ws, 1011);
		return;
	}
	struct hconn host;
	_cleanup_free_ char *hextra = NULL;
	size_t hextra_len = 0;
	int status = 0;
	_cleanup_error_ struct vr_error *err = NULL;
	int r = console_connect(hs, h, b->t.uuid, false, &host, &hextra, &hextra_len, &status, &err);
	if (r < 0 && status == 401) {
		vr_error_free(err);
		err = NULL;
		r = console_connect(hs, h, b->t.uuid, true, &host, &hextra, &hextra_len, &status,
				    &err);
	}
	if (r < 0) {
		log_warn("console of VM %s for %s: %s", b->t.uuid, b->t.user, vr_error_msg(err));
		/* The reason, as text the page can show, then the close. */
		_cleanup_free_ char *msg = xasprintf("\r\n[vireo: %s]\r\n", vr_error_msg(err));
		send_frame(ws, 0x2, msg, strlen(msg));
		send_close(ws, 1011);
		chost_put(h);
		return;
	}
	log_info("console of VM %s opened for %s", b->t.uuid, b->t.user);
	if (hextra_len)
		send_frame(ws, 0x2, hextra, hextra_len);
	struct wsin in = {0};
	if (extra_len) {
		in.buf = xmalloc(extra_len);
		memcpy(in.buf, extra, extra_len);
		in.len = extra_len;
	}
	relay(ws, &host, &in);
	free(in.buf);
	hconn_close(&host);
	chost_put(h);
	log_info("console of VM %s closed for %s", b->t.uuid, b->t.user);
}

/* ---- the REST side ---- */

static void console_ticket(struct api_request *req, void *opaque)
{
	_cleanup_free_ char *ref = NULL, *path = NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	char t[2 * TICKET_BYTES + 1];
	if (!capi_find_vm(&x, api_request_param(req, "ref"), &o) ||
	    !creq_allow(&x, &o, "VirtualMachine.Interact.ConsoleInteract"))
		goto out;
	if (!o.host_id || !o.uuid) {
		api_respond_error(req, 409, "VM \"%s\" is on no host", o.name);
		goto out;
	}
	if (ticket_issue(&o, x.user, t, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	ref = moref_of(o.kind, o.id);
	path = xasprintf("/api/v1/vms/%s/console/ws?ticket=%s", ref, t);
	api_respond_json(req, 201, json_pack("{s:s, s:s, s:i}", "ticket", t, "path", path,
					     "expires_in_s", TICKET_TTL_MS / 1000));
	explicit_bzero(t, sizeof(t));
out:
	inv_object_clear(&o);
	creq_end(&x);
}

static char *ws_accept(const char *key)
{
	_cleanup_free_ char *s = xasprintf("%s%s", key, WS_GUID);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha1(), NULL);
	char *out = xmalloc(4 * ((mdlen + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return out;
}

/* No session: the ticket is the credential. */
static void console_ws(struct api_request *req, void *opaque)
{
	struct center *c = opaque;
	const char *value = api_request_query(req, "ticket");
	const char *key = api_request_header(req, "Sec-WebSocket-Key");
	const char *version = api_request_header(req, "Sec-WebSocket-Version");
	if (!key || strlen(key) != 24 || !version || strcmp(version, "13") != 0) {
		api_respond_error(req, 400, "a WebSocket (version 13) handshake is needed here");
		return;
	}
	/* The path names the VM as the ticket's answer gave it: "vm-N". */
	const char *ref = api_request_param(req, "ref");
	uint64_t vm_id = 0;
	if (!str_has_prefix(ref, "vm-") || parse_u64(ref + 3, 1, INT64_MAX, &vm_id) < 0) {
		api_respond_error(req, 404, "no VM \"%s\" (use the path the ticket came with)", ref);
		return;
	}
	struct ticket t;
	if (!value || !ticket_take(value, (int64_t)vm_id, &t)) {
		api_respond_error(req, 403, "no valid console ticket for this VM (ask POST "
					    "/api/v1/vms/{ref}/console/ticket; a ticket is good once, "
					    "for 30 s)");
		return;
	}
	struct bridge *b = xcalloc(1, sizeof(*b));
	b->c = c;
	b->t = t;
	_cleanup_free_ char *accept = ws_accept(key);
	api_respond_upgrade_hdr(req, "websocket", "Sec-WebSocket-Accept", accept, bridge_main, b,
				bridge_free);
}

void capi_console_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{ref}/console/ticket", console_ticket, c,
			     API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "GET", "/api/v1/vms/{ref}/console/ws", console_ws, c,
			     API_ROUTE_NO_AUTH);
}
