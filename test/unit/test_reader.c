/*
 * test_reader.c - cmocka tests of the CSV-to-reading path (src/reader.c)
 *
 * Every test checks the accounting invariant: each reading the file holds
 * comes out exactly once, as a reading or as a reject with a reason.  Real
 * vendor files are read in place from ../shared/data/real when present
 * (MeterEtlRealData overrides the location); those tests skip otherwise,
 * and fail with CI=true (real_data.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_helpers.h"
#include "core/me_alloc.h"
#include "core/read/csvmap.h"
#include "core/read/parse.h"
#include "core/read/reader.h"

/* ------------------------------------------------------------ collector */

typedef struct Got
{
	char		meter[72];
	char		channel[72];
	int64_t		ts;
	double		kw;
	int			flags;
	int64_t		line;
} Got;

typedef struct Rej
{
	MeReason	reason;
	int64_t		line;
	char		detail[128];
	char		meter[72];
} Rej;

typedef struct Collect
{
	Got		   *got;
	int			ngot;
	int			capgot;
	Rej		   *rej;
	int			nrej;
	int			caprej;
} Collect;

static void
on_reading(void *ctx, const MeReading *r)
{
	Collect    *c = ctx;
	Got		   *g;

	if (c->ngot == c->capgot)
	{
		c->capgot = c->capgot ? c->capgot * 2 : 64;
		c->got = realloc(c->got, sizeof(Got) * c->capgot);
	}
	g = &c->got[c->ngot++];
	snprintf(g->meter, sizeof(g->meter), "%.*s", (int) r->meter_len, r->meter_id);
	snprintf(g->channel, sizeof(g->channel), "%s", r->channel);
	g->ts = r->ts;
	g->kw = r->kw;
	g->flags = r->flags;
	g->line = r->line_no;
}

static void
on_reject(void *ctx, const MeReject *r)
{
	Collect    *c = ctx;
	Rej		   *j;

	if (c->nrej == c->caprej)
	{
		c->caprej = c->caprej ? c->caprej * 2 : 64;
		c->rej = realloc(c->rej, sizeof(Rej) * c->caprej);
	}
	j = &c->rej[c->nrej++];
	j->reason = r->reason;
	j->line = r->line_no;
	snprintf(j->detail, sizeof(j->detail), "%s", r->detail ? r->detail : "");
	snprintf(j->meter, sizeof(j->meter), "%.*s", (int) (r->meter_id ? r->meter_len : 0),
			 r->meter_id ? r->meter_id : "");
	assert_non_null(r->line);
}

static void
collect_free(Collect *c)
{
	free(c->got);
	free(c->rej);
	memset(c, 0, sizeof(*c));
}

#include "fixture_profiles.h"
#include "real_data.h"

/* ------------------------------------------------------------ running */

/* Feed data in chunks of the given size; returns the reader's success. */
static bool
run(const MeProfile *p, MeZone *zone, const char *data, size_t len, size_t chunk,
	Collect *c, MeReaderStats *stats, char *err, size_t errlen)
{
	MeRules		rules = test_rules();
	MeReaderCallbacks cb = {on_reading, on_reject};
	MeReader   *r;
	MeZone		utc;
	bool		ok = true;

	if (zone == NULL)
	{
		me_zone_init_fixed(&utc, 0);
		zone = &utc;
	}
	memset(c, 0, sizeof(*c));
	r = me_reader_create(p, &rules, zone, "stem", &cb, c, 0);
	for (size_t off = 0; off < len && ok; off += chunk)
		ok = me_reader_feed(r, data + off, len - off < chunk ? len - off : chunk);
	if (ok)
		ok = me_reader_finish(r);
	*stats = *me_reader_stats(r);
	if (err)
		snprintf(err, errlen, "%s", me_reader_error(r));
	me_reader_free(r);
	/* the accounting invariant */
	assert_int_equal(stats->readings_read, stats->readings_ok + stats->readings_rejected);
	assert_int_equal(stats->readings_ok, c->ngot);
	assert_int_equal(stats->readings_rejected, c->nrej);
	return ok;
}

/* Run with the whole buffer as one chunk. */
static bool
run1(const MeProfile *p, const char *data, Collect *c, MeReaderStats *st)
{
	return run(p, NULL, data, strlen(data), strlen(data) + 1, c, st, NULL, 0);
}

/* Count rejects with a reason. */
static int
nreason(const Collect *c, MeReason reason)
{
	int			n = 0;

	for (int i = 0; i < c->nrej; i++)
		n += c->rej[i].reason == reason;
	return n;
}

/* ------------------------------------------------------------ generic */

