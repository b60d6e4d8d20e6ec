/*
 * smtp_client: one outbound SMTP connection as an explicit state machine.
 * See smtp_client.h.
 *
 * Re-entrancy: io calls (io_flush, io_start_tls) and the owner's callback
 * may run nested code that fails or frees the session. Every entry point
 * holds s->busy; smtp_client_free() inside only marks the session, and
 * each caller checks alive() after anything that can call out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "dns.h"
#include "event.h"
#include "io.h"
#include "log.h"
#include "remotes.h"
#include "sasl.h"
#include "smtp_client.h"
#include "tls.h"
#include "tls_diag.h"
#include "util.h"

#define HAPPY_EYEBALLS_MS	250
#define BODY_CHUNK		16384
#define BODY_HIWAT		65536
#define BODY_MIN_RATE		10240	/* bytes/s the DATA deadline allows */
#define REPLY_MAX_LINES		100

struct attempt {
	struct attempt			*next;
	struct smtp_client_session	*s;
	struct io			*io;
	size_t				 idx;
};

enum later_action { LATER_NONE, LATER_START, LATER_MSG_DONE, LATER_CLOSED };

struct smtp_client_session {
	struct smtp_client_target target;
	const struct remote	*r;
	smtp_client_cb		 cb;
	void			*arg;
	enum smtp_client_state	 state;
	int			 busy, freed;

	/* Connecting. */
	struct dns_query	*dnsq;
	struct sockaddr_storage	*addrs;
	size_t			 naddrs, next_addr;
	struct attempt		*attempts;	/* still connecting */
	struct attempt		*conn;		/* the winner */
	struct io		*io;
	struct ev_timer		*he_timer;
	struct buf		 connect_errors;
	char			*host;		/* remote->host without [] */
	char			*relay;

	struct ev_timer		*later;
	enum later_action	 later_action;

	/* TLS. */
	struct tls_creds	*creds;
	gnutls_session_t	 tls_sess;	/* owned by io once started */
	char			*tls_desc;

	/* The reply being read. */
	int			 rcode;
	int			 rlines;
	struct buf		 rtext;

	/* EHLO capabilities. */
	int			 pipelining, size_ext, eightbit, smtputf8,
				 starttls;
	int64_t			 max_size;
	char			*auth_mechs;
	int			 authenticated;
	struct sasl_client	*sasl;

	/* The message in flight. */
	struct smtp_client_msg	*msg;
	size_t			 rcpt_sent, rcpt_replies, rcpt_ok;
	int			 mail_ok;
	int			 abort_data;	/* DATA got 354 with no rcpt */
	off_t			 body_off;
	int			 body_bol, body_eof;

	char			*error;
	int			 error_temp;
};

static const char *const state_names[] = {
	[SMTP_CLIENT_RESOLVING] = "RESOLVING",
	[SMTP_CLIENT_CONNECTING] = "CONNECTING",
	[SMTP_CLIENT_BANNER] = "BANNER",
	[SMTP_CLIENT_TLS_IMPLICIT] = "TLS_IMPLICIT",
	[SMTP_CLIENT_EHLO] = "EHLO",
	[SMTP_CLIENT_HELO] = "HELO",
	[SMTP_CLIENT_STARTTLS] = "STARTTLS",
	[SMTP_CLIENT_TLS_HANDSHAKE] = "TLS_HANDSHAKE",
	[SMTP_CLIENT_EHLO2] = "EHLO2",
	[SMTP_CLIENT_AUTH] = "AUTH",
	[SMTP_CLIENT_IDLE] = "IDLE",
	[SMTP_CLIENT_MAIL] = "MAIL",
	[SMTP_CLIENT_RCPT] = "RCPT",
	[SMTP_CLIENT_DATA] = "DATA",
	[SMTP_CLIENT_BODY] = "BODY",
	[SMTP_CLIENT_DOT] = "DOT",
	[SMTP_CLIENT_RSET] = "RSET",
	[SMTP_CLIENT_QUIT] = "QUIT",
	[SMTP_CLIENT_DISCONNECTED] = "DISCONNECTED",
};

static void	session_io(struct smtp_client_session *, enum io_event);
static void	after_ehlo(struct smtp_client_session *);
static void	body_fill(struct smtp_client_session *);

const char *
smtp_client_state_name(enum smtp_client_state st)
{
	if ((size_t)st < nitems(state_names) && state_names[st] != NULL)
		return state_names[st];
	return "?";
}

static const char *
peer_name(const struct smtp_client_session *s)
{
	return s->relay ? s->relay : s->host;
}

static void
enter(struct smtp_client_session *s, enum smtp_client_state st)
{
	log_debug("smtp client %s: %s -> %s", peer_name(s),
	    smtp_client_state_name(s->state), smtp_client_state_name(st));
	s->state = st;
}

static int
alive(const struct smtp_client_session *s)
{
	return !s->freed && s->state != SMTP_CLIENT_DISCONNECTED;
}

static void	close_io(struct smtp_client_session *);

static void
destroy(struct smtp_client_session *s)
{
	close_io(s);
	ev_timer_free(s->he_timer);
	ev_timer_free(s->later);
	sasl_client_free(s->sasl);
	/* The io deinited the session it owned; the creds outlive it. */
	tls_creds_put(s->creds);
	buf_free(&s->connect_errors);
	buf_free(&s->rtext);
	free(s->addrs);
	free(s->host);
	free(s->relay);
	free(s->tls_desc);
	free(s->auth_mechs);
	free(s->error);
	free(s);
}

static void
hold(struct smtp_client_session *s)
{
	s->busy++;
}

static void
release(struct smtp_client_session *s)
{
	if (--s->busy == 0 && s->freed)
		destroy(s);
}

