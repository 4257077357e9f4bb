/*
 * test_parser_thread.c - cmocka tests of the parser thread (src/parser_thread.c)
 *
 * The threaded path must hand over exactly what the reader produces
 * inline: the same readings and rejects, in the same order, with the same
 * statistics, for any chunking; and it must stop cleanly at any point.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture_profiles.h"
#include "test_helpers.h"
#include "real_data.h"
#include "core/read/parser_thread.h"

/* A text log of events, to compare the two paths. */
typedef struct Log
{
	char	   *s;
	size_t		len;
	size_t		cap;
} Log;

static void
logf_(Log *l, const char *fmt, ...)
{
	va_list		ap;
	char		buf[4096];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (l->len + n + 1 > l->cap)
	{
		l->cap = (l->len + n + 1) * 2;
		l->s = realloc(l->s, l->cap);
	}
	memcpy(l->s + l->len, buf, n + 1);
	l->len += n;
}

static void
log_reading(void *ctx, const MeReading *r)
{
	logf_(ctx, "R %.*s|%s|%d|%lld|%.17g|%d|%d|%lld\n", (int) r->meter_len, r->meter_id, r->channel,
		  r->signed_channel, (long long) r->ts, r->kw, r->flags, r->interval_s, (long long) r->line_no);
}

static void
log_reject(void *ctx, const MeReject *r)
{
	logf_(ctx, "J %d|%s|%lld|%.*s|%s|%.*s|%.*s|%.*s|%.*s|%d|%lld\n", r->reason,
		  r->detail ? r->detail : "(null)", (long long) r->line_no,
		  (int) (r->meter_id ? r->meter_len : 6), r->meter_id ? r->meter_id : "(null)",
		  r->channel ? r->channel : "(null)",
		  (int) (r->ts_raw ? r->ts_len : 6), r->ts_raw ? r->ts_raw : "(null)",
		  (int) (r->value_raw ? r->value_len : 6), r->value_raw ? r->value_raw : "(null)",
		  (int) (r->unit_raw ? r->unit_len : 6), r->unit_raw ? r->unit_raw : "(null)",
		  (int) (r->line_len > 200 ? 200 : r->line_len), r->line, r->has_ts,
		  (long long) (r->has_ts ? r->ts : 0));
}

/* Inline reference run. */
static bool
run_inline(const MeProfile *p, const MeZone *zone, const char *data, size_t len, size_t chunk,
		   Log *log, MeReaderStats *st)
{
	MeRules		rules = test_rules();
	MeReaderCallbacks cb = {log_reading, log_reject};
	MeZone		z = *zone;
	MeReader   *r = me_reader_create(p, &rules, &z, "stem", &cb, log, 4096);
	bool		ok = true;

	for (size_t off = 0; off < len && ok; off += chunk)
		ok = me_reader_feed(r, data + off, len - off < chunk ? len - off : chunk);
	if (ok)
		ok = me_reader_finish(r);
	*st = *me_reader_stats(r);
	me_reader_free(r);
	return ok;
}

/* Threaded run, pushing chunks and replaying blocks as a backend would. */
static bool
run_threaded(const MeProfile *p, const MeZone *zone, const char *data, size_t len, size_t chunk,
			 Log *log, MeReaderStats *st)
{
	MeRules		rules = test_rules();
	MeReaderCallbacks cb = {log_reading, log_reject};
	MeParser   *pp = me_parser_start(p, &rules, zone, "stem", 4096);
	size_t		off = 0;
	char		err[512];
	bool		ended = false;
	int			rc = 0;

	assert_non_null(pp);
	while (rc != -1)
	{
		if (off < len)
		{
			size_t		n = len - off < chunk ? len - off : chunk;

			if (me_parser_push(pp, data + off, n, 0))
				off += n;
		}
		else if (!ended)
		{
			me_parser_end_input(pp);
			ended = true;
		}
		rc = me_parser_next(pp, off < len ? 0 : 50, &cb, log);
	}
	{
		bool		oom;
		bool		ok = me_parser_result(pp, st, err, sizeof(err), &oom);

		me_parser_stop(pp);
		return ok;
	}
}