static void
test_generic_units_and_offsets(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;
	const char *data =
		"meter_id,timestamp,value,unit\n"
		"M1,2024-01-01T00:00:00Z,1.5,kW\n"
		"M1,2024-01-01T00:15:00+00:00,1500,W\n"
		"M1,2024-01-01T01:30:00+01:00,0.25,kWh\n"
		"M1,2024-01-01 00:45:00+0000,250,Wh\n"
		"M2,2024-01-01T00:00:00Z,0.002,MW\n";

	assert_true(run1(&p, data, &c, &st));
	assert_int_equal(st.lines_read, 5);
	assert_int_equal(c.ngot, 5);
	assert_string_equal(c.got[0].meter, "M1");
	assert_string_equal(c.got[0].channel, "import");
	assert_true(c.got[0].ts == me_make_ts(2024, 1, 1, 0, 0, 0, 0));
	assert_true(c.got[0].kw == 1.5);
	assert_true(c.got[1].kw == 1.5);
	assert_true(c.got[2].ts == me_make_ts(2024, 1, 1, 0, 30, 0, 0));
	assert_true(c.got[2].kw == 1.0);	/* 0.25 kWh per 15 min */
	assert_true(c.got[3].kw == 1.0);
	assert_true(c.got[4].kw == 2.0);
	assert_int_equal(c.got[1].line, 3);
	collect_free(&c);
}

static void
test_generic_reasons(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;
	const char *data =
		"meter_id,timestamp,value,unit\n"
		"M1,2024-01-01T00:00:00Z,-1,kW\n"	/* 2 negative */
		"M1,2024-01-01T00:15:00Z,abc,kW\n"	/* 3 bad value */
		"M1,2024-01-01T00:30:00Z,,kW\n"	/* 4 missing */
		"M1,2024-01-01T00:45:00Z,Null,kW\n"	/* 5 missing marker */
		"M1,2024-01-01T01:00:00Z,1,kVA\n"	/* 6 bad unit */
		"M1,2024-01-01T01:15:00Z,900,kW\n"	/* 7 implausible */
		"M1,2024-13-01T01:30:00Z,1,kW\n"	/* 8 bad timestamp */
		"M1,1999-12-31T23:45:00Z,1,kW\n"	/* 9 out of range */
		"M1,2024-01-01T01:37:00Z,1,kW\n"	/* 10 off grid */
		"M1,2024-01-01T01:45:10Z,1,kW\n"	/* 11 snapped */
		",2024-01-01T02:00:00Z,1,kW\n"	/* 12 missing meter */
		"M1,2024-01-01T02:15:00Z,1\n"	/* 13 wrong column count */
		"M1,,1,kW\n"			/* 14 missing timestamp */
		"M1,2024-01-01T02:30:00Z,nan,kW\n"	/* 15 nan: marker */
		"M1,2024-01-01T02:45:00Z,inf,kW\n"	/* 16 inf */
		"M1,2024-01-01T03:00:00Z,1e400,kW\n";	/* 17 overflow */

	assert_true(run1(&p, data, &c, &st));
	assert_int_equal(st.readings_read, 16);
	assert_int_equal(nreason(&c, ME_R_NEGATIVE_VALUE), 1);
	assert_int_equal(nreason(&c, ME_R_BAD_VALUE), 3);
	assert_int_equal(nreason(&c, ME_R_MISSING_VALUE), 3);
	assert_int_equal(nreason(&c, ME_R_BAD_UNIT), 1);
	assert_int_equal(nreason(&c, ME_R_IMPLAUSIBLE_VALUE), 1);
	assert_int_equal(nreason(&c, ME_R_BAD_TIMESTAMP), 1);
	assert_int_equal(nreason(&c, ME_R_TIMESTAMP_OUT_OF_RANGE), 1);
	assert_int_equal(nreason(&c, ME_R_OFF_GRID_TIMESTAMP), 1);
	assert_int_equal(nreason(&c, ME_R_MISSING_FIELD), 2);
	assert_int_equal(nreason(&c, ME_R_PARSE_ERROR), 1);
	assert_int_equal(c.ngot, 1);
	assert_true(c.got[0].ts == me_make_ts(2024, 1, 1, 1, 45, 0, 0));
	assert_true(c.got[0].flags & ME_FLAG_TIME_ADJUSTED);
	assert_int_equal(c.rej[0].line, 2);
	assert_string_equal(c.rej[0].meter, "M1");
	collect_free(&c);
}

static void
test_generic_channel_column(void **state)
{
	MeProfile	p = profile_generic_net();
	Collect		c;
	MeReaderStats st;
	const char *data =
		"meter_id,timestamp,value,unit,channel\n"
		"M1,2024-01-01T00:00:00Z,1,kW,Import\n"
		"M1,2024-01-01T00:00:00Z,-2,kW,NET\n"
		"M1,2024-01-01T00:00:00Z,-2,kW,export\n";

	assert_true(run1(&p, data, &c, &st));
	assert_int_equal(c.ngot, 2);
	assert_string_equal(c.got[0].channel, "import");
	assert_string_equal(c.got[1].channel, "net");
	assert_true(c.got[1].kw == -2.0);
	assert_int_equal(nreason(&c, ME_R_NEGATIVE_VALUE), 1);
	collect_free(&c);
}

