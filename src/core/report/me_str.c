/*
 * me_str.c - growable text buffer for the report writer (see me_str.h)
 */
#include "core/report/me_str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/me_alloc.h"

void
me_str_init(MeStr *s)
{
	s->data = NULL;
	s->len = 0;
	s->cap = 0;
	s->oom = false;
}

void
me_str_free(MeStr *s)
{
	me_free(s->data);
	me_str_init(s);
}

/* Make room for `extra` more bytes and the terminating NUL. */
static bool
reserve(MeStr *s, size_t extra)
{
	size_t		want;
	size_t		cap;
	char	   *p;

	if (s->oom)
		return false;
	if (extra >= (size_t) -1 / 2 - s->len)
	{
		s->oom = true;
		return false;
	}
	want = s->len + extra + 1;
	if (want <= s->cap)
		return true;
	cap = s->cap ? s->cap : 256;
	while (cap < want)
		cap *= 2;
	p = me_realloc(s->data, cap);
	if (p == NULL)
	{
		s->oom = true;
		return false;
	}
	s->data = p;
	s->cap = cap;
	return true;
}

void
me_str_putn(MeStr *s, const char *p, size_t n)
{
	if (!reserve(s, n))
		return;
	memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
}

void
me_str_puts(MeStr *s, const char *p)
{
	me_str_putn(s, p, strlen(p));
}

void
me_str_printf(MeStr *s, const char *fmt,...)
{
	va_list		ap;
	int			n;

	/* first try in the space left; on overflow grow to the exact size */
	for (int attempt = 0; attempt < 2; attempt++)
	{
		size_t		room = s->cap > s->len ? s->cap - s->len : 0;

		va_start(ap, fmt);
		n = vsnprintf(room ? s->data + s->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			s->oom = true;
			return;
		}
		if ((size_t) n < room)
		{
			s->len += n;
			return;
		}
		if (!reserve(s, (size_t) n))
			return;
	}
}

void
me_str_escape(MeStr *s, const char *p)
{
	const char *run = p;

	for (; *p; p++)
	{
		const char *rep;

		switch (*p)
		{
			case '&': rep = "&amp;"; break;
			case '<': rep = "&lt;"; break;
			case '>': rep = "&gt;"; break;
			case '"': rep = "&quot;"; break;
			case '\'': rep = "&#39;"; break;
			default: continue;
		}
		me_str_putn(s, run, p - run);
		me_str_puts(s, rep);
		run = p + 1;
	}
	me_str_putn(s, run, p - run);
}