/*
 * realloc calls of this binary's objects come here (-Wl,--wrap=realloc):
 * with fail_block_realloc set, a request of a parser block's size fails, as
 * it would in a backend out of memory, while the reader's small buffers
 * still get theirs.
 */
static volatile bool fail_block_realloc;
void	   *__real_realloc(void *ptr, size_t size);
void	   *__wrap_realloc(void *ptr, size_t size);

void *
__wrap_realloc(void *ptr, size_t size)
{
	if (fail_block_realloc && size >= 256 * 1024)
		return NULL;
	return __real_realloc(ptr, size);
}

/* Out of memory in the thread is reported as such, not as a format error. */
static void
test_out_of_memory_is_reported(void **state)
{
	MeProfile	p = profile_generic();
	MeRules		rules = test_rules();
	MeZone		utc;
	MeReaderCallbacks cb = {log_reading, log_reject};
	Log			log = {0};
	MeReaderStats st;
	MeParser   *pp;
	const char *data = "meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\n";
	char		err[512];
	bool		oom = false;
	int			rc = 0;

	me_zone_init_fixed(&utc, 0);
	fail_block_realloc = true;
	pp = me_parser_start(&p, &rules, &utc, "stem", 4096);
	assert_non_null(pp);
	assert_true(me_parser_push(pp, data, strlen(data), 1000));
	me_parser_end_input(pp);
	while (rc != -1)
		rc = me_parser_next(pp, 50, &cb, &log);
	assert_false(me_parser_result(pp, &st, err, sizeof(err), &oom));
	assert_true(oom);
	me_parser_stop(pp);
	fail_block_realloc = false;
	/* and a normal run says it was not */
	pp = me_parser_start(&p, &rules, &utc, "stem", 4096);
	assert_true(me_parser_push(pp, data, strlen(data), 1000));
	me_parser_end_input(pp);
	for (rc = 0; rc != -1;)
		rc = me_parser_next(pp, 50, &cb, &log);
	assert_true(me_parser_result(pp, &st, err, sizeof(err), &oom));
	assert_false(oom);
	assert_int_equal(st.readings_ok, 1);
	me_parser_stop(pp);
	free(log.s);
}

