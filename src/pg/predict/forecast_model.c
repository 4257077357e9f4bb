/*
 * forecast_model.c - fitted parameters in meter_etl.forecast_model
 *
 * Fitting is the expensive step (a few hundred filter runs), forecasting
 * with known parameters one run: a series' parameters are stored with the
 * fit date and reused until they are older than
 * ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS, the interval changes or the
 * caller asks to refit.  Intervals are recomputed at every forecast from
 * the recent errors (cheap), so they follow the latest data.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "predict.h"

/* Key arguments $1..$3 of the model statements (meter_key, channel_id, group). */
static void
key_args(const FcKey *k, Datum *args, char *nulls)
{
	args[0] = Int32GetDatum(k->meter_key);
	args[1] = Int16GetDatum(k->channel_id);
	args[2] = k->group ? CStringGetTextDatum(k->group) : (Datum) 0;
	nulls[0] = nulls[1] = k->group ? 'n' : ' ';
	nulls[2] = k->group ? ' ' : 'n';
}

#define KEY_WHERE \
	" meter_key IS NOT DISTINCT FROM $1 AND channel_id IS NOT DISTINCT FROM $2" \
	" AND group_name IS NOT DISTINCT FROM $3 AND method = $4"

/*
 * The stored model of k if it is fresh, of the grid's interval, and with
 * the weekly season exactly when the grid's history allows one (a fit on a
 * week of history is not reused for two months of it).
 */
static int64
model_load(const FcKey *k, MeFcMethod method, const FcGrid *g, MeFcModel *m)
{
	Oid			types[7] = {INT4OID, INT2OID, TEXTOID, TEXTOID, INT4OID, INT4OID, BOOLOID};
	Datum		args[7];
	char		nulls[8] = "       ";
	int64		id = 0;

	key_args(k, args, nulls);
	args[3] = CStringGetTextDatum(me_fc_method_name(method));
	args[4] = Int32GetDatum((int32) (g->step / USECS_PER_SEC));
	args[5] = Int32GetDatum(ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS);
	args[6] = BoolGetDatum(g->n >= 14 * (size_t) g->m1);
	if (SPI_execute_with_args("SELECT model_id, weekly, alpha, delta, omega, phi, sigma, n"
							  " FROM meter_etl.forecast_model WHERE" KEY_WHERE
							  " AND interval_s = $5 AND fitted_at > now() - make_interval(days => $6)"
							  " AND weekly = $7",
							  7, types, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.forecast_model");
	if (SPI_processed > 0)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		memset(m, 0, sizeof(*m));
		m->method = method;
		id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		m->weekly = DatumGetBool(SPI_getbinval(t, d, 2, &isnull));
		m->alpha = DatumGetFloat8(SPI_getbinval(t, d, 3, &isnull));
		m->delta = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
		m->omega = DatumGetFloat8(SPI_getbinval(t, d, 5, &isnull));
		m->phi = DatumGetFloat8(SPI_getbinval(t, d, 6, &isnull));
		m->sigma = DatumGetFloat8(SPI_getbinval(t, d, 7, &isnull));
		m->n = (size_t) DatumGetInt32(SPI_getbinval(t, d, 8, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return id;
}

/*
 * Store m (fitted on the grid's history) as k's model, replacing the one
 * stored: one upsert, so that two sessions fitting the same series at once
 * do not collide; a new fit gets a new model_id.  Returns it.
 */
static int64
model_store(const FcKey *k, const FcGrid *g, const MeFcModel *m)
{
	Oid			types[15] = {INT4OID, INT2OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, FLOAT8OID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[15];
	char		nulls[16] = "               ";
	bool		isnull;
	int64		id;
	char	   *sql;

	key_args(k, args, nulls);
	args[3] = CStringGetTextDatum(me_fc_method_name(m->method));
	args[4] = Int32GetDatum((int32) (g->step / USECS_PER_SEC));
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
	sql = psprintf("INSERT INTO meter_etl.forecast_model AS f (meter_key, channel_id, group_name,"
				   " method, interval_s, weekly, alpha, delta, omega, phi, sigma, n,"
				   " history_from, history_to, evals)"
				   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
				   " ON CONFLICT %s DO UPDATE SET model_id = DEFAULT,"
				   " interval_s = excluded.interval_s, weekly = excluded.weekly, alpha = excluded.alpha,"
				   " delta = excluded.delta, omega = excluded.omega, phi = excluded.phi,"
				   " sigma = excluded.sigma, n = excluded.n, history_from = excluded.history_from,"
				   " history_to = excluded.history_to, evals = excluded.evals, fitted_at = now()"
				   " RETURNING model_id",
				   k->group ? "(group_name, method) WHERE group_name IS NOT NULL" :
				   "(meter_key, channel_id, method) WHERE group_name IS NULL");
	if (SPI_execute_with_args(sql, 15, types, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not store a model in meter_etl.forecast_model");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return id;
}

/*
 * The model of series k: the stored one when fresh (and not refit), else
 * fitted on the grid's history and stored.  Returns its model_id.
 */
int64
fc_model_get(const FcKey *k, MeFcMethod method, const FcGrid *g, bool refit, MeFcModel *m)
{
	int64		id = refit ? 0 : model_load(k, method, g, m);
	MeFcSeries	s;

	if (id != 0)
		return id;
	fc_series(g, &s);
	fc_error(me_fc_fit(&s, method, m));
	return model_store(k, g, m);
}
