/*
 * maps: the Postfix-style key -> value tables (transport, sasl_passwd,
 * sender_relay, generics) and the line reader every rule file shares.
 *
 * Promises: each file parses in the format sysadmins already have (Postfix
 * transport(5), smtp_sasl_password_maps, sender_dependent_relayhost_maps,
 * smtp_generic_maps / sendmail genericstable) and means what it means
 * there; '#' starts a comment at line start or after white space (DESIGN
 * §12); a line starting with white space continues the previous entry;
 * every problem is a diagnostic with file:line:col; a table is returned
 * only when its file had no error (warnings allowed), so a bad reload
 * never replaces a good table. Every lookup returns the entry itself,
 * which names its file and line for the tracer. Keys compare ASCII
 * case-insensitively with domains as A-labels. Pure: reads files, nothing
 * else.
 */
#ifndef HIKYAKU_MAPS_H
#define HIKYAKU_MAPS_H

#include <stddef.h>

struct diags;

/* ---- logical lines, shared by every config file reader ---- */

/* Where a piece of a logical line came from (continuations join lines). */
struct maps_segment {
	size_t	 off;		/* offset in the logical text */
	int	 line;		/* physical line it starts */
	int	 col;		/* column of text[off] in that line */
};

struct maps_line {
	char			*text;	/* comment cut, trailing space cut */
	int			 line;	/* physical line the entry starts on */
	struct maps_segment	*segs;
	size_t			 nsegs;
};

struct maps_lines {
	struct maps_line	*v;
	size_t			 n;
};

enum maps_flags {
	MAPS_CONTINUE = 1,	/* leading white space continues an entry */
	MAPS_QUOTES = 2		/* '#' inside "..." is not a comment */
};

/*
 * Length of a physical line of len bytes once its comment is cut and
 * trailing blanks dropped: '#' starts a comment at line start or after
 * white space (DESIGN §12), and with quotes not inside "...". Every
 * config file reader uses this one rule.
 */
size_t	 maps_content_len(const char *s, size_t len, int quotes);

/*
 * Split text into logical lines: blank and comment lines are skipped,
 * CR before LF ignored. A continuation with nothing to continue is a
 * warning (Postfix ignores it too). Never fails.
 */
void	 maps_split(const char *file, const char *text, int flags,
	    struct maps_lines *out, struct diags *d);
void	 maps_lines_free(struct maps_lines *);
/* Physical line and 1-based column of p, a pointer into ml->text. */
void	 maps_line_pos(const struct maps_line *ml, const char *p, int *line,
	    int *col);
/*
 * Read path into *text (caller frees). On failure add an error
 * "path: strerror" to d and return -1.
 */
int	 maps_read(const char *path, char **text, struct diags *d);

/* ---- next hops: "[host]:port", "host:port", "host", "[ipv6:addr]" ---- */

struct maps_nexthop {
	char	*host;		/* lower case, no brackets, no trailing dot;
				   NULL: the default route */
	int	 port;		/* 0: the transport's default */
	int	 mx;		/* look up MX: an unbracketed name that is
				   not an IP literal */
	int	 bracketed;	/* written as [host] */
};

/*
 * Parse a Postfix next hop. Ports are numbers or smtp/submission/smtps.
 * Returns 0, or -1 with *err a static message and *errcol (0-based, in s)
 * the place it refers to.
 */
int	 maps_nexthop_parse(const char *s, struct maps_nexthop *out,
	    const char **err, size_t *errcol);
void	 maps_nexthop_free(struct maps_nexthop *);

/* ---- transport ---- */

enum transport_key_kind {
	TRANSPORT_KEY_ADDRESS,	/* user@domain */
	TRANSPORT_KEY_DOMAIN,	/* domain: that domain only */
	TRANSPORT_KEY_PARENT,	/* .domain: its subdomains */
	TRANSPORT_KEY_ANY	/* * */
};

enum transport_kind {
	TRANSPORT_NOCHANGE,	/* ":" or ":nexthop": the default transport
				   (local for local domains, else smtp),
				   with nexthop when one is given */
	TRANSPORT_SMTP,		/* smtp: and relay: */
	TRANSPORT_LOCAL,
	TRANSPORT_ERROR,	/* error:text: bounce with text */
	TRANSPORT_RETRY		/* retry:text: defer with text */
};

