/*
 * pq_common.c - error recording for the Parquet writer (see pq_common.h)
 */
#include <stdio.h>

#include "pq_common.h"

/* Format the message into the record so the caller can read it later. */
int
pq_err_set(PqErr *err, int code, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}
