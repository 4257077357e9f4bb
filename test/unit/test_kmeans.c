/*
 * test_kmeans.c - cmocka unit tests of the segmentation cores: k-means
 * (kmeans.c: refusals, identical points, ties, k = n, k = 1, fixed seeds,
 * blobs recovered, restarts never worse than one run, inertia and
 * distances consistent with the labels) and the load profiles
 * (loadprofile.c: constant, all-zero, scale-free shapes, gaps, a missing
 * day type, local slots and weekends, exporting meters).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/me_time.h"
#include "core/predict/kmeans.h"
#include "core/predict/loadprofile.h"

/* A tiny deterministic generator for test data (not the core's). */
static double
test_unif(uint64_t *s)
{
	*s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (double) (*s >> 11) * 0x1.0p-53;
}

/* n points of 1 dimension. */
static MeKmStatus
km1(const double *x, size_t n, int k, uint64_t seed, MeKmResult *r)
{
	MeKmParams	p;

	me_kmeans_defaults(&p, k);
	p.seed = seed;
	return me_kmeans(x, n, 1, &p, r);
}

/* The result's inertia and distances agree with its labels and centroids. */
static void
assert_consistent(const double *x, size_t n, size_t d, int k, const MeKmResult *r)
{
	double		sum = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		own = 0.0;

		assert_in_range(r->labels[i], 0, k - 1);
		for (size_t c = 0; c < d; c++)
		{
			double		t = x[i * d + c] - r->centroids[(size_t) r->labels[i] * d + c];

			own += t * t;
		}
		/* nearest centroid: no other is strictly closer */
		for (int j = 0; j < k; j++)
		{
			double		dd = 0.0;

			for (size_t c = 0; c < d; c++)
			{
				double		t = x[i * d + c] - r->centroids[(size_t) j * d + c];

				dd += t * t;
			}
			assert_true(dd >= own - 1e-9);
		}
		assert_true(fabs(r->distance[i] - sqrt(own)) < 1e-9);
		sum += own;
	}
	assert_true(fabs(sum - r->inertia) <= 1e-9 * (1.0 + sum));
}

/* Converged to a fixed point: every centroid of a non-empty cluster is the mean of its points. */
static void
assert_fixed_point(const double *x, size_t n, size_t d, int k, const MeKmResult *r)
{
	for (int j = 0; j < k; j++)
		for (size_t c = 0; c < d; c++)
		{
			double		s = 0.0;
			size_t		m = 0;

			for (size_t i = 0; i < n; i++)
				if (r->labels[i] == j)
				{
					s += x[i * d + c];
					m++;
				}
			if (m > 0)
				assert_true(fabs(s / m - r->centroids[(size_t) j * d + c]) < 1e-9);
		}
}

static void
test_refusals(void **state)
{
	double		x[4] = {1, 2, 3, 4};
	double		bad[4] = {1, NAN, 3, 4};
	double		inf[4] = {1, 2, INFINITY, 4};
	MeKmParams	p;
	MeKmResult	r;

	assert_int_equal(km1(x, 4, 0, 0, &r), ME_KM_BAD_K);
	assert_int_equal(km1(x, 4, 5, 0, &r), ME_KM_BAD_K);
	assert_int_equal(km1(x, 0, 1, 0, &r), ME_KM_BAD_K);
	assert_int_equal(km1(bad, 4, 2, 0, &r), ME_KM_NOT_FINITE);
	assert_int_equal(km1(inf, 4, 2, 0, &r), ME_KM_NOT_FINITE);
	me_kmeans_defaults(&p, 2);
	assert_int_equal(me_kmeans(x, 4, 0, &p, &r), ME_KM_BAD_DIM);
	p.restarts = 0;
	assert_int_equal(me_kmeans(x, 4, 1, &p, &r), ME_KM_BAD_PARAM);
	me_kmeans_defaults(&p, 2);
	p.max_iter = 0;
	assert_int_equal(me_kmeans(x, 4, 1, &p, &r), ME_KM_BAD_PARAM);
	me_kmeans_defaults(&p, 2);
	p.tol = -1;
	assert_int_equal(me_kmeans(x, 4, 1, &p, &r), ME_KM_BAD_PARAM);
	p.tol = NAN;
	assert_int_equal(me_kmeans(x, 4, 1, &p, &r), ME_KM_BAD_PARAM);
	assert_null(r.labels);
	assert_string_equal(me_kmeans_status_text(ME_KM_BAD_K),
						"k must be between 1 and the number of points");
}

