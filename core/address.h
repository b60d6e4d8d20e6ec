/*
 * address: parse, canonicalise and judge mail addresses (DESIGN §12).
 *
 * Owns the one answer to "what address is this and may we route it":
 * domains come out lower-case, without a trailing dot, IDN as A-labels;
 * the local part keeps its case. Relay tricks are refused here so no
 * caller can forget them: % and ! routing, source routes, quoted local
 * parts holding @ % or !, and IP literals that the caller does not
 * declare its own. Pure: no I/O, no global state (IDN goes through
 * GnuTLS's gnutls_idna_map, which wraps libidn2).
 */
#ifndef HIKYAKU_ADDRESS_H
#define HIKYAKU_ADDRESS_H

#include <stddef.h>

/* RFC 5321 §4.5.3.1 limits, in octets. */
#define ADDRESS_MAX_LOCAL	64
#define ADDRESS_MAX_DOMAIN	255
#define ADDRESS_MAX_PATH	256

struct address {
	char	*local;		/* unquoted; "" for the null path <> */
	char	*domain;	/* lower-case A-label, no trailing dot; an IP
				   literal keeps its brackets ("[192.0.2.1]",
				   "[IPv6:2001:db8::1]"); NULL for a bare
				   local part and for <> */
	int	 quoted_local;	/* the local part needs quoting when written */
	int	 utf8;		/* local part is non-ASCII: SMTPUTF8 needed */
	int	 input_utf8;	/* the input held non-ASCII (domain included):
				   a server refuses it without SMTPUTF8 */
};

enum address_error {
	ADDR_OK,
	ADDR_SYNTAX,
	ADDR_ROUTING,		/* % or ! in the local part */
	ADDR_SOURCE_ROUTE,	/* <@a,@b:u@c> */
	ADDR_QUOTED_SPECIAL,	/* quoted local part holding @ % or ! */
	ADDR_IP_LITERAL,	/* an address literal that is not ours */
	ADDR_TOO_LONG,		/* local > 64, domain > 255, path > 256 */
	ADDR_BAD_DOMAIN,
	ADDR_IDN,		/* a U-label that IDNA2008 refuses */
	ADDR_NULL		/* <> where no null path is allowed */
};

/*
 * Decides whether an address literal names this host. lit is the bare
 * address, "192.0.2.1" or "2001:db8::1" (already checked by inet_pton).
 * Returns non-zero for ours. NULL as a predicate means "never ours".
 */
typedef int (*address_literal_fn)(const char *lit, void *arg);

/*
 * Parse one mailbox: "<a@b>", "a@b" (no brackets, as Postfix accepts),
 * "user" (a bare local part: domain NULL, the caller completes or
 * refuses it). Surrounding spaces are tolerated, as are spaces just
 * inside the brackets ("< a@b >", Postfix does the same); nothing else
 * may follow. The null path is refused with ADDR_NULL. IP literals are
 * always refused (ADDR_IP_LITERAL); use address_parse_path for a
 * predicate. Returns 0 and fills *out (caller calls address_free), or
 * -1 with *why set and *out zeroed.
 */
int	 address_parse(const char *in, struct address *out,
	    enum address_error *why);

/*
 * The argument of MAIL FROM: / RCPT TO: after the colon, e.g.
 * "<a@b> SIZE=123 BODY=8BITMIME". allow_null admits "<>" (MAIL only;
 * out->local is "" and out->domain NULL). is_ours/lit_arg judge IP
 * literals (NULL: refuse all). On success *rest_params (if not NULL)
 * points into arg at the ESMTP parameters, leading spaces skipped
 * ("" when none); split them with address_next_param.
 */
int	 address_parse_path(const char *arg, int allow_null,
	    address_literal_fn is_ours, void *lit_arg, struct address *out,
	    const char **rest_params, enum address_error *why);

/*
 * Iterate ESMTP parameters ("SIZE=123 BODY=8BITMIME SMTPUTF8"). Each
 * call fills keyword (upper-cased) and value ("" when there is no '=')
 * as allocated strings the caller frees, and advances *p. Returns 1 for
 * a parameter, 0 at the end, -1 for a malformed one (*p is left there).
 */
int	 address_next_param(const char **p, char **keyword, char **value);

/* True for the null path <>. */
int	 address_is_null(const struct address *);

const char *address_strerror(enum address_error);

/*
 * local@domain (or local alone, or "" for <>), quoting the local part
 * when RFC 5321 requires it. Allocated; caller frees.
 */
char	*address_format(const struct address *);
void	 address_free(struct address *);

/*
 * Compare two domains as DESIGN §12 says: ASCII case-insensitive, a
 * trailing dot ignored. Callers pass A-labels (what address_parse gives).
 */
int	 address_domain_eq(const char *, const char *);

/*
 * Domain to lower-case A-label without trailing dot (used by parsing;
 * exported for config files and the tracer). Returns 0 and an allocated
 * *out, or -1 with *why (ADDR_BAD_DOMAIN, ADDR_IDN, ADDR_TOO_LONG).
 */
int	 address_canon_domain(const char *in, char **out,
	    enum address_error *why);

/*
 * Completion for the injector, with nullmailer's meaning: an address
 * without '@' gets "@me"; a domain without a dot gets ".defaultdomain"
 * when defaultdomain is set (NULL or "" means no completion). The
 * result is canonicalised (address_parse rules). Returns 0 with an
 * allocated *out, or -1 and *why when the address is refused.
 */
int	 address_complete(const char *in, const char *me,
	    const char *defaultdomain, char **out, enum address_error *why);

#endif
