/* The scaffolding shared by the model tests that compare stage models in two
 * settings (test_model_bf16.c: precision; test_model_fp32dnn.c: the fp32
 * matmul backend): stage models on a chosen thread count, a micro-batch's
 * random inputs and targets, one forward and backward, per-unit gradient
 * errors, and a K-stage split checked bit-identical to the whole model.
 * Failures fail the cmocka test. */
#ifndef DTP_TESTS_MODEL_MODEL_FIXTURE_H
#define DTP_TESTS_MODEL_MODEL_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/stage.h"

/* threads of the stage models made next (the gpt's pool; OpenBLAS's count,
 * which oneDNN then takes, for the mlp) */
extern int dtp_test_threads;

/* the settings the tests make stage models in */
enum dtp_test_setting {
	DTP_TEST_FP32,          /* precision fp32 */
	DTP_TEST_BF16,          /* precision bf16 */
	DTP_TEST_OPENBLAS,      /* fp32 matmuls on OpenBLAS */
	DTP_TEST_ONEDNN,        /* fp32 matmuls on oneDNN */
};

/* a stage model (built without oneDNN) refuses st at set-up, saying what to
 * install */
void dtp_test_refused(enum dtp_test_setting st);

/* the spec of text (it must parse); its number of units */
int dtp_test_spec(const char *text, struct dtp_model_spec *s);

/* a stage model of units [first, last) for micro-batches up to B, seed 11,
 * on dtp_test_threads, set to st (and read back) */
struct dtp_stage_model *dtp_test_stage(const struct dtp_model_spec *s, int first, int last,
				       int B, enum dtp_test_setting st);

/* a micro-batch: the stage's input and the loss's targets */
struct dtp_test_data {
	void *in;               /* floats (mlp) or token ids (gpt) */
	int32_t *t;             /* N targets in [0, V) */
	int N, V;
	size_t inb, outb;       /* bytes of the stage's input and output */
};

/* random data for m (of spec s) at micro-batch B, from seed */
void dtp_test_data_make(const struct dtp_model_spec *s, struct dtp_stage_model *m, int B,
			uint64_t seed, struct dtp_test_data *d);
void dtp_test_data_free(struct dtp_test_data *d);

/* loss of one forward; with grads: zeroed, then one backward's (the input
 * gradient into din where not NULL) */
double dtp_test_step(struct dtp_stage_model *m, const struct dtp_test_data *d, int B,
		     int grads, float *din);

/* |a - b| / |b| over n elements (|b| must not be 0) */
double dtp_test_rel(const float *a, const float *b, size_t n);

/* the worst per-unit relative error of m's gradients against ref's (both of
 * spec s, the same units); one above tol fails as "<what> unit <u>: <name>
 * gradient off by <e> relative" */
double dtp_test_worst_unit(const struct dtp_model_spec *s, struct dtp_stage_model *m,
			   struct dtp_stage_model *ref, double tol, const char *what,
			   const char *name);

/* how dtp_test_check_split makes and checks its stage models */
struct dtp_test_split {
	enum dtp_test_setting setting;  /* of all three models */
	int zero_grads;                 /* zero their gradients before the first
					 * micro-batch (else left as made) */
	/* checks each tensor crossing the split (the first stage's output, the
	 * second's input gradient) and, for an mlp, the input gradient; NULL:
	 * none */
	void (*boundary)(const float *x, size_t n);
};

/* text's [0,n) against [0,k) + [k,n) at micro-batch B, two micro-batches
 * accumulating, the boundary tensors through separate buffers as over a
 * link: losses, input gradients and parameter gradients bit-identical */
void dtp_test_check_split(const char *text, int k, int B, const struct dtp_test_split *how);

#endif
