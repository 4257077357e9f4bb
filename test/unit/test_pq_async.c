/*
 * test_pq_async.c - cmocka tests of src/parquet/pq_async.c
 *
 * Rows written through the second thread produce byte-identical files to
 * rows written directly; a writer error reaches the caller; stopping at
 * any point leaks nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/parquet/pq_async.h"
#include "core/parquet/pq_common.h"
#include "core/parquet/pq_writer.h"

typedef struct Mem
{
	char	   *data;
	size_t		len;
} Mem;

static int
mem_write(void *ctx, const void *buf, size_t len)
{
	Mem		   *m = ctx;

	m->data = realloc(m->data, m->len + len);
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

static const PqColumnSpec cols[4] = {
	{"meter_id", PQ_STRING, false, true},
	{"ts", PQ_TIMESTAMP_US, false, true},
	{"kw", PQ_DOUBLE, true, false},
	{"estimated", PQ_BOOLEAN, false, false},
};
static const char *const meters[5] = {"M1", "M2", "Zürich-1", "é-meter", "M5"};

/* Fill row i of a deterministic fleet (string pointers stay valid). */
static void
make_row(int i, PqValue *row)
{
	const char *m = meters[(i / 96) % 5];

	memset(row, 0, sizeof(PqValue) * 4);
	row[0].v.str.ptr = m;
	row[0].v.str.len = strlen(m);
	row[1].v.ts = (int64_t) i * 900000000;
	row[2].is_null = i % 37 == 0;
	row[2].v.f64 = (i % 101) * 0.125;
	row[3].v.b = i % 7 == 0;
}

/* Three writers, rows spread over them; sync or through the thread. */
static void
write_files(bool async, int nrows, Mem out[3])
{
	PqOptions	o;
	PqWriter   *w[3];
	PqAsync    *a = async ? pq_async_start(4) : NULL;
	PqValue		row[4];

	pq_options_init(&o);
	o.row_group_rows = 1000;
	o.codec = PQ_CODEC_ZSTD;
	for (int k = 0; k < 3; k++)
	{
		memset(&out[k], 0, sizeof(Mem));
		w[k] = pq_writer_create(cols, 4, &o, (PqSink) {mem_write, &out[k]}, NULL, 0);
		assert_non_null(w[k]);
	}
	if (async)
		assert_non_null(a);
	for (int i = 0; i < nrows; i++)
	{
		make_row(i, row);
		if (async)
			assert_int_equal(pq_async_write(a, w[(i / 96) % 3], row), PQ_OK);
		else
			assert_int_equal(pq_write_row(w[(i / 96) % 3], row), PQ_OK);
	}
	if (async)
	{
		PqWriter   *failed = NULL;

		assert_int_equal(pq_async_drain(a, &failed), PQ_OK);
		pq_async_stop(a);
	}
	for (int k = 0; k < 3; k++)
	{
		assert_int_equal(pq_writer_close(w[k], NULL, 0, NULL, NULL), PQ_OK);
		pq_writer_free(w[k]);
	}
}

static void
test_same_bytes(void **state)
{
	static const int sizes[] = {0, 1, 2047, 2048, 2049, 100000};

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
	{
		Mem			a[3],
					b[3];

		write_files(false, sizes[s], a);
		write_files(true, sizes[s], b);
		for (int k = 0; k < 3; k++)
		{
			assert_int_equal(a[k].len, b[k].len);
			assert_memory_equal(a[k].data, b[k].data, a[k].len);
			free(a[k].data);
			free(b[k].data);
		}
	}
}

static void
test_error_reaches_caller(void **state)
{
	PqOptions	o;
	Mem			m = {0};
	PqWriter   *w;
	PqAsync    *a = pq_async_start(4);
	PqWriter   *failed = NULL;
	PqValue		row[4];
	int			rc = PQ_OK;

	pq_options_init(&o);
	w = pq_writer_create(cols, 4, &o, (PqSink) {mem_write, &m}, NULL, 0);
	for (int i = 0; i < 10000 && rc == PQ_OK; i++)
	{
		make_row(i, row);
		if (i == 5000)
			row[0].is_null = true;	/* NULL in a REQUIRED column */
		rc = pq_async_write(a, w, row);
	}
	rc = pq_async_drain(a, &failed);
	assert_int_equal(rc, PQ_ERR_VALUE);
	assert_ptr_equal(failed, w);
	assert_int_equal(pq_writer_rows(w), 5000);
	pq_async_stop(a);
	pq_writer_free(w);
	free(m.data);
}

static void
test_stop_anytime(void **state)
{
	for (int n = 0; n < 20000; n += 3001)
	{
		PqOptions	o;
		Mem			m = {0};
		PqWriter   *w;
		PqAsync    *a = pq_async_start(4);
		PqValue		row[4];

		pq_options_init(&o);
		w = pq_writer_create(cols, 4, &o, (PqSink) {mem_write, &m}, NULL, 0);
		for (int i = 0; i < n; i++)
		{
			make_row(i, row);
			pq_async_write(a, w, row);
		}
		pq_async_stop(a);		/* without draining */
		pq_writer_free(w);
		free(m.data);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes),
		cmocka_unit_test(test_error_reaches_caller),
		cmocka_unit_test(test_stop_anytime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
