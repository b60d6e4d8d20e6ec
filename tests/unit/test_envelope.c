/*
 * Tests of envelope.c: the queue file text survives a round trip, no value
 * can break the line structure, damaged files are errors and never crashes,
 * queue IDs sort by creation, and maildrop files are written durably.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "envelope.h"
#include "util.h"

static void
make_sample(struct envelope *env)
{
	struct envelope_rcpt *r;

	envelope_init(env);
	qid_new(env->id);
	env->sender = xstrdup("alice@example.org");
	env->arrival = 1763800000;
	env->size = 4242;
	env->held = 1;
	env->smtputf8 = 1;
	env->body_8bit = 1;
	env->client = xstrdup("client.example[192.0.2.1]");
	env->helo = xstrdup("client.example");
	env->auth_user = xstrdup("alice");
	env->tls = xstrdup("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384");
	env->origin_uid = 1000;
	env->dsn_sent = 1;
	r = envelope_add_rcpt(env, "bob@example.net", "rfc822;Bob@example.net");
	r->state = RCPT_DEFERRED;
	r->attempts = 3;
	r->next_try = 1763800600;
	r->last_error = xstrdup("host mx[198.51.100.7] said: 451 4.3.0 try"
	    "\r\nlater\\again\tnow\x01\x7f");
	r->relay = xstrdup("mx.example.net[198.51.100.7]:25");
	r->dsn_status = xstrdup("4.3.0");
	envelope_rcpt_history_add(r, 1763800100, "first\nfailure");
	envelope_rcpt_history_add(r, 1763800200, "second failure");
	r = envelope_add_rcpt(env, "carol@example.net", NULL);
	r->state = RCPT_DELIVERED;
	envelope_add_rcpt(env, "dan@example.net", NULL)->state = RCPT_BOUNCED;
}

static void
assert_same(const struct envelope *a, const struct envelope *b)
{
	size_t i, j;

	assert_string_equal(a->id, b->id);
	assert_string_equal(a->sender, b->sender);
	assert_int_equal(a->arrival, b->arrival);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->held, b->held);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->body_8bit, b->body_8bit);
	assert_string_equal(a->client, b->client);
	assert_string_equal(a->helo, b->helo);
	assert_string_equal(a->auth_user, b->auth_user);
	assert_string_equal(a->tls, b->tls);
	assert_int_equal(a->origin_uid, b->origin_uid);
	assert_int_equal(a->dsn_sent, b->dsn_sent);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (i = 0; i < a->nrcpt; i++) {
		const struct envelope_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

		assert_string_equal(x->addr, y->addr);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_int_equal(x->next_try, y->next_try);
		assert_true((x->orcpt == NULL) == (y->orcpt == NULL));
		if (x->orcpt != NULL)
			assert_string_equal(x->orcpt, y->orcpt);
		assert_true((x->last_error == NULL) == (y->last_error == NULL));
		if (x->last_error != NULL)
			assert_string_equal(x->last_error, y->last_error);
		assert_int_equal(x->nhistory, y->nhistory);
		for (j = 0; j < x->nhistory; j++) {
			assert_int_equal(x->history[j].when,
			    y->history[j].when);
			assert_string_equal(x->history[j].text,
			    y->history[j].text);
		}
	}
}

static void
test_round_trip(void **state)
{
	struct envelope a, b, c;
	struct buf text;
	char *err = NULL;

	make_sample(&a);
	buf_init(&text);
	envelope_serialize(&a, &text);
	if (envelope_parse(text.data, text.len, &b, &err) < 0)
		fail_msg("parse: %s\n%s", err, text.data);
	assert_same(&a, &b);

	/* Serialising the parsed copy gives the same bytes: stable format. */
	{
		struct buf again;

		buf_init(&again);
		envelope_serialize(&b, &again);
		assert_int_equal(again.len, text.len);
		assert_memory_equal(again.data, text.data, text.len);
		buf_free(&again);
	}
	envelope_copy(&c, &b);
	assert_same(&a, &c);
	envelope_free(&a);
	envelope_free(&b);
	envelope_free(&c);
	buf_free(&text);
}

