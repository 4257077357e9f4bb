/*
 * forecast.c - double-seasonal Holt-Winters with AR(1) errors, the
 * seasonal-naive baseline, prediction intervals and rolling-origin
 * backtests (the model and the methods are described in forecast.h)
 *
 * One filter (State, state_init, state_update, state_predict) serves every
 * entry point: fitting evaluates it for candidate parameters, intervals
 * and backtests run it once and read multi-step forecasts off it at day
 * starts.  Everything is O(n) per run plus O(origins x horizon).
 */
#include "core/predict/forecast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "core/series/series_int.h"

/* Parameters of one filter run. */
typedef struct Params
{
	MeFcMethod	method;
	bool		weekly;
	double		alpha;
	double		delta;
	double		omega;
	double		phi;
} Params;

/*
 * The filter's state.  hw2: level, seasons and the last Holt-Winters error.
 * snaive: the last value seen at each weekly and daily index (NaN: none).
 */
typedef struct State
{
	int			m1;
	int			m2;
	double		l;
	double		e;
	double		last;
	double	   *d;				/* m1 */
	double	   *w;				/* m2 */
	int		   *cnt;			/* m2, scratch of init_hw */
} State;

/* ------------------------------------------------------------ names */

const char *
me_fc_method_name(MeFcMethod m)
{
	return m == ME_FC_SNAIVE ? "snaive" : "hw2";
}

bool
me_fc_method_parse(const char *name, MeFcMethod *m)
{
	if (strcmp(name, "hw2") == 0)
		*m = ME_FC_HW2;
	else if (strcmp(name, "snaive") == 0)
		*m = ME_FC_SNAIVE;
	else
		return false;
	return true;
}

const char *
me_fc_status_text(MeFcStatus st)
{
	switch (st)
	{
		case ME_FC_OK:
			return "ok";
		case ME_FC_TOO_SHORT:
			return "history shorter than 2 days";
		case ME_FC_NOT_FINITE:
			return "value is not a finite number";
		case ME_FC_BAD_INDEX:
			return "season index out of range";
		case ME_FC_BAD_ARG:
			return "invalid argument";
		case ME_FC_NO_MEMORY:
			return "out of memory";
	}
	return "?";
}

/* ------------------------------------------------------------ input */

/* Indices in range; y (when given) finite; enough history is the caller's. */
static MeFcStatus
check_indices(const int32_t *ds, const int32_t *ws, size_t n, int m1)
{
	for (size_t i = 0; i < n; i++)
		if (ds[i] < 0 || ds[i] >= m1 || ws[i] < 0 || ws[i] >= 7 * m1)
			return ME_FC_BAD_INDEX;
	return ME_FC_OK;
}

/* The series is usable: finite values, indices in range, >= 2 days. */
MeFcStatus
me_fc_check(const MeFcSeries *s)
{
	MeFcStatus	st;

	if (s == NULL || s->y == NULL || s->ds == NULL || s->ws == NULL || s->m1 < 1)
		return ME_FC_BAD_ARG;
	for (size_t i = 0; i < s->n; i++)
		if (!isfinite(s->y[i]))
			return ME_FC_NOT_FINITE;
	st = check_indices(s->ds, s->ws, s->n, s->m1);
	if (st != ME_FC_OK)
		return st;
	if (s->n < 2 * (size_t) s->m1)
		return ME_FC_TOO_SHORT;
	return ME_FC_OK;
}

/*
 * Season indices of UTC times: the local slot of the day and of the week
 * (Sunday = 0).  Times in a repeated local hour get the same indices as
 * the first pass through it; a skipped hour's indices never occur.
 */
MeFcStatus
me_fc_slots(const int64_t *ts, size_t n, int64_t interval_us, MeZone *zone,
			int32_t *ds, int32_t *ws)
{
	MeLocal		lc;
	int64_t		m1;

	if (interval_us <= 0 || ME_USECS_PER_DAY % interval_us != 0)
		return ME_FC_BAD_ARG;
	m1 = ME_USECS_PER_DAY / interval_us;
	series_local_init(&lc, zone);
	for (size_t i = 0; i < n; i++)
	{
		int64_t		local = series_to_local(&lc, ts[i]);
		int64_t		tod = local - me_floor_to(local, ME_USECS_PER_DAY);

		ds[i] = (int32_t) (tod / interval_us);
		ws[i] = (int32_t) (me_dow(local) * m1 + ds[i]);
	}
	return ME_FC_OK;
}

/*
 * Fill holes (present[i] false) in place: the last value at the same weekly
 * index, else at the same daily index, else the previous value; leading
 * holes take the first present value.  Nothing to fill from: all zero.
 */
