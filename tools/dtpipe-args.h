/* dtpipe's command line (dtpipe-args.c). */
#ifndef DTP_TOOLS_DTPIPE_ARGS_H
#define DTP_TOOLS_DTPIPE_ARGS_H

#include <stddef.h>
#include <stdio.h>

#include "base/base.h"
#include "dtpipe-launch.h"

void dtp_args_usage(FILE *f);
/* argv into *a (zeroed by the caller); -EINVAL, said on stderr, on a bad
 * option or value */
int dtp_args_parse(int argc, char **argv, struct dtp_launch_args *a);
/* The plan as --plan names it, for the stages too. A directory is refused.
 * A pipe (--plan <(...)) or another stream can be read only once: it is read
 * here into a memfd that the stages inherit, and --plan (in argv, which the
 * child stages get) names /proc/self/fd/N instead. arg: room for that. */
int dtp_args_plan_once(struct dtp_launch_args *a, int argc, char **argv, char *arg, size_t len,
		       struct dtp_err *err);
/* An output file the run writes as it goes (--metrics) or at its end
 * (--trace: PATH.stage-N, then PATH): a path that cannot be written is
 * refused at start, not after the whole run. Nothing is created here. */
int dtp_args_check_output(const char *opt, const char *path, struct dtp_err *err);

#endif
