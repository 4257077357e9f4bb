/*
 * iforest.h - isolation forest (Liu, Ting & Zhou 2008), pure C
 *
 * An anomaly is a point that random axis-parallel cuts isolate quickly.
 * Each tree is grown on a subsample of psi points drawn without
 * replacement: at every node a feature is drawn at random among those not
 * constant in the node, and a threshold uniformly in [min, max) of that
 * feature; points <= threshold go left.  Growth stops at depth
 * ceil(log2 psi), at a single point, or when every point of the node is
 * identical.  A point's path length is the depth of the leaf it falls in
 * plus c(size of that leaf), c(n) being the average path length of an
 * unsuccessful search in a binary search tree of n points; its score is
 * 2^(-E[h] / c(psi)), in (0, 1]: near 1 an anomaly, about 0.5 or less a
 * normal point.  These are scikit-learn's IsolationForest semantics
 * (max_samples = min(psi, n), max_features = 1.0, no bootstrap), so its
 * ROC AUC on the same features is comparable; when c(psi) = 0 (psi = 1)
 * every score is 0.5, as there.
 *
 * Deterministic for a seed: one splitmix64 stream, no global state.
 * Fitting and scoring are separate, so points outside the training set
 * can be scored by a fitted forest.
 */
#ifndef ME_IFOREST_H
#define ME_IFOREST_H

#include <stddef.h>
#include <stdint.h>

/* the defaults of the SQL functions too (build.sh fills them in) */
#define ME_DEFAULT_IFOREST_TREES 100
#define ME_DEFAULT_IFOREST_SAMPLE_SIZE 256
#define ME_DEFAULT_IFOREST_SEED 0

/* upper bounds that keep the forest's memory bounded */
#define ME_IFOREST_MAX_TREES 10000
#define ME_IFOREST_MAX_SAMPLE_SIZE 1048576
#define ME_IFOREST_MAX_FEATURES 1024

typedef enum MeIForestStatus
{
	ME_IFOREST_OK = 0,
	ME_IFOREST_EMPTY,			/* no point, or no feature */
	ME_IFOREST_NONFINITE,		/* NaN or infinity in the input */
	ME_IFOREST_BAD_TREES,		/* n_trees outside 1..ME_IFOREST_MAX_TREES */
	ME_IFOREST_BAD_SAMPLE,		/* sample_size outside 1..ME_IFOREST_MAX_SAMPLE_SIZE */
	ME_IFOREST_BAD_FEATURES,	/* too many features, or not the forest's number */
	ME_IFOREST_NOMEM
} MeIForestStatus;

typedef struct MeIForestParams
{
	int			n_trees;
	int			sample_size;	/* psi; min(psi, n) is used */
	uint64_t	seed;
} MeIForestParams;

typedef struct MeIForest MeIForest;

extern void me_iforest_params_default(MeIForestParams *p);

/*
 * Fit a forest on n points of d features, row-major (x[i * d + j]).  On
 * ME_IFOREST_NONFINITE *bad_index (if not NULL) is the offending element.
 */
extern int	me_iforest_fit(const double *x, size_t n, size_t d, const MeIForestParams *p,
						   MeIForest **out, size_t *bad_index);

/* Scores of n points of the forest's d features into scores[n]. */
extern int	me_iforest_score(const MeIForest *f, const double *x, size_t n, size_t d,
							 double *scores, size_t *bad_index);

/* The mean path length E[h(x)] of one point (for tests and explanations). */
extern double me_iforest_path_length(const MeIForest *f, const double *x);

/* c(n): average path length of an unsuccessful BST search among n points. */
extern double me_iforest_c(double n);

/* Number of nodes of all trees (tests compare forests by it). */
extern size_t me_iforest_nodes(const MeIForest *f);

extern void me_iforest_free(MeIForest *f);
extern const char *me_iforest_strerror(int status);

#endif							/* ME_IFOREST_H */
