/*
 * confine.c - path rules for the server directories meter_etl may touch
 *
 * Both the inbox (reading) and the archive (writing) resolve every path
 * with realpath() and then require it to lie below the configured root;
 * a ".." component is refused before that, because its intent is never
 * good.  Pure C, shared so the two rules cannot drift apart.
 */
#include <string.h>

#include "confine.h"

/* Does the path have a ".." component? */
bool
me_path_has_dotdot(const char *path)
{
	const char *p = path;

	while ((p = strstr(p, "..")) != NULL)
	{
		bool		start = (p == path || p[-1] == '/');
		bool		end = (p[2] == '\0' || p[2] == '/');

		if (start && end)
			return true;
		p += 2;
	}
	return false;
}

/* Is the canonical path the canonical root itself or below it? */
bool
me_path_inside(const char *path, const char *root)
{
	size_t		n = strlen(root);

	if (strncmp(path, root, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/' || (n == 1 && root[0] == '/');
}
