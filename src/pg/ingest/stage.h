/*
 * stage.h - raw zone access from C (see stage.c)
 */
#ifndef ME_STAGE_H
#define ME_STAGE_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/portal.h"

typedef struct MeChunkReader
{
	Portal		portal;
	MemoryContext cxt;
	int64		chunks;			/* chunks returned so far */
	int64		bytes;			/* their bytes */
	bool		numbered;		/* every chunk_no was the expected one */
	pg_cryptohash_ctx *hash;	/* NULL unless opened with me_chunks_open_hashed */
	bool		ended;			/* the last chunk was read (digest is final) */
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
} MeChunkReader;

/* What a staged file was recorded as: what its stored chunks must match. */
typedef struct MeRawIdentity
{
	int64		file_id;
	bytea	   *sha256;
	int64		size_bytes;
	int32		chunk_count;
} MeRawIdentity;

extern void me_chunks_open(MeChunkReader *cr, int64 file_id);
extern void me_chunks_open_hashed(MeChunkReader *cr, int64 file_id);
extern bool me_chunks_next(MeChunkReader *cr, const char **data, size_t *len);
extern void me_chunks_drain(MeChunkReader *cr);
extern void me_chunks_verify(const MeChunkReader *cr, const MeRawIdentity *id);
extern void me_chunks_close(MeChunkReader *cr);
extern void me_raw_file_must_exist(int64 file_id);
typedef void (*MeRawLineFn) (void *arg, int64 line_no, const char *text, size_t len);
extern void me_raw_lines(int64 file_id, const int64 *want, int n, MeRawLineFn emit, void *arg);
extern void me_resolve_dir_setting(const char *name, const char *value, const char *purpose,
								   char *root);
extern void me_inbox_resolve_dir(char *root);
extern char *me_inbox_resolve(const char *path, char **relname);
extern int64 me_stage_path(const char *path, const char *source, bool *is_new);

#endif							/* ME_STAGE_H */
