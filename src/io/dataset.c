/* A dataset: the sorted list of shards named by a directory or a glob, all of
 * one format and one shape, each checked when the dataset is opened. */
#include "config.h"
#include "io/shard.h"

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
		return dtp_errf(err, errno == ENOENT ? -ENOENT : -EINVAL, "%s: cannot open dataset directory: %s",
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
				rc = dtp_errf(err, -ENOMEM, "%s: out of memory", dir);
				goto out_free;
			}
			names = grown;
		}
		len = strlen(dir) + strlen(de->d_name) + 2;
		p = malloc(len);
		if (!p) {
			rc = dtp_errf(err, -ENOMEM, "%s: out of memory", dir);
			goto out_free;
		}
		snprintf(p, len, "%s/%s", dir, de->d_name);
		names[n++] = p;
	}
	if (n == 0) {
		rc = dtp_errf(err, -ENOENT, "%s: empty dataset directory: no *.bin (llm.c token) or *.dtpr (dtpipe record) shards; make some with dtpipe-shard",
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
		return dtp_errf(err, -ENOENT, "%s: no shard matches this path or glob", pattern);
	}
	if (rc != 0) {
		globfree(&g);
		return dtp_errf(err, -EINVAL, "%s: cannot expand the glob", pattern);
	}
	names = calloc(g.gl_pathc, sizeof(*names));
	if (!names) {
		globfree(&g);
		return dtp_errf(err, -ENOMEM, "%s: out of memory", pattern);
	}
	for (i = 0; i < g.gl_pathc; i++) {
		names[i] = strdup(g.gl_pathv[i]);
		if (!names[i]) {
			free_names(names, (int)i);
			globfree(&g);
			return dtp_errf(err, -ENOMEM, "%s: out of memory", pattern);
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

int dtp_dataset_open(const char *path, int seq_len, struct dtp_dataset *out, struct dtp_err *err)
{
	struct dtp_dataset ds;
	struct stat st;
	char **names = NULL;
	int n = 0, i, rc;

	memset(&ds, 0, sizeof(ds));
	if (!path || !*path)
		return dtp_errf(err, -EINVAL, "no dataset path given");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		rc = list_dir(path, &names, &n, err);
	else
		rc = list_glob(path, &names, &n, err);
	if (rc)
		return rc;
	ds.shards = calloc((size_t)n, sizeof(*ds.shards));
	if (!ds.shards) {
		rc = dtp_errf(err, -ENOMEM, "%s: out of memory", path);
		goto out_free_names;
	}
	for (i = 0; i < n; i++) {
		rc = dtp_shard_probe(names[i], seq_len, &ds.shards[i], err);
		if (rc)
			goto out_free_shards;
		ds.num_shards = i + 1;
		if (i > 0 && !same_shape(&ds.shards[0], &ds.shards[i])) {
			rc = dtp_errf(err, -EINVAL, "%s: its format, dtype or shape differs from %s: one dataset holds one kind of shard",
				      names[i], names[0]);
			goto out_free_shards;
		}
		ds.samples += ds.shards[i].samples;
		ds.total_bytes += ds.shards[i].file_bytes;
	}
	ds.kind = ds.shards[0].kind;
	if (ds.kind == DTP_DATASET_TOKENS) {
		if (seq_len < 1)
			rc = dtp_errf(err, -EINVAL, "%s: token shards need a sequence length T >= 1", path);
		ds.stride_bytes = (size_t)seq_len * (size_t)ds.shards[0].token_bytes;
		ds.sample_bytes = ds.stride_bytes + (size_t)ds.shards[0].token_bytes;
	} else {
		ds.stride_bytes = ds.sample_bytes = ds.shards[0].record_bytes;
	}
	if (!rc && ds.samples == 0)
		rc = dtp_errf(err, -EINVAL, "%s: the dataset holds no samples (%d shard(s)%s)", path, n,
			      ds.kind == DTP_DATASET_TOKENS ? ", each shorter than T+1 tokens" : "");
	if (rc)
		goto out_free_shards;
	free_names(names, n);
	*out = ds;
	return 0;
out_free_shards:
	dtp_dataset_close(&ds);
out_free_names:
	free_names(names, n);
	return rc;
}

void dtp_dataset_close(struct dtp_dataset *ds)
{
	int i;

	for (i = 0; i < ds->num_shards; i++)
		dtp_shard_free(&ds->shards[i]);
	free(ds->shards);
	ds->shards = NULL;
	ds->num_shards = 0;
}
