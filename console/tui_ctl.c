/*
 * tui_ctl: non-blocking control client on the event loop. See tui_ctl.h.
 *
 * The socket is driven with event.h directly rather than io.h: io.h stops
 * reading at 256 KiB of unconsumed input, and the subscription snapshot of
 * a big queue is a single line of tens of megabytes.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "json.h"
#include "log.h"
#include "tui_ctl.h"
#include "util.h"

#define BACKOFF_MIN	250
#define BACKOFF_MAX	5000
#define READ_CHUNK	(256 * 1024)
#define READ_ROUNDS	16
/* A daemon that accepts but sends no greeting is stopped or stuck. */
#define GREETING_MS	5000

enum tui_ctl_state { CTL_DOWN, CTL_GREETING, CTL_UP };

struct pending {
	uint64_t		 id;
	tui_ctl_reply_fn	 fn;	/* NULL once forgotten */
	void			*arg;
	void			(*more)(void *);	/* more of it came */
};

struct tui_ctl {
	char			*path;
	enum tui_ctl_state	 state;
	int			 fd;		/* -1 when down */
	struct ev_fd		*ev;
	struct buf		 in, out;
	size_t			 in_off;	/* start of unsplit input */
	/* Bytes past in_off known to hold no newline: a long line (a big
	 * snapshot) arrives in many reads and is searched once, not anew
	 * after each read. */
	size_t			 in_scanned;
	/* The line being handed out, for tui_ctl_take_line(). */
	size_t			 line_off, line_len;
	int			 in_line;
	/* The request whose response is arriving, read as it comes (its
	 * start may be consumed already); 0 when none is. */
	uint64_t		 partial_id;
	struct ev_timer		*retry;
	struct ev_timer		*deadline;	/* for the greeting */
	uint64_t		 backoff;
	uint64_t		 next_id;
	struct pending		*pend;		/* in request order */
	size_t			 npend, cappend;
	char			*why;
	tui_ctl_state_fn	 state_fn;
	tui_ctl_event_fn	 event_fn;
	void			*arg;
};

static int ctl_daemon_up;

static void ctl_connect(void *);

int
tui_ctl_daemon_up(void)
{
	return ctl_daemon_up;
}

/* Fail every pending request (the connection is gone). */
static void
fail_pending(struct tui_ctl *c, const char *why)
{
	struct pending *p = c->pend;
	size_t i, n = c->npend;

	c->pend = NULL;
	c->npend = c->cappend = 0;
	for (i = 0; i < n; i++)
		if (p[i].fn)
			p[i].fn(NULL, 0, why, p[i].arg);
	free(p);
}

static void
ctl_close(struct tui_ctl *c)
{
	ev_timer_stop(c->deadline);
	if (c->ev)
		ev_fd_del(c->ev);
	c->ev = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_reset(&c->in);
	buf_reset(&c->out);
	c->in_off = c->in_scanned = 0;
	c->partial_id = 0;
}

/* quiet: a reconnect on purpose, not news for the owner. */
static void
go_down_how(struct tui_ctl *c, const char *why, uint64_t delay, int quiet)
{
	ctl_close(c);
	c->state = CTL_DOWN;
	free(c->why);
	c->why = xstrdup(why);
	ev_timer_after(c->retry, delay);
	if (!quiet)
		ctl_daemon_up = 0;
	fail_pending(c, why);
	if (!quiet)
		c->state_fn(0, why, c->arg);
}

static void
go_down(struct tui_ctl *c, const char *why, uint64_t delay)
{
	go_down_how(c, why, delay, 0);
}

static void
greeting(struct tui_ctl *c, const char *line, size_t len)
{
	struct json_value *v;
	const char *e;
	char *err = NULL, *why;

	if (!(v = json_parse(line, len, &err))) {
		xasprintf(&why, "bad greeting from the daemon: %s", err);
		free(err);
		go_down(c, why, BACKOFF_MAX);
		free(why);
		return;
	}
	if (!json_get_str(v, "hikyaku") ||
	    strcmp(json_get_str(v, "hikyaku"), "control") != 0 ||
	    json_get_int(v, "version", 0) != 1) {
		json_free(v);
		go_down(c, "the daemon speaks another protocol version",
		    BACKOFF_MAX);
		return;
	}
	if ((e = json_get_str(v, "error")) != NULL) {
		xasprintf(&why, "the daemon refused us: %s", e);
		json_free(v);
		go_down(c, why, BACKOFF_MAX);
		free(why);
		return;
	}
	json_free(v);
	ev_timer_stop(c->deadline);
	c->state = CTL_UP;
	c->backoff = BACKOFF_MIN;
	free(c->why);
	c->why = xstrdup("");
	ctl_daemon_up = 1;
	c->state_fn(1, "", c->arg);
}

