/* Elementwise activations: ReLU backward and GELU (tanh form). */
#include "config.h"
#include "model/kernels.h"

#include <math.h>

#define GELU_K 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* out (n), dout (n) -> d (n) */
void dtp_relu_backward(float *d, const float *dout, const float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* 0.5 x (1 + tanh(u)) == x * sigmoid(2u): one expf instead of tanhf (which
 * glibc computes through the much slower expm1f) */
static inline float gelu1(float x)
{
	float u = GELU_K * (x + GELU_A * x * x * x);

	return x / (1.0f + expf(-2.0f * u));
}

/* in (n) -> out (n) */
void dtp_gelu_forward(float *out, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = gelu1(in[i]);
}

/* x (N,OC) += b (OC); out (N,OC) = gelu(x) */
void dtp_bias_gelu_forward(float *out, float *x, const float *b, int N, int OC)
{
	for (int r = 0; r < N; r++) {
		float *xr = x + (size_t)r * OC;
		float *orow = out + (size_t)r * OC;

		for (int j = 0; j < OC; j++) {
			float v = xr[j] + b[j];

			xr[j] = v;
			orow[j] = gelu1(v);
		}
	}
}

/* in (n), dout (n) -> d (n) = dout * gelu'(in), with s = sigmoid(2u):
 * tanh(u) = 2s - 1 and 1 - tanh(u)^2 = 4 s (1 - s) */
void dtp_gelu_backward(float *d, const float *dout, const float *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float x = in[i];
		float u = GELU_K * (x + GELU_A * x * x * x);
		float s = 1.0f / (1.0f + expf(-2.0f * u));
		float g = s + 2.0f * x * s * (1.0f - s) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);

		d[i] = dout[i] * g;
	}
}
