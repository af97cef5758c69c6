/* Reading a merged trace back (dtp_trace_read_compute): the per-stage compute
 * per micro-batch that dtpipe-partition report sets beside its prediction.
 * The event names are trace.c's (dtp_span_name). */
#include "config.h"
#include "pipeline/stage.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* an event's span kind: its category ("fwd", ...), which an interleaved
 * run's names extend with the micro-batch and chunk ("fwd mb3 c1"); a trace
 * without categories: its name */
static const char *span_kind_of(json_t *ev)
{
	const char *cat = json_string_value(json_object_get(ev, "cat"));

	return cat ? cat : json_string_value(json_object_get(ev, "name"));
}

/* an event's training step (args.step), or -1 without one */
static long event_step(json_t *ev)
{
	json_t *st = json_object_get(json_object_get(ev, "args"), "step");

	return json_is_integer(st) ? (long)json_integer_value(st) : -1;
}

/* one stage's compute spans in one step: the sums of their durations (us)
 * and counts, and of the CPU time over them (us) with the count of spans
 * that had it */
struct step_sums {
	double f, b, bin, bw, cpu;
	int nf, nrec, nbin, nbw, ncpu, nspans;
};

/* a trace's compute spans, stage by stage and step by step: cell
 * [step * K + s] for the steps 0..steps-1 (a trace without steps: one);
 * `first` is the first step the figures take (1 when the trace has later
 * steps: the first warms up, as the metrics' figures leave it out) */
struct compute_sums {
	int K;
	long steps, first;
	struct step_sums *cell;
	struct step_sums total[DTP_MAX_STAGES];   /* over the steps taken */
};

static void sums_add(struct step_sums *t, const struct step_sums *c)
{
	t->f += c->f, t->b += c->b, t->bin += c->bin, t->bw += c->bw, t->cpu += c->cpu;
	t->nf += c->nf, t->nrec += c->nrec, t->nbin += c->nbin, t->nbw += c->nbw;
	t->ncpu += c->ncpu, t->nspans += c->nspans;
}

static int read_sums(const char *path, int K, struct compute_sums *c, struct dtp_err *err)
{
	const char *fwd = dtp_span_name(DTP_SPAN_FWD), *bwd = dtp_span_name(DTP_SPAN_BWD);
	const char *rec = dtp_span_name(DTP_SPAN_RECOMPUTE);
	const char *bin = dtp_span_name(DTP_SPAN_BWD_IN), *bw = dtp_span_name(DTP_SPAN_BWD_W);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *events, *ev;
	long last = -1;
	int r = 0;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (!root)
		return dtp_errf_input(err, -EINVAL, "%s:%d: not a Chrome trace (JSON): %s", path, je.line,
				je.text);
	if (K < 1 || K > DTP_MAX_STAGES) {
		r = dtp_errf_input(err, -EINVAL, "%s: %d stages; use 1..%d", path, K, DTP_MAX_STAGES);
		goto out_decref;
	}
	events = json_is_array(root) ? root : json_object_get(root, "traceEvents");
	if (!json_is_array(events)) {
		r = dtp_errf_input(err, -EINVAL, "%s: no trace events: expected an array or an object "
			     "with \"traceEvents\" (write it with dtpipe --trace)", path);
		goto out_decref;
	}
	json_array_foreach(events, i, ev)
		if (event_step(ev) > last)
			last = event_step(ev);
	c->K = K;
	c->steps = last > 0 ? last + 1 : 1;
	c->first = last > 0;
	c->cell = calloc((size_t)c->steps * (size_t)K, sizeof(*c->cell));
	if (!c->cell) {
		r = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory for %ld steps of %d stages", path,
				     c->steps, K);
		goto out_decref;
	}
	json_array_foreach(events, i, ev) {
		const char *ph = json_string_value(json_object_get(ev, "ph"));
		const char *name = span_kind_of(ev);
		json_t *pid = json_object_get(ev, "pid"), *dur = json_object_get(ev, "dur");
		json_t *cpu = json_object_get(json_object_get(ev, "args"), "cpu_us");
		long step = event_step(ev);
		struct step_sums *x;
		int s, is_fwd, is_bin, is_bw;

		if (!ph || strcmp(ph, "X") || !name || !json_is_integer(pid) || !json_is_number(dur))
			continue;
		if (last > 0 && step < 1)
			continue;
		s = (int)json_integer_value(pid);
		is_fwd = strcmp(name, fwd) == 0;
		is_bin = strcmp(name, bin) == 0;
		is_bw = strcmp(name, bw) == 0;
		if (!is_fwd && !is_bin && !is_bw && strcmp(name, bwd) && strcmp(name, rec))
			continue;
		if (s < 0 || s >= K) {
			r = dtp_errf_input(err, -EINVAL, "%s: event %zu is for stage %d but the plan has %d "
				     "stages: is this the trace of this plan?", path, i, s, K);
			goto out_free;
		}
		x = &c->cell[(size_t)(step < 0 ? 0 : step) * (size_t)K + (size_t)s];
		x->nspans++;
		if (json_is_number(cpu)) {
			x->cpu += json_number_value(cpu);
			x->ncpu++;
		}
		if (is_fwd) {
			x->f += json_number_value(dur);
			x->nf++;
			continue;
		}
		x->b += json_number_value(dur);
		x->nrec += strcmp(name, rec) == 0;
		if (is_bin) {
			x->bin += json_number_value(dur);
			x->nbin++;
		} else if (is_bw) {
			x->bw += json_number_value(dur);
			x->nbw++;
		}
	}
	for (long step = c->first; step < c->steps; step++)
		for (int s = 0; s < K; s++)
			sums_add(&c->total[s], &c->cell[(size_t)step * (size_t)K + (size_t)s]);
	for (int s = 0; s < K; s++) {
		if (!c->total[s].nf && !c->total[s].nrec) {
			r = dtp_errf_input(err, -EINVAL, "%s: no \"%s\" or \"%s\" events for stage %d (pid %d)",
				     path, fwd, rec, s, s);
			goto out_free;
		}
	}
	goto out_decref;
