/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NIC arguments of vireo vm create (--nic) and vm reconfigure (--nic-add,
 * --nic-remove, --nic-set).  Reconfigure sends every NIC that stays by its
 * index (hostd then changes only the members given) plus the new ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/vm_nic.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmconfig.h"

static int parse_bool_word(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* "nat", "none" or "bridged:NETWORK" into nic; false if item is none of them. */
static bool parse_connection(const char *item, json_t *nic)
{
	if (strcmp(item, "nat") == 0 || strcmp(item, "none") == 0) {
		json_object_set_new(nic, "connection", json_string(item));
		return true;
	}
	if (str_has_prefix(item, "bridged:") && item[8]) {
		json_object_set_new(nic, "connection", json_string("bridged"));
		json_object_set_new(nic, "network", json_string(item + 8));
		return true;
	}
	return false;
}

/*
 * "[CONNECTION][,model=M][,mac=MAC][,hostfwd=SPEC][,connected=yes|no]";
 * items without '=' after hostfwd= continue its comma-separated list.
 */
static int parse_settings(const char *cmd, const char *opt, const char *spec,
			  bool need_connection, json_t *nic)
{
	_cleanup_free_ char *copy = xstrdup(spec);
	_cleanup_free_ char *fwd = NULL;
	char *save = NULL;
	bool in_fwd = false, first = true;
	for (char *item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save), first = false) {
		char *eq = strchr(item, '=');
		if (first && !eq) {
			if (!parse_connection(item, nic))
				return cli_usage_error(cmd,
						       "%s \"%s\": the connection must be nat, none "
						       "or bridged:NETWORK, not \"%s\"",
						       opt, spec, item);
			continue;
		}
		if (first && need_connection)
			return cli_usage_error(cmd, "%s \"%s\" must begin with nat, none or "
						    "bridged:NETWORK", opt, spec);
		if (!eq && in_fwd) {
			char *longer = xasprintf("%s,%s", fwd, item);
			free(fwd);
			fwd = longer;
			continue;
		}
		in_fwd = false;
		if (eq)
			*eq++ = '\0';
		bool connected;
		if (eq && *eq && (strcmp(item, "model") == 0 || strcmp(item, "mac") == 0)) {
			json_object_set_new(nic, item, json_string(eq));
		} else if (eq && *eq && strcmp(item, "hostfwd") == 0) {
			char *longer = fwd ? xasprintf("%s,%s", fwd, eq) : xstrdup(eq);
			free(fwd);
			fwd = longer;
			in_fwd = true;
		} else if (eq && strcmp(item, "connected") == 0) {
			if (parse_bool_word(eq, &connected) < 0)
				return cli_usage_error(cmd, "%s \"%s\": connected= takes yes or no, "
							    "not \"%s\"", opt, spec, eq);
			json_object_set_new(nic, "start_connected", json_boolean(connected));
		} else {
			return cli_usage_error(cmd, "%s \"%s\": unknown setting \"%s\" (model=, "
						    "mac=, hostfwd=, connected=)", opt, spec, item);
		}
	}
	if (need_connection && !json_object_get(nic, "connection"))
		return cli_usage_error(cmd, "%s needs nat, none or bridged:NETWORK", opt);
	if (fwd)
		json_object_set_new(nic, "hostfwd", json_string(fwd));
	if (json_object_size(nic) == 0)
		return cli_usage_error(cmd, "%s \"%s\" changes nothing", opt, spec);
	return 0;
}

int cli_nic_parse(const char *cmd, const char *opt, const char *spec, json_t *nics)
{
	json_t *nic = json_object();
	int r = parse_settings(cmd, opt, spec, true, nic);
	if (r) {
		json_decref(nic);
		return r;
	}
	json_array_append_new(nics, nic);
	return 0;
}

/* "N" or "ethernetN". */
static int parse_index(const char *cmd, const char *opt, const char *s, unsigned *out)
{
	const char *digits = str_has_prefix(s, "ethernet") ? s + 8 : s;
	uint64_t n;
	if (parse_u64(digits, 0, VM_MAX_NICS - 1, &n) < 0)
		return cli_usage_error(cmd, "%s: \"%s\" is not a NIC number from 0 to %d (as in "
					    "ethernetN)", opt, s, VM_MAX_NICS - 1);
	*out = (unsigned)n;
	return 0;
}

void cli_nic_changes_release(struct cli_nic_changes *c)
{
	json_decref(c->add);
	json_decref(c->set);
	*c = (struct cli_nic_changes){ 0 };
}

bool cli_nic_changes_empty(const struct cli_nic_changes *c)
{
	return json_array_size(c->add) == 0 && json_object_size(c->set) == 0 && c->remove == 0;
}

