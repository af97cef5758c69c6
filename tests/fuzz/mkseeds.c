/* Writes the seed corpora of the binary fuzz targets from dtpipe's own
 * writers (the text targets, plan and spec, take their seeds from examples/
 * and the tests' plans and specs):
 *   tests/fuzz/mkseeds SRCDIR/tests/fuzz/corpus
 * Record and token shards come from the shard writer (as the io tests make
 * them), the index from dtp_index_write over those shards, hellos and frame
 * headers from dtp_hello_pack and dtp_frame_pack, safetensors files from the
 * safetensors writer, checkpoints from dtp_ckpt_part_* and dtp_ckpt_finish of
 * fuzz_ckpt.h's run, and the verbs operation lists are written out here. Files
 * of the shard, index and checkpoint targets start with the mode byte they read
 * (fuzz_shard.h, fuzz_index.c, fuzz_ckpt.h). Rerun it when a format
 * changes (or the plan hash does) and commit what changed. */
#include "config.h"
#include "fuzz.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_ckpt.h"
#include "io/index.h"
#include "io/safetensors.h"
#include "model/tensors.h"
#include "rdma/link.h"

static void seed_bytes(const char *outdir, const char *target, const char *name, const void *b,
		       size_t n)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/%s", outdir, target);
	FUZZ_CHECK(mkdir(dir, 0777) == 0 || errno == EEXIST);
	fuzz_write_file(dir, name, b, n);
}

/* the file at path, after `lead` bytes left for the caller; *n: lead + its size */
static uint8_t *slurp(const char *path, size_t lead, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;

	FUZZ_CHECK(f);
	FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0);
	*n = (size_t)ftell(f);
	rewind(f);
	b = malloc(lead + *n + 1);
	FUZZ_CHECK(b);
	FUZZ_CHECK(fread(b + lead, 1, *n, f) == *n);
	fclose(f);
	*n += lead;
	return b;
}

/* the file at path, behind the mode byte, as corpus/<target>/<name> */
static void seed_file(const char *outdir, const char *target, const char *name, uint8_t mode,
		      const char *path)
{
	size_t n;
	uint8_t *b = slurp(path, 1, &n);

	b[0] = mode;
	seed_bytes(outdir, target, name, b, n);
	free(b);
}

/* the file at path as it is, as corpus/<target>/<name> */
static void seed_plain(const char *outdir, const char *target, const char *name, const char *path)
{
	size_t n;
	uint8_t *b = slurp(path, 0, &n);

	seed_bytes(outdir, target, name, b, n);
	free(b);
}

static void record_shard(const char *path, const struct dtp_record_spec *spec, int n)
{
	struct dtp_shard_writer *w;
	struct dtp_err err;
	float feat[64];

	FUZZ_CHECK(dtp_shard_writer_records(path, spec, &w, &err) == 0);
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 64; k++)
			feat[k] = (float)(i * 7 + k);   /* u8 shards read the first bytes */
		FUZZ_CHECK(dtp_shard_writer_add_record(w, feat, i % 10, &err) == 0);
	}
	FUZZ_CHECK(dtp_shard_writer_finish(w, &err) == 0);
}

static void token_shard(const char *path, int token_bytes, int n)
{
	struct dtp_shard_writer *w;
	struct dtp_err err;
	uint32_t tok[64];

	for (int i = 0; i < 64; i++)
		tok[i] = (uint32_t)(i * 37 % 50257);
	FUZZ_CHECK(dtp_shard_writer_tokens(path, token_bytes, &w, &err) == 0);
	FUZZ_CHECK(n <= 64 && dtp_shard_writer_add_tokens(w, tok, (size_t)n, &err) == 0);
	FUZZ_CHECK(dtp_shard_writer_finish(w, &err) == 0);
}

