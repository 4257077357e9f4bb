/*
 * reader.c - the CSV-to-reading path (pure C; see reader.h)
 *
 * Lines are handed to libcsv one at a time, which keeps line numbers exact
 * and lets a broken line fail alone.  A line that lies wholly inside the
 * caller's chunk is parsed in place; only lines cut by a chunk boundary
 * are copied.  Field bytes are gathered into one record buffer per line.
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader.h"

/* A field of the current record: offset and length in rec.buf. */
typedef struct Field
{
	size_t		off;
	size_t		len;
} Field;

/* A growable byte buffer. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* An ambiguous local time already seen for a meter and channel. */
typedef struct AmbigEntry
{
	uint64_t	hash;			/* 0 = empty slot */
	int64_t		local_us;
	char	   *key;			/* meter '\0' channel, copied */
	size_t		keylen;
	int			seen;
} AmbigEntry;

/* The NEM12 state: the current 200 record and a 300 record held for 400s. */
typedef struct Nem12State
{
	bool		have200;
	bool		valid200;
	MeReason	why200;			/* what is wrong with an invalid 200 record */
	const char *why200_detail;	/* (a static string) */
	Buf			nmi;
	char		channel[ME_MAX_CHANNEL_LEN + 1];
	bool		signed_channel;
	MeUnit		unit;
	bool		unit_known;
	Buf			uom_raw;
	int32_t		interval_s;
	/* pending 300 record */
	bool		pending;
	int64_t		pending_line;
	Buf			pending_raw;	/* raw line text */
	Buf			pending_fields; /* the 300 record's field bytes */
	Field	   *pfields;
	int			pfields_cap;
	char	   *quality;		/* per interval quality method letter */
	int			nintervals;
} Nem12State;

struct MeReader
{
	const MeProfile *prof;
	const MeRules *rules;
	MeZone	   *zone;
	MeReaderCallbacks cb;
	void	   *cbctx;
	char	   *stem;
	size_t		max_line_bytes;
	char		errmsg[512];
	bool		failed;

	struct csv_parser csv;
	bool		rec_done;		/* libcsv ended the record of this line */

	/* current record */
	Buf			rec;
	Field	   *fields;
	int			nfields;
	int			fields_cap;

	/* line splitting */
	Buf			carry;			/* a line cut by a chunk boundary */
	bool		skipping;		/* discarding an over-long line */
	bool		at_start;		/* nothing seen yet: look for a BOM */
	bool		cr_pending;		/* last chunk ended in CR: maybe CRLF */
	int64_t		line_no;		/* current physical line, 1-based */
	const char *line;
	size_t		line_len;

	bool		header_done;
	MeColMap	map;
	Nem12State	nem;

	AmbigEntry *ambig;
	size_t		ambig_cap;
	size_t		ambig_used;

	Buf			chanbuf;		/* channel name of the current reading */
	char		signed_chan[ME_MAX_CHANNEL_LEN + 1];	/* last channel asked about, and its answer */
	bool		signed_ans;
	char		unit_raw[16];	/* last unit text parsed, and its meaning */
	size_t		unit_rawlen;
	MeUnit		unit_ans;
	MeReaderStats stats;
};

/* ------------------------------------------------------------------ buffers */

/* Make room for extra bytes. */
static void
buf_reserve(Buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (cap < b->len + extra + 1)
			cap *= 2;
		b->data = me_realloc(b->data, cap);
		b->cap = cap;
	}
}

