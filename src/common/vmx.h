/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_VMX_H
#define VIREO_COMMON_VMX_H

#include <stdbool.h>
#include <stddef.h>

struct vr_error;

/*
 * A .vmx file: VMware-style `key = "value"` lines.  Keys are matched
 * case-insensitively (as VMware does), order and unknown keys are kept,
 * comments and blank lines are dropped on rewrite.
 */
struct vmx_entry {
	char *key;
	char *value;
};

struct vmx {
	struct vmx_entry *entries;
	size_t n, cap;
};

#define VMX_MAX_FILE_SIZE (1u << 20)
#define VMX_MAX_LINE 65536
#define VMX_MAX_ENTRIES 10000

struct vmx *vmx_new(void);
void vmx_free(struct vmx *vmx);
void vmx_freep(struct vmx **vmx);
#define _cleanup_vmx_ __attribute__((cleanup(vmx_freep)))

/* Parses text (need not be NUL-terminated); `source` names it in errors. */
int vmx_parse(const char *text, size_t len, const char *source, struct vmx **out,
	      struct vr_error **err);
int vmx_load_file(const char *path, struct vmx **out, struct vr_error **err);
/* Formats with `.encoding = "UTF-8"` first; caller frees. */
char *vmx_format(const struct vmx *vmx);
/* Writes atomically (tmp + fsync + rename + fsync dir). */
int vmx_save_file(const struct vmx *vmx, const char *path, struct vr_error **err);

const char *vmx_get(const struct vmx *vmx, const char *key);
/* Returns true for TRUE/true/yes/1, false for FALSE/false/no/0, def otherwise. */
bool vmx_get_bool(const struct vmx *vmx, const char *key, bool def);
/* Replaces the value of key or appends key; copies both. */
void vmx_set(struct vmx *vmx, const char *key, const char *value);
void vmx_setf(struct vmx *vmx, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vmx_remove(struct vmx *vmx, const char *key);
/* Removes every key starting with prefix (case-insensitive), e.g. "ethernet1.". */
void vmx_remove_prefix(struct vmx *vmx, const char *prefix);
struct vmx *vmx_dup(const struct vmx *vmx);

/* Whether a key is syntactically valid: [A-Za-z0-9_.:-]+, at most 256 bytes. */
bool vmx_key_valid(const char *key);

#endif