/* Both paths, several chunk sizes: identical logs, stats and verdicts. */
static void
compare(const MeProfile *p, const MeZone *zone, const char *data, size_t len)
{
	static const size_t chunks[] = {1, 7, 4096, 1 << 20};

	/* tiny chunks are slow on big inputs */
	for (size_t c = len > 100000 ? 2 : 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
	{
		Log			a = {0},
					b = {0};
		MeReaderStats sa,
					sb;
		bool		oka = run_inline(p, zone, data, len, chunks[c], &a, &sa);
		bool		okb = run_threaded(p, zone, data, len, chunks[c], &b, &sb);

		assert_int_equal(oka, okb);
		assert_int_equal(sa.readings_read, sb.readings_read);
		assert_int_equal(sa.readings_ok, sb.readings_ok);
		assert_int_equal(sa.readings_rejected, sb.readings_rejected);
		assert_int_equal(sa.lines_read, sb.lines_read);
		assert_int_equal(a.len, b.len);
		if (a.len > 0)
			assert_memory_equal(a.s, b.s, a.len);
		free(a.s);
		free(b.s);
	}
}

static void
test_fixture_layouts(void **state)
{
	MeProfile	g = profile_generic();
	MeProfile	gn = profile_generic_net();
	MeProfile	e = profile_esb();
	MeZone		utc,
				dublin;
	int32_t		std = 0;
	const char *generic =
		"meter_id,timestamp,value,unit\n"
		"M1,2024-01-01T00:00:00Z,1.5,kW\n"
		"M1,2024-01-01T00:15:00Z,abc,kW\n"
		",2024-01-01T00:30:00Z,1,kW\n"
		"M1,2024-01-01T00:45:00Z,\"1,kW\n"
		"M\xff,2024-01-01T01:00:00Z,1,kW\n"
		"M1,2024-01-01T01:15:00Z,-2,W\n"
		"M2,2024-01-01T01:30:00Z,Null,kWh\n";
	const char *esb =
		"MPRN,Meter Serial Number,Read Value,Read Type,Read Date and End Time\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 02:00\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 01:30\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 01:30\n"
		"X,Y,0.5,Active Export Interval (kWh),31-03-2024 01:30\n";

	/* a generation channel's clipped negatives cross with their 0 kW and flags */
	const char *solar =
		"meter_id,timestamp,value,unit,channel\n"
		"M1,2024-06-01T00:00:00Z,-0.05,kW,solar\n"
		"M1,2024-06-01T00:15:10Z,-100,W,solar\n"
		"M1,2024-06-01T00:30:00Z,-0.5,kW,solar\n"
		"M1,2024-06-01T00:00:00Z,-0.05,kW,net\n"
		"M1,2024-06-01T00:00:00Z,-0.05,kW,import\n";

	me_zone_init_fixed(&utc, 0);
	me_zone_init(&dublin, eu_gmtoff, &std);
	compare(&g, &utc, generic, strlen(generic));
	compare(&gn, &utc, solar, strlen(solar));
	compare(&e, &dublin, esb, strlen(esb));
	compare(&g, &utc, "", 0);
	compare(&g, &utc, "nope,nope\n1,2\n", 14);	/* header mismatch fails the file */
}

/* Many blocks: a large generated file with rejects sprinkled in. */
static void
test_many_blocks(void **state)
{
	MeProfile	g = profile_generic();
	MeZone		utc;
	size_t		cap = 8 << 20,
				len = 0;
	char	   *data = malloc(cap);

	me_zone_init_fixed(&utc, 0);
	len += snprintf(data + len, cap - len, "meter_id,timestamp,value,unit\n");
	for (int i = 0; len + 100 < cap; i++)
		len += snprintf(data + len, cap - len, "M%05d,2024-01-%02dT%02d:%02d:00Z,%s,kW\n",
						i % 977, 1 + i % 28, i % 24, (i % 4) * 15, i % 101 == 0 ? "x" : "0.25");
	compare(&g, &utc, data, len);
	free(data);
}

/* Stopping at any point leaks nothing and never hangs. */
static void
test_stop_anytime(void **state)
{
	MeProfile	g = profile_generic();
	MeRules		rules = test_rules();
	MeZone		utc;
	MeReaderCallbacks cb = {log_reading, log_reject};
	char		line[] = "M1,2024-01-01T00:00:00Z,1,kW\n";

	me_zone_init_fixed(&utc, 0);
	for (int stop_after = 0; stop_after < 40; stop_after += 3)
	{
		MeParser   *pp = me_parser_start(&g, &rules, &utc, "s", 4096);
		Log			log = {0};

		me_parser_push(pp, "meter_id,timestamp,value,unit\n", 30, 100);
		for (int i = 0; i < stop_after; i++)
		{
			me_parser_push(pp, line, sizeof(line) - 1, 100);
			if (i % 5 == 0)
				me_parser_next(pp, 0, &cb, &log);
		}
		me_parser_stop(pp);		/* without ending the input */
		free(log.s);
	}
}

static void
test_real_files(void **state)
{
	static const struct
	{
		const char *path;
		int			profile;
	}			files[] = {
		{"lcl_london_halfhourly/MAC000002.csv", 1},
		{"uci_household_power/household_power_consumption_2006-12_first1MiB.txt", 2},
		{"esb_ireland_hdf/HDF_EXAMPLE_kW_2023.csv", 3},
		{"au_vic_meter_exports/example-03-vic-ausnetservices-email-16122014-NEM12.csv", 5},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		size_t		n = 0;
		char	   *data = real_data_read(files[i].path, &n);
		MeProfile	p[6] = {profile_generic(), profile_lcl(), profile_uci(), profile_esb(),
		profile_wide(), profile_nem12()};
		MeZone		z;
		int32_t		std = files[i].profile == 2 ? 3600 : 0;

		if (data == NULL)
			real_data_missing(files[i].path);
		if (files[i].profile == 5)
			me_zone_init_fixed(&z, 10 * 3600);
		else if (files[i].profile == 1)
			me_zone_init_fixed(&z, 0);
		else
			me_zone_init(&z, eu_gmtoff, &std);
		compare(&p[files[i].profile], &z, data, n);
		free(data);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_layouts),
		cmocka_unit_test(test_many_blocks),
		cmocka_unit_test(test_stop_anytime),
		cmocka_unit_test(test_out_of_memory_is_reported),
		cmocka_unit_test(test_real_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
