/*
 * config: diagnostics, the hikyaku.conf parser driven by config_keys[],
 * local-host-names, and the assembly of one struct config per load.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "aliases.h"
#include "config.h"
#include "log.h"
#include "maps.h"
#include "privsep.h"
#include "remotes.h"
#include "util.h"

#ifndef HIKYAKU_CONFIG_DIR
#define HIKYAKU_CONFIG_DIR "/etc/hikyaku"
#endif

/* ---- diagnostics ---- */

void
diags_add(struct diags *d, const char *file, int line, int col,
    enum diag_severity sev, const char *fmt, ...)
{
	struct diag *g;
	va_list ap;

	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	g = &d->v[d->n++];
	g->file = xstrdup(file != NULL ? file : "-");
	g->line = line;
	g->col = col;
	g->severity = sev;
	va_start(ap, fmt);
	xvasprintf(&g->msg, fmt, ap);
	va_end(ap);
}

void
diags_free(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

size_t
diags_count(const struct diags *d, enum diag_severity sev)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].severity == sev)
			n++;
	return n;
}

int
diags_has_errors(const struct diags *d)
{
	return diags_count(d, DIAG_ERROR) > 0;
}

char *
diag_where(const struct diag *g)
{
	char *s;

	if (g->line <= 0)
		s = xstrdup(g->file);
	else if (g->col <= 0)
		xasprintf(&s, "%s:%d", g->file, g->line);
	else
		xasprintf(&s, "%s:%d:%d", g->file, g->line, g->col);
	return s;
}

char *
diag_format(const struct diag *g)
{
	const char *sev = g->severity == DIAG_ERROR ? "error" : "warning";
	char *s, *where = diag_where(g);

	xasprintf(&s, "%s: %s: %s", where, sev, g->msg);
	free(where);
	return s;
}

void
diags_print(const struct diags *d, FILE *fp)
{
	for (size_t i = 0; i < d->n; i++) {
		char *s = diag_format(&d->v[i]);

		fprintf(fp, "%s\n", s);
		free(s);
	}
}

/* ---- suggestions ---- */

/*
 * Edit distance counting a swap of two neighbours as one edit (optimal
 * string alignment): "prot" is one typo away from "port".
 */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), w = lb + 1, dist;
	size_t *m = xreallocarray(NULL, (la + 1) * w, sizeof(*m));

	for (size_t i = 0; i <= la; i++)
		m[i * w] = i;
	for (size_t j = 0; j <= lb; j++)
		m[j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]);
			int cb = tolower((unsigned char)b[j - 1]);
			size_t best = m[(i - 1) * w + j - 1] + (ca != cb);

			if (m[(i - 1) * w + j] + 1 < best)
				best = m[(i - 1) * w + j] + 1;
			if (m[i * w + j - 1] + 1 < best)
				best = m[i * w + j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)
			    b[j - 2]) && tolower((unsigned char)a[i - 2]) ==
			    cb && m[(i - 2) * w + j - 2] + 1 < best)
				best = m[(i - 2) * w + j - 2] + 1;
			m[i * w + j] = best;
		}
	dist = m[la * w + lb];
	free(m);
	return dist;
}

const char *
config_suggest(const char *word, const char *const *cands, size_t n)
{
	size_t len = strlen(word), best = SIZE_MAX, limit;
	const char *pick = NULL;

	/* Short words tolerate one typo, longer ones a few more. */
	limit = len <= 4 ? 1 : len <= 10 ? 2 : 3;
	for (size_t i = 0; i < n; i++) {
		size_t dist = edit_distance(word, cands[i]);

		if (dist < best) {
			best = dist;
			pick = cands[i];
		}
	}
	return best <= limit ? pick : NULL;
}

