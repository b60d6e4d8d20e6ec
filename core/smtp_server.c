/*
 * smtp_server: listeners and the per-client SMTP state machine.
 *
 * Shape (OpenSMTPD's smtp_session.c, Postfix's smtpd replies): one
 * command table names each verb, the states it is valid in and its
 * handler; every state change goes through session_enter(). Connection
 * facts live in struct session, the mail transaction (sender, recipients,
 * the queue file being written) in struct smtp_tx, so RSET/EHLO just drop
 * the transaction. Input is processed line by line while the state allows
 * it, which is what PIPELINING needs; at the end of DATA reading pauses
 * until the queue's commit callback (after the sync) answers 250, then
 * the lines already buffered are processed.
 *
 * Re-entrancy: io may report an error from inside a write made outside an
 * io callback (greet timer, commit callback, AUTH failure delay). Such
 * entry points hold s->busy, and session_close() then only marks the
 * session; the entry point frees it on the way out.
 *
 * TLS: STARTTLS answers 220, flushes it in plaintext, then hands the
 * socket to io_start_tls(), which drops whatever plaintext the client
 * pipelined behind the command (injection); at IO_TLSREADY the session is
 * back in HELO with no name, as RFC 3207 wants. AUTH exchanges read their
 * continuation lines in the AUTH state; a failure pauses input for a delay
 * that grows with the client IP's recent failures before the 535.
 *
 * Policy: each stage asks core/rules.c and logs the rule that decided;
 * in test mode (hikyakud -bh) the engine's steps go to the client as
 * ">>> " lines before the reply instead. A reply that must wait (the
 * bad-RCPT throttle) is collected in s->held and sent by a timer while
 * input is paused, the way a failed AUTH waits.
 *
 * peer_lookup: the LOOKUP state holds input paused (what the client
 * sends waits in the socket) while dns_resolve_peer() runs under
 * lookup_timer; its end, either way, judges Connect: and goes on as a
 * session without the lookup would from accept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "address.h"
#include "config.h"
#include "dns.h"
#include "envelope.h"
#include "event.h"
#include "io.h"
#include "log.h"
#include "privsep.h"
#include "queue.h"
#include "rules.h"
#include "sasl.h"
#include "smtp_server.h"
#include "tls.h"
#include "users.h"
#include "util.h"

#define SMTP_LISTEN_BACKLOG	4096
#define SMTP_ACCEPT_BURST	256	/* accepts per wake-up, for fairness */
#define SMTP_CMD_MAXLINE	1000	/* octets before CRLF (DESIGN §12) */
#define SMTP_AUTH_MAXLINE	12288	/* AUTH lines (RFC 4954 §4, DESIGN §12) */
/*
 * Failed AUTH per client IP: the 535 waits SMTP_AUTH_DELAY_MS times the
 * failures seen in the window, and the SMTP_AUTH_MAX_FAILS'th ends the
 * session with 421, as does any AUTH from that IP until the window has
 * passed since its last failure.
 */
#define SMTP_AUTH_DELAY_MS	400
#define SMTP_AUTH_MAX_FAILS	5
#define SMTP_AUTH_WINDOW_MS	(15 * 60 * 1000)
#define SMTP_AUTH_TRACKED	4096	/* IPs remembered at most */
#define SMTP_TEXT_MAXLINE	998	/* RFC 5322 line limit in DATA */
/*
 * io's own limit while in DATA: longer than any legal line so that we
 * see each line's terminator ourselves and judge 998 here; only a line
 * beyond this is cut by io, and then we cannot know how it ended.
 */
#define SMTP_DATA_IOLINE	65536
#define SMTP_DATA_MIN_RATE	8192	/* bytes/s a slow link still gets */
#define SMTP_HARD_ERRORS	20	/* Postfix's smtpd_hard_error_limit */
#define SMTP_CLOSE_GRACE_MS	10000	/* time for the last reply to leave */
#define SMTP_EMFILE_PAUSE_MS	1000
#define SMTP_RATE_TRACKED	4096	/* client IPs rate_limit remembers */
/*
 * peer_lookup: the PTR and forward lookups together get this long before
 * the client is "unknown" and greeted; c-ares's own retries (3 s, then
 * 6 s) would keep a client of a dead resolver waiting twice as long.
 */
#define SMTP_LOOKUP_TIMEOUT_MS	5000

enum smtp_server_state {
	SMTP_SERVER_LOOKUP,	/* connected, client's name being looked up */
	SMTP_SERVER_GREETING,	/* connected, greeting not sent (greet pause) */
	SMTP_SERVER_REFUSED,	/* Connect: refused with 554; only QUIT */
	SMTP_SERVER_HELO,	/* greeted; HELO/EHLO expected */
	SMTP_SERVER_STARTTLS,	/* TLS handshake on the loop */
	SMTP_SERVER_AUTH,	/* SASL exchange under way */
	SMTP_SERVER_MAIL,	/* no transaction; MAIL expected */
	SMTP_SERVER_RCPT,	/* MAIL accepted; RCPT or DATA expected */
	SMTP_SERVER_DATA,	/* reading the message */
	SMTP_SERVER_COMMIT,	/* message read, waiting for the queue's sync */
	SMTP_SERVER_QUIT,	/* last reply leaving, then close */
};

static const char *const smtp_server_state_names[] = {
	"LOOKUP", "GREETING", "REFUSED", "HELO", "STARTTLS", "AUTH", "MAIL",
	"RCPT", "DATA", "COMMIT", "QUIT",
};

#define ST(x)		(1u << SMTP_SERVER_##x)
#define ST_CMD		(ST(HELO) | ST(MAIL) | ST(RCPT))

/* Why a message is refused once its DATA has been read to the end. */
enum data_error {
	DATA_OK,
	DATA_BARE_NL,		/* bare CR or LF: smuggling shape */
	DATA_NUL,
	DATA_LONG_LINE,
	DATA_TOO_BIG,
	DATA_LOOP,
	DATA_WRITE,		/* queue write failed (errno in tx) */
};

/* Limits a session copies at connect, so a reload never changes them. */
struct smtp_limits {
	int64_t		 max_message_size;
	int64_t		 command_timeout_ms;
	int64_t		 data_timeout_ms;
	int		 max_recipients;
	int		 max_hops;
	int		 vrfy, expn;
	int		 plaintext_auth;	/* smtpd_plaintext_auth */
	int		 bad_rcpt_count;	/* bad_rcpt_throttle; 0: off */
	int64_t		 bad_rcpt_delay_ms;
};

struct smtp_tx {
	struct envelope		*env;		/* until handed to the queue */
	struct queue_incoming	*qi;
	char			 qid[QID_LEN + 1];
	char			*sender;	/* as logged: "" for <> */
	char			*first_rcpt;	/* for Received: "for <...>" */
	int			 nrcpt_ok;	/* accepted RCPT commands */
	int			 ndiscard;	/* RCPTs accepted and dropped */
	int			 discard_all;	/* From: DISCARD */
	int			 drop;		/* read DATA, queue nothing */
	int			 smtputf8;
	int			 body_8bit;
	/* DATA phase */
	enum data_error		 err;
	int			 write_errno;
	int64_t			 size;		/* message bytes, unstuffed */
	uint64_t		 data_bytes;	/* wire bytes, for the deadline */
	uint64_t		 data_start;
	int			 prev_crlf;	/* last line ended with CRLF */
	int			 in_headers;
	int			 hops;
};

struct listener;

struct session {
	struct session		*prev, *next;
	struct io		*io;
	enum listen_mode	 mode;
	enum smtp_server_state	 state;
	struct smtp_limits	 lim;
	char			 ip[INET6_ADDRSTRLEN];
	char			 local_ip[INET6_ADDRSTRLEN];
	/* peer_lookup: the verified name or NULL; peer is "name[ip]", with
	 * "unknown" for the name, as logs and Received: show the client. */
	char			*hostname;
	char			*peer;
	struct dns_query	*lookup;
	struct ev_timer		*lookup_timer;
	char			*helo;
	int			 esmtp;
	int			 relay_ok;	/* rules_check_connect's relay */
	int			 discard_all;	/* Connect: DISCARD */
	struct rules_answer	 conn;		/* the Connect: verdict */
	int			 bad_rcpts;	/* refused RCPTs (throttle) */
	/* A reply held back (bad_rcpt_throttle), sent by delay_timer. */
	int			 holding;
	struct buf		 held;
	struct ev_timer		*delay_timer;
	/* TLS: the credentials the handshake used, "TLSv1.3/AES-256-GCM" */
	struct tls_server_creds	*tls_creds;
	char			*tls_proto, *tls_cipher;
	int			 tls_flush_wait;	/* 220 still leaving */
	/* AUTH */
	struct sasl_server	*sasl;
	struct users_table	*sasl_users;	/* held during the exchange */
	char			*auth_user;
	struct ev_timer		*auth_timer;	/* delayed failure reply */
	int			 auth_closing;	/* 421 after that reply */
	int			 errors;
	const char		*last_cmd;	/* for "lost connection after" */
	int			 busy, closing;
	struct ev_timer		*greet_timer;
	struct smtp_tx		*tx;
	/* handed to queue_incoming_commit, until the done callback */
	struct queue_incoming	*committing;
	unsigned		 ok[16], total[16];	/* per command row */
	unsigned		 ncommands;
};

struct listener {
	struct listener		*next;
	int			 fd;
	struct ev_fd		*ev;
	int			 family;
	char			*addr;		/* as configured, "*" expanded */
	int			 port;
	enum listen_mode	 mode;
	int			 keep;		/* reconfigure mark */
};

/* A handler's outcome, for the disconnect line's ok/total counts. */
enum cmd_result { CMD_OK, CMD_FAIL, CMD_LATER };

struct smtp_cmd {
	const char	*verb;
	unsigned	 states;	/* where it is valid */
	const char	*seq_err;	/* 503 text outside them */
	enum cmd_result	(*fn)(struct session *, const char *arg);
};

/* The users file, shared by the exchanges under way when it was read. */
struct users_table {
	struct users	 u;
	unsigned	 refs;
};

struct auth_fail {
	struct auth_fail	*next;
	char			 ip[INET6_ADDRSTRLEN];
	int			 count;
	uint64_t		 last;
};

static const struct config	*srv_cfg;
static struct tls_server_creds	*srv_tls;
static struct users_table	*srv_users;
static struct auth_fail		*srv_auth_fails;
static struct listener		*srv_listeners;
static struct session		*srv_sessions;
static size_t			 srv_nsessions;
static int			 srv_started;
static struct ev_timer		*srv_accept_timer;
static int			 srv_test;	/* hikyakud -bh */

/* rate_limit: connections per client IP in the current window. */
struct conn_rate {
	struct conn_rate	*next;
	char			 ip[INET6_ADDRSTRLEN];
	int			 count;
	uint64_t		 start;
};
static struct conn_rate		*srv_rates;

static void	session_input(struct session *);
static void	session_close(struct session *, const char *why);
static void	session_free(struct session *);
static void	check_hard_errors(struct session *);
static enum cmd_result cmd_helo(struct session *, const char *);
static enum cmd_result cmd_ehlo(struct session *, const char *);
static enum cmd_result cmd_mail(struct session *, const char *);
static enum cmd_result cmd_rcpt(struct session *, const char *);
static enum cmd_result cmd_data(struct session *, const char *);
static enum cmd_result cmd_rset(struct session *, const char *);
static enum cmd_result cmd_noop(struct session *, const char *);
static enum cmd_result cmd_quit(struct session *, const char *);
static enum cmd_result cmd_vrfy(struct session *, const char *);
static enum cmd_result cmd_expn(struct session *, const char *);
static enum cmd_result cmd_help(struct session *, const char *);
static enum cmd_result cmd_starttls(struct session *, const char *);
static enum cmd_result cmd_auth(struct session *, const char *);

