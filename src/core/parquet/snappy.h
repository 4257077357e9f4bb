/*
 * snappy.h - compressor for the raw Snappy block format
 *
 * Parquet's SNAPPY codec is the raw block format (not the framed stream):
 * a varint of the uncompressed length, then literal and copy elements.
 * This is a small greedy LZ77 compressor written from the format
 * description: input is cut into 64 KiB blocks, each block is matched
 * against itself through a 16 K-entry hash table of 4-byte sequences, and
 * copies use 1- or 2-byte offsets.  It trades some ratio for simplicity;
 * any Snappy decoder reads its output.
 */
#ifndef PQ_SNAPPY_H
#define PQ_SNAPPY_H

#include <stddef.h>
#include <stdint.h>

#define PQ_SNAPPY_HASH_BITS 14

/* Worst-case output size for n input bytes. */
size_t		pq_snappy_max_compressed(size_t n);

/*
 * Compress src[0..n) into dst (room for pq_snappy_max_compressed(n) bytes);
 * table is scratch of 1 << PQ_SNAPPY_HASH_BITS entries.  Returns the
 * compressed length.
 */
size_t		pq_snappy_compress(const uint8_t *src, size_t n, uint8_t *dst,
							   uint16_t *table);

#endif							/* PQ_SNAPPY_H */
