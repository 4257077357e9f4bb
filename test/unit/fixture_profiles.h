/*
 * fixture_profiles.h - format profiles for the C tests and the fuzzer
 *
 * They mirror the shipped rows of meter_etl.format_profile closely enough
 * to exercise each layout; the SQL suites test the shipped rows themselves.
 */
#ifndef FIXTURE_PROFILES_H
#define FIXTURE_PROFILES_H

#include <string.h>

#include "core/read/csvmap.h"


static char *detect_generic[] = {"meter_id", "timestamp", "value", "unit"};
static char *missing_std[] = {"null", "nan", "?", "na"};
static MeValueSpec values_generic[] = {{"value", NULL, ME_UNIT_UNKNOWN}};

static MeProfile
profile_generic(void)
{
	MeProfile	p;

	memset(&p, 0, sizeof(p));
	p.name = "generic";
	p.layout = ME_LAYOUT_LONG;
	p.delimiter = ',';
	p.quote = '"';
	p.detect = detect_generic;
	p.ndetect = 4;
	p.meter_col = "meter_id";
	p.channel_col = "channel";
	p.channel_default = "import";
	p.ts_col = "timestamp";
	p.date_order = ME_DATE_YMD;
	p.values = values_generic;
	p.nvalues = 1;
	p.unit_col = "unit";
	p.interval_s = 900;
	p.missing = missing_std;
	p.nmissing = 4;
	return p;
}

/* The generic layout with a signed net channel, as the shipped profiles have it. */
static inline MeProfile
profile_generic_net(void)
{
	static char *signed_net[] = {"net"};
	MeProfile	p = profile_generic();

	p.signed_channels = signed_net;
	p.nsigned = 1;
	return p;
}

static char *detect_lcl[] = {"lclid", "tstp", "energy(kwh/hh)"};
static MeValueSpec values_lcl[] = {{"energy(kwh/hh)", NULL, ME_UNIT_KWH}};

static MeProfile
profile_lcl(void)
{
	MeProfile	p = profile_generic();

	p.name = "lcl";
	p.detect = detect_lcl;
	p.ndetect = 3;
	p.meter_col = "lclid";
	p.channel_col = NULL;
	p.ts_col = "tstp";
	p.values = values_lcl;
	p.unit_col = NULL;
	p.interval_s = 1800;
	return p;
}

static char *detect_uci[] = {"date", "time", "global_active_power"};
static MeValueSpec values_uci[] = {{"global_active_power", NULL, ME_UNIT_KW}};

static MeProfile
profile_uci(void)
{
	MeProfile	p = profile_generic();

	p.name = "uci";
	p.delimiter = ';';
	p.detect = detect_uci;
	p.ndetect = 3;
	p.meter_col = NULL;
	p.meter_default = NULL;
	p.channel_col = NULL;
	p.ts_col = NULL;
	p.date_col = "date";
	p.time_col = "time";
	p.date_order = ME_DATE_DMY;
	p.values = values_uci;
	p.unit_col = NULL;
	p.interval_s = 60;
	return p;
}

static char *detect_esb[] = {"mprn", "read value", "read type", "read date and end time"};
static MeValueSpec values_esb[] = {{"read value", NULL, ME_UNIT_UNKNOWN}};
static MeChannelMap chmap_esb[] = {
	{"Active Import Interval (kW)", "import", ME_UNIT_KW},
	{"Active Export Interval (kW)", "export", ME_UNIT_KW},
	{"Active Import Interval (kWh)", "import", ME_UNIT_KWH},
	{"Active Export Interval (kWh)", "export", ME_UNIT_KWH},
};

static MeProfile
profile_esb(void)
{
	MeProfile	p = profile_generic();

	p.name = "esb";
	p.detect = detect_esb;
	p.ndetect = 4;
	p.meter_col = "mprn";
	p.channel_col = "read type";
	p.channel_map = chmap_esb;
	p.nchannel_map = 4;
	p.ts_col = "read date and end time";
	p.date_order = ME_DATE_DMY;
	p.ts_is_end = true;
	p.newest_first = true;
	p.values = values_esb;
	p.unit_col = NULL;
	p.interval_s = 1800;
	return p;
}

static char *detect_jemena[] = {"nmi", "con/gen", "date"};
static MeChannelMap chmap_jemena[] = {
	{"Consumption", "import", ME_UNIT_UNKNOWN},
	{"Generation", "export", ME_UNIT_UNKNOWN},
};
static char *est_yes[] = {"yes", "y"};

static MeProfile
profile_wide(void)
{
	MeProfile	p = profile_generic();

	p.name = "wide";
	p.layout = ME_LAYOUT_WIDE;
	p.detect = detect_jemena;
	p.ndetect = 3;
	p.meter_col = "nmi";
	p.channel_col = "con/gen";
	p.channel_map = chmap_jemena;
	p.nchannel_map = 2;
	p.ts_col = NULL;
	p.date_col = "date";
	p.date_order = ME_DATE_DMY;
	p.values = NULL;
	p.nvalues = 0;
	p.unit_col = NULL;
	p.unit_default = ME_UNIT_KWH;
	p.interval_s = 0;
	p.estimated_col = "estimated?";
	p.estimated_true = est_yes;
	p.nestimated_true = 2;
	return p;
}

static MeChannelMap chmap_nem[] = {
	{"E1", "import", ME_UNIT_UNKNOWN},
	{"B1", "export", ME_UNIT_UNKNOWN},
};

static MeProfile
profile_nem12(void)
{
	MeProfile	p = profile_generic();

	p.name = "nem12";
	p.layout = ME_LAYOUT_NEM12;
	p.detect = NULL;
	p.ndetect = 0;
	p.meter_col = NULL;
	p.channel_col = NULL;
	p.channel_map = chmap_nem;
	p.nchannel_map = 2;
	p.ts_col = NULL;
	p.values = NULL;
	p.nvalues = 0;
	p.unit_col = NULL;
	p.interval_s = 0;
	return p;
}

#endif							/* FIXTURE_PROFILES_H */
