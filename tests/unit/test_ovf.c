/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OVF descriptors, manifests and OVA archives (host/storage/ovf.h): a
 * descriptor as VMware's ovftool writes it, our own written and read back,
 * and hostile ones (external entities, entity expansion, traversal, absurd
 * sizes, dangling and duplicate references) refused with their reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/storage/ovf.h"

static const char *data_dir;

static struct ovf_descriptor *parse_ok(const char *text)
{
	struct ovf_descriptor *d = NULL;
	struct vr_error *err = NULL;
	if (ovf_descriptor_parse(text, strlen(text), &d, &err) < 0)
		fail_msg("refused: %s", vr_error_msg(err));
	return d;
}

static void parse_refused(const char *text, const char *needle)
{
	struct ovf_descriptor *d = NULL;
	struct vr_error *err = NULL;
	assert_true(ovf_descriptor_parse(text, strlen(text), &d, &err) < 0);
	assert_null(d);
	if (!strstr(vr_error_msg(err), needle))
		fail_msg("error \"%s\" does not say \"%s\"", vr_error_msg(err), needle);
	vr_error_free(err);
}

static void test_vmware_export(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/ovf/vmware-export.ovf", data_dir);
	_cleanup_free_ char *text = NULL;
	size_t len;
	struct vr_error *err = NULL;
	assert_int_equal(file_read_all(path, 1 << 20, &text, &len, &err), 0);
	_cleanup_ovf_ struct ovf_descriptor *d = parse_ok(text);
	assert_string_equal(d->name, "web01");
	assert_string_equal(d->os_type, "otherLinux64Guest");
	assert_int_equal(d->vcpus, 4);
	assert_int_equal(d->memory_mib, 4096);
	assert_string_equal(d->scsi_subtype, "VirtualSCSI");
	assert_int_equal(d->n_files, 2);
	assert_string_equal(d->files[0].href, "web01-disk1.vmdk");
	assert_int_equal(d->files[0].size, 1123598336);
	assert_int_equal(d->n_disks, 2);
	assert_int_equal(d->disks[0].capacity, 16ull << 30);
	assert_int_equal(d->disks[1].capacity, 512ull << 20);
	assert_int_equal(d->disks[0].unit, 0);
	assert_int_equal(d->disks[1].unit, 1);
	assert_int_equal(d->n_nics, 1);
	assert_string_equal(d->nics[0].subtype, "VmxNet3");
	assert_string_equal(d->nics[0].network, "VM Network");
	assert_null(d->kernel); /* "nvram" is not carried */
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct ovf_file files[] = {{"file1", "a-disk1.vmdk", 1234}, {"file2", "a-disk2.vmdk", 0}};
	struct ovf_disk disks[] = {{"vmdisk1", "file1", 64ull << 20, 0},
				   {"vmdisk2", "file2", 3ull << 30, 8}};
	struct ovf_nic nics[] = {{"E1000", NULL}, {"VmxNet3", "lan & <dmz>"}};
	struct ovf_descriptor d = {
		.name = "web \"01\" <&>", .os_type = "otherlinux-64", .vcpus = 2, .memory_mib = 512,
		.scsi_subtype = "lsilogic", .files = files, .n_files = 2, .disks = disks,
		.n_disks = 2, .nics = nics, .n_nics = 2, .kernel = "/ds/vmlinuz",
		.cmdline = "console=ttyS0 a=<b>",
	};
	_cleanup_free_ char *xml = ovf_descriptor_write(&d, NULL);
	assert_non_null(strstr(xml, "<rasd:ResourceType>17</rasd:ResourceType>"));
	assert_non_null(strstr(xml, "<rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>"));
	_cleanup_ovf_ struct ovf_descriptor *p = parse_ok(xml);
	assert_string_equal(p->name, d.name);
	assert_int_equal(p->vcpus, 2);
	assert_int_equal(p->memory_mib, 512);
	assert_int_equal(p->n_disks, 2);
	assert_int_equal(p->disks[1].capacity, 3ull << 30);
	assert_int_equal(p->disks[1].unit, 8);
	assert_string_equal(p->files[0].href, "a-disk1.vmdk");
	assert_int_equal(p->files[0].size, 1234);
	assert_int_equal(p->n_nics, 2);
	assert_string_equal(p->nics[1].network, "lan & <dmz>");
	assert_string_equal(p->kernel, "/ds/vmlinuz");
	assert_string_equal(p->cmdline, "console=ttyS0 a=<b>");
}

#define HEAD                                                                                    \
	"<?xml version=\"1.0\"?>\n<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "   \
	"xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "                                 \
	"xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                       \
	"CIM_ResourceAllocationSettingData\">"
