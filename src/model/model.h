/* dtpipe model core: specs, layer units, stage models, loss, optimizers.
 *
 * A model is an ordered chain of *units* (the thing the partitioner assigns to
 * stages):
 *   mlp:784-1024-1024-10  -> units: linear+relu (784->1024), linear+relu (1024->1024),
 *                            linear (1024->10, logits)          (n_widths-1 units)
 *   gpt:layers=L,...      -> units: 0 token+position embedding, 1..L pre-norm
 *                            transformer blocks, L+1 final layernorm + LM head
 *                                                               (L+2 units)
 * A *stage model* holds a contiguous range [first, last) of units with its
 * parameters, gradients and scratch in arenas allocated once at creation.
 * All matmuls go through OpenBLAS cblas_sgemm (fp32), or in bf16 mode the
 * linear layers' matmuls through oneDNN (dtp_stage_model_set_precision).
 *
 * "Sample": one row of the mlp input (a feature vector) or one sequence of T
 * tokens for the gpt. B = samples per micro-batch.
 *
 * Stage input/output formats:
 *   - the first unit of a gpt takes int32 token ids (B, T); every other unit
 *     takes float32 activations: mlp (B, width), gpt (B, T, C);
 *   - the last unit outputs float32 logits: mlp (B, classes), gpt (B, T, V).
 */
#ifndef DTP_MODEL_H
#define DTP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ------------------------------------------------------------------ specs */

enum dtp_model_kind { DTP_MODEL_MLP = 1, DTP_MODEL_GPT = 2 };

#define DTP_MLP_MAX_WIDTHS 65

struct dtp_model_spec {
	enum dtp_model_kind kind;
	/* mlp */
	int n_widths;                        /* >= 2 */
	int widths[DTP_MLP_MAX_WIDTHS];      /* widths[0] = input features, last = classes */
	/* gpt */
	int layers;                          /* L >= 1 */
	int dim;                             /* C, divisible by heads */
	int heads;                           /* H */
	int seq_len;                         /* T */
	int vocab;                           /* V */
};

/* Parse "mlp:784-1024-1024-10" or "gpt:layers=4,dim=256,heads=4,seq=128,vocab=256"
 * (gpt keys may be abbreviated L, C, H, T, V). Validates (see below). On error
 * returns -EINVAL with a message naming the bad part and the accepted forms. */
int dtp_model_spec_parse(const char *text, struct dtp_model_spec *out, struct dtp_err *err);
/* Zero or negative sizes, heads not dividing dim, too many widths, unknown kind:
 * -EINVAL with a clear message. */
int dtp_model_spec_validate(const struct dtp_model_spec *spec, struct dtp_err *err);
/* Canonical text form (parses back to the same spec); returns length or -ENOSPC. */
int dtp_model_spec_format(const struct dtp_model_spec *spec, char *buf, size_t len);
int dtp_model_num_units(const struct dtp_model_spec *spec);

enum dtp_dtype { DTP_DTYPE_F32 = 1, DTP_DTYPE_I32 = 2 };

/* Static facts about one unit, for the partitioner, planner and transport sizing. */
struct dtp_unit_info {
	char name[32];                 /* "linear+relu", "embed", "block", "lnf+head", ... */
	size_t n_params;               /* floats */
	enum dtp_dtype in_dtype;       /* I32 only for the gpt embedding */
	size_t in_elems;               /* per sample */
	size_t out_elems;              /* per sample (float32) */
	size_t save_floats;            /* per sample: what forward keeps for backward */
	double fwd_flops;              /* per sample, approximate (2*m*n*k per matmul) */
	/* per sample, the part of fwd_flops in matmuls without weights (the
	 * attention's scores and their product with v) */
	double noweight_flops;
};
int dtp_unit_describe(const struct dtp_model_spec *spec, int unit, struct dtp_unit_info *out);
/* A unit's backward FLOPs per sample in its two halves (2 x fwd_flops in
 * all): W, the weight gradient, is one matmul per weighted forward matmul;
 * B, the input gradient, one per weighted matmul and two per weightless
 * one (the gradients of both its operands). */
void dtp_unit_bwd_flops(const struct dtp_unit_info *u, double *b, double *w);
/* total parameters of the whole model, in floats */
size_t dtp_model_num_params(const struct dtp_model_spec *spec);

