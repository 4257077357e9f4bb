/*
 * test_series.c - cmocka tests of the series cores (fill, outliers, faults)
 *
 * Synthetic data only: a daily load shape in local time with noise, built
 * on a 15-minute UTC grid.  Local days use an EU rule (CET/CEST) written
 * here, so 23- and 25-hour days are exercised without a server.  Rolling
 * scores are checked against naive per-row references (sort per row for
 * Hampel, two-pass mean/variance for the z-score) on random data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/me_time.h"
#include "core/read/tzconv.h"
#include "core/series/orderstat.h"
#include "core/series/series.h"

#define MIN15 (15 * ME_USECS_PER_MIN)
#define HOUR ME_USECS_PER_HOUR
#define DAY ME_USECS_PER_DAY

/* ------------------------------------------------------------ fixtures */

/* A series owned by the test. */
typedef struct Ser
{
	int64_t    *ts;
	double	   *kw;
	bool	   *present;
	size_t		n;
} Ser;

/* xorshift64* generator, state per test. */
typedef struct Rng
{
	uint64_t	s;
} Rng;

/* Uniform in [0, 1). */
static double
rng_u(Rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (double) ((r->s * UINT64_C(2685821657736338717)) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller). */
static double
rng_n(Rng *r)
{
	double		u = rng_u(r);
	double		v = rng_u(r);

	return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v);
}

/* UTC instant of a last Sunday of a month at 01:00 UTC, in unix seconds. */
static int64_t
eu_switch(int year, int month)
{
	int64_t		day = me_days_from_civil(year, month, 31);
	int			dow = (int) (((day % 7) + 7 + 4) % 7);

	return (day - dow) * 86400 + 3600;
}

/* gmtoff callback: CET (ctx = 3600 s) with EU summer time. */
static int32_t
eu_gmtoff(void *ctx, int64_t unix_secs)
{
	int32_t		std = *(int32_t *) ctx;
	int			y,
				m,
				d;

	me_civil_from_days(me_floor_div(unix_secs, 86400), &y, &m, &d);
	if (unix_secs >= eu_switch(y, 3) && unix_secs < eu_switch(y, 10))
		return std + 3600;
	return std;
}

static int32_t cet_std = 3600;

/* Local time of a UTC instant under the EU rule (or UTC when !eu). */
static int64_t
test_local(bool eu, int64_t utc)
{
	int64_t		unix_s = me_floor_div(utc, ME_USECS_PER_SEC) + (int64_t) ME_UNIX_TO_PG_DAYS * 86400;

	return eu ? utc + (int64_t) eu_gmtoff(&cet_std, unix_s) * ME_USECS_PER_SEC : utc;
}

/* Timestamp of a civil UTC date-time. */
static int64_t
T(int y, int mo, int d, int h, int mi)
{
	return me_make_ts(y, mo, d, h, mi, 0, 0);
}

/* Allocate a series of n readings, all present. */
static Ser
ser_new(size_t n)
{
	Ser			s;
	size_t		i;

	s.n = n;
	s.ts = calloc(n ? n : 1, sizeof(int64_t));
	s.kw = calloc(n ? n : 1, sizeof(double));
	s.present = calloc(n ? n : 1, sizeof(bool));
	for (i = 0; i < n; i++)
		s.present[i] = true;
	return s;
}

/* Free a test series. */
static void
ser_free(Ser *s)
{
	free(s->ts);
	free(s->kw);
	free(s->present);
}

/* View of a test series for the API. */
static MeSeries
view(const Ser *s, bool with_present)
{
	MeSeries	m;

	m.ts = s->ts;
	m.kw = s->kw;
	m.present = with_present ? s->present : NULL;
	m.n = s->n;
	return m;
}

/* Daily load shape at a local time: night base, morning and evening peaks. */
static double
load_shape(int64_t lts)
{
	double		h = (double) (lts - me_floor_div(lts, DAY) * DAY) / (double) HOUR;
	int			dow = me_dow(lts);
	double		v = 0.6 + 1.2 * exp(-(h - 8.0) * (h - 8.0) / 4.0) +
		1.8 * exp(-(h - 19.0) * (h - 19.0) / 6.0);

	return (dow == 0 || dow == 6) ? v * 1.25 : v;
}

/* 15-minute series from start for n slots: shape x (1 + 5% noise). */
static Ser
daily_series(int64_t start, size_t n, bool eu, uint64_t seed)
{
	Ser			s = ser_new(n);
	Rng			r = {seed};
	size_t		i;

	for (i = 0; i < n; i++)
	{
		s.ts[i] = start + (int64_t) i * MIN15;
		s.kw[i] = round(1000.0 * load_shape(test_local(eu, s.ts[i])) *
						(1.0 + 0.05 * rng_n(&r))) / 1000.0;
	}
	return s;
}

/* Local clock hours (h + m/60) of a UTC instant. */
static double
clock_hours(bool eu, int64_t utc)
{
	int64_t		l = test_local(eu, utc);

	return (double) (l - me_floor_div(l, DAY) * DAY) / (double) HOUR;
}

/* Count faults of one kind. */
static size_t
count_kind(const MeFaultList *l, MeFaultKind k)
{
	size_t		i,
				n = 0;

	for (i = 0; i < l->n; i++)
		n += l->items[i].kind == k;
	return n;
}

/* First fault of one kind, or NULL. */
static const MeFault *
find_kind(const MeFaultList *l, MeFaultKind k)
{
	size_t		i;

	for (i = 0; i < l->n; i++)
		if (l->items[i].kind == k)
			return &l->items[i];
	return NULL;
}

/* Print a fault list (debugging aid on failure). */
static void
dump_faults(const MeFaultList *l)
{
	size_t		i;

	for (i = 0; i < l->n; i++)
		print_message("  %s start=%lld end=%lld n=%lld value=%g score=%g base=%g\n",
					  series_fault_kind_name(l->items[i].kind),
					  (long long) l->items[i].start_ts, (long long) l->items[i].end_ts,
					  (long long) l->items[i].n, l->items[i].value,
					  l->items[i].score, l->items[i].baseline);
}

/* ------------------------------------------------------------ validation */

static void
test_check_finite(void **state)
{
	double		v[6] = {1.0, 2.0, 3.0, NAN, 5.0, INFINITY};
	bool		pr[6] = {true, true, true, false, true, true};
	size_t		bad = 99;

	assert_int_equal(series_check_finite(v, NULL, 6, &bad), ME_SERIES_ENONFINITE);
	assert_int_equal(bad, 3);
	assert_int_equal(series_check_finite(v, pr, 6, &bad), ME_SERIES_ENONFINITE);
	assert_int_equal(bad, 5);
	v[5] = -INFINITY;
	assert_int_equal(series_check_finite(v, pr, 6, &bad), ME_SERIES_ENONFINITE);
	assert_int_equal(bad, 5);
	pr[5] = false;
	assert_int_equal(series_check_finite(v, pr, 6, &bad), ME_SERIES_OK);
	assert_int_equal(series_check_finite(v, pr, 0, NULL), ME_SERIES_OK);
	assert_non_null(series_strerror(ME_SERIES_ENONFINITE));
}

static void
test_check_order_and_entry_points(void **state)
{
	Ser			s = ser_new(3);
	MeSeries	in;
	MeFillParams fp;
	MeFillResult fr;
	MeOutlierParams op;
	MeFaultParams xp;
	MeFaultList fl;
	MeScore		sc[3];
	size_t		bad = 0;

	s.ts[0] = 0;
	s.ts[1] = MIN15;
	s.ts[2] = MIN15;
	in = view(&s, true);
	assert_int_equal(series_check_input(&in, &bad), ME_SERIES_EORDER);
	assert_int_equal(bad, 2);
	series_fill_params_default(&fp);
	fp.to_ts = HOUR;
	assert_int_equal(series_fill_linear(&in, &fp, &fr), ME_SERIES_EORDER);
	assert_null(fr.points);
	s.ts[2] = 2 * MIN15;
	s.kw[1] = NAN;
	assert_int_equal(series_fill_linear(&in, &fp, &fr), ME_SERIES_ENONFINITE);
	series_outlier_params_default(&op, ME_OUTLIER_HAMPEL);
	assert_int_equal(series_outliers(&in, &op, sc), ME_SERIES_ENONFINITE);
	series_fault_params_default(&xp);
	assert_int_equal(series_detect_faults(&in, 0, DAY, &xp, &fl), ME_SERIES_ENONFINITE);
	s.kw[1] = 1.0;
	fp.interval_us = 0;
	assert_int_equal(series_fill_linear(&in, &fp, &fr), ME_SERIES_EINVAL);
	fp.interval_us = MIN15;
	fp.snap_us = MIN15 / 2;
	assert_int_equal(series_fill_linear(&in, &fp, &fr), ME_SERIES_EINVAL);
	op.window = 0;
	assert_int_equal(series_outliers(&in, &op, sc), ME_SERIES_EINVAL);
	assert_int_equal(series_detect_faults(&in, DAY, 0, &xp, &fl), ME_SERIES_EINVAL);
	fp.snap_us = 0;
	fp.from_ts = 0;
	fp.to_ts = INT64_C(1) << 62;
	fp.interval_us = 1;
	assert_int_equal(series_fill_linear(&in, &fp, &fr), ME_SERIES_ERANGE);
	ser_free(&s);
}

