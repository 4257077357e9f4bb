/*
 * me_time.h - calendar arithmetic shared by the pure C modules
 *
 * Time inside meter_etl is an int64 count of microseconds since
 * 2000-01-01 00:00:00 UTC, the same representation as PostgreSQL's
 * TimestampTz, so values cross the glue layer without conversion.  "Local"
 * times (wall-clock readings of a zone) use the same scale as if the wall
 * clock were UTC.
 */
#ifndef ME_TIME_H
#define ME_TIME_H

#include <stdbool.h>
#include <stdint.h>

#define ME_USECS_PER_SEC	INT64_C(1000000)
#define ME_USECS_PER_MIN	(INT64_C(60) * ME_USECS_PER_SEC)
#define ME_USECS_PER_HOUR	(INT64_C(3600) * ME_USECS_PER_SEC)
#define ME_USECS_PER_DAY	(INT64_C(86400) * ME_USECS_PER_SEC)
/* days from 1970-01-01 to 2000-01-01 */
#define ME_UNIX_TO_PG_DAYS	10957
#define ME_UNIX_TO_PG_USECS (INT64_C(10957) * ME_USECS_PER_DAY)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method). */
static inline int64_t
me_days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Inverse of me_days_from_civil. */
static inline void
me_civil_from_days(int64_t z, int *year, int *month, int *day)
{
	int64_t		era;
	int64_t		doe;
	int64_t		yoe;
	int64_t		doy;
	int64_t		mp;
	int64_t		y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*day = (int) (doy - (153 * mp + 2) / 5 + 1);
	*month = (int) (mp < 10 ? mp + 3 : mp - 9);
	*year = (int) (y + (*month <= 2));
}

static inline bool
me_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int
me_days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return (m == 2 && me_is_leap(y)) ? 29 : dim[m - 1];
}

/* Microseconds since 2000-01-01 for a civil date and time (no zone). */
static inline int64_t
me_make_ts(int y, int mo, int d, int h, int mi, int s, int64_t usec)
{
	int64_t		days = me_days_from_civil(y, mo, d) - ME_UNIX_TO_PG_DAYS;

	return days * ME_USECS_PER_DAY + h * ME_USECS_PER_HOUR +
		mi * ME_USECS_PER_MIN + s * ME_USECS_PER_SEC + usec;
}

/* Floor division for possibly negative timestamps. */
static inline int64_t
me_floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* The start of the grid slot of width step that holds t (t rounded down). */
static inline int64_t
me_floor_to(int64_t t, int64_t step)
{
	return me_floor_div(t, step) * step;
}

/* Day of week, 0 = Sunday, of a timestamp on the PG scale. */
static inline int
me_dow(int64_t ts)
{
	int64_t		days = me_floor_div(ts, ME_USECS_PER_DAY);

	/* 2000-01-01 was a Saturday (6) */
	return (int) (((days % 7) + 7 + 6) % 7);
}

#endif							/* ME_TIME_H */
