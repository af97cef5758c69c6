/* The checkpoint store's reading side: open and check a checkpoint (manifest,
 * checksum, files' headers against the manifest), find the newest good one,
 * and read any unit's tensors from whichever file holds them (ckpt_store.h). */
#include "config.h"
#include "pipeline/ckpt_store.h"
#include "pipeline/pipeline.h"
#include "io/safetensors.h"
#include "model/tensors.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAX (64u << 20)

struct dtp_ckpt {
	char sdir[PATH_MAX];
	struct dtp_ckpt_info info;
	int n_units, n_files;
	struct dtp_st_file **files;
	json_t *manifest;
	json_t *index;              /* tensor name -> file number */
};

static int cmp_desc(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

int dtp_ckpt_list_steps(const char *dir, long **steps, int *n, struct dtp_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long *v = NULL;
	int cap = 0;

	*steps = NULL;
	*n = 0;
	if (!d)
		return dtp_errf_input(err, -errno, "checkpoint directory %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		long s = dtp_ckpt_parse_step_name(e->d_name);

		if (s < 0)
			continue;
		if (*n == cap) {
			long *nv = realloc(v, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
			}
			v = nv;
		}
		v[(*n)++] = s;
	}
	closedir(d);
	if (*n)
		qsort(v, (size_t)*n, sizeof(*v), cmp_desc);
	*steps = v;
	return 0;
}

void dtp_ckpt_close(struct dtp_ckpt *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_files; i++)
		dtp_st_close(c->files[i]);
	free(c->files);
	json_decref(c->index);
	json_decref(c->manifest);
	free(c);
}

const struct dtp_ckpt_info *dtp_ckpt_get_info(const struct dtp_ckpt *c)
{
	return &c->info;
}

const char *dtp_ckpt_dir(const struct dtp_ckpt *c)
{
	return c->sdir;
}

int dtp_ckpt_num_units(const struct dtp_ckpt *c)
{
	return c->n_units;
}

static int copy_text(char *dst, size_t len, json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || strlen(s) >= len)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int get_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* the manifest's facts into c->info */
static int parse_info(struct dtp_ckpt *c, const char *mpath, long step, struct dtp_err *err)
{
	json_t *m = c->manifest, *o = json_object_get(m, "optimizer"), *data, *v;
	struct dtp_ckpt_info *in = &c->info;
	const char *key;
	uint64_t s;

	if (!json_is_string(json_object_get(m, "format")) ||
	    strcmp(json_string_value(json_object_get(m, "format")), DTP_CKPT_FORMAT) != 0 ||
	    json_integer_value(json_object_get(m, "version")) != DTP_CKPT_VERSION)
		return dtp_errf_input(err, -EBADMSG, "%s: not a version %d dtpipe checkpoint manifest",
				      mpath, DTP_CKPT_VERSION);
	if (get_u64(json_object_get(m, "step"), &s) || (long)s != step)
		return dtp_errf_input(err, -EBADMSG, "%s: its step differs from the directory's (%ld): the manifest is corrupt",
				      mpath, step);
	in->step = (long)s;
	v = json_object_get(m, "units");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX)
		return dtp_errf_input(err, -EBADMSG, "%s: \"units\" is not a positive integer", mpath);
	c->n_units = (int)json_integer_value(v);
	if (copy_text(in->model, sizeof(in->model), json_object_get(m, "model")) ||
	    copy_text(in->optimizer, sizeof(in->optimizer), json_object_get(o, "name")) ||
	    copy_text(in->optim_settings, sizeof(in->optim_settings),
		      json_object_get(o, "settings")) ||
	    copy_text(in->training, sizeof(in->training), json_object_get(m, "training")) ||
	    copy_text(in->rng, sizeof(in->rng), json_object_get(m, "rng")))
		return dtp_errf_input(err, -EBADMSG,
				      "%s: \"model\", \"optimizer\" {name, settings}, \"training\" and \"rng\" must be strings of at most %d bytes",
				      mpath, DTP_CKPT_TEXT_MAX - 1);
	v = json_object_get(o, "schedule");
	if (v && copy_text(in->schedule, sizeof(in->schedule), v))
		return dtp_errf_input(err, -EBADMSG, "%s: \"optimizer\" \"schedule\" must be a string of at most %zu bytes",
				      mpath, sizeof(in->schedule) - 1);
	data = json_object_get(m, "data");
	if (!json_is_object(data) || json_object_size(data) > DTP_CKPT_MAX_POS)
		return dtp_errf_input(err, -EBADMSG, "%s: \"data\" must be an object of at most %d positions",
				      mpath, DTP_CKPT_MAX_POS);
	json_object_foreach(data, key, v) {
		struct dtp_ckpt_pos *p = &in->pos[in->n_pos++];

		if (strlen(key) >= sizeof(p->name) ||
		    get_u64(json_object_get(v, "epoch"), &p->epoch) ||
		    get_u64(json_object_get(v, "sample"), &p->sample))
			return dtp_errf_input(err, -EBADMSG,
					      "%s: data position \"%s\" needs a short name and non-negative \"epoch\" and \"sample\"",
					      mpath, key);
		memcpy(p->name, key, strlen(key) + 1);
	}
	return 0;
}