/* ------------------------------------------------------------ fill */

static void
test_fill_empty(void **state)
{
	Ser			s = ser_new(0);
	MeSeries	in = view(&s, false);
	MeFillParams p;
	MeFillResult r;
	size_t		i;

	series_fill_params_default(&p);
	p.from_ts = T(2024, 1, 1, 0, 0);
	p.to_ts = T(2024, 1, 1, 1, 0);
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 4);
	for (i = 0; i < 4; i++)
	{
		assert_int_equal(r.points[i].method, ME_FILL_HOLE);
		assert_true(isnan(r.points[i].kw));
		assert_int_equal(r.points[i].ts, p.from_ts + (int64_t) i * MIN15);
	}
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].kind, ME_GAP_NODATA);
	assert_int_equal(r.gaps[0].start_ts, p.from_ts);
	assert_int_equal(r.gaps[0].end_ts, p.from_ts + 3 * MIN15);
	assert_int_equal(r.gaps[0].n_intervals, 4);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.gaps[0].n_estimated, 0);
	series_fill_result_free(&r);

	/* empty range: no points, no gaps */
	p.to_ts = p.from_ts;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 0);
	assert_int_equal(r.n_gaps, 0);
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_single_point(void **state)
{
	Ser			s = ser_new(1);
	MeSeries	in = view(&s, false);
	MeFillParams p;
	MeFillResult r;

	s.ts[0] = T(2024, 1, 1, 12, 0);
	s.kw[0] = 3.5;
	series_fill_params_default(&p);
	p.from_ts = T(2024, 1, 1, 11, 0);
	p.to_ts = T(2024, 1, 1, 13, 0);
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 8);
	assert_int_equal(r.points[4].method, ME_FILL_ACTUAL);
	assert_true(r.points[4].kw == 3.5);
	assert_int_equal(r.n_gaps, 2);
	assert_int_equal(r.gaps[0].kind, ME_GAP_LEADING);
	assert_int_equal(r.gaps[0].n_intervals, 4);
	assert_int_equal(r.gaps[0].end_ts, T(2024, 1, 1, 11, 45));
	assert_int_equal(r.gaps[1].kind, ME_GAP_TRAILING);
	assert_int_equal(r.gaps[1].start_ts, T(2024, 1, 1, 12, 15));
	assert_int_equal(r.gaps[1].end_ts, T(2024, 1, 1, 12, 45));
	assert_int_equal(r.gaps[1].n_intervals, 3);
	assert_string_equal(series_fill_method_name(r.points[4].method), "actual");
	assert_null(series_fill_method_name(r.points[0].method));
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_all_missing(void **state)
{
	Ser			s = ser_new(8);
	MeSeries	in = view(&s, true);
	MeFillParams p;
	MeFillResult r;
	size_t		i;

	for (i = 0; i < s.n; i++)
	{
		s.ts[i] = (int64_t) i * MIN15;
		s.kw[i] = NAN;			/* never read: not present */
		s.present[i] = false;
	}
	series_fill_params_default(&p);
	p.from_ts = 0;
	p.to_ts = 2 * HOUR;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 8);
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].kind, ME_GAP_NODATA);
	assert_int_equal(r.gaps[0].n_intervals, 8);
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_gap_at_limit(void **state)
{
	Ser			s = ser_new(2);
	MeSeries	in = view(&s, false);
	MeFillParams p;
	MeFillResult r;
	size_t		i;

	series_fill_params_default(&p);	/* max_gap 2 h */
	s.ts[0] = 0;
	s.kw[0] = 1.0;
	s.ts[1] = 2 * HOUR;			/* span exactly 2 h: interpolated */
	s.kw[1] = 9.0;
	p.from_ts = 0;
	p.to_ts = 3 * HOUR;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 12);
	for (i = 1; i < 8; i++)
	{
		assert_int_equal(r.points[i].method, ME_FILL_LINEAR);
		assert_float_equal(r.points[i].kw, 1.0 + (double) i, 1e-12);
	}
	assert_string_equal(series_fill_method_name(r.points[1].method), "linear");
	assert_int_equal(r.points[8].method, ME_FILL_ACTUAL);
	assert_int_equal(r.n_gaps, 1);	/* only the trailing slots */
	assert_int_equal(r.gaps[0].kind, ME_GAP_TRAILING);
	series_fill_result_free(&r);

	/* one interval over the limit: holes and a gap record */
	s.ts[1] = 2 * HOUR + MIN15;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	for (i = 1; i < 9; i++)
		assert_int_equal(r.points[i].method, ME_FILL_HOLE);
	assert_int_equal(r.points[9].method, ME_FILL_ACTUAL);
	assert_int_equal(r.n_gaps, 2);
	assert_int_equal(r.gaps[0].kind, ME_GAP_LONG);
	assert_int_equal(r.gaps[0].start_ts, MIN15);
	assert_int_equal(r.gaps[0].end_ts, 2 * HOUR);
	assert_int_equal(r.gaps[0].n_intervals, 8);
	assert_int_equal(r.gaps[0].span_us, 2 * HOUR + MIN15);
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_neighbours_outside_range(void **state)
{
	Ser			s = ser_new(2);
	MeSeries	in = view(&s, false);
	MeFillParams p;
	MeFillResult r;
	size_t		i;

	s.ts[0] = 45 * ME_USECS_PER_MIN;
	s.kw[0] = 0.0;
	s.ts[1] = 2 * HOUR + MIN15;
	s.kw[1] = 6.0;
	series_fill_params_default(&p);
	p.from_ts = HOUR;
	p.to_ts = 2 * HOUR;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 4);
	assert_int_equal(r.n_gaps, 0);
	for (i = 0; i < 4; i++)
	{
		assert_int_equal(r.points[i].method, ME_FILL_LINEAR);
		assert_float_equal(r.points[i].kw, 1.0 + (double) i, 1e-12);
	}
	series_fill_result_free(&r);

	/* range entirely before the data: leading holes */
	p.from_ts = -2 * HOUR;
	p.to_ts = -HOUR;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].kind, ME_GAP_LEADING);
	assert_int_equal(r.gaps[0].n_intervals, 4);
	series_fill_result_free(&r);

	/* range not on the grid: first slot is the next multiple */
	p.from_ts = HOUR + 1;
	p.to_ts = HOUR + MIN15 + 1;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_points, 1);
	assert_int_equal(r.points[0].ts, HOUR + MIN15);
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_offgrid(void **state)
{
	Ser			s = ser_new(3);
	MeSeries	in = view(&s, false);
	MeFillParams p;
	MeFillResult r;

	s.ts[0] = 0;
	s.kw[0] = 1.0;
	s.ts[1] = MIN15 - 10 * ME_USECS_PER_SEC;
	s.kw[1] = 2.0;
	s.ts[2] = MIN15 + 5 * ME_USECS_PER_SEC;
	s.kw[2] = 3.0;
	series_fill_params_default(&p);
	p.from_ts = 0;
	p.to_ts = 2 * MIN15;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_offgrid, 2);
	assert_int_equal(r.points[1].method, ME_FILL_HOLE);
	series_fill_result_free(&r);

	p.snap_us = 30 * ME_USECS_PER_SEC;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_offgrid, 0);
	assert_int_equal(r.n_collisions, 1);
	assert_int_equal(r.points[1].method, ME_FILL_ACTUAL);
	assert_true(r.points[1].kw == 3.0);	/* 5 s off beats 10 s off */
	assert_int_equal(r.points[1].ts, MIN15);
	series_fill_result_free(&r);
	ser_free(&s);
}

