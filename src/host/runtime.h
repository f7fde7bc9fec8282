/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by lifecycle.c and runtime.c: the runtime of a running VM. */
#ifndef VIREO_HOST_RUNTIME_H
#define VIREO_HOST_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct hostd;
struct qmp;
struct vm;

#define QMP_TIMEOUT_MS 10000
#define EXIT_WAIT_MS 15000

void runtime_sleep_ms(unsigned ms);
/* The VM's display name, or its id while the .vmx is invalid. */
const char *vm_display_name(struct vm *vm);
/* The last non-empty line of the VM's log (usually QEMU's error); caller frees. */
char *vm_log_last_line(struct vm *vm);
/* Waits for a process that is not our child to disappear. */
bool runtime_wait_gone(pid_t pid, int timeout_ms);
/* Waits for the VM's keeper to end; reaps it if it is our child. */
void runtime_wait_shim(pid_t shim, bool child, int timeout_ms);
/* How QEMU ended, from its keeper's record; caller frees. */
char *runtime_exit_description(struct vm *vm);
/*
 * Frees the runtime of a VM whose QEMU has ended: closes QMP and the
 * agent once unused, removes the run folder, cleans up the lock.
 */
void runtime_teardown(struct hostd *h, struct vm *vm);
/* QMP event handler of a running VM (opaque: the struct vm). */
void runtime_on_qmp_event(struct qmp *qmp, const char *event, json_t *data,
			  uint64_t timestamp_us, void *opaque);

#endif
