/*
 * reader_nem12.c - AEMO NEM12 interval data: 200 records name the meter
 * and channel, 300 records hold a day of intervals, 400 records the
 * quality of ranges of them (pure C)
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader_int.h"

/* ------------------------------------------------------------------ NEM12 */

/* Does the current record start with this record indicator? */
static bool
rec_is(const MeReader *r, const char *type)
{
	size_t		n;
	const char *s = me_rd_fld(r, 0, &n);

	me_trim(&s, &n);
	return n == strlen(type) && memcmp(s, type, n) == 0;
}

/* Remember the stream a 200 record describes. */
static void
nem_200(MeReader *r)
{
	Nem12State *nem = &r->nem;
	const char *s;
	size_t		n;
	MeUnit		unit = ME_UNIT_UNKNOWN;
	int			iv = 0;
	double		d;

	nem->have200 = true;
	nem->valid200 = false;
	nem->why200 = ME_R_PARSE_ERROR;
	nem->why200_detail = "300 record under a 200 record with fewer than 10 fields";
	if (r->nfields < 10)
		return;
	s = me_rd_fld(r, 1, &n);
	me_trim(&s, &n);
	me_rd_buf_set(&nem->nmi, s, n);
	s = me_rd_fld(r, 4, &n);
	{
		const char *c = me_rd_channel_name(r, s, n, &unit);

		if (c == NULL)
		{
			nem->why200 = ME_R_BAD_CHANNEL;
			nem->why200_detail = "300 record under a 200 record whose channel label is longer than 63 bytes";
			return;
		}
		snprintf(nem->channel, sizeof(nem->channel), "%s", c);
	}
	nem->signed_channel = me_channel_is_signed(r->prof, nem->channel);
	s = me_rd_fld(r, 7, &n);
	me_rd_buf_set(&nem->uom_raw, s, n);
	nem->unit = me_parse_unit(s, n);
	s = me_rd_fld(r, 8, &n);
	/* range first: the cast of an out-of-range double is undefined */
	if (me_parse_number(s, n, &d) == ME_NUM_OK && d == floor(d) && d >= 1 && d <= 1440)
		iv = (int) d;
	if (iv <= 0 || iv > 1440 || 1440 % iv != 0)
	{
		nem->why200_detail = "300 record under a 200 record with an invalid interval length";
		return;
	}
	nem->interval_s = iv * 60;
	r->map.interval_s = nem->interval_s;
	nem->why200 = me_check_meter_id(nem->nmi.data, nem->nmi.len, r->rules);
	nem->why200_detail = "300 record under a 200 record with an invalid NMI";
	nem->valid200 = nem->why200 == ME_OK;
}

/* Emit the readings of the held 300 record (with any 400 corrections). */
void
me_rd_nem_flush(MeReader *r)
{
	Nem12State *nem = &r->nem;
	MeDateTime	day;
	size_t		used;
	const char *ds = nem->pending_fields.data + nem->pfields[1].off;
	size_t		dlen = nem->pfields[1].len;

	if (!nem->pending)
		return;
	nem->pending = false;
	me_trim(&ds, &dlen);
	if (!me_parse_date(ds, dlen, ME_DATE_YMD, &day, &used) || used != dlen)
	{
		r->line = nem->pending_raw.data;
		r->line_len = nem->pending_raw.len;
		{
			MeReject	rj;

			memset(&rj, 0, sizeof(rj));
			rj.reason = ME_R_BAD_TIMESTAMP;
			rj.detail = "invalid interval date in a 300 record";
			rj.line_no = nem->pending_line;
			rj.meter_id = nem->nmi.data;
			rj.meter_len = nem->nmi.len;
			rj.ts_raw = ds;
			rj.ts_len = dlen;
			r->stats.readings_read++;
			me_rd_emit_reject(r, &rj);
		}
		return;
	}
	for (int k = 0; k < nem->nintervals; k++)
	{
		MeReject	rj;
		MeReading	rd;
		MeDateTime	slot = day;
		int32_t		off = k * nem->interval_s;
		const char *val = nem->pending_fields.data + nem->pfields[2 + k].off;
		size_t		vlen = nem->pfields[2 + k].len;
		MeReason	why;
		char		q = nem->quality[k];

		slot.hour = off / 3600;
		slot.minute = off % 3600 / 60;
		slot.has_time = true;
		memset(&rj, 0, sizeof(rj));
		memset(&rd, 0, sizeof(rd));
		rj.line = nem->pending_raw.data;
		rj.line_len = nem->pending_raw.len;
		rj.line_no = nem->pending_line;
		rj.meter_id = rd.meter_id = nem->nmi.data;
		rj.meter_len = rd.meter_len = nem->nmi.len;
		rj.channel = rd.channel = nem->channel;
		rj.unit_raw = nem->uom_raw.data;
		rj.unit_len = nem->uom_raw.len;
		rj.ts_raw = ds;
		rj.ts_len = dlen;
		rd.signed_channel = nem->signed_channel;
		rd.interval_s = nem->interval_s;
		rd.line_no = nem->pending_line;
		if (q == 'E' || q == 'S' || q == 'F')
			rd.flags |= ME_FLAG_SOURCE_ESTIMATED;
		why = me_rd_resolve_ts(r, &slot, rd.meter_id, rd.meter_len, rd.channel,
						 rd.interval_s, false, &rd.ts);
		if (why == ME_OK && q == 'N')
			why = ME_R_MISSING_VALUE;
		if (why != ME_OK)
		{
			r->stats.readings_read++;
			rj.reason = why;
			rj.detail = q == 'N' ? "quality method N (null data)" : NULL;
			rj.value_raw = val;
			rj.value_len = vlen;
			me_rd_emit_reject(r, &rj);
			continue;
		}
		me_rd_finish_value(r, &rj, &rd, val, vlen, nem->unit);
	}
}

