/*
 * pq_codec.h - page compression for the Parquet writer
 *
 * Wraps the codecs the writer supports: UNCOMPRESSED, SNAPPY (own raw-block
 * compressor, snappy.c) and ZSTD (libzstd, one reusable context whose
 * memory comes from me_alloc so that, inside the server, it lives in the
 * caller's memory context).  Only page bodies are compressed.
 */
#ifndef PQ_CODEC_H
#define PQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_common.h"

typedef struct PqCodecState
{
	int			codec;			/* PQ_CODEC_* (parquet CompressionCodec ids) */
	int			level;			/* zstd level */
	void	   *zctx;			/* ZSTD_CCtx *, created lazily */
	uint16_t   *snappy_table;	/* snappy hash table scratch */
} PqCodecState;

/* Check the codec/level and prepare an (empty) state. */
int			pq_codec_init(PqCodecState *c, int codec, int level, PqErr *err);

/* Release compressor contexts and scratch memory. */
void		pq_codec_free(PqCodecState *c);

/* Compress src[0..n) into dst (reset first); not called for UNCOMPRESSED. */
int			pq_codec_compress(PqCodecState *c, const uint8_t *src, size_t n,
							  PqBuf *dst, PqErr *err);

/* Parquet name of a codec id, for messages. */
const char *pq_codec_name(int codec);

#endif							/* PQ_CODEC_H */
