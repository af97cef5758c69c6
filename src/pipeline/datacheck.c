/* The datasets against the model, at open: a record dataset whose feature
 * width differs from the mlp's input would make the loader write rows of the
 * wrong length (past the end of a narrower buffer, or misaligned into a wider
 * one), labels past the model's outputs make the loss meaningless, and
 * record shards cannot feed a gpt (nor token shards an mlp). Each is bad
 * input, named with the dataset, the model and what to change. */
#include "config.h"
#include "pipeline/stage.h"

#include <errno.h>

static const char *kind_text(enum dtp_dataset_kind k)
{
	return k == DTP_DATASET_TOKENS ? "token shards (llm.c *.bin)" :
					 "record shards (dtpipe *.dtpr: features and a label)";
}

int dtp_stage_check_data(const struct dtp_plan *p, const char *path,
			 const struct dtp_dataset_info *info, struct dtp_err *err)
{
	const struct dtp_model_spec *m = &p->model;
	int gpt = m->kind == DTP_MODEL_GPT, classes;

	if (gpt && info->kind != DTP_DATASET_TOKENS)
		return dtp_errf_input(err, -EINVAL,
				      "%s: holds %s, but the model of %s is a gpt, which reads token shards: give [data] a token dataset (llm.c *.bin), or train an mlp on records",
				      path, kind_text(info->kind), p->path);
	if (!gpt && info->kind != DTP_DATASET_RECORDS)
		return dtp_errf_input(err, -EINVAL,
				      "%s: holds %s, but the model of %s is an mlp, which reads record shards: give [data] a record dataset (dtpipe-shard), or train a gpt on tokens",
				      path, kind_text(info->kind), p->path);
	if (gpt)
		return 0;   /* T comes from the model; tokens are checked against vocab as they come */
	if (info->input_elems != (size_t)m->widths[0])
		return dtp_errf_input(err, -EINVAL,
				      "%s: each sample has %zu features but the model of %s takes %d inputs (the first width of [model] spec): make the spec start with %zu, or use a dataset of %d features",
				      path, info->input_elems, p->path, m->widths[0], info->input_elems,
				      m->widths[0]);
	classes = m->widths[m->n_widths - 1];
	if (info->num_classes > classes)
		return dtp_errf_input(err, -EINVAL,
				      "%s: labels 0..%d (%d classes, from the shard header) but the model of %s has %d outputs (the last width of [model] spec): make the spec end with %d",
				      path, info->num_classes - 1, info->num_classes, p->path, classes,
				      info->num_classes);
	return 0;
}
