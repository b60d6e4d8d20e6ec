/*
 * cli_smtp: `hikyaku smtp`, the session tester without curses.
 *
 * Three ways to drive the engine (console/tester.h): a canned transaction
 * (--from/--to), lines from a pipe (each sent in order, waiting for the
 * reply before the next, except message text after DATA), or a person at
 * a terminal with readline. Readline runs through its callback interface
 * fed from the event loop, so replies print while the user types, and Esc
 * or Ctrl-C cancels any wait. The exit status names the first stage that
 * failed (help/tester.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"
#include "config.h"
#include "dns.h"
#include "event.h"
#include "remotes.h"
#include "sasl.h"
#include "tester.h"
#include "tester_rl.h"
#include "tls.h"
#include "util.h"
#include "help/usage.h"

/* Exit statuses, one per stage (documented in help/tester.md). */
#define SMTP_EXIT_CONNECT	3
#define SMTP_EXIT_BANNER	4
#define SMTP_EXIT_EHLO		5
#define SMTP_EXIT_TLS		6
#define SMTP_EXIT_AUTH		7
#define SMTP_EXIT_MAIL		8
#define SMTP_EXIT_RCPT		9
#define SMTP_EXIT_DATA		10

struct smtp_cli {
	struct tester	*t;
	struct remote	 r;
	struct tester_config cfg;
	int		 interactive;	/* readline on a terminal */
	int		 color;
	int		 scripted;	/* a pipe: stop at the first failure */
	/* --auth / --from / --to / --stop-after */
	char		*user, *pass, *mech, *from;
	const char	**to;
	size_t		 nto;
	enum tester_stage stop_after;
	const char	*transcript;
	int		 canned;
	/* Input from a pipe or file. */
	struct buf	 in;
	int		 in_eof, in_pollable;
	struct ev_fd	*in_ev;
	int		 quitting;
	/* Terminal input, handed to readline one byte at a time. */
	unsigned char	 keys[256];
	size_t		 nkeys, keypos;
	int		 rl_on, pw_mode, last_334;
	char		*pw_user, *pw_mech;
	int		 pw_then_start;
	int		 typed;		/* the line being sent was typed */
};

static struct smtp_cli *cli;	/* readline's callbacks take no argument */

static int
exit_code(enum tester_stage s)
{
	switch (s) {
	case TESTER_STAGE_NONE:		return CLI_EXIT_OK;
	case TESTER_STAGE_CONNECT:	return SMTP_EXIT_CONNECT;
	case TESTER_STAGE_BANNER:	return SMTP_EXIT_BANNER;
	case TESTER_STAGE_EHLO:		return SMTP_EXIT_EHLO;
	case TESTER_STAGE_TLS:		return SMTP_EXIT_TLS;
	case TESTER_STAGE_AUTH:		return SMTP_EXIT_AUTH;
	case TESTER_STAGE_MAIL:		return SMTP_EXIT_MAIL;
	case TESTER_STAGE_RCPT:		return SMTP_EXIT_RCPT;
	case TESTER_STAGE_DATA:		return SMTP_EXIT_DATA;
	default:			return CLI_EXIT_FAIL;
	}
}

/* ---- output while readline owns the line --------------------------- */

static char	*saved_line;
static int	 saved_point;

static void
out_begin(void)
{
	if (!cli->interactive || !cli->rl_on)
		return;
	saved_point = rl_point;
	saved_line = rl_copy_text(0, rl_end);
	rl_save_prompt();
	rl_replace_line("", 0);
	rl_redisplay();
}

static void
out_end(void)
{
	fflush(stdout);
	if (!cli->interactive || !cli->rl_on)
		return;
	rl_restore_prompt();
	rl_replace_line(saved_line, 0);
	rl_point = saved_point;
	rl_redisplay();
	free(saved_line);
	saved_line = NULL;
}

