/*
 * envelope: queue file text format, maildrop files and queue IDs.
 * The format is documented in envelope.h; this file must match it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "util.h"

#define ENVELOPE_MAGIC	"hikyaku-envelope "

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->origin_uid = -1;
}

static void
rcpt_free(struct envelope_rcpt *r)
{
	size_t i;

	free(r->addr);
	free(r->orcpt);
	free(r->last_error);
	free(r->relay);
	free(r->dsn_status);
	for (i = 0; i < r->nhistory; i++)
		free(r->history[i].text);
	free(r->history);
}

void
envelope_free(struct envelope *env)
{
	size_t i;

	free(env->sender);
	free(env->client);
	free(env->helo);
	free(env->auth_user);
	free(env->tls);
	for (i = 0; i < env->nrcpt; i++)
		rcpt_free(&env->rcpts[i]);
	free(env->rcpts);
	free(env->path);
	free(env->dsn_wait_rate);
	envelope_init(env);
}

struct envelope_rcpt *
envelope_add_rcpt(struct envelope *env, const char *addr, const char *orcpt)
{
	struct envelope_rcpt *r;

	env->rcpts = xreallocarray(env->rcpts, env->nrcpt + 1,
	    sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->state = RCPT_PENDING;
	return r;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
envelope_copy(struct envelope *dst, const struct envelope *src)
{
	size_t i, j;

	*dst = *src;
	dst->sender = dup_or_null(src->sender);
	dst->client = dup_or_null(src->client);
	dst->helo = dup_or_null(src->helo);
	dst->auth_user = dup_or_null(src->auth_user);
	dst->tls = dup_or_null(src->tls);
	dst->path = dup_or_null(src->path);
	dst->dsn_wait_rate = dup_or_null(src->dsn_wait_rate);
	dst->rcpts = src->nrcpt > 0 ?
	    xcalloc(src->nrcpt, sizeof(*dst->rcpts)) : NULL;
	for (i = 0; i < src->nrcpt; i++) {
		const struct envelope_rcpt *s = &src->rcpts[i];
		struct envelope_rcpt *d = &dst->rcpts[i];

		*d = *s;
		d->addr = dup_or_null(s->addr);
		d->orcpt = dup_or_null(s->orcpt);
		d->last_error = dup_or_null(s->last_error);
		d->relay = dup_or_null(s->relay);
		d->dsn_status = dup_or_null(s->dsn_status);
		d->history = s->nhistory > 0 ?
		    xcalloc(s->nhistory, sizeof(*d->history)) : NULL;
		for (j = 0; j < s->nhistory; j++) {
			d->history[j].when = s->history[j].when;
			d->history[j].text = xstrdup(s->history[j].text);
		}
	}
}

void
envelope_rcpt_history_add(struct envelope_rcpt *r, int64_t when,
    const char *text)
{
	if (r->nhistory == ENVELOPE_HISTORY_MAX) {
		free(r->history[0].text);
		memmove(&r->history[0], &r->history[1],
		    (r->nhistory - 1) * sizeof(*r->history));
		r->nhistory--;
	} else {
		r->history = xreallocarray(r->history, r->nhistory + 1,
		    sizeof(*r->history));
	}
	r->history[r->nhistory].when = when;
	r->history[r->nhistory].text = xstrdup(text);
	r->nhistory++;
}

int
envelope_all_done(const struct envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].state != RCPT_DELIVERED &&
		    env->rcpts[i].state != RCPT_BOUNCED)
			return 0;
	return 1;
}

static const char *const state_names[] = {
	[RCPT_PENDING] = "pending",
	[RCPT_DEFERRED] = "deferred",
	[RCPT_DELIVERED] = "delivered",
	[RCPT_BOUNCED] = "bounced",
};

const char *
envelope_state_name(enum rcpt_state s)
{
	if ((size_t)s < nitems(state_names))
		return state_names[s];
	return "unknown";
}

int
envelope_state_parse(const char *name, enum rcpt_state *out)
{
	size_t i;

	for (i = 0; i < nitems(state_names); i++)
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum rcpt_state)i;
			return 0;
		}
	return -1;
}

/* Serialising. */

static void
add_escaped(struct buf *b, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '\\':
			buf_addstr(b, "\\\\");
			break;
		case '\r':
			buf_addstr(b, "\\r");
			break;
		case '\n':
			buf_addstr(b, "\\n");
			break;
		case '\t':
			buf_addstr(b, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				buf_printf(b, "\\x%02X", *p);
			else
				buf_addch(b, (char)*p);
		}
	}
}

static void
add_str(struct buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return;
	buf_printf(b, "%s: ", key);
	add_escaped(b, value);
	buf_addch(b, '\n');
}

static void
add_int(struct buf *b, const char *key, int64_t value)
{
	buf_printf(b, "%s: %" PRId64 "\n", key, value);
}

