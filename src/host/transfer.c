/* SPDX-License-Identifier: Apache-2.0 */
/* A VM folder moving out of or into this host, file by file (transfer.h). */
#include "host/transfer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/provision.h"
#include "host/storage/clone.h"
#include "host/storage/disk.h"
#include "common/vmx.h"
#include "qemu/cmdline.h"

#define MAX_FILE_SIZE (1ull << 50)
#define HOLE_BLOCK (64u * 1024u)

struct xfile {
	char *name;
	uint64_t size;
	bool done;   /* incoming: written, synced and renamed */
	bool active; /* incoming: an upload is writing it */
};

struct xfer {
	unsigned refs;
	char id[37];
	bool incoming;
	bool gone; /* ended: no longer in the list */
	uint64_t last_used_ms;
	struct xfile *files;
	size_t n_files;
	/* outgoing */
	struct vm *vm; /* a reference, with the VM's claim */
	/* incoming */
	char *datastore;
	char *folder;
	char *staging; /* absolute */
	unsigned uploads;
	struct xfer *next;
};

struct transfers {
	pthread_mutex_t lock;
	struct xfer *list;
};

struct transfers *transfers_new(void)
{
	struct transfers *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void xfer_unref(struct xfer *x)
{
	if (!x || __atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < x->n_files; i++)
		free(x->files[i].name);
	free(x->files);
	free(x->datastore);
	free(x->folder);
	free(x->staging);
	free(x);
}

/* Unlinks x (lock held) and undoes what it holds; drops the list's reference. */
static void xfer_end_locked(struct transfers *t, struct xfer *x, bool remove_staging)
{
	for (struct xfer **p = &t->list; *p; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			break;
		}
	}
	x->gone = true;
	if (x->vm) {
		vm_release(x->vm);
		vm_unref(x->vm);
		x->vm = NULL;
	}
	if (x->incoming && remove_staging && x->staging) {
		int r = rm_rf(x->staging);
		if (r < 0)
			log_warn("cannot remove the staging folder \"%s\": %s", x->staging,
				 strerror(-r));
	}
	xfer_unref(x);
}

