/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block jobs on a running QEMU: block-commit and block-stream, polled with
 * query-jobs until they conclude, then dismissed; the nodes they take out
 * of a chain are deleted so that QEMU lets go of their files.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/block.h"
#include "qemu/block_priv.h"
#include "qemu/qmp.h"

#define JOB_POLL_MS 100
/* job-complete refused this many times in a row ends the job. */
#define JOB_COMPLETE_TRIES 20
/* How long a job left behind by an earlier hostd may take to go once cancelled. */
#define JOB_STALE_POLLS 300

/*
 * Jobs this process is running, by connection and job id: a job with our
 * id that is not among them was left by an earlier hostd and nobody will
 * ever drive it on (an active commit waits in "ready" for job-complete, a
 * stream in "pending" for job-finalize).
 */
struct job_claim {
	const struct qmp *q;
	char *id;
	struct job_claim *next;
};
static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static struct job_claim *claims;

static bool job_claim(const struct qmp *q, const char *id)
{
	pthread_mutex_lock(&claims_lock);
	for (struct job_claim *c = claims; c; c = c->next) {
		if (c->q == q && strcmp(c->id, id) == 0) {
			pthread_mutex_unlock(&claims_lock);
			return false;
		}
	}
	struct job_claim *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->id = xstrdup(id);
	c->next = claims;
	claims = c;
	pthread_mutex_unlock(&claims_lock);
	return true;
}

