/*
 * test_parquet.c - cmocka unit tests of the pure C Parquet writer
 *
 * Three layers:
 *  - encoders against hand-computed bytes: Thrift compact protocol (zigzag
 *    varints, field-id deltas, nested structs, long lists, the checked
 *    SchemaElement and dictionary PageHeader bytes of PARQUET.md), the
 *    RLE/bit-packing hybrid (1, 8, 9, 1000 values, bit widths 1..32) and
 *    the Snappy block compressor (round trip through a decoder below);
 *  - whole files written to memory and taken apart by a small independent
 *    reader in this file (Thrift decoder, page walker, level/index decoder):
 *    magic, footer length, offsets inside the file, sizes from the emitted
 *    bytes, counts, dictionary placement, statistics;
 *  - edge cases and errors: 0/1/8/9/1000 rows, all-NULL columns, 1-entry
 *    and overflowing dictionaries, many row groups and pages, rejected
 *    values, sink and allocation failures.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zstd.h>

#include "core/me_alloc.h"
#include "core/parquet/pq_format.h"
#include "core/parquet/pq_writer.h"
#include "core/parquet/rle.h"
#include "core/parquet/snappy.h"
#include "core/parquet/thrift_compact.h"

/* ================================================================ helpers */

/* Assert that a buffer holds exactly the given bytes. */
static void
assert_bytes(const PqBuf *b, const uint8_t *want, size_t n)
{
	if (b->len != n || memcmp(b->data, want, n) != 0)
	{
		fprintf(stderr, "got %zu bytes:", b->len);
		for (size_t i = 0; i < b->len; i++)
			fprintf(stderr, " %02x", b->data[i]);
		fprintf(stderr, "\nwant %zu bytes:", n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", want[i]);
		fprintf(stderr, "\n");
		fail();
	}
}

#define ASSERT_BYTES(buf, ...) do { \
	const uint8_t want_[] = {__VA_ARGS__}; \
	assert_bytes((buf), want_, sizeof(want_)); \
} while (0)

/* Growable in-memory sink; can be told to fail after some bytes. */
typedef struct MemSink
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	size_t		fail_at;		/* fail a write that would pass this size; 0 = never */
} MemSink;

