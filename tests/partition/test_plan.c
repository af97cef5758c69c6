/* Unit tests for the plan file: loading, every class of error with its line,
 * warnings, write/load round trip, the hash, value parsers. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "partition/plan.h"

/* mlp with 4 units (784-256-128-64-10) split unevenly over 3 stages */
static const char *const mlp_plan =
	"# comment\n"                               /* 1 */
	"[model]\n"                                 /* 2 */
	"kind = mlp\n"                              /* 3 */
	"widths = 784-256-128-64-10\n"              /* 4 */
	"\n"                                        /* 5 */
	"[train]\n"                                 /* 6 */
	"micro_batch = 64\n"                        /* 7 */
	"micro_batches = 4\n"                       /* 8 */
	"schedule = 1f1b\n"                         /* 9 */
	"recompute = yes\n"                         /* 10 */
	"optimizer = adamw\n"                       /* 11 */
	"lr = 1e-3\n"                               /* 12 */
	"warmup_steps = 100\n"                      /* 13 */
	"lr_schedule = cosine\n"                    /* 14 */
	"steps = 2000\n"                            /* 15 */
	"seed = 7\n"                                /* 16 */
	"mem_cap = 1.5G\n"                          /* 17 */
	"[data]\n"                                  /* 18 */
	"train = data/fashion-mnist/train\n"        /* 19 */
	"test = data/fashion-mnist/test\n"          /* 20 */
	"loader_budget = 8M\n"                      /* 21 */
	"[checkpoint]\n"                            /* 22 */
	"dir = ckpt\n"                              /* 23 */
	"every = 500\n"                             /* 24 */
	"[transport]\n"                             /* 25 */
	"kind = tcp\n"                              /* 26 */
	"base_port = 31000\n"                       /* 27 */
	"[stage.0]\n"                               /* 28 */
	"units = 0\n"                               /* 29 */
	"cores = 0\n"                               /* 30 */
	"[stage.1]\n"                               /* 31 */
	"units = 1-2\n"                             /* 32 */
	"host = node2 ; inline comment\n"           /* 33 */
	"nic = mlx5_1\n"                            /* 34 */
	"[stage.2]\n"                               /* 35 */
	"units = 3\n";                              /* 36 */

static void test_load_mlp(void **state)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(mlp_plan, "t.ini", &p, &err), 0);
	assert_int_equal(p.model.kind, DTP_MODEL_MLP);
	assert_int_equal(p.model.n_widths, 5);
	assert_int_equal(p.model.widths[4], 10);
	assert_int_equal(p.micro_batch, 64);
	assert_int_equal(p.micro_batches, 4);
	assert_int_equal(p.schedule, DTP_SCHEDULE_1F1B);
	assert_int_equal(p.recompute, 1);
	assert_int_equal(p.optim.kind, DTP_OPTIM_ADAMW);
	assert_true(p.optim.lr == 1e-3f);
	assert_int_equal(p.optim.warmup_steps, 100);
	assert_int_equal(p.optim.total_steps, 2000);   /* cosine to `steps` */
	assert_int_equal(p.cosine_to_end, 0);
	assert_int_equal(p.steps, 2000);
	assert_int_equal(p.seed, 7);
	assert_int_equal(p.mem_cap_bytes, (size_t)3 << 29);
	assert_string_equal(p.train_path, "data/fashion-mnist/train");
	assert_string_equal(p.test_path, "data/fashion-mnist/test");
	assert_int_equal(p.loader_budget_bytes, 8 << 20);
	assert_string_equal(p.checkpoint_dir, "ckpt");
	assert_int_equal(p.checkpoint_every, 500);
	assert_int_equal(p.checkpoint_keep, 3);   /* the default */
	assert_string_equal(p.transport, "tcp");
	assert_int_equal(p.base_port, 31000);
	assert_int_equal(p.num_stages, 3);
	assert_int_equal(p.stages[0].first_unit, 0);
	assert_int_equal(p.stages[0].last_unit, 1);
	assert_string_equal(p.stages[0].cores, "0");
	assert_int_equal(p.stages[1].first_unit, 1);
	assert_int_equal(p.stages[1].last_unit, 3);
	assert_string_equal(p.stages[1].host, "node2");
	assert_string_equal(p.stages[1].nic, "mlx5_1");
	assert_int_equal(p.stages[1].line, 31);
	assert_int_equal(p.stages[2].first_unit, 3);
	assert_int_equal(p.stages[2].last_unit, 4);
	assert_string_equal(p.stages[2].host, "");
	assert_string_equal(dtp_plan_warnings(&p), "");
	assert_string_equal(p.path, "t.ini");
}

