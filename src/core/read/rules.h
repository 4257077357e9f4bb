/*
 * rules.h - validation rules and quarantine reason codes
 *
 * One list, shared by the ingest path (which applies the rules in-process)
 * and the BEFORE INSERT trigger on meter_etl.reading (which applies them to
 * every other path).  The text codes are part of the public interface:
 * they are stored in meter_etl.quarantine, listed in meter_etl.reason_code
 * and documented in the README, so they never change meaning.
 */
#ifndef ME_RULES_H
#define ME_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum MeReason
{
	ME_OK = 0,
	ME_R_PARSE_ERROR,
	ME_R_ENCODING_ERROR,
	ME_R_MISSING_FIELD,
	ME_R_BAD_METER_ID,
	ME_R_UNKNOWN_METER,
	ME_R_UNKNOWN_CHANNEL,
	ME_R_BAD_TIMESTAMP,
	ME_R_NONEXISTENT_LOCAL_TIME,
	ME_R_TIMESTAMP_OUT_OF_RANGE,
	ME_R_OFF_GRID_TIMESTAMP,
	ME_R_MISSING_VALUE,
	ME_R_BAD_VALUE,
	ME_R_NEGATIVE_VALUE,
	ME_R_IMPLAUSIBLE_VALUE,
	ME_R_BAD_UNIT,
	ME_R_DUPLICATE_CONFLICT,
	ME_R_BAD_CHANNEL,
	ME_R__COUNT
} MeReason;

/* Quality flag bits stored in meter_etl.reading.flags (see meter_etl.quality_flag). */
#define ME_FLAG_ESTIMATED		0x0001	/* estimated by meter_etl (interpolation) */
#define ME_FLAG_OUTLIER			0x0002	/* rolling-statistics outlier */
#define ME_FLAG_SUSPECT_METER	0x0004	/* meter flagged faulty in this period */
#define ME_FLAG_EDITED			0x0008	/* changed by a person or a rule (a small
										 * negative on a generation channel stored
										 * as 0) */
#define ME_FLAG_SOURCE_ESTIMATED 0x0010 /* the source marked it estimated/substituted */
#define ME_FLAG_TIME_ADJUSTED	0x0020	/* timestamp snapped onto the interval grid */

/*
 * A channel's tolerance below zero (meter_etl.channel.negative_tolerance_kw):
 * on a channel that is not signed, a reading in [-kw, 0) is stored as 0 with
 * ME_FLAG_EDITED instead of being negative_value.
 */
typedef struct MeNegTolerance
{
	const char *channel;		/* channel name, as the reader names it */
	double		kw;				/* > 0 */
} MeNegTolerance;

/* Thresholds, filled from GUCs by the glue and from fixtures by the tests. */
typedef struct MeRules
{
	int64_t		min_ts;			/* earliest valid timestamp (PG µs) */
	int64_t		max_ts;			/* latest valid timestamp (PG µs) */
	double		max_kw;			/* larger readings are implausible */
	int64_t		grid_tolerance_us;	/* snap onto the grid within this */
	int			max_meter_id_len;
	const MeNegTolerance *neg_tolerance;	/* channels with a tolerance below 0 */
	int			nneg_tolerance;
} MeRules;

#define ME_DEFAULT_MAX_METER_ID_LEN 64
/* The validation rules' defaults (meter_etl.* settings, test fixtures). */
#define ME_DEFAULT_MAX_KW 100.0
#define ME_DEFAULT_MIN_TIMESTAMP "2000-01-01 00:00:00+00"
#define ME_DEFAULT_FUTURE_TOLERANCE_S 86400 /* one day */
#define ME_DEFAULT_GRID_TOLERANCE_S 30
/*
 * The solar channel's tolerance below zero, in kW (meter_etl.channel): an
 * inverter on standby draws a little at night, which the meter reports as
 * small negative generation.  In the Pecan Street sample (2 homes, 2018)
 * half of all solar readings lie between -0.001 and -0.068 kW; 0.1 kW bounds
 * that with a margin of half as much again, and a larger negative is not
 * standby draw (a sign or wiring fault): negative_value, as before.
 */
#define ME_DEFAULT_SOLAR_NEGATIVE_TOLERANCE_KW 0.1
/* Longest channel name (after normalisation); longer labels are bad_channel. */
#define ME_MAX_CHANNEL_LEN 63
#define ME_BAD_CHANNEL_DETAIL "channel label longer than 63 bytes"

extern const char *me_reason_code(MeReason reason);
extern bool me_reason_from_code(const char *code, MeReason *reason);
extern MeReason me_check_meter_id(const char *s, size_t len, const MeRules *rules);
extern MeReason me_check_ts(int64_t *ts, int64_t interval_us, const MeRules *rules,
							bool *snapped);
extern double me_negative_tolerance(const MeRules *rules, const char *channel);
extern MeReason me_check_kw(double *kw, bool signed_channel, double negative_tolerance_kw,
							const MeRules *rules, bool *clipped);
extern bool me_valid_utf8(const char *s, size_t len);

#endif							/* ME_RULES_H */
