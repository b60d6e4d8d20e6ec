/*
 * tui: the console's frame, keys, dialogs and event loop. See tui.h.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "ctl_client.h"
#include "event.h"
#include "log.h"
#include "tui.h"
#include "tui_ctl.h"
#include "util.h"

#ifndef HIKYAKU_HELPDIR
#define HIKYAKU_HELPDIR "/usr/share/hikyaku/help"
#endif

/*
 * The screens by slot: the digit key that shows them (index 0 is the '0'
 * key, shown last). An empty slot is not a screen: it has no tab and its
 * key does nothing.
 */
static const struct tui_screen *const tui_slots[10] = {
	[1] = &tui_screen_status,
	[2] = &tui_screen_queue,
	[8] = &tui_screen_tester,
	[0] = &tui_screen_log,
};
/* Tab order: 1..9 then 0. */
static const int tab_order[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 };

struct tui_job {
	char		*what;
	void		(*cancel)(void *);
	void		*arg;
	uint64_t	 started;
	struct tui_job	*next;		/* older jobs */
};

static struct {
	const char		*confdir;
	struct config		*cfg;
	struct diags		 diags;
	char			*sockpath;
	int			 cur;		/* current slot */
	SCREEN			*term;
	WINDOW			*tabs, *content, *status, *footer;
	int			 footer_h;	/* 1, or 2 when the keys wrap */
	struct ev_timer		*redraw, *tick, *msg_expire;
	struct ev_fd		*in;
	char			*msg;
	int			 msg_error;
	/* confirmation dialog */
	char			*ask;
	void			(*ask_yes)(void *), (*ask_no)(void *);
	void			*ask_arg;
	/* help viewer */
	char			**help;
	size_t			 nhelp;
	int			 help_top;	/* screen rows scrolled */
	int			 help_rows, help_page;	/* at the last draw */
	char			*help_title;
	struct tui_job		*jobs;
	int			 color;
	WINDOW			*cursor_win;
	int			 cursor_y, cursor_x;
	/* benchmark: keystroke to doupdate, see tests/bench/tui_queue.sh */
	FILE			*bench;
	uint64_t		 key_at_us;
	int			 exit_status;
} T;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

const char *
tui_confdir(void)
{
	return T.confdir;
}

const struct config *
tui_config(void)
{
	return T.cfg;
}

const struct diags *
tui_config_diags(void)
{
	return &T.diags;
}

const char *
tui_socket_path(void)
{
	return T.sockpath;
}

void
tui_dirty(void)
{
	if (T.redraw && !ev_timer_pending(T.redraw))
		ev_timer_after(T.redraw, 0);
}

/* How long a message stays when no key takes it down: errors longer. */
#define MSG_MS		5000
#define ERROR_MS	10000

static void
set_message(int error, const char *fmt, va_list ap)
{
	free(T.msg);
	xvasprintf(&T.msg, fmt, ap);
	T.msg_error = error;
	if (T.msg_expire)
		ev_timer_after(T.msg_expire, error ? ERROR_MS : MSG_MS);
	tui_dirty();
}

void
tui_message_clear(const char *prefix)
{
	if (!T.msg || (prefix && strncmp(T.msg, prefix, strlen(prefix)) != 0))
		return;
	free(T.msg);
	T.msg = NULL;
	if (T.msg_expire)
		ev_timer_stop(T.msg_expire);
	tui_dirty();
}

static void
msg_expired(void *arg)
{
	tui_message_clear(NULL);
}

void
tui_message(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(0, fmt, ap);
	va_end(ap);
}

void
tui_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(1, fmt, ap);
	va_end(ap);
	beep();
}

void
tui_confirm(const char *question, void (*yes)(void *), void (*no)(void *),
    void *arg)
{
	free(T.ask);
	T.ask = xstrdup(question);
	T.ask_yes = yes;
	T.ask_no = no;
	T.ask_arg = arg;
	tui_dirty();
}

