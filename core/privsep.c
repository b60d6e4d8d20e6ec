/*
 * privsep: user lookup, dropping root, judging secret files for the user
 * that will read them, and the pipe launcher.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "privsep.h"
#include "util.h"

int
privsep_lookup_user(const char *name, uid_t *uid, gid_t *gid, char **err)
{
	struct passwd *pw;

	errno = 0;
	if (name == NULL || *name == '\0') {
		xasprintf(err, "no user configured (set user = NAME in "
		    "hikyaku.conf)");
		return -1;
	}
	if ((pw = getpwnam(name)) == NULL) {
		if (errno != 0)
			xasprintf(err, "looking up user %s: %s", name,
			    strerror(errno));
		else
			xasprintf(err, "no such user %s (create it: useradd "
			    "--system --home-dir /nonexistent --shell "
			    "/usr/sbin/nologin %s)", name, name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
privsep_drop(const char *user, char **err)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (privsep_lookup_user(user, &uid, &gid, err) == -1)
		return -1;
	if (uid == 0) {
		xasprintf(err, "refusing to run as root: user = %s is uid 0; "
		    "set user to an unprivileged account", user);
		return -1;
	}
	if (initgroups(user, gid) == -1) {
		xasprintf(err, "initgroups %s: %s", user, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		xasprintf(err, "setresgid %lu: %s", (unsigned long)gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		xasprintf(err, "setresuid %lu: %s", (unsigned long)uid,
		    strerror(errno));
		return -1;
	}
	/* Prove the drop is for good: none of these may succeed now. */
	if (setuid(0) == 0 || seteuid(0) == 0 || geteuid() == 0 ||
	    getuid() == 0 || (gid != 0 && (setgid(0) == 0 ||
	    getegid() == 0))) {
		xasprintf(err, "could regain root after dropping to %s", user);
		return -1;
	}
	return 0;
}

/* The credentials a reader has: uid, primary gid, supplementary groups. */
struct reader {
	uid_t	 uid;
	gid_t	 gid;
	gid_t	*groups;
	int	 ngroups;
	char	*name;
};

static int
reader_load(struct reader *r, const char *user, char **err)
{
	struct passwd *pw;

	memset(r, 0, sizeof(*r));
	if (user == NULL) {
		r->uid = geteuid();
		r->gid = getegid();
		r->ngroups = getgroups(0, NULL);
		if (r->ngroups < 0)
			r->ngroups = 0;
		r->groups = xreallocarray(NULL, (size_t)r->ngroups + 1,
		    sizeof(gid_t));
		r->ngroups = getgroups(r->ngroups, r->groups);
		if (r->ngroups < 0)
			r->ngroups = 0;
		pw = getpwuid(r->uid);
		if (pw != NULL)
			r->name = xstrdup(pw->pw_name);
		else
			xasprintf(&r->name, "%lu", (unsigned long)r->uid);
		return 0;
	}
	if (privsep_lookup_user(user, &r->uid, &r->gid, err) == -1)
		return -1;
	r->name = xstrdup(user);
	r->ngroups = 16;
	r->groups = xreallocarray(NULL, (size_t)r->ngroups, sizeof(gid_t));
	if (getgrouplist(user, r->gid, r->groups, &r->ngroups) == -1) {
		/* ngroups now holds the size needed. */
		r->groups = xreallocarray(r->groups, (size_t)r->ngroups,
		    sizeof(gid_t));
		if (getgrouplist(user, r->gid, r->groups, &r->ngroups) == -1)
			r->ngroups = 0;
	}
	return 0;
}

static int
reader_in_group(const struct reader *r, gid_t g)
{
	if (r->gid == g)
		return 1;
	for (int i = 0; i < r->ngroups; i++)
		if (r->groups[i] == g)
			return 1;
	return 0;
}

/* Read permission as the kernel judges it for r (root reads anything). */
static int
reader_can_read(const struct reader *r, uid_t owner, gid_t group,
    mode_t mode)
{
	if (r->uid == 0)
		return 1;
	if (r->uid == owner)
		return (mode & S_IRUSR) != 0;
	if (reader_in_group(r, group))
		return (mode & S_IRGRP) != 0;
	return (mode & S_IROTH) != 0;
}

static char *
group_name(gid_t g)
{
	struct group *gr = getgrgid(g);
	char *s;

	if (gr != NULL)
		return xstrdup(gr->gr_name);
	xasprintf(&s, "%lu", (unsigned long)g);
	return s;
}

