/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of guest-agent replies: the guest is untrusted. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qga_priv.h"

#define QGA_MAX_HWADDR_LEN 64
#define QGA_MAX_ADDR_LEN 128
#define QGA_MAX_HOST_NAME_LEN 255
#define QGA_MAX_OSINFO_LEN 512

static bool string_is_clean(const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/*
 * Reads member key of obj: absent is fine unless required; otherwise it
 * must be a string of 1..max_len bytes without control characters.
 */
static int get_string(json_t *obj, const char *key, bool required, size_t max_len, char **out,
		      const char *command, const char *where, struct vr_error **err)
{
	*out = NULL;
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (!required)
			return 0;
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %s\"%s\" is missing",
				    command, where, key);
	}
	if (!json_is_string(v))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %s\"%s\" is not a string",
				    command, where, key);
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (len == 0 || len > max_len)
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %s\"%s\" has %zu bytes (1..%zu allowed)",
				    command, where, key, len, max_len);
	if (strlen(s) != len || !string_is_clean(s))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %s\"%s\" contains control characters",
				    command, where, key);
	*out = xstrdup(s);
	return 0;
}

void qga_free_interfaces(struct qga_iface *ifaces, size_t n)
{
	if (!ifaces)
		return;
	for (size_t i = 0; i < n; i++) {
		free(ifaces[i].name);
		free(ifaces[i].hwaddr);
		for (size_t j = 0; j < ifaces[i].n_ips; j++)
			free(ifaces[i].ips[j].address);
		free(ifaces[i].ips);
	}
	free(ifaces);
}

static int parse_ip(json_t *jip, struct qga_ip *ip, const char *where, struct vr_error **err)
{
	static const char cmd[] = "guest-network-get-interfaces";
	if (!json_is_object(jip))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %san address is not an object",
				    cmd, where);
	_cleanup_free_ char *type = NULL, *addr = NULL;
	int r = get_string(jip, "ip-address-type", true, 16, &type, cmd, where, err);
	if (r < 0)
		return r;
	r = get_string(jip, "ip-address", true, QGA_MAX_ADDR_LEN, &addr, cmd, where, err);
	if (r < 0)
		return r;
	if (strcmp(type, "ipv4") == 0)
		ip->ipv6 = false;
	else if (strcmp(type, "ipv6") == 0)
		ip->ipv6 = true;
	else
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %sunknown address type \"%s\"",
				    cmd, where, type);

	char *scope = strchr(addr, '%');
	if (scope)
		*scope = '\0';
	unsigned char bin[16];
	char text[INET6_ADDRSTRLEN];
	int af = ip->ipv6 ? AF_INET6 : AF_INET;
	if (inet_pton(af, addr, bin) != 1 || !inet_ntop(af, bin, text, sizeof(text)))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %s\"%s\" is not an %s address",
				    cmd, where, addr, type);

	json_t *prefix = json_object_get(jip, "prefix");
	json_int_t max_prefix = ip->ipv6 ? 128 : 32;
	if (!json_is_integer(prefix) || json_integer_value(prefix) < 0 ||
	    json_integer_value(prefix) > max_prefix)
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %sprefix of %s is not an integer in 0..%d",
				    cmd, where, text, (int)max_prefix);
	ip->prefix = (unsigned)json_integer_value(prefix);
	ip->address = xstrdup(text);
	return 0;
}

static int parse_iface(json_t *jif, size_t index, struct qga_iface *iface, struct vr_error **err)
{
	static const char cmd[] = "guest-network-get-interfaces";
	_cleanup_free_ char *where = xasprintf("interface %zu: ", index);
	if (!json_is_object(jif))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %snot an object", cmd,
				    where);
	int r = get_string(jif, "name", true, QGA_MAX_NAME_LEN, &iface->name, cmd, where, err);
	if (r < 0)
		return r;
	free(where);
	where = xasprintf("interface %zu (\"%s\"): ", index, iface->name);
	r = get_string(jif, "hardware-address", false, QGA_MAX_HWADDR_LEN, &iface->hwaddr, cmd,
		       where, err);
	if (r < 0)
		return r;

	json_t *ips = json_object_get(jif, "ip-addresses");
	if (!ips)
		return 0;
	if (!json_is_array(ips))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: %s\"ip-addresses\" is not an array",
				    cmd, where);
	size_t n = json_array_size(ips);
	if (n > QGA_MAX_ADDRS_PER_IFACE) {
		log_warn("guest agent reported %zu addresses on interface \"%s\"; keeping %d", n,
			 iface->name, QGA_MAX_ADDRS_PER_IFACE);
		n = QGA_MAX_ADDRS_PER_IFACE;
	}
	iface->ips = xcalloc(n, sizeof(*iface->ips));
	for (size_t j = 0; j < n; j++) {
		r = parse_ip(json_array_get(ips, j), &iface->ips[j], where, err);
		if (r < 0)
			return r;
		iface->n_ips++;
	}
	return 0;
}

