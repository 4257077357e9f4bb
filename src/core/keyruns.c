/*
 * keyruns.c - runs of meters one index range scan can read in output order
 * (see keyruns.h)
 */
#include <stdlib.h>

#include "keyruns.h"

static int
keyord_cmp(const void *a, const void *b)
{
	int32_t		x = ((const MeKeyOrd *) a)->key;
	int32_t		y = ((const MeKeyOrd *) b)->key;

	return (x > y) - (x < y);
}

void
me_keyord_sort(MeKeyOrd *pairs, int n)
{
	if (n > 1)
		qsort(pairs, (size_t) n, sizeof(MeKeyOrd), keyord_cmp);
}

/* Index of the first pair with key >= key (n if none). */
static int
lower_bound(const MeKeyOrd *sorted, int n, int64_t key)
{
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (sorted[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int32_t
me_keyord_find(const MeKeyOrd *sorted, int n, int32_t key)
{
	int			i = lower_bound(sorted, n, key);

	return (i < n && sorted[i].key == key) ? sorted[i].ord : -1;
}

/* How many meters a range scan over keys lo..hi reads. */
static int
meters_in_range(const MeKeyOrd *sorted, int n, int32_t lo, int32_t hi)
{
	return lower_bound(sorted, n, (int64_t) hi + 1) - lower_bound(sorted, n, lo);
}

/*
 * The most meters a run of len meters may read: twice its own, plus up to
 * 16 strays, because skipping a stray meter's rows costs about what a scan
 * of its own would (a descent of the index and a rescan of the plan).
 */
static int
run_budget(int len)
{
	return 2 * len + (len < 16 ? len : 16);
}

/*
 * Greedy: extend the current run while the next key ascends and the range
 * stays within budget.  A meter whose key breaks the order, or lies far
 * from its neighbours', ends the run, so one odd meter costs one extra run,
 * not the whole fleet's order.
 */
int
me_key_runs(const int32_t *keys, int n, const MeKeyOrd *sorted, MeKeyRun *runs)
{
	int			nruns = 0;
	int			s = 0;

	while (s < n)
	{
		int			e = s;

		while (e + 1 < n && keys[e + 1] > keys[e] &&
			   meters_in_range(sorted, n, keys[s], keys[e + 1]) <= run_budget(e + 2 - s))
			e++;
		runs[nruns].lo = keys[s];
		runs[nruns].hi = keys[e];
		runs[nruns].first = s;
		runs[nruns].last = e;
		nruns++;
		s = e + 1;
	}
	return nruns;
}