MeFcStatus
me_fc_fill(double *y, const bool *present, const MeFcSeries *s)
{
	int			m2 = 7 * s->m1;
	double	   *lw = me_alloc(sizeof(double) * m2);
	double	   *ld = me_alloc(sizeof(double) * s->m1);
	double		first = 0.0,
				last = NAN;

	if (lw == NULL || ld == NULL)
	{
		me_free(lw);
		me_free(ld);
		return ME_FC_NO_MEMORY;
	}
	for (int k = 0; k < m2; k++)
		lw[k] = NAN;
	for (int k = 0; k < s->m1; k++)
		ld[k] = NAN;
	for (size_t i = 0; i < s->n; i++)
		if (present[i])
		{
			first = y[i];
			break;
		}
	for (size_t i = 0; i < s->n; i++)
	{
		if (!present[i])
			y[i] = !isnan(lw[s->ws[i]]) ? lw[s->ws[i]] :
				!isnan(ld[s->ds[i]]) ? ld[s->ds[i]] :
				!isnan(last) ? last : first;
		lw[s->ws[i]] = ld[s->ds[i]] = last = y[i];
	}
	me_free(lw);
	me_free(ld);
	return ME_FC_OK;
}

/* ------------------------------------------------------------ the filter */

static bool
state_alloc(State *st, int m1)
{
	st->m1 = m1;
	st->m2 = 7 * m1;
	st->d = me_alloc(sizeof(double) * m1);
	st->w = me_alloc(sizeof(double) * st->m2);
	st->cnt = me_alloc(sizeof(int) * st->m2);
	return st->d != NULL && st->w != NULL && st->cnt != NULL;
}

static void
state_free(State *st)
{
	me_free(st->d);
	me_free(st->w);
	me_free(st->cnt);
}

/*
 * Heuristic initial states from the first window (two weeks, or one week
 * daily-only): the level is the window's mean, each season the mean
 * deviation at its index, so a pure repeating pattern starts exact.
 */
static void
init_hw(State *st, const MeFcSeries *s, bool weekly)
{
	size_t		win = weekly ? 2 * (size_t) st->m2 : 7 * (size_t) st->m1;
	double		sum = 0.0;
	int		   *cnt = st->cnt;

	if (win > s->n)
		win = s->n;
	for (size_t i = 0; i < win; i++)
		sum += s->y[i];
	st->l = sum / (double) win;
	memset(st->d, 0, sizeof(double) * st->m1);
	memset(st->w, 0, sizeof(double) * st->m2);
	memset(cnt, 0, sizeof(int) * st->m2);
	for (size_t i = 0; i < win; i++)
	{
		st->d[s->ds[i]] += s->y[i] - st->l;
		cnt[s->ds[i]]++;
	}
	for (int j = 0; j < st->m1; j++)
		st->d[j] = cnt[j] ? st->d[j] / cnt[j] : 0.0;
	if (weekly)
	{
		memset(cnt, 0, sizeof(int) * st->m2);
		for (size_t i = 0; i < win; i++)
		{
			st->w[s->ws[i]] += s->y[i] - st->l - st->d[s->ds[i]];
			cnt[s->ws[i]]++;
		}
		for (int k = 0; k < st->m2; k++)
			st->w[k] = cnt[k] ? st->w[k] / cnt[k] : 0.0;
	}
	st->e = 0.0;
	st->last = s->y[0];
}

/* The seasonal-naive tables start empty. */
static void
init_snaive(State *st, const MeFcSeries *s)
{
	for (int k = 0; k < st->m1; k++)
		st->d[k] = NAN;
	for (int k = 0; k < st->m2; k++)
		st->w[k] = NAN;
	st->last = s->y[0];
	st->l = st->e = 0.0;
}

static void
state_init(State *st, const MeFcSeries *s, const Params *p)
{
	if (p->method == ME_FC_SNAIVE)
		init_snaive(st, s);
	else
		init_hw(st, s, p->weekly);
}

/* The forecast k >= 1 steps ahead for indices (ds, ws); phik = phi^k. */
static inline double
state_predict(const State *st, const Params *p, int ds, int ws, double phik)
{
	if (p->method == ME_FC_SNAIVE)
		return !isnan(st->w[ws]) ? st->w[ws] : !isnan(st->d[ds]) ? st->d[ds] : st->last;
	return st->l + st->d[ds] + (p->weekly ? st->w[ws] : 0.0) + phik * st->e;
}

