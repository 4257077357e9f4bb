/*
 * test_iforest.c - cmocka unit tests of the isolation forest (iforest.c)
 * and of the day features (dayfeatures.c): outliers score high and in
 * (0, 1], identical points score exactly 0.5, n = 1 and psi = 1 are
 * defined, NaN and infinity are refused, a seed gives the same forest and
 * another seed a different one, points outside the sample can be scored;
 * every day feature against a hand computation, all-zero and constant
 * days, DST day lengths and bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <cmocka.h>

#include "core/predict/dayfeatures.h"
#include "core/predict/iforest.h"

/* A small deterministic generator for test data (not the forest's). */
static double
noise(uint64_t *s)
{
	*s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (double) (*s >> 11) * 0x1.0p-53 - 0.5;
}

/* n points of d features around 0 with unit spread, row-major. */
static double *
cloud(size_t n, size_t d, uint64_t seed)
{
	double	   *x = malloc(sizeof(double) * n * d);

	for (size_t i = 0; i < n * d; i++)
		x[i] = noise(&seed);
	return x;
}

static MeIForest *
fit(const double *x, size_t n, size_t d, int trees, int psi, uint64_t seed)
{
	MeIForestParams p = {trees, psi, seed};
	MeIForest  *f = NULL;

	assert_int_equal(me_iforest_fit(x, n, d, &p, &f, NULL), ME_IFOREST_OK);
	assert_non_null(f);
	return f;
}

static void
test_c_of_n(void **state)
{
	(void) state;
	assert_true(me_iforest_c(0) == 0.0);
	assert_true(me_iforest_c(1) == 0.0);
	assert_true(me_iforest_c(2) == 1.0);
	/* 2 (ln 255 + gamma) - 2 * 255 / 256 */
	assert_float_equal(me_iforest_c(256), 10.244770, 1e-5);
}

/* An outlier scores higher than every inlier, and every score is in (0, 1]. */
static void
test_outlier_ranks_first(void **state)
{
	size_t		n = 500,
				d = 3;
	double	   *x = cloud(n, d, 7);
	double	   *s = malloc(sizeof(double) * n);
	MeIForest  *f;

	(void) state;
	x[0] = 8.0;
	x[1] = -6.0;
	x[2] = 5.0;
	f = fit(x, n, d, 100, 256, 1);
	assert_int_equal(me_iforest_score(f, x, n, d, s, NULL), ME_IFOREST_OK);
	for (size_t i = 0; i < n; i++)
	{
		assert_true(s[i] > 0.0 && s[i] <= 1.0);
		if (i > 0)
			assert_true(s[0] > s[i]);
	}
	assert_true(s[0] > 0.7);
	me_iforest_free(f);
	free(x);
	free(s);
}

/* The depth limit bounds each tree: at most 2^(ceil log2 psi + 1) - 1 nodes. */
static void
test_depth_limit(void **state)
{
	double	   *x = cloud(1000, 2, 3);
	MeIForest  *f = fit(x, 1000, 2, 10, 100, 5);

	(void) state;
	/* psi = 100: depth 7, a full tree of depth 7 has 255 nodes, 100 points give at most 199 */
	assert_true(me_iforest_nodes(f) <= 10 * 199);
	assert_true(me_iforest_nodes(f) >= 10 * 15);
	me_iforest_free(f);
	free(x);
}

/* Identical points: every root is a leaf of psi points, so E[h] = c(psi), score 0.5. */
static void
test_identical_points(void **state)
{
	double		x[40 * 2];
	double		s[40];
	MeIForest  *f;

	(void) state;
	for (int i = 0; i < 80; i++)
		x[i] = 3.25;
	f = fit(x, 40, 2, 20, 256, 9);
	assert_int_equal(me_iforest_nodes(f), 20);
	assert_int_equal(me_iforest_score(f, x, 40, 2, s, NULL), ME_IFOREST_OK);
	for (int i = 0; i < 40; i++)
		assert_float_equal(s[i], 0.5, 1e-12);
	me_iforest_free(f);
}

/* n = 1: psi = 1, c(1) = 0, the neutral 0.5 (scikit-learn's convention). */
static void
test_single_point(void **state)
{
	double		x[3] = {1, 2, 3};
	double		other[3] = {100, -5, 0};
	double		s;
	MeIForest  *f = fit(x, 1, 3, 5, 256, 0);

	(void) state;
	assert_int_equal(me_iforest_score(f, x, 1, 3, &s, NULL), ME_IFOREST_OK);
	assert_float_equal(s, 0.5, 1e-12);
	assert_int_equal(me_iforest_score(f, other, 1, 3, &s, NULL), ME_IFOREST_OK);
	assert_float_equal(s, 0.5, 1e-12);
	me_iforest_free(f);
}

