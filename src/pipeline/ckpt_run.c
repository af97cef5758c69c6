/* A running stage's side of the layout-free checkpoints (ckpt_run.h): which
 * facts of the run a checkpoint records, which arrays a stage writes and
 * reads (its units' parameters and optimizer state, named per unit and role),
 * and the data positions. The files, the manifest and their checks are the
 * store's (ckpt_store.c, ckpt_load.c); the completion message is ctrl.c's. */
#include "config.h"
#include "pipeline/ckpt_run.h"
#include "pipeline/ctrl.h"
#include "base/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POS_INPUTS "train.inputs"
#define POS_TARGETS "train.targets"

int dtp_stage_ckpt_arrays(const struct dtp_stage *st, const char **roles, float **arrays,
			  size_t *n_params)
{
	size_t np = dtp_stage_model_num_params(st->model), ns;
	float *state = dtp_optim_state(st->optim, &ns);
	int n = 0;

	roles[n] = DTP_CKPT_ROLE_PARAM;
	arrays[n++] = dtp_stage_model_params(st->model);
	if (st->plan->optim.kind == DTP_OPTIM_ADAMW && ns == 2 * np) {
		roles[n] = DTP_CKPT_ROLE_ADAM_M;
		arrays[n++] = state;
		roles[n] = DTP_CKPT_ROLE_ADAM_V;
		arrays[n++] = state + np;
	} else if (ns == np) {
		roles[n] = DTP_CKPT_ROLE_MOMENTUM;
		arrays[n++] = state;
	}
	*n_params = np;
	return n;
}

/* The training settings that change results, as text of at most len - 1
 * bytes. Long data paths do not fit: then the text keeps what fits and ends
 * with the CRC-32C of the whole, so that settings past the cut still count. */
static void training_text(const struct dtp_plan *p, char *out, size_t len)
{
	char full[2 * DTP_PLAN_PATH_MAX + 256];
	int n = snprintf(full, sizeof(full),
			 "micro_batch=%d micro_batches=%d seed=%" PRIu64
			 " shuffle_window=%d nonfinite=%s precision=%s train=%s test=%s",
			 p->micro_batch, p->micro_batches * p->replicas, p->seed, p->shuffle_window,
			 p->skip_nonfinite ? "skip" : "stop", dtp_precision_name(p->precision),
			 p->train_path, p->test_path);

	if (n >= 0 && (size_t)n < len) {
		memcpy(out, full, (size_t)n + 1);
		return;
	}
	/* " ... crc32c=xxxxxxxx" is 20 bytes */
	snprintf(out, len, "%.*s ... crc32c=%08" PRIx32, (int)(len - 21), full,
		 dtp_crc32c(0, full, strlen(full)));
}

void dtp_stage_ckpt_info(const struct dtp_stage *st, struct dtp_ckpt_info *in)
{
	const struct dtp_plan *p = st->plan;
	const struct dtp_optim_config *o = &p->optim;
	int adam = o->kind == DTP_OPTIM_ADAMW;

	memset(in, 0, sizeof(*in));
	dtp_model_spec_format(&p->model, in->model, sizeof(in->model));
	snprintf(in->optimizer, sizeof(in->optimizer), "%s", adam ? "adamw" : "sgd");
	/* %.9g gives back every float exactly; the cosine decay's length is the
	 * plan's total_steps, or the run's steps when it decays to the end */
	snprintf(in->optim_settings, sizeof(in->optim_settings),
		 "lr=%.9g momentum=%.9g beta1=%.9g beta2=%.9g eps=%.9g weight_decay=%.9g "
		 "clip_norm=%.9g warmup_steps=%ld total_steps=%ld min_lr_ratio=%.9g "
		 "cosine_to_end=%d",
		 (double)o->lr, (double)o->momentum, (double)o->beta1, (double)o->beta2,
		 (double)o->eps, (double)o->weight_decay, (double)o->clip_norm, o->warmup_steps,
		 o->total_steps, (double)o->min_lr_ratio, p->cosine_to_end);
	/* what changes the numbers; not how long to run, where to write, how
	 * often, nor the layout (stages, cuts, transport, schedule, threads,
	 * recompute, which the bit-identity tests show change nothing); with
	 * data-parallel replicas the micro-batches of the whole global batch
	 * (R x M), so a run resumes with another R and the same global batch */
	training_text(p, in->training, sizeof(in->training));
	/* the loaders' shuffles are counter-based (dtp_rng(seed, stream)): the
	 * seed and the data positions are the whole random state */
	snprintf(in->rng, sizeof(in->rng), "dtp_rng seed=%" PRIu64 " streams=epoch", p->seed);
	snprintf(in->schedule, sizeof(in->schedule), "warmup=%ld decay_end=%ld", st->lr_warmup,
		 st->lr_decay_end);
}