const struct config_key *
config_key_find(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

const char *
config_key_suggest(const char *name)
{
	const char **names = xreallocarray(NULL, config_nkeys,
	    sizeof(*names));
	const char *s;

	for (size_t i = 0; i < config_nkeys; i++)
		names[i] = config_keys[i].name;
	s = config_suggest(name, names, config_nkeys);
	free(names);
	return s;
}

/* ---- value parsers ---- */

const char *
config_default_dir(void)
{
	const char *env = getenv("HIKYAKU_CONFIG_DIR");

	return env != NULL && *env != '\0' ? env : HIKYAKU_CONFIG_DIR;
}

int
config_parse_rate(const char *s, int *count, int64_t *per, const char **err)
{
	char *end;
	long n;

	*count = 0;
	*per = 0;
	if (*s == '\0' || strcmp(s, "0") == 0 ||
	    ascii_strcasecmp(s, "off") == 0)
		return 0;
	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || errno != 0 || n < 1 || n > INT_MAX || *end != '/') {
		*err = "expected COUNT/DURATION (\"60/1m\") or 0 for no limit";
		return -1;
	}
	if (parse_duration(end + 1, per, err) == -1)
		return -1;
	if (*per <= 0) {
		*err = "the DURATION of COUNT/DURATION must be positive";
		return -1;
	}
	*count = (int)n;
	return 0;
}

static const char *const listen_modes[] = { "relay", "submission", "smtps" };

const char *
config_listen_mode_name(enum listen_mode m)
{
	return listen_modes[m];
}

/*
 * "ADDR:PORT": IPv4 literal, [IPv6] or *. Never a host name: config
 * loading must not resolve anything.
 */
static int
parse_hostport(const char *s, size_t len, char **addr, int *family,
    int *port, const char **err)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct in6_addr a6;
	struct in_addr a4;
	const char *colon, *p;
	char *end;
	long n;

	if (len >= sizeof(buf)) {
		*err = "address too long";
		return -1;
	}
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL) {
			*err = "missing ] after the IPv6 address";
			return -1;
		}
		memcpy(buf, s + 1, (size_t)(close - s - 1));
		buf[close - s - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1) {
			*err = "not an IPv6 address inside [ ]";
			return -1;
		}
		*family = AF_INET6;
		colon = close + 1;
		if (colon >= s + len || *colon != ':') {
			*err = "expected :PORT after ]";
			return -1;
		}
	} else {
		colon = NULL;
		for (p = s; p < s + len; p++)
			if (*p == ':')
				colon = p;
		if (colon == NULL) {
			*err = "expected ADDR:PORT (IPv6 as [::1]:PORT, any "
			    "address as *:PORT)";
			return -1;
		}
		memcpy(buf, s, (size_t)(colon - s));
		buf[colon - s] = '\0';
		if (strcmp(buf, "*") == 0)
			*family = AF_UNSPEC;
		else if (inet_pton(AF_INET, buf, &a4) == 1)
			*family = AF_INET;
		else if (strchr(buf, ':') != NULL) {
			*err = "write an IPv6 address in brackets: [::1]:PORT";
			return -1;
		} else {
			*err = "not an IP address (host names are not "
			    "resolved here; use an address or *)";
			return -1;
		}
	}
	p = colon + 1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (p == s + len || end != s + len || errno != 0 || n < 1 ||
	    n > 65535 || !isdigit((unsigned char)*p)) {
		*err = "the port must be a number from 1 to 65535";
		return -1;
	}
	*port = (int)n;
	*addr = xstrdup(buf);
	return 0;
}

/* *erroff: where in s the offending word starts (for the column). */
static int
listen_parse(const char *s, struct listen_cfg *l, const char **err,
    size_t *erroff)
{
	const char *sp = s + strcspn(s, " \t"), *mode = skip_ws(sp);
	size_t mlen = strcspn(mode, " \t");

	memset(l, 0, sizeof(*l));
	if (parse_hostport(s, (size_t)(sp - s), &l->addr, &l->family,
	    &l->port, err) == -1)
		return -1;
	l->mode = LISTEN_RELAY;
	if (mlen > 0) {
		size_t i;

		for (i = 0; i < nitems(listen_modes); i++)
			if (strlen(listen_modes[i]) == mlen &&
			    ascii_strncasecmp(mode, listen_modes[i], mlen) == 0)
				break;
		if (i == nitems(listen_modes) || *skip_ws(mode + mlen) != '\0') {
			free(l->addr);
			l->addr = NULL;
			*err = "the mode must be relay, submission or smtps";
			*erroff = (size_t)(mode - s);
			return -1;
		}
		l->mode = (enum listen_mode)i;
	}
	return 0;
}

