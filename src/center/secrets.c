/* SPDX-License-Identifier: Apache-2.0 */
#include "center/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define PREFIX "v1:"
#define SEALED_MAX 4096

struct secrets {
	unsigned char key[KEY_LEN];
};

struct secrets *secrets_open(const char *state_dir, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/secret.key", state_dir);
	struct secrets *s = xcalloc(1, sizeof(*s));
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (access(path, F_OK) == 0) {
		struct stat st;
		if (stat(path, &st) == 0 && (st.st_mode & 077)) {
			vr_error_set(err, EPERM, "\"%s\" is readable by others (mode %o); make it 0600",
				     path, st.st_mode & 0777);
			goto fail;
		}
		if (file_read_all(path, 1024, &data, &len, err) < 0)
			goto fail;
		if (len != KEY_LEN) {
			vr_error_set(err, EINVAL, "\"%s\" is %zu bytes, not a %d-byte key", path, len,
				     KEY_LEN);
			goto fail;
		}
		memcpy(s->key, data, KEY_LEN);
		explicit_bzero(data, len);
		return s;
	}
	if (random_bytes(s->key, KEY_LEN) < 0) {
		vr_error_set(err, EIO, "cannot get random bytes for the secret key");
		goto fail;
	}
	if (file_write_atomic(path, s->key, KEY_LEN, 0600, err) < 0)
		goto fail;
	return s;
fail:
	secrets_free(s);
	return NULL;
}

void secrets_free(struct secrets *s)
{
	if (!s)
		return;
	explicit_bzero(s->key, sizeof(s->key));
	free(s);
}

char *secrets_seal(struct secrets *s, const char *purpose, const char *plaintext)
{
	size_t n = strlen(plaintext);
	size_t raw_len = NONCE_LEN + n + TAG_LEN;
	unsigned char *raw = xmalloc(raw_len);
	if (random_bytes(raw, NONCE_LEN) < 0)
		abort();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0;
	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, s->key, raw) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &outl, (const unsigned char *)purpose,
			      (int)strlen(purpose)) != 1 ||
	    EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &outl, (const unsigned char *)plaintext,
			      (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + outl, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1)
		abort(); /* AES-GCM with a valid key does not fail */
	EVP_CIPHER_CTX_free(ctx);
	size_t b64_len = 4 * ((raw_len + 2) / 3);
	char *out = xmalloc(strlen(PREFIX) + b64_len + 1);
	strcpy(out, PREFIX);
	EVP_EncodeBlock((unsigned char *)out + strlen(PREFIX), raw, (int)raw_len);
	free(raw);
	return out;
}

int secrets_open_value(struct secrets *s, const char *purpose, const char *sealed,
		       char **plaintext, struct vr_error **err)
{
	*plaintext = NULL;
	size_t l = strlen(sealed);
	if (!str_has_prefix(sealed, PREFIX) || l > SEALED_MAX || (l - strlen(PREFIX)) % 4 != 0)
		return vr_error_set(err, EINVAL, "the stored secret of %s is malformed", purpose);
	const char *b64 = sealed + strlen(PREFIX);
	size_t b64_len = strlen(b64);
	unsigned char *raw = xmalloc(b64_len / 4 * 3 + 1);
	int raw_len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
	if (raw_len > 0) { /* EVP_DecodeBlock counts padding as data */
		if (b64_len >= 1 && b64[b64_len - 1] == '=')
			raw_len--;
		if (b64_len >= 2 && b64[b64_len - 2] == '=')
			raw_len--;
	}
	if (raw_len < NONCE_LEN + TAG_LEN) {
		free(raw);
		return vr_error_set(err, EINVAL, "the stored secret of %s is malformed", purpose);
	}
	int n = raw_len - NONCE_LEN - TAG_LEN;
	char *out = xmalloc((size_t)n + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0;
	bool ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, s->key, raw) == 1 &&
		  EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)purpose,
				    (int)strlen(purpose)) == 1 &&
		  EVP_DecryptUpdate(ctx, (unsigned char *)out, &outl, raw + NONCE_LEN, n) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				      raw + NONCE_LEN + n) == 1 &&
		  EVP_DecryptFinal_ex(ctx, (unsigned char *)out + outl, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	if (!ok) {
		explicit_bzero(out, (size_t)n);
		free(out);
		return vr_error_set(err, EINVAL,
				    "the stored secret of %s does not open with this center's key "
				    "(secret.key replaced or the database tampered with)",
				    purpose);
	}
	out[n] = '\0';
	*plaintext = out;
	return 0;
}
