/*
 * pq_column.c - page building and chunk state of one column (see pq_column.h)
 *
 * Page body layout (data page v1, flat schema): [u32 length + RLE/bit-packed
 * definition levels, OPTIONAL columns only] then the non-NULL values, either
 * PLAIN or as 1 byte of bit width followed by RLE/bit-packed dictionary
 * indices.  Repetition levels never occur in a flat schema.
 */
#include <math.h>
#include <string.h>

#include "core/me_alloc.h"
#include "pq_column.h"
#include "rle.h"

/* Longest string value accepted (a page must stay below 2 GiB). */
#define PQ_MAX_VALUE_LEN ((size_t) INT32_MAX - 1024)

/* NUL-terminated copy of a name through me_alloc. */
static char *
col_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = me_alloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

/* Key width in the dictionary: 4 (INT32), 8 (INT64/DOUBLE), 0 (strings). */
static int
col_key_width(PqType t)
{
	switch (t)
	{
		case PQ_INT32:
		case PQ_INT16:
			return 4;
		case PQ_TIMESTAMP_US:
		case PQ_DOUBLE:
			return 8;
		default:
			return 0;
	}
}

/* Copy the spec, set up buffers, dictionary and a fresh chunk. */
int
pq_col_init(PqColumn *c, const PqColumnSpec *spec, const PqOptions *o,
			PqErr *err)
{
	memset(c, 0, sizeof(*c));
	c->spec = *spec;
	if (spec->type == PQ_BOOLEAN)
		c->spec.dictionary = false;
	pq_buf_init(&c->vals);
	pq_buf_init(&c->chunk);
	pq_stats_init(&c->stats);
	pq_dict_init(&c->dict, col_key_width(spec->type), o->dict_max_entries,
				 o->dict_max_bytes);
	c->page_bytes = o->page_bytes;
	/* definition levels alone stay below page_bytes */
	c->page_row_cap = (uint64_t) o->page_bytes * 8 > INT32_MAX ? INT32_MAX :
		o->page_bytes * 8;
	if (o->page_rows != 0 && o->page_rows < c->page_row_cap)
		c->page_row_cap = o->page_rows;
	c->spec.name = col_strdup(spec->name);
	if (c->spec.name == NULL)
		return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a column");
	pq_col_reset_chunk(c);
	return PQ_OK;
}

/* Free buffers, dictionary, statistics and the name. */
void
pq_col_free(PqColumn *c)
{
	me_free((void *) c->spec.name);
	me_free(c->defs);
	me_free(c->idx);
	pq_buf_free(&c->vals);
	pq_buf_free(&c->chunk);
	pq_dict_free(&c->dict);
	pq_stats_free(&c->stats);
	memset(c, 0, sizeof(*c));
}

/*
 * Values per page for the current encoding, so that the per-row check is a
 * comparison: PLAIN fixed width = page_bytes / width, dictionary indices =
 * page_bytes * 8 / index bits, booleans = page_bytes * 8 bits; PLAIN
 * strings are measured in bytes instead (cap left at UINT32_MAX).
 */
static void
col_update_cap(PqColumn *c)
{
	uint64_t	bits = (uint64_t) c->page_bytes * 8;
	uint64_t	cap;
	int			w = col_key_width(c->spec.type);

	if (c->dict_mode)
		cap = (bits + c->dict_bw - 1) / c->dict_bw;
	else if (c->spec.type == PQ_BOOLEAN)
		cap = bits;
	else if (w != 0)
		cap = (c->page_bytes + w - 1) / w;
	else
		cap = UINT32_MAX;
	c->page_nval_cap = cap > UINT32_MAX ? UINT32_MAX : (uint32_t) cap;
}

/* Empty chunk: metadata, statistics, dictionary and value cache cleared. */
void
pq_col_reset_chunk(PqColumn *c)
{
	c->page_rows = 0;
	c->page_nvals = 0;
	c->page_plain_bytes = 0;
	pq_buf_reset(&c->vals);
	c->dict_mode = c->spec.dictionary;
	pq_dict_reset(&c->dict);
	c->dict_bw = 1;
	c->last_valid = false;
	col_update_cap(c);
	pq_buf_reset(&c->chunk);
	memset(&c->meta, 0, sizeof(c->meta));
	c->meta.dict_page_offset = -1;
	pq_stats_reset(&c->stats);
}

/* ---------------------------------------------------------------- checks */

