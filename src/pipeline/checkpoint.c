/* Per-stage checkpoints, written atomically (temporary file, fsync, rename,
 * fsync of the directory): plan hash, model, unit range, step, parameters,
 * optimizer state and loader positions, with a CRC over the payload. A
 * checkpoint made for another plan, stage, unit range or model is refused. */
#include "config.h"
#include "pipeline/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC "DTPCKPT1"
#define CKPT_VERSION 1u

struct ckpt_header {
	char magic[8];
	uint32_t version;
	uint32_t stage, stages;
	int32_t first_unit, last_unit;
	uint32_t crc;                 /* of params then optimizer state */
	uint64_t plan_hash;
	int64_t step;                 /* optimizer steps done */
	uint64_t n_params, n_optim;
	uint64_t in_epoch, in_sample, tgt_epoch, tgt_sample;
	char model[192];
};

static void ckpt_path(char *buf, size_t len, const char *dir, int stage, const char *suffix)
{
	snprintf(buf, len, "%s/stage-%d.ckpt%s", dir, stage, suffix);
}

uint64_t dtp_ckpt_plan_hash(const struct dtp_plan *p)
{
	struct dtp_plan *c = malloc(sizeof(*c));
	uint64_t h;

	if (!c)
		return 0;
	/* how long to run and where to write do not change what a checkpoint holds */
	*c = *p;
	c->steps = 0;
	c->epochs = 0;
	c->log_every = 0;
	c->checkpoint_every = 0;
	c->checkpoint_dir[0] = '\0';
	c->optim.total_steps = 0;
	c->optim.warmup_steps = 0;     /* fitted to a short run's length: run.c */
	h = dtp_plan_hash(c);
	free(c);
	return h;
}

static uint32_t payload_crc(const float *params, size_t np, const float *opt, size_t no)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32_z(crc, (const Bytef *)params, np * sizeof(float));
	crc = crc32_z(crc, (const Bytef *)opt, no * sizeof(float));
	return (uint32_t)crc;
}

static void fill_header(struct ckpt_header *h, const struct dtp_stage *st, long step)
{
	struct dtp_loader_pos pos;
	size_t no;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CKPT_MAGIC, 8);
	h->version = CKPT_VERSION;
	h->stage = (uint32_t)st->s;
	h->stages = (uint32_t)st->K;
	h->first_unit = st->first_unit;
	h->last_unit = st->last_unit;
	h->plan_hash = dtp_ckpt_plan_hash(st->plan);
	h->step = step;
	h->n_params = dtp_stage_model_num_params(st->model);
	dtp_optim_state(st->optim, &no);
	h->n_optim = no;
	if (st->train_in) {
		dtp_loader_tell(st->train_in, &pos);
		h->in_epoch = pos.epoch, h->in_sample = pos.sample;
	}
	if (st->train_tgt) {
		dtp_loader_tell(st->train_tgt, &pos);
		h->tgt_epoch = pos.epoch, h->tgt_sample = pos.sample;
	}
	dtp_model_spec_format(&st->plan->model, h->model, sizeof(h->model));
}

