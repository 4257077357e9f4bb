/*
 * series_fill.c - one value per grid slot: actuals, linear fill, like-day
 *
 * The grid is every k * interval_us (k integer, PG epoch) in [from, to).
 * A present reading is the actual of the nearest slot if it lies within
 * snap_us of it (default 0: only exact on-grid readings count); readings
 * farther off-grid are ignored and counted in n_offgrid, and when two
 * readings snap to one slot the closer one wins (the earlier on a tie) and
 * the other is counted in n_collisions.
 *
 * Neighbours come from the whole series, not just the range, so a slot at
 * the edge of the range is interpolated from actuals outside it.  A run of
 * missing slots between actuals at t0 and t1 is filled linearly when
 * t1 - t0 <= max_gap_us, otherwise it is a run of holes (kw NaN) and one
 * MeGap record; so are the slots before the first and after the last
 * actual.  Gap records are clipped to the range.
 *
 * series_fill_like_day then fills holes of long gaps (and of leading and
 * trailing gaps if like_day_edges) with the mean of the same local clock
 * time on the nearest N same-weekday days that have an actual there
 * (weeks -1, +1, -2, +2, ... up to like_day_max_weeks).  "Same clock time"
 * is resolved through the MeZone, so on 23- and 25-hour days the same wall
 * time is matched; a donor time that does not exist (spring forward) is
 * skipped and a repeated one (fall back) uses its first occurrence.
 *
 * Cost: linear fill O(n + slots); like-day O(holes * weeks * log n).
 */
#include <math.h>
#include <string.h>

#include "core/me_alloc.h"
#include "series.h"
#include "series_int.h"

/* Actual readings snapped to slots, ascending, one per slot. */
typedef struct Actuals
{
	int64_t    *ts;
	double	   *kw;
	size_t		n;
	size_t		offgrid;
	size_t		collisions;
} Actuals;

/* Defaults: 15-minute grid, linear up to a 2 h span, 4 like days in 8 weeks. */
void
series_fill_params_default(MeFillParams *p)
{
	memset(p, 0, sizeof(*p));
	p->interval_us = 15 * ME_USECS_PER_MIN;
	p->max_gap_us = (int64_t) ME_DEFAULT_MAX_GAP_S * ME_USECS_PER_SEC;
	p->snap_us = 0;
	p->like_day_days = 4;
	p->like_day_max_weeks = 8;
	p->like_day_edges = false;
	p->zone = NULL;
}

/* Reject parameters the algorithms cannot honour. */
static int
check_params(const MeFillParams *p)
{
	if (p == NULL || p->interval_us <= 0 || p->max_gap_us < 0 || p->snap_us < 0 ||
		p->snap_us >= p->interval_us - p->snap_us)
		return ME_SERIES_EINVAL;
	return ME_SERIES_OK;
}

/* Release the snapped actuals. */
static void
actuals_free(Actuals *a)
{
	me_free(a->ts);
	me_free(a->kw);
	memset(a, 0, sizeof(*a));
}

/* Nearest slot to ts and the distance to it; false if farther than snap. */
static bool
snap_slot(int64_t ts, int64_t interval, int64_t snap, int64_t *slot, int64_t *dist)
{
	int64_t		q = me_floor_div(ts, interval);
	int64_t		r = ts - q * interval;

	if (r > interval - r)
	{
		q++;
		r = interval - r;
	}
	*dist = r;
	return r <= snap && !__builtin_mul_overflow(q, interval, slot);
}

/* Snap present readings to their nearest slot, keeping the closest per slot. */
static int
build_actuals(const MeSeries *in, int64_t interval, int64_t snap, Actuals *a)
{
	int64_t		best = 0,
				slot,
				dist;
	size_t		i;

	memset(a, 0, sizeof(*a));
	a->ts = me_alloc(in->n * sizeof(int64_t));
	a->kw = me_alloc(in->n * sizeof(double));
	if (a->ts == NULL || a->kw == NULL)
	{
		actuals_free(a);
		return ME_SERIES_ENOMEM;
	}
	for (i = 0; i < in->n; i++)
	{
		if (!series_present(in, i))
			continue;
		if (!snap_slot(in->ts[i], interval, snap, &slot, &dist))
			a->offgrid++;
		else if (a->n > 0 && a->ts[a->n - 1] == slot)
		{
			a->collisions++;
			if (dist < best)
			{
				a->kw[a->n - 1] = in->kw[i];
				best = dist;
			}
		}
		else
		{
			a->ts[a->n] = slot;
			a->kw[a->n++] = in->kw[i];
			best = dist;
		}
	}
	return ME_SERIES_OK;
}

