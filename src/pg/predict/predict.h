/*
 * predict.h - declarations shared by the forecasting glue (src/pg/predict)
 *
 * The model is pure C (core/predict/forecast.h).  These files read a
 * meter's series with the detection reader (readings plus estimates), put
 * it on its interval grid, fill what is still missing, store and reuse the
 * fitted parameters in meter_etl.forecast_model, and return rows.
 */
#ifndef ME_PREDICT_H
#define ME_PREDICT_H

#include "postgres.h"

#include "fmgr.h"

#include "core/predict/forecast.h"
#include "pg/detect/detect.h"

/* A series on its grid: n history slots from `from`, then h future slots. */
typedef struct FcGrid
{
	int64		from;
	int64		step;
	size_t		n;
	size_t		h;
	double	   *y;				/* n */
	bool	   *present;		/* n */
	int32	   *ds;				/* n + h */
	int32	   *ws;				/* n + h */
	size_t		npresent;
	int			m1;
} FcGrid;

/* Which series a stored model belongs to: a meter channel or a group. */
typedef struct FcKey
{
	int32		meter_key;
	int16		channel_id;
	const char *group;			/* NULL for a meter channel */
} FcKey;

/* forecast_grid.c */
extern void fc_grid_init(FcGrid *g, int64 from, int64 to, int64 step, int64 horizon_us);
extern bool fc_grid_put(FcGrid *g, int64 ts, double kw);
extern void fc_grid_finish(FcGrid *g, MeZone *zone);
extern void fc_series(const FcGrid *g, MeFcSeries *s);
extern int64 fc_grid_ts(const FcGrid *g, size_t i);
extern void fc_error(MeFcStatus st);
extern MeFcMethod fc_method_arg(FunctionCallInfo fcinfo, int argno);
extern bool fc_bool_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int64 fc_horizon_arg(FunctionCallInfo fcinfo, int argno);
extern void fc_check_history(int64 from, int64 to, int days_before, const char *from_name,
							 const char *to_name);

/* forecast_model.c: the model statements, prepared on first use in a call */
typedef struct FcModels
{
	SPIPlanPtr	load_meter;
	SPIPlanPtr	load_group;
	SPIPlanPtr	store_meter;
	SPIPlanPtr	store_group;
} FcModels;

extern int64 fc_model_get(FcModels *ms, const FcKey *k, MeFcMethod method, const FcGrid *g,
						  bool refit, MeFcModel *m);

#endif							/* ME_PREDICT_H */
