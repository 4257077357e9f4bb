/*
 * pq_stats.h - column chunk statistics
 *
 * Tracks null_count, nan_count and min/max in each type's Parquet sort
 * order: signed for INT32/INT64 (timestamps), false < true for BOOLEAN,
 * IEEE order without NaN for DOUBLE, unsigned bytewise (memcmp, shorter
 * prefix first) for strings.  pq_stats_store turns them into the PLAIN
 * bytes (no length prefix) that Statistics.min_value/max_value carry,
 * applying the -0.0/+0.0 rule for doubles.  String min/max longer than
 * PQ_STATS_MAX_STRING bytes are not written (the chunk has no min/max).
 */
#ifndef PQ_STATS_H
#define PQ_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_format.h"
#include "pq_writer.h"

#define PQ_STATS_MAX_STRING 4096

typedef struct PqStats
{
	int64_t		null_count;
	int64_t		nan_count;
	bool		has_minmax;
	int64_t		imin;			/* integers, timestamps, booleans */
	int64_t		imax;
	double		dmin;			/* doubles (NaN never stored) */
	double		dmax;
	PqBuf		smin;			/* strings */
	PqBuf		smax;
} PqStats;

/* Empty statistics. */
void		pq_stats_init(PqStats *s);

/* Release string copies. */
void		pq_stats_free(PqStats *s);

/* Forget everything, keep storage (next chunk). */
void		pq_stats_reset(PqStats *s);

/* Fold an integer-like value (INT32, INT16, INT64, BOOLEAN as 0/1). */
static inline void
pq_stats_int(PqStats *s, int64_t v)
{
	if (!s->has_minmax)
	{
		s->imin = s->imax = v;
		s->has_minmax = true;
		return;
	}
	if (v < s->imin)
		s->imin = v;
	if (v > s->imax)
		s->imax = v;
}

/* Fold a double; NaN does not take part in min/max. */
static inline void
pq_stats_double(PqStats *s, double v)
{
	if (v != v)
		return;
	if (!s->has_minmax)
	{
		s->dmin = s->dmax = v;
		s->has_minmax = true;
		return;
	}
	if (v < s->dmin)
		s->dmin = v;
	if (v > s->dmax)
		s->dmax = v;
}

/* Unsigned bytewise comparison; a prefix sorts first. */
int			pq_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen);

/* Fold a string (copies it when it becomes the new min or max). */
void		pq_stats_bytes(PqStats *s, const void *p, size_t len);

/*
 * Append min/max PLAIN bytes to arena and fill the statistics fields of m
 * (null_count, nan_count, has_minmax, offsets).  PQ_ERR_NOMEM on failure.
 */
int			pq_stats_store(const PqStats *s, PqType type, PqBuf *arena,
						   PqChunkMeta *m);

#endif							/* PQ_STATS_H */
