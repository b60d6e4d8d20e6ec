/*
 * cli_selftest: `hikyaku selftest [--client IP] [--rcpt ADDR]` (DESIGN
 * §6). It points the relay's own rules at itself from a simulated
 * outside client: each check is one session of `hikyakud -bh IP`, the
 * daemon's real state machine and rules with nothing queued. The
 * open-relay tricks must have their RCPT refused; the SMTP smuggling
 * sequences must be refused at the real end of DATA without the
 * smuggled commands ever being answered. Exit 0 when everything held,
 * 1 when anything got through (or could not be run).
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

#include "cli.h"
#include "config.h"
#include "util.h"
#include "help/usage.h"

#define SELFTEST_CLIENT	"192.0.2.1"	/* TEST-NET-1: never ours */
#define SELFTEST_REMOTE	"selftest.invalid"	/* never a local domain */
#define SELFTEST_MAXREPLIES 16

/* One final reply line of the session, and the rule shown before it. */
struct st_reply {
	int	 code;
	char	 text[256];
	char	 rule[128];
};

struct st_session {
	struct st_reply	 v[SELFTEST_MAXREPLIES];
	size_t		 n;
};

static const char *
hikyakud_path(void)
{
	const char	*p = getenv("HIKYAKUD");

	return (p != NULL && *p != '\0' ? p : HIKYAKU_SBINDIR "/hikyakud");
}

/* Split the -bh transcript into final replies with their rules. */
static void
parse_transcript(char *text, struct st_session *ss)
{
	char	*line, *p = text, *rule = NULL;
	size_t	 n;

	memset(ss, 0, sizeof *ss);
	while ((line = strsep(&p, "\n")) != NULL) {
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (strncmp(line, ">>> rule: ", 10) == 0) {
			rule = line + 10;
			continue;
		}
		if (n < 3 || line[0] < '2' || line[0] > '5' ||
		    (line[3] != ' ' && line[3] != '\0'))
			continue;	/* ">>> " steps, "250-" lines */
		if (ss->n == SELFTEST_MAXREPLIES)
			break;
		ss->v[ss->n].code = atoi(line);
		snprintf(ss->v[ss->n].text, sizeof ss->v[ss->n].text, "%s",
		    line);
		snprintf(ss->v[ss->n].rule, sizeof ss->v[ss->n].rule, "%s",
		    rule != NULL ? rule : "");
		rule = NULL;
		ss->n++;
	}
}

/* One session: input to hikyakud -bh ip, its replies into *ss. */
static int
run_session(const char *confdir, const char *ip, const char *input,
    struct st_session *ss)
{
	int		 in[2], out[2], status;
	pid_t		 pid;
	struct buf	 b;
	char		 chunk[4096];
	ssize_t		 n;
	size_t		 len = strlen(input), off;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		fprintf(stderr, "hikyaku selftest: pipe: %s\n",
		    strerror(errno));
		return (-1);
	}
	if ((pid = fork()) == -1) {
		fprintf(stderr, "hikyaku selftest: fork: %s\n",
		    strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(hikyakud_path(), "hikyakud", "-C", confdir, "-bh", ip,
		    (char *)NULL);
		fprintf(stderr, "hikyaku selftest: %s: %s\n", hikyakud_path(),
		    strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* A few hundred bytes: the pipe takes them all before any reply. */
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(in[1], input + off, len - off)) == -1)
			break;
	close(in[1]);
	buf_init(&b);
	while ((n = read(out[0], chunk, sizeof chunk)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		buf_add(&b, chunk, (size_t)n);
	}
	close(out[0]);
	buf_addch(&b, '\0');
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "hikyaku selftest: hikyakud -bh %s failed "
		    "(status %d)\n", ip, status);
		buf_free(&b);
		return (-1);
	}
	parse_transcript(b.data, ss);
	buf_free(&b);
	return (0);
}

struct trick {
	const char	*what;
	const char	*line;	/* the RCPT line; {L} local, {R} remote */
};

/* The open-relay tricks, as RCPT command lines. */
static const struct trick tricks[] = {
	{ "plain relay", "RCPT TO:<victim@{R}>" },
	{ "mixed case", "RCPT TO:<Victim@SelfTest.INVALID>" },
	{ "upper case", "RCPT TO:<VICTIM@SELFTEST.INVALID>" },
	{ "trailing dot", "RCPT TO:<victim@{R}.>" },
	{ "trailing dots", "RCPT TO:<victim@{R}..>" },
	{ "no angle brackets", "RCPT TO:victim@{R}" },
	{ "space after colon", "RCPT TO: <victim@{R}>" },
	{ "space inside brackets", "RCPT TO:< victim@{R} >" },
	{ "tab after colon", "RCPT TO:\t<victim@{R}>" },
	{ "percent hack", "RCPT TO:<victim%{R}@{L}>" },
	{ "percent hack, trailing dot", "RCPT TO:<victim%{R}@{L}.>" },
	{ "percent hack, upper case", "RCPT TO:<VICTIM%SELFTEST.INVALID@{L}>" },
	{ "bang path", "RCPT TO:<{R}!victim@{L}>" },
	{ "bang path, bare", "RCPT TO:<{R}!victim>" },
	{ "quoted local part with @", "RCPT TO:<\"victim@{R}\"@{L}>" },
	{ "quoted local part with %", "RCPT TO:<\"victim%{R}\"@{L}>" },
	{ "quoted local part with !", "RCPT TO:<\"{R}!victim\"@{L}>" },
	{ "source route", "RCPT TO:<@{L}:victim@{R}>" },
	{ "source route, two hops", "RCPT TO:<@{L},@{R}:victim@{R}>" },
	{ "user@remote@local", "RCPT TO:<victim@{R}@{L}>" },
	{ "IP literal not ours", "RCPT TO:<victim@[192.0.2.7]>" },
	{ "IPv6 literal not ours", "RCPT TO:<victim@[IPv6:2001:db8::7]>" },
	{ "percent hack to an IP literal", "RCPT TO:<victim%[192.0.2.7]@{L}>" },
};

