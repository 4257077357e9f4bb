/*
 * fuzz_reader.c - libFuzzer target over the CSV-to-reading path
 *
 * Input: byte 0 picks a format profile (long, LCL, UCI, ESB, wide, NEM12),
 * byte 1 the chunk size the bytes are fed in, the rest is the file.  The
 * reader runs with the parser, column mapping, field parsers, DST
 * resolution and rules; any crash, sanitizer report, or a broken
 * accounting invariant (every reading out exactly once) is a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/read/reader.h"
#include "fixture_profiles.h"
#include "test_helpers.h"

typedef struct Count
{
	int64_t		ok;
	int64_t		rejected;
} Count;

/* Touch every byte handed out, so sanitizers see out-of-bounds pointers. */
static volatile unsigned sink;

static void
on_reading(void *ctx, const MeReading *r)
{
	((Count *) ctx)->ok++;
	for (size_t i = 0; i < r->meter_len; i++)
		sink += (unsigned char) r->meter_id[i];
	sink += (unsigned) strlen(r->channel);
	if (!(r->kw == r->kw))
		abort();				/* NaN must never pass the rules */
}

static void
on_reject(void *ctx, const MeReject *r)
{
	((Count *) ctx)->rejected++;
	for (size_t i = 0; i < r->line_len; i++)
		sink += (unsigned char) r->line[i];
	if (r->meter_id)
		for (size_t i = 0; i < r->meter_len; i++)
			sink += (unsigned char) r->meter_id[i];
	if (r->value_raw)
		for (size_t i = 0; i < r->value_len; i++)
			sink += (unsigned char) r->value_raw[i];
	if (r->reason <= ME_OK || r->reason >= ME_R__COUNT)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MeProfile	profiles[6];
	MeRules		rules = test_rules();
	MeReaderCallbacks cb = {on_reading, on_reject};
	MeZone		zone;
	int32_t		std = 0;
	Count		c = {0, 0};
	MeReader   *r;
	size_t		chunk;
	bool		ok = true;
	const MeReaderStats *st;

	if (size < 2)
		return 0;
	profiles[0] = profile_generic();
	profiles[1] = profile_lcl();
	profiles[2] = profile_uci();
	profiles[3] = profile_esb();
	profiles[4] = profile_wide();
	profiles[5] = profile_nem12();
	if (data[0] & 0x80)
		me_zone_init(&zone, eu_gmtoff, &std);
	else
		me_zone_init_fixed(&zone, 0);
	chunk = 1 + (data[1] % 64) * (data[1] > 192 ? 4096 : 1);
	r = me_reader_create(&profiles[data[0] % 6], &rules, &zone, "fuzz", &cb, &c, 4096);
	for (size_t off = 2; off < size && ok; off += chunk)
		ok = me_reader_feed(r, (const char *) data + off, size - off < chunk ? size - off : chunk);
	if (ok)
		ok = me_reader_finish(r);
	st = me_reader_stats(r);
	if (st->readings_read != st->readings_ok + st->readings_rejected ||
		st->readings_ok != c.ok || st->readings_rejected != c.rejected)
	{
		fprintf(stderr, "accounting broken: read %lld ok %lld rejected %lld (callbacks %lld/%lld)\n",
				(long long) st->readings_read, (long long) st->readings_ok,
				(long long) st->readings_rejected, (long long) c.ok, (long long) c.rejected);
		abort();
	}
	me_reader_free(r);
	return 0;
}
