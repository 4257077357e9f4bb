/*
 * series_outlier.c - rolling z-score and Hampel scores, one per reading
 *
 * Windows count present readings only: missing readings (present false)
 * are skipped, get status MISSING, and are never part of a window.  For the
 * k-th present reading the window is the previous W present readings
 * (trailing) or h = floor(W/2) on each side (centred); the reading itself
 * is never in its own window, and windows are clipped at the series ends.
 *
 * z-score: (x - mean) / stddev_samp.  Sums of x - K and (x - K)^2 with a
 * shift K near the window mean and Neumaier compensation are updated in
 * O(1) per row; every max(W, 64) rows they are recomputed exactly and K is
 * reset, which bounds the drift, and so are they (O(W), rare) whenever
 * the window mean has moved so far from K that s2 - s1^2/n would lose
 * more than three digits, e.g. when the window's spread collapses.  Whether the window is constant is known
 * exactly from a rolling count of unequal neighbours, so a flat window has
 * stddev exactly 0 instead of rounding noise.
 *
 * Hampel: (x - median) / (1.4826 * MAD) with median and MAD from an
 * order-statistic multiset (orderstat.h): O(log W) per update and
 * O(log W * log(W/B)) for the MAD, no per-row sort.
 *
 * The scale is floored at min_scale.  If it is still 0 the status is
 * DEGENERATE and the score is 0 when x equals the centre and
 * +-ME_SERIES_SCORE_SENTINEL otherwise (so a spike on a flat series is an
 * outlier).  A reading is an outlier when |score| > threshold.
 */
#include <math.h>
#include <string.h>

#include "core/me_alloc.h"
#include "orderstat.h"
#include "series.h"
#include "series_int.h"

#define NO_CENTRE SIZE_MAX
#define MAD_TO_SIGMA 1.4826

/* Window geometry; the current window is [a, b) minus c. */
typedef struct Win
{
	size_t		m;				/* present readings */
	size_t		w;				/* trailing length */
	size_t		h;				/* centred half-width */
	bool		centred;
	size_t		a,
				b,
				c;
} Win;

/* Readings leaving and entering the window between two rows. */
typedef struct WinStep
{
	size_t		del[2];
	size_t		add[2];
	int			ndel;
	int			nadd;
} WinStep;

/* Exact "is the window constant" test: unequal neighbours in [a, b). */
typedef struct Neq
{
	size_t		a,
				b,
				cnt;
} Neq;

/* Compensated sums of x - K and (x - K)^2 over the z-score window. */
typedef struct ZSums
{
	double		k;
	double		s1,
				c1,
				s2,
				c2;
	size_t		n;
} ZSums;

/* Defaults: one day of 15-minute readings, threshold 3 (three-sigma rule). */
void
series_outlier_params_default(MeOutlierParams *p, MeOutlierMethod method)
{
	memset(p, 0, sizeof(*p));
	p->method = method;
	p->mode = method == ME_OUTLIER_HAMPEL ? ME_WINDOW_CENTRED : ME_WINDOW_TRAILING;
	p->window = ME_DEFAULT_OUTLIER_WINDOW;
	p->min_periods = p->window / 2 > 0 ? p->window / 2 : 1;
	p->threshold = ME_DEFAULT_OUTLIER_THRESHOLD;
	/* kW as they are: the spread floor of the log scale is the glue's */
	p->min_scale = 0.0;
}

/* Bounds [a, b) and excluded centre c of the window of present reading k. */
static void
win_bounds(const Win *w, size_t k, size_t *a, size_t *b, size_t *c)
{
	if (!w->centred)
	{
		*a = k > w->w ? k - w->w : 0;
		*b = k;
		*c = NO_CENTRE;
		return;
	}
	*a = k > w->h ? k - w->h : 0;
	*b = w->m - k > w->h ? k + w->h + 1 : w->m;
	*c = k;
}

/* True when reading i is in the window [a, b) minus c. */
static inline bool
win_has(size_t i, size_t a, size_t b, size_t c)
{
	return i >= a && i < b && i != c;
}

