/* Every bit that changes what a resumed run does is covered by a checksum:
 * each one-bit flip of a checkpoint's manifest (the step, the data positions,
 * the RNG state, the optimizer and its settings, the training settings, the
 * model, the units, every file's entry) and of a stage file's header (its
 * length, every tensor's name, dtype, shape, offsets and CRC-32C) is either
 * refused by the checks a resume makes (dtp_ckpt_open, dtp_ckpt_verify), or
 * leaves everything a resume reads (the facts of dtp_ckpt_info and every
 * tensor) exactly as it was. Flips in the tensors' data are the CRC-32C's
 * (test_ckpt_store.c). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ckpt_fixture.h"

/* the bytes of dir/step-00000020/rel (*n of them; malloc'd) */
static unsigned char *slurp(struct fx *f, const char *rel, size_t *n)
{
	char path[4300];
	unsigned char *buf;
	struct stat sb;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/step-00000020/%s", f->dir, rel);
	assert_int_equal(stat(path, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, (size_t)sb.st_size, fp), (size_t)sb.st_size);
	fclose(fp);
	*n = (size_t)sb.st_size;
	return buf;
}

/* everything a resume reads of step 20: its facts and every tensor of every
 * unit and role, in one buffer (info first); NULL when the checks refuse it */
static unsigned char *resume_view(struct fx *f, size_t *len)
{
	static const char *const roles[] = { DTP_CKPT_ROLE_PARAM, DTP_CKPT_ROLE_ADAM_M,
					     DTP_CKPT_ROLE_ADAM_V };
	size_t floats = 3 * f->n, bytes = sizeof(struct dtp_ckpt_info) + floats * sizeof(float);
	unsigned char *v;
	struct dtp_ckpt *c;
	struct dtp_err e;
	float *a;
	int r;

	if (dtp_ckpt_open(f->dir, 20, &c, &e) != 0)
		return NULL;
	if (dtp_ckpt_verify(c, &e) != 0) {
		dtp_ckpt_close(c);
		return NULL;
	}
	v = calloc(1, bytes);
	assert_non_null(v);
	memcpy(v, dtp_ckpt_get_info(c), sizeof(struct dtp_ckpt_info));
	a = (float *)(v + sizeof(struct dtp_ckpt_info));
	r = 0;
	for (int k = 0; k < 3 && !r; k++)
		for (int u = 0; u < f->units && !r; u++)
			r = dtp_ckpt_read_unit(c, &f->spec, u, roles[k], a + k * f->n + f->uoff[u],
					       &e);
	dtp_ckpt_close(c);
	if (r) {
		free(v);
		return NULL;
	}
	*len = bytes;
	return v;
}

/* flip the bits of `rel`'s bytes [0, n): every bit, but one bit per byte
 * (rotating) in [sparse0, sparse1); each flip must be refused or change
 * nothing a resume reads. Returns how many were refused. */
static int flip_all(struct fx *f, const char *rel, const unsigned char *ref, size_t ref_len,
		    size_t n, size_t sparse0, size_t sparse1)
{
	int refused = 0;

	for (size_t off = 0; off < n; off++) {
		for (int bit = 0; bit < 8; bit++) {
			unsigned char *v;
			size_t len;

			if (off >= sparse0 && off < sparse1 && bit != (int)(off % 8))
				continue;
			flip(f, rel, (long)off, bit);
			v = resume_view(f, &len);
			if (!v)
				refused++;
			else if (len != ref_len || memcmp(v, ref, len) != 0)
				fail_msg("%s: flipping bit %d of byte %zu is accepted and changes what a resume reads",
					 rel, bit, off);
			free(v);
			flip(f, rel, (long)off, bit);
		}
	}
	return refused;
}

static void test_manifest_flips(void **state)
{
	struct fx *f = *state;
	unsigned char *ref, *m;
	size_t ref_len, n, files0, files1;
	char *at;

	fresh(f);
	ref = resume_view(f, &ref_len);
	assert_non_null(ref);
	m = slurp(f, DTP_CKPT_MANIFEST, &n);
	m[n] = '\0';
	/* every bit outside the "files" list (step, data, rng, optimizer,
	 * training, model, units, format, version, checksum); in the list (the
	 * files' names, sizes and tensors' entries), one bit per byte */
	at = strstr((char *)m, "\"files\"");
	assert_non_null(at);
	files0 = (size_t)(at - (char *)m);
	at = strstr((char *)m, "\"format\"");
	assert_non_null(at);
	files1 = (size_t)(at - (char *)m);
	assert_true(files0 < files1);
	assert_true(flip_all(f, DTP_CKPT_MANIFEST, ref, ref_len, n, files0, files1) > 0);
	/* and the checkpoint is as it was */
	{
		unsigned char *v;
		size_t len;

		v = resume_view(f, &len);
		assert_non_null(v);
		assert_memory_equal(v, ref, len);
		free(v);
	}
	free(m);
	free(ref);
}

static void test_header_flips(void **state)
{
	struct fx *f = *state;
	unsigned char *ref, *s;
	size_t ref_len, n, hlen;

	fresh(f);
	ref = resume_view(f, &ref_len);
	assert_non_null(ref);
	s = slurp(f, "stage-1.safetensors", &n);
	hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | s[i];
	assert_true(8 + hlen <= n);
	/* the length fully, the JSON header one bit per byte */
	assert_true(flip_all(f, "stage-1.safetensors", ref, ref_len, 8 + hlen, 8, 8 + hlen) > 0);
	free(s);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_manifest_flips, setup_mlp, teardown),
		cmocka_unit_test_setup_teardown(test_header_flips, setup_mlp, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