/*
 * A generation channel's small negatives (an inverter's standby draw) are
 * stored as 0 kW with the edited flag, in any unit; beyond the channel's
 * tolerance, on a channel without one, they are negative_value; a signed
 * channel keeps its negatives.  Every reading still leaves exactly once.
 */
static void
test_generation_tolerance(void **state)
{
	MeProfile	p = profile_generic_net();
	Collect		c;
	MeReaderStats st;
	const char *data =
		"meter_id,timestamp,value,unit,channel\n"
		"P1,2024-06-01T00:00:00Z,-0.068,kW,solar\n"	/* 2 clipped */
		"P1,2024-06-01T00:15:00Z,-0.1,kW,solar\n"	/* 3 clipped: the bound */
		"P1,2024-06-01T00:30:00Z,-100,W,solar\n"	/* 4 clipped: 100 W is the bound */
		"P1,2024-06-01T00:45:00Z,-0.1001,kW,solar\n"	/* 5 negative_value */
		"P1,2024-06-01T01:00:00Z,-0.02,kWh,Solar\n"	/* 6 clipped: -0.08 kW */
		"P1,2024-06-01T01:15:10Z,-0.01,kW,solar\n"	/* 7 clipped and snapped */
		"P1,2024-06-01T01:30:00Z,2.5,kW,solar\n"	/* 8 generation as read */
		"P1,2024-06-01T00:00:00Z,-0.05,kW,net\n"	/* 9 signed: as read */
		"P1,2024-06-01T00:00:00Z,-0.05,kW,import\n"	/* 10 negative_value */
		"P1,2024-06-01T01:45:00Z,,kW,solar\n";	/* 11 missing_value */

	assert_true(run1(&p, data, &c, &st));
	assert_int_equal(st.readings_read, 10);
	assert_int_equal(c.ngot, 7);
	assert_int_equal(nreason(&c, ME_R_NEGATIVE_VALUE), 2);
	assert_int_equal(nreason(&c, ME_R_MISSING_VALUE), 1);
	assert_int_equal(c.rej[0].line, 5);
	assert_int_equal(c.rej[1].line, 10);
	for (int i = 0; i < 5; i++)
	{
		assert_string_equal(c.got[i].channel, "solar");
		assert_true(c.got[i].kw == 0);
		assert_int_equal(c.got[i].flags & ME_FLAG_EDITED, ME_FLAG_EDITED);
	}
	assert_int_equal(c.got[0].line, 2);
	assert_int_equal(c.got[3].line, 6);
	assert_int_equal(c.got[4].flags, ME_FLAG_EDITED | ME_FLAG_TIME_ADJUSTED);
	assert_true(c.got[4].ts == me_make_ts(2024, 6, 1, 1, 15, 0, 0));
	assert_true(c.got[5].kw == 2.5);
	assert_int_equal(c.got[5].flags, 0);
	assert_string_equal(c.got[6].channel, "net");
	assert_true(c.got[6].kw == -0.05);
	assert_int_equal(c.got[6].flags, 0);
	collect_free(&c);

	/* without the tolerance every negative of solar is quarantined */
	{
		MeRules		rules = test_rules();
		MeReaderCallbacks cb = {on_reading, on_reject};
		MeZone		utc;
		MeReader   *r;

		rules.nneg_tolerance = 0;
		me_zone_init_fixed(&utc, 0);
		memset(&c, 0, sizeof(c));
		r = me_reader_create(&p, &rules, &utc, "stem", &cb, &c, 0);
		assert_true(me_reader_feed(r, data, strlen(data)) && me_reader_finish(r));
		assert_int_equal(nreason(&c, ME_R_NEGATIVE_VALUE), 7);
		assert_int_equal(c.ngot, 2);
		me_reader_free(r);
		collect_free(&c);
	}

	/* a profile that makes solar signed keeps its negatives as read */
	{
		char	   *both[] = {"net", "solar"};

		p.signed_channels = both;
		p.nsigned = 2;
		assert_true(run1(&p, data, &c, &st));
		assert_int_equal(nreason(&c, ME_R_NEGATIVE_VALUE), 1);
		assert_true(c.got[0].kw == -0.068);
		assert_int_equal(c.got[0].flags, 0);
		collect_free(&c);
	}
}

/* ------------------------------------------------------------ malformed */

