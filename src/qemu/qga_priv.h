/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_QGA_PRIV_H
#define VIREO_QEMU_QGA_PRIV_H

/*
 * Validators for guest-agent replies, for the unit tests and the fuzzer.
 * Each takes the "return" member (borrowed, any JSON value or NULL) and
 * either fills its output or sets err naming the command and the problem.
 */

#include <jansson.h>

#include "qemu/qga.h"

int qga_parse_interfaces(json_t *ret, struct qga_iface **out, size_t *n,
			 struct vr_error **err);
int qga_parse_host_name(json_t *ret, char **out, struct vr_error **err);
int qga_parse_osinfo(json_t *ret, struct qga_osinfo **out, struct vr_error **err);
int qga_parse_fsfreeze_status(json_t *ret, bool *frozen, struct vr_error **err);
/* A non-negative count that fits an int (guest-fsfreeze-freeze/thaw). */
int qga_parse_count(json_t *ret, const char *command, struct vr_error **err);

#endif
