/*
 * maps: logical lines, next hops and the Postfix-style tables (maps.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "config.h"
#include "maps.h"
#include "util.h"

/* ---- logical lines ---- */

size_t
maps_content_len(const char *s, size_t len, int quotes)
{
	int inq = 0;

	for (size_t i = 0; i < len; i++) {
		if (quotes && s[i] == '\\' && inq && i + 1 < len) {
			i++;
			continue;
		}
		if (quotes && s[i] == '"')
			inq = !inq;
		else if (s[i] == '#' && !inq &&
		    (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t'))
			len = i;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r'))
		len--;
	return len;
}

static void
add_segment(struct maps_line *ml, size_t off, int line, int col)
{
	ml->segs = xreallocarray(ml->segs, ml->nsegs + 1, sizeof(*ml->segs));
	ml->segs[ml->nsegs].off = off;
	ml->segs[ml->nsegs].line = line;
	ml->segs[ml->nsegs].col = col;
	ml->nsegs++;
}

void
maps_split(const char *file, const char *text, int flags,
    struct maps_lines *out, struct diags *d)
{
	struct buf b;
	struct maps_line *cur = NULL;
	int lineno = 0;

	out->v = NULL;
	out->n = 0;
	buf_init(&b);
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		size_t clen = maps_content_len(p, len, flags & MAPS_QUOTES);
		const char *s = skip_ws(p);

		lineno++;
		if ((size_t)(s - p) < clen) {
			int cont = (flags & MAPS_CONTINUE) && s != p;

			if (cont && cur == NULL)
				diags_add(d, file, lineno, 1, DIAG_WARNING,
				    "continuation line without an entry "
				    "before it; ignored");
			else if (cont) {
				add_segment(cur, b.len, lineno, 1);
				buf_add(&b, p, clen);
			} else {
				if (cur != NULL)
					cur->text = buf_take(&b);
				out->v = xreallocarray(out->v, out->n + 1,
				    sizeof(*out->v));
				cur = &out->v[out->n++];
				memset(cur, 0, sizeof(*cur));
				cur->line = lineno;
				add_segment(cur, 0, lineno,
				    (int)(s - p) + 1);
				buf_add(&b, s, clen - (size_t)(s - p));
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (cur != NULL)
		cur->text = buf_take(&b);
	buf_free(&b);
}

void
maps_lines_free(struct maps_lines *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->v[i].text);
		free(ls->v[i].segs);
	}
	free(ls->v);
	ls->v = NULL;
	ls->n = 0;
}

void
maps_line_pos(const struct maps_line *ml, const char *p, int *line, int *col)
{
	size_t off = (size_t)(p - ml->text), i = ml->nsegs - 1;

	while (i > 0 && ml->segs[i].off > off)
		i--;
	*line = ml->segs[i].line;
	*col = ml->segs[i].col + (int)(off - ml->segs[i].off);
}

int
maps_read(const char *path, char **text, struct diags *d)
{
	*text = read_file(path, NULL);
	if (*text == NULL) {
		diags_add(d, path, 0, 0, DIAG_ERROR, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Split "key value": *key and *value point into text; 0 or -1. */
static int
split_key_value(char *text, char **key, char **value)
{
	char *p = text;

	*key = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p == '\0') {
		*value = p;
		return -1;
	}
	*p++ = '\0';
	*value = (char *)skip_ws(p);
	return 0;
}

/* Report at p, a pointer into the line's (possibly modified) text. */
static void
report(struct diags *d, const char *file, const struct maps_line *ml,
    const char *p, enum diag_severity sev, const char *msg, const char *arg)
{
	int line, col;

	maps_line_pos(ml, p, &line, &col);
	if (arg != NULL)
		diags_add(d, file, line, col, sev, "%s: %s", msg, arg);
	else
		diags_add(d, file, line, col, sev, "%s", msg);
}

/* ---- next hops ---- */

static int
parse_port(const char *s)
{
	static const struct { const char *name; int port; } names[] = {
		{ "smtp", 25 }, { "submission", 587 }, { "smtps", 465 },
		{ "submissions", 465 },
	};
	char *end;
	long v;

	for (size_t i = 0; i < nitems(names); i++)
		if (ascii_strcasecmp(s, names[i].name) == 0)
			return names[i].port;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

static int
is_ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int
maps_nexthop_parse(const char *s, struct maps_nexthop *out,
    const char **err, size_t *errcol)
{
	const char *host, *hend, *port = NULL;
	char *h;
	enum address_error why;

	memset(out, 0, sizeof(*out));
	*errcol = 0;
	if (*s == '[') {
		host = s + 1;
		hend = strchr(host, ']');
		if (hend == NULL) {
			*err = "missing ']'";
			return -1;
		}
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend[1] != '\0') {
			*errcol = (size_t)(hend + 1 - s);
			*err = "expected ':port' after ']'";
			return -1;
		}
		out->bracketed = 1;
		if (ascii_strncasecmp(host, "ipv6:", 5) == 0)
			host += 5;
	} else {
		host = s;
		/* A bare IPv6 address has colons of its own. */
		if (is_ip_literal(s)) {
			hend = s + strlen(s);
		} else {
			hend = strchr(s, ':');
			if (hend != NULL)
				port = hend + 1;
			else
				hend = s + strlen(s);
		}
	}
	if (hend == host) {
		*errcol = (size_t)(host - s);
		*err = "empty host name";
		return -1;
	}
	if (port != NULL && (out->port = parse_port(port)) < 0) {
		out->port = 0;
		*errcol = (size_t)(port - s);
		*err = "bad port (a number 1-65535, smtp, submission or smtps)";
		return -1;
	}
	h = xstrndup(host, (size_t)(hend - host));
	if (is_ip_literal(h))
		out->host = h;
	else {
		if (address_canon_domain(h, &out->host, &why) < 0) {
			free(h);
			*errcol = (size_t)(host - s);
			*err = address_strerror(why);
			return -1;
		}
		free(h);
	}
	out->mx = !out->bracketed && !is_ip_literal(out->host);
	return 0;
}

void
maps_nexthop_free(struct maps_nexthop *nh)
{
	free(nh->host);
	nh->host = NULL;
}

/* ---- keys shared by the tables ---- */

/* "user@domain", "@domain", "domain": split and canonicalise. */
static int
parse_addr_key(const char *key, char **local, char **domain,
    const char **err)
{
	const char *at = strrchr(key, '@');
	enum address_error why;

	*local = NULL;
	*domain = NULL;
	if (at == NULL) {
		if (address_canon_domain(key, domain, &why) < 0) {
			*err = address_strerror(why);
			return -1;
		}
		return 0;
	}
	if (at[1] == '\0') {
		*err = "missing domain after '@'";
		return -1;
	}
	if (address_canon_domain(at + 1, domain, &why) < 0) {
		*err = address_strerror(why);
		return -1;
	}
	if (at != key)
		*local = xstrndup(key, (size_t)(at - key));
	return 0;
}

/* ---- transport ---- */

static void
transport_entry_free(struct transport_entry *e)
{
	free(e->key);
	free(e->local);
	free(e->domain);
	free(e->value);
	maps_nexthop_free(&e->nexthop);
	free(e->text);
}

void
transport_free(struct transport *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		transport_entry_free(&t->v[i]);
	free(t->v);
	free(t->file);
	free(t);
}

static int
transport_parse_key(struct transport_entry *e, const char *key,
    const char **err)
{
	if (strcmp(key, "*") == 0) {
		e->key_kind = TRANSPORT_KEY_ANY;
		return 0;
	}
	if (key[0] == '.') {
		e->key_kind = TRANSPORT_KEY_PARENT;
		if (key[1] == '\0') {
			*err = "missing domain after '.'";
			return -1;
		}
		key++;
	} else
		e->key_kind = strchr(key, '@') != NULL ?
		    TRANSPORT_KEY_ADDRESS : TRANSPORT_KEY_DOMAIN;
	if (parse_addr_key(key, &e->local, &e->domain, err) < 0)
		return -1;
	if (e->key_kind == TRANSPORT_KEY_ADDRESS && e->local == NULL) {
		*err = "an address key needs a user before '@' "
		    "(transport has no @domain form; write the domain)";
		return -1;
	}
	return 0;
}

/* "transport:nexthop" (either may be empty) or "transport". */
static int
transport_parse_value(struct transport_entry *e, char *value,
    const char **err, size_t *errcol)
{
	char *colon = strchr(value, ':');
	char *name = value, *rest = colon != NULL ? colon + 1 : value + strlen(value);

	*errcol = 0;
	if (colon != NULL)
		*colon = '\0';
	if (*name == '\0')
		e->kind = TRANSPORT_NOCHANGE;
	else if (ascii_strcasecmp(name, "smtp") == 0 ||
	    ascii_strcasecmp(name, "relay") == 0)
		e->kind = TRANSPORT_SMTP;
	else if (ascii_strcasecmp(name, "local") == 0)
		e->kind = TRANSPORT_LOCAL;
	else if (ascii_strcasecmp(name, "error") == 0)
		e->kind = TRANSPORT_ERROR;
	else if (ascii_strcasecmp(name, "retry") == 0)
		e->kind = TRANSPORT_RETRY;
	else {
		*err = "unsupported transport (smtp, relay, local, error, "
		    "retry or empty)";
		return -1;
	}
	*errcol = (size_t)(rest - value);
	if (e->kind == TRANSPORT_ERROR || e->kind == TRANSPORT_RETRY) {
		if (*rest != '\0')
			e->text = xstrdup(rest);
		return 0;
	}
	/* Postfix ignores the next hop of local; so do we, but keep it. */
	if (*rest == '\0')
		return 0;
	if (maps_nexthop_parse(rest, &e->nexthop, err, errcol) < 0) {
		*errcol += (size_t)(rest - value);
		return -1;
	}
	return 0;
}

int
transport_parse(const char *file, const char *text, struct transport **out,
    struct diags *d)
{
	struct maps_lines ls;
	struct transport *t = xcalloc(1, sizeof(*t));
	size_t nerr = diags_count(d, DIAG_ERROR);

	t->file = xstrdup(file);
	maps_split(file, text, MAPS_CONTINUE, &ls, d);
	for (size_t i = 0; i < ls.n; i++) {
		struct maps_line *ml = &ls.v[i];
		struct transport_entry e = { 0 };
		char *key, *value, *vcopy;
		const char *err = NULL;
		size_t errcol;

		if (split_key_value(ml->text, &key, &value) < 0) {
			report(d, file, ml, value, DIAG_ERROR,
			    "missing value after the key", NULL);
			continue;
		}
		e.file = t->file;
		e.line = ml->line;
		if (transport_parse_key(&e, key, &err) < 0) {
			report(d, file, ml, key, DIAG_ERROR, err, key);
			transport_entry_free(&e);
			continue;
		}
		vcopy = xstrdup(value);
		if (transport_parse_value(&e, vcopy, &err, &errcol) < 0) {
			report(d, file, ml, value + errcol, DIAG_ERROR, err,
			    value);
			free(vcopy);
			transport_entry_free(&e);
			continue;
		}
		free(vcopy);
		e.key = xstrdup(key);
		e.value = xstrdup(value);
		t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
		t->v[t->n++] = e;
	}
	maps_lines_free(&ls);
	if (diags_count(d, DIAG_ERROR) > nerr) {
		transport_free(t);
		*out = NULL;
		return -1;
	}
	*out = t;
	return 0;
}

int
transport_load(const char *path, struct transport **out, struct diags *d)
{
	char *text;
	int rc;

	*out = NULL;
	if (maps_read(path, &text, d) < 0)
		return -1;
	rc = transport_parse(path, text, out, d);
	free(text);
	return rc;
}

static const struct transport_entry *
transport_find(const struct transport *t, enum transport_key_kind kind,
    const char *local, const char *domain)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct transport_entry *e = &t->v[i];

		if (e->key_kind != kind)
			continue;
		if (kind == TRANSPORT_KEY_ANY)
			return e;
		if (!address_domain_eq(e->domain, domain))
			continue;
		if (kind != TRANSPORT_KEY_ADDRESS ||
		    ascii_strcasecmp(e->local, local) == 0)
			return e;
	}
	return NULL;
}

const struct transport_entry *
transport_lookup(const struct transport *t, const char *local,
    const char *domain, int domain_is_local)
{
	const struct transport_entry *e = NULL;

	if (t == NULL || domain == NULL)
		return NULL;
	if (local != NULL)
		e = transport_find(t, TRANSPORT_KEY_ADDRESS, local, domain);
	if (e == NULL)
		e = transport_find(t, TRANSPORT_KEY_DOMAIN, NULL, domain);
	if (e != NULL || domain_is_local)
		return e;
	/* sub.example.com looks up .example.com, then .com. */
	for (const char *p = strchr(domain, '.'); p != NULL && e == NULL;
	    p = strchr(p + 1, '.'))
		e = transport_find(t, TRANSPORT_KEY_PARENT, NULL, p + 1);
	if (e == NULL)
		e = transport_find(t, TRANSPORT_KEY_ANY, NULL, NULL);
	return e;
}

/* ---- sasl_passwd ---- */

static void
sasl_passwd_entry_free(struct sasl_passwd_entry *e)
{
	free(e->key);
	maps_nexthop_free(&e->host);
	free(e->user);
	free(e->password);
}

void
sasl_passwd_free(struct sasl_passwd *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		sasl_passwd_entry_free(&s->v[i]);
	free(s->v);
	free(s->file);
	free(s);
}

int
sasl_passwd_parse(const char *file, const char *text,
    struct sasl_passwd **out, struct diags *d)
{
	struct maps_lines ls;
	struct sasl_passwd *s = xcalloc(1, sizeof(*s));
	size_t nerr = diags_count(d, DIAG_ERROR);

	s->file = xstrdup(file);
	maps_split(file, text, MAPS_CONTINUE, &ls, d);
	for (size_t i = 0; i < ls.n; i++) {
		struct maps_line *ml = &ls.v[i];
		struct sasl_passwd_entry e = { 0 };
		char *key, *value, *colon;
		const char *err;
		size_t errcol;

		if (split_key_value(ml->text, &key, &value) < 0) {
			report(d, file, ml, value, DIAG_ERROR,
			    "missing user:password after the host", NULL);
			continue;
		}
		if (strchr(key, '@') != NULL) {
			report(d, file, ml, key, DIAG_WARNING,
			    "sender-dependent credentials are not supported; "
			    "line ignored", key);
			continue;
		}
		if (maps_nexthop_parse(key, &e.host, &err, &errcol) < 0) {
			report(d, file, ml, key + errcol, DIAG_ERROR, err, key);
			continue;
		}
		/* Passwords may hold ':' and '#': only the first ':' splits. */
		colon = strchr(value, ':');
		if (colon == NULL) {
			report(d, file, ml, value, DIAG_WARNING,
			    "no ':' between user and password; the password "
			    "is empty", NULL);
			e.user = xstrdup(value);
			e.password = xstrdup("");
		} else {
			e.user = xstrndup(value, (size_t)(colon - value));
			e.password = xstrdup(colon + 1);
		}
		e.file = s->file;
		e.line = ml->line;
		e.key = xstrdup(key);
		s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
		s->v[s->n++] = e;
	}
	maps_lines_free(&ls);
	if (diags_count(d, DIAG_ERROR) > nerr) {
		sasl_passwd_free(s);
		*out = NULL;
		return -1;
	}
	*out = s;
	return 0;
}

int
sasl_passwd_load(const char *path, struct sasl_passwd **out,
    struct diags *d)
{
	char *text;
	int rc;

	*out = NULL;
	if (maps_read(path, &text, d) < 0)
		return -1;
	rc = sasl_passwd_parse(path, text, out, d);
	free(text);
	return rc;
}

const struct sasl_passwd_entry *
sasl_passwd_lookup(const struct sasl_passwd *s, const char *nexthop,
    int default_port, int *postfix_miss)
{
	const struct sasl_passwd_entry *best = NULL;
	struct maps_nexthop q;
	const char *err;
	size_t errcol;
	int port;

	if (postfix_miss != NULL)
		*postfix_miss = 0;
	if (s == NULL || maps_nexthop_parse(nexthop, &q, &err, &errcol) < 0)
		return NULL;
	port = q.port != 0 ? q.port : default_port;
	for (size_t i = 0; i < s->n; i++) {
		const struct sasl_passwd_entry *e = &s->v[i];
		int eport = e->host.port;

		/* "[host]" is a port-less spelling too: any port. */
		if (ascii_strcasecmp(e->host.host, q.host) != 0 ||
		    (eport != 0 && eport != port))
			continue;
		if (eport != 0) {
			best = e;
			break;
		}
		if (best == NULL)
			best = e;
	}
	if (best != NULL && postfix_miss != NULL)
		/* Postfix tries the spelling verbatim, then the bare name. */
		*postfix_miss = ascii_strcasecmp(best->key, nexthop) != 0 &&
		    (best->host.bracketed || best->host.port != 0 ||
		    ascii_strcasecmp(best->key, q.host) != 0);
	maps_nexthop_free(&q);
	return best;
}

/* ---- sender_relay and generics ---- */

static void
addr_map_entry_free(struct addr_map_entry *e)
{
	free(e->key);
	free(e->local);
	free(e->domain);
	free(e->value);
	maps_nexthop_free(&e->nexthop);
	free(e->to_local);
	free(e->to_domain);
}

void
addr_map_free(struct addr_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		addr_map_entry_free(&m->v[i]);
	free(m->v);
	free(m->file);
	free(m);
}

enum addr_map_type { MAP_SENDER_RELAY, MAP_GENERICS };

static int
addr_map_value(enum addr_map_type type, struct addr_map_entry *e,
    const char *value, const char **err, size_t *errcol)
{
	*errcol = 0;
	if (type == MAP_SENDER_RELAY)
		return maps_nexthop_parse(value, &e->nexthop, err, errcol);
	if (strchr(value, '@') == NULL) {
		*err = "expected user@domain or @domain";
		return -1;
	}
	return parse_addr_key(value, &e->to_local, &e->to_domain, err);
}

static int
addr_map_parse(enum addr_map_type type, const char *file, const char *text,
    struct addr_map **out, struct diags *d)
{
	struct maps_lines ls;
	struct addr_map *m = xcalloc(1, sizeof(*m));
	size_t nerr = diags_count(d, DIAG_ERROR);

	m->file = xstrdup(file);
	maps_split(file, text, MAPS_CONTINUE, &ls, d);
	for (size_t i = 0; i < ls.n; i++) {
		struct maps_line *ml = &ls.v[i];
		struct addr_map_entry e = { 0 };
		char *key, *value;
		const char *err;
		size_t errcol;

		if (split_key_value(ml->text, &key, &value) < 0) {
			report(d, file, ml, value, DIAG_ERROR,
			    "missing value after the key", NULL);
			continue;
		}
		if (type == MAP_SENDER_RELAY && strcmp(key, "<>") == 0)
			e.local = xstrdup("");
		else if (type == MAP_GENERICS && strchr(key, '@') == NULL) {
			/* sendmail's bare "user": that user in any local
			   domain (domain stays NULL). */
			if (strpbrk(key, "%!\"") != NULL || key[0] == '.') {
				report(d, file, ml, key, DIAG_ERROR,
				    "expected user, user@domain or @domain",
				    key);
				continue;
			}
			e.local = xstrdup(key);
		} else if (strchr(key, '@') == NULL) {
			report(d, file, ml, key, DIAG_ERROR,
			    "expected user@domain or @domain", key);
			continue;
		} else if (parse_addr_key(key, &e.local, &e.domain,
		    &err) < 0) {
			report(d, file, ml, key, DIAG_ERROR, err, key);
			addr_map_entry_free(&e);
			continue;
		}
		if (addr_map_value(type, &e, value, &err, &errcol) < 0) {
			report(d, file, ml, value + errcol, DIAG_ERROR, err,
			    value);
			addr_map_entry_free(&e);
			continue;
		}
		e.file = m->file;
		e.line = ml->line;
		e.key = xstrdup(key);
		e.value = xstrdup(value);
		m->v = xreallocarray(m->v, m->n + 1, sizeof(*m->v));
		m->v[m->n++] = e;
	}
	maps_lines_free(&ls);
	if (diags_count(d, DIAG_ERROR) > nerr) {
		addr_map_free(m);
		*out = NULL;
		return -1;
	}
	*out = m;
	return 0;
}

static int
addr_map_load(enum addr_map_type type, const char *path,
    struct addr_map **out, struct diags *d)
{
	char *text;
	int rc;

	*out = NULL;
	if (maps_read(path, &text, d) < 0)
		return -1;
	rc = addr_map_parse(type, path, text, out, d);
	free(text);
	return rc;
}

int
sender_relay_parse(const char *file, const char *text,
    struct addr_map **out, struct diags *d)
{
	return addr_map_parse(MAP_SENDER_RELAY, file, text, out, d);
}

int
sender_relay_load(const char *path, struct addr_map **out, struct diags *d)
{
	return addr_map_load(MAP_SENDER_RELAY, path, out, d);
}

int
generics_parse(const char *file, const char *text, struct addr_map **out,
    struct diags *d)
{
	return addr_map_parse(MAP_GENERICS, file, text, out, d);
}

int
generics_load(const char *path, struct addr_map **out, struct diags *d)
{
	return addr_map_load(MAP_GENERICS, path, out, d);
}

const struct addr_map_entry *
addr_map_lookup(const struct addr_map *m, const char *local,
    const char *domain)
{
	if (m == NULL)
		return NULL;
	if (domain == NULL) {
		/* Only the null sender has no domain here. */
		for (size_t i = 0; i < m->n; i++)
			if (m->v[i].domain == NULL && m->v[i].local[0] == '\0')
				return &m->v[i];
		return NULL;
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].local != NULL && m->v[i].domain != NULL &&
		    ascii_strcasecmp(m->v[i].local, local) == 0 &&
		    address_domain_eq(m->v[i].domain, domain))
			return &m->v[i];
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].local == NULL &&
		    address_domain_eq(m->v[i].domain, domain))
			return &m->v[i];
	return NULL;
}

/* A bare "user" key (generics only), for a sender in a local domain. */
static const struct addr_map_entry *
addr_map_lookup_user(const struct addr_map *m, const char *local)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].domain == NULL && m->v[i].local[0] != '\0' &&
		    ascii_strcasecmp(m->v[i].local, local) == 0)
			return &m->v[i];
	return NULL;
}

char *
generics_rewrite(const struct addr_map *m, const char *local,
    const char *domain, int domain_is_local,
    const struct addr_map_entry **rule)
{
	const struct addr_map_entry *e = NULL, *u;
	char *s;

	/* sendmail's order: user@domain, then user (local domains only),
	   then @domain. */
	if (m != NULL && domain != NULL) {
		e = addr_map_lookup(m, local, domain);
		if ((e == NULL || e->local == NULL) && domain_is_local &&
		    (u = addr_map_lookup_user(m, local)) != NULL)
			e = u;
	}
	if (rule != NULL)
		*rule = e;
	if (e == NULL)
		return NULL;
	xasprintf(&s, "%s@%s", e->to_local != NULL ? e->to_local : local,
	    e->to_domain);
	return s;
}
