/*
 * local: mbox, Maildir and pipe delivery. The message in the queue has
 * CRLF line ends; everything written here uses LF, as local mail tools
 * expect.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "local.h"
#include "log.h"
#include "privsep.h"
#include "util.h"

#define LOCAL_LOCK_TRIES	10	/* 20 ms apart: a busy mbox defers */
#define LOCAL_LOCK_STALE	300	/* seconds: an older dotlock is dead */
#define LOCAL_OUTPUT_MAX	1024	/* pipe output kept for the DSN */

/* ---- the message as local tools want it ---- */

static int
read_message(int fd, struct buf *b)
{
	char	 chunk[65536];
	ssize_t	 n;
	off_t	 off = 0;

	while ((n = pread(fd, chunk, sizeof chunk, off)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf_add(b, chunk, (size_t)n);
		off += n;
	}
	return (0);
}

/*
 * Headers we add, then the message with LF line ends. mbox adds the
 * "From " line and quotes body lines matching ">*From " (mboxrd, so the
 * quoting can be undone exactly), and ends with an empty line.
 */
static int
format_message(const struct local_msg *m, int mbox, struct buf *out)
{
	struct buf	 in;
	const char	*p, *end, *nl;
	size_t		 len, q;
	time_t		 now = time(NULL);
	char		 date[64];
	struct tm	 tm;

	buf_init(&in);
	if (read_message(m->msg_fd, &in) == -1) {
		buf_free(&in);
		return (-1);
	}
	if (mbox) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
		buf_printf(out, "From %s %s\n", m->sender[0] != '\0' ?
		    m->sender : "MAILER-DAEMON", date);
	}
	buf_printf(out, "Return-Path: <%s>\n", m->sender);
	buf_printf(out, "Delivered-To: %s\n", m->rcpt);
	p = in.data;
	end = in.data + in.len;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (mbox) {
			for (q = 0; q < len && p[q] == '>'; q++)
				;
			if (len - q >= 5 && memcmp(p + q, "From ", 5) == 0)
				buf_addch(out, '>');
		}
		buf_add(out, p, len);
		buf_addch(out, '\n');
		p = nl != NULL ? nl + 1 : end;
	}
	if (mbox)
		buf_addch(out, '\n');
	buf_free(&in);
	return (0);
}

/* ---- mbox ---- */

/* Take path.lock; 0, 1 when dotlocking is impossible here, -1 busy. */
static int
dotlock_take(const char *lock)
{
	struct stat	 st;
	int		 fd, i;

	for (i = 0; i < LOCAL_LOCK_TRIES; i++) {
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1) {
			close(fd);
			return (0);
		}
		if (errno == EACCES || errno == EROFS || errno == EPERM)
			return (1);	/* no write access to the directory */
		if (errno != EEXIST)
			return (-1);
		if (stat(lock, &st) == 0 &&
		    time(NULL) - st.st_mtime > LOCAL_LOCK_STALE) {
			log_warn("removing stale lock %s", lock);
			unlink(lock);
			continue;
		}
		usleep(20000);
	}
	return (-1);
}

static int
fcntl_lock(int fd)
{
	struct flock	 fl;
	int		 i;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (i = 0; i < LOCAL_LOCK_TRIES; i++) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return (0);
		if (errno != EACCES && errno != EAGAIN)
			return (-1);
		usleep(20000);
	}
	return (-1);
}

