/*
 * real_data.h - the real vendor files of the cmocka tests
 *
 * Tests that read real vendor files take them from ../shared/data/real
 * beside the clone (or ../../shared/data/real when run from test/build);
 * the environment variable MeterEtlRealData names another directory, and
 * then only that one.  A test whose file is not there calls
 * real_data_missing(): skipped (cmocka prints it as SKIPPED and
 * test/run_all.sh lists it), or failed when CI=true, since CI always has the
 * real data.  Include after <cmocka.h>.
 */
#ifndef REAL_DATA_H
#define REAL_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The directories tried, in order; NULL-terminated. */
static inline void
real_data_dirs(const char *dirs[3])
{
	const char *env = getenv("MeterEtlRealData");

	if (env != NULL && env[0] != '\0')
	{
		dirs[0] = env;
		dirs[1] = NULL;
	}
	else
	{
		dirs[0] = "../shared/data/real";
		dirs[1] = "../../shared/data/real";
	}
	dirs[2] = NULL;
}

/* dir + "/" + rel in a new allocation. */
static inline char *
real_data_join(const char *dir, const char *rel)
{
	size_t		n = strlen(dir) + 1 + strlen(rel) + 1;
	char	   *path = malloc(n);

	if (path != NULL)
		snprintf(path, n, "%s/%s", dir, rel);
	return path;
}

/* The whole file rel of the real-data folder (NUL-terminated), or NULL. */
static inline char *
real_data_read(const char *rel, size_t *len)
{
	const char *dirs[3];

	real_data_dirs(dirs);
	for (int i = 0; dirs[i] != NULL; i++)
	{
		char	   *path = real_data_join(dirs[i], rel);
		FILE	   *f = path ? fopen(path, "rb") : NULL;
		char	   *buf;
		long		n;

		free(path);
		if (f == NULL)
			continue;
		if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
			(buf = malloc((size_t) n + 1)) == NULL)
		{
			fclose(f);
			return NULL;
		}
		if (fread(buf, 1, (size_t) n, f) != (size_t) n)
			n = 0;
		buf[n] = '\0';
		fclose(f);
		*len = (size_t) n;
		return buf;
	}
	return NULL;
}

/* A test's real file is missing: skip the test, or fail it in CI. */
#define real_data_missing(rel) \
	do { \
		const char *ci_ = getenv("CI"); \
		const char *dirs_[3]; \
		real_data_dirs(dirs_); \
		if (ci_ != NULL && strcmp(ci_, "true") == 0) \
			fail_msg("real data file %s not found in %s (CI=true: the real data must be there)", \
					 (rel), dirs_[0]); \
		print_message("real data file %s not found in %s: test skipped\n", (rel), dirs_[0]); \
		skip(); \
	} while (0)

#endif							/* REAL_DATA_H */
