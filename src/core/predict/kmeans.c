/*
 * kmeans.c - k-means clustering: greedy k-means++ seeding, Lloyd
 * iterations, restarts keeping the lowest inertia (see kmeans.h)
 *
 * Everything random comes from one splitmix64 stream started at the seed,
 * so a seed gives the same clusters on every platform with IEEE doubles.
 * Ties are broken towards the lowest index (of a centroid when assigning,
 * of a point when re-seeding an empty cluster), never by chance.
 *
 * The assignment step is Hamerly's (2010): per point an upper bound of the
 * distance to its centroid and a lower bound of the distance to any other
 * one, moved by how far the centroids moved, skip the points that cannot
 * have changed cluster.  It gives Lloyd's labels with a fraction of the
 * distance computations once the centroids settle.
 */
#include "core/predict/kmeans.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/me_alloc.h"

/* The state of one call: the data, the current run and its scratch space. */
typedef struct KmWork
{
	const double *x;
	size_t		n;
	size_t		d;
	int			k;
	uint64_t	rng;
	double	   *cent;			/* k * d centroids of the current run */
	double	   *sums;			/* k * d coordinate sums per cluster */
	size_t	   *count;			/* k points per cluster */
	int		   *labels;			/* n */
	double	   *dist2;			/* n squared distance to the own centroid (exact after a run) */
	double	   *upper;			/* n Hamerly: upper bound of the distance to the own centroid */
	double	   *lower;			/* n Hamerly: lower bound of the distance to any other */
	double	   *moved;			/* k how far each centroid moved in the last update */
	double	   *half_gap;		/* k half the distance to the nearest other centroid */
	double	   *closest;		/* n seeding: squared distance to the nearest centre */
	int		   *nearest;		/* n seeding: that centre */
	double	   *cand_d2;		/* trials * k seeding: squared distances of the candidates to the centres */
	double	   *trial_d2;		/* trials * n seeding: the candidates' squared distances (NAN: ruled out) */
	int			trials;			/* seeding: candidates per centre, 2 + floor(ln k) */
	double	   *cumsum;			/* n seeding: running sum of closest */
	const MeKmParams *p;
} KmWork;

void
me_kmeans_defaults(MeKmParams *p, int k)
{
	memset(p, 0, sizeof(*p));
	p->k = k;
	p->restarts = ME_DEFAULT_KMEANS_RESTARTS;
	p->max_iter = ME_DEFAULT_KMEANS_MAX_ITER;
	p->tol = ME_DEFAULT_KMEANS_TOL;
	p->seed = ME_DEFAULT_KMEANS_SEED;
}

const char *
me_kmeans_status_text(MeKmStatus st)
{
	switch (st)
	{
		case ME_KM_OK:
			return "ok";
		case ME_KM_BAD_K:
			return "k must be between 1 and the number of points";
		case ME_KM_BAD_DIM:
			return "points must have at least one dimension";
		case ME_KM_NOT_FINITE:
			return "points must not contain NaN or infinity";
		case ME_KM_BAD_PARAM:
			return "restarts, max_iter and tol must be positive";
		case ME_KM_NO_MEMORY:
			return "out of memory";
	}
	return "unknown status";
}

