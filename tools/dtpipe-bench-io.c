/* dtpipe-bench-io: one epoch of a shard set through the loader, file order,
 * reporting shard bytes per second and the peak RSS. scripts/bench-io.sh runs
 * it beside fio on the same files.
 *   dtpipe-bench-io PATH [--seq-len T] [--direct -1|0|1] [--qd N]
 *                   [--block BYTES] [--budget BYTES] [--decode] */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

static long vm_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seq-len", required_argument, NULL, 'T' }, { "direct", required_argument, NULL, 'd' },
		{ "qd", required_argument, NULL, 'q' }, { "block", required_argument, NULL, 'b' },
		{ "budget", required_argument, NULL, 'm' }, { "decode", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	struct dtp_loader_config c;
	struct dtp_loader *l;
	struct dtp_dataset_info info;
	struct dtp_loader_io_stats st;
	struct dtp_err err;
	int decode = 0, o, n, B = 64;
	void *in = NULL;
	int32_t *tg = NULL;
	uint64_t samples = 0;
	double t0, dt;

	dtp_loader_config_default(&c);
	c.seq_len = 1024;
	c.shuffle = 0;
	c.wrap = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'T': c.seq_len = atoi(optarg); break;
		case 'd': c.direct = atoi(optarg); break;
		case 'q': c.queue_depth = atoi(optarg); break;
		case 'b': c.block_bytes = strtoull(optarg, NULL, 0); break;
		case 'm': c.budget_bytes = strtoull(optarg, NULL, 0); break;
		case 'x': decode = 1; break;
		default: return DTP_EXIT_BADINPUT;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: dtpipe-bench-io PATH [--seq-len T] [--direct -1|0|1] [--qd N] [--block BYTES] [--budget BYTES] [--decode]\n");
		return DTP_EXIT_BADINPUT;
	}
	c.path = argv[optind];
	if (dtp_loader_open(&c, &l, &err)) {
		fprintf(stderr, "dtpipe-bench-io: %s\n", err.msg);
		return dtp_exit_code(err.code);
	}
	dtp_loader_info(l, &info);
	if (decode) {
		in = malloc((size_t)B * info.input_elems * 4);
		tg = malloc((size_t)B * info.target_elems * 4);
		if (!in || !tg)
			return DTP_EXIT_FAIL;
		memset(in, 0, (size_t)B * info.input_elems * 4);
		memset(tg, 0, (size_t)B * info.target_elems * 4);
	}
	t0 = dtp_now();
	while ((n = dtp_loader_next(l, B, in, tg, &err)) > 0)
		samples += (uint64_t)n;
	dt = dtp_now() - t0;
	if (n < 0) {
		fprintf(stderr, "dtpipe-bench-io: %s\n", err.msg);
		return dtp_exit_code(n);
	}
	dtp_loader_io_stats(l, &st);
	printf("loader bytes=%llu samples=%llu seconds=%.3f GBps=%.3f direct=%d fixed=%d qd=%d block=%zu decode=%d reads=%llu requeued=%llu memory_MiB=%.1f peak_rss_MiB=%.1f\n",
	       (unsigned long long)st.bytes_read, (unsigned long long)samples, dt, (double)st.bytes_read / dt / 1e9,
	       st.direct, st.fixed_buffers, st.queue_depth, st.block_bytes, decode,
	       (unsigned long long)st.reads, (unsigned long long)st.requeued, (double)st.memory_bytes / 1048576.0,
	       (double)vm_hwm_kib() / 1024.0);
	dtp_loader_close(l);
	free(in);
	free(tg);
	return 0;
}
