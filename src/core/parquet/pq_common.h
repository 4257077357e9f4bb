/*
 * pq_common.h - error record and shared constants of the Parquet writer
 *
 * Every module of src/parquet reports failures as a negative PQ_ERR_* code
 * and, where a caller may want to show it, a message in a PqErr record that
 * the writer owns.  Nothing here exits or aborts.  The encoder writes
 * little-endian values with memcpy, so it only builds on little-endian hosts
 * (checked at compile time below).
 */
#ifndef PQ_COMMON_H
#define PQ_COMMON_H

#include <stdarg.h>
#include <stddef.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the meter_etl Parquet writer assumes a little-endian host"
#endif

/* Return codes shared by all writer functions (0 = success). */
#define PQ_OK			0
#define PQ_ERR_ARG		(-1)	/* invalid argument or schema */
#define PQ_ERR_NOMEM	(-2)	/* allocation failed */
#define PQ_ERR_IO		(-3)	/* the sink reported a failure */
#define PQ_ERR_VALUE	(-4)	/* a value cannot be stored (row rejected) */
#define PQ_ERR_STATE	(-5)	/* writer closed or failed earlier */
#define PQ_ERR_CODEC	(-6)	/* the compressor failed */
#define PQ_ERR_LIMIT	(-7)	/* a page or value exceeds Parquet's 2 GiB limits */

#define PQ_ERRMSG_LEN	256

/* Last error of a writer: code plus a human-readable message. */
typedef struct PqErr
{
	int			code;
	char		msg[PQ_ERRMSG_LEN];
} PqErr;

/* Record an error (printf-style message) and return its code. */
int			pq_err_set(PqErr *err, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

#endif							/* PQ_COMMON_H */