/* Take in observation y at (ds, ws); returns the one-step error. */
static inline double
state_update(State *st, const Params *p, double y, int ds, int ws)
{
	double		err;
	double		e;

	if (p->method == ME_FC_SNAIVE)
	{
		err = y - state_predict(st, p, ds, ws, 0.0);
		st->w[ws] = st->d[ds] = st->last = y;
		return err;
	}
	e = y - (st->l + st->d[ds] + (p->weekly ? st->w[ws] : 0.0));
	err = e - p->phi * st->e;
	st->l += p->alpha * e;
	st->d[ds] += p->delta * (1.0 - p->alpha) * e;
	if (p->weekly)
		st->w[ws] += p->omega * (1.0 - p->alpha) * e;
	st->e = e;
	st->last = y;
	return err;
}

/* Copy the states of src into dst (of the same m1). */
static void
state_copy(State *dst, const State *src)
{
	dst->l = src->l;
	dst->e = src->e;
	dst->last = src->last;
	memcpy(dst->d, src->d, sizeof(double) * src->m1);
	memcpy(dst->w, src->w, sizeof(double) * src->m2);
}

/*
 * Sum of squared one-step errors of y[0..n) from the states st holds.  The
 * Holt-Winters filter is state_update() with its states in registers (the
 * fit runs it hundreds of times a series): the same arithmetic in the same
 * order, so the same bits.
 */
static double
run_sse(State *st, const MeFcSeries *s, const Params *p)
{
	double		acc = 0.0;

	if (p->method == ME_FC_HW2 && s->n > 0)
	{
		const double a = p->alpha,
					dgain = p->delta * (1.0 - p->alpha),
					wgain = p->omega * (1.0 - p->alpha),
					phi = p->phi;
		const bool	weekly = p->weekly;
		double		l = st->l,
					eprev = st->e;
		double	   *d = st->d,
				   *w = st->w;

		for (size_t i = 0; i < s->n; i++)
		{
			int			di = s->ds[i],
						wi = s->ws[i];
			double		e = s->y[i] - (l + d[di] + (weekly ? w[wi] : 0.0));
			double		err = e - phi * eprev;

			l += a * e;
			d[di] += dgain * e;
			if (weekly)
				w[wi] += wgain * e;
			eprev = e;
			acc += err * err;
		}
		st->l = l;
		st->e = eprev;
		st->last = s->y[s->n - 1];
		return acc;
	}
	for (size_t i = 0; i < s->n; i++)
	{
		double		err = state_update(st, p, s->y[i], s->ds[i], s->ws[i]);

		acc += err * err;
	}
	return acc;
}

/* Sum of squared one-step errors of y[0..n) (the objective). */
static double
sse(State *st, const MeFcSeries *s, const Params *p)
{
	state_init(st, s, p);
	return run_sse(st, s, p);
}

/* ------------------------------------------------------------ fitting */

#define NM_DIM_MAX 4

static double
logistic(double u)
{
	return 1.0 / (1.0 + exp(-u));
}

/* u clamped to +-U_MAX: beyond it the objective is flat, so the search stops there. */
#define U_MAX 7.0

static double
clampu(double u)
{
	return u < -U_MAX ? -U_MAX : u > U_MAX ? U_MAX : u;
}

/*
 * Unconstrained u to parameters: smoothing in (0, 1), phi in (-1, 1); the
 * smoothing parameters stay within [0.0009, 0.9991], so a series that
 * wants none (alpha -> 0) does not send the search down an endless slope.
 */
static void
params_from(const double *u, int dim, Params *p)
{
	p->alpha = logistic(clampu(u[0]));
	p->delta = logistic(clampu(u[1]));
	p->phi = 0.99 * tanh(clampu(u[2]));
	p->omega = dim > 3 ? logistic(clampu(u[3])) : 0.0;
}

/* The objective at u. */
typedef struct Objective
{
	State	   *st;
	const MeFcSeries *s;
	Params		p;
	int			dim;
	int			evals;
	const State *init;			/* the initial states (they do not depend on
								 * the parameters), or NULL: recomputed */
} Objective;

static double
objective(Objective *o, const double *u)
{
	params_from(u, o->dim, &o->p);
	o->evals++;
	if (o->init == NULL)
		return sse(o->st, o->s, &o->p);
	state_copy(o->st, o->init);
	return run_sse(o->st, o->s, &o->p);
}

/* A Nelder-Mead simplex: dim + 1 vertices and their objective values. */
typedef struct Simplex
{
	int			dim;
	double		v[NM_DIM_MAX + 1][NM_DIM_MAX];
	double		f[NM_DIM_MAX + 1];
} Simplex;