static void
test_malformed_lines(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;
	const char *data =
		"meter_id,timestamp,value,unit\n"
		"M1,2024-01-01T00:00:00Z,\"1.5\",kW\n"	/* 2 quoted ok */
		"M1,2024-01-01T00:15:00Z,\"1.5,kW\n"	/* 3 unterminated quote */
		"M1,2024-01-01T00:30:00Z,1\"5,kW\n"	/* 4 quote inside field */
		"M1,2024-01-01T00:45:00Z,\"1\"x,kW\n"	/* 5 text after a quote */
		"\n"					/* blank */
		"   \n"					/* blanks only */
		"M\xff" "1,2024-01-01T01:00:00Z,1,kW\n"	/* 8 invalid UTF-8 */
		"M1,2024-01-01T01:15:00Z,1,kW\n";	/* 9 ok after all that */

	assert_true(run1(&p, data, &c, &st));
	assert_int_equal(st.lines_read, 6);
	assert_int_equal(st.blank_lines, 2);
	assert_int_equal(c.ngot, 2);
	assert_int_equal(nreason(&c, ME_R_PARSE_ERROR), 3);
	assert_int_equal(nreason(&c, ME_R_ENCODING_ERROR), 1);
	assert_int_equal(c.rej[0].line, 3);
	assert_string_equal(c.rej[0].detail, "unterminated quoted field");
	assert_int_equal(c.rej[3].line, 8);
	assert_int_equal(c.got[1].line, 9);
	collect_free(&c);
}

static void
test_nul_bytes_and_junk(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;
	const char	data[] = "meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1\0,kW\n\x01\x02\x03\n";

	assert_true(run(&p, NULL, data, sizeof(data) - 1, 4096, &c, &st, NULL, 0));
	assert_int_equal(st.lines_read, 2);
	assert_int_equal(nreason(&c, ME_R_ENCODING_ERROR), 1);
	assert_int_equal(nreason(&c, ME_R_PARSE_ERROR), 1);
	collect_free(&c);
}

static void
test_line_endings_bom_and_chunks(void **state)
{
	MeProfile	p = profile_generic();
	const char *variants[] = {
		"\xEF\xBB\xBFmeter_id,timestamp,value,unit\r\nM1,2024-01-01T00:00:00Z,1,kW\r\nM1,2024-01-01T00:15:00Z,2,kW\r\n",
		"meter_id,timestamp,value,unit\rM1,2024-01-01T00:00:00Z,1,kW\rM1,2024-01-01T00:15:00Z,2,kW",
		"meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\r\nM1,2024-01-01T00:15:00Z,2,kW\r",
	};

	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
		for (size_t chunk = 1; chunk <= 9; chunk++)
		{
			Collect		c;
			MeReaderStats st;

			assert_true(run(&p, NULL, variants[v], strlen(variants[v]), chunk, &c, &st, NULL, 0));
			assert_int_equal(c.ngot, 2);
			assert_int_equal(c.nrej, 0);
			assert_int_equal(c.got[1].line, 3);
			assert_true(c.got[1].kw == 2.0);
			collect_free(&c);
		}
}

static void
test_empty_and_header_only(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;

	assert_true(run1(&p, "", &c, &st));
	assert_int_equal(st.lines_read, 0);
	assert_int_equal(st.readings_read, 0);
	collect_free(&c);
	assert_true(run1(&p, "meter_id,timestamp,value,unit\n", &c, &st));
	assert_int_equal(st.lines_read, 0);
	collect_free(&c);
	assert_true(run1(&p, "meter_id,timestamp,value,unit", &c, &st));
	assert_int_equal(st.readings_read, 0);
	collect_free(&c);
}

static void
test_header_mismatch_fails_file(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;
	char		err[512];
	const char *data = "meter,when,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\n";

	assert_false(run(&p, NULL, data, strlen(data), 100, &c, &st, err, sizeof(err)));
	assert_non_null(strstr(err, "meter_id"));
	collect_free(&c);
}

static void
test_overlong_line(void **state)
{
	MeProfile	p = profile_generic();
	MeRules		rules = test_rules();
	MeReaderCallbacks cb = {on_reading, on_reject};
	MeZone		utc;
	Collect		c;
	MeReader   *r;
	char	   *big = malloc(5000);

	memset(big, 'x', 5000);
	memset(&c, 0, sizeof(c));
	me_zone_init_fixed(&utc, 0);
	r = me_reader_create(&p, &rules, &utc, "s", &cb, &c, 1000);
	assert_true(me_reader_feed(r, "meter_id,timestamp,value,unit\n", 30));
	for (int i = 0; i < 3; i++)
		assert_true(me_reader_feed(r, big, 5000));
	assert_true(me_reader_feed(r, "\nM1,2024-01-01T00:00:00Z,1,kW\n", 30));
	assert_true(me_reader_finish(r));
	assert_int_equal(c.nrej, 1);
	assert_int_equal(c.rej[0].reason, ME_R_PARSE_ERROR);
	assert_int_equal(c.ngot, 1);
	assert_int_equal(c.got[0].line, 3);
	me_reader_free(r);
	collect_free(&c);
	free(big);
}

/* ------------------------------------------------------------ DST */

