/*
 * access: sendmail access db source and the relay decision (access.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access.h"
#include "address.h"
#include "config.h"
#include "maps.h"
#include "util.h"

/* sendmail tags and actions we know but do not implement: a warning. */
static const char *const unimplemented_tags[] = {
	"GreetPause", "Spam", "ClientRate", "ClientConn", "Srv_Features",
	"Cli_Features", "Try_TLS", "TLS_Clt", "TLS_Srv", "TLS_Rcpt",
	"CERTISSUER", "CERTSUBJECT", "Compat", "Auth", "QGRP", "Mailer",
	"MTA-STS", "LDAP"
};
static const char *const unimplemented_actions[] = {
	"SKIP", "QUARANTINE", "TEMP", "FRIEND", "HATER", "SPAM"
};

static int
in_list(const char *s, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len &&
		    ascii_strncasecmp(s, list[i], len) == 0)
			return 1;
	return 0;
}

static void
rule_free(struct access_rule *r)
{
	free(r->key);
	free(r->user);
	free(r->domain);
	free(r->reply);
}

void
access_free(struct access *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		rule_free(&a->v[i]);
	free(a->v);
	free(a->file);
	free(a);
}

/* ---- keys ---- */

/* Zero the bits of ip beyond prefix. */
static void
mask_bits(unsigned char *ip, int len, int prefix)
{
	for (int i = 0; i < len; i++) {
		int keep = prefix - i * 8;

		if (keep <= 0)
			ip[i] = 0;
		else if (keep < 8)
			ip[i] &= (unsigned char)(0xff << (8 - keep));
	}
}

/* "192.168.1": 1-4 decimal octets, sendmail's prefix by octets. */
static int
parse_ipv4_octets(const char *s, unsigned char *ip, int *prefix)
{
	int n = 0;

	memset(ip, 0, 4);
	for (;;) {
		int v = 0, digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (*s++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255 || n == 4)
			return -1;
		ip[n++] = (unsigned char)v;
		if (*s == '\0')
			break;
		if (*s++ != '.')
			return -1;
	}
	*prefix = n * 8;
	return 0;
}

/*
 * sendmail's IPv6 prefix by groups ("IPv6:2001:db8" covers 2001:db8::/32),
 * written without "::".
 */
static int
parse_ipv6_groups(const char *s, unsigned char *ip, int *prefix)
{
	int n = 0;

	memset(ip, 0, 16);
	if (strstr(s, "::") != NULL)
		return -1;
	for (;;) {
		unsigned v = 0;
		int digits = 0;

		while (isxdigit((unsigned char)*s) && digits < 5) {
			v = v * 16 + (unsigned)(isdigit((unsigned char)*s) ?
			    *s - '0' : (tolower((unsigned char)*s) - 'a' + 10));
			s++;
			digits++;
		}
		if (digits == 0 || digits > 4 || n == 8)
			return -1;
		ip[2 * n] = (unsigned char)(v >> 8);
		ip[2 * n + 1] = (unsigned char)v;
		n++;
		if (*s == '\0')
			break;
		if (*s++ != ':')
			return -1;
	}
	*prefix = n * 16;
	return 0;
}