/* Series of value = week number * 10 at every slot, for like-day means. */
static void
test_fill_like_day_nearest(void **state)
{
	size_t		n = 8 * 7 * 96;
	Ser			s = ser_new(n);
	MeSeries	in;
	MeFillParams p;
	MeFillResult r;
	int64_t		start = T(2024, 1, 1, 0, 0);
	int64_t		g0 = start + 3 * 7 * DAY + 2 * DAY;	/* a Wednesday in week 3 */
	size_t		i,
				k;

	for (i = 0; i < n; i++)
	{
		s.ts[i] = start + (int64_t) i * MIN15;
		s.kw[i] = 10.0 * (double) (i / (7 * 96));
		s.present[i] = !(s.ts[i] >= g0 && s.ts[i] < g0 + DAY);
	}
	in = view(&s, true);
	series_fill_params_default(&p);
	p.from_ts = start;
	p.to_ts = start + 8 * 7 * DAY;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].n_intervals, 96);
	k = (size_t) ((g0 - start) / MIN15);
	assert_int_equal(r.points[k].method, ME_FILL_HOLE);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.gaps[0].n_estimated, 96);
	for (i = k; i < k + 96; i++)
	{
		assert_int_equal(r.points[i].method, ME_FILL_LIKE_DAY);
		/* weeks 2, 4, 1, 5 */
		assert_float_equal(r.points[i].kw, (20.0 + 40.0 + 10.0 + 50.0) / 4.0, 1e-12);
	}
	assert_string_equal(series_fill_method_name(ME_FILL_LIKE_DAY), "like_day");
	series_fill_result_free(&r);

	p.like_day_days = 2;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_float_equal(r.points[k].kw, 30.0, 1e-12);
	series_fill_result_free(&r);

	/* donors only within max_weeks: one week away is not enough here */
	for (i = 0; i < n; i++)
		if (s.ts[i] >= g0 - 7 * DAY && s.ts[i] < g0 - 6 * DAY)
			s.present[i] = false;
	for (i = 0; i < n; i++)
		if (s.ts[i] >= g0 + 7 * DAY && s.ts[i] < g0 + 8 * DAY)
			s.present[i] = false;
	p.like_day_max_weeks = 1;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.points[k].method, ME_FILL_HOLE);
	assert_int_equal(r.gaps[1].n_estimated, 0);
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_like_day_edges(void **state)
{
	size_t		n = 3 * 7 * 96,
				i;
	Ser			s = ser_new(n);
	MeSeries	in = view(&s, false);
	MeFillParams p;
	MeFillResult r;

	for (i = 0; i < n; i++)
	{
		s.ts[i] = (int64_t) i * MIN15;
		s.kw[i] = (double) (i % 96);
	}
	series_fill_params_default(&p);
	p.from_ts = 0;
	p.to_ts = 4 * 7 * DAY;		/* one week past the data */
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].kind, ME_GAP_TRAILING);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.gaps[0].n_estimated, 0);	/* edges are left alone */
	p.like_day_edges = true;
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.gaps[0].n_estimated, 7 * 96);
	assert_int_equal(r.points[n + 5].method, ME_FILL_LIKE_DAY);
	assert_true(r.points[n + 5].kw == 5.0);
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_like_day_none(void **state)
{
	size_t		n = 3 * 96;
	Ser			s = ser_new(n);
	MeSeries	in;
	MeFillParams p;
	MeFillResult r;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		s.ts[i] = (int64_t) i * MIN15;
		s.kw[i] = 1.0;
		s.present[i] = i < 96 || i >= 192;
	}
	in = view(&s, true);
	series_fill_params_default(&p);
	p.from_ts = 0;
	p.to_ts = 3 * DAY;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].n_estimated, 0);
	for (i = 96; i < 192; i++)
		assert_int_equal(r.points[i].method, ME_FILL_HOLE);
	series_fill_result_free(&r);
	ser_free(&s);
}

/* Fill one local day by like-day in an EU-zone series valued by local clock time. */
static void
check_like_day_dst(int y, int mo, int d, int64_t expected_slots)
{
	MeZone		zone;
	int64_t		day_utc0,
				day_utc1;
	int64_t		start;
	size_t		n = 6 * 7 * 96,
				i,
				holes = 0;
	Ser			s = ser_new(n);
	MeSeries	in;
	MeFillParams p;
	MeFillResult r;

	me_zone_init(&zone, eu_gmtoff, &cet_std);
	/* the local day's UTC bounds */
	assert_int_equal(me_local_to_utc(&zone, T(y, mo, d, 0, 0), &day_utc0, &day_utc1), ME_LOCAL_OK);
	assert_int_equal(me_local_to_utc(&zone, T(y, mo, d, 0, 0) + DAY, &day_utc1, &start), ME_LOCAL_OK);
	assert_int_equal((day_utc1 - day_utc0) / MIN15, expected_slots);
	start = day_utc0 - 3 * 7 * DAY;
	for (i = 0; i < n; i++)
	{
		s.ts[i] = start + (int64_t) i * MIN15;
		s.kw[i] = clock_hours(true, s.ts[i]);
		s.present[i] = !(s.ts[i] >= day_utc0 && s.ts[i] < day_utc1);
		holes += !s.present[i];
	}
	assert_int_equal(holes, expected_slots);
	in = view(&s, true);
	series_fill_params_default(&p);
	p.zone = &zone;
	p.from_ts = start;
	p.to_ts = start + (int64_t) n * MIN15;
	assert_int_equal(series_fill_linear(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(series_fill_like_day(&in, &p, &r), ME_SERIES_OK);
	assert_int_equal(r.n_gaps, 1);
	assert_int_equal(r.gaps[0].start_ts, day_utc0);
	assert_int_equal(r.gaps[0].n_intervals, expected_slots);
	assert_int_equal(r.gaps[0].n_estimated, expected_slots);
	for (i = 0; i < r.n_points; i++)
	{
		if (r.points[i].ts < day_utc0 || r.points[i].ts >= day_utc1)
			continue;
		assert_int_equal(r.points[i].method, ME_FILL_LIKE_DAY);
		/* same local clock time as the slot, whatever the offset */
		assert_float_equal(r.points[i].kw, clock_hours(true, r.points[i].ts), 1e-12);
	}
	series_fill_result_free(&r);
	ser_free(&s);
}

static void
test_fill_like_day_dst(void **state)
{
	check_like_day_dst(2024, 3, 31, 92);	/* 23-hour day */
	check_like_day_dst(2024, 10, 27, 100);	/* 25-hour day */
	check_like_day_dst(2024, 4, 7, 96);	/* a donor (Mar 31) lacks 02:xx */
	check_like_day_dst(2024, 10, 20, 96);	/* a donor (Oct 27) has 02:xx twice */
}

/* ------------------------------------------------------------ orderstat */

static int
cmp_dbl(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
test_orderstat_random(void **state)
{
	MeOrderStat os;
	Rng			r = {12345};
	double	   *ref = malloc(3000 * sizeof(double));
	double	   *tmp = malloc(3000 * sizeof(double));
	size_t		n = 0,
				step,
				i;

	me_os_init(&os);
	for (step = 0; step < 40000; step++)
	{
		bool		grow = n < 10 || (n < 2900 && rng_u(&r) < (step < 20000 ? 0.6 : 0.4));

		if (grow)
		{
			double		x = floor(rng_u(&r) * 50.0);

			assert_int_equal(me_os_insert(&os, x), ME_SERIES_OK);
			ref[n++] = x;
		}
		else
		{
			size_t		k = (size_t) (rng_u(&r) * (double) n);

			assert_int_equal(me_os_remove(&os, ref[k]), ME_SERIES_OK);
			ref[k] = ref[--n];
		}
		if (step % 97 == 0)
		{
			memcpy(tmp, ref, n * sizeof(double));
			qsort(tmp, n, sizeof(double), cmp_dbl);
			assert_int_equal(os.n, n);
			for (i = 0; i < n; i += 1 + n / 50)
				assert_true(me_os_select(&os, i) == tmp[i]);
		}
	}
	assert_int_equal(me_os_remove(&os, 1000.0), ME_SERIES_EINVAL);
	me_os_free(&os);
	free(ref);
	free(tmp);
}

/* ------------------------------------------------------------ outliers */

/* Naive reference: build the window per row, sort it, or use two passes. */
static void
naive_scores(const double *kw, const bool *present, size_t n, const MeOutlierParams *p,
			 MeScore *out)
{
	double	   *x = malloc((n ? n : 1) * sizeof(double));
	size_t	   *idx = malloc((n ? n : 1) * sizeof(size_t));
	double	   *w = malloc((2 * p->window + 2) * sizeof(double));
	size_t		m = 0,
				k,
				i;
	size_t		minp = p->method == ME_OUTLIER_ZSCORE ? 2 : 1;

	if (p->min_periods > minp)
		minp = p->min_periods;
	for (i = 0; i < n; i++)
	{
		memset(&out[i], 0, sizeof(MeScore));
		if (present && !present[i])
		{
			out[i].status = ME_SCORE_MISSING;
			continue;
		}
		x[m] = kw[i];
		idx[m++] = i;
	}
	for (k = 0; k < m; k++)
	{
		MeScore    *o = &out[idx[k]];
		size_t		a,
					b,
					nw = 0;
		double		centre,
					scale;
		bool		constant = true;

		if (p->mode == ME_WINDOW_TRAILING)
		{
			a = k > p->window ? k - p->window : 0;
			b = k;
		}
		else
		{
			a = k > p->window / 2 ? k - p->window / 2 : 0;
			b = k + p->window / 2 + 1 < m ? k + p->window / 2 + 1 : m;
		}
		for (i = a; i < b; i++)
			if (i != k)
				w[nw++] = x[i];
		o->n_window = (uint32_t) nw;
		if (nw < minp)
		{
			o->status = ME_SCORE_SHORT;
			continue;
		}
		for (i = 1; i < nw; i++)
			constant = constant && w[i] == w[0];
		if (p->method == ME_OUTLIER_HAMPEL)
		{
			qsort(w, nw, sizeof(double), cmp_dbl);
			centre = nw % 2 ? w[nw / 2] : (w[nw / 2 - 1] + w[nw / 2]) / 2.0;
			for (i = 0; i < nw; i++)
				w[i] = fabs(w[i] - centre);
			qsort(w, nw, sizeof(double), cmp_dbl);
			scale = 1.4826 * (nw % 2 ? w[nw / 2] : (w[nw / 2 - 1] + w[nw / 2]) / 2.0);
		}
		else if (constant)
		{
			centre = w[0];
			scale = 0.0;
		}
		else
		{
			double		sum = 0.0,
						ss = 0.0,
						sd = 0.0;

			/*
			 * corrected two-pass; the mean is taken about w[0] so that a
			 * large level does not swamp it with rounding
			 */
			for (i = 0; i < nw; i++)
				sum += w[i] - w[0];
			centre = w[0] + sum / nw;
			for (i = 0; i < nw; i++)
			{
				ss += (w[i] - centre) * (w[i] - centre);
				sd += w[i] - centre;
			}
			scale = sqrt((ss - sd * sd / nw) / (nw - 1));
		}
		scale = fmax(scale, p->min_scale);
		o->centre = centre;
		o->scale = scale;
		if (scale > 0)
		{
			o->status = ME_SCORE_OK;
			o->score = (x[k] - centre) / scale;
		}
		else
		{
			o->status = ME_SCORE_DEGENERATE;
			o->score = x[k] == centre ? 0.0 : copysign(ME_SERIES_SCORE_SENTINEL, x[k] - centre);
		}
		o->is_outlier = fabs(o->score) > p->threshold;
	}
	free(x);
	free(idx);
	free(w);
}

/* Relative closeness for the z-score comparison. */
static bool
close_rel(double a, double b, double tol)
{
	return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/*
 * z-scores agree to 1e-9 relative, plus what a few ulps of difference in
 * the mean (x - mean cancels when x is near a large mean) can explain.
 */
static bool
close_z(const MeScore *a, const MeScore *b)
{
	double		ulps = 4.0 * DBL_EPSILON * fabs(b->centre);

	if (a->status != ME_SCORE_OK || b->scale == 0.0)
		return a->score == b->score;
	return fabs(a->score - b->score) <= 1e-9 * fmax(1.0, fabs(b->score)) + ulps / b->scale;
}

static void
test_outlier_empty_single(void **state)
{
	Ser			s = ser_new(1);
	MeSeries	in = view(&s, false);
	MeOutlierParams p;
	MeScore		o[1];

	series_outlier_params_default(&p, ME_OUTLIER_HAMPEL);
	in.n = 0;
	assert_int_equal(series_outliers(&in, &p, NULL), ME_SERIES_OK);
	in.n = 1;
	s.kw[0] = 4.0;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[0].status, ME_SCORE_SHORT);
	assert_int_equal(o[0].n_window, 0);
	assert_false(o[0].is_outlier);
	series_outlier_params_default(&p, ME_OUTLIER_ZSCORE);
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[0].status, ME_SCORE_SHORT);
	ser_free(&s);
}

static void
test_outlier_short_series(void **state)
{
	double		v[5] = {1.0, 2.0, 4.0, 8.0, 16.0};
	MeSeries	in = {NULL, v, NULL, 5};
	MeOutlierParams p;
	MeScore		o[5];

	series_outlier_params_default(&p, ME_OUTLIER_ZSCORE);
	p.window = 10;
	p.min_periods = 2;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[0].status, ME_SCORE_SHORT);
	assert_int_equal(o[1].status, ME_SCORE_SHORT);
	assert_int_equal(o[1].n_window, 1);
	assert_int_equal(o[4].status, ME_SCORE_OK);
	assert_int_equal(o[4].n_window, 4);
	/* window {1,2,4,8}: mean 3.75, sample sd sqrt(28.75 / 3) */
	assert_float_equal(o[4].centre, 3.75, 1e-12);
	assert_float_equal(o[4].scale, sqrt(28.75 / 3.0), 1e-12);
	assert_float_equal(o[4].score, (16.0 - 3.75) / sqrt(28.75 / 3.0), 1e-12);

	p.method = ME_OUTLIER_HAMPEL;
	p.mode = ME_WINDOW_CENTRED;
	p.min_periods = 1;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[0].n_window, 4);
	assert_int_equal(o[2].n_window, 4);
	/* row 0: window {2,4,8,16}: median 6, |d| {4,2,2,10} -> MAD 3 */
	assert_float_equal(o[0].centre, 6.0, 1e-12);
	assert_float_equal(o[0].scale, 1.4826 * 3.0, 1e-12);

	/* centred with W = 1 has no neighbours at all */
	p.window = 1;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[2].status, ME_SCORE_SHORT);
	assert_int_equal(o[2].n_window, 0);
}

