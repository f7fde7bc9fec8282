/* SPDX-License-Identifier: Apache-2.0 */
/* OVF descriptors (writer and hostile-input parser) and manifests; see ovf.h. */
#include "host/storage/ovf.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VSSD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define NS_VMW "http://www.vmware.com/schema/ovf"
#define FORMAT_STREAM "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
#define MAX_CAPACITY (64ull << 40)

void ovf_descriptor_free(struct ovf_descriptor *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_files; i++) {
		free(d->files[i].id);
		free(d->files[i].href);
	}
	for (size_t i = 0; i < d->n_disks; i++) {
		free(d->disks[i].id);
		free(d->disks[i].file_ref);
	}
	for (size_t i = 0; i < d->n_nics; i++) {
		free(d->nics[i].subtype);
		free(d->nics[i].network);
	}
	free(d->files);
	free(d->disks);
	free(d->nics);
	free(d->name);
	free(d->os_type);
	free(d->scsi_subtype);
	free(d->kernel);
	free(d->initrd);
	free(d->cmdline);
	free(d);
}

void ovf_descriptor_freep(struct ovf_descriptor **d)
{
	ovf_descriptor_free(*d);
}

bool ovf_file_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > OVF_MAX_FILE_NAME || name[0] == '.' || strstr(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

/* ---- writer ---- */

static const xmlChar *X(const char *s)
{
	return (const xmlChar *)s;
}

static xmlNodePtr child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	return xmlNewTextChild(parent, ns, X(name), text ? X(text) : NULL);
}

static void item(xmlNodePtr hw, xmlNsPtr rasd, unsigned instance, const char *name,
		 unsigned type, const char *subtype, const char *units, const char *quantity,
		 int parent, int address, const char *host_resource, const char *connection)
{
	xmlNodePtr it = xmlNewChild(hw, hw->ns, X("Item"), NULL);
	char buf[32];
	if (address >= 0) {
		snprintf(buf, sizeof(buf), "%d", address);
		child(it, rasd, "AddressOnParent", buf);
	}
	if (units)
		child(it, rasd, "AllocationUnits", units);
	if (connection)
		child(it, rasd, "Connection", connection);
	child(it, rasd, "ElementName", name);
	if (host_resource)
		child(it, rasd, "HostResource", host_resource);
	snprintf(buf, sizeof(buf), "%u", instance);
	child(it, rasd, "InstanceID", buf);
	if (parent >= 0) {
		snprintf(buf, sizeof(buf), "%d", parent);
		child(it, rasd, "Parent", buf);
	}
	if (subtype)
		child(it, rasd, "ResourceSubType", subtype);
	snprintf(buf, sizeof(buf), "%u", type);
	child(it, rasd, "ResourceType", buf);
	if (quantity)
		child(it, rasd, "VirtualQuantity", quantity);
}

static void extra_config(xmlNodePtr hw, xmlNsPtr ovf, xmlNsPtr vmw, const char *key,
			 const char *value)
{
	if (!value)
		return;
	xmlNodePtr e = xmlNewChild(hw, vmw, X("ExtraConfig"), NULL);
	xmlNewNsProp(e, ovf, X("required"), X("false"));
	xmlNewNsProp(e, vmw, X("key"), X(key));
	xmlNewNsProp(e, vmw, X("value"), X(value));
}

