/*
 * test_control: the daemon side of the control protocol on the real
 * event loop, with the scheduler replaced by a small fake queue: the
 * greeting, ids, public.sock limits, gapless subscription sequence
 * numbers, and the output cap that drops a subscriber that stops reading
 * (resync) without blocking the daemon.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "control.h"
#include "envelope.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

/* ---- a fake scheduler: two messages and a recorded observer ---- */

static struct envelope fake_env[2];
static sched_observer fake_obs;
static void *fake_obs_arg;
static char fake_last_action[64];

static int
fake_action(const char *what, const char *qid)
{
	size_t i;

	for (i = 0; i < nitems(fake_env); i++)
		if (strcmp(fake_env[i].id, qid) == 0) {
			snprintf(fake_last_action, sizeof(fake_last_action),
			    "%s %s", what, qid);
			return 0;
		}
	return -1;
}

int	 sched_retry(const char *q) { return fake_action("retry", q); }
int	 sched_delete(const char *q) { return fake_action("delete", q); }
int	 sched_hold(const char *q) { return fake_action("hold", q); }
int	 sched_release(const char *q) { return fake_action("release", q); }
int	 sched_bounce(const char *q) { return fake_action("bounce", q); }
void	 sched_flush(void) { strcpy(fake_last_action, "flush"); }

void
sched_foreach(void (*fn)(const struct envelope *, void *), void *arg)
{
	size_t i;

	for (i = 0; i < nitems(fake_env); i++)
		fn(&fake_env[i], arg);
}

size_t
sched_foreach_page(size_t offset, size_t limit,
    void (*fn)(const struct envelope *, void *), void *arg)
{
	size_t i;

	for (i = offset; i < nitems(fake_env) && i - offset < limit; i++)
		fn(&fake_env[i], arg);
	return nitems(fake_env);
}

const struct envelope *
sched_find(const char *qid)
{
	size_t i;

	for (i = 0; i < nitems(fake_env); i++)
		if (strcmp(fake_env[i].id, qid) == 0)
			return &fake_env[i];
	return NULL;
}

void
sched_observe(sched_observer fn, void *arg)
{
	fake_obs = fn;
	fake_obs_arg = arg;
}

void
sched_unobserve(sched_observer fn, void *arg)
{
	fake_obs = NULL;
}

void
sched_get_stats(struct sched_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->messages = nitems(fake_env);
}

size_t
sched_remote_states(struct sched_remote_state *rs, size_t max)
{
	return 0;
}

/* ---- helpers ---- */

static char spool[] = "/tmp/test_control.XXXXXX";
static struct config cfg;

static void
stop_cb(void *arg)
{
	ev_break();
}

/* Run the loop for ms milliseconds. */
static void
pump(uint64_t ms)
{
	struct ev_timer *t = ev_timer_new(stop_cb, NULL);

	ev_timer_after(t, ms);
	ev_run();
	ev_timer_free(t);
}

static int
client(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", spool, name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(set_nonblock(fd), 0);
	return fd;
}

/* Everything the daemon has sent so far (after pumping the loop). */
static void
drain(int fd, struct buf *b, int *eof)
{
	char chunk[65536];
	ssize_t n;

	*eof = 0;
	pump(50);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, n);
	if (n == 0)
		*eof = 1;
}

/* The next complete line of b as JSON (consumed), or NULL. */
static struct json_value *
next_json(struct buf *b)
{
	struct json_value *v;
	char *nl, *err = NULL;

	if (b->len == 0 || !(nl = memchr(b->data, '\n', b->len)))
		return NULL;
	v = json_parse(b->data, nl - b->data, &err);
	assert_non_null(v);
	buf_consume(b, nl - b->data + 1);
	return v;
}

static void
say(int fd, const char *line)
{
	assert_int_equal(write_all(fd, line, strlen(line)), 0);
}

static int
setup(void **state)
{
	char *err = NULL;
	size_t i;

	assert_non_null(mkdtemp(spool));
	cfg.spool = spool;
	ev_init();
	for (i = 0; i < nitems(fake_env); i++) {
		envelope_init(&fake_env[i]);
		snprintf(fake_env[i].id, sizeof(fake_env[i].id),
		    "660DEF578FA0B50D%d", (int)i);
		fake_env[i].sender = xstrdup("alice@example.org");
		fake_env[i].arrival = 1763823377;
		fake_env[i].size = 412;
		envelope_add_rcpt(&fake_env[i], "bob@example.net", NULL);
	}
	assert_int_equal(control_listen(&cfg, getuid(), getgid(), &err), 0);
	control_start();
	return 0;
}

