/*
 * reader_wide.c - the wide layout: one meter-day per line, one reading per
 * interval column (pure C)
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader_int.h"

/* ------------------------------------------------------------------ wide */

/* One line of a wide layout: one meter-day, one reading per interval column. */
void
me_rd_handle_wide(MeReader *r)
{
	const MeProfile *p = r->prof;
	MeReject	rj;
	MeReading	rd;
	MeDateTime	dt;
	MeReason	why;
	const char *meter;
	size_t		meterlen;
	const char *s;
	size_t		n,
				used;
	const char *chan = p->channel_default;
	MeUnit		unit = p->unit_default;
	uint16_t	flags = 0;

	if (!me_rd_record_start(r, &rj, &meter, &meterlen))
		return;
	s = me_rd_fld(r, r->map.date, &n);
	rj.ts_raw = s;
	rj.ts_len = n;
	me_trim(&s, &n);
	if (n == 0 || !me_parse_date_fmt(s, n, p->date_order, p->date_pattern, &dt, &used) || used != n)
	{
		me_rd_reject_line(r, n == 0 ? ME_R_MISSING_FIELD : ME_R_BAD_TIMESTAMP,
					"invalid date of a meter-day line");
		return;
	}
	if (r->map.channel >= 0)
	{
		s = me_rd_fld(r, r->map.channel, &n);
		chan = me_rd_channel_name(r, s, n, &unit);
		if (chan == NULL)
		{
			me_rd_reject_line(r, ME_R_BAD_CHANNEL, ME_BAD_CHANNEL_DETAIL);
			return;
		}
	}
	if (r->map.unit >= 0)
	{
		s = me_rd_fld(r, r->map.unit, &n);
		unit = me_parse_unit(s, n);
	}
	if (r->map.estimated >= 0)
	{
		s = me_rd_fld(r, r->map.estimated, &n);
		if (me_rd_is_estimated(r, s, n))
			flags |= ME_FLAG_SOURCE_ESTIMATED;
	}
	rj.channel = chan;
	for (int k = 0; k < r->map.nintervals; k++)
	{
		MeDateTime	slot = dt;
		int32_t		off = r->map.interval_offset_s[k];
		const char *val;
		size_t		vlen;

		slot.hour = off / 3600;
		slot.minute = off % 3600 / 60;
		slot.second = 0;
		slot.has_time = true;
		me_rd_reading_start(r, &rd, meter, meterlen, chan, flags);
		val = me_rd_fld(r, r->map.interval_idx[k], &vlen);
		/* the column offsets already mark interval starts */
		why = me_rd_resolve_ts(r, &slot, meter, meterlen, chan, rd.interval_s, false, &rd.ts);
		if (why == ME_R_NONEXISTENT_LOCAL_TIME && me_is_missing_marker(p, val, vlen))
			continue;			/* an empty cell for a skipped hour is no reading */
		if (why != ME_OK)
		{
			me_rd_reject_value(r, &rj, why, val, vlen);
			continue;
		}
		me_rd_finish_value(r, &rj, &rd, val, vlen, unit);
	}
}
