/* Stages that share cores: an event-driven run of a schedule's op lists under
 * processor sharing (see partition-share.h). */
#include "config.h"
#include "tools/partition-share.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partition/place.h"

void dtp_share_none(struct dtp_share *sh, int K)
{
	memset(sh, 0, sizeof(*sh));
	for (int s = 0; s < K; s++) {
		sh->group[s] = s;
		sh->threads[s] = 1;
		sh->cores[s] = 1;
	}
	sh->n_groups = K;
}

int dtp_share_from_cores(struct dtp_share *sh, int K, const char (*cores)[128],
			 const int *threads, struct dtp_err *err)
{
	int busy[DTP_MAX_STAGES] = { 0 }, over = 0;

	memset(sh, 0, sizeof(*sh));
	for (int s = 0; s < K; s++) {
		int g = 0, n = dtp_cpulist_count(cores[s]);

		if (n < 1)
			return dtp_errf_input(err, -EINVAL, "stage %d: cores '%s' is not a cpulist", s,
					      cores[s]);
		while (g < sh->n_groups) {
			int first = -1;

			for (int t = 0; t < s && first < 0; t++)
				if (sh->group[t] == g)
					first = t;
			if (strcmp(cores[first], cores[s]) == 0)
				break;
			g++;
		}
		if (g == sh->n_groups)
			sh->cores[sh->n_groups++] = n;
		sh->group[s] = g;
		sh->threads[s] = threads && threads[s] > 0 ? threads[s] : n;
		busy[g] += sh->threads[s];
	}
	for (int g = 0; g < sh->n_groups; g++)
		over |= busy[g] > sh->cores[g];
	return over;
}

void dtp_share_extra_none(struct dtp_share_extra *ex)
{
	memset(ex, 0, sizeof(*ex));
	for (int s = 0; s < DTP_MAX_STAGES; s++)
		ex->slow[s] = ex->slow_step[s] = ex->share_pen[s] = 1;
}

/* a stage's phases in a step: pre work, the ops, post work, the exchange */
enum phase { PH_PRE, PH_OPS, PH_POST, PH_UP, PH_DOWN, PH_DONE };
/* pseudo op kinds for the per-step work (past every dtp_op kind) */
#define KIND_PRE 1000
#define KIND_POST 1001

/* in-order messages on one link and direction: micro ids and arrival times */
struct link {
	int micro[2 * 1024];
	double at[2 * 1024];
	int head, tail;
};

struct sim {
	const struct dtp_schedule *sch;
	const struct dtp_share *sh;
	const struct dtp_share_extra *ex;
	enum phase ph[DTP_MAX_STAGES];
	int kind[DTP_MAX_STAGES];        /* what the running compute is */
	double up_at[DTP_MAX_STAGES];    /* the exchange's sums arrive at s then; < 0: not sent */
	double down_at[DTP_MAX_STAGES];  /* its clip factor */
	const double *fwd, *bin, *bw;
	double xfer, t;
	int K;
	int pc[DTP_MAX_STAGES];
	double left[DTP_MAX_STAGES];     /* own seconds of the running op; < 0: none */
	double start[DTP_MAX_STAGES];    /* its start */
	double wake[DTP_MAX_STAGES];     /* waiting for a message that arrives then */
	double own[DTP_MAX_STAGES];      /* compute done, own seconds */
	double fspan[DTP_MAX_STAGES], bspan[DTP_MAX_STAGES], overlap[DTP_MAX_STAGES];
	int nf[DTP_MAX_STAGES];
	struct link *up, *down;          /* K each: s -> s+1, s+1 -> s */
};

static double op_time(const struct sim *S, int s, int kind)
{
	return kind == DTP_OP_FWD ? S->fwd[s] : kind == DTP_OP_BWD_IN ? S->bin[s] :
	       kind == DTP_OP_BWD_W ? S->bw[s] : S->bin[s] + S->bw[s];
}

static void start(struct sim *S, int s, int kind, double t)
{
	S->left[s] = t;
	S->kind[s] = kind;
	S->start[s] = S->t;
}

/* waits for a control message that arrives at `at` (< 0: not sent): 1 when
 * it is there, else 0 (and the stage wakes when it comes) */
