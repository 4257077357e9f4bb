/*
 * parser_thread.c - a MeReader in its own thread (pure C; see parser_thread.h)
 *
 * One mutex and one condition variable guard two small queues: raw chunks
 * going in, blocks of packed events coming out.  An event is a reading or a
 * reject with its strings copied behind a fixed header, so the backend can
 * replay it as the MeReading / MeReject the reader produced.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parser_thread.h"

#define IN_DEPTH	4			/* raw chunks queued for the parser */
#define OUT_DEPTH	48			/* event blocks queued: a whole batch ahead */
#define BLOCK_BYTES (256 * 1024)
#define NO_STRING	UINT32_MAX	/* length of a NULL string */

typedef struct Bytes
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Bytes;

/* Header of a packed reading; meter and channel bytes follow. */
typedef struct EvReading
{
	int64_t		ts;
	double		kw;
	int64_t		line_no;
	int32_t		interval_s;
	uint32_t	meter_len;
	uint32_t	channel_len;
	uint16_t	flags;
	uint8_t		signed_channel;
} EvReading;

#define REJ_STRINGS 7			/* detail, meter, channel, ts, value, unit, line */

/* Header of a packed reject; its strings follow in that order. */
typedef struct EvReject
{
	int64_t		line_no;
	int64_t		ts;
	int32_t		reason;
	uint32_t	len[REJ_STRINGS];
	uint8_t		has_ts;
} EvReject;

struct MeParser
{
	pthread_t	thread;
	bool		started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	Bytes		in[IN_DEPTH];
	int			in_head;
	int			in_count;
	bool		input_ended;
	Bytes		out[OUT_DEPTH];
	int			out_head;
	int			out_count;
	bool		finished;
	bool		abort;
	/* the parser thread's own */
	Bytes		cur;
	bool		dropping;		/* aborted while inside the reader */
	bool		oom;			/* ... because an allocation failed */
	const MeProfile *profile;
	MeRules		rules;
	MeZone		zone;
	char	   *stem;
	size_t		max_line_bytes;
	/* the result, valid once finished */
	MeReaderStats stats;
	bool		ok;
	char		err[512];
};

/* An absolute deadline timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec
deadline(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Append bytes to a malloc'd buffer (the parser thread's block). */
static bool
bytes_append(Bytes *b, const void *src, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		cap = b->cap ? b->cap : BLOCK_BYTES;
		char	   *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return false;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, src, n);
	b->len += n;
	return true;
}

/* Hand the current block to the backend, waiting while the queue is full. */
static void
push_block(MeParser *p)
{
	if (p->cur.len == 0)
		return;
	pthread_mutex_lock(&p->mu);
	while (p->out_count == OUT_DEPTH && !p->abort)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->abort)
	{
		p->dropping = true;
		free(p->cur.data);
	}
	else
	{
		p->out[(p->out_head + p->out_count) % OUT_DEPTH] = p->cur;
		p->out_count++;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	memset(&p->cur, 0, sizeof(p->cur));
}

/* Make room for an event of n bytes in the current block. */
static bool
reserve_event(MeParser *p, size_t n)
{
	if (p->dropping)
		return false;
	if (p->cur.len > 0 && p->cur.len + n > BLOCK_BYTES)
		push_block(p);
	return !p->dropping;
}

/* Reader callback in the parser thread: pack a reading. */
static void
pack_reading(void *ctx, const MeReading *r)
{
	MeParser   *p = ctx;
	EvReading	ev;
	char		type = 'R';

	ev.ts = r->ts;
	ev.kw = r->kw;
	ev.line_no = r->line_no;
	ev.interval_s = r->interval_s;
	ev.meter_len = (uint32_t) r->meter_len;
	ev.channel_len = (uint32_t) strlen(r->channel);
	ev.flags = r->flags;
	ev.signed_channel = r->signed_channel;
	if (!reserve_event(p, 1 + sizeof(ev) + ev.meter_len + ev.channel_len + 1))
		return;
	if (!bytes_append(&p->cur, &type, 1) || !bytes_append(&p->cur, &ev, sizeof(ev)) ||
		!bytes_append(&p->cur, r->meter_id, ev.meter_len) ||
		!bytes_append(&p->cur, r->channel, ev.channel_len + 1))
		p->dropping = p->oom = true;	/* reported at the end */
}

