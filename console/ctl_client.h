/*
 * ctl_client: the client side of the control protocol
 * (help/control-protocol.md), blocking, for the CLI and the injector's
 * helpers.
 *
 * It connects to ctl.sock or public.sock, checks the greeting's protocol
 * version, numbers requests and matches each response by id. Responses
 * are returned as raw JSON lines for the caller to parse with json.h;
 * event lines arriving meanwhile (subscriptions) are kept for
 * ctl_client_next_line(). It also reads the spool when the daemon is
 * down, and words a message's DSN wait alike for the CLI and mailq.
 */
#ifndef HIKYAKU_CTL_CLIENT_H
#define HIKYAKU_CTL_CLIENT_H

#include <stdint.h>

struct buf;
struct config;
struct ctl_client;
struct json_value;

/* ctl.sock (config's control_socket, else ctl.sock in the spool). */
char	*ctl_client_socket_path(const struct config *);
/* public.sock in the spool. */
char	*ctl_client_public_path(const struct config *);

/*
 * Connect and read the greeting. Returns NULL with *err (allocated) when
 * the daemon is not running, refuses us, or speaks another version;
 * *down is set to 1 when nothing listens (ENOENT/ECONNREFUSED), so callers
 * can fall back to reading the spool.
 */
struct ctl_client *ctl_client_open(const char *path, int *down, char **err);
void	 ctl_client_close(struct ctl_client *);

/*
 * Send {"id":N,"cmd":cmd<members>} where members is NULL or a string of
 * further JSON members starting with a comma (",\"qid\":\"...\"").
 * Returns the response line with the same id (allocated, no newline), or
 * NULL with *err on a broken connection. An {"ok":false} response is
 * still returned: the caller reads its "error".
 */
char	*ctl_client_call(struct ctl_client *, const char *cmd,
	    const char *members, char **err);

/*
 * The next line from the daemon that was not a response to a call
 * (subscription events), waiting at most timeout_ms (-1: forever).
 * Returns NULL with *err NULL on timeout, with *err set on failure.
 */
char	*ctl_client_next_line(struct ctl_client *, int timeout_ms, char **err);

/*
 * When the daemon is down: the queue read straight from the spool, as a
 * JSON array of the protocol's message objects (with history) in queue-ID
 * order; only_qid restricts it to one message. Files that vanish under a
 * running delivery are skipped. Nothing is printed (the console owns the
 * terminal): NULL with *err (allocated) when the spool cannot be read;
 * the array with *err set when some files could not be read and were
 * skipped (the first problem and how many); *err NULL when all went well.
 */
struct json_value *ctl_client_spool_read(const struct config *,
	    const char *only_qid, char **err);

/*
 * Why a message object stays queued for its DSN, appended to b:
 * "waits for dsn_rate (3/1h), next in 42m" (or "next due") while the
 * dsn_rate cap holds the DSN back. Returns 0, adding nothing, if it does
 * not. One wording for `hikyaku queue list/show` and mailq.
 */
int	 ctl_client_dsn_wait_text(const struct json_value *message,
	    int64_t now, struct buf *b);

#endif