static void
test_dst_local_times(void **state)
{
	MeProfile	p = profile_lcl();
	MeZone		london;
	int32_t		std = 0;
	Collect		c;
	MeReaderStats st;
	const char *data =
		"LCLid,tstp,energy(kWh/hh)\n"
		"A,2024-03-31 00:30:00,0.5\n"	/* GMT */
		"A,2024-03-31 01:30:00,0.5\n"	/* skipped hour */
		"A,2024-03-31 02:00:00,0.5\n"	/* BST = 01:00 UTC */
		"A,2024-10-27 01:00:00,0.5\n"	/* first: BST = 00:00 UTC */
		"A,2024-10-27 01:00:00,0.7\n"	/* second: GMT = 01:00 UTC */
		"B,2024-10-27 01:00:00,0.5\n";	/* another meter: first again */

	me_zone_init(&london, eu_gmtoff, &std);
	assert_true(run(&p, &london, data, strlen(data), 7, &c, &st, NULL, 0));
	assert_int_equal(nreason(&c, ME_R_NONEXISTENT_LOCAL_TIME), 1);
	assert_int_equal(c.ngot, 5);
	assert_true(c.got[0].ts == me_make_ts(2024, 3, 31, 0, 30, 0, 0));
	assert_true(c.got[1].ts == me_make_ts(2024, 3, 31, 1, 0, 0, 0));
	assert_true(c.got[2].ts == me_make_ts(2024, 10, 27, 0, 0, 0, 0));
	assert_true(c.got[3].ts == me_make_ts(2024, 10, 27, 1, 0, 0, 0));
	assert_true(c.got[4].ts == me_make_ts(2024, 10, 27, 0, 0, 0, 0));
	collect_free(&c);
}

static void
test_dst_newest_first_end_times(void **state)
{
	MeProfile	p = profile_esb();
	MeZone		dublin;
	int32_t		std = 0;
	Collect		c;
	MeReaderStats st;
	const char *data =
		"MPRN,Meter Serial Number,Read Value,Read Type,Read Date and End Time\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 02:00\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 01:30\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 01:00\n"	/* later instant */
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 01:30\n"
		"X,Y,1.0,Active Import Interval (kW),27-10-2024 01:00\n"	/* earlier instant */
		"X,Y,0.5,Active Export Interval (kWh),27-10-2024 00:30\n";

	me_zone_init(&dublin, eu_gmtoff, &std);
	assert_true(run(&p, &dublin, data, strlen(data), 64, &c, &st, NULL, 0));
	assert_int_equal(c.nrej, 0);
	/* end 02:00 GMT = 02:00 UTC, start 01:30 UTC */
	assert_true(c.got[0].ts == me_make_ts(2024, 10, 27, 1, 30, 0, 0));
	assert_true(c.got[1].ts == me_make_ts(2024, 10, 27, 1, 0, 0, 0));
	assert_true(c.got[2].ts == me_make_ts(2024, 10, 27, 0, 30, 0, 0));
	assert_true(c.got[3].ts == me_make_ts(2024, 10, 27, 0, 0, 0, 0));
	assert_true(c.got[4].ts == me_make_ts(2024, 10, 26, 23, 30, 0, 0));
	assert_string_equal(c.got[5].channel, "export");
	assert_true(c.got[5].kw == 1.0);
	collect_free(&c);
}

/* ------------------------------------------------------------ layouts */

static void
test_wide_layout(void **state)
{
	MeProfile	p = profile_wide();
	Collect		c;
	MeReaderStats st;
	MeZone		aest;
	char		data[4096];
	size_t		o = 0;

	o += snprintf(data + o, sizeof(data) - o, "\"NMI\",\"METER SERIAL NUMBER\",\"CON/GEN\",\"DATE\",\"ESTIMATED?\"");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",\"%02d:%02d - %02d:%02d\"", k / 2, k % 2 * 30,
					  (k + 1) / 2 % 24, (k + 1) % 2 * 30);
	o += snprintf(data + o, sizeof(data) - o, "\n\"6001\",\"0204324\",\"Consumption\",\"01/07/2014\",\"No\"");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",%s", k == 5 ? "" : "0.5");
	o += snprintf(data + o, sizeof(data) - o, "\n\"6001\",\"0204324\",\"Generation\",\"02/07/2014\",\"Yes\",1,2\n");
	me_zone_init_fixed(&aest, 10 * 3600);
	assert_true(run(&p, &aest, data, o, 100, &c, &st, NULL, 0));
	assert_int_equal(st.lines_read, 2);
	assert_int_equal(st.readings_read, 48 + 1);
	assert_int_equal(c.ngot, 47);
	assert_int_equal(nreason(&c, ME_R_MISSING_VALUE), 1);
	assert_int_equal(nreason(&c, ME_R_PARSE_ERROR), 1);
	assert_true(c.got[0].ts == me_make_ts(2014, 6, 30, 14, 0, 0, 0));
	assert_true(c.got[0].kw == 1.0);
	assert_string_equal(c.got[0].meter, "6001");
	collect_free(&c);
}

/*
 * Month names in a wide file (AusNet's export writes 01/Dec/2013), and a
 * date_format deciding a numeric date the order alone would read otherwise.
 */
