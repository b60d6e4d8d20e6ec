/*
 * test_tui_list: the console's list widget and form fields without a
 * terminal. The framework's drawing and status-line functions are
 * replaced by the stand-ins below: the widgets' logic (key order, live
 * updates keeping the cursor and the selection, merge, filter, search,
 * sort, field editing and validation) is what is tested here; drawing is
 * covered by tests/integration/tui.sh in a real terminal.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tui_form.h"
#include "tui_list.h"
#include "util.h"

static int errors;

void
tui_message(const char *fmt, ...)
{
	(void)fmt;
}

void
tui_error(const char *fmt, ...)
{
	(void)fmt;
	errors++;
}

attr_t
tui_attr(enum tui_color c)
{
	return (attr_t)c;
}

int
tui_put(WINDOW *w, int y, int x, int width, attr_t a, int pad,
    const char *s)
{
	return (int)strlen(s);
}

void
tui_cursor(WINDOW *w, int y, int x)
{
}

int
tui_width(const char *s)
{
	return (int)strlen(s);
}

struct row {
	char	 key[8];
	int	 size;
};

static int nfreed;

static const char *
row_key(const void *r)
{
	return ((const struct row *)r)->key;
}

static int
row_cmp(const void *a, const void *b, int col)
{
	return ((const struct row *)a)->size - ((const struct row *)b)->size;
}

static int
row_match(const void *r, const char *needle)
{
	return strstr(((const struct row *)r)->key, needle) != NULL;
}

static void
row_draw(WINDOW *w, int y, int width, const void *r, attr_t a)
{
}

static void
row_free(void *r)
{
	nfreed++;
	free(r);
}

static const char *const cols[] = { "size" };
static const struct tui_list_class cls = {
	.key = row_key, .cmp = row_cmp, .match = row_match, .draw = row_draw,
	.free = row_free, .cols = cols, .ncols = 1,
};

static struct row *
mk(const char *key, int size)
{
	struct row *r = xcalloc(1, sizeof(*r));

	snprintf(r->key, sizeof(r->key), "%s", key);
	r->size = size;
	return r;
}

static const char *
cur(struct tui_list *l)
{
	struct row *r = tui_list_current(l);

	return r ? r->key : "";
}

static void
press(struct tui_list *l, int ch)
{
	struct tui_key k = { .ch = (wint_t)ch };

	tui_list_key(l, &k);
}

static void
press_fn(struct tui_list *l, int fn)
{
	struct tui_key k = { .fn = fn };

	tui_list_key(l, &k);
}

static void
test_order_and_cursor(void **state)
{
	struct tui_list *l = tui_list_new(&cls);

	tui_list_put(l, mk("c", 3));
	tui_list_put(l, mk("a", 1));
	tui_list_put(l, mk("b", 2));
	assert_int_equal(tui_list_count(l), 3);
	assert_string_equal(cur(l), "a");
	press(l, 'j');
	assert_string_equal(cur(l), "b");
	/* A row arriving before the cursor does not move it off "b". */
	tui_list_put(l, mk("0", 9));
	assert_string_equal(cur(l), "b");
	/* Replacing a row keeps the cursor and frees the old copy. */
	nfreed = 0;
	tui_list_put(l, mk("b", 5));
	assert_int_equal(nfreed, 1);
	assert_string_equal(cur(l), "b");
	assert_int_equal(((struct row *)tui_list_find(l, "b"))->size, 5);
	/* Removing the cursor row moves it to the next one. */
	assert_int_equal(tui_list_remove(l, "b"), 1);
	assert_int_equal(tui_list_remove(l, "b"), 0);
	assert_string_equal(cur(l), "c");
	press(l, 'G');
	assert_string_equal(cur(l), "c");
	press(l, 'g');
	assert_string_equal(cur(l), "0");
	press_fn(l, KEY_END);
	assert_string_equal(cur(l), "c");
	tui_list_free(l);
}

static void
test_merge(void **state)
{
	struct tui_list *l = tui_list_new(&cls);
	void *rows[3];

	tui_list_put(l, mk("b", 1));
	rows[0] = mk("d", 4);
	rows[1] = mk("a", 1);
	rows[2] = mk("b", 7);
	nfreed = 0;
	tui_list_merge(l, rows, 3);
	assert_int_equal(nfreed, 1);
	assert_int_equal(tui_list_count(l), 3);
	assert_string_equal(cur(l), "a");
	press(l, 'j');
	assert_string_equal(cur(l), "b");
	assert_int_equal(((struct row *)tui_list_current(l))->size, 7);
	press(l, 'j');
	assert_string_equal(cur(l), "d");
	tui_list_free(l);
}

