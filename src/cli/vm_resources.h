/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CLI_VM_RESOURCES_H
#define VIREO_CLI_VM_RESOURCES_H

/*
 * Resource allocation options of `vireo vm reconfigure` and the
 * "Resources" lines of `vireo vm info` (cmd_vm_resources.c).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

enum {
	CLI_OPT_CPU_SHARES = 0x400,
	CLI_OPT_CPU_RESERVATION,
	CLI_OPT_CPU_LIMIT,
	CLI_OPT_CPU_AFFINITY,
	CLI_OPT_MEM_SHARES,
	CLI_OPT_MEM_RESERVATION,
	CLI_OPT_MEM_LIMIT,
	CLI_OPT_DISK_SHARES,
	CLI_OPT_DISK_IOPS,
};

#define CLI_RESOURCE_OPTIONS                                                            \
	{ "cpu-shares", required_argument, NULL, CLI_OPT_CPU_SHARES },                   \
	{ "cpu-reservation", required_argument, NULL, CLI_OPT_CPU_RESERVATION },         \
	{ "cpu-limit", required_argument, NULL, CLI_OPT_CPU_LIMIT },                     \
	{ "cpu-affinity", required_argument, NULL, CLI_OPT_CPU_AFFINITY },               \
	{ "mem-shares", required_argument, NULL, CLI_OPT_MEM_SHARES },                   \
	{ "mem-reservation", required_argument, NULL, CLI_OPT_MEM_RESERVATION },         \
	{ "mem-limit", required_argument, NULL, CLI_OPT_MEM_LIMIT },                     \
	{ "disk-shares", required_argument, NULL, CLI_OPT_DISK_SHARES },                 \
	{ "disk-iops", required_argument, NULL, CLI_OPT_DISK_IOPS }

/* Whether opt is one of the above. */
bool cli_resources_is_opt(int opt);
/*
 * Adds one option's change to body's "resources" member.  Returns 0, or
 * CLI_EXIT_USAGE after printing what is wrong.
 */
int cli_resources_opt(const char *cmd, int opt, const char *arg, json_t *body);
/* Prints the "resources" object of `vm info`. */
void cli_resources_print(const json_t *res);

#endif