/* Reader callback in the parser thread: pack a reject. */
static void
pack_reject(void *ctx, const MeReject *r)
{
	MeParser   *p = ctx;
	EvReject	ev;
	char		type = 'J';
	const char *str[REJ_STRINGS] = {r->detail, r->meter_id, r->channel, r->ts_raw,
	r->value_raw, r->unit_raw, r->line};
	size_t		len[REJ_STRINGS] = {r->detail ? strlen(r->detail) : 0, r->meter_len,
		r->channel ? strlen(r->channel) : 0, r->ts_len, r->value_len, r->unit_len, r->line_len};
	size_t		total = 1 + sizeof(ev);

	memset(&ev, 0, sizeof(ev));
	ev.line_no = r->line_no;
	ev.ts = r->ts;
	ev.reason = r->reason;
	ev.has_ts = r->has_ts;
	for (int i = 0; i < REJ_STRINGS; i++)
	{
		ev.len[i] = str[i] ? (uint32_t) len[i] : NO_STRING;
		total += str[i] ? len[i] + 1 : 0;
	}
	if (!reserve_event(p, total))
		return;
	if (!bytes_append(&p->cur, &type, 1) || !bytes_append(&p->cur, &ev, sizeof(ev)))
	{
		p->dropping = p->oom = true;
		return;
	}
	for (int i = 0; i < REJ_STRINGS; i++)
		if (str[i] && (!bytes_append(&p->cur, str[i], len[i]) || !bytes_append(&p->cur, "", 1)))
		{
			p->dropping = p->oom = true;
			return;
		}
}

