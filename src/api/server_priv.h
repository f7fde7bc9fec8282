/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the API server reachable from tests and fuzz targets. */
#ifndef VIREO_API_SERVER_PRIV_H
#define VIREO_API_SERVER_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct vr_error;

/*
 * Parses a request body as the server does: valid UTF-8 JSON, an object
 * at the top, no duplicate keys, no NUL in strings, nesting depth at most
 * API_JSON_MAX_DEPTH, nothing but white space after it.
 * Returns 0 and *out (caller decrefs), or -EINVAL with err set.
 */
int api_json_parse_body(const char *data, size_t len, json_t **out, struct vr_error **err);

/* Decodes %XX escapes (and '+' as space when plus_is_space); NULL if malformed or %00. */
char *api_url_decode(const char *s, size_t len, bool plus_is_space);

#endif