/* The id of a response line, 0 when the line is an event. */
static uint64_t
line_id(const char *line, size_t len)
{
	/* Responses start with {"id":N (the daemon writes id first). */
	static const char pfx[] = "{\"id\":";
	uint64_t id = 0;
	size_t i;

	if (len < sizeof(pfx) || memcmp(line, pfx, sizeof(pfx) - 1) != 0)
		return 0;
	for (i = sizeof(pfx) - 1; i < len && line[i] >= '0' &&
	    line[i] <= '9'; i++)
		id = id * 10 + (uint64_t)(line[i] - '0');
	/* The start of a line still arriving may end inside the number. */
	return i < len ? id : 0;
}

static void
got_line(struct tui_ctl *c, const char *line, size_t len)
{
	struct pending p;
	uint64_t id;

	if (c->state == CTL_GREETING) {
		greeting(c, line, len);
		return;
	}
	id = c->partial_id ? c->partial_id : line_id(line, len);
	c->partial_id = 0;
	if (id == 0 || c->npend == 0 || c->pend[0].id != id) {
		if (id == 0)
			c->event_fn(line, len, c->arg);
		return;
	}
	p = c->pend[0];
	memmove(c->pend, c->pend + 1, (c->npend - 1) * sizeof(*c->pend));
	c->npend--;
	if (p.fn)
		p.fn(line, len, NULL, p.arg);
}

/* Write what is buffered; wait for EV_WRITE when the socket is full. */
static int
ctl_flush(struct tui_ctl *c)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return -1;
		buf_consume(&c->out, (size_t)n);
	}
	ev_fd_set(c->ev, EV_READ | (c->out.len ? EV_WRITE : 0));
	return 0;
}

/* Split and hand out every complete line buffered. */
static void
ctl_lines(struct tui_ctl *c)
{
	char *nl;
	size_t len;
	int fd = c->fd;

	while (c->fd == fd && c->in_off < c->in.len) {
		const char *line = c->in.data + c->in_off;

		nl = memchr(line + c->in_scanned, '\n',
		    c->in.len - c->in_off - c->in_scanned);
		if (nl == NULL) {
			c->in_scanned = c->in.len - c->in_off;
			if (c->npend == 0 || !c->pend[0].more || !c->pend[0].fn)
				break;
			if (c->partial_id == 0 &&
			    line_id(line, c->in_scanned) == c->pend[0].id)
				c->partial_id = c->pend[0].id;
			if (c->partial_id == c->pend[0].id)
				c->pend[0].more(c->pend[0].arg);
			break;
		}
		len = (size_t)(nl - line);
		c->line_off = c->in_off;
		c->in_off += len + 1;
		c->in_scanned = 0;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		c->line_len = len;
		c->in_line = 1;
		got_line(c, line, len);
		c->in_line = 0;
	}
	/* A callback may have dropped the connection and its buffer. */
	if (c->fd == fd && c->in_off == c->in.len) {
		buf_reset(&c->in);
		c->in_off = c->in_scanned = 0;
	}
}

char *
tui_ctl_take_line(struct tui_ctl *c)
{
	struct buf rest;
	char *line;

	if (!c->in_line)
		fatal("tui_ctl_take_line outside a callback");
	/* The input buffer becomes the line; what came after it moves to
	 * a new buffer (a few events at most). */
	buf_init(&rest);
	buf_add(&rest, c->in.data + c->in_off, c->in.len - c->in_off);
	line = buf_take(&c->in);
	if (c->line_off > 0)
		memmove(line, line + c->line_off, c->line_len);
	line[c->line_len] = '\0';
	c->in = rest;
	c->in_off = c->in_scanned = 0;
	c->in_line = 0;
	return line;
}

static void
ctl_event(int fd, int revents, void *arg)
{
	struct tui_ctl *c = arg;
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t n;
	int rounds = 0;
	char *why;

	if (c->state == CTL_DOWN) {
		/* The non-blocking connect finished. */
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err) {
			xasprintf(&why, "%s: %s", c->path, strerror(err));
			go_down(c, why, c->backoff);
			free(why);
			return;
		}
		c->state = CTL_GREETING;
		ctl_flush(c);
		return;
	}
	if (revents & EV_WRITE && ctl_flush(c) == -1) {
		xasprintf(&why, "control socket: %s", strerror(errno));
		go_down(c, why, c->backoff);
		free(why);
		return;
	}
	if (!(revents & (EV_READ | EV_ERROR)))
		return;
	for (;;) {
		if (c->in_off > 0 && c->in_off >= c->in.len / 2) {
			buf_consume(&c->in, c->in_off);
			c->in_off = 0;
		}
		buf_reserve(&c->in, READ_CHUNK);
		n = read(fd, c->in.data + c->in.len, READ_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			ctl_lines(c);
			if (c->fd != fd)
				return;
			if (n == 0)
				go_down(c, "the daemon closed the connection",
				    c->backoff);
			else {
				xasprintf(&why, "control socket: %s",
				    strerror(errno));
				go_down(c, why, c->backoff);
				free(why);
			}
			return;
		}
		c->in.len += (size_t)n;
		/* A stream that keeps coming (a snapshot) is taken a few
		 * megabytes at a time, so keys and timers get their turn
		 * and its reader can consume as it goes. */
		if ((size_t)n < READ_CHUNK || ++rounds == READ_ROUNDS)
			break;
	}
	ctl_lines(c);
}

