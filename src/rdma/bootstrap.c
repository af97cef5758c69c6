/* Bootstrap: rank detection from --stage or the launcher's environment, and
 * Slurm node lists (expansion and the stage -> host mapping). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma/bootstrap.h"

#define MAX_HOSTS 65536
#define MAX_NAME 256

static const char *const source_names[] = {
	[DTP_RANK_NONE] = "none",
	[DTP_RANK_OPTION] = "--stage",
	[DTP_RANK_OMPI] = "OMPI_COMM_WORLD_RANK",
	[DTP_RANK_PMIX] = "PMIX_RANK",
	[DTP_RANK_PMI] = "PMI_RANK",
	[DTP_RANK_SLURM] = "SLURM_PROCID",
};

const char *dtp_rank_source_name(enum dtp_rank_source s)
{
	if ((unsigned)s < sizeof(source_names) / sizeof(source_names[0]))
		return source_names[s];
	return "unknown";
}

static int parse_nonneg(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int dtp_rank_detect(int option, int *rank, enum dtp_rank_source *src, struct dtp_err *err)
{
	static const enum dtp_rank_source order[] = {
		DTP_RANK_OMPI, DTP_RANK_PMIX, DTP_RANK_PMI, DTP_RANK_SLURM,
	};

	if (option >= 0) {
		*rank = option;
		*src = DTP_RANK_OPTION;
		return 0;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const char *name = source_names[order[i]], *v = getenv(name);
		long r;

		if (!v)
			continue;
		/* a batch script has SLURM_PROCID=0 too, but only a task of a job
		 * step (srun) is one of the job's ranks: there dtpipe launches */
		if (order[i] == DTP_RANK_SLURM && !getenv("SLURM_STEP_ID"))
			continue;
		if (parse_nonneg(v, 1 << 20, &r) < 0)
			return dtp_errf_input(err, -EINVAL,
					      "%s='%s' is not a stage number: fix the launcher's "
					      "environment or pass --stage N", name, v);
		*rank = (int)r;
		*src = order[i];
		return 0;
	}
	*rank = -1;
	*src = DTP_RANK_NONE;
	return 0;
}

