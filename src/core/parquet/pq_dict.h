/*
 * pq_dict.h - per-column-chunk dictionary for RLE_DICTIONARY encoding
 *
 * Maps each distinct value of a column chunk to a dense index (first seen =
 * 0).  Keys are either fixed-width scalars (INT32: 4 bytes, INT64/DOUBLE:
 * 8 bytes, compared by bit pattern so -0.0 and +0.0 or distinct NaN payloads
 * stay distinct and round-trip exactly) or byte strings.  The entries are
 * kept PLAIN-encoded in `plain`, which is therefore the body of the
 * dictionary page, ready to write.
 *
 * Lookups use open addressing with linear probing (load factor <= 1/2);
 * each slot holds the scalar key (or the string's hash) next to the entry
 * number, so a probe touches one cache line.  The dictionary refuses to
 * grow past max_entries or max_bytes of PLAIN data; the column then falls
 * back to PLAIN encoding.
 */
#ifndef PQ_DICT_H
#define PQ_DICT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pq_buf.h"

/* Result of pq_dict_*_lookup besides negative PQ_ERR_* codes. */
#define PQ_DICT_FOUND	0
#define PQ_DICT_ADDED	1
#define PQ_DICT_FULL	2

/* Hash slot: scalar key or string hash, and entry index + 1 (0 = empty). */
typedef struct PqDictSlot
{
	uint64_t	key;
	uint32_t	ent;
} PqDictSlot;

typedef struct PqDict
{
	int			width;			/* 4 or 8 for scalars, 0 for byte strings */
	uint32_t	max_entries;
	size_t		max_bytes;
	uint32_t	count;			/* number of entries */
	PqDictSlot *slots;
	uint32_t	nslots;			/* power of two */
	int			shift;			/* 64 - log2(nslots) */
	uint32_t   *offs;			/* byte strings: offset of the bytes in plain */
	uint32_t	offs_cap;
	PqBuf		plain;			/* PLAIN-encoded entries = dictionary page */
} PqDict;

/* Set up an empty dictionary; width 4/8 for scalars, 0 for byte strings. */
void		pq_dict_init(PqDict *d, int width, uint32_t max_entries,
						 size_t max_bytes);

/* Release all storage. */
void		pq_dict_free(PqDict *d);

/* Remove every entry, keeping the storage for the next chunk. */
void		pq_dict_reset(PqDict *d);

/* Index of a scalar key, adding it if new (FOUND/ADDED/FULL or error). */
int			pq_dict_lookup_scalar(PqDict *d, uint64_t key, uint32_t *idx);

/* Index of a byte string, adding it if new (FOUND/ADDED/FULL or error). */
int			pq_dict_lookup_bytes(PqDict *d, const void *p, uint32_t len,
								 uint32_t *idx);

/* Scalar value of entry idx (little-endian bits, zero-extended). */
static inline uint64_t
pq_dict_scalar(const PqDict *d, uint32_t idx)
{
	const uint8_t *p = d->plain.data + (size_t) idx * d->width;
	uint32_t	v4;
	uint64_t	v8;

	if (d->width == 4)
	{
		memcpy(&v4, p, 4);
		return v4;
	}
	memcpy(&v8, p, 8);
	return v8;
}

/* Bytes of entry idx of a byte-string dictionary. */
static inline const uint8_t *
pq_dict_bytes(const PqDict *d, uint32_t idx, uint32_t *len)
{
	const uint8_t *p = d->plain.data + d->offs[idx];
	uint32_t	n;

	memcpy(&n, p - 4, 4);
	*len = n;
	return p;
}

/* Mix a 64-bit scalar key into a hash (top bits pick the slot). */
static inline uint64_t
pq_dict_mix(uint64_t k)
{
	k ^= k >> 31;
	k *= UINT64_C(0x9E3779B97F4A7C15);
	k ^= k >> 29;
	return k;
}

/* Probe only (inlined hot path): index of a scalar key already present. */
static inline bool
pq_dict_find_scalar(const PqDict *d, uint64_t key, uint32_t *idx)
{
	uint32_t	mask = d->nslots - 1;
	uint32_t	s;

	if (d->nslots == 0)
		return false;
	s = (uint32_t) (pq_dict_mix(key) >> d->shift);
	while (d->slots[s].ent != 0)
	{
		if (d->slots[s].key == key)
		{
			*idx = d->slots[s].ent - 1;
			return true;
		}
		s = (s + 1) & mask;
	}
	return false;
}

/* Hash of a byte string. */
uint64_t	pq_hash_bytes(const void *p, size_t len);

#endif							/* PQ_DICT_H */
