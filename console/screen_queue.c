/*
 * screen_queue: the Queue screen (DESIGN §8.2). A live list kept by a
 * `subscribe` to the queue topic (snapshot, then seq-numbered deltas), a
 * message view (queue.show plus the message file), and the actions, on
 * the selected messages or the one under the cursor. When the daemon is
 * down the list comes from the spool, read-only.
 *
 * The snapshot of a big queue is one long line; it is taken apart message
 * by message in slices on the event loop while it arrives, and what became
 * rows is dropped from the input, so the list fills as fast as the daemon
 * writes, keys keep working, and the whole line is never held.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl_client.h"
#include "envelope.h"
#include "event.h"
#include "json.h"
#include "tui.h"
#include "tui_ctl.h"
#include "tui_list.h"
#include "util.h"

static const char snap_key[] = ",\"messages\":[";

/* Messages turned into rows per loop turn while a snapshot is read. */
#define SLICE		2000
#define VIEW_MAX_BODY	400

struct qrow {
	char		 qid[24];
	int64_t		 arrival, size, next_try;
	int		 attempts;
	unsigned	 gen;		/* the subscription that sent it */
	char		 state[12];
	char		*sender, *rcpts, *error;
};

/* An action on one or many messages, waiting for its replies. */
struct action {
	struct tui_job	*job;
	char		 verb[16];
	uint64_t	*ids;
	size_t		 n, answered, failed;
	char		*first_err;
};

static struct {
	struct tui_ctl	*ctl;
	struct tui_list	*list;
	int		 readonly;	/* rows read from the spool */
	int		 loading;
	/* snapshot being taken apart */
	char		*snap;		/* the whole line, once it came */
	size_t		 snap_len, snap_pos;
	uint64_t	 sub_id;	/* the subscribe request */
	int		 head_done;	/* its members before the array */
	struct json_arena *arena;	/* one message of it at a time */
	struct ev_timer	*slice;
	uint64_t	 seq;
	unsigned	 gen;		/* subscriptions so far */
	/* events that came while the snapshot was being read */
	char		**held;
	size_t		 nheld;
	/* message view */
	char		**view;
	size_t		 nview;
	int		 view_top;	/* screen rows scrolled */
	int		 view_rows, view_page;	/* at the last draw */
	char		 view_qid[24];
	struct tui_job	*show_job;
	uint64_t	 show_id;
} Q;

static void	 apply_event(const char *line, size_t len);

static const char *
row_key(const void *r)
{
	return ((const struct qrow *)r)->qid;
}

static int
cmp64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int
row_cmp(const void *a, const void *b, int col)
{
	const struct qrow *x = a, *y = b;

	switch (col) {
	case 0:
		return cmp64(x->size, y->size);
	case 1:
		return strcmp(x->sender, y->sender);
	case 2:
		return strcmp(x->rcpts, y->rcpts);
	case 3:
		return strcmp(x->state, y->state);
	case 4:
		return x->attempts - y->attempts;
	default:
		return cmp64(x->next_try, y->next_try);
	}
}

static int
has(const char *hay, const char *needle)
{
	return hay && ascii_contains(hay, needle);
}

static int
row_match(const void *r, const char *needle)
{
	const struct qrow *q = r;

	return has(q->qid, needle) || has(q->sender, needle) ||
	    has(q->rcpts, needle) || has(q->error, needle) ||
	    has(q->state, needle);
}

static void
row_draw(WINDOW *w, int y, int width, const void *r, attr_t a)
{
	const struct qrow *q = r;
	char age[16], size[32], next[16];
	int64_t now = time(NULL);
	int x = 0, rest, sw, rw;
	attr_t sa = a;

	tui_fmt_age(age, sizeof(age), now - q->arrival);
	if (q->size < 10000)
		snprintf(size, sizeof(size), "%lld", (long long)q->size);
	else
		snprintf(size, sizeof(size), "%lldK",
		    (long long)(q->size / 1024));
	if (q->next_try > now)
		tui_fmt_age(next, sizeof(next), q->next_try - now);
	else
		snprintf(next, sizeof(next), "%s",
		    strcmp(q->state, "deferred") == 0 ? "due" : "-");
	if (a == A_NORMAL)
		sa = strcmp(q->state, "held") == 0 ? tui_attr(TUI_WARN) :
		    strcmp(q->state, "deferred") == 0 ? tui_attr(TUI_BAD) :
		    tui_attr(TUI_OK);
	tui_putf(w, y, x, width, a, "%-17s %4s %6s %2d %4s ", q->qid, age,
	    size, q->attempts, next);
	x = 17 + 1 + 4 + 1 + 6 + 1 + 2 + 1 + 4 + 1;
	tui_put(w, y, x, width - x, sa, 0, q->state);
	x += 9;
	rest = width - x;
	if (rest <= 0)
		return;
	/* Sender and recipients share what is left; the error gets the
	 * rest on wide terminals. */
	sw = rest >= 120 ? 28 : rest * 2 / 5;
	rw = rest >= 120 ? 34 : rest - sw - 1;
	tui_put(w, y, x, sw, a, 0, *q->sender ? q->sender : "<>");
	x += sw + 1;
	tui_put(w, y, x, rw, a, 0, q->rcpts);
	x += rw + 1;
	if (q->error && width - x > 10)
		tui_put(w, y, x, width - x, a, 0, q->error);
}