/* Append bytes and keep the buffer NUL-terminated. */
static void
buf_append(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Replace the buffer's contents. */
static void
buf_set(Buf *b, const char *s, size_t n)
{
	b->len = 0;
	buf_append(b, s, n);
}

static void
buf_free(Buf *b)
{
	me_free(b->data);
	memset(b, 0, sizeof(*b));
}

/* libcsv allocates through these so the server can use memory contexts. */
static void *
csv_realloc_hook(void *p, size_t n)
{
	return me_realloc(p, n);
}

static void
csv_free_hook(void *p)
{
	me_free(p);
}

/* ------------------------------------------------------------------ emitting */

/* Count and hand over a valid reading. */
static void
emit_reading(MeReader *r, const MeReading *rd)
{
	r->stats.readings_ok++;
	r->cb.reading(r->cbctx, rd);
}

/* Count and hand over an invalid reading. */
static void
emit_reject(MeReader *r, MeReject *rj)
{
	if (rj->line == NULL)
	{
		rj->line = r->line;
		rj->line_len = r->line_len;
	}
	if (rj->line_no == 0)
		rj->line_no = r->line_no;
	r->stats.readings_rejected++;
	r->stats.by_reason[rj->reason]++;
	r->cb.reject(r->cbctx, rj);
}

/* Reject a whole line that cannot be turned into readings; it counts as one. */
static void
reject_line(MeReader *r, MeReason reason, const char *detail)
{
	MeReject	rj;

	memset(&rj, 0, sizeof(rj));
	rj.reason = reason;
	rj.detail = detail;
	r->stats.readings_read++;
	emit_reject(r, &rj);
}

/* Fail the whole file with a message (a structural problem, not a bad line). */
static bool
fail(MeReader *r, const char *fmt, const char *arg)
{
	snprintf(r->errmsg, sizeof(r->errmsg), fmt, arg ? arg : "");
	r->failed = true;
	return false;
}

/* Field i of the current record as pointer and length. */
static inline const char *
fld(const MeReader *r, int i, size_t *len)
{
	*len = r->fields[i].len;
	return r->rec.data + r->fields[i].off;
}

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
static MeReason
resolve_ts(MeReader *r, const MeDateTime *dt, const char *meter, size_t meterlen,
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
static const char *
channel_name(MeReader *r, const char *raw, size_t len, MeUnit *unit)
{
	const MeChannelMap *m = me_channel_lookup(r->prof, raw, len);
	size_t		n;

	if (m != NULL)
	{
		if (m->unit != ME_UNIT_UNKNOWN)
			*unit = m->unit;
		return m->channel;
	}
	buf_reserve(&r->chanbuf, len + 1);
	n = me_normalize_name(r->chanbuf.data, raw, len);
	r->chanbuf.data[n] = '\0';
	return n <= ME_MAX_CHANNEL_LEN ? r->chanbuf.data : NULL;
}

/*
 * Parse, convert and check one value; emit it as a reading or a reject.
 * rj arrives with meter, channel and raw fields filled in.
 */
static void
finish_value(MeReader *r, MeReject *rj, MeReading *rd, const char *val, size_t vlen,
			 MeUnit unit)
{
	double		v;
	MeNumStatus ns;
	MeReason	reason;
	bool		snapped;

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
		reason = me_check_kw(rd->kw, rd->signed_channel, r->rules);
	}
	if (reason != ME_OK)
	{
		rj->reason = reason;
		emit_reject(r, rj);
		return;
	}
	if (snapped)
		rd->flags |= ME_FLAG_TIME_ADJUSTED;
	emit_reading(r, rd);
}

/* The unit of a unit field; files repeat the same few, so the last is kept. */
static MeUnit
cached_unit(MeReader *r, const char *s, size_t n)
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
static bool
is_estimated(const MeReader *r, const char *s, size_t len)
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
		*meter = fld(r, r->map.meter, len);
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
static bool
record_start(MeReader *r, MeReject *rj, const char **meter, size_t *meterlen)
{
	MeReason	why;

	if (r->nfields != r->map.ncols)
	{
		char		detail[96];

		snprintf(detail, sizeof(detail), "expected %d fields, found %d",
				 r->map.ncols, r->nfields);
		reject_line(r, ME_R_PARSE_ERROR, detail);
		return false;
	}
	memset(rj, 0, sizeof(*rj));
	why = record_meter(r, meter, meterlen);
	if (why != ME_OK)
	{
		reject_line(r, why, why == ME_R_MISSING_FIELD ? "empty meter id" : NULL);
		return false;
	}
	rj->meter_id = *meter;
	rj->meter_len = *meterlen;
	return true;
}

/* A reading of the current line for a meter and channel, before its time and value. */
static void
reading_start(MeReader *r, MeReading *rd, const char *meter, size_t meterlen,
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
static void
reject_value(MeReader *r, MeReject *rj, MeReason why, const char *val, size_t vlen)
{
	r->stats.readings_read++;
	rj->reason = why;
	rj->value_raw = val;
	rj->value_len = vlen;
	emit_reject(r, rj);
}

/* ------------------------------------------------------------------ long */

/* Parse the timestamp of a long-layout record (one column or date + time). */
static bool
long_datetime(MeReader *r, MeDateTime *dt, MeReject *rj, MeReason *why)
{
	const char *s;
	size_t		n;

	*why = ME_R_BAD_TIMESTAMP;
	if (r->map.ts >= 0)
	{
		s = fld(r, r->map.ts, &n);
		rj->ts_raw = s;
		rj->ts_len = n;
		me_trim(&s, &n);
		if (n == 0)
			*why = ME_R_MISSING_FIELD;
		/* a timestamp column needs a time: a bare date is a truncated value */
		return n > 0 && me_parse_datetime(s, n, r->prof->date_order, dt) && dt->has_time;
	}
	else
	{
		size_t		used;

		s = fld(r, r->map.date, &n);
		rj->ts_raw = s;
		rj->ts_len = n;
		me_trim(&s, &n);
		if (n == 0)
		{
			*why = ME_R_MISSING_FIELD;
			return false;
		}
		if (!me_parse_date(s, n, r->prof->date_order, dt, &used))
			return false;
		if (used < n)			/* time in the date column (seen in Pecan Street files) */
			return me_parse_datetime(s, n, r->prof->date_order, dt);
		if (r->map.time < 0)
			return true;
		s = fld(r, r->map.time, &n);
		return me_parse_time(s, n, dt);
	}
}

/* One line of a long layout: one timestamp, one reading per value column. */
static void
handle_long(MeReader *r)
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

	if (!record_start(r, &rj, &meter, &meterlen))
		return;
	if (!long_datetime(r, &dt, &rj, &why))
	{
		rj.reason = why;
		rj.detail = why == ME_R_MISSING_FIELD ? "empty timestamp" : NULL;
		r->stats.readings_read += p->nvalues;
		for (int i = 0; i < p->nvalues; i++)
		{
			rj.value_raw = fld(r, r->map.value_idx[i], &rj.value_len);
			emit_reject(r, &rj);
		}
		return;
	}
	if (r->map.unit >= 0)
	{
		unitraw = fld(r, r->map.unit, &unitlen);
		rj.unit_raw = unitraw;
		rj.unit_len = unitlen;
		have_unit_col = true;
		rowunit = cached_unit(r, unitraw, unitlen);
	}
	if (r->map.estimated >= 0)
	{
		const char *e;
		size_t		elen;

		e = fld(r, r->map.estimated, &elen);
		if (is_estimated(r, e, elen))
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

			c = fld(r, r->map.channel, &clen);
			chan = channel_name(r, c, clen, &mapunit);
			if (chan == NULL)
			{
				r->stats.readings_read++;
				rj.reason = ME_R_BAD_CHANNEL;
				rj.detail = ME_BAD_CHANNEL_DETAIL;
				rj.channel = NULL;
				rj.value_raw = fld(r, r->map.value_idx[i], &rj.value_len);
				emit_reject(r, &rj);
				rj.detail = NULL;
				continue;
			}
			if (!have_unit_col && mapunit != ME_UNIT_UNKNOWN)
				unit = mapunit;
		}
		else
			chan = p->channel_default;
		reading_start(r, &rd, meter, meterlen, chan, flags);
		rj.channel = chan;
		val = fld(r, r->map.value_idx[i], &vlen);
		why = resolve_ts(r, &dt, meter, meterlen, chan, rd.interval_s,
						 p->ts_is_end, &rd.ts);
		if (why != ME_OK)
		{
			reject_value(r, &rj, why, val, vlen);
			continue;
		}
		finish_value(r, &rj, &rd, val, vlen, unit);
	}
}

