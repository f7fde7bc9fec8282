/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/cmdline.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"

char *qemu_cmdline_resolve_path(const char *vm_dir, const char *file_name)
{
	if (file_name[0] == '/')
		return xstrdup(file_name);
	return xasprintf("%s/%s", vm_dir, file_name);
}

bool qemu_disk_direct_supported(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno != EINVAL;
	close(fd);
	return true;
}

json_t *qemu_disk_cache_json(bool direct)
{
	return json_pack("{s:b, s:b}", "direct", direct, "no-flush", 0);
}

const char *qemu_disk_aio(bool direct)
{
	return direct ? "native" : "threads";
}

/* QEMU's option parser splits on ','; a literal comma is written ",,". */
static char *opt_escape(const char *s)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += *p == ',' ? 2 : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

static void push_json(char ***argv, const char *opt, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		abort();
	strv_push(argv, opt);
	strv_push(argv, s);
	free(s);
	json_decref(obj);
}

static const char *scsi_controller_device(enum vm_scsi_model m)
{
	switch (m) {
	case VM_SCSI_PVSCSI:
		return "pvscsi";
	case VM_SCSI_LSILOGIC:
		return "lsi53c895a";
	case VM_SCSI_LSISAS1068:
		return "mptsas1068";
	case VM_SCSI_VIRTIO:
		break;
	}
	return "virtio-scsi-pci";
}

void qemu_cmdline_disk_id(const struct vm_disk *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s%u-%u", vm_disk_bus_name(d->bus), d->controller, d->unit);
}

void qemu_cmdline_disk_node(const struct vm_disk *d, char *buf, size_t len)
{
	snprintf(buf, len, "drive-%s%u-%u", vm_disk_bus_name(d->bus), d->controller, d->unit);
}

/*
 * What a writable disk does on a write error: pause the VM on ENOSPC (a
 * full datastore; hostd reports it and `continue` retries the write once
 * there is space), report any other write error and every read error to
 * the guest, as a real disk would.  See docs/design.md.  QEMU 7.2's
 * nvme-ns has no error policy properties: its controller always completes
 * a failed write with a write-fault status.
 */
static const char *disk_error_policy(const struct vm_disk *d)
{
	if (d->device == VM_DISK_DEVICE_CDROM || d->bus == VM_DISK_BUS_NVME)
		return "";
	return ",werror=enospc,rerror=report";
}

static int add_disks(const struct vm_config *cfg, const struct qemu_launch *l, char ***argv,
		     struct vr_error **err)
{
	bool ctrl_done[4][4] = {{false}};
	bool boot_set = cfg->kernel != NULL;
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		const char *bus = vm_disk_bus_name(d->bus);
		const char *redo = i < l->n_disk_redo ? l->disk_redo[i] : NULL;
		if (d->mode == VM_DISK_MODE_INDEPENDENT_NONPERSISTENT && !redo)
			return vr_error_set(err, EINVAL,
					    "disk %s%u:%u: an independent-nonpersistent disk needs a "
					    "redo file prepared at power-on",
					    bus, d->controller, d->unit);
		if (d->bus == VM_DISK_BUS_SATA && d->unit >= 6)
			return vr_error_set(err, ENOTSUP,
					    "disk sata%u:%u: the emulated AHCI controller has 6 ports "
					    "(units 0-5)",
					    d->controller, d->unit);
		if (!ctrl_done[d->bus][d->controller] && d->bus != VM_DISK_BUS_IDE) {
			ctrl_done[d->bus][d->controller] = true;
			strv_push(argv, "-device");
			if (d->bus == VM_DISK_BUS_SCSI)
				strv_pushf(argv, "%s,id=scsi%u",
					   scsi_controller_device(cfg->scsi_model[d->controller]),
					   d->controller);
			else if (d->bus == VM_DISK_BUS_SATA)
				strv_pushf(argv, "ahci,id=sata%u", d->controller);
			else
				strv_pushf(argv, "nvme,id=nvme%u,serial=vireo-nvme%u", d->controller,
					   d->controller);
		}
		/* A nonpersistent disk runs on its redo file; the disk itself stays untouched. */
		_cleanup_free_ char *path = redo ? xstrdup(redo)
						 : qemu_cmdline_resolve_path(l->vm_dir, d->file_name);
		char node[64], fnode[64], id[QEMU_DISK_ID_MAX];
		qemu_cmdline_disk_id(d, id, sizeof(id));
		qemu_cmdline_disk_node(d, node, sizeof(node));
		snprintf(fnode, sizeof(fnode), "file-%s%u-%u", bus, d->controller, d->unit);
		bool ro = d->device == VM_DISK_DEVICE_CDROM;