static int arrived(struct sim *S, int s, double at)
{
	if (at < 0)
		return 0;
	if (at > S->t) {
		S->wake[s] = at;
		return 0;
	}
	return 1;
}

/* The phases around the ops (with an extra): 1 when the stage moved. */
static int advance_step(struct sim *S, int s)
{
	int K = S->K;

	switch (S->ph[s]) {
	case PH_PRE:
		S->ph[s] = PH_OPS;
		if (S->ex->pre[s] > 0) {
			start(S, s, KIND_PRE, S->ex->pre[s]);
			return 1;
		}
		return 1;
	case PH_POST:
		S->ph[s] = PH_UP;
		if (S->ex->post[s] > 0) {
			start(S, s, KIND_POST, S->ex->post[s]);
			return 1;
		}
		return 1;
	case PH_UP:
		if (s > 0 && !arrived(S, s, S->up_at[s]))
			return 0;
		if (s + 1 < K) {
			S->up_at[s + 1] = S->t + S->ex->hop;
			S->ph[s] = PH_DOWN;
		} else {
			if (s > 0)
				S->down_at[s - 1] = S->t + S->ex->hop;
			S->ph[s] = PH_DONE;
		}
		return 1;
	case PH_DOWN:
		if (!arrived(S, s, S->down_at[s]))
			return 0;
		if (s > 0)
			S->down_at[s - 1] = S->t + S->ex->hop;
		S->ph[s] = PH_DONE;
		return 1;
	default:
		return 0;
	}
}

/* Stage s runs its ops that take no compute time until it starts a compute
 * op, waits for a message, or ends. 1 when it moved, 0 if not, < 0 error. */
static int advance(struct sim *S, int s, struct dtp_err *err)
{
	const struct dtp_schedule *sc = &S->sch[s];
	int moved = 0;

	while (S->ex && S->left[s] < 0 && S->ph[s] != PH_OPS && S->ph[s] != PH_DONE) {
		int r = advance_step(S, s);

		if (!r)
			return moved;
		moved = 1;
	}
	while (S->left[s] < 0 && S->pc[s] < sc->n_ops) {
		const struct dtp_op *op = &sc->ops[S->pc[s]];
		struct link *l;

		switch (op->kind) {
		case DTP_OP_FWD:
		case DTP_OP_BWD:
		case DTP_OP_BWD_IN:
		case DTP_OP_BWD_W:
			start(S, s, op->kind, op_time(S, s, op->kind));
			return 1;
		case DTP_OP_SEND_ACT:
		case DTP_OP_SEND_GRAD:
			if ((op->kind == DTP_OP_SEND_ACT && s + 1 >= S->K) ||
			    (op->kind == DTP_OP_SEND_GRAD && s == 0))
				return dtp_errf_runtime(err, -EPROTO, "share: stage %d sends to no stage", s);
			l = op->kind == DTP_OP_SEND_ACT ? &S->up[s] : &S->down[s - 1];
			if (l->tail >= (int)(sizeof(l->micro) / sizeof(l->micro[0])))
				return dtp_errf_input(err, -E2BIG, "share: more than %zu messages on a link",
						      sizeof(l->micro) / sizeof(l->micro[0]));
			l->micro[l->tail] = op->micro;
			l->at[l->tail++] = S->t + S->xfer;
			break;
		case DTP_OP_RECV_ACT:
		case DTP_OP_RECV_GRAD:
			if ((op->kind == DTP_OP_RECV_ACT && s == 0) ||
			    (op->kind == DTP_OP_RECV_GRAD && s + 1 >= S->K))
				return dtp_errf_runtime(err, -EPROTO, "share: stage %d receives from no stage", s);
			l = op->kind == DTP_OP_RECV_ACT ? &S->up[s - 1] : &S->down[s];
			if (l->head == l->tail)
				return moved;
			if (l->micro[l->head] != op->micro)
				return dtp_errf_runtime(err, -EPROTO, "share: stage %d waits for %s %d but %d "
							"arrives", s, dtp_op_name(op->kind), op->micro,
							l->micro[l->head]);
			if (l->at[l->head] > S->t) {
				S->wake[s] = l->at[l->head];
				return moved;
			}
			l->head++;
			break;
		default:
			return dtp_errf_runtime(err, -EINVAL, "share: unknown op kind %d", op->kind);
		}
		S->pc[s]++;
		moved = 1;
	}
	if (S->ex && S->left[s] < 0 && S->ph[s] == PH_OPS && S->pc[s] >= sc->n_ops) {
		S->ph[s] = PH_POST;
		return advance(S, s, err) | 1;
	}
	return moved;
}

