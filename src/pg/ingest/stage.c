/*
 * stage.c - the raw zone from C: reading stored chunks, hashing them,
 * staging server-side files from the inbox, and fetching a raw line
 *
 * Raw files are stored as 1 MiB chunks and always read one chunk at a time
 * through an SPI cursor, so memory stays bounded whatever the file size.
 */
#include "postgres.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/confine.h"
#include "core/read/reader.h"
#include "pg/guc.h"
#include "stage.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_raw_sha256);
PG_FUNCTION_INFO_V1(meter_etl_stage_server_file);
PG_FUNCTION_INFO_V1(meter_etl_raw_line);

#define STAGE_CHUNK_BYTES (1024 * 1024)

/* A digest as lower-case hex, for messages. */
static char *
hex_digest(const uint8 *d, size_t n)
{
	char	   *out = palloc(2 * n + 1);

	hex_encode((const char *) d, n, out);
	out[2 * n] = '\0';
	return out;
}

/* Open a cursor over a raw file's chunks.  The caller is connected to SPI. */
void
me_chunks_open(MeChunkReader *cr, int64 file_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(file_id)};

	memset(cr, 0, sizeof(*cr));
	cr->numbered = true;
	cr->cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl chunk",
									ALLOCSET_DEFAULT_SIZES);
	cr->portal = SPI_cursor_open_with_args(NULL,
										   "SELECT data, chunk_no FROM meter_etl.raw_chunk"
										   " WHERE file_id = $1 ORDER BY chunk_no",
										   1, argtypes, args, NULL, false, 0);
}

/*
 * The same, hashing the bytes as they are read, so that a reader that
 * streams the file anyway (ingest) verifies it without a second pass.
 */
void
me_chunks_open_hashed(MeChunkReader *cr, int64 file_id)
{
	me_chunks_open(cr, file_id);
	cr->hash = pg_cryptohash_create(PG_SHA256);
	if (cr->hash == NULL || pg_cryptohash_init(cr->hash) < 0)
		elog(ERROR, "could not initialize SHA-256: %s", pg_cryptohash_error(cr->hash));
}

/* End of the chunks: the digest is final. */
static void
chunks_end(MeChunkReader *cr)
{
	if (cr->hash != NULL && !cr->ended &&
		pg_cryptohash_final(cr->hash, cr->digest, sizeof(cr->digest)) < 0)
		elog(ERROR, "could not finalize SHA-256: %s", pg_cryptohash_error(cr->hash));
	cr->ended = true;
}

/*
 * The next chunk's bytes, valid until the next call; false at the end.
 * The previous chunk's memory is released first.
 */
bool
me_chunks_next(MeChunkReader *cr, const char **data, size_t *len)
{
	bool		isnull;
	Datum		d;
	bytea	   *b;
	MemoryContext old;

	MemoryContextReset(cr->cxt);
	if (cr->ended)
		return false;
	SPI_cursor_fetch(cr->portal, true, 1);
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		chunks_end(cr);
		return false;
	}
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(cr->cxt);
	b = isnull ? NULL : DatumGetByteaPCopy(d);
	MemoryContextSwitchTo(old);
	if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) != cr->chunks)
		cr->numbered = false;
	SPI_freetuptable(SPI_tuptable);
	*data = b ? VARDATA(b) : "";
	*len = b ? VARSIZE(b) - VARHDRSZ : 0;
	if (cr->hash != NULL && pg_cryptohash_update(cr->hash, (const uint8 *) *data, *len) < 0)
		elog(ERROR, "could not update SHA-256: %s", pg_cryptohash_error(cr->hash));
	cr->chunks++;
	cr->bytes += (int64) *len;
	return true;
}

/* Read (and hash) whatever chunks a reader that stopped early left. */
void
me_chunks_drain(MeChunkReader *cr)
{
	const char *data;
	size_t		len;

	while (me_chunks_next(cr, &data, &len))
		CHECK_FOR_INTERRUPTS();
}

/*
 * Refuse stored chunks that are not the bytes the file was staged with:
 * their SHA-256, size and chunk numbering must be what staging recorded.
 * Only a hashed reader that has read every chunk can be verified.
 */
