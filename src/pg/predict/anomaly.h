/*
 * anomaly.h - declarations shared by the anomaly-score glue
 *
 * anomaly_array.c: the forest's arguments and one call to fit and score,
 * with the cores' status codes turned into errors; anomaly.c: the
 * per-meter-day features of the store and meter_etl.anomaly_scores().
 */
#ifndef ME_ANOMALY_H
#define ME_ANOMALY_H

#include "postgres.h"

#include "fmgr.h"

#include "core/predict/iforest.h"

/* Days with fewer readings than this share of their slots are not scored. */
#define ME_ANOMALY_MIN_COVERAGE 0.5

/* trees, sample_size and seed from arguments argno .. argno + 2 */
extern void me_anomaly_forest_args(FunctionCallInfo fcinfo, int argno, MeIForestParams *p);

/* Fit a forest on x[n][d] and score the same points into scores[n]. */
extern void me_anomaly_fit_score(const double *x, size_t n, size_t d,
								 const MeIForestParams *p, double *scores);

#endif							/* ME_ANOMALY_H */
