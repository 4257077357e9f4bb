/*
 * series.h - pure C cores of the series cleaning and detection functions
 *
 * One meter channel at a time.  Input is a MeSeries: timestamps (int64 us
 * since 2000-01-01 UTC, see me_time.h) strictly ascending, kW values, and an
 * optional "present" array (false = the reading is NULL in SQL; its value is
 * never read).  Every entry point re-checks order and finiteness (O(n)), but
 * the glue should call series_check_input first to report the bad row.
 *
 * Modules behind this header (one responsibility each):
 *   series.c          validation, names, shared zone/grid helpers
 *   series_fill.c     grid interpolation ("linear") and like-day estimates
 *   series_outlier.c  rolling z-score and Hampel scores
 *   orderstat.c       sliding order statistics (median, MAD) for Hampel
 *   series_faults.c   stuck-zero, flatline, level-shift and offline detection
 *
 * Local days (like-day, level shift, run evidence) come from a MeZone
 * (tzconv.h): the glue initialises it with its gmtoff callback or a fixed
 * offset.  The zone's cache is written to, so use one MeZone per thread.
 *
 * Memory: only me_alloc/me_realloc/me_free; results that the functions
 * allocate are released with the matching *_free function.  No global
 * state, so everything is reentrant.  Errors are MeSeriesStatus codes.
 */
#ifndef ME_SERIES_H
#define ME_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/read/tzconv.h"

/* ------------------------------------------------------------ defaults */

/*
 * The detection defaults users get, stated once: the *_params_default
 * functions below start from them, the meter_etl.* settings boot with them
 * (pg/detect/detect_gucs.c), and the SQL functions' DEFAULT clauses are
 * filled in from them when the install script is built (src/sql/build.sh
 * replaces @NAME@).  Plain literals, so that the SQL can take them as they
 * are (whole numbers where they can be: SQL keeps 2 and 2.0 apart in a
 * DEFAULT).  sql/defaults.sql compares all three with the README's table.
 */
#define ME_DEFAULT_MAX_GAP_S 7200	/* 2 hours: longest gap filled linearly */
#define ME_DEFAULT_OUTLIER_METHOD "hampel"
#define ME_DEFAULT_OUTLIER_WINDOW 2 /* readings either side: a spike check */
#define ME_DEFAULT_OUTLIER_THRESHOLD 2
#define ME_DEFAULT_OUTLIER_MIN_SCALE_LOG 1	/* spread floor on the log scale */
#define ME_DEFAULT_STUCK_ZERO_MIN_S 28800	/* 8 hours */
#define ME_DEFAULT_FLATLINE_MIN_S 28800 /* 8 hours */
#define ME_DEFAULT_FLATLINE_MIN_READINGS 16
#define ME_DEFAULT_OFFLINE_MIN_S 86400	/* 24 hours */
#define ME_DEFAULT_SHIFT_MIN_FACTOR 2 /* doubled or halved */
#define ME_DEFAULT_SHIFT_MIN_Z 3
#define ME_DEFAULT_SHIFT_MIN_DAYS 2
#define ME_DEFAULT_SHIFT_PERSIST_DAYS 14	/* an ended shift this long is a fault */
#define ME_DEFAULT_FLEET_MIN_METERS 5	/* meters a fleet level needs */
#define ME_DEFAULT_HISTORY_DAYS 28	/* history before a range, for level shifts */

/* ------------------------------------------------------------ common */

typedef enum MeSeriesStatus
{
	ME_SERIES_OK = 0,
	ME_SERIES_EINVAL,			/* bad parameter */
	ME_SERIES_ENOMEM,			/* allocation failed (stand-alone builds) */
	ME_SERIES_EORDER,			/* timestamps not strictly ascending */
	ME_SERIES_ENONFINITE,		/* NaN or infinity in a present value */
	ME_SERIES_ERANGE			/* grid larger than ME_SERIES_MAX_SLOTS */
} MeSeriesStatus;