static char *
owner_name(uid_t u)
{
	struct passwd *pw = getpwuid(u);
	char *s;

	if (pw != NULL)
		return xstrdup(pw->pw_name);
	xasprintf(&s, "%lu", (unsigned long)u);
	return s;
}

int
privsep_check_secret(const char *path, const char *user, struct diags *d,
    const char *what)
{
	struct reader r;
	struct stat st;
	mode_t mode, want;
	int world, readable, need_chgrp = 0;
	char *err = NULL, *owner, *group, *fix;

	if (stat(path, &st) == -1) {
		diags_add(d, path, 0, 0, DIAG_WARNING, "%s: %s", what,
		    strerror(errno));
		return -1;
	}
	if (reader_load(&r, user, &err) == -1) {
		diags_add(d, path, 0, 0, DIAG_WARNING,
		    "%s: cannot judge who may read it: %s", what, err);
		free(err);
		return -1;
	}
	mode = st.st_mode & 07777;
	world = (mode & S_IROTH) != 0;
	readable = reader_can_read(&r, st.st_uid, st.st_gid, mode);
	if (!world && readable) {
		free(r.groups);
		free(r.name);
		return 0;
	}

	/*
	 * The fix: take read (and write) away from others; if the reader
	 * then cannot read the file, give it the reader's primary group
	 * with group read (the 0640 root:hikyaku layout of DESIGN §12).
	 */
	want = mode & ~(mode_t)S_IRWXO;
	if (!reader_can_read(&r, st.st_uid, st.st_gid, want)) {
		if (r.uid == st.st_uid)
			want |= S_IRUSR;
		else {
			need_chgrp = !reader_in_group(&r, st.st_gid);
			want |= S_IRGRP;
			want &= ~(mode_t)S_IWGRP;
		}
	}
	owner = owner_name(st.st_uid);
	group = group_name(st.st_gid);
	if (need_chgrp) {
		char *g = group_name(r.gid);

		xasprintf(&fix, "chgrp %s %s && chmod %04o %s", g, path,
		    (unsigned)want, path);
		free(g);
	} else
		xasprintf(&fix, "chmod %04o %s", (unsigned)want, path);

	if (!readable)
		diags_add(d, path, 0, 0, DIAG_WARNING,
		    "%s is not readable by user %s (owner %s:%s, mode %04o)%s; "
		    "fix: %s", what, r.name, owner, group, (unsigned)mode,
		    world ? " and is readable by everyone" : "", fix);
	else
		diags_add(d, path, 0, 0, DIAG_WARNING,
		    "%s is readable by everyone (owner %s:%s, mode %04o); "
		    "fix: %s", what, owner, group, (unsigned)mode, fix);
	free(fix);
	free(owner);
	free(group);
	free(r.groups);
	free(r.name);
	return -1;
}

/* ---- the pipe launcher ---- */

#define LAUNCH_EXIT_BAD		2	/* exit on a malformed request */

/* A request: this, then command, cwd and nenv strings, each NUL-ended. */
struct launch_hdr {
	uint32_t	 type;
	uint32_t	 id;
	uint32_t	 nenv;
};

struct launch_kid {
	uint32_t	 id;
	pid_t		 pid;
};

static char	*pipe_runner;

void
privsep_pipe_runner_set(const char *user)
{
	free(pipe_runner);
	pipe_runner = user != NULL ? xstrdup(user) : NULL;
}

const char *
privsep_pipe_runner(void)
{
	return pipe_runner;
}

void
privsep_pipe_exec(int in, int out, int errfd, const char *command,
    char *const envp[], const char *cwd, int switch_user, uid_t uid,
    gid_t gid)
{
	sigset_t none;
	int sig;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(errfd, 2) == -1)
		_exit(PRIVSEP_EX_TEMPFAIL);
	/* Everything is CLOEXEC already; this is the belt to those braces. */
	close_range(3, ~0U, 0);
	if (switch_user && (uid == 0 || gid == 0 ||
	    setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1 || geteuid() != uid))
		_exit(PRIVSEP_EX_TEMPFAIL);
	if (chdir(cwd) == -1)
		_exit(PRIVSEP_EX_TEMPFAIL);
	execle("/bin/sh", "sh", "-c", command, (char *)NULL, envp);
	_exit(PRIVSEP_EX_TEMPFAIL);
}

