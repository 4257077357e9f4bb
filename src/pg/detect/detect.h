/*
 * detect.h - declarations shared by the detection glue (srf_*.c, detect*.c)
 *
 * The series algorithms are pure C (series.h); these files only read
 * series out of meter_etl.reading, call the cores and hand results back as
 * rows.  A series is one meter channel: every reader streams the readings
 * of a time window with ONE SPI cursor ordered by (meter_key, channel_id,
 * ts) and yields them series by series, so the cost is one sorted scan
 * whatever the number of meters.
 */
#ifndef ME_DETECT_H
#define ME_DETECT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "core/me_time.h"
#include "core/read/tzconv.h"
#include "core/series/series.h"

/* A meter as detection needs it (from meter_etl.meter). */
typedef struct MeDetMeter
{
	int32		meter_key;		/* hash key */
	char	   *meter_id;
	int32		interval_s;
	MeZone	   *zone;			/* the meter's time zone (local days) */
} MeDetMeter;

/* Meters in scope, channel names and time zones, loaded once per call. */
typedef struct MeDetCatalog
{
	HTAB	   *meters;			/* meter_key -> MeDetMeter */
	HTAB	   *zones;			/* zone name -> MeZone */
	char	  **channels;		/* name by channel_id, NULL if unknown */
	int			nchannels;
	Datum		keys;			/* int4[] of the meters asked for, or 0 = all */
	int			nmeters;
	bool		key_range;		/* read keys key_lo..key_hi, skip meters not asked for */
	int32		key_lo;
	int32		key_hi;
	int64		max_interval_us;	/* longest interval of a meter in scope */
	bool		with_estimates; /* the reader adds meter_etl.estimate rows */
} MeDetCatalog;

/* One series: readings of one meter channel in time order. */
typedef struct MeDetSeries
{
	MeDetMeter *meter;
	int16		channel_id;
	const char *channel;
	int64		interval_us;
	size_t		n;
	int64	   *ts;
	double	   *kw;
	int16	   *flags;
	MeSeries	in;				/* view on ts/kw (all present) */
} MeDetSeries;

typedef struct MeDetReader MeDetReader;

/* detect_catalog.c: the meters and channels in scope */
extern void me_det_catalog_load(MeDetCatalog *cat, ArrayType *meter_ids, ArrayType *meter_keys);
extern void me_det_plan_key_range(MeDetCatalog *cat, const Datum *keys, int nkeys);
extern const char *me_det_channel_name(const MeDetCatalog *cat, int16 ch);
extern MeDetMeter *me_det_meter(MeDetCatalog *cat, int32 meter_key);
extern MeZone *me_det_zone(MeDetCatalog *cat, const char *name);

/* detect_reader.c: the readings, one series at a time */
extern MeDetReader *me_det_reader_open(MeDetCatalog *cat, TimestampTz from, TimestampTz to);
extern bool me_det_reader_next(MeDetReader *rd, MeDetSeries *s);
extern void me_det_reader_close(MeDetReader *rd);
extern MemoryContext me_det_series_context(MeDetReader *rd);

/* detect_args.c: argument checks */
extern int64 me_det_interval_arg(FunctionCallInfo fcinfo, int argno, const char *name,
								 bool allow_zero);
extern TimestampTz me_det_ts_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern double me_det_float_arg(FunctionCallInfo fcinfo, int argno, const char *name,
							   double lo, double hi);
extern void me_det_check_range(TimestampTz from, TimestampTz to);
extern TimestampTz me_det_add(TimestampTz t, int64 us);
extern int64 me_det_due_to(int64 to, int64 interval_us);

/* detect_errors.c: the cores' status codes as errors */
extern const char *me_det_ts_text(int64 ts);
extern void me_det_check_finite(const MeDetSeries *s);
extern void me_det_series_error(int status);

/* error context naming the series being processed */
typedef struct MeDetErrCtx
{
	ErrorContextCallback cb;
	const char *what;
	const MeDetSeries *s;
} MeDetErrCtx;

extern void me_det_errctx_push(MeDetErrCtx *e, const char *what);
extern void me_det_errctx_pop(MeDetErrCtx *e);

