/*
 * Tests of local.c: mbox format (From line, >From quoting, LF ends,
 * appending), locks (a held dotlock defers), no symlinked mailbox,
 * Maildir delivery, and pipes: the message on stdin with a minimal
 * environment, exit 0 / 75 / other, a signal, and the timeout that kills
 * the process group; as root, the same through the pipe launcher, which
 * runs them as pipe_user, refuses root and ends on a malformed request,
 * and says once per change that a new pipe_user needs a restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pwd.h>
#include <unistd.h>
#include <cmocka.h>

#include "event.h"
#include "local.h"
#include "log.h"
#include "privsep.h"
#include "util.h"

static char dir[] = "/tmp/test_local.XXXXXX";
static int msg_fd = -1;

static const char msg[] =
    "Received: from x\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "From the start\r\n"
    ">From quoted\r\n"
    "last line\r\n";

static int
setup(void **state)
{
	char	*path;

	assert_non_null(mkdtemp(dir));
	xasprintf(&path, "%s/msg", dir);
	assert_int_equal(write_file_atomic(path, msg, strlen(msg), 0600), 0);
	msg_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(msg_fd >= 0);
	free(path);
	ev_init();
	return (0);
}

static int
teardown(void **state)
{
	char	*cmd;

	close(msg_fd);
	xasprintf(&cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	ev_done();
	return (0);
}

static struct local_msg
lmsg(void)
{
	struct local_msg	 m = { .qid = "0000000000000TEST",
	    .sender = "alice@example.org", .rcpt = "bob@example.jp",
	    .user = "bob", .msg_fd = -1 };

	m.msg_fd = msg_fd;
	return (m);
}

static void
test_mbox(void **state)
{
	struct local_msg	 m = lmsg();
	char			*path, *text, *got, *lock;
	size_t			 len;

	xasprintf(&path, "%s/mbox", dir);
	assert_int_equal(local_deliver_mbox(&m, path, &text), LOCAL_OK);
	free(text);
	assert_int_equal(local_deliver_mbox(&m, path, &text), LOCAL_OK);
	free(text);
	got = read_file(path, &len);
	assert_non_null(got);
	assert_memory_equal(got, "From alice@example.org ", 23);
	assert_null(strchr(got, '\r'));
	assert_non_null(strstr(got, "\nReturn-Path: <alice@example.org>\n"
	    "Delivered-To: bob@example.jp\nReceived: from x\n"));
	assert_non_null(strstr(got, "\n>From the start\n>>From quoted\n"
	    "last line\n\nFrom alice@example.org "));
	assert_string_equal(got + len - 12, "\nlast line\n\n");
	free(got);

	/* Someone holds the dotlock: defer, and leave the mailbox alone. */
	xasprintf(&lock, "%s.lock", path);
	assert_int_equal(write_file_atomic(lock, "", 0, 0600), 0);
	assert_int_equal(local_deliver_mbox(&m, path, &text), LOCAL_TEMPFAIL);
	assert_non_null(strstr(text, "locked"));
	free(text);
	assert_int_equal(access(lock, F_OK), 0);
	unlink(lock);
	free(lock);
	free(path);

	/* A symlink planted as the mailbox is refused. */
	xasprintf(&path, "%s/link", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(local_deliver_mbox(&m, path, &text), LOCAL_PERMFAIL);
	free(text);
	free(path);
}

static void
test_maildir(void **state)
{
	struct local_msg	 m = lmsg();
	char			*md, *newdir, *text;
	DIR			*dp;
	struct dirent		*de;
	int			 files = 0;

	xasprintf(&md, "%s/Maildir", dir);
	assert_int_equal(local_deliver_maildir(&m, md, &text), LOCAL_OK);
	free(text);
	xasprintf(&newdir, "%s/new", md);
	dp = opendir(newdir);
	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			files++;
	closedir(dp);
	assert_int_equal(files, 1);
	free(newdir);
	free(md);
}

struct pipe_result {
	int			 done;
	enum local_status	 st;
	char			*text;
};

static void
pipe_done(void *arg, enum local_status st, const char *text)
{
	struct pipe_result	*r = arg;

	r->done = 1;
	r->st = st;
	r->text = xstrdup(text);
	ev_break();
}