static int
teardown(void **state)
{
	char path[256];
	size_t i;

	control_shutdown();
	for (i = 0; i < nitems(fake_env); i++)
		envelope_free(&fake_env[i]);
	snprintf(path, sizeof(path), "%s/%s", spool, CONTROL_SOCKET_NAME);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(spool);
	return 0;
}

/* ---- tests ---- */

static void
test_greeting_and_requests(void **state)
{
	struct buf b;
	struct json_value *v;
	int fd = client(CONTROL_SOCKET_NAME), eof;

	buf_init(&b);
	drain(fd, &b, &eof);
	v = next_json(&b);
	assert_string_equal(json_get_str(v, "hikyaku"), "control");
	assert_int_equal(json_get_int(v, "version", 0), 1);
	assert_string_equal(json_get_str(v, "access"), "full");
	json_free(v);

	say(fd, "{\"id\":5,\"cmd\":\"queue.list\",\"limit\":1}\n"
	    "{\"id\":\"x\",\"cmd\":\"queue.hold\",\"qid\":\"660DEF578FA0B50D1\"}\n"
	    "{\"id\":6,\"cmd\":\"queue.show\",\"qid\":\"nope\"}\n"
	    "not json\n");
	drain(fd, &b, &eof);
	v = next_json(&b);
	assert_int_equal(json_get_int(v, "id", 0), 5);
	assert_true(json_get_bool(v, "ok", 0));
	assert_int_equal(json_get_int(v, "total", 0), 2);
	assert_int_equal(json_get(v, "messages")->n, 1);
	json_free(v);
	v = next_json(&b);
	assert_string_equal(json_get_str(v, "id"), "x");
	assert_true(json_get_bool(v, "ok", 0));
	assert_string_equal(fake_last_action, "hold 660DEF578FA0B50D1");
	json_free(v);
	v = next_json(&b);
	assert_false(json_get_bool(v, "ok", 1));
	assert_string_equal(json_get_str(v, "error"), "no such message");
	json_free(v);
	v = next_json(&b);
	assert_int_equal(json_get(v, "id")->type, JSON_NULL);
	assert_false(json_get_bool(v, "ok", 1));
	json_free(v);
	close(fd);
	buf_free(&b);
	pump(10);
}

static void
test_public_limits(void **state)
{
	struct buf b;
	struct json_value *v;
	int fd = client(CONTROL_PUBLIC_SOCKET_NAME), eof;

	buf_init(&b);
	say(fd, "{\"id\":1,\"cmd\":\"queue.flush\"}\n"
	    "{\"id\":2,\"cmd\":\"queue.delete\",\"qid\":\"660DEF578FA0B50D1\"}\n");
	drain(fd, &b, &eof);
	v = next_json(&b);
	assert_string_equal(json_get_str(v, "access"), "public");
	json_free(v);
	v = next_json(&b);
	assert_true(json_get_bool(v, "ok", 0));
	assert_string_equal(fake_last_action, "flush");
	json_free(v);
	v = next_json(&b);
	assert_false(json_get_bool(v, "ok", 1));
	assert_non_null(strstr(json_get_str(v, "error"), "permission denied"));
	json_free(v);
	close(fd);
	buf_free(&b);
	pump(10);
}

static void
test_subscribe_seq_and_resync(void **state)
{
	struct buf b, big;
	struct json_value *v;
	int fd = client(CONTROL_SOCKET_NAME), eof, i, resync = 0;
	int64_t seq, events = 0;
	char *saved;

	buf_init(&b);
	say(fd, "{\"id\":1,\"cmd\":\"subscribe\",\"topics\":[\"queue\"]}\n");
	drain(fd, &b, &eof);
	json_free(next_json(&b));		/* greeting */
	v = next_json(&b);
	assert_true(json_get_bool(v, "ok", 0));
	assert_int_equal(json_get(v, "messages")->n, 2);
	seq = json_get_int(v, "seq", -1);
	json_free(v);

	/* Deltas arrive numbered seq+1, seq+2, ... */
	fake_obs(SCHED_MSG_CHANGED, &fake_env[0], fake_obs_arg);
	fake_obs(SCHED_MSG_REMOVED, &fake_env[1], fake_obs_arg);
	drain(fd, &b, &eof);
	v = next_json(&b);
	assert_string_equal(json_get_str(v, "event"), "queue.changed");
	assert_int_equal(json_get_int(v, "seq", 0), seq + 1);
	json_free(v);
	v = next_json(&b);
	assert_string_equal(json_get_str(v, "event"), "queue.removed");
	assert_int_equal(json_get_int(v, "seq", 0), seq + 2);
	assert_string_equal(json_get_str(v, "qid"), fake_env[1].id);
	json_free(v);
	seq += 2;

	/*
	 * Stop reading: 3 MiB of events must not all be buffered. The
	 * subscriber is sent resync and dropped; nothing blocks.
	 */
	buf_init(&big);
	for (i = 0; i < 8000; i++)
		buf_addch(&big, 'e');
	saved = fake_env[0].rcpts[0].last_error;
	fake_env[0].rcpts[0].last_error = big.data;
	for (i = 0; i < 400; i++)
		fake_obs(SCHED_MSG_CHANGED, &fake_env[0], fake_obs_arg);
	fake_env[0].rcpts[0].last_error = saved;
	buf_free(&big);
	/* Now read all of it: a gapless run of events, then resync, EOF. */
	for (i = 0; i < 200 && !eof; i++)
		drain(fd, &b, &eof);
	assert_true(eof);
	while ((v = next_json(&b)) != NULL) {
		assert_false(resync);	/* nothing after resync */
		if (strcmp(json_get_str(v, "event"), "resync") == 0) {
			resync = 1;
		} else {
			assert_int_equal(json_get_int(v, "seq", 0), ++seq);
			events++;
		}
		json_free(v);
	}
	assert_true(resync);
	assert_true(events > 0 && events < 400);
	close(fd);
	buf_free(&b);
}

