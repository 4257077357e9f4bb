/*
 * pq_dict.c - hash dictionary of a column chunk (see pq_dict.h)
 */
#include <string.h>

#include "me_alloc.h"
#include "pq_common.h"
#include "pq_dict.h"

#define PQ_DICT_MIN_SLOTS 1024
#define PQ_HASH_MUL1 UINT64_C(0x9E3779B97F4A7C15)
#define PQ_HASH_MUL2 UINT64_C(0xFF51AFD7ED558CCD)
#define PQ_HASH_MUL3 UINT64_C(0xC4CEB9FE1A85EC53)

/* Empty dictionary; storage is allocated on the first insert. */
void
pq_dict_init(PqDict *d, int width, uint32_t max_entries, size_t max_bytes)
{
	memset(d, 0, sizeof(*d));
	d->width = width;
	d->max_entries = max_entries;
	d->max_bytes = max_bytes;
	pq_buf_init(&d->plain);
}

/* Free the table, key arrays and PLAIN data. */
void
pq_dict_free(PqDict *d)
{
	me_free(d->slots);
	me_free(d->keys);
	me_free(d->offs);
	pq_buf_free(&d->plain);
	pq_dict_init(d, d->width, d->max_entries, d->max_bytes);
}

/* Drop the entries but keep the allocations. */
void
pq_dict_reset(PqDict *d)
{
	if (d->slots != NULL && d->count > 0)
		memset(d->slots, 0, sizeof(uint32_t) * d->nslots);
	d->count = 0;
	pq_buf_reset(&d->plain);
}

/* Mix a 64-bit key (fixed-width dictionaries). */
static inline uint64_t
dict_mix(uint64_t k)
{
	k ^= k >> 31;
	k *= PQ_HASH_MUL1;
	k ^= k >> 29;
	return k;
}

