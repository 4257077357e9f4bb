/*
 * reader.h - the CSV-to-reading path: bytes in, readings and rejects out
 *
 * The reader is fed a file's bytes in chunks of any size.  It splits them
 * into physical lines (LF, CRLF or a lone CR), parses each line with libcsv,
 * maps the fields through a format profile, parses and standardises them
 * (UTC, kW) and applies the validation rules.  Every reading the file holds
 * leaves through exactly one of two callbacks: reading() for a valid one,
 * reject() with a reason code for an invalid one, so the caller's
 * accounting always balances.  Pure C: the same code runs in the server,
 * under cmocka and under libFuzzer.
 *
 * A record never spans lines: meter files do not quote line breaks, and a
 * quote left open at the end of a line is reported as a parse error for
 * that line instead of swallowing the rest of the file.
 */
#ifndef ME_READER_H
#define ME_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csvmap.h"
#include "rules.h"
#include "tzconv.h"

typedef struct MeReading
{
	const char *meter_id;		/* not NUL-terminated */
	size_t		meter_len;
	const char *channel;		/* NUL-terminated, lower case */
	bool		signed_channel;
	int64_t		ts;				/* interval start, UTC, PG µs */
	double		kw;
	uint16_t	flags;			/* ME_FLAG_* */
	int32_t		interval_s;
	int64_t		line_no;
} MeReading;

typedef struct MeReject
{
	MeReason	reason;
	const char *detail;			/* NUL-terminated or NULL */
	int64_t		line_no;
	const char *meter_id;		/* NULL when unknown */
	size_t		meter_len;
	const char *channel;		/* NUL-terminated or NULL */
	const char *ts_raw;
	size_t		ts_len;
	const char *value_raw;
	size_t		value_len;
	const char *unit_raw;
	size_t		unit_len;
	const char *line;			/* the raw line, may be invalid UTF-8 */
	size_t		line_len;
	bool		has_ts;
	int64_t		ts;				/* parsed timestamp when has_ts */
} MeReject;

typedef struct MeReaderStats
{
	int64_t		lines_read;		/* non-blank lines after the header */
	int64_t		blank_lines;
	int64_t		readings_read;
	int64_t		readings_ok;
	int64_t		readings_rejected;
	int64_t		by_reason[ME_R__COUNT];
	int64_t		bytes;
} MeReaderStats;

typedef struct MeReaderCallbacks
{
	void		(*reading) (void *ctx, const MeReading *r);
	void		(*reject) (void *ctx, const MeReject *r);
} MeReaderCallbacks;

typedef struct MeReader MeReader;

#define ME_DEFAULT_MAX_LINE_BYTES (16 * 1024 * 1024)

extern MeReader *me_reader_create(const MeProfile *profile, const MeRules *rules,
								  MeZone *zone, const char *file_stem,
								  const MeReaderCallbacks *cb, void *cbctx,
								  size_t max_line_bytes);
extern bool me_reader_feed(MeReader *r, const char *buf, size_t len);
extern bool me_reader_finish(MeReader *r);
extern const char *me_reader_error(const MeReader *r);
extern const MeReaderStats *me_reader_stats(const MeReader *r);
extern void me_reader_free(MeReader *r);

extern const char *me_find_eol(const char *s, const char *end);
extern int	me_sniff_header(const char *buf, size_t len, char delimiter, char quote,
							char ***names_out);
extern void me_free_names(char **names, int n);

#endif							/* ME_READER_H */