/* ------------------------------------------------------------------ wide */

/* One line of a wide layout: one meter-day, one reading per interval column. */
static void
handle_wide(MeReader *r)
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

	if (!record_start(r, &rj, &meter, &meterlen))
		return;
	s = fld(r, r->map.date, &n);
	rj.ts_raw = s;
	rj.ts_len = n;
	me_trim(&s, &n);
	if (n == 0 || !me_parse_date(s, n, p->date_order, &dt, &used) || used != n)
	{
		reject_line(r, n == 0 ? ME_R_MISSING_FIELD : ME_R_BAD_TIMESTAMP,
					"invalid date of a meter-day line");
		return;
	}
	if (r->map.channel >= 0)
	{
		s = fld(r, r->map.channel, &n);
		chan = channel_name(r, s, n, &unit);
		if (chan == NULL)
		{
			reject_line(r, ME_R_BAD_CHANNEL, ME_BAD_CHANNEL_DETAIL);
			return;
		}
	}
	if (r->map.unit >= 0)
	{
		s = fld(r, r->map.unit, &n);
		unit = me_parse_unit(s, n);
	}
	if (r->map.estimated >= 0)
	{
		s = fld(r, r->map.estimated, &n);
		if (is_estimated(r, s, n))
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
		reading_start(r, &rd, meter, meterlen, chan, flags);
		val = fld(r, r->map.interval_idx[k], &vlen);
		/* the column offsets already mark interval starts */
		why = resolve_ts(r, &slot, meter, meterlen, chan, rd.interval_s, false, &rd.ts);
		if (why == ME_R_NONEXISTENT_LOCAL_TIME && me_is_missing_marker(p, val, vlen))
			continue;			/* an empty cell for a skipped hour is no reading */
		if (why != ME_OK)
		{
			reject_value(r, &rj, why, val, vlen);
			continue;
		}
		finish_value(r, &rj, &rd, val, vlen, unit);
	}
}