/* Take the next raw chunk, or learn that there is none (false). */
static bool
take_chunk(MeParser *p, Bytes *chunk)
{
	bool		got = false;

	pthread_mutex_lock(&p->mu);
	while (p->in_count == 0 && !p->input_ended && !p->abort)
		pthread_cond_wait(&p->cv, &p->mu);
	if (!p->abort && p->in_count > 0)
	{
		*chunk = p->in[p->in_head];
		p->in_head = (p->in_head + 1) % IN_DEPTH;
		p->in_count--;
		got = true;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return got;
}

/* The parser thread: feed chunks through a reader until the input ends. */
static void *
parser_main(void *arg)
{
	MeParser   *p = arg;
	MeReaderCallbacks cb = {pack_reading, pack_reject};
	MeReader   *r = me_reader_create(p->profile, &p->rules, &p->zone, p->stem, &cb, p,
									 p->max_line_bytes);
	Bytes		chunk;
	bool		ok = r != NULL;

	while (ok && take_chunk(p, &chunk))
	{
		ok = me_reader_feed(r, chunk.data, chunk.len);
		free(chunk.data);
	}
	pthread_mutex_lock(&p->mu);
	ok = ok && !p->abort;
	pthread_mutex_unlock(&p->mu);
	if (ok)
		ok = me_reader_finish(r);
	if (r != NULL)
	{
		p->stats = *me_reader_stats(r);
		snprintf(p->err, sizeof(p->err), "%s", me_reader_error(r));
		me_reader_free(r);
	}
	else
	{
		snprintf(p->err, sizeof(p->err), "out of memory");
		p->oom = true;
	}
	push_block(p);
	pthread_mutex_lock(&p->mu);
	p->ok = ok && !p->dropping;
	if (p->dropping && p->err[0] == '\0')
		snprintf(p->err, sizeof(p->err), "the parser thread ran out of memory or was stopped");
	p->finished = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/*
 * Start the parser thread.  NULL if it cannot be started (the caller then
 * parses in its own thread).  profile must outlive me_parser_stop; the
 * rules and the zone (with its cache) are copied.
 */
MeParser *
me_parser_start(const MeProfile *profile, const MeRules *rules, const MeZone *zone,
				const char *file_stem, size_t max_line_bytes)
{
	MeParser   *p = calloc(1, sizeof(MeParser));
	sigset_t	all,
				old;
	int			rc;

	if (p == NULL)
		return NULL;
	p->profile = profile;
	p->rules = *rules;
	p->zone = *zone;
	p->stem = strdup(file_stem ? file_stem : "");
	p->max_line_bytes = max_line_bytes;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	/* the thread must never run a signal handler of the backend */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = p->stem ? pthread_create(&p->thread, NULL, parser_main, p) : ENOMEM;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		me_parser_stop(p);
		return NULL;
	}
	p->started = true;
	return p;
}

/* Queue a copy of a raw chunk; false if the queue stayed full for timeout_ms. */
bool
me_parser_push(MeParser *p, const char *buf, size_t len, int timeout_ms)
{
	struct timespec until = deadline(timeout_ms);
	Bytes		chunk;
	bool		queued = false;
	bool		finished;

	pthread_mutex_lock(&p->mu);
	while (p->in_count == IN_DEPTH && !p->finished &&
		   pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
		;
	if (p->in_count < IN_DEPTH && !p->finished)
	{
		chunk.data = malloc(len ? len : 1);
		chunk.len = chunk.cap = len;
		if (chunk.data != NULL)
		{
			memcpy(chunk.data, buf, len);
			p->in[(p->in_head + p->in_count) % IN_DEPTH] = chunk;
			p->in_count++;
			pthread_cond_broadcast(&p->cv);
			queued = true;
		}
	}
	finished = p->finished;
	pthread_mutex_unlock(&p->mu);
	/* a finished parser (a file-level error) takes no more input */
	return queued || finished;
}

/* No more input: the parser finishes the file. */
void
me_parser_end_input(MeParser *p)
{
	pthread_mutex_lock(&p->mu);
	p->input_ended = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Replay one block of events through the caller's callbacks. */
static void
replay(const Bytes *b, const MeReaderCallbacks *cb, void *cbctx)
{
	const char *s = b->data;
	const char *end = b->data + b->len;

	while (s < end)
	{
		char		type = *s++;

		if (type == 'R')
		{
			EvReading	ev;
			MeReading	rd;

			memcpy(&ev, s, sizeof(ev));
			s += sizeof(ev);
			memset(&rd, 0, sizeof(rd));
			rd.meter_id = s;
			rd.meter_len = ev.meter_len;
			s += ev.meter_len;
			rd.channel = s;
			s += ev.channel_len + 1;
			rd.signed_channel = ev.signed_channel;
			rd.ts = ev.ts;
			rd.kw = ev.kw;
			rd.flags = ev.flags;
			rd.interval_s = ev.interval_s;
			rd.line_no = ev.line_no;
			cb->reading(cbctx, &rd);
		}
		else
		{
			EvReject	ev;
			MeReject	rj;
			const char *str[REJ_STRINGS];

			memcpy(&ev, s, sizeof(ev));
			s += sizeof(ev);
			for (int i = 0; i < REJ_STRINGS; i++)
			{
				str[i] = ev.len[i] == NO_STRING ? NULL : s;
				if (str[i])
					s += ev.len[i] + 1;
			}
			memset(&rj, 0, sizeof(rj));
			rj.reason = (MeReason) ev.reason;
			rj.line_no = ev.line_no;
			rj.has_ts = ev.has_ts;
			rj.ts = ev.ts;
			rj.detail = str[0];
			rj.meter_id = str[1];
			rj.meter_len = str[1] ? ev.len[1] : 0;
			rj.channel = str[2];
			rj.ts_raw = str[3];
			rj.ts_len = str[3] ? ev.len[3] : 0;
			rj.value_raw = str[4];
			rj.value_len = str[4] ? ev.len[4] : 0;
			rj.unit_raw = str[5];
			rj.unit_len = str[5] ? ev.len[5] : 0;
			rj.line = str[6] ? str[6] : "";
			rj.line_len = str[6] ? ev.len[6] : 0;
			cb->reject(cbctx, &rj);
		}
	}
}

/*
 * Replay the next block of events through cb: 1 when a block was replayed,
 * 0 when none arrived within timeout_ms, -1 when the parser has finished
 * and everything was replayed.  The callbacks may raise errors (longjmp):
 * the block being replayed is released by me_parser_stop.
 */
int
me_parser_next(MeParser *p, int timeout_ms, const MeReaderCallbacks *cb, void *cbctx)
{
	struct timespec until = deadline(timeout_ms);
	Bytes		block;

	pthread_mutex_lock(&p->mu);
	while (p->out_count == 0 && !p->finished &&
		   pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
		;
	if (p->out_count == 0)
	{
		int			rc = p->finished ? -1 : 0;

		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	block = p->out[p->out_head];
	/* keep the block in the queue's slot until replayed, for me_parser_stop */
	pthread_mutex_unlock(&p->mu);
	replay(&block, cb, cbctx);
	pthread_mutex_lock(&p->mu);
	free(block.data);
	p->out[p->out_head].data = NULL;
	p->out_head = (p->out_head + 1) % OUT_DEPTH;
	p->out_count--;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 1;
}

/* After me_parser_next returned -1: the reader's statistics and verdict. */
bool
me_parser_result(MeParser *p, MeReaderStats *stats, char *err, size_t errlen, bool *oom)
{
	*oom = p->oom;
	*stats = p->stats;
	snprintf(err, errlen, "%s", p->err);
	return p->ok;
}

/* Stop the thread (at any point), wait for it and free everything. */
void
me_parser_stop(MeParser *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->abort = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->started)
		pthread_join(p->thread, NULL);
	for (int i = 0; i < p->in_count; i++)
		free(p->in[(p->in_head + i) % IN_DEPTH].data);
	for (int i = 0; i < p->out_count; i++)
		free(p->out[(p->out_head + i) % OUT_DEPTH].data);
	free(p->cur.data);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->stem);
	free(p);
}
