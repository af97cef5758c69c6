/* A dataset: the sorted list of shards named by a directory or a glob, all of
 * one format and one shape. Each shard's header is checked when the dataset
 * is opened, unless the directory's index (index.h) stands for the shards as
 * they are now; then the ring checks each header on its first read. */
#include "config.h"
#include "io/index.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

static void free_names(char **names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* every *.bin and *.dtpr regular file in dir, sorted by name */
static int list_dir(const char *dir, char ***out, int *count, struct dtp_err *err)
{
	char **names = NULL, **grown;
	int n = 0, cap = 0, rc = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return dtp_errf_input(err, errno == ENOENT ? -ENOENT : -EINVAL, "%s: cannot open dataset directory: %s",
				      dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len;
		char *p;

		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".bin") || has_suffix(de->d_name, ".dtpr")))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(names, (size_t)cap * sizeof(*names));
			if (!grown) {
				rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", dir);
				goto out_free;
			}
			names = grown;
		}
		len = strlen(dir) + strlen(de->d_name) + 2;
		p = malloc(len);
		if (!p) {
			rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", dir);
			goto out_free;
		}
		snprintf(p, len, "%s/%s", dir, de->d_name);
		names[n++] = p;
	}
	if (n == 0) {
		rc = dtp_errf_input(err, -ENOENT, "%s: empty dataset directory: no *.bin (llm.c token) or *.dtpr (dtpipe record) shards; make some with dtpipe-shard",
				    dir);
		goto out_free;
	}
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	closedir(d);
	*out = names;
	*count = n;
	return 0;
out_free:
	free_names(names, n);
	closedir(d);
	return rc;
}

static int list_glob(const char *pattern, char ***out, int *count, struct dtp_err *err)
{
	glob_t g;
	char **names;
	size_t i;
	int rc;

	memset(&g, 0, sizeof(g));
	rc = glob(pattern, 0, NULL, &g);
	if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
		globfree(&g);
		return dtp_errf_input(err, -ENOENT, "%s: no shard matches this path or glob", pattern);
	}
	if (rc != 0) {
		globfree(&g);
		return dtp_errf_input(err, -EINVAL, "%s: cannot expand the glob", pattern);
	}
	names = calloc(g.gl_pathc, sizeof(*names));
	if (!names) {
		globfree(&g);
		return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", pattern);
	}
	for (i = 0; i < g.gl_pathc; i++) {
		names[i] = strdup(g.gl_pathv[i]);
		if (!names[i]) {
			free_names(names, (int)i);
			globfree(&g);
			return dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", pattern);
		}
	}
	*count = (int)g.gl_pathc;
	globfree(&g);   /* glob(3) sorts already */
	*out = names;
	return 0;
}

static int same_shape(const struct dtp_shard *a, const struct dtp_shard *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == DTP_DATASET_TOKENS)
		return a->token_bytes == b->token_bytes;
	return a->rec.feature_dtype == b->rec.feature_dtype && a->rec.label_dtype == b->rec.label_dtype &&
	       a->rec.num_classes == b->rec.num_classes && a->rec.ndim == b->rec.ndim &&
	       memcmp(a->rec.dims, b->rec.dims, sizeof(a->rec.dims)) == 0;
}

/* The index side of opening: the directory whose index may stand for the
 * shards, its shard files and their stat, and the index as loaded. */
struct ixscan {
	char *dir;                 /* NULL: the shards are in several directories */
	char **all;                /* every shard file of dir, sorted */
	int nall, own_all;         /* own_all: all is not the caller's names */
	uint64_t *size;            /* per file of all; UINT64_MAX: missing or not a regular file */
	int64_t *mtime;
	struct dtp_index ix;
	int ix_ok;
	int64_t scan_ns;           /* before any stat: the index's scan time */
};

/* the directory every name is in ("." for names without one), or NULL */
static char *common_dir(char **names, int n)
{
	const char *s = strrchr(names[0], '/');
	size_t len = s ? (size_t)(s - names[0]) : 0;
	int i;

	for (i = 1; i < n; i++) {
		const char *t = strrchr(names[i], '/');

		if (!t != !s || (size_t)(t ? t - names[i] : 0) != len || (t && strncmp(names[i], names[0], len) != 0))
			return NULL;
	}
	return s ? strndup(names[0], len ? len : 1) : strdup(".");
}

