/*
 * tui: the console's full-screen framework (DESIGN §8, §12 "Console
 * details").
 *
 * It owns the terminal (ncursesw, wide characters), the event loop the
 * console runs on (core/event.h: stdin and SIGWINCH are loop events, the
 * control socket is a core/io.h connection), the tab bar, the status line,
 * the footer, the help viewer, confirmation dialogs and the registry of
 * cancellable background jobs. Screens draw into a content window and get
 * keys; they never call refresh()/doupdate() themselves: tui_dirty() asks
 * for one redraw, and all redraws asked for during one batch of events end
 * in a single doupdate() (no flicker).
 *
 * Registering a screen: define a `const struct tui_screen` in your screen's
 * file and put it in the slot table `tui_slots[]` at the top of
 * console/tui.c (slot = the digit key: 1 Status, 2 Queue, 3 Remotes,
 * 4 Access, 5 Aliases, 6 Routes, 7 Certificates, 8 Tester, 9 Tracer,
 * 0 Log). Only screens that exist are listed; empty slots do not appear
 * in the tab bar and their keys do nothing.
 */
#ifndef HIKYAKU_TUI_H
#define HIKYAKU_TUI_H

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#define NCURSES_WIDECHAR 1
#include <ncurses.h>

struct config;
struct diags;
struct tui_job;

/*
 * One key press. Exactly one of ch and fn is meaningful: fn is a KEY_*
 * code (KEY_UP, KEY_F(2), KEY_RESIZE is never passed) when non-zero,
 * otherwise ch is the character (control characters included: 9 Tab,
 * 10/13 Enter, 27 never: Esc arrives as fn = TUI_KEY_ESC). alt is set for
 * Alt+ch (ESC followed by a character within the escape delay).
 */
#define TUI_KEY_ESC	(KEY_MAX + 1)
struct tui_key {
	wint_t	 ch;
	int	 fn;
	int	 alt;
};

struct tui_screen {
	const char	*name;		/* tab label, one word: "Queue" */
	const char	*help_topic;	/* help/<topic>.md shown by F1 / ? */
	/* Once, when the console starts (before the first draw); may be NULL. */
	void		(*init)(void);
	/* Becomes / stops being the visible screen; either may be NULL. */
	void		(*enter)(void);
	void		(*leave)(void);
	/*
	 * Draw the whole content area into win (werase()d already; size from
	 * getmaxyx(win, ...), at least 80x21 at 80x24). Use the tui_put*
	 * helpers and tui_attr(); call tui_cursor() to show the cursor.
	 */
	void		(*draw)(WINDOW *win);
	/*
	 * A key. Return 1 when handled; 0 lets the framework try its own keys
	 * (digits and Tab switch screens, ? and F1 help, q quit). A screen
	 * whose text field has focus returns 1 for every printable key and
	 * Tab; F-keys and Alt-digit switch screens before the screen sees
	 * them, so they always work.
	 */
	int		(*key)(const struct tui_key *);
	/*
	 * The footer: the keys that work right now, as "key label" pairs
	 * separated by two spaces ("Enter open  d delete  / search"). The
	 * framework appends its own ("? help  q quit", or "F1 help  F2-F10
	 * screens" while typing). May be NULL.
	 */
	const char	*(*footer)(void);
	/*
	 * Does a text field have focus (printable keys, Tab, ? and q go to
	 * it)? The footer then lists only what works there. May be NULL.
	 */
	int		(*typing)(void);
	/* At exit (free everything); may be NULL. */
	void		(*done)(void);
};

/* The screens (each defined in its own console/screen_*.c). */
extern const struct tui_screen tui_screen_status;
extern const struct tui_screen tui_screen_queue;
extern const struct tui_screen tui_screen_log;
extern const struct tui_screen tui_screen_tester;

/* Entry points between screens. */
/* Log screen: show only lines mentioning qid, and switch to it. */
void	 screen_log_follow(const char *qid);
/* Queue screen: messages known; *readonly when read from the spool. */
size_t	 screen_queue_count(int *readonly);

/*
 * Run the console: returns the process exit status. Requires a terminal
 * on stdin and stdout (the caller checks isatty and refuses otherwise).
 * confdir is the configuration directory (-C).
 */