/* PqSink callback appending to a MemSink. */
static int
mem_write(void *ctx, const void *buf, size_t len)
{
	MemSink    *m = ctx;

	if (m->fail_at && m->len + len > m->fail_at)
		return -1;
	if (m->len + len > m->cap)
	{
		size_t		cap = m->cap ? m->cap : 4096;

		while (cap < m->len + len)
			cap *= 2;
		m->data = realloc(m->data, cap);
		assert_non_null(m->data);
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

static PqSink
mem_sink(MemSink *m)
{
	PqSink		s = {mem_write, m};

	memset(m, 0, sizeof(*m));
	return s;
}

/* ======================================================= test Thrift reader */

/* Decoded compact-protocol value: scalar, binary, list or struct. */
typedef struct TNode
{
	uint8_t		type;
	int16_t		id;				/* field id (struct members) */
	int64_t		i;				/* integers and booleans */
	double		d;
	const uint8_t *bin;
	uint32_t	len;
	struct TNode *kids;			/* struct fields or list elements */
	uint32_t	nkids;
} TNode;

typedef struct TReader
{
	const uint8_t *p;
	const uint8_t *end;
	bool		err;
} TReader;

static void tr_value(TReader *r, uint8_t type, TNode *out);

/* Next raw byte. */
static uint8_t
tr_byte(TReader *r)
{
	if (r->p >= r->end)
	{
		r->err = true;
		return 0;
	}
	return *r->p++;
}

/* ULEB128 varint. */
static uint64_t
tr_uvarint(TReader *r)
{
	uint64_t	v = 0;

	for (int shift = 0; shift < 64; shift += 7)
	{
		uint8_t		b = tr_byte(r);

		v |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

/* Zigzag varint. */
static int64_t
tr_zigzag(TReader *r)
{
	uint64_t	u = tr_uvarint(r);

	return (int64_t) (u >> 1) ^ -(int64_t) (u & 1);
}

/* Append a child node. */
static TNode *
tr_push(TNode *n)
{
	n->kids = realloc(n->kids, sizeof(TNode) * (n->nkids + 1));
	assert_non_null(n->kids);
	memset(&n->kids[n->nkids], 0, sizeof(TNode));
	return &n->kids[n->nkids++];
}

/* Struct: field headers (short or long form) until the stop byte. */
static void
tr_struct(TReader *r, TNode *out)
{
	int16_t		last = 0;

	out->type = TC_STRUCT;
	while (!r->err)
	{
		uint8_t		b = tr_byte(r);
		uint8_t		type = b & 0x0f;
		int			delta = b >> 4;
		TNode	   *f;

		if (b == 0)
			return;
		f = tr_push(out);
		f->id = delta ? (int16_t) (last + delta) : (int16_t) tr_zigzag(r);
		last = f->id;
		if (type == TC_BOOL_TRUE || type == TC_BOOL_FALSE)
		{
			f->type = type;
			f->i = type == TC_BOOL_TRUE;
		}
		else
			tr_value(r, type, f);
	}
}

/* List header then elements without headers. */
static void
tr_list(TReader *r, TNode *out)
{
	uint8_t		b = tr_byte(r);
	uint32_t	n = b >> 4;
	uint8_t		et = b & 0x0f;

	if (n == 15)
		n = (uint32_t) tr_uvarint(r);
	out->type = TC_LIST;
	for (uint32_t i = 0; i < n && !r->err; i++)
	{
		TNode	   *e = tr_push(out);

		if (et == TC_BOOL_TRUE || et == TC_BOOL_FALSE)
		{
			e->type = et;
			e->i = tr_byte(r) == 1;
		}
		else
			tr_value(r, et, e);
	}
}

/* One value of a known type. */
static void
tr_value(TReader *r, uint8_t type, TNode *out)
{
	out->type = type;
	switch (type)
	{
		case TC_I8:
			out->i = (int8_t) tr_byte(r);
			break;
		case TC_I16:
		case TC_I32:
		case TC_I64:
			out->i = tr_zigzag(r);
			break;
		case TC_DOUBLE:
			if (r->end - r->p < 8)
				r->err = true;
			else
				memcpy(&out->d, r->p, 8), r->p += 8;
			break;
		case TC_BINARY:
			out->len = (uint32_t) tr_uvarint(r);
			if ((size_t) (r->end - r->p) < out->len)
				r->err = true;
			else
				out->bin = r->p, r->p += out->len;
			break;
		case TC_LIST:
		case TC_SET:
			tr_list(r, out);
			break;
		case TC_STRUCT:
			tr_struct(r, out);
			break;
		default:
			r->err = true;
	}
}

/* Free a decoded tree. */
static void
tnode_free(TNode *n)
{
	for (uint32_t i = 0; i < n->nkids; i++)
		tnode_free(&n->kids[i]);
	free(n->kids);
	n->kids = NULL;
	n->nkids = 0;
}

/* Decode one struct from p; returns bytes consumed. */
static size_t
tdecode_struct(const uint8_t *p, size_t len, TNode *out)
{
	TReader		r = {p, p + len, false};

	memset(out, 0, sizeof(*out));
	tr_struct(&r, out);
	assert_false(r.err);
	return (size_t) (r.p - p);
}

/* Field of a struct by id, or NULL. */
static const TNode *
tfield(const TNode *s, int id)
{
	for (uint32_t i = 0; s && i < s->nkids; i++)
		if (s->kids[i].id == id)
			return &s->kids[i];
	return NULL;
}

/* Integer field that must be present. */
static int64_t
tint(const TNode *s, int id)
{
	const TNode *f = tfield(s, id);

	assert_non_null(f);
	return f->i;
}

/* ========================================================= test decoders */

/* Decode n values of the RLE/bit-packed hybrid; returns bytes consumed. */
static size_t
rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n)
{
	TReader		r = {p, p + len, false};
	size_t		got = 0;

	while (got < n && !r.err)
	{
		uint64_t	h = tr_uvarint(&r);

		if (h & 1)
		{
			size_t		count = (size_t) (h >> 1) * 8;
			size_t		nbytes = (size_t) (h >> 1) * bw;
			uint64_t	bitpos = 0;

			assert_true(h >> 1 > 0);
			assert_true((size_t) (r.end - r.p) >= nbytes);
			for (size_t k = 0; k < count; k++)
			{
				uint64_t	v = 0;

				for (int b = 0; b < bw; b++, bitpos++)
					v |= (uint64_t) ((r.p[bitpos / 8] >> (bitpos % 8)) & 1) << b;
				if (got < n)
					out[got++] = (uint32_t) v;
			}
			r.p += nbytes;
		}
		else
		{
			size_t		count = (size_t) (h >> 1);
			uint32_t	v = 0;

			assert_true(count > 0);
			for (int b = 0; b < (bw + 7) / 8; b++)
				v |= (uint32_t) tr_byte(&r) << (8 * b);
			for (size_t k = 0; k < count; k++)
			{
				assert_true(got < n);
				out[got++] = v;
			}
		}
	}
	assert_false(r.err);
	assert_int_equal(got, n);
	return (size_t) (r.p - p);
}

/* Reference Snappy decoder (raw block format). */
static size_t
snappy_decode(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	TReader		r = {p, p + len, false};
	size_t		n = (size_t) tr_uvarint(&r);
	size_t		o = 0;

	assert_true(n <= cap);
	while (r.p < r.end)
	{
		uint8_t		tag = tr_byte(&r);
		size_t		l,
					off = 0;

		switch (tag & 3)
		{
			case 0:
				l = tag >> 2;
				if (l >= 60)
				{
					int			nb = (int) l - 59;

					l = 0;
					for (int i = 0; i < nb; i++)
						l |= (size_t) tr_byte(&r) << (8 * i);
				}
				l++;
				assert_true(o + l <= n && (size_t) (r.end - r.p) >= l);
				memcpy(out + o, r.p, l);
				r.p += l;
				o += l;
				continue;
			case 1:
				l = 4 + ((tag >> 2) & 7);
				off = ((size_t) (tag >> 5) << 8) | tr_byte(&r);
				break;
			case 2:
				l = 1 + (tag >> 2);
				off = tr_byte(&r);
				off |= (size_t) tr_byte(&r) << 8;
				break;
			default:
				l = 1 + (tag >> 2);
				for (int i = 0; i < 4; i++)
					off |= (size_t) tr_byte(&r) << (8 * i);
				break;
		}
		assert_true(off > 0 && off <= o && o + l <= n);
		for (size_t i = 0; i < l; i++, o++)
			out[o] = out[o - off];
	}
	assert_false(r.err);
	assert_int_equal(o, n);
	return n;
}

/* ====================================================== Thrift encoder */

/* Zigzag varints: -1 -> 01, 300 -> d8 04, extremes take 10 bytes. */
static void
test_thrift_zigzag(void **state)
{
	PqBuf		b;
	TcWriter	t;

	pq_buf_init(&b);
	tc_init(&t, &b);
	tc_write_i32(&t, -1);
	ASSERT_BYTES(&b, 0x01);
	pq_buf_reset(&b);
	tc_write_i32(&t, 300);
	ASSERT_BYTES(&b, 0xd8, 0x04);
	pq_buf_reset(&b);
	tc_write_i32(&t, 0);
	tc_write_i32(&t, 1);
	tc_write_i32(&t, -64);
	tc_write_i32(&t, 64);
	ASSERT_BYTES(&b, 0x00, 0x02, 0x7f, 0x80, 0x01);
	pq_buf_reset(&b);
	tc_write_i64(&t, INT64_MIN);
	ASSERT_BYTES(&b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
	pq_buf_reset(&b);
	tc_write_i64(&t, INT64_MAX);
	ASSERT_BYTES(&b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
	assert_int_equal(tc_zigzag(-2), 3);
	pq_buf_free(&b);
}

/* The checked SchemaElement of `required int64 ts` TIMESTAMP(UTC, MICROS). */
static void
test_thrift_schema_element(void **state)
{
	PqBuf		b;
	PqColumnSpec ts = {"ts", PQ_TIMESTAMP_US, false, false};
	PqColumnSpec s = {"m", PQ_STRING, true, true};
	PqColumnSpec i16 = {"f", PQ_INT16, true, false};

	pq_buf_init(&b);
	pq_fmt_schema_leaf(&b, &ts);
	ASSERT_BYTES(&b, 0x15, 0x04, 0x25, 0x00, 0x18, 0x02, 0x74, 0x73, 0x25, 0x14,
				 0x4c, 0x8c, 0x11, 0x1c, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00);
	/* optional string: BYTE_ARRAY, OPTIONAL, UTF8, LogicalType{STRING{}} */
	pq_buf_reset(&b);
	pq_fmt_schema_leaf(&b, &s);
	ASSERT_BYTES(&b, 0x15, 0x0c, 0x25, 0x02, 0x18, 0x01, 'm', 0x25, 0x00,
				 0x4c, 0x1c, 0x00, 0x00, 0x00);
	/* INT32 + INT_16 + INTEGER{bitWidth i8 16, isSigned true} */
	pq_buf_reset(&b);
	pq_fmt_schema_leaf(&b, &i16);
	ASSERT_BYTES(&b, 0x15, 0x02, 0x25, 0x02, 0x18, 0x01, 'f', 0x25, 0x20,
				 0x4c, 0xac, 0x13, 0x10, 0x11, 0x00, 0x00, 0x00);
	pq_buf_free(&b);
}

/* The checked dictionary PageHeader and a data PageHeader. */
static void
test_thrift_page_headers(void **state)
{
	PqBuf		b;
	PqPageHeader dict = {PQ_PAGE_DICTIONARY, 34, 34, 3, PQ_ENC_PLAIN};
	PqPageHeader data = {PQ_PAGE_DATA, 100, 60, 9, PQ_ENC_RLE_DICTIONARY};

	pq_buf_init(&b);
	assert_int_equal(pq_fmt_page_header(&b, &dict), 0);
	ASSERT_BYTES(&b, 0x15, 0x04, 0x15, 0x44, 0x15, 0x44, 0x4c, 0x15, 0x06,
				 0x15, 0x00, 0x00, 0x00);
	pq_buf_reset(&b);
	assert_int_equal(pq_fmt_page_header(&b, &data), 0);
	ASSERT_BYTES(&b, 0x15, 0x00, 0x15, 0xc8, 0x01, 0x15, 0x78, 0x2c, 0x15, 0x12,
				 0x15, 0x10, 0x15, 0x06, 0x15, 0x06, 0x00, 0x00);
	pq_buf_free(&b);
}

/* Field-id deltas > 15, backwards ids and the per-struct id stack. */
static void
test_thrift_field_ids(void **state)
{
	PqBuf		b;
	TcWriter	t;
	TNode		n;

	pq_buf_init(&b);
	tc_init(&t, &b);
	tc_struct_begin(&t);
	tc_field_i32(&t, 1, 7);		/* delta 1: short */
	tc_field_i32(&t, 20, 1);	/* delta 19: long form, id zigzag 40 */
	tc_field_struct_begin(&t, 21);	/* delta 1: short */
	tc_field_bool(&t, 1, true); /* nested scope restarts at 0 */
	tc_field_bool(&t, 17, false);	/* delta 16: long */
	tc_struct_end(&t);
	tc_field_i64(&t, 22, -3);	/* outer scope continues from 21 */
	tc_field_i32(&t, 5, 2);		/* backwards: long form */
	tc_struct_end(&t);
	assert_int_equal(tc_finish(&t), 0);
	ASSERT_BYTES(&b, 0x15, 0x0e, 0x05, 0x28, 0x02, 0x1c, 0x11, 0x02, 0x22,
				 0x00, 0x16, 0x05, 0x05, 0x0a, 0x04, 0x00);
	tdecode_struct(b.data, b.len, &n);
	assert_int_equal(tint(&n, 20), 1);
	assert_int_equal(tint(tfield(&n, 21), 17), 0);
	assert_int_equal(tint(&n, 22), -3);
	assert_int_equal(tint(&n, 5), 2);
	tnode_free(&n);
	pq_buf_free(&b);
}

/* Lists: < 15 elements in the header byte, >= 15 with a varint size. */
static void
test_thrift_lists(void **state)
{
	PqBuf		b;
	TcWriter	t;
	TNode		n;

	pq_buf_init(&b);
	tc_init(&t, &b);
	tc_list_begin(&t, TC_I32, 14);
	ASSERT_BYTES(&b, 0xe5);
	pq_buf_reset(&b);
	tc_list_begin(&t, TC_I32, 15);
	ASSERT_BYTES(&b, 0xf5, 0x0f);
	pq_buf_reset(&b);
	tc_list_begin(&t, TC_STRUCT, 300);
	ASSERT_BYTES(&b, 0xfc, 0xac, 0x02);
	pq_buf_reset(&b);
	tc_struct_begin(&t);
	tc_field_list_begin(&t, 3, TC_I32, 20);
	for (int i = 0; i < 20; i++)
		tc_write_i32(&t, i - 10);
	tc_field_list_begin(&t, 4, TC_BINARY, 2);
	tc_write_binary(&t, "ab", 2);
	tc_write_binary(&t, "", 0);
	tc_struct_end(&t);
	assert_int_equal(tc_finish(&t), 0);
	assert_int_equal(b.data[0], 0x39);
	assert_int_equal(b.data[1], 0xf5);
	assert_int_equal(b.data[2], 20);
	tdecode_struct(b.data, b.len, &n);
	assert_int_equal(tfield(&n, 3)->nkids, 20);
	assert_int_equal(tfield(&n, 3)->kids[0].i, -10);
	assert_int_equal(tfield(&n, 3)->kids[19].i, 9);
	assert_int_equal(tfield(&n, 4)->kids[0].len, 2);
	tnode_free(&n);
	pq_buf_free(&b);
}

/* Unbalanced structs are reported, not silently encoded. */
static void
test_thrift_nesting_errors(void **state)
{
	PqBuf		b;
	TcWriter	t;

	pq_buf_init(&b);
	tc_init(&t, &b);
	tc_struct_begin(&t);
	assert_int_equal(tc_finish(&t), PQ_ERR_ARG);
	tc_struct_end(&t);
	tc_struct_end(&t);
	assert_int_equal(tc_finish(&t), PQ_ERR_ARG);
	tc_init(&t, &b);
	for (int i = 0; i <= TC_MAX_DEPTH; i++)
		tc_struct_begin(&t);
	assert_true(t.bad);
	pq_buf_free(&b);
}

/* ======================================================= RLE hybrid */

/* Encode u32 values and return the buffer (caller frees). */
static PqBuf
rle_of(const uint32_t *v, size_t n, int bw)
{
	PqBuf		b;

	pq_buf_init(&b);
	pq_rle_encode_u32(&b, v, n, bw);
	assert_false(b.oom);
	return b;
}

/* Hand-computed encodings of 1, 8, 9 and 1000 values. */
static void
test_rle_known_bytes(void **state)
{
	uint32_t	v[1000];
	PqBuf		b;

	for (int i = 0; i < 1000; i++)
		v[i] = 1;
	b = rle_of(v, 1, 1);		/* one value: bit-packed, 1 group, padded */
	ASSERT_BYTES(&b, 0x03, 0x01);
	pq_buf_free(&b);
	b = rle_of(v, 8, 1);		/* 8 equal values: one RLE run */
	ASSERT_BYTES(&b, 0x10, 0x01);
	pq_buf_free(&b);
	b = rle_of(v, 9, 1);
	ASSERT_BYTES(&b, 0x12, 0x01);
	pq_buf_free(&b);
	b = rle_of(v, 1000, 1);		/* header varint(2000) */
	ASSERT_BYTES(&b, 0xd0, 0x0f, 0x01);
	pq_buf_free(&b);
	b = rle_of(v, 1000, 9);		/* value takes 2 bytes for bw 9 */
	ASSERT_BYTES(&b, 0xd0, 0x0f, 0x01, 0x00);
	pq_buf_free(&b);
	for (int i = 0; i < 8; i++)
		v[i] = (uint32_t) i;
	b = rle_of(v, 8, 3);		/* Encodings.md example: 0..7, bw 3 */
	ASSERT_BYTES(&b, 0x03, 0x88, 0xc6, 0xfa);
	pq_buf_free(&b);
	for (int i = 0; i < 9; i++)
		v[i] = (uint32_t) (i % 2);
	b = rle_of(v, 9, 1);		/* 0,1,0,1,... : 2 groups, zero padded */
	ASSERT_BYTES(&b, 0x05, 0xaa, 0x00);
	pq_buf_free(&b);
}

/* Repeats next to literals: group alignment and stolen values. */
static void
test_rle_mixed_runs(void **state)
{
	uint32_t	v[40];
	PqBuf		b;
	size_t		n = 0;

	/* 10 x 5 then 1,2,3: RLE run, then a padded literal group */
	for (int i = 0; i < 10; i++)
		v[n++] = 5;
	v[n++] = 1;
	v[n++] = 2;
	v[n++] = 3;
	b = rle_of(v, n, 3);
	ASSERT_BYTES(&b, 0x14, 0x05, 0x03, 0xd1, 0x00, 0x00);
	pq_buf_free(&b);
	/* 1,2,3 then 20 x 7: the literal takes five 7s, then RLE of 15 */
	n = 0;
	v[n++] = 1;
	v[n++] = 2;
	v[n++] = 3;
	for (int i = 0; i < 20; i++)
		v[n++] = 7;
	b = rle_of(v, n, 3);
	/* 1,2,3,7,7,7,7,7 packed at 3 bits: d1 fe ff */
	ASSERT_BYTES(&b, 0x03, 0xd1, 0xfe, 0xff, 0x1e, 0x07);
	pq_buf_free(&b);
	/* 1,2,3 then 10 x 7: too short after alignment, all literal */
	n = 0;
	v[n++] = 1;
	v[n++] = 2;
	v[n++] = 3;
	for (int i = 0; i < 10; i++)
		v[n++] = 7;
	b = rle_of(v, n, 3);
	assert_int_equal(b.data[0], 0x05);
	assert_int_equal(b.len, 1 + 2 * 3);
	pq_buf_free(&b);
}

/* Round trips for every bit width and awkward lengths. */
static void
test_rle_roundtrip_widths(void **state)
{
	static const size_t lens[] = {1, 7, 8, 9, 15, 16, 17, 1000, 4099};
	uint32_t   *v = malloc(sizeof(uint32_t) * 5000);
	uint32_t   *d = malloc(sizeof(uint32_t) * 5000);
	uint64_t	seed = 12345;

	for (int bw = 1; bw <= 32; bw++)
	{
		uint64_t	mask = bw == 32 ? UINT32_MAX : (UINT64_C(1) << bw) - 1;

		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		{
			size_t		n = lens[li];
			PqBuf		b;

			for (size_t i = 0; i < n; i++)
			{
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				/* mix of long repeats and noise */
				v[i] = (seed >> 60) < 10 && i > 0 ? v[i - 1] : (uint32_t) ((seed >> 20) & mask);
			}
			b = rle_of(v, n, bw);
			assert_int_equal(rle_decode(b.data, b.len, bw, d, n), b.len);
			assert_memory_equal(v, d, n * sizeof(uint32_t));
			pq_buf_free(&b);
		}
	}
	free(v);
	free(d);
}

/* Levels (u8 entry point) and PLAIN boolean packing. */
static void
test_rle_levels_and_bools(void **state)
{
	uint8_t		lv[20] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1};
	uint8_t		bools[9] = {1, 0, 1, 1, 0, 0, 0, 0, 1};
	uint32_t	d[20];
	PqBuf		b;

	pq_buf_init(&b);
	pq_rle_encode_u8(&b, lv, 14, 1);
	/* RLE run of 10 ones, then 0,1,0,1 padded: 0b1010 */
	ASSERT_BYTES(&b, 0x14, 0x01, 0x03, 0x0a);
	rle_decode(b.data, b.len, 1, d, 14);
	for (int i = 0; i < 14; i++)
		assert_int_equal(d[i], lv[i]);
	pq_buf_reset(&b);
	pq_pack_bools(&b, bools, 9);
	ASSERT_BYTES(&b, 0x0d, 0x01);
	pq_buf_reset(&b);
	pq_pack_bools(&b, bools, 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(pq_bit_width(0), 0);
	assert_int_equal(pq_bit_width(1), 1);
	assert_int_equal(pq_bit_width(2), 2);
	assert_int_equal(pq_bit_width(255), 8);
	assert_int_equal(pq_bit_width(256), 9);
	assert_int_equal(pq_bit_width(UINT32_MAX), 32);
	pq_buf_free(&b);
}

/* ========================================================== Snappy */

/* Compress then decode with the reference decoder. */
static void
snappy_roundtrip(const uint8_t *src, size_t n)
{
	uint8_t    *c = malloc(pq_snappy_max_compressed(n));
	uint8_t    *d = malloc(n + 1);
	uint16_t   *table = malloc(sizeof(uint16_t) << PQ_SNAPPY_HASH_BITS);
	size_t		cl = pq_snappy_compress(src, n, c, table);

	assert_true(cl <= pq_snappy_max_compressed(n));
	assert_int_equal(snappy_decode(c, cl, d, n + 1), n);
	if (n)
		assert_memory_equal(src, d, n);
	free(c);
	free(d);
	free(table);
}

/* Empty, tiny, random, repetitive and multi-block inputs. */
static void
test_snappy_roundtrip(void **state)
{
	size_t		n = 300000;
	uint8_t    *buf = malloc(n);
	uint64_t	seed = 99;

	for (size_t i = 0; i < n; i++)
	{
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t) (seed >> 56);
	}
	snappy_roundtrip(buf, 0);
	snappy_roundtrip(buf, 1);
	snappy_roundtrip(buf, 17);
	snappy_roundtrip(buf, n);	/* incompressible */
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t) ("meter-0001;" [i % 11] + (i / 5000) % 3);
	snappy_roundtrip(buf, n);	/* repetitive, crosses 64 KiB blocks */
	memset(buf, 'a', n);
	snappy_roundtrip(buf, 65536);
	snappy_roundtrip(buf, 65537);
	snappy_roundtrip(buf, n);
	free(buf);
}

/* ===================================================== file walker */

/* What the walker learned about one column chunk. */
typedef struct ChunkFacts
{
	int64_t		rows;			/* sum of data-page num_values */
	int64_t		nonnull;		/* values present according to levels */
	int			data_pages;
	int			dict_pages;
	int			dict_entries;
	int			dict_data_pages;
	int			plain_data_pages;
	int			max_index_bw;
} ChunkFacts;

/* A parsed file: bytes, FileMetaData and where the footer starts. */
typedef struct PFile
{
	const uint8_t *data;
	size_t		size;
	size_t		footer_start;
	TNode		meta;
} PFile;

/* Check magic and footer length, decode FileMetaData. */
static void
pfile_open(PFile *f, const uint8_t *data, size_t size)
{
	uint32_t	flen;

	assert_true(size >= 12);
	assert_memory_equal(data, "PAR1", 4);
	assert_memory_equal(data + size - 4, "PAR1", 4);
	memcpy(&flen, data + size - 8, 4);
	assert_true(flen <= size - 12);
	f->data = data;
	f->size = size;
	f->footer_start = size - 8 - flen;
	assert_int_equal(tdecode_struct(data + f->footer_start, flen, &f->meta), flen);
}

/* Body of a page, decompressed into *tmp if the codec needs it. */
static const uint8_t *
page_body(int codec, const uint8_t *p, size_t csize, size_t usize, uint8_t **tmp)
{
	*tmp = NULL;
	if (codec == PQ_CODEC_UNCOMPRESSED)
	{
		assert_int_equal(csize, usize);
		return p;
	}
	*tmp = malloc(usize + 1);
	if (codec == PQ_CODEC_ZSTD)
		assert_int_equal(ZSTD_decompress(*tmp, usize + 1, p, csize), usize);
	else
		assert_int_equal(snappy_decode(p, csize, *tmp, usize + 1), usize);
	return *tmp;
}

/* Check the values part of a PLAIN page: exactly `n` values fill it. */
static void
check_plain_values(int phys, const uint8_t *p, size_t len, int64_t n)
{
	size_t		pos = 0;

	switch (phys)
	{
		case PQ_PHYS_BOOLEAN:
			assert_int_equal(len, (size_t) (n + 7) / 8);
			return;
		case PQ_PHYS_INT32:
			assert_int_equal(len, (size_t) n * 4);
			return;
		case PQ_PHYS_INT64:
		case PQ_PHYS_DOUBLE:
			assert_int_equal(len, (size_t) n * 8);
			return;
	}
	for (int64_t i = 0; i < n; i++)
	{
		uint32_t	l;

		assert_true(pos + 4 <= len);
		memcpy(&l, p + pos, 4);
		pos += 4 + l;
	}
	assert_int_equal(pos, len);
}

/* Decode levels and indices of a data page; count present values. */
static void
check_data_page(const TNode *hdr, const uint8_t *body, size_t len, bool optional,
				int phys, ChunkFacts *cf)
{
	const TNode *dph = tfield(hdr, 5);
	int64_t		n = tint(dph, 1);
	int64_t		present = n;
	size_t		pos = 0;
	int			enc = (int) tint(dph, 2);

	assert_int_equal(tint(dph, 3), PQ_ENC_RLE);
	assert_int_equal(tint(dph, 4), PQ_ENC_RLE);
	if (optional)
	{
		uint32_t	l;
		uint32_t   *lv = malloc(sizeof(uint32_t) * (n + 1));

		memcpy(&l, body, 4);
		assert_true(4 + (size_t) l <= len);
		assert_int_equal(rle_decode(body + 4, l, 1, lv, n), l);
		present = 0;
		for (int64_t i = 0; i < n; i++)
			present += lv[i];
		pos = 4 + l;
		free(lv);
	}
	if (enc == PQ_ENC_RLE_DICTIONARY)
	{
		uint32_t   *ix = malloc(sizeof(uint32_t) * (present + 1));
		int			bw = body[pos++];

		assert_true(cf->dict_pages == 1);	/* dictionary came first */
		assert_true(bw >= 1 && bw <= 32);
		assert_int_equal(pos + rle_decode(body + pos, len - pos, bw, ix, present), len);
		for (int64_t i = 0; i < present; i++)
			assert_true(ix[i] < (uint32_t) cf->dict_entries);
		if (bw > cf->max_index_bw)
			cf->max_index_bw = bw;
		cf->dict_data_pages++;
		free(ix);
	}
	else
	{
		assert_int_equal(enc, PQ_ENC_PLAIN);
		check_plain_values(phys, body + pos, len - pos, present);
		cf->plain_data_pages++;
	}
	cf->rows += n;
	cf->nonnull += present;
	cf->data_pages++;
}

/* Walk all pages of a chunk; sizes and counts must match ColumnMetaData. */
static ChunkFacts
walk_chunk(const PFile *f, const TNode *cmd, bool optional)
{
	ChunkFacts	cf = {0};
	const TNode *dpo = tfield(cmd, 11);
	int64_t		data_off = tint(cmd, 9);
	int64_t		start = dpo ? dpo->i : data_off;
	int64_t		end = start + tint(cmd, 7);
	int64_t		usum = 0;
	int64_t		pos = start;
	int			codec = (int) tint(cmd, 4);
	int			phys = (int) tint(cmd, 1);

	if (dpo)
		assert_true(dpo->i >= 4 && dpo->i < data_off);
	assert_true(start >= 4 && end <= (int64_t) f->footer_start);
	while (pos < end)
	{
		TNode		h;
		size_t		hl = tdecode_struct(f->data + pos, end - pos, &h);
		int64_t		us = tint(&h, 2);
		int64_t		cs = tint(&h, 3);
		uint8_t    *tmp;
		const uint8_t *body;

		assert_true(pos + (int64_t) hl + cs <= end);
		body = page_body(codec, f->data + pos + hl, cs, us, &tmp);
		if (tint(&h, 1) == PQ_PAGE_DICTIONARY)
		{
			assert_int_equal(pos, start);	/* only as the first page */
			assert_non_null(dpo);
			assert_int_equal(tint(tfield(&h, 7), 2), PQ_ENC_PLAIN);
			cf.dict_entries = (int) tint(tfield(&h, 7), 1);
			check_plain_values(phys, body, us, cf.dict_entries);
			cf.dict_pages++;
		}
		else
		{
			assert_int_equal(tint(&h, 1), PQ_PAGE_DATA);
			if (cf.data_pages == 0)
				assert_int_equal(pos, data_off);
			check_data_page(&h, body, us, optional, phys, &cf);
		}
		usum += (int64_t) hl + us;
		pos += (int64_t) hl + cs;
		free(tmp);
		tnode_free(&h);
	}
	assert_int_equal(pos, end);
	assert_int_equal(usum, tint(cmd, 6));
	assert_int_equal(cf.rows, tint(cmd, 5));
	assert_int_equal(cf.dict_pages, dpo ? 1 : 0);
	return cf;
}

/* Whole-file invariants; returns total rows.  facts[rg * ncols + c]. */
static int64_t
check_file(const PFile *f, ChunkFacts *facts, int max_facts)
{
	const TNode *schema = tfield(&f->meta, 2);
	const TNode *rgs = tfield(&f->meta, 4);
	int			ncols = (int) tint(&schema->kids[0], 5);
	int64_t		rows = 0;
	int64_t		pos = 4;

	assert_int_equal(tint(&f->meta, 1), 1);
	assert_int_equal(schema->nkids, ncols + 1);
	assert_int_equal(tfield(&f->meta, 7)->nkids, ncols);
	for (uint32_t g = 0; g < rgs->nkids; g++)
	{
		const TNode *rg = &rgs->kids[g];
		const TNode *cols = tfield(rg, 1);
		int64_t		n = tint(rg, 3);
		int64_t		usum = 0,
					csum = 0;

		assert_int_equal(cols->nkids, ncols);
		assert_int_equal(tint(rg, 5), pos);
		assert_int_equal(tint(rg, 7), g);
		for (int c = 0; c < ncols; c++)
		{
			const TNode *cmd = tfield(&cols->kids[c], 3);
			const TNode *st = tfield(cmd, 12);
			const TNode *dpo = tfield(cmd, 11);
			bool		opt = tint(&schema->kids[c + 1], 3) == PQ_REP_OPTIONAL;
			ChunkFacts	cf;

			assert_int_equal(tint(&cols->kids[c], 2), 0);
			assert_int_equal(dpo ? dpo->i : tint(cmd, 9), pos);	/* contiguous */
			cf = walk_chunk(f, cmd, opt);
			assert_int_equal(cf.rows, n);
			assert_non_null(st);
			assert_int_equal(tint(st, 3), n - cf.nonnull);	/* null_count */
			if ((int) (g * ncols + c) < max_facts)
				facts[g * ncols + c] = cf;
			pos += tint(cmd, 7);
			usum += tint(cmd, 6);
			csum += tint(cmd, 7);
		}
		assert_int_equal(tint(rg, 2), usum);
		assert_int_equal(tint(rg, 6), csum);
		rows += n;
	}
	assert_int_equal(pos, f->footer_start);
	assert_int_equal(tint(&f->meta, 3), rows);
	return rows;
}

/* ===================================================== writer tests */

static const PqColumnSpec meter_cols[] = {
	{"meter_id", PQ_STRING, false, true},
	{"ts", PQ_TIMESTAMP_US, false, false},
	{"kw", PQ_DOUBLE, true, true},
	{"flags", PQ_INT16, true, false},
	{"estimated", PQ_BOOLEAN, false, false},
	{"seq", PQ_INT32, true, true},
};

#define METER_NCOLS 6

/* Deterministic meter-like row i (NULLs in kw, flags, seq). */
static void
meter_row(int i, PqValue *row, char *buf)
{
	int			n = snprintf(buf, 32, i % 5 == 0 ? "é-%d" : "M-%04d", i / 10);

	row[0] = pq_str(buf, (size_t) n);
	row[1] = pq_ts((int64_t) i * 900000000 - INT64_C(1000000000000000));
	row[2] = i % 7 == 3 ? pq_null() : pq_f64(i * 0.25);
	row[3] = i % 2 ? pq_null() : pq_i32(i % 100);
	row[4] = pq_bool(i % 3 == 0);
	row[5] = pq_i32(i % 4);
}

/* Write n meter rows with options o into m; returns the closed size. */
static uint64_t
write_meter(MemSink *m, const PqOptions *o, int n)
{
	char		err[256];
	char		buf[32];
	PqValue		row[METER_NCOLS];
	PqWriter   *w = pq_writer_create(meter_cols, METER_NCOLS, o, mem_sink(m),
									 err, sizeof(err));
	PqKeyValue	kv[] = {{"export_id", "7"}, {"note", NULL}};
	uint64_t	rows,
				bytes;

	assert_non_null(w);
	for (int i = 0; i < n; i++)
	{
		meter_row(i, row, buf);
		assert_int_equal(pq_write_row(w, row), 0);
	}
	assert_int_equal(pq_writer_rows(w), n);
	assert_int_equal(pq_writer_close(w, kv, 2, &rows, &bytes), 0);
	assert_int_equal(rows, n);
	assert_int_equal(bytes, m->len);
	assert_int_equal(pq_writer_bytes_written(w), m->len);
	pq_writer_free(w);
	return bytes;
}

/* Structure of files with 1, 8, 9 and 1000 rows in every codec. */
static void
test_writer_small_counts(void **state)
{
	static const int counts[] = {1, 8, 9, 1000};
	static const PqCodec codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_ZSTD,
	PQ_CODEC_SNAPPY};

	for (size_t ci = 0; ci < 3; ci++)
		for (size_t k = 0; k < 4; k++)
		{
			MemSink		m;
			PqOptions	o;
			PFile		f;
			ChunkFacts	cf[METER_NCOLS];

			pq_options_init(&o);
			o.codec = codecs[ci];
			write_meter(&m, &o, counts[k]);
			pfile_open(&f, m.data, m.len);
			assert_int_equal(check_file(&f, cf, METER_NCOLS), counts[k]);
			assert_int_equal(tfield(&f.meta, 4)->nkids, 1);
			assert_int_equal(cf[0].dict_pages, 1);	/* meter_id dictionary */
			assert_int_equal(cf[1].dict_pages, 0);	/* ts PLAIN */
			assert_int_equal(cf[4].dict_pages, 0);	/* bool never */
			tnode_free(&f.meta);
			free(m.data);
		}
}

/* Zero rows: a valid file with the schema and no row groups. */
static void
test_writer_zero_rows(void **state)
{
	MemSink		m;
	PqOptions	o;
	PFile		f;
	char		err[256];
	PqWriter   *w;
	uint64_t	rows = 99,
				bytes = 0;

	pq_options_init(&o);
	o.codec = PQ_CODEC_ZSTD;
	w = pq_writer_create(meter_cols, METER_NCOLS, &o, mem_sink(&m), err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(pq_writer_flush_row_group(w), 0);	/* empty: no-op */
	assert_int_equal(pq_writer_close(w, NULL, 0, &rows, &bytes), 0);
	assert_int_equal(rows, 0);
	assert_int_equal(bytes, m.len);
	pq_writer_free(w);
	pfile_open(&f, m.data, m.len);
	assert_int_equal(f.footer_start, 4);
	assert_int_equal(check_file(&f, NULL, 0), 0);
	assert_int_equal(tfield(&f.meta, 4)->nkids, 0);
	assert_int_equal(tfield(&f.meta, 2)->nkids, METER_NCOLS + 1);
	assert_null(tfield(&f.meta, 5));	/* no key/value pairs given */
	tnode_free(&f.meta);
	free(m.data);
}

/* Footer details: created_by, key/value, column orders, statistics. */
static void
test_writer_footer_metadata(void **state)
{
	MemSink		m;
	PqOptions	o;
	PFile		f;
	const TNode *kv,
			   *co,
			   *cols;
	const char *want = "meter_etl version " PQ_VERSION_STRING " (build unit)";

	pq_options_init(&o);
	o.build_id = "unit";
	write_meter(&m, &o, 50);
	pfile_open(&f, m.data, m.len);
	check_file(&f, NULL, 0);
	assert_int_equal(tfield(&f.meta, 6)->len, strlen(want));
	assert_memory_equal(tfield(&f.meta, 6)->bin, want, strlen(want));
	kv = tfield(&f.meta, 5);
	assert_int_equal(kv->nkids, 2);
	assert_memory_equal(tfield(&kv->kids[0], 1)->bin, "export_id", 9);
	assert_memory_equal(tfield(&kv->kids[0], 2)->bin, "7", 1);
	assert_null(tfield(&kv->kids[1], 2));	/* NULL value omitted */
	co = tfield(&f.meta, 7);
	for (uint32_t i = 0; i < co->nkids; i++)
		assert_non_null(tfield(&co->kids[i], 1));	/* TYPE_ORDER */
	cols = tfield(&tfield(&f.meta, 4)->kids[0], 1);
	for (int c = 0; c < METER_NCOLS; c++)
	{
		const TNode *cmd = tfield(&cols->kids[c], 3);
		const TNode *st = tfield(cmd, 12);
		const TNode *es = tfield(cmd, 13);
		const TNode *path = tfield(cmd, 3);

		assert_int_equal(path->nkids, 1);
		assert_memory_equal(path->kids[0].bin, meter_cols[c].name, path->kids[0].len);
		assert_int_equal(tint(cmd, 4), PQ_CODEC_UNCOMPRESSED);
		assert_int_equal(tint(cmd, 5), 50);
		assert_non_null(es);
		assert_non_null(tfield(st, 3));	/* null_count always */
		if (meter_cols[c].type == PQ_STRING)
			assert_null(tfield(st, 1));	/* no legacy max for strings */
		else
			assert_non_null(tfield(st, 1));
		if (meter_cols[c].type == PQ_DOUBLE)
			assert_int_equal(tint(st, 9), 0);	/* nan_count even if 0 */
		else
			assert_null(tfield(st, 9));
	}
	tnode_free(&f.meta);
	free(m.data);
}

/* Bytes of a statistics bound as an integer/double/string for asserts. */
static const TNode *
stat_of(const PFile *f, int rg, int col, int id)
{
	const TNode *cols = tfield(&tfield(&f->meta, 4)->kids[rg], 1);

	return tfield(tfield(tfield(&cols->kids[col], 3), 12), id);
}

/* Write a single-column file from a value array. */
static void
write_column(MemSink *m, const PqColumnSpec *col, const PqValue *vals, int n,
			 const PqOptions *o)
{
	char		err[256];
	PqWriter   *w = pq_writer_create(col, 1, o, mem_sink(m), err, sizeof(err));

	assert_non_null(w);
	for (int i = 0; i < n; i++)
		assert_int_equal(pq_write_row(w, &vals[i]), 0);
	assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), 0);
	pq_writer_free(w);
}

/* Strings compare as unsigned bytes: 'é' (0xC3) sorts after 'z'. */
static void
test_writer_string_stats(void **state)
{
	PqColumnSpec col = {"s", PQ_STRING, true, true};
	PqValue		v[] = {pq_str("z", 1), pq_str("é", 2), pq_null(), pq_str("A", 1),
	pq_str("", 0), pq_str("zz", 2)};
	MemSink		m;
	PFile		f;

	write_column(&m, &col, v, 6, NULL);
	pfile_open(&f, m.data, m.len);
	check_file(&f, NULL, 0);
	assert_int_equal(stat_of(&f, 0, 0, 6)->len, 0);	/* min "" */
	assert_int_equal(stat_of(&f, 0, 0, 5)->len, 2);	/* max "é" */
	assert_memory_equal(stat_of(&f, 0, 0, 5)->bin, "é", 2);
	assert_int_equal(stat_of(&f, 0, 0, 3)->i, 1);
	assert_null(stat_of(&f, 0, 0, 1));
	assert_null(stat_of(&f, 0, 0, 2));
	tnode_free(&f.meta);
	free(m.data);
}

/* Doubles: NaN counted and excluded, zero bounds signed -0.0 / +0.0. */
static void
test_writer_double_stats(void **state)
{
	PqColumnSpec col = {"d", PQ_DOUBLE, true, true};
	PqValue		v[] = {pq_f64(NAN), pq_f64(0.0), pq_f64(-0.0), pq_null(), pq_f64(NAN)};
	PqValue		nan_only[] = {pq_f64(NAN), pq_null()};
	MemSink		m;
	PFile		f;
	double		d;

	write_column(&m, &col, v, 5, NULL);
	pfile_open(&f, m.data, m.len);
	check_file(&f, NULL, 0);
	assert_int_equal(stat_of(&f, 0, 0, 9)->i, 2);
	assert_int_equal(stat_of(&f, 0, 0, 3)->i, 1);
	memcpy(&d, stat_of(&f, 0, 0, 6)->bin, 8);
	assert_true(d == 0.0 && signbit(d));
	memcpy(&d, stat_of(&f, 0, 0, 5)->bin, 8);
	assert_true(d == 0.0 && !signbit(d));
	tnode_free(&f.meta);
	free(m.data);

	write_column(&m, &col, nan_only, 2, NULL);
	pfile_open(&f, m.data, m.len);
	check_file(&f, NULL, 0);
	assert_null(stat_of(&f, 0, 0, 5));
	assert_null(stat_of(&f, 0, 0, 6));
	assert_int_equal(stat_of(&f, 0, 0, 9)->i, 1);
	tnode_free(&f.meta);
	free(m.data);
}

/* Timestamps: PG epoch shifted to Unix, signed order, INT16 bounds. */
static void
test_writer_int_stats(void **state)
{
	PqColumnSpec cols[] = {{"ts", PQ_TIMESTAMP_US, false, true},
	{"i", PQ_INT16, false, false}, {"b", PQ_BOOLEAN, false, false}};
	char		err[256];
	MemSink		m;
	PFile		f;
	PqWriter   *w = pq_writer_create(cols, 3, NULL, mem_sink(&m), err, sizeof(err));
	int64_t		t;
	int32_t		i;

	assert_non_null(w);
	for (int k = 0; k < 3; k++)
	{
		PqValue		row[3] = {pq_ts(k == 0 ? 0 : k == 1 ? -PQ_PG_EPOCH_OFFSET_US - 1 : 5),
		pq_i32(k == 0 ? -32768 : k == 1 ? 32767 : 0), pq_bool(true)};

		assert_int_equal(pq_write_row(w, row), 0);
	}
	assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), 0);
	pq_writer_free(w);
	pfile_open(&f, m.data, m.len);
	check_file(&f, NULL, 0);
	memcpy(&t, stat_of(&f, 0, 0, 6)->bin, 8);
	assert_int_equal(t, -1);	/* 1969-12-31 23:59:59.999999 UTC */
	memcpy(&t, stat_of(&f, 0, 0, 5)->bin, 8);
	assert_int_equal(t, PQ_PG_EPOCH_OFFSET_US + 5);
	memcpy(&i, stat_of(&f, 0, 1, 6)->bin, 4);
	assert_int_equal(i, -32768);
	memcpy(&i, stat_of(&f, 0, 1, 5)->bin, 4);
	assert_int_equal(i, 32767);
	assert_int_equal(stat_of(&f, 0, 2, 6)->len, 1);
	assert_int_equal(stat_of(&f, 0, 2, 6)->bin[0], 1);	/* all true */
	tnode_free(&f.meta);
	free(m.data);
}

