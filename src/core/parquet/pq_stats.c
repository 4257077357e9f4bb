/*
 * pq_stats.c - chunk statistics (see pq_stats.h)
 */
#include <string.h>

#include "pq_common.h"
#include "pq_stats.h"

/* No values seen yet. */
void
pq_stats_init(PqStats *s)
{
	memset(s, 0, sizeof(*s));
	pq_buf_init(&s->smin);
	pq_buf_init(&s->smax);
}

/* Give back the string copies. */
void
pq_stats_free(PqStats *s)
{
	pq_buf_free(&s->smin);
	pq_buf_free(&s->smax);
	pq_stats_init(s);
}

/* Clear counters and min/max but keep the string buffers. */
void
pq_stats_reset(PqStats *s)
{
	s->null_count = 0;
	s->nan_count = 0;
	s->has_minmax = false;
	pq_buf_reset(&s->smin);
	pq_buf_reset(&s->smax);
}

/* memcmp over the common prefix, then the shorter one first. */
int
pq_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;
	int			r = n ? memcmp(a, b, n) : 0;

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}

/* Replace a stored string with a copy of p. */
static void
stats_copy(PqBuf *dst, const void *p, size_t len)
{
	pq_buf_reset(dst);
	pq_buf_put(dst, p, len);
}

/* New min or max replaces the stored copy. */
void
pq_stats_bytes(PqStats *s, const void *p, size_t len)
{
	if (!s->has_minmax)
	{
		stats_copy(&s->smin, p, len);
		stats_copy(&s->smax, p, len);
		s->has_minmax = true;
		return;
	}
	if (pq_bytes_cmp(p, len, s->smin.data, s->smin.len) < 0)
		stats_copy(&s->smin, p, len);
	else if (pq_bytes_cmp(p, len, s->smax.data, s->smax.len) > 0)
		stats_copy(&s->smax, p, len);
}

/* Append one PLAIN-encoded bound; returns its offset in the arena. */
static uint32_t
stats_put(PqBuf *arena, const void *p, size_t len, uint32_t *len_out)
{
	uint32_t	off = (uint32_t) arena->len;

	pq_buf_put(arena, p, len);
	*len_out = (uint32_t) len;
	return off;
}

/* Encode min and max of a fixed-width type (little-endian PLAIN). */
static void
stats_store_fixed(const PqStats *s, PqType type, PqBuf *arena, PqChunkMeta *m)
{
	int32_t		i32[2] = {(int32_t) s->imin, (int32_t) s->imax};
	uint8_t		b[2] = {(uint8_t) s->imin, (uint8_t) s->imax};
	double		d[2] = {s->dmin, s->dmax};

	switch (type)
	{
		case PQ_TIMESTAMP_US:
			m->min_off = stats_put(arena, &s->imin, 8, &m->min_len);
			m->max_off = stats_put(arena, &s->imax, 8, &m->max_len);
			break;
		case PQ_INT32:
		case PQ_INT16:
			m->min_off = stats_put(arena, &i32[0], 4, &m->min_len);
			m->max_off = stats_put(arena, &i32[1], 4, &m->max_len);
			break;
		case PQ_BOOLEAN:
			m->min_off = stats_put(arena, &b[0], 1, &m->min_len);
			m->max_off = stats_put(arena, &b[1], 1, &m->max_len);
			break;
		case PQ_DOUBLE:
			/* a zero minimum is written as -0.0, a zero maximum as +0.0 */
			if (d[0] == 0.0)
				d[0] = -0.0;
			if (d[1] == 0.0)
				d[1] = 0.0;
			m->min_off = stats_put(arena, &d[0], 8, &m->min_len);
			m->max_off = stats_put(arena, &d[1], 8, &m->max_len);
			break;
		case PQ_STRING:
			break;
	}
}

/* Fill the statistics part of the chunk metadata. */
int
pq_stats_store(const PqStats *s, PqType type, PqBuf *arena, PqChunkMeta *m)
{
	m->null_count = s->null_count;
	m->nan_count = s->nan_count;
	m->has_minmax = s->has_minmax;
	if (!s->has_minmax)
		return PQ_OK;
	if (type == PQ_STRING)
	{
		if (s->smin.len > PQ_STATS_MAX_STRING || s->smax.len > PQ_STATS_MAX_STRING ||
			s->smin.oom || s->smax.oom)
		{
			m->has_minmax = false;
			return s->smin.oom || s->smax.oom ? PQ_ERR_NOMEM : PQ_OK;
		}
		m->min_off = stats_put(arena, s->smin.data, s->smin.len, &m->min_len);
		m->max_off = stats_put(arena, s->smax.data, s->smax.len, &m->max_len);
	}
	else
		stats_store_fixed(s, type, arena, m);
	if (arena->oom || arena->len > UINT32_MAX)
		return PQ_ERR_NOMEM;
	return PQ_OK;
}
