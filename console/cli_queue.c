/*
 * cli_queue: `hikyaku queue …`, `hikyaku reload` and `hikyaku status`.
 *
 * Everything works on the protocol's JSON objects, whether they came from
 * the daemon or, when it is down, from the spool read directly (list and
 * show only: actions need the daemon, so they never race a delivery).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "ctl_client.h"
#include "envelope.h"
#include "json.h"
#include "util.h"
#include "help/usage.h"

/* Warn/critical defaults of `status --check` (Nagios plugin habits). */
#define CHECK_WARN_MESSAGES	100
#define CHECK_CRIT_MESSAGES	1000
#define CHECK_WARN_AGE		3600
#define CHECK_CRIT_AGE		86400
/* Recent problems `hikyaku status` prints (--json has all it got). */
#define STATUS_RECENT		5

enum { CHECK_OK, CHECK_WARNING, CHECK_CRITICAL, CHECK_UNKNOWN };

struct cli_ctx {
	struct config		*cfg;
	struct ctl_client	*cc;
	int			 down;		/* nothing listens */
	int			 json;
	char			*err;		/* why cc is NULL */
};

/*
 * full (reload): validate every file, as the daemon will. Otherwise only
 * hikyaku.conf and local-host-names, which any uid may read: `queue list`
 * and `queue flush` serve ordinary users through public.sock.
 */
static int
load_config(const char *confdir, struct config **cfg, int full)
{
	struct diags d = { 0 };

	if ((full ? config_load(confdir, cfg, &d) :
	    config_load_main(confdir, cfg, &d)) == -1) {
		diags_print(&d, stderr);
		fprintf(stderr, "hikyaku: the configuration in %s has "
		    "errors\n", confdir);
		diags_free(&d);
		return -1;
	}
	diags_free(&d);
	return 0;
}

/*
 * Connect to ctl.sock; with public_ok, fall back to public.sock when
 * ctl.sock refuses us (an ordinary user listing or flushing).
 */
static void
ctx_connect(struct cli_ctx *x, int public_ok)
{
	char *path, *perr = NULL;
	int down;

	path = ctl_client_socket_path(x->cfg);
	x->cc = ctl_client_open(path, &x->down, &x->err);
	free(path);
	if (x->cc || x->down || !public_ok)
		return;
	path = ctl_client_public_path(x->cfg);
	x->cc = ctl_client_open(path, &down, &perr);
	free(path);
	if (x->cc) {
		free(x->err);
		x->err = NULL;
	}
	free(perr);
}

static void
ctx_free(struct cli_ctx *x)
{
	ctl_client_close(x->cc);
	config_free(x->cfg);
	free(x->err);
}

/* Call and parse; NULL after printing why. */
static struct json_value *
call(struct cli_ctx *x, const char *cmd, const char *members, char **raw)
{
	struct json_value *v;
	char *line, *err = NULL;

	if (!(line = ctl_client_call(x->cc, cmd, members, &err))) {
		fprintf(stderr, "hikyaku: %s\n", err);
		free(err);
		return NULL;
	}
	if (!(v = json_parse(line, strlen(line), &err))) {
		fprintf(stderr, "hikyaku: bad answer from the daemon: %s\n",
		    err);
		free(err);
		free(line);
		return NULL;
	}
	if (raw)
		*raw = line;
	else
		free(line);
	return v;
}

static int
answer_ok(const struct json_value *v, const char *what)
{
	const char *e;

	if (json_get_bool(v, "ok", 0))
		return 1;
	e = json_get_str(v, "error");
	fprintf(stderr, "hikyaku: %s%s%s\n", what ? what : "",
	    what ? ": " : "", e ? e : "request failed");
	return 0;
}

static char *
qid_member(const char *qid)
{
	struct buf b;

	buf_init(&b);
	buf_addstr(&b, ",\"qid\":");
	json_escape(&b, qid, strlen(qid));
	return buf_take(&b);
}

