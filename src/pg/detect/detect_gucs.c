/*
 * detect_gucs.c - settings of the batch detection (meter_etl.detect*)
 *
 * detect() and detect_pending() take their thresholds from these, so the
 * pipeline can call them without arguments and a fleet is configured in
 * one place.  The set-returning functions take the same values as
 * arguments, with the same defaults.  All are user-settable: they change
 * what is flagged, not what is accepted into the store.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "detect.h"

int			me_det_max_gap_s = ME_DEFAULT_MAX_GAP_S;
int			me_det_outlier_method_guc = ME_OUTLIER_HAMPEL;
int			me_det_outlier_window = ME_DEFAULT_OUTLIER_WINDOW;
double		me_det_outlier_threshold = ME_DEFAULT_OUTLIER_THRESHOLD;
double		me_det_outlier_min_scale = ME_DEFAULT_OUTLIER_MIN_SCALE_LOG;
int			me_det_stuck_zero_min_s = ME_DEFAULT_STUCK_ZERO_MIN_S;
int			me_det_flatline_min_s = ME_DEFAULT_FLATLINE_MIN_S;
int			me_det_offline_min_s = ME_DEFAULT_OFFLINE_MIN_S;
double		me_det_shift_min_factor = ME_DEFAULT_SHIFT_MIN_FACTOR;
double		me_det_shift_min_z = ME_DEFAULT_SHIFT_MIN_Z;
int			me_det_shift_min_days = ME_DEFAULT_SHIFT_MIN_DAYS;
int			me_det_shift_persist_days = ME_DEFAULT_SHIFT_PERSIST_DAYS;
int			me_det_fleet_min_meters = ME_DEFAULT_FLEET_MIN_METERS;

static const struct config_enum_entry outlier_methods[] = {
	{"hampel", ME_OUTLIER_HAMPEL, false},
	{"zscore", ME_OUTLIER_ZSCORE, false},
	{NULL, 0, false}
};

/* Define the detection settings; called from _PG_init before the prefix is reserved. */
void
me_detect_define_gucs(void)
{
	DefineCustomIntVariable("meter_etl.max_gap",
							"Longest gap between two readings that detect() fills by linear interpolation.",
							"Longer gaps are recorded in meter_etl.gap and left unfilled.",
							&me_det_max_gap_s, ME_DEFAULT_MAX_GAP_S, 0, 7 * 86400, PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("meter_etl.outlier_method",
							 "Rolling outlier score detect() uses: hampel (median/MAD) or zscore (mean/stddev).",
							 NULL, &me_det_outlier_method_guc, ME_OUTLIER_HAMPEL, outlier_methods,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.outlier_window",
							"Readings in the rolling outlier window of detect() (2: the readings either side); 0 means one day of readings.",
							NULL, &me_det_outlier_window, ME_DEFAULT_OUTLIER_WINDOW, 0, 100000, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("meter_etl.outlier_threshold",
							 "detect() flags a reading as an outlier when its |score| exceeds this.",
							 NULL, &me_det_outlier_threshold, ME_DEFAULT_OUTLIER_THRESHOLD, 0.0, 1e6, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("meter_etl.outlier_min_scale",
							 "Floor on the rolling window's spread in detect(), in log units (0.25 is about 25%).",
							 "Keeps quiet, nearly constant stretches from turning small changes into outliers.",
							 &me_det_outlier_min_scale, ME_DEFAULT_OUTLIER_MIN_SCALE_LOG, 0.0, 100.0, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.stuck_zero_min",
							"Shortest run of zero readings that detect() reports as stuck_zero.",
							NULL, &me_det_stuck_zero_min_s, ME_DEFAULT_STUCK_ZERO_MIN_S, 60, 30 * 86400, PGC_USERSET,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.flatline_min",
							"Shortest run of one repeated non-zero value that detect() reports as flatline.",
							NULL, &me_det_flatline_min_s, ME_DEFAULT_FLATLINE_MIN_S, 60, 30 * 86400, PGC_USERSET,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.offline_min",
							"Shortest gap that detect() reports as offline.",
							NULL, &me_det_offline_min_s, ME_DEFAULT_OFFLINE_MIN_S, 3600, 365 * 86400, PGC_USERSET,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomRealVariable("meter_etl.level_shift_min_factor",
							 "Factor by which daily consumption must rise or fall against its weekday baseline for detect() to report level_shift.",
							 "2 means doubled or halved; single days are screened at half that change.",
							 &me_det_shift_min_factor, ME_DEFAULT_SHIFT_MIN_FACTOR, 1.0, 1000.0, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("meter_etl.level_shift_min_z",
							 "Robust z-score a day's consumption needs against its weekday baseline for detect()'s level_shift.",
							 NULL, &me_det_shift_min_z, ME_DEFAULT_SHIFT_MIN_Z, 0.0, 1000.0, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.level_shift_min_days",
							"Consecutive days a change must last for detect() to report level_shift (shorter ones are transients).",
							NULL, &me_det_shift_min_days, ME_DEFAULT_SHIFT_MIN_DAYS, 1, 366, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.level_shift_persist_days",
							"Days a level shift that ended must have lasted to be a meter fault; a shorter one is a usage_anomaly.",
							"A shift still going on at the end of the data is a fault however long it lasted.",
							&me_det_shift_persist_days, ME_DEFAULT_SHIFT_PERSIST_DAYS, 1, 3660, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.level_shift_fleet_min_meters",
							"Meters of a channel and time zone with a whole day that make a fleet level for detect()'s level_shift (0: judge every meter alone).",
							"Each day's energy is divided by the fleet's level that day, so a change the fleet shares is no meter's fault.",
							&me_det_fleet_min_meters, ME_DEFAULT_FLEET_MIN_METERS, 0, 1000000, PGC_USERSET, 0,
							NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(meter_etl_detect_settings);

/* SQL: detect_settings() -> the detection settings in force, as jsonb. */
Datum
meter_etl_detect_settings(PG_FUNCTION_ARGS)
{
	char	   *s = psprintf("{\"max_gap_s\": %d, \"outlier_method\": \"%s\", \"outlier_window\": %d,"
							 " \"outlier_threshold\": %g, \"outlier_min_scale\": %g,"
							 " \"stuck_zero_min_s\": %d, \"flatline_min_s\": %d, \"offline_min_s\": %d,"
							 " \"level_shift_min_factor\": %g, \"level_shift_min_z\": %g,"
							 " \"level_shift_min_days\": %d, \"level_shift_persist_days\": %d,"
							 " \"level_shift_fleet_min_meters\": %d}",
							 me_det_max_gap_s,
							 me_det_outlier_method_guc == ME_OUTLIER_ZSCORE ? "zscore" : "hampel",
							 me_det_outlier_window, me_det_outlier_threshold,
							 me_det_outlier_min_scale, me_det_stuck_zero_min_s,
							 me_det_flatline_min_s, me_det_offline_min_s,
							 me_det_shift_min_factor, me_det_shift_min_z, me_det_shift_min_days,
							 me_det_shift_persist_days, me_det_fleet_min_meters);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}
