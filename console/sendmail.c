/*
 * hikyaku-sendmail: the sendmail-compatible injector
 * (help/hikyaku-sendmail.md).
 *
 * It answers as sendmail, mailq (-bp) and newaliases (-bi) by argv[0].
 * Mail goes into SPOOL/maildrop through maildrop_write, so it is queued
 * even while the daemon is down; exit 0 means the file is synced. It
 * links only the pure modules plus the blocking control client (no event
 * loop): the daemon is asked for nothing to inject mail, only for -bp,
 * -q and newaliases.
 *
 * Exit codes follow sysexits.h: 64 usage, 65 bad message or address,
 * 69 unavailable feature, 75 temporary failure (mail not queued; retry),
 * 78 bad configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
#include "ctl_client.h"
#include "envelope.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "help/usage.h"

#define PROG	"hikyaku-sendmail"

enum sm_mode {
	MODE_DELIVER,		/* -bm: read a message, queue it */
	MODE_SMTP,		/* -bs */
	MODE_MAILQ,		/* -bp, or called as mailq */
	MODE_FLUSH,		/* -q */
	MODE_NEWALIASES,	/* -bi, or called as newaliases */
	MODE_UNSUPPORTED,	/* -bt, -bv (handed to hikyaku trace), -bd, ... */
};

struct sm_opts {
	enum sm_mode	 mode;
	const char	*mode_flag;	/* the -bX given, for messages */
	int		 extract;	/* -t */
	int		 ignore_dots;	/* -i, -oi */
	int		 verbose;	/* -v */
	const char	*from;		/* -f / -r */
	const char	*fullname;	/* -F */
	const char	*confdir;	/* -C */
};

/* Who is submitting, and the config that completes addresses. */
struct sm_ctx {
	struct config	*cfg;
	char		*user;		/* login name of the real uid */
	char		*gecos;		/* its full name, or NULL */
};

/*
 * full: every file, as newaliases validates the whole configuration;
 * otherwise only what injecting, mailq and -q need, so that any uid can
 * use them while remotes holds a password (mode 0640, DESIGN §12).
 */
static int
load_ctx(struct sm_ctx *x, const char *confdir, int full)
{
	struct diags d = { 0 };
	struct passwd *pw;
	char *comma;

	if ((full ? config_load(confdir, &x->cfg, &d) :
	    config_load_main(confdir, &x->cfg, &d)) == -1) {
		diags_print(&d, stderr);
		fprintf(stderr, PROG ": cannot read the configuration in %s\n",
		    confdir);
		diags_free(&d);
		return -1;
	}
	diags_free(&d);
	if ((pw = getpwuid(getuid())) != NULL) {
		x->user = xstrdup(pw->pw_name);
		if (pw->pw_gecos && *pw->pw_gecos) {
			x->gecos = xstrdup(pw->pw_gecos);
			/* GECOS: "Full Name,room,phone,..." */
			if ((comma = strchr(x->gecos, ',')) != NULL)
				*comma = '\0';
		}
	} else {
		/* A uid without a passwd entry (containers) still sends. */
		xasprintf(&x->user, "uid%ld", (long)getuid());
	}
	return 0;
}

static void
ctx_free(struct sm_ctx *x)
{
	config_free(x->cfg);
	free(x->user);
	free(x->gecos);
}

/* Complete and canonicalise; NULL after printing why. */
static char *
complete(const struct sm_ctx *x, const char *in)
{
	enum address_error why;
	char *out;

	if (address_complete(in, x->cfg->me, x->cfg->defaultdomain, &out,
	    &why) == -1) {
		fprintf(stderr, PROG ": <%s>: %s\n", in, address_strerror(why));
		return NULL;
	}
	return out;
}

/* ---- message headers ---- */

/* Length of the header name at p (before ':'), 0 if not a header line. */
static size_t
header_name_len(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == ':')
			return i;
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 127)
			return 0;
	}
	return 0;
}

static int
header_is(const char *line, size_t namelen, const char *name)
{
	return namelen == strlen(name) &&
	    ascii_strncasecmp(line, name, namelen) == 0;
}

/*
 * Addresses of an RFC 5322 address list (To/Cc/Bcc value): display
 * names, comments and group syntax dropped, angle addresses preferred.
 */
