/*
 * smtp_client: one outbound SMTP connection to a remote, as an explicit
 * state machine on the event loop.
 *
 * Owns connecting (c-ares lookup unless an IP literal, every address tried
 * happy-eyeballs style, --source bound, TCP_NODELAY), the banner, EHLO/HELO,
 * STARTTLS or implicit TLS with verification (tls.h), opportunistic
 * STARTTLS for REMOTE_TLS_MAY (used when offered, the certificate's
 * verdict only logged; plaintext when not offered or refused; verified
 * like --starttls when credentials go out), AUTH (sasl.h) and the
 * transactions: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, dot-stuffing while
 * streaming the message file, several messages per connection (RSET when
 * needed), per-command deadlines. Promises: credentials never go out in the
 * clear unless the remote says --allow-plaintext-auth; nothing secret is
 * logged; every message handed over gets exactly one SMTP_CLIENT_MSG_DONE,
 * or SMTP_CLIENT_FAILED with its results filled as the failure says.
 * The scheduler decides what to send where; this module only speaks SMTP.
 */
#ifndef HIKYAKU_SMTP_CLIENT_H
#define HIKYAKU_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct remote;
struct smtp_client_session;

enum smtp_client_state {
	SMTP_CLIENT_RESOLVING,		/* DNS lookup of remote->host */
	SMTP_CLIENT_CONNECTING,
	SMTP_CLIENT_BANNER,		/* waiting for 220 (after TLS with --ssl) */
	SMTP_CLIENT_TLS_IMPLICIT,	/* --ssl handshake before the banner */
	SMTP_CLIENT_EHLO,
	SMTP_CLIENT_HELO,		/* EHLO refused: fall back */
	SMTP_CLIENT_STARTTLS,
	SMTP_CLIENT_TLS_HANDSHAKE,
	SMTP_CLIENT_EHLO2,		/* EHLO again inside TLS */
	SMTP_CLIENT_AUTH,
	SMTP_CLIENT_IDLE,		/* ready for smtp_client_send() */
	SMTP_CLIENT_MAIL,
	SMTP_CLIENT_RCPT,
	SMTP_CLIENT_DATA,
	SMTP_CLIENT_BODY,		/* streaming the message */
	SMTP_CLIENT_DOT,		/* waiting for the reply to "." */
	SMTP_CLIENT_RSET,
	SMTP_CLIENT_QUIT,
	SMTP_CLIENT_DISCONNECTED,	/* finished: only smtp_client_free() */
};

enum smtp_client_event {
	SMTP_CLIENT_READY,	/* idle, can take a message (msg NULL) */
	SMTP_CLIENT_MSG_DONE,	/* msg's results are filled */
	SMTP_CLIENT_FAILED,	/* connection-level failure (connect, TLS,
				   auth, timeout, lost connection): see
				   smtp_client_error(); msg, if one was in
				   flight, has its results filled with it */
	SMTP_CLIENT_CLOSED,	/* after smtp_client_quit(): QUIT done; msg,
				   if one was in flight, has its results
				   filled (temporary: interrupted) */
};

struct smtp_client_target {
	const struct remote	*remote;	/* host, port, TLS, credentials */
	const char		*helo_name;
	int64_t			 timeout;	/* per-command deadline, seconds */
	/*
	 * Addresses to try instead of resolving remote->host (a route the
	 * scheduler resolved through MX). naddrs 0: resolve remote->host.
	 */
	const struct sockaddr_storage *addrs;
	size_t			 naddrs;
};

struct smtp_client_rcpt_result {
	int	 code;		/* 250, 450, 550...; 0: no reply (local or
				   connection failure) */
	char	 enhanced[16];	/* "2.1.5" or "" */
	char	*reply;		/* the remote's reply, lines joined by a
				   space, or our own words; allocated */
	int	 temporary;
};

struct smtp_client_msg {
	const char		 *qid;		/* for log lines */
	const char		 *sender;	/* "" for the null sender */
	const char *const	 *rcpts;
	size_t			  nrcpt;
	int			  msg_fd;	/* CRLF lines, read from offset 0 */
	int64_t			  size;
	int			  smtputf8, body_8bit;
	/* Filled in (allocated here; smtp_client_msg_clear() frees): */
	struct smtp_client_rcpt_result *results;	/* nrcpt entries */
	char			 *relay;	/* "host[ip]:port" */
};

typedef void (*smtp_client_cb)(struct smtp_client_session *,
    enum smtp_client_event, struct smtp_client_msg *, void *arg);

/*
 * Start a connection. The target (and its remote) must stay valid until
 * smtp_client_free(). Events arrive from the loop, never from inside this
 * call. Never NULL.
 */
struct smtp_client_session *smtp_client_new(const struct smtp_client_target *,
		    smtp_client_cb, void *arg);
/*
 * Hand over a message; only in the IDLE state (after SMTP_CLIENT_READY or
 * SMTP_CLIENT_MSG_DONE). 0, or -1 if the session is not idle or the
 * message has no recipient. msg stays the caller's and must live until
 * its event. A message the remote cannot take (SIZE exceeded, SMTPUTF8
 * not offered) finishes with permanent results without a transaction.
 */
int		 smtp_client_send(struct smtp_client_session *,
		    struct smtp_client_msg *);
/* Send QUIT and close; SMTP_CLIENT_CLOSED follows (at once if not idle). */
void		 smtp_client_quit(struct smtp_client_session *);
/* Close without ceremony and free; safe inside the callback. */
void		 smtp_client_free(struct smtp_client_session *);

enum smtp_client_state smtp_client_state(const struct smtp_client_session *);
/* The last connection-level error in words, or NULL. */
const char	*smtp_client_error(const struct smtp_client_session *);
int		 smtp_client_error_temporary(const struct smtp_client_session *);
/* "host[ip]:port" once connected, else NULL. */
const char	*smtp_client_relay(const struct smtp_client_session *);
/* "TLSv1.3 with cipher ..." or NULL when the connection is plain. */
const char	*smtp_client_tls(const struct smtp_client_session *);
const char	*smtp_client_state_name(enum smtp_client_state);

/* Free a message's results and relay (not the caller's fields). */
void		 smtp_client_msg_clear(struct smtp_client_msg *);

#endif
