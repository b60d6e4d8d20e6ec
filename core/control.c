/*
 * control: the daemon side of the control protocol. See control.h and
 * help/control-protocol.md for the wire format.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "envelope.h"
#include "event.h"
#include "io.h"
#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

/* A request line longer than this is refused (requests are tiny). */
#define CONTROL_MAX_REQUEST	65536
/* queue.list pages: the default and the most a client may ask for. */
#define CONTROL_PAGE_MAX	1000
/* Time a dropped client gets to take its last line before we close. */
#define CONTROL_LINGER_MS	5000
/* Warning and error lines status keeps for a console opened later. */
#define CONTROL_RECENT_ERRORS	20

#define TOPIC_QUEUE	0x1
#define TOPIC_LOG	0x2

struct ctl_listener {
	int		 fd;
	struct ev_fd	*ev;
	int		 public;
	char		*path;
};

/* A log line as the log events number it (kept problems and history). */
struct ctl_problem {
	uint64_t	 seq;
	int64_t		 time;		/* wall seconds */
	enum log_level	 level;
	char		*line;
};

struct ctl_conn {
	struct io	*io;
	int		 public;	/* came in on public.sock */
	int		 topics;	/* subscribed topics, 0 if none */
	int		 closing;	/* drain the output, then free */
	int		 dead;		/* waiting for the reaper */
	size_t		 cap;		/* current output cap */
	struct ctl_conn	*prev, *next;
};

static struct {
	struct ctl_listener	 listeners[2];
	uid_t			 uid;
	gid_t			 gid;
	control_reload_fn	 reload;
	void			*reload_arg;
	const struct config	*cfg;
	struct ctl_conn		*conns;
	uint64_t		 queue_seq;	/* queue events so far */
	uint64_t		 log_seq;	/* log lines so far */
	int64_t			 started;	/* wall ms */
	int			 busy;		/* sending events: no log echo */
	/* The last warning/error lines, oldest first from problem_next. */
	struct ctl_problem	 problems[CONTROL_RECENT_ERRORS];
	size_t			 problem_next;
	/* The last log lines: a ring from hist_head, bounded in count
	 * and in bytes of text. */
	struct ctl_problem	 hist[CONTROL_LOG_HISTORY];
	size_t			 hist_head, hist_n, hist_bytes;
	/*
	 * Connections are freed only from this timer: io may report an
	 * error synchronously inside any write, and a struct freed there
	 * would still be in use by the code that wrote.
	 */
	struct ev_timer		*reaper;
} ctl = {
	.listeners = { { .fd = -1 }, { .fd = -1 } },
};

static void conn_io(struct io *, enum io_event, void *);
static void conn_free(struct ctl_conn *);
static void conn_kill(struct ctl_conn *);

static char *
socket_path(const struct config *cfg, int public)
{
	char *p;

	if (!public && cfg->control_socket && *cfg->control_socket)
		return xstrdup(cfg->control_socket);
	xasprintf(&p, "%s/%s", cfg->spool,
	    public ? CONTROL_PUBLIC_SOCKET_NAME : CONTROL_SOCKET_NAME);
	return p;
}

