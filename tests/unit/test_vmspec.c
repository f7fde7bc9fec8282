/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM request bodies hostd and vireo-center both check (common/vmspec.c,
 * vmspec_nic.c, vmspec_resources.c): power, snapshot, create with its
 * disks, boot, NICs and resources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "common/vmspec.h"

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
	int r = vmspec_nics_to_vmx(vmx, old, nics, &err);
	json_decref(nics);
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	if (r == 0)
		r = vm_config_from_vmx(vmx, "result", &cfg, &err);
	if (r == 0)
		r = vmspec_check_nics(cfg, &err);
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

/* ---- power, snapshot, create ---- */

static json_t *js(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	return j;
}

/* r < 0 with the errno `code` and a message holding needle; frees *err. */
static void expect_refused(int r, int code, struct vr_error **err, const char *what,
			   const char *needle)
{
	if (r >= 0)
		fail_msg("%s was accepted", what);
	assert_int_equal(r, -code);
	assert_non_null(*err);
	if (!strstr((*err)->msg, needle))
		fail_msg("%s: message \"%s\" does not contain \"%s\"", what, (*err)->msg, needle);
	vr_error_free(*err);
	*err = NULL;
}

static void test_power(void **state)
{
	(void)state;
	_cleanup_error_ struct vr_error *err = NULL;
	int t = 0;
	assert_int_equal(vmspec_power_check(NULL, &t, &err), 0);
	assert_int_equal(t, 60);
	json_t *b = js("{}");
	assert_int_equal(vmspec_power_check(b, &t, &err), 0);
	assert_int_equal(t, 60);
	json_decref(b);
	b = js("{\"timeout_s\": 3600}");
	assert_int_equal(vmspec_power_check(b, &t, &err), 0);
	assert_int_equal(t, 3600);
	json_decref(b);

	static const struct {
		const char *body;
		int code;
		const char *needle;
	} bad[] = {
		{"{\"timeout_s\": 0}", ERANGE, "field \"timeout_s\" in power request is 0"},
		{"{\"timeout_s\": 3601}", ERANGE, "between 1 and 3600"},
		{"{\"timeout_s\": \"5\"}", EINVAL, "must be an integer, not a string"},
		{"{\"timeout_s\": 5.5}", EINVAL, "must be an integer"},
		{"{\"force\": true}", EINVAL, "unknown field \"force\" in power request"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		b = js(bad[i].body);
		t = 0;
		expect_refused(vmspec_power_check(b, &t, &err), bad[i].code, &err, bad[i].body,
			       bad[i].needle);
		json_decref(b);
	}
}

static void test_snapshot(void **state)
{
	(void)state;
	_cleanup_error_ struct vr_error *err = NULL;
	expect_refused(vmspec_snapshot_check(NULL, &err), EINVAL, &err, "no body",
		       "needs a JSON body with a \"name\"");
	json_t *b = js("{\"name\": \"before upgrade\", \"description\": \"\", \"memory\": true,"
		       " \"quiesce\": false}");
	assert_int_equal(vmspec_snapshot_check(b, &err), 0);
	json_decref(b);
	/* The .vmsd's limits, to the byte. */
	char *name = xmalloc(VM_SNAPSHOT_MAX_NAME + 2);
	memset(name, 'n', VM_SNAPSHOT_MAX_NAME + 1);
	name[VM_SNAPSHOT_MAX_NAME] = '\0';
	b = json_pack("{s:s}", "name", name);
	assert_int_equal(vmspec_snapshot_check(b, &err), 0);
	json_decref(b);
	name[VM_SNAPSHOT_MAX_NAME] = 'n';
	name[VM_SNAPSHOT_MAX_NAME + 1] = '\0';
	b = json_pack("{s:s}", "name", name);
	expect_refused(vmspec_snapshot_check(b, &err), ERANGE, &err, "a long name",
		       "bytes long; the limit is 255");
	json_decref(b);
	free(name);

	static const struct {
		const char *body;
		int code;
		const char *needle;
	} bad[] = {
		{"{}", EINVAL, "\"name\""},
		{"{\"name\": \"\"}", ERANGE, "\"name\""},
		{"{\"name\": \"a\\nb\"}", EINVAL, "one line of UTF-8 text"},
		{"{\"name\": \"a\\tb\"}", EINVAL, "one line of UTF-8 text"},
		{"{\"name\": \"a\", \"memory\": \"yes\"}", EINVAL, "\"memory\""},
		{"{\"name\": \"a\", \"keep\": true}", EINVAL, "unknown field \"keep\""},
		{"{\"name\": 7}", EINVAL, "must be a string"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		b = js(bad[i].body);
		expect_refused(vmspec_snapshot_check(b, &err), bad[i].code, &err, bad[i].body,
			       bad[i].needle);
		json_decref(b);
	}
}

#define SPEC_OK                                                                          \
	"{\"name\": \"web01\", \"datastore\": \"ds1\", \"memory_mib\": 512, \"vcpus\": 2,"  \
	" \"guest_os\": \"debian12-64\", \"annotation\": \"a note\", \"accel\": \"tcg\","     \
	" \"disks\": [{\"size_mib\": 1024}, {\"size_mib\": 16, \"format\": \"raw\","        \
	"  \"provisioning\": \"EagerZeroedThick\", \"mode\": \"independent_nonpersistent\"}],"\
	" \"nics\": [{}, {\"network\": \"VM Network\", \"mac\": \"00:50:56:00:00:01\"}],"   \
	" \"boot\": {\"kernel\": \"vmlinuz\", \"initrd\": \"/ds/initrd.img\","              \
	"  \"cmdline\": \"console=ttyS0\"}}"

static void test_create(void **state)
{
	(void)state;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *spec = js(SPEC_OK);
	_cleanup_vmx_ struct vmx *vmx = NULL;
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	if (vmspec_create_to_vmx(spec, &vmx, &cfg, &err) < 0)
		fail_msg("refused: %s", err->msg);
	json_decref(spec);
	assert_string_equal(vmx_get(vmx, "displayName"), "web01");
	assert_string_equal(vmx_get(vmx, "memsize"), "512");
	assert_string_equal(vmx_get(vmx, "numvcpus"), "2");
	assert_string_equal(vmx_get(vmx, "guestOS"), "debian12-64");
	assert_string_equal(vmx_get(vmx, "vireo.accel"), "tcg");
	assert_string_equal(vmx_get(vmx, "scsi0.virtualDev"), "virtio-scsi");
	assert_string_equal(vmx_get(vmx, "scsi0:0.fileName"), "web01.qcow2");
	assert_string_equal(vmx_get(vmx, "scsi0:0.vireo.sizeMiB"), "1024");
	assert_string_equal(vmx_get(vmx, "scsi0:0.vireo.provisioning"), "thin");
	assert_null(vmx_get(vmx, "scsi0:0.mode"));
	assert_string_equal(vmx_get(vmx, "scsi0:1.fileName"), "web01_1.img");
	assert_string_equal(vmx_get(vmx, "scsi0:1.vireo.provisioning"), "thick-eager");
	assert_string_equal(vmx_get(vmx, "scsi0:1.mode"), "independent-nonpersistent");
	assert_string_equal(vmx_get(vmx, "ethernet1.networkName"), "VM Network");
	assert_string_equal(vmx_get(vmx, "vireo.kernel"), "vmlinuz");
	assert_string_equal(vmx_get(vmx, "vireo.initrd"), "/ds/initrd.img");
	assert_string_equal(vmx_get(vmx, "vireo.cmdline"), "console=ttyS0");
	assert_non_null(cfg);
	assert_int_equal(cfg->memory_mib, 512);
	assert_int_equal(cfg->n_disks, 2);
	assert_int_equal(cfg->n_nics, 2);
	assert_true(uuid_is_valid(cfg->uuid));

	/* The defaults, and the eighth disk skips unit 7 (the controller's). */
	spec = js("{\"name\": \"small\", \"datastore\": \"ds1\", \"disks\": [{\"size_mib\": 1},"
		  " {\"size_mib\": 1}, {\"size_mib\": 1}, {\"size_mib\": 1}, {\"size_mib\": 1},"
		  " {\"size_mib\": 1}, {\"size_mib\": 1}, {\"size_mib\": 1}]}");
	_cleanup_vmx_ struct vmx *small = NULL;
	if (vmspec_create_to_vmx(spec, &small, NULL, &err) < 0)
		fail_msg("refused: %s", err->msg);
	json_decref(spec);
	assert_string_equal(vmx_get(small, "memsize"), "256");
	assert_string_equal(vmx_get(small, "numvcpus"), "1");
	assert_string_equal(vmx_get(small, "guestOS"), "other-64");
	assert_null(vmx_get(small, "scsi0:7.present"));
	assert_string_equal(vmx_get(small, "scsi0:8.fileName"), "small_7.qcow2");
	assert_null(vmx_get(small, "vireo.kernel"));
}

static void test_create_refused(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *needle;
	} bad[] = {
		{"{\"name\": \"x\"}", "\"datastore\""},
		{"{\"datastore\": \"ds1\"}", "\"name\""},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"colour\": \"red\"}",
		 "unknown field \"colour\" in VM create request"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"memory_mib\": 1}",
		 "field \"memory_mib\" in VM create request is 1; it must be between 16 and"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"memory_mib\": \"lots\"}",
		 "field \"memory_mib\" in VM create request must be an integer"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"vcpus\": 256}", "\"vcpus\""},
		{"{\"name\": \"a/b\", \"datastore\": \"ds1\"}", "VM name \"a/b\" contains '/'"},
		{"{\"name\": \"..\", \"datastore\": \"ds1\"}", "is reserved"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"accel\": \"hvf\"}", "hvf"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"disks\": [{}]}",
		 "disk 0: missing required field \"size_mib\" in disk"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"disks\": [{\"size_mib\": 0}]}",
		 "disk 0: field \"size_mib\" in disk is 0"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"disks\": [{\"size_mib\": 1,"
		 " \"format\": \"vmdk\"}]}",
		 "disk 0: format \"vmdk\" is not qcow2 or raw"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"disks\": [{\"size_mib\": 1},"
		 " {\"size_mib\": 1, \"provisioning\": \"fat\"}]}",
		 "disk 1: provisioning \"fat\" is not thin, thick-lazy or thick-eager"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"disks\": [{\"size_mib\": 1,"
		 " \"mode\": \"undoable\"}]}",
		 "disk 0: mode \"undoable\""},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"nics\": [{\"model\": \"rtl8139\"}]}",
		 "NIC 0 (ethernet0): model \"rtl8139\""},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"nics\": [{\"mac\": \"00:50:56:00:00:01\"},"
		 " {\"mac\": \"00:50:56:00:00:01\"}]}",
		 "have the same MAC address"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"boot\": {}}", "\"kernel\""},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"boot\": {\"kernel\": \"../../etc/k\"}}",
		 "kernel"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"boot\": {\"kernel\": \"k\","
		 " \"append\": \"x\"}}",
		 "unknown field \"append\" in boot"},
		{"{\"name\": \"x\", \"datastore\": \"ds1\", \"boot\": \"vmlinuz\"}", "\"boot\""},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_error_ struct vr_error *err = NULL;
		json_t *spec = js(bad[i].body);
		struct vmx *vmx = NULL;
		int r = vmspec_create_to_vmx(spec, &vmx, NULL, &err);
		json_decref(spec);
		assert_null(vmx);
		if (r >= 0)
			fail_msg("%s was accepted", bad[i].body);
		assert_true(r == -EINVAL || r == -ERANGE);
		if (!strstr(err->msg, bad[i].needle))
			fail_msg("%s: message \"%s\" does not contain \"%s\"", bad[i].body, err->msg,
				 bad[i].needle);
	}
}

