/* Internal layout of a stage model, shared by stage.c, stage_engine.c,
 * init.c and optim.c. */
#ifndef DTP_MODEL_STAGE_H
#define DTP_MODEL_STAGE_H

#include "model/model.h"
#include "model/kernels.h"

enum dtp_unit_kind { DTP_UNIT_LINEAR = 1, DTP_UNIT_EMBED, DTP_UNIT_BLOCK, DTP_UNIT_HEAD };

/* a run of parameters with one optimizer treatment */
struct dtp_param_range {
	size_t off, n;     /* floats, inside the stage's parameter array */
	int decay;         /* 1: a matrix (weight decay applies); 0: bias or norm */
};

/* per-forward pointers into one micro-batch's save slot */
struct dtp_unit_buf {
	float *out;                 /* unit output kept in the save slot, or the stage out */
	struct dtp_block_save bs;   /* block */
	float *lnf, *mean, *rstd;   /* head */
};

struct dtp_unit_rt {
	enum dtp_unit_kind kind;
	int global;                 /* index in the whole model */
	int in_dim, out_dim;        /* linear: features; gpt: per token C (head: V out) */
	int relu;
	size_t poff, np;            /* parameter offset and count */
	int fresh;                  /* its gradients start afresh: the next W writes
				     * them instead of adding (dtp_stage_zero_grads) */
};

struct dtp_stage_model {
	struct dtp_model_spec spec;
	int first, last, n_units, max_batch;
	struct dtp_unit_rt *units;
	struct dtp_unit_buf *bufs;  /* n_units, filled by each forward/backward */
	struct dtp_arena arena;     /* params, grads, backward scratch */
	float *params, *grads;
	size_t n_params;
	float *ping[2];             /* input gradients between units */
	float *dpre;                /* ReLU backward */
	float *head_dln;
	struct dtp_block_scratch bsc;
	struct dtp_pool *pool;      /* NULL: one thread */
	int blas_saved;             /* OpenBLAS's threads before the pool took it to
				     * one (dtp_blas_solo_begin), given back at destroy */
	int nthr;                   /* the stage's thread count (pool size, or OpenBLAS's) */
	enum dtp_precision prec;
	struct dtp_bf16_mm *mx;     /* bf16: the oneDNN engine; NULL in fp32 */
	int w16_stale;              /* bf16: params changed since the bf16 copy */
	enum dtp_fp32_matmul fp32mm;
	struct dtp_bf16_mm *fx;     /* fp32_matmul = onednn in fp32: the fp32
				     * oneDNN engine; NULL otherwise */
};

/* the engine the units' matmuls take: bf16's, fp32's (fp32_matmul = onednn),
 * or NULL (fp32 on OpenBLAS). m->mx alone says "bf16". */
static inline struct dtp_bf16_mm *dtp_stage_mm(const struct dtp_stage_model *m)
{
	return m->mx ? m->mx : m->fx;
}

/* dtp_stage_model_create with the worker pool's size given: nw 0 reads
 * dtp_blas_threads() (what dtp_stage_model_create does), 1 runs
 * serially, nw > 1 starts nw - 1 workers (tests use it to compare the two) */
int dtp_stage_model_create_nw(const struct dtp_model_spec *spec, int first, int last,
			      int max_batch, uint64_t seed, int nw,
			      struct dtp_stage_model **out, struct dtp_err *err);

/* the pool's size for nw as dtp_stage_model_create_nw takes it (0:
 * dtp_blas_threads(); at most 64) */
int dtp_stage_pool_size(int nw);
/* unit g's kind, widths and ReLU (not its parameter offset or count) */
void dtp_unit_rt_of(const struct dtp_model_spec *spec, int g, struct dtp_unit_rt *u);
/* rows per sample: the gpt's sequence length, 1 for the mlp */
int dtp_stage_seq(const struct dtp_stage_model *m);
/* Lay out one save slot for B samples at base (NULL: only count); fills bufs
 * (unless NULL) with the pointers; `out` is the stage output. Returns floats. */
size_t dtp_stage_layout(const struct dtp_stage_model *m, int B, float *base, float *out,
			struct dtp_unit_buf *bufs);
/* the gradients of units still fresh (no W since dtp_stage_zero_grads) set to
 * zero, for a reader of the gradients before every unit's backward ran */
void dtp_stage_grads_settle(struct dtp_stage_model *m);
/* bf16: round x (n) to bf16 in place (a unit boundary); no-op in fp32 or for NULL */
void dtp_stage_round_bf16(const struct dtp_stage_model *m, float *x, size_t n);

/* the runs of parameters of unit `unit` of spec at offset `off` (max 12) */
int dtp_unit_param_ranges(const struct dtp_model_spec *spec, int unit, size_t off,
			  struct dtp_param_range *out);
/* initialise unit `unit` (global index)'s parameters p from (seed, unit) */
void dtp_unit_init(const struct dtp_model_spec *spec, int unit, uint64_t seed, float *p);

#endif