/* Reject values the column cannot store; nothing is modified. */
static int
col_validate(const PqColumn *c, const PqColEnv *e, const PqValue *v)
{
	const char *name = c->spec.name;

	if (v->is_null)
		return c->spec.optional ? PQ_OK :
			pq_err_set(e->err, PQ_ERR_VALUE,
					   "null value in REQUIRED column \"%s\"", name);
	switch (c->spec.type)
	{
		case PQ_TIMESTAMP_US:
			if (v->v.ts == INT64_MIN || v->v.ts == INT64_MAX)
				return pq_err_set(e->err, PQ_ERR_VALUE,
								  "cannot store infinite timestamp in column \"%s\"",
								  name);
			if (v->v.ts > INT64_MAX - PQ_PG_EPOCH_OFFSET_US)
				return pq_err_set(e->err, PQ_ERR_VALUE,
								  "timestamp out of range in column \"%s\"", name);
			break;
		case PQ_INT16:
			if (v->v.i32 < INT16_MIN || v->v.i32 > INT16_MAX)
				return pq_err_set(e->err, PQ_ERR_VALUE,
								  "value %d out of range for INT16 column \"%s\"",
								  (int) v->v.i32, name);
			break;
		case PQ_DOUBLE:
			if (e->reject_nonfinite && !isfinite(v->v.f64))
				return pq_err_set(e->err, PQ_ERR_VALUE,
								  "non-finite value (%s) in DOUBLE column \"%s\"",
								  isnan(v->v.f64) ? "NaN" : "infinity", name);
			break;
		case PQ_STRING:
			if (v->v.str.len > PQ_MAX_VALUE_LEN)
				return pq_err_set(e->err, PQ_ERR_VALUE,
								  "string of %zu bytes is too long for column \"%s\"",
								  v->v.str.len, name);
			if (v->v.str.ptr == NULL && v->v.str.len > 0)
				return pq_err_set(e->err, PQ_ERR_ARG,
								  "string without data in column \"%s\"", name);
			break;
		default:
			break;
	}
	return PQ_OK;
}

/* Validate every cell of a row. */
int
pq_cols_validate_row(const PqColumn *cols, int ncols, const PqColEnv *e,
					 const PqValue *vals)
{
	for (int i = 0; i < ncols; i++)
	{
		int			rc = col_validate(&cols[i], e, &vals[i]);

		if (rc != PQ_OK)
			return rc;
	}
	return PQ_OK;
}

/* ---------------------------------------------------------------- pages */

/* Grow a page array (levels or indices) geometrically. */
static int
col_grow(void **arr, uint32_t *cap, size_t elem)
{
	uint32_t	ncap = *cap ? *cap * 2 : 4096;
	void	   *p;

	if (*cap >= UINT32_MAX / 2)
		return PQ_ERR_LIMIT;
	p = me_realloc(*arr, (size_t) ncap * elem);
	if (p == NULL)
		return PQ_ERR_NOMEM;
	*arr = p;
	*cap = ncap;
	return PQ_OK;
}

/* Error for a failed page-buffer allocation. */
static int
col_nomem(const PqColumn *c, const PqColEnv *e)
{
	return pq_err_set(e->err, PQ_ERR_NOMEM,
					  "out of memory buffering column \"%s\"", c->spec.name);
}

/*
 * Compress (if needed) and append header + body to dst, adding the sizes
 * to the chunk totals.  h gives type, num_values and encoding.
 */
static int
col_emit_page(PqColumn *c, PqColEnv *e, PqPageHeader *h, const PqBuf *body,
			  PqBuf *dst)
{
	static const uint8_t empty[1];
	const uint8_t *src = body->data ? body->data : empty;
	const uint8_t *payload = src;
	size_t		plen = body->len;
	int			rc;

	if (body->len > INT32_MAX)
		return pq_err_set(e->err, PQ_ERR_LIMIT,
						  "page of column \"%s\" exceeds 2 GiB", c->spec.name);
	if (e->codec.codec != PQ_CODEC_UNCOMPRESSED)
	{
		rc = pq_codec_compress(&e->codec, src, body->len, &e->cbody, e->err);
		if (rc != PQ_OK)
			return rc;
		payload = e->cbody.data;
		plen = e->cbody.len;
		if (plen > INT32_MAX)
			return pq_err_set(e->err, PQ_ERR_LIMIT,
							  "compressed page of column \"%s\" exceeds 2 GiB",
							  c->spec.name);
	}
	h->uncompressed_size = (int32_t) body->len;
	h->compressed_size = (int32_t) plen;
	pq_buf_reset(&e->hdr);
	if (pq_fmt_page_header(&e->hdr, h) != PQ_OK)
		return col_nomem(c, e);
	pq_buf_put(dst, e->hdr.data, e->hdr.len);
	pq_buf_put(dst, payload, plen);
	if (dst->oom)
		return col_nomem(c, e);
	c->meta.total_uncompressed += (int64_t) (e->hdr.len + body->len);
	c->meta.total_compressed += (int64_t) (e->hdr.len + plen);
	return PQ_OK;
}