char *ovf_descriptor_write(const struct ovf_descriptor *d, size_t *len_out)
{
	xmlDocPtr doc = xmlNewDoc(X("1.0"));
	xmlNodePtr env = xmlNewNode(NULL, X("Envelope"));
	xmlDocSetRootElement(doc, env);
	xmlNsPtr ovf = xmlNewNs(env, X(NS_OVF), X("ovf"));
	xmlNsPtr dflt = xmlNewNs(env, X(NS_OVF), NULL);
	xmlNsPtr rasd = xmlNewNs(env, X(NS_RASD), X("rasd"));
	xmlNsPtr vssd = xmlNewNs(env, X(NS_VSSD), X("vssd"));
	xmlNsPtr vmw = xmlNewNs(env, X(NS_VMW), X("vmw"));
	xmlSetNs(env, dflt);
	char buf[64];

	xmlNodePtr refs = xmlNewChild(env, dflt, X("References"), NULL);
	for (size_t i = 0; i < d->n_files; i++) {
		xmlNodePtr f = xmlNewChild(refs, dflt, X("File"), NULL);
		xmlNewNsProp(f, ovf, X("href"), X(d->files[i].href));
		xmlNewNsProp(f, ovf, X("id"), X(d->files[i].id));
		if (d->files[i].size) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->files[i].size);
			xmlNewNsProp(f, ovf, X("size"), X(buf));
		}
	}
	xmlNodePtr ds = xmlNewChild(env, dflt, X("DiskSection"), NULL);
	child(ds, dflt, "Info", "Virtual disk information");
	for (size_t i = 0; i < d->n_disks; i++) {
		xmlNodePtr k = xmlNewChild(ds, dflt, X("Disk"), NULL);
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->disks[i].capacity);
		xmlNewNsProp(k, ovf, X("capacity"), X(buf));
		xmlNewNsProp(k, ovf, X("capacityAllocationUnits"), X("byte"));
		xmlNewNsProp(k, ovf, X("diskId"), X(d->disks[i].id));
		xmlNewNsProp(k, ovf, X("fileRef"), X(d->disks[i].file_ref));
		xmlNewNsProp(k, ovf, X("format"), X(FORMAT_STREAM));
	}
	xmlNodePtr ns = xmlNewChild(env, dflt, X("NetworkSection"), NULL);
	child(ns, dflt, "Info", "The list of logical networks");
	for (size_t i = 0; i < d->n_nics; i++) {
		const char *net = d->nics[i].network ? d->nics[i].network : "VM Network";
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(d->nics[j].network ? d->nics[j].network : "VM Network", net) == 0;
		if (seen)
			continue;
		xmlNodePtr n = xmlNewChild(ns, dflt, X("Network"), NULL);
		xmlNewNsProp(n, ovf, X("name"), X(net));
		child(n, dflt, "Description", "The network");
	}
	xmlNodePtr vs = xmlNewChild(env, dflt, X("VirtualSystem"), NULL);
	xmlNewNsProp(vs, ovf, X("id"), X(d->name));
	child(vs, dflt, "Info", "A virtual machine");
	child(vs, dflt, "Name", d->name);
	xmlNodePtr os = xmlNewChild(vs, dflt, X("OperatingSystemSection"), NULL);
	xmlNewNsProp(os, ovf, X("id"), X("1"));
	if (d->os_type)
		xmlNewNsProp(os, vmw, X("osType"), X(d->os_type));
	child(os, dflt, "Info", "The kind of installed guest operating system");
	xmlNodePtr hw = xmlNewChild(vs, dflt, X("VirtualHardwareSection"), NULL);
	child(hw, dflt, "Info", "Virtual hardware requirements");
	xmlNodePtr sys = xmlNewChild(hw, dflt, X("System"), NULL);
	child(sys, vssd, "ElementName", "Virtual Hardware Family");
	child(sys, vssd, "InstanceID", "0");
	child(sys, vssd, "VirtualSystemIdentifier", d->name);
	child(sys, vssd, "VirtualSystemType", "vmx-19");
	unsigned id = 1;
	snprintf(buf, sizeof(buf), "%u", d->vcpus);
	item(hw, rasd, id++, "virtual CPU(s)", 3, NULL, "hertz * 10^6", buf, -1, -1, NULL, NULL);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->memory_mib);
	item(hw, rasd, id++, "memory", 4, NULL, "byte * 2^20", buf, -1, -1, NULL, NULL);
	unsigned scsi = id++;
	item(hw, rasd, scsi, "SCSI Controller 0", 6, d->scsi_subtype, NULL, NULL, -1, 0, NULL, NULL);
	for (size_t i = 0; i < d->n_disks; i++) {
		char res[128];
		snprintf(res, sizeof(res), "ovf:/disk/%s", d->disks[i].id);
		snprintf(buf, sizeof(buf), "Hard Disk %zu", i + 1);
		item(hw, rasd, id++, buf, 17, NULL, NULL, NULL, (int)scsi, (int)d->disks[i].unit, res,
		     NULL);
	}
	for (size_t i = 0; i < d->n_nics; i++) {
		snprintf(buf, sizeof(buf), "Network adapter %zu", i + 1);
		item(hw, rasd, id++, buf, 10, d->nics[i].subtype, NULL, NULL, -1, (int)i, NULL,
		     d->nics[i].network ? d->nics[i].network : "VM Network");
	}
	extra_config(hw, ovf, vmw, "vireo.kernel", d->kernel);
	extra_config(hw, ovf, vmw, "vireo.initrd", d->initrd);
	extra_config(hw, ovf, vmw, "vireo.cmdline", d->cmdline);

	xmlChar *mem = NULL;
	int len = 0;
	xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
	xmlFreeDoc(doc);
	char *out = xstrndup((const char *)mem, (size_t)len);
	xmlFree(mem);
	if (len_out)
		*len_out = (size_t)len;
	return out;
}