/* Call the owner; 0 if the session is gone or closed afterwards. */
static int
emit(struct smtp_client_session *s, enum smtp_client_event ev,
    struct smtp_client_msg *msg)
{
	hold(s);
	s->cb(s, ev, msg, s->arg);
	s->busy--;
	return alive(s);
}

static uint64_t
timeout_ms(const struct smtp_client_session *s)
{
	return (uint64_t)(s->target.timeout > 0 ? s->target.timeout : 300) *
	    1000;
}

/* Deadlines cover a whole command, not idle time (DESIGN §4). */
static void
set_deadline(struct smtp_client_session *s, uint64_t extra_ms)
{
	io_set_deadline(s->io, ev_now() + timeout_ms(s) + extra_ms);
}

static void
close_io(struct smtp_client_session *s)
{
	struct attempt *a;

	while ((a = s->attempts) != NULL) {
		s->attempts = a->next;
		io_free(a->io);
		free(a);
	}
	if (s->conn != NULL) {
		io_free(s->conn->io);
		free(s->conn);
		s->conn = NULL;
		s->io = NULL;
		s->tls_sess = NULL;	/* the io deinited it */
	}
	dns_cancel(s->dnsq);
	s->dnsq = NULL;
	ev_timer_stop(s->he_timer);
}

static void
result_set(struct smtp_client_rcpt_result *res, int code, const char *enh,
    const char *text, int temporary)
{
	free(res->reply);
	res->code = code;
	snprintf(res->enhanced, sizeof(res->enhanced), "%s", enh ? enh : "");
	res->reply = xstrdup(text);
	res->temporary = temporary;
}

/* The reply without its code: "5.1.1 User unknown". */
static const char *
reply_text(const struct smtp_client_session *s)
{
	return s->rtext.len > 4 ? s->rtext.data + 4 : "";
}

/* Enhanced status code at the start of a reply text ("5.1.1"), or "". */
static void
parse_enhanced(const char *text, char *out, size_t len)
{
	size_t n;

	out[0] = '\0';
	if ((text[0] != '2' && text[0] != '4' && text[0] != '5') ||
	    text[1] != '.')
		return;
	n = strspn(text, "0123456789.");
	if (n < 5 || n >= len || (text[n] != ' ' && text[n] != '\0'))
		return;
	memcpy(out, text, n);
	out[n] = '\0';
}

/* Give every recipient without a result this one. */
static void
results_fill_rest(struct smtp_client_session *s, int code, const char *enh,
    const char *text, int temporary)
{
	size_t i;

	if (s->msg == NULL)
		return;
	for (i = 0; i < s->msg->nrcpt; i++)
		if (s->msg->results[i].reply == NULL)
			result_set(&s->msg->results[i], code, enh, text,
			    temporary);
}

/* Fill from the current reply every recipient whose RCPT was accepted. */
static void
results_from_reply(struct smtp_client_session *s)
{
	char enh[16];

	parse_enhanced(reply_text(s), enh, sizeof(enh));
	results_fill_rest(s, s->rcode, enh, s->rtext.data, s->rcode / 100 ==
	    4);
}

/*
 * A connection-level failure: record it, give an in-flight message its
 * results, close, and tell the owner.
 */
static void
fail(struct smtp_client_session *s, int temporary, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct smtp_client_session *s, int temporary, const char *fmt, ...)
{
	struct smtp_client_msg *msg = s->msg;
	va_list ap;

	free(s->error);
	va_start(ap, fmt);
	xvasprintf(&s->error, fmt, ap);
	va_end(ap);
	s->error_temp = temporary;
	/* Every error names the remote itself (it is also the message's
	 * "last error" in the queue). */
	log_info("smtp client: %s", s->error);
	results_fill_rest(s, 0, temporary ? "4.4.2" : "5.4.0", s->error,
	    temporary);
	s->msg = NULL;
	close_io(s);
	enter(s, SMTP_CLIENT_DISCONNECTED);
	emit(s, SMTP_CLIENT_FAILED, msg);
}

static void
fail_reply(struct smtp_client_session *s, const char *what)
{
	fail(s, 1, "%s: %s said: %s", what, peer_name(s), s->rtext.data);
}

/* A TLS failure in the diagnosis engine's words, with its fix. */
static void
fail_tls(struct smtp_client_session *s, const char *words)
{
	fail(s, 1, "TLS with %s: %s", peer_name(s), words);
}

/* The engine judged what was seen on the wire instead of TLS. */
static void
fail_verdict(struct smtp_client_session *s, struct tls_verdict *v)
{
	char *words = tls_diag_explain(v);

	fail_tls(s, words ? words : "TLS could not start");
	free(words);
	tls_diag_free(v);
}

static void
later(struct smtp_client_session *s, enum later_action act)
{
	s->later_action = act;
	ev_timer_after(s->later, 0);
}

static void
send_line(struct smtp_client_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Queue a command line. Outside an io callback this writes at once and a
 * write error fails the session on the spot, so callers set state and
 * deadline first and touch nothing after it.
 */
static void
send_line(struct smtp_client_session *s, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	/* Everything sent during AUTH may carry a secret. */
	if (s->state == SMTP_CLIENT_AUTH)
		log_debug("smtp client %s: > %s", peer_name(s),
		    strncmp(line, "AUTH ", 5) == 0 ? "AUTH ****" : "****");
	else
		log_debug("smtp client %s: > %s", peer_name(s), line);
	io_printf(s->io, "%s\r\n", line);
	free(line);
}

/* ---- connecting ---- */

static void	attempt_cb(struct io *, enum io_event, void *);

static socklen_t
sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static void
sa_ntop(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    buf, len);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    buf, len);
}

