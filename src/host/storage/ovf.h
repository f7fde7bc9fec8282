/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_OVF_H
#define VIREO_HOST_STORAGE_OVF_H

/*
 * OVF 1.x packages (DMTF DSP0243): the descriptor as a neutral struct, its
 * writer and its parser (ovf.c, libxml2), the manifest (NAME.mf, ovf.c) and
 * the ustar archive of an OVA (ovf_tar.c).  The descriptor of an imported
 * package is hostile input: see ovf_descriptor_parse().  Export and import
 * of VMs are in ovf_export.c / ovf_import.c (host/storage/ovf_vm.h).
 * See docs/storage-formats.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;

#define OVF_MAX_DESCRIPTOR (1u << 20) /* bytes */
#define OVF_MAX_FILES 16
#define OVF_MAX_DISKS 15              /* one SCSI controller: units 0-15 but 7 */
#define OVF_MAX_NICS 10
#define OVF_MAX_ITEMS 128
#define OVF_MAX_VCPUS 128
#define OVF_MAX_MEMORY_MIB (4ull << 20) /* 4 TiB */
#define OVF_MAX_NAME 80
#define OVF_MAX_FILE_NAME 200

struct ovf_file {
	char *id;   /* ovf:id */
	char *href; /* a plain file name next to the descriptor */
	uint64_t size; /* 0: not given */
};

struct ovf_disk {
	char *id;        /* DiskSection ovf:diskId */
	char *file_ref;  /* ovf:fileRef -> ovf_file.id */
	uint64_t capacity; /* bytes */
	unsigned unit;   /* AddressOnParent of its Item */
};

struct ovf_nic {
	char *subtype;   /* "E1000", "VmxNet3", "virtio" ... as written */
	char *network;   /* rasd:Connection, may be NULL */
};

struct ovf_descriptor {
	char *name;          /* VirtualSystem ovf:id / Name */
	char *os_type;       /* vmw:osType of OperatingSystemSection, may be NULL */
	unsigned vcpus;
	uint64_t memory_mib;
	char *scsi_subtype;  /* "VirtualSCSI", "lsilogic", "lsilogicsas", "virtio-scsi" */
	struct ovf_file *files;
	size_t n_files;
	struct ovf_disk *disks; /* in the order of their hardware Items */
	size_t n_disks;
	struct ovf_nic *nics;
	size_t n_nics;
	/* vmw:ExtraConfig keys we carry: the Vireo guest's direct kernel boot. */
	char *kernel, *initrd, *cmdline;
};

void ovf_descriptor_free(struct ovf_descriptor *d);
void ovf_descriptor_freep(struct ovf_descriptor **d);
#define _cleanup_ovf_ __attribute__((cleanup(ovf_descriptor_freep)))

/* The descriptor as XML (NUL-terminated, caller frees); every disk must name a file. */
char *ovf_descriptor_write(const struct ovf_descriptor *d, size_t *len_out);

/*
 * Parses a descriptor that may be hostile: at most OVF_MAX_DESCRIPTOR
 * bytes; no DOCTYPE (so no DTD, no entity at all: XXE and entity expansion
 * are refused before libxml2 sees the text), no network; file names plain
 * (no '/', no "..", no leading '.'); ids unique; each disk names a file of
 * References and each disk Item a disk of DiskSection, once; capacities
 * with their allocation units, up to 64 TiB; counts bounded as above.
 * Errors name the element at fault.
 */
int ovf_descriptor_parse(const char *text, size_t len, struct ovf_descriptor **out,
			 struct vr_error **err);

/* Whether name is a plain file name for a package member. */
bool ovf_file_name_valid(const char *name);

/* ---- manifest: "SHA256(FILE)= HEX" lines (SHA1 accepted too) ---- */

struct ovf_manifest_entry {
	char *file;
	char *algorithm; /* "SHA256" or "SHA1" */
	char *digest;    /* lower-case hex */
};

struct ovf_manifest {
	struct ovf_manifest_entry *entries;
	size_t n;
};

void ovf_manifest_free(struct ovf_manifest *m);
int ovf_manifest_parse(const char *text, size_t len, struct ovf_manifest **out,
		       struct vr_error **err);
/* The hex digest of a file (algorithm "SHA256" or "SHA1"); out holds 129 bytes. */
int ovf_file_digest(const char *path, const char *algorithm, char out[129], struct vr_error **err);

/* ---- OVA: ustar archives (ovf_tar.c) ---- */

/* Writes a ustar archive at dst (refusing an existing one) of files in dir, in order. */
int ovf_tar_write(const char *dst, const char *dir, char *const *names, struct vr_error **err);
/*
 * Extracts a ustar archive into the existing, empty folder dir: regular
 * members only, plain names (ovf_file_name_valid), no duplicates, at most
 * OVF_MAX_FILES + 2 members of at most max_member bytes each.  *names_out:
 * the members in order (strv).
 */
int ovf_tar_extract(const char *src, const char *dir, uint64_t max_member, char ***names_out,
		    struct vr_error **err);

#endif