/* the manifest's tensor entry e against the file's header */
static int check_tensor(struct dtp_ckpt *c, int k, json_t *e, struct dtp_err *err)
{
	const char *name = json_string_value(json_object_get(e, "name")),
		   *crc = json_string_value(json_object_get(e, "crc32c")),
		   *path = dtp_st_path(c->files[k]);
	json_t *shape = json_object_get(e, "shape");
	const struct dtp_st_tensor *t;
	char hex[9];
	int same;

	if (!name || !crc || !json_is_array(shape))
		return dtp_errf_input(err, -EBADMSG, "%s/%s: a tensor of %s lacks \"name\", \"shape\" or \"crc32c\"",
				      c->sdir, DTP_CKPT_MANIFEST, path);
	t = dtp_st_find(c->files[k], name);
	if (!t)
		return dtp_errf_input(err, -EBADMSG, "%s: tensor \"%s\", listed in the manifest, is not in the file",
				      path, name);
	same = t->dtype == DTP_ST_F32 && (size_t)t->ndim == json_array_size(shape);
	for (int d = 0; same && d < t->ndim; d++)
		same = json_integer_value(json_array_get(shape, (size_t)d)) == (json_int_t)t->shape[d];
	if (!same)
		return dtp_errf_input(err, -EBADMSG, "%s: tensor \"%s\": the dtype or shape differs from the manifest's",
				      path, name);
	snprintf(hex, sizeof(hex), "%08" PRIx32, t->crc32c);
	if (!t->has_crc || strcmp(hex, crc) != 0)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: tensor \"%s\": CRC-32C %s in the file's header, %s in the manifest: the file was replaced or is corrupt",
				      path, name, t->has_crc ? hex : "(none)", crc);
	if (json_object_get(c->index, name))
		return dtp_errf_input(err, -EBADMSG, "%s: tensor \"%s\" is in two files of the checkpoint",
				      path, name);
	return json_object_set_new(c->index, name, json_integer(k)) ? -ENOMEM : 0;
}

/* open every file the manifest lists and check it against the manifest */
static int check_files(struct dtp_ckpt *c, const char *mpath, struct dtp_err *err)
{
	json_t *files = json_object_get(c->manifest, "files"), *f;
	size_t i;
	int r;

	if (!json_is_array(files) || json_array_size(files) == 0)
		return dtp_errf_input(err, -EBADMSG, "%s: \"files\" is not a non-empty array", mpath);
	c->files = calloc(json_array_size(files), sizeof(*c->files));
	if (!c->files)
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
	json_array_foreach(files, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		json_t *ts = json_object_get(f, "tensors"), *e;
		char path[PATH_MAX + 300];
		struct stat sb;
		uint64_t bytes;
		size_t j;

		if (!name || strchr(name, '/') || get_u64(json_object_get(f, "bytes"), &bytes) ||
		    !json_is_array(ts))
			return dtp_errf_input(err, -EBADMSG, "%s: file entry %zu needs \"name\" (no '/'), \"bytes\" and \"tensors\"",
					      mpath, i);
		snprintf(path, sizeof(path), "%s/%s", c->sdir, name);
		r = dtp_st_open(path, &c->files[i], err);
		if (r)
			return r == -ENOENT ? dtp_errf_input(err, -EBADMSG, "%s: listed in the manifest but missing",
							       path)
					    : r;
		c->n_files++;
		if ((size_t)dtp_st_count(c->files[i]) != json_array_size(ts))
			return dtp_errf_input(err, -EBADMSG, "%s: %d tensors, the manifest lists %zu", path,
					      dtp_st_count(c->files[i]), json_array_size(ts));
		json_array_foreach(ts, j, e) {
			r = check_tensor(c, (int)i, e, err);
			if (r)
				return r;
		}
		if (stat(path, &sb) != 0 || (uint64_t)sb.st_size != bytes)
			return dtp_errf_input(err, -EBADMSG, "%s: %lld bytes, the manifest says %" PRIu64 ": the file was replaced or truncated",
					      path, (long long)sb.st_size, bytes);
	}
	return 0;
}

