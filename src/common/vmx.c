/* SPDX-License-Identifier: Apache-2.0 */
#include "common/vmx.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"

struct vmx *vmx_new(void)
{
	return xcalloc(1, sizeof(struct vmx));
}

void vmx_free(struct vmx *vmx)
{
	if (!vmx)
		return;
	for (size_t i = 0; i < vmx->n; i++) {
		free(vmx->entries[i].key);
		free(vmx->entries[i].value);
	}
	free(vmx->entries);
	free(vmx);
}

void vmx_freep(struct vmx **vmx)
{
	vmx_free(*vmx);
	*vmx = NULL;
}

bool vmx_key_valid(const char *key)
{
	size_t len = strlen(key);
	if (len == 0 || len > 256)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

static ssize_t vmx_find(const struct vmx *vmx, const char *key)
{
	for (size_t i = 0; i < vmx->n; i++)
		if (strcasecmp(vmx->entries[i].key, key) == 0)
			return (ssize_t)i;
	return -1;
}

const char *vmx_get(const struct vmx *vmx, const char *key)
{
	ssize_t i = vmx_find(vmx, key);
	return i < 0 ? NULL : vmx->entries[i].value;
}

bool vmx_get_bool(const struct vmx *vmx, const char *key, bool def)
{
	const char *v = vmx_get(vmx, key);
	if (!v)
		return def;
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0)
		return true;
	if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0)
		return false;
	return def;
}

static void vmx_append(struct vmx *vmx, char *key, char *value)
{
	if (vmx->n == vmx->cap) {
		vmx->cap = vmx->cap ? vmx->cap * 2 : 32;
		vmx->entries = xrealloc(vmx->entries, vmx->cap * sizeof(*vmx->entries));
	}
	vmx->entries[vmx->n].key = key;
	vmx->entries[vmx->n].value = value;
	vmx->n++;
}

void vmx_set(struct vmx *vmx, const char *key, const char *value)
{
	ssize_t i = vmx_find(vmx, key);
	if (i >= 0) {
		free(vmx->entries[i].value);
		vmx->entries[i].value = xstrdup(value);
		return;
	}
	vmx_append(vmx, xstrdup(key), xstrdup(value));
}

void vmx_setf(struct vmx *vmx, const char *key, const char *fmt, ...)
{
	char *v;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		abort();
	va_end(ap);
	vmx_set(vmx, key, v);
	free(v);
}

void vmx_remove(struct vmx *vmx, const char *key)
{
	ssize_t i = vmx_find(vmx, key);
	if (i < 0)
		return;
	free(vmx->entries[i].key);
	free(vmx->entries[i].value);
	memmove(&vmx->entries[i], &vmx->entries[i + 1],
		(vmx->n - (size_t)i - 1) * sizeof(*vmx->entries));
	vmx->n--;
}

void vmx_remove_prefix(struct vmx *vmx, const char *prefix)
{
	size_t plen = strlen(prefix), j = 0;
	for (size_t i = 0; i < vmx->n; i++) {
		if (strncasecmp(vmx->entries[i].key, prefix, plen) == 0) {
			free(vmx->entries[i].key);
			free(vmx->entries[i].value);
			continue;
		}
		vmx->entries[j++] = vmx->entries[i];
	}
	vmx->n = j;
}

struct vmx *vmx_dup(const struct vmx *vmx)
{
	struct vmx *d = vmx_new();
	for (size_t i = 0; i < vmx->n; i++)
		vmx_append(d, xstrdup(vmx->entries[i].key), xstrdup(vmx->entries[i].value));
	return d;
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

/*
 * Parses one value. VMware quotes values and escapes special bytes as
 * "|XX" (hex); we accept that, plain unquoted tokens, and reject control
 * characters (other than escaped tab and line breaks) and unterminated
 * quotes.
 */
static int vmx_parse_value(const char *p, const char *end, const char *source, size_t lineno,
			   char **out, struct vr_error **err)
{
	size_t cap = (size_t)(end - p) + 1;
	_cleanup_free_ char *buf = xmalloc(cap);
	size_t n = 0;
	bool quoted = p < end && *p == '"';
	if (quoted)
		p++;
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (quoted && c == '"') {
			p++;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p < end && *p != '#')
				return vr_error_set(err, EINVAL,
						    "%s line %zu: unexpected text after the closing quote",
						    source, lineno);
			buf[n] = '\0';
			*out = steal_pointer(&buf);
			return 0;
		}
		if (!quoted && (c == ' ' || c == '\t' || c == '#'))
			break;
		if (c < 0x20 || c == 0x7f)
			return vr_error_set(err, EINVAL,
					    "%s line %zu: control character 0x%02x in a value", source,
					    lineno, c);
		if (c == '|' && end - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			int v = hexval(p[1]) * 16 + hexval(p[2]);
			/* VMware escapes line breaks in annotations as |0A (and |0D). */
			if (v < 0x20 && v != '\t' && v != '\n' && v != '\r')
				return vr_error_set(err, EINVAL,
						    "%s line %zu: escaped control character |%c%c in a value",
						    source, lineno, p[1], p[2]);
			buf[n++] = (char)v;
			p += 2;
			continue;
		}
		buf[n++] = (char)c;
	}
	if (quoted)
		return vr_error_set(err, EINVAL, "%s line %zu: unterminated quoted value", source,
				    lineno);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p != '#')
		return vr_error_set(err, EINVAL, "%s line %zu: unexpected text after the value",
				    source, lineno);
	buf[n] = '\0';
	*out = steal_pointer(&buf);
	return 0;
}