static void
print_json(const struct json_value *v)
{
	struct buf b;
	struct json_writer w;
	size_t i;

	buf_init(&b);
	json_writer_init(&w, &b);
	switch (v->type) {
	case JSON_NULL:
		json_null(&w);
		break;
	case JSON_BOOL:
		json_bool(&w, v->b);
		break;
	case JSON_NUMBER:
		if (v->is_int)
			json_int(&w, v->i);
		else
			json_double(&w, v->d);
		break;
	case JSON_STRING:
		json_strn(&w, v->s, v->slen);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		/* Containers are re-emitted member by member. */
		buf_addch(&b, v->type == JSON_ARRAY ? '[' : '{');
		fwrite(b.data, 1, b.len, stdout);
		for (i = 0; i < v->n; i++) {
			if (i)
				putchar(',');
			if (v->type == JSON_OBJECT) {
				buf_reset(&b);
				json_escape(&b, v->keys[i], strlen(v->keys[i]));
				fwrite(b.data, 1, b.len, stdout);
				putchar(':');
			}
			print_json(v->items[i]);
		}
		putchar(v->type == JSON_ARRAY ? ']' : '}');
		buf_free(&b);
		return;
	}
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

static void
print_json_line(const struct json_value *v)
{
	print_json(v);
	putchar('\n');
}

static void
format_size(int64_t size, char *out, size_t len)
{
	if (size < 1024)
		snprintf(out, len, "%lldB", (long long)size);
	else if (size < 1024 * 1024)
		snprintf(out, len, "%.1fK", size / 1024.0);
	else
		snprintf(out, len, "%.1fM", size / (1024.0 * 1024.0));
}

/* The first error any recipient has, or NULL. */
static const char *
message_error(const struct json_value *m)
{
	const struct json_value *rc = json_get(m, "recipients");
	const char *e;
	size_t i;

	for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++)
		if ((e = json_get_str(rc->items[i], "last_error")) != NULL)
			return e;
	return NULL;
}

/* Recipients still to deliver (all of them if none is left). */
static void
message_rcpts(const struct json_value *m, struct buf *b)
{
	const struct json_value *rc = json_get(m, "recipients");
	const char *st;
	size_t i, shown = 0;
	int pass;

	for (pass = 0; pass < 2 && shown == 0; pass++)
		for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++) {
			st = json_get_str(rc->items[i], "state");
			if (pass == 0 && st && (strcmp(st, "delivered") == 0 ||
			    strcmp(st, "bounced") == 0))
				continue;
			buf_printf(b, "%s%s", shown++ ? "," : "",
			    json_get_str(rc->items[i], "addr"));
		}
}

static int64_t
message_next_try(const struct json_value *m, int *attempts)
{
	const struct json_value *rc = json_get(m, "recipients");
	int64_t next = 0, t;
	size_t i;
	int a;

	*attempts = 0;
	for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++) {
		const char *st = json_get_str(rc->items[i], "state");

		if (!st || strcmp(st, "deferred") != 0)
			continue;
		t = json_get_int(rc->items[i], "next_try", 0);
		if (next == 0 || (t && t < next))
			next = t;
		a = (int)json_get_int(rc->items[i], "attempts", 0);
		if (a > *attempts)
			*attempts = a;
	}
	return next;
}

static void
print_list_line(const struct json_value *m, int64_t now)
{
	const char *sender = json_get_str(m, "sender");
	const char *state = json_get_str(m, "state");
	const char *error = message_error(m);
	char age[32], size[32], when[32];
	int64_t next;
	int attempts, dsn_wait, bounced;
	struct buf r, wait;

	format_duration(now - json_get_int(m, "arrival", now), age,
	    sizeof(age));
	format_size(json_get_int(m, "size", 0), size, sizeof(size));
	buf_init(&r);
	message_rcpts(m, &r);
	buf_init(&wait);
	dsn_wait = ctl_client_dsn_wait_text(m, now, &wait);
	/* A message held only by the cap says so instead of "bounced". */
	bounced = state && strcmp(state, "bounced") == 0;
	printf("%s  %5s  %6s  <%s> -> %s  %s%s", json_get_str(m, "qid"), age,
	    size, sender ? sender : "", r.data ? r.data : "",
	    dsn_wait && bounced ? "bounce " : "",
	    dsn_wait && bounced ? wait.data : state ? state : "?");
	buf_free(&r);
	if (state && strcmp(state, "maildrop") == 0)
		printf(" (injected while the daemon was down; not yet "
		    "queued)");
	if (state && strcmp(state, "deferred") == 0) {
		next = message_next_try(m, &attempts);
		if (next > now) {
			format_duration(next - now, when, sizeof(when));
			printf(" (%d attempt%s, next in %s)", attempts,
			    attempts == 1 ? "" : "s", when);
		} else {
			printf(" (%d attempt%s, retry due)", attempts,
			    attempts == 1 ? "" : "s");
		}
	}
	if (dsn_wait && !bounced)
		printf(", bounce %s", wait.data);
	buf_free(&wait);
	if (error)
		printf(": %s", error);
	putchar('\n');
}