/*
 * status keeps the last 20 warning/error lines (not info), oldest first,
 * numbered like the log events; queue.list pages from any offset.
 */
static void
test_status_recent_errors_and_pages(void **state)
{
	struct buf b;
	struct json_value *v;
	const struct json_value *errs, *msgs;
	int fd = client(CONTROL_SOCKET_NAME), eof, i;
	int64_t last_seq;

	for (i = 0; i < 25; i++) {
		log_warn("test warning %d", i);
		log_info("test info %d", i);
	}
	log_err("test error");
	buf_init(&b);
	say(fd, "{\"id\":1,\"cmd\":\"status\"}\n"
	    "{\"id\":2,\"cmd\":\"queue.list\",\"offset\":1,\"limit\":5}\n"
	    "{\"id\":3,\"cmd\":\"queue.list\",\"offset\":9,\"limit\":5}\n");
	drain(fd, &b, &eof);
	json_free(next_json(&b));		/* greeting */
	v = next_json(&b);
	assert_true(json_get_bool(v, "ok", 0));
	assert_non_null(json_get(v, "last_hour"));
	errs = json_get(v, "recent_errors");
	assert_int_equal(errs->n, 20);
	/* 26 problems were logged: the first 6 warnings fell off. */
	assert_string_equal(json_get_str(errs->items[0], "line"),
	    "test warning 6");
	assert_string_equal(json_get_str(errs->items[0], "level"), "warning");
	assert_string_equal(json_get_str(errs->items[19], "line"),
	    "test error");
	assert_string_equal(json_get_str(errs->items[19], "level"), "error");
	last_seq = json_get_int(v, "log_seq", 0);
	assert_int_equal(json_get_int(errs->items[19], "seq", 0), last_seq);
	/* A warning and an info line between two kept warnings. */
	assert_int_equal(json_get_int(errs->items[1], "seq", 0),
	    json_get_int(errs->items[0], "seq", 0) + 2);
	json_free(v);
	v = next_json(&b);
	msgs = json_get(v, "messages");
	assert_int_equal(json_get_int(v, "total", 0), 2);
	assert_int_equal(msgs->n, 1);
	assert_string_equal(json_get_str(msgs->items[0], "qid"),
	    fake_env[1].id);
	json_free(v);
	v = next_json(&b);
	assert_int_equal(json_get(v, "messages")->n, 0);
	assert_int_equal(json_get_int(v, "total", 0), 2);
	json_free(v);
	close(fd);
	buf_free(&b);
}

/* The subscribe's history: the last lines logged, bounded in count and
 * in bytes, numbered like the events that follow. */
