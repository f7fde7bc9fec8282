/* SPDX-License-Identifier: Apache-2.0 */
/* notify.c's internals that tests reach. */
#ifndef VIREO_CENTER_NOTIFY_PRIV_H
#define VIREO_CENTER_NOTIFY_PRIV_H

#include <stdint.h>

/*
 * The time every alarm VM action may take, host's task included, in
 * milliseconds, instead of each operation's own limit; 0 restores those.
 */
void notify_set_vm_action_timeout_ms(int64_t ms);

#endif
