/* Tests of json.c: writer escapes and commas, strict parser, depth limit. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "util.h"

static void
test_writer(void **state)
{
	struct buf b;
	struct json_writer w;

	buf_init(&b);
	json_writer_init(&w, &b);
	json_obj_begin(&w);
	json_kv_str(&w, "type", "queue");
	json_kv_int(&w, "id", -42);
	json_kv_bool(&w, "held", 1);
	json_key(&w, "rcpts");
	json_arr_begin(&w);
	json_str(&w, "a@b");
	json_int(&w, INT64_MAX);
	json_null(&w);
	json_obj_begin(&w);
	json_obj_end(&w);
	json_arr_begin(&w);
	json_arr_end(&w);
	json_bool(&w, 0);
	json_arr_end(&w);
	json_key(&w, "none");
	json_str(&w, NULL);
	json_key(&w, "d");
	json_double(&w, 0.5);
	json_obj_end(&w);
	assert_int_equal(w.depth, 0);
	assert_string_equal(b.data, "{\"type\":\"queue\",\"id\":-42,\"held\":true,"
	    "\"rcpts\":[\"a@b\",9223372036854775807,null,{},[],false],"
	    "\"none\":null,\"d\":0.5}");
	buf_free(&b);
}

static void
test_escapes(void **state)
{
	struct buf b;

	buf_init(&b);
	json_escape(&b, "q\"b\\n\nr\rt\tc\x01\x1f\x7f/", 15);
	assert_string_equal(b.data,
	    "\"q\\\"b\\\\n\\nr\\rt\\tc\\u0001\\u001f\\u007f/\"");
	buf_reset(&b);
	/* NUL inside, valid UTF-8 kept, invalid bytes become U+FFFD. */
	json_escape(&b, "a\0b", 3);
	assert_string_equal(b.data, "\"a\\u0000b\"");
	buf_reset(&b);
	json_escape(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa8", 9);
	assert_string_equal(b.data, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa8\"");
	buf_reset(&b);
	json_escape(&b, "x\xffy\xc3", 4);
	assert_string_equal(b.data, "\"x\xef\xbf\xbdy\xef\xbf\xbd\"");
	buf_reset(&b);
	/* Overlong '/' and a UTF-8 encoded surrogate are not valid UTF-8. */
	json_escape(&b, "\xc0\xaf\xed\xa0\x80", 5);
	assert_string_equal(b.data, "\"\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	buf_free(&b);
}

static struct json_value *
parse_ok(const char *s)
{
	char *err = NULL;
	struct json_value *v = json_parse(s, strlen(s), &err);

	if (v == NULL)
		fail_msg("'%s': %s", s, err);
	return v;
}

static void
parse_bad(const char *s, size_t len, const char *errpart)
{
	char *err = NULL;
	struct json_value *v = json_parse(s, len, &err);

	if (v != NULL)
		fail_msg("'%s' accepted", s);
	assert_non_null(err);
	if (errpart != NULL && strstr(err, errpart) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", s, err, errpart);
	free(err);
}

static void
test_parse(void **state)
{
	struct json_value *v;
	const struct json_value *m;

	v = parse_ok(" {\"id\": 7, \"cmd\":\"list\", \"args\":[1, -2.5e1, true,"
	    " null, \"x\", {\"k\": []}], \"f\": false, \"big\": 1e3}\n");
	assert_int_equal(v->type, JSON_OBJECT);
	assert_int_equal(json_get_int(v, "id", -1), 7);
	assert_string_equal(json_get_str(v, "cmd"), "list");
	assert_null(json_get_str(v, "id"));
	assert_int_equal(json_get_int(v, "cmd", -1), -1);
	assert_int_equal(json_get_bool(v, "f", 1), 0);
	assert_int_equal(json_get_bool(v, "missing", 1), 1);
	assert_int_equal(json_get_int(v, "big", 0), 1000);
	m = json_get(v, "args");
	assert_non_null(m);
	assert_int_equal(m->type, JSON_ARRAY);
	assert_int_equal(m->n, 6);
	assert_int_equal(m->items[0]->i, 1);
	assert_true(m->items[1]->d == -25.0);
	assert_int_equal(m->items[2]->type, JSON_BOOL);
	assert_int_equal(m->items[3]->type, JSON_NULL);
	assert_string_equal(m->items[4]->s, "x");
	assert_int_equal(json_get(m->items[5], "k")->n, 0);
	assert_null(json_get(m, "k"));
	json_free(v);

	v = parse_ok("\"\\u00e9\\u20ac\\ud83d\\udce8\\u0000z\\/\\b\\f\"");
	assert_int_equal(v->type, JSON_STRING);
	assert_int_equal(v->slen, 14);
	assert_memory_equal(v->s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa8\0z/\b\f",
	    14);
	json_free(v);

	v = parse_ok("-9223372036854775808");
	assert_true(v->is_int);
	assert_true(v->i == INT64_MIN);
	json_free(v);
	v = parse_ok("99999999999999999999");
	assert_false(v->is_int);
	assert_true(v->d > 9e19);
	json_free(v);
	v = parse_ok("0.25");
	assert_false(v->is_int);
	json_free(v);
	/* Duplicate keys: the last one wins. */
	v = parse_ok("{\"a\":1,\"a\":2}");
	assert_int_equal(json_get_int(v, "a", 0), 2);
	json_free(v);
}

static void
test_malformed(void **state)
{
	parse_bad("", 0, "unexpected end");
	parse_bad("   ", 3, "unexpected end");
	parse_bad("{", 1, NULL);
	parse_bad("{\"a\"}", 5, "expected ':'");
	parse_bad("{\"a\":1,}", 8, NULL);
	parse_bad("[1,]", 4, NULL);
	parse_bad("[1 2]", 5, "expected ',' or ']'");
	parse_bad("{a:1}", 5, "expected a key");
	parse_bad("{} x", 4, "trailing");
	parse_bad("{}{}", 4, "trailing");
	parse_bad("tru", 3, NULL);
	parse_bad("nul", 3, NULL);
	parse_bad("01", 2, "trailing");
	parse_bad("+1", 2, "bad number");
	parse_bad("1.", 2, "bad number");
	parse_bad(".5", 2, "bad number");
	parse_bad("1e", 2, "bad number");
	parse_bad("0x10", 4, "trailing");
	parse_bad("NaN", 3, NULL);
	parse_bad("\"abc", 4, "unterminated");
	parse_bad("\"a\nb\"", 5, "control character");
	parse_bad("\"\\x\"", 4, "bad escape");
	parse_bad("\"\\u12\"", 6, "bad \\u");
	parse_bad("\"\\ud800\"", 8, "surrogate");
	parse_bad("\"\\udc00\"", 8, "surrogate");
	parse_bad("\"\\ud800\\u0041\"", 14, "surrogate");
	parse_bad("\"\xff\"", 3, "invalid UTF-8");
	parse_bad("\"\xc3\"", 3, "invalid UTF-8");
	/* An embedded NUL ends nothing: it is a stray byte. */
	parse_bad("{}\0", 3, "trailing");
	/* The column points at the problem. */
	parse_bad("[1, @]", 6, "column 5");
}

static void
test_depth(void **state)
{
	char s[2 * JSON_MAX_DEPTH + 3];
	struct json_value *v;
	char *err = NULL;
	int i;

	for (i = 0; i < JSON_MAX_DEPTH; i++) {
		s[i] = '[';
		s[2 * JSON_MAX_DEPTH - 1 - i] = ']';
	}
	v = json_parse(s, 2 * JSON_MAX_DEPTH, &err);
	assert_non_null(v);
	json_free(v);

	memset(s, '[', JSON_MAX_DEPTH + 1);
	memset(s + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	parse_bad(s, 2 * JSON_MAX_DEPTH + 2, "nesting too deep");

	/* A hostile line of 100000 '[' fails cleanly, not by stack overflow. */
	{
		size_t n = 100000;
		char *big = xmalloc(n);

		memset(big, '[', n);
		v = json_parse(big, n, &err);
		assert_null(v);
		free(err);
		free(big);
	}
}

static void
test_round_trip(void **state)
{
	struct buf b;
	struct json_writer w;
	struct json_value *v;
	const char *nasty = "line1\nline2 \"q\" \\ \x01 \xe6\x97\xa5\xff end";
	char *err = NULL;
	const struct json_value *arr;

	buf_init(&b);
	json_writer_init(&w, &b);
	json_obj_begin(&w);
	json_kv_str(&w, "text", nasty);
	json_key(&w, "nums");
	json_arr_begin(&w);
	json_int(&w, INT64_MIN);
	json_double(&w, 1.0 / 3.0);
	json_double(&w, 1e300 * 1e300);
	json_arr_end(&w);
	json_obj_end(&w);
	/* One object is one line. */
	assert_null(memchr(b.data, '\n', b.len));
	v = json_parse(b.data, b.len, &err);
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "text"),
	    "line1\nline2 \"q\" \\ \x01 \xe6\x97\xa5\xef\xbf\xbd end");
	arr = json_get(v, "nums");
	assert_true(arr->items[0]->i == INT64_MIN);
	assert_true(arr->items[1]->d == 1.0 / 3.0);
	assert_int_equal(arr->items[2]->type, JSON_NULL);
	json_free(v);
	buf_free(&b);
}

/* Integers read by hand must equal what strtoll/strtod give. */
static void
test_numbers(void **state)
{
	struct json_value *v;
	const struct json_value *a;

	(void)state;
	v = parse_ok("[0,-0,7,-12,999999999999999999,-999999999999999999,"
	    "9223372036854775807,-9223372036854775808,"
	    "9223372036854775808,1e2,2.5]");
	a = v;
	assert_int_equal(a->n, 11);
	assert_true(a->items[0]->is_int && a->items[0]->i == 0);
	assert_true(a->items[1]->is_int && a->items[1]->i == 0);
	assert_true(signbit(a->items[1]->d));
	assert_true(a->items[2]->i == 7 && a->items[2]->d == 7.0);
	assert_true(a->items[3]->i == -12 && a->items[3]->d == -12.0);
	assert_true(a->items[4]->i == 999999999999999999LL);
	assert_true(a->items[4]->d == 999999999999999999.0);
	assert_true(a->items[5]->i == -999999999999999999LL);
	assert_true(a->items[6]->is_int && a->items[6]->i == INT64_MAX);
	assert_true(a->items[7]->is_int && a->items[7]->i == INT64_MIN);
	/* Past int64: a double only. */
	assert_false(a->items[8]->is_int);
	assert_true(a->items[8]->d == 9223372036854775808.0);
	assert_true(a->items[9]->is_int && a->items[9]->i == 100);
	assert_false(a->items[10]->is_int);
	json_free(v);
}

/* A stream of values, one at a time, as the console takes a snapshot. */
static void
test_prefix(void **state)
{
	static const char s[] = "{\"a\":[1,2,3,4,5,6,7,8,9]} ,{\"b\":\"x\\\"y\"}]";
	struct json_value *v;
	size_t used = 0, pos;
	char *err = NULL;

	(void)state;
	v = json_parse_prefix(s, sizeof(s) - 1, &used, &err);
	assert_non_null(v);
	assert_int_equal(used, 25);
	assert_int_equal(json_get(v, "a")->n, 9);
	assert_true(json_get(v, "a")->items[8]->i == 9);
	json_free(v);
	pos = used + 2;
	v = json_parse_prefix(s + pos, sizeof(s) - 1 - pos, &used, &err);
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "b"), "x\"y");
	assert_int_equal(s[pos + used], ']');
	json_free(v);
	/* What follows is not looked at, but the value must be whole. */
	v = json_parse_prefix("{\"a\":1", 6, &used, &err);
	assert_null(v);
	assert_non_null(err);
	free(err);
}

