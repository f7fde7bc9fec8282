/* SPDX-License-Identifier: Apache-2.0 */
#include "common/vmconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmx.h"

void vm_config_free(struct vm_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->display_name);
	free(cfg->guest_os);
	free(cfg->annotation);
	free(cfg->machine);
	free(cfg->kernel);
	free(cfg->initrd);
	free(cfg->cmdline);
	for (size_t i = 0; i < cfg->n_disks; i++)
		free(cfg->disks[i].file_name);
	free(cfg->disks);
	for (size_t i = 0; i < cfg->n_nics; i++) {
		free(cfg->nics[i].network_name);
		free(cfg->nics[i].hostfwd);
	}
	free(cfg->nics);
	free(cfg);
}

void vm_config_freep(struct vm_config **cfg)
{
	vm_config_free(*cfg);
	*cfg = NULL;
}

static const char *const disk_format_names[] = {
	[VM_DISK_FORMAT_QCOW2] = "qcow2",
	[VM_DISK_FORMAT_VMDK] = "vmdk",
	[VM_DISK_FORMAT_RAW] = "raw",
};
static const char *const disk_bus_names[] = {
	[VM_DISK_BUS_SCSI] = "scsi",
	[VM_DISK_BUS_SATA] = "sata",
	[VM_DISK_BUS_NVME] = "nvme",
	[VM_DISK_BUS_IDE] = "ide",
};
static const char *const disk_mode_names[] = {
	[VM_DISK_MODE_PERSISTENT] = "persistent",
	[VM_DISK_MODE_INDEPENDENT_PERSISTENT] = "independent-persistent",
	[VM_DISK_MODE_INDEPENDENT_NONPERSISTENT] = "independent-nonpersistent",
};
static const char *const nic_model_names[] = {
	[VM_NIC_VIRTIO] = "virtio",
	[VM_NIC_VMXNET3] = "vmxnet3",
	[VM_NIC_E1000] = "e1000",
	[VM_NIC_E1000E] = "e1000e",
};
static const char *const nic_conn_names[] = {
	[VM_NIC_CONN_NAT] = "nat",
	[VM_NIC_CONN_BRIDGE] = "bridged",
	[VM_NIC_CONN_NONE] = "none",
};
static const char *const accel_names[] = {
	[VM_ACCEL_AUTO] = "auto",
	[VM_ACCEL_KVM] = "kvm",
	[VM_ACCEL_TCG] = "tcg",
};

const char *vm_disk_format_name(enum vm_disk_format f)
{
	return disk_format_names[f];
}
const char *vm_disk_bus_name(enum vm_disk_bus b)
{
	return disk_bus_names[b];
}
const char *vm_disk_mode_name(enum vm_disk_mode m)
{
	return disk_mode_names[m];
}
const char *vm_nic_model_name(enum vm_nic_model m)
{
	return nic_model_names[m];
}
const char *vm_nic_connection_name(enum vm_nic_connection c)
{
	return nic_conn_names[c];
}
const char *vm_scsi_model_name(enum vm_scsi_model m)
{
	static const char *const names[] = {
		[VM_SCSI_VIRTIO] = "virtio-scsi",
		[VM_SCSI_PVSCSI] = "pvscsi",
		[VM_SCSI_LSILOGIC] = "lsilogic",
		[VM_SCSI_LSISAS1068] = "lsisas1068",
	};
	return names[m];
}

const char *vm_accel_name(enum vm_accel a)
{
	return accel_names[a];
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcasecmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

static const struct {
	const char *name;
	enum vm_disk_provisioning p;
} provisionings[] = {
	{"thin", VM_DISK_PROVISIONING_THIN},
	{"thick-lazy", VM_DISK_PROVISIONING_THICK_LAZY},
	{"thick-eager", VM_DISK_PROVISIONING_THICK_EAGER},
	{"lazyzeroedthick", VM_DISK_PROVISIONING_THICK_LAZY},
	{"eagerzeroedthick", VM_DISK_PROVISIONING_THICK_EAGER},
};

const char *vm_disk_provisioning_name(enum vm_disk_provisioning p)
{
	for (size_t i = 0; i < ARRAY_SIZE(provisionings); i++)
		if (provisionings[i].p == p)
			return provisionings[i].name;
	return "unknown";
}

int vm_disk_provisioning_parse(const char *s, enum vm_disk_provisioning *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(provisionings); i++)
		if (strcasecmp(provisionings[i].name, s) == 0) {
			*out = provisionings[i].p;
			return 0;
		}
	return -EINVAL;
}