/* The best (lo), worst (hi) and second-worst (nh) vertices; ties to the first. */
static void
simplex_rank(const Simplex *sx, int *lo, int *hi, int *nh)
{
	*lo = *hi = 0;
	for (int i = 1; i <= sx->dim; i++)
	{
		if (sx->f[i] > sx->f[*hi])
			*hi = i;
		if (sx->f[i] < sx->f[*lo])
			*lo = i;
	}
	*nh = *lo;
	for (int i = 0; i <= sx->dim; i++)
		if (i != *hi && sx->f[i] > sx->f[*nh])
			*nh = i;
}

/* out = c + coef (w - c), and its objective value. */
static double
try_point(Objective *o, const double *c, const double *w, double coef, double *out)
{
	for (int j = 0; j < o->dim; j++)
		out[j] = c[j] + coef * (w[j] - c[j]);
	return objective(o, out);
}

/* Vertex i becomes x with value fx. */
static void
replace(Simplex *sx, int i, const double *x, double fx)
{
	memcpy(sx->v[i], x, sizeof(double) * sx->dim);
	sx->f[i] = fx;
}

/* Every vertex halfway towards the best one. */
static void
shrink(Objective *o, Simplex *sx, int lo)
{
	for (int i = 0; i <= sx->dim; i++)
		if (i != lo)
		{
			for (int j = 0; j < sx->dim; j++)
				sx->v[i][j] = sx->v[lo][j] + 0.5 * (sx->v[i][j] - sx->v[lo][j]);
			sx->f[i] = objective(o, sx->v[i]);
		}
}

/*
 * One Nelder-Mead step on the worst vertex hi: reflect through the centroid
 * c of the others; expand a reflection that beats the best; contract
 * (outside or inside) one that beats nothing but the worst; else shrink.
 */
static void
nm_step(Objective *o, Simplex *sx, int lo, int hi, int nh)
{
	double		c[NM_DIM_MAX] = {0},
				r[NM_DIM_MAX],
				t[NM_DIM_MAX];
	double		fr,
				ft;

	for (int j = 0; j < sx->dim; j++)
		for (int i = 0; i <= sx->dim; i++)
			if (i != hi)
				c[j] += sx->v[i][j] / sx->dim;
	fr = try_point(o, c, sx->v[hi], -1.0, r);
	if (fr < sx->f[lo])
	{
		ft = try_point(o, c, sx->v[hi], -2.0, t);
		if (ft < fr)
			replace(sx, hi, t, ft);
		else
			replace(sx, hi, r, fr);
	}
	else if (fr < sx->f[nh])
		replace(sx, hi, r, fr);
	else
	{
		ft = try_point(o, c, fr < sx->f[hi] ? r : sx->v[hi], 0.5, t);
		if (ft < fmin(fr, sx->f[hi]))
			replace(sx, hi, t, ft);
		else
			shrink(o, sx, lo);
	}
}

/*
 * Nelder-Mead (reflection 1, expansion 2, contraction 0.5, shrink 0.5)
 * from x, moving x to the best vertex; stops after max_evals or when the
 * simplex's values agree to a relative 1e-6 (finer changes of the squared
 * error move no forecast).  Returns the best value.
 */
static double
nelder_mead(Objective *o, double *x, int max_evals)
{
	Simplex		sx;
	int			start = o->evals;
	int			lo,
				hi,
				nh;

	sx.dim = o->dim;
	for (int i = 0; i <= sx.dim; i++)
	{
		memcpy(sx.v[i], x, sizeof(double) * sx.dim);
		if (i > 0)
			sx.v[i][i - 1] += 1.0;
		sx.f[i] = objective(o, sx.v[i]);
	}
	for (;;)
	{
		simplex_rank(&sx, &lo, &hi, &nh);
		if (o->evals - start >= max_evals ||
			sx.f[hi] - sx.f[lo] <= 1e-6 * (fabs(sx.f[lo]) + 1e-300))
			break;
		nm_step(o, &sx, lo, hi, nh);
	}
	memcpy(x, sx.v[lo], sizeof(double) * sx.dim);
	return sx.f[lo];
}

/*
 * Fit by Nelder-Mead from the best of three fixed starts (slow, medium and
 * fast adaptation, u-space: logit of the smoothing parameters, atanh of
 * phi), judged by their squared error: one descent instead of three, 3x
 * faster, and on the households and fleets of the forecast comparison
 * (test/e2e/e2e_forecast_peers.sh) as accurate; earlier start on ties.
 */
