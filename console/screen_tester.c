/*
 * screen_tester: the console's Tester screen (slot 8), the engine of
 * console/tester.h drawn with curses.
 *
 * The input line is readline through its callback interface: keys from
 * the framework are turned back into the bytes a terminal would send and
 * handed to readline through rl_getc_function; readline never touches the
 * terminal (no-op prep/deprep, output to /dev/null) and its redisplay
 * only copies the line and asks the framework for a redraw. Sessions are
 * opened with /connect or /remote N (prefilled from `remotes`); every
 * wait of the engine is a framework job, so Esc cancels it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "config.h"
#include "dns.h"
#include "remotes.h"
#include "sasl.h"
#include "tester.h"
#include "tester_rl.h"
#include "tui.h"
#include "util.h"

#define MAX_LINES	5000

enum line_kind { LK_INFO, LK_SENT, LK_REPLY, LK_ERROR };

struct tline {
	char		*text;
	enum line_kind	 kind;
	int		 code;
};

static struct {
	struct tester		*t;
	struct remote		 r;
	struct tester_config	 cfg;
	char			*servername, *connect_addr, *user, *pass;
	struct tui_job		*job;
	struct tline		*lines;
	size_t			 nlines, back;
	/* readline */
	int			 dns_ready;	/* the resolver is set */
	int			 rl_ready, rl_on, pw_mode, last_334;
	char			*pw_user, *pw_mech;
	unsigned char		 keys[16];
	size_t			 nkeys, keypos;
	char			*edit;
	int			 point;
	FILE			*devnull;
} S;

/* ---- the transcript on screen ------------------------------------- */

static void
add_line(enum line_kind kind, int code, const char *text)
{
	const char *p = text, *nl;

	do {
		nl = strchr(p, '\n');
		if (S.nlines == MAX_LINES) {
			free(S.lines[0].text);
			memmove(S.lines, S.lines + 1,
			    (MAX_LINES - 1) * sizeof(*S.lines));
			S.nlines--;
		}
		if (S.lines == NULL)
			S.lines = xcalloc(MAX_LINES, sizeof(*S.lines));
		S.lines[S.nlines].text = xstrndup(p, nl ? (size_t)(nl - p) :
		    strlen(p));
		S.lines[S.nlines].kind = kind;
		S.lines[S.nlines].code = code;
		S.nlines++;
		if (S.back)
			S.back++;
		p = nl ? nl + 1 : NULL;
	} while (p != NULL && *p != '\0');
	tui_dirty();
}

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	add_line(LK_INFO, 0, s);
	free(s);
}

/* ---- jobs: Esc cancels what the engine waits for ------------------- */

static void
job_cancel(void *arg)
{
	(void)arg;
	S.job = NULL;	/* the framework forgets it */
	if (S.t != NULL)
		tester_cancel(S.t);
}

/* What the status line says the engine waits for. */
static const char *
wait_label(enum tester_state state)
{
	switch (state) {
	case TESTER_RESOLVING:
		return "resolving";
	case TESTER_CONNECTING:
		return "connecting";
	case TESTER_GREETING:
		return "waiting for the banner";
	case TESTER_HANDSHAKE:
		return "TLS handshake";
	default:
		return "waiting for the server";
	}
}

/* Called after every engine event: the job follows the stage. */
static void
sync_job(void)
{
	int busy = S.t != NULL && tester_busy(S.t);

	if (busy && S.job == NULL)
		S.job = tui_job_begin(wait_label(tester_state(S.t)),
		    job_cancel, NULL);
	else if (busy)
		tui_job_relabel(S.job, wait_label(tester_state(S.t)));
	else if (!busy && S.job != NULL) {
		tui_job_end(S.job);
		S.job = NULL;
	}
}

static void
on_event(struct tester *t, enum tester_event ev, int code, const char *text,
    void *arg)
{
	(void)t;
	(void)arg;
	switch (ev) {
	case TESTER_EV_INFO:
	case TESTER_EV_VERDICT:
		add_line(LK_INFO, 0, text);
		break;
	case TESTER_EV_SENT:
		add_line(LK_SENT, 0, text);
		break;
	case TESTER_EV_REPLY:
		S.last_334 = code == 334;
		add_line(LK_REPLY, code, text);
		break;
	case TESTER_EV_ERROR:
		add_line(LK_ERROR, 0, text);
		tui_error("%s", text);
		break;
	case TESTER_EV_READY:
		break;
	case TESTER_EV_CLOSED:
		add_line(LK_INFO, 0, text);
		break;
	}
	sync_job();
}

