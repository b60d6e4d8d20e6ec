/*
 * rules: THE decision engine (DESIGN §5, §6, §12). The SMTP server, the
 * scheduler and the tracer (`hikyaku trace`, `-bt`) all call these
 * functions, so a trace can never disagree with what the daemon does.
 *
 * Owns: the access verdict per SMTP stage (connect, MAIL, RCPT) with the
 * built-in relay policy (loopback and authenticated clients relay,
 * everyone else only to local domains); local-or-remote; alias expansion
 * with the adminaddr / Maildir fallback; generics rewriting of the
 * sender; and the route (transport match, else sender_relay, else the
 * remotes in order), with the matched remotes line's TLS/auth options and
 * sasl_passwd credentials. Every answer names the rule that decided it as
 * "file:line" (file's base name), or "built-in".
 *
 * Pure (libhkpure.a): no network, no queue; the only system look-up is
 * getpwnam(), for "is this a system user" and for the daemon's `user`
 * (:include: trust; once per config). Results own their strings.
 */
#ifndef HIKYAKU_RULES_H
#define HIKYAKU_RULES_H

#include <stddef.h>

#include "address.h"
#include "config.h"
#include "remotes.h"

/* One explained step (the tracer prints them, the daemon logs them). */
struct rules_step {
	int	 depth;		/* indentation in the alias tree */
	char	*text;		/* "access verdict for client 10.0.0.1: RELAY" */
	char	*rule;		/* "access:7", "built-in", or NULL */
};

struct rules_trace {
	struct rules_step	*v;
	size_t			 n;
};

void	 rules_trace_free(struct rules_trace *);

/* The client of an SMTP session (or the maildrop: ip NULL). */
struct rules_client {
	const char	*ip;		/* numeric; NULL: local injection */
	const char	*hostname;	/* verified name (peer_lookup) or NULL */
	const char	*auth_user;	/* NULL: not authenticated */
	enum listen_mode mode;
};

enum rules_verdict {
	RULES_ACCEPT,
	RULES_REJECT,		/* refuse with reply */
	RULES_DISCARD		/* accept and drop (access DISCARD) */
};

struct rules_answer {
	enum rules_verdict	 verdict;
	char			 reply[512];	/* "554 5.7.1 ..." when refused;
						   "" otherwise */
	char			 rule[256];	/* "access:7", "built-in" */
	int			 relay;		/* connect: the client may relay */
};

/*
 * An address_literal_fn: a literal is ours when it names the address the
 * client connected to (server_ip, a numeric string; NULL or "": none is
 * ours). An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
int	 rules_literal_is_ours(const char *lit, void *server_ip);

/*
 * The address a client of this mode connects to when nothing else says
 * (the tracer without --server, -bh): the first such listen line with an
 * address; "" for "*" or none, so that no IP literal is ours.
 */
const char *rules_listen_address(const struct config *, enum listen_mode);

enum rules_path { RULES_PATH_MAIL, RULES_PATH_RCPT };

/*
 * The argument of MAIL FROM: or RCPT TO: (after the colon) as the daemon
 * parses it before any access stage, with IP literals judged by
 * rules_literal_is_ours(server_ip). A refused address fills a (verdict
 * RULES_REJECT, reply, rule "built-in") and returns -1: at RCPT the relay
 * tricks (% and ! routing, source routes, quoted local parts holding @ %
 * or !, literals not ours) are refused as relaying with 554 5.7.1, other
 * errors 501; RCPT parameters are refused with 555. On success, 0 and
 * *out (address_free it) with a bare local part completed with @me, and
 * *params (may be NULL) at the ESMTP parameters of MAIL.
 */
int	 rules_parse_path(const struct config *, enum rules_path,
	    const char *arg, const char *server_ip, struct address *out,
	    const char **params, struct rules_answer *, struct rules_trace *);

/*
 * One function per SMTP stage. They never fail; trace may be NULL.
 * connect: the client's Connect:/untagged verdict and whether it has
 * relay rights (for greet pause and rate limits). mail: From: verdict for
 * the sender ("" is <>). rcpt: To: verdict, then the relay decision for
 * a remote recipient, then for a local one whether the name exists
 * (550 5.1.1 otherwise).
 */
void	 rules_check_connect(const struct config *, const struct rules_client *,
	    struct rules_answer *, struct rules_trace *);
void	 rules_check_mail(const struct config *, const struct rules_client *,
	    const char *sender, struct rules_answer *, struct rules_trace *);
void	 rules_check_rcpt(const struct config *, const struct rules_client *,
	    const char *sender, const char *rcpt, struct rules_answer *,
	    struct rules_trace *);

enum rules_dest_kind {
	RULES_DEST_SMTP,	/* addr goes out over SMTP on route */
	RULES_DEST_MBOX,	/* append to the mbox file target */
	RULES_DEST_PIPE,	/* run target with the message on stdin */
	RULES_DEST_MAILDIR,	/* deliver into the Maildir target */
	RULES_DEST_DEVNULL,
	RULES_DEST_ERROR,	/* bounce with text */
	RULES_DEST_RETRY	/* defer with text */
};

struct rules_route {
	int		 default_route;	/* the remotes list, with failover */
	/* Not the default: one next hop. remote is a remotes line's options
	   for that host, or made up (smtp_tls policy, sasl_passwd). */
	struct remote	 remote;
	int		 mx;		/* look up MX for remote.host */
	char		*key;		/* "host:port[:mx]" names the pool */
};

struct rules_dest {
	enum rules_dest_kind	 kind;
	char			*addr;		/* final recipient address */
	char			*orig;		/* the alias it came from, or NULL */
	char			*target;	/* path or command */
	char			*user;		/* local user (mailbox, pipe env) */
	char			*text;		/* ERROR/RETRY reason */
	char			*rule;		/* route rule: "transport:3" */
	char			*alias_rule;	/* "aliases:2" or NULL */
	struct rules_route	 route;		/* SMTP */
};

struct rules_result {
	struct rules_dest	*v;
	size_t			 n;
	int			 local;		/* the recipient was local */
	char			*sender;	/* after generics (SMTP routes) */
	char			*sender_rule;	/* generics rule or NULL */
};

/*
 * Where does mail from sender ("" for <>) to rcpt go? Aliases expand into
 * several destinations; a local name without alias goes to adminaddr, else
 * a Maildir when the name exists, else ERROR 5.1.1. Never fails (problems
 * are ERROR/RETRY destinations). Free with rules_result_free.
 */
void	 rules_resolve(const struct config *, const char *sender,
	    const char *rcpt, struct rules_result *, struct rules_trace *);
void	 rules_result_free(struct rules_result *);

/*
 * The remotes line r with sasl_passwd credentials filled in when the line
 * has none (deep copy into out; remote_free it). *rule (may be NULL) gets
 * "sasl_passwd:N" or NULL.
 */
void	 rules_remote_with_credentials(const struct config *,
	    const struct remote *r, struct remote *out, char **rule);

/* "sendmail" summary: "mailer smtp, host [h]:587, user u@d". Allocated. */
char	*rules_dest_summary(const struct rules_dest *);
const char *rules_dest_kind_str(enum rules_dest_kind);
/* "file:line" with the file's base name; allocated. */
char	*rules_where(const char *file, int line);

#endif
