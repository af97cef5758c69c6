/* Interleaved plans (schedule = interleaved, [train] virtual_stages = v): each
 * stage holds v non-adjacent chunks of units, listed in its units key
 * ("units = 0-1, 4-5"). The K x v chunks tile the model's units in the
 * interleaved order: stage 0's chunk 0, stage 1's chunk 0, ..., stage K-1's
 * chunk 0, stage 0's chunk 1, ... (chunk c of stage K-1 feeds chunk c+1 of
 * stage 0). Parsing the list, checking the tiling and the schedule's
 * constraints, and writing the list back. */
#include "config.h"
#include "partition/plan.h"

#include <errno.h>
#include <string.h>

/* one "A-B" or "A" (blanks around allowed): [*first, *last); -ERANGE when
 * backwards */
static int parse_range(const char *s, size_t n, int *first, int *last)
{
	char buf[64], *dash;
	long a, b;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (dtp_parse_long(buf, 0, 1 << 24, &a) || (dash && dtp_parse_long(dash + 1, 0, 1 << 24, &b)))
		return -EINVAL;
	if (!dash)
		b = a;
	if (b < a)
		return -ERANGE;
	*first = (int)a;
	*last = (int)b + 1;
	return 0;
}

int dtp_plan_parse_units(const char *v, struct dtp_stage_plan *st, char *why, size_t why_len)
{
	const char *p = v;
	int n = 0, r;

	for (;;) {
		const char *comma;
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);

		if (n == DTP_MAX_VIRTUAL_STAGES) {
			snprintf(why, why_len, "units = '%s' lists more than %d ranges (the most chunks a stage holds)",
				 v, DTP_MAX_VIRTUAL_STAGES);
			return -EINVAL;
		}
		r = parse_range(p, len, &st->chunk_first[n], &st->chunk_last[n]);
		if (r == -ERANGE) {
			snprintf(why, why_len, "units = %s: range %d (%.*s) is backwards: write the lower unit first",
				 v, n + 1, (int)len, p);
			return -EINVAL;
		}
		if (r) {
			snprintf(why, why_len, "units = '%s': write an inclusive range of unit indices such as 0-2, "
				 "or one index such as 3 (interleaved plans: one range per chunk, "
				 "separated by commas, such as 0-1, 4-5)", v);
			return -EINVAL;
		}
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	st->n_chunks = n;
	st->first_unit = st->chunk_first[0];
	st->last_unit = st->chunk_last[0];
	return 0;
}

static int chunked(const struct dtp_plan *p)
{
	if (p->virtual_stages > 1)
		return 1;
	for (int s = 0; s < p->num_stages && s < DTP_MAX_STAGES; s++)
		if (p->stages[s].n_chunks > 1)
			return 1;
	return 0;
}

void dtp_plan_chunk_units(const struct dtp_plan *p, int s, int c, int *first, int *last)
{
	const struct dtp_stage_plan *st = &p->stages[s];

	if (st->n_chunks > 1 && c < st->n_chunks) {
		*first = st->chunk_first[c];
		*last = st->chunk_last[c];
	} else {
		*first = st->first_unit;
		*last = st->last_unit;
	}
}

/* "file: " or "file:line: " of stage s's header */
static const char *at_stage(const struct dtp_plan *p, int s, char *buf, size_t len)
{
	if (s >= 0 && p->stages[s].line > 0)
		snprintf(buf, len, "%s:%d: ", p->path, p->stages[s].line);
	else
		snprintf(buf, len, "%s: ", p->path);
	return buf;
}