int qga_parse_interfaces(json_t *ret, struct qga_iface **out, size_t *n, struct vr_error **err)
{
	*out = NULL;
	*n = 0;
	if (!json_is_array(ret))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"guest-network-get-interfaces\" is invalid: not an array");
	size_t count = json_array_size(ret);
	if (count > QGA_MAX_IFACES) {
		log_warn("guest agent reported %zu network interfaces; keeping %d", count,
			 QGA_MAX_IFACES);
		count = QGA_MAX_IFACES;
	}
	struct qga_iface *ifaces = xcalloc(count, sizeof(*ifaces));
	for (size_t i = 0; i < count; i++) {
		int r = parse_iface(json_array_get(ret, i), i, &ifaces[i], err);
		if (r < 0) {
			qga_free_interfaces(ifaces, i + 1);
			return r;
		}
	}
	*out = ifaces;
	*n = count;
	return 0;
}

int qga_parse_host_name(json_t *ret, char **out, struct vr_error **err)
{
	*out = NULL;
	if (!json_is_object(ret))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"guest-get-host-name\" is invalid: not an object");
	return get_string(ret, "host-name", true, QGA_MAX_HOST_NAME_LEN, out,
			  "guest-get-host-name", "", err);
}

void qga_free_osinfo(struct qga_osinfo *info)
{
	if (!info)
		return;
	free(info->id);
	free(info->name);
	free(info->pretty_name);
	free(info->version);
	free(info->version_id);
	free(info->kernel_release);
	free(info->kernel_version);
	free(info->machine);
	free(info);
}

int qga_parse_osinfo(json_t *ret, struct qga_osinfo **out, struct vr_error **err)
{
	static const char cmd[] = "guest-get-osinfo";
	*out = NULL;
	if (!json_is_object(ret))
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: not an object", cmd);
	struct qga_osinfo *info = xcalloc(1, sizeof(*info));
	const struct {
		const char *key;
		char **field;
	} fields[] = {
		{ "id", &info->id },
		{ "name", &info->name },
		{ "pretty-name", &info->pretty_name },
		{ "version", &info->version },
		{ "version-id", &info->version_id },
		{ "kernel-release", &info->kernel_release },
		{ "kernel-version", &info->kernel_version },
		{ "machine", &info->machine },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int r = get_string(ret, fields[i].key, false, QGA_MAX_OSINFO_LEN, fields[i].field,
				   cmd, "", err);
		if (r < 0) {
			qga_free_osinfo(info);
			return r;
		}
	}
	*out = info;
	return 0;
}

int qga_parse_fsfreeze_status(json_t *ret, bool *frozen, struct vr_error **err)
{
	const char *s = json_string_value(ret);
	if (s && strcmp(s, "frozen") == 0)
		*frozen = true;
	else if (s && strcmp(s, "thawed") == 0)
		*frozen = false;
	else
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"guest-fsfreeze-status\" is invalid: not \"frozen\" or \"thawed\"");
	return 0;
}

int qga_parse_count(json_t *ret, const char *command, struct vr_error **err)
{
	if (!json_is_integer(ret) || json_integer_value(ret) < 0 ||
	    json_integer_value(ret) > 1000000)
		return vr_error_set(err, EPROTO,
				    "guest agent reply to \"%s\" is invalid: not a count in 0..1000000",
				    command);
	return (int)json_integer_value(ret);
}
