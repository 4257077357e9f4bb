/*
 * test_svg_chart.c - cmocka unit tests of the report's pure parts: the text
 * buffer (me_str.c) and the SVG charts (svg_chart.c).  A chart is checked
 * by what a reader and the browser test rely on: the series and points it
 * says it drew, breaks at NaN, stacked totals on the axis, escaping of
 * every caller's text, and refusal of arguments that make no chart.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/report/me_str.h"
#include "core/report/svg_chart.h"

/* Occurrences of needle in hay. */
static int
count(const char *hay, const char *needle)
{
	int			n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static MeChart
base_chart(const MeSeries *s, size_t n)
{
	MeChart		c = {0};

	c.title = "t";
	c.y_label = "kW";
	c.width = 400;
	c.height = 200;
	c.x_min = 0;
	c.x_max = 10;
	c.series = s;
	c.n_series = n;
	return c;
}

static void
test_str_grows_and_escapes(void **state)
{
	MeStr		s;
	char		big[1000];

	me_str_init(&s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	me_str_printf(&s, "%s|%d", big, 42);
	assert_int_equal(s.len, 999 + 3);
	assert_string_equal(s.data + 999, "|42");
	me_str_free(&s);
	me_str_escape(&s, "a<b & \"c\" 'd'>");
	assert_string_equal(s.data, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
	assert_false(s.oom);
	me_str_free(&s);
	me_str_printf(&s, "%s", "");
	assert_int_equal(s.len, 0);
	assert_string_equal(s.data, "");
	me_str_free(&s);
}

static void
test_nice_step(void **state)
{
	assert_true(me_nice_step(0, 10, 5) == 2);
	assert_true(me_nice_step(0, 1, 5) == 0.2);
	assert_true(me_nice_step(0, 7, 5) == 1);
	assert_true(fabs(me_nice_step(0, 0.03, 5) - 0.005) < 1e-12);
	assert_true(me_nice_step(0, 3000, 5) == 500);
	assert_true(me_nice_step(0, 0, 5) == 1);	/* no range: a unit step */
	assert_true(me_nice_step(5, 1, 5) == 1);
	assert_true(me_nice_step(0, NAN, 5) == 1);
}

static void
test_refuses_what_makes_no_chart(void **state)
{
	double		x[] = {1, 2},
				y[] = {1, 2},
				x2[] = {1, 3};
	MeSeries	bad = {"s", NULL, ME_SERIES_LINE, NULL, y, NULL, 2};
	MeSeries	bars[] = {{"a", NULL, ME_SERIES_BARS, x, y, NULL, 2},
	{"b", NULL, ME_SERIES_BARS, x2, y, NULL, 2}};
	MeStr		s;
	MeChart		c;

	me_str_init(&s);
	assert_int_equal(me_svg_chart(&s, NULL), ME_CHART_INVALID);
	c = base_chart(NULL, 0);
	c.x_max = c.x_min;
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_INVALID);
	c = base_chart(NULL, 0);
	c.x_max = NAN;
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_INVALID);
	c = base_chart(NULL, 0);
	c.width = 10;
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_INVALID);
	c = base_chart(NULL, 1);	/* a series count without series */
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_INVALID);
	c = base_chart(&bad, 1);
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_INVALID);
	c = base_chart(bars, 2);
	c.stacked = true;			/* stacked bars on different x */
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_INVALID);
	assert_int_equal(s.len, 0);	/* nothing written on a refusal */
	c.stacked = false;
	assert_int_equal(me_svg_chart(&s, &c), ME_CHART_OK);
	me_str_free(&s);
}

static void
test_line_breaks_at_nan(void **state)
{
	double		x[] = {0, 1, 2, 3, 4, 5};
	double		y[] = {1, 2, NAN, 3, 4, 5};
	MeSeries	s = {"load", "#123456", ME_SERIES_LINE, x, y, NULL, 6};
	MeChart		c = base_chart(&s, 1);
	MeStr		o;

	me_str_init(&o);
	assert_int_equal(me_svg_chart(&o, &c), ME_CHART_OK);
	assert_int_equal(count(o.data, "<polyline"), 2);
	assert_non_null(strstr(o.data, "data-series=\"1\""));
	assert_non_null(strstr(o.data, "data-kind=\"line\" data-points=\"5\" data-name=\"load\""));
	assert_non_null(strstr(o.data, "stroke=\"#123456\""));
	assert_int_equal(count(o.data, "<svg"), 1);
	assert_int_equal(count(o.data, "</svg>"), 1);
	me_str_free(&o);
}