static void
test_outlier_median_ties(void **state)
{
	double		v[6] = {1.0, 2.0, 2.0, 3.0, 10.0, 2.5};
	double		w[5] = {1.0, 1.0, 3.0, 3.0, 2.0};
	MeSeries	in = {NULL, v, NULL, 6};
	MeOutlierParams p;
	MeScore		o[6];

	series_outlier_params_default(&p, ME_OUTLIER_HAMPEL);
	p.mode = ME_WINDOW_TRAILING;
	p.window = 4;
	p.min_periods = 4;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	/* window {1,2,2,3}: median 2, |d| {1,0,0,1} -> MAD (0+1)/2 */
	assert_int_equal(o[4].status, ME_SCORE_OK);
	assert_true(o[4].centre == 2.0);
	assert_float_equal(o[4].scale, 1.4826 * 0.5, 1e-12);
	assert_float_equal(o[4].score, 8.0 / (1.4826 * 0.5), 1e-9);
	assert_true(o[4].is_outlier);
	/* window {2,2,3,10}: median 2.5, |d| {0.5,0.5,0.5,7.5} -> MAD 0.5 */
	assert_true(o[5].centre == 2.5);
	assert_float_equal(o[5].scale, 1.4826 * 0.5, 1e-12);
	assert_true(o[5].score == 0.0);
	assert_false(o[5].is_outlier);

	in.kw = w;
	in.n = 5;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	/* window {1,1,3,3}: median 2 between the ties, MAD 1 */
	assert_true(o[4].centre == 2.0);
	assert_float_equal(o[4].scale, 1.4826, 1e-12);
	assert_true(o[4].score == 0.0);
}

static void
check_constant(MeOutlierMethod method, MeWindowMode mode, double level)
{
	size_t		n = 200,
				i;
	double	   *v = malloc(n * sizeof(double));
	MeScore    *o = malloc(n * sizeof(MeScore));
	MeSeries	in = {NULL, v, NULL, n};
	MeOutlierParams p;

	for (i = 0; i < n; i++)
		v[i] = level;
	series_outlier_params_default(&p, method);
	p.mode = mode;
	p.window = 24;
	p.min_periods = 4;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	for (i = 4; i < n; i++)
	{
		assert_int_equal(o[i].status, ME_SCORE_DEGENERATE);
		assert_true(o[i].score == 0.0);
		assert_true(o[i].centre == level);
		assert_true(o[i].scale == 0.0);
		assert_false(o[i].is_outlier);
	}
	/* a spike on the flat series */
	v[100] = level + 4.0;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[100].status, ME_SCORE_DEGENERATE);
	assert_true(o[100].score == ME_SERIES_SCORE_SENTINEL);
	assert_true(o[100].is_outlier);
	for (i = 4; i < n; i++)
		if (i != 100)
			assert_false(o[i].is_outlier);
	/* a floor on the scale turns the sentinel into a finite score */
	p.min_scale = 0.5;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[100].status, ME_SCORE_OK);
	assert_float_equal(o[100].score, 8.0, 1e-9);
	/* a dip is flagged with a negative score */
	p.min_scale = 0.0;
	v[100] = level - 1.0;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_true(o[100].score == -ME_SERIES_SCORE_SENTINEL);
	assert_true(o[100].is_outlier);
	free(v);
	free(o);
}

static void
test_outlier_constant(void **state)
{
	check_constant(ME_OUTLIER_HAMPEL, ME_WINDOW_TRAILING, 5.0);
	check_constant(ME_OUTLIER_HAMPEL, ME_WINDOW_CENTRED, 5.0);
	check_constant(ME_OUTLIER_ZSCORE, ME_WINDOW_TRAILING, 5.0);
	check_constant(ME_OUTLIER_ZSCORE, ME_WINDOW_CENTRED, 5.0);
	/* 0.1 is inexact: summed it would leave a rounding-noise stddev */
	check_constant(ME_OUTLIER_ZSCORE, ME_WINDOW_TRAILING, 0.1);
	check_constant(ME_OUTLIER_ZSCORE, ME_WINDOW_CENTRED, 0.1);
	check_constant(ME_OUTLIER_HAMPEL, ME_WINDOW_CENTRED, 0.1);
}

