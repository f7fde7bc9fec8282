/* SPDX-License-Identifier: Apache-2.0 */
/* Finding the cgroup hierarchy, the VM groups' life cycle, file helpers. */
#include "host/resources/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/resources/cgroup_priv.h"

#define CG_FILE_MAX (1u << 20)

/* ---- file helpers ---- */

int res_cg_write(const char *dir, const char *file, const char *text, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open %s", path);
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	if (n < 0)
		return vr_error_set_errno(err, errno, "cannot write \"%s\" to %s", text, path);
	if ((size_t)n != len)
		return vr_error_set(err, EIO, "short write of \"%s\" to %s", text, path);
	return 0;
}

int res_cg_writef(struct vr_error **err, const char *dir, const char *file, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	return res_cg_write(dir, file, text, err);
}

int res_cg_read(const char *dir, const char *file, char **out, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	return file_read_all(path, CG_FILE_MAX, out, NULL, err);
}

int res_cg_read_u64(const char *dir, const char *file, uint64_t *out, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = res_cg_read(dir, file, &text, err);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = '\0';
	if (parse_u64(text, 0, UINT64_MAX, out) < 0)
		return vr_error_set(err, EPROTO, "%s/%s holds \"%s\", not a number", dir, file, text);
	return 0;
}

bool res_cg_exists(const char *dir, const char *file)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

int res_flat_keyed_get(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, klen) != 0 || line[klen] != ' ')
			continue;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(line + klen + 1, &end, 10);
		if (errno || end == line + klen + 1 || (*end != '\n' && *end != '\0'))
			return -EPROTO;
		*out = v;
		return 0;
	}
	return -ENOENT;
}

uint64_t res_cpu_quota_us(uint64_t limit_mhz, uint64_t core_mhz)
{
	if (limit_mhz == 0 || core_mhz == 0)
		return 0;
	uint64_t q = (RES_CPU_PERIOD_US * limit_mhz + core_mhz / 2) / core_mhz;
	return q < RES_CPU_QUOTA_MIN_US ? RES_CPU_QUOTA_MIN_US : q;
}

/* ---- mountinfo and /proc/self/cgroup ---- */

static char *unescape_octal(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
		    s[i + 3] >= '0' && s[i + 3] <= '7') {
			out[o++] = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

void res_cgroup_mounts_clear(struct res_cgroup_mounts *m)
{
	free(m->v2.mount_point);
	free(m->v2.root);
	for (int i = 0; i < RES_CTL_COUNT; i++) {
		free(m->v1[i].mount_point);
		free(m->v1[i].root);
	}
	memset(m, 0, sizeof(*m));
}

static const char *const v1_option_names[RES_CTL_COUNT] = {
	[RES_CTL_CPU] = "cpu",
	[RES_CTL_CPUACCT] = "cpuacct",
	[RES_CTL_MEMORY] = "memory",
	[RES_CTL_IO] = "blkio",
};

static bool option_listed(const char *opts, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = opts; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static void set_mount(struct res_cgroup_mount *m, const char *root, const char *mp)
{
	if (m->mount_point)
		return; /* the first mount of a hierarchy wins */
	m->mount_point = xstrdup(mp);
	m->root = xstrdup(root);
}

int res_mountinfo_parse(const char *text, struct res_cgroup_mounts *out, struct vr_error **err)
{
	memset(out, 0, sizeof(*out));
	int lineno = 0;
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		lineno++;
		size_t len = strcspn(line, "\n");
		_cleanup_free_ char *copy = xstrndup(line, len);
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		char *fields[64];
		int nf = 0;
		char *save = NULL;
		for (char *tok = strtok_r(copy, " ", &save); tok && nf < 64; tok = strtok_r(NULL, " ", &save))
			fields[nf++] = tok;
		int sep = -1;
		for (int i = 6; i < nf; i++)
			if (strcmp(fields[i], "-") == 0) {
				sep = i;
				break;
			}
		if (nf < 5 || sep < 0 || sep + 3 > nf) {
			res_cgroup_mounts_clear(out);
			return vr_error_set(err, EPROTO, "mountinfo line %d is malformed", lineno);
		}
		const char *fstype = fields[sep + 1];
		const char *super = sep + 3 < nf ? fields[sep + 3] : "";
		_cleanup_free_ char *root = unescape_octal(fields[3], strlen(fields[3]));
		_cleanup_free_ char *mp = unescape_octal(fields[4], strlen(fields[4]));
		if (strcmp(fstype, "cgroup2") == 0) {
			set_mount(&out->v2, root, mp);
		} else if (strcmp(fstype, "cgroup") == 0) {
			for (int c = 0; c < RES_CTL_COUNT; c++)
				if (option_listed(super, v1_option_names[c]))
					set_mount(&out->v1[c], root, mp);
		}
	}
	return 0;
}

char *res_proc_cgroup_path(const char *text, const char *controller)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		const char *c1 = memchr(line, ':', len);
		if (!c1)
			continue;
		const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
		if (!c2)
			continue;
		_cleanup_free_ char *ctls = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
		bool match = controller ? option_listed(ctls, controller)
					: (ctls[0] == '\0' && strncmp(line, "0:", 2) == 0);
		if (match)
			return xstrndup(c2 + 1, len - (size_t)(c2 + 1 - line));
	}
	return NULL;
}

