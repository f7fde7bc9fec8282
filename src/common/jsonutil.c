/* SPDX-License-Identifier: Apache-2.0 */
#include "common/jsonutil.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"

const char *json_type_name(json_type type)
{
	switch (type) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static const char *field_type_name(json_type type)
{
	return type == JSON_NULL ? "any value" : json_type_name(type);
}

static const char *article(const char *noun)
{
	return strchr("aeiou", noun[0]) ? "an" : "a";
}

static bool type_matches(json_type want, const json_t *v)
{
	switch (want) {
	case JSON_TRUE:
	case JSON_FALSE:
		return json_is_boolean(v);
	case JSON_REAL:
		return json_is_number(v);
	case JSON_NULL:
		return true;
	default:
		return json_typeof(v) == want;
	}
}

static const struct json_field *find_field(const struct json_field *fields, size_t n,
					   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* Quotes a member name for a message; names come from untrusted input. */
static char *quote_name(const char *name, size_t len)
{
	size_t shown = len > 64 ? 64 : len;
	char *out = xmalloc(shown * 4 + 8), *p = out;
	*p++ = '"';
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	*p++ = '"';
	if (shown < len) {
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = '\0';
	return out;
}

static int check_value(const json_t *v, const struct json_field *f, const char *what,
		       struct vr_error **err)
{
	bool limited = f->min != 0 || f->max != 0;

	if (!type_matches(f->type, v))
	{
		const char *want = field_type_name(f->type), *got = json_type_name(json_typeof(v));
		return vr_error_set(err, EINVAL, "field \"%s\" in %s must be %s %s, not %s %s",
				    f->name, what, article(want), want, article(got), got);
	}
	switch (f->type) {
	case JSON_INTEGER: {
		json_int_t i = json_integer_value(v);
		if (limited && (i < f->min || i > f->max))
			return vr_error_set(err, ERANGE,
					    "field \"%s\" in %s is %" PRId64
					    "; it must be between %" PRId64 " and %" PRId64,
					    f->name, what, (int64_t)i, f->min, f->max);
		break;
	}
	case JSON_STRING: {
		size_t len = json_string_length(v);
		if (memchr(json_string_value(v), '\0', len))
			return vr_error_set(err, EINVAL, "field \"%s\" in %s contains a NUL byte",
					    f->name, what);
		if (limited && (int64_t)len > f->max)
			return vr_error_set(err, ERANGE,
					    "field \"%s\" in %s is %zu bytes long; the limit is %" PRId64,
					    f->name, what, len, f->max);
		if (limited && (int64_t)len < f->min)
			return vr_error_set(err, ERANGE,
					    "field \"%s\" in %s is %zu bytes long; it must be at least %" PRId64,
					    f->name, what, len, f->min);
		break;
	}
	case JSON_ARRAY: {
		size_t len = json_array_size(v);
		if (limited && ((int64_t)len < f->min || (int64_t)len > f->max))
			return vr_error_set(err, ERANGE,
					    "field \"%s\" in %s has %zu elements; it must have between %" PRId64
					    " and %" PRId64,
					    f->name, what, len, f->min, f->max);
		break;
	}
	default:
		break;
	}
	return 0;
}

int json_check_object(const json_t *obj, const struct json_field *fields, size_t n,
		      const char *what, struct vr_error **err)
{
	if (!obj)
		return vr_error_set(err, EINVAL, "%s is missing", what);
	if (!json_is_object(obj))
	{
		const char *got = json_type_name(json_typeof(obj));
		return vr_error_set(err, EINVAL, "%s must be a JSON object, not %s %s", what,
				    article(got), got);
	}

	const char *key;
	size_t key_len;
	json_t *value;
	json_object_keylen_foreach((json_t *)obj, key, key_len, value) {
		const struct json_field *f =
			memchr(key, '\0', key_len) ? NULL : find_field(fields, n, key);
		if (!f) {
			_cleanup_free_ char *q = quote_name(key, key_len);
			return vr_error_set(err, EINVAL, "unknown field %s in %s", q, what);
		}
		int r = check_value(value, f, what, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !json_object_get(obj, fields[i].name))
			return vr_error_set(err, EINVAL, "missing required field \"%s\" in %s",
					    fields[i].name, what);
	return 0;
}

const char *json_get_string(const json_t *obj, const char *key, const char *def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

int64_t json_get_int(const json_t *obj, const char *key, int64_t def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

bool json_get_bool(const json_t *obj, const char *key, bool def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

double json_get_number(const json_t *obj, const char *key, double def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

json_t *json_error_body(int status, const char *message)
{
	return json_pack("{s:{s:i,s:s}}", "error", "status", status, "message",
			 message ? message : "unknown error");
}

char *json_dump_compact(const json_t *value)
{
	char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		abort();
	return s;
}

int json_state_load(const char *path, size_t max_len, const char *member, json_t **doc,
		    json_t **array, struct vr_error **err)
{
	*doc = NULL;
	*array = NULL;
	_cleanup_free_ char *text = NULL;
	int r = file_read_all(path, max_len, &text, NULL, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return vr_error_set_errno(err, r, "cannot read \"%s\"", path);
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	json_t *a = o ? json_object_get(o, member) : NULL;
	if (!json_is_array(a)) {
		r = o ? vr_error_set(err, EINVAL, "\"%s\" is malformed: no \"%s\" array", path, member)
		      : vr_error_set(err, EINVAL, "\"%s\" is malformed (line %d: %s)", path,
				     jerr.line, jerr.text);
		json_decref(o);
		return r;
	}
	*doc = o;
	*array = a;
	return 0;
}

int json_state_save(const char *path, const char *member, json_t *array, struct vr_error **err)
{
	json_t *o = json_pack("{s:i, s:o}", "version", 1, member, array);
	char *text = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!text)
		return vr_error_set(err, ENOMEM, "cannot format \"%s\"", path);
	int r = file_write_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return r;
}