/* splitmix64: a small, well-mixed 64-bit generator (one word of state). */
static uint64_t
km_next(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double
km_unif(uint64_t *s)
{
	return (double) (km_next(s) >> 11) * 0x1.0p-53;
}

/* Uniform in 0 .. n-1 (the product may round up to n). */
static size_t
km_index(uint64_t *s, size_t n)
{
	size_t		i = (size_t) (km_unif(s) * (double) n);

	return i < n ? i : n - 1;
}

/*
 * Squared Euclidean distance.  Four running sums in a fixed order: the
 * compiler may not reorder one floating-point sum (no -ffast-math), four
 * let it use vector registers, and the result is still the same on every
 * run.
 */
static inline double
sqdist(const double *a, const double *b, size_t d)
{
	double		s0 = 0.0,
				s1 = 0.0,
				s2 = 0.0,
				s3 = 0.0;
	size_t		j = 0;

	for (; j + 4 <= d; j += 4)
	{
		double		t0 = a[j] - b[j],
					t1 = a[j + 1] - b[j + 1],
					t2 = a[j + 2] - b[j + 2],
					t3 = a[j + 3] - b[j + 3];

		s0 += t0 * t0;
		s1 += t1 * t1;
		s2 += t2 * t2;
		s3 += t3 * t3;
	}
	for (; j < d; j++)
	{
		double		t = a[j] - b[j];

		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

static void
km_interrupts(const KmWork *w)
{
	if (w->p->check_interrupts)
		w->p->check_interrupts(w->p->ctx);
}

/* Sizes, parameters and coordinates, before anything is allocated. */
static MeKmStatus
check_input(const double *x, size_t n, size_t d, const MeKmParams *p)
{
	if (d < 1 || (n > 0 && d > SIZE_MAX / sizeof(double) / n))
		return ME_KM_BAD_DIM;
	if (p->k < 1 || (size_t) p->k > n)
		return ME_KM_BAD_K;
	if ((size_t) p->k > SIZE_MAX / sizeof(double) / d)
		return ME_KM_BAD_DIM;
	if (p->restarts < 1 || p->max_iter < 1 || !(p->tol >= 0.0) || isinf(p->tol))
		return ME_KM_BAD_PARAM;
	for (size_t i = 0; i < n * d; i++)
		if (!isfinite(x[i]))
			return ME_KM_NOT_FINITE;
	return ME_KM_OK;
}

/*
 * The absolute tolerance on the squared centre shift: tol times the mean of
 * the per-dimension variances, so that tol means the same whatever the
 * scale of the data (scikit-learn's convention).
 */
static double
abs_tolerance(const double *x, size_t n, size_t d, double tol, double *mean, double *ss)
{
	double		total = 0.0;

	if (tol == 0.0)
		return 0.0;
	/* row by row (the data's order in memory), each dimension's sums in point order */
	for (size_t j = 0; j < d; j++)
		mean[j] = ss[j] = 0.0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			mean[j] += x[i * d + j];
	for (size_t j = 0; j < d; j++)
		mean[j] /= (double) n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
		{
			double		t = x[i * d + j] - mean[j];

			ss[j] += t * t;
		}
	for (size_t j = 0; j < d; j++)
		total += ss[j] / (double) n;
	return tol * total / (double) d;
}

/* The running sums of closest[] into cumsum; their total. */
static double
weights_sum(KmWork *w)
{
	double		total = 0.0;

	for (size_t i = 0; i < w->n; i++)
	{
		total += w->closest[i];
		w->cumsum[i] = total;
	}
	return total;
}

/* A point drawn with probability proportional to closest[] (uniform if all 0). */
static size_t
draw_weighted(KmWork *w, double total)
{
	double		r;
	size_t		lo = 0,
				hi = w->n - 1;

	if (!(total > 0.0))
		return km_index(&w->rng, w->n);
	r = km_unif(&w->rng) * total;
	/* the first i with cumsum[i] > r: points at distance 0 are never drawn */
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (w->cumsum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Seeding skips the distances that cannot matter: if a candidate c is at
 * least twice as far from point i's nearest centre a as i is, then by the
 * triangle inequality d(i, c) >= d(i, a), and c changes nothing for i.  In
 * squared distances: d2(c, a) > 4 d2(i, a), with a margin far above the
 * rounding of either, so every skipped point is one the full computation
 * would also have left alone: the same seeds, bit for bit, several times
 * faster once the centres spread over the clusters.
 */
#define SEED_PRUNE_MARGIN (4.0 * (1.0 + 1e-9))
/* candidates per centre: 2 + floor(ln k) is at most 8 for k <= ME_KMEANS_MAX_K */
#define ME_KM_MAX_TRIALS 9

/*
 * The potentials (sums of squared distances to the nearest centre) if
 * each candidate c[0..nc) became centre j, in one pass over the points
 * (the data is read once for all candidates, not once each: seeding is
 * bound by memory traffic); each candidate's distances kept in trial_d2.
 */
static void
potentials(KmWork *w, const size_t *c, int nc, int j, double *pot)
{
	for (int t = 0; t < nc; t++)
	{
		pot[t] = 0.0;
		for (int a = 0; a < j; a++)
			w->cand_d2[t * w->k + a] = sqdist(w->x + c[t] * w->d, w->cent + (size_t) a * w->d, w->d);
	}
	for (size_t i = 0; i < w->n; i++)
	{
		const double *xi = w->x + i * w->d;

		for (int t = 0; t < nc; t++)
		{
			double		dd;

			if (j > 0 && w->cand_d2[t * w->k + w->nearest[i]] > SEED_PRUNE_MARGIN * w->closest[i])
			{
				w->trial_d2[t * w->n + i] = NAN;
				pot[t] += w->closest[i];
				continue;
			}
			dd = sqdist(xi, w->x + c[t] * w->d, w->d);
			w->trial_d2[t * w->n + i] = dd;
			pot[t] += j == 0 || dd < w->closest[i] ? dd : w->closest[i];
		}
	}
}

/* Make candidate t (point c) centre number j: the nearest centres from its distances. */
static void
add_centre(KmWork *w, int j, int t, size_t c)
{
	memcpy(w->cent + (size_t) j * w->d, w->x + c * w->d, w->d * sizeof(double));
	for (size_t i = 0; i < w->n; i++)
	{
		double		dd = w->trial_d2[t * w->n + i];

		/* NAN (ruled out) compares false: the nearest centre stays */
		if (j == 0 || dd < w->closest[i])
		{
			w->closest[i] = dd;
			w->nearest[i] = j;
		}
	}
}

/*
 * Greedy k-means++: each centre after the first is the best of
 * 2 + floor(ln k) weighted draws, which seeds better than one draw.
 */
static void
seed_centres(KmWork *w)
{
	size_t		c[ME_KM_MAX_TRIALS];
	double		pot[ME_KM_MAX_TRIALS];

	c[0] = km_index(&w->rng, w->n);
	potentials(w, c, 1, 0, pot);
	add_centre(w, 0, 0, c[0]);
	for (int j = 1; j < w->k; j++)
	{
		double		total = weights_sum(w);
		int			best = 0;

		km_interrupts(w);
		for (int t = 0; t < w->trials; t++)
			c[t] = draw_weighted(w, total);
		potentials(w, c, w->trials, j, pot);
		/* strictly lower: the first of equal candidates */
		for (int t = 1; t < w->trials; t++)
			if (pot[t] < pot[best])
				best = t;
		add_centre(w, j, best, c[best]);
	}
}

/* Nearest centroid of point i (ties: the lowest index), with the two smallest distances. */
static int
nearest(const KmWork *w, size_t i, double *best_d, double *second_d)
{
	const double *xi = w->x + i * w->d;
	int			best = 0;
	double		b1 = INFINITY,
				b2 = INFINITY;

	for (int j = 0; j < w->k; j++)
	{
		double		dd = sqdist(xi, w->cent + (size_t) j * w->d, w->d);

		if (dd < b1)
		{
			b2 = b1;
			b1 = dd;
			best = j;
		}
		else if (dd < b2)
			b2 = dd;
	}
	*best_d = b1;
	*second_d = b2;
	return best;
}

/* Point i against every centroid: its label and exact bounds; true if the label changed. */
static bool
rescan(KmWork *w, size_t i)
{
	double		b1,
				b2;
	int			best = nearest(w, i, &b1, &b2);
	bool		changed = best != w->labels[i];

	w->labels[i] = best;
	w->upper[i] = sqrt(b1);
	w->lower[i] = sqrt(b2);
	return changed;
}

/* Half the distance from each centroid to its nearest other one. */
static void
half_gaps(KmWork *w)
{
	for (int j = 0; j < w->k; j++)
		w->half_gap[j] = INFINITY;
	for (int j = 0; j < w->k; j++)
		for (int j2 = j + 1; j2 < w->k; j2++)
		{
			double		h = 0.5 * sqrt(sqdist(w->cent + (size_t) j * w->d,
											  w->cent + (size_t) j2 * w->d, w->d));

			if (h < w->half_gap[j])
				w->half_gap[j] = h;
			if (h < w->half_gap[j2])
				w->half_gap[j2] = h;
		}
}

/*
 * Move the bounds by how far the centroids moved: the own centroid may be
 * farther by its move, any other nearer by the largest move of another.
 */
static void
shift_bounds(KmWork *w)
{
	int			far = 0;
	double		m1 = -1.0,
				m2 = 0.0;

	for (int j = 0; j < w->k; j++)
		if (w->moved[j] > m1)
		{
			m2 = m1 < 0.0 ? 0.0 : m1;
			m1 = w->moved[j];
			far = j;
		}
		else if (w->moved[j] > m2)
			m2 = w->moved[j];
	for (size_t i = 0; i < w->n; i++)
	{
		int			a = w->labels[i];

		w->upper[i] += w->moved[a];
		w->lower[i] -= a == far ? m2 : m1;
	}
}

/*
 * Hamerly's assignment: a point whose upper bound is below its lower
 * bound or half the gap around its centroid keeps its label; otherwise
 * the bound is tightened and, if that is not enough, every centroid is
 * tried.  Returns how many labels changed.
 */
static size_t
assign_bounded(KmWork *w)
{
	size_t		changed = 0;

	half_gaps(w);
	shift_bounds(w);
	for (size_t i = 0; i < w->n; i++)
	{
		int			a = w->labels[i];
		double		m = w->half_gap[a] > w->lower[i] ? w->half_gap[a] : w->lower[i];

		/* strictly: on a tie the full scan gives the lowest index, as Lloyd's would */
		if (w->upper[i] < m)
			continue;
		w->upper[i] = sqrt(sqdist(w->x + i * w->d, w->cent + (size_t) a * w->d, w->d));
		if (w->upper[i] < m)
			continue;
		if (rescan(w, i))
			changed++;
	}
	return changed;
}

/* Exact squared distances to the own centroids and their sum (the inertia). */
static double
exact_distances(KmWork *w)
{
	double		sum = 0.0;

	for (size_t i = 0; i < w->n; i++)
	{
		w->dist2[i] = sqdist(w->x + i * w->d, w->cent + (size_t) w->labels[i] * w->d, w->d);
		sum += w->dist2[i];
	}
	return sum;
}

/*
 * An empty cluster j takes the point farthest from its centroid among
 * clusters of two or more points (one exists by pigeonhole while k <= n).
 */
static void
reseed_empty(KmWork *w, int j)
{
	size_t		far = 0;
	double		far_d = -1.0;
	int			from;

	for (size_t i = 0; i < w->n; i++)
		if (w->count[w->labels[i]] > 1 && w->dist2[i] > far_d)
		{
			far_d = w->dist2[i];
			far = i;
		}
	from = w->labels[far];
	for (size_t c = 0; c < w->d; c++)
	{
		w->sums[(size_t) from * w->d + c] -= w->x[far * w->d + c];
		w->sums[(size_t) j * w->d + c] = w->x[far * w->d + c];
	}
	w->count[from]--;
	w->count[j] = 1;
	w->labels[far] = j;
	w->dist2[far] = 0.0;
	/* it is its cluster's centroid: distance 0, nothing can be nearer */
	w->upper[far] = 0.0;
	w->lower[far] = 0.0;
}

/* New centroids as the means of their points; returns the squared shift. */
static double
update(KmWork *w)
{
	size_t		kd = (size_t) w->k * w->d;
	double		shift = 0.0;
	bool		empty = false;

	memset(w->sums, 0, kd * sizeof(double));
	memset(w->count, 0, (size_t) w->k * sizeof(size_t));
	for (size_t i = 0; i < w->n; i++)
	{
		double	   *s = w->sums + (size_t) w->labels[i] * w->d;

		for (size_t c = 0; c < w->d; c++)
			s[c] += w->x[i * w->d + c];
		w->count[w->labels[i]]++;
	}
	for (int j = 0; j < w->k; j++)
		empty |= w->count[j] == 0;
	/* rare: "farthest" needs the exact distances, not the bounds */
	if (empty)
		exact_distances(w);
	for (int j = 0; j < w->k; j++)
		if (w->count[j] == 0)
			reseed_empty(w, j);
	for (int j = 0; j < w->k; j++)
	{
		double	   *cj = w->cent + (size_t) j * w->d;
		const double *sj = w->sums + (size_t) j * w->d;
		double		mv = 0.0;

		for (size_t c = 0; c < w->d; c++)
		{
			double		v = sj[c] / (double) w->count[j];

			mv += (v - cj[c]) * (v - cj[c]);
			cj[c] = v;
		}
		w->moved[j] = sqrt(mv);
		shift += mv;
	}
	return shift;
}

/* One seeded run of Lloyd's algorithm; returns its inertia. */
static double
run_once(KmWork *w, double tol_abs, int *iterations)
{
	double		inertia;
	int			it = 0;

	seed_centres(w);
	for (size_t i = 0; i < w->n; i++)
	{
		w->labels[i] = -1;
		rescan(w, i);
	}
	while (it < w->p->max_iter)
	{
		double		shift;

		km_interrupts(w);
		it++;
		shift = update(w);
		/* labels are those of the centroids after the last update: they agree */
		if (assign_bounded(w) == 0 || shift <= tol_abs)
			break;
	}
	inertia = exact_distances(w);
	*iterations = it;
	return inertia;
}

static void *
alloc_array(size_t n, size_t elem, bool *failed)
{
	void	   *p = me_alloc(n * elem);

	if (p == NULL)
		*failed = true;
	return p;
}

static void
free_work(KmWork *w)
{
	me_free(w->cent);
	me_free(w->sums);
	me_free(w->count);
	me_free(w->labels);
	me_free(w->dist2);
	me_free(w->upper);
	me_free(w->lower);
	me_free(w->moved);
	me_free(w->half_gap);
	me_free(w->closest);
	me_free(w->nearest);
	me_free(w->cand_d2);
	me_free(w->trial_d2);
	me_free(w->cumsum);
}

void
me_kmeans_result_free(MeKmResult *r)
{
	me_free(r->labels);
	me_free(r->centroids);
	me_free(r->distance);
	memset(r, 0, sizeof(*r));
}

/* Allocate the scratch space and the result; false when memory ran out. */
static bool
alloc_all(KmWork *w, MeKmResult *out)
{
	size_t		kd = (size_t) w->k * w->d;
	bool		failed = false;

	w->cent = alloc_array(kd, sizeof(double), &failed);
	w->sums = alloc_array(kd, sizeof(double), &failed);
	w->count = alloc_array((size_t) w->k, sizeof(size_t), &failed);
	w->labels = alloc_array(w->n, sizeof(int), &failed);
	w->dist2 = alloc_array(w->n, sizeof(double), &failed);
	w->upper = alloc_array(w->n, sizeof(double), &failed);
	w->lower = alloc_array(w->n, sizeof(double), &failed);
	w->moved = alloc_array((size_t) w->k, sizeof(double), &failed);
	w->half_gap = alloc_array((size_t) w->k, sizeof(double), &failed);
	w->closest = alloc_array(w->n, sizeof(double), &failed);
	w->nearest = alloc_array(w->n, sizeof(int), &failed);
	w->trials = 2 + (int) floor(log((double) w->k));
	w->cand_d2 = alloc_array((size_t) w->trials * w->k, sizeof(double), &failed);
	w->trial_d2 = alloc_array((size_t) w->trials * w->n, sizeof(double), &failed);
	w->cumsum = alloc_array(w->n, sizeof(double), &failed);
	out->labels = alloc_array(w->n, sizeof(int), &failed);
	out->centroids = alloc_array(kd, sizeof(double), &failed);
	out->distance = alloc_array(w->n, sizeof(double), &failed);
	if (failed)
	{
		free_work(w);
		me_kmeans_result_free(out);
	}
	return !failed;
}

/* Keep the current run as the result. */
static void
keep_run(const KmWork *w, MeKmResult *out, double inertia, int iterations, int restart)
{
	memcpy(out->labels, w->labels, w->n * sizeof(int));
	memcpy(out->centroids, w->cent, (size_t) w->k * w->d * sizeof(double));
	for (size_t i = 0; i < w->n; i++)
		out->distance[i] = sqrt(w->dist2[i]);
	out->inertia = inertia;
	out->iterations = iterations;
	out->best_restart = restart;
}

MeKmStatus
me_kmeans(const double *x, size_t n, size_t d, const MeKmParams *p, MeKmResult *out)
{
	KmWork		w;
	MeKmStatus	st;
	double		tol_abs;

	memset(out, 0, sizeof(*out));
	if ((st = check_input(x, n, d, p)) != ME_KM_OK)
		return st;
	memset(&w, 0, sizeof(w));
	w.x = x;
	w.n = n;
	w.d = d;
	w.k = p->k;
	w.p = p;
	w.rng = p->seed;
	if (!alloc_all(&w, out))
		return ME_KM_NO_MEMORY;
	/* the centroid arrays (k * d >= d) are free until the first run */
	tol_abs = abs_tolerance(x, n, d, p->tol, w.cent, w.sums);
	for (int r = 0; r < p->restarts; r++)
	{
		int			iterations;
		double		inertia = run_once(&w, tol_abs, &iterations);

		/* strictly lower: the earliest of equally good runs is kept */
		if (r == 0 || inertia < out->inertia)
			keep_run(&w, out, inertia, iterations, r);
	}
	free_work(&w);
	return ME_KM_OK;
}

/* Comparison state of me_kmeans_order_by_size: size, then first point. */
typedef struct KmRank
{
	size_t		count;
	size_t		first;
	int			old;
} KmRank;

static int
rank_cmp(const void *a, const void *b)
{
	const KmRank *x = a,
			   *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first ? 1 : 0;
}

bool
me_kmeans_order_by_size(MeKmResult *r, size_t n, size_t d, int k)
{
	KmRank	   *rank = me_alloc((size_t) k * sizeof(KmRank));
	int		   *newlab = me_alloc((size_t) k * sizeof(int));
	double	   *cent = me_alloc((size_t) k * d * sizeof(double));

	if (rank == NULL || newlab == NULL || cent == NULL)
	{
		me_free(rank);
		me_free(newlab);
		me_free(cent);
		return false;
	}
	for (int j = 0; j < k; j++)
	{
		rank[j].count = 0;
		rank[j].first = SIZE_MAX;	/* empty clusters go last */
		rank[j].old = j;
	}
	for (size_t i = 0; i < n; i++)
	{
		KmRank	   *c = &rank[r->labels[i]];

		if (c->count++ == 0)
			c->first = i;
	}
	qsort(rank, (size_t) k, sizeof(KmRank), rank_cmp);
	for (int j = 0; j < k; j++)
	{
		newlab[rank[j].old] = j;
		memcpy(cent + (size_t) j * d, r->centroids + (size_t) rank[j].old * d, d * sizeof(double));
	}
	for (size_t i = 0; i < n; i++)
		r->labels[i] = newlab[r->labels[i]];
	memcpy(r->centroids, cent, (size_t) k * d * sizeof(double));
	me_free(rank);
	me_free(newlab);
	me_free(cent);
	return true;
}