/* Kill every pipe still running and wait for them: the launcher ends. */
static void __attribute__((noreturn))
launcher_exit(struct launch_kid *kids, size_t nkids, int code)
{
	size_t i;

	for (i = 0; i < nkids; i++) {
		kill(-kids[i].pid, SIGKILL);
		kill(kids[i].pid, SIGKILL);
	}
	for (i = 0; i < nkids; i++)
		while (waitpid(kids[i].pid, NULL, 0) == -1 && errno == EINTR)
			continue;
	_exit(code);
}

static void
launcher_say(int sock, uint32_t type, uint32_t id, int32_t value,
    struct launch_kid *kids, size_t nkids)
{
	struct privsep_launch_event ev = { type, id, value };

	/* Blocking: the daemon reads on its loop and never waits for us. */
	while (send(sock, &ev, sizeof ev, MSG_NOSIGNAL) == -1)
		if (errno != EINTR)
			launcher_exit(kids, nkids, 0);
}

/* A string of the request at *off, NUL-ended inside len; NULL if not. */
static const char *
launcher_string(const char *buf, size_t len, size_t *off)
{
	const char *s = buf + *off, *nul;

	if (*off >= len || (nul = memchr(s, '\0', len - *off)) == NULL)
		return NULL;
	*off += (size_t)(nul - s) + 1;
	return s;
}

/*
 * One request: 0 when served, -1 when malformed (the caller ends us).
 * Received descriptors are closed here whatever happens.
 */
static int
launcher_serve(int sock, uid_t uid, gid_t gid, struct launch_kid *kids,
    size_t *nkids)
{
	static char buf[PRIVSEP_LAUNCH_MAX + 1];
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof buf };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	struct launch_hdr h;
	const char *command, *cwd;
	char *envp[PRIVSEP_LAUNCH_ENV + 1];
	int fds[4], nfds = 0, rc = -1, bad = 0, fd, n;
	size_t off, len, i, k;
	ssize_t got;
	pid_t pid;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	while ((got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) == -1)
		if (errno != EINTR)
			launcher_exit(kids, *nkids, 0);
	if (got == 0)	/* the daemon closed its end */
		launcher_exit(kids, *nkids, 0);
	/* Keep every descriptor that came, to close it; more than 4 is bad. */
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		for (k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		    k++) {
			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof fd);
			if (nfds < 4)
				fds[nfds++] = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	len = (size_t)got;
	if (bad || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    len < sizeof h || len > PRIVSEP_LAUNCH_MAX)
		goto out;
	memcpy(&h, buf, sizeof h);
	if (h.type == PRIVSEP_LAUNCH_KILL) {
		if (nfds != 0 || len != sizeof h)
			goto out;
		for (k = 0; k < *nkids; k++)
			if (kids[k].id == h.id) {
				kill(-kids[k].pid, SIGKILL);
				kill(kids[k].pid, SIGKILL);
			}
		rc = 0;
		goto out;
	}
	if (h.type != PRIVSEP_LAUNCH_START || nfds != 3 ||
	    h.nenv > PRIVSEP_LAUNCH_ENV)
		goto out;
	off = sizeof h;
	command = launcher_string(buf, len, &off);
	cwd = launcher_string(buf, len, &off);
	if (command == NULL || *command == '\0' || cwd == NULL || *cwd != '/')
		goto out;
	for (i = 0; i < h.nenv; i++) {
		envp[i] = (char *)launcher_string(buf, len, &off);
		if (envp[i] == NULL || envp[i][0] == '=' ||
		    strchr(envp[i], '=') == NULL)
			goto out;
	}
	envp[i] = NULL;
	if (off != len)
		goto out;
	rc = 0;
	if (*nkids >= PRIVSEP_LAUNCH_KIDS) {
		launcher_say(sock, PRIVSEP_LAUNCH_FAILED, h.id, EAGAIN, kids,
		    *nkids);
		goto out;
	}
	if ((pid = fork()) == 0)
		privsep_pipe_exec(fds[0], fds[1], fds[2], command, envp, cwd, 1,
		    uid, gid);
	if (pid == -1) {
		launcher_say(sock, PRIVSEP_LAUNCH_FAILED, h.id, errno, kids,
		    *nkids);
		goto out;
	}
	kids[*nkids].id = h.id;
	kids[*nkids].pid = pid;
	(*nkids)++;
	launcher_say(sock, PRIVSEP_LAUNCH_STARTED, h.id, pid, kids, *nkids);
out:
	for (n = 0; n < nfds; n++)
		close(fds[n]);
	return rc;
}

