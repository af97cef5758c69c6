/* dtpipe-bench-ckpt: checkpoint write and read times of one model through
 * the layout-free checkpoint store (dtp_ckpt_bench); run by
 * scripts/bench-ckpt.sh beside dd of the same bytes.
 *   dtpipe-bench-ckpt [--model SPEC] [--writers N] [--buffered] DIR
 * DIR must not hold a checkpoint of step 1 (use a fresh directory).
 * Prints one line: "bytes B write_s W read_s R write_cpu_s CW read_cpu_s CR
 * direct_files D" (CPU: this process's user + system seconds; D: how many of
 * the N files went with O_DIRECT; --buffered: never O_DIRECT, the page-cache
 * path as a reference). */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"
#include "pipeline/pipeline.h"

#define GPT2_SMALL "gpt:layers=12,dim=768,heads=12,seq=1024,vocab=50257"

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "writers", required_argument, NULL, 'w' },
		{ "buffered", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *model = GPT2_SMALL;
	struct dtp_model_spec spec;
	struct dtp_ckpt_bench b;
	struct dtp_err err;
	long writers = 1;
	int c, r, direct = 1;

	dtp_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'b': direct = 0; break;
		case 'w':
			if (dtp_parse_long(optarg, 1, 1024, &writers)) {
				fprintf(stderr, "dtpipe-bench-ckpt: --writers %s: expected 1 to 1024\n", optarg);
				return DTP_EXIT_BADINPUT;
			}
			break;
		case 'h':
			printf("usage: dtpipe-bench-ckpt [--model SPEC] [--writers N] [--buffered] DIR\n"
			       "  one checkpoint of SPEC (default " GPT2_SMALL ")\n"
			       "  with AdamW state, written by N parts then read back\n"
			       "  (--buffered: through the page cache, not O_DIRECT)\n");
			return 0;
		default: return DTP_EXIT_BADINPUT;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "dtpipe-bench-ckpt: expected one DIR (try --help)\n");
		return DTP_EXIT_BADINPUT;
	}
	r = dtp_model_spec_parse(model, &spec, &err);
	if (!r)
		r = dtp_ckpt_bench(argv[optind], &spec, (int)writers, direct, &b, &err);
	if (r) {
		fprintf(stderr, "dtpipe-bench-ckpt: error: %s\n", err.msg);
		return dtp_err_exit(&err, r);
	}
	printf("bytes %" PRIu64 " write_s %.3f read_s %.3f write_cpu_s %.3f read_cpu_s %.3f direct_files %d\n",
	       b.bytes, b.write_s, b.read_s, b.write_cpu_s, b.read_cpu_s, b.direct_files);
	return 0;
}