static void
give_up(void *arg)
{
	ev_break();
}

/* pipe_user: what the running configuration says (NULL: unset). */
static enum local_status
run_pipe_as(const char *command, const char *pipe_user, int64_t timeout,
    char **text)
{
	struct local_msg	 m = lmsg();
	struct pipe_result	 r = { 0 };
	struct ev_timer		*t = ev_timer_new(give_up, NULL);
	char			*err;

	assert_int_equal(local_pipe_start(&m, command, pipe_user, timeout,
	    pipe_done, &r, &err), 0);
	ev_timer_after(t, 20000);
	ev_run();
	ev_timer_free(t);
	assert_true(r.done);
	*text = r.text;
	return (r.st);
}

static enum local_status
run_pipe(const char *command, int64_t timeout, char **text)
{
	return (run_pipe_as(command, NULL, timeout, text));
}

static void
count_restart_warnings(enum log_level lvl, const char *line, void *arg)
{
	int	*n = arg;

	if (lvl == LOG_LVL_WARN &&
	    strstr(line, "takes effect after a restart") != NULL)
		(*n)++;
}

/*
 * A pipe_user the launcher does not run as is said once per change of
 * the configuration, not at every pipe; one it runs as is not said.
 */
static void
check_pipe_user_warned_once(void)
{
	static const struct {
		const char	*pipe_user;
		int		 warnings;	/* so far, after this pipe */
	} steps[] = {
		{ "bin", 1 }, { "bin", 1 }, { "nobody", 2 }, { "nobody", 2 },
		{ "daemon", 2 }, { "bin", 3 }, { "bin", 3 },
	};
	char	*text;
	size_t	 i;
	int	 n = 0;

	log_set_observer(count_restart_warnings, &n);
	for (i = 0; i < nitems(steps); i++) {
		assert_int_equal(run_pipe_as("cat >/dev/null",
		    steps[i].pipe_user, 10, &text), LOCAL_OK);
		free(text);
		if (n != steps[i].warnings)
			fail_msg("pipe %zu (pipe_user %s): %d warnings, want %d",
			    i, steps[i].pipe_user, n, steps[i].warnings);
	}
	log_set_observer(NULL, NULL);
}

/* Is any process of group pgid still running (a zombie is not)? */
static int
group_running(long pgid)
{
	DIR		*d = opendir("/proc");
	struct dirent	*e;
	char		*path, *stat, *close_paren, st;
	long		 pgrp;
	int		 running = 0;

	assert_non_null(d);
	while (!running && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		xasprintf(&path, "/proc/%s/stat", e->d_name);
		stat = read_file(path, NULL);
		free(path);
		if (stat == NULL)
			continue;
		/* "pid (comm) state ppid pgrp": comm may hold anything. */
		close_paren = strrchr(stat, ')');
		if (close_paren != NULL && sscanf(close_paren + 1,
		    " %c %*d %ld", &st, &pgrp) == 2 && pgrp == pgid &&
		    st != 'Z')
			running = 1;
		free(stat);
	}
	closedir(d);
	return (running);
}

/*
 * Exit 75 and a signal defer, other codes bounce with what the command
 * said, and the timeout kills the whole group, the background sleep too
 * (its leader writes the group's id to pgid_file).
 */
static void
check_outcomes(const char *pgid_file)
{
	char	*cmd, *text, *pgid;
	int	 tries;

	assert_int_equal(run_pipe("cat >/dev/null; exit 75", 10, &text),
	    LOCAL_TEMPFAIL);
	assert_non_null(strstr(text, "exited 75"));
	free(text);
	assert_int_equal(run_pipe("echo no such user >&2; exit 67", 10, &text),
	    LOCAL_PERMFAIL);
	assert_non_null(strstr(text, "exited 67: no such user"));
	free(text);
	assert_int_equal(run_pipe("kill -TERM $$", 10, &text), LOCAL_TEMPFAIL);
	assert_non_null(strstr(text, "signal 15"));
	free(text);
	xasprintf(&cmd, "echo $$ > %s; sleep 30 & sleep 30", pgid_file);
	assert_int_equal(run_pipe(cmd, 1, &text), LOCAL_TEMPFAIL);
	assert_non_null(strstr(text, "timed out"));
	free(text);
	free(cmd);
	pgid = read_file(pgid_file, NULL);
	assert_non_null(pgid);
	for (tries = 0; group_running(atol(pgid)) && tries < 100; tries++)
		usleep(50000);
	assert_false(group_running(atol(pgid)));
	free(pgid);
}

