/* Noticing a failed neighbour in bounded time (docs/architecture.md,
 * "Failure detection"): the heartbeats (rdma/heartbeat.h) say what each
 * neighbour is doing; this file decides, for a stage blocked on one, when
 * that is a failure, and names the stage and the cause:
 *  - nothing heard for peer_timeout_ms: it was killed or exited (its
 *    connection closed), or it is stopped or cut off (silence);
 *  - heard, but its progress counter has not moved, while it waits on no
 *    other stage and does no checkpoint I/O, for the hang bound: the larger of
 *    hang_timeout_ms and HANG_FACTOR times the longest stretch of work seen
 *    from it so far (a stage whose micro-batches take 4 s each is hung after
 *    16 s, not 10): its main thread is stuck (an endless loop).
 * A neighbour that waits on another stage is never blamed: that stage's own
 * neighbours judge it. Slow work is not a failure: the heartbeat thread beats
 * while the main thread computes, and only a stretch of hang_timeout_ms
 * without any progress counts. */
#include "config.h"
#include "pipeline/stage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/heartbeat.h"

/* the hang bound is at least this many times a neighbour's longest stretch
 * of work between two progress marks seen so far */
#define HANG_FACTOR 4

#define TEST_HANG_ENV "DTP_TEST_HANG_AT_STEP"
#define TEST_HANG_MS_ENV "DTP_TEST_HANG_MS"

int dtp_stage_liveness_config(struct dtp_stage *st, const struct dtp_stage_opts *o,
			      struct dtp_err *err)
{
	const struct dtp_plan *p = st->plan;
	const char *hang = getenv(TEST_HANG_ENV), *hang_ms = getenv(TEST_HANG_MS_ENV);
	long v;

	st->heartbeat_ms = o->heartbeat_ms > 0 ? o->heartbeat_ms : p->heartbeat_ms;
	st->peer_timeout_ms = o->peer_timeout_ms > 0 ? o->peer_timeout_ms : p->peer_timeout_ms;
	st->hang_timeout_ms = o->hang_timeout_ms > 0 ? o->hang_timeout_ms : p->hang_timeout_ms;
	/* tests only: the main thread spins at the start of this step, forever
	 * or for DTP_TEST_HANG_MS (a slow computation); read once here, never on
	 * the hot path */
	st->test_hang_step = -1;
	st->test_hang_ms = -1;
	if (hang && dtp_parse_long(hang, 0, DTP_MAX_STEPS, &v) == 0)
		st->test_hang_step = v;
	if (hang_ms && dtp_parse_long(hang_ms, 0, 1L << 30, &v) == 0)
		st->test_hang_ms = v;
	/* the plan's own values are checked when it loads; these may come from
	 * the command line */
	if (st->peer_timeout_ms < 2 * st->heartbeat_ms || st->hang_timeout_ms < st->peer_timeout_ms)
		return dtp_errf_input(err, -EINVAL,
				      "heartbeat every %d ms, peer timeout %d ms, hang timeout %d ms (--heartbeat-ms, --peer-timeout-ms, --hang-timeout-ms, or the plan's [transport] keys): give a peer timeout of at least two heartbeats and a hang timeout no shorter than the peer timeout",
				      st->heartbeat_ms, st->peer_timeout_ms, st->hang_timeout_ms);
	return 0;
}

int dtp_stage_liveness_open(struct dtp_stage *st, struct dtp_err *err)
{
	int r;

	if (st->n_link_cfgs == 0)
		return 0;
	r = dtp_hb_open(st->link_cfgs, st->n_link_cfgs, st->heartbeat_ms, &st->hb, err);
	if (r)
		dtp_err_prefix(err, "stage %d: ", st->s);
	return r;
}

void dtp_stage_liveness_close(struct dtp_stage *st)
{
	dtp_hb_close(st->hb);
	st->hb = NULL;
}

/* The chunks of an interleaved stage share one main thread: what one does
 * (work, a wait, checkpoint I/O), every one of them beats, so that a chunk
 * whose thread is busy with a sibling is not judged hung. */
