/*
 * reader_fields.c - what every layout does with a record's fields: resolve
 * a local time (and the repeated DST hour), name the channel, read the unit
 * and the value, start a record and its readings (pure C)
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader_int.h"

/* ------------------------------------------------------------------ DST */

/* FNV-1a over the meter, channel and local time. */
static uint64_t
ambig_hash(const char *key, size_t keylen, int64_t local_us)
{
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < keylen; i++)
		h = (h ^ (unsigned char) key[i]) * 1099511628211ULL;
	for (int i = 0; i < 8; i++)
		h = (h ^ ((uint64_t) local_us >> (8 * i) & 0xff)) * 1099511628211ULL;
	return h ? h : 1;
}

/* Grow the open-addressing table of ambiguous times. */
static void
ambig_grow(MeReader *r)
{
	size_t		newcap = r->ambig_cap ? r->ambig_cap * 2 : 64;
	AmbigEntry *t = me_alloc(sizeof(AmbigEntry) * newcap);

	memset(t, 0, sizeof(AmbigEntry) * newcap);
	for (size_t i = 0; i < r->ambig_cap; i++)
	{
		AmbigEntry *e = &r->ambig[i];
		size_t		j;

		if (e->hash == 0)
			continue;
		for (j = e->hash % newcap; t[j].hash != 0; j = (j + 1) % newcap)
			;
		t[j] = *e;
	}
	me_free(r->ambig);
	r->ambig = t;
	r->ambig_cap = newcap;
}

/*
 * How many times this meter and channel already used this ambiguous local
 * time in the file (0 the first time); records one more use.
 */
static int
ambig_seen(MeReader *r, const char *meter, size_t meterlen, const char *channel,
		   int64_t local_us)
{
	size_t		chlen = strlen(channel);
	size_t		keylen = meterlen + 1 + chlen;
	char	   *key = me_alloc(keylen);
	uint64_t	h;
	size_t		j;

	memcpy(key, meter, meterlen);
	key[meterlen] = '\0';
	memcpy(key + meterlen + 1, channel, chlen);
	h = ambig_hash(key, keylen, local_us);
	if ((r->ambig_used + 1) * 2 > r->ambig_cap)
		ambig_grow(r);
	for (j = h % r->ambig_cap; r->ambig[j].hash != 0; j = (j + 1) % r->ambig_cap)
	{
		AmbigEntry *e = &r->ambig[j];

		if (e->hash == h && e->local_us == local_us && e->keylen == keylen &&
			memcmp(e->key, key, keylen) == 0)
		{
			me_free(key);
			return e->seen++;
		}
	}
	r->ambig[j].hash = h;
	r->ambig[j].local_us = local_us;
	r->ambig[j].key = key;
	r->ambig[j].keylen = keylen;
	r->ambig[j].seen = 1;
	r->ambig_used++;
	return 0;
}

/*
 * Turn a parsed date-time into the UTC start of its interval.  Local times
 * in a repeated hour are resolved by order of appearance: the first use of
 * a wall-clock time by a meter and channel is the earlier instant, the
 * second the later one (reversed for files that run newest first).
 */
MeReason
me_rd_resolve_ts(MeReader *r, const MeDateTime *dt, const char *meter, size_t meterlen,
		   const char *channel, int32_t interval_s, bool is_end, int64_t *ts)
{
	int64_t		t = me_datetime_to_ts(dt);

	if (!dt->has_offset)
	{
		int64_t		first,
					second;
		MeLocalStatus st = me_local_to_utc(r->zone, t, &first, &second);

		if (st == ME_LOCAL_NONEXISTENT)
			return ME_R_NONEXISTENT_LOCAL_TIME;
		if (st == ME_LOCAL_AMBIGUOUS)
		{
			bool		later = ambig_seen(r, meter, meterlen, channel, t) > 0;

			if (r->prof->newest_first)
				later = !later;
			t = later ? second : first;
		}
		else
			t = first;
	}
	if (is_end)
		t -= (int64_t) interval_s * ME_USECS_PER_SEC;
	*ts = t;
	return ME_OK;
}

/* ------------------------------------------------------------------ values */

/*
 * Channel name for a raw label: the profile's map, else the label
 * normalised (trimmed, lower-cased).  NULL when that is longer than
 * ME_MAX_CHANNEL_LEN: the reading is bad_channel, never cut short (two long
 * labels sharing a prefix would merge).
 */
const char *
me_rd_channel_name(MeReader *r, const char *raw, size_t len, MeUnit *unit)
{
	const MeChannelMap *m = me_channel_lookup(r->prof, raw, len);
	size_t		n;

	if (m != NULL)
	{
		if (m->unit != ME_UNIT_UNKNOWN)
			*unit = m->unit;
		return m->channel;
	}
	me_rd_buf_reserve(&r->chanbuf, len + 1);
	n = me_normalize_name(r->chanbuf.data, raw, len);
	r->chanbuf.data[n] = '\0';
	return n <= ME_MAX_CHANNEL_LEN ? r->chanbuf.data : NULL;
}

/*
 * Parse, convert and check one value; emit it as a reading or a reject.
 * rj arrives with meter, channel and raw fields filled in.
 */