/* Append a hole at slot t to the open gap keyed by next actual j, or open one. */
static int
add_hole(MeFillResult *out, size_t *cap, bool *open, size_t *key, size_t j,
		 int64_t t, MeGapKind kind, int64_t span)
{
	MeGap	   *g;
	int			rc;

	if (*open && *key == j)
	{
		g = &out->gaps[out->n_gaps - 1];
		g->end_ts = t;
		g->n_intervals++;
		return ME_SERIES_OK;
	}
	rc = series_reserve((void **) &out->gaps, cap, out->n_gaps + 1, sizeof(MeGap));
	if (rc != ME_SERIES_OK)
		return rc;
	g = &out->gaps[out->n_gaps++];
	g->start_ts = g->end_ts = t;
	g->n_intervals = 1;
	g->n_estimated = 0;
	g->span_us = span;
	g->kind = kind;
	*open = true;
	*key = j;
	return ME_SERIES_OK;
}

/* Value or hole for slot t, given the first actual j at or after t. */
static int
fill_slot(const Actuals *a, const MeFillParams *p, size_t j, int64_t t,
		  MeFillPoint *pt, MeFillResult *out, size_t *cap, bool *open, size_t *key)
{
	bool		has_prev = j > 0;
	bool		has_next = j < a->n;
	int64_t		span = 0;
	MeGapKind	kind;

	pt->ts = t;
	if (has_next && a->ts[j] == t)
	{
		pt->kw = a->kw[j];
		pt->method = ME_FILL_ACTUAL;
		*open = false;
		return ME_SERIES_OK;
	}
	if (has_prev && has_next)
	{
		span = a->ts[j] - a->ts[j - 1];
		if (span <= p->max_gap_us)
		{
			double		f = (double) (t - a->ts[j - 1]) / (double) span;

			pt->kw = a->kw[j - 1] + (a->kw[j] - a->kw[j - 1]) * f;
			pt->method = ME_FILL_LINEAR;
			*open = false;
			return ME_SERIES_OK;
		}
		kind = ME_GAP_LONG;
	}
	else
		kind = has_prev ? ME_GAP_TRAILING : has_next ? ME_GAP_LEADING : ME_GAP_NODATA;
	pt->kw = NAN;
	pt->method = ME_FILL_HOLE;
	return add_hole(out, cap, open, key, j, t, kind, span);
}

/* Grid [from, to) with actuals, linear fills for short gaps, holes for the rest. */
int
series_fill_linear(const MeSeries *in, const MeFillParams *p, MeFillResult *out)
{
	Actuals		a;
	int64_t		k0;
	size_t		ns,
				s,
				j = 0,
				cap = 0,
				key = 0;
	bool		open = false;
	int			rc;

	if (out == NULL)
		return ME_SERIES_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((rc = check_params(p)) != ME_SERIES_OK)
		return rc;
	if (in == NULL || (in->n > 0 && in->ts == NULL))
		return ME_SERIES_EINVAL;
	if ((rc = series_check_input(in, NULL)) != ME_SERIES_OK ||
		(rc = series_grid(p->from_ts, p->to_ts, p->interval_us, &k0, &ns)) != ME_SERIES_OK ||
		(rc = build_actuals(in, p->interval_us, p->snap_us, &a)) != ME_SERIES_OK)
		return rc;
	out->n_offgrid = a.offgrid;
	out->n_collisions = a.collisions;
	out->points = me_alloc(ns * sizeof(MeFillPoint));
	if (out->points == NULL)
		rc = ME_SERIES_ENOMEM;
	for (s = 0; rc == ME_SERIES_OK && s < ns; s++)
	{
		int64_t		t = (k0 + (int64_t) s) * p->interval_us;

		while (j < a.n && a.ts[j] < t)
			j++;
		rc = fill_slot(&a, p, j, t, &out->points[s], out, &cap, &open, &key);
		out->n_points = s + 1;
	}
	actuals_free(&a);
	if (rc != ME_SERIES_OK)
		series_fill_result_free(out);
	return rc;
}

