/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the NICs of create and reconfigure requests (host/provision_nic.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/provision.h"

#define BASE "displayName = \"t\"\nuuid.bios = \"11111111-2222-4333-8444-555555555555\"\n"

static struct vmx *parse(const char *text)
{
	struct vmx *vmx = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	if (vmx_parse(text, strlen(text), "test.vmx", &vmx, &err) < 0)
		fail_msg("parse failed: %s", err->msg);
	return vmx;
}

/* Applies nics (JSON text) to a copy of old (or an empty VM); NULL on error (*msg set). */
static struct vmx *apply(const char *old_text, const char *nics_json, char **msg)
{
	_cleanup_vmx_ struct vmx *old = old_text ? parse(old_text) : NULL;
	struct vmx *vmx = old ? vmx_dup(old) : parse(BASE);
	json_t *nics = json_loads(nics_json, 0, NULL);
	assert_non_null(nics);
	_cleanup_error_ struct vr_error *err = NULL;
	int r = provision_nics_to_vmx(vmx, old, nics, &err);
	json_decref(nics);
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	if (r == 0)
		r = vm_config_from_vmx(vmx, "result", &cfg, &err);
	if (r == 0)
		r = provision_check_nics(cfg, &err);
	if (r < 0) {
		assert_non_null(msg);
		*msg = xstrdup(err->msg);
		vmx_free(vmx);
		return NULL;
	}
	return vmx;
}

static void expect_error(const char *old_text, const char *nics_json, const char *needle)
{
	char *msg = NULL;
	struct vmx *vmx = apply(old_text, nics_json, &msg);
	if (vmx)
		fail_msg("%s was accepted", nics_json);
	if (!strstr(msg, needle))
		fail_msg("%s: message \"%s\" does not contain \"%s\"", nics_json, msg, needle);
	free(msg);
}

static void test_new_nics(void **state)
{
	(void)state;
	_cleanup_vmx_ struct vmx *vmx =
		apply(NULL,
		      "[{}, {\"connection\": \"bridged\", \"network\": \"br0\", \"model\": \"e1000\","
		      " \"mac\": \"00:50:56:AA:BB:CC\", \"start_connected\": false},"
		      " {\"hostfwd\": \"tcp:127.0.0.1:8080-:80\", \"model\": \"virtio-net\"}]",
		      NULL);
	assert_string_equal(vmx_get(vmx, "ethernet0.connectionType"), "nat");
	assert_string_equal(vmx_get(vmx, "ethernet0.virtualDev"), "virtio");
	assert_string_equal(vmx_get(vmx, "ethernet0.startConnected"), "TRUE");
	assert_string_equal(vmx_get(vmx, "ethernet0.addressType"), "generated");
	assert_non_null(vmx_get(vmx, "ethernet0.generatedAddress"));
	assert_string_equal(vmx_get(vmx, "ethernet1.connectionType"), "bridged");
	assert_string_equal(vmx_get(vmx, "ethernet1.networkName"), "br0");
	assert_string_equal(vmx_get(vmx, "ethernet1.virtualDev"), "e1000");
	assert_string_equal(vmx_get(vmx, "ethernet1.addressType"), "static");
	assert_string_equal(vmx_get(vmx, "ethernet1.address"), "00:50:56:aa:bb:cc");
	assert_null(vmx_get(vmx, "ethernet1.generatedAddress"));
	assert_string_equal(vmx_get(vmx, "ethernet1.startConnected"), "FALSE");
	assert_string_equal(vmx_get(vmx, "ethernet2.virtualDev"), "virtio");
	assert_string_equal(vmx_get(vmx, "ethernet2.vireo.hostfwd"), "tcp:127.0.0.1:8080-:80");

	/* Slots by index: ethernet0 and ethernet2 stay free. */
	_cleanup_vmx_ struct vmx *sparse = apply(NULL, "[{\"index\": 3}, {\"index\": 1}]", NULL);
	assert_null(vmx_get(sparse, "ethernet0.present"));
	assert_string_equal(vmx_get(sparse, "ethernet1.present"), "TRUE");
	assert_string_equal(vmx_get(sparse, "ethernet3.present"), "TRUE");
}

static void test_refused(void **state)
{
	(void)state;
	expect_error(NULL, "[{\"connection\": \"host-only\"}]",
		     "NIC 0 (ethernet0): connection \"host-only\" is not nat, bridged or none");
	expect_error(NULL, "[{}, {\"model\": \"rtl8139\"}]",
		     "NIC 1 (ethernet1): model \"rtl8139\" is not virtio, vmxnet3, e1000 or e1000e");
	expect_error(NULL, "[{\"mac\": \"01:00:5e:00:00:01\"}]",
		     "mac \"01:00:5e:00:00:01\" is not a unicast MAC address");
	expect_error(NULL, "[{\"mac\": \"00:50:56:zz:00:01\"}]", "is not a unicast MAC address");
	expect_error(NULL, "[{\"connection\": \"nat\", \"network\": \"br0\"}]",
		     "network \"br0\" is only for bridged NICs, and this one is nat");
	expect_error(NULL, "[{\"connection\": \"bridged\"}]", "a bridged NIC needs a network");
	expect_error(NULL, "[{\"network\": \"br/0\"}]", "network");
	expect_error(NULL, "[{\"network\": \"br0\", \"hostfwd\": \"tcp::80-:80\"}]",
		     "hostfwd is only for NAT NICs, and this one is bridged");
	expect_error(NULL, "[{\"index\": 0}, {}]",
		     "NIC 1 has no index: give an index for every NIC or for none");
	expect_error(NULL, "[{\"index\": 2}, {\"index\": 2}]",
		     "NIC 1: index 2 is also the index of NIC 0");
	expect_error(NULL, "[{\"index\": 10}]", "NIC 0");
	expect_error(NULL, "[{\"start_connected\": \"no\"}]", "start_connected");
	expect_error(NULL, "[{\"speed\": 1000}]", "unknown");
	expect_error(NULL,
		     "[{\"mac\": \"00:50:56:00:00:01\"}, {\"mac\": \"00:50:56:00:00:01\"}]",
		     "ethernet0 and ethernet1 have the same MAC address 00:50:56:00:00:01");
}

#define OLD                                                                        \
	BASE "ethernet0.present = \"TRUE\"\n"                                      \
	     "ethernet0.virtualDev = \"vmxnet3\"\n"                                \
	     "ethernet0.connectionType = \"nat\"\n"                                \
	     "ethernet0.addressType = \"generated\"\n"                             \
	     "ethernet0.generatedAddress = \"00:0c:29:01:02:03\"\n"                \
	     "ethernet0.vireo.hostfwd = \"tcp:127.0.0.1:2222-:22\"\n"              \
	     "ethernet1.present = \"TRUE\"\n"                                      \
	     "ethernet1.connectionType = \"bridged\"\n"                            \
	     "ethernet1.networkName = \"br0\"\n"                                   \
	     "ethernet1.addressType = \"static\"\n"                                \
	     "ethernet1.address = \"00:50:56:00:00:09\"\n"                         \
	     "ethernet3.present = \"TRUE\"\n"                                      \
	     "ethernet3.connectionType = \"custom\"\n"                             \
	     "ethernet3.networkName = \"br1\"\n"                                   \
	     "ethernet3.pciSlotNumber = \"33\"\n"                                  \
	     "ethernet3.addressType = \"generated\"\n"                             \
	     "ethernet3.generatedAddress = \"00:0c:29:0a:0b:0c\"\n"

static void test_change_by_index(void **state)
{
	(void)state;
	_cleanup_vmx_ struct vmx *vmx =
		apply(OLD,
		      "[{\"index\": 0, \"start_connected\": false},"
		      " {\"index\": 3, \"connection\": \"nat\"}, {\"index\": 4}]",
		      NULL);
	/* ethernet0: only startConnected changed. */
	assert_string_equal(vmx_get(vmx, "ethernet0.virtualDev"), "vmxnet3");
	assert_string_equal(vmx_get(vmx, "ethernet0.generatedAddress"), "00:0c:29:01:02:03");
	assert_string_equal(vmx_get(vmx, "ethernet0.vireo.hostfwd"), "tcp:127.0.0.1:2222-:22");
	assert_string_equal(vmx_get(vmx, "ethernet0.startConnected"), "FALSE");
	/* ethernet1 was not listed: removed. */
	assert_null(vmx_get(vmx, "ethernet1.present"));
	assert_null(vmx_get(vmx, "ethernet1.address"));
	/* ethernet3: now NAT, the network dropped, other keys kept. */
	assert_string_equal(vmx_get(vmx, "ethernet3.connectionType"), "nat");
	assert_null(vmx_get(vmx, "ethernet3.networkName"));
	assert_string_equal(vmx_get(vmx, "ethernet3.pciSlotNumber"), "33");
	assert_string_equal(vmx_get(vmx, "ethernet3.generatedAddress"), "00:0c:29:0a:0b:0c");
	/* ethernet4: new, with its own MAC. */
	assert_string_equal(vmx_get(vmx, "ethernet4.connectionType"), "nat");
	assert_string_equal(vmx_get(vmx, "ethernet4.startConnected"), "TRUE");
	const char *mac4 = vmx_get(vmx, "ethernet4.generatedAddress");
	assert_non_null(mac4);
	assert_string_not_equal(mac4, "00:0c:29:01:02:03");

	/* Static MAC, bridged to another network, hostfwd dropped with NAT. */
	_cleanup_vmx_ struct vmx *v2 =
		apply(OLD,
		      "[{\"index\": 0, \"network\": \"br2\", \"mac\": \"00:50:56:00:00:0a\"},"
		      " {\"index\": 1, \"model\": \"e1000e\"}]",
		      NULL);
	assert_string_equal(vmx_get(v2, "ethernet0.connectionType"), "bridged");
	assert_string_equal(vmx_get(v2, "ethernet0.networkName"), "br2");
	assert_null(vmx_get(v2, "ethernet0.vireo.hostfwd"));
	assert_string_equal(vmx_get(v2, "ethernet0.addressType"), "static");
	assert_string_equal(vmx_get(v2, "ethernet0.address"), "00:50:56:00:00:0a");
	assert_null(vmx_get(v2, "ethernet0.generatedAddress"));
	/* ethernet1 keeps its static MAC and network. */
	assert_string_equal(vmx_get(v2, "ethernet1.virtualDev"), "e1000e");
	assert_string_equal(vmx_get(v2, "ethernet1.address"), "00:50:56:00:00:09");
	assert_string_equal(vmx_get(v2, "ethernet1.networkName"), "br0");
	assert_null(vmx_get(v2, "ethernet3.present"));

	/* Changing a bridged NIC's settings keeps its network; NAT members are refused. */
	expect_error(OLD, "[{\"index\": 1, \"hostfwd\": \"tcp::80-:80\"}]",
		     "NIC 0 (ethernet1): hostfwd is only for NAT NICs, and this one is bridged");
	expect_error(OLD, "[{\"index\": 1, \"mac\": \"00:0c:29:01:02:03\"}, {\"index\": 0}]",
		     "have the same MAC address 00:0c:29:01:02:03");
	/* An empty list removes every NIC. */
	_cleanup_vmx_ struct vmx *none = apply(OLD, "[]", NULL);
	for (unsigned i = 0; i < 4; i++) {
		char key[32];
		snprintf(key, sizeof(key), "ethernet%u.present", i);
		assert_null(vmx_get(none, key));
	}
}

static void test_replace_keeps_generated_macs(void **state)
{
	(void)state;
	_cleanup_vmx_ struct vmx *vmx =
		apply(OLD, "[{\"connection\": \"none\"}, {}, {}]", NULL);
	/* Without indexes each NIC is new but keeps the generated MAC of its slot. */
	assert_string_equal(vmx_get(vmx, "ethernet0.connectionType"), "none");
	assert_string_equal(vmx_get(vmx, "ethernet0.virtualDev"), "virtio");
	assert_null(vmx_get(vmx, "ethernet0.vireo.hostfwd"));
	assert_string_equal(vmx_get(vmx, "ethernet0.generatedAddress"), "00:0c:29:01:02:03");
	/* ethernet1 had a static MAC: a new one is generated. */
	assert_string_equal(vmx_get(vmx, "ethernet1.addressType"), "generated");
	assert_null(vmx_get(vmx, "ethernet1.address"));
	assert_string_equal(vmx_get(vmx, "ethernet2.connectionType"), "nat");
	assert_null(vmx_get(vmx, "ethernet3.present"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_nics),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_change_by_index),
		cmocka_unit_test(test_replace_keeps_generated_macs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