/* ---- parser ---- */

static bool is_el(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, X(name)) == 0;
}

static xmlNodePtr first_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent->children; c; c = c->next)
		if (is_el(c, name))
			return c;
	return NULL;
}

/* The text of an element: text and CDATA children only (no entity references). */
static int el_text(xmlNodePtr n, const char *what, char **out, struct vr_error **err)
{
	size_t len = 0;
	char *s = xstrdup("");
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (c->type == XML_COMMENT_NODE)
			continue;
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) {
			free(s);
			return vr_error_set(err, EINVAL, "element %s: only text is expected", what);
		}
		size_t add = strlen((const char *)c->content);
		if (len + add > 4096) {
			free(s);
			return vr_error_set(err, EINVAL, "element %s: text too long", what);
		}
		s = xrealloc(s, len + add + 1);
		memcpy(s + len, c->content, add + 1);
		len += add;
	}
	/* trim */
	size_t b = 0;
	while (s[b] == ' ' || s[b] == '\n' || s[b] == '\t' || s[b] == '\r')
		b++;
	size_t e = strlen(s);
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\t' || s[e - 1] == '\r'))
		e--;
	*out = xstrndup(s + b, e - b);
	free(s);
	return 0;
}

static char *prop(xmlNodePtr n, const char *name, const char *ns)
{
	xmlChar *v = xmlGetNsProp(n, X(name), X(ns));
	if (!v)
		return NULL;
	char *s = xstrdup((const char *)v);
	xmlFree(v);
	return s;
}

static int parse_number(const char *s, uint64_t max, const char *what, uint64_t *out,
			struct vr_error **err)
{
	if (!s || parse_u64(s, 0, max, out) < 0)
		return vr_error_set(err, EINVAL, "%s: \"%s\" is not a whole number up to %llu", what,
				    s ? s : "(missing)", (unsigned long long)max);
	return 0;
}

/* "byte", "byte * 2^N", "byte * 10^N", "KiloBytes", "MegaBytes", "GigaBytes". */
static int alloc_units(const char *u, const char *what, unsigned *shift, uint64_t *mult,
		       struct vr_error **err)
{
	*shift = 0;
	*mult = 1;
	if (!u || strcmp(u, "byte") == 0 || strcmp(u, "bytes") == 0)
		return 0;
	if (strcmp(u, "KiloBytes") == 0 || strcmp(u, "MegaBytes") == 0 ||
	    strcmp(u, "GigaBytes") == 0) {
		*shift = u[0] == 'K' ? 10 : u[0] == 'M' ? 20 : 30;
		return 0;
	}
	unsigned base = 0, exp = 0;
	int used = 0;
	if (sscanf(u, "byte * %u^%u%n", &base, &exp, &used) == 2 && (size_t)used == strlen(u)) {
		if (base == 2 && exp <= 40) {
			*shift = exp;
			return 0;
		}
		if (base == 10 && exp <= 12) {
			for (unsigned i = 0; i < exp; i++)
				*mult *= 10;
			return 0;
		}
	}
	return vr_error_set(err, EINVAL, "%s: allocation units \"%s\" are not understood", what, u);
}

