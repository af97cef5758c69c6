/* Replay driver: the main() a fuzz target gets in the normal build (without
 * --enable-fuzzing). It runs every file of tests/fuzz/corpus/<name> and
 * tests/fuzz/regress/<name> (or the files and directories given as
 * arguments) through LLVMFuzzerTestOneInput, so `make check` (and the
 * ASan+UBSan tree) replays each seed and each input that once crashed.
 * <name> is the program's name without "fuzz_"; the source tree comes from
 * DTP_SRCDIR (set by the test harness), else ".". */
#include "config.h"
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	FILE *f = fopen(path, "rb");

	if (!f || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	/* libFuzzer hands a copy of exactly size bytes: so does the replay,
	 * so that ASan sees a read past the end */
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf)
		abort();
	while (got < (size_t)st.st_size) {
		size_t n = fread(buf + got, 1, (size_t)st.st_size - got, f);

		if (n == 0)
			break;
		got += n;
	}
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, got);
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* every regular file of dir (sorted, for a reproducible order); the count,
 * or -1 when dir cannot be read */
static int run_dir(const char *dir, int must_exist)
{
	char path[4096], **names = NULL;
	struct dirent *e;
	int n = 0, cap = 0, i, ran = 0;
	DIR *d = opendir(dir);

	if (!d) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, (size_t)cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, (size_t)n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && run_file(path) == 0)
			ran++;
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("DTP_SRCDIR"), *name = strrchr(argv[0], '/');
	char dir[4096];
	int i, n, total = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++) {
			struct stat st;

			if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
				n = run_dir(argv[i], 1);
			else
				n = run_file(argv[i]) == 0 ? 1 : -1;
			if (n < 0)
				return 1;
			total += n;
		}
		fprintf(stderr, "replay: %d inputs, no failure\n", total);
		return 0;
	}
	name = name ? name + 1 : argv[0];
	if (strncmp(name, "lt-", 3) == 0)
		name += 3;
	if (strncmp(name, "fuzz_", 5) == 0)
		name += 5;
	if (!srcdir)
		srcdir = ".";
	/* the seeds must be there: a replay of nothing would pass vacuously */
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir, name);
	n = run_dir(dir, 1);
	if (n <= 0) {
		fprintf(stderr, "replay: no seed inputs in %s: set DTP_SRCDIR to the source tree\n", dir);
		return 1;
	}
	total += n;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", srcdir, name);
	n = run_dir(dir, 0);
	if (n < 0)
		return 1;
	total += n;
	fprintf(stderr, "replay: %d inputs of %s, no failure\n", total, name);
	return 0;
}