static void test_load_gpt_spec_and_keys(void **state)
{
	struct dtp_plan a, b;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nspec = gpt:layers=2,dim=64,heads=4,seq=32,vocab=256\n"
		"[train]\nmicro_batches = 2\n[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2-3\n",
		NULL, &a, &err), 0);
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nkind = gpt\nlayers = 2\ndim = 64\nheads = 4\nseq_len = 32\n"
		"[train]\nmicro_batches = 2\n[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2-3\n",
		NULL, &b, &err), 0);
	assert_int_equal(a.model.kind, DTP_MODEL_GPT);
	assert_int_equal(a.model.layers, 2);
	assert_int_equal(b.model.vocab, 256);
	assert_memory_equal(&a.model, &b.model, sizeof(a.model));
	assert_int_equal(dtp_plan_hash(&a), dtp_plan_hash(&b));
	assert_string_equal(a.path, "<string>");
	/* a UTF-8 byte order mark before the first section */
	assert_int_equal(dtp_plan_parse_string("\xEF\xBB\xBF[model]\nspec = mlp:4-2\n"
					       "[stage.0]\nunits = 0\n", NULL, &a, &err), 0);
	assert_int_equal(a.num_stages, 1);
}

/* Parse `text`; expect -EINVAL with "<name>:line:" and each given fragment. */
static void expect_error(const char *text, int line, ...)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };
	char where[64];
	const char *frag;
	va_list ap;

	p.num_stages = -12345;
	assert_int_equal(dtp_plan_parse_string(text, "bad.ini", &p, &err), -EINVAL);
	assert_int_equal(p.num_stages, -12345);   /* output untouched on error */
	if (line > 0)
		snprintf(where, sizeof(where), "bad.ini:%d: ", line);
	else
		snprintf(where, sizeof(where), "bad.ini: ");
	if (strncmp(err.msg, where, strlen(where)) != 0)
		fail_msg("expected '%s' at the start of: %s", where, err.msg);
	va_start(ap, line);
	while ((frag = va_arg(ap, const char *)))
		if (!strstr(err.msg, frag))
			fail_msg("expected '%s' in: %s", frag, err.msg);
	va_end(ap);
}

#define MLP2 "[model]\nkind = mlp\nwidths = 8-8-8-8-4\n"   /* 4 units, lines 1-3 */