int dtp_checkpoint_save(struct dtp_stage *st, const char *dir, long step, struct dtp_err *err)
{
	char path[DTP_PLAN_PATH_MAX + 64], tmp[DTP_PLAN_PATH_MAX + 64];
	struct ckpt_header h;
	float *params = dtp_stage_model_params(st->model), *opt;
	size_t no;
	int fd, dfd, r;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return dtp_errf(err, -errno, "checkpoint: cannot create directory %s: %s", dir,
				strerror(errno));
	fill_header(&h, st, step);
	opt = dtp_optim_state(st->optim, &no);
	h.crc = payload_crc(params, h.n_params, opt, no);
	ckpt_path(path, sizeof(path), dir, st->s, "");
	ckpt_path(tmp, sizeof(tmp), dir, st->s, ".tmp");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return dtp_errf(err, -errno, "checkpoint: cannot create %s: %s", tmp, strerror(errno));
	r = dtp_write_all(fd, &h, sizeof(h));
	if (!r)
		r = dtp_write_all(fd, params, h.n_params * sizeof(float));
	if (!r)
		r = dtp_write_all(fd, opt, no * sizeof(float));
	if (!r && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && !r)
		r = -errno;
	if (r) {
		unlink(tmp);
		return dtp_errf(err, r, "checkpoint: cannot write %s: %s", tmp, strerror(-r));
	}
	if (rename(tmp, path) != 0) {
		r = -errno;
		unlink(tmp);
		return dtp_errf(err, r, "checkpoint: cannot rename %s to %s: %s", tmp, path,
				strerror(-r));
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int dtp_checkpoint_load(struct dtp_stage *st, const char *dir, long *step, struct dtp_err *err)
{
	char path[DTP_PLAN_PATH_MAX + 64];
	struct ckpt_header h, want;
	float *params = dtp_stage_model_params(st->model), *opt;
	size_t no;
	int fd, r;

	ckpt_path(path, sizeof(path), dir, st->s, "");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dtp_errf(err, errno == ENOENT ? -ENOENT : -errno,
				"checkpoint %s: cannot open: %s; run without --resume to start afresh",
				path, strerror(errno));
	fill_header(&want, st, 0);
	opt = dtp_optim_state(st->optim, &no);
	r = dtp_read_all(fd, &h, sizeof(h));
	if (r || memcmp(h.magic, CKPT_MAGIC, 8) != 0 || h.version != CKPT_VERSION) {
		r = dtp_errf(err, -EBADMSG, "checkpoint %s: not a dtpipe checkpoint (version %u)",
			     path, CKPT_VERSION);
		goto out_close;
	}
	h.model[sizeof(h.model) - 1] = '\0';
	if (strcmp(h.model, want.model) != 0) {
		r = dtp_errf(err, -EINVAL, "checkpoint %s: made for model %s, this plan has %s", path,
			     h.model, want.model);
		goto out_close;
	}
	if (h.stage != want.stage || h.stages != want.stages || h.first_unit != want.first_unit ||
	    h.last_unit != want.last_unit) {
		r = dtp_errf(err, -EINVAL,
			     "checkpoint %s: made for stage %u of %u with units [%d, %d), this is stage %u of %u with units [%d, %d): use the plan it was made with",
			     path, h.stage, h.stages, h.first_unit, h.last_unit, want.stage,
			     want.stages, want.first_unit, want.last_unit);
		goto out_close;
	}
	if (h.plan_hash != want.plan_hash) {
		r = dtp_errf(err, -EINVAL,
			     "checkpoint %s: made with another plan (hash %016llx, this plan %016llx): training settings differ; use the plan it was made with",
			     path, (unsigned long long)h.plan_hash, (unsigned long long)want.plan_hash);
		goto out_close;
	}
	if (h.n_params != want.n_params || h.n_optim != no || h.step < 0) {
		r = dtp_errf(err, -EBADMSG, "checkpoint %s: sizes do not match the model", path);
		goto out_close;
	}
	r = dtp_read_all(fd, params, h.n_params * sizeof(float));
	if (!r)
		r = dtp_read_all(fd, opt, no * sizeof(float));
	if (r || payload_crc(params, h.n_params, opt, no) != h.crc) {
		r = dtp_errf(err, -EBADMSG, "checkpoint %s: truncated or corrupt (CRC mismatch)", path);
		goto out_close;
	}
	if (st->train_in) {
		struct dtp_loader_pos pos = { .epoch = h.in_epoch, .sample = h.in_sample };

		r = dtp_loader_seek(st->train_in, &pos, err);
	}
	if (!r && st->train_tgt && st->train_tgt != st->train_in) {
		struct dtp_loader_pos pos = { .epoch = h.tgt_epoch, .sample = h.tgt_sample };

		r = dtp_loader_seek(st->train_tgt, &pos, err);
	}
	if (!r)
		*step = (long)h.step;
out_close:
	close(fd);
	return r;
}