/* An IP key: octets, CIDR, IPv6, IPv6 prefix. 1 parsed, 0 not IP, -1 bad. */
static int
parse_ip_key(const char *key, struct access_rule *r, const char **err)
{
	const char *s = key, *slash;
	char *addr;
	int v6tag = 0, rc = -1;

	if (ascii_strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		v6tag = 1;
	}
	slash = strchr(s, '/');
	addr = slash != NULL ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
	if (inet_pton(AF_INET6, addr, r->ip) == 1) {
		r->family = AF_INET6;
		r->prefix = 128;
		rc = 1;
	} else if (!v6tag && slash != NULL &&
	    inet_pton(AF_INET, addr, r->ip) == 1) {
		r->family = AF_INET;
		r->prefix = 32;
		rc = 1;
	} else if (!v6tag && slash == NULL &&
	    parse_ipv4_octets(addr, r->ip, &r->prefix) == 0) {
		r->family = AF_INET;
		rc = 1;
	} else if (v6tag && slash == NULL &&
	    parse_ipv6_groups(addr, r->ip, &r->prefix) == 0) {
		r->family = AF_INET6;
		rc = 1;
	} else if (v6tag || slash != NULL ||
	    strspn(addr, "0123456789.") == strlen(addr)) {
		/* All digits and dots can only have meant an address. */
		*err = "bad IP address or network";
	} else
		rc = 0;
	free(addr);
	if (rc == 1 && slash != NULL) {
		char *end;
		long len = strtol(slash + 1, &end, 10);
		int max = r->family == AF_INET ? 32 : 128;

		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
		    len > max) {
			*err = "bad prefix length after '/'";
			return -1;
		}
		r->prefix = (int)len;
	}
	if (rc == 1) {
		/* ::ffff:a.b.c.d is an IPv4 key in disguise. */
		static const unsigned char mapped[12] = {
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (r->family == AF_INET6 && r->prefix >= 96 &&
		    memcmp(r->ip, mapped, 12) == 0) {
			memmove(r->ip, r->ip + 12, 4);
			r->family = AF_INET;
			r->prefix -= 96;
		}
		mask_bits(r->ip, r->family == AF_INET ? 4 : 16, r->prefix);
		r->kind = ACCESS_KEY_IP;
	}
	return rc;
}

static int
parse_key(const char *key, struct access_rule *r, const char **err)
{
	const char *at;
	enum address_error why;
	int rc = parse_ip_key(key, r, err);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (strcmp(key, "<>") == 0) {
		/* sendmail's From:<> names the null sender. */
		r->kind = ACCESS_KEY_ADDRESS;
		r->user = xstrdup("");
		return 0;
	}
	at = strrchr(key, '@');
	if (at != NULL && at[1] == '\0') {
		if (at == key) {
			*err = "empty key";
			return -1;
		}
		r->kind = ACCESS_KEY_USER;
		r->user = xstrndup(key, (size_t)(at - key));
		return 0;
	}
	/* "@domain" is not sendmail's spelling, but it can only mean that. */
	r->kind = at == NULL || at == key ? ACCESS_KEY_DOMAIN :
	    ACCESS_KEY_ADDRESS;
	if (address_canon_domain(at != NULL ? at + 1 : key, &r->domain,
	    &why) < 0) {
		*err = address_strerror(why);
		return -1;
	}
	if (r->kind == ACCESS_KEY_ADDRESS)
		r->user = xstrndup(key, (size_t)(at - key));
	return 0;
}

/* ---- actions ---- */

/*
 * ERROR:550 text, ERROR:"550 text", ERROR:5.7.1:550 text,
 * ERROR:550 5.7.1 text. The reply always carries an enhanced code
 * (we announce ENHANCEDSTATUSCODES): x.7.1 when the line has none.
 */
