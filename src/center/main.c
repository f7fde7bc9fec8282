/* SPDX-License-Identifier: Apache-2.0 */
/* vireo-center: the management server (center.h). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/lockout.h"
#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/access.h"
#include "center/db/alarms.h"
#include "center/db/db.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/db/perf.h"
#include "center/db/principals.h"
#include "center/db/schema.h"
#include "center/db/tasks.h"
#include "center/hosts.h"
#include "center/secrets.h"
#include "center/sessions.h"
#include "center/taskrun.h"
#include "center/web/web.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define INITIAL_PASSWORD_ENV "VIREO_INITIAL_ADMIN_PASSWORD"
#define HOUSEKEEPING_MS 20000
/* Finished tasks and events are kept this long (bounded growth). */
#define HISTORY_KEEP_MS (30LL * 24 * 3600 * 1000)

enum {
	OPT_STATE_DIR = 256,
	OPT_DB,
	OPT_LISTEN,
	OPT_PORT,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_API_THREADS,
	OPT_HEARTBEAT,
	OPT_NOT_RESPONDING,
	OPT_RESYNC,
	OPT_TASK_WORKERS,
	OPT_LOGIN_DELAY,
	OPT_LOCKOUT_FAILURES,
	OPT_LOCKOUT_WINDOW,
	OPT_LOCKOUT_UNLOCK,
	OPT_LOG_LEVEL,
	OPT_LOG_FILE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"db", required_argument, NULL, OPT_DB},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"port", required_argument, NULL, OPT_PORT},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"api-threads", required_argument, NULL, OPT_API_THREADS},
	{"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
	{"not-responding-ms", required_argument, NULL, OPT_NOT_RESPONDING},
	{"resync-ms", required_argument, NULL, OPT_RESYNC},
	{"task-workers", required_argument, NULL, OPT_TASK_WORKERS},
	{"login-failure-delay-ms", required_argument, NULL, OPT_LOGIN_DELAY},
	{"login-lockout-failures", required_argument, NULL, OPT_LOCKOUT_FAILURES},
	{"login-lockout-window", required_argument, NULL, OPT_LOCKOUT_WINDOW},
	{"login-lockout-unlock", required_argument, NULL, OPT_LOCKOUT_UNLOCK},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"log-file", required_argument, NULL, OPT_LOG_FILE},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vireo-center [options]\n"
		"  --state-dir DIR          key file and first password (/var/lib/vireo-center)\n"
		"  --db LOCATION            SQLite file (default STATE/center.db), or a PostgreSQL\n"
		"                           connection string (postgresql://... or host=... dbname=...)\n"
		"  --listen ADDR            address of the REST API and web client (127.0.0.1)\n"
		"  --port N                 its port (8444; 0 picks a free one)\n"
		"  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
		"  --api-threads N          HTTP worker threads (8)\n"
		"  --heartbeat-ms MS        how often each host is heard from (3000)\n"
		"  --not-responding-ms MS   silence before a host is \"not responding\" (10000)\n"
		"  --resync-ms MS           full resync of each host (60000)\n"
		"  --task-workers N         tasks run at once (4), and as many alarm actions\n"
		"  --login-failure-delay-ms MS  pause after a failed login (250)\n"
		"  --login-lockout-failures N   failed logins that lock a user name (5; 0: no\n"
		"                           lockout) ...\n"
		"  --login-lockout-window S     ... within S seconds (180) ...\n"
		"  --login-lockout-unlock S     ... for S seconds (300)\n"
		"  --log-level LEVEL        error, warn, info or debug\n"
		"  --log-file FILE\n"
		"The first start creates the user admin; its password comes from $%s or is\n"
		"written to STATE/initial-admin-password.\n",
		INITIAL_PASSWORD_ENV);
}

