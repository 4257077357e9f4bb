/*
 * pq_sample.c - writes Parquet sample files for the interoperability check
 *
 * Usage: pq_sample OUTDIR
 *
 * Each sample exercises one feature of src/parquet (NULLs, non-ASCII
 * strings, timestamps before 1970/2000 and around DST changes, dictionary
 * fallback, many row groups and pages, every codec, 0/1/8/9/1000 rows,
 * NaN/infinity/-0.0 doubles).  Next to the .parquet files it writes
 * OUTDIR/expected.json: for every sample the schema, options, key/value
 * metadata and every row exactly as given to the writer, which check.mjs
 * compares with what DuckDB and hyparquet read back.
 *
 * JSON value encoding: strings as strings, timestamps as decimal strings of
 * Unix microseconds (exact int64), doubles as numbers except "NaN",
 * "Infinity", "-Infinity" and "-0", INT32/INT16 as numbers, booleans, null.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/me_time.h"
#include "core/parquet/pq_writer.h"

#define MAX_COLS 8
#define STRBUF 8192

typedef struct Sample Sample;
typedef void (*GenRow) (const Sample *s, int i, PqValue *row);

/* One sample file: schema, options and a row generator. */
struct Sample
{
	const char *name;
	int			ncols;
	PqColumnSpec cols[MAX_COLS];
	int			nrows;
	PqCodec		codec;
	uint32_t	row_group_rows;
	uint32_t	page_bytes;
	uint32_t	page_rows;
	uint32_t	dict_max_entries;
	const char *fallback;		/* "col=plain" / "col=mixed" or NULL */
	GenRow		gen;
};

static char strbufs[MAX_COLS][STRBUF];

/* PG TimestampTz (µs since 2000-01-01 UTC) of a UTC civil time. */
static int64_t
pg_ts(int y, int mo, int d, int h, int mi, int s, int us)
{
	int64_t		days = me_days_from_civil(y, mo, d);
	int64_t		secs = days * 86400 + h * 3600 + mi * 60 + s;

	return secs * ME_USECS_PER_SEC + us - PQ_PG_EPOCH_OFFSET_US;
}

/* String value held in a per-column static buffer. */
static PqValue
fmt_str(int col, const char *fmt, int a)
{
	int			n = snprintf(strbufs[col], STRBUF, fmt, a);

	return pq_str(strbufs[col], (size_t) n);
}

static const char *meter_names[] = {
	"é-meter", "Zürich-1", "M-0001", "M-0002", "Ω-42", "a", "A", "zz",
	"", "meter with spaces", "日本-7", "M-0003", "b\"quote", "back\\slash",
	"tab\there", "Z", "~tilde", "M-0010", "M-0009", "ÿ-last", "0-first",
	"München-3", "Ärger", "x", "y"
};

/* Starting instants per meter: before 1970, before 2000, DST changes. */
static int64_t
meter_start(int m)
{
	switch (m % 6)
	{
		case 0:
			return pg_ts(1969, 12, 31, 23, 0, 0, 0);	/* crosses Unix epoch */
		case 1:
			return pg_ts(1950, 6, 15, 12, 0, 0, 123456);
		case 2:
			return pg_ts(1999, 12, 31, 23, 0, 0, 1);	/* crosses PG epoch */
		case 3:
			return pg_ts(2024, 3, 31, 0, 0, 0, 0);	/* EU spring forward 01:00Z */
		case 4:
			return pg_ts(2024, 10, 27, 0, 0, 0, 0);	/* EU fall back 01:00Z */
		default:
			return pg_ts(2024, 3, 10, 9, 0, 0, 999999);	/* US DST 10:00Z */
	}
}