void
me_chunks_verify(const MeChunkReader *cr, const MeRawIdentity *id)
{
	Assert(cr->hash != NULL && cr->ended);
	if (id->sha256 != NULL && VARSIZE_ANY_EXHDR(id->sha256) == sizeof(cr->digest) &&
		memcmp(VARDATA_ANY(id->sha256), cr->digest, sizeof(cr->digest)) == 0 &&
		cr->bytes == id->size_bytes && cr->chunks == id->chunk_count && cr->numbered)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("raw file " INT64_FORMAT " does not match the bytes it was staged with", id->file_id),
			 errdetail("Its stored chunks hold " INT64_FORMAT " bytes in " INT64_FORMAT " chunks%s with SHA-256 %s;"
					   " staging recorded " INT64_FORMAT " bytes in %d chunks with SHA-256 %s.",
					   cr->bytes, cr->chunks, cr->numbered ? "" : " (not numbered 0, 1, 2, ...)",
					   hex_digest(cr->digest, sizeof(cr->digest)), id->size_bytes, id->chunk_count,
					   id->sha256 ? hex_digest((const uint8 *) VARDATA_ANY(id->sha256),
											   VARSIZE_ANY_EXHDR(id->sha256)) : "(none)"),
			 errhint("The raw zone was changed after staging. Stage the file again from its source.")));
}

/* Close the cursor and free the chunk memory. */
void
me_chunks_close(MeChunkReader *cr)
{
	if (cr->portal)
		SPI_cursor_close(cr->portal);
	cr->portal = NULL;
	if (cr->hash != NULL)
		pg_cryptohash_free(cr->hash);
	cr->hash = NULL;
	MemoryContextDelete(cr->cxt);
}

/*
 * Refuse a file_id no raw file has: reading its chunks would find none
 * and answer as for an empty file.  The caller is connected to SPI.
 */
void
me_raw_file_must_exist(int64 file_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(file_id)};

	if (SPI_execute_with_args("SELECT 1 FROM meter_etl.raw_file WHERE file_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up raw file");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("raw file " INT64_FORMAT " does not exist", file_id)));
	SPI_freetuptable(SPI_tuptable);
}

/* SHA-256 of a raw file's stored chunks, read one chunk at a time. */
Datum
meter_etl_raw_sha256(PG_FUNCTION_ARGS)
{
	int64		file_id = PG_GETARG_INT64(0);
	MeChunkReader cr;
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SPI_connect();
	me_raw_file_must_exist(file_id);
	me_chunks_open_hashed(&cr, file_id);
	me_chunks_drain(&cr);
	memcpy(VARDATA(result), cr.digest, PG_SHA256_DIGEST_LENGTH);
	me_chunks_close(&cr);
	SPI_finish();
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(result);
}

/*
 * The canonical path of a directory setting (name = value) into root
 * (PATH_MAX bytes); errors if the setting is empty or cannot be resolved.
 * purpose completes the hint: "the directory <purpose>".
 */
void
me_resolve_dir_setting(const char *name, const char *value, const char *purpose, char *root)
{
	if (value == NULL || value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not set", name),
				 errhint("A superuser must set %s to the directory %s.", name, purpose)));
	if (realpath(value, root) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve %s \"%s\": %m", name, value)));
}

/* The canonical path of meter_etl.inbox_dir, into root (PATH_MAX bytes). */
void
me_inbox_resolve_dir(char *root)
{
	me_resolve_dir_setting("meter_etl.inbox_dir", me_inbox_dir, "files may be staged from", root);
}

char *
me_inbox_resolve(const char *path, char **relname)
{
	char		inbox_real[PATH_MAX];
	char		file_real[PATH_MAX];
	char	   *joined;
	struct stat st;
	size_t		n;

	me_inbox_resolve_dir(inbox_real);
	if (me_path_has_dotdot(path))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("path \"%s\" must not contain \"..\"", path)));
	joined = is_absolute_path(path) ? pstrdup(path) : psprintf("%s/%s", inbox_real, path);
	if (realpath(joined, file_real) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	n = strlen(inbox_real);
	if (!me_path_inside(file_real, inbox_real) || file_real[n] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("path \"%s\" is outside meter_etl.inbox_dir", path),
				 errdetail("It resolves to \"%s\".", file_real)));
	if (stat(file_real, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path)));
	*relname = pstrdup(file_real + n + 1);
	return pstrdup(file_real);
}

/*
 * Stage a server file into the raw zone through the same begin / chunk /
 * finish protocol the client uses, one chunk in memory at a time.
 */
