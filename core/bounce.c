/*
 * bounce: RFC 3464 delivery status notifications (see bounce.h).
 *
 * Everything from outside (addresses, the remote's reply, the original
 * headers) is treated as hostile text: control characters are blanked so
 * a reply cannot add header fields or MIME parts to the report, and the
 * MIME boundary is checked against the content it encloses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "config.h"
#include "envelope.h"

/* Original headers beyond this are cut at a line end: bounces stay small. */
#define BOUNCE_MAX_HEADERS	(64 * 1024)
/* Fold report fields longer than this at a space (RFC 5322 asks for 78). */
#define BOUNCE_FOLD		78

/* A copy of s with CR, LF, TAB and other controls turned into spaces. */
static char *
clean(const char *s)
{
	char *c = xstrdup(s != NULL ? s : ""), *p;

	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return c;
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/*
 * Append "Name: value" CRLF, folding at spaces so no line passes
 * BOUNCE_FOLD where a space allows it. value must already be clean.
 */
static void
add_field(struct buf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	const char *p = value;

	buf_printf(b, "%s: ", name);
	while (*p != '\0') {
		const char *sp = strchr(p + 1, ' ');
		size_t wlen = sp != NULL ? (size_t)(sp - p) : strlen(p);

		/* Fold before a word (which starts with its space) that overflows. */
		if (p != value && *p == ' ' && col + wlen > BOUNCE_FOLD) {
			buf_addstr(b, "\r\n");
			col = 0;
		}
		buf_add(b, p, wlen);
		col += wlen;
		p += wlen;
	}
	buf_addstr(b, "\r\n");
}

/*
 * The SMTP reply inside an error text: the first "DDD " or "DDD-" whose
 * first digit is 2-5 and that starts the text or follows a space.
 * NULL when the failure was not an SMTP reply (connect, TLS, DNS).
 */
static const char *
find_reply(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if ((p == s || p[-1] == ' ') && p[0] >= '2' && p[0] <= '5' &&
		    p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		    p[2] <= '9' && (p[3] == ' ' || p[3] == '-' || p[3] == '\0'))
			return p;
	}
	return NULL;
}

/* Is s at the start of an RFC 3463 code "c.sss.ddd" (class 2, 4 or 5)? */
static size_t
status_len(const char *s)
{
	size_t i = 0, n;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	if (s[1] != '.')
		return 0;
	i = 2;
	for (n = 0; s[i] >= '0' && s[i] <= '9'; i++)
		n++;
	if (n == 0 || n > 3 || s[i] != '.')
		return 0;
	i++;
	for (n = 0; s[i] >= '0' && s[i] <= '9'; i++)
		n++;
	if (n == 0 || n > 3)
		return 0;
	if (s[i] != '\0' && s[i] != ' ')
		return 0;
	return i;
}

void
bounce_status_of(const char *reply, const char *fallback, char *st,
    size_t stlen)
{
	const char *r = reply != NULL ? find_reply(reply) : NULL;
	size_t n;

	if (r != NULL) {
		const char *e = r + 4;

		if (r[3] != '\0' && (n = status_len(e)) != 0 && e[0] == r[0]) {
			snprintf(st, stlen, "%.*s", (int)n, e);
			return;
		}
		if (r[0] == '4' || r[0] == '5') {
			snprintf(st, stlen, "%c.0.0", r[0]);
			return;
		}
	}
	snprintf(st, stlen, "%s", fallback);
}

