/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schema of vireo-center and its migrations.
 *
 * Inventory.  All inventory objects (folders, datacenters, clusters, hosts,
 * resource pools, VMs, templates, datastores, networks, switches, port
 * groups) are rows of ONE table, inventory_object, with the columns every
 * kind has or that are searched (kind, parent, name, host, pool, uuid)
 * and a JSON text column for the kind-specific, rarely-queried rest
 * (hardware summary, host address, datastore URL).  One table because
 * what center does most — walk the tree, list a folder, find by name,
 * check permissions up the parent chain, keep sibling names unique — is
 * the same for every kind: one index, one foreign key, one recursive
 * query.  What needs types and arithmetic gets typed columns: resource
 * allocation (reservations, limits, shares of pools and VMs) has its own
 * table with CHECK constraints; VM-datastore and host-network style
 * relations are rows of inventory_link.
 *
 * Names are compared bytewise (@BYTES@: BINARY on SQLite, "C" on
 * PostgreSQL), so uniqueness, sorting and prefix search do not depend on
 * the server's locale.  Indexes: (parent_id, name) is the unique sibling
 * rule and lists a folder in name order; (kind, name) serves search by
 * name prefix; (host_id, name) lists a host's VMs.
 *
 * Timestamps are BIGINT milliseconds since the epoch; booleans BOOLEAN;
 * JSON is TEXT.  Identifiers are automatically numbered BIGINTs (@AUTOID@).
 */
#include "center/db/schema_priv.h"

#include <errno.h>
#include <string.h>

#include "center/db/db_priv.h"
#include "center/db/privileges.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define KINDS                                                                              \
	"'folder','vm_folder','host_folder','datastore_folder','network_folder','datacenter'," \
	"'cluster','host','resource_pool','vm','template','datastore','network','dvswitch',"   \
	"'portgroup'"
#define STATUSES "'green','yellow','red'"
#define SHARES "'low','normal','high','custom'"