static void test_errors_syntax_and_keys(void **state)
{
	(void)state;
	expect_error(MLP2 "[trian]\nsteps = 1\n", 4, "unknown section [trian]", "[train]", NULL);
	expect_error(MLP2 "[train]\nmicrobatch = 4\n", 5, "unknown key 'microbatch'",
		     "micro_batch, micro_batches", NULL);
	expect_error(MLP2 "[train]\nmicro_batch = lots\n", 5, "micro_batch", "not a whole number",
		     NULL);
	expect_error(MLP2 "[train]\nmicro_batch = 0\n", 5, "micro_batch", "out of range", NULL);
	expect_error(MLP2 "[train]\nmicro_batches = 0\n", 5, "micro_batches", NULL);
	expect_error(MLP2 "[train]\nlr = fast\n", 5, "lr", NULL);
	expect_error(MLP2 "[train]\nschedule = zigzag\n", 5, "gpipe", "1f1b", NULL);
	expect_error(MLP2 "[train]\nmem_cap = 3Q\n", 5, "mem_cap", "suffix", NULL);
	expect_error(MLP2 "[train]\nsteps = 1\nsteps = 2\n", 6, "twice", "lines 5 and 6", NULL);
	expect_error(MLP2 "[train]\nsteps = 1\n[train]\n", 6, "[train] appears twice", NULL);
	expect_error("steps = 1\n" MLP2, 1, "outside any section", NULL);
	expect_error(MLP2 "[train]\nthis line has no equals\n", 5, "cannot read this line", NULL);
	expect_error(MLP2 "[stage.0]\nunits = 0-3\ncolor = red\n", 6, "unknown key 'color'",
		     "units, host, cores, nic", NULL);
	expect_error(MLP2 "[stage.0]\nunits = 3-0\n", 5, "backwards", NULL);
	expect_error(MLP2 "[stage.0]\nunits = a-b\n", 5, "inclusive range", NULL);
	expect_error(MLP2 "[stage.0]\nunits = 0-3\ncores = 0-x\n", 6, "cpulist", NULL);
	expect_error(MLP2 "[stage.01]\nunits = 0-3\n", 4, "bad stage section", NULL);
	expect_error("[model]\nkind = cnn\n", 2, "mlp or gpt", NULL);
	expect_error("[model]\nkind = mlp\nwidths = 784-x-10\n", 3, "widths", NULL);
	expect_error("[model]\nkind = mlp\nwidths = 8-4\nlayers = 2\n", 4, "gpt key", NULL);
	expect_error("[model]\nkind = gpt\nlayers = 2\n[stage.0]\nunits = 0\n", 1, "needs dim",
		     NULL);
	expect_error("[model]\nspec = mlp:8-4\nkind = mlp\n", 3, "both spec", NULL);
	expect_error("[train]\nsteps = 1\n", 0, "no [model] section", NULL);
	expect_error(MLP2 "[train]\ntotal_steps = 10\n", 5, "lr_schedule = cosine", NULL);
	expect_error(MLP2 "[parallel]\nreplicas = 0\n", 5, "replicas", "out of range", NULL);
	expect_error(MLP2 "[parallel]\nreplicas = 5000\n", 5, "replicas", "out of range", NULL);
	expect_error(MLP2 "[parallel]\nranks = 2\n", 5, "unknown key 'ranks'", "replicas", NULL);

	char longline[400];
	snprintf(longline, sizeof(longline), MLP2 "[data]\ntrain = %0300d\n", 0);
	expect_error(longline, 5, "longer than", NULL);
}

static void test_errors_units(void **state)
{
	(void)state;
	/* no stages */
	expect_error(MLP2 "[train]\nsteps = 1\n", 0, "no [stage.N] sections", "units = 0-3", NULL);
	/* unit 2 dropped between stage 0 and stage 1 */
	expect_error(MLP2 "[stage.0]\nunits = 0-1\n[stage.1]\nunits = 3\n", 6,
		     "unit(s) 2-2 are in no stage", "[stage.0] (line 4)", "[stage.1]", NULL);
	/* unit 1 repeated */
	expect_error(MLP2 "[stage.0]\nunits = 0-1\n[stage.1]\nunits = 1-3\n", 6,
		     "repeat unit(s) 1-1", "already in [stage.0] (line 4)", NULL);
	/* out of order */
	expect_error(MLP2 "[stage.0]\nunits = 2-3\n[stage.1]\nunits = 0-1\n", 4,
		     "in order", "[stage.1] (line 6)", NULL);
	/* stage 0 not starting at 0, unit 0 in no stage */
	expect_error(MLP2 "[stage.0]\nunits = 1-3\n", 4, "unit(s) 0-0 are in no stage", NULL);
	/* last unit dropped */
	expect_error(MLP2 "[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2\n", 6,
		     "unit(s) 3-3 are in no stage", "[stage.1]", NULL);
	/* past the end */
	expect_error(MLP2 "[stage.0]\nunits = 0-4\n", 4, "past the model's last unit 3", NULL);
	/* numbering gap */
	expect_error(MLP2 "[stage.0]\nunits = 0-1\n[stage.2]\nunits = 2-3\n", 6,
		     "no [stage.1]", NULL);
	/* a stage without units */
	expect_error(MLP2 "[stage.0]\nunits = 0-3\n[stage.1]\nhost = x\n", 6, "no units key",
		     NULL);
	/* stage section repeated */
	expect_error(MLP2 "[stage.0]\nunits = 0-3\n[stage.0]\nhost = x\n", 6,
		     "[stage.0] appears twice (first at line 4)", NULL);
}

