/*
 * rle.c - RLE / bit-packing hybrid encoder (see rle.h)
 *
 * Format (parquet-format Encodings.md): a sequence of runs, each starting
 * with a ULEB128 header.  RLE run: header = count << 1, then the value in
 * ceil(bw / 8) little-endian bytes.  Bit-packed run: header =
 * (groups << 1) | 1, then groups * bw bytes holding 8 * groups values packed
 * from the least significant bit of each byte upwards.
 */
#include <string.h>

#include "rle.h"

/* Number of bits needed to represent max_value. */
int
pq_bit_width(uint32_t max_value)
{
	int			bw = 0;

	while (max_value != 0)
	{
		bw++;
		max_value >>= 1;
	}
	return bw;
}

#define RLE_INLINE static inline __attribute__((always_inline))

/* Read element i of a u8 or u32 array (esz is a constant at each caller). */
RLE_INLINE uint32_t
rle_get(const void *v, size_t i, int esz)
{
	if (esz == 1)
		return ((const uint8_t *) v)[i];
	return ((const uint32_t *) v)[i];
}

/* One RLE run: header, then the value in ceil(bw/8) bytes. */
static void
rle_emit_repeat(PqBuf *out, uint32_t value, size_t count, int bw)
{
	int			nbytes = (bw + 7) / 8;

	pq_buf_put_uvarint(out, (uint64_t) count << 1);
	for (int i = 0; i < nbytes; i++)
		pq_buf_put_u8(out, (uint8_t) (value >> (8 * i)));
}

/*
 * One bit-packed run of v[start .. start+count), zero-padded to 8 values.
 * Bits gather in a 64-bit accumulator and leave it 32 at a time; the run
 * occupies exactly groups * bw bytes, all reserved up front.
 */
RLE_INLINE void
rle_emit_packed(PqBuf *out, const void *v, size_t start, size_t count,
				int bw, int esz)
{
	size_t		groups = (count + 7) / 8;
	size_t		nbytes = groups * (size_t) bw;
	uint8_t    *p;
	uint8_t    *end;
	uint64_t	acc = 0;
	int			nbits = 0;

	pq_buf_put_uvarint(out, ((uint64_t) groups << 1) | 1);
	if (!pq_buf_reserve(out, nbytes))
		return;
	p = out->data + out->len;
	end = p + nbytes;
	for (size_t i = 0; i < count; i++)
	{
		acc |= (uint64_t) rle_get(v, start + i, esz) << nbits;
		nbits += bw;
		if (nbits >= 32)
		{
			uint32_t	word = (uint32_t) acc;

			memcpy(p, &word, 4);
			p += 4;
			acc >>= 32;
			nbits -= 32;
		}
	}
	for (; nbits > 0; nbits -= 8)
	{
		*p++ = (uint8_t) acc;
		acc >>= 8;
	}
	/* zero padding of the last group */
	if (p < end)
		memset(p, 0, (size_t) (end - p));
	out->len += nbytes;
}

/* Split v into repeats and 8-aligned literal stretches (see rle.h). */
RLE_INLINE void
rle_encode(PqBuf *out, const void *v, size_t n, int bw, int esz)
{
	size_t		lit = 0;		/* start of the pending literal stretch */
	size_t		i = 0;

	while (i < n)
	{
		uint32_t	x = rle_get(v, i, esz);
		size_t		j = i + 1;
		size_t		pad;

		while (j < n && rle_get(v, j, esz) == x)
			j++;
		/* values the literal must take so that it ends on a group boundary */
		pad = (8 - (i - lit) % 8) % 8;
		if (j - i < PQ_RLE_MIN_RUN || j - i - pad < PQ_RLE_MIN_RUN)
		{
			i = j;
			continue;
		}
		i += pad;
		if (i > lit)
			rle_emit_packed(out, v, lit, i - lit, bw, esz);
		rle_emit_repeat(out, x, j - i, bw);
		i = j;
		lit = j;
	}
	if (n > lit)
		rle_emit_packed(out, v, lit, n - lit, bw, esz);
}

/* 32-bit entry point (dictionary indices). */
void
pq_rle_encode_u32(PqBuf *out, const uint32_t *v, size_t n, int bw)
{
	rle_encode(out, v, n, bw, 4);
}

/* 8-bit entry point (definition levels). */
void
pq_rle_encode_u8(PqBuf *out, const uint8_t *v, size_t n, int bw)
{
	rle_encode(out, v, n, bw, 1);
}

/* Pack 0/1 bytes into bits, eight values per byte, LSB first. */
void
pq_pack_bools(PqBuf *out, const uint8_t *v, size_t n)
{
	size_t		nbytes = (n + 7) / 8;
	uint8_t    *p;
	size_t		i = 0;

	if (!pq_buf_reserve(out, nbytes))
		return;
	p = out->data + out->len;
	for (; i + 8 <= n; i += 8)
		*p++ = (uint8_t) (v[i] | v[i + 1] << 1 | v[i + 2] << 2 | v[i + 3] << 3 |
						  v[i + 4] << 4 | v[i + 5] << 5 | v[i + 6] << 6 |
						  v[i + 7] << 7);
	if (i < n)
	{
		uint8_t		b = 0;

		for (int k = 0; i + k < n; k++)
			b |= (uint8_t) (v[i + k] << k);
		*p++ = b;
	}
	out->len += nbytes;
}