void
me_rd_finish_value(MeReader *r, MeReject *rj, MeReading *rd, const char *val, size_t vlen,
			 MeUnit unit)
{
	double		v;
	MeNumStatus ns;
	MeReason	reason;
	bool		snapped;
	bool		clipped = false;

	r->stats.readings_read++;
	rj->value_raw = val;
	rj->value_len = vlen;
	rj->has_ts = true;
	rj->ts = rd->ts;
	reason = me_check_ts(&rd->ts, (int64_t) rd->interval_s * ME_USECS_PER_SEC,
						 r->rules, &snapped);
	if (reason == ME_OK)
	{
		/* markers are looked at only when the field is not a number */
		ns = me_parse_number(val, vlen, &v);
		if (ns == ME_NUM_EMPTY)
			reason = ME_R_MISSING_VALUE;
		else if (ns != ME_NUM_OK)
			reason = me_is_missing_marker(r->prof, val, vlen) ?
				ME_R_MISSING_VALUE : ME_R_BAD_VALUE;
	}
	if (reason == ME_OK && unit == ME_UNIT_UNKNOWN)
		reason = ME_R_BAD_UNIT;
	if (reason == ME_OK)
	{
		rd->kw = me_to_kw(v, unit, (int64_t) rd->interval_s * ME_USECS_PER_SEC);
		/* negatives are rare: only they look up the channel's tolerance */
		reason = me_check_kw(&rd->kw, rd->signed_channel,
							 rd->kw < 0 ? me_negative_tolerance(r->rules, rd->channel) : 0,
							 r->rules, &clipped);
	}
	if (reason != ME_OK)
	{
		rj->reason = reason;
		me_rd_emit_reject(r, rj);
		return;
	}
	if (snapped)
		rd->flags |= ME_FLAG_TIME_ADJUSTED;
	if (clipped)
		rd->flags |= ME_FLAG_EDITED;	/* the raw line keeps the value */
	me_rd_emit_reading(r, rd);
}

/* The unit of a unit field; files repeat the same few, so the last is kept. */
MeUnit
me_rd_cached_unit(MeReader *r, const char *s, size_t n)
{
	if (n == r->unit_rawlen && n > 0 && memcmp(s, r->unit_raw, n) == 0)
		return r->unit_ans;
	r->unit_ans = me_parse_unit(s, n);
	if (n < sizeof(r->unit_raw))
	{
		memcpy(r->unit_raw, s, n);
		r->unit_rawlen = n;
	}
	else
		r->unit_rawlen = 0;
	return r->unit_ans;
}

/* Is the channel signed?  Asked per reading, so the last answer is kept. */
static bool
channel_signed(MeReader *r, const char *chan)
{
	if (strcmp(chan, r->signed_chan) != 0)
	{
		snprintf(r->signed_chan, sizeof(r->signed_chan), "%s", chan);
		r->signed_ans = me_channel_is_signed(r->prof, chan);
	}
	return r->signed_ans;
}

/* Is the estimated column's text one of the profile's "yes" values? */
bool
me_rd_is_estimated(const MeReader *r, const char *s, size_t len)
{
	me_trim(&s, &len);
	for (int i = 0; i < r->prof->nestimated_true; i++)
		if (strlen(r->prof->estimated_true[i]) == len &&
			strncasecmp(r->prof->estimated_true[i], s, len) == 0)
			return true;
	return false;
}

/* The meter id of the current record, or why there is none. */
static MeReason
record_meter(MeReader *r, const char **meter, size_t *len)
{
	if (r->map.meter >= 0)
	{
		*meter = me_rd_fld(r, r->map.meter, len);
		me_trim(meter, len);
	}
	else
	{
		*meter = r->prof->meter_default ? r->prof->meter_default : r->stem;
		*len = strlen(*meter);
	}
	return me_check_meter_id(*meter, *len, r->rules);
}

/*
 * The start every long or wide record shares: the line must have the
 * layout's number of fields and a valid meter id.  On success rj is
 * cleared and names the meter; otherwise the whole line was rejected.
 */
bool
me_rd_record_start(MeReader *r, MeReject *rj, const char **meter, size_t *meterlen)
{
	MeReason	why;

	if (r->nfields != r->map.ncols)
	{
		char		detail[96];

		snprintf(detail, sizeof(detail), "expected %d fields, found %d",
				 r->map.ncols, r->nfields);
		me_rd_reject_line(r, ME_R_PARSE_ERROR, detail);
		return false;
	}
	memset(rj, 0, sizeof(*rj));
	why = record_meter(r, meter, meterlen);
	if (why != ME_OK)
	{
		me_rd_reject_line(r, why, why == ME_R_MISSING_FIELD ? "empty meter id" : NULL);
		return false;
	}
	rj->meter_id = *meter;
	rj->meter_len = *meterlen;
	return true;
}

/* A reading of the current line for a meter and channel, before its time and value. */
void
me_rd_reading_start(MeReader *r, MeReading *rd, const char *meter, size_t meterlen,
			  const char *chan, uint16_t flags)
{
	memset(rd, 0, sizeof(*rd));
	rd->meter_id = meter;
	rd->meter_len = meterlen;
	rd->channel = chan;
	rd->signed_channel = channel_signed(r, chan);
	rd->interval_s = r->map.interval_s;
	rd->line_no = r->line_no;
	rd->flags = flags;
}

/* One reading of the line is rejected for a reason found before its value. */
void
me_rd_reject_value(MeReader *r, MeReject *rj, MeReason why, const char *val, size_t vlen)
{
	r->stats.readings_read++;
	rj->reason = why;
	rj->value_raw = val;
	rj->value_len = vlen;
	me_rd_emit_reject(r, rj);
}
