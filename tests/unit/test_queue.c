/*
 * Tests of queue.c on a real event loop: concurrent commits share syncs
 * (group commit), failures leave nothing behind, recovery removes orphans
 * and quarantines corrupt files, and maildrop files become queued mail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "envelope.h"
#include "event.h"
#include "log.h"
#include "queue.h"
#include "util.h"

static char spool[64];

/* What the committed hook (the scheduler's place) received. */
static struct envelope *hooked[512];
static size_t nhooked;

/* What done callbacks received. */
struct done_rec {
	int	 called;
	int	 ok;
	int	 error;
	char	 id[QID_LEN + 1];
	int	 order;
};
static int done_order;
static size_t ndone;

static void
hook(struct envelope *env, void *arg)
{
	assert_true(nhooked < nitems(hooked));
	hooked[nhooked++] = env;
}

static void
hooked_clear(void)
{
	size_t i;

	for (i = 0; i < nhooked; i++) {
		envelope_free(hooked[i]);
		free(hooked[i]);
	}
	nhooked = 0;
}

static void
on_done(void *arg, const struct envelope *env, int error)
{
	struct done_rec *d = arg;

	d->called++;
	ndone++;
	d->ok = env != NULL;
	d->error = error;
	d->order = done_order++;
	if (env != NULL)
		memcpy(d->id, env->id, sizeof(d->id));
}

/* Run the loop until *count reaches want, failing after 10 s. */
static const size_t *wait_count;
static size_t wait_want;
static struct ev_timer *wait_timer;
static uint64_t wait_deadline;

static void
wait_tick(void *unused)
{
	if (*wait_count >= wait_want || ev_now() > wait_deadline)
		ev_break();
	else
		ev_timer_after(wait_timer, 5);
}

static void
run_until(const size_t *count, size_t want)
{
	wait_count = count;
	wait_want = want;
	wait_deadline = now_monotonic_ms() + 10000;
	if (wait_timer == NULL)
		wait_timer = ev_timer_new(wait_tick, NULL);
	ev_timer_after(wait_timer, 1);
	ev_run();
	if (*count < want)
		fail_msg("timed out: %zu of %zu", *count, want);
}

static int
spool_exists(const char *dir, const char *qid, const char *suffix)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s%s", spool, dir, qid, suffix);
	return stat(path, &st) == 0;
}