static int
parse_error_action(const char *s, char **reply, const char **err,
    size_t *errcol)
{
	const char *p = s, *text;
	char dsn[32] = "", *unq = NULL;
	size_t len;
	int code;

	*errcol = 0;
	if (*p == '"') {
		len = strlen(p);
		if (len < 2 || p[len - 1] != '"') {
			*err = "missing closing '\"'";
			return -1;
		}
		unq = xstrndup(p + 1, len - 2);
		p = unq;
	}
	/* D.S.N:code */
	len = strspn(p, "0123456789.");
	if (p[len] == ':' && memchr(p, '.', len) != NULL) {
		if (len >= sizeof(dsn))
			len = sizeof(dsn) - 1;
		memcpy(dsn, p, len);
		dsn[len] = '\0';
		p += len + 1;
	}
	if ((p[0] != '4' && p[0] != '5') || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]) || (p[3] != '\0' && p[3] != ' ' &&
	    p[3] != '\t')) {
		*errcol = unq != NULL ? 1 + (size_t)(p - unq) :
		    (size_t)(p - s);
		*err = "ERROR: needs a 4xx or 5xx reply code";
		free(unq);
		return -1;
	}
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	text = skip_ws(p + 3);
	if (dsn[0] == '\0' && (text[0] == '4' || text[0] == '5') &&
	    text[1] == '.' && strchr(text, ' ') != NULL) {
		len = (size_t)(strchr(text, ' ') - text);
		if (len < sizeof(dsn) && strspn(text, "0123456789.") == len) {
			memcpy(dsn, text, len);
			dsn[len] = '\0';
			text = skip_ws(text + len);
		}
	}
	if (dsn[0] == '\0')
		snprintf(dsn, sizeof(dsn), "%c.7.1", p[0]);
	if (dsn[0] != p[0]) {
		*err = "the enhanced status code's class differs from the "
		    "reply code's";
		free(unq);
		return -1;
	}
	xasprintf(reply, "%d %s %s", code, dsn,
	    *text != '\0' ? text : "Access denied");
	free(unq);
	return 0;
}

/* 1 parsed, 0 ignored with a warning, -1 error (diagnostic added). */
static int
parse_action(const char *file, const struct maps_line *ml, const char *v,
    struct access_rule *r, struct diags *d)
{
	static const struct {
		const char *name;
		enum access_action action;
	} simple[] = {
		{ "OK", ACCESS_OK }, { "RELAY", ACCESS_RELAY },
		{ "REJECT", ACCESS_REJECT }, { "DISCARD", ACCESS_DISCARD },
	};
	size_t wlen = strcspn(v, " \t:");
	const char *err;
	size_t errcol;
	int line, col;

	maps_line_pos(ml, v, &line, &col);
	if (ascii_strncasecmp(v, "ERROR:", 6) == 0) {
		if (parse_error_action(v + 6, &r->reply, &err, &errcol) < 0) {
			diags_add(d, file, line, col + 6 + (int)errcol,
			    DIAG_ERROR, "%s", err);
			return -1;
		}
		r->action = ACCESS_ERROR;
		return 1;
	}
	for (size_t i = 0; i < nitems(simple); i++) {
		if (strlen(simple[i].name) != wlen ||
		    ascii_strncasecmp(v, simple[i].name, wlen) != 0)
			continue;
		if (v[wlen] != '\0') {
			diags_add(d, file, line, col + (int)wlen, DIAG_ERROR,
			    "unexpected text after %s", simple[i].name);
			return -1;
		}
		r->action = simple[i].action;
		if (r->action == ACCESS_REJECT)
			r->reply = xstrdup("550 5.7.1 Access denied");
		return 1;
	}
	if (in_list(v, wlen, unimplemented_actions,
	    nitems(unimplemented_actions)))
		diags_add(d, file, line, col, DIAG_WARNING,
		    "sendmail action %.*s is not implemented; line ignored",
		    (int)wlen, v);
	else
		diags_add(d, file, line, col, DIAG_WARNING,
		    "unknown action \"%s\" (OK, RELAY, REJECT, DISCARD or "
		    "ERROR:code text); line ignored", v);
	return 0;
}

/* ---- parsing ---- */

/* Cut a tag off key. 1 tag known, 0 none, -1 a tag we do not implement. */
static int
parse_tag(const char **key, enum access_tag *tag)
{
	static const struct {
		const char *name;
		enum access_tag tag;
	} tags[] = {
		{ "Connect", ACCESS_TAG_CONNECT }, { "From", ACCESS_TAG_FROM },
		{ "To", ACCESS_TAG_TO },
	};
	const char *k = *key;
	size_t len = strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-");

	*tag = ACCESS_TAG_ANY;
	if (k[len] != ':' || len == 0)
		return 0;
	for (size_t i = 0; i < nitems(tags); i++)
		if (strlen(tags[i].name) == len &&
		    ascii_strncasecmp(k, tags[i].name, len) == 0) {
			*tag = tags[i].tag;
			*key = k + len + 1;
			return 1;
		}
	/* An IPv6 key also starts with "word:". */
	if (ascii_strncasecmp(k, "IPv6:", 5) == 0 || strspn(k,
	    "0123456789abcdefABCDEF:./") == strlen(k))
		return 0;
	return -1;
}