/* mount point + (self path relative to the mount's root), or the mount point. */
static char *base_dir(const struct res_cgroup_mount *m, const char *self_path)
{
	if (!self_path)
		return xstrdup(m->mount_point);
	const char *rel = self_path;
	size_t rl = strlen(m->root);
	if (strcmp(m->root, "/") != 0 && strncmp(self_path, m->root, rl) == 0 &&
	    (self_path[rl] == '/' || self_path[rl] == '\0'))
		rel = self_path + rl;
	while (*rel == '/')
		rel++;
	if (!*rel)
		return xstrdup(m->mount_point);
	return xasprintf("%s/%s", m->mount_point, rel);
}

static bool word_listed(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

void res_cgroup_system_free(struct res_cgroup_system *sys)
{
	if (!sys)
		return;
	free(sys->parent);
	for (int i = 0; i < RES_CTL_COUNT; i++) {
		free(sys->base[i]);
		free(sys->mount[i]);
		free(sys->mount_root[i]);
	}
	free(sys);
}

static void res_cgroup_system_freep(struct res_cgroup_system **sys)
{
	res_cgroup_system_free(*sys);
}

int res_cgroup_system_open(const struct res_cgroup_params *params, struct res_cgroup_system **out,
			   struct vr_error **err)
{
	static const struct res_cgroup_params defaults = {0};
	if (!params)
		params = &defaults;
	const char *parent = params->parent ? params->parent : "vireo";
	int r = name_validate("cgroup", parent, err);
	if (r < 0)
		return r;
	const char *mi_path = params->mountinfo_path ? params->mountinfo_path : "/proc/self/mountinfo";
	_cleanup_free_ char *mi = NULL;
	r = file_read_all(mi_path, CG_FILE_MAX, &mi, NULL, err);
	if (r < 0)
		return r;
	struct res_cgroup_mounts mounts;
	r = res_mountinfo_parse(mi, &mounts, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot find the cgroup hierarchies in %s", mi_path);
	_cleanup_free_ char *self = NULL;
	if (params->base == RES_CGROUP_BASE_SELF) {
		const char *p = params->self_cgroup_path ? params->self_cgroup_path : "/proc/self/cgroup";
		r = file_read_all(p, CG_FILE_MAX, &self, NULL, err);
		if (r < 0) {
			res_cgroup_mounts_clear(&mounts);
			return r;
		}
	}
	_cleanup_(res_cgroup_system_freep) struct res_cgroup_system *sys = xcalloc(1, sizeof(*sys));
	sys->parent = xstrdup(parent);

	/* v2 when its mount offers cpu and memory at our base. */
	if (mounts.v2.mount_point) {
		_cleanup_free_ char *sp = self ? res_proc_cgroup_path(self, NULL) : NULL;
		_cleanup_free_ char *base = base_dir(&mounts.v2, sp);
		_cleanup_free_ char *ctls = NULL;
		if (res_cg_read(base, "cgroup.controllers", &ctls, NULL) == 0 &&
		    word_listed(ctls, "cpu") && word_listed(ctls, "memory")) {
			sys->ops = &res_cgroup_v2_ops;
			sys->v2_has_io = word_listed(ctls, "io");
			for (int c = 0; c < RES_CTL_COUNT; c++)
				if (c != RES_CTL_IO || sys->v2_has_io) {
					sys->base[c] = xstrdup(base);
					sys->mount[c] = xstrdup(mounts.v2.mount_point);
					sys->mount_root[c] = xstrdup(mounts.v2.root);
				}
		}
	}
	if (!sys->ops) {
		for (int c = 0; c < RES_CTL_COUNT; c++) {
			if (!mounts.v1[c].mount_point)
				continue;
			_cleanup_free_ char *sp = self ? res_proc_cgroup_path(self, v1_option_names[c]) : NULL;
			if (self && !sp) {
				res_cgroup_mounts_clear(&mounts);
				return vr_error_set(err, ENOENT, "the %s controller is mounted at %s but this process's cgroup for it is not listed",
						    v1_option_names[c], mounts.v1[c].mount_point);
			}
			sys->base[c] = base_dir(&mounts.v1[c], sp);
			sys->mount[c] = xstrdup(mounts.v1[c].mount_point);
			sys->mount_root[c] = xstrdup(mounts.v1[c].root);
		}
		if (!sys->base[RES_CTL_CPU] || !sys->base[RES_CTL_CPUACCT] || !sys->base[RES_CTL_MEMORY]) {
			bool v2 = mounts.v2.mount_point != NULL;
			_cleanup_strv_ char **missing = NULL;
			for (int c = RES_CTL_CPU; c <= RES_CTL_MEMORY; c++)
				if (!sys->base[c])
					strv_push(&missing, v1_option_names[c]);
			_cleanup_free_ char *list = strv_join(missing, ", ");
			res_cgroup_mounts_clear(&mounts);
			return vr_error_set(err, EOPNOTSUPP, "no usable cgroup hierarchy: cgroup v2 %s, and v1 lacks %s",
					    v2 ? "offers no cpu and memory controllers" : "is not mounted", list);
		}
		sys->ops = &res_cgroup_v1_ops;
	}
	res_cgroup_mounts_clear(&mounts);
	log_debug("cgroups: using %s, cpu base %s", sys->ops->version, sys->base[RES_CTL_CPU]);
	*out = steal_pointer(&sys);
	return 0;
}

const char *res_cgroup_system_version(const struct res_cgroup_system *sys)
{
	return sys->ops->version;
}

/* Whether controller c shares its directory with an earlier one (co-mounted, or v2). */
static bool dir_seen_before(char *const *dirs, int c)
{
	for (int i = 0; i < c; i++)
		if (dirs[i] && strcmp(dirs[i], dirs[c]) == 0)
			return true;
	return false;
}

int res_cgroup_system_remove_parent(struct res_cgroup_system *sys, struct vr_error **err)
{
	char *dirs[RES_CTL_COUNT] = {0};
	int r = 0;
	for (int c = 0; c < RES_CTL_COUNT; c++)
		if (sys->base[c])
			dirs[c] = xasprintf("%s/%s", sys->base[c], sys->parent);
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		if (!dirs[c] || dir_seen_before(dirs, c))
			continue;
		if (rmdir(dirs[c]) < 0 && errno != ENOENT && r == 0)
			r = vr_error_set_errno(err, errno, "cannot remove cgroup %s", dirs[c]);
	}
	for (int c = 0; c < RES_CTL_COUNT; c++)
		free(dirs[c]);
	return r;
}

void res_cgroup_free(struct res_cgroup *cg)
{
	if (!cg)
		return;
	free(cg->name);
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		free(cg->dir[c]);
		free(cg->parent_dir[c]);
	}
	free(cg);
}