static void
test_outlier_missing(void **state)
{
	double		v[6] = {1.0, 2.0, NAN, 3.0, 4.0, 100.0};
	bool		pr[6] = {true, true, false, true, true, true};
	MeSeries	in = {NULL, v, pr, 6};
	MeOutlierParams p;
	MeScore		o[6];

	series_outlier_params_default(&p, ME_OUTLIER_HAMPEL);
	p.mode = ME_WINDOW_TRAILING;
	p.window = 2;
	p.min_periods = 2;
	assert_int_equal(series_outliers(&in, &p, o), ME_SERIES_OK);
	assert_int_equal(o[2].status, ME_SCORE_MISSING);
	assert_false(o[2].is_outlier);
	/* row 3 (value 3): the window skips the missing reading: {1, 2} */
	assert_int_equal(o[3].n_window, 2);
	assert_true(o[3].centre == 1.5);
	assert_true(o[4].centre == 2.5);
	assert_true(o[5].is_outlier);
}

/* Compare series_outliers with the naive reference on one data set. */
static void
compare_with_naive(const double *v, const bool *pr, size_t n, MeOutlierMethod method,
				   MeWindowMode mode, size_t window, size_t minp)
{
	MeScore    *a = malloc(n * sizeof(MeScore));
	MeScore    *b = malloc(n * sizeof(MeScore));
	MeSeries	in = {NULL, v, pr, n};
	MeOutlierParams p;
	size_t		i;

	series_outlier_params_default(&p, method);
	p.mode = mode;
	p.window = window;
	p.min_periods = minp;
	assert_int_equal(series_outliers(&in, &p, a), ME_SERIES_OK);
	naive_scores(v, pr, n, &p, b);
	for (i = 0; i < n; i++)
	{
		/* a z-score within rounding of the threshold may fall either side */
		bool		at_threshold = method == ME_OUTLIER_ZSCORE &&
			fabs(fabs(b[i].score) - p.threshold) < 1e-9;

		if (a[i].status != b[i].status || a[i].n_window != b[i].n_window ||
			(a[i].is_outlier != b[i].is_outlier && !at_threshold) ||
			(method == ME_OUTLIER_HAMPEL &&
			 (a[i].score != b[i].score || a[i].centre != b[i].centre || a[i].scale != b[i].scale)) ||
			(method == ME_OUTLIER_ZSCORE &&
			 (!close_z(&a[i], &b[i]) || !close_rel(a[i].centre, b[i].centre, 1e-12) ||
			  !close_rel(a[i].scale, b[i].scale, 1e-9))))
		{
			print_error("row %zu W=%zu mode=%d: got st=%d n=%u c=%.17g s=%.17g z=%.17g, "
						"want st=%d n=%u c=%.17g s=%.17g z=%.17g\n", i, window, (int) mode,
						a[i].status, a[i].n_window, a[i].centre, a[i].scale, a[i].score,
						b[i].status, b[i].n_window, b[i].centre, b[i].scale, b[i].score);
			fail();
		}
	}
	free(a);
	free(b);
}

/* Random data of three kinds: noise with spikes, heavy ties, large offset. */
static void
random_data(Rng *r, int kind, double *v, bool *pr, size_t n, double missing)
{
	size_t		i;
	double		walk = 0.0;

	for (i = 0; i < n; i++)
	{
		walk += 0.1 * rng_n(r);
		if (kind == 0)
			v[i] = 5.0 + walk + rng_n(r) + (rng_u(r) < 0.02 ? 20.0 * rng_n(r) : 0.0);
		else if (kind == 1)
			v[i] = floor(rng_u(r) * 4.0);	/* 0..3: ties everywhere */
		else
			v[i] = 1.0e6 + 1.0e-3 * rng_n(r);
		pr[i] = rng_u(r) >= missing;
	}
}

static void
test_hampel_vs_naive(void **state)
{
	static const size_t windows[] = {1, 2, 3, 4, 5, 8, 13, 96, 97, 200, 301};
	size_t		n = 2500;
	double	   *v = malloc(n * sizeof(double));
	bool	   *pr = malloc(n * sizeof(bool));
	Rng			r = {987654321};
	int			kind,
				mode,
				miss;
	size_t		wi;

	for (kind = 0; kind < 3; kind++)
		for (miss = 0; miss < 2; miss++)
		{
			random_data(&r, kind, v, pr, n, miss ? 0.2 : 0.0);
			for (wi = 0; wi < sizeof(windows) / sizeof(windows[0]); wi++)
				for (mode = 0; mode < 2; mode++)
					compare_with_naive(v, miss ? pr : NULL, n, ME_OUTLIER_HAMPEL,
									   (MeWindowMode) mode, windows[wi], windows[wi] / 3);
		}
	free(v);
	free(pr);
}

static void
test_zscore_vs_naive(void **state)
{
	static const size_t windows[] = {2, 3, 4, 7, 64, 96, 97, 300};
	size_t		n = 5000;
	double	   *v = malloc(n * sizeof(double));
	bool	   *pr = malloc(n * sizeof(bool));
	Rng			r = {55555};
	int			kind,
				mode,
				miss;
	size_t		wi;

	for (kind = 0; kind < 3; kind++)
		for (miss = 0; miss < 2; miss++)
		{
			random_data(&r, kind, v, pr, n, miss ? 0.2 : 0.0);
			for (wi = 0; wi < sizeof(windows) / sizeof(windows[0]); wi++)
				for (mode = 0; mode < 2; mode++)
					compare_with_naive(v, miss ? pr : NULL, n, ME_OUTLIER_ZSCORE,
									   (MeWindowMode) mode, windows[wi], 2);
		}
	free(v);
	free(pr);
}

/* ------------------------------------------------------------ faults */

static void
test_faults_clean(void **state)
{
	MeZone		zone;
	int64_t		start = T(2024, 2, 29, 23, 0);
	size_t		n = 260 * 96;
	Ser			s = daily_series(start, n, true, 42);
	MeSeries	in = view(&s, true);
	MeFaultParams p;
	MeFaultList l;
	Rng			r = {7};
	size_t		i;

	/* 260 days across both DST changes, 2% of readings missing at random */
	for (i = 0; i < n; i++)
		s.present[i] = rng_u(&r) >= 0.02;
	me_zone_init(&zone, eu_gmtoff, &cet_std);
	series_fault_params_default(&p);
	p.zone = &zone;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n)
		dump_faults(&l);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);

	/* same data in UTC days, all present */
	in.present = NULL;
	p.zone = NULL;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	ser_free(&s);
}

static void
test_faults_empty(void **state)
{
	Ser			s = ser_new(0);
	MeSeries	in = view(&s, false);
	MeFaultParams p;
	MeFaultList l;

	series_fault_params_default(&p);
	assert_int_equal(series_detect_faults(&in, 0, 2 * DAY, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_OFFLINE);
	assert_int_equal(l.items[0].start_ts, 0);
	assert_int_equal(l.items[0].end_ts, 2 * DAY);
	assert_true(l.items[0].value == 1.0);
	assert_int_equal(l.items[0].n, 192);
	series_fault_list_free(&l);
	assert_int_equal(series_detect_faults(&in, 0, 0, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	ser_free(&s);
}

static void
test_faults_stuck_zero(void **state)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = 60 * 96,
				z0 = 40 * 96 + 22 * 4,	/* day 40, 22:00 */
				i;
	Ser			s = daily_series(start, n, false, 3);
	MeSeries	in = view(&s, false);
	MeFaultParams p;
	MeFaultList l;
	const MeFault *f;

	for (i = z0; i < z0 + 40; i++)	/* 10 h of zeros across midnight */
		s.kw[i] = 0.0;
	for (i = 10 * 96; i < 10 * 96 + 24; i++)	/* 6 h: too short */
		s.kw[i] = 0.0;
	series_fault_params_default(&p);
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n != 1)
		dump_faults(&l);
	assert_int_equal(l.n, 1);
	f = &l.items[0];
	assert_int_equal(f->kind, ME_FAULT_STUCK_ZERO);
	assert_int_equal(f->start_ts, s.ts[z0]);
	assert_int_equal(f->end_ts, s.ts[z0 + 39] + MIN15);
	assert_int_equal(f->n, 40);
	assert_true(f->value == 0.0);
	assert_true(f->score == 1.0);
	assert_true(f->baseline > 0.3);
	assert_string_equal(series_fault_kind_name(f->kind), "stuck_zero");
	series_fault_list_free(&l);

	/* a short comms gap inside the run does not split it */
	s.present[z0 + 20] = false;
	in.present = s.present;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	assert_int_equal(count_kind(&l, ME_FAULT_STUCK_ZERO), 1);
	assert_int_equal(find_kind(&l, ME_FAULT_STUCK_ZERO)->n, 39);
	series_fault_list_free(&l);
	ser_free(&s);
}

static void
test_faults_pv_nights(void **state)
{
	int64_t		start = T(2024, 4, 1, 0, 0);
	size_t		n = 60 * 96,
				i,
				d0 = 30 * 96;
	Ser			s = ser_new(n);
	MeSeries	in = view(&s, false);
	MeFaultParams p;
	MeFaultList l;
	Rng			r = {99};

	/* PV export: zero from 18:00 to 06:00 every night, noisy bell by day */
	for (i = 0; i < n; i++)
	{
		double		h = (double) ((i % 96) * 15) / 60.0;

		s.ts[i] = start + (int64_t) i * MIN15;
		s.kw[i] = (h >= 6.0 && h < 18.0) ?
			round(1000.0 * (0.05 + 3.0 * sin(M_PI * (h - 6.0) / 12.0) * (0.7 + 0.3 * rng_u(&r)))) / 1000.0 : 0.0;
	}
	series_fault_params_default(&p);
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n)
		dump_faults(&l);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);

	/* inverter dead for three days: zeros by day are unusual */
	for (i = d0; i < d0 + 3 * 96; i++)
		s.kw[i] = 0.0;
	p.kinds = 1u << ME_FAULT_STUCK_ZERO;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].start_ts, s.ts[d0 - 24]);	/* the night before */
	assert_int_equal(l.items[0].end_ts, s.ts[d0 + 3 * 96 + 24]);
	assert_float_equal(l.items[0].score, 144.0 / (3 * 96 + 48), 1e-12);
	series_fault_list_free(&l);
	ser_free(&s);
}

