/* SPDX-License-Identifier: Apache-2.0 */
/* Changed-block tracking over QMP: bitmaps, rotation, NBD exports (see block_cbt.h). */
#include "qemu/block_cbt.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/block.h"
#include "qemu/block_priv.h"
#include "qemu/qmp.h"

void qemu_block_bitmaps_free(struct qemu_block_bitmap *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].node);
		free(v[i].name);
	}
	free(v);
}

int qemu_block_bitmaps_list(struct qmp *q, const char *device, char **top_node_out,
			    struct qemu_block_bitmap **out, size_t *n_out, int timeout_ms,
			    struct vr_error **err)
{
	uint64_t deadline = block_deadline(timeout_ms);
	_cleanup_block_chain_ struct qemu_block_chain *chain = NULL;
	int r = qemu_block_chain_get(q, device, &chain, timeout_ms, err);
	if (r < 0)
		return r;
	json_t *nodes = NULL;
	r = block_named_nodes(q, deadline, &nodes, err);
	if (r < 0)
		return r;
	struct qemu_block_bitmap *v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < chain->n; i++) {
		json_t *node = block_named_node(nodes, chain->images[i].node_name);
		json_t *bms = json_object_get(node, "dirty-bitmaps");
		size_t k;
		json_t *b;
		json_array_foreach(bms, k, b) {
			const char *name = json_string_value(json_object_get(b, "name"));
			if (!name)
				continue;
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = (struct qemu_block_bitmap){
				.node = xstrdup(chain->images[i].node_name),
				.depth = i,
				.name = xstrdup(name),
				.recording = json_is_true(json_object_get(b, "recording")),
				.inconsistent = json_is_true(json_object_get(b, "inconsistent")),
			};
		}
	}
	json_decref(nodes);
	*top_node_out = xstrdup(chain->images[0].node_name);
	*out = v;
	*n_out = n;
	return 0;
}

int qemu_block_bitmap_rotate(struct qmp *q, const char *node, const char *freeze,
			     const char *next, unsigned granularity, int timeout_ms,
			     struct vr_error **err)
{
	json_t *actions = json_array();
	json_array_append_new(actions,
			      json_pack("{s:s, s:{s:s, s:s, s:b, s:i}}", "type",
					"block-dirty-bitmap-add", "data", "node", node, "name", next,
					"persistent", 1, "granularity", (int)granularity));
	if (freeze)
		json_array_append_new(actions, json_pack("{s:s, s:{s:s, s:s}}", "type",
							 "block-dirty-bitmap-disable", "data",
							 "node", node, "name", freeze));
	int r = block_exec(q, "transaction", json_pack("{s:o}", "actions", actions),
			   block_deadline(timeout_ms), NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot start dirty bitmap \"%s\" on node \"%s\"", next,
				     node);
	return 0;
}

int qemu_block_bitmap_remove_node(struct qmp *q, const char *node, const char *name,
				  int timeout_ms, struct vr_error **err)
{
	int r = block_exec(q, "block-dirty-bitmap-remove",
			   json_pack("{s:s, s:s}", "node", node, "name", name),
			   block_deadline(timeout_ms), NULL, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot remove dirty bitmap \"%s\" of node \"%s\"", name,
				     node);
	return 0;
}

static void quiet_exec(struct qmp *q, const char *cmd, json_t *args, uint64_t deadline)
{
	struct vr_error *e = NULL;
	if (block_exec(q, cmd, args, deadline, NULL, &e) < 0) {
		log_warn("%s: %s", cmd, vr_error_msg(e));
		vr_error_free(e);
	}
}

void qemu_block_nbd_export_stop(struct qmp *q, const char *node, const char *export_name,
				const char *scratch, int timeout_ms)
{
	uint64_t deadline = block_deadline(timeout_ms);
	quiet_exec(q, "block-export-del",
		   json_pack("{s:s, s:s}", "id", export_name, "mode", "hard"), deadline);
	quiet_exec(q, "nbd-server-stop", NULL, deadline);
	if (scratch)
		quiet_exec(q, "block-dirty-bitmap-remove",
			   json_pack("{s:s, s:s}", "node", node, "name", scratch), deadline);
}

#define NBD_FD_NAME "vireo-cbt-nbd"

static int listen_unix(const char *path, int *fd_out, struct vr_error **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return vr_error_set(err, ENAMETOOLONG, "socket path \"%s\" is too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create a socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return vr_error_set_errno(err, e, "cannot listen on \"%s\"", path);
	}
	*fd_out = fd;
	return 0;
}

int qemu_block_nbd_export_start(struct qmp *q, const char *node, const char *socket_path,
				const char *export_name, const char *scratch,
				const struct qemu_block_bitmap_ref *srcs, size_t n_srcs,
				int timeout_ms, struct vr_error **err)
{
	uint64_t deadline = block_deadline(timeout_ms);
	bool have_scratch = false, server = false;
	int r = 0;
	if (scratch) {
		r = block_exec(q, "block-dirty-bitmap-add",
			       json_pack("{s:s, s:s, s:b, s:b}", "node", node, "name", scratch,
					 "persistent", 0, "disabled", 1),
			       deadline, NULL, err);
		have_scratch = r >= 0;
		if (r >= 0 && n_srcs) {
			json_t *list = json_array();
			for (size_t i = 0; i < n_srcs; i++)
				json_array_append_new(list, json_pack("{s:s, s:s}", "node",
								      srcs[i].node, "name",
								      srcs[i].name));
			r = block_exec(q, "block-dirty-bitmap-merge",
				       json_pack("{s:s, s:s, s:o}", "node", node, "target", scratch,
						 "bitmaps", list),
				       deadline, NULL, err);
		}
	}
	if (r >= 0) {
		/*
		 * The socket is made here and handed over (getfd): QEMU runs as a
		 * user that cannot create files in the run folder.
		 */
		int fd = -1;
		r = listen_unix(socket_path, &fd, err);
		if (r >= 0)
			r = qmp_execute_with_fd(q, "getfd", json_pack("{s:s}", "fdname", NBD_FD_NAME),
						fd, timeout_ms, NULL, err);
		if (fd >= 0)
			close(fd);
		if (r >= 0)
			r = block_exec(q, "nbd-server-start",
				       json_pack("{s:{s:s, s:{s:s}}}", "addr", "type", "fd", "data",
						 "str", NBD_FD_NAME),
				       deadline, NULL, err);
		server = r >= 0;
	}
	if (r >= 0) {
		json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "nbd", "id", export_name,
					 "node-name", node, "name", export_name, "writable", 0);
		if (scratch)
			json_object_set_new(args, "bitmaps", json_pack("[s]", scratch));
		r = block_exec(q, "block-export-add", args, deadline, NULL, err);
	}
	if (r < 0) {
		if (server)
			quiet_exec(q, "nbd-server-stop", NULL, deadline);
		if (have_scratch)
			quiet_exec(q, "block-dirty-bitmap-remove",
				   json_pack("{s:s, s:s}", "node", node, "name", scratch), deadline);
		return vr_error_wrap(err, "cannot export node \"%s\" over NBD", node);
	}
	return 0;
}