static int
listen_one(struct ctl_listener *l, const char *path, int public,
    uid_t owner, gid_t group, char **err)
{
	struct sockaddr_un sun;
	mode_t mode = public ? 0666 : 0660, omask;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		xasprintf(err, "%s: socket path longer than %zu bytes "
		    "(move the spool or set control_socket)", path,
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		xasprintf(err, "socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by a crashed daemon would make bind fail. */
	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(err, "%s: cannot remove old socket: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* Never let the socket exist with wider permissions, even briefly. */
	omask = umask(0777 & ~mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(omask);
		xasprintf(err, "%s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(omask);
	if (chmod(path, mode) == -1 ||
	    (geteuid() == 0 && chown(path, owner, group) == -1)) {
		xasprintf(err, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (listen(fd, 64) == -1) {
		xasprintf(err, "%s: listen: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	l->fd = fd;
	l->public = public;
	l->path = xstrdup(path);
	return 0;
}

int
control_listen(const struct config *cfg, uid_t owner, gid_t group,
    char **err)
{
	char *path;
	int i, rc = 0;

	ctl.uid = owner;
	ctl.gid = group;
	ctl.cfg = cfg;
	for (i = 0; i < 2 && rc == 0; i++) {
		path = socket_path(cfg, i);
		rc = listen_one(&ctl.listeners[i], path, i, owner, group, err);
		free(path);
	}
	return rc;
}

void
control_reconfigure(const struct config *cfg)
{
	ctl.cfg = cfg;
}

void
control_set_reload_hook(control_reload_fn fn, void *arg)
{
	ctl.reload = fn;
	ctl.reload_arg = arg;
}

/*
 * ctl.sock admits root, the daemon's own uid and members of its group
 * (primary or supplementary), so an admin in group hikyaku needs no sudo.
 * The socket's mode already says so; this holds even if it is chmodded.
 */
static int
peer_allowed(int fd, uid_t *uidp)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t groups[256];
	size_t i, n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return 0;
	*uidp = uc.uid;
	if (uc.uid == 0 || uc.uid == ctl.uid || uc.gid == ctl.gid)
		return 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;
	n = len / sizeof(gid_t);
	for (i = 0; i < n; i++)
		if (groups[i] == ctl.gid)
			return 1;
	return 0;
}

static void
send_line(struct ctl_conn *c, struct buf *b)
{
	buf_addch(b, '\n');
	if (!c->closing)
		io_write(c->io, b->data, b->len);
}

static void
greet(struct ctl_conn *c, const char *refusal)
{
	struct buf b;
	struct json_writer w;

	buf_init(&b);
	json_writer_init(&w, &b);
	json_obj_begin(&w);
	json_kv_str(&w, "hikyaku", "control");
	json_kv_int(&w, "version", CONTROL_PROTOCOL_VERSION);
	json_kv_int(&w, "pid", getpid());
	json_kv_str(&w, "access", c->public ? "public" : "full");
	if (refusal)
		json_kv_str(&w, "error", refusal);
	json_obj_end(&w);
	send_line(c, &b);
	buf_free(&b);
}

/* Stop serving c: let what is queued drain (bounded), then free it. */
static void
conn_close_after_flush(struct ctl_conn *c)
{
	if (c->dead)
		return;
	c->closing = 1;
	c->topics = 0;
	io_pause(c->io, 1);
	if (io_queued(c->io) == 0)
		conn_kill(c);
	else
		io_set_deadline(c->io, ev_now() + CONTROL_LINGER_MS);
}

/* Stop using c at once; the reaper frees it on the next loop turn. */
static void
conn_kill(struct ctl_conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	c->closing = 1;
	c->topics = 0;
	ev_timer_after(ctl.reaper, 0);
}

static void
reaper_cb(void *arg)
{
	struct ctl_conn *c, *next;

	for (c = ctl.conns; c; c = next) {
		next = c->next;
		if (c->dead)
			conn_free(c);
	}
}

static void
accept_cb(int fd, int revents, void *arg)
{
	struct ctl_listener *l = arg;
	struct ctl_conn *c;
	uid_t uid = (uid_t)-1;
	int cfd, ok;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept: %s", strerror(errno));
		return;
	}
	ok = l->public || peer_allowed(cfd, &uid);
	c = xcalloc(1, sizeof(*c));
	c->public = l->public;
	c->cap = CONTROL_SUBSCRIBER_CAP;
	c->io = io_new(cfd, conn_io, c);
	io_set_maxline(c->io, CONTROL_MAX_REQUEST);
	c->next = ctl.conns;
	if (ctl.conns)
		ctl.conns->prev = c;
	ctl.conns = c;
	if (!ok) {
		log_warn("control: refused uid %ld on %s (not root, the "
		    "daemon user or its group)", (long)uid, l->path);
		greet(c, "permission denied");
		conn_close_after_flush(c);
		return;
	}
	greet(c, NULL);
}

static void
conn_free(struct ctl_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	io_free(c->io);
	free(c);
}

/* Response prologue: {"id":ID,"ok":true  (the caller adds and closes). */
static void
resp_begin(struct json_writer *w, struct buf *b, const struct json_value *id,
    int ok)
{
	buf_init(b);
	json_writer_init(w, b);
	json_obj_begin(w);
	json_key(w, "id");
	if (id && id->type == JSON_NUMBER && id->is_int)
		json_int(w, id->i);
	else if (id && id->type == JSON_STRING)
		json_str(w, id->s);
	else
		json_null(w);
	json_kv_bool(w, "ok", ok);
}

static void
resp_end(struct ctl_conn *c, struct json_writer *w, struct buf *b)
{
	json_obj_end(w);
	send_line(c, b);
	buf_free(b);
}

static void
reply_error(struct ctl_conn *c, const struct json_value *id, const char *msg)
{
	struct buf b;
	struct json_writer w;

	resp_begin(&w, &b, id, 0);
	json_kv_str(&w, "error", msg);
	resp_end(c, &w, &b);
}

static void
reply_ok(struct ctl_conn *c, const struct json_value *id)
{
	struct buf b;
	struct json_writer w;

	resp_begin(&w, &b, id, 1);
	resp_end(c, &w, &b);
}

static void
page_add(const struct envelope *env, void *arg)
{
	control_json_envelope(arg, env, 0);
}

static void
cmd_queue_list(struct ctl_conn *c, const struct json_value *id,
    const struct json_value *req)
{
	struct buf b;
	struct json_writer w;
	int64_t offset, limit;
	size_t total;

	offset = json_get_int(req, "offset", 0);
	limit = json_get_int(req, "limit", CONTROL_PAGE_MAX);
	if (offset < 0 || limit < 0) {
		reply_error(c, id, "offset and limit must not be negative");
		return;
	}
	if (limit > CONTROL_PAGE_MAX)
		limit = CONTROL_PAGE_MAX;
	resp_begin(&w, &b, id, 1);
	json_kv_int(&w, "offset", offset);
	json_key(&w, "messages");
	json_arr_begin(&w);
	total = sched_foreach_page((size_t)offset, (size_t)limit, page_add,
	    &w);
	json_arr_end(&w);
	json_kv_int(&w, "total", (int64_t)total);
	resp_end(c, &w, &b);
}

static void
cmd_queue_show(struct ctl_conn *c, const struct json_value *id,
    const struct json_value *req)
{
	const struct envelope *env;
	const char *qid = json_get_str(req, "qid");
	struct buf b;
	struct json_writer w;

	if (!qid) {
		reply_error(c, id, "missing \"qid\"");
		return;
	}
	if (!(env = sched_find(qid))) {
		reply_error(c, id, "no such message");
		return;
	}
	resp_begin(&w, &b, id, 1);
	json_key(&w, "message");
	control_json_envelope(&w, env, 1);
	resp_end(c, &w, &b);
}

static void
cmd_queue_action(struct ctl_conn *c, const struct json_value *id,
    const struct json_value *req, int (*action)(const char *),
    const char *verb)
{
	const char *qid = json_get_str(req, "qid");

	if (!qid) {
		reply_error(c, id, "missing \"qid\"");
		return;
	}
	if (action(qid) == -1) {
		reply_error(c, id, "no such message");
		return;
	}
	log_info("%s: %s requested on the control socket", qid, verb);
	reply_ok(c, id);
}

static void
cmd_reload(struct ctl_conn *c, const struct json_value *id)
{
	struct buf b;
	struct json_writer w;
	char *result = NULL;
	int rc;

	if (!ctl.reload) {
		reply_error(c, id, "reload is not available");
		return;
	}
	rc = ctl.reload(&result, ctl.reload_arg);
	resp_begin(&w, &b, id, rc == 0);
	if (rc == 0)
		json_kv_str(&w, "result", result ? result : "");
	else
		json_kv_str(&w, "error", result ? result :
		    "reload failed; the running configuration is kept");
	resp_end(c, &w, &b);
	free(result);
}

static const char *
level_name(enum log_level level)
{
	switch (level) {
	case LOG_LVL_DEBUG:
		return "debug";
	case LOG_LVL_INFO:
		return "info";
	case LOG_LVL_WARN:
		return "warning";
	case LOG_LVL_ERR:
		return "error";
	}
	return "info";
}

static void
problem_json(struct json_writer *w, const struct ctl_problem *p)
{
	json_obj_begin(w);
	json_kv_int(w, "seq", (int64_t)p->seq);
	json_kv_int(w, "time", p->time);
	json_kv_str(w, "level", level_name(p->level));
	json_kv_str(w, "line", p->line);
	json_obj_end(w);
}

/* The kept warning/error lines, oldest first. */
static void
recent_errors(struct json_writer *w)
{
	const struct ctl_problem *p;
	size_t i;

	json_arr_begin(w);
	for (i = 0; i < CONTROL_RECENT_ERRORS; i++) {
		p = &ctl.problems[(ctl.problem_next + i) %
		    CONTROL_RECENT_ERRORS];
		if (p->line)
			problem_json(w, p);
	}
	json_arr_end(w);
}

/* The last n kept log lines, oldest first. */
static void
history_json(struct json_writer *w, size_t n)
{
	size_t i;

	if (n > ctl.hist_n)
		n = ctl.hist_n;
	json_arr_begin(w);
	for (i = ctl.hist_n - n; i < ctl.hist_n; i++)
		problem_json(w, &ctl.hist[(ctl.hist_head + i) %
		    CONTROL_LOG_HISTORY]);
	json_arr_end(w);
}

static void
history_drop_oldest(void)
{
	struct ctl_problem *p = &ctl.hist[ctl.hist_head];

	ctl.hist_bytes -= strlen(p->line);
	free(p->line);
	p->line = NULL;
	ctl.hist_head = (ctl.hist_head + 1) % CONTROL_LOG_HISTORY;
	ctl.hist_n--;
}

/* Keep a log line, dropping the oldest past either bound. */
static void
history_add(int64_t now, enum log_level level, const char *line)
{
	size_t len = strlen(line);
	struct ctl_problem *p;

	if (len > CONTROL_LOG_HISTORY_BYTES)
		return;
	while (ctl.hist_n == CONTROL_LOG_HISTORY ||
	    (ctl.hist_n > 0 && ctl.hist_bytes + len >
	    CONTROL_LOG_HISTORY_BYTES))
		history_drop_oldest();
	p = &ctl.hist[(ctl.hist_head + ctl.hist_n) % CONTROL_LOG_HISTORY];
	p->seq = ctl.log_seq;
	p->time = now;
	p->level = level;
	p->line = xstrdup(line);
	ctl.hist_n++;
	ctl.hist_bytes += len;
}

static void
cmd_status(struct ctl_conn *c, const struct json_value *id)
{
	struct sched_stats st;
	struct sched_remote_state rs[64];
	size_t i, n;
	struct buf b;
	struct json_writer w;

	sched_get_stats(&st);
	resp_begin(&w, &b, id, 1);
	json_kv_int(&w, "pid", getpid());
	json_kv_str(&w, "version", PACKAGE_VERSION);
	json_kv_int(&w, "started", ctl.started / 1000);
	json_kv_int(&w, "uptime", (now_wall_ms() - ctl.started) / 1000);
	json_key(&w, "listeners");
	json_arr_begin(&w);
	for (i = 0; ctl.cfg && i < ctl.cfg->nlisten; i++) {
		const struct listen_cfg *lc = &ctl.cfg->listens[i];

		json_obj_begin(&w);
		json_kv_str(&w, "addr", lc->addr);
		json_kv_int(&w, "port", lc->port);
		json_kv_str(&w, "mode", config_listen_mode_name(lc->mode));
		json_obj_end(&w);
	}
	json_arr_end(&w);
	json_key(&w, "queue");
	json_obj_begin(&w);
	json_kv_int(&w, "messages", (int64_t)st.messages);
	json_kv_int(&w, "pending", (int64_t)st.recipients_pending);
	json_kv_int(&w, "deferred", (int64_t)st.recipients_deferred);
	json_kv_int(&w, "held", (int64_t)st.recipients_held);
	json_obj_end(&w);
	json_kv_int(&w, "connections", (int64_t)st.active_connections);
	json_key(&w, "totals");
	json_obj_begin(&w);
	json_kv_int(&w, "delivered", (int64_t)st.delivered_total);
	json_kv_int(&w, "deferred", (int64_t)st.deferred_total);
	json_kv_int(&w, "bounced", (int64_t)st.bounced_total);
	json_obj_end(&w);
	json_key(&w, "last_hour");
	json_obj_begin(&w);
	json_kv_int(&w, "delivered", (int64_t)st.delivered_hour);
	json_kv_int(&w, "deferred", (int64_t)st.deferred_hour);
	json_kv_int(&w, "bounced", (int64_t)st.bounced_hour);
	json_obj_end(&w);
	json_kv_int(&w, "log_seq", (int64_t)ctl.log_seq);
	json_key(&w, "recent_errors");
	recent_errors(&w);
	json_key(&w, "remotes");
	json_arr_begin(&w);
	n = sched_remote_states(rs, nitems(rs));
	for (i = 0; i < n; i++) {
		json_obj_begin(&w);
		json_kv_str(&w, "host", rs[i].host);
		json_kv_int(&w, "port", rs[i].port);
		json_kv_bool(&w, "up", rs[i].up);
		json_kv_int(&w, "down_since", rs[i].down_since / 1000);
		if (rs[i].last_error)
			json_kv_str(&w, "last_error", rs[i].last_error);
		json_kv_int(&w, "delivered", (int64_t)rs[i].delivered);
		json_obj_end(&w);
	}
	json_arr_end(&w);
	resp_end(c, &w, &b);
}

/*
 * Output beyond the cap drops a subscriber instead of growing without
 * bound: the line that would pass it is replaced by "resync", so the
 * client knows its view is stale and must subscribe again.
 */
static void
send_event(struct ctl_conn *c, struct buf *b)
{
	static const char resync[] = "{\"event\":\"resync\"}\n";

	if (io_queued(c->io) + b->len + 1 > c->cap) {
		log_warn("control: subscriber too slow (%zu bytes unsent), "
		    "dropped", io_queued(c->io));
		io_write(c->io, resync, sizeof(resync) - 1);
		conn_close_after_flush(c);
		return;
	}
	send_line(c, b);
}

/*
 * The snapshot of a big queue is one line of tens of megabytes. It is
 * built at once, so it shows a single queue state, but it leaves in
 * pieces as it is built: the reader receives while the rest is made,
 * and no copy of the whole line is ever held twice.
 */
#define SNAPSHOT_PIECE	(256 * 1024)

struct snap {
	struct ctl_conn		*c;
	struct json_writer	*w;
	struct buf		*b;
};

static void
snap_add(const struct envelope *env, void *arg)
{
	struct snap *s = arg;

	control_json_envelope(s->w, env, 0);
	if (s->b->len >= SNAPSHOT_PIECE && !s->c->closing) {
		io_push(s->c->io, s->b->data, s->b->len);
		buf_reset(s->b);
	}
}

static void
cmd_subscribe(struct ctl_conn *c, const struct json_value *id,
    const struct json_value *req)
{
	const struct json_value *topics = json_get(req, "topics");
	const struct json_value *history = json_get(req, "history");
	struct buf b;
	struct json_writer w;
	struct snap s;
	int mask = 0;
	size_t i;

	if (!topics || topics->type != JSON_ARRAY) {
		reply_error(c, id, "\"topics\" must be an array of "
		    "\"queue\" and/or \"log\"");
		return;
	}
	if (history && (history->type != JSON_NUMBER || !history->is_int ||
	    history->i < 0)) {
		reply_error(c, id, "\"history\" must be a number of log "
		    "lines (0 or more)");
		return;
	}
	for (i = 0; i < topics->n; i++) {
		const struct json_value *t = topics->items[i];

		if (t->type == JSON_STRING && strcmp(t->s, "queue") == 0)
			mask |= TOPIC_QUEUE;
		else if (t->type == JSON_STRING && strcmp(t->s, "log") == 0)
			mask |= TOPIC_LOG;
		else {
			reply_error(c, id, "unknown topic (use \"queue\" "
			    "or \"log\")");
			return;
		}
	}
	resp_begin(&w, &b, id, 1);
	json_key(&w, "topics");
	json_arr_begin(&w);
	if (mask & TOPIC_QUEUE)
		json_str(&w, "queue");
	if (mask & TOPIC_LOG)
		json_str(&w, "log");
	json_arr_end(&w);
	json_kv_int(&w, "seq", (int64_t)ctl.queue_seq);
	json_kv_int(&w, "log_seq", (int64_t)ctl.log_seq);
	if (mask & TOPIC_QUEUE) {
		s.c = c;
		s.w = &w;
		s.b = &b;
		json_key(&w, "messages");
		json_arr_begin(&w);
		sched_foreach(snap_add, &s);
		json_arr_end(&w);
	}
	if ((mask & TOPIC_LOG) && history) {
		json_key(&w, "log");
		history_json(&w, (size_t)history->i);
	}
	resp_end(c, &w, &b);
	/* The snapshot itself never counts against the cap. */
	c->cap = io_queued(c->io) + CONTROL_SUBSCRIBER_CAP;
	c->topics = mask;
}

static void
handle_request(struct ctl_conn *c, const char *line, size_t len)
{
	struct json_value *req;
	const struct json_value *id;
	const char *cmd;
	char *err = NULL, *msg;

	if (!(req = json_parse(line, len, &err))) {
		xasprintf(&msg, "bad JSON: %s", err);
		reply_error(c, NULL, msg);
		free(msg);
		free(err);
		return;
	}
	id = json_get(req, "id");
	cmd = json_get_str(req, "cmd");
	if (!cmd) {
		reply_error(c, id, "missing \"cmd\"");
	} else if (strcmp(cmd, "queue.list") == 0) {
		cmd_queue_list(c, id, req);
	} else if (strcmp(cmd, "queue.flush") == 0) {
		sched_flush();
		log_info("control: queue flush requested");
		reply_ok(c, id);
	} else if (c->public) {
		reply_error(c, id, "permission denied (public.sock allows "
		    "queue.list and queue.flush only)");
	} else if (strcmp(cmd, "queue.show") == 0) {
		cmd_queue_show(c, id, req);
	} else if (strcmp(cmd, "queue.retry") == 0) {
		const char *qid = json_get_str(req, "qid");
		const struct envelope *env = qid ? sched_find(qid) : NULL;

		/* A held message is not retried: say so rather than "ok". */
		if (env != NULL && env->held)
			reply_error(c, id, "message is held (release it to "
			    "deliver it)");
		else
			cmd_queue_action(c, id, req, sched_retry, "retry");
	} else if (strcmp(cmd, "queue.delete") == 0) {
		cmd_queue_action(c, id, req, sched_delete, "delete");
	} else if (strcmp(cmd, "queue.hold") == 0) {
		cmd_queue_action(c, id, req, sched_hold, "hold");
	} else if (strcmp(cmd, "queue.release") == 0) {
		cmd_queue_action(c, id, req, sched_release, "release");
	} else if (strcmp(cmd, "queue.bounce") == 0) {
		cmd_queue_action(c, id, req, sched_bounce, "bounce");
	} else if (strcmp(cmd, "reload") == 0) {
		cmd_reload(c, id);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "stats") == 0) {
		cmd_status(c, id);
	} else if (strcmp(cmd, "subscribe") == 0) {
		cmd_subscribe(c, id, req);
	} else {
		xasprintf(&msg, "unknown command \"%s\"", cmd);
		reply_error(c, id, msg);
		free(msg);
	}
	json_free(req);
}

static void
conn_read(struct ctl_conn *c)
{
	const char *line;
	size_t len;
	enum io_line r;

	/*
	 * One answer at a time: the next request is taken only once the
	 * last answer is all written (IO_LOWAT resumes reading). A client
	 * that sends requests without reading the answers is so paused,
	 * not dropped, and a first page asked for before a subscribe
	 * reaches the client whole before the snapshot is built.
	 */
	while (!c->closing && io_queued(c->io) == 0 &&
	    (r = io_getline(c->io, &line, &len)) != IO_LINE_NONE) {
		if (r == IO_LINE_TOOLONG)
			reply_error(c, NULL, "request line too long");
		else
			handle_request(c, line, len);
		/* A write error only marks c dead (the reaper frees it). */
		io_flush(c->io);
	}
	if (!c->closing && io_queued(c->io) > 0)
		io_pause(c->io, 1);
}

static void
conn_io(struct io *io, enum io_event ev, void *arg)
{
	struct ctl_conn *c = arg;

	switch (ev) {
	case IO_DATAIN:
		conn_read(c);
		break;
	case IO_LOWAT:
		if (c->closing) {
			conn_kill(c);
			break;
		}
		io_pause(c->io, 0);
		conn_read(c);
		break;
	case IO_DISCONNECTED:
	case IO_TIMEOUT:
	case IO_ERROR:
		conn_kill(c);
		break;
	case IO_CONNECTED:
	case IO_TLSREADY:
		break;
	}
}

static const char *
sched_event_name(enum sched_event_kind kind)
{
	switch (kind) {
	case SCHED_MSG_ADDED:
		return "queue.added";
	case SCHED_MSG_CHANGED:
		return "queue.changed";
	case SCHED_MSG_REMOVED:
		return "queue.removed";
	}
	return "queue.changed";
}

/* Every queue change is numbered, so a subscriber can prove no gap. */
static void
queue_observer(enum sched_event_kind kind, const struct envelope *env,
    void *arg)
{
	struct ctl_conn *c, *next;
	struct buf b;
	struct json_writer w;

	ctl.queue_seq++;
	ctl.busy = 1;
	buf_init(&b);
	for (c = ctl.conns; c; c = next) {
		next = c->next;
		if (!(c->topics & TOPIC_QUEUE))
			continue;
		if (b.len == 0) {
			json_writer_init(&w, &b);
			json_obj_begin(&w);
			json_kv_str(&w, "event", sched_event_name(kind));
			json_kv_int(&w, "seq", (int64_t)ctl.queue_seq);
			if (kind == SCHED_MSG_REMOVED) {
				json_kv_str(&w, "qid", env->id);
			} else {
				json_key(&w, "message");
				control_json_envelope(&w, env, 0);
			}
			json_obj_end(&w);
		}
		send_event(c, &b);
		/* send_line appended a newline; drop it for the next one. */
		if (b.len && b.data[b.len - 1] == '\n')
			b.data[--b.len] = '\0';
	}
	buf_free(&b);
	ctl.busy = 0;
}

/* Keep a warning or error for status, replacing the oldest kept. */
static void
problem_add(int64_t now, enum log_level level, const char *line)
{
	struct ctl_problem *p = &ctl.problems[ctl.problem_next];

	free(p->line);
	p->seq = ctl.log_seq;
	p->time = now;
	p->level = level;
	p->line = xstrdup(line);
	ctl.problem_next = (ctl.problem_next + 1) % CONTROL_RECENT_ERRORS;
}

static void
log_observer_cb(enum log_level level, const char *line, void *arg)
{
	struct ctl_conn *c, *next;
	struct buf b;
	struct json_writer w;
	int64_t now;

	/*
	 * send_event logs when it drops a subscriber: that line goes to the
	 * log but is not echoed while the subscriber list is being walked.
	 */
	if (ctl.busy)
		return;
	ctl.busy = 1;
	ctl.log_seq++;
	now = now_wall_ms() / 1000;
	if (level >= LOG_LVL_WARN)
		problem_add(now, level, line);
	history_add(now, level, line);
	buf_init(&b);
	for (c = ctl.conns; c; c = next) {
		next = c->next;
		if (!(c->topics & TOPIC_LOG))
			continue;
		if (b.len == 0) {
			json_writer_init(&w, &b);
			json_obj_begin(&w);
			json_kv_str(&w, "event", "log");
			json_kv_int(&w, "seq", (int64_t)ctl.log_seq);
			json_kv_int(&w, "time", now);
			json_kv_str(&w, "level", level_name(level));
			json_kv_str(&w, "line", line);
			json_obj_end(&w);
		}
		send_event(c, &b);
		if (b.len && b.data[b.len - 1] == '\n')
			b.data[--b.len] = '\0';
	}
	buf_free(&b);
	ctl.busy = 0;
}

void
control_start(void)
{
	int i;

	ctl.started = now_wall_ms();
	ctl.reaper = ev_timer_new(reaper_cb, NULL);
	for (i = 0; i < 2; i++)
		if (ctl.listeners[i].fd != -1)
			ctl.listeners[i].ev = ev_fd_add(ctl.listeners[i].fd,
			    EV_READ, accept_cb, &ctl.listeners[i]);
	sched_observe(queue_observer, NULL);
	log_set_observer(log_observer_cb, NULL);
}

void
control_shutdown(void)
{
	int i;

	log_set_observer(NULL, NULL);
	sched_unobserve(queue_observer, NULL);
	while (ctl.conns)
		conn_free(ctl.conns);
	for (i = 0; i < CONTROL_RECENT_ERRORS; i++) {
		free(ctl.problems[i].line);
		ctl.problems[i].line = NULL;
	}
	while (ctl.hist_n > 0)
		history_drop_oldest();
	if (ctl.reaper)
		ev_timer_free(ctl.reaper);
	ctl.reaper = NULL;
	for (i = 0; i < 2; i++) {
		struct ctl_listener *l = &ctl.listeners[i];

		if (l->ev)
			ev_fd_del(l->ev);
		if (l->fd != -1)
			close(l->fd);
		/* Unlinking may fail after the privilege drop: harmless,
		   the next start replaces the file. */
		if (l->path)
			unlink(l->path);
		free(l->path);
		memset(l, 0, sizeof(*l));
		l->fd = -1;
	}
}
