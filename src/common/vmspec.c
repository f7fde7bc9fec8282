/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bodies of VM create, power and snapshot requests: checked here once
 * for hostd, which acts on them, and for vireo-center, which refuses them
 * before it starts a task that would forward them to a host.
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

static const struct json_field power_fields[] = {
	{"timeout_s", JSON_INTEGER, false, 1, 3600},
};

static const struct json_field snapshot_fields[] = {
	{"name", JSON_STRING, true, 1, VM_SNAPSHOT_MAX_NAME},
	{"description", JSON_STRING, false, 0, VM_SNAPSHOT_MAX_DESCRIPTION},
	{"memory", JSON_TRUE, false, 0, 0},
	{"quiesce", JSON_TRUE, false, 0, 0},
};

static const struct json_field create_fields[] = {
	{"name", JSON_STRING, true, 1, 80},
	{"datastore", JSON_STRING, true, 1, 80},
	{"memory_mib", JSON_INTEGER, false, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB},
	{"vcpus", JSON_INTEGER, false, 1, VM_MAX_VCPUS},
	{"guest_os", JSON_STRING, false, 1, 64},
	{"annotation", JSON_STRING, false, 0, 4096},
	{"accel", JSON_STRING, false, 1, 8},
	{"disks", JSON_ARRAY, false, 0, VM_MAX_DISKS},
	{"nics", JSON_ARRAY, false, 0, VM_MAX_NICS},
	{"boot", JSON_OBJECT, false, 0, 0},
};

static const struct json_field disk_fields[] = {
	{"size_mib", JSON_INTEGER, true, 1, VMSPEC_MAX_DISK_MIB},
	{"format", JSON_STRING, false, 1, 8},
	{"provisioning", JSON_STRING, false, 1, 32},
	{"mode", JSON_STRING, false, 1, 32},
};

static const struct json_field boot_fields[] = {
	{"kernel", JSON_STRING, true, 1, 1024},
	{"initrd", JSON_STRING, false, 1, 1024},
	{"cmdline", JSON_STRING, false, 0, 2048},
};

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int vmspec_power_check(const json_t *body, int *timeout_s, struct vr_error **err)
{
	*timeout_s = VMSPEC_POWER_TIMEOUT_DEFAULT_S;
	if (!body)
		return 0;
	int r = json_check_object(body, power_fields, ARRAY_SIZE(power_fields), "power request",
				  err);
	if (r < 0)
		return r;
	json_t *t = json_object_get(body, "timeout_s");
	if (t)
		*timeout_s = (int)json_integer_value(t);
	return 0;
}

int vmspec_snapshot_check(const json_t *body, struct vr_error **err)
{
	if (!body)
		return vr_error_set(err, EINVAL, "a snapshot request needs a JSON body with a \"name\"");
	int r = json_check_object(body, snapshot_fields, ARRAY_SIZE(snapshot_fields),
				  "snapshot request", err);
	if (r < 0)
		return r;
	const char *name = jstr(body, "name");
	if (!utf8_valid(name) || strpbrk(name, "\n\r\t"))
		return vr_error_set(err, EINVAL, "the snapshot name must be one line of UTF-8 text");
	return 0;
}

int vmspec_boot_to_vmx(struct vmx *vmx, const json_t *boot, struct vr_error **err)
{
	int r = json_check_object(boot, boot_fields, ARRAY_SIZE(boot_fields), "boot", err);
	if (r < 0)
		return r;
	static const char *const keys[] = {"kernel", "initrd"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *p = jstr(boot, keys[i]);
		if (p && (r = vm_path_validate(keys[i], p, true, err)) < 0)
			return r;
	}
	vmx_remove(vmx, "vireo.initrd");
	vmx_remove(vmx, "vireo.cmdline");
	vmx_set(vmx, "vireo.kernel", jstr(boot, "kernel"));
	if (jstr(boot, "initrd"))
		vmx_set(vmx, "vireo.initrd", jstr(boot, "initrd"));
	if (jstr(boot, "cmdline"))
		vmx_set(vmx, "vireo.cmdline", jstr(boot, "cmdline"));
	return 0;
}