static int
parse_rule(const char *file, struct maps_line *ml, struct access_rule *r,
    struct diags *d)
{
	char *text = ml->text, *v;
	const char *key = text, *err = NULL;
	int line, col, rc;

	v = text + strcspn(text, " \t");
	if (*v == '\0') {
		maps_line_pos(ml, v, &line, &col);
		diags_add(d, file, line, col, DIAG_ERROR,
		    "missing action after the key");
		return -1;
	}
	*v++ = '\0';
	v = (char *)skip_ws(v);
	rc = parse_tag(&key, &r->tag);
	if (rc < 0) {
		size_t tlen = strcspn(text, ":");

		maps_line_pos(ml, text, &line, &col);
		diags_add(d, file, line, col, DIAG_WARNING,
		    in_list(text, tlen, unimplemented_tags,
		    nitems(unimplemented_tags)) ?
		    "sendmail tag %.*s: is not implemented; line ignored" :
		    "unknown tag %.*s: (Connect:, From: or To:); line ignored",
		    (int)tlen, text);
		return 0;
	}
	if (*key == '\0')
		err = "empty key after the tag";
	if (err != NULL || parse_key(key, r, &err) < 0) {
		maps_line_pos(ml, key, &line, &col);
		diags_add(d, file, line, col, DIAG_ERROR, "%s: %s", err, key);
		return -1;
	}
	maps_line_pos(ml, key, &line, &col);
	if (r->tag == ACCESS_TAG_CONNECT && (r->kind == ACCESS_KEY_ADDRESS ||
	    r->kind == ACCESS_KEY_USER))
		diags_add(d, file, line, col, DIAG_WARNING,
		    "Connect: judges clients; an address key never matches");
	else if ((r->tag == ACCESS_TAG_FROM || r->tag == ACCESS_TAG_TO) &&
	    r->kind == ACCESS_KEY_IP)
		diags_add(d, file, line, col, DIAG_WARNING,
		    "From:/To: judge addresses; an IP key never matches");
	rc = parse_action(file, ml, v, r, d);
	if (rc == 1) {
		r->key = xstrdup(text);
		r->line = ml->line;
	}
	return rc;
}

int
access_parse(const char *file, const char *text, struct access **out,
    struct diags *d)
{
	struct maps_lines ls;
	struct access *a = xcalloc(1, sizeof(*a));
	size_t nerr = diags_count(d, DIAG_ERROR);

	a->file = xstrdup(file);
	/* makemap reads one entry a line: no continuations. */
	maps_split(file, text, 0, &ls, d);
	for (size_t i = 0; i < ls.n; i++) {
		struct access_rule r = { 0 };

		if (parse_rule(file, &ls.v[i], &r, d) != 1) {
			rule_free(&r);
			continue;
		}
		r.file = a->file;
		a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
		a->v[a->n++] = r;
	}
	maps_lines_free(&ls);
	if (diags_count(d, DIAG_ERROR) > nerr) {
		access_free(a);
		*out = NULL;
		return -1;
	}
	*out = a;
	return 0;
}

int
access_load(const char *path, struct access **out, struct diags *d)
{
	char *text;
	int rc;

	*out = NULL;
	if (maps_read(path, &text, d) < 0)
		return -1;
	rc = access_parse(path, text, out, d);
	free(text);
	return rc;
}

/* ---- matching ---- */

/*
 * A candidate's rank: class (which kind of key), then length (prefix
 * bits or domain length), then tagged over untagged; the earlier line
 * wins the remaining ties because candidates are scanned in file order.
 */
struct match {
	const struct access_rule *rule;
	int class, length, tagged;
};

