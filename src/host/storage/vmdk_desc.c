/* SPDX-License-Identifier: Apache-2.0 */
#include "host/storage/vmdk_desc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmx.h"
#include "host/storage/filename.h"

#define COWD_MAGIC "COWD"
#define SPARSE_FLAG_REDUNDANT_GT 0x2u

void vmdk_desc_free(struct vmdk_desc *d)
{
	if (!d)
		return;
	free(d->source);
	free(d->encoding);
	free(d->create_type_name);
	free(d->parent_file_name_hint);
	free(d->change_track_path);
	for (size_t i = 0; i < d->n_extents; i++)
		free(d->extents[i].file_name);
	free(d->extents);
	free(d->adapter_type);
	free(d->long_content_id);
	vmx_free(d->keys);
	free(d);
}

void vmdk_desc_freep(struct vmdk_desc **d)
{
	vmdk_desc_free(*d);
	*d = NULL;
}

static const struct {
	const char *name;
	enum vmdk_create_type type;
} create_types[] = {
	{"monolithicSparse", VMDK_CREATE_MONOLITHIC_SPARSE},
	{"monolithicFlat", VMDK_CREATE_MONOLITHIC_FLAT},
	{"twoGbMaxExtentSparse", VMDK_CREATE_TWO_GB_SPARSE},
	{"twoGbMaxExtentFlat", VMDK_CREATE_TWO_GB_FLAT},
	{"streamOptimized", VMDK_CREATE_STREAM_OPTIMIZED},
	{"vmfs", VMDK_CREATE_VMFS},
	{"vmfsSparse", VMDK_CREATE_VMFS_SPARSE},
	{"seSparse", VMDK_CREATE_SE_SPARSE},
};

/* Disks backed by host devices: meaningless once copied off their host. */
static const char *const device_create_types[] = {
	"fullDevice", "partitionedDevice", "vmfsRaw", "vmfsRawDeviceMap",
	"vmfsPassthroughRawDeviceMap",
};

const char *vmdk_create_type_name(enum vmdk_create_type t)
{
	for (size_t i = 0; i < ARRAY_SIZE(create_types); i++)
		if (create_types[i].type == t)
			return create_types[i].name;
	return "unknown";
}

static const struct {
	const char *name;
	enum vmdk_extent_type type;
} extent_types[] = {
	{"FLAT", VMDK_EXTENT_FLAT},
	{"SPARSE", VMDK_EXTENT_SPARSE},
	{"ZERO", VMDK_EXTENT_ZERO},
	{"VMFS", VMDK_EXTENT_VMFS},
	{"VMFSSPARSE", VMDK_EXTENT_VMFSSPARSE},
	{"SESPARSE", VMDK_EXTENT_SESPARSE},
};

/* Which extent types each create type may use (bit per enum vmdk_extent_type). */
static unsigned allowed_extents(enum vmdk_create_type t)
{
	switch (t) {
	case VMDK_CREATE_MONOLITHIC_SPARSE:
	case VMDK_CREATE_STREAM_OPTIMIZED:
	case VMDK_CREATE_TWO_GB_SPARSE:
		return 1u << VMDK_EXTENT_SPARSE;
	case VMDK_CREATE_MONOLITHIC_FLAT:
	case VMDK_CREATE_TWO_GB_FLAT:
		return 1u << VMDK_EXTENT_FLAT | 1u << VMDK_EXTENT_ZERO;
	case VMDK_CREATE_VMFS:
		return 1u << VMDK_EXTENT_VMFS | 1u << VMDK_EXTENT_FLAT | 1u << VMDK_EXTENT_ZERO;
	case VMDK_CREATE_VMFS_SPARSE:
		return 1u << VMDK_EXTENT_VMFSSPARSE;
	case VMDK_CREATE_SE_SPARSE:
		return 1u << VMDK_EXTENT_SESPARSE;
	}
	return 0;
}