void transfers_free(struct hostd *h, struct transfers *t)
{
	if (!t)
		return;
	(void)h;
	pthread_mutex_lock(&t->lock);
	while (t->list)
		xfer_end_locked(t, t->list, true);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void transfers_sweep(struct hostd *h)
{
	struct transfers *t = h->transfers;
	uint64_t now = time_mono_ms();
	pthread_mutex_lock(&t->lock);
	for (struct xfer *x = t->list, *next; x; x = next) {
		next = x->next;
		if (x->uploads == 0 && now - x->last_used_ms > TRANSFER_IDLE_MS) {
			log_warn("%s transfer %s unused for %u s: ended", x->incoming ? "incoming" : "outgoing",
				 x->id, TRANSFER_IDLE_MS / 1000);
			xfer_end_locked(t, x, true);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void transfers_clean_datastores(struct hostd *h)
{
	pthread_mutex_lock(&h->lock);
	_cleanup_strv_ char **paths = NULL;
	for (size_t i = 0; i < h->n_datastores; i++)
		strv_push(&paths, h->datastores[i].path);
	pthread_mutex_unlock(&h->lock);
	_cleanup_free_ char *mine = xasprintf("%s%.8s-", TRANSFER_STAGING_PREFIX, h->host_id);
	for (size_t i = 0; paths && paths[i]; i++) {
		DIR *d = opendir(paths[i]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strncmp(e->d_name, mine, strlen(mine)) != 0)
				continue;
			_cleanup_free_ char *p = xasprintf("%s/%s", paths[i], e->d_name);
			log_info("removing \"%s\", an incoming VM a stopped hostd left unfinished", p);
			rm_rf(p);
		}
		closedir(d);
	}
}

/* Finds a live transfer by id and kind, marks it used and takes a reference. */
static struct xfer *xfer_get(struct hostd *h, const char *id, bool incoming,
			     struct vr_error **err)
{
	struct transfers *t = h->transfers;
	pthread_mutex_lock(&t->lock);
	struct xfer *x = t->list;
	while (x && (x->incoming != incoming || strcmp(x->id, id) != 0))
		x = x->next;
	if (x) {
		x->last_used_ms = time_mono_ms();
		__atomic_add_fetch(&x->refs, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_unlock(&t->lock);
	if (!x)
		vr_error_set(err, ENOENT, "no %s transfer \"%s\" (ended, or unused for %u s)",
			     incoming ? "incoming" : "outgoing", id, TRANSFER_IDLE_MS / 1000);
	return x;
}

static void xfer_add(struct hostd *h, struct xfer *x)
{
	uuid_generate_str(x->id);
	x->refs = 1;
	x->last_used_ms = time_mono_ms();
	pthread_mutex_lock(&h->transfers->lock);
	x->next = h->transfers->list;
	h->transfers->list = x;
	pthread_mutex_unlock(&h->transfers->lock);
}

static json_t *files_json(const struct xfer *x)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < x->n_files; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I}", "name", x->files[i].name, "size",
						     (json_int_t)x->files[i].size));
	return arr;
}

/* A file name inside a VM folder, as a peer announces it. */
static int file_name_check(const char *name, struct vr_error **err)
{
	size_t len = strlen(name);
	if (len == 0 || len > 255)
		return vr_error_set(err, EINVAL, "file name \"%s\" must be 1 to 255 bytes", name);
	if (name[0] == '.')
		return vr_error_set(err, EINVAL, "file name \"%s\" begins with '.'", name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/' || c < 0x20 || c == 0x7f)
			return vr_error_set(err, EINVAL,
					    "file name \"%s\" contains '/' or a control character",
					    name);
	}
	if (!utf8_valid(name))
		return vr_error_set(err, EINVAL, "file name is not valid UTF-8");
	if (strcmp(name, "vireo.lck") == 0)
		return vr_error_set(err, EINVAL, "\"vireo.lck\" is a running VM's lock, not a file "
						 "that moves");
	return 0;
}

/* ---- outgoing ---- */

/* Every disk's whole chain lies in the VM's folder (no linked clone, no outside disk). */
static int check_self_contained(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	const struct vm_config *cfg = vm->cfg;
	size_t dl = strlen(vm->dir);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (!d->file_name || !*d->file_name)
			continue;
		_cleanup_free_ char *path = qemu_cmdline_resolve_path(vm->dir, d->file_name);
		if (d->device != VM_DISK_DEVICE_DISK) {
			if (strncmp(path, vm->dir, dl) != 0 || path[dl] != '/')
				return vr_error_set(err, EBUSY,
						    "its CD-ROM uses \"%s\", outside its folder; "
						    "eject it first",
						    path);
			continue;
		}
		struct disk_image_info info;
		int r = disk_image_info_get(h, path, vm_disk_format_name(d->format), &info, err);
		if (r < 0)
			return vr_error_wrap(err, "cannot read the disk \"%s\"", d->file_name);
		for (size_t j = 0; info.chain_files && info.chain_files[j]; j++) {
			_cleanup_free_ char *real = realpath(info.chain_files[j], NULL);
			const char *f = real ? real : info.chain_files[j];
			if (strncmp(f, vm->dir, dl) != 0 || f[dl] != '/' || strchr(f + dl + 1, '/')) {
				r = vr_error_set(err, EBUSY,
						 "its disk \"%s\" is built on \"%s\", outside its "
						 "folder (a linked clone?); make a full clone to move it",
						 d->file_name, f);
				break;
			}
		}
		disk_image_info_clear(&info);
		if (r < 0)
			return r;
	}
	return 0;
}

static int list_folder(struct vm *vm, struct xfer *x, struct vr_error **err)
{
	DIR *d = opendir(vm->dir);
	if (!d)
		return vr_error_set_errno(err, errno, "cannot read the folder \"%s\"", vm->dir);
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "vireo.lck") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = vr_error_set_errno(err, errno, "cannot read \"%s/%s\"", vm->dir, e->d_name);
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			r = vr_error_set(err, EBUSY,
					 "its folder holds \"%s\", which is not a regular file; only "
					 "files move",
					 e->d_name);
			break;
		}
		if ((r = file_name_check(e->d_name, err)) < 0) {
			vr_error_wrap(err, "in the folder \"%s\"", vm->dir);
			break;
		}
		if (x->n_files >= TRANSFER_MAX_FILES) {
			r = vr_error_set(err, E2BIG, "its folder holds more than %d files",
					 TRANSFER_MAX_FILES);
			break;
		}
		x->files = xrealloc(x->files, (x->n_files + 1) * sizeof(*x->files));
		x->files[x->n_files++] = (struct xfile){ .name = xstrdup(e->d_name),
							 .size = (uint64_t)st.st_size };
	}
	closedir(d);
	return r;
}

