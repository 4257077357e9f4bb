/*
 * forecast_model.c - fitted parameters in meter_etl.forecast_model
 *
 * Fitting is the expensive step (a few hundred filter runs), forecasting
 * with known parameters one run: a series' parameters are stored with the
 * fit date and reused until they are older than
 * ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS, the interval or the weekly season
 * changes, or the caller asks to refit.  Intervals are recomputed at every
 * forecast from the recent errors (cheap), so they follow the latest data.
 *
 * The statements are prepared once per call (FcModels) and find a row by
 * one of the table's two partial unique indexes, so a call over many
 * series costs one index probe (and one upsert when fitting) per series.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "predict.h"

/* Parameters of both statements: the key, method, interval, then the rest. */
#define NARGS 15
static const Oid arg_types[NARGS] = {
	INT4OID, INT2OID, TEXTOID, TEXTOID, INT4OID,	/* $1..$5: key, method, interval_s */
	BOOLOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,	/* weekly, alpha .. phi */
	FLOAT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID	/* sigma, n, range, evals */
};

/* The row of a meter channel ($1, $2) or of a group ($3). */
#define WHERE_METER " meter_key = $1 AND channel_id = $2 AND group_name IS NULL"
#define WHERE_GROUP " group_name = $3 AND meter_key IS NULL"
#define CONFLICT_METER "(meter_key, channel_id, method) WHERE group_name IS NULL"
#define CONFLICT_GROUP "(group_name, method) WHERE group_name IS NOT NULL"

/* A fresh model of the same interval and weekly season ($6), at most so old ($12 days). */
#define LOAD_SQL(where) \
	"SELECT model_id, weekly, alpha, delta, omega, phi, sigma, n FROM meter_etl.forecast_model" \
	" WHERE" where " AND method = $4 AND interval_s = $5 AND weekly = $6" \
	" AND fitted_at > now() - make_interval(days => $12)"

/* Insert, or replace the stored fit (a new model_id for a new fit). */
#define STORE_SQL(conflict) \
	"INSERT INTO meter_etl.forecast_model (meter_key, channel_id, group_name, method, interval_s," \
	" weekly, alpha, delta, omega, phi, sigma, n, history_from, history_to, evals)" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)" \
	" ON CONFLICT " conflict " DO UPDATE SET model_id = DEFAULT," \
	" interval_s = excluded.interval_s, weekly = excluded.weekly, alpha = excluded.alpha," \
	" delta = excluded.delta, omega = excluded.omega, phi = excluded.phi, sigma = excluded.sigma," \
	" n = excluded.n, history_from = excluded.history_from, history_to = excluded.history_to," \
	" evals = excluded.evals, fitted_at = now() RETURNING model_id"

/* A statement prepared on first use (freed with the call's SPI connection). */
static SPIPlanPtr
plan(SPIPlanPtr *slot, const char *sql)
{
	if (*slot == NULL)
	{
		*slot = SPI_prepare(sql, NARGS, (Oid *) arg_types);
		if (*slot == NULL)
			elog(ERROR, "could not prepare a statement on meter_etl.forecast_model: %s",
				 SPI_result_code_string(SPI_result));
	}
	return *slot;
}

/* $1..$5 and $6 (weekly) for series k, method and grid g. */
static void
key_args(const FcKey *k, MeFcMethod method, const FcGrid *g, Datum *args, char *nulls)
{
	memset(nulls, ' ', NARGS);
	memset(args, 0, sizeof(Datum) * NARGS);
	args[0] = Int32GetDatum(k->meter_key);
	args[1] = Int16GetDatum(k->channel_id);
	args[2] = k->group ? CStringGetTextDatum(k->group) : (Datum) 0;
	nulls[0] = nulls[1] = k->group ? 'n' : ' ';
	nulls[2] = k->group ? ' ' : 'n';
	args[3] = CStringGetTextDatum(me_fc_method_name(method));
	args[4] = Int32GetDatum((int32) (g->step / USECS_PER_SEC));
	/* the weekly season is in use exactly when the history holds 2 weeks */
	args[5] = BoolGetDatum(g->n >= 14 * (size_t) g->m1);
}

/* The model a row of LOAD_SQL holds. */
static void
model_from_row(HeapTuple t, TupleDesc d, MeFcMethod method, MeFcModel *m)
{
	bool		isnull;

	memset(m, 0, sizeof(*m));
	m->method = method;
	m->weekly = DatumGetBool(SPI_getbinval(t, d, 2, &isnull));
	m->alpha = DatumGetFloat8(SPI_getbinval(t, d, 3, &isnull));
	m->delta = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
	m->omega = DatumGetFloat8(SPI_getbinval(t, d, 5, &isnull));
	m->phi = DatumGetFloat8(SPI_getbinval(t, d, 6, &isnull));
	m->sigma = DatumGetFloat8(SPI_getbinval(t, d, 7, &isnull));
	m->n = (size_t) DatumGetInt32(SPI_getbinval(t, d, 8, &isnull));
}

/* The stored model of k if it may be reused (see above); its id, or 0. */
static int64
model_load(FcModels *ms, const FcKey *k, MeFcMethod method, const FcGrid *g, MeFcModel *m)
{
	Datum		args[NARGS];
	char		nulls[NARGS + 1];
	SPIPlanPtr	p = k->group ? plan(&ms->load_group, LOAD_SQL(WHERE_GROUP)) :
		plan(&ms->load_meter, LOAD_SQL(WHERE_METER));
	int64		id = 0;
	bool		isnull;

	key_args(k, method, g, args, nulls);
	args[11] = Int32GetDatum(ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS);
	if (SPI_execute_plan(p, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.forecast_model");
	if (SPI_processed > 0)
	{
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		model_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, method, m);
	}
	SPI_freetuptable(SPI_tuptable);
	return id;
}

/* Store m (fitted on the grid's history) as k's model; its new id. */
static int64
model_store(FcModels *ms, const FcKey *k, const FcGrid *g, const MeFcModel *m)
{
	Datum		args[NARGS];
	char		nulls[NARGS + 1];
	SPIPlanPtr	p = k->group ? plan(&ms->store_group, STORE_SQL(CONFLICT_GROUP)) :
		plan(&ms->store_meter, STORE_SQL(CONFLICT_METER));
	bool		isnull;
	int64		id;

	key_args(k, m->method, g, args, nulls);
	args[5] = BoolGetDatum(m->weekly);
	args[6] = Float8GetDatum(m->alpha);
	args[7] = Float8GetDatum(m->delta);
	args[8] = Float8GetDatum(m->omega);
	args[9] = Float8GetDatum(m->phi);
	args[10] = Float8GetDatum(m->sigma);
	args[11] = Int32GetDatum((int32) m->n);
	args[12] = TimestampTzGetDatum(g->from);
	args[13] = TimestampTzGetDatum(fc_grid_ts(g, g->n));
	args[14] = Int32GetDatum(m->evals);
	if (SPI_execute_plan(p, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not store a model in meter_etl.forecast_model");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return id;
}

/*
 * The model of series k: the stored one when it may be reused (and not
 * refit), else fitted on the grid's history and stored.  Its model_id.
 */
int64
fc_model_get(FcModels *ms, const FcKey *k, MeFcMethod method, const FcGrid *g, bool refit,
			 MeFcModel *m)
{
	int64		id = refit ? 0 : model_load(ms, k, method, g, m);
	MeFcSeries	s;

	if (id != 0)
		return id;
	fc_series(g, &s);
	fc_error(me_fc_fit(&s, method, m));
	return model_store(ms, k, g, m);
}
