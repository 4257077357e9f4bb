/*
 * iforest.c - isolation forest: fit on subsamples, score any points
 *
 * See iforest.h for the algorithm.  The trees of a forest share one node
 * array (indices, not pointers, so it can grow); a leaf keeps its whole
 * contribution depth + c(size), so scoring a point is one walk per tree.
 *
 * Scoring walks a compiled copy (compile()): each node's children side by
 * side (right = left + 1, so a step is left + (x > value), no branch), and
 * every leaf a self-loop (value +inf), so that a block of points walks a
 * tree in lockstep for the tree's depth: the points' walks are independent
 * chains the CPU overlaps, and no branch mispredicts on the data.  Scores
 * are the same bits as one walk per point (each point's sum is still taken
 * tree by tree, in order).
 */
#include "core/predict/iforest.h"

#include <math.h>
#include <string.h>

#include "core/me_alloc.h"

#define EULER_GAMMA 0.5772156649015329

/* A node: an inner node splits on feature at value, a leaf (left < 0) holds h. */
typedef struct IfNode
{
	int32_t		left;			/* child indices, -1 for a leaf */
	int32_t		right;
	int32_t		feature;
	double		value;			/* threshold, or the leaf's depth + c(size) */
} IfNode;

/* A node of the compiled forest: children at left and left + 1. */
typedef struct IfStep
{
	double		value;			/* threshold; +inf at a leaf */
	int32_t		feature;		/* 0 at a leaf */
	int32_t		left;			/* a leaf: itself */
} IfStep;

struct MeIForest
{
	size_t		d;
	int			n_trees;
	size_t		psi;			/* the subsample actually used: min(sample_size, n) */
	double		c_psi;			/* normaliser c(psi) */
	IfNode	   *nodes;
	size_t		nnodes;
	size_t		cap;
	int32_t    *roots;			/* root node of each tree */
	IfStep	   *steps;			/* the compiled forest (nnodes of them) */
	double	   *leaf_h;			/* per step: the leaf's depth + c(size) */
	int32_t    *step_roots;
	int		   *depth;			/* per tree: its deepest leaf */
};

#define SCORE_BLOCK 16			/* points walked through a tree together */

/* Growing one tree: the data, the sample being partitioned, scratch. */
typedef struct Builder
{
	MeIForest  *f;
	const double *x;
	size_t	   *idx;			/* the sample, partitioned in place */
	uint64_t	rng;
	int			max_depth;
	double	   *lo;				/* per feature, of the node being split */
	double	   *hi;
	int32_t    *cand;			/* features not constant in the node */
	int			nomem;
} Builder;

