/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo top: live statistics of the host and its running VMs, like
 * esxtop.  Reads GET /api/v1/stats every refresh (the server samples every
 * interval; a quicker refresh shows the latest sample again).  Interactive:
 * ANSI escapes and a raw terminal (termios), keys c r m n to sort, q to
 * quit.  Batch (-b): CSV on stdout, a header once, then one row per VM per
 * iteration, as esxtop -b does.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

enum top_sort {
	TOP_SORT_CPU,
	TOP_SORT_READY,
	TOP_SORT_MEM,
	TOP_SORT_NAME,
};

static const char *const sort_names[] = {"cpu", "ready", "mem", "name"};

/* One VM's row: the sample with disks and NICs summed. */
struct top_row {
	const char *name;
	const char *id;
	const char *state;
	const char *time;
	long long vcpus;
	double used, ready;
	double configured, granted, consumed, active, ballooned, shared, swapped;
	double rd_iops, wr_iops, rd_kibps, wr_kibps, rd_lat, wr_lat;
	double rx_pps, tx_pps, rx_kibps, tx_kibps;
};

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Sum of a member over an array's objects; NAN when none has it. */
static double sum(const json_t *a, const char *key)
{
	double s = NAN;
	size_t i;
	const json_t *e;
	json_array_foreach(a, i, e) {
		double v = num(e, key);
		if (isfinite(v))
			s = isfinite(s) ? s + v : v;
	}
	return s;
}

/* Average latency of the disks weighted by their operations per second. */
static double latency(const json_t *disks, const char *lat_key, const char *iops_key)
{
	double w = 0, t = 0;
	bool any = false;
	size_t i;
	const json_t *d;
	json_array_foreach(disks, i, d) {
		double l = num(d, lat_key), n = num(d, iops_key);
		if (!isfinite(l) || !isfinite(n))
			continue;
		any = true;
		t += l * n;
		w += n;
	}
	return !any ? NAN : w > 0 ? t / w : 0.0;
}

static void row_from_json(struct top_row *r, const json_t *vm)
{
	const json_t *cpu = json_object_get(vm, "cpu"), *mem = json_object_get(vm, "memory");
	const json_t *disks = json_object_get(vm, "disks"), *nics = json_object_get(vm, "nics");
	*r = (struct top_row){
		.name = json_get_string(vm, "name", "?"),
		.id = json_get_string(vm, "id", "?"),
		.state = json_get_string(vm, "state", "?"),
		.time = json_get_string(vm, "time", ""),
		.vcpus = (long long)json_get_int(vm, "vcpus", 0),
		.used = num(cpu, "used_pct"),
		.ready = num(cpu, "ready_pct"),
		.configured = num(mem, "configured_bytes"),
		.granted = num(mem, "granted_bytes"),
		.consumed = num(mem, "consumed_bytes"),
		.active = num(mem, "active_bytes"),
		.ballooned = num(mem, "ballooned_bytes"),
		.shared = num(mem, "shared_bytes"),
		.swapped = num(mem, "swapped_bytes"),
		.rd_iops = sum(disks, "read_iops"),
		.wr_iops = sum(disks, "write_iops"),
		.rd_kibps = sum(disks, "read_kibps"),
		.wr_kibps = sum(disks, "write_kibps"),
		.rd_lat = latency(disks, "read_latency_ms", "read_iops"),
		.wr_lat = latency(disks, "write_latency_ms", "write_iops"),
		.rx_pps = sum(nics, "rx_pps"),
		.tx_pps = sum(nics, "tx_pps"),
		.rx_kibps = sum(nics, "rx_kibps"),
		.tx_kibps = sum(nics, "tx_kibps"),
	};
}

static enum top_sort sort_key;

/* Larger first for numbers (unknown last), names alphabetically. */
static int cmp_num(double a, double b)
{
	if (!isfinite(a))
		return isfinite(b) ? 1 : 0;
	if (!isfinite(b))
		return -1;
	return (a < b) - (a > b);
}

static int row_cmp(const void *pa, const void *pb)
{
	const struct top_row *a = pa, *b = pb;
	int c = 0;
	switch (sort_key) {
	case TOP_SORT_CPU:
		c = cmp_num(a->used, b->used);
		break;
	case TOP_SORT_READY:
		c = cmp_num(a->ready, b->ready);
		break;
	case TOP_SORT_MEM:
		c = cmp_num(a->consumed, b->consumed);
		if (!c)
			c = cmp_num(a->granted, b->granted);
		break;
	case TOP_SORT_NAME:
		break;
	}
	return c ? c : strcmp(a->name, b->name);
}