struct tui_job *
tui_job_begin(const char *what, void (*cancel)(void *), void *arg)
{
	struct tui_job *j = xcalloc(1, sizeof(*j));

	j->what = xstrdup(what);
	j->cancel = cancel;
	j->arg = arg;
	j->started = ev_now();
	j->next = T.jobs;
	T.jobs = j;
	if (!ev_timer_pending(T.tick))
		ev_timer_after(T.tick, 1000);
	tui_dirty();
	return j;
}

static void
job_unlink(struct tui_job *j)
{
	struct tui_job **p;

	for (p = &T.jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	free(j->what);
	free(j);
	tui_dirty();
}

void
tui_job_end(struct tui_job *j)
{
	if (j)
		job_unlink(j);
}

void
tui_job_relabel(struct tui_job *j, const char *what)
{
	if (strcmp(j->what, what) == 0)
		return;
	free(j->what);
	j->what = xstrdup(what);
	tui_dirty();
}

static void
job_cancel_latest(void)
{
	struct tui_job *j = T.jobs;
	void (*cancel)(void *) = j->cancel;
	void *arg = j->arg;
	char *what = xstrdup(j->what);

	job_unlink(j);
	cancel(arg);
	tui_message("cancelled: %s", what);
	free(what);
}

static const struct tui_screen *
screen(void)
{
	return tui_slots[T.cur];
}

int
tui_switch(int slot)
{
	if (slot < 0 || slot > 9 || !tui_slots[slot])
		return 0;
	if (slot == T.cur)
		return 1;
	if (screen()->leave)
		screen()->leave();
	T.cur = slot;
	if (screen()->enter)
		screen()->enter();
	tui_dirty();
	return 1;
}

static void
switch_tab(int dir)
{
	int i, pos = 0, slot;

	for (i = 0; i < 10; i++)
		if (tab_order[i] == T.cur)
			pos = i;
	for (i = 1; i <= 10; i++) {
		slot = tab_order[(pos + dir * i + 20) % 10];
		if (tui_slots[slot]) {
			tui_switch(slot);
			return;
		}
	}
}

/* Help files are found in $HIKYAKU_HELP_DIR, the installed help, or the
 * source tree the program was built from. */
static FILE *
help_open(const char *topic)
{
	const char *dirs[3];
	char *path;
	FILE *f;
	size_t i;

	dirs[0] = getenv("HIKYAKU_HELP_DIR");
	dirs[1] = HIKYAKU_HELPDIR;
#ifdef HIKYAKU_SRC_HELPDIR
	dirs[2] = HIKYAKU_SRC_HELPDIR;
#else
	dirs[2] = NULL;
#endif
	for (i = 0; i < 3; i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		xasprintf(&path, "%s/%s.md", dirs[i], topic);
		f = fopen(path, "re");
		free(path);
		if (f)
			return f;
	}
	return NULL;
}

static void
help_close(void)
{
	size_t i;

	for (i = 0; i < T.nhelp; i++)
		free(T.help[i]);
	free(T.help);
	free(T.help_title);
	T.help = NULL;
	T.help_title = NULL;
	T.nhelp = 0;
	T.help_top = T.help_rows = T.help_page = 0;
	tui_dirty();
}

void
tui_help(const char *topic)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	help_close();
	if (!(f = help_open(topic))) {
		tui_error("no help file %s.md (set HIKYAKU_HELP_DIR)", topic);
		return;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		T.help = xreallocarray(T.help, T.nhelp + 1, sizeof(*T.help));
		T.help[T.nhelp++] = xstrdup(line);
	}
	free(line);
	fclose(f);
	T.help_title = xstrdup(topic);
	tui_dirty();
}