void res_cgroup_freep(struct res_cgroup **cg)
{
	res_cgroup_free(*cg);
	*cg = NULL;
}

static struct res_cgroup *cgroup_new(struct res_cgroup_system *sys, const char *name)
{
	struct res_cgroup *cg = xcalloc(1, sizeof(*cg));
	cg->sys = sys;
	cg->name = xstrdup(name);
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		if (!sys->base[c])
			continue;
		cg->parent_dir[c] = xasprintf("%s/%s", sys->base[c], sys->parent);
		cg->dir[c] = xasprintf("%s/%s", cg->parent_dir[c], name);
	}
	return cg;
}

int res_cgroup_name_validate(const char *name, struct vr_error **err)
{
	if (!name || !*name)
		return vr_error_set(err, EINVAL, "cgroup name is empty");
	size_t levels = 0;
	for (const char *p = name;; levels++) {
		size_t len = strcspn(p, "/");
		if (levels >= RES_CGROUP_MAX_LEVELS)
			return vr_error_set(err, EINVAL, "cgroup name \"%s\" has more than %d levels", name,
					    RES_CGROUP_MAX_LEVELS);
		_cleanup_free_ char *part = xstrndup(p, len);
		int r = name_validate("cgroup", part, err);
		if (r < 0)
			return r;
		if (!p[len])
			break;
		p += len + 1;
	}
	return 0;
}