static size_t rows_build(const json_t *stats, struct top_row **out)
{
	const json_t *vms = json_object_get(stats, "vms");
	size_t n = json_array_size(vms);
	struct top_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
	for (size_t i = 0; i < n; i++)
		row_from_json(&rows[i], json_array_get(vms, i));
	qsort(rows, n, sizeof(*rows), row_cmp);
	*out = rows;
	return n;
}

/* ---- batch: CSV ---- */

static void csv_string(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* An empty field for an unknown value; bytes as integers, rates with two decimals. */
static void csv_num(FILE *f, double v, int decimals)
{
	if (isfinite(v))
		fprintf(f, ",%.*f", decimals, v);
	else
		fputs(",", f);
}

static const char csv_header[] =
	"timestamp,vm,vm_id,state,vcpus,cpu_used_pct,cpu_ready_pct,mem_configured_bytes,"
	"mem_granted_bytes,mem_consumed_bytes,mem_active_bytes,mem_ballooned_bytes,"
	"mem_shared_bytes,mem_swapped_bytes,disk_read_iops,disk_write_iops,disk_read_kibps,"
	"disk_write_kibps,disk_read_latency_ms,disk_write_latency_ms,net_rx_pps,net_tx_pps,"
	"net_rx_kibps,net_tx_kibps\n";

static void csv_rows(FILE *f, const struct top_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct top_row *r = &rows[i];
		csv_string(f, r->time);
		fputc(',', f);
		csv_string(f, r->name);
		fprintf(f, ",%s,%s,%lld", r->id, r->state, r->vcpus);
		const double v[] = {r->used,     r->ready,     r->configured, r->granted, r->consumed,
				    r->active,   r->ballooned, r->shared,     r->swapped, r->rd_iops,
				    r->wr_iops,  r->rd_kibps,  r->wr_kibps,   r->rd_lat,  r->wr_lat,
				    r->rx_pps,   r->tx_pps,    r->rx_kibps,   r->tx_kibps};
		for (size_t k = 0; k < ARRAY_SIZE(v); k++)
			csv_num(f, v[k], k >= 2 && k <= 8 ? 0 : 2); /* the memory columns are bytes */
		fputc('\n', f);
	}
	fflush(f);
}

/* ---- interactive ---- */

static struct termios saved_termios;
static bool termios_saved;
static volatile sig_atomic_t top_quit;

static void on_signal(int sig)
{
	(void)sig;
	top_quit = 1;
}

static void terminal_restore(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	termios_saved = false;
	fputs("\033[?25h\033[?1049l", stdout); /* cursor back, leave the alternate screen */
	fflush(stdout);
}

static int terminal_raw(void)
{
	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	struct termios t = saved_termios;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return -errno;
	termios_saved = true;
	fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, hide the cursor */
	return 0;
}

/* A byte count as MiB, or "-". */
static void fmt_mib(char *buf, size_t len, double v)
{
	if (isfinite(v))
		snprintf(buf, len, "%.0f", v / 1048576.0);
	else
		snprintf(buf, len, "-");
}

static void fmt_num(char *buf, size_t len, double v, int decimals)
{
	if (isfinite(v))
		snprintf(buf, len, "%.*f", decimals, v);
	else
		snprintf(buf, len, "-");
}

static void fmt_gib(char *buf, size_t len, double v)
{
	if (isfinite(v))
		snprintf(buf, len, "%.1f GiB", v / (1024.0 * 1048576.0));
	else
		snprintf(buf, len, "-");
}