attr_t
tui_attr(enum tui_color c)
{
	static const attr_t plain[] = {
		[TUI_NORMAL] = A_NORMAL, [TUI_TITLE] = A_BOLD,
		[TUI_SELECTED] = A_BOLD, [TUI_CURSOR] = A_REVERSE,
		[TUI_DIM] = A_DIM, [TUI_OK] = A_NORMAL, [TUI_WARN] = A_BOLD,
		[TUI_BAD] = A_BOLD, [TUI_KEY] = A_BOLD, [TUI_BAR] = A_REVERSE,
	};

	if (!T.color || c == TUI_NORMAL || c == TUI_CURSOR)
		return plain[c];
	return COLOR_PAIR(c) | (c == TUI_TITLE || c == TUI_KEY ||
	    c == TUI_SELECTED ? A_BOLD : 0);
}

static void
colors_init(void)
{
	const char *nc = getenv("NO_COLOR");

	/* https://no-color.org: set and not empty means no colour. */
	if ((nc && *nc) || !has_colors() || start_color() == ERR)
		return;
	use_default_colors();
	init_pair(TUI_TITLE, COLOR_CYAN, -1);
	init_pair(TUI_SELECTED, COLOR_YELLOW, -1);
	init_pair(TUI_DIM, COLOR_BLUE, -1);
	init_pair(TUI_OK, COLOR_GREEN, -1);
	init_pair(TUI_WARN, COLOR_YELLOW, -1);
	init_pair(TUI_BAD, COLOR_RED, -1);
	init_pair(TUI_KEY, COLOR_CYAN, -1);
	init_pair(TUI_BAR, COLOR_BLACK, COLOR_CYAN);
	T.color = 1;
}

/*
 * Display columns of wc when it starts at column col of the text: a tab
 * goes to the next multiple of 8 (folded headers start with one), other
 * control characters show as one '?'.
 */
static int
char_cols(wchar_t wc, int col)
{
	int cw;

	if (wc == L'\t')
		return 8 - col % 8;
	cw = wcwidth(wc);
	return cw < 0 ? 1 : cw;
}

int
tui_width(const char *s)
{
	mbstate_t st;
	wchar_t wc;
	size_t n, len = strlen(s);
	int w = 0, cw;

	memset(&st, 0, sizeof(st));
	while (len > 0) {
		n = mbrtowc(&wc, s, len, &st);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			n = 1;
			cw = 1;
		} else {
			if (n == 0)
				n = 1;
			cw = char_cols(wc, w);
		}
		w += cw;
		s += n;
		len -= n;
	}
	return w;
}

int
tui_put(WINDOW *win, int y, int x, int width, attr_t attr, int pad,
    const char *s)
{
	wchar_t wbuf[512], wc;
	mbstate_t st;
	size_t n, len = strlen(s), nw = 0;
	int used = 0, cw;

	if (width <= 0)
		return 0;
	memset(&st, 0, sizeof(st));
	while (len > 0 && nw < sizeof(wbuf) / sizeof(wbuf[0]) - 1) {
		n = mbrtowc(&wc, s, len, &st);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			wc = L'?';
			n = 1;
		} else if (n == 0) {
			break;
		}
		cw = char_cols(wc, used);
		if (used + cw > width ||
		    nw + (size_t)cw >= sizeof(wbuf) / sizeof(wbuf[0]))
			break;
		used += cw;
		if (wc == L'\t')
			while (cw-- > 0)
				wbuf[nw++] = L' ';
		else
			wbuf[nw++] = wcwidth(wc) < 0 ? L'?' : wc;
		s += n;
		len -= n;
	}
	while (pad && used < width &&
	    nw < sizeof(wbuf) / sizeof(wbuf[0]) - 1) {
		wbuf[nw++] = L' ';
		used++;
	}
	wbuf[nw] = L'\0';
	wattr_set(win, attr, PAIR_NUMBER(attr), NULL);
	mvwaddnwstr(win, y, x, wbuf, (int)nw);
	wattr_set(win, A_NORMAL, 0, NULL);
	return used;
}

int
tui_putf(WINDOW *win, int y, int x, int width, attr_t attr,
    const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	r = tui_put(win, y, x, width, attr, 0, s);
	free(s);
	return r;
}