static void shards_and_index(const char *outdir)
{
	static const struct dtp_record_spec specs[] = {
		{ .feature_dtype = DTP_REC_U8, .ndim = 1, .dims = { 4 }, .label_dtype = DTP_REC_I32 },
		{ .feature_dtype = DTP_REC_F32, .ndim = 2, .dims = { 2, 3 }, .label_dtype = DTP_REC_U8,
		  .num_classes = 10 },
		{ .feature_dtype = DTP_REC_U8, .ndim = 4, .dims = { 1, 2, 2, 1 },
		  .label_dtype = DTP_REC_I32, .num_classes = 3 },
	};
	static const int counts[] = { 3, 2, 0 };
	const char *dir = fuzz_tmpdir();
	struct dtp_shard sh[5];
	struct dtp_err err;
	char path[5][512], name[64];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/rec-%d.dtpr", dir, i);
		record_shard(path[i], &specs[i], counts[i]);
		snprintf(name, sizeof(name), "rec-%d", i);
		seed_file(outdir, "shard_rec", name, 1 | 8 << 1, path[i]);
	}
	snprintf(path[3], sizeof(path[3]), "%s/tok16.bin", dir);
	token_shard(path[3], 2, 33);
	seed_file(outdir, "shard_tok", "tok16", 4 << 1, path[3]);
	snprintf(path[4], sizeof(path[4]), "%s/tok32.bin", dir);
	token_shard(path[4], 4, 9);
	seed_file(outdir, "shard_tok", "tok32", 2 << 1, path[4]);
	token_shard(path[4], 4, 0);
	seed_file(outdir, "shard_tok", "tok32-empty", 0, path[4]);
	token_shard(path[4], 4, 9);
	for (i = 0; i < 5; i++)
		FUZZ_CHECK(dtp_shard_probe(path[i], 4, &sh[i], &err) == 0);
	FUZZ_CHECK(dtp_index_write(dir, sh, 2, dtp_index_now_ns(), &err) == 0);
	snprintf(name, sizeof(name), "%s/%s", dir, DTP_INDEX_NAME);
	seed_file(outdir, "index", "records", 1 | 4 << 1, name);
	FUZZ_CHECK(dtp_index_write(dir, sh + 3, 2, dtp_index_now_ns(), &err) == 0);
	seed_file(outdir, "index", "tokens", 1 | 4 << 1, name);
	FUZZ_CHECK(dtp_index_write(dir, sh, 5, dtp_index_now_ns(), &err) == 0);
	seed_file(outdir, "index", "mixed", 1 | 4 << 1, name);
	FUZZ_CHECK(dtp_index_write(dir, sh, 0, dtp_index_now_ns(), &err) == 0);
	seed_file(outdir, "index", "empty", 1, name);
	for (i = 0; i < 5; i++)
		dtp_shard_free(&sh[i]);
}

static void hellos(const char *outdir)
{
	struct dtp_link_config peer;
	uint8_t b[56] = { 0 };

	dtp_link_config_default(&peer);
	snprintf(peer.host, sizeof(peer.host), "%s", FUZZ_HELLO_HOST);
	peer.port = FUZZ_HELLO_PORT;
	peer.job_key = FUZZ_HELLO_JOB_KEY;
	peer.plan_hash = FUZZ_HELLO_PLAN_HASH;
	peer.self_stage = 0;
	peer.peer_stage = 1;
	peer.kind = DTP_TRANSPORT_TCP;
	dtp_hello_pack(&peer, b);
	seed_bytes(outdir, "hello", "tcp", b, DTP_HELLO_BYTES);
	seed_bytes(outdir, "hello", "tcp-reply", b, DTP_HELLO_REPLY_BYTES);
	peer.kind = DTP_TRANSPORT_VERBS;
	dtp_hello_pack(&peer, b);
	seed_bytes(outdir, "hello", "verbs-private-data", b, sizeof(b));
	peer.plan_hash++;
	dtp_hello_pack(&peer, b);
	seed_bytes(outdir, "hello", "other-plan", b, DTP_HELLO_BYTES);
}

static void frame(const char *outdir, const char *name, uint32_t seq, struct dtp_tag t, uint64_t len,
		  uint64_t cap, uint64_t max_msg)
{
	uint8_t b[DTP_FRAME_BYTES + 28];

	dtp_frame_pack(seq, &t, len, b);
	dtp_put_le32(b + 24, seq);
	dtp_put_le32(b + 28, t.step);
	b[32] = (uint8_t)t.micro, b[33] = (uint8_t)(t.micro >> 8);
	b[34] = (uint8_t)t.kind, b[35] = (uint8_t)(t.kind >> 8);
	dtp_put_le64(b + 36, cap);
	dtp_put_le64(b + 44, max_msg);
	seed_bytes(outdir, "frame", name, b, sizeof(b));
}


