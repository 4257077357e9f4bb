/*
 * svg_chart.c - small, dependency-free SVG charts (see svg_chart.h)
 *
 * Layout: a title line, a legend line, the plot area with a left axis of
 * nice y ticks and a bottom axis of the caller's x ticks.  Coordinates are
 * written with one decimal: a chart is a few hundred pixels wide, so finer
 * digits would only make the report larger.
 */
#include "core/report/svg_chart.h"

#include <math.h>
#include <string.h>

#include "core/me_alloc.h"

#define MARGIN_LEFT 64
#define MARGIN_RIGHT 16
#define MARGIN_TOP 44			/* title and legend */
#define MARGIN_BOTTOM 36		/* x tick labels */
#define Y_TICKS 5

/* The pixel frame of the plot and the data range it shows. */
typedef struct Frame
{
	double		left,
				top,
				w,
				h;
	double		x_min,
				x_max,
				y_min,
				y_max;
} Frame;

static double
px_x(const Frame *f, double x)
{
	return f->left + (x - f->x_min) / (f->x_max - f->x_min) * f->w;
}

static double
px_y(const Frame *f, double y)
{
	return f->top + f->h - (y - f->y_min) / (f->y_max - f->y_min) * f->h;
}

double
me_nice_step(double lo, double hi, int ticks)
{
	double		raw = (hi - lo) / (ticks > 0 ? ticks : 1);
	double		p10;
	double		m;

	if (!(raw > 0) || !isfinite(raw))
		return 1.0;
	p10 = pow(10.0, floor(log10(raw)));
	m = raw / p10;
	return (m < 1.5 ? 1.0 : m < 3.0 ? 2.0 : m < 7.0 ? 5.0 : 10.0) * p10;
}

/* Are the arguments such that a chart can be drawn? */
static bool
chart_valid(const MeChart *c)
{
	if (c == NULL || c->width < MARGIN_LEFT + MARGIN_RIGHT + 16 ||
		c->height < MARGIN_TOP + MARGIN_BOTTOM + 16 ||
		!isfinite(c->x_min) || !isfinite(c->x_max) || !(c->x_max > c->x_min) ||
		(c->n_series && c->series == NULL) || (c->n_bands && c->bands == NULL) ||
		(c->n_x_ticks && c->x_ticks == NULL))
		return false;
	for (size_t i = 0; i < c->n_series; i++)
	{
		const MeSeries *s = &c->series[i];

		if (s->n && (s->x == NULL || s->y == NULL))
			return false;
		/* stacked bars add up slot by slot: same length and same x */
		if (c->stacked && s->kind == ME_SERIES_BARS)
			for (size_t j = 0; j < i; j++)
			{
				const MeSeries *t = &c->series[j];

				if (t->kind == ME_SERIES_BARS &&
					(t->n != s->n || (s->n && memcmp(t->x, s->x, s->n * sizeof(double)) != 0)))
					return false;
			}
	}
	return true;
}

/* The y range: every finite value (stacked bars by their totals), and 0. */
static void
y_range(const MeChart *c, double *lo, double *hi)
{
	*lo = 0;
	*hi = 0;
	for (size_t i = 0; i < c->n_series; i++)
	{
		const MeSeries *s = &c->series[i];

		for (size_t k = 0; k < s->n; k++)
		{
			double		y = s->y[k];

			if (!isfinite(y))
				continue;
			if (c->stacked && s->kind == ME_SERIES_BARS && y > 0)
				for (size_t j = 0; j < i; j++)
					if (c->series[j].kind == ME_SERIES_BARS && isfinite(c->series[j].y[k]) &&
						c->series[j].y[k] > 0)
						y += c->series[j].y[k];
			if (y < *lo)
				*lo = y;
			if (y > *hi)
				*hi = y;
		}
	}
}

static void
draw_y_axis(MeStr *o, const Frame *f, double step)
{
	int			decimals = step >= 1 ? 0 : (int) ceil(-log10(step) - 1e-9);

	long		n = lround((f->y_max - f->y_min) / step);

	for (long i = 0; i <= n; i++)
	{
		double		y = f->y_min + i * step;
		double		py = px_y(f, y);

		me_str_printf(o, "<line class=\"me-grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
					  "<text class=\"me-ytick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n",
					  f->left, f->left + f->w, py, py, f->left - 6, py + 4, decimals,
					  fabs(y) < step * 1e-6 ? 0.0 : y);
	}
}

