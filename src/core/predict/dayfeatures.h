/*
 * dayfeatures.h - the features of one meter's local day, for anomaly scores
 *
 * Pure C.  The glue passes a day's readings (average kW over the meter's
 * interval, in time order) with each reading's local hour and the day's
 * local weekday, the meter's own hour-of-week mean profile over the range
 * scored, and the peers' (fleet's) hour-of-week profile shape.  The
 * features, in this order (ME_DAYF_*), with their units:
 *
 *   energy_kwh     mean kW of the day's readings x the day's length in
 *                  hours (23, 24 or 25 on DST days), kWh: a day with a
 *                  few missing readings is not read as a low day
 *   peak_mean      max kW / mean kW (dimensionless, >= 1, capped at
 *                  ME_DAYF_RATIO_CAP); 0 for a day with no consumption
 *                  (mean <= 0)
 *   night_day      mean kW at night (local hours 00-05, i.e. 00:00-06:00)
 *                  / mean kW the rest of the day; 0 without consumption
 *                  or without readings on either side, capped at
 *                  ME_DAYF_RATIO_CAP when the day part is 0 but the night not
 *   zero_share     share of readings with |kW| < ME_DAYF_ZERO_KW, 0..1
 *   max_step_kw    largest |kW difference| between consecutive readings
 *                  of the day (kW; 0 for a single reading)
 *   own_resid      RMS of (kW - the meter's own hour-of-week mean at that
 *                  hour) / the meter's mean kW over the range
 *                  (dimensionless; 0 when that mean is 0)
 *   peer_resid     RMS of (kW / the day's mean kW - the peers' profile
 *                  shape at that hour of week), the shape being the
 *                  peers' hour-of-week profile divided by its mean
 *                  (dimensionless; a day without consumption has the
 *                  zero shape, so its residual is the RMS of the peers')
 *
 * Hour of week = local weekday (0 = Sunday) x 24 + local hour.
 */
#ifndef ME_DAYFEATURES_H
#define ME_DAYFEATURES_H

#include <stddef.h>
#include <stdint.h>

#define ME_HOURS_PER_WEEK 168
#define ME_DAYF_NIGHT_END_HOUR 6	/* night: local hours [0, 6) */
#define ME_DAYF_ZERO_KW 0.0005		/* below half a watt-hour per hour: zero */
#define ME_DAYF_RATIO_CAP 100.0

typedef enum MeDayFeature
{
	ME_DAYF_ENERGY_KWH = 0,
	ME_DAYF_PEAK_MEAN,
	ME_DAYF_NIGHT_DAY,
	ME_DAYF_ZERO_SHARE,
	ME_DAYF_MAX_STEP_KW,
	ME_DAYF_OWN_RESID,
	ME_DAYF_PEER_RESID,
	ME_DAYF_N
} MeDayFeature;

typedef enum MeDayfStatus
{
	ME_DAYF_OK = 0,
	ME_DAYF_EMPTY,				/* no reading */
	ME_DAYF_NONFINITE,			/* NaN or infinity in a reading */
	ME_DAYF_BAD_HOUR,			/* hour outside 0..23, weekday outside 0..6 */
	ME_DAYF_BAD_LENGTH			/* day length outside 1..48 hours */
} MeDayfStatus;

/* An hour-of-week profile being accumulated: sums and counts per hour. */
typedef struct MeHowProfile
{
	double		sum[ME_HOURS_PER_WEEK];
	int64_t		n[ME_HOURS_PER_WEEK];
} MeHowProfile;

/* The day and its context. */
typedef struct MeDayInput
{
	const double *kw;			/* the day's readings, in time order */
	const uint8_t *hour;		/* each reading's local hour, 0..23 */
	size_t		n;
	int			dow;			/* local weekday, 0 = Sunday */
	double		day_hours;		/* local day length: 24, or 23/25 on DST days */
	const double *own_mean;		/* [168] the meter's hour-of-week means */
	double		own_level;		/* the meter's mean kW over the range */
	const double *peer_shape;	/* [168] the peers' profile / its mean */
} MeDayInput;

extern const char *const me_dayf_names[ME_DAYF_N];

extern void me_how_profile_init(MeHowProfile *p);
extern void me_how_profile_add(MeHowProfile *p, int how, double kw);
/* means[168] (hours without a reading: the overall mean); the overall mean */
extern double me_how_profile_means(const MeHowProfile *p, double *means);
/*
 * shape[168]: the hourly means divided by their mean over the hours with
 * readings (1 where an hour has none).  Returns 0, and a flat shape, when
 * the profile has no reading or only zeros: it has no shape to share.
 */
extern int	me_how_profile_shape(const MeHowProfile *p, double *shape);

extern int	me_day_features(const MeDayInput *in, double out[ME_DAYF_N], size_t *bad_index);
extern const char *me_dayf_strerror(int status);

#endif							/* ME_DAYFEATURES_H */
