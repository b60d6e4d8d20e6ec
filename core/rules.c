/*
 * rules: the decision engine. Each public function walks the same steps
 * the tracer prints: the table lookups live in access.c, aliases.c and
 * maps.c; this file orders them as DESIGN §5 and §12 say and records
 * which line decided.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "address.h"
#include "aliases.h"
#include "config.h"
#include "maps.h"
#include "privsep.h"
#include "rules.h"
#include "util.h"

#define RULES_BUILTIN	"built-in"
/* Alias results may name addresses that alias again; stop somewhere. */
#define RULES_MAX_DEPTH	(ALIASES_MAX_DEPTH + 2)

/* ---- steps ---- */

static void step(struct rules_trace *, int depth, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
step(struct rules_trace *t, int depth, const char *rule, const char *fmt, ...)
{
	struct rules_step	*s;
	va_list			 ap;

	if (t == NULL)
		return;
	t->v = xreallocarray(t->v, t->n + 1, sizeof *t->v);
	s = &t->v[t->n++];
	s->depth = depth;
	s->rule = rule != NULL ? xstrdup(rule) : NULL;
	va_start(ap, fmt);
	xvasprintf(&s->text, fmt, ap);
	va_end(ap);
}

void
rules_trace_free(struct rules_trace *t)
{
	size_t	 i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].text);
		free(t->v[i].rule);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

char *
rules_where(const char *file, int line)
{
	const char	*base;
	char		*s;

	if (file == NULL)
		return (xstrdup(RULES_BUILTIN));
	base = strrchr(file, '/');
	base = base != NULL ? base + 1 : file;
	if (line > 0)
		xasprintf(&s, "%s:%d", base, line);
	else
		s = xstrdup(base);
	return (s);
}

static void
set_rule(struct rules_answer *a, const char *file, int line)
{
	char	*w = rules_where(file, line);

	snprintf(a->rule, sizeof a->rule, "%s", w);
	free(w);
}

/* ---- helpers ---- */