static void
consider(struct match *best, const struct access_rule *r, int class,
    int length)
{
	int tagged = r->tag != ACCESS_TAG_ANY;

	if (best->rule != NULL && (best->class > class ||
	    (best->class == class && (best->length > length ||
	    (best->length == length && best->tagged >= tagged)))))
		return;
	best->rule = r;
	best->class = class;
	best->length = length;
	best->tagged = tagged;
}

static int
tag_applies(const struct access_rule *r, enum access_tag stage)
{
	return r->tag == ACCESS_TAG_ANY || r->tag == stage;
}

/* host is domain or one of its subdomains. */
static int
domain_covers(const char *domain, const char *host)
{
	size_t dl = strlen(domain), hl = strlen(host);

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (hl == dl)
		return ascii_strncasecmp(host, domain, dl) == 0;
	return hl > dl && host[hl - dl - 1] == '.' &&
	    ascii_strncasecmp(host + hl - dl, domain, dl) == 0;
}

static int
prefix_covers(const unsigned char *net, int prefix, const unsigned char *ip)
{
	int bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(net, ip, (size_t)bytes) != 0)
		return 0;
	return bits == 0 ||
	    ((net[bytes] ^ ip[bytes]) & (0xff << (8 - bits))) == 0;
}

static struct access_result
result_of(const struct match *m)
{
	struct access_result res = { ACCESS_NONE, NULL, NULL };

	if (m->rule != NULL) {
		res.action = m->rule->action;
		res.reply = m->rule->reply;
		res.rule = m->rule;
	}
	return res;
}

int
access_parse_ip(const char *s, unsigned char *ip)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (inet_pton(AF_INET, s, ip) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, ip) != 1)
		return -1;
	if (memcmp(ip, mapped, 12) == 0) {
		memmove(ip, ip + 12, 4);
		return AF_INET;
	}
	return AF_INET6;
}

struct access_result
access_check_connect(const struct access *a, const char *ip,
    const char *hostname)
{
	struct match best = { 0 };
	unsigned char addr[16];
	int family;

	if (a == NULL)
		return result_of(&best);
	/* sendmail looks the client's name up before its address. */
	if (hostname != NULL && *hostname != '\0') {
		for (size_t i = 0; i < a->n; i++) {
			const struct access_rule *r = &a->v[i];

			if (r->kind == ACCESS_KEY_DOMAIN &&
			    tag_applies(r, ACCESS_TAG_CONNECT) &&
			    domain_covers(r->domain, hostname))
				consider(&best, r, 0, (int)strlen(r->domain));
		}
		if (best.rule != NULL)
			return result_of(&best);
	}
	family = ip != NULL ? access_parse_ip(ip, addr) : -1;
	for (size_t i = 0; i < a->n && family != -1; i++) {
		const struct access_rule *r = &a->v[i];

		if (r->kind == ACCESS_KEY_IP && r->family == family &&
		    tag_applies(r, ACCESS_TAG_CONNECT) &&
		    prefix_covers(r->ip, r->prefix, addr))
			consider(&best, r, 0, r->prefix);
	}
	return result_of(&best);
}

/* Full address (class 2) > user@ (class 1) > domain (class 0). */
static struct access_result
check_address(const struct access *a, const char *addr, enum access_tag stage)
{
	struct match best = { 0 };
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	size_t ulen = at != NULL ? (size_t)(at - addr) : addr != NULL ?
	    strlen(addr) : 0;
	const char *domain = at != NULL ? at + 1 : NULL;

	for (size_t i = 0; a != NULL && addr != NULL && i < a->n; i++) {
		const struct access_rule *r = &a->v[i];
		int user_eq = r->user != NULL && strlen(r->user) == ulen &&
		    ascii_strncasecmp(r->user, addr, ulen) == 0;

		if (!tag_applies(r, stage))
			continue;
		if (r->kind == ACCESS_KEY_ADDRESS && r->domain == NULL) {
			if (*addr == '\0')
				consider(&best, r, 2, 0);
		} else if (r->kind == ACCESS_KEY_ADDRESS && domain != NULL &&
		    user_eq && address_domain_eq(r->domain, domain))
			consider(&best, r, 2, 0);
		else if (r->kind == ACCESS_KEY_USER && user_eq)
			consider(&best, r, 1, 0);
		else if (r->kind == ACCESS_KEY_DOMAIN && domain != NULL &&
		    domain_covers(r->domain, domain))
			consider(&best, r, 0, (int)strlen(r->domain));
	}
	return result_of(&best);
}

