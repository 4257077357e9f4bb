/*
 * test_parse.c - cmocka tests of the field parsers, unit conversion, local
 * time conversion across DST, the validation rules and column mapping
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_helpers.h"
#include "core/read/csvmap.h"
#include "core/read/parse.h"
#include "core/read/rules.h"
#include "core/read/tzconv.h"

#define S(x) x, strlen(x)

/* ------------------------------------------------------------ numbers */

static void
test_numbers(void **state)
{
	double		v;

	assert_int_equal(me_parse_number(S("1.5"), &v), ME_NUM_OK);
	assert_true(v == 1.5);
	assert_int_equal(me_parse_number(S("  0.219 "), &v), ME_NUM_OK);
	assert_true(v == 0.219);
	assert_int_equal(me_parse_number(S("-0"), &v), ME_NUM_OK);
	assert_true(v == 0.0 && !signbit(v));
	assert_int_equal(me_parse_number(S("+12"), &v), ME_NUM_OK);
	assert_true(v == 12.0);
	assert_int_equal(me_parse_number(S(".5"), &v), ME_NUM_OK);
	assert_true(v == 0.5);
	assert_int_equal(me_parse_number(S("5."), &v), ME_NUM_OK);
	assert_true(v == 5.0);
	assert_int_equal(me_parse_number(S("1e3"), &v), ME_NUM_OK);
	assert_true(v == 1000.0);
	assert_int_equal(me_parse_number(S("2.5E-3"), &v), ME_NUM_OK);
	assert_true(v == 0.0025);
	assert_int_equal(me_parse_number(S("3.7839999"), &v), ME_NUM_OK);
	assert_true(v == 3.7839999);
	assert_int_equal(me_parse_number(S("12345678901234567890.5"), &v), ME_NUM_OK);
	assert_true(v == 12345678901234567890.5);
	assert_int_equal(me_parse_number(S(""), &v), ME_NUM_EMPTY);
	assert_int_equal(me_parse_number(S("   "), &v), ME_NUM_EMPTY);
	assert_int_equal(me_parse_number(S("abc"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("1.2.3"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("--5"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("0x1F"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("1,5"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("1 000"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("1e"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("."), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("-"), &v), ME_NUM_INVALID);
	assert_int_equal(me_parse_number(S("NaN"), &v), ME_NUM_NONFINITE);
	assert_int_equal(me_parse_number(S("inf"), &v), ME_NUM_NONFINITE);
	assert_int_equal(me_parse_number(S("-Infinity"), &v), ME_NUM_NONFINITE);
	assert_int_equal(me_parse_number(S("1e400"), &v), ME_NUM_NONFINITE);
	/* underflow to zero is out of range too, not a reading of 0 */
	assert_int_equal(me_parse_number(S("1e-400"), &v), ME_NUM_NONFINITE);
	assert_int_equal(me_parse_number(S("-2.5E-999"), &v), ME_NUM_NONFINITE);
	assert_int_equal(me_parse_number(S("0.00000000000000000000000000001e-400"), &v), ME_NUM_NONFINITE);
	/* an exact zero with any exponent is zero; a subnormal stands (as float8in) */
	assert_int_equal(me_parse_number(S("0e-400"), &v), ME_NUM_OK);
	assert_true(v == 0.0);
	assert_int_equal(me_parse_number(S("1e-310"), &v), ME_NUM_OK);
	assert_true(v > 0.0 && v < 1e-300);
	/* never reads past the length */
	assert_int_equal(me_parse_number("12345", 2, &v), ME_NUM_OK);
	assert_true(v == 12.0);
}

/* The fast path agrees with strtod bit for bit on random short decimals. */
static void
test_numbers_match_strtod(void **state)
{
	unsigned int seed = 12345;
	char		buf[64];

	for (int i = 0; i < 200000; i++)
	{
		double		a,
					b;
		int			ip,
					fp,
					fd;

		seed = seed * 1103515245u + 12345u;
		ip = (int) (seed >> 8) % 100000;
		seed = seed * 1103515245u + 12345u;
		fd = (int) (seed >> 16) % 10;
		fp = (int) (seed >> 4) % 1000000000;
		snprintf(buf, sizeof(buf), "%s%d.%0*d", (i & 1) ? "-" : "", ip, fd, fd ? fp % (int) pow(10, fd) : 0);
		if (fd == 0)
			snprintf(buf, sizeof(buf), "%s%d", (i & 1) ? "-" : "", ip);
		assert_int_equal(me_parse_number(buf, strlen(buf), &a), ME_NUM_OK);
		b = strtod(buf, NULL);
		if (b == 0.0)
			b = 0.0;
		if (memcmp(&a, &b, sizeof(double)) != 0)
			fail_msg("\"%s\": %.17g != %.17g", buf, a, b);
	}
}

/* ------------------------------------------------------------ units */

static void
test_units(void **state)
{
	int64_t		q = 15 * ME_USECS_PER_MIN;
	int64_t		h = 30 * ME_USECS_PER_MIN;

	assert_int_equal(me_parse_unit(S("kW")), ME_UNIT_KW);
	assert_int_equal(me_parse_unit(S(" KW ")), ME_UNIT_KW);
	assert_int_equal(me_parse_unit(S("W")), ME_UNIT_W);
	assert_int_equal(me_parse_unit(S("KWH")), ME_UNIT_KWH);
	assert_int_equal(me_parse_unit(S("kWh/hh")), ME_UNIT_KWH);
	assert_int_equal(me_parse_unit(S("Wh")), ME_UNIT_WH);
	assert_int_equal(me_parse_unit(S("MWh")), ME_UNIT_MWH);
	assert_int_equal(me_parse_unit(S("kW/hh")), ME_UNIT_UNKNOWN);
	assert_int_equal(me_parse_unit(S("kVA")), ME_UNIT_UNKNOWN);
	assert_int_equal(me_parse_unit(S("kVArh")), ME_UNIT_UNKNOWN);
	assert_int_equal(me_parse_unit(S("")), ME_UNIT_UNKNOWN);
	assert_true(me_unit_is_energy(ME_UNIT_WH) && !me_unit_is_energy(ME_UNIT_KW));
	assert_true(me_to_kw(1500, ME_UNIT_W, q) == 1.5);
	assert_true(me_to_kw(0.25, ME_UNIT_KWH, q) == 1.0);
	assert_true(me_to_kw(0.5, ME_UNIT_KWH, h) == 1.0);
	assert_true(me_to_kw(250, ME_UNIT_WH, q) == 1.0);
	assert_true(me_to_kw(0.001, ME_UNIT_MWH, h) == 2.0);
	assert_true(me_to_kw(2, ME_UNIT_MW, q) == 2000.0);
	assert_true(isnan(me_to_kw(1, ME_UNIT_UNKNOWN, q)));
	assert_string_equal(me_unit_name(ME_UNIT_KWH), "kWh");
}

/* ------------------------------------------------------------ dates */

static void
test_dates(void **state)
{
	MeDateTime	dt;

	assert_true(me_parse_datetime(S("2024-02-29T23:45:00Z"), ME_DATE_YMD, &dt));
	assert_true(dt.has_offset && dt.offset_s == 0 && dt.day == 29);
	assert_true(me_parse_datetime(S("2024-03-31T02:00:00+01:00"), ME_DATE_YMD, &dt));
	assert_true(me_datetime_to_ts(&dt) == me_make_ts(2024, 3, 31, 1, 0, 0, 0));
	assert_true(me_parse_datetime(S("2024-01-01 00:45:00-0530"), ME_DATE_YMD, &dt));
	assert_int_equal(dt.offset_s, -(5 * 3600 + 30 * 60));
	assert_true(me_parse_datetime(S("2012-10-12 00:30:00.0000000"), ME_DATE_YMD, &dt));
	assert_false(dt.has_offset);
	assert_true(me_parse_datetime(S("2024-01-01 10:00:00.25"), ME_DATE_YMD, &dt));
	assert_int_equal(dt.usec, 250000);
	assert_true(me_parse_datetime(S("16/12/2006 17:24:00"), ME_DATE_DMY, &dt));
	assert_true(dt.day == 16 && dt.month == 12);
	assert_true(me_parse_datetime(S("1/1/2018 0:00"), ME_DATE_MDY, &dt));
	assert_true(me_parse_datetime(S("3/11/2018 2:15"), ME_DATE_MDY, &dt));
	assert_true(dt.month == 3 && dt.day == 11 && dt.hour == 2);
	assert_true(me_parse_datetime(S("26-03-2023 02:30"), ME_DATE_DMY, &dt));
	assert_true(me_parse_datetime(S("31.03.2024 01:45"), ME_DATE_DMY, &dt));
	assert_true(me_parse_datetime(S("20140401"), ME_DATE_YMD, &dt));
	assert_false(dt.has_time);
	assert_true(me_parse_datetime(S("2024-01-01 24:00"), ME_DATE_YMD, &dt));
	assert_true(me_datetime_to_ts(&dt) == me_make_ts(2024, 1, 2, 0, 0, 0, 0));
	/* invalid */
	assert_false(me_parse_datetime(S("2023-02-29T00:00:00Z"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("2024-13-45T99:00:00+00:00"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("2024-01-01 25:00"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("2024-01-01 24:30"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("2024-01-01 10:60"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("yesterday"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("31/31/2024 10:00"), ME_DATE_DMY, &dt));
	assert_false(me_parse_datetime(S("2024-01-01T10:00:00+25:00"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("2024-01-01T10:00:00 junk"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("2024/01-01 10:00"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("16/12/06 17:24"), ME_DATE_DMY, &dt));
	assert_false(me_parse_datetime(S(""), ME_DATE_YMD, &dt));
	/* leap years */
	assert_true(me_parse_datetime(S("2000-02-29 00:00"), ME_DATE_YMD, &dt));
	assert_false(me_parse_datetime(S("1900-02-29 00:00"), ME_DATE_YMD, &dt));
}

/*
 * The ISO fast path agrees with the general parser: inserting ".0" before
 * the offset forces the general path and must not change the outcome.
 */
static void
test_iso_fast_path_matches_general(void **state)
{
	static const char *const offs[] = {"", "Z", "+01:00", "-0530", "+14", "+16:00", "+01:60", "x"};
	unsigned int seed = 777;

	for (int i = 0; i < 300000; i++)
	{
		char		a[64],
					b[96];
		MeDateTime	da,
					db;
		bool		oka,
					okb;
		int			v[6];

		for (int k = 0; k < 6; k++)
		{
			seed = seed * 1103515245u + 12345u;
			v[k] = (int) (seed >> 10);
		}
		snprintf(a, sizeof(a), "%04d-%02d-%02d%c%02d:%02d:%02d%s", 1990 + v[0] % 40, v[1] % 14,
				 v[2] % 33, (v[3] & 1) ? 'T' : ' ', v[3] % 26, v[4] % 62, v[5] % 62,
				 offs[(v[0] >> 8) % 8]);
		memcpy(b, a, 19);
		snprintf(b + 19, sizeof(b) - 19, ".0%.40s", a + 19);
		oka = me_parse_datetime(a, strlen(a), ME_DATE_YMD, &da);
		okb = me_parse_datetime(b, strlen(b), ME_DATE_YMD, &db);
		if (oka != okb)
			fail_msg("\"%s\" -> %d but \"%s\" -> %d", a, oka, b, okb);
		if (oka && (me_datetime_to_ts(&da) != me_datetime_to_ts(&db) || da.has_offset != db.has_offset))
			fail_msg("\"%s\" and \"%s\" differ", a, b);
	}
}

/* ------------------------------------------------------------ month names */

/*
 * A whole field read as a date: yyyymmdd, or -1 when refused (a date that
 * stops before the end of the field is refused, as the wide reader does).
 */
static long
auto_date(const char *s, MeDateOrder order)
{
	MeDateTime	dt;
	size_t		used;

	if (!me_parse_date(s, strlen(s), order, &dt, &used) || used != strlen(s))
		return -1;
	return dt.year * 10000L + dt.month * 100 + dt.day;
}

static const MeDateOrder all_orders[] = {ME_DATE_YMD, ME_DATE_DMY, ME_DATE_MDY};

static void
test_month_names(void **state)
{
	static const char *const abbrev[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static const char *const full[12] = {"January", "February", "March", "April", "May",
		"June", "July", "August", "September", "October", "November", "December"};
	/* every form, under every order: the name leaves nothing to guess */
	static const char *const forms[] = {
		"01/Dec/2013", "1-Dec-2013", "1 Dec 2013", "1.Dec.2013", "01-DEC-2013",
		"Dec 1 2013", "December 01 2013", "dec-1-2013", "Dec/01/2013",
		"2013-Dec-01", "2013/december/1", "2013 Dec 1", "2013.dEc.01"
	};
	char		buf[64];

	for (int m = 0; m < 12; m++)
	{
		snprintf(buf, sizeof(buf), "01/%s/2013", abbrev[m]);
		assert_int_equal(auto_date(buf, ME_DATE_DMY), 20130001L + (m + 1) * 100);
		snprintf(buf, sizeof(buf), "%s 1 2013", full[m]);
		assert_int_equal(auto_date(buf, ME_DATE_MDY), 20130001L + (m + 1) * 100);
		snprintf(buf, sizeof(buf), "2013-%s-01", full[m]);
		assert_int_equal(auto_date(buf, ME_DATE_YMD), 20130001L + (m + 1) * 100);
	}
	assert_int_equal(auto_date("1 Sept 2013", ME_DATE_DMY), 20130901);
	assert_int_equal(auto_date("SEPT 1 2013", ME_DATE_YMD), 20130901);
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++)
		for (int o = 0; o < 3; o++)
			if (auto_date(forms[f], all_orders[o]) != 20131201)
				fail_msg("\"%s\" under order %d", forms[f], o);
	/* leap years are the calendar's, whatever the spelling */
	assert_int_equal(auto_date("29-Feb-2012", ME_DATE_DMY), 20120229);
	assert_int_equal(auto_date("Feb 29 2000", ME_DATE_DMY), 20000229);
}

static void
test_month_names_refused(void **state)
{
	static const char *const refused[] = {
		/* not a month */
		"01/Dek/2013", "01/Decem/2013", "01/Dez/2013", "01/Decx/2013", "01/Mai/2013",
		"01/De/2013", "01/Sep./2013", "Sep. 1 2013", "01/Septe/2013",
		/* not a day of that month */
		"32/Dec/2013", "0/Dec/2013", "00-Dec-2013", "30/Feb/2013", "29-Feb-2013",
		"Feb 30 2012", "Apr 31 2013", "2013-Feb-29", "1900-Feb-29",
		/* a year missing or not of four digits */
		"01/Dec", "Dec 1", "Dec 2013", "2013-Dec", "01/Dec/13", "Dec 1 13",
		"01/Dec/20134", "013-Dec-01", "01/Dec/0000",
		/* a day of more than two digits */
		"001/Dec/2013", "2013-Dec-001", "Dec 001 2013",
		/* separators: mixed, doubled, unknown, missing */
		"01/Dec-2013", "Dec 1/2013", "01//Dec/2013", "01  Dec 2013", "01,Dec,2013",
		"Dec 1, 2013", "01Dec2013", "Dec1 2013", "01_Dec_2013",
		/* nonsense orders and garbage */
		"Dec/2013/01", "2013/01/Dec", "01/2013/Dec", "Dec/Dec/2013", "2013-Dec-01x",
		"yesterday", "Dec", "", "-Dec-2013", "1 Dec 2013 "
	};

	for (size_t f = 0; f < sizeof(refused) / sizeof(refused[0]); f++)
		for (int o = 0; o < 3; o++)
			if (auto_date(refused[f], all_orders[o]) != -1)
				fail_msg("\"%s\" accepted under order %d", refused[f], o);
}

static void
test_month_names_with_times(void **state)
{
	MeDateTime	dt;

	assert_true(me_parse_datetime(S("01/Dec/2013 00:30"), ME_DATE_DMY, &dt));
	assert_true(dt.has_time && dt.hour == 0 && dt.minute == 30 && dt.month == 12);
	assert_true(me_parse_datetime(S("Dec 1 2013 23:59:59"), ME_DATE_YMD, &dt));
	assert_true(me_datetime_to_ts(&dt) == me_make_ts(2013, 12, 1, 23, 59, 59, 0));
	assert_true(me_parse_datetime(S("2013-Dec-01T10:00:00+10:00"), ME_DATE_YMD, &dt));
	assert_true(me_datetime_to_ts(&dt) == me_make_ts(2013, 12, 1, 0, 0, 0, 0));
	assert_true(me_parse_datetime(S("1 Dec 2013 24:00"), ME_DATE_MDY, &dt));
	assert_true(me_datetime_to_ts(&dt) == me_make_ts(2013, 12, 2, 0, 0, 0, 0));
	assert_false(me_parse_datetime(S("01/Dec/2013 25:00"), ME_DATE_DMY, &dt));
	assert_false(me_parse_datetime(S("01/Dec/2013 10:00 junk"), ME_DATE_DMY, &dt));
	assert_false(me_parse_datetime(S("01/Dec/2013x10:00"), ME_DATE_DMY, &dt));
	/* numeric dates keep their rules: the order decides, blanks separate nothing */
	assert_int_equal(auto_date("01/02/2013", ME_DATE_DMY), 20130201);
	assert_int_equal(auto_date("01/02/2013", ME_DATE_MDY), 20130102);
	assert_int_equal(auto_date("01/02/2013", ME_DATE_YMD), -1);
	assert_int_equal(auto_date("1 2 2013", ME_DATE_DMY), -1);
	assert_int_equal(auto_date("2013 12 01", ME_DATE_YMD), -1);
}

/* ------------------------------------------------------------ date_format */

/* Compile a pattern that must be valid; returns the compiled ops (static). */
static const char *
compiled(const char *pat)
{
	static char ops[64];
	size_t		pos,
				len;
	MeDatePatternStatus st = me_date_pattern_compile(pat, strlen(pat), ops, &pos, &len);

	if (st != ME_DPAT_OK)
		fail_msg("pattern \"%s\": status %d at %zu", pat, (int) st, pos);
	return ops;
}

/* A whole field read by a pattern: yyyymmdd or -1. */
static long
fmt_date(const char *s, const char *pat)
{
	MeDateTime	dt;
	size_t		used;

	if (!me_parse_date_fmt(s, strlen(s), ME_DATE_YMD, compiled(pat), &dt, &used) ||
		used != strlen(s))
		return -1;
	return dt.year * 10000L + dt.month * 100 + dt.day;
}

/* An invalid pattern's status, checking where the compiler points. */
static void
assert_bad_pattern(const char *pat, MeDatePatternStatus want, size_t want_pos,
				   size_t want_len)
{
	char		ops[64];
	size_t		pos,
				len;
	MeDatePatternStatus st = me_date_pattern_compile(pat, strlen(pat), ops, &pos, &len);

	if (st != want || pos != want_pos || len != want_len)
		fail_msg("pattern \"%s\": status %d at %zu+%zu, want %d at %zu+%zu", pat, (int) st,
				 pos, len, (int) want, want_pos, want_len);
}

static void
test_date_pattern_compile(void **state)
{
	assert_string_equal(compiled("DD/MM/YYYY"), "D/M/Y");
	assert_string_equal(compiled("D/M/YYYY"), "d/m/Y");
	assert_string_equal(compiled("YYYYMMDD"), "YMD");
	assert_string_equal(compiled("DD-MON-YYYY"), "D-N-Y");
	assert_string_equal(compiled("Month D, YYYY"), "N d, Y");
	assert_string_equal(compiled("ddmonyyyy"), "DNY");
	assert_string_equal(compiled("yyyy.mm.dd"), "Y.M.D");
	assert_string_equal(compiled("YYYYMMD"), "YMd");
	assert_string_equal(compiled("D MON YYYY"), "d N Y");

	assert_bad_pattern("", ME_DPAT_EMPTY, 0, 0);
	assert_bad_pattern("DD/MM/YY", ME_DPAT_UNKNOWN, 6, 2);
	assert_bad_pattern("DD/MM/YYYY HH:MI", ME_DPAT_UNKNOWN, 11, 2);
	assert_bad_pattern("DD:MM:YYYY", ME_DPAT_UNKNOWN, 2, 1);
	assert_bad_pattern("DD/MM/YYYY\xc3\xa9", ME_DPAT_UNKNOWN, 10, 2);
	assert_bad_pattern("DD/MM/YYYYY", ME_DPAT_UNKNOWN, 10, 1);
	assert_bad_pattern("DD/DD/YYYY", ME_DPAT_DUP_DAY, 3, 2);
	assert_bad_pattern("MM/MON/YYYY", ME_DPAT_DUP_MONTH, 3, 3);
	assert_bad_pattern("MMM-DD-YYYY", ME_DPAT_DUP_MONTH, 2, 1);
	assert_bad_pattern("YYYY/MM/DD/YYYY", ME_DPAT_DUP_YEAR, 11, 4);
	assert_bad_pattern("MM/YYYY", ME_DPAT_NO_DAY, 7, 0);
	assert_bad_pattern("DD/YYYY", ME_DPAT_NO_MONTH, 7, 0);
	assert_bad_pattern("DD/MM", ME_DPAT_NO_YEAR, 5, 0);
	assert_bad_pattern("DMYYYY", ME_DPAT_AMBIGUOUS, 1, 1);
	assert_bad_pattern("DDMYYYY", ME_DPAT_AMBIGUOUS, 3, 4);
	assert_bad_pattern("/DD/MM/YYYY", ME_DPAT_EDGE, 0, 1);
	assert_bad_pattern("DD/MM/YYYY ", ME_DPAT_EDGE, 10, 1);
}

static void
test_date_pattern_parse(void **state)
{
	MeDateTime	dt;

	/* the pattern decides what the order could not */
	assert_int_equal(fmt_date("01/02/2013", "DD/MM/YYYY"), 20130201);
	assert_int_equal(fmt_date("01/02/2013", "MM/DD/YYYY"), 20130102);
	assert_int_equal(fmt_date("2013/02/01", "YYYY/MM/DD"), 20130201);
	assert_int_equal(fmt_date("2013/01/02", "YYYY/DD/MM"), 20130201);
	/* DD and MM are two digits, D and M one or two */
	assert_int_equal(fmt_date("1/2/2013", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("1/2/2013", "D/M/YYYY"), 20130201);
	assert_int_equal(fmt_date("01/02/2013", "D/M/YYYY"), 20130201);
	assert_int_equal(fmt_date("001/02/2013", "D/M/YYYY"), -1);
	/* month names, compact forms and commas */
	assert_int_equal(fmt_date("01/Dec/2013", "DD/MON/YYYY"), 20131201);
	assert_int_equal(fmt_date("01/december/2013", "DD/MON/YYYY"), 20131201);
	assert_int_equal(fmt_date("Dec 1, 2013", "MON D, YYYY"), 20131201);
	assert_int_equal(fmt_date("September 30, 2013", "MONTH D, YYYY"), 20130930);
	assert_int_equal(fmt_date("20131201", "YYYYMMDD"), 20131201);
	assert_int_equal(fmt_date("01DEC2013", "DDMONYYYY"), 20131201);
	/* mismatches */
	assert_int_equal(fmt_date("01/Dec/2013", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("01/12/2013", "DD/MON/YYYY"), -1);
	assert_int_equal(fmt_date("01-Dec-2013", "DD/MON/YYYY"), -1);
	assert_int_equal(fmt_date("Dec 1 2013", "DD/MON/YYYY"), -1);
	assert_int_equal(fmt_date("2013-12-01", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("01/Dek/2013", "DD/MON/YYYY"), -1);
	assert_int_equal(fmt_date("01/12", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("01/12/13", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("01/12/20134", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("garbage", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("", "DD/MM/YYYY"), -1);
	/* the calendar still applies */
	assert_int_equal(fmt_date("32/12/2013", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("30/02/2013", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("29/02/2012", "DD/MM/YYYY"), 20120229);
	assert_int_equal(fmt_date("01/13/2013", "DD/MM/YYYY"), -1);
	assert_int_equal(fmt_date("00/12/2013", "DD/MM/YYYY"), -1);
	/* a time follows as without a pattern; the ISO shortcut does not bypass it */
	assert_true(me_parse_datetime_fmt(S("01/Dec/2013 10:30"), ME_DATE_YMD,
									  compiled("DD/MON/YYYY"), &dt));
	assert_true(dt.has_time && dt.hour == 10 && dt.minute == 30 && dt.day == 1);
	assert_true(me_parse_datetime_fmt(S("01.12.2013T10:30:00+01:00"), ME_DATE_YMD,
									  compiled("DD.MM.YYYY"), &dt));
	assert_true(me_datetime_to_ts(&dt) == me_make_ts(2013, 12, 1, 9, 30, 0, 0));
	assert_false(me_parse_datetime_fmt(S("2013-12-01T10:00:00Z"), ME_DATE_YMD,
									   compiled("DD/MM/YYYY"), &dt));
	assert_false(me_parse_datetime_fmt(S("01/12/2013 10:60"), ME_DATE_YMD,
									   compiled("DD/MM/YYYY"), &dt));
}

/* ------------------------------------------------------------ local time */

static void
test_local_time_dst(void **state)
{
	MeZone		paris;
	int32_t		std = 3600;
	int64_t		a,
				b;

	me_zone_init(&paris, eu_gmtoff, &std);
	/* winter: UTC+1 */
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 1, 15, 12, 0, 0, 0), &a, &b), ME_LOCAL_OK);
	assert_true(a == me_make_ts(2024, 1, 15, 11, 0, 0, 0));
	/* spring forward on 2024-03-31: 02:00-02:59 local does not exist */
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 3, 31, 1, 59, 59, 0), &a, &b), ME_LOCAL_OK);
	assert_true(a == me_make_ts(2024, 3, 31, 0, 59, 59, 0));
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 3, 31, 2, 0, 0, 0), &a, &b), ME_LOCAL_NONEXISTENT);
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 3, 31, 2, 30, 0, 0), &a, &b), ME_LOCAL_NONEXISTENT);
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 3, 31, 3, 0, 0, 0), &a, &b), ME_LOCAL_OK);
	assert_true(a == me_make_ts(2024, 3, 31, 1, 0, 0, 0));
	/* fall back on 2024-10-27: 02:00-02:59 local happens twice */
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 10, 27, 2, 30, 0, 0), &a, &b), ME_LOCAL_AMBIGUOUS);
	assert_true(a == me_make_ts(2024, 10, 27, 0, 30, 0, 0));
	assert_true(b == me_make_ts(2024, 10, 27, 1, 30, 0, 0));
	assert_int_equal(me_local_to_utc(&paris, me_make_ts(2024, 10, 27, 3, 0, 0, 0), &a, &b), ME_LOCAL_OK);
	assert_true(a == me_make_ts(2024, 10, 27, 2, 0, 0, 0));
}

/* A transition table answers like the rule it was built from. */
static void
test_zone_table(void **state)
{
	int64_t		at[64];
	int32_t		off[64];
	int			n = 0;
	int32_t		std = 3600;
	MeZoneTable t;

	for (int y = 2000; y < 2030; y++)
	{
		at[n] = eu_last_sunday_utc(y, 3);
		off[n++] = 7200;
		at[n] = eu_last_sunday_utc(y, 10);
		off[n++] = 3600;
	}
	t.initial_offset_s = 3600;
	t.n = n;
	t.at = at;
	t.offset_s = off;
	for (int64_t s = 946684800 - 86400; s < 1893456000; s += 3 * 3600 + 17)
		assert_int_equal(me_zone_table_offset(&t, s), eu_gmtoff(&std, s));
	/* exactly at and just before a change */
	assert_int_equal(me_zone_table_offset(&t, at[4]), 7200);
	assert_int_equal(me_zone_table_offset(&t, at[4] - 1), 3600);
	t.n = 0;
	assert_int_equal(me_zone_table_offset(&t, 0), 3600);
}

/* The per-hour cache gives the same answers as fresh zones, with few callbacks. */
static void
test_local_time_cache(void **state)
{
	MeZone		cached;
	int32_t		std = 0;
	int64_t		start = me_make_ts(2024, 3, 1, 0, 0, 0, 0);
	int			n = 0;

	me_zone_init(&cached, eu_gmtoff, &std);
	for (int64_t t = start; t < start + 70 * ME_USECS_PER_DAY; t += 15 * ME_USECS_PER_MIN, n++)
	{
		MeZone		fresh;
		int64_t		a1,
					b1,
					a2,
					b2;
		MeLocalStatus s1,
					s2;

		me_zone_init(&fresh, eu_gmtoff, &std);
		s1 = me_local_to_utc(&cached, t, &a1, &b1);
		s2 = me_local_to_utc(&fresh, t, &a2, &b2);
		assert_int_equal(s1, s2);
		if (s1 != ME_LOCAL_NONEXISTENT)
			assert_true(a1 == a2 && b1 == b2);
	}
	/* one lookup per hour at most, not one per reading */
	assert_true(cached.callbacks < (uint64_t) n / 4 * 13);
	{
		MeZone		fixed;
		int64_t		a,
					b;

		me_zone_init_fixed(&fixed, 10 * 3600);
		assert_int_equal(me_local_to_utc(&fixed, me_make_ts(2014, 7, 1, 0, 0, 0, 0), &a, &b), ME_LOCAL_OK);
		assert_true(a == me_make_ts(2014, 6, 30, 14, 0, 0, 0));
	}
}

/* ------------------------------------------------------------ rules */

/* me_check_kw on a copy of kw, checking that only a clipped value changes. */
static MeReason
check_kw(double kw, bool signed_channel, double tolerance, const MeRules *r)
{
	double		v = kw;
	bool		clipped = true;
	MeReason	why = me_check_kw(&v, signed_channel, tolerance, r, &clipped);

	assert_false(clipped);
	if (!isnan(kw))
		assert_true(v == kw);
	return why;
}

/*
 * A generation channel's tolerance below zero: inside it (the bound
 * included) a negative becomes 0 and is clipped; beyond it, or on a
 * channel without one, it is negative_value; a signed channel is never
 * clipped; the other rules are unchanged.
 */
static void
test_negative_tolerance(void **state)
{
	MeRules		r = test_rules();
	const double tol = ME_DEFAULT_SOLAR_NEGATIVE_TOLERANCE_KW;
	double		v;
	bool		clipped;

	/* inside: -0.068 kW (the Pecan Street minimum), the smallest negatives */
	v = -0.068;
	assert_int_equal(me_check_kw(&v, false, tol, &r, &clipped), ME_OK);
	assert_true(clipped);
	assert_true(v == 0 && !signbit(v));
	v = -1e-300;
	assert_int_equal(me_check_kw(&v, false, tol, &r, &clipped), ME_OK);
	assert_true(clipped && v == 0);
	/* at the bound, as written and as converted from 100 W */
	v = -0.1;
	assert_int_equal(me_check_kw(&v, false, tol, &r, &clipped), ME_OK);
	assert_true(clipped && v == 0);
	v = -100.0 / 1000.0;
	assert_int_equal(me_check_kw(&v, false, tol, &r, &clipped), ME_OK);
	assert_true(clipped && v == 0);
	/* beyond it */
	v = nextafter(-0.1, -1.0);
	assert_int_equal(me_check_kw(&v, false, tol, &r, &clipped), ME_R_NEGATIVE_VALUE);
	assert_false(clipped);
	assert_true(v == nextafter(-0.1, -1.0));
	assert_int_equal(check_kw(-0.5, false, tol, &r), ME_R_NEGATIVE_VALUE);
	assert_int_equal(check_kw(-1000, false, tol, &r), ME_R_NEGATIVE_VALUE);
	/* a signed channel keeps its negatives, whatever tolerance it is given */
	assert_int_equal(check_kw(-0.05, true, tol, &r), ME_OK);
	assert_int_equal(check_kw(-5, true, tol, &r), ME_OK);
	assert_int_equal(check_kw(-100.5, true, tol, &r), ME_R_IMPLAUSIBLE_VALUE);
	/* no tolerance (0), or a nonsensical one, clips nothing */
	assert_int_equal(check_kw(-0.05, false, 0, &r), ME_R_NEGATIVE_VALUE);
	assert_int_equal(check_kw(-0.05, false, -1, &r), ME_R_NEGATIVE_VALUE);
	assert_int_equal(check_kw(-0.05, false, NAN, &r), ME_R_NEGATIVE_VALUE);
	/* positives and zero are untouched, and the other rules still hold */
	assert_int_equal(check_kw(0.0, false, tol, &r), ME_OK);
	assert_int_equal(check_kw(0.05, false, tol, &r), ME_OK);
	assert_int_equal(check_kw(100.5, false, tol, &r), ME_R_IMPLAUSIBLE_VALUE);
	assert_int_equal(check_kw(NAN, false, tol, &r), ME_R_BAD_VALUE);
	assert_int_equal(check_kw(-INFINITY, false, tol, &r), ME_R_BAD_VALUE);

	/* the channels' tolerances: the shipped default for solar, none elsewhere */
	assert_true(me_negative_tolerance(&r, "solar") == tol);
	assert_true(me_negative_tolerance(&r, "import") == 0);
	assert_true(me_negative_tolerance(&r, "Solar") == 0);
	assert_true(me_negative_tolerance(&r, "solar2") == 0);
	{
		static const MeNegTolerance two[] = {{"pv", 0.05}, {"solar", 0.2}};

		r.neg_tolerance = two;
		r.nneg_tolerance = 2;
		assert_true(me_negative_tolerance(&r, "pv") == 0.05);
		assert_true(me_negative_tolerance(&r, "solar") == 0.2);
		r.nneg_tolerance = 0;
		assert_true(me_negative_tolerance(&r, "solar") == 0);
	}
}

static void
test_validation_rules(void **state)
{
	MeRules		r = test_rules();
	int64_t		q = 15 * ME_USECS_PER_MIN;
	int64_t		t;
	bool		snapped;
	MeReason	code;

	t = me_make_ts(2024, 1, 1, 0, 15, 0, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_OK);
	assert_false(snapped);
	t = me_make_ts(2024, 1, 1, 0, 15, 20, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_OK);
	assert_true(snapped && t == me_make_ts(2024, 1, 1, 0, 15, 0, 0));
	t = me_make_ts(2024, 1, 1, 0, 14, 40, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_OK);
	assert_true(t == me_make_ts(2024, 1, 1, 0, 15, 0, 0));
	t = me_make_ts(2024, 1, 1, 0, 15, 31, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_R_OFF_GRID_TIMESTAMP);
	/* tolerance never exceeds a quarter interval: 1-minute data, 30 s tolerance -> 15 s */
	t = me_make_ts(2024, 1, 1, 0, 1, 20, 0);
	assert_int_equal(me_check_ts(&t, ME_USECS_PER_MIN, &r, &snapped), ME_R_OFF_GRID_TIMESTAMP);
	t = me_make_ts(2024, 1, 1, 0, 1, 10, 0);
	assert_int_equal(me_check_ts(&t, ME_USECS_PER_MIN, &r, &snapped), ME_OK);
	/* before 2000 (negative on the PG scale) */
	t = me_make_ts(1999, 12, 31, 23, 45, 0, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_R_TIMESTAMP_OUT_OF_RANGE);
	r.min_ts = me_make_ts(1990, 1, 1, 0, 0, 0, 0);
	t = me_make_ts(1999, 12, 31, 23, 45, 10, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_OK);
	assert_true(t == me_make_ts(1999, 12, 31, 23, 45, 0, 0));
	t = me_make_ts(2100, 1, 2, 0, 0, 0, 0);
	assert_int_equal(me_check_ts(&t, q, &r, &snapped), ME_R_TIMESTAMP_OUT_OF_RANGE);

	assert_int_equal(check_kw(1.0, false, 0, &r), ME_OK);
	assert_int_equal(check_kw(0.0, false, 0, &r), ME_OK);
	assert_int_equal(check_kw(-0.1, false, 0, &r), ME_R_NEGATIVE_VALUE);
	assert_int_equal(check_kw(-0.1, true, 0, &r), ME_OK);
	assert_int_equal(check_kw(100.5, false, 0, &r), ME_R_IMPLAUSIBLE_VALUE);
	assert_int_equal(check_kw(-100.5, true, 0, &r), ME_R_IMPLAUSIBLE_VALUE);
	assert_int_equal(check_kw(NAN, false, 0, &r), ME_R_BAD_VALUE);
	assert_int_equal(check_kw(INFINITY, true, 0, &r), ME_R_BAD_VALUE);

	assert_int_equal(me_check_meter_id(S("MAC000002"), &r), ME_OK);
	assert_int_equal(me_check_meter_id(S("Zürich-1"), &r), ME_OK);
	assert_int_equal(me_check_meter_id(S(""), &r), ME_R_MISSING_FIELD);
	assert_int_equal(me_check_meter_id(S("a\tb"), &r), ME_R_BAD_METER_ID);
	assert_int_equal(me_check_meter_id("M\xfc", 2, &r), ME_R_ENCODING_ERROR);

	/* reason codes round-trip */
	for (int i = 1; i < ME_R__COUNT; i++)
	{
		assert_true(me_reason_from_code(me_reason_code((MeReason) i), &code));
		assert_int_equal(code, i);
	}
	assert_false(me_reason_from_code("nope", &code));
}

static void
test_utf8(void **state)
{
	assert_true(me_valid_utf8(S("plain")));
	assert_true(me_valid_utf8(S("é ü € 𝄞")));
	assert_false(me_valid_utf8("\xc3", 1));	/* truncated */
	assert_false(me_valid_utf8("\xc0\xaf", 2));	/* overlong */
	assert_false(me_valid_utf8("\xe0\x80\xaf", 3));	/* overlong */
	assert_false(me_valid_utf8("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(me_valid_utf8("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(me_valid_utf8("\xff", 1));
	assert_false(me_valid_utf8("a\0b", 3));	/* NUL */
	assert_false(me_valid_utf8("\xe2\x82", 2));
}

/* ------------------------------------------------------------ mapping */

static void
test_names_and_intervals(void **state)
{
	char		buf[128];
	int32_t		a,
				b;

	me_normalize_name(buf, S("\xEF\xBB\xBF  KWH/hh (per   half hour) "));
	assert_string_equal(buf, "kwh/hh (per half hour)");
	me_normalize_name(buf, S("Read Date and End Time"));
	assert_string_equal(buf, "read date and end time");
	assert_true(me_parse_interval_header(S("00:00 - 00:30"), &a, &b));
	assert_true(a == 0 && b == 1800);
	assert_true(me_parse_interval_header(S("23:30 - 00:00"), &a, &b));
	assert_true(a == 23 * 3600 + 1800 && b == 0);
	assert_true(me_parse_interval_header(S("7:15"), &a, &b));
	assert_true(a == 7 * 3600 + 900 && b == -1);
	assert_false(me_parse_interval_header(S("00:30 -"), &a, &b));
	assert_false(me_parse_interval_header(S("date"), &a, &b));
	assert_false(me_parse_interval_header(S("25:00"), &a, &b));
}

static void
test_column_mapping(void **state)
{
	char	   *detect[] = {"meter_id", "timestamp", "value", "unit"};
	MeValueSpec values[] = {{"value", NULL, ME_UNIT_UNKNOWN}};
	MeProfile	p;
	MeColMap	map;
	char		err[256];
	char	   *h1[] = {"timestamp", "meter_id", "unit", "value"};
	char	   *h2[] = {"meter_id", "timestamp", "value"};
	char	   *h3[] = {"meter_id", "timestamp", "value", "unit", "channel"};

	memset(&p, 0, sizeof(p));
	p.name = "g";
	p.detect = detect;
	p.ndetect = 4;
	p.meter_col = "meter_id";
	p.ts_col = "timestamp";
	p.unit_col = "unit";
	p.channel_col = "channel";
	p.values = values;
	p.nvalues = 1;
	p.interval_s = 900;
	/* columns in any order */
	assert_true(me_profile_score(&p, h1, 4) > 0);
	assert_true(me_map_columns(&p, h1, 4, &map, err, sizeof(err)));
	assert_int_equal(map.meter, 1);
	assert_int_equal(map.ts, 0);
	assert_int_equal(map.value_idx[0], 3);
	assert_int_equal(map.channel, -1);	/* optional */
	me_colmap_free(&map);
	assert_int_equal(me_profile_score(&p, h2, 3), 0);
	assert_false(me_map_columns(&p, h2, 3, &map, err, sizeof(err)));
	assert_non_null(strstr(err, "\"unit\""));
	me_colmap_free(&map);
	assert_true(me_map_columns(&p, h3, 5, &map, err, sizeof(err)));
	assert_int_equal(map.channel, 4);
	me_colmap_free(&map);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_numbers_match_strtod),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_iso_fast_path_matches_general),
		cmocka_unit_test(test_month_names),
		cmocka_unit_test(test_month_names_refused),
		cmocka_unit_test(test_month_names_with_times),
		cmocka_unit_test(test_date_pattern_compile),
		cmocka_unit_test(test_date_pattern_parse),
		cmocka_unit_test(test_local_time_dst),
		cmocka_unit_test(test_local_time_cache),
		cmocka_unit_test(test_zone_table),
		cmocka_unit_test(test_validation_rules),
		cmocka_unit_test(test_negative_tolerance),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_names_and_intervals),
		cmocka_unit_test(test_column_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
