/* Internal to src/pipeline: the layout-free checkpoint store
 * (docs/checkpoint-format.md).
 *
 *   DIR/step-NNNNNNNN/stage-K.safetensors   one file per writer, tensors named
 *                                            per model unit and role
 *   DIR/step-NNNNNNNN/manifest.json          written last: the checkpoint is
 *                                            complete when it exists and checks
 *   DIR/latest                               "step-NNNNNNNN", replaced atomically
 *                                            after the manifest
 *
 * Saving: every writer (stage) calls dtp_ckpt_part_begin / _add_unit (or _add) /
 * _commit for its own units, in parallel with the others; when all have
 * committed, one process calls dtp_ckpt_finish, which reads the files' headers,
 * writes the manifest, moves `latest` and keeps the newest N.
 * Loading: dtp_ckpt_find (newest complete and valid, skipping others with the
 * reason) or dtp_ckpt_open, dtp_ckpt_compatible against this run's facts, then
 * dtp_ckpt_read_unit for whichever units this stage now holds, whichever file
 * holds them. Nothing here knows about stages' links or plans. */
#ifndef DTP_PIPELINE_CKPT_STORE_H
#define DTP_PIPELINE_CKPT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "model/model.h"

#include <jansson.h>

#define DTP_CKPT_TEXT_MAX 512
#define DTP_CKPT_MAX_POS 4
#define DTP_CKPT_MANIFEST "manifest.json"
#define DTP_CKPT_LATEST "latest"
#define DTP_CKPT_FORMAT "dtpipe-checkpoint"
#define DTP_CKPT_VERSION 1

/* Tensor roles: the parameters themselves (NULL or ""), and optimizer state
 * arrays, which have the parameters' layout. */
#define DTP_CKPT_ROLE_PARAM ""
#define DTP_CKPT_ROLE_MOMENTUM "momentum"
#define DTP_CKPT_ROLE_ADAM_M "adam_m"
#define DTP_CKPT_ROLE_ADAM_V "adam_v"

/* a data position (one per loader) */
struct dtp_ckpt_pos {
	char name[32];             /* "train.inputs", "train.targets" */
	uint64_t epoch, sample;
};

/* Everything besides tensors that makes a resumed run continue exactly;
 * all of it is in the manifest and covered by its checksum. The text fields
 * are canonical forms made by the caller: two runs are compatible when they
 * are equal. */
struct dtp_ckpt_info {
	long step;                              /* optimizer steps done */
	char model[DTP_CKPT_TEXT_MAX];          /* dtp_model_spec_format() */
	char optimizer[32];                     /* "sgd", "adamw" */
	char optim_settings[DTP_CKPT_TEXT_MAX]; /* lr, betas, decay, clip, warmup... */
	char training[DTP_CKPT_TEXT_MAX];       /* plan settings that change results */
	char rng[DTP_CKPT_TEXT_MAX];            /* RNG state, e.g. "philox4x32-10 seed=42" */
	/* the learning-rate schedule as the writing run ran it ("warmup=W
	 * decay_end=T"): the plan's, or fitted to the run's length (a cosine
	 * decay to the end of the run, a warm-up longer than a shortened run).
	 * "" in manifests written before it was recorded. A resume compares it
	 * once it knows its own length (dtp_stage_ckpt_load), not in
	 * dtp_ckpt_compatible. */
	char schedule[64];
	int n_pos;
	struct dtp_ckpt_pos pos[DTP_CKPT_MAX_POS];
};

/* ------------------------------------------------------------------ names */

/* "unit.3.fc.weight" (role NULL or "") or "unit.3.fc.weight.adam_m";
 * -ENAMETOOLONG / -EINVAL */
int dtp_ckpt_tensor_name(char *buf, size_t len, int unit, const char *tensor, const char *role);
/* "DIR/step-00000120" */
int dtp_ckpt_step_dir(char *buf, size_t len, const char *dir, long step);
/* "stage-3.safetensors" */
int dtp_ckpt_file_name(char *buf, size_t len, int writer);
/* "step-00000120" (at least 8 digits, nothing else) -> 120; -1 for other names */
long dtp_ckpt_parse_step_name(const char *name);

/* ----------------------------------------------------------------- saving */

struct dtp_ckpt_part;
/* Start writer `writer`'s file of step `step` under dir (both directories are
 * created). A step that already has a manifest is never overwritten: -EEXIST. */
int dtp_ckpt_part_begin(const char *dir, long step, int writer, struct dtp_ckpt_part **out,
			struct dtp_err *err);
