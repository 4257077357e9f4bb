/*
 * series.c - input validation, names and helpers shared by the series modules
 *
 * The algorithms live in series_fill.c, series_outlier.c and
 * series_faults.c; this file holds what they have in common: checking that
 * a series is sorted and finite, status and enum names for the glue, the
 * slot grid, growable arrays and UTC/local conversion (series_int.h).
 */
#include <math.h>
#include <string.h>

#include "core/me_alloc.h"
#include "series.h"
#include "series_int.h"

/* Reject NaN/Inf among present values; *bad_index gets the first one. */
int
series_check_finite(const double *v, const bool *present, size_t n, size_t *bad_index)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if ((present == NULL || present[i]) && !isfinite(v[i]))
		{
			if (bad_index)
				*bad_index = i;
			return ME_SERIES_ENONFINITE;
		}
	}
	return ME_SERIES_OK;
}

/* Reject timestamps that are not strictly ascending (ties included). */
int
series_check_order(const int64_t *ts, size_t n, size_t *bad_index)
{
	size_t		i;

	for (i = 1; i < n; i++)
	{
		if (ts[i] <= ts[i - 1])
		{
			if (bad_index)
				*bad_index = i;
			return ME_SERIES_EORDER;
		}
	}
	return ME_SERIES_OK;
}

/* Both checks plus pointer sanity; every entry point calls this first. */
int
series_check_input(const MeSeries *in, size_t *bad_index)
{
	int			rc;

	if (in == NULL || (in->n > 0 && in->kw == NULL))
		return ME_SERIES_EINVAL;
	if (in->ts != NULL && (rc = series_check_order(in->ts, in->n, bad_index)) != ME_SERIES_OK)
		return rc;
	return series_check_finite(in->kw, in->present, in->n, bad_index);
}

/* Message for a status code, for the glue's ereport. */
const char *
series_strerror(int status)
{
	switch (status)
	{
		case ME_SERIES_OK:
			return "success";
		case ME_SERIES_EINVAL:
			return "invalid parameter";
		case ME_SERIES_ENOMEM:
			return "out of memory";
		case ME_SERIES_EORDER:
			return "timestamps are not strictly ascending";
		case ME_SERIES_ENONFINITE:
			return "value is NaN or infinite";
		case ME_SERIES_ERANGE:
			return "time range holds too many intervals";
	}
	return "unknown error";
}

/* Text label of a fill method, as the SRF emits it (NULL for holes). */
const char *
series_fill_method_name(MeFillMethod m)
{
	switch (m)
	{
		case ME_FILL_ACTUAL:
			return "actual";
		case ME_FILL_LINEAR:
			return "linear";
		case ME_FILL_LIKE_DAY:
			return "like_day";
		case ME_FILL_HOLE:
			return NULL;
	}
	return NULL;
}

/* Text label of a gap kind. */
const char *
series_gap_kind_name(MeGapKind k)
{
	switch (k)
	{
		case ME_GAP_LONG:
			return "long";
		case ME_GAP_LEADING:
			return "leading";
		case ME_GAP_TRAILING:
			return "trailing";
		case ME_GAP_NODATA:
			return "no_data";
	}
	return "unknown";
}

/* Text label of a fault kind. */
const char *
series_fault_kind_name(MeFaultKind k)
{
	switch (k)
	{
		case ME_FAULT_STUCK_ZERO:
			return "stuck_zero";
		case ME_FAULT_FLATLINE:
			return "flatline";
		case ME_FAULT_LEVEL_SHIFT:
			return "level_shift";
		case ME_FAULT_OFFLINE:
			return "offline";
		case ME_FAULT_USAGE_ANOMALY:
			return "usage_anomaly";
	}
	return "unknown";
}