int
config_parse_listen(const char *s, struct listen_cfg *l, const char **err)
{
	size_t off;

	return listen_parse(s, l, err, &off);
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < nitems(yes); i++) {
		if (ascii_strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (ascii_strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
parse_enum(const char *values, const char *v, int *out)
{
	const char *p = values;
	size_t vlen = strlen(v);

	for (int i = 0; *p != '\0'; i++) {
		size_t n = strcspn(p, "|");

		if (n == vlen && ascii_strncasecmp(p, v, n) == 0) {
			*out = i;
			return 0;
		}
		p += n;
		if (*p == '|')
			p++;
	}
	return -1;
}

static int
add_listen(struct config *c, const char *v, int line, const char **err,
    size_t *erroff)
{
	struct listen_cfg l;

	if (listen_parse(v, &l, err, erroff) == -1)
		return -1;
	l.line = line;
	c->listens = xreallocarray(c->listens, c->nlisten + 1,
	    sizeof(*c->listens));
	c->listens[c->nlisten++] = l;
	return 0;
}

/*
 * Store value v for key k. Returns 0, or -1 with *err a message (static,
 * or written into ebuf) about the part of v at *erroff.
 */
static int
key_set(struct config *c, const struct config_key *k, const char *v,
    int line, const char **err, size_t *erroff, char *ebuf, size_t esz)
{
	void *field = (char *)c + k->offset;
	int64_t n = 0;
	char *end;
	int b;

	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_RATE:
		if (k->type == CT_RATE) {
			int count;

			if (config_parse_rate(v, &count, &n, err) == -1)
				return -1;
		}
		free(*(char **)field);
		/* Empty optional settings read as NULL: one test for unset. */
		*(char **)field = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	case CT_BOOL:
		if (parse_bool(v, &b) == -1) {
			*err = "expected yes or no (also true/false, on/off, "
			    "1/0)";
			return -1;
		}
		*(int *)field = b;
		return 0;
	case CT_ENUM:
		if (parse_enum(k->enum_values, v, &b) == -1) {
			snprintf(ebuf, esz, "expected one of %s",
			    k->enum_values);
			*err = ebuf;
			return -1;
		}
		*(int *)field = b;
		return 0;
	case CT_LISTEN:
		return add_listen(c, v, line, err, erroff);
	case CT_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0) {
			*err = "expected a whole number";
			return -1;
		}
		break;
	case CT_DURATION:
		if (parse_duration(v, &n, err) == -1)
			return -1;
		break;
	case CT_SIZE:
		if (parse_size(v, &n, err) == -1)
			return -1;
		break;
	}
	if (n < k->min || n > k->max) {
		snprintf(ebuf, esz, "%s is out of range (%lld to %lld%s)", v,
		    (long long)k->min, (long long)k->max,
		    k->type == CT_DURATION ? " seconds" :
		    k->type == CT_SIZE ? " bytes" : "");
		*err = ebuf;
		return -1;
	}
	if (k->type == CT_INT)
		*(int *)field = (int)n;
	else
		*(int64_t *)field = n;
	return 0;
}

/* Cut a '#' comment that starts a line or follows white space. */
static void
strip_comment(char *s)
{
	s[maps_content_len(s, strlen(s), 0)] = '\0';
	rtrim(s);
}

/* ---- hikyaku.conf ---- */

static int
check_resolver(const char *s, const char **err)
{
	char *addr, *with_port = NULL;
	int family, port, rc;

	/* A bare address means port 53. */
	if (strchr(s, ':') == NULL || (strchr(s, '[') == NULL &&
	    strchr(s, ':') != strrchr(s, ':')))
		xasprintf(&with_port, strchr(s, ':') ? "[%s]:53" : "%s:53", s);
	rc = parse_hostport(with_port ? with_port : s,
	    strlen(with_port ? with_port : s), &addr, &family, &port, err);
	free(with_port);
	if (rc == 0) {
		free(addr);
		if (family == AF_UNSPEC) {
			*err = "the resolver must be an IP address";
			rc = -1;
		}
	}
	return rc;
}

static int
conf_parse(struct config *c, const char *path, struct diags *d)
{
	FILE *fp;
	char *line = NULL, ebuf[256];
	size_t cap = 0, erroff;
	int lineno = 0, rc = 0;
	int *set_on = xcalloc(config_nkeys, sizeof(*set_on));

	if ((fp = fopen(path, "re")) == NULL) {
		free(set_on);
		if (errno == ENOENT)
			return 0;
		diags_add(d, path, 0, 0, DIAG_ERROR, "%s", strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) != -1) {
		const struct config_key *k;
		const char *p, *v, *err;
		char *name;
		size_t nlen;
		int kcol;

		lineno++;
		strip_comment(line);
		p = skip_ws(line);
		if (*p == '\0')
			continue;
		kcol = (int)(p - line) + 1;
		nlen = strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
		if (nlen == 0) {
			diags_add(d, path, lineno, kcol, DIAG_ERROR,
			    "expected \"key = value\"");
			rc = -1;
			continue;
		}
		name = xstrndup(p, nlen);
		if ((k = config_key_find(name)) == NULL) {
			const char *sug = config_key_suggest(name);

			if (sug != NULL)
				diags_add(d, path, lineno, kcol, DIAG_ERROR,
				    "unknown key \"%s\" (did you mean "
				    "\"%s\"?)", name, sug);
			else
				diags_add(d, path, lineno, kcol, DIAG_ERROR,
				    "unknown key \"%s\"", name);
			free(name);
			rc = -1;
			continue;
		}
		free(name);
		p = skip_ws(p + nlen);
		if (*p != '=') {
			diags_add(d, path, lineno, (int)(p - line) + 1,
			    DIAG_ERROR, "expected \"=\" after \"%s\"",
			    k->name);
			rc = -1;
			continue;
		}
		v = skip_ws(p + 1);
		if (k->type != CT_LISTEN && set_on[k - config_keys] != 0)
			diags_add(d, path, lineno, kcol, DIAG_WARNING,
			    "%s was already set on line %d; this line wins",
			    k->name, set_on[k - config_keys]);
		set_on[k - config_keys] = lineno;
		erroff = 0;
		if (key_set(c, k, v, lineno, &err, &erroff, ebuf,
		    sizeof(ebuf)) == -1 ||
		    (k->offset == offsetof(struct config, resolver) &&
		    *v != '\0' && check_resolver(v, &err) == -1)) {
			diags_add(d, path, lineno, (int)(v - line + erroff) + 1,
			    DIAG_ERROR, "%s: %s%s", k->name, err,
			    err == ebuf ? "" : k->type == CT_DURATION ?
			    " (durations look like 30s, 5m, 2h, 1d)" :
			    k->type == CT_SIZE ?
			    " (sizes look like 512K, 10M, 1G)" : "");
			rc = -1;
		}
	}
	free(line);
	free(set_on);
	fclose(fp);
	return rc;
}

/* Every key at its table default; listen gets its two default lines. */
static void
conf_defaults(struct config *c)
{
	char ebuf[256];
	const char *err;
	size_t off;

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->type == CT_LISTEN)
			continue;
		if (key_set(c, k, k->defval, 0, &err, &off, ebuf,
		    sizeof(ebuf)) == -1)
			fatal("config_table: default of %s: %s", k->name, err);
	}
	if (c->user == NULL)	/* configured --with-user= (empty) */
		c->user = xstrdup("hikyaku");
}

