/*
 * pq_writer.c - public writer API: schema, row groups, footer (see pq_writer.h)
 *
 * File layout: "PAR1", then per row group each column chunk in schema order
 * (dictionary page first when there is one, then data pages), then the
 * FileMetaData, its u32 LE length and "PAR1".  All offsets recorded in the
 * footer are positions counted from the bytes actually handed to the sink.
 */
#include <string.h>

#include "core/me_alloc.h"
#include "pq_column.h"
#include "pq_format.h"
#include "pq_writer.h"

#define PQ_MAGIC "PAR1"
#define PQ_MAX_COLUMNS 32767

enum
{
	WS_OPEN,
	WS_CLOSED,
	WS_FAILED
};

struct PqWriter
{
	PqOptions	opts;
	PqSink		sink;
	int			ncols;
	PqColumn   *cols;
	PqColumnSpec *specs;		/* cols[i].spec, contiguous for the footer */
	PqColEnv	env;
	PqErr		err;
	int			state;
	uint64_t	offset;			/* bytes written so far = next file position */
	uint64_t	rg_rows;		/* rows in the open row group */
	uint64_t	total_rows;		/* rows in flushed row groups */
	PqRowGroupMeta *rgs;
	size_t		nrg;
	size_t		rg_cap;
	PqBuf		arena;			/* statistics min/max bytes */
	PqBuf		dictpage;		/* dictionary page of the chunk being written */
	PqBuf		footer;
	char		created_by[160];
};

/* Defaults documented in pq_writer.h. */
void
pq_options_init(PqOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->codec = PQ_CODEC_UNCOMPRESSED;
	o->zstd_level = 3;
	o->row_group_rows = 122880;
	o->page_bytes = 1024 * 1024;
	o->dict_max_entries = 65536;
	o->dict_max_bytes = 1024 * 1024;
}

/* Copy the caller's options, replacing zeros by defaults, and check them. */
static int
writer_options(PqOptions *o, const PqOptions *in, PqErr *err)
{
	PqOptions	d;

	pq_options_init(&d);
	*o = in ? *in : d;
	if (o->zstd_level == 0)
		o->zstd_level = d.zstd_level;
	if (o->row_group_rows == 0)
		o->row_group_rows = d.row_group_rows;
	if (o->page_bytes == 0)
		o->page_bytes = d.page_bytes;
	if (o->dict_max_entries == 0)
		o->dict_max_entries = d.dict_max_entries;
	if (o->dict_max_bytes == 0)
		o->dict_max_bytes = d.dict_max_bytes;
	if (o->build_id == NULL)
		o->build_id = PQ_BUILD_ID;
	if (o->row_group_rows > INT32_MAX)
		return pq_err_set(err, PQ_ERR_ARG, "row_group_rows %u exceeds %d",
						  o->row_group_rows, INT32_MAX);
	if (o->dict_max_entries > INT32_MAX)
		o->dict_max_entries = INT32_MAX;
	if (o->page_bytes > (1U << 30))
		return pq_err_set(err, PQ_ERR_ARG, "page_bytes %u exceeds 1 GiB",
						  o->page_bytes);
	return PQ_OK;
}

/* Check names (non-empty, unique) and types of the schema. */
static int
writer_check_schema(const PqColumnSpec *cols, int ncols, PqErr *err)
{
	if (cols == NULL || ncols < 1 || ncols > PQ_MAX_COLUMNS)
		return pq_err_set(err, PQ_ERR_ARG,
						  "a Parquet schema needs 1 to %d columns", PQ_MAX_COLUMNS);
	for (int i = 0; i < ncols; i++)
	{
		if (cols[i].name == NULL || cols[i].name[0] == '\0')
			return pq_err_set(err, PQ_ERR_ARG, "column %d has no name", i + 1);
		if ((int) cols[i].type < PQ_STRING || cols[i].type > PQ_BOOLEAN)
			return pq_err_set(err, PQ_ERR_ARG, "column \"%s\" has invalid type %d",
							  cols[i].name, (int) cols[i].type);
		for (int j = 0; j < i; j++)
			if (strcmp(cols[i].name, cols[j].name) == 0)
				return pq_err_set(err, PQ_ERR_ARG, "duplicate column name \"%s\"",
								  cols[i].name);
	}
	return PQ_OK;
}