/* An all-NULL optional column: no dictionary, PLAIN page, null_count only. */
static void
test_writer_all_null(void **state)
{
	PqColumnSpec cols[] = {{"s", PQ_STRING, true, true}, {"d", PQ_DOUBLE, true, true},
	{"b", PQ_BOOLEAN, true, false}};
	char		err[256];
	MemSink		m;
	PFile		f;
	ChunkFacts	cf[3];
	PqWriter   *w = pq_writer_create(cols, 3, NULL, mem_sink(&m), err, sizeof(err));
	PqValue		row[3] = {pq_null(), pq_null(), pq_null()};

	assert_non_null(w);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(pq_write_row(w, row), 0);
	assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), 0);
	pq_writer_free(w);
	pfile_open(&f, m.data, m.len);
	check_file(&f, cf, 3);
	for (int c = 0; c < 3; c++)
	{
		assert_int_equal(cf[c].dict_pages, 0);
		assert_int_equal(cf[c].nonnull, 0);
		assert_int_equal(stat_of(&f, 0, c, 3)->i, 1000);
		assert_null(stat_of(&f, 0, c, 5));
	}
	tnode_free(&f.meta);
	free(m.data);
}

/* One distinct value: 1-entry dictionary, index bit width 1. */
static void
test_writer_one_entry_dictionary(void **state)
{
	PqColumnSpec col = {"m", PQ_STRING, false, true};
	PqValue    *v = malloc(sizeof(PqValue) * 1000);
	MemSink		m;
	PFile		f;
	ChunkFacts	cf;

	for (int i = 0; i < 1000; i++)
		v[i] = pq_str("only", 4);
	write_column(&m, &col, v, 1000, NULL);
	pfile_open(&f, m.data, m.len);
	check_file(&f, &cf, 1);
	assert_int_equal(cf.dict_entries, 1);
	assert_int_equal(cf.max_index_bw, 1);
	assert_int_equal(cf.dict_data_pages, 1);
	tnode_free(&f.meta);
	free(m.data);
	free(v);
}

