/* Tests of util.c: buffers, durations, sizes, atomic file writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "util.h"

static void
test_buf(void **state)
{
	struct buf	 b;
	char		*s;
	int		 i;

	buf_init(&b);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	buf_consume(&b, 2);
	assert_memory_equal(b.data, "1,2,", 4);
	buf_consume(&b, b.len + 5);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_addstr(&b, "abc");
	s = buf_take(&b);
	assert_string_equal(s, "abc");
	assert_null(b.data);
	free(s);
	buf_free(&b);
}

static void
test_duration(void **state)
{
	int64_t		 v;
	const char	*err;

	assert_int_equal(parse_duration("30", &v, &err), 0);
	assert_int_equal(v, 30);
	assert_int_equal(parse_duration("5m", &v, &err), 0);
	assert_int_equal(v, 300);
	assert_int_equal(parse_duration("2h", &v, &err), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(parse_duration("5d", &v, &err), 0);
	assert_int_equal(v, 432000);
	assert_int_equal(parse_duration("5x", &v, &err), -1);
	assert_string_equal(err, "unknown unit");
	assert_int_equal(parse_duration("", &v, &err), -1);
	assert_int_equal(parse_duration("-1", &v, &err), -1);
	assert_int_equal(parse_duration("99999999999999999999", &v, &err), -1);
}

static void
test_size(void **state)
{
	int64_t		 v;
	const char	*err;

	assert_int_equal(parse_size("10M", &v, &err), 0);
	assert_int_equal(v, 10 * 1024 * 1024);
	assert_int_equal(parse_size("512k", &v, &err), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(parse_size("1024", &v, &err), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(parse_size("1MB", &v, &err), -1);
}

static void
test_format_duration(void **state)
{
	char	 s[32];

	format_duration(12, s, sizeof s);
	assert_string_equal(s, "12s");
	format_duration(3 * 86400 + 4 * 3600, s, sizeof s);
	assert_string_equal(s, "3d4h");
}

static void
test_case(void **state)
{
	char	 s[] = "MiXeD.Example.ORG";

	assert_int_equal(ascii_strcasecmp("ABC", "abc"), 0);
	assert_true(ascii_strcasecmp("abd", "abc") > 0);
	assert_int_equal(ascii_strncasecmp("HELO x", "helo", 4), 0);
	ascii_lower(s);
	assert_string_equal(s, "mixed.example.org");
	assert_true(ascii_contains("Host MX.example.NET said", "mx.example.net"));
	assert_true(ascii_contains("held", "held"));
	assert_true(ascii_contains("xxHELD", "held"));
	assert_true(ascii_contains("4.7.1 Greylisted", "4.7.1"));
	assert_false(ascii_contains("hel", "held"));
	assert_false(ascii_contains("", "a"));
	assert_false(ascii_contains("h h h hel", "held"));
}

static void
test_write_file_atomic(void **state)
{
	char		 dir[] = "/tmp/hk-util-XXXXXX";
	char		*path, *got;
	size_t		 len;
	struct stat	 st;

	assert_non_null(mkdtemp(dir));
	xasprintf(&path, "%s/file", dir);
	assert_int_equal(write_file_atomic(path, "one\n", 4, 0640), 0);
	assert_int_equal(write_file_atomic(path, "two\n", 4, 0640), 0);
	got = read_file(path, &len);
	assert_non_null(got);
	assert_int_equal(len, 4);
	assert_string_equal(got, "two\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(got);
	unlink(path);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_write_file_atomic),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
