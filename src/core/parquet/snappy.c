/*
 * snappy.c - raw Snappy block compressor (see snappy.h)
 *
 * Element tags (low two bits of the tag byte):
 *   00 literal: length-1 in the upper six bits if < 60, else 60..63 say that
 *      1..4 little-endian bytes of length-1 follow; then the bytes.
 *   01 copy, 1-byte offset: length 4..11 in bits 2..4 (as length-4),
 *      offset bits 8..10 in bits 5..7, then the low offset byte.
 *   10 copy, 2-byte offset: length 1..64 (as length-1) in the upper six
 *      bits, then a 16-bit little-endian offset.
 */
#include <string.h>

#include "snappy.h"

#define SNAPPY_BLOCK 65536

/* Bound from the format: every 6 input bytes cost at most 7 output bytes. */
size_t
pq_snappy_max_compressed(size_t n)
{
	return 32 + n + n / 6;
}

/* Unaligned 32-bit load. */
static inline uint32_t
snappy_load32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v;
}

/* Hash table slot of a 4-byte sequence. */
static inline uint32_t
snappy_hash(uint32_t v)
{
	return (v * UINT32_C(0x1E35A7BD)) >> (32 - PQ_SNAPPY_HASH_BITS);
}

/* Literal element for src[0..n), n >= 1. */
static uint8_t *
snappy_emit_literal(uint8_t *op, const uint8_t *src, size_t n)
{
	size_t		m = n - 1;

	if (m < 60)
		*op++ = (uint8_t) (m << 2);
	else
	{
		int			nb = m < 0x100 ? 1 : m < 0x10000 ? 2 : m < 0x1000000 ? 3 : 4;

		*op++ = (uint8_t) ((59 + nb) << 2);
		for (int i = 0; i < nb; i++)
			*op++ = (uint8_t) (m >> (8 * i));
	}
	memcpy(op, src, n);
	return op + n;
}

/* One copy element of length 4..64 (offset < 65536). */
static uint8_t *
snappy_emit_copy_upto64(uint8_t *op, size_t offset, size_t len)
{
	if (len <= 11 && offset < 2048)
	{
		*op++ = (uint8_t) (1 | ((len - 4) << 2) | ((offset >> 8) << 5));
		*op++ = (uint8_t) offset;
	}
	else
	{
		*op++ = (uint8_t) (2 | ((len - 1) << 2));
		*op++ = (uint8_t) offset;
		*op++ = (uint8_t) (offset >> 8);
	}
	return op;
}

/* A copy of any length >= 4, split so that every piece is 4..64 bytes. */
static uint8_t *
snappy_emit_copy(uint8_t *op, size_t offset, size_t len)
{
	while (len >= 68)
	{
		op = snappy_emit_copy_upto64(op, offset, 64);
		len -= 64;
	}
	if (len > 64)
	{
		op = snappy_emit_copy_upto64(op, offset, 60);
		len -= 60;
	}
	return snappy_emit_copy_upto64(op, offset, len);
}

/* Greedy matching inside one block of at most 64 KiB. */
static uint8_t *
snappy_block(const uint8_t *src, size_t n, uint8_t *op, uint16_t *table)
{
	size_t		ip = 0;
	size_t		lit = 0;
	uint32_t	misses = 32;

	memset(table, 0, sizeof(uint16_t) << PQ_SNAPPY_HASH_BITS);
	while (n >= 8 && ip + 4 <= n - 4)
	{
		uint32_t	cur = snappy_load32(src + ip);
		uint32_t	h = snappy_hash(cur);
		size_t		cand = table[h];
		size_t		len;

		table[h] = (uint16_t) ip;
		if (cand >= ip || snappy_load32(src + cand) != cur)
		{
			ip += misses++ >> 5;	/* skip faster through incompressible data */
			continue;
		}
		misses = 32;
		len = 4;
		while (ip + len < n && src[cand + len] == src[ip + len])
			len++;
		if (ip > lit)
			op = snappy_emit_literal(op, src + lit, ip - lit);
		op = snappy_emit_copy(op, ip - cand, len);
		ip += len;
		lit = ip;
	}
	if (n > lit)
		op = snappy_emit_literal(op, src + lit, n - lit);
	return op;
}

/* Length varint, then each 64 KiB block compressed independently. */
size_t
pq_snappy_compress(const uint8_t *src, size_t n, uint8_t *dst, uint16_t *table)
{
	uint8_t    *op = dst;
	size_t		v = n;

	while (v >= 0x80)
	{
		*op++ = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	*op++ = (uint8_t) v;
	for (size_t off = 0; off < n; off += SNAPPY_BLOCK)
	{
		size_t		bn = n - off < SNAPPY_BLOCK ? n - off : SNAPPY_BLOCK;

		op = snappy_block(src + off, bn, op, table);
	}
	return (size_t) (op - dst);
}