static int scaled(uint64_t v, unsigned shift, uint64_t mult, uint64_t max, const char *what,
		  uint64_t *out, struct vr_error **err)
{
	if ((shift && v > (max >> shift)) || (mult > 1 && v > max / mult) || (v << shift) * mult > max)
		return vr_error_set(err, EINVAL, "%s: %llu units is more than the %llu allowed", what,
				    (unsigned long long)v, (unsigned long long)max);
	*out = (v << shift) * mult;
	return 0;
}

static int parse_references(xmlNodePtr refs, struct ovf_descriptor *d, struct vr_error **err)
{
	for (xmlNodePtr f = refs ? refs->children : NULL; f; f = f->next) {
		if (!is_el(f, "File"))
			continue;
		if (d->n_files == OVF_MAX_FILES)
			return vr_error_set(err, EINVAL, "References: more than %d files",
					    OVF_MAX_FILES);
		d->files = xrealloc(d->files, (d->n_files + 1) * sizeof(*d->files));
		struct ovf_file *o = &d->files[d->n_files++];
		memset(o, 0, sizeof(*o));
		o->id = prop(f, "id", NS_OVF);
		o->href = prop(f, "href", NS_OVF);
		if (!o->id || !o->id[0] || !o->href)
			return vr_error_set(err, EINVAL, "References: a File lacks ovf:id or ovf:href");
		if (!ovf_file_name_valid(o->href))
			return vr_error_set(err, EINVAL,
					    "File \"%s\": href \"%s\" is not a plain file name next to "
					    "the descriptor", o->id, o->href);
		_cleanup_free_ char *size = prop(f, "size", NS_OVF);
		if (size && parse_number(size, MAX_CAPACITY * 2, "File size", &o->size, err) < 0)
			return vr_error_wrap(err, "File \"%s\"", o->id);
		for (size_t i = 0; i + 1 < d->n_files; i++) {
			if (strcmp(d->files[i].id, o->id) == 0)
				return vr_error_set(err, EINVAL, "References: duplicate file id \"%s\"",
						    o->id);
			if (strcmp(d->files[i].href, o->href) == 0)
				return vr_error_set(err, EINVAL, "References: file \"%s\" named twice",
						    o->href);
		}
	}
	return 0;
}

static int parse_disks(xmlNodePtr ds, struct ovf_descriptor *d, struct vr_error **err)
{
	for (xmlNodePtr k = ds ? ds->children : NULL; k; k = k->next) {
		if (!is_el(k, "Disk"))
			continue;
		if (d->n_disks == OVF_MAX_DISKS)
			return vr_error_set(err, EINVAL, "DiskSection: more than %d disks",
					    OVF_MAX_DISKS);
		d->disks = xrealloc(d->disks, (d->n_disks + 1) * sizeof(*d->disks));
		struct ovf_disk *o = &d->disks[d->n_disks++];
		memset(o, 0, sizeof(*o));
		o->unit = UINT32_MAX;
		o->id = prop(k, "diskId", NS_OVF);
		o->file_ref = prop(k, "fileRef", NS_OVF);
		if (!o->id || !o->id[0] || strlen(o->id) > 64)
			return vr_error_set(err, EINVAL, "DiskSection: a Disk lacks a valid ovf:diskId");
		if (!o->file_ref)
			return vr_error_set(err, EINVAL,
					    "Disk \"%s\": no ovf:fileRef (disks without contents are "
					    "not supported)", o->id);
		bool found = false;
		for (size_t i = 0; i < d->n_files; i++)
			found |= strcmp(d->files[i].id, o->file_ref) == 0;
		if (!found)
			return vr_error_set(err, EINVAL, "Disk \"%s\": fileRef \"%s\" is not in References",
					    o->id, o->file_ref);
		for (size_t i = 0; i + 1 < d->n_disks; i++) {
			if (strcmp(d->disks[i].id, o->id) == 0)
				return vr_error_set(err, EINVAL, "DiskSection: duplicate disk id \"%s\"",
						    o->id);
			if (strcmp(d->disks[i].file_ref, o->file_ref) == 0)
				return vr_error_set(err, EINVAL,
						    "DiskSection: file \"%s\" is used by two disks",
						    o->file_ref);
		}
		_cleanup_free_ char *cap = prop(k, "capacity", NS_OVF);
		_cleanup_free_ char *units = prop(k, "capacityAllocationUnits", NS_OVF);
		uint64_t v, mult;
		unsigned shift;
		if (parse_number(cap, MAX_CAPACITY, "capacity", &v, err) < 0 ||
		    alloc_units(units, "capacity", &shift, &mult, err) < 0 ||
		    scaled(v, shift, mult, MAX_CAPACITY, "capacity", &o->capacity, err) < 0)
			return vr_error_wrap(err, "Disk \"%s\"", o->id);
		if (o->capacity == 0)
			return vr_error_set(err, EINVAL, "Disk \"%s\": capacity 0", o->id);
	}
	return 0;
}

