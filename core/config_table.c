/*
 * The one table of configuration keys. The parser, `hikyaku config check`,
 * the console's settings screen and the man page all read these rows, so
 * a key's default, limits and help text live here and nowhere else.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "util.h"

#ifndef HIKYAKU_SPOOL_DIR
#define HIKYAKU_SPOOL_DIR "/var/spool/hikyaku"
#endif
#ifndef HIKYAKU_DEFAULT_USER
#define HIKYAKU_DEFAULT_USER "hikyaku"
#endif

#define OFF(f)	offsetof(struct config, f)
#define DAY	86400
#define KEY(n, t, d, lo, hi, ev, h, f)	{ n, t, d, lo, hi, ev, h, OFF(f) }

const struct config_key config_keys[] = {
	/* identity (nullmailer's meanings) */
	KEY("me", CT_STRING, "", 0, 0, NULL,
	    "This host's name, used in HELO, Received: and bare addresses. "
	    "Default: /etc/mailname, else the system host name (never DNS).",
	    me),
	KEY("defaultdomain", CT_STRING, "", 0, 0, NULL,
	    "Domain appended to addresses without one. Default: the value "
	    "of me.", defaultdomain),
	KEY("adminaddr", CT_STRING, "", 0, 0, NULL,
	    "Where mail for local users goes when no alias or mailbox takes "
	    "it, and where double bounces go (nullmailer's adminaddr).",
	    adminaddr),
	KEY("helo_name", CT_STRING, "", 0, 0, NULL,
	    "Name sent in EHLO to remotes and in the greeting. Default: me.",
	    helo_name),

	/* listeners and files */
	KEY("listen", CT_LISTEN, "127.0.0.1:25 relay", 0, 0,
	    "relay|submission|smtps",
	    "ADDR:PORT MODE, repeatable; ADDR is an IPv4 address, [IPv6] or *. "
	    "relay: the built-in relay policy; submission: AUTH required; "
	    "smtps: implicit TLS. Default: 127.0.0.1:25 and [::1]:25 relay.",
	    listens),
	KEY("spool", CT_PATH, HIKYAKU_SPOOL_DIR, 0, 0, NULL,
	    "The queue directory.", spool),
	KEY("user", CT_STRING, HIKYAKU_DEFAULT_USER, 0, 0, NULL,
	    "Unprivileged user the daemon drops to after binding its "
	    "listeners; the daemon refuses to stay root.", user),
	KEY("tls_cert", CT_PATH, "", 0, 0, NULL,
	    "Server certificate chain (PEM) for STARTTLS and smtps.",
	    tls_cert),
	KEY("tls_key", CT_PATH, "", 0, 0, NULL,
	    "Private key of tls_cert (PEM); keep it 0640 root:hikyaku.",
	    tls_key),
	KEY("control_socket", CT_PATH, "", 0, 0, NULL,
	    "Control socket for the console and CLI. Default: ctl.sock in "
	    "the spool (Unix socket paths are limited to 108 bytes).",
	    control_socket),
	KEY("log", CT_PATH, "syslog", 0, 0, NULL,
	    "syslog, stderr or a file path (SIGUSR1 reopens the file).", log),

	/* limits */
	KEY("max_message_size", CT_SIZE, "10M", 1024, INT64_C(1) << 40, NULL,
	    "Largest message accepted, announced in SIZE (Postfix's default "
	    "is about 10M too).", max_message_size),
	KEY("max_recipients", CT_INT, "100", 1, 100000, NULL,
	    "Recipients per message; more are answered 452 4.5.3.",
	    max_recipients),
	KEY("command_timeout", CT_DURATION, "5m", 1, DAY, NULL,
	    "Deadline for one SMTP command line (not an idle timer).",
	    command_timeout),
	KEY("data_timeout", CT_DURATION, "10m", 1, DAY, NULL,
	    "Base deadline for the DATA phase; large messages over slow "
	    "links get more at a minimum rate.", data_timeout),
	KEY("max_connections", CT_INT, "100", 1, 100000, NULL,
	    "Simultaneous inbound SMTP connections.", max_connections),
	KEY("max_connections_per_ip", CT_INT, "10", 1, 100000, NULL,
	    "Simultaneous inbound connections from one client address.",
	    max_connections_per_ip),

	/* retry and delivery */
	KEY("pausetime", CT_DURATION, "60", 1, 30 * DAY, NULL,
	    "First retry delay after a temporary failure; doubles up to "
	    "maxpause (nullmailer's pausetime).", pausetime),
	KEY("maxpause", CT_DURATION, "1d", 1, 30 * DAY, NULL,
	    "Longest delay between retries (nullmailer's maxpause).",
	    maxpause),
	KEY("queue_lifetime", CT_DURATION, "5d", 60, 365 * DAY, NULL,
	    "Age after which undelivered mail is bounced (Postfix's "
	    "maximal_queue_lifetime).", queue_lifetime),
	KEY("sendtimeout", CT_DURATION, "3600", 1, DAY, NULL,
	    "Deadline for one whole delivery attempt to a remote: connecting "
	    "and the first message, then each further message on the "
	    "connection (nullmailer's sendtimeout). Unlike command_timeout "
	    "it also stops a remote that answers every command just in "
	    "time; the recipients are deferred or fail over.", sendtimeout),
	KEY("max_connections_per_remote", CT_INT, "4", 1, 1000, NULL,
	    "Parallel outbound connections to one remote.",
	    max_connections_per_remote),
	KEY("remote_rate", CT_RATE, "0", 0, 0, NULL,
	    "Outbound messages per remote (each next hop counts apart), "
	    "COUNT/DURATION (\"100/1h\"), for ISPs that block bursts. "
	    "Message starts are spaced evenly (60/1m: one a second); mail "
	    "over the rate waits its turn, not deferred. 0 is no limit.",
	    remote_rate),
	KEY("smtp_tls", CT_ENUM, "may", 0, 0, "none|may|verify",
	    "TLS for hops not in remotes: none, may (STARTTLS when offered) "
	    "or verify. A hop sent credentials is always verified.", smtp_tls),
	KEY("resolver", CT_STRING, "", 0, 0, NULL,
	    "DNS server as ADDR:PORT instead of /etc/resolv.conf.", resolver),

	/* anti-abuse and privacy */
	KEY("greet_pause", CT_DURATION, "0", 0, 5 * 60, NULL,
	    "Wait this long before the greeting and refuse clients that talk "
	    "first; clients with relay rights are exempt. 0 is off.",
	    greet_pause),
	KEY("rate_limit", CT_RATE, "0", 0, 0, NULL,
	    "Connections per client address, COUNT/DURATION (\"60/1m\"); "
	    "clients with relay rights are exempt. 0 is no limit.",
	    rate_limit),
	KEY("bad_rcpt_throttle", CT_RATE, "3/1s", 0, 0, NULL,
	    "After COUNT refused recipients in a session, delay each further "
	    "RCPT reply by DURATION (sendmail's BadRcptThrottle). 0 is off.",
	    bad_rcpt_throttle),
	KEY("dsn_rate", CT_RATE, "100/1h", 0, 0, NULL,
	    "Bounces (DSNs) generated per DURATION; over the cap they wait, "
	    "so a loop cannot become a bounce storm. 0 is no limit.",
	    dsn_rate),
	KEY("max_hops", CT_INT, "30", 1, 1000, NULL,
	    "Received: headers after which a message is taken as looping "
	    "and stopped.", max_hops),
	KEY("vrfy", CT_BOOL, "no", 0, 0, NULL,
	    "Answer VRFY truthfully (off: 252, as privacy asks).", vrfy),
	KEY("expn", CT_BOOL, "no", 0, 0, NULL,
	    "Answer EXPN with alias contents (off: 502).", expn),
	KEY("smtpd_plaintext_auth", CT_BOOL, "no", 0, 0, NULL,
	    "Offer AUTH before STARTTLS (passwords in the clear).",
	    smtpd_plaintext_auth),
	KEY("peer_lookup", CT_BOOL, "no", 0, 0, NULL,
	    "Look up each client's host name before the greeting (PTR, "
	    "kept only when its A/AAAA records give the client's address "
	    "back) for access Connect: host keys, logs and Received:; off "
	    "means no DNS for clients and host keys never match one.",
	    peer_lookup),

	/* local delivery */
	KEY("mailbox_root", CT_PATH, "", 0, 0, NULL,
	    "Directory holding one Maildir per local user; empty means "
	    "unaliased local mail goes to adminaddr or is refused.",
	    mailbox_root),
	KEY("pipe_user", CT_STRING, "nobody", 0, 0, NULL,
	    "User that \"|command\" alias targets run as.", pipe_user),
	KEY("pipe_timeout", CT_DURATION, "10m", 1, DAY, NULL,
	    "Deadline for a pipe target; its process group is killed and "
	    "the delivery deferred.", pipe_timeout),
};

const size_t config_nkeys = nitems(config_keys);