/*
 * Ties and a constant feature: feature 1 is constant and never split on
 * (splits only on feature 0, so the forest ignores feature 1 when scoring);
 * two tied values are separated from the odd one.
 */
static void
test_ties_and_constant_feature(void **state)
{
	double		x[] = {1, 7, 1, 7, 1, 7, 1, 7, 2, 7};
	double		probe[] = {2, -1000};
	double		s[5];
	double		p;
	MeIForest  *f = fit(x, 5, 2, 50, 256, 4);

	(void) state;
	assert_int_equal(me_iforest_score(f, x, 5, 2, s, NULL), ME_IFOREST_OK);
	for (int i = 1; i < 4; i++)
		assert_float_equal(s[i], s[0], 1e-12);	/* tied points, same path */
	assert_true(s[4] > s[0]);
	assert_int_equal(me_iforest_score(f, probe, 1, 2, &p, NULL), ME_IFOREST_OK);
	assert_float_equal(p, s[4], 1e-12);	/* feature 1 was never used */
	me_iforest_free(f);
}

/* The same seed gives the same scores, another seed different ones. */
static void
test_seed(void **state)
{
	size_t		n = 300;
	double	   *x = cloud(n, 4, 11);
	double		a[300],
				b[300],
				c[300];
	MeIForest  *f1 = fit(x, n, 4, 30, 64, 42);
	MeIForest  *f2 = fit(x, n, 4, 30, 64, 42);
	MeIForest  *f3 = fit(x, n, 4, 30, 64, 43);
	int			differ = 0;

	(void) state;
	me_iforest_score(f1, x, n, 4, a, NULL);
	me_iforest_score(f2, x, n, 4, b, NULL);
	me_iforest_score(f3, x, n, 4, c, NULL);
	for (size_t i = 0; i < n; i++)
	{
		assert_true(a[i] == b[i]);
		differ += a[i] != c[i];
	}
	assert_true(differ > (int) n / 2);
	me_iforest_free(f1);
	me_iforest_free(f2);
	me_iforest_free(f3);
	free(x);
}

/* Points outside the training set: a far point scores high, a central one low. */
static void
test_score_unseen_points(void **state)
{
	double	   *x = cloud(400, 2, 21);
	double		probe[] = {0.0, 0.0, 20.0, 20.0};
	double		s[2];
	MeIForest  *f = fit(x, 400, 2, 100, 256, 2);

	(void) state;
	assert_int_equal(me_iforest_score(f, probe, 2, 2, s, NULL), ME_IFOREST_OK);
	assert_true(s[0] < 0.5);
	assert_true(s[1] > 0.65);
	/* a probe beyond every threshold isolates at the shortest paths */
	assert_true(me_iforest_path_length(f, probe + 2) < me_iforest_path_length(f, probe));
	assert_int_equal(me_iforest_score(f, probe, 1, 3, s, NULL), ME_IFOREST_BAD_FEATURES);
	me_iforest_free(f);
	free(x);
}

/* Refusals: no points, NaN and infinity (with their index), bad sizes. */
static void
test_refusals(void **state)
{
	double		x[6] = {1, 2, 3, 4, 5, 6};
	double		s[3];
	MeIForestParams p;
	MeIForest  *f = NULL;
	size_t		bad = 99;

	(void) state;
	me_iforest_params_default(&p);
	assert_int_equal(p.n_trees, 100);
	assert_int_equal(p.sample_size, 256);
	assert_int_equal(me_iforest_fit(x, 0, 2, &p, &f, NULL), ME_IFOREST_EMPTY);
	assert_int_equal(me_iforest_fit(x, 3, 0, &p, &f, NULL), ME_IFOREST_EMPTY);
	x[4] = NAN;
	assert_int_equal(me_iforest_fit(x, 3, 2, &p, &f, &bad), ME_IFOREST_NONFINITE);
	assert_int_equal(bad, 4);
	x[4] = INFINITY;
	assert_int_equal(me_iforest_fit(x, 3, 2, &p, &f, &bad), ME_IFOREST_NONFINITE);
	assert_null(f);
	x[4] = 5;
	p.n_trees = 0;
	assert_int_equal(me_iforest_fit(x, 3, 2, &p, &f, NULL), ME_IFOREST_BAD_TREES);
	p.n_trees = ME_IFOREST_MAX_TREES + 1;
	assert_int_equal(me_iforest_fit(x, 3, 2, &p, &f, NULL), ME_IFOREST_BAD_TREES);
	p.n_trees = 10;
	p.sample_size = 0;
	assert_int_equal(me_iforest_fit(x, 3, 2, &p, &f, NULL), ME_IFOREST_BAD_SAMPLE);
	p.sample_size = 2;
	assert_int_equal(me_iforest_fit(x, 3, 2, &p, &f, NULL), ME_IFOREST_OK);
	x[1] = -INFINITY;
	assert_int_equal(me_iforest_score(f, x, 3, 2, s, &bad), ME_IFOREST_NONFINITE);
	assert_int_equal(bad, 1);
	assert_string_equal(me_iforest_strerror(ME_IFOREST_NONFINITE),
						"a feature value is not a finite number");
	me_iforest_free(f);
}