/* Index of slot t among the actuals, or -1 (binary search). */
static ptrdiff_t
find_actual(const Actuals *a, int64_t t)
{
	size_t		lo = 0,
				hi = a->n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (a->ts[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < a->n && a->ts[lo] == t) ? (ptrdiff_t) lo : -1;
}

/*
 * Mean of the actuals at the same local clock time on the nearest
 * like_day_days same-weekday days (weeks -1, +1, -2, +2, ...); false if none.
 */
static bool
like_day_value(const Actuals *a, const MeFillParams *p, MeLocal *lc, int64_t t, double *kw)
{
	int64_t		local = series_to_local(lc, t);
	int64_t		day = me_floor_div(local, ME_USECS_PER_DAY);
	int64_t		tod = local - day * ME_USECS_PER_DAY;
	double		sum = 0.0;
	int			found = 0;
	int			w,
				dir;

	for (w = 1; w <= p->like_day_max_weeks && found < p->like_day_days; w++)
	{
		for (dir = -1; dir <= 1 && found < p->like_day_days; dir += 2)
		{
			int64_t		d = day + (int64_t) dir * 7 * w;
			int64_t		u;
			ptrdiff_t	k;

			if (series_from_local(lc, d * ME_USECS_PER_DAY + tod, &u) == ME_LOCAL_NONEXISTENT)
				continue;
			if ((k = find_actual(a, u)) < 0)
				continue;
			sum += a->kw[k];
			found++;
		}
	}
	if (found == 0)
		return false;
	*kw = sum / found;
	return true;
}

/* Fill the holes of one gap record with like-day means where possible. */
static void
like_day_gap(const Actuals *a, const MeFillParams *p, MeLocal *lc, MeFillResult *res, MeGap *g)
{
	int64_t		t0 = res->points[0].ts;
	int64_t		t;

	for (t = g->start_ts; t <= g->end_ts; t += p->interval_us)
	{
		MeFillPoint *pt = &res->points[(t - t0) / p->interval_us];
		double		kw;

		if (pt->method != ME_FILL_HOLE || !like_day_value(a, p, lc, t, &kw))
			continue;
		pt->kw = kw;
		pt->method = ME_FILL_LIKE_DAY;
		g->n_estimated++;
	}
}

/*
 * Second pass over a series_fill_linear result made with the same series
 * and parameters: like-day estimates for the holes of long gaps.
 */
int
series_fill_like_day(const MeSeries *in, const MeFillParams *p, MeFillResult *res)
{
	Actuals		a;
	MeLocal		lc;
	size_t		i;
	int			rc;

	if ((rc = check_params(p)) != ME_SERIES_OK)
		return rc;
	if (res == NULL || p->like_day_days < 1 || p->like_day_max_weeks < 1 ||
		p->like_day_max_weeks > 520 || in == NULL || (in->n > 0 && in->ts == NULL))
		return ME_SERIES_EINVAL;
	if ((rc = series_check_input(in, NULL)) != ME_SERIES_OK)
		return rc;
	if (res->n_points == 0 || res->n_gaps == 0)
		return ME_SERIES_OK;
	if ((rc = build_actuals(in, p->interval_us, p->snap_us, &a)) != ME_SERIES_OK)
		return rc;
	series_local_init(&lc, p->zone);
	for (i = 0; i < res->n_gaps; i++)
	{
		MeGap	   *g = &res->gaps[i];

		if (g->kind == ME_GAP_LONG ||
			(p->like_day_edges && (g->kind == ME_GAP_LEADING || g->kind == ME_GAP_TRAILING)))
			like_day_gap(&a, p, &lc, res, g);
	}
	actuals_free(&a);
	return ME_SERIES_OK;
}

/* Release what series_fill_linear allocated. */
void
series_fill_result_free(MeFillResult *r)
{
	if (r == NULL)
		return;
	me_free(r->points);
	me_free(r->gaps);
	memset(r, 0, sizeof(*r));
}
