/*
 * gen_fleet.c - deterministic demo-fleet generator for meter_etl
 *
 * Writes a CSV of smart-meter interval readings in the generic layout
 * (meter_id,timestamp,value,unit) and, optionally, a ground-truth labels CSV
 * (kind,meter_id,line_no,start_ts,end_ts,detail) describing every injected
 * fault.  Same arguments => byte-identical output: all randomness comes from
 * our own xoshiro256** streams, one value stream and one fault stream per
 * meter, so the clean readings do not depend on --order or --faults.
 *
 * --archetypes gives each meter a household archetype with its own daily
 * shape and --anomaly-days labelled anomalous days (issue 20, ground truth
 * for segmentation and anomaly scores), as label rows of kinds
 * "archetype" and "anomaly_day" (line_no empty, detail archetype=NAME or
 * type=NAME) ahead of the fault labels.  Both draw from streams of their
 * own: without them the output is what it always was, byte for byte.
 *
 * Time grid: regular in UTC, from local midnight (Europe/London) of the first
 * day to local midnight after the last, so a local day has 92/96/100 rows at
 * 15 minutes.  Timestamps are written as Europe/London local time with an
 * explicit offset.
 *
 * See usage() for the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/me_time.h"

/* ------------------------------------------------------------------ PRNG */

typedef struct rng
{
	uint64_t	s[4];
} rng_t;

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static void
rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
	uint64_t	x = seed * UINT64_C(0xD1342543DE82EF95) ^ (stream + 0x5851F42D4C957F2DULL);

	x = splitmix64(&x);
	for (int k = 0; k < 4; k++)
		r->s[k] = splitmix64(&x);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
rng_next(rng_t *r)
{
	uint64_t   *s = r->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* uniform in [0, 1) */
static inline double
rng_unif(rng_t *r)
{
	return (rng_next(r) >> 11) * 0x1.0p-53;
}

static inline double
rng_range(rng_t *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_unif(r);
}

/* uniform integer in [lo, hi] */
static inline int64_t
rng_int(rng_t *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t) (rng_next(r) % (uint64_t) (hi - lo + 1));
}

/* cheap approximately normal deviate (Irwin-Hall of 3, unit variance) */
static inline double
rng_gauss(rng_t *r)
{
	return (rng_unif(r) + rng_unif(r) + rng_unif(r) - 1.5) * 2.0;
}

/* ------------------------------------------------------------- fault kinds */

enum kind
{
	/* per-reading */
	K_SPIKE,
	K_NEGATIVE,
	K_BAD_TS,
	K_BAD_VALUE,
	K_MISSING_VALUE,
	K_BAD_UNIT,
	K_IMPLAUSIBLE,
	K_OFF_GRID,
	K_TS_RANGE,
	K_MISSING_FIELD,
	K_DUPLICATE,
	K_DUP_CONFLICT,
	K_SHORT_GAP,
	K_LONG_GAP,
	/* per-meter */
	K_STUCK_ZERO,
	K_FLATLINE,
	K_LEVEL_SHIFT,
	K_OFFLINE,
	NKINDS
};

static const char *const kind_name[NKINDS] = {
	"spike", "negative_value", "bad_timestamp", "bad_value", "missing_value",
	"bad_unit", "implausible_value", "off_grid_timestamp",
	"timestamp_out_of_range", "missing_field", "duplicate",
	"duplicate_conflict", "short_gap", "long_gap",
	"stuck_zero", "flatline", "level_shift", "offline"
};

/*
 * Per-reading rates at --faults default (fraction of readings); the order is
 * the order of the cumulative draw.  Gaps are "chance to start one".
 */
#define NREADING_KINDS (K_LONG_GAP + 1)
static const double reading_rate[NREADING_KINDS] = {
	[K_SPIKE] = 0.0010,
	[K_NEGATIVE] = 0.0005,
	[K_BAD_TS] = 0.0005,
	[K_BAD_VALUE] = 0.0005,
	[K_MISSING_VALUE] = 0.0003,
	[K_BAD_UNIT] = 0.0003,
	[K_IMPLAUSIBLE] = 0.0002,
	[K_OFF_GRID] = 0.0002,
	[K_TS_RANGE] = 0.0001,
	[K_MISSING_FIELD] = 0.0001,
	[K_DUPLICATE] = 0.0030,
	[K_DUP_CONFLICT] = 0.0005,
	[K_SHORT_GAP] = 0.0020,
	[K_LONG_GAP] = 0.0002,
};

#define METER_FAULT_RATE 0.02	/* per kind, fraction of meters */
#define UNIT_SWITCH_RATE 0.01

/* ------------------------------------------------------------------ types */

enum unit
{
	U_KW, U_W, U_KWH
};
static const char *const unit_name[] = {"kW", "W", "kWh"};
static const int unit_len[] = {2, 1, 3};

typedef struct meter
{
	char		id[48];
	int			idlen;
	rng_t		rv;				/* value stream */
	rng_t		rf;				/* fault stream */

	/* load model */
	int			unit;
	int			wdec;			/* decimals when reporting W: 0 or 1 */
	double		base;
	double		scale;
	double		mc,
				mw,
				am;				/* morning peak centre, width, amplitude */
	double		ec,
				ew,
				ae;				/* evening */
	double		amid,
				amid_we;		/* midday presence, weekday/weekend */
	double		noise;
	double		bump_p;
	int			bump_left;
	double		bump_kw;
	int			cur_day;
	double		day_f;

	/* --archetypes / --anomaly-days (both off: arch -1, no anomalies) */
	int			arch;			/* household archetype, or -1 */
	double		bump_scale;		/* archetypes: appliance bumps in proportion to the home */
	int			anom_today;		/* anomaly type of cur_day, or -1 */
	int			nanom;
	int		   *anom_day;		/* local day index of each anomalous day */
	int		   *anom_type;

	/* faults */
	int			mf;				/* K_STUCK_ZERO.. or -1 */
	int64_t		fa,
				fb;				/* run [fa, fb] as interval indexes */
	double		factor;
	char		flat_val[32];
	int			flat_len;
	int64_t		switch_at;		/* interval where the unit flips W<->kW, or -1 */
	int			gap_left;
	bool		force_clean;
	int64_t		last_ok;		/* last interval written with its own id and grid timestamp */

	/* delayed exact duplicate */
	int			pend_k;
	int			pend_len;
	int64_t		pend_i;
	uint64_t	pend_of;
	char		pend_line[128];
} meter_t;

/* ------------------------------------------------------------------ globals */

static int	opt_meters = 200;
static int	opt_days = 7;
static int	opt_interval = 15;
static int	opt_year = 2024,
			opt_month = 3,
			opt_mday = 25;
