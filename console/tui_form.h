/*
 * tui_form: text fields and forms for the console (DESIGN §8).
 *
 * A field is a one-line editor of a UTF-8 value (cursor, Home/End,
 * Backspace/Delete, Ctrl-U/Ctrl-K, horizontal scrolling, optional masking
 * for secrets). A form is a vertical list of labelled fields, each with an
 * optional validator run when focus leaves it and again before the form
 * is accepted, so a wrong value is named next to its field, never saved.
 */
#ifndef HIKYAKU_TUI_FORM_H
#define HIKYAKU_TUI_FORM_H

#include <stddef.h>

#include "tui.h"

struct tui_field {
	wchar_t		*text;		/* NUL-terminated */
	size_t		 len, cap;
	size_t		 cursor;	/* index into text */
	size_t		 scroll;	/* first index shown */
	int		 masked;	/* show '*' for every character */
};

void	 tui_field_init(struct tui_field *, const char *utf8);
void	 tui_field_free(struct tui_field *);
void	 tui_field_set(struct tui_field *, const char *utf8);
/* The value as UTF-8 (allocated). */
char	*tui_field_value(const struct tui_field *);
/*
 * Edit with a key. Returns 1 when the key was an editing key (printable
 * characters, Backspace, Delete, arrows left/right, Home, End, Ctrl-A,
 * Ctrl-E, Ctrl-U, Ctrl-K, Ctrl-W), 0 otherwise (Enter, Esc, Tab, ...).
 */
int	 tui_field_key(struct tui_field *, const struct tui_key *);
/* Draw in width columns at y,x; with focus, place the cursor. */
void	 tui_field_draw(struct tui_field *, WINDOW *, int y, int x,
	    int width, int focus);

/*
 * Validator: NULL when the value is fine, else an allocated message
 * ("not a port number").
 */
typedef char *(*tui_validate_fn)(const char *value, void *arg);

struct tui_form_item {
	const char		*label;
	struct tui_field	 field;
	tui_validate_fn		 validate;	/* may be NULL */
	void			*varg;
	char			*error;		/* last validation message */
};

struct tui_form {
	struct tui_form_item	*items;
	size_t			 n;
	size_t			 focus;
};

void	 tui_form_init(struct tui_form *);
void	 tui_form_free(struct tui_form *);
/* Add a field; returns its index. */
size_t	 tui_form_add(struct tui_form *, const char *label, const char *value,
	    int masked, tui_validate_fn, void *varg);
/* The value of field i (allocated UTF-8). */
char	*tui_form_value(const struct tui_form *, size_t i);

enum tui_form_result {
	TUI_FORM_IGNORED,	/* not a form key */
	TUI_FORM_HANDLED,
	TUI_FORM_ACCEPT,	/* Enter on the last field, all fields valid */
	TUI_FORM_CANCEL		/* Esc */
};
/* Tab/Down/Enter next field, Shift-Tab/Up previous, editing keys. */
enum tui_form_result tui_form_key(struct tui_form *, const struct tui_key *);
/* Validate every field; returns the number of invalid ones. */
int	 tui_form_validate(struct tui_form *);
/* Draw at y,x in a box of width columns; returns the lines used. */
int	 tui_form_draw(struct tui_form *, WINDOW *, int y, int x, int width);

#endif
