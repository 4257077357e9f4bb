/*
 * test_confine.c - the path rules of the server directories (confine.c)
 *
 * These two predicates are the security boundary of stage_server_file()
 * and of the Parquet archive: a path with a ".." component is refused
 * outright, and a resolved path must be the root or lie below it -- a
 * sibling sharing the root's prefix is outside.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/confine.h"

static void
test_dotdot_components(void **state)
{
	/* a ".." component anywhere */
	assert_true(me_path_has_dotdot(".."));
	assert_true(me_path_has_dotdot("../x"));
	assert_true(me_path_has_dotdot("a/.."));
	assert_true(me_path_has_dotdot("a/../b"));
	assert_true(me_path_has_dotdot("/srv/inbox/../../etc/passwd"));
	assert_true(me_path_has_dotdot("a//../b"));
	/* two dots inside a name are a name */
	assert_false(me_path_has_dotdot("a..b"));
	assert_false(me_path_has_dotdot("..a"));
	assert_false(me_path_has_dotdot("a.."));
	assert_false(me_path_has_dotdot("a/...b/c"));
	assert_false(me_path_has_dotdot("..."));
	assert_false(me_path_has_dotdot("v1..2/file.csv"));
	assert_false(me_path_has_dotdot("."));
	assert_false(me_path_has_dotdot("./a"));
	assert_false(me_path_has_dotdot(""));
	/* a later ".." is found after an earlier harmless one */
	assert_true(me_path_has_dotdot("a..b/../c"));
}

static void
test_inside_root(void **state)
{
	assert_true(me_path_inside("/srv/inbox", "/srv/inbox"));
	assert_true(me_path_inside("/srv/inbox/a.csv", "/srv/inbox"));
	assert_true(me_path_inside("/srv/inbox/sub/a.csv", "/srv/inbox"));
	/* a sibling with the same prefix is outside */
	assert_false(me_path_inside("/srv/inbox2/a.csv", "/srv/inbox"));
	assert_false(me_path_inside("/srv/inboxes", "/srv/inbox"));
	/* above or beside the root */
	assert_false(me_path_inside("/srv", "/srv/inbox"));
	assert_false(me_path_inside("/etc/passwd", "/srv/inbox"));
	assert_false(me_path_inside("", "/srv/inbox"));
	/* the file system root contains everything */
	assert_true(me_path_inside("/", "/"));
	assert_true(me_path_inside("/etc/passwd", "/"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dotdot_components),
		cmocka_unit_test(test_inside_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