/* SMTP smuggling: a fake end of DATA, then a smuggled transaction. */
static const struct smuggle {
	const char	*what;
	const char	*seq;
} smuggles[] = {
	{ "<LF>.<LF>", "\n.\n" },
	{ "<LF>.<CR><LF>", "\n.\r\n" },
	{ "<CR>.<CR>", "\r.\r" },
	{ "<CR>.<CR><LF>", "\r.\r\n" },
	{ "<CR><LF>.<LF>", "\r\n.\n" },
	{ "<CR><LF>.<CR>", "\r\n.\r" },
	{ "bare <LF> in the text", "\nmore text\r\n" },
	{ "bare <CR> in the text", "\rmore text\r\n" },
};

static int
report(int ok, const char *what, const char *detail)
{
	printf("%s  %-32s %s\n", ok ? "PASS" : "FAIL", what, detail);
	return (ok ? 0 : 1);
}

/* A trick's line with {L} and {R} filled in (allocated). */
static char *
expand(const char *line, const char *local)
{
	struct buf	 b;
	const char	*p;

	buf_init(&b);
	for (p = line; *p != '\0'; p++) {
		if (strncmp(p, "{L}", 3) == 0) {
			buf_addstr(&b, local);
			p += 2;
		} else if (strncmp(p, "{R}", 3) == 0) {
			buf_addstr(&b, SELFTEST_REMOTE);
			p += 2;
		} else
			buf_addch(&b, *p);
	}
	return (buf_take(&b));
}

/* The tricks: the RCPT reply (4th) must be a refusal. */
static int
run_tricks(const char *confdir, const char *ip, const char *local,
    int *failed)
{
	struct st_session	 ss;
	char			*rcpt, *input, *detail;
	size_t			 i;

	for (i = 0; i < nitems(tricks); i++) {
		rcpt = expand(tricks[i].line, local);
		xasprintf(&input, "EHLO selftest.invalid\r\nMAIL FROM:<selftest"
		    "@%s>\r\n%s\r\nQUIT\r\n", SELFTEST_REMOTE, rcpt);
		if (run_session(confdir, ip, input, &ss) == -1) {
			free(rcpt);
			free(input);
			return (-1);
		}
		if (ss.n > 0 && ss.v[0].code >= 400)
			xasprintf(&detail, "%s: client refused at connect: %s",
			    rcpt, ss.v[0].text);
		else if (ss.n < 4)
			xasprintf(&detail, "%s: session ended early", rcpt);
		else if (ss.v[3].code >= 400)
			xasprintf(&detail, "%s: %s", rcpt, ss.v[3].text);
		else
			xasprintf(&detail, "%s: got through: %s   rule=%s", rcpt,
			    ss.v[3].text, ss.v[3].rule[0] != '\0' ?
			    ss.v[3].rule : "?");
		*failed += report(ss.n >= 4 ? ss.v[3].code >= 400 :
		    ss.n > 0 && ss.v[0].code >= 400, tricks[i].what, detail);
		free(detail);
		free(rcpt);
		free(input);
	}
	return (0);
}

/*
 * Smuggling needs a transaction that reaches DATA. The DATA parser is the
 * same for every client, so when the outside client may not send to
 * rcpt, a loopback client (which may relay, unless access says otherwise)
 * stands in. 0 with *ip and *to set, -1 when no candidate gets to DATA.
 */
static int
smuggling_client(const char *confdir, const char *outside, const char *rcpt,
    const char **ip, const char **to)
{
	static const char	*remote = "victim@" SELFTEST_REMOTE;
	const char		*cands[][2] = {
		{ outside, rcpt }, { "127.0.0.1", rcpt }, { "127.0.0.1", remote },
	};
	struct st_session	 ss;
	char			*input;
	size_t			 i;
	int			 rc;

	for (i = 0; i < nitems(cands); i++) {
		xasprintf(&input, "EHLO selftest.invalid\r\nMAIL FROM:<selftest"
		    "@%s>\r\nRCPT TO:<%s>\r\nQUIT\r\n", SELFTEST_REMOTE,
		    cands[i][1]);
		rc = run_session(confdir, cands[i][0], input, &ss);
		free(input);
		if (rc == -1)
			return (-1);
		if (ss.n >= 4 && ss.v[3].code < 300) {
			*ip = cands[i][0];
			*to = cands[i][1];
			return (0);
		}
	}
	return (-1);
}