		/* O_DIRECT where the file system allows it: see docs/design.md ("Disk cache mode"). */
		bool direct = !(i < l->n_disk_buffered && l->disk_buffered[i]);
		json_t *file = json_pack("{s:s, s:s, s:s, s:b, s:o, s:s}", "driver", "file",
					 "node-name", fnode, "filename", path, "read-only", ro,
					 "cache", qemu_disk_cache_json(direct), "aio",
					 qemu_disk_aio(direct));
		if (!ro)
			json_object_set_new(file, "discard", json_string("unmap"));
		push_json(argv, "-blockdev", file);
		/* On the format node too: the backing files QEMU opens below it inherit it. */
		json_t *fmt = json_pack("{s:s, s:s, s:s, s:b, s:o}", "driver",
					redo ? "qcow2" : vm_disk_format_name(d->format), "node-name", node, "file",
					fnode, "read-only", ro, "cache", qemu_disk_cache_json(direct));
		if (!ro)
			json_object_set_new(fmt, "discard", json_string("unmap"));
		push_json(argv, "-blockdev", fmt);

		_cleanup_free_ char *boot = NULL;
		if (!boot_set && d->device == VM_DISK_DEVICE_DISK) {
			boot = xstrdup(",bootindex=1");
			boot_set = true;
		} else {
			boot = xstrdup("");
		}
		strv_push(argv, "-device");
		const char *policy = disk_error_policy(d);
		switch (d->bus) {
		case VM_DISK_BUS_SCSI:
			strv_pushf(argv, "%s,bus=scsi%u.0,channel=0,scsi-id=%u,lun=0,drive=%s,id=%s%s%s",
				   ro ? "scsi-cd" : "scsi-hd", d->controller, d->unit, node, id, policy,
				   boot);
			break;
		case VM_DISK_BUS_SATA:
			strv_pushf(argv, "%s,bus=sata%u.%u,drive=%s,id=%s%s%s", ro ? "ide-cd" : "ide-hd",
				   d->controller, d->unit, node, id, policy, boot);
			break;
		case VM_DISK_BUS_NVME:
			strv_pushf(argv, "nvme-ns,bus=nvme%u,nsid=%u,drive=%s,id=%s%s", d->controller,
				   d->unit + 1, node, id, boot);
			break;
		case VM_DISK_BUS_IDE:
			/* q35's ICH9 AHCI provides buses ide.0 .. ide.5. */
			strv_pushf(argv, "%s,bus=ide.%u,drive=%s,id=%s%s%s", ro ? "ide-cd" : "ide-hd",
				   d->controller * 2 + d->unit, node, id, policy, boot);
			break;
		}
	}
	return 0;
}

static const char *nic_device(enum vm_nic_model m)
{
	switch (m) {
	case VM_NIC_VMXNET3:
		return "vmxnet3";
	case VM_NIC_E1000:
		return "e1000";
	case VM_NIC_E1000E:
		return "e1000e";
	case VM_NIC_VIRTIO:
		break;
	}
	return "virtio-net-pci";
}

static int add_nics(const struct vm_config *cfg, const struct qemu_launch *l, char ***argv,
		    struct vr_error **err)
{
	for (size_t i = 0; i < cfg->n_nics; i++) {
		const struct vm_nic *n = &cfg->nics[i];
		bool has_netdev = true;
		switch (n->connection) {
		case VM_NIC_CONN_NAT: {
			strv_push(argv, "-netdev");
			_cleanup_free_ char *fwd = NULL;
			if (n->hostfwd) {
				_cleanup_free_ char *copy = xstrdup(n->hostfwd);
				_cleanup_strv_ char **parts = NULL;
				char *save = NULL;
				for (char *t = strtok_r(copy, ",", &save); t;
				     t = strtok_r(NULL, ",", &save))
					strv_pushf(&parts, ",hostfwd=%s", t);
				fwd = strv_join(parts, "");
			}
			strv_pushf(argv, "user,id=net%u%s", n->index, fwd ? fwd : "");
			break;
		}
		case VM_NIC_CONN_BRIDGE:
			if (i >= l->n_nic_taps || !l->nic_taps[i])
				return vr_error_set(err, EINVAL,
						    "ethernet%u: no tap device was prepared for "
						    "network \"%s\"",
						    n->index, n->network_name);
			strv_push(argv, "-netdev");
			strv_pushf(argv, "tap,id=net%u,ifname=%s,script=no,downscript=no", n->index,
				   l->nic_taps[i]);
			break;
		case VM_NIC_CONN_NONE:
			has_netdev = false;
			break;
		}
		strv_push(argv, "-device");
		if (has_netdev)
			strv_pushf(argv, "%s,id=ethernet%u,netdev=net%u,mac=%s", nic_device(n->model),
				   n->index, n->index, n->mac);
		else
			strv_pushf(argv, "%s,id=ethernet%u,mac=%s", nic_device(n->model), n->index,
				   n->mac);
	}
	return 0;
}

