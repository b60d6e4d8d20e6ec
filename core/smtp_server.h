/*
 * smtp_server: hikyakud's SMTP listeners and sessions (RFC 5321 with
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8).
 *
 * It owns the listening sockets of every `listen` line and one explicit
 * state machine per client (enum smtp_server_state, entered through one
 * function and logged at debug level). Promises: the `250` after DATA is
 * sent only from the queue's commit callback, i.e. after the sync covering
 * the file; only CRLF.CRLF ends DATA and a message holding a bare CR or LF
 * is refused with one `550 5.5.2` after the real end; command and DATA
 * phases run under deadlines, never idle timers; nothing blocks the loop,
 * so idle clients never delay others.
 *
 * Policy is the rules engine's (core/rules.h), the same code `hikyaku
 * trace` runs: Connect: at connection (a refused client gets 554 and may
 * only QUIT; 4xx: 421 and close), From: at MAIL, To:, relaying and "does
 * the local name exist" at RCPT. DISCARD accepts and drops. Every
 * decision is logged with the rule behind it ("rule=access:7",
 * "rule=built-in"). Anti-abuse from hikyaku.conf: greet_pause and
 * rate_limit (clients with relay rights exempt), bad_rcpt_throttle (each
 * RCPT reply after COUNT refusals waits DURATION, on a timer), VRFY
 * answered 252 unless vrfy = yes, EXPN 502 unless expn = yes and the
 * client has relay rights.
 *
 * Client names: with peer_lookup = yes a session starts in a LOOKUP
 * state (PTR of the client's address, then A/AAAA of that name through
 * dns.h, under a deadline of a few seconds) and only then is Connect:
 * judged and the greeting sent. A name whose addresses include the
 * client's is "verified": logs say client=name[ip], Received: says
 * (name [ip]) and access host keys match it. Anything else (no PTR, no
 * forward match, DNS failure or timeout) leaves the client unknown[ip],
 * with the reason logged, and host keys do not match, as in Postfix. The
 * limits checked at accept (max_connections_per_ip, rate_limit and the
 * relay right that exempts from them) are judged on the address alone.
 * With peer_lookup = no nothing is looked up.
 *
 * TLS and AUTH: STARTTLS is offered on relay and submission listeners
 * when tls_cert/tls_key loaded; `smtps` listeners handshake at connect.
 * The handshake runs under the command deadline; after STARTTLS the
 * session starts over from EHLO and plaintext pipelined behind STARTTLS
 * is discarded. AUTH (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN against
 * DIR/users) is offered only under TLS unless smtpd_plaintext_auth; a
 * submission listener answers MAIL before AUTH with 530 5.7.0. Failed
 * attempts are counted per client IP: each failure waits longer before
 * its 535, and too many end the session with 421. Certificate problems
 * are reported with the fix: at start an smtps listener with a broken
 * certificate is an error, other listeners just do not offer STARTTLS;
 * on reload a broken new certificate keeps the old one in service.
 *
 * Config lifetime: the server reads names and local domains from the
 * config last given to smtp_server_listen()/smtp_server_reconfigure();
 * each session copies its limits at connect, so the caller may free the
 * previous config as soon as smtp_server_reconfigure() returns.
 */
#ifndef HIKYAKU_SMTP_SERVER_H
#define HIKYAKU_SMTP_SERVER_H

#include <stddef.h>

#include "config.h"

/*
 * Open a listening socket for every listen line (IPv4; IPv6 with
 * IPV6_V6ONLY; "*" = both), non-blocking and CLOEXEC with a large backlog.
 * Call before dropping privileges. 0, or -1 with *err (allocated) and no
 * socket left open.
 */
int	 smtp_server_listen(const struct config *, char **err);

/* Start accepting on the event loop (after ev_init and the queue). */
void	 smtp_server_start(void);

/*
 * A reloaded config: new limits for new sessions, listeners opened and
 * closed to match. All or nothing: -1 with *err (allocated) leaves the
 * running config and listeners untouched, e.g. "restart needed" for a
 * new listener on a port below 1024 while unprivileged. 0 otherwise.
 */
int	 smtp_server_reconfigure(const struct config *, char **err);

/* Close the listeners and every session (421 to clients mid-dialogue). */
void	 smtp_server_shutdown(void);

/* Sessions currently open. */
size_t	 smtp_server_sessions(void);

/*
 * hikyakud -bh IP (exim's habit): one session as if from ip (as
 * auth_user when not NULL, on a listener of the given mode), reading the
 * client's side from in and writing the server's to out, with the real
 * state machine and rules; nothing is queued and nothing bound. Before
 * each reply, lines starting with ">>> " name the steps and rules behind
 * it; every other line is an SMTP reply. DATA is read and answered "250
 * 2.0.0 Ok: (not queued: -bh)". With peer_lookup the name of ip is
 * looked up as for a real client, through cfg's resolver. Needs
 * ev_init(); returns when the session ends (QUIT, EOF on in, or a
 * timeout): 0, or -1 with *err.
 */
int	 smtp_server_test_session(const struct config *, const char *ip,
	    const char *auth_user, enum listen_mode, int in, int out,
	    char **err);

#endif