/* every unit has at least one tensor */
static int check_units(struct dtp_ckpt *c, const char *mpath, struct dtp_err *err)
{
	char *seen = calloc((size_t)c->n_units, 1);
	const char *key;
	json_t *v;
	int missing = -1;

	if (!seen)
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
	json_object_foreach(c->index, key, v) {
		int u;

		if (sscanf(key, "unit.%d.", &u) == 1 && u >= 0 && u < c->n_units)
			seen[u] = 1;
	}
	for (int u = c->n_units - 1; u >= 0; u--)
		if (!seen[u])
			missing = u;
	free(seen);
	if (missing >= 0)
		return dtp_errf_input(err, -EBADMSG, "%s: no file holds a tensor of unit %d (of %d): the checkpoint is incomplete",
				      mpath, missing, c->n_units);
	return 0;
}

static int load_manifest(struct dtp_ckpt *c, const char *mpath, struct dtp_err *err)
{
	json_error_t je;
	struct stat sb;
	const char *sum;
	uint32_t want;
	char hex[9];

	if (stat(mpath, &sb) == 0 && (uint64_t)sb.st_size > MANIFEST_MAX)
		return dtp_errf_input(err, -EBADMSG, "%s: %lld bytes, more than a manifest can be (%u): the manifest is corrupt",
				      mpath, (long long)sb.st_size, MANIFEST_MAX);
	c->manifest = json_load_file(mpath, JSON_REJECT_DUPLICATES, &je);
	if (!c->manifest) {
		FILE *f = fopen(mpath, "r");

		if (!f)
			return dtp_errf_input(err, errno == ENOENT ? -ENOENT : -errno,
					      "%s: %s", mpath,
					      errno == ENOENT ? "missing: the checkpoint is incomplete (its writers stopped before it was finished)"
							      : strerror(errno));
		fclose(f);
		return dtp_errf_input(err, -EBADMSG, "%s: not valid JSON (%s, line %d column %d): the manifest is corrupt",
				      mpath, je.text, je.line, je.column);
	}
	sum = json_string_value(json_object_get(c->manifest, "checksum"));
	if (!json_is_object(c->manifest) || !sum)
		return dtp_errf_input(err, -EBADMSG, "%s: no \"checksum\": not a dtpipe manifest", mpath);
	if (dtp_ckpt_manifest_checksum(c->manifest, &want))
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
	snprintf(hex, sizeof(hex), "%08" PRIx32, want);
	if (strcmp(hex, sum) != 0)
		return dtp_errf_input(err, -EBADMSG,
				      "%s: checksum mismatch (the manifest says %s, its content gives %s): the manifest is corrupt",
				      mpath, sum, hex);
	return 0;
}

int dtp_ckpt_open(const char *dir, long step, struct dtp_ckpt **out, struct dtp_err *err)
{
	struct dtp_ckpt *c = calloc(1, sizeof(*c));
	char mpath[PATH_MAX + 32];
	int r;

	*out = NULL;
	if (!c || !(c->index = json_object())) {
		free(c);
		return dtp_errf_runtime(err, -ENOMEM, "checkpoint: out of memory");
	}
	if (dtp_ckpt_step_dir(c->sdir, sizeof(c->sdir), dir, step)) {
		r = dtp_errf_input(err, -EINVAL, "checkpoint: bad step %ld under %s", step, dir);
		goto out_close;
	}
	snprintf(mpath, sizeof(mpath), "%s/%s", c->sdir, DTP_CKPT_MANIFEST);
	r = load_manifest(c, mpath, err);
	if (!r)
		r = parse_info(c, mpath, step, err);
	if (!r)
		r = check_files(c, mpath, err);
	if (!r)
		r = check_units(c, mpath, err);
	if (r)
		goto out_close;
	*out = c;
	return 0;
out_close:
	dtp_ckpt_close(c);
	return r;
}

int dtp_ckpt_find(const char *dir, long before, struct dtp_ckpt **out, struct dtp_err *err)
{
	long *steps;
	int n, r, tried = 0;

	*out = NULL;
	r = dtp_ckpt_list_steps(dir, &steps, &n, err);
	if (r)
		return r;
	for (int i = 0; i < n; i++) {
		struct dtp_err why;

		if (steps[i] >= before)
			continue;
		tried++;
		dtp_err_clear(&why);
		if (dtp_ckpt_open(dir, steps[i], out, &why) == 0) {
			free(steps);
			return 0;
		}
		dtp_warn("checkpoint step %ld skipped (left as it is): %s", steps[i], why.msg);
	}
	free(steps);
	if (before == LONG_MAX)
		return dtp_errf_input(err, -ENOENT,
				      "%s: no complete checkpoint (%d tried); run without --resume to start afresh",
				      dir, tried);
	return dtp_errf_input(err, -ENOENT,
			      "%s: no complete checkpoint before step %ld (%d tried); run without --resume to start afresh",
			      dir, before, tried);
}