/* The spool read directly (the daemon is down); problems go to stderr. */
static struct json_value *
spool_read(const struct config *cfg, const char *qid)
{
	struct json_value *v;
	char *err;

	v = ctl_client_spool_read(cfg, qid, &err);
	if (err)
		fprintf(stderr, "hikyaku: %s\n", err);
	free(err);
	return v;
}

static int
queue_list(struct cli_ctx *x)
{
	struct json_value *v, *all = NULL;
	const struct json_value *msgs;
	char members[64];
	int64_t offset = 0, total, now = time(NULL);
	size_t i, count = 0;
	int rc = CLI_EXIT_OK;

	if (!x->cc) {
		fprintf(stderr, "hikyaku: %s; reading the spool directly\n",
		    x->err);
		if (!(all = spool_read(x->cfg, NULL)))
			return CLI_EXIT_FAIL;
		for (i = 0; i < all->n; i++) {
			if (x->json)
				print_json_line(all->items[i]);
			else
				print_list_line(all->items[i], now);
		}
		count = all->n;
		json_free(all);
		goto done;
	}
	/* Page through the daemon's snapshot (1000 per request). */
	for (;;) {
		snprintf(members, sizeof(members), ",\"offset\":%lld",
		    (long long)offset);
		if (!(v = call(x, "queue.list", members, NULL)))
			return CLI_EXIT_FAIL;
		if (!answer_ok(v, "queue.list")) {
			json_free(v);
			return CLI_EXIT_FAIL;
		}
		msgs = json_get(v, "messages");
		total = json_get_int(v, "total", 0);
		for (i = 0; msgs && msgs->type == JSON_ARRAY && i < msgs->n;
		    i++) {
			if (x->json)
				print_json_line(msgs->items[i]);
			else
				print_list_line(msgs->items[i], now);
		}
		i = msgs && msgs->type == JSON_ARRAY ? msgs->n : 0;
		count += i;
		offset += i;
		json_free(v);
		if (i == 0 || offset >= total)
			break;
	}
done:
	if (count == 0 && !x->json && isatty(STDOUT_FILENO))
		printf("The queue is empty.\n");
	return rc;
}

static void
print_time(const char *label, int64_t t)
{
	char tbuf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S %z", &tm);
	printf("%s%s\n", label, tbuf);
}

