/*
 * series_faults.c - faulty-meter detection on one series
 *
 * Only present readings with from <= ts < to are looked at.  Detectors:
 *
 * stuck_zero / flatline: a run of readings with the same value (exactly 0,
 *   or the same non-zero value), consecutive up to run_gap_tolerance_us of
 *   missing time, of at least the minimum duration (last - first +
 *   interval) and reading count.  Evidence keeps legitimate patterns out
 *   (PV export at night, a constant night load): reference readings are
 *   those within +-run_ref_days of the run, outside it, at the same local
 *   slots of day.  A run reading is "unusual" when at its slot of day at
 *   least run_min_unusual of the reference readings differ from the run
 *   value (or there are none); the run is reported only if its unusual
 *   readings alone still meet both minimums.
 *
 * level_shift: the energy of each local day (from the MeZone), as mean kW
 *   x 24 so that 23/25-hour and slightly incomplete days compare fairly;
 *   days below day_min_coverage of their slots, or cut by [from, to), are
 *   skipped.  Each day is first divided by the fleet's level that day
 *   (p->fleet, when given): a change the meter's peers share (weather,
 *   holidays, a tariff) is not a change of this meter.  Baseline = median
 *   of the same weekday over the previous shift_weeks weeks; scale = 1.4826
 *   x median |day - its weekday median| over the valid days of those weeks
 *   (weekday groups of 2+ days), so the weekly pattern does not inflate
 *   it.  With less history than that (a new meter or fleet), the median and
 *   MAD of all valid days of those weeks, once there are
 *   shift_min_recent_days of them.  A day is flagged when |robust z| >=
 *   shift_min_z and |day / baseline - 1| >= shift_min_rel_change; adjacent
 *   flagged days with the same sign form one episode (days that cannot be
 *   judged, e.g. half missing, neither extend nor end it).  While an
 *   episode is open its days are judged against the baseline of the weeks
 *   before its first day, so a persistent shift stays flagged instead of
 *   becoming the new normal, and the episode ends when the meter returns
 *   to its level.  Days of an ended episode are left out of later
 *   baselines.  An episode still open on the last day is ongoing, a meter
 *   fault (level_shift); an ended one is a level_shift if it lasted
 *   shift_persist_days or more (a wrong multiplier later fixed), else a
 *   usage_anomaly (a holiday, guests): reported, not a fault.

 * offline: on the slot grid of [from, to) (a reading marks the slot it
 *   starts in), a single gap of offline_gap_us or more is an episode of
 *   its own missing slots; sparse periods are windows of
 *   offline_window_us in which at least offline_min_missing of the slots
 *   outside such gaps are missing, merged and trimmed to where the misses
 *   are dense.  Touching episodes are reported as one.
 *
 * Cost: O(n) for the data, plus O(run + readings within +-ref days) per
 * candidate run, O(days * weeks) for level shift, O(slots) for offline.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/me_alloc.h"
#include "series.h"
#include "series_int.h"

/* Present readings inside [from, to), with local times. */
typedef struct FData
{
	size_t		m;
	int64_t    *ts;
	int64_t    *lts;
	double	   *kw;
} FData;

/* Growable output list. */
typedef struct FBuf
{
	MeFaultList *list;
	size_t		cap;
} FBuf;

/* Per-day aggregates for level shift. */
typedef struct Days
{
	int64_t		nd;
	int64_t    *start;			/* nd + 1 UTC day starts */
	double	   *val;			/* kWh per 24 h, divided by the fleet level */
	double	   *raw;			/* kWh per 24 h */
	double	   *lvl;			/* the fleet level that divided it (1 if none) */
	const double *cur;			/* the one being judged: val, or raw */
	bool	   *ok;
	double	   *scratch;		/* 7 * weeks */
	double	   *res;			/* 7 * weeks */
} Days;

/*
 * Defaults, after common VEE practice: 8 h of zeros or of one repeated
 * value is the usual "stuck register / flat line" bar (and 16 readings, so
 * hourly data needs 16 h); +-2 weeks of reference separate a dead meter
 * from a PV channel at night or a constant night load; level shift needs
 * both |robust z| >= 4 and a 50% change against the same weekday over 4
 * weeks; offline is a 24 h outage or a day with half its readings missing.
 */
void
series_fault_params_default(MeFaultParams *p)
{
	memset(p, 0, sizeof(*p));
	p->kinds = ME_FAULT_ALL;
	p->interval_us = 15 * ME_USECS_PER_MIN;
	p->zone = NULL;
	p->run_gap_tolerance_us = ME_USECS_PER_HOUR;
	p->stuck_zero_min_us = (int64_t) ME_DEFAULT_STUCK_ZERO_MIN_S * ME_USECS_PER_SEC;
	p->stuck_zero_min_readings = 4;
	p->flatline_min_us = (int64_t) ME_DEFAULT_FLATLINE_MIN_S * ME_USECS_PER_SEC;
	p->flatline_min_readings = ME_DEFAULT_FLATLINE_MIN_READINGS;
	/* a run is judged against the same slots of the day before and after */
	p->run_ref_days = 1;
	p->run_min_unusual = 0.5;
	p->shift_weeks = ME_DEFAULT_HISTORY_DAYS / 7;
	p->shift_min_same_weekday = 2;
	p->shift_min_history_days = 14;
	p->shift_min_z = ME_DEFAULT_SHIFT_MIN_Z;
	p->shift_min_factor = ME_DEFAULT_SHIFT_MIN_FACTOR;
	p->shift_min_rel_change = series_shift_rel_change(ME_DEFAULT_SHIFT_MIN_FACTOR);
	p->shift_min_days = ME_DEFAULT_SHIFT_MIN_DAYS;
	/* a week of history is enough to see a doubling or a halving */
	p->shift_min_recent_days = 5;
	p->shift_persist_days = ME_DEFAULT_SHIFT_PERSIST_DAYS;
	p->fleet = NULL;
	p->n_fleet = 0;
	p->day_min_coverage = 0.9;
	p->offline_gap_us = (int64_t) ME_DEFAULT_OFFLINE_MIN_S * ME_USECS_PER_SEC;
	p->offline_window_us = p->offline_gap_us;
	p->offline_min_missing = 0.5;
}

