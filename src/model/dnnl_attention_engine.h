/* The attention engine's insides (dnnl_attention.h), shared by its two
 * files and by nothing else: dnnl_attention.c (set-up: every primitive and
 * buffer, made once) and dnnl_attention_run.c (the calls the blocks make).
 * Internal to src/model; only with oneDNN. */
#ifndef DTP_MODEL_DNNL_ATTENTION_ENGINE_H
#define DTP_MODEL_DNNL_ATTENTION_ENGINE_H

#include "config.h"

#ifdef DTP_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>
#include <stdint.h>

#include "model/dnnl_attention.h"

/* the three primitive kinds (dnnl_attention.c's top) */
enum { P_NT, P_NN, P_TN, N_PRIM };

struct dtp_attn_part {           /* one participant */
	dnnl_stream_t stream;
	dnnl_primitive_t prim[N_PRIM];
	dnnl_memory_t a[N_PRIM], b[N_PRIM], c[N_PRIM], sp[N_PRIM];
	uint16_t *q16, *k16, *v16, *g16; /* (H,T,hs) each, q k v in one
					 * block (3H,T,hs); fp32: q32.. */
	uint16_t *p16;                  /* (H,T,T); fp32: none */
	float *q32, *k32, *v32, *g32;
	float *d32;                     /* (H,T,T) */
	float *o32;                     /* (H,T,hs) */
	void *sp_buf;
	size_t sp_cap;
};

struct dtp_bf16_attn {
	dnnl_engine_t eng;
	struct dtp_pool *pool;
	int nw, T, C, H, hs, dry;
	int f32;                        /* fp32 operands (an fp32 engine's) */
	float scale;
	struct dtp_attn_part *part;
};

#endif
#endif