/* ---- sessions ------------------------------------------------------ */

static void
session_end(void)
{
	if (S.job != NULL) {
		tui_job_end(S.job);
		S.job = NULL;
	}
	tester_free(S.t);
	S.t = NULL;
	remote_free(&S.r);
	free(S.servername);
	free(S.connect_addr);
	free(S.user);
	if (S.pass != NULL) {
		explicit_bzero(S.pass, strlen(S.pass));
		free(S.pass);
	}
	S.servername = S.connect_addr = S.user = S.pass = NULL;
}

static void
session_start(void)
{
	const struct config *cfg = tui_config();
	char *err = NULL;

	if (S.r.user != NULL)
		S.user = xstrdup(S.r.user);
	if ((S.r.pass != NULL || S.r.pass_file != NULL) &&
	    (S.pass = remote_password(&S.r, &err)) == NULL) {
		add_line(LK_ERROR, 0, err);
		free(err);
	}
	/* Once: c-ares refuses new servers while a cancelled query of an
	 * earlier session is still outstanding inside it. */
	if (!S.dns_ready && cfg != NULL) {
		if (dns_init(cfg->resolver, &err) == 0) {
			S.dns_ready = 1;
		} else {
			add_line(LK_ERROR, 0, err);
			free(err);
		}
	}
	memset(&S.cfg, 0, sizeof(S.cfg));
	S.cfg.remote = &S.r;
	S.cfg.servername = S.servername;
	S.cfg.connect_addr = S.connect_addr;
	if (cfg != NULL) {
		S.cfg.helo = cfg->helo_name ? cfg->helo_name : cfg->me;
		S.cfg.daemon_user = cfg->user;
	}
	S.t = tester_new(&S.cfg, on_event, NULL);
	tester_start(S.t);
	/* STARTTLS and AUTH up front when the remote asks for them. */
	if (S.t != NULL && tester_state(S.t) != TESTER_CLOSED &&
	    (S.r.tls == REMOTE_TLS_STARTTLS || S.user != NULL)) {
		struct tester_plan p;

		memset(&p, 0, sizeof(p));
		p.user = S.pass != NULL ? S.user : NULL;
		p.pass = S.pass;
		tester_run(S.t, &p);
	}
	sync_job();
}

/* /connect HOST[:PORT] [--cafile F] [--servername N] [--connect A]
 * [remotes options verbatim] */
static void
cmd_connect(char **w, size_t n)
{
	struct diags d = { NULL, 0 };
	char **opts = xcalloc(n + 1, sizeof(char *)), *owned[8];
	const char *host = w[1], *colon;
	size_t i, nopts = 0, nowned = 0;

	session_end();
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(host, ':') == colon) {
		S.r.host = xstrndup(host, (size_t)(colon - host));
		S.r.port = atoi(colon + 1);
		S.r.port_explicit = S.r.port > 0;
	} else
		S.r.host = xstrdup(host);
	for (i = 2; i < n; i++) {
		if (strcmp(w[i], "--servername") == 0 && i + 1 < n)
			S.servername = xstrdup(w[++i]);
		else if (strcmp(w[i], "--connect") == 0 && i + 1 < n)
			S.connect_addr = xstrdup(w[++i]);
		else if (strcmp(w[i], "--cafile") == 0 && i + 1 < n &&
		    nowned < nitems(owned)) {
			xasprintf(&owned[nowned], "--x509cafile=%s", w[++i]);
			opts[nopts++] = owned[nowned++];
		} else
			opts[nopts++] = w[i];
	}
	if (remotes_parse_args(&S.r, (int)nopts, opts, "/connect", &d) == -1) {
		char *s = d.n ? diag_format(&d.v[0]) : xstrdup("bad options");

		add_line(LK_ERROR, 0, s);
		free(s);
		remote_free(&S.r);
	} else
		session_start();
	diags_free(&d);
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(opts);
}

