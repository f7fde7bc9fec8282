/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NICs of a create or reconfigure request (API JSON) written as
 * ethernetN keys of a .vmx: strict checks with messages naming the NIC,
 * the member and the reason.
 */
#include "common/vmspec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"

static const struct json_field nic_fields[] = {
	{"index", JSON_INTEGER, false, 0, VM_MAX_NICS - 1},
	{"connection", JSON_STRING, false, 1, 16},
	{"network", JSON_STRING, false, 1, 80},
	{"model", JSON_STRING, false, 1, 16},
	{"mac", JSON_STRING, false, 1, 64},
	{"hostfwd", JSON_STRING, false, 1, 512},
	{"start_connected", JSON_TRUE, false, 0, 0},
};

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int connection_parse(const char *s, enum vm_nic_connection *out)
{
	for (int c = VM_NIC_CONN_NAT; c <= VM_NIC_CONN_NONE; c++) {
		if (strcmp(s, vm_nic_connection_name((enum vm_nic_connection)c)) == 0) {
			*out = (enum vm_nic_connection)c;
			return 0;
		}
	}
	return -EINVAL;
}

/* The parsed NIC in slot idx of a .vmx, or NULL. */
static const struct vm_nic *config_nic(const struct vm_config *cfg, unsigned idx)
{
	for (size_t i = 0; cfg && i < cfg->n_nics; i++)
		if (cfg->nics[i].index == idx)
			return &cfg->nics[i];
	return NULL;
}

/*
 * Writes one NIC into slot idx.  With `cur` (the NIC now in that slot)
 * the members given change it and the others stay; without, it is a new
 * NIC with defaults.  keep_mac: a generated MAC to reuse for a new NIC.
 */
static int nic_write(struct vmx *vmx, unsigned idx, const json_t *nic, const struct vm_nic *cur,
		     const char *keep_mac, struct vr_error **err)
{
	const char *conn_s = jstr(nic, "connection");
	const char *net = jstr(nic, "network");
	const char *model_s = jstr(nic, "model");
	const char *mac_s = jstr(nic, "mac");
	const char *fwd = jstr(nic, "hostfwd");
	const json_t *connected = json_object_get(nic, "start_connected");

	enum vm_nic_connection conn = VM_NIC_CONN_NAT;
	if (conn_s && connection_parse(conn_s, &conn) < 0)
		return vr_error_set(err, EINVAL, "connection \"%s\" is not nat, bridged or none",
				    conn_s);
	enum vm_nic_model model = VM_NIC_VIRTIO;
	if (model_s && vm_nic_model_parse(model_s, &model) < 0)
		return vr_error_set(err, EINVAL,
				    "model \"%s\" is not virtio, vmxnet3, e1000 or e1000e", model_s);
	char mac[18];
	if (mac_s && vm_mac_parse(mac_s, mac) < 0)
		return vr_error_set(err, EINVAL,
				    "mac \"%s\" is not a unicast MAC address (six hexadecimal bytes "
				    "separated by ':', the first one even)",
				    mac_s);
	if (net) {
		int r = name_validate("network", net, err);
		if (r < 0)
			return r;
	}
	if (!conn_s)
		conn = net ? VM_NIC_CONN_BRIDGE : cur ? cur->connection : VM_NIC_CONN_NAT;
	if (conn != VM_NIC_CONN_BRIDGE && net)
		return vr_error_set(err, EINVAL,
				    "network \"%s\" is only for bridged NICs, and this one is %s", net,
				    vm_nic_connection_name(conn));
	if (conn == VM_NIC_CONN_BRIDGE && !net)
		net = cur && cur->connection == VM_NIC_CONN_BRIDGE ? cur->network_name : NULL;
	if (conn == VM_NIC_CONN_BRIDGE && !net)
		return vr_error_set(err, EINVAL, "a bridged NIC needs a network (the bridge to join)");
	if (fwd && conn != VM_NIC_CONN_NAT)
		return vr_error_set(err, EINVAL, "hostfwd is only for NAT NICs, and this one is %s",
				    vm_nic_connection_name(conn));

	char key[64];
#define NICKEY(suffix) (snprintf(key, sizeof(key), "ethernet%u." suffix, idx), key)
	if (!cur) {
		snprintf(key, sizeof(key), "ethernet%u.", idx);
		vmx_remove_prefix(vmx, key);
		vmx_set(vmx, NICKEY("present"), "TRUE");
		vmx_set(vmx, NICKEY("virtualDev"), vm_nic_model_name(model));
		vmx_set(vmx, NICKEY("startConnected"), "TRUE");
		if (!mac_s) {
			char gen[18];
			if (!keep_mac)
				vm_mac_generate(gen);
			vmx_set(vmx, NICKEY("addressType"), "generated");
			vmx_set(vmx, NICKEY("generatedAddress"), keep_mac ? keep_mac : gen);
		}
	} else if (model_s) {
		vmx_set(vmx, NICKEY("virtualDev"), vm_nic_model_name(model));
	}
	vmx_set(vmx, NICKEY("connectionType"), vm_nic_connection_name(conn));
	if (net)
		vmx_set(vmx, NICKEY("networkName"), net);
	else
		vmx_remove(vmx, NICKEY("networkName"));
	if (mac_s) {
		vmx_set(vmx, NICKEY("addressType"), "static");
		vmx_set(vmx, NICKEY("address"), mac);
		vmx_remove(vmx, NICKEY("generatedAddress"));
		vmx_remove(vmx, NICKEY("generatedAddressOffset"));
	}
	if (connected)
		vmx_set(vmx, NICKEY("startConnected"), json_is_true(connected) ? "TRUE" : "FALSE");
	if (fwd)
		vmx_set(vmx, NICKEY("vireo.hostfwd"), fwd);
	else if (conn != VM_NIC_CONN_NAT)
		vmx_remove(vmx, NICKEY("vireo.hostfwd"));
#undef NICKEY
	return 0;
}