static void
connect_error(struct smtp_client_session *s, size_t idx, const char *why)
{
	char ip[INET6_ADDRSTRLEN];

	sa_ntop(&s->addrs[idx], ip, sizeof(ip));
	buf_printf(&s->connect_errors, "%s%s: %s",
	    s->connect_errors.len ? "; " : "", ip, why);
}

/* Start connecting to the next address; 0 when none is left. */
static int
attempt_next(struct smtp_client_session *s)
{
	struct sockaddr_storage src;
	struct attempt *a;
	struct io *io;
	size_t idx;
	int have_src = 0;

	if (s->r->source != NULL && *s->r->source != '\0') {
		if (dns_parse_literal(s->r->source, 0, &src) == -1) {
			buf_printf(&s->connect_errors, "%s--source %s is not "
			    "an IP address", s->connect_errors.len ? "; " :
			    "", s->r->source);
			s->next_addr = s->naddrs;
			return 0;
		}
		have_src = 1;
	}
	while (s->next_addr < s->naddrs) {
		idx = s->next_addr++;
		if (have_src && src.ss_family != s->addrs[idx].ss_family) {
			connect_error(s, idx, "not the address family of "
			    "--source");
			continue;
		}
		a = xcalloc(1, sizeof(*a));
		a->s = s;
		a->idx = idx;
		io = io_connect((struct sockaddr *)&s->addrs[idx],
		    sa_len(&s->addrs[idx]), have_src ?
		    (struct sockaddr *)&src : NULL, have_src ? sa_len(&src) : 0,
		    attempt_cb, a);
		if (io == NULL) {
			connect_error(s, idx, strerror(errno));
			free(a);
			continue;
		}
		a->io = io;
		a->next = s->attempts;
		s->attempts = a;
		io_set_deadline(io, ev_now() + timeout_ms(s));
		if (s->next_addr < s->naddrs)
			ev_timer_after(s->he_timer, HAPPY_EYEBALLS_MS);
		return 1;
	}
	return 0;
}

static void
connect_failed_all(struct smtp_client_session *s)
{
	fail(s, 1, "cannot connect to %s port %d: %s", s->host, s->r->port,
	    s->connect_errors.len ? s->connect_errors.data : "no address");
}

static void
he_timer_cb(void *arg)
{
	struct smtp_client_session *s = arg;

	hold(s);
	if (s->state == SMTP_CLIENT_CONNECTING && !attempt_next(s) &&
	    s->attempts == NULL)
		connect_failed_all(s);
	release(s);
}

static void
connected(struct smtp_client_session *s, struct attempt *win)
{
	struct attempt **pp, *a;
	char ip[INET6_ADDRSTRLEN];

	for (pp = &s->attempts; (a = *pp) != NULL;) {
		*pp = a->next;
		if (a != win) {
			io_free(a->io);
			free(a);
		}
	}
	ev_timer_stop(s->he_timer);
	s->conn = win;
	s->io = win->io;
	sa_ntop(&s->addrs[win->idx], ip, sizeof(ip));
	free(s->relay);
	xasprintf(&s->relay, "%s[%s]:%d", s->host, ip, s->r->port);
	if (s->r->tls == REMOTE_TLS_SSL) {
		char *err = NULL;

		if ((s->creds = tls_creds_get(s->r, &err)) == NULL ||
		    tls_client_session(&s->tls_sess, s->creds, s->host,
		    s->r->insecure, &err) == -1) {
			fail(s, 1, "TLS with %s: %s", peer_name(s), err);
			free(err);
			return;
		}
		enter(s, SMTP_CLIENT_TLS_IMPLICIT);
		set_deadline(s, 0);
		io_start_tls(s->io, s->tls_sess);
		return;
	}
	enter(s, SMTP_CLIENT_BANNER);
	set_deadline(s, 0);
}

static void
start_addrs(struct smtp_client_session *s)
{
	enter(s, SMTP_CLIENT_CONNECTING);
	if (!attempt_next(s))
		connect_failed_all(s);
}

static void
dns_done(const struct dns_result *res, void *arg)
{
	struct smtp_client_session *s = arg;

	hold(s);
	s->dnsq = NULL;
	if (res->status != DNS_OK) {
		fail(s, 1, "%s", res->error);
	} else {
		s->addrs = xcalloc(res->naddrs, sizeof(*s->addrs));
		memcpy(s->addrs, res->addrs, res->naddrs * sizeof(*s->addrs));
		s->naddrs = res->naddrs;
		start_addrs(s);
	}
	release(s);
}

static void
start(struct smtp_client_session *s)
{
	struct sockaddr_storage ss;

	if (s->target.naddrs > 0) {
		s->addrs = xcalloc(s->target.naddrs, sizeof(*s->addrs));
		memcpy(s->addrs, s->target.addrs,
		    s->target.naddrs * sizeof(*s->addrs));
		s->naddrs = s->target.naddrs;
		start_addrs(s);
	} else if (dns_parse_literal(s->host, s->r->port, &ss) == 0) {
		s->addrs = xmalloc(sizeof(*s->addrs));
		s->addrs[0] = ss;
		s->naddrs = 1;
		start_addrs(s);
	} else
		s->dnsq = dns_resolve_host(s->host, s->r->port, dns_done, s);
}

static void
attempt_cb(struct io *io, enum io_event ev, void *arg)
{
	struct attempt *a = arg, **pp;
	struct smtp_client_session *s = a->s;

	hold(s);
	if (s->conn == a) {
		session_io(s, ev);
	} else if (ev == IO_CONNECTED) {
		connected(s, a);
	} else if (ev == IO_ERROR || ev == IO_TIMEOUT ||
	    ev == IO_DISCONNECTED) {
		connect_error(s, a->idx, io_error(io));
		for (pp = &s->attempts; *pp != a; pp = &(*pp)->next)
			;
		*pp = a->next;
		io_free(io);
		free(a);
		/* A failure need not wait for the happy-eyeballs delay. */
		if (!attempt_next(s) && s->attempts == NULL)
			connect_failed_all(s);
	}
	release(s);
}