/*
 * Days are screened by the smaller relative change a factor means (f up
 * is f - 1, down 1 - 1/f); an episode then needs the whole factor.
 */
double
series_shift_rel_change(double factor)
{
	double		up = factor - 1.0;
	double		down = 1.0 - 1.0 / factor;

	return up < down ? up : down;
}

/* Reject parameters the detectors cannot honour. */
static int
check_params(const MeFaultParams *p, int64_t from, int64_t to)
{
	if (p == NULL || from > to || p->interval_us <= 0 || p->run_gap_tolerance_us < 0 ||
		p->stuck_zero_min_us < 0 || p->stuck_zero_min_readings < 1 ||
		p->flatline_min_us < 0 || p->flatline_min_readings < 1 ||
		p->run_ref_days < 0 || p->run_ref_days > 3660 ||
		!(p->run_min_unusual >= 0.0 && p->run_min_unusual <= 1.0) ||
		p->shift_weeks < 1 || p->shift_weeks > 52 || p->shift_min_same_weekday < 1 ||
		p->shift_min_history_days < 1 || isnan(p->shift_min_z) ||
		isnan(p->shift_min_rel_change) || p->shift_min_days < 1 || !(p->shift_min_factor >= 1.0) ||
		p->shift_min_recent_days < 1 || p->shift_persist_days < 1 ||
		(p->n_fleet > 0 && p->fleet == NULL) ||
		!(p->day_min_coverage > 0.0 && p->day_min_coverage <= 1.0) ||
		p->offline_gap_us <= 0 || p->offline_window_us < p->interval_us ||
		!(p->offline_min_missing > 0.0 && p->offline_min_missing <= 1.0))
		return ME_SERIES_EINVAL;
	return ME_SERIES_OK;
}

/* Append one fault. */
static int
push_fault(FBuf *fb, const MeFault *f)
{
	int			rc = series_reserve((void **) &fb->list->items, &fb->cap,
									fb->list->n + 1, sizeof(MeFault));

	if (rc == ME_SERIES_OK)
		fb->list->items[fb->list->n++] = *f;
	return rc;
}

/* Release the in-range copy of the data. */
static void
fdata_free(FData *d)
{
	me_free(d->ts);
	me_free(d->lts);
	me_free(d->kw);
}

/* Copy present readings in [from, to) and their local times. */
static int
fdata_build(const MeSeries *in, int64_t from, int64_t to, MeLocal *lc, FData *d)
{
	size_t		i;

	memset(d, 0, sizeof(*d));
	d->ts = me_alloc(in->n * sizeof(int64_t));
	d->lts = me_alloc(in->n * sizeof(int64_t));
	d->kw = me_alloc(in->n * sizeof(double));
	if (d->ts == NULL || d->lts == NULL || d->kw == NULL)
		return ME_SERIES_ENOMEM;
	for (i = 0; i < in->n; i++)
	{
		if (!series_present(in, i) || in->ts[i] < from || in->ts[i] >= to)
			continue;
		d->ts[d->m] = in->ts[i];
		d->lts[d->m] = series_to_local(lc, in->ts[i]);
		d->kw[d->m] = in->kw[i];
		d->m++;
	}
	return ME_SERIES_OK;
}

/* Scratch for judging runs: per local slot of day. */
typedef struct RunScratch
{
	size_t		spd;			/* slots per day */
	uint8_t    *mask;			/* slot occurs in the run */
	int64_t    *tot;			/* reference readings at the slot */
	int64_t    *diff;			/* ... that differ from the run value */
} RunScratch;

/* Local slot of day of a local time. */
static inline size_t
slot_of_day(int64_t lts, int64_t interval)
{
	return (size_t) (series_mod(lts, ME_USECS_PER_DAY) / interval);
}

