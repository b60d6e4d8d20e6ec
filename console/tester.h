/*
 * tester: the SMTP session tester's engine, shared by `hikyaku smtp` and
 * the console's Tester screen. No curses, no readline: it runs on the
 * event loop and reports everything through one callback.
 *
 * It owns one SMTP client connection driven by hand: DNS (c-ares), the
 * connect, the greeting, raw lines typed by the user, STARTTLS (typing
 * it performs the handshake after the 220 and reports the certificate
 * verdict of core/tls_diag), AUTH through core/sasl, a canned
 * transaction (a plan) that can stop after any stage, and the transcript
 * with AUTH payloads masked. Promises: every wait (DNS, connect, greeting,
 * handshake, reply) has a deadline and can be cancelled; bytes that
 * follow the 220 to STARTTLS are treated as an attack and end the
 * session; a certificate that fails the verdict ends the session unless
 * --insecure; no secret ever reaches the callback or the transcript.
 */
#ifndef HIKYAKU_TESTER_H
#define HIKYAKU_TESTER_H

#include <stddef.h>

struct remote;
struct tester;

/* The stages a session passes; also what failed (exit codes in cli). */
enum tester_stage {
	TESTER_STAGE_NONE,	/* nothing failed */
	TESTER_STAGE_CONNECT,	/* DNS or TCP connect */
	TESTER_STAGE_BANNER,	/* the 220 greeting */
	TESTER_STAGE_EHLO,	/* EHLO or HELO */
	TESTER_STAGE_TLS,	/* STARTTLS, handshake or certificate verdict */
	TESTER_STAGE_AUTH,
	TESTER_STAGE_MAIL,
	TESTER_STAGE_RCPT,
	TESTER_STAGE_DATA,	/* DATA or the reply after the final dot */
	TESTER_STAGE_QUIT,
	TESTER_STAGE_OTHER,	/* cancelled, or the server went away */
};

enum tester_state {
	TESTER_IDLE,		/* not started */
	TESTER_RESOLVING,
	TESTER_CONNECTING,
	TESTER_GREETING,	/* connected, waiting for the 220 */
	TESTER_HANDSHAKE,	/* TLS handshake running */
	TESTER_READY,		/* no reply outstanding */
	TESTER_WAITING,		/* a reply is outstanding */
	TESTER_BODY,		/* after 354: lines are message text */
	TESTER_CLOSED,
};

enum tester_event {
	TESTER_EV_INFO,		/* "connecting to 127.0.0.1 port 25" */
	TESTER_EV_SENT,		/* a line we sent, masked when secret */
	TESTER_EV_REPLY,	/* one reply line; code is its number */
	TESTER_EV_VERDICT,	/* the certificate verdict, several lines */
	TESTER_EV_ERROR,	/* a failure in words */
	TESTER_EV_READY,	/* nothing outstanding: input may follow */
	TESTER_EV_CLOSED,	/* the session ended (text: why) */
};

/*
 * text is valid during the call only; code: reply number or 0. The
 * callback may call any tester function except tester_free().
 */
typedef void (*tester_cb)(struct tester *, enum tester_event, int code,
		    const char *text, void *arg);

struct tester_config {
	const struct remote *remote;	/* host, port, TLS mode, CA, creds */
	const char	*connect_addr;	/* --connect: IP to use, no DNS */
	const char	*servername;	/* name to verify; default host */
	const char	*helo;		/* EHLO argument; default our name */
	const char	*daemon_user;	/* CA/CRL also judged for it if not us */
	int		 timeout_ms;	/* every wait; 0: defaults below */
};

#define TESTER_CONNECT_MS	30000
#define TESTER_REPLY_MS		300000	/* RFC 5321 4.5.3.2 */

/*
 * A canned transaction (or just a prologue when from is NULL): EHLO,
 * STARTTLS when the remote says --starttls, AUTH when user is set, then
 * MAIL, one RCPT per recipient, DATA with message (NULL: a short test
 * message), and QUIT when quit is set. Steps run while replies are
 * positive; stop_after ends the plan after that stage.
 */
struct tester_plan {
	const char	*user, *pass;	/* AUTH; pass is copied, then wiped */
	const char	*mech;		/* "PLAIN", "LOGIN"; NULL: the best */
	const char	*from;
	const char *const *to;
	size_t		 nto;
	const char	*message;
	enum tester_stage stop_after;	/* NONE: run to the end */
	int		 quit;
};

struct tester	*tester_new(const struct tester_config *, tester_cb,
		    void *arg);
/* Resolve, connect, wait for the greeting (after the handshake: --ssl). */
void		 tester_start(struct tester *);
/*
 * Send one line as typed (without CRLF). Commands are recognised:
 * STARTTLS starts the handshake after its 220, AUTH payloads and the
 * answers to 334 challenges are masked, DATA's 354 turns input into
 * message text until ".". -1 when not connected.
 */
int		 tester_send(struct tester *, const char *line);
/* Run a plan from the current point (see struct tester_plan). */
int		 tester_run(struct tester *, const struct tester_plan *);
/* AUTH alone: mech NULL picks the best the server offered. */
int		 tester_auth(struct tester *, const char *mech,
		    const char *user, const char *pass);
/* Give up the current wait (Esc, Ctrl-C): the session closes. */
void		 tester_cancel(struct tester *);
/* Close politely (QUIT) or at once; the callback sees CLOSED. */
void		 tester_close(struct tester *);

enum tester_state tester_state(const struct tester *);
/* The first stage that failed, or TESTER_STAGE_NONE. */
enum tester_stage tester_failed(const struct tester *);
/* Is a wait running that tester_cancel() would end? */
int		 tester_busy(const struct tester *);
/* The AUTH mechanisms of the last EHLO reply ("" when none). */
const char	*tester_auth_mechs(const struct tester *);
/* "S: ..." / "C: ..." / "* ..." lines, secrets masked. */
const char	*tester_transcript(const struct tester *);
/* Write the transcript to path (mode 0600). 0, or -1 with *err. */
int		 tester_save(const struct tester *, const char *path,
		    char **err);
const char	*tester_stage_name(enum tester_stage);
/* "mail" -> TESTER_STAGE_MAIL; -1 for an unknown name. */
int		 tester_stage_parse(const char *);
void		 tester_free(struct tester *);

#endif
