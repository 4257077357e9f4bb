/*
 * test_keyruns.c - cmocka unit tests of the archive's key runs (keyruns.c):
 * the runs cover every meter once, in output order, with ascending keys
 * and bounded reads; ordered fleets give one run, odd meters cost only a
 * run or two, and a shuffled fleet falls back to one meter per run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/keyruns.h"

/* Runs of keys[0..n-1], checked against every promise of keyruns.h. */
static int
runs_of(const int32_t *keys, int n, MeKeyRun *runs)
{
	MeKeyOrd   *sorted = malloc(sizeof(MeKeyOrd) * (n > 0 ? n : 1));
	int			nruns,
				next = 0;

	for (int i = 0; i < n; i++)
	{
		sorted[i].key = keys[i];
		sorted[i].ord = i;
	}
	me_keyord_sort(sorted, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(me_keyord_find(sorted, n, keys[i]), i);
	nruns = me_key_runs(keys, n, sorted, runs);
	assert_in_range(nruns, n > 0 ? 1 : 0, n);
	for (int r = 0; r < nruns; r++)
	{
		int			len = runs[r].last - runs[r].first + 1,
					inside = 0;

		assert_int_equal(runs[r].first, next);
		assert_true(len >= 1);
		assert_int_equal(runs[r].lo, keys[runs[r].first]);
		assert_int_equal(runs[r].hi, keys[runs[r].last]);
		for (int i = runs[r].first + 1; i <= runs[r].last; i++)
			assert_true(keys[i] > keys[i - 1]);
		for (int i = 0; i < n; i++)
			inside += keys[i] >= runs[r].lo && keys[i] <= runs[r].hi;
		assert_true(inside <= 3 * len);
		next = runs[r].last + 1;
	}
	assert_int_equal(next, n);
	free(sorted);
	return nruns;
}

static void
test_empty_and_single(void **state)
{
	MeKeyRun	runs[1];
	int32_t		one[] = {42};

	assert_int_equal(runs_of(NULL, 0, runs), 0);
	assert_int_equal(runs_of(one, 1, runs), 1);
	assert_int_equal(runs[0].lo, 42);
	assert_int_equal(runs[0].hi, 42);
}

static void
test_ordered_fleet_is_one_run(void **state)
{
	enum { N = 5000 };
	int32_t		keys[N];
	MeKeyRun	runs[N];

	for (int i = 0; i < N; i++)
		keys[i] = i + 1;
	assert_int_equal(runs_of(keys, N, runs), 1);
	assert_int_equal(runs[0].lo, 1);
	assert_int_equal(runs[0].hi, N);
	/* gaps in the keys (deleted meters, a sequence's cache) do not matter */
	for (int i = 0; i < N; i++)
		keys[i] = 3 * i - 7;
	assert_int_equal(runs_of(keys, N, runs), 1);
}

static void
test_odd_meter_costs_a_run(void **state)
{
	enum { N = 1000 };
	int32_t		keys[N];
	MeKeyRun	runs[N];

	/* meter 500 got a key long after its neighbours (key N + 1) */
	for (int i = 0; i < N; i++)
		keys[i] = i + 1;
	keys[500] = N + 1;
	assert_int_equal(runs_of(keys, N, runs), 2);
	assert_int_equal(runs[0].last, 500);
	/* ... and with a key below everyone's it starts a run of its own */
	keys[500] = -5;
	assert_int_equal(runs_of(keys, N, runs), 3);
	assert_int_equal(runs[1].first, 500);
	assert_int_equal(runs[1].last, 500);
}

static void
test_interleaved_fleets(void **state)
{
	enum { N = 2000 };
	int32_t		keys[N];
	MeKeyRun	runs[N];
	int			nruns;

	/* two loads whose meters alternate by id: each run reads the other's rows */
	for (int i = 0; i < N; i++)
		keys[i] = (i % 2) ? N / 2 + i / 2 : i / 2;
	nruns = runs_of(keys, N, runs);
	assert_true(nruns >= N / 2);
	/* a descending fleet: one meter per run */
	for (int i = 0; i < N; i++)
		keys[i] = N - i;
	assert_int_equal(runs_of(keys, N, runs), N);
}

static void
test_shuffled_fleet_bounded(void **state)
{
	enum { N = 3000 };
	int32_t		keys[N];
	MeKeyRun	runs[N];
	unsigned	seed = 12345;

	for (int i = 0; i < N; i++)
		keys[i] = i * 2 + 1;
	for (int i = N - 1; i > 0; i--)
	{
		int			j;
		int32_t		t;

		seed = seed * 1103515245u + 12345u;
		j = (int) ((seed >> 8) % (unsigned) (i + 1));
		t = keys[i];
		keys[i] = keys[j];
		keys[j] = t;
	}
	/* runs_of checks the bound of 3 x length per run */
	assert_true(runs_of(keys, N, runs) > N / 3);
}

static void
test_extreme_keys(void **state)
{
	int32_t		keys[] = {INT32_MIN, -1, 0, INT32_MAX};
	MeKeyRun	runs[4];
	MeKeyOrd	sorted[4];

	runs_of(keys, 4, runs);
	for (int i = 0; i < 4; i++)
	{
		sorted[i].key = keys[i];
		sorted[i].ord = i;
	}
	assert_int_equal(me_keyord_find(sorted, 4, 5), -1);
	assert_int_equal(me_keyord_find(sorted, 4, INT32_MAX), 3);
	assert_int_equal(me_keyord_find(sorted, 4, INT32_MIN), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_single),
		cmocka_unit_test(test_ordered_fleet_is_one_run),
		cmocka_unit_test(test_odd_meter_costs_a_run),
		cmocka_unit_test(test_interleaved_fleets),
		cmocka_unit_test(test_shuffled_fleet_bounded),
		cmocka_unit_test(test_extreme_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