/* ------------------------------------------------------------ stage model */

struct dtp_stage_model;   /* opaque */

/* Numeric precision of a stage's matmuls.
 *   fp32: everything in fp32 on OpenBLAS (the default).
 *   bf16: mixed precision. The linear layers' matmuls (mlp layers; the gpt's
 *     qkv, projection, MLP and LM-head matmuls) take bf16 operands
 *     (activations, weights, output gradients) and accumulate in fp32 with an
 *     fp32 result, on oneDNN (built with configure --with-onednn). Master
 *     weights, gradients, optimizer state, layer norm, softmax and attention,
 *     GELU, the loss and the optimizer stay fp32. Every unit's output (but the
 *     model's last, the logits) and every unit's input gradient is rounded to
 *     bf16 (round to nearest even) where it leaves the unit, so what crosses
 *     a stage cut is exactly a bf16 tensor and a K-stage run is bit-identical
 *     to the 1-stage run of the same precision and thread count. */
enum dtp_precision { DTP_PRECISION_FP32 = 0, DTP_PRECISION_BF16 = 1 };
/* "fp32" / "bf16" -> *out; anything else: -EINVAL naming the accepted values */
int dtp_precision_parse(const char *text, enum dtp_precision *out, struct dtp_err *err);
const char *dtp_precision_name(enum dtp_precision p);
/* 0 if this build can run p, else -ENOTSUP with what to do (bf16 without oneDNN) */
int dtp_precision_check(enum dtp_precision p, struct dtp_err *err);
/* The bytes on a stage link for an activation or gradient of fp32_bytes in
 * precision p: bf16 halves them (what crosses a cut is exactly bf16, above);
 * the executor's wire format and every prediction of link traffic */
size_t dtp_precision_wire_bytes(enum dtp_precision p, size_t fp32_bytes);

/* The fp32 matmul backend of a stage's linear layers (precision = fp32):
 *   openblas: cblas_sgemm (the default, and the portable path).
 *   onednn: oneDNN's fp32 matmul primitives, made once per shape at stage
 *     set-up (dtp_stage_model_set_fp32_matmul); same operands, same fp32
 *     arithmetic, other summation order, so other bits than openblas's. A
 *     K-stage run is bit-identical to the 1-stage run with the same backend
 *     and thread count. The attention's per-head matmuls and calls with fewer
 *     rows than the stage's micro-batch stay on OpenBLAS. No effect in bf16. */
enum dtp_fp32_matmul { DTP_FP32_MATMUL_OPENBLAS = 0, DTP_FP32_MATMUL_ONEDNN = 1 };
/* "openblas" / "onednn" -> *out; anything else: -EINVAL naming them */
int dtp_fp32_matmul_parse(const char *text, enum dtp_fp32_matmul *out, struct dtp_err *err);
const char *dtp_fp32_matmul_name(enum dtp_fp32_matmul b);
/* 0 if this build can run b, else -ENOTSUP with what to do (onednn without oneDNN) */
int dtp_fp32_matmul_check(enum dtp_fp32_matmul b, struct dtp_err *err);

/* The links' bf16 form, in place: pack writes the bf16 of n floats at buf
 * to its first 2n bytes; unpack widens 2n bytes of bf16 at buf back to n
 * floats (exact for values already rounded to bf16) */
void dtp_bf16_pack(void *buf, size_t n);
void dtp_bf16_unpack(void *buf, size_t n);

/* Build units [first, last) for micro-batches of at most max_batch samples.
 * Parameters are initialised from (seed, global unit index) with the
 * counter-based PRNG, so any partition of a model starts from the same weights.
 * Gradients start at zero. */
int dtp_stage_model_create(const struct dtp_model_spec *spec, int first, int last,
			   int max_batch, uint64_t seed,
			   struct dtp_stage_model **out, struct dtp_err *err);
/* The same with the parameters and the gradients in the caller's memory
 * (which outlives the model): `params` and `grads` each hold
 * dtp_stage_model_array_floats(spec, first, last) floats, 64-byte aligned
 * (both or neither: NULL, NULL is dtp_stage_model_create). The parameters
 * are initialised there as dtp_stage_model_create does, the gradients
 * zeroed; the model's worker pool as dtp_stage_model_create chooses it.
 * Data-parallel replicas on one node put them in shared memory (rdma/dp.h). */