static size_t
dir_count(const char *dir)
{
	char path[4096];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", spool, dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
rm_rf(const char *path)
{
	char *cmd;

	xasprintf(&cmd, "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int
setup(void **state)
{
	char *err = NULL;

	snprintf(spool, sizeof(spool), "/tmp/test_queue.XXXXXX");
	if (mkdtemp(spool) == NULL)
		return -1;
	if (queue_open(spool, getuid(), getgid(), &err) < 0) {
		fprintf(stderr, "queue_open: %s\n", err);
		return -1;
	}
	queue_set_committed_hook(hook, NULL);
	queue_configure("relay.test", 0);
	done_order = 0;
	ndone = 0;
	return 0;
}

static int
teardown(void **state)
{
	queue_close();
	hooked_clear();
	rm_rf(spool);
	return 0;
}

static struct envelope *
new_head(const char *sender, const char *rcpt)
{
	struct envelope *env = xmalloc(sizeof(*env));

	envelope_init(env);
	env->sender = xstrdup(sender);
	env->client = xstrdup("localhost[127.0.0.1]");
	envelope_add_rcpt(env, rcpt, NULL);
	return env;
}

static void
test_spool_tree(void **state)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", spool, SPOOL_MAILDROP_DIR);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01733);
	snprintf(path, sizeof(path), "%s/%s", spool, SPOOL_QUEUE_DIR);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(path, sizeof(path), "%s/%s", spool, SPOOL_QUARANTINE_DIR);
	assert_int_equal(stat(path, &st), 0);
}

#define NMSG	200

static void
test_group_commit(void **state)
{
	static struct queue_incoming *inc[NMSG];
	static struct done_rec done[NMSG];
	char line[128], id[NMSG][QID_LEN + 1], *text, path[4096];
	uint64_t syncs0 = queue_sync_count(), msgs0 = queue_synced_messages();
	size_t i, called = 0, len;
	int round;

	memset(done, 0, sizeof(done));
	for (i = 0; i < NMSG; i++) {
		char *err = NULL;

		snprintf(line, sizeof(line), "rcpt%zu@example.net", i);
		inc[i] = queue_incoming_new(new_head("a@example.org", line),
		    &err);
		if (inc[i] == NULL)
			fail_msg("%s", err);
		memcpy(id[i], queue_incoming_id(inc[i]), sizeof(id[i]));
		if (i > 0)
			assert_true(strcmp(id[i - 1], id[i]) < 0);
	}
	/* Sessions interleave their DATA. */
	for (round = 0; round < 3; round++)
		for (i = 0; i < NMSG; i++) {
			snprintf(line, sizeof(line), "Line %d of message %zu\r\n",
			    round, i);
			assert_int_equal(queue_incoming_write(inc[i], line,
			    strlen(line)), 0);
		}
	/* Half commit, the loop turns, the other half commit while the sync
	 * thread may be busy: all of them must share few syncs. */
	for (i = 0; i < NMSG / 2; i++)
		queue_incoming_commit(inc[i], on_done, &done[i]);
	for (i = NMSG / 2; i < NMSG; i++)
		queue_incoming_commit(inc[i], on_done, &done[i]);
	/* A session that closes before its 250: still committed. */
	queue_incoming_detach(inc[7]);

	run_until(&nhooked, NMSG);
	for (i = 0; i < NMSG; i++) {
		if (i == 7) {
			assert_int_equal(done[i].called, 0);
			continue;
		}
		assert_int_equal(done[i].called, 1);
		assert_true(done[i].ok);
		assert_int_equal(done[i].error, 0);
		assert_string_equal(done[i].id, id[i]);
		if (i > 0 && i != 8)
			assert_true(done[i].order > done[i - 1].order);
		called++;
	}
	assert_int_equal(called, NMSG - 1);
	assert_int_equal(nhooked, NMSG);
	for (i = 0; i < NMSG; i++) {
		/* The hook sees them in commit order, with the final size. */
		assert_string_equal(hooked[i]->id, id[i]);
		assert_true(hooked[i]->size > 40);
		assert_true(hooked[i]->arrival > 1700000000);
		assert_true(spool_exists(SPOOL_QUEUE_DIR, id[i], ".env"));
		assert_true(spool_exists(SPOOL_QUEUE_DIR, id[i], ".msg"));
	}
	/* Group commit: fewer syncs than messages, and each message covered. */
	assert_true(queue_sync_count() - syncs0 <= 2);
	assert_int_equal(queue_synced_messages() - msgs0, NMSG);

	snprintf(path, sizeof(path), "%s/%s/%s.msg", spool, SPOOL_QUEUE_DIR,
	    id[42]);
	text = read_file(path, &len);
	assert_non_null(text);
	assert_string_equal(text, "Line 0 of message 42\r\nLine 1 of message "
	    "42\r\nLine 2 of message 42\r\n");
	assert_int_equal((int64_t)len, hooked[42]->size);
	free(text);
	hooked_clear();
}

static void
test_update_remove_open(void **state)
{
	struct done_rec done = { 0 };
	struct queue_incoming *inc;
	struct envelope *env, back;
	char qid[QID_LEN + 1], path[4096], buf[64], *err = NULL;
	ssize_t n;
	int fd;

	inc = queue_incoming_new(new_head("", "x@example.net"), &err);
	assert_non_null(inc);
	assert_int_equal(queue_incoming_write(inc, "Subject: t\r\n\r\nhi\r\n",
	    18), 0);
	queue_incoming_commit(inc, on_done, &done);
	run_until(&nhooked, 1);
	env = hooked[0];
	memcpy(qid, env->id, sizeof(qid));

	env->rcpts[0].state = RCPT_DEFERRED;
	env->rcpts[0].attempts = 1;
	env->rcpts[0].last_error = xstrdup("421 4.3.2 go away\r\n");
	assert_int_equal(queue_update(env), 0);
	snprintf(path, sizeof(path), "%s/%s/%s.env", spool, SPOOL_QUEUE_DIR,
	    qid);
	if (envelope_read_file(path, &back, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(back.rcpts[0].state, RCPT_DEFERRED);
	assert_string_equal(back.rcpts[0].last_error, "421 4.3.2 go away\r\n");
	assert_string_equal(back.sender, "");
	envelope_free(&back);
	assert_false(spool_exists(SPOOL_QUEUE_DIR, qid, ".env.tmp"));

	fd = queue_message_open(qid);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	assert_int_equal(n, 18);
	close(fd);

	assert_int_equal(queue_remove(qid), 0);
	assert_false(spool_exists(SPOOL_QUEUE_DIR, qid, ".env"));
	assert_false(spool_exists(SPOOL_QUEUE_DIR, qid, ".msg"));
	assert_int_equal(queue_message_open(qid), -1);
	assert_int_equal(queue_message_open("../../etc/passwd"), -1);
	hooked_clear();
}

static void
test_abort(void **state)
{
	struct queue_incoming *inc;
	char *err = NULL;

	inc = queue_incoming_new(new_head("a@b.example", "c@d.example"), &err);
	assert_non_null(inc);
	assert_int_equal(queue_incoming_write(inc, "x\r\n", 3), 0);
	queue_incoming_abort(inc);
	assert_int_equal(dir_count(SPOOL_QUEUE_DIR), 0);
}

/* Disk full stand-in: RLIMIT_FSIZE makes writes fail (EFBIG) the way
 * ENOSPC does, at write time and at the flush inside commit. */
static void
test_write_failure_leaves_nothing(void **state)
{
	struct done_rec done1 = { 0 }, done2 = { 0 };
	struct queue_incoming *a, *b;
	struct rlimit old, lim;
	static char big[100 * 1024];
	char *err = NULL;

	memset(big, 'x', sizeof(big));
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	a = queue_incoming_new(new_head("a@b.example", "c@d.example"), &err);
	b = queue_incoming_new(new_head("a@b.example", "c@d.example"), &err);
	assert_non_null(a);
	assert_non_null(b);
	/* Fails at once; the error sticks for the rest of DATA. */
	assert_int_equal(queue_incoming_write(a, big, sizeof(big)), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(queue_incoming_write(a, "y", 1), -1);
	/* Buffered: the failure shows at commit. */
	assert_int_equal(queue_incoming_write(b, big, 2000), 0);
	queue_incoming_commit(a, on_done, &done1);
	queue_incoming_commit(b, on_done, &done2);
	/* Never inline: the session is not re-entered from commit. */
	assert_int_equal(ndone, 0);
	run_until(&ndone, 2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(done1.called, 1);
	assert_int_equal(done2.called, 1);
	assert_false(done1.ok);
	assert_false(done2.ok);
	assert_int_equal(done1.error, EFBIG);
	assert_int_equal(done2.error, EFBIG);
	assert_int_equal(nhooked, 0);
	assert_int_equal(dir_count(SPOOL_QUEUE_DIR), 0);
}

static void
recovered(struct envelope *env, void *arg)
{
	hook(env, arg);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", spool, dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_recovery(void **state)
{
	struct done_rec done[3] = { { 0 } };
	char id[3][QID_LEN + 1], *err = NULL, name[64];
	char orphan[QID_LEN + 1], corrupt[QID_LEN + 1], lonely[QID_LEN + 1];
	size_t i;

	for (i = 0; i < 3; i++) {
		struct queue_incoming *inc;

		inc = queue_incoming_new(new_head("a@b.example", "c@d.example"),
		    &err);
		assert_non_null(inc);
		memcpy(id[i], queue_incoming_id(inc), sizeof(id[i]));
		assert_int_equal(queue_incoming_write(inc, "m\r\n", 3), 0);
		queue_incoming_commit(inc, on_done, &done[i]);
	}
	run_until(&nhooked, 3);
	hooked_clear();

	/* What a crash can leave: a message whose envelope never landed,
	 * half-written tmp files, plus a damaged envelope and an envelope
	 * that lost its message. */
	qid_new(orphan);
	snprintf(name, sizeof(name), "%s.msg", orphan);
	write_file(SPOOL_QUEUE_DIR, name, "half a message");
	snprintf(name, sizeof(name), "%s.env.tmp", id[1]);
	write_file(SPOOL_QUEUE_DIR, name, "hikyaku-envelope 1\nid: ");
	qid_new(corrupt);
	snprintf(name, sizeof(name), "%s.msg", corrupt);
	write_file(SPOOL_QUEUE_DIR, name, "body\r\n");
	snprintf(name, sizeof(name), "%s.env", corrupt);
	write_file(SPOOL_QUEUE_DIR, name, "hikyaku-envelope 1\nsender: x\n\x01");
	qid_new(lonely);
	snprintf(name, sizeof(name), "%s.env", lonely);
	write_file(SPOOL_QUEUE_DIR, name, "hikyaku-envelope 1\n");

	/* A restart. */
	queue_close();
	assert_int_equal(queue_open(spool, getuid(), getgid(), &err), 0);
	assert_int_equal(queue_recover(recovered, NULL), 3);
	assert_int_equal(nhooked, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(hooked[i]->id, id[i]);
		assert_non_null(hooked[i]->path);
	}
	assert_false(spool_exists(SPOOL_QUEUE_DIR, orphan, ".msg"));
	assert_false(spool_exists(SPOOL_QUEUE_DIR, id[1], ".env.tmp"));
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, corrupt, ".env"));
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, corrupt, ".msg"));
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, lonely, ".env"));
	assert_int_equal(dir_count(SPOOL_QUEUE_DIR), 6);
	hooked_clear();
}

static char *
msg_text(const char *qid)
{
	char path[4096];
	size_t len;

	snprintf(path, sizeof(path), "%s/%s/%s.msg", spool, SPOOL_QUEUE_DIR,
	    qid);
	return read_file(path, &len);
}

static size_t
count_substr(const char *s, const char *needle)
{
	size_t n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static void
test_maildrop(void **state)
{
	struct envelope env;
	char *err = NULL, *text, tag[64];
	static const char bare[] = "Subject: bare\n\nline one\nline two";
	static const char full[] = "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Message-ID: <x@y>\r\nSubject: full\r\n\r\nbody\r\n";

	envelope_init(&env);
	env.sender = xstrdup("cron");
	env.origin_uid = 0;	/* a lie: the file owner counts */
	envelope_add_rcpt(&env, "root", NULL);
	envelope_add_rcpt(&env, "ops@example.org", NULL);
	assert_int_equal(maildrop_write(spool, &env, bare, strlen(bare), &err),
	    0);
	envelope_free(&env);
	envelope_init(&env);
	env.sender = xstrdup("");
	envelope_add_rcpt(&env, "ops@Example.ORG", NULL);
	assert_int_equal(maildrop_write(spool, &env, full, strlen(full), &err),
	    0);
	envelope_free(&env);
	/* Untrusted garbage and a relay trick. */
	write_file(SPOOL_MAILDROP_DIR, "junk", "not an envelope\n");
	write_file(SPOOL_MAILDROP_DIR, "trick", "hikyaku-envelope 1\n"
	    "sender: a@b.example\nrcpt: evil%victim@example.com\nend\nx\n");
	/* An injector still writing. */
	write_file(SPOOL_MAILDROP_DIR, "tmp.writing", "hikyaku-envelope 1\n");

	assert_int_equal(queue_maildrop_scan(), 4);
	/* Files in flight are not taken twice. */
	assert_int_equal(queue_maildrop_scan(), 0);
	run_until(&nhooked, 2);
	assert_int_equal(nhooked, 2);
	assert_int_equal(dir_count(SPOOL_MAILDROP_DIR), 1);	/* tmp.writing */
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, "junk", ""));
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, "trick", ""));

	/* Order of the drop names is the order of their writing. */
	assert_string_equal(hooked[0]->sender, "cron@relay.test");
	assert_int_equal(hooked[0]->nrcpt, 2);
	assert_string_equal(hooked[0]->rcpts[0].addr, "root@relay.test");
	assert_int_equal(hooked[0]->origin_uid, (int)getuid());
	assert_string_equal(hooked[0]->client, "local");
	text = msg_text(hooked[0]->id);
	assert_non_null(text);
	snprintf(tag, sizeof(tag), "(hikyaku, from uid %u)", (unsigned)getuid());
	assert_non_null(strstr(text, tag));
	assert_true(strncmp(text, "Received: by relay.test ", 24) == 0);
	assert_int_equal(count_substr(text, "\nDate: "), 1);
	assert_int_equal(count_substr(text, "\nMessage-ID: <"), 1);
	assert_non_null(strstr(text, "\r\n\r\nline one\r\nline two\r\n"));
	assert_int_equal(count_substr(text, "\n"), count_substr(text, "\r\n"));
	free(text);

	assert_string_equal(hooked[1]->sender, "");
	assert_string_equal(hooked[1]->rcpts[0].addr, "ops@example.org");
	text = msg_text(hooked[1]->id);
	assert_int_equal(count_substr(text, "Date: "), 1);
	assert_int_equal(count_substr(text, "Message-ID: "), 1);
	assert_non_null(strstr(text, "Message-ID: <x@y>\r\n"));
	free(text);
	hooked_clear();

	/* With the watch on, a new drop is picked up without a scan call. */
	assert_int_equal(queue_maildrop_watch(&err), 0);
	envelope_init(&env);
	env.sender = xstrdup("user@example.org");
	envelope_add_rcpt(&env, "x@example.net", NULL);
	assert_int_equal(maildrop_write(spool, &env, bare, strlen(bare), &err),
	    0);
	envelope_free(&env);
	run_until(&nhooked, 1);
	assert_string_equal(hooked[0]->rcpts[0].addr, "x@example.net");
	assert_int_equal(dir_count(SPOOL_MAILDROP_DIR), 1);
	hooked_clear();
}

