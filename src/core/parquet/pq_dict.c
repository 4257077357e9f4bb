/*
 * pq_dict.c - hash dictionary of a column chunk (see pq_dict.h)
 */
#include <string.h>

#include "core/me_alloc.h"
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

/* Free the table, offsets and PLAIN data. */
void
pq_dict_free(PqDict *d)
{
	me_free(d->slots);
	me_free(d->offs);
	pq_buf_free(&d->plain);
	pq_dict_init(d, d->width, d->max_entries, d->max_bytes);
}

/* Drop the entries but keep the allocations. */
void
pq_dict_reset(PqDict *d)
{
	if (d->slots != NULL && d->count > 0)
		memset(d->slots, 0, sizeof(PqDictSlot) * d->nslots);
	d->count = 0;
	pq_buf_reset(&d->plain);
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

/* Slot where the probe for hash h starts. */
static inline uint32_t
dict_home(const PqDict *d, uint64_t h)
{
	return (uint32_t) (h >> d->shift);
}

/* Hash that places a slot's key (scalars are mixed, strings pre-hashed). */
static inline uint64_t
dict_slot_hash(const PqDict *d, uint64_t key)
{
	return d->width ? pq_dict_mix(key) : key;
}

/* Rebuild the slot table with nslots slots (a power of two). */
static int
dict_rehash(PqDict *d, uint32_t nslots)
{
	PqDictSlot *slots = me_alloc(sizeof(PqDictSlot) * nslots);
	PqDictSlot *old = d->slots;
	uint32_t	oldn = d->nslots;
	int			shift = 64;

	if (slots == NULL)
		return PQ_ERR_NOMEM;
	memset(slots, 0, sizeof(PqDictSlot) * nslots);
	for (uint32_t n = nslots; n > 1; n >>= 1)
		shift--;
	d->slots = slots;
	d->nslots = nslots;
	d->shift = shift;
	for (uint32_t i = 0; i < oldn; i++)
	{
		uint32_t	s;

		if (old[i].ent == 0)
			continue;
		s = dict_home(d, dict_slot_hash(d, old[i].key));
		while (slots[s].ent != 0)
			s = (s + 1) & (nslots - 1);
		slots[s] = old[i];
	}
	me_free(old);
	return PQ_OK;
}

/* Make room for one more entry: offsets and (load <= 1/2) slot table. */
static int
dict_reserve(PqDict *d)
{
	if (d->width == 0 && d->count >= d->offs_cap)
	{
		uint32_t	cap = d->offs_cap ? d->offs_cap * 2 : 256;
		uint32_t   *offs = me_realloc(d->offs, sizeof(uint32_t) * cap);

		if (offs == NULL)
			return PQ_ERR_NOMEM;
		d->offs = offs;
		d->offs_cap = cap;
	}
	if (d->nslots == 0 || (uint64_t) (d->count + 1) * 2 > d->nslots)
		return dict_rehash(d, d->nslots ? d->nslots * 2 : PQ_DICT_MIN_SLOTS);
	return PQ_OK;
}

/* Would adding an entry of `bytes` PLAIN bytes break a limit? */
static inline bool
dict_would_overflow(const PqDict *d, size_t bytes)
{
	return d->count >= d->max_entries || d->plain.len + bytes > d->max_bytes ||
		d->plain.len + bytes > UINT32_MAX;
}

/* Claim the first free slot of the probe sequence of hash h. */
static void
dict_claim(PqDict *d, uint64_t h, uint64_t key)
{
	uint32_t	s = dict_home(d, h);

	while (d->slots[s].ent != 0)
		s = (s + 1) & (d->nslots - 1);
	d->slots[s].key = key;
	d->slots[s].ent = ++d->count;
}

/* Insert a scalar key known to be absent. */
static int
dict_add_scalar(PqDict *d, uint64_t key, uint32_t *idx)
{
	int			rc;

	if (dict_would_overflow(d, d->width))
		return PQ_DICT_FULL;
	rc = dict_reserve(d);
	if (rc != PQ_OK)
		return rc;
	pq_buf_put(&d->plain, &key, d->width);
	if (d->plain.oom)
		return PQ_ERR_NOMEM;
	dict_claim(d, pq_dict_mix(key), key);
	*idx = d->count - 1;
	return PQ_DICT_ADDED;
}

/* Probe for a scalar key; add it if absent. */
int
pq_dict_lookup_scalar(PqDict *d, uint64_t key, uint32_t *idx)
{
	if (pq_dict_find_scalar(d, key, idx))
		return PQ_DICT_FOUND;
	return dict_add_scalar(d, key, idx);
}

/* Insert a byte string known to be absent. */
static int
dict_add_bytes(PqDict *d, const void *p, uint32_t len, uint64_t h,
			   uint32_t *idx)
{
	int			rc;

	if (dict_would_overflow(d, (size_t) len + 4))
		return PQ_DICT_FULL;
	rc = dict_reserve(d);
	if (rc != PQ_OK)
		return rc;
	pq_buf_put_u32le(&d->plain, len);
	d->offs[d->count] = (uint32_t) d->plain.len;
	pq_buf_put(&d->plain, p, len);
	if (d->plain.oom)
		return PQ_ERR_NOMEM;
	dict_claim(d, h, h);
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
		uint32_t	s = dict_home(d, h);

		for (; d->slots[s].ent != 0; s = (s + 1) & mask)
		{
			uint32_t	e = d->slots[s].ent - 1;
			uint32_t	elen;
			const uint8_t *ep;

			if (d->slots[s].key != h)
				continue;
			ep = pq_dict_bytes(d, e, &elen);
			if (elen == len && memcmp(ep, p, len) == 0)
			{
				*idx = e;
				return PQ_DICT_FOUND;
			}
		}
	}
	return dict_add_bytes(d, p, len, h, idx);
}
