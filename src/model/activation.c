/* Elementwise activations: ReLU and GELU (tanh form). The loops are
 * branch-free and call only inline math (vecmath.h), so they vectorize; GELU
 * takes the AVX-512 kernels of vec_avx512.c where the CPU has AVX-512F (the
 * same on every stage of a machine), these loops being the portable form and
 * the tests' reference. */
#include "config.h"
#include "model/bf16.h"
#include "model/kernels.h"
#include "model/vecmath.h"

#define GELU_K 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* x (n) = max(0, x), in place (a linear layer's ReLU after its matmul) */
DTP_VEC_CLONES
void dtp_relu_forward(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* out (n), dout (n) -> d (n). dout is loaded unconditionally: a load under the
 * condition cannot be if-converted, and the branchy loop mispredicted on
 * every other element (docs/benchmarks.md, "Model core"). */
DTP_VEC_CLONES
void dtp_relu_backward(float *d, const float *dout, const float *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = dout[i];

		d[i] = out[i] > 0.0f ? g : 0.0f;
	}
}

/* 0.5 x (1 + tanh(u)) == x * sigmoid(2u) = x / (1 + e^(-2u)) */
static inline float gelu1(float x)
{
	float u = GELU_K * (x + GELU_A * x * x * x);

	return x / (1.0f + dtp_vexpf(-2.0f * u));
}

/* in (n) -> out (n) */
DTP_VEC_CLONES
void dtp_gelu_forward_portable(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = gelu1(in[i]);
}

/* gelu'(x) from s = sigmoid(2u): tanh(u) = 2s - 1 and 1 - tanh(u)^2 =
 * 4 s (1 - s) */
static inline float gelu_grad1(float x, float s)
{
	return s + 2.0f * x * s * (1.0f - s) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
}

/* in (n), dout (n) -> d (n) = dout * gelu'(in) */
DTP_VEC_CLONES
void dtp_gelu_backward_portable(float *d, const float *dout, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float x = in[i];
		float u = GELU_K * (x + GELU_A * x * x * x);
		float s = 1.0f / (1.0f + dtp_vexpf(-2.0f * u));

		d[i] = dout[i] * gelu_grad1(x, s);
	}
}

/* x (n) -> out (n) = gelu(x) (gelu1's bits), gp (n) = gelu'(x) (the
 * factor dtp_gelu_backward_portable multiplies by), from one exp; x may
 * alias out or gp */
DTP_VEC_CLONES
void dtp_gelu_forward_keep_portable(float *out, float *gp, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float xi = x[i];
		float u = GELU_K * (xi + GELU_A * xi * xi * xi);
		float den = 1.0f + dtp_vexpf(-2.0f * u);

		out[i] = xi / den;
		gp[i] = gelu_grad1(xi, 1.0f / den);
	}
}

/* dout (n), gp (n) = gelu'(x) (dtp_gelu_forward_keep's) -> d (n) = dout * gp:
 * dtp_gelu_backward's product, its factor computed in the forward */
DTP_VEC_CLONES
void dtp_gelu_backward_kept(float *d, const float *dout, const float *gp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = dout[i] * gp[i];
}

void dtp_gelu_forward(float *out, const float *in, size_t n)
{
	if (dtp_vec_avx512())
		dtp_gelu_forward_avx512(out, in, n);
	else
		dtp_gelu_forward_portable(out, in, n);
}

void dtp_gelu_forward_keep(float *out, float *gp, const float *x, size_t n)
{
	if (dtp_vec_avx512())
		dtp_gelu_forward_keep_avx512(out, gp, x, n);
	else
		dtp_gelu_forward_keep_portable(out, gp, x, n);
}

void dtp_gelu_forward_keep16(uint16_t *y16, uint16_t *gp16, const float *x, size_t n)
{
	float y[256], g[256];
	size_t i = 0, k;

	if (dtp_vec_avx512() && dtp_bf16_native())
		i = dtp_gelu_forward_keep16_avx512(y16, gp16, x, n);
	/* the rest (a tail, or all of it without those instructions): through
	 * fp32, 256 values at a time */
	for (; i < n; i += k) {
		k = n - i < 256 ? n - i : 256;
		dtp_gelu_forward_keep(y, g, x + i, k);
		dtp_bf16_from_f32(y16 + i, y, k);
		dtp_bf16_from_f32(gp16 + i, g, k);
	}
}

void dtp_gelu_backward(float *d, const float *dout, const float *in, size_t n)
{
	if (dtp_vec_avx512())
		dtp_gelu_backward_avx512(d, dout, in, n);
	else
		dtp_gelu_backward_portable(d, dout, in, n);
}