/* ---- derived values ---- */

static char *
mailname(void)
{
	char *s, host[256];

	if ((s = read_file("/etc/mailname", NULL)) != NULL) {
		s[strcspn(s, "\r\n")] = '\0';
		rtrim(s);
		if (*s != '\0')
			return s;
		free(s);
	}
	if (gethostname(host, sizeof(host)) == -1)
		return xstrdup("localhost");
	host[sizeof(host) - 1] = '\0';
	return xstrdup(host);
}

static void
domain_canon(char *s)
{
	size_t n = strlen(s);

	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
	ascii_lower(s);
}

static void
resolve_path(const char *dir, char **p)
{
	char *abs;

	if (*p == NULL || **p == '/')
		return;
	xasprintf(&abs, "%s/%s", dir, *p);
	free(*p);
	*p = abs;
}

static int
conf_finish(struct config *c, const char *conf_path, struct diags *d)
{
	const char *err;
	size_t off;
	int rc = 0;

	if (c->me == NULL)
		c->me = mailname();
	domain_canon(c->me);
	if (c->defaultdomain == NULL)
		c->defaultdomain = xstrdup(c->me);
	domain_canon(c->defaultdomain);
	if (c->helo_name == NULL)
		c->helo_name = xstrdup(c->me);

	resolve_path(c->dir, &c->spool);
	resolve_path(c->dir, &c->tls_cert);
	resolve_path(c->dir, &c->tls_key);
	resolve_path(c->dir, &c->control_socket);
	resolve_path(c->dir, &c->mailbox_root);
	if (c->log == NULL)
		c->log = xstrdup("syslog");
	if (strcmp(c->log, "syslog") != 0 && strcmp(c->log, "stderr") != 0)
		resolve_path(c->dir, &c->log);
	if (c->control_socket == NULL)
		xasprintf(&c->control_socket, "%s/ctl.sock", c->spool);

	if (c->nlisten == 0) {
		add_listen(c, "127.0.0.1:25 relay", 0, &err, &off);
		add_listen(c, "[::1]:25 relay", 0, &err, &off);
	}
	for (size_t i = 0; i < c->nlisten; i++)
		for (size_t j = 0; j < i; j++)
			if (c->listens[i].port == c->listens[j].port &&
			    strcmp(c->listens[i].addr, c->listens[j].addr) == 0) {
				diags_add(d, conf_path, c->listens[i].line, 0,
				    DIAG_ERROR, "listen %s:%d is already on "
				    "line %d", c->listens[i].addr,
				    c->listens[i].port, c->listens[j].line);
				rc = -1;
			}

	if (c->tls_cert != NULL && access(c->tls_cert, F_OK) == -1)
		diags_add(d, c->tls_cert, 0, 0, DIAG_WARNING, "tls_cert: %s",
		    strerror(errno));
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		diags_add(d, conf_path, 0, 0, DIAG_WARNING,
		    "tls_cert and tls_key go together; with one of them "
		    "missing STARTTLS is not offered");
	for (size_t i = 0; i < c->nlisten; i++)
		if (c->listens[i].mode == LISTEN_SMTPS && c->tls_cert == NULL)
			diags_add(d, conf_path, c->listens[i].line, 0,
			    DIAG_ERROR, "an smtps listener needs tls_cert "
			    "and tls_key");
	if (c->maxpause < c->pausetime)
		diags_add(d, conf_path, 0, 0, DIAG_WARNING,
		    "maxpause (%llds) is shorter than pausetime (%llds): "
		    "retries wait pausetime", (long long)c->maxpause,
		    (long long)c->pausetime);
	if (c->max_connections_per_ip > c->max_connections)
		diags_add(d, conf_path, 0, 0, DIAG_WARNING,
		    "max_connections_per_ip (%d) is above max_connections "
		    "(%d)", c->max_connections_per_ip, c->max_connections);
	return rc;
}