void
envelope_serialize(const struct envelope *env, struct buf *b)
{
	size_t i, j;

	buf_printf(b, ENVELOPE_MAGIC "%d\n", ENVELOPE_VERSION);
	add_str(b, "id", env->id);
	add_str(b, "sender", env->sender != NULL ? env->sender : "");
	add_int(b, "arrival", env->arrival);
	add_int(b, "size", env->size);
	add_int(b, "held", env->held != 0);
	add_int(b, "smtputf8", env->smtputf8 != 0);
	add_int(b, "body-8bit", env->body_8bit != 0);
	add_str(b, "client", env->client);
	add_str(b, "helo", env->helo);
	add_str(b, "auth-user", env->auth_user);
	add_str(b, "tls", env->tls);
	add_int(b, "origin-uid", env->origin_uid);
	add_int(b, "dsn-sent", env->dsn_sent != 0);
	for (i = 0; i < env->nrcpt; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		add_str(b, "rcpt", r->addr != NULL ? r->addr : "");
		add_str(b, "orcpt", r->orcpt);
		add_str(b, "state", envelope_state_name(r->state));
		add_int(b, "attempts", r->attempts);
		add_int(b, "next-try", r->next_try);
		add_str(b, "last-error", r->last_error);
		add_str(b, "relay", r->relay);
		add_str(b, "dsn-status", r->dsn_status);
		for (j = 0; j < r->nhistory; j++) {
			buf_printf(b, "history: %" PRId64 " ",
			    r->history[j].when);
			add_escaped(b, r->history[j].text);
			buf_addch(b, '\n');
		}
	}
	buf_addstr(b, "end\n");
}

/* Parsing. */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undo add_escaped; NULL for a malformed escape or a raw control byte. */
static char *
unescape(const char *s, size_t len)
{
	struct buf b;
	size_t i;
	int hi, lo;

	buf_init(&b);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			goto bad;
		if (c != '\\') {
			buf_addch(&b, (char)c);
			continue;
		}
		if (++i == len)
			goto bad;
		switch (s[i]) {
		case '\\':
			buf_addch(&b, '\\');
			break;
		case 'r':
			buf_addch(&b, '\r');
			break;
		case 'n':
			buf_addch(&b, '\n');
			break;
		case 't':
			buf_addch(&b, '\t');
			break;
		case 'x':
			if (len - i < 3)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			/* NUL would silently cut the string: refuse it. */
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			buf_addch(&b, (char)(hi << 4 | lo));
			i += 2;
			break;
		default:
			goto bad;
		}
	}
	return buf_take(&b);
bad:
	buf_free(&b);
	return NULL;
}

