/*
 * reader_int.h - what the files of the CSV reader share (not for callers:
 * they use reader.h)
 *
 *   reader.c         line splitting, libcsv, records, the public API
 *   reader_fields.c  DST ambiguity, channels, units, values, record starts
 *   reader_long.c    the long layout: one timestamp per line
 *   reader_wide.c    the wide layout: one meter-day per line
 *   reader_nem12.c   AEMO NEM12 records
 *   sniff.c          header sniffing for format detection
 */
#ifndef ME_READER_INT_H
#define ME_READER_INT_H

#include <csv.h>

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

/* Field i of the current record as pointer and length. */
static inline const char *
me_rd_fld(const MeReader *r, int i, size_t *len)
{
	*len = r->fields[i].len;
	return r->rec.data + r->fields[i].off;
}

/* reader.c */
extern void me_rd_buf_reserve(Buf *b, size_t extra);
extern void me_rd_buf_set(Buf *b, const char *s, size_t n);
extern void me_rd_csv_free_hook(void *p);
extern void *me_rd_csv_realloc_hook(void *p, size_t n);
extern void me_rd_emit_reading(MeReader *r, const MeReading *rd);
extern void me_rd_emit_reject(MeReader *r, MeReject *rj);
extern bool me_rd_is_blank_line(const char *s, size_t n);
extern void me_rd_reject_line(MeReader *r, MeReason reason, const char *detail);

/* reader_fields.c */
extern MeUnit me_rd_cached_unit(MeReader *r, const char *s, size_t n);
extern const char *me_rd_channel_name(MeReader *r, const char *raw, size_t len, MeUnit *unit);
extern void me_rd_finish_value(MeReader *r, MeReject *rj, MeReading *rd, const char *val,
							   size_t vlen, MeUnit unit);
extern bool me_rd_is_estimated(const MeReader *r, const char *s, size_t len);
extern void me_rd_reading_start(MeReader *r, MeReading *rd, const char *meter, size_t meterlen,
								const char *chan, uint16_t flags);
extern bool me_rd_record_start(MeReader *r, MeReject *rj, const char **meter, size_t *meterlen);
extern void me_rd_reject_value(MeReader *r, MeReject *rj, MeReason why, const char *val,
							   size_t vlen);
extern MeReason me_rd_resolve_ts(MeReader *r, const MeDateTime *dt, const char *meter,
								 size_t meterlen, const char *channel, int32_t interval_s,
								 bool is_end, int64_t *ts);

/* reader_long.c */
extern void me_rd_handle_long(MeReader *r);

/* reader_wide.c */
extern void me_rd_handle_wide(MeReader *r);

/* reader_nem12.c */
extern void me_rd_handle_nem12(MeReader *r);
extern void me_rd_nem_flush(MeReader *r);

#endif							/* ME_READER_INT_H */
