/*
 * profile.h - format profiles from meter_etl.format_profile (see profile.c)
 */
#ifndef ME_PROFILE_H
#define ME_PROFILE_H

#include "postgres.h"

#include "core/read/csvmap.h"

typedef struct MeLoadedProfile
{
	MeProfile	p;
	char	   *time_zone;
} MeLoadedProfile;

extern MeLoadedProfile *me_load_profile(const char *name);
extern char *me_detect_format(int64 file_id);

#endif							/* ME_PROFILE_H */
