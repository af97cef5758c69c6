/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): each defines
 * LLVMFuzzerTestOneInput and is linked either with libFuzzer (configure
 * --enable-fuzzing, `make fuzz`) or with replay.c (a unit test that runs the
 * seed corpus and every past crash through it). A target checks what the
 * parser promises, not only that it does not crash: FUZZ_CHECK aborts, so a
 * broken promise fails the replay test in every build. */
#ifndef DTP_TESTS_FUZZ_H
#define DTP_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* a failure must come with a message for people */
#define FUZZ_CHECK_ERR(rc, err) FUZZ_CHECK((rc) < 0 && (err).msg[0] != '\0')

/* the input as a NUL-terminated string (stops at an embedded NUL); free() it */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* The input of a target whose first byte is a mode: the rest, copied into a
 * buffer of its own (the target may write a length or a CRC into it; free
 * it), *n bytes; NULL when the input is empty. */
static inline uint8_t *fuzz_after_mode(const uint8_t *data, size_t size, size_t *n)
{
	uint8_t *file;

	if (size < 1)
		return NULL;
	file = malloc(size);
	FUZZ_CHECK(file);
	memcpy(file, data + 1, size - 1);
	*n = size - 1;
	return file;
}

/* the link fuzz_hello plays the listener of (stage 1, peer stage 0);
 * mkseeds.c packs the peer's hellos from the same facts */
#define FUZZ_HELLO_HOST "node0"
#define FUZZ_HELLO_PORT 29500
#define FUZZ_HELLO_JOB_KEY 0x0123456789abcdefull
#define FUZZ_HELLO_PLAN_HASH 0xfedcba9876543210ull

/* a directory of this process's own for inputs read from a path: under
 * /dev/shm when there is one (no disk I/O per execution), removed at exit */
const char *fuzz_tmpdir(void);
/* write data to dir/name (replacing it); aborts on I/O errors */
void fuzz_write_file(const char *dir, const char *name, const void *data, size_t size);

/* a path that reads as exactly these bytes (a memfd of this process's own,
 * through /proc/self/fd), for parsers that open a path */
const char *fuzz_memfd_path(const void *data, size_t size);

#endif
