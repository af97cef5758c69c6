/* The background checkpoint writer ([checkpoint] background = yes,
 * ckpt_run.h): a snapshot of a stage's arrays (parameters and optimizer
 * state) into memory allocated and touched when the run starts, written by
 * one thread through the store while training goes on. The thread writes the
 * stage's file only; the outcome's gathering, the manifest and `latest` stay
 * on the training thread, at the next step boundary (ckpt_run.c), so that a
 * checkpoint is published only once every stage's file is durable. */
#include "config.h"
#include "pipeline/ckpt_run.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct dtp_ckpt_bg {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	int busy;                 /* a snapshot given to the thread, not written yet */
	const struct dtp_stage *st;
	const char *roles[3];
	float *arrays[3];         /* views into snap, each the parameters' length */
	float *snap;
	size_t snap_bytes;
	int n;
	char dir[DTP_PLAN_PATH_MAX];
	long ck_step;
	/* the training thread's: a snapshot whose checkpoint is not published
	 * yet, of step `step`, with the data positions at that step */
	int pending;
	long step;
	struct dtp_ckpt_pos in, tgt;
	int result;
	struct dtp_err err;
};

size_t dtp_ckpt_bg_bytes(const struct dtp_plan *p, size_t n_params)
{
	int arrays = 1 + (p->optim.kind == DTP_OPTIM_ADAMW ? 2 : 1);

	/* an interleaved run (run_interleaved.c): one snapshot per chunk */
	if (!p->checkpoint_background || !p->checkpoint_dir[0] ||
	    (p->checkpoint_every <= 0 && p->checkpoint_every_s <= 0))
		return 0;
	return dtp_align_up((size_t)arrays * n_params * sizeof(float), DTP_PAGE);
}

static void *writer_main(void *arg)
{
	struct dtp_ckpt_bg *bg = arg;

	pthread_mutex_lock(&bg->mu);
	for (;;) {
		struct dtp_err e = { 0 };
		int r;

		while (!bg->busy && !bg->quit)
			pthread_cond_wait(&bg->cv, &bg->mu);
		if (!bg->busy)
			break;
		pthread_mutex_unlock(&bg->mu);
		/* a test can stop here, the snapshot taken, nothing written */
		dtp_stage_test_hold(bg->st, "ckptbg", bg->ck_step);
		r = dtp_stage_ckpt_write_part(bg->st, bg->dir, bg->ck_step, bg->roles, bg->arrays,
					      bg->n, &e);
		pthread_mutex_lock(&bg->mu);
		bg->result = r;
		bg->err = e;
		bg->busy = 0;
		pthread_cond_broadcast(&bg->cv);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

int dtp_ckpt_bg_open(const struct dtp_stage *st, size_t bytes, struct dtp_ckpt_bg **out,
		     struct dtp_err *err)
{
	struct dtp_ckpt_bg *bg = calloc(1, sizeof(*bg));
	float *live[3];
	size_t np;
	int r;

	*out = NULL;
	if (!bg)
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint writer: out of memory");
	bg->st = st;
	bg->n = dtp_stage_ckpt_arrays(st, bg->roles, live, &np);
	bg->snap_bytes = bytes;
	if ((size_t)bg->n * np * sizeof(float) > bytes) {
		r = dtp_errf_runtime(err, -EINVAL, "checkpoint writer: %d arrays of %zu floats do not fit the %zu bytes predicted",
				     bg->n, np, bytes);
		free(bg);
		return r;
	}
	bg->snap = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bg->snap == MAP_FAILED) {
		free(bg);
		return dtp_errf_runtime(err, -ENOMEM,
					"checkpoint writer: cannot map %zu bytes for the snapshot; set [checkpoint] background = no to write checkpoints in the training thread",
					bytes);
	}
	memset(bg->snap, 0, bytes);   /* touched now, not at the first checkpoint */
	for (int a = 0; a < bg->n; a++)
		bg->arrays[a] = bg->snap + (size_t)a * np;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	r = pthread_create(&bg->thread, NULL, writer_main, bg);
	if (r) {
		pthread_cond_destroy(&bg->cv);
		pthread_mutex_destroy(&bg->mu);
		munmap(bg->snap, bytes);
		free(bg);
		return dtp_errf_runtime(err, -r, "checkpoint writer: cannot start its thread: %s",
					strerror(r));
	}
	*out = bg;
	return 0;
}

int dtp_ckpt_bg_wait(struct dtp_ckpt_bg *bg, struct dtp_err *err)
{
	int r;

	pthread_mutex_lock(&bg->mu);
	while (bg->busy)
		pthread_cond_wait(&bg->cv, &bg->mu);
	r = bg->result;
	if (r)
		*err = bg->err;
	bg->result = 0;
	pthread_mutex_unlock(&bg->mu);
	return r;
}

int dtp_ckpt_bg_is_pending(const struct dtp_ckpt_bg *bg)
{
	return bg->pending;
}

int dtp_ckpt_bg_pending(struct dtp_ckpt_bg *bg, long *step, struct dtp_ckpt_pos *in,
			struct dtp_ckpt_pos *tgt)
{
	if (!bg->pending)
		return 0;
	bg->pending = 0;
	*step = bg->step;
	*in = bg->in;
	*tgt = bg->tgt;
	return 1;
}

int dtp_ckpt_bg_start(struct dtp_ckpt_bg *bg, const char *dir, long step,
		      const struct dtp_ckpt_pos *in, const struct dtp_ckpt_pos *tgt,
		      struct dtp_err *err)
{
	float *live[3];
	const char *roles[3];
	size_t np;
	int n, r = dtp_ckpt_bg_wait(bg, err);

	if (r)
		return r;
	if (bg->pending)
		return dtp_errf_runtime(err, -EPROTO, "checkpoint writer: the checkpoint of step %ld was not published",
					bg->step + 1);
	if (strlen(dir) >= sizeof(bg->dir))
		return dtp_errf_input(err, -ENAMETOOLONG, "checkpoint directory too long: %s", dir);
	n = dtp_stage_ckpt_arrays(bg->st, roles, live, &np);
	if (n != bg->n)
		return dtp_errf_runtime(err, -EPROTO, "checkpoint writer: the optimizer's arrays changed");
	/* the thread is idle: the snapshot is the training thread's to fill */
	for (int a = 0; a < n; a++)
		memcpy(bg->arrays[a], live[a], np * sizeof(float));
	pthread_mutex_lock(&bg->mu);
	strcpy(bg->dir, dir);
	bg->ck_step = step + 1;
	bg->pending = 1;
	bg->step = step;
	bg->in = *in;
	bg->tgt = *tgt;
	bg->busy = 1;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	return 0;
}

void dtp_ckpt_bg_close(struct dtp_ckpt_bg *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->quit = 1;                /* a write under way is finished first */
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	pthread_join(bg->thread, NULL);
	pthread_cond_destroy(&bg->cv);
	pthread_mutex_destroy(&bg->mu);
	munmap(bg->snap, bg->snap_bytes);
	free(bg);
}
