/*
 * me_str.h - growable text buffer for the report writer
 *
 * Appends never fail one by one: an allocation failure sets the sticky `oom`
 * flag and later appends are dropped, so the writer checks once at the end
 * (the same contract as the Parquet writer's PqBuf).  The text is always
 * NUL-terminated once anything was appended.
 */
#ifndef ME_STR_H
#define ME_STR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct MeStr
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;			/* an allocation failed; contents incomplete */
} MeStr;

/* Start empty; nothing is allocated until the first append. */
void		me_str_init(MeStr *s);

/* Release the storage and return to the empty state. */
void		me_str_free(MeStr *s);

/* Append bytes / a C string. */
void		me_str_putn(MeStr *s, const char *p, size_t n);
void		me_str_puts(MeStr *s, const char *p);

/* Append printf-style formatted text. */
void		me_str_printf(MeStr *s, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Append text escaped for HTML and XML text and attribute values (& < > " '). */
void		me_str_escape(MeStr *s, const char *p);

#endif							/* ME_STR_H */
