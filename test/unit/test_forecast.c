/*
 * test_forecast.c - cmocka tests of the forecasting core (forecast.c)
 *
 * Synthetic hourly and 15-minute series with a known daily + weekly
 * pattern, with and without noise (a fixed-seed splitmix64 generator); a
 * European DST rule (test_helpers.h) for the 23- and 25-hour local days.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/me_time.h"
#include "core/predict/forecast.h"
#include "test_helpers.h"

/* A series with its own index arrays; room for n + h steps. */
typedef struct Ser
{
	double	   *y;
	int32_t    *ds;
	int32_t    *ws;
	size_t		n;
	size_t		h;
	int			m1;
	MeFcSeries	s;
} Ser;

/* splitmix64: a fixed seed gives the same noise on every machine. */
typedef struct Rng
{
	uint64_t	s;
} Rng;

static double
rng_u(Rng *r)
{
	uint64_t	z = (r->s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return (double) ((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static double
rng_n(Rng *r)
{
	double		u = rng_u(r) + 1e-12,
				v = rng_u(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* The pattern: an evening peak every day, more on weekends (dow 0, 6). */
static double
pattern(int ds, int ws, int m1)
{
	double		hour = 24.0 * ds / m1;
	int			dow = ws / m1;
	double		v = 0.3 + 0.8 * exp(-0.5 * pow((hour - 19.0) / 2.0, 2)) +
		0.3 * exp(-0.5 * pow((hour - 8.0) / 1.5, 2));

	return (dow == 0 || dow == 6) ? v * 1.4 + 0.2 : v;
}

/* Regular grid of days starting on a Monday (dow 1), y from pattern + noise. */
static Ser
ser_make(int days, int hdays, int m1, double noise, uint64_t seed)
{
	Ser			r;
	Rng			g = {seed};

	r.m1 = m1;
	r.n = (size_t) days * m1;
	r.h = (size_t) hdays * m1;
	r.y = calloc(r.n + r.h + 1, sizeof(double));
	r.ds = calloc(r.n + r.h + 1, sizeof(int32_t));
	r.ws = calloc(r.n + r.h + 1, sizeof(int32_t));
	for (size_t i = 0; i < r.n + r.h; i++)
	{
		r.ds[i] = (int32_t) (i % m1);
		r.ws[i] = (int32_t) (((1 + i / m1) % 7) * m1 + r.ds[i]);
		r.y[i] = pattern(r.ds[i], r.ws[i], m1) + noise * rng_n(&g);
	}
	r.s = (MeFcSeries) {r.y, r.ds, r.ws, r.n, m1};
	return r;
}

static void
ser_free(Ser *r)
{
	free(r->y);
	free(r->ds);
	free(r->ws);
}

/* Fit and forecast r.h steps after r.n. */
static MeFcPoint *
fit_forecast(Ser *r, MeFcMethod method, MeFcModel *m)
{
	MeFcPoint  *out = calloc(r->h, sizeof(MeFcPoint));

	assert_int_equal(me_fc_fit(&r->s, method, m), ME_FC_OK);
	assert_int_equal(me_fc_forecast(&r->s, m, r->ds + r->n, r->ws + r->n, r->h, out), ME_FC_OK);
	return out;
}

/* ------------------------------------------------------------ tests */

static void
test_constant_and_zero(void **state)
{
	for (int z = 0; z < 2; z++)
	{
		Ser			r = ser_make(21, 1, 24, 0.0, 1);
		MeFcModel	m;
		MeFcPoint  *out;

		for (size_t i = 0; i < r.n; i++)
			r.y[i] = z ? 0.0 : 2.5;
		out = fit_forecast(&r, ME_FC_HW2, &m);
		assert_true(m.weekly);
		assert_true(m.sigma == 0.0);
		for (size_t k = 0; k < r.h; k++)
		{
			assert_true(fabs(out[k].f - (z ? 0.0 : 2.5)) < 1e-12);
			assert_true(out[k].lo95 == out[k].f && out[k].hi95 == out[k].f);
		}
		free(out);
		ser_free(&r);
	}
}

static void
test_too_short_and_daily_only(void **state)
{
	Ser			r = ser_make(4, 1, 24, 0.01, 2);
	MeFcModel	m;
	MeFcPoint  *out;

	r.s.n = 47;					/* under 2 days */
	assert_int_equal(me_fc_fit(&r.s, ME_FC_HW2, &m), ME_FC_TOO_SHORT);
	assert_int_equal(me_fc_fit(&r.s, ME_FC_SNAIVE, &m), ME_FC_TOO_SHORT);
	r.s.n = 0;
	assert_int_equal(me_fc_fit(&r.s, ME_FC_HW2, &m), ME_FC_TOO_SHORT);
	r.s.n = r.n;
	out = fit_forecast(&r, ME_FC_HW2, &m);
	assert_false(m.weekly);
	assert_true(m.omega == 0.0);
	/* Friday after Monday to Thursday: the daily shape holds */
	for (size_t k = 0; k < r.h; k++)
		assert_true(fabs(out[k].f - pattern(r.ds[r.n + k], r.ws[r.n + k], 24)) < 0.1);
	free(out);
	ser_free(&r);
}

static void
test_not_finite_and_bad_index(void **state)
{
	Ser			r = ser_make(14, 1, 24, 0.0, 3);
	MeFcModel	m;
	MeFcPoint	pt;

	r.y[30] = NAN;
	assert_int_equal(me_fc_fit(&r.s, ME_FC_HW2, &m), ME_FC_NOT_FINITE);
	r.y[30] = INFINITY;
	assert_int_equal(me_fc_check(&r.s), ME_FC_NOT_FINITE);
	r.y[30] = 1.0;
	r.ds[40] = 24;
	assert_int_equal(me_fc_check(&r.s), ME_FC_BAD_INDEX);
	r.ds[40] = 16;
	r.ws[41] = -1;
	assert_int_equal(me_fc_check(&r.s), ME_FC_BAD_INDEX);
	r.ws[41] = 17;
	assert_int_equal(me_fc_fit(&r.s, ME_FC_HW2, &m), ME_FC_OK);
	assert_int_equal(me_fc_forecast(&r.s, &m, r.ds + r.n, r.ws + r.n, 0, &pt), ME_FC_BAD_ARG);
	r.s.m1 = 0;
	assert_int_equal(me_fc_check(&r.s), ME_FC_BAD_ARG);
	ser_free(&r);
}

/* A noiseless daily + weekly pattern is forecast exactly, weekend included. */
static void
test_pattern_exact(void **state)
{
	Ser			r = ser_make(21, 7, 24, 0.0, 4);
	MeFcModel	m;
	MeFcPoint  *out = fit_forecast(&r, ME_FC_HW2, &m);

	for (size_t k = 0; k < r.h; k++)
		assert_true(fabs(out[k].f - r.y[r.n + k]) < 1e-9);
	free(out);
	ser_free(&r);
}

/* Same input, same parameters and forecasts, bit for bit. */
static void
test_deterministic(void **state)
{
	Ser			r = ser_make(28, 1, 24, 0.1, 5);
	MeFcModel	m1,
				m2;
	MeFcPoint  *a = fit_forecast(&r, ME_FC_HW2, &m1);
	MeFcPoint  *b = fit_forecast(&r, ME_FC_HW2, &m2);

	assert_memory_equal(&m1, &m2, sizeof(m1));
	assert_memory_equal(a, b, sizeof(MeFcPoint) * r.h);
	assert_true(m1.alpha > 0 && m1.alpha < 1 && m1.delta > 0 && m1.delta < 1);
	assert_true(m1.omega > 0 && m1.omega < 1 && fabs(m1.phi) < 1);
	free(a);
	free(b);
	ser_free(&r);
}

/* A long history is fitted on its last ME_FC_FIT_MAX_DAYS days, from a day start. */
static void
test_fit_window(void **state)
{
	Ser			r = ser_make(120, 1, 24, 0.1, 12);
	MeFcModel	m;
	MeFcPoint  *out;

	r.s.n = r.n = 120 * 24 - 5;	/* ends 5 hours before midnight */
	out = fit_forecast(&r, ME_FC_HW2, &m);
	assert_int_equal(m.n, ME_FC_FIT_MAX_DAYS * 24 - 5);
	assert_true(m.weekly);
	free(out);
	r.s.n = r.n = 60 * 24;
	out = fit_forecast(&r, ME_FC_HW2, &m);
	assert_int_equal(m.n, 60 * 24);
	free(out);
	ser_free(&r);
}

/*
 * The 80 % interval of a noisy series holds about 80 % of what comes:
 * forecasts from 20 origins, a day ahead each, on 15-minute data.
 */
static void
test_interval_coverage(void **state)
{
	Ser			r = ser_make(56, 0, 96, 0.15, 6);
	size_t		in80 = 0,
				in95 = 0,
				tot = 0;

	for (int o = 0; o < 20; o++)
	{
		MeFcSeries	s = r.s;
		MeFcModel	m;
		MeFcPoint	out[96];

		s.n = (size_t) (35 + o) * 96;
		assert_int_equal(me_fc_fit(&s, ME_FC_HW2, &m), ME_FC_OK);
		assert_int_equal(me_fc_forecast(&s, &m, r.ds + s.n, r.ws + s.n, 96, out), ME_FC_OK);
		for (int k = 0; k < 96; k++)
		{
			double		y = r.y[s.n + k];

			assert_true(out[k].lo95 <= out[k].lo80 && out[k].lo80 <= out[k].f);
			assert_true(out[k].f <= out[k].hi80 && out[k].hi80 <= out[k].hi95);
			in80 += y >= out[k].lo80 && y <= out[k].hi80;
			in95 += y >= out[k].lo95 && y <= out[k].hi95;
			tot++;
		}
	}
	print_message("coverage 80 %%: %.3f, 95 %%: %.3f\n", (double) in80 / tot, (double) in95 / tot);
	assert_true((double) in80 / tot > 0.65 && (double) in80 / tot < 0.95);
	assert_true((double) in95 / tot > 0.85);
	ser_free(&r);
}

/* Seasonal naive: last week's value; yesterday's with under a week of history. */
static void
test_snaive(void **state)
{
	Ser			r = ser_make(14, 1, 24, 0.2, 7);
	MeFcModel	m;
	MeFcPoint  *out = fit_forecast(&r, ME_FC_SNAIVE, &m);

	for (size_t k = 0; k < r.h; k++)
		assert_true(out[k].f == r.y[r.n + k - 168]);
	free(out);
	r.s.n = r.n = 3 * 24;
	out = fit_forecast(&r, ME_FC_SNAIVE, &m);
	for (size_t k = 0; k < r.h; k++)
		assert_true(out[k].f == r.y[r.n + k - 24]);
	free(out);
	ser_free(&r);
}

/* Backtest: HW beats seasonal naive on a noisy pattern (MASE < 1). */
static void
test_backtest(void **state)
{
	Ser			r = ser_make(56, 0, 24, 0.1, 8);
	MeFcModel	m;
	MeFcAccuracy hw,
				sn,
				pool = {0};
	double		mae,
				rmse,
				mase,
				mape,
				mase_sn;

	assert_int_equal(me_fc_backtest(&r.s, ME_FC_HW2, 28, &m, &hw), ME_FC_OK);
	assert_int_equal(m.n, 28 * 24);
	assert_int_equal(hw.n, 28 * 24);
	me_fc_accuracy_finish(&hw, &mae, &rmse, &mase, &mape);
	assert_true(mae > 0 && rmse >= mae && mase < 0.9 && mape > 0);
	assert_int_equal(me_fc_backtest(&r.s, ME_FC_SNAIVE, 28, &m, &sn), ME_FC_OK);
	me_fc_accuracy_finish(&sn, &mae, &rmse, &mase_sn, &mape);
	assert_true(mase_sn > 0.8 && mase < mase_sn);
	me_fc_accuracy_add(&pool, &hw);
	me_fc_accuracy_add(&pool, &sn);
	me_fc_accuracy_finish(&pool, &mae, &rmse, &mape, &mape);
	assert_int_equal(pool.n, 2 * 28 * 24);
	/* a history ending 5 hours into a day: that part day is no origin */
	r.s.n -= 19;
	assert_int_equal(me_fc_backtest(&r.s, ME_FC_HW2, 28, &m, &hw), ME_FC_OK);
	assert_int_equal(hw.n, 28 * 24);	/* 28 whole days, the part day left out */
	assert_int_equal(m.n, 27 * 24);
	r.s.n += 19;
	/* too few days before the first origin */
	assert_int_equal(me_fc_backtest(&r.s, ME_FC_HW2, 55, &m, &hw), ME_FC_TOO_SHORT);
	assert_int_equal(me_fc_backtest(&r.s, ME_FC_HW2, 0, &m, &hw), ME_FC_BAD_ARG);
	ser_free(&r);
}

/* A constant series backtests with zero error and an undefined MASE. */
static void
test_backtest_constant(void **state)
{
	Ser			r = ser_make(30, 0, 24, 0.0, 9);
	MeFcModel	m;
	MeFcAccuracy a;
	double		mae,
				rmse,
				mase,
				mape;

	for (size_t i = 0; i < r.n; i++)
		r.y[i] = 0.0;
	assert_int_equal(me_fc_backtest(&r.s, ME_FC_HW2, 7, &m, &a), ME_FC_OK);
	me_fc_accuracy_finish(&a, &mae, &rmse, &mase, &mape);
	assert_true(mae == 0.0 && rmse == 0.0 && isnan(mase) && isnan(mape));
	ser_free(&r);
}

/* Holes take last week's value, else yesterday's, else the previous one. */
static void
test_fill(void **state)
{
	Ser			r = ser_make(15, 0, 24, 0.1, 10);
	bool	   *present = calloc(r.n, sizeof(bool));

	for (size_t i = 0; i < r.n; i++)
		present[i] = true;
	present[0] = present[1] = false;	/* leading: the first present value */
	present[30] = false;		/* day 2: yesterday */
	present[200] = false;		/* day 9: last week */
	r.y[0] = r.y[1] = r.y[30] = r.y[200] = -99;
	assert_int_equal(me_fc_fill(r.y, present, &r.s), ME_FC_OK);
	assert_true(r.y[0] == r.y[2] && r.y[1] == r.y[2]);
	assert_true(r.y[30] == r.y[6]);
	assert_true(r.y[200] == r.y[200 - 168]);
	free(present);
	ser_free(&r);
}

/*
 * DST: hourly UTC readings in Central European time across both changes
 * of 2024.  The 25-hour day repeats the indices of its 02:00 hour, the
 * 23-hour day skips 02:00, and a pattern set by the local hour is forecast
 * by the local hour after each change.
 */
static void
dst_case(int64_t first_utc, int days_before, int days_after, int want_repeats)
{
	int32_t		cet = 3600;
	MeZone		zone;
	size_t		n = (size_t) (days_before + days_after) * 24;
	int64_t    *ts = calloc(n + 2, sizeof(int64_t));
	int32_t    *ds = calloc(n + 2, sizeof(int32_t));
	int32_t    *ws = calloc(n + 2, sizeof(int32_t));
	double	   *y = calloc(n + 2, sizeof(double));
	MeFcSeries	s;
	MeFcModel	m;
	MeFcPoint  *out;
	size_t		hist;
	int			repeats = 0;

	me_zone_init(&zone, eu_gmtoff, &cet);
	for (size_t i = 0; i < n; i++)
		ts[i] = first_utc + (int64_t) i * ME_USECS_PER_HOUR;
	assert_int_equal(me_fc_slots(ts, n, ME_USECS_PER_HOUR, &zone, ds, ws), ME_FC_OK);
	for (size_t i = 0; i < n; i++)
	{
		y[i] = pattern(ds[i], ws[i], 24);
		if (i > 0 && ds[i] == ds[i - 1])
			repeats++;
	}
	/* history up to the local midnight after the change's day */
	hist = (size_t) days_before * 24;
	while (ds[hist] != 0)
		hist++;
	s = (MeFcSeries) {y, ds, ws, hist, 24};
	assert_int_equal(me_fc_fit(&s, ME_FC_HW2, &m), ME_FC_OK);
	out = calloc(n - hist, sizeof(MeFcPoint));
	assert_int_equal(me_fc_forecast(&s, &m, ds + hist, ws + hist, n - hist, out), ME_FC_OK);
	for (size_t k = 0; k < n - hist; k++)
		assert_true(fabs(out[k].f - y[hist + k]) < 1e-6);
	assert_int_equal(repeats, want_repeats);
	free(out);
	free(ts);
	free(ds);
	free(ws);
	free(y);
}

/* Hourly slots from t0 in CET/CEST get the daily indices want[0..n). */
static void
check_slots(int64_t t0, int n, const int32_t *want, int32_t *ws)
{
	int32_t		cet = 3600;
	MeZone		zone;
	int64_t		ts[8];
	int32_t		ds[8];

	me_zone_init(&zone, eu_gmtoff, &cet);
	for (int i = 0; i < n; i++)
		ts[i] = t0 + i * ME_USECS_PER_HOUR;
	assert_int_equal(me_fc_slots(ts, n, ME_USECS_PER_HOUR, &zone, ds, ws), ME_FC_OK);
	for (int i = 0; i < n; i++)
		assert_int_equal(ds[i], want[i]);
}

static void
test_dst_fall_back(void **state)
{
	/* 2024-10-27 local 00, 01, 02 (CEST), 02 (CET), 03: the repeated hour reuses index 2 */
	static const int32_t want[5] = {0, 1, 2, 2, 3};
	int32_t		ws[8];

	check_slots(me_make_ts(2024, 10, 26, 22, 0, 0, 0), 5, want, ws);
	assert_int_equal(ws[2], ws[3]);
	assert_int_equal(ws[0] / 24, 0);	/* a Sunday */
	/* 3 weeks before the change (starting on a local Saturday 00:00) */
	dst_case(me_make_ts(2024, 10, 5, 22, 0, 0, 0), 22, 7, 1);
}

static void
test_dst_spring_forward(void **state)
{
	/* 2024-03-31 local 00:00, 01:00, then 03:00: index 2 never occurs */
	static const int32_t want[3] = {0, 1, 3};
	int32_t		ws[8];

	check_slots(me_make_ts(2024, 3, 30, 23, 0, 0, 0), 3, want, ws);
	dst_case(me_make_ts(2024, 3, 9, 23, 0, 0, 0), 22, 7, 0);
}

/* The bench entry agrees with fit + forecast on the same grid. */
static void
test_grid_entry(void **state)
{
	Ser			r = ser_make(21, 1, 24, 0.1, 11);
	MeFcModel	m;
	MeFcPoint  *a = fit_forecast(&r, ME_FC_HW2, &m);
	MeFcPoint	b[24];

	assert_int_equal(me_fc_fit_forecast_grid(r.y, r.n, 24, 1, ME_FC_HW2, 24, b), ME_FC_OK);
	assert_memory_equal(a, b, sizeof(b));
	assert_int_equal(me_fc_fit_forecast_grid(r.y, r.n, 24, 7, ME_FC_HW2, 24, b), ME_FC_BAD_ARG);
	free(a);
	ser_free(&r);
}

static void
test_method_names(void **state)
{
	MeFcMethod	m;

	assert_true(me_fc_method_parse("hw2", &m) && m == ME_FC_HW2);
	assert_true(me_fc_method_parse("snaive", &m) && m == ME_FC_SNAIVE);
	assert_false(me_fc_method_parse("prophet", &m));
	assert_string_equal(me_fc_method_name(ME_FC_SNAIVE), "snaive");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant_and_zero),
		cmocka_unit_test(test_too_short_and_daily_only),
		cmocka_unit_test(test_not_finite_and_bad_index),
		cmocka_unit_test(test_pattern_exact),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_fit_window),
		cmocka_unit_test(test_interval_coverage),
		cmocka_unit_test(test_snaive),
		cmocka_unit_test(test_backtest),
		cmocka_unit_test(test_backtest_constant),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_dst_fall_back),
		cmocka_unit_test(test_dst_spring_forward),
		cmocka_unit_test(test_grid_entry),
		cmocka_unit_test(test_method_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
