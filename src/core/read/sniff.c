/*
 * sniff.c - the header line of a file, split by libcsv, for format
 * detection (pure C)
 */
#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/me_alloc.h"
#include "core/me_time.h"
#include "reader_int.h"

/* ------------------------------------------------------------------ sniffing */

typedef struct SniffCtx
{
	char	  **names;
	int			n;
	int			cap;
	bool		done;
} SniffCtx;

static void
sniff_field(void *data, size_t len, void *ctx)
{
	SniffCtx   *sc = ctx;

	if (sc->done)
		return;
	if (sc->n == sc->cap)
	{
		sc->cap = sc->cap ? sc->cap * 2 : 16;
		sc->names = me_realloc(sc->names, sizeof(char *) * (size_t) sc->cap);
	}
	sc->names[sc->n] = me_alloc(len + 1);
	me_normalize_name(sc->names[sc->n], data ? data : "", len);
	sc->n++;
}

static void
sniff_record(int c, void *ctx)
{
	((SniffCtx *) ctx)->done = true;
}

/*
 * Split the first non-blank line of buf with the given delimiter into
 * normalised names, for auto-detection.  Returns the number of names.
 */
int
me_sniff_header(const char *buf, size_t len, char delimiter, char quote,
				char ***names_out)
{
	struct csv_parser p;
	SniffCtx	sc;
	const char *s = buf;
	const char *end = buf + len;
	const char *eol;

	memset(&sc, 0, sizeof(sc));
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (s < end)
	{
		eol = me_find_eol(s, end);
		if (eol == NULL)
			eol = end;
		if (!me_rd_is_blank_line(s, (size_t) (eol - s)))
			break;
		s = eol + 1;
	}
	if (s >= end)
	{
		*names_out = NULL;
		return 0;
	}
	eol = me_find_eol(s, end);
	if (eol == NULL)
		eol = end;
	csv_init(&p, CSV_APPEND_NULL);
	csv_set_realloc_func(&p, me_rd_csv_realloc_hook);
	csv_set_free_func(&p, me_rd_csv_free_hook);
	csv_set_delim(&p, (unsigned char) delimiter);
	csv_set_quote(&p, (unsigned char) (quote ? quote : '"'));
	csv_parse(&p, s, (size_t) (eol - s), sniff_field, sniff_record, &sc);
	csv_fini(&p, sniff_field, sniff_record, &sc);
	csv_free(&p);
	*names_out = sc.names;
	return sc.n;
}

/* Free names from me_sniff_header. */
void
me_free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		me_free(names[i]);
	me_free(names);
}
