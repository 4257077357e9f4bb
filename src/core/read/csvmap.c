/*
 * csvmap.c - format profiles and header mapping (pure C; see csvmap.h)
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "csvmap.h"

/*
 * Normalise a header name for matching: drop a UTF-8 byte-order mark,
 * trim, lower-case ASCII letters and collapse runs of blanks, so that
 * "KWH/hh (per half hour) " matches "kwh/hh (per half hour)".  dst must
 * hold len + 1 bytes; returns the normalised length.
 */
size_t
me_normalize_name(char *dst, const char *src, size_t len)
{
	size_t		o = 0;
	bool		blank = false;

	if (len >= 3 && (unsigned char) src[0] == 0xEF &&
		(unsigned char) src[1] == 0xBB && (unsigned char) src[2] == 0xBF)
	{
		src += 3;
		len -= 3;
	}
	me_trim(&src, &len);
	for (size_t i = 0; i < len; i++)
	{
		char		c = src[i];

		if (c == ' ' || c == '\t')
		{
			blank = true;
			continue;
		}
		if (blank && o > 0)
			dst[o++] = ' ';
		blank = false;
		dst[o++] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
	}
	dst[o] = '\0';
	return o;
}

/* Parse "H:MM" into seconds after midnight. */
static bool
parse_hhmm(const char **pp, const char *end, int32_t *secs)
{
	const char *p = *pp;
	int			h = 0,
				m = 0,
				nd = 0;

	while (p < end && *p >= '0' && *p <= '9' && nd < 2)
	{
		h = h * 10 + (*p++ - '0');
		nd++;
	}
	if (nd == 0 || p >= end || *p != ':')
		return false;
	p++;
	if (end - p < 2 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return false;
	m = (p[0] - '0') * 10 + (p[1] - '0');
	p += 2;
	if (h > 24 || m > 59)
		return false;
	*secs = h * 3600 + m * 60;
	*pp = p;
	return true;
}

/*
 * Recognise an interval column header of a wide layout: "00:30" or a range
 * "00:00 - 00:30".  end_s is -1 when the header holds a single time.
 */
bool
me_parse_interval_header(const char *s, size_t len, int32_t *start_s, int32_t *end_s)
{
	const char *p;
	const char *end;

	me_trim(&s, &len);
	p = s;
	end = s + len;
	if (!parse_hhmm(&p, end, start_s))
		return false;
	*end_s = -1;
	while (p < end && (*p == ' ' || *p == '-'))
		p++;
	if (p == end)
		return p == s + len && (p[-1] != '-');
	if (!parse_hhmm(&p, end, end_s))
		return false;
	return p == end;
}

/* Position of a normalised name in the header, or -1. */
static int
find_name(char **names, int nnames, const char *want)
{
	if (want == NULL)
		return -1;
	for (int i = 0; i < nnames; i++)
		if (strcmp(names[i], want) == 0)
			return i;
	return -1;
}

/*
 * How well a header fits a profile: 0 for no match, otherwise the number of
 * identifying columns found plus one, so that the most specific of several
 * matching profiles wins.  NEM12 files are recognised by their 100 record.
 */
int
me_profile_score(const MeProfile *p, char **names, int nnames)
{
	int			score = 1;

	if (p->layout == ME_LAYOUT_NEM12)
		return (nnames >= 2 && strcmp(names[0], "100") == 0 &&
				strcmp(names[1], "nem12") == 0) ? 100 : 0;
	for (int i = 0; i < p->ndetect; i++)
	{
		if (find_name(names, nnames, p->detect[i]) < 0)
			return 0;
		score++;
	}
	if (p->layout == ME_LAYOUT_WIDE)
	{
		int32_t		a,
					b;
		int			n = 0;

		for (int i = 0; i < nnames; i++)
			if (me_parse_interval_header(names[i], strlen(names[i]), &a, &b))
				n++;
		if (n == 0)
			return 0;
	}
	return p->ndetect > 0 ? score : 0;
}

/* Resolve a required column, reporting which one is missing. */
static bool
require_col(char **names, int nnames, const char *want, int *idx,
			char *err, size_t errlen)
{
	*idx = find_name(names, nnames, want);
	if (want != NULL && *idx < 0)
	{
		snprintf(err, errlen, "Column \"%s\" was not found in the header", want);
		return false;
	}
	return true;
}

/* Find the interval columns of a wide layout and derive the interval length. */
static bool
map_wide_intervals(const MeProfile *p, char **names, int nnames, MeColMap *map,
				   char *err, size_t errlen)
{
	map->interval_idx = me_alloc(sizeof(int) * (size_t) nnames);
	map->interval_offset_s = me_alloc(sizeof(int32_t) * (size_t) nnames);
	for (int i = 0; i < nnames; i++)
	{
		int32_t		a,
					b;

		if (!me_parse_interval_header(names[i], strlen(names[i]), &a, &b))
			continue;
		map->interval_idx[map->nintervals] = i;
		map->interval_offset_s[map->nintervals] = a;
		map->nintervals++;
	}
	if (map->nintervals == 0 || 86400 % map->nintervals != 0)
	{
		snprintf(err, errlen, "Found %d interval columns, which do not divide a day",
				 map->nintervals);
		return false;
	}
	map->interval_s = 86400 / map->nintervals;
	for (int k = 0; k < map->nintervals; k++)
	{
		/* a single time per column names the end when the profile says so */
		if (p->ts_is_end)
			map->interval_offset_s[k] -= map->interval_s;
		if (map->interval_offset_s[k] != k * map->interval_s)
		{
			snprintf(err, errlen, "Interval column \"%s\" is out of sequence",
					 names[map->interval_idx[k]]);
			return false;
		}
	}
	return true;
}

/*
 * Resolve the profile's columns against a header.  On failure err says
 * which column is missing; the caller reports it as an error for the file.
 */
bool
me_map_columns(const MeProfile *p, char **names, int nnames, MeColMap *map,
			   char *err, size_t errlen)
{
	memset(map, 0, sizeof(*map));
	map->ncols = nnames;
	map->channel = find_name(names, nnames, p->channel_col);	/* optional */
	map->unit = -1;
	map->estimated = find_name(names, nnames, p->estimated_col);
	map->interval_s = p->interval_s;
	if (!require_col(names, nnames, p->meter_col, &map->meter, err, errlen) ||
		!require_col(names, nnames, p->ts_col, &map->ts, err, errlen) ||
		!require_col(names, nnames, p->date_col, &map->date, err, errlen) ||
		!require_col(names, nnames, p->time_col, &map->time, err, errlen) ||
		!require_col(names, nnames, p->unit_col, &map->unit, err, errlen))
		return false;
	if (p->layout == ME_LAYOUT_WIDE)
		return map_wide_intervals(p, names, nnames, map, err, errlen);
	if (map->ts < 0 && map->date < 0)
	{
		snprintf(err, errlen, "Profile \"%s\" names no timestamp or date column", p->name);
		return false;
	}
	if (p->nvalues == 0)
	{
		snprintf(err, errlen, "Profile \"%s\" names no value column", p->name);
		return false;
	}
	map->value_idx = me_alloc(sizeof(int) * (size_t) p->nvalues);
	for (int i = 0; i < p->nvalues; i++)
		if (!require_col(names, nnames, p->values[i].col, &map->value_idx[i], err, errlen))
			return false;
	if (p->interval_s <= 0)
	{
		snprintf(err, errlen, "Profile \"%s\" has no interval length", p->name);
		return false;
	}
	return true;
}

/* Release what me_map_columns allocated. */
void
me_colmap_free(MeColMap *map)
{
	me_free(map->value_idx);
	me_free(map->interval_idx);
	me_free(map->interval_offset_s);
	memset(map, 0, sizeof(*map));
}

/* May readings of this channel be negative (net import/export)? */
bool
me_channel_is_signed(const MeProfile *p, const char *channel)
{
	for (int i = 0; i < p->nsigned; i++)
		if (strcmp(p->signed_channels[i], channel) == 0)
			return true;
	return false;
}

/* Look a raw channel label up in the profile's channel map. */
const MeChannelMap *
me_channel_lookup(const MeProfile *p, const char *raw, size_t len)
{
	me_trim(&raw, &len);
	for (int i = 0; i < p->nchannel_map; i++)
		if (strlen(p->channel_map[i].from) == len &&
			strncasecmp(p->channel_map[i].from, raw, len) == 0)
			return &p->channel_map[i];
	return NULL;
}

/* Is this (trimmed) field one of the profile's "no reading" markers? */
bool
me_is_missing_marker(const MeProfile *p, const char *s, size_t len)
{
	me_trim(&s, &len);
	if (len == 0)
		return true;
	for (int i = 0; i < p->nmissing; i++)
		if (p->missing[i] != NULL && strlen(p->missing[i]) == len && strncasecmp(p->missing[i], s, len) == 0)
			return true;
	return false;
}