int cli_nic_remove(const char *cmd, const char *arg, struct cli_nic_changes *c)
{
	unsigned idx;
	int r = parse_index(cmd, "--nic-remove", arg, &idx);
	if (r)
		return r;
	c->remove |= 1u << idx;
	return 0;
}

int cli_nic_set(const char *cmd, const char *arg, struct cli_nic_changes *c)
{
	const char *colon = strchr(arg, ':');
	if (!colon || !colon[1])
		return cli_usage_error(cmd, "--nic-set \"%s\" must look like %s", arg,
				       CLI_NIC_SET_SPEC);
	_cleanup_free_ char *num = xstrndup(arg, (size_t)(colon - arg));
	unsigned idx;
	int r = parse_index(cmd, "--nic-set", num, &idx);
	if (r)
		return r;
	json_t *nic = json_object();
	r = parse_settings(cmd, "--nic-set", colon + 1, false, nic);
	if (r) {
		json_decref(nic);
		return r;
	}
	if (!c->set)
		c->set = json_object();
	char key[16];
	snprintf(key, sizeof(key), "%u", idx);
	json_t *prev = json_object_get(c->set, key);
	if (prev)
		json_object_update(prev, nic); /* later settings win */
	else
		json_object_set(c->set, key, nic);
	json_decref(nic);
	return 0;
}

/* "ethernet0, ethernet2" for messages; "none" without NICs. */
static char *nic_list(unsigned present)
{
	char **names = NULL;
	for (unsigned i = 0; i < VM_MAX_NICS; i++)
		if (present & (1u << i))
			strv_pushf(&names, "ethernet%u", i);
	char *s = names ? strv_join(names, ", ") : xstrdup("none");
	strv_free(names);
	return s;
}

int cli_nic_changes_build(const struct cli_nic_changes *c, const json_t *vm, json_t **nics_out,
			  struct vr_error **err)
{
	const json_t *cfg = json_object_get(vm, "config");
	if (!cfg)
		return vr_error_set(err, EINVAL, "its configuration is invalid (%s); fix the .vmx "
						 "first",
				    json_get_string(vm, "invalid", "no configuration"));
	unsigned present = 0;
	size_t i;
	json_t *nic;
	json_array_foreach(json_object_get(cfg, "nics"), i, nic) {
		json_int_t idx = json_get_int(nic, "index", -1);
		if (idx < 0 || idx >= VM_MAX_NICS)
			return vr_error_set(err, EPROTO, "the host reported a NIC with index %lld",
					    (long long)idx);
		present |= 1u << idx;
	}
	_cleanup_free_ char *have = nic_list(present);
	for (unsigned idx = 0; idx < VM_MAX_NICS; idx++)
		if ((c->remove & (1u << idx)) && !(present & (1u << idx)))
			return vr_error_set(err, ENOENT,
					    "--nic-remove %u: there is no NIC ethernet%u (NICs: %s)",
					    idx, idx, have);
	const char *key;
	json_t *changes;
	json_object_foreach(c->set, key, changes) {
		unsigned idx = (unsigned)strtoul(key, NULL, 10);
		if (!(present & (1u << idx)))
			return vr_error_set(err, ENOENT,
					    "--nic-set %u: there is no NIC ethernet%u (NICs: %s)",
					    idx, idx, have);
		if (c->remove & (1u << idx))
			return vr_error_set(err, EINVAL,
					    "ethernet%u is both changed (--nic-set) and removed "
					    "(--nic-remove)",
					    idx);
	}
	json_t *nics = json_array();
	unsigned used = present;
	for (unsigned idx = 0; idx < VM_MAX_NICS; idx++) {
		if (!(present & (1u << idx)) || (c->remove & (1u << idx)))
			continue;
		char k[16];
		snprintf(k, sizeof(k), "%u", idx);
		json_t *item = json_deep_copy(json_object_get(c->set, k));
		if (!item)
			item = json_object();
		json_object_set_new(item, "index", json_integer(idx));
		json_array_append_new(nics, item);
	}
	/*
	 * New NICs take slots that are free now, never one freed by this same
	 * request: hostd would take an index that exists as a change of that NIC.
	 */
	json_array_foreach(c->add, i, nic) {
		unsigned idx = 0;
		while (idx < VM_MAX_NICS && (used & (1u << idx)))
			idx++;
		if (idx == VM_MAX_NICS) {
			json_decref(nics);
			return vr_error_set(err, E2BIG,
					    "no free NIC slot for --nic-add: a VM has at most %d "
					    "NICs, ethernet0 to ethernet%d, and slots freed by "
					    "--nic-remove are reused only by a later reconfigure",
					    VM_MAX_NICS, VM_MAX_NICS - 1);
		}
		used |= 1u << idx;
		json_t *item = json_deep_copy(nic);
		json_object_set_new(item, "index", json_integer(idx));
		json_array_append_new(nics, item);
	}
	*nics_out = nics;
	return 0;
}