static void ixscan_free(struct ixscan *x)
{
	if (x->own_all)
		free_names(x->all, x->nall);
	free(x->size);
	free(x->mtime);
	if (x->ix_ok)
		dtp_index_free(&x->ix);
	free(x->dir);
	memset(x, 0, sizeof(*x));
}

/* fills x; nothing here is an error of the dataset (a problem only means the
 * index is not used: the headers are read as without one) */
static void ixscan_start(struct ixscan *x, const char *path, int is_dir, char **names, int n, int seq_len)
{
	struct dtp_err e;
	struct stat st;
	int i, rc;

	memset(x, 0, sizeof(*x));
	x->scan_ns = dtp_index_now_ns();
	x->dir = is_dir ? strdup(path) : common_dir(names, n);
	if (!x->dir)
		return;
	dtp_err_clear(&e);
	if (is_dir) {
		x->all = names;
		x->nall = n;
	} else if (list_dir(x->dir, &x->all, &x->nall, &e) != 0) {
		goto out_no_index;
	} else {
		x->own_all = 1;
	}
	x->size = calloc((size_t)x->nall, sizeof(*x->size));
	x->mtime = calloc((size_t)x->nall, sizeof(*x->mtime));
	if (!x->size || !x->mtime)
		goto out_no_index;
	for (i = 0; i < x->nall; i++) {
		x->size[i] = UINT64_MAX;
		if (stat(x->all[i], &st) == 0 && S_ISREG(st.st_mode)) {
			x->size[i] = (uint64_t)st.st_size;
			x->mtime[i] = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
		}
	}
	rc = dtp_index_load(x->dir, seq_len, &x->ix, &e);
	if (rc == 0)
		x->ix_ok = 1;
	else if (rc != -ENOENT)
		dtp_debug("%s: ignoring the dataset index, the shard headers are read instead: %s", x->dir, e.msg);
	return;
out_no_index:
	ixscan_free(x);
}

/* 1 when the index holds exactly the directory's shard files as they are
 * now, and an entry for each of names */
static int ixscan_fresh(const struct ixscan *x, char **names, int n)
{
	int i;

	if (!x->ix_ok || x->ix.n != x->nall)
		return 0;
	for (i = 0; i < x->nall; i++)
		if (!dtp_index_trusted(&x->ix, dtp_index_find(&x->ix, dtp_index_basename(x->all[i])),
				       x->size[i], x->mtime[i]))
			return 0;
	for (i = 0; i < n; i++)
		if (!dtp_index_find(&x->ix, dtp_index_basename(names[i])))
			return 0;
	return 1;
}

static int cmp_base(const void *key, const void *name)
{
	return strcmp((const char *)key, dtp_index_basename(*(char *const *)name));
}

/* after the headers were read: a new index for the directory, from the
 * shards just read and, for the directory's other files (a glob's dataset),
 * the old index's entries still trusted, else their headers; not written
 * when one of those is bad (it is not part of this dataset: no error) */
static void ixscan_rewrite(const struct ixscan *x, const struct dtp_dataset *ds, char **names)
{
	struct dtp_shard *list;
	uint8_t *probed;
	struct dtp_err werr;
	int i, rc = 0;

	if (!x->dir || !x->size)
		return;
	list = calloc((size_t)x->nall, sizeof(*list));
	probed = calloc((size_t)x->nall, 1);
	if (!list || !probed)
		goto out_free;
	dtp_err_clear(&werr);
	for (i = 0; i < x->nall && !rc; i++) {
		const char *base = dtp_index_basename(x->all[i]);
		char **hit = bsearch(base, names, (size_t)ds->num_shards, sizeof(*names), cmp_base);
		const struct dtp_shard *e = x->ix_ok ? dtp_index_find(&x->ix, base) : NULL;

		if (hit) {
			list[i] = ds->shards[hit - names];
		} else if (dtp_index_trusted(&x->ix, e, x->size[i], x->mtime[i])) {
			list[i] = *e;
		} else {
			rc = dtp_shard_probe(x->all[i], 0, &list[i], &werr);
			probed[i] = rc == 0;
		}
	}
	if (!rc)
		rc = dtp_index_write(x->dir, list, x->nall, x->scan_ns, &werr);
	if (rc)
		dtp_debug("%s: going on without a dataset index: %s", x->dir, werr.msg);
	for (i = 0; i < x->nall; i++)
		if (probed[i])
			dtp_shard_free(&list[i]);
out_free:
	free(probed);
	free(list);   /* the others are shallow copies: their paths belong to ds and the old index */
}