static void
cmd_remote(int lineno)
{
	const struct config *cfg = tui_config();
	size_t k;

	if (cfg == NULL) {
		add_line(LK_ERROR, 0, "the configuration has errors: no "
		    "remotes (see the Status screen)");
		return;
	}
	for (k = 0; k < cfg->nremotes; k++)
		if (cfg->remotes[k].line == lineno)
			break;
	if (k == cfg->nremotes) {
		say("no remote on line %d of remotes (%zu remotes)", lineno,
		    cfg->nremotes);
		return;
	}
	session_end();
	remote_copy(&S.r, &cfg->remotes[k]);
	say("remotes line %d: %s port %d%s%s", lineno, S.r.host, S.r.port,
	    S.r.tls == REMOTE_TLS_SSL ? " TLS" : S.r.tls ==
	    REMOTE_TLS_STARTTLS ? " STARTTLS" : "",
	    S.r.user ? " with AUTH" : "");
	session_start();
}

/* ---- readline ------------------------------------------------------ */

static void on_line(char *);

/* Readline asks whether more typed input waits (to insert a burst at
 * once); only the bytes handed over count, never the real stdin. */
static int
keys_pending(void)
{
	return S.keypos < S.nkeys;
}

static int
key_getc(FILE *f)
{
	(void)f;
	if (S.keypos < S.nkeys)
		return S.keys[S.keypos++];
	return EOF;
}

static void
redisplay(void)
{
	free(S.edit);
	S.edit = xstrdup(rl_line_buffer ? rl_line_buffer : "");
	S.point = rl_point;
	tui_dirty();
}

/* curses owns the terminal: readline must not change its modes. */
static void
prep_noop(int meta)
{
	(void)meta;
}

static void
deprep_noop(void)
{
}

static const char *
prompt(void)
{
	if (S.t == NULL || tester_state(S.t) == TESTER_CLOSED)
		return "tester> ";
	return tester_state(S.t) == TESTER_BODY ? "data> " : "smtp> ";
}

static const char *const local_cmds[] = {
	"/connect ", "/remote ", "/auth ", "/send", "/save ", "/close",
	"/help", NULL,
};

static void
rl_setup(void)
{
	if (S.rl_ready)
		return;
	S.devnull = fopen("/dev/null", "we");
	rl_readline_name = "hikyaku";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_outstream = S.devnull;
	rl_getc_function = key_getc;
	rl_input_available_hook = keys_pending;
	rl_redisplay_function = redisplay;
	rl_prep_term_function = prep_noop;
	rl_deprep_term_function = deprep_noop;
	tester_rl_completion(local_cmds);
	rl_callback_handler_install(prompt(), on_line);
	S.rl_on = 1;
	S.rl_ready = 1;
}

static void
on_password(char *pw)
{
	rl_callback_handler_remove();
	S.pw_mode = 0;
	if (pw != NULL && S.t != NULL &&
	    tester_auth(S.t, S.pw_mech, S.pw_user, pw) == 0)
		sync_job();
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	free(S.pw_user);
	free(S.pw_mech);
	S.pw_user = S.pw_mech = NULL;
	rl_callback_handler_install(prompt(), on_line);
}

static void
ask_password(const char *mech, const char *user)
{
	char *p;

	rl_callback_handler_remove();
	S.pw_mode = 1;
	S.pw_user = xstrdup(user);
	S.pw_mech = mech ? xstrdup(mech) : NULL;
	xasprintf(&p, "password for %s: ", user);
	rl_callback_handler_install(p, on_password);
	free(p);
}