int dtp_stage_model_create_in(const struct dtp_model_spec *spec, int first, int last,
			      int max_batch, uint64_t seed, float *params, float *grads,
			      struct dtp_stage_model **out, struct dtp_err *err);
/* floats of each array dtp_stage_model_create_in takes (the parameters,
 * padded to 16 floats); 0 for a bad range */
size_t dtp_stage_model_array_floats(const struct dtp_model_spec *spec, int first, int last);
void dtp_stage_model_destroy(struct dtp_stage_model *m);
/* Switch a new stage model's matmuls to precision p (stage set-up: creates
 * every oneDNN primitive the stage needs, none later). Call before the first
 * forward. -ENOTSUP with a clear message without oneDNN. */
int dtp_stage_model_set_precision(struct dtp_stage_model *m, enum dtp_precision p,
				  struct dtp_err *err);
enum dtp_precision dtp_stage_model_precision(const struct dtp_stage_model *m);
/* Run a new fp32 stage model's linear matmuls on backend b (stage set-up,
 * after dtp_stage_model_set_precision, before the first forward: onednn
 * creates every primitive here). A no-op for openblas or in bf16; -ENOTSUP
 * with a clear message for onednn without oneDNN. */
int dtp_stage_model_set_fp32_matmul(struct dtp_stage_model *m, enum dtp_fp32_matmul b,
				    struct dtp_err *err);
enum dtp_fp32_matmul dtp_stage_model_fp32_matmul(const struct dtp_stage_model *m);
/* Bytes precision p adds to a stage model of units [first, last) at
 * max_batch: in bf16, what dtp_stage_model_set_precision's matmul engine will
 * hold (the bf16 weights, activation and gradient copies, output tiles and
 * oneDNN scratchpads, with the threads a model created now would get); 0 in
 * fp32. For memory predictions made before the model exists: it plans the
 * matmuls without allocating them. 0 or -errno (bf16 without oneDNN). */
int dtp_stage_model_precision_bytes(const struct dtp_model_spec *spec, int first, int last,
				    int max_batch, enum dtp_precision p, size_t *bytes,
				    struct dtp_err *err);
/* the same bytes as a model holds them (0 in fp32 on OpenBLAS; the fp32
 * engine's scratchpads with fp32_matmul = onednn) */
size_t dtp_stage_model_precision_held(const struct dtp_stage_model *m);
/* Bytes fp32_matmul = b adds in precision p (as the above: what
 * dtp_stage_model_set_fp32_matmul's engine will hold, its oneDNN
 * scratchpads; 0 for openblas or bf16). 0 or -errno. */
int dtp_stage_model_fp32_matmul_bytes(const struct dtp_model_spec *spec, int first, int last,
				      int max_batch, enum dtp_precision p,
				      enum dtp_fp32_matmul b, size_t *bytes, struct dtp_err *err);

int dtp_stage_model_first(const struct dtp_stage_model *m);
int dtp_stage_model_last(const struct dtp_stage_model *m);     /* exclusive */
const struct dtp_model_spec *dtp_stage_model_spec(const struct dtp_stage_model *m);

/* Parameters and gradients: one contiguous float array each, units in order.
 * In bf16 mode the next forward refreshes the bf16 copy of the parameters
 * after dtp_stage_model_params() (a writer takes the pointer anew for each
 * change, or calls dtp_stage_params_changed) and after dtp_optim_step. */
float *dtp_stage_model_params(struct dtp_stage_model *m);
void dtp_stage_params_changed(struct dtp_stage_model *m);
float *dtp_stage_model_grads(struct dtp_stage_model *m);
size_t dtp_stage_model_num_params(const struct dtp_stage_model *m);
/* offset (in floats) of unit u's parameters inside the arrays above */
size_t dtp_stage_model_unit_offset(const struct dtp_stage_model *m, int unit);

/* Byte sizes for B samples: the stage input, the stage output, and one stash
 * slot (everything forward keeps for backward, not counting the input). */