/* Largest grid a fill or offline scan builds (40 M slots, < 1 GB palloc). */
#define ME_SERIES_MAX_SLOTS ((size_t) 40 * 1000 * 1000)

/* Score reported when the window's scale is 0 and the value differs. */
#define ME_SERIES_SCORE_SENTINEL 1.0e300

typedef struct MeSeries
{
	const int64_t *ts;			/* strictly ascending; may be NULL for outliers */
	const double *kw;			/* read only where present */
	const bool *present;		/* NULL: all present */
	size_t		n;
} MeSeries;

extern int	series_check_finite(const double *v, const bool *present, size_t n,
								size_t *bad_index);
extern int	series_check_order(const int64_t *ts, size_t n, size_t *bad_index);
extern int	series_check_input(const MeSeries *in, size_t *bad_index);
extern const char *series_strerror(int status);

/* ------------------------------------------------------------ grid fill */

typedef enum MeFillMethod
{
	ME_FILL_ACTUAL = 0,			/* the reading itself */
	ME_FILL_LINEAR,				/* estimated: linear between actuals */
	ME_FILL_LIKE_DAY,			/* estimated: mean of like days */
	ME_FILL_HOLE				/* no value (kw is NaN, emit NULL) */
} MeFillMethod;

typedef struct MeFillPoint
{
	int64_t		ts;				/* slot start */
	double		kw;
	MeFillMethod method;
} MeFillPoint;

typedef enum MeGapKind
{
	ME_GAP_LONG = 0,			/* between actuals, span > max_gap */
	ME_GAP_LEADING,				/* before the series' first actual */
	ME_GAP_TRAILING,			/* after the series' last actual */
	ME_GAP_NODATA				/* the series has no actual at all */
} MeGapKind;

typedef struct MeGap
{
	int64_t		start_ts;		/* first missing slot in the range */
	int64_t		end_ts;			/* last missing slot start (inclusive) */
	int64_t		n_intervals;	/* missing slots in the range */
	int64_t		n_estimated;	/* of those, filled by like-day */
	int64_t		span_us;		/* next actual - previous actual, 0 if open */
	MeGapKind	kind;
} MeGap;

typedef struct MeFillParams
{
	int64_t		interval_us;	/* grid step; slots at k * interval_us */
	int64_t		from_ts;		/* range [from_ts, to_ts) */
	int64_t		to_ts;
	int64_t		max_gap_us;		/* interpolate when next - prev <= this */
	int64_t		snap_us;		/* off-grid tolerance, < interval_us / 2 */
	int			like_day_days;	/* N nearest same-weekday days to average */
	int			like_day_max_weeks; /* look at most this many weeks away (<= 520) */
	bool		like_day_edges; /* also fill leading/trailing gaps */
	MeZone	   *zone;			/* local days for like-day; NULL = UTC */
} MeFillParams;

/*
 * series_fill_linear allocates points and gaps; series_fill_like_day then
 * edits them in place (it needs the same series and parameters).
 */
typedef struct MeFillResult
{
	MeFillPoint *points;		/* one per slot in [from_ts, to_ts) */
	size_t		n_points;
	MeGap	   *gaps;			/* runs of holes, in time order */
	size_t		n_gaps;
	size_t		n_offgrid;		/* readings ignored: farther than snap_us */
	size_t		n_collisions;	/* readings dropped: another was closer */
} MeFillResult;

extern void series_fill_params_default(MeFillParams *p);
extern int	series_fill_linear(const MeSeries *in, const MeFillParams *p,
							   MeFillResult *out);
extern int	series_fill_like_day(const MeSeries *in, const MeFillParams *p,
								 MeFillResult *res);
extern void series_fill_result_free(MeFillResult *r);
extern const char *series_fill_method_name(MeFillMethod m);
extern const char *series_gap_kind_name(MeGapKind k);

/* ------------------------------------------------------------ outliers */

