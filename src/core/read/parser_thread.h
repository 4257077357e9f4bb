/*
 * parser_thread.h - the CSV-to-reading path in a thread of its own
 *
 * Parsing a file (libcsv, field parsers, rules) and storing its readings
 * (heap, index, WAL) each take a core; run on two, they overlap.  The
 * backend pushes raw chunks in, the parser thread runs a MeReader over
 * them and packs its output (readings and rejects) into blocks, and the
 * backend replays each block through the usual callbacks.  Both queues are
 * bounded, so memory stays bounded whatever the file size.
 *
 * Pure C with POSIX threads: the parser thread never touches PostgreSQL
 * (no palloc, no ereport, no signals: it starts with all signals blocked
 * and allocates with malloc).  Everything shared is malloc'd, so the
 * backend can stop the thread from an error handler, before its own
 * memory contexts go away.
 */
#ifndef ME_PARSER_THREAD_H
#define ME_PARSER_THREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "reader.h"

typedef struct MeParser MeParser;

extern MeParser *me_parser_start(const MeProfile *profile, const MeRules *rules,
								 const MeZone *zone, const char *file_stem,
								 size_t max_line_bytes);
extern bool me_parser_push(MeParser *p, const char *buf, size_t len, int timeout_ms);
extern void me_parser_end_input(MeParser *p);
extern int	me_parser_next(MeParser *p, int timeout_ms, const MeReaderCallbacks *cb,
						   void *cbctx);
/* false: the file failed (err says why), or the thread ran out of memory (*oom) */
extern bool me_parser_result(MeParser *p, MeReaderStats *stats, char *err, size_t errlen,
							 bool *oom);
extern void me_parser_stop(MeParser *p);

#endif							/* ME_PARSER_THREAD_H */