static void
fit_hw(State *st, const MeFcSeries *s, bool weekly, Params *best, int *evals, double *best_sse)
{
	static const double starts[3][NM_DIM_MAX] = {
		{-3.0, -3.0, 0.5, -3.0},	/* alpha .05, delta .05, phi .46, omega .05 */
		{-1.5, -2.0, 1.0, -2.0},	/* .18, .12, .76, .12 */
		{-0.5, -1.0, 0.0, -1.0},	/* .38, .27, 0, .27 */
	};
	Objective	o = {st, s, {ME_FC_HW2, weekly, 0, 0, 0, 0}, weekly ? 4 : 3, 0, NULL};
	double		u[NM_DIM_MAX];
	int			k0 = 0;
	double		f0 = INFINITY;
	State		init;

	/* the initial states once, copied for every evaluation (a third of its cost) */
	if (state_alloc(&init, st->m1))
	{
		state_init(&init, s, &o.p);
		o.init = &init;
	}

	for (int k = 0; k < 3; k++)
	{
		double		v = objective(&o, starts[k]);

		if (v < f0)
		{
			f0 = v;
			k0 = k;
		}
	}
	memcpy(u, starts[k0], sizeof(u));
	*best_sse = nelder_mead(&o, u, ME_FC_MAX_EVALS);
	state_free(&init);
	params_from(u, o.dim, best);
	best->method = ME_FC_HW2;
	best->weekly = weekly;
	*evals = o.evals;
}

static void
params_of_model(const MeFcModel *m, bool weekly, Params *p)
{
	p->method = m->method;
	p->weekly = weekly;
	p->alpha = m->alpha;
	p->delta = m->delta;
	p->omega = weekly ? m->omega : 0.0;
	p->phi = m->phi;
}

static MeFcSeries fit_window(const MeFcSeries *s);

/*
 * Fit a method to s (the seasonal naive has nothing to fit but sigma): to
 * its last ME_FC_FIT_MAX_DAYS days at most, which bounds the cost of a fit
 * whatever the history and lets the parameters follow recent behaviour.
 */
MeFcStatus
me_fc_fit(const MeFcSeries *all, MeFcMethod method, MeFcModel *m)
{
	MeFcStatus	rc = me_fc_check(all);
	MeFcSeries	win;
	const MeFcSeries *s = &win;
	State		st;
	Params		p = {method, false, 0, 0, 0, 0};
	double		v;

	memset(m, 0, sizeof(*m));
	if (rc != ME_FC_OK)
		return rc;
	win = fit_window(all);
	if (!state_alloc(&st, s->m1))
	{
		state_free(&st);
		return ME_FC_NO_MEMORY;
	}
	p.weekly = s->n >= 2 * (size_t) st.m2;
	if (method == ME_FC_HW2)
		fit_hw(&st, s, p.weekly, &p, &m->evals, &v);
	else
		v = sse(&st, s, &p);
	state_free(&st);
	m->method = method;
	m->weekly = p.weekly;
	m->alpha = p.alpha;
	m->delta = p.delta;
	m->omega = p.omega;
	m->phi = p.phi;
	m->n = s->n;
	m->sigma = sqrt(v / (double) s->n);
	return ME_FC_OK;
}

/* ------------------------------------------------------------ day starts */

/* i starts a local day: the first observation or a change of weekday. */
static inline bool
day_start(const MeFcSeries *s, size_t i, int m1)
{
	return i == 0 || s->ws[i] / m1 != s->ws[i - 1] / m1;
}

/* Observations from day start i to the next day start (or the end), at most 2 days. */
static size_t
day_length(const MeFcSeries *s, size_t i)
{
	size_t		j = i + 1;

	while (j < s->n && j - i < 2 * (size_t) s->m1 && !day_start(s, j, s->m1))
		j++;
	return j - i;
}

/* The tail of s a fit uses: from the first day start of its last ME_FC_FIT_MAX_DAYS days. */
static MeFcSeries
fit_window(const MeFcSeries *s)
{
	MeFcSeries	w = *s;
	size_t		max = (size_t) ME_FC_FIT_MAX_DAYS * s->m1;
	size_t		i;

	if (s->n <= max)
		return w;
	for (i = s->n - max; i < s->n && !day_start(s, i, s->m1); i++)
		;
	w.y += i;
	w.ds += i;
	w.ws += i;
	w.n -= i;
	return w;
}

/*
 * The last max_n day starts o (ascending) with o >= min_o and o + need <=
 * s->n; returns how many.  starts has room for max_n.
 */
static int
last_day_starts(const MeFcSeries *s, size_t min_o, size_t need, int max_n, size_t *starts)
{
	int			k = 0;

	for (size_t i = s->n; i-- > min_o && k < max_n;)
		if (day_start(s, i, s->m1) && i + need <= s->n)
			starts[k++] = i;
	for (int a = 0, b = k - 1; a < b; a++, b--)
	{
		size_t		t = starts[a];

		starts[a] = starts[b];
		starts[b] = t;
	}
	return k;
}

