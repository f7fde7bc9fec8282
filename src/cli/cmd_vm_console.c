/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo vm console | console-log.  The console attaches the terminal to a VM's serial console over
 * GET /api/v1/vms/{id}/console upgraded to the "vireo-console" protocol.
 * libcurl makes the connection (TCP or TLS, with the client's trust
 * settings) and then only carries bytes (CURLOPT_CONNECT_ONLY).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define ESCAPE_CHAR 0x1d /* Ctrl-] */
#define HANDSHAKE_TIMEOUT_MS 15000
#define HEADER_MAX 16384
#define ERROR_BODY_MAX 65536
#define LINGER_DEFAULT_S 1

struct console_conn {
	CURL *curl;
	curl_socket_t fd;
};

/* ---- the terminal: raw mode, restored on every way out ---- */

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void terminal_restore(void)
{
	if (termios_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
		termios_saved = 0;
	}
}

static void on_fatal_signal(int sig)
{
	terminal_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int terminal_make_raw(void)
{
	static bool handlers_installed;
	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	struct termios raw = saved_termios;
	cfmakeraw(&raw);
	termios_saved = 1;
	if (!handlers_installed) {
		atexit(terminal_restore);
		static const int sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };
		for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
			signal(sigs[i], on_fatal_signal);
		handlers_installed = true;
	}
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0) {
		termios_saved = 0;
		return -errno;
	}
	return 0;
}

/* ---- the connection ---- */

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r;
}

/* >0 bytes, 0 end of stream, -EAGAIN nothing yet, -EIO failure. */
static ssize_t conn_recv(struct console_conn *c, char *buf, size_t len)
{
	size_t n = 0;
	CURLcode cr = curl_easy_recv(c->curl, buf, len, &n);
	if (cr == CURLE_AGAIN)
		return -EAGAIN;
	if (cr != CURLE_OK)
		return -EIO;
	return (ssize_t)n;
}