static void
test_faults_flatline(void **state)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = 40 * 96,
				f0 = 20 * 96 + 9 * 4,
				i;
	Ser			s = daily_series(start, n, false, 11);
	MeSeries	in = view(&s, false);
	MeFaultParams p;
	MeFaultList l;

	for (i = f0; i < f0 + 40; i++)	/* 10 h stuck at 2.345 */
		s.kw[i] = 2.345;
	series_fault_params_default(&p);
	p.kinds = (1u << ME_FAULT_FLATLINE) | (1u << ME_FAULT_STUCK_ZERO) | (1u << ME_FAULT_OFFLINE);
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_FLATLINE);
	assert_int_equal(l.items[0].start_ts, s.ts[f0]);
	assert_int_equal(l.items[0].end_ts, s.ts[f0] + 10 * HOUR);
	assert_int_equal(l.items[0].n, 40);
	assert_true(l.items[0].value == 2.345);
	series_fault_list_free(&l);

	/* 15 readings (3.75 h) are below both minimums */
	for (i = f0 + 15; i < f0 + 40; i++)
		s.kw[i] += 0.001 * (double) (i - f0);
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);

	/* a constant night load every night (street light) is the meter's normal */
	for (i = 0; i < n; i++)
		if (i % 96 < 6 * 4 || i % 96 >= 20 * 4)
			s.kw[i] = 0.150;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n)
		dump_faults(&l);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	ser_free(&s);
}

/* 35 UTC days: 28 of history, then days 28.. scaled by factor for ndays. */
static void
check_shift(double factor, int ndays, int64_t want_n)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	int			days = 28 + (ndays > 7 ? ndays : 7);
	size_t		n = (size_t) days * 96,
				i;
	Ser			s = daily_series(start, n, false, 21);
	MeSeries	in = view(&s, false);
	MeFaultParams p;
	MeFaultList l;
	const MeFault *f;

	for (i = 28 * 96; i < (size_t) (28 + ndays) * 96; i++)
		s.kw[i] *= factor;
	series_fault_params_default(&p);
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n != (want_n > 0))
	{
		print_error("factor %g for %d days: %zu episodes\n", factor, ndays, l.n);
		dump_faults(&l);
	}
	assert_int_equal(l.n, want_n > 0);
	if (want_n == 0)
	{
		ser_free(&s);
		return;
	}
	f = &l.items[0];
	/* still shifted on the last day: a fault; back to normal sooner: usage */
	assert_int_equal(f->kind, 28 + ndays == days ? ME_FAULT_LEVEL_SHIFT : ME_FAULT_USAGE_ANOMALY);
	assert_int_equal(f->ongoing, 28 + ndays == days);
	assert_int_equal(f->start_ts, start + 28 * DAY);
	assert_int_equal(f->n, want_n);
	assert_int_equal(f->end_ts, start + (28 + want_n) * DAY);
	assert_float_equal(f->value, factor, 0.05 * factor);
	assert_true(factor > 1 ? f->score >= ME_DEFAULT_SHIFT_MIN_Z : f->score <= -ME_DEFAULT_SHIFT_MIN_Z);
	assert_true(f->baseline > 10.0);
	series_fault_list_free(&l);
	ser_free(&s);
}

static void
test_faults_level_shift(void **state)
{
	/*
	 * With the defaults users get: a factor of 2 or more for two days or
	 * more (an exact doubling of a noisy series measures either side of 2).
	 */
	check_shift(2.5, 7, 7);
	check_shift(3.0, 2, 2);
	check_shift(3.0, 1, 0);		/* one day is a transient, not a shift */
	check_shift(0.4, 3, 3);
	check_shift(1.4, 7, 0);		/* +40%: below the factor */
}

/* Episodes of a 35-day series (days 28.. scaled by factor for ndays) under p. */
static size_t
shift_episodes(double factor, int ndays, const MeFaultParams *p)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = 35 * 96;
	Ser			s = daily_series(start, n, false, 21);
	MeSeries	in = view(&s, false);
	MeFaultList l;
	size_t		found;

	for (size_t i = 28 * 96; i < (size_t) (28 + ndays) * 96; i++)
		s.kw[i] *= factor;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, p, &l), ME_SERIES_OK);
	found = l.n;
	series_fault_list_free(&l);
	ser_free(&s);
	return found;
}

/* Episodes shorter than shift_min_days, or nearer 1 than shift_min_factor, are dropped. */
static void
test_faults_level_shift_episode_rules(void **state)
{
	MeFaultParams p;
	MeFaultList l;

	series_fault_params_default(&p);
	assert_int_equal(shift_episodes(3.0, 1, &p), 0);	/* the defaults drop a 1-day change */
	p.shift_min_days = 1;
	assert_int_equal(shift_episodes(3.0, 1, &p), 1);
	p.shift_min_days = 2;
	assert_int_equal(shift_episodes(3.0, 2, &p), 1);
	assert_int_equal(shift_episodes(0.4, 3, &p), 1);
	p.shift_min_factor = 2.6;	/* 0.4 is a factor of 2.5 down; 3.0 passes */
	assert_int_equal(shift_episodes(0.4, 3, &p), 0);
	assert_int_equal(shift_episodes(3.0, 2, &p), 1);
	/* nonsense is refused (an empty series is fine otherwise) */
	assert_int_equal(series_detect_faults(&(MeSeries) {0}, 0, DAY, &p, &l), ME_SERIES_OK);
	series_fault_list_free(&l);
	p.shift_min_days = 0;
	assert_int_equal(series_detect_faults(&(MeSeries) {0}, 0, DAY, &p, &l), ME_SERIES_EINVAL);
	p.shift_min_days = 1;
	p.shift_min_factor = 0.5;
	assert_int_equal(series_detect_faults(&(MeSeries) {0}, 0, DAY, &p, &l), ME_SERIES_EINVAL);
	p.shift_min_factor = NAN;
	assert_int_equal(series_level_shift_days(NULL, 0, 0, DAY, &p, &l), ME_SERIES_EINVAL);
}

/* Level shift starting on a DST day, with local days from the EU zone. */
static void
check_shift_dst(int y, int mo, int d, int shifted_days, int64_t first_day_slots)
{
	MeZone		zone;
	int64_t		day0,
				hist0,
				end,
				dummy;
	size_t		n,
				i;
	Ser			s;
	MeSeries	in;
	MeFaultParams p;
	MeFaultList l;
	const MeFault *f;
	int64_t		next_day;

	me_zone_init(&zone, eu_gmtoff, &cet_std);
	assert_int_equal(me_local_to_utc(&zone, T(y, mo, d, 0, 0), &day0, &dummy), ME_LOCAL_OK);
	assert_int_equal(me_local_to_utc(&zone, T(y, mo, d, 0, 0) - 28 * DAY, &hist0, &dummy), ME_LOCAL_OK);
	assert_int_equal(me_local_to_utc(&zone, T(y, mo, d, 0, 0) + 7 * DAY, &end, &dummy), ME_LOCAL_OK);
	assert_int_equal(me_local_to_utc(&zone, T(y, mo, d, 0, 0) + shifted_days * DAY, &next_day, &dummy), ME_LOCAL_OK);
	n = (size_t) ((end - hist0) / MIN15);
	s = daily_series(hist0, n, true, 5);
	in = view(&s, false);
	for (i = 0; i < n; i++)
		if (s.ts[i] >= day0 && s.ts[i] < next_day)
			s.kw[i] *= 2.5;
	series_fault_params_default(&p);
	p.zone = &zone;
	p.shift_min_days = 1;		/* the DST day alone must make an episode */
	assert_int_equal(series_detect_faults(&in, hist0, end, &p, &l), ME_SERIES_OK);
	if (l.n != 1)
		dump_faults(&l);
	assert_int_equal(l.n, 1);
	f = &l.items[0];
	assert_int_equal(f->kind, shifted_days == 7 ? ME_FAULT_LEVEL_SHIFT : ME_FAULT_USAGE_ANOMALY);
	assert_int_equal(f->start_ts, day0);
	assert_int_equal(f->end_ts, next_day);
	assert_int_equal(f->n, shifted_days);
	if (shifted_days == 1)
		assert_int_equal((f->end_ts - f->start_ts) / MIN15, first_day_slots);
	assert_float_equal(f->value, 2.5, 0.125);
	series_fault_list_free(&l);
	ser_free(&s);
}