int res_cg_create_levels(struct res_cgroup *cg, int c,
			 int (*before_child)(struct res_cgroup *cg, const char *dir, struct vr_error **err),
			 struct vr_error **err)
{
	_cleanup_free_ char *dir = xstrdup(cg->dir[c]);
	/* dir is parent_dir + "/" + name; each '/' from there ends one parent level. */
	char *slash = dir + strlen(cg->parent_dir[c]);
	for (;;) {
		*slash = '\0';
		int r = before_child ? before_child(cg, dir, err) : 0;
		if (r < 0)
			return r;
		*slash = '/';
		char *next = strchr(slash + 1, '/');
		if (next)
			*next = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return vr_error_set_errno(err, errno, "cannot create cgroup %s", dir);
		if (!next)
			return 0;
		*next = '/';
		slash = next;
	}
}

int res_cgroup_create(struct res_cgroup_system *sys, const char *name, struct res_cgroup **out,
		      struct vr_error **err)
{
	int r = res_cgroup_name_validate(name, err);
	if (r < 0)
		return r;
	_cleanup_(res_cgroup_freep) struct res_cgroup *cg = cgroup_new(sys, name);
	r = sys->ops->create(cg, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create the cgroup of \"%s\"", name);
	*out = steal_pointer(&cg);
	return 0;
}

int res_cgroup_open(struct res_cgroup_system *sys, const char *name, struct res_cgroup **out,
		    struct vr_error **err)
{
	int r = res_cgroup_name_validate(name, err);
	if (r < 0)
		return r;
	_cleanup_(res_cgroup_freep) struct res_cgroup *cg = cgroup_new(sys, name);
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		struct stat st;
		if (cg->dir[c] && stat(cg->dir[c], &st) < 0)
			return vr_error_set_errno(err, errno, "cannot open the cgroup of \"%s\" (%s)", name,
						  cg->dir[c]);
	}
	*out = steal_pointer(&cg);
	return 0;
}

int res_cgroup_find_process(struct res_cgroup_system *sys, pid_t pid, char **name, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/cgroup", (int)pid);
	_cleanup_free_ char *text = NULL;
	int r = file_read_all(path, CG_FILE_MAX, &text, NULL, err);
	if (r < 0)
		return r;
	bool v2 = sys->ops == &res_cgroup_v2_ops;
	_cleanup_free_ char *in = res_proc_cgroup_path(text, v2 ? NULL : "cpu");
	const char *root = sys->mount_root[RES_CTL_CPU], *mount = sys->mount[RES_CTL_CPU];
	if (!in || !root || !mount)
		return vr_error_set(err, ENOENT, "process %d is in no cpu cgroup", (int)pid);
	const char *rel = in;
	size_t rl = strlen(root);
	if (strcmp(root, "/") != 0) {
		if (strncmp(in, root, rl) != 0 || (in[rl] != '/' && in[rl] != '\0'))
			return vr_error_set(err, ENOENT, "process %d is in cgroup %s, outside %s", (int)pid, in, mount);
		rel = in + rl;
	}
	_cleanup_free_ char *dir = xasprintf("%s%s%s", mount, *rel == '/' ? "" : "/", rel);
	_cleanup_free_ char *top = xasprintf("%s/%s/", sys->base[RES_CTL_CPU], sys->parent);
	if (!str_has_prefix(dir, top) || !dir[strlen(top)])
		return vr_error_set(err, ENOENT, "process %d is in cgroup %s, not below %s", (int)pid, dir, top);
	*name = xstrdup(dir + strlen(top));
	return 0;
}

int res_cgroup_lift_cpu_limit(struct res_cgroup *cg, struct vr_error **err)
{
	return cg->sys->ops->lift_cpu_limit(cg, err);
}

