/*
 * pq_buf.c - growth of the byte buffer (see pq_buf.h)
 */
#include "core/me_alloc.h"
#include "pq_buf.h"

#define PQ_BUF_MIN_CAP 256

/* Empty buffer, no storage yet. */
void
pq_buf_init(PqBuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = false;
}

/* Give the storage back through me_free. */
void
pq_buf_free(PqBuf *b)
{
	me_free(b->data);
	pq_buf_init(b);
}

/* Double the capacity (at least) so appends stay amortised O(1). */
bool
pq_buf_grow(PqBuf *b, size_t extra)
{
	size_t		need;
	size_t		cap;
	uint8_t    *p;

	if (b->oom)
		return false;
	if (extra > SIZE_MAX - b->len)
	{
		b->oom = true;
		return false;
	}
	need = b->len + extra;
	cap = b->cap < PQ_BUF_MIN_CAP ? PQ_BUF_MIN_CAP : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = me_realloc(b->data, cap);
	if (p == NULL)
	{
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}
