/*
 * csvmap.h - format profiles and header-to-column mapping
 *
 * A format profile (a row of meter_etl.format_profile) says how a vendor's
 * file maps onto (meter, channel, timestamp, value, unit).  This module
 * holds the profile in a plain C struct, normalises header names, decides
 * whether a header belongs to a profile (auto-detection) and resolves the
 * profile's column names to positions.  Pure C.
 */
#ifndef ME_CSVMAP_H
#define ME_CSVMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"

typedef enum MeLayout
{
	ME_LAYOUT_LONG = 0,			/* one timestamp per line, one or more values */
	ME_LAYOUT_WIDE,				/* one meter-day per line, one column per interval */
	ME_LAYOUT_NEM12				/* AEMO NEM12 multi-record file */
} MeLayout;

/* One value column of a long layout and the channel it feeds. */
typedef struct MeValueSpec
{
	char	   *col;			/* normalised header name */
	char	   *channel;		/* NULL: channel column or profile default */
	MeUnit		unit;			/* ME_UNIT_UNKNOWN: unit column or default */
} MeValueSpec;

/* A raw channel label and what it means ("import" or "import:kW"). */
typedef struct MeChannelMap
{
	char	   *from;			/* raw text, compared case-insensitively */
	char	   *channel;
	MeUnit		unit;			/* ME_UNIT_UNKNOWN if the label has none */
} MeChannelMap;

typedef struct MeProfile
{
	char	   *name;
	MeLayout	layout;
	char		delimiter;
	char		quote;
	char	  **detect;			/* normalised names that identify the layout */
	int			ndetect;
	char	   *meter_col;		/* NULL: meter_default, else the file stem */
	char	   *meter_default;
	char	   *channel_col;	/* optional in the file */
	char	   *channel_default;
	MeChannelMap *channel_map;
	int			nchannel_map;
	char	   *ts_col;			/* date and time in one column ... */
	char	   *date_col;		/* ... or in two */
	char	   *time_col;
	MeDateOrder date_order;
	char	   *date_pattern;	/* compiled date_format; NULL: auto */
	bool		ts_is_end;		/* timestamps mark the interval end */
	bool		newest_first;	/* file runs backwards in time (DST overlap) */
	MeValueSpec *values;
	int			nvalues;
	char	   *unit_col;
	MeUnit		unit_default;
	int32_t		interval_s;		/* 0: taken from the data (wide, NEM12) */
	char	  **missing;		/* markers meaning "no reading" */
	int			nmissing;
	char	   *estimated_col;
	char	  **estimated_true;
	int			nestimated_true;
	char	  **signed_channels;	/* channels that may be negative (net) */
	int			nsigned;
} MeProfile;

/* Column positions resolved from a header; -1 when absent. */
typedef struct MeColMap
{
	int			ncols;
	int			meter;
	int			channel;
	int			ts;
	int			date;
	int			time;
	int			unit;
	int			estimated;
	int		   *value_idx;		/* per profile value spec */
	/* wide layouts */
	int			nintervals;
	int		   *interval_idx;
	int32_t    *interval_offset_s;	/* seconds after local midnight */
	int32_t		interval_s;
} MeColMap;

extern size_t me_normalize_name(char *dst, const char *src, size_t len);
extern bool me_parse_interval_header(const char *s, size_t len, int32_t *start_s,
									 int32_t *end_s);
extern int	me_profile_score(const MeProfile *p, char **names, int nnames);
extern bool me_map_columns(const MeProfile *p, char **names, int nnames,
						   MeColMap *map, char *err, size_t errlen);
extern void me_colmap_free(MeColMap *map);
extern bool me_channel_is_signed(const MeProfile *p, const char *channel);
extern const MeChannelMap *me_channel_lookup(const MeProfile *p, const char *raw,
											 size_t len);
extern bool me_is_missing_marker(const MeProfile *p, const char *s, size_t len);

#endif							/* ME_CSVMAP_H */