static const struct schema_statement migration1[] = {
	{"create table inventory_object",
	 "CREATE TABLE inventory_object ("
	 " id @AUTOID@,"
	 " kind TEXT NOT NULL CHECK (kind IN (" KINDS ")),"
	 " parent_id BIGINT REFERENCES inventory_object (id) ON DELETE RESTRICT,"
	 " name TEXT COLLATE @BYTES@ NOT NULL CHECK (length(name) BETWEEN 1 AND 80),"
	 " is_system BOOLEAN NOT NULL DEFAULT FALSE,"
	 " uuid TEXT UNIQUE,"
	 " host_id BIGINT REFERENCES inventory_object (id) ON DELETE RESTRICT,"
	 " pool_id BIGINT REFERENCES inventory_object (id) ON DELETE RESTRICT,"
	 " properties TEXT NOT NULL DEFAULT '{}',"
	 " created_ms BIGINT NOT NULL,"
	 " modified_ms BIGINT NOT NULL,"
	 " version BIGINT NOT NULL DEFAULT 1,"
	 " CHECK (parent_id IS NOT NULL OR (kind = 'folder' AND is_system)),"
	 " UNIQUE (parent_id, name))"},
	{"create the index of the root folder",
	 "CREATE UNIQUE INDEX inventory_object_root ON inventory_object (kind)"
	 " WHERE parent_id IS NULL"},
	{"create the index of objects by kind and name",
	 "CREATE INDEX inventory_object_kind_name ON inventory_object (kind, name)"},
	{"create the index of objects by host",
	 "CREATE INDEX inventory_object_host ON inventory_object (host_id, name)"
	 " WHERE host_id IS NOT NULL"},
	{"create the index of objects by resource pool",
	 "CREATE INDEX inventory_object_pool ON inventory_object (pool_id)"
	 " WHERE pool_id IS NOT NULL"},
	{"create table resource_allocation",
	 "CREATE TABLE resource_allocation ("
	 " object_id BIGINT PRIMARY KEY REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " cpu_reservation_mhz BIGINT NOT NULL DEFAULT 0 CHECK (cpu_reservation_mhz >= 0),"
	 " cpu_limit_mhz BIGINT NOT NULL DEFAULT -1 CHECK (cpu_limit_mhz >= -1),"
	 " cpu_shares_level TEXT NOT NULL DEFAULT 'normal' CHECK (cpu_shares_level IN (" SHARES
	 ")),"
	 " cpu_shares BIGINT NOT NULL DEFAULT 4000 CHECK (cpu_shares >= 0),"
	 " cpu_expandable BOOLEAN NOT NULL DEFAULT TRUE,"
	 " mem_reservation_mb BIGINT NOT NULL DEFAULT 0 CHECK (mem_reservation_mb >= 0),"
	 " mem_limit_mb BIGINT NOT NULL DEFAULT -1 CHECK (mem_limit_mb >= -1),"
	 " mem_shares_level TEXT NOT NULL DEFAULT 'normal' CHECK (mem_shares_level IN (" SHARES
	 ")),"
	 " mem_shares BIGINT NOT NULL DEFAULT 163840 CHECK (mem_shares >= 0),"
	 " mem_expandable BOOLEAN NOT NULL DEFAULT TRUE,"
	 " CHECK (cpu_limit_mhz = -1 OR cpu_limit_mhz >= cpu_reservation_mhz),"
	 " CHECK (mem_limit_mb = -1 OR mem_limit_mb >= mem_reservation_mb))"},
	{"create table inventory_link",
	 "CREATE TABLE inventory_link ("
	 " object_id BIGINT NOT NULL REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " relation TEXT NOT NULL CHECK (relation IN"
	 "  ('vm_datastore','vm_network','host_datastore','host_network')),"
	 " target_id BIGINT NOT NULL REFERENCES inventory_object (id) ON DELETE RESTRICT,"
	 " PRIMARY KEY (object_id, relation, target_id))"},
	{"create the index of links by target",
	 "CREATE INDEX inventory_link_target ON inventory_link (target_id, relation)"},

	/* ---- users, groups, roles, privileges, permissions ---- */
	{"create table principal",
	 "CREATE TABLE principal ("
	 " id @AUTOID@,"
	 " kind TEXT NOT NULL CHECK (kind IN ('user','group')),"
	 " domain TEXT COLLATE @BYTES@ NOT NULL DEFAULT 'vsphere.local',"
	 " name TEXT COLLATE @BYTES@ NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
	 " full_name TEXT NOT NULL DEFAULT '',"
	 " email TEXT,"
	 " password_hash TEXT,"
	 " disabled BOOLEAN NOT NULL DEFAULT FALSE,"
	 " locked_until_ms BIGINT,"
	 " created_ms BIGINT NOT NULL,"
	 " modified_ms BIGINT NOT NULL,"
	 " CHECK (kind = 'user' OR password_hash IS NULL),"
	 " UNIQUE (domain, name))"},
	{"create table group_member",
	 "CREATE TABLE group_member ("
	 " group_id BIGINT NOT NULL REFERENCES principal (id) ON DELETE CASCADE,"
	 " member_id BIGINT NOT NULL REFERENCES principal (id) ON DELETE CASCADE,"
	 " PRIMARY KEY (group_id, member_id),"
	 " CHECK (group_id <> member_id))"},
	{"create the index of group members",
	 "CREATE INDEX group_member_member ON group_member (member_id)"},
	{"create table privilege",
	 "CREATE TABLE privilege ("
	 " id TEXT COLLATE @BYTES@ PRIMARY KEY,"
	 " privilege_group TEXT NOT NULL,"
	 " description TEXT NOT NULL)"},
	{"create table role",
	 "CREATE TABLE role ("
	 " id @AUTOID@,"
	 " name TEXT COLLATE @BYTES@ NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),"
	 " label TEXT NOT NULL,"
	 " description TEXT NOT NULL DEFAULT '',"
	 " is_system BOOLEAN NOT NULL DEFAULT FALSE,"
	 " created_ms BIGINT NOT NULL,"
	 " modified_ms BIGINT NOT NULL)"},
	{"create table role_privilege",
	 "CREATE TABLE role_privilege ("
	 " role_id BIGINT NOT NULL REFERENCES role (id) ON DELETE CASCADE,"
	 " privilege_id TEXT NOT NULL REFERENCES privilege (id) ON DELETE CASCADE,"
	 " PRIMARY KEY (role_id, privilege_id))"},
	{"create table permission",
	 "CREATE TABLE permission ("
	 " id @AUTOID@,"
	 " object_id BIGINT NOT NULL REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " principal_id BIGINT NOT NULL REFERENCES principal (id) ON DELETE CASCADE,"
	 " role_id BIGINT NOT NULL REFERENCES role (id) ON DELETE RESTRICT,"
	 " propagate BOOLEAN NOT NULL DEFAULT TRUE,"
	 " created_ms BIGINT NOT NULL,"
	 " UNIQUE (object_id, principal_id))"},
	{"create the index of permissions by principal",
	 "CREATE INDEX permission_principal ON permission (principal_id)"},
	{"create the index of permissions by role",
	 "CREATE INDEX permission_role ON permission (role_id)"},

	/* ---- tasks and events ---- */
	{"create table task",
	 "CREATE TABLE task ("
	 " id @AUTOID@,"
	 " type TEXT NOT NULL,"
	 " object_id BIGINT REFERENCES inventory_object (id) ON DELETE SET NULL,"
	 " object_name TEXT NOT NULL DEFAULT '',"
	 " principal TEXT NOT NULL,"
	 " state TEXT NOT NULL DEFAULT 'queued'"
	 "  CHECK (state IN ('queued','running','succeeded','failed')),"
	 " progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),"
	 " cancellable BOOLEAN NOT NULL DEFAULT FALSE,"
	 " cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,"
	 " description TEXT NOT NULL DEFAULT '',"
	 " error TEXT,"
	 " result TEXT,"
	 " parent_task_id BIGINT REFERENCES task (id) ON DELETE CASCADE,"
	 " queued_ms BIGINT NOT NULL,"
	 " started_ms BIGINT,"
	 " completed_ms BIGINT,"
	 " CHECK (state <> 'failed' OR error IS NOT NULL),"
	 " CHECK (cancellable OR NOT cancel_requested))"},
	{"create the index of tasks by state",
	 "CREATE INDEX task_state ON task (state, queued_ms)"},
	{"create the index of tasks by object",
	 "CREATE INDEX task_object ON task (object_id, queued_ms)"},
	{"create the index of tasks by time", "CREATE INDEX task_queued ON task (queued_ms)"},
	{"create the index of sub-tasks", "CREATE INDEX task_parent ON task (parent_task_id)"},
	{"create table event",
	 "CREATE TABLE event ("
	 " id @AUTOID@,"
	 " time_ms BIGINT NOT NULL,"
	 " type TEXT NOT NULL,"
	 " category TEXT NOT NULL CHECK (category IN ('info','warning','error','user')),"
	 " object_id BIGINT REFERENCES inventory_object (id) ON DELETE SET NULL,"
	 " object_name TEXT NOT NULL DEFAULT '',"
	 " datacenter_id BIGINT REFERENCES inventory_object (id) ON DELETE SET NULL,"
	 " principal TEXT NOT NULL DEFAULT '',"
	 " task_id BIGINT REFERENCES task (id) ON DELETE SET NULL,"
	 " chain_id BIGINT,"
	 " message TEXT NOT NULL,"
	 " data TEXT NOT NULL DEFAULT '{}')"},
	{"create the index of events by time", "CREATE INDEX event_time ON event (time_ms)"},
	{"create the index of events by object",
	 "CREATE INDEX event_object ON event (object_id, time_ms)"},
	{"create the index of events by type", "CREATE INDEX event_type ON event (type, time_ms)"},
	{"create the index of events by principal",
	 "CREATE INDEX event_principal ON event (principal, time_ms)"},
	{"create the index of events by datacenter",
	 "CREATE INDEX event_datacenter ON event (datacenter_id, time_ms)"},
	{"create the index of events by task", "CREATE INDEX event_task ON event (task_id)"},

	/* ---- alarms ---- */
	{"create table alarm_definition",
	 "CREATE TABLE alarm_definition ("
	 " id @AUTOID@,"
	 " object_id BIGINT NOT NULL REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " name TEXT COLLATE @BYTES@ NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
	 " description TEXT NOT NULL DEFAULT '',"
	 " target_kind TEXT NOT NULL CHECK (target_kind IN (" KINDS ")),"
	 " enabled BOOLEAN NOT NULL DEFAULT TRUE,"
	 " condition_kind TEXT NOT NULL CHECK (condition_kind IN ('metric','state','event')),"
	 " metric TEXT,"
	 " comparison TEXT CHECK (comparison IN ('>','>=','<','<=','=','<>')),"
	 " yellow_threshold DOUBLE PRECISION,"
	 " red_threshold DOUBLE PRECISION,"
	 " state_name TEXT,"
	 " yellow_state TEXT,"
	 " red_state TEXT,"
	 " event_type TEXT,"
	 " event_status TEXT CHECK (event_status IN (" STATUSES ")),"
	 " duration_ms BIGINT NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),"
	 " repeat_interval_ms BIGINT NOT NULL DEFAULT 0 CHECK (repeat_interval_ms >= 0),"
	 " created_ms BIGINT NOT NULL,"
	 " modified_ms BIGINT NOT NULL,"
	 " CHECK (condition_kind <> 'metric' OR (metric IS NOT NULL AND comparison IS NOT NULL"
	 "  AND (yellow_threshold IS NOT NULL OR red_threshold IS NOT NULL))),"
	 " CHECK (condition_kind <> 'state' OR (state_name IS NOT NULL"
	 "  AND (yellow_state IS NOT NULL OR red_state IS NOT NULL))),"
	 " CHECK (condition_kind <> 'event' OR (event_type IS NOT NULL AND event_status IS NOT NULL)),"
	 " UNIQUE (object_id, name))"},
	{"create table alarm_action",
	 "CREATE TABLE alarm_action ("
	 " id @AUTOID@,"
	 " alarm_id BIGINT NOT NULL REFERENCES alarm_definition (id) ON DELETE CASCADE,"
	 " action TEXT NOT NULL CHECK (action IN ('email','snmp','webhook','script',"
	 "  'vm_power_off','vm_suspend','vm_reset','vm_shutdown_guest','vm_reboot_guest',"
	 "  'vm_migrate','host_enter_maintenance','host_exit_maintenance','host_reboot')),"
	 " from_status TEXT NOT NULL CHECK (from_status IN (" STATUSES ")),"
	 " to_status TEXT NOT NULL CHECK (to_status IN (" STATUSES ")),"
	 " repeats BOOLEAN NOT NULL DEFAULT FALSE,"
	 " params TEXT NOT NULL DEFAULT '{}',"
	 " CHECK (from_status <> to_status))"},
	{"create the index of alarm actions",
	 "CREATE INDEX alarm_action_alarm ON alarm_action (alarm_id)"},
	{"create table alarm_state",
	 "CREATE TABLE alarm_state ("
	 " alarm_id BIGINT NOT NULL REFERENCES alarm_definition (id) ON DELETE CASCADE,"
	 " object_id BIGINT NOT NULL REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " status TEXT NOT NULL CHECK (status IN (" STATUSES ")),"
	 " state TEXT NOT NULL CHECK (state IN ('triggered','acknowledged','cleared')),"
	 " value TEXT,"
	 " condition_since_ms BIGINT,"
	 " triggered_ms BIGINT,"
	 " acknowledged_ms BIGINT,"
	 " acknowledged_by TEXT,"
	 " cleared_ms BIGINT,"
	 " last_action_ms BIGINT,"
	 " PRIMARY KEY (alarm_id, object_id),"
	 " CHECK (state <> 'acknowledged' OR (acknowledged_ms IS NOT NULL"
	 "  AND acknowledged_by IS NOT NULL)))"},
	{"create the index of alarm states by object",
	 "CREATE INDEX alarm_state_object ON alarm_state (object_id)"},
	{"create the index of alarm states by state",
	 "CREATE INDEX alarm_state_state ON alarm_state (state, triggered_ms)"},

	/* ---- performance history ---- */
	{"create table perf_interval",
	 "CREATE TABLE perf_interval ("
	 " level INTEGER PRIMARY KEY CHECK (level BETWEEN 1 AND 5),"
	 " name TEXT NOT NULL UNIQUE,"
	 " sample_s INTEGER NOT NULL CHECK (sample_s > 0),"
	 " retention_s BIGINT NOT NULL CHECK (retention_s >= sample_s))"},
	{"create table perf_counter",
	 "CREATE TABLE perf_counter ("
	 " id @AUTOID@,"
	 " name TEXT COLLATE @BYTES@ NOT NULL UNIQUE,"
	 " unit TEXT NOT NULL CHECK (unit IN"
	 "  ('percent','mhz','kb','kbps','ms','number','celsius','watt')),"
	 " rollup TEXT NOT NULL CHECK (rollup IN"
	 "  ('average','minimum','maximum','summation','latest')),"
	 " description TEXT NOT NULL DEFAULT '')"},
	{"create table perf_sample",
	 "CREATE TABLE perf_sample ("
	 " interval_level INTEGER NOT NULL REFERENCES perf_interval (level),"
	 " object_id BIGINT NOT NULL REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " counter_id BIGINT NOT NULL REFERENCES perf_counter (id) ON DELETE CASCADE,"
	 " instance TEXT NOT NULL DEFAULT '',"
	 " ts_ms BIGINT NOT NULL,"
	 " value DOUBLE PRECISION NOT NULL,"
	 " PRIMARY KEY (object_id, counter_id, instance, interval_level, ts_ms))"},
	{"create the index of samples by age",
	 "CREATE INDEX perf_sample_age ON perf_sample (interval_level, ts_ms)"},
};

/*
 * Migration 2: how center reaches its hosts.  The service account's
 * password is kept encrypted (center/secrets.h: AES-256-GCM under a key
 * file outside the database), so a copy of the database alone does not
 * open the hosts.  One row per host object; removing the host removes it.
 */
static const struct schema_statement migration2[] = {
	{"create table host_connection",
	 "CREATE TABLE host_connection ("
	 " host_id BIGINT PRIMARY KEY REFERENCES inventory_object (id) ON DELETE CASCADE,"
	 " url TEXT NOT NULL,"
	 " username TEXT NOT NULL,"
	 " secret TEXT NOT NULL,"
	 " tls_insecure BOOLEAN NOT NULL DEFAULT FALSE,"
	 " ca_file TEXT,"
	 " state TEXT NOT NULL DEFAULT 'disconnected'"
	 "  CHECK (state IN ('connected','disconnected','not_responding')),"
	 " state_reason TEXT NOT NULL DEFAULT '',"
	 " admin_disconnected BOOLEAN NOT NULL DEFAULT FALSE,"
	 " last_seen_ms BIGINT,"
	 " last_sync_ms BIGINT,"
	 " hostd_instance TEXT,"
	 " event_cursor BIGINT NOT NULL DEFAULT 0,"
	 " UNIQUE (url))"},
	{"create table center_setting",
	 "CREATE TABLE center_setting ("
	 " name TEXT COLLATE @BYTES@ PRIMARY KEY,"
	 " value TEXT NOT NULL)"},
};

/*
 * Migration 3: the alarm action "log".  A CHECK constraint cannot be
 * changed in place on SQLite, so the table is copied (in id order; action
 * ids are internal and renumbered).  The actions center refuses to define
 * today stay allowed: definitions made before may hold them, and firing
 * one posts that it was not run (center/db/alarms.h).
 */
static const struct schema_statement migration3[] = {
	{"create table alarm_action_v3",
	 "CREATE TABLE alarm_action_v3 ("
	 " id @AUTOID@,"
	 " alarm_id BIGINT NOT NULL REFERENCES alarm_definition (id) ON DELETE CASCADE,"
	 " action TEXT NOT NULL CHECK (action IN ('log','webhook',"
	 "  'vm_power_off','vm_suspend','vm_reset','vm_shutdown_guest','vm_reboot_guest',"
	 "  'email','snmp','script','vm_migrate','host_enter_maintenance',"
	 "  'host_exit_maintenance','host_reboot')),"
	 " from_status TEXT NOT NULL CHECK (from_status IN (" STATUSES ")),"
	 " to_status TEXT NOT NULL CHECK (to_status IN (" STATUSES ")),"
	 " repeats BOOLEAN NOT NULL DEFAULT FALSE,"
	 " params TEXT NOT NULL DEFAULT '{}',"
	 " CHECK (from_status <> to_status))"},
	{"copy the alarm actions",
	 "INSERT INTO alarm_action_v3 (alarm_id, action, from_status, to_status, repeats, params)"
	 " SELECT alarm_id, action, from_status, to_status, repeats, params FROM alarm_action"
	 " ORDER BY id"},
	{"drop the old table alarm_action", "DROP TABLE alarm_action"},
	{"rename table alarm_action_v3", "ALTER TABLE alarm_action_v3 RENAME TO alarm_action"},
	{"create the index of alarm actions",
	 "CREATE INDEX alarm_action_alarm ON alarm_action (alarm_id)"},
};

/*
 * Version 4: a metric or state alarm times its yellow and its red
 * condition separately (condition_since_ms: at yellow or above since;
 * red_since_ms: at red since), so that a value climbing through yellow to
 * red raises yellow once yellow has held for the duration.  A yellow row
 * timed red in condition_since_ms: that time moves over.
 */
static const struct schema_statement migration4[] = {
	{"add the red timer of alarm states",
	 "ALTER TABLE alarm_state ADD COLUMN red_since_ms BIGINT"},
	{"move yellow rows' red timers",
	 "UPDATE alarm_state SET red_since_ms = condition_since_ms, condition_since_ms = NULL"
	 " WHERE status = 'yellow' AND condition_since_ms IS NOT NULL"},
};

/* Roll-up levels: sample interval and how long it is kept. */
static const struct {
	int level;
	const char *name;
	int64_t sample_s, retention_s;
} perf_intervals[] = {
	{1, "past hour", 20, 3600},
	{2, "past day", 300, 86400},
	{3, "past week", 1800, 7 * 86400},
	{4, "past month", 7200, 30 * 86400},
	{5, "past year", 86400, 365 * 86400},
};

static const struct {
	const char *name, *unit, *rollup, *description;
} perf_counters[] = {
	{"cpu.usage.average", "percent", "average", "CPU usage"},
	{"cpu.usagemhz.average", "mhz", "average", "CPU usage in MHz"},
	{"cpu.ready.summation", "ms", "summation", "time ready to run but not scheduled"},
	{"mem.usage.average", "percent", "average", "memory usage"},
	{"mem.consumed.average", "kb", "average", "host memory consumed"},
	{"mem.active.average", "kb", "average", "memory recently touched"},
	{"mem.balloon.average", "kb", "average", "memory reclaimed by the balloon"},
	{"mem.shared.average", "kb", "average", "memory shared between VMs"},
	{"disk.read.average", "kbps", "average", "disk read rate"},
	{"disk.write.average", "kbps", "average", "disk write rate"},
	{"disk.maxTotalLatency.latest", "ms", "latest", "highest disk latency"},
	{"net.received.average", "kbps", "average", "network receive rate"},
	{"net.transmitted.average", "kbps", "average", "network transmit rate"},
	{"datastore.used.latest", "kb", "latest", "datastore space used"},
	{"sys.uptime.latest", "number", "latest", "seconds since power on"},
};

static int seed_v1(struct db *db, int64_t now_ms, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *root = NULL;
	int r = db_prepare(db, "create the root folder",
			   "INSERT INTO inventory_object (kind, name, is_system, created_ms, modified_ms)"
			   " VALUES ('folder', 'Datacenters', TRUE, $1, $1)",
			   &root, err);
	if (r < 0)
		return r;
	db_bind_int64(root, 1, now_ms);
	r = db_step(root, err);
	if (r < 0)
		return r;

	_cleanup_stmt_ struct db_stmt *iv = NULL;
	r = db_prepare(db, "insert a performance roll-up level",
		       "INSERT INTO perf_interval (level, name, sample_s, retention_s)"
		       " VALUES ($1, $2, $3, $4)",
		       &iv, err);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(perf_intervals); i++) {
		db_bind_int64(iv, 1, perf_intervals[i].level);
		db_bind_text(iv, 2, perf_intervals[i].name);
		db_bind_int64(iv, 3, perf_intervals[i].sample_s);
		db_bind_int64(iv, 4, perf_intervals[i].retention_s);
		r = db_step(iv, err);
	}
	if (r < 0)
		return r;

	_cleanup_stmt_ struct db_stmt *pc = NULL;
	r = db_prepare(db, "insert a performance counter",
		       "INSERT INTO perf_counter (name, unit, rollup, description)"
		       " VALUES ($1, $2, $3, $4)",
		       &pc, err);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(perf_counters); i++) {
		db_bind_text(pc, 1, perf_counters[i].name);
		db_bind_text(pc, 2, perf_counters[i].unit);
		db_bind_text(pc, 3, perf_counters[i].rollup);
		db_bind_text(pc, 4, perf_counters[i].description);
		r = db_step(pc, err);
	}
	if (r < 0)
		return r;
	return privileges_seed(db, now_ms, err);
}

