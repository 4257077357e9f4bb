/*
 * detect_fleet.c - the fleet's daily level, the context of level shift
 *
 * A household's day is judged against its own history and against its
 * peers: meter_etl.fleet_levels() (src/sql/10_detect.sql) gives, per
 * channel, time zone and local day, the median over meters of the day's
 * energy divided by the meter's usual day.  Level shift divides each day
 * of a series by the level of its channel and zone (MeFaultParams.fleet),
 * so a cold week or a holiday the whole fleet shares moves no meter.
 * detect_faulty_meters() computes the levels for its window; detect()
 * keeps them in meter_etl.fleet_day for the days it detects (a day's level
 * is made of every reading of that day and of the 28 before, so it is the
 * same whichever run computes it) and reads them back here.  Loaded once
 * per call; a few hundred days per group.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "detect.h"

/* The levels of one channel in one time zone, ascending by day. */
typedef struct FleetGroup
{
	int16		channel_id;
	MeZone	   *zone;
	MeFleetDay *days;
	size_t		n;
} FleetGroup;

struct MeDetFleet
{
	FleetGroup *groups;
	int			ngroups;
};

static MeDetFleet *fleet_read(MeDetCatalog *cat, TimestampTz from, TimestampTz to,
							  TimestampTz stored_before, int min_meters, const char *sql);

/* The channel id of a channel name, or -1. */
static int
channel_id_of(const MeDetCatalog *cat, const char *name)
{
	for (int i = 0; i < cat->nchannels; i++)
		if (cat->channels[i] != NULL && strcmp(cat->channels[i], name) == 0)
			return i;
	return -1;
}

/* The group of (channel, zone), appended if new (rows come grouped). */
static FleetGroup *
fleet_group(MeDetFleet *f, int16 channel_id, MeZone *zone, size_t cap_days)
{
	FleetGroup *g;

	if (f->ngroups > 0)
	{
		g = &f->groups[f->ngroups - 1];
		if (g->channel_id == channel_id && g->zone == zone)
			return g;
	}
	f->groups = f->groups ? repalloc(f->groups, sizeof(FleetGroup) * (f->ngroups + 1)) :
		palloc(sizeof(FleetGroup));
	g = &f->groups[f->ngroups++];
	g->channel_id = channel_id;
	g->zone = zone;
	g->days = palloc(sizeof(MeFleetDay) * cap_days);
	g->n = 0;
	return g;
}

/*
 * The fleet's levels for local days in [from, to): days before
 * stored_before from meter_etl.meter_day, the rest from the readings
 * (stored_before = from: all from the readings).  NULL when min_meters is
 * 0 (no fleet context).  Allocated in the current memory context, which
 * must outlive the SPI call's results (the caller is inside SPI).
 */
MeDetFleet *
me_det_fleet_load(MeDetCatalog *cat, TimestampTz from, TimestampTz to,
				  TimestampTz stored_before, int min_meters)
{
	return fleet_read(cat, from, to, stored_before, min_meters,
					  "SELECT channel, time_zone, (day - date '2000-01-01')::bigint, level"
					  " FROM meter_etl.fleet_levels($1, $2, $3, $4)");
}

/*
 * The levels detect() kept in meter_etl.fleet_day for local days around
 * [from, to) (a day either side for the zones' offsets).
 */
MeDetFleet *
me_det_fleet_stored(MeDetCatalog *cat, TimestampTz from, TimestampTz to, int min_meters)
{
	return fleet_read(cat, from, to, from, min_meters,
					  "SELECT c.name, f.time_zone, (f.day - date '2000-01-01')::bigint, f.level"
					  " FROM meter_etl.fleet_day f JOIN meter_etl.channel c ON c.channel_id = f.channel_id"
					  " WHERE f.day >= ($1 AT TIME ZONE 'UTC')::date - 1"
					  " AND f.day <= ($2 AT TIME ZONE 'UTC')::date + 1 AND f.meters >= $4"
					  " AND $3 IS NOT NULL ORDER BY 1, 2, 3");
}

/* Run sql ($1..$4 = from, to, stored_before, min_meters) into the groups. */
static MeDetFleet *
fleet_read(MeDetCatalog *cat, TimestampTz from, TimestampTz to,
		   TimestampTz stored_before, int min_meters, const char *sql)
{
	Oid			types[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[4];
	MeDetFleet *f;
	MemoryContext cxt = CurrentMemoryContext;

	if (min_meters <= 0)
		return NULL;
	args[0] = TimestampTzGetDatum(from);
	args[1] = TimestampTzGetDatum(to);
	args[2] = TimestampTzGetDatum(stored_before);
	args[3] = Int32GetDatum(min_meters);
	if (SPI_execute_with_args(sql, 4, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the fleet levels");
	f = MemoryContextAllocZero(cxt, sizeof(MeDetFleet));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *channel = SPI_getvalue(tup, desc, 1);
		char	   *tz = SPI_getvalue(tup, desc, 2);
		bool		isnull;
		int			ch = channel_id_of(cat, channel);
		MemoryContext old;
		FleetGroup *g;

		if (ch < 0)
			continue;			/* a channel no series in scope has */
		old = MemoryContextSwitchTo(cxt);
		g = fleet_group(f, (int16) ch, me_det_zone(cat, tz), SPI_processed - r);
		g->days[g->n].day = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		g->days[g->n].level = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
		g->n++;
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);
	return f;
}

/* Give p the levels of s's channel and zone (none: no fleet context). */
void
me_det_fleet_params(const MeDetFleet *f, const MeDetSeries *s, MeFaultParams *p)
{
	p->fleet = NULL;
	p->n_fleet = 0;
	if (f == NULL)
		return;
	for (int i = 0; i < f->ngroups; i++)
		if (f->groups[i].channel_id == s->channel_id && f->groups[i].zone == s->meter->zone)
		{
			p->fleet = f->groups[i].days;
			p->n_fleet = f->groups[i].n;
			return;
		}
}
