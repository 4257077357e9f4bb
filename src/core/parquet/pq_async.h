/*
 * pq_async.h - hand rows to Parquet writers running in a second thread
 *
 * Encoding and ZSTD compression take about as long as the executor needs
 * to produce the rows; on two cores they overlap.  The caller queues rows
 * (writer, values) in blocks; a thread applies pq_write_row to them in
 * order.  String values must stay valid until pq_async_drain returns (the
 * archive points them at its meter and channel tables).
 *
 * The writers must have been created with malloc-backed allocation hooks
 * (they are reallocated in the thread, where the hooks are malloc's), and
 * are only touched by the thread between pq_async_write and
 * pq_async_drain.  Pure C with POSIX threads; the thread starts with all
 * signals blocked and calls nothing but the writer.
 */
#ifndef PQ_ASYNC_H
#define PQ_ASYNC_H

#include "pq_writer.h"

#define PQ_ASYNC_MAX_COLS 16

typedef struct PqAsync PqAsync;

extern PqAsync *pq_async_start(int ncols);
extern int	pq_async_write(PqAsync *a, PqWriter *w, const PqValue *row);
extern int	pq_async_drain(PqAsync *a, PqWriter **failed);
extern void pq_async_stop(PqAsync *a);

#endif							/* PQ_ASYNC_H */