static void
test_wide_month_names_and_pattern(void **state)
{
	MeProfile	p = profile_wide();
	Collect		c;
	MeReaderStats st;
	MeZone		aest;
	char		data[4096];
	char		ops[16];
	size_t		pos,
				errlen;
	size_t		o = 0;

	o += snprintf(data + o, sizeof(data) - o, "NMI,METER SERIAL NUMBER,CON/GEN,DATE,ESTIMATED?");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",%02d:%02d - %02d:%02d", k / 2, k % 2 * 30,
					  (k + 1) / 2 % 24, (k + 1) % 2 * 30);
	o += snprintf(data + o, sizeof(data) - o, "\n6001,1,Consumption,01/Dec/2013,No");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",0.5");
	o += snprintf(data + o, sizeof(data) - o, "\n6001,1,Consumption,02/Dek/2013,No");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",0.5");
	o += snprintf(data + o, sizeof(data) - o, "\n");
	me_zone_init_fixed(&aest, 10 * 3600);
	assert_true(run(&p, &aest, data, o, 64, &c, &st, NULL, 0));
	assert_int_equal(c.ngot, 48);
	assert_int_equal(nreason(&c, ME_R_BAD_TIMESTAMP), 1);
	assert_int_equal(c.rej[0].line, 3);
	assert_true(c.got[0].ts == me_make_ts(2013, 11, 30, 14, 0, 0, 0));
	collect_free(&c);

	/* the same file under MM/DD/YYYY: 01/02/2013 is 2 January */
	o = (size_t) (strchr(data, '\n') - data) + 1;
	o += snprintf(data + o, sizeof(data) - o, "6001,1,Consumption,01/02/2013,No");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",0.5");
	o += snprintf(data + o, sizeof(data) - o, "\n");
	assert_int_equal(me_date_pattern_compile("MM/DD/YYYY", 10, ops, &pos, &errlen), ME_DPAT_OK);
	p.date_pattern = ops;
	assert_true(run(&p, &aest, data, o, 64, &c, &st, NULL, 0));
	assert_int_equal(c.ngot, 48);
	assert_int_equal(c.nrej, 0);
	assert_true(c.got[0].ts == me_make_ts(2013, 1, 1, 14, 0, 0, 0));
	collect_free(&c);
}

static void
test_nem12_records(void **state)
{
	MeProfile	p = profile_nem12();
	Collect		c;
	MeReaderStats st;
	MeZone		aest;
	char		data[8192];
	size_t		o = 0;

	o += snprintf(data + o, sizeof(data) - o,
				  "100,NEM12,200402070911,MDA1,Ret1\r\n"
				  "200,NEM1201009,E1E2,1,E1,N1,01009,kWh,30,20040301\r\n");
	for (int d = 1; d <= 2; d++)
	{
		o += snprintf(data + o, sizeof(data) - o, "300,2004020%d", d);
		for (int k = 0; k < 48; k++)
			o += snprintf(data + o, sizeof(data) - o, ",%s", (d == 2 && k == 0) ? "-1" : "1.0");
		o += snprintf(data + o, sizeof(data) - o, ",%s,,,20040202120025,\r\n", d == 1 ? "A" : "V");
	}
	o += snprintf(data + o, sizeof(data) - o,
				  "400,1,10,E52,,\r\n400,11,48,A,,\r\n"
				  "200,NEM1201009,E1E2,2,B1,N1,01009,kVArh,30,20040301\r\n"
				  "300,20040201");
	for (int k = 0; k < 48; k++)
		o += snprintf(data + o, sizeof(data) - o, ",0.1");
	o += snprintf(data + o, sizeof(data) - o, ",A,,,20040202120025,\r\n300,2004\r\n500,O,S01009,20040202120025,\r\n900\r\n");
	me_zone_init_fixed(&aest, 10 * 3600);
	assert_true(run(&p, &aest, data, o, 33, &c, &st, NULL, 0));
	assert_int_equal(st.readings_read, 48 * 3 + 1);
	assert_int_equal(c.ngot, 48 + 47);
	assert_int_equal(nreason(&c, ME_R_NEGATIVE_VALUE), 1);
	assert_int_equal(nreason(&c, ME_R_BAD_UNIT), 48);
	assert_int_equal(nreason(&c, ME_R_PARSE_ERROR), 1);
	assert_string_equal(c.got[0].meter, "NEM1201009");
	assert_string_equal(c.got[0].channel, "import");
	assert_true(c.got[0].kw == 2.0);
	assert_true(c.got[0].ts == me_make_ts(2004, 1, 31, 14, 0, 0, 0));
	assert_int_equal(c.got[0].flags, 0);
	/* second day: intervals 2..10 were estimated (400 record E52) */
	assert_int_equal(c.got[48].flags, ME_FLAG_SOURCE_ESTIMATED);
	assert_int_equal(c.got[48 + 9].flags, 0);
	assert_int_equal(c.got[48].line, 4);
	collect_free(&c);
}