/* Move the window from row k-1 to row k (k >= 1): at most 2 out, 2 in. */
static void
win_advance(Win *w, size_t k, WinStep *st)
{
	size_t		a1,
				b1,
				c1,
				i;

	win_bounds(w, k, &a1, &b1, &c1);
	st->ndel = st->nadd = 0;
	for (i = w->a; i < a1 && i < w->b; i++)
		if (win_has(i, w->a, w->b, w->c))
			st->del[st->ndel++] = i;
	if (c1 != NO_CENTRE && win_has(c1, w->a, w->b, w->c))
		st->del[st->ndel++] = c1;
	for (i = w->b > a1 ? w->b : a1; i < b1; i++)
		if (i != c1)
			st->add[st->nadd++] = i;
	if (w->c != NO_CENTRE && win_has(w->c, a1, b1, c1))
		st->add[st->nadd++] = w->c;
	w->a = a1;
	w->b = b1;
	w->c = c1;
}

/* Readings in the current window. */
static size_t
win_size(const Win *w)
{
	return w->b - w->a - (w->c != NO_CENTRE && w->c >= w->a && w->c < w->b ? 1 : 0);
}

/* Store the score of x against centre and scale, with the degenerate rule. */
static void
score_row(MeScore *o, double x, double centre, double scale, size_t nwin,
		  const MeOutlierParams *p)
{
	o->centre = centre;
	o->scale = fmax(scale, p->min_scale);
	o->n_window = (uint32_t) nwin;
	if (o->scale > 0.0)
	{
		o->status = ME_SCORE_OK;
		o->score = (x - centre) / o->scale;
		if (!(fabs(o->score) < ME_SERIES_SCORE_SENTINEL))
			o->score = copysign(ME_SERIES_SCORE_SENTINEL, x - centre);
	}
	else
	{
		o->status = ME_SCORE_DEGENERATE;
		o->score = x == centre ? 0.0 : copysign(ME_SERIES_SCORE_SENTINEL, x - centre);
	}
	o->is_outlier = fabs(o->score) > p->threshold;
}

/* Mark a row whose window is too small. */
static void
short_row(MeScore *o, size_t nwin)
{
	memset(o, 0, sizeof(*o));
	o->n_window = (uint32_t) nwin;
	o->status = ME_SCORE_SHORT;
}

/* Neumaier-compensated s += x. */
static inline void
ksum(double *s, double *c, double x)
{
	double		t = *s + x;

	if (fabs(*s) >= fabs(x))
		*c += (*s - t) + x;
	else
		*c += (x - t) + *s;
	*s = t;
}

/* Add (sign = 1) or remove (sign = -1) one value from the z-score sums. */
static inline void
zsums_update(ZSums *z, double x, double sign)
{
	double		d = x - z->k;

	ksum(&z->s1, &z->c1, sign * d);
	ksum(&z->s2, &z->c2, sign * d * d);
	z->n += sign > 0 ? 1 : (size_t) -1;
}

/* Recompute the sums exactly over the window, re-centring the shift K. */
static void
zsums_recompute(ZSums *z, const double *x, const Win *w)
{
	double		sum = 0.0;
	size_t		i,
				n = 0;

	for (i = w->a; i < w->b; i++)
		if (i != w->c)
		{
			sum += x[i];
			n++;
		}
	memset(z, 0, sizeof(*z));
	z->k = n > 0 ? sum / n : 0.0;
	for (i = w->a; i < w->b; i++)
		if (i != w->c)
			zsums_update(z, x[i], 1.0);
}

/* 1 if x[i] and x[j] differ. */
static inline size_t
ne(const double *x, size_t i, size_t j)
{
	return x[i] != x[j];
}

/* Slide the unequal-neighbour count to [a1, b1) (both ends only advance). */
static void
neq_move(Neq *q, const double *x, size_t a1, size_t b1)
{
	for (; q->b < b1; q->b++)
		if (q->b > q->a)
			q->cnt += ne(x, q->b - 1, q->b);
	for (; q->a < a1; q->a++)
		if (q->a + 1 < q->b)
			q->cnt -= ne(x, q->a, q->a + 1);
}