/*
 * The smuggling sequences: after 354, exactly one reply (a refusal at
 * the real end), then QUIT's 221. Any reply in between means the
 * smuggled commands ran; a 250 means a message with a bare CR or LF was
 * taken (a later hop may split it).
 */
static int
run_smuggling(const char *confdir, const char *ip, const char *rcpt,
    int *failed)
{
	struct st_session	 ss;
	char			*input, *detail, what[64];
	size_t			 i;

	printf("smuggling: as client %s to <%s>\n", ip, rcpt);
	for (i = 0; i < nitems(smuggles); i++) {
		snprintf(what, sizeof what, "smuggling %s", smuggles[i].what);
		xasprintf(&input, "EHLO selftest.invalid\r\nMAIL FROM:<selftest"
		    "@%s>\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: selftest\r\n\r\n"
		    "hello%sMAIL FROM:<smuggler@%s>\r\nRCPT TO:<victim@%s>\r\n"
		    "DATA\r\nsmuggled\r\n.\r\nQUIT\r\n", SELFTEST_REMOTE, rcpt,
		    smuggles[i].seq, SELFTEST_REMOTE, SELFTEST_REMOTE);
		if (run_session(confdir, ip, input, &ss) == -1) {
			free(input);
			return (-1);
		}
		free(input);
		if (ss.n < 4 || ss.v[3].code >= 400) {
			printf("SKIP  %-32s RCPT TO:<%s> was refused (%s)\n",
			    what, rcpt, ss.n >= 4 ? ss.v[3].text :
			    "session ended early");
			continue;
		}
		if (ss.n == 7 && ss.v[4].code == 354 && ss.v[5].code >= 500 &&
		    ss.v[6].code == 221)
			xasprintf(&detail, "refused at the real end: %s",
			    ss.v[5].text);
		else if (ss.n >= 6 && ss.v[5].code < 400 && ss.n <= 7)
			xasprintf(&detail, "message with a bare CR or LF taken: "
			    "%s", ss.v[5].text);
		else
			xasprintf(&detail, "smuggled commands were answered "
			    "(%zu replies after DATA, want 2)", ss.n - 4);
		*failed += report(ss.n == 7 && ss.v[4].code == 354 &&
		    ss.v[5].code >= 500 && ss.v[6].code == 221, what, detail);
		free(detail);
	}
	return (0);
}

int
cli_selftest(int argc, char **argv, const char *confdir)
{
	static const struct option opts[] = {
		{ "client", required_argument, NULL, 'c' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*cfg = NULL;
	struct diags	 d;
	const char	*ip = SELFTEST_CLIENT, *rcpt_opt = NULL, *sip, *sto;
	char		*rcpt;
	int		 ch, failed = 0, rc, skipped = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			ip = optarg;
			break;
		case 'r':
			rcpt_opt = optarg;
			break;
		case 'h':
			fputs(usage_selftest, stdout);
			return (CLI_EXIT_OK);
		default:
			fputs(usage_selftest, stderr);
			return (CLI_EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fputs(usage_selftest, stderr);
		return (CLI_EXIT_USAGE);
	}
	memset(&d, 0, sizeof d);
	if (config_load(confdir, &cfg, &d) == -1 || cfg == NULL) {
		diags_print(&d, stderr);
		diags_free(&d);
		fprintf(stderr, "hikyaku selftest: the configuration in %s has "
		    "errors\n", confdir);
		return (CLI_EXIT_FAIL);
	}
	diags_free(&d);
	signal(SIGPIPE, SIG_IGN);
	if (rcpt_opt != NULL)
		rcpt = xstrdup(rcpt_opt);
	else
		xasprintf(&rcpt, "postmaster@%s", cfg->me);
	printf("selftest: the rules in %s against client %s (an outside "
	    "address),\nlocal domain %s, remote domain %s, through %s -bh\n",
	    confdir, ip, cfg->me, SELFTEST_REMOTE, hikyakud_path());
	fflush(stdout);
	rc = run_tricks(confdir, ip, cfg->me, &failed);
	if (rc == 0 && smuggling_client(confdir, ip, rcpt, &sip, &sto) == -1) {
		printf("SKIP  smuggling: no client gets a recipient accepted "
		    "(name one with --rcpt)\n");
		skipped = 1;
	} else if (rc == 0)
		rc = run_smuggling(confdir, sip, sto, &failed);
	free(rcpt);
	config_free(cfg);
	if (rc == -1)
		return (CLI_EXIT_FAIL);
	if (failed > 0) {
		printf("selftest: %d check%s FAILED: this configuration lets "
		    "them through\n", failed, failed == 1 ? "" : "s");
		return (CLI_EXIT_FAIL);
	}
	printf("selftest: all checks passed%s\n", skipped ?
	    " (smuggling skipped)" : "");
	return (CLI_EXIT_OK);
}
