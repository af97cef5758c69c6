/* dtpipe-bench-cores: how much of each core this process gets right now
 * (src/base/cpuprobe.h): a register-only FMA loop timed on each allowed CPU
 * in turn ("alone") and on all of them at once ("together"). On a virtual
 * machine a core that the host shares with another tenant reads low while
 * the guest sees it idle; a timing taken on it measures the neighbour, not
 * the code. The benchmark scripts (scripts/bench-lib.sh) run it before and
 * after every timed round and keep the rounds during which every core ran
 * at full speed.
 *
 *   dtpipe-bench-cores [--secs S] [--state FILE] [--tolerance T] [--wait-quiet MAX_S]
 *   dtpipe-bench-cores --ident
 *
 * Full speed is the best rate any core has reached: in this call, or in any
 * earlier call that shares --state FILE (the best reading per core is kept
 * there, so that cores slowed alike are caught too; the file names the CPU
 * model it was read on, and a file from another model is ignored and
 * rewritten: a Zen 4 core's AVX-512 rate is half a Zen 5 core's). A reading is quiet when
 * every core, alone and together, reaches T (default 0.93) of that.
 * --wait-quiet MAX_S reads again every 2 s until one is quiet or MAX_S
 * seconds have passed. Output: one key=value line (stdout); exit 0 when the
 * last reading was quiet, 3 when not, 2 on bad arguments. --ident prints
 * the CPU (src/base/cpuid.h) and exits. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

#define EXIT_NOT_QUIET 3

struct reading {
	int n;
	int cpus[DTP_CPU_PROBE_MAX];
	double alone[DTP_CPU_PROBE_MAX], together[DTP_CPU_PROBE_MAX];
	double best[DTP_CPU_PROBE_MAX];  /* per CPU, over this call and the state file */
	double full;                     /* the best of best[] */
	double slowest;                  /* min over CPUs and modes of rate / full */
};

/* state file: "model KEY" (dtp_cpu_ident_key), then one "cpu rate" line per
 * CPU, the best reading seen on that model */
static void state_load(const char *path, const char *model, struct reading *r)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	char key[64];
	int cpu;
	double rate;

	if (!f)
		return;
	if (fscanf(f, "model %63s", key) != 1 || strcmp(key, model)) {
		fclose(f);
		return;
	}
	while (fscanf(f, "%d %lf", &cpu, &rate) == 2)
		for (int i = 0; i < r->n; i++)
			if (r->cpus[i] == cpu && rate > r->best[i])
				r->best[i] = rate;
	fclose(f);
}

static int state_save(const char *path, const char *model, const struct reading *r)
{
	char tmp[4096];
	FILE *f;

	if (!path)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "model %s\n", model);
	for (int i = 0; i < r->n; i++)
		fprintf(f, "%d %.3f\n", r->cpus[i], r->best[i]);
	if (fclose(f) || rename(tmp, path))
		return -errno;
	return 0;
}

/* model: this CPU's dtp_cpu_ident_key, which the state file must name */
static int read_once(struct reading *r, double secs, const char *state, const char *model)
{
	int rc = dtp_cpu_rates(r->cpus, r->n, secs, 0, r->alone);

	if (!rc && r->n > 1)
		rc = dtp_cpu_rates(r->cpus, r->n, secs, 1, r->together);
	else if (!rc)
		r->together[0] = r->alone[0];
	if (rc)
		return rc;
	for (int i = 0; i < r->n; i++) {
		r->best[i] = 0;
		if (r->alone[i] > r->best[i])
			r->best[i] = r->alone[i];
		if (r->together[i] > r->best[i])
			r->best[i] = r->together[i];
	}
	state_load(state, model, r);
	r->full = 0;
	for (int i = 0; i < r->n; i++)
		if (r->best[i] > r->full)
			r->full = r->best[i];
	r->slowest = 1;
	for (int i = 0; i < r->n; i++) {
		double a = r->alone[i] / r->full, t = r->together[i] / r->full;

		if (a < r->slowest)
			r->slowest = a;
		if (t < r->slowest)
			r->slowest = t;
	}
	return state_save(state, model, r);
}

static void print_list(FILE *f, const char *key, const double *v, int n)
{
	fprintf(f, " %s=", key);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%.1f", i ? "," : "", v[i]);
}

