/*
 * control: the daemon side of the control protocol (help/control-protocol.md).
 *
 * It owns two Unix sockets in the spool: ctl.sock (0660, group of the
 * daemon user: every command) and public.sock (0666: queue.list and
 * queue.flush only, for mailq and sendmail -q). Peers on ctl.sock are
 * checked with SO_PEERCRED/SO_PEERGROUPS: root, the daemon's uid and
 * members of its group; anyone else is refused. JSON Lines: a versioned
 * greeting, requests with ids, responses carrying the same id, paged
 * queue snapshots, queue actions through the scheduler, reload through a
 * hook the daemon supplies, status, and subscriptions (snapshot + gapless
 * deltas, and the last log lines it keeps as history). Promise: a slow or stopped client never slows the daemon; a
 * subscriber whose unsent output passes its cap is sent "resync" and
 * dropped.
 */
#ifndef HIKYAKU_CONTROL_H
#define HIKYAKU_CONTROL_H

#include <sys/types.h>

#define CONTROL_PROTOCOL_VERSION	1
/* Socket names in the spool (control_socket overrides ctl.sock). */
#define CONTROL_SOCKET_NAME		"ctl.sock"
#define CONTROL_PUBLIC_SOCKET_NAME	"public.sock"
/* Unsent output a subscriber may accumulate before it is dropped. */
#define CONTROL_SUBSCRIBER_CAP		(1024 * 1024)
/*
 * The recent log lines kept for subscribe's "history": at most this many
 * and this many bytes of text (the idle daemon's memory stays small).
 */
#define CONTROL_LOG_HISTORY		256
#define CONTROL_LOG_HISTORY_BYTES	(32 * 1024)

struct config;
struct envelope;
struct json_writer;

/*
 * The protocol's message object (help/control-protocol.md): qid, sender,
 * arrival, size, held, state, recipients (with their history when
 * with_history). Pure (core/control_json.c, in libhkpure.a) so the CLI
 * and mailq describe a spool file read while the daemon is down exactly
 * as the daemon would.
 */
void	 control_json_envelope(struct json_writer *, const struct envelope *,
	    int with_history);
/* The message's summary state: "held", "deferred", "pending", ... */
const char *control_envelope_state(const struct envelope *);

/*
 * Before the privilege drop: create both sockets (replacing stale ones),
 * chmod them (0660 / 0666) and chown them to owner:group. The daemon's
 * credentials for the peer check are owner and group. Returns 0, or -1
 * with *err (allocated).
 */
int	 control_listen(const struct config *, uid_t owner, gid_t group,
	    char **err);
/* After ev_init() and sched_init(): start accepting and observing. */
void	 control_start(void);
/* Close every connection and both sockets, unlink the socket files. */
void	 control_shutdown(void);
/*
 * After a successful reload: status reports the new listeners. The
 * pointer must stay valid until the next call or control_shutdown().
 */
void	 control_reconfigure(const struct config *);

/*
 * The "reload" command calls hook: it returns 0 on success or -1 when the
 * new config was refused; either way it may set *result (allocated text:
 * warnings, or the validation errors one per line), freed by control.
 */
typedef int (*control_reload_fn)(char **result, void *arg);
void	 control_set_reload_hook(control_reload_fn, void *arg);

#endif
