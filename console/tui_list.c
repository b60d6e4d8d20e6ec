/*
 * tui_list: virtual-scrolling list widget. See tui_list.h.
 *
 * Items live in an array sorted by key (binary search for live updates);
 * the view (filtered, sorted) is an array of item pointers rebuilt lazily
 * before drawing, only after the data, the sort or the filter changed, so
 * a key that only moves the cursor costs the visible rows and no more.
 */
#include <stdlib.h>
#include <string.h>

#include "tui_list.h"
#include "util.h"

struct item {
	void	*row;
	int	 selected;
};

enum prompt { PROMPT_NONE, PROMPT_SEARCH, PROMPT_FILTER };

struct tui_list {
	const struct tui_list_class *cls;
	struct item	**items;	/* by key */
	size_t		  n, cap;
	struct item	**view;
	size_t		  nview;
	int		  view_dirty;
	struct item	 *cur;		/* cursor item (NULL: none) */
	size_t		  cur_idx;	/* its index in the view */
	size_t		  top;		/* first visible view index */
	size_t		  nselected;
	int		  sort_col;	/* -1: key order */
	int		  sort_desc;
	char		 *filter;	/* lower case, NULL: none */
	char		 *needle;	/* last search, lower case */
	enum prompt	  prompt;
	struct tui_field  field;
	int		  page;		/* rows shown at the last draw */
};

struct tui_list *
tui_list_new(const struct tui_list_class *cls)
{
	struct tui_list *l = xcalloc(1, sizeof(*l));

	l->cls = cls;
	l->sort_col = -1;
	l->page = 10;
	tui_field_init(&l->field, "");
	return l;
}

void
tui_list_clear(struct tui_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		l->cls->free(l->items[i]->row);
		free(l->items[i]);
	}
	l->n = 0;
	l->nview = 0;
	l->cur = NULL;
	l->cur_idx = l->top = 0;
	l->nselected = 0;
	l->view_dirty = 1;
}

void
tui_list_free(struct tui_list *l)
{
	if (!l)
		return;
	tui_list_clear(l);
	free(l->items);
	free(l->view);
	free(l->filter);
	free(l->needle);
	tui_field_free(&l->field);
	free(l);
}

/* Index of key, or where it would go (*found says which). */
static size_t
find_pos(const struct tui_list *l, const char *key, int *found)
{
	size_t lo = 0, hi = l->n, mid;
	int c;

	*found = 0;
	/* Live updates mostly append (IDs sort by arrival): check the end. */
	if (l->n > 0 && strcmp(l->cls->key(l->items[l->n - 1]->row), key) < 0)
		return l->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(l->cls->key(l->items[mid]->row), key);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
tui_list_put(struct tui_list *l, void *row)
{
	struct item *it;
	size_t pos;
	int found;

	pos = find_pos(l, l->cls->key(row), &found);
	if (found) {
		it = l->items[pos];
		l->cls->free(it->row);
		it->row = row;
	} else {
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 256;
			l->items = xreallocarray(l->items, l->cap,
			    sizeof(*l->items));
		}
		it = xcalloc(1, sizeof(*it));
		it->row = row;
		memmove(l->items + pos + 1, l->items + pos,
		    (l->n - pos) * sizeof(*l->items));
		l->items[pos] = it;
		l->n++;
	}
	l->view_dirty = 1;
}

static const struct tui_list *merge_list;

static int
merge_cmp(const void *a, const void *b)
{
	return strcmp(merge_list->cls->key(*(void *const *)a),
	    merge_list->cls->key(*(void *const *)b));
}

/* Rows that all sort after the last item go at the end. */
static void
append(struct tui_list *l, void **rows, size_t n)
{
	struct item *it;
	size_t j;
	int view_too = !l->view_dirty && l->sort_col < 0 && !l->sort_desc &&
	    l->cur != NULL;

	if (l->n + n > l->cap) {
		l->cap = l->cap ? l->cap : 256;
		while (l->cap < l->n + n)
			l->cap *= 2;
		l->items = xreallocarray(l->items, l->cap, sizeof(*l->items));
		if (view_too)
			l->view = xreallocarray(l->view, l->cap,
			    sizeof(*l->view));
	}
	for (j = 0; j < n; j++) {
		it = xcalloc(1, sizeof(*it));
		it->row = rows[j];
		l->items[l->n++] = it;
		if (view_too && (!l->filter ||
		    l->cls->match(it->row, l->filter)))
			l->view[l->nview++] = it;
	}
	if (!view_too)
		l->view_dirty = 1;
}