int vm_disk_format_parse(const char *s, enum vm_disk_format *out)
{
	int i = lookup(disk_format_names, ARRAY_SIZE(disk_format_names), s);
	if (i < 0)
		return i;
	*out = (enum vm_disk_format)i;
	return 0;
}

int vm_disk_mode_parse(const char *s, enum vm_disk_mode *out)
{
	/* VMware also writes "independent_persistent"; accept both. */
	_cleanup_free_ char *copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if (*p == '_')
			*p = '-';
	if (strcasecmp(copy, "dependent") == 0) {
		*out = VM_DISK_MODE_PERSISTENT;
		return 0;
	}
	int i = lookup(disk_mode_names, ARRAY_SIZE(disk_mode_names), copy);
	if (i < 0)
		return i;
	*out = (enum vm_disk_mode)i;
	return 0;
}

int vm_nic_model_parse(const char *s, enum vm_nic_model *out)
{
	if (strcasecmp(s, "virtio-net") == 0) {
		*out = VM_NIC_VIRTIO;
		return 0;
	}
	int i = lookup(nic_model_names, ARRAY_SIZE(nic_model_names), s);
	if (i < 0)
		return i;
	*out = (enum vm_nic_model)i;
	return 0;
}

int vm_accel_parse(const char *s, enum vm_accel *out)
{
	int i = lookup(accel_names, ARRAY_SIZE(accel_names), s);
	if (i < 0)
		return i;
	*out = (enum vm_accel)i;
	return 0;
}

enum vm_disk_format vm_disk_format_from_name(const char *file_name)
{
	size_t l = strlen(file_name);
	if (l >= 6 && strcasecmp(file_name + l - 6, ".qcow2") == 0)
		return VM_DISK_FORMAT_QCOW2;
	if (l >= 5 && strcasecmp(file_name + l - 5, ".vmdk") == 0)
		return VM_DISK_FORMAT_VMDK;
	return VM_DISK_FORMAT_RAW;
}

int vm_mac_parse(const char *s, char out[18])
{
	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++) {
		char c = s[i];
		if (i % 3 == 2) {
			if (c != ':' && c != '-')
				return -EINVAL;
			out[i] = ':';
			continue;
		}
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -EINVAL;
		out[i] = c;
	}
	out[17] = '\0';
	/* Multicast addresses cannot be a NIC's address. */
	int first = (out[1] >= 'a' ? out[1] - 'a' + 10 : out[1] - '0');
	if (first & 1)
		return -EINVAL;
	return 0;
}

void vm_mac_generate(char out[18])
{
	unsigned char b[3];
	if (random_bytes(b, sizeof(b)) < 0)
		abort();
	snprintf(out, 18, "00:0c:29:%02x:%02x:%02x", b[0], b[1], b[2]);
}

int vm_path_validate(const char *what, const char *path, bool allow_absolute,
		     struct vr_error **err)
{
	if (!*path)
		return vr_error_set(err, EINVAL, "%s is empty", what);
	if (strlen(path) > 1024)
		return vr_error_set(err, EINVAL, "%s is longer than 1024 bytes", what);
	if (path[0] == '/' && !allow_absolute)
		return vr_error_set(err, EINVAL, "%s \"%s\" must be relative to the VM folder",
				    what, path);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return vr_error_set(err, EINVAL, "%s contains a control character", what);
	if (!utf8_valid(path))
		return vr_error_set(err, EINVAL, "%s is not valid UTF-8", what);
	/* Reject ".." components and empty components. */
	const char *seg = path[0] == '/' ? path + 1 : path;
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t l = slash ? (size_t)(slash - seg) : strlen(seg);
		if (l == 0 || (l == 2 && seg[0] == '.' && seg[1] == '.') ||
		    (l == 1 && seg[0] == '.'))
			return vr_error_set(err, EINVAL,
					    "%s \"%s\" has an empty, \".\" or \"..\" component", what,
					    path);
		if (!slash)
			break;
		seg = slash + 1;
	}
	return 0;
}

