/* Fuzz target: the checkpoint reader (dtp_ckpt_find, dtp_ckpt_compatible,
 * dtp_ckpt_read_unit; src/pipeline/ckpt_load.c, and under it the safetensors
 * reader) on a checkpoint directory built from the input (fuzz_ckpt.h: its
 * layout and mode bits). A checkpoint must be refused with a message, or
 * every tensor read back must be exactly the one the manifest describes:
 * its shape, its CRC-32C, and the bytes at its offsets in the stage file. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>

#include "fuzz_ckpt.h"
#include "base/crc32c.h"
#include "io/safetensors.h"
#include "model/tensors.h"

/* the stage file's header (NULL when it is not a JSON object) and where its data starts */
static json_t *stage_header(const uint8_t *b, size_t n, size_t *data_at)
{
	uint64_t hl = 0;
	json_t *h;

	if (n < 8)
		return NULL;
	for (int i = 7; i >= 0; i--)
		hl = hl << 8 | b[i];
	if (hl > n - 8)
		return NULL;
	h = json_loadb((const char *)b + 8, (size_t)hl, 0, NULL);
	if (h && !json_is_object(h)) {
		json_decref(h);
		return NULL;
	}
	*data_at = 8 + (size_t)hl;
	return h;
}

/* a tensor's [begin, end) in the data buffer, when in bounds */
static int tensor_span(json_t *t, size_t data_bytes, size_t *b, size_t *e)
{
	json_t *o = json_object_get(t, "data_offsets");
	json_int_t x = json_integer_value(json_array_get(o, 0)),
		   y = json_integer_value(json_array_get(o, 1));

	if (json_array_size(o) != 2 || x < 0 || y < x || (uint64_t)y > data_bytes)
		return -1;
	*b = (size_t)x;
	*e = (size_t)y;
	return 0;
}

/* rewrite the stage file with each in-bounds tensor's right CRC-32C in its header */
static uint8_t *fix_file_crcs(uint8_t *b, size_t *n)
{
	size_t at, begin, end, len, pad;
	json_t *h = stage_header(b, *n, &at), *meta, *t;
	const char *key;
	char hex[9], mk[300];
	uint8_t *nb;
	char *text;

	if (!h)
		return b;
	meta = json_object_get(h, "__metadata__");
	if (!meta) {
		meta = json_object();
		json_object_set_new(h, "__metadata__", meta);
	}
	json_object_foreach(h, key, t) {
		if (!json_is_object(meta) || strcmp(key, "__metadata__") == 0 ||
		    tensor_span(t, *n - at, &begin, &end) ||
		    strlen(key) + sizeof(DTP_ST_CRC_PREFIX) > sizeof(mk))
			continue;
		snprintf(hex, sizeof(hex), "%08" PRIx32, dtp_crc32c(0, b + at + begin, end - begin));
		snprintf(mk, sizeof(mk), DTP_ST_CRC_PREFIX "%s", key);
		json_object_set_new(meta, mk, json_string(hex));
	}
	text = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	FUZZ_CHECK(text);
	len = strlen(text);
	pad = (8 - len % 8) % 8;
	nb = malloc(8 + len + pad + (*n - at) + 1);
	FUZZ_CHECK(nb);
	for (int i = 0; i < 8; i++)
		nb[i] = (uint8_t)((uint64_t)(len + pad) >> (8 * i));
	memcpy(nb + 8, text, len);
	memset(nb + 8 + len, ' ', pad);
	memcpy(nb + 8 + len + pad, b + at, *n - at);
	free(text);
	free(b);
	*n = 8 + len + pad + (*n - at);
	return nb;
}

/* the manifest's file entries: the stage file's size and header CRCs */
static void fix_manifest_entries(json_t *m, const uint8_t *file, size_t n)
{
	size_t at, i, j;
	json_t *h = stage_header(file, n, &at), *meta, *f, *t;

	meta = json_object_get(h, "__metadata__");
	json_array_foreach(json_object_get(m, "files"), i, f) {
		if (!json_is_object(f))
			continue;
		json_object_set_new(f, "bytes", json_integer((json_int_t)n));
		json_array_foreach(json_object_get(f, "tensors"), j, t) {
			const char *name = json_string_value(json_object_get(t, "name"));
			char mk[300];
			json_t *crc;

			if (!name || !json_is_object(t) ||
			    strlen(name) + sizeof(DTP_ST_CRC_PREFIX) > sizeof(mk))
				continue;
			snprintf(mk, sizeof(mk), DTP_ST_CRC_PREFIX "%s", name);
			crc = json_object_get(meta, mk);
			if (json_is_string(crc))
				json_object_set(t, "crc32c", crc);
		}
	}
	json_decref(h);
}