/* Prints a line cut to the terminal's width, clearing the rest of it. */
static void put_line(unsigned width, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_line(unsigned width, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (width > 0 && width < sizeof(line))
		line[width] = '\0';
	printf("%s\033[K\n", line);
}

static void screen_draw(const json_t *stats, const struct top_row *rows, size_t n,
			unsigned refresh_s, const char *server)
{
	struct winsize ws = {0};
	unsigned width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 132;
	unsigned height = ws.ws_row ? ws.ws_row : 40;
	const json_t *host = json_object_get(stats, "host");
	const json_t *cpu = json_object_get(host, "cpu"), *mem = json_object_get(host, "memory");
	char a[32], b[32], c[32], d[32], e[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	fputs("\033[H", stdout);
	put_line(width, "vireo top - %02d:%02d:%02d  %s  sample %s  interval %.0fs  refresh %us  sort %s",
		 tm.tm_hour, tm.tm_min, tm.tm_sec, server, json_get_string(host, "time", "-"),
		 num(stats, "interval_s"), refresh_s, sort_names[sort_key]);
	fmt_num(a, sizeof(a), num(cpu, "used_pct"), 1);
	fmt_num(b, sizeof(b), num(cpu, "used_mhz"), 0);
	put_line(width, "CPU: %s%% used, %s MHz of %lld MHz (%lld cores)   VMs running: %lld", a, b,
		 (long long)json_get_int(cpu, "capacity_mhz", 0), (long long)json_get_int(cpu, "count", 0),
		 (long long)json_get_int(host, "vms_running", 0));
	fmt_gib(a, sizeof(a), num(mem, "used_bytes"));
	fmt_gib(b, sizeof(b), num(mem, "total_bytes"));
	fmt_gib(c, sizeof(c), num(mem, "available_bytes"));
	fmt_gib(d, sizeof(d), num(mem, "swap_used_bytes"));
	fmt_gib(e, sizeof(e), num(mem, "ksm_shared_bytes"));
	put_line(width, "MEM: %s used of %s, %s available; swap used %s; KSM shared %s", a, b, c, d,
		 e);
	put_line(width, "keys: c %%USED  r %%RDY  m memory  n name  q quit     (memory in MiB, LAT in ms)");
	put_line(width, "%s", "");
	put_line(width, "%-20s %-7s %4s %6s %6s %7s %7s %7s %7s %6s %6s %6s %7s %7s %7s %7s %8s %8s",
		 "NAME", "STATE", "VCPU", "%USED", "%RDY", "GRANT", "CONSUM", "ACTIVE", "BALLOON",
		 "SHARED", "SWAP", "RD/s", "WR/s", "RDKB/s", "WRKB/s", "LAT", "RXPKT/s", "TXPKT/s");
	for (size_t i = 0; i < n && i + 7 < height; i++) {
		const struct top_row *r = &rows[i];
		char u[16], rd[16], g[16], cs[16], ac[16], bl[16], sh[16], sw[16];
		char ri[16], wi[16], rk[16], wk[16], lat[16], rx[16], tx[16];
		fmt_num(u, sizeof(u), r->used, 1);
		fmt_num(rd, sizeof(rd), r->ready, 1);
		fmt_mib(g, sizeof(g), r->granted);
		fmt_mib(cs, sizeof(cs), r->consumed);
		fmt_mib(ac, sizeof(ac), r->active);
		fmt_mib(bl, sizeof(bl), r->ballooned);
		fmt_mib(sh, sizeof(sh), r->shared);
		fmt_mib(sw, sizeof(sw), r->swapped);
		fmt_num(ri, sizeof(ri), r->rd_iops, 1);
		fmt_num(wi, sizeof(wi), r->wr_iops, 1);
		fmt_num(rk, sizeof(rk), r->rd_kibps, 0);
		fmt_num(wk, sizeof(wk), r->wr_kibps, 0);
		double l = isfinite(r->rd_lat) && isfinite(r->wr_lat) ? (r->rd_lat > r->wr_lat ? r->rd_lat : r->wr_lat)
				     : isfinite(r->rd_lat) ? r->rd_lat : r->wr_lat;
		fmt_num(lat, sizeof(lat), l, 2);
		fmt_num(rx, sizeof(rx), r->rx_pps, 0);
		fmt_num(tx, sizeof(tx), r->tx_pps, 0);
		put_line(width,
			 "%-20.20s %-7s %4lld %6s %6s %7s %7s %7s %7s %6s %6s %6s %7s %7s %7s %7s %8s %8s",
			 r->name, r->state, r->vcpus, u, rd, g, cs, ac, bl, sh, sw, ri, wi, rk, wk, lat,
			 rx, tx);
	}
	fputs("\033[J", stdout); /* clear below */
	fflush(stdout);
}

/* Waits up to ms for a key; handles the sort keys; false to quit. */
static bool wait_key(unsigned ms)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	int r = poll(&p, 1, (int)ms);
	if (top_quit)
		return false;
	if (r <= 0)
		return true;
	char ch;
	if (read(STDIN_FILENO, &ch, 1) != 1)
		return true;
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case 'c':
		sort_key = TOP_SORT_CPU;
		break;
	case 'r':
		sort_key = TOP_SORT_READY;
		break;
	case 'm':
		sort_key = TOP_SORT_MEM;
		break;
	case 'n':
		sort_key = TOP_SORT_NAME;
		break;
	}
	return true;
}