static void loader_pos(struct dtp_loader *l, const char *name, struct dtp_ckpt_pos *out)
{
	struct dtp_loader_pos pos;

	dtp_loader_tell(l, &pos);
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->epoch = pos.epoch;
	out->sample = pos.sample;
}

int dtp_stage_ckpt_write_part(const struct dtp_stage *st, const char *dir, long ck_step,
			      const char *const *roles, float *const *arrays, int n,
			      struct dtp_err *err)
{
	struct dtp_ckpt_part *part;
	int r;

	r = dtp_ckpt_part_begin(dir, ck_step, st->s, &part, err);
	if (r)
		return r;
	for (int u = st->first_unit; u < st->last_unit; u++) {
		size_t off = dtp_stage_model_unit_offset(st->model, u);

		for (int a = 0; a < n; a++) {
			r = dtp_ckpt_part_add_unit(part, &st->plan->model, u, roles[a],
						   arrays[a] + off, err);
			if (r) {
				dtp_ckpt_part_abort(part);
				return r;
			}
		}
	}
	return dtp_ckpt_part_commit(part, err);
}

/* the hold hook's word to the test: the empty file PATH.WHATstage-N */
static void hold_say(const char *path, const char *what, int s)
{
	char said[DTP_PLAN_PATH_MAX + 16];
	FILE *f;

	snprintf(said, sizeof(said), "%s.%sstage-%d", path, what, s);
	f = fopen(said, "w");
	if (f)
		fclose(f);
}

void dtp_stage_test_hold(const struct dtp_stage *st, const char *point, long step)
{
	const char *hold = getenv("DTP_TEST_HOLD");
	char path[DTP_PLAN_PATH_MAX];
	long from = 0;
	int told = 0;
	FILE *f;

	if (!hold)
		return;
	snprintf(path, sizeof(path), "%s.%s", hold, point);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%ld", &from) != 1)
		from = 0;
	fclose(f);
	if (step < from)
		return;
	hold_say(path, "", st->s);
	while (access(path, F_OK) == 0) {
		if (!told && dtp_preempt_requested()) {
			hold_say(path, "stop.", st->s);     /* a stop signal reached it */
			told = 1;
		}
		usleep(10000);
	}
}

/* The second half of a checkpoint, on every stage at a step boundary: this
 * stage's outcome r (werr) goes up the chain with the data position of the
 * first stage's inputs (`in`, the first stage's); the last stage, when every
 * part was written, writes the manifest with `tgt` (its targets' position),
 * moves `latest` and keeps the newest `keep`. */
static int publish(struct dtp_stage *st, const char *dir, long step, int keep, int r,
		   struct dtp_err *werr, const struct dtp_ckpt_pos *in,
		   const struct dtp_ckpt_pos *tgt, struct dtp_err *err)
{
	struct dtp_ckpt_done done = { .failed_stage = -1 };
	struct dtp_ckpt_info info;
	long ck_step = step + 1;

	dtp_stage_test_hold(st, "ckpt", ck_step);
	if (st->is_first) {
		done.in_epoch = in->epoch;
		done.in_sample = in->sample;
	}
	/* the outcome goes on also when this part failed, so that the stages
	 * after this one stop with the reason instead of a lost link */
	if (dtp_ctrl_ckpt_gather(st, step, r == 0, &done, err) != 0 && r == 0)
		return err->code;
	if (r) {
		*err = *werr;
		dtp_err_prefix(err, "stage %d: checkpoint of step %ld: ", st->s, ck_step);
		return r;
	}
	if (done.failed_stage >= 0)
		return dtp_errf_runtime(err, -EIO,
					"stage %d: stage %d could not write its part of the checkpoint of step %ld (its message says why); the checkpoints before it stay",
					st->s, done.failed_stage, ck_step);
	if (!st->is_last)
		return 0;
	dtp_stage_ckpt_info(st, &info);
	info.step = ck_step;
	info.n_pos = 2;
	info.pos[0] = (struct dtp_ckpt_pos){ .epoch = done.in_epoch, .sample = done.in_sample };
	snprintf(info.pos[0].name, sizeof(info.pos[0].name), "%s", POS_INPUTS);
	info.pos[1] = *tgt;
	r = dtp_ckpt_finish(dir, &info, st->total_units, st->K, keep, err);
	if (r)
		dtp_err_prefix(err, "stage %d: ", st->s);
	return r;
}

/* the data positions now: the first stage's inputs, the last stage's targets */
static void positions(struct dtp_stage *st, struct dtp_ckpt_pos *in, struct dtp_ckpt_pos *tgt)
{
	memset(in, 0, sizeof(*in));
	memset(tgt, 0, sizeof(*tgt));
	if (st->is_first && st->train_in)
		loader_pos(st->train_in, POS_INPUTS, in);
	if (st->is_last && st->train_tgt)
		loader_pos(st->train_tgt, POS_TARGETS, tgt);
}

