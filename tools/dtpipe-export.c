/* dtpipe-export: a checkpoint's model as one safetensors file.
 *   dtpipe-export [--step N] CKPT_DIR OUT.safetensors
 *   dtpipe-export --logits [--batch B] [--seed S] [--step N] CKPT_DIR OUT.safetensors
 * Exit status 0 on success, 2 on bad input (options, a corrupt or incomplete
 * checkpoint), 1 otherwise. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "pipeline/pipeline.h"

static void usage(FILE *f)
{
	fputs("usage: dtpipe-export [--step N] CKPT_DIR OUT.safetensors\n"
	      "       dtpipe-export --logits [--batch B] [--seed S] [--step N] CKPT_DIR OUT.safetensors\n"
	      "\n"
	      "Write the model of a dtpipe checkpoint as one safetensors file: every\n"
	      "parameter, named as in the checkpoint (unit.3.fc.weight), without\n"
	      "optimizer state; metadata dtpipe.model (the model spec) and dtpipe.step.\n"
	      "CKPT_DIR is a --checkpoint-dir (its newest complete checkpoint is used;\n"
	      "corrupt or incomplete ones are skipped with the reason) or one of its\n"
	      "step-NNNNNNNN directories. Every tensor is checked against its CRC-32C;\n"
	      "OUT is replaced atomically and only when everything checked.\n"
	      "\n"
	      "--step N     the checkpoint of step N (not the newest)\n"
	      "--logits     write instead the logits of one batch through the model, as\n"
	      "             dtpipe's own model code computes them: tensors \"inputs\" (gpt:\n"
	      "             I32 tokens (B, T); mlp: F32 features (B, in)) and \"logits\"\n"
	      "             (gpt: F32 (B, T, V); mlp: F32 (B, classes)); the inputs are\n"
	      "             uniform random (gpt tokens in [0, V), mlp features in [0, 1))\n"
	      "--batch B    samples in that batch (default 4, 1 to 65536)\n"
	      "--seed S     seed of that batch's random inputs (default 1)\n"
	      "--help       this text\n"
	      "Exit status: 0 done, 2 bad input (options, a corrupt, incomplete or missing\n"
	      "checkpoint), 1 other failure. See dtpipe-export(1).\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "step", required_argument, NULL, 's' },
		{ "logits", no_argument, NULL, 'l' },
		{ "batch", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dtp_err err;
	long step = -1, done = -1, batch = 4, seed = 1;
	int c, logits = 0, rc;

	dtp_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (dtp_parse_long(optarg, 0, LONG_MAX, &step)) {
				fprintf(stderr, "dtpipe-export: --step %s: expected a step number (0 or more)\n",
					optarg);
				return DTP_EXIT_BADINPUT;
			}
			break;
		case 'l': logits = 1; break;
		case 'b':
			if (dtp_parse_long(optarg, 1, 65536, &batch)) {
				fprintf(stderr, "dtpipe-export: --batch %s: expected a count from 1 to 65536\n",
					optarg);
				return DTP_EXIT_BADINPUT;
			}
			break;
		case 'S':
			if (dtp_parse_long(optarg, 0, LONG_MAX, &seed)) {
				fprintf(stderr, "dtpipe-export: --seed %s: expected an integer, 0 or more\n",
					optarg);
				return DTP_EXIT_BADINPUT;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return DTP_EXIT_BADINPUT;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "dtpipe-export: expected CKPT_DIR and OUT.safetensors (try --help)\n");
		return DTP_EXIT_BADINPUT;
	}
	/* one BLAS thread: the logits then equal a 1-thread-per-stage run's */
	dtp_blas_set_threads(1);
	if (logits)
		rc = dtp_ckpt_logits(argv[optind], step, argv[optind + 1], (int)batch, (uint64_t)seed, &done,
				     &err);
	else
		rc = dtp_ckpt_export(argv[optind], step, argv[optind + 1], &done, &err);
	if (rc) {
		fprintf(stderr, "dtpipe-export: error: %s\n", err.msg);
		if (rc == -EBADMSG)
			fprintf(stderr, "dtpipe-export: the checkpoint is not exported; an older one may be good: choose it with --step N\n");
		return dtp_err_exit(&err, rc);
	}
	printf("dtpipe-export: %s of step %ld written to %s\n", logits ? "logits" : "model", done,
	       argv[optind + 1]);
	return 0;
}