/* The meter-reading shaped sample: 25 meters x 100 readings. */
static void
gen_meter(const Sample *s, int i, PqValue *row)
{
	int			m = i / 100;
	int			k = i % 100;
	static const int16_t flagv[] = {0, 1, -32768, 32767, 4, 0, 0};

	row[0] = pq_str(meter_names[m % 25], strlen(meter_names[m % 25]));
	row[1] = pq_ts(meter_start(m) + (int64_t) k * 15 * ME_USECS_PER_MIN);
	row[2] = i % 7 == 3 ? pq_null() : pq_f64(((i * 37) % 1000) / 8.0 - 20.0);
	row[3] = i % 11 == 0 ? pq_null() : pq_i32(flagv[i % 7]);
	row[4] = pq_bool(i % 3 == 0);
	row[5] = i % 4 == 0 ? pq_null() :
		fmt_str(5, i % 8 == 1 ? "Überschuss-%d" : "note-%d", i % 13);
	row[6] = pq_i32(i - 1000);
}

/* Small row counts: the same shape with NULLs in odd places. */
static void
gen_small(const Sample *s, int i, PqValue *row)
{
	row[0] = fmt_str(0, "m-%d", i % 3);
	row[1] = pq_ts(pg_ts(2024, 1, 1, 0, 0, 0, 0) + (int64_t) i * ME_USECS_PER_HOUR);
	row[2] = i % 3 == 2 ? pq_null() : pq_f64(i * 0.5);
	row[3] = i % 2 ? pq_null() : pq_i32(i);
	row[4] = i % 5 == 4 ? pq_null() : pq_bool(i % 2);
}

/* Every optional column NULL in every row. */
static void
gen_all_null(const Sample *s, int i, PqValue *row)
{
	for (int c = 0; c < s->ncols; c++)
		row[c] = pq_null();
	row[s->ncols - 1] = pq_i32(i);	/* one required column keeps rows apart */
}

/* A single distinct value per column (1-entry dictionaries). */
static void
gen_one_entry(const Sample *s, int i, PqValue *row)
{
	row[0] = pq_str("only-one", 8);
	row[1] = pq_f64(1.5);
	row[2] = pq_i32(-7);
	row[3] = pq_ts(pg_ts(2001, 2, 3, 4, 5, 6, 7));
}

/* All-distinct values: dictionaries overflow and fall back to PLAIN. */
static void
gen_unique(const Sample *s, int i, PqValue *row)
{
	row[0] = fmt_str(0, "u-%06d", (i * 7919) % 100000);
	row[1] = pq_f64(i * 1.0001);
	row[2] = pq_i32(i);
}

/* PLAIN everywhere, including a string too long for statistics. */
static void
gen_no_dict(const Sample *s, int i, PqValue *row)
{
	if (i == 5)
	{
		memset(strbufs[0], 'L', 5000);
		row[0] = pq_str(strbufs[0], 5000);
	}
	else
		row[0] = i % 6 == 1 ? pq_null() : fmt_str(0, "plain-é-%d", i);
	row[1] = pq_ts(pg_ts(1900 + i % 200, 1 + i % 12, 1 + i % 28, i % 24, 0, 0, i));
	row[2] = pq_f64(-1.0 / (i + 1));
	row[3] = pq_i32(INT32_MIN + i);
	row[4] = pq_i32(i % 2 ? 32767 : -32768);
	row[5] = pq_bool(i % 4 == 0);
}

/* Many rows: many row groups and many pages. */
static void
gen_many(const Sample *s, int i, PqValue *row)
{
	row[0] = fmt_str(0, "MTR-%05d", i / 96);
	row[1] = pq_ts(pg_ts(2024, 6, 1, 0, 0, 0, 0) + (int64_t) (i % 96) * 15 * ME_USECS_PER_MIN);
	row[2] = i % 97 == 0 ? pq_null() : pq_f64((i % 500) * 0.125);
	row[3] = pq_i32(i % 10 == 0 ? 4 : 0);
	row[4] = pq_bool(i % 50 == 0);
}

/* NaN, infinities and signed zeros (allowed; nan_count and the zero rule). */
static void
gen_nan(const Sample *s, int i, PqValue *row)
{
	static const double v[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0, 1.25, -3.5};

	row[0] = i % 8 == 7 ? pq_null() : pq_f64(v[i % 7]);
	row[1] = pq_f64(i % 2 ? 0.0 : -0.0);
	row[2] = pq_f64(NAN);
	row[3] = pq_f64(i % 3 ? 2.5 : -0.0);
}