/* Hold a 300 record until we know whether 400 records amend it. */
static void
nem_300(MeReader *r)
{
	Nem12State *nem = &r->nem;
	int			n;
	const char *q;
	size_t		qlen;

	if (!nem->have200)
	{
		me_rd_reject_line(r, ME_R_PARSE_ERROR, "300 record before any 200 record");
		return;
	}
	if (!nem->valid200)
	{
		/* the 200 record's own fault, so that its readings say what went wrong */
		me_rd_reject_line(r, nem->why200, nem->why200_detail);
		return;
	}
	n = 86400 / nem->interval_s;
	if (r->nfields < n + 3)
	{
		char		detail[96];

		snprintf(detail, sizeof(detail), "300 record with %d fields, expected at least %d",
				 r->nfields, n + 3);
		me_rd_reject_line(r, ME_R_PARSE_ERROR, detail);
		return;
	}
	me_rd_buf_set(&nem->pending_fields, r->rec.data, r->rec.len);
	me_rd_buf_set(&nem->pending_raw, r->line, r->line_len);
	if (nem->pfields_cap < r->nfields)
	{
		nem->pfields = me_realloc(nem->pfields, sizeof(Field) * (size_t) r->nfields);
		nem->pfields_cap = r->nfields;
	}
	memcpy(nem->pfields, r->fields, sizeof(Field) * (size_t) r->nfields);
	nem->quality = me_realloc(nem->quality, (size_t) n);
	q = me_rd_fld(r, 2 + n, &qlen);
	me_trim(&q, &qlen);
	memset(nem->quality, qlen > 0 ? q[0] : 'A', (size_t) n);
	nem->nintervals = n;
	nem->pending = true;
	nem->pending_line = r->line_no;
}

/* A 400 record sets the quality of a range of intervals of the held 300. */
static void
nem_400(MeReader *r)
{
	Nem12State *nem = &r->nem;
	double		a,
				b;
	const char *s,
			   *q;
	size_t		n,
				qlen;

	if (!nem->pending || r->nfields < 4)
	{
		me_rd_reject_line(r, ME_R_PARSE_ERROR, "400 record without a preceding 300 record");
		return;
	}
	s = me_rd_fld(r, 1, &n);
	if (me_parse_number(s, n, &a) != ME_NUM_OK)
		a = 0;
	s = me_rd_fld(r, 2, &n);
	if (me_parse_number(s, n, &b) != ME_NUM_OK)
		b = 0;
	q = me_rd_fld(r, 3, &qlen);
	me_trim(&q, &qlen);
	if (a < 1 || b < a || b > nem->nintervals || qlen == 0)
	{
		me_rd_reject_line(r, ME_R_PARSE_ERROR, "400 record with an invalid interval range");
		return;
	}
	for (int k = (int) a - 1; k < (int) b; k++)
		nem->quality[k] = q[0];
}

/* One NEM12 record. */
void
me_rd_handle_nem12(MeReader *r)
{
	if (r->nem.pending && !rec_is(r, "400"))
		me_rd_nem_flush(r);
	if (rec_is(r, "200"))
		nem_200(r);
	else if (rec_is(r, "300"))
		nem_300(r);
	else if (rec_is(r, "400"))
		nem_400(r);
	else if (rec_is(r, "500") || rec_is(r, "900") || rec_is(r, "100"))
		;						/* register reads and the end marker carry no intervals */
	else
		me_rd_reject_line(r, ME_R_PARSE_ERROR, "unrecognized NEM12 record indicator");
}