/* Simple multiplicative hash over 8-byte words of a string. */
uint64_t
pq_hash_bytes(const void *p, size_t len)
{
	const uint8_t *s = p;
	uint64_t	h = PQ_HASH_MUL1 ^ len;
	uint64_t	k;

	while (len >= 8)
	{
		memcpy(&k, s, 8);
		h = (h ^ k) * PQ_HASH_MUL2;
		h ^= h >> 32;
		s += 8;
		len -= 8;
	}
	if (len > 0)
	{
		k = 0;
		memcpy(&k, s, len);
		h = (h ^ k) * PQ_HASH_MUL3;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= PQ_HASH_MUL2;
	h ^= h >> 33;
	return h;
}

/* Slot of a hash: its top bits, so low-entropy keys still spread. */
static inline uint32_t
dict_slot(const PqDict *d, uint64_t h)
{
	return (uint32_t) (h >> d->shift);
}

/* Rebuild the slot table with nslots slots (a power of two). */
static int
dict_rehash(PqDict *d, uint32_t nslots)
{
	uint32_t   *slots = me_alloc(sizeof(uint32_t) * nslots);
	uint32_t	mask = nslots - 1;
	int			shift = 64;

	if (slots == NULL)
		return PQ_ERR_NOMEM;
	memset(slots, 0, sizeof(uint32_t) * nslots);
	for (uint32_t n = nslots; n > 1; n >>= 1)
		shift--;
	d->shift = shift;
	for (uint32_t i = 0; i < d->count; i++)
	{
		uint64_t	h = d->width ? dict_mix(d->keys[i]) : d->keys[i];
		uint32_t	s = (uint32_t) (h >> shift);

		while (slots[s] != 0)
			s = (s + 1) & mask;
		slots[s] = i + 1;
	}
	me_free(d->slots);
	d->slots = slots;
	d->nslots = nslots;
	return PQ_OK;
}

/* Make room for one more entry: key arrays and (load <= 1/2) slot table. */
static int
dict_reserve(PqDict *d)
{
	if (d->count >= d->cap)
	{
		uint32_t	cap = d->cap ? d->cap * 2 : 256;
		uint64_t   *keys = me_realloc(d->keys, sizeof(uint64_t) * cap);

		if (keys == NULL)
			return PQ_ERR_NOMEM;
		d->keys = keys;
		if (d->width == 0)
		{
			uint32_t   *offs = me_realloc(d->offs, sizeof(uint32_t) * cap);

			if (offs == NULL)
				return PQ_ERR_NOMEM;
			d->offs = offs;
		}
		d->cap = cap;
	}
	if (d->nslots == 0 || (uint64_t) (d->count + 1) * 2 > d->nslots)
		return dict_rehash(d, d->nslots ? d->nslots * 2 : PQ_DICT_MIN_SLOTS);
	return PQ_OK;
}

/* Would adding an entry of `bytes` PLAIN bytes break a limit? */
static inline bool
dict_would_overflow(const PqDict *d, size_t bytes)
{
	return d->count >= d->max_entries || d->plain.len + bytes > d->max_bytes;
}

/* Insert a scalar key known to be absent, in the free slot s. */
static int
dict_add_scalar(PqDict *d, uint64_t key, uint32_t *idx)
{
	int			rc;
	uint32_t	s;

	if (dict_would_overflow(d, d->width))
		return PQ_DICT_FULL;
	rc = dict_reserve(d);
	if (rc != PQ_OK)
		return rc;
	s = dict_slot(d, dict_mix(key));
	while (d->slots[s] != 0)
		s = (s + 1) & (d->nslots - 1);
	pq_buf_put(&d->plain, &key, d->width);
	if (d->plain.oom)
		return PQ_ERR_NOMEM;
	d->keys[d->count] = key;
	d->slots[s] = ++d->count;
	*idx = d->count - 1;
	return PQ_DICT_ADDED;
}

/* Probe for a scalar key; add it if absent. */
int
pq_dict_lookup_scalar(PqDict *d, uint64_t key, uint32_t *idx)
{
	if (d->nslots != 0)
	{
		uint32_t	mask = d->nslots - 1;
		uint32_t	s = dict_slot(d, dict_mix(key));
		uint32_t	e;

		while ((e = d->slots[s]) != 0)
		{
			if (d->keys[e - 1] == key)
			{
				*idx = e - 1;
				return PQ_DICT_FOUND;
			}
			s = (s + 1) & mask;
		}
	}
	return dict_add_scalar(d, key, idx);
}

/* Insert a byte string known to be absent. */
static int
dict_add_bytes(PqDict *d, const void *p, uint32_t len, uint64_t h,
			   uint32_t *idx)
{
	int			rc;
	uint32_t	s;

	if (dict_would_overflow(d, (size_t) len + 4) ||
		d->plain.len + len + 4 > UINT32_MAX)
		return PQ_DICT_FULL;
	rc = dict_reserve(d);
	if (rc != PQ_OK)
		return rc;
	s = dict_slot(d, h);
	while (d->slots[s] != 0)
		s = (s + 1) & (d->nslots - 1);
	pq_buf_put_u32le(&d->plain, len);
	d->offs[d->count] = (uint32_t) d->plain.len;
	pq_buf_put(&d->plain, p, len);
	if (d->plain.oom)
		return PQ_ERR_NOMEM;
	d->keys[d->count] = h;
	d->slots[s] = ++d->count;
	*idx = d->count - 1;
	return PQ_DICT_ADDED;
}

/* Probe for a byte string (hash, then length and bytes); add if absent. */
int
pq_dict_lookup_bytes(PqDict *d, const void *p, uint32_t len, uint32_t *idx)
{
	uint64_t	h = pq_hash_bytes(p, len);

	if (d->nslots != 0)
	{
		uint32_t	mask = d->nslots - 1;
		uint32_t	s = dict_slot(d, h);
		uint32_t	e;

		while ((e = d->slots[s]) != 0)
		{
			if (d->keys[e - 1] == h)
			{
				uint32_t	elen;
				const uint8_t *ep = pq_dict_bytes(d, e - 1, &elen);

				if (elen == len && memcmp(ep, p, len) == 0)
				{
					*idx = e - 1;
					return PQ_DICT_FOUND;
				}
			}
			s = (s + 1) & mask;
		}
	}
	return dict_add_bytes(d, p, len, h, idx);
}