/* ---- sparse header ---- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int vmdk_sparse_header_parse(const void *buf, size_t len, uint64_t file_size,
			     const char *source, struct vmdk_sparse_header *out,
			     struct vr_error **err)
{
	const uint8_t *b = buf;
	if (len < VMDK_SECTOR)
		return vr_error_set(err, EINVAL, "\"%s\" is too short (%zu bytes) for a sparse header",
				    source, len);
	if (le32(b) != VMDK_SPARSE_MAGIC)
		return vr_error_set(err, EINVAL, "\"%s\" has no VMDK sparse header (magic KDMV)",
				    source);
	struct vmdk_sparse_header h = {
		.version = le32(b + 4),
		.flags = le32(b + 8),
		.capacity = le64(b + 12),
		.grain_size = le64(b + 20),
		.descriptor_offset = le64(b + 28),
		.descriptor_size = le64(b + 36),
		.num_gtes_per_gt = le32(b + 44),
		.rgd_offset = le64(b + 48),
		.gd_offset = le64(b + 56),
		.overhead = le64(b + 64),
		.compress_algorithm = (uint16_t)(b[77] | b[78] << 8),
	};
	uint64_t file_sectors = file_size / VMDK_SECTOR;
	if (h.version < 1 || h.version > 3)
		return vr_error_set(err, ENOTSUP,
				    "\"%s\": sparse header version %u is not supported (1 to 3 are)",
				    source, h.version);
	if (h.capacity == 0 || h.capacity > VMDK_MAX_SECTORS)
		return vr_error_set(err, ERANGE,
				    "\"%s\": sparse header capacity of %llu sectors is out of range (1 sector to 64 TiB)",
				    source, (unsigned long long)h.capacity);
	if (h.grain_size == 0 || h.grain_size > 65536 || (h.grain_size & (h.grain_size - 1)))
		return vr_error_set(err, EINVAL,
				    "\"%s\": grain size of %llu sectors is not a power of two up to 65536",
				    source, (unsigned long long)h.grain_size);
	if (h.num_gtes_per_gt == 0 || h.num_gtes_per_gt > 512)
		return vr_error_set(err, EINVAL,
				    "\"%s\": %u entries per grain table is out of range (1 to 512)",
				    source, h.num_gtes_per_gt);
	if ((h.descriptor_offset == 0) != (h.descriptor_size == 0))
		return vr_error_set(err, EINVAL,
				    "\"%s\": descriptor offset %llu and size %llu disagree about whether there is a descriptor",
				    source, (unsigned long long)h.descriptor_offset,
				    (unsigned long long)h.descriptor_size);
	if (h.descriptor_size > VMDK_MAX_DESC_SIZE / VMDK_SECTOR)
		return vr_error_set(err, EFBIG,
				    "\"%s\": embedded descriptor of %llu sectors is larger than %u bytes",
				    source, (unsigned long long)h.descriptor_size, VMDK_MAX_DESC_SIZE);
	if (h.descriptor_offset > file_sectors ||
	    h.descriptor_size > file_sectors - h.descriptor_offset)
		return vr_error_set(err, EINVAL,
				    "\"%s\": embedded descriptor (sectors %llu to %llu) lies past the end of the file (%llu bytes)",
				    source, (unsigned long long)h.descriptor_offset,
				    (unsigned long long)h.descriptor_offset + h.descriptor_size,
				    (unsigned long long)file_size);
	if (h.gd_offset != VMDK_GD_AT_END && h.gd_offset >= file_sectors)
		return vr_error_set(err, EINVAL,
				    "\"%s\": grain directory at sector %llu lies past the end of the file (%llu bytes)",
				    source, (unsigned long long)h.gd_offset,
				    (unsigned long long)file_size);
	if ((h.flags & SPARSE_FLAG_REDUNDANT_GT) && h.rgd_offset >= file_sectors)
		return vr_error_set(err, EINVAL,
				    "\"%s\": redundant grain directory at sector %llu lies past the end of the file (%llu bytes)",
				    source, (unsigned long long)h.rgd_offset,
				    (unsigned long long)file_size);
	/* Line-end bytes that a text-mode transfer would have rewritten. */
	static const uint8_t line_ends[4] = {'\n', ' ', '\r', '\n'};
	static const uint8_t zero[4];
	if (memcmp(b + 73, line_ends, 4) != 0 && memcmp(b + 73, zero, 4) != 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\": the header's line-end check bytes are wrong; the file was damaged, probably by a text-mode transfer",
				    source);
	if (h.compress_algorithm > 1)
		return vr_error_set(err, ENOTSUP, "\"%s\": compression algorithm %u is not supported",
				    source, h.compress_algorithm);
	*out = h;
	return 0;
}

