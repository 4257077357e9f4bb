/*
 * me_alloc.c - default (stand-alone) allocation hooks; see me_alloc.h
 */
#include <stdlib.h>

#include "me_alloc.h"

me_alloc_fn me_alloc_hook = malloc;
me_realloc_fn me_realloc_hook = realloc;
me_free_fn me_free_hook = free;