/* A channel label of 63 bytes is a channel; one of 64 is bad_channel, never cut short. */
static void
test_long_channel_labels(void **state)
{
	MeProfile	p = profile_generic();
	Collect		c;
	MeReaderStats st;
	char		l63[64],
				l64[65],
				data[1024];

	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'a', 64);
	l64[64] = '\0';
	snprintf(data, sizeof(data),
			 "meter_id,timestamp,value,unit,channel\n"
			 "M1,2024-01-01T00:00:00Z,1,kW,%s\n"
			 "M1,2024-01-01T00:00:00Z,2,kW,%s\n"
			 "M1,2024-01-01T00:00:00Z,3,kW,  %.60s  B\n", l63, l64, l63);
	assert_true(run1(&p, data, &c, &st));
	assert_int_equal(c.ngot, 2);
	assert_string_equal(c.got[0].channel, l63);
	/* trimmed and lower-cased first: 60 + 2 bytes fit */
	assert_int_equal((int) strlen(c.got[1].channel), 62);
	assert_int_equal(c.nrej, 1);
	assert_int_equal(c.rej[0].reason, ME_R_BAD_CHANNEL);
	assert_int_equal(c.rej[0].line, 3);
	collect_free(&c);
}

/* The readings of a bad NEM12 200 record carry its fault, not a generic parse error. */
static void
test_nem12_bad_200_reasons(void **state)
{
	MeProfile	p = profile_nem12();
	Collect		c;
	MeReaderStats st;
	char		data[16384];
	size_t		o = 0;
	const char *bad200[] = {
		"200,NEM1201009,E1E2,1,%s,N1,01009,kWh,30,20040301\r\n",	/* channel label */
		"200,NEM1201009,E1E2,1,E1,N1,01009,kWh,7,20040301\r\n",	/* interval length */
		"200,,E1E2,1,E1,N1,01009,kWh,30,20040301\r\n",	/* NMI */
		"200,NEM1201009,E1E2\r\n",	/* fields */
	};
	char		label[80];

	memset(label, 'x', 70);
	label[70] = '\0';
	o += snprintf(data + o, sizeof(data) - o, "100,NEM12,200402070911,MDA1,Ret1\r\n");
	for (int b = 0; b < 4; b++)
	{
		o += snprintf(data + o, sizeof(data) - o, bad200[b], label);
		o += snprintf(data + o, sizeof(data) - o, "300,20040201");
		for (int k = 0; k < 48; k++)
			o += snprintf(data + o, sizeof(data) - o, ",1.0");
		o += snprintf(data + o, sizeof(data) - o, ",A,,,20040202120025,\r\n");
	}
	o += snprintf(data + o, sizeof(data) - o, "900\r\n");
	assert_true(run(&p, NULL, data, o, o + 1, &c, &st, NULL, 0));
	assert_int_equal(c.ngot, 0);
	assert_int_equal(c.nrej, 4);
	assert_int_equal(c.rej[0].reason, ME_R_BAD_CHANNEL);
	assert_non_null(strstr(c.rej[0].detail, "channel label"));
	assert_int_equal(c.rej[1].reason, ME_R_PARSE_ERROR);
	assert_non_null(strstr(c.rej[1].detail, "interval length"));
	assert_int_equal(c.rej[2].reason, ME_R_MISSING_FIELD);
	assert_non_null(strstr(c.rej[2].detail, "NMI"));
	assert_int_equal(c.rej[3].reason, ME_R_PARSE_ERROR);
	assert_non_null(strstr(c.rej[3].detail, "fewer than 10 fields"));
	collect_free(&c);
}

/* ------------------------------------------------------------ sniffing */

static void
test_sniff_and_score(void **state)
{
	MeProfile	g = profile_generic();
	MeProfile	l = profile_lcl();
	MeProfile	n = profile_nem12();
	MeProfile	u = profile_uci();
	char	  **names;
	int			k;

	k = me_sniff_header("\n\xEF\xBB\xBF" "LCLid,tstp,energy(kWh/hh)\nx", 31, ',', '"', &names);
	assert_int_equal(k, 3);
	assert_string_equal(names[2], "energy(kwh/hh)");
	assert_int_equal(me_profile_score(&g, names, k), 0);
	assert_true(me_profile_score(&l, names, k) > 0);
	me_free_names(names, k);
	k = me_sniff_header("100,NEM12,2004,A,B\r\n", 20, ',', '"', &names);
	assert_int_equal(me_profile_score(&n, names, k), 100);
	me_free_names(names, k);
	k = me_sniff_header("Date;Time;Global_active_power;X\r\n", 33, ';', '"', &names);
	assert_true(me_profile_score(&u, names, k) > 0);
	me_free_names(names, k);
}

/* ------------------------------------------------------------ real files */