static const char *
reply_color(int code)
{
	if (!cli->color)
		return "";
	if (code >= 500)
		return "\033[31m";
	if (code >= 400)
		return "\033[33m";
	if (code >= 300)
		return "\033[36m";
	if (code >= 200)
		return "\033[32m";
	return "\033[35m";
}

static void
show(const char *prefix, const char *color, const char *text)
{
	const char *p = text, *nl;

	out_begin();
	do {
		nl = strchr(p, '\n');
		printf("%s%s%.*s%s\n", color, prefix,
		    (int)(nl ? nl - p : (long)strlen(p)), p,
		    *color ? "\033[0m" : "");
		p = nl ? nl + 1 : NULL;
	} while (p != NULL && *p != '\0');
	out_end();
}

/* ---- terminal input: readline's callback interface ------------------ */

static void on_line(char *);
static void feed_pipe(void);

/* Readline asks whether more typed input waits (to insert a burst at
 * once); only the bytes handed over count, never the real stdin. */
static int
keys_pending(void)
{
	return cli->keypos < cli->nkeys;
}

static int
key_getc(FILE *f)
{
	(void)f;
	if (cli->keypos < cli->nkeys)
		return cli->keys[cli->keypos++];
	return EOF;
}

static const char *
prompt(void)
{
	switch (tester_state(cli->t)) {
	case TESTER_BODY:	return "data> ";
	case TESTER_CLOSED:	return "(closed)> ";
	default:		return "smtp> ";
	}
}

static void
rl_start(void)
{
	rl_callback_handler_install(prompt(), on_line);
	cli->rl_on = 1;
}

static void
rl_stop(void)
{
	if (!cli->rl_on)
		return;
	rl_callback_handler_remove();
	cli->rl_on = 0;
}

/* The password prompt draws the prompt and nothing of what is typed. */
static void
redisplay_masked(void)
{
	fprintf(rl_outstream, "\r\033[K%s", rl_display_prompt);
	fflush(rl_outstream);
}

static void start_session(void);

static void
on_password(char *pw)
{
	rl_stop();
	rl_redisplay_function = rl_redisplay;
	cli->pw_mode = 0;
	putchar('\n');
	if (pw == NULL) {
		show("* ", "", "no password given");
	} else if (cli->pw_then_start) {
		cli->pass = xstrdup(pw);
	} else if (tester_auth(cli->t, cli->pw_mech, cli->pw_user, pw) ==
	    -1) {
		/* The engine said why through the callback. */
	}
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	free(cli->pw_user);
	free(cli->pw_mech);
	cli->pw_user = cli->pw_mech = NULL;
	rl_start();
	if (cli->pw_then_start) {
		cli->pw_then_start = 0;
		start_session();
	}
}

static void
ask_password(const char *mech, const char *user)
{
	char *p;

	rl_stop();
	cli->pw_mode = 1;
	free(cli->pw_user);
	free(cli->pw_mech);
	cli->pw_user = xstrdup(user);
	cli->pw_mech = mech ? xstrdup(mech) : NULL;
	rl_redisplay_function = redisplay_masked;
	xasprintf(&p, "password for %s: ", user);
	rl_callback_handler_install(p, on_password);
	free(p);
	cli->rl_on = 1;
}

static void
stdin_ready(int fd, int revents, void *arg)
{
	ssize_t n;

	(void)revents;
	(void)arg;
	n = read(fd, cli->keys, sizeof(cli->keys));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The terminal went away: end as Ctrl-D would. */
		ev_fd_del(cli->in_ev);
		cli->in_ev = NULL;
		on_line(NULL);
		return;
	}
	/* A lone Esc (not the start of an arrow key's sequence) cancels a
	 * wait; readline would take it as a Meta prefix. */
	if (n == 1 && cli->keys[0] == ESC && tester_busy(cli->t)) {
		tester_cancel(cli->t);
		return;
	}
	cli->nkeys = (size_t)n;
	cli->keypos = 0;
	while (cli->keypos < cli->nkeys && cli->rl_on)
		rl_callback_read_char();
	cli->nkeys = cli->keypos = 0;
}

