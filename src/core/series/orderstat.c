/*
 * orderstat.c - blocked sorted multiset with rank queries (see orderstat.h)
 *
 * Invariants: blocks are non-empty, each sorted, and every value of block i
 * is <= every value of block i+1; two neighbours never hold B/2 or fewer
 * values together (they are merged), so there are at most 4W/B + 1 blocks.
 */
#include <math.h>
#include <string.h>

#include "core/me_alloc.h"
#include "orderstat.h"
#include "series.h"

/* Empty multiset; nothing allocated until the first insert. */
void
me_os_init(MeOrderStat *os)
{
	memset(os, 0, sizeof(*os));
}

/* Release all blocks and the index. */
void
me_os_free(MeOrderStat *os)
{
	int32_t		i;

	for (i = 0; i < os->nblk; i++)
		me_free(os->blk[i]);
	for (i = 0; i < os->nspare; i++)
		me_free(os->spare[i]);
	me_free(os->blk);
	me_free(os->fen);
	me_free(os->spare);
	memset(os, 0, sizeof(*os));
}

/* Make room for need blocks (capacity doubles; the Fenwick tree follows). */
static int
ensure_cap(MeOrderStat *os, int32_t need)
{
	int32_t		ncap = os->cap ? os->cap : 4;
	MeOsBlock **b,
			  **s;
	int32_t    *f;

	if (need <= os->cap)
		return ME_SERIES_OK;
	while (ncap < need)
		ncap *= 2;
	b = me_realloc(os->blk, ncap * sizeof(MeOsBlock *));
	if (b != NULL)
		os->blk = b;
	s = me_realloc(os->spare, ncap * sizeof(MeOsBlock *));
	if (s != NULL)
		os->spare = s;
	f = me_realloc(os->fen, (ncap + 1) * sizeof(int32_t));
	if (f != NULL)
		os->fen = f;
	if (b == NULL || s == NULL || f == NULL)
		return ME_SERIES_ENOMEM;
	os->cap = ncap;
	return ME_SERIES_OK;
}

/* A block from the spare list or the allocator. */
static MeOsBlock *
take_block(MeOrderStat *os)
{
	MeOsBlock  *b;

	if (os->nspare > 0)
		return os->spare[--os->nspare];
	b = me_alloc(sizeof(MeOsBlock));
	if (b != NULL)
		b->n = 0;
	return b;
}

/* Unlink block i and keep it for reuse (blocks ever made <= cap). */
static void
drop_block(MeOrderStat *os, int32_t i)
{
	os->spare[os->nspare++] = os->blk[i];
	memmove(&os->blk[i], &os->blk[i + 1], (os->nblk - i - 1) * sizeof(MeOsBlock *));
	os->nblk--;
}

/* Rebuild the Fenwick tree from the block sizes in O(cap). */
static void
fen_rebuild(MeOrderStat *os)
{
	int32_t		i;

	for (i = 1; i <= os->cap; i++)
		os->fen[i] = i - 1 < os->nblk ? os->blk[i - 1]->n : 0;
	for (i = 1; i <= os->cap; i++)
	{
		int32_t		j = i + (i & -i);

		if (j <= os->cap)
			os->fen[j] += os->fen[i];
	}
}

/* Add delta to the size of block i in the Fenwick tree. */
static void
fen_add(MeOrderStat *os, int32_t i, int32_t delta)
{
	for (i++; i <= os->cap; i += i & -i)
		os->fen[i] += delta;
}