/* First index with ts >= t. */
static size_t
lower_ts(const FData *d, int64_t t)
{
	size_t		lo = 0,
				hi = d->m;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (d->ts[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Reference readings of run [i, j]: within +-ref days, outside the run, at
 * a local slot of day the run covers.  Fills rs per slot; returns their
 * mean kW (0 if none).
 */
static double
run_reference(const FData *d, const MeFaultParams *p, size_t i, size_t j, double v,
			  RunScratch *rs)
{
	int64_t		span = (int64_t) p->run_ref_days * ME_USECS_PER_DAY;
	double		sum = 0.0;
	int64_t		n = 0;
	size_t		r;

	memset(rs->mask, 0, rs->spd);
	memset(rs->tot, 0, rs->spd * sizeof(int64_t));
	memset(rs->diff, 0, rs->spd * sizeof(int64_t));
	for (r = i; r <= j; r++)
		rs->mask[slot_of_day(d->lts[r], p->interval_us)] = 1;
	for (r = lower_ts(d, d->ts[i] - span); r < d->m && d->ts[r] <= d->ts[j] + span; r++)
	{
		size_t		s;

		if (r == i)
		{
			r = j;
			continue;
		}
		s = slot_of_day(d->lts[r], p->interval_us);
		if (!rs->mask[s])
			continue;
		rs->tot[s]++;
		rs->diff[s] += d->kw[r] != v;
		sum += d->kw[r];
		n++;
	}
	return n > 0 ? sum / (double) n : 0.0;
}

/*
 * Judge run [i, j] of value v: count its readings at slots where v is
 * unusual for this meter, and report the run if those alone meet the
 * minimum duration and count.
 */
static int
judge_run(const FData *d, const MeFaultParams *p, size_t i, size_t j, double v,
		  RunScratch *rs, FBuf *fb)
{
	bool		zero = v == 0.0;
	int64_t		min_us = zero ? p->stuck_zero_min_us : p->flatline_min_us;
	int64_t		min_n = zero ? p->stuck_zero_min_readings : p->flatline_min_readings;
	int64_t		unusual = 0;
	double		mean = run_reference(d, p, i, j, v, rs);
	size_t		r;
	MeFault		f;

	for (r = i; r <= j; r++)
	{
		size_t		s = slot_of_day(d->lts[r], p->interval_us);

		if (rs->tot[s] == 0 || (double) rs->diff[s] >= p->run_min_unusual * (double) rs->tot[s])
			unusual++;
	}
	if (unusual < min_n || unusual * p->interval_us < min_us)
		return ME_SERIES_OK;
	memset(&f, 0, sizeof(f));
	f.kind = zero ? ME_FAULT_STUCK_ZERO : ME_FAULT_FLATLINE;
	f.start_ts = d->ts[i];
	f.end_ts = d->ts[j] + p->interval_us;
	f.n = (int64_t) (j - i + 1);
	f.value = v;
	f.score = (double) unusual / (double) f.n;
	f.baseline = mean;
	return push_fault(fb, &f);
}

/* Find runs of equal values (zero runs if zero, else non-zero) and judge them. */
static int
detect_runs(const FData *d, const MeFaultParams *p, bool zero, RunScratch *rs, FBuf *fb)
{
	int64_t		min_us = zero ? p->stuck_zero_min_us : p->flatline_min_us;
	int64_t		min_n = zero ? p->stuck_zero_min_readings : p->flatline_min_readings;
	int64_t		step = p->interval_us + p->run_gap_tolerance_us;
	size_t		i = 0,
				j;
	int			rc;

	while (i < d->m)
	{
		double		v = d->kw[i];

		j = i;
		while (j + 1 < d->m && d->kw[j + 1] == v && d->ts[j + 1] - d->ts[j] <= step)
			j++;
		if ((v == 0.0) == zero && (int64_t) (j - i + 1) >= min_n &&
			d->ts[j] - d->ts[i] + p->interval_us >= min_us &&
			(rc = judge_run(d, p, i, j, v, rs, fb)) != ME_SERIES_OK)
			return rc;
		i = j + 1;
	}
	return ME_SERIES_OK;
}

/* Run both run detectors with a shared per-slot scratch. */
static int
detect_all_runs(const FData *d, const MeFaultParams *p, FBuf *fb)
{
	RunScratch	rs;
	int			rc = ME_SERIES_OK;

	rs.spd = (size_t) series_ceil_div(ME_USECS_PER_DAY, p->interval_us);
	rs.mask = me_alloc(rs.spd);
	rs.tot = me_alloc(rs.spd * sizeof(int64_t));
	rs.diff = me_alloc(rs.spd * sizeof(int64_t));
	if (rs.mask == NULL || rs.tot == NULL || rs.diff == NULL)
		rc = ME_SERIES_ENOMEM;
	if (rc == ME_SERIES_OK && (p->kinds & (1u << ME_FAULT_STUCK_ZERO)))
		rc = detect_runs(d, p, true, &rs, fb);
	if (rc == ME_SERIES_OK && (p->kinds & (1u << ME_FAULT_FLATLINE)))
		rc = detect_runs(d, p, false, &rs, fb);
	me_free(rs.mask);
	me_free(rs.tot);
	me_free(rs.diff);
	return rc;
}

/* qsort comparator for doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Median of v[0..n) (n > 0), sorting v in place (n <= 7 * 52). */
static double
small_median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* Release the per-day arrays. */
static void
days_free(Days *y)
{
	me_free(y->start);
	me_free(y->val);
	me_free(y->raw);
	me_free(y->lvl);
	me_free(y->ok);
	me_free(y->scratch);
	me_free(y->res);
}

/* Allocate the per-day arrays for local days d0..d1. */
static int
days_alloc_span(Days *y, int64_t d0, int64_t d1, const MeFaultParams *p)
{
	memset(y, 0, sizeof(*y));
	y->nd = d1 - d0 + 1;
	y->start = me_alloc((y->nd + 1) * sizeof(int64_t));
	y->val = me_alloc(y->nd * sizeof(double));
	y->raw = me_alloc(y->nd * sizeof(double));
	y->lvl = me_alloc(y->nd * sizeof(double));
	y->ok = me_alloc(y->nd * sizeof(bool));
	y->scratch = me_alloc(7 * p->shift_weeks * sizeof(double));
	y->res = me_alloc(7 * p->shift_weeks * sizeof(double));
	if (!y->start || !y->val || !y->raw || !y->lvl || !y->ok || !y->scratch || !y->res)
		return ME_SERIES_ENOMEM;
	return ME_SERIES_OK;
}

/* Span the local days of the data and allocate the per-day arrays. */
static int
days_alloc(const FData *d, const MeFaultParams *p, Days *y, int64_t *d0)
{
	int64_t		d1 = INT64_MIN;
	size_t		r;

	/* local time can step back (fall back), so take the extremes */
	*d0 = INT64_MAX;
	for (r = 0; r < d->m; r++)
	{
		int64_t		k = me_floor_div(d->lts[r], ME_USECS_PER_DAY);

		*d0 = k < *d0 ? k : *d0;
		d1 = k > d1 ? k : d1;
	}
	return days_alloc_span(y, *d0, d1, p);
}

/*
 * Divide each day by the fleet's level that day (a merge: both ascend);
 * a day the fleet has no level for keeps its energy.
 */
static void
days_apply_fleet(Days *y, int64_t d0, const MeFaultParams *p)
{
	size_t		f = 0;

	for (int64_t k = 0; k < y->nd; k++)
	{
		y->raw[k] = y->val[k];
		y->lvl[k] = 1.0;
		y->cur = y->val;
		while (f < p->n_fleet && p->fleet[f].day < d0 + k)
			f++;
		if (f < p->n_fleet && p->fleet[f].day == d0 + k && p->fleet[f].level > 0.0)
		{
			y->lvl[k] = p->fleet[f].level;
			y->val[k] /= y->lvl[k];
		}
	}
}

/*
 * Day starts, usability and energy per 24 h from per-day sums (in y->val)
 * and reading counts: shared by the reading path and the stored-days path.
 */
static void
days_finish(Days *y, int64_t d0, const int64_t *cnt, int64_t from, int64_t to,
			const MeFaultParams *p, MeLocal *lc)
{
	int64_t		k;

	for (k = 0; k <= y->nd; k++)
		y->start[k] = series_day_start(lc, d0 + k);
	for (k = 0; k < y->nd; k++)
	{
		double		expected = (double) (y->start[k + 1] - y->start[k]) / (double) p->interval_us;

		y->ok[k] = cnt[k] > 0 && y->start[k] >= from && y->start[k + 1] <= to &&
			(double) cnt[k] >= p->day_min_coverage * expected;
		y->val[k] = cnt[k] > 0 ? y->val[k] / (double) cnt[k] * 24.0 : 0.0;
	}
	days_apply_fleet(y, d0, p);
}

/* Energy per 24 h of each local day, and whether the day is usable. */
static int
days_build(const FData *d, int64_t from, int64_t to, const MeFaultParams *p,
		   MeLocal *lc, Days *y)
{
	int64_t		d0,
				k;
	int64_t    *cnt;
	size_t		r;
	int			rc;

	if ((rc = days_alloc(d, p, y, &d0)) != ME_SERIES_OK)
		return rc;
	if ((cnt = me_alloc(y->nd * sizeof(int64_t))) == NULL)
		return ME_SERIES_ENOMEM;
	memset(y->val, 0, y->nd * sizeof(double));
	memset(cnt, 0, y->nd * sizeof(int64_t));
	for (r = 0; r < d->m; r++)
	{
		k = me_floor_div(d->lts[r], ME_USECS_PER_DAY) - d0;
		y->val[k] += d->kw[r];
		cnt[k]++;
	}
	days_finish(y, d0, cnt, from, to, p, lc);
	me_free(cnt);
	return ME_SERIES_OK;
}

/*
 * Same-weekday baseline of day k from the valid days in [lo, end): their
 * median, and 1.4826 x the median distance of those weeks' days to their
 * weekday medians (weekday groups of 2+ days) as the scale; false if the
 * history is too thin for it.
 */
static bool
weekday_baseline(Days *y, int64_t k, int64_t lo, int64_t end, const MeFaultParams *p,
				 double *base, double *sigma)
{
	size_t		ns = 0,
				nr = 0;

	for (int64_t e = end - 1; e >= lo; e--)
		if ((k - e) % 7 == 0 && y->ok[e])
			y->scratch[ns++] = y->cur[e];
	if (ns < (size_t) p->shift_min_same_weekday)
		return false;
	*base = small_median(y->scratch, ns);
	for (int g = 0; g < 7; g++)
	{
		size_t		n = 0;
		double		gm;

		for (int64_t e = end - 1 - g; e >= lo; e -= 7)
			if (y->ok[e])
				y->scratch[n++] = y->cur[e];
		if (n < 2)
			continue;
		memcpy(y->res + nr, y->scratch, n * sizeof(double));
		gm = small_median(y->scratch, n);
		for (size_t i = 0; i < n; i++)
			y->res[nr + i] = fabs(y->res[nr + i] - gm);
		nr += n;
	}
	if (nr < (size_t) p->shift_min_history_days)
		return false;
	*sigma = 1.4826 * small_median(y->res, nr);
	return true;
}

/*
 * Short-history baseline: the median and 1.4826 x MAD of all valid days in
 * [lo, end), from shift_min_recent_days of them.  The weekly pattern the
 * meter shares with its fleet is gone once days are divided by the fleet
 * level; what is left of its own widens the scale, which errs towards
 * reporting less.
 */
static bool
recent_baseline(Days *y, int64_t lo, int64_t end, const MeFaultParams *p,
				double *base, double *sigma)
{
	size_t		n = 0;

	for (int64_t e = end - 1; e >= lo; e--)
		if (y->ok[e])
			y->scratch[n++] = y->cur[e];
	if (n < (size_t) p->shift_min_recent_days)
		return false;
	*base = small_median(y->scratch, n);
	for (size_t i = 0; i < n; i++)
		y->res[i] = fabs(y->scratch[i] - *base);
	*sigma = 1.4826 * small_median(y->res, n);
	return true;
}

/*
 * Baseline and robust scale of day k from the K weeks before day end
 * (end = k, or the first day of the open episode k belongs to).
 */
static bool
day_baseline(Days *y, int64_t k, int64_t end, const MeFaultParams *p, double *base,
			 double *sigma)
{
	int64_t		lo = end - 7 * (int64_t) p->shift_weeks;

	if (lo < 0)
		lo = 0;
	return weekday_baseline(y, k, lo, end, p, base, sigma) ||
		recent_baseline(y, lo, end, p, base, sigma);
}

/*
 * Robust z of day k against the baseline of the weeks before day end, or
 * false if it cannot be judged.
 */
static bool
day_score(Days *y, int64_t k, int64_t end, const MeFaultParams *p, double *z, double *base)
{
	double		sigma;
	double		v = y->cur[k];

	if (!y->ok[k] || !day_baseline(y, k, end, p, base, &sigma) || *base == 0.0)
		return false;
	/*
	 * Days that repeat to the watt-hour (a synthetic or a fleet-divided
	 * series) do not make a change infinitely sure: the scale is at least
	 * 1 % of the baseline.
	 */
	sigma = fmax(sigma, 0.01 * fabs(*base));
	if (sigma > 0.0)
		*z = (v - *base) / sigma;
	else
		*z = v == *base ? 0.0 : copysign(ME_SERIES_SCORE_SENTINEL, v - *base);
	return true;
}

/* An open level-shift episode being accumulated. */
typedef struct Shift
{
	MeFault		f;
	bool		open;
	int64_t		first;			/* its first and last flagged day */
	int64_t		last;
	double		vsum;			/* fleet-adjusted energy */
	double		bsum;			/* fleet-adjusted baseline */
	double		rsum;			/* energy as read ... */
	double		rbsum;			/* ... and its baseline as read */
	double		lsum;			/* fleet levels */
} Shift;

/*
 * Close the open episode and append it, if it lasted long enough and moved
 * far enough as a whole: a change over fewer days is a transient, and
 * flagged days can add up to an episode nearer its baseline than the
 * factor (value is episode energy / baseline energy).  Still shifted on
 * the last day (ongoing), or shifted for shift_persist_days, it is a meter
 * fault; otherwise a usage anomaly.  Its days leave later baselines.
 */
static int
shift_close(Shift *sh, Days *y, bool ongoing, const MeFaultParams *p, FBuf *fb)
{
	double		r;
	int64_t		span = sh->last - sh->first + 1;

	sh->open = false;
	for (int64_t k = sh->first; k <= sh->last; k++)
		y->ok[k] = false;
	sh->f.end_ts = y->start[sh->last + 1];
	sh->f.value = r = sh->vsum / sh->bsum;
	sh->f.baseline = sh->bsum / (double) sh->f.n;
	sh->f.raw_value = sh->rbsum > 0.0 ? sh->rsum / sh->rbsum : sh->rsum / sh->bsum;
	sh->f.fleet = sh->lsum / (double) sh->f.n;
	sh->f.ongoing = ongoing;
	sh->f.kind = ongoing || span >= p->shift_persist_days ?
		ME_FAULT_LEVEL_SHIFT : ME_FAULT_USAGE_ANOMALY;
	if (sh->f.n < p->shift_min_days || !(r > 0.0) || fmax(r, 1.0 / r) < p->shift_min_factor ||
		!(p->kinds & (1u << sh->f.kind)))
		return ME_SERIES_OK;
	return push_fault(fb, &sh->f);
}

/* Add flagged day k (baselines adjusted and as read, z) to the episode, opening one. */
static void
shift_add(Shift *sh, Days *y, int64_t k, double base, double raw_base, double z)
{
	if (!sh->open)
	{
		memset(sh, 0, sizeof(*sh));
		sh->f.kind = ME_FAULT_LEVEL_SHIFT;
		sh->f.start_ts = y->start[k];
		sh->first = k;
		sh->open = true;
	}
	sh->last = k;
	sh->f.n++;
	sh->vsum += y->val[k];
	sh->bsum += base;
	sh->rsum += y->raw[k];
	sh->rbsum += raw_base;
	sh->lsum += y->lvl[k];
	if (fabs(z) > fabs(sh->f.score))
		sh->f.score = z;
}

/* Day k of y->cur moved against the weeks before day end (z, baseline). */
static bool
moved(Days *y, int64_t k, int64_t end, const MeFaultParams *p, double *z, double *base)
{
	return day_score(y, k, end, p, z, base) && fabs(*z) >= p->shift_min_z &&
		fabs(y->cur[k] / *base - 1.0) >= p->shift_min_rel_change;
}

/*
 * Day k of y->cur moves in direction up against the weeks before day end
 * (the first day of its episode, or k), by half the change a day needs to
 * open one.
 */
static bool
still_moved(Days *y, int64_t k, int64_t end, bool up, const MeFaultParams *p, double *z,
			double *base)
{
	double		rel;

	if (!day_score(y, k, end, p, z, base))
		return false;
	rel = y->cur[k] / *base - 1.0;
	return (rel > 0) == up && fabs(rel) >= p->shift_min_rel_change / 2.0;
}

/*
 * Day k flagged against the weeks before day end: its z and baseline
 * (fleet-adjusted).  With a fleet, the day must have moved against its
 * peers (the full test) and, in the same direction by half the change,
 * against the meter's own history as read: a change the fleet shares (a
 * cold week) is none, and neither is a fleet's change the meter does not
 * share (a home without electric heating in summer).
 */
static bool
shift_flag(Days *y, int64_t k, int64_t end, const MeFaultParams *p, double *z, double *base,
		   double *raw_base)
{
	double		rz;
	bool		flag;

	y->cur = y->val;
	flag = moved(y, k, end, p, z, base);
	*raw_base = *base;
	if (flag && p->n_fleet > 0)
	{
		y->cur = y->raw;
		flag = still_moved(y, k, end, *z > 0, p, &rz, raw_base);
		y->cur = y->val;
	}
	return flag;
}

/*
 * Does day k continue the open episode?  Judged against the level before
 * the episode, with hysteresis: it still moves in the episode's direction
 * by half the change a day needs to open one (as read and against the
 * fleet), so a persistent shift is not cut in pieces by the days its
 * household's weekly pattern brings nearer.
 */
static bool
shift_holds(const Shift *sh, Days *y, int64_t k, const MeFaultParams *p, double *z, double *base,
			double *raw_base)
{
	double		rz;
	bool		up = sh->f.score > 0;
	bool		holds;

	y->cur = y->val;
	holds = still_moved(y, k, sh->first, up, p, z, base);
	*raw_base = *base;
	if (holds && p->n_fleet > 0)
	{
		y->cur = y->raw;
		holds = still_moved(y, k, sh->first, up, p, &rz, raw_base);
		y->cur = y->val;
	}
	return holds;
}

/*
 * Flag level-shift days of y and merge adjacent same-sign days into
 * episodes, judging the days of an open episode against the level before it.
 */
static int
shift_scan(Days *y, const MeFaultParams *p, FBuf *fb)
{
	Shift		sh;
	int			rc = ME_SERIES_OK;

	memset(&sh, 0, sizeof(sh));
	for (int64_t k = 0; k < y->nd && rc == ME_SERIES_OK; k++)
	{
		double		z = 0.0,
					base = 0.0,
					rbase = 0.0;
		bool		flag;

		if (!y->ok[k])
			continue;
		flag = sh.open ? shift_holds(&sh, y, k, p, &z, &base, &rbase) :
			shift_flag(y, k, k, p, &z, &base, &rbase);
		if (sh.open && !flag)
		{
			rc = shift_close(&sh, y, false, p, fb);
			/* the day that ended it may start one of its own */
			flag = shift_flag(y, k, k, p, &z, &base, &rbase);
		}
		if (flag)
			shift_add(&sh, y, k, base, rbase, z);
	}
	if (sh.open && rc == ME_SERIES_OK)
		rc = shift_close(&sh, y, true, p, fb);
	return rc;
}

/* Level shift from the readings. */
static int
detect_shift(const FData *d, int64_t from, int64_t to, const MeFaultParams *p,
			 MeLocal *lc, FBuf *fb)
{
	Days		y;
	int			rc;

	if (d->m == 0)
		return ME_SERIES_OK;
	rc = days_build(d, from, to, p, lc, &y);
	if (rc == ME_SERIES_OK)
		rc = shift_scan(&y, p, fb);
	days_free(&y);
	return rc;
}

/* Append one offline episode over slots [e0, e1] of the grid. */
static int
push_offline(const uint8_t *has, int64_t k0, size_t e0, size_t e1,
			 const MeFaultParams *p, FBuf *fb)
{
	MeFault		f;
	size_t		s,
				run = 0,
				longest = 0;

	while (e0 <= e1 && has[e0])
		e0++;
	while (e1 > e0 && has[e1])
		e1--;
	if (e0 > e1)
		return ME_SERIES_OK;
	memset(&f, 0, sizeof(f));
	for (s = e0; s <= e1; s++)
	{
		run = has[s] ? 0 : run + 1;
		longest = run > longest ? run : longest;
		f.n += !has[s];
	}
	f.kind = ME_FAULT_OFFLINE;
	f.start_ts = (k0 + (int64_t) e0) * p->interval_us;
	f.end_ts = (k0 + (int64_t) e1 + 1) * p->interval_us;
	f.baseline = (double) (e1 - e0 + 1);
	f.value = (double) f.n / f.baseline;
	f.score = (double) longest * (double) p->interval_us / (double) ME_USECS_PER_HOUR;
	return push_fault(fb, &f);
}

/* Mark (in gap) the slots of missing runs at least len slots long. */
static void
mark_long_gaps(const uint8_t *has, uint8_t *gap, size_t ns, size_t len)
{
	size_t		s = 0,
				e;

	while (s < ns)
	{
		if (has[s])
		{
			s++;
			continue;
		}
		for (e = s; e < ns && !has[e]; e++)
			;
		if (e - s >= len)
			memset(gap + s, 1, e - s);
		s = e;
	}
}

/* Slot s is missing outside the long gaps. */
static inline bool
sparse_miss(const uint8_t *has, const uint8_t *gap, size_t s)
{
	return !has[s] && !gap[s];
}

/*
 * First slot in [r0, r1) missing outside long gaps whose next sub slots
 * (long-gap slots not counted) are at least frac missing; r1 if none.
 * Sliding counts, O(r1 - r0 + sub).
 */
static size_t
first_dense(const uint8_t *has, const uint8_t *gap, size_t ns, size_t r0, size_t r1,
			size_t sub, double frac)
{
	size_t		s,
				e = r0,
				valid = 0,
				miss = 0;

	for (s = r0; s < r1; s++)
	{
		for (; e < s + sub && e < ns; e++)
			if (!gap[e])
			{
				valid++;
				miss += !has[e];
			}
		if (sparse_miss(has, gap, s) && (double) miss >= frac * (double) valid)
			return s;
		if (!gap[s])
		{
			valid--;
			miss -= !has[s];
		}
	}
	return r1;
}

/* Mirror of first_dense: last such slot in [r0, r1) looking back; r0 - 1 if none. */
static ptrdiff_t
last_dense(const uint8_t *has, const uint8_t *gap, size_t r0, size_t r1, size_t sub,
		   double frac)
{
	ptrdiff_t	s,
				e = (ptrdiff_t) r1 - 1;
	size_t		valid = 0,
				miss = 0;

	for (s = (ptrdiff_t) r1 - 1; s >= (ptrdiff_t) r0; s--)
	{
		for (; e > s - (ptrdiff_t) sub && e >= 0; e--)
			if (!gap[e])
			{
				valid++;
				miss += !has[e];
			}
		if (sparse_miss(has, gap, (size_t) s) && (double) miss >= frac * (double) valid)
			return s;
		if (!gap[s])
		{
			valid--;
			miss -= !has[s];
		}
	}
	return (ptrdiff_t) r0 - 1;
}

/* Add (dir 1) or remove (dir -1) slot s from counts outside long gaps. */
static inline void
count_slot(const uint8_t *has, const uint8_t *gap, size_t s, int dir,
		   size_t *valid, size_t *miss)
{
	if (gap[s])
		return;
	*valid += (size_t) (ptrdiff_t) dir;
	if (!has[s])
		*miss += (size_t) (ptrdiff_t) dir;
}

/* Flag a union of sparse windows after trimming its thin edges. */
static void
flag_sparse_region(const uint8_t *has, const uint8_t *gap, uint8_t *flag, size_t ns,
				   size_t r0, size_t r1, size_t sub, double frac)
{
	size_t		a = first_dense(has, gap, ns, r0, r1, sub, frac);
	ptrdiff_t	b = last_dense(has, gap, r0, r1, sub, frac);

	if ((ptrdiff_t) a <= b)
		memset(flag + a, 1, (size_t) b - a + 1);
}

/*
 * Flag slots of windows of len slots in which at least frac of the slots
 * outside long gaps are missing (and at least half the window is outside
 * them); each union of such windows is trimmed to where the missing
 * readings are dense (sub-windows of len / 4), so a stray dropout next to
 * a sparse period does not stretch it.
 */
static void
mark_sparse(const uint8_t *has, const uint8_t *gap, uint8_t *flag, size_t ns,
			size_t len, double frac)
{
	size_t		s,
				valid = 0,
				miss = 0,
				until = 0,
				r0 = 0,
				sub = len / 4 > 0 ? len / 4 : 1;
	bool		in_region = false;

	if (len > ns)
		return;
	for (s = 0; s < len; s++)
		count_slot(has, gap, s, 1, &valid, &miss);
	for (s = 0; s <= ns; s++)
	{
		if (s > 0 && s + len <= ns)
		{
			count_slot(has, gap, s - 1, -1, &valid, &miss);
			count_slot(has, gap, s + len - 1, 1, &valid, &miss);
		}
		if (s + len <= ns && 2 * valid >= len && miss > 0 &&
			(double) miss >= frac * (double) valid)
		{
			if (!in_region)
				r0 = s;
			in_region = true;
			until = s + len;
		}
		if (in_region && (s == ns || s >= until))
		{
			flag_sparse_region(has, gap, flag, ns, r0, until, sub, frac);
			in_region = false;
		}
	}
}

/*
 * One allocation of 3 * ns bytes: has[] (slot has a reading; a reading
 * marks the slot it starts in), then zeroed gap[] and flag[].
 */
static uint8_t *
presence(const FData *d, int64_t k0, size_t ns, int64_t interval)
{
	uint8_t    *has = me_alloc(3 * ns);
	size_t		r;

	if (has == NULL)
		return NULL;
	memset(has, 0, 3 * ns);
	for (r = 0; r < d->m; r++)
	{
		int64_t		k = me_floor_div(d->ts[r], interval) - k0;

		if (k >= 0 && (uint64_t) k < ns)
			has[k] = 1;
	}
	return has;
}

/* Offline episodes on the slot grid of [from, to). */
static int
detect_offline(const FData *d, int64_t from, int64_t to, const MeFaultParams *p, FBuf *fb)
{
	int64_t		k0;
	size_t		ns,
				s,
				len = (size_t) (p->offline_window_us / p->interval_us);
	uint8_t    *has,
			   *gap,
			   *flag;
	int			rc;

	if ((rc = series_grid(from, to, p->interval_us, &k0, &ns)) != ME_SERIES_OK || ns == 0)
		return rc;
	if ((has = presence(d, k0, ns, p->interval_us)) == NULL)
		return ME_SERIES_ENOMEM;
	gap = has + ns;
	flag = gap + ns;
	mark_long_gaps(has, gap, ns, (size_t) series_ceil_div(p->offline_gap_us, p->interval_us));
	memcpy(flag, gap, ns);
	/*
	 * Missing slots still open at the end of the grid may be the start of
	 * an outage that goes on: they do not count as sparse data (which would
	 * merge them with gaps before them), they are an episode once long
	 * enough, whatever comes after.
	 */
	for (s = ns; s > 0 && !has[s - 1]; s--)
		gap[s - 1] = 1;
	mark_sparse(has, gap, flag, ns, len, p->offline_min_missing);
	for (s = 0; s < ns && rc == ME_SERIES_OK;)
	{
		size_t		e;

		if (!flag[s])
		{
			s++;
			continue;
		}
		for (e = s; e + 1 < ns && flag[e + 1]; e++)
			;
		rc = push_offline(has, k0, s, e, p, fb);
		s = e + 1;
	}
	me_free(has);
	return rc;
}

/* Order faults by start, then kind (qsort comparator, also used by the glue). */
int
series_fault_cmp(const void *a, const void *b)
{
	const MeFault *x = a;
	const MeFault *y = b;

	if (x->start_ts != y->start_ts)
		return x->start_ts < y->start_ts ? -1 : 1;
	return (int) x->kind - (int) y->kind;
}

/*
 * Run the detectors selected by p->kinds over [from_ts, to_ts); the list
 * is allocated here and released with series_fault_list_free.
 */
int
series_detect_faults(const MeSeries *in, int64_t from_ts, int64_t to_ts,
					 const MeFaultParams *p, MeFaultList *out)
{
	FData		d;
	FBuf		fb;
	MeLocal		lc;
	int			rc;

	if (out == NULL)
		return ME_SERIES_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((rc = check_params(p, from_ts, to_ts)) != ME_SERIES_OK)
		return rc;
	if (in == NULL || (in->n > 0 && in->ts == NULL))
		return ME_SERIES_EINVAL;
	if ((rc = series_check_input(in, NULL)) != ME_SERIES_OK)
		return rc;
	fb.list = out;
	fb.cap = 0;
	series_local_init(&lc, p->zone);
	rc = fdata_build(in, from_ts, to_ts, &lc, &d);
	if (rc == ME_SERIES_OK &&
		(p->kinds & ((1u << ME_FAULT_STUCK_ZERO) | (1u << ME_FAULT_FLATLINE))))
		rc = detect_all_runs(&d, p, &fb);
	if (rc == ME_SERIES_OK && (p->kinds & ME_FAULT_SHIFT_KINDS))
		rc = detect_shift(&d, from_ts, to_ts, p, &lc, &fb);
	if (rc == ME_SERIES_OK && (p->kinds & (1u << ME_FAULT_OFFLINE)))
		rc = detect_offline(&d, from_ts, to_ts, p, &fb);
	fdata_free(&d);
	if (rc != ME_SERIES_OK)
	{
		series_fault_list_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(MeFault), series_fault_cmp);
	return ME_SERIES_OK;
}

/* Release a fault list. */
void
series_fault_list_free(MeFaultList *l)
{
	if (l == NULL)
		return;
	me_free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* ------------------------------------------------------------ stored days */

/*
 * Per local day (from p->zone) with at least one present reading in
 * [from_ts, to_ts): its sum of kW and reading count, ascending.  These are
 * what level-shift detection needs from a day, so a caller can keep them
 * (meter_etl.meter_day) and judge new days against weeks of history
 * without reading the history again: series_level_shift_days on stored
 * days gives the same episodes as series_detect_faults on the readings.
 * *days is allocated here (NULL if none) and released with series_days_free.
 */
int
series_days(const MeSeries *in, int64_t from_ts, int64_t to_ts, const MeFaultParams *p,
			MeDay **days, size_t *n_days)
{
	MeLocal		lc;
	MeDay	   *out = NULL;
	size_t		cap = 0,
				n = 0,
				i;
	int			rc;

	if (days == NULL || n_days == NULL)
		return ME_SERIES_EINVAL;
	*days = NULL;
	*n_days = 0;
	if ((rc = check_params(p, from_ts, to_ts)) != ME_SERIES_OK)
		return rc;
	if (in == NULL || (in->n > 0 && in->ts == NULL))
		return ME_SERIES_EINVAL;
	if ((rc = series_check_input(in, NULL)) != ME_SERIES_OK)
		return rc;
	series_local_init(&lc, p->zone);
	for (i = 0; i < in->n; i++)
	{
		int64_t		day;
		MeDay	   *dy = NULL;
		size_t		j;

		if (!series_present(in, i) || in->ts[i] < from_ts || in->ts[i] >= to_ts)
			continue;
		day = me_floor_div(series_to_local(&lc, in->ts[i]), ME_USECS_PER_DAY);
		/* local time steps back an hour at most, so look back a little */
		for (j = n; j > 0 && j + 2 > n; j--)
			if (out[j - 1].day == day)
			{
				dy = &out[j - 1];
				break;
			}
		if (dy == NULL)
		{
			if ((rc = series_reserve((void **) &out, &cap, n + 1, sizeof(MeDay))) != ME_SERIES_OK)
			{
				me_free(out);
				return rc;
			}
			/* keep ascending: a repeated hour can revisit only the previous day */
			for (j = n; j > 0 && out[j - 1].day > day; j--)
				out[j] = out[j - 1];
			dy = &out[j];
			n++;
			memset(dy, 0, sizeof(*dy));
			dy->day = day;
			dy->start_ts = series_day_start(&lc, day);
			dy->end_ts = series_day_start(&lc, day + 1);
		}
		dy->kw_sum += in->kw[i];
		dy->n++;
	}
	*days = out;
	*n_days = n;
	return ME_SERIES_OK;
}

/*
 * Level-shift episodes over [from_ts, to_ts) from per-day sums (ascending
 * and unique by day; missing days are simply absent), with the rules of
 * series_detect_faults: only p's level-shift parameters, interval_us and
 * zone are used.  Day starts are recomputed from the zone.
 */
int
series_level_shift_days(const MeDay *days, size_t n_days, int64_t from_ts, int64_t to_ts,
						const MeFaultParams *p, MeFaultList *out)
{
	MeLocal		lc;
	FBuf		fb;
	Days		y;
	int64_t		d0,
				d1,
				lo,
				hi;
	int64_t    *cnt;
	size_t		i;
	int			rc;

	if (out == NULL)
		return ME_SERIES_EINVAL;
	memset(out, 0, sizeof(*out));
	if ((rc = check_params(p, from_ts, to_ts)) != ME_SERIES_OK)
		return rc;
	if (n_days > 0 && days == NULL)
		return ME_SERIES_EINVAL;
	for (i = 0; i < n_days; i++)
		if (!isfinite(days[i].kw_sum) || days[i].n < 0 ||
			(i > 0 && days[i].day <= days[i - 1].day))
			return i > 0 && days[i].day <= days[i - 1].day ? ME_SERIES_EORDER :
				days[i].n < 0 ? ME_SERIES_EINVAL : ME_SERIES_ENONFINITE;
	series_local_init(&lc, p->zone);
	/* days that can touch the range: one either side for local offsets */
	lo = me_floor_div(series_to_local(&lc, from_ts), ME_USECS_PER_DAY) - 1;
	hi = me_floor_div(series_to_local(&lc, to_ts), ME_USECS_PER_DAY) + 1;
	d0 = INT64_MAX;
	d1 = INT64_MIN;
	for (i = 0; i < n_days; i++)
		if (days[i].n > 0 && days[i].day >= lo && days[i].day <= hi)
		{
			d0 = days[i].day < d0 ? days[i].day : d0;
			d1 = days[i].day > d1 ? days[i].day : d1;
		}
	if (d0 > d1)
		return ME_SERIES_OK;
	if ((rc = days_alloc_span(&y, d0, d1, p)) != ME_SERIES_OK ||
		(cnt = me_alloc(y.nd * sizeof(int64_t))) == NULL)
	{
		days_free(&y);
		return ME_SERIES_ENOMEM;
	}
	memset(y.val, 0, y.nd * sizeof(double));
	memset(cnt, 0, y.nd * sizeof(int64_t));
	for (i = 0; i < n_days; i++)
		if (days[i].n > 0 && days[i].day >= d0 && days[i].day <= d1)
		{
			y.val[days[i].day - d0] = days[i].kw_sum;
			cnt[days[i].day - d0] = days[i].n;
		}
	days_finish(&y, d0, cnt, from_ts, to_ts, p, &lc);
	me_free(cnt);
	fb.list = out;
	fb.cap = 0;
	rc = shift_scan(&y, p, &fb);
	days_free(&y);
	if (rc != ME_SERIES_OK)
		series_fault_list_free(out);
	return rc;
}

/* Release what series_days allocated. */
void
series_days_free(MeDay *days)
{
	me_free(days);
}
