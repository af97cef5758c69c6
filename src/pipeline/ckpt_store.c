/* The checkpoint store's layout and its writing side: names, one safetensors
 * file per writer, the manifest written last, the `latest` pointer and keeping
 * the newest N (ckpt_store.h; reading is in ckpt_load.c). */
#include "config.h"
#include "pipeline/ckpt_store.h"
#include "base/crc32c.h"
#include "base/durable.h"
#include "io/safetensors.h"
#include "model/tensors.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dtp_ckpt_tensor_name(char *buf, size_t len, int unit, const char *tensor, const char *role)
{
	int n;

	if (unit < 0 || !tensor || !*tensor)
		return -EINVAL;
	if (role && *role)
		n = snprintf(buf, len, "unit.%d.%s.%s", unit, tensor, role);
	else
		n = snprintf(buf, len, "unit.%d.%s", unit, tensor);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dtp_ckpt_step_dir(char *buf, size_t len, const char *dir, long step)
{
	int n = snprintf(buf, len, "%s/step-%08ld", dir, step);

	return step < 0 ? -EINVAL : n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dtp_ckpt_file_name(char *buf, size_t len, int writer)
{
	int n = snprintf(buf, len, "stage-%d.safetensors", writer);

	return writer < 0 ? -EINVAL : n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

long dtp_ckpt_parse_step_name(const char *name)
{
	const char *d = name + 5;
	long v = 0;
	size_t n;

	if (strncmp(name, "step-", 5) != 0)
		return -1;
	n = strlen(d);
	if (n < 8 || n > 18 || strspn(d, "0123456789") != n)
		return -1;
	for (; *d; d++)
		v = v * 10 + (*d - '0');
	return v;
}

/* ----------------------------------------------------------------- parts */

struct dtp_ckpt_part {
	struct dtp_st_writer *w;
	char path[PATH_MAX];
};

static int make_dir(const char *path, struct dtp_err *err)
{
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		return dtp_errf_input(err, -errno, "checkpoint: cannot create directory %s: %s; check the path and the free space",
				      path, strerror(errno));
	return 0;
}

int dtp_ckpt_part_begin(const char *dir, long step, int writer, struct dtp_ckpt_part **out,
			struct dtp_err *err)
{
	char sdir[PATH_MAX], man[PATH_MAX + 32], name[64];
	struct dtp_ckpt_part *p;
	int r;

	*out = NULL;
	if (dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, step) ||
	    dtp_ckpt_file_name(name, sizeof(name), writer))
		return dtp_errf_input(err, -EINVAL, "checkpoint: bad step %ld or writer %d under %s",
				      step, writer, dir);
	r = make_dir(dir, err);
	if (!r)
		r = make_dir(sdir, err);
	if (r)
		return r;
	snprintf(man, sizeof(man), "%s/%s", sdir, DTP_CKPT_MANIFEST);
	if (access(man, F_OK) == 0)
		return dtp_errf_input(err, -EEXIST,
				      "checkpoint %s is already complete (it has a manifest); it is not overwritten: move it away or use another checkpoint directory",
				      sdir);
	p = calloc(1, sizeof(*p));
	if (!p)
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s/%s", sdir, name) >= sizeof(p->path)) {
		free(p);
		return dtp_errf_input(err, -ENAMETOOLONG, "checkpoint: path too long under %s", sdir);
	}
	r = dtp_st_writer_create(&p->w, err);
	if (r) {
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

int dtp_ckpt_part_add(struct dtp_ckpt_part *p, int unit, const char *tensor, const char *role,
		      int ndim, const size_t *shape, const float *data, struct dtp_err *err)
{
	uint64_t sh[DTP_ST_MAX_DIMS];
	char name[128];

	if (ndim < 0 || ndim > DTP_ST_MAX_DIMS)
		return dtp_errf_input(err, -EINVAL, "checkpoint %s: %d dimensions", p->path, ndim);
	if (dtp_ckpt_tensor_name(name, sizeof(name), unit, tensor, role))
		return dtp_errf_input(err, -EINVAL, "checkpoint %s: bad tensor name (unit %d, \"%s\", \"%s\")",
				      p->path, unit, tensor ? tensor : "", role ? role : "");
	for (int d = 0; d < ndim; d++)
		sh[d] = shape[d];
	return dtp_st_writer_add(p->w, name, DTP_ST_F32, ndim, sh, data, err);
}

int dtp_ckpt_part_add_unit(struct dtp_ckpt_part *p, const struct dtp_model_spec *spec,
			   int unit, const char *role, const float *unit_data,
			   struct dtp_err *err)
{
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];
	int n = dtp_unit_tensors(spec, unit, t), r = 0;

	if (n < 0)
		return dtp_errf_input(err, -EINVAL, "checkpoint %s: unit %d is not in the model", p->path,
				      unit);
	for (int i = 0; i < n && !r; i++)
		r = dtp_ckpt_part_add(p, unit, t[i].name, role, t[i].ndim, t[i].shape,
				      unit_data + t[i].off, err);
	return r;
}

void dtp_ckpt_part_abort(struct dtp_ckpt_part *p)
{
	if (!p)
		return;
	dtp_st_writer_destroy(p->w);
	free(p);
}

void dtp_ckpt_part_set_direct(struct dtp_ckpt_part *p, int mode)
{
	dtp_st_writer_set_direct(p->w, mode);
}

int dtp_ckpt_part_commit_direct(struct dtp_ckpt_part *p, int *direct, struct dtp_err *err)
{
	int r = dtp_st_writer_write(p->w, p->path, err);

	if (r)
		dtp_err_prefix(err, "checkpoint: ");
	if (direct)
		*direct = dtp_st_writer_direct_used(p->w);
	dtp_ckpt_part_abort(p);
	return r;
}

int dtp_ckpt_part_commit(struct dtp_ckpt_part *p, struct dtp_err *err)
{
	return dtp_ckpt_part_commit_direct(p, NULL, err);
}

/* -------------------------------------------------------------- manifest */

int dtp_ckpt_manifest_checksum(json_t *manifest, uint32_t *out)
{
	json_t *copy = json_copy(manifest);
	char *text;

	if (!copy)
		return -ENOMEM;
	json_object_del(copy, "checksum");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (!text)
		return -ENOMEM;
	*out = dtp_crc32c(0, text, strlen(text));
	free(text);
	return 0;
}

static json_t *shape_json(const struct dtp_st_tensor *t)
{
	json_t *a = json_array();

	for (int d = 0; d < t->ndim; d++)
		json_array_append_new(a, json_integer((json_int_t)t->shape[d]));
	return a;
}

/* {"name", "bytes", "tensors": [...]} from a committed file's header */
static int file_entry(const char *sdir, int writer, json_t **out, struct dtp_err *err)
{
	char name[64], path[PATH_MAX + 64], hex[9];
	struct dtp_st_file *f;
	json_t *e, *ts;
	struct stat sb;
	int r;

	dtp_ckpt_file_name(name, sizeof(name), writer);
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	r = dtp_st_open(path, &f, err);
	if (r) {
		dtp_err_prefix(err, "checkpoint: writer %d's file is missing or bad, no manifest written: ",
			       writer);
		return r;
	}
	ts = json_array();
	for (int i = 0; i < dtp_st_count(f); i++) {
		const struct dtp_st_tensor *t = dtp_st_tensor_at(f, i);

		if (!t->has_crc || t->dtype != DTP_ST_F32) {
			dtp_st_close(f);
			json_decref(ts);
			return dtp_errf_input(err, -EBADMSG, "checkpoint: %s: tensor \"%s\" has no CRC-32C or is not F32; it was not written by dtpipe",
					      path, t->name);
		}
		snprintf(hex, sizeof(hex), "%08" PRIx32, t->crc32c);
		json_array_append_new(ts, json_pack("{s:s, s:s, s:o, s:s}", "name", t->name,
						    "dtype", dtp_st_dtype_name(t->dtype), "shape",
						    shape_json(t), "crc32c", hex));
	}
	dtp_st_close(f);
	if (stat(path, &sb) != 0) {
		json_decref(ts);
		return dtp_errf_runtime(err, -errno, "checkpoint: %s: %s", path, strerror(errno));
	}
	e = json_pack("{s:s, s:I, s:o}", "name", name, "bytes", (json_int_t)sb.st_size, "tensors",
		      ts);
	if (!e)
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
	*out = e;
	return 0;
}

static json_t *info_json(const struct dtp_ckpt_info *in, int n_units)
{
	json_t *pos = json_object();

	for (int i = 0; i < in->n_pos; i++)
		json_object_set_new(pos, in->pos[i].name,
				    json_pack("{s:I, s:I}", "epoch", (json_int_t)in->pos[i].epoch,
					      "sample", (json_int_t)in->pos[i].sample));
	return json_pack("{s:s, s:i, s:I, s:s, s:i, s:{s:s, s:s, s:s}, s:s, s:s, s:o}",
			 "format", DTP_CKPT_FORMAT, "version", DTP_CKPT_VERSION,
			 "step", (json_int_t)in->step, "model", in->model, "units", n_units,
			 "optimizer", "name", in->optimizer, "settings", in->optim_settings,
			 "schedule", in->schedule,
			 "training", in->training, "rng", in->rng, "data", pos);
}

/* delete a flat step directory (its files, then itself) */
static int remove_step_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int r = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) != 0)
			r = -errno;
	}
	closedir(d);
	if (!r && rmdir(path) != 0)
		r = -errno;
	return r;
}