/* the manifest's entry of tensor `name` (in any file), or NULL */
static json_t *manifest_tensor(json_t *m, const char *name)
{
	size_t i, j;
	json_t *f, *t;

	json_array_foreach(json_object_get(m, "files"), i, f)
		json_array_foreach(json_object_get(f, "tensors"), j, t)
			if (json_is_string(json_object_get(t, "name")) &&
			    strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
				return t;
	return NULL;
}

/* unit u's tensors of role `role`, read into buf, are the ones the manifest
 * (m) and the stage file (its bytes) describe */
static void check_unit(json_t *m, const uint8_t *file, size_t n, const struct dtp_model_spec *spec,
		       int u, const char *role, const float *buf)
{
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];
	int nt = dtp_unit_tensors(spec, u, t);
	size_t at = 0, begin, end;
	json_t *h = stage_header(file, n, &at);

	FUZZ_CHECK(nt > 0 && h);
	for (int i = 0; i < nt; i++) {
		char name[128], hex[9];
		json_t *e, *shape;

		FUZZ_CHECK(dtp_ckpt_tensor_name(name, sizeof(name), u, t[i].name, role) == 0);
		e = manifest_tensor(m, name);
		FUZZ_CHECK(e);
		shape = json_object_get(e, "shape");
		FUZZ_CHECK(json_array_size(shape) == (size_t)t[i].ndim);
		for (int d = 0; d < t[i].ndim; d++)
			FUZZ_CHECK(json_integer_value(json_array_get(shape, (size_t)d)) ==
				   (json_int_t)t[i].shape[d]);
		snprintf(hex, sizeof(hex), "%08" PRIx32,
			 dtp_crc32c(0, buf + t[i].off, t[i].n * sizeof(float)));
		FUZZ_CHECK(strcmp(json_string_value(json_object_get(e, "crc32c")), hex) == 0);
		FUZZ_CHECK(tensor_span(json_object_get(h, name), n - at, &begin, &end) == 0);
		FUZZ_CHECK(end - begin == t[i].n * sizeof(float));
		FUZZ_CHECK(memcmp(file + at + begin, buf + t[i].off, end - begin) == 0);
	}
	json_decref(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const roles[] = { DTP_CKPT_ROLE_PARAM, DTP_CKPT_ROLE_MOMENTUM };
	struct dtp_model_spec spec;
	struct dtp_ckpt_info want;
	struct dtp_err err = { 0 };
	char dir[PATH_MAX], sdir[PATH_MAX + 32];
	struct dtp_ckpt *c = NULL;
	struct dtp_unit_info ui;
	json_t *m = NULL;
	uint8_t *file;
	char *mtext = NULL;
	size_t ml, fl;
	int rc, mode;

	if (size < 3)
		return 0;
	mode = data[0];
	ml = (size_t)data[1] | (size_t)data[2] << 8;
	if (ml > size - 3)
		ml = size - 3;
	fl = size - 3 - ml;
	file = malloc(fl + 1);
	FUZZ_CHECK(file);
	memcpy(file, data + 3 + ml, fl);
	if (mode & FUZZ_CKPT_FIX_FILE_CRC)
		file = fix_file_crcs(file, &fl);
	m = json_loadb((const char *)data + 3, ml, 0, NULL);
	if (m && json_is_object(m) && (mode & (FUZZ_CKPT_FIX_MANIFEST | FUZZ_CKPT_FIX_CHECKSUM))) {
		uint32_t sum;
		char hex[9];

		if (mode & FUZZ_CKPT_FIX_MANIFEST)
			fix_manifest_entries(m, file, fl);
		if ((mode & FUZZ_CKPT_FIX_CHECKSUM) && dtp_ckpt_manifest_checksum(m, &sum) == 0) {
			snprintf(hex, sizeof(hex), "%08" PRIx32, sum);
			json_object_set_new(m, "checksum", json_string(hex));
		}
		mtext = json_dumps(m, JSON_COMPACT);
		FUZZ_CHECK(mtext);
	}

	snprintf(dir, sizeof(dir), "%s/ckpt", fuzz_tmpdir());
	FUZZ_CHECK(mkdir(dir, 0777) == 0 || errno == EEXIST);
	FUZZ_CHECK(dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, FUZZ_CKPT_STEP) == 0);
	FUZZ_CHECK(mkdir(sdir, 0777) == 0 || errno == EEXIST);
	if (mtext)
		fuzz_write_file(sdir, DTP_CKPT_MANIFEST, mtext, strlen(mtext));
	else
		fuzz_write_file(sdir, DTP_CKPT_MANIFEST, data + 3, ml);
	fuzz_write_file(sdir, FUZZ_CKPT_FILE, file, fl);
	/* what the reader sees is what was written: the manifest as a JSON value */
	json_decref(m);
	m = mtext ? json_loads(mtext, 0, NULL) : json_loadb((const char *)data + 3, ml, 0, NULL);

	fuzz_ckpt_run(&spec, &want);
	rc = dtp_ckpt_find(dir, LONG_MAX, &c, &err);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		FUZZ_CHECK(rc == -ENOENT && !c);
		goto out_free;
	}
	FUZZ_CHECK(m && dtp_ckpt_get_info(c)->step == FUZZ_CKPT_STEP);
	rc = dtp_ckpt_compatible(dtp_ckpt_get_info(c), &want, dtp_ckpt_dir(c), &err);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		goto out_close;
	}
	for (int u = 0; u < dtp_model_num_units(&spec); u++) {
		float *buf;

		FUZZ_CHECK(dtp_unit_describe(&spec, u, &ui) == 0);
		buf = malloc(ui.n_params * sizeof(float));
		FUZZ_CHECK(buf);
		for (int r = 0; r < 2; r++) {
			memset(&err, 0, sizeof(err));
			rc = dtp_ckpt_read_unit(c, &spec, u, roles[r], buf, &err);
			if (rc)
				FUZZ_CHECK_ERR(rc, err);
			else
				check_unit(m, file, fl, &spec, u, roles[r], buf);
		}
		free(buf);
	}
out_close:
	dtp_ckpt_close(c);
out_free:
	json_decref(m);
	free(mtext);
	free(file);
	return 0;
}