void
tui_list_merge(struct tui_list *l, void **rows, size_t n)
{
	struct item **out, *it;
	size_t i = 0, j = 0, k = 0;
	int c;

	if (n == 0)
		return;
	merge_list = l;
	for (j = 1; j < n && merge_cmp(&rows[j - 1], &rows[j]) < 0; j++)
		;
	if (j < n)
		qsort(rows, n, sizeof(*rows), merge_cmp);
	/* A snapshot comes in key order: each page past the last row is
	 * appended, and so is the view when it is in key order, so a big
	 * queue loads in linear time. */
	if (l->n == 0 || strcmp(l->cls->key(l->items[l->n - 1]->row),
	    l->cls->key(rows[0])) < 0) {
		append(l, rows, n);
		return;
	}
	j = 0;
	out = xreallocarray(NULL, l->n + n, sizeof(*out));
	while (i < l->n || j < n) {
		if (i == l->n)
			c = 1;
		else if (j == n)
			c = -1;
		else
			c = strcmp(l->cls->key(l->items[i]->row),
			    l->cls->key(rows[j]));
		if (c < 0) {
			out[k++] = l->items[i++];
		} else if (c == 0) {
			it = l->items[i++];
			l->cls->free(it->row);
			it->row = rows[j++];
			out[k++] = it;
		} else {
			it = xcalloc(1, sizeof(*it));
			it->row = rows[j++];
			out[k++] = it;
		}
	}
	free(l->items);
	l->items = out;
	l->n = l->cap = k;
	l->view_dirty = 1;
}

void
tui_list_prune(struct tui_list *l, int (*keep)(const void *))
{
	size_t i, k = 0;
	struct item *it;

	for (i = 0; i < l->n; i++) {
		it = l->items[i];
		if (keep(it->row)) {
			l->items[k++] = it;
			continue;
		}
		if (it->selected)
			l->nselected--;
		if (l->cur == it)
			l->cur = NULL;
		l->cls->free(it->row);
		free(it);
	}
	if (k != l->n)
		l->view_dirty = 1;
	l->n = k;
}

int
tui_list_remove(struct tui_list *l, const char *key)
{
	struct item *it;
	size_t pos;
	int found;

	pos = find_pos(l, key, &found);
	if (!found)
		return 0;
	it = l->items[pos];
	memmove(l->items + pos, l->items + pos + 1,
	    (l->n - pos - 1) * sizeof(*l->items));
	l->n--;
	if (it->selected)
		l->nselected--;
	if (l->cur == it)
		l->cur = NULL;	/* the rebuild keeps cur_idx: the next row */
	l->cls->free(it->row);
	free(it);
	l->view_dirty = 1;
	return 1;
}

void *
tui_list_find(const struct tui_list *l, const char *key)
{
	size_t pos;
	int found;

	pos = find_pos(l, key, &found);
	return found ? l->items[pos]->row : NULL;
}

size_t
tui_list_count(const struct tui_list *l)
{
	return l->n;
}

/*
 * Stable merge sort of v[0..n) by the sort column: the view is built in
 * key order, so ties stay in key order without comparing keys, and a
 * run already in order costs one comparison (a queue sorted by next
 * retry mostly is). 100,000 rows sort well inside a keystroke's budget.
 */
static void
sort_view(const struct tui_list *l, struct item **v, struct item **tmp,
    size_t n)
{
	size_t h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	sort_view(l, v, tmp, h);
	sort_view(l, v + h, tmp, n - h);
	if (l->cls->cmp(v[h - 1]->row, v[h]->row, l->sort_col) <= 0)
		return;
	memcpy(tmp, v, h * sizeof(*v));
	/* k < j always, so the right half is never overwritten unread. */
	while (i < h && j < n)
		v[k++] = l->cls->cmp(v[j]->row, tmp[i]->row, l->sort_col) < 0 ?
		    v[j++] : tmp[i++];
	while (i < h)
		v[k++] = tmp[i++];
}

static void
reverse_view(struct tui_list *l)
{
	size_t i;

	for (i = 0; i < l->nview / 2; i++) {
		struct item *t = l->view[i];

		l->view[i] = l->view[l->nview - 1 - i];
		l->view[l->nview - 1 - i] = t;
	}
}

