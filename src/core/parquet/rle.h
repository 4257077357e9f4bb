/*
 * rle.h - Parquet's RLE / bit-packing hybrid encoder and bit packing
 *
 * Used for definition levels (bit width 1) and dictionary indices.  The
 * encoder works on a whole page's values at once: runs of at least
 * PQ_RLE_MIN_RUN equal values become RLE runs, everything else goes into
 * bit-packed runs of 8-value groups.  A bit-packed run in the middle of the
 * stream always holds a multiple of 8 real values (it may take a few values
 * from the following repeat to get there); only the final run is padded
 * with zeros, which readers ignore because they stop at num_values.
 *
 * Neither function writes a length prefix; callers add one where the format
 * asks for it (v1 definition levels).
 */
#ifndef PQ_RLE_H
#define PQ_RLE_H

#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"

/* Shortest repeat worth an RLE run. */
#define PQ_RLE_MIN_RUN 8

/* Bits needed to store max_value (0 for 0, 1 for 1, 2 for 2..3, ...). */
int			pq_bit_width(uint32_t max_value);

/* Hybrid-encode n 32-bit values of bit width bw (0..32). */
void		pq_rle_encode_u32(PqBuf *out, const uint32_t *v, size_t n, int bw);

/* Hybrid-encode n byte values (levels) of bit width bw (0..8). */
void		pq_rle_encode_u8(PqBuf *out, const uint8_t *v, size_t n, int bw);

/* PLAIN booleans: one bit per value (0/1 bytes in), LSB first, zero padded. */
void		pq_pack_bools(PqBuf *out, const uint8_t *v, size_t n);

#endif							/* PQ_RLE_H */
