/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copying a file from one host to another through center (hosts.h,
 * chosts_relay): the bytes stream through (api_client_relay) and their
 * SHA-256, computed here, must match what the receiving host wrote.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "api/client.h"
#include "center/hosts_priv.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define RELAY_CONNECT_TIMEOUT_S 3
#define RELAY_STALL_S 120 /* no byte moving for this long fails the copy */

static void chost_putp(struct chost **h)
{
	if (*h)
		chost_put(*h);
}

static struct api_client *relay_client(struct chosts *hs, int64_t host_id, struct vr_error **err)
{
	_cleanup_(chost_putp) struct chost *h = chost_get(hs, host_id);
	if (!h) {
		vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
		return NULL;
	}
	pthread_mutex_lock(&h->lock);
	enum chost_state st = h->state;
	pthread_mutex_unlock(&h->lock);
	if (st != CHOST_CONNECTED) {
		vr_error_set(err, EHOSTDOWN, "host \"%s\" is %s", h->name,
			     st == CHOST_DISCONNECTED ? "disconnected" : "not responding");
		return NULL;
	}
	_cleanup_free_ char *token = NULL;
	if (chost_token(hs, h, false, &token, err) < 0) {
		vr_error_wrap(err, "host \"%s\"", h->name);
		return NULL;
	}
	struct api_client *cl = api_client_new(h->url, h->insecure, h->ca_file, err);
	if (!cl)
		return NULL;
	api_client_set_timeouts(cl, RELAY_STALL_S, RELAY_CONNECT_TIMEOUT_S);
	api_client_set_token(cl, token);
	explicit_bzero(token, strlen(token));
	return cl;
}

struct relay_state {
	EVP_MD_CTX *md;
	uint64_t done;
	void (*progress)(void *opaque, uint64_t done, volatile bool *abort);
	void *opaque;
	volatile bool abort;
};

static void on_bytes(void *opaque, const void *data, size_t len)
{
	struct relay_state *s = opaque;
	EVP_DigestUpdate(s->md, data, len);
	s->done += len;
	if (s->progress)
		s->progress(s->opaque, s->done, &s->abort);
}

int chosts_relay(struct chosts *hs, int64_t src_host, const char *src_path, int64_t dst_host,
		 const char *dst_path, uint64_t size,
		 void (*progress)(void *opaque, uint64_t done, volatile bool *abort), void *opaque,
		 struct vr_error **err)
{
	struct api_client *src = relay_client(hs, src_host, err);
	if (!src)
		return -EHOSTDOWN;
	struct api_client *dst = relay_client(hs, dst_host, err);
	if (!dst) {
		api_client_free(src);
		return -EHOSTDOWN;
	}
	struct relay_state s = { .md = EVP_MD_CTX_new(), .progress = progress, .opaque = opaque };
	int r = 0;
	if (!s.md || !EVP_DigestInit_ex(s.md, EVP_sha256(), NULL))
		r = vr_error_set(err, ENOMEM, "cannot start a SHA-256 digest");
	api_client_set_abort_flag(dst, &s.abort);
	json_t *reply = NULL;
	if (r == 0)
		r = api_client_relay(src, src_path, dst, dst_path, size, on_bytes, &s, &reply, err);
	if (r == 0) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
		EVP_DigestFinal_ex(s.md, md, &n);
		for (unsigned i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		const char *got = json_get_string(reply, "sha256", "");
		if (strcmp(got, hex) != 0)
			r = vr_error_set(err, EIO,
					 "%s arrived damaged: SHA-256 %s sent, %s written", src_path,
					 hex, *got ? got : "(none)");
	}
	json_decref(reply);
	EVP_MD_CTX_free(s.md);
	api_client_free(src);
	api_client_free(dst);
	return r;
}
