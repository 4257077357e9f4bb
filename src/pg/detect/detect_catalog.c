/*
 * detect_catalog.c - the meters and channels a detection call covers
 *
 * One query loads the meters in scope (not one per meter) with their
 * intervals and time zones, and the channel names; a list of meters is
 * planned as one range of keys when that costs little
 * (me_det_plan_key_range), so the reader can scan it like the whole store.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "detect.h"
#include "pg/meter_etl.h"

typedef struct ZoneEntry
{
	char		name[NAMEDATALEN * 2];	/* hash key */
	MeZone		zone;
} ZoneEntry;

/* A MeZone for a zone name, set up once per call. */
MeZone *
me_det_zone(MeDetCatalog *cat, const char *name)
{
	char		key[NAMEDATALEN * 2];
	ZoneEntry  *z;
	bool		found;

	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	z = hash_search(cat->zones, key, HASH_ENTER, &found);
	if (!found && !me_zone_setup(&z->zone, name))
	{
		hash_search(cat->zones, key, HASH_REMOVE, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name)));
	}
	return &z->zone;
}

/* Report the first meter id of ids that is not in meter_etl.meter. */
static void
check_unknown_meters(Datum ids)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1] = {ids};

	if (SPI_execute_with_args("SELECT u.id FROM unnest($1) AS u(id)"
							  " WHERE u.id IS NULL OR NOT EXISTS"
							  " (SELECT 1 FROM meter_etl.meter m WHERE m.meter_id = u.id) LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up meters");
	if (SPI_processed > 0)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("meters must not contain nulls")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("meter \"%s\" does not exist", id),
				 errhint("Meter ids are the ones in meter_etl.meter.meter_id.")));
	}
}

/*
 * Load the meters in scope (all, by id, or by key) and the channel names
 * with one query each.  The caller is connected to SPI; everything lives
 * in the current memory context.
 */
void
me_det_catalog_load(MeDetCatalog *cat, ArrayType *meter_ids, ArrayType *meter_keys)
{
	HASHCTL		ctl;
	Oid			argtypes[1];
	Datum		args[1];
	const char *sql;
	int			nargs = 0;
	MemoryContext cxt = CurrentMemoryContext;
	Datum	   *keys;
	int			nkeys = 0;

	memset(cat, 0, sizeof(*cat));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(MeDetMeter);
	ctl.hcxt = cxt;
	cat->meters = hash_create("meter_etl detect meters", 1024, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = NAMEDATALEN * 2;
	ctl.entrysize = sizeof(ZoneEntry);
	cat->zones = hash_create("meter_etl detect zones", 16, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cat->max_interval_us = 0;

	if (meter_ids != NULL)
	{
		if (ARR_NDIM(meter_ids) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("meters must be a one-dimensional array")));
		check_unknown_meters(PointerGetDatum(meter_ids));
		sql = "SELECT meter_key, meter_id, interval_s, coalesce(time_zone, 'UTC')"
			" FROM meter_etl.meter WHERE meter_id = ANY ($1)";
		argtypes[0] = TEXTARRAYOID;
		args[0] = PointerGetDatum(meter_ids);
		nargs = 1;
	}
	else if (meter_keys != NULL)
	{
		sql = "SELECT meter_key, meter_id, interval_s, coalesce(time_zone, 'UTC')"
			" FROM meter_etl.meter WHERE meter_key = ANY ($1)";
		argtypes[0] = INT4ARRAYOID;
		args[0] = PointerGetDatum(meter_keys);
		nargs = 1;
	}
	else
		sql = "SELECT meter_key, meter_id, interval_s, coalesce(time_zone, 'UTC')"
			" FROM meter_etl.meter";
	if (SPI_execute_with_args(sql, nargs, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.meter");
	keys = palloc(sizeof(Datum) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		key = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		MeDetMeter *m = hash_search(cat->meters, &key, HASH_ENTER, NULL);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		char	   *tz = SPI_getvalue(tup, desc, 4);

		m->meter_id = SPI_getvalue(tup, desc, 2);
		m->interval_s = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		MemoryContextSwitchTo(old);
		m->zone = me_det_zone(cat, tz);
		if ((int64) m->interval_s * USECS_PER_SEC > cat->max_interval_us)
			cat->max_interval_us = (int64) m->interval_s * USECS_PER_SEC;
		keys[nkeys++] = Int32GetDatum(key);
	}
	SPI_freetuptable(SPI_tuptable);
	cat->nmeters = nkeys;
	if (meter_ids != NULL || meter_keys != NULL)
	{
		cat->keys = PointerGetDatum(construct_array(keys, nkeys, INT4OID, 4, true, TYPALIGN_INT));
		me_det_plan_key_range(cat, keys, nkeys);
	}
	if (cat->max_interval_us == 0)
		cat->max_interval_us = 15 * USECS_PER_MINUTE;

	if (SPI_execute("SELECT channel_id, name FROM meter_etl.channel ORDER BY channel_id", true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.channel");
	cat->nchannels = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			id = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		cat->nchannels = Max(cat->nchannels, id + 1);
	}
	cat->channels = palloc0(sizeof(char *) * (cat->nchannels + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			id = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(cxt);

		if (id >= 0)
			cat->channels[id] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* The name of a channel id ("?" if the id is not in meter_etl.channel). */
const char *
me_det_channel_name(const MeDetCatalog *cat, int16 ch)
{
	return (ch >= 0 && ch < cat->nchannels && cat->channels[ch]) ? cat->channels[ch] : "?";
}

/* The meter of a key (readings always have one unless the trigger was bypassed). */
MeDetMeter *
me_det_meter(MeDetCatalog *cat, int32 meter_key)
{
	MeDetMeter *m = hash_search(cat->meters, &meter_key, HASH_FIND, NULL);

	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("readings of meter_key %d have no meter in meter_etl.meter", meter_key),
				 errhint("Rows that bypassed the reading_guard trigger; delete them or add the meter.")));
	return m;
}

/*
 * With a list of meters, the readings are read either by key = ANY (list),
 * one descent of each partition's index per meter, or as the one range of
 * keys from the list's lowest to its highest, skipping the meters in
 * between that were not asked for.  The range wins unless it holds many
 * more meters than the list (the budget of keyruns.c: 2 x plus 16): a whole
 * fleet, or a block of it, is then read like the whole store.
 */
void
me_det_plan_key_range(MeDetCatalog *cat, const Datum *keys, int nkeys)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];
	int32		lo = PG_INT32_MAX,
				hi = PG_INT32_MIN;
	bool		isnull;
	int64		inside;

	if (nkeys == 0)
		return;
	for (int i = 0; i < nkeys; i++)
	{
		lo = Min(lo, DatumGetInt32(keys[i]));
		hi = Max(hi, DatumGetInt32(keys[i]));
	}
	args[0] = Int32GetDatum(lo);
	args[1] = Int32GetDatum(hi);
	if (SPI_execute_with_args("SELECT count(*) FROM meter_etl.meter WHERE meter_key BETWEEN $1 AND $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the meters in a key range");
	inside = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (inside <= 2 * (int64) nkeys + 16)
	{
		cat->key_range = true;
		cat->key_lo = lo;
		cat->key_hi = hi;
	}
}