/* splitmix64 (Steele, Lea & Flood 2014): small, fast, seedable, own state. */
static uint64_t
next_u64(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform integer in [0, k) by multiply-shift (bias below 2^-64 * k). */
static size_t
rand_below(uint64_t *s, size_t k)
{
	return (size_t) (((unsigned __int128) next_u64(s) * k) >> 64);
}

/* Uniform double in [0, 1) with 53 random bits. */
static double
rand_unit(uint64_t *s)
{
	return (double) (next_u64(s) >> 11) * 0x1.0p-53;
}

double
me_iforest_c(double n)
{
	if (n <= 1.0)
		return 0.0;
	if (n <= 2.0)
		return 1.0;
	return 2.0 * (log(n - 1.0) + EULER_GAMMA) - 2.0 * (n - 1.0) / n;
}

void
me_iforest_params_default(MeIForestParams *p)
{
	p->n_trees = ME_DEFAULT_IFOREST_TREES;
	p->sample_size = ME_DEFAULT_IFOREST_SAMPLE_SIZE;
	p->seed = ME_DEFAULT_IFOREST_SEED;
}

/* First non-finite element of x[0..n), or n. */
static size_t
first_nonfinite(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return i;
	return n;
}

/* A new node slot, or -1 when memory ran out (the caller unwinds). */
static int32_t
new_node(Builder *b)
{
	MeIForest  *f = b->f;

	if (f->nnodes == f->cap)
	{
		size_t		cap = f->cap ? f->cap * 2 : 1024;
		IfNode	   *nodes = cap > INT32_MAX ? NULL : me_realloc(f->nodes, cap * sizeof(IfNode));

		/* node indices are int32: a forest that large is refused as out of memory */
		if (nodes == NULL)
		{
			b->nomem = 1;
			return -1;
		}
		f->nodes = nodes;
		f->cap = cap;
	}
	return (int32_t) f->nnodes++;
}

/* Min and max of each feature over idx[0..n); the non-constant ones into cand. */
static int
node_ranges(Builder *b, const size_t *idx, size_t n)
{
	size_t		d = b->f->d;
	int			ncand = 0;

	for (size_t j = 0; j < d; j++)
		b->lo[j] = b->hi[j] = b->x[idx[0] * d + j];
	for (size_t i = 1; i < n; i++)
	{
		const double *row = b->x + idx[i] * d;

		for (size_t j = 0; j < d; j++)
		{
			if (row[j] < b->lo[j])
				b->lo[j] = row[j];
			if (row[j] > b->hi[j])
				b->hi[j] = row[j];
		}
	}
	for (size_t j = 0; j < d; j++)
		if (b->lo[j] < b->hi[j])
			b->cand[ncand++] = (int32_t) j;
	return ncand;
}

/* Move the points with x[feature] <= t to the front; how many there are. */
static size_t
partition(Builder *b, size_t *idx, size_t n, int32_t feature, double t)
{
	size_t		d = b->f->d;
	size_t		k = 0;

	for (size_t i = 0; i < n; i++)
		if (b->x[idx[i] * d + feature] <= t)
		{
			size_t		tmp = idx[k];

			idx[k++] = idx[i];
			idx[i] = tmp;
		}
	return k;
}

/*
 * Grow the subtree of idx[0..n) at depth; its node index, or -1 on out of
 * memory.  Leaves: depth limit, a single point, or all points identical
 * (no feature varies, so no cut can separate them).
 */
static int32_t
grow(Builder *b, size_t *idx, size_t n, int depth)
{
	int32_t		id = new_node(b);
	int			ncand;
	int32_t		feature;
	double		lo,
				hi,
				t;
	size_t		nleft;
	int32_t		left,
				right;

	if (id < 0)
		return -1;
	ncand = (depth >= b->max_depth || n <= 1) ? 0 : node_ranges(b, idx, n);
	if (ncand == 0)
	{
		b->f->nodes[id].left = b->f->nodes[id].right = -1;
		b->f->nodes[id].feature = -1;
		b->f->nodes[id].value = depth + me_iforest_c((double) n);
		return id;
	}
	/* a feature constant in the node is never drawn: as drawing again until one varies */
	feature = b->cand[rand_below(&b->rng, (size_t) ncand)];
	lo = b->lo[feature];
	hi = b->hi[feature];
	t = lo + rand_unit(&b->rng) * (hi - lo);
	if (t >= hi)				/* rounding: keep the max on the right */
		t = lo;
	nleft = partition(b, idx, n, feature, t);
	left = grow(b, idx, nleft, depth + 1);
	right = left < 0 ? -1 : grow(b, idx + nleft, n - nleft, depth + 1);
	if (right < 0)
		return -1;
	b->f->nodes[id].left = left;
	b->f->nodes[id].right = right;
	b->f->nodes[id].feature = feature;
	b->f->nodes[id].value = t;
	return id;
}

/* Check the parameters and the data before anything is allocated. */
static int
fit_check(const double *x, size_t n, size_t d, const MeIForestParams *p, size_t *bad_index)
{
	size_t		bad;

	if (n == 0 || d == 0)
		return ME_IFOREST_EMPTY;
	if (d > ME_IFOREST_MAX_FEATURES || n > SIZE_MAX / d / sizeof(double))
		return ME_IFOREST_BAD_FEATURES;
	if (p->n_trees < 1 || p->n_trees > ME_IFOREST_MAX_TREES)
		return ME_IFOREST_BAD_TREES;
	if (p->sample_size < 1 || p->sample_size > ME_IFOREST_MAX_SAMPLE_SIZE)
		return ME_IFOREST_BAD_SAMPLE;
	bad = first_nonfinite(x, n * d);
	if (bad < n * d)
	{
		if (bad_index)
			*bad_index = bad;
		return ME_IFOREST_NONFINITE;
	}
	return ME_IFOREST_OK;
}

/* Allocate the builder's scratch: the permutation of all points and per-feature arrays. */
static int
builder_init(Builder *b, MeIForest *f, const double *x, size_t n, uint64_t seed)
{
	memset(b, 0, sizeof(*b));
	b->f = f;
	b->x = x;
	b->rng = seed;
	/* ceil(log2 psi), at least 1 as in scikit-learn (psi = 1 is a leaf anyway) */
	b->max_depth = 1;
	while (((size_t) 1 << b->max_depth) < f->psi)
		b->max_depth++;
	b->idx = me_alloc(n * sizeof(size_t));
	b->lo = me_alloc(f->d * sizeof(double));
	b->hi = me_alloc(f->d * sizeof(double));
	b->cand = me_alloc(f->d * sizeof(int32_t));
	if (!b->idx || !b->lo || !b->hi || !b->cand)
		return ME_IFOREST_NOMEM;
	for (size_t i = 0; i < n; i++)
		b->idx[i] = i;
	return ME_IFOREST_OK;
}

static void
builder_free(Builder *b)
{
	me_free(b->idx);
	me_free(b->lo);
	me_free(b->hi);
	me_free(b->cand);
}

/*
 * Each tree's subsample is the first psi entries of the permutation after
 * a partial Fisher-Yates shuffle: uniform without replacement, O(psi) per
 * tree, and the array stays a permutation for the next tree.
 */
static void
draw_sample(Builder *b, size_t n)
{
	for (size_t k = 0; k < b->f->psi && k + 1 < n; k++)
	{
		size_t		j = k + rand_below(&b->rng, n - k);
		size_t		tmp = b->idx[k];

		b->idx[k] = b->idx[j];
		b->idx[j] = tmp;
	}
}

/*
 * Lay each tree out breadth first into f->steps, siblings side by side;
 * a leaf loops on itself.  Returns ME_IFOREST_OK or ME_IFOREST_NOMEM.
 */
static int
compile(MeIForest *f)
{
	int32_t    *queue = me_alloc(sizeof(int32_t) * f->nnodes);
	int32_t    *level = me_alloc(sizeof(int32_t) * f->nnodes);
	size_t		out = 0;

	f->steps = me_alloc(sizeof(IfStep) * f->nnodes);
	f->leaf_h = me_alloc(sizeof(double) * f->nnodes);
	f->step_roots = me_alloc(sizeof(int32_t) * (size_t) f->n_trees);
	f->depth = me_alloc(sizeof(int) * (size_t) f->n_trees);
	if (!queue || !level || !f->steps || !f->leaf_h || !f->step_roots || !f->depth)
	{
		me_free(queue);
		me_free(level);
		return ME_IFOREST_NOMEM;
	}
	for (int t = 0; t < f->n_trees; t++)
	{
		size_t		head = out;

		/* queue[k] is the builder's node that becomes step k */
		f->step_roots[t] = (int32_t) out;
		f->depth[t] = 0;
		queue[out] = f->roots[t];
		level[out++] = 0;
		for (size_t k = head; k < out; k++)
		{
			const IfNode *nd = &f->nodes[queue[k]];
			IfStep	   *st = &f->steps[k];

			if (level[k] > f->depth[t])
				f->depth[t] = level[k];
			if (nd->left < 0)
			{
				st->value = INFINITY;
				st->feature = 0;
				st->left = (int32_t) k;
				f->leaf_h[k] = nd->value;
				continue;
			}
			st->value = nd->value;
			st->feature = nd->feature;
			st->left = (int32_t) out;
			f->leaf_h[k] = 0.0;
			queue[out] = nd->left;
			level[out++] = level[k] + 1;
			queue[out] = nd->right;
			level[out++] = level[k] + 1;
		}
	}
	me_free(queue);
	me_free(level);
	return ME_IFOREST_OK;
}

int
me_iforest_fit(const double *x, size_t n, size_t d, const MeIForestParams *p,
			   MeIForest **out, size_t *bad_index)
{
	MeIForest  *f;
	Builder		b;
	int			st;

	*out = NULL;
	if ((st = fit_check(x, n, d, p, bad_index)) != ME_IFOREST_OK)
		return st;
	f = me_alloc(sizeof(MeIForest));
	if (f == NULL)
		return ME_IFOREST_NOMEM;
	memset(f, 0, sizeof(*f));
	f->d = d;
	f->n_trees = p->n_trees;
	f->psi = (size_t) p->sample_size < n ? (size_t) p->sample_size : n;
	f->c_psi = me_iforest_c((double) f->psi);
	f->roots = me_alloc(sizeof(int32_t) * (size_t) p->n_trees);
	st = f->roots ? builder_init(&b, f, x, n, p->seed) : ME_IFOREST_NOMEM;
	for (int t = 0; st == ME_IFOREST_OK && t < p->n_trees; t++)
	{
		draw_sample(&b, n);
		f->roots[t] = grow(&b, b.idx, f->psi, 0);
		if (f->roots[t] < 0)
			st = ME_IFOREST_NOMEM;
	}
	if (f->roots)
		builder_free(&b);
	if (st == ME_IFOREST_OK)
		st = compile(f);
	if (st != ME_IFOREST_OK)
	{
		me_iforest_free(f);
		return st;
	}
	*out = f;
	return ME_IFOREST_OK;
}

/*
 * The mean path length of points x[0..n) (n <= SCORE_BLOCK) into h: the
 * points walk each tree together, for the tree's depth.
 */
static void
path_lengths(const MeIForest *f, const double *x, size_t n, double *h)
{
	size_t		d = f->d;
	int32_t		at[SCORE_BLOCK];

	for (size_t j = 0; j < n; j++)
		h[j] = 0.0;
	for (int t = 0; t < f->n_trees; t++)
	{
		for (size_t j = 0; j < n; j++)
			at[j] = f->step_roots[t];
		for (int lev = 0; lev < f->depth[t]; lev++)
			for (size_t j = 0; j < n; j++)
			{
				const IfStep *st = &f->steps[at[j]];

				at[j] = st->left + (x[j * d + st->feature] > st->value);
			}
		for (size_t j = 0; j < n; j++)
			h[j] += f->leaf_h[at[j]];
	}
	for (size_t j = 0; j < n; j++)
		h[j] /= f->n_trees;
}

double
me_iforest_path_length(const MeIForest *f, const double *x)
{
	double		h;

	path_lengths(f, x, 1, &h);
	return h;
}

int
me_iforest_score(const MeIForest *f, const double *x, size_t n, size_t d,
				 double *scores, size_t *bad_index)
{
	size_t		bad;

	if (d != f->d)
		return ME_IFOREST_BAD_FEATURES;
	if (n == 0)
		return ME_IFOREST_OK;
	if (n > SIZE_MAX / d / sizeof(double))
		return ME_IFOREST_BAD_FEATURES;
	bad = first_nonfinite(x, n * d);
	if (bad < n * d)
	{
		if (bad_index)
			*bad_index = bad;
		return ME_IFOREST_NONFINITE;
	}
	for (size_t i = 0; i < n; i += SCORE_BLOCK)
	{
		size_t		nb = n - i < SCORE_BLOCK ? n - i : SCORE_BLOCK;
		double		h[SCORE_BLOCK];

		path_lengths(f, x + i * d, nb, h);
		/* c(psi) = 0 only for psi = 1: no information, the neutral 0.5 */
		for (size_t j = 0; j < nb; j++)
			scores[i + j] = f->c_psi > 0.0 ? exp2(-h[j] / f->c_psi) : 0.5;
	}
	return ME_IFOREST_OK;
}

size_t
me_iforest_nodes(const MeIForest *f)
{
	return f->nnodes;
}

void
me_iforest_free(MeIForest *f)
{
	if (f == NULL)
		return;
	me_free(f->nodes);
	me_free(f->roots);
	me_free(f->steps);
	me_free(f->leaf_h);
	me_free(f->step_roots);
	me_free(f->depth);
	me_free(f);
}

const char *
me_iforest_strerror(int status)
{
	switch (status)
	{
		case ME_IFOREST_OK:
			return "ok";
		case ME_IFOREST_EMPTY:
			return "no points or no features";
		case ME_IFOREST_NONFINITE:
			return "a feature value is not a finite number";
		case ME_IFOREST_BAD_TREES:
			return "the number of trees is out of range";
		case ME_IFOREST_BAD_SAMPLE:
			return "the sample size is out of range";
		case ME_IFOREST_BAD_FEATURES:
			return "wrong number of features";
		case ME_IFOREST_NOMEM:
			return "out of memory";
	}
	return "unknown status";
}