size_t dtp_stage_model_in_bytes(const struct dtp_stage_model *m, int B);
size_t dtp_stage_model_out_bytes(const struct dtp_stage_model *m, int B);
size_t dtp_stage_model_save_bytes(const struct dtp_stage_model *m, int B);
/* Bytes dtp_stage_model_create maps for units [first, last) at max_batch
 * beside the parameters and gradients: the backward scratch (the worker
 * pool's size as it would choose it) and the arena's rounding to pages
 * (dtp_mapped_bytes: on huge pages, resident once touched); arrays_given:
 * what dtp_stage_model_create_in maps when given the two arrays (the
 * scratch alone, rounded alone). 0 for a bad range. For memory predictions
 * made before the model exists. */
size_t dtp_stage_model_scratch_bytes(const struct dtp_model_spec *spec, int first, int last,
				     int max_batch, int arrays_given);

/* Forward B <= max_batch samples through units [first, last): reads `in`,
 * writes `out`, keeps what backward needs in `save` (save_bytes(B) bytes).
 * No allocation. Returns 0 or -EINVAL (B out of range). */
int dtp_stage_forward(struct dtp_stage_model *m, const void *in, void *out, void *save, int B);
/* Backward: dout is d(loss)/d(out) (B x out elems, float). Adds the parameter
 * gradients to the stage's gradient array (+=, so micro-batches accumulate in
 * call order) and writes d(loss)/d(in) to din unless din is NULL (first stage).
 * `in` and `save` must be what the matching forward saw/wrote. */
int dtp_stage_backward(struct dtp_stage_model *m, const void *in, const void *save,
		       const float *dout, float *din, int B);
/* The same backward in two halves, for zero-bubble schedules (ZB-H1):
 * _input (B) writes din as dtp_stage_backward does and keeps in wsave
 * (wsave_bytes(B) bytes, one per micro-batch between its B and its W) every
 * output gradient the weight half needs, dout included; _weight (W) then
 * adds the parameter gradients (+=), reading `in` and `save` (still the
 * forward's) and wsave. B then W gives dtp_stage_backward's bits; W calls in
 * micro-batch order accumulate as its calls do. */
int dtp_stage_backward_input(struct dtp_stage_model *m, const void *in, const void *save,
			     const float *dout, float *din, void *wsave, int B);
int dtp_stage_backward_weight(struct dtp_stage_model *m, const void *in, const void *save,
			      const void *wsave, int B);
size_t dtp_stage_model_wsave_bytes(const struct dtp_stage_model *m, int B);
/* the same for units [first, last) of spec before a model exists (memory
 * predictions); 0 for a bad range */
size_t dtp_model_wsave_bytes(const struct dtp_model_spec *spec, int first, int last, int B);
/* The whole backward and the weight half, calling done(arg, unit, grads, n)
 * as soon as each unit (global index, last to first) has added its gradient:
 * grads[0..n) are that unit's, and the call touches them no more
 * (data-parallel replicas start summing them over the replicas there, while
 * the units below run). done may be NULL. */
typedef void dtp_unit_done_fn(void *arg, int unit, float *grads, size_t n);
int dtp_stage_backward_each(struct dtp_stage_model *m, const void *in, const void *save,
			    const float *dout, float *din, int B, dtp_unit_done_fn *done,
			    void *arg);
int dtp_stage_backward_weight_each(struct dtp_stage_model *m, const void *in, const void *save,
				   const void *wsave, int B, dtp_unit_done_fn *done, void *arg);
/* Start a step's gradients at zero. In bf16 cheap: the units' gradients are
 * marked fresh and the step's first weight-gradient half of each unit writes
 * them instead of adding (the same bits as adding onto zeros); a reader
 * before then (dtp_stage_model_grads, the sum of squares, the optimizer) sees
 * zeros. In fp32 (and for the embedding) a pass that zeroes them (stage.c
 * says why). */
void dtp_stage_zero_grads(struct dtp_stage_model *m);

/* Sum of squared gradients per unit of this stage, in unit order
 * (out[u - first], double), for global gradient-norm clipping: the pipeline
 * gathers every stage's values and adds them in global unit order. */
void dtp_stage_grad_sumsq(const struct dtp_stage_model *m, double *out);

/* ------------------------------------------------------------------- BLAS */

/* OpenBLAS's kernel for this process ("Cooperlake", "Haswell", ...), for
 * start-up lines and benchmarks (blas.c) */
