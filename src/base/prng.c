#include "config.h"
#include "base/prng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

void dtp_philox4x32(const uint32_t key[2], uint64_t counter, uint32_t out[4])
{
	uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
	uint32_t k0 = key[0], k1 = key[1];

	for (int round = 0; round < 10; round++) {
		uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
		uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
		uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
		uint32_t n1 = (uint32_t)p1;
		uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
		uint32_t n3 = (uint32_t)p0;

		c0 = n0; c1 = n1; c2 = n2; c3 = n3;
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void dtp_rng_init(struct dtp_rng *r, uint64_t seed, uint64_t stream_id)
{
	uint64_t k = splitmix64(seed ^ splitmix64(stream_id + 0x632BE59BD9B4E019ull));

	r->key[0] = (uint32_t)k;
	r->key[1] = (uint32_t)(k >> 32);
	r->counter = 0;
	r->avail = 0;
}

uint32_t dtp_rng_u32(struct dtp_rng *r)
{
	if (r->avail == 0) {
		dtp_philox4x32(r->key, r->counter++, r->buf);
		r->avail = 4;
	}
	return r->buf[4 - r->avail--];
}

uint64_t dtp_rng_u64(struct dtp_rng *r)
{
	uint64_t hi = dtp_rng_u32(r);

	return (hi << 32) | dtp_rng_u32(r);
}

float dtp_rng_uniform(struct dtp_rng *r)
{
	return (float)(dtp_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

float dtp_rng_normal(struct dtp_rng *r)
{
	/* u1 in (0, 1] so that log() is finite */
	double u1 = ((double)(dtp_rng_u32(r) >> 8) + 1.0) / 16777216.0;
	double u2 = (double)(dtp_rng_u32(r) >> 8) / 16777216.0;

	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint64_t dtp_rng_below(struct dtp_rng *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = dtp_rng_u64(r);
	while (x >= limit);
	return x % n;
}
