/* dtpipe-bench-io: one epoch of a shard set through the loader, reporting
 * shard bytes per second and the peak RSS. scripts/bench-io.sh runs it beside
 * fio on the same files.
 *   dtpipe-bench-io PATH [--seq-len T] [--direct -1|0|1] [--qd N] [--block BYTES]
 *                   [--budget BYTES] [--deliver raw|inputs|targets|both]
 *                   [--batch B] [--shuffle 0|1]
 * --deliver raw: dtp_loader_next with NULL outputs (ring, completions, window
 * walk: the read path alone); inputs: float32 / int32 inputs only, as the
 * first pipeline stage asks; targets: targets only, as the last stage asks;
 * both: a one-stage run. --batch: samples per call (default 64 records or 8
 * token windows, as the pipeline's micro-batches). --shuffle 1: the seeded
 * shard order and window shuffle of training (default 0: file order).
 * The time runs from before dtp_loader_open (which reads the first window)
 * to the end of the epoch; the batch buffers are allocated and zeroed before
 * the first read is waited for, a cost of well under a millisecond.
 *
 * --reference (with --deliver inputs or targets): not the loader but the
 * simplest loop that delivers the same values: each shard in file order,
 * pread of --block bytes at a time (O_DIRECT with --direct 1), each sample
 * decoded by the same conversions into a batch buffer, in file order (no
 * shuffle, no window, no io_uring, one read at a time). A yardstick for the
 * delivery rows, which fio (no decode) is not. --checksum prints a hash of
 * the delivered values in order, the same for the loader in file order
 * (--shuffle 0) and for the reference loop when both deliver the same. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"

static int parse_deliver(const char *s)
{
	static const char *const names[] = { "raw", "inputs", "targets", "both" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* --checksum: a hash of the delivered values, sample by sample, in order (the
 * loader in file order and the reference loop must agree) */
static uint64_t fold(uint64_t h, const void *sample, size_t words)
{
	const uint32_t *w = sample;
	size_t i;

	for (i = 0; i < words; i++)
		h = h * 1000003u + w[i];
	return h;
}

/* --reference: see the top of the file */
static void fold_sample(void *arg, const uint32_t *words, size_t n)
{
	uint64_t *sum = arg;

	*sum = fold(*sum, words, n);
}

static int reference(const struct dtp_loader_config *c, int deliver, int B, int check)
{
	struct dtp_io_reference r;
	struct dtp_err err = { 0 };
	uint64_t sum = 0;
	double t0 = dtp_now(), dt;
	int rc;

	rc = dtp_io_reference_epoch(c, deliver, B, &r, check ? fold_sample : NULL, &sum, &err);
	dt = dtp_now() - t0;
	if (rc) {
		fprintf(stderr, "dtpipe-bench-io: %s\n", err.msg);
		return dtp_err_exit(&err, rc);
	}
	printf("reference bytes=%llu samples=%llu seconds=%.3f GBps=%.3f direct=%d block=%zu deliver=%s batch=%d peak_rss_MiB=%.1f\n",
	       (unsigned long long)r.bytes, (unsigned long long)r.samples, dt, (double)r.bytes / dt / 1e9, c->direct == 1, c->block_bytes,
	       deliver == 1 ? "inputs" : "targets", r.batch, (double)dtp_peak_rss() / 1048576.0);
	if (check)
		printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: dtpipe-bench-io PATH [--seq-len T] [--direct -1|0|1] [--qd N] [--block BYTES]\n"
"                       [--budget BYTES] [--deliver raw|inputs|targets|both] [--batch B]\n"
"                       [--shuffle 0|1] [--checksum]\n"
"       dtpipe-bench-io PATH --reference --deliver inputs|targets [--checksum] [--seq-len T]\n"
"                       [--direct 0|1] [--block BYTES] [--batch B]\n"
"One epoch of the dataset PATH (a directory or glob of shards) through the loader:\n"
"shard bytes per second and the peak RSS.\n"
"\n"
"  --seq-len T      T for token shards, 1..16777216 (default 1024)\n"
"  --direct D       -1 O_DIRECT where accepted, 0 never, 1 required (default -1)\n"
"  --qd N           io_uring reads in flight, 2..4096 (default 8)\n"
"  --block BYTES    read size, a multiple of 4096 (default 1 MiB)\n"
"  --budget BYTES   all loader memory (default 64 MiB)\n"
"  --deliver WHAT   raw (no outputs), inputs, targets or both (default raw)\n"
"  --decode         the same as --deliver both\n"
"  --batch B        samples per call, 1..1048576 (default 64 records, 8 windows)\n"
"  --shuffle 0|1    the seeded order of training (default 0: file order)\n"
"  --reference      the simplest pread loop that delivers the same values\n"
"  --checksum       print a hash of the delivered values in order\n"
"  -h, --help       this text\n"
"\n"
"Exit status: 0 on success, 2 on bad input (options, dataset), 1 otherwise.\n");
}

