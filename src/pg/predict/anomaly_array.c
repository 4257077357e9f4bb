/*
 * anomaly_array.c - meter_etl.isolation_forest_array(): a forest on any matrix
 *
 * The analyst's variant, like the detection *_array functions: a 2-D
 * double precision array, one row per point, is fitted and scored in one
 * call; the scores come back in row order.  The forest's arguments and
 * the fit-and-score call are shared with anomaly_scores() (anomaly.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "anomaly.h"

PG_FUNCTION_INFO_V1(meter_etl_isolation_forest_array);

/* Points scored between two interrupt checks. */
#define SCORE_CHUNK 4096

/* An integer argument in [1, hi], named in the error. */
static int
positive_int_arg(FunctionCallInfo fcinfo, int argno, const char *name, int hi)
{
	int32		v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	v = PG_GETARG_INT32(argno);
	if (v < 1 || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d", name, hi)));
	return v;
}

void
me_anomaly_forest_args(FunctionCallInfo fcinfo, int argno, MeIForestParams *p)
{
	p->n_trees = positive_int_arg(fcinfo, argno, "trees", ME_IFOREST_MAX_TREES);
	p->sample_size = positive_int_arg(fcinfo, argno + 1, "sample_size",
									  ME_IFOREST_MAX_SAMPLE_SIZE);
	if (PG_ARGISNULL(argno + 2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seed must not be null")));
	/* the bits of the bigint: negative seeds are seeds too */
	p->seed = (uint64_t) PG_GETARG_INT64(argno + 2);
}

/* A core status as an error (only what the glue's own checks cannot rule out). */
static void
forest_error(int status, size_t bad, size_t d)
{
	if (status == ME_IFOREST_NONFINITE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features[%zu][%zu] is not a finite number", bad / d + 1, bad % d + 1)));
	if (status == ME_IFOREST_BAD_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("features must not have more than %d columns", ME_IFOREST_MAX_FEATURES)));
	elog(ERROR, "isolation forest: %s", me_iforest_strerror(status));
}

void
me_anomaly_fit_score(const double *x, size_t n, size_t d, const MeIForestParams *p,
					 double *scores)
{
	MeIForest  *f;
	size_t		bad = 0;
	int			st = me_iforest_fit(x, n, d, p, &f, &bad);

	if (st != ME_IFOREST_OK)
		forest_error(st, bad, d);
	/* scoring is the long part for a big fleet: in chunks, interruptible */
	for (size_t i = 0; i < n; i += SCORE_CHUNK)
	{
		size_t		m = Min(SCORE_CHUNK, n - i);

		CHECK_FOR_INTERRUPTS();
		st = me_iforest_score(f, x + i * d, m, d, scores + i, &bad);
		if (st != ME_IFOREST_OK)
			forest_error(st, bad + i * d, d);
	}
	me_iforest_free(f);
}

/* The rows of a 2-D float8 array as a row-major matrix; refuses nulls and other shapes. */
static double *
features_matrix(ArrayType *a, size_t *n, size_t *d)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	double	   *x;

	if (ARR_NDIM(a) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must not be empty")));
	if (ARR_NDIM(a) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must be a two-dimensional array"),
				 errhint("One row per point, e.g. ARRAY[[1.0, 2.0], [1.5, 2.5]].")));
	*n = (size_t) ARR_DIMS(a)[0];
	*d = (size_t) ARR_DIMS(a)[1];
	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	x = palloc_extended(sizeof(double) * ((size_t) nelems + 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("features[%zu][%zu] is null", (size_t) i / *d + 1, (size_t) i % *d + 1)));
		x[i] = DatumGetFloat8(elems[i]);
	}
	return x;
}

/*
 * isolation_forest_array(features float8[][], trees, sample_size, seed)
 * -> float8[]: the score of each row, fitted on all rows.
 */
Datum
meter_etl_isolation_forest_array(PG_FUNCTION_ARGS)
{
	MeIForestParams p;
	size_t		n,
				d;
	double	   *x,
			   *scores;
	Datum	   *out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be null")));
	me_anomaly_forest_args(fcinfo, 1, &p);
	x = features_matrix(PG_GETARG_ARRAYTYPE_P(0), &n, &d);
	scores = palloc_extended(sizeof(double) * (n + 1), MCXT_ALLOC_HUGE);
	me_anomaly_fit_score(x, n, d, &p, scores);
	out = palloc_extended(sizeof(Datum) * (n + 1), MCXT_ALLOC_HUGE);
	for (size_t i = 0; i < n; i++)
		out[i] = Float8GetDatum(scores[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, (int) n, FLOAT8OID, 8, FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}