static void
test_faults_level_shift_dst(void **state)
{
	check_shift_dst(2024, 3, 31, 7, 92);	/* starts on the 23-hour day */
	check_shift_dst(2024, 3, 31, 1, 92);
	check_shift_dst(2024, 10, 27, 1, 100);	/* only the 25-hour day */
	check_shift_dst(2024, 10, 27, 4, 100);
}

static void
test_faults_level_shift_sustained(void **state)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = 90 * 96,
				i;
	Ser			s = daily_series(start, n, false, 8);
	MeSeries	in = view(&s, false);
	MeFaultParams p;
	MeFaultList l;

	for (i = 28 * 96; i < n; i++)
		s.kw[i] *= 2.0;
	series_fault_params_default(&p);
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n != 1)
		dump_faults(&l);
	/*
	 * One episode from the change day to the end: its days are judged
	 * against the level before it, so it never becomes the new normal.
	 */
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_LEVEL_SHIFT);
	assert_int_equal(l.items[0].start_ts, start + 28 * DAY);
	assert_int_equal(l.items[0].end_ts, start + 90 * DAY);
	assert_int_equal(l.items[0].n, 62);
	assert_true(l.items[0].ongoing);
	series_fault_list_free(&l);
	ser_free(&s);
}

/* Shifted days [a, b) of a days-long series by factor; episodes under p. */
static void
shifted(int days, int a, int b, double factor, const MeFaultParams *p, MeFaultList *l)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = (size_t) days * 96;
	Ser			s = daily_series(start, n, false, 13);
	MeSeries	in = view(&s, false);

	for (size_t i = (size_t) a * 96; i < (size_t) b * 96; i++)
		s.kw[i] *= factor;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, p, l), ME_SERIES_OK);
	ser_free(&s);
}

/*
 * A shift that ended is a meter fault when it lasted shift_persist_days
 * (a wrong multiplier, later fixed), else a usage anomaly (a holiday); the
 * days after it are judged against the level before it, not against the
 * anomaly (no rebound episode when the household comes back).
 */
static void
test_faults_level_shift_persist(void **state)
{
	MeFaultParams p;
	MeFaultList l;
	int64_t		start = T(2024, 1, 1, 0, 0);

	series_fault_params_default(&p);
	shifted(70, 28, 48, 0.3, &p, &l);	/* 20 days: persistent */
	if (l.n != 1)
		dump_faults(&l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_LEVEL_SHIFT);
	assert_false(l.items[0].ongoing);
	assert_int_equal(l.items[0].start_ts, start + 28 * DAY);
	assert_int_equal(l.items[0].end_ts, start + 48 * DAY);
	series_fault_list_free(&l);

	shifted(70, 28, 38, 0.3, &p, &l);	/* 10 days away: the household's doing */
	if (l.n != 1)
		dump_faults(&l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_USAGE_ANOMALY);
	assert_int_equal(l.items[0].end_ts, start + 38 * DAY);
	series_fault_list_free(&l);

	p.shift_persist_days = 10;	/* the same 10 days, now long enough */
	shifted(70, 28, 38, 0.3, &p, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_LEVEL_SHIFT);
	series_fault_list_free(&l);

	p.kinds = 1u << ME_FAULT_LEVEL_SHIFT;	/* kinds select what is reported */
	p.shift_persist_days = ME_DEFAULT_SHIFT_PERSIST_DAYS;
	shifted(70, 28, 38, 0.3, &p, &l);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	p.shift_persist_days = 0;
	assert_int_equal(series_detect_faults(&(MeSeries) {0}, 0, DAY, &p, &l), ME_SERIES_EINVAL);
}

/* A change the fleet shares on the same days is no meter's change. */
static void
test_faults_level_shift_fleet(void **state)
{
	MeFaultParams p;
	MeFaultList l;
	MeFleetDay	fleet[70];
	int64_t		day0 = me_floor_div(T(2024, 1, 1, 0, 0) - T(2000, 1, 1, 0, 0), DAY);

	for (int k = 0; k < 70; k++)
	{
		fleet[k].day = day0 + k;
		fleet[k].level = k >= 28 && k < 40 ? 2.5 : 1.0;	/* a cold spell */
	}
	series_fault_params_default(&p);
	p.fleet = fleet;
	p.n_fleet = 70;
	shifted(70, 28, 40, 2.5, &p, &l);	/* this home rose with the fleet */
	if (l.n != 0)
		dump_faults(&l);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);

	/* this one tripled and stayed up while the fleet rose by half for 12 days */
	for (int k = 0; k < 70; k++)
		fleet[k].level = k >= 28 && k < 40 ? 1.5 : 1.0;
	shifted(70, 28, 70, 3.0, &p, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_LEVEL_SHIFT);
	assert_int_equal(l.items[0].start_ts, T(2024, 1, 1, 0, 0) + 28 * DAY);
	assert_true(l.items[0].ongoing);
	/* the evidence: as read it tripled; against its peers a little less */
	assert_true(l.items[0].raw_value > l.items[0].value);
	assert_true(l.items[0].fleet > 1.0);
	series_fault_list_free(&l);

	shifted(70, 0, 0, 1.0, &p, &l);		/* a steady home in a cold spell: a drop? no */
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	p.fleet = NULL;				/* levels promised but not given */
	assert_int_equal(series_detect_faults(&(MeSeries) {0}, 0, DAY, &p, &l), ME_SERIES_EINVAL);
}

/*
 * A new fleet: no history before the data, a shift from day 6 to 14 to
 * the end is found against a baseline of all the days before it.
 */
static void
test_faults_level_shift_short_history(void **state)
{
	static const double factors[] = {0.25, 0.5, 2.0, 4.0};
	int64_t		start = T(2024, 1, 1, 0, 0);
	MeFaultParams p;
	MeFaultList l;

	MeFleetDay	fleet[21];
	int64_t		day0 = me_floor_div(start - T(2000, 1, 1, 0, 0), DAY);

	/* the fleet gives the weekly shape (this home's weekends are its peers') */
	for (int k = 0; k < 21; k++)
	{
		fleet[k].day = day0 + k;
		fleet[k].level = me_dow(start + k * DAY) % 6 == 0 ? 1.25 : 1.0;
	}
	series_fault_params_default(&p);
	p.shift_min_factor = 1.8;
	p.shift_min_rel_change = series_shift_rel_change(1.8);
	p.fleet = fleet;
	p.n_fleet = 21;
	for (int d = 6; d <= 14; d += 4)
		for (int f = 0; f < 4; f++)
		{
			shifted(21, d, 21, factors[f], &p, &l);
			if (l.n != 1)
			{
				print_error("shift x%g from day %d: %zu episodes\n", factors[f], d, l.n);
				dump_faults(&l);
			}
			assert_int_equal(l.n, 1);
			assert_int_equal(l.items[0].kind, ME_FAULT_LEVEL_SHIFT);
			if (l.items[0].start_ts != start + d * DAY)
				print_error("shift x%g from day %d: starts late\n", factors[f], d);
			assert_int_equal(l.items[0].start_ts, start + d * DAY);
			assert_int_equal(l.items[0].end_ts, start + 21 * DAY);
			assert_true(l.items[0].ongoing);
			series_fault_list_free(&l);
		}
	/*
	 * With 4 days before it (fewer than shift_min_recent_days) day 4 cannot
	 * be judged; day 5 can, against a median its first shifted day cannot move.
	 */
	shifted(21, 4, 21, 4.0, &p, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].start_ts, start + 5 * DAY);
	series_fault_list_free(&l);
	shifted(21, 2, 21, 4.0, &p, &l);	/* 2 normal days of 5: the shift is the baseline */
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	/*
	 * Alone, the weekly pattern is in the baseline: a halving that starts on
	 * a Sunday (the shape's weekends are 25 % up) is found from the Monday.
	 */
	p.fleet = NULL;
	p.n_fleet = 0;
	shifted(21, 6, 21, 0.5, &p, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].kind, ME_FAULT_LEVEL_SHIFT);
	assert_int_equal(l.items[0].start_ts, start + 7 * DAY);
	series_fault_list_free(&l);
}