#define EACH_CHUNK(st, x) \
	for (int i_ = 0, n_ = (st)->siblings ? (st)->n_siblings : 1; i_ < n_; i_++) { \
		struct dtp_stage *x = (st)->siblings ? (st)->siblings[i_] : (st);
#define EACH_END }

void dtp_stage_busy(struct dtp_stage *st)
{
	EACH_CHUNK(st, c)
		dtp_hb_progress(c->hb);
	EACH_END
}

void dtp_stage_in_io(struct dtp_stage *st, int in_io)
{
	EACH_CHUNK(st, c)
		dtp_hb_waiting(c->hb, in_io ? DTP_HB_BUSY_IO : -1);
		dtp_hb_progress(c->hb);
	EACH_END
}

void dtp_stage_blocked_on(struct dtp_stage *st, int peer)
{
	EACH_CHUNK(st, c)
		dtp_hb_waiting(c->hb, peer);
		dtp_hb_progress(c->hb);
	EACH_END
}

/* seconds from `then` to `now`; 0 when `then` is later (never wraps) */
static double secs_since(uint64_t now, uint64_t then)
{
	return now > then ? (double)(now - then) * 1e-9 : 0.0;
}

int dtp_liveness_judge(const struct dtp_hb_state *ps, uint64_t now, int peer,
		       int peer_timeout_ms, int hang_timeout_ms, struct dtp_err *err)
{
	double silent = secs_since(now, ps->heard_ns), still = secs_since(now, ps->since_ns);
	double bound;

	if (silent * 1000 > peer_timeout_ms && ps->closed)
		return dtp_errf_runtime(err, -ECONNRESET,
					"stage %d closed its connection (%s) and has sent nothing for %.1f s: it exited or was killed (see its own message)",
					peer, strerror(ps->closed), silent);
	if (silent * 1000 > peer_timeout_ms)
		return dtp_errf_runtime(err, -ETIMEDOUT,
					"no heartbeat from stage %d for %.1f s (peer_timeout_ms = %d): it is stopped (SIGSTOP), frozen, or the network to it is cut",
					peer, silent, peer_timeout_ms);
	bound = (double)hang_timeout_ms * 1e-3;
	if (HANG_FACTOR * (double)ps->longest_ns * 1e-9 > bound)
		bound = HANG_FACTOR * (double)ps->longest_ns * 1e-9;
	if (ps->waiting_on == -1 && still > bound)
		return dtp_errf_runtime(err, -ETIMEDOUT,
					"stage %d is alive but has made no progress for %.1f s while waiting on no other stage (the bound: hang_timeout_ms = %d, or %d x its longest op so far, %.1f s): it is hung (an endless loop?); if its work is legitimately that slow, raise hang_timeout_ms",
					peer, still, hang_timeout_ms, HANG_FACTOR,
					(double)ps->longest_ns * 1e-9);
	return 0;
}

int dtp_stage_liveness_check(struct dtp_stage *st, int peer, struct dtp_err *err)
{
	struct dtp_hb_state ps;

	if (dtp_hb_peer(st->hb, peer, &ps))
		return 0;
	/* the clock after the snapshot: the heartbeat thread stamps a beat
	 * under the lock the snapshot takes, so no beat is newer than `now`
	 * (read before it, a beat in between wrapped `now - heard` to 584
	 * years and failed a live neighbour) */
	return dtp_liveness_judge(&ps, dtp_now_ns(), peer, st->peer_timeout_ms,
				  st->hang_timeout_ms, err);
}

void dtp_stage_test_hang(const struct dtp_stage *st, long step)
{
	volatile unsigned long spin = 0;
	uint64_t end;

	if (step != st->test_hang_step)
		return;
	dtp_warn("stage %d: %s=%ld: the main thread spins at step %ld %s (a test of failure detection)",
		 st->s, TEST_HANG_ENV, st->test_hang_step, step,
		 st->test_hang_ms < 0 ? "forever" : "for " TEST_HANG_MS_ENV);
	end = st->test_hang_ms < 0 ? UINT64_MAX : dtp_now_ns() + (uint64_t)st->test_hang_ms * 1000000u;
	while (dtp_now_ns() < end)
		spin++;
}
