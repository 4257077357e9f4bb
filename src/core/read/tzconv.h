/*
 * tzconv.h - local wall-clock time to UTC, with DST gaps and overlaps
 *
 * Pure C: the zone rules come from a callback that answers "what offset is
 * in force at this UTC instant" (PostgreSQL's tz database in the server, a
 * hand-written rule in the unit tests).  Answers are cached per local hour,
 * so a file of readings costs a handful of callback calls per hour of data
 * instead of a full time-zone computation per row.
 */
#ifndef ME_TZCONV_H
#define ME_TZCONV_H

#include <stdbool.h>
#include <stdint.h>

/* Offset in seconds east of UTC in force at unix_secs (a UTC instant). */
typedef int32_t (*me_gmtoff_fn) (void *ctx, int64_t unix_secs);

typedef enum MeLocalStatus
{
	ME_LOCAL_OK = 0,			/* exactly one UTC instant */
	ME_LOCAL_AMBIGUOUS,			/* repeated hour: two instants */
	ME_LOCAL_NONEXISTENT		/* skipped hour: no instant */
} MeLocalStatus;

#define ME_TZ_CACHE_SIZE 256

typedef struct MeTzCacheEntry
{
	int64_t		hour;			/* local hour number, or INT64_MIN if empty */
	int32_t		offset_s;		/* uniform offset for the whole hour */
} MeTzCacheEntry;

typedef struct MeZone
{
	me_gmtoff_fn gmtoff;		/* NULL for a fixed offset */
	void	   *ctx;
	int32_t		fixed_offset_s;
	MeTzCacheEntry cache[ME_TZ_CACHE_SIZE];
	uint64_t	callbacks;		/* callback calls, for tests */
} MeZone;

/*
 * A zone as a table of offset changes, built once from the tz database by
 * the glue: lookups are pure and read-only, so a zone can be used from a
 * parser thread while the backend itself goes on.
 */
typedef struct MeZoneTable
{
	int32_t		initial_offset_s;	/* before the first change */
	int			n;
	const int64_t *at;			/* unix seconds of each change, ascending */
	const int32_t *offset_s;	/* offset in force from at[i] on */
} MeZoneTable;

extern int32_t me_zone_table_offset(void *table, int64_t unix_secs);
extern void me_zone_init_fixed(MeZone *zone, int32_t offset_s);
extern void me_zone_init(MeZone *zone, me_gmtoff_fn gmtoff, void *ctx);
extern MeLocalStatus me_local_to_utc(MeZone *zone, int64_t local_us,
									 int64_t *utc_first, int64_t *utc_second);

#endif							/* ME_TZCONV_H */