/* Dictionary overflow: pure PLAIN chunk or PLAIN after dictionary pages. */
static void
test_writer_dictionary_fallback(void **state)
{
	PqColumnSpec cols[] = {{"s", PQ_STRING, false, true}, {"i", PQ_INT32, true, true}};
	char		err[256];
	char		buf[32];

	for (int mixed = 0; mixed <= 1; mixed++)
	{
		MemSink		m;
		PFile		f;
		ChunkFacts	cf[2];
		PqOptions	o;
		PqWriter   *w;

		pq_options_init(&o);
		o.dict_max_entries = 100;
		o.page_rows = mixed ? 30 : 0;
		w = pq_writer_create(cols, 2, &o, mem_sink(&m), err, sizeof(err));
		assert_non_null(w);
		for (int i = 0; i < 1000; i++)
		{
			PqValue		row[2] = {pq_str(buf, (size_t) snprintf(buf, 32, "v%d", i)),
			i % 3 ? pq_i32(i) : pq_null()};

			assert_int_equal(pq_write_row(w, row), 0);
		}
		assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), 0);
		pq_writer_free(w);
		pfile_open(&f, m.data, m.len);
		check_file(&f, cf, 2);
		for (int c = 0; c < 2; c++)
		{
			if (mixed)
			{
				assert_int_equal(cf[c].dict_pages, 1);
				assert_true(cf[c].dict_data_pages >= 2);
				assert_true(cf[c].plain_data_pages >= 1);
			}
			else
			{
				assert_int_equal(cf[c].dict_pages, 0);
				assert_int_equal(cf[c].dict_data_pages, 0);
			}
		}
		tnode_free(&f.meta);
		free(m.data);
	}
}

