/*
 * pq_async.c - Parquet writers fed from a second thread (see pq_async.h)
 *
 * One mutex and one condition variable guard a bounded queue of row
 * blocks.  The first writer error stops the thread's work; the caller
 * learns it from the next pq_async_write or from pq_async_drain.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pq_async.h"
#include "pq_common.h"

#define BLOCK_ROWS	2048
#define QUEUE_DEPTH 8

typedef struct Item
{
	PqWriter   *w;
	PqValue		row[PQ_ASYNC_MAX_COLS];
} Item;

typedef struct Block
{
	int			n;
	Item		items[BLOCK_ROWS];
} Block;

struct PqAsync
{
	pthread_t	thread;
	bool		started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int			ncols;
	Block	   *queue[QUEUE_DEPTH];
	int			head;
	int			count;
	int			busy;			/* blocks taken but not finished */
	bool		stop;
	int			error;			/* first writer error, PQ_OK if none */
	PqWriter   *failed;
	Block	   *cur;			/* the caller's block being filled */
};

/* The thread: write every queued row until told to stop. */
static void *
async_main(void *arg)
{
	PqAsync    *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;)
	{
		Block	   *b;
		int			rc = PQ_OK;
		PqWriter   *bad = NULL;

		while (a->count == 0 && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->count == 0)
			break;
		b = a->queue[a->head];
		a->head = (a->head + 1) % QUEUE_DEPTH;
		a->count--;
		a->busy++;
		pthread_cond_broadcast(&a->cv);
		if (a->error == PQ_OK && !a->stop)
		{
			pthread_mutex_unlock(&a->mu);
			for (int i = 0; i < b->n && rc == PQ_OK; i++)
				if ((rc = pq_write_row(b->items[i].w, b->items[i].row)) != PQ_OK)
					bad = b->items[i].w;
			pthread_mutex_lock(&a->mu);
			if (rc != PQ_OK && a->error == PQ_OK)
			{
				a->error = rc;
				a->failed = bad;
			}
		}
		free(b);
		a->busy--;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Start the thread; NULL if it cannot be started (write synchronously then). */
PqAsync *
pq_async_start(int ncols)
{
	PqAsync    *a;
	sigset_t	all,
				old;
	int			rc;

	if (ncols < 1 || ncols > PQ_ASYNC_MAX_COLS || (a = calloc(1, sizeof(PqAsync))) == NULL)
		return NULL;
	a->ncols = ncols;
	a->error = PQ_OK;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->thread, NULL, async_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		free(a);
		return NULL;
	}
	a->started = true;
	return a;
}

/* Queue the current block, waiting while the queue is full. */
static int
push_block(PqAsync *a)
{
	int			err;

	pthread_mutex_lock(&a->mu);
	if (a->cur == NULL || a->cur->n == 0)
	{
		err = a->error;
		pthread_mutex_unlock(&a->mu);
		return err;
	}
	while (a->count == QUEUE_DEPTH && a->error == PQ_OK)
		pthread_cond_wait(&a->cv, &a->mu);
	err = a->error;
	if (err == PQ_OK)
	{
		a->queue[(a->head + a->count) % QUEUE_DEPTH] = a->cur;
		a->count++;
		pthread_cond_broadcast(&a->cv);
		a->cur = NULL;
	}
	pthread_mutex_unlock(&a->mu);
	if (a->cur != NULL)
		a->cur->n = 0;			/* an error: the rows go nowhere */
	return err;
}

/*
 * Queue one row for a writer.  Returns PQ_OK, or the error a writer has
 * already hit (then stop writing and call pq_async_drain for details).
 */
int
pq_async_write(PqAsync *a, PqWriter *w, const PqValue *row)
{
	Item	   *it;

	if (a->cur == NULL)
	{
		if ((a->cur = malloc(sizeof(Block))) == NULL)
			return PQ_ERR_NOMEM;
		a->cur->n = 0;
	}
	it = &a->cur->items[a->cur->n++];
	it->w = w;
	memcpy(it->row, row, sizeof(PqValue) * a->ncols);
	if (a->cur->n == BLOCK_ROWS)
		return push_block(a);
	return PQ_OK;
}

/*
 * Wait until every queued row was written.  Returns PQ_OK or the first
 * error, with the writer that failed in *failed.
 */
int
pq_async_drain(PqAsync *a, PqWriter **failed)
{
	int			err = push_block(a);

	pthread_mutex_lock(&a->mu);
	while ((a->count > 0 || a->busy > 0) && a->error == PQ_OK)
		pthread_cond_wait(&a->cv, &a->mu);
	while (a->busy > 0)
		pthread_cond_wait(&a->cv, &a->mu);
	if (err == PQ_OK)
		err = a->error;
	*failed = a->failed;
	pthread_mutex_unlock(&a->mu);
	return err;
}

/* Stop the thread at any point (queued rows are dropped) and free everything. */
void
pq_async_stop(PqAsync *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	if (a->error == PQ_OK)
		a->error = PQ_ERR_STATE;	/* queued rows are not written */
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->started)
		pthread_join(a->thread, NULL);
	for (int i = 0; i < a->count; i++)
		free(a->queue[(a->head + i) % QUEUE_DEPTH]);
	free(a->cur);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
