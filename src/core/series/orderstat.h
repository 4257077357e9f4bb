/*
 * orderstat.h - order-statistic multiset of doubles for sliding windows
 *
 * A two-level B+-tree: the values are kept sorted in blocks of at most
 * ME_OS_BLOCK, and a Fenwick tree over the block sizes maps a rank to its
 * block.  Insert and remove cost O(log W) comparisons plus an O(B) move
 * inside one block (B fixed, so O(log W) per step; the move is a memmove of
 * contiguous doubles, which is what makes this faster than a pointer-based
 * tree at W ~ 100..10000); select costs O(log(W/B)).  Splits and merges
 * rebuild the block index in O(W/B) but happen at most once per B/4
 * updates of a block, i.e. amortised O(1 + W/B^2).
 *
 * Median: one or two selects.  MAD: the k+1 values nearest the median are
 * a contiguous rank range [s, s+k]; s is found by binary search (the left
 * distance falls and the right one rises with s), so MAD costs
 * O(log W * log(W/B)) selects, never a sort or a scan of the window.
 */
#ifndef ME_ORDERSTAT_H
#define ME_ORDERSTAT_H

#include <stddef.h>
#include <stdint.h>

#define ME_OS_BLOCK 128

typedef struct MeOsBlock
{
	int32_t		n;
	double		v[ME_OS_BLOCK];
} MeOsBlock;

typedef struct MeOrderStat
{
	MeOsBlock **blk;			/* non-empty blocks in ascending order */
	int32_t    *fen;			/* Fenwick tree of block sizes, 1-based */
	MeOsBlock **spare;			/* released blocks kept for reuse */
	int32_t		nblk;
	int32_t		nspare;
	int32_t		cap;			/* size of blk, fen and spare (power of 2) */
	size_t		n;				/* values held */
} MeOrderStat;

extern void me_os_init(MeOrderStat *os);
extern void me_os_free(MeOrderStat *os);
extern int	me_os_insert(MeOrderStat *os, double x);
extern int	me_os_remove(MeOrderStat *os, double x);
extern double me_os_select(const MeOrderStat *os, size_t rank);
extern double me_os_median(const MeOrderStat *os);
extern double me_os_mad(const MeOrderStat *os, double median);

#endif							/* ME_ORDERSTAT_H */