static void
list_addresses(const char *v, char ***out, size_t *n)
{
	struct buf cur, ang;
	int quote = 0, comment = 0, inangle = 0, have_angle = 0;
	const char *p;

	buf_init(&cur);
	buf_init(&ang);
	for (p = v;; p++) {
		char c = *p;

		if (c && quote) {
			if (c == '\\' && p[1])
				buf_addch(inangle ? &ang : &cur, *++p);
			else if (c == '"')
				quote = 0;
			else
				buf_addch(inangle ? &ang : &cur, c);
			continue;
		}
		if (c && comment) {
			if (c == '\\' && p[1])
				p++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (c == '"') {
			quote = 1;
		} else if (c == '(') {
			comment = 1;
		} else if (c == '<' && !inangle) {
			inangle = 1;
			buf_reset(&ang);
		} else if (c == '>' && inangle) {
			inangle = 0;
			have_angle = 1;
		} else if (inangle && c) {
			if (!isspace((unsigned char)c))
				buf_addch(&ang, c);
		} else if (c == ':') {
			/* "group-name:" — the name is no address. */
			buf_reset(&cur);
		} else if (c == ',' || c == ';' || c == '\0') {
			const char *a = have_angle ? ang.data : cur.data;

			if (a && *a) {
				*out = xreallocarray(*out, *n + 1,
				    sizeof(**out));
				(*out)[(*n)++] = xstrdup(a);
			}
			buf_reset(&cur);
			buf_reset(&ang);
			have_angle = 0;
			if (c == '\0')
				break;
		} else if (!isspace((unsigned char)c)) {
			buf_addch(&cur, c);
		}
	}
	buf_free(&cur);
	buf_free(&ang);
}

struct msg_facts {
	int	 has_from, has_date, has_msgid;
	char	*rcpt_headers;	/* To, Cc and Bcc values joined by ',' */
};

/* RFC 5322 phrase: quote the display name unless it is plain atoms. */
static void
add_phrase(struct buf *b, const char *name)
{
	const char *p;
	int plain = 1;

	for (p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != ' ' &&
		    !strchr("!#$%&'*+-/=?^_`{|}~", *p) &&
		    !((unsigned char)*p & 0x80))
			plain = 0;
	if (plain) {
		buf_addstr(b, name);
		return;
	}
	buf_addch(b, '"');
	for (p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addch(b, '\\');
		if (*p != '\r' && *p != '\n')
			buf_addch(b, *p);
	}
	buf_addch(b, '"');
}

/*
 * Turn the raw input into the message to queue: drop a leading mbox
 * "From " line and Bcc: (drop_bcc), collect the recipient headers, add
 * From:, Date: and Message-ID: when missing. Line ends follow the input's
 * first line (LF or CRLF); the daemon normalises them.
 */
static void
message_prepare(const struct sm_ctx *x, const struct sm_opts *o,
    const char *sender, const char *in, size_t len, int drop_bcc,
    struct buf *out, struct msg_facts *f)
{
	const char *p = in, *end = in + len, *nl, *eol;
	struct buf rh;
	size_t namelen, linelen;
	int skipping = 0, in_rcpt_hdr = 0, crlf;
	char date[64], rnd[8];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	memset(f, 0, sizeof(*f));
	buf_init(&rh);
	nl = memchr(in, '\n', len);
	crlf = nl && nl > in && nl[-1] == '\r';
	eol = crlf ? "\r\n" : "\n";
	if (len >= 5 && memcmp(in, "From ", 5) == 0)
		p = nl ? nl + 1 : end;
	/* Header section: header lines and their continuations. */
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		linelen = (nl ? nl + 1 : end) - p;
		if (*p == ' ' || *p == '\t') {
			if (in_rcpt_hdr)
				buf_add(&rh, p, linelen);
			if (!skipping)
				buf_add(out, p, linelen);
			p += linelen;
			continue;
		}
		namelen = header_name_len(p, linelen);
		if (namelen == 0)
			break;
		in_rcpt_hdr = header_is(p, namelen, "To") ||
		    header_is(p, namelen, "Cc") ||
		    header_is(p, namelen, "Bcc");
		if (in_rcpt_hdr) {
			buf_addch(&rh, ',');
			buf_add(&rh, p + namelen + 1, linelen - namelen - 1);
		}
		skipping = drop_bcc && header_is(p, namelen, "Bcc");
		f->has_from |= header_is(p, namelen, "From");
		f->has_date |= header_is(p, namelen, "Date");
		f->has_msgid |= header_is(p, namelen, "Message-ID");
		if (!skipping)
			buf_add(out, p, linelen);
		p += linelen;
	}
	/* A header block without a final newline still needs one. */
	if (out->len && out->data[out->len - 1] != '\n')
		buf_addstr(out, eol);
	if (!f->has_from) {
		buf_addstr(out, "From: ");
		if (o->fullname || x->gecos) {
			add_phrase(out, o->fullname ? o->fullname : x->gecos);
			buf_printf(out, " <%s>%s", sender, eol);
		} else {
			buf_printf(out, "%s%s", sender, eol);
		}
	}
	if (!f->has_date) {
		format_rfc5322_date(now, date, sizeof(date));
		buf_printf(out, "Date: %s%s", date, eol);
	}
	if (!f->has_msgid) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%Y%m%d%H%M%S", &tm);
		buf_printf(out, "Message-ID: <%s.%ld.", date, (long)getpid());
		for (i = 0; i < sizeof(rnd); i++)
			buf_printf(out, "%02x", (unsigned char)rnd[i]);
		buf_printf(out, "@%s>%s", x->cfg->me, eol);
	}
	/* The body, separated by exactly one empty line. */
	if (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end &&
	    p[1] == '\n'))
		buf_addstr(out, eol);
	else if (p >= end)
		buf_addstr(out, eol);
	buf_add(out, p, end - p);
	f->rcpt_headers = buf_take(&rh);
}