#define CPU_MEM                                                                                 \
	"<Item><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>" \
	"<Item><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>"
#define DISK_ITEM(id, unit)                                                                     \
	"<Item><rasd:AddressOnParent>" unit "</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/" id \
	"</rasd:HostResource><rasd:ResourceType>17</rasd:ResourceType></Item>"

/* A descriptor with the given References, DiskSection contents and extra hardware Items. */
static char *desc(const char *refs, const char *disks, const char *items)
{
	return xasprintf(HEAD "<References>%s</References><DiskSection><Info>d</Info>%s</DiskSection>"
			      "<VirtualSystem ovf:id=\"vm\"><Info>v</Info><VirtualHardwareSection>"
			      "<Info>h</Info>" CPU_MEM "%s</VirtualHardwareSection></VirtualSystem>"
			      "</Envelope>",
			 refs, disks, items);
}

#define FILE1 "<File ovf:href=\"d1.vmdk\" ovf:id=\"file1\"/>"
#define DISK1 "<Disk ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"byte * 2^30\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>"

static void test_minimal_good(void **state)
{
	(void)state;
	_cleanup_free_ char *t = desc(FILE1, DISK1, DISK_ITEM("vmdisk1", "0"));
	_cleanup_ovf_ struct ovf_descriptor *d = parse_ok(t);
	assert_int_equal(d->disks[0].capacity, 1ull << 30);
	assert_string_equal(d->scsi_subtype, "lsilogic");
	assert_string_equal(d->name, "vm");
}

static void test_xxe(void **state)
{
	(void)state;
	parse_refused("<?xml version=\"1.0\"?>\n<!DOCTYPE Envelope [<!ENTITY x SYSTEM "
		      "\"file:///etc/passwd\">]>\n" HEAD "<References/>&x;</Envelope>",
		      "DOCTYPE");
	/* A parameter entity fetching a remote DTD. */
	parse_refused("<?xml version=\"1.0\"?><!DOCTYPE e SYSTEM \"http://127.0.0.1:1/x.dtd\">" HEAD
		      "</Envelope>",
		      "DOCTYPE");
}

