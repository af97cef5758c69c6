/* dtpipe-shard: make dataset shards.
 *   dtpipe-shard fashion-mnist [--src DIR] --out DIR [--records-per-shard N]
 *   dtpipe-shard text FILE... --out DIR [--tokens-per-shard N]
 * Exit status 0 on success, 2 on bad input (options, IDX files), 1 otherwise. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/io.h"

#define FMNIST_SRC "/usr/share/datasets/fashion-mnist"

static void usage(FILE *f)
{
	fputs("usage: dtpipe-shard fashion-mnist [--src DIR] --out DIR [--records-per-shard N]\n"
	      "       dtpipe-shard text FILE... --out DIR [--tokens-per-shard N]\n"
	      "\n"
	      "fashion-mnist  convert the gzipped IDX files in DIR (default " FMNIST_SRC ")\n"
	      "               into record shards DIR/train/train_NNNNNN.dtpr and\n"
	      "               DIR/test/test_NNNNNN.dtpr (u8 28x28 features, int32 labels,\n"
	      "               10 classes; default 10000 records per shard)\n"
	      "text           byte-level tokens (uint16, llm.c v1 format) of the files, in\n"
	      "               order, into OUT/text_NNNNNN.bin (default 100000000 tokens per\n"
	      "               shard); the first shard can serve as validation\n"
	      "N (records or tokens per shard) is a count from 1 to 2147483647.\n"
	      "Each output directory also gets its dataset index, .dtpipe-index.\n"
	      "--help         this text\n"
	      "Exit status: 0 done, 2 bad input, 1 other failure. See dtpipe-shard(1).\n", f);
}

struct progress {
	const char *what;
	uint64_t total, done;
	int tty, last;
};

static void progress(struct progress *p, uint64_t done)
{
	int pct = p->total ? (int)(done * 100 / p->total) : 100;

	p->done = done;
	if (p->tty && pct != p->last) {
		fprintf(stderr, "\r%s: %3d%%", p->what, pct);
		if (pct == 100)
			fputc('\n', stderr);
	} else if (!p->tty && pct / 10 != p->last / 10) {
		fprintf(stderr, "%s: %d%%\n", p->what, pct / 10 * 10);
	}
	p->last = pct;
}

/* mkdir -p: create d and any missing parents */
static int make_dir(const char *d, struct dtp_err *err)
{
	char path[PATH_MAX];
	size_t n = strlen(d);

	if (n == 0 || n >= sizeof(path))
		return dtp_errf_input(err, -ENAMETOOLONG, "'%s': bad output directory name", d);
	memcpy(path, d, n + 1);
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return dtp_errf_input(err, -errno, "%s: cannot create: %s", path, strerror(errno));
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

static int gz_u32be(gzFile g, const char *path, uint32_t *v, struct dtp_err *err)
{
	unsigned char b[4];

	if (gzread(g, b, 4) != 4)
		return dtp_errf_input(err, -EBADMSG, "%s: truncated IDX header", path);
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

/* open an IDX file and check its magic (0x0801 labels, 0x0803 images) and dims */
static int idx_open(const char *path, uint32_t magic, uint32_t *dims, int ndim, gzFile *out,
		    struct dtp_err *err)
{
	gzFile g = gzopen(path, "rb");
	uint32_t m;
	int i, rc;

	if (!g)
		return dtp_errf_input(err, errno == ENOENT ? -ENOENT : -EINVAL, "%s: cannot open: %s", path,
				errno ? strerror(errno) : "zlib error");
	rc = gz_u32be(g, path, &m, err);
	if (!rc && m != magic)
		rc = dtp_errf_input(err, -EBADMSG, "%s: IDX magic 0x%08x, expected 0x%08x (u8 data, %d dims)", path, m,
			      magic, ndim);
	for (i = 0; !rc && i < ndim; i++) {
		rc = gz_u32be(g, path, &dims[i], err);
		if (!rc && (dims[i] == 0 || dims[i] > (1u << 28)))
			rc = dtp_errf_input(err, -EBADMSG, "%s: IDX dimension %d is %u", path, i, dims[i]);
	}
	if (rc) {
		gzclose(g);
		return rc;
	}
	*out = g;
	return 0;
}

static int fmnist_split(const char *src, const char *out, const char *split, const char *name,
			uint64_t per_shard, struct dtp_err *err)
{
	char ip[4096], lp[4096], dir[4096], sp[4200];
	struct dtp_record_spec spec = { .feature_dtype = DTP_REC_U8, .ndim = 2,
					.label_dtype = DTP_REC_I32, .num_classes = 10 };
	struct dtp_shard_writer *w = NULL;
	struct progress pr = { .tty = isatty(2), .last = -1 };
	uint32_t idims[3], ldims[1], i;
	unsigned char img[784], lab;
	gzFile gi, gl;
	int rc, shard = 0;

	snprintf(ip, sizeof(ip), "%s/%s-images-idx3-ubyte.gz", src, split);
	snprintf(lp, sizeof(lp), "%s/%s-labels-idx1-ubyte.gz", src, split);
	snprintf(dir, sizeof(dir), "%s/%s", out, name);
	rc = idx_open(ip, 0x803, idims, 3, &gi, err);
	if (rc)
		return rc;
	rc = idx_open(lp, 0x801, ldims, 1, &gl, err);
	if (rc)
		goto out_close_images;
	if (idims[1] * idims[2] != sizeof(img)) {
		rc = dtp_errf_input(err, -EBADMSG, "%s: images are %ux%u, expected 28x28", ip, idims[1], idims[2]);
		goto out_close_labels;
	}
	if (idims[0] != ldims[0]) {
		rc = dtp_errf_input(err, -EBADMSG, "%s holds %u images but %s %u labels", ip, idims[0], lp, ldims[0]);
		goto out_close_labels;
	}
	spec.dims[0] = idims[1];
	spec.dims[1] = idims[2];
	rc = make_dir(dir, err);
	if (rc)
		goto out_close_labels;
	pr.what = dir;
	pr.total = idims[0];
	for (i = 0; i < idims[0]; i++) {
		if (!w) {
			snprintf(sp, sizeof(sp), "%s/%s_%06d.dtpr", dir, name, shard++);
			rc = dtp_shard_writer_records(sp, &spec, &w, err);
			if (rc)
				goto out_close_labels;
		}
		if (gzread(gi, img, sizeof(img)) != (int)sizeof(img)) {
			rc = dtp_errf_input(err, -EBADMSG, "%s: truncated at image %u of %u", ip, i, idims[0]);
			goto out_abort;
		}
		if (gzread(gl, &lab, 1) != 1) {
			rc = dtp_errf_input(err, -EBADMSG, "%s: truncated at label %u of %u", lp, i, ldims[0]);
			goto out_abort;
		}
		if (lab > 9) {
			rc = dtp_errf_input(err, -EBADMSG, "%s: label %u of item %u is not a class 0..9", lp, lab, i);
			goto out_abort;
		}
		rc = dtp_shard_writer_add_record(w, img, lab, err);
		if (rc)
			goto out_abort;
		if (dtp_shard_writer_count(w) == per_shard || i + 1 == idims[0]) {
			rc = dtp_shard_writer_finish(w, err);
			w = NULL;
			if (rc)
				goto out_close_labels;
		}
		if (i % 1000 == 0 || i + 1 == idims[0])
			progress(&pr, i + 1);
	}
	/* the index (docs/record-shard-format.md): loaders skip the header scan */
	rc = dtp_dataset_index(dir, err);
	goto out_close_labels;
out_abort:
	dtp_shard_writer_abort(w);
out_close_labels:
	gzclose(gl);
out_close_images:
	gzclose(gi);
	return rc;
}

static int text_shards(char **files, int nfiles, const char *out, uint64_t per_shard, struct dtp_err *err)
{
	struct progress pr = { .what = out, .tty = isatty(2), .last = -1 };
	struct dtp_shard_writer *w = NULL;
	uint64_t total = 0, done = 0;
	unsigned char buf[65536];
	uint32_t tok[65536];
	char sp[4200];
	int i, rc = 0, shard = 0;

	for (i = 0; i < nfiles; i++) {
		struct stat st;

		if (stat(files[i], &st) != 0)
			return dtp_errf_input(err, -ENOENT, "%s: %s", files[i], strerror(errno));
		total += (uint64_t)st.st_size;
	}
	rc = make_dir(out, err);
	if (rc)
		return rc;
	pr.total = total;
	for (i = 0; i < nfiles; i++) {
		FILE *f = fopen(files[i], "rb");
		size_t n, k, off;

		if (!f) {
			rc = dtp_errf_input(err, -EINVAL, "%s: unreadable: %s", files[i], strerror(errno));
			goto out_abort;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			for (k = 0; k < n; k++)
				tok[k] = buf[k];
			for (off = 0; off < n;) {
				size_t take = n - off;

				if (!w) {
					snprintf(sp, sizeof(sp), "%s/text_%06d.bin", out, shard++);
					rc = dtp_shard_writer_tokens(sp, 2, &w, err);
					if (rc) {
						fclose(f);
						return rc;
					}
				}
				if (take > per_shard - dtp_shard_writer_count(w))
					take = (size_t)(per_shard - dtp_shard_writer_count(w));
				rc = dtp_shard_writer_add_tokens(w, tok + off, take, err);
				if (!rc && dtp_shard_writer_count(w) == per_shard) {
					rc = dtp_shard_writer_finish(w, err);
					w = NULL;
				}
				if (rc) {
					fclose(f);
					goto out_abort;
				}
				off += take;
			}
			done += n;
			progress(&pr, done);
		}
		if (ferror(f))
			rc = dtp_errf_runtime(err, -EINVAL, "%s: read error", files[i]);
		fclose(f);
		if (rc)
			goto out_abort;
	}
	if (w)
		rc = dtp_shard_writer_finish(w, err);
	else if (shard == 0)
		rc = dtp_errf_input(err, -EINVAL, "no text in the input files: nothing to shard");
	progress(&pr, total);
	if (!rc)   /* the index (docs/record-shard-format.md): loaders skip the header scan */
		rc = dtp_dataset_index(out, err);
	return rc;
out_abort:
	dtp_shard_writer_abort(w);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "src", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "records-per-shard", required_argument, NULL, 'r' },
		{ "tokens-per-shard", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *src = FMNIST_SRC, *out = NULL, *cmd;
	uint64_t recs = 10000, toks = 100000000;
	struct dtp_err err;
	long count;
	int c, rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2) {
		usage(stderr);
		return DTP_EXIT_BADINPUT;
	}
	cmd = argv[1];
	dtp_err_clear(&err);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': src = optarg; break;
		case 'o': out = optarg; break;
		case 'r':
		case 't':
			/* digits only, 1 .. 2^31 - 1 */
			if (!(optarg[0] >= '0' && optarg[0] <= '9') ||
			    dtp_parse_long(optarg, 1, 0x7fffffff, &count)) {
				fprintf(stderr, "dtpipe-shard: --%s %s: expected a count from 1 to 2147483647\n",
					c == 'r' ? "records-per-shard" : "tokens-per-shard", optarg);
				return DTP_EXIT_BADINPUT;
			}
			*(c == 'r' ? &recs : &toks) = (uint64_t)count;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return DTP_EXIT_BADINPUT;
		}
	}
	if (!out) {
		fprintf(stderr, "dtpipe-shard: --out DIR is required (try --help)\n");
		return DTP_EXIT_BADINPUT;
	}
	if (!strcmp(cmd, "fashion-mnist")) {
		if (optind != argc) {
			fprintf(stderr, "dtpipe-shard: fashion-mnist takes no file arguments (use --src)\n");
			return DTP_EXIT_BADINPUT;
		}
		rc = make_dir(out, &err);
		if (!rc)
			rc = fmnist_split(src, out, "train", "train", recs, &err);
		if (!rc)
			rc = fmnist_split(src, out, "t10k", "test", recs, &err);
	} else if (!strcmp(cmd, "text")) {
		if (optind == argc) {
			fprintf(stderr, "dtpipe-shard: text needs at least one FILE\n");
			return DTP_EXIT_BADINPUT;
		}
		rc = text_shards(argv + optind, argc - optind, out, toks, &err);
	} else {
		fprintf(stderr, "dtpipe-shard: unknown command '%s' (fashion-mnist or text; try --help)\n", cmd);
		return DTP_EXIT_BADINPUT;
	}
	if (rc) {
		fprintf(stderr, "dtpipe-shard: error: %s\n", err.msg);
		return dtp_err_exit(&err, rc);
	}
	return 0;
}
