/*
 * loadprofile.h - a meter's mean normalised daily load profile
 *
 * Readings are accumulated per local slot of day, weekdays and weekends
 * apart; the profile is the mean per slot, each day type divided by its
 * mean absolute value, so that k-means groups meters by the shape of their
 * day, not by their size.  The two day types are concatenated into one
 * vector of 2 * slots_per_day values (weekday slots first).
 *
 * Local slots come from the wall clock: on a 25-hour day the repeated
 * hour's readings fall into the same slots as the first pass (and are
 * averaged in), a 23-hour day simply has no readings for the skipped hour.
 */
#ifndef ME_LOADPROFILE_H
#define ME_LOADPROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/read/tzconv.h"

/* What me_lp_finish had to make up (a mask). */
#define ME_LP_ZERO		0x1		/* a day type reads all zero: flat profile (1 everywhere) */
#define ME_LP_GAPS		0x2		/* slots without readings, interpolated from neighbours */
#define ME_LP_NO_WEEKDAY 0x4	/* no weekday reading: the weekend profile stands in */
#define ME_LP_NO_WEEKEND 0x8	/* no weekend reading: the weekday profile stands in */

typedef enum MeLpStatus
{
	ME_LP_OK = 0,
	ME_LP_BAD_SLOTS,			/* slots_per_day < 1, or the interval does not divide a day */
	ME_LP_NOT_FINITE,			/* a NaN or infinite value */
	ME_LP_EMPTY,				/* no reading at all */
	ME_LP_NO_MEMORY
} MeLpStatus;

typedef struct MeLoadProfile
{
	int			slots;			/* slots per day */
	double	   *sum;			/* 2 * slots: weekday slots, then weekend slots */
	uint32_t   *count;			/* 2 * slots */
	size_t		readings;
} MeLoadProfile;

/* Slots per day for an interval in microseconds, or 0 if it does not divide a day. */
extern int	me_lp_slots_per_day(int64_t interval_us);

extern MeLpStatus me_lp_init(MeLoadProfile *lp, int slots_per_day);
extern void me_lp_reset(MeLoadProfile *lp);
extern void me_lp_free(MeLoadProfile *lp);

/* One reading at a local slot (0 .. slots-1) of a weekday or weekend day. */
extern MeLpStatus me_lp_add(MeLoadProfile *lp, double value, int slot, bool weekend);

/*
 * A series of UTC timestamps (PG scale) and values: each reading's local
 * slot of day in zone (NULL = UTC) at slots_per_day, Saturday and Sunday
 * counting as weekend.  Readings of a finer interval average into the
 * coarser slot that holds them.
 */
extern MeLpStatus me_lp_add_series(MeLoadProfile *lp, MeZone *zone, const int64_t *ts,
								   const double *value, size_t n);

/* The normalised profile into out (2 * slots values) and what was made up into *flags. */
extern MeLpStatus me_lp_finish(const MeLoadProfile *lp, double *out, unsigned *flags);

#endif							/* ME_LOADPROFILE_H */