/* Read the original message's header section (CRLF line ends) into b. */
static int
read_headers(int fd, struct buf *b, char **err)
{
	char *raw = xmalloc(BOUNCE_MAX_HEADERS + 1);
	size_t len = 0, i, start;
	ssize_t n;

	while (len < BOUNCE_MAX_HEADERS) {
		n = pread(fd, raw + len, BOUNCE_MAX_HEADERS - len, (off_t)len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(err, "reading the message: %s",
			    strerror(errno));
			free(raw);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	raw[len] = '\0';
	/* Line by line up to the empty line; a cut-off last line is dropped. */
	for (start = 0, i = 0; i < len; i++) {
		size_t end;

		if (raw[i] != '\n')
			continue;
		end = i;
		if (end > start && raw[end - 1] == '\r')
			end--;
		if (end == start)
			break;
		buf_add(b, raw + start, end - start);
		buf_addstr(b, "\r\n");
		start = i + 1;
	}
	/* A message that is all headers and ends without a newline. */
	if (i == len && start < len && len < BOUNCE_MAX_HEADERS) {
		buf_add(b, raw + start, len - start);
		buf_addstr(b, "\r\n");
	}
	free(raw);
	return 0;
}

/* "host[ip]:port" -> "host" (NULL when there is no host to name). */
static char *
relay_host(const char *relay)
{
	size_t n;

	if (relay == NULL || *relay == '\0')
		return NULL;
	n = strcspn(relay, "[:");
	if (n == 0)
		return NULL;
	return xstrndup(relay, n);
}

static void
add_recipient_report(struct buf *b, const struct envelope_rcpt *r,
    int delay_warning)
{
	char st[16], date[64];
	char *addr = clean(r->addr), *err = clean(r->last_error);
	char *host = relay_host(r->relay), *v;
	const char *reply = find_reply(err);
	const char *fallback = delay_warning ? "4.0.0" : "5.0.0";

	if (r->dsn_status != NULL && status_len(r->dsn_status) != 0)
		snprintf(st, sizeof(st), "%s", r->dsn_status);
	else
		bounce_status_of(err, fallback, st, sizeof(st));

	buf_addstr(b, "\r\n");
	/* RFC 6533: a UTF-8 address is of type utf-8, not rfc822. */
	xasprintf(&v, "%s; %s", is_ascii(addr) ? "rfc822" : "utf-8", addr);
	add_field(b, "Final-Recipient", v);
	free(v);
	/* The envelope keeps ORCPT decoded ("rfc822;addr"), as RFC 3464 shows it. */
	if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL) {
		char *o = clean(r->orcpt);

		add_field(b, "Original-Recipient", o);
		free(o);
	}
	add_field(b, "Action", delay_warning ? "delayed" : "failed");
	add_field(b, "Status", st);
	if (host != NULL) {
		xasprintf(&v, "dns; %s", host);
		add_field(b, "Remote-MTA", v);
		free(v);
	}
	if (reply != NULL) {
		xasprintf(&v, "smtp; %s", reply);
		add_field(b, "Diagnostic-Code", v);
		free(v);
	} else if (*err != '\0') {
		xasprintf(&v, "X-Hikyaku; %s", err);
		add_field(b, "Diagnostic-Code", v);
		free(v);
	}
	if (r->nhistory > 0) {
		format_rfc5322_date(r->history[r->nhistory - 1].when, date,
		    sizeof(date));
		add_field(b, "Last-Attempt-Date", date);
	}
	free(host);
	free(err);
	free(addr);
}

/* "5 days", "1 hour", "90 minutes": the largest unit that divides secs. */
static void
lifetime_words(int64_t secs, char *out, size_t len)
{
	static const struct {
		int64_t		 secs;
		const char	*name;
	} units[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" },
		{ 1, "second" },
	};
	size_t i;

	for (i = 0; i + 1 < sizeof(units) / sizeof(units[0]); i++)
		if (secs >= units[i].secs && secs % units[i].secs == 0)
			break;
	secs /= units[i].secs;
	snprintf(out, len, "%lld %s%s", (long long)secs, units[i].name,
	    secs == 1 ? "" : "s");
}

/* Did the recipient run out of queue_lifetime (set by scheduler.c)
 * rather than fail? */
static int
rcpt_expired(const struct envelope_rcpt *r, int delay_warning)
{
	return !delay_warning && r->dsn_status != NULL &&
	    strcmp(r->dsn_status, BOUNCE_EXPIRED_STATUS) == 0;
}

static void
add_text_part(struct buf *b, const struct config *cfg,
    const struct envelope *env, const size_t *failed_idx, size_t nfailed,
    int delay_warning, const char *to_override)
{
	char *sender = clean(env->sender[0] != '\0' ? env->sender : "<>");
	char date[64];
	size_t k;

	buf_printf(b, "This is the mail system at host %s.\r\n\r\n", cfg->me);
	if (to_override != NULL)
		buf_printf(b, "This report about a message from <%s> comes to "
		    "you because\r\nits sender cannot be notified.\r\n\r\n",
		    env->sender[0] != '\0' ? sender : "");
	if (delay_warning) {
		format_rfc5322_date(env->arrival + cfg->queue_lifetime, date,
		    sizeof(date));
		buf_printf(b, "Your message could not be delivered yet to the "
		    "recipients below.\r\nThe mail system will keep trying "
		    "until %s;\r\nthere is nothing you need to do now.\r\n",
		    date);
	} else
		buf_addstr(b, "Your message could not be delivered to one or "
		    "more recipients.\r\nIts headers are attached below.\r\n");
	buf_addstr(b, "\r\nFor further assistance, please contact your "
	    "postmaster; include this\r\nreport (queue ID ");
	buf_printf(b, "%s).\r\n\r\n", env->id);
	for (k = 0; k < nfailed; k++) {
		const struct envelope_rcpt *r = &env->rcpts[failed_idx[k]];
		char *addr = clean(r->addr), *err = clean(r->last_error);
		char *host = relay_host(r->relay);
		const char *words = err;

		buf_printf(b, "<%s>:", addr);
		if (rcpt_expired(r, delay_warning) && cfg->queue_lifetime > 0) {
			lifetime_words(cfg->queue_lifetime, date, sizeof(date));
			buf_printf(b, "\r\n    The message expired after %s in "
			    "the queue (queue_lifetime)\r\n    without being "
			    "delivered; the last attempt:", date);
			/* The sentence above says what the prefix says. */
			if (strncmp(err, BOUNCE_EXPIRED_PREFIX,
			    strlen(BOUNCE_EXPIRED_PREFIX)) == 0)
				words += strlen(BOUNCE_EXPIRED_PREFIX);
		}
		if (*words == '\0')
			buf_addstr(b, " no reason was recorded\r\n");
		else if (host != NULL && find_reply(words) != NULL)
			buf_printf(b, "\r\n    host %s said: %s\r\n", host,
			    find_reply(words));
		else
			buf_printf(b, "\r\n    %s\r\n", words);
		free(host);
		free(err);
		free(addr);
	}
	free(sender);
}

int
bounce_build(struct buf *out, const struct config *cfg,
    const struct envelope *env, const size_t *failed_idx, size_t nfailed,
    int msg_fd, int delay_warning, const char *to_override, char **err)
{
	static unsigned int counter;
	struct buf text, report, headers;
	char boundary[128], date[64];
	char *to, *sender;
	int64_t now = now_wall_ms();
	size_t k;
	int tries, eight_bit;

	*err = NULL;
	if (nfailed == 0) {
		*err = xstrdup("bounce: no recipient to report");
		return -1;
	}
	for (k = 0; k < nfailed; k++)
		if (failed_idx[k] >= env->nrcpt) {
			xasprintf(err, "bounce: recipient index %zu out of range",
			    failed_idx[k]);
			return -1;
		}
	if (to_override == NULL && (env->sender == NULL ||
	    env->sender[0] == '\0')) {
		/* DESIGN §3: never bounce a null sender. */
		*err = xstrdup("bounce: the null sender is never sent a DSN");
		return -1;
	}
	buf_init(&headers);
	if (read_headers(msg_fd, &headers, err) == -1) {
		buf_free(&headers);
		return -1;
	}

	buf_init(&text);
	add_text_part(&text, cfg, env, failed_idx, nfailed, delay_warning,
	    to_override);

	buf_init(&report);
	sender = clean(env->sender);
	buf_printf(&report, "Reporting-MTA: dns; %s\r\n", cfg->me);
	buf_printf(&report, "X-Hikyaku-Queue-ID: %s\r\n", env->id);
	if (*sender != '\0')
		buf_printf(&report, "X-Hikyaku-Sender: %s; %s\r\n",
		    is_ascii(sender) ? "rfc822" : "utf-8", sender);
	format_rfc5322_date(env->arrival, date, sizeof(date));
	buf_printf(&report, "Arrival-Date: %s\r\n", date);
	for (k = 0; k < nfailed; k++)
		add_recipient_report(&report, &env->rcpts[failed_idx[k]],
		    delay_warning);

	/* A boundary that occurs nowhere in what it encloses. */
	for (tries = 0;; tries++) {
		snprintf(boundary, sizeof(boundary), "%s.%lld.%u/hikyaku",
		    env->id, (long long)now, counter++ + (unsigned)tries);
		if (strstr(text.data, boundary) == NULL &&
		    strstr(report.data, boundary) == NULL &&
		    (headers.data == NULL ||
		    strstr(headers.data, boundary) == NULL))
			break;
	}

	to = clean(to_override != NULL ? to_override : env->sender);
	eight_bit = !is_ascii(text.data) || !is_ascii(report.data) ||
	    (headers.data != NULL && !is_ascii(headers.data)) || !is_ascii(to);
	format_rfc5322_date(now / 1000, date, sizeof(date));
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    cfg->me);
	buf_printf(out, "To: <%s>\r\n", to);
	buf_printf(out, "Subject: %s\r\n", delay_warning ?
	    "Delayed Mail (still being retried)" :
	    "Undelivered Mail Returned to Sender");
	buf_printf(out, "Message-ID: <%s.%lld.%u@%s>\r\n", env->id,
	    (long long)now, counter++, cfg->me);
	buf_addstr(out, "Auto-Submitted: auto-replied\r\n");
	buf_addstr(out, "MIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary);
	buf_printf(out, "Content-Transfer-Encoding: %s\r\n", eight_bit ?
	    "8bit" : "7bit");
	buf_addstr(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	buf_printf(out, "--%s\r\n", boundary);
	buf_addstr(out, "Content-Description: Notification\r\n");
	buf_printf(out, "Content-Type: text/plain; charset=%s\r\n",
	    is_ascii(text.data) ? "us-ascii" : "utf-8");
	buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
	    is_ascii(text.data) ? "7bit" : "8bit");
	buf_add(out, text.data, text.len);

	buf_printf(out, "\r\n--%s\r\n", boundary);
	buf_addstr(out, "Content-Description: Delivery report\r\n");
	buf_addstr(out, "Content-Type: message/delivery-status\r\n\r\n");
	buf_add(out, report.data, report.len);

	buf_printf(out, "\r\n--%s\r\n", boundary);
	buf_addstr(out, "Content-Description: Undelivered Message Headers\r\n");
	buf_addstr(out, "Content-Type: text/rfc822-headers\r\n");
	buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
	    headers.data == NULL || is_ascii(headers.data) ? "7bit" : "8bit");
	if (headers.data != NULL)
		buf_add(out, headers.data, headers.len);
	buf_printf(out, "\r\n--%s--\r\n", boundary);

	free(to);
	free(sender);
	buf_free(&text);
	buf_free(&report);
	buf_free(&headers);
	return 0;
}