/* Large dictionary by bytes: limit on PLAIN size of the entries. */
static void
test_writer_dictionary_byte_limit(void **state)
{
	PqColumnSpec col = {"s", PQ_STRING, false, true};
	PqOptions	o;
	char		big[1000];
	PqValue    *v = malloc(sizeof(PqValue) * 300);
	MemSink		m;
	PFile		f;
	ChunkFacts	cf;

	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 300; i++)
		v[i] = pq_str(big, 500 + i);	/* 300 distinct long strings */
	pq_options_init(&o);
	o.dict_max_bytes = 64 * 1024;
	write_column(&m, &col, v, 300, &o);
	pfile_open(&f, m.data, m.len);
	check_file(&f, &cf, 1);
	assert_int_equal(cf.dict_pages, 0);
	tnode_free(&f.meta);
	free(m.data);
	free(v);
}

/* Overflow after long repeated strings: no huge PLAIN page, mixed chunk. */
static void
test_writer_fallback_bounded(void **state)
{
	PqColumnSpec col = {"s", PQ_STRING, false, true};
	PqOptions	o;
	char		big[300];
	PqValue    *v = malloc(sizeof(PqValue) * 1100);
	MemSink		m;
	PFile		f;
	ChunkFacts	cf;

	memset(big, 'y', sizeof(big));
	for (int i = 0; i < 1100; i++)	/* 10 distinct x 100, then 100 new */
		v[i] = pq_str(big, i < 1000 ? 200 + i % 10 : 100 + (i - 1000));
	pq_options_init(&o);
	o.dict_max_entries = 10;
	o.page_bytes = 4096;
	write_column(&m, &col, v, 1100, &o);
	pfile_open(&f, m.data, m.len);
	check_file(&f, &cf, 1);
	assert_int_equal(cf.dict_pages, 1);
	assert_int_equal(cf.dict_entries, 10);
	assert_int_equal(cf.dict_data_pages, 1);
	assert_true(cf.plain_data_pages >= 100 * 200 / 4096);
	tnode_free(&f.meta);
	free(m.data);
	free(v);
}