static int stage_done(const struct sim *S, int s)
{
	return S->ex ? S->ph[s] == PH_DONE : S->pc[s] >= S->sch[s].n_ops;
}

/* each running op's speed: min(1, cores / busy threads) of its group, and
 * with an extra, slower by its slow factor while another group computes */
static void rates(const struct sim *S, double *rate)
{
	int busy[DTP_MAX_STAGES] = { 0 }, groups = 0;

	for (int s = 0; s < S->K; s++)
		if (S->left[s] >= 0)
			busy[S->sh->group[s]] += S->sh->threads[s];
	for (int g = 0; g < S->sh->n_groups; g++)
		groups += busy[g] > 0;
	for (int s = 0; s < S->K; s++) {
		int g = S->sh->group[s];

		rate[s] = busy[g] > S->sh->cores[g] ? (double)S->sh->cores[g] / busy[g] : 1.0;
		if (S->ex && busy[g] > S->sh->cores[g] && S->ex->share_pen[s] > 0)
			rate[s] /= S->ex->share_pen[s];
		if (S->ex && busy[g] > 0 && groups > 1) {
			int step_work = S->kind[s] == KIND_PRE || S->kind[s] == KIND_POST;
			double f = step_work ? S->ex->slow_step[s] : S->ex->slow[s];

			if (f > 0)
				rate[s] /= f;
		}
	}
}

/* own seconds of the running compute */
static double run_time(const struct sim *S, int s)
{
	if (S->kind[s] == KIND_PRE)
		return S->ex->pre[s];
	if (S->kind[s] == KIND_POST)
		return S->ex->post[s];
	return op_time(S, s, S->kind[s]);
}

/* a schedule's op, not the per-step work */
static int is_op(int kind)
{
	return kind != KIND_PRE && kind != KIND_POST;
}

static int run(struct sim *S, struct dtp_err *err)
{
	double rate[DTP_MAX_STAGES];

	for (;;) {
		double next = INFINITY;
		int moved, r, done = 1;

		do {
			moved = 0;
			for (int s = 0; s < S->K; s++) {
				r = advance(S, s, err);
				if (r < 0)
					return r;
				moved |= r;
			}
		} while (moved);
		rates(S, rate);
		for (int s = 0; s < S->K; s++) {
			if (S->left[s] >= 0 && S->t + S->left[s] / rate[s] < next)
				next = S->t + S->left[s] / rate[s];
			else if (S->left[s] < 0 && S->wake[s] > S->t && S->wake[s] < next)
				next = S->wake[s];
			done &= stage_done(S, s);
		}
		if (done)
			return 0;
		if (next == INFINITY)
			return dtp_errf_runtime(err, -EDEADLK, "share: the op lists cannot finish");
		for (int s = 0; s < S->K; s++)   /* core-mates in an op at once */
			if (S->left[s] >= 0 && is_op(S->kind[s]))
				for (int o = 0; o < S->K; o++)
					if (o != s && S->left[o] >= 0 && is_op(S->kind[o]) &&
					    S->sh->group[o] == S->sh->group[s]) {
						S->overlap[s] += next - S->t;
						break;
					}
		for (int s = 0; s < S->K; s++) {
			int kind = S->kind[s];

			if (S->left[s] < 0)
				continue;
			S->left[s] -= (next - S->t) * rate[s];
			/* done when what is left takes under a nanosecond */
			if (S->left[s] > 1e-9 * rate[s])
				continue;
			S->left[s] = -1;
			if (kind == KIND_PRE || kind == KIND_POST)
				continue;
			S->own[s] += run_time(S, s);
			if (kind == DTP_OP_FWD) {
				S->fspan[s] += next - S->start[s];
				S->nf[s]++;
			} else {
				S->bspan[s] += next - S->start[s];
			}
			S->pc[s]++;
		}
		S->t = next;
	}
}

