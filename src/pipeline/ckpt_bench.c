/* The checkpoint store's benchmark (dtpipe-bench-ckpt, scripts/bench-ckpt.sh):
 * one checkpoint of a whole model with AdamW's state (parameters, m, v),
 * written through the store as a run's stages write it (dtp_ckpt_part_* per
 * writer, then dtp_ckpt_finish: fsync, manifest, latest), then dropped from
 * the page cache and read back as a resume reads it (dtp_ckpt_open, every
 * tensor of every unit and role through dtp_ckpt_read_unit, CRCs checked). */
#include "config.h"
#include "pipeline/pipeline.h"
#include "pipeline/ckpt_store.h"
#include "model/tensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const ROLES[3] = { DTP_CKPT_ROLE_PARAM, DTP_CKPT_ROLE_ADAM_M,
				      DTP_CKPT_ROLE_ADAM_V };

/* CPU seconds (user + system) this process used so far */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* drop the step directory's files from the page cache (they are synced) */
static void drop_cached(const char *sdir, int writers)
{
	char path[PATH_MAX + 64], name[64];

	for (int w = 0; w < writers; w++) {
		int fd;

		dtp_ckpt_file_name(name, sizeof(name), w);
		snprintf(path, sizeof(path), "%s/%s", sdir, name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

int dtp_ckpt_bench(const char *dir, const struct dtp_model_spec *spec, int writers,
		   int direct, struct dtp_ckpt_bench *out, struct dtp_err *err)
{
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];
	int n_units = dtp_model_num_units(spec), r = 0;
	struct dtp_ckpt_info info;
	size_t *uoff, n;
	struct dtp_ckpt *c = NULL;
	float *a;
	double t0, c0;

	memset(out, 0, sizeof(*out));
	if (writers < 1 || writers > n_units)
		return dtp_errf_input(err, -EINVAL, "checkpoint benchmark: %d writers for %d units",
				      writers, n_units);
	uoff = calloc((size_t)n_units + 1, sizeof(*uoff));
	if (!uoff)
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint benchmark: out of memory");
	for (int u = 0; u < n_units; u++) {
		int k = dtp_unit_tensors(spec, u, t);

		uoff[u + 1] = uoff[u] + t[k - 1].off + t[k - 1].n;
	}
	n = uoff[n_units];
	a = malloc(3 * n * sizeof(float));
	if (!a) {
		free(uoff);
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint benchmark: out of memory for %zu floats",
					3 * n);
	}
	for (size_t i = 0; i < 3 * n; i++)
		a[i] = (float)(i % 1000) * 1e-3f;
	memset(&info, 0, sizeof(info));
	info.step = 1;
	dtp_model_spec_format(spec, info.model, sizeof(info.model));
	snprintf(info.optimizer, sizeof(info.optimizer), "adamw");
	snprintf(info.rng, sizeof(info.rng), "benchmark");

	/* writers w holds units [w * n_units / writers, (w + 1) * n_units / writers) */
	t0 = dtp_now();
	c0 = cpu_s();
	for (int w = 0; w < writers && !r; w++) {
		struct dtp_ckpt_part *p;
		int used = 0;

		r = dtp_ckpt_part_begin(dir, 1, w, &p, err);
		if (!r)
			dtp_ckpt_part_set_direct(p, direct ? -1 : 0);
		for (int u = w * n_units / writers; !r && u < (w + 1) * n_units / writers; u++)
			for (int k = 0; k < 3 && !r; k++)
				r = dtp_ckpt_part_add_unit(p, spec, u, ROLES[k], a + k * n + uoff[u], err);
		if (!r) {
			r = dtp_ckpt_part_commit_direct(p, &used, err);
			out->direct_files += used;
		} else
			dtp_ckpt_part_abort(p);
	}
	if (!r)
		r = dtp_ckpt_finish(dir, &info, n_units, writers, 0, err);
	out->write_s = dtp_now() - t0;
	out->write_cpu_s = cpu_s() - c0;
	if (r)
		goto out_free;
	out->bytes = 3 * n * sizeof(float);

	memset(a, 0, 3 * n * sizeof(float));
	{
		char sdir[PATH_MAX];

		dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, 1);
		drop_cached(sdir, writers);
	}
	t0 = dtp_now();
	c0 = cpu_s();
	r = dtp_ckpt_open(dir, 1, &c, err);
	if (!r)
		dtp_ckpt_set_direct(c, direct);
	for (int u = 0; u < n_units && !r; u++)
		for (int k = 0; k < 3 && !r; k++)
			r = dtp_ckpt_read_unit(c, spec, u, ROLES[k], a + k * n + uoff[u], err);
	out->read_s = dtp_now() - t0;
	out->read_cpu_s = cpu_s() - c0;
	if (c)
		dtp_ckpt_close(c);
	for (size_t i = 0; !r && i < 3 * n; i++)
		if (a[i] != (float)(i % 1000) * 1e-3f)
			r = dtp_errf_runtime(err, -EIO, "checkpoint benchmark: float %zu read back differs", i);
out_free:
	free(a);
	free(uoff);
	return r;
}