/*
 * STARTTLS and AUTH are valid wherever commands are so that a server
 * without a certificate (or AUTH) answers 502, as RFC 5321 §4.2.4 asks for
 * recognised but unavailable commands; their handlers judge the rest.
 */
static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO", ST_CMD, NULL, cmd_helo },
	{ "EHLO", ST_CMD, NULL, cmd_ehlo },
	{ "MAIL", ST(MAIL), "nested MAIL command", cmd_mail },
	{ "RCPT", ST(RCPT), "need MAIL command", cmd_rcpt },
	{ "DATA", ST(RCPT), "need MAIL command", cmd_data },
	{ "RSET", ST_CMD, NULL, cmd_rset },
	{ "NOOP", ST_CMD, NULL, cmd_noop },
	{ "QUIT", ST_CMD | ST(REFUSED), NULL, cmd_quit },
	{ "VRFY", ST_CMD, NULL, cmd_vrfy },
	{ "EXPN", ST_CMD, NULL, cmd_expn },
	{ "HELP", ST_CMD, NULL, cmd_help },
	{ "STARTTLS", ST_CMD, NULL, cmd_starttls },
	{ "AUTH", ST_CMD, NULL, cmd_auth },
};
#define SMTP_CMD_UNKNOWN	nitems(smtp_cmds)	/* counter slot */
_Static_assert(nitems(smtp_cmds) + 1 <= 16, "session counters too small");
#define SMTP_CMD_DATA		4	/* its row: counted at commit */
_Static_assert(SMTP_CMD_DATA < nitems(smtp_cmds), "DATA row");
#define SMTP_CMD_AUTH		12	/* its row: counted on success */
_Static_assert(SMTP_CMD_AUTH < nitems(smtp_cmds), "AUTH row");

/* Names and policy */

static const char *
srv_hostname(void)
{
	if (srv_cfg->helo_name != NULL && srv_cfg->helo_name[0] != '\0')
		return (srv_cfg->helo_name);
	return (srv_cfg->me);
}

/* Client text for logs and headers: printable ASCII only, bounded. */
static char *
sanitize(const char *in, size_t max)
{
	size_t	 n = strlen(in), i;
	char	*out;

	if (n > max)
		n = max;
	out = xstrndup(in, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x21 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return (out);
}

static void
format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	const struct sockaddr_in6	*s6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in	*s4 = (const struct sockaddr_in *)ss;

	out[0] = '\0';
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &s4->sin_addr, out, len);
	else if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &s6->sin6_addr, out, len);
}

/* Replies */

