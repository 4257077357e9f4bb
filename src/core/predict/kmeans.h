/*
 * kmeans.h - k-means clustering (Lloyd) with greedy k-means++ seeding
 *
 * Pure C, reentrant, deterministic for a seed.  The semantics follow
 * scikit-learn's KMeans with init='k-means++', algorithm='lloyd':
 *   - seeding: the first centre uniformly at random, each next one the best
 *     of 2 + floor(ln k) candidates drawn with probability proportional to
 *     the squared distance to the nearest centre so far ("greedy" k-means++,
 *     the candidate that lowers the potential most wins);
 *   - Lloyd iterations until the labels stop changing or the squared
 *     centre shift is at most tol times the mean per-dimension variance of
 *     the data, at most max_iter times, then one last assignment so labels
 *     and centroids agree;
 *   - restarts: the run with the lowest inertia wins (the earliest on ties).
 * An empty cluster takes the point farthest from its centroid, so k
 * clusters stay k as long as there are k distinct points.
 */
#ifndef ME_KMEANS_H
#define ME_KMEANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of meter_etl.kmeans_array / load_profiles (build.sh fills them in). */
#define ME_DEFAULT_KMEANS_RESTARTS 10
#define ME_DEFAULT_KMEANS_SEED 0
#define ME_DEFAULT_KMEANS_MAX_ITER 300
#define ME_DEFAULT_KMEANS_TOL 1e-4

/* Upper bounds the glue enforces, so one call cannot run for hours. */
#define ME_KMEANS_MAX_K 1000
#define ME_KMEANS_MAX_RESTARTS 1000

typedef enum MeKmStatus
{
	ME_KM_OK = 0,
	ME_KM_BAD_K,				/* k < 1 or k > n */
	ME_KM_BAD_DIM,				/* d < 1, or n * d overflows */
	ME_KM_NOT_FINITE,			/* a NaN or infinite coordinate */
	ME_KM_BAD_PARAM,			/* restarts, max_iter or tol out of range */
	ME_KM_NO_MEMORY
} MeKmStatus;

typedef struct MeKmParams
{
	int			k;
	int			restarts;		/* n_init, >= 1 */
	int			max_iter;		/* >= 1 */
	double		tol;			/* >= 0, relative to the data's variance */
	uint64_t	seed;
	/* called once per Lloyd iteration (CHECK_FOR_INTERRUPTS in the server); may be NULL */
	void		(*check_interrupts) (void *ctx);
	void	   *ctx;
} MeKmParams;

typedef struct MeKmResult
{
	int		   *labels;			/* n: cluster of each point, 0 .. k-1 */
	double	   *centroids;		/* k * d, row-major */
	double	   *distance;		/* n: Euclidean distance to its centroid */
	double		inertia;		/* sum of squared distances to the centroids */
	int			iterations;		/* Lloyd iterations of the winning run */
	int			best_restart;	/* 0-based */
} MeKmResult;

/* Parameters with the defaults above for k clusters. */
extern void me_kmeans_defaults(MeKmParams *p, int k);

/*
 * Cluster the n points of x (n * d doubles, row-major).  On ME_KM_OK the
 * result's arrays are allocated with me_alloc; free them with
 * me_kmeans_result_free.  On failure nothing is left allocated.
 */
extern MeKmStatus me_kmeans(const double *x, size_t n, size_t d, const MeKmParams *p,
							MeKmResult *out);
extern void me_kmeans_result_free(MeKmResult *r);

/*
 * Renumber the clusters by size, largest first (ties: the cluster of the
 * lower first point first), so that labels do not depend on the seeding
 * order and segment 1 is the most common shape.  n and d as given to
 * me_kmeans, k from its parameters.  False when memory ran out.
 */
extern bool me_kmeans_order_by_size(MeKmResult *r, size_t n, size_t d, int k);
extern const char *me_kmeans_status_text(MeKmStatus st);

#endif							/* ME_KMEANS_H */