/* ---- replies ---- */

static void
parse_ehlo_line(struct smtp_client_session *s, const char *line)
{
	char word[32];
	size_t n = strcspn(line, " =");
	const char *arg;

	if (n >= sizeof(word))
		return;
	memcpy(word, line, n);
	word[n] = '\0';
	arg = line[n] ? skip_ws(line + n + 1) : "";
	if (ascii_strcasecmp(word, "PIPELINING") == 0)
		s->pipelining = 1;
	else if (ascii_strcasecmp(word, "8BITMIME") == 0)
		s->eightbit = 1;
	else if (ascii_strcasecmp(word, "SMTPUTF8") == 0)
		s->smtputf8 = 1;
	else if (ascii_strcasecmp(word, "STARTTLS") == 0)
		s->starttls = 1;
	else if (ascii_strcasecmp(word, "SIZE") == 0) {
		s->size_ext = 1;
		s->max_size = strtoll(arg, NULL, 10);
	} else if (ascii_strcasecmp(word, "AUTH") == 0) {
		/* Old servers also send "AUTH=LOGIN"; merge both lists. */
		if (s->auth_mechs == NULL)
			s->auth_mechs = xstrdup(arg);
		else {
			char *m;

			xasprintf(&m, "%s %s", s->auth_mechs, arg);
			free(s->auth_mechs);
			s->auth_mechs = m;
		}
	}
}

static void
caps_reset(struct smtp_client_session *s)
{
	s->pipelining = s->size_ext = s->eightbit = 0;
	s->smtputf8 = s->starttls = 0;
	s->max_size = 0;
	free(s->auth_mechs);
	s->auth_mechs = NULL;
}

static void	handle_reply(struct smtp_client_session *);

/*
 * Read complete replies. One reply at a time is handed to handle_reply();
 * with PIPELINING several are usually waiting.
 */
static void
read_replies(struct smtp_client_session *s)
{
	const char *line;
	size_t len;
	enum io_line rc;
	int code;

	while (alive(s) && s->io != NULL &&
	    (rc = io_getline(s->io, &line, &len)) != IO_LINE_NONE) {
		if (rc == IO_LINE_TOOLONG) {
			fail(s, 1, "protocol error: %s sent an overlong reply "
			    "line", peer_name(s));
			return;
		}
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			len--;
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (len > 3 && line[3] != ' ' &&
		    line[3] != '-')) {
			fail(s, 1, "protocol error: %s sent \"%.*s\"",
			    peer_name(s), (int)(len > 80 ? 80 : len), line);
			return;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (s->rlines == 0) {
			s->rcode = code;
			buf_reset(&s->rtext);
			buf_add(&s->rtext, line, len > 3 ? 3 : len);
		} else if (code != s->rcode) {
			fail(s, 1, "protocol error: %s changed the reply code "
			    "inside a multi-line reply", peer_name(s));
			return;
		}
		if (s->rlines++ < REPLY_MAX_LINES && len > 4) {
			buf_addch(&s->rtext, ' ');
			buf_add(&s->rtext, line + 4, len - 4);
		}
		/* EHLO keywords are the lines after the first. */
		if ((s->state == SMTP_CLIENT_EHLO ||
		    s->state == SMTP_CLIENT_EHLO2) && s->rlines > 1 &&
		    len > 4) {
			char *kw = xstrndup(line + 4, len - 4);

			parse_ehlo_line(s, kw);
			free(kw);
		}
		if (len > 3 && line[3] == '-')
			continue;
		s->rlines = 0;
		log_debug("smtp client %s: < %s", peer_name(s),
		    s->rtext.data);
		handle_reply(s);
	}
}

/* ---- session set-up ---- */

static void
send_ehlo(struct smtp_client_session *s, enum smtp_client_state st)
{
	caps_reset(s);
	enter(s, st);
	set_deadline(s, 0);
	send_line(s, "EHLO %s", s->target.helo_name);
}

static void
become_idle(struct smtp_client_session *s)
{
	io_set_deadline(s->io, 0);
	enter(s, SMTP_CLIENT_IDLE);
}

static int
has_credentials(const struct smtp_client_session *s)
{
	return s->r->user != NULL;
}

/*
 * Opportunistic TLS (smtp_tls = may) protects against passive listeners
 * only: an unverifiable certificate must not stop mail that would
 * otherwise go in plaintext. A hop sent credentials is verified all the
 * same (DESIGN §12).
 */
static int
tls_unverified(const struct smtp_client_session *s)
{
	return s->r->insecure ||
	    (s->r->tls == REMOTE_TLS_MAY && !has_credentials(s));
}

static void
start_auth(struct smtp_client_session *s)
{
	char *pass, *err = NULL, *ir = NULL;

	if (s->auth_mechs == NULL && !s->r->auth_login) {
		fail(s, 1, "%s offers no AUTH, but %s line %d gives --user",
		    peer_name(s), s->r->file ? s->r->file : "remotes",
		    s->r->line);
		return;
	}
	if ((pass = remote_password(s->r, &err)) == NULL) {
		fail(s, 1, "AUTH with %s: %s", peer_name(s), err);
		free(err);
		return;
	}
	s->sasl = sasl_client_new(s->auth_mechs, s->r->user, pass,
	    s->r->auth_login, s->host, &err);
	explicit_bzero(pass, strlen(pass));
	free(pass);
	if (s->sasl == NULL ||
	    sasl_client_step(s->sasl, NULL, &ir, &err) == SASL_STEP_ERROR) {
		fail(s, 1, "AUTH with %s: %s", peer_name(s), err);
		free(err);
		return;
	}
	enter(s, SMTP_CLIENT_AUTH);
	set_deadline(s, 0);
	if (ir == NULL)
		send_line(s, "AUTH %s", sasl_client_mech(s->sasl));
	else
		/* RFC 4954: "=" is an empty initial response. */
		send_line(s, "AUTH %s %s", sasl_client_mech(s->sasl),
		    *ir ? ir : "=");
	if (ir != NULL)
		explicit_bzero(ir, strlen(ir));
	free(ir);
}