/* ---- local-host-names ---- */

static int
domain_char_ok(int ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '[' || ch == ']' || ch == ':';
}

static void
local_domain_add(struct config *c, const char *s, size_t len)
{
	char *dom = xstrndup(s, len);

	domain_canon(dom);
	c->local_domains = xreallocarray(c->local_domains,
	    c->nlocal_domains + 1, sizeof(*c->local_domains));
	c->local_domains[c->nlocal_domains++] = dom;
}

static int
lhn_parse(struct config *c, const char *path, struct diags *d)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;

	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		diags_add(d, path, 0, 0, DIAG_ERROR, "%s", strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) != -1) {
		const char *p;
		int words = 0;

		lineno++;
		strip_comment(line);
		for (p = skip_ws(line); *p != '\0'; p = skip_ws(p)) {
			size_t len = strcspn(p, " \t");
			const char *bad = p;

			while (bad < p + len && domain_char_ok(*bad))
				bad++;
			if (bad < p + len) {
				diags_add(d, path, lineno,
				    (int)(bad - line) + 1, DIAG_ERROR,
				    "\"%c\" cannot appear in a domain name",
				    *bad);
				rc = -1;
			} else {
				if (words == 1)
					diags_add(d, path, lineno,
					    (int)(p - line) + 1, DIAG_WARNING,
					    "several domains on one line; "
					    "each one counts");
				local_domain_add(c, p, len);
			}
			words++;
			p += len;
		}
	}
	free(line);
	fclose(fp);
	return rc;
}

/* ---- secrets ---- */

