/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Space on datastores: capacity and free space (statvfs), and for the VMs
 * registered on this host the space their disks may take (provisioned:
 * virtual sizes, from qemu-img) and the space their files take (used:
 * allocated blocks), so that thin over-commitment shows before a
 * datastore fills up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostd.h"
#include "host/storage/disk.h"
#include "qemu/cmdline.h"
#include "qemu/img.h"

#define QEMU_IMG "qemu-img"
/* Cached chains at most; past this the cache starts again (disks come and go). */
#define CACHE_MAX 4096
/* Folder depth walked below a VM folder when adding up its files. */
#define WALK_MAX_DEPTH 8

void disk_human_size(uint64_t bytes, char out[32])
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(out, 32, "%.1f %s", v, units[u]);
}

uint64_t disk_free_floor(uint64_t capacity)
{
	uint64_t floor = capacity / 100;
	if (floor < (1u << 20))
		floor = 1u << 20;
	if (floor > (64u << 20))
		floor = 64u << 20;
	return floor;
}

/* ---- the cache of image chains ---- */

struct size_entry {
	char *path;
	char *format;
	dev_t dev;
	ino_t ino;
	int64_t mtime_ns;
	off_t size;
	struct disk_image_info info;
};

struct disk_size_cache {
	pthread_mutex_t lock;
	struct size_entry *entries;
	size_t n;
};

void disk_image_info_clear(struct disk_image_info *info)
{
	strv_free(info->chain_files);
	*info = (struct disk_image_info){0};
}

static void info_copy(struct disk_image_info *dst, const struct disk_image_info *src)
{
	*dst = *src;
	dst->chain_files = NULL;
	for (size_t i = 0; src->chain_files && src->chain_files[i]; i++)
		strv_push(&dst->chain_files, src->chain_files[i]);
}

static void entry_clear(struct size_entry *e)
{
	free(e->path);
	free(e->format);
	disk_image_info_clear(&e->info);
}

struct disk_size_cache *disk_size_cache_new(void)
{
	struct disk_size_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void disk_size_cache_free(struct disk_size_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_clear(&c->entries[i]);
	free(c->entries);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static bool entry_matches(const struct size_entry *e, const char *path, const char *format,
			  const struct stat *st)
{
	return strcmp(e->path, path) == 0 && strcmp(e->format, format) == 0 &&
	       e->dev == st->st_dev && e->ino == st->st_ino && e->mtime_ns == mtime_ns(st) &&
	       e->size == st->st_size;
}

static bool cache_lookup(struct disk_size_cache *c, const char *path, const char *format,
			 const struct stat *st, struct disk_image_info *out)
{
	bool found = false;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && !found; i++) {
		if (entry_matches(&c->entries[i], path, format, st)) {
			info_copy(out, &c->entries[i].info);
			found = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void cache_store(struct disk_size_cache *c, const char *path, const char *format,
			const struct stat *st, const struct disk_image_info *info)
{
	pthread_mutex_lock(&c->lock);
	size_t i;
	for (i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].path, path) == 0 && strcmp(c->entries[i].format, format) == 0)
			break;
	if (i < c->n) {
		entry_clear(&c->entries[i]);
	} else {
		if (c->n >= CACHE_MAX) {
			for (size_t k = 0; k < c->n; k++)
				entry_clear(&c->entries[k]);
			c->n = 0;
		}
		c->entries = xrealloc(c->entries, (c->n + 1) * sizeof(*c->entries));
		i = c->n++;
	}
	struct size_entry *e = &c->entries[i];
	*e = (struct size_entry){
		.path = xstrdup(path),
		.format = xstrdup(format),
		.dev = st->st_dev,
		.ino = st->st_ino,
		.mtime_ns = mtime_ns(st),
		.size = st->st_size,
	};
	info_copy(&e->info, info);
	pthread_mutex_unlock(&c->lock);
}

int disk_image_info_get(struct hostd *h, const char *path, const char *format,
			struct disk_image_info *out, struct vr_error **err)
{
	*out = (struct disk_image_info){0};
	struct stat st;
	if (stat(path, &st) < 0)
		return vr_error_set_errno(err, errno, "disk \"%s\"", path);
	if (h->disk_sizes && cache_lookup(h->disk_sizes, path, format, &st, out))
		return 0;
	_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
	int r = qemu_img_chain_get(QEMU_IMG, path, format, &chain, err);
	if (r < 0)
		return r;
	const struct qemu_img_info *top = &chain->images[0];
	out->virtual_size = top->virtual_size;
	out->allocated = top->actual_size >= 0 ? (uint64_t)top->actual_size
					       : (uint64_t)st.st_blocks * 512;
	out->chain_length = chain->n;
	for (size_t i = 0; i < chain->n; i++)
		strv_push(&out->chain_files, chain->images[i].filename);
	if (h->disk_sizes)
		cache_store(h->disk_sizes, path, format, &st, out);
	return 0;
}

bool disk_image_is_thick(const struct disk_image_info *info)
{
	return info->allocated >= info->virtual_size;
}

/* ---- adding up the files ---- */

struct counted_file {
	dev_t dev;
	ino_t ino;
	uint64_t bytes; /* allocated */
	size_t ds;      /* index of the datastore holding it */
};

struct file_set {
	struct counted_file *files;
	size_t n, cap;
};

static void file_set_add(struct file_set *s, const struct stat *st, size_t ds)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->files = xrealloc(s->files, s->cap * sizeof(*s->files));
	}
	s->files[s->n++] = (struct counted_file){
		.dev = st->st_dev, .ino = st->st_ino, .bytes = (uint64_t)st->st_blocks * 512, .ds = ds};
}