/* ------------------------------------------------------------------ NEM12 */

/* Does the current record start with this record indicator? */
static bool
rec_is(const MeReader *r, const char *type)
{
	size_t		n;
	const char *s = fld(r, 0, &n);

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
	s = fld(r, 1, &n);
	me_trim(&s, &n);
	buf_set(&nem->nmi, s, n);
	s = fld(r, 4, &n);
	{
		const char *c = channel_name(r, s, n, &unit);

		if (c == NULL)
		{
			nem->why200 = ME_R_BAD_CHANNEL;
			nem->why200_detail = "300 record under a 200 record whose channel label is longer than 63 bytes";
			return;
		}
		snprintf(nem->channel, sizeof(nem->channel), "%s", c);
	}
	nem->signed_channel = me_channel_is_signed(r->prof, nem->channel);
	s = fld(r, 7, &n);
	buf_set(&nem->uom_raw, s, n);
	nem->unit = me_parse_unit(s, n);
	s = fld(r, 8, &n);
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
static void
nem_flush(MeReader *r)
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
			emit_reject(r, &rj);
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
		why = resolve_ts(r, &slot, rd.meter_id, rd.meter_len, rd.channel,
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
			emit_reject(r, &rj);
			continue;
		}
		finish_value(r, &rj, &rd, val, vlen, nem->unit);
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
		reject_line(r, ME_R_PARSE_ERROR, "300 record before any 200 record");
		return;
	}
	if (!nem->valid200)
	{
		/* the 200 record's own fault, so that its readings say what went wrong */
		reject_line(r, nem->why200, nem->why200_detail);
		return;
	}
	n = 86400 / nem->interval_s;
	if (r->nfields < n + 3)
	{
		char		detail[96];

		snprintf(detail, sizeof(detail), "300 record with %d fields, expected at least %d",
				 r->nfields, n + 3);
		reject_line(r, ME_R_PARSE_ERROR, detail);
		return;
	}
	buf_set(&nem->pending_fields, r->rec.data, r->rec.len);
	buf_set(&nem->pending_raw, r->line, r->line_len);
	if (nem->pfields_cap < r->nfields)
	{
		nem->pfields = me_realloc(nem->pfields, sizeof(Field) * (size_t) r->nfields);
		nem->pfields_cap = r->nfields;
	}
	memcpy(nem->pfields, r->fields, sizeof(Field) * (size_t) r->nfields);
	nem->quality = me_realloc(nem->quality, (size_t) n);
	q = fld(r, 2 + n, &qlen);
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
		reject_line(r, ME_R_PARSE_ERROR, "400 record without a preceding 300 record");
		return;
	}
	s = fld(r, 1, &n);
	if (me_parse_number(s, n, &a) != ME_NUM_OK)
		a = 0;
	s = fld(r, 2, &n);
	if (me_parse_number(s, n, &b) != ME_NUM_OK)
		b = 0;
	q = fld(r, 3, &qlen);
	me_trim(&q, &qlen);
	if (a < 1 || b < a || b > nem->nintervals || qlen == 0)
	{
		reject_line(r, ME_R_PARSE_ERROR, "400 record with an invalid interval range");
		return;
	}
	for (int k = (int) a - 1; k < (int) b; k++)
		nem->quality[k] = q[0];
}

