/*
 * store.h - batched writes into the clean store (meter_etl.reading)
 */
#ifndef ME_STORE_H
#define ME_STORE_H

#include "postgres.h"

/* What became of a row handed to me_store_flush. */
typedef enum MeStoreOutcome
{
	ME_OUT_CLEAN = 0,			/* stored */
	ME_OUT_DUPLICATE,			/* identical to a stored or earlier reading */
	ME_OUT_CONFLICT				/* same key, different value: quarantine it */
} MeStoreOutcome;

typedef struct MeStoreRow
{
	int64		ts;
	double		kw;
	int64		line_no;
	const void *meter_tag;		/* caller's pointers (for names in messages) */
	const void *channel_tag;
	double		other_kw;		/* for conflicts: the value already kept */
	int32		meter_key;
	int32		day;			/* ts in whole UTC days since 2000-01-01 */
	int16		channel_id;
	uint16		flags;
	uint8		outcome;		/* MeStoreOutcome, set by me_store_flush */
} MeStoreRow;

typedef struct MeStore MeStore;

extern MeStore *me_store_begin(int64 file_id, int64 run_id);
extern void me_store_flush(MeStore *st, MeStoreRow *rows, int n);
extern void me_store_end(MeStore *st);
extern Oid	me_store_relid(MeStore *st);

#endif							/* ME_STORE_H */
