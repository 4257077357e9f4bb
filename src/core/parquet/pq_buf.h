/*
 * pq_buf.h - growable byte buffer used by every encoder of the writer
 *
 * A PqBuf appends bytes and grows through me_realloc.  An allocation failure
 * does not return an error from each append: the buffer sets its sticky
 * `oom` flag and drops further writes, and callers check the flag once at a
 * convenient point (end of a page, of a footer).  This keeps the encoders
 * short without hiding failures.
 */
#ifndef PQ_BUF_H
#define PQ_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct PqBuf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	bool		oom;			/* an allocation failed; contents incomplete */
} PqBuf;

/* Start empty; nothing is allocated until the first append. */
void		pq_buf_init(PqBuf *b);

/* Release the storage and return to the empty state. */
void		pq_buf_free(PqBuf *b);

/* Slow path of pq_buf_reserve: grow so that `extra` more bytes fit. */
bool		pq_buf_grow(PqBuf *b, size_t extra);

/* Make room for `extra` bytes; false (and oom set) if that failed. */
static inline bool
pq_buf_reserve(PqBuf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return true;
	return pq_buf_grow(b, extra);
}

/* Forget the contents but keep the storage for reuse. */
static inline void
pq_buf_reset(PqBuf *b)
{
	b->len = 0;
}

/* Append n raw bytes. */
static inline void
pq_buf_put(PqBuf *b, const void *p, size_t n)
{
	if (n == 0 || !pq_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Append one byte. */
static inline void
pq_buf_put_u8(PqBuf *b, uint8_t v)
{
	if (!pq_buf_reserve(b, 1))
		return;
	b->data[b->len++] = v;
}

/* Append a 32-bit little-endian integer (host is little-endian). */
static inline void
pq_buf_put_u32le(PqBuf *b, uint32_t v)
{
	pq_buf_put(b, &v, 4);
}

/* Append a 64-bit little-endian integer. */
static inline void
pq_buf_put_u64le(PqBuf *b, uint64_t v)
{
	pq_buf_put(b, &v, 8);
}

/* Append an unsigned LEB128 varint (7 bits per byte, low group first). */
static inline void
pq_buf_put_uvarint(PqBuf *b, uint64_t v)
{
	if (!pq_buf_reserve(b, 10))
		return;
	while (v >= 0x80)
	{
		b->data[b->len++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t) v;
}

#endif							/* PQ_BUF_H */