/* Bytes of s that fit in width columns, preferring a break at a space. */
static size_t
wrap_cut(const char *s, int width, int *at_space)
{
	mbstate_t st;
	wchar_t wc;
	size_t n, pos = 0, len = strlen(s), last_space = 0;
	int used = 0, cw;

	*at_space = 0;
	memset(&st, 0, sizeof(st));
	while (pos < len) {
		n = mbrtowc(&wc, s + pos, len - pos, &st);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			n = 1;
			cw = 1;
		} else {
			cw = char_cols(wc, used);
		}
		if (used + cw > width)
			break;
		if (s[pos] == ' ' || s[pos] == '\t')
			last_space = pos;
		used += cw;
		pos += n;
	}
	if (pos < len && last_space > 0 && last_space > pos / 2) {
		*at_space = 1;
		return last_space;
	}
	return pos ? pos : (len ? 1 : 0);
}

int
tui_put_wrap(WINDOW *win, int y, int x, int width, attr_t attr,
    int maxlines, int indent, const char *s)
{
	char *line;
	size_t cut;
	int lines = 0, sp, w;

	while (*s && (maxlines <= 0 || lines < maxlines)) {
		w = lines ? width - indent : width;
		if (w < 1)
			break;
		cut = wrap_cut(s, w, &sp);
		if (win) {
			line = xstrndup(s, cut);
			tui_put(win, y + lines, lines ? x + indent : x, w,
			    attr, 0, line);
			free(line);
		}
		s += cut + (size_t)sp;
		lines++;
	}
	return lines ? lines : 1;
}

void
tui_cursor(WINDOW *win, int y, int x)
{
	T.cursor_win = win;
	T.cursor_y = y;
	T.cursor_x = x;
}

void
tui_fmt_age(char *out, size_t len, int64_t s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, len, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(out, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(s / 86400));
}

static void
windows_free(void)
{
	WINDOW **w[] = { &T.tabs, &T.content, &T.status, &T.footer };
	size_t i;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (*w[i]) {
			delwin(*w[i]);
			*w[i] = NULL;
		}
}

static void
windows_make(void)
{
	int rows = LINES < 6 ? 6 : LINES, fh = T.footer_h ? T.footer_h : 1;

	windows_free();
	T.footer_h = fh;
	T.tabs = newwin(1, COLS, 0, 0);
	T.content = newwin(rows - 2 - fh, COLS, 1, 0);
	T.status = newwin(1, COLS, rows - 1 - fh, 0);
	T.footer = newwin(fh, COLS, rows - fh, 0);
}

static void
draw_tabs(void)
{
	WINDOW *w = T.tabs;
	int i, x, slot;
	char label[64];

	wbkgdset(w, ' ' | tui_attr(TUI_BAR));
	werase(w);
	x = tui_put(w, 0, 0, COLS, tui_attr(TUI_BAR) | A_BOLD, 0,
	    " hikyaku ");
	for (i = 0; i < 10; i++) {
		slot = tab_order[i];
		if (!tui_slots[slot])
			continue;
		snprintf(label, sizeof(label), " %d %s ", slot,
		    tui_slots[slot]->name);
		x += tui_put(w, 0, x, COLS - x, slot == T.cur ?
		    (A_NORMAL | A_BOLD) : tui_attr(TUI_BAR), 0, label);
	}
	wnoutrefresh(w);
}