static void test_billion_laughs(void **state)
{
	(void)state;
	_cleanup_free_ char *t = xstrdup("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
	for (int i = 1; i < 10; i++) {
		char prev[8];
		snprintf(prev, sizeof(prev), i > 1 ? "lol%d" : "lol", i - 1);
		char *n = xasprintf("%s<!ENTITY lol%d \"", t, i);
		for (int k = 0; k < 10; k++) {
			char *m = xasprintf("%s&%s;", n, prev);
			free(n);
			n = m;
		}
		free(t);
		t = xasprintf("%s\">", n);
		free(n);
	}
	char *n = xasprintf("%s]>" HEAD "<References/><x>&lol9;</x></Envelope>", t);
	free(t);
	t = n;
	parse_refused(t, "ENTITY");
}

static void test_traversal(void **state)
{
	(void)state;
	const char *bad[] = {"../../etc/shadow", "sub/d1.vmdk", "/etc/passwd", ".hidden",
			     "a..b.vmdk", "d 1.vmdk", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_free_ char *f = xasprintf("<File ovf:href=\"%s\" ovf:id=\"file1\"/>", bad[i]);
		_cleanup_free_ char *t = desc(f, DISK1, DISK_ITEM("vmdisk1", "0"));
		parse_refused(t, "href");
	}
	assert_false(ovf_file_name_valid("x/../y"));
	assert_true(ovf_file_name_valid("web01-disk1.vmdk"));
}

static void test_absurd_sizes(void **state)
{
	(void)state;
	const char *disks[] = {
		"<Disk ovf:capacity=\"99999999999999999999999\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>",
		"<Disk ovf:capacity=\"65\" ovf:capacityAllocationUnits=\"byte * 2^40\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>",
		"<Disk ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"byte * 2^64\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>",
		"<Disk ovf:capacity=\"-1\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>",
		"<Disk ovf:capacity=\"0\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>",
		"<Disk ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"furlongs\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\"/>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(disks); i++) {
		_cleanup_free_ char *t = desc(FILE1, disks[i], DISK_ITEM("vmdisk1", "0"));
		parse_refused(t, "vmdisk1");
	}
	_cleanup_free_ char *mem = desc(FILE1, DISK1,
		DISK_ITEM("vmdisk1", "0") "<Item><rasd:AllocationUnits>byte * 2^40</rasd:AllocationUnits>"
		"<rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>5000</rasd:VirtualQuantity></Item>");
	parse_refused(mem, "memory");
	_cleanup_free_ char *cpu = desc(FILE1, DISK1,
		DISK_ITEM("vmdisk1", "0") "<Item><rasd:ResourceType>3</rasd:ResourceType>"
		"<rasd:VirtualQuantity>100000</rasd:VirtualQuantity></Item>");
	parse_refused(cpu, "CPU");
	_cleanup_free_ char *unit = desc(FILE1, DISK1, DISK_ITEM("vmdisk1", "99"));
	parse_refused(unit, "AddressOnParent");
	_cleanup_free_ char *big = xmalloc(OVF_MAX_DESCRIPTOR + 2);
	memset(big, ' ', OVF_MAX_DESCRIPTOR + 1);
	big[OVF_MAX_DESCRIPTOR + 1] = '\0';
	parse_refused(big, "bytes");
	/* Too many disks. */
	_cleanup_free_ char *many = xstrdup("");
	for (int i = 0; i < OVF_MAX_DISKS + 1; i++) {
		char *n = xasprintf("%s<Disk ovf:capacity=\"1\" ovf:diskId=\"d%d\" ovf:fileRef=\"file1\"/>",
				    many, i);
		free(many);
		many = n;
	}
	_cleanup_free_ char *t = desc(FILE1, many, "");
	parse_refused(t, "disk");
}

static void test_references(void **state)
{
	(void)state;
	struct {
		const char *refs, *disks, *items, *needle;
	} cases[] = {
		{FILE1, "<Disk ovf:capacity=\"1\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"nope\"/>",
		 DISK_ITEM("vmdisk1", "0"), "not in References"},
		{FILE1, DISK1, DISK_ITEM("vmdisk9", "0"), "not in DiskSection"},
		{FILE1, DISK1, "", "attached to no hardware Item"},
		{FILE1, DISK1, DISK_ITEM("vmdisk1", "0") DISK_ITEM("vmdisk1", "1"), "attached twice"},
		{FILE1 "<File ovf:href=\"d2.vmdk\" ovf:id=\"file1\"/>", DISK1, DISK_ITEM("vmdisk1", "0"),
		 "duplicate file id"},
		{FILE1 "<File ovf:href=\"d1.vmdk\" ovf:id=\"file2\"/>", DISK1, DISK_ITEM("vmdisk1", "0"),
		 "named twice"},
		{FILE1 "<File ovf:href=\"d2.vmdk\" ovf:id=\"file2\"/>",
		 DISK1 "<Disk ovf:capacity=\"1\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file2\"/>",
		 DISK_ITEM("vmdisk1", "0"), "duplicate disk id"},
		{FILE1 "<File ovf:href=\"d2.vmdk\" ovf:id=\"file2\"/>",
		 DISK1 "<Disk ovf:capacity=\"1\" ovf:diskId=\"vmdisk2\" ovf:fileRef=\"file2\"/>",
		 DISK_ITEM("vmdisk1", "0") DISK_ITEM("vmdisk2", "0"), "two disks at unit"},
		{FILE1, DISK1, "<Item><rasd:ResourceType>17</rasd:ResourceType>"
			       "<rasd:HostResource>file:///etc/passwd</rasd:HostResource></Item>",
		 "ovf:/disk/ID"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *t = desc(cases[i].refs, cases[i].disks, cases[i].items);
		parse_refused(t, cases[i].needle);
	}
}

static void test_malformed(void **state)
{
	(void)state;
	parse_refused("<Envelope", "well-formed");
	parse_refused("<?xml version=\"1.0\"?><Envelope xmlns=\"urn:other\"/>", "OVF 1.x Envelope");
	parse_refused(HEAD "</Envelope>", "no VirtualSystem");
	_cleanup_free_ char *nocpu = xasprintf(HEAD "<VirtualSystem ovf:id=\"v\"><VirtualHardwareSection>"
					       "</VirtualHardwareSection></VirtualSystem></Envelope>");
	parse_refused(nocpu, "no CPU");
}

static void test_manifest(void **state)
{
	(void)state;
	const char *good = "SHA256(a.ovf)= 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\r\n"
			   "SHA1(a-disk1.vmdk)= 0123456789abcdef0123456789abcdef01234567\n";
	struct ovf_manifest *m = NULL;
	struct vr_error *err = NULL;
	assert_int_equal(ovf_manifest_parse(good, strlen(good), &m, &err), 0);
	assert_int_equal(m->n, 2);
	assert_string_equal(m->entries[0].file, "a.ovf");
	assert_string_equal(m->entries[0].digest,
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(m->entries[1].algorithm, "SHA1");
	ovf_manifest_free(m);
	static const char dup[] = "SHA1(a)= 0123456789abcdef0123456789abcdef01234567\n"
				  "SHA1(a)= 0123456789abcdef0123456789abcdef01234567";
	const char *bad[] = {"SHA256(../x)= 00", "MD5(a)= 00112233445566778899aabbccddeeff",
			     "SHA256(a.ovf)= 0123", "garbage", dup};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		m = NULL;
		assert_true(ovf_manifest_parse(bad[i], strlen(bad[i]), &m, &err) < 0);
		assert_null(m);
		vr_error_free(err);
		err = NULL;
	}
}

static void test_tar(void **state)
{
	(void)state;
	char dir[] = "/tmp/vireo-test-ovf-XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *a = xasprintf("%s/a.ovf", dir), *b = xasprintf("%s/b-disk1.vmdk", dir);
	struct vr_error *err = NULL;
	assert_int_equal(file_write_atomic(a, "hello", 5, 0644, &err), 0);
	_cleanup_free_ char *blob = xmalloc(1000);
	memset(blob, 0x5a, 1000);
	assert_int_equal(file_write_atomic(b, blob, 1000, 0644, &err), 0);
	char *names[] = {"a.ovf", "b-disk1.vmdk", NULL};
	_cleanup_free_ char *ova = xasprintf("%s/x.ova", dir);
	assert_int_equal(ovf_tar_write(ova, dir, names, &err), 0);
	assert_true(ovf_tar_write(ova, dir, names, &err) < 0); /* never overwrites */
	vr_error_free(err);
	err = NULL;
	_cleanup_free_ char *out = xasprintf("%s/out", dir);
	assert_int_equal(mkdir(out, 0700), 0);
	char **got = NULL;
	assert_int_equal(ovf_tar_extract(ova, out, 1 << 20, &got, &err), 0);
	assert_string_equal(got[0], "a.ovf");
	assert_string_equal(got[1], "b-disk1.vmdk");
	assert_null(got[2]);
	strv_free(got);
	/* Members above the bound are refused. */
	_cleanup_free_ char *out2 = xasprintf("%s/out2", dir);
	assert_int_equal(mkdir(out2, 0700), 0);
	assert_true(ovf_tar_extract(ova, out2, 999, &got, &err) < 0);
	assert_non_null(strstr(vr_error_msg(err), "b-disk1.vmdk"));
	vr_error_free(err);
	err = NULL;
	/* A member named "../evil" (checksum fixed up) is refused. */
	_cleanup_free_ char *raw = NULL;
	size_t len;
	assert_int_equal(file_read_all(ova, 1 << 20, &raw, &len, &err), 0);
	memcpy(raw, "../evil", 8);
	unsigned sum = 0;
	memset(raw + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += (unsigned char)raw[i];
	snprintf(raw + 148, 8, "%06o", sum);
	_cleanup_free_ char *evil = xasprintf("%s/evil.ova", dir);
	assert_int_equal(file_write_atomic(evil, raw, len, 0644, &err), 0);
	_cleanup_free_ char *out3 = xasprintf("%s/out3", dir);
	assert_int_equal(mkdir(out3, 0700), 0);
	assert_true(ovf_tar_extract(evil, out3, 1 << 20, &got, &err) < 0);
	assert_non_null(strstr(vr_error_msg(err), "plain file name"));
	vr_error_free(err);
	err = NULL;
	/* A symbolic link member is refused. */
	raw[156] = '2';
	memcpy(raw, "a.ovf\0\0\0", 8);
	sum = 0;
	memset(raw + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += (unsigned char)raw[i];
	snprintf(raw + 148, 8, "%06o", sum);
	_cleanup_free_ char *link = xasprintf("%s/link.ova", dir);
	assert_int_equal(file_write_atomic(link, raw, len, 0644, &err), 0);
	_cleanup_free_ char *out4 = xasprintf("%s/out4", dir);
	assert_int_equal(mkdir(out4, 0700), 0);
	assert_true(ovf_tar_extract(link, out4, 1 << 20, &got, &err) < 0);
	assert_non_null(strstr(vr_error_msg(err), "not a regular file"));
	vr_error_free(err);
	/* A digest. */
	char hex[129];
	err = NULL;
	assert_int_equal(ovf_file_digest(a, "SHA256", hex, &err), 0);
	assert_string_equal(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	rm_rf(dir);
}

int main(int argc, char **argv)
{
	data_dir = argc > 1 ? argv[1] : "tests/data";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmware_export), cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_minimal_good), cmocka_unit_test(test_xxe),
		cmocka_unit_test(test_billion_laughs), cmocka_unit_test(test_traversal),
		cmocka_unit_test(test_absurd_sizes), cmocka_unit_test(test_references),
		cmocka_unit_test(test_malformed), cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_tar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
