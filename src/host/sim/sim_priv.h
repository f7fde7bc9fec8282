/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the simulator's files (sim.c: hosts, sessions, users; sim_api.c: the rest). */
#ifndef VIREO_HOST_SIM_PRIV_H
#define VIREO_HOST_SIM_PRIV_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/sim/sim.h"

struct api_request;
struct api_server;
struct events;
struct res_pool_tree;

enum sim_power {
	SIM_POWER_OFF,
	SIM_POWER_ON,
	SIM_POWER_SUSPENDED,
};

struct sim_vm {
	char id[37];
	char name[40];
	enum sim_power power;
	unsigned memory_mib;
	unsigned vcpus;
	uint64_t powered_on_ms;
};

struct sim_user {
	char *name;
	bool admin;
	unsigned char salt[16];
	unsigned char hash[32]; /* SHA-256(salt || password) */
};

#define SIM_TASKS_KEPT 64

struct sim_task {
	uint64_t num; /* 0: free slot */
	char *description;
	char vm[37];
	char *user;
	char *error; /* NULL: success */
	uint64_t time_ms;
};

struct sim_host {
	unsigned index;
	char id[37];
	char name[24];
	struct sim *sim;
	pthread_mutex_t lock; /* everything below */
	struct sim_vm *vms;
	size_t n_vms;
	struct sim_user *users;
	size_t n_users;
	struct sim_task tasks[SIM_TASKS_KEPT];
	uint64_t next_task;
	struct events *events; /* its own lock */
	/* The resource pools center sent: kept and shown, not enforced (no QEMU). */
	struct res_pool_tree *pools;
};

struct sim_session {
	char token[65];
	unsigned host;
	char *user;
	bool admin;
	uint64_t expires_mono;
	struct sim_session *next;
};

#define SIM_SESSION_BUCKETS 4096

struct sim {
	struct sim_config cfg;
	char instance[37]; /* per start: event ids begin again */
	struct sim_host *hosts;
	struct api_server *api;
	pthread_mutex_t sessions_lock;
	struct sim_session *sessions[SIM_SESSION_BUCKETS];
};

/*
 * The host of the request's "/sim/{h}" prefix; on failure responds (404
 * for an index that is not simulated, 401 for a session of another host)
 * and returns NULL.
 */
struct sim_host *sim_request_host(struct api_request *req, struct sim *s);
/* Deterministic uuid of a name under the configured seed. */
void sim_uuid(const struct sim *s, const char *what, char out[37]);
/* Routes of sim_api.c. */
void sim_api_register(struct api_server *srv, struct sim *s);

#endif