int	 tui_main(const char *confdir);

/* The configuration directory and the config read at start (NULL when it
 * has errors: the Status screen lists them; the spool default is used). */
const char	*tui_confdir(void);
const struct config *tui_config(void);
/* Problems config_load() reported at start (warnings and errors). */
const struct diags *tui_config_diags(void);
/* The control socket path (from the config, else the default spool). */
const char	*tui_socket_path(void);

/* Ask for a redraw of everything at the end of this event batch. */
void	 tui_dirty(void);

/*
 * Status line (one line above the footer): a message until the next key
 * press, another message, or a few seconds pass (errors stay longer).
 */
void	 tui_message(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 tui_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* Take the message down now if it starts with prefix: a screen withdraws
 * what a change of state made untrue ("the daemon is down..."). */
void	 tui_message_clear(const char *prefix);

/*
 * Ask "question (y/n)": y calls yes(arg), any other key calls no(arg)
 * (no may be NULL). Non-blocking: the dialog is modal for keys only, the
 * event loop keeps running.
 */
void	 tui_confirm(const char *question, void (*yes)(void *),
	    void (*no)(void *), void *arg);

/*
 * Background work (a connect, a request, a TLS handshake) that the user
 * may cancel. While a job runs, the status line shows "what... (Esc
 * cancels)"; Esc or Ctrl-C calls cancel(arg), which must stop the work
 * (close the io, stop the timer) and must not call tui_job_end: the
 * framework forgets the job itself. When the work finishes, call
 * tui_job_end(job). Jobs of other screens keep running when the screen
 * changes; the most recent job is the one Esc cancels.
 */
struct tui_job	*tui_job_begin(const char *what, void (*cancel)(void *),
		    void *arg);
void		 tui_job_end(struct tui_job *);
/* The job's work moved on to another stage: the status line says what. */
void		 tui_job_relabel(struct tui_job *, const char *what);

/* Switch to the screen in a slot ('0'..'9'); 0 if the slot is empty. */
int	 tui_switch(int slot);
/* Open the help viewer on help/<topic>.md. */
void	 tui_help(const char *topic);

/* Colours / attributes (plain attributes only when NO_COLOR is set). */
enum tui_color {
	TUI_NORMAL, TUI_TITLE, TUI_SELECTED, TUI_CURSOR, TUI_DIM,
	TUI_OK, TUI_WARN, TUI_BAD, TUI_KEY, TUI_BAR
};
attr_t	 tui_attr(enum tui_color);

/*
 * Print UTF-8 text at y,x clipped to width display columns (wide
 * characters count twice; a tab advances to the next multiple of 8
 * columns from the start of the text; other control characters are shown
 * as '?'); pads with spaces to width when pad is set. Returns the columns
 * used.
 */
int	 tui_put(WINDOW *, int y, int x, int width, attr_t, int pad,
	    const char *utf8);
int	 tui_putf(WINDOW *, int y, int x, int width, attr_t,
	    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/*
 * Print UTF-8 text wrapped at width columns over at most maxlines lines
 * (0: no limit)
 * from y (breaking at spaces when it can; the lines after the first are
 * indented by indent). Returns the lines used. With a NULL window it only
 * counts them: scroll limits in screen rows use the same wrapping.
 */
int	 tui_put_wrap(WINDOW *, int y, int x, int width, attr_t, int maxlines,
	    int indent, const char *utf8);
/* Display columns of a UTF-8 string. */
int	 tui_width(const char *utf8);
/* Show the terminal cursor at y,x of win after this redraw. */
void	 tui_cursor(WINDOW *, int y, int x);

/*
 * Benchmarks (tests/bench/tui_queue.sh): with HIKYAKU_TUI_BENCH=FILE the
 * console appends the microseconds from each key to the doupdate() it
 * caused, and "#what MICROSECONDS" lines (monotonic) for these marks.
 */
void	 tui_bench_mark(const char *what);

/* "3m", "2h", "5d": an age or interval in seconds, at most 4 columns. */
void	 tui_fmt_age(char *out, size_t outlen, int64_t seconds);

#endif
