/* The bf16 matmul engine's insides (dnnl_matmul.h), shared by its files
 * and by nothing else: dnnl_matmul.c (set-up: the engine, its buffers and
 * every primitive, made once per shape), dnnl_matmul_run.c (execution:
 * conversions and matmuls on the pool), dnnl_matmul_run16.c (the calls on
 * bf16 operands and the producers), dnnl_reference.c (the
 * benchmarks' oneDNN reference). Internal to src/model; only with oneDNN. */
#ifndef DTP_MODEL_DNNL_ENGINE_H
#define DTP_MODEL_DNNL_ENGINE_H

#include "config.h"

#ifdef DTP_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "model/dnnl_matmul.h"

#define TILE 64         /* whole blocks of colsum.c's sums (dnnl_matmul_run.c) */
#define MAX_PARTS 64
#define MAX_MM 64

/* K_FWDB, K_FWDBR: the fp32 engine's forward with oneDNN's bias (1,Nc), and
 * with a ReLU post-op after it: C = relu(A B + bias), C not read */
enum { K_FWD, K_BWDW, K_BWDD, K_FWDB, K_FWDBR };

struct dtp_mm_part {                   /* one participant's primitive */
	dnnl_primitive_t prim;
	dnnl_memory_t a, b, c, sp, bias;
	int m0, m1;             /* its rows of C */
};

struct dtp_mm_shape {                     /* one matmul shape */
	int kind, ic, oc, sum, tile;
	char impl[64];
	struct dtp_mm_part part[MAX_PARTS];
};

/* C (M,Nc) = A (M,K) B (K,Nc); element strides; a row of C moves A by arow */
struct dtp_mm_geom {
	int M, K, Nc;
	long sa0, sa1, sb0, sb1, ldc, arow;
};

struct dtp_bf16_mm {
	dnnl_engine_t eng;
	dnnl_stream_t stream[MAX_PARTS];
	struct dtp_pool *pool;
	int nw, nthr, max_rows, cap_rows, maxdim, dry;
	int f32;                        /* fp32 engine (fp32_matmul = onednn): fp32
					 * operands in place, no copies or tiles */
	const float *params;
	size_t np;
	uint16_t *w16, *a16, *d16;      /* params; rows x maxdim each */
	float *c32[MAX_PARTS];          /* a TILE x maxdim output tile each */
	void *sp_buf[MAX_PARTS];        /* each participant's scratchpad */
	size_t sp_cap[MAX_PARTS];
	struct dtp_mm_shape mm[MAX_MM];
	int n_mm;
	struct dtp_bf16_attn *attn;     /* the blocks' attention, if any */
};

/* a matmul kind's geometry over rows rows of a layer (ic -> oc) */
struct dtp_mm_geom dtp_mm_geom_of(int kind, int ic, int oc, int rows);
/* a oneDNN failure as an error for people; returns -errno */
int dtp_mm_fail(struct dtp_err *err, dnnl_status_t st, const char *what);
/* participant w's primitive p of shape x for m rows of g, planned for nthr
 * threads, in data type dt (a dry engine only sizes its scratchpad) */
int dtp_mm_make_part(struct dtp_bf16_mm *e, struct dtp_mm_shape *x, struct dtp_mm_part *p,
		     int w, const struct dtp_mm_geom *g, int m, int nthr, dnnl_data_type_t dt,
		     struct dtp_err *err);
void dtp_mm_free_part(struct dtp_mm_part *p);
/* the prepared shape, or NULL */
struct dtp_mm_shape *dtp_mm_find(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum,
				 int tile);
/* 64-byte aligned, zeroed */
void *dtp_mm_zalloc(size_t bytes);
/* run participant w's primitive p: C = A B (+ C with a sum post-op) */
void dtp_mm_exec(struct dtp_bf16_mm *e, int w, struct dtp_mm_part *p, const void *a,
		 const void *b, float *c);
/* the same with a bias (K_FWDB, K_FWDBR) */
void dtp_mm_exec_bias(struct dtp_bf16_mm *e, int w, struct dtp_mm_part *p, const void *a,
		      const void *b, const float *bias, float *c);
/* dst (n + pad) = src (n)'s bf16, then pad zeros, shared over the pool */
void dtp_mm_convert(struct dtp_bf16_mm *e, uint16_t *dst, const float *src, size_t n,
		    size_t pad);
/* the bf16 copy of parameter w (a pointer into e->params) */
const uint16_t *dtp_mm_w16_of(const struct dtp_bf16_mm *e, const float *w);
/* C (+)= A B for rows rows of the prepared shape (kind, ic -> oc, sum) on
 * the pool: the full-size primitive's row shares, or, fewer rows than
 * planned (not K_BWDW), its tile primitive by TILE rows; no shape: abort */
void dtp_mm_run(struct dtp_bf16_mm *e, int kind, int ic, int oc, int sum, const uint16_t *a,
		const uint16_t *b, float *c, int rows);

/* A matmul run by TILE-row tiles, each consumed while it is in cache: a
 * participant computes its rows a tile at a time into c (at the tile's rows)
 * or, c NULL, into its own output tile (e->c32[w]), calls post on the tile,
 * then copies its fp32 into keep32 and its bf16 into keep16 (each unless
 * NULL). A's elements are bf16, or fp32 in the fp32 engine. */
struct dtp_mm_tiles {
	struct dtp_bf16_mm *e;
	const void *a, *b;
	const float *bias;              /* K_FWDB's, or NULL */
	float *c, *keep32;
	uint16_t *keep16;
	int N;                          /* rows: the planned count, whole tiles */
	dtp_mm_tile_fn *post;
	void *ctx;
	struct dtp_mm_shape *x;         /* set by dtp_mm_tiles_fit */
	struct dtp_mm_geom g;
};

/* t's primitive and geometry: the tile primitive of kind for ic -> oc; 1
 * when t can run, 0 when there is none, t->N is not the planned count of
 * whole tiles, or an own tile is narrower than the output */
int dtp_mm_tiles_fit(struct dtp_mm_tiles *t, int kind, int ic, int oc);
/* run t (after dtp_mm_tiles_fit said 1) */
void dtp_mm_tiles_run(struct dtp_mm_tiles *t);
/* both: 1 when run, 0 (nothing run) when it does not fit */
int dtp_mm_run_tiles(struct dtp_mm_tiles *t, int kind, int ic, int oc);

#endif
#endif