static void
draw_status(void)
{
	WINDOW *w = T.status;
	const char *daemon;
	char *left = NULL;
	int dw;

	werase(w);
	if (T.ask)
		xasprintf(&left, "%s (y/n)", T.ask);
	else if (T.jobs)
		xasprintf(&left, "%s... %llus (Esc cancels)", T.jobs->what,
		    (unsigned long long)((ev_now() - T.jobs->started) / 1000));
	else if (T.msg)
		left = xstrdup(T.msg);
	daemon = tui_ctl_daemon_up() ? "daemon up" :
	    "daemon DOWN: spool read-only";
	dw = tui_width(daemon) + 1;
	if (left)
		tui_put(w, 0, 0, COLS - dw - 1, T.ask ? tui_attr(TUI_WARN) :
		    T.msg_error && !T.jobs ? tui_attr(TUI_BAD) :
		    A_NORMAL, 0, left);
	tui_put(w, 0, COLS - dw, dw, tui_ctl_daemon_up() ?
	    tui_attr(TUI_OK) : tui_attr(TUI_BAD) | A_BOLD, 0, daemon);
	free(left);
	wnoutrefresh(w);
}

/* The footer's text: the screen's keys, then the framework's. */
static void
footer_text(struct buf *b)
{
	const char *own = NULL;

	if (T.ask) {
		buf_addstr(b, "y yes  n no");
		return;
	}
	if (T.help) {
		buf_addstr(b, "↑↓/PgUp/PgDn scroll  g/G top/end  q close");
		return;
	}
	if (screen()->footer)
		own = screen()->footer();
	if (T.jobs && !(own && strstr(own, "Esc cancel")))
		buf_addstr(b, "Esc cancel  ");
	if (own && *own)
		buf_printf(b, "%s  ", own);
	/*
	 * In a text field ?, q and Tab are typed: only F-keys get out. A
	 * screen with a sub-view shows its own "q back".
	 */
	if (screen()->typing && screen()->typing())
		buf_addstr(b, "F1 help  F2-F10/Alt+digit screens");
	else
		buf_addstr(b, own && strstr(own, "q back") ?
		    "Tab screens  ? help" : "Tab screens  ? help  q quit");
}

/*
 * "key label  key label", keys highlighted; pairs that do not fit wrap
 * to a second line, so every key that works stays visible at 80 columns.
 * Draws into w (NULL: only measures); returns the lines needed (1 or 2).
 */
static int
footer_layout(WINDOW *w)
{
	const char *p, *sep;
	char pair[160], *sp;
	struct buf b;
	int x = 0, y = 0, pw, maxy = w ? T.footer_h : 2;
	size_t n;

	if (w)
		werase(w);
	buf_init(&b);
	footer_text(&b);
	for (p = b.data; p && *p; p = sep ? sep + 2 : NULL) {
		sep = strstr(p, "  ");
		n = sep ? (size_t)(sep - p) : strlen(p);
		if (n >= sizeof(pair))
			n = sizeof(pair) - 1;
		memcpy(pair, p, n);
		pair[n] = '\0';
		pw = tui_width(pair);
		if (x > 0 && x + pw > COLS) {
			if (y + 1 >= maxy)
				break;
			y++;
			x = 0;
		}
		if (!w) {
			x += pw + 2;
			continue;
		}
		if ((sp = strchr(pair, ' ')) != NULL)
			*sp = '\0';
		x += tui_put(w, y, x, COLS - x, tui_attr(TUI_KEY), 0, pair);
		if (sp)
			x += tui_putf(w, y, x, COLS - x, A_NORMAL, " %s",
			    sp + 1);
		x += tui_put(w, y, x, COLS - x, A_NORMAL, 0, "  ");
	}
	buf_free(&b);
	if (w)
		wnoutrefresh(w);
	return y + 1;
}

/* Wrapped help lines continue under their text: past the indent and a
 * list item's "- ". */
static int
help_indent(const char *line)
{
	int n = (int)strspn(line, " ");

	if ((line[n] == '-' || line[n] == '*') && line[n + 1] == ' ')
		n += 2;
	return n;
}

/*
 * Long lines wrap, so the help reads whole at 80 columns; help_top counts
 * screen rows. Rows scrolled off the top are drawn at y < 1 (curses
 * refuses y < 0) and the title, drawn last and padded, covers row 0.
 */