const char *dtp_blas_core(void);
/* 1 with a warning in buf when the CPU has AVX-512 and OPENBLAS_CORETYPE
 * forced a narrower kernel; else 0 */
int dtp_blas_core_warning(char *buf, size_t len);

/* ------------------------------------------------------------------- loss */

/* Softmax cross-entropy. logits (N, V), targets (N) in [0, V) -> returns the
 * SUM of the N per-row losses (double) and writes dlogits = (softmax - onehot)
 * * grad_scale (dlogits may alias logits). A target out of range: returns NAN
 * and writes nothing. `correct`, if not NULL, receives the argmax hits. */
double dtp_xent(const float *logits, const int32_t *targets, int N, int V,
		float *dlogits, float grad_scale, int *correct);

/* -------------------------------------------------------------- optimizers */

enum dtp_optim_kind { DTP_OPTIM_SGD = 1, DTP_OPTIM_ADAMW = 2 };

struct dtp_optim_config {
	enum dtp_optim_kind kind;
	float lr;              /* peak learning rate */
	float momentum;        /* SGD; 0 = plain SGD */
	float beta1, beta2, eps;   /* AdamW (defaults 0.9, 0.999, 1e-8) */
	float weight_decay;    /* decoupled (AdamW) / L2 (SGD); matrices only, not biases or norms */
	float clip_norm;       /* global gradient-norm clip; 0 = off */
	long warmup_steps;     /* linear warmup from 0 to lr */
	long total_steps;      /* cosine decay to min_lr_ratio*lr at total_steps; 0 = constant */
	float min_lr_ratio;
};
/* Fill defaults (SGD momentum 0.9, lr 0.05, AdamW betas/eps, no decay, no clip). */
void dtp_optim_config_default(struct dtp_optim_config *c, enum dtp_optim_kind kind);
int dtp_optim_config_validate(const struct dtp_optim_config *c, struct dtp_err *err);
/* learning rate at step (0-based): warmup then cosine */
float dtp_lr_at(const struct dtp_optim_config *c, long step);
/* global clip factor from the total sum of squares: min(1, clip/(sqrt(sumsq)+1e-6)) */
float dtp_clip_factor(const struct dtp_optim_config *c, double total_sumsq);

struct dtp_optim;   /* opaque; state arrays allocated once */
int dtp_optim_create(const struct dtp_optim_config *c, struct dtp_stage_model *m,
		     struct dtp_optim **out, struct dtp_err *err);
void dtp_optim_destroy(struct dtp_optim *o);
/* Set the end of the cosine decay once the run's length is known (a plan
 * that decays to the end of the run); -EINVAL when the warmup is longer. */
int dtp_optim_set_total_steps(struct dtp_optim *o, long total_steps, struct dtp_err *err);
/* Shorten the warm-up (a run made shorter than the plan's warm-up from the
 * command line); -EINVAL when it is still longer than the total steps. */
int dtp_optim_set_warmup(struct dtp_optim *o, long warmup_steps, struct dtp_err *err);
/* the learning rate the optimizer uses at step (dtp_lr_at of its config) */
float dtp_optim_lr_at(const struct dtp_optim *o, long step);
/* One update of every parameter of the stage from its gradients multiplied by
 * grad_mult (the clip factor times any loss scaling), at schedule step `step`.
 * Does not zero the gradients. */
void dtp_optim_step(struct dtp_optim *o, long step, float grad_mult);
/* The benchmarks' reference for dtp_optim_step's memory traffic: the same
 * pass over the same arrays on the same threads (parameters, gradients and
 * state read, parameters and state written, the bf16 copy written when the
 * step would refresh it), with no arithmetic and every value left as it
 * was. `zero` must be 0 (taken at run time, so the compiler keeps every
 * load and store); right after a backward it sees the cache the step
 * would. */
void dtp_optim_stream(struct dtp_optim *o, uint32_t zero);
/* optimizer state (momentum, or Adam m then v) for checkpoints */
float *dtp_optim_state(struct dtp_optim *o, size_t *n_floats);