/* Many row groups and many pages per chunk, codecs included. */
static void
test_writer_row_groups_and_pages(void **state)
{
	static const PqCodec codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_ZSTD,
	PQ_CODEC_SNAPPY};

	for (int ci = 0; ci < 3; ci++)
	{
		MemSink		m;
		PqOptions	o;
		PFile		f;
		ChunkFacts	cf[METER_NCOLS * 10];

		pq_options_init(&o);
		o.codec = codecs[ci];
		o.row_group_rows = 1000;
		o.page_rows = 64;
		write_meter(&m, &o, 9500);
		pfile_open(&f, m.data, m.len);
		assert_int_equal(check_file(&f, cf, METER_NCOLS * 10), 9500);
		assert_int_equal(tfield(&f.meta, 4)->nkids, 10);
		assert_int_equal(tint(&tfield(&f.meta, 4)->kids[9], 3), 500);
		for (int c = 0; c < METER_NCOLS; c++)
			assert_int_equal(cf[c].data_pages, (1000 + 63) / 64);
		tnode_free(&f.meta);
		free(m.data);
	}
}

/* Page size in bytes cuts pages; row-group byte limit cuts groups. */
static void
test_writer_byte_limits(void **state)
{
	MemSink		m;
	PqOptions	o;
	PFile		f;
	ChunkFacts	cf[METER_NCOLS * 64];

	pq_options_init(&o);
	o.page_bytes = 1024;
	write_meter(&m, &o, 5000);
	pfile_open(&f, m.data, m.len);
	check_file(&f, cf, METER_NCOLS);
	assert_int_equal(cf[1].data_pages, (5000 * 8 + 1023) / 1024);	/* ts */
	tnode_free(&f.meta);
	free(m.data);

	pq_options_init(&o);
	o.page_bytes = 1024;
	o.row_group_bytes = 16 * 1024;
	write_meter(&m, &o, 5000);
	pfile_open(&f, m.data, m.len);
	assert_int_equal(check_file(&f, cf, METER_NCOLS * 64), 5000);
	assert_true(tfield(&f.meta, 4)->nkids > 1);
	tnode_free(&f.meta);
	free(m.data);
}