/* ---------------------------------------------------------------- day features */

static double flat_shape[ME_HOURS_PER_WEEK];
static double own_means[ME_HOURS_PER_WEEK];

static void
set_profiles(double own)
{
	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
	{
		flat_shape[h] = 1.0;
		own_means[h] = own;
	}
}

/* A day of 24 hourly readings, hour i = i. */
static MeDayInput
hourly_day(const double *kw, uint8_t *hours)
{
	MeDayInput	in = {kw, hours, 24, 1, 24.0, own_means, 1.0, flat_shape};

	for (int i = 0; i < 24; i++)
		hours[i] = (uint8_t) i;
	return in;
}

/* A hand-computed day: 1 kW at night, 2 kW by day, one 8 kW hour. */
static void
test_features_by_hand(void **state)
{
	double		kw[24];
	uint8_t		hours[24];
	double		f[ME_DAYF_N];
	MeDayInput	in;
	double		mean;

	(void) state;
	for (int i = 0; i < 24; i++)
		kw[i] = i < 6 ? 1.0 : 2.0;
	kw[18] = 8.0;
	kw[3] = 0.0;
	set_profiles(2.0);
	in = hourly_day(kw, hours);
	in.own_level = 2.0;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_OK);
	mean = (5 * 1.0 + 17 * 2.0 + 8.0) / 24.0;
	assert_float_equal(f[ME_DAYF_ENERGY_KWH], 47.0, 1e-12);
	assert_float_equal(f[ME_DAYF_PEAK_MEAN], 8.0 / mean, 1e-12);
	assert_float_equal(f[ME_DAYF_NIGHT_DAY], (5.0 / 6.0) / (42.0 / 18.0), 1e-12);
	assert_float_equal(f[ME_DAYF_ZERO_SHARE], 1.0 / 24.0, 1e-12);
	assert_float_equal(f[ME_DAYF_MAX_STEP_KW], 6.0, 1e-12);
	/* own: residuals -1 x5, -2 x1, 0 x17, 6 x1 against a level of 2 */
	assert_float_equal(f[ME_DAYF_OWN_RESID], sqrt((5.0 + 4.0 + 36.0) / 24.0) / 2.0, 1e-12);
	/* peer: the day's shape kw / mean against a flat shape of 1 */
	{
		double		ss = 0.0;

		for (int i = 0; i < 24; i++)
			ss += (kw[i] / mean - 1.0) * (kw[i] / mean - 1.0);
		assert_float_equal(f[ME_DAYF_PEER_RESID], sqrt(ss / 24.0), 1e-12);
	}
	assert_string_equal(me_dayf_names[ME_DAYF_PEER_RESID], "peer_resid");
}

/* A constant day matches a flat peer shape exactly; an all-zero day is defined. */
static void
test_constant_and_zero_days(void **state)
{
	double		kw[24];
	uint8_t		hours[24];
	double		f[ME_DAYF_N];
	MeDayInput	in;

	(void) state;
	set_profiles(1.5);
	for (int i = 0; i < 24; i++)
		kw[i] = 1.5;
	in = hourly_day(kw, hours);
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_OK);
	assert_float_equal(f[ME_DAYF_PEAK_MEAN], 1.0, 1e-12);
	assert_float_equal(f[ME_DAYF_NIGHT_DAY], 1.0, 1e-12);
	assert_float_equal(f[ME_DAYF_MAX_STEP_KW], 0.0, 1e-12);
	assert_float_equal(f[ME_DAYF_PEER_RESID], 0.0, 1e-12);
	for (int i = 0; i < 24; i++)
		kw[i] = 0.0;
	in.own_level = 0.0;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_OK);
	assert_float_equal(f[ME_DAYF_ENERGY_KWH], 0.0, 1e-12);
	assert_float_equal(f[ME_DAYF_PEAK_MEAN], 0.0, 1e-12);
	assert_float_equal(f[ME_DAYF_NIGHT_DAY], 0.0, 1e-12);
	assert_float_equal(f[ME_DAYF_ZERO_SHARE], 1.0, 1e-12);
	assert_float_equal(f[ME_DAYF_OWN_RESID], 0.0, 1e-12);
	/* the zero shape against a flat shape of 1 */
	assert_float_equal(f[ME_DAYF_PEER_RESID], 1.0, 1e-12);
	for (int i = 0; i < ME_DAYF_N; i++)
		assert_true(isfinite(f[i]));
	/* consumption only at night: the ratio is capped, not infinite */
	kw[2] = 1.0;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_OK);
	assert_float_equal(f[ME_DAYF_NIGHT_DAY], ME_DAYF_RATIO_CAP, 1e-12);
}