/* All points equal: inertia 0, every point in the first cluster. */
static void
test_identical_points(void **state)
{
	double		x[30];
	MeKmParams	p;
	MeKmResult	r;

	for (int i = 0; i < 30; i++)
		x[i] = (i % 3) + 0.5;	/* 10 copies of (0.5, 1.5, 2.5) */
	me_kmeans_defaults(&p, 3);
	assert_int_equal(me_kmeans(x, 10, 3, &p, &r), ME_KM_OK);
	assert_true(r.inertia == 0.0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(r.labels[i], 0);
	for (int j = 0; j < 3; j++)
		assert_true(r.centroids[j * 3 + 1] == 1.5);
	me_kmeans_result_free(&r);
}

/* k = n distinct points: each its own cluster, inertia 0. */
static void
test_k_equals_n(void **state)
{
	double		x[12];
	bool		seen[6] = {false};
	MeKmParams	p;
	MeKmResult	r;

	for (int i = 0; i < 12; i++)
		x[i] = (double) (i * i % 7) + i;
	me_kmeans_defaults(&p, 6);
	assert_int_equal(me_kmeans(x, 6, 2, &p, &r), ME_KM_OK);
	assert_true(r.inertia == 0.0);
	for (int i = 0; i < 6; i++)
	{
		assert_false(seen[r.labels[i]]);
		seen[r.labels[i]] = true;
	}
	me_kmeans_result_free(&r);
}

/* k = 1: the centroid is the mean, the inertia the total sum of squares. */
static void
test_one_cluster(void **state)
{
	double		x[5] = {1, 2, 3, 4, 10};
	MeKmResult	r;

	assert_int_equal(km1(x, 5, 1, 7, &r), ME_KM_OK);
	assert_true(fabs(r.centroids[0] - 4.0) < 1e-12);
	assert_true(fabs(r.inertia - (9 + 4 + 1 + 0 + 36)) < 1e-12);
	assert_int_equal(r.iterations, 1);
	me_kmeans_result_free(&r);
}

/*
 * Ties: {0, 2, 4} in two clusters has two optimal partitions (inertia 2);
 * the answer is one of them and the same on every call with the seed.
 */
static void
test_ties_deterministic(void **state)
{
	double		x[3] = {0, 2, 4};
	MeKmResult	a,
				b;

	for (uint64_t seed = 0; seed < 20; seed++)
	{
		assert_int_equal(km1(x, 3, 2, seed, &a), ME_KM_OK);
		assert_int_equal(km1(x, 3, 2, seed, &b), ME_KM_OK);
		assert_true(fabs(a.inertia - 2.0) < 1e-12);
		assert_memory_equal(a.labels, b.labels, sizeof(int) * 3);
		assert_memory_equal(a.centroids, b.centroids, sizeof(double) * 2);
		/* the middle point joins one side: the ends are apart */
		assert_int_not_equal(a.labels[0], a.labels[2]);
		me_kmeans_result_free(&a);
		me_kmeans_result_free(&b);
	}
}

/* 3 blobs of per points in d dimensions, 100 apart, noise within 0.5. */
static double *
blobs(size_t per, size_t d, uint64_t seed)
{
	double	   *x = malloc(sizeof(double) * 3 * per * d);
	uint64_t	s = seed;

	for (size_t b = 0; b < 3; b++)
		for (size_t i = 0; i < per; i++)
			for (size_t c = 0; c < d; c++)
				x[(b * per + i) * d + c] = (c == b ? 100.0 : 0.0) + test_unif(&s) - 0.5;
	return x;
}

/* Well separated blobs come back as the three clusters, whatever the seed. */
static void
test_blobs_recovered(void **state)
{
	size_t		per = 20,
				d = 5;
	double	   *x = blobs(per, d, 42);

	for (uint64_t seed = 0; seed < 10; seed++)
	{
		MeKmParams	p;
		MeKmResult	r;

		me_kmeans_defaults(&p, 3);
		p.seed = seed;
		assert_int_equal(me_kmeans(x, 3 * per, d, &p, &r), ME_KM_OK);
		for (size_t b = 0; b < 3; b++)
			for (size_t i = 1; i < per; i++)
				assert_int_equal(r.labels[b * per + i], r.labels[b * per]);
		assert_int_not_equal(r.labels[0], r.labels[per]);
		assert_int_not_equal(r.labels[0], r.labels[2 * per]);
		assert_int_not_equal(r.labels[per], r.labels[2 * per]);
		assert_true(r.inertia < 3 * per * d * 0.25);
		assert_consistent(x, 3 * per, d, 3, &r);
		assert_fixed_point(x, 3 * per, d, 3, &r);
		me_kmeans_result_free(&r);
	}
	free(x);
}

/* Same seed, same everything; the result is consistent with its labels. */
static void
test_fixed_seed_identical(void **state)
{
	size_t		n = 200,
				d = 4;
	double	   *x = malloc(sizeof(double) * n * d);
	uint64_t	s = 9;
	MeKmParams	p;
	MeKmResult	a,
				b;

	for (size_t i = 0; i < n * d; i++)
		x[i] = test_unif(&s);
	me_kmeans_defaults(&p, 5);
	p.seed = 12345;
	assert_int_equal(me_kmeans(x, n, d, &p, &a), ME_KM_OK);
	assert_int_equal(me_kmeans(x, n, d, &p, &b), ME_KM_OK);
	assert_memory_equal(a.labels, b.labels, sizeof(int) * n);
	assert_memory_equal(a.centroids, b.centroids, sizeof(double) * 5 * d);
	assert_true(a.inertia == b.inertia);
	assert_int_equal(a.iterations, b.iterations);
	assert_int_equal(a.best_restart, b.best_restart);
	assert_consistent(x, n, d, 5, &a);
	/* tol 0: Lloyd runs until no label changes, a fixed point */
	me_kmeans_result_free(&b);
	p.tol = 0.0;
	assert_int_equal(me_kmeans(x, n, d, &p, &b), ME_KM_OK);
	assert_consistent(x, n, d, 5, &b);
	assert_fixed_point(x, n, d, 5, &b);
	me_kmeans_result_free(&a);
	me_kmeans_result_free(&b);
	free(x);
}

/*
 * Restarts never lose: the first of ten runs is the one run of restarts = 1
 * (same stream), and the best of ten is kept.  On uniform noise the runs
 * differ, so over 10 seeds at least one restart must actually help.
 */
static void
test_restarts_never_worse(void **state)
{
	size_t		n = 300,
				d = 3;
	double	   *x = malloc(sizeof(double) * n * d);
	uint64_t	s = 5;
	int			helped = 0;

	for (size_t i = 0; i < n * d; i++)
		x[i] = test_unif(&s);
	for (uint64_t seed = 0; seed < 10; seed++)
	{
		MeKmParams	p;
		MeKmResult	one,
					ten;

		me_kmeans_defaults(&p, 8);
		p.seed = seed;
		p.restarts = 1;
		assert_int_equal(me_kmeans(x, n, d, &p, &one), ME_KM_OK);
		p.restarts = 10;
		assert_int_equal(me_kmeans(x, n, d, &p, &ten), ME_KM_OK);
		assert_true(ten.inertia <= one.inertia);
		if (ten.inertia < one.inertia)
		{
			helped++;
			assert_true(ten.best_restart > 0);
		}
		me_kmeans_result_free(&one);
		me_kmeans_result_free(&ten);
	}
	assert_true(helped > 0);
	free(x);
}

/* An empty cluster is re-seeded: 2 distinct values, many copies, k = 2. */
static void
test_duplicates_two_values(void **state)
{
	double		x[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 5};
	MeKmResult	r;

	for (uint64_t seed = 0; seed < 10; seed++)
	{
		assert_int_equal(km1(x, 10, 2, seed, &r), ME_KM_OK);
		assert_true(r.inertia == 0.0);
		assert_int_not_equal(r.labels[0], r.labels[9]);
		me_kmeans_result_free(&r);
	}
}

/* Renumbered by size: the biggest cluster is 0, centroids move with labels. */
static void
test_order_by_size(void **state)
{
	double		x[6] = {10, 0, 0.2, 10.2, 0.4, 20};
	MeKmResult	r;

	assert_int_equal(km1(x, 6, 3, 3, &r), ME_KM_OK);
	assert_true(me_kmeans_order_by_size(&r, 6, 1, 3));
	/* {0, 0.2, 0.4} x 3, then {10, 10.2} (first point 0), then {20} */
	assert_int_equal(r.labels[1], 0);
	assert_int_equal(r.labels[2], 0);
	assert_int_equal(r.labels[4], 0);
	assert_int_equal(r.labels[0], 1);
	assert_int_equal(r.labels[3], 1);
	assert_int_equal(r.labels[5], 2);
	assert_true(fabs(r.centroids[0] - 0.2) < 1e-12);
	assert_true(fabs(r.centroids[1] - 10.1) < 1e-12);
	assert_true(r.centroids[2] == 20.0);
	assert_consistent(x, 6, 1, 3, &r);
	me_kmeans_result_free(&r);
}

static int	interrupt_calls;

static void
count_interrupts(void *ctx)
{
	interrupt_calls++;
}

/* The interrupt hook runs during the iterations. */
static void
test_interrupt_hook(void **state)
{
	double		x[6] = {0, 1, 2, 10, 11, 12};
	MeKmParams	p;
	MeKmResult	r;

	me_kmeans_defaults(&p, 2);
	p.check_interrupts = count_interrupts;
	interrupt_calls = 0;
	assert_int_equal(me_kmeans(x, 6, 1, &p, &r), ME_KM_OK);
	assert_true(interrupt_calls >= p.restarts);
	assert_true(fabs(r.inertia - 4.0) < 1e-12);
	me_kmeans_result_free(&r);
}

/* ------------------------------------------------------------ profiles */

static void
test_lp_slots(void **state)
{
	MeLoadProfile lp;

	assert_int_equal(me_lp_slots_per_day(15 * ME_USECS_PER_MIN), 96);
	assert_int_equal(me_lp_slots_per_day(30 * ME_USECS_PER_MIN), 48);
	assert_int_equal(me_lp_slots_per_day(7 * ME_USECS_PER_MIN), 0);
	assert_int_equal(me_lp_slots_per_day(0), 0);
	assert_int_equal(me_lp_init(&lp, 0), ME_LP_BAD_SLOTS);
	assert_int_equal(me_lp_init(&lp, 4), ME_LP_OK);
	assert_int_equal(me_lp_add(&lp, 1.0, 4, false), ME_LP_BAD_SLOTS);
	assert_int_equal(me_lp_add(&lp, 1.0, -1, false), ME_LP_BAD_SLOTS);
	assert_int_equal(me_lp_add(&lp, NAN, 0, false), ME_LP_NOT_FINITE);
	me_lp_free(&lp);
}

/* Constant and all-zero meters: flat profiles; only zero is flagged. */
static void
test_lp_constant_and_zero(void **state)
{
	MeLoadProfile lp;
	double		out[8];
	unsigned	flags;

	assert_int_equal(me_lp_init(&lp, 4), ME_LP_OK);
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_EMPTY);
	for (int s = 0; s < 4; s++)
	{
		me_lp_add(&lp, 2.5, s, false);
		me_lp_add(&lp, 2.5, s, true);
	}
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_OK);
	assert_int_equal(flags, 0);
	for (int j = 0; j < 8; j++)
		assert_true(fabs(out[j] - 1.0) < 1e-12);
	me_lp_reset(&lp);
	for (int s = 0; s < 4; s++)
	{
		me_lp_add(&lp, 0.0, s, false);
		me_lp_add(&lp, 0.0, s, true);
	}
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_OK);
	assert_int_equal(flags, ME_LP_ZERO);
	for (int j = 0; j < 8; j++)
		assert_true(out[j] == 1.0);
	me_lp_free(&lp);
}