/* Queue one message; returns an exit code. */
static int
queue_message(const struct sm_ctx *x, const struct sm_opts *o,
    const char *sender, char **rcpts, size_t nrcpt, const char *msg,
    size_t len)
{
	struct envelope env;
	char *err = NULL;
	size_t i;
	int rc = EX_OK;

	envelope_init(&env);
	env.sender = xstrdup(sender);
	for (i = 0; i < nrcpt; i++)
		envelope_add_rcpt(&env, rcpts[i], NULL);
	if (maildrop_write(x->cfg->spool, &env, msg, len, &err) == -1) {
		fprintf(stderr, PROG ": cannot queue the message: %s\n", err);
		free(err);
		rc = EX_TEMPFAIL;
	} else if (o->verbose) {
		fprintf(stderr, PROG ": queued in %s/%s for %zu recipient%s\n",
		    x->cfg->spool, SPOOL_MAILDROP_DIR, nrcpt,
		    nrcpt == 1 ? "" : "s");
	}
	envelope_free(&env);
	return rc;
}

/* The envelope sender: -f completed, "" for <>, else the user@me. */
static char *
envelope_sender(const struct sm_ctx *x, const struct sm_opts *o)
{
	if (o->from && (strcmp(o->from, "<>") == 0 || *o->from == '\0'))
		return xstrdup("");
	return complete(x, o->from ? o->from : x->user);
}