static void
draw_help(WINDOW *w)
{
	int rows, cols, y, width, h, total = 0;
	size_t i;

	getmaxyx(w, rows, cols);
	werase(w);
	width = cols - 2;
	for (i = 0; i < T.nhelp; i++)
		total += tui_put_wrap(NULL, 0, 0, width, 0, 0,
		    help_indent(T.help[i]), T.help[i]);
	T.help_rows = total;
	T.help_page = rows > 1 ? rows - 1 : 1;
	if (T.help_top > total - T.help_page)
		T.help_top = total - T.help_page;
	if (T.help_top < 0)
		T.help_top = 0;
	for (y = 1 - T.help_top, i = 0; y < rows && i < T.nhelp; i++) {
		h = tui_put_wrap(NULL, 0, 0, width, 0, 0,
		    help_indent(T.help[i]), T.help[i]);
		if (y + h > 1)
			tui_put_wrap(w, y, 1, width,
			    strncmp(T.help[i], "#", 1) == 0 ?
			    tui_attr(TUI_TITLE) : A_NORMAL, rows - y,
			    help_indent(T.help[i]), T.help[i]);
		y += h;
	}
	tui_put(w, 0, 0, cols, tui_attr(TUI_TITLE), 1, "");
	tui_putf(w, 0, 0, cols, tui_attr(TUI_TITLE), "Help: %s  (%d/%d)",
	    T.help_title, T.help_top + 1, total);
}

static void
draw_confirm(WINDOW *w)
{
	int rows, cols, bw, by, bx;

	getmaxyx(w, rows, cols);
	bw = tui_width(T.ask) + 6;
	if (bw > cols - 2)
		bw = cols - 2;
	by = rows / 2 - 2;
	bx = (cols - bw) / 2;
	wattr_set(w, tui_attr(TUI_WARN), PAIR_NUMBER(tui_attr(TUI_WARN)),
	    NULL);
	mvwhline(w, by, bx, ' ', bw);
	mvwhline(w, by + 1, bx, ' ', bw);
	mvwhline(w, by + 2, bx, ' ', bw);
	mvwhline(w, by + 3, bx, ' ', bw);
	wattr_set(w, A_NORMAL, 0, NULL);
	tui_put(w, by + 1, bx + 2, bw - 4, tui_attr(TUI_WARN) | A_BOLD, 0,
	    T.ask);
	tui_put(w, by + 2, bx + 2, bw - 4, A_NORMAL, 0, "y = yes, any other "
	    "key = no");
}

static void
redraw(void *arg)
{
	int fh = footer_layout(NULL);

	if (fh != T.footer_h) {
		T.footer_h = fh;
		windows_make();
	}
	T.cursor_win = NULL;
	draw_tabs();
	werase(T.content);
	if (T.help)
		draw_help(T.content);
	else
		screen()->draw(T.content);
	if (T.ask)
		draw_confirm(T.content);
	wnoutrefresh(T.content);
	draw_status();
	footer_layout(T.footer);
	if (T.cursor_win && !T.ask && !T.help) {
		/* Place the terminal cursor where the screen asked. */
		wmove(T.cursor_win, T.cursor_y, T.cursor_x);
		wnoutrefresh(T.cursor_win);
		curs_set(1);
	} else {
		curs_set(0);
	}
	doupdate();
	if (T.bench && T.key_at_us) {
		fprintf(T.bench, "%llu\n",
		    (unsigned long long)(now_us() - T.key_at_us));
		fflush(T.bench);
		T.key_at_us = 0;
	}
}

void
tui_bench_mark(const char *what)
{
	if (!T.bench)
		return;
	fprintf(T.bench, "#%s %llu\n", what, (unsigned long long)now_us());
	fflush(T.bench);
}

/* Jobs show elapsed seconds; keep the status line ticking. */
static void
tick(void *arg)
{
	if (T.jobs) {
		tui_dirty();
		ev_timer_after(T.tick, 1000);
	}
}

static void
quit(void)
{
	ev_break();
}

