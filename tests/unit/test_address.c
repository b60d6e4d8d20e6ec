/*
 * Tests of address.c: canonical forms and every relay trick that must be
 * refused (DESIGN §12 "Addresses").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "address.h"
#include "util.h"

/* Parse in and expect success with the given canonical form. */
static void
expect_ok(const char *in, const char *canon)
{
	struct address a;
	enum address_error why = ADDR_OK;
	char *s;

	if (address_parse(in, &a, &why) == -1)
		fail_msg("'%s' refused: %s", in, address_strerror(why));
	s = address_format(&a);
	if (strcmp(s, canon) != 0)
		fail_msg("'%s' gave '%s', want '%s'", in, s, canon);
	free(s);
	address_free(&a);
}

static void
expect_err(const char *in, enum address_error want)
{
	struct address a;
	enum address_error why = ADDR_OK;

	if (address_parse(in, &a, &why) == 0) {
		char *s = address_format(&a);

		fail_msg("'%s' accepted as '%s'", in, s);
	}
	if (why != want)
		fail_msg("'%s': got '%s', want '%s'", in, address_strerror(why),
		    address_strerror(want));
	assert_null(a.local);
	assert_null(a.domain);
}

static void
test_plain(void **state)
{
	expect_ok("<a@b.example>", "a@b.example");
	expect_ok("a@b.example", "a@b.example");
	expect_ok("  <a@b.example>  ", "a@b.example");
	/* Postfix tolerates spaces just inside the brackets; so do we. */
	expect_ok("< a@b.example >", "a@b.example");
	expect_ok("first.last+tag@sub.b.example", "first.last+tag@sub.b.example");
	expect_ok("o'brien@b.example", "o'brien@b.example");
	/* RFC 5321 makes <postmaster> valid without a domain. */
	expect_ok("<postmaster>", "postmaster");
	expect_ok("root", "root");
	expect_err("<a @b.example>", ADDR_SYNTAX);
	expect_err("<a@b.example", ADDR_SYNTAX);
	expect_err("<a@b.example>x", ADDR_SYNTAX);
	expect_err("a@b.example extra", ADDR_SYNTAX);
	expect_err("Joe <a@b.example>", ADDR_SYNTAX);
	expect_err("", ADDR_SYNTAX);
	expect_err("a@", ADDR_SYNTAX);
	expect_err("@", ADDR_SOURCE_ROUTE);
	expect_err("a(comment)@b.example", ADDR_SYNTAX);
	expect_err("a\x01@b.example", ADDR_SYNTAX);
	expect_err("a@b@c.example", ADDR_BAD_DOMAIN);
}

static void
test_case_and_dots(void **state)
{
	struct address a;
	enum address_error why;

	/* Domains are lower-cased, local parts keep their case. */
	expect_ok("<John.Doe@Example.COM>", "John.Doe@example.com");
	expect_ok("a@example.com.", "a@example.com");
	expect_ok("a@example.com..", "a@example.com");
	expect_err("a@.", ADDR_BAD_DOMAIN);
	expect_err("a@example..com", ADDR_BAD_DOMAIN);
	expect_err("a@-bad.example", ADDR_BAD_DOMAIN);
	expect_err("a@bad-.example", ADDR_BAD_DOMAIN);
	expect_err("a@under_score.example", ADDR_BAD_DOMAIN);
	/* A dotted quad without brackets must not slip past the literal check. */
	expect_err("a@192.0.2.1", ADDR_BAD_DOMAIN);
	/* Dots out of place are kept and written quoted, as Postfix does. */
	expect_ok("john..doe@docomo.ne.jp", "\"john..doe\"@docomo.ne.jp");
	expect_ok("john.@docomo.ne.jp", "\"john.\"@docomo.ne.jp");
	assert_int_equal(address_parse("john..doe@x.example", &a, &why), 0);
	assert_string_equal(a.local, "john..doe");
	assert_int_equal(a.quoted_local, 1);
	address_free(&a);

	assert_true(address_domain_eq("Example.COM", "example.com."));
	assert_true(address_domain_eq("a.example.", "A.EXAMPLE"));
	assert_false(address_domain_eq("a.example", "b.example"));
	assert_false(address_domain_eq("a.example", "a.example.com"));
	assert_false(address_domain_eq("a.example", NULL));
	assert_true(address_domain_eq(NULL, NULL));
}