/* First block whose largest value is >= x, else the last block. */
static int32_t
find_block(const MeOrderStat *os, double x)
{
	int32_t		lo = 0,
				hi = os->nblk - 1;

	while (lo < hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;
		const MeOsBlock *b = os->blk[mid];

		if (b->v[b->n - 1] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First position in v[0..n) holding a value > x (upper) or >= x (lower). */
static int32_t
bound(const double *v, int32_t n, double x, int upper)
{
	int32_t		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;

		if (v[mid] < x || (upper && v[mid] == x))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Split full block i into two halves; the upper half becomes block i+1. */
static int
split_block(MeOrderStat *os, int32_t i)
{
	MeOsBlock  *b,
			   *nb;
	int32_t		half = ME_OS_BLOCK / 2;
	int			rc;

	if ((rc = ensure_cap(os, os->nblk + 1)) != ME_SERIES_OK)
		return rc;
	if ((nb = take_block(os)) == NULL)
		return ME_SERIES_ENOMEM;
	b = os->blk[i];
	memcpy(nb->v, b->v + half, (b->n - half) * sizeof(double));
	nb->n = b->n - half;
	b->n = half;
	memmove(&os->blk[i + 2], &os->blk[i + 1], (os->nblk - i - 1) * sizeof(MeOsBlock *));
	os->blk[i + 1] = nb;
	os->nblk++;
	return ME_SERIES_OK;
}

/* Append block i+1 to block i and drop it. */
static void
merge_blocks(MeOrderStat *os, int32_t i)
{
	MeOsBlock  *a = os->blk[i];
	MeOsBlock  *c = os->blk[i + 1];

	memcpy(a->v + a->n, c->v, c->n * sizeof(double));
	a->n += c->n;
	c->n = 0;
	drop_block(os, i + 1);
}

/* Add one value: O(log W) search, O(B) move, O(log(W/B)) index update. */
int
me_os_insert(MeOrderStat *os, double x)
{
	MeOsBlock  *b;
	int32_t		i,
				pos;
	bool		rebuild = false;
	int			rc;

	if (os->nblk == 0)
	{
		if ((rc = ensure_cap(os, 1)) != ME_SERIES_OK)
			return rc;
		if ((os->blk[0] = take_block(os)) == NULL)
			return ME_SERIES_ENOMEM;
		os->blk[0]->n = 0;
		os->nblk = 1;
		rebuild = true;
	}
	i = find_block(os, x);
	if (os->blk[i]->n == ME_OS_BLOCK)
	{
		if ((rc = split_block(os, i)) != ME_SERIES_OK)
			return rc;
		if (x > os->blk[i]->v[os->blk[i]->n - 1])
			i++;
		rebuild = true;
	}
	b = os->blk[i];
	pos = bound(b->v, b->n, x, 1);
	memmove(b->v + pos + 1, b->v + pos, (b->n - pos) * sizeof(double));
	b->v[pos] = x;
	b->n++;
	os->n++;
	if (rebuild)
		fen_rebuild(os);
	else
		fen_add(os, i, 1);
	return ME_SERIES_OK;
}

/* Remove one value equal to x; EINVAL if there is none. */
int
me_os_remove(MeOrderStat *os, double x)
{
	MeOsBlock  *b;
	int32_t		i,
				pos;

	if (os->nblk == 0)
		return ME_SERIES_EINVAL;
	i = find_block(os, x);
	b = os->blk[i];
	pos = bound(b->v, b->n, x, 0);
	if (pos == b->n || b->v[pos] != x)
		return ME_SERIES_EINVAL;
	memmove(b->v + pos, b->v + pos + 1, (b->n - pos - 1) * sizeof(double));
	b->n--;
	os->n--;
	if (b->n == 0)
		drop_block(os, i);
	else if (i + 1 < os->nblk && b->n + os->blk[i + 1]->n <= ME_OS_BLOCK / 2)
		merge_blocks(os, i);
	else if (i > 0 && os->blk[i - 1]->n + b->n <= ME_OS_BLOCK / 2)
		merge_blocks(os, i - 1);
	else
	{
		fen_add(os, i, -1);
		return ME_SERIES_OK;
	}
	fen_rebuild(os);
	return ME_SERIES_OK;
}

/* Value of 0-based rank r (r < n): Fenwick descent to the block. */
double
me_os_select(const MeOrderStat *os, size_t r)
{
	int32_t		pos = 0;
	int32_t		rem = (int32_t) r;
	int32_t		step;

	if (os->nblk == 1)
		return os->blk[0]->v[r];
	for (step = os->cap; step > 0; step >>= 1)
	{
		if (pos + step <= os->cap && os->fen[pos + step] <= rem)
		{
			pos += step;
			rem -= os->fen[pos];
		}
	}
	return os->blk[pos]->v[rem];
}

/* Median (mean of the two middle values for an even count); n > 0. */
double
me_os_median(const MeOrderStat *os)
{
	size_t		m = os->n;

	if (m % 2 == 1)
		return me_os_select(os, m / 2);
	return (me_os_select(os, m / 2 - 1) + me_os_select(os, m / 2)) / 2.0;
}

/*
 * k-th smallest (0-based) |v - med| and the start s of a window of ranks
 * [s, s+k] realising it.  P(s): v[s+k] - med >= med - v[s] is monotone in
 * s; the best window is the first s with P true or the one before it.
 */
static double
kth_dist(const MeOrderStat *os, double med, size_t k, size_t *s_out)
{
	size_t		lo = 0,
				hi = os->n - k;
	double		l,
				r;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (me_os_select(os, mid + k) - med >= med - me_os_select(os, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == os->n - k)
	{
		*s_out = lo - 1;
		return med - me_os_select(os, lo - 1);
	}
	r = me_os_select(os, lo + k) - med;
	if (lo == 0 || (l = med - me_os_select(os, lo - 1)) >= r)
	{
		*s_out = lo;
		return r;
	}
	*s_out = lo - 1;
	return l;
}

/*
 * Median absolute deviation from med (not scaled); n > 0.  For an even
 * count the (k+1)-th distance extends the k-th window by its nearer
 * neighbour, which lies on the far side of neither end (see kth_dist).
 */
double
me_os_mad(const MeOrderStat *os, double med)
{
	size_t		m = os->n;
	size_t		k = m % 2 == 1 ? m / 2 : m / 2 - 1;
	size_t		s;
	double		dk = kth_dist(os, med, k, &s);
	double		next = INFINITY;

	if (m % 2 == 1)
		return dk;
	if (s > 0)
		next = fabs(me_os_select(os, s - 1) - med);
	if (s + k + 1 < m)
		next = fmin(next, fabs(me_os_select(os, s + k + 1) - med));
	return (dk + fmax(dk, next)) / 2.0;
}