/* One NEM12 record. */
static void
handle_nem12(MeReader *r)
{
	if (r->nem.pending && !rec_is(r, "400"))
		nem_flush(r);
	if (rec_is(r, "200"))
		nem_200(r);
	else if (rec_is(r, "300"))
		nem_300(r);
	else if (rec_is(r, "400"))
		nem_400(r);
	else if (rec_is(r, "500") || rec_is(r, "900") || rec_is(r, "100"))
		;						/* register reads and the end marker carry no intervals */
	else
		reject_line(r, ME_R_PARSE_ERROR, "unrecognized NEM12 record indicator");
}

/* ------------------------------------------------------------------ records */

/* The header line: map the profile's columns, or fail the file. */
static bool
handle_header(MeReader *r)
{
	char	  **names = me_alloc(sizeof(char *) * (size_t) (r->nfields ? r->nfields : 1));
	bool		ok;

	for (int i = 0; i < r->nfields; i++)
	{
		size_t		n;
		const char *s = fld(r, i, &n);

		names[i] = me_alloc(n + 1);
		me_normalize_name(names[i], s, n);
	}
	if (r->prof->layout == ME_LAYOUT_NEM12)
	{
		ok = r->nfields >= 2 && strcmp(names[0], "100") == 0;
		if (!ok)
			fail(r, "The file does not start with a NEM12 100 record", NULL);
		else if (strcmp(names[1], "nem12") != 0)
			ok = fail(r, "Unsupported NEM file version \"%s\"", names[1]);
	}
	else
	{
		char		err[256];

		ok = me_map_columns(r->prof, names, r->nfields, &r->map, err, sizeof(err));
		if (!ok)
			fail(r, "%s", err);
	}
	me_free_names(names, r->nfields);
	r->header_done = true;
	return ok;
}

/* Does the line hold only ASCII?  (The common case, checked 8 bytes at a time.) */
static bool
all_ascii(const char *s, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64_t	w;

		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ULL)
			return false;
	}
	for (; i < n; i++)
		if (s[i] & 0x80)
			return false;
	return true;
}

/* A complete record from libcsv: the header, or data for the layout. */
static void
handle_record(MeReader *r)
{
	if (!r->header_done)
	{
		handle_header(r);
		return;
	}
	r->stats.lines_read++;
	if (!all_ascii(r->line, r->line_len) && !me_valid_utf8(r->line, r->line_len))
	{
		reject_line(r, ME_R_ENCODING_ERROR, "line is not valid UTF-8");
		return;
	}
	if (memchr(r->line, '\0', r->line_len) != NULL)
	{
		reject_line(r, ME_R_ENCODING_ERROR, "line contains a NUL byte");
		return;
	}
	switch (r->prof->layout)
	{
		case ME_LAYOUT_LONG:
			handle_long(r);
			break;
		case ME_LAYOUT_WIDE:
			handle_wide(r);
			break;
		case ME_LAYOUT_NEM12:
			handle_nem12(r);
			break;
	}
}

