/*
 * pq_writer.h - public API of meter_etl's Parquet writer (pure C)
 *
 * Writes flat Parquet files (one leaf column per schema field) row by row:
 *
 *     PqOptions o;  pq_options_init(&o);  o.codec = PQ_CODEC_ZSTD;
 *     PqWriter *w = pq_writer_create(cols, ncols, &o, pq_sink_stdio(f),
 *                                    errbuf, sizeof(errbuf));
 *     for each row:  pq_write_row(w, values);      // values[ncols]
 *     pq_writer_close(w, kv, nkv, &rows, &bytes);  // writes the footer
 *     pq_writer_free(w);
 *
 * Format choices (see shared/docs/PARQUET.md): data page v1 only; values
 * PLAIN or RLE_DICTIONARY (any type but BOOLEAN whose spec asks for a
 * dictionary; one dictionary per column chunk, its page written first).
 * When a chunk's dictionary exceeds dict_max_entries or dict_max_bytes the
 * column falls back to PLAIN: if no page used the dictionary yet and the
 * pending page fits in page_bytes once PLAIN, the chunk becomes pure PLAIN
 * (no dictionary page); otherwise the pending page keeps the dictionary and
 * the chunk's later pages are PLAIN (a valid "mixed" chunk, as Arrow
 * writes).  Each row group starts again with an empty dictionary.
 * Definition levels use RLE/bit-packing with a u32 length prefix; chunk
 * statistics carry min_value/max_value in the column's sort order,
 * null_count always, nan_count for DOUBLE, legacy min/max only for
 * non-strings; column_orders is TYPE_ORDER; encoding_stats are written.
 * Not written: page statistics, CRCs, page indexes, bloom filters.
 *
 * Types: PQ_STRING (BYTE_ARRAY, STRING/UTF8; bytes are not checked for
 * UTF-8), PQ_TIMESTAMP_US (INT64, TIMESTAMP(UTC, MICROS)/TIMESTAMP_MICROS,
 * input is PostgreSQL TimestampTz: microseconds since 2000-01-01 UTC,
 * +-infinity rejected), PQ_DOUBLE, PQ_INT32, PQ_INT16 (INT32 physical,
 * INTEGER(16, signed)/INT_16, range checked), PQ_BOOLEAN.
 *
 * Memory: the writer buffers one row group (encoded, compressed pages of
 * every column) plus, per column, the page being filled and a dictionary
 * of at most dict_max_bytes; pages are encoded as soon as they reach
 * page_bytes or page_rows.  page_bytes is a target: a page is cut after the
 * value that reaches it.  All memory comes from me_alloc/me_realloc (also
 * libzstd's); in the server, call every function in the same long-lived
 * memory context.
 *
 * Speed: pq_write_row costs a few nanoseconds per cell.  Reuse one PqValue
 * array and assign its fields (row[i].v.ts = ...; row[i].is_null = false)
 * rather than copying whole PqValue temporaries; sorted input (by meter,
 * then time) keeps dictionary lookups in a one-entry cache.
 *
 * Errors: functions return 0 or a negative PQ_ERR_* code, and
 * pq_writer_errmsg() says what went wrong.  pq_write_row checks the whole
 * row first: PQ_ERR_VALUE (or PQ_ERR_ARG for a malformed cell) rejects
 * only that row, nothing of it is written and the writer stays usable.
 * Any other error is sticky: the writer refuses further work and the
 * output must be discarded.  A writer has no global state (besides the
 * me_alloc hooks); use one writer per thread.
 *
 * Statistics: string min/max longer than 4096 bytes are left out (the
 * chunk then has only null_count); no bound is ever truncated.
 *
 * Zero rows: closing a writer that got no rows writes a valid file with the
 * schema and zero row groups (DuckDB and hyparquet read it as empty).
 */
#ifndef PQ_WRITER_H
#define PQ_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pq_common.h"

/* Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL epoch -> Unix). */
#define PQ_PG_EPOCH_OFFSET_US INT64_C(946684800000000)

/* the extension's version, from the Makefile's EXTVERSION (one place) */
#ifdef ME_VERSION
#define PQ_VERSION_STRING ME_VERSION
#else
#define PQ_VERSION_STRING "unknown"
#endif
#ifndef PQ_BUILD_ID
#define PQ_BUILD_ID "dev"
#endif

/* Column value types (logical; the physical type follows). */
typedef enum PqType
{
	PQ_STRING,
	PQ_TIMESTAMP_US,
	PQ_DOUBLE,
	PQ_INT32,
	PQ_INT16,
	PQ_BOOLEAN
} PqType;

/* Compression codecs; the values are Parquet's CompressionCodec ids. */
typedef enum PqCodec
{
	PQ_CODEC_UNCOMPRESSED = 0,
	PQ_CODEC_SNAPPY = 1,
	PQ_CODEC_ZSTD = 6
} PqCodec;

/* One schema field.  `dictionary` is honoured for every type but BOOLEAN. */
typedef struct PqColumnSpec
{
	const char *name;			/* copied; must be unique and non-empty */
	PqType		type;
	bool		optional;		/* OPTIONAL (NULLs allowed) or REQUIRED */
	bool		dictionary;		/* try RLE_DICTIONARY encoding */
} PqColumnSpec;

