/*
 * rollup.h - the ingest's share of the rollups (meter_etl.rollup_meter_day)
 */
#ifndef ME_ROLLUP_H
#define ME_ROLLUP_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct MeRollup MeRollup;

extern MeRollup *me_rollup_begin(const char *time_zone);
extern void me_rollup_add(MeRollup *ru, int32 meter_key, int16 channel_id, TimestampTz ts,
						  double kw, uint16 flags);
extern void me_rollup_end(MeRollup *ru);

#endif							/* ME_ROLLUP_H */
