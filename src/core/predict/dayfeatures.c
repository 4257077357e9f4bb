/*
 * dayfeatures.c - the seven features of a meter's local day
 *
 * Definitions and units are in dayfeatures.h.  Every ratio guards its
 * denominator, so an all-zero day or meter gives defined, finite features
 * (an isolation forest must never see NaN).
 */
#include "core/predict/dayfeatures.h"

#include <math.h>
#include <string.h>

/* jsonb keys of the features, in ME_DAYF_* order */
const char *const me_dayf_names[ME_DAYF_N] = {
	"energy_kwh", "peak_mean", "night_day", "zero_share", "max_step_kw",
	"own_resid", "peer_resid"
};

void
me_how_profile_init(MeHowProfile *p)
{
	memset(p, 0, sizeof(*p));
}

void
me_how_profile_add(MeHowProfile *p, int how, double kw)
{
	if (how < 0 || how >= ME_HOURS_PER_WEEK)
		return;
	p->sum[how] += kw;
	p->n[how]++;
}

double
me_how_profile_means(const MeHowProfile *p, double *means)
{
	double		sum = 0.0;
	int64_t		n = 0;
	double		level;

	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
	{
		sum += p->sum[h];
		n += p->n[h];
	}
	level = n > 0 ? sum / (double) n : 0.0;
	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
		means[h] = p->n[h] > 0 ? p->sum[h] / (double) p->n[h] : level;
	return level;
}

int
me_how_profile_shape(const MeHowProfile *p, double *shape)
{
	double		means[ME_HOURS_PER_WEEK];
	double		total = 0.0;
	int			hours = 0;

	me_how_profile_means(p, means);
	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
		if (p->n[h] > 0)
		{
			total += means[h];
			hours++;
		}
	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
		shape[h] = 1.0;
	/* each hour weighs the same, however many readings it has */
	if (hours == 0 || !(total / hours > 0.0))
		return 0;
	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
		if (p->n[h] > 0)
			shape[h] = means[h] / (total / hours);
	return 1;
}

/* The input's readings are finite, hours and weekday in range. */
static int
check_input(const MeDayInput *in, size_t *bad_index)
{
	if (in->n == 0)
		return ME_DAYF_EMPTY;
	if (in->dow < 0 || in->dow > 6)
		return ME_DAYF_BAD_HOUR;
	if (!(in->day_hours >= 1.0 && in->day_hours <= 48.0))
		return ME_DAYF_BAD_LENGTH;
	for (size_t i = 0; i < in->n; i++)
	{
		if (!isfinite(in->kw[i]))
		{
			if (bad_index)
				*bad_index = i;
			return ME_DAYF_NONFINITE;
		}
		if (in->hour[i] > 23)
		{
			if (bad_index)
				*bad_index = i;
			return ME_DAYF_BAD_HOUR;
		}
	}
	return ME_DAYF_OK;
}

/* num / den with the guards of the header: 0 when both are 0, the cap when only den is. */
static double
guarded_ratio(double num, double den)
{
	if (den > 0.0)
	{
		double		r = num / den;

		return r < ME_DAYF_RATIO_CAP ? r : ME_DAYF_RATIO_CAP;
	}
	return num > 0.0 ? ME_DAYF_RATIO_CAP : 0.0;
}

/* energy, peak/mean, night/day, zero share and largest step: the day alone */
static void
level_features(const MeDayInput *in, double mean, double *out)
{
	double		peak = in->kw[0];
	double		night = 0.0,
				day = 0.0;
	size_t		n_night = 0,
				n_day = 0,
				zeros = 0;
	double		step = 0.0;

	for (size_t i = 0; i < in->n; i++)
	{
		double		kw = in->kw[i];

		if (kw > peak)
			peak = kw;
		if (fabs(kw) < ME_DAYF_ZERO_KW)
			zeros++;
		if (in->hour[i] < ME_DAYF_NIGHT_END_HOUR)
			night += kw, n_night++;
		else
			day += kw, n_day++;
		if (i > 0 && fabs(kw - in->kw[i - 1]) > step)
			step = fabs(kw - in->kw[i - 1]);
	}
	out[ME_DAYF_ENERGY_KWH] = mean * in->day_hours;
	out[ME_DAYF_PEAK_MEAN] = mean > 0.0 ? guarded_ratio(peak, mean) : 0.0;
	out[ME_DAYF_NIGHT_DAY] = (n_night == 0 || n_day == 0) ? 0.0 :
		guarded_ratio(night / n_night, day / n_day);
	out[ME_DAYF_ZERO_SHARE] = (double) zeros / (double) in->n;
	out[ME_DAYF_MAX_STEP_KW] = step;
}

/* The two residuals: against the meter's own profile and the peers' shape. */
static void
residual_features(const MeDayInput *in, double mean, double *out)
{
	double		own = 0.0,
				peer = 0.0;

	for (size_t i = 0; i < in->n; i++)
	{
		int			how = in->dow * 24 + in->hour[i];
		double		e = in->kw[i] - in->own_mean[how];
		/* a day without consumption has the zero shape */
		double		s = (mean > 0.0 ? in->kw[i] / mean : 0.0) - in->peer_shape[how];

		own += e * e;
		peer += s * s;
	}
	own = sqrt(own / in->n);
	out[ME_DAYF_OWN_RESID] = in->own_level > 0.0 ? own / in->own_level : 0.0;
	out[ME_DAYF_PEER_RESID] = sqrt(peer / in->n);
}

int
me_day_features(const MeDayInput *in, double out[ME_DAYF_N], size_t *bad_index)
{
	double		mean = 0.0;
	int			st = check_input(in, bad_index);

	if (st != ME_DAYF_OK)
		return st;
	for (size_t i = 0; i < in->n; i++)
		mean += in->kw[i];
	mean /= (double) in->n;
	level_features(in, mean, out);
	residual_features(in, mean, out);
	return ME_DAYF_OK;
}

const char *
me_dayf_strerror(int status)
{
	switch (status)
	{
		case ME_DAYF_OK:
			return "ok";
		case ME_DAYF_EMPTY:
			return "the day has no reading";
		case ME_DAYF_NONFINITE:
			return "a reading is not a finite number";
		case ME_DAYF_BAD_HOUR:
			return "an hour or weekday is out of range";
		case ME_DAYF_BAD_LENGTH:
			return "the day's length is out of range";
	}
	return "unknown status";
}