const struct schema_migration schema_migrations[] = {
	{1, "inventory, access control, tasks, events, alarms, performance history", migration1,
	 ARRAY_SIZE(migration1), seed_v1},
	{2, "host connections, center settings", migration2, ARRAY_SIZE(migration2), NULL},
	{3, "the alarm action log", migration3, ARRAY_SIZE(migration3), NULL},
	{4, "alarm states time yellow and red apart", migration4, ARRAY_SIZE(migration4), NULL},
};

_Static_assert(ARRAY_SIZE(schema_migrations) == SCHEMA_VERSION_LATEST,
	       "one migration per schema version");

char *schema_expand(const struct db *db, const char *sql)
{
	static const char *const tokens[] = {"@AUTOID@", "@BYTES@"};
	const char *values[] = {db->ops->autoid_type, db->ops->bytes_collation};
	char *out = xstrdup(sql);
	for (size_t t = 0; t < ARRAY_SIZE(tokens); t++) {
		char *hit;
		while ((hit = strstr(out, tokens[t]))) {
			*hit = '\0';
			char *next = xasprintf("%s%s%s", out, values[t], hit + strlen(tokens[t]));
			free(out);
			out = next;
		}
	}
	return out;
}

static int create_version_table(struct db *db, struct vr_error **err)
{
	return db_exec(db, "create table schema_version",
		       "CREATE TABLE IF NOT EXISTS schema_version ("
		       " version INTEGER PRIMARY KEY,"
		       " description TEXT NOT NULL,"
		       " applied_ms BIGINT NOT NULL)",
		       err);
}

