/*
 * thrift_compact.h - encoder for the Thrift compact protocol
 *
 * Parquet's footer and page headers are Thrift structs serialised with the
 * compact protocol.  This is a write-only encoder driven by explicit calls
 * (no IDL, no generated code): the caller opens a struct, writes fields in
 * ascending id order and closes it.  Field headers carry the id as a delta
 * from the previous field of the same struct, so the encoder keeps one
 * "last id" per open struct on a small stack.
 *
 * Output goes to a PqBuf; an overly deep nesting sets `bad` (a programming
 * error, reported as PQ_ERR_ARG by tc_finish).
 */
#ifndef THRIFT_COMPACT_H
#define THRIFT_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "pq_buf.h"

/* Compact-protocol type codes (field headers and list element types). */
enum
{
	TC_BOOL_TRUE = 1,
	TC_BOOL_FALSE = 2,
	TC_I8 = 3,
	TC_I16 = 4,
	TC_I32 = 5,
	TC_I64 = 6,
	TC_DOUBLE = 7,
	TC_BINARY = 8,
	TC_LIST = 9,
	TC_SET = 10,
	TC_MAP = 11,
	TC_STRUCT = 12
};

#define TC_MAX_DEPTH 16

typedef struct TcWriter
{
	PqBuf	   *out;
	int			depth;			/* number of open structs */
	int16_t		last[TC_MAX_DEPTH + 1];	/* previous field id per struct */
	bool		bad;			/* nesting error */
} TcWriter;

/* Start writing into out (appends; does not reset it). */
void		tc_init(TcWriter *t, PqBuf *out);

/* 0 if everything was encoded, PQ_ERR_NOMEM / PQ_ERR_ARG otherwise. */
int			tc_finish(const TcWriter *t);

/* Zigzag mapping of a signed integer (small magnitudes -> small codes). */
static inline uint64_t
tc_zigzag(int64_t n)
{
	return ((uint64_t) n << 1) ^ (uint64_t) (n >> 63);
}

/* Field header: 1 byte if the id delta is 1..15, else type + zigzag id. */
void		tc_field_header(TcWriter *t, int16_t id, uint8_t type);

/* Open a struct (a new field-id scope); tc_struct_end writes the stop byte. */
void		tc_struct_begin(TcWriter *t);
void		tc_struct_end(TcWriter *t);

/* List header: size < 15 fits in the type byte, else 0xF0|type + varint. */
void		tc_list_begin(TcWriter *t, uint8_t elem_type, uint32_t size);

/* Bare values: list elements, or the payload after a field header. */
void		tc_write_i32(TcWriter *t, int32_t v);
void		tc_write_i64(TcWriter *t, int64_t v);
void		tc_write_double(TcWriter *t, double v);
void		tc_write_binary(TcWriter *t, const void *p, size_t len);

/* Complete fields (header + value). */
void		tc_field_i8(TcWriter *t, int16_t id, int8_t v);
void		tc_field_i16(TcWriter *t, int16_t id, int16_t v);
void		tc_field_i32(TcWriter *t, int16_t id, int32_t v);
void		tc_field_i64(TcWriter *t, int16_t id, int64_t v);
void		tc_field_double(TcWriter *t, int16_t id, double v);
void		tc_field_bool(TcWriter *t, int16_t id, bool v);
void		tc_field_binary(TcWriter *t, int16_t id, const void *p, size_t len);
void		tc_field_string(TcWriter *t, int16_t id, const char *s);

/* A struct-typed field: header, then a new scope (close with tc_struct_end). */
void		tc_field_struct_begin(TcWriter *t, int16_t id);

/* An empty struct-typed field (e.g. StringType, TimeUnit.MICROS). */
void		tc_field_empty_struct(TcWriter *t, int16_t id);

/* A list-typed field: header, then the list header. */
void		tc_field_list_begin(TcWriter *t, int16_t id, uint8_t elem_type,
								uint32_t size);

#endif							/* THRIFT_COMPACT_H */
