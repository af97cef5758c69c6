/* The transport suite's shared parts (transport_suite.c: the runner and the
 * cases every transport runs; transport_shared.c: the cases about buffers
 * from dtp_link_alloc, the shm transport's one copy and shared copy). */
#ifndef DTP_TESTS_TRANSPORT_SUITE_H
#define DTP_TESTS_TRANSPORT_SUITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rdma/transport.h"

/* a case's hang guard, seconds (DTP_TEST_CASE_LIMIT_S overrides: an emulated
 * RDMA device on a busy machine may need more) */
#define CASE_LIMIT_S 40
#define MAX_MSG (16u << 20)

struct env {
	enum dtp_transport_kind kind;
	char host[256];
	int port;
	int stage;
	int to_peer[2];      /* pipe: stage 0 -> stage 1 and back, for ordering */
	int from_peer[2];
};

#define FAIL(...) do { fprintf(stderr, "  stage %d: ", e->stage); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

void msleep(int ms);
void cfg_for(const struct env *e, struct dtp_link_config *c);
int open_link(const struct env *e, const struct dtp_link_config *c, struct dtp_link **l);
/* one byte through the side pipes, to order the two stages */
void signal_peer(const struct env *e);
int wait_peer(const struct env *e, int ms);
/* deterministic content from a seed, and its check (scratch: n bytes) */
void fill(void *buf, size_t n, uint64_t seed);
int same(const void *buf, size_t n, uint64_t seed, void *scratch);

/* tensor sizes of the mixed cases */
#define NSIZES 13
extern const size_t sizes[NSIZES];

/* transport_shared.c */
int case_link_alloc(struct env *e);
int case_alloc_second_link(struct env *e);
int case_eager_beside_shared(struct env *e);
int case_shared_copy(struct env *e);
/* transport_small.c */
int case_small_messages(struct env *e);

#endif