#define COL(n, t, o, d) {n, t, o, d}

static const Sample samples[] = {
	{"meter_none", 7, {COL("meter_id", PQ_STRING, false, true),
			COL("ts", PQ_TIMESTAMP_US, false, true),
			COL("kw", PQ_DOUBLE, true, true), COL("flags", PQ_INT16, true, true),
			COL("estimated", PQ_BOOLEAN, false, false),
			COL("note", PQ_STRING, true, false), COL("seq", PQ_INT32, false, false)},
	2500, PQ_CODEC_UNCOMPRESSED, 1000, 512, 0, 0, NULL, gen_meter},
	{"meter_zstd", 7, {COL("meter_id", PQ_STRING, false, true),
			COL("ts", PQ_TIMESTAMP_US, false, true),
			COL("kw", PQ_DOUBLE, true, true), COL("flags", PQ_INT16, true, true),
			COL("estimated", PQ_BOOLEAN, false, false),
			COL("note", PQ_STRING, true, false), COL("seq", PQ_INT32, false, false)},
	2500, PQ_CODEC_ZSTD, 1000, 512, 0, 0, NULL, gen_meter},
	{"meter_snappy", 7, {COL("meter_id", PQ_STRING, false, true),
			COL("ts", PQ_TIMESTAMP_US, false, true),
			COL("kw", PQ_DOUBLE, true, true), COL("flags", PQ_INT16, true, true),
			COL("estimated", PQ_BOOLEAN, false, false),
			COL("note", PQ_STRING, true, false), COL("seq", PQ_INT32, false, false)},
	2500, PQ_CODEC_SNAPPY, 1000, 512, 0, 0, NULL, gen_meter},
#define SMALL_COLS 5, {COL("meter_id", PQ_STRING, false, true), \
			COL("ts", PQ_TIMESTAMP_US, false, false), \
			COL("kw", PQ_DOUBLE, true, true), COL("flags", PQ_INT16, true, false), \
			COL("estimated", PQ_BOOLEAN, true, false)}
	{"rows_0", SMALL_COLS, 0, PQ_CODEC_UNCOMPRESSED, 0, 0, 0, 0, NULL, gen_small},
	{"rows_1", SMALL_COLS, 1, PQ_CODEC_ZSTD, 0, 0, 0, 0, NULL, gen_small},
	{"rows_8", SMALL_COLS, 8, PQ_CODEC_UNCOMPRESSED, 0, 0, 0, 0, NULL, gen_small},
	{"rows_9", SMALL_COLS, 9, PQ_CODEC_SNAPPY, 0, 0, 0, 0, NULL, gen_small},
	{"rows_1000", SMALL_COLS, 1000, PQ_CODEC_ZSTD, 0, 0, 0, 0, NULL, gen_small},
	{"all_null", 7, {COL("s", PQ_STRING, true, true),
			COL("t", PQ_TIMESTAMP_US, true, true), COL("d", PQ_DOUBLE, true, true),
			COL("i16", PQ_INT16, true, false), COL("b", PQ_BOOLEAN, true, false),
			COL("i32", PQ_INT32, true, true), COL("row", PQ_INT32, false, false)},
	300, PQ_CODEC_ZSTD, 128, 0, 0, 0, NULL, gen_all_null},
	{"one_entry_dict", 4, {COL("meter_id", PQ_STRING, false, true),
			COL("kw", PQ_DOUBLE, false, true), COL("i", PQ_INT32, false, true),
			COL("ts", PQ_TIMESTAMP_US, false, true)},
	1000, PQ_CODEC_UNCOMPRESSED, 0, 0, 0, 0, NULL, gen_one_entry},
	{"dict_fallback_plain", 3, {COL("id", PQ_STRING, false, true),
			COL("d", PQ_DOUBLE, false, true), COL("i", PQ_INT32, false, true)},
	5000, PQ_CODEC_ZSTD, 0, 0, 0, 100, "id=plain,d=plain,i=plain", gen_unique},
	{"dict_fallback_mixed", 3, {COL("id", PQ_STRING, false, true),
			COL("d", PQ_DOUBLE, false, true), COL("i", PQ_INT32, false, true)},
	5000, PQ_CODEC_UNCOMPRESSED, 0, 0, 50, 300, "id=mixed,d=mixed,i=mixed", gen_unique},
	{"no_dict", 6, {COL("s", PQ_STRING, true, false),
			COL("ts", PQ_TIMESTAMP_US, false, false), COL("d", PQ_DOUBLE, false, false),
			COL("i32", PQ_INT32, false, false), COL("i16", PQ_INT16, false, false),
			COL("b", PQ_BOOLEAN, false, false)},
	700, PQ_CODEC_SNAPPY, 300, 256, 0, 0, NULL, gen_no_dict},
	{"many_row_groups", 5, {COL("meter_id", PQ_STRING, false, true),
			COL("ts", PQ_TIMESTAMP_US, false, true), COL("kw", PQ_DOUBLE, true, true),
			COL("flags", PQ_INT16, false, true), COL("estimated", PQ_BOOLEAN, false, false)},
	20000, PQ_CODEC_ZSTD, 1024, 0, 100, 0, NULL, gen_many},
	{"default_options", 5, {COL("meter_id", PQ_STRING, false, true),
			COL("ts", PQ_TIMESTAMP_US, false, true), COL("kw", PQ_DOUBLE, true, true),
			COL("flags", PQ_INT16, false, true), COL("estimated", PQ_BOOLEAN, false, false)},
	250000, PQ_CODEC_ZSTD, 0, 0, 0, 0, NULL, gen_many},
	{"nan_double", 4, {COL("d", PQ_DOUBLE, true, true),
			COL("zero", PQ_DOUBLE, false, false), COL("allnan", PQ_DOUBLE, false, true),
			COL("negzero_min", PQ_DOUBLE, false, false)},
	50, PQ_CODEC_UNCOMPRESSED, 0, 0, 0, 0, NULL, gen_nan},
};