/* Report every child that ended. */
static void
launcher_reap(int sock, struct launch_kid *kids, size_t *nkids)
{
	size_t k;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (k = 0; k < *nkids; k++) {
			if (kids[k].pid != pid)
				continue;
			launcher_say(sock, PRIVSEP_LAUNCH_EXITED, kids[k].id,
			    status, kids, *nkids);
			kids[k] = kids[--*nkids];
			break;
		}
}

static void __attribute__((noreturn))
launcher_run(int sock, uid_t uid, gid_t gid)
{
	static struct launch_kid kids[PRIVSEP_LAUNCH_KIDS];
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	sigset_t chld;
	size_t nkids = 0;
	int sfd;

	/* Only the socket stays (0-2 are /dev/null or the test's logs). */
	if (dup2(sock, 3) == -1)
		_exit(1);
	close_range(4, ~0U, 0);
	sock = 3;
	/* ^C on a foreground daemon: live until it closes our socket. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (chdir("/") == -1 || sigprocmask(SIG_SETMASK, &chld, NULL) == -1 ||
	    (sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		_exit(1);
	pfd[0].fd = sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			launcher_exit(kids, nkids, 1);
		}
		if (pfd[1].revents != 0) {
			while (read(sfd, &si, sizeof si) == sizeof si)
				continue;
			launcher_reap(sock, kids, &nkids);
		}
		if (pfd[0].revents != 0 &&
		    launcher_serve(sock, uid, gid, kids, &nkids) == -1)
			launcher_exit(kids, nkids, LAUNCH_EXIT_BAD);
	}
}

int
privsep_launcher_start(const char *pipe_user, pid_t *pid, char **err)
{
	uid_t uid;
	gid_t gid;
	int sv[2];

	if (pipe_user == NULL || *pipe_user == '\0') {
		xasprintf(err, "pipe_user is empty: set it to an unprivileged "
		    "account (the default is nobody)");
		return -1;
	}
	if (privsep_lookup_user(pipe_user, &uid, &gid, err) == -1)
		return -1;
	if (uid == 0 || gid == 0) {
		xasprintf(err, "refusing to run pipes as root: pipe_user = %s "
		    "has uid %lu, gid %lu; set pipe_user to an unprivileged "
		    "account", pipe_user, (unsigned long)uid,
		    (unsigned long)gid);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		xasprintf(err, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((*pid = fork()) == -1) {
		xasprintf(err, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (*pid == 0) {
		close(sv[0]);
		launcher_run(sv[1], uid, gid);
	}
	close(sv[1]);
	set_nonblock(sv[0]);
	return sv[0];
}

int
privsep_launcher_send_start(int sock, uint32_t id, const char *command,
    char *const envp[], const char *cwd, const int fds[3], char **err)
{
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct launch_hdr h = { PRIVSEP_LAUNCH_START, id, 0 };
	struct msghdr msg = { 0 };
	struct iovec iov;
	struct cmsghdr *cm;
	struct buf b;
	size_t i;
	int rc = 0;

	buf_init(&b);
	for (i = 0; envp[i] != NULL; i++)
		continue;
	h.nenv = (uint32_t)i;
	buf_add(&b, &h, sizeof h);
	buf_add(&b, command, strlen(command) + 1);
	buf_add(&b, cwd, strlen(cwd) + 1);
	for (i = 0; envp[i] != NULL; i++)
		buf_add(&b, envp[i], strlen(envp[i]) + 1);
	if (h.nenv > PRIVSEP_LAUNCH_ENV || b.len > PRIVSEP_LAUNCH_MAX) {
		xasprintf(err, "command and environment too long for the pipe "
		    "launcher (%zu bytes, at most %d)", b.len,
		    PRIVSEP_LAUNCH_MAX);
		buf_free(&b);
		return -1;
	}
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) == -1) {
		if (errno == EINTR)
			continue;
		xasprintf(err, "pipe launcher: %s", errno == EAGAIN ?
		    "busy, try later" : strerror(errno));
		rc = -1;
		break;
	}
	buf_free(&b);
	return rc;
}

int
privsep_launcher_send_kill(int sock, uint32_t id)
{
	struct launch_hdr h = { PRIVSEP_LAUNCH_KILL, id, 0 };

	while (send(sock, &h, sizeof h, MSG_NOSIGNAL) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

int
privsep_launcher_recv(int sock, struct privsep_launch_event *ev)
{
	ssize_t n;

	while ((n = recv(sock, ev, sizeof *ev, 0)) == -1)
		if (errno != EINTR)
			return errno == EAGAIN ? 0 : -1;
	/* The launcher writes whole events; anything else means it is gone. */
	return n == (ssize_t)sizeof *ev ? 1 : -1;
}
