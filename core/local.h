/*
 * local: delivery on this host (DESIGN §5, §12 "Local delivery"): mbox
 * files, Maildirs, pipes and /dev/null. The rules engine decides which;
 * this module only delivers.
 *
 * Promises. mbox: a "From " line, ">From " quoting, LF line ends, an
 * fcntl lock plus a dotlock, and on any error the file is truncated back
 * to its old size, so a failed delivery leaves no partial message.
 * Maildir: tmp/, fsync, link into new/ (the standard dance). Pipes: the
 * command runs under /bin/sh in its own session with a minimal
 * environment, reset signal mask and dispositions and no inherited
 * descriptor but its stdin (the message), stdout/stderr (collected for
 * the bounce). Started as root, the daemon has the pipe launcher
 * (privsep.h) fork it as pipe_user and report its exit; started
 * unprivileged, it forks the command itself, as its own user, and reaps
 * it with SIGCHLD on the loop's signalfd. Either way the message is
 * written through the event loop and pipe_timeout kills the process
 * group. Exit 0 delivers; exit 75 (EX_TEMPFAIL), a signal or the timeout
 * defer; any other status bounces.
 */
#ifndef HIKYAKU_LOCAL_H
#define HIKYAKU_LOCAL_H

#include <stdint.h>
#include <sys/types.h>

enum local_status { LOCAL_OK, LOCAL_TEMPFAIL, LOCAL_PERMFAIL };

struct local_msg {
	const char	*qid;
	const char	*sender;	/* "" for <> */
	const char	*rcpt;		/* for Delivered-To: and $RECIPIENT */
	const char	*user;		/* local user ($USER) */
	int		 msg_fd;	/* CRLF message, read from offset 0 */
};

/*
 * File deliveries complete before return. Return the status and set *text
 * (allocated) to words for the log and the DSN.
 */
enum local_status local_deliver_mbox(const struct local_msg *,
	    const char *path, char **text);
enum local_status local_deliver_maildir(const struct local_msg *,
	    const char *dir, char **text);

/*
 * Once at start-up, before the drop: privileged, start the pipe launcher
 * for pipe_user (-1 with *err when pipe_user is missing or root);
 * unprivileged, pipes run as ourselves. Logs which, and tells
 * privsep_pipe_runner. Before it (unit tests) pipes run as ourselves.
 */
int	 local_pipe_init(int privileged, const char *pipe_user, char **err);

/*
 * Pipes finish later: done runs on the loop (never inside this call) with
 * the status and words (valid during the call). pipe_user is what the
 * running configuration says; the launcher keeps the one it started with
 * (a change is logged once, at the first pipe under it: it needs a
 * restart). Returns 0, or -1 when nothing
 * was started (done does not run; *text set).
 */
typedef void (*local_done_cb)(void *arg, enum local_status, const char *text);
int	 local_pipe_start(const struct local_msg *, const char *command,
	    const char *pipe_user, int64_t timeout_s, local_done_cb, void *arg,
	    char **text);
/*
 * Kill every running pipe (shutdown); each callback runs at once with
 * LOCAL_TEMPFAIL so its owner can free what it holds.
 */
void	 local_shutdown(void);

#endif