/* The scheduler's dsn_rate note is copied with the envelope, never written. */
static void
test_dsn_wait_in_memory_only(void **state)
{
	struct envelope a, b, c;
	struct buf plain, noted;

	make_sample(&a);
	buf_init(&plain);
	envelope_serialize(&a, &plain);
	a.dsn_wait_rate = xstrdup("3/1h");
	a.dsn_wait_until = 1763803600;
	buf_init(&noted);
	envelope_serialize(&a, &noted);
	assert_int_equal(noted.len, plain.len);
	assert_memory_equal(noted.data, plain.data, plain.len);

	envelope_copy(&c, &a);
	assert_string_equal(c.dsn_wait_rate, "3/1h");
	assert_ptr_not_equal(c.dsn_wait_rate, a.dsn_wait_rate);
	assert_int_equal(c.dsn_wait_until, 1763803600);
	assert_int_equal(envelope_parse(noted.data, noted.len, &b, NULL), 0);
	assert_null(b.dsn_wait_rate);
	assert_int_equal(b.dsn_wait_until, 0);
	envelope_free(&a);
	envelope_free(&b);
	envelope_free(&c);
	buf_free(&plain);
	buf_free(&noted);
}

static void
test_escaping_keeps_lines(void **state)
{
	struct envelope a;
	struct buf text;
	size_t i, lines = 0;

	make_sample(&a);
	buf_init(&text);
	envelope_serialize(&a, &text);
	/* Every line is "key: value", the magic line or "end": the CR/LF
	 * inside the error text did not split a line. */
	for (i = 0; i < text.len; i++) {
		assert_true(text.data[i] != '\r');
		assert_true((unsigned char)text.data[i] >= 0x20 ||
		    text.data[i] == '\n');
		if (text.data[i] == '\n')
			lines++;
	}
	assert_non_null(strstr(text.data, "\\r\\nlater\\\\again\\tnow\\x01\\x7F"));
	assert_non_null(strstr(text.data, "history: 1763800100 first\\nfailure"));
	assert_string_equal(text.data + text.len - 4, "end\n");
	assert_true(lines > 20);
	envelope_free(&a);
	buf_free(&text);
}

static void
test_null_sender_and_unknown_keys(void **state)
{
	static const char text[] =
	    "hikyaku-envelope 1\n"
	    "id: 0123456789ABC0001\n"
	    "sender: \n"
	    "future-key: something new\n"
	    "rcpt: x@example.com\n"
	    "future-rcpt-key: 12\n"
	    "state: pending\n"
	    "end\n";
	struct envelope e;
	char *err = NULL;

	if (envelope_parse(text, sizeof(text) - 1, &e, &err) < 0)
		fail_msg("%s", err);
	assert_string_equal(e.sender, "");
	assert_int_equal(e.nrcpt, 1);
	assert_int_equal(e.origin_uid, -1);
	assert_false(envelope_all_done(&e));
	e.rcpts[0].state = RCPT_BOUNCED;
	assert_true(envelope_all_done(&e));
	envelope_free(&e);
}

static void
expect_error(const char *text, size_t len, const char *needle)
{
	struct envelope e;
	char *err = NULL;

	if (envelope_parse(text, len, &e, &err) == 0)
		fail_msg("accepted: %.*s", (int)len, text);
	assert_non_null(err);
	if (needle != NULL && strstr(err, needle) == NULL)
		fail_msg("error '%s' lacks '%s'", err, needle);
	assert_int_equal(e.nrcpt, 0);
	assert_null(e.sender);
	free(err);
}

#define GOOD_HEAD "hikyaku-envelope 1\nid: 0123456789ABC0001\nsender: a@b\n"

