/* The checkpoint fuzz_checkpoint reads and mkseeds writes: step
 * FUZZ_CKPT_STEP of a one-file checkpoint (src/pipeline/ckpt_store.h) of a
 * small mlp trained with SGD and momentum, parameters and momentum of every
 * unit in stage-0.safetensors. Its input:
 *   mode byte, manifest length L (2 bytes, little-endian), L bytes of
 *   manifest.json, then the bytes of stage-0.safetensors.
 * Mode bit 0: write the right CRC-32C of each tensor into the stage file's
 * header; bit 1: write the stage file's CRCs and size into the manifest's
 * entries; bit 2: write the manifest's own checksum (else the fuzzer never
 * gets past the checksums). Static inline functions; a test harness header. */
#ifndef DTP_TESTS_FUZZ_CKPT_H
#define DTP_TESTS_FUZZ_CKPT_H

#include "fuzz.h"

#include "model/model.h"
#include "pipeline/ckpt_store.h"

#define FUZZ_CKPT_SPEC "mlp:6-5-3"
#define FUZZ_CKPT_STEP 5
#define FUZZ_CKPT_FILE "stage-0.safetensors"
#define FUZZ_CKPT_FIX_FILE_CRC 1
#define FUZZ_CKPT_FIX_MANIFEST 2
#define FUZZ_CKPT_FIX_CHECKSUM 4
#define FUZZ_CKPT_ALL_FIXES 7

/* the model and the facts of the run that resumes from it */
static inline void fuzz_ckpt_run(struct dtp_model_spec *spec, struct dtp_ckpt_info *in)
{
	FUZZ_CHECK(dtp_model_spec_parse(FUZZ_CKPT_SPEC, spec, NULL) == 0);
	memset(in, 0, sizeof(*in));
	in->step = FUZZ_CKPT_STEP;
	FUZZ_CHECK(dtp_model_spec_format(spec, in->model, sizeof(in->model)) > 0);
	snprintf(in->optimizer, sizeof(in->optimizer), "sgd");
	snprintf(in->optim_settings, sizeof(in->optim_settings), "lr=0.01 momentum=0.9");
	snprintf(in->training, sizeof(in->training), "seed=7 batch=4 micro=2");
	snprintf(in->rng, sizeof(in->rng), "philox4x32-10 seed=7");
	in->n_pos = 1;
	snprintf(in->pos[0].name, sizeof(in->pos[0].name), "train.inputs");
	in->pos[0].epoch = 1;
	in->pos[0].sample = 20;
}

#endif