/* Definition levels: u32 LE byte length, then the hybrid encoding. */
static void
col_put_levels(const PqColumn *c, PqBuf *b)
{
	size_t		at = b->len;
	uint32_t	n;

	pq_buf_put_u32le(b, 0);
	pq_rle_encode_u8(b, c->defs, c->page_rows, 1);
	if (b->oom)
		return;
	n = (uint32_t) (b->len - at - 4);
	memcpy(b->data + at, &n, 4);
}

/* Dictionary indices: bit width byte, then the hybrid encoding. */
static void
col_put_indices(const PqColumn *c, PqBuf *b)
{
	int			bw = pq_bit_width(c->dict.count - 1);

	if (bw < 1)
		bw = 1;
	pq_buf_put_u8(b, (uint8_t) bw);
	pq_rle_encode_u32(b, c->idx, c->page_nvals, bw);
}

/* Encode the pending page into the chunk and start a new page. */
static int
col_flush_page(PqColumn *c, PqColEnv *e)
{
	PqBuf	   *b = &e->body;
	PqPageHeader h = {.type = PQ_PAGE_DATA, .encoding = PQ_ENC_PLAIN};
	int			rc;

	if (c->page_rows == 0)
		return PQ_OK;
	pq_buf_reset(b);
	if (c->spec.optional)
		col_put_levels(c, b);
	if (c->dict_mode && c->page_nvals > 0)
	{
		h.encoding = PQ_ENC_RLE_DICTIONARY;
		col_put_indices(c, b);
	}
	else if (c->spec.type == PQ_BOOLEAN)
		pq_pack_bools(b, c->vals.data, c->page_nvals);
	else
		pq_buf_put(b, c->vals.data, c->vals.len);
	if (b->oom)
		return col_nomem(c, e);
	h.num_values = (int32_t) c->page_rows;
	rc = col_emit_page(c, e, &h, b, &c->chunk);
	if (rc != PQ_OK)
		return rc;
	if (h.encoding == PQ_ENC_RLE_DICTIONARY)
		c->meta.n_dict_data_pages++;
	else
		c->meta.n_plain_data_pages++;
	c->meta.encodings |= UINT32_C(1) << h.encoding;
	if (c->spec.optional)
		c->meta.encodings |= UINT32_C(1) << PQ_ENC_RLE;
	c->meta.num_values += c->page_rows;
	c->page_rows = 0;
	c->page_nvals = 0;
	c->page_plain_bytes = 0;
	pq_buf_reset(&c->vals);
	e->pages_emitted++;
	return PQ_OK;
}

/* Has the pending page reached the size or row target? */
static inline bool
col_page_full(const PqColumn *c)
{
	return c->page_rows >= c->page_row_cap ||
		c->page_nvals >= c->page_nval_cap ||
		(c->spec.type == PQ_STRING && !c->dict_mode &&
		 c->vals.len >= c->page_bytes);
}

/* ---------------------------------------------------------------- values */

/* Fold a scalar key into the statistics according to the column type. */
static inline void
col_stats_scalar(PqColumn *c, uint64_t key)
{
	double		d;

	switch (c->spec.type)
	{
		case PQ_DOUBLE:
			memcpy(&d, &key, 8);
			pq_stats_double(&c->stats, d);
			break;
		case PQ_TIMESTAMP_US:
			pq_stats_int(&c->stats, (int64_t) key);
			break;
		default:
			pq_stats_int(&c->stats, (int32_t) (uint32_t) key);
			break;
	}
}

/* Rewrite the pending indices as PLAIN values (dictionary abandoned). */
static void
col_indices_to_plain(PqColumn *c)
{
	int			w = c->dict.width;

	pq_buf_reset(&c->vals);
	for (uint32_t i = 0; i < c->page_nvals; i++)
	{
		uint32_t	len;
		const uint8_t *p;

		if (w != 0)
		{
			pq_buf_put(&c->vals, c->dict.plain.data + (size_t) c->idx[i] * w, w);
			continue;
		}
		p = pq_dict_bytes(&c->dict, c->idx[i], &len);
		pq_buf_put_u32le(&c->vals, len);
		pq_buf_put(&c->vals, p, len);
	}
}

