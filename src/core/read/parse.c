/*
 * parse.c - field parsers for meter files (pure C; see parse.h)
 *
 * Numbers take a fast path for the short decimals meters write (exact by
 * Clinger's argument: at most 15 significant digits and a power of ten
 * below 10^23 are both exact doubles, so one multiplication or division is
 * correctly rounded) and fall back to strtod for everything else.  Dates
 * are numeric, in a configured day/month/year order, because vendors
 * disagree and guessing 01/02 is how data gets corrupted.
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

/*
 * Parse a numeric date in the given order: separators '-', '/' or '.', or
 * a compact 8-digit YYYYMMDD (YMD order only).  Years have four digits;
 * day and month one or two.  *consumed reports where the date ended.
 */
bool
me_parse_date(const char *s, size_t len, MeDateOrder order,
			  MeDateTime *dt, size_t *consumed)
{
	const char *p = s;
	const char *end = s + len;
	int			a,
				b,
				c;
	int			na,
				nb,
				nc;
	char		sep;

	memset(dt, 0, sizeof(*dt));
	if (order == ME_DATE_YMD)
	{
		na = read_digits(p, end, 4, &a);
		if (na != 4)
			return false;
		p += 4;
		if (p < end && *p >= '0' && *p <= '9')
		{
			/* compact YYYYMMDD */
			if (read_digits(p, end, 2, &b) != 2 || read_digits(p + 2, end, 2, &c) != 2)
				return false;
			p += 4;
		}
		else
		{
			if (p >= end || (*p != '-' && *p != '/' && *p != '.'))
				return false;
			sep = *p++;
			nb = read_digits(p, end, 2, &b);
			if (nb == 0)
				return false;
			p += nb;
			if (p >= end || *p != sep)
				return false;
			p++;
			nc = read_digits(p, end, 2, &c);
			if (nc == 0)
				return false;
			p += nc;
		}
		dt->year = a;
		dt->month = b;
		dt->day = c;
	}
	else
	{
		na = read_digits(p, end, 2, &a);
		if (na == 0)
			return false;
		p += na;
		if (p >= end || (*p != '-' && *p != '/' && *p != '.'))
			return false;
		sep = *p++;
		nb = read_digits(p, end, 2, &b);
		if (nb == 0)
			return false;
		p += nb;
		if (p >= end || *p != sep)
			return false;
		p++;
		nc = read_digits(p, end, 4, &c);
		if (nc != 4)
			return false;
		p += nc;
		dt->year = c;
		dt->month = order == ME_DATE_DMY ? b : a;
		dt->day = order == ME_DATE_DMY ? a : b;
	}
	/* a digit right after the date means it was longer than allowed */
	if (p < end && *p >= '0' && *p <= '9')
		return false;
	if (!valid_date(dt->year, dt->month, dt->day))
		return false;
	*consumed = (size_t) (p - s);
	return true;
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
 * offset (ISO-8601 when the order is YMD).
 */
bool
me_parse_datetime(const char *s, size_t len, MeDateOrder order, MeDateTime *dt)
{
	size_t		used;

	me_trim(&s, &len);
	if (order == ME_DATE_YMD && parse_iso_fast(s, len, dt))
		return true;
	if (!me_parse_date(s, len, order, dt, &used))
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
