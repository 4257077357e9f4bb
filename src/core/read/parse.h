/*
 * parse.h - field parsers for meter files: numbers, dates and times, units
 *
 * Pure C (no postgres.h).  Every parser takes a pointer and a length, trims
 * surrounding blanks itself, never reads past the length, and reports
 * failure instead of guessing: the caller turns failures into quarantine
 * reason codes.
 */
#ifndef ME_PARSE_H
#define ME_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Outcome of me_parse_number. */
typedef enum MeNumStatus
{
	ME_NUM_OK = 0,
	ME_NUM_EMPTY,				/* only blanks */
	ME_NUM_INVALID,				/* not a decimal number */
	ME_NUM_NONFINITE			/* NaN, Inf or out of double range */
} MeNumStatus;

/* Units a reading may carry; energy units are per interval. */
typedef enum MeUnit
{
	ME_UNIT_UNKNOWN = 0,
	ME_UNIT_W,
	ME_UNIT_KW,
	ME_UNIT_MW,
	ME_UNIT_WH,
	ME_UNIT_KWH,
	ME_UNIT_MWH
} MeUnit;

/* Order of day, month and year in numeric dates. */
typedef enum MeDateOrder
{
	ME_DATE_YMD = 0,
	ME_DATE_DMY,
	ME_DATE_MDY
} MeDateOrder;

/*
 * Outcome of me_date_pattern_compile, for a profile's date_format.  The
 * glue turns each into a message; pos and len locate the offending text.
 */
typedef enum MeDatePatternStatus
{
	ME_DPAT_OK = 0,
	ME_DPAT_EMPTY,				/* nothing to compile */
	ME_DPAT_UNKNOWN,			/* neither a field nor a separator */
	ME_DPAT_EDGE,				/* starts or ends with a separator */
	ME_DPAT_DUP_DAY,			/* a field named twice */
	ME_DPAT_DUP_MONTH,
	ME_DPAT_DUP_YEAR,
	ME_DPAT_NO_DAY,				/* a field missing */
	ME_DPAT_NO_MONTH,
	ME_DPAT_NO_YEAR,
	ME_DPAT_AMBIGUOUS			/* D or M directly followed by a number */
} MeDatePatternStatus;

/* A parsed civil date-time; offset_s is valid only if has_offset. */
typedef struct MeDateTime
{
	int			year;
	int			month;
	int			day;
	int			hour;
	int			minute;
	int			second;
	int32_t		usec;
	bool		has_time;
	bool		has_offset;
	int32_t		offset_s;		/* seconds east of UTC */
} MeDateTime;

/* Strip leading and trailing blanks (space, tab) in place. */
static inline void
me_trim(const char **s, size_t *len)
{
	const char *p = *s;
	size_t		n = *len;

	while (n > 0 && (*p == ' ' || *p == '\t'))
	{
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*s = p;
	*len = n;
}

extern MeNumStatus me_parse_number(const char *s, size_t len, double *out);
extern MeUnit me_parse_unit(const char *s, size_t len);
extern const char *me_unit_name(MeUnit unit);
extern bool me_unit_is_energy(MeUnit unit);
extern double me_to_kw(double value, MeUnit unit, int64_t interval_us);

extern bool me_parse_datetime(const char *s, size_t len, MeDateOrder order,
							  MeDateTime *dt);
extern bool me_parse_date(const char *s, size_t len, MeDateOrder order,
						  MeDateTime *dt, size_t *consumed);
extern bool me_parse_datetime_fmt(const char *s, size_t len, MeDateOrder order,
								  const char *pattern, MeDateTime *dt);
extern bool me_parse_date_fmt(const char *s, size_t len, MeDateOrder order,
							  const char *pattern, MeDateTime *dt, size_t *consumed);
extern MeDatePatternStatus me_date_pattern_compile(const char *pat, size_t len,
												   char *ops, size_t *pos,
												   size_t *errlen);
extern bool me_parse_time(const char *s, size_t len, MeDateTime *dt);
extern int64_t me_datetime_to_ts(const MeDateTime *dt);
extern bool me_parse_date_order(const char *s, MeDateOrder *order);

#endif							/* ME_PARSE_H */