int64
me_stage_path(const char *path, const char *source, bool *is_new)
{
	char	   *relname;
	char	   *real = me_inbox_resolve(path, &relname);
	FILE	   *f;
	char	   *buf;
	int64		file_id;
	int32		chunk_no = 0;
	Oid			t2[2] = {TEXTOID, TEXTOID};
	Datum		a2[2];
	char		n2[2] = {' ', source ? ' ' : 'n'};
	Oid			t3[3] = {INT8OID, INT4OID, BYTEAOID};
	Oid			t1[1] = {INT8OID};
	Datum		a1[1];
	bool		isnull;

	f = AllocateFile(real, PG_BINARY_R);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", real)));
	buf = palloc(VARHDRSZ + STAGE_CHUNK_BYTES);	/* outlives SPI_finish */
	SPI_connect();
	a2[0] = CStringGetTextDatum(relname);
	a2[1] = source ? CStringGetTextDatum(source) : (Datum) 0;
	if (SPI_execute_with_args("SELECT meter_etl.stage_begin($1, $2)", 2, t2, a2, n2, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "stage_begin failed");
	file_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	for (;;)
	{
		size_t		n = fread(VARDATA(buf), 1, STAGE_CHUNK_BYTES, f);
		Datum		a3[3];

		CHECK_FOR_INTERRUPTS();
		if (n == 0)
		{
			if (ferror(f))
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read file \"%s\": %m", real)));
			break;
		}
		SET_VARSIZE(buf, VARHDRSZ + n);
		a3[0] = Int64GetDatum(file_id);
		a3[1] = Int32GetDatum(chunk_no++);
		a3[2] = PointerGetDatum(buf);
		if (SPI_execute_with_args("SELECT meter_etl.stage_chunk($1, $2, $3)", 3, t3, a3, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "stage_chunk failed");
		SPI_freetuptable(SPI_tuptable);
	}
	FreeFile(f);
	a1[0] = Int64GetDatum(file_id);
	if (SPI_execute_with_args("SELECT file_id, is_new FROM meter_etl.stage_finish($1)", 1, t1, a1, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "stage_finish failed");
	file_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*is_new = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	pfree(buf);
	return file_id;
}

/* SQL: stage_server_file(path, source) */
Datum
meter_etl_stage_server_file(PG_FUNCTION_ARGS)
{
	char	   *path;
	char	   *source = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		is_new;
	int64		file_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("path must not be null")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	file_id = me_stage_path(path, source, &is_new);
	if (!is_new)
		ereport(NOTICE,
				(errmsg("file \"%s\" has the same content as raw file " INT64_FORMAT ", which is returned",
						path, file_id)));
	PG_RETURN_INT64(file_id);
}

/*
 * One pass over the raw chunks of file_id for the physical lines want[0..n)
 * (ascending, unique; lines are numbered from 1): emit(arg, line_no, text,
 * len) for each one found, its text as stored (a line cut by a chunk
 * boundary is joined).  Lines past the end are not emitted.
 */
void
me_raw_lines(int64 file_id, const int64 *want, int n, MeRawLineFn emit, void *arg)
{
	int64		line = 1;
	int			k = 0;
	bool		after_cr = false;
	StringInfoData cur;
	MeChunkReader cr;
	const char *data;
	size_t		len;

	if (n <= 0)
		return;
	initStringInfo(&cur);
	me_chunks_open(&cr, file_id);
	while (k < n && me_chunks_next(&cr, &data, &len))
	{
		const char *p = data;
		const char *end = data + len;

		CHECK_FOR_INTERRUPTS();
		if (after_cr && p < end && *p == '\n')
			p++;				/* the LF of a CRLF cut by the chunk boundary */
		after_cr = false;
		while (p < end && k < n)
		{
			const char *eol = me_find_eol(p, end);
			const char *stop = eol ? eol : end;

			if (line == want[k])
				appendBinaryStringInfo(&cur, p, stop - p);
			if (eol == NULL)
				break;			/* the line goes on in the next chunk */
			if (line == want[k])
			{
				emit(arg, line, cur.data, cur.len);
				resetStringInfo(&cur);
				k++;
			}
			line++;
			p = eol + 1;
			if (*eol == '\r' && p < end && *p == '\n')
				p++;
			else if (*eol == '\r' && p == end)
				after_cr = true;
		}
	}
	/* the last line of a file without a newline at its end */
	if (k < n && line == want[k] && cur.len > 0)
		emit(arg, line, cur.data, cur.len);
	me_chunks_close(&cr);
	pfree(cur.data);
}

/* raw_line's catch: the one line asked for. */
static void
keep_line(void *arg, int64 line_no, const char *line, size_t len)
{
	(void) line_no;
	*(text **) arg = cstring_to_text(me_sanitize_text(line, len));
}

/* SQL: raw_line(file_id, line_no): one physical line of a raw file. */
Datum
meter_etl_raw_line(PG_FUNCTION_ARGS)
{
	int64		file_id = PG_GETARG_INT64(0);
	int64		want = PG_GETARG_INT64(1);
	text	   *found = NULL;

	if (want < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line_no must be positive"),
				 errhint("Lines are numbered from 1, the header included.")));
	SPI_connect();
	me_raw_file_must_exist(file_id);
	me_raw_lines(file_id, &want, 1, keep_line, &found);
	SPI_finish();
	if (found == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(found);
}