static int file_cmp(const void *a, const void *b)
{
	const struct counted_file *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

/* Regular files below dir_fd (taken), on the folder's own file system, no symlinks followed. */
static void walk_folder(int dir_fd, dev_t dev, unsigned depth, size_t ds, struct file_set *s)
{
	DIR *d = fdopendir(dir_fd);
	if (!d) {
		close(dir_fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISREG(st.st_mode)) {
			file_set_add(s, &st, ds);
		} else if (S_ISDIR(st.st_mode) && depth < WALK_MAX_DEPTH) {
			int fd = openat(dirfd(d), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				walk_folder(fd, dev, depth + 1, ds, s);
		}
	}
	closedir(d);
}

/* Index of the datastore holding an absolute path, or n. */
static size_t datastore_index(const struct datastore *ds, size_t n, const char *path)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return n;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(ds[i].path);
		if (strncmp(real, ds[i].path, l) == 0 && real[l] == '/')
			return i;
	}
	return n;
}

/* What is needed of one VM, copied under its lock. */
struct vm_files {
	char *dir;
	char *datastore;
	char **disk_paths;
	char **disk_formats;
};

static void vm_files_take(struct vm *vm, struct vm_files *f)
{
	pthread_mutex_lock(&vm->lock);
	f->dir = xstrdup(vm->dir);
	f->datastore = xstrdup(vm->datastore);
	for (size_t i = 0; vm->cfg && i < vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &vm->cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK)
			continue;
		strv_push_owned(&f->disk_paths, qemu_cmdline_resolve_path(vm->dir, d->file_name));
		strv_push(&f->disk_formats, vm_disk_format_name(d->format));
	}
	pthread_mutex_unlock(&vm->lock);
}

static void vm_files_clear(struct vm_files *f)
{
	free(f->dir);
	free(f->datastore);
	strv_free(f->disk_paths);
	strv_free(f->disk_formats);
}

static void count_vm(struct hostd *h, struct vm *vm, const struct datastore *ds, size_t n,
		     struct datastore_space *out, struct file_set *files)
{
	struct vm_files f = {0};
	vm_files_take(vm, &f);
	size_t home = n;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ds[i].name, f.datastore) == 0)
			home = i;
	if (home < n) {
		out[home].vms++;
		int fd = open(f.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0)
			walk_folder(fd, st.st_dev, 0, home, files);
		else if (fd >= 0)
			close(fd);
	}
	for (size_t i = 0; f.disk_paths && f.disk_paths[i]; i++) {
		struct disk_image_info info;
		struct vr_error *e = NULL;
		if (disk_image_info_get(h, f.disk_paths[i], f.disk_formats[i], &info, &e) < 0) {
			/* Still counted: the provisioned space is at least what the file holds. */
			log_debug("datastore space: %s", e->msg);
			vr_error_free(e);
			struct stat st;
			size_t k = datastore_index(ds, n, f.disk_paths[i]);
			if (k < n && stat(f.disk_paths[i], &st) == 0) {
				out[k].provisioned += (uint64_t)st.st_size;
				file_set_add(files, &st, k);
			}
			continue;
		}
		size_t top = datastore_index(ds, n, f.disk_paths[i]);
		if (top < n)
			out[top].provisioned += info.virtual_size;
		/* Chain files outside the VM folder (a shared base disk) count too, once. */
		for (size_t j = 0; info.chain_files && info.chain_files[j]; j++) {
			struct stat st;
			size_t k = datastore_index(ds, n, info.chain_files[j]);
			if (k < n && stat(info.chain_files[j], &st) == 0 && S_ISREG(st.st_mode))
				file_set_add(files, &st, k);
		}
		disk_image_info_clear(&info);
	}
	vm_files_clear(&f);
}

void disk_datastores_space(struct hostd *h, const struct datastore *ds, size_t n,
			   struct datastore_space *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = (struct datastore_space){0};
		struct statvfs sv;
		if (statvfs(ds[i].path, &sv) == 0) {
			out[i].accessible = true;
			out[i].capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
			out[i].free = (uint64_t)sv.f_bavail * sv.f_frsize;
		} else {
			out[i].error = errno;
		}
	}
	/* References, so that no lock is held while qemu-img runs. */
	struct vm **vms = NULL;
	size_t n_vms = 0;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		n_vms++;
	vms = xcalloc(n_vms ? n_vms : 1, sizeof(*vms));
	n_vms = 0;
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		vms[n_vms++] = vm_ref(vm);
	pthread_mutex_unlock(&h->lock);

	struct file_set files = {0};
	for (size_t i = 0; i < n_vms; i++) {
		count_vm(h, vms[i], ds, n, out, &files);
		vm_unref(vms[i]);
	}
	free(vms);
	if (files.n)
		qsort(files.files, files.n, sizeof(*files.files), file_cmp);
	for (size_t i = 0; i < files.n; i++)
		if (i == 0 || file_cmp(&files.files[i], &files.files[i - 1]) != 0)
			out[files.files[i].ds].used += files.files[i].bytes;
	free(files.files);
}
