/*
 * me_alloc.h - allocation hooks for meter_etl's pure C code
 *
 * The pure modules (parsers, rules, CSV reader, series algorithms, Parquet
 * encoder) never include postgres.h, so cmocka and libFuzzer can drive them
 * without a server.  They allocate through these hooks.  Stand-alone builds
 * get malloc/realloc/free; inside the server, _PG_init points the hooks at
 * palloc in CurrentMemoryContext, so the glue code decides the lifetime by
 * choosing the context and an ERROR (longjmp) cannot leak.
 *
 * Inside the server an allocation failure raises an ERROR and never returns
 * NULL; stand-alone, a NULL return must be handled by the caller.
 *
 * The hooks are per thread: a parser thread started by the backend (see
 * parser_thread.c) allocates with malloc while the backend uses palloc.
 */
#ifndef ME_ALLOC_H
#define ME_ALLOC_H

#include <stddef.h>

typedef void *(*me_alloc_fn) (size_t size);
typedef void *(*me_realloc_fn) (void *ptr, size_t size);
typedef void (*me_free_fn) (void *ptr);

extern __thread me_alloc_fn me_alloc_hook;
extern __thread me_realloc_fn me_realloc_hook;
extern __thread me_free_fn me_free_hook;

/* A set of hooks, to switch a thread to another allocator for a while. */
typedef struct MeAllocHooks
{
	me_alloc_fn alloc;
	me_realloc_fn realloc;
	me_free_fn free;
} MeAllocHooks;

/* The C library's allocator (what threads other than the backend use). */
extern MeAllocHooks me_alloc_libc(void);

/* Install hooks in this thread and return the ones they replace. */
static inline MeAllocHooks
me_alloc_swap(MeAllocHooks h)
{
	MeAllocHooks old = {me_alloc_hook, me_realloc_hook, me_free_hook};

	me_alloc_hook = h.alloc;
	me_realloc_hook = h.realloc;
	me_free_hook = h.free;
	return old;
}

static inline void *
me_alloc(size_t size)
{
	return me_alloc_hook(size ? size : 1);
}

static inline void *
me_realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return me_alloc_hook(size ? size : 1);
	return me_realloc_hook(ptr, size ? size : 1);
}

static inline void
me_free(void *ptr)
{
	if (ptr != NULL)
		me_free_hook(ptr);
}

#endif							/* ME_ALLOC_H */
