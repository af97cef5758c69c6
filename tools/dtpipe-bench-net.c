/* dtpipe-bench-net: one-way bandwidth (64 KiB .. 64 MiB tensors) and
 * ping-pong latency (small tensors) over one dtpipe link. Latency rows give
 * the mean one-way time (round trip / 2) and, from each round trip timed on
 * its own, the median, minimum and 99th percentile: under a coarse scheduler
 * tick (a QEMU TCG guest: 4 ms) round trips are bimodal and the mean says how
 * often a tick was hit, the median what a typical message costs.
 *
 *   dtpipe-bench-net --transport tcp|shm|verbs [--host H] [--port P]
 *                    [--server | --client] [--seconds S] [--memcpy-ref]
 *                    [--own-buffers] [--size BYTES] [--buffers N]
 *
 * Without --server/--client it forks both sides (stage 0 receives, stage 1
 * sends). Buffers come from dtp_link_alloc (on shm: memory both processes
 * map, one copy per tensor); --own-buffers uses the caller's own memory
 * registered with dtp_link_reg instead (on shm: two copies through the ring).
 * --size runs one size only (for profiling): a bandwidth size, or a latency one.
 * --buffers N (1..4, default 4): bandwidth rotates over N buffers per side with
 * N tensors in flight; --buffers 1 has the working set of the one-buffer
 * memcpy reference (the sender's buffer and the receiver's, one tensor each).
 * --memcpy-ref also prints the references for shm: a memcpy into a shared
 * mapping per size, and (forked) a ping-pong through a shared mapping ("pp"
 * rows, see pp_round) before each latency size. scripts/bench-net.sh runs it
 * beside qperf. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rdma/transport.h"

#define MAX_SIZE ((size_t)64 << 20)
#define WINDOW 4
#define LAT_ITERS 3000

static const size_t bw_sizes[] = { 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20 };
static const size_t lat_sizes[] = { 8, 64, 1024, 4096 };
#define N_BW (sizeof(bw_sizes) / sizeof(bw_sizes[0]))
#define N_LAT (sizeof(lat_sizes) / sizeof(lat_sizes[0]))

struct opts {
	struct dtp_link_config cfg;
	double seconds;        /* target time per bandwidth size */
	int memcpy_ref;
	int own_buffers;       /* dtp_link_reg of our memory instead of dtp_link_alloc */
	size_t only;           /* --size: this size only (bandwidth or latency) */
	int bufs;              /* --buffers: buffers per side = tensors in flight */
	struct pp *pp;         /* --memcpy-ref, forked: the latency reference's mapping */
};