/* Read the message from stdin: to EOF, or to a lone "." without -i. */
static int
read_input(const struct sm_opts *o, struct buf *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (!o->ignore_dots && (strcmp(line, ".\n") == 0 ||
		    strcmp(line, ".\r\n") == 0 || strcmp(line, ".") == 0))
			break;
		buf_add(in, line, n);
	}
	free(line);
	if (ferror(stdin)) {
		fprintf(stderr, PROG ": reading the message: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
do_deliver(const struct sm_ctx *x, const struct sm_opts *o, int argc,
    char **argv)
{
	struct buf in, msg;
	struct msg_facts f;
	char *sender, **rcpts = NULL, **hdr = NULL, *a;
	size_t nrcpt = 0, nhdr = 0, i;
	int rc = EX_OK;

	if (argc == 0 && !o->extract) {
		fprintf(stderr, PROG ": no recipients given (name them, or "
		    "use -t to read them from the message)\n");
		return EX_USAGE;
	}
	if (!(sender = envelope_sender(x, o)))
		return EX_DATAERR;
	for (i = 0; i < (size_t)argc; i++) {
		if (!(a = complete(x, argv[i]))) {
			rc = EX_DATAERR;
			goto out;
		}
		rcpts = xreallocarray(rcpts, nrcpt + 1, sizeof(*rcpts));
		rcpts[nrcpt++] = a;
	}
	buf_init(&in);
	buf_init(&msg);
	if (read_input(o, &in) == -1) {
		rc = EX_TEMPFAIL;
		goto out_bufs;
	}
	message_prepare(x, o, *sender ? sender : "MAILER-DAEMON", in.data ?
	    in.data : "", in.len, 1, &msg, &f);
	if (o->extract) {
		list_addresses(f.rcpt_headers, &hdr, &nhdr);
		for (i = 0; i < nhdr; i++) {
			if (!(a = complete(x, hdr[i]))) {
				rc = EX_DATAERR;
				goto out_facts;
			}
			rcpts = xreallocarray(rcpts, nrcpt + 1,
			    sizeof(*rcpts));
			rcpts[nrcpt++] = a;
		}
		if (nrcpt == 0) {
			fprintf(stderr, PROG ": -t: no recipient addresses "
			    "in the To:, Cc: or Bcc: headers\n");
			rc = EX_DATAERR;
			goto out_facts;
		}
	}
	rc = queue_message(x, o, sender, rcpts, nrcpt, msg.data, msg.len);
out_facts:
	free(f.rcpt_headers);
	strv_free(hdr, nhdr);
out_bufs:
	buf_free(&in);
	buf_free(&msg);
out:
	strv_free(rcpts, nrcpt);
	free(sender);
	return rc;
}

/* ---- -bs: a small SMTP dialogue on stdin/stdout ---- */

enum bs_state {
	BS_IDLE,	/* before MAIL (or after RSET / a finished message) */
	BS_MAIL,	/* MAIL accepted, waiting for RCPT */
	BS_RCPT,	/* at least one RCPT: DATA allowed */
};

struct bs_session {
	enum bs_state	 state;
	char		*sender;
	char		**rcpts;
	size_t		 nrcpt;
};

static void
bs_reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\r\n", stdout);
	fflush(stdout);
}

static void
bs_enter(struct bs_session *s, enum bs_state st)
{
	log_debug("sendmail -bs: state %d -> %d", s->state, st);
	if (st == BS_IDLE) {
		free(s->sender);
		s->sender = NULL;
		strv_free(s->rcpts, s->nrcpt);
		s->rcpts = NULL;
		s->nrcpt = 0;
	}
	s->state = st;
}

/* Parse the path after "MAIL FROM:" / "RCPT TO:"; NULL after replying. */
static char *
bs_path(const struct sm_ctx *x, const char *arg, int is_mail)
{
	struct address a;
	enum address_error why;
	char *s, *out;

	if (address_parse_path(arg, is_mail, NULL, NULL, &a, NULL,
	    &why) == -1) {
		bs_reply("501 5.1.%d Bad address: %s", is_mail ? 7 : 3,
		    address_strerror(why));
		return NULL;
	}
	if (address_is_null(&a)) {
		address_free(&a);
		return xstrdup("");
	}
	s = address_format(&a);
	address_free(&a);
	out = complete(x, s);
	free(s);
	if (!out)
		bs_reply("501 5.1.%d Bad address", is_mail ? 7 : 3);
	return out;
}

/* DATA: read to the lone dot, undo dot-stuffing, queue. */
static void
bs_data(const struct sm_ctx *x, const struct sm_opts *o,
    struct bs_session *s)
{
	struct buf in, msg;
	struct msg_facts f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ended = 0;

	bs_reply("354 End data with <CR><LF>.<CR><LF>");
	buf_init(&in);
	buf_init(&msg);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (strcmp(line, ".\r\n") == 0 || strcmp(line, ".\n") == 0) {
			ended = 1;
			break;
		}
		buf_add(&in, line[0] == '.' ? line + 1 : line,
		    line[0] == '.' ? n - 1 : n);
	}
	free(line);
	if (!ended) {
		buf_free(&in);
		buf_free(&msg);
		return;
	}
	message_prepare(x, o, *s->sender ? s->sender : "MAILER-DAEMON",
	    in.data ? in.data : "", in.len, 0, &msg, &f);
	free(f.rcpt_headers);
	if (queue_message(x, o, s->sender, s->rcpts, s->nrcpt, msg.data,
	    msg.len) == EX_OK)
		bs_reply("250 2.0.0 Ok: queued");
	else
		bs_reply("451 4.3.0 Cannot queue the message now; try later");
	buf_free(&in);
	buf_free(&msg);
	bs_enter(s, BS_IDLE);
}