/*
 * Pages of a snapshot in key order: one that overlaps the rows shown
 * merges, the next ones are appended to the rows and to the view (the
 * filter still applies), and the cursor stays where it was.
 */
static void
test_merge_pages(void **state)
{
	struct tui_list *l = tui_list_new(&cls);
	void *rows[3];

	tui_list_put(l, mk("a1", 1));
	tui_list_put(l, mk("b1", 1));
	assert_int_equal(tui_list_shown(l), 2);
	press(l, 'j');
	assert_string_equal(cur(l), "b1");
	rows[0] = mk("a1", 2);
	rows[1] = mk("b1", 2);
	rows[2] = mk("c1", 2);
	tui_list_merge(l, rows, 3);
	assert_int_equal(tui_list_count(l), 3);
	assert_int_equal(tui_list_shown(l), 3);
	assert_string_equal(cur(l), "b1");
	rows[0] = mk("d1", 3);
	rows[1] = mk("e2", 3);
	tui_list_merge(l, rows, 2);
	assert_int_equal(tui_list_shown(l), 5);
	assert_string_equal(cur(l), "b1");
	press(l, 'G');
	assert_string_equal(cur(l), "e2");
	tui_list_filter(l, "1");
	assert_int_equal(tui_list_shown(l), 4);
	rows[0] = mk("f1", 4);
	rows[1] = mk("g2", 4);
	tui_list_merge(l, rows, 2);
	assert_int_equal(tui_list_count(l), 7);
	assert_int_equal(tui_list_shown(l), 5);
	press(l, 'G');
	assert_string_equal(cur(l), "f1");
	assert_int_equal(((struct row *)tui_list_current(l))->size, 4);
	tui_list_free(l);
}

static void
test_select_targets(void **state)
{
	struct tui_list *l = tui_list_new(&cls);
	void **t;
	size_t n;

	tui_list_put(l, mk("a", 1));
	tui_list_put(l, mk("b", 2));
	tui_list_put(l, mk("c", 3));
	t = tui_list_targets(l, &n);
	assert_int_equal(n, 1);
	assert_string_equal(((struct row *)t[0])->key, "a");
	free(t);
	press(l, ' ');		/* selects a, moves to b */
	press(l, 'j');
	press(l, ' ');		/* selects c */
	assert_int_equal(tui_list_nselected(l), 2);
	t = tui_list_targets(l, &n);
	assert_int_equal(n, 2);
	assert_string_equal(((struct row *)t[0])->key, "a");
	assert_string_equal(((struct row *)t[1])->key, "c");
	free(t);
	/* A selected row that goes away is no longer counted. */
	tui_list_remove(l, "c");
	assert_int_equal(tui_list_nselected(l), 1);
	tui_list_select_none(l);
	assert_int_equal(tui_list_nselected(l), 0);
	tui_list_free(l);
}

/* `*` selects exactly the rows the filter shows; again, none. */
static void
test_select_shown(void **state)
{
	struct tui_list *l = tui_list_new(&cls);
	void **t;
	size_t n;

	tui_list_put(l, mk("ax1", 1));
	tui_list_put(l, mk("by2", 2));
	tui_list_put(l, mk("cx3", 3));
	press(l, 'j');
	press(l, ' ');		/* by2, which the filter will hide */
	tui_list_filter(l, "x");
	press(l, '*');
	assert_int_equal(tui_list_nselected(l), 2);
	t = tui_list_targets(l, &n);
	assert_int_equal(n, 2);
	assert_string_equal(((struct row *)t[0])->key, "ax1");
	assert_string_equal(((struct row *)t[1])->key, "cx3");
	free(t);
	press(l, '*');
	assert_int_equal(tui_list_nselected(l), 0);
	/* A filter that shows nothing selects nothing. */
	tui_list_filter(l, "zz");
	press(l, '*');
	assert_int_equal(tui_list_nselected(l), 0);
	tui_list_free(l);
}

static void
type(struct tui_list *l, const char *s)
{
	while (*s)
		press(l, *s++);
	press(l, '\r');
}

