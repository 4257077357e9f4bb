/*
 * rules.c - validation rules and reason codes (pure C; see rules.h)
 */
#include <math.h>
#include <string.h>

#include "core/me_time.h"
#include "rules.h"

static const char *const reason_codes[ME_R__COUNT] = {
	[ME_OK] = "ok",
	[ME_R_PARSE_ERROR] = "parse_error",
	[ME_R_ENCODING_ERROR] = "encoding_error",
	[ME_R_MISSING_FIELD] = "missing_field",
	[ME_R_BAD_METER_ID] = "bad_meter_id",
	[ME_R_UNKNOWN_METER] = "unknown_meter",
	[ME_R_UNKNOWN_CHANNEL] = "unknown_channel",
	[ME_R_BAD_TIMESTAMP] = "bad_timestamp",
	[ME_R_NONEXISTENT_LOCAL_TIME] = "nonexistent_local_time",
	[ME_R_TIMESTAMP_OUT_OF_RANGE] = "timestamp_out_of_range",
	[ME_R_OFF_GRID_TIMESTAMP] = "off_grid_timestamp",
	[ME_R_MISSING_VALUE] = "missing_value",
	[ME_R_BAD_VALUE] = "bad_value",
	[ME_R_NEGATIVE_VALUE] = "negative_value",
	[ME_R_IMPLAUSIBLE_VALUE] = "implausible_value",
	[ME_R_BAD_UNIT] = "bad_unit",
	[ME_R_DUPLICATE_CONFLICT] = "duplicate_conflict",
	[ME_R_BAD_CHANNEL] = "bad_channel",
};

/* Stable text code of a reason. */
const char *
me_reason_code(MeReason reason)
{
	if ((int) reason < 0 || reason >= ME_R__COUNT)
		return "unknown";
	return reason_codes[reason];
}

/* Reverse lookup, for tests and for checking the catalog table. */
bool
me_reason_from_code(const char *code, MeReason *reason)
{
	int			i;

	for (i = 1; i < ME_R__COUNT; i++)
		if (strcmp(code, reason_codes[i]) == 0)
		{
			*reason = (MeReason) i;
			return true;
		}
	return false;
}

/*
 * Meter ids are identifiers: non-empty, bounded, printable.  Control
 * characters usually mean a shifted column or a binary file.
 */
MeReason
me_check_meter_id(const char *s, size_t len, const MeRules *rules)
{
	size_t		i;
	bool		ascii = true;

	if (len == 0)
		return ME_R_MISSING_FIELD;
	if ((int) len > rules->max_meter_id_len)
		return ME_R_BAD_METER_ID;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f)
			return ME_R_BAD_METER_ID;
		ascii &= c < 0x80;
	}
	if (!ascii && !me_valid_utf8(s, len))
		return ME_R_ENCODING_ERROR;
	return ME_OK;
}

/*
 * A timestamp must lie in the configured window and on the meter's
 * interval grid (multiples of the interval since 2000-01-01 UTC).  Within
 * the tolerance it is snapped to the nearest grid point and *snapped set.
 */
MeReason
me_check_ts(int64_t *ts, int64_t interval_us, const MeRules *rules, bool *snapped)
{
	int64_t		t = *ts;

	*snapped = false;
	if (t < rules->min_ts || t > rules->max_ts)
		return ME_R_TIMESTAMP_OUT_OF_RANGE;
	if (interval_us > 0)
	{
		int64_t		rem = t - me_floor_div(t, interval_us) * interval_us;
		int64_t		dist = rem <= interval_us / 2 ? rem : rem - interval_us;
		int64_t		tol = rules->grid_tolerance_us;

		if (dist != 0)
		{
			/* never snap by more than a quarter interval */
			if (tol > interval_us / 4)
				tol = interval_us / 4;
			if (dist > tol || dist < -tol)
				return ME_R_OFF_GRID_TIMESTAMP;
			*ts = t - dist;
			*snapped = true;
		}
	}
	return ME_OK;
}

/* A channel's tolerance below zero in kW (0: none). */
double
me_negative_tolerance(const MeRules *rules, const char *channel)
{
	for (int i = 0; i < rules->nneg_tolerance; i++)
		if (strcmp(rules->neg_tolerance[i].channel, channel) == 0)
			return rules->neg_tolerance[i].kw;
	return 0;
}

/*
 * Value rules: finite, not negative (unless the channel is signed),
 * plausible.  On a channel that is not signed, a negative reading no
 * further below zero than negative_tolerance_kw (the bound included) is
 * noise of a generation channel, an inverter's standby draw at night: *kw
 * becomes 0 and *clipped is set (the caller flags it edited).  Beyond it,
 * or with no tolerance (0), it is negative_value.  Signed channels are
 * never clipped.
 */
MeReason
me_check_kw(double *kw, bool signed_channel, double negative_tolerance_kw,
			const MeRules *rules, bool *clipped)
{
	double		v = *kw;

	*clipped = false;
	if (!isfinite(v))
		return ME_R_BAD_VALUE;
	if (v < 0 && !signed_channel)
	{
		if (!(negative_tolerance_kw > 0 && v >= -negative_tolerance_kw))
			return ME_R_NEGATIVE_VALUE;
		*kw = 0;
		*clipped = true;
		return ME_OK;
	}
	if (fabs(v) > rules->max_kw)
		return ME_R_IMPLAUSIBLE_VALUE;
	return ME_OK;
}

/*
 * Strict UTF-8 check (no overlongs, no surrogates, nothing above U+10FFFF,
 * no NUL, which PostgreSQL text cannot hold).
 */
bool
me_valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		int			n;
		uint32_t	cp;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
		{
			n = 1;
			cp = c & 0x1F;
		}
		else if (c >= 0xE0 && c <= 0xEF)
		{
			n = 2;
			cp = c & 0x0F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			n = 3;
			cp = c & 0x07;
		}
		else
			return false;
		if (len - i <= (size_t) n)
			return false;	/* truncated sequence */
		for (int k = 1; k <= n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}
