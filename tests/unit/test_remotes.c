/*
 * Tests of remotes.c: every line of the nullmailer examples sysadmins copy
 * (../shared/examples/remotes), every option spelling, comments, and the
 * file:line:column of each error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "remotes.h"
#include "util.h"

/* Parse one line that must hold a remote and give no error. */
static void
parse_ok(const char *line, struct remote *r, struct diags *d)
{
	int rc = remotes_parse_line("remotes", 7, line, r, d);

	if (rc != 1 || diags_has_errors(d))
		diags_print(d, stderr);
	assert_int_equal(rc, 1);
	assert_false(diags_has_errors(d));
	assert_string_equal(r->file, "remotes");
	assert_int_equal(r->line, 7);
}

/* Parse one line that must fail; return its only error. */
static const struct diag *
parse_err(const char *line, struct diags *d)
{
	struct remote r;
	const struct diag *e = NULL;

	assert_int_equal(remotes_parse_line("remotes", 3, line, &r, d), -1);
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].severity == DIAG_ERROR) {
			assert_null(e);
			e = &d->v[i];
		}
	assert_non_null(e);
	assert_string_equal(e->file, "remotes");
	assert_int_equal(e->line, 3);
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

/* The example file, verbatim, comments and all. */
static const char *const example_lines[] = {
	"# nullmailer remotes lines, as sysadmins write them (host, protocol, options)",
	"neighbor         smtp               # relay to the LAN host \"neighbor\" over plain SMTP",
	"neighbor         smtp --port=10025  # the same, on another port",
	"# an internet relay: submission port, STARTTLS, SMTP AUTH",
	"far.side.moon.jp smtp --port=587 --starttls --user=<uesr> --pass=<pass>",
	"# the same with a private CA certificate in DER format",
	"far.side.moon.jp smtp --port=587 --starttls --user=<uesr> --pass=<pass> --x509cafile=<ca.crt> --x509fmtder",
	"ore.server.jp  smtp  --port=587 --user=<user> --pass=<pass> --starttls --x509cafile=/etc/nullmailer/ca.crt",
};

static void
test_examples(void **state)
{
	struct diags d = { 0 };
	struct remote r[nitems(example_lines)];
	int got[nitems(example_lines)];

	for (size_t i = 0; i < nitems(example_lines); i++) {
		got[i] = remotes_parse_line("remotes", (int)i + 1,
		    example_lines[i], &r[i], &d);
		assert_int_not_equal(got[i], -1);
	}
	assert_false(diags_has_errors(&d));
	assert_int_equal(got[0], 0);
	assert_int_equal(got[3], 0);
	assert_int_equal(got[5], 0);

	assert_string_equal(r[1].host, "neighbor");
	assert_int_equal(r[1].port, 25);
	assert_int_equal(r[1].tls, REMOTE_TLS_NONE);
	assert_null(r[1].user);

	assert_string_equal(r[2].host, "neighbor");
	assert_int_equal(r[2].port, 10025);

	assert_string_equal(r[4].host, "far.side.moon.jp");
	assert_int_equal(r[4].port, 587);
	assert_int_equal(r[4].tls, REMOTE_TLS_STARTTLS);
	assert_string_equal(r[4].user, "<uesr>");
	assert_string_equal(r[4].pass, "<pass>");
	assert_null(r[4].x509cafile);

	assert_string_equal(r[6].x509cafile, "<ca.crt>");
	assert_int_equal(r[6].x509fmtder, 1);
	assert_int_equal(r[6].line, 7);
	/* The placeholder CA file does not exist: a warning, at its value. */
	for (size_t i = 0; i < d.n; i++)
		if (d.v[i].line == 7) {
			assert_int_equal(d.v[i].severity, DIAG_WARNING);
			assert_int_equal(d.v[i].col, 86);
			assert_non_null(strstr(d.v[i].msg, "<ca.crt>"));
		}
	assert_true(has_warning(&d, "<ca.crt>"));

	assert_string_equal(r[7].host, "ore.server.jp");
	assert_string_equal(r[7].user, "<user>");
	assert_int_equal(r[7].tls, REMOTE_TLS_STARTTLS);
	assert_string_equal(r[7].x509cafile, "/etc/nullmailer/ca.crt");

	for (size_t i = 0; i < nitems(example_lines); i++)
		if (got[i] == 1)
			remote_free(&r[i]);
	diags_free(&d);
}

/*
 * The shared example file itself, when the tree sits beside it (its copy
 * in data/config/good is read by test_config either way).
 */
static void
test_example_file(void **state)
{
	const char *top = getenv("top_srcdir");
	struct diags d = { 0 };
	struct remote *v;
	char *path;
	size_t n;

	xasprintf(&path, "%s/../shared/examples/remotes", top ? top : ".");
	if (access(path, R_OK) != 0) {
		free(path);
		skip();
	}
	assert_int_equal(remotes_parse_file(path, &v, &n, &d), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[4].host, "ore.server.jp");
	remotes_free(v, n);
	diags_free(&d);
	free(path);
}