static int get_u64(const struct vmx *vmx, const char *source, const char *key, uint64_t min,
		   uint64_t max, uint64_t def, uint64_t *out, struct vr_error **err)
{
	const char *v = vmx_get(vmx, key);
	if (!v) {
		*out = def;
		return 0;
	}
	int r = parse_u64(v, min, max, out);
	if (r == -ERANGE)
		return vr_error_set(err, ERANGE, "%s: %s = \"%s\" is out of range (%llu..%llu)",
				    source, key, v, (unsigned long long)min,
				    (unsigned long long)max);
	if (r < 0)
		return vr_error_set(err, EINVAL, "%s: %s = \"%.64s\" is not a number", source, key,
				    v);
	return 0;
}

static int get_str(const struct vmx *vmx, const char *key, const char *def, char **out)
{
	const char *v = vmx_get(vmx, key);
	*out = v ? xstrdup(v) : def ? xstrdup(def) : NULL;
	return 0;
}

/* Parses "scsi0:1.fileName"-style keys: prefix, controller, unit. */
static bool parse_disk_key(const char *key, enum vm_disk_bus *bus, unsigned *ctrl,
			   unsigned *unit)
{
	for (size_t b = 0; b < ARRAY_SIZE(disk_bus_names); b++) {
		size_t pl = strlen(disk_bus_names[b]);
		if (strncasecmp(key, disk_bus_names[b], pl) != 0)
			continue;
		const char *p = key + pl;
		unsigned c = 0, u = 0;
		int n = 0;
		if (sscanf(p, "%2u:%2u%n", &c, &u, &n) != 2)
			return false;
		if (p[0] < '0' || p[0] > '9')
			return false;
		if (strcasecmp(p + n, ".fileName") != 0)
			return false;
		*bus = (enum vm_disk_bus)b;
		*ctrl = c;
		*unit = u;
		return true;
	}
	return false;
}