int dtp_share_simulate(enum dtp_schedule_kind kind, int K, int M, const double *fwd,
		       const double *bwd_in, const double *bwd_w, double xfer,
		       const struct dtp_share *sh, struct dtp_share_result *out,
		       struct dtp_err *err)
{
	return dtp_share_simulate_step(kind, K, M, fwd, bwd_in, bwd_w, xfer, sh, NULL, out, err);
}

int dtp_share_simulate_step(enum dtp_schedule_kind kind, int K, int M, const double *fwd,
			    const double *bwd_in, const double *bwd_w, double xfer,
			    const struct dtp_share *sh, const struct dtp_share_extra *ex,
			    struct dtp_share_result *out, struct dtp_err *err)
{
	struct dtp_schedule sch[DTP_MAX_STAGES] = { 0 };
	struct sim S = { .sch = sch, .sh = sh, .ex = ex, .fwd = fwd, .bin = bwd_in, .bw = bwd_w,
			 .xfer = xfer, .K = K };
	double own = 0;
	int built = 0, r = 0;

	if (K < 1 || K > DTP_MAX_STAGES || M < 1 || M > 1024)
		return dtp_errf_input(err, -EINVAL, "share: K = %d, M = %d: use K in 1..%d, M in "
				      "1..1024", K, M, DTP_MAX_STAGES);
	S.up = calloc(2 * (size_t)K, sizeof(*S.up));
	if (!S.up)
		return dtp_errf_runtime(err, -ENOMEM, "out of memory");
	S.down = S.up + K;
	for (int s = 0; s < K; s++) {
		S.left[s] = -1;
		S.wake[s] = -1;
		S.up_at[s] = S.down_at[s] = -1;
		S.ph[s] = ex ? PH_PRE : PH_OPS;
	}
	for (; built < K && r == 0; built++)
		r = dtp_schedule_build(kind, built, K, M, &sch[built], err);
	if (r == 0)
		r = run(&S, err);
	if (r == 0) {
		memset(out, 0, sizeof(*out));
		out->step_time = S.t;
		for (int s = 0; s < K; s++) {
			own += S.own[s];
			out->fwd_span[s] = S.nf[s] ? S.fspan[s] / S.nf[s] : 0;
			out->bwd_span[s] = S.nf[s] ? S.bspan[s] / S.nf[s] : 0;
			out->overlap[s] = S.overlap[s] / M;
		}
		out->bubble = S.t > 0 ? 1 - own / (K * S.t) : 0;
	}
	for (int s = 0; s < built; s++)
		dtp_schedule_free(&sch[s]);
	free(S.up);
	return r;
}

static int compute_span(int kind)
{
	static const char *const names[] = { "fwd", "bwd", "recompute", "bwd_b", "bwd_w" };
	const char *n = dtp_trace_span_name(kind);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(n, names[i]) == 0)
			return 1;
	return 0;
}

void dtp_share_overlap(const struct dtp_share *sh, int K, int M,
		       const struct dtp_trace_event *ev, int n, double *overlap)
{
	for (int s = 0; s < K; s++)
		overlap[s] = 0;
	for (int i = 0; i < n; i++) {
		int s = ev[i].stage;
		/* the union of the core-mates' spans over this one: they do not
		 * overlap each other on one stage, but two mates may */
		double covered = 0, from = ev[i].t0;

		if (s < 0 || s >= K || !compute_span(ev[i].kind))
			continue;
		for (;;) {
			/* the earliest-starting mate span that covers `from` or
			 * starts after it, within this span */
			double best0 = INFINITY, best1 = 0;

			for (int j = 0; j < n; j++) {
				int o = ev[j].stage;
				double a, b;

				if (o == s || o < 0 || o >= K || sh->group[o] != sh->group[s] ||
				    !compute_span(ev[j].kind))
					continue;
				a = ev[j].t0 > from ? ev[j].t0 : from;
				b = ev[j].t1 < ev[i].t1 ? ev[j].t1 : ev[i].t1;
				if (b > a && a < best0) {
					best0 = a;
					best1 = b;
				} else if (b > a && a == best0 && b > best1) {
					best1 = b;
				}
			}
			if (best0 == INFINITY)
				break;
			covered += best1 - best0;
			from = best1;
		}
		overlap[s] += covered;
	}
	for (int s = 0; s < K; s++)
		overlap[s] /= M;
}