static void test_warning_m_less_than_stages(void **state)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(MLP2 "[train]\nmicro_batches = 2\n"
		"[stage.0]\nunits = 0\n[stage.1]\nunits = 1\n[stage.2]\nunits = 2-3\n",
		"w.ini", &p, &err), 0);
	assert_non_null(strstr(dtp_plan_warnings(&p), "w.ini:5: warning: micro_batches = 2"));
	assert_non_null(strstr(dtp_plan_warnings(&p), "3 stages"));
	assert_int_equal(dtp_plan_parse_string(MLP2 "[train]\nmicro_batches = 3\n"
		"[stage.0]\nunits = 0\n[stage.1]\nunits = 1\n[stage.2]\nunits = 2-3\n",
		"w.ini", &p, &err), 0);
	assert_string_equal(dtp_plan_warnings(&p), "");
}

/* [parallel] replicas: default 1, read, range-checked, written back */
static void test_replicas(void **state)
{
	struct dtp_plan p, q;
	struct dtp_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(dtp_plan_parse_string(MLP2 "[stage.0]\nunits = 0-3\n", "r.ini", &p, &err), 0);
	assert_int_equal(p.replicas, 1);
	assert_int_equal(dtp_plan_parse_string(MLP2 "[parallel]\nreplicas = 4\n"
		"[stage.0]\nunits = 0-1\n[stage.1]\nunits = 2-3\n", "r.ini", &p, &err), 0);
	assert_int_equal(p.replicas, 4);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(dtp_plan_write(&p, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\n[parallel]\nreplicas = 4\n"));
	assert_int_equal(dtp_plan_parse_string(buf, "rt.ini", &q, &err), 0);
	assert_int_equal(q.replicas, 4);
	free(buf);
	assert_int_equal(dtp_plan_parse_string(MLP2 "[parallel]\nreplicas = 0\n"
		"[stage.0]\nunits = 0-3\n", "r.ini", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "r.ini:"));
	assert_non_null(strstr(err.msg, "replicas"));
	assert_int_equal(dtp_plan_parse_string(MLP2 "[parallel]\nstages = 2\n"
		"[stage.0]\nunits = 0-3\n", "r.ini", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "replicas"));
}

static void assert_same_plan(const struct dtp_plan *a, const struct dtp_plan *b)
{
	assert_memory_equal(&a->model, &b->model, sizeof(a->model));
	assert_int_equal(a->micro_batch, b->micro_batch);
	assert_int_equal(a->replicas, b->replicas);
	assert_int_equal(a->reduce_overlap, b->reduce_overlap);
	assert_int_equal(a->micro_batches, b->micro_batches);
	assert_int_equal(a->schedule, b->schedule);
	assert_int_equal(a->recompute, b->recompute);
	assert_int_equal(a->optim.kind, b->optim.kind);
	assert_true(a->optim.lr == b->optim.lr && a->optim.momentum == b->optim.momentum);
	assert_true(a->optim.beta1 == b->optim.beta1 && a->optim.beta2 == b->optim.beta2);
	assert_true(a->optim.eps == b->optim.eps && a->optim.clip_norm == b->optim.clip_norm);
	assert_true(a->optim.weight_decay == b->optim.weight_decay);
	assert_true(a->optim.min_lr_ratio == b->optim.min_lr_ratio);
	assert_int_equal(a->optim.warmup_steps, b->optim.warmup_steps);
	assert_int_equal(a->optim.total_steps, b->optim.total_steps);
	assert_int_equal(a->cosine_to_end, b->cosine_to_end);
	assert_int_equal(a->steps, b->steps);
	assert_int_equal(a->epochs, b->epochs);
	assert_int_equal(a->seed, b->seed);
	assert_int_equal(a->log_every, b->log_every);
	assert_int_equal(a->mem_cap_bytes, b->mem_cap_bytes);
	assert_string_equal(a->train_path, b->train_path);
	assert_string_equal(a->test_path, b->test_path);
	assert_int_equal(a->loader_budget_bytes, b->loader_budget_bytes);
	assert_int_equal(a->shuffle_window, b->shuffle_window);
	assert_string_equal(a->checkpoint_dir, b->checkpoint_dir);
	assert_int_equal(a->checkpoint_every, b->checkpoint_every);
	assert_int_equal(a->checkpoint_keep, b->checkpoint_keep);
	assert_int_equal(a->max_restarts, b->max_restarts);
	assert_int_equal(a->elastic, b->elastic);
	assert_string_equal(a->transport, b->transport);
	assert_int_equal(a->base_port, b->base_port);
	assert_int_equal(a->gid_index, b->gid_index);
	assert_int_equal(a->connect_timeout_ms, b->connect_timeout_ms);
	assert_int_equal(a->heartbeat_ms, b->heartbeat_ms);
	assert_int_equal(a->peer_timeout_ms, b->peer_timeout_ms);
	assert_int_equal(a->hang_timeout_ms, b->hang_timeout_ms);
	assert_int_equal(a->ib_port, b->ib_port);
	assert_int_equal(a->verbs_blocking, b->verbs_blocking);
	assert_int_equal(a->num_stages, b->num_stages);
	for (int s = 0; s < a->num_stages; s++) {
		assert_int_equal(a->stages[s].first_unit, b->stages[s].first_unit);
		assert_int_equal(a->stages[s].last_unit, b->stages[s].last_unit);
		assert_string_equal(a->stages[s].host, b->stages[s].host);
		assert_string_equal(a->stages[s].cores, b->stages[s].cores);
		assert_string_equal(a->stages[s].nic, b->stages[s].nic);
	}
	assert_int_equal(dtp_plan_hash(a), dtp_plan_hash(b));
}

static void roundtrip(const struct dtp_plan *a)
{
	struct dtp_plan b;
	struct dtp_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(dtp_plan_write(a, f), 0);
	fclose(f);
	if (dtp_plan_parse_string(buf, "rt.ini", &b, &err))
		fail_msg("written plan does not load: %s\n%s", err.msg, buf);
	assert_same_plan(a, &b);
	free(buf);
}

static void test_write_roundtrip(void **state)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(mlp_plan, "t.ini", &p, &err), 0);
	roundtrip(&p);
	/* odd floats and a cosine to the end of an epoch-based run */
	p.optim.lr = 0.1f / 3.0f;
	p.optim.weight_decay = 1e-7f;
	p.optim.total_steps = 0;
	p.steps = 0;
	p.epochs = 3;
	p.cosine_to_end = 1;
	p.seed = UINT64_MAX;
	p.ib_port = 2;
	p.verbs_blocking = 1;
	p.checkpoint_keep = 7;
	p.replicas = 3;
	p.reduce_overlap = 1;
	p.max_restarts = 5;
	p.elastic = 1;
	roundtrip(&p);
	/* the verbs keys parse, and port 0 (ports count from 1) is refused */
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nspec = mlp:4-3\n[transport]\nib_port = 1\nverbs_blocking = yes\n"
		"[stage.0]\nunits = 0\n", "v.ini", &p, &err), 0);
	assert_int_equal(p.ib_port, 1);
	assert_int_equal(p.verbs_blocking, 1);
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nspec = mlp:4-3\n[transport]\nib_port = 0\n[stage.0]\nunits = 0\n",
		"v.ini", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ib_port"));
	assert_int_equal(dtp_plan_parse_string(mlp_plan, "t.ini", &p, &err), 0);
	assert_int_equal(dtp_plan_parse_string(
		"[model]\nspec = gpt:L=3,C=32,H=2,T=16,V=97\n[train]\noptimizer = sgd\n"
		"momentum = 0\n[stage.0]\nunits = 0-4\n", NULL, &p, &err), 0);
	roundtrip(&p);
	/* a value that would not read back is refused */
	snprintf(p.train_path, sizeof(p.train_path), "a ;b");
	FILE *f = fopen("/dev/null", "w");
	assert_int_equal(dtp_plan_write(&p, f), -EINVAL);
	fclose(f);
}