/* ---- descriptor text ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (hexval(s[i]) < 0)
			return false;
	return true;
}

static int parse_cid(const char *s, uint32_t *out)
{
	if (!is_hex(s, 1, 8))
		return -EINVAL;
	uint32_t v = 0;
	for (; *s; s++)
		v = v << 4 | (uint32_t)hexval(*s);
	*out = v;
	return 0;
}

/* "60 00 C2 9a 5b 2b 3c 7e-2b 54 0e 1e 5c 0d 83 9d" */
static int parse_ddb_uuid(const char *s, uint8_t out[16])
{
	for (size_t i = 0; i < 16; i++) {
		if (i > 0 && (*s == ' ' || *s == '-'))
			s++;
		if (hexval(s[0]) < 0 || hexval(s[1]) < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
	}
	return *s ? -EINVAL : 0;
}

struct parser {
	const char *source;
	unsigned flags;
	size_t lineno;
	struct vmdk_desc *d;
	size_t extents_cap;
};

/* Splits off one blank-separated token; NULL when none is left. */
static char *next_token(char **p)
{
	while (is_blank(**p))
		(*p)++;
	if (!**p)
		return NULL;
	char *t = *p;
	while (**p && !is_blank(**p))
		(*p)++;
	if (**p)
		*(*p)++ = '\0';
	return t;
}

static int parse_extent(struct parser *ps, char *line, struct vr_error **err)
{
	const char *src = ps->source;
	size_t ln = ps->lineno;
	struct vmdk_desc *d = ps->d;
	if (d->n_extents >= VMDK_MAX_EXTENTS)
		return vr_error_set(err, E2BIG, "\"%s\" line %zu: more than %d extents", src, ln,
				    VMDK_MAX_EXTENTS);
	struct vmdk_extent e = {0};
	char *p = line;
	char *access = next_token(&p), *size = next_token(&p), *type = next_token(&p);
	if (strcmp(access, "RW") == 0)
		e.access = VMDK_ACCESS_RW;
	else if (strcmp(access, "RDONLY") == 0)
		e.access = VMDK_ACCESS_RDONLY;
	else
		e.access = VMDK_ACCESS_NOACCESS;
	if (!size || !type)
		return vr_error_set(err, EINVAL,
				    "\"%s\" line %zu: an extent needs an access mode, a size and a type",
				    src, ln);
	if (parse_u64(size, 1, VMDK_MAX_SECTORS, &e.sectors) < 0)
		return vr_error_set(err, ERANGE,
				    "\"%s\" line %zu: extent size \"%.32s\" is not a number of sectors from 1 to %llu",
				    src, ln, size, (unsigned long long)VMDK_MAX_SECTORS);
	size_t t;
	for (t = 0; t < ARRAY_SIZE(extent_types); t++)
		if (strcmp(type, extent_types[t].name) == 0)
			break;
	if (t == ARRAY_SIZE(extent_types)) {
		if (strcmp(type, "VMFSRDM") == 0 || strcmp(type, "VMFSRAW") == 0)
			return vr_error_set(err, ENOTSUP,
					    "\"%s\" line %zu: extent type %s maps a host device; raw device mappings are not supported",
					    src, ln, type);
		return vr_error_set(err, EINVAL, "\"%s\" line %zu: unknown extent type \"%.32s\"",
				    src, ln, type);
	}
	e.type = extent_types[t].type;
	while (is_blank(*p))
		p++;
	if (e.type != VMDK_EXTENT_ZERO) {
		if (*p != '"')
			return vr_error_set(err, EINVAL,
					    "\"%s\" line %zu: the extent's file name must be quoted", src,
					    ln);
		char *name = p + 1, *close = strchr(name, '"');
		if (!close)
			return vr_error_set(err, EINVAL,
					    "\"%s\" line %zu: unterminated quoted file name", src, ln);
		*close = '\0';
		p = close + 1;
		if (*p && !is_blank(*p))
			return vr_error_set(err, EINVAL,
					    "\"%s\" line %zu: unexpected text after the file name", src,
					    ln);
		e.file_name = name; /* checked with the header, once the disk type is known */
	}
	char *offset = next_token(&p);
	if (offset) {
		if (e.type != VMDK_EXTENT_FLAT && e.type != VMDK_EXTENT_VMFS)
			return vr_error_set(err, EINVAL,
					    "\"%s\" line %zu: a %s extent takes no offset", src, ln,
					    type);
		if (parse_u64(offset, 0, UINT64_MAX / VMDK_SECTOR - e.sectors, &e.offset) < 0)
			return vr_error_set(err, ERANGE,
					    "\"%s\" line %zu: extent offset \"%.32s\" is not a valid number of sectors",
					    src, ln, offset);
	}
	if (next_token(&p))
		return vr_error_set(err, EINVAL, "\"%s\" line %zu: unexpected text after the extent",
				    src, ln);
	if (e.sectors > VMDK_MAX_SECTORS - d->capacity_sectors)
		return vr_error_set(err, EFBIG,
				    "\"%s\" line %zu: the extents add up to more than 64 TiB", src, ln);
	if (d->n_extents == ps->extents_cap) {
		ps->extents_cap = ps->extents_cap ? ps->extents_cap * 2 : 4;
		d->extents = xrealloc(d->extents, ps->extents_cap * sizeof(*d->extents));
	}
	if (e.file_name)
		e.file_name = xstrdup(e.file_name);
	d->extents[d->n_extents++] = e;
	d->capacity_sectors += e.sectors;
	return 0;
}

static int parse_key_value(struct parser *ps, char *line, char *eq, struct vr_error **err)
{
	const char *src = ps->source;
	size_t ln = ps->lineno;
	char *kend = eq;
	while (kend > line && is_blank(kend[-1]))
		kend--;
	*kend = '\0';
	if (!vmx_key_valid(line))
		return vr_error_set(err, EINVAL, "\"%s\" line %zu: invalid key \"%.64s\"", src, ln,
				    line);
	char *v = eq + 1;
	while (is_blank(*v))
		v++;
	size_t vlen = strlen(v);
	while (vlen > 0 && is_blank(v[vlen - 1]))
		v[--vlen] = '\0';
	if (v[0] == '"') {
		if (vlen < 2 || v[vlen - 1] != '"')
			return vr_error_set(err, EINVAL,
					    "\"%s\" line %zu: unterminated quoted value of %s", src, ln,
					    line);
		v[vlen - 1] = '\0';
		v++;
	}
	if (strchr(v, '"'))
		return vr_error_set(err, EINVAL, "\"%s\" line %zu: stray quote in the value of %s",
				    src, ln, line);
	if (vmx_get(ps->d->keys, line))
		return vr_error_set(err, EINVAL, "\"%s\" line %zu: %s is set twice", src, ln, line);
	if (ps->d->keys->n >= VMX_MAX_ENTRIES)
		return vr_error_set(err, E2BIG, "\"%s\": more than %d keys", src, VMX_MAX_ENTRIES);
	vmx_set(ps->d->keys, line, v);
	return 0;
}

static bool starts_extent(const char *line)
{
	static const char *const modes[] = {"RW", "RDONLY", "NOACCESS"};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		size_t n = strlen(modes[i]);
		if (strncmp(line, modes[i], n) == 0 && is_blank(line[n]))
			return true;
	}
	return false;
}

