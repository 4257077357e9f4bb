/*
 * profile.c - load format profiles and detect a file's format
 *
 * Profiles are rows of meter_etl.format_profile, so users add layouts
 * with INSERT.  This file turns a row into the pure MeProfile struct the
 * reader uses (names normalised the way headers are) and picks the
 * profile whose identifying columns best match a file's header.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "core/read/reader.h"
#include "profile.h"
#include "stage.h"
#include "pg/meter_etl.h"

#define SNIFF_BYTES 65536

/* Column i of the current SPI row as a C string, or NULL. */
static char *
col_str(HeapTuple tup, TupleDesc desc, int i)
{
	return SPI_getvalue(tup, desc, i);
}

/* A normalised copy of a column name (NULL stays NULL). */
static char *
norm(const char *s)
{
	char	   *d;

	if (s == NULL)
		return NULL;
	d = palloc(strlen(s) + 1);
	me_normalize_name(d, s, strlen(s));
	return d;
}

/*
 * A channel name of a profile, normalised; refused when longer than a
 * channel name may be, rather than stored cut short.
 */
static char *
profile_channel(char *s, const char *profile)
{
	char	   *c = norm(s);

	if (c != NULL && strlen(c) > ME_MAX_CHANNEL_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel name \"%s\" in format profile \"%s\" is longer than %d bytes",
						c, profile, ME_MAX_CHANNEL_LEN)));
	return c;
}

/* A text[] column as a C array; NULL elements come back as NULL pointers. */
static char **
col_strarray(HeapTuple tup, TupleDesc desc, int i, int *n, bool normalise)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, i, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = palloc(sizeof(char *) * (*n + 1));
	for (int k = 0; k < *n; k++)
	{
		out[k] = nulls[k] ? NULL : TextDatumGetCString(elems[k]);
		if (normalise && out[k])
			out[k] = norm(out[k]);
	}
	return out;
}

/* Parse a unit name from a profile, refusing unknown ones. */
static MeUnit
profile_unit(const char *s, const char *profile)
{
	MeUnit		u;

	if (s == NULL)
		return ME_UNIT_UNKNOWN;
	u = me_parse_unit(s, strlen(s));
	if (u == ME_UNIT_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized unit \"%s\" in format profile \"%s\"", s, profile),
				 errhint("Use W, kW, MW, Wh, kWh or MWh; energy units are per interval.")));
	return u;
}

/* The detail of an invalid date_format, locating what is wrong. */
static char *
date_pattern_detail(MeDatePatternStatus st, const char *pat, size_t pos, size_t errlen)
{
	static const char *const field[3] = {"day", "month", "year"};

	switch (st)
	{
		case ME_DPAT_EMPTY:
			return pstrdup("The pattern is empty.");
		case ME_DPAT_UNKNOWN:
			return psprintf("\"%.*s\" at position %zu is neither a field nor a separator.",
							(int) errlen, pat + pos, pos + 1);
		case ME_DPAT_EDGE:
			return psprintf("The separator \"%.*s\" at position %zu is at an end of the pattern, which must start and end with a field.",
							(int) errlen, pat + pos, pos + 1);
		case ME_DPAT_DUP_DAY:
		case ME_DPAT_DUP_MONTH:
		case ME_DPAT_DUP_YEAR:
			return psprintf("The %s is named a second time at position %zu.",
							field[st - ME_DPAT_DUP_DAY], pos + 1);
		case ME_DPAT_NO_DAY:
		case ME_DPAT_NO_MONTH:
		case ME_DPAT_NO_YEAR:
			return psprintf("The pattern does not name the %s.", field[st - ME_DPAT_NO_DAY]);
		case ME_DPAT_AMBIGUOUS:
			return psprintf("\"%.*s\" at position %zu directly follows a one- or two-digit field, so the digits of the two could not be told apart.",
							(int) errlen, pat + pos, pos + 1);
		case ME_DPAT_OK:
			break;
	}
	elog(ERROR, "unexpected date pattern status %d", (int) st);
	return NULL;				/* keep compiler quiet */
}

/*
 * Compile a profile's date_format (NULL: dates are read by date_order),
 * refusing a pattern the reader could not follow rather than quarantining
 * every line of the first file.
 */
