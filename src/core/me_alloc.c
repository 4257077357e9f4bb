/*
 * me_alloc.c - default (stand-alone) allocation hooks; see me_alloc.h
 */
#include <stdlib.h>

#include "me_alloc.h"

__thread me_alloc_fn me_alloc_hook = malloc;
__thread me_realloc_fn me_realloc_hook = realloc;
__thread me_free_fn me_free_hook = free;

/* The C library's allocator as hooks. */
MeAllocHooks
me_alloc_libc(void)
{
	MeAllocHooks h = {malloc, realloc, free};

	return h;
}