static int
is_loopback(const char *ip)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (inet_pton(AF_INET, ip, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return (0);
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return (1);
	return (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
}

/* Split "local@domain" (domain NULL without '@'); caller frees both. */
static void
split_addr(const char *addr, char **local, char **domain)
{
	const char	*at = strrchr(addr, '@');

	if (at == NULL) {
		*local = xstrdup(addr);
		*domain = NULL;
		return;
	}
	*local = xstrndup(addr, (size_t)(at - addr));
	*domain = xstrdup(at + 1);
	ascii_lower(*domain);
}

static int
domain_is_local(const struct config *cfg, const char *domain)
{
	/* The server lets through only address literals that are ours. */
	return (domain == NULL || domain[0] == '[' ||
	    config_is_local_domain(cfg, domain));
}

static int
alias_is_local(const char *domain, void *arg)
{
	return (domain_is_local(arg, domain));
}

/*
 * The daemon's `user` as a uid, looked up once per configuration:
 * include_trusted asks at every :include: of every expansion. Keyed on
 * the config and the name, so a reload (a new config) looks again, and
 * so does a config loaded where a freed one with another user was. Only
 * a user found is kept: a failed look-up may be a passing NSS error.
 */
static struct {
	const struct config	*cfg;
	char			*user;
	uid_t			 uid;
} daemon_user;

/* 1 with *uid when cfg names a user that exists. */
static int
daemon_uid(const struct config *cfg, uid_t *uid)
{
	const struct passwd	*pw;

	if (cfg->user == NULL || cfg->user[0] == '\0')
		return (0);
	if (daemon_user.cfg != cfg || daemon_user.user == NULL ||
	    strcmp(daemon_user.user, cfg->user) != 0) {
		if ((pw = getpwnam(cfg->user)) == NULL)
			return (0);
		free(daemon_user.user);
		daemon_user.cfg = cfg;
		daemon_user.user = xstrdup(cfg->user);
		daemon_user.uid = pw->pw_uid;
	}
	*uid = daemon_user.uid;
	return (1);
}

/*
 * :include: files may name files and pipes only when root or the daemon's
 * `user` owns them: a user's ~/.forward-style include must not run
 * commands as the daemon. Judged for the configured user, not for
 * whoever runs this code, so the tracer (run as root or anyone) answers
 * as the daemon does.
 */
static int
include_trusted(const char *path, void *arg)
{
	struct stat	 st;
	uid_t		 uid;

	if (stat(path, &st) == -1)
		return (0);
	if (st.st_uid == 0)
		return (1);
	return (daemon_uid(arg, &uid) && st.st_uid == uid);
}

static const char *
action_reply(const struct access_result *r, char *buf, size_t len,
    const char *dflt)
{
	if (r->reply != NULL)
		return (r->reply);
	snprintf(buf, len, "%s", dflt);
	return (buf);
}

/* Access verdict common to the three stages. 1 when it decided. */
static int
access_verdict(const struct access_result *r, const char *stage,
    const char *what, struct rules_answer *a, struct rules_trace *t)
{
	char	 buf[128];

	if (r->rule == NULL) {
		step(t, 0, NULL, "access %s %s: no line matches", stage, what);
		return (0);
	}
	set_rule(a, r->rule->file, r->rule->line);
	step(t, 0, a->rule, "access %s %s: \"%s\" %s", stage, what,
	    r->rule->key, access_action_str(r->action));
	switch (r->action) {
	case ACCESS_REJECT:
	case ACCESS_ERROR:
		a->verdict = RULES_REJECT;
		snprintf(a->reply, sizeof a->reply, "%s",
		    action_reply(r, buf, sizeof buf,
		    "550 5.7.1 Access denied"));
		return (1);
	case ACCESS_DISCARD:
		a->verdict = RULES_DISCARD;
		return (1);
	default:
		return (0);
	}
}

static void
answer_init(struct rules_answer *a)
{
	memset(a, 0, sizeof *a);
	a->verdict = RULES_ACCEPT;
	snprintf(a->rule, sizeof a->rule, "%s", RULES_BUILTIN);
}

/* ---- SMTP stages ---- */

int
rules_literal_is_ours(const char *lit, void *server_ip)
{
	const char	*ip = server_ip;
	unsigned char	 a[16], b[16];
	int		 family;

	if (ip == NULL || ip[0] == '\0' ||
	    (family = access_parse_ip(lit, a)) == -1 ||
	    access_parse_ip(ip, b) != family)
		return (0);
	return (memcmp(a, b, family == AF_INET ? 4 : 16) == 0);
}

const char *
rules_listen_address(const struct config *cfg, enum listen_mode mode)
{
	size_t	 i;

	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listens[i].mode == mode &&
		    strcmp(cfg->listens[i].addr, "*") != 0)
			return (cfg->listens[i].addr);
	return ("");
}

int
rules_parse_path(const struct config *cfg, enum rules_path which,
    const char *arg, const char *server_ip, struct address *out,
    const char **params, struct rules_answer *a, struct rules_trace *t)
{
	enum address_error	 why;
	const char		*rest;

	answer_init(a);
	if (address_parse_path(arg, which == RULES_PATH_MAIL,
	    rules_literal_is_ours, (void *)server_ip, out, &rest,
	    &why) == -1) {
		a->verdict = RULES_REJECT;
		if (which == RULES_PATH_MAIL)
			snprintf(a->reply, sizeof a->reply, "501 5.1.7 Bad "
			    "sender address syntax: %s", address_strerror(why));
		else if (why == ADDR_ROUTING || why == ADDR_SOURCE_ROUTE ||
		    why == ADDR_QUOTED_SPECIAL || why == ADDR_IP_LITERAL)
			snprintf(a->reply, sizeof a->reply, "554 5.7.1 Relay "
			    "access denied: %s", address_strerror(why));
		else
			snprintf(a->reply, sizeof a->reply, "501 5.1.3 Bad "
			    "recipient address syntax: %s",
			    address_strerror(why));
		if (why == ADDR_IP_LITERAL)
			step(t, 0, RULES_BUILTIN, "address: %s (the client "
			    "connected to %s)", address_strerror(why),
			    server_ip != NULL && server_ip[0] != '\0' ?
			    server_ip : "an unknown address");
		else
			step(t, 0, RULES_BUILTIN, "address: %s",
			    address_strerror(why));
		return (-1);
	}
	if (which == RULES_PATH_RCPT && *rest != '\0') {
		a->verdict = RULES_REJECT;
		snprintf(a->reply, sizeof a->reply, "555 5.5.4 Unsupported "
		    "option: %s", rest);
		step(t, 0, RULES_BUILTIN, "address: parameters after it");
		address_free(out);
		return (-1);
	}
	if (out->domain == NULL && !address_is_null(out))
		out->domain = xstrdup(cfg->me);
	else if (out->domain != NULL && out->domain[0] == '[')
		step(t, 0, RULES_BUILTIN, "address literal %s: the address "
		    "the client connected to", out->domain);
	if (params != NULL)
		*params = rest;
	return (0);
}

static int
client_relays(const struct config *cfg, const struct rules_client *c,
    const struct access_result *r)
{
	if (c->ip == NULL || c->auth_user != NULL)
		return (1);
	if (r->rule != NULL)
		return (r->action == ACCESS_RELAY);
	return (is_loopback(c->ip));
}

void
rules_check_connect(const struct config *cfg, const struct rules_client *c,
    struct rules_answer *a, struct rules_trace *t)
{
	struct access_result	 r = { 0 };

	answer_init(a);
	if (c->ip == NULL) {
		a->relay = 1;
		step(t, 0, RULES_BUILTIN, "local submission: may relay");
		return;
	}
	if (cfg->access != NULL)
		r = access_check_connect(cfg->access, c->ip, c->hostname);
	if (access_verdict(&r, "Connect:", c->ip, a, t))
		return;
	a->relay = client_relays(cfg, c, &r);
	if (r.rule == NULL)
		step(t, 0, RULES_BUILTIN, "client %s: %s", c->ip,
		    a->relay ? "loopback, may relay" :
		    "may send to local domains only");
	else
		step(t, 0, a->rule, "client %s: %s", c->ip, a->relay ?
		    "may relay" : "may send to local domains only");
}

void
rules_check_mail(const struct config *cfg, const struct rules_client *c,
    const char *sender, struct rules_answer *a, struct rules_trace *t)
{
	struct access_result	 r = { 0 };
	char			*what;

	answer_init(a);
	xasprintf(&what, "<%s>", sender);
	if (cfg->access != NULL)
		r = access_check_from(cfg->access, sender);
	access_verdict(&r, "From:", what, a, t);
	free(what);
}

/* Does a local name take mail (so RCPT can say 550 5.1.1 early)? */
static int
result_deliverable(const struct rules_result *res, const char **why)
{
	size_t	 i;

	*why = NULL;
	for (i = 0; i < res->n; i++) {
		if (res->v[i].kind != RULES_DEST_ERROR)
			return (1);
		if (*why == NULL)
			*why = res->v[i].text;
	}
	return (res->n == 0);
}

void
rules_check_rcpt(const struct config *cfg, const struct rules_client *c,
    const char *sender, const char *rcpt, struct rules_answer *a,
    struct rules_trace *t)
{
	struct access_result		 r = { 0 };
	const struct access_rule	*why = NULL;
	enum access_relay		 rel;
	struct rules_result		 res;
	struct rules_trace		 sub = { 0 };
	char				*local, *domain, *what;
	const char			*err;
	size_t				 i;

	answer_init(a);
	xasprintf(&what, "<%s>", rcpt);
	if (cfg->access != NULL)
		r = access_check_to(cfg->access, rcpt);
	if (access_verdict(&r, "To:", what, a, t)) {
		free(what);
		return;
	}
	free(what);
	split_addr(rcpt, &local, &domain);
	if (!domain_is_local(cfg, domain)) {
		if (c->ip == NULL) {
			rel = ACCESS_RELAY_AUTH;
			snprintf(a->rule, sizeof a->rule, "%s", RULES_BUILTIN);
		} else {
			rel = access_relay_allowed(cfg->access != NULL ?
			    cfg->access : &(struct access){ 0 }, c->ip,
			    c->hostname, is_loopback(c->ip),
			    c->auth_user != NULL, rcpt, &why);
			if (why != NULL)
				set_rule(a, why->file, why->line);
			else
				snprintf(a->rule, sizeof a->rule, "%s",
				    RULES_BUILTIN);
		}
		step(t, 0, a->rule, "relay to %s: %s", domain,
		    c->ip == NULL ? "local submission" : access_relay_str(rel));
		if (rel == ACCESS_RELAY_DENIED) {
			a->verdict = RULES_REJECT;
			snprintf(a->reply, sizeof a->reply,
			    "554 5.7.1 <%s>: Relay access denied", rcpt);
		}
		free(local);
		free(domain);
		return;
	}
	free(local);
	free(domain);
	rules_resolve(cfg, sender, rcpt, &res, &sub);
	if (!result_deliverable(&res, &err)) {
		a->verdict = RULES_REJECT;
		snprintf(a->reply, sizeof a->reply, "550 5.1.1 <%s>: "
		    "Recipient address rejected: %s", rcpt, err);
		for (i = 0; i < res.n; i++) {
			if (res.v[i].alias_rule != NULL ||
			    res.v[i].rule != NULL) {
				snprintf(a->rule, sizeof a->rule, "%s",
				    res.v[i].alias_rule != NULL ?
				    res.v[i].alias_rule : res.v[i].rule);
				break;
			}
		}
		/* Show why: the expansion that found nobody. */
		for (i = 0; t != NULL && i < sub.n; i++)
			step(t, sub.v[i].depth + 1, sub.v[i].rule, "%s",
			    sub.v[i].text);
		step(t, 0, a->rule, "local recipient <%s>: %s", rcpt, err);
	} else
		step(t, 0, RULES_BUILTIN, "local recipient <%s> exists", rcpt);
	rules_result_free(&res);
	rules_trace_free(&sub);
}

/* ---- routes ---- */

struct resolver {
	const struct config	*cfg;
	const char		*sender;	/* after generics */
	struct rules_result	*res;
	struct rules_trace	*t;
};

static struct rules_dest *
dest_new(struct resolver *x, enum rules_dest_kind kind, const char *addr,
    const char *orig, const char *rule, const char *alias_rule)
{
	struct rules_dest	*d;

	x->res->v = xreallocarray(x->res->v, x->res->n + 1,
	    sizeof *x->res->v);
	d = &x->res->v[x->res->n++];
	memset(d, 0, sizeof *d);
	d->kind = kind;
	d->addr = xstrdup(addr);
	d->orig = orig != NULL ? xstrdup(orig) : NULL;
	d->rule = rule != NULL ? xstrdup(rule) : NULL;
	d->alias_rule = alias_rule != NULL ? xstrdup(alias_rule) : NULL;
	return (d);
}

void
rules_remote_with_credentials(const struct config *cfg,
    const struct remote *r, struct remote *out, char **rule)
{
	const struct sasl_passwd_entry	*e;
	char				*spell;

	remote_copy(out, r);
	if (rule != NULL)
		*rule = NULL;
	if (out->user != NULL || cfg->sasl_passwd == NULL)
		return;
	xasprintf(&spell, "[%s]:%d", r->host, r->port);
	e = sasl_passwd_lookup(cfg->sasl_passwd, spell, 25, NULL);
	free(spell);
	if (e == NULL)
		return;
	out->user = xstrdup(e->user);
	out->pass = xstrdup(e->password);
	if (rule != NULL)
		*rule = rules_where(e->file, e->line);
}

/* An SMTP destination on the default route or to one next hop. */
static void
dest_smtp(struct resolver *x, int depth, const char *addr, const char *orig,
    const char *alias_rule, const struct maps_nexthop *nh, const char *rule,
    const char *rule_file, int rule_line)
{
	const struct config	*cfg = x->cfg;
	struct rules_dest	*d;
	struct remote		*rm;
	char			*cred = NULL, *spell;
	size_t			 i;
	int			 port;

	d = dest_new(x, RULES_DEST_SMTP, addr, orig, rule, alias_rule);
	if (nh == NULL || nh->host == NULL) {
		d->route.default_route = 1;
		d->route.key = xstrdup("remotes");
		if (cfg->nremotes > 0)
			rules_remote_with_credentials(cfg, &cfg->remotes[0],
			    &d->route.remote, NULL);
		if (cfg->nremotes == 0)
			step(x->t, depth, rule, "route <%s>: remotes, but the "
			    "remotes file lists none (mail waits)", addr);
		else
			step(x->t, depth, rule, "route <%s>: remotes in order "
			    "(%zu line%s), first %s:%d", addr, cfg->nremotes,
			    cfg->nremotes == 1 ? "" : "s", cfg->remotes[0].host,
			    cfg->remotes[0].port);
		/* Each line's credentials, as its delivery pool uses them. */
		for (i = 0; i < cfg->nremotes; i++) {
			struct remote	 with;

			rules_remote_with_credentials(cfg, &cfg->remotes[i],
			    &with, &cred);
			if (cred != NULL)
				step(x->t, depth + 1, cred, "credentials for "
				    "%s:%d: user %s", with.host, with.port,
				    with.user);
			else if (with.user != NULL)
				step(x->t, depth + 1, NULL, "credentials for "
				    "%s:%d: user %s (remotes line %d)",
				    with.host, with.port, with.user,
				    cfg->remotes[i].line);
			free(cred);
			cred = NULL;
			remote_free(&with);
		}
		return;
	}
	port = nh->port > 0 ? nh->port : 25;
	rm = &d->route.remote;
	for (i = 0; i < cfg->nremotes; i++) {
		if (ascii_strcasecmp(cfg->remotes[i].host, nh->host) == 0 &&
		    cfg->remotes[i].port == port)
			break;
	}
	if (i < cfg->nremotes) {
		rules_remote_with_credentials(cfg, &cfg->remotes[i], rm, &cred);
		d->route.mx = 0;
		step(x->t, depth, rule, "route <%s>: next hop %s:%d, with the "
		    "options of remotes line %d", addr, nh->host, port,
		    cfg->remotes[i].line);
	} else {
		memset(rm, 0, sizeof *rm);
		rm->file = rule_file != NULL ? xstrdup(rule_file) : NULL;
		rm->line = rule_line;
		rm->host = xstrdup(nh->host);
		rm->port = port;
		rm->port_explicit = nh->port > 0;
		/* Hops outside remotes follow smtp_tls (DESIGN §12). */
		rm->tls = cfg->smtp_tls == SMTP_TLS_VERIFY ?
		    REMOTE_TLS_STARTTLS : cfg->smtp_tls == SMTP_TLS_MAY ?
		    REMOTE_TLS_MAY : REMOTE_TLS_NONE;
		d->route.mx = nh->mx;
		if (cfg->sasl_passwd != NULL) {
			const struct sasl_passwd_entry	*e;

			xasprintf(&spell, "%s%s%s%s%.0d", nh->bracketed ?
			    "[" : "", nh->host, nh->bracketed ? "]" : "",
			    nh->port > 0 ? ":" : "", nh->port);
			e = sasl_passwd_lookup(cfg->sasl_passwd, spell, 25,
			    NULL);
			free(spell);
			if (e != NULL) {
				rm->user = xstrdup(e->user);
				rm->pass = xstrdup(e->password);
				cred = rules_where(e->file, e->line);
			}
		}
		step(x->t, depth, rule, "route <%s>: next hop %s%s%s:%d%s, "
		    "TLS %s", addr, nh->bracketed ? "[" : "", nh->host,
		    nh->bracketed ? "]" : "", port, d->route.mx ?
		    " (MX lookup)" : "", rm->tls == REMOTE_TLS_STARTTLS ?
		    "required (smtp_tls = verify)" : rm->user != NULL ?
		    "required (credentials)" : rm->tls == REMOTE_TLS_MAY ?
		    "when offered, unverified (smtp_tls = may)" :
		    "not used (smtp_tls = none)");
	}
	if (cred != NULL) {
		step(x->t, depth + 1, cred, "credentials for %s: user %s",
		    rm->host, rm->user);
		free(cred);
	} else if (rm->user != NULL)
		step(x->t, depth + 1, rule, "credentials for %s: user %s "
		    "(from the remotes line)", rm->host, rm->user);
	xasprintf(&d->route.key, "%s:%d%s:%s:%d", rm->host, rm->port,
	    d->route.mx ? ":mx" : "", rm->file != NULL ? rm->file : "",
	    rm->line);
}

static int
name_is_safe(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > ADDRESS_MAX_LOCAL || s[0] == '.')
		return (0);
	return (strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+") == n);
}

static void resolve_addr(struct resolver *, int depth, const char *addr,
    const char *orig, const char *alias_rule, int admin);

/* A local name that no alias expands (or an alias that lists itself). */
static void
resolve_mailbox(struct resolver *x, int depth, const char *name,
    const char *addr, const char *orig, const char *alias_rule, int admin,
    int aliased)
{
	const struct config	*cfg = x->cfg;
	struct rules_dest	*d;
	char			*list, *p, *tok, *lower, *path;
	struct stat		 st;
	int			 exists;

	if (!admin && cfg->adminaddr != NULL && cfg->adminaddr[0] != '\0') {
		step(x->t, depth, RULES_BUILTIN, "local user %s: to adminaddr "
		    "%s", name, cfg->adminaddr);
		list = xstrdup(cfg->adminaddr);
		for (p = list; (tok = strsep(&p, ",")) != NULL;) {
			tok = (char *)skip_ws(tok);
			rtrim(tok);
			if (*tok != '\0')
				resolve_addr(x, depth + 1, tok,
				    orig != NULL ? orig : addr, alias_rule, 1);
		}
		free(list);
		return;
	}
	lower = xstrdup(name);
	ascii_lower(lower);
	if (cfg->mailbox_root != NULL && name_is_safe(lower)) {
		xasprintf(&path, "%s/%s", cfg->mailbox_root, lower);
		exists = aliased || getpwnam(lower) != NULL ||
		    (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
		if (exists) {
			d = dest_new(x, RULES_DEST_MAILDIR, addr, orig,
			    RULES_BUILTIN, alias_rule);
			d->target = path;
			d->user = lower;
			step(x->t, depth, RULES_BUILTIN, "local user %s: "
			    "Maildir %s", lower, path);
			return;
		}
		free(path);
	}
	d = dest_new(x, RULES_DEST_ERROR, addr, orig, RULES_BUILTIN,
	    alias_rule);
	d->text = xstrdup("User unknown in local recipient table");
	d->user = lower;
	step(x->t, depth, RULES_BUILTIN, "local user %s: unknown (no alias, "
	    "%s)", name, cfg->mailbox_root == NULL ?
	    "no adminaddr, no mailbox_root" : "no such user or mailbox");
}

static void
trace_tree(struct resolver *x, const struct alias_node *n, int depth)
{
	char	*where = NULL;
	size_t	 i;

	if (x->t == NULL)
		return;
	if (n->alias_line > 0)
		where = rules_where(n->alias_file, n->alias_line);
	else if (n->file != NULL)
		where = rules_where(n->file, n->line);
	step(x->t, depth, where, "%s%s%s%s%s%s%s%s",
	    n->kind == ALIAS_DEVNULL ? "" : alias_kind_str(n->kind),
	    n->kind == ALIAS_DEVNULL ? "" : n->kind == ALIAS_PIPE ? " |" : " ",
	    n->target, n->nchildren > 0 ? ":" : "", n->loop ? " (loop)" : "",
	    n->self ? " (its own mailbox)" : "",
	    n->refused != NULL ? " refused: " : "",
	    n->refused != NULL ? n->refused : "");
	free(where);
	for (i = 0; i < n->nchildren; i++)
		trace_tree(x, n->children[i], depth + 1);
}

/*
 * The delivered leaves of an alias tree, each with the name whose entry
 * lists it (so the log says to=<boxer@...>, orig_to=<team@...>).
 */
static void
resolve_leaves(struct resolver *x, int depth, const struct alias_node *n,
    const char *owner, const char *orig, int admin)
{
	const struct config	*cfg = x->cfg;
	struct rules_dest	*d;
	char			*arule, *addr;
	size_t			 i;

	if (n->loop || n->refused != NULL)
		return;
	if (n->nchildren > 0) {
		for (i = 0; i < n->nchildren; i++)
			resolve_leaves(x, depth, n->children[i],
			    n->kind == ALIAS_LOCAL ? n->target : owner, orig,
			    admin);
		return;
	}
	arule = rules_where(n->file, n->line);
	xasprintf(&addr, "%s@%s", n->kind == ALIAS_LOCAL ? n->target : owner,
	    cfg->me);
	switch (n->kind) {
	case ALIAS_ADDRESS:
		resolve_addr(x, depth, n->target, orig, arule, admin);
		break;
	case ALIAS_LOCAL:
		/* A name is known when it has an alias entry ("root: root"). */
		resolve_mailbox(x, depth, n->target, addr, orig, arule, admin,
		    aliases_lookup(cfg->aliases, n->target) != NULL);
		break;
	case ALIAS_FILE:
		d = dest_new(x, RULES_DEST_MBOX, addr, orig, arule, arule);
		d->target = xstrdup(n->target);
		d->user = xstrdup(owner);
		step(x->t, depth, arule, "deliver: append to mbox %s",
		    n->target);
		break;
	case ALIAS_PIPE:
		d = dest_new(x, RULES_DEST_PIPE, addr, orig, arule, arule);
		d->target = xstrdup(n->target);
		d->user = xstrdup(owner);
		/* Only the daemon knows whether it could switch users. */
		if (privsep_pipe_runner() != NULL)
			step(x->t, depth, arule, "deliver: pipe to \"|%s\" as "
			    "%s", n->target, privsep_pipe_runner());
		else
			step(x->t, depth, arule, "deliver: pipe to \"|%s\" as "
			    "%s (or hikyakud's own user when unprivileged)",
			    n->target,
			    cfg->pipe_user != NULL ? cfg->pipe_user : "nobody");
		break;
	case ALIAS_DEVNULL:
		dest_new(x, RULES_DEST_DEVNULL, addr, orig, arule, arule);
		step(x->t, depth, arule, "deliver: /dev/null (discarded)");
		break;
	case ALIAS_INCLUDE:
		break;
	}
	free(addr);
	free(arule);
}

static void
resolve_local(struct resolver *x, int depth, const char *name,
    const char *addr, const char *orig, int admin)
{
	const struct config		*cfg = x->cfg;
	struct alias_node		*tree;
	const struct alias_node		**leaves;
	struct rules_dest		*d;
	size_t				 n;
	char				*arule;

	if (cfg->aliases == NULL || aliases_lookup(cfg->aliases, name) ==
	    NULL) {
		step(x->t, depth, NULL, "aliases: no entry for %s", name);
		resolve_mailbox(x, depth, name, addr, orig, NULL, admin, 0);
		return;
	}
	tree = aliases_expand(cfg->aliases, name, alias_is_local,
	    include_trusted, (void *)cfg);
	step(x->t, depth, NULL, "alias expansion:");
	trace_tree(x, tree, depth + 1);
	leaves = alias_node_leaves(tree, &n);
	free(leaves);
	if (n == 0) {
		arule = rules_where(tree->alias_file, tree->alias_line);
		d = dest_new(x, RULES_DEST_ERROR, addr, orig, arule, arule);
		d->text = xstrdup("alias expands to nothing deliverable");
		step(x->t, depth, arule, "%s: nothing deliverable", name);
		free(arule);
	} else
		resolve_leaves(x, depth + 1, tree, name,
		    orig != NULL ? orig : addr, admin);
	alias_node_free(tree);
}

static void
resolve_addr(struct resolver *x, int depth, const char *addr,
    const char *orig, const char *alias_rule, int admin)
{
	const struct config		*cfg = x->cfg;
	const struct transport_entry	*te = NULL;
	const struct addr_map_entry	*sr = NULL;
	struct rules_dest		*d;
	char				*local, *domain, *full, *rule;
	char				*slocal = NULL, *sdomain = NULL;
	int				 is_local;

	if (depth > RULES_MAX_DEPTH) {
		d = dest_new(x, RULES_DEST_ERROR, addr, orig, RULES_BUILTIN,
		    alias_rule);
		d->text = xstrdup("aliases nested too deeply");
		return;
	}
	split_addr(addr, &local, &domain);
	if (domain == NULL)
		domain = xstrdup(cfg->me);
	xasprintf(&full, "%s@%s", local, domain);
	is_local = domain_is_local(cfg, domain);
	step(x->t, depth, is_local ? RULES_BUILTIN : NULL, "<%s>: %s domain%s",
	    full, is_local ? "local" : "remote", is_local && domain[0] != '[' &&
	    !address_domain_eq(domain, cfg->me) ? " (local-host-names)" : "");
	if (cfg->transport != NULL)
		te = transport_lookup(cfg->transport, local, domain, is_local);
	if (te != NULL) {
		rule = rules_where(te->file, te->line);
		step(x->t, depth, rule, "transport \"%s\" matches: %s", te->key,
		    te->value);
		switch (te->kind) {
		case TRANSPORT_ERROR:
		case TRANSPORT_RETRY:
			d = dest_new(x, te->kind == TRANSPORT_ERROR ?
			    RULES_DEST_ERROR : RULES_DEST_RETRY, full, orig,
			    rule, alias_rule);
			d->text = xstrdup(te->text != NULL ? te->text :
			    te->kind == TRANSPORT_ERROR ?
			    "mail for this destination is refused" :
			    "delivery deferred by the transport table");
			break;
		case TRANSPORT_SMTP:
			dest_smtp(x, depth, full, orig, alias_rule, &te->nexthop,
			    rule, te->file, te->line);
			break;
		case TRANSPORT_LOCAL:
			resolve_local(x, depth, local, full, orig, admin);
			break;
		case TRANSPORT_NOCHANGE:
			/* ":[host]" changes only the hop of remote mail. */
			if (te->nexthop.host != NULL && !is_local)
				dest_smtp(x, depth, full, orig, alias_rule,
				    &te->nexthop, rule, te->file, te->line);
			else
				te = NULL;
			break;
		}
		free(rule);
		if (te != NULL)
			goto out;
	}
	if (is_local) {
		resolve_local(x, depth, local, full, orig, admin);
		goto out;
	}
	if (cfg->sender_relay != NULL) {
		if (x->sender[0] == '\0')
			sr = addr_map_lookup(cfg->sender_relay, "", NULL);
		else {
			split_addr(x->sender, &slocal, &sdomain);
			sr = addr_map_lookup(cfg->sender_relay, slocal,
			    sdomain);
		}
	}
	if (sr != NULL) {
		rule = rules_where(sr->file, sr->line);
		step(x->t, depth, rule, "sender_relay \"%s\" matches sender "
		    "<%s>: %s", sr->key, x->sender, sr->value);
		dest_smtp(x, depth, full, orig, alias_rule, &sr->nexthop, rule,
		    sr->file, sr->line);
		free(rule);
	} else
		dest_smtp(x, depth, full, orig, alias_rule, NULL, "remotes",
		    NULL, 0);
out:
	free(slocal);
	free(sdomain);
	free(local);
	free(domain);
	free(full);
}

static int
dest_same(const struct rules_dest *a, const struct rules_dest *b)
{
	if (a->kind != b->kind || ascii_strcasecmp(a->addr, b->addr) != 0)
		return (0);
	if ((a->target == NULL) != (b->target == NULL))
		return (0);
	return (a->target == NULL || strcmp(a->target, b->target) == 0);
}

static void
dest_free(struct rules_dest *d)
{
	free(d->addr);
	free(d->orig);
	free(d->target);
	free(d->user);
	free(d->text);
	free(d->rule);
	free(d->alias_rule);
	remote_free(&d->route.remote);
	free(d->route.key);
}

/* Several names may end at one destination: deliver it once. */
static void
dedupe(struct rules_result *res)
{
	size_t	 i, j, n = 0;

	for (i = 0; i < res->n; i++) {
		for (j = 0; j < n; j++)
			if (dest_same(&res->v[j], &res->v[i]))
				break;
		if (j < n)
			dest_free(&res->v[i]);
		else
			res->v[n++] = res->v[i];
	}
	res->n = n;
}

void
rules_resolve(const struct config *cfg, const char *sender, const char *rcpt,
    struct rules_result *res, struct rules_trace *t)
{
	struct resolver			 x;
	const struct addr_map_entry	*g = NULL;
	char				*local, *domain;

	memset(res, 0, sizeof *res);
	if (sender[0] != '\0' && cfg->generics != NULL) {
		split_addr(sender, &local, &domain);
		res->sender = generics_rewrite(cfg->generics, local,
		    domain != NULL ? domain : cfg->me,
		    domain_is_local(cfg, domain), &g);
		free(local);
		free(domain);
	}
	if (g != NULL && res->sender != NULL) {
		res->sender_rule = rules_where(g->file, g->line);
		step(t, 0, res->sender_rule, "generics: sender <%s> is sent "
		    "as <%s>", sender, res->sender);
	} else {
		free(res->sender);
		res->sender = xstrdup(sender);
		if (cfg->generics != NULL)
			step(t, 0, NULL, "generics: sender <%s> unchanged",
			    sender);
	}
	x.cfg = cfg;
	/* Routes choose by the envelope sender as received. */
	x.sender = sender;
	x.res = res;
	x.t = t;
	split_addr(rcpt, &local, &domain);
	res->local = domain_is_local(cfg, domain);
	free(local);
	free(domain);
	resolve_addr(&x, 0, rcpt, NULL, NULL, 0);
	dedupe(res);
}

void
rules_result_free(struct rules_result *res)
{
	size_t	 i;

	for (i = 0; i < res->n; i++)
		dest_free(&res->v[i]);
	free(res->v);
	free(res->sender);
	free(res->sender_rule);
	memset(res, 0, sizeof *res);
}

const char *
rules_dest_kind_str(enum rules_dest_kind k)
{
	switch (k) {
	case RULES_DEST_SMTP:
		return ("smtp");
	case RULES_DEST_MBOX:
		return ("mbox");
	case RULES_DEST_PIPE:
		return ("pipe");
	case RULES_DEST_MAILDIR:
		return ("maildir");
	case RULES_DEST_DEVNULL:
		return ("devnull");
	case RULES_DEST_ERROR:
		return ("error");
	case RULES_DEST_RETRY:
		break;
	}
	return ("retry");
}

char *
rules_dest_summary(const struct rules_dest *d)
{
	char	*s;

	switch (d->kind) {
	case RULES_DEST_SMTP:
		if (d->route.default_route && d->route.remote.host == NULL)
			xasprintf(&s, "mailer smtp, host (no remotes), user %s",
			    d->addr);
		else
			xasprintf(&s, "mailer smtp, host %s%s%s:%d%s, user %s",
			    d->route.mx ? "" : "[", d->route.remote.host,
			    d->route.mx ? "" : "]", d->route.remote.port,
			    d->route.default_route ? " (remotes, in order)" :
			    "", d->addr);
		break;
	case RULES_DEST_MBOX:
		xasprintf(&s, "mailer *file*, user %s", d->target);
		break;
	case RULES_DEST_PIPE:
		xasprintf(&s, "mailer prog, user \"|%s\"", d->target);
		break;
	case RULES_DEST_MAILDIR:
		xasprintf(&s, "mailer local, user %s", d->user);
		break;
	case RULES_DEST_DEVNULL:
		xasprintf(&s, "mailer *file*, user /dev/null");
		break;
	case RULES_DEST_ERROR:
		xasprintf(&s, "mailer error, host 5.1.1, user %s", d->text);
		break;
	default:
		xasprintf(&s, "mailer error, host 4.0.0, user %s", d->text);
		break;
	}
	return (s);
}
