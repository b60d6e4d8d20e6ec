/*
 * Tests of access.c: the sendmail example lines, every key form and
 * action, the order in which keys win (a table of queries and the line
 * that must answer each), the relay decision of DESIGN §12 and the
 * file:line:col of errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "access.h"
#include "config.h"
#include "util.h"

static int
count_warnings(const struct diags *d, const char *needle)
{
	int n = 0;

	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].severity == DIAG_WARNING &&
		    strstr(d->v[i].msg, needle) != NULL)
			n++;
	return n;
}

static struct access *
parse_ok(const char *text, struct diags *d)
{
	struct access *a;

	if (access_parse("access", text, &a, d) < 0)
		diags_print(d, stderr);
	assert_non_null(a);
	assert_false(diags_has_errors(d));
	return a;
}

/* The shared example, verbatim. */
static const char example[] =
    "# sendmail access db source lines\n"
    "# by default we allow relaying from localhost...\n"
    "localhost.localdomain RELAY\n"
    "localhost RELAY\n"
    "127.0.0.1 RELAY\n"
    "\n"
    "# relay for the machines 192.168.0.0 - 192.168.0.255 only\n"
    "192.168.0 RELAY\n"
    "Connect:192.168.1       RELAY\n"
    "# actions: OK (accept), RELAY (accept and relay), REJECT (refuse "
    "with an error), DISCARD (accept silently and drop)\n";

static void
check_example(const struct access *a)
{
	struct access_result r;
	const struct access_rule *why;

	assert_int_equal(a->n, 5);
	r = access_check_connect(a, "127.0.0.1", NULL);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_int_equal(r.rule->line, 5);
	assert_string_equal(r.rule->key, "127.0.0.1");
	assert_int_equal(access_check_connect(a, "192.168.0.77", NULL)
	    .rule->line, 8);
	assert_int_equal(access_check_connect(a, "192.168.1.5", NULL)
	    .rule->line, 9);
	assert_int_equal(access_check_connect(a, "192.168.2.1", NULL).action,
	    ACCESS_NONE);
	/* Untagged host keys judge client names and recipients alike. */
	assert_int_equal(access_check_connect(a, "10.0.0.1", "LocalHost")
	    .rule->line, 4);
	assert_int_equal(access_check_to(a, "u@localhost").rule->line, 4);
	assert_int_equal(access_check_to(a, "u@localhost.localdomain")
	    .rule->line, 3);
	assert_null(access_check_from(a, "u@example.jp").rule);
	/* Connect:192.168.1 judges clients only. */
	assert_null(access_check_to(a, "u@192.168.1.1").rule);

	assert_int_equal(access_relay_allowed(a, "192.168.0.5", NULL, 0, 0,
	    "u@example.org", &why), ACCESS_RELAY_CLIENT);
	assert_int_equal(why->line, 8);
	assert_int_equal(access_relay_allowed(a, "192.0.2.1", NULL, 0, 0,
	    "u@example.org", &why), ACCESS_RELAY_DENIED);
	assert_null(why);
}

static void
test_example_lines(void **state)
{
	struct diags d = { 0 };
	struct access *a = parse_ok(example, &d);

	assert_int_equal(d.n, 0);
	check_example(a);
	/* config check explains what the untagged lines also do. */
	access_check_config(a, 1, &d);
	assert_int_equal(count_warnings(&d, "lets anyone relay TO"), 2);
	assert_int_equal(d.v[0].line, 3);
	diags_free(&d);
	access_check_config(a, 0, &d);
	assert_int_equal(count_warnings(&d, "recipients only"), 2);
	access_free(a);
	diags_free(&d);
}

static void
test_example_file(void **state)
{
	const char *top = getenv("top_srcdir");
	struct diags d = { 0 };
	struct access *a;
	char *path;

	xasprintf(&path, "%s/tests/unit/data/rules/access", top ? top : ".");
	assert_int_equal(access_load(path, &a, &d), 0);
	assert_int_equal(d.n, 0);
	check_example(a);
	assert_string_equal(a->v[0].file, path);
	access_free(a);
	free(path);
}

