/*
 * tester: the SMTP session tester's engine (see tester.h).
 *
 * Every command sent is remembered in a FIFO so each reply is judged
 * against the command it answers, even when the user pipelines. A plan
 * (the canned transaction) is a list of steps advanced by positive
 * replies; the user's own lines and the plan share the same paths.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <gnutls/gnutls.h>

#include "dns.h"
#include "event.h"
#include "io.h"
#include "privsep.h"
#include "remotes.h"
#include "sasl.h"
#include "tester.h"
#include "tls.h"
#include "tls_diag.h"
#include "util.h"

/* What an outstanding reply answers. */
enum tester_cmd {
	CMD_OTHER, CMD_EHLO, CMD_STARTTLS, CMD_AUTH, CMD_AUTH_STEP, CMD_MAIL,
	CMD_RCPT, CMD_DATA, CMD_DOT, CMD_QUIT,
};

enum plan_step {
	STEP_EHLO, STEP_STARTTLS, STEP_EHLO_TLS, STEP_AUTH, STEP_MAIL,
	STEP_RCPT, STEP_DATA, STEP_QUIT, STEP_END,
};

#define CMD_MAX		64
#define TESTER_QUIT_MS	5000
#define MASK		"****"

struct tester {
	struct tester_config	 cfg;
	const struct remote	*r;
	tester_cb		 cb;
	void			*arg;
	enum tester_state	 state;
	enum tester_stage	 failed;

	struct dns_query	*dnsq;
	struct ev_timer		*dns_timer;
	struct sockaddr_storage	*addrs;
	size_t			 naddrs, next_addr;
	struct io		*io;
	struct tls_creds	*creds;
	gnutls_session_t	 sess;	/* owned by io once started */
	int			 tls_up;
	int			 tls_replied;	/* a reply came under TLS */
	int			 authed;	/* a 235 was seen */
	int			 closing;	/* QUIT answered: await EOF */
	char			*banner;

	enum tester_cmd		 cmds[CMD_MAX];
	size_t			 cmd_head, ncmds;
	int			 in_reply;	/* a multi-line reply is open */
	int			 mask_next;	/* the user answers a 334 */
	struct buf		 auth_mechs;
	struct sasl_client	*sasl;

	int			 plan_on;
	enum plan_step		 step;
	size_t			 rcpt_i;
	char			*p_user, *p_pass, *p_mech, *p_from, *p_msg;
	char			**p_to;
	size_t			 p_nto;
	enum tester_stage	 p_stop;
	int			 p_quit;

	struct buf		 transcript;
};

static void tester_ready(struct tester *);
static void tester_io_cb(struct io *, enum io_event, void *);

static const char *const stage_names[] = {
	[TESTER_STAGE_NONE] = "none",	[TESTER_STAGE_CONNECT] = "connect",
	[TESTER_STAGE_BANNER] = "banner", [TESTER_STAGE_EHLO] = "ehlo",
	[TESTER_STAGE_TLS] = "tls",	[TESTER_STAGE_AUTH] = "auth",
	[TESTER_STAGE_MAIL] = "mail",	[TESTER_STAGE_RCPT] = "rcpt",
	[TESTER_STAGE_DATA] = "data",	[TESTER_STAGE_QUIT] = "quit",
	[TESTER_STAGE_OTHER] = "other",
};

const char *
tester_stage_name(enum tester_stage s)
{
	return (s <= TESTER_STAGE_OTHER ? stage_names[s] : "?");
}

int
tester_stage_parse(const char *name)
{
	for (size_t i = 0; i < nitems(stage_names); i++)
		if (ascii_strcasecmp(name, stage_names[i]) == 0)
			return (int)i;
	if (ascii_strcasecmp(name, "starttls") == 0)
		return TESTER_STAGE_TLS;
	if (ascii_strcasecmp(name, "helo") == 0)
		return TESTER_STAGE_EHLO;
	return -1;
}

static enum tester_stage
cmd_stage(enum tester_cmd c)
{
	switch (c) {
	case CMD_EHLO:		return TESTER_STAGE_EHLO;
	case CMD_STARTTLS:	return TESTER_STAGE_TLS;
	case CMD_AUTH:
	case CMD_AUTH_STEP:	return TESTER_STAGE_AUTH;
	case CMD_MAIL:		return TESTER_STAGE_MAIL;
	case CMD_RCPT:		return TESTER_STAGE_RCPT;
	case CMD_DATA:
	case CMD_DOT:		return TESTER_STAGE_DATA;
	case CMD_QUIT:		return TESTER_STAGE_QUIT;
	default:		return TESTER_STAGE_NONE;
	}
}

/* ---- reporting ----------------------------------------------------- */

static void
note(struct tester *t, const char *prefix, const char *text)
{
	const char *p = text, *nl;

	/* One transcript line per text line, each with its prefix. */
	do {
		nl = strchr(p, '\n');
		buf_printf(&t->transcript, "%s%.*s\n", prefix,
		    (int)(nl ? nl - p : (long)strlen(p)), p);
		p = nl ? nl + 1 : NULL;
	} while (p != NULL && *p != '\0');
}

