/*
 * tui_ctl: a non-blocking client of the control protocol
 * (help/control-protocol.md) on the console's event loop.
 *
 * A connection owns its socket (core/io.h), reconnects by itself with
 * backoff (0.25 s doubling to 5 s) while the daemon is down, checks the
 * greeting, numbers requests and hands each response to the callback of
 * its request; lines that are not responses (subscription events) go to
 * the connection's event callback. Nothing here ever blocks: a daemon
 * that accepts but never answers just leaves requests pending, and the
 * caller can forget them (tui_ctl_forget) or restart the connection.
 */
#ifndef HIKYAKU_TUI_CTL_H
#define HIKYAKU_TUI_CTL_H

#include <stddef.h>
#include <stdint.h>

struct tui_ctl;

/*
 * The response line (len bytes, no newline), or line NULL and err when
 * the connection broke before it arrived.
 */
typedef void (*tui_ctl_reply_fn)(const char *line, size_t len,
	    const char *err, void *arg);
/* Connection state: up after a good greeting, down with the reason. */
typedef void (*tui_ctl_state_fn)(int up, const char *why, void *arg);
/* A line that is not a response (an event). */
typedef void (*tui_ctl_event_fn)(const char *line, size_t len, void *arg);

/* Start connecting to the socket at path (copied). */
struct tui_ctl	*tui_ctl_new(const char *path, tui_ctl_state_fn,
		    tui_ctl_event_fn, void *arg);
void		 tui_ctl_free(struct tui_ctl *);
int		 tui_ctl_up(const struct tui_ctl *);
/* The last reason the connection was down ("" when up). */
const char	*tui_ctl_why(const struct tui_ctl *);

/*
 * Send {"id":N,"cmd":cmd<members>} (members: NULL or ",\"k\":v...").
 * Returns the request id, or 0 when the connection is down (nothing is
 * sent and reply is not called).
 */
uint64_t	 tui_ctl_call(struct tui_ctl *, const char *cmd,
		    const char *members, tui_ctl_reply_fn, void *arg);
/*
 * Inside a reply or event callback only: the line being handed out as a
 * NUL-terminated string the caller frees, taken over without a copy (a
 * subscription snapshot is tens of megabytes). The line pointer the
 * callback got is no longer valid.
 */
char		*tui_ctl_take_line(struct tui_ctl *);
/*
 * A long response read while it arrives (a subscription snapshot): after
 * tui_ctl_on_partial, more(arg) is called each time more of the response
 * to request id has come but not yet its end. tui_ctl_partial then gives
 * the bytes buffered and not consumed (not NUL-terminated, valid until
 * the next loop turn), or NULL; tui_ctl_consume drops the first n of
 * them, so a reader that keeps up never holds the whole response. The
 * reply function gets what was not consumed when the end arrives.
 */
void		 tui_ctl_on_partial(struct tui_ctl *, uint64_t id,
		    void (*more)(void *));
const char	*tui_ctl_partial(const struct tui_ctl *, uint64_t id,
		    size_t *len);
void		 tui_ctl_consume(struct tui_ctl *, uint64_t id, size_t n);
/* Never call the reply function of request id. */
void		 tui_ctl_forget(struct tui_ctl *, uint64_t id);
/* Close and reconnect at once (after a resync). */
void		 tui_ctl_restart(struct tui_ctl *);

/* Whether the daemon answered on any connection last time we looked. */
int		 tui_ctl_daemon_up(void);

#endif