/* JSON string literal with escapes (UTF-8 passes through). */
static void
json_str(FILE *f, const char *p, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) p[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* One cell in the JSON encoding described in the banner. */
static void
json_value(FILE *f, PqType t, const PqValue *v)
{
	if (v->is_null)
	{
		fputs("null", f);
		return;
	}
	switch (t)
	{
		case PQ_STRING:
			json_str(f, v->v.str.ptr, v->v.str.len);
			break;
		case PQ_TIMESTAMP_US:
			fprintf(f, "\"%lld\"", (long long) (v->v.ts + PQ_PG_EPOCH_OFFSET_US));
			break;
		case PQ_DOUBLE:
			if (isnan(v->v.f64))
				fputs("\"NaN\"", f);
			else if (isinf(v->v.f64))
				fputs(v->v.f64 > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
			else if (v->v.f64 == 0 && signbit(v->v.f64))
				fputs("\"-0\"", f);
			else
				fprintf(f, "%.17g", v->v.f64);
			break;
		case PQ_INT32:
		case PQ_INT16:
			fprintf(f, "%d", (int) v->v.i32);
			break;
		case PQ_BOOLEAN:
			fputs(v->v.b ? "true" : "false", f);
			break;
	}
}

static const char *type_names[] = {
	"STRING", "TIMESTAMP_US", "DOUBLE", "INT32", "INT16", "BOOLEAN"
};

/* The sample's description (schema, options, metadata) as JSON. */
static void
json_header(FILE *f, const Sample *s, const PqOptions *o)
{
	fprintf(f, "{\"name\":\"%s\",\"file\":\"%s.parquet\",\"codec\":\"%s\","
			"\"row_group_rows\":%u,\"fallback\":\"%s\",\"columns\":[",
			s->name, s->name,
			s->codec == PQ_CODEC_ZSTD ? "ZSTD" : s->codec == PQ_CODEC_SNAPPY ?
			"SNAPPY" : "UNCOMPRESSED", o->row_group_rows,
			s->fallback ? s->fallback : "");
	for (int c = 0; c < s->ncols; c++)
		fprintf(f, "%s{\"name\":\"%s\",\"type\":\"%s\",\"optional\":%s,"
				"\"dictionary\":%s}", c ? "," : "", s->cols[c].name,
				type_names[s->cols[c].type], s->cols[c].optional ? "true" : "false",
				s->cols[c].dictionary ? "true" : "false");
	fprintf(f, "],\"kv\":[[\"meter_etl.sample\",\"%s\"],[\"export_id\",\"42\"],"
			"[\"schlüssel\",\"wert ü\"]],\"rows\":[", s->name);
}

/* Write one sample file and its JSON entry. */
static int
write_sample(const char *dir, const Sample *s, FILE *json)
{
	char		path[4096];
	char		err[256];
	PqOptions	o;
	PqValue		row[MAX_COLS];
	PqKeyValue	kv[] = {{"meter_etl.sample", s->name}, {"export_id", "42"},
	{"schlüssel", "wert ü"}};
	FILE	   *f;
	PqWriter   *w;
	uint64_t	rows,
				bytes;

	pq_options_init(&o);
	o.codec = s->codec;
	o.zstd_level = 3;
	if (s->row_group_rows)
		o.row_group_rows = s->row_group_rows;
	o.page_bytes = s->page_bytes;
	o.page_rows = s->page_rows;
	o.dict_max_entries = s->dict_max_entries;
	o.build_id = "interop";
	snprintf(path, sizeof(path), "%s/%s.parquet", dir, s->name);
	f = fopen(path, "wb");
	if (f == NULL)
	{
		perror(path);
		return 1;
	}
	w = pq_writer_create(s->cols, s->ncols, &o, pq_sink_stdio(f), err, sizeof(err));
	if (w == NULL)
	{
		fprintf(stderr, "%s: %s\n", s->name, err);
		return 1;
	}
	pq_options_init(&o);
	if (s->row_group_rows)
		o.row_group_rows = s->row_group_rows;
	json_header(json, s, &o);
	for (int i = 0; i < s->nrows; i++)
	{
		s->gen(s, i, row);
		if (pq_write_row(w, row) != 0)
		{
			fprintf(stderr, "%s row %d: %s\n", s->name, i, pq_writer_errmsg(w));
			return 1;
		}
		fputs(i ? ",[" : "[", json);
		for (int c = 0; c < s->ncols; c++)
		{
			if (c)
				fputc(',', json);
			json_value(json, s->cols[c].type, &row[c]);
		}
		fputc(']', json);
	}
	fputs("]}", json);
	if (pq_writer_close(w, kv, 3, &rows, &bytes) != 0)
	{
		fprintf(stderr, "%s close: %s\n", s->name, pq_writer_errmsg(w));
		return 1;
	}
	pq_writer_free(w);
	if (fclose(f) != 0)
		return 1;
	printf("%-22s %6llu rows %8llu bytes\n", s->name, (unsigned long long) rows,
		   (unsigned long long) bytes);
	return 0;
}

/* Write every sample and the manifest. */
int
main(int argc, char **argv)
{
	char		path[4096];
	FILE	   *json;
	int			rc = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/expected.json", argv[1]);
	json = fopen(path, "w");
	if (json == NULL)
	{
		perror(path);
		return 1;
	}
	fprintf(json, "{\"created_by\":\"meter_etl version %s (build interop)\","
			"\"samples\":[", PQ_VERSION_STRING);
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
	{
		if (i)
			fputc(',', json);
		rc |= write_sample(argv[1], &samples[i], json);
	}
	fputs("]}\n", json);
	if (fclose(json) != 0)
		rc = 1;
	return rc;
}