int dtp_stage_ckpt_save(struct dtp_stage *st, const char *dir, long step, int keep,
			struct dtp_err *err)
{
	struct dtp_err werr = { 0 };
	struct dtp_ckpt_pos in, tgt;
	const char *roles[3];
	float *arrays[3];
	size_t np;
	int n = dtp_stage_ckpt_arrays(st, roles, arrays, &np);
	int r = dtp_stage_ckpt_write_part(st, dir, step + 1, roles, arrays, n, &werr);

	positions(st, &in, &tgt);
	return publish(st, dir, step, keep, r, &werr, &in, &tgt, err);
}

int dtp_stage_ckpt_snapshot(struct dtp_stage *st, const char *dir, long step,
			    struct dtp_err *err)
{
	struct dtp_ckpt_pos in, tgt;
	int r;

	positions(st, &in, &tgt);
	r = dtp_ckpt_bg_start(st->ckpt_bg, dir, step, &in, &tgt, err);
	if (r)
		dtp_err_prefix(err, "stage %d: checkpoint of step %ld: ", st->s, step + 1);
	return r;
}

int dtp_stage_ckpt_publish(struct dtp_stage *st, const char *dir, int keep, struct dtp_err *err)
{
	struct dtp_err werr = { 0 };
	struct dtp_ckpt_pos in, tgt;
	long step;
	int r;

	if (!st->ckpt_bg || !dtp_ckpt_bg_pending(st->ckpt_bg, &step, &in, &tgt))
		return 0;
	r = dtp_ckpt_bg_wait(st->ckpt_bg, &werr);
	return publish(st, dir, step, keep, r, &werr, &in, &tgt, err);
}

/* The complete (manifest-holding) checkpoints newer than `step` were skipped
 * as corrupt; the resumed run will write those steps again, and the store
 * never overwrites a complete checkpoint: move each aside, whole, to
 * step-NNNNNNNN.corrupt[-N] (a name the store ignores) for a person to look at. */
static int move_aside_newer(const char *dir, long step, struct dtp_err *err)
{
	char sdir[DTP_PLAN_PATH_MAX + 32], mpath[DTP_PLAN_PATH_MAX + 64], aside[DTP_PLAN_PATH_MAX + 64];
	long *steps;
	int n, r = dtp_ckpt_list_steps(dir, &steps, &n, err);

	for (int i = 0; r == 0 && i < n && steps[i] > step; i++) {
		if (dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, steps[i]) != 0)
			continue;
		snprintf(mpath, sizeof(mpath), "%s/%s", sdir, DTP_CKPT_MANIFEST);
		if (access(mpath, F_OK) != 0)
			continue;     /* incomplete: its files are simply written again */
		snprintf(aside, sizeof(aside), "%s.corrupt", sdir);
		for (int k = 1; access(aside, F_OK) == 0 && k < 1000; k++)
			snprintf(aside, sizeof(aside), "%s.corrupt-%d", sdir, k);
		if (rename(sdir, aside) != 0)
			r = dtp_errf_runtime(err, -errno,
					     "cannot move the corrupt checkpoint %s aside to %s: %s; move it away by hand",
					     sdir, aside, strerror(errno));
		else
			dtp_warn("the corrupt checkpoint %s is moved aside to %s (not deleted)", sdir,
				 aside);
	}
	free(steps);
	return r;
}

/* whether dir holds a complete checkpoint (a step directory with a manifest,
 * good or not): 1, 0 (also when dir does not exist), or -errno */
static int any_complete(const char *dir, struct dtp_err *err)
{
	char sdir[DTP_PLAN_PATH_MAX + 32], mpath[DTP_PLAN_PATH_MAX + 64];
	long *steps;
	int n, r, found = 0;

	if (access(dir, F_OK) != 0 && errno == ENOENT)
		return 0;
	r = dtp_ckpt_list_steps(dir, &steps, &n, err);
	if (r)
		return r;
	for (int i = 0; i < n && !found; i++) {
		if (dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, steps[i]) != 0)
			continue;
		snprintf(mpath, sizeof(mpath), "%s/%s", sdir, DTP_CKPT_MANIFEST);
		found = access(mpath, F_OK) == 0;
	}
	free(steps);
	return found;
}

int dtp_stage_ckpt_choose(struct dtp_stage *st, const char *dir, int if_any, long *step,
			  struct dtp_err *err)
{
	struct dtp_ckpt_info want;
	struct dtp_ckpt *c;
	long before = LONG_MAX;
	int r;