int dtp_plan_validate_chunks(const struct dtp_plan *p, int n_units, struct dtp_err *err)
{
	int K = p->num_stages, v = p->virtual_stages, next = 0;
	char at[DTP_PLAN_PATH_MAX + 32];

	at_stage(p, -1, at, sizeof(at));
	if (!chunked(p) && p->schedule == DTP_SCHEDULE_INTERLEAVED)
		return dtp_errf_input(err, -EINVAL,
				      "%sschedule = interleaved needs [train] virtual_stages = v >= 2 and "
				      "v ranges of units per stage (e.g. units = 0-1, 4-5); "
				      "`dtpipe-partition plan --schedule interleaved --virtual-stages 2` writes one", at);
	if (!chunked(p))
		return 0;
	if (v < 1 || v > DTP_MAX_VIRTUAL_STAGES)
		return dtp_errf_input(err, -EINVAL, "%s[train] virtual_stages = %d: give 1 to %d", at, v,
				      DTP_MAX_VIRTUAL_STAGES);
	if (K < 1 || K > DTP_MAX_STAGES)
		return dtp_errf_input(err, -EINVAL, "%s%d stages: a plan needs 1 to %d [stage.N] sections",
				      at, K, DTP_MAX_STAGES);
	for (int s = 0; s < K; s++) {
		int n = p->stages[s].n_chunks > 1 ? p->stages[s].n_chunks : 1;

		if (n != v)
			return dtp_errf_input(err, -EINVAL,
					      "%s[stage.%d] units lists %d range%s but [train] virtual_stages = %d: "
					      "give every stage %d ranges (its chunks, e.g. units = 0-1, 4-5), "
					      "or set virtual_stages = %d", at_stage(p, s, at, sizeof(at)), s, n,
					      n == 1 ? "" : "s", v, v, n);
	}
	at_stage(p, -1, at, sizeof(at));
	if (v > 1 && p->schedule != DTP_SCHEDULE_INTERLEAVED && p->schedule != DTP_SCHEDULE_AUTO)
		return dtp_errf_input(err, -EINVAL,
				      "%s[train] virtual_stages = %d with schedule = %s: only schedule = "
				      "interleaved (or auto) runs a stage's non-adjacent chunks; set it, "
				      "or give each stage one range and virtual_stages = 1", at, v,
				      dtp_schedule_name(p->schedule));
	/* the tiling, in the interleaved order */
	for (int c = 0; c < v; c++) {
		for (int s = 0; s < K; s++) {
			int a, b;

			dtp_plan_chunk_units(p, s, c, &a, &b);
			if (b <= a)
				return dtp_errf_input(err, -EINVAL, "%s[stage.%d] chunk %d has no units",
						      at_stage(p, s, at, sizeof(at)), s, c);
			if (a != next)
				return dtp_errf_input(err, -EINVAL,
						      "%s[stage.%d] chunk %d holds units %d-%d but unit %d comes next: "
						      "the chunks tile the units in the interleaved order (stage 0's "
						      "chunk 0, stage 1's chunk 0, ..., stage %d's chunk 0, stage 0's "
						      "chunk 1, ...), each starting where the one before ends",
						      at_stage(p, s, at, sizeof(at)), s, c, a, b - 1, next, K - 1);
			if (b > n_units)
				return dtp_errf_input(err, -EINVAL,
						      "%s[stage.%d] chunk %d (units %d-%d) goes past the model's last unit %d",
						      at_stage(p, s, at, sizeof(at)), s, c, a, b - 1, n_units - 1);
			next = b;
		}
	}
	at_stage(p, -1, at, sizeof(at));
	if (next != n_units)
		return dtp_errf_input(err, -EINVAL,
				      "%sthe last chunk (stage %d's chunk %d) ends at unit %d but the model has %d units (0-%d): extend it",
				      at, K - 1, v - 1, next - 1, n_units, n_units - 1);
	if (p->schedule == DTP_SCHEDULE_INTERLEAVED || (v > 1 && p->schedule == DTP_SCHEDULE_AUTO)) {
		int below = p->micro_batches / K * K;

		if (K < 2)
			return dtp_errf_input(err, -EINVAL,
					      "%sschedule = interleaved needs at least 2 stages (it has %d): use "
					      "schedule = 1f1b for one stage", at, K);
		if (p->micro_batches % K)
			return dtp_errf_input(err, -EINVAL,
					      "%s[train] micro_batches = %d with schedule = interleaved over %d "
					      "stages: M must be a multiple of K (the schedule runs micro-batches "
					      "in groups of K); use micro_batches = %d or %d",
					      at, p->micro_batches, K, below > 0 ? below : K,
					      (p->micro_batches / K + 1) * K);
	}
	return 1;
}

void dtp_plan_write_units(const struct dtp_stage_plan *st, FILE *f)
{
	int n = st->n_chunks > 1 ? st->n_chunks : 1;

	fprintf(f, "units = ");
	for (int c = 0; c < n; c++) {
		int a = n > 1 ? st->chunk_first[c] : st->first_unit;
		int b = n > 1 ? st->chunk_last[c] : st->last_unit;

		if (b - a == 1)
			fprintf(f, "%s%d", c ? ", " : "", a);
		else
			fprintf(f, "%s%d-%d", c ? ", " : "", a, b - 1);
	}
	fprintf(f, "\n");
}