/* Lifts the limits of every group below name, deepest first, then name's own. */
static int lift_below(struct res_cgroup_system *sys, const char *name, unsigned levels, struct vr_error **err)
{
	_cleanup_(res_cgroup_freep) struct res_cgroup *cg = cgroup_new(sys, name);
	DIR *d = opendir(cg->dir[RES_CTL_CPU]);
	if (!d)
		return errno == ENOENT ? 0 : vr_error_set_errno(err, errno, "cannot list cgroup %s", cg->dir[RES_CTL_CPU]);
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (levels + 1 >= RES_CGROUP_MAX_LEVELS) {
			r = vr_error_set(err, ELOOP, "cgroup %s is nested too deep", cg->dir[RES_CTL_CPU]);
			break;
		}
		_cleanup_free_ char *child = xasprintf("%s/%s", name, e->d_name);
		r = lift_below(sys, child, levels + 1, err);
	}
	closedir(d);
	return r < 0 ? r : sys->ops->lift_cpu_limit(cg, err);
}

int res_cgroup_children(struct res_cgroup_system *sys, const char *name, char ***out, struct vr_error **err)
{
	if (name) {
		int r = res_cgroup_name_validate(name, err);
		if (r < 0)
			return r;
	}
	_cleanup_free_ char *dir = name ? xasprintf("%s/%s/%s", sys->base[RES_CTL_CPU], sys->parent, name)
					: xasprintf("%s/%s", sys->base[RES_CTL_CPU], sys->parent);
	*out = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : vr_error_set_errno(err, errno, "cannot list cgroup %s", dir);
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && e->d_name[0] != '.')
			strv_push(out, e->d_name);
	closedir(d);
	return 0;
}

int res_cgroup_lift_cpu_limit_tree(struct res_cgroup_system *sys, const char *name, struct vr_error **err)
{
	int r = res_cgroup_name_validate(name, err);
	return r < 0 ? r : lift_below(sys, name, 0, err);
}

int res_cgroup_open_partial(struct res_cgroup_system *sys, const char *name, struct res_cgroup **out,
			    struct vr_error **err)
{
	int r = res_cgroup_name_validate(name, err);
	if (r < 0)
		return r;
	_cleanup_(res_cgroup_freep) struct res_cgroup *cg = cgroup_new(sys, name);
	struct stat st;
	if (stat(cg->dir[RES_CTL_CPU], &st) < 0)
		return vr_error_set_errno(err, errno, "cannot open the cgroup of \"%s\" (%s)", name,
					  cg->dir[RES_CTL_CPU]);
	*out = steal_pointer(&cg);
	return 0;
}

const char *res_cgroup_name(const struct res_cgroup *cg)
{
	return cg->name;
}

const char *res_cgroup_rel_path(const struct res_cgroup *cg)
{
	const char *dir = cg->dir[RES_CTL_CPU], *mount = cg->sys->mount[RES_CTL_CPU];
	size_t n = mount ? strlen(mount) : 0;
	if (!dir || !mount || strncmp(dir, mount, n) != 0)
		return dir;
	if (strcmp(mount, "/") == 0)
		return dir + 1;
	return dir[n] == '/' ? dir + n + 1 : dir + n;
}

const char *res_cgroup_dir(const struct res_cgroup *cg, const char *controller)
{
	static const char *const names[RES_CTL_COUNT] = {"cpu", "cpuacct", "memory", "io"};
	for (int c = 0; c < RES_CTL_COUNT; c++)
		if (strcmp(controller, names[c]) == 0 || (c == RES_CTL_IO && strcmp(controller, "blkio") == 0))
			return cg->dir[c];
	return NULL;
}

int res_cgroup_settings_validate(const struct res_cgroup_settings *s, struct vr_error **err)
{
	if (s->cpu_shares < 1)
		return vr_error_set(err, EINVAL, "CPU shares must be at least 1");
	if (s->cpu_limit_mhz) {
		if (!s->host_core_mhz)
			return vr_error_set(err, EINVAL, "a CPU limit of %llu MHz needs the host's MHz per core",
					    (unsigned long long)s->cpu_limit_mhz);
		if (s->cpu_limit_mhz > UINT64_MAX / RES_CPU_PERIOD_US)
			return vr_error_set(err, EINVAL, "CPU limit of %llu MHz is out of range",
					    (unsigned long long)s->cpu_limit_mhz);
	}
	if (s->mem_limit_mib > (UINT64_MAX >> 21))
		return vr_error_set(err, EINVAL, "memory limit of %llu MiB is out of range",
				    (unsigned long long)s->mem_limit_mib);
	if (s->mem_limit_mib && s->mem_reservation_mib > s->mem_limit_mib)
		return vr_error_set(err, EINVAL, "memory reservation of %llu MiB is above the limit of %llu MiB",
				    (unsigned long long)s->mem_reservation_mib,
				    (unsigned long long)s->mem_limit_mib);
	if (s->mem_reservation_mib > (UINT64_MAX >> 21))
		return vr_error_set(err, EINVAL, "memory reservation of %llu MiB is out of range",
				    (unsigned long long)s->mem_reservation_mib);
	if (s->io_weight > 1000)
		return vr_error_set(err, EINVAL, "disk weight %u is out of range 1..1000", s->io_weight);
	for (size_t i = 0; i < s->n_io_devices; i++)
		if (s->io_devices[i].weight < 1 || s->io_devices[i].weight > 1000)
			return vr_error_set(err, EINVAL, "disk weight %u for device %u:%u is out of range 1..1000",
					    s->io_devices[i].weight, s->io_devices[i].major,
					    s->io_devices[i].minor);
	return 0;
}