static char *
profile_date_pattern(const char *pat, const char *profile)
{
	size_t		len,
				pos,
				errlen;
	char	   *ops;
	MeDatePatternStatus st;

	if (pat == NULL)
		return NULL;
	len = strlen(pat);
	ops = palloc(len + 1);
	st = me_date_pattern_compile(pat, len, ops, &pos, &errlen);
	if (st != ME_DPAT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid date_format \"%s\" in format profile \"%s\"", pat, profile),
				 errdetail("%s", date_pattern_detail(st, pat, pos, errlen)),
				 errhint("Write the day as DD or D, the month as MM, M, MON or MONTH and the year as YYYY, separated by \"-\", \"/\", \".\", \",\" or a space, e.g. DD/MON/YYYY; or set date_format to NULL to read dates by date_order.")));
	return ops;
}

/* Load channel_map: {"raw label": "channel" or "channel:unit"}. */
static void
load_channel_map(MeProfile *p, const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	if (SPI_execute_with_args("SELECT m.key, m.value FROM meter_etl.format_profile f,"
							  " jsonb_each_text(f.channel_map) m WHERE f.name = $1 ORDER BY m.key",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read channel_map");
	p->nchannel_map = (int) SPI_processed;
	p->channel_map = palloc0(sizeof(MeChannelMap) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MeChannelMap *m = &p->channel_map[i];
		char	   *val = col_str(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *colon = strchr(val, ':');

		m->from = col_str(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		if (colon)
		{
			*colon = '\0';
			m->unit = profile_unit(colon + 1, name);
		}
		m->channel = profile_channel(val, name);
	}
}

/* Read a profile row into a MeProfile. */
MeLoadedProfile *
me_load_profile(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	MeLoadedProfile *lp = palloc0(sizeof(MeLoadedProfile));
	MeProfile  *p = &lp->p;
	HeapTuple	t;
	TupleDesc	d;
	char	   *s;
	char	  **units;
	char	  **chans;
	int			nunits,
				nchans;

	/*
	 * date_format came with 0.2: read through to_jsonb so that this library
	 * also serves a 0.1 schema until ALTER EXTENSION meter_etl UPDATE (no
	 * column there: NULL, dates read by date_order as before).
	 */
	if (SPI_execute_with_args("SELECT layout, delimiter::text, quote::text, detect_columns,"
							  " meter_column, meter_default, channel_column, channel_default,"
							  " ts_column, date_column, time_column, date_order, time_zone, ts_marks,"
							  " newest_first::text, value_columns, value_channels, value_units,"
							  " unit_column, unit_default, interval_minutes::text, missing_markers,"
							  " estimated_column, estimated_values, signed_channels,"
							  " pg_catalog.to_jsonb(f) OPERATOR(pg_catalog.->>) 'date_format'"
							  " FROM meter_etl.format_profile f WHERE name = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read format profile");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("format profile \"%s\" does not exist", name),
				 errhint("See meter_etl.format_profile for the available formats, or use 'auto'.")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	p->name = pstrdup(name);
	s = col_str(t, d, 1);
	p->layout = strcmp(s, "wide") == 0 ? ME_LAYOUT_WIDE :
		strcmp(s, "nem12") == 0 ? ME_LAYOUT_NEM12 : ME_LAYOUT_LONG;
	p->delimiter = col_str(t, d, 2)[0];
	p->quote = col_str(t, d, 3)[0];
	p->detect = col_strarray(t, d, 4, &p->ndetect, true);
	p->meter_col = norm(col_str(t, d, 5));
	p->meter_default = col_str(t, d, 6);
	p->channel_col = norm(col_str(t, d, 7));
	p->channel_default = profile_channel(col_str(t, d, 8), name);
	p->ts_col = norm(col_str(t, d, 9));
	p->date_col = norm(col_str(t, d, 10));
	p->time_col = norm(col_str(t, d, 11));
	if (!me_parse_date_order(col_str(t, d, 12), &p->date_order))
		elog(ERROR, "invalid date order in format profile \"%s\"", name);
	lp->time_zone = col_str(t, d, 13);
	p->ts_is_end = strcmp(col_str(t, d, 14), "end") == 0;
	p->newest_first = strcmp(col_str(t, d, 15), "true") == 0;
	{
		char	  **cols = col_strarray(t, d, 16, &p->nvalues, true);

		chans = col_strarray(t, d, 17, &nchans, true);
		units = col_strarray(t, d, 18, &nunits, false);
		p->values = palloc0(sizeof(MeValueSpec) * (p->nvalues + 1));
		for (int i = 0; i < p->nvalues; i++)
		{
			p->values[i].col = cols[i];
			p->values[i].channel = i < nchans ? profile_channel(chans[i], name) : NULL;
			p->values[i].unit = i < nunits ? profile_unit(units[i], name) : ME_UNIT_UNKNOWN;
		}
	}
	p->unit_col = norm(col_str(t, d, 19));
	p->unit_default = profile_unit(col_str(t, d, 20), name);
	s = col_str(t, d, 21);
	p->interval_s = s ? pg_strtoint32(s) * 60 : 0;
	p->missing = col_strarray(t, d, 22, &p->nmissing, false);
	p->estimated_col = norm(col_str(t, d, 23));
	p->estimated_true = col_strarray(t, d, 24, &p->nestimated_true, false);
	p->signed_channels = col_strarray(t, d, 25, &p->nsigned, true);
	p->date_pattern = profile_date_pattern(col_str(t, d, 26), name);
	load_channel_map(p, name);
	if (p->channel_default == NULL)
		p->channel_default = "import";
	return lp;
}

/* The first bytes of a raw file (enough for its header line). */
static char *
file_head(int64 file_id, size_t *len)
{
	MeChunkReader cr;
	const char *data;
	size_t		n = 0;
	char	   *head = palloc(SNIFF_BYTES);

	me_chunks_open(&cr, file_id);
	while (n < SNIFF_BYTES && me_chunks_next(&cr, &data, len))
	{
		size_t		take = Min(*len, SNIFF_BYTES - n);

		memcpy(head + n, data, take);
		n += take;
	}
	me_chunks_close(&cr);
	*len = n;
	return head;
}

/*
 * The best-matching profile for a raw file's header, by the number of
 * identifying columns found.  Errors if none matches.  Connected to SPI.
 */
char *
me_detect_format(int64 file_id)
{
	size_t		len;
	char	   *head = file_head(file_id, &len);
	char	   *best = NULL;
	char	  **probe;
	int			best_score = 0;
	char	   *first_line;
	SPITupleTable *profiles;
	uint64		nprof;

	/* nothing but blank lines: any layout reads it as zero readings */
	if (me_sniff_header(head, len, ',', '"', &probe) == 0)
	{
		ereport(NOTICE,
				(errmsg("raw file " INT64_FORMAT " holds no data lines; reading it as format \"generic\"",
						file_id)));
		return pstrdup("generic");
	}
	if (SPI_execute("SELECT name FROM meter_etl.format_profile ORDER BY builtin DESC, name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list format profiles");
	profiles = SPI_tuptable;
	nprof = SPI_processed;
	for (uint64 i = 0; i < nprof; i++)
	{
		char	   *name = SPI_getvalue(profiles->vals[i], profiles->tupdesc, 1);
		MeLoadedProfile *lp = me_load_profile(name);
		char	  **names;
		int			n = me_sniff_header(head, len, lp->p.delimiter, lp->p.quote, &names);
		int			score = me_profile_score(&lp->p, names, n);

		if (score > best_score)
		{
			best_score = score;
			best = name;
		}
		me_free_names(names, n);
	}
	if (best == NULL)
	{
		const char *eol = len > 0 ? me_find_eol(head, head + len) : NULL;

		first_line = me_sanitize_text(head, Min(eol ? (size_t) (eol - head) : len, (size_t) 200));
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("could not detect the format of raw file " INT64_FORMAT, file_id),
				 errdetail("No format profile matches the first line \"%s\".", first_line),
				 errhint("Pass the format to meter_etl.ingest(), or add a row to meter_etl.format_profile.")));
	}
	return best;
}

PG_FUNCTION_INFO_V1(meter_etl_validate_profile);

/*
 * AFTER INSERT OR UPDATE trigger on format_profile: load the new row the
 * way ingest will, so a unit, zone or date_format it cannot use is refused
 * at once rather than when the first file arrives.
 */
Datum
meter_etl_validate_profile(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	bool		isnull;
	char	   *name;
	MeLoadedProfile *lp;
	MeZone		zone;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "validate_profile: must be fired after insert or update, for each row");
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	name = TextDatumGetCString(heap_getattr(tup, SPI_fnumber(td->tg_relation->rd_att, "name"),
											td->tg_relation->rd_att, &isnull));
	SPI_connect();
	lp = me_load_profile(name);
	if (!me_zone_setup(&zone, lp->time_zone))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", lp->time_zone),
				 errhint("Use an IANA zone name such as \"Europe/Dublin\", or \"UTC\".")));
	if (lp->p.layout == ME_LAYOUT_LONG && lp->p.nvalues == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("format profile \"%s\" names no value column", name),
				 errhint("Set value_columns to the header names of the value columns.")));
	if (lp->p.layout == ME_LAYOUT_LONG && lp->p.ts_col == NULL && lp->p.date_col == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("format profile \"%s\" names no timestamp or date column", name)));
	SPI_finish();
	return PointerGetDatum(NULL);
}
