/*
 * tzconv.c - local wall-clock time to UTC (pure C; see tzconv.h)
 *
 * For a local time L the candidate offsets are the ones in force a day
 * before and a day after L (no real zone changes offset twice within two
 * days).  A candidate o is right when the offset in force at L - o is o
 * itself.  Two right candidates mean the hour is repeated (fall back), none
 * means it was skipped (spring forward).
 */
#include <string.h>

#include "core/me_time.h"
#include "tzconv.h"

/* gmtoff callback over a MeZoneTable: the last change at or before the instant. */
int32_t
me_zone_table_offset(void *table, int64_t unix_secs)
{
	const MeZoneTable *t = table;
	int			lo = 0,
				hi = t->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (t->at[mid] <= unix_secs)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? t->initial_offset_s : t->offset_s[lo - 1];
}

/* Set up a zone with a constant offset (UTC, or "+10:00" market time). */
void
me_zone_init_fixed(MeZone *zone, int32_t offset_s)
{
	memset(zone, 0, sizeof(*zone));
	zone->gmtoff = NULL;
	zone->fixed_offset_s = offset_s;
}

/* Set up a zone whose rules come from a callback. */
void
me_zone_init(MeZone *zone, me_gmtoff_fn gmtoff, void *ctx)
{
	int			i;

	memset(zone, 0, sizeof(*zone));
	zone->gmtoff = gmtoff;
	zone->ctx = ctx;
	for (i = 0; i < ME_TZ_CACHE_SIZE; i++)
		zone->cache[i].hour = INT64_MIN;
}

/* Ask the callback, counting calls. */
static int32_t
zone_offset(MeZone *zone, int64_t unix_secs)
{
	zone->callbacks++;
	return zone->gmtoff(zone->ctx, unix_secs);
}

/* Resolve one local second-resolution instant without the cache. */
static MeLocalStatus
resolve_local(MeZone *zone, int64_t local_s, int32_t *off_first, int32_t *off_second)
{
	int32_t		before = zone_offset(zone, local_s - 86400);
	int32_t		after = zone_offset(zone, local_s + 86400);
	bool		before_ok = zone_offset(zone, local_s - before) == before;
	bool		after_ok = before == after ? before_ok :
		zone_offset(zone, local_s - after) == after;

	if (before_ok && after_ok && before != after)
	{
		/* the earlier instant uses the larger offset */
		*off_first = before > after ? before : after;
		*off_second = before > after ? after : before;
		return ME_LOCAL_AMBIGUOUS;
	}
	if (before_ok || after_ok)
	{
		*off_first = *off_second = before_ok ? before : after;
		return ME_LOCAL_OK;
	}
	return ME_LOCAL_NONEXISTENT;
}

/*
 * Convert a local time to UTC.  For an ambiguous time both instants are
 * returned, earlier first; the caller decides which one the file meant.
 */
MeLocalStatus
me_local_to_utc(MeZone *zone, int64_t local_us, int64_t *utc_first, int64_t *utc_second)
{
	int64_t		local_s;
	int64_t		hour;
	MeTzCacheEntry *e;
	int32_t		o1,
				o2;
	MeLocalStatus st;

	if (zone->gmtoff == NULL)
	{
		*utc_first = *utc_second = local_us - (int64_t) zone->fixed_offset_s * ME_USECS_PER_SEC;
		return ME_LOCAL_OK;
	}
	local_s = me_floor_div(local_us, ME_USECS_PER_SEC) + (int64_t) ME_UNIX_TO_PG_DAYS * 86400;
	hour = me_floor_div(local_s, 3600);
	e = &zone->cache[(uint64_t) hour % ME_TZ_CACHE_SIZE];
	if (e->hour == hour)
	{
		*utc_first = *utc_second = local_us - (int64_t) e->offset_s * ME_USECS_PER_SEC;
		return ME_LOCAL_OK;
	}
	st = resolve_local(zone, local_s, &o1, &o2);
	if (st == ME_LOCAL_OK)
	{
		int32_t		a1,
					a2,
					b1,
					b2;

		/* cache the hour only if its first and last second agree */
		if (resolve_local(zone, hour * 3600, &a1, &a2) == ME_LOCAL_OK &&
			resolve_local(zone, hour * 3600 + 3599, &b1, &b2) == ME_LOCAL_OK &&
			a1 == o1 && b1 == o1)
		{
			e->hour = hour;
			e->offset_s = o1;
		}
	}
	if (st == ME_LOCAL_NONEXISTENT)
		return st;
	*utc_first = local_us - (int64_t) o1 * ME_USECS_PER_SEC;
	*utc_second = local_us - (int64_t) o2 * ME_USECS_PER_SEC;
	return st;
}