static void
on_sigint(void *arg)
{
	(void)arg;
	if (tester_busy(cli->t)) {
		tester_cancel(cli->t);
		return;
	}
	if (!cli->interactive) {
		ev_break();
		return;
	}
	/* Like a shell: drop the line being typed, fresh prompt. */
	if (cli->pw_mode) {
		rl_replace_line("", 0);
		on_password(NULL);
		return;
	}
	rl_replace_line("", 0);
	printf("^C\n");
	rl_on_new_line();
	rl_redisplay();
}

static void
on_sigwinch(void *arg)
{
	(void)arg;
	if (cli->rl_on)
		rl_resize_terminal();
}

/* ---- completion ---------------------------------------------------- */

static const char *const local_cmds[] = {
	"/auth ", "/send", "/save ", "/quit", "/help", NULL,
};

/* ---- local commands ------------------------------------------------ */

static void
local_help(void)
{
	show("", "",
	    "local commands (also with ':' instead of '/'):\n"
	    "  /auth [plain|login|MECH] [USER]  AUTH; asks for the password\n"
	    "  /send [FROM TO...] [STAGE]       canned transaction, "
	    "stopping after STAGE\n"
	    "  /save FILE                       save the transcript "
	    "(passwords masked)\n"
	    "  /quit                            QUIT and leave\n"
	    "Esc or Ctrl-C cancels a wait; Tab completes SMTP verbs.");
}

static void
run_plan(int quit, const char *from, const char **to, size_t nto,
    enum tester_stage stop)
{
	struct tester_plan p;

	memset(&p, 0, sizeof(p));
	p.user = cli->user;
	p.pass = cli->pass;
	p.mech = cli->mech;
	p.from = from;
	p.to = to;
	p.nto = nto;
	p.stop_after = stop;
	p.quit = quit;
	tester_run(cli->t, &p);
}

static void
local_command(const char *line)
{
	char *copy = xstrdup(line + 1), *w[16], *err = NULL;
	size_t n = split_words(copy, w, nitems(w)), i;

	if (n == 0 || strcmp(w[0], "help") == 0 || strcmp(w[0], "?") == 0) {
		local_help();
	} else if (strcmp(w[0], "quit") == 0 || strcmp(w[0], "q") == 0) {
		cli->quitting = 1;
		if (tester_state(cli->t) == TESTER_CLOSED)
			ev_break();
		else
			tester_close(cli->t);
	} else if (strcmp(w[0], "save") == 0 && n == 2) {
		if (tester_save(cli->t, w[1], &err) == -1) {
			show("* ", "", err);
			free(err);
		} else
			show("* transcript saved to ", "", w[1]);
	} else if (strcmp(w[0], "auth") == 0) {
		const char *mech = NULL, *user = cli->user;

		/* /auth USER, /auth MECH, /auth MECH USER */
		if (n >= 3) {
			mech = w[1];
			user = w[2];
		} else if (n == 2 && sasl_mech_allowed(w[1]))
			mech = w[1];
		else if (n == 2)
			user = w[1];
		if (user == NULL)
			show("* ", "", "usage: /auth [MECH] USER");
		else if (tester_state(cli->t) != TESTER_READY)
			show("* ", "", "not ready for AUTH (connect and EHLO "
			    "first, or wait for the reply)");
		else if (cli->pass != NULL && (cli->user == NULL ||
		    strcmp(user, cli->user) == 0))
			tester_auth(cli->t, mech, user, cli->pass);
		else if (cli->interactive)
			ask_password(mech, user);
		else
			show("* ", "", "no password: give --pass or "
			    "--pass-file, or use a terminal");
	} else if (strcmp(w[0], "send") == 0) {
		const char *from = cli->from, **to = cli->to;
		const char *tos[16];
		size_t nto = cli->nto, k = 0;
		enum tester_stage stop = TESTER_STAGE_NONE;
		int st;

		/* /send [FROM TO...] [STAGE]: addresses replace --from/--to */
		for (i = 1; i < n; i++) {
			if ((st = tester_stage_parse(w[i])) >= 0)
				stop = (enum tester_stage)st;
			else
				tos[k++] = w[i];
		}
		if (k == 1) {
			show("* ", "", "usage: /send FROM TO... [STAGE]");
			free(copy);
			return;
		}
		if (k >= 2) {
			from = tos[0];
			to = tos + 1;
			nto = k - 1;
		}
		if (from == NULL || nto == 0)
			show("* ", "", "usage: /send FROM TO... [STAGE] (or "
			    "give --from and --to)");
		else
			run_plan(0, from, to, nto, stop);
	} else {
		show("* ", "", "unknown command; /help lists them");
	}
	free(copy);
}