static void
check_secrets(struct config *c, const char *remotes_path, struct diags *d)
{
	/* Root hands the files to `user`; otherwise we read them ourselves. */
	const char *reader = geteuid() == 0 ? c->user : NULL;
	char *users;
	int has_pass = 0;

	for (size_t i = 0; i < c->nremotes; i++) {
		if (c->remotes[i].pass != NULL)
			has_pass = 1;
		if (c->remotes[i].pass_file != NULL &&
		    access(c->remotes[i].pass_file, F_OK) == 0)
			privsep_check_secret(c->remotes[i].pass_file, reader,
			    d, "--pass-file");
	}
	if (has_pass)
		privsep_check_secret(remotes_path, reader, d,
		    "remotes (it holds --pass)");
	if (c->tls_key != NULL)
		privsep_check_secret(c->tls_key, reader, d, "tls_key");
	/* Submission accounts: a users file the daemon cannot read turns
	   every AUTH into a failure, so say it before the first one. */
	xasprintf(&users, "%s/users", c->dir);
	if (access(users, F_OK) == 0)
		privsep_check_secret(users, reader, d, "users");
	free(users);
}

/* ---- rule files ---- */

/*
 * Load DIR/name with load() into *table unless the file is missing (no
 * rules). -1 when it had errors.
 */
static int
rules_file_load(struct config *c, const char *name, void **table,
    int (*load)(const char *, void **, struct diags *), struct diags *d)
{
	char *path;
	int rc = 0;

	xasprintf(&path, "%s/%s", c->dir, name);
	if (access(path, F_OK) == 0 && load(path, table, d) == -1)
		rc = -1;
	free(path);
	return rc;
}

/* Adapters: the loaders differ only in the type of their table. */
static int
load_access(const char *p, void **t, struct diags *d)
{
	return access_load(p, (struct access **)t, d);
}

static int
load_aliases(const char *p, void **t, struct diags *d)
{
	return aliases_load(p, (struct aliases **)t, d);
}

static int
load_transport(const char *p, void **t, struct diags *d)
{
	return transport_load(p, (struct transport **)t, d);
}

static int
load_sasl_passwd(const char *p, void **t, struct diags *d)
{
	return sasl_passwd_load(p, (struct sasl_passwd **)t, d);
}

static int
load_sender_relay(const char *p, void **t, struct diags *d)
{
	return sender_relay_load(p, (struct addr_map **)t, d);
}

static int
load_generics(const char *p, void **t, struct diags *d)
{
	return generics_load(p, (struct addr_map **)t, d);
}

/* The warnings DESIGN §2 and §12 ask `config check` and start-up for. */
static void
rules_check(struct config *c, struct diags *d)
{
	const char *reader = geteuid() == 0 ? c->user : NULL;

	if (c->access != NULL)
		access_check_config(c->access, c->peer_lookup, d);
	if (c->sasl_passwd != NULL)
		privsep_check_secret(c->sasl_passwd->file, reader, d,
		    "sasl_passwd");
	/* Postfix's trap: a key spelled unlike the hop it should serve. */
	for (size_t i = 0; c->sasl_passwd != NULL && i < c->nremotes; i++) {
		const struct remote *r = &c->remotes[i];
		const struct sasl_passwd_entry *e;
		char *spell;
		int miss = 0;

		if (r->user != NULL)
			continue;
		xasprintf(&spell, "[%s]:%d", r->host, r->port);
		e = sasl_passwd_lookup(c->sasl_passwd, spell, 25, &miss);
		if (e != NULL && miss)
			diags_add(d, e->file, e->line, 1, DIAG_WARNING,
			    "\"%s\" serves remote %s (%s line %d) here, but "
			    "Postfix would not match it: spell the key as "
			    "%s", e->key, r->host, r->file, r->line, spell);
		free(spell);
	}
	if (c->aliases != NULL && c->mailbox_root == NULL &&
	    (c->adminaddr == NULL || c->adminaddr[0] == '\0'))
		diags_add(d, c->aliases->file, 0, 0, DIAG_WARNING,
		    "neither adminaddr nor mailbox_root is set: local names "
		    "that no alias expands are refused with 550 5.1.1");
}

/* ---- load ---- */

/*
 * full: every file (the daemon, config check); otherwise only hikyaku.conf
 * and local-host-names, which an ordinary user may read (DESIGN §12).
 */
