/*
 * screen_log: the Log screen (DESIGN §8, screen 10 on key 0): a live tail
 * of the daemon's log through a `subscribe` to the log topic, a filter,
 * and "follow one queue ID" (the queue screen's L key). It starts with the
 * lines the daemon kept (subscribe's history). The last lines are
 * kept in a ring, so the console holds a bounded amount whatever the
 * daemon logs; the Status screen borrows the recent warnings from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "json.h"
#include "tui.h"
#include "tui_ctl.h"
#include "tui_form.h"
#include "util.h"

#define RING	10000

struct logline {
	char	*text;		/* "HH:MM:SS level line" */
	int	 problem;	/* warning or error */
};

static struct {
	struct tui_ctl		*ctl;
	struct logline		 ring[RING];
	size_t			 head, n;	/* oldest at head */
	uint64_t		 seq;
	char			*filter;
	char			*filter_lc;	/* lower case, to match */
	int			 prompting;
	struct tui_field	 field;
	size_t			 back;		/* lines scrolled up from the end */
} L;

static struct logline *
line_at(size_t i)
{
	return &L.ring[(L.head + i) % RING];
}

static void
ring_add(char *text, int problem)
{
	struct logline *l;

	if (L.n == RING) {
		l = line_at(0);
		free(l->text);
		L.head = (L.head + 1) % RING;
		L.n--;
	}
	l = line_at(L.n++);
	l->text = text;
	l->problem = problem;
	/* Scrolled back: keep the same lines in view as new ones arrive. */
	if (L.back)
		L.back++;
}

/* One log line ({"seq","time","level","line"}, an event or history),
 * after a marker when lines were missed since the last one. */
static void
add_log(const struct json_value *v)
{
	const char *level, *text;
	char *s, ts[16];
	time_t t;
	struct tm tm;
	uint64_t seq;

	seq = (uint64_t)json_get_int(v, "seq", 0);
	if (L.seq && seq > L.seq + 1) {
		xasprintf(&s, "-- %llu line%s missed here (the log "
		    "file has them) --",
		    (unsigned long long)(seq - L.seq - 1),
		    seq - L.seq - 1 == 1 ? "" : "s");
		ring_add(s, 0);
	}
	L.seq = seq;
	t = (time_t)json_get_int(v, "time", 0);
	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	level = json_get_str(v, "level");
	text = json_get_str(v, "line");
	xasprintf(&s, "%s %-7s %s", ts, level ? level : "?",
	    text ? text : "");
	ring_add(s, level && strcmp(level, "info") != 0);
	tui_dirty();
}

static void
on_event(const char *line, size_t len, void *arg)
{
	struct json_value *v;
	const char *ev;
	char *err = NULL;

	if (!(v = json_parse(line, len, &err))) {
		free(err);
		return;
	}
	ev = json_get_str(v, "event");
	if (ev && strcmp(ev, "resync") == 0) {
		ring_add(xstrdup("-- the console fell behind; some lines "
		    "were lost --"), 0);
		tui_ctl_restart(L.ctl);
	} else if (ev && strcmp(ev, "log") == 0) {
		add_log(v);
	}
	json_free(v);
}

/*
 * The daemon's recent lines come first. After a reconnect to the same
 * daemon (its count went on) only the lines not shown yet are added; a
 * daemon that counts from less than we saw was restarted, and all of its
 * lines are new.
 */
static void
subscribed(const char *line, size_t len, const char *err, void *arg)
{
	struct json_value *v;
	const struct json_value *hist;
	char *perr = NULL;
	uint64_t log_seq;
	size_t i;

	if (!line)
		return;
	if (!(v = json_parse(line, len, &perr)) ||
	    !json_get_bool(v, "ok", 0)) {
		tui_error("log subscription refused");
	} else {
		log_seq = (uint64_t)json_get_int(v, "log_seq", 0);
		if (log_seq < L.seq)
			L.seq = 0;
		hist = json_get(v, "log");
		for (i = 0; hist && hist->type == JSON_ARRAY && i < hist->n;
		    i++)
			if ((uint64_t)json_get_int(hist->items[i], "seq", 0) >
			    L.seq)
				add_log(hist->items[i]);
		L.seq = log_seq;
	}
	free(perr);
	json_free(v);
}

static void
on_state(int up, const char *why, void *arg)
{
	char members[64];

	if (up) {
		ring_add(xstrdup("-- connected to the daemon --"), 0);
		snprintf(members, sizeof(members),
		    ",\"topics\":[\"log\"],\"history\":%d",
		    CONTROL_LOG_HISTORY);
		tui_ctl_call(L.ctl, "subscribe", members, subscribed, NULL);
	} else if (L.n == 0 || !strstr(line_at(L.n - 1)->text,
	    "-- daemon down")) {
		char *s;

		xasprintf(&s, "-- daemon down: %s --", why);
		ring_add(s, 0);
	}
	tui_dirty();
}

static void
set_filter(const char *f)
{
	free(L.filter);
	free(L.filter_lc);
	L.filter = f && *f ? xstrdup(f) : NULL;
	L.filter_lc = L.filter ? xstrdup(L.filter) : NULL;
	if (L.filter_lc)
		ascii_lower(L.filter_lc);
	L.back = 0;
}

void
screen_log_follow(const char *qid)
{
	set_filter(qid);
	tui_switch(0);
	tui_message("following %s (\\ to change the filter)", qid);
}

static int
shown(size_t i)
{
	return !L.filter_lc || ascii_contains(line_at(i)->text, L.filter_lc);
}

/* Wrapped lines continue under the text, past "HH:MM:SS level   ". */
#define WRAP_INDENT	17

