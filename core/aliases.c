/*
 * aliases: /etc/aliases parsing and expansion (aliases.h).
 */
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "aliases.h"
#include "config.h"
#include "maps.h"
#include "util.h"

/* ---- parsing ---- */

void
alias_targets_free(struct alias_target *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].value);
	free(v);
}

void
aliases_free(struct aliases *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].name);
		alias_targets_free(a->v[i].targets, a->v[i].ntargets);
	}
	free(a->v);
	free(a->file);
	free(a);
}

/* End of a "..." string starting at s (the closing quote), or NULL. */
static const char *
quote_end(const char *s)
{
	for (const char *p = s + 1; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			return p;
	}
	return NULL;
}

/*
 * Classify one target (e, len bytes, trimmed). Returns 0 and fills t, or
 * -1 with *err (static) and *errcol (offset in e).
 */
static int
classify_target(const char *e, size_t len, struct alias_target *t,
    const char **err, size_t *errcol)
{
	char *s = xstrndup(e, len), *u = s;
	struct address a;
	enum address_error why;

	*errcol = 0;
	/* "|cmd", "/path" and ":include:" may be quoted whole. */
	if (*s == '"' && quote_end(s) == s + len - 1 && len >= 2) {
		s[len - 1] = '\0';
		u = s + 1;
		if (*u != '|' && *u != '/' &&
		    ascii_strncasecmp(u, ":include:", 9) != 0) {
			s[len - 1] = '"';
			u = s;
		}
	}
	if (*u == '|') {
		t->kind = ALIAS_PIPE;
		t->value = xstrdup(skip_ws(u + 1));
		if (*t->value == '\0') {
			*err = "empty command after '|'";
			goto fail;
		}
	} else if (*u == '/') {
		t->kind = strcmp(u, "/dev/null") == 0 ? ALIAS_DEVNULL :
		    ALIAS_FILE;
		t->value = xstrdup(u);
	} else if (ascii_strncasecmp(u, ":include:", 9) == 0) {
		t->kind = ALIAS_INCLUDE;
		t->value = xstrdup(skip_ws(u + 9));
		if (t->value[0] != '/') {
			*errcol = (size_t)(u - s) + 9;
			*err = ":include: needs an absolute path";
			goto fail;
		}
	} else {
		if (*u == '\\') {
			/* sendmail: \name delivers to name, no more aliasing. */
			t->noalias = 1;
			u++;
		}
		if (strpbrk(u, " \t") != NULL && *u != '"' && *u != '<') {
			*errcol = strcspn(s, " \t");
			*err = "white space inside a target (separate targets "
			    "with ',', quote commands and paths)";
			goto fail;
		}
		if (address_parse(u, &a, &why) < 0) {
			*errcol = (size_t)(u - s);
			*err = address_strerror(why);
			goto fail;
		}
		if (a.domain == NULL) {
			t->kind = ALIAS_LOCAL;
			t->value = xstrdup(a.local);
		} else {
			t->kind = ALIAS_ADDRESS;
			t->value = address_format(&a);
		}
		if (t->noalias && t->kind != ALIAS_LOCAL) {
			address_free(&a);
			*err = "'\\' marks a local name, not an address";
			goto fail;
		}
		address_free(&a);
	}
	free(s);
	return 0;
fail:
	free(t->value);
	t->value = NULL;
	free(s);
	return -1;
}

/*
 * Split text (from p in logical line ml) at commas outside quotes and
 * append the targets. Errors go to d. Returns the number of errors.
 */