static void
test_option_forms(void **state)
{
	static const char *const forms[] = {
		"h smtp --port=587 --user=u --pass=p",
		"h smtp --port 587 --user u --pass p",
		"h smtp -p 587 --user=u --pass p",
		"h smtp -p587 user=u pass=p",
		"h smtp port=587 user=u --pass=p",
		"h\tsmtp\t-p\t587\t--user=u\t--pass=p\r\n",
	};

	for (size_t i = 0; i < nitems(forms); i++) {
		struct diags d = { 0 };
		struct remote r;

		parse_ok(forms[i], &r, &d);
		assert_string_equal(r.host, "h");
		assert_int_equal(r.port, 587);
		assert_int_equal(r.port_explicit, 1);
		assert_string_equal(r.user, "u");
		assert_string_equal(r.pass, "p");
		assert_int_equal(d.n, 0);
		remote_free(&r);
		diags_free(&d);
	}
}

static void
test_all_options(void **state)
{
	struct diags d = { 0 };
	struct remote r;

	parse_ok("relay.example smtp --ssl --auth-login --user=a "
	    "--pass-file=/nonexistent/pw --x509certfile=/nonexistent/c "
	    "--x509keyfile=/nonexistent/k --x509cafile=/nonexistent/ca "
	    "--x509crlfile=/nonexistent/crl --x509fmtder --insecure "
	    "--source=192.0.2.1 --allow-plaintext-auth", &r, &d);
	assert_int_equal(r.tls, REMOTE_TLS_SSL);
	assert_int_equal(r.port, 465);
	assert_int_equal(r.port_explicit, 0);
	assert_int_equal(r.auth_login, 1);
	assert_string_equal(r.pass_file, "/nonexistent/pw");
	assert_null(r.pass);
	assert_string_equal(r.x509certfile, "/nonexistent/c");
	assert_string_equal(r.x509keyfile, "/nonexistent/k");
	assert_string_equal(r.x509cafile, "/nonexistent/ca");
	assert_string_equal(r.x509crlfile, "/nonexistent/crl");
	assert_int_equal(r.x509fmtder, 1);
	assert_int_equal(r.insecure, 1);
	assert_string_equal(r.source, "192.0.2.1");
	assert_int_equal(r.allow_plaintext_auth, 1);
	/* Five missing files: five warnings, no error. */
	assert_int_equal(d.n, 5);
	remote_free(&r);
	diags_free(&d);

	/* nullmailer 2.x spellings: dash-less words, --tls = --ssl. */
	parse_ok("h smtp port=2525 starttls insecure", &r, &d);
	assert_int_equal(r.port, 2525);
	assert_int_equal(r.tls, REMOTE_TLS_STARTTLS);
	assert_int_equal(r.insecure, 1);
	remote_free(&r);
	parse_ok("h smtp --tls", &r, &d);
	assert_int_equal(r.tls, REMOTE_TLS_SSL);
	assert_int_equal(r.port, 465);
	remote_free(&r);
	parse_ok("h smtp --ssl --port=2465", &r, &d);
	assert_int_equal(r.port, 2465);
	remote_free(&r);
	/* Protocol names are case-insensitive, as in nullmailer. */
	parse_ok("h SMTP", &r, &d);
	remote_free(&r);
	assert_int_equal(d.n, 0);
	diags_free(&d);
}

static void
test_comments(void **state)
{
	struct diags d = { 0 };
	struct remote r;

	assert_int_equal(remotes_parse_line("remotes", 1, "", &r, &d), 0);
	assert_int_equal(remotes_parse_line("remotes", 1, "   \t\n", &r, &d),
	    0);
	assert_int_equal(remotes_parse_line("remotes", 1, "# x smtp", &r, &d),
	    0);
	assert_int_equal(remotes_parse_line("remotes", 1, "  #x smtp", &r,
	    &d), 0);
	/* '#' inside a word is part of it: passwords may hold '#'. */
	parse_ok("h smtp --user=u --pass=se#cr#et # the comment", &r, &d);
	assert_string_equal(r.pass, "se#cr#et");
	remote_free(&r);
	assert_int_equal(d.n, 0);
	diags_free(&d);
}

/*
 * "--pass #x": '#' after white space starts a comment, so --pass lacks its
 * value; the rule is the same for every token.
 */
static void
test_comment_eats_value(void **state)
{
	struct diags d = { 0 };
	const struct diag *e;

	e = parse_err("h smtp --user u --pass #x", &d);
	assert_int_equal(e->col, 17);
	assert_non_null(strstr(e->msg, "--pass needs a value"));
	diags_free(&d);
}