static int
do_smtp(const struct sm_ctx *x, const struct sm_opts *o)
{
	struct bs_session s = { .state = BS_IDLE };
	char *line = NULL, *a;
	size_t cap = 0;
	ssize_t n;

	bs_reply("220 %s ESMTP hikyaku (sendmail -bs)", x->cfg->me);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		rtrim(line);
		if (ascii_strncasecmp(line, "EHLO", 4) == 0 &&
		    (line[4] == ' ' || !line[4])) {
			bs_enter(&s, BS_IDLE);
			printf("250-%s\r\n250-8BITMIME\r\n250-PIPELINING\r\n",
			    x->cfg->me);
			bs_reply("250 ENHANCEDSTATUSCODES");
		} else if (ascii_strncasecmp(line, "HELO", 4) == 0 &&
		    (line[4] == ' ' || !line[4])) {
			bs_enter(&s, BS_IDLE);
			bs_reply("250 %s", x->cfg->me);
		} else if (ascii_strncasecmp(line, "MAIL FROM:", 10) == 0) {
			if (s.state != BS_IDLE) {
				bs_reply("503 5.5.1 Nested MAIL command");
			} else if ((a = bs_path(x, line + 10, 1)) != NULL) {
				s.sender = a;
				bs_enter(&s, BS_MAIL);
				bs_reply("250 2.1.0 Ok");
			}
		} else if (ascii_strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (s.state == BS_IDLE) {
				bs_reply("503 5.5.1 Need MAIL first");
			} else if ((a = bs_path(x, line + 8, 0)) != NULL) {
				s.rcpts = xreallocarray(s.rcpts, s.nrcpt + 1,
				    sizeof(*s.rcpts));
				s.rcpts[s.nrcpt++] = a;
				bs_enter(&s, BS_RCPT);
				bs_reply("250 2.1.5 Ok");
			}
		} else if (ascii_strcasecmp(line, "DATA") == 0) {
			if (s.state != BS_RCPT)
				bs_reply("503 5.5.1 Need RCPT first");
			else
				bs_data(x, o, &s);
		} else if (ascii_strcasecmp(line, "RSET") == 0) {
			bs_enter(&s, BS_IDLE);
			bs_reply("250 2.0.0 Ok");
		} else if (ascii_strncasecmp(line, "NOOP", 4) == 0) {
			bs_reply("250 2.0.0 Ok");
		} else if (ascii_strncasecmp(line, "VRFY", 4) == 0) {
			bs_reply("252 2.5.2 Send some mail, I'll try my best");
		} else if (ascii_strcasecmp(line, "QUIT") == 0) {
			bs_reply("221 2.0.0 Bye");
			break;
		} else {
			bs_reply("502 5.5.2 Command not recognised");
		}
	}
	free(line);
	bs_enter(&s, BS_IDLE);
	return EX_OK;
}

/* ---- -bp (mailq), -q, newaliases: through the daemon ---- */

/* Open ctl.sock, else public.sock; *down when nothing listens. */
static struct ctl_client *
daemon_open(const struct sm_ctx *x, int public_ok, int *down, char **err)
{
	struct ctl_client *c;
	char *path, *perr = NULL;
	int pdown;

	path = ctl_client_socket_path(x->cfg);
	c = ctl_client_open(path, down, err);
	free(path);
	if (c || *down || !public_ok)
		return c;
	path = ctl_client_public_path(x->cfg);
	c = ctl_client_open(path, &pdown, &perr);
	free(path);
	if (c) {
		free(*err);
		*err = NULL;
	}
	free(perr);
	return c;
}

/* A call whose answer only says ok or why not. */
static int
daemon_simple(struct ctl_client *c, const char *cmd, char **result)
{
	struct json_value *v;
	char *line, *err = NULL;
	const char *s;
	int ok;

	if (!(line = ctl_client_call(c, cmd, NULL, &err))) {
		fprintf(stderr, PROG ": %s\n", err);
		free(err);
		return 0;
	}
	v = json_parse(line, strlen(line), &err);
	free(line);
	if (!v) {
		fprintf(stderr, PROG ": bad answer from the daemon: %s\n",
		    err);
		free(err);
		return 0;
	}
	ok = json_get_bool(v, "ok", 0);
	s = json_get_str(v, ok ? "result" : "error");
	if (result && s)
		*result = xstrdup(s);
	json_free(v);
	return ok;
}

/* The reason line of a message still in maildrop/ (daemon down). */
#define MAILQ_MAILDROP	"waiting in maildrop: not yet queued"

/* "(reason)" right-aligned at 76 columns, as Postfix prints it. */
static void
mailq_reason(const char *reason)
{
	int pad;

	if ((pad = 76 - (int)strlen(reason)) < 0)
		pad = 0;
	printf("%*s(%s)\n", pad, "", reason);
}

