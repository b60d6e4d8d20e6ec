/*
 * tui_form: text fields and validated forms. See tui_form.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "tui_form.h"
#include "util.h"

static void
field_reserve(struct tui_field *f, size_t n)
{
	if (n + 1 <= f->cap)
		return;
	f->cap = (n + 1) * 2;
	f->text = xreallocarray(f->text, f->cap, sizeof(wchar_t));
}

void
tui_field_set(struct tui_field *f, const char *s)
{
	mbstate_t st;
	size_t n, len = s ? strlen(s) : 0;
	wchar_t wc;

	f->len = f->cursor = f->scroll = 0;
	field_reserve(f, len);
	memset(&st, 0, sizeof(st));
	while (len > 0) {
		n = mbrtowc(&wc, s, len, &st);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			wc = L'?';
			n = 1;
		} else if (n == 0) {
			break;
		}
		f->text[f->len++] = wc;
		s += n;
		len -= n;
	}
	f->text[f->len] = L'\0';
	f->cursor = f->len;
}

void
tui_field_init(struct tui_field *f, const char *s)
{
	memset(f, 0, sizeof(*f));
	tui_field_set(f, s);
}

void
tui_field_free(struct tui_field *f)
{
	free(f->text);
	memset(f, 0, sizeof(*f));
}

char *
tui_field_value(const struct tui_field *f)
{
	struct buf b;
	mbstate_t st;
	char mb[MB_LEN_MAX];
	size_t i, n;

	buf_init(&b);
	memset(&st, 0, sizeof(st));
	for (i = 0; i < f->len; i++) {
		n = wcrtomb(mb, f->text[i], &st);
		if (n != (size_t)-1)
			buf_add(&b, mb, n);
	}
	buf_addch(&b, '\0');
	return buf_take(&b);
}

static void
field_delete(struct tui_field *f, size_t at, size_t n)
{
	memmove(f->text + at, f->text + at + n,
	    (f->len - at - n + 1) * sizeof(wchar_t));
	f->len -= n;
}

int
tui_field_key(struct tui_field *f, const struct tui_key *k)
{
	size_t p;

	if (k->alt)
		return 0;
	switch (k->fn) {
	case 0:
		break;
	case KEY_LEFT:
		if (f->cursor > 0)
			f->cursor--;
		return 1;
	case KEY_RIGHT:
		if (f->cursor < f->len)
			f->cursor++;
		return 1;
	case KEY_HOME:
		f->cursor = 0;
		return 1;
	case KEY_END:
		f->cursor = f->len;
		return 1;
	case KEY_BACKSPACE:
		goto backspace;
	case KEY_DC:
		if (f->cursor < f->len)
			field_delete(f, f->cursor, 1);
		return 1;
	default:
		return 0;
	}
	switch (k->ch) {
	case 1:		/* Ctrl-A */
		f->cursor = 0;
		return 1;
	case 5:		/* Ctrl-E */
		f->cursor = f->len;
		return 1;
	case 8:
	case 127:
backspace:
		if (f->cursor > 0) {
			f->cursor--;
			field_delete(f, f->cursor, 1);
		}
		return 1;
	case 11:	/* Ctrl-K */
		f->len = f->cursor;
		f->text[f->len] = L'\0';
		return 1;
	case 21:	/* Ctrl-U */
		field_delete(f, 0, f->cursor);
		f->cursor = 0;
		return 1;
	case 23:	/* Ctrl-W: the word before the cursor */
		p = f->cursor;
		while (p > 0 && iswspace((wint_t)f->text[p - 1]))
			p--;
		while (p > 0 && !iswspace((wint_t)f->text[p - 1]))
			p--;
		field_delete(f, p, f->cursor - p);
		f->cursor = p;
		return 1;
	}
	if (k->ch < 32 || k->ch == 127 || !iswprint(k->ch))
		return 0;
	field_reserve(f, f->len + 1);
	memmove(f->text + f->cursor + 1, f->text + f->cursor,
	    (f->len - f->cursor + 1) * sizeof(wchar_t));
	f->text[f->cursor++] = (wchar_t)k->ch;
	f->len++;
	return 1;
}

static int
wc_width(wchar_t c)
{
	int w = wcwidth(c);

	return w < 0 ? 1 : w;
}

