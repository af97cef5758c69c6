/* Internal to the plan reader (plan_parse.c: lines, sections and keys;
 * plan_load.c: putting the pieces together, the entry points). */
#ifndef DTP_PARTITION_PLAN_PARSE_H
#define DTP_PARTITION_PLAN_PARSE_H

#include <stddef.h>
#include <stdio.h>

#include "partition/plan.h"

enum dtp_plan_key_type {
	DTP_PK_INT, DTP_PK_LONG, DTP_PK_U64, DTP_PK_FLOAT, DTP_PK_SIZE, DTP_PK_BOOL, DTP_PK_STR,
	DTP_PK_KIND, DTP_PK_WIDTHS, DTP_PK_SPEC, DTP_PK_SCHEDULE, DTP_PK_OPTIMIZER, DTP_PK_LRSCHED, DTP_PK_TRANSPORT,
	DTP_PK_NONFINITE,
	DTP_PK_PRECISION,
	DTP_PK_FP32_MATMUL,
};
enum dtp_plan_key_target { DTP_PT_PLAN, DTP_PT_OPTIM, DTP_PT_MODEL, DTP_PT_NONE };

struct dtp_plan_key {
	const char *section, *name;
	enum dtp_plan_key_type type;
	enum dtp_plan_key_target target;
	size_t offset, size;      /* size: string capacity */
	long min, max;            /* integer range */
};

extern const struct dtp_plan_key dtp_plan_keys[];
#define DTP_PLAN_N_KEYS 58
extern const char *const dtp_plan_stage_keys[];
#define DTP_PLAN_N_STAGE_KEYS 4
#define DTP_PLAN_MAX_SECTIONS (DTP_MAX_STAGES + 16)

struct dtp_plan_ctx {
	/* source: exactly one of text / file */
	const char *text;
	size_t pos;
	FILE *file;
	int line;                       /* line last read */
	const char *name;               /* for messages */
	struct dtp_plan *p;
	struct dtp_err *err;
	int code;                       /* first error (negative errno) or 0 */
	/* sections seen by the reader: name and header line */
	char sec_name[DTP_PLAN_MAX_SECTIONS][64];
	int sec_line[DTP_PLAN_MAX_SECTIONS];
	int n_sec;
	int key_line[DTP_PLAN_N_KEYS];
	int stage_line[DTP_MAX_STAGES];                 /* its [stage.N] header, 0 = absent */
	int stage_key_line[DTP_MAX_STAGES][DTP_PLAN_N_STAGE_KEYS];
	/* [model] and [train] pieces put together after the parse */
	struct dtp_model_spec spec_from_key, model_fields;
	enum dtp_model_kind kind;
	char widths[256];
	struct dtp_optim_config optim;   /* values given; applied over the kind's defaults */
	enum dtp_optim_kind optim_kind;
	int cosine;
};

/* Record the first error as "name:line: msg" (line from the context). */
void dtp_plan_fail(struct dtp_plan_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* inih callbacks: the line reader (stream = the context) and the key handler */
char *dtp_plan_reader(char *str, int num, void *stream);
int dtp_plan_handler(void *user, const char *section, const char *name, const char *value);

#endif