int qemu_cmdline_build(const struct vm_config *cfg, const struct qemu_launch *l,
		       char ***argv_out, struct vr_error **err)
{
	_cleanup_strv_ char **argv = NULL;
	int r;

	if (l->accel != VM_ACCEL_KVM && l->accel != VM_ACCEL_TCG)
		return vr_error_set(err, EINVAL, "the accelerator must be resolved to kvm or tcg");
	if (cfg->firmware == VM_FIRMWARE_EFI)
		return vr_error_set(err, ENOTSUP, "firmware = \"efi\" is not supported yet");
	if (!cfg->kernel && cfg->n_disks == 0)
		return vr_error_set(err, EINVAL, "the VM has neither a disk nor a kernel to boot");

	strv_push(&argv, l->qemu_binary);
	_cleanup_free_ char *name = opt_escape(cfg->display_name);
	strv_push(&argv, "-name");
	strv_pushf(&argv, "guest=%s,debug-threads=on", name);
	strv_push(&argv, "-uuid");
	strv_push(&argv, cfg->uuid);
	strv_push(&argv, "-nodefaults");
	strv_push(&argv, "-no-user-config");
	strv_push(&argv, "-display");
	strv_push(&argv, "none");
	strv_push(&argv, "-machine");
	strv_pushf(&argv, "%s,accel=%s,usb=off,dump-guest-core=off", cfg->machine,
		   l->accel == VM_ACCEL_KVM ? "kvm" : "tcg");
	strv_push(&argv, "-cpu");
	strv_push(&argv, l->accel == VM_ACCEL_KVM ? "host" : "max");
	strv_push(&argv, "-smp");
	strv_pushf(&argv, "%u,sockets=%u,cores=%u,threads=1", cfg->vcpus,
		   cfg->vcpus / cfg->cores_per_socket, cfg->cores_per_socket);
	strv_push(&argv, "-m");
	strv_pushf(&argv, "%llu", (unsigned long long)cfg->memory_mib);
	strv_push(&argv, "-rtc");
	strv_push(&argv, "base=utc");
	strv_push(&argv, "-msg");
	strv_push(&argv, "timestamp=on");

	_cleanup_free_ char *run = opt_escape(l->run_dir);
	strv_push(&argv, "-pidfile");
	strv_pushf(&argv, "%s/qemu.pid", l->run_dir);
	strv_push(&argv, "-chardev");
	strv_pushf(&argv, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", run);
	strv_push(&argv, "-mon");
	strv_push(&argv, "chardev=qmp,mode=control");

	_cleanup_free_ char *vmdir = opt_escape(l->vm_dir);
	strv_push(&argv, "-chardev");
	strv_pushf(&argv,
		   "socket,id=serial0,path=%s/console.sock,server=on,wait=off,logfile=%s/console.log,logappend=on",
		   run, vmdir);
	strv_push(&argv, "-serial");
	strv_push(&argv, "chardev:serial0");

	strv_push(&argv, "-device");
	strv_push(&argv, "virtio-serial-pci,id=virtio-serial0");
	strv_push(&argv, "-chardev");
	strv_pushf(&argv, "socket,id=qga0,path=%s/qga.sock,server=on,wait=off", run);
	strv_push(&argv, "-device");
	strv_push(&argv, "virtserialport,bus=virtio-serial0.0,chardev=qga0,name=org.qemu.guest_agent.0");
	strv_push(&argv, "-device");
	strv_push(&argv, "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on");
	strv_push(&argv, "-object");
	strv_push(&argv, "rng-random,id=rng0,filename=/dev/urandom");
	strv_push(&argv, "-device");
	strv_push(&argv, "virtio-rng-pci,rng=rng0");

	if (cfg->kernel) {
		strv_push(&argv, "-kernel");
		strv_push_owned(&argv, qemu_cmdline_resolve_path(l->vm_dir, cfg->kernel));
		if (cfg->initrd) {
			strv_push(&argv, "-initrd");
			strv_push_owned(&argv, qemu_cmdline_resolve_path(l->vm_dir, cfg->initrd));
		}
		strv_push(&argv, "-append");
		strv_push(&argv, cfg->cmdline ? cfg->cmdline : "console=ttyS0");
	}

	r = add_disks(cfg, l, &argv, err);
	if (r < 0)
		return r;
	r = add_nics(cfg, l, &argv, err);
	if (r < 0)
		return r;

	if (l->sandbox) {
		/*
		 * -runas needs setuid()/setgid(), which elevateprivileges=deny
		 * forbids (QEMU dies with SIGSYS).  After -runas QEMU is an
		 * unprivileged user that cannot regain privileges anyway.
		 */
		strv_push(&argv, "-sandbox");
		strv_pushf(&argv, "on,obsolete=deny,elevateprivileges=%s,spawn=deny,resourcecontrol=deny",
			   l->run_as_user ? "allow" : "deny");
	}
	if (l->run_as_user) {
		strv_push(&argv, "-runas");
		strv_push(&argv, l->run_as_user);
	}
	if (l->start_paused)
		strv_push(&argv, "-S");
	if (l->incoming) {
		strv_push(&argv, "-incoming");
		strv_push(&argv, "defer");
	}
	*argv_out = steal_pointer(&argv);
	return 0;
}
