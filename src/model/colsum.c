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

#define STRIP 256       /* columns a block sum holds on the stack */

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

/* d (N,OC) -> db columns [c0, c1) += column sums (adds only, so the AVX2
 * clone gives the baseline's bits) */
void dtp_colsum_add_cols(float *db, const float *d, int N, int OC, int c0, int c1)
{
	float t[STRIP];

	for (int a = c0; a < c1; a += STRIP) {
		int k = c1 - a < STRIP ? c1 - a : STRIP;

		for (int b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
			int b1 = N - b0 < DTP_SUM_ROWS ? N : b0 + DTP_SUM_ROWS;

			memset(t, 0, (size_t)k * sizeof(float));
			for (int n = b0; n < b1; n++)
				dtp_row_add(t, d + (size_t)n * OC + a, k);
			dtp_row_add(db + a, t, k);
		}
	}
}

/* d16 (N,OC) bf16 -> db columns [c0, c1) += column sums of its values */
void dtp_colsum16_add_cols(float *db, const uint16_t *d16, int N, int OC, int c0, int c1)
{
	float t[STRIP];

	for (int a = c0; a < c1; a += STRIP) {
		int k = c1 - a < STRIP ? c1 - a : STRIP;

		for (int b0 = 0; b0 < N; b0 += DTP_SUM_ROWS) {
			int b1 = N - b0 < DTP_SUM_ROWS ? N : b0 + DTP_SUM_ROWS;

			memset(t, 0, (size_t)k * sizeof(float));
			for (int n = b0; n < b1; n++)
				row_add16(t, d16 + (size_t)n * OC + a, k);
			dtp_row_add(db + a, t, k);
		}
	}
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