static void
test_filter_search_sort(void **state)
{
	struct tui_list *l = tui_list_new(&cls);

	tui_list_put(l, mk("ax1", 3));
	tui_list_put(l, mk("bx2", 1));
	tui_list_put(l, mk("cy3", 2));
	press(l, '\\');
	assert_true(tui_list_prompting(l));
	type(l, "x");
	assert_false(tui_list_prompting(l));
	assert_int_equal(tui_list_shown(l), 2);
	assert_string_equal(tui_list_filter_text(l), "x");
	tui_list_filter(l, NULL);
	assert_int_equal(tui_list_shown(l), 3);
	press(l, '/');
	type(l, "cy");
	assert_string_equal(cur(l), "cy3");
	press(l, 'n');		/* the only match: stays */
	assert_string_equal(cur(l), "cy3");
	errors = 0;
	press(l, '/');
	type(l, "zz");
	assert_int_equal(errors, 1);
	/* Sort by size keeps the cursor on its row. */
	press(l, 's');
	assert_string_equal(cur(l), "cy3");
	press(l, 'g');
	assert_string_equal(cur(l), "bx2");
	press(l, 'S');		/* descending */
	press(l, 'g');
	assert_string_equal(cur(l), "ax1");
	tui_list_free(l);
}

static void
test_list_big(void **state)
{
	struct tui_list *l = tui_list_new(&cls);
	void **rows = xcalloc(100000, sizeof(*rows));
	char key[8];
	size_t i;

	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "%06zu", 99999 - i);
		rows[i] = mk(key, (int)i);
	}
	tui_list_merge(l, rows, 100000);
	free(rows);
	assert_int_equal(tui_list_shown(l), 100000);
	press(l, 'G');
	assert_string_equal(cur(l), "099999");
	press_fn(l, KEY_PPAGE);
	assert_string_equal(cur(l), "099990");	/* page of 10 at first */
	tui_list_remove(l, "099990");
	assert_string_equal(cur(l), "099991");
	tui_list_free(l);
}

static void
test_field(void **state)
{
	struct tui_field f;
	struct tui_key k = { 0 };
	char *v;

	tui_field_init(&f, "héllo");
	v = tui_field_value(&f);
	assert_string_equal(v, "héllo");
	free(v);
	k.fn = KEY_HOME;
	assert_int_equal(tui_field_key(&f, &k), 1);
	k.fn = 0;
	k.ch = L'→';
	tui_field_key(&f, &k);
	k.fn = KEY_END;
	tui_field_key(&f, &k);
	k.fn = 0;
	k.ch = 127;		/* Backspace */
	tui_field_key(&f, &k);
	v = tui_field_value(&f);
	assert_string_equal(v, "→héll");
	free(v);
	k.ch = 23;		/* Ctrl-W: the word */
	tui_field_key(&f, &k);
	assert_int_equal(f.len, 0);
	k.ch = '\r';
	assert_int_equal(tui_field_key(&f, &k), 0);
	tui_field_free(&f);
}

static char *
need_digits(const char *v, void *arg)
{
	return *v && strspn(v, "0123456789") == strlen(v) ? NULL :
	    xstrdup("not a port number");
}

static void
test_form(void **state)
{
	struct tui_form fm;
	struct tui_key enter = { .ch = '\r' }, k = { 0 };
	char *v;

	tui_form_init(&fm);
	tui_form_add(&fm, "Host", "smtp.example.org", 0, NULL, NULL);
	tui_form_add(&fm, "Port", "58x", 0, need_digits, NULL);
	assert_int_equal(tui_form_key(&fm, &enter), TUI_FORM_HANDLED);
	assert_int_equal(fm.focus, 1);
	/* Enter on the last field: invalid, so no accept, and it says why. */
	assert_int_equal(tui_form_key(&fm, &enter), TUI_FORM_HANDLED);
	assert_non_null(fm.items[1].error);
	assert_string_equal(fm.items[1].error, "not a port number");
	k.ch = 127;
	tui_form_key(&fm, &k);
	k.ch = '7';
	tui_form_key(&fm, &k);
	assert_int_equal(tui_form_key(&fm, &enter), TUI_FORM_ACCEPT);
	assert_null(fm.items[1].error);
	v = tui_form_value(&fm, 1);
	assert_string_equal(v, "587");
	free(v);
	k.ch = 0;
	k.fn = TUI_KEY_ESC;
	assert_int_equal(tui_form_key(&fm, &k), TUI_FORM_CANCEL);
	tui_form_free(&fm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_cursor),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_pages),
		cmocka_unit_test(test_select_targets),
		cmocka_unit_test(test_select_shown),
		cmocka_unit_test(test_filter_search_sort),
		cmocka_unit_test(test_list_big),
		cmocka_unit_test(test_field),
		cmocka_unit_test(test_form),
	};

	setlocale(LC_ALL, "C.UTF-8");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
