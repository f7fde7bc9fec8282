/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket client frames (ws.h). */
#include "center/ws.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"

int ws_next(struct wsin *in, int *opcode, unsigned char **payload, size_t *plen,
	    unsigned *close_code)
{
	if (in->len < 2)
		return WS_MORE;
	unsigned char b0 = in->buf[0], b1 = in->buf[1];
	if (b0 & 0x70) {
		*close_code = 1002; /* no extension was negotiated */
		return -EPROTO;
	}
	if (!(b1 & 0x80)) {
		*close_code = 1002; /* clients must mask */
		return -EPROTO;
	}
	uint64_t len = b1 & 0x7f;
	size_t off = 2;
	if (len == 126) {
		if (in->len < 4)
			return WS_MORE;
		len = ((uint64_t)in->buf[2] << 8) | in->buf[3];
		off = 4;
	} else if (len == 127) {
		if (in->len < 10)
			return WS_MORE;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | in->buf[2 + i];
		off = 10;
	}
	if (len > WS_MAX_PAYLOAD) {
		*close_code = 1009;
		return -EMSGSIZE;
	}
	if (in->len < off + 4 + len)
		return WS_MORE;
	const unsigned char *mask = in->buf + off;
	unsigned char *p = xmalloc(len + 1);
	for (uint64_t i = 0; i < len; i++)
		p[i] = in->buf[off + 4 + i] ^ mask[i % 4];
	p[len] = '\0';
	*opcode = b0 & 0x0f;
	*payload = p;
	*plen = (size_t)len;
	size_t used = off + 4 + (size_t)len;
	memmove(in->buf, in->buf + used, in->len - used);
	in->len -= used;
	return WS_FRAME;
}