static void
test_corrupt_inputs(void **state)
{
	static const char *const bad[][2] = {
		{ "", "empty" },
		{ "garbage\n", "not a hikyaku envelope" },
		{ "hikyaku-envelope 2\nend\n", "version" },
		{ "hikyaku-envelope x\nend\n", "version" },
		{ GOOD_HEAD "rcpt: c@d\n", "end line" },
		{ GOOD_HEAD "rcpt: c@d\nend", "truncated" },
		{ GOOD_HEAD "end\n", "no recipients" },
		{ "hikyaku-envelope 1\nid: 0123456789ABC0001\nrcpt: c@d\nend\n",
		    "sender" },
		{ "hikyaku-envelope 1\nsender: a@b\nrcpt: c@d\nend\n",
		    "queue ID" },
		{ "hikyaku-envelope 1\nid: ../../etc/passwd\nsender: a@b\n"
		    "rcpt: c@d\nend\n", "queue ID" },
		{ GOOD_HEAD "state: pending\nrcpt: c@d\nend\n", "before" },
		{ GOOD_HEAD "rcpt: c@d\nstate: lost\nend\n", "state" },
		{ GOOD_HEAD "rcpt: c@d\nattempts: many\nend\n", "number" },
		{ GOOD_HEAD "rcpt: c@d\nattempts: 99999999999\nend\n",
		    "number" },
		{ GOOD_HEAD "rcpt: c@d\nlast-error: a\\qb\nend\n", "escape" },
		{ GOOD_HEAD "rcpt: c@d\nlast-error: a\\x0\nend\n", "escape" },
		{ GOOD_HEAD "rcpt: c@d\nlast-error: a\\x00\nend\n", "escape" },
		{ GOOD_HEAD "rcpt: c@d\nlast-error: a\\\nend\n", "escape" },
		{ GOOD_HEAD "rcpt: c@d\nhistory: soon text\nend\n", "history" },
		{ GOOD_HEAD "rcpt: c@d\nno colon here\nend\n", "key: value" },
		{ GOOD_HEAD "rcpt: \nend\n", "empty recipient" },
		{ GOOD_HEAD "rcpt: c@d\nend\nextra\n", "after the end" },
	};
	size_t i;

	for (i = 0; i < nitems(bad); i++)
		expect_error(bad[i][0], strlen(bad[i][0]), bad[i][1]);
	/* A NUL inside a line. */
	{
		static const char nul[] = GOOD_HEAD "rcpt: c@\0d\nend\n";

		expect_error(nul, sizeof(nul) - 1, "NUL");
	}
}

/* Cheap fuzzing: every truncation and many random byte flips of a real
 * file must give a clean result (success or an error), never a crash or
 * a leak (run under ASan). */
static void
test_fuzz(void **state)
{
	struct envelope a, e;
	struct buf text;
	char *copy, *err;
	size_t i, n;
	unsigned seed = 12345;

	make_sample(&a);
	buf_init(&text);
	envelope_serialize(&a, &text);
	for (i = 0; i < text.len; i++) {
		err = NULL;
		copy = xmalloc(i + 1);
		memcpy(copy, text.data, i);
		if (envelope_parse(copy, i, &e, &err) == 0)
			fail_msg("truncated at %zu accepted", i);
		free(err);
		free(copy);
	}
	copy = xmalloc(text.len);
	for (n = 0; n < 20000; n++) {
		memcpy(copy, text.data, text.len);
		for (i = 0; i < 1 + n % 4; i++) {
			seed = seed * 1103515245u + 12345u;
			copy[(seed >> 8) % text.len] = (char)(seed >> 20);
		}
		err = NULL;
		if (envelope_parse(copy, text.len, &e, &err) == 0)
			envelope_free(&e);
		else
			free(err);
	}
	free(copy);
	envelope_free(&a);
	buf_free(&text);
}

static void
test_history_cap(void **state)
{
	struct envelope_rcpt r;
	char text[32];
	int i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < 25; i++) {
		snprintf(text, sizeof(text), "try %d", i);
		envelope_rcpt_history_add(&r, i, text);
	}
	assert_int_equal(r.nhistory, ENVELOPE_HISTORY_MAX);
	assert_string_equal(r.history[0].text, "try 15");
	assert_string_equal(r.history[ENVELOPE_HISTORY_MAX - 1].text, "try 24");
	for (i = 0; i < (int)r.nhistory; i++)
		free(r.history[i].text);
	free(r.history);
}

