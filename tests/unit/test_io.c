/*
 * Tests of event.c and io.c over real loopback sockets: line framing,
 * overlong lines, pause/resume, deadlines, timers and wake-ups, and the
 * IO_LOWAT owed for output that waited however it was finally written.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "event.h"
#include "io.h"
#include "util.h"

struct lines {
	struct buf	 got;
	int		 toolong;
	int		 events[8];
	int		 paused_after;
	struct io	*io;
};

static void
collect_cb(struct io *io, enum io_event evt, void *arg)
{
	struct lines	*l = arg;
	const char	*line;
	size_t		 len;
	enum io_line	 r;

	l->events[evt]++;
	switch (evt) {
	case IO_DATAIN:
		while ((r = io_getline(io, &line, &len)) != IO_LINE_NONE) {
			if (r == IO_LINE_TOOLONG) {
				l->toolong++;
				buf_addstr(&l->got, "<toolong>");
				continue;
			}
			buf_add(&l->got, line, len);
			if (l->paused_after > 0 && --l->paused_after == 0) {
				io_pause(io, 1);
				break;
			}
		}
		break;
	default:
		ev_break();
		break;
	}
}

static void
stop_cb(void *arg)
{
	ev_break();
}

static void
test_lines(void **state)
{
	int		 sv[2];
	struct lines	 l;
	struct ev_timer	*t;
	struct buf	 in;
	int		 i;

	ev_init();
	memset(&l, 0, sizeof l);
	buf_init(&l.got);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	l.io = io_new(sv[0], collect_cb, &l);
	io_set_maxline(l.io, 100);
	buf_init(&in);
	buf_addstr(&in, "one\r\ntwo\nthr");
	for (i = 0; i < 300; i++)
		buf_addch(&in, 'x');
	buf_addstr(&in, "\r\nfour\r\n");
	assert_int_equal(write_all(sv[1], in.data, in.len), 0);
	close(sv[1]);
	t = ev_timer_new(stop_cb, NULL);
	ev_timer_after(t, 5000);
	ev_run();
	assert_string_equal(l.got.data, "one\r\ntwo\n<toolong>four\r\n");
	assert_int_equal(l.toolong, 1);
	assert_int_equal(l.events[IO_DISCONNECTED], 1);
	io_free(l.io);
	ev_timer_free(t);
	buf_free(&in);
	buf_free(&l.got);
}

static void
test_pause(void **state)
{
	int		 sv[2];
	struct lines	 l;
	struct ev_timer	*t;

	memset(&l, 0, sizeof l);
	buf_init(&l.got);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	l.io = io_new(sv[0], collect_cb, &l);
	l.paused_after = 1;
	assert_int_equal(write_all(sv[1], "a\nb\nc\n", 6), 0);
	t = ev_timer_new(stop_cb, NULL);
	ev_timer_after(t, 200);
	ev_run();
	/* Paused after the first line: the rest stays buffered. */
	assert_string_equal(l.got.data, "a\n");
	assert_int_equal(io_pending(l.io), 4);
	io_pause(l.io, 0);
	ev_timer_after(t, 200);
	ev_run();
	assert_string_equal(l.got.data, "a\nb\nc\n");
	close(sv[1]);
	io_free(l.io);
	ev_timer_free(t);
	buf_free(&l.got);
}

static void
test_deadline_and_write(void **state)
{
	int		 sv[2];
	struct lines	 l;
	char		 rd[64];
	ssize_t		 n;

	memset(&l, 0, sizeof l);
	buf_init(&l.got);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	l.io = io_new(sv[0], collect_cb, &l);
	io_printf(l.io, "220 %s\r\n", "hello");
	n = read(sv[1], rd, sizeof rd - 1);
	assert_int_equal(n, 11);
	rd[n] = '\0';
	assert_string_equal(rd, "220 hello\r\n");
	io_set_deadline(l.io, ev_now() + 50);
	ev_run();
	assert_int_equal(l.events[IO_TIMEOUT], 1);
	assert_string_equal(io_error(l.io), "timed out");
	close(sv[1]);
	io_free(l.io);
	buf_free(&l.got);
}

/*
 * An owner that answers one request with more than the socket takes and
 * stops reading until the answer is out (the control socket does so).
 * Its reader drains the socket inside the callback, so the flush after the
 * callback writes the rest: IO_LOWAT must still come, or the owner stays
 * paused for ever.
 */
struct drained {
	int		 peer;
	size_t		 written, received;
	int		 lowat;
};

static void
drain_peer(struct drained *d)
{
	char	 rd[65536];
	ssize_t	 n;

	while ((n = read(d->peer, rd, sizeof rd)) > 0)
		d->received += (size_t)n;
}

static void
pausing_cb(struct io *io, enum io_event evt, void *arg)
{
	struct drained	*d = arg;
	static char	 chunk[16384];
	const char	*line;
	size_t		 len;

	switch (evt) {
	case IO_DATAIN:
		if (io_getline(io, &line, &len) != IO_LINE_OK)
			break;
		memset(chunk, 'x', sizeof chunk);
		while (io_queued(io) == 0) {
			io_write(io, chunk, sizeof chunk);
			d->written += sizeof chunk;
			io_flush(io);
		}
		io_pause(io, 1);
		drain_peer(d);
		break;
	case IO_LOWAT:
		d->lowat++;
		io_pause(io, 0);
		ev_break();
		break;
	default:
		ev_break();
		break;
	}
}

static void
test_lowat_after_late_flush(void **state)
{
	int		 sv[2];
	struct drained	 d;
	struct io	*io;
	struct ev_timer	*t;

	memset(&d, 0, sizeof d);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	d.peer = sv[1];
	io = io_new(sv[0], pausing_cb, &d);
	assert_int_equal(write_all(sv[1], "go\n", 3), 0);
	t = ev_timer_new(stop_cb, NULL);
	ev_timer_after(t, 2000);
	ev_run();
	assert_int_equal(d.lowat, 1);
	assert_int_equal(io_queued(io), 0);
	drain_peer(&d);
	assert_true(d.written > 0);
	assert_int_equal(d.received, d.written);
	close(sv[1]);
	io_free(io);
	ev_timer_free(t);
}

static int	 order[4];
static int	 norder;

static void
mark_cb(void *arg)
{
	order[norder++] = (int)(intptr_t)arg;
	if (norder == 3)
		ev_break();
}

static void
test_timers_and_wakeup(void **state)
{
	struct ev_timer		*a, *b, *c;
	struct ev_wakeup	*w;

	norder = 0;
	a = ev_timer_new(mark_cb, (void *)1);
	b = ev_timer_new(mark_cb, (void *)2);
	c = ev_timer_new(mark_cb, (void *)99);
	ev_timer_after(b, 40);
	ev_timer_after(a, 20);
	ev_timer_after(c, 30);
	ev_timer_stop(c);
	w = ev_wakeup_new(mark_cb, (void *)3);
	ev_wakeup_signal(w);
	ev_wakeup_signal(w);
	ev_run();
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_false(ev_timer_pending(c));
	ev_timer_free(a);
	ev_timer_free(b);
	ev_timer_free(c);
	ev_wakeup_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_deadline_and_write),
		cmocka_unit_test(test_lowat_after_late_flush),
		cmocka_unit_test(test_timers_and_wakeup),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