/* Scrolling in screen rows, up to the page that ends with the last. */
static int
help_key(const struct tui_key *k)
{
	int page = T.help_page > 1 ? T.help_page - 1 : 1;
	int last = T.help_rows > T.help_page ? T.help_rows - T.help_page : 0;

	if (k->fn == KEY_UP || k->ch == 'k') {
		T.help_top--;
	} else if (k->fn == KEY_DOWN || k->ch == 'j') {
		T.help_top++;
	} else if (k->fn == KEY_PPAGE) {
		T.help_top -= page;
	} else if (k->fn == KEY_NPAGE || k->ch == ' ') {
		T.help_top += page;
	} else if (k->ch == 'g' || k->fn == KEY_HOME) {
		T.help_top = 0;
	} else if (k->ch == 'G' || k->fn == KEY_END) {
		T.help_top = last;
	} else if (k->ch == 'q' || k->fn == TUI_KEY_ESC || k->fn == KEY_F(1) ||
	    k->ch == '?') {
		help_close();
	}
	if (T.help_top > last)
		T.help_top = last;
	if (T.help_top < 0)
		T.help_top = 0;
	tui_dirty();
	return 1;
}

static void
dispatch(const struct tui_key *k)
{
	void (*fn)(void *);
	int slot;

	if (T.ask) {
		fn = k->ch == 'y' || k->ch == 'Y' ? T.ask_yes : T.ask_no;
		free(T.ask);
		T.ask = NULL;
		if (fn)
			fn(T.ask_arg);
		tui_dirty();
		return;
	}
	/* Screen switching keys work everywhere, even in a text field. */
	if (k->fn >= KEY_F(2) && k->fn <= KEY_F(10)) {
		slot = k->fn == KEY_F(10) ? 0 : k->fn - KEY_F(0);
		help_close();
		tui_switch(slot);
		return;
	}
	if (k->alt && k->ch >= '0' && k->ch <= '9') {
		help_close();
		tui_switch(k->ch - '0');
		return;
	}
	if (k->fn == KEY_F(1)) {
		if (T.help)
			help_close();
		else
			tui_help(screen()->help_topic);
		return;
	}
	if (T.help) {
		help_key(k);
		return;
	}
	if (k->fn == TUI_KEY_ESC && T.jobs) {
		job_cancel_latest();
		return;
	}
	if (k->ch == 12 && !k->fn) {		/* Ctrl-L */
		clearok(curscr, TRUE);
		tui_dirty();
		return;
	}
	if (screen()->key && screen()->key(k)) {
		tui_dirty();
		return;
	}
	if (k->fn == 0 && k->ch >= '0' && k->ch <= '9' && !k->alt) {
		if (!tui_switch(k->ch - '0'))
			tui_message("no screen %c yet", (int)k->ch);
	} else if (k->fn == 0 && k->ch == '\t') {
		switch_tab(1);
	} else if (k->fn == KEY_BTAB) {
		switch_tab(-1);
	} else if (k->fn == 0 && k->ch == '?') {
		tui_help(screen()->help_topic);
	} else if (k->fn == 0 && k->ch == 'q') {
		quit();
	}
}

static void
on_stdin(int fd, int revents, void *arg)
{
	struct tui_key k;
	wint_t ch, ch2;
	int r, r2;

	for (;;) {
		r = wget_wch(stdscr, &ch);
		if (r == ERR)
			break;
		if (T.bench)
			T.key_at_us = now_us();
		/* A message answers the key before: the next one takes it
		 * down (what this key says comes after). */
		tui_message_clear(NULL);
		memset(&k, 0, sizeof(k));
		if (r == KEY_CODE_YES) {
			if (ch == KEY_RESIZE)
				continue;
			k.fn = (int)ch;
		} else if (ch == 27) {
			/* ESC then a key within the escape delay: Alt+key. */
			r2 = wget_wch(stdscr, &ch2);
			if (r2 == OK) {
				k.alt = 1;
				k.ch = ch2;
			} else {
				k.fn = TUI_KEY_ESC;
			}
		} else {
			k.ch = ch;
		}
		dispatch(&k);
	}
	if (revents & EV_ERROR) {
		/* The terminal went away (SSH dropped). */
		quit();
	}
}