/* detect_args.c: arrays of the "any series" variants */
typedef struct MeDetArrays
{
	int			n;
	int64	   *ts;				/* NULL when only values were given */
	double	   *kw;
	bool	   *present;		/* kw NULL -> not present */
} MeDetArrays;

extern void me_det_arrays(FunctionCallInfo fcinfo, int ts_arg, int kw_arg, MeDetArrays *a);

/* srf_outliers.c */

typedef struct MeDetOutlierArgs
{
	MeOutlierMethod method;
	MeWindowMode mode;
	int			window;			/* 0: one day of readings per meter */
	int			min_periods;	/* 0: half the window */
	double		threshold;
	double		min_scale;
	bool		log_scale;		/* score asinh(kw / 0.1) instead of kw */
	bool		outliers_only;	/* SRFs: return only the outliers */
} MeDetOutlierArgs;

extern void me_det_outlier_params(const MeDetOutlierArgs *a, int64 interval_us,
								  MeOutlierParams *p);
extern MeOutlierMethod me_det_outlier_method(const char *name);
extern bool me_det_log_scale(const char *name);
extern void me_det_outliers(const MeSeries *in, const MeDetOutlierArgs *a, int64 interval_us,
							MeScore *out, const MeDetSeries *s);
extern void me_det_outlier_settings(MeDetOutlierArgs *a);

/* srf_faults.c */
typedef struct MeDetFaultArgs
{
	unsigned	kinds;			/* mask of (1 << MeFaultKind) to report */
	int64		stuck_zero_min_us;
	int64		flatline_min_us;
	int			flatline_min_readings;
	double		shift_min_z;
	double		shift_min_factor;	/* episode ratio >= this or <= 1 / this */
	int			shift_min_days;
	int			shift_persist_days;
	int64		offline_min_us;
} MeDetFaultArgs;

extern unsigned me_det_fault_kinds(ArrayType *kinds);
extern void me_det_fault_params(const MeDetFaultArgs *a, int64 interval_us, MeZone *zone,
								MeFaultParams *p);
/* Where me_det_faults looks: the readings of s span [runs_from, win_to). */
typedef struct MeDetFaultWindow
{
	int64		runs_from;		/* stuck_zero, flatline, offline judged from here ... */
	int64		to;				/* ... offline to here */
	int64		win_to;			/* end of the readings read (and of runs) */
	int64		days_from;		/* level shift: history from here */
	int64		trusted_from;	/* days starting earlier lack context: stored wins */
	const MeDay *stored;		/* daily sums kept from earlier runs, by day */
	size_t		nstored;
	const bool *outlier;		/* readings left out of daily energy, or NULL */
} MeDetFaultWindow;

extern void me_det_faults(const MeDetSeries *s, const MeFaultParams *p,
						  const MeDetFaultWindow *w, MeFaultList *out,
						  MeDay **days, size_t *ndays);
extern bool *me_det_default_outliers(const MeSeries *in, int64 interval_us);
extern Datum me_det_evidence(const MeFault *f, const MeDetSeries *s);

/* detect_fleet.c: the fleet's daily level, level shift's context */
typedef struct MeDetFleet MeDetFleet;

extern MeDetFleet *me_det_fleet_load(MeDetCatalog *cat, TimestampTz from, TimestampTz to,
									 TimestampTz stored_before, int min_meters);
extern MeDetFleet *me_det_fleet_stored(MeDetCatalog *cat, TimestampTz from, TimestampTz to,
									   int min_meters);
extern void me_det_fleet_params(const MeDetFleet *f, const MeDetSeries *s, MeFaultParams *p);

/* detect_gucs.c */
extern int	me_det_max_gap_s;
extern int	me_det_outlier_method_guc;
extern int	me_det_outlier_window;
extern double me_det_outlier_threshold;
extern double me_det_outlier_min_scale;
extern int	me_det_stuck_zero_min_s;
extern int	me_det_flatline_min_s;
extern int	me_det_offline_min_s;
extern double me_det_shift_min_factor;
extern double me_det_shift_min_z;
extern int	me_det_shift_min_days;
extern int	me_det_shift_persist_days;
extern int	me_det_fleet_min_meters;
extern void me_detect_define_gucs(void);

#endif							/* ME_DETECT_H */