static int conn_send_all(struct console_conn *c, const char *p, size_t len)
{
	while (len > 0) {
		size_t n = 0;
		CURLcode cr = curl_easy_send(c->curl, p, len, &n);
		if (cr == CURLE_AGAIN) {
			if (wait_fd(c->fd, POLLOUT, HANDSHAKE_TIMEOUT_MS) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (cr != CURLE_OK)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static int write_all_fd(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_fd(fd, POLLOUT, 1000);
				continue;
			}
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* "host:port" of "http(s)://host:port[/...]". */
static char *url_authority(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	return xstrndup(p, strcspn(p, "/?#"));
}

/* Reads until the end of the HTTP header block; *buf holds it and any bytes after. */
static int read_header(struct console_conn *c, char **buf, size_t *len, size_t *header_len)
{
	char *b = xmalloc(HEADER_MAX + 1);
	size_t n = 0;
	uint64_t deadline = time_mono_ms() + HANDSHAKE_TIMEOUT_MS;
	for (;;) {
		ssize_t r = conn_recv(c, b + n, HEADER_MAX - n);
		if (r == -EAGAIN) {
			int64_t left = (int64_t)(deadline - time_mono_ms());
			if (left <= 0 || wait_fd(c->fd, POLLIN, (int)left) <= 0) {
				free(b);
				return -ETIMEDOUT;
			}
			continue;
		}
		if (r <= 0) {
			free(b);
			return r == 0 ? -ECONNRESET : (int)r;
		}
		n += (size_t)r;
		b[n] = '\0';
		char *end = strstr(b, "\r\n\r\n");
		if (end) {
			*header_len = (size_t)(end - b) + 4;
			*buf = b;
			*len = n;
			return 0;
		}
		if (n == HEADER_MAX) {
			free(b);
			return -EFBIG;
		}
	}
}

/* The message of a refused upgrade: the JSON error body, read per Content-Length. */
static char *refusal_message(struct console_conn *c, long status, const char *header,
			     const char *body, size_t body_len)
{
	size_t want = 0;
	for (const char *line = strstr(header, "\r\n"); line; line = strstr(line + 2, "\r\n"))
		if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
			want = strtoul(line + 17, NULL, 10);
	if (want > ERROR_BODY_MAX)
		want = ERROR_BODY_MAX;
	_cleanup_free_ char *data = xmalloc(want + 1);
	size_t have = body_len < want ? body_len : want;
	memcpy(data, body, have);
	uint64_t deadline = time_mono_ms() + HANDSHAKE_TIMEOUT_MS;
	while (have < want) {
		ssize_t r = conn_recv(c, data + have, want - have);
		if (r == -EAGAIN) {
			int64_t left = (int64_t)(deadline - time_mono_ms());
			if (left <= 0 || wait_fd(c->fd, POLLIN, (int)left) <= 0)
				break;
			continue;
		}
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	json_t *doc = json_loadb(data, have, 0, NULL);
	const char *msg = json_get_string(json_object_get(doc, "error"), "message", NULL);
	char *out = msg ? xasprintf("%s%s", msg, status == 401 ? " (run \"vireo login\")" : "")
			: xasprintf("the console request failed with HTTP status %ld", status);
	json_decref(doc);
	return out;
}

/*
 * Relays until the escape character or EOF on the terminal, the end of
 * the connection, or (stdin not a terminal) linger_ms after stdin's end.
 */
static int relay(struct console_conn *c, bool tty, int linger_ms)
{
	char buf[16384];
	bool stdin_open = true;
	uint64_t deadline = 0;
	for (;;) {
		/* Drain what the connection holds (TLS may buffer beyond the socket). */
		for (;;) {
			ssize_t r = conn_recv(c, buf, sizeof(buf));
			if (r == -EAGAIN)
				break;
			if (r <= 0)
				return r == 0 ? 0 : -ECONNRESET;
			if (write_all_fd(STDOUT_FILENO, buf, (size_t)r) < 0)
				return 0;
		}
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		int timeout = -1;
		if (!stdin_open) {
			int64_t left = (int64_t)(deadline - time_mono_ms());
			if (left <= 0)
				return 0;
			timeout = (int)left;
		}
		int n = poll(p, stdin_open ? 2 : 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0; /* lingered long enough */
		if (!stdin_open || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			if (tty)
				return 0;
			stdin_open = false;
			deadline = time_mono_ms() + (uint64_t)linger_ms;
			continue;
		}
		size_t len = (size_t)r;
		bool escape = false;
		if (tty) {
			char *e = memchr(buf, ESCAPE_CHAR, len);
			if (e) {
				len = (size_t)(e - buf);
				escape = true;
			}
		}
		if (len > 0 && conn_send_all(c, buf, len) < 0)
			return -ECONNRESET;
		if (escape)
			return 0;
	}
}

static void conn_setup(struct console_conn *c, struct vireo_client *client, const char *url,
		       char *curl_msg)
{
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (client_tls_insecure(client)) {
		curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (client_ca_file(client))
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, client_ca_file(client));
}

/*
 * Connects and asks for the upgrade.  On success *buf holds the answer's
 * header block and any console bytes after it (from header_len on).
 * Returns 0, or -1 after printing why not.
 */
static int console_connect(struct console_conn *c, struct vireo_client *client, const char *vm,
			   char **buf, size_t *len, size_t *header_len)
{
	const char *token = client_token(client);
	const char *server = client_server_url(client);
	if (!token) {
		fprintf(stderr,
			"vireo: console of VM \"%s\": not logged in to %s (run \"vireo login\")\n",
			vm, server);
		return -1;
	}
	_cleanup_free_ char *escaped = client_escape(vm);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/console", escaped);
	_cleanup_free_ char *url = xasprintf("%s%s", server, path);
	char curl_msg[CURL_ERROR_SIZE] = "";
	conn_setup(c, client, url, curl_msg);
	CURLcode cr = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (cr != CURLE_OK) {
		fprintf(stderr, "vireo: cannot reach the Vireo host at %s: %s\n", server,
			curl_msg[0] ? curl_msg : curl_easy_strerror(cr));
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &c->fd);

	_cleanup_free_ char *authority = url_authority(server);
	_cleanup_free_ char *request = xasprintf("GET %s HTTP/1.1\r\n"
						 "Host: %s\r\n"
						 "Connection: Upgrade\r\n"
						 "Upgrade: vireo-console\r\n"
						 "Authorization: Bearer %s\r\n"
						 "\r\n",
						 path, authority, token);
	int r = conn_send_all(c, request, strlen(request));
	explicit_bzero(request, strlen(request));
	if (r == 0)
		r = read_header(c, buf, len, header_len);
	if (r < 0) {
		fprintf(stderr, "vireo: console of VM \"%s\": no answer from %s: %s\n", vm, server,
			strerror(-r));
		return -1;
	}
	long status = 0;
	if (sscanf(*buf, "HTTP/1.%*d %ld", &status) != 1) {
		fprintf(stderr, "vireo: console of VM \"%s\": malformed answer from %s\n", vm,
			server);
		return -1;
	}
	if (status != 101) {
		(*buf)[*header_len - 2] = '\0'; /* the headers alone, for the search */
		_cleanup_free_ char *msg = refusal_message(c, status, *buf, *buf + *header_len,
							   *len - *header_len);
		if (strstr(msg, vm))
			fprintf(stderr, "vireo: %s\n", msg);
		else
			fprintf(stderr, "vireo: console of VM \"%s\": %s\n", vm, msg);
		return -1;
	}
	return 0;
}

static int console_run(struct cli_ctx *ctx, const char *vm, int linger_ms)
{
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	struct console_conn c = { .curl = curl_easy_init(), .fd = CURL_SOCKET_BAD };
	if (!c.curl) {
		fprintf(stderr, "vireo: cannot initialise libcurl\n");
		return CLI_EXIT_FAILED;
	}
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, header_len = 0;
	if (console_connect(&c, client, vm, &buf, &len, &header_len) < 0) {
		curl_easy_cleanup(c.curl);
		return CLI_EXIT_FAILED;
	}

	bool tty = isatty(STDIN_FILENO);
	fprintf(stderr, "Connected to the console of %s. Escape character is ^]\n", vm);
	signal(SIGPIPE, SIG_IGN);
	if (tty && terminal_make_raw() < 0)
		fprintf(stderr, "vireo: cannot put the terminal in raw mode: %s\n",
			strerror(errno));
	int r = 0;
	if (len > header_len)
		r = write_all_fd(STDOUT_FILENO, buf + header_len, len - header_len);
	if (r == 0)
		r = relay(&c, tty, linger_ms);
	terminal_restore();
	curl_easy_cleanup(c.curl);
	/* The host ending the connection (the VM powered off) is a normal end. */
	if (r < 0 && r != -ECONNRESET && r != -EPIPE) {
		fprintf(stderr, "vireo: console of VM \"%s\": %s\n", vm, strerror(-r));
		return CLI_EXIT_FAILED;
	}
	if (tty)
		fprintf(stderr, "\r\nDisconnected from the console of %s.\n", vm);
	return CLI_EXIT_OK;
}

int cli_vm_console(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_LINGER = 256 };
	static const struct option options[] = {
		{ "linger", required_argument, NULL, OPT_LINGER },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "vm console ";
	uint64_t linger_s = LINGER_DEFAULT_S;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt != OPT_LINGER)
			return cli_usage_error(cmd, "bad option");
		if (parse_u64(optarg, 0, 3600, &linger_s) < 0)
			return cli_usage_error(cmd,
					       "--linger \"%s\" is not a whole number of seconds "
					       "from 0 to 3600",
					       optarg);
	}
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "expected one VM (name or id)");
	return console_run(ctx, argv[optind], (int)linger_s * 1000);
}

int cli_vm_console_log(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { OPT_BYTES = 256 };
	static const struct option options[] = {
		{ "bytes", required_argument, NULL, OPT_BYTES },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "vm console-log ";
	uint64_t bytes = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt != OPT_BYTES)
			return cli_usage_error(cmd, "bad option");
		if (parse_u64(optarg, 1, 1u << 20, &bytes) < 0)
			return cli_usage_error(cmd,
					       "--bytes \"%s\" is not a whole number from 1 to %u",
					       optarg, 1u << 20);
	}
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "expected one VM (name or id)");
	const char *vm = argv[optind];
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *escaped = client_escape(vm);
	_cleanup_free_ char *path =
		bytes ? xasprintf("/api/v1/vms/%s/console/log?bytes=%llu", escaped,
				  (unsigned long long)bytes)
		      : xasprintf("/api/v1/vms/%s/console/log", escaped);
	json_t *o = NULL;
	if (client_request(client, "GET", path, NULL, NULL, &o, &err) < 0) {
		const char *msg = vr_error_msg(err);
		if (strstr(msg, vm))
			return cli_fail(err);
		fprintf(stderr, "vireo: console log of VM \"%s\": %s\n", vm, msg);
		return CLI_EXIT_FAILED;
	}
	if (ctx->json) {
		output_json(o);
	} else {
		const json_t *text = json_object_get(o, "text");
		if (json_is_string(text))
			fwrite(json_string_value(text), 1, json_string_length(text), stdout);
	}
	json_decref(o);
	return CLI_EXIT_OK;
}