typedef enum MeOutlierMethod
{
	ME_OUTLIER_ZSCORE = 0,		/* (x - mean) / stddev_samp */
	ME_OUTLIER_HAMPEL			/* (x - median) / (1.4826 * MAD) */
} MeOutlierMethod;

typedef enum MeWindowMode
{
	ME_WINDOW_TRAILING = 0,		/* previous W present readings */
	ME_WINDOW_CENTRED			/* W/2 present readings each side */
} MeWindowMode;

typedef struct MeOutlierParams
{
	MeOutlierMethod method;
	MeWindowMode mode;
	size_t		window;			/* W, in present readings, >= 1 */
	size_t		min_periods;	/* fewer readings in the window: no score */
	double		threshold;		/* outlier when |score| > threshold */
	double		min_scale;		/* floor on stddev / 1.4826*MAD (kW), >= 0 */
} MeOutlierParams;

typedef enum MeScoreStatus
{
	ME_SCORE_OK = 0,
	ME_SCORE_MISSING,			/* reading not present: no score */
	ME_SCORE_SHORT,				/* window below min_periods: no score */
	ME_SCORE_DEGENERATE			/* scale 0: score 0 or +-sentinel */
} MeScoreStatus;

typedef struct MeScore
{
	double		score;			/* signed; 0 unless OK or DEGENERATE */
	double		centre;			/* mean or median of the window */
	double		scale;			/* stddev or 1.4826*MAD, after min_scale */
	uint32_t	n_window;		/* present readings in the window */
	MeScoreStatus status;
	bool		is_outlier;
} MeScore;

extern void series_outlier_params_default(MeOutlierParams *p,
										  MeOutlierMethod method);
/* out: in->n entries allocated by the caller; in->ts is not used. */
extern int	series_outliers(const MeSeries *in, const MeOutlierParams *p,
							MeScore *out);

/* ------------------------------------------------------------ faults */

typedef enum MeFaultKind
{
	ME_FAULT_STUCK_ZERO = 0,
	ME_FAULT_FLATLINE,
	ME_FAULT_LEVEL_SHIFT,
	ME_FAULT_OFFLINE,
	ME_FAULT_USAGE_ANOMALY		/* not a fault: a transient change of usage */
} MeFaultKind;

#define ME_FAULT_LAST ME_FAULT_USAGE_ANOMALY
#define ME_FAULT_ALL 0x1F		/* bit (1 << kind) selects a kind */
#define ME_FAULT_SHIFT_KINDS ((1u << ME_FAULT_LEVEL_SHIFT) | (1u << ME_FAULT_USAGE_ANOMALY))

/*
 * One detected episode, [start_ts, end_ts) in UTC.  Per kind:
 *   stuck_zero   n readings; value 0; score = share of the run's readings
 *                at local slots of day where this meter usually reads
 *                something else (see series_faults.c); baseline = mean kW
 *                of the reference readings at those slots (+-run_ref_days)
 *   flatline     n readings; value = the repeated kW; score, baseline as above
 *   level_shift  n judged local days; value = episode energy / baseline
 *                energy, both divided by the fleet's level of each day;
 *                raw_value = the same without the fleet; fleet = mean fleet
 *                level of its days (1 when none); score = robust z of the day
 *                with the largest |z|; baseline = mean baseline kWh per 24 h
 *                (fleet-adjusted); ongoing = still shifted on the last day
 *   usage_anomaly  as level_shift, for an episode that ended (the meter went
 *                back to its level) before shift_persist_days
 *   offline      n missing slots; value = missing fraction; score = longest
 *                single gap in hours; baseline = slots in the episode
 */
typedef struct MeFault
{
	MeFaultKind kind;
	int64_t		start_ts;
	int64_t		end_ts;
	int64_t		n;
	double		value;
	double		score;
	double		baseline;
	double		raw_value;		/* level_shift, usage_anomaly */
	double		fleet;			/* level_shift, usage_anomaly */
	bool		ongoing;		/* level_shift, usage_anomaly */
} MeFault;