static uint64_t opt_seed = 42;
static const char *opt_out = NULL;
static const char *opt_labels = NULL;
static int	opt_faults = 1;		/* 0 none, 1 default, 3 heavy (rate multiplier) */
static bool opt_time_order = false;
static int	opt_history = 0;
static int	opt_shift_lo = -1;		/* --shift-start A:B: level shifts start on days A..B */
static int	opt_shift_hi = -1;
static double opt_shift_factors[16];	/* --shift-factors: chosen at random */
static int	opt_n_shift_factors = 0;
static const char *opt_prefix = "M";
static bool opt_power_only = false;	/* --units power: W and kW only */
static bool opt_archetypes = false;	/* --archetypes: household archetypes */
static int	opt_anomaly_days = 0;	/* --anomaly-days N: per 100 meters */

static int64_t N;				/* intervals in the series */
static int64_t W0;				/* first interval where faults may occur */
static int64_t step_us;
static int64_t t0_us;			/* UTC start of interval 0 */
static int	iph;				/* intervals per hour */
static int	ndays;				/* local days in the series */

static char (*g_ts)[26];		/* local ISO timestamp of each interval */
static float *g_hour;			/* local hour of the interval's midpoint */
static uint8_t *g_weekend;
static int *g_day;				/* local day index */
static float *g_fac;			/* season x weather */
static int64_t *g_dstart;		/* first interval of each local day */

static meter_t *meters;
static double cum_rate[NREADING_KINDS];

static FILE *out_fp;
static FILE *lab_fp;
static char *obuf;
static size_t opos;
#define OBUF_SIZE (4u << 20)
static uint64_t lineno;			/* physical number of the last line written */

static uint64_t kind_count[NKINDS];
static uint64_t missing_rows;

/* ------------------------------------------------------------------ time */

/* UTC instant (PG-scale usecs) of 01:00 UTC on the last Sunday of y-m */
static int64_t
last_sunday_0100(int y, int m)
{
	int64_t		ts = me_make_ts(y, m, me_days_in_month(y, m), 1, 0, 0, 0);

	return ts - me_dow(ts) * ME_USECS_PER_DAY;
}

/* Europe/London UTC offset in minutes at UTC instant t */
static int
london_offset_min(int64_t t)
{
	int			y,
				mo,
				d;

	me_civil_from_days(me_floor_div(t, ME_USECS_PER_DAY) + ME_UNIX_TO_PG_DAYS, &y, &mo, &d);
	return (t >= last_sunday_0100(y, 3) && t < last_sunday_0100(y, 10)) ? 60 : 0;
}

/* UTC instant of local midnight starting the given civil day (days since 1970) */
static int64_t
local_midnight(int64_t days)
{
	int64_t		utc0 = (days - ME_UNIX_TO_PG_DAYS) * ME_USECS_PER_DAY;
	int64_t		guess = utc0 - ME_USECS_PER_HOUR;

	/* transitions happen at 01:00 UTC, so local midnight is never ambiguous */
	return london_offset_min(guess) == 60 ? guess : utc0;
}

static inline void
put2(char *p, int v)
{
	p[0] = '0' + v / 10;
	p[1] = '0' + v % 10;
}

static inline void
put4(char *p, int v)
{
	p[0] = '0' + (v / 1000) % 10;
	p[1] = '0' + (v / 100) % 10;
	p[2] = '0' + (v / 10) % 10;
	p[3] = '0' + v % 10;
}

/* "YYYY-MM-DDTHH:MM:SS+HH:MM" for wall time of t shifted by off_min; 25 chars */
static void
fmt_iso(char *p, int64_t t, int off_min)
{
	int64_t		lt = t + off_min * ME_USECS_PER_MIN;
	int64_t		days = me_floor_div(lt, ME_USECS_PER_DAY);
	int64_t		secs = (lt - days * ME_USECS_PER_DAY) / ME_USECS_PER_SEC;
	int			y,
				mo,
				d;

	me_civil_from_days(days + ME_UNIX_TO_PG_DAYS, &y, &mo, &d);
	put4(p, y);
	p[4] = '-';
	put2(p + 5, mo);
	p[7] = '-';
	put2(p + 8, d);
	p[10] = 'T';
	put2(p + 11, (int) (secs / 3600));
	p[13] = ':';
	put2(p + 14, (int) (secs / 60 % 60));
	p[16] = ':';
	put2(p + 17, (int) (secs % 60));
	p[19] = '+';
	put2(p + 20, off_min / 60);
	p[22] = ':';
	put2(p + 23, off_min % 60);
	p[25] = '\0';
}

static void
fmt_local(char *p, int64_t t)
{
	fmt_iso(p, t, london_offset_min(t));
}

static inline int64_t
ts_of(int64_t i)
{
	return t0_us + i * step_us;
}

/* --------------------------------------------------------------- output */

static void
obuf_flush(void)
{
	if (opos && fwrite(obuf, 1, opos, out_fp) != opos)
	{
		fprintf(stderr, "meter-etl-gen: write error: %s\n", strerror(errno));
		exit(1);
	}
	opos = 0;
}

static inline void
emit(const char *line, int len)
{
	if (opos + len > OBUF_SIZE)
		obuf_flush();
	memcpy(obuf + opos, line, len);
	opos += len;
	lineno++;
}

