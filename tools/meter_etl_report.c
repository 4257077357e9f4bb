/*
 * meter_etl_report.c - bin/meter-etl-report: one self-contained HTML report
 *
 *   meter-etl-report [-d CONNINFO] --from DATE --to DATE [--zone TZ]
 *                    [--channel NAME] [--tariff NAME] [--max-meters N] [-o FILE]
 *
 * Reads only the result views a meter_etl_reader may read, for the local
 * days from..to (both included) in the zone, and writes one HTML file with
 * inline SVG charts (src/core/report/svg_chart.c): no script, no network,
 * so it opens anywhere and can be mailed.  Sections: key figures, the fleet
 * load curve with each day's peak marked, daily energy, the time-of-use
 * split, data quality per day and quarantine reasons, meter faults and
 * usage anomalies (linked to a chart per meter with its readings, estimates
 * and episodes shaded).  Every query is in this file, one per section, so
 * the report's reading of the view contract is in one place.
 * Connection settings come from the PG* environment unless -d is given.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

#include "core/report/me_str.h"
#include "core/report/svg_chart.h"

#define DEFAULT_MAX_METERS 20
#define CHART_W 960
#define CHART_H 300
#define METER_CHART_H 200

/* What every query gets: $1 from date, $2 to date, $3 zone, $4 channel. */
typedef struct Report
{
	PGconn	   *conn;
	const char *params[6];
	int			days;
	int			max_meters;
	const char *tariff;			/* --tariff; NULL: the first by name */
	MeStr		html;
	MeTick	   *ticks;			/* local midnights, from the server */
	size_t		n_ticks;
	double		x_min;
	double		x_max;
	PGresult   *ticks_res;		/* owns the tick labels */
} Report;

/* The range in UTC, as every query below starts. */
#define RANGE_CTE \
	"WITH rng AS (SELECT ($1::date)::timestamp AT TIME ZONE $3 AS f," \
	" ($2::date + 1)::timestamp AT TIME ZONE $3 AS t) "

static void
die(Report *r, const char *what)
{
	fprintf(stderr, "meter-etl-report: %s: %s", what, r->conn ? PQerrorMessage(r->conn) : "\n");
	exit(1);
}