/* Shape, not size: ten times the load gives the same profile; means are per slot. */
static void
test_lp_scale_free(void **state)
{
	MeLoadProfile a,
				b;
	double		pa[8],
				pb[8];
	unsigned	fa,
				fb;
	const double day[4] = {1, 1, 3, 3};

	me_lp_init(&a, 4);
	me_lp_init(&b, 4);
	for (int rep = 0; rep < 3; rep++)
		for (int s = 0; s < 4; s++)
		{
			/* weekday readings vary around the slot mean: 0.5 x and 1.5 x */
			me_lp_add(&a, day[s] * (rep == 0 ? 0.5 : rep == 1 ? 1.5 : 1.0), s, false);
			me_lp_add(&a, 1.0 + s, s, true);
			me_lp_add(&b, 10 * day[s] * (rep == 0 ? 0.5 : rep == 1 ? 1.5 : 1.0), s, false);
			me_lp_add(&b, 10 * (1.0 + s), s, true);
		}
	assert_int_equal(me_lp_finish(&a, pa, &fa), ME_LP_OK);
	assert_int_equal(me_lp_finish(&b, pb, &fb), ME_LP_OK);
	for (int j = 0; j < 8; j++)
		assert_true(fabs(pa[j] - pb[j]) < 1e-12);
	/* weekday mean 2: 0.5, 0.5, 1.5, 1.5; weekend mean 2.5: 0.4 .. 1.6 */
	assert_true(fabs(pa[0] - 0.5) < 1e-12 && fabs(pa[3] - 1.5) < 1e-12);
	assert_true(fabs(pa[4] - 0.4) < 1e-12 && fabs(pa[7] - 1.6) < 1e-12);
	me_lp_free(&a);
	me_lp_free(&b);
}