/* Allocate the writer and its columns; NULL only if memory ran out. */
static PqWriter *
writer_alloc(int ncols)
{
	PqWriter   *w = me_alloc(sizeof(PqWriter));

	if (w == NULL)
		return NULL;
	memset(w, 0, sizeof(*w));
	pq_buf_init(&w->env.body);
	pq_buf_init(&w->env.cbody);
	pq_buf_init(&w->env.hdr);
	pq_buf_init(&w->arena);
	pq_buf_init(&w->dictpage);
	pq_buf_init(&w->footer);
	w->env.err = &w->err;
	w->cols = me_alloc(sizeof(PqColumn) * ncols);
	w->specs = me_alloc(sizeof(PqColumnSpec) * ncols);
	if (w->cols == NULL || w->specs == NULL)
	{
		pq_writer_free(w);
		return NULL;
	}
	memset(w->cols, 0, sizeof(PqColumn) * ncols);
	return w;
}

/* Options, codec, columns and created_by of a freshly allocated writer. */
static int
writer_setup(PqWriter *w, const PqColumnSpec *cols, int ncols,
			 const PqOptions *opts)
{
	int			rc = writer_options(&w->opts, opts, &w->err);

	if (rc == PQ_OK)
		rc = pq_codec_init(&w->env.codec, w->opts.codec, w->opts.zstd_level,
						   &w->err);
	if (rc != PQ_OK)
		return rc;
	w->env.page_bytes = w->opts.page_bytes;
	w->env.page_rows = w->opts.page_rows;
	w->env.reject_nonfinite = w->opts.reject_nonfinite;
	for (int i = 0; i < ncols; i++)
	{
		rc = pq_col_init(&w->cols[i], &cols[i], &w->opts, &w->err);
		w->ncols = i + 1;
		if (rc != PQ_OK)
			return rc;
		w->specs[i] = w->cols[i].spec;
	}
	snprintf(w->created_by, sizeof(w->created_by),
			 "meter_etl version " PQ_VERSION_STRING " (build %s)",
			 w->opts.build_id);
	return PQ_OK;
}

/* See pq_writer.h. */
PqWriter *
pq_writer_create(const PqColumnSpec *cols, int ncols, const PqOptions *opts,
				 PqSink sink, char *errbuf, size_t errbuf_len)
{
	PqErr		err = {0};
	PqWriter   *w;
	int			rc = writer_check_schema(cols, ncols, &err);

	if (rc == PQ_OK && sink.write == NULL)
		rc = pq_err_set(&err, PQ_ERR_ARG, "the Parquet sink has no write function");
	if (rc == PQ_OK && (w = writer_alloc(ncols)) == NULL)
		rc = pq_err_set(&err, PQ_ERR_NOMEM, "out of memory creating a Parquet writer");
	if (rc == PQ_OK)
	{
		w->sink = sink;
		rc = writer_setup(w, cols, ncols, opts);
		if (rc == PQ_OK)
			return w;
		err = w->err;
		pq_writer_free(w);
	}
	if (errbuf != NULL && errbuf_len > 0)
		snprintf(errbuf, errbuf_len, "%s", err.msg);
	return NULL;
}

/* Mark the writer unusable after a non-value error. */
static int
writer_fail(PqWriter *w, int rc)
{
	if (rc != PQ_ERR_VALUE)
		w->state = WS_FAILED;
	return rc;
}

/* Hand bytes to the sink and advance the file position. */
static int
writer_emit(PqWriter *w, const void *p, size_t n)
{
	if (n == 0)
		return PQ_OK;
	if (w->sink.write(w->sink.ctx, p, n) != 0)
		return pq_err_set(&w->err, PQ_ERR_IO,
						  "could not write %zu bytes to the Parquet output", n);
	w->offset += n;
	return PQ_OK;
}