/* libcsv field callback: collect the field into the record buffer. */
static void
on_field(void *data, size_t len, void *ctx)
{
	MeReader   *r = ctx;

	if (r->nfields == r->fields_cap)
	{
		r->fields_cap = r->fields_cap ? r->fields_cap * 2 : 16;
		r->fields = me_realloc(r->fields, sizeof(Field) * (size_t) r->fields_cap);
	}
	r->fields[r->nfields].off = r->rec.len;
	r->fields[r->nfields].len = len;
	r->nfields++;
	/* field bytes stay NUL-separated for the C string helpers */
	buf_reserve(&r->rec, len + 1);
	if (len > 0)
		memcpy(r->rec.data + r->rec.len, data, len);
	r->rec.data[r->rec.len + len] = '\0';
	r->rec.len += len + 1;
}

/* libcsv record callback. */
static void
on_record(int c, void *ctx)
{
	MeReader   *r = ctx;

	r->rec_done = true;
}

/* Forget libcsv's state after a broken line (csv_fini refuses in some states). */
static void
csv_reset(struct csv_parser *p)
{
	p->pstate = 0;
	p->quoted = 0;
	p->spaces = 0;
	p->entry_pos = 0;
	p->status = 0;
}

/* Is the line empty or blanks only? */
static bool
is_blank_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/*
 * Parse one physical line.  body excludes the terminator; term says
 * whether the line had one (the last line of a file may not).
 */
static void
parse_line(MeReader *r, const char *body, size_t len)
{
	size_t		used;
	static const char lf = '\n';	/* ends the record libcsv is building */

	r->line_no++;
	r->line = body;
	r->line_len = len;
	if (is_blank_line(body, len))
	{
		if (r->header_done)
			r->stats.blank_lines++;
		return;
	}
	r->nfields = 0;
	r->rec.len = 0;
	r->rec_done = false;
	if (len + 2 > r->csv.blk_size)
		csv_set_blk_size(&r->csv, len + 2);
	used = csv_parse(&r->csv, body, len, on_field, on_record, r);
	if (used == len && csv_error(&r->csv) == CSV_SUCCESS)
		csv_parse(&r->csv, &lf, 1, on_field, on_record, r);
	if (used < len || csv_error(&r->csv) != CSV_SUCCESS || !r->rec_done)
	{
		/* strict libcsv stops at a stray quote; an open quote never ends */
		const char *why = (used < len || csv_error(&r->csv) != CSV_SUCCESS) ?
			"invalid quoting" : "unterminated quoted field";

		csv_reset(&r->csv);
		if (!r->header_done)
		{
			fail(r, "The header line could not be parsed: %s", why);
			return;
		}
		r->stats.lines_read++;
		reject_line(r, ME_R_PARSE_ERROR, why);
		return;
	}
	handle_record(r);
}

/* An over-long line: report it once (first bytes only) and skip to its end. */
static void
overlong_line(MeReader *r, const char *start, size_t len)
{
	char		detail[128];

	r->line_no++;
	r->line = start;
	r->line_len = len > 1024 ? 1024 : len;
	snprintf(detail, sizeof(detail), "line longer than %zu bytes", r->max_line_bytes);
	if (!r->header_done)
	{
		fail(r, "The header line is longer than meter_etl.max_line_bytes", NULL);
		return;
	}
	r->stats.lines_read++;
	reject_line(r, ME_R_PARSE_ERROR, detail);
}

/* ------------------------------------------------------------------ API */