static void
test_routing_tricks(void **state)
{
	/* The percent hack: user%remote@local would relay through us. */
	expect_err("user%remote.example@local.example", ADDR_ROUTING);
	expect_err("<user%remote.example@local.example>", ADDR_ROUTING);
	/* UUCP bang paths. */
	expect_err("remote.example!user@local.example", ADDR_ROUTING);
	expect_err("remote!user", ADDR_ROUTING);
	expect_err("user%remote", ADDR_ROUTING);
	/* Quoted local parts that hide a route. */
	expect_err("\"user@remote.example\"@local.example", ADDR_QUOTED_SPECIAL);
	expect_err("\"user%remote.example\"@local.example", ADDR_QUOTED_SPECIAL);
	expect_err("\"remote!user\"@local.example", ADDR_QUOTED_SPECIAL);
	expect_err("\"user\\@remote\"@local.example", ADDR_QUOTED_SPECIAL);
	/* Source routes. */
	expect_err("<@a.example,@b.example:user@c.example>", ADDR_SOURCE_ROUTE);
	expect_err("<@a.example:user@c.example>", ADDR_SOURCE_ROUTE);
	expect_err("@a.example:user@c.example", ADDR_SOURCE_ROUTE);
}

static void
test_quoted(void **state)
{
	struct address a;
	enum address_error why;

	/* Quoting that changes nothing is dropped. */
	expect_ok("\"abc\"@x.example", "abc@x.example");
	expect_ok("\"a b\"@x.example", "\"a b\"@x.example");
	expect_ok("\"a\\\"b\"@x.example", "\"a\\\"b\"@x.example");
	expect_ok("\"a\\\\b\"@x.example", "\"a\\\\b\"@x.example");
	/* '>' inside quotes does not end the path. */
	expect_ok("<\"a>b\"@x.example>", "\"a>b\"@x.example");
	/* A quoted space does not end an unbracketed path. */
	assert_int_equal(address_parse("\"a b\"@x.example", &a, &why), 0);
	assert_string_equal(a.local, "a b");
	assert_int_equal(a.quoted_local, 1);
	address_free(&a);
	expect_err("\"abc@x.example", ADDR_SYNTAX);
	expect_err("\"a\"b@x.example", ADDR_SYNTAX);
	expect_err("\"a\tb\"@x.example", ADDR_SYNTAX);
}

static int
ours(const char *lit, void *arg)
{
	(*(int *)arg)++;
	return strcmp(lit, "192.0.2.1") == 0 || strcmp(lit, "2001:db8::1") == 0;
}

static void
expect_lit(const char *in, int want_ok, const char *canon,
    enum address_error want)
{
	struct address a;
	enum address_error why = ADDR_OK;
	const char *rest;
	int calls = 0, r;

	r = address_parse_path(in, 0, ours, &calls, &a, &rest, &why);
	if (want_ok) {
		char *s;

		if (r == -1)
			fail_msg("'%s' refused: %s", in, address_strerror(why));
		s = address_format(&a);
		assert_string_equal(s, canon);
		free(s);
		address_free(&a);
	} else {
		assert_int_equal(r, -1);
		if (why != want)
			fail_msg("'%s': got '%s'", in, address_strerror(why));
	}
}

static void
test_literals(void **state)
{
	/* Without a predicate no literal is ours. */
	expect_err("<postmaster@[192.0.2.1]>", ADDR_IP_LITERAL);
	expect_err("<postmaster@[IPv6:2001:db8::1]>", ADDR_IP_LITERAL);
	expect_lit("<postmaster@[192.0.2.1]>", 1, "postmaster@[192.0.2.1]", 0);
	expect_lit("<u@[IPv6:2001:DB8:0::1]>", 1, "u@[IPv6:2001:db8::1]", 0);
	expect_lit("<u@[ipv6:2001:db8::1]>", 1, "u@[IPv6:2001:db8::1]", 0);
	expect_lit("<u@[192.0.2.2]>", 0, NULL, ADDR_IP_LITERAL);
	expect_lit("<u@[IPv6:2001:db8::2]>", 0, NULL, ADDR_IP_LITERAL);
	/* General literals are never ours. */
	expect_lit("<u@[x400:whatever]>", 0, NULL, ADDR_IP_LITERAL);
	expect_lit("<u@[192.0.2.300]>", 0, NULL, ADDR_BAD_DOMAIN);
	expect_lit("<u@[192.0.2.1>", 0, NULL, ADDR_BAD_DOMAIN);
	expect_lit("<u@[]>", 0, NULL, ADDR_BAD_DOMAIN);
	expect_lit("<u%x@[192.0.2.1]>", 0, NULL, ADDR_ROUTING);
}