/* ---- which line wins ---- */

static const char order_table[] =
    "# specificity\n"					/* 1 */
    "Connect:10.0.0.0/8        REJECT\n"			/* 2 */
    "10.1                      OK\n"			/* 3 */
    "Connect:10.1.0.0/16       RELAY\n"			/* 4 */
    "10.1.2                    DISCARD\n"			/* 5 */
    "10.1.2.0/24               ERROR:\"550 5.7.1 untagged\"\n" /* 6 */
    "Connect:2001:db8::/32     RELAY\n"			/* 7 */
    "IPv6:2001:db8:1           REJECT\n"			/* 8 */
    "Connect:IPv6:2001:db8:1::5 OK\n"			/* 9 */
    "example.com               REJECT\n"			/* 10 */
    "To:example.com            RELAY\n"			/* 11 */
    "From:spam.example.com     ERROR:5.7.1:550 go away\n"	/* 12 */
    "From:boss@example.com     OK\n"			/* 13 */
    "postmaster@               OK\n"			/* 14 */
    "From:postmaster@example.com DISCARD\n"		/* 15 */
    "Connect:mail.example.com  RELAY\n"			/* 16 */
    "From:<>                   REJECT\n"			/* 17 */
    "::ffff:192.0.2.0/120      RELAY\n"			/* 18 */
    "192.0.2.128/25            REJECT\n"			/* 19 */
    "To:Example.COM.           OK\n";			/* 20 */

enum stage { CONNECT, FROM, TO };

static const struct {
	enum stage stage;
	const char *query, *host;
	int line;
	enum access_action action;
} order_cases[] = {
	{ CONNECT, "10.9.9.9", NULL, 2, ACCESS_REJECT },
	/* /16 both: the tagged key beats the untagged octets. */
	{ CONNECT, "10.1.9.9", NULL, 4, ACCESS_RELAY },
	/* /24 both untagged: the first line wins. */
	{ CONNECT, "10.1.2.3", NULL, 5, ACCESS_DISCARD },
	{ CONNECT, "::ffff:10.1.2.3", NULL, 5, ACCESS_DISCARD },
	{ CONNECT, "11.0.0.1", NULL, 0, ACCESS_NONE },
	{ CONNECT, "2001:db8:2::1", NULL, 7, ACCESS_RELAY },
	{ CONNECT, "2001:db8:1::1", NULL, 8, ACCESS_REJECT },
	{ CONNECT, "2001:db8:1::5", NULL, 9, ACCESS_OK },
	{ CONNECT, "2001:db9::1", NULL, 0, ACCESS_NONE },
	{ CONNECT, "192.0.2.5", NULL, 18, ACCESS_RELAY },
	{ CONNECT, "192.0.2.200", NULL, 19, ACCESS_REJECT },
	{ CONNECT, "::ffff:192.0.2.200", NULL, 19, ACCESS_REJECT },
	/* sendmail tries the client's name before its address. */
	{ CONNECT, "10.1.2.3", "a.mail.example.com", 16, ACCESS_RELAY },
	{ CONNECT, "11.0.0.1", "www.example.com", 10, ACCESS_REJECT },
	{ CONNECT, "10.9.9.9", "x.example.net", 2, ACCESS_REJECT },
	{ CONNECT, "11.0.0.1", "notexample.com", 0, ACCESS_NONE },
	/* Full address > user@ > domain, longest domain first. */
	{ FROM, "boss@example.com", NULL, 13, ACCESS_OK },
	{ FROM, "BOSS@Example.com", NULL, 13, ACCESS_OK },
	{ FROM, "postmaster@example.com", NULL, 15, ACCESS_DISCARD },
	{ FROM, "postmaster@other.org", NULL, 14, ACCESS_OK },
	{ FROM, "joe@spam.example.com", NULL, 12, ACCESS_ERROR },
	{ FROM, "joe@a.spam.example.com", NULL, 12, ACCESS_ERROR },
	{ FROM, "joe@example.com", NULL, 10, ACCESS_REJECT },
	{ FROM, "joe@sub.example.com", NULL, 10, ACCESS_REJECT },
	{ FROM, "", NULL, 17, ACCESS_REJECT },
	{ FROM, "joe@x.org", NULL, 0, ACCESS_NONE },
	{ FROM, "joe@notexample.com", NULL, 0, ACCESS_NONE },
	/* Equal domains: tagged To: (11) beats untagged (10), and the
	   first tagged line beats the later one (20). */
	{ TO, "joe@example.com", NULL, 11, ACCESS_RELAY },
	{ TO, "joe@spam.example.com", NULL, 11, ACCESS_RELAY },
	{ TO, "boss@example.com", NULL, 11, ACCESS_RELAY },
	{ TO, "postmaster@example.com", NULL, 14, ACCESS_OK },
	{ TO, "postmaster", NULL, 14, ACCESS_OK },
	{ TO, "", NULL, 0, ACCESS_NONE },
};

