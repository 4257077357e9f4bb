/*
 * forecast.h - load forecasting: double-seasonal Holt-Winters and the
 * seasonal-naive baseline (pure C, no PostgreSQL header)
 *
 * Model (Taylor 2003, without trend, as in Taylor 2010): level l, a daily
 * season d (one value per local slot of the day, m1 = slots per day) and a
 * weekly season w (one per local slot of the week, m2 = 7 m1), additive, so
 * households that read zero are fine, and an AR(1) term on the Holt-Winters
 * error e:
 *
 *   e_t    = y_t - (l + d[ds_t] + w[ws_t])
 *   yhat_t = l + d[ds_t] + w[ws_t] + phi e_{t-1}          (one step)
 *   l     += alpha e_t;  d[ds_t] += delta (1 - alpha) e_t;
 *   w[ws_t] += omega (1 - alpha) e_t                     (component form)
 *   k steps ahead: l + d[ds] + w[ws] + phi^k e_T
 *
 * Time zones stay outside: each observation (and each future step) comes
 * with its daily index ds (local slot of the day, 0..m1-1) and weekly index
 * ws (local day of week * m1 + ds).  A 25-hour local day repeats the
 * indices of the repeated hour, a 23-hour day skips one, so the seasons
 * follow the local clock.  me_fc_slots() computes them from UTC times and a
 * MeZone for callers that have one.
 *
 * Fitting: alpha, delta, omega in [0.0009, 0.9991] (logistic transform of
 * a clamped u) and phi in (-1, 1) (tanh) minimise the sum of squared
 * one-step errors over the history (its last ME_FC_FIT_MAX_DAYS days at
 * most: a bounded cost per series), by Nelder-Mead from three fixed starts
 * (deterministic, no random numbers).  Initial states from the first two weeks (daily-only:
 * first week): l = their mean, d[j] = mean of y - l over slot j, w[k] = mean
 * of y - l - d over weekly slot k (0 for a slot never seen).
 *
 * History: fewer than 2 days of observations is ME_FC_TOO_SHORT; fewer than
 * 2 weeks fits daily-only (omega = 0, no weekly season).  A constant series
 * (all zero included) forecasts the constant with zero-width intervals.
 *
 * Prediction intervals: empirical quantiles of multi-step errors made out
 * of sample (the states know only the past; the parameters are the fit's).
 * The filter runs over the history with the fitted parameters; from each of
 * the last ME_FC_INTERVAL_ORIGINS local day starts that has h observations
 * after it, the h-step forecast is compared with what came.  The errors of
 * horizon step k, pooled with steps k-w..k+w (w = h / 48 within [1, 8]),
 * give the 2.5, 10, 90 and 97.5 % quantiles added to the point forecast.
 * With fewer than ME_FC_MIN_POOLED errors the bounds are Gaussian with
 * sigma_k = sigma_1 sqrt(1 + (k - 1) alpha^2).  Bounds are widened to hold
 * the point forecast; a series that never reads below zero gets no
 * negative forecast or bound.  On noisy synthetic data the 80 % interval
 * holds 80-82 % of what comes (test_forecast.c).
 *
 * Seasonal naive: the last value seen at the same weekly index (last
 * week), else at the same daily index (yesterday), else the last value.
 *
 * Memory through me_alloc only; no global state; reentrant.
 */
#ifndef ME_FORECAST_H
#define ME_FORECAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/read/tzconv.h"

/* Defaults stated once (src/sql/build.sh fills them into the SQL). */
#define ME_DEFAULT_FORECAST_METHOD "hw2"
#define ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS 7	/* a stored fit is reused this long */
#define ME_DEFAULT_FORECAST_BACKTEST_DAYS 28	/* rolling origins of a backtest */
#define ME_DEFAULT_FORECAST_HISTORY_DAYS 56 /* history forecast() reads by default */

#define ME_FC_INTERVAL_ORIGINS 28	/* day starts whose errors make intervals */
#define ME_FC_MIN_POOLED 20			/* fewer pooled errors: Gaussian bounds */
#define ME_FC_MAPE_MIN_SHARE 0.1	/* MAPE skips |actual| < 10 % of mean |y| */
#define ME_FC_MAX_EVALS 300			/* Nelder-Mead evaluations per start */
#define ME_FC_FIT_MAX_DAYS 91		/* a fit uses the last 13 weeks at most */