/* ------------------------------------------------------------ intervals */

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n) with linear interpolation (type 7). */
static double
quantile(const double *v, size_t n, double q)
{
	double		h = q * (double) (n - 1);
	size_t		lo = (size_t) floor(h);

	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (h - (double) lo) * (v[lo + 1] - v[lo]);
}

/*
 * Bounds of step k from the pooled errors of steps k-w..k+w (err is
 * norig x herr, row per origin), or Gaussian when too few.  w is herr / 48
 * within [1, 8]: enough errors to pool, and a bounded sort per step
 * however long the horizon.
 */
static void
bounds(MeFcPoint *pt, const double *err, int norig, size_t herr, size_t k,
	   const Params *p, double sigma, double *pool)
{
	size_t		w = herr / 48 < 1 ? 1 : herr / 48 > 8 ? 8 : herr / 48;
	size_t		kk = k < herr ? k : herr - 1;
	size_t		a = kk >= w ? kk - w : 0;
	size_t		b = kk + w < herr ? kk + w : herr - 1;
	size_t		n = 0;

	for (int o = 0; o < norig; o++)
		for (size_t j = a; j <= b; j++)
			pool[n++] = err[(size_t) o * herr + j];
	if (herr > 0 && n >= ME_FC_MIN_POOLED)
	{
		qsort(pool, n, sizeof(double), cmp_double);
		pt->lo95 = pt->f + quantile(pool, n, 0.025);
		pt->lo80 = pt->f + quantile(pool, n, 0.10);
		pt->hi80 = pt->f + quantile(pool, n, 0.90);
		pt->hi95 = pt->f + quantile(pool, n, 0.975);
	}
	else
	{
		double		sk = sigma * sqrt(1.0 + (double) k * p->alpha * p->alpha);

		pt->lo95 = pt->f - 1.959964 * sk;
		pt->lo80 = pt->f - 1.281552 * sk;
		pt->hi80 = pt->f + 1.281552 * sk;
		pt->hi95 = pt->f + 1.959964 * sk;
	}
}

/* Hold the point forecast inside its bounds; no negatives for a >= 0 series. */
static void
tidy(MeFcPoint *pt, bool nonneg)
{
	if (nonneg)
	{
		pt->f = fmax(pt->f, 0.0);
		pt->lo95 = fmax(pt->lo95, 0.0);
		pt->lo80 = fmax(pt->lo80, 0.0);
	}
	pt->lo80 = fmin(pt->lo80, pt->f);
	pt->lo95 = fmin(pt->lo95, pt->lo80);
	pt->hi80 = fmax(pt->hi80, pt->f);
	pt->hi95 = fmax(pt->hi95, pt->hi80);
}

/* The h-step forecast of state st at s's indices from o on, into f[0..h). */
static void
path(const State *st, const Params *p, const int32_t *ds, const int32_t *ws, size_t h,
	 double *f)
{
	double		phik = p->phi;

	for (size_t k = 0; k < h; k++)
	{
		f[k] = state_predict(st, p, ds[k], ws[k], phik);
		phik *= p->phi;
	}
}

/*
 * Run the filter over s; at each origin (ascending) record the errors of
 * the h-step forecast made there into err (row per origin).  Also returns
 * the sum of squared one-step errors.
 */
static double
run_with_origins(State *st, const MeFcSeries *s, const Params *p, const size_t *orig,
				 int norig, size_t h, double *err, double *f)
{
	int			next = 0;
	double		acc = 0.0;

	state_init(st, s, p);
	for (size_t i = 0; i < s->n; i++)
	{
		double		e1;

		if (next < norig && orig[next] == i)
		{
			path(st, p, s->ds + i, s->ws + i, h, f);
			for (size_t k = 0; k < h; k++)
				err[(size_t) next * h + k] = s->y[i + k] - f[k];
			next++;
		}
		e1 = state_update(st, p, s->y[i], s->ds[i], s->ws[i]);
		acc += e1 * e1;
	}
	return acc;
}

/* Smallest value of y (to tell series that never read below zero). */
static double
min_of(const double *y, size_t n)
{
	double		m = INFINITY;

	for (size_t i = 0; i < n; i++)
		m = fmin(m, y[i]);
	return m;
}

/*
 * Forecast h steps after s with model m at future indices fds/fws, with
 * intervals from the errors of forecasts made at the history's last day
 * starts (see forecast.h).
 */