/* Checks every item and finds its slot: its index, or its position when none has one. */
static int nic_slots(const json_t *nics, unsigned *slots, bool *indexed, struct vr_error **err)
{
	size_t i, with_index = 0, n = json_array_size(nics);
	json_t *nic;
	json_array_foreach(nics, i, nic)
	{
		int r = json_check_object(nic, nic_fields, ARRAY_SIZE(nic_fields), "NIC", err);
		if (r < 0)
			return vr_error_wrap(err, "NIC %zu", i);
		json_t *index = json_object_get(nic, "index");
		slots[i] = index ? (unsigned)json_integer_value(index) : (unsigned)i;
		with_index += index != NULL;
	}
	if (with_index != 0 && with_index != n) {
		json_array_foreach(nics, i, nic)
			if (!json_object_get(nic, "index"))
				break;
		return vr_error_set(err, EINVAL,
				    "NIC %zu has no index: give an index for every NIC or for none",
				    i);
	}
	for (i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (slots[i] == slots[j])
				return vr_error_set(err, EINVAL,
						    "NIC %zu: index %u is also the index of NIC %zu",
						    i, slots[i], j);
	*indexed = with_index > 0;
	return 0;
}

int vmspec_nics_to_vmx(struct vmx *vmx, const struct vmx *old, const json_t *nics,
		       struct vr_error **err)
{
	if (!json_is_array(nics) || json_array_size(nics) > VM_MAX_NICS)
		return vr_error_set(err, EINVAL, "nics must be an array of at most %d NICs",
				    VM_MAX_NICS);
	unsigned slots[VM_MAX_NICS];
	bool indexed = false;
	int r = nic_slots(nics, slots, &indexed, err);
	if (r < 0)
		return r;
	/* With indexes, a listed NIC that exists is changed in place. */
	_cleanup_vm_config_ struct vm_config *cur = NULL;
	if (old && indexed) {
		r = vm_config_from_vmx(old, "the current configuration", &cur, err);
		if (r < 0)
			return vr_error_wrap(err, "cannot change NICs by index");
	}
	for (unsigned slot = 0; slot < VM_MAX_NICS; slot++) {
		bool listed = false;
		for (size_t i = 0; i < json_array_size(nics); i++)
			listed = listed || slots[i] == slot;
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "ethernet%u.", slot);
		if (!listed)
			vmx_remove_prefix(vmx, prefix);
	}
	size_t i;
	json_t *nic;
	json_array_foreach(nics, i, nic)
	{
		char key[64];
		snprintf(key, sizeof(key), "ethernet%u.generatedAddress", slots[i]);
		/* Without indexes the list replaces the NICs, each keeping its slot's generated MAC. */
		const char *keep_mac = old && !indexed ? vmx_get(old, key) : NULL;
		char mac[18];
		if (keep_mac && vm_mac_parse(keep_mac, mac) < 0)
			keep_mac = NULL;
		r = nic_write(vmx, slots[i], nic, config_nic(cur, slots[i]), keep_mac ? mac : NULL,
			      err);
		if (r < 0)
			return vr_error_wrap(err, "NIC %zu (ethernet%u)", i, slots[i]);
	}
	return 0;
}

int vmspec_check_nics(const struct vm_config *cfg, struct vr_error **err)
{
	for (size_t i = 0; i < cfg->n_nics; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->nics[i].mac, cfg->nics[j].mac) == 0)
				return vr_error_set(err, EINVAL,
						    "ethernet%u and ethernet%u have the same MAC "
						    "address %s",
						    cfg->nics[j].index, cfg->nics[i].index,
						    cfg->nics[i].mac);
	return 0;
}
