/* SPDX-License-Identifier: Apache-2.0 */
/* Datastores: named directories that hold VM folders, local or shared. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostd.h"

static char *datastores_file(struct hostd *h)
{
	return xasprintf("%s/datastores.json", h->cfg.state_dir);
}

/* Called with h->lock held. */
static int datastores_save(struct hostd *h, struct vr_error **err)
{
	json_t *a = json_array();
	for (size_t i = 0; i < h->n_datastores; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", h->datastores[i].name,
						   "path", h->datastores[i].path));
	_cleanup_free_ char *path = datastores_file(h);
	return json_state_save(path, "datastores", a, err);
}

static int datastore_add_locked(struct hostd *h, const char *name, const char *path,
				struct vr_error **err)
{
	int r = name_validate("datastore", name, err);
	if (r < 0)
		return r;
	if (path[0] != '/')
		return vr_error_set(err, EINVAL, "datastore \"%s\": path \"%s\" is not absolute", name,
				    path);
	char real[PATH_MAX];
	if (!realpath(path, real))
		return vr_error_set_errno(err, errno, "datastore \"%s\": cannot use \"%s\"", name,
					  path);
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
		return vr_error_set(err, ENOTDIR, "datastore \"%s\": \"%s\" is not a directory",
				    name, real);
	for (size_t i = 0; i < h->n_datastores; i++) {
		if (strcmp(h->datastores[i].name, name) == 0)
			return vr_error_set(err, EEXIST, "datastore \"%s\" already exists", name);
		if (strcmp(h->datastores[i].path, real) == 0)
			return vr_error_set(err, EEXIST,
					    "\"%s\" is already the datastore \"%s\"", real,
					    h->datastores[i].name);
	}
	h->datastores = xrealloc(h->datastores, (h->n_datastores + 1) * sizeof(*h->datastores));
	h->datastores[h->n_datastores].name = xstrdup(name);
	h->datastores[h->n_datastores].path = xstrdup(real);
	h->n_datastores++;
	return 0;
}

int datastores_load(struct hostd *h, struct vr_error **err)
{
	_cleanup_free_ char *path = datastores_file(h);
	json_t *o = NULL, *a = NULL;
	int r = json_state_load(path, 1 << 20, "datastores", &o, &a, err);
	if (r < 0 || !o)
		return r;
	size_t i;
	json_t *e;
	pthread_mutex_lock(&h->lock);
	json_array_foreach(a, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		const char *p = json_string_value(json_object_get(e, "path"));
		struct vr_error *e2 = NULL;
		if (!n || !p || datastore_add_locked(h, n, p, &e2) < 0)
			log_error("%s: skipping datastore entry %zu: %s", path, i,
				  e2 ? e2->msg : "missing name or path");
		vr_error_free(e2);
	}
	pthread_mutex_unlock(&h->lock);
	json_decref(o);
	return 0;
}

int datastore_add(struct hostd *h, const char *name, const char *path, struct vr_error **err)
{
	pthread_mutex_lock(&h->lock);
	int r = datastore_add_locked(h, name, path, err);
	if (r == 0) {
		r = datastores_save(h, err);
		if (r < 0) {
			h->n_datastores--;
			free(h->datastores[h->n_datastores].name);
			free(h->datastores[h->n_datastores].path);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

int datastore_remove(struct hostd *h, const char *name, struct vr_error **err)
{
	pthread_mutex_lock(&h->lock);
	size_t i;
	for (i = 0; i < h->n_datastores; i++)
		if (strcmp(h->datastores[i].name, name) == 0)
			break;
	if (i == h->n_datastores) {
		pthread_mutex_unlock(&h->lock);
		return vr_error_set(err, ENOENT, "no datastore \"%s\"", name);
	}
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		if (strcmp(vm->datastore, name) == 0) {
			pthread_mutex_unlock(&h->lock);
			return vr_error_set(err, EBUSY,
					    "datastore \"%s\" holds registered VMs (e.g. \"%s\")", name,
					    vm->rel_path);
		}
	struct datastore gone = h->datastores[i];
	memmove(&h->datastores[i], &h->datastores[i + 1],
		(h->n_datastores - i - 1) * sizeof(*h->datastores));
	h->n_datastores--;
	int r = datastores_save(h, err);
	pthread_mutex_unlock(&h->lock);
	free(gone.name);
	free(gone.path);
	return r;
}

char *datastore_path(struct hostd *h, const char *name)
{
	char *p = NULL;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_datastores; i++)
		if (strcmp(h->datastores[i].name, name) == 0)
			p = xstrdup(h->datastores[i].path);
	pthread_mutex_unlock(&h->lock);
	return p;
}

char *datastore_of_path(struct hostd *h, const char *abs_path, char **rel_out)
{
	char real[PATH_MAX];
	if (!realpath(abs_path, real))
		return NULL;
	char *name = NULL;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n_datastores; i++) {
		size_t l = strlen(h->datastores[i].path);
		if (strncmp(real, h->datastores[i].path, l) == 0 && real[l] == '/') {
			name = xstrdup(h->datastores[i].name);
			if (rel_out)
				*rel_out = xstrdup(real + l + 1);
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return name;
}