/* True when all values of [a, b) minus c are equal (c's neighbours bridged). */
static bool
neq_constant(const Neq *q, const double *x, size_t c)
{
	size_t		cnt = q->cnt;
	bool		hasl,
				hasr;

	if (c == NO_CENTRE || c < q->a || c >= q->b)
		return cnt == 0;
	hasl = c > q->a;
	hasr = c + 1 < q->b;
	if (hasl)
		cnt -= ne(x, c - 1, c);
	if (hasr)
		cnt -= ne(x, c, c + 1);
	if (hasl && hasr)
		cnt += ne(x, c - 1, c + 1);
	return cnt == 0;
}

/*
 * True when the shift K has drifted so far from the window mean that
 * s2 - s1^2/n would cancel more than three digits; the caller recomputes.
 */
static bool
zsums_illcond(const ZSums *z)
{
	double		s1 = z->s1 + z->c1;
	double		off = s1 * s1 / (double) z->n;

	return !((z->s2 + z->c2) - off > 1e-3 * off);
}

/* Score row k from the z-score sums (recomputing them if ill-conditioned). */
static void
zscore_row(MeScore *o, const double *x, size_t k, const Win *w, ZSums *z,
		   const Neq *q, size_t minp, const MeOutlierParams *p)
{
	size_t		n = win_size(w);
	double		s1,
				var;

	if (n < minp)
	{
		short_row(o, n);
		return;
	}
	if (neq_constant(q, x, w->c))
	{
		score_row(o, x[k], x[w->a != w->c ? w->a : w->a + 1], 0.0, n, p);
		return;
	}
	if (zsums_illcond(z))
		zsums_recompute(z, x, w);
	s1 = z->s1 + z->c1;
	var = ((z->s2 + z->c2) - s1 * s1 / n) / (n - 1);
	score_row(o, x[k], z->k + s1 / n, sqrt(fmax(var, 0.0)), n, p);
}

/* Rolling z-scores over the compacted values x[0..m). */
static int
run_zscore(const double *x, const size_t *idx, Win *w, size_t minp,
		   const MeOutlierParams *p, MeScore *out)
{
	ZSums		z;
	Neq			q = {0, 0, 0};
	size_t		k,
				since = 0,
				every = p->window > 64 ? p->window : 64;
	WinStep		st;
	int			i;

	for (k = 0; k < w->m; k++)
	{
		if (k == 0)
		{
			win_bounds(w, 0, &w->a, &w->b, &w->c);
			zsums_recompute(&z, x, w);
		}
		else
		{
			win_advance(w, k, &st);
			for (i = 0; i < st.ndel; i++)
				zsums_update(&z, x[st.del[i]], -1.0);
			for (i = 0; i < st.nadd; i++)
				zsums_update(&z, x[st.add[i]], 1.0);
			if (++since >= every)
			{
				zsums_recompute(&z, x, w);
				since = 0;
			}
		}
		neq_move(&q, x, w->a, w->b);
		zscore_row(&out[idx ? idx[k] : k], x, k, w, &z, &q, minp, p);
	}
	return ME_SERIES_OK;
}

/* Apply a window step to the multiset. */
static int
os_step(MeOrderStat *os, const double *x, const WinStep *st)
{
	int			i,
				rc;

	for (i = 0; i < st->ndel; i++)
		if ((rc = me_os_remove(os, x[st->del[i]])) != ME_SERIES_OK)
			return rc;
	for (i = 0; i < st->nadd; i++)
		if ((rc = me_os_insert(os, x[st->add[i]])) != ME_SERIES_OK)
			return rc;
	return ME_SERIES_OK;
}

