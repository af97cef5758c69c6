/* Fully connected layer (optionally fused with ReLU) on cblas_sgemm. */
#include "config.h"
#include "model/kernels.h"

#include <cblas.h>

/* b (OC) -> out (N,OC): b in every row */
void dtp_bias_rows(float *out, const float *b, int N, int OC)
{
	for (int n = 0; n < N; n++) {
		float *o = out + (size_t)n * OC;

		for (int j = 0; j < OC; j++)
			o[j] = b[j];
	}
}

/* in (N,IC), w (OC,IC), b (OC) -> out (N,OC). The bias goes in first and the
 * sgemm accumulates onto it (beta = 1): OpenBLAS with beta = 0 makes its own
 * pass over C to zero it, so filling C with the bias costs that same pass and
 * saves a read-modify-write pass over the output afterwards. */
void dtp_linear_forward(float *out, const float *in, const float *w, const float *b,
			int N, int IC, int OC, int relu)
{
	if (b)
		dtp_bias_rows(out, b, N, OC);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC,
		    1.0f, in, IC, w, IC, b ? 1.0f : 0.0f, out, OC);
	if (!relu)
		return;
	for (size_t i = 0; i < (size_t)N * OC; i++)
		out[i] = out[i] > 0.0f ? out[i] : 0.0f;
}

/* d (N,OC) -> db (OC) += column sums, rows added in order */
void dtp_colsum_add(float *db, const float *d, int N, int OC)
{
	for (int n = 0; n < N; n++) {
		const float *r = d + (size_t)n * OC;

		for (int j = 0; j < OC; j++)
			db[j] += r[j];
	}
}

/* dout (N,OC), in (N,IC), w (OC,IC) -> dw (OC,IC) +=, db (OC) +=, din (N,IC) = */
void dtp_linear_backward(float *din, float *dw, float *db, const float *dout,
			 const float *in, const float *w, int N, int IC, int OC)
{
	/* dw += dout^T in: beta = 1 accumulates across micro-batches */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N,
		    1.0f, dout, OC, in, IC, 1.0f, dw, IC);
	if (db)
		dtp_colsum_add(db, dout, N, OC);
	if (din)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC,
			    1.0f, dout, OC, w, IC, 0.0f, din, IC);
}
