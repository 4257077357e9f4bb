/*
 * pq_column.h - one column of the writer: page building and chunk state
 *
 * A PqColumn receives the values of one schema field row by row.  It keeps
 * the page being filled (definition levels, PLAIN values or dictionary
 * indices), encodes and compresses that page as soon as it is full and
 * appends it (header + body) to the column chunk buffer, which holds the
 * encoded pages of the current row group.  At the end of the row group
 * pq_col_finish_chunk produces the dictionary page (which the writer emits
 * first) and the chunk's metadata.
 *
 * State shared by all columns of a writer (codec, scratch buffers, limits,
 * error record) lives in a PqColEnv.
 */
#ifndef PQ_COLUMN_H
#define PQ_COLUMN_H

#include <stdbool.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_codec.h"
#include "pq_dict.h"
#include "pq_format.h"
#include "pq_stats.h"
#include "pq_writer.h"

typedef struct PqColEnv
{
	PqCodecState codec;
	PqBuf		body;			/* uncompressed body of the page being emitted */
	PqBuf		cbody;			/* its compressed form */
	PqBuf		hdr;			/* its PageHeader */
	uint32_t	page_bytes;
	uint32_t	page_rows;		/* 0 = unlimited */
	bool		reject_nonfinite;
	uint64_t	pages_emitted;	/* lets the writer notice page flushes */
	PqErr	   *err;
} PqColEnv;

typedef struct PqColumn
{
	PqColumnSpec spec;			/* name is an owned copy */
	uint32_t	page_bytes;		/* target page size */
	uint32_t	page_row_cap;	/* cut the page at this many rows */
	uint32_t	page_nval_cap;	/* ... or at this many values (fixed widths) */
	/* page being filled */
	uint32_t	page_rows;		/* rows, NULLs included */
	uint32_t	page_nvals;		/* non-NULL values */
	uint64_t	page_plain_bytes;	/* PLAIN size of pending dictionary-coded
									 * strings */
	uint8_t    *defs;			/* definition levels (OPTIONAL only) */
	uint32_t	defs_cap;
	uint32_t   *idx;			/* dictionary indices (dictionary mode) */
	uint32_t	idx_cap;
	PqBuf		vals;			/* PLAIN values; 0/1 bytes for BOOLEAN */
	/* dictionary */
	bool		dict_mode;		/* values of this chunk go to the dictionary */
	PqDict		dict;
	int			dict_bw;		/* bit width of the largest index */
	bool		last_valid;		/* one-entry cache: sorted input repeats */
	uint64_t	last_key;
	uint32_t	last_idx;
	/* chunk of the current row group */
	PqBuf		chunk;			/* data pages: header + body each */
	PqChunkMeta meta;
	PqStats		stats;
} PqColumn;

/* Set up a column from its spec (copies the name). */
int			pq_col_init(PqColumn *c, const PqColumnSpec *spec,
						const PqOptions *o, PqErr *err);

/* Release everything the column owns. */
void		pq_col_free(PqColumn *c);

/* Check a whole row before anything is appended (PQ_ERR_VALUE if bad). */
int			pq_cols_validate_row(const PqColumn *cols, int ncols,
								 const PqColEnv *e, const PqValue *vals);

/* Append one validated row, flushing pages that fill up. */
int			pq_cols_append_row(PqColumn *cols, int ncols, PqColEnv *e,
							   const PqValue *vals);

/*
 * Close the chunk: flush the last page and, if data pages use the
 * dictionary, encode the dictionary page into dictpage (else leave it
 * empty).  Offsets in c->meta are left for the caller.
 */
int			pq_col_finish_chunk(PqColumn *c, PqColEnv *e, PqBuf *dictpage);

/* Start a new chunk (after the previous one was written out). */
void		pq_col_reset_chunk(PqColumn *c);

#endif							/* PQ_COLUMN_H */