/* --- sharded step (ZeRO-1: data-parallel replicas each update a shard) and
 * the gradient norm's sums of squares in fixed blocks ---
 *
 * Each unit's gradient is cut into blocks of DTP_GRAD_BLOCK floats from its
 * first (the last block may be shorter); a block's sum of squares is a double
 * sum in a fixed order of its own elements, and a unit's is the sum of its
 * blocks' in block order. Neither depends on where the unit sits in its
 * stage, on the thread count, or on which process computed which block, so
 * the norm has the same bits for any cuts and any sharding: a shard owns
 * whole blocks, and the blocks it does not own count 0 (0 + x is exact). */
#define DTP_GRAD_BLOCK 4096
/* a stretch of the stage's parameter array: floats [off, off + n) */
struct dtp_param_span {
	size_t off, n;
};
/* this stage's number of gradient blocks */
size_t dtp_optim_n_blocks(const struct dtp_optim *o);
/* blocks[0..n_blocks): each owned block's sum of squares (every block when
 * unsharded), 0 for the others; split over the stage's threads by block */
void dtp_optim_block_sumsq(struct dtp_optim *o, double *blocks);
/* unit_sumsq[0..n_units): each unit's sum of its blocks' sums, in block order */
void dtp_optim_unit_sumsq(const struct dtp_optim *o, const double *blocks, double *unit_sumsq);
/* From now on dtp_optim_step updates (and dtp_optim_block_sumsq sums) only
 * own[0..n) (sorted, disjoint, each starting on a block's first float and
 * ending on a block's end or a unit's end): the rest of the parameters come
 * from the other replicas (an all-gather), after which the caller calls
 * dtp_optim_shard_gathered. n = 0: the whole stage again. The state arrays
 * stay whole (a checkpoint gathers them first). */
int dtp_optim_set_shard(struct dtp_optim *o, const struct dtp_param_span *own, int n,
			struct dtp_err *err);
/* the parameters outside the shard have changed (gathered after a step):
 * in bf16, their bf16 copy is refreshed when the rest of it is fresh */
void dtp_optim_shard_gathered(struct dtp_optim *o);

/* ---------------------------------------------------------------- threads */

/* OpenBLAS's thread count, process-wide, set in one place (src/model/par.c):
 * the program sets it once (n > 0), before creating stage models. A gpt
 * stage model made while it is n > 1 runs a worker pool of n participants
 * and keeps OpenBLAS on one thread until it is destroyed. */
void dtp_blas_set_threads(int n);
int dtp_blas_threads(void);
/* the thread count a stage model runs its step on (its pool's size, or
 * OpenBLAS's count when it has no pool; read from the above at creation):
 * benchmarks time their references on the same count */
int dtp_stage_model_threads(const struct dtp_stage_model *m);

/* ------------------------------------------------------------ matmul list */

/* One shape of cblas_sgemm call (row-major) that a training step makes. */
struct dtp_matmul {
	int trans_a, trans_b;      /* 0 or 1 */
	int m, n, k, lda, ldb, ldc;
	float beta;
	long count;                /* calls of this shape */
	int wgrad;                 /* 1: a linear layer's weight gradient, beta 1
				    * here (the fp32 model adds onto zeroed
				    * gradients); a bf16 model writes it (beta 0)
				    * on a step's first micro-batch */
};
/* The sgemm calls of one forward + backward of units [first, last) of spec on
 * B samples (input_grad: whether d(in) of unit `first` is computed; the
 * executor skips it on the first stage). Writes at most max entries to out
 * (out may be NULL with max 0) and returns the number of entries needed, or
 * -EINVAL for a bad range. FLOPs of an entry: 2*m*n*k*count. For the
 * benchmark's sgemm reference and the partitioner's cost model. */
int dtp_model_matmuls(const struct dtp_model_spec *spec, int first, int last, int B,
		      int input_grad, struct dtp_matmul *out, int max);

/* oneDNN's own matmul on one shape of the list above, for the benchmarks'
 * reference rows: seconds for its `count` calls (best of reps), operands in
 * precision p (bf16: bf16 A and B, fp32 C and accumulation), beta as a sum
 * post-op, transposes as strides, on nthr OpenMP threads; impl (if not
 * NULL) gets oneDNN's implementation name. Negative errno (with err) on
 * failure, -ENOTSUP when built without oneDNN. */
double dtp_dnnl_matmul_time(const struct dtp_matmul *mm, enum dtp_precision p, int nthr,
			    int reps, char *impl, size_t impl_len, struct dtp_err *err);

#endif
