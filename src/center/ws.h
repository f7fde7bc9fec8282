/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_WS_H
#define VIREO_CENTER_WS_H

/*
 * Frames a WebSocket client sends (RFC 6455), parsed from a growing
 * buffer: browsers are untrusted, so every length and bit is checked.
 * Clients must mask; no extension is negotiated (RSV bits must be 0);
 * payloads over WS_MAX_PAYLOAD close the connection (1009).
 */

#include <stddef.h>

#define WS_MAX_PAYLOAD (64u << 10)

struct wsin {
	unsigned char *buf;
	size_t len;
};

enum { WS_MORE = 0, WS_FRAME = 1 };

/*
 * One complete frame taken from in: its opcode and unmasked payload
 * (*payload is a new buffer, NUL-terminated, the caller frees it).
 * WS_MORE when the buffer holds no complete frame yet; a negative errno
 * and *close_code (1002 protocol error, 1009 too big) when the peer broke
 * the protocol.
 */
int ws_next(struct wsin *in, int *opcode, unsigned char **payload, size_t *plen,
	    unsigned *close_code);

#endif