/*
 * Postfix mailq lines: "%-11s %7s %-20s %s" (showq_compat.c). Each
 * recipient still queued follows the reason it waits for. A bounced one
 * leaves the list, unless the dsn_rate cap holds its bounce back: then
 * it is listed under that wait and its error, as `queue list` says it.
 */
static void
mailq_message(const struct json_value *m, int64_t now, uint64_t *bytes)
{
	const struct json_value *rc = json_get(m, "recipients");
	const char *sender = json_get_str(m, "sender");
	const char *state = json_get_str(m, "state");
	const char *e, *st;
	char id[64], when[32];
	time_t arrival = (time_t)json_get_int(m, "arrival", 0);
	int64_t size = json_get_int(m, "size", 0);
	struct buf wait, reason, last;
	struct tm tm;
	size_t i;
	int bounced, held;

	/* '!' held, '*' due for delivery now (Postfix: active queue). */
	snprintf(id, sizeof(id), "%s%c", json_get_str(m, "qid"),
	    state && strcmp(state, "held") == 0 ? '!' :
	    state && strcmp(state, "pending") == 0 ? '*' : ' ');
	localtime_r(&arrival, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	printf("%-11s %7lld %-20.20s %s\n", id, (long long)size, when,
	    sender && *sender ? sender : "MAILER-DAEMON");
	*bytes += size > 0 ? (uint64_t)size : 0;
	if (state && strcmp(state, "maildrop") == 0)
		mailq_reason(MAILQ_MAILDROP);
	buf_init(&wait);
	buf_init(&reason);
	buf_init(&last);
	held = ctl_client_dsn_wait_text(m, now, &wait);
	for (i = 0; rc && rc->type == JSON_ARRAY && i < rc->n; i++) {
		st = json_get_str(rc->items[i], "state");
		bounced = st && strcmp(st, "bounced") == 0;
		if ((st && strcmp(st, "delivered") == 0) || (bounced && !held))
			continue;
		e = json_get_str(rc->items[i], "last_error");
		buf_reset(&reason);
		if (bounced)
			buf_printf(&reason, "bounce %s%s%s", wait.data,
			    e ? ": " : "", e ? e : "");
		else if (e)
			buf_addstr(&reason, e);
		if (reason.len && (last.len != reason.len ||
		    memcmp(last.data, reason.data, reason.len) != 0)) {
			mailq_reason(reason.data);
			buf_reset(&last);
			buf_add(&last, reason.data, reason.len);
		}
		printf("%-11s %7s %-20s %s\n", "", "", "",
		    json_get_str(rc->items[i], "addr"));
	}
	buf_free(&wait);
	buf_free(&reason);
	buf_free(&last);
}

static int
do_mailq(const struct sm_ctx *x)
{
	struct ctl_client *c;
	struct json_value *v = NULL, *page;
	const struct json_value *msgs;
	char *err = NULL, *line, members[64];
	uint64_t bytes = 0;
	int64_t offset = 0, total, now = time(NULL);
	size_t i, count = 0;
	int down;

	if (!(c = daemon_open(x, 1, &down, &err))) {
		fprintf(stderr, PROG ": %s; reading the spool directly\n",
		    err);
		free(err);
		v = ctl_client_spool_read(x->cfg, NULL, &err);
		if (err)
			fprintf(stderr, PROG ": %s\n", err);
		free(err);
		if (!v)
			return EX_TEMPFAIL;
		for (i = 0; i < v->n; i++) {
			printf(count++ ? "\n" : "%-11s %7s %-20s %s\n",
			    "-Queue ID-", "--Size--", "----Arrival Time----",
			    "-Sender/Recipient-------");
			mailq_message(v->items[i], now, &bytes);
		}
		json_free(v);
		goto done;
	}
	for (;;) {
		snprintf(members, sizeof(members), ",\"offset\":%lld",
		    (long long)offset);
		if (!(line = ctl_client_call(c, "queue.list", members, &err)) ||
		    !(page = json_parse(line, strlen(line), &err))) {
			fprintf(stderr, PROG ": %s\n", err);
			free(err);
			free(line);
			ctl_client_close(c);
			return EX_TEMPFAIL;
		}
		free(line);
		msgs = json_get(page, "messages");
		total = json_get_int(page, "total", 0);
		for (i = 0; msgs && msgs->type == JSON_ARRAY && i < msgs->n;
		    i++) {
			printf(count++ ? "\n" : "%-11s %7s %-20s %s\n",
			    "-Queue ID-", "--Size--", "----Arrival Time----",
			    "-Sender/Recipient-------");
			mailq_message(msgs->items[i], now, &bytes);
		}
		i = msgs && msgs->type == JSON_ARRAY ? msgs->n : 0;
		offset += i;
		json_free(page);
		if (i == 0 || offset >= total)
			break;
	}
	ctl_client_close(c);
done:
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("\n-- %llu Kbytes in %zu Request%s.\n",
		    (unsigned long long)(bytes / 1024), count,
		    count == 1 ? "" : "s");
	return EX_OK;
}

static int
do_flush(const struct sm_ctx *x)
{
	struct ctl_client *c;
	char *err = NULL, *why = NULL;
	int down, ok;

	if (!(c = daemon_open(x, 1, &down, &err))) {
		fprintf(stderr, PROG ": %s; the queue is run when it "
		    "starts\n", err);
		free(err);
		return EX_TEMPFAIL;
	}
	ok = daemon_simple(c, "queue.flush", &why);
	if (!ok)
		fprintf(stderr, PROG ": flush refused: %s\n",
		    why ? why : "unknown error");
	free(why);
	ctl_client_close(c);
	return ok ? EX_OK : EX_UNAVAILABLE;
}

/* newaliases: validate the configuration, then have the daemon reload. */
static int
do_newaliases(const struct sm_ctx *x)
{
	struct ctl_client *c;
	char *err = NULL, *result = NULL;
	int down, ok;

	printf("%s: configuration OK\n", x->cfg->dir);
	if (!(c = daemon_open(x, 0, &down, &err))) {
		if (down) {
			printf("hikyakud is not running; it reads the "
			    "configuration when it starts\n");
			free(err);
			return EX_OK;
		}
		fprintf(stderr, PROG ": %s\n", err);
		free(err);
		return EX_UNAVAILABLE;
	}
	ok = daemon_simple(c, "reload", &result);
	ctl_client_close(c);
	/* The daemon's answer says it; our own line only when it is mute. */
	if (result && *result)
		fprintf(ok ? stdout : stderr, "%s%s", result,
		    result[strlen(result) - 1] == '\n' ? "" : "\n");
	else if (ok)
		printf("hikyakud reloaded its configuration\n");
	free(result);
	if (!ok) {
		fprintf(stderr, PROG ": reload refused; the daemon keeps "
		    "its previous configuration\n");
		return EX_CONFIG;
	}
	return EX_OK;
}

/* ---- options ---- */

/* The value of -xVALUE or -x VALUE; NULL (after usage) when missing. */
static const char *
opt_value(int argc, char **argv, int *i)
{
	if (argv[*i][2])
		return argv[*i] + 2;
	if (*i + 1 < argc)
		return argv[++*i];
	fprintf(stderr, PROG ": option %s needs a value\n", argv[*i]);
	return NULL;
}

/* Returns the index of the first recipient, or -1 on a usage error. */
static int
parse_options(int argc, char **argv, struct sm_opts *o)
{
	const char *a;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		switch (a[1]) {
		case 't':
			o->extract = 1;
			break;
		case 'i':
			o->ignore_dots = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'f':
		case 'r':
			if (!(o->from = opt_value(argc, argv, &i)))
				return -1;
			break;
		case 'F':
			if (!(o->fullname = opt_value(argc, argv, &i)))
				return -1;
			break;
		case 'C':
			if (!(o->confdir = opt_value(argc, argv, &i)))
				return -1;
			break;
		case 'o':
			/* -oi matters; other -oX options are sendmail's
			   tuning knobs and are ignored, as Postfix does. */
			if (strcmp(a, "-oi") == 0)
				o->ignore_dots = 1;
			else if (!a[2] && !opt_value(argc, argv, &i))
				return -1;
			break;
		case 'b':
			o->mode_flag = a;
			if (strcmp(a, "-bm") == 0)
				o->mode = MODE_DELIVER;
			else if (strcmp(a, "-bs") == 0)
				o->mode = MODE_SMTP;
			else if (strcmp(a, "-bp") == 0)
				o->mode = MODE_MAILQ;
			else if (strcmp(a, "-bi") == 0)
				o->mode = MODE_NEWALIASES;
			else
				o->mode = MODE_UNSUPPORTED;
			break;
		case 'q':
			/* -q, -q30m, -qR...: all mean "run the queue". */
			o->mode = MODE_FLUSH;
			break;
		case 'B': case 'N': case 'R': case 'V': case 'X': case 'L':
		case 'h': case 'A':
			/* Options with a value that need no action here. */
			if (!opt_value(argc, argv, &i))
				return -1;
			break;
		case 'e': case 'm': case 'n': case 'G': case 'U': case 'd':
		case 's':
			break;
		default:
			fprintf(stderr, PROG ": unknown option %s\n", a);
			return -1;
		}
	}
	return i;
}