int transfer_out_start(struct hostd *h, struct vm *vm, json_t **out, struct vr_error **err)
{
	struct xfer *x = xcalloc(1, sizeof(*x));
	x->refs = 1;
	_cleanup_free_ char *label = NULL;
	char id[37];
	uuid_generate_str(id);
	label = xasprintf("migration (transfer %.8s)", id);
	int r = vm_claim(vm, label, err);
	if (r < 0) {
		xfer_unref(x);
		return r;
	}
	pthread_mutex_lock(&vm->lock);
	enum vm_power_state power = vm->power;
	pthread_mutex_unlock(&vm->lock);
	const char *name = vm->cfg ? vm->cfg->display_name : vm->id;
	if (!vm->cfg)
		r = vr_error_set(err, EINVAL, "VM \"%s\" has an invalid configuration: %s", vm->id,
				 vm->invalid_reason ? vm->invalid_reason : "unknown");
	else if (power != VM_POWER_OFF)
		r = vr_error_set(err, EBUSY, "VM \"%s\" is %s: only a powered-off VM moves its files",
				 name, vm_power_name(power));
	else if (!strchr(vm->rel_path, '/'))
		r = vr_error_set(err, EINVAL, "the .vmx of VM \"%s\" lies in the datastore's root "
					      "folder; only a VM in a folder of its own moves",
				 name);
	else if (vm->vmx && vmx_get(vm->vmx, CLONE_SOURCE_KEY))
		r = vr_error_set(err, EBUSY, "VM \"%s\" is a linked clone of \"%s\"; make a full "
					     "clone to move it",
				 name, vmx_get(vm->vmx, CLONE_SOURCE_KEY));
	if (r == 0 && (r = clone_deps_refuse_delete(vm->vmx_path, err)) < 0)
		vr_error_wrap(err, "VM \"%s\" cannot move", name);
	if (r == 0) {
		pthread_mutex_lock(&h->lock);
		size_t dl = strlen(vm->dir);
		for (struct vm *o = h->vms; o && r == 0; o = o->next)
			if (o != vm && strncmp(o->dir, vm->dir, dl) == 0 &&
			    (o->dir[dl] == '/' || o->dir[dl] == '\0'))
				r = vr_error_set(err, EBUSY,
						 "the folder of VM \"%s\" also holds VM \"[%s] %s\"",
						 name, o->datastore, o->rel_path);
		pthread_mutex_unlock(&h->lock);
	}
	if (r == 0 && (r = check_self_contained(h, vm, err)) < 0)
		vr_error_wrap(err, "VM \"%s\" cannot move", name);
	if (r == 0)
		r = list_folder(vm, x, err);
	if (r < 0) {
		vm_release(vm);
		xfer_unref(x);
		return r;
	}
	x->vm = vm_ref(vm);
	xfer_add(h, x);
	memcpy(id, x->id, sizeof(id));
	const char *folder = strrchr(vm->dir, '/');
	const char *vmx = strrchr(vm->vmx_path, '/');
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:i}", "id", x->id, "vm", vm->id,
			 "datastore", vm->datastore, "folder", folder ? folder + 1 : vm->dir, "vmx",
			 vmx ? vmx + 1 : vm->vmx_path, "files", files_json(x), "idle_timeout_s",
			 TRANSFER_IDLE_MS / 1000);
	vm_log(vm, "transfer %s: its files are being copied elsewhere", id);
	return 0;
}

