/*
 * cli_session: `hikyaku trace --session --client IP [--auth USER]
 * [--mode relay|submission]` (DESIGN §6). It drives `hikyakud -bh IP`
 * through pipes, so every answer comes from the daemon's own session
 * state machine and rules, and nothing is queued. One line goes to the
 * daemon, then its reply (with the ">>> " lines naming the rule behind
 * it) is shown before the next line is read: on a terminal with a
 * readline prompt, from a pipe without one, each client line echoed as
 * "<<< LINE" so a transcript reads in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"
#include "util.h"
#include "help/usage.h"

struct bh {
	pid_t	 pid;
	FILE	*to;		/* the daemon's stdin */
	FILE	*from;		/* its stdout */
};

/* $HIKYAKUD (tests: the build tree's), else the installed daemon. */
static const char *
hikyakud_path(void)
{
	const char	*p = getenv("HIKYAKUD");

	return (p != NULL && *p != '\0' ? p : HIKYAKU_SBINDIR "/hikyakud");
}

static int
bh_start(struct bh *bh, const char *confdir, const char *ip,
    const char *user, const char *mode)
{
	int		 in[2], out[2];
	const char	*argv[12];
	int		 n = 0;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		fprintf(stderr, "hikyaku trace: pipe: %s\n", strerror(errno));
		return (-1);
	}
	argv[n++] = "hikyakud";
	argv[n++] = "-C";
	argv[n++] = confdir;
	argv[n++] = "-bh";
	argv[n++] = ip;
	if (user != NULL) {
		argv[n++] = "-a";
		argv[n++] = user;
	}
	if (mode != NULL) {
		argv[n++] = "-m";
		argv[n++] = mode;
	}
	argv[n] = NULL;
	if ((bh->pid = fork()) == -1) {
		fprintf(stderr, "hikyaku trace: fork: %s\n", strerror(errno));
		return (-1);
	}
	if (bh->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(hikyakud_path(), (char *const *)argv);
		fprintf(stderr, "hikyaku trace: %s: %s\n", hikyakud_path(),
		    strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	bh->to = fdopen(in[1], "w");
	bh->from = fdopen(out[0], "r");
	if (bh->to == NULL || bh->from == NULL) {
		fprintf(stderr, "hikyaku trace: fdopen: %s\n", strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Show what the daemon says up to and including a final reply line
 * ("250 ..."). Returns the reply code, or -1 at EOF (session over).
 */
static int
bh_reply(struct bh *bh)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	int	 code = -1;

	while ((n = getline(&line, &cap, bh->from)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		printf("%s\n", line);
		if (n >= 3 && line[0] >= '2' && line[0] <= '5' &&
		    line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
		    line[2] <= '9' && (line[3] == ' ' || line[3] == '\0')) {
			code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			    (line[2] - '0');
			break;
		}
	}
	free(line);
	fflush(stdout);
	return (code);
}

/* The next line the user types (or the pipe holds); NULL at the end. */
static char *
next_line(int tty, int in_data, int in_auth)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if (tty) {
		line = readline(in_data ? "data> " : "smtp> ");
		/* AUTH responses are secrets: never into the history. */
		if (line != NULL && *line != '\0' && !in_data && !in_auth)
			add_history(line);
		return (line);
	}
	if ((n = getline(&line, &cap, stdin)) <= 0) {
		free(line);
		return (NULL);
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	printf("<<< %s\n", in_auth ? "(AUTH response)" : line);
	return (line);
}

int
cli_trace_session(int argc, char **argv, const char *confdir)
{
	static const struct option opts[] = {
		{ "session", no_argument, NULL, 's' },
		{ "client", required_argument, NULL, 'c' },
		{ "auth", required_argument, NULL, 'a' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct bh	 bh;
	const char	*ip = NULL, *user = NULL, *mode = NULL;
	char		*line;
	int		 ch, tty, code, in_data = 0, status;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			break;
		case 'c':
			ip = optarg;
			break;
		case 'a':
			user = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'h':
			fputs(usage_trace_session, stdout);
			return (CLI_EXIT_OK);
		default:
			fputs(usage_trace_session, stderr);
			return (CLI_EXIT_USAGE);
		}
	}
	if (ip == NULL || optind != argc || (mode != NULL &&
	    strcmp(mode, "relay") != 0 && strcmp(mode, "submission") != 0)) {
		fputs(usage_trace_session, stderr);
		return (CLI_EXIT_USAGE);
	}
	signal(SIGPIPE, SIG_IGN);
	if (bh_start(&bh, confdir, ip, user, mode) == -1)
		return (CLI_EXIT_FAIL);
	tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (tty) {
		rl_catch_signals = 0;
		rl_catch_sigwinch = 0;
		rl_change_environment = 0;
		printf("SMTP session as client %s%s%s, answered by hikyakud "
		    "-bh: nothing is queued.\nLines starting with >>> name "
		    "the rule behind the reply; end with QUIT or Ctrl-D.\n",
		    ip, user != NULL ? ", authenticated as " : "",
		    user != NULL ? user : "");
	}
	code = bh_reply(&bh);		/* the greeting */
	while (code != -1 && (line = next_line(tty, in_data,
	    code == 334)) != NULL) {
		fprintf(bh.to, "%s\r\n", line);
		fflush(bh.to);
		if (in_data && strcmp(line, ".") != 0) {
			free(line);
			continue;	/* message text: no reply until "." */
		}
		free(line);
		code = bh_reply(&bh);
		in_data = code == 354;
	}
	fclose(bh.to);
	/* Ctrl-D mid-session: the daemon sees EOF and ends; show the rest. */
	while (bh_reply(&bh) != -1)
		;
	fclose(bh.from);
	if (waitpid(bh.pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return (CLI_EXIT_FAIL);
	return (CLI_EXIT_OK);
}