void
tui_field_draw(struct tui_field *f, WINDOW *w, int y, int x, int width,
    int focus)
{
	int used = 0, cx = x, cw;
	size_t i;
	wchar_t c;

	if (width <= 0)
		return;
	/* Scroll so the cursor stays visible, a little context left of it. */
	if (f->cursor < f->scroll)
		f->scroll = f->cursor;
	for (;;) {
		used = 0;
		for (i = f->scroll; i < f->cursor; i++)
			used += f->masked ? 1 : wc_width(f->text[i]);
		if (used < width || f->scroll >= f->cursor)
			break;
		f->scroll++;
	}
	wattr_set(w, A_UNDERLINE, 0, NULL);
	mvwhline(w, y, x, ' ', width);
	used = 0;
	for (i = f->scroll; i <= f->len; i++) {
		if (i == f->cursor)
			cx = x + used;
		if (i == f->len)
			break;
		c = f->masked ? L'*' : f->text[i];
		cw = wc_width(c);
		if (used + cw > width)
			break;
		if (!iswprint((wint_t)c))
			c = L'?';
		mvwaddnwstr(w, y, x + used, &c, 1);
		used += cw;
	}
	wattr_set(w, A_NORMAL, 0, NULL);
	if (focus)
		tui_cursor(w, y, cx < x + width ? cx : x + width - 1);
}

void
tui_form_init(struct tui_form *fm)
{
	memset(fm, 0, sizeof(*fm));
}

void
tui_form_free(struct tui_form *fm)
{
	size_t i;

	for (i = 0; i < fm->n; i++) {
		tui_field_free(&fm->items[i].field);
		free(fm->items[i].error);
	}
	free(fm->items);
	memset(fm, 0, sizeof(*fm));
}

size_t
tui_form_add(struct tui_form *fm, const char *label, const char *value,
    int masked, tui_validate_fn validate, void *varg)
{
	struct tui_form_item *it;

	fm->items = xreallocarray(fm->items, fm->n + 1, sizeof(*fm->items));
	it = &fm->items[fm->n];
	memset(it, 0, sizeof(*it));
	it->label = label;
	tui_field_init(&it->field, value);
	it->field.masked = masked;
	it->validate = validate;
	it->varg = varg;
	return fm->n++;
}

char *
tui_form_value(const struct tui_form *fm, size_t i)
{
	return tui_field_value(&fm->items[i].field);
}

/* Validate one field; 1 when valid. */
static int
item_check(struct tui_form_item *it)
{
	char *v;

	free(it->error);
	it->error = NULL;
	if (!it->validate)
		return 1;
	v = tui_field_value(&it->field);
	it->error = it->validate(v, it->varg);
	free(v);
	return it->error == NULL;
}

int
tui_form_validate(struct tui_form *fm)
{
	size_t i;
	int bad = 0, first = -1;

	for (i = 0; i < fm->n; i++)
		if (!item_check(&fm->items[i])) {
			bad++;
			if (first < 0)
				first = (int)i;
		}
	if (first >= 0)
		fm->focus = (size_t)first;
	return bad;
}

enum tui_form_result
tui_form_key(struct tui_form *fm, const struct tui_key *k)
{
	if (fm->n == 0)
		return TUI_FORM_IGNORED;
	if (k->fn == TUI_KEY_ESC)
		return TUI_FORM_CANCEL;
	if (k->fn == KEY_UP || k->fn == KEY_BTAB) {
		item_check(&fm->items[fm->focus]);
		if (fm->focus > 0)
			fm->focus--;
		return TUI_FORM_HANDLED;
	}
	if (k->fn == KEY_DOWN || (k->fn == 0 && !k->alt && (k->ch == '\t' ||
	    k->ch == '\r' || k->ch == '\n')) || k->fn == KEY_ENTER) {
		item_check(&fm->items[fm->focus]);
		if (fm->focus + 1 < fm->n) {
			fm->focus++;
			return TUI_FORM_HANDLED;
		}
		if (k->fn == KEY_DOWN || k->ch == '\t')
			return TUI_FORM_HANDLED;
		return tui_form_validate(fm) == 0 ? TUI_FORM_ACCEPT :
		    TUI_FORM_HANDLED;
	}
	return tui_field_key(&fm->items[fm->focus].field, k) ?
	    TUI_FORM_HANDLED : TUI_FORM_IGNORED;
}

int
tui_form_draw(struct tui_form *fm, WINDOW *w, int y, int x, int width)
{
	int lw = 0, l, line = y;
	size_t i;

	for (i = 0; i < fm->n; i++)
		if ((l = tui_width(fm->items[i].label)) > lw)
			lw = l;
	if (lw > width / 3)
		lw = width / 3;
	for (i = 0; i < fm->n; i++) {
		struct tui_form_item *it = &fm->items[i];

		tui_put(w, line, x, lw, i == fm->focus ? tui_attr(TUI_TITLE) :
		    A_NORMAL, 1, it->label);
		tui_field_draw(&it->field, w, line, x + lw + 2,
		    width - lw - 2, i == fm->focus);
		line++;
		if (it->error) {
			tui_put(w, line, x + lw + 2, width - lw - 2,
			    tui_attr(TUI_BAD), 0, it->error);
			line++;
		}
	}
	return line - y;
}