static int read_version(struct db *db, int64_t *version, struct vr_error **err)
{
	return db_query_int64(db, "read the schema version",
			      "SELECT COALESCE(MAX(version), 0) FROM schema_version", version, err);
}

int schema_version_get(struct db *db, int64_t *version, struct vr_error **err)
{
	int r = db_begin(db, err);
	if (r < 0)
		return r;
	r = create_version_table(db, err);
	if (r == 0)
		r = read_version(db, version, err);
	if (r < 0) {
		db_rollback(db, NULL);
		return r;
	}
	return db_commit(db, err);
}

/* Applies the first migration newer than the database, in one transaction: 1 applied, 0 none. */
static int migrate_one(struct db *db, const struct schema_migration *list, size_t n,
		       struct vr_error **err)
{
	int64_t version = 0;
	int r = 0;
	if (db->ops->migration_lock_sql)
		r = db_exec(db, "lock the schema for migration", db->ops->migration_lock_sql, err);
	if (r == 0)
		r = create_version_table(db, err);
	if (r == 0)
		r = read_version(db, &version, err);
	if (r < 0)
		return r;
	if (version > (int64_t)n)
		return vr_error_set(err, ENOTSUP,
				    "%s database %s has schema version %lld, newer than this "
				    "vireo-center knows (%zu): upgrade vireo-center",
				    db->ops->name, db->shown, (long long)version, n);
	if (version == (int64_t)n)
		return 0;
	const struct schema_migration *m = &list[version];
	if (m->version != version + 1)
		return vr_error_set(err, EINVAL, "schema migrations out of order at version %d",
				    m->version);
	for (size_t i = 0; i < m->n_statements; i++) {
		_cleanup_free_ char *sql = schema_expand(db, m->statements[i].sql);
		_cleanup_free_ char *purpose =
			xasprintf("schema migration %d: %s", m->version, m->statements[i].purpose);
		r = db_exec(db, purpose, sql, err);
		if (r < 0)
			return r;
	}
	int64_t now = (int64_t)time_real_ms();
	if (m->seed) {
		r = m->seed(db, now, err);
		if (r < 0)
			return vr_error_wrap(err, "schema migration %d", m->version);
	}
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "record the schema version",
		       "INSERT INTO schema_version (version, description, applied_ms)"
		       " VALUES ($1, $2, $3)",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, m->version);
	db_bind_text(st, 2, m->description);
	db_bind_int64(st, 3, now);
	r = db_step(st, err);
	if (r < 0)
		return r;
	log_info("%s database %s: applied schema migration %d (%s)", db->ops->name, db->shown,
		 m->version, m->description);
	return 1;
}