/* a whole decimal (or 0x) number in [lo, hi], else a message and -EINVAL */
static int num(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "dtpipe-bench-io: --%s %s: expected an integer from %lld to %lld (try --help)\n",
			opt, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seq-len", required_argument, NULL, 'T' }, { "direct", required_argument, NULL, 'd' },
		{ "qd", required_argument, NULL, 'q' }, { "block", required_argument, NULL, 'b' },
		{ "budget", required_argument, NULL, 'm' }, { "decode", no_argument, NULL, 'x' },
		{ "deliver", required_argument, NULL, 'D' }, { "batch", required_argument, NULL, 'B' },
		{ "shuffle", required_argument, NULL, 's' }, { "reference", no_argument, NULL, 'R' },
		{ "checksum", no_argument, NULL, 'C' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const dnames[] = { "raw", "inputs", "targets", "both" };
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_dataset_info info;
	struct dtp_loader_io_stats st;
	struct dtp_err err;
	int deliver = 0, o, n, B = 0, rc = 0, ref = 0, check = 0;
	uint64_t sum = 0;
	void *in = NULL;
	int32_t *tg = NULL;
	uint64_t samples = 0;
	double t0, t_open, dt;

	dtp_loader_config_default(&c);
	c.seq_len = 1024;
	c.shuffle = 0;
	c.wrap = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		long long v = 0;

		switch (o) {
		case 'T': rc = num("seq-len", optarg, 1, 1 << 24, &v); c.seq_len = (int)v; break;
		case 'd': rc = num("direct", optarg, -1, 1, &v); c.direct = (int)v; break;
		case 'q': rc = num("qd", optarg, 2, 4096, &v); c.queue_depth = (int)v; break;
		case 'b': rc = num("block", optarg, DTP_IO_ALIGN, 1ll << 30, &v); c.block_bytes = (size_t)v; break;
		case 'm': rc = num("budget", optarg, 1, 1ll << 40, &v); c.budget_bytes = (size_t)v; break;
		case 'x': deliver = 3; break;
		case 'D':
			deliver = parse_deliver(optarg);
			if (deliver < 0) {
				fprintf(stderr, "dtpipe-bench-io: --deliver %s: use raw, inputs, targets or both\n",
					optarg);
				return DTP_EXIT_BADINPUT;
			}
			break;
		case 'B': rc = num("batch", optarg, 1, 1 << 20, &v); B = (int)v; break;
		case 's': rc = num("shuffle", optarg, 0, 1, &v); c.shuffle = (int)v; break;
		case 'R': ref = 1; break;
		case 'C': check = 1; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'dtpipe-bench-io --help'.\n");
			return DTP_EXIT_BADINPUT;
		}
		if (rc)
			return DTP_EXIT_BADINPUT;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "dtpipe-bench-io: %s (try --help)\n",
			optind == argc ? "give the dataset PATH" : "one dataset PATH only");
		return DTP_EXIT_BADINPUT;
	}
	if (ref && deliver != 1 && deliver != 2) {
		fprintf(stderr, "dtpipe-bench-io: --reference needs --deliver inputs or targets\n");
		return DTP_EXIT_BADINPUT;
	}
	if (c.block_bytes % DTP_IO_ALIGN) {
		fprintf(stderr, "dtpipe-bench-io: --block %zu: expected a multiple of %u\n",
			c.block_bytes, DTP_IO_ALIGN);
		return DTP_EXIT_BADINPUT;
	}
	c.path = argv[optind];
	if (ref)
		return reference(&c, deliver, B, check);
	t0 = dtp_now();   /* the open reads the headers and, with shuffle, the first window */
	if (dtp_loader_open(&c, &l, &err)) {
		fprintf(stderr, "dtpipe-bench-io: %s\n", err.msg);
		return dtp_err_exit(&err, err.code);
	}
	t_open = dtp_now() - t0;
	dtp_loader_info(l, &info);
	if (B == 0)
		B = info.kind == DTP_DATASET_TOKENS ? 8 : 64;
	if (deliver == 1 || deliver == 3)
		in = calloc((size_t)B * info.input_elems, 4);
	if (deliver == 2 || deliver == 3)
		tg = calloc((size_t)B * info.target_elems, 4);
	if (((deliver == 1 || deliver == 3) && !in) || ((deliver == 2 || deliver == 3) && !tg)) {
		fprintf(stderr, "dtpipe-bench-io: out of memory for a batch of %d\n", B);
		rc = DTP_EXIT_FAIL;
		goto out_close;
	}
	while ((n = dtp_loader_next(l, B, in, tg, &err)) > 0) {
		int i;

		for (i = 0; check && i < n && (deliver == 1 || deliver == 2); i++)
			sum = deliver == 1 ? fold(sum, (float *)in + (size_t)i * info.input_elems, info.input_elems)
					   : fold(sum, tg + (size_t)i * info.target_elems, info.target_elems);
		samples += (uint64_t)n;
	}
	dt = dtp_now() - t0;
	if (n < 0) {
		fprintf(stderr, "dtpipe-bench-io: %s\n", err.msg);
		rc = dtp_err_exit(&err, n);
		goto out_close;
	}
	dtp_loader_io_stats(l, &st);
	if (check)
		printf("checksum %016llx\n", (unsigned long long)sum);
	printf("loader bytes=%llu samples=%llu seconds=%.3f open_seconds=%.3f GBps=%.3f direct=%d fixed=%d qd=%d block=%zu deliver=%s batch=%d shuffle=%d window=%zu reads=%llu requeued=%llu memory_MiB=%.1f peak_rss_MiB=%.1f\n",
	       (unsigned long long)st.bytes_read, (unsigned long long)samples, dt, t_open, (double)st.bytes_read / dt / 1e9,
	       st.direct, st.fixed_buffers, st.queue_depth, st.block_bytes, dnames[deliver], B, c.shuffle,
	       st.window_samples, (unsigned long long)st.reads, (unsigned long long)st.requeued,
	       (double)st.memory_bytes / 1048576.0, (double)dtp_peak_rss() / 1048576.0);
out_close:
	dtp_loader_close(l);
	free(in);
	free(tg);
	return rc;
}