static int parse_lines(struct parser *ps, char *text, struct vr_error **err)
{
	char *p = text;
	if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
	    (unsigned char)p[2] == 0xbf)
		p += 3;
	while (*p) {
		ps->lineno++;
		char *eol = strchr(p, '\n');
		char *next = eol ? eol + 1 : p + strlen(p);
		if (eol)
			*eol = '\0';
		size_t n = strlen(p);
		if (n > VMDK_MAX_LINE)
			return vr_error_set(err, EINVAL, "\"%s\" line %zu: longer than %d bytes",
					    ps->source, ps->lineno, VMDK_MAX_LINE);
		while (n > 0 && (p[n - 1] == '\r' || is_blank(p[n - 1])))
			p[--n] = '\0';
		while (is_blank(*p))
			p++;
		for (const unsigned char *c = (const unsigned char *)p; *c; c++)
			if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
				return vr_error_set(err, EINVAL,
						    "\"%s\" line %zu: control character 0x%02x",
						    ps->source, ps->lineno, *c);
		int r = 0;
		if (*p && *p != '#') {
			char *eq = strchr(p, '=');
			if (starts_extent(p))
				r = parse_extent(ps, p, err);
			else if (eq)
				r = parse_key_value(ps, p, eq, err);
			else
				r = vr_error_set(err, EINVAL,
						 "\"%s\" line %zu: neither key = value nor an extent (\"%.40s\")",
						 ps->source, ps->lineno, p);
		}
		if (r < 0)
			return r;
		p = next;
	}
	return 0;
}

static int parse_u32_key(const struct vmdk_desc *d, const char *key, uint64_t min,
			 uint64_t max, uint32_t *out, const char *src, struct vr_error **err)
{
	const char *v = vmx_get(d->keys, key);
	if (!v)
		return 0;
	uint64_t n;
	if (parse_u64(v, min, max, &n) < 0)
		return vr_error_set(err, EINVAL, "\"%s\": %s \"%.32s\" is not a number from %llu to %llu",
				    src, key, v, (unsigned long long)min, (unsigned long long)max);
	*out = (uint32_t)n;
	return 0;
}

