/*
 * pq_format.h - Parquet metadata structures and their Thrift serialisation
 *
 * Holds the parquet-format enum values the writer uses and the in-memory
 * description of what was written (per column chunk and row group), and
 * turns them into the compact-protocol bytes of PageHeader and
 * FileMetaData.  Field ids follow parquet.thrift.
 */
#ifndef PQ_FORMAT_H
#define PQ_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_writer.h"

/* Physical types (parquet.thrift Type). */
enum
{
	PQ_PHYS_BOOLEAN = 0,
	PQ_PHYS_INT32 = 1,
	PQ_PHYS_INT64 = 2,
	PQ_PHYS_DOUBLE = 5,
	PQ_PHYS_BYTE_ARRAY = 6
};

/* Encodings. */
enum
{
	PQ_ENC_PLAIN = 0,
	PQ_ENC_RLE = 3,
	PQ_ENC_RLE_DICTIONARY = 8
};

/* Page types. */
enum
{
	PQ_PAGE_DATA = 0,
	PQ_PAGE_DICTIONARY = 2
};

/* Converted types (legacy annotations, still read by many tools). */
enum
{
	PQ_CT_UTF8 = 0,
	PQ_CT_TIMESTAMP_MICROS = 10,
	PQ_CT_INT_16 = 16
};

/* Field repetition. */
enum
{
	PQ_REP_REQUIRED = 0,
	PQ_REP_OPTIONAL = 1
};

/* What a PageHeader says about one page. */
typedef struct PqPageHeader
{
	int			type;			/* PQ_PAGE_DATA or PQ_PAGE_DICTIONARY */
	int32_t		uncompressed_size;	/* body only, before compression */
	int32_t		compressed_size;	/* body only, as written */
	int32_t		num_values;		/* data: rows incl. NULLs; dict: entries */
	int			encoding;		/* value encoding */
} PqPageHeader;

/* Everything the footer records about one column chunk. */
typedef struct PqChunkMeta
{
	int64_t		data_page_offset;
	int64_t		dict_page_offset;	/* -1: no dictionary page */
	int64_t		total_uncompressed;
	int64_t		total_compressed;
	int64_t		num_values;
	uint32_t	encodings;		/* bit (1 << encoding) per encoding used */
	int32_t		n_dict_data_pages;	/* data pages encoded RLE_DICTIONARY */
	int32_t		n_plain_data_pages; /* data pages encoded PLAIN */
	int64_t		null_count;
	int64_t		nan_count;
	bool		has_minmax;
	uint32_t	min_off;		/* min/max PLAIN bytes in the stats arena */
	uint32_t	min_len;
	uint32_t	max_off;
	uint32_t	max_len;
} PqChunkMeta;

/* One row group: its chunks in schema order. */
typedef struct PqRowGroupMeta
{
	int64_t		num_rows;
	int64_t		file_offset;
	int64_t		total_byte_size;	/* sum of uncompressed chunk sizes */
	int64_t		total_compressed;
	PqChunkMeta *chunks;
} PqRowGroupMeta;

/* Input of pq_fmt_footer. */
typedef struct PqFooter
{
	const PqColumnSpec *cols;
	int			ncols;
	const PqRowGroupMeta *rgs;
	size_t		nrg;
	int64_t		num_rows;
	const PqKeyValue *kv;
	int			nkv;
	const char *created_by;
	int			codec;
	const uint8_t *arena;		/* statistics bytes referenced by chunks */
} PqFooter;

/* Physical type of a column type. */
int			pq_physical_type(PqType t);

/* Serialise a PageHeader (data page v1 or dictionary page). */
int			pq_fmt_page_header(PqBuf *out, const PqPageHeader *h);

/* Serialise FileMetaData (without the length and magic that follow it). */
int			pq_fmt_footer(PqBuf *out, const PqFooter *f);

/* Serialise one schema leaf (exposed for unit tests). */
void		pq_fmt_schema_leaf(PqBuf *out, const PqColumnSpec *col);

#endif							/* PQ_FORMAT_H */
