/*
 * pq_format.c - PageHeader and FileMetaData serialisation (see pq_format.h)
 */
#include "pq_format.h"
#include "thrift_compact.h"

/* Physical storage of each column type. */
int
pq_physical_type(PqType t)
{
	switch (t)
	{
		case PQ_STRING:
			return PQ_PHYS_BYTE_ARRAY;
		case PQ_TIMESTAMP_US:
			return PQ_PHYS_INT64;
		case PQ_DOUBLE:
			return PQ_PHYS_DOUBLE;
		case PQ_INT32:
		case PQ_INT16:
			return PQ_PHYS_INT32;
		case PQ_BOOLEAN:
			return PQ_PHYS_BOOLEAN;
	}
	return -1;
}

/* PageHeader{1 type, 2 uncompressed, 3 compressed, 5|7 sub-header}. */
int
pq_fmt_page_header(PqBuf *out, const PqPageHeader *h)
{
	TcWriter	t;

	tc_init(&t, out);
	tc_struct_begin(&t);
	tc_field_i32(&t, 1, h->type);
	tc_field_i32(&t, 2, h->uncompressed_size);
	tc_field_i32(&t, 3, h->compressed_size);
	if (h->type == PQ_PAGE_DICTIONARY)
	{
		tc_field_struct_begin(&t, 7);	/* DictionaryPageHeader */
		tc_field_i32(&t, 1, h->num_values);
		tc_field_i32(&t, 2, h->encoding);
		tc_struct_end(&t);
	}
	else
	{
		tc_field_struct_begin(&t, 5);	/* DataPageHeader */
		tc_field_i32(&t, 1, h->num_values);
		tc_field_i32(&t, 2, h->encoding);
		tc_field_i32(&t, 3, PQ_ENC_RLE);	/* definition levels */
		tc_field_i32(&t, 4, PQ_ENC_RLE);	/* repetition levels */
		tc_struct_end(&t);
	}
	tc_struct_end(&t);
	return tc_finish(&t);
}

/* ConvertedType of a column type, -1 if none. */
static int
fmt_converted_type(PqType t)
{
	switch (t)
	{
		case PQ_STRING:
			return PQ_CT_UTF8;
		case PQ_TIMESTAMP_US:
			return PQ_CT_TIMESTAMP_MICROS;
		case PQ_INT16:
			return PQ_CT_INT_16;
		default:
			return -1;
	}
}

/* LogicalType union (field 10 of SchemaElement), when the type has one. */
static void
fmt_logical_type(TcWriter *t, PqType type)
{
	switch (type)
	{
		case PQ_STRING:
			tc_field_struct_begin(t, 10);
			tc_field_empty_struct(t, 1);	/* STRING */
			tc_struct_end(t);
			break;
		case PQ_TIMESTAMP_US:
			tc_field_struct_begin(t, 10);
			tc_field_struct_begin(t, 8);	/* TIMESTAMP */
			tc_field_bool(t, 1, true);	/* isAdjustedToUTC */
			tc_field_struct_begin(t, 2);	/* unit */
			tc_field_empty_struct(t, 2);	/* MICROS */
			tc_struct_end(t);
			tc_struct_end(t);
			tc_struct_end(t);
			break;
		case PQ_INT16:
			tc_field_struct_begin(t, 10);
			tc_field_struct_begin(t, 10);	/* INTEGER */
			tc_field_i8(t, 1, 16);	/* bitWidth */
			tc_field_bool(t, 2, true);	/* isSigned */
			tc_struct_end(t);
			tc_struct_end(t);
			break;
		default:
			break;
	}
}

/* SchemaElement of a leaf: type, repetition, name, converted, logical. */
static void
fmt_schema_leaf_tc(TcWriter *t, const PqColumnSpec *col)
{
	int			ct = fmt_converted_type(col->type);

	tc_struct_begin(t);
	tc_field_i32(t, 1, pq_physical_type(col->type));
	tc_field_i32(t, 3, col->optional ? PQ_REP_OPTIONAL : PQ_REP_REQUIRED);
	tc_field_string(t, 4, col->name);
	if (ct >= 0)
		tc_field_i32(t, 6, ct);
	fmt_logical_type(t, col->type);
	tc_struct_end(t);
}