static void
test_ignored_and_warnings(void **state)
{
	struct diags d = { 0 };
	struct remote r;

	parse_ok("h smtp -d -s -h --port=26", &r, &d);
	assert_int_equal(r.port, 26);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.v[0].severity, DIAG_WARNING);
	assert_int_equal(d.v[0].col, 8);
	assert_int_equal(d.v[1].col, 11);
	assert_int_equal(d.v[2].col, 14);
	assert_non_null(strstr(d.v[0].msg, "ignored"));
	remote_free(&r);
	diags_free(&d);

	parse_ok("h smtp --ssl --starttls", &r, &d);
	assert_int_equal(r.tls, REMOTE_TLS_SSL);
	assert_true(has_warning(&d, "--starttls is ignored"));
	remote_free(&r);
	diags_free(&d);

	parse_ok("h smtp --port=1 --port=2", &r, &d);
	assert_int_equal(r.port, 2);
	assert_true(has_warning(&d, "given twice"));
	remote_free(&r);
	diags_free(&d);

	parse_ok("h smtp --pass=x", &r, &d);
	assert_true(has_warning(&d, "without --user"));
	remote_free(&r);
	diags_free(&d);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *line;
		int col;
		const char *msg;
	} cases[] = {
		{ "h smtp --prot=587", 8, "did you mean --port?" },
		{ "h smtp --startls", 8, "did you mean --starttls?" },
		{ "h smtp x509cafle=/x", 8, "did you mean --x509cafile?" },
		{ "h smtp --frobnicate", 8, "unknown option --frobnicate" },
		{ "h qmqp", 3, "qmqp is not supported" },
		{ "h QMQP --port=628", 3, "qmqp is not supported" },
		{ "h lmtp", 3, "unknown protocol \"lmtp\"" },
		{ "  lonely", 9, "missing protocol" },
		{ "h smtp --port=abc", 15, "not a port number" },
		{ "h smtp --port=0", 15, "not a port number" },
		{ "h smtp -p 70000", 11, "not a port number" },
		{ "h smtp -pxyz", 10, "not a port number" },
		{ "h smtp --port", 8, "--port needs a value" },
		{ "h smtp -p", 8, "-p needs a port number" },
		{ "h smtp port", 8, "port needs a value: write port=VALUE" },
		{ "h smtp --ssl=yes", 8, "--ssl takes no value" },
		{ "h smtp -x", 8, "unknown option -x" },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct diags d = { 0 };
		const struct diag *e = parse_err(cases[i].line, &d);
		char *s;

		if (e->col != cases[i].col ||
		    strstr(e->msg, cases[i].msg) == NULL)
			fprintf(stderr, "case %zu: %d: %s\n", i, e->col,
			    e->msg);
		assert_int_equal(e->col, cases[i].col);
		assert_non_null(strstr(e->msg, cases[i].msg));
		s = diag_format(e);
		assert_int_equal(strncmp(s, "remotes:3:", 10), 0);
		assert_non_null(strstr(s, ": error: "));
		free(s);
		diags_free(&d);
	}
}

static void
test_file(void **state)
{
	char dir[] = "/tmp/test_remotesXXXXXX", *path, *pw, *pass, *err = NULL;
	struct diags d = { 0 };
	struct remote *v, copy;
	size_t n;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	xasprintf(&path, "%s/remotes", dir);
	xasprintf(&pw, "%s/pw", dir);
	/* A missing file is an empty list. */
	assert_int_equal(remotes_parse_file(path, &v, &n, &d), 0);
	assert_int_equal(n, 0);
	assert_int_equal(d.n, 0);

	assert_non_null(fp = fopen(pw, "w"));
	fputs("s3cret\n", fp);
	fclose(fp);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "# upstreams\n"
	    "a.example smtp --user=u --pass-file=%s\n"
	    "b.example qmqp\n"
	    "\n"
	    "c.example smtp --port=2525 # backup\n", pw);
	fclose(fp);
	assert_int_equal(remotes_parse_file(path, &v, &n, &d), -1);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].host, "a.example");
	assert_int_equal(v[0].line, 2);
	assert_string_equal(v[1].host, "c.example");
	assert_int_equal(v[1].line, 5);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].file, path);
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[0].col, 11);

	pass = remote_password(&v[0], &err);
	assert_string_equal(pass, "s3cret");
	free(pass);
	assert_null(remote_password(&v[1], &err));
	assert_non_null(err);
	free(err);

	remote_copy(&copy, &v[0]);
	assert_string_equal(copy.pass_file, pw);
	assert_ptr_not_equal(copy.host, v[0].host);
	remote_free(&copy);

	remotes_free(v, n);
	diags_free(&d);
	unlink(pw);
	unlink(path);
	rmdir(dir);
	free(pw);
	free(path);
}

static void
test_args(void **state)
{
	char *argv[] = { "--port", "587", "--x509cafile=/nonexistent",
	    "starttls", "--bogus" };
	struct diags d = { 0 };
	struct remote r = { 0 };

	r.host = xstrdup("h");
	assert_int_equal(remotes_parse_args(&r, 4, argv, "cmdline", &d), 0);
	assert_int_equal(r.port, 587);
	assert_int_equal(r.tls, REMOTE_TLS_STARTTLS);
	assert_int_equal(d.n, 1);	/* the missing CA file */
	assert_int_equal(d.v[0].line, 0);
	assert_non_null(strstr(d.v[0].msg, "/nonexistent"));
	assert_int_equal(remotes_parse_args(&r, 5, argv, "cmdline", &d), -1);
	assert_non_null(strstr(d.v[d.n - 1].msg, "--bogus"));
	remote_free(&r);
	diags_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_option_forms),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_comment_eats_value),
		cmocka_unit_test(test_ignored_and_warnings),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