static int check_ddb(struct vmdk_desc *d, const char *src, struct vr_error **err)
{
	int r;
	/* qemu-img writes 0 cylinders for SCSI disks under 8 MiB. */
	if ((r = parse_u32_key(d, "ddb.geometry.cylinders", 0, UINT32_MAX, &d->cylinders, src,
			       err)) < 0 ||
	    (r = parse_u32_key(d, "ddb.geometry.heads", 1, 255, &d->heads, src, err)) < 0 ||
	    (r = parse_u32_key(d, "ddb.geometry.sectors", 1, 255, &d->sectors_per_track, src,
			       err)) < 0)
		return r;
	uint32_t hw = 0;
	if ((r = parse_u32_key(d, "ddb.virtualHWVersion", 1, 255, &hw, src, err)) < 0)
		return r;
	d->virtual_hw_version = hw;
	const char *v = vmx_get(d->keys, "ddb.adapterType");
	if (v) {
		size_t n = strlen(v);
		bool ok = n > 0 && n <= 32;
		for (size_t i = 0; i < n && ok; i++)
			ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
			     (v[i] >= '0' && v[i] <= '9');
		if (!ok)
			return vr_error_set(err, EINVAL,
					    "\"%s\": ddb.adapterType \"%.40s\" is not an adapter name",
					    src, v);
		d->adapter_type = xstrdup(v);
	}
	v = vmx_get(d->keys, "ddb.uuid");
	if (v) {
		if (parse_ddb_uuid(v, d->uuid) < 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\": ddb.uuid \"%.60s\" is not 16 hexadecimal bytes",
					    src, v);
		d->has_uuid = true;
	}
	v = vmx_get(d->keys, "ddb.longContentID");
	if (v) {
		if (!is_hex(v, 32, 32))
			return vr_error_set(err, EINVAL,
					    "\"%s\": ddb.longContentID \"%.40s\" is not 32 hexadecimal digits",
					    src, v);
		d->long_content_id = xstrdup(v);
	}
	return 0;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Checks the header keys and how the extents fit the create type. */
static int check_header(struct vmdk_desc *d, const char *src, const char *text, unsigned flags,
			struct vr_error **err)
{
	const char *v = vmx_get(d->keys, "version");
	uint64_t n;
	if (!v)
		return vr_error_set(err, EINVAL, "\"%s\": the descriptor has no version", src);
	if (parse_u64(v, 1, 3, &n) < 0)
		return vr_error_set(err, ENOTSUP,
				    "\"%s\": descriptor version \"%.32s\" is not supported (1 to 3 are)",
				    src, v);
	d->version = (unsigned)n;
	v = vmx_get(d->keys, "encoding");
	if (v) {
		if (strcasecmp(v, "UTF-8") != 0 && strcasecmp(v, "UTF8") != 0 && !is_ascii(text))
			return vr_error_set(err, EILSEQ,
					    "\"%s\" declares the encoding \"%.40s\" and holds non-ASCII text; only UTF-8 is supported",
					    src, v);
		d->encoding = xstrdup(v);
	}
	v = vmx_get(d->keys, "CID");
	if (!v)
		return vr_error_set(err, EINVAL, "\"%s\": the descriptor has no CID", src);
	if (parse_cid(v, &d->cid) < 0)
		return vr_error_set(err, EINVAL, "\"%s\": CID \"%.32s\" is not 1 to 8 hexadecimal digits",
				    src, v);
	d->parent_cid = 0xffffffffu;
	v = vmx_get(d->keys, "parentCID");
	if (v && parse_cid(v, &d->parent_cid) < 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\": parentCID \"%.32s\" is not 1 to 8 hexadecimal digits", src,
				    v);
	v = vmx_get(d->keys, "createType");
	if (!v)
		return vr_error_set(err, EINVAL, "\"%s\": the descriptor has no createType", src);
	size_t t;
	for (t = 0; t < ARRAY_SIZE(create_types); t++)
		if (strcmp(v, create_types[t].name) == 0)
			break;
	if (t == ARRAY_SIZE(create_types)) {
		for (size_t i = 0; i < ARRAY_SIZE(device_create_types); i++)
			if (strcmp(v, device_create_types[i]) == 0)
				return vr_error_set(err, ENOTSUP,
						    "\"%s\": createType \"%s\" is backed by a host device; such disks are not supported",
						    src, v);
		return vr_error_set(err, ENOTSUP, "\"%s\": unknown createType \"%.40s\"", src, v);
	}
	d->create_type = create_types[t].type;
	d->create_type_name = xstrdup(v);

	int r;
	v = vmx_get(d->keys, "parentFileNameHint");
	if (v) {
		if ((r = storage_file_name_check(v, flags & VMDK_DESC_ALLOW_ABSOLUTE, src,
						 "parentFileNameHint", err)) < 0)
			return r;
		d->parent_file_name_hint = xstrdup(v);
	}
	if (d->parent_cid != 0xffffffffu && !d->parent_file_name_hint)
		return vr_error_set(err, EINVAL,
				    "\"%s\" has a parent (parentCID %08x) but no parentFileNameHint",
				    src, d->parent_cid);
	if (d->parent_cid == 0xffffffffu && d->parent_file_name_hint)
		return vr_error_set(err, EINVAL,
				    "\"%s\" names a parent (\"%s\") but its parentCID says it has none",
				    src, d->parent_file_name_hint);
	v = vmx_get(d->keys, "changeTrackPath");
	if (v) {
		if ((r = storage_file_name_check(v, 0, src, "changeTrackPath", err)) < 0)
			return r;
		d->change_track_path = xstrdup(v);
	}

	if (d->n_extents == 0)
		return vr_error_set(err, EINVAL, "\"%s\": the descriptor lists no extents", src);
	for (size_t i = 0; i < d->n_extents; i++) {
		char what[48];
		snprintf(what, sizeof(what), "the file of extent %zu", i + 1);
		if (d->extents[i].file_name &&
		    (r = storage_file_name_check(d->extents[i].file_name,
						 flags & VMDK_DESC_ALLOW_ABSOLUTE, src, what, err)) < 0)
			return r;
	}
	unsigned allowed = allowed_extents(d->create_type);
	for (size_t i = 0; i < d->n_extents; i++)
		if (!(allowed & (1u << d->extents[i].type)))
			return vr_error_set(err, EINVAL,
					    "\"%s\": extent %zu is of type %s, which a %s disk cannot have",
					    src, i + 1, extent_types[d->extents[i].type].name,
					    d->create_type_name);
	if ((d->create_type == VMDK_CREATE_MONOLITHIC_SPARSE ||
	     d->create_type == VMDK_CREATE_STREAM_OPTIMIZED) &&
	    d->n_extents != 1)
		return vr_error_set(err, EINVAL, "\"%s\": a %s disk has one extent, not %zu", src,
				    d->create_type_name, d->n_extents);
	return check_ddb(d, src, err);
}

int vmdk_desc_parse(const char *text, size_t len, const char *source, unsigned flags,
		    struct vmdk_desc **out, struct vr_error **err)
{
	if (len > VMDK_MAX_DESC_SIZE)
		return vr_error_set(err, EFBIG, "\"%s\": descriptor of %zu bytes is larger than %u",
				    source, len, VMDK_MAX_DESC_SIZE);
	if (memchr(text, '\0', len))
		return vr_error_set(err, EINVAL, "\"%s\": the descriptor contains a NUL byte", source);
	_cleanup_free_ char *buf = xstrndup(text, len);
	if (!utf8_valid(buf))
		return vr_error_set(err, EILSEQ, "\"%s\": the descriptor is not valid UTF-8", source);
	_cleanup_free_ char *copy = xstrdup(buf);
	_cleanup_vmdk_desc_ struct vmdk_desc *d = xcalloc(1, sizeof(*d));
	d->keys = vmx_new();
	d->source = xstrdup(source);
	struct parser ps = {.source = source, .flags = flags, .d = d};
	int r = parse_lines(&ps, buf, err);
	if (r < 0)
		return r;
	r = check_header(d, source, copy, flags, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&d);
	return 0;
}

/* The descriptor embedded in a sparse extent is padded with NUL bytes. */
static int parse_embedded(const struct vmdk_sparse_header *h, const char *desc, size_t len,
			  const char *source, unsigned flags, struct vmdk_desc **out,
			  struct vr_error **err)
{
	const char *nul = memchr(desc, '\0', len);
	if (nul)
		len = (size_t)(nul - desc);
	if (len == 0)
		return vr_error_set(err, EINVAL,
				    "\"%s\" has no embedded descriptor: it is one extent of a larger disk; open that disk's descriptor file",
				    source);
	_cleanup_vmdk_desc_ struct vmdk_desc *d = NULL;
	int r = vmdk_desc_parse(desc, len, source, flags, &d, err);
	if (r < 0)
		return r;
	if (d->create_type != VMDK_CREATE_MONOLITHIC_SPARSE &&
	    d->create_type != VMDK_CREATE_STREAM_OPTIMIZED)
		return vr_error_set(err, EINVAL,
				    "\"%s\": an embedded descriptor cannot have createType %s", source,
				    d->create_type_name);
	if (d->extents[0].sectors != h->capacity)
		return vr_error_set(err, EINVAL,
				    "\"%s\": the descriptor says %llu sectors but the sparse header says %llu",
				    source, (unsigned long long)d->extents[0].sectors,
				    (unsigned long long)h->capacity);
	d->embedded = true;
	d->sparse = *h;
	*out = steal_pointer(&d);
	return 0;
}

static int cowd_error(const char *source, struct vr_error **err)
{
	return vr_error_set(err, EINVAL,
			    "\"%s\" is an ESX sparse extent (COWD) without a descriptor; open the disk's descriptor file",
			    source);
}

int vmdk_desc_parse_image(const void *data, size_t len, const char *source, unsigned flags,
			  struct vmdk_desc **out, struct vr_error **err)
{
	const uint8_t *b = data;
	if (len >= 4 && le32(b) == VMDK_SPARSE_MAGIC) {
		struct vmdk_sparse_header h;
		int r = vmdk_sparse_header_parse(data, len, len, source, &h, err);
		if (r < 0)
			return r;
		return parse_embedded(&h, (const char *)b + h.descriptor_offset * VMDK_SECTOR,
				      h.descriptor_size * VMDK_SECTOR, source, flags, out, err);
	}
	if (len >= 4 && memcmp(b, COWD_MAGIC, 4) == 0)
		return cowd_error(source, err);
	if (len > VMDK_MAX_DESC_SIZE)
		return vr_error_set(err, EINVAL,
				    "\"%s\" is not a VMDK descriptor: %zu bytes and no sparse header",
				    source, len);
	/*
	 * QEMU rewrites a descriptor file in place when it updates the CID and
	 * pads it with NUL bytes to whole sectors: padding ends the text, as it
	 * does for QEMU and VMware.  A NUL followed by more text is refused.
	 */
	const char *nul = memchr(data, '\0', len);
	if (nul) {
		size_t text_len = (size_t)(nul - (const char *)data);
		for (size_t i = text_len; i < len; i++)
			if (b[i] != 0)
				return vr_error_set(err, EINVAL,
						    "\"%s\": the descriptor contains a NUL byte at offset %zu followed by more text",
						    source, text_len);
		len = text_len;
	}
	return vmdk_desc_parse(data, len, source, flags, out, err);
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off, const char *path,
		      struct vr_error **err)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vr_error_set_errno(err, errno, "cannot read \"%s\"", path);
		if (r == 0)
			return vr_error_set(err, EIO, "\"%s\" ended while being read", path);
		done += (size_t)r;
	}
	return 0;
}