out_free:
	free(c->cell);
	c->cell = NULL;
out_decref:
	json_decref(root);
	return r;
}

/* a stage's micro-batches in a step: its forwards; a last stage that
 * recomputes runs its forward inside each "recompute" span and has no "fwd" */
static int micro_of(const struct step_sums *x)
{
	return x->nf ? x->nf : x->nrec;
}

enum sum_field { SUM_F, SUM_B, SUM_CPU };

/* stage s's FIELD per micro-batch in ms: the median over the steps taken of
 * each step's sum over its micro-batches, so that a step the host slowed
 * (a core running at half speed for some ms, which no reading before or
 * after sees) moves it no more than it moves the metrics' median step time */
static double per_micro_ms(const struct compute_sums *c, int s, enum sum_field field)
{
	double v[64], *buf = v, med;
	size_t n = 0;

	if (c->steps - c->first > (long)(sizeof(v) / sizeof(v[0])))
		buf = malloc((size_t)(c->steps - c->first) * sizeof(*buf));
	if (!buf) {    /* out of memory: the mean over the steps */
		const struct step_sums *t = &c->total[s];

		return (field == SUM_F ? t->f : field == SUM_B ? t->b : t->cpu) / micro_of(t) * 1e-3;
	}
	for (long step = c->first; step < c->steps; step++) {
		const struct step_sums *x = &c->cell[(size_t)step * (size_t)c->K + (size_t)s];

		if (micro_of(x) > 0)
			buf[n++] = (field == SUM_F ? x->f : field == SUM_B ? x->b : x->cpu) / micro_of(x);
	}
	med = dtp_median_doubles(buf, n) * 1e-3;
	if (buf != v)
		free(buf);
	return med;
}

int dtp_trace_read_compute(const char *path, int K, double *fwd_ms, double *bwd_ms,
			   struct dtp_err *err)
{
	struct compute_sums c;
	int r = read_sums(path, K, &c, err);

	if (r)
		return r;
	for (int s = 0; s < K; s++) {
		fwd_ms[s] = per_micro_ms(&c, s, SUM_F);
		bwd_ms[s] = per_micro_ms(&c, s, SUM_B);
	}
	free(c.cell);
	return 0;
}

int dtp_trace_read_cpu(const char *path, int K, double *cpu_ms, struct dtp_err *err)
{
	struct compute_sums c;
	int r = read_sums(path, K, &c, err);

	if (r)
		return r;
	for (int s = 0; s < K; s++)
		if (c.total[s].ncpu != c.total[s].nspans) {
			free(c.cell);
			return 0;   /* a trace from before cpu_us, or not dtpipe's */
		}
	for (int s = 0; s < K; s++)
		cpu_ms[s] = per_micro_ms(&c, s, SUM_CPU);
	free(c.cell);
	return 1;
}

