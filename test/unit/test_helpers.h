/*
 * test_helpers.h - fixtures shared by the cmocka tests of the pure modules
 *
 * Profiles built here mirror the shipped rows of meter_etl.format_profile
 * closely enough to exercise each layout; the SQL suites test the shipped
 * rows themselves.
 */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <stdint.h>
#include <string.h>

#include "core/me_time.h"
#include "core/read/reader.h"
#include "core/read/rules.h"
#include "core/read/tzconv.h"

/* EU summer time: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC. */
static inline int64_t
eu_last_sunday_utc(int year, int month)
{
	int64_t		day = me_days_from_civil(year, month, 31);
	int			dow = (int) (((day % 7) + 7 + 4) % 7);	/* 1970-01-01 was a Thursday */

	return (day - dow) * 86400 + 3600;
}

/* gmtoff callback: standard offset in ctx (seconds), plus one hour in summer. */
static inline int32_t
eu_gmtoff(void *ctx, int64_t unix_secs)
{
	int32_t		std = *(int32_t *) ctx;
	int			y,
				m,
				d;

	me_civil_from_days(me_floor_div(unix_secs, 86400), &y, &m, &d);
	if (unix_secs >= eu_last_sunday_utc(y, 3) && unix_secs < eu_last_sunday_utc(y, 10))
		return std + 3600;
	return std;
}

/* The shipped channels' tolerances below zero (meter_etl.channel: solar). */
static const MeNegTolerance test_neg_tolerance[] = {
	{"solar", ME_DEFAULT_SOLAR_NEGATIVE_TOLERANCE_KW},
};

/*
 * Rules for fixtures: 2000..2100, the default kW bound and grid tolerance,
 * and the solar channel's default tolerance below zero.
 */
static inline MeRules
test_rules(void)
{
	MeRules		r;

	memset(&r, 0, sizeof(r));
	r.min_ts = me_make_ts(2000, 1, 1, 0, 0, 0, 0);
	r.max_ts = me_make_ts(2100, 1, 1, 0, 0, 0, 0);
	r.max_kw = ME_DEFAULT_MAX_KW;
	r.grid_tolerance_us = ME_DEFAULT_GRID_TOLERANCE_S * ME_USECS_PER_SEC;
	r.max_meter_id_len = ME_DEFAULT_MAX_METER_ID_LEN;
	r.neg_tolerance = test_neg_tolerance;
	r.nneg_tolerance = 1;
	return r;
}

#endif							/* TEST_HELPERS_H */