static void
after_ehlo(struct smtp_client_session *s)
{
	int tls_up = s->tls_sess != NULL;
	int want_tls = s->r->tls == REMOTE_TLS_STARTTLS ||
	    (s->r->tls == REMOTE_TLS_MAY && s->starttls) ||
	    (has_credentials(s) && (s->r->tls == REMOTE_TLS_NONE ||
	    s->r->tls == REMOTE_TLS_MAY) &&
	    (s->starttls || !s->r->allow_plaintext_auth));

	if (!tls_up && want_tls) {
		if (!s->starttls) {
			if (s->r->tls == REMOTE_TLS_STARTTLS) {
				struct tls_verdict v;

				tls_diag_init(&v);
				tls_diag_no_starttls(&v, s->r);
				fail_verdict(s, &v);
			} else
				fail(s, 1, "%s does not offer STARTTLS: "
				    "credentials are never sent in the clear "
				    "(use --ssl or --starttls with a port that "
				    "offers TLS, or --allow-plaintext-auth)",
				    peer_name(s));
			return;
		}
		enter(s, SMTP_CLIENT_STARTTLS);
		set_deadline(s, 0);
		send_line(s, "STARTTLS");
		return;
	}
	if (has_credentials(s) && !s->authenticated) {
		start_auth(s);
		return;
	}
	become_idle(s);
	emit(s, SMTP_CLIENT_READY, NULL);
}

/*
 * The handshake verified the chain and the name (unless unverified);
 * weak keys and SHA-1 signatures, which GnuTLS lets through, are judged
 * here and refused like any bad certificate, before anything is sent
 * (help/tls.md). A verified chain needs only that judgement, not a second
 * verification; unverified sessions get the whole diagnosis, and only
 * log what is wrong.
 */
static void
tls_ready(struct smtp_client_session *s)
{
	struct tls_verdict v;
	char *why;

	free(s->tls_desc);
	s->tls_desc = tls_session_describe(s->tls_sess);
	if (!tls_unverified(s)) {
		tls_diag_init(&v);
		tls_diag_strength(&v, s->tls_sess);
		why = tls_diag_explain(&v);
		tls_diag_free(&v);
		if (why != NULL) {
			fail_tls(s, why);
			free(why);
			return;
		}
	} else if ((why = tls_client_judge(s->tls_sess, 0, s->host,
	    s->r)) != NULL) {
		if (s->r->insecure)
			log_warn("smtp client %s: certificate not verified "
			    "(--insecure): %s", peer_name(s), why);
		else
			log_info("smtp client %s: opportunistic TLS "
			    "(smtp_tls = may), certificate not verified: %s",
			    peer_name(s), why);
		free(why);
	}
	log_debug("smtp client %s: TLS up, %s", peer_name(s), s->tls_desc);
	if (s->state == SMTP_CLIENT_TLS_IMPLICIT) {
		enter(s, SMTP_CLIENT_BANNER);
		set_deadline(s, 0);
	} else
		send_ehlo(s, SMTP_CLIENT_EHLO2);
}

static void
tls_failed(struct smtp_client_session *s)
{
	int rc = io_tls_error(s->io);
	char *words = NULL;

	/* A verification failure ends the handshake with a generic error;
	 * the session (still alive inside the io) knows what failed, and a
	 * plaintext greeting on an --ssl port shows in the error code. */
	if (s->tls_sess != NULL && rc < 0)
		words = tls_client_judge(s->tls_sess, rc, s->host, s->r);
	if (words != NULL) {
		fail_tls(s, words);
		free(words);
	} else
		fail_tls(s, io_error(s->io));
}

static void
lost_connection(struct smtp_client_session *s)
{
	fail(s, 1, "lost connection with %s in state %s: %s", peer_name(s),
	    smtp_client_state_name(s->state), io_error(s->io));
}

/* TLS is up and the server has not answered under it yet. */
static int
first_tls_reply_pending(const struct smtp_client_session *s)
{
	return io_tls(s->io) != NULL && (s->state == SMTP_CLIENT_EHLO2 ||
	    s->state == SMTP_CLIENT_BANNER);
}

/*
 * The server hung up right after the handshake: a TLS 1.3 server that
 * requires a client certificate finds none only then, so the handshake
 * looked fine. The engine tells that from a plain lost connection.
 */
static void
tls_closed(struct smtp_client_session *s)
{
	char *words = tls_client_judge_close(s->tls_sess, s->r);

	if (words == NULL) {
		lost_connection(s);
		return;
	}
	fail_tls(s, words);
	free(words);
}

static void
start_tls(struct smtp_client_session *s)
{
	char *err = NULL;

	/* Bytes after the 220 were sent before the handshake and would be
	 * read as if protected by it: a STARTTLS injection attack. */
	if (io_pending(s->io) > 0) {
		fail(s, 1, "TLS: %s sent data after its 220 to STARTTLS "
		    "(STARTTLS injection?)", peer_name(s));
		return;
	}
	if ((s->creds == NULL &&
	    (s->creds = tls_creds_get(s->r, &err)) == NULL) ||
	    tls_client_session(&s->tls_sess, s->creds, s->host,
	    tls_unverified(s), &err) == -1) {
		fail(s, 1, "TLS with %s: %s", peer_name(s), err);
		free(err);
		return;
	}
	enter(s, SMTP_CLIENT_TLS_HANDSHAKE);
	set_deadline(s, 0);
	io_start_tls(s->io, s->tls_sess);
}

