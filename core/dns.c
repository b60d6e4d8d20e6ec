/*
 * dns: c-ares driven by the event loop. See dns.h.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); we
 * register them with event.h and hand readiness back through
 * ares_process_fd(). Its retransmission timeouts run on one ev_timer
 * re-armed from ares_timeout() after every call into c-ares. Results are
 * delivered through a zero-delay timer per query so a callback never runs
 * inside dns_resolve_*() (c-ares may answer synchronously, e.g. from
 * /etc/hosts).
 */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>

#include <ares.h>

#include "dns.h"
#include "event.h"
#include "log.h"
#include "util.h"

#define DNS_TIMEOUT_MS	3000
#define DNS_TRIES	2
/* ptr_status of a PTR name that is no host name (beside ARES_* codes). */
#define PTR_MALFORMED	(-1)

struct dns_sock {
	struct dns_sock	*next;
	int		 fd;
	struct ev_fd	*ev;
};

struct dns_query {
	struct dns_query *next, *prev;	/* all live queries */
	dns_cb		 cb;
	void		*arg;
	int		 port;
	int		 cancelled;
	char		*name;
	/* Results in order; for MX, one slot per exchanger. */
	struct dns_hostres {
		char			*host;
		int			 done;
		int			 status;	/* ARES_* */
		struct sockaddr_storage	*addrs;
		size_t			 naddrs;
	} *hosts;
	size_t		 nhosts;
	size_t		 pending;	/* c-ares callbacks still to come */
	int		 mx;
	int		 mx_status;	/* ARES_* of the MX query itself */
	/* dns_resolve_peer: the client's address, the PTR outcome; the
	 * PTR name goes in hosts[0] for its forward lookup. */
	int		 peer;
	int		 ptr_status;	/* ARES_*, or PTR_MALFORMED */
	struct sockaddr_storage peer_addr;
	struct ev_timer	*deliver;
};

/* A c-ares callback's pointer: the query and which host slot. */
struct dns_sub {
	struct dns_query *q;
	size_t		  slot;
};

static ares_channel channel;
static int channel_ok;
static char *channel_resolver;	/* the servers set, NULL: the system's */
static struct dns_sock *socks;
static struct ev_timer *dns_timer;
static struct dns_query *queries;

static void	dns_rearm(void);

static void
dns_fd_cb(int fd, int revents, void *arg)
{
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (revents & (EV_READ | EV_ERROR))
		rfd = fd;
	if (revents & EV_WRITE)
		wfd = fd;
	ares_process_fd(channel, rfd, wfd);
	dns_rearm();
}

static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock **pp, *s;
	int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	for (pp = &socks; (s = *pp) != NULL; pp = &s->next)
		if (s->fd == fd)
			break;
	if (events == 0) {
		if (s != NULL) {
			*pp = s->next;
			ev_fd_del(s->ev);
			free(s);
		}
		return;
	}
	if (s != NULL) {
		ev_fd_set(s->ev, events);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->ev = ev_fd_add(fd, events, dns_fd_cb, NULL);
	s->next = socks;
	socks = s;
}

static void
dns_timeout_cb(void *arg)
{
	ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm();
}

static void
dns_rearm(void)
{
	struct timeval tv, *tvp;

	if (!channel_ok)
		return;
	if ((tvp = ares_timeout(channel, NULL, &tv)) == NULL)
		ev_timer_stop(dns_timer);
	else
		ev_timer_after(dns_timer, (uint64_t)tvp->tv_sec * 1000 +
		    (uint64_t)(tvp->tv_usec + 999) / 1000);
}