static void
emit(struct tester *t, enum tester_event ev, int code, const char *text)
{
	switch (ev) {
	case TESTER_EV_SENT:	note(t, "C: ", text); break;
	case TESTER_EV_REPLY:	note(t, "S: ", text); break;
	case TESTER_EV_READY:	break;
	default:		note(t, "* ", text); break;
	}
	t->cb(t, ev, code, text, t->arg);
}

static void
emitf(struct tester *t, enum tester_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
emitf(struct tester *t, enum tester_event ev, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	emit(t, ev, 0, s);
	free(s);
}

static void
fail_stage(struct tester *t, enum tester_stage s)
{
	if (t->failed == TESTER_STAGE_NONE && s != TESTER_STAGE_NONE)
		t->failed = s;
}

/* ---- closing ------------------------------------------------------- */

static void
drop_conn(struct tester *t)
{
	if (t->dnsq != NULL) {
		dns_cancel(t->dnsq);
		t->dnsq = NULL;
	}
	ev_timer_stop(t->dns_timer);
	if (t->io != NULL) {
		io_free(t->io);
		t->io = NULL;
		t->sess = NULL;	/* the io deinited it */
	} else if (t->sess != NULL) {
		gnutls_deinit(t->sess);
		t->sess = NULL;
	}
	if (t->creds != NULL) {
		tls_creds_put(t->creds);
		t->creds = NULL;
	}
	sasl_client_free(t->sasl);
	t->sasl = NULL;
	t->tls_up = 0;
	t->tls_replied = 0;
	t->authed = 0;
	t->closing = 0;
	t->ncmds = 0;
	t->in_reply = 0;
	t->mask_next = 0;
	t->plan_on = 0;
}

/* End the session; why says it in words. */
static void
finish(struct tester *t, const char *why)
{
	if (t->state == TESTER_CLOSED)
		return;
	drop_conn(t);
	t->state = TESTER_CLOSED;
	emit(t, TESTER_EV_CLOSED, 0, why);
}

/* A stage failed in a way that ends the session. */
static void
fail_close(struct tester *t, enum tester_stage s, const char *why)
{
	fail_stage(t, s);
	emit(t, TESTER_EV_ERROR, 0, why);
	finish(t, why);
}

static uint64_t
deadline(const struct tester *t, int dflt)
{
	return ev_now() + (uint64_t)(t->cfg.timeout_ms > 0 ?
	    t->cfg.timeout_ms : dflt);
}

/* ---- sending ------------------------------------------------------- */

static void
push_cmd(struct tester *t, enum tester_cmd c)
{
	/* A user who pipelines more than CMD_MAX commands gets the rest
	 * judged as "other": nothing breaks, only the attribution. */
	if (t->ncmds < CMD_MAX)
		t->cmds[(t->cmd_head + t->ncmds++) % CMD_MAX] = c;
}

static enum tester_cmd
pop_cmd(struct tester *t)
{
	enum tester_cmd c;

	if (t->ncmds == 0)
		return CMD_OTHER;
	c = t->cmds[t->cmd_head];
	t->cmd_head = (t->cmd_head + 1) % CMD_MAX;
	t->ncmds--;
	return c;
}

/* Write line + CRLF; shown as 'shown' (masked) when given. */
static void
put_line(struct tester *t, const char *line, const char *shown)
{
	io_printf(t->io, "%s\r\n", line);
	emit(t, TESTER_EV_SENT, 0, shown ? shown : line);
}

static void
send_cmd(struct tester *t, enum tester_cmd c, const char *line,
    const char *shown)
{
	if (c == CMD_EHLO)
		buf_reset(&t->auth_mechs);
	push_cmd(t, c);
	put_line(t, line, shown);
	t->state = TESTER_WAITING;
	/* QUIT is a courtesy: a server that ignores it is not waited for. */
	io_set_deadline(t->io, c == CMD_QUIT ? ev_now() + TESTER_QUIT_MS :
	    deadline(t, TESTER_REPLY_MS));
}

static int
verb_is(const char *line, const char *verb)
{
	size_t n = strlen(verb);

	return ascii_strncasecmp(line, verb, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ' || line[n] == ':');
}

static enum tester_cmd
classify(const char *line)
{
	if (verb_is(line, "EHLO") || verb_is(line, "HELO") ||
	    verb_is(line, "LHLO"))
		return CMD_EHLO;
	if (verb_is(line, "STARTTLS"))
		return CMD_STARTTLS;
	if (verb_is(line, "AUTH"))
		return CMD_AUTH;
	if (verb_is(line, "MAIL"))
		return CMD_MAIL;
	if (verb_is(line, "RCPT"))
		return CMD_RCPT;
	if (verb_is(line, "DATA") || verb_is(line, "BDAT"))
		return CMD_DATA;
	if (verb_is(line, "QUIT"))
		return CMD_QUIT;
	return CMD_OTHER;
}

/* "AUTH PLAIN dGVzdA..." is shown as "AUTH PLAIN ****". */
static char *
mask_auth(const char *line)
{
	const char *p = skip_ws(line + 4);
	const char *end = p + strcspn(p, " ");
	char *s;

	if (*skip_ws(end) == '\0')
		return xstrdup(line);
	xasprintf(&s, "%.*s " MASK, (int)(end - line), line);
	return s;
}

int
tester_send(struct tester *t, const char *line)
{
	enum tester_cmd c;
	char *shown;

	if (t->io == NULL || t->state == TESTER_CLOSED ||
	    t->state == TESTER_HANDSHAKE || t->state == TESTER_CONNECTING)
		return -1;
	if (t->state == TESTER_BODY) {
		if (strcmp(line, ".") == 0) {
			send_cmd(t, CMD_DOT, line, NULL);
			return 0;
		}
		put_line(t, line, NULL);
		return 0;
	}
	if (t->mask_next) {
		/* The answer to a 334 challenge is a secret. */
		t->mask_next = 0;
		send_cmd(t, CMD_AUTH_STEP, line, MASK);
		return 0;
	}
	c = classify(line);
	if (c == CMD_AUTH) {
		shown = mask_auth(line);
		send_cmd(t, c, line, shown);
		free(shown);
		return 0;
	}
	send_cmd(t, c, line, NULL);
	return 0;
}

/* ---- the plan ------------------------------------------------------ */

static void
plan_clear(struct tester *t)
{
	size_t i;

	free(t->p_user);
	if (t->p_pass != NULL) {
		explicit_bzero(t->p_pass, strlen(t->p_pass));
		free(t->p_pass);
	}
	free(t->p_mech);
	free(t->p_from);
	free(t->p_msg);
	for (i = 0; i < t->p_nto; i++)
		free(t->p_to[i]);
	free(t->p_to);
	t->p_user = t->p_pass = t->p_mech = t->p_from = t->p_msg = NULL;
	t->p_to = NULL;
	t->p_nto = 0;
	t->plan_on = 0;
}

static enum tester_stage
step_stage(enum plan_step s)
{
	switch (s) {
	case STEP_EHLO:		return TESTER_STAGE_EHLO;
	case STEP_STARTTLS:
	case STEP_EHLO_TLS:	return TESTER_STAGE_TLS;
	case STEP_AUTH:		return TESTER_STAGE_AUTH;
	case STEP_MAIL:		return TESTER_STAGE_MAIL;
	case STEP_RCPT:		return TESTER_STAGE_RCPT;
	case STEP_DATA:		return TESTER_STAGE_DATA;
	default:		return TESTER_STAGE_QUIT;
	}
}

static int start_auth(struct tester *, const char *, const char *,
    const char *);

/* Send the next step of the plan; 0 when a step is under way. */
static int
plan_next(struct tester *t)
{
	char *line;

	for (;;) {
		enum plan_step s = t->step;

		if (s == STEP_END)
			break;
		/* Stopping after a stage skips to QUIT (or the end). */
		if (s != STEP_QUIT && t->p_stop != TESTER_STAGE_NONE &&
		    step_stage(s) > t->p_stop) {
			t->step = STEP_QUIT;
			continue;
		}
		t->step = s + 1;
		switch (s) {
		case STEP_EHLO:
			xasprintf(&line, "EHLO %s", t->cfg.helo);
			send_cmd(t, CMD_EHLO, line, NULL);
			free(line);
			return 0;
		case STEP_STARTTLS:
			if (t->r->tls != REMOTE_TLS_STARTTLS || t->tls_up) {
				t->step = STEP_AUTH;
				continue;
			}
			send_cmd(t, CMD_STARTTLS, "STARTTLS", NULL);
			return 0;
		case STEP_EHLO_TLS:
			xasprintf(&line, "EHLO %s", t->cfg.helo);
			send_cmd(t, CMD_EHLO, line, NULL);
			free(line);
			return 0;
		case STEP_AUTH:
			if (t->p_user == NULL || t->authed)
				continue;
			if (start_auth(t, t->p_mech, t->p_user,
			    t->p_pass ? t->p_pass : "") == -1)
				return -1;
			return 0;
		case STEP_MAIL:
			if (t->p_from == NULL) {
				t->step = STEP_QUIT;
				continue;
			}
			xasprintf(&line, "MAIL FROM:<%s>", t->p_from);
			send_cmd(t, CMD_MAIL, line, NULL);
			free(line);
			t->rcpt_i = 0;
			return 0;
		case STEP_RCPT:
			if (t->rcpt_i >= t->p_nto)
				continue;
			xasprintf(&line, "RCPT TO:<%s>", t->p_to[t->rcpt_i++]);
			send_cmd(t, CMD_RCPT, line, NULL);
			free(line);
			if (t->rcpt_i < t->p_nto)
				t->step = STEP_RCPT;
			return 0;
		case STEP_DATA:
			send_cmd(t, CMD_DATA, "DATA", NULL);
			return 0;
		case STEP_QUIT:
			t->step = STEP_END;
			if (!t->p_quit)
				continue;
			send_cmd(t, CMD_QUIT, "QUIT", NULL);
			return 0;
		case STEP_END:
			break;
		}
	}
	plan_clear(t);
	return -1;
}

static void
send_message(struct tester *t)
{
	const char *p, *nl;
	char *line;

	for (p = t->p_msg; *p != '\0'; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		line = xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
		rtrim(line);
		/* Dot-stuffing: a text line starting with "." */
		if (line[0] == '.') {
			char *stuffed;

			xasprintf(&stuffed, ".%s", line);
			put_line(t, stuffed, NULL);
			free(stuffed);
		} else
			put_line(t, line, NULL);
		free(line);
		if (nl == NULL)
			break;
	}
	send_cmd(t, CMD_DOT, ".", NULL);
}

static char *
test_message(const char *from, char *const *to, size_t nto)
{
	struct buf b;
	char date[64];
	time_t now = time(NULL);

	buf_init(&b);
	format_rfc5322_date(now, date, sizeof(date));
	buf_printf(&b, "From: <%s>\n", from);
	buf_printf(&b, "To: <%s>\n", nto > 0 ? to[0] : from);
	buf_printf(&b, "Subject: hikyaku test message\n");
	buf_printf(&b, "Date: %s\n", date);
	buf_printf(&b, "Message-ID: <%lld.%d@hikyaku.tester>\n",
	    (long long)now, (int)getpid());
	buf_printf(&b, "\nThis is a test message sent by hikyaku smtp.\n");
	return buf_take(&b);
}

int
tester_run(struct tester *t, const struct tester_plan *p)
{
	size_t i;

	if (t->state == TESTER_CLOSED || t->state == TESTER_IDLE)
		return -1;
	plan_clear(t);
	t->p_user = p->user ? xstrdup(p->user) : NULL;
	t->p_pass = p->pass ? xstrdup(p->pass) : NULL;
	t->p_mech = p->mech ? xstrdup(p->mech) : NULL;
	t->p_from = p->from ? xstrdup(p->from) : NULL;
	t->p_nto = p->nto;
	t->p_to = xcalloc(p->nto + 1, sizeof(char *));
	for (i = 0; i < p->nto; i++)
		t->p_to[i] = xstrdup(p->to[i]);
	if (p->from != NULL)
		t->p_msg = p->message ? xstrdup(p->message) :
		    test_message(p->from, t->p_to, t->p_nto);
	t->p_stop = p->stop_after;
	t->p_quit = p->quit;
	t->step = STEP_EHLO;
	t->plan_on = 1;
	if (t->state == TESTER_READY && plan_next(t) == -1)
		tester_ready(t);
	return 0;
}

/* ---- AUTH ---------------------------------------------------------- */

static int
start_auth(struct tester *t, const char *mech, const char *user,
    const char *pass)
{
	char *err = NULL, *out = NULL, *line;
	const char *offered = mech ? mech : t->auth_mechs.data;

	sasl_client_free(t->sasl);
	t->sasl = sasl_client_new(offered, user, pass, mech != NULL &&
	    ascii_strcasecmp(mech, "LOGIN") == 0, t->r->host, &err);
	if (t->sasl == NULL ||
	    sasl_client_step(t->sasl, NULL, &out, &err) == SASL_STEP_ERROR) {
		fail_stage(t, TESTER_STAGE_AUTH);
		emitf(t, TESTER_EV_ERROR, "AUTH: %s%s", err ? err : "failed",
		    *offered ? "" : " (the server offered no AUTH "
		    "mechanism: EHLO first, after STARTTLS)");
		free(err);
		sasl_client_free(t->sasl);
		t->sasl = NULL;
		return -1;
	}
	if (out != NULL) {
		/* "=" is the empty initial response (RFC 4954). */
		xasprintf(&line, "AUTH %s %s", sasl_client_mech(t->sasl),
		    *out ? out : "=");
		explicit_bzero(out, strlen(out));
	} else
		xasprintf(&line, "AUTH %s", sasl_client_mech(t->sasl));
	free(out);
	{
		char *shown = mask_auth(line);

		send_cmd(t, CMD_AUTH, line, shown);
		free(shown);
	}
	explicit_bzero(line, strlen(line));
	free(line);
	return 0;
}

int
tester_auth(struct tester *t, const char *mech, const char *user,
    const char *pass)
{
	if (t->state != TESTER_READY)
		return -1;
	if (start_auth(t, mech, user, pass) == -1) {
		tester_ready(t);
		return -1;
	}
	return 0;
}

/* A 334 challenge for the helper's exchange. */
static void
auth_challenge(struct tester *t, const char *text)
{
	char *out = NULL, *err = NULL;

	if (sasl_client_step(t->sasl, text, &out, &err) == SASL_STEP_ERROR) {
		fail_stage(t, TESTER_STAGE_AUTH);
		emitf(t, TESTER_EV_ERROR, "AUTH: %s", err ? err : "failed");
		free(err);
		/* "*" cancels the exchange (RFC 4954 4). */
		send_cmd(t, CMD_AUTH_STEP, "*", NULL);
		return;
	}
	send_cmd(t, CMD_AUTH_STEP, out, MASK);
	explicit_bzero(out, strlen(out));
	free(out);
}

/* ---- TLS ----------------------------------------------------------- */

static const char *
verify_name(const struct tester *t)
{
	return (t->cfg.servername ? t->cfg.servername : t->r->host);
}

/*
 * 1 when the daemon runs as a user other than the tester's, for whom the
 * CA and CRL files may read otherwise. A name that is no user counts as
 * ours, as tls_diag_files then judges for the calling process.
 */
static int
daemon_user_differs(const char *name)
{
	uid_t uid;
	gid_t gid;
	char *err = NULL;

	if (name == NULL)
		return 0;
	if (privsep_lookup_user(name, &uid, &gid, &err) == -1) {
		free(err);
		return 0;
	}
	return uid != geteuid();
}

/*
 * The files judged for the daemon's user, shown as a verdict block unless
 * it says the same sentence as the engine (words, NULL when the engine
 * read them), which judged them for this process.
 */
static void
daemon_files_verdict(struct tester *t, const char *words)
{
	struct tls_verdict v;
	char *text, *head, *daemon_words;

	tls_diag_init(&v);
	tls_diag_files(&v, t->r, t->cfg.daemon_user);
	daemon_words = tls_diag_explain(&v);
	if (v.nfindings > 0 && (words == NULL || daemon_words == NULL ||
	    strcmp(daemon_words, words) != 0)) {
		/* Not to be read as the handshake's verdict, which follows. */
		xasprintf(&head, "for the daemon's user %s",
		    t->cfg.daemon_user);
		text = tls_diag_format_as(&v, head);
		emit(t, TESTER_EV_VERDICT, 0, text);
		free(text);
		free(head);
	}
	free(daemon_words);
	tls_diag_free(&v);
}

static void
tls_begin(struct tester *t)
{
	char *err = NULL;

	if (t->creds == NULL) {
		char *text;

		t->creds = tls_creds_get(t->r, &err);
		/* A daemon that runs as another user may read the files
		 * otherwise: it would fail where this test passes, or fail
		 * for another reason than err, the engine's words for us. */
		if (daemon_user_differs(t->cfg.daemon_user))
			daemon_files_verdict(t, err);
		if (t->creds == NULL) {
			xasprintf(&text, "TLS: %s", err);
			free(err);
			fail_close(t, TESTER_STAGE_TLS, text);
			free(text);
			return;
		}
	}
	/* Verified after the handshake by tls_diag, so a bad chain is still
	 * received, shown and explained rather than cut off. */
	if (tls_client_session(&t->sess, t->creds, verify_name(t), 1,
	    &err) == -1) {
		char *text;

		xasprintf(&text, "TLS: %s", err);
		free(err);
		fail_close(t, TESTER_STAGE_TLS, text);
		free(text);
		return;
	}
	t->state = TESTER_HANDSHAKE;
	emitf(t, TESTER_EV_INFO, "TLS handshake with %s", verify_name(t));
	io_set_deadline(t->io, deadline(t, TESTER_CONNECT_MS));
	io_start_tls(t->io, t->sess);
}

static void
tls_ready(struct tester *t)
{
	struct tls_verdict v;
	struct tls_diag_input in;
	char *text;
	int ok;

	tls_diag_init(&v);
	memset(&in, 0, sizeof(in));
	in.session = t->sess;
	in.hostname = verify_name(t);
	in.remote = t->r;
	in.banner = t->banner;
	tls_diag_session(&v, &in);
	text = tls_diag_format(&v);
	emit(t, TESTER_EV_VERDICT, 0, text);
	free(text);
	ok = tls_diag_ok(&v);
	if (!ok) {
		char *sum = tls_diag_summary(&v);

		if (t->r->insecure) {
			emitf(t, TESTER_EV_INFO, "%s (continuing: --insecure)",
			    sum ? sum : "certificate not trusted");
			ok = 1;
		} else {
			fail_stage(t, TESTER_STAGE_TLS);
			xasprintf(&text, "%s; closing (--insecure goes on "
			    "anyway)", sum ? sum : "certificate not trusted");
			fail_close(t, TESTER_STAGE_TLS, text);
			free(text);
		}
		free(sum);
	}
	tls_diag_free(&v);
	if (!ok)
		return;
	t->tls_up = 1;
	text = tls_session_describe(t->sess);
	emitf(t, TESTER_EV_INFO, "TLS established: %s", text);
	free(text);
	if (t->r->tls == REMOTE_TLS_SSL && t->banner == NULL) {
		t->state = TESTER_GREETING;
		io_set_deadline(t->io, deadline(t, TESTER_REPLY_MS));
		return;
	}
	tester_ready(t);
}

/* ---- replies ------------------------------------------------------- */

static int
is_reply_line(const char *s)
{
	return s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '-' ||
	    s[3] == '\0');
}

/* No reply outstanding: run the plan on, or tell the caller. */
static void
tester_ready(struct tester *t)
{
	if (t->state == TESTER_CLOSED)
		return;
	t->state = TESTER_READY;
	io_set_deadline(t->io, 0);
	if (t->plan_on && plan_next(t) == 0)
		return;
	emit(t, TESTER_EV_READY, 0, "");
}

/* EHLO keywords worth remembering: the AUTH mechanisms. */
static void
note_ehlo(struct tester *t, const char *text)
{
	if (ascii_strncasecmp(text, "AUTH", 4) == 0 &&
	    (text[4] == ' ' || text[4] == '=')) {
		buf_reset(&t->auth_mechs);
		buf_addstr(&t->auth_mechs, skip_ws(text + 5));
	}
}

static void
final_reply(struct tester *t, int code, const char *text)
{
	enum tester_cmd c;
	int positive = code >= 200 && code < 400;

	if (t->state == TESTER_GREETING) {
		free(t->banner);
		t->banner = xstrdup(text);
		if (code != 220) {
			fail_stage(t, TESTER_STAGE_BANNER);
			if (t->plan_on)
				plan_clear(t);
		}
		tester_ready(t);
		return;
	}
	c = pop_cmd(t);
	if (!positive) {
		fail_stage(t, cmd_stage(c));
		if (t->sasl != NULL) {
			sasl_client_free(t->sasl);
			t->sasl = NULL;
		}
		t->mask_next = 0;
		/* A plan stops at the first refusal; QUIT if it would. */
		if (t->plan_on) {
			t->step = t->p_quit ? STEP_QUIT : STEP_END;
			if (t->p_quit && c == CMD_QUIT)
				t->step = STEP_END;
		}
	} else if (c == CMD_STARTTLS && code == 220) {
		/* Plaintext after the 220 would be read as if it came
		 * through TLS: an injection attack (or a broken server). */
		if (io_pending(t->io) > 0) {
			fail_close(t, TESTER_STAGE_TLS, "the server sent data "
			    "after its 220 to STARTTLS: an injection attack "
			    "or a broken server; closing");
			return;
		}
		tls_begin(t);
		return;
	} else if ((c == CMD_AUTH || c == CMD_AUTH_STEP) && code == 334) {
		if (t->sasl != NULL)
			auth_challenge(t, skip_ws(text + 3));
		else
			t->mask_next = 1;
		if (t->ncmds == 0 && t->sasl == NULL) {
			t->state = TESTER_READY;
			io_set_deadline(t->io, 0);
			emit(t, TESTER_EV_READY, 0, "");
		}
		return;
	} else if (c == CMD_AUTH || c == CMD_AUTH_STEP) {
		t->authed = code == 235;
		sasl_client_free(t->sasl);
		t->sasl = NULL;
	} else if (c == CMD_QUIT) {
		/* The server closes next; give it a moment, then close. */
		t->closing = 1;
		plan_clear(t);
		t->state = TESTER_WAITING;
		io_set_deadline(t->io, deadline(t, TESTER_CONNECT_MS));
		return;
	} else if (c == CMD_DATA && code == 354) {
		t->state = TESTER_BODY;
		io_set_deadline(t->io, 0);
		if (t->plan_on && t->p_msg != NULL) {
			send_message(t);
			return;
		}
		emit(t, TESTER_EV_READY, 0, "");
		return;
	}
	if (t->ncmds == 0)
		tester_ready(t);
}

static void
read_replies(struct tester *t)
{
	const char *line;
	size_t len;
	enum io_line rc;
	char *s;
	int code;

	while (t->io != NULL && t->state != TESTER_HANDSHAKE &&
	    (rc = io_getline(t->io, &line, &len)) != IO_LINE_NONE) {
		if (rc == IO_LINE_TOOLONG) {
			emit(t, TESTER_EV_ERROR, 0, "a reply line over the "
			    "limit was skipped");
			continue;
		}
		s = xstrndup(line, len);
		rtrim(s);
		if (!is_reply_line(s)) {
			emit(t, TESTER_EV_REPLY, 0, s);
			if (t->state == TESTER_GREETING) {
				free(s);
				fail_close(t, TESTER_STAGE_BANNER, "the server "
				    "sent something that is not SMTP (a TLS "
				    "port? try --ssl)");
				return;
			}
			free(s);
			continue;
		}
		code = atoi(s);
		if (t->tls_up)
			t->tls_replied = 1;
		emit(t, TESTER_EV_REPLY, code, s);
		if (t->ncmds > 0 && t->cmds[t->cmd_head] == CMD_EHLO &&
		    code == 250 && strlen(s) > 4)
			note_ehlo(t, s + 4);
		if (s[3] == '-') {
			free(s);
			continue;
		}
		final_reply(t, code, s);
		free(s);
	}
}

/* ---- connecting ---------------------------------------------------- */

static void
connect_next(struct tester *t)
{
	struct sockaddr_storage *sa;
	char host[64];
	int port;

	while (t->next_addr < t->naddrs) {
		sa = &t->addrs[t->next_addr++];
		if (sa->ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (void *)sa;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
		} else {
			const struct sockaddr_in *s4 = (void *)sa;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		}
		t->io = io_connect((struct sockaddr *)sa, sa->ss_family ==
		    AF_INET6 ? sizeof(struct sockaddr_in6) :
		    sizeof(struct sockaddr_in), NULL, 0, tester_io_cb, t);
		if (t->io != NULL) {
			/* The state first: the event's reader shows it. */
			t->state = TESTER_CONNECTING;
			io_set_deadline(t->io, deadline(t, TESTER_CONNECT_MS));
			emitf(t, TESTER_EV_INFO, "connecting to %s port %d",
			    host, port);
			return;
		}
		emitf(t, TESTER_EV_ERROR, "connect to %s port %d: %s", host,
		    port, strerror(errno));
	}
	fail_close(t, TESTER_STAGE_CONNECT, "could not connect");
}

static void
dns_done(const struct dns_result *res, void *arg)
{
	struct tester *t = arg;
	char *why;

	t->dnsq = NULL;
	ev_timer_stop(t->dns_timer);
	if (res->status != DNS_OK || res->naddrs == 0) {
		xasprintf(&why, "cannot resolve %s: %s", t->r->host,
		    res->error ? res->error : "no address");
		fail_close(t, TESTER_STAGE_CONNECT, why);
		free(why);
		return;
	}
	t->addrs = xreallocarray(NULL, res->naddrs, sizeof(*t->addrs));
	memcpy(t->addrs, res->addrs, res->naddrs * sizeof(*t->addrs));
	t->naddrs = res->naddrs;
	connect_next(t);
}

static void
dns_timeout(void *arg)
{
	struct tester *t = arg;
	char *why;

	xasprintf(&why, "no DNS answer for %s in time", t->r->host);
	fail_close(t, TESTER_STAGE_CONNECT, why);
	free(why);
}

static enum tester_stage
waiting_stage(const struct tester *t)
{
	switch (t->state) {
	case TESTER_RESOLVING:
	case TESTER_CONNECTING:	return TESTER_STAGE_CONNECT;
	case TESTER_GREETING:	return TESTER_STAGE_BANNER;
	case TESTER_HANDSHAKE:	return TESTER_STAGE_TLS;
	default:
		if (t->ncmds > 0 && cmd_stage(t->cmds[t->cmd_head]) !=
		    TESTER_STAGE_NONE)
			return cmd_stage(t->cmds[t->cmd_head]);
		return TESTER_STAGE_OTHER;
	}
}

/* Close at the TLS stage with the engine's words (taken); 0 without. */
static int
fail_verdict(struct tester *t, char *words)
{
	char *text;

	if (words == NULL)
		return 0;
	xasprintf(&text, "TLS: %s", words);
	free(words);
	fail_close(t, TESTER_STAGE_TLS, text);
	free(text);
	return 1;
}

/*
 * A failed handshake in the engine's words (a plaintext greeting or a
 * hang-up on an --ssl port, old protocols, a client certificate the
 * server wanted). 1 when the session was closed with them.
 */
static int
tls_failed(struct tester *t)
{
	int rc = io_tls_error(t->io);

	return rc < 0 && fail_verdict(t, tls_client_judge(t->sess, rc,
	    verify_name(t), t->r));
}

/*
 * The server hung up after the handshake, before a reply under TLS: a
 * TLS 1.3 server that requires a client certificate only says so then.
 * 1 when the engine knew why and the session was closed with its words.
 */
static int
tls_closed(struct tester *t)
{
	return t->tls_up && !t->tls_replied && !t->closing &&
	    fail_verdict(t, tls_client_judge_close(t->sess, t->r));
}

static void
tester_io_cb(struct io *io, enum io_event ev, void *arg)
{
	struct tester *t = arg;
	char *why;

	(void)io;
	switch (ev) {
	case IO_CONNECTED:
		free(t->addrs);
		t->addrs = NULL;
		t->naddrs = 0;
		if (t->r->tls == REMOTE_TLS_SSL) {
			emitf(t, TESTER_EV_INFO, "connected to %s port %d",
			    io_peer_addr(t->io), io_peer_port(t->io));
			tls_begin(t);
			return;
		}
		t->state = TESTER_GREETING;
		io_set_deadline(t->io, deadline(t, TESTER_REPLY_MS));
		emitf(t, TESTER_EV_INFO, "connected to %s port %d",
		    io_peer_addr(t->io), io_peer_port(t->io));
		return;
	case IO_TLSREADY:
		tls_ready(t);
		return;
	case IO_DATAIN:
		read_replies(t);
		return;
	case IO_LOWAT:
		return;
	case IO_TIMEOUT:
		if (t->closing || (t->ncmds > 0 &&
		    t->cmds[t->cmd_head] == CMD_QUIT)) {
			finish(t, "closed after QUIT");
			return;
		}
		xasprintf(&why, "timed out waiting (%s)",
		    tester_stage_name(waiting_stage(t)));
		fail_close(t, waiting_stage(t), why);
		free(why);
		return;
	case IO_DISCONNECTED:
		read_replies(t);
		if (t->state == TESTER_CLOSED)
			return;
		/* After QUIT's 221 the close is the expected end. */
		if (t->closing) {
			finish(t, "connection closed by the server");
			return;
		}
		if (tls_closed(t))
			return;
		fail_close(t, waiting_stage(t), "connection closed by the "
		    "server");
		return;
	case IO_ERROR:
		if (t->state == TESTER_CONNECTING) {
			emitf(t, TESTER_EV_ERROR, "%s", io_error(t->io));
			io_free(t->io);
			t->io = NULL;
			connect_next(t);
			return;
		}
		if (t->state == TESTER_HANDSHAKE && tls_failed(t))
			return;
		if (tls_closed(t))
			return;
		xasprintf(&why, "%s", io_error(t->io));
		fail_close(t, waiting_stage(t), why);
		free(why);
		return;
	}
}

/* ---- the object ---------------------------------------------------- */

struct tester *
tester_new(const struct tester_config *cfg, tester_cb cb, void *arg)
{
	struct tester *t = xcalloc(1, sizeof(*t));

	t->cfg = *cfg;
	t->r = cfg->remote;
	if (t->cfg.helo == NULL)
		t->cfg.helo = "hikyaku.tester";
	t->cb = cb;
	t->arg = arg;
	t->dns_timer = ev_timer_new(dns_timeout, t);
	buf_init(&t->auth_mechs);
	buf_init(&t->transcript);
	return t;
}

void
tester_start(struct tester *t)
{
	struct sockaddr_storage sa;
	const char *addr = t->cfg.connect_addr;

	if (addr == NULL && dns_parse_literal(t->r->host, t->r->port,
	    &sa) == 0)
		addr = t->r->host;
	if (addr != NULL) {
		if (dns_parse_literal(addr, t->r->port, &sa) == -1) {
			fail_close(t, TESTER_STAGE_CONNECT, "--connect wants "
			    "an IP address");
			return;
		}
		t->addrs = xmalloc(sizeof(sa));
		t->addrs[0] = sa;
		t->naddrs = 1;
		connect_next(t);
		return;
	}
	t->state = TESTER_RESOLVING;
	emitf(t, TESTER_EV_INFO, "resolving %s", t->r->host);
	ev_timer_at(t->dns_timer, deadline(t, TESTER_CONNECT_MS));
	t->dnsq = dns_resolve_host(t->r->host, t->r->port, dns_done, t);
}

void
tester_cancel(struct tester *t)
{
	char *why;

	if (!tester_busy(t))
		return;
	if (t->closing) {
		finish(t, "closed after QUIT");
		return;
	}
	xasprintf(&why, "cancelled while waiting (%s)",
	    tester_stage_name(waiting_stage(t)));
	fail_stage(t, waiting_stage(t));
	finish(t, why);
	free(why);
}

void
tester_close(struct tester *t)
{
	if (t->closing)
		return;
	if (t->state == TESTER_READY && t->io != NULL) {
		plan_clear(t);
		send_cmd(t, CMD_QUIT, "QUIT", NULL);
		return;
	}
	finish(t, "closed");
}

int
tester_busy(const struct tester *t)
{
	switch (t->state) {
	case TESTER_RESOLVING:
	case TESTER_CONNECTING:
	case TESTER_GREETING:
	case TESTER_HANDSHAKE:
	case TESTER_WAITING:
		return 1;
	default:
		return 0;
	}
}

enum tester_state
tester_state(const struct tester *t)
{
	return t->state;
}

enum tester_stage
tester_failed(const struct tester *t)
{
	return t->failed;
}

const char *
tester_auth_mechs(const struct tester *t)
{
	return t->auth_mechs.data ? t->auth_mechs.data : "";
}

const char *
tester_transcript(const struct tester *t)
{
	return t->transcript.data ? t->transcript.data : "";
}

int
tester_save(const struct tester *t, const char *path, char **err)
{
	const char *s = tester_transcript(t);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		xasprintf(err, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	if (write_all(fd, s, strlen(s)) == -1) {
		xasprintf(err, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) == -1) {
		xasprintf(err, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void
tester_free(struct tester *t)
{
	if (t == NULL)
		return;
	drop_conn(t);
	plan_clear(t);
	ev_timer_free(t->dns_timer);
	free(t->addrs);
	free(t->banner);
	buf_free(&t->auth_mechs);
	buf_free(&t->transcript);
	free(t);
}
