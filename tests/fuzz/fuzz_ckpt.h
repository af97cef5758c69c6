/* The stage whose checkpoints fuzz_checkpoint reads and mkseeds writes: a
 * one-stage mlp on a small record dataset with a real loader (its position
 * is part of the checkpoint). Two plans: SGD with momentum, and AdamW (twice
 * the optimizer state). Static inline functions; a test harness header. */
#ifndef DTP_TESTS_FUZZ_CKPT_H
#define DTP_TESTS_FUZZ_CKPT_H

#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

#include "partition/plan.h"
#include "pipeline/checkpoint.h"

/* the checkpoint file layout (src/pipeline/checkpoint.c): the payload CRC at
 * byte 28 of a 288-byte header, then parameters and optimizer state */
#define FUZZ_CKPT_CRC_AT 28
#define FUZZ_CKPT_HEADER 288

struct fuzz_ckpt {
	struct dtp_plan plan;
	struct dtp_stage st;
};

static const char *const fuzz_ckpt_plans[2] = {
	"[model]\nspec = mlp:6-5-3\n[train]\nmicro_batch = 2\nmicro_batches = 2\n"
	"optimizer = sgd\nmomentum = 0.9\nseed = 7\n[stage.0]\nunits = 0-1\n",
	"[model]\nspec = mlp:6-4-4-3\n[train]\nmicro_batch = 3\nmicro_batches = 1\n"
	"optimizer = adamw\nlr = 1e-3\nseed = 11\n[stage.0]\nunits = 0-2\n",
};

/* dir/data: one record shard of 10 samples of 6 u8 features, classes 0..2 */
static inline void fuzz_ckpt_dataset(const char *dir)
{
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_U8, .ndim = 1, .dims = { 6 },
					.label_dtype = DTP_REC_I32, .num_classes = 3 };
	struct dtp_shard_writer *w;
	struct dtp_err err;
	uint8_t feat[6];
	char path[512];

	snprintf(path, sizeof(path), "%s/data", dir);
	FUZZ_CHECK(mkdir(path, 0777) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/data/train.dtpr", dir);
	FUZZ_CHECK(dtp_shard_writer_records(path, &spec, &w, &err) == 0);
	for (int i = 0; i < 10; i++) {
		for (int k = 0; k < 6; k++)
			feat[k] = (uint8_t)(i * 31 + k);
		FUZZ_CHECK(dtp_shard_writer_add_record(w, feat, i % 3, &err) == 0);
	}
	FUZZ_CHECK(dtp_shard_writer_finish(w, &err) == 0);
}

/* plan `which`, its model, optimizer and training loader; dir from fuzz_tmpdir */
static inline struct fuzz_ckpt *fuzz_ckpt_open(int which, const char *dir)
{
	struct fuzz_ckpt *c = calloc(1, sizeof(*c));
	struct dtp_loader_config lc;
	struct dtp_stage *st;
	struct dtp_err err;
	char data[512];

	FUZZ_CHECK(c);
	st = &c->st;
	if (dtp_plan_parse_string(fuzz_ckpt_plans[which], "fuzz-ckpt.ini", &c->plan, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	FUZZ_CHECK(c->plan.num_stages == 1);
	st->plan = &c->plan;
	st->s = 0;
	st->K = 1;
	st->M = c->plan.micro_batches;
	st->B = c->plan.micro_batch;
	st->first_unit = c->plan.stages[0].first_unit;
	st->last_unit = c->plan.stages[0].last_unit;
	st->n_units = st->total_units = dtp_model_num_units(&c->plan.model);
	st->is_first = st->is_last = 1;
	st->seed = c->plan.seed;
	FUZZ_CHECK(dtp_stage_model_create(&c->plan.model, st->first_unit, st->last_unit, st->B,
					  st->seed, &st->model, &err) == 0);
	FUZZ_CHECK(dtp_optim_create(&c->plan.optim, st->model, &st->optim, &err) == 0);
	fuzz_ckpt_dataset(dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	dtp_loader_config_default(&lc);
	lc.path = data;
	lc.budget_bytes = 1u << 20;
	lc.seed = st->seed;
	lc.queue_depth = 2;
	lc.block_bytes = 4096;
	lc.direct = 0;
	if (dtp_loader_open(&lc, &st->train_in, &err))
		fprintf(stderr, "%s\n", err.msg);
	FUZZ_CHECK(st->train_in);
	st->train_tgt = st->train_in;
	return c;
}

static inline void fuzz_ckpt_close(struct fuzz_ckpt *c)
{
	dtp_loader_close(c->st.train_in);
	dtp_optim_destroy(c->st.optim);
	dtp_stage_model_destroy(c->st.model);
	free(c);
}

#endif