int dtp_trace_read_split(const char *path, int K, double *bin_ms, double *bw_ms,
			 struct dtp_err *err)
{
	struct compute_sums c;
	int r = read_sums(path, K, &c, err);

	if (r)
		return r;
	for (int s = 0; s < K; s++)
		r |= c.total[s].nbin > 0 && c.total[s].nbw > 0;
	if (r)
		for (int s = 0; s < K; s++) {
			/* the backward per micro-batch, shared as the stage's own
			 * B and W spans share it over the whole trace (half each
			 * where it ran whole only) */
			const struct step_sums *t = &c.total[s];
			double split = t->bin + t->bw, frac = split > 0 ? t->bin / split : 0.5;
			double b = per_micro_ms(&c, s, SUM_B);

			bin_ms[s] = b * frac;
			bw_ms[s] = b * (1 - frac);
		}
	free(c.cell);
	return r;
}

/* the span kind named `name`, or -1 */
static int span_kind(const char *name)
{
	for (int k = 0; k < DTP_SPAN_N; k++)
		if (strcmp(name, dtp_span_name(k)) == 0)
			return k;
	return -1;
}

/* the trace at PATH and its events of K stages: *root held (json_decref it)
 * on 0, nothing held on an error */
static int load_events(const char *path, int K, json_t **root, json_t **events,
		       struct dtp_err *err)
{
	json_error_t je;

	*root = json_load_file(path, 0, &je);
	if (!*root)
		return dtp_errf_input(err, -EINVAL, "%s:%d: not a Chrome trace (JSON): %s", path, je.line,
				      je.text);
	*events = json_is_array(*root) ? *root : json_object_get(*root, "traceEvents");
	if (!json_is_array(*events) || K < 1 || K > DTP_MAX_STAGES) {
		json_decref(*root);
		return dtp_errf_input(err, -EINVAL, "%s: no trace events of 1..%d stages (write it with dtpipe --trace)",
				      path, DTP_MAX_STAGES);
	}
	return 0;
}

int dtp_trace_read_step(const char *path, int K, struct dtp_trace_event *evs, int max,
			int *n_out, struct dtp_err *err)
{
	json_t *root, *events, *ev;
	long last = -1;
	double start = -1;
	int n = 0, r = 0;
	size_t i;

	if ((r = load_events(path, K, &root, &events, err)))
		return r;
	/* the last training step with a forward (evaluation steps are negative) */
	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach(events, i, ev) {
			const char *ph = json_string_value(json_object_get(ev, "ph"));
			const char *name = span_kind_of(ev);
			json_t *args = json_object_get(ev, "args");
			json_t *jstep = json_object_get(args, "step"), *pid = json_object_get(ev, "pid");
			double ts = json_number_value(json_object_get(ev, "ts"));
			double dur = json_number_value(json_object_get(ev, "dur"));
			int kind, s;

			if (!ph || strcmp(ph, "X") || !name || !json_is_integer(jstep) ||
			    !json_is_integer(pid) || (kind = span_kind(name)) < 0)
				continue;
			s = (int)json_integer_value(pid);
			if (pass == 0) {
				if (kind == DTP_SPAN_FWD && json_integer_value(jstep) > last)
					last = (long)json_integer_value(jstep);
				continue;
			}
			if (json_integer_value(jstep) != last || s < 0 || s >= K)
				continue;
			if (kind == DTP_SPAN_OPTIM || kind == DTP_SPAN_SYNC)
				continue;   /* the step's ops only */
			if (n == max) {
				r = dtp_errf_input(err, -E2BIG, "%s: step %ld has more than %d events", path,
						   last, max);
				goto out_decref;
			}
			evs[n].stage = s;
			evs[n].kind = kind;
			evs[n].micro = (int)json_integer_value(json_object_get(args, "micro"));
			evs[n].t0 = ts * 1e-6;
			evs[n].t1 = (ts + dur) * 1e-6;
			if (start < 0 || evs[n].t0 < start)
				start = evs[n].t0;
			n++;
		}
		if (last < 0) {
			r = dtp_errf_input(err, -EINVAL, "%s: no training step with a \"%s\" event", path,
					   dtp_span_name(DTP_SPAN_FWD));
			goto out_decref;
		}
	}
	for (int k = 0; k < n; k++) {
		evs[k].t0 -= start;
		evs[k].t1 -= start;
	}
	*n_out = n;
