/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_VMCONFIG_H
#define VIREO_COMMON_VMCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmx;
struct vr_error;

/*
 * The neutral VM configuration, parsed once from a .vmx.  Everything
 * that turns a VM into something else (QEMU arguments, API JSON) starts
 * from this struct, never from raw .vmx keys.
 */

#define VM_MAX_VCPUS 255
#define VM_MIN_MEMORY_MIB 16
#define VM_MAX_MEMORY_MIB (4u * 1024 * 1024) /* 4 TiB */
#define VM_MAX_DISKS 32
#define VM_MAX_NICS 10
/* A snapshot's name and description, in bytes (the .vmsd's limits). */
#define VM_SNAPSHOT_MAX_NAME 255
#define VM_SNAPSHOT_MAX_DESCRIPTION 8192

enum vm_disk_bus {
	VM_DISK_BUS_SCSI,
	VM_DISK_BUS_SATA,
	VM_DISK_BUS_NVME,
	VM_DISK_BUS_IDE,
};

enum vm_scsi_model {
	VM_SCSI_VIRTIO,  /* "virtio-scsi" (our default) */
	VM_SCSI_PVSCSI,  /* "pvscsi" */
	VM_SCSI_LSILOGIC, /* "lsilogic", "buslogic": emulated by lsi53c895a (targets 0-6) */
	VM_SCSI_LSISAS1068, /* "lsisas1068": QEMU's mptsas1068 (targets 0-7) */
};

enum vm_disk_format {
	VM_DISK_FORMAT_QCOW2,
	VM_DISK_FORMAT_VMDK,
	VM_DISK_FORMAT_RAW,
};

enum vm_disk_mode {
	VM_DISK_MODE_PERSISTENT, /* "persistent" (dependent) */
	VM_DISK_MODE_INDEPENDENT_PERSISTENT,
	VM_DISK_MODE_INDEPENDENT_NONPERSISTENT,
};

/* vSphere's disk provisioning types, for new disks. */
enum vm_disk_provisioning {
	VM_DISK_PROVISIONING_THIN,        /* space taken as the guest writes (qcow2, sparse raw) */
	VM_DISK_PROVISIONING_THICK_LAZY,  /* space reserved up front (preallocation=falloc) */
	VM_DISK_PROVISIONING_THICK_EAGER, /* space reserved and zeroed up front (preallocation=full) */
};

enum vm_disk_device {
	VM_DISK_DEVICE_DISK,
	VM_DISK_DEVICE_CDROM,
};

/*
 * Shares, as vSphere names them: a level, or a custom number.  The
 * levels stand for a number that depends on what is shared (per vCPU,
 * per MiB, per disk): see vm_sched_cpu_shares() and friends.
 */
enum vm_shares_level {
	VM_SHARES_NORMAL, /* the default */
	VM_SHARES_LOW,
	VM_SHARES_HIGH,
	VM_SHARES_CUSTOM,
};
struct vm_shares {
	enum vm_shares_level level;
	uint32_t custom; /* 1..1000000, when level is VM_SHARES_CUSTOM */
};
#define VM_SHARES_MAX 1000000u
#define VM_UNLIMITED (-1)

/*
 * CPU and memory allocation of a VM (the vSphere model), from
 * sched.cpu.shares / .min / .max (MHz) and sched.mem.shares / .min /
 * .max (MiB).  A limit of VM_UNLIMITED means none.
 */
struct vm_sched {
	struct vm_shares cpu_shares;
	uint64_t cpu_min_mhz;  /* reservation */
	int64_t cpu_max_mhz;   /* limit */
	struct vm_shares mem_shares;
	uint64_t mem_min_mib;  /* reservation */
	int64_t mem_max_mib;   /* limit */
	uint64_t cpu_affinity; /* sched.cpu.affinity: host CPUs 0..63 it may run on; 0 = all */
};

struct vm_disk {
	enum vm_disk_bus bus;
	unsigned controller; /* scsiN / sataN / nvmeN / ideN */
	unsigned unit;       /* :M */
	enum vm_disk_device device;
	enum vm_disk_format format;
	enum vm_disk_mode mode;
	char *file_name; /* as written in the .vmx: relative to the VM folder or absolute */
	struct vm_shares shares; /* sched.scsi0:0.shares: disk I/O shares */
	uint64_t iops_limit;     /* sched.scsi0:0.throughputCap (I/O per second); 0 = none */
};

enum vm_nic_model {
	VM_NIC_VIRTIO,
	VM_NIC_VMXNET3,
	VM_NIC_E1000,
	VM_NIC_E1000E,
};

enum vm_nic_connection {
	VM_NIC_CONN_NAT,    /* QEMU user-mode networking (no switch needed) */
	VM_NIC_CONN_BRIDGE, /* tap on an existing bridge named by networkName */
	VM_NIC_CONN_NONE,   /* present but not connected */
};

