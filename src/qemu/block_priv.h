/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_BLOCK_PRIV_H
#define VIREO_QEMU_BLOCK_PRIV_H

/* Internals shared by block.c and block_job.c, and reachable from the tests. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "qemu/block.h"

struct qmp;
struct vr_error;

/* QEMU keeps node names in 32 bytes with the terminating NUL. */
#define BLOCK_NODE_NAME_MAX 31
/* And bitmap names in 1024. */
#define BLOCK_BITMAP_NAME_MAX 1023
/* Bound on each QMP command of the calls that have no timeout of their own. */
#define BLOCK_CMD_TIMEOUT_MS 30000
/* Bound on each command that undoes a failed step, whatever time is left. */
#define BLOCK_RECOVERY_TIMEOUT_MS 10000

/* Whether a query-block "qdev" (an id or a QOM path below it) names the device. */
bool block_qdev_matches(const char *qdev, const char *device);
/* Checks a device id ("scsi0-0"): -EINVAL with a message. */
int block_check_device(const char *device, struct vr_error **err);
/*
 * Checks a node name: at most max characters, [A-Za-z0-9_.-], a letter
 * first; with existing, also QEMU's generated "#block<digits>".  what says
 * what the name is for ("base node").
 */
int block_check_node(const char *what, const char *name, size_t max, bool existing,
		     struct vr_error **err);

/* UINT64_MAX for timeout_ms <= 0. */
uint64_t block_deadline(int timeout_ms);
/* qmp_execute() with what is left until deadline; -ETIMEDOUT once it has passed. */
int block_exec(struct qmp *q, const char *command, json_t *args, uint64_t deadline, json_t **ret,
	       struct vr_error **err);
/* Appends " (note)" to an error's message. */
void block_error_note(struct vr_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* query-named-block-nodes (flat), for block_named_node(). */
int block_named_nodes(struct qmp *q, uint64_t deadline, json_t **out, struct vr_error **err);
/* The entry for node name in a query-named-block-nodes reply (borrowed) or NULL. */
json_t *block_named_node(json_t *nodes, const char *name);

/*
 * The chain of each device in devices[0 .. n-1] (device ids), from one
 * look at the block layer: chains[i] for devices[i].  -ENOENT for an
 * unknown device, -ENOMEDIUM for one with no medium.
 */
int block_chains_get(struct qmp *q, const char *const *devices, size_t n, uint64_t deadline,
		     struct qemu_block_chain **chains, struct vr_error **err);
/*
 * The device's chain from the replies to query-block, x-debug-query-block-graph
 * and query-named-block-nodes (borrowed; any JSON is tolerated).
 */
int block_chain_parse(json_t *blocks, json_t *graph, json_t *nodes, const char *device,
		      struct qemu_block_chain **out, struct vr_error **err);
/* Index of node in chain, or -1. */
int block_chain_find(const struct qemu_block_chain *chain, const char *node);
/* "a (file), b (file)" for messages. Caller frees. */
char *block_chain_describe(const struct qemu_block_chain *chain);

/*
 * The path of `to` relative to the directory from_dir (both absolute; "."
 * and ".." components are resolved lexically).  Caller frees.
 */
char *block_relative_path(const char *from_dir, const char *to);

#endif