/* Refuse work once closed or failed. */
static int
writer_check_open(PqWriter *w)
{
	if (w == NULL)
		return PQ_ERR_ARG;
	if (w->state == WS_OPEN)
		return PQ_OK;
	return pq_err_set(&w->err, PQ_ERR_STATE, "the Parquet writer is %s",
					  w->state == WS_CLOSED ? "closed" : "in a failed state");
}

/* Do the buffered chunks exceed the row-group byte limit? */
static bool
writer_rg_bytes_reached(const PqWriter *w)
{
	uint64_t	sum = 0;

	if (w->opts.row_group_bytes == 0)
		return false;
	for (int i = 0; i < w->ncols; i++)
		sum += w->cols[i].chunk.len;
	return sum >= w->opts.row_group_bytes;
}

/* See pq_writer.h. */
int
pq_write_row(PqWriter *w, const PqValue *values)
{
	int			rc = writer_check_open(w);
	uint64_t	pages = w ? w->env.pages_emitted : 0;

	if (rc != PQ_OK)
		return rc;
	if (values == NULL)
		return pq_err_set(&w->err, PQ_ERR_ARG, "row without values");
	rc = pq_cols_validate_row(w->cols, w->ncols, &w->env, values);
	if (rc != PQ_OK)
		return rc;
	rc = pq_cols_append_row(w->cols, w->ncols, &w->env, values);
	if (rc != PQ_OK)
		return writer_fail(w, rc);
	w->rg_rows++;
	if (w->rg_rows >= w->opts.row_group_rows ||
		(w->env.pages_emitted != pages && writer_rg_bytes_reached(w)))
		return pq_writer_flush_row_group(w);
	return PQ_OK;
}

/* Room for one more row group description. */
static int
writer_reserve_rg(PqWriter *w)
{
	PqRowGroupMeta *g;

	if (w->nrg == w->rg_cap)
	{
		size_t		cap = w->rg_cap ? w->rg_cap * 2 : 16;
		PqRowGroupMeta *p = me_realloc(w->rgs, sizeof(PqRowGroupMeta) * cap);

		if (p == NULL)
			return pq_err_set(&w->err, PQ_ERR_NOMEM, "out of memory in Parquet footer");
		w->rgs = p;
		w->rg_cap = cap;
	}
	g = &w->rgs[w->nrg];
	memset(g, 0, sizeof(*g));
	g->chunks = me_alloc(sizeof(PqChunkMeta) * w->ncols);
	if (g->chunks == NULL)
		return pq_err_set(&w->err, PQ_ERR_NOMEM, "out of memory in Parquet footer");
	return PQ_OK;
}

/* Write one column's chunk (dictionary page, data pages) and describe it. */
static int
writer_chunk(PqWriter *w, PqColumn *c, PqRowGroupMeta *g, PqChunkMeta *m)
{
	int			rc = pq_col_finish_chunk(c, &w->env, &w->dictpage);

	if (rc != PQ_OK)
		return rc;
	*m = c->meta;
	if (m->num_values != g->num_rows ||
		(uint64_t) m->total_compressed != w->dictpage.len + c->chunk.len)
		return pq_err_set(&w->err, PQ_ERR_STATE,
						  "internal error: inconsistent chunk of column \"%s\"",
						  c->spec.name);
	if (w->dictpage.len > 0)
		m->dict_page_offset = (int64_t) w->offset;
	rc = writer_emit(w, w->dictpage.data, w->dictpage.len);
	m->data_page_offset = (int64_t) w->offset;
	if (rc == PQ_OK)
		rc = writer_emit(w, c->chunk.data, c->chunk.len);
	if (rc == PQ_OK && pq_stats_store(&c->stats, c->spec.type, &w->arena, m) != PQ_OK)
		rc = pq_err_set(&w->err, PQ_ERR_NOMEM, "out of memory in Parquet statistics");
	g->total_byte_size += m->total_uncompressed;
	g->total_compressed += m->total_compressed;
	pq_col_reset_chunk(c);
	return rc;
}