static void
on_winch(void *arg)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	windows_make();
	clearok(curscr, TRUE);
	tui_dirty();
}

static void
on_int(void *arg)
{
	struct tui_key k = { .fn = TUI_KEY_ESC };

	/* Ctrl-C cancels the running job, or quits when nothing runs. */
	if (T.jobs)
		dispatch(&k);
	else
		quit();
}

static void
on_term(void *arg)
{
	quit();
}

/* Library code logs; on the console that goes to the status line. */
static void
log_to_status(enum log_level level, const char *line, void *arg)
{
	if (level >= LOG_LVL_WARN)
		tui_error("%s", line);
}

static void
config_read(const char *confdir)
{
	if (config_load(confdir, &T.cfg, &T.diags) == -1)
		T.cfg = NULL;
	if (T.cfg) {
		T.sockpath = ctl_client_socket_path(T.cfg);
	} else {
		xasprintf(&T.sockpath, "%s/%s", HIKYAKU_SPOOL_DIR,
		    CONTROL_SOCKET_NAME);
	}
}

/* What tui_main set up before the terminal. */
static void
console_free(void)
{
	free(T.sockpath);
	T.sockpath = NULL;
	if (T.cfg)
		config_free(T.cfg);
	T.cfg = NULL;
	diags_free(&T.diags);
	if (T.bench)
		fclose(T.bench);
	T.bench = NULL;
	log_set_observer(NULL, NULL);
	ev_done();
}

int
tui_main(const char *confdir)
{
	const char *bench;
	int i;

	setlocale(LC_ALL, "");
	log_init("hikyaku", "/dev/null");
	log_set_observer(log_to_status, NULL);
	T.confdir = confdir;
	config_read(confdir);
	if ((bench = getenv("HIKYAKU_TUI_BENCH")) != NULL && *bench)
		T.bench = fopen(bench, "ae");
	ev_init();
	/* Signals go through the loop (signalfd) before curses starts, so
	 * ncurses' own SIGWINCH handler never runs. */
	ev_signal(SIGWINCH, on_winch, NULL);
	ev_signal(SIGINT, on_int, NULL);
	ev_signal(SIGTERM, on_term, NULL);
	ev_signal(SIGHUP, on_term, NULL);
	/* newterm, not initscr: initscr exits by itself on a TERM that
	 * terminfo does not know, before anyone can point to the
	 * subcommands. */
	if ((T.term = newterm(NULL, stdout, stdin)) == NULL) {
		console_free();
		return cli_no_console();
	}
	set_escdelay(25);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	colors_init();
	refresh();
	windows_make();
	T.redraw = ev_timer_new(redraw, NULL);
	T.tick = ev_timer_new(tick, NULL);
	T.msg_expire = ev_timer_new(msg_expired, NULL);
	T.in = ev_fd_add(STDIN_FILENO, EV_READ, on_stdin, NULL);
	for (i = 0; i < 10; i++)
		if (tui_slots[i] && tui_slots[i]->init)
			tui_slots[i]->init();
	T.cur = 1;
	if (screen()->enter)
		screen()->enter();
	tui_dirty();
	ev_run();
	if (screen()->leave)
		screen()->leave();
	for (i = 0; i < 10; i++)
		if (tui_slots[i] && tui_slots[i]->done)
			tui_slots[i]->done();
	while (T.jobs)
		job_unlink(T.jobs);
	ev_fd_del(T.in);
	ev_timer_free(T.redraw);
	ev_timer_free(T.tick);
	ev_timer_free(T.msg_expire);
	T.msg_expire = NULL;
	T.redraw = NULL;
	windows_free();
	endwin();
	delscreen(T.term);
	help_close();
	free(T.msg);
	free(T.ask);
	console_free();
	return T.exit_status;
}
