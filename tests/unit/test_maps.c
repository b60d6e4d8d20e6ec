/*
 * Tests of maps.c: the shared line reader (comments, continuations,
 * columns), next hops, and the Postfix-style tables transport,
 * sasl_passwd, sender_relay and generics, with the example files
 * sysadmins copy (../shared/examples, copied to data/rules).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "maps.h"
#include "util.h"

static char *
data_path(const char *name)
{
	const char *top = getenv("top_srcdir");
	char *s;

	xasprintf(&s, "%s/tests/unit/data/rules/%s", top ? top : ".", name);
	return s;
}

/* The only error of d, which must hold exactly one. */
static const struct diag *
only_error(const struct diags *d)
{
	const struct diag *e = NULL;

	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].severity == DIAG_ERROR) {
			assert_null(e);
			e = &d->v[i];
		}
	assert_non_null(e);
	return e;
}

static int
has_warning(const struct diags *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].severity == DIAG_WARNING &&
		    strstr(d->v[i].msg, needle) != NULL)
			return 1;
	return 0;
}

/* ---- line reader ---- */

static void
test_split_comments_and_continuations(void **state)
{
	struct maps_lines ls;
	struct diags d = { 0 };
	int line, col;

	maps_split("f",
	    "# comment\n"
	    "\n"
	    "a  b # tail\r\n"
	    "c pass#word\n"
	    "   # indented comment\n"
	    "d e,\n"
	    "\tf,\n"
	    "  g\n"
	    "\"x # y\" z\n",
	    MAPS_CONTINUE, &ls, &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(ls.n, 4);
	assert_string_equal(ls.v[0].text, "a  b");
	assert_int_equal(ls.v[0].line, 3);
	/* '#' not after white space is data: passwords hold it. */
	assert_string_equal(ls.v[1].text, "c pass#word");
	assert_string_equal(ls.v[2].text, "d e,\tf,  g");
	assert_int_equal(ls.v[2].line, 6);
	/* Columns map back to the physical line of a continuation. */
	maps_line_pos(&ls.v[2], strchr(ls.v[2].text, 'f'), &line, &col);
	assert_int_equal(line, 7);
	assert_int_equal(col, 2);
	maps_line_pos(&ls.v[2], strchr(ls.v[2].text, 'g'), &line, &col);
	assert_int_equal(line, 8);
	assert_int_equal(col, 3);
	/* Without MAPS_QUOTES a quote does not protect '#'. */
	assert_string_equal(ls.v[3].text, "\"x");
	maps_lines_free(&ls);

	maps_split("f", "\"x # y\" z\n  b\n", MAPS_QUOTES, &ls, &d);
	assert_int_equal(ls.n, 2);
	assert_string_equal(ls.v[0].text, "\"x # y\" z");
	/* Without MAPS_CONTINUE an indented line is an entry of its own. */
	assert_string_equal(ls.v[1].text, "b");
	maps_line_pos(&ls.v[1], ls.v[1].text, &line, &col);
	assert_int_equal(col, 3);
	maps_lines_free(&ls);

	maps_split("f", "  orphan\nk v", MAPS_CONTINUE, &ls, &d);
	assert_int_equal(ls.n, 1);
	assert_true(has_warning(&d, "continuation"));
	assert_int_equal(d.v[0].line, 1);
	maps_lines_free(&ls);
	diags_free(&d);
}

/* ---- next hops ---- */

static void
test_nexthop(void **state)
{
	static const struct {
		const char *in, *host;
		int port, mx, bracketed;
	} ok[] = {
		{ "[mail.foo.com]", "mail.foo.com", 0, 0, 1 },
		{ "[Mail.Foo.COM.]:587", "mail.foo.com", 587, 0, 1 },
		{ "mail.foo.com", "mail.foo.com", 0, 1, 0 },
		{ "mail.foo.com:2525", "mail.foo.com", 2525, 1, 0 },
		{ "10.20.30.40", "10.20.30.40", 0, 0, 0 },
		{ "10.20.30.40:26", "10.20.30.40", 26, 0, 0 },
		{ "[10.20.30.40]:submission", "10.20.30.40", 587, 0, 1 },
		{ "[ipv6:2001:db8::1]:25", "2001:db8::1", 25, 0, 1 },
		{ "[2001:db8::1]", "2001:db8::1", 0, 0, 1 },
		{ "2001:db8::1", "2001:db8::1", 0, 0, 0 },
	};
	static const struct {
		const char *in;
		size_t col;
	} bad[] = {
		{ "[mail.foo.com", 0 }, { "[a]x", 3 }, { "a:0", 2 },
		{ "a:99999", 2 }, { "[]:25", 1 }, { "a..b", 0 },
	};
	struct maps_nexthop nh;
	const char *err;
	size_t col;

	for (size_t i = 0; i < nitems(ok); i++) {
		assert_int_equal(maps_nexthop_parse(ok[i].in, &nh, &err, &col),
		    0);
		assert_string_equal(nh.host, ok[i].host);
		assert_int_equal(nh.port, ok[i].port);
		assert_int_equal(nh.mx, ok[i].mx);
		assert_int_equal(nh.bracketed, ok[i].bracketed);
		maps_nexthop_free(&nh);
	}
	for (size_t i = 0; i < nitems(bad); i++) {
		assert_int_equal(maps_nexthop_parse(bad[i].in, &nh, &err,
		    &col), -1);
		assert_int_equal(col, bad[i].col);
		assert_null(nh.host);
	}
}

/* ---- transport ---- */

static void
test_transport_example(void **state)
{
	struct transport *t;
	struct diags d = { 0 };
	const struct transport_entry *e;
	char *path = data_path("transport");

	assert_int_equal(transport_load(path, &t, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(t->n, 4);

	/* example.com  :   change nothing */
	e = transport_lookup(t, "u", "example.com", 0);
	assert_non_null(e);
	assert_int_equal(e->line, 2);
	assert_int_equal(e->kind, TRANSPORT_NOCHANGE);
	assert_null(e->nexthop.host);
	/* ...and a local example.com stays local through the same line. */
	e = transport_lookup(t, "u", "example.com", 1);
	assert_int_equal(e->line, 2);

	e = transport_lookup(t, "u", "foo.com", 0);
	assert_int_equal(e->line, 3);
	assert_int_equal(e->kind, TRANSPORT_SMTP);
	assert_string_equal(e->nexthop.host, "mail.foo.com");
	assert_int_equal(e->nexthop.mx, 0);
	assert_int_equal(e->nexthop.port, 0);
	assert_string_equal(e->file, path);

	e = transport_lookup(t, NULL, "BAR.co.jp", 0);
	assert_int_equal(e->line, 4);
	assert_string_equal(e->nexthop.host, "mx.bar.co.jp");

	/* A subdomain is not its parent: only * catches sub.foo.com. */
	e = transport_lookup(t, "u", "sub.foo.com", 0);
	assert_int_equal(e->line, 5);
	assert_string_equal(e->nexthop.host, "10.20.30.40");
	/* An IP literal never looks up MX. */
	assert_int_equal(e->nexthop.mx, 0);
	assert_string_equal(e->key, "*");
	assert_string_equal(e->value, "smtp:10.20.30.40");

	/* * never takes a local domain. */
	assert_null(transport_lookup(t, "u", "example.jp", 1));
	transport_free(t);
	free(path);
	diags_free(&d);
}

/* For each query the line of the winning entry (0: none), Postfix order. */
static void
test_transport_order(void **state)
{
	static const char text[] =
	    "# 1\n"
	    ".example.com      smtp:[parent.example]\n"		/* 2 */
	    "example.com       smtp:[exact.example]:2525\n"	/* 3 */
	    "joe@example.com   error:5.1.1 joe left\n"		/* 4 */
	    ".com              smtp:dotcom.example\n"		/* 5 */
	    "deep.sub.example.com local\n"			/* 6 */
	    "*                 relay:[star.example]\n"		/* 7 */
	    "local.test        smtp:[out.example]\n"		/* 8 */
	    ".local.test       smtp:[never.example]\n"		/* 9 */
	    "Mixed.Example.ORG. retry:try later\n"		/* 10 */
	    "empty.example     smtp:\n"				/* 11 */
	    "hop.example       :[hop.example]:26\n";		/* 12 */
	static const struct {
		const char *local, *domain;
		int is_local, line;
	} cases[] = {
		{ "joe", "example.com", 0, 4 },
		{ "JOE", "EXAMPLE.COM", 0, 4 },
		{ "ann", "example.com", 0, 3 },
		{ NULL, "example.com", 0, 3 },
		{ "joe", "a.example.com", 0, 2 },
		{ "x", "deep.sub.example.com", 0, 6 },
		{ "x", "other.sub.example.com", 0, 2 },
		{ "x", "other.com", 0, 5 },
		{ "x", "example.org", 0, 7 },
		{ "x", "mixed.example.org", 0, 10 },
		/* Local domains: exact entries only. */
		{ "x", "local.test", 1, 8 },
		{ "x", "a.local.test", 1, 0 },
		{ "x", "b.example.com", 1, 0 },
		{ "x", "a.local.test", 0, 9 },
		{ "x", "empty.example", 0, 11 },
	};
	struct transport *t;
	struct diags d = { 0 };
	const struct transport_entry *e;

	assert_int_equal(transport_parse("transport", text, &t, &d), 0);
	for (size_t i = 0; i < nitems(cases); i++) {
		e = transport_lookup(t, cases[i].local, cases[i].domain,
		    cases[i].is_local);
		if (cases[i].line == 0) {
			assert_null(e);
			continue;
		}
		assert_non_null(e);
		if (e->line != cases[i].line)
			fail_msg("%s@%s: line %d, want %d", cases[i].local,
			    cases[i].domain, e->line, cases[i].line);
	}
	e = transport_lookup(t, "joe", "example.com", 0);
	assert_int_equal(e->kind, TRANSPORT_ERROR);
	assert_string_equal(e->text, "5.1.1 joe left");
	e = transport_lookup(t, NULL, "example.com", 0);
	assert_int_equal(e->nexthop.port, 2525);
	e = transport_lookup(t, NULL, "x.deep.sub.example.com", 0);
	assert_int_equal(e->line, 2);
	e = transport_lookup(t, NULL, "deep.sub.example.com", 0);
	assert_int_equal(e->kind, TRANSPORT_LOCAL);
	e = transport_lookup(t, NULL, "zzz.org", 0);
	assert_int_equal(e->kind, TRANSPORT_SMTP);
	assert_string_equal(e->nexthop.host, "star.example");
	e = transport_lookup(t, NULL, "mixed.example.org", 0);
	assert_int_equal(e->kind, TRANSPORT_RETRY);
	assert_string_equal(e->text, "try later");
	/* "smtp:" with an empty next hop is the default route. */
	e = transport_lookup(t, NULL, "empty.example", 0);
	assert_int_equal(e->kind, TRANSPORT_SMTP);
	assert_null(e->nexthop.host);
	/* ":[host]" keeps the default transport, with that next hop. */
	e = transport_lookup(t, NULL, "hop.example", 0);
	assert_int_equal(e->kind, TRANSPORT_NOCHANGE);
	assert_string_equal(e->nexthop.host, "hop.example");
	assert_int_equal(e->nexthop.port, 26);
	transport_free(t);
	diags_free(&d);
}

static void
test_transport_continuation(void **state)
{
	struct transport *t;
	struct diags d = { 0 };
	const struct transport_entry *e;

	assert_int_equal(transport_parse("transport",
	    "example.net\n    smtp:[cont.example]\n", &t, &d), 0);
	e = transport_lookup(t, NULL, "example.net", 0);
	assert_non_null(e);
	assert_int_equal(e->line, 1);
	assert_string_equal(e->nexthop.host, "cont.example");
	transport_free(t);
	diags_free(&d);
}

static void
test_transport_errors(void **state)
{
	static const struct {
		const char *text;
		int line, col;
		const char *needle;
	} cases[] = {
		{ "example.com\n", 1, 12, "missing value" },
		{ "example.com uucp:host\n", 1, 13, "unsupported transport" },
		{ "# c\nexample.com smtp:[host\n", 2, 18, "]" },
		{ "example.com   smtp:[host]:0\n", 1, 27, "port" },
		{ "@example.com smtp:\n", 1, 1, "user" },
		{ "a..b smtp:\n", 1, 1, "a..b" },
		{ "ok.example smtp:\nbad.example\n   lmtp:x\n", 3, 4,
		    "unsupported" },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct transport *t = (void *)1;
		struct diags d = { 0 };
		const struct diag *e;

		assert_int_equal(transport_parse("transport", cases[i].text,
		    &t, &d), -1);
		assert_null(t);
		e = only_error(&d);
		if (e->line != cases[i].line || e->col != cases[i].col ||
		    strstr(e->msg, cases[i].needle) == NULL)
			fail_msg("case %zu: %d:%d: %s", i, e->line, e->col,
			    e->msg);
		diags_free(&d);
	}
}

/* ---- sasl_passwd ---- */

static void
test_sasl_passwd_example(void **state)
{
	struct sasl_passwd *s;
	struct diags d = { 0 };
	const struct sasl_passwd_entry *e;
	char *path = data_path("sasl_passwd");
	int miss;

	assert_int_equal(sasl_passwd_load(path, &s, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(s->n, 2);

	/* Bare key: any port, and Postfix finds it by host name too. */
	e = sasl_passwd_lookup(s, "mail.example.com", 25, &miss);
	assert_non_null(e);
	assert_int_equal(e->line, 2);
	assert_string_equal(e->user, "username");
	assert_string_equal(e->password, "password");
	assert_false(miss);
	e = sasl_passwd_lookup(s, "[mail.example.com]:587", 25, &miss);
	assert_int_equal(e->line, 2);
	assert_false(miss);

	e = sasl_passwd_lookup(s, "[submission.example.org]:587", 25, &miss);
	assert_int_equal(e->line, 3);
	assert_false(miss);
	/* Other spellings find it here; Postfix would have missed. */
	e = sasl_passwd_lookup(s, "Submission.Example.ORG:587", 25, &miss);
	assert_int_equal(e->line, 3);
	assert_true(miss);
	e = sasl_passwd_lookup(s, "[submission.example.org]", 587, &miss);
	assert_int_equal(e->line, 3);
	assert_true(miss);
	/* The wrong port is not a match. */
	assert_null(sasl_passwd_lookup(s, "[submission.example.org]", 25,
	    &miss));
	assert_null(sasl_passwd_lookup(s, "other.example", 25, NULL));
	sasl_passwd_free(s);
	free(path);
	diags_free(&d);
}

static void
test_sasl_passwd_split_and_order(void **state)
{
	struct sasl_passwd *s;
	struct diags d = { 0 };
	const struct sasl_passwd_entry *e;
	int miss;

	assert_int_equal(sasl_passwd_parse("sasl_passwd",
	    "[relay.example]        anyport:pw\n"		/* 1 */
	    "[relay.example]:587    me@example.org:pa:ss#word\n" /* 2 */
	    "relay.example:2525     second:x y\n"		/* 3 */
	    "nopass.example         justuser\n"		/* 4 */
	    "me@example.org         sender:dependent\n",	/* 5 */
	    &s, &d), 0);
	assert_true(has_warning(&d, "password is empty"));
	assert_true(has_warning(&d, "sender-dependent"));
	assert_int_equal(s->n, 4);

	/* A key with that port beats one without, whatever the order. */
	e = sasl_passwd_lookup(s, "[relay.example]:587", 25, &miss);
	assert_int_equal(e->line, 2);
	/* Split at the first ':'; '#' after no space is password. */
	assert_string_equal(e->user, "me@example.org");
	assert_string_equal(e->password, "pa:ss#word");
	assert_false(miss);
	e = sasl_passwd_lookup(s, "[relay.example]:2525", 25, &miss);
	assert_int_equal(e->line, 3);
	assert_string_equal(e->password, "x y");
	assert_true(miss);
	e = sasl_passwd_lookup(s, "relay.example", 25, &miss);
	assert_int_equal(e->line, 1);
	/* Postfix: "[relay.example]" is not "relay.example". */
	assert_true(miss);
	e = sasl_passwd_lookup(s, "[relay.example]", 25, &miss);
	assert_false(miss);
	e = sasl_passwd_lookup(s, "nopass.example", 25, NULL);
	assert_string_equal(e->user, "justuser");
	assert_string_equal(e->password, "");
	sasl_passwd_free(s);
	diags_free(&d);

	s = (void *)1;
	assert_int_equal(sasl_passwd_parse("sasl_passwd",
	    "ok.example u:p\n[bad.example:587 u:p\n", &s, &d), -1);
	assert_null(s);
	assert_int_equal(only_error(&d)->line, 2);
	assert_int_equal(only_error(&d)->col, 1);
	diags_free(&d);
}

/* ---- sender_relay and generics ---- */

static void
test_sender_relay(void **state)
{
	struct addr_map *m;
	struct diags d = { 0 };
	const struct addr_map_entry *e;

	assert_int_equal(sender_relay_parse("sender_relay",
	    "@example.org        [smtp.example.org]:587\n"	/* 1 */
	    "boss@Example.ORG    [boss-relay.example]\n"	/* 2 */
	    "<>                  bounce-relay.example:2525\n"	/* 3 */
	    "@lists.example      [list-relay.example]\n",	/* 4 */
	    &m, &d), 0);
	assert_int_equal(d.n, 0);
	/* The exact address first, though @domain is written above it. */
	e = addr_map_lookup(m, "Boss", "example.org");
	assert_int_equal(e->line, 2);
	assert_string_equal(e->nexthop.host, "boss-relay.example");
	assert_int_equal(e->nexthop.mx, 0);
	e = addr_map_lookup(m, "worker", "example.org");
	assert_int_equal(e->line, 1);
	assert_int_equal(e->nexthop.port, 587);
	e = addr_map_lookup(m, "", NULL);
	assert_int_equal(e->line, 3);
	assert_int_equal(e->nexthop.mx, 1);
	/* @domain is that domain exactly. */
	assert_null(addr_map_lookup(m, "x", "sub.example.org"));
	assert_null(addr_map_lookup(m, "x", "lists.example.org"));
	addr_map_free(m);

	m = (void *)1;
	assert_int_equal(sender_relay_parse("sender_relay",
	    "example.org [x]\n", &m, &d), -1);
	assert_null(m);
	assert_int_equal(only_error(&d)->col, 1);
	diags_free(&d);
	assert_int_equal(sender_relay_parse("sender_relay",
	    "@example.org   [x]:bad\n", &m, &d), -1);
	assert_int_equal(only_error(&d)->col, 20);
	diags_free(&d);
}

static void
test_generics(void **state)
{
	struct addr_map *m;
	struct diags d = { 0 };
	const struct addr_map_entry *rule;
	char *s;

	assert_int_equal(generics_parse("generics",
	    "# sendmail genericstable / Postfix smtp_generic_maps\n"
	    "root@host.local     admin@example.org\n"	/* 2 */
	    "@host.local         @example.org\n"		/* 3 */
	    "joe@host.local      @joe.example\n",		/* 4 */
	    &m, &d), 0);
	assert_int_equal(d.n, 0);

	s = generics_rewrite(m, "root", "host.local", 0, &rule);
	assert_string_equal(s, "admin@example.org");
	assert_int_equal(rule->line, 2);
	free(s);
	/* @domain values keep the user part. */
	s = generics_rewrite(m, "Kim", "HOST.local", 0, &rule);
	assert_string_equal(s, "Kim@example.org");
	assert_int_equal(rule->line, 3);
	free(s);
	s = generics_rewrite(m, "joe", "host.local", 0, &rule);
	assert_string_equal(s, "joe@joe.example");
	assert_int_equal(rule->line, 4);
	free(s);
	assert_null(generics_rewrite(m, "x", "other.example", 0, &rule));
	assert_null(rule);
	addr_map_free(m);

	assert_int_equal(generics_parse("generics",
	    "@host.local   example.org\n", &m, &d), -1);
	assert_int_equal(only_error(&d)->col, 15);
	diags_free(&d);

	/* sendmail's bare "user" key: that user in any local domain, tried
	   after user@domain and before @domain. */
	assert_int_equal(generics_parse("generics",
	    "kim                 kim.sato@example.org\n"	/* 1 */
	    "kim@host.local      kim@host.example\n"	/* 2 */
	    "@local.test         @example.org\n",		/* 3 */
	    &m, &d), 0);
	assert_int_equal(d.n, 0);
	s = generics_rewrite(m, "Kim", "local.test", 1, &rule);
	assert_string_equal(s, "kim.sato@example.org");
	assert_int_equal(rule->line, 1);
	free(s);
	s = generics_rewrite(m, "kim", "host.local", 1, &rule);
	assert_string_equal(s, "kim@host.example");
	assert_int_equal(rule->line, 2);
	free(s);
	/* Not a local domain: the bare key does not apply. */
	assert_null(generics_rewrite(m, "kim", "other.example", 0, &rule));
	s = generics_rewrite(m, "kim", "local.test", 0, &rule);
	assert_string_equal(s, "kim@example.org");
	assert_int_equal(rule->line, 3);
	free(s);
	/* The bare key never stands for the null sender. */
	assert_null(addr_map_lookup(m, "", NULL));
	addr_map_free(m);

	assert_int_equal(generics_parse("generics",
	    "\na%b    x@example.org\n", &m, &d), -1);
	assert_int_equal(only_error(&d)->line, 2);
	assert_int_equal(only_error(&d)->col, 1);
	diags_free(&d);
}

static void
test_missing_file(void **state)
{
	struct transport *t;
	struct diags d = { 0 };

	assert_int_equal(transport_load("/nonexistent/transport", &t, &d), -1);
	assert_null(t);
	assert_int_equal(only_error(&d)->line, 0);
	diags_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_comments_and_continuations),
		cmocka_unit_test(test_nexthop),
		cmocka_unit_test(test_transport_example),
		cmocka_unit_test(test_transport_order),
		cmocka_unit_test(test_transport_continuation),
		cmocka_unit_test(test_transport_errors),
		cmocka_unit_test(test_sasl_passwd_example),
		cmocka_unit_test(test_sasl_passwd_split_and_order),
		cmocka_unit_test(test_sender_relay),
		cmocka_unit_test(test_generics),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