static int
parse_int64(const char *s, size_t len, int64_t *out)
{
	char tmp[32], *end;
	long long v;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (tmp[0] != '-' && (tmp[0] < '0' || tmp[0] > '9'))
		return -1;
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
parse_intval(const char *s, size_t len, int *out)
{
	int64_t v;

	if (parse_int64(s, len, &v) < 0 || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * Apply one "key: value" line. Returns 0, 1 for an unknown key (ignored),
 * or -1 with *why set to a static message.
 */
static int
apply_key(struct envelope *env, const char *key, size_t klen,
    const char *val, size_t vlen, const char **why)
{
	struct envelope_rcpt *r = env->nrcpt > 0 ?
	    &env->rcpts[env->nrcpt - 1] : NULL;
	char **strp = NULL;
	int *intp = NULL;
	int64_t *i64p = NULL;
	char *s;

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
	if (KEY("id")) {
		if (vlen != 0 && (vlen != QID_LEN ||
		    strspn(val, "0123456789ABCDEF") < QID_LEN)) {
			*why = "malformed queue ID";
			return -1;
		}
		memcpy(env->id, val, vlen);
		env->id[vlen] = '\0';
		return 0;
	}
	if (KEY("rcpt")) {
		if ((s = unescape(val, vlen)) == NULL) {
			*why = "bad escape in value";
			return -1;
		}
		if (*s == '\0') {
			free(s);
			*why = "empty recipient";
			return -1;
		}
		r = envelope_add_rcpt(env, s, NULL);
		free(s);
		return 0;
	}
	if (KEY("state")) {
		if (r == NULL) {
			*why = "recipient key before any rcpt line";
			return -1;
		}
		if ((s = unescape(val, vlen)) == NULL ||
		    envelope_state_parse(s, &r->state) < 0) {
			free(s);
			*why = "unknown recipient state";
			return -1;
		}
		free(s);
		return 0;
	}
	if (KEY("history")) {
		const char *sp = memchr(val, ' ', vlen);
		int64_t when;

		if (r == NULL) {
			*why = "recipient key before any rcpt line";
			return -1;
		}
		if (sp == NULL || parse_int64(val, (size_t)(sp - val),
		    &when) < 0) {
			*why = "history needs a time and a text";
			return -1;
		}
		sp++;
		if ((s = unescape(sp, vlen - (size_t)(sp - val))) == NULL) {
			*why = "bad escape in value";
			return -1;
		}
		envelope_rcpt_history_add(r, when, s);
		free(s);
		return 0;
	}

	if (KEY("sender"))
		strp = &env->sender;
	else if (KEY("client"))
		strp = &env->client;
	else if (KEY("helo"))
		strp = &env->helo;
	else if (KEY("auth-user"))
		strp = &env->auth_user;
	else if (KEY("tls"))
		strp = &env->tls;
	else if (KEY("arrival"))
		i64p = &env->arrival;
	else if (KEY("size"))
		i64p = &env->size;
	else if (KEY("held"))
		intp = &env->held;
	else if (KEY("smtputf8"))
		intp = &env->smtputf8;
	else if (KEY("body-8bit"))
		intp = &env->body_8bit;
	else if (KEY("origin-uid"))
		intp = &env->origin_uid;
	else if (KEY("dsn-sent"))
		intp = &env->dsn_sent;
	else if (KEY("orcpt") || KEY("last-error") || KEY("relay") ||
	    KEY("dsn-status") || KEY("attempts") || KEY("next-try")) {
		if (r == NULL) {
			*why = "recipient key before any rcpt line";
			return -1;
		}
		if (KEY("orcpt"))
			strp = &r->orcpt;
		else if (KEY("last-error"))
			strp = &r->last_error;
		else if (KEY("relay"))
			strp = &r->relay;
		else if (KEY("dsn-status"))
			strp = &r->dsn_status;
		else if (KEY("attempts"))
			intp = &r->attempts;
		else
			i64p = &r->next_try;
	}
#undef KEY
	if (strp != NULL) {
		if ((s = unescape(val, vlen)) == NULL) {
			*why = "bad escape in value";
			return -1;
		}
		free(*strp);
		*strp = s;
		return 0;
	}
	if (intp != NULL) {
		if (parse_intval(val, vlen, intp) < 0) {
			*why = "bad number";
			return -1;
		}
		return 0;
	}
	if (i64p != NULL) {
		if (parse_int64(val, vlen, i64p) < 0) {
			*why = "bad number";
			return -1;
		}
		return 0;
	}
	/* Unknown: a newer writer may add keys, an older reader skips them. */
	return 1;
}

/*
 * Parse from the magic line through "end\n". *consumed is the offset just
 * past the end line. Allows an empty id when allow_no_id.
 */
static int
parse_text(const char *text, size_t len, struct envelope *out,
    size_t *consumed, int allow_no_id, char **err)
{
	size_t pos = 0, lineno = 0;
	int have_sender = 0, seen_end = 0;
	const char *why = NULL;

	envelope_init(out);
	while (pos < len) {
		const char *line = text + pos, *nl, *colon;
		size_t llen;

		lineno++;
		nl = memchr(line, '\n', len - pos);
		if (nl == NULL) {
			why = "line without end (file truncated?)";
			goto fail;
		}
		llen = (size_t)(nl - line);
		pos += llen + 1;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (memchr(line, '\0', llen) != NULL) {
			why = "NUL byte";
			goto fail;
		}
		if (lineno == 1) {
			size_t ml = sizeof(ENVELOPE_MAGIC) - 1;
			int64_t version;

			if (llen < ml || memcmp(line, ENVELOPE_MAGIC, ml) != 0) {
				why = "not a hikyaku envelope";
				goto fail;
			}
			if (parse_int64(line + ml, llen - ml, &version) < 0) {
				why = "bad version line";
				goto fail;
			}
			if (version != ENVELOPE_VERSION) {
				why = "unsupported envelope version";
				goto fail;
			}
			continue;
		}
		if (llen == 3 && memcmp(line, "end", 3) == 0) {
			seen_end = 1;
			break;
		}
		colon = memchr(line, ':', llen);
		if (colon == NULL || colon == line) {
			why = "expected \"key: value\"";
			goto fail;
		}
		{
			const char *val = colon + 1;
			size_t klen = (size_t)(colon - line);
			size_t vlen = llen - klen - 1;

			if (vlen > 0 && *val == ' ') {
				val++;
				vlen--;
			}
			if (klen == 6 && memcmp(line, "sender", 6) == 0)
				have_sender = 1;
			if (apply_key(out, line, klen, val, vlen, &why) < 0)
				goto fail;
		}
	}
	if (lineno == 0) {
		why = "empty file";
		goto fail;
	}
	if (!seen_end) {
		why = "no end line (file truncated?)";
		goto fail;
	}
	if (!have_sender) {
		why = "no sender line";
		goto fail;
	}
	if (out->nrcpt == 0) {
		why = "no recipients";
		goto fail;
	}
	if (!allow_no_id && out->id[0] == '\0') {
		why = "no queue ID";
		goto fail;
	}
	*consumed = pos;
	return 0;
fail:
	envelope_free(out);
	xasprintf(err, "line %zu: %s", lineno, why);
	return -1;
}

int
envelope_parse(const char *text, size_t len, struct envelope *out,
    char **err)
{
	size_t consumed;

	if (parse_text(text, len, out, &consumed, 0, err) < 0)
		return -1;
	if (consumed != len) {
		envelope_free(out);
		*err = xstrdup("data after the end line");
		return -1;
	}
	return 0;
}

int
envelope_read_file(const char *path, struct envelope *out, char **err)
{
	char *text, *perr = NULL;
	size_t len;

	envelope_init(out);
	if ((text = read_file(path, &len)) == NULL) {
		xasprintf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (envelope_parse(text, len, out, &perr) < 0) {
		xasprintf(err, "%s: %s", path, perr);
		free(perr);
		free(text);
		return -1;
	}
	free(text);
	out->path = xstrdup(path);
	return 0;
}

/* Queue IDs. */

#define QID_TIME_DIGITS	13
#define QID_TIME_MAX	((UINT64_C(1) << (4 * QID_TIME_DIGITS)) - 1)

static uint64_t qid_last;	/* last time part handed out, microseconds */

void
qid_new(char out[QID_LEN + 1])
{
	struct timespec ts;
	uint64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	/* The clock stepped back or two calls fell in one microsecond: go
	 * on counting from the last ID so the order stays arrival order. */
	if (t <= qid_last)
		t = qid_last + 1;
	t &= QID_TIME_MAX;
	qid_last = t;
	snprintf(out, QID_LEN + 1, "%013" PRIX64 "%04X", t,
	    (unsigned)getpid() & 0xffffu);
}

void
qid_seed(const char *qid)
{
	uint64_t t = 0;
	int i;

	if (!qid_valid(qid))
		return;
	for (i = 0; i < QID_TIME_DIGITS; i++)
		t = t << 4 | (uint64_t)hexval(qid[i]);
	if (t > qid_last)
		qid_last = t;
}

int
qid_valid(const char *s)
{
	return strlen(s) == QID_LEN && strspn(s, "0123456789ABCDEF") == QID_LEN;
}

/* Maildrop. */

int
maildrop_parse(const char *text, size_t len, struct envelope *out,
    size_t *msg_offset, char **err)
{
	return parse_text(text, len, out, msg_offset, 1, err);
}

int
maildrop_write(const char *spool, const struct envelope *env,
    const char *msg, size_t len, char **err)
{
	unsigned char rnd[8];
	char qid[QID_LEN + 1], *tmp = NULL, *final = NULL;
	struct envelope copy;
	struct buf b;
	int fd = -1, saved;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		xasprintf(err, "getrandom: %s", strerror(errno));
		return -1;
	}
	qid_new(qid);
	xasprintf(&final, "%s/%s/%s.%02X%02X%02X%02X%02X%02X%02X%02X", spool,
	    SPOOL_MAILDROP_DIR, qid, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
	    rnd[5], rnd[6], rnd[7]);
	xasprintf(&tmp, "%s/%s/tmp.%s", spool, SPOOL_MAILDROP_DIR,
	    strrchr(final, '/') + 1);

	/* The id in a drop file means nothing to the daemon: leave it out
	 * rather than pretend it is a queue ID. */
	copy = *env;
	copy.id[0] = '\0';
	buf_init(&b);
	envelope_serialize(&copy, &b);
	buf_add(&b, msg, len);

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd < 0) {
		xasprintf(err, "%s: %s", tmp, strerror(errno));
		goto fail_nofile;
	}
	/* The daemon runs as another uid: it must read the file whatever
	 * the injector's umask. */
	if (fchmod(fd, 0644) < 0 || write_all(fd, b.data, b.len) < 0 ||
	    fsync(fd) < 0) {
		xasprintf(err, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, final) < 0) {
		xasprintf(err, "rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* Any uid injects, but only root and the daemon may open the 1733
	 * directory to fsync it: syncfs() through the file makes the rename
	 * durable all the same. */
	if ((fsync_parent_dir(final) < 0 &&
	    (errno != EACCES || syncfs(fd) < 0)) || close(fd) < 0) {
		xasprintf(err, "fsync %s/%s: %s", spool, SPOOL_MAILDROP_DIR,
		    strerror(errno));
		/* Not durable, so not accepted: take it back. */
		saved = errno;
		close(fd);
		unlink(final);
		errno = saved;
		goto fail_nofile;
	}
	buf_free(&b);
	free(tmp);
	free(final);
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
fail_nofile:
	buf_free(&b);
	free(tmp);
	free(final);
	return -1;
}