static int die(const char *what, int rc, const struct dtp_err *err)
{
	fprintf(stderr, "dtpipe-bench-net: %s failed (%d): %s\n", what, rc, err ? err->msg : "");
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* the p-th percentile (nearest rank) of n sorted round trips, in us */
static double pct_us(const uint64_t *sorted, int p)
{
	size_t i = ((size_t)LAT_ITERS * (size_t)p + 99) / 100;

	return (double)sorted[i ? i - 1 : 0] / 1e3;
}

/* messages per size so one size takes about `seconds` at ~4 GB/s, >= 2 windows */
static int count_for(size_t sz, double seconds)
{
	double n = seconds * 4e9 / (double)sz;

	return n < 2 * WINDOW ? 2 * WINDOW : n > 20000 ? 20000 : (int)n;
}

/* the shm latency reference, run by the same two processes right before
 * each size of the link's ping-pong (same cores, same moment): the message is
 * handed back and forth through a shared mapping, each side spinning on the
 * other's counter (2 us with pause, then with sched_yield so as not to starve
 * the peer on a busy machine): the floor of a handoff here, with no queues,
 * framing or sleeping */
struct pp {
	_Alignas(64) _Atomic uint32_t seq[2];
	_Alignas(64) char msg[2][4096];
};

static void pp_wait(_Atomic uint32_t *w, uint32_t v)
{
	uint64_t t0 = dtp_now_ns();

	while (atomic_load_explicit(w, memory_order_acquire) != v) {
		if (dtp_now_ns() - t0 < 2000)
			dtp_cpu_pause();
		else
			sched_yield();
	}
}

/* round i (from 1, counting on across sizes): stage 1 pings, stage 0 echoes */
static void pp_round(struct pp *p, int stage, uint32_t i, char *local, size_t sz)
{
	if (stage == 1) {
		memcpy(p->msg[0], local, sz);
		atomic_store_explicit(&p->seq[0], i, memory_order_release);
		pp_wait(&p->seq[1], i);
		memcpy(local, p->msg[1], sz);
	} else {
		pp_wait(&p->seq[0], i);
		memcpy(local, p->msg[0], sz);
		memcpy(p->msg[1], local, sz);
		atomic_store_explicit(&p->seq[1], i, memory_order_release);
	}
}

/* one latency row from LAT_ITERS round trips (rtt_ns, sorted here) */
static void print_lat(const char *name, size_t sz, uint64_t total_ns, uint64_t *rtt_ns)
{
	double rtt = (double)total_ns / LAT_ITERS / 1e3;

	qsort(rtt_ns, LAT_ITERS, sizeof(rtt_ns[0]), cmp_u64);
	printf("%-6s %-10zu %12.3f %12.3f %10.3f %10.3f %10.3f\n", name, sz, rtt / 2, rtt,
	       pct_us(rtt_ns, 50) / 2, (double)rtt_ns[0] / 2e3, pct_us(rtt_ns, 99) / 2);
}

static int side(const struct opts *o, int stage)
{
	struct dtp_link_config c = o->cfg;
	struct dtp_link *l;
	struct dtp_err err = { 0 };
	struct dtp_req req[WINDOW], ack;
	uint64_t *rtt_ns = calloc(LAT_ITERS, sizeof(*rtt_ns));   /* round trips of one size */
	char *buf = NULL, one = 0;
	struct dtp_mr *mr;
	uint32_t pp_seq = 0;
	int rc;

	if (!rtt_ns)
		return die("allocation", -ENOMEM, NULL);
	c.self_stage = stage;
	c.peer_stage = !stage;
	c.listen = stage == 0;
	c.max_msg_bytes = MAX_SIZE;
	c.slots = WINDOW;
	rc = dtp_link_open(&c, &l, &err);
	if (rc)
		return die("open", rc, &err);
	if (o->own_buffers) {
		buf = dtp_alloc_aligned(MAX_SIZE * WINDOW, DTP_PAGE);
		if (!buf)
			return die("allocation", -ENOMEM, NULL);
		rc = dtp_link_reg(l, buf, MAX_SIZE * WINDOW, &mr, &err);
	} else {
		rc = dtp_link_alloc(l, MAX_SIZE * WINDOW, (void **)&buf, &mr, &err);
	}
	if (rc)
		return die("register", rc, &err);
	memset(buf, stage + 1, MAX_SIZE * WINDOW);
	if (stage == 1)
		printf("%-6s %-10s %12s %12s\n", "link", "size", "GB/s", "");
	for (size_t k = 0; k < N_BW; k++) {
		size_t sz = bw_sizes[k];
		int n = count_for(sz, o->seconds);
		uint64_t t0;

		if (o->only && sz != o->only)
			continue;
		/* pass 0, not timed: each buffer used twice (first-touch faults of
		 * the mappings, caches), so the timed pass measures the steady state */
		for (int pass = 0; pass < 2; pass++) {
			struct dtp_tag at = { (uint32_t)k, (uint16_t)pass, DTP_MSG_CTRL };
			int cnt = pass ? n : 2 * WINDOW, w = o->bufs;

			t0 = dtp_now_ns();
			for (int i = 0; i < cnt + w; i++) {
				struct dtp_req *r = &req[i % w];
				struct dtp_tag t = { (uint32_t)k, (uint16_t)i, DTP_MSG_ACT };
				char *b = buf + (size_t)(i % w) * MAX_SIZE;

				if (i >= w && (rc = dtp_link_wait(l, r, 60000, &err)))
					return die("transfer", rc, &err);
				if (i >= cnt)
					continue;
				rc = stage ? dtp_link_isend(l, &t, b, sz, mr, r, &err)
					   : dtp_link_irecv(l, &t, b, sz, mr, r, &err);
				if (rc)
					return die("post", rc, &err);
			}
			/* the receiver's ack closes the clock: everything has landed */
			rc = stage ? dtp_link_irecv(l, &at, &one, 1, NULL, &ack, &err)
				   : dtp_link_isend(l, &at, &one, 1, NULL, &ack, &err);
			if (rc == 0)
				rc = dtp_link_wait(l, &ack, 60000, &err);
			if (rc)
				return die("ack", rc, &err);
		}
		if (stage == 0 && getenv("DTP_BENCH_HELPED")) {
			struct dtp_link_stats st;

			dtp_link_stats(l, &st);
			fprintf(stderr, "helped %zu: %llu chunks\n", sz,
				(unsigned long long)st.helped_chunks);
		}
		if (stage == 1)
			printf("%-6s %-10zu %12.3f %12s %d buf%s\n", dtp_link_transport(l), sz,
			       (double)sz * n / (double)(dtp_now_ns() - t0),
			       o->own_buffers ? "own buffers" : "link_alloc", o->bufs,
			       o->bufs > 1 ? "s" : "");
		fflush(stdout);
	}
	if (o->only && o->only > lat_sizes[N_LAT - 1])
		goto out;
	if (stage == 1)
		printf("%-6s %-10s %12s %12s %10s %10s %10s   (one-way = round trip / 2, %d "
		       "round trips after 200 warm-up)\n", "link", "size", "one-way us", "round trip us",
		       "median", "min", "p99", LAT_ITERS);
	for (size_t k = 0; k < N_LAT; k++) {
		size_t sz = lat_sizes[k];

		if (o->only && sz != o->only)
			continue;
		/* pass 0: the reference through o->pp (when forked), pass 1: the link */
		for (int pass = o->pp ? 0 : 1; pass < 2; pass++) {
			uint64_t t0 = 0, prev = 0;

			for (int i = 0; i < LAT_ITERS + 200; i++) {
				struct dtp_tag t = { 1000 + (uint32_t)k, (uint16_t)i, DTP_MSG_CTRL };
				uint64_t now = dtp_now_ns();

				if (i == 200)
					t0 = now;
				if (i > 200)
					rtt_ns[i - 201] = now - prev;
				prev = now;
				if (pass == 0) {
					pp_round(o->pp, stage, ++pp_seq, buf, sz);
					continue;
				}
				if (stage == 1) {
					rc = dtp_link_isend(l, &t, buf, sz, mr, &req[0], &err);
					if (!rc)
						rc = dtp_link_irecv(l, &t, buf + MAX_SIZE, sz, mr,
								    &req[1], &err);
					if (!rc)
						rc = dtp_link_wait(l, &req[0], 60000, &err);
					if (!rc)
						rc = dtp_link_wait(l, &req[1], 60000, &err);
				} else {
					rc = dtp_link_irecv(l, &t, buf, sz, mr, &req[1], &err);
					if (!rc)
						rc = dtp_link_wait(l, &req[1], 60000, &err);
					if (!rc)
						rc = dtp_link_isend(l, &t, buf, sz, mr, &req[0], &err);
					if (!rc)
						rc = dtp_link_wait(l, &req[0], 60000, &err);
				}
				if (rc)
					return die("ping-pong", rc, &err);
			}
			if (stage == 1) {
				uint64_t end = dtp_now_ns();

				rtt_ns[LAT_ITERS - 1] = end - prev;
				print_lat(pass ? dtp_link_transport(l) : "pp", sz, end - t0, rtt_ns);
			}
		}
	}
out:
	fflush(stdout);
	if (o->own_buffers) {
		dtp_link_dereg(l, mr);
		dtp_free(buf);
	} else {
		dtp_link_free(l, buf, mr);
	}
	dtp_link_close(l);
	free(rtt_ns);
	return 0;
}

/* the shm reference: memcpy from private memory into a shared mapping, one
 * buffer each way (the reference: source and destination stay in
 * cache up to a few MiB), and rotating over WINDOW buffers each way like the
 * link does (the same working set as the link: the memory system's share) */
static double memcpy_rate(char *dst, const char *src, size_t sz, int bufs, int n)
{
	uint64_t t0 = dtp_now_ns();

	for (int i = 0; i < n; i++) {
		memcpy(dst + (size_t)(i % bufs) * MAX_SIZE, src + (size_t)(i % bufs) * MAX_SIZE, sz);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
	}
	return (double)sz * n / (double)(dtp_now_ns() - t0);
}

static void memcpy_ref(double seconds)
{
	char *src = dtp_alloc_aligned(MAX_SIZE * WINDOW, DTP_PAGE);
	char *dst = mmap(NULL, MAX_SIZE * WINDOW, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (!src || dst == MAP_FAILED)
		return;
	memset(src, 1, MAX_SIZE * WINDOW);
	memset(dst, 2, MAX_SIZE * WINDOW);
	printf("%-6s %-10s %12s %12s\n", "ref", "size", "GB/s", "");
	for (size_t k = 0; k < N_BW; k++) {
		size_t sz = bw_sizes[k];
		int n = count_for(sz, seconds) * 2;

		printf("%-6s %-10zu %12.2f %12s\n", "memcpy", sz, memcpy_rate(dst, src, sz, 1, n),
		       "shared map");
		printf("%-6s %-10zu %12.2f %12s\n", "memcpy", sz,
		       memcpy_rate(dst, src, sz, WINDOW, n), "4 buffers");
	}
	munmap(dst, MAX_SIZE * WINDOW);
	dtp_free(src);
}

static int free_port(const char *host)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	inet_pton(AF_INET, host, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int main(int argc, char **argv)
{
	struct opts o = { .seconds = 0.5, .bufs = WINDOW };
	int role = -1, st[2] = { 0, 0 };
	pid_t pid[2];

	dtp_link_config_default(&o.cfg);
	o.cfg.kind = DTP_TRANSPORT_TCP;
	o.cfg.port = 0;
	o.cfg.job_key = 0xbe7c4;
	o.cfg.connect_timeout_ms = 20000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--transport") && v) {
			if (dtp_transport_kind_parse(v, &o.cfg.kind)) {
				fprintf(stderr, "dtpipe-bench-net: unknown transport '%s'\n", v);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--host") && v) {
			snprintf(o.cfg.host, sizeof(o.cfg.host), "%s", v);
			i++;
		} else if (!strcmp(a, "--port") && v) {
			o.cfg.port = atoi(v);
			i++;
		} else if (!strcmp(a, "--seconds") && v) {
			o.seconds = atof(v);
			i++;
		} else if (!strcmp(a, "--server")) {
			role = 0;
		} else if (!strcmp(a, "--client")) {
			role = 1;
		} else if (!strcmp(a, "--memcpy-ref")) {
			o.memcpy_ref = 1;
		} else if (!strcmp(a, "--own-buffers")) {
			o.own_buffers = 1;
		} else if (!strcmp(a, "--buffers") && v) {
			o.bufs = atoi(v);
			if (o.bufs < 1 || o.bufs > WINDOW) {
				fprintf(stderr, "dtpipe-bench-net: --buffers takes 1 to %d\n", WINDOW);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--size") && v) {
			o.only = (size_t)strtoull(v, NULL, 0);
			i++;
		} else {
			fprintf(stderr, "usage: dtpipe-bench-net --transport tcp|shm|verbs [--host H] "
				"[--port P] [--server|--client] [--seconds S] [--memcpy-ref] "
				"[--own-buffers] [--size BYTES] [--buffers N]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.memcpy_ref)
		memcpy_ref(o.seconds);
	if (role >= 0) {
		if (!o.cfg.port) {
			fprintf(stderr, "dtpipe-bench-net: --server/--client need --port\n");
			return 2;
		}
		return side(&o, role);
	}
	if (!o.cfg.port)
		o.cfg.port = free_port(o.cfg.host);
	if (o.memcpy_ref) {
		o.pp = mmap(NULL, sizeof(*o.pp), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			    -1, 0);
		if (o.pp == MAP_FAILED)
			o.pp = NULL;
	}
	fflush(stdout);
	for (int s = 0; s < 2; s++) {
		pid[s] = fork();
		if (pid[s] < 0)
			return 1;
		if (pid[s] == 0)
			_exit(side(&o, s));
	}
	for (int s = 0; s < 2; s++)
		waitpid(pid[s], &st[s], 0);
	for (int s = 0; s < 2; s++)
		if (!WIFEXITED(st[s]) || WEXITSTATUS(st[s]))
			return 1;
	return 0;
}