static void
draw_x_axis(MeStr *o, const Frame *f, const MeChart *c)
{
	double		base = f->top + f->h;

	me_str_printf(o, "<line class=\"me-axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
				  f->left, f->left + f->w, base, base);
	for (size_t i = 0; i < c->n_x_ticks; i++)
	{
		double		x = c->x_ticks[i].x;
		double		px;

		if (!(x >= f->x_min && x <= f->x_max))
			continue;
		px = px_x(f, x);
		me_str_printf(o, "<line class=\"me-axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
					  "<text class=\"me-xtick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
					  px, px, base, base + 4, px, base + 16);
		me_str_escape(o, c->x_ticks[i].label ? c->x_ticks[i].label : "");
		me_str_puts(o, "</text>\n");
	}
}

static void
draw_bands(MeStr *o, const Frame *f, const MeChart *c)
{
	for (size_t i = 0; i < c->n_bands; i++)
	{
		const MeBand *b = &c->bands[i];
		double		x0 = fmax(b->x0, f->x_min);
		double		x1 = fmin(b->x1, f->x_max);

		if (!(x1 > x0))
			continue;
		me_str_printf(o, "<rect class=\"me-band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"",
					  px_x(f, x0), f->top, fmax(px_x(f, x1) - px_x(f, x0), 1.0), f->h);
		me_str_escape(o, b->color ? b->color : "#d62728");
		me_str_puts(o, "\" fill-opacity=\"0.15\">");
		if (b->label)
		{
			me_str_puts(o, "<title>");
			me_str_escape(o, b->label);
			me_str_puts(o, "</title>");
		}
		me_str_puts(o, "</rect>\n");
	}
}

/* One line series: a polyline per run of finite values; returns points drawn. */
static size_t
draw_line(MeStr *o, const Frame *f, const MeSeries *s)
{
	size_t		drawn = 0;
	bool		open = false;

	for (size_t k = 0; k < s->n; k++)
	{
		if (!isfinite(s->y[k]) || !isfinite(s->x[k]))
		{
			if (open)
				me_str_puts(o, "\"/>\n");
			open = false;
			continue;
		}
		if (!open)
		{
			me_str_puts(o, "<polyline class=\"me-line\" fill=\"none\" stroke-width=\"1.5\" stroke=\"");
			me_str_escape(o, s->color ? s->color : "#1f77b4");
			me_str_puts(o, "\" points=\"");
			open = true;
		}
		me_str_printf(o, "%.1f,%.1f ", px_x(f, s->x[k]), px_y(f, s->y[k]));
		drawn++;
	}
	if (open)
		me_str_puts(o, "\"/>\n");
	return drawn;
}

static void
tooltip(MeStr *o, const MeSeries *s, size_t k)
{
	if (s->labels && s->labels[k])
	{
		me_str_puts(o, "<title>");
		me_str_escape(o, s->labels[k]);
		me_str_puts(o, "</title>");
	}
}

static size_t
draw_points(MeStr *o, const Frame *f, const MeSeries *s)
{
	size_t		drawn = 0;

	for (size_t k = 0; k < s->n; k++)
	{
		if (!isfinite(s->y[k]) || !isfinite(s->x[k]))
			continue;
		me_str_printf(o, "<circle class=\"me-point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"",
					  px_x(f, s->x[k]), px_y(f, s->y[k]));
		me_str_escape(o, s->color ? s->color : "#d62728");
		me_str_puts(o, "\">");
		tooltip(o, s, k);
		me_str_puts(o, "</circle>\n");
		drawn++;
	}
	return drawn;
}

/* Bars from `base` (per slot, moved up by stacking) to base + y. */
static size_t
draw_bars(MeStr *o, const Frame *f, const MeChart *c, const MeSeries *s, double *base)
{
	size_t		drawn = 0;
	double		wpx = fmax(c->bar_width / (f->x_max - f->x_min) * f->w, 1.0);

	for (size_t k = 0; k < s->n; k++)
	{
		double		b = base ? base[k] : 0;
		double		y = s->y[k];
		double		top,
					bottom;

		if (!isfinite(y) || !isfinite(s->x[k]))
			continue;
		top = px_y(f, fmax(b, b + y));
		bottom = px_y(f, fmin(b, b + y));
		me_str_printf(o, "<rect class=\"me-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"",
					  px_x(f, s->x[k]), top, wpx, fmax(bottom - top, 0.5));
		me_str_escape(o, s->color ? s->color : "#1f77b4");
		me_str_puts(o, "\">");
		tooltip(o, s, k);
		me_str_puts(o, "</rect>\n");
		if (base && y > 0)
			base[k] += y;
		drawn++;
	}
	return drawn;
}