/* Run a query with the report's parameters and two more ($5, $6; NULL if unused). */
static PGresult *
query(Report *r, const char *what, const char *sql, const char *p5, const char *p6)
{
	/* typed, so that a query need not use every parameter: date, date, text... */
	static const Oid types[6] = {1082, 1082, 25, 25, 25, 25};
	PGresult   *res;

	r->params[4] = p5;
	r->params[5] = p6;
	res = PQexecParams(r->conn, sql, 6, types, r->params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die(r, what);
	return res;
}

/* Column c of every row as doubles (NULL as NaN); malloc'd. */
static double *
column(Report *r, PGresult *res, int c)
{
	int			n = PQntuples(res);
	double	   *v = malloc(sizeof(double) * (n ? n : 1));

	if (v == NULL)
		die(r, "out of memory");
	for (int i = 0; i < n; i++)
		v[i] = PQgetisnull(res, i, c) ? NAN : strtod(PQgetvalue(res, i, c), NULL);
	return v;
}

static void
emit_chart(Report *r, MeChart *c)
{
	int			rc;

	c->x_min = r->x_min;
	c->x_max = r->x_max;
	c->x_ticks = r->ticks;
	c->n_x_ticks = r->n_ticks;
	rc = me_svg_chart(&r->html, c);
	if (rc != ME_CHART_OK)
		die(r, rc == ME_CHART_NOMEM ? "out of memory" : "could not draw a chart");
}

/* Local midnights of the range (the x ticks), labelled sparsely enough. */
static void
load_ticks(Report *r)
{
	PGresult   *res = query(r, "could not read the calendar",
							"SELECT extract(epoch FROM (d::timestamp AT TIME ZONE $3)), to_char(d, 'Dy DD Mon')"
							" FROM generate_series($1::date, $2::date + 1, interval '1 day') d", NULL, NULL);
	int			n = PQntuples(res);
	int			every = (n + 13) / 14;

	r->days = n - 1;
	r->ticks = calloc(n, sizeof(MeTick));
	if (r->ticks == NULL || n < 2)
		die(r, "could not read the calendar");
	for (int i = 0; i < n; i++)
	{
		r->ticks[i].x = strtod(PQgetvalue(res, i, 0), NULL);
		r->ticks[i].label = (i % every == 0 && i < n - 1) ? PQgetvalue(res, i, 1) : "";
	}
	r->n_ticks = n;
	r->x_min = r->ticks[0].x;
	r->x_max = r->ticks[n - 1].x;
	r->ticks_res = res;
}

static void
section(Report *r, const char *id, const char *title, const char *intro)
{
	me_str_printf(&r->html, "<section id=\"%s\"><h2>", id);
	me_str_escape(&r->html, title);
	me_str_puts(&r->html, "</h2>\n");
	if (intro)
	{
		me_str_puts(&r->html, "<p class=\"note\">");
		me_str_escape(&r->html, intro);
		me_str_puts(&r->html, "</p>\n");
	}
}

/*
 * Per local day of the range, in one pass over the readings and estimates:
 * energy measured and estimated (kWh), and the readings clean, estimated,
 * flagged and actual.  The key figures, the energy chart and the quality
 * chart all read this one result.
 */
#define DAY_EPOCH 0
#define DAY_KWH_MEASURED 1
#define DAY_KWH_ESTIMATED 2
#define DAY_CLEAN 3
#define DAY_ESTIMATED 4
#define DAY_FLAGGED 5
#define DAY_ACTUAL 6
static PGresult *
load_days(Report *r)
{
	return query(r, "could not read the days", RANGE_CTE
				 "SELECT extract(epoch FROM (d::timestamp AT TIME ZONE $3)),"
				 "       sum(kwh) FILTER (WHERE NOT estimated), sum(kwh) FILTER (WHERE estimated),"
				 "       count(*) FILTER (WHERE NOT estimated AND flags = 0),"
				 "       count(*) FILTER (WHERE estimated),"
				 "       count(*) FILTER (WHERE NOT estimated AND flags <> 0),"
				 "       count(*) FILTER (WHERE NOT estimated)"
				 "  FROM (SELECT (v.ts AT TIME ZONE $3)::date AS d, v.kwh, v.estimated, v.flags"
				 "          FROM meter_etl.v_reading_filled v, rng"
				 "         WHERE v.channel = $4 AND v.ts >= rng.f AND v.ts < rng.t) s"
				 " GROUP BY d ORDER BY d", NULL, NULL);
}

/* Sum of column c over the days (NULL counts 0). */
static double
days_sum(PGresult *days, int c)
{
	double		t = 0;

	for (int i = 0; i < PQntuples(days); i++)
		if (!PQgetisnull(days, i, c))
			t += strtod(PQgetvalue(days, i, c), NULL);
	return t;
}

/* Key figures of the range as tiles. */
static void
sec_figures(Report *r, PGresult *days)
{
	PGresult   *res = query(r, "could not read the key figures", RANGE_CTE
							"SELECT (SELECT count(*) FROM meter_etl.v_meter m, rng"
							"         WHERE m.first_reading_at < rng.t AND m.last_reading_at >= rng.f),"
							"       count(*) FILTER (WHERE e.anomaly IS FALSE), count(*) FILTER (WHERE e.anomaly)"
							"  FROM (SELECT false AS anomaly, start_ts, end_ts FROM meter_etl.v_fault"
							"        UNION ALL SELECT true, start_ts, end_ts FROM meter_etl.v_usage_anomaly) e, rng"
							" WHERE e.start_ts < rng.t AND coalesce(e.end_ts, 'infinity') > rng.f", NULL, NULL);
	char		tiles[7][64];
	static const char *const names[7] = {
		"meters active", "energy (MWh)", "readings", "estimated", "flagged", "meter faults", "usage anomalies"
	};

	snprintf(tiles[0], sizeof(tiles[0]), "%s", PQgetvalue(res, 0, 0));
	snprintf(tiles[1], sizeof(tiles[1]), "%.3f",
			 (days_sum(days, DAY_KWH_MEASURED) + days_sum(days, DAY_KWH_ESTIMATED)) / 1000);
	snprintf(tiles[2], sizeof(tiles[2]), "%.0f", days_sum(days, DAY_ACTUAL));
	snprintf(tiles[3], sizeof(tiles[3]), "%.0f", days_sum(days, DAY_ESTIMATED));
	snprintf(tiles[4], sizeof(tiles[4]), "%.0f", days_sum(days, DAY_FLAGGED));
	snprintf(tiles[5], sizeof(tiles[5]), "%s", PQgetvalue(res, 0, 1));
	snprintf(tiles[6], sizeof(tiles[6]), "%s", PQgetvalue(res, 0, 2));
	section(r, "figures", "Key figures", NULL);
	me_str_puts(&r->html, "<div class=\"tiles\">\n");
	for (int c = 0; c < 7; c++)
		me_str_printf(&r->html, "<div class=\"tile\"><b>%s</b><span>%s</span></div>\n", tiles[c], names[c]);
	me_str_puts(&r->html, "</div></section>\n");
	PQclear(res);
}

/* A row index per local day (column c holds the day): the row with the largest y. */
static int *
daily_max(Report *r, PGresult *res, int c, const double *y, int *n_out)
{
	int			n = PQntuples(res);
	int		   *best = malloc(sizeof(int) * (n ? n : 1));
	int			nb = 0;

	if (best == NULL)
		die(r, "out of memory");
	/* rows are in time order, so a day's rows are contiguous */
	for (int i = 0; i < n;)
	{
		int			b = i;
		int			j = i;

		for (; j < n && strcmp(PQgetvalue(res, j, c), PQgetvalue(res, i, c)) == 0; j++)
			if (y[j] > y[b])
				b = j;
		best[nb++] = b;
		i = j;
	}
	*n_out = nb;
	return best;
}

/*
 * Fleet load: the fleet's mean kW per hour (energy over the hour / 1 h, so
 * meters of any interval add up), and each local day's highest hour.
 */
static void
sec_fleet(Report *r)
{
	PGresult   *res = query(r, "could not read the fleet load", RANGE_CTE
							"SELECT extract(epoch FROM b), sum(kwh) AS kw, (b AT TIME ZONE $3)::date,"
							"       to_char(b AT TIME ZONE $3, 'HH24:MI'), count(DISTINCT meter_id)"
							"  FROM (SELECT date_trunc('hour', v.ts) AS b, v.kwh, v.meter_id"
							"          FROM meter_etl.v_reading_filled v, rng"
							"         WHERE v.channel = $4 AND v.ts >= rng.f AND v.ts < rng.t) s"
							" GROUP BY b ORDER BY b", NULL, NULL);
	int			n = PQntuples(res);
	double	   *x = column(r, res, 0);
	double	   *y = column(r, res, 1);
	int			np;
	int		   *best = daily_max(r, res, 2, y, &np);
	double	   *px = malloc(sizeof(double) * (np ? np : 1));
	double	   *py = malloc(sizeof(double) * (np ? np : 1));
	MeSeries	s[2];
	MeChart		c = {0};

	if (px == NULL || py == NULL)
		die(r, "out of memory");
	for (int k = 0; k < np; k++)
	{
		px[k] = x[best[k]];
		py[k] = y[best[k]];
	}
	section(r, "fleet", "Fleet load",
			"Mean kW of the whole fleet per hour (the energy read in the hour, estimates for short gaps included); a dot marks each local day's peak hour.");
	s[0] = (MeSeries) {"fleet load", "#1f77b4", ME_SERIES_LINE, x, y, NULL, n};
	s[1] = (MeSeries) {"daily peak", "#d62728", ME_SERIES_POINTS, px, py, NULL, np};
	c.id = "chart-fleet";
	c.title = "Fleet load per hour (local time)";
	c.y_label = "kW";
	c.width = CHART_W;
	c.height = CHART_H;
	c.series = s;
	c.n_series = 2;
	emit_chart(r, &c);
	me_str_puts(&r->html, "<table class=\"peaks\"><tr><th>local day</th><th>peak hour starts</th>"
				"<th>fleet kW</th><th>meters read</th></tr>\n");
	for (int k = 0; k < np; k++)
		me_str_printf(&r->html, "<tr><td>%s</td><td>%s</td><td>%.1f</td><td>%s</td></tr>\n",
					  PQgetvalue(res, best[k], 2), PQgetvalue(res, best[k], 3), py[k],
					  PQgetvalue(res, best[k], 4));
	me_str_puts(&r->html, "</table></section>\n");
	free(best);
	free(px);
	free(py);
	free(x);
	free(y);
	PQclear(res);
}

/* One chart of daily bars: x from DAY_EPOCH, a stacked series per column of cols. */
#define MAX_BAR_SERIES 6
static void
daily_bars(Report *r, PGresult *days, const char *id, const char *title, const char *unit,
		   const int *cols, const char *const *names, const char *const *colors, int n_series)
{
	int			n = PQntuples(days);
	double	   *x = column(r, days, DAY_EPOCH);
	double	   *ys[MAX_BAR_SERIES];
	MeSeries	s[MAX_BAR_SERIES];
	MeChart		c = {0};

	if (n_series > MAX_BAR_SERIES)
		die(r, "too many bar series");
	for (int k = 0; k < n_series; k++)
	{
		ys[k] = column(r, days, cols[k]);
		s[k] = (MeSeries) {names[k], colors[k], ME_SERIES_BARS, x, ys[k], NULL, n};
	}
	c.id = id;
	c.title = title;
	c.y_label = unit;
	c.width = CHART_W;
	c.height = CHART_H;
	c.series = s;
	c.n_series = n_series;
	c.stacked = true;
	c.bar_width = 86400 * 0.8;
	emit_chart(r, &c);
	for (int k = 0; k < n_series; k++)
		free(ys[k]);
	free(x);
}

/* Energy per local day. */
static void
sec_energy(Report *r, PGresult *days)
{
	static const int cols[] = {DAY_KWH_MEASURED, DAY_KWH_ESTIMATED};
	static const char *const names[] = {"measured", "estimated"};
	static const char *const colors[] = {"#1f77b4", "#ff7f0e"};

	section(r, "energy", "Daily energy", "Energy per local day, kWh; estimates fill short gaps.");
	daily_bars(r, days, "chart-energy", "Energy per local day", "kWh", cols, names, colors, 2);
	me_str_puts(&r->html, "</section>\n");
}

/* The tariff the report splits energy by: --tariff, else the first by name. */
static char *
tou_tariff(Report *r)
{
	PGresult   *res = query(r, "could not read the tariffs",
							"SELECT tariff FROM meter_etl.v_tou_period"
							" WHERE $5::text IS NULL OR tariff = $5 ORDER BY tariff LIMIT 1", r->tariff, NULL);
	char	   *t = PQntuples(res) ? strdup(PQgetvalue(res, 0, 0)) : NULL;

	if (PQntuples(res) && t == NULL)
		die(r, "out of memory");
	PQclear(res);
	if (t == NULL && r->tariff)
	{
		fprintf(stderr, "meter-etl-report: tariff \"%s\" does not exist (meter_etl.v_tou_period)\n", r->tariff);
		exit(2);
	}
	return t;
}

/*
 * Energy per local day split by the tariff's time-of-use periods
 * (v_energy_tou_day, from the hourly rollups; the meters' local days).  A
 * stacked bar per day, a series per period: all series on the range's
 * days, NaN (no bar) where a period had no energy.
 */
static void
sec_tou(Report *r)
{
	static const char *const colors[MAX_BAR_SERIES] = {
		"#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b"
	};
	char	   *tariff = tou_tariff(r);
	char		max_series[16];
	PGresult   *res;
	MeSeries	s[MAX_BAR_SERIES];
	double	   *ys[MAX_BAR_SERIES];
	double	   *x;
	int			ns = 0;
	MeChart		c = {0};

	section(r, "tou", "Energy by time-of-use period",
			"Energy per local day (the meters' zone) in each period of the tariff, kWh, estimates included.");
	if (tariff == NULL)
	{
		me_str_puts(&r->html, "<p class=\"note\">No time-of-use tariff is defined (meter_etl.tou_tariff and "
					"tou_period): nothing to split by.</p>\n</section>\n");
		return;
	}
	/* at most MAX_BAR_SERIES periods drawn: the rest are summed as "other" */
	snprintf(max_series, sizeof(max_series), "%d", MAX_BAR_SERIES);
	res = query(r, "could not read the time-of-use energy",
				"WITH e AS (SELECT e.local_date, e.period, sum(e.energy_kwh) AS kwh"
				"             FROM meter_etl.v_energy_tou_day e"
				"            WHERE e.tariff = $5 AND e.channel = $4 AND e.local_date BETWEEN $1 AND $2"
				"            GROUP BY 1, 2),"
				"     p AS (SELECT period, dense_rank() OVER (ORDER BY period) AS k, count(*) OVER () AS n"
				"             FROM (SELECT DISTINCT period FROM e) d),"
				"     q AS (SELECT CASE WHEN p.n <= $6::int THEN p.k ELSE least(p.k, $6::int) END AS slot,"
				"                  CASE WHEN p.n <= $6::int OR p.k < $6::int THEN p.period ELSE 'other' END AS name,"
				"                  e.local_date - $1 AS d, e.kwh FROM e JOIN p USING (period))"
				" SELECT name, d, sum(kwh) FROM q GROUP BY slot, name, d ORDER BY slot, d", tariff, max_series);
	x = malloc(sizeof(double) * (r->days ? r->days : 1));
	if (x == NULL)
		die(r, "out of memory");
	for (int d = 0; d < r->days; d++)
		x[d] = r->ticks[d].x;
	for (int i = 0; i < PQntuples(res); i++)
	{
		int			d = atoi(PQgetvalue(res, i, 1));

		if (ns == 0 || strcmp(s[ns - 1].name, PQgetvalue(res, i, 0)) != 0)
		{
			if (ns == MAX_BAR_SERIES)
				die(r, "too many time-of-use periods");
			ys[ns] = malloc(sizeof(double) * (r->days ? r->days : 1));
			if (ys[ns] == NULL)
				die(r, "out of memory");
			for (int k = 0; k < r->days; k++)
				ys[ns][k] = NAN;
			s[ns] = (MeSeries) {PQgetvalue(res, i, 0), colors[ns], ME_SERIES_BARS, x, ys[ns], NULL, r->days};
			ns++;
		}
		if (d >= 0 && d < r->days)
			ys[ns - 1][d] = strtod(PQgetvalue(res, i, 2), NULL);
	}
	me_str_puts(&r->html, "<p class=\"note\">Tariff ");
	me_str_escape(&r->html, tariff);
	me_str_puts(&r->html, ".</p>\n");
	c.id = "chart-tou";
	c.title = "Energy per local day by time-of-use period";
	c.y_label = "kWh";
	c.width = CHART_W;
	c.height = CHART_H;
	c.series = s;
	c.n_series = ns;
	c.stacked = true;
	c.bar_width = 86400 * 0.8;
	if (ns > 0)
		emit_chart(r, &c);
	else
		me_str_puts(&r->html, "<p class=\"note\">No energy in the rollups for these days.</p>\n");
	me_str_puts(&r->html, "</section>\n");
	for (int k = 0; k < ns; k++)
		free(ys[k]);
	free(x);
	free(tariff);
	PQclear(res);
}

/*
 * The scorecard's completeness and validity per UTC day (v_dq_day, kept by
 * refresh_results()), drawn at each day's noon, and its timeliness.
 */
static void
dq_scorecard(Report *r)
{
	PGresult   *res = query(r, "could not read the scorecard", RANGE_CTE
							"SELECT extract(epoch FROM (d.day::timestamp AT TIME ZONE 'UTC')) + 43200,"
							"       d.completeness_pct, d.validity_pct, d.day, d.expected, d.clean, d.missing,"
							"       d.delay_median_hours, d.delay_p95_hours, d.stale"
							"  FROM meter_etl.v_dq_day d, rng"
							" WHERE d.day >= (rng.f AT TIME ZONE 'UTC')::date AND d.day < (rng.t AT TIME ZONE 'UTC')::date + 1"
							" ORDER BY d.day", NULL, NULL);
	int			n = PQntuples(res);
	double	   *x = column(r, res, 0);
	double	   *c1 = column(r, res, 1);
	double	   *c2 = column(r, res, 2);
	MeSeries	s[2];
	MeChart		c = {0};

	me_str_puts(&r->html, "<h3>Scorecard per UTC day (v_dq_day)</h3>\n");
	if (n == 0)
		me_str_puts(&r->html, "<p class=\"note\">The scorecard holds no day of this range: "
					"<code>SELECT meter_etl.refresh_results(from, to)</code> computes it.</p>\n");
	else
	{
		s[0] = (MeSeries) {"completeness %", "#2ca02c", ME_SERIES_LINE, x, c1, NULL, n};
		s[1] = (MeSeries) {"validity %", "#9467bd", ME_SERIES_LINE, x, c2, NULL, n};
		c.id = "chart-scorecard";
		c.title = "Completeness (clean / expected) and validity (clean / clean + quarantined)";
		c.y_label = "%";
		c.width = CHART_W;
		c.height = CHART_H;
		c.series = s;
		c.n_series = 2;
		emit_chart(r, &c);
		me_str_puts(&r->html, "<table class=\"scorecard\"><tr><th>UTC day</th><th>expected</th><th>clean</th>"
					"<th>missing</th><th>completeness %</th><th>validity %</th><th>delay median h</th>"
					"<th>delay p95 h</th></tr>\n");
		for (int i = 0; i < n; i++)
		{
			static const int cols[] = {3, 4, 5, 6, 1, 2, 7, 8};

			me_str_puts(&r->html, "<tr>");
			for (int k = 0; k < 8; k++)
			{
				me_str_puts(&r->html, "<td>");
				me_str_escape(&r->html, PQgetvalue(res, i, cols[k]));
				me_str_puts(&r->html, "</td>");
			}
			me_str_printf(&r->html, "%s</tr>\n", strcmp(PQgetvalue(res, i, 9), "t") == 0 ?
						  "<td>stale: the store changed since</td>" : "");
		}
		me_str_puts(&r->html, "</table>\n");
	}
	free(x);
	free(c1);
	free(c2);
	PQclear(res);
}

/* Readings per local day by quality, the scorecard, and the quarantine's reasons. */
static void
sec_quality(Report *r, PGresult *days)
{
	static const int cols[] = {DAY_CLEAN, DAY_ESTIMATED, DAY_FLAGGED};
	static const char *const names[] = {"clean", "estimated", "flagged"};
	static const char *const colors[] = {"#2ca02c", "#ff7f0e", "#d62728"};
	PGresult   *res;

	section(r, "quality", "Data quality",
			"Readings per local day: clean, estimated (short gaps filled) and flagged by detection (outliers, stuck or faulty meters).");
	daily_bars(r, days, "chart-quality", "Readings per local day by quality", "readings", cols, names, colors, 3);
	dq_scorecard(r);
	res = query(r, "could not read the quarantine",
				"SELECT q.reason, q.description, sum(q.readings)"
				"  FROM meter_etl.v_quarantine_summary q"
				" GROUP BY 1, 2 ORDER BY 3 DESC, 1", NULL, NULL);
	me_str_puts(&r->html, "<h3>Quarantined readings by reason (every file staged so far)</h3>\n"
				"<table class=\"quarantine\"><tr><th>reason</th><th>what it means</th><th>readings</th></tr>\n");
	for (int i = 0; i < PQntuples(res); i++)
	{
		me_str_puts(&r->html, "<tr><td>");
		me_str_escape(&r->html, PQgetvalue(res, i, 0));
		me_str_puts(&r->html, "</td><td>");
		me_str_escape(&r->html, PQgetvalue(res, i, 1));
		me_str_printf(&r->html, "</td><td>%s</td></tr>\n", PQgetvalue(res, i, 2));
	}
	if (PQntuples(res) == 0)
		me_str_puts(&r->html, "<tr><td colspan=\"3\">none</td></tr>\n");
	me_str_puts(&r->html, "</table></section>\n");
	PQclear(res);
}

/* Meter faults and usage anomalies that overlap the range (one row each). */
#define EPISODES_SQL RANGE_CTE \
	"SELECT meter_id, channel, kind, start_ts, end_ts, ongoing, evidence::text," \
	"       extract(epoch FROM start_ts), extract(epoch FROM coalesce(end_ts, rng.t))," \
	"       to_char(start_ts AT TIME ZONE $3, 'YYYY-MM-DD HH24:MI')," \
	"       coalesce(to_char(end_ts AT TIME ZONE $3, 'YYYY-MM-DD HH24:MI'), 'open')" \
	"  FROM (SELECT meter_id, channel, kind, start_ts, end_ts, ongoing, evidence FROM meter_etl.v_fault" \
	"        UNION ALL" \
	"        SELECT meter_id, channel, 'usage_anomaly', start_ts, end_ts, ongoing, evidence" \
	"          FROM meter_etl.v_usage_anomaly) e, rng" \
	" WHERE e.start_ts < rng.t AND coalesce(e.end_ts, 'infinity') > rng.f" \
	"   AND ($5::text IS NULL OR (e.meter_id = $5 AND e.channel = $6))"

/* The element id of a meter's section (meter ids are free text). */
static void
meter_anchor(MeStr *s, const char *meter_id, const char *channel)
{
	me_str_puts(s, "meter-");
	for (const unsigned char *p = (const unsigned char *) meter_id; *p; p++)
		me_str_printf(s, (*p < 128 && (p[0] == '-' || p[0] == '_' || (p[0] >= '0' && p[0] <= '9') ||
									   (p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')))
					  ? "%c" : "_%02x", *p);
	me_str_printf(s, "--%s", channel);
}

static void
sec_episodes(Report *r, PGresult *res)
{
	section(r, "faults", "Meter faults and usage anomalies",
			"Meter faults (stuck at zero, flatline, offline, persistent level shift) flag the meter's readings and leave it out of peaks; usage anomalies (a household using far more or less than usual for a while, its peers' change divided out) are reported only.");
	me_str_puts(&r->html, "<table class=\"episodes\"><tr><th>meter</th><th>channel</th><th>kind</th>"
				"<th>from (local)</th><th>to (local)</th><th>evidence</th></tr>\n");
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *kind = PQgetvalue(res, i, 2);

		me_str_printf(&r->html, "<tr class=\"%s\"><td><a href=\"#",
					  strcmp(kind, "usage_anomaly") == 0 ? "anomaly" : "fault");
		meter_anchor(&r->html, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		me_str_puts(&r->html, "\">");
		me_str_escape(&r->html, PQgetvalue(res, i, 0));
		me_str_puts(&r->html, "</a></td><td>");
		me_str_escape(&r->html, PQgetvalue(res, i, 1));
		me_str_printf(&r->html, "</td><td>%s</td><td>%s</td><td>%s%s</td><td><code>", kind,
					  PQgetvalue(res, i, 9), PQgetvalue(res, i, 10),
					  strcmp(PQgetvalue(res, i, 5), "t") == 0 ? " (ongoing)" : "");
		me_str_escape(&r->html, PQgetvalue(res, i, 6));
		me_str_puts(&r->html, "</code></td></tr>\n");
	}
	if (PQntuples(res) == 0)
		me_str_puts(&r->html, "<tr><td colspan=\"6\">none in this range</td></tr>\n");
	me_str_puts(&r->html, "</table></section>\n");
}

/* Episode bands of one meter: faults red, usage anomalies orange. */
static MeBand *
episode_bands(Report *r, PGresult *ep)
{
	int			n = PQntuples(ep);
	MeBand	   *bands = calloc(n ? n : 1, sizeof(MeBand));

	if (bands == NULL)
		die(r, "out of memory");
	for (int i = 0; i < n; i++)
	{
		bool		anomaly = strcmp(PQgetvalue(ep, i, 2), "usage_anomaly") == 0;

		bands[i].x0 = strtod(PQgetvalue(ep, i, 7), NULL);
		bands[i].x1 = strtod(PQgetvalue(ep, i, 8), NULL);
		bands[i].label = PQgetvalue(ep, i, 2);
		bands[i].color = anomaly ? "#ff7f0e" : "#d62728";
	}
	return bands;
}

/*
 * Split a meter's rows into actual readings (a NaN inserted wherever slots
 * are missing, so the line breaks there) and estimates (drawn as dots).
 */
static void
split_readings(PGresult *res, double *x, double *kw, double *xa, double *ya, size_t *na,
			   double *xe, double *ye, size_t *ne)
{
	int			n = PQntuples(res);
	double		step = INFINITY;
	double		prev = NAN;

	for (int i = 1; i < n; i++)
		if (x[i] - x[i - 1] > 0 && x[i] - x[i - 1] < step)
			step = x[i] - x[i - 1];
	*na = *ne = 0;
	for (int i = 0; i < n; i++)
	{
		if (strcmp(PQgetvalue(res, i, 2), "t") == 0)
		{
			xe[*ne] = x[i];
			ye[(*ne)++] = kw[i];
			continue;
		}
		if (isfinite(prev) && x[i] - prev > step * 1.5)
		{
			xa[*na] = x[i];
			ya[(*na)++] = NAN;
		}
		xa[*na] = x[i];
		ya[(*na)++] = kw[i];
		prev = x[i];
	}
}

/* A meter's section: its readings, estimates and episodes in one chart. */
static void
meter_chart(Report *r, const char *meter_id, const char *channel)
{
	PGresult   *res = query(r, "could not read a meter's readings", RANGE_CTE
							"SELECT extract(epoch FROM v.ts), v.kw, v.estimated"
							"  FROM meter_etl.v_reading_filled v, rng"
							" WHERE v.meter_id = $5 AND v.channel = $6 AND v.ts >= rng.f AND v.ts < rng.t"
							" ORDER BY v.ts", meter_id, channel);
	PGresult   *ep = query(r, "could not read a meter's episodes", EPISODES_SQL, meter_id, channel);
	int			n = PQntuples(res);
	double	   *x = column(r, res, 0);
	double	   *kw = column(r, res, 1);
	double	   *buf = malloc(sizeof(double) * 6 * (n ? n : 1));
	size_t		na,
				ne;
	MeBand	   *bands = episode_bands(r, ep);
	MeSeries	s[2];
	MeChart		c = {0};

	if (buf == NULL)
		die(r, "out of memory");
	/* actual: up to 2n points with the breaks; estimates: up to n */
	split_readings(res, x, kw, buf, buf + 2 * n, &na, buf + 4 * n, buf + 5 * n, &ne);
	me_str_puts(&r->html, "<div class=\"meter\" id=\"");
	meter_anchor(&r->html, meter_id, channel);
	me_str_puts(&r->html, "\"><h3>");
	me_str_escape(&r->html, meter_id);
	me_str_puts(&r->html, " · ");
	me_str_escape(&r->html, channel);
	me_str_puts(&r->html, "</h3>\n");
	s[0] = (MeSeries) {"reading", "#1f77b4", ME_SERIES_LINE, buf, buf + 2 * n, NULL, na};
	s[1] = (MeSeries) {"estimate", "#ff7f0e", ME_SERIES_POINTS, buf + 4 * n, buf + 5 * n, NULL, ne};
	c.title = "Readings (local time); shaded: meter fault (red), usage anomaly (orange)";
	c.y_label = "kW";
	c.width = CHART_W;
	c.height = METER_CHART_H;
	c.series = s;
	c.n_series = 2;
	c.bands = bands;
	c.n_bands = PQntuples(ep);
	emit_chart(r, &c);
	me_str_puts(&r->html, "</div>\n");
	free(bands);
	free(buf);
	free(kw);
	free(x);
	PQclear(ep);
	PQclear(res);
}

/*
 * The table of episodes, then a chart per meter channel they name: faulty
 * ones first, at most max_meters (the rest are counted).
 */
static void
sec_meters(Report *r)
{
	PGresult   *ep = query(r, "could not read the faults", EPISODES_SQL
							" ORDER BY kind = 'usage_anomaly', meter_id, channel, start_ts", NULL, NULL);
	PGresult   *ids = query(r, "could not read the flagged meters",
							"SELECT meter_id, channel FROM (" EPISODES_SQL ") e"
							" GROUP BY meter_id, channel ORDER BY bool_and(kind = 'usage_anomaly'), meter_id, channel",
							NULL, NULL);
	int			total = PQntuples(ids);
	int			shown = total < r->max_meters ? total : r->max_meters;

	sec_episodes(r, ep);
	section(r, "meters", "Meters with faults or anomalies", NULL);
	for (int i = 0; i < shown; i++)
		meter_chart(r, PQgetvalue(ids, i, 0), PQgetvalue(ids, i, 1));
	if (total > shown)
		me_str_printf(&r->html, "<p class=\"note\">%d more meters are not drawn (--max-meters %d).</p>\n",
					  total - shown, r->max_meters);
	else if (total == 0)
		me_str_puts(&r->html, "<p class=\"note\">No meter had a fault or an anomaly in this range.</p>\n");
	me_str_puts(&r->html, "</section>\n");
	PQclear(ids);
	PQclear(ep);
}

static const char *const style =
	"body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}"
	"h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:32px}h3{font-size:15px}"
	".note{color:#555}.tiles{display:flex;flex-wrap:wrap;gap:8px}"
	".tile{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:100px}"
	".tile b{display:block;font-size:20px}.tile span{color:#555}"
	"table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
	"code{font-size:12px}tr.fault td:nth-child(3){color:#d62728}tr.anomaly td:nth-child(3){color:#c46000}"
	"svg.me-chart{display:block;margin:8px 0;background:#fff}"
	".me-title{font-weight:600;font-size:13px}.me-legend,.me-xtick,.me-ytick,.me-ylabel{font-size:11px;fill:#444}"
	".me-grid{stroke:#eee}.me-axis{stroke:#888}";

static void
page_head(Report *r)
{
	me_str_puts(&r->html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
				"<title>meter_etl report ");
	me_str_escape(&r->html, r->params[0]);
	me_str_puts(&r->html, " to ");
	me_str_escape(&r->html, r->params[1]);
	me_str_printf(&r->html, "</title><style>%s</style></head><body>\n<h1>meter_etl report: ", style);
	me_str_escape(&r->html, r->params[0]);
	me_str_puts(&r->html, " to ");
	me_str_escape(&r->html, r->params[1]);
	me_str_puts(&r->html, "</h1>\n<p class=\"note\">Local days in ");
	me_str_escape(&r->html, r->params[2]);
	me_str_puts(&r->html, ", channel ");
	me_str_escape(&r->html, r->params[3]);
	me_str_puts(&r->html, ". Sections: <a href=\"#figures\">key figures</a> · <a href=\"#fleet\">fleet load</a> · "
				"<a href=\"#energy\">daily energy</a> · <a href=\"#tou\">time of use</a> · "
				"<a href=\"#quality\">data quality</a> · "
				"<a href=\"#faults\">faults and anomalies</a> · <a href=\"#meters\">meters</a></p>\n");
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: meter-etl-report [-d CONNINFO] --from DATE --to DATE [--zone TZ]\n"
			"                        [--channel NAME] [--tariff NAME] [--max-meters N] [-o FILE]\n"
			"Writes one self-contained HTML report (inline SVG, no script) of the local days\n"
			"DATE..DATE (both included) in TZ (default UTC) for the channel (default import).\n"
			"Energy is split by the time-of-use periods of NAME (default: the first tariff).\n"
			"Reads only the result views of meter_etl_reader. Default FILE: meter_etl_report.html\n");
}

/* Check the arguments with the server's own date and zone parsing. */
static void
check_range(Report *r)
{
	PGresult   *res = PQexecParams(r->conn,
								   "SELECT $1::date <= $2::date, $2::date - $1::date < 3660,"
								   " EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = $3),"
								   " EXISTS (SELECT 1 FROM meter_etl.v_reading_filled WHERE channel = $4 LIMIT 1)",
								   4, NULL, r->params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die(r, "invalid arguments");
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		fprintf(stderr, "meter-etl-report: --from must not be later than --to\n");
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		fprintf(stderr, "meter-etl-report: the range must be shorter than 10 years\n");
	else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		fprintf(stderr, "meter-etl-report: unrecognized time zone \"%s\"\n", r->params[2]);
	else
	{
		if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
			fprintf(stderr, "meter-etl-report: warning: no readings of channel \"%s\" in the store\n",
					r->params[3]);
		PQclear(res);
		return;
	}
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'}, {"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'}, {"zone", required_argument, NULL, 'z'},
		{"channel", required_argument, NULL, 'c'}, {"max-meters", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'}, {"tariff", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'}, {0}
	};
	Report		r = {0};
	PGresult   *days;
	const char *conninfo = "";
	const char *out = "meter_etl_report.html";
	char	   *end;
	FILE	   *f;
	int			ch;

	r.params[2] = "UTC";
	r.params[3] = "import";
	r.max_meters = DEFAULT_MAX_METERS;
	while ((ch = getopt_long(argc, argv, "d:o:h", opts, NULL)) != -1)
		switch (ch)
		{
			case 'd': conninfo = optarg; break;
			case 'f': r.params[0] = optarg; break;
			case 't': r.params[1] = optarg; break;
			case 'z': r.params[2] = optarg; break;
			case 'c': r.params[3] = optarg; break;
			case 'o': out = optarg; break;
			case 'T': r.tariff = optarg; break;
			case 'm':
				errno = 0;
				r.max_meters = (int) strtol(optarg, &end, 10);
				if (errno || *end || r.max_meters < 0)
				{
					fprintf(stderr, "meter-etl-report: --max-meters must be a number >= 0\n");
					return 2;
				}
				break;
			case 'h': usage(stdout); return 0;
			default: usage(stderr); return 2;
		}
	if (optind < argc || r.params[0] == NULL || r.params[1] == NULL)
	{
		usage(stderr);
		return 2;
	}
	r.conn = PQconnectdb(conninfo);
	if (PQstatus(r.conn) != CONNECTION_OK)
		die(&r, "could not connect");
	check_range(&r);
	me_str_init(&r.html);
	load_ticks(&r);
	page_head(&r);
	days = load_days(&r);
	sec_figures(&r, days);
	sec_fleet(&r);
	sec_energy(&r, days);
	sec_tou(&r);
	sec_quality(&r, days);
	PQclear(days);
	sec_meters(&r);
	me_str_puts(&r.html, "<p class=\"note\">Written by meter-etl-report from the meter_etl result views.</p>\n</body></html>\n");
	if (r.html.oom)
		die(&r, "out of memory");
	f = fopen(out, "w");
	if (f == NULL || fwrite(r.html.data, 1, r.html.len, f) != r.html.len || fclose(f) != 0)
	{
		fprintf(stderr, "meter-etl-report: could not write \"%s\": %s\n", out, strerror(errno));
		return 1;
	}
	printf("%s\n", out);
	me_str_free(&r.html);
	free(r.ticks);
	PQclear(r.ticks_res);
	PQfinish(r.conn);
	return 0;
}