static inline int
put_u64(char *p, uint64_t v)
{
	char		t[24];
	int			n = 0;

	do
	{
		t[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	for (int k = 0; k < n; k++)
		p[k] = t[n - 1 - k];
	return n;
}

static const int64_t pow10i[] = {1, 10, 100, 1000, 10000};

/* non-negative scaled integer sc / 10^dec with exactly dec decimals */
static inline int
put_fixed(char *p, int64_t sc, int dec)
{
	int			n;
	int64_t		f;

	if (dec == 0)
		return put_u64(p, (uint64_t) sc);
	n = put_u64(p, (uint64_t) (sc / pow10i[dec]));
	p[n++] = '.';
	f = sc % pow10i[dec];
	for (int k = dec - 1; k >= 0; k--)
	{
		p[n + k] = '0' + f % 10;
		f /= 10;
	}
	return n + dec;
}

static inline int
unit_at(const meter_t *M, int64_t i)
{
	if (M->switch_at >= 0 && i >= M->switch_at)
		return M->unit == U_W ? U_KW : U_W;
	return M->unit;
}

/* value of kw (average kW over the interval) in unit u, formatted */
static inline int
fmt_value(char *p, const meter_t *M, int u, double kw, bool neg)
{
	double		v;
	int			dec;
	int			n = 0;

	switch (u)
	{
		case U_W:
			v = kw * 1000.0;
			dec = M->wdec;
			break;
		case U_KWH:
			v = kw * opt_interval / 60.0;
			dec = 4;
			break;
		default:
			v = kw;
			dec = 3;
			break;
	}
	if (neg)
		p[n++] = '-';
	return n + put_fixed(p + n, llround(v * pow10i[dec]), dec);
}

/* assemble "id,ts,value,unit\n" */
static inline int
build_line(char *buf, const meter_t *M, bool with_id, const char *ts, int tslen,
		   const char *val, int vlen, const char *unit, int ulen)
{
	int			n = 0;

	if (with_id)
	{
		memcpy(buf, M->id, M->idlen);
		n = M->idlen;
	}
	buf[n++] = ',';
	memcpy(buf + n, ts, tslen);
	n += tslen;
	buf[n++] = ',';
	memcpy(buf + n, val, vlen);
	n += vlen;
	buf[n++] = ',';
	memcpy(buf + n, unit, ulen);
	n += ulen;
	buf[n++] = '\n';
	return n;
}

static void
label(int kind, const meter_t *M, uint64_t line, int64_t ia, int64_t ib, const char *detail)
{
	char		a[32],
				b[32];

	kind_count[kind]++;
	if (!lab_fp)
		return;
	fmt_iso(a, ts_of(ia), 0);
	fmt_iso(b, ts_of(ib), 0);
	if (line)
		fprintf(lab_fp, "%s,%s,%llu,%s,%s,%s\n", kind_name[kind], M->id,
				(unsigned long long) line, a, b, detail ? detail : "");
	else
		fprintf(lab_fp, "%s,%s,,%s,%s,%s\n", kind_name[kind], M->id, a, b,
				detail ? detail : "");
}

/* ------------------------------------------------------------ load model */

static inline double
bell(double h, double c, double w)
{
	double		z = (h - c) / w;

	return exp(-0.5 * z * z);
}

static double arch_shape(const meter_t *M, double h, bool weekend);

static inline double
shape(const meter_t *M, double h, bool weekend)
{
	if (M->arch >= 0)
		return arch_shape(M, h, weekend);
	if (weekend)
		return M->am * 0.75 * bell(h, M->mc + 1.5, M->mw * 1.5) +
			M->amid_we * bell(h, 13.5, 3.5) +
			M->ae * bell(h, M->ec + 0.3, M->ew * 1.1);
	return M->am * bell(h, M->mc, M->mw) +
		M->amid * bell(h, 13.0, 3.0) +
		M->ae * bell(h, M->ec, M->ew);
}

/*
 * Household archetypes (--archetypes): each has its own daily shape, so
 * that segmentation has a ground truth.  PV export homes import little
 * around midday; their import is reduced, never negative (a negative
 * reading on the import channel is quarantined as negative_value).
 */
enum archetype
{
	A_WORKING_COUPLE, A_FAMILY, A_RETIRED, A_NIGHT_SHIFT, A_ELECTRIC_HEATING, A_PV_EXPORT,
	NARCH
};
static const char *const arch_name[NARCH] = {
	"working_couple", "family", "retired", "night_shift", "electric_heating", "pv_export"
};
static uint64_t arch_count[NARCH];

/* Labelled anomalous days (--anomaly-days): kinds the fault matcher ignores. */
enum anomaly
{
	D_PARTY, D_AWAY, D_HEATER_ON, NANOM
};
static const char *const anom_name[NANOM] = {"party", "away", "heater_left_on"};
static uint64_t anom_count[NANOM];

/* a bell around c on the 24-hour circle (night-time peaks wrap midnight) */
static inline double
bell24(double h, double c, double w)
{
	double		d = fabs(h - c);

	return bell(d > 12.0 ? 24.0 - d : d, 0.0, w);
}

/* a smooth step up at a and down at b (hours, a < b) */
static inline double
window(double h, double a, double b)
{
	return 1.0 / (1.0 + exp(-(h - a) * 3.0)) - 1.0 / (1.0 + exp(-(h - b) * 3.0));
}

/* The archetype's daily shape (relative; meter_init scales it to the meter's mean). */
static double
arch_shape(const meter_t *M, double h, bool weekend)
{
	switch (M->arch)
	{
		case A_WORKING_COUPLE:
			if (weekend)
				return 0.6 * bell(h, 9.5, 1.5) + 0.6 * bell(h, 13.5, 3.0) + 1.4 * bell(h, 19.0, 1.6);
			return 0.8 * bell(h, 7.0, 0.7) + 0.05 * bell(h, 13.0, 3.0) + 1.6 * bell(h, 19.5, 1.5);
		case A_FAMILY:
		case A_PV_EXPORT:
			if (weekend)
				return 0.9 * bell(h, 9.0, 1.5) + 1.0 * bell(h, 13.0, 3.0) + 1.6 * bell(h, 18.5, 1.8);
			return 1.0 * bell(h, 7.3, 0.9) + 0.35 * bell(h, 12.5, 2.5) + 0.9 * bell(h, 16.5, 1.2) +
				1.8 * bell(h, 18.7, 1.6);
		case A_RETIRED:
			return 0.6 * bell(h, 8.8, 1.2) + 1.0 * bell(h, 12.5, 2.8) + 0.9 * bell(h, 17.3, 1.5);
		case A_NIGHT_SHIFT:
			if (weekend)
				return 0.6 * bell(h, 10.0, 1.5) + 0.6 * bell(h, 14.0, 3.0) + 1.2 * bell(h, 19.5, 2.0) +
					0.6 * bell24(h, 0.5, 2.0);
			return 1.3 * bell24(h, 0.5, 2.0) + 0.8 * bell(h, 7.5, 0.8) + 0.15 * bell(h, 12.0, 2.0) +
				0.8 * bell(h, 17.0, 1.2);
		case A_ELECTRIC_HEATING:
			/* storage heaters charge on the night tariff */
			return 2.5 * window(h, 0.5, 7.0) + 0.5 * bell(h, 7.5, 1.0) + 1.0 * bell(h, 18.5, 1.6);
	}
	return 0.0;
}

/* Share of the load a PV home still imports at local hour h. */
static inline double
pv_import_share(double h)
{
	return 1.0 - 0.9 * bell(h, 13.0, 2.3);
}

static void
meter_init(meter_t *M, int idx)
{
	rng_t	   *r = &M->rv;
	double		mean,
				smean = 0;
	double		u;

	M->idlen = snprintf(M->id, sizeof(M->id), "%s%06d", opt_prefix, idx + 1);
	rng_seed(&M->rv, opt_seed, (uint64_t) idx * 2 + 1);
	rng_seed(&M->rf, opt_seed, (uint64_t) idx * 2 + 2);

	u = rng_unif(r);
	M->unit = u < 0.20 ? U_W : (u < 0.30 ? U_KWH : U_KW);
	if (opt_power_only && M->unit == U_KWH)
		M->unit = U_KW;	/* same random stream, energy meters report kW */
	M->wdec = rng_unif(r) < 0.5 ? 0 : 1;
	M->base = rng_range(r, 0.05, 0.40);
	/* mean load log-uniform in [0.1, 3] kW, skewed towards typical homes */
	mean = exp(rng_range(r, log(0.1), log(3.0)) * 0.85 + 0.15 * log(0.5));
	if (mean < M->base * 1.3)
		mean = M->base * 1.3;
	M->mc = rng_range(r, 6.8, 8.8);
	M->mw = rng_range(r, 0.7, 1.3);
	M->am = rng_range(r, 0.6, 1.4);
	M->ec = rng_range(r, 17.8, 20.3);
	M->ew = rng_range(r, 1.0, 1.8);
	M->ae = rng_range(r, 1.0, 2.0);
	M->amid = rng_range(r, 0.1, 0.5);
	M->amid_we = rng_range(r, 0.4, 0.9);
	M->noise = rng_range(r, 0.03, 0.10);
	M->bump_p = rng_range(r, 0.005, 0.02) * opt_interval / 15.0;
	M->cur_day = -1;
	M->day_f = 1.0;
	M->arch = -1;
	M->anom_today = -1;
	if (opt_archetypes)
	{
		/* a stream of its own: the value stream draws what it always drew */
		rng_t		ra;

		rng_seed(&ra, opt_seed, (UINT64_C(1) << 40) + (uint64_t) idx);
		M->arch = (int) rng_int(&ra, 0, NARCH - 1);
		arch_count[M->arch]++;
		/*
		 * The shape must show: a base load of most of the mean would make
		 * every archetype flat, and a 2 kW kettle in a 0.1 kW home would
		 * hide its shape in any average.
		 */
		if (M->base > 0.3 * mean)
			M->base = 0.3 * mean;
		M->bump_scale = mean < 1.5 ? mean / 1.5 : 1.0;
	}

	/* scale the shape so the long-run mean is about `mean` */
	for (int k = 0; k < 48; k++)
	{
		double		h = k * 0.5 + 0.25;

		smean += (5.0 * shape(M, h, false) + 2.0 * shape(M, h, true)) / 7.0;
	}
	smean /= 48.0;
	M->scale = (mean - M->base) / smean;

	M->mf = -1;
	M->switch_at = -1;
	M->last_ok = -1;
}

/* The anomaly type of local day d of the meter, or -1. */
static int
anomaly_on(const meter_t *M, int d)
{
	for (int k = 0; k < M->nanom; k++)
		if (M->anom_day[k] == d)
			return M->anom_type[k];
	return -1;
}

/* The load x at local hour h on an anomalous day (no random draw: the stream stays as it was). */
static double
anomalous(const meter_t *M, double x, double h)
{
	switch (M->anom_today)
	{
		case D_PARTY:
			return h >= 18.0 ? x * 3.0 : x;
		case D_AWAY:
			/* nobody home: the fridge and standby only */
			return 0.3 * M->base * M->day_f;
		case D_HEATER_ON:
			return h < 7.0 || h >= 22.0 ? x + 2.0 : x;
	}
	return x;
}

static inline double
model(meter_t *M, int64_t i)
{
	rng_t	   *r = &M->rv;
	double		h = g_hour[i];
	double		x;

	if (g_day[i] != M->cur_day)
	{
		M->cur_day = g_day[i];
		M->day_f = 1.0 + 0.08 * rng_gauss(r);
		if (M->nanom > 0)
			M->anom_today = anomaly_on(M, M->cur_day);
	}
	x = (M->base + M->scale * shape(M, h, g_weekend[i])) * g_fac[i] * M->day_f;
	x *= 1.0 + M->noise * rng_gauss(r);
	if (M->arch == A_PV_EXPORT)
		x *= pv_import_share(h);
	if (M->anom_today >= 0)
		x = anomalous(M, x, h);

	/* appliance bumps: kettle, oven, washing machine... */
	if (M->bump_left > 0)
	{
		x += M->bump_kw;
		M->bump_left--;
	}
	else if (rng_unif(r) < M->bump_p * (h >= 6.5 && h < 23.0 ? 1.0 : 0.15))
	{
		int			dur = (int) rng_int(r, 15, 90);

		M->bump_kw = rng_range(r, 0.5, 2.2);
		if (M->arch >= 0)
			M->bump_kw *= M->bump_scale;
		M->bump_left = (dur - 1) / opt_interval;	/* further intervals */
		x += M->bump_kw * (dur < opt_interval ? (double) dur / opt_interval : 1.0);
	}
	if (x < 0.02)
		x = 0.02;
	if (x > 20.0)
		x = 20.0;
	return x;
}

/* ------------------------------------------------------------ generation */

/* interval i lies in (or next to) the meter's per-meter fault run */
static inline bool
protected_at(const meter_t *M, int64_t i)
{
	return M->mf >= 0 && i >= M->fa - 1 && i <= M->fb + 1;
}

static void
write_clean(meter_t *M, int64_t i, double kw)
{
	char		val[32],
				line[128];
	int			u = unit_at(M, i);
	int			vl = fmt_value(val, M, u, kw, false);
	int			n = build_line(line, M, true, g_ts[i], 25, val, vl,
							   unit_name[u], unit_len[u]);

	emit(line, n);
}

static void
emit_pending(meter_t *M)
{
	char		d[48];

	emit(M->pend_line, M->pend_len);
	snprintf(d, sizeof(d), "of_line=%llu", (unsigned long long) M->pend_of);
	label(K_DUPLICATE, M, lineno, M->pend_i, M->pend_i, d);
	M->pend_k = 0;
}

/*
 * Can a gap of len intervals start at i?  It must be bounded by readings
 * that carry the meter's id and grid timestamp: the one before was written
 * so, and the one after (which must exist) is forced clean.
 */
static bool
gap_fits(const meter_t *M, int64_t i, int64_t len)
{
	if (i < 1 || i < W0 || i + len > N - 1 || M->last_ok != i - 1)
		return false;
	if (M->mf >= 0 && i + len >= M->fa - 1 && i <= M->fb + 1)
		return false;
	return true;
}

static void
step(meter_t *M, int64_t i)
{
	rng_t	   *r = &M->rf;
	double		x = model(M, i);
	char		val[48],
				line[128],
				ts[40],
				d[128];
	int			u,
				vl,
				n,
				tl;
	double		uu;
	int			kind;
	uint64_t	first;

	if (!opt_faults || i < W0)
	{
		write_clean(M, i, x);
		M->last_ok = i;
		return;
	}

	/* per-meter fault runs */
	if (M->mf >= 0 && i >= M->fa && i <= M->fb)
	{
		switch (M->mf)
		{
			case K_STUCK_ZERO:
				if (i == M->fa)
				{
					snprintf(d, sizeof(d), "intervals=%lld", (long long) (M->fb - M->fa + 1));
					label(K_STUCK_ZERO, M, 0, M->fa, M->fb, d);
				}
				write_clean(M, i, 0.0);
				return;
			case K_FLATLINE:
				u = unit_at(M, i);
				if (i == M->fa)
				{
					M->flat_len = fmt_value(M->flat_val, M, u, x, false);
					M->flat_val[M->flat_len] = '\0';
					snprintf(d, sizeof(d), "value=%s;intervals=%lld", M->flat_val,
							 (long long) (M->fb - M->fa + 1));
					label(K_FLATLINE, M, 0, M->fa, M->fb, d);
				}
				n = build_line(line, M, true, g_ts[i], 25, M->flat_val, M->flat_len,
							   unit_name[u], unit_len[u]);
				emit(line, n);
				return;
			case K_OFFLINE:
				if (i == M->fa)
				{
					snprintf(d, sizeof(d), "intervals=%lld", (long long) (M->fb - M->fa + 1));
					label(K_OFFLINE, M, 0, M->fa, M->fb, d);
					missing_rows += M->fb - M->fa + 1;
				}
				return;
			case K_LEVEL_SHIFT:
				if (i == M->fa)
				{
					snprintf(d, sizeof(d), "factor=%.2f;intervals=%lld", M->factor,
							 (long long) (M->fb - M->fa + 1));
					label(K_LEVEL_SHIFT, M, 0, M->fa, M->fb, d);
				}
				write_clean(M, i, x * M->factor);
				return;
		}
	}

	if (M->gap_left > 0)
	{
		if (--M->gap_left == 0)
			M->force_clean = true;
		return;
	}

	first = lineno + 1;
	kind = -1;
	if (M->force_clean)
		M->force_clean = false;
	else if (!protected_at(M, i))
	{
		uu = rng_unif(r);
		for (int k = 0; k < NREADING_KINDS; k++)
			if (uu < cum_rate[k])
			{
				kind = k;
				break;
			}
	}

	u = unit_at(M, i);
	switch (kind)
	{
		case K_SHORT_GAP:
		case K_LONG_GAP:
			{
				int64_t		len = kind == K_SHORT_GAP ? rng_int(r, 1, 6) :
					rng_int(r, 3 * iph, 10 * iph);

				if (!gap_fits(M, i, len))
					goto clean;
				snprintf(d, sizeof(d), "intervals=%lld", (long long) len);
				label(kind, M, 0, i, i + len - 1, d);
				missing_rows += len;
				M->gap_left = (int) len - 1;
				if (M->gap_left == 0)
					M->force_clean = true;
				return;
			}
		case K_SPIKE:
			{
				double		f = round(rng_range(r, 8.0, 20.0) * 100.0) / 100.0;

				if (x * f >= 99.0)
					f = floor(99.0 / x * 100.0) / 100.0;
				if (f < 8.0)
					goto clean;
				vl = fmt_value(val, M, u, x * f, false);
				n = build_line(line, M, true, g_ts[i], 25, val, vl, unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "factor=%.2f", f);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_NEGATIVE:
			vl = fmt_value(val, M, u, x, true);
			val[vl] = '\0';
			n = build_line(line, M, true, g_ts[i], 25, val, vl, unit_name[u], unit_len[u]);
			emit(line, n);
			snprintf(d, sizeof(d), "value=%s", val);
			label(kind, M, lineno, i, i, d);
			break;
		case K_BAD_TS:
			{
				static const char *const fixed[] = {"yesterday", "31/31/2024 10:00"};
				int			v = (int) rng_int(r, 0, 4);

				switch (v)
				{
					case 0:
						memcpy(ts, g_ts[i], 4);
						strcpy(ts + 4, "-13-45T99:00:00+00:00");
						tl = 25;
						break;
					case 1:
					case 2:
						tl = (int) strlen(fixed[v - 1]);
						memcpy(ts, fixed[v - 1], tl + 1);
						break;
					case 3:
						memcpy(ts, g_ts[i], 9);
						tl = 9;
						ts[tl] = '\0';
						break;
					default:
						memcpy(ts, g_ts[i], 26);
						memcpy(ts + 11, "25", 2);
						tl = 25;
						break;
				}
				vl = fmt_value(val, M, u, x, false);
				n = build_line(line, M, true, ts, tl, val, vl, unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "ts=%s", ts);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_BAD_VALUE:
			{
				/* NaN is a missing-value marker of the generic format, not garbage */
				static const char *const bad[] = {"abc", "1.2.3", "--5", "0x1F", "inf"};
				const char *b = bad[rng_int(r, 0, 4)];

				n = build_line(line, M, true, g_ts[i], 25, b, (int) strlen(b),
							   unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "value=%s", b);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_MISSING_VALUE:
			n = build_line(line, M, true, g_ts[i], 25, "", 0, unit_name[u], unit_len[u]);
			emit(line, n);
			label(kind, M, lineno, i, i, NULL);
			break;
		case K_BAD_UNIT:
			{
				static const char *const bad[] = {"kVA", "MWx", ""};
				const char *b = bad[rng_int(r, 0, 2)];

				vl = fmt_value(val, M, u, x, false);
				n = build_line(line, M, true, g_ts[i], 25, val, vl, b, (int) strlen(b));
				emit(line, n);
				snprintf(d, sizeof(d), "unit=%s", b);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_IMPLAUSIBLE:
			{
				double		kw = round(rng_range(r, 500.0, 5000.0) * 10.0) / 10.0;

				vl = fmt_value(val, M, u, kw, false);
				n = build_line(line, M, true, g_ts[i], 25, val, vl, unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "kw=%.1f", kw);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_OFF_GRID:
			{
				int			sh = (int) rng_int(r, 3, 7) * (rng_unif(r) < 0.5 ? -1 : 1);

				fmt_local(ts, ts_of(i) + sh * ME_USECS_PER_MIN);
				vl = fmt_value(val, M, u, x, false);
				n = build_line(line, M, true, ts, 25, val, vl, unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "shift_min=%+d", sh);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_TS_RANGE:
			{
				int			y = rng_unif(r) < 0.5 ? 1999 : 2099;

				memcpy(ts, g_ts[i], 26);
				put4(ts, y);
				if (memcmp(ts + 5, "02-29", 5) == 0)	/* keep it a real date */
					ts[9] = '8';
				vl = fmt_value(val, M, u, x, false);
				n = build_line(line, M, true, ts, 25, val, vl, unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "year=%d", y);
				label(kind, M, lineno, i, i, d);
				break;
			}
		case K_MISSING_FIELD:
			vl = fmt_value(val, M, u, x, false);
			n = build_line(line, M, false, g_ts[i], 25, val, vl, unit_name[u], unit_len[u]);
			emit(line, n);
			label(kind, M, lineno, i, i, NULL);
			break;
		case K_DUPLICATE:
			vl = fmt_value(val, M, u, x, false);
			n = build_line(line, M, true, g_ts[i], 25, val, vl, unit_name[u], unit_len[u]);
			emit(line, n);
			if (M->pend_k == 0 && rng_unif(r) < 0.30)
			{
				memcpy(M->pend_line, line, n);
				M->pend_len = n;
				M->pend_i = i;
				M->pend_of = lineno;
				M->pend_k = (int) rng_int(r, 2, 40);
				M->last_ok = i;
				return;			/* this row does not count down */
			}
			emit(line, n);
			snprintf(d, sizeof(d), "of_line=%llu", (unsigned long long) first);
			label(kind, M, lineno, i, i, d);
			break;
		case K_DUP_CONFLICT:
			{
				double		f = rng_unif(r) < 0.5 ? rng_range(r, 0.5, 0.8) : rng_range(r, 1.25, 2.0);

				write_clean(M, i, x);
				vl = fmt_value(val, M, u, x * f, false);
				n = build_line(line, M, true, g_ts[i], 25, val, vl, unit_name[u], unit_len[u]);
				emit(line, n);
				snprintf(d, sizeof(d), "of_line=%llu", (unsigned long long) first);
				label(kind, M, lineno, i, i, d);
				break;
			}
		default:
	clean:
			write_clean(M, i, x);
			break;
	}

	if (kind != K_BAD_TS && kind != K_OFF_GRID && kind != K_TS_RANGE &&
		kind != K_MISSING_FIELD)
		M->last_ok = i;
	if (M->pend_k > 0 && !protected_at(M, i) && --M->pend_k == 0)
		emit_pending(M);
}

/* ------------------------------------------------------------ fault plan */

static int
meter_fault_count(double rate)
{
	int			c = (int) floor(opt_meters * rate + 0.5);

	if (c < 1 && opt_meters >= 50)
		c = 1;
	return c;
}

/* Room for one more anomalous day of a meter. */
static void
anomaly_grow(meter_t *M)
{
	int		   *d = realloc(M->anom_day, sizeof(int) * (M->nanom + 1));
	int		   *t = d ? realloc(M->anom_type, sizeof(int) * (M->nanom + 1)) : NULL;

	if (!d || !t)
	{
		fprintf(stderr, "meter-etl-gen: out of memory\n");
		exit(1);
	}
	M->anom_day = d;
	M->anom_type = t;
}

/*
 * --anomaly-days N: N anomalous days per 100 meters on distinct (meter,
 * local day) pairs after the history, from a stream of their own, so the
 * readings of every other day are those without the option.
 */
static void
plan_anomalies(void)
{
	rng_t		r;
	int64_t		total = llround(opt_anomaly_days * (double) opt_meters / 100.0);

	rng_seed(&r, opt_seed, UINT64_C(3) << 40);
	for (int64_t a = 0; a < total; a++)
		for (int tries = 0; tries < 100; tries++)
		{
			meter_t    *M = &meters[rng_int(&r, 0, opt_meters - 1)];
			int			d = (int) rng_int(&r, opt_history, ndays - 1);

			if (anomaly_on(M, d) >= 0)
				continue;
			anomaly_grow(M);
			M->anom_day[M->nanom] = d;
			M->anom_type[M->nanom] = (int) rng_int(&r, 0, NANOM - 1);
			anom_count[M->anom_type[M->nanom]]++;
			M->nanom++;
			break;
		}
}

/* A label row of a kind outside the fault kinds (archetype, anomaly_day). */
static void
label_extra(const char *kind, const meter_t *M, int64_t ia, int64_t ib, const char *detail)
{
	char		a[32],
				b[32];

	fmt_iso(a, ts_of(ia), 0);
	fmt_iso(b, ts_of(ib), 0);
	fprintf(lab_fp, "%s,%s,,%s,%s,%s\n", kind, M->id, a, b, detail);
}

/* The archetype of every meter and its anomalous days, ahead of the fault labels. */
static void
label_households(void)
{
	char		d[64];

	for (int m = 0; m < opt_meters && lab_fp; m++)
	{
		const meter_t *M = &meters[m];

		if (M->arch >= 0)
		{
			snprintf(d, sizeof(d), "archetype=%s", arch_name[M->arch]);
			label_extra("archetype", M, 0, N - 1, d);
		}
		for (int k = 0; k < M->nanom; k++)
		{
			snprintf(d, sizeof(d), "type=%s", anom_name[M->anom_type[k]]);
			label_extra("anomaly_day", M, g_dstart[M->anom_day[k]], g_dstart[M->anom_day[k] + 1] - 1, d);
		}
	}
}

static void
plan_faults(void)
{
	rng_t		r;
	int		   *perm = malloc(sizeof(int) * opt_meters);
	int			next = 0;
	int64_t		F = N - W0;
	int			lo_day,
				hi_day;
	static const int kinds[] = {K_STUCK_ZERO, K_FLATLINE, K_LEVEL_SHIFT, K_OFFLINE};

	if (!perm)
	{
		fprintf(stderr, "meter-etl-gen: out of memory\n");
		exit(1);
	}
	rng_seed(&r, opt_seed, UINT64_C(0xFA17FA17));
	for (int k = 0; k < opt_meters; k++)
		perm[k] = k;
	for (int k = opt_meters - 1; k > 0; k--)
	{
		int			j = (int) rng_int(&r, 0, k);
		int			t = perm[k];

		perm[k] = perm[j];
		perm[j] = t;
	}

	/* level shift: whole local days [s, end), at least 2 before and 2 after */
	lo_day = opt_history > 2 ? opt_history : 2;
	hi_day = ndays - 2;
	if (opt_shift_lo >= 0)
	{
		lo_day = opt_shift_lo;
		hi_day = opt_shift_hi < ndays - 1 ? opt_shift_hi : ndays - 1;
	}

	for (int kk = 0; kk < 4; kk++)
	{
		int			kind = kinds[kk];
		int			c = meter_fault_count(METER_FAULT_RATE * opt_faults);

		if (kind == K_LEVEL_SHIFT && lo_day > hi_day)
			c = 0;
		if (kind == K_OFFLINE && F < 24 * iph + 2)
			c = 0;
		if ((kind == K_STUCK_ZERO || kind == K_FLATLINE) && F < 8 * iph + 2)
			c = 0;
		for (int k = 0; k < c && next < opt_meters; k++)
		{
			meter_t    *M = &meters[perm[next++]];
			rng_t	   *rf = &M->rf;
			int64_t		len;

			M->mf = kind;
			switch (kind)
			{
				case K_STUCK_ZERO:
				case K_FLATLINE:
				case K_OFFLINE:
					if (kind == K_OFFLINE)
						len = rng_int(rf, 24 * iph, 72 * iph);
					else
						len = rng_int(rf, 8 * iph, 36 * iph);
					if (len > F - 2)
						len = F - 2;
					M->fa = rng_int(rf, W0 > 1 ? W0 : 1, N - 1 - len);
					M->fb = M->fa + len - 1;
					break;
				case K_LEVEL_SHIFT:
					M->fa = g_dstart[rng_int(rf, lo_day, hi_day)];
					M->fb = N - 1;
					if (opt_n_shift_factors > 0)
						M->factor = opt_shift_factors[rng_int(rf, 0, opt_n_shift_factors - 1)];
					else if (rng_unif(rf) < 0.5)
						M->factor = round(rng_range(rf, 2.5, 4.0) * 100.0) / 100.0;
					else
						M->factor = round(rng_range(rf, 0.2, 0.35) * 100.0) / 100.0;
					break;
			}
		}
	}

	/* a few W/kW meters change unit mid-stream (legitimate, not labelled) */
	{
		int			c = meter_fault_count(UNIT_SWITCH_RATE * opt_faults);

		for (; c > 0 && next < opt_meters; next++)
		{
			meter_t    *M = &meters[perm[next]];

			if (M->unit == U_KWH || F < 2)
				continue;
			M->switch_at = rng_int(&M->rf, W0 + 1, N - 1);
			c--;
		}
	}
	free(perm);
}

/* ------------------------------------------------------------ setup */

static void
build_grid(void)
{
	int64_t		sday = me_days_from_civil(opt_year, opt_month, opt_mday);
	int64_t		first_day = sday - opt_history;
	int64_t		t_start = local_midnight(sday);
	int64_t		t_end = local_midnight(sday + opt_days);
	int64_t		base_days;
	rng_t		wr;
	float	   *weather;

	step_us = (int64_t) opt_interval * ME_USECS_PER_MIN;
	iph = 60 / opt_interval;
	t0_us = local_midnight(first_day);
	N = (t_end - t0_us) / step_us;
	W0 = (t_start - t0_us) / step_us;
	ndays = opt_history + opt_days;

	g_ts = malloc(sizeof(*g_ts) * N);
	g_hour = malloc(sizeof(float) * N);
	g_weekend = malloc(N);
	g_day = malloc(sizeof(int) * N);
	g_fac = malloc(sizeof(float) * N);
	g_dstart = malloc(sizeof(int64_t) * (ndays + 1));
	weather = malloc(sizeof(float) * (ndays + 1));
	if (!g_ts || !g_hour || !g_weekend || !g_day || !g_fac || !g_dstart || !weather)
	{
		fprintf(stderr, "meter-etl-gen: out of memory\n");
		exit(1);
	}

	rng_seed(&wr, opt_seed, UINT64_C(0x3EA7E3));
	for (int k = 0; k <= ndays; k++)
	{
		double		w = 1.0 + 0.06 * rng_gauss(&wr);

		weather[k] = (float) (w < 0.8 ? 0.8 : w);
		g_dstart[k] = N;
	}

	base_days = first_day;
	for (int64_t i = 0; i < N; i++)
	{
		int64_t		t = ts_of(i);
		int			off = london_offset_min(t);
		int64_t		lt = t + off * ME_USECS_PER_MIN;
		int64_t		days = me_floor_div(lt, ME_USECS_PER_DAY) + ME_UNIX_TO_PG_DAYS;
		int64_t		mins = (lt - me_floor_div(lt, ME_USECS_PER_DAY) * ME_USECS_PER_DAY) / ME_USECS_PER_MIN;
		int			dow = me_dow(lt);
		int			y,
					mo,
					d,
					dayi;
		double		doy;

		fmt_iso(g_ts[i], t, off);
		g_hour[i] = (float) ((mins + opt_interval / 2.0) / 60.0);
		g_weekend[i] = dow == 0 || dow == 6;
		dayi = (int) (days - base_days);
		if (dayi < 0)
			dayi = 0;
		if (dayi > ndays)
			dayi = ndays;
		g_day[i] = dayi;
		if (g_dstart[dayi] == N)
			g_dstart[dayi] = i;
		me_civil_from_days(days, &y, &mo, &d);
		doy = (double) (days - me_days_from_civil(y, 1, 1));
		/* winter peak around mid-January, +-18% */
		g_fac[i] = (float) ((1.0 + 0.18 * cos(2.0 * M_PI * (doy - 15.0) / 365.25)) * weather[dayi]);
	}
	free(weather);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
			"usage: meter-etl-gen [options]\n"
			"  --meters N            meters (default 200)\n"
			"  --days D              days from --start (default 7)\n"
			"  --interval MIN        15, 30 or 60 (default 15)\n"
			"  --start YYYY-MM-DD    first local day, Europe/London (default 2024-03-25)\n"
			"  --seed S              PRNG seed (default 42)\n"
			"  --out FILE            readings CSV (default stdout)\n"
			"  --labels FILE         ground-truth fault labels CSV (default none)\n"
			"  --faults none|default|heavy   (default default; heavy = 3x rates)\n"
			"  --order meter|time    meter-major or interval-major rows (default meter)\n"
			"  --history-days H      clean days before --start (default 0)\n"
			"  --shift-start A:B     level shifts start on day A..B of the data (0 = the first\n"
			"                        day, history included; default: after the history)\n"
			"  --shift-factors F,..  level-shift factors, one picked per meter (default 2.5-4\n"
			"                        or 0.2-0.35)\n"
			"  --meter-prefix P      meter id prefix (default M)\n"
			"  --units all|power     all: W, kW and kWh meters (default); power: W and kW only\n"
			"  --archetypes          household archetypes (working_couple, family, retired,\n"
			"                        night_shift, electric_heating, pv_export) with their own\n"
			"                        daily shapes, as archetype label rows\n"
			"  --anomaly-days N      N anomalous days per 100 meters (party, away,\n"
			"                        heater_left_on), as anomaly_day label rows\n");
}

static long long
parse_int(const char *opt, const char *s, long long lo, long long hi)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
	{
		fprintf(stderr, "meter-etl-gen: invalid value for --%s: \"%s\" (allowed %lld..%lld)\n",
				opt, s, lo, hi);
		exit(2);
	}
	return v;
}

/* --shift-start A:B, days from the first day of the data. */
static void
parse_shift_start(const char *s)
{
	const char *colon = strchr(s, ':');
	char	   *a;

	if (colon == NULL)
	{
		fprintf(stderr, "meter-etl-gen: --shift-start must be A:B, e.g. 6:14\n");
		exit(2);
	}
	a = strndup(s, (size_t) (colon - s));
	if (a == NULL)
	{
		fprintf(stderr, "meter-etl-gen: out of memory\n");
		exit(1);
	}
	opt_shift_lo = (int) parse_int("shift-start", a, 1, 36600);
	opt_shift_hi = (int) parse_int("shift-start", colon + 1, opt_shift_lo, 36600);
	free(a);
}

/* --shift-factors F,F,... (each > 0 and not 1, at most 16). */
static void
parse_shift_factors(const char *s)
{
	const char *p = s;

	opt_n_shift_factors = 0;
	while (*p)
	{
		char	   *end;
		double		f;

		errno = 0;
		f = strtod(p, &end);
		if (errno || end == p || !(f > 0.0) || f == 1.0 || f > 1000.0 ||
			(*end != ',' && *end != '\0') || opt_n_shift_factors == 16)
		{
			fprintf(stderr, "meter-etl-gen: invalid --shift-factors \"%s\" (up to 16 factors > 0, not 1, separated by commas)\n", s);
			exit(2);
		}
		opt_shift_factors[opt_n_shift_factors++] = f;
		p = *end == ',' ? end + 1 : end;
	}
	if (opt_n_shift_factors == 0)
	{
		fprintf(stderr, "meter-etl-gen: --shift-factors needs at least one factor\n");
		exit(2);
	}
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"meters", required_argument, NULL, 'm'},
		{"days", required_argument, NULL, 'd'},
		{"interval", required_argument, NULL, 'i'},
		{"start", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'S'},
		{"out", required_argument, NULL, 'o'},
		{"labels", required_argument, NULL, 'l'},
		{"faults", required_argument, NULL, 'f'},
		{"order", required_argument, NULL, 'O'},
		{"history-days", required_argument, NULL, 'H'},
		{"shift-start", required_argument, NULL, 'A'},
		{"shift-factors", required_argument, NULL, 'F'},
		{"meter-prefix", required_argument, NULL, 'p'},
		{"units", required_argument, NULL, 'u'},
		{"archetypes", no_argument, NULL, 'a'},
		{"anomaly-days", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'm':
				opt_meters = (int) parse_int("meters", optarg, 1, 10000000);
				break;
			case 'd':
				opt_days = (int) parse_int("days", optarg, 1, 36600);
				break;
			case 'i':
				opt_interval = (int) parse_int("interval", optarg, 15, 60);
				if (opt_interval != 15 && opt_interval != 30 && opt_interval != 60)
				{
					fprintf(stderr, "meter-etl-gen: --interval must be 15, 30 or 60\n");
					exit(2);
				}
				break;
			case 's':
				{
					int			y,
								m,
								d,
								n = 0;

					if (sscanf(optarg, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
						optarg[n] != '\0' || n != 10 || y < 1900 || y > 9000 ||
						m < 1 || m > 12 || d < 1 || d > me_days_in_month(y, m))
					{
						fprintf(stderr, "meter-etl-gen: --start must be a date YYYY-MM-DD: \"%s\"\n", optarg);
						exit(2);
					}
					opt_year = y;
					opt_month = m;
					opt_mday = d;
					break;
				}
			case 'S':
				{
					char	   *end;

					errno = 0;
					opt_seed = strtoull(optarg, &end, 0);
					if (errno || end == optarg || *end)
					{
						fprintf(stderr, "meter-etl-gen: invalid --seed \"%s\"\n", optarg);
						exit(2);
					}
					break;
				}
			case 'o':
				opt_out = optarg;
				break;
			case 'l':
				opt_labels = optarg;
				break;
			case 'f':
				if (strcmp(optarg, "none") == 0)
					opt_faults = 0;
				else if (strcmp(optarg, "default") == 0)
					opt_faults = 1;
				else if (strcmp(optarg, "heavy") == 0)
					opt_faults = 3;
				else
				{
					fprintf(stderr, "meter-etl-gen: --faults must be none, default or heavy\n");
					exit(2);
				}
				break;
			case 'O':
				if (strcmp(optarg, "meter") == 0)
					opt_time_order = false;
				else if (strcmp(optarg, "time") == 0)
					opt_time_order = true;
				else
				{
					fprintf(stderr, "meter-etl-gen: --order must be meter or time\n");
					exit(2);
				}
				break;
			case 'H':
				opt_history = (int) parse_int("history-days", optarg, 0, 36600);
				break;
			case 'A':
				parse_shift_start(optarg);
				break;
			case 'F':
				parse_shift_factors(optarg);
				break;
			case 'p':
				if (strlen(optarg) > 32 || strpbrk(optarg, ",\"\r\n"))
				{
					fprintf(stderr, "meter-etl-gen: --meter-prefix must be at most 32 characters without , \" or newlines\n");
					exit(2);
				}
				opt_prefix = optarg;
				break;
			case 'u':
				if (strcmp(optarg, "all") != 0 && strcmp(optarg, "power") != 0)
				{
					fprintf(stderr, "meter-etl-gen: --units must be all or power\n");
					exit(2);
				}
				opt_power_only = strcmp(optarg, "power") == 0;
				break;
			case 'a':
				opt_archetypes = true;
				break;
			case 'D':
				opt_anomaly_days = (int) parse_int("anomaly-days", optarg, 0, 100000);
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "meter-etl-gen: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	static const char header[] = "meter_id,timestamp,value,unit\n";
	double		acc = 0;

	parse_args(argc, argv);
	build_grid();

	for (int k = 0; k < NREADING_KINDS; k++)
	{
		acc += reading_rate[k] * opt_faults;
		cum_rate[k] = acc;
	}

	meters = calloc(opt_meters, sizeof(meter_t));
	obuf = malloc(OBUF_SIZE);
	if (!meters || !obuf)
	{
		fprintf(stderr, "meter-etl-gen: out of memory\n");
		return 1;
	}
	for (int m = 0; m < opt_meters; m++)
		meter_init(&meters[m], m);
	if (opt_faults)
		plan_faults();
	if (opt_anomaly_days > 0)
		plan_anomalies();

	out_fp = stdout;
	if (opt_out && !(out_fp = fopen(opt_out, "wb")))
	{
		fprintf(stderr, "meter-etl-gen: cannot open \"%s\": %s\n", opt_out, strerror(errno));
		return 1;
	}
	if (opt_labels)
	{
		if (!(lab_fp = fopen(opt_labels, "wb")))
		{
			fprintf(stderr, "meter-etl-gen: cannot open \"%s\": %s\n", opt_labels, strerror(errno));
			return 1;
		}
		setvbuf(lab_fp, NULL, _IOFBF, 1 << 16);
		fputs("kind,meter_id,line_no,start_ts,end_ts,detail\n", lab_fp);
		label_households();
	}

	emit(header, (int) sizeof(header) - 1);

	if (opt_time_order)
	{
		for (int64_t i = 0; i < N; i++)
			for (int m = 0; m < opt_meters; m++)
				step(&meters[m], i);
		for (int m = 0; m < opt_meters; m++)
			if (meters[m].pend_k > 0)
				emit_pending(&meters[m]);
	}
	else
	{
		for (int m = 0; m < opt_meters; m++)
		{
			for (int64_t i = 0; i < N; i++)
				step(&meters[m], i);
			if (meters[m].pend_k > 0)
				emit_pending(&meters[m]);
		}
	}
	obuf_flush();

	if (fflush(out_fp) != 0 || ferror(out_fp) || (out_fp != stdout && fclose(out_fp) != 0))
	{
		fprintf(stderr, "meter-etl-gen: write error: %s\n", strerror(errno));
		return 1;
	}
	if (lab_fp && (fflush(lab_fp) != 0 || ferror(lab_fp) || fclose(lab_fp) != 0))
	{
		fprintf(stderr, "meter-etl-gen: write error on labels: %s\n", strerror(errno));
		return 1;
	}

	fprintf(stderr, "meter-etl-gen: meters=%d intervals=%lld lines=%llu missing_rows=%llu",
			opt_meters, (long long) N, (unsigned long long) lineno,
			(unsigned long long) missing_rows);
	for (int k = 0; k < NKINDS; k++)
		fprintf(stderr, " %s=%llu", kind_name[k], (unsigned long long) kind_count[k]);
	for (int a = 0; opt_archetypes && a < NARCH; a++)
		fprintf(stderr, " %s=%llu", arch_name[a], (unsigned long long) arch_count[a]);
	for (int a = 0; opt_anomaly_days > 0 && a < NANOM; a++)
		fprintf(stderr, " %s=%llu", anom_name[a], (unsigned long long) anom_count[a]);
	fputc('\n', stderr);
	return 0;
}