struct rasd {
	char *fields[8];
};
static const char *const rasd_names[] = {"ResourceType", "ResourceSubType", "VirtualQuantity",
					 "AllocationUnits", "HostResource", "AddressOnParent",
					 "Connection", "InstanceID"};
enum { R_TYPE, R_SUBTYPE, R_QTY, R_UNITS, R_HOST, R_ADDR, R_CONN, R_ID };

static void rasd_clear(struct rasd *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(r->fields); i++)
		free(r->fields[i]);
}

static int parse_item(xmlNodePtr it, unsigned index, struct ovf_descriptor *d, bool *disk_used,
		      struct vr_error **err)
{
	struct rasd r = {0};
	int ret = 0;
	char what[48];
	snprintf(what, sizeof(what), "hardware Item %u", index + 1);
	for (xmlNodePtr c = it->children; c && ret >= 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(rasd_names); i++) {
			if (!is_el(c, rasd_names[i]))
				continue;
			if (r.fields[i]) {
				ret = vr_error_set(err, EINVAL, "%s: rasd:%s given twice", what,
						   rasd_names[i]);
				break;
			}
			ret = el_text(c, rasd_names[i], &r.fields[i], err);
		}
	}
	uint64_t type = 0, v = 0, mult;
	unsigned shift;
	if (ret >= 0)
		ret = parse_number(r.fields[R_TYPE], 65535, "ResourceType", &type, err);
	if (ret < 0)
		goto out;
	switch (type) {
	case 3:
		if ((ret = parse_number(r.fields[R_QTY], OVF_MAX_VCPUS, "CPU count", &v, err)) < 0)
			break;
		if (v == 0) {
			ret = vr_error_set(err, EINVAL, "%s: 0 virtual CPUs", what);
			break;
		}
		d->vcpus = (unsigned)v;
		break;
	case 4:
		if ((ret = parse_number(r.fields[R_QTY], OVF_MAX_MEMORY_MIB << 20, "memory", &v,
					err)) < 0 ||
		    (ret = alloc_units(r.fields[R_UNITS] ? r.fields[R_UNITS] : "byte * 2^20",
				       "memory", &shift, &mult, err)) < 0 ||
		    (ret = scaled(v, shift, mult, OVF_MAX_MEMORY_MIB << 20, "memory", &v, err)) < 0)
			break;
		if (v < (4u << 20)) {
			ret = vr_error_set(err, EINVAL, "%s: memory below 4 MiB", what);
			break;
		}
		d->memory_mib = v >> 20;
		break;
	case 6:
		if (d->scsi_subtype) {
			ret = vr_error_set(err, EINVAL,
					   "%s: a second SCSI controller (one is supported)", what);
			break;
		}
		d->scsi_subtype = xstrdup(r.fields[R_SUBTYPE] ? r.fields[R_SUBTYPE] : "lsilogic");
		break;
	case 10:
		if (d->n_nics == OVF_MAX_NICS) {
			ret = vr_error_set(err, EINVAL, "more than %d network adapters", OVF_MAX_NICS);
			break;
		}
		d->nics = xrealloc(d->nics, (d->n_nics + 1) * sizeof(*d->nics));
		d->nics[d->n_nics].subtype = xstrdup(r.fields[R_SUBTYPE] ? r.fields[R_SUBTYPE] : "E1000");
		d->nics[d->n_nics].network = r.fields[R_CONN] ? xstrdup(r.fields[R_CONN]) : NULL;
		d->n_nics++;
		break;
	case 17: {
		const char *hr = r.fields[R_HOST];
		const char *id = NULL;
		if (hr && str_has_prefix(hr, "ovf:/disk/"))
			id = hr + 10;
		else if (hr && str_has_prefix(hr, "/disk/"))
			id = hr + 6;
		if (!id) {
			ret = vr_error_set(err, EINVAL, "%s: disk HostResource \"%s\" is not ovf:/disk/ID",
					   what, hr ? hr : "(missing)");
			break;
		}
		size_t k = 0;
		while (k < d->n_disks && strcmp(d->disks[k].id, id) != 0)
			k++;
		if (k == d->n_disks) {
			ret = vr_error_set(err, EINVAL, "%s: disk \"%s\" is not in DiskSection", what, id);
			break;
		}
		if (disk_used[k]) {
			ret = vr_error_set(err, EINVAL, "%s: disk \"%s\" is attached twice", what, id);
			break;
		}
		disk_used[k] = true;
		if ((ret = parse_number(r.fields[R_ADDR] ? r.fields[R_ADDR] : "0", 15,
					"AddressOnParent", &v, err)) < 0)
			break;
		if (v == 7) {
			ret = vr_error_set(err, EINVAL, "%s: SCSI unit 7 is the controller's", what);
			break;
		}
		for (size_t j = 0; j < d->n_disks; j++)
			if (d->disks[j].unit == v) {
				ret = vr_error_set(err, EINVAL, "%s: two disks at unit %llu", what,
						   (unsigned long long)v);
				break;
			}
		d->disks[k].unit = (unsigned)v;
		break;
	}
	default:
		break; /* other devices (CD-ROM, IDE controllers, video...) are not carried */
	}
