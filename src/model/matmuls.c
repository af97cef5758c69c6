/* The list of sgemm shapes a training step makes: it mirrors linear.c,
 * attention.c, block.c and head.c call for call (the benchmark times the list
 * alone as its reference). tests/model/test_model_matmuls records the
 * cblas_sgemm calls a stage model really makes and fails when this list
 * differs from them in any shape or count. */
#include "config.h"
#include "model/model.h"

#include <errno.h>

struct mm_list {
	struct dtp_matmul *out;
	int max, n;
};

static void add(struct mm_list *l, int ta, int tb, int m, int n, int k, int lda, int ldb,
		int ldc, float beta, long count)
{
	if (l->n < l->max) {
		struct dtp_matmul *e = &l->out[l->n];

		e->trans_a = ta;
		e->trans_b = tb;
		e->m = m;
		e->n = n;
		e->k = k;
		e->lda = lda;
		e->ldb = ldb;
		e->ldc = ldc;
		e->beta = beta;
		e->count = count;
		e->wgrad = 0;
	}
	l->n++;
}

/* linear forward: in (N,IC) w^T -> (N,OC); beta 1 where a bias (or a
 * residual) is put in C first */
static void lin_fwd(struct mm_list *l, int N, int IC, int OC, float beta)
{
	add(l, 0, 1, N, OC, IC, IC, IC, OC, beta, 1);
}

/* linear backward: dw += dout^T in (beta 1: the fp32 model's calls, onto
 * zeroed gradients; marked wgrad: a bf16 model writes its step's first, beta
 * 0, and the benchmark's bf16 reference times it so); din = dout w */
static void lin_bwd(struct mm_list *l, int N, int IC, int OC, int din)
{
	add(l, 1, 0, OC, IC, N, OC, IC, IC, 1.0f, 1);
	if (l->n <= l->max)
		l->out[l->n - 1].wgrad = 1;
	if (din)
		add(l, 0, 0, N, IC, OC, OC, IC, IC, 0.0f, 1);
}

/* the matmuls of unit u, forward or (bwd) backward; din: the backward
 * computes the unit's input gradient */
static void unit_matmuls(struct mm_list *l, const struct dtp_model_spec *s, int u, int B,
			 int bwd, int din)
{
	if (s->kind == DTP_MODEL_MLP) {
		if (bwd)
			lin_bwd(l, B, s->widths[u], s->widths[u + 1], din);
		else
			lin_fwd(l, B, s->widths[u], s->widths[u + 1], 1.0f);
		return;
	}
	int T = s->seq_len, C = s->dim, H = s->heads, hs = C / H, N = B * T;
	long bh = (long)B * H;

	if (u == 0)
		return;
	if (u > s->layers) {
		if (bwd)
			lin_bwd(l, N, C, s->vocab, 1);
		else
			lin_fwd(l, N, C, s->vocab, 0.0f);
	} else if (!bwd) {
		lin_fwd(l, N, C, 3 * C, 1.0f);
		add(l, 0, 1, T, T, hs, 3 * C, 3 * C, T, 0.0f, bh);
		add(l, 0, 0, T, hs, T, T, 3 * C, C, 0.0f, bh);
		lin_fwd(l, N, C, C, 1.0f);
		lin_fwd(l, N, C, 4 * C, 1.0f);
		lin_fwd(l, N, 4 * C, C, 1.0f);
	} else {
		lin_bwd(l, N, 4 * C, C, 1);
		lin_bwd(l, N, C, 4 * C, 1);
		lin_bwd(l, N, C, C, 1);
		add(l, 0, 1, T, T, hs, C, 3 * C, T, 0.0f, bh);
		add(l, 1, 0, T, hs, T, T, C, 3 * C, 0.0f, bh);
		add(l, 0, 0, T, hs, T, T, 3 * C, 3 * C, 0.0f, bh);
		add(l, 1, 0, T, hs, T, T, 3 * C, 3 * C, 0.0f, bh);
		lin_bwd(l, N, C, 3 * C, 1);
	}
}

int dtp_model_matmuls(const struct dtp_model_spec *s, int first, int last, int B,
		      int input_grad, struct dtp_matmul *out, int max)
{
	struct mm_list l = { out, out ? max : 0, 0 };
	int nu = dtp_model_num_units(s);

	if (first < 0 || last > nu || first >= last || B < 1)
		return -EINVAL;
	for (int u = first; u < last; u++)
		unit_matmuls(&l, s, u, B, 0, 0);
	for (int u = last - 1; u >= first; u--)
		unit_matmuls(&l, s, u, B, 1, u > first || input_grad);
	return l.n;
}