void dtp_hostlist_free(struct dtp_hostlist *h)
{
	for (int i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	h->names = NULL;
	h->n = 0;
}

struct expander {
	struct dtp_hostlist *h;
	int cap;
	const char *list;          /* the whole input, for messages */
	struct dtp_err *err;
};

static int add_name(struct expander *x, const char *name)
{
	if (x->h->n == MAX_HOSTS)
		return dtp_errf_input(x->err, -E2BIG, "node list '%.200s' names more than %d hosts",
				      x->list, MAX_HOSTS);
	if (x->h->n == x->cap) {
		int cap = x->cap ? 2 * x->cap : 16;
		char **p = realloc(x->h->names, (size_t)cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		x->h->names = p;
		x->cap = cap;
	}
	x->h->names[x->h->n] = strdup(name);
	if (!x->h->names[x->h->n])
		return -ENOMEM;
	x->h->n++;
	return 0;
}

static int bad(struct expander *x, const char *at, const char *what)
{
	return dtp_errf_input(x->err, -EINVAL,
			      "node list '%.200s': %s at offset %d: expected names like "
			      "node[1-4,7],gpu01", x->list, what, (int)(at - x->list));
}

/* expand one comma-free (at depth 0) item of n chars at s */
static int expand_item(struct expander *x, const char *s, size_t n)
{
	const char *lb = memchr(s, '[', n), *rb, *p;
	char name[MAX_NAME];
	size_t pre, post;

	if (n == 0)
		return bad(x, s, "empty host name");
	if (!lb) {
		if (memchr(s, ']', n))
			return bad(x, s, "']' without '['");
		if (n >= MAX_NAME)
			return bad(x, s, "host name too long");
		memcpy(name, s, n);
		name[n] = 0;
		return add_name(x, name);
	}
	rb = memchr(lb, ']', n - (size_t)(lb - s));
	if (!rb)
		return bad(x, lb, "'[' without ']'");
	if (memchr(s, ']', (size_t)(lb - s)) || memchr(lb + 1, '[', (size_t)(rb - lb - 1)))
		return bad(x, lb, "nested or unbalanced brackets");
	pre = (size_t)(lb - s);
	post = n - (size_t)(rb + 1 - s);
	if (rb == lb + 1)
		return bad(x, lb, "empty brackets");
	for (p = lb + 1; p < rb;) {
		const char *q = p, *dash = NULL;
		unsigned long lo, hi;
		int width;

		while (q < rb && *q != ',') {
			if (*q == '-' && !dash)
				dash = q;
			else if (!isdigit((unsigned char)*q))
				return bad(x, q, "not a number in a range");
			q++;
		}
		if (q == p || dash == p || (dash && dash + 1 == q))
			return bad(x, p, "empty number in a range");
		width = (int)((dash ? dash : q) - p);
		lo = strtoul(p, NULL, 10);
		hi = dash ? strtoul(dash + 1, NULL, 10) : lo;
		if (hi < lo)
			return bad(x, p, "range runs backwards");
		if (hi - lo >= MAX_HOSTS || width > 18)
			return dtp_errf_input(x->err, -E2BIG, "node list '%.200s' names more than %d "
					      "hosts", x->list, MAX_HOSTS);
		for (unsigned long v = lo; v <= hi; v++) {
			char num[32];
			int k = snprintf(num, sizeof(num), "%0*lu", width, v);
			int rc;

			if (pre + (size_t)k + post >= MAX_NAME)
				return bad(x, s, "host name too long");
			memcpy(name, s, pre);
			memcpy(name + pre, num, (size_t)k);
			memcpy(name + pre + (size_t)k, rb + 1, post);
			/* later bracket groups in the same name */
			rc = expand_item(x, name, pre + (size_t)k + post);
			if (rc)
				return rc;
		}
		p = q < rb ? q + 1 : q;
		if (q < rb && p == rb)
			return bad(x, q, "trailing comma in brackets");
	}
	return 0;
}

int dtp_slurm_nodelist_expand(const char *list, struct dtp_hostlist *out,
			      struct dtp_err *err)
{
	struct dtp_hostlist h = { 0, NULL };
	struct expander x = { &h, 0, list, err };
	const char *s = list, *p;
	int depth = 0, rc = 0;

	if (!list || !*list)
		return dtp_errf_input(err, -EINVAL, "empty node list");
	for (p = list;; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']')
			depth--;
		if (depth < 0) {
			rc = bad(&x, p, "']' without '['");
			break;
		}
		if ((*p == ',' && depth == 0) || *p == 0) {
			rc = expand_item(&x, s, (size_t)(p - s));
			if (rc || *p == 0)
				break;
			s = p + 1;
		}
	}
	if (rc) {
		dtp_hostlist_free(&h);
		if (rc == -ENOMEM)
			dtp_errf_runtime(err, rc, "no memory to expand the node list");
		return rc;
	}
	*out = h;
	return 0;
}

int dtp_slurm_stage_host(const struct dtp_hostlist *nodes, const char *tasks_per_node,
			 int stage, char *host, size_t len, struct dtp_err *err)
{
	const char *p = tasks_per_node;
	int node = 0, found = -1;
	long first = 0;

	if (stage < 0)
		return dtp_errf_input(err, -ERANGE, "stage %d: not a stage number", stage);
	if (!p || !*p) {
		if (stage >= nodes->n)
			return dtp_errf_input(err, -ERANGE, "stage %d has no node: the node list has "
					      "%d nodes and one stage runs per node", stage, nodes->n);
		snprintf(host, len, "%s", nodes->names[stage]);
		return 0;
	}
	/* the whole string is checked, also past the stage's node */
	while (*p) {
		char *end;
		long count = strtol(p, &end, 10), reps = 1;

		if (end == p || count < 1 || count > 1 << 20)
			goto bad_syntax;
		p = end;
		if (*p == '(') {
			if (p[1] != 'x')
				goto bad_syntax;
			reps = strtol(p + 2, &end, 10);
			if (end == p + 2 || *end != ')' || reps < 1 || reps > 1 << 20)
				goto bad_syntax;
			p = end + 1;
		}
		for (long r = 0; r < reps; r++, node++) {
			if (found < 0 && stage < first + count)
				found = node;
			first += count;
		}
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			goto bad_syntax;
	}
	if (found < 0)
		return dtp_errf_input(err, -ERANGE, "stage %d is beyond the %ld tasks of '%s'", stage,
				      first, tasks_per_node);
	if (found >= nodes->n)
		return dtp_errf_input(err, -ERANGE, "tasks per node '%s' puts stage %d on node %d, but "
				      "the node list has %d nodes", tasks_per_node, stage, found + 1,
				      nodes->n);
	snprintf(host, len, "%s", nodes->names[found]);
	return 0;
bad_syntax:
	return dtp_errf_input(err, -EINVAL, "tasks per node '%s': expected counts like 2(x3),1",
			      tasks_per_node);
}

int dtp_slurm_host_of_stage(int stage, char *host, size_t len, struct dtp_err *err)
{
	const char *list = getenv("SLURM_STEP_NODELIST"), *tpn;
	struct dtp_hostlist h;
	int rc;

	if (!list)
		list = getenv("SLURM_JOB_NODELIST");
	if (!list)
		return dtp_errf_input(err, -ENOENT, "no SLURM_STEP_NODELIST or SLURM_JOB_NODELIST: "
				      "not under Slurm; give the hosts in the plan");
	tpn = getenv("SLURM_STEP_TASKS_PER_NODE");
	if (!tpn)
		tpn = getenv("SLURM_TASKS_PER_NODE");
	rc = dtp_slurm_nodelist_expand(list, &h, err);
	if (rc)
		return rc;
	rc = dtp_slurm_stage_host(&h, tpn, stage, host, len, err);
	dtp_hostlist_free(&h);
	return rc;
}
