/*
 * screen_status: the Status screen (DESIGN §8.1): is the daemon up, what
 * it listens on, the queue, what happened since it started and in the
 * last hour, the remotes with their failover state, recent errors, the
 * server certificate's expiry, and the problems of the configuration as
 * read here at start.
 *
 * It asks `status` every two seconds on its own connection, so it notices
 * the daemon going away and coming back without any key pressed. The same
 * connection subscribes to the log: recent errors come from the daemon's
 * own memory (status) and then live from the subscription, merged by the
 * log's sequence number so none shows twice.
 */
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "event.h"
#include "json.h"
#include "tls_diag.h"
#include "tui.h"
#include "tui_ctl.h"
#include "util.h"

#define POLL_MS		2000
/* Warning/error lines kept (as many as the daemon's status returns). */
#define STATUS_ERRORS	20
/* Shown on the screen: the newest few. */
#define STATUS_ERRORS_SHOWN	5
/* From this height on, sections are apart by a blank line (80x24 is not). */
#define STATUS_ROOMY	30
/* Fewer days left than this turns the certificate line to a warning. */
#define STATUS_CERT_WARN_DAYS	30

struct status_error {
	uint64_t	 seq;		/* the daemon's log_seq of the line */
	int64_t		 time;
	int		 error;		/* error, else warning */
	char		*line;
};

static struct {
	struct tui_ctl		*ctl;
	struct json_value	*last;		/* last good status answer */
	struct ev_timer		*poll;
	uint64_t		 pending;	/* status request in flight */
	uint64_t		 sent_at;	/* when it was sent (ev_now) */
	/* Recent errors by seq, oldest first. */
	struct status_error	 errors[STATUS_ERRORS];
	size_t			 nerrors;
	/* The server certificate (tls_cert), judged once at start. */
	struct tls_verdict	 cert;
} S;

static void
errors_clear(void)
{
	size_t i;

	for (i = 0; i < S.nerrors; i++)
		free(S.errors[i].line);
	S.nerrors = 0;
}

/*
 * Keep one warning/error line unless its seq is known already (the status
 * answer and the subscription overlap); the oldest falls off when full.
 */
static void
errors_add(uint64_t seq, int64_t when, const char *level, const char *line)
{
	size_t i, pos;

	if (!level || !line || (strcmp(level, "warning") != 0 &&
	    strcmp(level, "error") != 0))
		return;
	for (pos = S.nerrors; pos > 0 && S.errors[pos - 1].seq >= seq; pos--)
		if (S.errors[pos - 1].seq == seq)
			return;
	if (S.nerrors == STATUS_ERRORS) {
		if (pos == 0)
			return;		/* older than everything kept */
		free(S.errors[0].line);
		memmove(&S.errors[0], &S.errors[1],
		    (S.nerrors - 1) * sizeof(S.errors[0]));
		S.nerrors--;
		pos--;
	}
	for (i = S.nerrors; i > pos; i--)
		S.errors[i] = S.errors[i - 1];
	S.errors[pos].seq = seq;
	S.errors[pos].time = when;
	S.errors[pos].error = strcmp(level, "error") == 0;
	S.errors[pos].line = xstrdup(line);
	S.nerrors++;
	tui_dirty();
}

static void
status_reply(const char *line, size_t len, const char *err, void *arg)
{
	struct json_value *v;
	const struct json_value *a;
	char *perr = NULL;
	size_t i;

	S.pending = 0;
	if (!line)
		return;
	if (!(v = json_parse(line, len, &perr)) || !json_get_bool(v, "ok", 0)) {
		free(perr);
		json_free(v);
		return;
	}
	a = json_get(v, "recent_errors");
	for (i = 0; a && a->type == JSON_ARRAY && i < a->n; i++)
		errors_add((uint64_t)json_get_int(a->items[i], "seq", 0),
		    json_get_int(a->items[i], "time", 0),
		    json_get_str(a->items[i], "level"),
		    json_get_str(a->items[i], "line"));
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
		/* A restarted daemon numbers its log from 1 again. */
		errors_clear();
		tui_ctl_call(S.ctl, "subscribe", ",\"topics\":[\"log\"]",
		    NULL, NULL);
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
	struct json_value *v;
	const char *ev;
	char *err = NULL;

	if (!(v = json_parse(line, len, &err))) {
		free(err);
		return;
	}
	ev = json_get_str(v, "event");
	if (ev && strcmp(ev, "log") == 0)
		errors_add((uint64_t)json_get_int(v, "seq", 0),
		    json_get_int(v, "time", 0), json_get_str(v, "level"),
		    json_get_str(v, "line"));
	else if (ev && strcmp(ev, "resync") == 0)
		tui_ctl_restart(S.ctl);
	json_free(v);
}

/* A section title, after a blank line when the screen has room. */
static int
section(WINDOW *w, int y, int rows, int cols, const char *title)
{
	if (rows >= STATUS_ROOMY)
		y++;
	if (y >= rows)
		return y;
	tui_put(w, y, 0, cols, tui_attr(TUI_TITLE), 0, title);
	return y + 1;
}