static int parse_disks(const struct vmx *vmx, const char *source, struct vm_config *cfg,
		       struct vr_error **err)
{
	static const unsigned max_ctrl[] = {
		[VM_DISK_BUS_SCSI] = 4,
		[VM_DISK_BUS_SATA] = 4,
		[VM_DISK_BUS_NVME] = 4,
		[VM_DISK_BUS_IDE] = 2,
	};
	static const unsigned max_unit[] = {
		[VM_DISK_BUS_SCSI] = 16,
		[VM_DISK_BUS_SATA] = 30,
		[VM_DISK_BUS_NVME] = 15,
		[VM_DISK_BUS_IDE] = 2,
	};
	for (unsigned c = 0; c < 4; c++) {
		char key[32];
		snprintf(key, sizeof(key), "scsi%u.virtualDev", c);
		const char *m = vmx_get(vmx, key);
		if (!m || strcasecmp(m, "virtio-scsi") == 0)
			cfg->scsi_model[c] = VM_SCSI_VIRTIO;
		else if (strcasecmp(m, "pvscsi") == 0)
			cfg->scsi_model[c] = VM_SCSI_PVSCSI;
		else if (strcasecmp(m, "lsilogic") == 0 || strcasecmp(m, "buslogic") == 0)
			cfg->scsi_model[c] = VM_SCSI_LSILOGIC;
		else if (strcasecmp(m, "lsisas1068") == 0)
			cfg->scsi_model[c] = VM_SCSI_LSISAS1068;
		else
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%.64s\": not a SCSI controller (virtio-scsi, "
					    "pvscsi, lsilogic, lsisas1068, buslogic)",
					    source, key, m);
	}
	for (size_t i = 0; i < vmx->n; i++) {
		enum vm_disk_bus bus;
		unsigned ctrl, unit;
		if (!parse_disk_key(vmx->entries[i].key, &bus, &ctrl, &unit))
			continue;
		const char *bn = disk_bus_names[bus];
		char k[64];
		snprintf(k, sizeof(k), "%s%u:%u.present", bn, ctrl, unit);
		if (!vmx_get_bool(vmx, k, true))
			continue;
		if (ctrl >= max_ctrl[bus] || unit >= max_unit[bus] ||
		    (bus == VM_DISK_BUS_SCSI && unit == 7))
			return vr_error_set(err, EINVAL, "%s: %s: no such %s slot %u:%u", source,
					    vmx->entries[i].key, bn, ctrl, unit);
		/* QEMU's LSI emulations have fewer targets than VMware's 15. */
		if (bus == VM_DISK_BUS_SCSI && ((cfg->scsi_model[ctrl] == VM_SCSI_LSILOGIC && unit > 6) ||
						(cfg->scsi_model[ctrl] == VM_SCSI_LSISAS1068 && unit > 7)))
			return vr_error_set(err, EINVAL,
					    "%s: %s: controller scsi%u (%s) is emulated with targets 0-%d "
					    "only; move the disk to a lower unit or use pvscsi",
					    source, vmx->entries[i].key, ctrl,
					    vm_scsi_model_name(cfg->scsi_model[ctrl]),
					    cfg->scsi_model[ctrl] == VM_SCSI_LSILOGIC ? 6 : 7);
		snprintf(k, sizeof(k), "%s%u.present", bn, ctrl);
		if (bus != VM_DISK_BUS_IDE && !vmx_get_bool(vmx, k, true))
			return vr_error_set(err, EINVAL,
					    "%s: %s is set but controller %s%u is not present",
					    source, vmx->entries[i].key, bn, ctrl);
		if (cfg->n_disks >= VM_MAX_DISKS)
			return vr_error_set(err, E2BIG, "%s: more than %d disks", source,
					    VM_MAX_DISKS);
		const char *file = vmx->entries[i].value;
		int r = vm_path_validate(vmx->entries[i].key, file, true, err);
		if (r < 0)
			return vr_error_wrap(err, "%s", source);
		struct vm_disk d = {
			.bus = bus,
			.controller = ctrl,
			.unit = unit,
			.format = vm_disk_format_from_name(file),
		};
		snprintf(k, sizeof(k), "%s%u:%u.deviceType", bn, ctrl, unit);
		const char *dt = vmx_get(vmx, k);
		if (dt && (strcasecmp(dt, "cdrom-image") == 0 || strcasecmp(dt, "atapi-cdrom") == 0 ||
			   strcasecmp(dt, "cdrom-raw") == 0)) {
			d.device = VM_DISK_DEVICE_CDROM;
			d.format = VM_DISK_FORMAT_RAW;
		}
		snprintf(k, sizeof(k), "%s%u:%u.mode", bn, ctrl, unit);
		const char *mode = vmx_get(vmx, k);
		if (mode && vm_disk_mode_parse(mode, &d.mode) < 0)
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%.64s\": not a disk mode (persistent, "
					    "independent-persistent, independent-nonpersistent)",
					    source, k, mode);
		snprintf(k, sizeof(k), "%s%u:%u.vireo.format", bn, ctrl, unit);
		const char *fmt = vmx_get(vmx, k);
		if (fmt && vm_disk_format_parse(fmt, &d.format) < 0)
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%.64s\": not a disk format (qcow2, vmdk, raw)",
					    source, k, fmt);
		for (size_t j = 0; j < cfg->n_disks; j++)
			if (cfg->disks[j].bus == bus && cfg->disks[j].controller == ctrl &&
			    cfg->disks[j].unit == unit)
				return vr_error_set(err, EINVAL, "%s: slot %s%u:%u used twice",
						    source, bn, ctrl, unit);
		d.file_name = xstrdup(file);
		cfg->disks = xrealloc(cfg->disks, (cfg->n_disks + 1) * sizeof(*cfg->disks));
		cfg->disks[cfg->n_disks++] = d;
	}
	return 0;
}