out:
	if (ret < 0 && !strstr(vr_error_msg(*err), "hardware Item"))
		vr_error_wrap(err, "%s", what);
	rasd_clear(&r);
	return ret;
}

static int parse_extra(xmlNodePtr e, struct ovf_descriptor *d, struct vr_error **err)
{
	_cleanup_free_ char *key = prop(e, "key", NS_VMW);
	char *value = prop(e, "value", NS_VMW);
	char **slot = NULL;
	if (key && strcmp(key, "vireo.kernel") == 0)
		slot = &d->kernel;
	else if (key && strcmp(key, "vireo.initrd") == 0)
		slot = &d->initrd;
	else if (key && strcmp(key, "vireo.cmdline") == 0)
		slot = &d->cmdline;
	if (!slot || !value) {
		free(value);
		return 0; /* other VMware settings are not carried */
	}
	if (*slot || strlen(value) > 1024 || !utf8_valid(value) || strpbrk(value, "\n\r\"")) {
		free(value);
		return vr_error_set(err, EINVAL, "ExtraConfig \"%s\": repeated or invalid value", key);
	}
	*slot = value;
	return 0;
}

static int parse_system(xmlNodePtr vs, struct ovf_descriptor *d, struct vr_error **err)
{
	d->name = prop(vs, "id", NS_OVF);
	xmlNodePtr n = first_child(vs, "Name");
	if (n) {
		free(d->name);
		d->name = NULL;
		if (el_text(n, "Name", &d->name, err) < 0)
			return -EINVAL;
	}
	if (!d->name || !d->name[0] || strlen(d->name) > 255 || !utf8_valid(d->name))
		return vr_error_set(err, EINVAL, "VirtualSystem: no valid name");
	xmlNodePtr os = first_child(vs, "OperatingSystemSection");
	if (os) {
		d->os_type = prop(os, "osType", NS_VMW);
		if (d->os_type && (strlen(d->os_type) > 64 || strpbrk(d->os_type, "\"\n\r")))
			return vr_error_set(err, EINVAL, "OperatingSystemSection: invalid vmw:osType");
	}
	xmlNodePtr hw = first_child(vs, "VirtualHardwareSection");
	if (!hw)
		return vr_error_set(err, EINVAL, "VirtualSystem: no VirtualHardwareSection");
	bool *used = xcalloc(d->n_disks + 1, sizeof(*used));
	unsigned index = 0;
	int r = 0;
	for (xmlNodePtr c = hw->children; c && r >= 0; c = c->next) {
		if (is_el(c, "Item") || is_el(c, "EthernetPortItem") || is_el(c, "StorageItem")) {
			if (index == OVF_MAX_ITEMS)
				r = vr_error_set(err, EINVAL, "VirtualHardwareSection: more than %d Items",
						 OVF_MAX_ITEMS);
			else
				r = parse_item(c, index++, d, used, err);
		} else if (is_el(c, "ExtraConfig")) {
			r = parse_extra(c, d, err);
		}
	}
	for (size_t k = 0; k < d->n_disks && r >= 0; k++)
		if (!used[k])
			r = vr_error_set(err, EINVAL, "Disk \"%s\" is attached to no hardware Item",
					 d->disks[k].id);
	free(used);
	if (r < 0)
		return r;
	if (!d->vcpus)
		return vr_error_set(err, EINVAL, "VirtualHardwareSection: no CPU Item (ResourceType 3)");
	if (!d->memory_mib)
		return vr_error_set(err, EINVAL,
				    "VirtualHardwareSection: no memory Item (ResourceType 4)");
	if (d->n_disks && !d->scsi_subtype)
		d->scsi_subtype = xstrdup("lsilogic");
	return 0;
}