/* Stand-alone leaf encoding (unit tests compare it with known bytes). */
void
pq_fmt_schema_leaf(PqBuf *out, const PqColumnSpec *col)
{
	TcWriter	t;

	tc_init(&t, out);
	fmt_schema_leaf_tc(&t, col);
}

/* FileMetaData.schema: the root group, then one leaf per column. */
static void
fmt_schema(TcWriter *t, const PqFooter *f)
{
	tc_field_list_begin(t, 2, TC_STRUCT, (uint32_t) f->ncols + 1);
	tc_struct_begin(t);
	tc_field_string(t, 4, "schema");
	tc_field_i32(t, 5, f->ncols);
	tc_struct_end(t);
	for (int i = 0; i < f->ncols; i++)
		fmt_schema_leaf_tc(t, &f->cols[i]);
}

/* Statistics: legacy min/max for non-strings, counts, exact min/max. */
static void
fmt_statistics(TcWriter *t, const PqFooter *f, const PqColumnSpec *col,
			   const PqChunkMeta *c)
{
	/* no arena at all when no chunk has min/max (e.g. all-null columns) */
	const uint8_t *mn = f->arena ? f->arena + c->min_off : NULL;
	const uint8_t *mx = f->arena ? f->arena + c->max_off : NULL;
	bool		legacy = c->has_minmax && col->type != PQ_STRING;

	tc_field_struct_begin(t, 12);
	if (legacy)
	{
		tc_field_binary(t, 1, mx, c->max_len);
		tc_field_binary(t, 2, mn, c->min_len);
	}
	tc_field_i64(t, 3, c->null_count);
	if (c->has_minmax)
	{
		tc_field_binary(t, 5, mx, c->max_len);
		tc_field_binary(t, 6, mn, c->min_len);
		tc_field_bool(t, 7, true);	/* is_max_value_exact */
		tc_field_bool(t, 8, true);	/* is_min_value_exact */
	}
	if (col->type == PQ_DOUBLE)
		tc_field_i64(t, 9, c->nan_count);
	tc_struct_end(t);
}

/* Number of encodings in a bit set. */
static uint32_t
fmt_count_bits(uint32_t set)
{
	uint32_t	n = 0;

	for (; set != 0; set &= set - 1)
		n++;
	return n;
}

/* encoding_stats: one entry per (page type, encoding) actually written. */
static void
fmt_encoding_stats(TcWriter *t, const PqChunkMeta *c)
{
	uint32_t	n = (c->dict_page_offset >= 0) + (c->n_dict_data_pages > 0) +
		(c->n_plain_data_pages > 0);
	int			rows[3][3] = {
		{PQ_PAGE_DICTIONARY, PQ_ENC_PLAIN, c->dict_page_offset >= 0},
		{PQ_PAGE_DATA, PQ_ENC_RLE_DICTIONARY, c->n_dict_data_pages},
		{PQ_PAGE_DATA, PQ_ENC_PLAIN, c->n_plain_data_pages},
	};

	tc_field_list_begin(t, 13, TC_STRUCT, n);
	for (int i = 0; i < 3; i++)
	{
		if (rows[i][2] == 0)
			continue;
		tc_struct_begin(t);
		tc_field_i32(t, 1, rows[i][0]);
		tc_field_i32(t, 2, rows[i][1]);
		tc_field_i32(t, 3, rows[i][2]);
		tc_struct_end(t);
	}
}