/* DST days: energy scales with the local day's length; repeated hours are fine. */
static void
test_dst_days(void **state)
{
	double		kw[25];
	uint8_t		hours[25];
	double		f[ME_DAYF_N];
	MeDayInput	in = {kw, hours, 25, 0, 25.0, own_means, 1.0, flat_shape};

	(void) state;
	set_profiles(1.0);
	for (int i = 0; i < 25; i++)
	{
		kw[i] = 1.0;
		hours[i] = (uint8_t) (i <= 2 ? i : i - 1);	/* 02:00 twice (fall back) */
	}
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_OK);
	assert_float_equal(f[ME_DAYF_ENERGY_KWH], 25.0, 1e-12);
	in.n = 23;
	in.day_hours = 23.0;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_OK);
	assert_float_equal(f[ME_DAYF_ENERGY_KWH], 23.0, 1e-12);
}

/* Profiles: means per hour of week, the shape normalised, empty and zero profiles flat. */
static void
test_profiles(void **state)
{
	MeHowProfile p;
	double		means[ME_HOURS_PER_WEEK];
	double		shape[ME_HOURS_PER_WEEK];

	(void) state;
	me_how_profile_init(&p);
	assert_int_equal(me_how_profile_shape(&p, shape), 0);
	assert_float_equal(shape[5], 1.0, 1e-12);
	me_how_profile_add(&p, 5, 0.0);
	assert_int_equal(me_how_profile_shape(&p, shape), 0);
	me_how_profile_add(&p, 10, 2.0);
	me_how_profile_add(&p, 10, 4.0);
	me_how_profile_add(&p, 200, 99.0);	/* out of range: ignored */
	assert_float_equal(me_how_profile_means(&p, means), 2.0, 1e-12);
	assert_float_equal(means[10], 3.0, 1e-12);
	assert_float_equal(means[11], 2.0, 1e-12);	/* no reading: the overall mean */
	assert_int_equal(me_how_profile_shape(&p, shape), 1);
	/* hour means 0 and 3, mean 1.5 */
	assert_float_equal(shape[10], 2.0, 1e-12);
	assert_float_equal(shape[5], 0.0, 1e-12);
	assert_float_equal(shape[11], 1.0, 1e-12);
}

static void
test_feature_refusals(void **state)
{
	double		kw[24] = {0};
	uint8_t		hours[24];
	double		f[ME_DAYF_N];
	MeDayInput	in;
	size_t		bad = 0;

	(void) state;
	set_profiles(1.0);
	in = hourly_day(kw, hours);
	in.n = 0;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_EMPTY);
	in.n = 24;
	kw[7] = NAN;
	assert_int_equal(me_day_features(&in, f, &bad), ME_DAYF_NONFINITE);
	assert_int_equal(bad, 7);
	kw[7] = 0;
	hours[3] = 24;
	assert_int_equal(me_day_features(&in, f, &bad), ME_DAYF_BAD_HOUR);
	hours[3] = 3;
	in.dow = 7;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_BAD_HOUR);
	in.dow = 0;
	in.day_hours = 0.0;
	assert_int_equal(me_day_features(&in, f, NULL), ME_DAYF_BAD_LENGTH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_c_of_n),
		cmocka_unit_test(test_outlier_ranks_first),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_identical_points),
		cmocka_unit_test(test_single_point),
		cmocka_unit_test(test_ties_and_constant_feature),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_score_unseen_points),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_features_by_hand),
		cmocka_unit_test(test_constant_and_zero_days),
		cmocka_unit_test(test_dst_days),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_feature_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