static void
test_subscribe_history(void **state)
{
	struct buf b;
	struct json_value *v;
	const struct json_value *hist;
	char big[1001];
	int fd = client(CONTROL_SOCKET_NAME), eof, i;

	log_init("test_control", "/dev/null");
	for (i = 0; i < CONTROL_LOG_HISTORY + 50; i++)
		log_info("history line %d", i);
	log_debug("debug lines are not kept");
	buf_init(&b);
	say(fd, "{\"id\":1,\"cmd\":\"subscribe\",\"topics\":[\"log\"],"
	    "\"history\":10}\n"
	    "{\"id\":2,\"cmd\":\"subscribe\",\"topics\":[\"log\"],"
	    "\"history\":100000}\n"
	    "{\"id\":3,\"cmd\":\"subscribe\",\"topics\":[\"queue\"],"
	    "\"history\":5}\n"
	    "{\"id\":4,\"cmd\":\"subscribe\",\"topics\":[\"log\"],"
	    "\"history\":-1}\n");
	drain(fd, &b, &eof);
	json_free(next_json(&b));		/* greeting */
	v = next_json(&b);
	hist = json_get(v, "log");
	assert_non_null(hist);
	assert_int_equal(hist->n, 10);
	assert_string_equal(json_get_str(hist->items[9], "line"),
	    "history line 305");
	assert_int_equal(json_get_int(hist->items[9], "seq", 0),
	    json_get_int(v, "log_seq", -1));
	assert_int_equal(json_get_int(hist->items[0], "seq", 0) + 9,
	    json_get_int(hist->items[9], "seq", 0));
	assert_string_equal(json_get_str(hist->items[0], "level"), "info");
	json_free(v);
	v = next_json(&b);
	hist = json_get(v, "log");
	assert_int_equal(hist->n, CONTROL_LOG_HISTORY);
	assert_string_equal(json_get_str(hist->items[0], "line"),
	    "history line 50");
	json_free(v);
	/* Without the log topic there is no history. */
	v = next_json(&b);
	assert_true(json_get_bool(v, "ok", 0));
	assert_null(json_get(v, "log"));
	json_free(v);
	v = next_json(&b);
	assert_false(json_get_bool(v, "ok", 1));
	json_free(v);
	close(fd);
	/* Long lines: the byte bound keeps fewer. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 100; i++)
		log_info("%s", big);
	fd = client(CONTROL_SOCKET_NAME);
	buf_reset(&b);
	say(fd, "{\"id\":1,\"cmd\":\"subscribe\",\"topics\":[\"log\"],"
	    "\"history\":1000}\n");
	drain(fd, &b, &eof);
	json_free(next_json(&b));		/* greeting */
	v = next_json(&b);
	hist = json_get(v, "log");
	assert_int_equal(hist->n, CONTROL_LOG_HISTORY_BYTES / 1000);
	assert_string_equal(json_get_str(hist->items[hist->n - 1], "line"),
	    big);
	json_free(v);
	close(fd);
	buf_free(&b);
	log_init("test_control", "stderr");
}

/*
 * A snapshot bigger than the pieces it leaves in, read by a client that
 * falls behind: one whole line, every byte in order, and the first event
 * after it numbered seq+1.
 */
static void
test_subscribe_big_snapshot(void **state)
{
	struct buf b, err[2];
	struct json_value *v;
	const struct json_value *msgs;
	char *saved[2];
	int fd = client(CONTROL_SOCKET_NAME), eof = 0, i, j;
	int64_t seq;

	buf_init(&b);
	for (i = 0; i < 2; i++) {
		buf_init(&err[i]);
		for (j = 0; j < 700 * 1024; j++)
			buf_addch(&err[i], "abcdefghij"[(i + j) % 10]);
		saved[i] = fake_env[i].rcpts[0].last_error;
		fake_env[i].rcpts[0].last_error = err[i].data;
	}
	drain(fd, &b, &eof);
	json_free(next_json(&b));		/* greeting */
	say(fd, "{\"id\":1,\"cmd\":\"subscribe\",\"topics\":[\"queue\"]}\n");
	for (i = 0; i < 100 && !memchr(b.data, '\n', b.len) && !eof; i++)
		drain(fd, &b, &eof);
	v = next_json(&b);
	assert_non_null(v);
	assert_true(json_get_bool(v, "ok", 0));
	msgs = json_get(v, "messages");
	assert_int_equal(msgs->n, 2);
	for (i = 0; i < 2; i++) {
		const struct json_value *r = json_get(msgs->items[i],
		    "recipients");

		assert_string_equal(json_get_str(r->items[0], "last_error"),
		    err[i].data);
	}
	seq = json_get_int(v, "seq", -1);
	json_free(v);
	for (i = 0; i < 2; i++) {
		fake_env[i].rcpts[0].last_error = saved[i];
		buf_free(&err[i]);
	}
	fake_obs(SCHED_MSG_CHANGED, &fake_env[0], fake_obs_arg);
	drain(fd, &b, &eof);
	v = next_json(&b);
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "event"), "queue.changed");
	assert_int_equal(json_get_int(v, "seq", 0), seq + 1);
	json_free(v);
	close(fd);
	buf_free(&b);
	pump(10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_requests),
		cmocka_unit_test(test_public_limits),
		cmocka_unit_test(test_subscribe_seq_and_resync),
		cmocka_unit_test(test_status_recent_errors_and_pages),
		cmocka_unit_test(test_subscribe_history),
		cmocka_unit_test(test_subscribe_big_snapshot),
	};

	log_init("test_control", "stderr");
	return cmocka_run_group_tests(tests, setup, teardown);
}
