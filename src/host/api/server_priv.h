/* SPDX-License-Identifier: Apache-2.0 */
/* hostd's request body specifications, reachable from the fuzz target. */
#ifndef VIREO_HOST_API_SERVER_PRIV_H
#define VIREO_HOST_API_SERVER_PRIV_H

#include <jansson.h>
#include <stddef.h>

#include "api/server_priv.h"
#include "common/jsonutil.h"

struct vr_error;

/* Field specifications of the request bodies, for the fuzz target. */
extern const struct json_field api_session_create_fields[];
extern const size_t api_session_create_nfields;
extern const struct json_field api_user_create_fields[];
extern const size_t api_user_create_nfields;
extern const struct json_field api_user_password_fields[];
extern const size_t api_user_password_nfields;

#endif