enum local_status
local_deliver_mbox(const struct local_msg *m, const char *path, char **text)
{
	struct buf	 out;
	struct stat	 st;
	char		*lock;
	int		 fd, dl, saved;
	enum local_status rc = LOCAL_TEMPFAIL;

	*text = NULL;
	buf_init(&out);
	if (format_message(m, 1, &out) == -1) {
		xasprintf(text, "cannot read the queued message: %s",
		    strerror(errno));
		buf_free(&out);
		return (LOCAL_TEMPFAIL);
	}
	xasprintf(&lock, "%s.lock", path);
	if ((dl = dotlock_take(lock)) == -1) {
		xasprintf(text, "mailbox %s is locked (%s)", path, lock);
		goto done;
	}
	/* O_NOFOLLOW: a symlink planted as the mailbox must not redirect us. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		xasprintf(text, "cannot open mailbox %s: %s", path,
		    strerror(errno));
		if (errno == ELOOP || errno == EISDIR)
			rc = LOCAL_PERMFAIL;
		goto unlock;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		xasprintf(text, "mailbox %s is not a regular file", path);
		rc = LOCAL_PERMFAIL;
		close(fd);
		goto unlock;
	}
	if (fcntl_lock(fd) == -1) {
		xasprintf(text, "cannot lock mailbox %s: %s", path,
		    strerror(errno));
		close(fd);
		goto unlock;
	}
	/* Size after locking: another writer may have appended meanwhile. */
	if (fstat(fd, &st) == -1 || write_all(fd, out.data, out.len) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		/* Leave no half message behind. */
		if (ftruncate(fd, st.st_size) == -1)
			log_err("%s: cannot truncate %s back after a failed "
			    "delivery: %s", m->qid, path, strerror(errno));
		xasprintf(text, "cannot write mailbox %s: %s", path,
		    strerror(saved));
		close(fd);
		goto unlock;
	}
	if (close(fd) == -1) {
		xasprintf(text, "cannot write mailbox %s: %s", path,
		    strerror(errno));
		goto unlock;
	}
	xasprintf(text, "delivered to mailbox %s", path);
	rc = LOCAL_OK;
unlock:
	if (dl == 0)
		unlink(lock);
done:
	free(lock);
	buf_free(&out);
	return (rc);
}

/* ---- Maildir ---- */

static int
mkdir_p(const char *dir)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

enum local_status
local_deliver_maildir(const struct local_msg *m, const char *dir,
    char **text)
{
	static unsigned	 counter;
	struct buf	 out;
	char		*tmp = NULL, *new = NULL, *sub, host[256];
	const char	*subs[] = { "", "/tmp", "/new", "/cur" };
	size_t		 i;
	int		 fd = -1;
	enum local_status rc = LOCAL_TEMPFAIL;

	*text = NULL;
	buf_init(&out);
	for (i = 0; i < nitems(subs); i++) {
		xasprintf(&sub, "%s%s", dir, subs[i]);
		if (mkdir_p(sub) == -1) {
			xasprintf(text, "cannot create Maildir %s: %s", sub,
			    strerror(errno));
			free(sub);
			goto done;
		}
		free(sub);
	}
	if (format_message(m, 0, &out) == -1) {
		xasprintf(text, "cannot read the queued message: %s",
		    strerror(errno));
		goto done;
	}
	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	host[strcspn(host, "/:")] = '\0';
	xasprintf(&tmp, "%s/tmp/%lld.P%dQ%u.%s", dir, (long long)time(NULL),
	    (int)getpid(), counter, host);
	xasprintf(&new, "%s/new/%lld.P%dQ%u.%s", dir, (long long)time(NULL),
	    (int)getpid(), counter++, host);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, out.data, out.len) == -1 ||
	    fsync(fd) == -1 || close(fd) == -1) {
		xasprintf(text, "cannot write %s: %s", tmp, strerror(errno));
		if (fd != -1)
			unlink(tmp);
		goto done;
	}
	if (rename(tmp, new) == -1) {
		xasprintf(text, "cannot move %s into new/: %s", tmp,
		    strerror(errno));
		unlink(tmp);
		goto done;
	}
	fsync_parent_dir(new);
	xasprintf(text, "delivered to Maildir %s", dir);
	rc = LOCAL_OK;
done:
	free(tmp);
	free(new);
	buf_free(&out);
	return (rc);
}

/* ---- pipes ---- */

