/*
 * forecast_grid.c - a series on its interval grid, and the argument checks
 * of the forecasting functions
 *
 * The core wants one value per slot.  Readings (and estimates) go into the
 * slots of [from, to) at the series' interval; slots still empty are
 * filled by me_fc_fill() (last week's value at that slot, else yesterday's,
 * else the previous one), and every slot, the future ones included, gets
 * its local season indices from the series' time zone.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "predict.h"

/* The grid of [from, to) (from rounded up, to down, to the step) plus a horizon. */
void
fc_grid_init(FcGrid *g, int64 from, int64 to, int64 step, int64 horizon_us)
{
	int64		first = me_floor_to(from, step);
	int64		end = me_floor_to(to, step);

	if (first < from)
		first += step;
	memset(g, 0, sizeof(*g));
	g->from = first;
	g->step = step;
	g->m1 = (int) (USECS_PER_DAY / step);
	g->n = end > first ? (size_t) ((end - first) / step) : 0;
	g->h = (size_t) ((horizon_us + step - 1) / step);
	g->y = palloc0_array(double, g->n + 1);
	g->present = palloc0_array(bool, g->n + 1);
	g->ds = palloc0_array(int32, g->n + g->h + 1);
	g->ws = palloc0_array(int32, g->n + g->h + 1);
}

/* Put a value in its slot; false when the slot already holds one. */
bool
fc_grid_put(FcGrid *g, int64 ts, double kw)
{
	int64		k = me_floor_div(ts - g->from, g->step);

	if (k < 0 || k >= (int64) g->n)
		return true;
	if (g->present[k])
		return false;
	g->present[k] = true;
	g->y[k] = kw;
	g->npresent++;
	return true;
}

/* UTC start of slot i (history or future). */
int64
fc_grid_ts(const FcGrid *g, size_t i)
{
	return g->from + (int64) i * g->step;
}

/* Season indices of every slot in the zone, then the holes filled. */
void
fc_grid_finish(FcGrid *g, MeZone *zone)
{
	size_t		total = g->n + g->h;
	int64	   *ts = palloc_array(int64, total + 1);
	MeFcSeries	s;

	for (size_t i = 0; i < total; i++)
		ts[i] = fc_grid_ts(g, i);
	fc_error(me_fc_slots((const int64_t *) ts, total, g->step, zone, g->ds, g->ws));
	pfree(ts);
	fc_series(g, &s);
	fc_error(me_fc_fill(g->y, g->present, &s));
}

/* The core's view of the grid's history. */
void
fc_series(const FcGrid *g, MeFcSeries *s)
{
	s->y = g->y;
	s->ds = g->ds;
	s->ws = g->ws;
	s->n = g->n;
	s->m1 = g->m1;
}

/* The core's status as an error (the error context names the series). */
void
fc_error(MeFcStatus st)
{
	switch (st)
	{
		case ME_FC_OK:
			return;
		case ME_FC_TOO_SHORT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("history must span at least 2 days"),
					 errhint("Forecasting needs two days of history; two weeks for the weekly season.")));
			break;
		case ME_FC_NOT_FINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("a value is not a finite number")));
			break;
		case ME_FC_NO_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
			break;
		case ME_FC_BAD_INDEX:
		case ME_FC_BAD_ARG:
			elog(ERROR, "forecast core: %s", me_fc_status_text(st));
	}
}

/* The method argument: hw2 or snaive. */
MeFcMethod
fc_method_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	MeFcMethod	m;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (!me_fc_method_parse(name, &m))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized forecast method \"%s\"", name),
				 errhint("Use hw2 (double-seasonal Holt-Winters) or snaive (seasonal naive).")));
	return m;
}

/* A boolean argument that must be given. */
bool
fc_bool_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return PG_GETARG_BOOL(argno);
}

/* The horizon: positive, at most 28 days (four weekly seasons ahead is nonsense). */
int64
fc_horizon_arg(FunctionCallInfo fcinfo, int argno)
{
	int64		us = me_det_interval_arg(fcinfo, argno, "horizon", false);

	if (us > 28 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must not exceed 28 days")));
	return us;
}

/* from < to (named as the caller's arguments), at least 2 days (+ days_before) apart. */
void
fc_check_history(int64 from, int64 to, int days_before, const char *from_name,
				 const char *to_name)
{
	if (from >= to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be earlier than %s", from_name, to_name)));
	me_det_check_range(from, to);
	if (to - from < (int64) (2 + days_before) * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must span at least %d days", 2 + days_before),
				 days_before > 0 ?
				 errdetail("The backtest's %d days need 2 days of history before them.", days_before) : 0,
				 errhint("Forecasting needs two days of history; two weeks for the weekly season.")));
}
