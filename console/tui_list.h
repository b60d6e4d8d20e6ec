/*
 * tui_list: the console's list widget (DESIGN §8): virtual scrolling over
 * any number of rows (only the visible ones are drawn, so 100,000 rows
 * cost no more per keystroke than 20), sorting by column, `/` search,
 * filtering, multi-select with Space or `*` (all rows the filter shows).
 *
 * Rows belong to the caller and are identified by a unique string key
 * (the queue ID). The list keeps them in key order, so live updates
 * (put/remove by key) cost a binary search, and it keeps the cursor and
 * the selection on the same keys whatever arrives, is sorted or filtered.
 */
#ifndef HIKYAKU_TUI_LIST_H
#define HIKYAKU_TUI_LIST_H

#include <stddef.h>

#include "tui.h"
#include "tui_form.h"

struct tui_list;

struct tui_list_class {
	const char	*(*key)(const void *row);
	/* Compare two rows by sort column col (0 .. ncols-1). */
	int		 (*cmp)(const void *a, const void *b, int col);
	/* Does the row contain needle (already lower-case)? */
	int		 (*match)(const void *row, const char *needle);
	/* Draw one row in width columns at y (attr: cursor/selection). */
	void		 (*draw)(WINDOW *, int y, int width, const void *row,
			    attr_t);
	void		 (*free)(void *row);
	/* Column names for the sort indicator, ncols of them. */
	const char	*const *cols;
	int		 ncols;
};

struct tui_list	*tui_list_new(const struct tui_list_class *);
void		 tui_list_free(struct tui_list *);
/* Drop every row. */
void		 tui_list_clear(struct tui_list *);

/* Insert or replace (and free the old row) by key. */
void		 tui_list_put(struct tui_list *, void *row);
/*
 * Insert or replace n rows at once (a snapshot page): one sort and one
 * merge instead of n binary-search inserts. rows is reordered.
 */
void		 tui_list_merge(struct tui_list *, void **rows, size_t n);
/* Remove and free every row for which keep() says 0. */
void		 tui_list_prune(struct tui_list *, int (*keep)(const void *row));
/* Remove and free by key; 0 if absent. */
int		 tui_list_remove(struct tui_list *, const char *key);
void		*tui_list_find(const struct tui_list *, const char *key);
size_t		 tui_list_count(const struct tui_list *);
/* Rows shown after filtering. */
size_t		 tui_list_shown(struct tui_list *);

/* The row under the cursor, NULL if the view is empty. */
void		*tui_list_current(struct tui_list *);
/*
 * The rows an action applies to: the selected ones if any, else the
 * current one. Returns a NULL-terminated array (caller frees the array,
 * not the rows); *n gets the count.
 */
void		**tui_list_targets(struct tui_list *, size_t *n);
void		 tui_list_select_none(struct tui_list *);
/* Select exactly the rows shown (the filter's matches); others drop. */
void		 tui_list_select_shown(struct tui_list *);
size_t		 tui_list_nselected(const struct tui_list *);

/* Filter: show only rows matching text (NULL or "" for all). */
void		 tui_list_filter(struct tui_list *, const char *text);
const char	*tui_list_filter_text(const struct tui_list *);
void		 tui_list_sort(struct tui_list *, int col, int descending);

/*
 * Navigation and list keys: arrows, j/k, PgUp/PgDn, g/G, Home/End,
 * Space select, `*` select every shown row (again: none), `/` search
 * (then n/N), `\` filter, `s` next sort column, `S` reverse. While the search or filter prompt is open every printable
 * key goes to it. Returns 1 when handled.
 */
int		 tui_list_key(struct tui_list *, const struct tui_key *);
/* Is the search/filter prompt open (the screen should not take keys)? */
int		 tui_list_prompting(const struct tui_list *);
/* Footer text for the list keys. */
const char	*tui_list_footer(const struct tui_list *);

/* Draw the rows in h lines at y (the prompt, when open, on the last). */
void		 tui_list_draw(struct tui_list *, WINDOW *, int y, int h,
		    int width);

#endif