/*
 * -bt and -bv: sendmail's address test and verify modes are `hikyaku
 * trace --bt` and `hikyaku trace --bv ADDR...`, so this injector links no
 * readline. The hikyaku next to us comes first (a build tree, a sandbox),
 * then the installed one.
 */
static int
exec_trace(const char *confdir, const char *mode, char **addrs, int naddrs)
{
	char self[4096], *slash, *prog = NULL, **av;
	ssize_t n;
	int ac = 0, i;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			xasprintf(&prog, "%s/hikyaku", self);
			if (access(prog, X_OK) == -1) {
				free(prog);
				prog = NULL;
			}
		}
	}
	if (prog == NULL)
		xasprintf(&prog, "%s/hikyaku", HIKYAKU_BINDIR);
	av = xcalloc((size_t)naddrs + 6, sizeof *av);
	av[ac++] = "hikyaku";
	if (confdir != NULL) {
		av[ac++] = "-C";
		av[ac++] = (char *)confdir;
	}
	av[ac++] = "trace";
	av[ac++] = (char *)mode;
	for (i = 0; i < naddrs; i++)
		av[ac++] = addrs[i];
	execv(prog, av);
	fprintf(stderr, PROG ": cannot run %s: %s\n", prog, strerror(errno));
	free(prog);
	free(av);
	return EX_UNAVAILABLE;
}