/* keep the newest `keep` checkpoints that open cleanly and every newer one;
 * delete the older ones */
static void prune(const char *dir, int keep)
{
	struct dtp_err e;
	long *steps;
	int n, good = 0;

	if (keep <= 0 || dtp_ckpt_list_steps(dir, &steps, &n, &e))
		return;
	for (int i = 0; i < n; i++) {
		char sdir[PATH_MAX];
		struct dtp_ckpt *c;
		int r;

		dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, steps[i]);
		if (good < keep) {
			if (dtp_ckpt_open(dir, steps[i], &c, &e) == 0) {
				dtp_ckpt_close(c);
				good++;
			}
			continue;
		}
		r = remove_step_dir(sdir);
		if (r)
			dtp_warn("checkpoint: cannot delete the old checkpoint %s: %s", sdir,
				 strerror(-r));
	}
	free(steps);
}

int dtp_ckpt_finish(const char *dir, const struct dtp_ckpt_info *info, int n_units,
		    int n_files, int keep, struct dtp_err *err)
{
	char sdir[PATH_MAX], path[PATH_MAX + 64], hex[9], latest[64];
	json_t *root = NULL, *files;
	char *text = NULL;
	uint32_t crc;
	int r;

	if (dtp_ckpt_step_dir(sdir, sizeof(sdir), dir, info->step) || n_files < 1 || n_units < 1)
		return dtp_errf_input(err, -EINVAL, "checkpoint: bad step %ld, %d files or %d units",
				      info->step, n_files, n_units);
	snprintf(path, sizeof(path), "%s/%s", sdir, DTP_CKPT_MANIFEST);
	if (access(path, F_OK) == 0)
		return dtp_errf_input(err, -EEXIST, "checkpoint %s already has a manifest; not overwritten",
				      sdir);
	root = info_json(info, n_units);
	files = json_array();
	if (!root || !files || json_object_set_new(root, "files", files)) {
		r = dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory for the manifest");
		goto out_free;
	}
	for (int k = 0; k < n_files; k++) {
		json_t *e = NULL;

		r = file_entry(sdir, k, &e, err);
		if (r)
			goto out_free;
		json_array_append_new(files, e);
	}
	r = dtp_ckpt_manifest_checksum(root, &crc);
	if (r) {
		r = dtp_errf_runtime(err, r, "checkpoint: out of memory for the manifest");
		goto out_free;
	}
	snprintf(hex, sizeof(hex), "%08" PRIx32, crc);
	json_object_set_new(root, "checksum", json_string(hex));
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text) {
		r = dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory for the manifest");
		goto out_free;
	}
	/* the units present are checked by opening it, as a resume will */
	r = dtp_write_file_atomic(path, text, strlen(text), err);
	if (r)
		goto out_free;
	{
		struct dtp_ckpt *c;

		r = dtp_ckpt_open(dir, info->step, &c, err);
		if (r) {
			unlink(path);
			dtp_err_prefix(err, "checkpoint: the new manifest was removed: ");
			goto out_free;
		}
		dtp_ckpt_close(c);
	}
	snprintf(latest, sizeof(latest), "step-%08ld\n", info->step);
	snprintf(path, sizeof(path), "%s/%s", dir, DTP_CKPT_LATEST);
	r = dtp_write_file_atomic(path, latest, strlen(latest), err);
	if (r)
		goto out_free;
	prune(dir, keep);
out_free:
	free(text);
	json_decref(root);
	return r;
}