struct access_result
access_check_from(const struct access *a, const char *addr)
{
	return check_address(a, addr, ACCESS_TAG_FROM);
}

struct access_result
access_check_to(const struct access *a, const char *addr)
{
	return check_address(a, addr, ACCESS_TAG_TO);
}

enum access_relay
access_relay_allowed(const struct access *a, const char *client_ip_str,
    const char *client_host, int is_loopback, int authenticated,
    const char *rcpt_addr, const struct access_rule **why)
{
	struct access_result c, r;

	if (why != NULL)
		*why = NULL;
	if (authenticated)
		return ACCESS_RELAY_AUTH;
	c = access_check_connect(a, client_ip_str, client_host);
	if (c.action == ACCESS_RELAY) {
		if (why != NULL)
			*why = c.rule;
		return ACCESS_RELAY_CLIENT;
	}
	if (is_loopback && c.rule == NULL)
		return ACCESS_RELAY_LOOPBACK;
	r = access_check_to(a, rcpt_addr);
	if (r.action == ACCESS_RELAY) {
		if (why != NULL)
			*why = r.rule;
		return ACCESS_RELAY_RCPT;
	}
	if (why != NULL)
		*why = c.rule;
	return ACCESS_RELAY_DENIED;
}

const char *
access_relay_str(enum access_relay r)
{
	switch (r) {
	case ACCESS_RELAY_AUTH:
		return "authenticated client";
	case ACCESS_RELAY_CLIENT:
		return "client may relay";
	case ACCESS_RELAY_LOOPBACK:
		return "loopback client";
	case ACCESS_RELAY_RCPT:
		return "recipient may be relayed to";
	case ACCESS_RELAY_DENIED:
		break;
	}
	return "relaying denied";
}

const char *
access_action_str(enum access_action a)
{
	switch (a) {
	case ACCESS_OK:
		return "OK";
	case ACCESS_RELAY:
		return "RELAY";
	case ACCESS_REJECT:
		return "REJECT";
	case ACCESS_DISCARD:
		return "DISCARD";
	case ACCESS_ERROR:
		return "ERROR";
	case ACCESS_NONE:
		break;
	}
	return "none";
}

void
access_check_config(const struct access *a, int peer_lookup, struct diags *d)
{
	for (size_t i = 0; a != NULL && i < a->n; i++) {
		const struct access_rule *r = &a->v[i];

		if (r->kind != ACCESS_KEY_DOMAIN)
			continue;
		if (r->tag == ACCESS_TAG_ANY && r->action == ACCESS_RELAY)
			diags_add(d, r->file, r->line, 1, DIAG_WARNING,
			    "untagged \"%s RELAY\" lets anyone relay TO %s; "
			    "write Connect:%s for clients or To:%s to say so",
			    r->key, r->domain, r->domain, r->domain);
		if (peer_lookup)
			continue;
		if (r->tag == ACCESS_TAG_CONNECT)
			diags_add(d, r->file, r->line, 1, DIAG_WARNING,
			    "%s never matches a client: peer_lookup = no, so "
			    "client host names are not looked up", r->key);
		else if (r->tag == ACCESS_TAG_ANY)
			diags_add(d, r->file, r->line, 1, DIAG_WARNING,
			    "host key %s matches senders and recipients only: "
			    "peer_lookup = no, so clients are judged by "
			    "address", r->key);
	}
}