/* A create request with "resources", as vireo-center checks it before any task. */
static void test_create_with_resources(void **state)
{
	(void)state;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *spec = js("{\"name\": \"x\", \"datastore\": \"ds1\", \"memory_mib\": 256,"
			  " \"disks\": [{\"size_mib\": 8}]}");
	assert_int_equal(vmspec_create_check(spec, NULL, &err), 0);
	static const char *const good[] = {
		"{}",
		"{\"memory\": {\"reservation_mib\": 256, \"shares\": \"high\"}}",
		"{\"cpu\": {\"reservation_mhz\": 500, \"limit_mhz\": -1, \"shares\": 3000, \"affinity\": [0, 1]}}",
		"{\"disks\": {\"scsi0:0\": {\"shares\": \"low\", \"iops_limit\": 100}}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		json_t *res = js(good[i]);
		if (vmspec_create_check(spec, res, &err) < 0)
			fail_msg("%s refused: %s", good[i], err->msg);
		json_decref(res);
	}
	static const struct {
		const char *res;
		const char *needle;
	} bad[] = {
		{"{\"gpu\": {}}", "resources has no member \"gpu\""},
		{"{\"memory\": {\"reservation_mib\": -1}}",
		 "resources.memory.reservation_mib must be a whole number, 0 or more"},
		{"{\"memory\": {\"reservation_mib\": 257}}",
		 "above the VM's memory (memsize = 256 MiB)"},
		{"{\"memory\": {\"reservation_mib\": 64, \"limit_mib\": 32}}",
		 "above the memory limit"},
		{"{\"cpu\": {\"shares\": \"lots\"}}", "resources.cpu.shares shares must be"},
		{"{\"cpu\": {\"affinity\": [64]}}", "resources.cpu.affinity"},
		{"{\"disks\": {\"scsi0:1\": {\"iops_limit\": 5}}}",
		 "the VM has no disk \"scsi0:1\""},
		{"{\"memory\": 5}", "resources.memory must be an object"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *res = js(bad[i].res);
		int r = vmspec_create_check(spec, res, &err);
		json_decref(res);
		if (r >= 0)
			fail_msg("%s was accepted", bad[i].res);
		if (!strstr(err->msg, bad[i].needle))
			fail_msg("%s: message \"%s\" does not contain \"%s\"", bad[i].res, err->msg,
				 bad[i].needle);
		vr_error_free(err);
		err = NULL;
	}
	/* The request's own mistakes come first. */
	json_t *bad_spec = js("{\"name\": \"x\", \"datastore\": \"ds1\", \"vcpus\": 0}");
	json_t *res = js("{\"gpu\": {}}");
	expect_refused(vmspec_create_check(bad_spec, res, &err), ERANGE, &err, "vcpus 0",
		       "\"vcpus\"");
	json_decref(res);
	json_decref(bad_spec);
	json_decref(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_nics),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_change_by_index),
		cmocka_unit_test(test_replace_keeps_generated_macs),
		cmocka_unit_test(test_power),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_create_refused),
		cmocka_unit_test(test_create_with_resources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