static int number_opt(const char *name, const char *value, uint64_t min, uint64_t max,
		      unsigned *out)
{
	uint64_t v;
	if (parse_u64(value, min, max, &v) < 0) {
		fprintf(stderr, "vireo-center: %s \"%s\" is not a number from %llu to %llu\n", name,
			value, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct center_config *c, unsigned *login_delay)
{
	int opt, r = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_STATE_DIR:
			free(c->state_dir);
			c->state_dir = xstrdup(optarg);
			break;
		case OPT_DB:
			free(c->db_location);
			c->db_location = xstrdup(optarg);
			break;
		case OPT_LISTEN:
			free(c->listen);
			c->listen = xstrdup(optarg);
			break;
		case OPT_PORT:
			r = number_opt("--port", optarg, 0, 65535, &c->port);
			break;
		case OPT_TLS_CERT:
			free(c->tls_cert);
			c->tls_cert = xstrdup(optarg);
			break;
		case OPT_TLS_KEY:
			free(c->tls_key);
			c->tls_key = xstrdup(optarg);
			break;
		case OPT_API_THREADS:
			r = number_opt("--api-threads", optarg, 1, 256, &c->api_threads);
			break;
		case OPT_HEARTBEAT:
			r = number_opt("--heartbeat-ms", optarg, 200, 600000, &c->heartbeat_ms);
			break;
		case OPT_NOT_RESPONDING:
			r = number_opt("--not-responding-ms", optarg, 500, 3600000,
				       &c->not_responding_ms);
			break;
		case OPT_RESYNC:
			r = number_opt("--resync-ms", optarg, 1000, 86400000, &c->resync_ms);
			break;
		case OPT_TASK_WORKERS:
			r = number_opt("--task-workers", optarg, 1, 64, &c->task_workers);
			break;
		case OPT_LOGIN_DELAY:
			r = number_opt("--login-failure-delay-ms", optarg, 0, 10000, login_delay);
			break;
		case OPT_LOCKOUT_FAILURES:
			r = number_opt("--login-lockout-failures", optarg, 0,
				       LOGIN_LOCKOUT_FAILURES_MAX, &c->login_lockout_failures);
			break;
		case OPT_LOCKOUT_WINDOW:
			r = number_opt("--login-lockout-window", optarg, 1,
				       LOGIN_LOCKOUT_SECONDS_MAX, &c->login_lockout_window_s);
			break;
		case OPT_LOCKOUT_UNLOCK:
			r = number_opt("--login-lockout-unlock", optarg, 1,
				       LOGIN_LOCKOUT_SECONDS_MAX, &c->login_lockout_unlock_s);
			break;
		case OPT_LOG_LEVEL: {
			enum log_level l;
			if (log_level_parse(optarg, &l) < 0) {
				fprintf(stderr, "vireo-center: --log-level \"%s\": expected error, warn, "
						"info or debug\n",
					optarg);
				return -EINVAL;
			}
			log_set_level(l);
			break;
		}
		case OPT_LOG_FILE:
			if (log_open_file(optarg) < 0) {
				fprintf(stderr, "vireo-center: cannot open log file \"%s\": %s\n", optarg,
					strerror(errno));
				return -EINVAL;
			}
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("vireo-center %s\n", VIREO_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (r < 0)
		return r;
	if (optind < argc) {
		fprintf(stderr, "vireo-center: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!!c->tls_cert != !!c->tls_key) {
		fprintf(stderr, "vireo-center: --tls-cert and --tls-key go together\n");
		return -EINVAL;
	}
	if (c->not_responding_ms < c->heartbeat_ms) {
		fprintf(stderr, "vireo-center: --not-responding-ms (%u) must be at least the "
				"heartbeat (%u)\n",
			c->not_responding_ms, c->heartbeat_ms);
		return -EINVAL;
	}
	return 0;
}

static void config_free(struct center_config *c)
{
	free(c->state_dir);
	free(c->db_location);
	free(c->listen);
	free(c->tls_cert);
	free(c->tls_key);
}

/* This center's identity, made on first start. */
static int load_uuid(struct db *db, char out[37], struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *get = NULL, *put = NULL;
	int r = db_prepare(db, "read the center's uuid",
			   "SELECT value FROM center_setting WHERE name = 'uuid'", &get, err);
	if (r < 0)
		return r;
	r = db_step(get, err);
	if (r < 0)
		return r;
	if (r > 0 && uuid_is_valid(db_column_text(get, 0))) {
		snprintf(out, 37, "%s", db_column_text(get, 0));
		return 0;
	}
	db_reset(get);
	uuid_generate_str(out);
	r = db_prepare(db, "record the center's uuid",
		       "INSERT INTO center_setting (name, value) VALUES ('uuid', $1)"
		       " ON CONFLICT (name) DO UPDATE SET value = $1",
		       &put, err);
	if (r < 0)
		return r;
	db_bind_text(put, 1, out);
	return db_step(put, err) < 0 ? -EIO : 0;
}

/* The alarms a new center starts with, as vCenter ships its defaults. */
static int default_alarms(struct db *db, int64_t root, struct vr_error **err)
{
	static const struct alarm_spec defs[] = {
		{.name = "Host connection state",
		 .description = "A host does not answer center",
		 .target_kind = "host", .condition_kind = "state",
		 .state_name = "connection_state", .red_state = "not_responding"},
		{.name = "Datastore usage on disk",
		 .description = "A datastore is filling up",
		 .target_kind = "datastore", .condition_kind = "metric",
		 .metric = "datastore.usage.percent", .comparison = ">",
		 .has_yellow = true, .yellow = 75, .has_red = true, .red = 85},
		{.name = "Virtual machine error",
		 .description = "A VM's QEMU ended without being asked to",
		 .target_kind = "vm", .condition_kind = "event",
		 .event_type = "VmFailed", .event_status = ALARM_RED},
		{.name = "Host memory usage",
		 .description = "A host's memory has been nearly full for 5 minutes",
		 .target_kind = "host", .condition_kind = "metric",
		 .metric = "mem.usage.average", .comparison = ">",
		 .has_yellow = true, .yellow = 90, .has_red = true, .red = 95,
		 .duration_ms = 300000},
		{.name = "Virtual machine CPU usage",
		 .description = "A VM has used most of its CPU for 5 minutes",
		 .target_kind = "vm", .condition_kind = "metric",
		 .metric = "cpu.usage.average", .comparison = ">",
		 .has_yellow = true, .yellow = 75, .has_red = true, .red = 90,
		 .duration_ms = 300000},
	};
	for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
		struct alarm_spec s = defs[i];
		s.object_id = root;
		s.enabled = true;
		int r = alarm_define(db, &s, center_now_ms(), NULL, err);
		if (r < 0)
			return vr_error_wrap(err, "default alarm \"%s\"", defs[i].name);
	}
	return 0;
}

struct bootstrap {
	const char *password;
	int64_t root;
	bool created;
};

static int bootstrap_fn(struct db *db, void *opaque, struct vr_error **err)
{
	struct bootstrap *b = opaque;
	int64_t n = 0;
	int r = db_query_int64(db, "count users", "SELECT COUNT(*) FROM principal WHERE kind = 'user'",
			       &n, err);
	if (r < 0 || n > 0)
		return r;
	int64_t user, role_id;
	r = principal_user_create(db, "admin", b->password, "Administrator", center_now_ms(), &user,
				  err);
	if (r < 0)
		return r;
	struct role admin = {0};
	r = role_get_by_name(db, "Admin", &admin, err);
	role_id = admin.id;
	role_clear(&admin);
	if (r == 0)
		r = permission_set(db, b->root, user, role_id, true, center_now_ms(), err);
	if (r == 0)
		r = default_alarms(db, b->root, err);
	b->created = r == 0;
	return r;
}

/* On first start: the user admin@vsphere.local with the Administrator role on the root. */
static int bootstrap_admin(struct center *c, struct db *db, struct vr_error **err)
{
	const char *env = getenv(INITIAL_PASSWORD_ENV);
	_cleanup_free_ char *password = NULL;
	if (env && *env) {
		password = xstrdup(env);
	} else {
		static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
		unsigned char raw[20];
		if (random_bytes(raw, sizeof(raw)) < 0)
			return vr_error_set(err, EIO, "cannot get random bytes for a password");
		password = xmalloc(sizeof(raw) + 1);
		for (size_t i = 0; i < sizeof(raw); i++)
			password[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
		password[sizeof(raw)] = '\0';
	}
	struct bootstrap b = {.password = password, .root = c->root_id};
	int r = db_transact(db, bootstrap_fn, &b, err);
	if (r < 0 || !b.created)
		return r;
	if (env && *env) {
		log_info("created the user admin with the password from $%s", INITIAL_PASSWORD_ENV);
	} else {
		_cleanup_free_ char *path = xasprintf("%s/initial-admin-password", c->cfg.state_dir);
		_cleanup_free_ char *line = xasprintf("%s\n", password);
		r = file_write_atomic(path, line, strlen(line), 0600, err);
		explicit_bzero(line, strlen(line));
		if (r < 0)
			return r;
		log_info("created the user admin; its password is in %s", path);
	}
	explicit_bzero(password, strlen(password));
	return 0;
}

/* ---- housekeeping: alarm repeats, performance roll-ups, bounded history ---- */

static pthread_mutex_t hk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hk_cond;
static bool hk_stop;

static void housekeeping_round(struct center *c, uint64_t round)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(c->pool, &err);
	if (!db)
		return;
	int64_t now = center_now_ms();
	struct alarm_fire_list fires = {0};
	if (alarm_due_repeats(db, now, &fires, &err) == 0)
		center_run_alarm_fires(c, db, &fires);
	alarm_fire_list_clear(&fires);
	vr_error_free(err);
	err = NULL;
	/* 40 s late: a bucket is rolled up once the samples that close it have surely arrived. */
	if (perf_rollup(db, now - 40000, &err) < 0) {
		log_warn("performance roll-up: %s", vr_error_msg(err));
		vr_error_free(err);
		err = NULL;
	}
	if (round % 180 == 0) { /* about hourly */
		int64_t n1 = 0, n2 = 0;
		if (ctask_purge(db, now - HISTORY_KEEP_MS, &n1, &err) < 0 ||
		    cevent_purge(db, now - HISTORY_KEEP_MS, &n2, &err) < 0)
			log_warn("history purge: %s", vr_error_msg(err));
		else if (n1 + n2 > 0)
			log_info("purged %lld old tasks and %lld old events", (long long)n1,
				 (long long)n2);
	}
	dbpool_put(c->pool, db);
}

static void *housekeeping_main(void *opaque)
{
	struct center *c = opaque;
	for (uint64_t round = 1;; round++) {
		struct timespec deadline;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += HOUSEKEEPING_MS / 1000;
		pthread_mutex_lock(&hk_lock);
		if (!hk_stop)
			pthread_cond_timedwait(&hk_cond, &hk_lock, &deadline);
		bool stop = hk_stop;
		pthread_mutex_unlock(&hk_lock);
		if (stop)
			break;
		housekeeping_round(c, round);
	}
	return NULL;
}

static int center_start(struct center *c, unsigned login_delay, pthread_t *hk,
			struct vr_error **err)
{
	int r = mkdir_p(c->cfg.state_dir, 0700);
	if (r < 0)
		return vr_error_set_errno(err, -r, "cannot create \"%s\"", c->cfg.state_dir);
	if (!c->cfg.db_location)
		c->cfg.db_location = xasprintf("%s/center.db", c->cfg.state_dir);
	_cleanup_free_ char *shown = db_location_redact(c->cfg.db_location);

	/*
	 * This center's claim on the database, held until it stops, taken
	 * before any migration: SQLite's before the file is even opened.
	 */
	bool sqlite = db_location_backend(c->cfg.db_location) != DB_BACKEND_POSTGRES;
	if (sqlite && (r = db_claim_file(c->cfg.db_location, &c->claim_fd, err)) < 0)
		return vr_error_wrap(err, "database %s", shown);
	struct db *db = NULL;
	if ((r = db_open(c->cfg.db_location, &db, err)) < 0)
		return vr_error_wrap(err, "database %s", shown);
	c->claim = db;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	char since[32];
	time_format_iso(time_real_ms(), since);
	_cleanup_free_ char *holder =
		xasprintf("vireo-center pid %d on %s since %s", (int)getpid(), host, since);
	if ((!sqlite && (r = db_claim(db, err)) < 0) || (r = schema_migrate(db, NULL, err)) < 0 ||
	    (r = sqlite ? db_claim_file_record(c->claim_fd, holder, err)
			: db_claim_record(db, holder, err)) < 0)
		return vr_error_wrap(err, "database %s", shown);
	r = load_uuid(db, c->uuid, err);
	if (r == 0)
		r = inventory_root(db, &c->root_id, err);
	if (r < 0)
		return r;

	/* Task workers: the users' lane and the alarms' lane. */
	c->pool = dbpool_new(c->cfg.db_location,
			     c->cfg.api_threads + 2 * c->cfg.task_workers + 8, err);
	if (!c->pool)
		return -EIO;
	if (!(c->secrets = secrets_open(c->cfg.state_dir, err)))
		return -EIO;
	db = dbpool_get(c->pool, err);
	if (!db)
		return -EIO;
	r = bootstrap_admin(c, db, err);
	dbpool_put(c->pool, db);
	if (r < 0)
		return r;

	c->sessions = csessions_new(0, 0);
	csessions_set_failure_delay(c->sessions, login_delay);
	struct login_lockout_config lockout = {
		.max_failures = c->cfg.login_lockout_failures,
		.window_ms = c->cfg.login_lockout_window_s * 1000ULL,
		.unlock_ms = c->cfg.login_lockout_unlock_s * 1000ULL,
		.capacity = LOGIN_LOCKOUT_DEFAULT_CAPACITY,
	};
	if ((r = csessions_set_lockout(c->sessions, &lockout, err)) < 0)
		return r;
	if (lockout.max_failures)
		log_info("login lockout: %u failed logins within %u s lock a user name for %u s",
			 lockout.max_failures, c->cfg.login_lockout_window_s,
			 c->cfg.login_lockout_unlock_s);
	else
		log_warn("login lockout is off (--login-lockout-failures 0): passwords can be "
			 "guessed as fast as center answers");
	if (!(c->tasks = taskrun_new(c, c->cfg.task_workers, err)))
		return -EIO;
	c->hosts = chosts_new(c);
	if ((r = chosts_start(c->hosts, err)) < 0)
		return r;

	struct api_server_config api_cfg = {
		.bind_address = c->cfg.listen,
		.port = (uint16_t)c->cfg.port,
		.tls_cert_file = c->cfg.tls_cert,
		.tls_key_file = c->cfg.tls_key,
		.thread_pool_size = c->cfg.api_threads,
	};
	c->api = api_server_new(&api_cfg, &csessions_api_auth, c->sessions, err);
	if (!c->api)
		return -EINVAL;
	capi_core_register(c->api, c);
	capi_inventory_register(c->api, c);
	capi_hosts_register(c->api, c);
	capi_vms_register(c->api, c);
	capi_tasks_register(c->api, c);
	capi_access_register(c->api, c);
	capi_monitoring_register(c->api, c);
	capi_pools_register(c->api, c);
	capi_provision_register(c->api, c);
	capi_console_register(c->api, c);
	capi_web_register(c->api, c);
	if ((r = api_server_start(c->api, err)) < 0)
		return r;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hk_cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = pthread_create(hk, NULL, housekeeping_main, c)) != 0)
		return vr_error_set_errno(err, r, "cannot start the housekeeping thread");

	log_info("vireo-center %s (%.8s): database %s (%s), API on %s://%s:%u/api/v1",
		 VIREO_VERSION, c->uuid, shown, dbpool_backend_name(c->pool),
		 c->cfg.tls_cert ? "https" : "http", c->cfg.listen, api_server_port(c->api));
	return 0;
}

static void center_stop(struct center *c)
{
	/*
	 * The API first (no new work).  Then the task workers, while the
	 * hosts they talk to still exist (a body following a host's task
	 * gives up when it sees center stopping); alarm actions the monitors
	 * fire meanwhile are refused.  Then the monitors.
	 */
	if (c->api)
		api_server_stop_and_free(c->api);
	taskrun_stop(c->tasks);
	chosts_stop_and_free(c->hosts);
	taskrun_free(c->tasks);
	center_notify_drain(); /* webhooks post their outcome through the pool */
	csessions_free(c->sessions);
	secrets_free(c->secrets);
	dbpool_free(c->pool);
	db_close(c->claim); /* another center may take the database now */
	if (c->claim_fd >= 0)
		close(c->claim_fd);
	config_free(&c->cfg);
}

int main(int argc, char **argv)
{
	struct center c = {
		.claim_fd = -1,
		.cfg = {
			.state_dir = xstrdup("/var/lib/vireo-center"),
			.listen = xstrdup("127.0.0.1"),
			.port = 8444,
			.api_threads = 8,
			.heartbeat_ms = 3000,
			.not_responding_ms = 10000,
			.resync_ms = 60000,
			.task_workers = 4,
			.login_lockout_failures = LOGIN_LOCKOUT_DEFAULT_FAILURES,
			.login_lockout_window_s = LOGIN_LOCKOUT_DEFAULT_WINDOW_S,
			.login_lockout_unlock_s = LOGIN_LOCKOUT_DEFAULT_UNLOCK_S,
		},
	};
	unsigned login_delay = 250;
	if (parse_args(argc, argv, &c.cfg, &login_delay) < 0) {
		config_free(&c.cfg);
		return 2;
	}
	raise_file_limit(); /* a long poll and kept-alive connections per host */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* every thread inherits the mask */

	struct vr_error *err = NULL;
	pthread_t hk;
	bool hk_started = false;
	int r = center_start(&c, login_delay, &hk, &err);
	hk_started = r == 0;
	if (r < 0) {
		log_error("cannot start: %s", vr_error_msg(err));
		vr_error_free(err);
		center_stop(&c);
		curl_global_cleanup();
		return 1;
	}
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("received %s: stopping (hosts and their VMs are not touched)", strsignal(sig));
	if (hk_started) {
		pthread_mutex_lock(&hk_lock);
		hk_stop = true;
		pthread_cond_broadcast(&hk_cond);
		pthread_mutex_unlock(&hk_lock);
		pthread_join(hk, NULL);
	}
	center_stop(&c);
	curl_global_cleanup();
	return 0;
}