/* Test mode only: one ">>> " line for the human reading the session. */
static void
explain(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
explain(struct session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	if (!srv_test || s->io == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	if (s->holding)
		buf_printf(&s->held, ">>> %s\r\n", line);
	else
		io_printf(s->io, ">>> %s\r\n", line);
	free(line);
}

static void
reply(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply(struct session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	if (s->io == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	log_debug("smtp: %s: > %s", s->ip, line);
	if (s->holding)
		buf_printf(&s->held, "%s\r\n", line);
	else
		io_printf(s->io, "%s\r\n", line);
	free(line);
}

/*
 * Postfix's "NOQUEUE: reject: RCPT from host[ip]: ..." line, and the same
 * shape for what was accepted or discarded ("accept", "discard"), with
 * the rule that decided when there is one ("rule=access:7").
 */
static void
log_decision(struct session *s, const char *what, const char *cmd,
    const char *sender, const char *rcpt, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
log_decision(struct session *s, const char *what, const char *cmd,
    const char *sender, const char *rcpt, const char *rule,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*text, *helo;
	const char *qid = "NOQUEUE";

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	if (s->tx != NULL && s->tx->qid[0] != '\0')
		qid = s->tx->qid;
	if (sender == NULL && s->tx != NULL)
		sender = s->tx->sender;
	helo = sanitize(s->helo != NULL ? s->helo : "", 255);
	log_info("%s: %s: %s from %s: %s;%s%s%s from=<%s>%s%s%s "
	    "proto=%s helo=<%s>", qid, what, cmd, s->peer, text,
	    rule != NULL ? " rule=" : "", rule != NULL ? rule : "",
	    rule != NULL ? ";" : "", sender != NULL ? sender : "",
	    rcpt != NULL ? " to=<" : "", rcpt != NULL ? rcpt : "",
	    rcpt != NULL ? ">" : "", s->esmtp ? "ESMTP" : "SMTP", helo);
	free(helo);
	free(text);
}

/*
 * Test mode: the engine's steps to the client, then the rule that
 * decided ("rule: access:7"), right before the reply.
 */
static void
explain_steps(struct session *s, const struct rules_trace *t,
    const struct rules_answer *a)
{
	size_t	 i;

	if (!srv_test || s->io == NULL)
		return;
	for (i = 0; i < t->n; i++)
		explain(s, "%*s%s%s%s%s", t->v[i].depth * 2, "",
		    t->v[i].text, t->v[i].rule != NULL ? "   [" : "",
		    t->v[i].rule != NULL ? t->v[i].rule : "",
		    t->v[i].rule != NULL ? "]" : "");
	explain(s, "rule: %s", a->rule);
}

/* Error replies count towards the hard limit, as in Postfix. */
static void
reply_error(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply_error(struct session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	reply(s, "%s", line);
	free(line);
	s->errors++;
}

/*
 * A reply written straight to the socket, for when there is no io to
 * carry it (refused at accept, timed out); it may be lost, as a 421 may.
 */
static void
send_direct(int fd, const char *code, const char *text)
{
	char	 line[512];
	int	 n;

	n = snprintf(line, sizeof line, "%s %s %s\r\n", code, srv_hostname(),
	    text);
	if (n > 0 && (size_t)n < sizeof line &&
	    send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("smtp: reply on fd %d lost: %s", fd,
		    strerror(errno));
}

/* State machine */

/*
 * Stop or resume reading. Any reply written before may have failed and
 * closed the session (s->io is then NULL), so every caller goes through
 * here rather than touching s->io after a write.
 */
static void
session_pause(struct session *s, int paused)
{
	if (s->io != NULL && !s->closing)
		io_pause(s->io, paused);
}

/* Hold the client to no deadline (we are the ones it waits for). */
static void
session_no_deadline(struct session *s)
{
	if (s->io != NULL && !s->closing)
		io_set_deadline(s->io, 0);
}

static void
session_enter(struct session *s, enum smtp_server_state st)
{
	log_debug("smtp: %s: %s -> %s", s->ip,
	    smtp_server_state_names[s->state], smtp_server_state_names[st]);
	s->state = st;
	if (s->io == NULL)
		return;
	switch (st) {
	case SMTP_SERVER_HELO:
	case SMTP_SERVER_REFUSED:
	case SMTP_SERVER_MAIL:
	case SMTP_SERVER_RCPT:
	case SMTP_SERVER_AUTH:
		/* AUTH may come with a long initial response; other verbs
		 * are held to SMTP_CMD_MAXLINE in command_line(). */
		io_set_maxline(s->io, SMTP_AUTH_MAXLINE);
		io_set_deadline(s->io, ev_now() +
		    (uint64_t)s->lim.command_timeout_ms);
		break;
	case SMTP_SERVER_DATA:
		io_set_maxline(s->io, SMTP_DATA_IOLINE);
		io_set_deadline(s->io, ev_now() +
		    (uint64_t)s->lim.data_timeout_ms);
		break;
	case SMTP_SERVER_COMMIT:
		/* Waiting on our disk, not on the client. */
		io_set_deadline(s->io, 0);
		break;
	case SMTP_SERVER_LOOKUP:
		/* Waiting on DNS: its own deadline, not the client's. */
		io_set_deadline(s->io, 0);
		ev_timer_after(s->lookup_timer, SMTP_LOOKUP_TIMEOUT_MS);
		break;
	case SMTP_SERVER_QUIT:
		io_set_deadline(s->io, ev_now() + SMTP_CLOSE_GRACE_MS);
		break;
	case SMTP_SERVER_GREETING:
	case SMTP_SERVER_STARTTLS:	/* the handshake has this long */
		io_set_deadline(s->io, ev_now() +
		    (uint64_t)s->lim.command_timeout_ms);
		break;
	}
}

static void
tx_free(struct smtp_tx *tx)
{
	if (tx == NULL)
		return;
	if (tx->env != NULL) {
		envelope_free(tx->env);
		free(tx->env);
	}
	if (tx->qi != NULL)
		queue_incoming_abort(tx->qi);
	free(tx->sender);
	free(tx->first_rcpt);
	free(tx);
}

static void
session_reset_tx(struct session *s)
{
	tx_free(s->tx);
	s->tx = NULL;
}

/* "disconnect from name[ip] ehlo=1 mail=1 rcpt=0/1 ... commands=5" */
static void
log_disconnect(struct session *s)
{
	struct buf	 b;
	size_t		 i;
	unsigned	 ok = 0;
	char		 verb[16];

	buf_init(&b);
	buf_printf(&b, "disconnect from %s", s->peer);
	for (i = 0; i <= SMTP_CMD_UNKNOWN; i++) {
		if (s->total[i] == 0)
			continue;
		ok += s->ok[i];
		snprintf(verb, sizeof verb, "%s", i == SMTP_CMD_UNKNOWN ?
		    "unknown" : smtp_cmds[i].verb);
		ascii_lower(verb);
		if (s->ok[i] == s->total[i])
			buf_printf(&b, " %s=%u", verb, s->ok[i]);
		else
			buf_printf(&b, " %s=%u/%u", verb, s->ok[i],
			    s->total[i]);
	}
	if (ok == s->ncommands)
		buf_printf(&b, " commands=%u", s->ncommands);
	else
		buf_printf(&b, " commands=%u/%u", ok, s->ncommands);
	log_info("%s", b.data);
	buf_free(&b);
}

static void
users_table_put(struct users_table *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	users_free(&t->u);
	free(t);
}

/* Forget an AUTH exchange (done, failed, cancelled or cut off). */
static void
auth_end(struct session *s)
{
	sasl_server_free(s->sasl);
	s->sasl = NULL;
	users_table_put(s->sasl_users);
	s->sasl_users = NULL;
}

static void
session_free(struct session *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv_sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv_nsessions--;
	log_disconnect(s);
	/* A message already handed over stays committed (it may be synced
	 * by now); only the 250 is lost, the at-least-once window. */
	if (s->committing != NULL) {
		log_info("%s: client gone before the reply; the message stays "
		    "queued", s->tx->qid);
		queue_incoming_detach(s->committing);
	}
	session_reset_tx(s);
	dns_cancel(s->lookup);
	ev_timer_free(s->lookup_timer);
	ev_timer_free(s->greet_timer);
	ev_timer_free(s->auth_timer);
	ev_timer_free(s->delay_timer);
	buf_free(&s->held);
	auth_end(s);
	/* io_free() deinited the GnuTLS session: the credentials may go. */
	tls_server_creds_put(s->tls_creds);
	free(s->tls_proto);
	free(s->tls_cipher);
	free(s->auth_user);
	free(s->helo);
	free(s->hostname);
	free(s->peer);
	free(s);
}

/*
 * End the session: log, close the connection, free now or (inside an
 * entry point holding busy) when that entry point returns. why, when
 * set, is the Postfix-style reason ("lost connection", "timeout").
 */
static void
session_close(struct session *s, const char *why)
{
	if (s->closing)
		return;
	s->closing = 1;
	if (why != NULL)
		log_info("%s after %s from %s", why, s->last_cmd,
		    s->peer);
	if (s->io != NULL)
		io_free(s->io);
	s->io = NULL;
	if (s->busy == 0)
		session_free(s);
}

/* Let the last reply leave, then close (QUIT, 421). */
static void
session_finish(struct session *s)
{
	if (s->closing || s->io == NULL)
		return;
	session_enter(s, SMTP_SERVER_QUIT);
	session_pause(s, 1);
	io_flush(s->io);
	if (!s->closing && s->io != NULL && io_queued(s->io) == 0)
		session_close(s, NULL);
}

static void
session_hold(struct session *s)
{
	s->busy++;
}

/* Drop an entry point's hold; frees the session if it was closed meanwhile. */
static void
session_unhold(struct session *s)
{
	if (--s->busy == 0 && s->closing)
		session_free(s);
}

/* Commands */

static enum cmd_result
helo_common(struct session *s, const char *arg, int esmtp)
{
	if (*arg == '\0') {
		reply_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return (CMD_FAIL);
	}
	free(s->helo);
	s->helo = sanitize(arg, 255);
	s->esmtp = esmtp;
	session_reset_tx(s);
	session_enter(s, SMTP_SERVER_MAIL);
	return (CMD_OK);
}

static enum cmd_result
cmd_helo(struct session *s, const char *arg)
{
	if (helo_common(s, arg, 0) != CMD_OK)
		return (CMD_FAIL);
	reply(s, "250 %s", srv_hostname());
	return (CMD_OK);
}

/* STARTTLS is offered while the session is plaintext and a cert loaded. */
static int
tls_offered(const struct session *s)
{
	return (srv_tls != NULL && s->tls_proto == NULL);
}

/* AUTH only under TLS, unless smtpd_plaintext_auth says otherwise. */
static int
auth_allowed(const struct session *s)
{
	return (s->tls_proto != NULL || s->lim.plaintext_auth);
}

/* Submission (587) and its implicit-TLS twin (465, RFC 8314) need AUTH. */
static int
auth_required(const struct session *s)
{
	return (s->mode == LISTEN_SUBMISSION || s->mode == LISTEN_SMTPS);
}

static enum cmd_result
cmd_ehlo(struct session *s, const char *arg)
{
	if (helo_common(s, arg, 1) != CMD_OK)
		return (CMD_FAIL);
	reply(s, "250-%s", srv_hostname());
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %lld", (long long)s->lim.max_message_size);
	reply(s, "250-8BITMIME");
	if (tls_offered(s))
		reply(s, "250-STARTTLS");
	if (auth_allowed(s) && s->auth_user == NULL)
		reply(s, "250-AUTH %s", SASL_SERVER_MECHS);
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250 SMTPUTF8");
	return (CMD_OK);
}

/* "local@domain" with a bare local part completed with @me. */
static char *
address_text(const struct address *a)
{
	char	*text, *full;

	text = address_format(a);
	if (a->domain != NULL || address_is_null(a))
		return (text);
	xasprintf(&full, "%s@%s", text, srv_cfg->me);
	free(text);
	return (full);
}

/* The client as the rules engine sees it (strings stay the session's). */
static void
session_client(const struct session *s, struct rules_client *c)
{
	memset(c, 0, sizeof *c);
	c->ip = s->ip;
	c->hostname = s->hostname;
	c->auth_user = s->auth_user;
	c->mode = s->mode;
}

static enum cmd_result
cmd_mail(struct session *s, const char *arg)
{
	struct address		 a;
	const char		*params;
	char			*kw, *val, *end, *sender;
	int			 r, smtputf8 = 0, body8 = 0;
	long long		 size;
	struct rules_client	 client;
	struct rules_answer	 ans;
	struct rules_trace	 t = { 0 };

	if (auth_required(s) && s->auth_user == NULL) {
		log_decision(s, "reject", "MAIL", NULL, NULL, NULL, "530 5.7.0 "
		    "Authentication required");
		reply_error(s, "530 5.7.0 Authentication required");
		return (CMD_FAIL);
	}
	if (ascii_strncasecmp(arg, "FROM:", 5) != 0) {
		reply_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return (CMD_FAIL);
	}
	if (rules_parse_path(srv_cfg, RULES_PATH_MAIL, skip_ws(arg + 5),
	    s->local_ip, &a, &params, &ans, NULL) == -1) {
		reply_error(s, "%s", ans.reply);
		return (CMD_FAIL);
	}
	while ((r = address_next_param(&params, &kw, &val)) == 1) {
		if (strcmp(kw, "SIZE") == 0) {
			errno = 0;
			size = strtoll(val, &end, 10);
			if (val[0] < '0' || val[0] > '9' || *end != '\0' ||
			    errno != 0) {
				reply_error(s, "501 5.5.4 Bad SIZE parameter");
				r = -2;
			} else if (size > s->lim.max_message_size) {
				reply_error(s, "552 5.3.4 Message size exceeds "
				    "fixed limit");
				r = -2;
			}
		} else if (strcmp(kw, "BODY") == 0) {
			if (ascii_strcasecmp(val, "8BITMIME") == 0)
				body8 = 1;
			else if (ascii_strcasecmp(val, "7BIT") != 0) {
				reply_error(s, "501 5.5.4 Bad BODY parameter");
				r = -2;
			}
		} else if (strcmp(kw, "SMTPUTF8") == 0 && val[0] == '\0')
			smtputf8 = 1;
		else {
			reply_error(s, "555 5.5.4 Unsupported option: %s", kw);
			r = -2;
		}
		free(kw);
		free(val);
		if (r == -2)
			break;
	}
	if (r == -1)
		reply_error(s, "501 5.5.4 Bad parameter syntax");
	if (r < 0) {
		address_free(&a);
		return (CMD_FAIL);
	}
	if (a.input_utf8 && !smtputf8) {
		address_free(&a);
		reply_error(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode "
		    "address");
		return (CMD_FAIL);
	}
	sender = address_is_null(&a) ? xstrdup("") : address_text(&a);
	address_free(&a);
	session_client(s, &client);
	rules_check_mail(srv_cfg, &client, sender, &ans, srv_test ? &t : NULL);
	explain_steps(s, &t, &ans);
	rules_trace_free(&t);
	if (ans.verdict == RULES_REJECT) {
		log_decision(s, "reject", "MAIL", sender, NULL, ans.rule, "%s",
		    ans.reply);
		reply_error(s, "%s", ans.reply);
		free(sender);
		return (CMD_FAIL);
	}
	session_reset_tx(s);
	s->tx = xcalloc(1, sizeof *s->tx);
	s->tx->sender = sender;
	s->tx->smtputf8 = smtputf8;
	s->tx->body_8bit = body8;
	s->tx->discard_all = s->discard_all || ans.verdict == RULES_DISCARD;
	s->tx->env = xmalloc(sizeof *s->tx->env);
	envelope_init(s->tx->env);
	s->tx->env->sender = xstrdup(s->tx->sender);
	log_decision(s, ans.verdict == RULES_DISCARD ? "discard" : "accept",
	    "MAIL", NULL, NULL, ans.rule, "<%s>%s", sender,
	    ans.verdict == RULES_DISCARD ? ": access DISCARD" : "");
	session_enter(s, SMTP_SERVER_RCPT);
	reply(s, "250 2.1.0 Ok");
	return (CMD_OK);
}

/* Add a recipient unless the envelope has it already (RCPT repeated). */
static void
tx_add_rcpt(struct smtp_tx *tx, const char *addr)
{
	size_t	 i;

	for (i = 0; i < tx->env->nrcpt; i++)
		if (strcmp(tx->env->rcpts[i].addr, addr) == 0)
			return;
	envelope_add_rcpt(tx->env, addr, NULL);
}

/*
 * RCPT after the syntax checks: the rules engine decides (To: line, relay
 * rights, whether a local name exists). Local recipients are queued as
 * given; the scheduler expands aliases at delivery.
 */
static enum cmd_result
rcpt_judge(struct session *s, const char *arg)
{
	struct address		 a;
	char			*text;
	struct smtp_tx		*tx = s->tx;
	struct rules_client	 client;
	struct rules_answer	 ans;
	struct rules_trace	 t = { 0 };

	if (ascii_strncasecmp(arg, "TO:", 3) != 0) {
		reply_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return (CMD_FAIL);
	}
	/* The same parse (relay tricks, literals) as `hikyaku trace`. */
	if (rules_parse_path(srv_cfg, RULES_PATH_RCPT, skip_ws(arg + 3),
	    s->local_ip, &a, NULL, &ans, srv_test ? &t : NULL) == -1) {
		explain_steps(s, &t, &ans);
		rules_trace_free(&t);
		log_decision(s, "reject", "RCPT", NULL, NULL, ans.rule, "%s",
		    ans.reply);
		reply_error(s, "%s", ans.reply);
		return (CMD_FAIL);
	}
	if (a.input_utf8 && !tx->smtputf8) {
		address_free(&a);
		rules_trace_free(&t);
		reply_error(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode "
		    "address");
		return (CMD_FAIL);
	}
	if (tx->nrcpt_ok + tx->ndiscard >= s->lim.max_recipients) {
		address_free(&a);
		rules_trace_free(&t);
		reply_error(s, "452 4.5.3 Error: too many recipients");
		return (CMD_FAIL);
	}
	text = address_text(&a);
	address_free(&a);
	session_client(s, &client);
	rules_check_rcpt(srv_cfg, &client, tx->sender, text, &ans,
	    srv_test ? &t : NULL);
	explain_steps(s, &t, &ans);
	rules_trace_free(&t);
	switch (ans.verdict) {
	case RULES_REJECT:
		log_decision(s, "reject", "RCPT", NULL, text, ans.rule, "%s",
		    ans.reply);
		reply_error(s, "%s", ans.reply);
		free(text);
		return (CMD_FAIL);
	case RULES_DISCARD:
		log_decision(s, "discard", "RCPT", NULL, text, ans.rule,
		    "<%s>: access DISCARD", text);
		tx->ndiscard++;
		break;
	case RULES_ACCEPT:
		if (tx->discard_all) {
			log_decision(s, "discard", "RCPT", NULL, text,
			    ans.rule, "<%s>: sender or client DISCARD", text);
			tx->ndiscard++;
			break;
		}
		log_decision(s, "accept", "RCPT", NULL, text, ans.rule, "<%s>",
		    text);
		tx_add_rcpt(tx, text);
		if (tx->first_rcpt == NULL)
			tx->first_rcpt = xstrdup(text);
		tx->nrcpt_ok++;
		break;
	}
	free(text);
	reply(s, "250 2.1.5 Ok");
	return (CMD_OK);
}

/* The held reply goes out; input resumes (pipelined lines included). */
static void
delay_timer_cb(void *arg)
{
	struct session	*s = arg;

	session_hold(s);
	if (!s->closing && s->io != NULL) {
		io_write(s->io, s->held.data, s->held.len);
		buf_reset(&s->held);
		session_enter(s, s->state);	/* the command deadline again */
		session_pause(s, 0);
		check_hard_errors(s);
	}
	session_unhold(s);
}

/*
 * bad_rcpt_throttle (sendmail's BadRcptThrottle): once the session has
 * had COUNT recipients refused, each further RCPT reply waits DURATION.
 * Nothing is read meanwhile, so a pipelining client waits too.
 */
static enum cmd_result
cmd_rcpt(struct session *s, const char *arg)
{
	enum cmd_result	 r;
	int		 throttled;

	throttled = s->lim.bad_rcpt_count > 0 &&
	    s->bad_rcpts >= s->lim.bad_rcpt_count;
	if (throttled) {
		explain(s, "bad_rcpt_throttle: %d recipients refused, this "
		    "reply waits %lld ms", s->bad_rcpts,
		    (long long)s->lim.bad_rcpt_delay_ms);
		s->holding = 1;
	}
	r = rcpt_judge(s, arg);
	if (r == CMD_FAIL)
		s->bad_rcpts++;
	if (!throttled)
		return (r);
	s->holding = 0;
	session_pause(s, 1);
	session_no_deadline(s);
	if (s->delay_timer == NULL)
		s->delay_timer = ev_timer_new(delay_timer_cb, s);
	ev_timer_after(s->delay_timer, (uint64_t)s->lim.bad_rcpt_delay_ms);
	return (r);
}

/* Our Received: header, first in the queue file (RFC 5321 §4.4). */
static void
write_received(struct session *s)
{
	struct smtp_tx	*tx = s->tx;
	struct buf	 b;
	char		 date[64];
	const char	*proto;

	format_rfc5322_date(time(NULL), date, sizeof date);
	/* RFC 3848 / RFC 6531 names: ESMTP + S (TLS) + A (AUTH). */
	if (tx->smtputf8)
		proto = "UTF8SMTP";
	else
		proto = s->esmtp ? "ESMTP" : "SMTP";
	buf_init(&b);
	buf_printf(&b, "Received: from %s (%s [%s%s])\r\n", s->helo,
	    s->hostname != NULL ? s->hostname : "unknown",
	    strchr(s->ip, ':') != NULL ? "IPv6:" : "", s->ip);
	if (s->tls_proto != NULL)
		buf_printf(&b, "\t(using %s with cipher %s)\r\n",
		    s->tls_proto, s->tls_cipher);
	if (s->auth_user != NULL)
		buf_printf(&b, "\t(Authenticated sender: %s)\r\n",
		    s->auth_user);
	buf_printf(&b, "\tby %s (hikyaku) with %s%s%s id %s", srv_hostname(),
	    proto, s->tls_proto != NULL && s->esmtp ? "S" : "",
	    s->auth_user != NULL && s->esmtp ? "A" : "", tx->qid);
	/* Naming one recipient is useful; naming many leaks Bcc's. */
	if (tx->nrcpt_ok == 1)
		buf_printf(&b, "\r\n\tfor <%s>", tx->first_rcpt);
	buf_printf(&b, "; %s\r\n", date);
	if (queue_incoming_write(tx->qi, b.data, b.len) == -1) {
		tx->err = DATA_WRITE;
		tx->write_errno = errno;
	}
	buf_free(&b);
}

static enum cmd_result
cmd_data(struct session *s, const char *arg)
{
	struct smtp_tx	*tx = s->tx;
	struct envelope	*env = tx->env;
	char		*err = NULL;
	int		 saved;

	if (*arg != '\0') {
		reply_error(s, "501 5.5.4 Syntax: DATA");
		return (CMD_FAIL);
	}
	if (tx->nrcpt_ok == 0 && tx->ndiscard == 0) {
		reply_error(s, "554 5.5.1 Error: no valid recipients");
		return (CMD_FAIL);
	}
	if (srv_test || tx->nrcpt_ok == 0) {
		/* -bh, or every recipient discarded: read, judge, drop. */
		tx->drop = 1;
		tx->prev_crlf = 1;
		tx->in_headers = 1;
		tx->data_start = ev_now();
		session_enter(s, SMTP_SERVER_DATA);
		reply(s, "354 End data with <CR><LF>.<CR><LF>");
		return (CMD_LATER);
	}
	env->client = xstrdup(s->peer);
	env->helo = xstrdup(s->helo);
	if (s->auth_user != NULL)
		env->auth_user = xstrdup(s->auth_user);
	env->smtputf8 = tx->smtputf8;
	env->body_8bit = tx->body_8bit;
	tx->env = NULL;
	if ((tx->qi = queue_incoming_new(env, &err)) == NULL) {
		saved = errno;
		log_warn("queue file for %s: %s", s->peer, err);
		free(err);
		if (saved == ENOSPC)
			reply_error(s, "452 4.3.1 Insufficient system storage");
		else
			reply_error(s, "451 4.3.0 Error: queue file write "
			    "error");
		session_reset_tx(s);
		session_enter(s, SMTP_SERVER_MAIL);
		return (CMD_FAIL);
	}
	snprintf(tx->qid, sizeof tx->qid, "%s", queue_incoming_id(tx->qi));
	log_info("%s: client=%s", tx->qid, s->peer);
	write_received(s);
	tx->prev_crlf = 1;
	tx->in_headers = 1;
	tx->data_start = ev_now();
	session_enter(s, SMTP_SERVER_DATA);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	return (CMD_LATER);
}

static enum cmd_result
cmd_rset(struct session *s, const char *arg)
{
	session_reset_tx(s);
	if (s->state == SMTP_SERVER_RCPT)
		session_enter(s, SMTP_SERVER_MAIL);
	reply(s, "250 2.0.0 Ok");
	return (CMD_OK);
}

static enum cmd_result
cmd_noop(struct session *s, const char *arg)
{
	reply(s, "250 2.0.0 Ok");
	return (CMD_OK);
}

static enum cmd_result
cmd_quit(struct session *s, const char *arg)
{
	reply(s, "221 2.0.0 Bye");
	session_finish(s);
	return (CMD_OK);
}

/*
 * VRFY and EXPN when enabled: the RCPT judgement for sender <>, then for
 * EXPN the destinations the engine expands the address to. *text gets
 * the address as RCPT would see it; -1 after a refusal (replied).
 */
static int
verify_judge(struct session *s, const char *arg, char **text)
{
	struct address		 a;
	enum address_error	 why;
	struct rules_client	 client;
	struct rules_answer	 ans;
	struct rules_trace	 t = { 0 };

	if (address_parse(arg, &a, &why) == -1) {
		reply_error(s, "501 5.1.3 Bad address syntax: %s",
		    address_strerror(why));
		return (-1);
	}
	*text = address_text(&a);
	address_free(&a);
	session_client(s, &client);
	rules_check_rcpt(srv_cfg, &client, "", *text, &ans,
	    srv_test ? &t : NULL);
	explain_steps(s, &t, &ans);
	rules_trace_free(&t);
	if (ans.verdict == RULES_REJECT) {
		reply_error(s, "%s", ans.reply);
		free(*text);
		*text = NULL;
		return (-1);
	}
	return (0);
}

static enum cmd_result
cmd_vrfy(struct session *s, const char *arg)
{
	char	*text;
	char	*at, *domain;
	int	 local;

	/* RFC 5321 §3.5.3: 252 neither confirms nor denies the name. */
	if (!s->lim.vrfy) {
		reply(s, "252 2.5.0 Cannot VRFY user, but will accept message "
		    "and attempt delivery");
		return (CMD_OK);
	}
	if (verify_judge(s, arg, &text) == -1)
		return (CMD_FAIL);
	at = strrchr(text, '@');
	domain = at != NULL ? at + 1 : NULL;
	local = domain == NULL || domain[0] == '[' ||
	    config_is_local_domain(srv_cfg, domain);
	if (local)
		reply(s, "250 2.1.5 <%s>", text);
	else
		reply(s, "252 2.1.5 <%s>: not local, will attempt delivery",
		    text);
	free(text);
	return (CMD_OK);
}

/* EXPN discloses alias contents: only for clients with relay rights. */
static enum cmd_result
cmd_expn(struct session *s, const char *arg)
{
	struct rules_result	 res;
	char			*text, *sum;
	size_t			 i;

	if (!s->lim.expn) {
		reply_error(s, "502 5.5.1 EXPN command is disabled");
		return (CMD_FAIL);
	}
	if (!s->relay_ok && s->auth_user == NULL) {
		explain(s, "EXPN: the client has no relay rights   [built-in]");
		reply_error(s, "550 5.7.1 Error: EXPN is not allowed for your "
		    "address");
		return (CMD_FAIL);
	}
	if (verify_judge(s, arg, &text) == -1)
		return (CMD_FAIL);
	rules_resolve(srv_cfg, "", text, &res, NULL);
	for (i = 0; i < res.n; i++) {
		sum = rules_dest_summary(&res.v[i]);
		reply(s, "250%c2.1.5 <%s> (%s)", i + 1 < res.n ? '-' : ' ',
		    res.v[i].addr, sum);
		free(sum);
	}
	if (res.n == 0)
		reply(s, "250 2.1.5 <%s>", text);
	rules_result_free(&res);
	free(text);
	return (CMD_OK);
}

static enum cmd_result
cmd_help(struct session *s, const char *arg)
{
	reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP "
	    "QUIT VRFY EXPN HELP");
	return (CMD_OK);
}

/* STARTTLS */

/* Hand the socket to GnuTLS; the 220 has left in plaintext. */
static void
tls_begin(struct session *s)
{
	gnutls_session_t	 gs;
	char			*err = NULL;

	s->tls_flush_wait = 0;
	if (tls_server_session(&gs, s->tls_creds, &err) == -1) {
		log_warn("TLS for %s: %s", s->peer, err);
		free(err);
		session_close(s, NULL);
		return;
	}
	io_start_tls(s->io, gs);
}

static void
tls_start(struct session *s)
{
	s->tls_creds = srv_tls;
	tls_server_creds_ref(s->tls_creds);
	session_enter(s, SMTP_SERVER_STARTTLS);
	io_flush(s->io);
	if (s->closing || s->io == NULL)
		return;
	if (io_queued(s->io) > 0)
		s->tls_flush_wait = 1;	/* IO_LOWAT starts it */
	else
		tls_begin(s);
}

static enum cmd_result
cmd_starttls(struct session *s, const char *arg)
{
	if (srv_tls == NULL || s->mode == LISTEN_SMTPS) {
		reply_error(s, "502 5.5.1 Error: command not implemented");
		return (CMD_FAIL);
	}
	if (s->tls_proto != NULL) {
		reply_error(s, "554 5.5.1 Error: TLS already active");
		return (CMD_FAIL);
	}
	/* Before EHLO too: the gsasl client (and others) start that way,
	 * and the session starts over under TLS anyway. */
	if (*arg != '\0') {
		reply_error(s, "501 5.5.4 Syntax: STARTTLS");
		return (CMD_FAIL);
	}
	/* RFC 3207 §4.2: forget everything the plaintext session said. */
	session_reset_tx(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
	reply(s, "220 2.0.0 Ready to start TLS");
	tls_start(s);
	return (CMD_OK);
}

/* "TLS1.3" as Postfix and OpenSSL print it: "TLSv1.3". */
static char *
tls_proto_name(gnutls_session_t gs)
{
	const char	*p = gnutls_protocol_get_name(
	    gnutls_protocol_get_version(gs));
	char		*out;

	if (p == NULL)
		return (xstrdup("TLS"));
	if (strncmp(p, "TLS", 3) == 0 && p[3] >= '0' && p[3] <= '9')
		xasprintf(&out, "TLSv%s", p + 3);
	else
		out = xstrdup(p);
	return (out);
}

static void session_begin(struct session *);

static void
tls_ready(struct session *s)
{
	gnutls_session_t	 gs = io_tls(s->io);
	const char		*c = gnutls_cipher_get_name(gnutls_cipher_get(gs));

	s->tls_proto = tls_proto_name(gs);
	s->tls_cipher = xstrdup(c != NULL ? c : "?");
	log_info("TLS connection established from %s: %s with "
	    "cipher %s", s->peer, s->tls_proto, s->tls_cipher);
	if (s->mode == LISTEN_SMTPS)
		session_begin(s);	/* the greeting comes under TLS */
	else
		session_enter(s, SMTP_SERVER_HELO);
}

/* AUTH */

static struct auth_fail *
auth_fail_find(const char *ip, int create)
{
	struct auth_fail	**pp, *f;
	uint64_t		  now = ev_now();
	size_t			  n = 0;

	for (pp = &srv_auth_fails; (f = *pp) != NULL;) {
		if (now - f->last >= SMTP_AUTH_WINDOW_MS ||
		    n >= SMTP_AUTH_TRACKED) {
			*pp = f->next;
			free(f);
			continue;
		}
		if (strcmp(f->ip, ip) == 0)
			return (f);
		n++;
		pp = &f->next;
	}
	if (!create)
		return (NULL);
	f = xcalloc(1, sizeof *f);
	snprintf(f->ip, sizeof f->ip, "%s", ip);
	/* Newest first, so the cap drops the oldest. */
	f->next = srv_auth_fails;
	srv_auth_fails = f;
	return (f);
}

static void
auth_too_many(struct session *s)
{
	log_warn("%s: too many failed AUTH attempts", s->peer);
	reply(s, "421 4.7.0 %s Error: too many failed authentication "
	    "attempts", srv_hostname());
	session_finish(s);
}

/* The delayed 535 (and the 421 when the IP reached the limit). */
static void
auth_fail_timer_cb(void *arg)
{
	struct session	*s = arg;

	session_hold(s);
	if (!s->closing && s->io != NULL) {
		reply_error(s, "535 5.7.8 Error: authentication failed");
		if (s->auth_closing)
			auth_too_many(s);
		else {
			session_enter(s, SMTP_SERVER_MAIL);
			session_pause(s, 0);
		}
	}
	session_unhold(s);
}

static void
auth_failed(struct session *s, const char *why)
{
	struct auth_fail	*f = auth_fail_find(s->ip, 1);
	const char		*user = s->sasl ? sasl_server_user(s->sasl) :
	    NULL;
	char			*name = sanitize(user != NULL ? user : "", 64);
	uint64_t		 delay;

	f->count++;
	f->last = ev_now();
	log_warn("%s: SASL %s authentication failed: %s, "
	    "sasl_username=%s", s->peer, s->sasl ? sasl_server_mech(s->sasl) :
	    "?", why, name);
	free(name);
	auth_end(s);
	s->auth_closing = f->count >= SMTP_AUTH_MAX_FAILS;
	delay = (uint64_t)SMTP_AUTH_DELAY_MS * (uint64_t)f->count;
	/* Nothing is read or answered until the delay is over. */
	session_pause(s, 1);
	session_no_deadline(s);
	if (s->auth_timer == NULL)
		s->auth_timer = ev_timer_new(auth_fail_timer_cb, s);
	ev_timer_after(s->auth_timer, delay);
}

static void
auth_step(struct session *s, const char *in)
{
	char		*out = NULL, *err = NULL;
	int		 bad;
	enum sasl_step	 r;

	r = sasl_server_step(s->sasl, in, &out, &bad, &err);
	switch (r) {
	case SASL_STEP_MORE:
		session_enter(s, SMTP_SERVER_AUTH);
		reply(s, "334 %s", out);
		break;
	case SASL_STEP_DONE:
		s->auth_user = xstrdup(sasl_server_user(s->sasl));
		s->ok[SMTP_CMD_AUTH]++;
		log_info("%s: sasl_method=%s, sasl_username=%s",
		    s->peer, sasl_server_mech(s->sasl), s->auth_user);
		auth_end(s);
		session_enter(s, SMTP_SERVER_MAIL);
		reply(s, "235 2.7.0 Authentication successful");
		break;
	case SASL_STEP_ERROR:
		if (bad) {
			log_info("%s: AUTH %s: bad input: %s", s->peer,
			    sasl_server_mech(s->sasl), err);
			auth_end(s);
			session_enter(s, SMTP_SERVER_MAIL);
			reply_error(s, "501 5.5.2 Error: malformed "
			    "authentication data");
		} else
			auth_failed(s, err);
		break;
	}
	free(out);
	free(err);
}

static enum cmd_result
cmd_auth(struct session *s, const char *arg)
{
	struct auth_fail	*f;
	const char		*ir;
	char			*mech, *err = NULL;

	if (srv_tls == NULL && !s->lim.plaintext_auth) {
		reply_error(s, "502 5.5.1 Error: command not implemented");
		return (CMD_FAIL);
	}
	if (s->state == SMTP_SERVER_HELO) {
		reply_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return (CMD_FAIL);
	}
	if (s->state == SMTP_SERVER_RCPT) {
		reply_error(s, "503 5.5.1 Error: MAIL transaction in progress");
		return (CMD_FAIL);
	}
	if (s->auth_user != NULL) {
		reply_error(s, "503 5.5.1 Error: already authenticated");
		return (CMD_FAIL);
	}
	if (!auth_allowed(s)) {
		reply_error(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return (CMD_FAIL);
	}
	if ((f = auth_fail_find(s->ip, 0)) != NULL &&
	    f->count >= SMTP_AUTH_MAX_FAILS) {
		auth_too_many(s);
		return (CMD_FAIL);
	}
	ir = arg + strcspn(arg, " \t");
	mech = xstrndup(arg, (size_t)(ir - arg));
	ir = skip_ws(ir);
	if (*mech == '\0') {
		free(mech);
		reply_error(s, "501 5.5.4 Syntax: AUTH mechanism");
		return (CMD_FAIL);
	}
	if ((s->sasl = sasl_server_new(mech, &srv_users->u, &err)) == NULL) {
		reply_error(s, "504 5.5.4 Unrecognized authentication type");
		free(mech);
		free(err);
		return (CMD_FAIL);
	}
	free(mech);
	s->sasl_users = srv_users;
	srv_users->refs++;
	/* RFC 4954 §4: "=" is an empty initial response. */
	if (strcmp(ir, "=") == 0)
		ir = "";
	else if (*ir != '\0' && !sasl_server_client_first(s->sasl)) {
		auth_end(s);
		reply_error(s, "501 5.5.4 Error: no initial response "
		    "allowed for this mechanism");
		return (CMD_FAIL);
	}
	auth_step(s, ir);
	return (CMD_LATER);	/* counted by auth_step() on success */
}

/* A line of an AUTH exchange: a base64 response, or "*" to cancel. */
static void
auth_line(struct session *s, const char *line, size_t len)
{
	char	*in;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	in = xstrndup(line, len);
	if (strcmp(in, "*") == 0) {
		auth_end(s);
		session_enter(s, SMTP_SERVER_MAIL);
		reply_error(s, "501 5.7.0 Authentication aborted");
	} else
		auth_step(s, in);
	explicit_bzero(in, len);
	free(in);
}

/* DATA */

static void
data_fail(struct smtp_tx *tx, enum data_error err)
{
	if (tx->err != DATA_OK)
		return;
	tx->err = err;
	/* Keep reading to the end, but give the disk back at once. */
	if (tx->qi != NULL)
		queue_incoming_abort(tx->qi);
	tx->qi = NULL;
}

static void
commit_done(void *arg, const struct envelope *env, int error)
{
	struct session	*s = arg;
	struct smtp_tx	*tx = s->tx;

	session_hold(s);
	s->committing = NULL;
	if (env == NULL) {
		log_warn("%s: queue commit failed: %s", tx->qid,
		    strerror(error));
		if (error == ENOSPC)
			reply_error(s, "452 4.3.1 Insufficient system storage");
		else
			reply_error(s, "451 4.3.0 Error: queue file write "
			    "error");
	} else {
		log_info("%s: from=<%s>, size=%lld, nrcpt=%zu, "
		    "client=%s, tls=%s%s%s, auth=%s", tx->qid,
		    env->sender, (long long)env->size, env->nrcpt, s->peer,
		    s->tls_proto != NULL ? s->tls_proto : "none",
		    s->tls_proto != NULL ? "/" : "",
		    s->tls_proto != NULL ? s->tls_cipher : "",
		    s->auth_user != NULL ? s->auth_user : "none");
		s->ok[SMTP_CMD_DATA]++;	/* once the message is safe */
		reply(s, "250 2.0.0 Ok: queued as %s", tx->qid);
	}
	session_reset_tx(s);
	if (!s->closing) {
		session_enter(s, SMTP_SERVER_MAIL);
		/* io's resume kick processes the lines pipelined meanwhile. */
		session_pause(s, 0);
	}
	session_unhold(s);
}

static void
data_end(struct session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct queue_incoming	*qi;
	const char		*text = NULL;

	s->last_cmd = "END-OF-MESSAGE";
	if (tx->err == DATA_OK && tx->hops >= s->lim.max_hops)
		data_fail(tx, DATA_LOOP);
	switch (tx->err) {
	case DATA_OK:
		break;
	case DATA_BARE_NL:
		text = "550 5.5.2 Error: bare <CR> or <LF> received";
		break;
	case DATA_NUL:
		text = "550 5.5.2 Error: NUL character in message";
		break;
	case DATA_LONG_LINE:
		text = "550 5.5.2 Error: line longer than 998 octets";
		break;
	case DATA_TOO_BIG:
		text = "552 5.3.4 Error: message size exceeds fixed limit";
		break;
	case DATA_LOOP:
		text = "554 5.4.6 Error: too many hops (mail loop)";
		break;
	case DATA_WRITE:
		log_warn("%s: queue file write: %s", tx->qid,
		    strerror(tx->write_errno));
		text = tx->write_errno == ENOSPC ?
		    "452 4.3.1 Insufficient system storage" :
		    "451 4.3.0 Error: queue file write error";
		break;
	}
	if (text != NULL) {
		if (tx->err != DATA_WRITE)
			log_decision(s, "reject", "END-OF-MESSAGE", NULL, NULL,
			    NULL, "%s", text);
		reply_error(s, "%s", text);
		session_reset_tx(s);
		session_enter(s, SMTP_SERVER_MAIL);
		return;
	}
	if (tx->drop) {
		if (srv_test)
			reply(s, "250 2.0.0 Ok: (not queued: -bh)");
		else {
			log_decision(s, "discard", "END-OF-MESSAGE", NULL, NULL,
			    NULL, "all %d recipient%s discarded, size=%lld",
			    tx->ndiscard, tx->ndiscard == 1 ? "" : "s",
			    (long long)tx->size);
			reply(s, "250 2.0.0 Ok");
		}
		s->ok[SMTP_CMD_DATA]++;
		session_reset_tx(s);
		session_enter(s, SMTP_SERVER_MAIL);
		return;
	}
	/* The 250 waits for the sync; reading waits with it (PIPELINING). */
	qi = tx->qi;
	tx->qi = NULL;
	queue_incoming_envelope(qi)->body_8bit = tx->body_8bit;
	s->committing = qi;
	session_pause(s, 1);
	session_enter(s, SMTP_SERVER_COMMIT);
	queue_incoming_commit(qi, commit_done, s);
}

/*
 * One line of DATA with its terminator. Only CRLF.CRLF ends the message:
 * a "." line counts only when the line before it ended with CRLF too, so
 * "<LF>.<CR><LF>" and friends are message text, which is refused at the
 * real end (replying earlier would run the smuggled commands).
 */
static void
data_line(struct session *s, const char *line, size_t len)
{
	struct smtp_tx	*tx = s->tx;
	int		 crlf = len >= 2 && line[len - 2] == '\r';
	size_t		 body = len - (crlf ? 2 : 1), i;

	tx->data_bytes += len;
	if (crlf && tx->prev_crlf && body == 1 && line[0] == '.') {
		data_end(s);
		return;
	}
	tx->prev_crlf = crlf;
	if (!crlf || memchr(line, '\r', body) != NULL)
		data_fail(tx, DATA_BARE_NL);
	else if (memchr(line, '\0', body) != NULL)
		data_fail(tx, DATA_NUL);
	else if (body > SMTP_TEXT_MAXLINE)
		data_fail(tx, DATA_LONG_LINE);
	if (tx->err != DATA_OK)
		return;
	if (line[0] == '.') {		/* RFC 5321 §4.5.2 */
		line++;
		body--;
	}
	if (tx->in_headers) {
		if (body == 0)
			tx->in_headers = 0;
		else if (body >= 9 && ascii_strncasecmp(line, "Received:",
		    9) == 0)
			tx->hops++;
	}
	for (i = 0; i < body && !tx->body_8bit; i++)
		if ((unsigned char)line[i] >= 0x80)
			tx->body_8bit = 1;
	tx->size += (int64_t)body + 2;
	if (tx->size > s->lim.max_message_size) {
		data_fail(tx, DATA_TOO_BIG);
		return;
	}
	if (!tx->drop && queue_incoming_write(tx->qi, line, body + 2) == -1) {
		tx->write_errno = errno;
		data_fail(tx, DATA_WRITE);
	}
}

/* The DATA deadline: a base plus what the bytes so far earn at a minimum
 * rate, so big messages on slow links pass and trickling does not. */
static void
data_deadline(struct session *s)
{
	struct smtp_tx	*tx = s->tx;

	io_set_deadline(s->io, tx->data_start +
	    (uint64_t)s->lim.data_timeout_ms +
	    tx->data_bytes * 1000 / SMTP_DATA_MIN_RATE);
}

/* Commands: dispatch */

static void
command_line(struct session *s, const char *line, size_t len)
{
	char		*buf, *arg;
	size_t		 i, n = len;
	const struct smtp_cmd *c = NULL;
	enum cmd_result	 r;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	s->ncommands++;
	if (memchr(line, '\0', n) != NULL || memchr(line, '\r', n) != NULL) {
		s->total[SMTP_CMD_UNKNOWN]++;
		reply_error(s, "500 5.5.2 Error: bad character in command");
		return;
	}
	buf = xstrndup(line, n);
	log_debug("smtp: %s: < %s", s->ip, buf);
	arg = buf + strcspn(buf, " \t");
	if (*arg != '\0')
		*arg++ = '\0';
	arg = (char *)skip_ws(arg);
	rtrim(arg);
	for (i = 0; i < nitems(smtp_cmds); i++)
		if (ascii_strcasecmp(buf, smtp_cmds[i].verb) == 0) {
			c = &smtp_cmds[i];
			break;
		}
	s->last_cmd = c != NULL ? c->verb : "UNKNOWN";
	if (n > SMTP_CMD_MAXLINE && (c == NULL || c->fn != cmd_auth)) {
		/* Read to its end already, so no part of it runs. */
		if (c != NULL)
			s->total[i]++;
		else
			s->total[SMTP_CMD_UNKNOWN]++;
		reply_error(s, "500 5.5.2 Error: line too long");
	} else if (c == NULL) {
		s->total[SMTP_CMD_UNKNOWN]++;
		reply_error(s, "500 5.5.1 Error: command not recognized");
	} else if (!(c->states & (1u << s->state))) {
		s->total[i]++;
		reply_error(s, "503 5.5.1 Error: %s",
		    s->state == SMTP_SERVER_REFUSED ? "access denied, only "
		    "QUIT is accepted" :
		    s->state == SMTP_SERVER_HELO ? "send HELO/EHLO first" :
		    c->seq_err);
	} else {
		s->total[i]++;
		r = c->fn(s, arg);
		if (r == CMD_OK)
			s->ok[i]++;
	}
	free(buf);
}

/* Postfix's smtpd_hard_error_limit; a held reply goes out first. */
static void
check_hard_errors(struct session *s)
{
	if (s->errors < SMTP_HARD_ERRORS || s->closing || s->io == NULL ||
	    (s->delay_timer != NULL && ev_timer_pending(s->delay_timer)))
		return;
	reply(s, "421 4.7.0 %s Error: too many errors", srv_hostname());
	log_info("too many errors after %s from %s", s->last_cmd,
	    s->peer);
	session_finish(s);
}

/* Process buffered input while the state reads lines (PIPELINING). */
static void
session_input(struct session *s)
{
	const char	*line;
	size_t		 len;
	enum io_line	 r;

	if (s->state == SMTP_SERVER_GREETING) {
		/* Spoke before the greeting: a bulk mailer that does not
		 * wait for replies (what greet_pause exists to catch). */
		log_decision(s, "reject", "CONNECT", NULL, NULL, NULL,
		    "554 5.5.1 talked before the greeting");
		reply(s, "554 5.5.1 %s Error: protocol synchronization",
		    srv_hostname());
		session_finish(s);
		return;
	}
	while (!s->closing && s->io != NULL &&
	    (s->state == SMTP_SERVER_HELO || s->state == SMTP_SERVER_MAIL ||
	    s->state == SMTP_SERVER_REFUSED ||
	    s->state == SMTP_SERVER_RCPT || s->state == SMTP_SERVER_DATA ||
	    s->state == SMTP_SERVER_AUTH)) {
		/* A failed AUTH holds everything until its 535 is sent,
		 * a throttled RCPT until its reply is. */
		if ((s->auth_timer != NULL &&
		    ev_timer_pending(s->auth_timer)) ||
		    (s->delay_timer != NULL &&
		    ev_timer_pending(s->delay_timer)))
			break;
		r = io_getline(s->io, &line, &len);
		if (r == IO_LINE_NONE)
			break;
		if (s->state == SMTP_SERVER_AUTH) {
			if (r == IO_LINE_OK)
				auth_line(s, line, len);
			else {
				auth_end(s);
				session_enter(s, SMTP_SERVER_MAIL);
				reply_error(s, "500 5.5.2 Error: line too long");
			}
			continue;
		}
		if (s->state == SMTP_SERVER_DATA) {
			if (r == IO_LINE_OK)
				data_line(s, line, len);
			else {
				/*
				 * Cut by io: we cannot know how it ended, so
				 * do not let a "." right after it end DATA
				 * (it might follow a bare LF).
				 */
				s->tx->data_bytes += SMTP_DATA_IOLINE;
				s->tx->prev_crlf = 0;
				data_fail(s->tx, DATA_LONG_LINE);
			}
			continue;
		}
		if (r == IO_LINE_TOOLONG) {
			s->ncommands++;
			s->total[SMTP_CMD_UNKNOWN]++;
			reply_error(s, "500 5.5.2 Error: line too long");
		} else
			command_line(s, line, len);
		check_hard_errors(s);
	}
	if (!s->closing && s->io != NULL && s->state == SMTP_SERVER_DATA)
		data_deadline(s);
	else if (s->state == SMTP_SERVER_QUIT && s->io != NULL)
		io_drop_input(s->io);
}

static void
session_io(struct io *io, enum io_event ev, void *arg)
{
	struct session	*s = arg;

	session_hold(s);
	switch (ev) {
	case IO_DATAIN:
		session_input(s);
		break;
	case IO_LOWAT:
		if (s->state == SMTP_SERVER_QUIT)
			session_close(s, NULL);
		else if (s->tls_flush_wait)
			tls_begin(s);
		break;
	case IO_TIMEOUT:
		if (s->state == SMTP_SERVER_QUIT) {
			session_close(s, NULL);
			break;
		}
		log_info("timeout after %s from %s", s->last_cmd,
		    s->peer);
		/* io stops all traffic on a timeout: one direct try. */
		send_direct(io_fd(io), "421 4.4.2", "Error: timeout exceeded");
		session_close(s, NULL);
		break;
	case IO_DISCONNECTED:
	case IO_ERROR:
		if (s->state == SMTP_SERVER_STARTTLS)
			log_info("TLS handshake failed from %s: %s",
			    s->peer, io_error(io));
		session_close(s, s->state == SMTP_SERVER_QUIT ? NULL :
		    "lost connection");
		break;
	case IO_TLSREADY:
		tls_ready(s);
		break;
	case IO_CONNECTED:
		break;
	}
	session_unhold(s);
}

static void
session_greet(struct session *s)
{
	session_enter(s, SMTP_SERVER_HELO);
	reply(s, "220 %s ESMTP hikyaku", srv_hostname());
}

static void
greet_timer_cb(void *arg)
{
	struct session	*s = arg;

	session_hold(s);
	session_greet(s);
	session_unhold(s);
}

/*
 * Connect: refused. RFC 5321 §3.1: a 554 greeting, then only QUIT is
 * accepted (503 to the rest); a 4xx is a 421 and the end.
 */
static void
session_refuse(struct session *s, const struct rules_answer *a)
{
	const char	*text = a->reply;

	/* "550 5.7.1 Access denied" -> "5.7.1 Access denied" */
	if (strlen(text) > 4 && text[3] == ' ')
		text += 4;
	log_decision(s, "reject", "CONNECT", NULL, NULL, a->rule, "%s",
	    a->reply);
	if (a->reply[0] == '4') {
		reply(s, "421 %s", text);
		session_finish(s);
		return;
	}
	session_enter(s, SMTP_SERVER_REFUSED);
	reply(s, "554 %s", text);
}

/* Accepting */

static size_t
sessions_from(const char *ip)
{
	const struct session	*s;
	size_t			 n = 0;

	for (s = srv_sessions; s != NULL; s = s->next)
		if (strcmp(s->ip, ip) == 0)
			n++;
	return (n);
}

/*
 * rate_limit: is this connection one too many in the client's current
 * window (COUNT connections per DURATION, fixed windows)?
 */
static int
rate_exceeded(const char *ip, int *count, int64_t *per)
{
	struct conn_rate	**pp, *r, *found = NULL;
	const char		 *err;
	uint64_t		  now = ev_now();
	size_t			  n = 0;

	if (config_parse_rate(srv_cfg->rate_limit != NULL ?
	    srv_cfg->rate_limit : "", count, per, &err) == -1 || *count == 0)
		return (0);
	for (pp = &srv_rates; (r = *pp) != NULL;) {
		if (now - r->start >= (uint64_t)*per * 1000 ||
		    n >= SMTP_RATE_TRACKED) {
			*pp = r->next;
			free(r);
			continue;
		}
		if (strcmp(r->ip, ip) == 0)
			found = r;
		n++;
		pp = &r->next;
	}
	if (found == NULL) {
		found = xcalloc(1, sizeof *found);
		snprintf(found->ip, sizeof found->ip, "%s", ip);
		found->start = now;
		/* Newest first, so the cap drops the oldest. */
		found->next = srv_rates;
		srv_rates = found;
	}
	return (++found->count > *count);
}

static struct session *
session_alloc(enum listen_mode mode, const char *ip)
{
	struct session	*s;
	int		 n;
	int64_t		 per;
	const char	*err;

	s = xcalloc(1, sizeof *s);
	s->last_cmd = "CONNECT";
	s->mode = mode;
	snprintf(s->ip, sizeof s->ip, "%s", ip);
	xasprintf(&s->peer, "unknown[%s]", ip);
	buf_init(&s->held);
	s->lim.max_message_size = srv_cfg->max_message_size;
	s->lim.command_timeout_ms = srv_cfg->command_timeout * 1000;
	s->lim.data_timeout_ms = srv_cfg->data_timeout * 1000;
	s->lim.max_recipients = srv_cfg->max_recipients;
	s->lim.max_hops = srv_cfg->max_hops;
	s->lim.vrfy = srv_cfg->vrfy;
	s->lim.expn = srv_cfg->expn;
	s->lim.plaintext_auth = srv_cfg->smtpd_plaintext_auth;
	if (config_parse_rate(srv_cfg->bad_rcpt_throttle != NULL ?
	    srv_cfg->bad_rcpt_throttle : "", &n, &per, &err) == 0) {
		s->lim.bad_rcpt_count = n;
		s->lim.bad_rcpt_delay_ms = per * 1000;
	}
	s->next = srv_sessions;
	if (srv_sessions != NULL)
		srv_sessions->prev = s;
	srv_sessions = s;
	srv_nsessions++;
	return (s);
}

static void
session_set_verdict(struct session *s, const struct rules_answer *a)
{
	s->conn = *a;
	s->relay_ok = a->relay;
	s->discard_all = a->verdict == RULES_DISCARD;
}

/*
 * Known as well as we will know it: log the connection, then TLS first
 * for smtps (under the command deadline; its listeners exist only with
 * credentials loaded), else the greeting.
 */
static void
session_connected(struct session *s)
{
	log_info("connect from %s: relay=%s, rule=%s%s", s->peer,
	    s->relay_ok ? "yes" : "no", s->conn.rule, srv_test ? " (-bh)" : "");
	if (s->mode == LISTEN_SMTPS)
		tls_start(s);
	else
		session_begin(s);
}

/* Judge Connect: with all that is known of the client, and go on. */
static void
session_judge_connect(struct session *s)
{
	struct rules_client	 client;
	struct rules_answer	 a;
	struct rules_trace	 t = { 0 };

	session_client(s, &client);
	rules_check_connect(srv_cfg, &client, &a, srv_test ? &t : NULL);
	session_set_verdict(s, &a);
	explain_steps(s, &t, &a);
	rules_trace_free(&t);
	session_connected(s);
}

/* The lookup is over (name verified, or unknown): host keys may match. */
static void
lookup_finish(struct session *s)
{
	ev_timer_stop(s->lookup_timer);
	session_pause(s, 0);
	session_judge_connect(s);
}

/*
 * As Postfix: a name that is not verified (no PTR, not forward-confirmed,
 * DNS failed or too slow) leaves the client "unknown", so host keys do
 * not match it; the reason is logged, since a Connect: REJECT on a host
 * name is then not applied.
 */
static void
lookup_done(const struct dns_result *r, void *arg)
{
	struct session	*s = arg;

	session_hold(s);
	s->lookup = NULL;
	if (r->status == DNS_OK) {
		s->hostname = xstrdup(r->name);
		free(s->peer);
		xasprintf(&s->peer, "%s[%s]", s->hostname, s->ip);
		explain(s, "peer_lookup: %s is %s (PTR, forward-confirmed)",
		    s->ip, s->hostname);
	} else {
		log_info("%s: client name unknown: %s", s->peer, r->error);
		explain(s, "peer_lookup: client name unknown: %s", r->error);
	}
	lookup_finish(s);
	session_unhold(s);
}

static void
lookup_timer_cb(void *arg)
{
	struct session	*s = arg;
	struct dns_result r = { .status = DNS_TEMPFAIL };
	char		 why[64];

	/* A deadline is a temporary failure like any other. */
	dns_cancel(s->lookup);
	snprintf(why, sizeof why, "lookup took over %d s",
	    SMTP_LOOKUP_TIMEOUT_MS / 1000);
	r.error = why;
	lookup_done(&r, s);
}

/*
 * peer_lookup: nothing is read or sent until the client's name is known
 * (the Connect: verdict may hang on it); what it sends meanwhile waits in
 * the socket and is judged after the greeting (or greet pause).
 */
static void
session_lookup(struct session *s)
{
	s->lookup_timer = ev_timer_new(lookup_timer_cb, s);
	session_enter(s, SMTP_SERVER_LOOKUP);
	session_pause(s, 1);
	s->lookup = dns_resolve_peer(s->ip, lookup_done, s);
}

/*
 * The connect verdict a was reached in listener_accept on the address
 * alone; with peer_lookup it is reached again once the name is known.
 */
static void
session_new(const struct listener *l, int fd, const char *ip,
    const struct rules_answer *a)
{
	struct session		*s;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;

	s = session_alloc(l->mode, ip);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		format_sockaddr(&ss, s->local_ip, sizeof s->local_ip);
	session_set_verdict(s, a);
	s->io = io_new(fd, session_io, s);
	if (srv_cfg->peer_lookup)
		session_lookup(s);
	else
		session_connected(s);
}

/* Greet now, or after the greet pause; or refuse (Connect: REJECT). */
static void
session_begin(struct session *s)
{
	session_enter(s, SMTP_SERVER_GREETING);
	if (s->conn.verdict == RULES_REJECT) {
		session_refuse(s, &s->conn);
		return;
	}
	if (s->discard_all)
		log_decision(s, "discard", "CONNECT", NULL, NULL, s->conn.rule,
		    "access DISCARD: all mail from this client is dropped");
	/* Clients with relay rights are exempt from the greet pause; -bh
	 * has its client's input at once and would look like a talker. */
	if (srv_cfg->greet_pause > 0 && !s->relay_ok && srv_test)
		explain(s, "greet_pause %llds: not applied in -bh",
		    (long long)srv_cfg->greet_pause);
	else if (srv_cfg->greet_pause > 0 && !s->relay_ok) {
		s->greet_timer = ev_timer_new(greet_timer_cb, s);
		ev_timer_after(s->greet_timer,
		    (uint64_t)srv_cfg->greet_pause * 1000);
		return;
	}
	session_greet(s);
}

static void
listeners_enable(int on)
{
	struct listener	*l;

	for (l = srv_listeners; l != NULL; l = l->next)
		if (l->ev != NULL)
			ev_fd_set(l->ev, on ? EV_READ : 0);
}

static void
accept_resume(void *arg)
{
	listeners_enable(1);
}

static void
listener_accept(int fd, int revents, void *arg)
{
	struct listener		*l = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 ip[INET6_ADDRSTRLEN];
	int			 cfd, n, count;
	int64_t			 per;
	struct rules_client	 client;
	struct rules_answer	 a;

	for (n = 0; n < SMTP_ACCEPT_BURST; n++) {
		sslen = sizeof ss;
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered epoll would spin: pause. */
				log_warn("accept on %s:%d: %s; pausing",
				    l->addr, l->port, strerror(errno));
				listeners_enable(0);
				ev_timer_after(srv_accept_timer,
				    SMTP_EMFILE_PAUSE_MS);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s:%d: %s", l->addr,
				    l->port, strerror(errno));
			return;
		}
		format_sockaddr(&ss, ip, sizeof ip);
		if (srv_nsessions >= (size_t)srv_cfg->max_connections) {
			log_warn("refused connect from unknown[%s]: too many "
			    "connections (%zu)", ip, srv_nsessions);
			send_direct(cfd, "421 4.7.0",
			    "Error: too many connections");
			close(cfd);
			continue;
		}
		memset(&client, 0, sizeof client);
		client.ip = ip;
		client.mode = l->mode;
		rules_check_connect(srv_cfg, &client, &a, NULL);
		/* Trusted clients (relay rights) are not counted per IP:
		 * cron, the injector and local scripts share 127.0.0.1. */
		if (!a.relay && sessions_from(ip) >=
		    (size_t)srv_cfg->max_connections_per_ip) {
			log_warn("refused connect from unknown[%s]: too many "
			    "connections from this address", ip);
			send_direct(cfd, "421 4.7.0",
			    "Error: too many connections from your address");
			close(cfd);
			continue;
		}
		if (!a.relay && rate_exceeded(ip, &count, &per)) {
			log_warn("refused connect from unknown[%s]: more than "
			    "%d connections in %llds (rate_limit)", ip, count,
			    (long long)per);
			send_direct(cfd, "421 4.7.0",
			    "Error: too many connections from your address, "
			    "try again later");
			close(cfd);
			continue;
		}
		session_new(l, cfd, ip, &a);
	}
}

/* Listeners */

static void
listener_free(struct listener *l)
{
	if (l->ev != NULL)
		ev_fd_del(l->ev);
	if (l->fd != -1)
		close(l->fd);
	free(l->addr);
	free(l);
}

/* One socket; 0 and *out, or -1 with *err. */
static int
listener_open(const char *addr, int family, int port, enum listen_mode mode,
    struct listener **out, char **err)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sslen;
	struct listener		*l;
	int			 fd, one = 1;
	const char		*what;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sslen = sizeof *s4;
		if (strcmp(addr, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			goto badaddr;
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sslen = sizeof *s6;
		if (strcmp(addr, "*") == 0)
			s6->sin6_addr = in6addr_any;
		else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			goto badaddr;
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		what = "socket";
		goto fail_nofd;
	}
	what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
		goto fail;
	/* "*" is two sockets; the v6 one must not take the v4 port too. */
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
	    &one, sizeof one) == -1)
		goto fail;
	what = "bind";
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1)
		goto fail;
	what = "listen";
	if (listen(fd, SMTP_LISTEN_BACKLOG) == -1)
		goto fail;
	l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->family = family;
	l->addr = xstrdup(addr);
	l->port = port;
	l->mode = mode;
	*out = l;
	return (0);
fail:
	close(fd);
fail_nofd:
	xasprintf(err, "listen %s%s%s:%d: %s: %s",
	    family == AF_INET6 && strcmp(addr, "*") != 0 ? "[" : "", addr,
	    family == AF_INET6 && strcmp(addr, "*") != 0 ? "]" : "", port,
	    what, strerror(errno));
	return (-1);
badaddr:
	xasprintf(err, "listen %s:%d: not an IP address", addr, port);
	return (-1);
}

static struct listener *
listener_find(int family, const char *addr, int port)
{
	struct listener	*l;

	for (l = srv_listeners; l != NULL; l = l->next)
		if (l->family == family && l->port == port &&
		    strcmp(l->addr, addr) == 0)
			return (l);
	return (NULL);
}

static void
listener_activate(struct listener *l)
{
	if (srv_started && l->ev == NULL)
		l->ev = ev_fd_add(l->fd, EV_READ, listener_accept, l);
}

/*
 * Open what the listen lines ask for and is not open yet; mark what
 * stays. With privileged 0, ports below 1024 are skipped into *err.
 * Returns -1 on the first failure (with *err), else 0.
 */
static int
listeners_sync(const struct config *cfg, int privileged,
    struct listener **added, struct buf *skipped, char **err)
{
	const struct listen_cfg	*lc;
	struct listener		*l;
	int			 fams[2], nfam, f;
	size_t			 i;

	for (i = 0; i < cfg->nlisten; i++) {
		lc = &cfg->listens[i];
		nfam = 0;
		if (lc->family == AF_INET || lc->family == AF_UNSPEC)
			fams[nfam++] = AF_INET;
		if (lc->family == AF_INET6 || lc->family == AF_UNSPEC)
			fams[nfam++] = AF_INET6;
		for (f = 0; f < nfam; f++) {
			if ((l = listener_find(fams[f], lc->addr,
			    lc->port)) != NULL) {
				l->keep = 1;
				continue;
			}
			for (l = *added; l != NULL; l = l->next)
				if (l->family == fams[f] && l->port ==
				    lc->port && strcmp(l->addr, lc->addr) == 0)
					break;
			if (l != NULL)
				continue;	/* listed twice */
			if (!privileged && lc->port < 1024) {
				buf_printf(skipped, "%s%s:%d", skipped->len ?
				    ", " : "", lc->addr, lc->port);
				continue;
			}
			if (listener_open(lc->addr, fams[f], lc->port,
			    lc->mode, &l, err) == -1) {
				/* "*" on a host without IPv6 still serves v4. */
				if (lc->family == AF_UNSPEC &&
				    fams[f] == AF_INET6 &&
				    errno == EAFNOSUPPORT) {
					log_warn("%s", *err);
					free(*err);
					*err = NULL;
					continue;
				}
				return (-1);
			}
			l->keep = 1;
			l->next = *added;
			*added = l;
		}
	}
	return (0);
}

static void
listeners_free_list(struct listener *l)
{
	struct listener	*next;

	for (; l != NULL; l = next) {
		next = l->next;
		listener_free(l);
	}
}

/* Who must be able to read our files: `user` when we start as root. */
static const char *
reader_user(const struct config *cfg)
{
	return (geteuid() == 0 ? cfg->user : NULL);
}

static int
config_has_smtps(const struct config *cfg)
{
	size_t	 i;

	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listens[i].mode == LISTEN_SMTPS)
			return (1);
	return (0);
}

/*
 * The server certificate for cfg into *out (NULL when none is
 * configured). -1 with *err when tls_cert/tls_key are set but broken.
 */
static int
tls_load(const struct config *cfg, struct tls_server_creds **out,
    char **err)
{
	char	*why = NULL;

	*out = NULL;
	if ((cfg->tls_cert == NULL || cfg->tls_cert[0] == '\0') &&
	    (cfg->tls_key == NULL || cfg->tls_key[0] == '\0'))
		return (0);
	if (cfg->tls_cert == NULL || cfg->tls_cert[0] == '\0' ||
	    cfg->tls_key == NULL || cfg->tls_key[0] == '\0') {
		xasprintf(err, "tls_cert and tls_key go together: set both");
		return (-1);
	}
	if ((*out = tls_server_creds_load(cfg->tls_cert, cfg->tls_key,
	    reader_user(cfg), &why)) == NULL) {
		xasprintf(err, "server certificate %s: %s", cfg->tls_cert,
		    why);
		free(why);
		return (-1);
	}
	return (0);
}

/*
 * DIR/users, judged for who may read it; a missing file is an empty
 * table. Problems are logged, and *bad set when a line had an error (the
 * table then holds the lines that parsed).
 */
static struct users_table *
users_read(const struct config *cfg, int *bad)
{
	struct users_table	*t;
	struct diags		 d;
	struct stat		 st;
	char			*path;
	size_t			 i;
	int			 rc;

	t = xcalloc(1, sizeof *t);
	t->refs = 1;
	if (cfg->dir == NULL)
		return (t);
	xasprintf(&path, "%s/users", cfg->dir);
	memset(&d, 0, sizeof d);
	if (stat(path, &st) == 0)
		privsep_check_secret(path, reader_user(cfg), &d, "users file");
	rc = users_load(path, &t->u, &d);
	for (i = 0; i < d.n; i++)
		if (d.v[i].line > 0)
			log_warn("%s:%d:%d: %s", d.v[i].file, d.v[i].line,
			    d.v[i].col, d.v[i].msg);
		else
			log_warn("%s: %s", d.v[i].file, d.v[i].msg);
	diags_free(&d);
	free(path);
	*bad = rc == -1;
	return (t);
}

int
smtp_server_listen(const struct config *cfg, char **err)
{
	struct listener		*added = NULL;
	struct buf		 skipped;
	struct tls_server_creds	*tls;
	struct users_table	*users;
	char			*why = NULL;
	int			 bad;

	if (tls_load(cfg, &tls, &why) == -1) {
		if (config_has_smtps(cfg)) {
			xasprintf(err, "%s; the smtps listener cannot run "
			    "without it", why);
			free(why);
			return (-1);
		}
		log_warn("%s; STARTTLS is not offered", why);
		free(why);
	}
	if (tls == NULL && config_has_smtps(cfg)) {
		xasprintf(err, "an smtps listener needs tls_cert and tls_key "
		    "(a self-signed pair: hikyaku cert new)");
		return (-1);
	}
	buf_init(&skipped);
	if (listeners_sync(cfg, 1, &added, &skipped, err) == -1) {
		listeners_free_list(added);
		buf_free(&skipped);
		tls_server_creds_put(tls);
		return (-1);
	}
	/* Bad lines are logged; the accounts that parsed still work. */
	users = users_read(cfg, &bad);
	buf_free(&skipped);
	srv_listeners = added;
	srv_cfg = cfg;
	srv_tls = tls;
	srv_users = users;
	return (0);
}

void
smtp_server_start(void)
{
	struct listener	*l;

	srv_started = 1;
	if (srv_accept_timer == NULL)
		srv_accept_timer = ev_timer_new(accept_resume, NULL);
	for (l = srv_listeners; l != NULL; l = l->next) {
		listener_activate(l);
		log_info("listening on %s%s%s:%d (%s)",
		    l->family == AF_INET6 ? "[" : "", l->addr,
		    l->family == AF_INET6 ? "]" : "", l->port,
		    config_listen_mode_name(l->mode));
	}
}

int
smtp_server_reconfigure(const struct config *cfg, char **err)
{
	struct listener		*added = NULL, *l, **lp;
	struct buf		 skipped;
	struct tls_server_creds	*tls;
	struct users_table	*users;
	char			*why = NULL;
	size_t			 i;
	int			 keep_tls = 0, bad;

	if (tls_load(cfg, &tls, &why) == -1) {
		if (srv_tls != NULL) {
			/* A renewal gone wrong must not take TLS away. */
			keep_tls = 1;
			log_warn("reload: %s; keeping the certificate loaded "
			    "before in service", why);
		} else if (config_has_smtps(cfg)) {
			xasprintf(err, "%s; the smtps listener cannot run "
			    "without it", why);
			free(why);
			return (-1);
		} else
			log_warn("reload: %s; STARTTLS is not offered", why);
		free(why);
	} else if (tls == NULL && config_has_smtps(cfg)) {
		xasprintf(err, "an smtps listener needs tls_cert and tls_key "
		    "(a self-signed pair: hikyaku cert new)");
		return (-1);
	}
	for (l = srv_listeners; l != NULL; l = l->next)
		l->keep = 0;
	buf_init(&skipped);
	if (listeners_sync(cfg, geteuid() == 0, &added, &skipped, err) == -1 ||
	    skipped.len > 0) {
		/* All or nothing: the caller keeps the running config. */
		if (skipped.len > 0 && *err == NULL)
			xasprintf(err, "restart needed to listen on %s "
			    "(privileged ports are bound only at start)",
			    skipped.data);
		listeners_free_list(added);
		buf_free(&skipped);
		tls_server_creds_put(tls);
		return (-1);
	}
	buf_free(&skipped);
	if (!keep_tls) {
		/* Sessions under TLS hold their own reference. */
		tls_server_creds_put(srv_tls);
		srv_tls = tls;
	}
	users = users_read(cfg, &bad);
	if (bad) {
		log_warn("reload: the users file has errors; keeping the "
		    "accounts read before");
		users_table_put(users);
	} else {
		users_table_put(srv_users);
		srv_users = users;
	}
	for (i = 0; i < cfg->nlisten; i++)
		for (l = srv_listeners; l != NULL; l = l->next)
			if (l->port == cfg->listens[i].port &&
			    strcmp(l->addr, cfg->listens[i].addr) == 0)
				l->mode = cfg->listens[i].mode;
	/* Close listeners no line asks for; their sessions go on. */
	for (lp = &srv_listeners; (l = *lp) != NULL;) {
		if (l->keep) {
			lp = &l->next;
			continue;
		}
		*lp = l->next;
		log_info("no longer listening on %s:%d", l->addr, l->port);
		listener_free(l);
	}
	while ((l = added) != NULL) {
		added = l->next;
		l->next = srv_listeners;
		srv_listeners = l;
		listener_activate(l);
		log_info("listening on %s:%d (%s)", l->addr, l->port,
		    config_listen_mode_name(l->mode));
	}
	srv_cfg = cfg;
	return (0);
}

void
smtp_server_shutdown(void)
{
	struct session		*s, *next;
	struct auth_fail	*f;
	struct conn_rate	*r;

	listeners_free_list(srv_listeners);
	srv_listeners = NULL;
	ev_timer_free(srv_accept_timer);
	srv_accept_timer = NULL;
	srv_started = 0;
	while ((f = srv_auth_fails) != NULL) {
		srv_auth_fails = f->next;
		free(f);
	}
	while ((r = srv_rates) != NULL) {
		srv_rates = r->next;
		free(r);
	}
	for (s = srv_sessions; s != NULL; s = next) {
		next = s->next;
		session_hold(s);
		if (s->io != NULL && s->state != SMTP_SERVER_QUIT)
			send_direct(io_fd(s->io), "421 4.3.2",
			    "Service shutting down");
		session_close(s, NULL);
		session_unhold(s);
	}
	tls_server_creds_put(srv_tls);
	srv_tls = NULL;
	users_table_put(srv_users);
	srv_users = NULL;
}

size_t
smtp_server_sessions(void)
{
	return (srv_nsessions);
}

/* hikyakud -bh */

/*
 * The client's side: a child copies in to the session's socket with
 * plain blocking I/O, so in may be a terminal, a pipe or a file (epoll
 * refuses files) and a slow reader of out never stalls it.
 */
static pid_t
test_feeder(int in, int sock, int other)
{
	char	 b[4096];
	ssize_t	 n, w, off;
	pid_t	 pid;

	if ((pid = fork()) != 0)
		return (pid);
	close(other);
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) & ~O_NONBLOCK);
	while ((n = read(in, b, sizeof b)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		for (off = 0; off < n; off += w)
			if ((w = write(sock, b + off, (size_t)(n - off))) == -1)
				_exit(0);	/* the session is over */
	}
	shutdown(sock, SHUT_WR);
	_exit(0);
}

struct test_out {
	int		 sock, out;
};

/* The server's side to out, as it comes; EOF once the session closed. */
static void
test_out_cb(int fd, int revents, void *arg)
{
	struct test_out	*t = arg;
	char		 b[4096];
	ssize_t		 n, w, off;

	n = read(t->sock, b, sizeof b);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ev_break();
		return;
	}
	for (off = 0; off < n; off += w)
		if ((w = write(t->out, b + off, (size_t)(n - off))) == -1) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			ev_break();	/* nobody reads: stop */
			return;
		}
}

