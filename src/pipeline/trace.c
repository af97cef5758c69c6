/* Chrome trace-event output (Perfetto): each stage records spans into a buffer
 * allocated at start-up (compute spans with the process's CPU time over them,
 * args.cpu_us), writes them as one event per line to PATH.stage-N at the end,
 * and dtp_trace_merge joins the parts into PATH with one track (pid) per
 * stage. */
#include "config.h"
#include "pipeline/stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const span_names[DTP_SPAN_N] = {
	"fwd", "bwd", "recompute", "send", "recv", "wait", "optim", "data", "sync", "eval", "checkpoint",
	"bwd_b", "bwd_w",
};

const char *dtp_span_name(int kind)
{
	return kind >= 0 && kind < DTP_SPAN_N ? span_names[kind] : "?";
}

/* the span kinds that belong to one micro-batch */
static int has_micro(int kind)
{
	return kind == DTP_SPAN_FWD || kind == DTP_SPAN_BWD || kind == DTP_SPAN_RECOMPUTE ||
	       kind == DTP_SPAN_SEND || kind == DTP_SPAN_RECV || kind == DTP_SPAN_DATA ||
	       kind == DTP_SPAN_BWD_IN || kind == DTP_SPAN_BWD_W;
}

const char *dtp_trace_span_name(int kind)
{
	return dtp_span_name(kind);
}

int dtp_trace_open(const char *path, int stage, size_t max_spans, struct dtp_trace **out,
		   struct dtp_err *err)
{
	struct dtp_trace *t = calloc(1, sizeof(*t));

	if (!t)
		return dtp_errf_runtime(err, -ENOMEM, "trace: out of memory");
	t->spans = calloc(max_spans, sizeof(*t->spans));
	t->path = strdup(path);
	if (!t->spans || !t->path) {
		free(t->spans);
		free(t->path);
		free(t);
		return dtp_errf_runtime(err, -ENOMEM, "trace: cannot allocate %zu spans", max_spans);
	}
	t->cap = max_spans;
	t->stage = stage;
	t->chunk = -1;
	*out = t;
	return 0;
}

void dtp_trace_discard(struct dtp_trace *t)
{
	if (!t)
		return;
	free(t->spans);
	free(t->path);
	free(t);
}

int dtp_trace_close(struct dtp_trace *t, struct dtp_err *err)
{
	char part[DTP_PLAN_PATH_MAX + 32];
	FILE *f;
	int r = 0;

	if (!t)
		return 0;
	snprintf(part, sizeof(part), "%s.stage-%d", t->path, t->stage);
	f = fopen(part, "w");
	if (!f) {
		r = dtp_errf_input(err, -errno, "trace: cannot write %s: %s", part, strerror(errno));
		goto out_free;
	}
	fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
		"\"args\":{\"name\":\"stage %d\"}}\n", t->stage, t->stage);
	fprintf(f, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
		"\"args\":{\"sort_index\":%d}}\n", t->stage, t->stage);
	for (size_t i = 0; i < t->n; i++) {
		const struct dtp_span *sp = &t->spans[i];
		const char *kind = dtp_span_name(sp->kind);
		char name[64];

		/* an interleaved run's spans name their micro-batch and chunk
		 * ("fwd mb3 c1"); the category stays the span kind */
		if (sp->chunk >= 0 && has_micro(sp->kind))
			snprintf(name, sizeof(name), "%s mb%d c%d", kind, (int)sp->micro, (int)sp->chunk);
		else if (sp->chunk >= 0)
			snprintf(name, sizeof(name), "%s c%d", kind, (int)sp->chunk);
		else
			snprintf(name, sizeof(name), "%s", kind);
		fprintf(f, "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":0,"
			"\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"step\":%d,\"micro\":%d", name, kind,
			t->stage, (double)sp->t0 * 1e-3, (double)(sp->t1 - sp->t0) * 1e-3, (int)sp->step,
			(int)sp->micro);
		if (sp->chunk >= 0)
			fprintf(f, ",\"chunk\":%d", (int)sp->chunk);
		if (sp->cpu != UINT64_MAX)
			fprintf(f, ",\"cpu_us\":%.3f", (double)sp->cpu * 1e-3);
		fputs("}}\n", f);
	}
	if (fclose(f) != 0)
		r = dtp_errf_runtime(err, -EIO, "trace: cannot write %s", part);
	if (t->dropped)
		dtp_warn("stage %d: trace buffer full, %zu spans not recorded", t->stage, t->dropped);
out_free:
	free(t->spans);
	free(t->path);
	free(t);
	return r;
}

int dtp_trace_merge(const char *path, int stages, struct dtp_err *err)
{
	char part[DTP_PLAN_PATH_MAX + 32], line[512];
	char tmp[DTP_PLAN_PATH_MAX + 32];
	FILE *out, *in;
	int first = 1, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	out = fopen(tmp, "w");
	if (!out)
		return dtp_errf_input(err, -errno, "trace: cannot write %s: %s", tmp, strerror(errno));
	fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", out);
	for (int s = 0; s < stages; s++) {
		snprintf(part, sizeof(part), "%s.stage-%d", path, s);
		in = fopen(part, "r");
		if (!in) {
			r = dtp_errf_runtime(err, -ENOENT, "trace: stage %d wrote no %s", s, part);
			continue;
		}
		while (fgets(line, sizeof(line), in)) {
			size_t n = strlen(line);

			if (n && line[n - 1] == '\n')
				line[--n] = '\0';
			if (!n)
				continue;
			fprintf(out, "%s%s", first ? "" : ",\n", line);
			first = 0;
		}
		fclose(in);
		unlink(part);
	}
	fputs("\n]}\n", out);
	if (fclose(out) != 0 || rename(tmp, path) != 0)
		return dtp_errf_runtime(err, -EIO, "trace: cannot write %s", path);
	return r;
}
