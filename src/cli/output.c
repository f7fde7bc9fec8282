/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/output.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"

#define PASSWORD_FILE_MAX 4096
#define BAR_WIDTH 30

struct table {
	size_t ncols;
	char ***rows; /* rows[0] holds the headers */
	size_t nrows;
};

char *output_bytes(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v))
		return NULL;
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double n = (double)json_integer_value(v);
	size_t u = 0;
	while (n >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		n /= 1024;
		u++;
	}
	return u == 0 ? xasprintf("%.0f B", n) : xasprintf("%.1f %s", n, units[u]);
}

void output_json(const json_t *value)
{
	char *s = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		abort();
	puts(s);
	free(s);
}

struct table *table_new(const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof(*t));
	while (headers[t->ncols])
		t->ncols++;
	table_add_row(t, headers);
	return t;
}

void table_add_row(struct table *t, const char *const *cells)
{
	char **row = xcalloc(t->ncols, sizeof(char *));
	for (size_t i = 0; i < t->ncols; i++)
		row[i] = xstrdup(cells[i] ? cells[i] : "-");
	t->rows = xrealloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
	t->rows[t->nrows++] = row;
}

/* Display width, counting UTF-8 code points; control characters as '?'. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		w += (*p & 0xc0) != 0x80;
	return w;
}

static void print_cell(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

void table_print(const struct table *t, FILE *out)
{
	size_t *width = xcalloc(t->ncols, sizeof(size_t));
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = text_width(t->rows[r][c]);
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			print_cell(out, t->rows[r][c]);
			if (c + 1 < t->ncols)
				fprintf(out, "%*s", (int)(width[c] - text_width(t->rows[r][c]) + 2),
					"");
		}
		fputc('\n', out);
	}
	free(width);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	free(t);
}

void progress_draw(const char *label, int percent)
{
	static int last_step = -1;
	static char last_label[128];

	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	if (strncmp(last_label, label, sizeof(last_label) - 1) != 0) {
		snprintf(last_label, sizeof(last_label), "%s", label);
		last_step = -1;
	}
	if (isatty(STDERR_FILENO)) {
		int filled = percent * BAR_WIDTH / 100;
		char bar[BAR_WIDTH + 1];
		memset(bar, '#', (size_t)filled);
		memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
		bar[BAR_WIDTH] = '\0';
		fprintf(stderr, "\r%s [%s] %3d%%", label, bar, percent);
		if (percent == 100) {
			fputc('\n', stderr);
			last_label[0] = '\0';
		}
		fflush(stderr);
		return;
	}
	int step = percent / 10;
	if (step == last_step)
		return;
	last_step = step;
	fprintf(stderr, "%s: %d%%\n", label, step * 10);
	if (percent == 100)
		last_label[0] = '\0';
}

static void strip_newline(char *s)
{
	size_t n = strcspn(s, "\r\n");
	s[n] = '\0';
}

static int prompt_tty(const char *prompt, char **out, struct vr_error **err)
{
	_cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return vr_error_set(err, ENOTTY,
				    "no terminal to ask for the password on; use a password file "
				    "or the VIREO_PASSWORD environment variable");
	struct termios old, quiet;
	if (tcgetattr(fd, &old) < 0)
		return vr_error_set_errno(err, errno, "cannot read the terminal settings");
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (write(fd, prompt, strlen(prompt)) < 0)
		return vr_error_set_errno(err, errno, "cannot write to the terminal");
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0)
		return vr_error_set_errno(err, errno, "cannot turn off the terminal echo");
	char buf[512];
	size_t len = 0;
	int r = 0;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n' || c == '\r')
			break;
		if (len + 1 >= sizeof(buf)) {
			r = vr_error_set(err, EINVAL, "password is too long");
			break;
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	if (r == 0)
		*out = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

int cli_read_password(const char *prompt, const char *file, const char *env_name, char **out,
		      struct vr_error **err)
{
	if (file) {
		char *text = NULL;
		int r = file_read_all(file, PASSWORD_FILE_MAX, &text, NULL, err);
		if (r < 0)
			return vr_error_wrap(err, "cannot read the password file");
		strip_newline(text);
		*out = text;
		return 0;
	}
	const char *env = env_name ? getenv(env_name) : NULL;
	if (env) {
		*out = xstrdup(env);
		return 0;
	}
	return prompt_tty(prompt, out, err);
}