/* one F32 tensor of unit `unit`; data stays the caller's until commit */
int dtp_ckpt_part_add(struct dtp_ckpt_part *p, int unit, const char *tensor, const char *role,
		      int ndim, const size_t *shape, const float *data, struct dtp_err *err);
/* every tensor of global unit `unit` (dtp_unit_tensors), from `unit_data`: the
 * unit's slice of the parameter array, or of an optimizer state array */
int dtp_ckpt_part_add_unit(struct dtp_ckpt_part *p, const struct dtp_model_spec *spec,
			   int unit, const char *role, const float *unit_data,
			   struct dtp_err *err);
/* The file's data goes with O_DIRECT where the file system takes it (mode -1,
 * the default) or never (0: the benchmark's buffered reference); the same
 * bytes either way (safetensors.h) */
void dtp_ckpt_part_set_direct(struct dtp_ckpt_part *p, int mode);
/* write the file atomically and free p (also on failure); *direct (when not
 * NULL) = 1 when its data went with O_DIRECT */
int dtp_ckpt_part_commit_direct(struct dtp_ckpt_part *p, int *direct, struct dtp_err *err);
/* write the file atomically and free p (also on failure) */
int dtp_ckpt_part_commit(struct dtp_ckpt_part *p, struct dtp_err *err);
void dtp_ckpt_part_abort(struct dtp_ckpt_part *p);

/* After writers 0..n_files-1 committed step info->step: check their files
 * (headers), require a tensor of every unit 0..n_units-1, write the manifest
 * (atomically, never over an existing one), move `latest`, then delete the
 * checkpoints older than the newest `keep` complete ones (keep <= 0: keep all;
 * a failure to delete is only a warning). */
int dtp_ckpt_finish(const char *dir, const struct dtp_ckpt_info *info, int n_units,
		    int n_files, int keep, struct dtp_err *err);

/* ---------------------------------------------------------------- loading */

struct dtp_ckpt;
/* Open step `step` under dir and check it without reading the data: the
 * manifest exists (-ENOENT: incomplete), parses, its checksum matches, its step
 * is the directory's, every file it lists is there with the same tensors,
 * shapes and CRC-32C in its header, names are unique, every unit is present.
 * -EBADMSG (corrupt) with a message naming the file and tensor. */
int dtp_ckpt_open(const char *dir, long step, struct dtp_ckpt **out, struct dtp_err *err);
/* The newest checkpoint under dir with step < before (LONG_MAX: any) that
 * dtp_ckpt_open accepts; each one skipped is logged with its reason (a
 * warning) and left as it is. -ENOENT when there is none. */
int dtp_ckpt_find(const char *dir, long before, struct dtp_ckpt **out, struct dtp_err *err);
void dtp_ckpt_close(struct dtp_ckpt *c);
const struct dtp_ckpt_info *dtp_ckpt_get_info(const struct dtp_ckpt *c);
const char *dtp_ckpt_dir(const struct dtp_ckpt *c);     /* "DIR/step-NNNNNNNN" */
int dtp_ckpt_num_units(const struct dtp_ckpt *c);
/* -EINVAL naming the first field (model, optimizer, settings, training, rng)
 * in which the checkpoint `have` differs from this run's `want` */
int dtp_ckpt_compatible(const struct dtp_ckpt_info *have, const struct dtp_ckpt_info *want,
			const char *where, struct dtp_err *err);
/* Read one tensor from whichever file holds it, checking dtype, shape and the
 * CRC-32C: -ENOENT (not in the checkpoint), -EINVAL (shape), -EBADMSG (corrupt) */
int dtp_ckpt_read(const struct dtp_ckpt *c, int unit, const char *tensor, const char *role,
		  int ndim, const size_t *shape, float *dst, struct dtp_err *err);
/* every tensor of unit `unit` into its slice of a parameter or state array */
int dtp_ckpt_read_unit(const struct dtp_ckpt *c, const struct dtp_model_spec *spec, int unit,
		       const char *role, float *unit_data, struct dtp_err *err);
/* reads with O_DIRECT where it can (on, the default) or never (0) */
void dtp_ckpt_set_direct(struct dtp_ckpt *c, int on);
/* read every file's data and check each CRC-32C (what a load would find) */
int dtp_ckpt_verify(const struct dtp_ckpt *c, struct dtp_err *err);

/* ------------------------------------------- shared by ckpt_store.c / ckpt_load.c */

/* CRC-32C of the manifest's content without "checksum" (compact, sorted keys) */
int dtp_ckpt_manifest_checksum(json_t *manifest, uint32_t *out);
/* steps of the step-* directories under dir, descending; *n of them (malloc'd) */
int dtp_ckpt_list_steps(const char *dir, long **steps, int *n, struct dtp_err *err);

#endif
