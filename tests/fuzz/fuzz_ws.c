/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket frames come from browsers: feed arbitrary bytes to center's
 * frame parser, in pieces of the sizes the input's first byte picks, as
 * a socket would deliver them; every frame must be consistent with what
 * was consumed, and a protocol error must name a close code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "center/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = (size_t)data[0] % 16 + 1;
	data++;
	size--;
	struct wsin in = {0};
	size_t fed = 0;
	while (fed < size) {
		size_t n = size - fed < piece ? size - fed : piece;
		in.buf = realloc(in.buf, in.len + n);
		if (!in.buf)
			abort();
		memcpy(in.buf + in.len, data + fed, n);
		in.len += n;
		fed += n;
		for (;;) {
			int op = -1;
			unsigned char *payload = NULL;
			size_t plen = 0, before = in.len;
			unsigned code = 0;
			int r = ws_next(&in, &op, &payload, &plen, &code);
			if (r < 0) {
				if (code != 1002 && code != 1009)
					abort();
				free(in.buf);
				return 0;
			}
			if (r == WS_MORE) {
				if (in.len != before || payload)
					abort();
				break;
			}
			/* header (2..14 bytes) + payload were consumed */
			if (plen > WS_MAX_PAYLOAD || before - in.len < plen + 6 ||
			    before - in.len > plen + 14 || op < 0 || op > 15 || payload[plen] != 0)
				abort();
			free(payload);
		}
	}
	free(in.buf);
	return 0;
}