static void
test_order(void **state)
{
	struct diags d = { 0 };
	struct access *a = parse_ok(order_table, &d);

	assert_int_equal(a->n, 19);
	for (size_t i = 0; i < nitems(order_cases); i++) {
		struct access_result r;

		switch (order_cases[i].stage) {
		case CONNECT:
			r = access_check_connect(a, order_cases[i].query,
			    order_cases[i].host);
			break;
		case FROM:
			r = access_check_from(a, order_cases[i].query);
			break;
		default:
			r = access_check_to(a, order_cases[i].query);
			break;
		}
		if ((r.rule != NULL ? r.rule->line : 0) != order_cases[i].line ||
		    r.action != order_cases[i].action)
			fail_msg("case %zu (%s %s): line %d %s, want %d %s", i,
			    order_cases[i].query, order_cases[i].host ?
			    order_cases[i].host : "", r.rule ? r.rule->line : 0,
			    access_action_str(r.action), order_cases[i].line,
			    access_action_str(order_cases[i].action));
	}
	assert_string_equal(access_check_from(a, "joe@spam.example.com").reply,
	    "550 5.7.1 go away");
	assert_string_equal(access_check_connect(a, "10.1.2.3", NULL)
	    .rule->key, "10.1.2");
	access_free(a);
	diags_free(&d);
}

/* ---- the relay decision ---- */

static void
test_relay(void **state)
{
	struct diags d = { 0 };
	struct access *a = parse_ok(
	    "Connect:127.0.0.2    OK\n"		/* 1 */
	    "To:partner.example   RELAY\n"		/* 2 */
	    "Connect:10.0.0.0/8   RELAY\n"		/* 3 */
	    "Connect:10.6.6.6     REJECT\n"		/* 4 */
	    "To:no.partner.example OK\n"		/* 5 */
	    "Connect:::1          RELAY\n", &d);	/* 6 */
	const struct access_rule *why;

	assert_int_equal(access_relay_allowed(a, "192.0.2.1", NULL, 0, 1,
	    "u@example.org", &why), ACCESS_RELAY_AUTH);
	assert_null(why);
	/* Loopback without a line: the built-in right. */
	assert_int_equal(access_relay_allowed(a, "127.0.0.1", NULL, 1, 0,
	    "u@example.org", &why), ACCESS_RELAY_LOOPBACK);
	assert_null(why);
	/* A more specific non-RELAY line takes it away... */
	assert_int_equal(access_relay_allowed(a, "127.0.0.2", NULL, 1, 0,
	    "u@example.org", &why), ACCESS_RELAY_DENIED);
	assert_int_equal(why->line, 1);
	/* ...but the recipient's RELAY still counts. */
	assert_int_equal(access_relay_allowed(a, "127.0.0.2", NULL, 1, 0,
	    "u@Partner.Example", &why), ACCESS_RELAY_RCPT);
	assert_int_equal(why->line, 2);
	assert_int_equal(access_relay_allowed(a, "192.0.2.1", NULL, 0, 0,
	    "u@mx.partner.example", &why), ACCESS_RELAY_RCPT);
	assert_int_equal(why->line, 2);
	/* OK never means relay. */
	assert_int_equal(access_relay_allowed(a, "192.0.2.1", NULL, 0, 0,
	    "u@no.partner.example", &why), ACCESS_RELAY_DENIED);
	assert_null(why);
	assert_int_equal(access_relay_allowed(a, "10.1.1.1", NULL, 0, 0,
	    "u@example.org", &why), ACCESS_RELAY_CLIENT);
	assert_int_equal(why->line, 3);
	assert_int_equal(access_relay_allowed(a, "10.6.6.6", NULL, 0, 0,
	    "u@example.org", &why), ACCESS_RELAY_DENIED);
	assert_int_equal(why->line, 4);
	assert_int_equal(access_relay_allowed(a, "::1", NULL, 1, 0,
	    "u@example.org", &why), ACCESS_RELAY_CLIENT);
	assert_int_equal(why->line, 6);
	/* An IPv4-mapped loopback is judged as IPv4. */
	assert_int_equal(access_relay_allowed(a, "::ffff:127.0.0.2", NULL, 1,
	    0, "u@example.org", NULL), ACCESS_RELAY_DENIED);
	/* No table at all: only the built-ins. */
	assert_int_equal(access_relay_allowed(NULL, "127.0.0.1", NULL, 1, 0,
	    "u@example.org", NULL), ACCESS_RELAY_LOOPBACK);
	assert_int_equal(access_relay_allowed(NULL, "192.0.2.1", NULL, 0, 0,
	    "u@example.org", NULL), ACCESS_RELAY_DENIED);
	access_free(a);
	diags_free(&d);
}

