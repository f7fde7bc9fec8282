/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_VSWITCH_H
#define VIREO_HOST_VSWITCH_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct hostd;
struct vm;
struct vr_error;

/*
 * Virtual switches and port groups (the vSphere standard switch).
 *
 * A switch is a Linux bridge "vb-NAME" that hostd creates and owns; its
 * uplinks are host interfaces given by the administrator, teamed for
 * failover: one forwards, the others stand by and take over, in their
 * order, when it loses carrier.  A switch without uplinks is private.
 * A port group names a VLAN (0: none, 1-4094: tagged toward the uplink,
 * 4095: the guest tags) and an outbound traffic-shaping policy; a VM NIC
 * joins a port group by name (ethernetN.networkName) through a tap.
 *
 * The configuration lives in STATE/network.json and is re-applied when
 * hostd starts.  hostd touches only the bridges, taps and ifbs that its
 * configuration and its VMs name, and the uplinks it was given.
 */

#define VSWITCH_NAME_MAX 12 /* "vb-" + name fits IFNAMSIZ */
#define VSWITCH_MAX_UPLINKS 8
#define VSWITCH_VLAN_TRUNK 4095

/* ESX's units: Kbit/s and KiB. */
struct vnet_shaping {
	bool enabled;
	uint64_t average_kbps;
	uint64_t peak_kbps;
	uint64_t burst_kib;
};

struct portgroup {
	char *name;
	unsigned vlan;
	struct vnet_shaping shaping;
};

struct vswitch {
	char *name;
	char **uplinks; /* teaming order: the first with carrier forwards */
	size_t n_uplinks;
	unsigned mtu;
	struct portgroup *pgs;
	size_t n_pgs;
	char *active_uplink; /* runtime: the forwarding uplink, NULL if none */
};

struct vnet {
	pthread_mutex_t lock;
	struct vswitch *sws;
	size_t n_sws;
	char *path; /* STATE/network.json */
	struct vnet_dp *dp; /* the kernel datapath (vswitch_dp.c) */
	int monitor_fd;     /* link events, for uplink failover */
};

/* Loads STATE/network.json and applies it; errors of single switches are logged. */
int vnet_init(struct hostd *h, struct vr_error **err);
void vnet_fini(struct hostd *h);

/* REST bodies (docs/api/hostd.yaml): create and change. */
int vnet_vswitch_add(struct hostd *h, const json_t *spec, struct vr_error **err);
int vnet_vswitch_update(struct hostd *h, const char *name, const json_t *changes,
			struct vr_error **err);
int vnet_vswitch_remove(struct hostd *h, const char *name, struct vr_error **err);
int vnet_portgroup_add(struct hostd *h, const json_t *spec, struct vr_error **err);
int vnet_portgroup_update(struct hostd *h, const char *name, const json_t *changes,
			  struct vr_error **err);
int vnet_portgroup_remove(struct hostd *h, const char *name, struct vr_error **err);
/* {"vswitches": [...]} with live state (uplink carrier, active uplink, ports). */
json_t *vnet_to_json(struct hostd *h);

/*
 * Power-on and power-off of a VM: creates (or removes) the taps of its
 * bridged NICs on their port groups.  Connect checks first that every
 * port group exists and that no running VM on this host has the same
 * MAC; on failure nothing is left behind.
 */
int vnet_vm_connect(struct hostd *h, struct vm *vm, struct vr_error **err);
void vnet_vm_disconnect(struct hostd *h, struct vm *vm);
/* Re-applies a running VM's ports (hostd restart; NIC moved to another port group). */
int vnet_vm_reapply(struct hostd *h, struct vm *vm, struct vr_error **err);
/* A MAC address used by any registered VM's NIC (to keep generated MACs unique). */
bool vnet_mac_in_use(struct hostd *h, const char *mac, const struct vm *except);

/* Validators shared with the API layer; 0 or -EINVAL with a message. */
int vnet_shaping_from_json(const json_t *o, struct vnet_shaping *out, struct vr_error **err);

#endif
