/*
 * meter_etl_load.c - bin/meter-etl-load: stream local files into the raw zone
 *
 *   meter-etl-load [-d CONNINFO] [-s SOURCE] [--ingest] [--format FMT] FILE...
 *
 * Each file is sent in 1 MiB chunks through meter_etl.stage_begin /
 * stage_chunk / stage_finish in its own transaction, so files of any size
 * load with bounded memory on both ends and a failed file leaves nothing
 * behind.  With --ingest, each file is ingested in a transaction of its
 * own once its staging has committed, so a file that fails to ingest stays
 * staged for another try.  Prints one line per file: file_id,
 * new|existing, name, and with --ingest the accounting or "ingest failed"
 * (the reason goes to stderr); an id is printed only once it has
 * committed.  Connection settings come from the usual PG* environment
 * variables unless -d is given.  Exits 1 if any file failed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "libpq-fe.h"

#define CHUNK_BYTES (1024 * 1024)

/* Print the connection's error and give up on this file. */
static int
fail(PGconn *conn, const char *what, const char *file)
{
	fprintf(stderr, "meter-etl-load: %s: %s: %s", file, what, PQerrorMessage(conn));
	PQclear(PQexec(conn, "ROLLBACK"));
	return 1;
}

/* Run a command that must succeed. */
static int
run_ok(PGconn *conn, const char *sql, ExecStatusType want)
{
	PGresult   *res = PQexec(conn, sql);
	int			ok = PQresultStatus(res) == want;

	PQclear(res);
	return ok;
}