/*
 * The fleet's level on a local day, relative to its usual level (1 = a
 * usual day; 1.4 = the fleet as a whole used 40 % more, as on a cold day).
 * Level shift divides each day's energy by it, so that a change the
 * meter's peers share is not a change of this meter.
 */
typedef struct MeFleetDay
{
	int64_t		day;			/* local day number (days since 2000-01-01) */
	double		level;			/* > 0 */
} MeFleetDay;

typedef struct MeFaultParams
{
	unsigned	kinds;			/* ME_FAULT_ALL or a mask of (1 << kind) */
	int64_t		interval_us;	/* expected reading interval */
	MeZone	   *zone;			/* local days; NULL = UTC */
	/* stuck_zero and flatline runs */
	int64_t		run_gap_tolerance_us;	/* missing time allowed inside a run */
	int64_t		stuck_zero_min_us;
	int64_t		stuck_zero_min_readings;
	int64_t		flatline_min_us;
	int64_t		flatline_min_readings;
	int			run_ref_days;	/* reference readings within +-days */
	double		run_min_unusual;	/* slot unusual if this share differs */
	/* level_shift */
	int			shift_weeks;	/* K weeks of history */
	int			shift_min_same_weekday; /* same-weekday days for a baseline */
	int			shift_min_history_days; /* days for the robust scale */
	double		shift_min_z;	/* |robust z| >= this ... */
	double		shift_min_rel_change;	/* ... and |day/baseline - 1| >= this */
	int			shift_min_days; /* an episode lasts at least this many days ... */
	double		shift_min_factor;	/* ... and its energy moved by this factor, up or down */
	int			shift_min_recent_days;	/* short history: days for a baseline of all days */
	int			shift_persist_days; /* an ended episode this long is a fault */
	const MeFleetDay *fleet;	/* ascending by day; NULL = no fleet context */
	size_t		n_fleet;
	double		day_min_coverage;	/* share of a day's slots present */
	/* offline */
	int64_t		offline_gap_us; /* one gap this long is an episode */
	int64_t		offline_window_us;	/* sliding window for the fraction */
	double		offline_min_missing;	/* missing share of a window */
} MeFaultParams;

typedef struct MeFaultList
{
	MeFault    *items;			/* sorted by start_ts, then kind */
	size_t		n;
} MeFaultList;

/*
 * One local day of a series for level-shift detection: the sum of its
 * present kW readings and their count (the day's value is the mean kW x 24,
 * judged when it has day_min_coverage of its slots).  Kept per meter by
 * the batch detection so that weeks of history are not read again.
 */
typedef struct MeDay
{
	int64_t		day;			/* local day number (days since 2000-01-01) */
	int64_t		start_ts;		/* UTC start of the local day */
	int64_t		end_ts;			/* UTC start of the next local day */
	double		kw_sum;			/* sum of the present kW readings */
	int64_t		n;				/* present readings in the day */
} MeDay;

extern void series_fault_params_default(MeFaultParams *p);
extern double series_shift_rel_change(double factor);
extern int	series_detect_faults(const MeSeries *in, int64_t from_ts, int64_t to_ts,
								 const MeFaultParams *p, MeFaultList *out);
extern void series_fault_list_free(MeFaultList *l);
extern int	series_days(const MeSeries *in, int64_t from_ts, int64_t to_ts,
						const MeFaultParams *p, MeDay **days, size_t *n_days);
extern int	series_level_shift_days(const MeDay *days, size_t n_days, int64_t from_ts,
									int64_t to_ts, const MeFaultParams *p,
									MeFaultList *out);
extern void series_days_free(MeDay *days);

extern const char *series_fault_kind_name(MeFaultKind k);
extern int	series_fault_cmp(const void *a, const void *b);

#endif							/* ME_SERIES_H */
