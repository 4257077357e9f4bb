/*
 * svg_chart.h - small, dependency-free SVG charts for the HTML report
 *
 * bin/meter-etl-report draws every chart through this one function: a time
 * (or any numeric) x axis whose ticks the caller places and labels (so that
 * local time and DST stay the caller's business), a y axis with "nice"
 * ticks from the data, and any mix of line, point and (stacked) bar series
 * plus shaded x ranges.  The output is inline SVG a browser shows with no
 * script and no network.  Every chart and series carries data-* attributes
 * (series count, points drawn) that the browser test reads back.
 */
#ifndef SVG_CHART_H
#define SVG_CHART_H

#include <stdbool.h>
#include <stddef.h>

#include "core/report/me_str.h"

typedef enum MeSeriesKind
{
	ME_SERIES_LINE,				/* polyline; a NaN y breaks the line */
	ME_SERIES_POINTS,			/* a marker per point */
	ME_SERIES_BARS				/* a bar per point starting at x, bar_width wide */
} MeSeriesKind;

typedef struct MeSeries
{
	const char *name;			/* legend text */
	const char *color;			/* any CSS colour */
	MeSeriesKind kind;
	const double *x;
	const double *y;
	const char *const *labels;	/* optional per point tooltip, or NULL */
	size_t		n;
} MeSeries;

typedef struct MeBand
{
	double		x0;
	double		x1;
	const char *label;			/* tooltip, or NULL */
	const char *color;
} MeBand;

typedef struct MeTick
{
	double		x;
	const char *label;
} MeTick;

typedef struct MeChart
{
	const char *id;				/* element id (may be NULL) */
	const char *title;
	const char *y_label;		/* with its unit, e.g. "kW" */
	int			width;
	int			height;
	double		x_min;			/* the x range drawn */
	double		x_max;
	const MeTick *x_ticks;
	size_t		n_x_ticks;
	const MeSeries *series;
	size_t		n_series;
	const MeBand *bands;
	size_t		n_bands;
	bool		stacked;		/* bar series stack (they must share x) */
	double		bar_width;		/* in x units */
} MeChart;

#define ME_CHART_OK 0
#define ME_CHART_INVALID (-1)	/* an argument makes no chart; nothing written */
#define ME_CHART_NOMEM (-2)

/* Append the chart as an <svg> element to out. */
int			me_svg_chart(MeStr *out, const MeChart *chart);

/* The "nice" step for about `ticks` intervals over [lo, hi] (1, 2 or 5 x 10^k). */
double		me_nice_step(double lo, double hi, int ticks);

#endif							/* SVG_CHART_H */
