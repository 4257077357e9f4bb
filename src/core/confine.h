/*
 * confine.h - path rules for the server directories meter_etl may touch
 * (meter_etl.inbox_dir, meter_etl.archive_dir); see confine.c
 */
#ifndef ME_CONFINE_H
#define ME_CONFINE_H

#include <stdbool.h>

extern bool me_path_has_dotdot(const char *path);
extern bool me_path_inside(const char *path, const char *root);

#endif							/* ME_CONFINE_H */