static void job_release(const struct qmp *q, const char *id)
{
	pthread_mutex_lock(&claims_lock);
	for (struct job_claim **pp = &claims; *pp; pp = &(*pp)->next) {
		struct job_claim *c = *pp;
		if (c->q == q && strcmp(c->id, id) == 0) {
			*pp = c->next;
			free(c->id);
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&claims_lock);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int job_cmd(struct qmp *q, const char *command, const char *id, struct vr_error **err)
{
	return qmp_execute(q, command, json_pack("{s:s}", "id", id), BLOCK_CMD_TIMEOUT_MS, NULL,
			   err);
}

/* The job's entry in query-jobs (*job NULL when there is none); caller decrefs *list. */
static int job_query(struct qmp *q, const char *id, json_t **list, json_t **job,
		     struct vr_error **err)
{
	*job = NULL;
	int r = qmp_execute(q, "query-jobs", NULL, BLOCK_CMD_TIMEOUT_MS, list, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *j;
	json_array_foreach(*list, i, j) {
		const char *jid = json_string_value(json_object_get(j, "id"));
		if (jid && strcmp(jid, id) == 0)
			*job = j;
	}
	return 0;
}

static const char *job_status(json_t *job)
{
	const char *s = json_string_value(json_object_get(job, "status"));
	return s ? s : "unknown";
}

static bool status_is(json_t *job, const char *status)
{
	return strcmp(job_status(job), status) == 0;
}

static uint64_t job_u64(json_t *job, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(job, key));
	return v > 0 ? (uint64_t)v : 0;
}

/*
 * Claims the job id, and gets rid of a job with that id left by an
 * earlier hostd: dismissed once concluded, else cancelled first.  Must
 * come before anything queries the block nodes: QEMU 7.2 crashes on
 * query-named-block-nodes while a stream job sits concluded.
 */
static int job_prepare(struct qmp *q, const char *id, const char *what, struct vr_error **err)
{
	if (!job_claim(q, id))
		return vr_error_set(err, EBUSY, "cannot start %s: QEMU job \"%s\" is already running",
				    what, id);
	bool cancel_sent = false;
	for (int polls = 0;; polls++) {
		json_t *list = NULL, *job = NULL;
		int r = job_query(q, id, &list, &job, err);
		if (r == 0 && job && status_is(job, "concluded")) {
			log_warn("dismissing QEMU job \"%s\" left by an earlier run", id);
			r = job_cmd(q, "job-dismiss", id, err);
		} else if (r == 0 && job && polls >= JOB_STALE_POLLS) {
			r = vr_error_set(err, EBUSY,
					 "QEMU job \"%s\", left by an earlier run, is still %s after "
					 "being cancelled",
					 id, job_status(job));
		} else if (r == 0 && job) {
			if (!cancel_sent)
				log_warn("cancelling QEMU job \"%s\" (%s), left by an earlier run", id,
					 job_status(job));
			_cleanup_error_ struct vr_error *e = NULL;
			if (!cancel_sent && job_cmd(q, "job-cancel", id, &e) < 0)
				log_warn("%s", vr_error_msg(e));
			cancel_sent = true;
			json_decref(list);
			sleep_ms(JOB_POLL_MS);
			continue;
		}
		json_decref(list);
		if (r < 0) {
			job_release(q, id);
			return vr_error_wrap(err, "cannot start %s", what);
		}
		return 0;
	}
}

/*
 * How a job is driven.  Commit: auto-dismiss off, so that its error can
 * be read from query-jobs once it has concluded.  Stream: QEMU 7.2 crashes
 * (SIGSEGV in bdrv_refresh_filename) on query-named-block-nodes while a
 * stream job sits concluded, whatever its outcome, so a stream job is
 * auto-dismissed, with auto-finalize off (success passes through "pending",
 * where we finalize it) and on-error "stop" (an I/O error pauses it with
 * its io-status set, which we read before cancelling it).
 */
struct job_wait {
	const char *id;
	const char *what;    /* "merging ... on disk device ..." */
	bool needs_complete; /* active commit: job-complete once ready */
	bool stream;         /* driven as described above */
	qemu_block_progress_fn progress;
	void *opaque;
};

struct job_progress {
	bool cancelled, complete_sent, finalize_sent;
	int complete_refusals;
	uint64_t total;
	struct vr_error *refused;  /* QEMU would not complete or finalize the job */
	struct vr_error *stop_err; /* stream: the I/O error that paused it */
};

/* Cancels the job; the wait goes on until it concludes or goes. */
static void job_cancel(struct qmp *q, const struct job_wait *w, struct job_progress *st)
{
	_cleanup_error_ struct vr_error *e = NULL;
	if (job_cmd(q, "job-cancel", w->id, &e) < 0)
		log_warn("cannot cancel %s (QEMU job \"%s\"): %s", w->what, w->id, vr_error_msg(e));
	st->cancelled = true;
}

/* Commit: dismisses a concluded job and turns its outcome into a result. */
static int job_concluded(struct qmp *q, const struct job_wait *w, json_t *job,
			 struct job_progress *st, struct vr_error **err)
{
	const char *job_error = json_string_value(json_object_get(job, "error"));
	_cleanup_free_ char *reason = job_error ? xstrdup(job_error) : NULL;
	_cleanup_error_ struct vr_error *e = NULL;
	if (job_cmd(q, "job-dismiss", w->id, &e) < 0)
		log_warn("cannot dismiss QEMU job \"%s\" (%s): %s", w->id, w->what, vr_error_msg(e));
	if (reason && st->refused)
		return vr_error_set(err, EIO, "%s failed: QEMU would not finish it (%s)", w->what,
				    vr_error_msg(st->refused));
	if (reason && st->cancelled)
		return vr_error_set(err, ECANCELED, "%s was cancelled", w->what);
	if (reason)
		return vr_error_set(err, EIO, "%s failed: %s", w->what, reason);
	if (st->cancelled)
		log_info("%s finished before it could be cancelled", w->what);
	return 0;
}

/* Stream: the job has gone (auto-dismissed); what became of it. */
static int job_gone(const struct job_wait *w, struct job_progress *st, struct vr_error **err)
{
	if (st->stop_err) {
		int code = st->stop_err->code;
		return vr_error_set(err, code, "%s failed: %s", w->what, st->stop_err->msg);
	}
	if (st->refused)
		return vr_error_set(err, EIO, "%s failed: QEMU would not finish it (%s)", w->what,
				    vr_error_msg(st->refused));
	if (st->cancelled)
		return vr_error_set(err, ECANCELED, "%s was cancelled", w->what);
	if (!st->finalize_sent)
		return vr_error_set(err, EIO,
				    "%s failed: QEMU job \"%s\" ended before it finished (cancelled "
				    "by someone else?)",
				    w->what, w->id);
	return 0;
}

/* Stream paused: by an I/O error (on-error "stop") when its io-status says so. */
static void job_check_stop(struct qmp *q, const struct job_wait *w, struct job_progress *st)
{
	json_t *jobs = NULL;
	if (qmp_execute(q, "query-block-jobs", NULL, BLOCK_CMD_TIMEOUT_MS, &jobs, NULL) < 0)
		return;
	size_t i;
	json_t *j;
	const char *io = NULL;
	json_array_foreach(jobs, i, j) {
		const char *dev = json_string_value(json_object_get(j, "device"));
		if (dev && strcmp(dev, w->id) == 0)
			io = json_string_value(json_object_get(j, "io-status"));
	}
	if (io && strcmp(io, "nospace") == 0)
		vr_error_set(&st->stop_err, ENOSPC, "the storage is out of space");
	else if (io && strcmp(io, "ok") != 0)
		vr_error_set(&st->stop_err, EIO, "QEMU met an I/O error (io-status \"%s\")", io);
	json_decref(jobs);
	if (st->stop_err)
		job_cancel(q, w, st);
}

/* One look at a job that is still there: moves it on as its state asks. */
static void job_step(struct qmp *q, const struct job_wait *w, json_t *job,
		     struct job_progress *st)
{
	if (w->stream && !st->cancelled && status_is(job, "paused"))
		job_check_stop(q, w, st);
	if (!st->cancelled && !st->finalize_sent && w->progress &&
	    w->progress(job_u64(job, "current-progress"), st->total, w->opaque) != 0) {
		log_info("cancelling %s", w->what);
		job_cancel(q, w, st);
	}
	if (w->stream && !st->cancelled && !st->finalize_sent && status_is(job, "pending")) {
		vr_error_freep(&st->refused);
		if (job_cmd(q, "job-finalize", w->id, &st->refused) == 0)
			st->finalize_sent = true;
		else
			job_cancel(q, w, st);
	}
	if (w->needs_complete && !st->cancelled && !st->complete_sent &&
	    status_is(job, "ready")) {
		vr_error_freep(&st->refused);
		if (job_cmd(q, "job-complete", w->id, &st->refused) == 0) {
			st->complete_sent = true;
		} else if (++st->complete_refusals >= JOB_COMPLETE_TRIES) {
			log_warn("%s: QEMU refuses to complete job \"%s\": %s", w->what, w->id,
				 vr_error_msg(st->refused));
			job_cancel(q, w, st);
		} else {
			vr_error_freep(&st->refused); /* ready may flip to standby and back */
		}
	}
}

static int job_wait(struct qmp *q, const struct job_wait *w, struct vr_error **err)
{
	struct job_progress st = { 0 };
	int r;
	for (;;) {
		json_t *list = NULL, *job = NULL;
		r = job_query(q, w->id, &list, &job, err);
		if (r < 0) {
			vr_error_wrap(err, "lost track of %s (QEMU job \"%s\")", w->what, w->id);
			break;
		}
		if (!job && w->stream) {
			json_decref(list);
			r = job_gone(w, &st, err);
			break;
		}
		if (!job) {
			json_decref(list);
			r = vr_error_set(err, EIO,
					 "%s: QEMU job \"%s\" disappeared before it concluded "
					 "(dismissed by someone else?); the outcome is unknown",
					 w->what, w->id);
			break;
		}
		uint64_t total = job_u64(job, "total-progress");
		if (total)
			st.total = total;
		if (status_is(job, "concluded")) {
			r = job_concluded(q, w, job, &st, err);
			json_decref(list);
			break;
		}
		job_step(q, w, job, &st);
		json_decref(list);
		sleep_ms(JOB_POLL_MS);
	}
	if (r == 0 && w->progress)
		w->progress(st.total, st.total, w->opaque);
	vr_error_free(st.refused);
	vr_error_free(st.stop_err);
	return r;
}

/* Starts a job (command with args, stolen) and waits for it. */
static int job_run(struct qmp *q, const char *command, json_t *args, const struct job_wait *w,
		   struct vr_error **err)
{
	int r = qmp_execute(q, command, args, BLOCK_CMD_TIMEOUT_MS, NULL, err);
	if (r == -ETIMEDOUT) {
		/* The job may have started all the same: if so, follow it. */
		json_t *list = NULL, *job = NULL;
		if (job_query(q, w->id, &list, &job, NULL) == 0 && job) {
			vr_error_freep(err);
			r = 0;
		}
		json_decref(list);
	}
	if (r < 0)
		return vr_error_wrap(err, "cannot start %s", w->what);
	log_info("started %s (QEMU job \"%s\")", w->what, w->id);
	return job_wait(q, w, err);
}

/*
 * The backing file name to record in upper once lower is its backing:
 * relative when upper recorded its backing file by a relative name.
 */
static char *backing_name_for(const struct qemu_block_image *upper,
			      const struct qemu_block_image *lower)
{
	if (lower->filename[0] != '/')
		return NULL; /* let QEMU choose */
	if (!upper->backing_name || upper->backing_name[0] == '/' || upper->filename[0] != '/')
		return xstrdup(lower->filename);
	_cleanup_free_ char *dir = xstrdup(upper->filename);
	*strrchr(dir, '/') = '\0';
	return block_relative_path(*dir ? dir : "/", lower->filename);
}

static int node_exists(struct qmp *q, const char *name, bool *exists, struct vr_error **err)
{
	json_t *nodes = NULL;
	int r = block_named_nodes(q, block_deadline(BLOCK_RECOVERY_TIMEOUT_MS), &nodes, err);
	if (r == 0)
		*exists = block_named_node(nodes, name) != NULL;
	json_decref(nodes);
	return r;
}

/* Deletes a node no chain uses any more, if it still exists; logs what fails. */
static bool node_drop(struct qmp *q, const char *device, const char *name, const char *file)
{
	_cleanup_error_ struct vr_error *e = NULL;
	bool exists = false;
	int r = node_exists(q, name, &exists, &e);
	if (r == 0 && !exists)
		return true; /* QEMU freed it with the job (nodes it opened itself) */
	if (r == 0)
		r = qmp_execute(q, "blockdev-del", json_pack("{s:s}", "node-name", name),
				BLOCK_RECOVERY_TIMEOUT_MS, NULL, &e);
	if (r < 0) {
		log_warn("disk device \"%s\": QEMU keeps \"%s\" open: cannot delete node \"%s\": %s",
			 device, file, name, vr_error_msg(e));
		return false;
	}
	return true;
}

/* Deletes the nodes of `before` that are not in `after`, top first. */
static void chain_drop_left(struct qmp *q, const char *device,
			    const struct qemu_block_chain *before,
			    const struct qemu_block_chain *after)
{
	for (size_t i = 0; i < before->n; i++) {
		const struct qemu_block_image *im = &before->images[i];
		if (block_chain_find(after, im->node_name) >= 0)
			continue;
		/* A protocol node given its own -blockdev outlives its format node. */
		if (node_drop(q, device, im->node_name, im->filename) && im->file_node)
			node_drop(q, device, im->file_node, im->filename);
	}
}

static int chain_get(struct qmp *q, const char *device, struct qemu_block_chain **out,
		     struct vr_error **err)
{
	*out = NULL;
	return block_chains_get(q, &device, 1, block_deadline(BLOCK_CMD_TIMEOUT_MS), out, err);
}

/* Finds node in the chain or says which chain it is not in. */
static int chain_index(const struct qemu_block_chain *c, const char *device, const char *what,
		       const char *node, struct vr_error **err)
{
	int i = block_chain_find(c, node);
	if (i < 0) {
		_cleanup_free_ char *desc = block_chain_describe(c);
		return vr_error_set(err, ENOENT,
				    "%s \"%s\" is not in the chain of disk device \"%s\" (top "
				    "first: %s)",
				    what, node, device, desc);
	}
	return i;
}

/*
 * After a job: the chain as expected (want_top, then want_below or
 * nothing), and the nodes that left it deleted.
 */
static int job_finish(struct qmp *q, const char *device, const char *what,
		      const struct qemu_block_chain *before, const char *want_top,
		      const char *want_below, struct vr_error **err)
{
	_cleanup_block_chain_ struct qemu_block_chain *after = NULL;
	int r = chain_get(q, device, &after, err);
	if (r < 0)
		return vr_error_wrap(err, "%s finished, but its result cannot be checked", what);
	bool ok = after->n > 0 && strcmp(after->images[0].node_name, want_top) == 0;
	if (ok && want_below)
		ok = after->n > 1 && strcmp(after->images[1].node_name, want_below) == 0;
	else if (ok)
		ok = after->n == 1;
	if (!ok) {
		_cleanup_free_ char *desc = block_chain_describe(after);
		return vr_error_set(err, EIO,
				    "%s: QEMU finished the job, but the chain of disk device \"%s\" "
				    "is now %s",
				    what, device, desc);
	}
	chain_drop_left(q, device, before, after);
	return 0;
}

/* With the job id claimed and no job of that id left in QEMU. */
static int commit_claimed(struct qmp *q, const char *device, const char *top, const char *base,
			  const char *id, qemu_block_progress_fn progress, void *opaque,
			  struct vr_error **err)
{
	_cleanup_block_chain_ struct qemu_block_chain *c = NULL;
	int r = chain_get(q, device, &c, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot merge images of disk device \"%s\"", device);
	int ti = top ? chain_index(c, device, "top node", top, err) : 0;
	if (ti < 0)
		return ti;
	int bi = chain_index(c, device, "base node", base, err);
	if (bi < 0)
		return bi;
	const struct qemu_block_image *t = &c->images[ti], *b = &c->images[bi];
	if (bi <= ti)
		return vr_error_set(err, EINVAL,
				    "cannot merge \"%s\" (node %s) into \"%s\" (node %s) on disk "
				    "device \"%s\": the base must lie below the top in the chain",
				    t->filename, t->node_name, b->filename, b->node_name, device);

	_cleanup_free_ char *what = xasprintf(
		"merging \"%s\" (node %s) into \"%s\" (node %s) on disk device \"%s\"", t->filename,
		t->node_name, b->filename, b->node_name, device);
	json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:b}", "job-id", id, "device",
				 c->images[0].node_name, "top-node", t->node_name, "base-node",
				 b->node_name, "auto-dismiss", 0);
	if (ti > 0) {
		/* QEMU 7.2's default can be a "json:{...}" name in a relative chain. */
		_cleanup_free_ char *name = backing_name_for(&c->images[ti - 1], b);
		if (name)
			json_object_set_new(args, "backing-file", json_string(name));
	}
	struct job_wait w = { .id = id, .what = what, .needs_complete = ti == 0,
			      .progress = progress, .opaque = opaque };
	r = job_run(q, "block-commit", args, &w, err);
	if (r < 0)
		return r;
	/* Active: the device now writes to base; else the image above top sits on base. */
	if (ti == 0)
		r = job_finish(q, device, what, c, b->node_name,
			       bi + 1 < (int)c->n ? c->images[bi + 1].node_name : NULL, err);
	else
		r = job_finish(q, device, what, c, c->images[0].node_name,
			       ti == 1 ? b->node_name : c->images[1].node_name, err);
	if (r == 0)
		log_info("done %s", what);
	return r;
}