static void
test_stacked_bars_axis_holds_the_total(void **state)
{
	double		x[] = {0, 5};
	double		a[] = {3, 1};
	double		b[] = {4, 1};
	MeSeries	s[] = {{"a", "red", ME_SERIES_BARS, x, a, NULL, 2},
	{"b", "blue", ME_SERIES_BARS, x, b, NULL, 2}};
	MeChart		c = base_chart(s, 2);
	MeStr		o;

	c.stacked = true;
	c.bar_width = 1;
	me_str_init(&o);
	assert_int_equal(me_svg_chart(&o, &c), ME_CHART_OK);
	assert_int_equal(count(o.data, "<rect class=\"me-bar\""), 4);
	/* 3 + 4 = 7 is the tallest stack: ticks 0..7 by 1 */
	assert_non_null(strstr(o.data, ">7</text>"));
	assert_null(strstr(o.data, ">8</text>"));
	me_str_free(&o);
	c.stacked = false;			/* side by side: the axis needs only 4 */
	me_str_init(&o);
	assert_int_equal(me_svg_chart(&o, &c), ME_CHART_OK);
	assert_non_null(strstr(o.data, ">4</text>"));
	assert_null(strstr(o.data, ">7</text>"));
	me_str_free(&o);
}

static void
test_text_is_escaped(void **state)
{
	double		x[] = {2},
				y[] = {1};
	const char *lab[] = {"peak <b>&</b>"};
	MeSeries	s = {"a\"b", "red", ME_SERIES_POINTS, x, y, lab, 1};
	MeTick		t[] = {{1, "Mon <1>"}, {20, "outside"}};
	MeBand		band[] = {{3, 4, "stuck & zero", NULL}, {11, 12, "outside", NULL}};
	MeChart		c = base_chart(&s, 1);
	MeStr		o;

	c.title = "<script>alert(1)</script>";
	c.id = "x\"y";
	c.x_ticks = t;
	c.n_x_ticks = 2;
	c.bands = band;
	c.n_bands = 2;
	me_str_init(&o);
	assert_int_equal(me_svg_chart(&o, &c), ME_CHART_OK);
	assert_null(strstr(o.data, "<script>"));
	assert_non_null(strstr(o.data, "&lt;script&gt;"));
	assert_non_null(strstr(o.data, "id=\"x&quot;y\""));
	assert_non_null(strstr(o.data, "<title>peak &lt;b&gt;&amp;&lt;/b&gt;</title>"));
	assert_non_null(strstr(o.data, "Mon &lt;1&gt;"));
	assert_null(strstr(o.data, "outside"));	/* ticks and bands outside x are left out */
	assert_int_equal(count(o.data, "<rect class=\"me-band\""), 1);
	assert_non_null(strstr(o.data, "<title>stuck &amp; zero</title>"));
	me_str_free(&o);
}

static void
test_empty_chart_draws_axes(void **state)
{
	MeChart		c = base_chart(NULL, 0);
	MeStr		o;

	me_str_init(&o);
	assert_int_equal(me_svg_chart(&o, &c), ME_CHART_OK);
	assert_non_null(strstr(o.data, "data-series=\"0\""));
	assert_non_null(strstr(o.data, ">1.0</text>"));	/* a unit y axis by 0.2 */
	assert_int_equal(count(o.data, "me-series"), 0);
	me_str_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_grows_and_escapes),
		cmocka_unit_test(test_nice_step),
		cmocka_unit_test(test_refuses_what_makes_no_chart),
		cmocka_unit_test(test_line_breaks_at_nan),
		cmocka_unit_test(test_stacked_bars_axis_holds_the_total),
		cmocka_unit_test(test_text_is_escaped),
		cmocka_unit_test(test_empty_chart_draws_axes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
