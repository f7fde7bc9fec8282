/* SPDX-License-Identifier: Apache-2.0 */
/* The VMs' ports on virtual switches: power-on, power-off, re-apply (vswitch.h). */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostd.h"
#include "host/net/vnet.h"
#include "host/vswitch.h"
#include "host/vswitch_dp.h"
#include "host/vswitch_priv.h"

/* Bridged NICs of running VMs (powered on or suspended with a QEMU). */
size_t vnet_running_ports(struct hostd *h, struct vm_port **out)
{
	struct vm_port *v = NULL;
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		if (vm->pid > 0 && vm->cfg) {
			for (size_t i = 0; i < vm->cfg->n_nics; i++) {
				const struct vm_nic *nic = &vm->cfg->nics[i];
				if (nic->connection != VM_NIC_CONN_BRIDGE)
					continue;
				v = xrealloc(v, (n + 1) * sizeof(*v));
				v[n] = (struct vm_port){ .vm = vm_ref(vm), .nic_index = nic->index,
							  .pg = xstrdup(nic->network_name) };
				memcpy(v[n].mac, nic->mac, sizeof(v[n].mac));
				n++;
			}
		}
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_unlock(&h->lock);
	*out = v;
	return n;
}

void vnet_ports_free(struct vm_port *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		vm_unref(v[i].vm);
		free(v[i].pg);
	}
	free(v);
}

bool vnet_pg_in_use(struct hostd *h, const char *pg, char **vm_name)
{
	struct vm_port *ports;
	size_t n = vnet_running_ports(h, &ports);
	bool used = false;
	for (size_t i = 0; i < n && !used; i++)
		if (strcmp(ports[i].pg, pg) == 0) {
			used = true;
			pthread_mutex_lock(&ports[i].vm->lock);
			*vm_name = xstrdup(ports[i].vm->cfg ? ports[i].vm->cfg->display_name
							    : ports[i].vm->id);
			pthread_mutex_unlock(&ports[i].vm->lock);
		}
	vnet_ports_free(ports, n);
	return used;
}

static void qemu_ids(struct hostd *h, uid_t *uid, gid_t *gid)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (!h->cfg.qemu_user)
		return;
	struct passwd *pw = getpwnam(h->cfg.qemu_user);
	if (pw) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
}

/* Re-applies the ports of running VMs on one port group (its VLAN or shaping changed). */
int vnet_reapply_pg_ports(struct hostd *h, const struct vswitch *sw, const struct portgroup *pg,
			    struct vr_error **err)
{
	struct vm_port *ports;
	size_t n = vnet_running_ports(h, &ports);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (strcmp(ports[i].pg, pg->name) != 0)
			continue;
		char tap[VNET_IFNAME_MAX], ifb[VNET_IFNAME_MAX];
		vnet_tap_name(ports[i].vm->id, ports[i].nic_index, tap);
		vnet_ifb_name(ports[i].vm->id, ports[i].nic_index, ifb);
		r = vnet_dp_port_apply(h->net->dp, sw, pg, tap, ifb, false, 0, 0, err);
	}
	vnet_ports_free(ports, n);
	return r;
}

bool vnet_mac_in_use(struct hostd *h, const char *mac, const struct vm *except)
{
	bool used = false;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm && !used; vm = vm->next) {
		if (vm == except)
			continue;
		pthread_mutex_lock(&vm->lock);
		for (size_t i = 0; vm->cfg && i < vm->cfg->n_nics; i++)
			if (strcasecmp(vm->cfg->nics[i].mac, mac) == 0)
				used = true;
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return used;
}

