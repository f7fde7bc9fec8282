/* SPDX-License-Identifier: Apache-2.0 */
/* vireo-hostd: the host agent.  Wires the parts together; no logic of its own. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/lockout.h"
#include "api/server.h"
#include "host/auth.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/shim.h"
#include "host/sim/sim.h"
#include "host/storage/disk.h"
#include "host/stats/stats.h"
#include "host/stats_sampler.h"
#include "host/tasks.h"
#include "host/transfer.h"
#include "host/alloc.h"
#include "host/vswitch.h"
#include "qemu/qga.h"
#include "qemu/accel.h"
#include "qemu/qmp.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vireo-hostd [OPTIONS]\n"
		"The Vireo host agent: runs this host's virtual machines on QEMU.\n\n"
		"  --state-dir DIR        users, inventory, datastores (default /var/lib/vireo)\n"
		"  --run-dir DIR          sockets of running VMs (default /run/vireo)\n"
		"  --listen ADDR          address of the REST API (default 127.0.0.1)\n"
		"  --port N               port of the REST API (default 8443; 0 = any)\n"
		"  --tls-cert FILE        serve HTTPS with this certificate ...\n"
		"  --tls-key FILE         ... and this key\n"
		"  --datastore NAME=PATH  add a datastore (kept in the state dir)\n"
		"  --accel auto|kvm|tcg   accelerator override for this host (default auto)\n"
		"  --qemu PATH            QEMU binary (default qemu-system-x86_64)\n"
		"  --shim PATH            per-VM keeper (default: vireo-shim next to vireo-hostd)\n"
		"  --qemu-user USER       user QEMU runs as (default vireo-qemu if it exists;\n"
		"                         \"none\" keeps QEMU as the user hostd runs as)\n"
		"  --no-sandbox           do not enable QEMU's seccomp sandbox\n"
		"  --host-name NAME       name shown in locks and events (default: hostname)\n"
		"  --cgroup-parent NAME   parent cgroup of the VMs' groups (default: vireo)\n"
		"  --balloon-period-ms N  balloon policy period (default 5000; 0: off)\n"
		"  --lock-renew-ms N      VM lock renewal period (default 3000)\n"
		"  --lock-lease-ms N      lock lease: not renewed this long = stale (default 12000)\n"
		"  --log-level LEVEL      error, warn, info, debug (default info)\n"
		"  --log-file FILE        also log to FILE\n"
		"  --stats-interval S     statistics sampling interval in seconds (default 20)\n"
		"  --metrics-no-auth      serve /metrics without authentication\n"
		"  --login-lockout-failures N  failed logins that lock a user name (default 5;\n"
		"                         0: no lockout) ...\n"
		"  --login-lockout-window S    ... within S seconds (default 180) ...\n"
		"  --login-lockout-unlock S    ... for S seconds (default 300)\n"
		"  --simulate H[:V]       no QEMU: play H hosts with V fake VMs each (default 20)\n"
		"                         on --listen/--port, host i under /sim/<i> (scale tests)\n"
		"  --simulate-password P  their admin password (default:\n"
		"                         $VIREO_INITIAL_ADMIN_PASSWORD)\n"
		"  --help, --version\n");
}

static int host_id_load(struct hostd *h, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/host-id", h->cfg.state_dir);
	_cleanup_free_ char *text = NULL;
	if (file_read_all(path, 128, &text, NULL, NULL) == 0) {
		char *nl = strchr(text, '\n');
		if (nl)
			*nl = '\0';
		if (uuid_is_valid(text)) {
			snprintf(h->host_id, sizeof(h->host_id), "%s", text);
			return 0;
		}
		return vr_error_set(err, EINVAL, "\"%s\" does not hold a UUID", path);
	}
	uuid_generate_str(h->host_id);
	_cleanup_free_ char *line = xasprintf("%s\n", h->host_id);
	return file_write_atomic(path, line, strlen(line), 0644, err);
}

enum {
	OPT_STATE_DIR = 256,
	OPT_RUN_DIR,
	OPT_LISTEN,
	OPT_PORT,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_DATASTORE,
	OPT_ACCEL,
	OPT_QEMU,
	OPT_SHIM,
	OPT_QEMU_USER,
	OPT_NO_SANDBOX,
	OPT_HOST_NAME,
	OPT_CGROUP_PARENT,
	OPT_BALLOON_PERIOD,
	OPT_LOCK_RENEW,
	OPT_LOCK_LEASE,
	OPT_LOG_LEVEL,
	OPT_LOG_FILE,
	OPT_STATS_INTERVAL,
	OPT_METRICS_NO_AUTH,
	OPT_LOCKOUT_FAILURES,
	OPT_LOCKOUT_WINDOW,
	OPT_LOCKOUT_UNLOCK,
	OPT_SIMULATE,
	OPT_SIMULATE_PASSWORD,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"run-dir", required_argument, NULL, OPT_RUN_DIR},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"port", required_argument, NULL, OPT_PORT},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"datastore", required_argument, NULL, OPT_DATASTORE},
	{"accel", required_argument, NULL, OPT_ACCEL},
	{"qemu", required_argument, NULL, OPT_QEMU},
	{"shim", required_argument, NULL, OPT_SHIM},
	{"qemu-user", required_argument, NULL, OPT_QEMU_USER},
	{"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
	{"host-name", required_argument, NULL, OPT_HOST_NAME},
	{"cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT},
	{"balloon-period-ms", required_argument, NULL, OPT_BALLOON_PERIOD},
	{"lock-renew-ms", required_argument, NULL, OPT_LOCK_RENEW},
	{"lock-lease-ms", required_argument, NULL, OPT_LOCK_LEASE},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"log-file", required_argument, NULL, OPT_LOG_FILE},
	{"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
	{"metrics-no-auth", no_argument, NULL, OPT_METRICS_NO_AUTH},
	{"login-lockout-failures", required_argument, NULL, OPT_LOCKOUT_FAILURES},
	{"login-lockout-window", required_argument, NULL, OPT_LOCKOUT_WINDOW},
	{"login-lockout-unlock", required_argument, NULL, OPT_LOCKOUT_UNLOCK},
	{"simulate", required_argument, NULL, OPT_SIMULATE},
	{"simulate-password", required_argument, NULL, OPT_SIMULATE_PASSWORD},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* --simulate: run host/sim/sim.h instead of the host agent. */