int transfer_out_open(struct hostd *h, const char *id, const char *name, int *fd,
		      uint64_t *size, struct vr_error **err)
{
	struct xfer *x = xfer_get(h, id, false, err);
	if (!x)
		return -ENOENT;
	int r = vr_error_set(err, ENOENT, "transfer %s has no file \"%s\"", id, name);
	for (size_t i = 0; i < x->n_files; i++) {
		if (strcmp(x->files[i].name, name) != 0)
			continue;
		vr_error_free(*err);
		*err = NULL;
		_cleanup_free_ char *path = xasprintf("%s/%s", x->vm->dir, name);
		int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (f < 0) {
			r = vr_error_set_errno(err, errno, "cannot open \"%s\"", path);
		} else if (fstat(f, &st) < 0 || (uint64_t)st.st_size < x->files[i].size) {
			/* A log may grow meanwhile (its tail then stays behind); nothing shrinks. */
			r = vr_error_set(err, EIO, "\"%s\" changed size during the transfer", path);
			close(f);
		} else {
			*fd = f;
			*size = x->files[i].size;
			r = 0;
		}
		break;
	}
	xfer_unref(x);
	return r;
}

int transfer_out_end(struct hostd *h, const char *id, bool remove, struct vr_error **err)
{
	struct xfer *x = xfer_get(h, id, false, err);
	if (!x)
		return -ENOENT;
	int r = 0;
	if (remove) {
		/* Under the claim: nothing started it meanwhile. */
		struct vm *vm = x->vm;
		const char *name = vm->cfg ? vm->cfg->display_name : vm->id;
		vm_log(vm, "transfer %s: its copy is registered elsewhere; removing it here", id);
		r = provision_destroy(h, vm, NULL, err);
		if (r < 0)
			vr_error_wrap(err, "VM \"%s\" was copied, but removing it here failed", name);
	}
	pthread_mutex_lock(&h->transfers->lock);
	if (!x->gone)
		xfer_end_locked(h->transfers, x, false);
	pthread_mutex_unlock(&h->transfers->lock);
	xfer_unref(x);
	return r;
}

/* ---- incoming ---- */

static const struct json_field in_fields[] = {
	{ "datastore", JSON_STRING, true, 1, 80 },
	{ "folder", JSON_STRING, true, 1, 255 },
	{ "files", JSON_ARRAY, true, 1, TRANSFER_MAX_FILES },
};

static const struct json_field in_file_fields[] = {
	{ "name", JSON_STRING, true, 1, 255 },
	{ "size", JSON_INTEGER, true, 0, 0 },
};