/* ---- actions, tags, warnings ---- */

static void
test_actions(void **state)
{
	struct diags d = { 0 };
	struct access *a = parse_ok(
	    "a.example   ERROR:550 plain text\n"		/* 1 */
	    "b.example   ERROR:\"550 quoted text\"\n"	/* 2 */
	    "c.example   ERROR:5.7.1:550 dsn form\n"	/* 3 */
	    "d.example   ERROR:450 4.7.0 try later\n"	/* 4 */
	    "e.example   ERROR:550\n"			/* 5 */
	    "f.example   REJECT   # why not\n"		/* 6 */
	    "g.example   relay\n"				/* 7 */
	    "h.example   ERROR:553 no#comment here\n"	/* 8 */
	    "i.example   ERROR:\"421 4.3.2 closing\"\n"	/* 9 */
	    "j.example   DISCARD\n", &d);		/* 10 */
	static const struct {
		const char *addr, *reply;
		enum access_action action;
	} want[] = {
		{ "u@a.example", "550 5.7.1 plain text", ACCESS_ERROR },
		{ "u@b.example", "550 5.7.1 quoted text", ACCESS_ERROR },
		{ "u@c.example", "550 5.7.1 dsn form", ACCESS_ERROR },
		{ "u@d.example", "450 4.7.0 try later", ACCESS_ERROR },
		{ "u@e.example", "550 5.7.1 Access denied", ACCESS_ERROR },
		{ "u@f.example", "550 5.7.1 Access denied", ACCESS_REJECT },
		{ "u@g.example", NULL, ACCESS_RELAY },
		{ "u@h.example", "553 5.7.1 no#comment here", ACCESS_ERROR },
		{ "u@i.example", "421 4.3.2 closing", ACCESS_ERROR },
		{ "u@j.example", NULL, ACCESS_DISCARD },
	};

	assert_int_equal(d.n, 0);
	for (size_t i = 0; i < nitems(want); i++) {
		struct access_result r = access_check_to(a, want[i].addr);

		assert_int_equal(r.rule->line, (int)i + 1);
		assert_int_equal(r.action, want[i].action);
		if (want[i].reply == NULL)
			assert_null(r.reply);
		else
			assert_string_equal(r.reply, want[i].reply);
	}
	access_free(a);
}

