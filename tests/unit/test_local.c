/*
 * Tests of local.c: mbox format (From line, >From quoting, LF ends,
 * appending), locks (a held dotlock defers), no symlinked mailbox,
 * Maildir delivery, and pipes: the message on stdin with a minimal
 * environment, exit 0 / 75 / other, a signal, and the timeout that kills
 * the process group.
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "event.h"
#include "local.h"
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

static enum local_status
run_pipe(const char *command, int64_t timeout, char **text)
{
	struct local_msg	 m = lmsg();
	struct pipe_result	 r = { 0 };
	struct ev_timer		*t = ev_timer_new(give_up, NULL);
	char			*err;

	assert_int_equal(local_pipe_start(&m, command, NULL, timeout,
	    pipe_done, &r, &err), 0);
	ev_timer_after(t, 20000);
	ev_run();
	ev_timer_free(t);
	assert_true(r.done);
	*text = r.text;
	return (r.st);
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
	free(out);

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
	/* The timeout kills the whole group, the background sleep too. */
	assert_int_equal(run_pipe("sleep 30 & sleep 30", 1, &text),
	    LOCAL_TEMPFAIL);
	assert_non_null(strstr(text, "timed out"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_maildir),
		cmocka_unit_test(test_pipe),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