static void
local_command(const char *line)
{
	char *copy = xstrdup(line + 1), *w[32], *err = NULL;
	size_t n = split_words(copy, w, nitems(w)), i, k = 0;

	if (n == 0 || strcmp(w[0], "help") == 0) {
		tui_help("tester");
	} else if (strcmp(w[0], "connect") == 0 && n >= 2) {
		cmd_connect(w, n);
	} else if (strcmp(w[0], "remote") == 0 && n == 2) {
		cmd_remote(atoi(w[1]));
	} else if (S.t == NULL) {
		say("no session: /connect HOST[:PORT] [options] or /remote N");
	} else if (strcmp(w[0], "close") == 0 || strcmp(w[0], "quit") == 0) {
		tester_close(S.t);
	} else if (strcmp(w[0], "save") == 0 && n == 2) {
		if (tester_save(S.t, w[1], &err) == -1) {
			add_line(LK_ERROR, 0, err);
			free(err);
		} else
			say("transcript saved to %s", w[1]);
	} else if (strcmp(w[0], "auth") == 0) {
		const char *mech = NULL, *user = S.user;

		if (n >= 3) {
			mech = w[1];
			user = w[2];
		} else if (n == 2 && sasl_mech_allowed(w[1]))
			mech = w[1];
		else if (n == 2)
			user = w[1];
		if (user == NULL)
			say("usage: /auth [MECH] USER");
		else if (tester_state(S.t) != TESTER_READY)
			say("not ready for AUTH (EHLO first, or wait)");
		else if (S.pass != NULL && S.user != NULL &&
		    strcmp(user, S.user) == 0)
			tester_auth(S.t, mech, user, S.pass);
		else
			ask_password(mech, user);
	} else if (strcmp(w[0], "send") == 0) {
		const char *addrs[32];
		struct tester_plan p;
		int st;

		memset(&p, 0, sizeof(p));
		for (i = 1; i < n; i++) {
			if ((st = tester_stage_parse(w[i])) >= 0)
				p.stop_after = (enum tester_stage)st;
			else
				addrs[k++] = w[i];
		}
		if (k < 2) {
			say("usage: /send FROM TO... [STAGE]");
		} else {
			p.user = S.pass != NULL ? S.user : NULL;
			p.pass = S.pass;
			p.from = addrs[0];
			p.to = addrs + 1;
			p.nto = k - 1;
			tester_run(S.t, &p);
		}
	} else {
		say("unknown command: /help shows them");
	}
	free(copy);
	sync_job();
}

static void
on_line(char *line)
{
	enum tester_state st = S.t ? tester_state(S.t) : TESTER_CLOSED;

	if (line == NULL)
		return;
	if (*line != '\0' && !S.last_334 && st != TESTER_BODY &&
	    ascii_strncasecmp(line, "AUTH", 4) != 0)
		add_history(line);
	S.last_334 = 0;
	S.back = 0;
	if (st != TESTER_BODY && (line[0] == '/' || line[0] == ':'))
		local_command(line);
	else if (S.t == NULL || tester_send(S.t, line) == -1)
		say("not connected: /connect HOST[:PORT] or /remote N");
	free(line);
	sync_job();
	if (!S.pw_mode)
		rl_set_prompt(prompt());
	redisplay();
}

/* A key from the framework as the bytes a terminal would have sent. */
static int
key_bytes(const struct tui_key *k, unsigned char *out)
{
	static const struct {
		int fn;
		const char *seq;
	} map[] = {
		{ KEY_LEFT, "\033[D" }, { KEY_RIGHT, "\033[C" },
		{ KEY_UP, "\033[A" }, { KEY_DOWN, "\033[B" },
		{ KEY_HOME, "\001" }, { KEY_END, "\005" },
		{ KEY_BACKSPACE, "\177" }, { KEY_DC, "\033[3~" },
		{ KEY_ENTER, "\r" },
	};
	char mb[8];
	int n = 0;

	if (k->fn) {
		for (size_t i = 0; i < nitems(map); i++)
			if (map[i].fn == k->fn) {
				n = (int)strlen(map[i].seq);
				memcpy(out, map[i].seq, (size_t)n);
				return n;
			}
		return 0;
	}
	if (k->alt)
		out[n++] = '\033';
	if (k->ch == '\n')
		out[n++] = '\r';
	else if (k->ch < 0x80)
		out[n++] = (unsigned char)k->ch;
	else {
		mbstate_t ms;
		size_t len;

		memset(&ms, 0, sizeof(ms));
		len = wcrtomb(mb, (wchar_t)k->ch, &ms);
		if (len == (size_t)-1)
			return 0;
		memcpy(out + n, mb, len);
		n += (int)len;
	}
	return n;
}

/* ---- the screen ---------------------------------------------------- */

static attr_t
line_attr(const struct tline *l)
{
	switch (l->kind) {
	case LK_INFO:
	case LK_SENT:
		return tui_attr(TUI_DIM);
	case LK_ERROR:
		return tui_attr(TUI_BAD);
	case LK_REPLY:
		break;
	}
	if (l->code >= 500 || l->code < 200)
		return tui_attr(TUI_BAD);
	if (l->code >= 400)
		return tui_attr(TUI_WARN);
	if (l->code >= 300)
		return tui_attr(TUI_KEY);
	return tui_attr(TUI_OK);
}