static const char *
kind_name(MeSeriesKind k)
{
	return k == ME_SERIES_LINE ? "line" : k == ME_SERIES_POINTS ? "points" : "bars";
}

static void
draw_legend(MeStr *o, const MeChart *c)
{
	double		x = MARGIN_LEFT;

	for (size_t i = 0; i < c->n_series; i++)
	{
		const char *name = c->series[i].name ? c->series[i].name : "";

		me_str_printf(o, "<rect x=\"%.1f\" y=\"26\" width=\"10\" height=\"10\" fill=\"", x);
		me_str_escape(o, c->series[i].color ? c->series[i].color : "#1f77b4");
		me_str_printf(o, "\"/><text class=\"me-legend\" x=\"%.1f\" y=\"35\">", x + 14);
		me_str_escape(o, name);
		me_str_puts(o, "</text>\n");
		x += 30 + 7.0 * strlen(name);
	}
}

static void
draw_series(MeStr *o, const Frame *f, const MeChart *c)
{
	double	   *base = NULL;
	size_t		slots = 0;

	/* stacked bars keep a running top per slot */
	for (size_t i = 0; c->stacked && i < c->n_series; i++)
		if (c->series[i].kind == ME_SERIES_BARS)
			slots = c->series[i].n;
	if (slots)
	{
		base = me_alloc(slots * sizeof(double));
		if (base == NULL)
		{
			o->oom = true;
			return;
		}
		memset(base, 0, slots * sizeof(double));
	}
	for (size_t i = 0; i < c->n_series; i++)
	{
		const MeSeries *s = &c->series[i];
		MeStr		g;
		size_t		drawn;

		me_str_init(&g);
		drawn = s->kind == ME_SERIES_LINE ? draw_line(&g, f, s) :
			s->kind == ME_SERIES_POINTS ? draw_points(&g, f, s) :
			draw_bars(&g, f, c, s, base);
		me_str_printf(o, "<g class=\"me-series\" data-kind=\"%s\" data-points=\"%zu\" data-name=\"",
					  kind_name(s->kind), drawn);
		me_str_escape(o, s->name ? s->name : "");
		me_str_puts(o, "\">\n");
		if (g.oom)
			o->oom = true;
		else if (g.len)
			me_str_putn(o, g.data, g.len);
		me_str_puts(o, "</g>\n");
		me_str_free(&g);
	}
	me_free(base);
}

int
me_svg_chart(MeStr *o, const MeChart *c)
{
	Frame		f;
	double		lo,
				hi,
				step;

	if (o == NULL || !chart_valid(c))
		return ME_CHART_INVALID;
	y_range(c, &lo, &hi);
	if (hi <= lo)
		hi = lo + 1;			/* all zero or no data: a unit axis */
	step = me_nice_step(lo, hi, Y_TICKS);
	f.left = MARGIN_LEFT;
	f.top = MARGIN_TOP;
	f.w = c->width - MARGIN_LEFT - MARGIN_RIGHT;
	f.h = c->height - MARGIN_TOP - MARGIN_BOTTOM;
	f.x_min = c->x_min;
	f.x_max = c->x_max;
	f.y_min = floor(lo / step) * step;
	f.y_max = ceil(hi / step) * step;

	me_str_puts(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"me-chart\"");
	if (c->id)
	{
		me_str_puts(o, " id=\"");
		me_str_escape(o, c->id);
		me_str_puts(o, "\"");
	}
	me_str_printf(o, " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" data-series=\"%zu\" aria-label=\"",
				  c->width, c->height, c->width, c->height, c->n_series);
	me_str_escape(o, c->title ? c->title : "");
	me_str_puts(o, "\">\n<text class=\"me-title\" x=\"8\" y=\"16\">");
	me_str_escape(o, c->title ? c->title : "");
	me_str_printf(o, "</text>\n<text class=\"me-ylabel\" transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">",
				  f.top + f.h / 2);
	me_str_escape(o, c->y_label ? c->y_label : "");
	me_str_puts(o, "</text>\n");
	draw_legend(o, c);
	draw_bands(o, &f, c);
	draw_y_axis(o, &f, step);
	draw_x_axis(o, &f, c);
	draw_series(o, &f, c);
	me_str_puts(o, "</svg>\n");
	return o->oom ? ME_CHART_NOMEM : ME_CHART_OK;
}
