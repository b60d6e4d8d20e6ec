/*
 * privsep: dropping root for good and judging who can read a secret.
 *
 * Promises (DESIGN §12 Privileges): started as root the daemon drops to
 * `user` with its supplementary groups and proves it cannot regain root;
 * started unprivileged it stays so. Secret files are judged for the user
 * that will read them with stat() and that user's groups, never with
 * access() as root, and every warning carries the exact command that
 * fixes it. The pipe launcher (below) is the one process that keeps
 * root after the drop, for one job: starting "|command" pipes as
 * pipe_user.
 */
#ifndef HIKYAKU_PRIVSEP_H
#define HIKYAKU_PRIVSEP_H

#include <stdint.h>
#include <sys/types.h>

struct diags;

/* 0, or -1 with *err (allocated) naming the fix when the user is missing. */
int	 privsep_lookup_user(const char *name, uid_t *, gid_t *, char **err);

/*
 * As root: initgroups, setgid, setuid to `user`, then check that neither
 * uid nor gid 0 can be regained. Not root: nothing to do, success.
 * Refuses to keep root when user is NULL, empty or resolves to uid 0.
 */
int	 privsep_drop(const char *user, char **err);

/*
 * Warn (into d, naming path) when others may read the secret, or when
 * `user` cannot read it; user NULL means the calling process's own
 * credentials. `what` names the secret in the message ("remotes with
 * --pass"). Returns 0 when nothing was wrong, -1 when a warning was added.
 * A missing file is a warning too.
 */
int	 privsep_check_secret(const char *path, const char *user,
	    struct diags *d, const char *what);

/*
 * The pipe launcher (DESIGN §12 "Local delivery"). Forked as root before
 * the drop, it runs every pipe as pipe_user, never as root nor as anyone
 * else, in its own session with an empty signal mask and default signal
 * dispositions. It speaks over a SOCK_SEQPACKET socketpair. The daemon
 * sends START (an id, the command, the environment, the working
 * directory, and the child's stdin, stdout and stderr by SCM_RIGHTS) and
 * KILL (an id: SIGKILL that child's process group); the launcher answers
 * STARTED (id, pid), FAILED (id, errno: no child) and EXITED (id, wait
 * status), since only it can reap and signal its children. The daemon's
 * user may be compromised: a request that breaks the limits below ends
 * the launcher, and so does the daemon's end closing; either way it
 * first kills every pipe still running.
 */
#define PRIVSEP_LAUNCH_MAX	32768	/* bytes in one request */
#define PRIVSEP_LAUNCH_ENV	16	/* environment strings in a request */
#define PRIVSEP_LAUNCH_KIDS	1024	/* pipes running at once */

enum privsep_launch_type {
	PRIVSEP_LAUNCH_START = 1,
	PRIVSEP_LAUNCH_KILL,
	PRIVSEP_LAUNCH_STARTED,
	PRIVSEP_LAUNCH_FAILED,
	PRIVSEP_LAUNCH_EXITED
};

/* What the launcher says: value is a pid, an errno or a wait status. */
struct privsep_launch_event {
	uint32_t	 type;
	uint32_t	 id;
	int32_t		 value;
};

/*
 * As root: fork the launcher for pipe_user (refused when it is missing or
 * has uid or gid 0). Returns our end of the socket (CLOEXEC,
 * non-blocking) and the launcher's pid in *pid, or -1 with *err.
 */
int	 privsep_launcher_start(const char *pipe_user, pid_t *pid,
	    char **err);

/*
 * Ask for a child: fds are its stdin, stdout and stderr (ours stay open;
 * close them after). 0, or -1 with *err (too long, launcher gone or busy).
 */
int	 privsep_launcher_send_start(int sock, uint32_t id,
	    const char *command, char *const envp[], const char *cwd,
	    const int fds[3], char **err);
int	 privsep_launcher_send_kill(int sock, uint32_t id);

/* 1 with *ev, 0 when nothing waits, -1 when the launcher is gone. */
int	 privsep_launcher_recv(int sock, struct privsep_launch_event *ev);

/* sendmail's EX_TEMPFAIL: a pipe that exits with it defers the mail. */
#define PRIVSEP_EX_TEMPFAIL	75

/*
 * In a freshly forked child: become a pipe (stdin in, stdout out, stderr
 * errfd; the rest closed), switch to uid/gid when switch_user, chdir to
 * cwd and run `/bin/sh -c command` with exactly envp. Exits
 * PRIVSEP_EX_TEMPFAIL on any failure; never returns.
 */
void	 privsep_pipe_exec(int in, int out, int errfd, const char *command,
	    char *const envp[], const char *cwd, int switch_user, uid_t uid,
	    gid_t gid) __attribute__((noreturn));

/*
 * Who pipes run as in this process: set once by the daemon at start-up,
 * NULL elsewhere (the console's tracer cannot know how hikyakud runs).
 */
void	 privsep_pipe_runner_set(const char *user);
const char *privsep_pipe_runner(void);

#endif
