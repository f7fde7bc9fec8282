/* SPDX-License-Identifier: Apache-2.0 */
/* REST resource: /api/v1/host — this host's identity and capabilities. */
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/hostd.h"

static void host_get(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	struct sysinfo si;
	sysinfo(&si);
	unsigned running = 0, total = 0;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		total++;
		if (vm->power == VM_POWER_ON)
			running++;
	}
	pthread_mutex_unlock(&h->lock);
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:i, s:I, s:i, s:i}", "id", h->host_id, "name",
		h->cfg.host_name, "version", VIREO_VERSION, "accelerator", "detected",
		vm_accel_name(h->detected_accel), "setting", vm_accel_name(h->cfg.accel), "reason",
		h->accel_reason, "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN), "memory_bytes",
		(json_int_t)si.totalram * si.mem_unit, "vms", total, "vms_running", running);
	api_respond_json(req, 200, o);
}

void api_host_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/host", host_get, h, 0);
}