/* Writer options; pq_options_init sets defaults, 0 also means default. */
typedef struct PqOptions
{
	PqCodec		codec;			/* default UNCOMPRESSED */
	int			zstd_level;		/* default 3 (0 = default) */
	uint32_t	row_group_rows; /* rows per row group, default 122880 */
	uint64_t	row_group_bytes;	/* also cut a row group when its encoded
									 * pages reach this size; 0 = no limit */
	uint32_t	page_bytes;		/* target page size, default 1 MiB */
	uint32_t	page_rows;		/* max rows per page, 0 = no limit */
	uint32_t	dict_max_entries;	/* per chunk, default 65536 */
	uint32_t	dict_max_bytes; /* PLAIN size of a dictionary, default 1 MiB */
	bool		reject_nonfinite;	/* DOUBLE: reject NaN/+-Inf (else NaN is
									 * counted in nan_count, kept out of
									 * min/max) */
	const char *build_id;		/* created_by "(build ...)", NULL = PQ_BUILD_ID */
} PqOptions;

/*
 * Output callback: write all len bytes, return 0 on success, non-zero on
 * failure (the writer then fails with PQ_ERR_IO).  The writer never seeks.
 */
typedef struct PqSink
{
	int			(*write) (void *ctx, const void *buf, size_t len);
	void	   *ctx;
} PqSink;

/* One cell.  Which member is read depends on the column type. */
typedef struct PqValue
{
	union
	{
		int64_t		ts;			/* PQ_TIMESTAMP_US: PG TimestampTz */
		double		f64;		/* PQ_DOUBLE */
		int32_t		i32;		/* PQ_INT32, PQ_INT16 */
		bool		b;			/* PQ_BOOLEAN */
		struct
		{
			const char *ptr;	/* PQ_STRING: bytes (not NUL-terminated) */
			size_t		len;
		}			str;
	}			v;
	bool		is_null;
} PqValue;

/* Key/value metadata pair for the footer (value may be NULL). */
typedef struct PqKeyValue
{
	const char *key;
	const char *value;
} PqKeyValue;

typedef struct PqWriter PqWriter;

/* Fill *o with the defaults. */
void		pq_options_init(PqOptions *o);

/*
 * Validate the schema and options and create a writer that will emit to
 * sink.  Returns NULL on failure with a message in errbuf (if given).
 * Nothing is written to the sink before the first row group is flushed.
 */
PqWriter   *pq_writer_create(const PqColumnSpec *cols, int ncols,
							 const PqOptions *opts, PqSink sink,
							 char *errbuf, size_t errbuf_len);

/*
 * Append one row: values[i] belongs to column i.  The row is validated
 * first (NULL in a REQUIRED column, +-infinity or out-of-range timestamps,
 * INT16 range, non-finite doubles if rejected): on PQ_ERR_VALUE nothing was
 * appended.  String bytes are copied before the call returns.
 */
int			pq_write_row(PqWriter *w, const PqValue *values);

/* End the current row group now (no-op when it is empty). */
int			pq_writer_flush_row_group(PqWriter *w);

/*
 * Flush the last row group and write the footer (with the caller's
 * key/value pairs, may be NULL/0).  rows_out and bytes_out (optional)
 * receive the row count and the file size.  Does not close the sink.
 */
int			pq_writer_close(PqWriter *w, const PqKeyValue *kv, int nkv,
							uint64_t *rows_out, uint64_t *bytes_out);

/* Release the writer (closed or not; an unclosed file is incomplete). */
void		pq_writer_free(PqWriter *w);

/* Message of the last error ("" if none). */
const char *pq_writer_errmsg(const PqWriter *w);

/* Rows accepted so far. */
uint64_t	pq_writer_rows(const PqWriter *w);

/* Bytes handed to the sink so far. */
uint64_t	pq_writer_bytes_written(const PqWriter *w);

/* Sink writing to a stdio stream (fwrite; the caller flushes/closes). */
PqSink		pq_sink_stdio(FILE *f);

/* Sink writing to a file descriptor (write(2) loop, retries EINTR). */
PqSink		pq_sink_fd(int fd);

/* Convenience constructors for PqValue. */
static inline PqValue
pq_null(void)
{
	PqValue		v = {.is_null = true};

	return v;
}

static inline PqValue
pq_str(const char *p, size_t len)
{
	PqValue		v = {.v.str = {p, len}};

	return v;
}

static inline PqValue
pq_ts(int64_t pg_timestamptz)
{
	PqValue		v = {.v.ts = pg_timestamptz};

	return v;
}

static inline PqValue
pq_f64(double d)
{
	PqValue		v = {.v.f64 = d};

	return v;
}

static inline PqValue
pq_i32(int32_t i)
{
	PqValue		v = {.v.i32 = i};

	return v;
}

static inline PqValue
pq_bool(bool b)
{
	PqValue		v = {.v.b = b};

	return v;
}

#endif							/* PQ_WRITER_H */
