/*
 * meter_etl.c - module entry point and small shared helpers
 *
 * _PG_init only wires things up: it points the pure modules' allocation
 * hooks at palloc and defines the configuration parameters.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "pgtime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/me_alloc.h"
#include "pg/detect/detect.h"
#include "guc.h"
#include "meter_etl.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* palloc in the current context; huge so a large line is not refused at 1 GB. */
static void *
pg_me_alloc(size_t size)
{
	return MemoryContextAllocHuge(CurrentMemoryContext, size);
}

static void *
pg_me_realloc(void *ptr, size_t size)
{
	return repalloc_huge(ptr, size);
}

static void
pg_me_free(void *ptr)
{
	pfree(ptr);
}

/* Module load. */
void
_PG_init(void)
{
	me_alloc_hook = pg_me_alloc;
	me_realloc_hook = pg_me_realloc;
	me_free_hook = pg_me_free;
	me_detect_define_gucs();	/* before me_define_gucs reserves the prefix */
	me_define_gucs();
}

/*
 * The offset changes of a tz database zone between 1900 and 2200, as a
 * table: lookups never touch PostgreSQL's (non-reentrant) pg_localtime, so
 * the parser may run in its own thread.
 */
static MeZoneTable *
zone_table(pg_tz *tz)
{
	MeZoneTable *t = palloc0(sizeof(MeZoneTable));
	int			cap = 64;
	int64	   *at = palloc(sizeof(int64) * cap);
	int32	   *off = palloc(sizeof(int32) * cap);
	pg_time_t	when = (pg_time_t) INT64CONST(-2208988800);	/* 1900-01-01 */
	pg_time_t	boundary;
	long int	before,
				after;
	int			bdst,
				adst;
	int			r = pg_next_dst_boundary(&when, &before, &bdst, &boundary, &after, &adst, tz);

	t->initial_offset_s = (int32) before;
	while (r == 1 && boundary < (pg_time_t) INT64CONST(7258118400))	/* 2200-01-01 */
	{
		if (t->n == cap)
		{
			cap *= 2;
			at = repalloc(at, sizeof(int64) * cap);
			off = repalloc(off, sizeof(int32) * cap);
		}
		at[t->n] = boundary;
		off[t->n++] = (int32) after;
		when = boundary;
		r = pg_next_dst_boundary(&when, &before, &bdst, &boundary, &after, &adst, tz);
	}
	t->at = (const int64_t *) at;
	t->offset_s = off;
	return t;
}

/*
 * Set up a zone by name: UTC as a fixed offset (fast path), anything else
 * as a table of the tz database's offset changes.  Returns false for an
 * unknown name.
 */
bool
me_zone_setup(MeZone *zone, const char *tzname)
{
	pg_tz	   *tz;

	if (pg_strcasecmp(tzname, "UTC") == 0 || pg_strcasecmp(tzname, "Etc/UTC") == 0 ||
		pg_strcasecmp(tzname, "GMT") == 0)
	{
		me_zone_init_fixed(zone, 0);
		return true;
	}
	tz = pg_tzset(tzname);
	if (tz == NULL)
		return false;
	me_zone_init(zone, me_zone_table_offset, zone_table(tz));
	return true;
}

/*
 * Text for a quarantine column from bytes that may not be valid UTF-8:
 * invalid bytes and NULs become \xNN, so the raw content stays visible.
 */
char *
me_sanitize_text(const char *s, size_t len)
{
	StringInfoData buf;
	size_t		i = 0;

	if (me_valid_utf8(s, len))
		return pnstrdup(s, len);
	initStringInfo(&buf);
	while (i < len)
	{
		size_t		j = i + 1;

		/* find the longest valid UTF-8 sequence start at i (1..4 bytes) */
		while (j <= len && j - i <= 4 && !me_valid_utf8(s + i, j - i))
			j++;
		if (j <= len && j - i <= 4)
		{
			appendBinaryStringInfo(&buf, s + i, j - i);
			i = j;
		}
		else
		{
			appendStringInfo(&buf, "\\x%02X", (unsigned char) s[i]);
			i++;
		}
	}
	return buf.data;
}

/*
 * Whether meter_etl.relname exists, with column attname unless that is
 * NULL.  One shared library serves every database, and a database keeps
 * the schema of its installed version until ALTER EXTENSION meter_etl
 * UPDATE: code that writes a newer table or column asks first.
 */
bool
me_schema_has(const char *relname, const char *attname)
{
	Oid			nsp = get_namespace_oid("meter_etl", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;

	if (!OidIsValid(rel))
		return false;
	return attname == NULL || get_attnum(rel, attname) != InvalidAttrNumber;
}