/*
 * Scrolled back as far as it goes, the oldest shown line is at the top:
 * back is at most the shown lines less those that fit in avail rows
 * from the oldest on.
 */
static size_t
max_back(int avail, int cols)
{
	size_t i, nshown = 0, fit = 0;
	int used = 0;

	for (i = 0; i < L.n; i++) {
		if (!shown(i))
			continue;
		nshown++;
		if (used < avail) {
			used += tui_put_wrap(NULL, 0, 0, cols, 0, 0,
			    WRAP_INDENT, line_at(i)->text);
			if (used <= avail)
				fit++;
		}
	}
	return nshown - fit;
}

static void
log_draw(WINDOW *w)
{
	int rows, cols, y, h;
	size_t i, skip, most;
	const char *text;

	getmaxyx(w, rows, cols);
	if (L.back && L.back > (most = max_back(rows - 1 -
	    (L.prompting ? 1 : 0), cols)))
		L.back = most;
	/*
	 * Bottom up: the newest shown line at the bottom, minus scrolling.
	 * Every line wraps, so none loses its end at 80 columns; the top one
	 * may start above row 1 (curses refuses y < 0) and the title, drawn
	 * last and padded, covers row 0.
	 */
	skip = L.back;
	y = rows - (L.prompting ? 1 : 0);
	for (i = L.n; i > 0 && y > 1; i--) {
		if (!shown(i - 1))
			continue;
		if (skip) {
			skip--;
			continue;
		}
		text = line_at(i - 1)->text;
		h = tui_put_wrap(NULL, 0, 0, cols, 0, 0, WRAP_INDENT, text);
		y -= h;
		tui_put_wrap(w, y, 0, cols, line_at(i - 1)->problem ?
		    tui_attr(TUI_BAD) : A_NORMAL, h, WRAP_INDENT, text);
	}
	tui_put(w, 0, 0, cols, tui_attr(TUI_TITLE), 1, "");
	tui_putf(w, 0, 0, cols, tui_attr(TUI_TITLE), "Log: %zu line%s%s%s%s",
	    L.n, L.n == 1 ? "" : "s", L.filter ? "  filter: " : "",
	    L.filter ? L.filter : "", L.back ? "  (scrolled: G follows)" :
	    "  (following)");
	if (L.n == 0)
		tui_put(w, 2, 2, cols - 2, A_NORMAL, 0, tui_ctl_up(L.ctl) ?
		    "Waiting for the daemon to log something." :
		    "The daemon is not running: no live log.");
	if (L.prompting) {
		y = tui_put(w, rows - 1, 0, cols, tui_attr(TUI_TITLE), 0,
		    "filter: ");
		tui_field_draw(&L.field, w, rows - 1, y, cols - y, 1);
	}
}

static int
log_key(const struct tui_key *k)
{
	int rows, cols;
	size_t page;
	char *v;

	getmaxyx(stdscr, rows, cols);
	(void)cols;
	page = rows > 6 ? (size_t)rows - 6 : 1;
	if (L.prompting) {
		if (k->fn == TUI_KEY_ESC) {
			L.prompting = 0;
		} else if (k->fn == KEY_ENTER || (!k->fn && (k->ch == '\r' ||
		    k->ch == '\n'))) {
			v = tui_field_value(&L.field);
			set_filter(v);
			free(v);
			L.prompting = 0;
		} else {
			tui_field_key(&L.field, k);
		}
		return 1;
	}
	if (k->alt)
		return 0;
	if (k->fn == KEY_UP || (!k->fn && k->ch == 'k'))
		L.back++;
	else if (k->fn == KEY_DOWN || (!k->fn && k->ch == 'j'))
		L.back = L.back ? L.back - 1 : 0;
	else if (k->fn == KEY_PPAGE)
		L.back += page;
	else if (k->fn == KEY_NPAGE)
		L.back = L.back > page ? L.back - page : 0;
	else if (k->fn == KEY_END || (!k->fn && k->ch == 'G'))
		L.back = 0;
	else if (k->fn == KEY_HOME || (!k->fn && k->ch == 'g'))
		L.back = L.n;
	else if (!k->fn && (k->ch == '/' || k->ch == '\\')) {
		L.prompting = 1;
		tui_field_set(&L.field, L.filter ? L.filter : "");
	} else if (k->fn == TUI_KEY_ESC && L.filter)
		set_filter(NULL);
	else
		return 0;
	if (L.back > L.n)
		L.back = L.n;
	return 1;
}

static const char *
log_footer(void)
{
	if (L.prompting)
		return "Enter apply  Esc cancel";
	return L.filter ?
	    "/ filter  Esc all lines  ↑↓/PgUp/PgDn scroll  g/G oldest/follow" :
	    "/ filter  ↑↓/PgUp/PgDn scroll  g/G oldest/follow";
}

static int
log_typing(void)
{
	return L.prompting;
}

static void
log_init(void)
{
	tui_field_init(&L.field, "");
	L.ctl = tui_ctl_new(tui_socket_path(), on_state, on_event, NULL);
}

static void
log_done(void)
{
	size_t i;

	tui_ctl_free(L.ctl);
	for (i = 0; i < L.n; i++)
		free(line_at(i)->text);
	L.n = 0;
	free(L.filter);
	free(L.filter_lc);
	tui_field_free(&L.field);
}

const struct tui_screen tui_screen_log = {
	.name = "Log",
	.help_topic = "console-log",
	.init = log_init,
	.draw = log_draw,
	.key = log_key,
	.footer = log_footer,
	.typing = log_typing,
	.done = log_done,
};