static void
test_faults_offline(void **state)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = 40 * 96,
				g0 = 10 * 96 + 7 * 4,
				i;
	Ser			s = daily_series(start, n, false, 13);
	MeSeries	in = view(&s, true);
	MeFaultParams p;
	MeFaultList l;
	const MeFault *f;
	Rng			r = {77};

	for (i = g0; i < g0 + 30 * 4; i++)	/* 30 h gap */
		s.present[i] = false;
	for (i = 25 * 96; i < 27 * 96; i++)	/* two days, 70% missing */
		s.present[i] = i % 10 >= 7;
	for (i = 0; i < n; i++)		/* plus 5% random dropouts elsewhere */
		if (rng_u(&r) < 0.05)
			s.present[i] = false;
	s.present[g0 - 1] = s.present[g0 + 120] = true;
	series_fault_params_default(&p);
	p.kinds = 1u << ME_FAULT_OFFLINE;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n != 2)
		dump_faults(&l);
	assert_int_equal(l.n, 2);
	f = &l.items[0];
	assert_int_equal(f->start_ts, s.ts[g0]);
	assert_int_equal(f->end_ts, s.ts[g0 + 119] + MIN15);
	assert_true(f->value == 1.0);
	assert_int_equal(f->n, 120);
	assert_float_equal(f->score, 30.0, 1e-9);
	f = &l.items[1];
	/* within an hour of the sparse period (a dropout next to it may join) */
	assert_true(f->start_ts >= s.ts[25 * 96] - HOUR && f->start_ts < s.ts[25 * 96] + HOUR);
	assert_true(f->end_ts <= s.ts[27 * 96] + HOUR && f->end_ts > s.ts[27 * 96] - HOUR);
	assert_true(f->value > 0.6);
	series_fault_list_free(&l);

	/*
	 * Silence still going at the end of the range may be the start of an
	 * outage: 13 h of it is no episode yet (nor sparse data to merge with
	 * a gap before it), 30 h is one.
	 */
	for (i = 0; i < n; i++)
		s.present[i] = i < n - 52 && i != n - 200;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	if (l.n != 0)
		dump_faults(&l);
	assert_int_equal(l.n, 0);
	series_fault_list_free(&l);
	for (i = 0; i < n; i++)
		s.present[i] = i < n - 120;
	assert_int_equal(series_detect_faults(&in, start, start + (int64_t) n * MIN15, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].start_ts, s.ts[n - 120]);
	assert_int_equal(l.items[0].end_ts, start + (int64_t) n * MIN15);
	series_fault_list_free(&l);
	ser_free(&s);
}

/* Level shift from the readings and from per-day sums (stored days) agree. */
static void
check_shift_days_equal(const Ser *s, int64_t from, int64_t to, MeZone *zone)
{
	MeSeries	in = view(s, true);
	MeFaultParams p;
	MeFaultList a,
				b;
	MeDay	   *d1,
			   *d2,
			   *all;
	size_t		n1,
				n2,
				i;
	int64_t		mid = from + (to - from) / 2;

	series_fault_params_default(&p);
	p.kinds = ME_FAULT_SHIFT_KINDS;
	p.zone = zone;
	assert_int_equal(series_detect_faults(&in, from, to, &p, &a), ME_SERIES_OK);
	/* days of two halves, as stored history plus newly read readings */
	assert_int_equal(series_days(&in, from, mid, &p, &d1, &n1), ME_SERIES_OK);
	assert_int_equal(series_days(&in, mid, to, &p, &d2, &n2), ME_SERIES_OK);
	all = calloc(n1 + n2 + 1, sizeof(MeDay));
	memcpy(all, d1, n1 * sizeof(MeDay));
	/* a day cut by mid appears in both halves: add them up */
	for (i = 0; i < n2; i++)
	{
		if (n1 > 0 && d2[i].day == all[n1 - 1].day)
		{
			all[n1 - 1].kw_sum += d2[i].kw_sum;
			all[n1 - 1].n += d2[i].n;
		}
		else
			all[n1++] = d2[i];
	}
	assert_int_equal(series_level_shift_days(all, n1, from, to, &p, &b), ME_SERIES_OK);
	if (a.n != b.n)
	{
		dump_faults(&a);
		dump_faults(&b);
	}
	assert_int_equal(a.n, b.n);
	assert_true(a.n >= 2);		/* both injected shifts are found */
	for (i = 0; i < a.n; i++)
	{
		assert_int_equal(a.items[i].start_ts, b.items[i].start_ts);
		assert_int_equal(a.items[i].end_ts, b.items[i].end_ts);
		assert_int_equal(a.items[i].n, b.items[i].n);
		assert_int_equal(a.items[i].kind, b.items[i].kind);
		assert_float_equal(a.items[i].value, b.items[i].value, 1e-9);
		assert_float_equal(a.items[i].score, b.items[i].score, 1e-6);
	}
	series_fault_list_free(&a);
	series_fault_list_free(&b);
	free(all);
	series_days_free(d1);
	series_days_free(d2);
}

static void
test_faults_level_shift_days(void **state)
{
	int64_t		start = T(2024, 1, 1, 0, 0);
	size_t		n = 60 * 96,
				i;
	Ser			s = daily_series(start, n, false, 31);
	MeZone		zone;
	int64_t		hist0,
				dummy;
	MeDay		bad[2];
	MeFaultParams p;
	MeFaultList l;

	for (i = 30 * 96; i < 36 * 96; i++)
		s.kw[i] *= 2.5;
	for (i = 45 * 96; i < 47 * 96; i++)
		s.kw[i] *= 0.3;
	for (i = 50 * 96; i < 50 * 96 + 30; i++)	/* a thin day is not judged */
		s.present[i] = false;
	check_shift_days_equal(&s, start, start + (int64_t) n * MIN15, NULL);
	ser_free(&s);

	/* local days across both DST changes */
	me_zone_init(&zone, eu_gmtoff, &cet_std);
	assert_int_equal(me_local_to_utc(&zone, T(2024, 2, 20, 0, 0), &hist0, &dummy), ME_LOCAL_OK);
	n = 260 * 96;
	s = daily_series(hist0, n, true, 9);
	for (i = 0; i < n; i++)
		if (s.ts[i] >= T(2024, 3, 31, 0, 0) && s.ts[i] < T(2024, 4, 4, 0, 0))
			s.kw[i] *= 3.0;
	for (i = 0; i < n; i++)
		if (s.ts[i] >= T(2024, 10, 26, 0, 0) && s.ts[i] < T(2024, 10, 29, 0, 0))
			s.kw[i] *= 0.2;
	check_shift_days_equal(&s, hist0, hist0 + (int64_t) n * MIN15, &zone);
	ser_free(&s);

	/* days must ascend; no days, no episodes */
	memset(bad, 0, sizeof(bad));
	bad[0].day = 5;
	bad[1].day = 5;
	bad[0].n = bad[1].n = 1;
	series_fault_params_default(&p);
	assert_int_equal(series_level_shift_days(bad, 2, 0, 10 * DAY, &p, &l), ME_SERIES_EORDER);
	bad[1].day = 6;
	bad[1].kw_sum = NAN;
	assert_int_equal(series_level_shift_days(bad, 2, 0, 10 * DAY, &p, &l), ME_SERIES_ENONFINITE);
	assert_int_equal(series_level_shift_days(NULL, 0, 0, 10 * DAY, &p, &l), ME_SERIES_OK);
	assert_int_equal(l.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_finite),
		cmocka_unit_test(test_check_order_and_entry_points),
		cmocka_unit_test(test_fill_empty),
		cmocka_unit_test(test_fill_single_point),
		cmocka_unit_test(test_fill_all_missing),
		cmocka_unit_test(test_fill_gap_at_limit),
		cmocka_unit_test(test_fill_neighbours_outside_range),
		cmocka_unit_test(test_fill_offgrid),
		cmocka_unit_test(test_fill_like_day_nearest),
		cmocka_unit_test(test_fill_like_day_edges),
		cmocka_unit_test(test_fill_like_day_none),
		cmocka_unit_test(test_fill_like_day_dst),
		cmocka_unit_test(test_orderstat_random),
		cmocka_unit_test(test_outlier_empty_single),
		cmocka_unit_test(test_outlier_short_series),
		cmocka_unit_test(test_outlier_median_ties),
		cmocka_unit_test(test_outlier_constant),
		cmocka_unit_test(test_outlier_missing),
		cmocka_unit_test(test_hampel_vs_naive),
		cmocka_unit_test(test_zscore_vs_naive),
		cmocka_unit_test(test_faults_clean),
		cmocka_unit_test(test_faults_empty),
		cmocka_unit_test(test_faults_stuck_zero),
		cmocka_unit_test(test_faults_pv_nights),
		cmocka_unit_test(test_faults_flatline),
		cmocka_unit_test(test_faults_level_shift),
		cmocka_unit_test(test_faults_level_shift_dst),
		cmocka_unit_test(test_faults_level_shift_sustained),
		cmocka_unit_test(test_faults_level_shift_persist),
		cmocka_unit_test(test_faults_level_shift_fleet),
		cmocka_unit_test(test_faults_level_shift_short_history),
		cmocka_unit_test(test_faults_level_shift_episode_rules),
		cmocka_unit_test(test_faults_offline),
		cmocka_unit_test(test_faults_level_shift_days),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