struct vm_nic {
	unsigned index; /* ethernetN */
	enum vm_nic_model model;
	enum vm_nic_connection connection;
	char *network_name;
	char mac[18];     /* "00:50:56:xx:xx:xx" */
	bool mac_static;  /* addressType = "static" */
	bool start_connected;
	char *hostfwd;    /* NAT only: "tcp:127.0.0.1:8080-:80" list separated by ',' */
};

enum vm_accel {
	VM_ACCEL_AUTO,
	VM_ACCEL_KVM,
	VM_ACCEL_TCG,
};

enum vm_firmware {
	VM_FIRMWARE_BIOS,
	VM_FIRMWARE_EFI,
};

struct vm_config {
	char *display_name;
	char *guest_os;
	char *annotation;
	char uuid[37];   /* uuid.bios, canonical lower-case form */
	uint64_t memory_mib;
	unsigned vcpus;
	unsigned cores_per_socket;
	enum vm_firmware firmware;
	enum vm_accel accel;
	char *machine;   /* "q35" (default), "pc" */
	bool is_template;

	/* Direct kernel boot (the Vireo guest image), relative to the VM folder or absolute. */
	char *kernel;
	char *initrd;
	char *cmdline;

	/* Resource allocation (sched.* keys; enforced by host/resources). */
	struct vm_sched sched;

	enum vm_scsi_model scsi_model[4]; /* scsiN.virtualDev */
	struct vm_disk *disks;
	size_t n_disks;
	struct vm_nic *nics;
	size_t n_nics;
};

void vm_config_free(struct vm_config *cfg);
void vm_config_freep(struct vm_config **cfg);
#define _cleanup_vm_config_ __attribute__((cleanup(vm_config_freep)))

/*
 * Parses and validates a .vmx.  `source` names it in errors.  Each
 * problem is reported with the key and the value, e.g.
 * `web01.vmx: memsize = "abc": not a number of MiB`.
 */
int vm_config_from_vmx(const struct vmx *vmx, const char *source, struct vm_config **out,
		       struct vr_error **err);

/*
 * The sched.* keys (vmconfig_sched.c), called by vm_config_from_vmx()
 * once disks are parsed.
 */
int vm_sched_parse(const struct vmx *vmx, const char *source, struct vm_config *cfg,
		   struct vr_error **err);
/* "low", "normal", "high" or a number 1..1000000. */
int vm_shares_parse(const char *s, struct vm_shares *out);
/* "low", "normal", "high" or "custom". */
const char *vm_shares_level_name(enum vm_shares_level l);
/* The .vmx spelling of shares: the level's name or the number. Caller frees. */
char *vm_shares_format(const struct vm_shares *s);
/* Shares as numbers, vSphere's scale: CPU 500/1000/2000 per vCPU. */
uint64_t vm_sched_cpu_shares(const struct vm_config *cfg);
/* Memory: 5/10/20 per MiB of configured memory (levels are not capped). */
uint64_t vm_sched_mem_shares(const struct vm_config *cfg);
/* Disk I/O: 500/1000/2000. */
uint64_t vm_sched_disk_shares(const struct vm_disk *d);

const char *vm_disk_format_name(enum vm_disk_format f);
const char *vm_disk_bus_name(enum vm_disk_bus b);
const char *vm_disk_mode_name(enum vm_disk_mode m);
const char *vm_nic_model_name(enum vm_nic_model m);
const char *vm_nic_connection_name(enum vm_nic_connection c);
const char *vm_accel_name(enum vm_accel a);
const char *vm_scsi_model_name(enum vm_scsi_model m);
int vm_disk_format_parse(const char *s, enum vm_disk_format *out);
int vm_disk_mode_parse(const char *s, enum vm_disk_mode *out);
const char *vm_disk_provisioning_name(enum vm_disk_provisioning p);
/* "thin", "thick-lazy" (also "lazyzeroedthick"), "thick-eager" (also "eagerzeroedthick"). */
int vm_disk_provisioning_parse(const char *s, enum vm_disk_provisioning *out);
int vm_nic_model_parse(const char *s, enum vm_nic_model *out);
int vm_accel_parse(const char *s, enum vm_accel *out);
/* Format from the file name's extension (.qcow2, .vmdk, else raw); never probed. */
enum vm_disk_format vm_disk_format_from_name(const char *file_name);

/* A MAC address "xx:xx:xx:xx:xx:xx"; normalises to lower case. */
int vm_mac_parse(const char *s, char out[18]);
/* A random MAC in VMware's generated range 00:0c:29:xx:xx:xx. */
void vm_mac_generate(char out[18]);

/*
 * Checks that a file name from a .vmx stays inside the VM folder when
 * relative: no "..", no empty components, no control characters.
 */
int vm_path_validate(const char *what, const char *path, bool allow_absolute,
		     struct vr_error **err);

#endif