int
dns_init(const char *resolver, char **err)
{
	struct ares_options opts;
	int rc;

	if (!channel_ok) {
		if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
			xasprintf(err, "c-ares: %s", ares_strerror(rc));
			return -1;
		}
		memset(&opts, 0, sizeof(opts));
		opts.sock_state_cb = dns_sock_state;
		opts.timeout = DNS_TIMEOUT_MS;
		opts.tries = DNS_TRIES;
		rc = ares_init_options(&channel, &opts, ARES_OPT_SOCK_STATE_CB |
		    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
		if (rc != ARES_SUCCESS) {
			xasprintf(err, "c-ares: %s", ares_strerror(rc));
			ares_library_cleanup();
			return -1;
		}
		channel_ok = 1;
		dns_timer = ev_timer_new(dns_timeout_cb, NULL);
	}
	if (resolver == NULL || *resolver == '\0' ||
	    (channel_resolver != NULL &&
	    strcmp(resolver, channel_resolver) == 0))
		return 0;
	/*
	 * c-ares refuses new servers while queries are outstanding (a reload
	 * while a lookup, perhaps one given up on, still retries): those end
	 * now as temporary failures, to be tried again on the new servers.
	 */
	ares_cancel(channel);
	dns_rearm();
	if ((rc = ares_set_servers_ports_csv(channel, resolver)) !=
	    ARES_SUCCESS) {
		xasprintf(err, "resolver \"%s\": %s (expected ADDR:PORT)",
		    resolver, ares_strerror(rc));
		return -1;
	}
	free(channel_resolver);
	channel_resolver = xstrdup(resolver);
	return 0;
}

static void
query_unlink_free(struct dns_query *q)
{
	size_t i;

	if (q->prev)
		q->prev->next = q->next;
	else
		queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	for (i = 0; i < q->nhosts; i++) {
		free(q->hosts[i].host);
		free(q->hosts[i].addrs);
	}
	free(q->hosts);
	free(q->name);
	ev_timer_free(q->deliver);
	free(q);
}

void
dns_shutdown(void)
{
	struct dns_query *q;

	if (!channel_ok)
		return;
	for (q = queries; q != NULL; q = q->next)
		q->cancelled = 1;
	/* Runs every outstanding callback with ARES_EDESTRUCTION, which
	 * frees the cancelled queries. */
	ares_destroy(channel);
	channel_ok = 0;
	while (queries != NULL)
		query_unlink_free(queries);
	ev_timer_free(dns_timer);
	dns_timer = NULL;
	free(channel_resolver);
	channel_resolver = NULL;
	ares_library_cleanup();
}

int
dns_parse_literal(const char *s, int port, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	size_t len = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']' &&
	    len - 2 < sizeof(buf)) {
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		s = buf;
		/* "[IPv6:...]" is the SMTP address-literal spelling. */
		if (ascii_strncasecmp(s, "IPv6:", 5) == 0)
			s += 5;
	}
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

static void	peer_deliver(struct dns_query *);

static void
query_deliver(void *arg)
{
	struct dns_query *q = arg;
	struct dns_result res;
	struct sockaddr_storage *all = NULL;
	size_t i, n = 0, total = 0;
	int status = ARES_ENOTFOUND;
	char *words = NULL;

	if (q->peer) {
		peer_deliver(q);
		query_unlink_free(q);
		return;
	}
	for (i = 0; i < q->nhosts; i++)
		total += q->hosts[i].naddrs;
	if (total > 0)
		all = xcalloc(total, sizeof(*all));
	for (i = 0; i < q->nhosts; i++) {
		if (q->hosts[i].naddrs > 0)
			memcpy(all + n, q->hosts[i].addrs,
			    q->hosts[i].naddrs * sizeof(*all));
		n += q->hosts[i].naddrs;
		/* The outcome that matters most: any temporary failure makes
		 * the whole answer temporary when nothing resolved. */
		if (q->hosts[i].status != ARES_ENOTFOUND &&
		    q->hosts[i].status != ARES_ENODATA)
			status = q->hosts[i].status;
	}
	if (q->mx && q->mx_status != ARES_SUCCESS)
		status = q->mx_status;
	memset(&res, 0, sizeof(res));
	res.addrs = all;
	res.naddrs = n;
	if (n > 0)
		res.status = DNS_OK;
	else if (q->mx && q->mx_status == ARES_SUCCESS && q->nhosts == 0) {
		res.status = DNS_NOTFOUND;
		xasprintf(&words, "%s accepts no mail (null MX record)",
		    q->name);
	} else if (status == ARES_ENOTFOUND || status == ARES_ENODATA ||
	    status == ARES_SUCCESS) {
		res.status = DNS_NOTFOUND;
		xasprintf(&words, "%s: %s", q->name, q->mx ?
		    "no address for its mail exchangers" :
		    "host not found (no A or AAAA record)");
	} else {
		res.status = DNS_TEMPFAIL;
		xasprintf(&words, "DNS lookup of %s failed: %s", q->name,
		    ares_strerror(status));
	}
	res.error = words;
	q->cb(&res, q->arg);
	free(words);
	free(all);
	query_unlink_free(q);
}