/* Rejected values leave the writer usable and the row unwritten. */
static void
test_writer_rejects_values(void **state)
{
	PqColumnSpec cols[] = {{"ts", PQ_TIMESTAMP_US, false, false},
	{"d", PQ_DOUBLE, false, true}, {"i", PQ_INT16, false, false},
	{"s", PQ_STRING, false, true}};
	PqOptions	o;
	char		err[256];
	MemSink		m;
	PFile		f;
	PqWriter   *w;
	PqValue		good[4] = {pq_ts(0), pq_f64(1), pq_i32(1), pq_str("a", 1)};
	PqValue		bad[4];

	pq_options_init(&o);
	o.reject_nonfinite = true;
	w = pq_writer_create(cols, 4, &o, mem_sink(&m), err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(pq_write_row(w, good), 0);
#define REJECT(col, val, needle) do { \
	memcpy(bad, good, sizeof(bad)); \
	bad[col] = (val); \
	assert_int_equal(pq_write_row(w, bad), PQ_ERR_VALUE); \
	assert_non_null(strstr(pq_writer_errmsg(w), needle)); \
} while (0)
	REJECT(0, pq_ts(INT64_MAX), "infinite");
	REJECT(0, pq_ts(INT64_MIN), "infinite");
	REJECT(0, pq_ts(INT64_MAX - 1), "out of range");
	REJECT(1, pq_f64(NAN), "NaN");
	REJECT(1, pq_f64(INFINITY), "infinity");
	REJECT(1, pq_f64(-INFINITY), "infinity");
	REJECT(2, pq_i32(32768), "out of range");
	REJECT(2, pq_i32(-32769), "out of range");
	REJECT(3, pq_null(), "REQUIRED");
	assert_int_equal(pq_write_row(w, good), 0);
	assert_int_equal(pq_writer_rows(w), 2);
	assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), 0);
	/* closed: everything else refused */
	assert_int_equal(pq_write_row(w, good), PQ_ERR_STATE);
	assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), PQ_ERR_STATE);
	pq_writer_free(w);
	pfile_open(&f, m.data, m.len);
	assert_int_equal(check_file(&f, NULL, 0), 2);
	tnode_free(&f.meta);
	free(m.data);
}

