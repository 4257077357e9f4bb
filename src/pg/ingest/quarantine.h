/*
 * quarantine.h - writing quarantine rows (quarantine.c)
 */
#ifndef ME_QUARANTINE_H
#define ME_QUARANTINE_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct MeQuarantineRow
{
	int64		file_id;		/* 0 = none */
	int64		line_no;		/* 0 = none */
	const char *reason;
	const char *detail;
	const char *meter_id;
	const char *channel;
	bool		has_ts;
	TimestampTz ts;
	const char *ts_raw;
	const char *value_raw;
	const char *unit_raw;
	const char *raw_line;
	const char *source;
	int64		run_id;			/* 0 = none */
} MeQuarantineRow;

extern void me_quarantine_insert(const MeQuarantineRow *rows, int n);

#endif							/* ME_QUARANTINE_H */