static void
test_pipe(void **state)
{
	char	*cmd, *out, *text, *got;

	xasprintf(&out, "%s/pipe.out", dir);
	xasprintf(&cmd, "{ env | sort; ls /proc/self/fd | wc -l; cat; } > %s",
	    out);
	assert_int_equal(run_pipe(cmd, 10, &text), LOCAL_OK);
	free(text);
	got = read_file(out, NULL);
	assert_non_null(got);
	assert_non_null(strstr(got, "RECIPIENT=bob@example.jp\n"));
	assert_non_null(strstr(got, "SENDER=alice@example.org\n"));
	assert_null(strstr(got, "LD_PRELOAD"));
	assert_non_null(strstr(got, "\nFrom the start\n"));
	assert_null(strchr(got, '\r'));
	free(got);
	free(cmd);
	xasprintf(&cmd, "%s/pgid", dir);
	check_outcomes(cmd);
	free(cmd);
	free(out);
}

/* The launcher ends on a request it cannot trust, killing nothing else. */
static void
expect_launcher_refuses(const void *req, size_t len)
{
	struct privsep_launch_event	 ev;
	pid_t				 pid;
	int				 sock, status, rc;
	char				*err = NULL;

	sock = privsep_launcher_start("daemon", &pid, &err);
	assert_true(sock >= 0);
	assert_int_equal(send(sock, req, len, 0), (ssize_t)len);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	while ((rc = privsep_launcher_recv(sock, &ev)) == 0)
		continue;
	assert_int_equal(rc, -1);
	close(sock);
}

static void
test_pipe_launcher(void **state)
{
	struct passwd	*pw;
	char		*err = NULL, *text, *cmd, *out, *got, *want;
	uint32_t	 kill_extra[4] = { PRIVSEP_LAUNCH_KILL, 1, 0, 0 };
	uint32_t	 start_no_fds[3] = { PRIVSEP_LAUNCH_START, 1, 0 };

	if (geteuid() != 0)
		skip();
	assert_non_null(pw = getpwnam("daemon"));
	assert_true(pw->pw_uid != 0);
	assert_int_equal(privsep_launcher_start("root", NULL, &err), -1);
	assert_non_null(strstr(err, "refusing to run pipes as root"));
	free(err);
	err = NULL;
	expect_launcher_refuses("x", 1);
	expect_launcher_refuses(kill_extra, sizeof kill_extra);
	expect_launcher_refuses(start_no_fds, sizeof start_no_fds);

	assert_int_equal(local_pipe_init(1, "daemon", &err), 0);
	assert_string_equal(privsep_pipe_runner(), "daemon");
	/* pipe_user must reach the output file. */
	assert_int_equal(chmod(dir, 0711), 0);
	xasprintf(&out, "%s/drop", dir);
	assert_int_equal(mkdir(out, 01777), 0);
	assert_int_equal(chmod(out, 01777), 0);
	free(out);
	xasprintf(&out, "%s/drop/ids", dir);
	xasprintf(&cmd, "{ id -u; id -g; id -G; pwd; cat; } > %s", out);
	assert_int_equal(run_pipe(cmd, 10, &text), LOCAL_OK);
	free(text);
	got = read_file(out, NULL);
	assert_non_null(got);
	xasprintf(&want, "%lu\n%lu\n%lu\n/\n", (unsigned long)pw->pw_uid,
	    (unsigned long)pw->pw_gid, (unsigned long)pw->pw_gid);
	assert_memory_equal(got, want, strlen(want));
	assert_non_null(strstr(got, "\nFrom the start\n"));
	free(want);
	free(got);
	free(cmd);
	free(out);
	/* Only the launcher can reap and kill pipe_user's processes. */
	xasprintf(&out, "%s/drop/pgid", dir);
	check_outcomes(out);
	free(out);
	check_pipe_user_warned_once();
	local_shutdown();
	assert_int_equal(local_pipe_init(0, NULL, &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_maildir),
		cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_pipe_launcher),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
