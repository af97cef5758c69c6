/* Test fixtures for tests/io: temporary directories and shards the tests
 * write themselves (removed at the end). Header-only, static functions. */
#ifndef DTP_TEST_IO_FIXTURE_H
#define DTP_TEST_IO_FIXTURE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/io.h"

static inline char *fx_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/dtp-io-test-XXXXXX", base) < 0)
		abort();
	if (!mkdtemp(p))
		abort();
	return p;
}

static inline void fx_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4400];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%.4000s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			fx_rmtree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* A CMocka fixture: a temporary directory and the path of one file in it
 * (name NULL: the directory alone, path empty). */
struct fx_file {
	char *dir;
	char path[4200];
};

static inline int fx_file_setup(void **state, const char *name)
{
	struct fx_file *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->dir = fx_tmpdir();
	if (name)
		snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	*state = f;
	return 0;
}

static inline int fx_file_teardown(void **state)
{
	struct fx_file *f = *state;

	fx_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* a loader the test needs open: a failure to open fails the test */
static inline struct dtp_loader *fx_open_loader(const struct dtp_loader_config *c)
{
	struct dtp_loader *l = NULL;
	struct dtp_err err;

	if (dtp_loader_open(c, &l, &err))
		fail_msg("open: %s", err.msg);
	return l;
}

/* record shard: u8 features of `feat` bytes derived from the id, label = id */
static inline int fx_record_shard(const char *path, uint32_t feat, uint64_t first_id, uint64_t n)
{
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_U8, .ndim = 1, .dims = { feat },
					.label_dtype = DTP_REC_I32, .num_classes = 0 };
	struct dtp_shard_writer *w;
	uint8_t *f = malloc(feat);
	uint64_t i;
	uint32_t k;

	if (!f || dtp_shard_writer_records(path, &spec, &w, NULL)) {
		free(f);
		return -1;
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < feat; k++)
			f[k] = (uint8_t)((first_id + i) * 7 + k);
		if (dtp_shard_writer_add_record(w, f, (int32_t)(first_id + i), NULL)) {
			dtp_shard_writer_abort(w);
			free(f);
			return -1;
		}
	}
	free(f);
	return dtp_shard_writer_finish(w, NULL);
}

/* token value of token i of shard s */
static inline uint32_t fx_token(int s, uint64_t i, int token_bytes)
{
	uint64_t v = (uint64_t)s * 1000003u + i * 7919u;

	return token_bytes == 2 ? (uint32_t)(v % 65536u) : (uint32_t)(v % 4000000000u);
}

static inline int fx_token_shard(const char *path, int s, uint64_t n, int token_bytes)
{
	struct dtp_shard_writer *w;
	uint32_t t;
	uint64_t i;

	if (dtp_shard_writer_tokens(path, token_bytes, &w, NULL))
		return -1;
	for (i = 0; i < n; i++) {
		t = fx_token(s, i, token_bytes);
		if (dtp_shard_writer_add_tokens(w, &t, 1, NULL)) {
			dtp_shard_writer_abort(w);
			return -1;
		}
	}
	return dtp_shard_writer_finish(w, NULL);
}

static inline void fx_patch(const char *path, long off, const void *bytes, size_t n)
{
	FILE *f = fopen(path, "r+b");

	if (!f)
		abort();
	fseek(f, off, SEEK_SET);
	fwrite(bytes, 1, n, f);
	fclose(f);
}

/* a dataset of n record shards DIR/PREFIX0.dtpr .. in one id sequence (ids
 * 0, 1, ... across the shards), shard s holding counts[s] records */
static inline int fx_record_set(const char *dir, const char *prefix, uint32_t feat,
				const uint64_t *counts, int n)
{
	char p[4400];
	uint64_t id = 0;

	for (int s = 0; s < n; s++) {
		int rc;

		snprintf(p, sizeof(p), "%.4000s/%s%d.dtpr", dir, prefix, s);
		rc = fx_record_shard(p, feat, id, counts[s]);
		if (rc)
			return rc;
		id += counts[s];
	}
	return 0;
}

#endif
