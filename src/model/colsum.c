/* The project's one definition of a column sum (a bias gradient, a layer
 * norm's weight and bias gradients): the rows are taken in blocks of
 * DTP_SUM_ROWS, each block summed from zero with its rows in order, and the
 * blocks' sums added onto the gradient in block order. A block is the unit
 * of work: a split of the rows at block boundaries (the pool's shares of
 * TILE rows) or of the columns gives the same bits, so B can add a
 * gradient's sums on any number of participants while the gradient is in
 * cache (block partials, then dtp_colsum_fold), and W, summing the same
 * gradient later by columns, gets the same values. */
#include "config.h"
#include "model/kernels.h"
#include "model/vecmath.h"

#include <string.h>

/* y (n) += x (n) */
DTP_VEC_CLONES
void dtp_row_add(float *y, const float *x, int n)
{
	for (int j = 0; j < n; j++)
		y[j] += x[j];
}

/* x (n) bf16 -> y (n) += its values (exact in fp32): dtp_row_add's bits */
DTP_VEC_CLONES
static void row_add16(float *y, const uint16_t *x, int n)
{
	for (int j = 0; j < n; j++) {
		uint32_t u = (uint32_t)x[j] << 16;
		float v;

		memcpy(&v, &u, sizeof(v));
		y[j] += v;
	}
}

/* d (N,OC) in fp32, or d16 (N,OC) in bf16 when d is NULL -> db columns
 * [c0, c1) += column sums, a strip of columns at a time (adds only, so the
 * AVX2 clone gives the baseline's bits) */
static void colsum_cols(float *db, const float *d, const uint16_t *d16, int N, int OC, int c0,
			int c1)
{
	float t[DTP_SUM_STRIP];

	for (int a = c0; a < c1; a += DTP_SUM_STRIP) {
		int k = c1 - a < DTP_SUM_STRIP ? c1 - a : DTP_SUM_STRIP;

		for (int b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
			int b1 = N - b0 < DTP_SUM_ROWS ? N : b0 + DTP_SUM_ROWS;

			memset(t, 0, (size_t)k * sizeof(float));
			for (int n = b0; n < b1; n++) {
				size_t o = (size_t)n * OC + (size_t)a;

				if (d)
					dtp_row_add(t, d + o, k);
				else
					row_add16(t, d16 + o, k);
			}
			dtp_row_add(db + a, t, k);
		}
	}
}

void dtp_colsum_add_cols(float *db, const float *d, int N, int OC, int c0, int c1)
{
	colsum_cols(db, d, NULL, N, OC, c0, c1);
}

/* d16's values are exact in fp32: the fp32 sums' bits */
void dtp_colsum16_add_cols(float *db, const uint16_t *d16, int N, int OC, int c0, int c1)
{
	colsum_cols(db, NULL, d16, N, OC, c0, c1);
}

void dtp_colsum_add(float *db, const float *d, int N, int OC)
{
	dtp_colsum_add_cols(db, d, N, OC, 0, OC);
}

void dtp_colsum_part_rows(float *part, size_t ldp, const float *d, size_t ldd, int r0, int r1,
			  int W)
{
	for (int r = r0; r < r1; r++) {
		float *p = part + (size_t)(r / DTP_SUM_ROWS) * ldp;

		if (r % DTP_SUM_ROWS == 0)
			memset(p, 0, (size_t)W * sizeof(float));
		dtp_row_add(p, d + (size_t)(r - r0) * ldd, W);
	}
}

void dtp_colsum_fold(float *db, const float *part, size_t ldp, int N, int W)
{
	for (int b = 0; b * DTP_SUM_ROWS < N; b++)
		dtp_row_add(db, part + (size_t)b * ldp, W);
}