/* Documents parsed into an arena: the same trees, freed all at once. */
static void
test_arena(void **state)
{
	static const char s[] = "{\"k\":\"a\\u00e9\\n\",\"n\":[1,2,3,4,5,"
	    "6,7,8,9,10],\"o\":{\"x\":null,\"\":\"\"}} [true,\"";
	struct json_arena *a = json_arena_new();
	struct json_value *v;
	size_t used, i;
	char *err = NULL;

	(void)state;
	for (i = 0; i < 3000; i++) {
		json_arena_reset(a);
		v = json_parse_prefix_in(a, s, sizeof(s) - 1, &used, &err);
		assert_non_null(v);
		assert_int_equal(s[used], ' ');
		assert_string_equal(json_get_str(v, "k"), "a\xc3\xa9\n");
		assert_int_equal(json_get(v, "k")->slen, 4);
		assert_int_equal(json_get(v, "n")->n, 10);
		assert_true(json_get(v, "n")->items[9]->i == 10);
		assert_int_equal(json_get(json_get(v, "o"), "x")->type,
		    JSON_NULL);
		assert_string_equal(json_get_str(json_get(v, "o"), ""), "");
	}
	/* An error leaves nothing to free but the arena. */
	v = json_parse_prefix_in(a, s + used + 1, sizeof(s) - used - 2,
	    &used, &err);
	assert_null(v);
	assert_non_null(strstr(err, "unterminated string"));
	free(err);
	json_arena_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