/* One line from the user or the pipe. */
static void
handle_line(const char *line)
{
	enum tester_state st = tester_state(cli->t);

	if (st != TESTER_BODY && (line[0] == '/' || line[0] == ':')) {
		local_command(line);
		return;
	}
	if (tester_send(cli->t, line) == -1)
		show("* ", "", st == TESTER_CLOSED ? "not connected (/quit "
		    "leaves)" : "not connected yet: wait, or Esc cancels");
}

static void
on_line(char *line)
{
	if (line == NULL) {
		/* Ctrl-D: leave politely. */
		if (cli->rl_on) {
			rl_stop();
			putchar('\n');
		}
		cli->quitting = 1;
		if (tester_state(cli->t) == TESTER_CLOSED)
			ev_break();
		else
			tester_close(cli->t);
		return;
	}
	/* No secrets in history: AUTH lines and answers to 334. */
	if (*line != '\0' && !cli->last_334 &&
	    ascii_strncasecmp(line, "AUTH", 4) != 0 &&
	    tester_state(cli->t) != TESTER_BODY)
		add_history(line);
	cli->last_334 = 0;
	cli->typed = 1;
	handle_line(line);
	cli->typed = 0;
	free(line);
	if (cli->rl_on && !cli->pw_mode)
		rl_set_prompt(prompt());
}

/* ---- pipe input ---------------------------------------------------- */

static void
pipe_readable(int fd, int revents, void *arg)
{
	char chunk[4096];
	ssize_t n;

	(void)revents;
	(void)arg;
	n = read(fd, chunk, sizeof(chunk));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		cli->in_eof = 1;
	else
		buf_add(&cli->in, chunk, (size_t)n);
	feed_pipe();
}

/* Take one line from the input buffer; 0 when none is complete yet. */
static int
next_pipe_line(char **line)
{
	char *nl, chunk[4096];
	ssize_t n;

	for (;;) {
		nl = cli->in.len ? memchr(cli->in.data, '\n', cli->in.len) :
		    NULL;
		if (nl != NULL || (cli->in_eof && cli->in.len > 0)) {
			size_t len = nl ? (size_t)(nl - cli->in.data) :
			    cli->in.len;

			*line = xstrndup(cli->in.data, len);
			buf_consume(&cli->in, nl ? len + 1 : len);
			rtrim(*line);
			return 1;
		}
		if (cli->in_eof || cli->in_pollable)
			return 0;
		/* A regular file or /dev/null: read() never blocks. */
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n <= 0)
			cli->in_eof = 1;
		else
			buf_add(&cli->in, chunk, (size_t)n);
	}
}

/* Send pipe lines while the session can take them. */
static void
feed_pipe(void)
{
	enum tester_state st;
	char *line;

	for (;;) {
		st = tester_state(cli->t);
		if (st == TESTER_CLOSED) {
			ev_break();
			return;
		}
		if (st != TESTER_READY && st != TESTER_BODY)
			return;
		if (cli->quitting)
			return;
		if (!next_pipe_line(&line)) {
			if (cli->in_eof) {
				cli->quitting = 1;
				tester_close(cli->t);
			}
			return;
		}
		handle_line(line);
		free(line);
	}
}