/* A one-value query with text parameters; returns a malloc'd string or NULL. */
static char *
query_value(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	char	   *v = NULL;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* Send one chunk as a binary bytea parameter. */
static int
send_chunk(PGconn *conn, const char *file_id, int chunk_no, const char *buf, size_t n)
{
	char		chunk_txt[16];
	const char *values[3];
	int			lengths[3] = {0, 0, (int) n};
	int			formats[3] = {0, 0, 1};
	PGresult   *res;
	int			ok;

	snprintf(chunk_txt, sizeof(chunk_txt), "%d", chunk_no);
	values[0] = file_id;
	values[1] = chunk_txt;
	values[2] = buf;
	res = PQexecParams(conn, "SELECT meter_etl.stage_chunk($1::bigint, $2::integer, $3::bytea)",
					   3, NULL, values, lengths, formats, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok;
}

/*
 * Stage one file in its own transaction; returns the file id (malloc'd)
 * once it has committed, or NULL after saying why.  "new" or "existing"
 * goes to *state.
 */
static char *
stage_file(PGconn *conn, const char *path, const char *source, char **state)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	char	   *upload = NULL;
	char	   *file_id = NULL;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *p2[2] = {name, source};
	int			chunk_no = 0;
	size_t		n;
	PGresult   *res;

	if (f == NULL)
	{
		fprintf(stderr, "meter-etl-load: could not open \"%s\": %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CHUNK_BYTES);
	if (buf == NULL || !run_ok(conn, "BEGIN", PGRES_COMMAND_OK))
		goto failed;
	upload = query_value(conn, "SELECT meter_etl.stage_begin($1, $2)", 2, p2);
	if (upload == NULL)
		goto failed;
	while ((n = fread(buf, 1, CHUNK_BYTES, f)) > 0)
		if (!send_chunk(conn, upload, chunk_no++, buf, n))
			goto failed;
	if (ferror(f))
	{
		fprintf(stderr, "meter-etl-load: could not read \"%s\": %s\n", path, strerror(errno));
		PQclear(PQexec(conn, "ROLLBACK"));
		goto done;
	}
	{
		const char *p1[1] = {upload};

		res = PQexecParams(conn, "SELECT file_id, CASE WHEN is_new THEN 'new' ELSE 'existing' END"
						   " FROM meter_etl.stage_finish($1::bigint)", 1, NULL, p1, NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PQclear(res);
		goto failed;
	}
	file_id = strdup(PQgetvalue(res, 0, 0));
	*state = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	/* an id is only worth printing once it has committed */
	if (!run_ok(conn, "COMMIT", PGRES_COMMAND_OK))
	{
		free(file_id);
		free(*state);
		file_id = NULL;
		goto failed;
	}
	goto done;
failed:
	fail(conn, "staging failed; nothing was kept", path);
done:
	fclose(f);
	free(buf);
	free(upload);
	return file_id;
}

/*
 * Stage one file, then (with --ingest) ingest it in a transaction of its
 * own, so a failed ingest leaves the staged file in place for another try.
 * One line per file on stdout; errors on stderr.  Returns 0 on success.
 */
static int
load_file(PGconn *conn, const char *path, const char *source, int ingest, const char *format)
{
	char	   *state = NULL;
	char	   *file_id = stage_file(conn, path, source, &state);
	const char *p[2];
	PGresult   *ir;
	int			rc = 0;

	if (file_id == NULL)
		return 1;
	printf("%s\t%s\t%s", file_id, state, path);
	if (ingest)
	{
		p[0] = file_id;
		p[1] = format;
		ir = PQexecParams(conn,
						  "SELECT format, readings_read, rows_clean, rows_quarantined, rows_duplicate"
						  " FROM meter_etl.ingest($1::bigint, $2)", 2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(ir) == PGRES_TUPLES_OK)
			printf("\tformat=%s read=%s clean=%s quarantined=%s duplicate=%s",
				   PQgetvalue(ir, 0, 0), PQgetvalue(ir, 0, 1), PQgetvalue(ir, 0, 2),
				   PQgetvalue(ir, 0, 3), PQgetvalue(ir, 0, 4));
		else
		{
			printf("\tingest failed\n");
			fflush(stdout);
			fprintf(stderr, "meter-etl-load: %s: staged as raw file %s (kept), but ingest failed: %s",
					path, file_id, PQerrorMessage(conn));
			rc = 1;
		}
		PQclear(ir);
	}
	if (rc == 0)
		printf("\n");
	free(file_id);
	free(state);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr,
			"Usage: meter-etl-load [-d CONNINFO] [-s SOURCE] [--ingest] [--format FMT] FILE...\n"
			"Stream local meter files into meter_etl's raw zone (one transaction per file).\n"
			"  -d, --dbname=DB        database name, connection string or URI (default: PG* variables)\n"
			"  -s, --source=TEXT      source label stored with each file\n"
			"  -i, --ingest           also ingest each file after staging it\n"
			"  -f, --format=NAME      format profile for --ingest (default auto)\n");
}

int
main(int argc, char **argv)
{
	static struct option opts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"source", required_argument, NULL, 's'},
		{"ingest", no_argument, NULL, 'i'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *conninfo = "";
	const char *source = NULL;
	const char *format = "auto";
	int			ingest = 0;
	int			c;
	int			failures = 0;
	PGconn	   *conn;

	while ((c = getopt_long(argc, argv, "d:s:if:h", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				conninfo = optarg;
				break;
			case 's':
				source = optarg;
				break;
			case 'i':
				ingest = 1;
				break;
			case 'f':
				format = optarg;
				break;
			default:
				usage();
				return c == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc)
	{
		usage();
		return 2;
	}
	{
		/* like psql -d: a database name, a connection string or a URI */
		const char *keys[] = {"dbname", "fallback_application_name", NULL};
		const char *vals[] = {conninfo[0] ? conninfo : NULL, "meter-etl-load", NULL};

		conn = PQconnectdbParams(keys, vals, 1);
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "meter-etl-load: could not connect: %s", PQerrorMessage(conn));
		return 1;
	}
	PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
	for (int i = optind; i < argc; i++)
		failures += load_file(conn, argv[i], source, ingest, format);
	PQfinish(conn);
	return failures ? 1 : 0;
}