static void
tester_draw(WINDOW *win)
{
	int h, w, rows, y, plen, start;
	size_t first, i;
	const char *pr;
	char *masked = NULL;
	const char *text;

	getmaxyx(win, h, w);
	rows = h - 2;
	if (S.back > S.nlines)
		S.back = S.nlines;
	first = S.nlines - S.back > (size_t)rows ?
	    S.nlines - S.back - (size_t)rows : 0;
	for (i = first, y = 0; i < S.nlines - S.back && y < rows; i++, y++) {
		const struct tline *l = &S.lines[i];

		if (l->kind == LK_SENT)
			tui_putf(win, y, 0, w, line_attr(l), "> %s", l->text);
		else if (l->kind == LK_INFO)
			tui_putf(win, y, 0, w, line_attr(l), "* %s", l->text);
		else
			tui_put(win, y, 0, w, line_attr(l), 0, l->text);
	}
	if (S.nlines == 0)
		tui_put(win, 0, 0, w, tui_attr(TUI_DIM), 0, "/connect "
		    "HOST[:PORT] [--starttls|--ssl] [--cafile F] ...  or  "
		    "/remote N  (a line of remotes);  /help");
	/* The input line: prompt, then the text scrolled to show point. */
	pr = rl_display_prompt ? rl_display_prompt : prompt();
	text = S.edit ? S.edit : "";
	if (S.pw_mode) {
		masked = xmalloc(strlen(text) + 1);
		memset(masked, '*', strlen(text));
		masked[strlen(text)] = '\0';
		text = masked;
	}
	plen = tui_put(win, h - 1, 0, w, tui_attr(TUI_TITLE), 0, pr);
	start = S.point > w - plen - 1 ? S.point - (w - plen - 1) : 0;
	tui_put(win, h - 1, plen, w - plen, tui_attr(TUI_NORMAL), 0,
	    text + start);
	{
		char *before = xstrndup(text + start, (size_t)(S.point - start));

		tui_cursor(win, h - 1, plen + tui_width(before));
		free(before);
	}
	free(masked);
}

static int
tester_key(const struct tui_key *k)
{
	unsigned char buf[16];
	int n;

	rl_setup();
	if (k->fn == TUI_KEY_ESC) {
		if (S.t != NULL && tester_busy(S.t))
			tester_cancel(S.t);
		sync_job();
		return 1;
	}
	if (k->fn == KEY_PPAGE || k->fn == KEY_NPAGE) {
		size_t page = 10;

		if (k->fn == KEY_PPAGE)
			S.back = S.back + page < S.nlines ? S.back + page :
			    S.nlines;
		else
			S.back = S.back > page ? S.back - page : 0;
		tui_dirty();
		return 1;
	}
	if ((n = key_bytes(k, buf)) == 0)
		return 0;
	S.nkeys = (size_t)n;
	S.keypos = 0;
	memcpy(S.keys, buf, (size_t)n);
	while (S.keypos < S.nkeys)
		rl_callback_read_char();
	S.nkeys = S.keypos = 0;
	return 1;
}

static void
tester_enter(void)
{
	rl_setup();
	redisplay();
}

static const char *
tester_footer(void)
{
	if (S.t != NULL && tester_busy(S.t))
		return "Esc cancel  PgUp/PgDn scroll";
	return "Enter send  Tab complete  /help commands  PgUp/PgDn scroll";
}

/* The input line always has the keys: ?, q and Tab are typed. */
static int
tester_typing(void)
{
	return 1;
}

static void
tester_done(void)
{
	size_t i;

	session_end();
	if (S.rl_ready)
		rl_callback_handler_remove();
	for (i = 0; i < S.nlines; i++)
		free(S.lines[i].text);
	free(S.lines);
	free(S.edit);
	free(S.pw_user);
	free(S.pw_mech);
	if (S.devnull != NULL)
		fclose(S.devnull);
	memset(&S, 0, sizeof(S));
}

const struct tui_screen tui_screen_tester = {
	.name = "Tester",
	.help_topic = "tester",
	.enter = tester_enter,
	.draw = tester_draw,
	.key = tester_key,
	.footer = tester_footer,
	.typing = tester_typing,
	.done = tester_done,
};
