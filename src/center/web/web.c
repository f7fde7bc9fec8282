/* SPDX-License-Identifier: Apache-2.0 */
/* GET / and GET /ui/{file}: the web client, from the table embed_web.py generates. */
#include "center/web/web.h"

#include <string.h>

#include "api/server.h"

const struct web_asset *web_asset_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, name) == 0)
			return &web_assets[i];
	return NULL;
}

static void web_serve(struct api_request *req, const char *name)
{
	const struct web_asset *a = web_asset_find(name);
	if (!a) {
		api_respond_error(req, 404, "the web client has no file \"%s\"", name ? name : "");
		return;
	}
	api_respond_text(req, 200, a->content_type, (const char *)a->data, a->size);
}

static void web_index(struct api_request *req, void *opaque)
{
	(void)opaque;
	web_serve(req, "index.html");
}

static void web_file(struct api_request *req, void *opaque)
{
	(void)opaque;
	web_serve(req, api_request_param(req, "file"));
}

void capi_web_register(struct api_server *srv, void *center)
{
	api_server_add_route(srv, "GET", "/", web_index, center, API_ROUTE_NO_AUTH);
	api_server_add_route(srv, "GET", "/ui/{file}", web_file, center, API_ROUTE_NO_AUTH);
}