/* See pq_writer.h. */
int
pq_writer_flush_row_group(PqWriter *w)
{
	int			rc = writer_check_open(w);
	PqRowGroupMeta *g;

	if (rc != PQ_OK || w->rg_rows == 0)
		return rc;
	if (w->offset == 0 && (rc = writer_emit(w, PQ_MAGIC, 4)) != PQ_OK)
		return writer_fail(w, rc);
	if ((rc = writer_reserve_rg(w)) != PQ_OK)
		return writer_fail(w, rc);
	g = &w->rgs[w->nrg++];
	g->num_rows = (int64_t) w->rg_rows;
	g->file_offset = (int64_t) w->offset;
	for (int i = 0; i < w->ncols; i++)
	{
		rc = writer_chunk(w, &w->cols[i], g, &g->chunks[i]);
		if (rc != PQ_OK)
			return writer_fail(w, rc);
	}
	w->total_rows += w->rg_rows;
	w->rg_rows = 0;
	return PQ_OK;
}

/* FileMetaData, its length and the closing magic. */
static int
writer_footer(PqWriter *w, const PqKeyValue *kv, int nkv)
{
	PqFooter	f = {
		.cols = w->specs,.ncols = w->ncols,.rgs = w->rgs,.nrg = w->nrg,
		.num_rows = (int64_t) w->total_rows,.kv = kv,.nkv = nkv,
		.created_by = w->created_by,.codec = w->opts.codec,
		.arena = w->arena.data
	};
	uint32_t	len;
	int			rc;

	pq_buf_reset(&w->footer);
	rc = pq_fmt_footer(&w->footer, &f);
	if (rc != PQ_OK || w->footer.len > UINT32_MAX)
		return pq_err_set(&w->err, PQ_ERR_NOMEM, "could not encode the Parquet footer");
	len = (uint32_t) w->footer.len;
	rc = writer_emit(w, w->footer.data, w->footer.len);
	if (rc == PQ_OK)
		rc = writer_emit(w, &len, 4);
	if (rc == PQ_OK)
		rc = writer_emit(w, PQ_MAGIC, 4);
	return rc;
}

/* See pq_writer.h. */
int
pq_writer_close(PqWriter *w, const PqKeyValue *kv, int nkv,
				uint64_t *rows_out, uint64_t *bytes_out)
{
	int			rc = writer_check_open(w);

	if (rc != PQ_OK)
		return rc;
	for (int i = 0; i < nkv; i++)
		if (kv == NULL || kv[i].key == NULL)
			return pq_err_set(&w->err, PQ_ERR_ARG, "key/value metadata without a key");
	rc = pq_writer_flush_row_group(w);
	if (rc == PQ_OK && w->offset == 0)
		rc = writer_emit(w, PQ_MAGIC, 4);
	if (rc == PQ_OK)
		rc = writer_footer(w, kv, nkv);
	if (rc != PQ_OK)
		return writer_fail(w, rc);
	w->state = WS_CLOSED;
	if (rows_out)
		*rows_out = w->total_rows;
	if (bytes_out)
		*bytes_out = w->offset;
	return PQ_OK;
}

/* See pq_writer.h. */
void
pq_writer_free(PqWriter *w)
{
	if (w == NULL)
		return;
	for (int i = 0; i < w->ncols; i++)
		pq_col_free(&w->cols[i]);
	for (size_t i = 0; i < w->nrg; i++)
		me_free(w->rgs[i].chunks);
	me_free(w->rgs);
	me_free(w->cols);
	me_free(w->specs);
	pq_codec_free(&w->env.codec);
	pq_buf_free(&w->env.body);
	pq_buf_free(&w->env.cbody);
	pq_buf_free(&w->env.hdr);
	pq_buf_free(&w->arena);
	pq_buf_free(&w->dictpage);
	pq_buf_free(&w->footer);
	me_free(w);
}

/* See pq_writer.h. */
const char *
pq_writer_errmsg(const PqWriter *w)
{
	return w ? w->err.msg : "no Parquet writer";
}

/* See pq_writer.h. */
uint64_t
pq_writer_rows(const PqWriter *w)
{
	return w->total_rows + w->rg_rows;
}

/* See pq_writer.h. */
uint64_t
pq_writer_bytes_written(const PqWriter *w)
{
	return w->offset;
}