/* Missing slots interpolated around midnight; a missing day type copied. */
static void
test_lp_gaps_and_missing_day_type(void **state)
{
	MeLoadProfile lp;
	double		out[8];
	unsigned	flags;

	me_lp_init(&lp, 4);
	me_lp_add(&lp, 1.0, 0, false);
	me_lp_add(&lp, 3.0, 2, false);
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_OK);
	assert_int_equal(flags, ME_LP_GAPS | ME_LP_NO_WEEKEND);
	/* slots 1 and 3 midway: 1, 2, 3, 2 (mean 2) */
	assert_true(fabs(out[0] - 0.5) < 1e-12 && fabs(out[1] - 1.0) < 1e-12);
	assert_true(fabs(out[2] - 1.5) < 1e-12 && fabs(out[3] - 1.0) < 1e-12);
	assert_memory_equal(out, out + 4, sizeof(double) * 4);
	me_lp_reset(&lp);
	me_lp_add(&lp, 2.0, 1, true);
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_OK);
	assert_int_equal(flags, ME_LP_GAPS | ME_LP_NO_WEEKDAY);
	for (int j = 0; j < 8; j++)
		assert_true(fabs(out[j] - 1.0) < 1e-12);
	me_lp_free(&lp);
}

/* Exporting meters keep their sign: midday below zero. */
static void
test_lp_export_sign(void **state)
{
	MeLoadProfile lp;
	double		out[8];
	unsigned	flags;
	const double day[4] = {1, -1, -1, 1};

	me_lp_init(&lp, 4);
	for (int s = 0; s < 4; s++)
	{
		me_lp_add(&lp, day[s], s, false);
		me_lp_add(&lp, day[s], s, true);
	}
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_OK);
	assert_int_equal(flags, 0);
	assert_true(out[1] == -1.0 && out[0] == 1.0);
	me_lp_free(&lp);
}