/* Rolling Hampel scores over the compacted values x[0..m). */
static int
run_hampel(const double *x, const size_t *idx, Win *w, size_t minp,
		   const MeOutlierParams *p, MeScore *out)
{
	MeOrderStat os;
	WinStep		st;
	size_t		k,
				i;
	int			rc = ME_SERIES_OK;

	me_os_init(&os);
	for (k = 0; k < w->m && rc == ME_SERIES_OK; k++)
	{
		MeScore    *o = &out[idx ? idx[k] : k];
		double		med;

		if (k == 0)
		{
			win_bounds(w, 0, &w->a, &w->b, &w->c);
			for (i = w->a; i < w->b && rc == ME_SERIES_OK; i++)
				if (i != w->c)
					rc = me_os_insert(&os, x[i]);
		}
		else
		{
			win_advance(w, k, &st);
			rc = os_step(&os, x, &st);
		}
		if (rc != ME_SERIES_OK)
			break;
		if (os.n < minp)
		{
			short_row(o, os.n);
			continue;
		}
		med = me_os_median(&os);
		score_row(o, x[k], med, MAD_TO_SIGMA * me_os_mad(&os, med), os.n, p);
	}
	me_os_free(&os);
	return rc;
}

/* Copy present values into x[0..m) with their original positions in idx. */
static int
compact(const MeSeries *in, double **x, size_t **idx, size_t *m, MeScore *out)
{
	size_t		i;

	*m = 0;
	*x = me_alloc(in->n * sizeof(double));
	*idx = me_alloc(in->n * sizeof(size_t));
	if (*x == NULL || *idx == NULL)
		return ME_SERIES_ENOMEM;
	for (i = 0; i < in->n; i++)
	{
		if (!in->present[i])
		{
			memset(&out[i], 0, sizeof(MeScore));
			out[i].status = ME_SCORE_MISSING;
			continue;
		}
		(*x)[*m] = in->kw[i];
		(*idx)[*m] = i;
		(*m)++;
	}
	return ME_SERIES_OK;
}

/* Reject parameters the algorithms cannot honour. */
static int
check_params(const MeOutlierParams *p)
{
	if (p == NULL || p->window < 1 || p->window > UINT32_MAX || isnan(p->threshold) ||
		!(p->min_scale >= 0.0) || !isfinite(p->min_scale) ||
		(p->method != ME_OUTLIER_ZSCORE && p->method != ME_OUTLIER_HAMPEL) ||
		(p->mode != ME_WINDOW_TRAILING && p->mode != ME_WINDOW_CENTRED))
		return ME_SERIES_EINVAL;
	return ME_SERIES_OK;
}

/*
 * Score every reading; out has in->n entries (caller-allocated).  in->ts
 * is not used (it may be NULL); the order of the arrays is the order of the
 * series.
 */
int
series_outliers(const MeSeries *in, const MeOutlierParams *p, MeScore *out)
{
	double	   *x = NULL;
	size_t	   *idx = NULL;
	size_t		minp;
	Win			w;
	int			rc;

	if ((rc = check_params(p)) != ME_SERIES_OK || (rc = series_check_input(in, NULL)) != ME_SERIES_OK)
		return rc;
	if (in->n > 0 && out == NULL)
		return ME_SERIES_EINVAL;
	memset(&w, 0, sizeof(w));
	w.m = in->n;
	if (in->present != NULL && (rc = compact(in, &x, &idx, &w.m, out)) != ME_SERIES_OK)
	{
		me_free(x);
		me_free(idx);
		return rc;
	}
	w.w = p->window;
	w.h = p->window / 2;
	w.centred = p->mode == ME_WINDOW_CENTRED;
	minp = p->method == ME_OUTLIER_ZSCORE ? 2 : 1;
	if (p->min_periods > minp)
		minp = p->min_periods;
	if (p->method == ME_OUTLIER_ZSCORE)
		rc = run_zscore(x ? x : in->kw, idx, &w, minp, p, out);
	else
		rc = run_hampel(x ? x : in->kw, idx, &w, minp, p, out);
	me_free(x);
	me_free(idx);
	return rc;
}
