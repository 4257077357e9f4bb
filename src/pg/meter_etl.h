/*
 * meter_etl.h - small helpers shared by the PostgreSQL glue (meter_etl.c)
 *
 * Settings are in guc.h, quarantine rows in ingest/quarantine.h; the pure
 * modules under src/core have their own headers and never include these.
 */
#ifndef METER_ETL_H
#define METER_ETL_H

#include "postgres.h"

#include "core/read/tzconv.h"

extern bool me_zone_setup(MeZone *zone, const char *tzname);
extern char *me_sanitize_text(const char *s, size_t len);
extern bool me_schema_has(const char *relname, const char *attname);

#endif							/* METER_ETL_H */
