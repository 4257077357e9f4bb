/*
 * pq_codec.c - page compression (see pq_codec.h)
 */
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_createCCtx_advanced, custom memory */
#include <zstd.h>

#include "core/me_alloc.h"
#include "pq_codec.h"
#include "pq_writer.h"
#include "snappy.h"

/* libzstd allocation callback routed to me_alloc. */
static void *
codec_zstd_alloc(void *opaque, size_t size)
{
	return me_alloc(size);
}

/* libzstd free callback routed to me_free. */
static void
codec_zstd_free(void *opaque, void *ptr)
{
	me_free(ptr);
}

/* Human-readable codec name. */
const char *
pq_codec_name(int codec)
{
	switch (codec)
	{
		case PQ_CODEC_UNCOMPRESSED:
			return "UNCOMPRESSED";
		case PQ_CODEC_SNAPPY:
			return "SNAPPY";
		case PQ_CODEC_ZSTD:
			return "ZSTD";
	}
	return "unsupported";
}

/* Validate the codec and zstd level; contexts are created on first use. */
int
pq_codec_init(PqCodecState *c, int codec, int level, PqErr *err)
{
	c->codec = codec;
	c->level = level;
	c->zctx = NULL;
	c->snappy_table = NULL;
	if (codec != PQ_CODEC_UNCOMPRESSED && codec != PQ_CODEC_SNAPPY &&
		codec != PQ_CODEC_ZSTD)
		return pq_err_set(err, PQ_ERR_ARG,
						  "unsupported Parquet compression codec %d", codec);
	if (codec == PQ_CODEC_ZSTD &&
		(level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()))
		return pq_err_set(err, PQ_ERR_ARG,
						  "zstd compression level %d is out of range %d..%d",
						  level, ZSTD_minCLevel(), ZSTD_maxCLevel());
	return PQ_OK;
}

/* Free whatever the compressors allocated. */
void
pq_codec_free(PqCodecState *c)
{
	if (c->zctx != NULL)
		ZSTD_freeCCtx(c->zctx);
	c->zctx = NULL;
	me_free(c->snappy_table);
	c->snappy_table = NULL;
}

/* One zstd frame per page, reusing the context between pages. */
static int
codec_zstd(PqCodecState *c, const uint8_t *src, size_t n, PqBuf *dst,
		   PqErr *err)
{
	size_t		bound = ZSTD_compressBound(n);
	size_t		r;

	if (c->zctx == NULL)
	{
		ZSTD_customMem mem = {codec_zstd_alloc, codec_zstd_free, NULL};

		c->zctx = ZSTD_createCCtx_advanced(mem);
		if (c->zctx == NULL)
			return pq_err_set(err, PQ_ERR_NOMEM,
							  "could not create a zstd compression context");
	}
	if (!pq_buf_reserve(dst, bound))
		return pq_err_set(err, PQ_ERR_NOMEM, "out of memory compressing a page");
	r = ZSTD_compressCCtx(c->zctx, dst->data, bound, src, n, c->level);
	if (ZSTD_isError(r))
		return pq_err_set(err, PQ_ERR_CODEC, "zstd compression failed: %s",
						  ZSTD_getErrorName(r));
	dst->len = r;
	return PQ_OK;
}

/* Raw snappy block with a lazily allocated hash table. */
static int
codec_snappy(PqCodecState *c, const uint8_t *src, size_t n, PqBuf *dst,
			 PqErr *err)
{
	size_t		bound = pq_snappy_max_compressed(n);

	if (c->snappy_table == NULL)
	{
		c->snappy_table = me_alloc(sizeof(uint16_t) << PQ_SNAPPY_HASH_BITS);
		if (c->snappy_table == NULL)
			return pq_err_set(err, PQ_ERR_NOMEM, "out of memory compressing a page");
	}
	if (!pq_buf_reserve(dst, bound))
		return pq_err_set(err, PQ_ERR_NOMEM, "out of memory compressing a page");
	dst->len = pq_snappy_compress(src, n, dst->data, c->snappy_table);
	return PQ_OK;
}

/* Dispatch on the codec. */
int
pq_codec_compress(PqCodecState *c, const uint8_t *src, size_t n, PqBuf *dst,
				  PqErr *err)
{
	pq_buf_reset(dst);
	switch (c->codec)
	{
		case PQ_CODEC_ZSTD:
			return codec_zstd(c, src, n, dst, err);
		case PQ_CODEC_SNAPPY:
			return codec_snappy(c, src, n, dst, err);
	}
	return pq_err_set(err, PQ_ERR_ARG, "codec %d cannot compress", c->codec);
}