static void
print_show(const struct json_value *m)
{
	const struct json_value *rc = json_get(m, "recipients"), *h;
	const char *s;
	char size[32];
	size_t i, j;
	struct buf wait;

	printf("Queue ID:  %s\n", json_get_str(m, "qid"));
	s = json_get_str(m, "sender");
	printf("Sender:    <%s>\n", s ? s : "");
	print_time("Arrival:   ", json_get_int(m, "arrival", 0));
	format_size(json_get_int(m, "size", 0), size, sizeof(size));
	printf("Size:      %s (%lld bytes)\n", size,
	    (long long)json_get_int(m, "size", 0));
	printf("State:     %s\n", json_get_str(m, "state"));
	buf_init(&wait);
	if (ctl_client_dsn_wait_text(m, time(NULL), &wait))
		printf("Bounce:    %s\n", wait.data);
	buf_free(&wait);
	if ((s = json_get_str(m, "client")))
		printf("Client:    %s\n", s);
	if ((s = json_get_str(m, "helo")))
		printf("HELO:      %s\n", s);
	if ((s = json_get_str(m, "auth_user")))
		printf("Auth user: %s\n", s);
	if ((s = json_get_str(m, "tls")))
		printf("TLS:       %s\n", s);
	if (json_get(m, "origin_uid"))
		printf("Local uid: %lld\n",
		    (long long)json_get_int(m, "origin_uid", -1));
	for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++) {
		const struct json_value *r = rc->items[i];
		int64_t next = json_get_int(r, "next_try", 0);

		printf("\nRecipient: <%s>\n", json_get_str(r, "addr"));
		printf("  state:      %s, %lld attempt%s\n",
		    json_get_str(r, "state"),
		    (long long)json_get_int(r, "attempts", 0),
		    json_get_int(r, "attempts", 0) == 1 ? "" : "s");
		s = json_get_str(r, "state");
		if (s && strcmp(s, "deferred") == 0 && next)
			print_time("  next try:   ", next);
		if ((s = json_get_str(r, "relay")))
			printf("  relay:      %s\n", s);
		if ((s = json_get_str(r, "dsn_status")))
			printf("  dsn:        %s\n", s);
		if ((s = json_get_str(r, "last_error")))
			printf("  last error: %s\n", s);
		h = json_get(r, "history");
		for (j = 0; h && h->type == JSON_ARRAY && j < h->n; j++) {
			char tbuf[32];
			time_t tt = (time_t)json_get_int(h->items[j], "time",
			    0);
			struct tm tm;

			localtime_r(&tt, &tm);
			strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
			printf("  %s  %s\n", tbuf,
			    json_get_str(h->items[j], "text"));
		}
	}
}

static int
queue_show(struct cli_ctx *x, const char *qid)
{
	struct json_value *v = NULL;
	const struct json_value *m;
	char *members;
	int rc = CLI_EXIT_OK;

	if (!x->cc) {
		fprintf(stderr, "hikyaku: %s; reading the spool directly\n",
		    x->err);
		if (!qid_valid(qid) ||
		    !(v = spool_read(x->cfg, qid)) || v->n == 0) {
			json_free(v);
			fprintf(stderr, "hikyaku: %s: no such message\n", qid);
			return CLI_EXIT_FAIL;
		}
		m = v->items[0];
	} else {
		members = qid_member(qid);
		v = call(x, "queue.show", members, NULL);
		free(members);
		if (!v)
			return CLI_EXIT_FAIL;
		if (!answer_ok(v, qid)) {
			json_free(v);
			return CLI_EXIT_FAIL;
		}
		m = json_get(v, "message");
	}
	if (x->json)
		print_json_line(m);
	else
		print_show(m);
	json_free(v);
	return rc;
}