MeFcStatus
me_fc_forecast(const MeFcSeries *s, const MeFcModel *m, const int32_t *fds,
			   const int32_t *fws, size_t h, MeFcPoint *out)
{
	MeFcStatus	rc = me_fc_check(s);
	State		st;
	Params		p;
	size_t		herr;
	size_t		orig[ME_FC_INTERVAL_ORIGINS];
	int			norig;
	double	   *err,
			   *f,
			   *pool;
	double		sum_sq;
	bool		nonneg;

	if (rc != ME_FC_OK)
		return rc;
	if (h == 0 || fds == NULL || fws == NULL || out == NULL)
		return ME_FC_BAD_ARG;
	if ((rc = check_indices(fds, fws, h, s->m1)) != ME_FC_OK)
		return rc;
	if (!state_alloc(&st, s->m1))
	{
		state_free(&st);
		return ME_FC_NO_MEMORY;
	}
	params_of_model(m, m->weekly && s->n >= 2 * (size_t) st.m2, &p);
	/* errors of forecasts made from origins after the first day (warm-up) */
	herr = h < s->n - (size_t) s->m1 ? h : s->n - (size_t) s->m1;
	norig = last_day_starts(s, (size_t) s->m1, herr, ME_FC_INTERVAL_ORIGINS, orig);
	err = me_alloc(sizeof(double) * (norig * herr + 1));
	f = me_alloc(sizeof(double) * (h > herr ? h : herr));
	pool = me_alloc(sizeof(double) * (norig * herr + 1));
	if (err == NULL || f == NULL || pool == NULL)
	{
		rc = ME_FC_NO_MEMORY;
		goto done;
	}
	sum_sq = run_with_origins(&st, s, &p, orig, norig, herr, err, f);
	path(&st, &p, fds, fws, h, f);
	nonneg = min_of(s->y, s->n) >= 0.0;
	for (size_t k = 0; k < h; k++)
	{
		out[k].f = f[k];
		bounds(&out[k], err, norig, herr, k, &p, sqrt(sum_sq / (double) s->n), pool);
		tidy(&out[k], nonneg);
	}
done:
	me_free(err);
	me_free(f);
	me_free(pool);
	state_free(&st);
	return rc;
}

/* ------------------------------------------------------------ backtests */

/*
 * In-sample seasonal-naive MAE of y[0..n): weekly lag with >= 2 weeks,
 * else daily lag (0 when there is no pair or no error: MASE undefined).
 */
static double
naive_scale(const MeFcSeries *s, size_t n)
{
	size_t		lag = n >= 14 * (size_t) s->m1 ? 7 * (size_t) s->m1 : (size_t) s->m1;
	double		acc = 0.0;

	if (n <= lag)
		return 0.0;
	for (size_t i = lag; i < n; i++)
		acc += fabs(s->y[i] - s->y[i - lag]);
	return acc / (double) (n - lag);
}

static void
accumulate(MeFcAccuracy *a, double y, double f, double ape_floor)
{
	double		e = fabs(y - f);

	a->n++;
	a->sum_abs += e;
	a->sum_sq += e * e;
	if (a->scale > 0.0)
	{
		a->n_scaled++;
		a->sum_scaled += e / a->scale;
	}
	if (ape_floor > 0.0 && fabs(y) >= ape_floor)
	{
		a->n_ape++;
		a->sum_ape += e / fabs(y);
	}
}

/* Mean |y| of y[0..n). */
static double
mean_abs(const double *y, size_t n)
{
	double		acc = 0.0;

	for (size_t i = 0; i < n; i++)
		acc += fabs(y[i]);
	return n ? acc / (double) n : 0.0;
}

/*
 * Run the filter of model m over s (initialised from the history hist) and
 * add the errors of each origin's forecast of its local day to acc.
 */
static MeFcStatus
score_days(const MeFcSeries *s, const MeFcSeries *hist, const MeFcModel *m,
		   const size_t *orig, int norig, MeFcAccuracy *acc)
{
	State		st;
	Params		p;
	double	   *f = me_alloc(sizeof(double) * (2 * (size_t) s->m1 + 2));
	double		ape_floor = ME_FC_MAPE_MIN_SHARE * mean_abs(s->y, hist->n);
	int			next = 0;

	if (!state_alloc(&st, s->m1) || f == NULL)
	{
		state_free(&st);
		me_free(f);
		return ME_FC_NO_MEMORY;
	}
	params_of_model(m, m->weekly, &p);
	state_init(&st, hist, &p);
	for (size_t i = 0; i < s->n; i++)
	{
		if (next < norig && orig[next] == i)
		{
			size_t		h = day_length(s, i);

			path(&st, &p, s->ds + i, s->ws + i, h, f);
			for (size_t k = 0; k < h; k++)
				accumulate(acc, s->y[i + k], f[k], ape_floor);
			next++;
		}
		state_update(&st, &p, s->y[i], s->ds[i], s->ws[i]);
	}
	me_free(f);
	state_free(&st);
	return ME_FC_OK;
}