static void
test_unimplemented_warn(void **state)
{
	struct diags d = { 0 };
	struct access *a = parse_ok(
	    "GreetPause:localhost      5000\n"		/* 1 */
	    "Spam:abuse@               FRIEND\n"		/* 2 */
	    "ok.example                OK\n"		/* 3 */
	    "skip.example              SKIP\n"		/* 4 */
	    "q.example                 QUARANTINE:spam\n"	/* 5 */
	    "Frobnicate:x.example      OK\n"		/* 6 */
	    "typo.example              RELAYY\n"		/* 7 */
	    "Connect:u@x.example       OK\n"		/* 8 */
	    "To:10.0.0.1               OK\n"		/* 9 */
	    "ClientRate:127.0.0.1      0\n", &d);		/* 10 */

	/* Only the lines we implement stay (3, 8, 9). */
	assert_int_equal(a->n, 3);
	assert_int_equal(count_warnings(&d, "not implemented"), 5);
	assert_int_equal(count_warnings(&d, "unknown tag Frobnicate"), 1);
	assert_int_equal(count_warnings(&d, "unknown action"), 1);
	assert_int_equal(count_warnings(&d, "never matches"), 2);
	for (size_t i = 0; i < d.n; i++)
		if (d.v[i].line == 4)
			assert_int_equal(d.v[i].col, 27);
	access_free(a);
	diags_free(&d);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		int line, col;
		const char *needle;
	} cases[] = {
		{ "10.0.0.0/33 OK\n", 1, 1, "prefix" },
		{ "1.2.3.4/x OK\n", 1, 1, "prefix" },
		{ "# c\n  example.com\n", 2, 14, "missing action" },
		{ "example.com ERROR:650 x\n", 1, 19, "4xx or 5xx" },
		{ "example.com ERROR:\"550 x\n", 1, 19, "closing" },
		{ "example.com ERROR:\"x\"\n", 1, 20, "4xx or 5xx" },
		{ "example.com OK extra\n", 1, 15, "unexpected" },
		{ "Connect:IPv6:zz::g OK\n", 1, 9, "IP" },
		{ "To:a..b OK\n", 1, 4, "a..b" },
		{ "x.example ERROR:5.7.1:450 x\n", 1, 17, "class" },
		{ "ok.example OK\n1.2.3.4.5 OK\n", 2, 1, "IP" },
		{ "From: OK\n", 1, 6, "empty key" },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct access *a = (void *)1;
		struct diags d = { 0 };
		const struct diag *e = NULL;

		assert_int_equal(access_parse("access", cases[i].text, &a, &d),
		    -1);
		assert_null(a);
		for (size_t j = 0; j < d.n; j++)
			if (d.v[j].severity == DIAG_ERROR) {
				assert_null(e);
				e = &d.v[j];
			}
		assert_non_null(e);
		if (e->line != cases[i].line || e->col != cases[i].col ||
		    strstr(e->msg, cases[i].needle) == NULL)
			fail_msg("case %zu: %d:%d: %s", i, e->line, e->col,
			    e->msg);
		diags_free(&d);
	}
}

/* Clients and literals compare as access lines do: mapped IPv4 is IPv4. */
static void
test_parse_ip(void **state)
{
	static const unsigned char v4[4] = { 192, 0, 2, 1 };
	static const unsigned char v6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	unsigned char ip[16];

	assert_int_equal(access_parse_ip("192.0.2.1", ip), AF_INET);
	assert_memory_equal(ip, v4, 4);
	memset(ip, 0, sizeof ip);
	assert_int_equal(access_parse_ip("::ffff:192.0.2.1", ip), AF_INET);
	assert_memory_equal(ip, v4, 4);
	assert_int_equal(access_parse_ip("2001:db8::1", ip), AF_INET6);
	assert_memory_equal(ip, v6, 16);
	assert_int_equal(access_parse_ip("192.0.2", ip), -1);
	assert_int_equal(access_parse_ip("[192.0.2.1]", ip), -1);
	assert_int_equal(access_parse_ip("", ip), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_lines),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_unimplemented_warn),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_parse_ip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
