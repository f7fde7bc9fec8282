/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hostd's disk code (src/host/storage/disk.c, disk_space.c) on real files
 * with the real qemu-img: datastore space (provisioned, used, each file
 * once, on the datastore that holds it), the per-file chain cache, disk
 * slots, growth checks and offline growth, the no-space pause bookkeeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/storage/disk.h"
#include "host/tasks.h"

#define MiB (1024ull * 1024)

struct fixture {
	char *root, *ds_a, *ds_b;
	struct hostd h;
	struct vm *vm1, *vm2;
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	int r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
	free(cmd);
}

static void write_file(const char *path, const char *text)
{
	struct vr_error *err = NULL;
	if (file_write_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err->msg);
}

static uint64_t blocks_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Allocated bytes of the regular files directly in a folder. */
static uint64_t folder_blocks(const char *dir)
{
	uint64_t total = 0;
	char *cmd = xasprintf("find '%s' -type f -printf '%%b\\n'", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	unsigned long long b;
	while (fscanf(p, "%llu", &b) == 1)
		total += b * 512;
	pclose(p);
	free(cmd);
	return total;
}

static struct vm *register_vm(struct fixture *f, const char *name)
{
	char *rel = xasprintf("%s/%s.vmx", name, name);
	struct vm *vm = NULL;
	struct vr_error *err = NULL;
	if (inventory_register(&f->h, "a", rel, &vm, &err) < 0)
		fail_msg("%s", err->msg);
	free(rel);
	return vm;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/vireo-disk-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	f->root = xstrdup(tmpl);
	f->ds_a = xasprintf("%s/a", f->root);
	f->ds_b = xasprintf("%s/b", f->root);
	sh("mkdir -p '%s/state' '%s/run' '%s/bases' '%s/vm1' '%s/vm2' '%s'", f->root, f->root,
	   f->ds_a, f->ds_a, f->ds_a, f->ds_b);
	struct hostd *h = &f->h;
	h->cfg.state_dir = xasprintf("%s/state", f->root);
	h->cfg.run_dir = xasprintf("%s/run", f->root);
	h->cfg.host_name = xstrdup("test-host");
	h->cfg.lock_renew_ms = 100;
	h->cfg.lock_lease_ms = 400;
	snprintf(h->host_id, sizeof(h->host_id), "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa");
	pthread_mutex_init(&h->lock, NULL);
	h->events = events_new(100);
	h->disk_sizes = disk_size_cache_new();
	struct vr_error *err = NULL;
	if (datastore_add(h, "a", f->ds_a, &err) < 0 || datastore_add(h, "b", f->ds_b, &err) < 0)
		fail_msg("%s", err->msg);

	/* Two VMs on datastore a whose disks share a base outside their folders. */
	sh("cd '%s' && qemu-img create -q -f qcow2 bases/base.qcow2 32M && "
	   "qemu-img create -q -f qcow2 -b ../bases/base.qcow2 -F qcow2 vm1/vm1.qcow2 && "
	   "qemu-img create -q -f qcow2 -b ../bases/base.qcow2 -F qcow2 vm2/vm2.qcow2 && "
	   "qemu-img create -q -f vmdk vm2/vm2.vmdk 8M && "
	   "head -c 1048576 /dev/urandom > vm1/tools.iso && "
	   "head -c 3000000 /dev/urandom > vm2/notes.bin",
	   f->ds_a);
	/* vm1's second disk is thick and lies on datastore b. */
	sh("qemu-img create -q -f raw -o preallocation=falloc '%s/vm1-data.img' 8M", f->ds_b);
	char *vmx1 = xasprintf(
		"displayName = \"vm1\"\nuuid.bios = \"56 4d 00 00 00 00 00 01-00 00 00 00 00 00 00 01\"\n"
		"scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\n"
		"scsi0:0.fileName = \"vm1.qcow2\"\nscsi0:1.present = \"TRUE\"\n"
		"scsi0:1.fileName = \"%s/vm1-data.img\"\nsata0.present = \"TRUE\"\n"
		"sata0:0.present = \"TRUE\"\nsata0:0.deviceType = \"cdrom-image\"\n"
		"sata0:0.fileName = \"tools.iso\"\n",
		f->ds_b);
	char *p = xasprintf("%s/vm1/vm1.vmx", f->ds_a);
	write_file(p, vmx1);
	free(p);
	free(vmx1);
	p = xasprintf("%s/vm2/vm2.vmx", f->ds_a);
	write_file(p, "displayName = \"vm2\"\n"
		      "uuid.bios = \"56 4d 00 00 00 00 00 02-00 00 00 00 00 00 00 02\"\n"
		      "scsi0.present = \"TRUE\"\nscsi0:0.present = \"TRUE\"\n"
		      "scsi0:0.fileName = \"vm2.qcow2\"\nscsi0:1.present = \"TRUE\"\n"
		      "scsi0:1.fileName = \"vm2.vmdk\"\n");
	free(p);
	f->vm1 = register_vm(f, "vm1");
	f->vm2 = register_vm(f, "vm2");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct hostd *h = &f->h;
	vm_unref(f->vm1);
	vm_unref(f->vm2);
	for (struct vm *vm = h->vms, *n; vm; vm = n) {
		n = vm->next;
		vm_unref(vm);
	}
	for (size_t i = 0; i < h->n_datastores; i++) {
		free(h->datastores[i].name);
		free(h->datastores[i].path);
	}
	free(h->datastores);
	disk_size_cache_free(h->disk_sizes);
	events_free(h->events);
	pthread_mutex_destroy(&h->lock);
	free(h->cfg.state_dir);
	free(h->cfg.run_dir);
	free(h->cfg.host_name);
	rm_rf(f->root);
	free(f->root);
	free(f->ds_a);
	free(f->ds_b);
	free(f);
	return 0;
}

static void test_floor_and_sizes(void **state)
{
	(void)state;
	assert_int_equal(disk_free_floor(0), 1 * MiB);
	assert_int_equal(disk_free_floor(96 * MiB), 1 * MiB);
	assert_int_equal(disk_free_floor(500 * MiB), 5 * MiB);
	assert_int_equal(disk_free_floor(1024 * 1024 * MiB), 64 * MiB);
	char s[32];
	disk_human_size(512, s);
	assert_string_equal(s, "512 bytes");
	disk_human_size(1536 * MiB, s);
	assert_string_equal(s, "1.5 GiB");
}

static void test_datastore_space(void **state)
{
	struct fixture *f = *state;
	struct datastore ds[2];
	struct datastore_space sp[2];
	pthread_mutex_lock(&f->h.lock);
	memcpy(ds, f->h.datastores, sizeof(ds));
	pthread_mutex_unlock(&f->h.lock);
	disk_datastores_space(&f->h, ds, 2, sp);

	struct statvfs sv;
	assert_int_equal(statvfs(f->ds_a, &sv), 0);
	assert_true(sp[0].accessible && sp[1].accessible);
	assert_int_equal(sp[0].capacity, (uint64_t)sv.f_blocks * sv.f_frsize);
	/* Disks count where their top image lies; CD-ROMs are not provisioned disks. */
	assert_int_equal(sp[0].provisioned, 32 * MiB + 32 * MiB + 8 * MiB);
	assert_int_equal(sp[1].provisioned, 8 * MiB);
	assert_int_equal(sp[0].vms, 2);
	assert_int_equal(sp[1].vms, 0);
	/* Every file once: both folders, the shared base once; vm1's data disk on b. */
	char *vm1 = xasprintf("%s/vm1", f->ds_a), *vm2 = xasprintf("%s/vm2", f->ds_a);
	char *base = xasprintf("%s/bases/base.qcow2", f->ds_a);
	char *data = xasprintf("%s/vm1-data.img", f->ds_b);
	assert_int_equal(sp[0].used, folder_blocks(vm1) + folder_blocks(vm2) + blocks_of(base));
	assert_int_equal(sp[1].used, blocks_of(data));
	assert_true(sp[1].used >= 8 * MiB);
	free(vm1);
	free(vm2);
	free(base);
	free(data);

	/* A datastore that is gone is reported, not fatal. */
	struct datastore gone = {.name = "gone", .path = "/nonexistent/vireo-datastore"};
	struct datastore_space g;
	disk_datastores_space(&f->h, &gone, 1, &g);
	assert_false(g.accessible);
	assert_int_equal(g.error, ENOENT);
}

/* Sets the virtual size in a qcow2 header (big-endian at offset 24). */
static void qcow2_poke_size(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	uint8_t be[8];
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(size >> (56 - 8 * i));
	assert_int_equal(pwrite(fd, be, 8, 24), 8);
	close(fd);
}

static void test_chain_cache(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/cache.qcow2", f->root);
	sh("qemu-img create -q -f qcow2 '%s' 16M", path);
	struct disk_image_info info;
	struct vr_error *err = NULL;
	assert_int_equal(disk_image_info_get(&f->h, path, "qcow2", &info, &err), 0);
	assert_int_equal(info.virtual_size, 16 * MiB);
	assert_int_equal(info.chain_length, 1);
	assert_false(disk_image_is_thick(&info));
	disk_image_info_clear(&info);

	/* Same size and modification time: the cached answer, qemu-img is not run. */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	qcow2_poke_size(path, 32 * MiB);
	struct timespec times[2] = {st.st_atim, st.st_mtim};
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(disk_image_info_get(&f->h, path, "qcow2", &info, &err), 0);
	assert_int_equal(info.virtual_size, 16 * MiB);
	disk_image_info_clear(&info);
	/* A new modification time: read again. */
	times[1].tv_sec += 10;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_int_equal(disk_image_info_get(&f->h, path, "qcow2", &info, &err), 0);
	assert_int_equal(info.virtual_size, 32 * MiB);
	disk_image_info_clear(&info);

	/* A chain: both files, top first. */
	char *top = xasprintf("%s/vm1/vm1.qcow2", f->ds_a);
	assert_int_equal(disk_image_info_get(&f->h, top, "qcow2", &info, &err), 0);
	assert_int_equal(info.chain_length, 2);
	assert_string_equal(info.chain_files[0], top);
	assert_non_null(strstr(info.chain_files[1], "bases/base.qcow2"));
	disk_image_info_clear(&info);
	free(top);
	assert_int_equal(disk_image_info_get(&f->h, "/nonexistent.qcow2", "qcow2", &info, &err),
			 -ENOENT);
	vr_error_freep(&err);
	free(path);
}

static void test_slots(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	pthread_mutex_lock(&f->vm1->lock);
	const struct vm_disk *d = disk_find(f->vm1, "scsi0:1", &err);
	assert_non_null(d);
	assert_int_equal(d->unit, 1);
	d = disk_find(f->vm1, "sata0:0", &err);
	assert_non_null(d);
	assert_int_equal(d->device, VM_DISK_DEVICE_CDROM);
	assert_null(disk_find(f->vm1, "scsi0:3", &err));
	assert_int_equal(err->code, ENOENT);
	assert_non_null(strstr(err->msg, "scsi0:3"));
	vr_error_freep(&err);
	static const char *const bad[] = {"scsi0", "scsi0:", "scsi00:0", "scsi0:01", "usb0:0",
					  "scsi+0:0", "scsi0:1x", "", "scsi123:0", "ide0:-1"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_null(disk_find(f->vm1, bad[i], &err));
		assert_int_equal(err->code, EINVAL);
		vr_error_freep(&err);
	}
	pthread_mutex_unlock(&f->vm1->lock);
}

static void test_disk_list(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	json_t *o = disk_list_json(&f->h, f->vm1, &err);
	assert_non_null(o);
	json_t *disks = json_object_get(o, "disks");
	assert_int_equal(json_array_size(disks), 3);
	json_t *d0 = json_array_get(disks, 0), *d1 = json_array_get(disks, 1);
	assert_string_equal(json_string_value(json_object_get(d0, "slot")), "scsi0:0");
	assert_int_equal(json_integer_value(json_object_get(d0, "capacity_bytes")), 32 * MiB);
	assert_int_equal(json_integer_value(json_object_get(d0, "chain_length")), 2);
	assert_string_equal(json_string_value(json_object_get(d0, "provisioning")), "thin");
	assert_string_equal(json_string_value(json_object_get(d0, "datastore")), "a");
	assert_string_equal(json_string_value(json_object_get(d1, "provisioning")), "thick");
	assert_string_equal(json_string_value(json_object_get(d1, "datastore")), "b");
	json_decref(o);
}

static void test_grow_checks(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	uint64_t cur = 0;
	assert_int_equal(disk_grow_check(&f->h, f->vm1, "scsi0:0", 32 * MiB, &cur, &err), 0);
	assert_int_equal(cur, 32 * MiB);
	assert_int_equal(disk_grow_check(&f->h, f->vm1, "scsi0:0", 16 * MiB, &cur, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "cannot shrink disk scsi0:0"));
	vr_error_freep(&err);
	assert_int_equal(disk_grow_check(&f->h, f->vm1, "sata0:0", 64 * MiB, &cur, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "CD-ROM"));
	vr_error_freep(&err);
	assert_int_equal(disk_grow_check(&f->h, f->vm2, "scsi0:1", 64 * MiB, &cur, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "VMDK"));
	vr_error_freep(&err);
	assert_int_equal(disk_grow_check(&f->h, f->vm1, "scsi0:9", 64 * MiB, &cur, &err), -ENOENT);
	vr_error_freep(&err);
	f->vm1->power = VM_POWER_SUSPENDED;
	assert_int_equal(disk_grow_check(&f->h, f->vm1, "scsi0:0", 64 * MiB, &cur, &err), -EBUSY);
	assert_non_null(strstr(err->msg, "suspended"));
	vr_error_freep(&err);
	f->vm1->power = VM_POWER_OFF;
	/* Plenty of space here: thin disks may run. */
	assert_int_equal(disk_check_space(&f->h, f->vm1, &err), 0);
}

struct grow_job {
	struct fixture *f;
	const char *slot;
	uint64_t size;
};

static int grow_fn(struct task *task, void *opaque, struct vr_error **err)
{
	struct grow_job *j = opaque;
	return disk_grow(&j->f->h, j->f->vm1, j->slot, j->size, task, err);
}

static json_t *run_grow(struct fixture *f, struct tasks *tasks, const char *slot, uint64_t size)
{
	struct grow_job *j = xcalloc(1, sizeof(*j));
	*j = (struct grow_job){f, slot, size};
	char id[24];
	struct vr_error *err = NULL;
	if (tasks_start(tasks, "grow", f->vm1->id, "test", grow_fn, j, free, id, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(tasks_wait(tasks, id, 60000), TASK_SUCCESS);
	return tasks_get_json(tasks, id);
}

static void test_grow_offline(void **state)
{
	struct fixture *f = *state;
	struct tasks *tasks = tasks_new();
	/* The thick disk on datastore b stays thick. */
	json_t *t = run_grow(f, tasks, "scsi0:1", 16 * MiB);
	json_t *res = json_object_get(t, "result");
	assert_false(json_is_true(json_object_get(res, "online")));
	assert_string_equal(json_string_value(json_object_get(res, "added_provisioning")),
			    "thick-lazy");
	assert_int_equal(json_integer_value(json_object_get(res, "old_size_bytes")), 8 * MiB);
	json_decref(t);
	char *data = xasprintf("%s/vm1-data.img", f->ds_b);
	assert_true(blocks_of(data) >= 16 * MiB);
	free(data);
	/* Only the top of a chain grows; its base keeps its size. */
	t = run_grow(f, tasks, "scsi0:0", 48 * MiB);
	json_decref(t);
	struct disk_image_info info;
	struct vr_error *err = NULL;
	char *top = xasprintf("%s/vm1/vm1.qcow2", f->ds_a);
	char *base = xasprintf("%s/bases/base.qcow2", f->ds_a);
	assert_int_equal(disk_image_info_get(&f->h, top, "qcow2", &info, &err), 0);
	assert_int_equal(info.virtual_size, 48 * MiB);
	assert_int_equal(info.chain_length, 2);
	disk_image_info_clear(&info);
	assert_int_equal(disk_image_info_get(&f->h, base, "qcow2", &info, &err), 0);
	assert_int_equal(info.virtual_size, 32 * MiB);
	disk_image_info_clear(&info);
	/* The lock was taken and given back. */
	char *lck = xasprintf("%s/vm1/vireo.lck", f->ds_a);
	assert_int_equal(access(lck, F_OK), -1);
	json_t *ev = events_list_json(f->h.events, 0, f->vm1->id);
	assert_true(json_array_size(ev) >= 2);
	json_decref(ev);
	free(lck);
	free(top);
	free(base);
	tasks_free(tasks);
}

static void test_pause_bookkeeping(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm2;
	/* Errors QEMU reports to the guest change nothing. */
	json_t *report = json_pack("{s:s, s:s, s:s, s:b}", "action", "report", "node-name",
				   "drive-scsi0-0", "operation", "write", "nospace", 0);
	disk_on_qmp_event(vm, "BLOCK_IO_ERROR", report);
	json_decref(report);
	assert_null(vm->paused_reason);
	/* A pause on ENOSPC: the reason at once, the event from the handler thread. */
	json_t *stop = json_pack("{s:s, s:s, s:s, s:b, s:s}", "action", "stop", "node-name",
				 "drive-scsi0-0", "operation", "write", "nospace", 1, "reason",
				 "No space left on device");
	disk_on_qmp_event(vm, "BLOCK_IO_ERROR", stop);
	disk_on_qmp_event(vm, "BLOCK_IO_ERROR", stop); /* every failed request: reported once */
	json_decref(stop);
	bool seen = false;
	for (int i = 0; i < 500 && !seen; i++) {
		json_t *ev = events_list_json(f->h.events, 0, vm->id);
		size_t k;
		json_t *e;
		size_t n = 0;
		json_array_foreach(ev, k, e) {
			if (strcmp(json_string_value(json_object_get(e, "type")), "VmPausedNoSpace") == 0)
				n++;
		}
		json_decref(ev);
		seen = n > 0;
		if (seen)
			assert_int_equal(n, 1);
		else
			usleep(10000);
	}
	assert_true(seen);
	pthread_mutex_lock(&vm->lock);
	assert_non_null(vm->paused_reason);
	/* Not running: the disk is found by its node name at power-on. */
	assert_non_null(strstr(vm->paused_reason, "datastore \"a\" is full"));
	assert_non_null(strstr(vm->paused_reason, "scsi0:0"));
	pthread_mutex_unlock(&vm->lock);
	disk_on_qmp_event(vm, "RESUME", NULL);
	assert_null(vm->paused_reason);
	/* The handler thread has dropped its reference once the refcount settles. */
	for (int i = 0; i < 500 && __atomic_load_n(&vm->refs, __ATOMIC_ACQUIRE) > 2; i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&vm->refs, __ATOMIC_ACQUIRE), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_and_sizes),
		cmocka_unit_test_setup_teardown(test_datastore_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_bookkeeping, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