/* Create a reader for one file. */
MeReader *
me_reader_create(const MeProfile *profile, const MeRules *rules, MeZone *zone,
				 const char *file_stem, const MeReaderCallbacks *cb, void *cbctx,
				 size_t max_line_bytes)
{
	MeReader   *r = me_alloc(sizeof(MeReader));
	size_t		n = strlen(file_stem ? file_stem : "");

	memset(r, 0, sizeof(*r));
	r->prof = profile;
	r->rules = rules;
	r->zone = zone;
	r->cb = *cb;
	r->cbctx = cbctx;
	r->stem = me_alloc(n + 1);
	memcpy(r->stem, file_stem ? file_stem : "", n + 1);
	r->max_line_bytes = max_line_bytes ? max_line_bytes : ME_DEFAULT_MAX_LINE_BYTES;
	r->at_start = true;
	csv_init(&r->csv, CSV_STRICT | CSV_APPEND_NULL);
	csv_set_realloc_func(&r->csv, csv_realloc_hook);
	csv_set_free_func(&r->csv, csv_free_hook);
	csv_set_delim(&r->csv, (unsigned char) profile->delimiter);
	csv_set_quote(&r->csv, (unsigned char) (profile->quote ? profile->quote : '"'));
	csv_set_blk_size(&r->csv, 4096);
	r->map.meter = r->map.channel = r->map.ts = r->map.date = r->map.time = -1;
	r->map.unit = r->map.estimated = -1;
	r->map.interval_s = profile->interval_s;
	/* headerless layouts: NEM12 treats its 100 record as the header */
	return r;
}

/* Deliver one complete line, from the chunk or from the carry buffer. */
static void
deliver_line(MeReader *r, const char *s, size_t len)
{
	if (r->carry.len > 0)
	{
		if (r->carry.len + len > r->max_line_bytes)
			overlong_line(r, r->carry.data, r->carry.len);
		else
		{
			buf_append(&r->carry, s, len);
			parse_line(r, r->carry.data, r->carry.len);
		}
		r->carry.len = 0;
	}
	else if (len > r->max_line_bytes)
		overlong_line(r, s, len);
	else
		parse_line(r, s, len);
}

/*
 * Find where the line starting at s ends: the first CR or LF.  The caller
 * skips the terminator (LF, CR LF or a lone CR); NULL if the chunk ends first.
 */
const char *
me_find_eol(const char *s, const char *end)
{
	const char *lf = memchr(s, '\n', (size_t) (end - s));
	const char *cr = memchr(s, '\r', (size_t) ((lf ? lf : end) - s));

	return cr ? cr : lf;
}

/* Feed the next chunk of the file. */
bool
me_reader_feed(MeReader *r, const char *buf, size_t len)
{
	const char *p = buf;
	const char *end = buf + len;

	if (r->failed)
		return false;
	r->stats.bytes += (int64_t) len;
	if (r->cr_pending && p < end)
	{
		r->cr_pending = false;
		if (*p == '\n')
			p++;				/* the LF of a CRLF cut by the chunk boundary */
	}
	if (r->at_start && p < end)
	{
		/* a UTF-8 byte-order mark, possibly cut by a (tiny) chunk */
		static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
		size_t		have = r->carry.len;
		size_t		need = 3 - have;
		size_t		n = (size_t) (end - p) < need ? (size_t) (end - p) : need;

		if (memcmp(p, bom + have, n) == 0 && memcmp(r->carry.data ? r->carry.data : "", bom, have) == 0)
		{
			if (have + n < 3)
			{
				buf_append(&r->carry, p, n);
				return true;
			}
			p += n;
			r->carry.len = 0;
		}
		r->at_start = false;
	}
	while (p < end && !r->failed)
	{
		const char *eol;

		if (r->skipping)
		{
			eol = me_find_eol(p, end);
			if (eol == NULL)
				return true;
			r->skipping = false;
			p = eol + 1;
			if (*eol == '\r' && p < end && *p == '\n')
				p++;
			else if (*eol == '\r' && p == end)
				r->cr_pending = true;
			continue;
		}
		eol = me_find_eol(p, end);
		if (eol == NULL)
		{
			if (r->carry.len + (size_t) (end - p) > r->max_line_bytes)
			{
				overlong_line(r, r->carry.len ? r->carry.data : p,
							  r->carry.len ? r->carry.len : (size_t) (end - p));
				r->carry.len = 0;
				r->skipping = true;
				return !r->failed;
			}
			buf_append(&r->carry, p, (size_t) (end - p));
			return true;
		}
		deliver_line(r, p, (size_t) (eol - p));
		p = eol + 1;
		if (*eol == '\r')
		{
			if (p < end && *p == '\n')
				p++;
			else if (p == end)
				r->cr_pending = true;
		}
	}
	return !r->failed;
}