static void
ctl_connect(void *arg)
{
	struct tui_ctl *c = arg;
	struct sockaddr_un sun;
	char *why;

	if (c->backoff < BACKOFF_MAX)
		c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
		    c->backoff * 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(c->path) >= sizeof(sun.sun_path)) {
		xasprintf(&why, "%s: socket path longer than %zu bytes",
		    c->path, sizeof(sun.sun_path) - 1);
		go_down(c, why, BACKOFF_MAX);
		free(why);
		return;
	}
	strcpy(sun.sun_path, c->path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1 || (connect(c->fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 && errno != EINPROGRESS && errno != EAGAIN)) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			why = xstrdup("the daemon is not running");
		else
			xasprintf(&why, "%s: %s", c->path, strerror(errno));
		go_down(c, why, c->backoff);
		free(why);
		return;
	}
	/* EV_WRITE reports the end of the connect (state still DOWN). */
	c->ev = ev_fd_add(c->fd, EV_WRITE, ctl_event, c);
	ev_timer_after(c->deadline, GREETING_MS);
}

static void
ctl_no_greeting(void *arg)
{
	go_down(arg, "the daemon accepts connections but does not answer",
	    BACKOFF_MAX);
}

struct tui_ctl *
tui_ctl_new(const char *path, tui_ctl_state_fn state_fn,
    tui_ctl_event_fn event_fn, void *arg)
{
	struct tui_ctl *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	c->fd = -1;
	buf_init(&c->in);
	buf_init(&c->out);
	c->state_fn = state_fn;
	c->event_fn = event_fn;
	c->arg = arg;
	c->why = xstrdup("connecting");
	c->backoff = BACKOFF_MIN / 2;
	c->retry = ev_timer_new(ctl_connect, c);
	c->deadline = ev_timer_new(ctl_no_greeting, c);
	ev_timer_after(c->retry, 0);
	return c;
}

void
tui_ctl_free(struct tui_ctl *c)
{
	size_t i;

	if (!c)
		return;
	ctl_close(c);
	buf_free(&c->in);
	buf_free(&c->out);
	ev_timer_free(c->retry);
	ev_timer_free(c->deadline);
	/* Nobody is told: the owner is going away. */
	for (i = 0; i < c->npend; i++)
		c->pend[i].fn = NULL;
	free(c->pend);
	free(c->why);
	free(c->path);
	free(c);
}

int
tui_ctl_up(const struct tui_ctl *c)
{
	return c->state == CTL_UP;
}

const char *
tui_ctl_why(const struct tui_ctl *c)
{
	return c->why;
}

uint64_t
tui_ctl_call(struct tui_ctl *c, const char *cmd, const char *members,
    tui_ctl_reply_fn fn, void *arg)
{
	struct buf b;

	if (c->state != CTL_UP)
		return 0;
	if (c->npend == c->cappend) {
		c->cappend = c->cappend ? c->cappend * 2 : 16;
		c->pend = xreallocarray(c->pend, c->cappend,
		    sizeof(*c->pend));
	}
	c->pend[c->npend].id = ++c->next_id;
	c->pend[c->npend].fn = fn;
	c->pend[c->npend].arg = arg;
	c->pend[c->npend].more = NULL;
	c->npend++;
	buf_init(&b);
	buf_printf(&b, "{\"id\":%llu,\"cmd\":", (unsigned long long)c->next_id);
	json_escape(&b, cmd, strlen(cmd));
	if (members)
		buf_addstr(&b, members);
	buf_addstr(&b, "}\n");
	buf_add(&c->out, b.data, b.len);
	buf_free(&b);
	/* A broken socket is reported by its next read (EV_ERROR). */
	ctl_flush(c);
	return c->next_id;
}

void
tui_ctl_on_partial(struct tui_ctl *c, uint64_t id, void (*more)(void *))
{
	size_t i;

	for (i = 0; i < c->npend; i++)
		if (c->pend[i].id == id)
			c->pend[i].more = more;
}

const char *
tui_ctl_partial(const struct tui_ctl *c, uint64_t id, size_t *len)
{
	const char *line = c->in.data + c->in_off;

	/* Between loop turns every whole line has been handed out: what
	 * is buffered is the start of the next one. */
	if (c->in_line || id == 0 || c->partial_id != id)
		return NULL;
	*len = c->in.len - c->in_off;
	return line;
}

void
tui_ctl_consume(struct tui_ctl *c, uint64_t id, size_t n)
{
	if (c->in_line || id == 0 || c->partial_id != id ||
	    n > c->in.len - c->in_off)
		fatal("tui_ctl_consume: not a response being read");
	c->in_off += n;
	c->in_scanned = c->in_scanned > n ? c->in_scanned - n : 0;
}

void
tui_ctl_forget(struct tui_ctl *c, uint64_t id)
{
	size_t i;

	for (i = 0; i < c->npend; i++)
		if (c->pend[i].id == id)
			c->pend[i].fn = NULL;
}

void
tui_ctl_restart(struct tui_ctl *c)
{
	c->backoff = BACKOFF_MIN / 2;
	go_down_how(c, "reconnecting", 0, 1);
}