int vmdk_desc_load(const char *path, unsigned flags, struct vmdk_desc **out,
		   struct vr_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open \"%s\"", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return vr_error_set_errno(err, errno, "cannot stat \"%s\"", path);
	if (!S_ISREG(st.st_mode))
		return vr_error_set(err, EINVAL, "\"%s\" is not a regular file", path);
	uint64_t size = (uint64_t)st.st_size;
	uint8_t head[VMDK_SECTOR];
	size_t head_len = size < sizeof(head) ? (size_t)size : sizeof(head);
	int r = pread_full(fd, head, head_len, 0, path, err);
	if (r < 0)
		return r;
	if (head_len >= 4 && le32(head) == VMDK_SPARSE_MAGIC) {
		struct vmdk_sparse_header h;
		if ((r = vmdk_sparse_header_parse(head, head_len, size, path, &h, err)) < 0)
			return r;
		size_t dlen = (size_t)(h.descriptor_size * VMDK_SECTOR);
		_cleanup_free_ char *desc = xmalloc(dlen ? dlen : 1);
		if ((r = pread_full(fd, desc, dlen, h.descriptor_offset * VMDK_SECTOR, path, err)) < 0)
			return r;
		return parse_embedded(&h, desc, dlen, path, flags, out, err);
	}
	if (size > VMDK_MAX_DESC_SIZE) {
		if (head_len >= 4 && memcmp(head, COWD_MAGIC, 4) == 0)
			return cowd_error(path, err);
		return vr_error_set(err, EINVAL,
				    "\"%s\" is not a VMDK descriptor: %llu bytes and no sparse header",
				    path, (unsigned long long)size);
	}
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if ((r = file_read_all(path, VMDK_MAX_DESC_SIZE, &text, &len, err)) < 0)
		return r;
	return vmdk_desc_parse_image(text, len, path, flags, out, err);
}

