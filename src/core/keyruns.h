/*
 * keyruns.h - reading meters in one order through an index on another
 *
 * The archive writes meters in id order, but the store's primary key is
 * (meter_key, channel, time), and keys are handed out in order of first
 * sight.  Where the two orders agree (a fleet first loaded from files
 * sorted by meter, say), one range scan of the index delivers many meters
 * in id order at once; where they do not, every meter needs its own scan.
 * me_key_runs() splits the meters, in id order, into runs that one range
 * scan each can read: keys ascending within a run, and the key range not
 * holding many more meters than the run does (the others' rows are read
 * and skipped).  Pure C, tested by cmocka.
 */
#ifndef ME_KEYRUNS_H
#define ME_KEYRUNS_H

#include <stdint.h>

/* A meter key and the meter's position in the output order. */
typedef struct MeKeyOrd
{
	int32_t		key;
	int32_t		ord;
} MeKeyOrd;

/* Meters first..last (output positions) hold keys lo..hi, ascending. */
typedef struct MeKeyRun
{
	int32_t		lo;
	int32_t		hi;
	int32_t		first;
	int32_t		last;
} MeKeyRun;

/* Sort pairs by key (keys must be distinct). */
extern void me_keyord_sort(MeKeyOrd *pairs, int n);

/* Output position of a key in pairs sorted by me_keyord_sort, or -1. */
extern int32_t me_keyord_find(const MeKeyOrd *sorted, int n, int32_t key);

/*
 * Split keys[0..n-1] (distinct, in output order) into runs; sorted holds the
 * same keys by me_keyord_sort.  runs needs room for n entries.  Returns the
 * number of runs; every run reads at most 2 x its length plus
 * min(length, 16) meters' rows, so the whole read is at most 3 x n meters.
 */
extern int	me_key_runs(const int32_t *keys, int n, const MeKeyOrd *sorted, MeKeyRun *runs);

#endif							/* ME_KEYRUNS_H */