static int disk_to_vmx(struct vmx *vmx, const char *name, size_t i, const json_t *d,
		       struct vr_error **err)
{
	int r = json_check_object(d, disk_fields, ARRAY_SIZE(disk_fields), "disk", err);
	if (r < 0)
		return vr_error_wrap(err, "disk %zu", i);
	const char *fmt = jstr(d, "format") ? jstr(d, "format") : "qcow2";
	if (strcmp(fmt, "qcow2") != 0 && strcmp(fmt, "raw") != 0)
		return vr_error_set(err, EINVAL, "disk %zu: format \"%s\" is not qcow2 or raw", i,
				    fmt);
	enum vm_disk_provisioning prov = VM_DISK_PROVISIONING_THIN;
	const char *prov_name = jstr(d, "provisioning");
	if (prov_name && vm_disk_provisioning_parse(prov_name, &prov) < 0)
		return vr_error_set(err, EINVAL,
				    "disk %zu: provisioning \"%s\" is not thin, thick-lazy or "
				    "thick-eager",
				    i, prov_name);
	enum vm_disk_mode mode = VM_DISK_MODE_PERSISTENT;
	const char *mode_name = jstr(d, "mode");
	if (mode_name && vm_disk_mode_parse(mode_name, &mode) < 0)
		return vr_error_set(err, EINVAL,
				    "disk %zu: mode \"%s\" is not persistent, "
				    "independent-persistent or independent-nonpersistent",
				    i, mode_name);
	/* scsi0:7 is the controller's own id. */
	unsigned unit = (unsigned)i >= 7 ? (unsigned)i + 1 : (unsigned)i;
	const char *ext = strcmp(fmt, "raw") == 0 ? "img" : fmt;
	char key[64];
	snprintf(key, sizeof(key), "scsi0:%u.present", unit);
	vmx_set(vmx, key, "TRUE");
	snprintf(key, sizeof(key), "scsi0:%u.fileName", unit);
	if (i == 0)
		vmx_setf(vmx, key, "%s.%s", name, ext);
	else
		vmx_setf(vmx, key, "%s_%zu.%s", name, i, ext);
	snprintf(key, sizeof(key), "scsi0:%u.vireo.sizeMiB", unit);
	vmx_setf(vmx, key, "%lld", (long long)json_integer_value(json_object_get(d, "size_mib")));
	snprintf(key, sizeof(key), "scsi0:%u.vireo.provisioning", unit);
	vmx_set(vmx, key, vm_disk_provisioning_name(prov));
	if (mode != VM_DISK_MODE_PERSISTENT) {
		snprintf(key, sizeof(key), "scsi0:%u.mode", unit);
		vmx_set(vmx, key, vm_disk_mode_name(mode));
	}
	return 0;
}

int vmspec_create_to_vmx(const json_t *spec, struct vmx **out, struct vm_config **cfg_out,
			 struct vr_error **err)
{
	int r = json_check_object(spec, create_fields, ARRAY_SIZE(create_fields),
				  "VM create request", err);
	if (r < 0)
		return r;
	const char *name = jstr(spec, "name");
	r = name_validate("VM", name, err);
	if (r < 0)
		return r;
	_cleanup_vmx_ struct vmx *vmx = vmx_new();
	char uuid[37];
	uuid_generate_str(uuid);
	vmx_set(vmx, "config.version", "8");
	vmx_set(vmx, "virtualHW.version", "19");
	vmx_set(vmx, "displayName", name);
	vmx_set(vmx, "guestOS", jstr(spec, "guest_os") ? jstr(spec, "guest_os") : "other-64");
	vmx_set(vmx, "uuid.bios", uuid);
	json_t *mem = json_object_get(spec, "memory_mib");
	vmx_setf(vmx, "memsize", "%lld", mem ? (long long)json_integer_value(mem) : 256LL);
	json_t *cpus = json_object_get(spec, "vcpus");
	vmx_setf(vmx, "numvcpus", "%lld", cpus ? (long long)json_integer_value(cpus) : 1LL);
	if (jstr(spec, "annotation"))
		vmx_set(vmx, "annotation", jstr(spec, "annotation"));
	if (jstr(spec, "accel"))
		vmx_set(vmx, "vireo.accel", jstr(spec, "accel"));

	json_t *disks = json_object_get(spec, "disks");
	if (disks) {
		vmx_set(vmx, "scsi0.present", "TRUE");
		vmx_set(vmx, "scsi0.virtualDev", "virtio-scsi");
	}
	size_t i;
	json_t *d;
	json_array_foreach(disks, i, d)
	{
		if ((r = disk_to_vmx(vmx, name, i, d, err)) < 0)
			return r;
	}
	json_t *nics = json_object_get(spec, "nics");
	if (nics && (r = vmspec_nics_to_vmx(vmx, NULL, nics, err)) < 0)
		return r;
	json_t *boot = json_object_get(spec, "boot");
	if (boot && (r = vmspec_boot_to_vmx(vmx, boot, err)) < 0)
		return r;
	/* The neutral parser is the judge of the whole result. */
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	r = vm_config_from_vmx(vmx, "request", &cfg, err);
	if (r < 0)
		return r;
	r = vmspec_check_nics(cfg, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&vmx);
	if (cfg_out)
		*cfg_out = steal_pointer(&cfg);
	return 0;
}

int vmspec_create_check(const json_t *spec, const json_t *resources, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmspec_create_to_vmx(spec, &vmx, NULL, err);
	if (r < 0 || !resources)
		return r;
	/* As the host's PATCH {"resources"} of the new VM checks them. */
	r = vmspec_resources_to_vmx(vmx, resources, err);
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	if (r == 0)
		r = vm_config_from_vmx(vmx, "request", &cfg, err);
	return r;
}
