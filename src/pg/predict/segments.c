/*
 * segments.c - the SQL glue of load-profile segmentation
 *
 *   kmeans_array(points, k, restarts, seed)   k-means on the caller's 2-D array
 *   load_profiles(from_ts, to_ts, k, meters, restarts, seed)
 *       every meter's mean normalised daily profile (loadprofile.c), k-means
 *       over them (kmeans.c), the segmentation stored in meter_segment and
 *       segment_profile (replacing the previous one), a summary per segment
 *   meter_profiles(from_ts, to_ts, meters)
 *       the profiles load_profiles clusters, one row per meter (to look at,
 *       or to cluster elsewhere: the bench gives them to scikit-learn)
 *
 * load_profiles streams the store through the detection reader
 * (detect_reader.c), one series at a time, and keeps only the profile
 * matrix: 2 * slots_per_day doubles per meter.  Meters of different
 * intervals are profiled at the coarsest interval in scope (a finer
 * meter's readings average into the coarser slot), so every profile has
 * the same length and all meters are clustered together.
 *
 * Segments are numbered 1 .. k by size, largest first, so that the same
 * data gives the same numbers whatever order the seeding found them in.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "core/predict/kmeans.h"
#include "core/predict/loadprofile.h"
#include "pg/detect/detect.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_kmeans_array);
PG_FUNCTION_INFO_V1(meter_etl_load_profiles);
PG_FUNCTION_INFO_V1(meter_etl_meter_profiles);

/* The profiles of the meters read so far (rows of the k-means input). */
typedef struct ProfileSet
{
	int			slots;			/* slots per day; a row has 2 * slots values */
	int			n;
	int			cap;
	double	   *x;				/* n * 2 * slots */
	int32	   *meter_key;
	unsigned   *flags;			/* ME_LP_* of each profile */
} ProfileSet;

/* CHECK_FOR_INTERRUPTS for the core; an ERROR longjmps out of it (palloc'd memory). */
static void
km_check_interrupts(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

static void
km_error(MeKmStatus st)
{
	ereport(ERROR,
			(errcode(st == ME_KM_NO_MEMORY ? ERRCODE_OUT_OF_MEMORY : ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", me_kmeans_status_text(st))));
}

/* An integer argument in [lo, hi], named in the error. */
static int
int_arg(FunctionCallInfo fcinfo, int argno, const char *name, int lo, int hi)
{
	int			v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	v = PG_GETARG_INT32(argno);
	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d", name, lo, hi)));
	return v;
}

/* k, restarts and seed (arguments k_arg, k_arg + 1, k_arg + 2) as core parameters. */
static void
km_params(FunctionCallInfo fcinfo, int k_arg, int restarts_arg, int seed_arg, MeKmParams *p)
{
	int			k = int_arg(fcinfo, k_arg, "k", 1, ME_KMEANS_MAX_K);

	me_kmeans_defaults(p, k);
	p->restarts = int_arg(fcinfo, restarts_arg, "restarts", 1, ME_KMEANS_MAX_RESTARTS);
	if (PG_ARGISNULL(seed_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seed must not be null")));
	p->seed = (uint64_t) PG_GETARG_INT64(seed_arg);
	p->check_interrupts = km_check_interrupts;
}

/* Run the core and number the segments by size; errors become ereport. */
static void
km_run(const double *x, size_t n, size_t d, const MeKmParams *p, MeKmResult *r)
{
	MeKmStatus	st = me_kmeans(x, n, d, p, r);

	if (st != ME_KM_OK)
		km_error(st);
	if (!me_kmeans_order_by_size(r, n, d, p->k))
		km_error(ME_KM_NO_MEMORY);
}

/* The rows of a 2-D float8 array, refused unless 2-D, without nulls, finite. */
static double *
points_arg(FunctionCallInfo fcinfo, int argno, int *n, int *d)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	double	   *x;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("points must not be null")));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("points must be a two-dimensional array"),
				 errhint("One row per point, e.g. ARRAY[[0, 1], [5, 6]].")));
	*n = ARR_DIMS(a)[0];
	*d = ARR_DIMS(a)[1];
	deconstruct_array(a, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &nelems);
	x = palloc(sizeof(double) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("points must not contain nulls")));
		x[i] = DatumGetFloat8(elems[i]);
		if (!isfinite(x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("points must not contain NaN or infinity")));
	}
	return x;
}