/* Grow *buf to hold need elements (doubling), so appends are amortised O(1). */
int
series_reserve(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t		ncap = *cap ? *cap : 16;
	void	   *p;

	if (need <= *cap)
		return ME_SERIES_OK;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		return ME_SERIES_ENOMEM;
	p = me_realloc(*buf, ncap * elem);
	if (p == NULL)
		return ME_SERIES_ENOMEM;
	*buf = p;
	*cap = ncap;
	return ME_SERIES_OK;
}

/* Slots k * interval in [from, to): first k and count, capped for palloc. */
int
series_grid(int64_t from, int64_t to, int64_t interval, int64_t *k0, size_t *nslots)
{
	int64_t		k1;
	int64_t		n;

	if (interval <= 0)
		return ME_SERIES_EINVAL;
	*k0 = series_ceil_div(from, interval);
	k1 = series_ceil_div(to, interval);
	*nslots = 0;
	if (k1 <= *k0)
		return ME_SERIES_OK;
	if (__builtin_sub_overflow(k1, *k0, &n) || (uint64_t) n > ME_SERIES_MAX_SLOTS)
		return ME_SERIES_ERANGE;
	*nslots = (size_t) n;
	return ME_SERIES_OK;
}

/* Set up a UTC-to-local converter over zone (NULL = UTC). */
void
series_local_init(MeLocal *lc, MeZone *zone)
{
	lc->zone = zone;
	lc->hour = INT64_MIN;
	lc->offset_us = 0;
}

/* Offset in force at utc straight from the zone (us east of UTC). */
static int64_t
zone_offset_us(MeZone *zone, int64_t utc)
{
	int64_t		unix_s;

	if (zone->gmtoff == NULL)
		return (int64_t) zone->fixed_offset_s * ME_USECS_PER_SEC;
	unix_s = me_floor_div(utc, ME_USECS_PER_SEC) + (int64_t) ME_UNIX_TO_PG_DAYS * 86400;
	return (int64_t) zone->gmtoff(zone->ctx, unix_s) * ME_USECS_PER_SEC;
}

/*
 * Local wall-clock time of a UTC instant.  An hour whose first and last
 * second have the same offset is cached, so sorted input costs about two
 * callback calls per hour instead of one per reading.
 */
int64_t
series_to_local(MeLocal *lc, int64_t utc)
{
	int64_t		hour;
	int64_t		o1,
				o2;

	if (lc->zone == NULL)
		return utc;
	if (lc->zone->gmtoff == NULL)
		return utc + zone_offset_us(lc->zone, utc);
	hour = me_floor_div(utc, ME_USECS_PER_HOUR);
	if (hour == lc->hour)
		return utc + lc->offset_us;
	o1 = zone_offset_us(lc->zone, hour * ME_USECS_PER_HOUR);
	o2 = zone_offset_us(lc->zone, (hour + 1) * ME_USECS_PER_HOUR - ME_USECS_PER_SEC);
	if (o1 != o2)
		return utc + zone_offset_us(lc->zone, utc);
	lc->hour = hour;
	lc->offset_us = o1;
	return utc + o1;
}

/* UTC instant of a local time; ambiguous times give the earlier instant. */
MeLocalStatus
series_from_local(MeLocal *lc, int64_t local, int64_t *utc)
{
	int64_t		second;

	if (lc->zone == NULL)
	{
		*utc = local;
		return ME_LOCAL_OK;
	}
	return me_local_to_utc(lc->zone, local, utc, &second);
}

/*
 * UTC instant at which local day `day` (days since 2000-01-01) begins.  If
 * local midnight is skipped (zones that spring forward at 00:00) the day
 * begins at the transition, which is midnight minus the previous offset.
 */
int64_t
series_day_start(MeLocal *lc, int64_t day)
{
	int64_t		local = day * ME_USECS_PER_DAY;
	int64_t		utc;

	if (series_from_local(lc, local, &utc) != ME_LOCAL_NONEXISTENT)
		return utc;
	return local - (series_to_local(lc, local - ME_USECS_PER_DAY) -
					(local - ME_USECS_PER_DAY));
}