static void
rebuild(struct tui_list *l)
{
	size_t i;

	if (!l->view_dirty)
		return;
	l->view_dirty = 0;
	l->view = xreallocarray(l->view, l->cap ? l->cap : 1, sizeof(*l->view));
	l->nview = 0;
	for (i = 0; i < l->n; i++)
		if (!l->filter || l->cls->match(l->items[i]->row, l->filter))
			l->view[l->nview++] = l->items[i];
	if (l->sort_col >= 0) {
		struct item **tmp = xreallocarray(NULL, l->nview / 2 + 1,
		    sizeof(*tmp));

		sort_view(l, l->view, tmp, l->nview);
		free(tmp);
	}
	/* Descending: the whole order reversed, ties included. */
	if (l->sort_desc)
		reverse_view(l);
	/* Keep the cursor on its item; if it went, on the same place. */
	if (l->cur && !(l->cur_idx < l->nview &&
	    l->view[l->cur_idx] == l->cur)) {
		for (i = 0; i < l->nview; i++)
			if (l->view[i] == l->cur)
				break;
		if (i < l->nview)
			l->cur_idx = i;
		else
			l->cur = NULL;
	}
	if (l->cur_idx >= l->nview)
		l->cur_idx = l->nview ? l->nview - 1 : 0;
	l->cur = l->nview ? l->view[l->cur_idx] : NULL;
}

size_t
tui_list_shown(struct tui_list *l)
{
	rebuild(l);
	return l->nview;
}

void *
tui_list_current(struct tui_list *l)
{
	rebuild(l);
	return l->cur ? l->cur->row : NULL;
}

void **
tui_list_targets(struct tui_list *l, size_t *n)
{
	void **v;
	size_t i, k = 0;

	rebuild(l);
	v = xcalloc(l->nselected + 2, sizeof(*v));
	if (l->nselected) {
		for (i = 0; i < l->n; i++)
			if (l->items[i]->selected)
				v[k++] = l->items[i]->row;
	} else if (l->cur) {
		v[k++] = l->cur->row;
	}
	*n = k;
	return v;
}

void
tui_list_select_none(struct tui_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		l->items[i]->selected = 0;
	l->nselected = 0;
}

void
tui_list_select_shown(struct tui_list *l)
{
	size_t i;

	rebuild(l);
	tui_list_select_none(l);
	for (i = 0; i < l->nview; i++)
		l->view[i]->selected = 1;
	l->nselected = l->nview;
}

/* Every shown row, and only those, selected already? */
static int
shown_selected(struct tui_list *l)
{
	size_t i;

	if (l->nselected != l->nview || l->nview == 0)
		return 0;
	for (i = 0; i < l->nview; i++)
		if (!l->view[i]->selected)
			return 0;
	return 1;
}

size_t
tui_list_nselected(const struct tui_list *l)
{
	return l->nselected;
}

void
tui_list_filter(struct tui_list *l, const char *text)
{
	free(l->filter);
	l->filter = NULL;
	if (text && *text) {
		l->filter = xstrdup(text);
		ascii_lower(l->filter);
	}
	l->view_dirty = 1;
}

const char *
tui_list_filter_text(const struct tui_list *l)
{
	return l->filter;
}

void
tui_list_sort(struct tui_list *l, int col, int desc)
{
	l->sort_col = col;
	l->sort_desc = desc;
	l->view_dirty = 1;
}

static void
move_to(struct tui_list *l, size_t idx)
{
	if (l->nview == 0)
		return;
	if (idx >= l->nview)
		idx = l->nview - 1;
	l->cur_idx = idx;
	l->cur = l->view[idx];
}

static void
search(struct tui_list *l, int dir)
{
	size_t i, idx;

	if (!l->needle || l->nview == 0)
		return;
	for (i = 1; i <= l->nview; i++) {
		idx = (l->cur_idx + l->nview + (size_t)dir * i) % l->nview;
		if (l->cls->match(l->view[idx]->row, l->needle)) {
			move_to(l, idx);
			return;
		}
	}
	tui_error("not found: %s", l->needle);
}

static int
prompt_key(struct tui_list *l, const struct tui_key *k)
{
	char *v;

	if (k->fn == TUI_KEY_ESC) {
		l->prompt = PROMPT_NONE;
		return 1;
	}
	if ((k->fn == 0 && (k->ch == '\r' || k->ch == '\n')) ||
	    k->fn == KEY_ENTER) {
		v = tui_field_value(&l->field);
		if (l->prompt == PROMPT_FILTER) {
			tui_list_filter(l, v);
		} else if (*v) {
			free(l->needle);
			l->needle = xstrdup(v);
			ascii_lower(l->needle);
			search(l, 1);
		}
		free(v);
		l->prompt = PROMPT_NONE;
		return 1;
	}
	tui_field_key(&l->field, k);
	/* Every other key belongs to the prompt while it is open. */
	return 1;
}