int res_cgroup_apply(struct res_cgroup *cg, const struct res_cgroup_settings *s, struct vr_error **err)
{
	int r = res_cgroup_settings_validate(s, err);
	if (r >= 0)
		r = cg->sys->ops->apply(cg, s, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot apply the resource settings of \"%s\"", cg->name);
	return 0;
}

int res_cgroup_read_values(struct res_cgroup *cg, struct res_cgroup_values *out, struct vr_error **err)
{
	memset(out, 0, sizeof(*out));
	int r = cg->sys->ops->read_values(cg, out, err);
	return r < 0 ? vr_error_wrap(err, "cannot read the cgroup of \"%s\"", cg->name) : 0;
}

int res_cgroup_usage(struct res_cgroup *cg, struct res_cgroup_usage *out, struct vr_error **err)
{
	memset(out, 0, sizeof(*out));
	int r = cg->sys->ops->usage(cg, out, err);
	return r < 0 ? vr_error_wrap(err, "cannot read the usage of \"%s\"", cg->name) : 0;
}

int res_cgroup_attach(struct res_cgroup *cg, pid_t pid, struct vr_error **err)
{
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		if (!cg->dir[c] || dir_seen_before(cg->dir, c))
			continue;
		int r = res_cg_writef(err, cg->dir[c], "cgroup.procs", "%d", (int)pid);
		if (r < 0)
			return vr_error_wrap(err, "cannot move process %d into the cgroup of \"%s\"", (int)pid,
					     cg->name);
	}
	return 0;
}

int res_cgroup_pids(struct res_cgroup *cg, pid_t **pids, size_t *n, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = res_cg_read(cg->dir[RES_CTL_CPU], "cgroup.procs", &text, err);
	if (r < 0)
		return r;
	pid_t *v = NULL;
	size_t count = 0;
	for (char *p = text; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		v = xrealloc(v, (count + 1) * sizeof(*v));
		v[count++] = (pid_t)pid;
		p = end + strspn(end, "\n");
	}
	*pids = v;
	*n = count;
	return 0;
}

int res_cgroup_destroy(struct res_cgroup *cg, struct vr_error **err)
{
	for (int c = 0; c < RES_CTL_COUNT; c++) {
		if (!cg->dir[c] || dir_seen_before(cg->dir, c))
			continue;
		if (rmdir(cg->dir[c]) == 0 || errno == ENOENT)
			continue;
		int e = errno;
		if (e == EBUSY) {
			_cleanup_free_ pid_t *pids = NULL;
			size_t n = 0;
			_cleanup_free_ char *list = NULL;
			if (res_cgroup_pids(cg, &pids, &n, NULL) == 0 && n > 0) {
				char **v = NULL;
				for (size_t i = 0; i < n && i < 8; i++)
					strv_pushf(&v, "%d", (int)pids[i]);
				list = strv_join(v, ", ");
				strv_free(v);
			}
			return vr_error_set(err, EBUSY,
					    "cannot remove the cgroup of \"%s\" (%s): it still holds %zu process%s%s%s%s",
					    cg->name, cg->dir[c], n, n == 1 ? "" : "es", list ? " (pid " : "",
					    list ? list : "", list ? (n > 8 ? ", ...)" : ")") : "");
		}
		return vr_error_set_errno(err, e, "cannot remove the cgroup of \"%s\" (%s)", cg->name, cg->dir[c]);
	}
	return 0;
}