/*
 * Rolling-origin day-ahead backtest: the origins are the last `days` local
 * day starts of s followed by a whole day (23 hours at least), each
 * forecasting its own local day (to the next day start).  The method is fitted once on the history before the
 * first origin (m receives the fit) and the filter runs on through the
 * origins with those parameters.  MASE is scaled by the seasonal-naive MAE
 * of that history; MAPE counts actuals with |y| >= ME_FC_MAPE_MIN_SHARE x
 * its mean |y|.
 */
MeFcStatus
me_fc_backtest(const MeFcSeries *s, MeFcMethod method, int days, MeFcModel *m,
			   MeFcAccuracy *acc)
{
	MeFcStatus	rc;
	size_t	   *orig;
	int			norig;
	MeFcSeries	hist;

	memset(acc, 0, sizeof(*acc));
	if (days < 1 || s == NULL || s->m1 < 1)
		return ME_FC_BAD_ARG;
	orig = me_alloc(sizeof(size_t) * days);
	if (orig == NULL)
		return ME_FC_NO_MEMORY;
	/* whole local days only: at least 23 hours after each origin */
	norig = last_day_starts(s, 1, (size_t) s->m1 - (size_t) s->m1 / 24, days, orig);
	hist = *s;
	hist.n = norig > 0 ? orig[0] : 0;
	rc = me_fc_fit(&hist, method, m);
	if (rc == ME_FC_OK)
		rc = me_fc_check(s);
	if (rc == ME_FC_OK)
	{
		acc->scale = naive_scale(s, hist.n);
		rc = score_days(s, &hist, m, orig, norig, acc);
	}
	me_free(orig);
	return rc;
}

/* Add a series' sums to a pool (each error keeps its own series' scale). */
void
me_fc_accuracy_add(MeFcAccuracy *pool, const MeFcAccuracy *a)
{
	pool->n += a->n;
	pool->sum_abs += a->sum_abs;
	pool->sum_sq += a->sum_sq;
	pool->n_scaled += a->n_scaled;
	pool->sum_scaled += a->sum_scaled;
	pool->n_ape += a->n_ape;
	pool->sum_ape += a->sum_ape;
}

/*
 * Metrics from sums; NaN where undefined (no errors, zero scale, no actual
 * away from zero).  Pooled MASE is the mean scaled error over the series
 * whose scale is defined, each error scaled by its own series' MAE.
 */
void
me_fc_accuracy_finish(const MeFcAccuracy *a, double *mae, double *rmse, double *mase,
					  double *mape)
{
	*mae = a->n ? a->sum_abs / (double) a->n : NAN;
	*rmse = a->n ? sqrt(a->sum_sq / (double) a->n) : NAN;
	*mase = a->n_scaled ? a->sum_scaled / (double) a->n_scaled : NAN;
	*mape = a->n_ape ? 100.0 * a->sum_ape / (double) a->n_ape : NAN;
}

/* ------------------------------------------------------------ bench entry */

/*
 * Fit and forecast h steps of a regular grid y[0..n) in one call, for
 * benchmarks: slot i is local slot i mod m1 of weekday (dow0 + i / m1) mod 7.
 */
MeFcStatus
me_fc_fit_forecast_grid(const double *y, size_t n, int m1, int dow0, MeFcMethod method,
						size_t h, MeFcPoint *out)
{
	int32_t    *ds,
			   *ws;
	MeFcSeries	s;
	MeFcModel	m;
	MeFcStatus	rc;

	if (m1 < 1 || dow0 < 0 || dow0 > 6 || y == NULL)
		return ME_FC_BAD_ARG;
	ds = me_alloc(sizeof(int32_t) * (n + h));
	ws = me_alloc(sizeof(int32_t) * (n + h));
	if (ds == NULL || ws == NULL)
	{
		me_free(ds);
		me_free(ws);
		return ME_FC_NO_MEMORY;
	}
	for (size_t i = 0; i < n + h; i++)
	{
		ds[i] = (int32_t) (i % m1);
		ws[i] = (int32_t) (((dow0 + i / m1) % 7) * m1 + ds[i]);
	}
	s.y = y;
	s.ds = ds;
	s.ws = ws;
	s.n = n;
	s.m1 = m1;
	rc = me_fc_fit(&s, method, &m);
	if (rc == ME_FC_OK)
		rc = me_fc_forecast(&s, &m, ds + n, ws + n, h, out);
	me_free(ds);
	me_free(ws);
	return rc;
}