struct local_pipe {
	pid_t			 pid;		/* 0 until the launcher says */
	uint32_t		 id;		/* the launcher's name for it */
	int			 by_launcher;
	int			 in_fd, out_fd;
	struct ev_fd		*in_ev, *out_ev;
	struct buf		 data;		/* the message still to write */
	size_t			 off;
	struct buf		 output;	/* what the command said */
	struct ev_timer		*timer;
	int			 timed_out, exited, status;
	int			 start_errno;	/* the launcher could not fork */
	int			 orphaned;	/* the launcher died under it */
	char			*command;
	char			*qid;
	local_done_cb		 done;
	void			*arg;
	struct local_pipe	*next;
};

/* Who runs pipes, settled by local_pipe_init (DESIGN §12 Privileges). */
enum local_runner {
	RUNNER_SELF,		/* unprivileged: we fork them ourselves */
	RUNNER_LAUNCHER,	/* the root pipe launcher, as pipe_user */
	RUNNER_GONE		/* the launcher died: pipes defer */
};

static struct local_pipe	*local_pipes;
static int			 local_sigchld_set;
static enum local_runner	 local_runner = RUNNER_SELF;
static int			 launcher_fd = -1;
static pid_t			 launcher_pid;
static struct ev_fd		*launcher_ev;
static uint32_t			 launcher_next_id;
/* The pipe_user the log last said needs a restart (warn_pipe_user). */
static char			*pipe_user_warned;

static void
pipe_close_in(struct local_pipe *p)
{
	if (p->in_ev != NULL)
		ev_fd_del(p->in_ev);
	p->in_ev = NULL;
	if (p->in_fd != -1)
		close(p->in_fd);
	p->in_fd = -1;
}

static void
pipe_close_out(struct local_pipe *p)
{
	if (p->out_ev != NULL)
		ev_fd_del(p->out_ev);
	p->out_ev = NULL;
	if (p->out_fd != -1)
		close(p->out_fd);
	p->out_fd = -1;
}

