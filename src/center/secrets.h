/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_SECRETS_H
#define VIREO_CENTER_SECRETS_H

/*
 * Secrets center keeps in its database (the passwords of its service
 * accounts on the hosts), sealed with AES-256-GCM under a key that lives
 * in a file beside the database, not in it: state_dir/secret.key, 32
 * random bytes, mode 0600, created on first start.  A sealed value is
 * text: "v1:" then base64 of nonce (12 bytes) | ciphertext | tag (16).
 * The purpose string is bound as additional data, so a value sealed for
 * one host cannot be replayed as another's.
 */

struct vr_error;
struct secrets;

struct secrets *secrets_open(const char *state_dir, struct vr_error **err);
void secrets_free(struct secrets *s);
/* A new string; purpose names what it is for ("host 42"). */
char *secrets_seal(struct secrets *s, const char *purpose, const char *plaintext);
/* 0 and *plaintext (caller frees; wipe after use); -EINVAL when tampered or wrong key. */
int secrets_open_value(struct secrets *s, const char *purpose, const char *sealed,
		       char **plaintext, struct vr_error **err);

#endif