static void
query_settle(struct dns_query *q)
{
	if (q->pending > 0)
		return;
	if (q->cancelled) {
		query_unlink_free(q);
		return;
	}
	ev_timer_after(q->deliver, 0);
}

/* IPv6 and IPv4 alternate, IPv6 first (RFC 8305 section 4). */
static void
store_interleaved(struct dns_hostres *h, const struct ares_addrinfo *ai,
    int port)
{
	const struct ares_addrinfo_node *node;
	size_t n = 0, i6 = 0, i4 = 0, n6 = 0, n4 = 0;
	struct sockaddr_storage *v6, *v4;

	for (node = ai->nodes; node != NULL; node = node->ai_next)
		n++;
	v6 = xcalloc(n + 1, sizeof(*v6));
	v4 = xcalloc(n + 1, sizeof(*v4));
	for (node = ai->nodes; node != NULL; node = node->ai_next) {
		if (node->ai_family == AF_INET6 &&
		    node->ai_addrlen <= sizeof(*v6)) {
			memcpy(&v6[n6], node->ai_addr, node->ai_addrlen);
			((struct sockaddr_in6 *)&v6[n6++])->sin6_port =
			    htons((uint16_t)port);
		} else if (node->ai_family == AF_INET &&
		    node->ai_addrlen <= sizeof(*v4)) {
			memcpy(&v4[n4], node->ai_addr, node->ai_addrlen);
			((struct sockaddr_in *)&v4[n4++])->sin_port =
			    htons((uint16_t)port);
		}
	}
	h->addrs = xcalloc(n6 + n4 + 1, sizeof(*h->addrs));
	while (i6 < n6 || i4 < n4) {
		if (i6 < n6)
			h->addrs[h->naddrs++] = v6[i6++];
		if (i4 < n4)
			h->addrs[h->naddrs++] = v4[i4++];
	}
	free(v6);
	free(v4);
}

static void
addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_sub *sub = arg;
	struct dns_query *q = sub->q;
	struct dns_hostres *h = &q->hosts[sub->slot];

	free(sub);
	h->done = 1;
	h->status = status;
	if (status == ARES_SUCCESS && ai != NULL)
		store_interleaved(h, ai, q->port);
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	q->pending--;
	if (status == ARES_EDESTRUCTION)
		return;	/* dns_shutdown frees what is left */
	query_settle(q);
}

static void
lookup_host(struct dns_query *q, size_t slot)
{
	struct ares_addrinfo_hints hints;
	struct dns_sub *sub = xmalloc(sizeof(*sub));

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Our own interleaving replaces c-ares's RFC 6724 sort, which
	 * connects probe sockets. */
	hints.ai_flags = ARES_AI_NOSORT;
	sub->q = q;
	sub->slot = slot;
	q->pending++;
	ares_getaddrinfo(channel, q->hosts[slot].host, NULL, &hints,
	    addrinfo_cb, sub);
}

static struct dns_query *
query_new(const char *name, int port, dns_cb cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->cb = cb;
	q->arg = arg;
	q->port = port;
	q->name = xstrdup(name);
	q->deliver = ev_timer_new(query_deliver, q);
	q->next = queries;
	if (queries)
		queries->prev = q;
	queries = q;
	return q;
}

static int
ensure_init(struct dns_query *q)
{
	char *err = NULL;

	if (channel_ok)
		return 0;
	if (dns_init(NULL, &err) == 0)
		return 0;
	log_err("dns: %s", err);
	free(err);
	q->hosts = xcalloc(1, sizeof(*q->hosts));
	q->nhosts = 1;
	q->hosts[0].status = ARES_ENOTINITIALIZED;
	q->hosts[0].host = xstrdup(q->name);
	query_settle(q);
	return -1;
}

