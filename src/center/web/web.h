/* SPDX-License-Identifier: Apache-2.0 */
/* The web client's files, compiled into vireo-center (scripts/embed_web.py). */
#ifndef VIREO_CENTER_WEB_WEB_H
#define VIREO_CENTER_WEB_WEB_H

#include <stddef.h>

struct api_server;

struct web_asset {
	const char *path; /* base name, as in /ui/<path> */
	const char *content_type;
	const unsigned char *data; /* size bytes, then a NUL */
	size_t size;
};

/* Generated: every file of src/center/web/meson.build's list. */
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

/* The asset named name, or NULL. */
const struct web_asset *web_asset_find(const char *name);

/*
 * Serves the web client without authentication (the page logs in through
 * the REST API): "/" is index.html, "/ui/<file>" the other files.
 * center is unused for now; it is there so that the call looks like the
 * other capi_*_register() calls.
 */
void capi_web_register(struct api_server *srv, void *center);

#endif