/* Local slots and weekends from UTC timestamps in a fixed-offset zone. */
static void
test_lp_local_slots(void **state)
{
	MeLoadProfile lp;
	MeZone		zone;
	/* Friday 2024-01-05 23:30 UTC = Saturday 00:30 at UTC+1 */
	int64_t		ts[2] = {me_make_ts(2024, 1, 5, 23, 30, 0, 0), me_make_ts(2024, 1, 5, 10, 0, 0, 0)};
	double		kw[2] = {4.0, 2.0};

	me_zone_init_fixed(&zone, 3600);
	me_lp_init(&lp, 48);
	assert_int_equal(me_lp_add_series(&lp, &zone, ts, kw, 2), ME_LP_OK);
	assert_int_equal(lp.count[48 + 1], 1);	/* weekend, slot 00:30 */
	assert_true(lp.sum[48 + 1] == 4.0);
	assert_int_equal(lp.count[22], 1);	/* weekday, 11:00 local */
	me_lp_reset(&lp);
	assert_int_equal(me_lp_add_series(&lp, NULL, ts, kw, 2), ME_LP_OK);
	assert_int_equal(lp.count[47], 1);	/* Friday 23:30 UTC */
	assert_int_equal(lp.count[20], 1);
	kw[1] = NAN;
	assert_int_equal(me_lp_add_series(&lp, NULL, ts, kw, 2), ME_LP_NOT_FINITE);
	me_lp_free(&lp);
}