static int
simple_call(struct cli_ctx *x, const char *cmd, const char *members,
    const char *what, const char *done)
{
	struct json_value *v;
	char *raw = NULL;
	int ok;

	if (!x->cc) {
		fprintf(stderr, "hikyaku: %s; %s needs the daemon\n", x->err,
		    cmd);
		return CLI_EXIT_FAIL;
	}
	if (!(v = call(x, cmd, members, &raw)))
		return CLI_EXIT_FAIL;
	ok = answer_ok(v, what);
	if (x->json)
		printf("%s\n", raw);
	else if (ok && done)
		printf("%s%s%s\n", what ? what : "", what ? ": " : "", done);
	free(raw);
	json_free(v);
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* Strip --json from argv (anywhere after the subcommand). */
static int
take_json_flag(int *argc, char **argv)
{
	int i, j, found = 0;

	for (i = j = 0; i < *argc; i++) {
		if (i > 0 && strcmp(argv[i], "--json") == 0)
			found = 1;
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	return found;
}

int
cli_queue(int argc, char **argv, const char *confdir)
{
	static const struct {
		const char	*name, *cmd, *done;
	} actions[] = {
		{ "retry", "queue.retry", "retry scheduled" },
		{ "delete", "queue.delete", "deleted" },
		{ "hold", "queue.hold", "held" },
		{ "release", "queue.release", "released" },
		{ "bounce", "queue.bounce", "bounce scheduled" },
	};
	struct cli_ctx x = { 0 };
	const char *sub;
	char *members;
	size_t i;
	int rc = CLI_EXIT_USAGE, r, j;

	x.json = take_json_flag(&argc, argv);
	if (argc < 2) {
		fputs(usage_queue, stderr);
		return CLI_EXIT_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(usage_queue, stdout);
		return CLI_EXIT_OK;
	}
	if (load_config(confdir, &x.cfg, 0) == -1)
		return CLI_EXIT_FAIL;
	if (strcmp(sub, "list") == 0 && argc == 2) {
		ctx_connect(&x, 1);
		rc = queue_list(&x);
	} else if (strcmp(sub, "show") == 0 && argc == 3) {
		ctx_connect(&x, 0);
		rc = queue_show(&x, argv[2]);
	} else if (strcmp(sub, "flush") == 0 && argc == 2) {
		ctx_connect(&x, 1);
		rc = simple_call(&x, "queue.flush", NULL, NULL,
		    "queue flush requested");
	} else {
		for (i = 0; i < nitems(actions); i++)
			if (strcmp(sub, actions[i].name) == 0)
				break;
		if (i < nitems(actions) && argc >= 3) {
			ctx_connect(&x, 0);
			rc = CLI_EXIT_OK;
			for (j = 2; j < argc; j++) {
				members = qid_member(argv[j]);
				r = simple_call(&x, actions[i].cmd, members,
				    argv[j], actions[i].done);
				free(members);
				if (r != CLI_EXIT_OK)
					rc = r;
			}
		} else {
			fputs(usage_queue, stderr);
		}
	}
	ctx_free(&x);
	return rc;
}

int
cli_reload(int argc, char **argv, const char *confdir)
{
	struct cli_ctx x = { 0 };
	struct json_value *v;
	const char *s;
	char *raw = NULL;
	int rc = CLI_EXIT_FAIL;

	x.json = take_json_flag(&argc, argv);
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(usage_reload, stdout);
		return CLI_EXIT_OK;
	}
	if (argc != 1) {
		fputs(usage_reload, stderr);
		return CLI_EXIT_USAGE;
	}
	if (load_config(confdir, &x.cfg, 1) == -1) {
		fprintf(stderr, "hikyaku: nothing was reloaded; the daemon "
		    "keeps its running configuration\n");
		return CLI_EXIT_FAIL;
	}
	ctx_connect(&x, 0);
	if (!x.cc) {
		fprintf(stderr, "hikyaku: %s; reload needs the daemon\n",
		    x.err);
	} else if ((v = call(&x, "reload", NULL, &raw)) != NULL) {
		if (x.json) {
			printf("%s\n", raw);
			rc = json_get_bool(v, "ok", 0) ? CLI_EXIT_OK :
			    CLI_EXIT_FAIL;
		} else if (json_get_bool(v, "ok", 0)) {
			/* The daemon's answer says it; ours if it is mute. */
			s = json_get_str(v, "result");
			if (s && *s)
				printf("%s%s", s,
				    s[strlen(s) - 1] == '\n' ? "" : "\n");
			else
				printf("configuration reloaded\n");
			rc = CLI_EXIT_OK;
		} else {
			s = json_get_str(v, "error");
			fprintf(stderr, "%s%s", s ? s : "reload failed",
			    s && *s && s[strlen(s) - 1] == '\n' ? "" : "\n");
			fprintf(stderr, "hikyaku: reload refused; the daemon "
			    "keeps running with its previous configuration\n");
		}
		free(raw);
		json_free(v);
	}
	ctx_free(&x);
	return rc;
}

static void
print_status(const struct json_value *v)
{
	const struct json_value *a, *q, *t;
	char up[32], when[64];
	size_t i;

	format_duration(json_get_int(v, "uptime", 0), up, sizeof(up));
	printf("hikyakud %s running, pid %lld, up %s\n",
	    json_get_str(v, "version") ? json_get_str(v, "version") : "",
	    (long long)json_get_int(v, "pid", 0), up);
	a = json_get(v, "listeners");
	printf("listening:");
	for (i = 0; a && a->type == JSON_ARRAY && i < a->n; i++) {
		const char *addr = json_get_str(a->items[i], "addr");

		printf("%s %s%s%s:%lld %s", i ? "," : "",
		    addr && strchr(addr, ':') ? "[" : "", addr ? addr : "",
		    addr && strchr(addr, ':') ? "]" : "",
		    (long long)json_get_int(a->items[i], "port", 0),
		    json_get_str(a->items[i], "mode"));
	}
	printf("%s\n", a && a->n ? "" : " nothing");
	q = json_get(v, "queue");
	printf("queue: %lld message%s; recipients: %lld pending, "
	    "%lld deferred, %lld held; %lld connection%s\n",
	    (long long)json_get_int(q, "messages", 0),
	    json_get_int(q, "messages", 0) == 1 ? "" : "s",
	    (long long)json_get_int(q, "pending", 0),
	    (long long)json_get_int(q, "deferred", 0),
	    (long long)json_get_int(q, "held", 0),
	    (long long)json_get_int(v, "connections", 0),
	    json_get_int(v, "connections", 0) == 1 ? "" : "s");
	t = json_get(v, "totals");
	printf("since start: %lld delivered, %lld deferred, %lld bounced\n",
	    (long long)json_get_int(t, "delivered", 0),
	    (long long)json_get_int(t, "deferred", 0),
	    (long long)json_get_int(t, "bounced", 0));
	t = json_get(v, "last_hour");
	printf("last hour: %lld delivered, %lld deferred, %lld bounced\n",
	    (long long)json_get_int(t, "delivered", 0),
	    (long long)json_get_int(t, "deferred", 0),
	    (long long)json_get_int(t, "bounced", 0));
	a = json_get(v, "remotes");
	for (i = 0; a && a->type == JSON_ARRAY && i < a->n; i++) {
		const struct json_value *r = a->items[i];
		const char *e = json_get_str(r, "last_error");

		printf("remote %s:%lld: ", json_get_str(r, "host"),
		    (long long)json_get_int(r, "port", 0));
		if (json_get_bool(r, "up", 1)) {
			printf("up, %lld delivered\n",
			    (long long)json_get_int(r, "delivered", 0));
			continue;
		}
		{
			time_t tt = (time_t)json_get_int(r, "down_since", 0);
			struct tm tm;

			localtime_r(&tt, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		}
		printf("DOWN since %s%s%s\n", when, e ? ": " : "", e ? e : "");
	}
	a = json_get(v, "recent_errors");
	if (!a || a->type != JSON_ARRAY || a->n == 0)
		return;
	/* The newest few, oldest first like a log. */
	printf("recent problems:\n");
	for (i = a->n > STATUS_RECENT ? a->n - STATUS_RECENT : 0; i < a->n;
	    i++) {
		time_t tt = (time_t)json_get_int(a->items[i], "time", 0);
		struct tm tm;

		localtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("  %s %s: %s\n", when,
		    json_get_str(a->items[i], "level"),
		    json_get_str(a->items[i], "line"));
	}
}

/* The oldest arrival among messages with work left (0 if none). */
static int64_t
oldest_arrival(const struct json_value *msgs)
{
	int64_t oldest = 0, a;
	size_t i;

	for (i = 0; msgs && msgs->type == JSON_ARRAY && i < msgs->n; i++) {
		a = json_get_int(msgs->items[i], "arrival", 0);
		if (a && (oldest == 0 || a < oldest))
			oldest = a;
	}
	return oldest;
}

static int
status_check(struct cli_ctx *x, int64_t warn_n, int64_t crit_n,
    int64_t warn_age, int64_t crit_age)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL",
	    "UNKNOWN" };
	struct json_value *st, *lst;
	const struct json_value *rem;
	int64_t n, oldest, age = 0;
	size_t i, down = 0;
	int verdict = CHECK_OK;
	char agebuf[32];

	if (!x->cc) {
		printf("HIKYAKU CRITICAL - %s\n", x->err);
		return CHECK_CRITICAL;
	}
	if (!(st = call(x, "status", NULL, NULL)))
		return CHECK_UNKNOWN;
	/* The oldest message needs the first page only: IDs sort by age. */
	if (!(lst = call(x, "queue.list", ",\"limit\":1", NULL))) {
		json_free(st);
		return CHECK_UNKNOWN;
	}
	n = json_get_int(json_get(st, "queue"), "messages", 0);
	oldest = oldest_arrival(json_get(lst, "messages"));
	if (oldest)
		age = time(NULL) - oldest;
	if (n > crit_n || (oldest && age > crit_age))
		verdict = CHECK_CRITICAL;
	else if (n > warn_n || (oldest && age > warn_age))
		verdict = CHECK_WARNING;
	rem = json_get(st, "remotes");
	for (i = 0; rem && rem->type == JSON_ARRAY && i < rem->n; i++)
		if (!json_get_bool(rem->items[i], "up", 1))
			down++;
	if (down && verdict == CHECK_OK)
		verdict = CHECK_WARNING;
	format_duration(age, agebuf, sizeof(agebuf));
	printf("HIKYAKU %s - %lld message%s in the queue, oldest %s, "
	    "%zu remote%s down|messages=%lld;%lld;%lld age=%llds;%lld;%lld\n",
	    names[verdict], (long long)n, n == 1 ? "" : "s",
	    oldest ? agebuf : "none", down, down == 1 ? "" : "s",
	    (long long)n, (long long)warn_n, (long long)crit_n,
	    (long long)age, (long long)warn_age, (long long)crit_age);
	json_free(st);
	json_free(lst);
	return verdict;
}