static void xml_silent(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

int ovf_descriptor_parse(const char *text, size_t len, struct ovf_descriptor **out,
			 struct vr_error **err)
{
	if (len > OVF_MAX_DESCRIPTOR)
		return vr_error_set(err, EFBIG, "descriptor: %zu bytes, more than the %u allowed", len,
				    OVF_MAX_DESCRIPTOR);
	if (memchr(text, '\0', len))
		return vr_error_set(err, EINVAL, "descriptor: contains a NUL byte");
	if (memmem(text, len, "<!DOCTYPE", 9) || memmem(text, len, "<!ENTITY", 8))
		return vr_error_set(err, EINVAL,
				    "descriptor: has a DOCTYPE or ENTITY declaration (DTDs and "
				    "entities are refused)");
	/* Hostile input must not fill the daemon's stderr: errors are reported through err. */
	xmlSetGenericErrorFunc(NULL, xml_silent);
	int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
	xmlDocPtr doc = xmlReadMemory(text, (int)len, "descriptor.ovf", NULL, opts);
	if (!doc) {
		const xmlError *e = xmlGetLastError();
		return vr_error_set(err, EINVAL, "descriptor: not well-formed XML (line %d: %s)",
				    e ? e->line : 0, e && e->message ? e->message : "unknown");
	}
	int r = 0;
	struct ovf_descriptor *d = xcalloc(1, sizeof(*d));
	xmlNodePtr env = xmlDocGetRootElement(doc);
	if (doc->intSubset || doc->extSubset) {
		r = vr_error_set(err, EINVAL, "descriptor: has a DTD (refused)");
		goto out;
	}
	if (!env || !is_el(env, "Envelope") || !env->ns ||
	    xmlStrcmp(env->ns->href, X(NS_OVF)) != 0) {
		r = vr_error_set(err, EINVAL, "descriptor: the root is not an OVF 1.x Envelope (%s)",
				 NS_OVF);
		goto out;
	}
	xmlNodePtr vs = first_child(env, "VirtualSystem");
	if (!vs) {
		r = vr_error_set(err, EINVAL,
				 first_child(env, "VirtualSystemCollection")
					 ? "descriptor: a VirtualSystemCollection (vApp) is not supported"
					 : "descriptor: no VirtualSystem");
		goto out;
	}
	if ((r = parse_references(first_child(env, "References"), d, err)) < 0 ||
	    (r = parse_disks(first_child(env, "DiskSection"), d, err)) < 0 ||
	    (r = parse_system(vs, d, err)) < 0)
		goto out;
	*out = steal_pointer(&d);
out:
	ovf_descriptor_free(d);
	xmlFreeDoc(doc);
	if (r < 0 && !str_has_prefix(vr_error_msg(*err), "descriptor"))
		vr_error_wrap(err, "descriptor");
	return r;
}

/* ---- manifest ---- */

void ovf_manifest_free(struct ovf_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->entries[i].file);
		free(m->entries[i].algorithm);
		free(m->entries[i].digest);
	}
	free(m->entries);
	free(m);
}

