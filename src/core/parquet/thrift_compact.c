/*
 * thrift_compact.c - Thrift compact-protocol encoder (see thrift_compact.h)
 *
 * Written from the protocol description: varints are ULEB128, i16/i32/i64
 * are zigzag varints, i8 is a raw byte, binary is a varint length plus the
 * bytes, doubles are 8 little-endian bytes and booleans inside field headers
 * take no value byte.
 */
#include <string.h>

#include "pq_common.h"
#include "thrift_compact.h"

/* Begin at top level; the virtual outer scope has last id 0. */
void
tc_init(TcWriter *t, PqBuf *out)
{
	t->out = out;
	t->depth = 0;
	t->last[0] = 0;
	t->bad = false;
}

/* Report whether the encoded bytes are complete and well nested. */
int
tc_finish(const TcWriter *t)
{
	if (t->out->oom)
		return PQ_ERR_NOMEM;
	if (t->bad || t->depth != 0)
		return PQ_ERR_ARG;
	return PQ_OK;
}

/* Short form when 1 <= delta <= 15, long form otherwise (spec rule). */
void
tc_field_header(TcWriter *t, int16_t id, uint8_t type)
{
	int			delta = (int) id - (int) t->last[t->depth];

	if (delta >= 1 && delta <= 15)
		pq_buf_put_u8(t->out, (uint8_t) ((delta << 4) | type));
	else
	{
		pq_buf_put_u8(t->out, type);
		pq_buf_put_uvarint(t->out, tc_zigzag(id));
	}
	t->last[t->depth] = id;
}

/* Push a fresh field-id scope. */
void
tc_struct_begin(TcWriter *t)
{
	if (t->depth >= TC_MAX_DEPTH)
	{
		t->bad = true;
		return;
	}
	t->depth++;
	t->last[t->depth] = 0;
}

/* Write the stop byte and return to the enclosing scope. */
void
tc_struct_end(TcWriter *t)
{
	if (t->depth <= 0)
	{
		t->bad = true;
		return;
	}
	pq_buf_put_u8(t->out, 0);
	t->depth--;
}

/* Element type and size; sizes >= 15 use the long form. */
void
tc_list_begin(TcWriter *t, uint8_t elem_type, uint32_t size)
{
	if (size < 15)
		pq_buf_put_u8(t->out, (uint8_t) ((size << 4) | elem_type));
	else
	{
		pq_buf_put_u8(t->out, (uint8_t) (0xF0 | elem_type));
		pq_buf_put_uvarint(t->out, size);
	}
}

/* i32 value: zigzag varint. */
void
tc_write_i32(TcWriter *t, int32_t v)
{
	pq_buf_put_uvarint(t->out, tc_zigzag(v));
}

/* i64 value: zigzag varint. */
void
tc_write_i64(TcWriter *t, int64_t v)
{
	pq_buf_put_uvarint(t->out, tc_zigzag(v));
}

/* double value: 8 bytes little-endian. */
void
tc_write_double(TcWriter *t, double v)
{
	uint64_t	bits;

	memcpy(&bits, &v, 8);
	pq_buf_put_u64le(t->out, bits);
}

/* binary/string value: plain varint length, then the bytes. */
void
tc_write_binary(TcWriter *t, const void *p, size_t len)
{
	pq_buf_put_uvarint(t->out, len);
	pq_buf_put(t->out, p, len);
}

/* i8 field: one raw byte. */
void
tc_field_i8(TcWriter *t, int16_t id, int8_t v)
{
	tc_field_header(t, id, TC_I8);
	pq_buf_put_u8(t->out, (uint8_t) v);
}

/* i16 field: zigzag varint. */
void
tc_field_i16(TcWriter *t, int16_t id, int16_t v)
{
	tc_field_header(t, id, TC_I16);
	pq_buf_put_uvarint(t->out, tc_zigzag(v));
}

/* i32 field (also used for enums). */
void
tc_field_i32(TcWriter *t, int16_t id, int32_t v)
{
	tc_field_header(t, id, TC_I32);
	tc_write_i32(t, v);
}

/* i64 field. */
void
tc_field_i64(TcWriter *t, int16_t id, int64_t v)
{
	tc_field_header(t, id, TC_I64);
	tc_write_i64(t, v);
}

/* double field. */
void
tc_field_double(TcWriter *t, int16_t id, double v)
{
	tc_field_header(t, id, TC_DOUBLE);
	tc_write_double(t, v);
}

/* bool field: the value lives in the header's type nibble. */
void
tc_field_bool(TcWriter *t, int16_t id, bool v)
{
	tc_field_header(t, id, v ? TC_BOOL_TRUE : TC_BOOL_FALSE);
}

/* binary field. */
void
tc_field_binary(TcWriter *t, int16_t id, const void *p, size_t len)
{
	tc_field_header(t, id, TC_BINARY);
	tc_write_binary(t, p, len);
}

/* string field from a NUL-terminated C string. */
void
tc_field_string(TcWriter *t, int16_t id, const char *s)
{
	tc_field_binary(t, id, s, strlen(s));
}

/* struct field: header then a new scope. */
void
tc_field_struct_begin(TcWriter *t, int16_t id)
{
	tc_field_header(t, id, TC_STRUCT);
	tc_struct_begin(t);
}

/* struct field with no members: header plus stop byte. */
void
tc_field_empty_struct(TcWriter *t, int16_t id)
{
	tc_field_struct_begin(t, id);
	tc_struct_end(t);
}

/* list field: header then list header. */
void
tc_field_list_begin(TcWriter *t, int16_t id, uint8_t elem_type, uint32_t size)
{
	tc_field_header(t, id, TC_LIST);
	tc_list_begin(t, elem_type, size);
}