struct migrate_args {
	const struct schema_migration *list;
	size_t n;
};

static int migrate_txn(struct db *db, void *opaque, struct vr_error **err)
{
	const struct migrate_args *a = opaque;
	return migrate_one(db, a->list, a->n, err);
}

int schema_migrate_with(struct db *db, const struct schema_migration *list, size_t n,
			int *applied, struct vr_error **err)
{
	struct migrate_args args = {list, n};
	int count = 0;
	for (;;) {
		int r = db_transact(db, migrate_txn, &args, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		count++;
	}
	if (applied)
		*applied = count;
	return 0;
}

int schema_migrate(struct db *db, int *applied, struct vr_error **err)
{
	return schema_migrate_with(db, schema_migrations, ARRAY_SIZE(schema_migrations), applied,
				   err);
}

int schema_open(const char *location, struct db **out, struct vr_error **err)
{
	struct db *db = NULL;
	int r = db_open(location, &db, err);
	if (r < 0)
		return r;
	r = schema_migrate(db, NULL, err);
	if (r < 0) {
		db_close(db);
		return r;
	}
	*out = db;
	return 0;
}

int schema_perf_prune(struct db *db, int64_t now_ms, int64_t *deleted, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "prune performance history",
			   "DELETE FROM perf_sample WHERE interval_level = $1 AND ts_ms < $2", &st,
			   err);
	int64_t total = 0;
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(perf_intervals); i++) {
		db_bind_int64(st, 1, perf_intervals[i].level);
		db_bind_int64(st, 2, now_ms - perf_intervals[i].retention_s * 1000);
		r = db_step(st, err);
		total += db_changes(st);
	}
	if (r < 0)
		return r;
	if (deleted)
		*deleted = total;
	return 0;
}