/* Europe/London in 2024: BST (+1 h) from 31 March to 27 October, 01:00 UTC. */
static int32_t
london_2024(void *ctx, int64_t unix_secs)
{
	int64_t		pg = unix_secs * ME_USECS_PER_SEC - ME_UNIX_TO_PG_USECS;

	return pg >= me_make_ts(2024, 3, 31, 1, 0, 0, 0) && pg < me_make_ts(2024, 10, 27, 1, 0, 0, 0) ? 3600 : 0;
}

/*
 * DST days by the wall clock: the 25-hour Sunday puts the repeated hour's
 * readings twice into its slots (averaged), the 23-hour Sunday has no
 * reading for the skipped hour (interpolated).
 */
static void
test_lp_dst_days(void **state)
{
	MeLoadProfile lp;
	MeZone		zone;
	int64_t		ts[100];
	double		kw[100],
				out[192];
	unsigned	flags;
	int64_t		t0 = me_make_ts(2024, 10, 26, 23, 0, 0, 0);	/* local midnight, BST */

	me_zone_init(&zone, london_2024, NULL);
	for (int i = 0; i < 100; i++)
	{
		ts[i] = t0 + i * 15 * ME_USECS_PER_MIN;
		kw[i] = 1.0;
	}
	me_lp_init(&lp, 96);
	assert_int_equal(me_lp_add_series(&lp, &zone, ts, kw, 100), ME_LP_OK);
	for (int s = 0; s < 96; s++)
	{
		assert_int_equal(lp.count[s], 0);	/* no weekday */
		assert_int_equal(lp.count[96 + s], s >= 4 && s < 8 ? 2 : 1);
	}
	me_lp_reset(&lp);
	/* 31 March: local midnight is 00:00 UTC, the day 23 hours long */
	t0 = me_make_ts(2024, 3, 31, 0, 0, 0, 0);
	for (int i = 0; i < 92; i++)
	{
		ts[i] = t0 + i * 15 * ME_USECS_PER_MIN;
		kw[i] = 2.0;
	}
	assert_int_equal(me_lp_add_series(&lp, &zone, ts, kw, 92), ME_LP_OK);
	for (int s = 0; s < 96; s++)
		assert_int_equal(lp.count[96 + s], s >= 4 && s < 8 ? 0 : 1);
	assert_int_equal(me_lp_finish(&lp, out, &flags), ME_LP_OK);
	assert_int_equal(flags, ME_LP_GAPS | ME_LP_NO_WEEKDAY);
	for (int j = 0; j < 192; j++)
		assert_true(fabs(out[j] - 1.0) < 1e-12);
	me_lp_free(&lp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_identical_points),
		cmocka_unit_test(test_k_equals_n),
		cmocka_unit_test(test_one_cluster),
		cmocka_unit_test(test_ties_deterministic),
		cmocka_unit_test(test_blobs_recovered),
		cmocka_unit_test(test_fixed_seed_identical),
		cmocka_unit_test(test_restarts_never_worse),
		cmocka_unit_test(test_duplicates_two_values),
		cmocka_unit_test(test_interrupt_hook),
		cmocka_unit_test(test_order_by_size),
		cmocka_unit_test(test_lp_slots),
		cmocka_unit_test(test_lp_constant_and_zero),
		cmocka_unit_test(test_lp_scale_free),
		cmocka_unit_test(test_lp_gaps_and_missing_day_type),
		cmocka_unit_test(test_lp_export_sign),
		cmocka_unit_test(test_lp_local_slots),
		cmocka_unit_test(test_lp_dst_days),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
