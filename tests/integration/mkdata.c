/* Small datasets for the pipeline integration tests, written with the io
 * module's shard writers:
 *   mkdata records DIR NTRAIN NTEST FEATURES CLASSES SEED
 *     DIR/{train,test}/part-0.dtpr (and part-1 for train): f32 features,
 *     labels from a fixed random linear map (learnable);
 *   mkdata tokens DIR NTRAIN NTEST VOCAB SEED
 *     DIR/{train,test}/part-0.bin: uint16 tokens of a noisy repeating
 *     pattern (learnable). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "io/io.h"

static int records(const char *dir, long n, int F, int C, uint64_t seed, int parts, int stream)
{
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_F32, .ndim = 1,
					.dims = { (uint32_t)F }, .label_dtype = DTP_REC_I32,
					.num_classes = C };
	struct dtp_rng data, map;
	struct dtp_err err = { 0 };
	float *x = calloc((size_t)F, sizeof(float)), *w = calloc((size_t)F * C, sizeof(float));
	char path[4096];
	long done = 0;

	dtp_rng_init(&map, seed, 999);
	for (int i = 0; i < F * C; i++)
		w[i] = dtp_rng_normal(&map);
	dtp_rng_init(&data, seed, (uint64_t)stream);
	mkdir(dir, 0777);
	for (int p = 0; p < parts; p++) {
		struct dtp_shard_writer *wr;
		long upto = n * (p + 1) / parts;

		snprintf(path, sizeof(path), "%s/part-%d.dtpr", dir, p);
		if (dtp_shard_writer_records(path, &spec, &wr, &err))
			goto fail;
		for (; done < upto; done++) {
			int best = 0;
			float bv = -1e30f;

			for (int f = 0; f < F; f++)
				x[f] = dtp_rng_uniform(&data);
			for (int c = 0; c < C; c++) {
				float v = 0;

				for (int f = 0; f < F; f++)
					v += w[c * F + f] * (x[f] - 0.5f);
				if (v > bv)
					bv = v, best = c;
			}
			if (dtp_shard_writer_add_record(wr, x, best, &err)) {
				dtp_shard_writer_abort(wr);
				goto fail;
			}
		}
		if (dtp_shard_writer_finish(wr, &err))
			goto fail;
	}
	free(x);
	free(w);
	return 0;
fail:
	fprintf(stderr, "mkdata: %s\n", err.msg);
	free(x);
	free(w);
	return 1;
}

static int tokens(const char *dir, long n, int V, uint64_t seed, int stream)
{
	struct dtp_shard_writer *wr;
	struct dtp_rng r;
	struct dtp_err err = { 0 };
	char path[4096];

	dtp_rng_init(&r, seed, (uint64_t)stream);
	mkdir(dir, 0777);
	snprintf(path, sizeof(path), "%s/part-0.bin", dir);
	if (dtp_shard_writer_tokens(path, 2, &wr, &err))
		goto fail;
	for (long i = 0; i < n; i++) {
		uint32_t t = (uint32_t)((i * 7 + i / 13) % V);

		if (dtp_rng_below(&r, 8) == 0)
			t = (uint32_t)dtp_rng_below(&r, (uint64_t)V);
		if (dtp_shard_writer_add_tokens(wr, &t, 1, &err)) {
			dtp_shard_writer_abort(wr);
			goto fail;
		}
	}
	if (dtp_shard_writer_finish(wr, &err))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "mkdata: %s\n", err.msg);
	return 1;
}

int main(int argc, char **argv)
{
	char sub[4096];

	if (argc == 8 && strcmp(argv[1], "records") == 0) {
		int F = atoi(argv[5]), C = atoi(argv[6]);
		uint64_t seed = strtoull(argv[7], NULL, 10);

		mkdir(argv[2], 0777);
		snprintf(sub, sizeof(sub), "%s/train", argv[2]);
		if (records(sub, atol(argv[3]), F, C, seed, 2, 1))
			return 1;
		snprintf(sub, sizeof(sub), "%s/test", argv[2]);
		return records(sub, atol(argv[4]), F, C, seed, 1, 2);
	}
	if (argc == 7 && strcmp(argv[1], "tokens") == 0) {
		int V = atoi(argv[5]);
		uint64_t seed = strtoull(argv[6], NULL, 10);

		mkdir(argv[2], 0777);
		snprintf(sub, sizeof(sub), "%s/train", argv[2]);
		if (tokens(sub, atol(argv[3]), V, seed, 1))
			return 1;
		snprintf(sub, sizeof(sub), "%s/test", argv[2]);
		return tokens(sub, atol(argv[4]), V, seed, 2);
	}
	fprintf(stderr, "usage: mkdata records DIR NTRAIN NTEST FEATURES CLASSES SEED\n"
			"       mkdata tokens DIR NTRAIN NTEST VOCAB SEED\n");
	return 2;
}