static int
load(const char *dir, int full, struct config **out, struct diags *d)
{
	struct config *c = xcalloc(1, sizeof(*c));
	char *path, cwd[PATH_MAX];
	int rc = 0;

	*out = NULL;
	if (dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		c->dir = xstrdup(dir);
	else
		xasprintf(&c->dir, "%s/%s", cwd, dir);
	conf_defaults(c);
	/* A mistyped -C must not pass silently as "all defaults". */
	if (access(c->dir, F_OK) == -1)
		diags_add(d, c->dir, 0, 0, DIAG_WARNING, "%s; using the "
		    "built-in defaults", strerror(errno));

	xasprintf(&path, "%s/hikyaku.conf", c->dir);
	if (conf_parse(c, path, d) == -1)
		rc = -1;
	if (conf_finish(c, path, d) == -1)
		rc = -1;
	free(path);

	if (full) {
		xasprintf(&path, "%s/remotes", c->dir);
		if (remotes_parse_file(path, &c->remotes, &c->nremotes,
		    d) == -1)
			rc = -1;
		check_secrets(c, path, d);
		free(path);
	}

	xasprintf(&path, "%s/local-host-names", c->dir);
	if (lhn_parse(c, path, d) == -1)
		rc = -1;
	free(path);
	if (!full)
		goto done;

	/* Every file is read, so one run reports the errors of all. */
	if (rules_file_load(c, "access", (void **)&c->access, load_access,
	    d) == -1)
		rc = -1;
	if (rules_file_load(c, "aliases", (void **)&c->aliases, load_aliases,
	    d) == -1)
		rc = -1;
	if (rules_file_load(c, "transport", (void **)&c->transport,
	    load_transport, d) == -1)
		rc = -1;
	if (rules_file_load(c, "sasl_passwd", (void **)&c->sasl_passwd,
	    load_sasl_passwd, d) == -1)
		rc = -1;
	if (rules_file_load(c, "sender_relay", (void **)&c->sender_relay,
	    load_sender_relay, d) == -1)
		rc = -1;
	if (rules_file_load(c, "generics", (void **)&c->generics,
	    load_generics, d) == -1)
		rc = -1;
	if (rc == 0)
		rules_check(c, d);

done:
	if (rc == -1 || diags_has_errors(d)) {
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int
config_load(const char *dir, struct config **out, struct diags *d)
{
	return load(dir, 1, out, d);
}

int
config_load_main(const char *dir, struct config **out, struct diags *d)
{
	return load(dir, 0, out, d);
}

int
config_give_to_daemon(const char *path, const char *dir, char **err)
{
	struct config *c;
	struct diags d = { NULL, 0 };
	char *why = NULL;
	uid_t uid;
	gid_t gid;
	int rc = -1;

	*err = NULL;
	if (geteuid() != 0)
		return 0;
	/* Only `user` is needed: hikyaku.conf alone, as any caller can. */
	if (config_load_main(dir, &c, &d) == -1) {
		xasprintf(err, "%s has errors (hikyaku config check); %s keeps "
		    "its group", dir, path);
		diags_free(&d);
		return -1;
	}
	diags_free(&d);
	if (privsep_lookup_user(c->user, &uid, &gid, &why) == -1)
		xasprintf(err, "%s; %s keeps its group", why, path);
	else if (chown(path, (uid_t)-1, gid) == -1)
		xasprintf(err, "chgrp %s: %s", path, strerror(errno));
	else
		rc = 0;
	free(why);
	config_free(c);
	return rc;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->type == CT_STRING || k->type == CT_PATH ||
		    k->type == CT_RATE)
			free(*(char **)((char *)c + k->offset));
	}
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listens[i].addr);
	free(c->listens);
	remotes_free(c->remotes, c->nremotes);
	for (size_t i = 0; i < c->nlocal_domains; i++)
		free(c->local_domains[i]);
	free(c->local_domains);
	access_free(c->access);
	aliases_free(c->aliases);
	transport_free(c->transport);
	sasl_passwd_free(c->sasl_passwd);
	addr_map_free(c->sender_relay);
	addr_map_free(c->generics);
	free(c->dir);
	free(c);
}

int
config_is_local_domain(const struct config *c, const char *domain)
{
	size_t n = strlen(domain);

	if (n > 1 && domain[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
#define SAME(s)	(strlen(s) == n && ascii_strncasecmp((s), domain, n) == 0)
	if (SAME("localhost") || SAME("localhost.localdomain"))
		return 1;
	if (c->me != NULL && SAME(c->me))
		return 1;
	for (size_t i = 0; i < c->nlocal_domains; i++)
		if (SAME(c->local_domains[i]))
			return 1;
#undef SAME
	return 0;
}