/* Bad schemas and options fail in create with a message. */
static void
test_writer_bad_schema(void **state)
{
	PqColumnSpec dup[] = {{"a", PQ_INT32, false, false}, {"a", PQ_STRING, false, false}};
	PqColumnSpec noname[] = {{"", PQ_INT32, false, false}};
	PqColumnSpec badtype[] = {{"x", (PqType) 42, false, false}};
	PqOptions	o;
	MemSink		m;
	char		err[256];

	assert_null(pq_writer_create(dup, 2, NULL, mem_sink(&m), err, sizeof(err)));
	assert_non_null(strstr(err, "duplicate"));
	assert_null(pq_writer_create(noname, 1, NULL, mem_sink(&m), err, sizeof(err)));
	assert_non_null(strstr(err, "no name"));
	assert_null(pq_writer_create(badtype, 1, NULL, mem_sink(&m), err, sizeof(err)));
	assert_null(pq_writer_create(dup, 0, NULL, mem_sink(&m), err, sizeof(err)));
	pq_options_init(&o);
	o.codec = PQ_CODEC_ZSTD;
	o.zstd_level = 1000;
	assert_null(pq_writer_create(dup, 1, &o, mem_sink(&m), err, sizeof(err)));
	assert_non_null(strstr(err, "level"));
	o.codec = (PqCodec) 2;		/* GZIP: not supported */
	assert_null(pq_writer_create(dup, 1, &o, mem_sink(&m), err, sizeof(err)));
	assert_non_null(strstr(err, "codec"));
	assert_null(pq_writer_create(dup, 1, NULL, (PqSink) {NULL, NULL}, NULL, 0));
}

/* A failing sink makes the writer fail for good with PQ_ERR_IO. */
static void
test_writer_sink_failure(void **state)
{
	char		err[256];
	char		buf[32];
	PqValue		row[METER_NCOLS];
	MemSink		m;
	PqSink		s = mem_sink(&m);
	PqOptions	o;
	PqWriter   *w;
	int			rc = 0;

	pq_options_init(&o);
	o.row_group_rows = 100;
	m.fail_at = 3000;
	w = pq_writer_create(meter_cols, METER_NCOLS, &o, s, err, sizeof(err));
	assert_non_null(w);
	for (int i = 0; i < 10000 && rc == 0; i++)
	{
		meter_row(i, row, buf);
		rc = pq_write_row(w, row);
	}
	assert_int_equal(rc, PQ_ERR_IO);
	assert_non_null(strstr(pq_writer_errmsg(w), "could not write"));
	assert_int_equal(pq_write_row(w, row), PQ_ERR_STATE);
	assert_int_equal(pq_writer_close(w, NULL, 0, NULL, NULL), PQ_ERR_STATE);
	pq_writer_free(w);
	free(m.data);
}

/* The fd and stdio sinks produce the same bytes. */
static void
test_writer_file_sinks(void **state)
{
	FILE	   *a = tmpfile();
	FILE	   *b = tmpfile();
	PqColumnSpec col = {"i", PQ_INT32, false, true};
	PqValue		v = pq_i32(5);
	char		err[256];
	PqWriter   *w1 = pq_writer_create(&col, 1, NULL, pq_sink_stdio(a), err, sizeof(err));
	PqWriter   *w2 = pq_writer_create(&col, 1, NULL, pq_sink_fd(fileno(b)), err, sizeof(err));
	uint64_t	n1,
				n2;
	char		x[4096],
				y[4096];

	assert_int_equal(pq_write_row(w1, &v), 0);
	assert_int_equal(pq_write_row(w2, &v), 0);
	assert_int_equal(pq_writer_close(w1, NULL, 0, NULL, &n1), 0);
	assert_int_equal(pq_writer_close(w2, NULL, 0, NULL, &n2), 0);
	assert_int_equal(n1, n2);
	fflush(a);
	rewind(a);
	rewind(b);
	assert_int_equal(fread(x, 1, sizeof(x), a), n1);
	assert_int_equal(fread(y, 1, sizeof(y), b), n2);
	assert_memory_equal(x, y, n1);
	pq_writer_free(w1);
	pq_writer_free(w2);
	fclose(a);
	fclose(b);
}

/* Allocation hooks that fail after a budget of calls. */
static long alloc_budget;

static void *
failing_alloc(size_t n)
{
	return alloc_budget-- > 0 ? malloc(n) : NULL;
}

static void *
failing_realloc(void *p, size_t n)
{
	return alloc_budget-- > 0 ? realloc(p, n) : NULL;
}

/* Every allocation failure is reported cleanly (valgrind: no leaks). */
static void
test_writer_out_of_memory(void **state)
{
	int			succeeded = 0;

	for (long budget = 0; budget < 400 && !succeeded; budget++)
	{
		static const PqCodec codecs[] = {PQ_CODEC_ZSTD, PQ_CODEC_SNAPPY};
		MemSink		m;
		PqOptions	o;
		PqWriter   *w;
		char		err[256];
		char		buf[32];
		PqValue		row[METER_NCOLS];
		int			rc = 0;

		pq_options_init(&o);
		o.codec = codecs[budget % 2];
		o.row_group_rows = 300;
		o.page_rows = 50;
		alloc_budget = budget;
		me_alloc_hook = failing_alloc;
		me_realloc_hook = failing_realloc;
		w = pq_writer_create(meter_cols, METER_NCOLS, &o, mem_sink(&m), err, sizeof(err));
		for (int i = 0; w && i < 1000 && rc == 0; i++)
		{
			meter_row(i, row, buf);
			rc = pq_write_row(w, row);
		}
		if (w && rc == 0)
			rc = pq_writer_close(w, NULL, 0, NULL, NULL);
		me_alloc_hook = malloc;
		me_realloc_hook = realloc;
		if (w == NULL)
			assert_non_null(strstr(err, "memory"));
		else if (rc != 0)
			assert_true(rc == PQ_ERR_NOMEM || rc == PQ_ERR_CODEC);
		else
			succeeded = 1;
		pq_writer_free(w);
		free(m.data);
	}
	me_alloc_hook = malloc;
	me_realloc_hook = realloc;
	assert_true(succeeded);
}

/* ================================================================ main */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thrift_zigzag),
		cmocka_unit_test(test_thrift_schema_element),
		cmocka_unit_test(test_thrift_page_headers),
		cmocka_unit_test(test_thrift_field_ids),
		cmocka_unit_test(test_thrift_lists),
		cmocka_unit_test(test_thrift_nesting_errors),
		cmocka_unit_test(test_rle_known_bytes),
		cmocka_unit_test(test_rle_mixed_runs),
		cmocka_unit_test(test_rle_roundtrip_widths),
		cmocka_unit_test(test_rle_levels_and_bools),
		cmocka_unit_test(test_snappy_roundtrip),
		cmocka_unit_test(test_writer_small_counts),
		cmocka_unit_test(test_writer_zero_rows),
		cmocka_unit_test(test_writer_footer_metadata),
		cmocka_unit_test(test_writer_string_stats),
		cmocka_unit_test(test_writer_double_stats),
		cmocka_unit_test(test_writer_int_stats),
		cmocka_unit_test(test_writer_all_null),
		cmocka_unit_test(test_writer_one_entry_dictionary),
		cmocka_unit_test(test_writer_dictionary_fallback),
		cmocka_unit_test(test_writer_dictionary_byte_limit),
		cmocka_unit_test(test_writer_fallback_bounded),
		cmocka_unit_test(test_writer_row_groups_and_pages),
		cmocka_unit_test(test_writer_byte_limits),
		cmocka_unit_test(test_writer_rejects_values),
		cmocka_unit_test(test_writer_bad_schema),
		cmocka_unit_test(test_writer_sink_failure),
		cmocka_unit_test(test_writer_file_sinks),
		cmocka_unit_test(test_writer_out_of_memory),
	};

	return cmocka_run_group_tests_name("parquet", tests, NULL, NULL);
}