int
main(int argc, char **argv)
{
	struct sm_opts o = { .mode = MODE_DELIVER };
	struct sm_ctx x = { 0 };
	const char *name;
	int first, rc;

	log_init(PROG, "stderr");
	name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strcmp(name, "mailq") == 0)
		o.mode = MODE_MAILQ;
	else if (strcmp(name, "newaliases") == 0)
		o.mode = MODE_NEWALIASES;
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage_sendmail, stdout);
		return EX_OK;
	}
	if ((first = parse_options(argc, argv, &o)) == -1) {
		fputs(usage_sendmail, stderr);
		return EX_USAGE;
	}
	if (o.mode == MODE_UNSUPPORTED && strcmp(o.mode_flag, "-bt") == 0)
		return exec_trace(o.confdir, "--bt", NULL, 0);
	if (o.mode == MODE_UNSUPPORTED && strcmp(o.mode_flag, "-bv") == 0) {
		if (first >= argc) {
			fprintf(stderr, PROG ": -bv needs an address\n");
			return EX_USAGE;
		}
		return exec_trace(o.confdir, "--bv", argv + first,
		    argc - first);
	}
	if (o.mode == MODE_UNSUPPORTED) {
		fprintf(stderr, PROG ": %s is not supported (address testing "
		    "is -bt or -bv, or `hikyaku trace`)\n", o.mode_flag);
		return EX_UNAVAILABLE;
	}
	if (load_ctx(&x, o.confdir ? o.confdir : config_default_dir(),
	    o.mode == MODE_NEWALIASES) == -1) {
		ctx_free(&x);
		if (o.mode == MODE_DELIVER || o.mode == MODE_SMTP) {
			fprintf(stderr, PROG ": nothing was queued\n");
			return EX_TEMPFAIL;
		}
		if (o.mode == MODE_NEWALIASES)
			fprintf(stderr, PROG ": the running daemon keeps "
			    "its aliases\n");
		return EX_CONFIG;
	}
	switch (o.mode) {
	case MODE_SMTP:
		rc = do_smtp(&x, &o);
		break;
	case MODE_MAILQ:
		rc = do_mailq(&x);
		break;
	case MODE_FLUSH:
		rc = do_flush(&x);
		break;
	case MODE_NEWALIASES:
		rc = do_newaliases(&x);
		break;
	case MODE_DELIVER:
	default:
		rc = do_deliver(&x, &o, argc - first, argv + first);
		break;
	}
	ctx_free(&x);
	return rc;
}