int transfer_in_start(struct hostd *h, const json_t *body, json_t **out, struct vr_error **err)
{
	int r = json_check_object(body, in_fields, ARRAY_SIZE(in_fields), "incoming transfer",
				  err);
	if (r < 0)
		return r;
	const char *ds = json_string_value(json_object_get(body, "datastore"));
	const char *folder = json_string_value(json_object_get(body, "folder"));
	if ((r = file_name_check(folder, err)) < 0)
		return vr_error_wrap(err, "folder");
	_cleanup_free_ char *ds_path = datastore_path(h, ds);
	if (!ds_path)
		return vr_error_set(err, ENOENT, "no datastore \"%s\" on this host", ds);
	_cleanup_free_ char *final = xasprintf("%s/%s", ds_path, folder);
	struct stat st;
	if (lstat(final, &st) == 0)
		return vr_error_set(err, EEXIST, "datastore \"%s\" already has \"%s\"", ds, folder);

	struct xfer *x = xcalloc(1, sizeof(*x));
	x->refs = 1;
	x->incoming = true;
	uint64_t total = 0;
	bool has_vmx = false;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(body, "files"), i, f) {
		if ((r = json_check_object(f, in_file_fields, ARRAY_SIZE(in_file_fields), "file",
					   err)) < 0)
			break;
		const char *name = json_string_value(json_object_get(f, "name"));
		json_int_t size = json_integer_value(json_object_get(f, "size"));
		if ((r = file_name_check(name, err)) < 0)
			break;
		if (size < 0 || (uint64_t)size > MAX_FILE_SIZE) {
			r = vr_error_set(err, EINVAL, "file \"%s\": size %lld is out of range", name,
					 (long long)size);
			break;
		}
		for (size_t j = 0; j < x->n_files && r == 0; j++)
			if (strcmp(x->files[j].name, name) == 0)
				r = vr_error_set(err, EINVAL, "file \"%s\" is named twice", name);
		if (r < 0)
			break;
		size_t nl = strlen(name);
		has_vmx |= nl > 4 && strcmp(name + nl - 4, ".vmx") == 0;
		x->files = xrealloc(x->files, (x->n_files + 1) * sizeof(*x->files));
		x->files[x->n_files++] = (struct xfile){ .name = xstrdup(name), .size = (uint64_t)size };
		total += (uint64_t)size;
	}
	if (r == 0 && !has_vmx)
		r = vr_error_set(err, EINVAL, "the files hold no .vmx: not a VM folder");
	struct statvfs sv;
	if (r == 0 && statvfs(ds_path, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < total) {
		char need[32], have[32];
		disk_human_size(total, need);
		disk_human_size((uint64_t)sv.f_bavail * sv.f_frsize, have);
		r = vr_error_set(err, ENOSPC, "datastore \"%s\" has %s free; the VM's files take %s",
				 ds, have, need);
	}
	if (r < 0) {
		xfer_unref(x);
		return r;
	}
	x->datastore = xstrdup(ds);
	x->folder = xstrdup(folder);
	xfer_add(h, x);
	x->staging = xasprintf("%s/%s%.8s-%s", ds_path, TRANSFER_STAGING_PREFIX, h->host_id, x->id);
	if (mkdir(x->staging, 0755) < 0) {
		r = vr_error_set_errno(err, errno, "cannot create \"%s\"", x->staging);
		pthread_mutex_lock(&h->transfers->lock);
		free(x->staging);
		x->staging = NULL;
		xfer_end_locked(h->transfers, x, false);
		pthread_mutex_unlock(&h->transfers->lock);
		return r;
	}
	*out = json_pack("{s:s, s:s, s:s, s:i}", "id", x->id, "datastore", ds, "folder", folder,
			 "idle_timeout_s", TRANSFER_IDLE_MS / 1000);
	return 0;
}

struct transfer_upload {
	struct hostd *h;
	struct xfer *x; /* a reference */
	size_t file;
	int fd;
	char *part, *path;
	uint64_t length, written;
	unsigned char block[HOLE_BLOCK];
	size_t fill;
	EVP_MD_CTX *md;
	bool finished;
	bool released; /* counted out of the transfer's uploads (finished) */
};

struct transfer_upload *transfer_upload_begin(struct hostd *h, const char *id, const char *name,
					      uint64_t length, struct vr_error **err)
{
	struct xfer *x = xfer_get(h, id, true, err);
	if (!x)
		return NULL;
	size_t i;
	pthread_mutex_lock(&h->transfers->lock);
	for (i = 0; i < x->n_files && strcmp(x->files[i].name, name) != 0; i++)
		;
	int r = 0;
	if (i == x->n_files)
		r = vr_error_set(err, ENOENT, "incoming transfer %s has no file \"%s\"", id, name);
	else if (x->files[i].active)
		r = vr_error_set(err, EBUSY, "\"%s\" is being uploaded already", name);
	else if (x->files[i].size != length)
		r = vr_error_set(err, EINVAL, "\"%s\" was announced with %llu bytes, not %llu", name,
				 (unsigned long long)x->files[i].size, (unsigned long long)length);
	if (r == 0) {
		x->files[i].active = true;
		x->files[i].done = false;
		x->uploads++;
	}
	pthread_mutex_unlock(&h->transfers->lock);
	if (r < 0) {
		xfer_unref(x);
		return NULL;
	}
	struct transfer_upload *u = xcalloc(1, sizeof(*u));
	u->h = h;
	u->x = x;
	u->file = i;
	u->length = length;
	u->path = xasprintf("%s/%s", x->staging, name);
	u->part = xasprintf("%s/.%s.part", x->staging, name);
	u->fd = open(u->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	u->md = EVP_MD_CTX_new();
	if (u->fd < 0 || !u->md || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)) {
		vr_error_set_errno(err, u->fd < 0 ? errno : ENOMEM, "cannot create \"%s\"", u->part);
		transfer_upload_free(u);
		return NULL;
	}
	return u;
}