/* Write a drop file for rcpt with body, through the injector's writer. */
static void
drop(const char *rcpt, const char *body, size_t len)
{
	struct envelope env;
	char *err = NULL;

	envelope_init(&env);
	env.sender = xstrdup("user@example.org");
	envelope_add_rcpt(&env, rcpt, NULL);
	if (maildrop_write(spool, &env, body, len, &err) < 0)
		fail_msg("%s", err);
	envelope_free(&env);
}

static void
test_maildrop_big_and_hostile(void **state)
{
	struct buf body, want;
	char path[4096], target[4096], *text, *crlf;
	size_t i, len;
	int cr = 0;

	queue_configure("relay.test", 3 * 1024 * 1024);
	/* 2.5 MiB with every kind of line end, crossing read chunks. */
	buf_init(&body);
	buf_addstr(&body, "Subject: big\n\n");
	for (i = 0; body.len < 2560 * 1024; i++)
		buf_printf(&body, "line %zu%s", i,
		    i % 3 == 0 ? "\n" : i % 3 == 1 ? "\r\n" : "\r");
	drop("big@example.net", body.data, body.len);
	/* Over max_message_size: refused, kept for the admin. */
	buf_init(&want);
	while (want.len < 5 * 1024 * 1024)
		buf_addstr(&want, "0123456789012345678901234567890123456789\n");
	drop("huge@example.net", want.data, want.len);
	buf_free(&want);
	/* A symlink to a file the user could not read, and a hard link. */
	snprintf(path, sizeof(path), "%s/%s/link", spool, SPOOL_MAILDROP_DIR);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	write_file(SPOOL_QUEUE_DIR, "victim", "hikyaku-envelope 1\nsender: \n"
	    "rcpt: a@example.net\nend\nsecret\n");
	snprintf(target, sizeof(target), "%s/%s/victim", spool,
	    SPOOL_QUEUE_DIR);
	snprintf(path, sizeof(path), "%s/%s/hard", spool, SPOOL_MAILDROP_DIR);
	assert_int_equal(link(target, path), 0);

	assert_int_equal(queue_maildrop_scan(), 4);
	run_until(&nhooked, 1);
	assert_int_equal(nhooked, 1);
	assert_string_equal(hooked[0]->rcpts[0].addr, "big@example.net");
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, "link", ""));
	assert_true(spool_exists(SPOOL_QUARANTINE_DIR, "hard", ""));
	assert_int_equal(dir_count(SPOOL_QUARANTINE_DIR), 3);
	assert_int_equal(dir_count(SPOOL_MAILDROP_DIR), 0);

	buf_init(&want);
	for (i = 0; i < body.len; i++) {
		if (body.data[i] == '\n') {
			buf_addstr(&want, "\r\n");
			cr = 0;
			continue;
		}
		if (cr)
			buf_addstr(&want, "\r\n");
		cr = body.data[i] == '\r';
		if (!cr)
			buf_addch(&want, body.data[i]);
	}
	if (cr)
		buf_addstr(&want, "\r\n");
	snprintf(path, sizeof(path), "%s/%s/%s.msg", spool, SPOOL_QUEUE_DIR,
	    hooked[0]->id);
	text = read_file(path, &len);
	assert_non_null(text);
	assert_int_equal((int64_t)len, hooked[0]->size);
	crlf = strstr(text, "Subject: big\r\n");
	assert_non_null(crlf);
	assert_int_equal(len - (size_t)(crlf - text), want.len);
	assert_memory_equal(crlf, want.data, want.len);
	free(text);
	buf_free(&want);
	buf_free(&body);
	hooked_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spool_tree, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_update_remove_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_leaves_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildrop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildrop_big_and_hostile,
		    setup, teardown),
	};
	int rc;

	log_init("test_queue", "stderr");
	ev_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	ev_timer_free(wait_timer);
	return rc;
}