static void
auth_reply(struct smtp_client_session *s)
{
	char *out = NULL, *err = NULL;

	if (s->rcode == 235) {
		s->authenticated = 1;
		log_debug("smtp client %s: authenticated with %s",
		    peer_name(s), sasl_client_mech(s->sasl));
		sasl_client_free(s->sasl);
		s->sasl = NULL;
		become_idle(s);
		emit(s, SMTP_CLIENT_READY, NULL);
		return;
	}
	if (s->rcode != 334) {
		fail(s, 1, "AUTH %s failed: %s said: %s",
		    sasl_client_mech(s->sasl), peer_name(s), s->rtext.data);
		return;
	}
	if (sasl_client_step(s->sasl, reply_text(s), &out, &err) ==
	    SASL_STEP_ERROR) {
		/* Cancel the exchange as RFC 4954 says, then give up. */
		io_write(s->io, "*\r\n", 3);
		if (alive(s))
			fail(s, 1, "%s: %s", peer_name(s), err);
		free(err);
		return;
	}
	set_deadline(s, 0);
	send_line(s, "%s", out);
	explicit_bzero(out, strlen(out));
	free(out);
}

/* ---- transactions ---- */

static void
msg_done(struct smtp_client_session *s)
{
	struct smtp_client_msg *msg = s->msg;

	s->msg = NULL;
	become_idle(s);
	emit(s, SMTP_CLIENT_MSG_DONE, msg);
}

/* End a transaction the server may still hold open. */
static void
send_rset(struct smtp_client_session *s)
{
	enter(s, SMTP_CLIENT_RSET);
	set_deadline(s, 0);
	send_line(s, "RSET");
}

static void
send_rcpt(struct smtp_client_session *s)
{
	send_line(s, "RCPT TO:<%s>", s->msg->rcpts[s->rcpt_sent++]);
}

static void
send_mail(struct smtp_client_session *s)
{
	struct smtp_client_msg *m = s->msg;
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "MAIL FROM:<%s>", m->sender);
	if (s->size_ext)
		buf_printf(&b, " SIZE=%lld", (long long)m->size);
	if (m->body_8bit && s->eightbit)
		buf_addstr(&b, " BODY=8BITMIME");
	if (m->smtputf8)
		buf_addstr(&b, " SMTPUTF8");
	log_debug("smtp client %s: > %s", peer_name(s), b.data);
	buf_addstr(&b, "\r\n");
	if (s->pipelining) {
		/* RFC 2920: MAIL, every RCPT and DATA in one write. */
		while (s->rcpt_sent < m->nrcpt) {
			log_debug("smtp client %s: > RCPT TO:<%s>",
			    peer_name(s), m->rcpts[s->rcpt_sent]);
			buf_printf(&b, "RCPT TO:<%s>\r\n",
			    m->rcpts[s->rcpt_sent++]);
		}
		log_debug("smtp client %s: > DATA", peer_name(s));
		buf_addstr(&b, "DATA\r\n");
	}
	enter(s, SMTP_CLIENT_MAIL);
	set_deadline(s, 0);
	io_write(s->io, b.data, b.len);
	buf_free(&b);
}

static void
start_body(struct smtp_client_session *s)
{
	enter(s, SMTP_CLIENT_BODY);
	s->body_off = 0;
	s->body_bol = 1;
	s->body_eof = 0;
	set_deadline(s, (uint64_t)s->msg->size * 1000 / BODY_MIN_RATE);
	body_fill(s);
}

/*
 * Stream the message with dot-stuffing until the socket pushes back, then
 * wait for IO_LOWAT. Explicit flushes tell us whether it pushed back: an
 * output buffer written out at once produces no IO_LOWAT.
 */
static void
body_fill(struct smtp_client_session *s)
{
	char in[BODY_CHUNK];
	struct buf out;
	ssize_t n, i, run;

	buf_init(&out);
	while (alive(s) && s->state == SMTP_CLIENT_BODY &&
	    io_queued(s->io) < BODY_HIWAT) {
		if (s->body_eof) {
			/* The file should end in CRLF; if not, end the line
			 * so the dot stands alone. */
			log_debug("smtp client %s: > .", peer_name(s));
			enter(s, SMTP_CLIENT_DOT);
			set_deadline(s, 0);
			if (s->body_bol)
				io_write(s->io, ".\r\n", 3);
			else
				io_write(s->io, "\r\n.\r\n", 5);
			break;
		}
		n = pread(s->msg->msg_fd, in, sizeof(in), s->body_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fail(s, 1, "cannot read the message file: %s",
			    strerror(errno));
			break;
		}
		if (n == 0) {
			s->body_eof = 1;
			continue;
		}
		s->body_off += n;
		buf_reset(&out);
		for (i = 0; i < n; i += run) {
			if (s->body_bol && in[i] == '.')
				buf_addch(&out, '.');
			run = 1;
			while (i + run < n && in[i + run - 1] != '\n')
				run++;
			buf_add(&out, in + i, (size_t)run);
			s->body_bol = in[i + run - 1] == '\n';
		}
		io_write(s->io, out.data, out.len);
		if (alive(s))
			io_flush(s->io);
	}
	buf_free(&out);
}

