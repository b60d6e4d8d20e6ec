/*
 * access: sendmail's access db source ("[Connect:|From:|To:]KEY ACTION")
 * and the relay decision built on it (DESIGN §2, §12 "Access semantics").
 *
 * Promises: every line sendmail's makemap accepts for these tags parses
 * and means what it means in sendmail; tags and actions we do not
 * implement (GreetPause:, Spam:, SKIP, QUARANTINE, ...) are warnings that
 * never fail a load; the most specific key wins exactly as DESIGN §12
 * orders them, and every answer carries the rule (file, line, key) that
 * gave it. OK never means relay. Pure: no I/O beyond reading the file.
 */
#ifndef HIKYAKU_ACCESS_H
#define HIKYAKU_ACCESS_H

#include <stddef.h>

struct diags;

enum access_action {
	ACCESS_NONE,		/* no line matched */
	ACCESS_OK,
	ACCESS_RELAY,
	ACCESS_REJECT,
	ACCESS_DISCARD,
	ACCESS_ERROR		/* ERROR:... with its own reply */
};

enum access_tag {
	ACCESS_TAG_ANY,		/* untagged: applies to every stage */
	ACCESS_TAG_CONNECT,
	ACCESS_TAG_FROM,
	ACCESS_TAG_TO
};

enum access_key_kind {
	ACCESS_KEY_IP,		/* IPv4 octets, CIDR, IPv6, IPv6 prefix */
	ACCESS_KEY_DOMAIN,	/* host or domain, subdomains match */
	ACCESS_KEY_ADDRESS,	/* user@domain; <> (user "", domain NULL) */
	ACCESS_KEY_USER		/* user@ */
};

struct access_rule {
	const char		*file;
	int			 line;
	char			*key;		/* as written, tag included */
	enum access_tag		 tag;
	enum access_key_kind	 kind;
	int			 family;	/* AF_INET or AF_INET6 (IP) */
	unsigned char		 ip[16];	/* network, host bits zero */
	int			 prefix;	/* bits */
	char			*user;		/* ADDRESS and USER keys */
	char			*domain;	/* DOMAIN and ADDRESS keys */
	enum access_action	 action;
	/*
	 * REJECT and ERROR: the reply to send, "550 5.7.1 Access denied"
	 * for REJECT (sendmail's text), the line's own for ERROR. NULL
	 * otherwise.
	 */
	char			*reply;
};

struct access {
	char			*file;
	struct access_rule	*v;
	size_t			 n;
};

struct access_result {
	enum access_action	 action;	/* ACCESS_NONE: no match */
	const char		*reply;		/* as in access_rule */
	const struct access_rule *rule;		/* NULL: no match */
};

/*
 * Parse the text of an access file (file names it in diagnostics and
 * rules). Returns 0 and *out when there was no error, -1 and *out NULL
 * otherwise.
 */
int	 access_parse(const char *file, const char *text, struct access **out,
	    struct diags *d);
int	 access_load(const char *path, struct access **out, struct diags *d);
void	 access_free(struct access *);

/*
 * A numeric address into ip (16 bytes): AF_INET with its 4 bytes first,
 * ::ffff:a.b.c.d included, or AF_INET6; -1 when s is not an address.
 * The form access lines and clients are compared in.
 */
int	 access_parse_ip(const char *s, unsigned char *ip);

/*
 * The stages. ip is numeric ("192.0.2.1", "2001:db8::1",
 * "::ffff:192.0.2.1" judged as IPv4); hostname is the verified client
 * name or NULL (peer_lookup off). As sendmail, a matching host name is
 * tried before the address. addr is "user@domain" (canonical, as
 * address.h gives it), a bare "user", or "" for the null sender.
 */
struct access_result access_check_connect(const struct access *,
	    const char *ip, const char *hostname);
struct access_result access_check_from(const struct access *,
	    const char *addr);
struct access_result access_check_to(const struct access *,
	    const char *addr);

enum access_relay {
	ACCESS_RELAY_DENIED,
	ACCESS_RELAY_AUTH,		/* the client authenticated */
	ACCESS_RELAY_CLIENT,		/* client's best match is RELAY */
	ACCESS_RELAY_LOOPBACK,		/* loopback, no line matches it */
	ACCESS_RELAY_RCPT		/* recipient's best match is RELAY */
};

/*
 * May this client relay to rcpt_addr? (DESIGN §12.) *why (may be NULL)
 * is the rule behind the answer: the RELAY line that allowed it, or, for
 * a denial, the client's own match that took a loopback's right away;
 * NULL when no line was involved. client_host as in
 * access_check_connect.
 */
enum access_relay access_relay_allowed(const struct access *,
	    const char *client_ip, const char *client_host, int is_loopback,
	    int authenticated, const char *rcpt_addr,
	    const struct access_rule **why);
const char *access_relay_str(enum access_relay);
const char *access_action_str(enum access_action);

/*
 * config check: warn about untagged domain keys with RELAY (they let
 * anyone relay TO that domain) and host keys that Connect: judges while
 * peer_lookup is off (they never match a client).
 */
void	 access_check_config(const struct access *, int peer_lookup,
	    struct diags *d);

#endif