int dtp_ckpt_compatible(const struct dtp_ckpt_info *have, const struct dtp_ckpt_info *want,
			const char *where, struct dtp_err *err)
{
	static const struct {
		const char *what;
		size_t off;
	} f[] = {
		{ "model", offsetof(struct dtp_ckpt_info, model) },
		{ "optimizer", offsetof(struct dtp_ckpt_info, optimizer) },
		{ "optimizer settings", offsetof(struct dtp_ckpt_info, optim_settings) },
		{ "training settings", offsetof(struct dtp_ckpt_info, training) },
		{ "random number generator", offsetof(struct dtp_ckpt_info, rng) },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		const char *a = (const char *)have + f[i].off, *b = (const char *)want + f[i].off;

		if (strcmp(a, b) != 0)
			return dtp_errf_input(err, -EINVAL,
					      "checkpoint %s was made with another %s (\"%s\"; this run: \"%s\"): resume with the settings it was made with, or start afresh",
					      where, f[i].what, a, b);
	}
	return 0;
}

int dtp_ckpt_read(const struct dtp_ckpt *c, int unit, const char *tensor, const char *role,
		  int ndim, const size_t *shape, float *dst, struct dtp_err *err)
{
	uint64_t sh[DTP_ST_MAX_DIMS];
	size_t n = 1;
	char name[128];
	json_t *k;

	if (ndim < 0 || ndim > DTP_ST_MAX_DIMS ||
	    dtp_ckpt_tensor_name(name, sizeof(name), unit, tensor, role))
		return dtp_errf_input(err, -EINVAL, "checkpoint %s: bad tensor (unit %d, \"%s\")", c->sdir,
				      unit, tensor ? tensor : "");
	k = json_object_get(c->index, name);
	if (!k)
		return dtp_errf_input(err, -ENOENT, "checkpoint %s: no file holds tensor \"%s\"%s", c->sdir,
				      name, role && *role ? " (was it written with another optimizer?)" : "");
	for (int d = 0; d < ndim; d++) {
		sh[d] = shape[d];
		n *= shape[d];
	}
	return dtp_st_read(c->files[json_integer_value(k)], name, DTP_ST_F32, ndim, sh, dst,
			   n * sizeof(float), err);
}

int dtp_ckpt_read_unit(const struct dtp_ckpt *c, const struct dtp_model_spec *spec, int unit,
		       const char *role, float *unit_data, struct dtp_err *err)
{
	struct dtp_unit_tensor t[DTP_UNIT_MAX_TENSORS];
	int n = dtp_unit_tensors(spec, unit, t), r = 0;

	if (n < 0 || unit >= c->n_units)
		return dtp_errf_input(err, -EINVAL, "checkpoint %s: unit %d is not in its model (%d units)",
				      c->sdir, unit, c->n_units);
	for (int i = 0; i < n && !r; i++)
		r = dtp_ckpt_read(c, unit, t[i].name, role, t[i].ndim, t[i].shape,
				  unit_data + t[i].off, err);
	return r;
}

void dtp_ckpt_set_direct(struct dtp_ckpt *c, int on)
{
	for (int i = 0; i < c->n_files; i++)
		dtp_st_set_direct(c->files[i], on);
}

int dtp_ckpt_verify(const struct dtp_ckpt *c, struct dtp_err *err)
{
	int r = 0;

	for (int i = 0; i < c->n_files && !r; i++)
		r = dtp_st_verify(c->files[i], err);
	return r;
}

int dtp_checkpoint_newest(const char *dir, long *step, struct dtp_err *err)
{
	long *steps;
	int n, r;

	/* as dtp_ckpt_find, without a warning for each one skipped: the stage
	 * that resumes gives those */
	if (access(dir, F_OK) != 0)
		return dtp_errf_input(err, -ENOENT, "%s: no checkpoint directory yet", dir);
	r = dtp_ckpt_list_steps(dir, &steps, &n, err);
	if (r)
		return r;
	r = dtp_errf_input(err, -ENOENT, "%s: no complete checkpoint", dir);
	for (int i = 0; i < n && r; i++) {
		struct dtp_ckpt *c;
		struct dtp_err why = { 0 };

		if (dtp_ckpt_open(dir, steps[i], &c, &why) == 0) {
			*step = steps[i];
			dtp_ckpt_close(c);
			dtp_err_clear(err);
			r = 0;
		}
	}
	free(steps);
	return r;
}