static int parse_nics(const struct vmx *vmx, const char *source, struct vm_config *cfg,
		      struct vr_error **err)
{
	for (unsigned idx = 0; idx < VM_MAX_NICS; idx++) {
		char k[64];
		snprintf(k, sizeof(k), "ethernet%u.present", idx);
		if (!vmx_get_bool(vmx, k, false))
			continue;
		struct vm_nic n = {.index = idx, .start_connected = true};
		snprintf(k, sizeof(k), "ethernet%u.virtualDev", idx);
		const char *dev = vmx_get(vmx, k);
		if (dev && (strcasecmp(dev, "vlance") == 0 || strcasecmp(dev, "vmxnet") == 0 ||
			    strcasecmp(dev, "vmxnet2") == 0 || strcasecmp(dev, "flexible") == 0))
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%s\": VMware's legacy NIC has no emulation here; "
					    "change it to vmxnet3 or e1000 (the guest needs a driver for it)",
					    source, k, dev);
		if (dev && vm_nic_model_parse(dev, &n.model) < 0)
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%.64s\": not a NIC model (virtio, vmxnet3, "
					    "e1000, e1000e)",
					    source, k, dev);
		snprintf(k, sizeof(k), "ethernet%u.networkName", idx);
		const char *net = vmx_get(vmx, k);
		snprintf(k, sizeof(k), "ethernet%u.connectionType", idx);
		const char *conn = vmx_get(vmx, k);
		if (conn && strcasecmp(conn, "nat") == 0)
			n.connection = VM_NIC_CONN_NAT;
		else if (conn && strcasecmp(conn, "none") == 0)
			n.connection = VM_NIC_CONN_NONE;
		else if (conn && strcasecmp(conn, "bridged") != 0 && strcasecmp(conn, "custom") != 0)
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%.64s\": not a connection type (nat, "
					    "bridged, custom, none)",
					    source, k, conn);
		else if (net && *net)
			n.connection = VM_NIC_CONN_BRIDGE;
		else
			n.connection = VM_NIC_CONN_NAT;
		if (n.connection == VM_NIC_CONN_BRIDGE && (!net || !*net))
			return vr_error_set(err, EINVAL,
					    "%s: ethernet%u is bridged but has no networkName", source,
					    idx);
		if (net) {
			int r = name_validate("network", net, err);
			if (r < 0)
				return vr_error_wrap(err, "%s: ethernet%u.networkName", source, idx);
			n.network_name = xstrdup(net);
		}
		snprintf(k, sizeof(k), "ethernet%u.addressType", idx);
		const char *at = vmx_get(vmx, k);
		n.mac_static = at && strcasecmp(at, "static") == 0;
		snprintf(k, sizeof(k), n.mac_static ? "ethernet%u.address" : "ethernet%u.generatedAddress",
			 idx);
		const char *mac = vmx_get(vmx, k);
		if (!mac) {
			free(n.network_name);
			return vr_error_set(err, EINVAL, "%s: ethernet%u has no MAC address (%s)",
					    source, idx, k);
		}
		if (vm_mac_parse(mac, n.mac) < 0) {
			free(n.network_name);
			return vr_error_set(err, EINVAL,
					    "%s: %s = \"%.64s\" is not a unicast MAC address", source,
					    k, mac);
		}
		snprintf(k, sizeof(k), "ethernet%u.startConnected", idx);
		n.start_connected = vmx_get_bool(vmx, k, true);
		snprintf(k, sizeof(k), "ethernet%u.vireo.hostfwd", idx);
		const char *fwd = vmx_get(vmx, k);
		if (fwd) {
			for (const char *p = fwd; *p; p++) {
				char c = *p;
				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == ':' ||
				      c == '.' || c == '-' || c == ',' || c == '[' || c == ']')) {
					free(n.network_name);
					return vr_error_set(err, EINVAL,
							    "%s: %s: character '%c' is not allowed in "
							    "a port forward",
							    source, k, c);
				}
			}
			n.hostfwd = xstrdup(fwd);
		}
		cfg->nics = xrealloc(cfg->nics, (cfg->n_nics + 1) * sizeof(*cfg->nics));
		cfg->nics[cfg->n_nics++] = n;
	}
	return 0;
}

int vm_config_from_vmx(const struct vmx *vmx, const char *source, struct vm_config **out,
		       struct vr_error **err)
{
	_cleanup_vm_config_ struct vm_config *cfg = xcalloc(1, sizeof(*cfg));
	uint64_t v;
	int r;

	const char *name = vmx_get(vmx, "displayName");
	if (!name)
		return vr_error_set(err, EINVAL, "%s: displayName is missing", source);
	r = name_validate("VM", name, err);
	if (r < 0)
		return vr_error_wrap(err, "%s: displayName", source);
	cfg->display_name = xstrdup(name);

