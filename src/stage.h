/*
 * stage.h - raw zone access from C (see stage.c)
 */
#ifndef ME_STAGE_H
#define ME_STAGE_H

#include "postgres.h"

#include "utils/portal.h"

typedef struct MeChunkReader
{
	Portal		portal;
	MemoryContext cxt;
	int64		chunks;
} MeChunkReader;

extern void me_chunks_open(MeChunkReader *cr, int64 file_id);
extern bool me_chunks_next(MeChunkReader *cr, const char **data, size_t *len);
extern void me_chunks_close(MeChunkReader *cr);
extern void me_resolve_dir_setting(const char *name, const char *value, const char *purpose,
								   char *root);
extern void me_inbox_resolve_dir(char *root);
extern char *me_inbox_resolve(const char *path, char **relname);
extern int64 me_stage_path(const char *path, const char *source, bool *is_new);

#endif							/* ME_STAGE_H */