int vmx_parse(const char *text, size_t len, const char *source, struct vmx **out,
	      struct vr_error **err)
{
	if (len > VMX_MAX_FILE_SIZE)
		return vr_error_set(err, EFBIG, "%s is %zu bytes; the limit is %u", source, len,
				    VMX_MAX_FILE_SIZE);
	_cleanup_vmx_ struct vmx *vmx = vmx_new();
	const char *p = text, *end = text + len;
	size_t lineno = 0;
	/* Skip a UTF-8 byte-order mark. */
	if (len >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
	    (unsigned char)p[2] == 0xbf)
		p += 3;
	while (p < end) {
		lineno++;
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;
		const char *next = eol ? eol + 1 : end;
		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		size_t line_len = line_end > p ? (size_t)(line_end - p) : 0;
		if (line_len > VMX_MAX_LINE)
			return vr_error_set(err, EINVAL, "%s line %zu: longer than %d bytes", source,
					    lineno, VMX_MAX_LINE);
		if (line_len && memchr(p, '\0', line_len))
			return vr_error_set(err, EINVAL, "%s line %zu: contains a NUL byte", source,
					    lineno);
		while (p < line_end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == line_end || *p == '#') {
			p = next;
			continue;
		}
		const char *eq = memchr(p, '=', (size_t)(line_end - p));
		if (!eq)
			return vr_error_set(err, EINVAL, "%s line %zu: missing '=' (expected key = \"value\")",
					    source, lineno);
		const char *kend = eq;
		while (kend > p && (kend[-1] == ' ' || kend[-1] == '\t'))
			kend--;
		_cleanup_free_ char *key = xstrndup(p, (size_t)(kend - p));
		if (!vmx_key_valid(key))
			return vr_error_set(err, EINVAL, "%s line %zu: invalid key \"%.64s\"", source,
					    lineno, key);
		const char *v = eq + 1;
		while (v < line_end && (*v == ' ' || *v == '\t'))
			v++;
		char *value = NULL;
		int r = vmx_parse_value(v, line_end, source, lineno, &value, err);
		if (r < 0)
			return r;
		if (!utf8_valid(value)) {
			free(value);
			return vr_error_set(err, EINVAL, "%s line %zu: the value of %s is not valid UTF-8",
					    source, lineno, key);
		}
		ssize_t dup = vmx_find(vmx, key);
		if (dup >= 0) {
			/* VMware lets the last definition win; so do we. */
			free(vmx->entries[dup].value);
			vmx->entries[dup].value = value;
		} else {
			if (vmx->n >= VMX_MAX_ENTRIES) {
				free(value);
				return vr_error_set(err, E2BIG, "%s: more than %d entries", source,
						    VMX_MAX_ENTRIES);
			}
			vmx_append(vmx, steal_pointer(&key), value);
		}
		p = next;
	}
	*out = steal_pointer(&vmx);
	return 0;
}

int vmx_load_file(const char *path, struct vmx **out, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = file_read_all(path, VMX_MAX_FILE_SIZE, &text, &len, err);
	if (r < 0)
		return r;
	return vmx_parse(text, len, path, out, err);
}

static void append_escaped(char **buf, size_t *len, size_t *cap, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (*len + 4 >= *cap) {
			*cap = *cap * 2 + 16;
			*buf = xrealloc(*buf, *cap);
		}
		if (c == '"' || c == '|' || c == '#' || c < 0x20 || c == 0x7f) {
			static const char hex[] = "0123456789ABCDEF";
			(*buf)[(*len)++] = '|';
			(*buf)[(*len)++] = hex[c >> 4];
			(*buf)[(*len)++] = hex[c & 15];
		} else {
			(*buf)[(*len)++] = (char)c;
		}
	}
}

char *vmx_format(const struct vmx *vmx)
{
	size_t cap = 256, len = 0;
	char *buf = xmalloc(cap);
	const char *enc = vmx_get(vmx, ".encoding");
	const char *lines[] = {".encoding = \"", enc ? enc : "UTF-8", "\"\n"};
	for (size_t i = 0; i < 3; i++) {
		if (i == 1) {
			append_escaped(&buf, &len, &cap, lines[i]);
			continue;
		}
		size_t l = strlen(lines[i]);
		if (len + l + 1 >= cap) {
			cap = cap * 2 + l;
			buf = xrealloc(buf, cap);
		}
		memcpy(buf + len, lines[i], l);
		len += l;
	}
	for (size_t i = 0; i < vmx->n; i++) {
		if (strcasecmp(vmx->entries[i].key, ".encoding") == 0)
			continue;
		size_t kl = strlen(vmx->entries[i].key);
		if (len + kl + 8 >= cap) {
			cap = cap * 2 + kl + 8;
			buf = xrealloc(buf, cap);
		}
		memcpy(buf + len, vmx->entries[i].key, kl);
		len += kl;
		memcpy(buf + len, " = \"", 4);
		len += 4;
		append_escaped(&buf, &len, &cap, vmx->entries[i].value);
		if (len + 3 >= cap) {
			cap = cap * 2 + 3;
			buf = xrealloc(buf, cap);
		}
		buf[len++] = '"';
		buf[len++] = '\n';
	}
	buf[len] = '\0';
	return buf;
}

int vmx_save_file(const struct vmx *vmx, const char *path, struct vr_error **err)
{
	_cleanup_free_ char *text = vmx_format(vmx);
	/* Never write what cannot be read back (a value whose escapes overflow a line, say). */
	struct vmx *check = NULL;
	int r = vmx_parse(text, strlen(text), path, &check, err);
	if (r < 0)
		return vr_error_wrap(err, "refusing to write \"%s\"", path);
	vmx_free(check);
	return file_write_atomic(path, text, strlen(text), 0644, err);
}