static int cmd_top(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option options[] = {
		{"batch", no_argument, NULL, 'b'},
		{"delay", required_argument, NULL, 'd'},
		{"iterations", required_argument, NULL, 'n'},
		{"sort", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "top ";
	bool batch = false;
	uint64_t delay = 5, iterations = 0;
	sort_key = TOP_SORT_CPU;
	int opt;
	while ((opt = getopt_long(argc, argv, "bd:n:s:", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			batch = true;
			break;
		case 'd':
			if (parse_u64(optarg, 1, 3600, &delay) < 0)
				return cli_usage_error(cmd, "-d \"%s\": expected seconds (1..3600)",
						       optarg);
			break;
		case 'n':
			if (parse_u64(optarg, 1, 1000000, &iterations) < 0)
				return cli_usage_error(cmd, "-n \"%s\": expected a number of iterations",
						       optarg);
			break;
		case 's': {
			size_t k = 0;
			while (k < ARRAY_SIZE(sort_names) && strcmp(optarg, sort_names[k]) != 0)
				k++;
			if (k == ARRAY_SIZE(sort_names))
				return cli_usage_error(cmd, "-s \"%s\": expected cpu, ready, mem or name",
						       optarg);
			sort_key = (enum top_sort)k;
			break;
		}
		default:
			return cli_usage_error(cmd, "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	if (!batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
		return cli_usage_error(cmd, "the live view needs a terminal; use -b for CSV output");
	struct vireo_client *client = cli_client(ctx);
	if (!client)
		return CLI_EXIT_FAILED;

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!batch && terminal_raw() < 0) {
		fprintf(stderr, "vireo: cannot set up the terminal: %s\n", strerror(errno));
		return CLI_EXIT_FAILED;
	}
	int rc = CLI_EXIT_OK;
	for (uint64_t it = 0; !top_quit && (iterations == 0 || it < iterations); it++) {
		_cleanup_error_ struct vr_error *err = NULL;
		json_t *stats = NULL;
		if (client_request(client, "GET", "/api/v1/stats", NULL, NULL, &stats, &err) < 0) {
			if (!batch)
				terminal_restore();
			rc = cli_fail(err);
			break;
		}
		struct top_row *rows = NULL;
		size_t n = rows_build(stats, &rows);
		if (batch) {
			if (it == 0)
				fputs(csv_header, stdout);
			csv_rows(stdout, rows, n);
		} else {
			screen_draw(stats, rows, n, (unsigned)delay, client_server_url(client));
		}
		free(rows);
		json_decref(stats);
		if (iterations && it + 1 == iterations)
			break;
		if (batch) {
			struct timespec ts = {.tv_sec = (time_t)delay};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !top_quit)
				;
		} else {
			/* Keys redraw at once; otherwise wait out the delay. */
			uint64_t end = time_mono_ms() + delay * 1000;
			bool go_on = true;
			enum top_sort before = sort_key;
			for (uint64_t now = time_mono_ms(); go_on && now < end && sort_key == before;
			     now = time_mono_ms())
				go_on = wait_key((unsigned)(end - now));
			if (!go_on)
				break;
		}
	}
	if (!batch && termios_saved)
		terminal_restore();
	return rc;
}

static const struct cli_command top_commands[] = {
	{"top", "[-b] [-d SECONDS] [-n ITERATIONS] [-s cpu|ready|mem|name]",
	 "live statistics of the host and its running VMs, like esxtop (keys c r m n sort, q quits;"
	 " -b: CSV rows on stdout)",
	 cmd_top},
	{NULL, NULL, NULL, NULL},
};

const struct cli_group cli_group_top = {
	.name = NULL,
	.summary = "live statistics",
	.commands = top_commands,
};