	const char *uuid = vmx_get(vmx, "uuid.bios");
	if (!uuid)
		return vr_error_set(err, EINVAL, "%s: uuid.bios is missing", source);
	/* VMware writes "56 4d 12 ... 9a-bc ..."; accept that and the canonical form. */
	char hex[33];
	size_t nh = 0;
	for (const char *p = uuid; *p; p++) {
		if (*p == ' ' || *p == '-')
			continue;
		char c = *p;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || nh >= 32)
			return vr_error_set(err, EINVAL, "%s: uuid.bios = \"%.64s\" is not a UUID",
					    source, uuid);
		hex[nh++] = c;
	}
	if (nh != 32)
		return vr_error_set(err, EINVAL, "%s: uuid.bios = \"%.64s\" is not a UUID", source,
				    uuid);
	hex[32] = '\0';
	snprintf(cfg->uuid, sizeof(cfg->uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);

	r = get_u64(vmx, source, "memsize", VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, 256, &v, err);
	if (r < 0)
		return r;
	cfg->memory_mib = v;
	r = get_u64(vmx, source, "numvcpus", 1, VM_MAX_VCPUS, 1, &v, err);
	if (r < 0)
		return r;
	cfg->vcpus = (unsigned)v;
	r = get_u64(vmx, source, "cpuid.coresPerSocket", 1, VM_MAX_VCPUS, 1, &v, err);
	if (r < 0)
		return r;
	cfg->cores_per_socket = (unsigned)v;
	if (cfg->vcpus % cfg->cores_per_socket != 0)
		return vr_error_set(err, EINVAL,
				    "%s: numvcpus (%u) is not a multiple of cpuid.coresPerSocket (%u)",
				    source, cfg->vcpus, cfg->cores_per_socket);

	get_str(vmx, "guestOS", "other", &cfg->guest_os);
	get_str(vmx, "annotation", NULL, &cfg->annotation);

	const char *fw = vmx_get(vmx, "firmware");
	if (!fw || strcasecmp(fw, "bios") == 0)
		cfg->firmware = VM_FIRMWARE_BIOS;
	else if (strcasecmp(fw, "efi") == 0)
		cfg->firmware = VM_FIRMWARE_EFI;
	else
		return vr_error_set(err, EINVAL, "%s: firmware = \"%.64s\": expected bios or efi",
				    source, fw);

	const char *accel = vmx_get(vmx, "vireo.accel");
	if (accel && vm_accel_parse(accel, &cfg->accel) < 0)
		return vr_error_set(err, EINVAL,
				    "%s: vireo.accel = \"%.64s\": expected auto, kvm or tcg", source,
				    accel);

	const char *machine = vmx_get(vmx, "vireo.machine");
	if (machine && strcmp(machine, "q35") != 0 && strcmp(machine, "pc") != 0)
		return vr_error_set(err, EINVAL, "%s: vireo.machine = \"%.64s\": expected q35 or pc",
				    source, machine);
	cfg->machine = xstrdup(machine ? machine : "q35");
	cfg->is_template = vmx_get_bool(vmx, "templateVM", false);

	const char *kernel = vmx_get(vmx, "vireo.kernel");
	if (kernel) {
		r = vm_path_validate("vireo.kernel", kernel, true, err);
		if (r < 0)
			return vr_error_wrap(err, "%s", source);
		cfg->kernel = xstrdup(kernel);
	}
	const char *initrd = vmx_get(vmx, "vireo.initrd");
	if (initrd) {
		if (!kernel)
			return vr_error_set(err, EINVAL, "%s: vireo.initrd is set without vireo.kernel",
					    source);
		r = vm_path_validate("vireo.initrd", initrd, true, err);
		if (r < 0)
			return vr_error_wrap(err, "%s", source);
		cfg->initrd = xstrdup(initrd);
	}
	const char *cmdline = vmx_get(vmx, "vireo.cmdline");
	if (cmdline) {
		if (!kernel)
			return vr_error_set(err, EINVAL, "%s: vireo.cmdline is set without vireo.kernel",
					    source);
		if (strlen(cmdline) > 2048)
			return vr_error_set(err, EINVAL, "%s: vireo.cmdline is longer than 2048 bytes",
					    source);
		cfg->cmdline = xstrdup(cmdline);
	}

	r = parse_disks(vmx, source, cfg, err);
	if (r < 0)
		return r;
	r = parse_nics(vmx, source, cfg, err);
	if (r < 0)
		return r;
	r = vm_sched_parse(vmx, source, cfg, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&cfg);
	return 0;
}