	if (if_any) {
		r = any_complete(dir, err);
		if (r < 0)
			return r;
		if (r == 0) {
			dtp_info("--resume-if-any: %s holds no checkpoint yet: starting afresh", dir);
			*step = 0;
			return 0;
		}
	}
	dtp_stage_ckpt_info(st, &want);
	for (;;) {
		struct dtp_err verr = { 0 };

		r = dtp_ckpt_find(dir, before, &c, err);
		if (r == -ENOENT)
			return dtp_errf_input(err, -ENOENT,
					      "--resume: %s holds no complete checkpoint%s: run without --resume to start afresh",
					      dir, before == LONG_MAX ? "" : " that checks");
		if (r)
			return r;
		before = dtp_ckpt_get_info(c)->step;
		/* every byte now, so that the stages never load half a checkpoint */
		r = dtp_ckpt_verify(c, &verr);
		if (r == -EBADMSG) {
			dtp_warn("checkpoint step %ld skipped (left as it is): %s", before, verr.msg);
			dtp_ckpt_close(c);
			continue;
		}
		if (r) {
			*err = verr;
			break;
		}
		r = dtp_ckpt_compatible(dtp_ckpt_get_info(c), &want, dtp_ckpt_dir(c), err);
		if (r == 0)
			*step = before;
		break;
	}
	dtp_ckpt_close(c);
	if (r == 0)
		r = move_aside_newer(dir, *step, err);
	return r;
}

/* seek loader l to the position called `name` in the checkpoint */
static int seek_to(const struct dtp_ckpt *c, struct dtp_loader *l, const char *name,
		   struct dtp_err *err)
{
	const struct dtp_ckpt_info *in = dtp_ckpt_get_info(c);
	struct dtp_loader_pos pos;

	for (int i = 0; i < in->n_pos; i++) {
		if (strcmp(in->pos[i].name, name) != 0)
			continue;
		pos.epoch = in->pos[i].epoch;
		pos.sample = in->pos[i].sample;
		return dtp_loader_seek(l, &pos, err);
	}
	return dtp_errf_input(err, -EBADMSG, "checkpoint %s: no data position \"%s\" in its manifest",
			      dtp_ckpt_dir(c), name);
}

/* The learning-rate schedule the checkpoint's run ran, against this run's:
 * a run extended past the length it was written with (a cosine decay to the
 * end of the run, or a warm-up fitted to a short run, takes the length from
 * --steps/--epochs) is allowed, but it is not the interrupted run continued,
 * and stage 0 says so. (A manifest without it, written before it was
 * recorded, says nothing.) */
static void compare_schedule(const struct dtp_stage *st, const struct dtp_ckpt *c,
			     const struct dtp_ckpt_info *want)
{
	const char *have = dtp_ckpt_get_info(c)->schedule;

	if (!st->is_first || !have[0] || strcmp(have, want->schedule) == 0)
		return;
	dtp_warn("checkpoint %s was written by a run whose learning-rate schedule was \"%s\"; this run's is \"%s\" (its length, from --steps/--epochs, sets a cosine decay to the end or a fitted warm-up): this run continues with another learning rate, so it is not bit-identical to the run that wrote the checkpoint; resume with the length that run had for that, or set [train] total_steps and warmup_steps in the plan",
		 dtp_ckpt_dir(c), have, want->schedule);
}

int dtp_stage_ckpt_load(struct dtp_stage *st, const char *dir, long step, struct dtp_err *err)
{
	struct dtp_ckpt_info want;
	struct dtp_ckpt *c;
	const char *roles[3];
	float *arrays[3];
	size_t np;
	int n = dtp_stage_ckpt_arrays(st, roles, arrays, &np), r;

	r = dtp_ckpt_open(dir, step, &c, err);
	if (r)
		goto out_prefix;
	dtp_stage_ckpt_info(st, &want);
	r = dtp_ckpt_compatible(dtp_ckpt_get_info(c), &want, dtp_ckpt_dir(c), err);
	if (r == 0)
		compare_schedule(st, c, &want);
	for (int u = st->first_unit; r == 0 && u < st->last_unit; u++) {
		size_t off = dtp_stage_model_unit_offset(st->model, u);

		for (int a = 0; r == 0 && a < n; a++)
			r = dtp_ckpt_read_unit(c, &st->plan->model, u, roles[a], arrays[a] + off,
					       err);
	}
	if (r == 0 && st->train_in)
		r = seek_to(c, st->train_in, POS_INPUTS, err);
	if (r == 0 && st->train_tgt && st->train_tgt != st->train_in)
		r = seek_to(c, st->train_tgt, POS_TARGETS, err);
	dtp_ckpt_close(c);
out_prefix:
	if (r)
		dtp_err_prefix(err, "stage %d: resuming from step %ld: ", st->s, step);
	return r;
}