/* ---- events from the engine ---------------------------------------- */

static void
on_event(struct tester *t, enum tester_event ev, int code, const char *text,
    void *arg)
{
	(void)t;
	(void)arg;
	switch (ev) {
	case TESTER_EV_INFO:
		show("* ", cli->color ? "\033[2m" : "", text);
		break;
	case TESTER_EV_SENT:
		/* A person sees what they typed; show only what we sent. */
		if (!cli->interactive)
			show("C: ", "", text);
		else if (!cli->typed)
			show("> ", cli->color ? "\033[2m" : "", text);
		break;
	case TESTER_EV_REPLY:
		cli->last_334 = code == 334;
		show(cli->interactive ? "" : "S: ", reply_color(code), text);
		break;
	case TESTER_EV_VERDICT:
		/* Without a terminal every line is C:, S: or a "* " note. */
		show(cli->interactive ? "" : "* ", "", text);
		break;
	case TESTER_EV_ERROR:
		out_begin();
		fprintf(stderr, "%shikyaku: %s%s\n", cli->color ? "\033[31m" :
		    "", text, cli->color ? "\033[0m" : "");
		out_end();
		break;
	case TESTER_EV_READY:
		/* Scripts and pipes stop at the first failed stage. */
		if (cli->scripted && tester_failed(cli->t) !=
		    TESTER_STAGE_NONE && !cli->quitting) {
			cli->quitting = 1;
			tester_close(cli->t);
			break;
		}
		if (cli->canned && !cli->quitting) {
			cli->quitting = 1;
			tester_close(cli->t);
			break;
		}
		if (!cli->interactive && !cli->canned)
			feed_pipe();
		break;
	case TESTER_EV_CLOSED:
		show("* ", cli->color ? "\033[2m" : "", text);
		if (!cli->interactive || cli->quitting)
			ev_break();
		break;
	}
	if (cli->interactive && cli->rl_on && !cli->pw_mode) {
		rl_set_prompt(prompt());
		rl_redisplay();
	}
}

/* ---- arguments ----------------------------------------------------- */

/* "host", "host:port", "[v6]:port" into r. */
static int
parse_target(struct remote *r, const char *s)
{
	const char *colon;
	char *end;
	long port;

	if (s[0] == '[' && (colon = strchr(s, ']')) != NULL) {
		r->host = xstrndup(s + 1, (size_t)(colon - s - 1));
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else if ((colon = strrchr(s, ':')) != NULL && strchr(s, ':') ==
	    colon)
		r->host = xstrndup(s, (size_t)(colon - s));
	else {
		r->host = xstrdup(s);
		colon = NULL;
	}
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || errno != 0 || port < 1 || port > 65535)
			return -1;
		r->port = (int)port;
		r->port_explicit = 1;
	}
	return r->host[0] != '\0' ? 0 : -1;
}

static void
start_session(void)
{
	tester_start(cli->t);
	/* The prologue the options ask for: STARTTLS, AUTH, or both. */
	if (cli->canned)
		run_plan(1, cli->from, cli->to, cli->nto, cli->stop_after);
	else if (cli->r.tls == REMOTE_TLS_STARTTLS || cli->user != NULL)
		run_plan(0, NULL, NULL, 0, cli->stop_after);
}