static void print_reading(FILE *f, const struct reading *r, int quiet, double waited)
{
	fprintf(f, "cpus=");
	for (int i = 0; i < r->n; i++)
		fprintf(f, "%s%d", i ? "," : "", r->cpus[i]);
	print_list(f, "alone", r->alone, r->n);
	print_list(f, "together", r->together, r->n);
	fprintf(f, " full=%.1f slowest=%.3f quiet=%d waited_s=%.0f\n", r->full, r->slowest, quiet,
		waited);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dtpipe-bench-cores [--secs S] [--state FILE] [--tolerance T] "
		   "[--wait-quiet MAX_S]\n"
		   "       dtpipe-bench-cores --ident   (print the CPU and exit)\n"
		   "  times a register-only FMA loop on each allowed CPU, in turn and all at "
		   "once;\n"
		   "  quiet (exit 0) when every core reaches T (default 0.93) of the best rate "
		   "seen\n"
		   "  (in this call or in --state FILE); exit 3 when not\n");
}

int main(int argc, char **argv)
{
	struct reading *r = calloc(1, sizeof(*r));
	const char *state = NULL;
	double secs = 0.25, tol = 0.93, wait_max = 0, t0 = dtp_now();
	int quiet, rc;
	struct dtp_cpu_ident id;
	char model[64];

	dtp_cpu_ident(&id);
	dtp_cpu_ident_key(&id, model, sizeof(model));

	if (!r) {
		fprintf(stderr, "dtpipe-bench-cores: out of memory\n");
		return DTP_EXIT_FAIL;
	}
	for (int i = 1; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--secs") && i + 1 < argc)
			secs = strtod(argv[++i], &end);
		else if (!strcmp(argv[i], "--tolerance") && i + 1 < argc)
			tol = strtod(argv[++i], &end);
		else if (!strcmp(argv[i], "--wait-quiet") && i + 1 < argc)
			wait_max = strtod(argv[++i], &end);
		else if (!strcmp(argv[i], "--state") && i + 1 < argc)
			state = argv[++i];
		else if (!strcmp(argv[i], "--ident")) {
			char line[256];

			printf("%s\n", dtp_cpu_ident_str(&id, line, sizeof(line)));
			free(r);
			return DTP_EXIT_OK;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			free(r);
			return DTP_EXIT_OK;
		} else {
			fprintf(stderr, "dtpipe-bench-cores: unknown or incomplete option '%s'\n",
				argv[i]);
			usage(stderr);
			free(r);
			return DTP_EXIT_BADINPUT;
		}
		if (end && *end) {
			fprintf(stderr, "dtpipe-bench-cores: %s: '%s' is not a number\n",
				argv[i - 1], argv[i]);
			free(r);
			return DTP_EXIT_BADINPUT;
		}
	}
	if (!(secs > 0 && secs <= 60) || !(tol > 0 && tol <= 1) || !(wait_max >= 0)) {
		fprintf(stderr, "dtpipe-bench-cores: need 0 < --secs <= 60, 0 < --tolerance <= 1, "
				"--wait-quiet >= 0\n");
		free(r);
		return DTP_EXIT_BADINPUT;
	}
	r->n = dtp_cpu_allowed(r->cpus, DTP_CPU_PROBE_MAX);
	if (r->n < 1) {
		fprintf(stderr, "dtpipe-bench-cores: cannot read this process's CPUs: %s\n",
			strerror(r->n < 0 ? -r->n : EINVAL));
		free(r);
		return DTP_EXIT_FAIL;
	}
	for (;;) {
		rc = read_once(r, secs, state, model);
		if (rc) {
			fprintf(stderr, "dtpipe-bench-cores: probe failed: %s\n", strerror(-rc));
			free(r);
			return DTP_EXIT_FAIL;
		}
		quiet = r->slowest >= tol;
		if (quiet || dtp_now() - t0 >= wait_max)
			break;
		fprintf(stderr, "dtpipe-bench-cores: not quiet (slowest core at %.2f of full "
				"speed); waiting\n", r->slowest);
		sleep(2);
	}
	print_reading(stdout, r, quiet, dtp_now() - t0);
	free(r);
	return quiet ? DTP_EXIT_OK : EXIT_NOT_QUIET;
}
