/*
 * detect_args.c - argument checks of the detection functions
 *
 * Intervals, timestamps, bounded floats, ranges (from <= to), and the
 * ts / kw arrays of the *_array variants: each refused with an error that
 * names the argument, never turned into an empty result.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "detect.h"
#include "pg/meter_etl.h"

/* A non-negative interval argument in microseconds (days count 24 h). */
int64
me_det_interval_arg(FunctionCallInfo fcinfo, int argno, const char *name, bool allow_zero)
{
	Interval   *iv;
	int64		us;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	iv = PG_GETARG_INTERVAL_P(argno);
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain months or years", name),
				 errhint("Use days, e.g. '28 days'.")));
	if (pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &us) ||
		pg_add_s64_overflow(us, iv->time, &us) || us > (int64) 3660 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", name)));
	if (us < 0 && allow_zero)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name)));
	if (us <= 0 && !allow_zero)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", name)));
	return us;
}

/* A finite timestamp argument. */
TimestampTz
me_det_ts_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	TimestampTz t;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	t = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", name)));
	return t;
}

/* A float argument within [lo, hi]. */
double
me_det_float_arg(FunctionCallInfo fcinfo, int argno, const char *name, double lo, double hi)
{
	double		v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	v = PG_GETARG_FLOAT8(argno);
	if (isnan(v) || v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g", name, lo, hi)));
	return v;
}

/* from_ts < to_ts, and not absurdly long. */
void
me_det_check_range(TimestampTz from, TimestampTz to)
{
	if (from >= to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_ts must be earlier than to_ts")));
	if (to - from > (int64) 3660 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("time range must not exceed 3660 days"),
				 errhint("Process long histories in pieces, e.g. a year at a time.")));
}

/* t + us, saturating instead of overflowing. */
TimestampTz
me_det_add(TimestampTz t, int64 us)
{
	TimestampTz r;

	if (pg_add_s64_overflow(t, us, &r))
		return us > 0 ? DT_NOEND : DT_NOBEGIN;
	return r;
}

/*
 * Where the due slots of a stored series end: at to, or at the start of the
 * current slot if that is earlier.  Readings for later slots cannot have
 * arrived, so those slots are neither missing (gaps, offline) nor holes.
 * Only for the store: analysts' arrays may hold any times.
 */
int64
me_det_due_to(int64 to, int64 interval_us)
{
	return Min(to, me_floor_to(GetCurrentTransactionStartTimestamp(), interval_us));
}

/*
 * The ts and kw arrays of the "any series" variants (ts_arg < 0: values
 * only).  ts must be strictly ascending without nulls; a null kw is a
 * missing reading; NaN and infinity are refused.
 */
void
me_det_arrays(FunctionCallInfo fcinfo, int ts_arg, int kw_arg, MeDetArrays *a)
{
	ArrayType  *kwa;
	Datum	   *d;
	bool	   *nulls;
	int			n;
	size_t		bad;

	memset(a, 0, sizeof(*a));
	if (PG_ARGISNULL(kw_arg) || (ts_arg >= 0 && PG_ARGISNULL(ts_arg)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", ts_arg >= 0 && PG_ARGISNULL(ts_arg) ? "ts" : "kw")));
	kwa = PG_GETARG_ARRAYTYPE_P(kw_arg);
	if (ARR_NDIM(kwa) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("kw must be a one-dimensional array")));
	deconstruct_array(kwa, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &nulls, &n);
	a->n = n;
	a->kw = palloc(sizeof(double) * (n + 1));
	a->present = palloc(sizeof(bool) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		a->present[i] = !nulls[i];
		a->kw[i] = nulls[i] ? 0.0 : DatumGetFloat8(d[i]);
	}
	if (series_check_finite(a->kw, a->present, n, &bad) != ME_SERIES_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kw[%d] is not a finite number: %g", (int) bad + 1, a->kw[bad]),
				 errhint("Pass NULL for a missing reading.")));
	if (ts_arg >= 0)
	{
		ArrayType  *tsa = PG_GETARG_ARRAYTYPE_P(ts_arg);
		Datum	   *t;
		bool	   *tnulls;
		int			nt;

		if (ARR_NDIM(tsa) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("ts must be a one-dimensional array")));
		deconstruct_array(tsa, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &t, &tnulls, &nt);
		if (nt != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("ts and kw must have the same number of elements"),
					 errdetail("ts has %d elements, kw has %d.", nt, n)));
		a->ts = palloc(sizeof(int64) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			if (tnulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("ts[%d] is null", i + 1),
						 errhint("Every element needs a timestamp; use a NULL kw for a missing reading.")));
			a->ts[i] = DatumGetTimestampTz(t[i]);
			if (TIMESTAMP_NOT_FINITE(a->ts[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("ts[%d] is not finite", i + 1)));
		}
		if (series_check_order(a->ts, n, &bad) != ME_SERIES_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ts must be strictly ascending"),
					 errdetail("ts[%d] (%s) is not later than ts[%d].", (int) bad + 1,
							   me_det_ts_text(a->ts[bad]), (int) bad),
					 errhint("Aggregate with ORDER BY ts, e.g. array_agg(ts ORDER BY ts).")));
	}
}