static void
mail_reply(struct smtp_client_session *s)
{
	char enh[16];

	s->mail_ok = s->rcode / 100 == 2;
	if (!s->mail_ok) {
		parse_enhanced(reply_text(s), enh, sizeof(enh));
		results_fill_rest(s, s->rcode, enh, s->rtext.data,
		    s->rcode / 100 == 4);
		if (!s->pipelining) {
			send_rset(s);
			return;
		}
	}
	enter(s, SMTP_CLIENT_RCPT);
	set_deadline(s, 0);
	if (s->mail_ok && !s->pipelining)
		send_rcpt(s);
}

static void
rcpt_reply(struct smtp_client_session *s)
{
	struct smtp_client_msg *m = s->msg;
	size_t i = s->rcpt_replies++;
	char enh[16];

	if (s->rcode / 100 == 2)
		s->rcpt_ok++;
	else if (m->results[i].reply == NULL) {
		parse_enhanced(reply_text(s), enh, sizeof(enh));
		result_set(&m->results[i], s->rcode, enh, s->rtext.data,
		    s->rcode / 100 == 4);
	}
	if (s->rcpt_replies < m->nrcpt) {
		set_deadline(s, 0);
		if (!s->pipelining)
			send_rcpt(s);
		return;
	}
	if (!s->pipelining && s->rcpt_ok == 0) {
		send_rset(s);
		return;
	}
	enter(s, SMTP_CLIENT_DATA);
	set_deadline(s, 0);
	if (!s->pipelining)
		send_line(s, "DATA");
}

static void
data_reply(struct smtp_client_session *s)
{
	if (s->rcode == 354 && (!s->mail_ok || s->rcpt_ok == 0)) {
		/* A pipelined DATA the server accepted although nobody is
		 * left to receive it: end it empty, ignore the outcome. */
		s->abort_data = 1;
		enter(s, SMTP_CLIENT_DOT);
		set_deadline(s, 0);
		io_write(s->io, ".\r\n", 3);
		return;
	}
	if (s->rcode == 354) {
		start_body(s);
		return;
	}
	if (s->mail_ok)
		results_from_reply(s);
	send_rset(s);
}

static void
dot_reply(struct smtp_client_session *s)
{
	if (!s->abort_data)
		results_from_reply(s);
	s->abort_data = 0;
	msg_done(s);
}

static void
handle_reply(struct smtp_client_session *s)
{
	switch (s->state) {
	case SMTP_CLIENT_BANNER:
		if (s->rcode != 220) {
			fail_reply(s, "greeting refused");
			return;
		}
		send_ehlo(s, SMTP_CLIENT_EHLO);
		return;
	case SMTP_CLIENT_EHLO:
	case SMTP_CLIENT_EHLO2:
		if (s->rcode == 250)
			after_ehlo(s);
		else if (s->state == SMTP_CLIENT_EHLO &&
		    s->rcode / 100 == 5 && s->r->tls != REMOTE_TLS_STARTTLS &&
		    !has_credentials(s)) {
			/* RFC 5321 3.2: an old server, HELO then. Nothing
			 * we need STARTTLS or AUTH for can follow. */
			caps_reset(s);
			enter(s, SMTP_CLIENT_HELO);
			set_deadline(s, 0);
			send_line(s, "HELO %s", s->target.helo_name);
		} else
			fail_reply(s, "EHLO refused");
		return;
	case SMTP_CLIENT_HELO:
		if (s->rcode != 250) {
			fail_reply(s, "HELO refused");
			return;
		}
		after_ehlo(s);
		return;
	case SMTP_CLIENT_STARTTLS:
		if (s->rcode != 220 && s->r->tls == REMOTE_TLS_MAY &&
		    !has_credentials(s)) {
			/* Opportunistic: plaintext is what we would have
			 * done had it not been offered. */
			log_info("smtp client %s: STARTTLS refused (%d), "
			    "going on without TLS (smtp_tls = may)",
			    peer_name(s), s->rcode);
			s->starttls = 0;
			after_ehlo(s);
			return;
		}
		if (s->rcode != 220) {
			fail_reply(s, "STARTTLS refused");
			return;
		}
		start_tls(s);
		return;
	case SMTP_CLIENT_AUTH:
		auth_reply(s);
		return;
	case SMTP_CLIENT_MAIL:
		mail_reply(s);
		return;
	case SMTP_CLIENT_RCPT:
		rcpt_reply(s);
		return;
	case SMTP_CLIENT_DATA:
		data_reply(s);
		return;
	case SMTP_CLIENT_DOT:
		dot_reply(s);
		return;
	case SMTP_CLIENT_RSET:
		/* Whatever RSET answers, the transaction is over. */
		msg_done(s);
		return;
	case SMTP_CLIENT_QUIT:
		close_io(s);
		enter(s, SMTP_CLIENT_DISCONNECTED);
		emit(s, SMTP_CLIENT_CLOSED, NULL);
		return;
	case SMTP_CLIENT_IDLE:
		/* Typically "421 shutting down" between transactions. */
		fail_reply(s, "connection dropped while idle");
		return;
	default:
		fail(s, 1, "protocol error: %s replied out of turn: %s",
		    peer_name(s), s->rtext.data);
		return;
	}
}