/* Writes the block, or skips over it when it is all zeroes (the file stays sparse). */
static int flush_block(struct transfer_upload *u, struct vr_error **err)
{
	if (u->fill == 0)
		return 0;
	bool zero = u->fill == HOLE_BLOCK && u->block[0] == 0 &&
		    memcmp(u->block, u->block + 1, HOLE_BLOCK - 1) == 0;
	if (zero) {
		if (lseek(u->fd, (off_t)u->fill, SEEK_CUR) < 0)
			return vr_error_set_errno(err, errno, "cannot write \"%s\"", u->part);
	} else {
		for (size_t off = 0; off < u->fill;) {
			ssize_t w = write(u->fd, u->block + off, u->fill - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return vr_error_set_errno(err, errno, "cannot write \"%s\"", u->part);
			off += (size_t)w;
		}
	}
	u->fill = 0;
	return 0;
}

int transfer_upload_write(struct transfer_upload *u, const void *data, size_t len,
			  struct vr_error **err)
{
	if (len > u->length - u->written)
		return vr_error_set(err, EINVAL, "more bytes than the %llu announced",
				    (unsigned long long)u->length);
	EVP_DigestUpdate(u->md, data, len);
	u->written += len;
	const unsigned char *p = data;
	while (len > 0) {
		size_t n = HOLE_BLOCK - u->fill;
		if (n > len)
			n = len;
		memcpy(u->block + u->fill, p, n);
		u->fill += n;
		p += n;
		len -= n;
		if (u->fill == HOLE_BLOCK && flush_block(u, err) < 0)
			return -EIO;
	}
	return 0;
}

int transfer_upload_finish(struct transfer_upload *u, json_t **out, struct vr_error **err)
{
	if (u->written != u->length)
		return vr_error_set(err, EINVAL, "%llu bytes arrived, %llu announced",
				    (unsigned long long)u->written, (unsigned long long)u->length);
	if (flush_block(u, err) < 0)
		return -EIO;
	if (ftruncate(u->fd, (off_t)u->length) < 0 || fsync(u->fd) < 0)
		return vr_error_set_errno(err, errno, "cannot write \"%s\"", u->part);
	close(u->fd);
	u->fd = -1;
	if (rename(u->part, u->path) < 0)
		return vr_error_set_errno(err, errno, "cannot rename \"%s\"", u->part);
	fsync_dir_of(u->path);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(u->md, md, &mdlen);
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	u->finished = true;
	/*
	 * Over now, not when the request is freed: the client has its answer
	 * and may commit at once, on another connection, before this one ends.
	 */
	pthread_mutex_lock(&u->h->transfers->lock);
	u->x->files[u->file].done = true;
	u->x->files[u->file].active = false;
	u->x->uploads--;
	u->x->last_used_ms = time_mono_ms();
	u->released = true;
	pthread_mutex_unlock(&u->h->transfers->lock);
	*out = json_pack("{s:s, s:I, s:s}", "name", u->x->files[u->file].name, "size",
			 (json_int_t)u->length, "sha256", hex);
	return 0;
}

void transfer_upload_free(struct transfer_upload *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	if (!u->finished)
		unlink(u->part);
	pthread_mutex_lock(&u->h->transfers->lock);
	if (!u->released) {
		u->x->files[u->file].active = false;
		u->x->uploads--;
		u->x->last_used_ms = time_mono_ms();
	}
	pthread_mutex_unlock(&u->h->transfers->lock);
	EVP_MD_CTX_free(u->md);
	xfer_unref(u->x);
	free(u->part);
	free(u->path);
	free(u);
}

/* The VM a same-host move replaces: unregistered, to be removed once the copy is in. */
static int replace_begin(struct hostd *h, const char *replaces, struct xfer **out,
			 struct vr_error **err)
{
	struct xfer *old = xfer_get(h, replaces, false, err);
	if (!old)
		return -ENOENT;
	int r = inventory_unregister(h, old->vm, err);
	if (r < 0) {
		xfer_unref(old);
		return vr_error_wrap(err, "cannot unregister the VM being replaced");
	}
	*out = old;
	return 0;
}

int transfer_in_commit(struct hostd *h, const char *id, const char *vmx, const char *replaces,
		       struct vm **vm, struct vr_error **err)
{
	*vm = NULL;
	struct xfer *x = xfer_get(h, id, true, err);
	if (!x)
		return -ENOENT;
	int r = 0;
	bool vmx_listed = false;
	pthread_mutex_lock(&h->transfers->lock);
	if (x->uploads)
		r = vr_error_set(err, EBUSY, "uploads are still running");
	for (size_t i = 0; r == 0 && i < x->n_files; i++) {
		if (!x->files[i].done)
			r = vr_error_set(err, EINVAL, "\"%s\" has not been uploaded",
					 x->files[i].name);
		vmx_listed |= strcmp(x->files[i].name, vmx) == 0;
	}
	pthread_mutex_unlock(&h->transfers->lock);
	if (r == 0 && !vmx_listed)
		r = vr_error_set(err, EINVAL, "\"%s\" is not one of the files", vmx);
	_cleanup_free_ char *ds_path = r == 0 ? datastore_path(h, x->datastore) : NULL;
	if (r == 0 && !ds_path)
		r = vr_error_set(err, ENOENT, "datastore \"%s\" is gone", x->datastore);
	_cleanup_free_ char *final = ds_path ? xasprintf("%s/%s", ds_path, x->folder) : NULL;
	if (r == 0 && renameat2(AT_FDCWD, x->staging, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
		r = vr_error_set_errno(err, errno, "cannot move the folder into place as \"%s\"",
				       final);
	if (r < 0) {
		xfer_unref(x);
		return r;
	}
	fsync_dir_of(final);
	struct xfer *old = NULL;
	_cleanup_free_ char *rel = xasprintf("%s/%s", x->folder, vmx);
	if (replaces && (r = replace_begin(h, replaces, &old, err)) < 0)
		goto undo_rename;
	r = inventory_register(h, x->datastore, rel, vm, err);
	if (r < 0) {
		if (old) {
			struct vm *back = NULL;
			struct vr_error *e = NULL;
			if (inventory_register(h, old->vm->datastore, old->vm->rel_path, &back, &e) <
			    0) {
				log_error("VM \"%s\": cannot register it again after a failed move: "
					  "%s",
					  old->vm->vmx_path, vr_error_msg(e));
				vr_error_free(e);
			}
			vm_unref(back);
		}
		goto undo_rename;
	}
	vm_log(*vm, "its files arrived (incoming transfer %s) and it was registered here", id);
	events_add(h->events, EVENT_INFO, (*vm)->id, "VmRelocated",
		   "VM \"%s\" moved to \"[%s] %s\"",
		   (*vm)->cfg ? (*vm)->cfg->display_name : (*vm)->id, x->datastore, rel);
	if (old) {
		/* The old folder goes: the copy is registered in its place. */
		int e = rm_rf(old->vm->dir);
		if (e < 0)
			log_warn("VM moved, but its old folder \"%s\" could not be removed: %s",
				 old->vm->dir, strerror(-e));
		pthread_mutex_lock(&h->transfers->lock);
		if (!old->gone)
			xfer_end_locked(h->transfers, old, false);
		pthread_mutex_unlock(&h->transfers->lock);
		xfer_unref(old);
	}
	pthread_mutex_lock(&h->transfers->lock);
	free(x->staging);
	x->staging = NULL; /* it is the VM's folder now */
	if (!x->gone)
		xfer_end_locked(h->transfers, x, false);
	pthread_mutex_unlock(&h->transfers->lock);
	xfer_unref(x);
	return 0;

undo_rename:
	if (rename(final, x->staging) < 0)
		log_error("cannot move \"%s\" back to \"%s\": %s", final, x->staging,
			  strerror(errno));
	xfer_unref(old);
	xfer_unref(x);
	return r;
}

int transfer_in_abort(struct hostd *h, const char *id, struct vr_error **err)
{
	struct xfer *x = xfer_get(h, id, true, err);
	if (!x)
		return -ENOENT;
	pthread_mutex_lock(&h->transfers->lock);
	if (!x->gone)
		xfer_end_locked(h->transfers, x, true);
	pthread_mutex_unlock(&h->transfers->lock);
	xfer_unref(x);
	return 0;
}