static void
test_utf8(void **state)
{
	struct address a;
	enum address_error why;

	/* IDN to A-labels; the upper-case U-label maps too. */
	expect_ok("<user@bücher.example>", "user@xn--bcher-kva.example");
	expect_ok("<user@BÜCHER.Example.>", "user@xn--bcher-kva.example");
	expect_ok("<user@XN--BCHER-KVA.example>", "user@xn--bcher-kva.example");
	assert_int_equal(address_parse("user@bücher.example", &a, &why), 0);
	assert_int_equal(a.utf8, 0);		/* the envelope is ASCII now */
	assert_int_equal(a.input_utf8, 1);	/* but MAIL needed SMTPUTF8 */
	address_free(&a);

	/* UTF-8 local parts are kept as they are and need SMTPUTF8. */
	assert_int_equal(address_parse("<用户@例子.example>", &a, &why), 0);
	assert_string_equal(a.local, "用户");
	assert_string_equal(a.domain, "xn--fsqu00a.example");
	assert_int_equal(a.utf8, 1);
	assert_int_equal(a.quoted_local, 0);
	address_free(&a);
	expect_ok("\"J\xc3\xb6rg S\"@x.example", "\"J\xc3\xb6rg S\"@x.example");

	/* Invalid UTF-8: stray bytes, overlongs, surrogates. */
	expect_err("a\xff@x.example", ADDR_SYNTAX);
	expect_err("a\xc0\xaf@x.example", ADDR_SYNTAX);
	expect_err("a\xed\xa0\x80@x.example", ADDR_SYNTAX);
	expect_err("a@x\xff.example", ADDR_IDN);
	expect_err("\"a\xff\"@x.example", ADDR_SYNTAX);
}

static void
test_lengths(void **state)
{
	char local[80], label[80], path[400];

	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(path, sizeof(path), "%s@x.example", local);
	expect_ok(path, path);
	memset(local, 'l', 65);
	local[65] = '\0';
	snprintf(path, sizeof(path), "<%s@x.example>", local);
	expect_err(path, ADDR_TOO_LONG);

	/* A 64-octet label is one too many. */
	memset(label, 'd', 64);
	label[64] = '\0';
	snprintf(path, sizeof(path), "a@%s.example", label);
	expect_err(path, ADDR_BAD_DOMAIN);
}

static void
test_path_limit(void **state)
{
	char label[64], path[600];
	struct buf b;
	enum address_error why;
	char *d = NULL;

	memset(label, 'd', 63);
	label[63] = '\0';
	buf_init(&b);
	buf_printf(&b, "%s.%s.%s.%s", label, label, label, label);
	assert_int_equal(address_canon_domain(b.data, &d, &why), 0);
	assert_int_equal(strlen(d), 255);
	free(d);
	buf_addstr(&b, "x");
	assert_int_equal(address_canon_domain(b.data, &d, &why), -1);
	assert_int_equal(why, ADDR_TOO_LONG);
	assert_null(d);

	/* 250 + "a@" + "<>" = 254 octets: fine; 3 more is past 256. */
	buf_reset(&b);
	buf_printf(&b, "%s.%s.%s.%.58s", label, label, label, label);
	assert_int_equal(b.len, 250);
	snprintf(path, sizeof(path), "a@%s", b.data);
	expect_ok(path, path);
	snprintf(path, sizeof(path), "<abcd@%s>", b.data);
	expect_err(path, ADDR_TOO_LONG);
	buf_free(&b);
}