int ovf_manifest_parse(const char *text, size_t len, struct ovf_manifest **out,
		       struct vr_error **err)
{
	struct ovf_manifest *m = xcalloc(1, sizeof(*m));
	size_t pos = 0;
	unsigned line = 0;
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		_cleanup_free_ char *l = xstrndup(s, n);
		char *open = strchr(l, '('), *close = strstr(l, ")= ");
		size_t hexlen = 0;
		const char *alg = l;
		if (open && close && close > open) {
			*open = '\0';
			*close = '\0';
			hexlen = strlen(close + 3);
		}
		bool sha256 = open && strcmp(alg, "SHA256") == 0, sha1 = open && strcmp(alg, "SHA1") == 0;
		if (!open || !close || close < open || !(sha256 || sha1) ||
		    hexlen != (sha256 ? 64u : 40u) ||
		    strspn(close + 3, "0123456789abcdefABCDEF") != hexlen || !ovf_file_name_valid(open + 1)) {
			ovf_manifest_free(m);
			return vr_error_set(err, EINVAL,
					    "manifest line %u is not \"SHA256(FILE)= HEX\"", line);
		}
		if (m->n == OVF_MAX_FILES + 1) {
			ovf_manifest_free(m);
			return vr_error_set(err, EINVAL, "manifest: too many lines");
		}
		m->entries = xrealloc(m->entries, (m->n + 1) * sizeof(*m->entries));
		struct ovf_manifest_entry *e = &m->entries[m->n++];
		e->file = xstrdup(open + 1);
		e->algorithm = xstrdup(alg);
		e->digest = xstrdup(close + 3);
		for (char *c = e->digest; *c; c++)
			if (*c >= 'A' && *c <= 'F')
				*c = (char)(*c - 'A' + 'a');
		for (size_t i = 0; i + 1 < m->n; i++)
			if (strcmp(m->entries[i].file, e->file) == 0) {
				ovf_manifest_free(m);
				return vr_error_set(err, EINVAL, "manifest names a file twice (line %u)",
						    line);
			}
	}
	*out = m;
	return 0;
}

int ovf_file_digest(const char *path, const char *algorithm, char out[129], struct vr_error **err)
{
	const EVP_MD *md = strcmp(algorithm, "SHA1") == 0 ? EVP_sha1() : EVP_sha256();
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open \"%s\"", path);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, md, NULL);
	size_t bufsize = 1 << 20;
	_cleanup_free_ unsigned char *buf = xmalloc(bufsize);
	for (;;) {
		ssize_t n = read(fd, buf, bufsize);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			EVP_MD_CTX_free(ctx);
			return vr_error_set_errno(err, e, "cannot read \"%s\"", path);
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	EVP_DigestFinal_ex(ctx, dg, &dl);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < dl; i++)
		snprintf(out + 2 * i, 3, "%02x", dg[i]);
	return 0;
}
