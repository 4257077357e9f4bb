/*
 * reader.c - the CSV-to-reading path (pure C; see reader.h)
 *
 * Lines are handed to libcsv one at a time, which keeps line numbers exact
 * and lets a broken line fail alone.  A line that lies wholly inside the
 * caller's chunk is parsed in place; only lines cut by a chunk boundary
 * are copied.  Field bytes are gathered into one record buffer per line,
 * which the layout of the profile (reader_long.c, reader_wide.c,
 * reader_nem12.c) turns into readings.
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader_int.h"

/* ------------------------------------------------------------------ buffers */

/* Make room for extra bytes. */
void
me_rd_buf_reserve(Buf *b, size_t extra)
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
	me_rd_buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Replace the buffer's contents. */
void
me_rd_buf_set(Buf *b, const char *s, size_t n)
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
void *
me_rd_csv_realloc_hook(void *p, size_t n)
{
	return me_realloc(p, n);
}

void
me_rd_csv_free_hook(void *p)
{
	me_free(p);
}

/* ------------------------------------------------------------------ emitting */

/* Count and hand over a valid reading. */
void
me_rd_emit_reading(MeReader *r, const MeReading *rd)
{
	r->stats.readings_ok++;
	r->cb.reading(r->cbctx, rd);
}

/* Count and hand over an invalid reading. */
void
me_rd_emit_reject(MeReader *r, MeReject *rj)
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
void
me_rd_reject_line(MeReader *r, MeReason reason, const char *detail)
{
	MeReject	rj;

	memset(&rj, 0, sizeof(rj));
	rj.reason = reason;
	rj.detail = detail;
	r->stats.readings_read++;
	me_rd_emit_reject(r, &rj);
}

/* Fail the whole file with a message (a structural problem, not a bad line). */
static bool
fail(MeReader *r, const char *fmt, const char *arg)
{
	snprintf(r->errmsg, sizeof(r->errmsg), fmt, arg ? arg : "");
	r->failed = true;
	return false;
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
		const char *s = me_rd_fld(r, i, &n);

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
		me_rd_reject_line(r, ME_R_ENCODING_ERROR, "line is not valid UTF-8");
		return;
	}
	if (memchr(r->line, '\0', r->line_len) != NULL)
	{
		me_rd_reject_line(r, ME_R_ENCODING_ERROR, "line contains a NUL byte");
		return;
	}
	switch (r->prof->layout)
	{
		case ME_LAYOUT_LONG:
			me_rd_handle_long(r);
			break;
		case ME_LAYOUT_WIDE:
			me_rd_handle_wide(r);
			break;
		case ME_LAYOUT_NEM12:
			me_rd_handle_nem12(r);
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
	me_rd_buf_reserve(&r->rec, len + 1);
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
bool
me_rd_is_blank_line(const char *s, size_t n)
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
	if (me_rd_is_blank_line(body, len))
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
		me_rd_reject_line(r, ME_R_PARSE_ERROR, why);
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
	me_rd_reject_line(r, ME_R_PARSE_ERROR, detail);
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
	csv_set_realloc_func(&r->csv, me_rd_csv_realloc_hook);
	csv_set_free_func(&r->csv, me_rd_csv_free_hook);
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
		me_rd_nem_flush(r);
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