struct dns_query *
dns_resolve_host(const char *name, int port, dns_cb cb, void *arg)
{
	struct dns_query *q = query_new(name, port, cb, arg);

	if (ensure_init(q) == -1)
		return q;
	q->hosts = xcalloc(1, sizeof(*q->hosts));
	q->nhosts = 1;
	q->hosts[0].host = xstrdup(name);
	if (dns_parse_literal(name, port, &(struct sockaddr_storage){0}) == 0) {
		q->hosts[0].addrs = xcalloc(1, sizeof(*q->hosts[0].addrs));
		dns_parse_literal(name, port, q->hosts[0].addrs);
		q->hosts[0].naddrs = 1;
		q->hosts[0].status = ARES_SUCCESS;
		query_settle(q);
		return q;
	}
	lookup_host(q, 0);
	dns_rearm();
	return q;
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct ares_mx_reply *const *x = a, *const *y = b;

	return (int)(*x)->priority - (int)(*y)->priority;
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct ares_mx_reply *mx = NULL, *m, **sorted;
	size_t n = 0, i;

	q->pending--;
	if (status == ARES_EDESTRUCTION)
		return;
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &mx);
	if (q->cancelled) {
		query_settle(q);
		return;
	}
	if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
		/* RFC 5321 5.1: no MX, the domain is its own exchanger (an
		 * NXDOMAIN then fails the address lookup as well). */
		q->mx = 0;
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		q->nhosts = 1;
		q->hosts[0].host = xstrdup(q->name);
		lookup_host(q, 0);
		return;
	}
	q->mx_status = status;
	if (status != ARES_SUCCESS) {
		query_settle(q);
		return;
	}
	for (m = mx; m != NULL; m = m->next)
		n++;
	sorted = xcalloc(n + 1, sizeof(*sorted));
	for (i = 0, m = mx; m != NULL; m = m->next)
		sorted[i++] = m;
	qsort(sorted, n, sizeof(*sorted), mx_cmp);
	q->hosts = xcalloc(n + 1, sizeof(*q->hosts));
	for (i = 0; i < n; i++) {
		/* RFC 7505 null MX: "." (c-ares gives "") means no mail. */
		if (sorted[i]->host[0] == '\0' ||
		    strcmp(sorted[i]->host, ".") == 0)
			continue;
		q->hosts[q->nhosts++].host = xstrdup(sorted[i]->host);
	}
	free(sorted);
	ares_free_data(mx);
	/* Hold the query open while starting lookups that may answer at
	 * once (from /etc/hosts). */
	q->pending++;
	for (i = 0; i < q->nhosts; i++)
		lookup_host(q, i);
	q->pending--;
	query_settle(q);
}

struct dns_query *
dns_resolve_mx(const char *domain, int port, dns_cb cb, void *arg)
{
	struct dns_query *q = query_new(domain, port, cb, arg);

	if (ensure_init(q) == -1)
		return q;
	if (dns_parse_literal(domain, port, &(struct sockaddr_storage){0}) ==
	    0) {
		/* An address literal never looks up MX. */
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		q->nhosts = 1;
		q->hosts[0].host = xstrdup(domain);
		q->hosts[0].addrs = xcalloc(1, sizeof(*q->hosts[0].addrs));
		dns_parse_literal(domain, port, q->hosts[0].addrs);
		q->hosts[0].naddrs = 1;
		q->hosts[0].status = ARES_SUCCESS;
		query_settle(q);
		return q;
	}
	q->mx = 1;
	q->pending++;
	ares_query(channel, domain, ns_c_in, ns_t_mx, mx_cb, q);
	dns_rearm();
	return q;
}

/* Client names */

/*
 * A PTR name fit for logs, Received: and access keys: letters, digits,
 * '-' and '_' in labels of 1 to 63 octets, 253 at most, and not numeric
 * (a last label of digits would pass for an address).
 */
static int
name_is_hostname(const char *name)
{
	size_t	 len = strlen(name), label = 0, i;
	int	 digits = 1;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (c < '0' || c > '9')
			digits = 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && !digits;
}

static int
same_address(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const struct sockaddr_in *)a;
	const struct sockaddr_in	*b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6	*a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6	*b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a->ss_family == AF_INET6 &&
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof a6->sin6_addr) == 0;
}

