/*
 * dns: asynchronous name lookups with c-ares on the event loop.
 *
 * Owns the c-ares channel (its sockets registered with event.h, its
 * timeouts on an ev_timer) and the resolver choice (`resolver = ADDR:PORT`
 * or /etc/resolv.conf). Promises: nothing blocks the loop; IP literals
 * are never looked up; results are ready-to-connect socket addresses with
 * the port filled in, IPv6 and IPv4 interleaved (happy eyeballs), MX hosts
 * by preference; a client's host name only when its PTR name resolves
 * back to its address (forward-confirmed, Postfix's "verified" name);
 * every callback runs from the loop, never inside the dns_resolve_* call,
 * and never after dns_cancel().
 */
#ifndef HIKYAKU_DNS_H
#define HIKYAKU_DNS_H

#include <stddef.h>
#include <sys/socket.h>

enum dns_status {
	DNS_OK,
	DNS_NOTFOUND,		/* the name has no such records: permanent */
	DNS_TEMPFAIL,		/* server failure, timeout, refused: retry */
};

struct dns_result {
	enum dns_status		 status;
	const char		*error;	/* words when status != DNS_OK */
	struct sockaddr_storage	*addrs;	/* valid during the callback only */
	size_t			 naddrs;
	const char		*name;	/* dns_resolve_peer: the verified
					   name when DNS_OK; valid during the
					   callback only */
};

typedef void (*dns_cb)(const struct dns_result *, void *arg);
struct dns_query;

/*
 * Set up (or, on reload, re-point) the resolver. resolver is "ADDR:PORT",
 * "[IPv6]:PORT", "ADDR" or NULL/"" for the system configuration.
 * 0, or -1 with *err (allocated). Lookups also initialise lazily.
 */
int		 dns_init(const char *resolver, char **err);
/* Cancel everything outstanding (callbacks do not run) and free. */
void		 dns_shutdown(void);

/* A and AAAA of name; an IP literal (also "[::1]") answers at once. */
struct dns_query *dns_resolve_host(const char *name, int port, dns_cb,
		    void *arg);
/*
 * MX of domain sorted by preference, then A/AAAA of each exchanger; no MX
 * means the domain itself (RFC 5321 5.1); a null MX is DNS_NOTFOUND.
 */
struct dns_query *dns_resolve_mx(const char *domain, int port, dns_cb,
		    void *arg);
/*
 * The verified host name of a client at ip (numeric): the first name of
 * its PTR records (asked of DNS alone, so a server failure stays a
 * temporary failure), taken only when the A/AAAA records of that name
 * (hosts file, then DNS) include ip. DNS_NOTFOUND: no PTR,
 * a malformed name, or a name that does not resolve back to ip;
 * DNS_TEMPFAIL: a lookup failed. error says which, naming both.
 */
struct dns_query *dns_resolve_peer(const char *ip, dns_cb, void *arg);
/* The callback will not run; safe from inside other callbacks. */
void		 dns_cancel(struct dns_query *);

/* Parse an IP literal ("1.2.3.4", "::1", "[::1]") into sa with port. */
int		 dns_parse_literal(const char *, int port,
		    struct sockaddr_storage *);

#endif