static void
row_free(void *r)
{
	struct qrow *q = r;

	free(q->sender);
	free(q->rcpts);
	free(q->error);
	free(q);
}

static const char *const qcols[] = {
	"size", "sender", "recipients", "state", "attempts", "next retry"
};

static const struct tui_list_class qclass = {
	.key = row_key, .cmp = row_cmp, .match = row_match, .draw = row_draw,
	.free = row_free, .cols = qcols, .ncols = 6,
};

/* A protocol message object to a row. */
static struct qrow *
row_from_json(const struct json_value *m)
{
	const struct json_value *rc = json_get(m, "recipients");
	const char *s, *addr, *le;
	struct qrow *q;
	struct buf b;
	size_t i;
	int64_t t;
	int attempts;

	if (!(s = json_get_str(m, "qid")))
		return NULL;
	q = xcalloc(1, sizeof(*q));
	snprintf(q->qid, sizeof(q->qid), "%s", s);
	q->arrival = json_get_int(m, "arrival", 0);
	q->size = json_get_int(m, "size", 0);
	s = json_get_str(m, "state");
	snprintf(q->state, sizeof(q->state), "%s", s ? s : "?");
	s = json_get_str(m, "sender");
	q->sender = xstrdup(s ? s : "");
	buf_init(&b);
	for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++) {
		const struct json_value *r = rc->items[i];
		const char *st = json_get_str(r, "state");

		if (st && (strcmp(st, "delivered") == 0 ||
		    strcmp(st, "bounced") == 0))
			continue;
		if (b.len)
			buf_addch(&b, ',');
		if ((addr = json_get_str(r, "addr")) != NULL)
			buf_addstr(&b, addr);
		if ((attempts = (int)json_get_int(r, "attempts", 0)) >
		    q->attempts)
			q->attempts = attempts;
		t = json_get_int(r, "next_try", 0);
		if (st && strcmp(st, "deferred") == 0 && t &&
		    (q->next_try == 0 || t < q->next_try))
			q->next_try = t;
		if (!q->error && (le = json_get_str(r, "last_error")) != NULL)
			q->error = xstrdup(le);
	}
	buf_addch(&b, '\0');
	q->rcpts = buf_take(&b);
	return q;
}

size_t
screen_queue_count(int *readonly)
{
	*readonly = Q.readonly;
	return Q.list ? tui_list_count(Q.list) : 0;
}

static void
held_free(void)
{
	size_t i;

	for (i = 0; i < Q.nheld; i++)
		free(Q.held[i]);
	free(Q.held);
	Q.held = NULL;
	Q.nheld = 0;
}

static void
snap_free(void)
{
	json_arena_free(Q.arena);
	Q.arena = NULL;
	free(Q.snap);
	Q.snap = NULL;
	Q.snap_len = Q.snap_pos = 0;
	Q.sub_id = 0;
	Q.head_done = 0;
	Q.loading = 0;
	ev_timer_stop(Q.slice);
}