static int
parse_target_list(const char *file, const struct maps_line *ml,
    const char *p, struct alias_target **v, size_t *n, struct diags *d)
{
	int errors = 0;

	while (*p != '\0') {
		const char *e = p, *end;
		size_t len;

		while (*p != '\0' && *p != ',') {
			if (*p == '"') {
				const char *q = quote_end(p);

				if (q == NULL) {
					int line, col;

					maps_line_pos(ml, p, &line, &col);
					diags_add(d, file, line, col,
					    DIAG_ERROR, "missing closing '\"'");
					return errors + 1;
				}
				p = q;
			}
			p++;
		}
		end = p;
		if (*p == ',')
			p++;
		/* Lines and continuations are whitespace to a list. */
		while (*e == ' ' || *e == '\t' || *e == '\n')
			e++;
		while (end > e && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\n'))
			end--;
		len = (size_t)(end - e);
		if (len > 0) {
			struct alias_target t = { 0 };
			const char *err;
			size_t errcol;

			maps_line_pos(ml, e, &t.line, &t.col);
			if (classify_target(e, len, &t, &err, &errcol) < 0) {
				int line, col;

				maps_line_pos(ml, e + errcol, &line, &col);
				diags_add(d, file, line, col, DIAG_ERROR,
				    "%s: %.*s", err, (int)len, e);
				errors++;
				continue;
			}
			*v = xreallocarray(*v, *n + 1, sizeof(**v));
			(*v)[(*n)++] = t;
		}
	}
	return errors;
}

static int
parse_alias(const char *file, struct maps_line *ml, struct alias *al,
    struct diags *d)
{
	char *s = ml->text;
	size_t nlen = strcspn(s, ": \t");
	const char *c = skip_ws(s + nlen);
	int line, col;

	if (nlen == 0 || *c != ':') {
		maps_line_pos(ml, nlen == 0 ? s : c, &line, &col);
		diags_add(d, file, line, col, DIAG_ERROR,
		    nlen == 0 ? "missing alias name before ':'" :
		    "missing ':' after the alias name");
		return -1;
	}
	al->name = xstrndup(s, nlen);
	ascii_lower(al->name);
	al->line = ml->line;
	if (parse_target_list(file, ml, c + 1, &al->targets, &al->ntargets,
	    d) > 0)
		return -1;
	if (al->ntargets == 0) {
		maps_line_pos(ml, c, &line, &col);
		diags_add(d, file, line, col, DIAG_ERROR,
		    "no targets after ':'");
		return -1;
	}
	return 0;
}

int
aliases_parse(const char *file, const char *text, struct aliases **out,
    struct diags *d)
{
	struct maps_lines ls;
	struct aliases *a = xcalloc(1, sizeof(*a));
	size_t nerr = diags_count(d, DIAG_ERROR);

	a->file = xstrdup(file);
	maps_split(file, text, MAPS_CONTINUE | MAPS_QUOTES, &ls, d);
	for (size_t i = 0; i < ls.n; i++) {
		struct alias al = { 0 };
		const struct alias *prev;

		if (parse_alias(file, &ls.v[i], &al, d) < 0) {
			free(al.name);
			alias_targets_free(al.targets, al.ntargets);
			continue;
		}
		if ((prev = aliases_lookup(a, al.name)) != NULL) {
			/* newaliases warns and keeps the first, as Postfix. */
			diags_add(d, file, al.line, 1, DIAG_WARNING,
			    "duplicate alias %s (first at line %d); ignored",
			    al.name, prev->line);
			free(al.name);
			alias_targets_free(al.targets, al.ntargets);
			continue;
		}
		a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
		a->v[a->n++] = al;
	}
	maps_lines_free(&ls);
	if (diags_count(d, DIAG_ERROR) > nerr) {
		aliases_free(a);
		*out = NULL;
		return -1;
	}
	*out = a;
	return 0;
}

int
aliases_load(const char *path, struct aliases **out, struct diags *d)
{
	char *text;
	int rc;

	*out = NULL;
	if (maps_read(path, &text, d) < 0)
		return -1;
	rc = aliases_parse(path, text, out, d);
	free(text);
	return rc;
}

const struct alias *
aliases_lookup(const struct aliases *a, const char *name)
{
	for (size_t i = 0; a != NULL && i < a->n; i++)
		if (ascii_strcasecmp(a->v[i].name, name) == 0)
			return &a->v[i];
	return NULL;
}

int
aliases_parse_targets(const char *file, const char *text,
    struct alias_target **out, size_t *n, struct diags *d)
{
	struct maps_lines ls;
	int errors = 0;

	*out = NULL;
	*n = 0;
	maps_split(file, text, MAPS_CONTINUE | MAPS_QUOTES, &ls, d);
	for (size_t i = 0; i < ls.n; i++)
		errors += parse_target_list(file, &ls.v[i], ls.v[i].text, out,
		    n, d);
	maps_lines_free(&ls);
	if (errors > 0) {
		alias_targets_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

/* ---- expansion ---- */

struct expander {
	const struct aliases	*table;
	aliases_local_fn	 is_local;
	aliases_include_fn	 include_trusted;
	void			*arg;
	/* Names and include paths being expanded, outermost first. */
	const char		*stack[ALIASES_MAX_DEPTH + 1];
	int			 depth;
};

static struct alias_node *
node_new(enum alias_kind kind, const char *target, const char *file,
    int line)
{
	struct alias_node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->target = xstrdup(target);
	n->file = file;
	n->line = line;
	return n;
}

static void
node_add(struct alias_node *parent, struct alias_node *child)
{
	parent->children = xreallocarray(parent->children,
	    parent->nchildren + 1, sizeof(*parent->children));
	parent->children[parent->nchildren++] = child;
}

void
alias_node_free(struct alias_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nchildren; i++)
		alias_node_free(n->children[i]);
	free(n->children);
	free(n->target);
	free(n->refused);
	free(n);
}

static void expand_node(struct expander *, struct alias_node *, int noalias,
    int trusted);

static void
expand_targets(struct expander *x, struct alias_node *n,
    const struct alias_target *v, size_t count, const char *file,
    int trusted)
{
	for (size_t i = 0; i < count; i++) {
		struct alias_node *c = node_new(v[i].kind, v[i].value, file,
		    v[i].line);

		node_add(n, c);
		expand_node(x, c, v[i].noalias, trusted);
	}
}

/* Nonzero when s is on the stack; *top when it is the innermost. */
static int
on_stack(const struct expander *x, const char *s, int *top)
{
	for (int i = x->depth - 1; i >= 0; i--)
		if (ascii_strcasecmp(x->stack[i], s) == 0) {
			*top = i == x->depth - 1;
			return 1;
		}
	return 0;
}

static void
expand_include(struct expander *x, struct alias_node *n)
{
	struct diags d = { 0 };
	struct alias_target *v;
	size_t count;
	char *text;

	if (maps_read(n->target, &text, &d) < 0) {
		xasprintf(&n->refused, "cannot read %s: %s", n->target,
		    d.v[0].msg);
		diags_free(&d);
		return;
	}
	if (aliases_parse_targets(n->target, text, &v, &count, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			if (d.v[i].severity == DIAG_ERROR) {
				n->refused = diag_format(&d.v[i]);
				break;
			}
	} else {
		/* A user's include file must not run commands as us. */
		int trusted = x->include_trusted != NULL &&
		    x->include_trusted(n->target, x->arg);

		x->stack[x->depth++] = n->target;
		expand_targets(x, n, v, count, n->target, trusted);
		x->depth--;
		alias_targets_free(v, count);
	}
	free(text);
	diags_free(&d);
}

static void
expand_node(struct expander *x, struct alias_node *n, int noalias,
    int trusted)
{
	const struct alias *al;
	int top = 0;

	switch (n->kind) {
	case ALIAS_FILE:
	case ALIAS_PIPE:
		if (!trusted)
			xasprintf(&n->refused, "%s targets are honoured only "
			    "in the system aliases file, not in %s",
			    n->kind == ALIAS_FILE ? "file" : "pipe", n->file);
		return;
	case ALIAS_DEVNULL:
		return;
	case ALIAS_ADDRESS: {
		const char *at = strrchr(n->target, '@');

		if (x->is_local == NULL || at == NULL ||
		    !x->is_local(at + 1, x->arg))
			return;
		/* A local domain: the local part is aliased. */
		n->target[at - n->target] = '\0';
		n->kind = ALIAS_LOCAL;
		break;
	}
	case ALIAS_LOCAL:
	case ALIAS_INCLUDE:
		break;
	}
	/* \name is a mailbox, never aliased, so never a loop. */
	if (noalias)
		return;
	if (on_stack(x, n->target, &top)) {
		/* "root: root, ..." means root's own mailbox (sendmail). */
		if (top && n->kind == ALIAS_LOCAL)
			n->self = 1;
		else
			n->loop = 1;
		return;
	}
	if (x->depth >= ALIASES_MAX_DEPTH) {
		xasprintf(&n->refused, "aliases nested deeper than %d",
		    ALIASES_MAX_DEPTH);
		return;
	}
	if (n->kind == ALIAS_INCLUDE) {
		expand_include(x, n);
		return;
	}
	if ((al = aliases_lookup(x->table, n->target)) == NULL)
		return;
	n->alias_file = x->table->file;
	n->alias_line = al->line;
	x->stack[x->depth++] = n->target;
	/* Only the system aliases file may name files and pipes. */
	expand_targets(x, n, al->targets, al->ntargets, x->table->file, 1);
	x->depth--;
}

struct alias_node *
aliases_expand(const struct aliases *table, const char *name,
    aliases_local_fn is_local, aliases_include_fn include_trusted,
    void *arg)
{
	struct expander x = { 0 };
	struct alias_node *root = node_new(ALIAS_LOCAL, name, NULL, 0);

	x.table = table;
	x.is_local = is_local;
	x.include_trusted = include_trusted;
	x.arg = arg;
	expand_node(&x, root, 0, 1);
	return root;
}

static int
leaf_seen(const struct alias_node **v, size_t n, const struct alias_node *l)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->kind == l->kind &&
		    (l->kind == ALIAS_FILE || l->kind == ALIAS_PIPE ?
		    strcmp(v[i]->target, l->target) == 0 :
		    ascii_strcasecmp(v[i]->target, l->target) == 0))
			return 1;
	return 0;
}

static void
collect_leaves(const struct alias_node *n, const struct alias_node ***v,
    size_t *count)
{
	if (n->loop || n->refused != NULL)
		return;
	if (n->nchildren == 0) {
		if (n->kind == ALIAS_INCLUDE || leaf_seen(*v, *count, n))
			return;
		*v = xreallocarray(*v, *count + 1, sizeof(**v));
		(*v)[(*count)++] = n;
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++)
		collect_leaves(n->children[i], v, count);
}

const struct alias_node **
alias_node_leaves(const struct alias_node *root, size_t *n)
{
	const struct alias_node **v = NULL;

	*n = 0;
	collect_leaves(root, &v, n);
	return v;
}

const char *
alias_kind_str(enum alias_kind k)
{
	switch (k) {
	case ALIAS_ADDRESS:
		return "address";
	case ALIAS_LOCAL:
		return "local";
	case ALIAS_FILE:
		return "file";
	case ALIAS_PIPE:
		return "pipe";
	case ALIAS_INCLUDE:
		return "include";
	case ALIAS_DEVNULL:
		break;
	}
	return "/dev/null";
}