int qemu_block_commit(struct qmp *q, const char *device, const char *top, const char *base,
		      qemu_block_progress_fn progress, void *opaque, struct vr_error **err)
{
	int r = block_check_device(device, err);
	if (r == 0 && top)
		r = block_check_node("top node", top, BLOCK_NODE_NAME_MAX, true, err);
	if (r == 0 && !base)
		r = vr_error_set(err, EINVAL, "a merge on disk device \"%s\" needs a base node",
				 device);
	if (r == 0)
		r = block_check_node("base node", base, BLOCK_NODE_NAME_MAX, true, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *id = xasprintf("vireo-commit-%s", device);
	_cleanup_free_ char *what = xasprintf("a merge on disk device \"%s\"", device);
	r = job_prepare(q, id, what, err);
	if (r < 0)
		return r;
	r = commit_claimed(q, device, top, base, id, progress, opaque, err);
	job_release(q, id);
	return r;
}

static int stream_claimed(struct qmp *q, const char *device, const char *base, const char *id,
			  qemu_block_progress_fn progress, void *opaque, struct vr_error **err)
{
	_cleanup_block_chain_ struct qemu_block_chain *c = NULL;
	int r = chain_get(q, device, &c, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot pull data into the top of disk device \"%s\"",
				     device);
	int bi = base ? chain_index(c, device, "base node", base, err) : (int)c->n;
	if (bi < 0)
		return bi;
	const struct qemu_block_image *t = &c->images[0];
	if (bi == 0)
		return vr_error_set(err, EINVAL,
				    "cannot pull data into \"%s\" (node %s) on disk device \"%s\" "
				    "from itself: the base must lie below the top",
				    t->filename, t->node_name, device);
	if (bi == 1) {
		/* Nothing lies between the top and base. */
		if (progress)
			progress(0, 0, opaque);
		return 0;
	}
	_cleanup_free_ char *what =
		base ? xasprintf("pulling the data above \"%s\" (node %s) into \"%s\" (node %s) "
				 "on disk device \"%s\"",
				 c->images[bi].filename, base, t->filename, t->node_name, device)
		     : xasprintf("pulling the whole chain into \"%s\" (node %s) on disk device "
				 "\"%s\"",
				 t->filename, t->node_name, device);
	json_t *args = json_pack("{s:s, s:s, s:b, s:b, s:s}", "job-id", id, "device", t->node_name,
				 "auto-dismiss", 1, "auto-finalize", 0, "on-error", "stop");
	if (base) {
		json_object_set_new(args, "base-node", json_string(base));
		_cleanup_free_ char *name = backing_name_for(t, &c->images[bi]);
		if (name)
			json_object_set_new(args, "backing-file", json_string(name));
	}
	struct job_wait w = { .id = id, .what = what, .stream = true, .progress = progress,
			      .opaque = opaque };
	r = job_run(q, "block-stream", args, &w, err);
	if (r == 0)
		r = job_finish(q, device, what, c, t->node_name, base, err);
	if (r == 0)
		log_info("done %s", what);
	return r;
}

int qemu_block_stream(struct qmp *q, const char *device, const char *base,
		      qemu_block_progress_fn progress, void *opaque, struct vr_error **err)
{
	int r = block_check_device(device, err);
	if (r == 0 && base)
		r = block_check_node("base node", base, BLOCK_NODE_NAME_MAX, true, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *id = xasprintf("vireo-stream-%s", device);
	_cleanup_free_ char *what = xasprintf("a pull into disk device \"%s\"", device);
	r = job_prepare(q, id, what, err);
	if (r < 0)
		return r;
	r = stream_claimed(q, device, base, id, progress, opaque, err);
	job_release(q, id);
	return r;
}