/* End of the JSON object starting at s[0] == '{' (index past '}'). */
static size_t
object_end(const char *s, size_t len)
{
	size_t i;
	int depth = 0, in_str = 0;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if (s[i] == '}' || s[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

static int
row_current(const void *r)
{
	return ((const struct qrow *)r)->gen == Q.gen;
}

/*
 * The members before the messages of the subscribe answer: hlen bytes of
 * s, or all of it when it has no messages (cut: the array was cut off).
 */
static struct json_value *
snap_head(const char *s, size_t hlen, int cut, char **err)
{
	struct json_value *head;
	char *hdr = xmalloc(hlen + 2);

	memcpy(hdr, s, hlen);
	if (cut)
		hdr[hlen++] = '}';
	hdr[hlen] = '\0';
	head = json_parse(hdr, hlen, err);
	free(hdr);
	return head;
}

/* A good answer: its seq, and no longer read-only. */
static void
snap_begin(const struct json_value *head)
{
	Q.seq = (uint64_t)json_get_int(head, "seq", 0);
	Q.readonly = 0;
	Q.head_done = 1;
	held_free();
}

/*
 * Turn the next slice of the snapshot into rows: as it arrives, dropping
 * from the input what became rows, so the list fills while the daemon is
 * still sending; then from what was left when its end came.
 */
static void
snap_slice(void *arg)
{
	const char *s = Q.snap, *m;
	size_t len = Q.snap_len, n = 0, end, i, skip;
	int whole = Q.snap != NULL;
	struct json_value *v;
	struct qrow *q;
	char *err = NULL;
	void **rows;

	if (!whole) {
		if (!(s = tui_ctl_partial(Q.ctl, Q.sub_id, &len)))
			return;
		if (!Q.head_done) {
			/* The members before the array are a few dozen
			 * bytes; a bad answer is reported when it ends. */
			if (!(m = memmem(s, len < 4096 ? len : 4096, snap_key,
			    sizeof(snap_key) - 1)))
				return;
			if (!(v = snap_head(s, (size_t)(m - s), 1, &err)) ||
			    !json_get_bool(v, "ok", 0)) {
				free(err);
				json_free(v);
				return;
			}
			snap_begin(v);
			json_free(v);
			skip = (size_t)(m - s) + sizeof(snap_key) - 1;
			tui_ctl_consume(Q.ctl, Q.sub_id, skip);
			s += skip;
			len -= skip;
		}
	}
	if (Q.arena == NULL)
		Q.arena = json_arena_new();
	rows = xcalloc(SLICE, sizeof(*rows));
	while (n < SLICE && Q.snap_pos < len) {
		char c = s[Q.snap_pos];

		if (c == ',' || c == ' ') {
			Q.snap_pos++;
			continue;
		}
		if (c != '{')
			break;		/* the closing ']' */
		json_arena_reset(Q.arena);
		v = json_parse_prefix_in(Q.arena, s + Q.snap_pos,
		    len - Q.snap_pos, &end, &err);
		if (!v && !whole) {
			/* Its end has not come yet. */
			free(err);
			break;
		}
		if (!v) {
			tui_error("bad message in the snapshot: %s", err);
			free(err);
			err = NULL;
			/* Skip just that one, if it ends at all. */
			if ((end = object_end(s + Q.snap_pos,
			    len - Q.snap_pos)) == 0)
				break;
		}
		Q.snap_pos += end;
		if (!v)
			continue;
		if ((q = row_from_json(v)) != NULL) {
			q->gen = Q.gen;
			rows[n++] = q;
		}
	}
	tui_list_merge(Q.list, rows, n);
	free(rows);
	if (n > 0) {
		tui_bench_mark("first-rows");
		tui_dirty();
	}
	if (!whole) {
		/* Rows made are dropped from the input; until the whole
		 * line has come, more() calls again. */
		tui_ctl_consume(Q.ctl, Q.sub_id, Q.snap_pos);
		Q.snap_pos = 0;
		if (n == SLICE)
			ev_timer_after(Q.slice, 0);
		return;
	}
	if (n == SLICE && Q.snap_pos < len) {
		ev_timer_after(Q.slice, 0);
		return;
	}
	tui_bench_mark("loaded");
	tui_dirty();
	/* Rows shown before (first page, old subscription) that the
	 * snapshot no longer has are gone from the queue. */
	tui_list_prune(Q.list, row_current);
	snap_free();
	/* Now the events that arrived meanwhile, in order. */
	for (i = 0; i < Q.nheld && Q.held; i++)
		apply_event(Q.held[i], strlen(Q.held[i]));
	held_free();
}

/* More of the snapshot has come. */
static void
snap_more(void *arg)
{
	if (!ev_timer_pending(Q.slice))
		ev_timer_after(Q.slice, 0);
}

static void
subscribed(const char *line, size_t len, const char *err, void *arg)
{
	struct json_value *head;
	char *perr = NULL;
	const char *m;

	if (!line)
		return;		/* the connection went down; state_fn says */
	if (Q.head_done) {
		/* Read as it came: this is the rest of the messages. */
		Q.snap_pos = 0;
	} else {
		m = memmem(line, len, snap_key, sizeof(snap_key) - 1);
		head = snap_head(line, m ? (size_t)(m - line) : len, m != NULL,
		    &perr);
		if (!head || !json_get_bool(head, "ok", 0)) {
			tui_error("subscribe: %s", head && json_get_str(head,
			    "error") ? json_get_str(head, "error") : perr ?
			    perr : "bad answer");
			free(perr);
			json_free(head);
			Q.loading = 0;
			return;
		}
		snap_begin(head);
		json_free(head);
		if (!m) {
			tui_list_prune(Q.list, row_current);
			Q.loading = 0;
			tui_dirty();
			return;
		}
		Q.snap_pos = (size_t)(m - line) + sizeof(snap_key) - 1;
	}
	Q.snap_len = len;
	Q.snap = tui_ctl_take_line(Q.ctl);
	Q.loading = 1;
	tui_bench_mark("snapshot");
	snap_slice(NULL);
}

static void
apply_event(const char *line, size_t len)
{
	struct json_value *v;
	const char *ev, *qid;
	struct qrow *q;
	uint64_t seq;
	char *err = NULL;

	if (!(v = json_parse(line, len, &err))) {
		free(err);
		return;
	}
	ev = json_get_str(v, "event");
	if (ev && strcmp(ev, "resync") == 0) {
		json_free(v);
		tui_message("the daemon asked for a resync; reloading");
		tui_ctl_restart(Q.ctl);
		return;
	}
	if (!ev || strncmp(ev, "queue.", 6) != 0) {
		json_free(v);
		return;
	}
	seq = (uint64_t)json_get_int(v, "seq", 0);
	if (seq != Q.seq + 1) {
		json_free(v);
		tui_message("queue events out of order; reloading");
		tui_ctl_restart(Q.ctl);
		return;
	}
	Q.seq = seq;
	if (strcmp(ev, "queue.removed") == 0) {
		if ((qid = json_get_str(v, "qid")) != NULL)
			tui_list_remove(Q.list, qid);
	} else if ((q = row_from_json(json_get(v, "message"))) != NULL) {
		tui_list_put(Q.list, q);
	}
	json_free(v);
	tui_dirty();
}

static void
on_event(const char *line, size_t len, void *arg)
{
	if (Q.loading) {
		Q.held = xreallocarray(Q.held, Q.nheld + 1, sizeof(*Q.held));
		Q.held[Q.nheld++] = xstrndup(line, len);
		return;
	}
	apply_event(line, len);
}

/* Daemon down: the spool, read directly and shown read-only. */
static void
load_spool(void)
{
	const struct config *cfg = tui_config();
	struct json_value *all;
	void **rows;
	char *err = NULL;
	size_t i, n = 0;
	struct qrow *q;

	snap_free();
	held_free();
	Q.readonly = 1;
	/*
	 * The spool's rows replace the daemon's by queue ID (a generation of
	 * their own), then the rest go: the cursor and the selection stay
	 * on the messages they were on.
	 */
	Q.gen++;
	all = cfg ? ctl_client_spool_read(cfg, NULL, &err) : NULL;
	if (err)
		tui_error("%s", err);
	free(err);
	if (all) {
		rows = xcalloc(all->n + 1, sizeof(*rows));
		for (i = 0; i < all->n; i++)
			if ((q = row_from_json(all->items[i])) != NULL) {
				q->gen = Q.gen;
				rows[n++] = q;
			}
		tui_list_merge(Q.list, rows, n);
		free(rows);
		json_free(all);
	}
	tui_list_prune(Q.list, row_current);
}

/*
 * The first page of the queue, asked for before the subscription: it is
 * small, so the screen fills at once while the daemon builds and sends
 * the whole snapshot.
 */
static void
first_page(const char *line, size_t len, const char *err, void *arg)
{
	const struct json_value *msgs;
	struct json_value *v;
	struct qrow *q;
	void **rows;
	size_t i, n = 0;
	char *perr = NULL;

	if (!line || !(v = json_parse(line, len, &perr))) {
		free(perr);
		return;
	}
	msgs = json_get(v, "messages");
	if (json_get_bool(v, "ok", 0) && msgs && msgs->type == JSON_ARRAY &&
	    Q.loading) {
		rows = xcalloc(msgs->n + 1, sizeof(*rows));
		for (i = 0; i < msgs->n; i++)
			if ((q = row_from_json(msgs->items[i])) != NULL) {
				q->gen = Q.gen;
				rows[n++] = q;
			}
		tui_list_merge(Q.list, rows, n);
		free(rows);
		tui_bench_mark("first-page");
		tui_dirty();
	}
	json_free(v);
}

static void
on_state(int up, const char *why, void *arg)
{
	if (up) {
		tui_message_clear("the daemon is down");
		tui_bench_mark("subscribe");
		snap_free();
		Q.gen++;
		Q.loading = 1;
		tui_ctl_call(Q.ctl, "queue.list", ",\"limit\":1000",
		    first_page, NULL);
		Q.sub_id = tui_ctl_call(Q.ctl, "subscribe",
		    ",\"topics\":[\"queue\"]", subscribed, NULL);
		tui_ctl_on_partial(Q.ctl, Q.sub_id, snap_more);
	} else {
		snap_free();
		held_free();
		if (!Q.readonly)
			load_spool();
	}
	tui_dirty();
}

static void
view_free(void)
{
	size_t i;

	for (i = 0; i < Q.nview; i++)
		free(Q.view[i]);
	free(Q.view);
	Q.view = NULL;
	Q.nview = 0;
	Q.view_top = Q.view_rows = Q.view_page = 0;
}

static void
view_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
view_add(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	Q.view = xreallocarray(Q.view, Q.nview + 1, sizeof(*Q.view));
	Q.view[Q.nview++] = s;
}

static const char *
when(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
	return out;
}

/* The headers and the start of the body, from the spool. */
static void
view_add_message(const char *qid)
{
	const struct config *cfg = tui_config();
	char *path, *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	FILE *f;

	if (!cfg)
		return;
	xasprintf(&path, "%s/%s/%s.msg", cfg->spool, SPOOL_QUEUE_DIR, qid);
	f = fopen(path, "re");
	if (!f) {
		view_add("(message file %s: %s)", path, strerror(errno));
		free(path);
		return;
	}
	free(path);
	view_add("%s", "");
	view_add("%s", "-- message --");
	while ((len = getline(&line, &cap, f)) != -1 && n++ < VIEW_MAX_BODY) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		view_add("%s", line);
	}
	if (len != -1)
		view_add("(first %d lines shown)", VIEW_MAX_BODY);
	free(line);
	fclose(f);
}

static void
view_build(const struct json_value *m)
{
	const struct json_value *rc = json_get(m, "recipients"), *h;
	const char *s;
	char t[64];
	size_t i, j;

	view_free();
	snprintf(Q.view_qid, sizeof(Q.view_qid), "%s",
	    json_get_str(m, "qid") ? json_get_str(m, "qid") : "");
	view_add("Message %s   state %s%s", Q.view_qid,
	    json_get_str(m, "state") ? json_get_str(m, "state") : "?",
	    json_get_bool(m, "held", 0) ? " (held)" : "");
	s = json_get_str(m, "sender");
	view_add("  sender    <%s>", s ? s : "");
	view_add("  arrived   %s", when(json_get_int(m, "arrival", 0), t,
	    sizeof(t)));
	view_add("  size      %lld bytes",
	    (long long)json_get_int(m, "size", 0));
	if ((s = json_get_str(m, "client")) != NULL)
		view_add("  client    %s", s);
	if ((s = json_get_str(m, "helo")) != NULL)
		view_add("  helo      %s", s);
	if ((s = json_get_str(m, "auth_user")) != NULL)
		view_add("  auth      %s", s);
	if ((s = json_get_str(m, "tls")) != NULL)
		view_add("  tls       %s", s);
	view_add("%s", "");
	view_add("%s", "-- recipients --");
	for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++) {
		const struct json_value *r = rc->items[i];

		view_add("  <%s>  %s, %lld attempt(s)%s%s",
		    json_get_str(r, "addr") ? json_get_str(r, "addr") : "",
		    json_get_str(r, "state") ? json_get_str(r, "state") : "?",
		    (long long)json_get_int(r, "attempts", 0),
		    json_get_int(r, "next_try", 0) ? ", next try " : "",
		    json_get_int(r, "next_try", 0) ? when(json_get_int(r,
		    "next_try", 0), t, sizeof(t)) : "");
		if ((s = json_get_str(r, "relay")) != NULL)
			view_add("      relay   %s", s);
		if ((s = json_get_str(r, "dsn_status")) != NULL)
			view_add("      status  %s", s);
		if ((s = json_get_str(r, "last_error")) != NULL)
			view_add("      error   %s", s);
		h = json_get(r, "history");
		for (j = 0; h && h->type == JSON_ARRAY && j < h->n; j++)
			view_add("      %s  %s", when(json_get_int(h->items[j],
			    "time", 0), t, sizeof(t)),
			    json_get_str(h->items[j], "text") ?
			    json_get_str(h->items[j], "text") : "");
	}
	view_add_message(Q.view_qid);
}

static void
show_reply(const char *line, size_t len, const char *err, void *arg)
{
	struct json_value *v;
	char *perr = NULL;

	tui_job_end(Q.show_job);
	Q.show_job = NULL;
	if (!line) {
		tui_error("queue.show: %s", err);
		return;
	}
	if (!(v = json_parse(line, len, &perr))) {
		tui_error("queue.show: %s", perr);
		free(perr);
		return;
	}
	if (!json_get_bool(v, "ok", 0))
		tui_error("%s", json_get_str(v, "error") ?
		    json_get_str(v, "error") : "queue.show failed");
	else
		view_build(json_get(v, "message"));
	json_free(v);
	tui_dirty();
}

static void
show_cancel(void *arg)
{
	tui_ctl_forget(Q.ctl, Q.show_id);
	Q.show_job = NULL;
}

static void
open_message(const struct qrow *q)
{
	struct json_value *all;
	char *members, *err, what[64];
	struct buf b;

	if (Q.show_job)
		return;
	if (!tui_ctl_up(Q.ctl)) {
		if (!tui_config())
			return;
		all = ctl_client_spool_read(tui_config(), q->qid, &err);
		if (err)
			tui_error("%s", err);
		else if (all->n == 0)
			tui_error("%s is no longer in the queue", q->qid);
		if (all && all->n > 0)
			view_build(all->items[0]);
		free(err);
		json_free(all);
		return;
	}
	buf_init(&b);
	buf_addstr(&b, ",\"qid\":");
	json_escape(&b, q->qid, strlen(q->qid));
	members = buf_take(&b);
	snprintf(what, sizeof(what), "loading %s", q->qid);
	Q.show_id = tui_ctl_call(Q.ctl, "queue.show", members, show_reply,
	    NULL);
	free(members);
	if (Q.show_id)
		Q.show_job = tui_job_begin(what, show_cancel, NULL);
}

static void
action_free(struct action *a)
{
	free(a->ids);
	free(a->first_err);
	free(a);
}

static void
action_reply(const char *line, size_t len, const char *err, void *arg)
{
	struct action *a = arg;
	struct json_value *v = NULL;
	char *perr = NULL;

	a->answered++;
	if (!line || !(v = json_parse(line, len, &perr)) ||
	    !json_get_bool(v, "ok", 0)) {
		a->failed++;
		if (!a->first_err)
			a->first_err = xstrdup(!line ? err : v &&
			    json_get_str(v, "error") ? json_get_str(v,
			    "error") : perr ? perr : "failed");
	}
	free(perr);
	json_free(v);
	if (a->answered < a->n)
		return;
	tui_job_end(a->job);
	if (a->failed)
		tui_error("%s: %zu of %zu failed: %s", a->verb, a->failed,
		    a->n, a->first_err);
	else if (a->n == 1)
		tui_message("%s: done", a->verb);
	else
		tui_message("%s: %zu messages done", a->verb, a->n);
	action_free(a);
}

static void
action_cancel(void *arg)
{
	struct action *a = arg;
	size_t i;

	for (i = 0; i < a->n; i++)
		tui_ctl_forget(Q.ctl, a->ids[i]);
	action_free(a);
}

/* Send cmd for each qid (NULL: one request without a qid). */
static void
action_start(const char *cmd, const char *verb, char **qids, size_t n)
{
	struct action *a;
	struct buf b;
	size_t i;
	char what[80];

	if (!tui_ctl_up(Q.ctl)) {
		tui_error("the daemon is down: the queue is read-only");
		return;
	}
	a = xcalloc(1, sizeof(*a));
	snprintf(a->verb, sizeof(a->verb), "%s", verb);
	a->n = qids ? n : 1;
	a->ids = xcalloc(a->n, sizeof(*a->ids));
	buf_init(&b);
	for (i = 0; i < a->n; i++) {
		buf_reset(&b);
		if (qids) {
			buf_addstr(&b, ",\"qid\":");
			json_escape(&b, qids[i], strlen(qids[i]));
		}
		a->ids[i] = tui_ctl_call(Q.ctl, cmd, qids ? b.data : NULL,
		    action_reply, a);
	}
	buf_free(&b);
	snprintf(what, sizeof(what), "%s %zu message%s", verb, a->n,
	    a->n == 1 ? "" : "s");
	a->job = tui_job_begin(qids ? what : verb, action_cancel, a);
}

/* The qids an action applies to: the viewed message, else the list's. */
static char **
targets(size_t *n)
{
	void **rows;
	char **qids;
	size_t i;

	if (Q.view) {
		qids = xcalloc(2, sizeof(*qids));
		qids[0] = xstrdup(Q.view_qid);
		*n = 1;
		return qids;
	}
	rows = tui_list_targets(Q.list, n);
	qids = xcalloc(*n + 1, sizeof(*qids));
	for (i = 0; i < *n; i++)
		qids[i] = xstrdup(((struct qrow *)rows[i])->qid);
	free(rows);
	return qids;
}

static void
act(const char *cmd, const char *verb)
{
	char **qids;
	size_t n;

	qids = targets(&n);
	if (n == 0)
		tui_error("no message here");
	else
		action_start(cmd, verb, qids, n);
	strv_free(qids, n);
	tui_list_select_none(Q.list);
}

static void
delete_yes(void *arg)
{
	act("queue.delete", "delete");
	view_free();
}

static void
bounce_yes(void *arg)
{
	act("queue.bounce", "bounce");
}

static void
ask(const char *verb, void (*yes)(void *))
{
	char **qids, q[128];
	size_t n;

	qids = targets(&n);
	if (n == 0) {
		tui_error("no message here");
	} else {
		if (n == 1)
			snprintf(q, sizeof(q), "%s message %s?", verb,
			    qids[0]);
		else
			snprintf(q, sizeof(q), "%s %zu messages?", verb, n);
		tui_confirm(q, yes, NULL, NULL);
	}
	strv_free(qids, n);
}

/* Keys that act on messages, in the list and in the view alike. */
static int
action_key(const struct tui_key *k)
{
	char **qids;
	size_t n;

	if (k->fn || k->alt)
		return 0;
	switch (k->ch) {
	case 'r':
		act("queue.retry", "retry");
		return 1;
	case 'h':
		act("queue.hold", "hold");
		return 1;
	case 'l':
		act("queue.release", "release");
		return 1;
	case 'd':
		ask("Delete", delete_yes);
		return 1;
	case 'b':
		ask("Bounce now", bounce_yes);
		return 1;
	case 'F':
		action_start("queue.flush", "flush", NULL, 0);
		return 1;
	case 'L':
		qids = targets(&n);
		if (n > 0)
			screen_log_follow(qids[0]);
		strv_free(qids, n);
		return 1;
	case 'R':
		if (tui_ctl_up(Q.ctl)) {
			snap_free();
			held_free();
			tui_list_clear(Q.list);
			Q.loading = 1;
			tui_ctl_restart(Q.ctl);
		} else {
			load_spool();
		}
		return 1;
	}
	return 0;
}

/* Scrolling in screen rows (lines wrap), up to the page that ends with
 * the last row; the sizes are the last draw's. */
static int
view_key(const struct tui_key *k)
{
	int page = Q.view_page > 1 ? Q.view_page - 1 : 1;
	int last = Q.view_rows > Q.view_page ? Q.view_rows - Q.view_page : 0;

	if (k->fn == KEY_UP || (!k->fn && k->ch == 'k')) {
		Q.view_top--;
	} else if (k->fn == KEY_DOWN || (!k->fn && k->ch == 'j')) {
		Q.view_top++;
	} else if (k->fn == KEY_PPAGE) {
		Q.view_top -= page;
	} else if (k->fn == KEY_NPAGE || (!k->fn && k->ch == ' ')) {
		Q.view_top += page;
	} else if (k->fn == KEY_HOME || (!k->fn && k->ch == 'g')) {
		Q.view_top = 0;
	} else if (k->fn == KEY_END || (!k->fn && k->ch == 'G')) {
		Q.view_top = last;
	} else if ((!k->fn && k->ch == 'q') || k->fn == TUI_KEY_ESC ||
	    k->fn == KEY_LEFT) {
		view_free();
		return 1;
	} else {
		return action_key(k);
	}
	if (Q.view_top > last)
		Q.view_top = last;
	if (Q.view_top < 0)
		Q.view_top = 0;
	return 1;
}

static int
queue_key(const struct tui_key *k)
{
	struct qrow *q;

	if (Q.view)
		return view_key(k);
	if (tui_list_prompting(Q.list))
		return tui_list_key(Q.list, k);
	if (k->fn == KEY_ENTER || k->fn == KEY_RIGHT ||
	    (!k->fn && !k->alt && (k->ch == '\r' || k->ch == '\n'))) {
		if ((q = tui_list_current(Q.list)) != NULL)
			open_message(q);
		return 1;
	}
	if (k->fn == TUI_KEY_ESC && tui_list_nselected(Q.list)) {
		tui_list_select_none(Q.list);
		return 1;
	}
	if (tui_list_key(Q.list, k))
		return 1;
	return action_key(k);
}

/*
 * The message view: long lines (errors, headers) wrap rather than vanish,
 * and view_top counts screen rows. Rows scrolled off the top are drawn at
 * y < 1 (curses refuses y < 0); the title, drawn last and padded, covers
 * row 0.
 */
static void
view_draw(WINDOW *w, int rows, int cols)
{
	int y, h, total = 0;
	size_t i;

	for (i = 1; i < Q.nview; i++)
		total += tui_put_wrap(NULL, 0, 0, cols, 0, 0, 8, Q.view[i]);
	Q.view_rows = total;
	Q.view_page = rows > 1 ? rows - 1 : 1;
	if (Q.view_top > total - Q.view_page)
		Q.view_top = total - Q.view_page;
	if (Q.view_top < 0)
		Q.view_top = 0;
	for (y = 1 - Q.view_top, i = 1; y < rows && i < Q.nview; i++) {
		h = tui_put_wrap(NULL, 0, 0, cols, 0, 0, 8, Q.view[i]);
		if (y + h > 1)
			tui_put_wrap(w, y, 0, cols,
			    strncmp(Q.view[i], "--", 2) == 0 ?
			    tui_attr(TUI_TITLE) : A_NORMAL, rows - y, 8,
			    Q.view[i]);
		y += h;
	}
	tui_put(w, 0, 0, cols, tui_attr(TUI_TITLE), 1, Q.view[0]);
}

static void
queue_draw(WINDOW *w)
{
	int rows, cols;
	size_t shown;
	const char *f;
	struct qrow *cur;

	getmaxyx(w, rows, cols);
	if (Q.view) {
		view_draw(w, rows, cols);
		return;
	}
	shown = tui_list_shown(Q.list);
	f = tui_list_filter_text(Q.list);
	tui_putf(w, 0, 0, cols, tui_attr(TUI_TITLE),
	    "Queue: %zu message%s%s%s%s%s", tui_list_count(Q.list),
	    tui_list_count(Q.list) == 1 ? "" : "s",
	    Q.loading ? " (loading...)" : "",
	    Q.readonly ? "  [spool, read-only: daemon down]" : "",
	    f ? "  filter: " : "", f ? f : "");
	if (f || tui_list_nselected(Q.list))
		tui_putf(w, 0, cols > 30 ? cols - 30 : 0, 30, A_NORMAL,
		    "%zu shown, %zu selected", shown,
		    tui_list_nselected(Q.list));
	tui_put(w, 1, 0, cols, tui_attr(TUI_DIM) | A_UNDERLINE, 1,
	    "ID                 Age   Size  # Next State    From / To / "
	    "Last error");
	if (shown == 0) {
		tui_put(w, 3, 2, cols - 2, A_NORMAL, 0, Q.loading ?
		    "loading..." : f ? "no message matches the filter" :
		    "The queue is empty.");
		return;
	}
	/* Narrow terminals have no error column: the cursor's error goes on
	 * the last line. */
	if (cols < 168 && rows > 6) {
		cur = tui_list_current(Q.list);
		tui_list_draw(Q.list, w, 2, rows - 4, cols);
		mvwhline(w, rows - 2, 0, ACS_HLINE, cols);
		if (cur && cur->error)
			tui_put_wrap(w, rows - 1, 0, cols, tui_attr(TUI_BAD), 1,
			    0, cur->error);
		else if (cur)
			tui_putf(w, rows - 1, 0, cols, tui_attr(TUI_DIM),
			    "%s: no error", cur->qid);
		return;
	}
	tui_list_draw(Q.list, w, 2, rows - 2, cols);
}

static const char *
queue_footer(void)
{
	static char buf[200];

	if (Q.view)
		return "↑↓/PgUp/PgDn scroll  g/G top/end  r retry  h hold  "
		    "l release  d delete  b bounce  F flush  L log  q back";
	if (tui_list_prompting(Q.list))
		return tui_list_footer(Q.list);
	/* With a selection, Esc (drop it) matters more than Enter. */
	snprintf(buf, sizeof(buf), "%s  r retry  h hold  l release  "
	    "d delete  b bounce  F flush  L log  %s  R reload",
	    tui_list_nselected(Q.list) ? "Esc unselect" : "Enter open",
	    tui_list_footer(Q.list));
	return buf;
}

static int
queue_typing(void)
{
	return !Q.view && tui_list_prompting(Q.list);
}

static void
queue_init(void)
{
	Q.list = tui_list_new(&qclass);
	Q.slice = ev_timer_new(snap_slice, NULL);
	Q.ctl = tui_ctl_new(tui_socket_path(), on_state, on_event, NULL);
}

static void
queue_done(void)
{
	tui_ctl_free(Q.ctl);
	snap_free();
	ev_timer_free(Q.slice);
	held_free();
	view_free();
	tui_list_free(Q.list);
}

const struct tui_screen tui_screen_queue = {
	.name = "Queue",
	.help_topic = "console-queue",
	.init = queue_init,
	.draw = queue_draw,
	.key = queue_key,
	.footer = queue_footer,
	.typing = queue_typing,
	.done = queue_done,
};