static void
test_real_lcl(void **state)
{
	size_t		len;
	const char *rel = "lcl_london_halfhourly/MAC000002.csv";
	char	   *data = real_data_read(rel, &len);
	MeProfile	p = profile_lcl();
	Collect		c;
	MeReaderStats st;

	if (data == NULL)
		real_data_missing(rel);
	assert_true(run(&p, NULL, data, len, 65536, &c, &st, NULL, 0));
	assert_int_equal(st.lines_read, 17520);
	assert_int_equal(c.ngot, 17520);
	assert_true(c.got[0].ts == me_make_ts(2013, 1, 1, 0, 0, 0, 0));
	collect_free(&c);
	free(data);
}

static void
test_real_uci(void **state)
{
	size_t		len;
	const char *rel = "uci_household_power/household_power_consumption_2006-12_first1MiB.txt";
	char	   *data = real_data_read(rel, &len);
	MeProfile	p = profile_uci();
	MeZone		paris;
	int32_t		std = 3600;
	Collect		c;
	MeReaderStats st;

	if (data == NULL)
		real_data_missing(rel);
	me_zone_init(&paris, eu_gmtoff, &std);
	assert_true(run(&p, &paris, data, len, 100000, &c, &st, NULL, 0));
	assert_int_equal(st.lines_read, 15923);
	assert_int_equal(c.ngot, 15920);
	assert_int_equal(nreason(&c, ME_R_MISSING_VALUE), 2);
	assert_int_equal(nreason(&c, ME_R_PARSE_ERROR), 1);	/* truncated last line */
	assert_true(c.got[0].ts == me_make_ts(2006, 12, 16, 16, 24, 0, 0));
	assert_true(c.got[0].kw == 4.216);
	/* the hour cache works: 266 hours of data, a dozen callbacks per hour */
	assert_true(paris.callbacks < 266 * 13);
	collect_free(&c);
	free(data);
}

static void
test_real_esb(void **state)
{
	size_t		len;
	const char *rel = "esb_ireland_hdf/HDF_EXAMPLE_kW_2023.csv";
	char	   *data = real_data_read(rel, &len);
	MeProfile	p = profile_esb();
	MeZone		dublin;
	int32_t		std = 0;
	Collect		c;
	MeReaderStats st;
	int			imp = 0;

	if (data == NULL)
		real_data_missing(rel);
	me_zone_init(&dublin, eu_gmtoff, &std);
	assert_true(run(&p, &dublin, data, len, 8192, &c, &st, NULL, 0));
	assert_int_equal(st.lines_read, 21505);
	assert_int_equal(c.ngot, 21505);
	for (int i = 0; i < c.ngot; i++)
		imp += strcmp(c.got[i].channel, "import") == 0;
	assert_int_equal(imp, 14681);
	collect_free(&c);
	free(data);
}

static void
test_real_nem12_and_wide(void **state)
{
	size_t		len;
	const char *rel = "au_vic_meter_exports/example-03-vic-ausnetservices-email-16122014-NEM12.csv";
	char	   *data = real_data_read(rel, &len);
	MeProfile	p = profile_nem12();
	MeZone		aest;
	Collect		c;
	MeReaderStats st;

	if (data == NULL)
		real_data_missing(rel);
	me_zone_init_fixed(&aest, 10 * 3600);
	assert_true(run(&p, &aest, data, len, 4096, &c, &st, NULL, 0));
	assert_int_equal(c.ngot, 17520);
	assert_int_equal(c.nrej, 0);
	collect_free(&c);
	free(data);

	data = real_data_read("au_vic_meter_exports/example-01-vic-jemena-web-22112014.csv", &len);
	assert_non_null(data);
	p = profile_wide();
	assert_true(run(&p, &aest, data, len, 4096, &c, &st, NULL, 0));
	assert_int_equal(st.lines_read, 3);
	assert_int_equal(c.ngot + c.nrej, 3 * 48);
	collect_free(&c);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generic_units_and_offsets),
		cmocka_unit_test(test_generic_reasons),
		cmocka_unit_test(test_generic_channel_column),
		cmocka_unit_test(test_generation_tolerance),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_nul_bytes_and_junk),
		cmocka_unit_test(test_line_endings_bom_and_chunks),
		cmocka_unit_test(test_empty_and_header_only),
		cmocka_unit_test(test_header_mismatch_fails_file),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_dst_local_times),
		cmocka_unit_test(test_dst_newest_first_end_times),
		cmocka_unit_test(test_wide_layout),
		cmocka_unit_test(test_wide_month_names_and_pattern),
		cmocka_unit_test(test_nem12_records),
		cmocka_unit_test(test_long_channel_labels),
		cmocka_unit_test(test_nem12_bad_200_reasons),
		cmocka_unit_test(test_sniff_and_score),
		cmocka_unit_test(test_real_lcl),
		cmocka_unit_test(test_real_uci),
		cmocka_unit_test(test_real_esb),
		cmocka_unit_test(test_real_nem12_and_wide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