/* End of file: the last line may lack a terminator; flush held records. */
bool
me_reader_finish(MeReader *r)
{
	if (r->failed)
		return false;
	if (r->carry.len > 0 && !r->skipping)
	{
		parse_line(r, r->carry.data, r->carry.len);
		r->carry.len = 0;
	}
	if (r->nem.pending && !r->failed)
		nem_flush(r);
	if (r->failed)
		return false;
	if (!r->header_done && r->stats.bytes > 0 && r->line_no > 0 &&
		r->prof->layout == ME_LAYOUT_NEM12)
		return fail(r, "The file does not start with a NEM12 100 record", NULL);
	return true;
}

const char *
me_reader_error(const MeReader *r)
{
	return r->errmsg;
}

const MeReaderStats *
me_reader_stats(const MeReader *r)
{
	return &r->stats;
}

/* Release the reader and everything it holds. */
void
me_reader_free(MeReader *r)
{
	if (r == NULL)
		return;
	csv_free(&r->csv);
	buf_free(&r->rec);
	buf_free(&r->carry);
	buf_free(&r->chanbuf);
	buf_free(&r->nem.nmi);
	buf_free(&r->nem.uom_raw);
	buf_free(&r->nem.pending_raw);
	buf_free(&r->nem.pending_fields);
	me_free(r->nem.pfields);
	me_free(r->nem.quality);
	me_free(r->fields);
	for (size_t i = 0; i < r->ambig_cap; i++)
		me_free(r->ambig[i].key);
	me_free(r->ambig);
	me_colmap_free(&r->map);
	me_free(r->stem);
	me_free(r);
}

/* ------------------------------------------------------------------ sniffing */

typedef struct SniffCtx
{
	char	  **names;
	int			n;
	int			cap;
	bool		done;
} SniffCtx;

static void
sniff_field(void *data, size_t len, void *ctx)
{
	SniffCtx   *sc = ctx;

	if (sc->done)
		return;
	if (sc->n == sc->cap)
	{
		sc->cap = sc->cap ? sc->cap * 2 : 16;
		sc->names = me_realloc(sc->names, sizeof(char *) * (size_t) sc->cap);
	}
	sc->names[sc->n] = me_alloc(len + 1);
	me_normalize_name(sc->names[sc->n], data ? data : "", len);
	sc->n++;
}

static void
sniff_record(int c, void *ctx)
{
	((SniffCtx *) ctx)->done = true;
}

/*
 * Split the first non-blank line of buf with the given delimiter into
 * normalised names, for auto-detection.  Returns the number of names.
 */
int
me_sniff_header(const char *buf, size_t len, char delimiter, char quote,
				char ***names_out)
{
	struct csv_parser p;
	SniffCtx	sc;
	const char *s = buf;
	const char *end = buf + len;
	const char *eol;

	memset(&sc, 0, sizeof(sc));
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (s < end)
	{
		eol = me_find_eol(s, end);
		if (eol == NULL)
			eol = end;
		if (!is_blank_line(s, (size_t) (eol - s)))
			break;
		s = eol + 1;
	}
	if (s >= end)
	{
		*names_out = NULL;
		return 0;
	}
	eol = me_find_eol(s, end);
	if (eol == NULL)
		eol = end;
	csv_init(&p, CSV_APPEND_NULL);
	csv_set_realloc_func(&p, csv_realloc_hook);
	csv_set_free_func(&p, csv_free_hook);
	csv_set_delim(&p, (unsigned char) delimiter);
	csv_set_quote(&p, (unsigned char) (quote ? quote : '"'));
	csv_parse(&p, s, (size_t) (eol - s), sniff_field, sniff_record, &sc);
	csv_fini(&p, sniff_field, sniff_record, &sc);
	csv_free(&p);
	*names_out = sc.names;
	return sc.n;
}

/* Free names from me_sniff_header. */
void
me_free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		me_free(names[i]);
	me_free(names);
}
