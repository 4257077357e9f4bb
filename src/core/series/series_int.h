/*
 * series_int.h - helpers shared by the series modules (not for the glue)
 *
 * Growable arrays, the slot grid, and a one-hour cache in front of the
 * zone's gmtoff callback so that per-reading local times cost about two
 * callback calls per UTC hour.
 */
#ifndef ME_SERIES_INT_H
#define ME_SERIES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/me_time.h"
#include "core/read/tzconv.h"
#include "series.h"

/* UTC-to-local converter with a one-hour offset cache. */
typedef struct MeLocal
{
	MeZone	   *zone;			/* NULL = UTC */
	int64_t		hour;			/* cached UTC hour, INT64_MIN if none */
	int64_t		offset_us;
} MeLocal;

/* True when reading i is present (not NULL in SQL). */
static inline bool
series_present(const MeSeries *in, size_t i)
{
	return in->present == NULL || in->present[i];
}

/* Smallest q with q * b >= a (b > 0), without overflow. */
static inline int64_t
series_ceil_div(int64_t a, int64_t b)
{
	int64_t		q = me_floor_div(a, b);

	return q * b == a ? q : q + 1;
}

/* Non-negative remainder of a modulo b (b > 0). */
static inline int64_t
series_mod(int64_t a, int64_t b)
{
	return a - me_floor_div(a, b) * b;
}

extern int	series_reserve(void **buf, size_t *cap, size_t need, size_t elem);
extern int	series_grid(int64_t from, int64_t to, int64_t interval,
						int64_t *k0, size_t *nslots);
extern void series_local_init(MeLocal *lc, MeZone *zone);
extern int64_t series_to_local(MeLocal *lc, int64_t utc);
extern MeLocalStatus series_from_local(MeLocal *lc, int64_t local, int64_t *utc);
extern int64_t series_day_start(MeLocal *lc, int64_t day);

#endif							/* ME_SERIES_INT_H */