static struct sim_config simulate;

static int parse_args(int argc, char **argv, struct hostd_config *c, char ***datastores)
{
	uint64_t v;
	int opt;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_STATE_DIR:
			free(c->state_dir);
			c->state_dir = xstrdup(optarg);
			break;
		case OPT_RUN_DIR:
			free(c->run_dir);
			c->run_dir = xstrdup(optarg);
			break;
		case OPT_LISTEN:
			free(c->listen);
			c->listen = xstrdup(optarg);
			break;
		case OPT_PORT:
			if (parse_u64(optarg, 0, 65535, &v) < 0) {
				fprintf(stderr, "vireo-hostd: --port \"%s\" is not a port number\n", optarg);
				return -EINVAL;
			}
			c->port = (unsigned)v;
			break;
		case OPT_TLS_CERT:
			c->tls_cert = xstrdup(optarg);
			break;
		case OPT_TLS_KEY:
			c->tls_key = xstrdup(optarg);
			break;
		case OPT_DATASTORE:
			if (!strchr(optarg, '=')) {
				fprintf(stderr, "vireo-hostd: --datastore \"%s\": expected NAME=PATH\n",
					optarg);
				return -EINVAL;
			}
			strv_push(datastores, optarg);
			break;
		case OPT_ACCEL:
			if (vm_accel_parse(optarg, &c->accel) < 0) {
				fprintf(stderr, "vireo-hostd: --accel \"%s\": expected auto, kvm or tcg\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_QEMU:
			free(c->qemu_binary);
			c->qemu_binary = xstrdup(optarg);
			break;
		case OPT_SHIM:
			free(c->shim_binary);
			c->shim_binary = xstrdup(optarg);
			break;
		case OPT_QEMU_USER:
			free(c->qemu_user);
			c->qemu_user = strcmp(optarg, "none") == 0 ? NULL : xstrdup(optarg);
			break;
		case OPT_NO_SANDBOX:
			c->qemu_sandbox = false;
			break;
		case OPT_HOST_NAME:
			free(c->host_name);
			c->host_name = xstrdup(optarg);
			break;
		case OPT_CGROUP_PARENT:
			if (!*optarg || strchr(optarg, '/') || strcmp(optarg, ".") == 0 ||
			    strcmp(optarg, "..") == 0 || strlen(optarg) > 64) {
				fprintf(stderr, "vireo-hostd: --cgroup-parent \"%s\" must be one path "
						"component\n", optarg);
				return -EINVAL;
			}
			free(c->cgroup_parent);
			c->cgroup_parent = xstrdup(optarg);
			break;
		case OPT_BALLOON_PERIOD:
			if (parse_u64(optarg, 0, 3600000, &v) < 0 || (v > 0 && v < 200)) {
				fprintf(stderr, "vireo-hostd: --balloon-period-ms \"%s\": 0 (off) or "
						"200..3600000\n", optarg);
				return -EINVAL;
			}
			c->balloon_period_ms = (unsigned)v;
			break;
		case OPT_LOCK_RENEW:
		case OPT_LOCK_LEASE:
			if (parse_u64(optarg, 100, 600000, &v) < 0) {
				fprintf(stderr, "vireo-hostd: \"%s\" is not a number of ms (100..600000)\n",
					optarg);
				return -EINVAL;
			}
			if (opt == OPT_LOCK_RENEW)
				c->lock_renew_ms = (unsigned)v;
			else
				c->lock_lease_ms = (unsigned)v;
			break;
		case OPT_LOG_LEVEL: {
			enum log_level l;
			if (log_level_parse(optarg, &l) < 0) {
				fprintf(stderr, "vireo-hostd: --log-level \"%s\": expected error, warn, "
						"info or debug\n",
					optarg);
				return -EINVAL;
			}
			log_set_level(l);
			break;
		}
		case OPT_LOG_FILE:
			if (log_open_file(optarg) < 0) {
				fprintf(stderr, "vireo-hostd: cannot open log file \"%s\": %s\n", optarg,
					strerror(errno));
				return -EINVAL;
			}
			break;
		case OPT_STATS_INTERVAL: {
			char *end;
			double sec = strtod(optarg, &end);
			if (*end || end == optarg || !(sec >= 0.5 && sec <= 3600)) {
				fprintf(stderr, "vireo-hostd: --stats-interval \"%s\": expected seconds "
						"(0.5..3600)\n",
					optarg);
				return -EINVAL;
			}
			c->stats_interval_ms = (unsigned)(sec * 1000.0 + 0.5);
			break;
		}
		case OPT_METRICS_NO_AUTH:
			c->metrics_no_auth = true;
			break;
		case OPT_LOCKOUT_FAILURES:
			if (parse_u64(optarg, 0, LOGIN_LOCKOUT_FAILURES_MAX, &v) < 0) {
				fprintf(stderr, "vireo-hostd: --login-lockout-failures \"%s\": expected "
						"0 (no lockout) to %d failed logins\n",
					optarg, LOGIN_LOCKOUT_FAILURES_MAX);
				return -EINVAL;
			}
			c->login_lockout_failures = (unsigned)v;
			break;
		case OPT_LOCKOUT_WINDOW:
		case OPT_LOCKOUT_UNLOCK:
			if (parse_u64(optarg, 1, LOGIN_LOCKOUT_SECONDS_MAX, &v) < 0) {
				fprintf(stderr, "vireo-hostd: --login-lockout-%s \"%s\": expected "
						"seconds (1..%d)\n",
					opt == OPT_LOCKOUT_WINDOW ? "window" : "unlock", optarg,
					LOGIN_LOCKOUT_SECONDS_MAX);
				return -EINVAL;
			}
			if (opt == OPT_LOCKOUT_WINDOW)
				c->login_lockout_window_s = (unsigned)v;
			else
				c->login_lockout_unlock_s = (unsigned)v;
			break;
		case OPT_SIMULATE:
			if (sim_spec_parse(optarg, &simulate.hosts, &simulate.vms_per_host) < 0) {
				fprintf(stderr, "vireo-hostd: --simulate \"%s\": expected HOSTS[:VMS] "
						"(1..%d hosts, 0..%d VMs each)\n",
					optarg, SIM_MAX_HOSTS, SIM_MAX_VMS_PER_HOST);
				return -EINVAL;
			}
			break;
		case OPT_SIMULATE_PASSWORD:
			simulate.admin_password = optarg;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("vireo-hostd %s\n", VIREO_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vireo-hostd: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (c->lock_lease_ms < 2 * c->lock_renew_ms) {
		fprintf(stderr, "vireo-hostd: the lock lease (%u ms) must be at least twice the "
				"renewal period (%u ms)\n",
			c->lock_lease_ms, c->lock_renew_ms);
		return -EINVAL;
	}
	if (!!c->tls_cert != !!c->tls_key) {
		fprintf(stderr, "vireo-hostd: --tls-cert and --tls-key go together\n");
		return -EINVAL;
	}
	return 0;
}

static void config_free(struct hostd_config *c)
{
	free(c->state_dir);
	free(c->run_dir);
	free(c->listen);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->qemu_binary);
	free(c->shim_binary);
	free(c->qemu_user);
	free(c->host_name);
	free(c->cgroup_parent);
}

static int absolutize(char **path)
{
	if ((*path)[0] == '/')
		return 0;
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	char *abs = xasprintf("%s/%s", cwd, *path);
	free(*path);
	*path = abs;
	return 0;
}

static void sweep_transfers(void *opaque)
{
	transfers_sweep(opaque);
}

/* Failed logins locked a user name (auth.c): the host's event, which center copies. */
static void account_locked(void *opaque, const char *user, const char *peer,
			   const struct login_lockout_verdict *v)
{
	struct hostd *h = opaque;
	events_add(h->events, EVENT_WARNING, "host", "AccountLockedEvent",
		   "user name \"%s\" locked for %llu s after %u failed logins within %u s (the "
		   "last from %s); its open sessions go on",
		   user, (unsigned long long)login_lockout_retry_after_s(v), v->failures,
		   h->cfg.login_lockout_window_s, peer ? peer : "an unknown address");
}

static int hostd_start(struct hostd *h, char **datastores, struct vr_error **err)
{
	int r;
	if (absolutize(&h->cfg.state_dir) < 0 || absolutize(&h->cfg.run_dir) < 0)
		return vr_error_set(err, EINVAL, "cannot resolve the state or run folder");
	if ((r = mkdir_p(h->cfg.state_dir, 0700)) < 0)
		return vr_error_set_errno(err, -r, "cannot create \"%s\"", h->cfg.state_dir);
	if ((r = mkdir_p(h->cfg.run_dir, 0711)) < 0)
		return vr_error_set_errno(err, -r, "cannot create \"%s\"", h->cfg.run_dir);
	uuid_generate_str(h->instance_id);
	if ((r = host_id_load(h, err)) < 0)
		return r;

	h->detected_accel = qemu_accel_detect("/sys", "/dev/kvm", &h->accel_reason);
	log_info("accelerator: %s", h->accel_reason);
	if (h->cfg.accel == VM_ACCEL_KVM && h->detected_accel != VM_ACCEL_KVM)
		log_warn("--accel kvm was given, but %s; VMs will fail to power on", h->accel_reason);

	if (h->cfg.qemu_user) {
		if (getuid() != 0) {
			log_info("not running as root: QEMU runs as this user, not \"%s\"",
				 h->cfg.qemu_user);
			free(h->cfg.qemu_user);
			h->cfg.qemu_user = NULL;
		} else if (!getpwnam(h->cfg.qemu_user)) {
			return vr_error_set(err, ENOENT,
					    "the QEMU user \"%s\" does not exist (create it with "
					    "\"useradd --system %s\", or pass --qemu-user none)",
					    h->cfg.qemu_user, h->cfg.qemu_user);
		}
	}

	h->auth = auth_open(h->cfg.state_dir, err);
	if (!h->auth)
		return -EIO;
	h->events = events_new(2000);
	struct login_lockout_config lockout = {
		.max_failures = h->cfg.login_lockout_failures,
		.window_ms = h->cfg.login_lockout_window_s * 1000ULL,
		.unlock_ms = h->cfg.login_lockout_unlock_s * 1000ULL,
		.capacity = LOGIN_LOCKOUT_DEFAULT_CAPACITY,
	};
	if ((r = auth_set_lockout(h->auth, &lockout, err)) < 0)
		return r;
	auth_set_lock_notify(h->auth, account_locked, h);
	if (lockout.max_failures)
		log_info("login lockout: %u failed logins within %u s lock a user name for %u s",
			 lockout.max_failures, h->cfg.login_lockout_window_s,
			 h->cfg.login_lockout_unlock_s);
	else
		log_warn("login lockout is off (--login-lockout-failures 0): passwords can be "
			 "guessed as fast as hostd answers");
	h->tasks = tasks_new();
	h->disk_sizes = disk_size_cache_new();
	h->loop = vr_loop_new(err);
	if (!h->loop)
		return -EIO;
	if ((r = vr_loop_start(h->loop)) < 0)
		return vr_error_set_errno(err, -r, "cannot start the event loop");

	if ((r = datastores_load(h, err)) < 0)
		return r;
	for (size_t i = 0; datastores && datastores[i]; i++) {
		char *eq = strchr(datastores[i], '=');
		*eq = '\0';
		_cleanup_free_ char *have = datastore_path(h, datastores[i]);
		if (have)
			continue;
		if ((r = datastore_add(h, datastores[i], eq + 1, err)) < 0)
			return r;
		log_info("datastore \"%s\" added at %s", datastores[i], eq + 1);
	}
	if ((r = vnet_init(h, err)) < 0)
		return r;
	if ((r = alloc_init(h, err)) < 0)
		return r;
	if ((r = inventory_load(h, err)) < 0)
		return r;
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		lifecycle_reattach(h, vm);
	alloc_pools_sweep(h);
	/* Ports left behind by VMs that stopped while hostd was away. */
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		if (vm->pid <= 0)
			vnet_vm_disconnect(h, vm);
	h->supervise_timer = vr_loop_add_timer(h->loop, h->cfg.lock_renew_ms,
					       h->cfg.lock_renew_ms, lifecycle_supervise, h);
	h->transfers = transfers_new();
	transfers_clean_datastores(h);
	h->transfer_timer = vr_loop_add_timer(h->loop, TRANSFER_SWEEP_MS, TRANSFER_SWEEP_MS,
					      sweep_transfers, h);

	struct api_server_config api_cfg = {
		.bind_address = h->cfg.listen,
		.port = (uint16_t)h->cfg.port,
		.tls_cert_file = h->cfg.tls_cert,
		.tls_key_file = h->cfg.tls_key,
	};
	h->api = api_server_new(&api_cfg, &api_hostd_auth, h->auth, err);
	if (!h->api)
		return -EIO;
	api_health_register(h->api);
	api_sessions_register(h->api, h->auth);
	api_users_register(h->api, h->auth);
	api_host_register(h->api, h);
	api_datastores_register(h->api, h);
	api_vms_register(h->api, h);
	api_disks_register(h->api, h);
	api_snapshots_register(h->api, h);
	api_cbt_register(h->api, h);
	api_clones_register(h->api, h);
	api_import_register(h->api, h);
	api_tasks_register(h->api, h);
	h->stats = stats_sampler_start(h, h->cfg.stats_interval_ms, err);
	if (!h->stats)
		return -EIO;
	api_stats_register(h->api, h->stats, h->cfg.metrics_no_auth);
	api_network_register(h->api, h);
	api_resources_register(h->api, h);
	api_resource_pools_register(h->api, h);
	api_transfers_register(h->api, h);
	if ((r = api_server_start(h->api, err)) < 0)
		return r;
	log_info("vireo-hostd %s: host \"%s\" (%s), API on %s://%s:%u/api/v1", VIREO_VERSION,
		 h->cfg.host_name, h->host_id, h->cfg.tls_cert ? "https" : "http", h->cfg.listen,
		 api_server_port(h->api));
	return 0;
}

static void hostd_stop(struct hostd *h)
{
	if (h->api) /* long polls end at once, 503 */
		api_server_stop_and_free(h->api);
	stats_sampler_stop(h->stats); /* after the API, its reader */
	if (h->loop && h->supervise_timer)
		vr_loop_cancel_timer(h->loop, h->supervise_timer);
	if (h->loop && h->transfer_timer)
		vr_loop_cancel_timer(h->loop, h->transfer_timer);
	transfers_free(h, h->transfers); /* after the API: nothing uses them now */
	h->transfers = NULL;
	/* Running VMs keep running: only our connections to them close. */
	tasks_free(h->tasks);
	for (struct vm *vm = h->vms; vm; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		struct qmp *q = vm->qmp;
		struct qga *g = vm->qga;
		vm->qmp = NULL;
		vm->qga = NULL;
		pthread_mutex_unlock(&vm->lock);
		if (q)
			qmp_close(q);
		qga_close(g);
	}
	vnet_fini(h);
	alloc_fini(h);
	if (h->loop)
		vr_loop_stop_and_free(h->loop);
	for (struct vm *vm = h->vms, *n; vm; vm = n) {
		n = vm->next;
		vm_unref(vm);
	}
	for (size_t i = 0; i < h->n_datastores; i++) {
		free(h->datastores[i].name);
		free(h->datastores[i].path);
	}
	free(h->datastores);
	events_free(h->events);
	disk_size_cache_free(h->disk_sizes);
	auth_free(h->auth);
	free(h->accel_reason);
	config_free(&h->cfg);
}

int main(int argc, char **argv)
{
	struct hostd h = {
		.cfg = {
			.state_dir = xstrdup("/var/lib/vireo"),
			.run_dir = xstrdup("/run/vireo"),
			.listen = xstrdup("127.0.0.1"),
			.port = 8443,
			.qemu_binary = xstrdup("qemu-system-x86_64"),
			.qemu_user = getpwnam("vireo-qemu") ? xstrdup("vireo-qemu") : NULL,
			.qemu_sandbox = true,
			.accel = VM_ACCEL_AUTO,
			.lock_renew_ms = 3000,
			.balloon_period_ms = 5000,
			.stats_interval_ms = STATS_DEFAULT_INTERVAL_MS,
			.lock_lease_ms = 12000,
			.login_lockout_failures = LOGIN_LOCKOUT_DEFAULT_FAILURES,
			.login_lockout_window_s = LOGIN_LOCKOUT_DEFAULT_WINDOW_S,
			.login_lockout_unlock_s = LOGIN_LOCKOUT_DEFAULT_UNLOCK_S,
		},
	};
	pthread_mutex_init(&h.lock, NULL);
	_cleanup_strv_ char **datastores = NULL;
	if (parse_args(argc, argv, &h.cfg, &datastores) < 0) {
		config_free(&h.cfg);
		return 2;
	}
	raise_file_limit(); /* center's connections, VMs' files and sockets */
	if (simulate.hosts) {
		signal(SIGPIPE, SIG_IGN);
		sigset_t block;
		sigemptyset(&block);
		sigaddset(&block, SIGTERM);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &block, NULL);
		simulate.listen = h.cfg.listen;
		simulate.port = (uint16_t)h.cfg.port;
		simulate.tls_cert = h.cfg.tls_cert;
		simulate.tls_key = h.cfg.tls_key;
		if (!simulate.admin_password)
			simulate.admin_password = getenv("VIREO_INITIAL_ADMIN_PASSWORD");
		struct vr_error *serr = NULL;
		int sr = sim_run(&simulate, &serr);
		if (sr < 0)
			log_error("simulator: %s", vr_error_msg(serr));
		vr_error_free(serr);
		config_free(&h.cfg);
		return sr < 0 ? 1 : 0;
	}
	if (!h.cfg.shim_binary) {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = '\0';
			char *slash = strrchr(self, '/');
			*slash = '\0';
			h.cfg.shim_binary = xasprintf("%s/%s", self, SHIM_BINARY);
		} else {
			h.cfg.shim_binary = xstrdup(SHIM_BINARY);
		}
	}
	if (access(h.cfg.shim_binary, X_OK) < 0) {
		fprintf(stderr, "vireo-hostd: the VM keeper \"%s\" cannot be run: %s\n",
			h.cfg.shim_binary, strerror(errno));
		config_free(&h.cfg);
		return 2;
	}
	if (!h.cfg.host_name) {
		char name[256] = "localhost";
		gethostname(name, sizeof(name) - 1);
		h.cfg.host_name = xstrdup(name);
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* every thread inherits the mask */

	struct vr_error *err = NULL;
	if (hostd_start(&h, datastores, &err) < 0) {
		log_error("cannot start: %s", vr_error_msg(err));
		vr_error_free(err);
		hostd_stop(&h);
		return 1;
	}
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("received %s: stopping (running VMs keep running)", strsignal(sig));
	hostd_stop(&h);
	return 0;
}