int
tui_list_key(struct tui_list *l, const struct tui_key *k)
{
	size_t page = l->page > 1 ? (size_t)l->page - 1 : 1;

	rebuild(l);
	if (l->prompt != PROMPT_NONE)
		return prompt_key(l, k);
	if (k->alt)
		return 0;
	switch (k->fn) {
	case KEY_UP:
		move_to(l, l->cur_idx ? l->cur_idx - 1 : 0);
		return 1;
	case KEY_DOWN:
		move_to(l, l->cur_idx + 1);
		return 1;
	case KEY_PPAGE:
		move_to(l, l->cur_idx > page ? l->cur_idx - page : 0);
		return 1;
	case KEY_NPAGE:
		move_to(l, l->cur_idx + page);
		return 1;
	case KEY_HOME:
		move_to(l, 0);
		return 1;
	case KEY_END:
		move_to(l, l->nview ? l->nview - 1 : 0);
		return 1;
	case 0:
		break;
	default:
		return 0;
	}
	switch (k->ch) {
	case 'k':
		move_to(l, l->cur_idx ? l->cur_idx - 1 : 0);
		return 1;
	case 'j':
		move_to(l, l->cur_idx + 1);
		return 1;
	case 'g':
		move_to(l, 0);
		return 1;
	case 'G':
		move_to(l, l->nview ? l->nview - 1 : 0);
		return 1;
	case ' ':
		if (l->cur) {
			l->cur->selected = !l->cur->selected;
			l->nselected += l->cur->selected ? 1 : (size_t)-1;
			move_to(l, l->cur_idx + 1);
		}
		return 1;
	case '*':
		/* Pressed again it undoes itself, like a toggle. */
		if (shown_selected(l)) {
			tui_list_select_none(l);
			tui_message("selection cleared");
		} else {
			tui_list_select_shown(l);
			tui_message("%zu selected", l->nselected);
		}
		return 1;
	case '/':
		l->prompt = PROMPT_SEARCH;
		tui_field_set(&l->field, "");
		return 1;
	case '\\':
		l->prompt = PROMPT_FILTER;
		tui_field_set(&l->field, l->filter ? l->filter : "");
		return 1;
	case 'n':
		search(l, 1);
		return 1;
	case 'N':
		search(l, -1);
		return 1;
	case 's':
		tui_list_sort(l, l->sort_col + 1 >= l->cls->ncols ? -1 :
		    l->sort_col + 1, l->sort_desc);
		tui_message("sorted by %s", l->sort_col < 0 ? "arrival" :
		    l->cls->cols[l->sort_col]);
		return 1;
	case 'S':
		tui_list_sort(l, l->sort_col, !l->sort_desc);
		return 1;
	}
	return 0;
}

int
tui_list_prompting(const struct tui_list *l)
{
	return l->prompt != PROMPT_NONE;
}

const char *
tui_list_footer(const struct tui_list *l)
{
	if (l->prompt != PROMPT_NONE)
		return "Enter apply  Esc cancel";
	/* Short labels: with a screen's own keys this has to fit in two
	 * lines of 80 columns; `s` sort and `S` reverse are in the help. */
	return "Spc/* select  / find  n/N next  \\ filter";
}

void
tui_list_draw(struct tui_list *l, WINDOW *w, int y, int h, int width)
{
	size_t i;
	int rows = h, r;
	attr_t a;

	rebuild(l);
	if (l->prompt != PROMPT_NONE)
		rows--;
	if (rows < 1)
		rows = 1;
	l->page = rows;
	/* Scroll just enough to keep the cursor visible. */
	if (l->cur_idx < l->top)
		l->top = l->cur_idx;
	if (l->cur_idx >= l->top + (size_t)rows)
		l->top = l->cur_idx - (size_t)rows + 1;
	if (l->top + (size_t)rows > l->nview)
		l->top = l->nview > (size_t)rows ? l->nview - (size_t)rows : 0;
	for (r = 0, i = l->top; r < rows && i < l->nview; r++, i++) {
		a = A_NORMAL;
		if (l->view[i]->selected)
			a = tui_attr(TUI_SELECTED);
		if (i == l->cur_idx)
			a = tui_attr(TUI_CURSOR) |
			    (l->view[i]->selected ? A_BOLD : 0);
		if (a != A_NORMAL) {
			wattr_set(w, a, PAIR_NUMBER(a), NULL);
			mvwhline(w, y + r, 0, ' ', width);
			wattr_set(w, A_NORMAL, 0, NULL);
		}
		l->cls->draw(w, y + r, width, l->view[i]->row, a);
	}
	if (l->prompt != PROMPT_NONE) {
		r = tui_put(w, y + h - 1, 0, width, tui_attr(TUI_TITLE), 0,
		    l->prompt == PROMPT_SEARCH ? "search: " : "filter: ");
		tui_field_draw(&l->field, w, y + h - 1, r, width - r, 1);
	}
}
