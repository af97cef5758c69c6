/* Fuzz target: the checkpoint reader (dtp_checkpoint_load,
 * src/pipeline/checkpoint.c) of a real stage (fuzz_ckpt.h: model, optimizer,
 * loader). Input: one mode byte, then the checkpoint file. Mode bit 0: write
 * the right payload CRC into it (else the fuzzer never gets past the
 * checksum), bit 1: which of the two plans the stage runs. A checkpoint that
 * loads must have restored exactly its payload and a valid step and loader
 * position; a refused one must come with a message and leave the loader
 * where it was. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_ckpt.h"
#include "io/shard.h"   /* dtp_put_le32 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* built once per process: opening a loader per input would dominate */
	static struct fuzz_ckpt *stages[2];
	struct dtp_loader_pos before, after;
	struct dtp_err err = { 0 };
	const char *dir = fuzz_tmpdir();
	struct fuzz_ckpt *c;
	size_t no, np, payload;
	uint8_t *file;
	long step = -1;
	int rc, which;

	if (size < 1)
		return 0;
	which = (data[0] >> 1) & 1;
	if (!stages[which])
		stages[which] = fuzz_ckpt_open(which, dir);
	c = stages[which];
	np = dtp_stage_model_num_params(c->st.model);
	dtp_optim_state(c->st.optim, &no);
	payload = (np + no) * sizeof(float);
	file = malloc(size);
	FUZZ_CHECK(file);
	memcpy(file, data + 1, size - 1);
	size--;
	if ((data[0] & 1) && size >= FUZZ_CKPT_HEADER) {
		size_t n = size - FUZZ_CKPT_HEADER < payload ? size - FUZZ_CKPT_HEADER : payload;

		dtp_put_le32(file + FUZZ_CKPT_CRC_AT,
			     (uint32_t)crc32(0L, file + FUZZ_CKPT_HEADER, (uInt)n));
	}
	fuzz_write_file(dir, "stage-0.ckpt", file, size);
	dtp_loader_tell(c->st.train_in, &before);
	rc = dtp_checkpoint_load(&c->st, dir, &step, &err);
	dtp_loader_tell(c->st.train_in, &after);
	if (rc) {
		FUZZ_CHECK_ERR(rc, err);
		FUZZ_CHECK(rc != -ENOENT);
		FUZZ_CHECK(after.epoch == before.epoch && after.sample == before.sample);
	} else {
		FUZZ_CHECK(step >= 0);
		FUZZ_CHECK(size >= FUZZ_CKPT_HEADER + payload);
		FUZZ_CHECK(memcmp(dtp_stage_model_params(c->st.model), file + FUZZ_CKPT_HEADER,
				  np * sizeof(float)) == 0);
		FUZZ_CHECK(memcmp(dtp_optim_state(c->st.optim, &no),
				  file + FUZZ_CKPT_HEADER + np * sizeof(float), no * sizeof(float)) == 0);
	}
	free(file);
	return 0;
}
