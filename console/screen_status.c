/*
 * screen_status: the Status screen (DESIGN §8.1): is the daemon up, what
 * it listens on, the queue, what happened since it started, the remotes
 * with their failover state, recent problems from the log, and the
 * problems of the configuration as read here at start.
 *
 * It asks `status` every two seconds on its own connection, so it notices
 * the daemon going away and coming back without any key pressed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "event.h"
#include "json.h"
#include "tui.h"
#include "tui_ctl.h"
#include "util.h"

#define POLL_MS	2000

static struct {
	struct tui_ctl		*ctl;
	struct json_value	*last;		/* last good status answer */
	struct ev_timer		*poll;
	uint64_t		 pending;	/* status request in flight */
	uint64_t		 sent_at;	/* when it was sent (ev_now) */
} S;

static void
status_reply(const char *line, size_t len, const char *err, void *arg)
{
	struct json_value *v;
	char *perr = NULL;

	S.pending = 0;
	if (!line)
		return;
	if (!(v = json_parse(line, len, &perr)) || !json_get_bool(v, "ok", 0)) {
		free(perr);
		json_free(v);
		return;
	}
	json_free(S.last);
	S.last = v;
	tui_dirty();
}

static void
poll_status(void *arg)
{
	if (tui_ctl_up(S.ctl) && !S.pending) {
		S.pending = tui_ctl_call(S.ctl, "status", NULL, status_reply,
		    NULL);
		S.sent_at = ev_now();
	}
	/* A stopped daemon leaves the request unanswered: say so. */
	if (S.pending)
		tui_dirty();
	ev_timer_after(S.poll, POLL_MS);
}

static void
on_state(int up, const char *why, void *arg)
{
	S.pending = 0;
	if (up) {
		poll_status(NULL);
	} else {
		json_free(S.last);
		S.last = NULL;
	}
	tui_dirty();
}

static void
on_event(const char *line, size_t len, void *arg)
{
}

static int
section(WINDOW *w, int y, int rows, int cols, const char *title)
{
	if (y >= rows)
		return y;
	tui_put(w, y, 0, cols, tui_attr(TUI_TITLE), 0, title);
	return y + 1;
}