static void
test_null_and_params(void **state)
{
	struct address a;
	enum address_error why;
	const char *rest, *p;
	char *k, *v;

	assert_int_equal(address_parse_path("<>", 1, NULL, NULL, &a, &rest,
	    &why), 0);
	assert_true(address_is_null(&a));
	assert_string_equal(rest, "");
	k = address_format(&a);
	assert_string_equal(k, "");
	free(k);
	address_free(&a);
	assert_int_equal(address_parse_path("< >", 1, NULL, NULL, &a, &rest,
	    &why), 0);
	assert_true(address_is_null(&a));
	address_free(&a);
	/* RCPT TO:<> is never valid. */
	assert_int_equal(address_parse_path("<>", 0, NULL, NULL, &a, &rest,
	    &why), -1);
	assert_int_equal(why, ADDR_NULL);
	expect_err("<>", ADDR_NULL);

	assert_int_equal(address_parse_path(" <a@b.example> SIZE=1234 "
	    "body=8BITMIME  SMTPUTF8", 1, NULL, NULL, &a, &rest, &why), 0);
	assert_false(address_is_null(&a));
	assert_string_equal(rest, "SIZE=1234 body=8BITMIME  SMTPUTF8");
	address_free(&a);
	p = rest;
	assert_int_equal(address_next_param(&p, &k, &v), 1);
	assert_string_equal(k, "SIZE");
	assert_string_equal(v, "1234");
	free(k);
	free(v);
	assert_int_equal(address_next_param(&p, &k, &v), 1);
	assert_string_equal(k, "BODY");
	assert_string_equal(v, "8BITMIME");
	free(k);
	free(v);
	assert_int_equal(address_next_param(&p, &k, &v), 1);
	assert_string_equal(k, "SMTPUTF8");
	assert_string_equal(v, "");
	free(k);
	free(v);
	assert_int_equal(address_next_param(&p, &k, &v), 0);

	/* Postfix-style: no brackets, parameters still split off. */
	assert_int_equal(address_parse_path("a@b.example SIZE=5", 0, NULL,
	    NULL, &a, &rest, &why), 0);
	assert_string_equal(a.local, "a");
	assert_string_equal(rest, "SIZE=5");
	address_free(&a);
	/* Parameters need a space before them. */
	assert_int_equal(address_parse_path("<a@b.example>SIZE=5", 0, NULL,
	    NULL, &a, &rest, &why), -1);
	assert_int_equal(why, ADDR_SYNTAX);

	p = "SIZE= X=1";
	assert_int_equal(address_next_param(&p, &k, &v), -1);
	assert_string_equal(p, "SIZE= X=1");
	p = "-X=1";
	assert_int_equal(address_next_param(&p, &k, &v), -1);
	p = "A=b=c";
	assert_int_equal(address_next_param(&p, &k, &v), -1);
	p = "ORCPT=rfc822;a+2Bb@c.example";
	assert_int_equal(address_next_param(&p, &k, &v), 1);
	assert_string_equal(v, "rfc822;a+2Bb@c.example");
	free(k);
	free(v);
}

static void
test_complete(void **state)
{
	char *out;
	enum address_error why;

	assert_int_equal(address_complete("root", "host.example", NULL, &out,
	    &why), 0);
	assert_string_equal(out, "root@host.example");
	free(out);
	/* nullmailer: defaultdomain completes host names without a dot... */
	assert_int_equal(address_complete("root", "host", "example.org", &out,
	    &why), 0);
	assert_string_equal(out, "root@host.example.org");
	free(out);
	assert_int_equal(address_complete("bob@mailhost", "h.example",
	    "Example.ORG.", &out, &why), 0);
	assert_string_equal(out, "bob@mailhost.example.org");
	free(out);
	/* ...and leaves complete ones alone. */
	assert_int_equal(address_complete("<Bob@Other.Example>", "h",
	    "example.org", &out, &why), 0);
	assert_string_equal(out, "Bob@other.example");
	free(out);
	assert_int_equal(address_complete("bob@mailhost", "h", NULL, &out,
	    &why), 0);
	assert_string_equal(out, "bob@mailhost");
	free(out);
	assert_int_equal(address_complete("bob", NULL, NULL, &out, &why), 0);
	assert_string_equal(out, "bob");
	free(out);
	/* Completion never makes a relay trick acceptable. */
	assert_int_equal(address_complete("a%b", "h.example", NULL, &out,
	    &why), -1);
	assert_int_equal(why, ADDR_ROUTING);
	assert_null(out);
	assert_int_equal(address_complete("", "h.example", NULL, &out, &why),
	    -1);
}

static void
test_strerror(void **state)
{
	int e;

	for (e = ADDR_OK; e <= ADDR_NULL; e++)
		assert_non_null(address_strerror((enum address_error)e));
	assert_string_equal(address_strerror(ADDR_ROUTING),
	    "routing with % or ! in the local part is not allowed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_case_and_dots),
		cmocka_unit_test(test_routing_tricks),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_path_limit),
		cmocka_unit_test(test_null_and_params),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