int
smtp_server_test_session(const struct config *cfg, const char *ip,
    const char *auth_user, enum listen_mode mode, int in, int out,
    char **err)
{
	struct in6_addr		 a6;
	struct session		*s;
	struct test_out		 to;
	struct ev_fd		*ev;
	int			 sv[2], bad;
	pid_t			 feeder;

	if (inet_pton(AF_INET, ip, &a6) != 1 &&
	    inet_pton(AF_INET6, ip, &a6) != 1) {
		xasprintf(err, "%s: not an IP address", ip);
		return (-1);
	}
	/* The daemon's resolver, as its sessions would look the name up. */
	if (cfg->peer_lookup && dns_init(cfg->resolver, err) == -1)
		return (-1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		xasprintf(err, "socketpair: %s", strerror(errno));
		return (-1);
	}
	if ((feeder = test_feeder(in, sv[1], sv[0])) == -1) {
		xasprintf(err, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return (-1);
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	srv_test = 1;
	srv_cfg = cfg;
	srv_users = users_read(cfg, &bad);

	s = session_alloc(mode, ip);
	/* No socket to ask: the address a client of this mode would reach. */
	snprintf(s->local_ip, sizeof s->local_ip, "%s",
	    rules_listen_address(cfg, mode));
	if (auth_user != NULL)
		s->auth_user = xstrdup(auth_user);
	s->io = io_new(sv[0], session_io, s);
	explain(s, "-bh: client %s on a %s listener%s%s; nothing is queued",
	    ip, config_listen_mode_name(mode),
	    auth_user != NULL ? ", authenticated as " : "",
	    auth_user != NULL ? auth_user : "");
	session_hold(s);
	if (cfg->peer_lookup)
		session_lookup(s);
	else
		session_judge_connect(s);
	session_unhold(s);

	to.sock = sv[1];
	to.out = out;
	ev = ev_fd_add(sv[1], EV_READ, test_out_cb, &to);
	ev_run();
	ev_fd_del(ev);
	close(sv[1]);
	kill(feeder, SIGTERM);
	waitpid(feeder, NULL, 0);
	smtp_server_shutdown();
	if (cfg->peer_lookup)
		dns_shutdown();
	srv_test = 0;
	return (0);
}
