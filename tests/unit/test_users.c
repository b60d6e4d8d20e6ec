/*
 * Tests of users.c (the users file) and of the server side of sasl.c
 * driven by its client side: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <gsasl.h>

#include "config.h"
#include "sasl.h"
#include "users.h"
#include "util.h"

/* gsasl --mkpasswd --password 'pa:ss#1' --iteration-count 4096
 * --salt c2FsdHNhbHRzYWx0c2FsdA== for each mechanism. */
#define SALT	"c2FsdHNhbHRzYWx0c2FsdA=="
#define S256	"{SCRAM-SHA-256}4096," SALT ",/HalyFAFSy+qVL37YbPfcCgHjSd4Kf" \
		"mXcS1lV7m4sLc=,VFOfnCC41Z+ziRBlNNOWJ2YmTmYRVoq9AGd6T95bQsk="
#define S1	"{SCRAM-SHA-1}4096," SALT ",yWykFC2Q22ZUBIskS+jL/sVDQWM=," \
		"TzTJit0rPf3c1cX/Kz0lSFAvqbo="
#define PASS	"pa:ss#1"

static char dir[] = "/tmp/test_users.XXXXXX";

static char *
path_in(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", dir, name);
	return p;
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
test_secret_matches_gsasl_mkpasswd(void **state)
{
	struct users_secret s;

	assert_int_equal(users_secret_make(USERS_SHA256, PASS,
	    "saltsaltsaltsalt", 16, 4096, &s), 0);
	assert_string_equal(s.salt, SALT);
	assert_string_equal(s.stored_key,
	    "/HalyFAFSy+qVL37YbPfcCgHjSd4KfmXcS1lV7m4sLc=");
	assert_string_equal(s.server_key,
	    "VFOfnCC41Z+ziRBlNNOWJ2YmTmYRVoq9AGd6T95bQsk=");
	users_secret_free(&s);
	assert_int_equal(users_secret_make(USERS_SHA1, PASS,
	    "saltsaltsaltsalt", 16, 4096, &s), 0);
	assert_string_equal(s.stored_key, "yWykFC2Q22ZUBIskS+jL/sVDQWM=");
	users_secret_free(&s);
}

static void
test_load(void **state)
{
	char *p = path_in("users-load");
	struct users u;
	struct diags d;
	const struct users_entry *e;

	write_text(p, "# accounts\n\nalice:" S256 ":" S1 "\n"
	    "bob:" S256 "\n"
	    "carol:{MD5}abc\n"
	    "dave:" S256 ",c2FsdA==\n"
	    "erin:{SCRAM-SHA-256}4096,!!!,AAAA,AAAA\n"
	    "alice:" S256 "\n"
	    "frank:" S1 "\n"
	    "bad name:" S256 "\n", 0600);
	memset(&d, 0, sizeof(d));
	assert_int_equal(users_load(p, &u, &d), -1);
	assert_int_equal(u.n, 2);
	e = users_find(&u, "alice");
	assert_non_null(e);
	assert_int_equal(e->line, 3);
	assert_int_equal(e->sha256.iter, 4096);
	assert_int_equal(e->sha1.iter, 4096);
	e = users_find(&u, "bob");
	assert_non_null(e);
	assert_int_equal(e->sha1.iter, 0);
	assert_null(users_find(&u, "carol"));
	assert_int_equal(d.n, 6);
	assert_int_equal(d.v[0].line, 5);
	assert_non_null(strstr(d.v[0].msg, "unknown secret"));
	assert_non_null(strstr(d.v[1].msg, "salted password"));
	assert_non_null(strstr(d.v[2].msg, "salt is not base64"));
	assert_non_null(strstr(d.v[3].msg, "already defined on line 3"));
	assert_non_null(strstr(d.v[4].msg, "no {SCRAM-SHA-256}"));
	assert_int_equal(d.v[5].line, 10);
	diags_free(&d);
	users_free(&u);

	/* A missing file is an empty table. */
	free(p);
	p = path_in("no-such-file");
	memset(&d, 0, sizeof(d));
	assert_int_equal(users_load(p, &u, &d), 0);
	assert_int_equal(u.n, 0);
	assert_int_equal(d.n, 0);
	users_free(&u);
	free(p);
}

static void
test_check_password(void **state)
{
	char *p = path_in("users-check");
	struct users u;
	struct diags d;

	write_text(p, "alice:" S256 "\nsha1only:" S256 ":" S1 "\n", 0600);
	memset(&d, 0, sizeof(d));
	assert_int_equal(users_load(p, &u, &d), 0);
	assert_true(users_check_password(users_find(&u, "alice"), PASS));
	assert_false(users_check_password(users_find(&u, "alice"), "pa:ss#2"));
	assert_false(users_check_password(users_find(&u, "alice"), ""));
	assert_false(users_check_password(NULL, PASS));
	users_free(&u);
	free(p);
}

static void
test_set(void **state)
{
	char *p = path_in("users-set"), *err = NULL, *text;
	struct users u;
	struct diags d;
	struct stat st;

	/* New file: 0640. */
	assert_int_equal(users_set(p, "alice", "one", &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Comments and other lines survive; a world-readable file is
	 * closed to others; the old secret is replaced. */
	write_text(p, "# keep me\nbob:" S256 "\n", 0644);
	assert_int_equal(users_set(p, "alice", "two", &err), 0);
	assert_int_equal(users_set(p, "bob", "three", &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	text = read_file(p, NULL);
	assert_non_null(text);
	assert_memory_equal(text, "# keep me\nbob:{SCRAM-SHA-256}4096,", 33);
	assert_non_null(strstr(text, "\nalice:{SCRAM-SHA-256}4096,"));
	assert_non_null(strstr(text, ":{SCRAM-SHA-1}4096,"));
	assert_null(strstr(text, "three"));
	free(text);
	memset(&d, 0, sizeof(d));
	assert_int_equal(users_load(p, &u, &d), 0);
	assert_int_equal(u.n, 2);
	assert_true(users_check_password(users_find(&u, "alice"), "two"));
	assert_true(users_check_password(users_find(&u, "bob"), "three"));
	assert_false(users_check_password(users_find(&u, "bob"), PASS));
	users_free(&u);

	assert_int_equal(users_set(p, "bob", NULL, &err), 0);
	assert_int_equal(users_set(p, "bob", NULL, &err), -1);
	assert_non_null(strstr(err, "no user bob"));
	free(err);
	err = NULL;
	assert_int_equal(users_set(p, "a:b", "x", &err), -1);
	free(err);
	memset(&d, 0, sizeof(d));
	assert_int_equal(users_load(p, &u, &d), 0);
	assert_int_equal(u.n, 1);
	users_free(&u);
	free(p);
}

/* Run a whole exchange: our client against our server. 1 on success. */
static int
exchange(const char *mech, const struct users *u, const char *user,
    const char *pass, char **who)
{
	struct sasl_client *c;
	struct sasl_server *s;
	char *err = NULL, *cout = NULL, *sout = NULL;
	enum sasl_step cr, sr = SASL_STEP_MORE;
	int bad, rounds = 0, ok = 0;

	c = sasl_client_new(mech, user, pass, 0, "localhost", &err);
	assert_non_null(c);
	s = sasl_server_new(mech, u, &err);
	assert_non_null(s);
	cr = sasl_client_step(c, NULL, &cout, &err);
	assert_int_not_equal(cr, SASL_STEP_ERROR);
	while (rounds++ < 6) {
		sr = sasl_server_step(s, cout != NULL ? cout : "", &sout, &bad,
		    &err);
		free(cout);
		cout = NULL;
		if (sr == SASL_STEP_DONE) {
			ok = 1;
			break;
		}
		if (sr == SASL_STEP_ERROR) {
			assert_false(bad);
			free(err);
			break;
		}
		cr = sasl_client_step(c, sout, &cout, &err);
		free(sout);
		sout = NULL;
		if (cr == SASL_STEP_ERROR) {
			free(err);
			break;
		}
	}
	if (who != NULL && ok)
		*who = xstrdup(sasl_server_user(s));
	free(cout);
	sasl_client_free(c);
	sasl_server_free(s);
	return ok;
}

static void
test_sasl_server(void **state)
{
	char *p = path_in("users-sasl"), *who = NULL, *err = NULL, *out;
	static const char *const mechs[] = {
		"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN" };
	struct sasl_server *s;
	struct users u;
	struct diags d;
	size_t i;
	int bad;

	write_text(p, "alice:" S256 ":" S1 "\nbob:" S256 "\n", 0600);
	memset(&d, 0, sizeof(d));
	assert_int_equal(users_load(p, &u, &d), 0);
	for (i = 0; i < nitems(mechs); i++) {
		assert_true(exchange(mechs[i], &u, "alice", PASS, &who));
		assert_string_equal(who, "alice");
		free(who);
		who = NULL;
		assert_false(exchange(mechs[i], &u, "alice", "wrong", NULL));
		assert_false(exchange(mechs[i], &u, "nobody", PASS, NULL));
	}
	/* bob has no SCRAM-SHA-1 secret. */
	assert_true(exchange("SCRAM-SHA-256", &u, "bob", PASS, NULL));
	assert_false(exchange("SCRAM-SHA-1", &u, "bob", PASS, NULL));

	/* Not offered, and malformed input. */
	assert_null(sasl_server_new("GSSAPI", &u, &err));
	free(err);
	err = NULL;
	s = sasl_server_new("plain", &u, &err);
	assert_non_null(s);
	assert_int_equal(sasl_server_step(s, "!!!notbase64", &out, &bad,
	    &err), SASL_STEP_ERROR);
	assert_true(bad);
	free(err);
	sasl_server_free(s);
	users_free(&u);
	free(p);
}

/* The s= field of a base64 server-first message (allocated). */
static char *
salt_of(const char *b64)
{
	char *raw = NULL, *p, *salt;
	size_t len = 0;

	assert_int_equal(gsasl_base64_from(b64, strlen(b64), &raw, &len),
	    GSASL_OK);
	p = strstr(raw, ",s=");
	assert_non_null(p);
	salt = xstrndup(p + 3, strcspn(p + 3, ","));
	assert_non_null(strstr(raw, ",i=4096"));
	gsasl_free(raw);
	return salt;
}

static char *
first_reply(const struct users *u, const char *client_first_b64)
{
	struct sasl_server *s;
	char *out = NULL, *err = NULL, *salt;
	int bad;

	s = sasl_server_new("SCRAM-SHA-256", u, &err);
	assert_non_null(s);
	assert_int_equal(sasl_server_step(s, client_first_b64, &out, &bad,
	    &err), SASL_STEP_MORE);
	sasl_server_free(s);
	salt = salt_of(out);
	free(out);
	return salt;
}

/* An unknown name gets a salt that is stable and differs per name. */
static void
test_fake_salt(void **state)
{
	struct users u = { NULL, 0 };
	char *a, *b, *c;

	/* "n,,n=ghost,r=abc" twice, then "n,,n=other,r=abc". */
	a = first_reply(&u, "biwsbj1naG9zdCxyPWFiYw==");
	b = first_reply(&u, "biwsbj1naG9zdCxyPWFiYw==");
	c = first_reply(&u, "biwsbj1vdGhlcixyPWFiYw==");
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	free(a);
	free(b);
	free(c);
}

static int
setup(void **state)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char *cmd;
	int rc;

	xasprintf(&cmd, "rm -rf %s", dir);
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_matches_gsasl_mkpasswd),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_check_password),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_sasl_server),
		cmocka_unit_test(test_fake_salt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