/* ColumnMetaData of one chunk. */
static void
fmt_column_meta(TcWriter *t, const PqFooter *f, const PqColumnSpec *col,
				const PqChunkMeta *c)
{
	tc_field_struct_begin(t, 3);
	tc_field_i32(t, 1, pq_physical_type(col->type));
	tc_field_list_begin(t, 2, TC_I32, fmt_count_bits(c->encodings));
	for (int e = 0; e < 32; e++)
		if (c->encodings & (UINT32_C(1) << e))
			tc_write_i32(t, e);
	tc_field_list_begin(t, 3, TC_BINARY, 1);
	tc_write_binary(t, col->name, strlen(col->name));
	tc_field_i32(t, 4, f->codec);
	tc_field_i64(t, 5, c->num_values);
	tc_field_i64(t, 6, c->total_uncompressed);
	tc_field_i64(t, 7, c->total_compressed);
	tc_field_i64(t, 9, c->data_page_offset);
	if (c->dict_page_offset >= 0)
		tc_field_i64(t, 11, c->dict_page_offset);
	fmt_statistics(t, f, col, c);
	fmt_encoding_stats(t, c);
	tc_struct_end(t);
}

/* RowGroup: ColumnChunk list, sizes, row count, offset, ordinal. */
static void
fmt_row_group(TcWriter *t, const PqFooter *f, size_t rg)
{
	const PqRowGroupMeta *g = &f->rgs[rg];

	tc_struct_begin(t);
	tc_field_list_begin(t, 1, TC_STRUCT, (uint32_t) f->ncols);
	for (int i = 0; i < f->ncols; i++)
	{
		tc_struct_begin(t);
		tc_field_i64(t, 2, 0);	/* file_offset: deprecated, 0 */
		fmt_column_meta(t, f, &f->cols[i], &g->chunks[i]);
		tc_struct_end(t);
	}
	tc_field_i64(t, 2, g->total_byte_size);
	tc_field_i64(t, 3, g->num_rows);
	tc_field_i64(t, 5, g->file_offset);
	tc_field_i64(t, 6, g->total_compressed);
	if (rg <= INT16_MAX)
		tc_field_i16(t, 7, (int16_t) rg);
	tc_struct_end(t);
}

/* key_value_metadata list (only when the caller gave pairs). */
static void
fmt_key_values(TcWriter *t, const PqFooter *f)
{
	if (f->nkv <= 0)
		return;
	tc_field_list_begin(t, 5, TC_STRUCT, (uint32_t) f->nkv);
	for (int i = 0; i < f->nkv; i++)
	{
		tc_struct_begin(t);
		tc_field_string(t, 1, f->kv[i].key);
		if (f->kv[i].value != NULL)
			tc_field_string(t, 2, f->kv[i].value);
		tc_struct_end(t);
	}
}

/* column_orders: TYPE_ORDER for every leaf, so min/max are defined. */
static void
fmt_column_orders(TcWriter *t, const PqFooter *f)
{
	tc_field_list_begin(t, 7, TC_STRUCT, (uint32_t) f->ncols);
	for (int i = 0; i < f->ncols; i++)
	{
		tc_struct_begin(t);
		tc_field_empty_struct(t, 1);	/* TYPE_ORDER */
		tc_struct_end(t);
	}
}

/* FileMetaData{1 version, 2 schema, 3 num_rows, 4 row_groups, 5, 6, 7}. */
int
pq_fmt_footer(PqBuf *out, const PqFooter *f)
{
	TcWriter	t;

	tc_init(&t, out);
	tc_struct_begin(&t);
	tc_field_i32(&t, 1, 1);
	fmt_schema(&t, f);
	tc_field_i64(&t, 3, f->num_rows);
	tc_field_list_begin(&t, 4, TC_STRUCT, (uint32_t) f->nrg);
	for (size_t i = 0; i < f->nrg; i++)
		fmt_row_group(&t, f, i);
	fmt_key_values(&t, f);
	tc_field_string(&t, 6, f->created_by);
	fmt_column_orders(&t, f);
	tc_struct_end(&t);
	return tc_finish(&t);
}