/* The verdict on a client's name, in Postfix's words where it has them. */
static void
peer_deliver(struct dns_query *q)
{
	struct dns_result	 res;
	struct dns_hostres	*h = q->nhosts > 0 ? &q->hosts[0] : NULL;
	char			*words = NULL;
	size_t			 i;

	memset(&res, 0, sizeof res);
	res.status = DNS_NOTFOUND;
	if (q->ptr_status == ARES_ENOTFOUND || q->ptr_status == ARES_ENODATA)
		xasprintf(&words, "%s has no PTR record", q->name);
	else if (q->ptr_status == PTR_MALFORMED)
		xasprintf(&words, "the PTR record of %s is not a host name",
		    q->name);
	else if (q->ptr_status != ARES_SUCCESS) {
		res.status = DNS_TEMPFAIL;
		xasprintf(&words, "reverse lookup of %s failed: %s", q->name,
		    ares_strerror(q->ptr_status));
	} else {
		for (i = 0; i < h->naddrs; i++)
			if (same_address(&h->addrs[i], &q->peer_addr))
				res.status = DNS_OK;
		if (res.status == DNS_OK)
			res.name = h->host;
		else if (h->naddrs > 0)
			xasprintf(&words, "hostname %s does not resolve to "
			    "address %s", h->host, q->name);
		else if (h->status == ARES_ENOTFOUND ||
		    h->status == ARES_ENODATA)
			xasprintf(&words, "hostname %s does not resolve to "
			    "address %s: host not found", h->host, q->name);
		else {
			res.status = DNS_TEMPFAIL;
			xasprintf(&words, "hostname %s verification failed: "
			    "%s", h->host, ares_strerror(h->status));
		}
	}
	res.error = words;
	q->cb(&res, q->arg);
	free(words);
}

/* addr's reverse name, "4.3.2.1.in-addr.arpa" or nibbles under ip6.arpa. */
static char *
ptr_name(const struct sockaddr_storage *ss)
{
	const unsigned char	*b;
	struct buf		 out;
	int			 i;

	buf_init(&out);
	if (ss->ss_family == AF_INET) {
		b = (const unsigned char *)
		    &((const struct sockaddr_in *)ss)->sin_addr;
		buf_printf(&out, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1],
		    b[0]);
	} else {
		b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		for (i = 15; i >= 0; i--)
			buf_printf(&out, "%x.%x.", b[i] & 0xf, b[i] >> 4);
		buf_printf(&out, "ip6.arpa");
	}
	return buf_take(&out);
}

static void
ptr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query	*q = arg;
	const struct sockaddr_in *sin = (struct sockaddr_in *)&q->peer_addr;
	const struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&q->peer_addr;
	struct hostent		*he = NULL;
	const void		*addr;
	int			 len;

	q->pending--;
	if (status == ARES_EDESTRUCTION)
		return;
	if (q->cancelled) {
		query_settle(q);
		return;
	}
	if (status == ARES_SUCCESS) {
		if (q->peer_addr.ss_family == AF_INET) {
			addr = &sin->sin_addr;
			len = sizeof(sin->sin_addr);
		} else {
			addr = &sin6->sin6_addr;
			len = sizeof(sin6->sin6_addr);
		}
		status = ares_parse_ptr_reply(abuf, alen, addr, len,
		    q->peer_addr.ss_family, &he);
	}
	q->ptr_status = status;
	if (status == ARES_SUCCESS && (he->h_name == NULL ||
	    !name_is_hostname(he->h_name)))
		q->ptr_status = PTR_MALFORMED;
	if (q->ptr_status != ARES_SUCCESS) {
		if (he != NULL)
			ares_free_hostent(he);
		query_settle(q);
		return;
	}
	q->hosts = xcalloc(1, sizeof(*q->hosts));
	q->nhosts = 1;
	q->hosts[0].host = xstrdup(he->h_name);
	ascii_lower(q->hosts[0].host);
	ares_free_hostent(he);
	lookup_host(q, 0);
}

/*
 * The PTR query goes to DNS alone: c-ares's gethostbyaddr, which reads
 * the hosts file first, reports a server failure as "not found", and a
 * temporary failure must be logged as one.
 */
struct dns_query *
dns_resolve_peer(const char *ip, dns_cb cb, void *arg)
{
	struct dns_query	*q = query_new(ip, 0, cb, arg);
	char			*rname;

	q->peer = 1;
	if (dns_parse_literal(ip, 0, &q->peer_addr) == -1) {
		q->ptr_status = ARES_EBADNAME;
		query_settle(q);
		return q;
	}
	if (ensure_init(q) == -1) {
		q->ptr_status = ARES_ENOTINITIALIZED;
		return q;
	}
	rname = ptr_name(&q->peer_addr);
	q->pending++;
	ares_query(channel, rname, ns_c_in, ns_t_ptr, ptr_cb, q);
	free(rname);
	dns_rearm();
	return q;
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	q->cancelled = 1;
	ev_timer_stop(q->deliver);
	/* Without c-ares callbacks to come, nothing else would free it. */
	if (q->pending == 0)
		query_unlink_free(q);
}