/* A k x d float8 array of the centroids. */
static Datum
centroid_array(const double *c, int k, int d)
{
	Datum	   *v = palloc(sizeof(Datum) * (size_t) k * d);
	int			dims[2] = {k, d};
	int			lbs[2] = {1, 1};

	for (int i = 0; i < k * d; i++)
		v[i] = Float8GetDatum(c[i]);
	return PointerGetDatum(construct_md_array(v, NULL, 2, dims, lbs, FLOAT8OID, sizeof(float8),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * kmeans_array(points float8[][], k, restarts, seed)
 * -> (labels int[] 1 .. k, inertia, centroids float8[][])
 */
Datum
meter_etl_kmeans_array(PG_FUNCTION_ARGS)
{
	MeKmParams	p;
	MeKmResult	r;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	Datum	   *labels;
	int			n,
				d;
	double	   *x = points_arg(fcinfo, 0, &n, &d);

	km_params(fcinfo, 1, 2, 3, &p);
	if (p.k > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (%d) must not exceed the number of points (%d)", p.k, n)));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kmeans_array must return a composite type");
	km_run(x, (size_t) n, (size_t) d, &p, &r);
	labels = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		labels[i] = Int32GetDatum(r.labels[i] + 1);
	values[0] = PointerGetDatum(construct_array(labels, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	values[1] = Float8GetDatum(r.inertia);
	values[2] = centroid_array(r.centroids, p.k, d);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* Room for one more profile row. */
static double *
profile_row(ProfileSet *ps)
{
	size_t		dims = 2 * (size_t) ps->slots;

	if (ps->n == ps->cap)
	{
		ps->cap = ps->cap ? ps->cap * 2 : 256;
		if (ps->x == NULL)
		{
			ps->x = MemoryContextAllocHuge(CurrentMemoryContext, ps->cap * dims * sizeof(double));
			ps->meter_key = palloc(ps->cap * sizeof(int32));
			ps->flags = palloc(ps->cap * sizeof(unsigned));
		}
		else
		{
			ps->x = repalloc_huge(ps->x, ps->cap * dims * sizeof(double));
			ps->meter_key = repalloc(ps->meter_key, ps->cap * sizeof(int32));
			ps->flags = repalloc(ps->flags, ps->cap * sizeof(unsigned));
		}
	}
	return ps->x + (size_t) ps->n * dims;
}

/*
 * The series a meter's profile is made of: its import channel, or its net
 * channel when it has no import (the reader yields channels in id order,
 * import before net).  Export and generation channels are not load.
 */
static bool
is_load_channel(const MeDetSeries *s, int32 last_meter)
{
	if (s->meter->meter_key == last_meter)
		return false;
	return strcmp(s->channel, "import") == 0 || strcmp(s->channel, "net") == 0;
}

/* One profile per meter with readings in [from, to), at slots per day. */
static void
profiles_read(MeDetCatalog *cat, TimestampTz from, TimestampTz to, ProfileSet *ps)
{
	MeLoadProfile lp;
	MeDetReader *rd;
	MeDetSeries s;
	MeDetErrCtx ectx;
	int32		last_meter = -1;

	if (me_lp_init(&lp, ps->slots) != ME_LP_OK)
		elog(ERROR, "could not set up load profiles of %d slots", ps->slots);
	me_det_errctx_push(&ectx, "load_profiles");
	rd = me_det_reader_open(cat, from, to);
	while (me_det_reader_next(rd, &s))
	{
		unsigned	flags;
		double	   *row;

		CHECK_FOR_INTERRUPTS();
		ectx.s = &s;
		if (!is_load_channel(&s, last_meter))
			continue;
		last_meter = s.meter->meter_key;
		me_det_check_finite(&s);
		me_lp_reset(&lp);
		if (me_lp_add_series(&lp, s.meter->zone, s.ts, s.kw, s.n) != ME_LP_OK)
			elog(ERROR, "could not profile the readings of meter \"%s\"", s.meter->meter_id);
		row = profile_row(ps);
		if (me_lp_finish(&lp, row, &flags) != ME_LP_OK)
			continue;			/* no reading: cannot happen for a series the reader yields */
		ps->meter_key[ps->n] = s.meter->meter_key;
		ps->flags[ps->n] = flags;
		ps->n++;
	}
	me_det_reader_close(rd);
	me_det_errctx_pop(&ectx);
	me_lp_free(&lp);
}

/* Run SQL with arguments, expecting the given SPI result. */
static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *args, int expect)
{
	if (SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0) != expect)
		elog(ERROR, "segmentation: could not run \"%s\"", sql);
}

/* Replace meter_segment with this run's segments; returns the run id. */
static int64
store_segments(const ProfileSet *ps, const MeKmResult *r, int k, TimestampTz from,
			   TimestampTz to)
{
	Datum	   *keys = palloc(sizeof(Datum) * ps->n);
	Datum	   *segs = palloc(sizeof(Datum) * ps->n);
	Datum	   *dist = palloc(sizeof(Datum) * ps->n);
	Datum	   *flags = palloc(sizeof(Datum) * ps->n);
	Oid			types[8] = {INT4ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID,
	INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[8];
	bool		isnull;
	int64		run_id;

	/* one run at a time: a second waits here, then replaces the first */
	spi_exec("LOCK TABLE meter_etl.meter_segment, meter_etl.segment_profile IN EXCLUSIVE MODE",
			 0, NULL, NULL, SPI_OK_UTILITY);
	spi_exec("SELECT nextval('meter_etl.segment_run_seq')", 0, NULL, NULL, SPI_OK_SELECT);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	for (int i = 0; i < ps->n; i++)
	{
		keys[i] = Int32GetDatum(ps->meter_key[i]);
		segs[i] = Int32GetDatum(r->labels[i] + 1);
		dist[i] = Float8GetDatum(r->distance[i]);
		flags[i] = Int32GetDatum((int32) ps->flags[i]);
	}
	args[0] = PointerGetDatum(construct_array(keys, ps->n, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(segs, ps->n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(dist, ps->n, FLOAT8OID, 8, FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(flags, ps->n, INT4OID, 4, true, TYPALIGN_INT));
	args[4] = Int64GetDatum(run_id);
	args[5] = TimestampTzGetDatum(from);
	args[6] = TimestampTzGetDatum(to);
	args[7] = Int32GetDatum(k);
	spi_exec("DELETE FROM meter_etl.meter_segment", 0, NULL, NULL, SPI_OK_DELETE);
	/* the ME_LP_* bits 1, 2, 4, 8 in the order of the names */
	StaticAssertStmt(ME_LP_ZERO == 1 && ME_LP_GAPS == 2 && ME_LP_NO_WEEKDAY == 4 &&
					 ME_LP_NO_WEEKEND == 8, "notes follow the ME_LP_* bits");
	spi_exec("INSERT INTO meter_etl.meter_segment"
			 " (meter_key, segment, distance, notes, run_id, from_ts, to_ts, k)"
			 " SELECT u.key, u.seg, u.dist, ARRAY(SELECT t.note FROM unnest(ARRAY['zero_load',"
			 " 'slots_interpolated', 'no_weekday', 'no_weekend']) WITH ORDINALITY AS t(note, b)"
			 " WHERE u.flags & (1 << (t.b::integer - 1)) <> 0 ORDER BY t.b), $5, $6, $7, $8"
			 " FROM unnest($1, $2, $3, $4) AS u(key, seg, dist, flags)",
			 8, types, args, SPI_OK_INSERT);
	return run_id;
}

/* Replace segment_profile with the centroids as profiles. */
static void
store_profiles(const MeKmResult *r, int k, int slots, int64 run_id)
{
	size_t		m = (size_t) k * 2 * slots;
	Datum	   *seg = palloc(sizeof(Datum) * m);
	Datum	   *weekend = palloc(sizeof(Datum) * m);
	Datum	   *slot = palloc(sizeof(Datum) * m);
	Datum	   *val = palloc(sizeof(Datum) * m);
	Oid			types[6] = {INT4ARRAYOID, BOOLARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, INT8OID, INT4OID};
	Datum		args[6];

	for (size_t i = 0; i < m; i++)
	{
		seg[i] = Int32GetDatum((int) (i / (2 * slots)) + 1);
		weekend[i] = BoolGetDatum((i % (2 * slots)) >= (size_t) slots);
		slot[i] = Int32GetDatum((int) (i % slots));
		val[i] = Float8GetDatum(r->centroids[i]);
	}
	args[0] = PointerGetDatum(construct_array(seg, m, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(weekend, m, BOOLOID, 1, true, TYPALIGN_CHAR));
	args[2] = PointerGetDatum(construct_array(slot, m, INT4OID, 4, true, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(val, m, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = Int64GetDatum(run_id);
	args[5] = Int32GetDatum(86400 / slots);
	spi_exec("DELETE FROM meter_etl.segment_profile", 0, NULL, NULL, SPI_OK_DELETE);
	spi_exec("INSERT INTO meter_etl.segment_profile (segment, day_type, slot, slot_start, value, run_id)"
			 " SELECT u.seg, CASE WHEN u.weekend THEN 'weekend' ELSE 'weekday' END, u.slot,"
			 " time '00:00' + make_interval(secs => u.slot * $6), u.val, $5"
			 " FROM unnest($1, $2, $3, $4) AS u(seg, weekend, slot, val)",
			 6, types, args, SPI_OK_INSERT);
}

/* The summary: one row per segment (run id, segment, meters, inertia, mean distance). */
static void
emit_summary(FunctionCallInfo fcinfo, const ProfileSet *ps, const MeKmResult *r, int k,
			 int64 run_id)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int		   *count = palloc0(sizeof(int) * k);
	double	   *ss = palloc0(sizeof(double) * k);
	double	   *dsum = palloc0(sizeof(double) * k);

	for (int i = 0; i < ps->n; i++)
	{
		count[r->labels[i]]++;
		ss[r->labels[i]] += r->distance[i] * r->distance[i];
		dsum[r->labels[i]] += r->distance[i];
	}
	for (int j = 0; j < k; j++)
	{
		Datum		v[5];
		bool		nulls[5] = {false, false, false, false, count[j] == 0};

		v[0] = Int64GetDatum(run_id);
		v[1] = Int32GetDatum(j + 1);
		v[2] = Int32GetDatum(count[j]);
		v[3] = Float8GetDatum(ss[j]);
		v[4] = Float8GetDatum(count[j] ? dsum[j] / count[j] : 0.0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
}

/* The meters argument: NULL for all, otherwise a non-empty list. */
static ArrayType *
meters_arg(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *a;

	if (PG_ARGISNULL(argno))
		return NULL;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("meters must not be empty"),
				 errhint("Pass NULL for every meter.")));
	return a;
}

/* Every meter's profile in [from, to) of the meters in scope (SPI connected). */
static void
profiles_load(ArrayType *meters, TimestampTz from, TimestampTz to, MeDetCatalog *cat, ProfileSet *ps)
{
	me_det_catalog_load(cat, meters, NULL);
	memset(ps, 0, sizeof(*ps));
	/* the coarsest interval in scope: every profile has its number of slots */
	ps->slots = me_lp_slots_per_day(cat->max_interval_us);
	if (ps->slots == 0)
		elog(ERROR, "meter interval of %lld us does not divide a day", (long long) cat->max_interval_us);
	profiles_read(cat, from, to, ps);
}

/*
 * load_profiles(from_ts, to_ts, k, meters, restarts, seed)
 * -> (run_id, segment, meters, inertia, mean_distance), one row per segment
 */
Datum
meter_etl_load_profiles(PG_FUNCTION_ARGS)
{
	TimestampTz from = me_det_ts_arg(fcinfo, 0, "from_ts");
	TimestampTz to = me_det_ts_arg(fcinfo, 1, "to_ts");
	ArrayType  *meters = meters_arg(fcinfo, 3);
	MeKmParams	p;
	MeDetCatalog cat;
	ProfileSet	ps;
	MeKmResult	r;
	int64		run_id;

	me_det_check_range(from, to);
	km_params(fcinfo, 2, 4, 5, &p);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	profiles_load(meters, from, to, &cat, &ps);
	if (p.k > ps.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k (%d) must not exceed the number of meters with readings (%d)", p.k, ps.n),
				 errhint("Use a smaller k or a longer time range.")));
	km_run(ps.x, (size_t) ps.n, 2 * (size_t) ps.slots, &p, &r);
	run_id = store_segments(&ps, &r, p.k, from, to);
	store_profiles(&r, p.k, ps.slots, run_id);
	emit_summary(fcinfo, &ps, &r, p.k, run_id);
	SPI_finish();
	return (Datum) 0;
}

/*
 * meter_profiles(from_ts, to_ts, meters)
 * -> (meter_id, profile double precision[], notes text[]), one row per meter
 */
Datum
meter_etl_meter_profiles(PG_FUNCTION_ARGS)
{
	static const char *const note_names[4] = {"zero_load", "slots_interpolated", "no_weekday", "no_weekend"};
	TimestampTz from = me_det_ts_arg(fcinfo, 0, "from_ts");
	TimestampTz to = me_det_ts_arg(fcinfo, 1, "to_ts");
	ArrayType  *meters = meters_arg(fcinfo, 2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MeDetCatalog cat;
	ProfileSet	ps;
	int			dims;
	Datum	   *vals;

	me_det_check_range(from, to);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	profiles_load(meters, from, to, &cat, &ps);
	dims = 2 * ps.slots;
	vals = palloc(sizeof(Datum) * dims);
	StaticAssertStmt(ME_LP_ZERO == 1 && ME_LP_GAPS == 2 && ME_LP_NO_WEEKDAY == 4 &&
					 ME_LP_NO_WEEKEND == 8, "notes follow the ME_LP_* bits");
	for (int i = 0; i < ps.n; i++)
	{
		Datum		v[3];
		bool		nulls[3] = {false, false, false};
		Datum		notes[4];
		int			nn = 0;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < dims; j++)
			vals[j] = Float8GetDatum(ps.x[(size_t) i * dims + j]);
		for (int b = 0; b < 4; b++)
			if (ps.flags[i] & (1u << b))
				notes[nn++] = CStringGetTextDatum(note_names[b]);
		v[0] = CStringGetTextDatum(me_det_meter(&cat, ps.meter_key[i])->meter_id);
		v[1] = PointerGetDatum(construct_array(vals, dims, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		v[2] = PointerGetDatum(construct_array(notes, nn, TEXTOID, -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