struct transport_entry {
	const char		*file;
	int			 line;
	char			*key;		/* as written */
	enum transport_key_kind	 key_kind;
	char			*local;		/* ADDRESS keys */
	char			*domain;	/* canonical; NULL for * */
	char			*value;		/* as written */
	enum transport_kind	 kind;
	struct maps_nexthop	 nexthop;	/* host NULL: default route */
	char			*text;		/* ERROR/RETRY; NULL: none */
};

struct transport {
	char			*file;
	struct transport_entry	*v;
	size_t			 n;
};

int	 transport_parse(const char *file, const char *text,
	    struct transport **out, struct diags *d);
int	 transport_load(const char *path, struct transport **out,
	    struct diags *d);
void	 transport_free(struct transport *);
/*
 * Postfix order: user@domain, domain, .parent entries from the closest,
 * then *. For a local domain only user@domain and domain entries count
 * (DESIGN §2: local domains stay local unless an exact, non-wildcard
 * entry names them). local may be NULL (domain-only lookup). NULL: no
 * entry applies.
 */
const struct transport_entry *transport_lookup(const struct transport *,
	    const char *local, const char *domain, int domain_is_local);

/* ---- sasl_passwd ---- */

struct sasl_passwd_entry {
	const char		*file;
	int			 line;
	char			*key;		/* as written */
	struct maps_nexthop	 host;		/* port 0: any port */
	char			*user;
	char			*password;
};

struct sasl_passwd {
	char			*file;
	struct sasl_passwd_entry *v;
	size_t			 n;
};

int	 sasl_passwd_parse(const char *file, const char *text,
	    struct sasl_passwd **out, struct diags *d);
int	 sasl_passwd_load(const char *path, struct sasl_passwd **out,
	    struct diags *d);
void	 sasl_passwd_free(struct sasl_passwd *);
/*
 * Credentials for a remote spelled as in remotes/transport/sender_relay
 * ("[host]:587", "host", "host:2525"); default_port is what a spelling
 * without a port means (25 for smtp). Host names compare normalised
 * (case, brackets, trailing dot); an entry with that port beats one
 * without a port, which matches any port; then the first line wins.
 * *postfix_miss (may be NULL) is set when Postfix, which looks up the
 * spelling verbatim and then the bare host name, would not have found the
 * entry: the caller warns about it.
 */
const struct sasl_passwd_entry *sasl_passwd_lookup(const struct sasl_passwd *,
	    const char *nexthop, int default_port, int *postfix_miss);

/* ---- sender_relay and generics: user@domain or @domain keys ---- */

struct addr_map_entry {
	const char	*file;
	int		 line;
	char		*key;		/* as written */
	char		*local;		/* NULL for @domain; "" for <> */
	char		*domain;	/* canonical; NULL for <> and for a
					   generics bare "user" key */
	char		*value;		/* as written */
	struct maps_nexthop nexthop;	/* sender_relay */
	char		*to_local;	/* generics: NULL for @domain values */
	char		*to_domain;	/* generics */
};

struct addr_map {
	char			*file;
	struct addr_map_entry	*v;
	size_t			 n;
};

/* sender_relay: the value is a next hop; "<>" keys the null sender. */
int	 sender_relay_parse(const char *file, const char *text,
	    struct addr_map **out, struct diags *d);
int	 sender_relay_load(const char *path, struct addr_map **out,
	    struct diags *d);
/*
 * generics: the key is user@domain, @domain, or a bare user (sendmail's
 * genericstable: that user in any local domain); the value is
 * user@domain or @domain.
 */
int	 generics_parse(const char *file, const char *text,
	    struct addr_map **out, struct diags *d);
int	 generics_load(const char *path, struct addr_map **out,
	    struct diags *d);
void	 addr_map_free(struct addr_map *);
/*
 * The full address first, then @domain (exact domain, as Postfix and
 * sendmail do for these maps). local "" with domain NULL is the null
 * sender. NULL: no entry.
 */
const struct addr_map_entry *addr_map_lookup(const struct addr_map *,
	    const char *local, const char *domain);
/*
 * Generics rewrite of local@domain, trying user@domain, then a bare user
 * key when domain_is_local (me or local-host-names), then @domain: the
 * new address (allocated) when an entry matches, the user part kept for
 * @domain values; NULL otherwise. *rule (may be NULL) names the entry.
 */
char	*generics_rewrite(const struct addr_map *, const char *local,
	    const char *domain, int domain_is_local,
	    const struct addr_map_entry **rule);

#endif
