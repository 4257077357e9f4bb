/*
 * detect_errors.c - the cores' status codes as errors, and the error
 * context that names the series being processed
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

/* Text of a timestamp for messages. */
const char *
me_det_ts_text(int64 ts)
{
	return timestamptz_to_str((TimestampTz) ts);
}

/* NaN and infinity never reach the cores. */
void
me_det_check_finite(const MeDetSeries *s)
{
	size_t		bad;

	if (series_check_finite(s->kw, NULL, s->n, &bad) != ME_SERIES_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("reading of meter \"%s\" channel \"%s\" at %s is not a finite number",
						s->meter->meter_id, s->channel, me_det_ts_text(s->ts[bad])),
				 errhint("Correct or delete the reading in meter_etl.reading.")));
}

/*
 * Turn a core's status into an error.  The message is a whole sentence;
 * which function and series it concerns is the error context's to say
 * (me_det_errctx_push), not the message's.
 */
void
me_det_series_error(int status)
{
	switch (status)
	{
		case ME_SERIES_OK:
			return;
		case ME_SERIES_ERANGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the time range holds too many intervals"),
					 errhint("Use a shorter range.")));
			break;
		case ME_SERIES_ENOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
			break;
		case ME_SERIES_ENONFINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("a value is not a finite number")));
			break;
		case ME_SERIES_EORDER:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("timestamps are not strictly ascending")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the parameters cannot be combined"),
					 errhint("Check that the interval is positive and each threshold is in its range.")));
	}
}

/* Error context: which series was being processed. */
static void
series_error_callback(void *arg)
{
	MeDetErrCtx *e = arg;

	if (e->s != NULL && e->s->meter != NULL)
		errcontext("%s of meter \"%s\" channel \"%s\"", e->what, e->s->meter->meter_id,
				   e->s->channel);
}

/* Push an error context that names the current series (set e->s as you go). */
void
me_det_errctx_push(MeDetErrCtx *e, const char *what)
{
	e->what = what;
	e->s = NULL;
	e->cb.callback = series_error_callback;
	e->cb.arg = e;
	e->cb.previous = error_context_stack;
	error_context_stack = &e->cb;
}

/* Pop it again (on the normal path; errors unwind the stack themselves). */
void
me_det_errctx_pop(MeDetErrCtx *e)
{
	error_context_stack = e->cb.previous;
}