/* safetensors files from the writer: tensors of several dtypes and ranks */
static void safetensors(const char *outdir, const char *tmp)
{
	static const float w[2][3] = { { 1, -2, 3.5f }, { 0, 1e-3f, -7 } };
	static const int32_t ids[4] = { 7, -1, 1 << 20, 0 };
	static const uint16_t half[5] = { 0x3c00, 0xc000, 0, 0x7bff, 0x8001 };
	static const uint8_t flags[3] = { 1, 0, 1 };
	static const uint64_t s23[] = { 2, 3 }, s4[] = { 4 }, s5[] = { 5 }, s31[] = { 3, 1 };
	struct dtp_st_writer *wr;
	struct dtp_err err;
	char path[4096];

	snprintf(path, sizeof(path), "%s/seed.safetensors", tmp);
	FUZZ_CHECK(dtp_st_writer_create(&wr, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_meta(wr, "format", "pt", &err) == 0);
	FUZZ_CHECK(dtp_st_writer_add(wr, "fc.weight", DTP_ST_F32, 2, s23, w, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_add(wr, "ids", DTP_ST_I32, 1, s4, ids, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_add(wr, "half", DTP_ST_F16, 1, s5, half, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_add(wr, "flags", DTP_ST_BOOL, 2, s31, flags, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_add(wr, "scalar", DTP_ST_F32, 0, NULL, w[1] + 2, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_add(wr, "empty", DTP_ST_F32, 1, (const uint64_t[]){ 0 }, w, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_write(wr, path, &err) == 0);
	dtp_st_writer_destroy(wr);
	seed_plain(outdir, "safetensors", "mixed", path);
	{	/* the same with the last data byte flipped: its CRC-32C no longer matches */
		size_t n;
		uint8_t *b = slurp(path, 0, &n);

		b[n - 1] ^= 0x40;
		seed_bytes(outdir, "safetensors", "bad-crc", b, n);
		free(b);
	}
	FUZZ_CHECK(dtp_st_writer_create(&wr, &err) == 0);
	FUZZ_CHECK(dtp_st_writer_write(wr, path, &err) == 0);
	dtp_st_writer_destroy(wr);
	seed_plain(outdir, "safetensors", "no-tensors", path);
}

/* a checkpoint of fuzz_ckpt.h's run (with the momentum, or parameters only)
 * packed as fuzz_checkpoint reads it, behind `mode`; flip: with the stage
 * file's last data byte flipped (its CRC-32C no longer matches) */
static void checkpoint(const char *outdir, const char *tmp, const char *name, int momentum,
		       uint8_t mode, int flip)
{
	static const char *const roles[] = { DTP_CKPT_ROLE_PARAM, DTP_CKPT_ROLE_MOMENTUM };
	struct dtp_model_spec spec;
	struct dtp_ckpt_info info;
	struct dtp_ckpt_part *p;
	struct dtp_unit_info ui;
	struct dtp_err err;
	char dir[4096], sdir[4096 + 32], path[8192];
	uint8_t *man, *file, *b;
	size_t mn, fn;
	float v[64];

	fuzz_ckpt_run(&spec, &info);
	snprintf(dir, sizeof(dir), "%s/ckpt-%s", tmp, name);
	FUZZ_CHECK(dtp_ckpt_part_begin(dir, FUZZ_CKPT_STEP, 0, &p, &err) == 0);
	for (int u = 0; u < dtp_model_num_units(&spec); u++) {
		FUZZ_CHECK(dtp_unit_describe(&spec, u, &ui) == 0 && ui.n_params <= 64);
		for (int r = 0; r <= momentum; r++) {
			for (size_t i = 0; i < ui.n_params; i++)
				v[i] = (float)u - 0.5f * (float)r + (float)i / 16;
			FUZZ_CHECK(dtp_ckpt_part_add_unit(p, &spec, u, roles[r], v, &err) == 0);
		}
	}
	FUZZ_CHECK(dtp_ckpt_part_commit(p, &err) == 0);
	FUZZ_CHECK(dtp_ckpt_finish(dir, &info, dtp_model_num_units(&spec), 1, 0, &err) == 0);
	FUZZ_CHECK(dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, FUZZ_CKPT_STEP) == 0);
	snprintf(path, sizeof(path), "%s/%s", sdir, DTP_CKPT_MANIFEST);
	man = slurp(path, 0, &mn);
	snprintf(path, sizeof(path), "%s/%s", sdir, FUZZ_CKPT_FILE);
	file = slurp(path, 0, &fn);
	if (flip)
		file[fn - 1] ^= 0x40;
	FUZZ_CHECK(mn <= 0xffff);
	b = malloc(3 + mn + fn);
	FUZZ_CHECK(b);
	b[0] = mode;
	b[1] = (uint8_t)mn;
	b[2] = (uint8_t)(mn >> 8);
	memcpy(b + 3, man, mn);
	memcpy(b + 3 + mn, file, fn);
	seed_bytes(outdir, "checkpoint", name, b, 3 + mn + fn);
	free(b);
	free(man);
	free(file);
}

/* operation lists of fuzz_verbs.c (see its comment for the encoding) */
static void verbs(const char *outdir)
{
	static const uint8_t eager_recv[] = {
		1,                      /* slots 2 */
		0, 0, 0, 0, 2,          /* irecv (0,0,act) 40 bytes */
		3, 3, 2, 0, 0, 0, 2, 0, /* EAGER seq n, (0,0,act), 40 bytes */
		5 };
	static const uint8_t eager_early[] = {
		0,                      /* slots 1 */
		3, 3, 2, 1, 1, 1, 7, 0, /* EAGER before its irecv: (1,1,grad) 24 bytes */
		0, 1, 1, 1, 7,          /* irecv (1,1,grad) 24 bytes */
		3, 5, 2, 0, 0, 0, 0, 1  /* a CREDIT returning one */
	};
	static const uint8_t rndv_send[] = {
		1,
		1, 0, 0, 0, 4,          /* isend (0,0,act) 1025 bytes: RTS */
		5,                      /* RTS completes */
		3, 0, 2, 0, 0, 0, 4, 0, /* ADV seq 0 of buffer 0 */
		5, 5 };
	static const uint8_t rndv_recv[] = {
		2,
		0, 2, 3, 1, 5,          /* irecv (2,3,grad) 4096 bytes: ADV */
		0, 2, 3, 2, 6,          /* irecv (2,3,ctrl) 8192 bytes: ADV */
		5,
		4, 1, 3, 5,             /* WRITE seq n, micro 3, 4096 bytes */
		4, 1, 3, 4,             /* WRITE seq n, micro 3, 1025 bytes: mismatched micro */
		6, 4 };
	static const uint8_t mixed[] = {
		3,
		0, 0, 0, 0, 3, 1, 0, 0, 0, 3, 0, 1, 1, 1, 5, 1, 1, 1, 1, 4,
		3, 3, 2, 0, 0, 0, 3, 0, 3, 0, 2, 1, 1, 1, 4, 2, 4, 1, 1, 5,
		5, 5, 5, 3, 4, 2, 0, 0, 0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 6, 11 };

	seed_bytes(outdir, "verbs", "eager-recv", eager_recv, sizeof(eager_recv));
	seed_bytes(outdir, "verbs", "eager-early", eager_early, sizeof(eager_early));
	seed_bytes(outdir, "verbs", "rndv-send", rndv_send, sizeof(rndv_send));
	seed_bytes(outdir, "verbs", "rndv-recv", rndv_recv, sizeof(rndv_recv));
	seed_bytes(outdir, "verbs", "mixed", mixed, sizeof(mixed));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SRCDIR/tests/fuzz/corpus\n", argv[0]);
		return 2;
	}
	shards_and_index(argv[1]);
	hellos(argv[1]);
	verbs(argv[1]);
	safetensors(argv[1], fuzz_tmpdir());
	checkpoint(argv[1], fuzz_tmpdir(), "sgd", 1, 0, 0);
	checkpoint(argv[1], fuzz_tmpdir(), "sgd-fix-all", 1, FUZZ_CKPT_ALL_FIXES, 0);
	checkpoint(argv[1], fuzz_tmpdir(), "params-only", 0, FUZZ_CKPT_ALL_FIXES, 0);
	checkpoint(argv[1], fuzz_tmpdir(), "bad-data", 1, 0, 1);
	frame(argv[1], "act", 0, (struct dtp_tag){ 0, 0, DTP_MSG_ACT }, 4096, 4096, 1 << 20);
	frame(argv[1], "grad", 17, (struct dtp_tag){ 3, 5, DTP_MSG_GRAD }, 100, 4096, 1 << 20);
	frame(argv[1], "ctrl", 4, (struct dtp_tag){ 1, 0xffff, DTP_MSG_CTRL }, 24, 64, 64);
	printf("seeds written under %s\n", argv[1]);
	return 0;
}
