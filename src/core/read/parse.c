/*
 * parse.c - field parsers for meter files (pure C; see parse.h)
 *
 * Numbers take a fast path for the short decimals meters write (exact by
 * Clinger's argument: at most 15 significant digits and a power of ten
 * below 10^23 are both exact doubles, so one multiplication or division is
 * correctly rounded) and fall back to strtod for everything else.  Numeric
 * dates are read in a configured day/month/year order, because vendors
 * disagree and guessing 01/02 is how data gets corrupted; a month name
 * ("01/Dec/2013") leaves nothing to guess, and a profile's date_format
 * pattern, when set, decides alone.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "parse.h"

static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* Blank characters that may pad a field (CSV writers pad with these). */
static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Slow path: let strtod (C locale in the server) read an unusual number. */
static MeNumStatus
parse_number_slow(const char *s, size_t len, double *out)
{
	char		stackbuf[64];
	char	   *buf = len < sizeof(stackbuf) ? stackbuf : me_alloc(len + 1);
	char	   *end;
	double		v;

	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (buf != stackbuf)
		me_free(buf);
	if (!isfinite(v))
		return ME_NUM_NONFINITE;
	/*
	 * Underflow to zero: 1e-400 is not 0, it is a number no double holds
	 * (and no meter writes), so storing 0 would pass garbage off as a
	 * reading.  A subnormal result stands, as PostgreSQL's float8in has it.
	 */
	if (errno == ERANGE && v == 0.0)
		return ME_NUM_NONFINITE;
	*out = v == 0.0 ? 0.0 : v;
	return ME_NUM_OK;
}

/*
 * Parse a decimal number: [+-]digits[.digits][(e|E)[+-]digits].
 * Hex, NaN, Inf, thousands separators and decimal commas are refused.
 */
MeNumStatus
me_parse_number(const char *s, size_t len, double *out)
{
	const char *p;
	const char *end;
	bool		neg = false;
	uint64_t	mant = 0;
	int			sig = 0;
	int			exp10 = 0;
	int			ndigits = 0;
	bool		overflow = false;

	me_trim(&s, &len);
	if (len == 0)
		return ME_NUM_EMPTY;
	p = s;
	end = s + len;
	if (*p == '+' || *p == '-')
		neg = (*p++ == '-');
	for (; p < end && *p >= '0' && *p <= '9'; p++, ndigits++)
	{
		if (sig < 19)
		{
			if (mant != 0 || *p != '0')
			{
				mant = mant * 10 + (uint64_t) (*p - '0');
				sig++;
			}
		}
		else
		{
			exp10++;
			overflow = true;
		}
	}
	if (p < end && *p == '.')
	{
		for (p++; p < end && *p >= '0' && *p <= '9'; p++, ndigits++)
		{
			if (sig < 19)
			{
				if (mant != 0 || *p != '0')
				{
					mant = mant * 10 + (uint64_t) (*p - '0');
					sig++;
				}
				exp10--;
			}
			else
				overflow = true;
		}
	}
	if (ndigits == 0)
	{
		/* distinguish "nan"/"inf" (non-finite) from plain garbage */
		if ((size_t) (end - p) >= 3 &&
			(strncasecmp(p, "nan", 3) == 0 || strncasecmp(p, "inf", 3) == 0))
			return ME_NUM_NONFINITE;
		return ME_NUM_INVALID;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		const char *q = p + 1;

		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || *q < '0' || *q > '9')
			return ME_NUM_INVALID;
		for (; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q != end)
			return ME_NUM_INVALID;
		return parse_number_slow(s, len, out);
	}
	if (p != end)
		return ME_NUM_INVALID;
	if (!overflow && sig <= 15 && exp10 >= -22 && exp10 <= 22)
	{
		double		v = (double) mant;

		v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
		*out = (neg && v != 0.0) ? -v : v;
		return ME_NUM_OK;
	}
	return parse_number_slow(s, len, out);
}