typedef enum MeFcStatus
{
	ME_FC_OK = 0,
	ME_FC_TOO_SHORT,			/* fewer than 2 days of observations */
	ME_FC_NOT_FINITE,			/* NaN or infinity in y */
	ME_FC_BAD_INDEX,			/* a season index out of range */
	ME_FC_BAD_ARG,				/* m1 < 1, NULL arrays, zero horizon */
	ME_FC_NO_MEMORY
} MeFcStatus;

typedef enum MeFcMethod
{
	ME_FC_HW2 = 0,				/* double-seasonal Holt-Winters + AR(1) */
	ME_FC_SNAIVE				/* seasonal naive (same slot last week) */
} MeFcMethod;

/* A series with its season indices (see above); y may be NULL for a future. */
typedef struct MeFcSeries
{
	const double *y;
	const int32_t *ds;			/* local slot of the day, 0..m1-1 */
	const int32_t *ws;			/* local slot of the week, 0..7*m1-1 */
	size_t		n;
	int			m1;				/* slots per day */
} MeFcSeries;

/* A fitted model: what meter_etl.forecast_model stores. */
typedef struct MeFcModel
{
	MeFcMethod	method;
	bool		weekly;			/* weekly season in use (>= 2 weeks) */
	double		alpha;
	double		delta;
	double		omega;
	double		phi;
	double		sigma;			/* RMS of the one-step errors */
	size_t		n;				/* observations fitted (the window's) */
	int			evals;			/* objective evaluations spent */
} MeFcModel;

/* One forecast step with its 80 % and 95 % prediction intervals. */
typedef struct MeFcPoint
{
	double		f;
	double		lo80;
	double		hi80;
	double		lo95;
	double		hi95;
} MeFcPoint;

/* Sums of a backtest; me_fc_accuracy_finish() turns them into metrics. */
typedef struct MeFcAccuracy
{
	size_t		n;
	double		sum_abs;
	double		sum_sq;
	double		sum_scaled;		/* sum of |e| / scale */
	double		scale;			/* in-sample seasonal-naive MAE (0: undefined) */
	size_t		n_scaled;		/* errors counted in sum_scaled */
	size_t		n_ape;
	double		sum_ape;		/* sum of |e| / |y| where |y| is not near zero */
} MeFcAccuracy;

extern const char *me_fc_method_name(MeFcMethod m);
extern bool me_fc_method_parse(const char *name, MeFcMethod *m);
extern const char *me_fc_status_text(MeFcStatus st);

extern MeFcStatus me_fc_check(const MeFcSeries *s);
extern MeFcStatus me_fc_slots(const int64_t *ts, size_t n, int64_t interval_us, MeZone *zone,
							  int32_t *ds, int32_t *ws);
extern MeFcStatus me_fc_fill(double *y, const bool *present, const MeFcSeries *s);
extern MeFcStatus me_fc_fit(const MeFcSeries *s, MeFcMethod method, MeFcModel *m);
extern MeFcStatus me_fc_forecast(const MeFcSeries *s, const MeFcModel *m,
								 const int32_t *fds, const int32_t *fws, size_t h,
								 MeFcPoint *out);
extern MeFcStatus me_fc_backtest(const MeFcSeries *s, MeFcMethod method, int days,
								 MeFcModel *m, MeFcAccuracy *acc);
extern void me_fc_accuracy_add(MeFcAccuracy *pool, const MeFcAccuracy *a);
extern void me_fc_accuracy_finish(const MeFcAccuracy *a, double *mae, double *rmse,
								  double *mase, double *mape);

/* Bench entry: a regular grid starting at local slot 0 of weekday dow0. */
extern MeFcStatus me_fc_fit_forecast_grid(const double *y, size_t n, int m1, int dow0,
										  MeFcMethod method, size_t h, MeFcPoint *out);

#endif							/* ME_FORECAST_H */