/* [parallel] replicas: 1 by default, R when given; the hash of an
 * unreplicated plan is unchanged, a replicated one differs */
#define ONE_STAGE "[stage.0]\nunits = 0-3\n"
static void test_replicas_hash(void **state)
{
	struct dtp_plan p, q;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(MLP2 ONE_STAGE, "r.ini", &p, &err), 0);
	assert_int_equal(p.replicas, 1);
	assert_int_equal(dtp_plan_parse_string(MLP2 ONE_STAGE "[parallel]\nreplicas = 1\n", "r.ini", &q, &err),
			 0);
	assert_int_equal(dtp_plan_hash(&p), dtp_plan_hash(&q));
	assert_int_equal(dtp_plan_parse_string(MLP2 ONE_STAGE "[parallel]\nreplicas = 4\n", "r.ini", &q, &err),
			 0);
	assert_int_equal(q.replicas, 4);
	assert_true(dtp_plan_hash(&p) != dtp_plan_hash(&q));
	/* every replica's stages listen on base_port + r x K + s */
	assert_int_equal(dtp_plan_parse_string(MLP2 ONE_STAGE "[parallel]\nreplicas = 4\n[transport]\n"
					       "base_port = 65533\n", "r.ini", &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "base_port + r x K + s"));
}

static void test_hash(void **state)
{
	struct dtp_plan a, b;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(mlp_plan, "t.ini", &a, &err), 0);
	b = a;
	snprintf(b.stages[1].host, sizeof(b.stages[1].host), "elsewhere");
	snprintf(b.train_path, sizeof(b.train_path), "/other/path");
	assert_int_equal(dtp_plan_hash(&a), dtp_plan_hash(&b));   /* placement may differ */
	b = a;
	b.stages[1].last_unit = 2;
	b.stages[2].first_unit = 2;
	assert_int_not_equal(dtp_plan_hash(&a), dtp_plan_hash(&b));
	b = a;
	b.optim.lr = 2e-3f;
	assert_int_not_equal(dtp_plan_hash(&a), dtp_plan_hash(&b));
	b = a;
	b.micro_batches = 8;
	assert_int_not_equal(dtp_plan_hash(&a), dtp_plan_hash(&b));
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/dtp_plan_XXXXXX";
	struct dtp_plan p;
	struct dtp_err err = { 0 };
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(mlp_plan, f);
	fclose(f);
	assert_int_equal(dtp_plan_load(path, &p, &err), 0);
	assert_string_equal(p.path, path);
	assert_int_equal(p.num_stages, 3);
	unlink(path);
	assert_int_equal(dtp_plan_load(path, &p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "cannot open"));
}