/* Size of the pending dictionary-coded values once written PLAIN. */
static uint64_t
col_pending_plain_bytes(const PqColumn *c)
{
	if (c->dict.width != 0)
		return (uint64_t) c->page_nvals * c->dict.width;
	return c->page_plain_bytes;
}

/*
 * The dictionary is full.  If no page of this chunk used it yet and the
 * pending page fits in page_bytes once PLAIN, the page is converted and the
 * chunk becomes pure PLAIN.  Otherwise the pending page is emitted with the
 * dictionary and the rest of the chunk is PLAIN (a mixed chunk), so memory
 * stays bounded by the page size either way.
 */
static int
col_fallback(PqColumn *c, PqColEnv *e)
{
	int			rc = PQ_OK;

	c->last_valid = false;
	if (c->meta.n_dict_data_pages == 0 &&
		col_pending_plain_bytes(c) <= c->page_bytes)
	{
		col_indices_to_plain(c);
		pq_dict_reset(&c->dict);
		if (c->vals.oom)
			rc = col_nomem(c, e);
	}
	else
		rc = col_flush_page(c, e);
	c->dict_mode = false;
	col_update_cap(c);
	return rc;
}

/* Append a dictionary index to the pending page. */
static inline int
col_push_idx(PqColumn *c, PqColEnv *e, uint32_t idx)
{
	if (c->page_nvals >= c->idx_cap &&
		col_grow((void **) &c->idx, &c->idx_cap, sizeof(uint32_t)) != PQ_OK)
		return col_nomem(c, e);
	c->idx[c->page_nvals] = idx;
	return PQ_OK;
}

/* A dictionary entry was added: remember the index width for page sizing. */
static inline void
col_dict_added(PqColumn *c)
{
	int			bw = pq_bit_width(c->dict.count - 1);

	if (bw < 1)
		bw = 1;
	if (bw != c->dict_bw)
	{
		c->dict_bw = bw;
		col_update_cap(c);
	}
}

/*
 * Index of a scalar already in the dictionary, trying first the previous
 * value and the entry after it (sorted input repeats values, or cycles
 * through the same timestamps in first-seen order), then the hash table.
 */
static inline bool
col_dict_find(const PqColumn *c, uint64_t key, uint32_t *idx)
{
	if (c->last_valid)
	{
		uint32_t	next = c->last_idx + 1;

		if (c->last_key == key)
		{
			*idx = c->last_idx;
			return true;
		}
		if (next < c->dict.count && pq_dict_scalar(&c->dict, next) == key)
		{
			*idx = next;
			return true;
		}
	}
	return pq_dict_find_scalar(&c->dict, key, idx);
}

/* Dictionary path of a scalar; PQ_DICT_FULL after falling back. */
static inline int
col_dict_scalar(PqColumn *c, PqColEnv *e, uint64_t key)
{
	uint32_t	idx;

	if (!col_dict_find(c, key, &idx))
	{
		int			r = pq_dict_lookup_scalar(&c->dict, key, &idx);

		if (r == PQ_DICT_FULL)
		{
			r = col_fallback(c, e);
			return r != PQ_OK ? r : PQ_DICT_FULL;
		}
		if (r < 0)
			return col_nomem(c, e);
		col_dict_added(c);
		col_stats_scalar(c, key);
	}
	c->last_valid = true;
	c->last_key = key;
	c->last_idx = idx;
	return col_push_idx(c, e, idx);
}

/* Store a fixed-width value (key holds its little-endian bits). */
static inline int
col_put_scalar(PqColumn *c, PqColEnv *e, uint64_t key, int width)
{
	if (c->dict_mode)
	{
		int			r = col_dict_scalar(c, e, key);

		if (r != PQ_DICT_FULL)
			return r;
	}
	col_stats_scalar(c, key);
	pq_buf_put(&c->vals, &key, width);
	return c->vals.oom ? col_nomem(c, e) : PQ_OK;
}

/* Dictionary path of a string; PQ_DICT_FULL after falling back. */
static inline int
col_dict_bytes(PqColumn *c, PqColEnv *e, const char *p, uint32_t len)
{
	uint32_t	idx = c->last_idx;
	int			r;

	c->page_plain_bytes += (uint64_t) len + 4;
	if (c->last_valid)
	{
		uint32_t	elen;
		const uint8_t *ep = pq_dict_bytes(&c->dict, idx, &elen);

		if (elen == len && memcmp(ep, p, len) == 0)
			return col_push_idx(c, e, idx);
	}
	r = pq_dict_lookup_bytes(&c->dict, p, len, &idx);
	if (r == PQ_DICT_FULL)
	{
		r = col_fallback(c, e);
		return r != PQ_OK ? r : PQ_DICT_FULL;
	}
	if (r < 0)
		return col_nomem(c, e);
	if (r == PQ_DICT_ADDED)
	{
		col_dict_added(c);
		pq_stats_bytes(&c->stats, p, len);
	}
	c->last_valid = true;
	c->last_idx = idx;
	return col_push_idx(c, e, idx);
}