static void
session_io(struct smtp_client_session *s, enum io_event ev)
{
	switch (ev) {
	case IO_TLSREADY:
		tls_ready(s);
		return;
	case IO_DATAIN:
		read_replies(s);
		return;
	case IO_LOWAT:
		if (s->state == SMTP_CLIENT_BODY)
			body_fill(s);
		return;
	case IO_CONNECTED:
		return;
	case IO_TIMEOUT:
		/* Not a byte of greeting while STARTTLS is expected: the port
		 * waits for a TLS handshake (465), as the check says. */
		if (s->state == SMTP_CLIENT_BANNER &&
		    s->r->tls == REMOTE_TLS_STARTTLS && io_pending(s->io) == 0) {
			struct tls_verdict v;

			tls_diag_init(&v);
			tls_diag_port_is_tls(&v, s->r, NULL);
			fail_verdict(s, &v);
			return;
		}
		fail(s, 1, "timeout in state %s talking to %s",
		    smtp_client_state_name(s->state), peer_name(s));
		return;
	case IO_DISCONNECTED:
	case IO_ERROR:
		if (s->state == SMTP_CLIENT_QUIT) {
			close_io(s);
			enter(s, SMTP_CLIENT_DISCONNECTED);
			emit(s, SMTP_CLIENT_CLOSED, NULL);
		} else if (s->state == SMTP_CLIENT_TLS_HANDSHAKE ||
		    s->state == SMTP_CLIENT_TLS_IMPLICIT)
			tls_failed(s);
		else if (first_tls_reply_pending(s))
			tls_closed(s);
		else
			lost_connection(s);
		return;
	}
}

/* ---- public interface ---- */

static void
later_cb(void *arg)
{
	struct smtp_client_session *s = arg;
	struct smtp_client_msg *msg;
	enum later_action act = s->later_action;

	hold(s);
	s->later_action = LATER_NONE;
	switch (act) {
	case LATER_START:
		start(s);
		break;
	case LATER_MSG_DONE:
		msg_done(s);
		break;
	case LATER_CLOSED:
		msg = s->msg;
		s->msg = NULL;
		emit(s, SMTP_CLIENT_CLOSED, msg);
		break;
	case LATER_NONE:
		break;
	}
	release(s);
}

struct smtp_client_session *
smtp_client_new(const struct smtp_client_target *t, smtp_client_cb cb,
    void *arg)
{
	struct smtp_client_session *s = xcalloc(1, sizeof(*s));
	const char *h = t->remote->host;
	size_t len = strlen(h);

	s->target = *t;
	s->r = t->remote;
	s->cb = cb;
	s->arg = arg;
	/* "[1.2.3.4]" names the address itself; TLS verifies the bare form. */
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']')
		s->host = xstrndup(h + 1, len - 2);
	else
		s->host = xstrdup(h);
	buf_init(&s->connect_errors);
	buf_init(&s->rtext);
	s->he_timer = ev_timer_new(he_timer_cb, s);
	s->later = ev_timer_new(later_cb, s);
	s->state = SMTP_CLIENT_RESOLVING;
	log_debug("smtp client %s: new session", s->host);
	later(s, LATER_START);
	return s;
}

int
smtp_client_send(struct smtp_client_session *s, struct smtp_client_msg *m)
{
	char text[256];
	size_t i;

	if (s->state != SMTP_CLIENT_IDLE || s->msg != NULL || m->nrcpt == 0)
		return -1;
	s->msg = m;
	m->results = xcalloc(m->nrcpt, sizeof(*m->results));
	free(m->relay);
	m->relay = xstrdup(s->relay);
	s->rcpt_sent = s->rcpt_replies = s->rcpt_ok = 0;
	s->mail_ok = s->abort_data = 0;
	if (m->smtputf8 && !s->smtputf8) {
		snprintf(text, sizeof(text), "550 5.6.7 %s does not support "
		    "SMTPUTF8, which this message needs", s->relay);
		for (i = 0; i < m->nrcpt; i++)
			result_set(&m->results[i], 550, "5.6.7", text, 0);
		later(s, LATER_MSG_DONE);
		return 0;
	}
	if (s->size_ext && s->max_size > 0 && m->size > s->max_size) {
		snprintf(text, sizeof(text), "552 5.3.4 message size %lld "
		    "exceeds the limit of %s (%lld)", (long long)m->size,
		    s->relay, (long long)s->max_size);
		for (i = 0; i < m->nrcpt; i++)
			result_set(&m->results[i], 552, "5.3.4", text, 0);
		later(s, LATER_MSG_DONE);
		return 0;
	}
	hold(s);
	log_debug("%s: smtp client %s: sending", m->qid ? m->qid : "-",
	    s->relay);
	send_mail(s);
	release(s);
	return 0;
}

void
smtp_client_quit(struct smtp_client_session *s)
{
	if (s->state == SMTP_CLIENT_QUIT || s->state == SMTP_CLIENT_DISCONNECTED)
		return;
	hold(s);
	if (s->state == SMTP_CLIENT_IDLE && s->msg == NULL) {
		enter(s, SMTP_CLIENT_QUIT);
		set_deadline(s, 0);
		send_line(s, "QUIT");
	} else {
		results_fill_rest(s, 0, "4.4.2", "delivery interrupted: "
		    "connection closed by us", 1);
		close_io(s);
		enter(s, SMTP_CLIENT_DISCONNECTED);
		later(s, LATER_CLOSED);
	}
	release(s);
}

void
smtp_client_free(struct smtp_client_session *s)
{
	if (s == NULL)
		return;
	if (s->busy > 0) {
		s->freed = 1;
		return;
	}
	destroy(s);
}

enum smtp_client_state
smtp_client_state(const struct smtp_client_session *s)
{
	return s->state;
}

const char *
smtp_client_error(const struct smtp_client_session *s)
{
	return s->error;
}

int
smtp_client_error_temporary(const struct smtp_client_session *s)
{
	return s->error_temp;
}

const char *
smtp_client_relay(const struct smtp_client_session *s)
{
	return s->relay;
}

const char *
smtp_client_tls(const struct smtp_client_session *s)
{
	return s->tls_desc;
}

void
smtp_client_msg_clear(struct smtp_client_msg *m)
{
	size_t i;

	if (m->results != NULL)
		for (i = 0; i < m->nrcpt; i++)
			free(m->results[i].reply);
	free(m->results);
	m->results = NULL;
	free(m->relay);
	m->relay = NULL;
}