/* Case-insensitive comparison of a counted string with a C string. */
static bool
eq_ci(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/*
 * Recognise a unit label.  Energy units may carry a per-interval suffix
 * ("kWh/hh", "kWh per interval") which changes nothing: energy is always
 * per reading interval.
 */
MeUnit
me_parse_unit(const char *s, size_t len)
{
	static const struct
	{
		const char *label;
		MeUnit		unit;
	}			units[] = {
		{"w", ME_UNIT_W}, {"kw", ME_UNIT_KW}, {"mw", ME_UNIT_MW},
		{"wh", ME_UNIT_WH}, {"kwh", ME_UNIT_KWH}, {"mwh", ME_UNIT_MWH},
		{"watt", ME_UNIT_W}, {"watts", ME_UNIT_W}, {"kilowatt", ME_UNIT_KW},
		{"kilowatts", ME_UNIT_KW}, {"kilowatt-hour", ME_UNIT_KWH},
		{"kilowatt-hours", ME_UNIT_KWH}, {"watt-hour", ME_UNIT_WH},
		{"watt-hours", ME_UNIT_WH}
	};
	size_t		i;
	size_t		n;

	me_trim(&s, &len);
	/* cut a per-interval qualifier: "kWh/hh", "kWh/interval" */
	for (n = 0; n < len && s[n] != '/' && s[n] != ' '; n++)
		;
	if (n < len)
	{
		const char *rest = s + n;
		size_t		restlen = len - n;

		if (!(eq_ci(rest, restlen, "/hh") || eq_ci(rest, restlen, "/interval") ||
			  eq_ci(rest, restlen, " per interval") ||
			  eq_ci(rest, restlen, " per half hour")))
			return ME_UNIT_UNKNOWN;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (eq_ci(s, n, units[i].label))
		{
			/* a per-interval qualifier only makes sense on energy */
			if (n < len && !me_unit_is_energy(units[i].unit))
				return ME_UNIT_UNKNOWN;
			return units[i].unit;
		}
	return ME_UNIT_UNKNOWN;
}

/* Canonical spelling of a unit, for messages and quarantine rows. */
const char *
me_unit_name(MeUnit unit)
{
	switch (unit)
	{
		case ME_UNIT_W:
			return "W";
		case ME_UNIT_KW:
			return "kW";
		case ME_UNIT_MW:
			return "MW";
		case ME_UNIT_WH:
			return "Wh";
		case ME_UNIT_KWH:
			return "kWh";
		case ME_UNIT_MWH:
			return "MWh";
		default:
			return "unknown";
	}
}

/* Energy units hold consumption per interval rather than power. */
bool
me_unit_is_energy(MeUnit unit)
{
	return unit == ME_UNIT_WH || unit == ME_UNIT_KWH || unit == ME_UNIT_MWH;
}

/*
 * Convert a value to average kW.  Energy per interval becomes power by
 * dividing by the interval in hours, so 0.5 kWh per half hour is 1 kW.
 */
double
me_to_kw(double value, MeUnit unit, int64_t interval_us)
{
	double		hours = (double) interval_us / (double) ME_USECS_PER_HOUR;

	switch (unit)
	{
		case ME_UNIT_W:
			return value / 1000.0;
		case ME_UNIT_KW:
			return value;
		case ME_UNIT_MW:
			return value * 1000.0;
		case ME_UNIT_WH:
			return value / 1000.0 / hours;
		case ME_UNIT_KWH:
			return value / hours;
		case ME_UNIT_MWH:
			return value * 1000.0 / hours;
		default:
			return NAN;
	}
}

/* Read 1..maxd digits as an int; returns the number of digits read. */
static int
read_digits(const char *p, const char *end, int maxd, int *val)
{
	int			n = 0;
	int			v = 0;

	while (p + n < end && n < maxd && p[n] >= '0' && p[n] <= '9')
	{
		v = v * 10 + (p[n] - '0');
		n++;
	}
	*val = v;
	return n;
}

/* Range checks for a civil date. */
static bool
valid_date(int y, int m, int d)
{
	return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
		d <= me_days_in_month(y, m);
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII letters only: the server's locale must not change what a month is. */
static inline bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : c;
}

/* Is s[0..n) the first n characters of lit (lower case), ignoring ASCII case? */
static bool
prefix_ci(const char *s, size_t n, const char *lit)
{
	for (size_t i = 0; i < n; i++)
		if (lit[i] == '\0' || ascii_lower(s[i]) != lit[i])
			return false;
	return true;
}

static const char *const month_names[12] = {
	"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december"
};

/*
 * Read an English month name at p.  The whole run of letters must be a
 * month's full name, its three-letter abbreviation or "Sept", in any case:
 * "Decem" or "Dez" is not a month, and neither is "Dec" glued to more
 * letters.  Returns the letters read (0: no month) and the month.
 */
static int
read_month_name(const char *p, const char *end, int *month)
{
	size_t		n = 0;

	while (p + n < end && is_alpha(p[n]))
		n++;
	for (int m = 0; m < 12; m++)
		if ((n == 3 || n == strlen(month_names[m])) && prefix_ci(p, n, month_names[m]))
		{
			*month = m + 1;
			return (int) n;
		}
	if (n == 4 && prefix_ci(p, n, "sept"))
	{
		*month = 9;
		return 4;
	}
	return 0;
}

/* Step over a number of mind..maxd digits at *p. */
static bool
take_num(const char **p, const char *end, int mind, int maxd, int *val)
{
	int			n = read_digits(*p, end, maxd, val);

	*p += n;
	return n >= mind;
}

/* Step over a month name at *p. */
static bool
take_month(const char **p, const char *end, int *month)
{
	int			n = read_month_name(*p, end, month);

	*p += n;
	return n > 0;
}

/*
 * Step over a date separator at *p: '-', '/' or '.', and a blank too when
 * the month is spelt out, as in "Dec 1 2013" (numeric dates keep the
 * separators they always had).  The second separator of a date must
 * repeat the first: *sep is 0 before the first.
 */
static bool
take_sep(const char **p, const char *end, char *sep, bool blank_ok)
{
	char		c;

	if (*p >= end)
		return false;
	c = **p;
	if (!(c == '-' || c == '/' || c == '.' || (blank_ok && c == ' ')))
		return false;
	if (*sep != '\0' && c != *sep)
		return false;
	*sep = c;
	(*p)++;
	return true;
}

/*
 * A numeric date in the given order: separators '-', '/' or '.', or a
 * compact 8-digit YYYYMMDD (YMD order only).  Years have four digits, day
 * and month one or two.  Returns where the date ends, NULL if it is none.
 */
static const char *
parse_numeric_date(const char *p, const char *end, MeDateOrder order, MeDateTime *dt)
{
	char		sep = '\0';
	int			a,
				b;

	if (order == ME_DATE_YMD)
	{
		if (!take_num(&p, end, 4, 4, &dt->year))
			return NULL;
		if (p < end && is_digit(*p))
			return take_num(&p, end, 2, 2, &dt->month) &&
				take_num(&p, end, 2, 2, &dt->day) ? p : NULL;
		return take_sep(&p, end, &sep, false) && take_num(&p, end, 1, 2, &dt->month) &&
			take_sep(&p, end, &sep, false) && take_num(&p, end, 1, 2, &dt->day) ? p : NULL;
	}
	if (!(take_num(&p, end, 1, 2, &a) && take_sep(&p, end, &sep, false) &&
		  take_num(&p, end, 1, 2, &b) && take_sep(&p, end, &sep, false) &&
		  take_num(&p, end, 4, 4, &dt->year)))
		return NULL;
	dt->month = order == ME_DATE_DMY ? b : a;
	dt->day = order == ME_DATE_DMY ? a : b;
	return p;
}

/*
 * Is the month spelt out?  Then its name comes first ("Dec 1 2013") or
 * right after the first number and separator ("1-Dec-2013", "2013/Dec/01").
 */
static bool
month_is_named(const char *p, const char *end)
{
	if (p < end && is_alpha(*p))
		return true;
	while (p < end && is_digit(*p))
		p++;
	return end - p >= 2 && (*p == '-' || *p == '/' || *p == '.' || *p == ' ') &&
		is_alpha(p[1]);
}

/*
 * A date with its month spelt out: MON D YYYY, D MON YYYY or YYYY MON D.
 * The name fixes the month and only the year has four digits, so the form
 * itself says which number is which, whatever the profile's date_order.
 */
static const char *
parse_named_date(const char *p, const char *end, MeDateTime *dt)
{
	const char *start = p;
	char		sep = '\0';
	int			first;
	bool		year_first;

	if (is_alpha(*p))
		return take_month(&p, end, &dt->month) && take_sep(&p, end, &sep, true) &&
			take_num(&p, end, 1, 2, &dt->day) && take_sep(&p, end, &sep, true) &&
			take_num(&p, end, 4, 4, &dt->year) ? p : NULL;
	if (!take_num(&p, end, 1, 4, &first) || p - start == 3)
		return NULL;
	year_first = p - start == 4;
	if (!(take_sep(&p, end, &sep, true) && take_month(&p, end, &dt->month) &&
		  take_sep(&p, end, &sep, true)))
		return NULL;
	if (year_first)
	{
		dt->year = first;
		return take_num(&p, end, 1, 2, &dt->day) ? p : NULL;
	}
	dt->day = first;
	return take_num(&p, end, 4, 4, &dt->year) ? p : NULL;
}

/*
 * A date in a compiled date_format (see me_date_pattern_compile): every
 * field and separator must be there, in the pattern's order.
 */
static const char *
parse_pattern_date(const char *p, const char *end, const char *ops, MeDateTime *dt)
{
	for (; *ops != '\0'; ops++)
	{
		bool		ok;

		switch (*ops)
		{
			case 'Y':
				ok = take_num(&p, end, 4, 4, &dt->year);
				break;
			case 'D':
				ok = take_num(&p, end, 2, 2, &dt->day);
				break;
			case 'd':
				ok = take_num(&p, end, 1, 2, &dt->day);
				break;
			case 'M':
				ok = take_num(&p, end, 2, 2, &dt->month);
				break;
			case 'm':
				ok = take_num(&p, end, 1, 2, &dt->month);
				break;
			case 'N':
				ok = take_month(&p, end, &dt->month);
				break;
			default:			/* a separator matches itself */
				ok = p < end && *p == *ops;
				p++;
				break;
		}
		if (!ok)
			return NULL;
	}
	return p;
}

/*
 * Parse a date: by the compiled date_format pattern if there is one (it
 * decides alone), else automatically: a month name makes the form plain,
 * and numbers are read in the profile's order.  *consumed reports where
 * the date ended; the rest (a time) is the caller's.
 */
bool
me_parse_date_fmt(const char *s, size_t len, MeDateOrder order, const char *pattern,
				  MeDateTime *dt, size_t *consumed)
{
	const char *end = s + len;
	const char *p;

	memset(dt, 0, sizeof(*dt));
	if (pattern != NULL)
		p = parse_pattern_date(s, end, pattern, dt);
	else if (month_is_named(s, end))
		p = parse_named_date(s, end, dt);
	else
		p = parse_numeric_date(s, end, order, dt);
	/* a digit right after the date means it was longer than allowed */
	if (p == NULL || (p < end && is_digit(*p)))
		return false;
	if (!valid_date(dt->year, dt->month, dt->day))
		return false;
	*consumed = (size_t) (p - s);
	return true;
}

/* Parse a date automatically (no date_format); see me_parse_date_fmt. */
bool
me_parse_date(const char *s, size_t len, MeDateOrder order,
			  MeDateTime *dt, size_t *consumed)
{
	return me_parse_date_fmt(s, len, order, NULL, dt, consumed);
}

/* The fields of a date_format; a longer spelling before its prefixes. */
static const struct
{
	const char *name;
	char		op;				/* its letter in the compiled pattern */
	int			field;			/* 0 day, 1 month, 2 year */
	bool		numeric;
	bool		variable;		/* one or two digits */
}			pattern_fields[] = {
	{"yyyy", 'Y', 2, true, false},
	{"month", 'N', 1, false, false},
	{"mon", 'N', 1, false, false},
	{"mm", 'M', 1, true, false},
	{"m", 'm', 1, true, true},
	{"dd", 'D', 0, true, false},
	{"d", 'd', 0, true, true},
};

/* Separators a date_format may hold between its fields. */
static inline bool
is_pattern_sep(char c)
{
	return c == '-' || c == '/' || c == '.' || c == ' ' || c == ',';
}

/* The field spelt at p, as an index into pattern_fields, or -1. */
static int
match_field(const char *p, size_t len)
{
	for (int k = 0; k < (int) (sizeof(pattern_fields) / sizeof(pattern_fields[0])); k++)
	{
		size_t		n = strlen(pattern_fields[k].name);

		if (n <= len && prefix_ci(p, n, pattern_fields[k].name))
			return k;
	}
	return -1;
}

/* Length of the unknown text at p: a run of letters, or one (UTF-8) character. */
static size_t
unknown_len(const char *p, size_t len)
{
	size_t		n = 1;

	if (is_alpha(*p))
		while (n < len && is_alpha(p[n]))
			n++;
	else
		while (n < len && ((unsigned char) p[n] & 0xC0) == 0x80)
			n++;
	return n;
}

/*
 * Compile a profile's date_format into ops, which needs len + 1 bytes: one
 * letter per field (Y = YYYY, D = DD, d = D, M = MM, m = M, N = MON or
 * MONTH) and each separator as itself.  Fields are case-insensitive.  A
 * pattern must name the day, the month and the year once each, start and
 * end with a field (the reader trims blanks, so an edge separator could
 * never match), and never put a number right after a one-or-two-digit D
 * or M, whose digits would have no end.  On failure, *pos and *errlen
 * locate the offending text (*pos = len when a field is missing).
 */
MeDatePatternStatus
me_date_pattern_compile(const char *pat, size_t len, char *ops, size_t *pos,
						size_t *errlen)
{
	bool		seen[3] = {false, false, false};
	bool		after_variable = false;
	size_t		i = 0;
	char	   *o = ops;

	*pos = 0;
	*errlen = 0;
	*ops = '\0';
	if (len == 0)
		return ME_DPAT_EMPTY;
	while (i < len)
	{
		int			k = match_field(pat + i, len - i);

		*pos = i;
		if (k < 0)
		{
			*errlen = unknown_len(pat + i, len - i);
			if (!is_pattern_sep(pat[i]))
				return ME_DPAT_UNKNOWN;
			if (i == 0 || i == len - 1)
				return ME_DPAT_EDGE;
			*o++ = pat[i++];
			after_variable = false;
			continue;
		}
		*errlen = strlen(pattern_fields[k].name);
		if (seen[pattern_fields[k].field])
			return (MeDatePatternStatus) (ME_DPAT_DUP_DAY + pattern_fields[k].field);
		if (after_variable && pattern_fields[k].numeric)
			return ME_DPAT_AMBIGUOUS;
		seen[pattern_fields[k].field] = true;
		after_variable = pattern_fields[k].variable;
		*o++ = pattern_fields[k].op;
		i += *errlen;
	}
	*o = '\0';
	*pos = len;
	*errlen = 0;
	for (int f = 0; f < 3; f++)
		if (!seen[f])
			return (MeDatePatternStatus) (ME_DPAT_NO_DAY + f);
	return ME_DPAT_OK;
}

/* Parse "[+-]HH[:MM]", "[+-]HHMM" or "Z" into seconds east of UTC. */
static bool
parse_offset(const char *p, const char *end, int32_t *off)
{
	int			sign;
	int			h,
				m = 0;

	if (end - p == 1 && (*p == 'Z' || *p == 'z'))
	{
		*off = 0;
		return true;
	}
	if (p >= end || (*p != '+' && *p != '-'))
		return false;
	sign = *p++ == '-' ? -1 : 1;
	if (read_digits(p, end, 2, &h) != 2)
		return false;
	p += 2;
	if (p < end && *p == ':')
		p++;
	if (p < end)
	{
		if (read_digits(p, end, 2, &m) != 2)
			return false;
		p += 2;
	}
	if (p != end || h > 15 || m > 59)
		return false;
	*off = sign * (h * 3600 + m * 60);
	return true;
}

/*
 * Parse a time of day "H:MM[:SS[.ffffff]]" (the hour may have one or two
 * digits), or the compact "HHMMSS" NEM12 uses, optionally followed by an
 * offset.  24:00[:00] is accepted as the end of the day and normalised by
 * me_datetime_to_ts to the next midnight.
 */
bool
me_parse_time(const char *s, size_t len, MeDateTime *dt)
{
	const char *p;
	const char *end;
	int			h,
				mi,
				sec = 0;
	int			n;
	int32_t		usec = 0;

	me_trim(&s, &len);
	p = s;
	end = s + len;
	n = read_digits(p, end, 2, &h);
	if (n == 0)
		return false;
	p += n;
	if (n == 2 && p < end && *p >= '0' && *p <= '9')
	{
		/* compact HHMM[SS] */
		if (read_digits(p, end, 2, &mi) != 2)
			return false;
		p += 2;
		if (p < end && *p >= '0' && *p <= '9')
		{
			if (read_digits(p, end, 2, &sec) != 2)
				return false;
			p += 2;
		}
	}
	else
	{
		if (p >= end || *p != ':')
			return false;
		p++;
		if (read_digits(p, end, 2, &mi) != 2)
			return false;
		p += 2;
		if (p < end && *p == ':')
		{
			p++;
			if (read_digits(p, end, 2, &sec) != 2)
				return false;
			p += 2;
			if (p < end && (*p == '.' || *p == ','))
			{
				int			scale = 100000;

				p++;
				if (p >= end || *p < '0' || *p > '9')
					return false;
				for (; p < end && *p >= '0' && *p <= '9'; p++)
				{
					usec += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	if (p < end)
	{
		int32_t		off;

		if (!parse_offset(p, end, &off))
			return false;
		dt->has_offset = true;
		dt->offset_s = off;
	}
	if (mi > 59 || sec > 59)
		return false;
	if (h > 24 || (h == 24 && (mi != 0 || sec != 0 || usec != 0)))
		return false;
	dt->hour = h;
	dt->minute = mi;
	dt->second = sec;
	dt->usec = usec;
	dt->has_time = true;
	return true;
}

/* Are s[0..n) all ASCII digits? */
static inline bool
all_digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Two digits at s as an int. */
static inline int
d2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * Fast path for the layout nearly every head-end writes,
 * "YYYY-MM-DD[T ]HH:MM:SS" with an optional Z or +HH:MM / +HHMM / +HH.
 * Anything else (fractions, other offsets, short forms) returns false and
 * takes the general path, which accepts the same and more.
 */
static bool
parse_iso_fast(const char *s, size_t len, MeDateTime *dt)
{
	int32_t		off = 0;
	bool		has_off = false;

	if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
		!all_digits(s + 8, 2) || !all_digits(s + 11, 2) || !all_digits(s + 14, 2) ||
		!all_digits(s + 17, 2))
		return false;
	if (len > 19)
	{
		const char *o = s + 19;
		size_t		olen = len - 19;

		if (olen == 1 && (o[0] == 'Z' || o[0] == 'z'))
			has_off = true;
		else if ((o[0] == '+' || o[0] == '-') &&
				 ((olen == 6 && o[3] == ':' && all_digits(o + 1, 2) && all_digits(o + 4, 2)) ||
				  (olen == 5 && all_digits(o + 1, 4)) ||
				  (olen == 3 && all_digits(o + 1, 2))))
		{
			int			h = d2(o + 1);
			int			m = olen == 6 ? d2(o + 4) : (olen == 5 ? d2(o + 3) : 0);

			if (h > 15 || m > 59)
				return false;
			off = (o[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
			has_off = true;
		}
		else
			return false;
	}
	memset(dt, 0, sizeof(*dt));
	dt->year = d2(s) * 100 + d2(s + 2);
	dt->month = d2(s + 5);
	dt->day = d2(s + 8);
	dt->hour = d2(s + 11);
	dt->minute = d2(s + 14);
	dt->second = d2(s + 17);
	if (!valid_date(dt->year, dt->month, dt->day) || dt->hour > 23 || dt->minute > 59 ||
		dt->second > 59)
		return false;
	dt->has_time = true;
	dt->has_offset = has_off;
	dt->offset_s = off;
	return true;
}

/*
 * Parse a date, then optionally 'T' or blanks and a time with an optional
 * offset (ISO-8601 when the order is YMD).  With a date_format pattern the
 * date must match it: the ISO shortcut is not taken past it.
 */
bool
me_parse_datetime_fmt(const char *s, size_t len, MeDateOrder order, const char *pattern,
					  MeDateTime *dt)
{
	size_t		used;

	me_trim(&s, &len);
	if (pattern == NULL && order == ME_DATE_YMD && parse_iso_fast(s, len, dt))
		return true;
	if (!me_parse_date_fmt(s, len, order, pattern, dt, &used))
		return false;
	s += used;
	len -= used;
	if (len == 0)
		return true;
	if (*s == 'T' || *s == 't')
	{
		s++;
		len--;
	}
	else if (!is_blank(*s))
		return false;
	return me_parse_time(s, len, dt);
}

/* Parse a date-time automatically (no date_format); see me_parse_datetime_fmt. */
bool
me_parse_datetime(const char *s, size_t len, MeDateOrder order, MeDateTime *dt)
{
	return me_parse_datetime_fmt(s, len, order, NULL, dt);
}

/* Convert a parsed date-time to microseconds since 2000-01-01 (offset applied). */
int64_t
me_datetime_to_ts(const MeDateTime *dt)
{
	int64_t		ts = me_make_ts(dt->year, dt->month, dt->day, dt->hour,
								dt->minute, dt->second, dt->usec);

	if (dt->has_offset)
		ts -= (int64_t) dt->offset_s * ME_USECS_PER_SEC;
	return ts;
}

/* Map a profile's date order name ("YMD", "DMY", "MDY") to the enum. */
bool
me_parse_date_order(const char *s, MeDateOrder *order)
{
	if (s == NULL || strcasecmp(s, "ymd") == 0 || strcasecmp(s, "iso") == 0)
		*order = ME_DATE_YMD;
	else if (strcasecmp(s, "dmy") == 0)
		*order = ME_DATE_DMY;
	else if (strcasecmp(s, "mdy") == 0)
		*order = ME_DATE_MDY;
	else
		return false;
	return true;
}