int dtp_dataset_open(const char *path, int seq_len, struct dtp_dataset *out, struct dtp_err *err)
{
	struct dtp_dataset ds;
	struct ixscan x;
	struct stat st;
	char **names = NULL;
	int n = 0, i, rc, is_dir;

	memset(&ds, 0, sizeof(ds));
	if (!path || !*path)
		return dtp_errf_input(err, -EINVAL, "no dataset path given");
	is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	if (is_dir)
		rc = list_dir(path, &names, &n, err);
	else
		rc = list_glob(path, &names, &n, err);
	if (rc)
		return rc;
	ixscan_start(&x, path, is_dir, names, n, seq_len);
	ds.shards = calloc((size_t)n, sizeof(*ds.shards));
	if (!ds.shards) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		goto out_free_scan;
	}
	ds.index_used = ixscan_fresh(&x, names, n);
	for (i = 0; i < n; i++) {
		if (ds.index_used) {   /* the header is checked when the ring first opens the shard */
			ds.shards[i] = *dtp_index_find(&x.ix, dtp_index_basename(names[i]));
			ds.shards[i].path = strdup(names[i]);
			rc = ds.shards[i].path ? 0 : dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", path);
		} else {
			rc = dtp_shard_probe(names[i], seq_len, &ds.shards[i], err);
			ds.headers_read++;
		}
		if (rc)
			goto out_free_shards;
		ds.num_shards = i + 1;
		if (i > 0 && !same_shape(&ds.shards[0], &ds.shards[i])) {
			rc = dtp_errf_input(err, -EINVAL, "%s: its format, dtype or shape differs from %s: one dataset holds one kind of shard",
					    names[i], names[0]);
			goto out_free_shards;
		}
		ds.samples += ds.shards[i].samples;
		ds.total_bytes += ds.shards[i].file_bytes;
	}
	ds.kind = ds.shards[0].kind;
	if (ds.kind == DTP_DATASET_TOKENS) {
		if (seq_len < 1)
			rc = dtp_errf_input(err, -EINVAL, "%s: token shards need a sequence length T >= 1", path);
		ds.stride_bytes = (size_t)seq_len * (size_t)ds.shards[0].token_bytes;
		ds.sample_bytes = ds.stride_bytes + (size_t)ds.shards[0].token_bytes;
	} else {
		ds.stride_bytes = ds.sample_bytes = ds.shards[0].record_bytes;
	}
	if (!rc && ds.samples == 0)
		rc = dtp_errf_input(err, -EINVAL, "%s: the dataset holds no samples (%d shard(s)%s)", path, n,
				    ds.kind == DTP_DATASET_TOKENS ? ", each shorter than T+1 tokens" : "");
	if (rc)
		goto out_free_shards;
	if (!ds.index_used)
		ixscan_rewrite(&x, &ds, names);
	ixscan_free(&x);
	free_names(names, n);
	*out = ds;
	return 0;
out_free_shards:
	dtp_dataset_close(&ds);
out_free_scan:
	ixscan_free(&x);
	free_names(names, n);
	return rc;
}

int dtp_dataset_index(const char *dir, struct dtp_err *err)
{
	struct dtp_shard *shards;
	char **names = NULL;
	int64_t scan_ns = dtp_index_now_ns();
	int n = 0, i, done = 0, rc;

	rc = list_dir(dir, &names, &n, err);
	if (rc)
		return rc;
	shards = calloc((size_t)n, sizeof(*shards));
	if (!shards) {
		rc = dtp_errf_runtime(err, -ENOMEM, "%s: out of memory", dir);
		goto out_free_names;
	}
	for (i = 0; i < n; i++, done++) {
		rc = dtp_shard_probe(names[i], 0, &shards[i], err);
		if (rc)
			goto out_free_shards;
	}
	rc = dtp_index_write(dir, shards, n, scan_ns, err);
out_free_shards:
	for (i = 0; i < done; i++)
		dtp_shard_free(&shards[i]);
	free(shards);
out_free_names:
	free_names(names, n);
	return rc;
}

void dtp_dataset_close(struct dtp_dataset *ds)
{
	dtp_shards_free(&ds->shards, &ds->num_shards);
}
