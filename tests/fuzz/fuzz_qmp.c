/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the QMP/guest-agent stream parser, the QMP message dispatcher and
 * the guest-agent reply validators with arbitrary bytes from the peer.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qga_priv.h"
#include "qemu/qmp_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void quiet_sink(enum log_level level, const char *line, void *opaque)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_sink(quiet_sink, NULL);
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

static void on_event(struct qmp *qmp, const char *event, json_t *data, uint64_t ts,
		     void *opaque)
{
	size_t *events = opaque;
	(*events)++;
	if (strlen(event) == 0 && data && json_object_size(data) == SIZE_MAX)
		abort(); /* never true: keeps the reads from being optimised away */
}

static void check_validators(json_t *ret)
{
	_cleanup_error_ struct vr_error *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL,
					*e5 = NULL;
	struct qga_iface *ifaces = NULL;
	size_t n = 0;
	if (qga_parse_interfaces(ret, &ifaces, &n, &e1) == 0) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < ifaces[i].n_ips; j++)
				if (strlen(ifaces[i].ips[j].address) == 0)
					abort();
	} else if (!e1 || !e1->msg) {
		abort();
	}
	qga_free_interfaces(ifaces, n);

	char *host = NULL;
	qga_parse_host_name(ret, &host, &e2);
	free(host);

	struct qga_osinfo *info = NULL;
	qga_parse_osinfo(ret, &info, &e3);
	qga_free_osinfo(info);

	bool frozen;
	qga_parse_fsfreeze_status(ret, &frozen, &e4);
	qga_parse_count(ret, "guest-fsfreeze-freeze", &e5);
}

static int on_message(json_t *msg, void *opaque)
{
	struct qmp *qmp = opaque;
	if (!json_is_object(msg))
		abort();
	qmp_process_message(qmp, msg);
	json_t *ret = json_object_get(msg, "return");
	if (ret)
		check_validators(ret);
	json_t *error = json_object_get(msg, "error");
	if (error) {
		_cleanup_error_ struct vr_error *e = NULL;
		if (qmp_error_from_reply(&e, "QMP command", "fuzz", error) >= 0 || !e)
			abort();
	}
	return 0;
}

static void feed_parts(struct qmp *qmp, size_t max_size, bool sentinel, const uint8_t *data,
		       size_t size, size_t split)
{
	struct qmp_parser p;
	qmp_parser_init(&p, max_size, "fuzz");
	p.await_sentinel = sentinel;
	if (qmp_parser_feed(&p, (const char *)data, split, on_message, qmp) == 0)
		qmp_parser_feed(&p, (const char *)data + split, size - split, on_message, qmp);
	qmp_parser_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t events = 0;
	struct qmp *qmp = qmp_new_detached(on_event, &events);

	/* The whole input at once, then split at a point derived from the data. */
	feed_parts(qmp, QMP_MAX_MESSAGE_SIZE, false, data, size, size);
	size_t split = size ? ((size_t)data[0] * 257 + data[size - 1]) % (size + 1) : 0;
	feed_parts(qmp, QMP_MAX_MESSAGE_SIZE, false, data, size, split);
	/* A tiny size limit exercises the oversized-message path. */
	feed_parts(qmp, 64, false, data, size, split);
	/* Guest-agent mode: everything before a 0xFF sentinel is discarded. */
	feed_parts(qmp, QMP_MAX_MESSAGE_SIZE, true, data, size, split);

	/* Byte by byte, for small inputs. */
	if (size <= 4096) {
		struct qmp_parser p;
		qmp_parser_init(&p, QMP_MAX_MESSAGE_SIZE, "fuzz");
		for (size_t i = 0; i < size; i++)
			if (qmp_parser_feed(&p, (const char *)data + i, 1, on_message, qmp) < 0)
				break;
		qmp_parser_release(&p);
	}

	/* The whole input as one JSON document, straight into the validators. */
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (doc) {
		check_validators(doc);
		if (json_is_object(doc))
			qmp_process_message(qmp, doc);
		json_decref(doc);
	}
	qmp_close(qmp);
	return 0;
}