out_decref:
	json_decref(root);
	return r;
}

static int is_compute(int kind)
{
	return kind == DTP_SPAN_FWD || kind == DTP_SPAN_BWD || kind == DTP_SPAN_RECOMPUTE ||
	       kind == DTP_SPAN_BWD_IN || kind == DTP_SPAN_BWD_W;
}

/* one span of a training step on a stage of the trace: 0 and the fields, or
 * -1 to skip the event */
static int step_span(json_t *ev, int K, int *kind, int *s, long *step, double *t0, double *t1)
{
	const char *ph = json_string_value(json_object_get(ev, "ph"));
	const char *name = span_kind_of(ev);
	json_t *jstep = json_object_get(json_object_get(ev, "args"), "step");
	json_t *pid = json_object_get(ev, "pid");

	if (!ph || strcmp(ph, "X") || !name || !json_is_integer(jstep) || !json_is_integer(pid) ||
	    (*kind = span_kind(name)) < 0)
		return -1;
	*s = (int)json_integer_value(pid);
	*step = (long)json_integer_value(jstep);
	if (*s < 0 || *s >= K || *step < 0)   /* evaluation steps are negative */
		return -1;
	*t0 = json_number_value(json_object_get(ev, "ts"));
	*t1 = *t0 + json_number_value(json_object_get(ev, "dur"));
	return 0;
}

int dtp_trace_read_step_work(const char *path, int K, double *pre_ms, double *post_ms,
			     struct dtp_err *err)
{
	json_t *root, *events, *ev;
	double *tc = NULL, *ts = NULL, *pre = NULL, *post = NULL, t0, t1;
	long steps = 0, step;
	int r = 0, any = 0, kind, s;
	size_t i;

	if ((r = load_events(path, K, &root, &events, err)))
		return r;
	json_array_foreach(events, i, ev)
		if (step_span(ev, K, &kind, &s, &step, &t0, &t1) == 0 && step >= steps)
			steps = step + 1;
	if (steps == 0)
		goto out_decref;
	tc = calloc((size_t)K * (size_t)steps, sizeof(*tc));
	ts = calloc((size_t)K * (size_t)steps, sizeof(*ts));
	pre = calloc((size_t)K * (size_t)steps, sizeof(*pre));
	post = calloc((size_t)K * (size_t)steps, sizeof(*post));
	if (!tc || !ts || !pre || !post) {
		r = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory for %ld steps", path, steps);
		goto out_free;
	}
	/* per stage and step: where its last compute span ends (tc), then the
	 * first exchange ("sync") that starts after it (ts) */
	for (int pass = 0; pass < 3; pass++) {
		json_array_foreach(events, i, ev) {
			size_t at;

			if (step_span(ev, K, &kind, &s, &step, &t0, &t1))
				continue;
			at = (size_t)step * (size_t)K + (size_t)s;
			if (pass == 0 && is_compute(kind) && t1 > tc[at])
				tc[at] = t1;
			else if (pass == 1 && kind == DTP_SPAN_SYNC && t0 >= tc[at] &&
				 (ts[at] == 0 || t0 < ts[at]))
				ts[at] = t0;
			else if (pass == 2 && kind == DTP_SPAN_OPTIM) {
				/* between the last compute and the exchange: the
				 * norm's sums; else before the ops (zeroing) or
				 * after the exchange (the optimizer step) */
				int after = tc[at] > 0 && t0 >= tc[at] && (ts[at] == 0 || t0 < ts[at]);

				(after ? post : pre)[at] += (t1 - t0) * 1e-3;
				any = 1;
			}
		}
	}
	if (!any)
		goto out_free;
	/* medians over the steps after the first (it warms up), all of them
	 * where the trace holds one */
	for (s = 0; s < K; s++) {
		long first = steps > 1, n = 0;

		for (step = first; step < steps; step++, n++) {
			tc[n] = pre[(size_t)step * (size_t)K + (size_t)s];
			ts[n] = post[(size_t)step * (size_t)K + (size_t)s];
		}
		pre_ms[s] = dtp_median_doubles(tc, (size_t)n);
		post_ms[s] = dtp_median_doubles(ts, (size_t)n);
	}
	r = 1;
out_free:
	free(tc);
	free(ts);
	free(pre);
	free(post);
out_decref:
	json_decref(root);
	return r;
}
