/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of cgroup.c shared with the v1/v2 variants and the tests. */
#ifndef VIREO_HOST_RESOURCES_CGROUP_PRIV_H
#define VIREO_HOST_RESOURCES_CGROUP_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "host/resources/cgroup.h"

enum res_ctl {
	RES_CTL_CPU,
	RES_CTL_CPUACCT,
	RES_CTL_MEMORY,
	RES_CTL_IO, /* v1 blkio, v2 io */
	RES_CTL_COUNT,
};

/* Where each hierarchy is mounted, from /proc/self/mountinfo. */
struct res_cgroup_mount {
	char *mount_point; /* NULL: not mounted */
	char *root;        /* the mount's root inside the hierarchy */
};

struct res_cgroup_mounts {
	struct res_cgroup_mount v2;
	struct res_cgroup_mount v1[RES_CTL_COUNT];
};

/* Parses mountinfo text; mount points are unescaped (\040 etc.). */
int res_mountinfo_parse(const char *text, struct res_cgroup_mounts *out, struct vr_error **err);
void res_cgroup_mounts_clear(struct res_cgroup_mounts *m);

/*
 * Path of the caller's group for a v1 controller name ("cpu", "memory"),
 * or for v2 when controller is NULL, from /proc/self/cgroup text.
 * Returns a new string or NULL when not listed.
 */
char *res_proc_cgroup_path(const char *text, const char *controller);

/* The variant part; everything else (attach, pids, destroy) is common. */
struct res_cgroup_ops {
	const char *version;
	/* Makes dir (a group) and, on v2, enables controllers below parent_dir. */
	int (*create)(struct res_cgroup *cg, struct vr_error **err);
	int (*apply)(struct res_cgroup *cg, const struct res_cgroup_settings *s, struct vr_error **err);
	int (*read_values)(struct res_cgroup *cg, struct res_cgroup_values *out, struct vr_error **err);
	int (*usage)(struct res_cgroup *cg, struct res_cgroup_usage *out, struct vr_error **err);
	int (*lift_cpu_limit)(struct res_cgroup *cg, struct vr_error **err);
};

extern const struct res_cgroup_ops res_cgroup_v1_ops;
extern const struct res_cgroup_ops res_cgroup_v2_ops;

struct res_cgroup_system {
	const struct res_cgroup_ops *ops;
	char *parent;
	/* Base directory per controller (NULL: controller absent; v2: all equal). */
	char *base[RES_CTL_COUNT];
	/* Mount point per controller, for paths relative to it. */
	char *mount[RES_CTL_COUNT];
	char *mount_root[RES_CTL_COUNT]; /* the mount's root inside the hierarchy */
	/* v2: whether io is offered. */
	bool v2_has_io;
};

struct res_cgroup {
	struct res_cgroup_system *sys;
	char *name;                      /* "uuid" or "pool/.../uuid", below the parent */
	char *parent_dir[RES_CTL_COUNT]; /* the parent ("vireo") group, not the direct parent */
	char *dir[RES_CTL_COUNT];
};

/*
 * Creates the levels of cg's name below its (existing) parent_dir[c], the
 * group itself last; existing ones are kept.  before_child runs on each
 * directory that is about to get a child (the parent group first), e.g.
 * to enable v2 controllers for its children.
 */
int res_cg_create_levels(struct res_cgroup *cg, int c,
			 int (*before_child)(struct res_cgroup *cg, const char *dir, struct vr_error **err),
			 struct vr_error **err);

/* ---- file helpers for the variants ---- */
/* Writes text to dir/file (opened O_WRONLY|O_TRUNC, no O_CREAT). */
int res_cg_write(const char *dir, const char *file, const char *text, struct vr_error **err);
int res_cg_writef(struct vr_error **err, const char *dir, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Reads dir/file; *out is NUL-terminated, caller frees. */
int res_cg_read(const char *dir, const char *file, char **out, struct vr_error **err);
int res_cg_read_u64(const char *dir, const char *file, uint64_t *out, struct vr_error **err);
bool res_cg_exists(const char *dir, const char *file);
/*
 * Finds "key value" in flat-keyed text (cpu.stat, memory.stat).
 * Returns 0 and *out, or -ENOENT.
 */
int res_flat_keyed_get(const char *text, const char *key, uint64_t *out);

#define RES_CPU_PERIOD_US 100000u
#define RES_CPU_QUOTA_MIN_US 1000u
/* The quota for a limit; 0 means unlimited. */
uint64_t res_cpu_quota_us(uint64_t limit_mhz, uint64_t core_mhz);

#endif