/* Store a string: dictionary index or PLAIN length + bytes. */
static inline int
col_put_bytes(PqColumn *c, PqColEnv *e, const char *p, size_t len)
{
	static const char empty[1];

	if (p == NULL)
		p = empty;
	if (c->dict_mode)
	{
		int			r = col_dict_bytes(c, e, p, (uint32_t) len);

		if (r != PQ_DICT_FULL)
			return r;
	}
	pq_stats_bytes(&c->stats, p, len);
	pq_buf_put_u32le(&c->vals, (uint32_t) len);
	pq_buf_put(&c->vals, p, len);
	return c->vals.oom ? col_nomem(c, e) : PQ_OK;
}

/* Store one non-NULL value of any type. */
static inline int
col_put_value(PqColumn *c, PqColEnv *e, const PqValue *v)
{
	uint64_t	key;

	switch (c->spec.type)
	{
		case PQ_STRING:
			return col_put_bytes(c, e, v->v.str.ptr, v->v.str.len);
		case PQ_TIMESTAMP_US:
			return col_put_scalar(c, e,
								  (uint64_t) (v->v.ts + PQ_PG_EPOCH_OFFSET_US), 8);
		case PQ_DOUBLE:
			if (isnan(v->v.f64))
				c->stats.nan_count++;
			memcpy(&key, &v->v.f64, 8);
			return col_put_scalar(c, e, key, 8);
		case PQ_INT32:
		case PQ_INT16:
			return col_put_scalar(c, e, (uint32_t) v->v.i32, 4);
		case PQ_BOOLEAN:
			pq_stats_int(&c->stats, v->v.b ? 1 : 0);
			pq_buf_put_u8(&c->vals, v->v.b ? 1 : 0);
			return c->vals.oom ? col_nomem(c, e) : PQ_OK;
	}
	return pq_err_set(e->err, PQ_ERR_ARG, "invalid column type");
}

/* Record a definition level for the row being added. */
static inline int
col_push_def(PqColumn *c, PqColEnv *e, uint8_t level)
{
	if (c->page_rows >= c->defs_cap &&
		col_grow((void **) &c->defs, &c->defs_cap, 1) != PQ_OK)
		return col_nomem(c, e);
	c->defs[c->page_rows] = level;
	return PQ_OK;
}

/* One cell: value (or NULL), level, then flush the page if it is full. */
static inline int
col_append(PqColumn *c, PqColEnv *e, const PqValue *v)
{
	int			rc;

	if (v->is_null)
	{
		c->stats.null_count++;
		rc = col_push_def(c, e, 0);
	}
	else
	{
		rc = col_put_value(c, e, v);
		if (rc == PQ_OK && c->spec.optional)
			rc = col_push_def(c, e, 1);
		c->page_nvals++;
	}
	if (rc != PQ_OK)
		return rc;
	c->page_rows++;
	if (col_page_full(c))
		return col_flush_page(c, e);
	return PQ_OK;
}

/* Append a validated row to every column. */
int
pq_cols_append_row(PqColumn *cols, int ncols, PqColEnv *e, const PqValue *vals)
{
	for (int i = 0; i < ncols; i++)
	{
		int			rc = col_append(&cols[i], e, &vals[i]);

		if (rc != PQ_OK)
			return rc;
	}
	return PQ_OK;
}

/* Flush the last page and build the dictionary page if one is needed. */
int
pq_col_finish_chunk(PqColumn *c, PqColEnv *e, PqBuf *dictpage)
{
	int			rc = col_flush_page(c, e);
	PqPageHeader h = {.type = PQ_PAGE_DICTIONARY, .encoding = PQ_ENC_PLAIN};

	pq_buf_reset(dictpage);
	if (rc != PQ_OK || c->meta.n_dict_data_pages == 0)
		return rc;
	h.num_values = (int32_t) c->dict.count;
	rc = col_emit_page(c, e, &h, &c->dict.plain, dictpage);
	c->meta.encodings |= UINT32_C(1) << PQ_ENC_PLAIN;
	return rc;
}