int vnet_vm_connect(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	struct vnet *n = h->net;
	pthread_mutex_lock(&vm->lock);
	struct vm_config *cfg = vm->cfg;
	size_t n_nics = cfg ? cfg->n_nics : 0;
	struct vm_nic *nics = xcalloc(n_nics ? n_nics : 1, sizeof(*nics));
	for (size_t i = 0; i < n_nics; i++) {
		nics[i] = cfg->nics[i];
		nics[i].network_name = cfg->nics[i].network_name
					       ? xstrdup(cfg->nics[i].network_name)
					       : NULL;
	}
	const char *name = cfg ? cfg->display_name : vm->id;
	_cleanup_free_ char *vm_name = xstrdup(name);
	pthread_mutex_unlock(&vm->lock);

	/* MAC conflicts with running VMs (two NICs with one MAC confuse every switch). */
	struct vm_port *ports;
	size_t n_ports = vnet_running_ports(h, &ports);
	int r = 0;
	for (size_t i = 0; i < n_nics && r == 0; i++) {
		if (nics[i].connection != VM_NIC_CONN_BRIDGE)
			continue;
		for (size_t k = 0; k < n_ports; k++)
			if (ports[k].vm != vm && strcasecmp(ports[k].mac, nics[i].mac) == 0) {
				pthread_mutex_lock(&ports[k].vm->lock);
				r = vr_error_set(err, EADDRINUSE,
						 "ethernet%u of \"%s\" has the MAC address %s, which "
						 "VM \"%s\" (ethernet%u) is using",
						 nics[i].index, vm_name, nics[i].mac,
						 ports[k].vm->cfg ? ports[k].vm->cfg->display_name
								  : ports[k].vm->id,
						 ports[k].nic_index);
				pthread_mutex_unlock(&ports[k].vm->lock);
				break;
			}
	}
	vnet_ports_free(ports, n_ports);

	uid_t uid;
	gid_t gid;
	qemu_ids(h, &uid, &gid);
	size_t done = 0;
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n_nics && r == 0; i++, done = i) {
		if (nics[i].connection != VM_NIC_CONN_BRIDGE)
			continue;
		struct vswitch *sw = NULL;
		struct portgroup *pg = vnet_find_pg(n, nics[i].network_name, &sw);
		if (!pg) {
			r = vr_error_set(err, ENOENT,
					 "ethernet%u of \"%s\" is on port group \"%s\", which no "
					 "switch of this host has",
					 nics[i].index, vm_name, nics[i].network_name);
			break;
		}
		char tap[VNET_IFNAME_MAX], ifb[VNET_IFNAME_MAX];
		vnet_tap_name(vm->id, nics[i].index, tap);
		vnet_ifb_name(vm->id, nics[i].index, ifb);
		/* A left-over tap of this VM (hostd killed while it ran) goes first. */
		vnet_dp_port_remove(n->dp, tap, ifb);
		r = vnet_dp_port_apply(n->dp, sw, pg, tap, ifb, true, uid, gid, err);
		if (r < 0)
			vr_error_wrap(err, "ethernet%u of \"%s\" on port group \"%s\"",
				      nics[i].index, vm_name, pg->name);
	}
	if (r < 0) {
		for (size_t i = 0; i < done; i++) {
			if (nics[i].connection != VM_NIC_CONN_BRIDGE)
				continue;
			char tap[VNET_IFNAME_MAX], ifb[VNET_IFNAME_MAX];
			vnet_tap_name(vm->id, nics[i].index, tap);
			vnet_ifb_name(vm->id, nics[i].index, ifb);
			vnet_dp_port_remove(n->dp, tap, ifb);
		}
	}
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < n_nics; i++)
		free(nics[i].network_name);
	free(nics);
	return r;
}

void vnet_vm_disconnect(struct hostd *h, struct vm *vm)
{
	struct vnet *n = h->net;
	if (!n)
		return;
	pthread_mutex_lock(&vm->lock);
	unsigned idx[VM_MAX_NICS];
	size_t k = 0;
	for (size_t i = 0; vm->cfg && i < vm->cfg->n_nics && k < VM_MAX_NICS; i++)
		if (vm->cfg->nics[i].connection == VM_NIC_CONN_BRIDGE)
			idx[k++] = vm->cfg->nics[i].index;
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < k; i++) {
		char tap[VNET_IFNAME_MAX], ifb[VNET_IFNAME_MAX];
		vnet_tap_name(vm->id, idx[i], tap);
		vnet_ifb_name(vm->id, idx[i], ifb);
		vnet_dp_port_remove(n->dp, tap, ifb);
	}
	pthread_mutex_unlock(&n->lock);
}

int vnet_vm_reapply(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	struct vnet *n = h->net;
	pthread_mutex_lock(&vm->lock);
	size_t n_nics = vm->cfg ? vm->cfg->n_nics : 0;
	unsigned idx[VM_MAX_NICS];
	char *pgs[VM_MAX_NICS];
	size_t k = 0;
	for (size_t i = 0; i < n_nics && k < VM_MAX_NICS; i++)
		if (vm->cfg->nics[i].connection == VM_NIC_CONN_BRIDGE) {
			idx[k] = vm->cfg->nics[i].index;
			pgs[k++] = xstrdup(vm->cfg->nics[i].network_name);
		}
	pthread_mutex_unlock(&vm->lock);
	int r = 0;
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < k; i++) {
		char tap[VNET_IFNAME_MAX], ifb[VNET_IFNAME_MAX];
		vnet_tap_name(vm->id, idx[i], tap);
		vnet_ifb_name(vm->id, idx[i], ifb);
		struct vswitch *sw = NULL;
		struct portgroup *pg = vnet_find_pg(n, pgs[i], &sw);
		if (r == 0 && !pg)
			r = vr_error_set(err, ENOENT, "ethernet%u: port group \"%s\" does not exist",
					 idx[i], pgs[i]);
		else if (r == 0 && !vnet_dp_link_exists(n->dp, tap))
			r = vr_error_set(err, ENODEV, "ethernet%u: its tap \"%s\" is gone", idx[i],
					 tap);
		else if (r == 0)
			r = vnet_dp_port_apply(n->dp, sw, pg, tap, ifb, false, 0, 0, err);
		free(pgs[i]);
	}
	pthread_mutex_unlock(&n->lock);
	return r;
}

