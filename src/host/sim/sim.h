/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated-host mode of vireo-hostd (`--simulate HOSTS[:VMS]`): one
 * process plays HOSTS hosts with VMS fake VMs each on one port, host i
 * under the URL prefix /sim/<i>, with the hostd API subset vireo-center
 * uses (sessions, users, host, VMs, power, tasks, events, statistics,
 * datastores, network, resource pools), over HTTP or HTTPS.  Nothing
 * runs: power operations flip a state.
 * For scale tests of vireo-center.
 */
#ifndef VIREO_HOST_SIM_H
#define VIREO_HOST_SIM_H

#include <stdint.h>

struct vr_error;

#define SIM_DEFAULT_VMS_PER_HOST 20
/*
 * Each host's monitor in center holds a connection (a long poll), and the
 * API server takes connections up to half the process's file limit: more
 * than about 500 hosts need `ulimit -n` above 1024 (2 files a host).
 */
#define SIM_MAX_HOSTS 10000
#define SIM_MAX_VMS_PER_HOST 1000

struct sim_config {
	unsigned hosts;
	unsigned vms_per_host;
	const char *listen;	    /* NULL: 127.0.0.1 */
	uint16_t port;		    /* 0: any free port (logged) */
	const char *admin_password; /* every host's "admin" */
	const char *tls_cert, *tls_key; /* PEM files: HTTPS, as hostd's --tls-cert/--tls-key */
	uint64_t seed;		    /* the uuids derive from it and the indexes */
};

/* "HOSTS[:VMS_PER_HOST]"; 0 or -EINVAL. */
int sim_spec_parse(const char *spec, unsigned *hosts, unsigned *vms_per_host);

/*
 * Serves until SIGTERM, SIGINT or SIGHUP (which the caller has blocked in
 * every thread); 0, or a negative errno with err set.
 */
int sim_run(const struct sim_config *cfg, struct vr_error **err);

#endif