/*
 * The server certificate (tls_cert) with the days it has left, counted
 * now so a console left open stays right; a warning under 30 days, an
 * error once expired or when the files do not pass the check.
 */
static int
draw_cert(WINDOW *w, int y, int rows, int cols)
{
	const struct config *cfg = tui_config();
	const struct tls_cert_info *ci;
	const struct tls_finding *f;
	char day[32];
	struct tm tm;
	time_t na;
	long left;
	size_t i;

	if (y >= rows)
		return y;
	y = section(w, y, rows, cols, "Server certificate");
	if (!cfg || !cfg->tls_cert || !*cfg->tls_cert) {
		tui_put(w, y++, 2, cols - 2, A_NORMAL, 0,
		    "no server certificate (STARTTLS not offered)");
		return y;
	}
	if (S.cert.nchain > 0) {
		ci = &S.cert.chain[0];
		na = ci->not_after;
		left = (long)((na - time(NULL)) / 86400);
		gmtime_r(&na, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		if (na <= time(NULL))
			tui_putf(w, y++, 2, cols - 2, tui_attr(TUI_BAD) |
			    A_BOLD, "EXPIRED on %s: %s (%s)", day,
			    cfg->tls_cert, ci->subject ? ci->subject : "");
		else
			tui_putf(w, y++, 2, cols - 2, left <
			    STATUS_CERT_WARN_DAYS ? tui_attr(TUI_WARN) |
			    A_BOLD : tui_attr(TUI_OK), "%s%ld day%s left "
			    "(until %s): %s (%s)", left <
			    STATUS_CERT_WARN_DAYS ? "renew soon, only " : "",
			    left, left == 1 ? "" : "s", day, cfg->tls_cert,
			    ci->subject ? ci->subject : "");
	}
	/* Expiry is said above; other findings (key mismatch, weak key). */
	for (i = 0; i < S.cert.nfindings && y < rows; i++) {
		f = &S.cert.findings[i];
		if (f->code == TLS_DIAG_EXPIRED ||
		    f->code == TLS_DIAG_EXPIRES_SOON ||
		    f->severity == TLS_DIAG_INFO)
			continue;
		tui_put(w, y++, 4, cols - 4, f->severity == TLS_DIAG_ERROR ?
		    tui_attr(TUI_BAD) : tui_attr(TUI_WARN), 0, f->text);
	}
	return y;
}

static void
status_draw(WINDOW *w)
{
	const struct json_value *a, *q, *t;
	const struct diags *d = tui_config_diags();
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
		y++;
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
		t = json_get(S.last, "last_hour");
		tui_putf(w, y++, 2, cols - 2, A_NORMAL,
		    "last hour: %lld delivered, %lld deferred, %lld bounced",
		    (long long)json_get_int(t, "delivered", 0),
		    (long long)json_get_int(t, "deferred", 0),
		    (long long)json_get_int(t, "bounced", 0));
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
	}
	y = draw_cert(w, y, rows, cols);
	if (S.nerrors && y < rows) {
		y = section(w, y, rows, cols, "Recent errors (0 for the log)");
		/* The newest that fit, leaving two lines for the config. */
		n = (size_t)(rows - y > 3 ? rows - y - 2 : 1);
		if (n > STATUS_ERRORS_SHOWN)
			n = STATUS_ERRORS_SHOWN;
		for (i = S.nerrors > n ? S.nerrors - n : 0; i < S.nerrors &&
		    y < rows; i++) {
			const struct status_error *e = &S.errors[i];
			time_t tt = (time_t)e->time;
			struct tm tm;

			localtime_r(&tt, &tm);
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
			tui_putf(w, y++, 2, cols - 2, e->error ?
			    tui_attr(TUI_BAD) : tui_attr(TUI_WARN), "%s %s",
			    when, e->line);
		}
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
	const struct config *cfg = tui_config();
	const char *key;

	tls_diag_init(&S.cert);
	if (cfg && cfg->tls_cert && *cfg->tls_cert) {
		/*
		 * The key is root:hikyaku 0640: an admin outside the group
		 * still sees the certificate, only the pairing goes unchecked.
		 */
		key = cfg->tls_key && access(cfg->tls_key, R_OK) == 0 ?
		    cfg->tls_key : NULL;
		tls_diag_check_local(&S.cert, cfg->tls_cert, key, 0);
	}
	S.poll = ev_timer_new(poll_status, NULL);
	S.ctl = tui_ctl_new(tui_socket_path(), on_state, on_event, NULL);
}

static void
status_done(void)
{
	tui_ctl_free(S.ctl);
	ev_timer_free(S.poll);
	json_free(S.last);
	errors_clear();
	tls_diag_free(&S.cert);
}

const struct tui_screen tui_screen_status = {
	.name = "Status",
	.help_topic = "console-status",
	.init = status_init,
	.draw = status_draw,
	.footer = status_footer,
	.done = status_done,
};