/* ---- the files of a disk ---- */

static void push_unique(char ***v, const char *s)
{
	for (size_t i = 0; *v && (*v)[i]; i++)
		if (strcmp((*v)[i], s) == 0)
			return;
	strv_push(v, s);
}

char **vmdk_desc_files(const struct vmdk_desc *d, const char *descriptor_name)
{
	char **v = NULL;
	strv_push(&v, descriptor_name);
	/* An embedded descriptor's only extent is the file itself, whatever it is called. */
	for (size_t i = 0; i < d->n_extents && !d->embedded; i++)
		if (d->extents[i].file_name)
			push_unique(&v, d->extents[i].file_name);
	if (d->change_track_path)
		push_unique(&v, d->change_track_path);
	return v;
}

static int check_extent_file(const struct vmdk_desc *d, const struct vmdk_extent *e, size_t idx,
			     const char *dir, struct vr_error **err)
{
	_cleanup_free_ char *path = storage_file_name_is_absolute(e->file_name)
					    ? xstrdup(e->file_name)
					    : xasprintf("%s/%s", dir, e->file_name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "\"%s\" extent %zu: cannot open \"%s\"",
					  d->source, idx + 1, path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return vr_error_set_errno(err, errno, "\"%s\" extent %zu: cannot stat \"%s\"",
					  d->source, idx + 1, path);
	if (!S_ISREG(st.st_mode))
		return vr_error_set(err, EINVAL, "\"%s\" extent %zu: \"%s\" is not a regular file",
				    d->source, idx + 1, path);
	uint64_t size = (uint64_t)st.st_size;
	uint8_t head[VMDK_SECTOR];
	size_t head_len = size < sizeof(head) ? (size_t)size : sizeof(head);
	switch (e->type) {
	case VMDK_EXTENT_FLAT:
	case VMDK_EXTENT_VMFS: {
		uint64_t need = (e->offset + e->sectors) * VMDK_SECTOR;
		if (size < need)
			return vr_error_set(err, EINVAL,
					    "\"%s\" extent %zu: \"%s\" is %llu bytes but the descriptor needs %llu",
					    d->source, idx + 1, path, (unsigned long long)size,
					    (unsigned long long)need);
		return 0;
	}
	case VMDK_EXTENT_SPARSE: {
		int r = pread_full(fd, head, head_len, 0, path, err);
		struct vmdk_sparse_header h;
		if (r < 0 || (r = vmdk_sparse_header_parse(head, head_len, size, path, &h, err)) < 0)
			return vr_error_wrap(err, "\"%s\" extent %zu", d->source, idx + 1);
		if (h.capacity != e->sectors)
			return vr_error_set(err, EINVAL,
					    "\"%s\" extent %zu: \"%s\" holds %llu sectors but the descriptor says %llu",
					    d->source, idx + 1, path, (unsigned long long)h.capacity,
					    (unsigned long long)e->sectors);
		return 0;
	}
	case VMDK_EXTENT_VMFSSPARSE: {
		int r = pread_full(fd, head, head_len, 0, path, err);
		if (r < 0)
			return r;
		if (head_len < 4 || memcmp(head, COWD_MAGIC, 4) != 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\" extent %zu: \"%s\" is not an ESX sparse extent (no COWD magic)",
					    d->source, idx + 1, path);
		return 0;
	}
	case VMDK_EXTENT_SESPARSE:
	case VMDK_EXTENT_ZERO:
		return 0;
	}
	return 0;
}

int vmdk_desc_check_extents(const struct vmdk_desc *d, const char *dir, struct vr_error **err)
{
	if (d->embedded)
		return 0; /* the header was checked when the descriptor was read */
	for (size_t i = 0; i < d->n_extents; i++) {
		if (!d->extents[i].file_name)
			continue;
		int r = check_extent_file(d, &d->extents[i], i, dir, err);
		if (r < 0)
			return r;
	}
	return 0;
}