int
cli_smtp(int argc, char **argv, const char *confdir)
{
	struct smtp_cli c;
	struct config *cfg = NULL;
	struct diags d = { NULL, 0 };
	char **opts = xcalloc((size_t)argc + 1, sizeof(char *));
	char **owned = xcalloc((size_t)argc + 1, sizeof(char *));
	const char *target = NULL, *a, *mapped;
	char *err = NULL, *val;
	int i, nopts = 0, nowned = 0, lineno = 0, st, consumed;
	int ret = CLI_EXIT_USAGE;
	long secs;
	struct stat sb;

	memset(&c, 0, sizeof(c));
	cli = &c;
	c.to = xcalloc((size_t)argc + 1, sizeof(char *));
	buf_init(&c.in);
	for (i = 1; i < argc; i++) {
		int has_val = i + 1 < argc;

		a = argv[i];
		if (strcmp(a, "--remote") == 0 && has_val)
			lineno = atoi(argv[++i]);
		else if (strcmp(a, "--servername") == 0 && has_val)
			c.cfg.servername = argv[++i];
		else if (strcmp(a, "--connect") == 0 && has_val)
			c.cfg.connect_addr = argv[++i];
		else if (strcmp(a, "--helo") == 0 && has_val)
			c.cfg.helo = argv[++i];
		else if (strcmp(a, "--auth") == 0 && has_val) {
			/* The remotes spelling, so --pass pairs with it. */
			xasprintf(&owned[nowned], "--user=%s", argv[++i]);
			opts[nopts++] = owned[nowned++];
		}
		else if (strcmp(a, "--mech") == 0 && has_val)
			c.mech = xstrdup(argv[++i]);
		else if (strcmp(a, "--from") == 0 && has_val)
			c.from = xstrdup(argv[++i]);
		else if (strcmp(a, "--to") == 0 && has_val)
			c.to[c.nto++] = argv[++i];
		else if (strcmp(a, "--transcript") == 0 && has_val)
			c.transcript = argv[++i];
		else if (strcmp(a, "--stop-after") == 0 && has_val) {
			if ((st = tester_stage_parse(argv[++i])) < 0) {
				fprintf(stderr, "hikyaku: unknown stage \"%s\" "
				    "(connect banner ehlo tls auth mail rcpt "
				    "data)\n", argv[i]);
				goto usage;
			}
			c.stop_after = (enum tester_stage)st;
		} else if (strcmp(a, "--timeout") == 0 && has_val) {
			secs = strtol(argv[++i], NULL, 10);
			if (secs < 1 || secs > 86400)
				goto usage;
			c.cfg.timeout_ms = (int)secs * 1000;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_smtp, stdout);
			ret = CLI_EXIT_OK;
			goto out;
		} else if ((mapped = remotes_short_form(a, &val, &consumed,
		    argc, argv, i)) != NULL) {
			opts[nopts++] = (char *)mapped;
			if (val != NULL)
				owned[nowned++] = val;
			i += consumed;
		} else if (a[0] == '-' || (strchr(a, '=') != NULL &&
		    target != NULL)) {
			/* Any remotes option, verbatim. */
			opts[nopts++] = argv[i];
			if (remotes_option_takes_value(a) && has_val)
				opts[nopts++] = argv[++i];
		} else if (target != NULL)
			goto usage;
		else
			target = a;
	}
	if ((target == NULL) == (lineno <= 0))
		goto usage;
	if (c.from != NULL && c.nto == 0) {
		fprintf(stderr, "hikyaku: --from needs at least one --to\n");
		goto usage;
	}
	if (target != NULL && parse_target(&c.r, target) == -1) {
		fprintf(stderr, "hikyaku: bad target \"%s\" (HOST or "
		    "HOST:PORT)\n", target);
		goto usage;
	}
	ret = CLI_EXIT_FAIL;
	/* The config gives the resolver, our name and --remote N. */
	if (config_load(confdir, &cfg, &d) == -1 && lineno > 0) {
		diags_print(&d, stderr);
		goto out;
	}
	diags_free(&d);
	if (lineno > 0) {
		size_t k;

		for (k = 0; k < cfg->nremotes; k++)
			if (cfg->remotes[k].line == lineno)
				break;
		if (k == cfg->nremotes) {
			fprintf(stderr, "hikyaku: no remote on line %d of "
			    "%s/remotes\n", lineno, confdir);
			goto out;
		}
		remote_copy(&c.r, &cfg->remotes[k]);
	} else if (!c.r.port_explicit)
		c.r.port = 25;
	if (remotes_parse_args(&c.r, nopts, opts, "command line", &d) == -1) {
		diags_print(&d, stderr);
		ret = CLI_EXIT_USAGE;
		goto out;
	}
	diags_print(&d, stderr);
	if (c.user == NULL && c.r.user != NULL)
		c.user = xstrdup(c.r.user);
	if (c.r.pass != NULL || c.r.pass_file != NULL) {
		if ((c.pass = remote_password(&c.r, &err)) == NULL) {
			fprintf(stderr, "hikyaku: %s\n", err);
			free(err);
			goto out;
		}
	}
	if (c.cfg.helo == NULL && cfg != NULL)
		c.cfg.helo = cfg->helo_name ? cfg->helo_name : cfg->me;
	if (cfg != NULL)
		c.cfg.daemon_user = cfg->user;

	ev_init();
	if (dns_init(cfg ? cfg->resolver : NULL, &err) == -1) {
		fprintf(stderr, "hikyaku: resolver: %s\n", err);
		free(err);
		goto out;
	}
	c.cfg.remote = &c.r;
	c.canned = c.from != NULL;
	c.interactive = !c.canned && isatty(STDIN_FILENO) &&
	    isatty(STDOUT_FILENO);
	c.scripted = !c.interactive;
	c.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	c.t = tester_new(&c.cfg, on_event, NULL);
	ev_signal(SIGINT, on_sigint, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (c.interactive) {
		rl_readline_name = "hikyaku";
		rl_catch_signals = 0;
		rl_catch_sigwinch = 0;
		rl_change_environment = 0;
		rl_getc_function = key_getc;
	rl_input_available_hook = keys_pending;
		tester_rl_completion(local_cmds);
		ev_signal(SIGWINCH, on_sigwinch, NULL);
		c.in_ev = ev_fd_add(STDIN_FILENO, EV_READ, stdin_ready, NULL);
		show("", "", "hikyaku smtp: SMTP lines go to the server; "
		    "/help for local commands, Esc cancels a wait");
		if (c.user != NULL && c.pass == NULL) {
			c.pw_then_start = 1;
			ask_password(c.mech, c.user);
		} else {
			rl_start();
			start_session();
		}
	} else {
		if (!c.canned && fstat(STDIN_FILENO, &sb) == 0 &&
		    (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode) ||
		    isatty(STDIN_FILENO))) {
			c.in_pollable = 1;
			c.in_ev = ev_fd_add(STDIN_FILENO, EV_READ,
			    pipe_readable, NULL);
		}
		if (c.user != NULL && c.pass == NULL) {
			fprintf(stderr, "hikyaku: --auth %s needs a password: "
			    "--pass or --pass-file (or run on a terminal)\n",
			    c.user);
			ret = CLI_EXIT_USAGE;
			goto out;
		}
		start_session();
	}
	if (tester_state(c.t) != TESTER_CLOSED)
		ev_run();
	rl_stop();
	if (c.in_ev != NULL)
		ev_fd_del(c.in_ev);
	if (c.transcript != NULL && tester_save(c.t, c.transcript,
	    &err) == -1) {
		fprintf(stderr, "hikyaku: %s\n", err);
		free(err);
	}
	ret = exit_code(tester_failed(c.t));
	goto out;
usage:
	fputs(usage_smtp, stderr);
out:
	diags_free(&d);
	tester_free(c.t);
	dns_shutdown();
	tls_creds_flush();
	config_free(cfg);
	remote_free(&c.r);
	free(c.user);
	if (c.pass != NULL) {
		explicit_bzero(c.pass, strlen(c.pass));
		free(c.pass);
	}
	free(c.mech);
	free(c.from);
	free(c.to);
	buf_free(&c.in);
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(opts);
	cli = NULL;
	return ret;
}