/* a plan as dtpipe-partition writes it (defaults, adamw, notes under each
 * stage) loads back without a warning and the same */
static void test_written_plan_has_no_warnings(void **state)
{
	const char *notes[2] = { "NUMA node 0, NIC -: shared memory only", NULL };
	struct dtp_plan a, b;
	struct dtp_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	dtp_plan_defaults(&a);
	assert_int_equal(dtp_model_spec_parse("gpt:L=2,C=32,H=2,T=16,V=64", &a.model, &err), 0);
	dtp_optim_config_default(&a.optim, DTP_OPTIM_ADAMW);
	a.micro_batches = 4;
	a.num_stages = 2;
	a.stages[0] = (struct dtp_stage_plan){ .first_unit = 0, .last_unit = 2, .cores = "0" };
	a.stages[1] = (struct dtp_stage_plan){ .first_unit = 2, .last_unit = 4, .cores = "1" };
	assert_int_equal(dtp_plan_validate(&a, &err), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(dtp_plan_write_notes(&a, notes, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "[stage.0]\n# NUMA node 0, NIC -: shared memory only\n"));
	if (dtp_plan_parse_string(buf, "w.ini", &b, &err))
		fail_msg("written plan does not load: %s\n%s", err.msg, buf);
	assert_string_equal(dtp_plan_warnings(&b), "");
	assert_same_plan(&a, &b);
	free(buf);
	/* a note that would break the file is refused */
	notes[1] = "two\nlines";
	f = fopen("/dev/null", "w");
	assert_int_equal(dtp_plan_write_notes(&a, notes, f), -EINVAL);
	fclose(f);
}

static void test_validate_generated(void **state)
{
	struct dtp_plan p;
	struct dtp_err err = { 0 };

	(void)state;
	assert_int_equal(dtp_plan_parse_string(mlp_plan, "t.ini", &p, &err), 0);
	assert_int_equal(dtp_plan_validate(&p, &err), 0);
	p.stages[1].last_unit = 2;   /* unit 2 now in no stage */
	assert_int_equal(dtp_plan_validate(&p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "t.ini:35: unit(s) 2-2 are in no stage"));
	p.stages[1].last_unit = 3;
	p.micro_batches = 0;
	assert_int_equal(dtp_plan_validate(&p, &err), -EINVAL);
	p.micro_batches = 1;
	p.micro_batch = 0;
	assert_int_equal(dtp_plan_validate(&p, &err), -EINVAL);
}

static void test_parse_size_and_cpulist(void **state)
{
	size_t v = 0;

	(void)state;
	assert_int_equal(dtp_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(dtp_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(dtp_parse_size("2MiB", &v), 0);
	assert_int_equal(v, 2 << 20);
	assert_int_equal(dtp_parse_size("1.5g", &v), 0);
	assert_int_equal(v, (size_t)3 << 29);
	assert_int_equal(dtp_parse_size("-1", &v), -EINVAL);
	assert_int_equal(dtp_parse_size("1X", &v), -EINVAL);
	assert_int_equal(dtp_parse_size("", &v), -EINVAL);
	assert_int_equal(dtp_cpulist_check("0-3,8,10-11"), 0);
	assert_int_equal(dtp_cpulist_check("5"), 0);
	assert_int_equal(dtp_cpulist_check("3-1"), -EINVAL);
	assert_int_equal(dtp_cpulist_check("0,"), -EINVAL);
	assert_int_equal(dtp_cpulist_check(""), -EINVAL);
	assert_int_equal(dtp_cpulist_check("a"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_mlp),
		cmocka_unit_test(test_load_gpt_spec_and_keys),
		cmocka_unit_test(test_errors_syntax_and_keys),
		cmocka_unit_test(test_errors_units),
		cmocka_unit_test(test_warning_m_less_than_stages),
		cmocka_unit_test(test_replicas),
		cmocka_unit_test(test_write_roundtrip),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_replicas_hash),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_written_plan_has_no_warnings),
		cmocka_unit_test(test_validate_generated),
		cmocka_unit_test(test_parse_size_and_cpulist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
