/*
 * reader_long.c - the long layout: one timestamp per line, one reading per
 * value column (pure C)
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader_int.h"

/* ------------------------------------------------------------------ long */

/* Parse the timestamp of a long-layout record (one column or date + time). */
static bool
long_datetime(MeReader *r, MeDateTime *dt, MeReject *rj, MeReason *why)
{
	const MeProfile *p = r->prof;
	const char *s;
	size_t		n;

	*why = ME_R_BAD_TIMESTAMP;
	if (r->map.ts >= 0)
	{
		s = me_rd_fld(r, r->map.ts, &n);
		rj->ts_raw = s;
		rj->ts_len = n;
		me_trim(&s, &n);
		if (n == 0)
			*why = ME_R_MISSING_FIELD;
		/* a timestamp column needs a time: a bare date is a truncated value */
		return n > 0 && me_parse_datetime_fmt(s, n, p->date_order, p->date_pattern, dt) &&
			dt->has_time;
	}
	else
	{
		size_t		used;

		s = me_rd_fld(r, r->map.date, &n);
		rj->ts_raw = s;
		rj->ts_len = n;
		me_trim(&s, &n);
		if (n == 0)
		{
			*why = ME_R_MISSING_FIELD;
			return false;
		}
		if (!me_parse_date_fmt(s, n, p->date_order, p->date_pattern, dt, &used))
			return false;
		if (used < n)			/* time in the date column (seen in Pecan Street files) */
			return me_parse_datetime_fmt(s, n, p->date_order, p->date_pattern, dt);
		if (r->map.time < 0)
			return true;
		s = me_rd_fld(r, r->map.time, &n);
		return me_parse_time(s, n, dt);
	}
}

/* One line of a long layout: one timestamp, one reading per value column. */
void
me_rd_handle_long(MeReader *r)
{
	const MeProfile *p = r->prof;
	MeReject	rj;
	MeReading	rd;
	MeDateTime	dt;
	MeReason	why;
	const char *meter;
	size_t		meterlen;
	const char *unitraw = NULL;
	size_t		unitlen = 0;
	MeUnit		rowunit = ME_UNIT_UNKNOWN;
	bool		have_unit_col = false;
	uint16_t	flags = 0;

	if (!me_rd_record_start(r, &rj, &meter, &meterlen))
		return;
	if (!long_datetime(r, &dt, &rj, &why))
	{
		rj.reason = why;
		rj.detail = why == ME_R_MISSING_FIELD ? "empty timestamp" : NULL;
		r->stats.readings_read += p->nvalues;
		for (int i = 0; i < p->nvalues; i++)
		{
			rj.value_raw = me_rd_fld(r, r->map.value_idx[i], &rj.value_len);
			me_rd_emit_reject(r, &rj);
		}
		return;
	}
	if (r->map.unit >= 0)
	{
		unitraw = me_rd_fld(r, r->map.unit, &unitlen);
		rj.unit_raw = unitraw;
		rj.unit_len = unitlen;
		have_unit_col = true;
		rowunit = me_rd_cached_unit(r, unitraw, unitlen);
	}
	if (r->map.estimated >= 0)
	{
		const char *e;
		size_t		elen;

		e = me_rd_fld(r, r->map.estimated, &elen);
		if (me_rd_is_estimated(r, e, elen))
			flags |= ME_FLAG_SOURCE_ESTIMATED;
	}
	for (int i = 0; i < p->nvalues; i++)
	{
		const MeValueSpec *vs = &p->values[i];
		MeUnit		unit = have_unit_col ? rowunit :
			(vs->unit != ME_UNIT_UNKNOWN ? vs->unit : p->unit_default);
		MeUnit		mapunit = ME_UNIT_UNKNOWN;
		const char *chan;
		const char *val;
		size_t		vlen;

		if (vs->channel != NULL)
			chan = vs->channel;
		else if (r->map.channel >= 0)
		{
			const char *c;
			size_t		clen;

			c = me_rd_fld(r, r->map.channel, &clen);
			chan = me_rd_channel_name(r, c, clen, &mapunit);
			if (chan == NULL)
			{
				r->stats.readings_read++;
				rj.reason = ME_R_BAD_CHANNEL;
				rj.detail = ME_BAD_CHANNEL_DETAIL;
				rj.channel = NULL;
				rj.value_raw = me_rd_fld(r, r->map.value_idx[i], &rj.value_len);
				me_rd_emit_reject(r, &rj);
				rj.detail = NULL;
				continue;
			}
			if (!have_unit_col && mapunit != ME_UNIT_UNKNOWN)
				unit = mapunit;
		}
		else
			chan = p->channel_default;
		me_rd_reading_start(r, &rd, meter, meterlen, chan, flags);
		rj.channel = chan;
		val = me_rd_fld(r, r->map.value_idx[i], &vlen);
		why = me_rd_resolve_ts(r, &dt, meter, meterlen, chan, rd.interval_s,
						 p->ts_is_end, &rd.ts);
		if (why != ME_OK)
		{
			me_rd_reject_value(r, &rj, why, val, vlen);
			continue;
		}
		me_rd_finish_value(r, &rj, &rd, val, vlen, unit);
	}
}
