/* dtpipe-partition report --svg: a step's timeline as SVG, one row per stage,
 * the simulator's prediction and (given a trace) the measured step under it:
 * boxes for F, B, W (or a whole backward), recompute, receives and waits,
 * sends as ticks, each labelled with its micro-batch where it fits. */
#include "config.h"
#include "tools/timeline-svg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LEFT 150.0     /* px for the row labels */
#define WIDTH 1000.0   /* px for the time axis */
#define ROW 22.0       /* px per row */

struct style {
	const char *name;      /* op or span name */
	const char *fill;
	const char *label;     /* shown in the legend */
};

/* op names (dtp_op_name) and span names (dtp_trace_span_name) */
static const struct style styles[] = {
	{ "fwd", "#4c78a8", "F forward" },
	{ "bwd", "#e45756", "backward (whole)" },
	{ "bwd_b", "#f58518", "B input gradient" },
	{ "bwd_w", "#54a24b", "W weight gradient" },
	{ "recompute", "#b279a2", "recompute" },
	{ "recv", "#d8d8d8", "receive / wait" },
	{ "recv_act", "#d8d8d8", NULL },
	{ "recv_grad", "#d8d8d8", NULL },
	{ "wait", "#d8d8d8", NULL },
	{ "data", "#9d755d", "data" },
	{ "send", "#333333", "send" },
	{ "send_act", "#333333", NULL },
	{ "send_grad", "#333333", NULL },
};

static const struct style *style_of(const char *name)
{
	for (size_t i = 0; i < sizeof(styles) / sizeof(styles[0]); i++)
		if (strcmp(styles[i].name, name) == 0)
			return &styles[i];
	return NULL;
}

static void box(FILE *f, double scale, double y, const char *name, int micro, double t0,
		double t1)
{
	const struct style *st = style_of(name);
	double x = LEFT + t0 * scale, w = (t1 - t0) * scale;

	if (!st)
		return;
	if (strncmp(name, "send", 4) == 0) {   /* a send: a tick where it was posted */
		fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x,
			y + ROW - 8, x, y + ROW - 2, st->fill);
		return;
	}
	if (w < 0.5)
		return;
	fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
		"stroke=\"white\" stroke-width=\"0.5\"><title>%s %d: %.3f-%.3f ms</title></rect>\n",
		x, y + 2, w, ROW - 4, st->fill, name, micro, t0 * 1e3, t1 * 1e3);
	if (w >= 12 && st->fill[1] != 'd')
		fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"white\" "
			"text-anchor=\"middle\">%d</text>\n", x + w / 2, y + ROW - 7, micro);
}

int dtp_timeline_svg(const char *path, const struct dtp_schedule *sch, int K,
		     struct dtp_sim_op **ops, const char *what, const struct dtp_trace_event *ev,
		     int n_ev, struct dtp_err *err)
{
	FILE *f = fopen(path, "w");
	double end = 0, scale, y;
	int rows = ev ? 2 * K : K, n_legend = 0;

	if (!f)
		return dtp_errf_input(err, -errno, "--svg %s: cannot create it: %s", path,
				      strerror(errno));
	for (int s = 0; s < K; s++)
		for (int i = 0; i < sch[s].n_ops; i++)
			if (ops[s][i].t1 > end)
				end = ops[s][i].t1;
	for (int i = 0; i < n_ev; i++)
		if (ev[i].t1 > end)
			end = ev[i].t1;
	scale = end > 0 ? WIDTH / end : 0;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"font-family=\"sans-serif\">\n", LEFT + WIDTH + 20, (rows + 3) * ROW + 10);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"4\" y=\"14\" font-size=\"12\">%s: one step, %.3f ms across</text>\n",
		what, end * 1e3);
	for (int s = 0; s < K; s++) {
		y = ROW * (1 + (ev ? 2 * s : s));
		fprintf(f, "<text x=\"4\" y=\"%.2f\" font-size=\"11\">stage %d predicted</text>\n",
			y + ROW - 7, s);
		for (int i = 0; i < sch[s].n_ops; i++)
			box(f, scale, y, dtp_op_name(sch[s].ops[i].kind), sch[s].ops[i].micro,
			    ops[s][i].t0, ops[s][i].t1);
		if (!ev)
			continue;
		y += ROW;
		fprintf(f, "<text x=\"4\" y=\"%.2f\" font-size=\"11\">stage %d measured</text>\n",
			y + ROW - 7, s);
		for (int i = 0; i < n_ev; i++)
			if (ev[i].stage == s)
				box(f, scale, y, dtp_trace_span_name(ev[i].kind), ev[i].micro, ev[i].t0,
				    ev[i].t1);
	}
	y = ROW * (rows + 1) + 6;
	for (size_t i = 0; i < sizeof(styles) / sizeof(styles[0]); i++) {
		double x;

		if (!styles[i].label)
			continue;
		x = LEFT + 130.0 * n_legend++;
		fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			"<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%s</text>\n", x, y, styles[i].fill,
			x + 16, y + 10, styles[i].label);
	}
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0)
		return dtp_errf_runtime(err, -EIO, "--svg %s: cannot write it", path);
	return 0;
}