static int
parse_count(const char *s, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end || n < 0)
		return -1;
	*out = n;
	return 0;
}

int
cli_status(int argc, char **argv, const char *confdir)
{
	struct cli_ctx x = { 0 };
	struct json_value *v;
	int64_t warn_n = CHECK_WARN_MESSAGES, crit_n = CHECK_CRIT_MESSAGES;
	int64_t warn_age = CHECK_WARN_AGE, crit_age = CHECK_CRIT_AGE, *dst;
	const char *perr;
	char *raw = NULL;
	int check = 0, count, i, rc = CLI_EXIT_FAIL;

	x.json = take_json_flag(&argc, argv);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check") == 0) {
			check = 1;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_status, stdout);
			return CLI_EXIT_OK;
		}
		count = strcmp(argv[i], "--warn-messages") == 0 ||
		    strcmp(argv[i], "--crit-messages") == 0;
		dst = strcmp(argv[i], "--warn-messages") == 0 ? &warn_n :
		    strcmp(argv[i], "--crit-messages") == 0 ? &crit_n :
		    strcmp(argv[i], "--warn-age") == 0 ? &warn_age :
		    strcmp(argv[i], "--crit-age") == 0 ? &crit_age : NULL;
		if (!dst || i + 1 >= argc || (count ?
		    parse_count(argv[i + 1], dst) :
		    parse_duration(argv[i + 1], dst, &perr)) == -1) {
			fputs(usage_status, stderr);
			/* --check speaks the monitoring exit codes. */
			return check ? CHECK_UNKNOWN : CLI_EXIT_USAGE;
		}
		i++;
	}
	if (load_config(confdir, &x.cfg, 0) == -1)
		return check ? CHECK_UNKNOWN : CLI_EXIT_FAIL;
	ctx_connect(&x, 0);
	if (check) {
		rc = status_check(&x, warn_n, crit_n, warn_age, crit_age);
	} else if (!x.cc) {
		fprintf(stderr, "hikyaku: %s\n", x.err);
		if (x.down && (v = spool_read(x.cfg, NULL)) != NULL) {
			printf("hikyakud is not running; %zu message%s in "
			    "the spool\n", v->n, v->n == 1 ? "" : "s");
			json_free(v);
		}
	} else if ((v = call(&x, "status", NULL, &raw)) != NULL) {
		if (answer_ok(v, "status")) {
			if (x.json)
				printf("%s\n", raw);
			else
				print_status(v);
			rc = CLI_EXIT_OK;
		}
		free(raw);
		json_free(v);
	}
	ctx_free(&x);
	return rc;
}