static void
pipe_free(struct local_pipe *p)
{
	struct local_pipe	**pp;

	for (pp = &local_pipes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pipe_close_in(p);
	pipe_close_out(p);
	ev_timer_free(p->timer);
	buf_free(&p->data);
	buf_free(&p->output);
	free(p->command);
	free(p->qid);
	free(p);
}

/* Both the exit status and the end of the output are in: report. */
static void
pipe_finish(struct local_pipe *p)
{
	enum local_status	 st;
	char			*text, *said;

	if (!p->exited || p->out_fd != -1)
		return;
	said = p->output.len > 0 ? p->output.data : NULL;
	if (said != NULL) {
		/* One line for the log and the DSN. */
		rtrim(said);
		for (char *c = said; *c != '\0'; c++)
			if (*c == '\n' || *c == '\r' || *c == '\t')
				*c = ' ';
	}
	if (p->timed_out) {
		st = LOCAL_TEMPFAIL;
		xasprintf(&text, "command \"|%s\" timed out and was killed",
		    p->command);
	} else if (p->start_errno != 0) {
		st = LOCAL_TEMPFAIL;
		xasprintf(&text, "the pipe launcher cannot start \"|%s\": %s",
		    p->command, strerror(p->start_errno));
	} else if (p->orphaned) {
		st = LOCAL_TEMPFAIL;
		xasprintf(&text, "the pipe launcher exited while \"|%s\" ran",
		    p->command);
	} else if (WIFSIGNALED(p->status)) {
		st = LOCAL_TEMPFAIL;
		xasprintf(&text, "command \"|%s\" died of signal %d%s%s",
		    p->command, WTERMSIG(p->status), said ? ": " : "",
		    said ? said : "");
	} else if (WEXITSTATUS(p->status) == 0) {
		st = LOCAL_OK;
		xasprintf(&text, "delivered to command \"|%s\"", p->command);
	} else {
		st = WEXITSTATUS(p->status) == PRIVSEP_EX_TEMPFAIL ?
		    LOCAL_TEMPFAIL : LOCAL_PERMFAIL;
		xasprintf(&text, "command \"|%s\" exited %d%s%s", p->command,
		    WEXITSTATUS(p->status), said ? ": " : "", said ? said : "");
	}
	p->done(p->arg, st, text);
	free(text);
	pipe_free(p);
}

static void
pipe_writable(int fd, int revents, void *arg)
{
	struct local_pipe	*p = arg;
	ssize_t			 n;

	while (p->off < p->data.len) {
		n = write(fd, p->data.data + p->off, p->data.len - p->off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* EPIPE: the command stopped reading; its exit
			 * status decides. */
			break;
		}
		p->off += (size_t)n;
	}
	pipe_close_in(p);
}

/* Read what the command said so far; 1 at end of file. */
static int
pipe_drain(struct local_pipe *p)
{
	char	 chunk[512];
	ssize_t	 n;

	for (;;) {
		n = read(p->out_fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return (0);
		if (n <= 0)
			return (1);
		if (p->output.len < LOCAL_OUTPUT_MAX)
			buf_add(&p->output, chunk, (size_t)n);
	}
}

static void
pipe_readable(int fd, int revents, void *arg)
{
	struct local_pipe	*p = arg;

	if (!pipe_drain(p))
		return;
	pipe_close_out(p);
	pipe_finish(p);
}

static void
pipe_timeout(void *arg)
{
	struct local_pipe	*p = arg;

	p->timed_out = 1;
	log_warn("%s: command \"|%s\" timed out: killing process group %d",
	    p->qid, p->command, (int)p->pid);
	if (!p->by_launcher)
		kill(-p->pid, SIGKILL);
	else if (launcher_fd == -1 ||
	    privsep_launcher_send_kill(launcher_fd, p->id) == -1)
		log_err("%s: cannot ask the pipe launcher to kill \"|%s\"",
		    p->qid, p->command);
}

/* The command ended (status) or never will: report once output is in. */
static void
pipe_exited(struct local_pipe *p, int status)
{
	p->exited = 1;
	p->status = status;
	ev_timer_stop(p->timer);
	/* Grandchildren may hold the output open: do not wait. */
	if (p->out_fd != -1) {
		pipe_drain(p);
		pipe_close_out(p);
	}
	pipe_finish(p);
}

static void
launcher_close(void)
{
	if (launcher_ev != NULL)
		ev_fd_del(launcher_ev);
	launcher_ev = NULL;
	if (launcher_fd != -1)
		close(launcher_fd);
	launcher_fd = -1;
}

static void
launcher_event(const struct privsep_launch_event *ev)
{
	struct local_pipe	*p;

	for (p = local_pipes; p != NULL; p = p->next)
		if (p->by_launcher && !p->exited && p->id == ev->id)
			break;
	if (p == NULL)
		return;
	switch (ev->type) {
	case PRIVSEP_LAUNCH_STARTED:
		p->pid = ev->value;
		log_info("%s: started \"|%s\" as pid %d, user %s", p->qid,
		    p->command, (int)p->pid, privsep_pipe_runner());
		break;
	case PRIVSEP_LAUNCH_FAILED:
		p->start_errno = ev->value != 0 ? ev->value : EIO;
		pipe_exited(p, 0);
		break;
	case PRIVSEP_LAUNCH_EXITED:
		pipe_exited(p, ev->value);
		break;
	}
}

static void
launcher_readable(int fd, int revents, void *arg)
{
	struct privsep_launch_event	 ev;
	struct local_pipe		*p, *next;
	int				 rc;

	while ((rc = privsep_launcher_recv(fd, &ev)) == 1)
		launcher_event(&ev);
	if (rc == 0)
		return;
	/* It killed its children on the way out; ours see end of file. */
	log_err("the pipe launcher exited: pipes defer until hikyakud "
	    "restarts");
	launcher_close();
	local_runner = RUNNER_GONE;
	for (p = local_pipes; p != NULL; p = next) {
		next = p->next;
		if (p->by_launcher && !p->exited) {
			p->orphaned = 1;
			pipe_exited(p, 0);
		}
	}
}

static void
local_sigchld(void *arg)
{
	struct local_pipe	*p, *next;
	int			 status;

	if (launcher_pid > 0 &&
	    waitpid(launcher_pid, &status, WNOHANG) == launcher_pid) {
		if (WIFSIGNALED(status))
			log_err("the pipe launcher died of signal %d",
			    WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			log_err("the pipe launcher exited %d%s",
			    WEXITSTATUS(status), WEXITSTATUS(status) == 2 ?
			    " on a malformed request" : "");
		launcher_pid = 0;
	}
	for (p = local_pipes; p != NULL; p = next) {
		next = p->next;
		if (p->by_launcher || p->exited ||
		    waitpid(p->pid, &status, WNOHANG) != p->pid)
			continue;
		pipe_exited(p, status);
	}
}

static void
watch_sigchld(void)
{
	if (local_sigchld_set)
		return;
	if (ev_signal(SIGCHLD, local_sigchld, NULL) == -1)
		log_err("cannot watch SIGCHLD: %s", strerror(errno));
	local_sigchld_set = 1;
}

int
local_pipe_init(int privileged, const char *pipe_user, char **err)
{
	struct passwd	*pw;
	char		*self;
	int		 fd;

	if (!privileged) {
		local_runner = RUNNER_SELF;
		if ((pw = getpwuid(geteuid())) != NULL)
			self = xstrdup(pw->pw_name);
		else
			xasprintf(&self, "uid %lu", (unsigned long)geteuid());
		privsep_pipe_runner_set(self);
		log_info("pipes run as %s, the daemon's own user: hikyakud "
		    "started unprivileged, so pipe_user %s is not used", self,
		    pipe_user != NULL ? pipe_user : "(unset)");
		free(self);
		return (0);
	}
	if ((fd = privsep_launcher_start(pipe_user, &launcher_pid,
	    err)) == -1)
		return (-1);
	launcher_fd = fd;
	local_runner = RUNNER_LAUNCHER;
	launcher_ev = ev_fd_add(fd, EV_READ, launcher_readable, NULL);
	watch_sigchld();
	privsep_pipe_runner_set(pipe_user);
	log_info("pipes run as %s through the pipe launcher (pid %d)",
	    pipe_user, (int)launcher_pid);
	return (0);
}

/* Hand the child's end of the pipes to the launcher. */
static int
pipe_launch(struct local_pipe *p, const char *command, char *const envp[],
    int in_fd, int out_fd, char **text)
{
	const int	 fds[3] = { in_fd, out_fd, out_fd };

	if (local_runner == RUNNER_GONE || launcher_fd == -1) {
		xasprintf(text, "the pipe launcher exited; restart hikyakud");
		return (-1);
	}
	p->by_launcher = 1;
	p->id = ++launcher_next_id;
	return (privsep_launcher_send_start(launcher_fd, p->id, command, envp,
	    "/", fds, text));
}

/*
 * The launcher keeps the pipe_user it started with. The reload that
 * changes pipe_user says so; the first pipe after it says so again with
 * its queue ID, and the pipes after that stay quiet until pipe_user
 * changes once more.
 */
static void
warn_pipe_user(const char *qid, const char *command, const char *pipe_user)
{
	if (pipe_user == NULL || strcmp(pipe_user, privsep_pipe_runner()) == 0) {
		free(pipe_user_warned);
		pipe_user_warned = NULL;
		return;
	}
	if (pipe_user_warned != NULL && strcmp(pipe_user_warned, pipe_user) == 0)
		return;
	log_warn("%s: \"|%s\" runs as %s: pipe_user %s takes effect after a "
	    "restart", qid, command, privsep_pipe_runner(), pipe_user);
	free(pipe_user_warned);
	pipe_user_warned = xstrdup(pipe_user);
}

int
local_pipe_start(const struct local_msg *m, const char *command,
    const char *pipe_user, int64_t timeout_s, local_done_cb done, void *arg,
    char **text)
{
	struct local_pipe	*p;
	int			 in[2], out[2], rc = 0;
	char			*envp[8], *user;
	size_t			 i, ne = 0;

	*text = NULL;
	user = xstrdup(m->user != NULL ? m->user : "nobody");
	p = xcalloc(1, sizeof *p);
	buf_init(&p->data);
	buf_init(&p->output);
	if (format_message(m, 0, &p->data) == -1) {
		xasprintf(text, "cannot read the queued message: %s",
		    strerror(errno));
		buf_free(&p->data);
		free(p);
		free(user);
		return (-1);
	}
	if (pipe2(in, O_CLOEXEC) == -1) {
		xasprintf(text, "pipe: %s", strerror(errno));
		buf_free(&p->data);
		free(p);
		free(user);
		return (-1);
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		xasprintf(text, "pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		buf_free(&p->data);
		free(p);
		free(user);
		return (-1);
	}
	/* A minimal, fixed environment: nothing of ours leaks in. */
	envp[ne++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	envp[ne++] = xstrdup("SHELL=/bin/sh");
	envp[ne++] = xstrdup("HOME=/");
	xasprintf(&envp[ne++], "USER=%s", user);
	xasprintf(&envp[ne++], "SENDER=%s", m->sender);
	xasprintf(&envp[ne++], "RECIPIENT=%s", m->rcpt);
	xasprintf(&envp[ne++], "QUEUE_ID=%s", m->qid);
	envp[ne] = NULL;
	if (local_runner != RUNNER_SELF)
		rc = pipe_launch(p, command, envp, in[0], out[1], text);
	else {
		watch_sigchld();
		if ((p->pid = fork()) == 0)
			privsep_pipe_exec(in[0], out[1], out[1], command, envp,
			    "/", 0, 0, 0);
		if (p->pid == -1) {
			xasprintf(text, "fork: %s", strerror(errno));
			rc = -1;
		}
	}
	for (i = 0; i < ne; i++)
		free(envp[i]);
	free(user);
	close(in[0]);
	close(out[1]);
	if (rc == -1) {
		close(in[1]);
		close(out[0]);
		buf_free(&p->data);
		free(p);
		return (-1);
	}
	p->in_fd = in[1];
	p->out_fd = out[0];
	set_nonblock(p->in_fd);
	set_nonblock(p->out_fd);
	p->command = xstrdup(command);
	p->qid = xstrdup(m->qid);
	p->done = done;
	p->arg = arg;
	p->in_ev = ev_fd_add(p->in_fd, EV_WRITE, pipe_writable, p);
	p->out_ev = ev_fd_add(p->out_fd, EV_READ, pipe_readable, p);
	p->timer = ev_timer_new(pipe_timeout, p);
	ev_timer_after(p->timer, (uint64_t)(timeout_s > 0 ? timeout_s : 600) *
	    1000);
	p->next = local_pipes;
	local_pipes = p;
	if (p->by_launcher)
		warn_pipe_user(m->qid, command, pipe_user);
	else
		log_info("%s: started \"|%s\" as pid %d", m->qid, command,
		    (int)p->pid);
	return (0);
}

void
local_shutdown(void)
{
	struct local_pipe	*p;

	/* Closing its socket makes the launcher kill its pipes and exit. */
	launcher_close();
	if (launcher_pid > 0)
		waitpid(launcher_pid, NULL, 0);
	launcher_pid = 0;
	free(pipe_user_warned);
	pipe_user_warned = NULL;
	if (local_runner == RUNNER_LAUNCHER)
		local_runner = RUNNER_GONE;
	while ((p = local_pipes) != NULL) {
		if (!p->by_launcher) {
			kill(-p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		p->done(p->arg, LOCAL_TEMPFAIL, "interrupted by shutdown");
		pipe_free(p);
	}
}