static void
status_draw(WINDOW *w)
{
	const struct json_value *a, *q, *t;
	const struct diags *d = tui_config_diags();
	const char *probs[8];
	char up[32], when[32], *s;
	int rows, cols, y = 0, x, ro;
	size_t i, n;

	getmaxyx(w, rows, cols);
	if (S.pending && ev_now() - S.sent_at > POLL_MS * 2) {
		tui_putf(w, y++, 0, cols, tui_attr(TUI_BAD) | A_BOLD,
		    "hikyakud is NOT answering (for %llus): stopped or stuck?",
		    (unsigned long long)((ev_now() - S.sent_at) / 1000));
		y++;
	}
	if (S.last) {
		format_duration(json_get_int(S.last, "uptime", 0), up,
		    sizeof(up));
		tui_putf(w, y++, 0, cols, tui_attr(TUI_OK) | A_BOLD,
		    "hikyakud %s is running: pid %lld, up %s",
		    json_get_str(S.last, "version") ?
		    json_get_str(S.last, "version") : "",
		    (long long)json_get_int(S.last, "pid", 0), up);
	} else {
		tui_putf(w, y++, 0, cols, tui_attr(TUI_BAD) | A_BOLD,
		    "hikyakud is NOT running (%s)", tui_ctl_why(S.ctl));
		n = screen_queue_count(&ro);
		tui_putf(w, y++, 2, cols - 2, A_NORMAL,
		    "The spool holds %zu message%s; mail is queued by the "
		    "injector and waits.", n, n == 1 ? "" : "s");
	}
	y++;
	if (S.last) {
		y = section(w, y, rows, cols, "Listeners");
		a = json_get(S.last, "listeners");
		x = 2;
		for (i = 0; a && a->type == JSON_ARRAY && i < a->n; i++) {
			const char *addr = json_get_str(a->items[i], "addr");

			xasprintf(&s, "%s%s%s:%lld %s   ",
			    addr && strchr(addr, ':') ? "[" : "",
			    addr ? addr : "", addr && strchr(addr, ':') ?
			    "]" : "", (long long)json_get_int(a->items[i],
			    "port", 0), json_get_str(a->items[i], "mode") ?
			    json_get_str(a->items[i], "mode") : "");
			if (x + tui_width(s) > cols && x > 2) {
				y++;
				x = 2;
			}
			x += tui_put(w, y, x, cols - x, A_NORMAL, 0, s);
			free(s);
		}
		y += 2;
		q = json_get(S.last, "queue");
		t = json_get(S.last, "totals");
		y = section(w, y, rows, cols, "Queue");
		tui_putf(w, y++, 2, cols - 2, A_NORMAL,
		    "%lld message%s; recipients %lld pending, %lld deferred, "
		    "%lld held; %lld delivery connection%s",
		    (long long)json_get_int(q, "messages", 0),
		    json_get_int(q, "messages", 0) == 1 ? "" : "s",
		    (long long)json_get_int(q, "pending", 0),
		    (long long)json_get_int(q, "deferred", 0),
		    (long long)json_get_int(q, "held", 0),
		    (long long)json_get_int(S.last, "connections", 0),
		    json_get_int(S.last, "connections", 0) == 1 ? "" : "s");
		tui_putf(w, y++, 2, cols - 2, A_NORMAL,
		    "since start: %lld delivered, %lld deferred, %lld bounced",
		    (long long)json_get_int(t, "delivered", 0),
		    (long long)json_get_int(t, "deferred", 0),
		    (long long)json_get_int(t, "bounced", 0));
		y++;
		y = section(w, y, rows, cols, "Remotes");
		a = json_get(S.last, "remotes");
		if (!a || a->type != JSON_ARRAY || a->n == 0)
			tui_put(w, y++, 2, cols - 2, A_NORMAL, 0,
			    "none: mail goes by MX");
		for (i = 0; a && a->type == JSON_ARRAY && i < a->n &&
		    y < rows; i++) {
			const struct json_value *r = a->items[i];
			const char *e = json_get_str(r, "last_error");

			if (json_get_bool(r, "up", 1)) {
				tui_putf(w, y++, 2, cols - 2, tui_attr(TUI_OK),
				    "%zu. %s:%lld  up, %lld delivered", i + 1,
				    json_get_str(r, "host"),
				    (long long)json_get_int(r, "port", 0),
				    (long long)json_get_int(r, "delivered",
				    0));
				continue;
			}
			tui_fmt_age(when, sizeof(when), time(NULL) -
			    json_get_int(r, "down_since", 0));
			xasprintf(&s, "%zu. %s:%lld  DOWN for %s%s%s", i + 1,
			    json_get_str(r, "host"),
			    (long long)json_get_int(r, "port", 0), when,
			    e ? ": " : "", e ? e : "");
			y += tui_put_wrap(w, y, 2, cols - 2, tui_attr(TUI_BAD),
			    rows - y < 2 ? 1 : 2, 5, s);
			free(s);
		}
		y++;
	}
	n = screen_log_problems(probs, 5);
	if (n && y < rows) {
		y = section(w, y, rows, cols, "Recent problems (0 for the log)");
		for (i = 0; i < n && y < rows; i++)
			tui_put(w, y++, 2, cols - 2, tui_attr(TUI_WARN), 0,
			    probs[i]);
		y++;
	}
	if (y < rows) {
		y = section(w, y, rows, cols, "Configuration");
		if (d->n == 0)
			tui_putf(w, y++, 2, cols - 2, tui_attr(TUI_OK),
			    "%s: no problems", tui_confdir());
		for (i = 0; i < d->n && y < rows; i++) {
			s = diag_format(&d->v[i]);
			tui_put(w, y++, 2, cols - 2,
			    d->v[i].severity == DIAG_ERROR ?
			    tui_attr(TUI_BAD) : tui_attr(TUI_WARN), 0, s);
			free(s);
		}
	}
}

static const char *
status_footer(void)
{
	return "2 queue  0 log";
}

static void
status_init(void)
{
	S.poll = ev_timer_new(poll_status, NULL);
	S.ctl = tui_ctl_new(tui_socket_path(), on_state, on_event, NULL);
}

static void
status_done(void)
{
	tui_ctl_free(S.ctl);
	ev_timer_free(S.poll);
	json_free(S.last);
}

const struct tui_screen tui_screen_status = {
	.name = "Status",
	.help_topic = "console-status",
	.init = status_init,
	.draw = status_draw,
	.footer = status_footer,
	.done = status_done,
};
