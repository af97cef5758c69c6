/* Counter-based PRNG (Philox4x32-10, Salmon et al., SC'11). A stream is a key
 * (from the seed and, e.g., a unit index) and a counter: the n-th number of a
 * stream does not depend on how many numbers anyone else drew, so every stage
 * plan of one model starts from the same weights and every stage walks the same
 * sample order. */
#ifndef DTP_BASE_PRNG_H
#define DTP_BASE_PRNG_H

#include <stdint.h>

struct dtp_rng {
	uint32_t key[2];
	uint64_t counter;   /* block index; each block gives 4 x 32 bits */
	uint32_t buf[4];
	int avail;          /* words of buf not used yet */
};

/* stream (seed, stream_id): e.g. (run seed, unit index) or (seed, epoch) */
void dtp_rng_init(struct dtp_rng *r, uint64_t seed, uint64_t stream_id);
uint32_t dtp_rng_u32(struct dtp_rng *r);
uint64_t dtp_rng_u64(struct dtp_rng *r);
/* uniform in [0, 1) with 24 random bits */
float dtp_rng_uniform(struct dtp_rng *r);
/* standard normal (Box-Muller on two uniforms) */
float dtp_rng_normal(struct dtp_rng *r);
/* uniform integer in [0, n), n > 0, without modulo bias */
uint64_t dtp_rng_below(struct dtp_rng *r, uint64_t n);

/* the raw block function: 4 words out for (key, counter) */
void dtp_philox4x32(const uint32_t key[2], uint64_t counter, uint32_t out[4]);

#endif
