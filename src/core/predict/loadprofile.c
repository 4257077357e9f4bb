/*
 * loadprofile.c - mean normalised daily load profiles (see loadprofile.h)
 */
#include "core/predict/loadprofile.h"

#include <math.h>
#include <string.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "core/series/series_int.h"

/* Below this mean absolute kW a day type counts as all zero. */
#define LP_ZERO_KW 1e-9

int
me_lp_slots_per_day(int64_t interval_us)
{
	if (interval_us <= 0 || ME_USECS_PER_DAY % interval_us != 0)
		return 0;
	return (int) (ME_USECS_PER_DAY / interval_us);
}

MeLpStatus
me_lp_init(MeLoadProfile *lp, int slots_per_day)
{
	memset(lp, 0, sizeof(*lp));
	/* at most one slot a second; also keeps 2 * slots far from overflow */
	if (slots_per_day < 1 || slots_per_day > 86400)
		return ME_LP_BAD_SLOTS;
	lp->slots = slots_per_day;
	lp->sum = me_alloc(2 * (size_t) slots_per_day * sizeof(double));
	lp->count = me_alloc(2 * (size_t) slots_per_day * sizeof(uint32_t));
	if (lp->sum == NULL || lp->count == NULL)
	{
		me_lp_free(lp);
		return ME_LP_NO_MEMORY;
	}
	me_lp_reset(lp);
	return ME_LP_OK;
}

/* Empty the accumulators for the next meter (no reallocation). */
void
me_lp_reset(MeLoadProfile *lp)
{
	memset(lp->sum, 0, 2 * (size_t) lp->slots * sizeof(double));
	memset(lp->count, 0, 2 * (size_t) lp->slots * sizeof(uint32_t));
	lp->readings = 0;
}

void
me_lp_free(MeLoadProfile *lp)
{
	me_free(lp->sum);
	me_free(lp->count);
	memset(lp, 0, sizeof(*lp));
}

MeLpStatus
me_lp_add(MeLoadProfile *lp, double value, int slot, bool weekend)
{
	size_t		i;

	if (!isfinite(value))
		return ME_LP_NOT_FINITE;
	if (slot < 0 || slot >= lp->slots)
		return ME_LP_BAD_SLOTS;
	i = (size_t) (weekend ? lp->slots : 0) + (size_t) slot;
	lp->sum[i] += value;
	lp->count[i]++;
	lp->readings++;
	return ME_LP_OK;
}

MeLpStatus
me_lp_add_series(MeLoadProfile *lp, MeZone *zone, const int64_t *ts, const double *value,
				 size_t n)
{
	MeLocal		lc;
	int64_t		width = ME_USECS_PER_DAY / lp->slots;

	series_local_init(&lc, zone);
	for (size_t i = 0; i < n; i++)
	{
		int64_t		local = series_to_local(&lc, ts[i]);
		int64_t		day = me_floor_div(local, ME_USECS_PER_DAY);
		int			dow = me_dow(local);
		int			slot = (int) ((local - day * ME_USECS_PER_DAY) / width);
		MeLpStatus	st = me_lp_add(lp, value[i], slot, dow == 0 || dow == 6);

		if (st != ME_LP_OK)
			return st;
	}
	return ME_LP_OK;
}

/*
 * Fill slots without readings by linear interpolation between the nearest
 * slots with readings, around midnight (a day's profile is circular).
 * Returns false when no slot of the day type has a reading.
 */
static bool
fill_day(const MeLoadProfile *lp, int type, double *out, unsigned *flags)
{
	int			s = lp->slots;
	const uint32_t *cnt = lp->count + (size_t) type * s;
	const double *sum = lp->sum + (size_t) type * s;
	int			first = -1;

	for (int j = 0; j < s; j++)
		if (cnt[j] > 0)
		{
			out[j] = sum[j] / cnt[j];
			if (first < 0)
				first = j;
		}
	if (first < 0)
		return false;
	for (int j = 0; j < s; j++)
	{
		int			a,
					b,
					da = 0,
					db = 0;

		if (cnt[j] > 0)
			continue;
		*flags |= ME_LP_GAPS;
		for (a = j; cnt[a] == 0; a = (a + s - 1) % s)
			da++;
		for (b = j; cnt[b] == 0; b = (b + 1) % s)
			db++;
		out[j] = (sum[a] / cnt[a] * db + sum[b] / cnt[b] * da) / (da + db);
	}
	return true;
}

/* Divide by the mean absolute value (exporting meters keep their sign); flat if ~0. */
static void
normalise(double *v, int s, unsigned *flags)
{
	double		m = 0.0;

	for (int j = 0; j < s; j++)
		m += fabs(v[j]);
	m /= s;
	for (int j = 0; j < s; j++)
		v[j] = m > LP_ZERO_KW ? v[j] / m : 1.0;
	if (!(m > LP_ZERO_KW))
		*flags |= ME_LP_ZERO;
}

MeLpStatus
me_lp_finish(const MeLoadProfile *lp, double *out, unsigned *flags)
{
	int			s = lp->slots;
	bool		wd,
				we;

	*flags = 0;
	wd = fill_day(lp, 0, out, flags);
	we = fill_day(lp, 1, out + s, flags);
	if (!wd && !we)
		return ME_LP_EMPTY;
	/* a window without weekends (or weekdays): one day type stands in for both */
	if (!wd)
	{
		memcpy(out, out + s, (size_t) s * sizeof(double));
		*flags |= ME_LP_NO_WEEKDAY;
	}
	if (!we)
	{
		memcpy(out + s, out, (size_t) s * sizeof(double));
		*flags |= ME_LP_NO_WEEKEND;
	}
	normalise(out, s, flags);
	normalise(out + s, s, flags);
	return ME_LP_OK;
}