static void
test_qid_order(void **state)
{
	char prev[QID_LEN + 1], cur[QID_LEN + 1];
	char seed[QID_LEN + 1];
	int i;

	qid_new(prev);
	assert_true(qid_valid(prev));
	for (i = 0; i < 100000; i++) {
		qid_new(cur);
		assert_int_equal(strlen(cur), QID_LEN);
		if (strcmp(prev, cur) >= 0)
			fail_msg("%s after %s", cur, prev);
		memcpy(prev, cur, sizeof(cur));
	}
	/* A queue recovered from a clock that ran ahead: new IDs still sort
	 * after the old ones. */
	memcpy(seed, "F000000000000", 13);
	memcpy(seed + 13, "0000", 5);
	qid_seed(seed);
	qid_new(cur);
	assert_true(strcmp(cur, seed) > 0);
	assert_false(qid_valid("0123"));
	assert_false(qid_valid("0123456789abc0001"));
	assert_false(qid_valid("0123456789ABC000/"));
}

static void
test_state_names(void **state)
{
	enum rcpt_state s;

	assert_string_equal(envelope_state_name(RCPT_DEFERRED), "deferred");
	assert_int_equal(envelope_state_parse("bounced", &s), 0);
	assert_int_equal(s, RCPT_BOUNCED);
	assert_int_equal(envelope_state_parse("held", &s), -1);
}

static void
test_maildrop_write_and_parse(void **state)
{
	char dir[] = "/tmp/test_envelope.XXXXXX", *path, *text, *err = NULL;
	static const char msg[] = "Subject: hi\n\nbody\n";
	struct envelope env, got;
	struct dirent *de;
	struct stat st;
	size_t len, off;
	int files = 0;
	DIR *d;

	assert_non_null(mkdtemp(dir));
	xasprintf(&path, "%s/%s", dir, SPOOL_MAILDROP_DIR);
	assert_int_equal(mkdir(path, 0700), 0);

	envelope_init(&env);
	env.sender = xstrdup("user@host.example");
	envelope_add_rcpt(&env, "root@host.example", NULL);
	envelope_add_rcpt(&env, "other@example.org", NULL);
	if (maildrop_write(dir, &env, msg, strlen(msg), &err) < 0)
		fail_msg("%s", err);

	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char *f;

		if (de->d_name[0] == '.')
			continue;
		files++;
		assert_true(strncmp(de->d_name, "tmp.", 4) != 0);
		assert_int_equal(strlen(de->d_name), QID_LEN + 1 + 16);
		xasprintf(&f, "%s/%s", path, de->d_name);
		assert_int_equal(stat(f, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0644);
		text = read_file(f, &len);
		assert_non_null(text);
		if (maildrop_parse(text, len, &got, &off, &err) < 0)
			fail_msg("%s", err);
		assert_string_equal(got.sender, "user@host.example");
		assert_int_equal(got.nrcpt, 2);
		assert_string_equal(got.rcpts[1].addr, "other@example.org");
		assert_string_equal(got.id, "");
		assert_int_equal(len - off, strlen(msg));
		assert_memory_equal(text + off, msg, strlen(msg));
		envelope_free(&got);
		/* A drop file is not a queue envelope (no ID, data after). */
		assert_int_equal(envelope_parse(text, len, &got, &err), -1);
		free(err);
		free(text);
		unlink(f);
		free(f);
	}
	closedir(d);
	assert_int_equal(files, 1);

	/* No maildrop directory: an error, nothing left anywhere. */
	rmdir(path);
	assert_int_equal(maildrop_write(dir, &env, msg, strlen(msg), &err), -1);
	assert_non_null(err);
	free(err);
	envelope_free(&env);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_dsn_wait_in_memory_only),
		cmocka_unit_test(test_escaping_keeps_lines),
		cmocka_unit_test(test_null_sender_and_unknown_keys),
		cmocka_unit_test(test_corrupt_inputs),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_history_cap),
		cmocka_unit_test(test_qid_order),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_maildrop_write_and_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
