/*
 * json: writer and strict one-document parser for the control protocol.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

/*
 * JSON numbers use '.', whatever LC_NUMERIC the console set: switch this
 * thread to the C locale around printf and strtod.
 */
static locale_t
c_locale(void)
{
	static locale_t c;

	if (c == (locale_t)0 &&
	    (c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0)) == (locale_t)0)
		fatal("json: newlocale: %s", strerror(errno));
	return c;
}

void
json_writer_init(struct json_writer *w, struct buf *b)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
}

/* Before any value: the comma that separates it from the previous one. */
static void
json_sep(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = 0;
		return;
	}
	if (w->need_comma[w->depth])
		buf_addch(w->b, ',');
	w->need_comma[w->depth] = 1;
}

static void
json_open(struct json_writer *w, char c)
{
	json_sep(w);
	if (w->depth >= JSON_MAX_DEPTH)
		fatal("json: nesting deeper than %d", JSON_MAX_DEPTH);
	buf_addch(w->b, c);
	w->need_comma[++w->depth] = 0;
}

static void
json_close(struct json_writer *w, char c)
{
	if (w->depth == 0)
		fatal("json: close without open");
	buf_addch(w->b, c);
	w->depth--;
}

void
json_obj_begin(struct json_writer *w)
{
	json_open(w, '{');
}

void
json_obj_end(struct json_writer *w)
{
	json_close(w, '}');
}

void
json_arr_begin(struct json_writer *w)
{
	json_open(w, '[');
}

void
json_arr_end(struct json_writer *w)
{
	json_close(w, ']');
}

void
json_escape(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;

	/* Room for the usual string, plain ASCII: one check, not one a run. */
	buf_reserve(b, len + 2);
	buf_addch(b, '"');
	for (i = 0; i < len; i += n) {
		unsigned char c = p[i];

		/* A run that needs no escaping goes in with one copy. */
		for (n = 0; i + n < len && p[i + n] >= 0x20 &&
		    p[i + n] < 0x7f && p[i + n] != '"' && p[i + n] != '\\';
		    n++)
			;
		if (n > 0) {
			buf_add(b, p + i, n);
			continue;
		}
		n = 1;
		switch (c) {
		case '"':
			buf_addstr(b, "\\\"");
			continue;
		case '\\':
			buf_addstr(b, "\\\\");
			continue;
		case '\n':
			buf_addstr(b, "\\n");
			continue;
		case '\r':
			buf_addstr(b, "\\r");
			continue;
		case '\t':
			buf_addstr(b, "\\t");
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
			continue;
		}
		if (c < 0x80) {
			buf_addch(b, (char)c);
			continue;
		}
		/* Log lines and replies carry arbitrary bytes: never emit them raw. */
		if ((n = utf8_seq_len(p + i, len - i)) == 0) {
			buf_addstr(b, "\xef\xbf\xbd");
			n = 1;
			continue;
		}
		buf_add(b, p + i, n);
	}
	buf_addch(b, '"');
}

void
json_key(struct json_writer *w, const char *k)
{
	json_sep(w);
	json_escape(w->b, k, strlen(k));
	buf_addch(w->b, ':');
	w->after_key = 1;
}

void
json_strn(struct json_writer *w, const char *s, size_t len)
{
	json_sep(w);
	json_escape(w->b, s, len);
}

void
json_str(struct json_writer *w, const char *s)
{
	if (s == NULL) {
		json_null(w);
		return;
	}
	json_strn(w, s, strlen(s));
}

void
json_int(struct json_writer *w, int64_t v)
{
	char	 digits[24], *d = digits + sizeof(digits);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	json_sep(w);
	/* By hand: printf costs more than the rest of a queue snapshot. */
	do
		*--d = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--d = '-';
	buf_add(w->b, d, (size_t)(digits + sizeof(digits) - d));
}

void
json_double(struct json_writer *w, double d)
{
	json_sep(w);
	/* JSON has no NaN or infinity. */
	if (!isfinite(d))
		buf_addstr(w->b, "null");
	else {
		locale_t old = uselocale(c_locale());

		buf_printf(w->b, "%.17g", d);
		uselocale(old);
	}
}

void
json_bool(struct json_writer *w, int v)
{
	json_sep(w);
	buf_addstr(w->b, v ? "true" : "false");
}

void
json_null(struct json_writer *w)
{
	json_sep(w);
	buf_addstr(w->b, "null");
}

void
json_kv_str(struct json_writer *w, const char *k, const char *v)
{
	json_key(w, k);
	json_str(w, v);
}

void
json_kv_int(struct json_writer *w, const char *k, int64_t v)
{
	json_key(w, k);
	json_int(w, v);
}

void
json_kv_bool(struct json_writer *w, const char *k, int v)
{
	json_key(w, k);
	json_bool(w, v);
}

/* Parser: recursive descent with a depth limit and a column for errors. */

struct json_parser {
	const char		*s, *p, *end;
	char			*err;
	struct json_arena	*arena;		/* NULL: malloc each part */
};

/*
 * An arena is a chain of blocks carved from the front; a tree parsed into
 * it is freed all at once, which is what a reader of many small documents
 * (the items of a queue snapshot) wants instead of a malloc per value.
 */
#define ARENA_BLOCK	(64 * 1024)

struct arena_block {
	struct arena_block	*next;
	size_t			 size, used;
	max_align_t		 data[];
};

struct json_arena {
	struct arena_block	*blocks;	/* the newest first */
	struct buf		 scratch;	/* a string being unescaped */
};

struct json_arena *
json_arena_new(void)
{
	struct json_arena *a = xcalloc(1, sizeof(*a));

	buf_init(&a->scratch);
	return a;
}

void
json_arena_reset(struct json_arena *a)
{
	struct arena_block *b, *next;

	if (a->blocks == NULL)
		return;
	/* Keep one block: the next tree is likely the same size. */
	for (b = a->blocks->next; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->blocks->next = NULL;
	a->blocks->used = 0;
}

void
json_arena_free(struct json_arena *a)
{
	if (a == NULL)
		return;
	json_arena_reset(a);
	free(a->blocks);
	buf_free(&a->scratch);
	free(a);
}

/* n zeroed bytes, aligned for any type. */
static void *
arena_alloc(struct json_arena *a, size_t n)
{
	struct arena_block *b = a->blocks;
	size_t size;
	void *p;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
	    sizeof(max_align_t);
	if (b == NULL || b->size - b->used < n) {
		size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = a->blocks;
		a->blocks = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

static void *
palloc(struct json_parser *ps, size_t n)
{
	return ps->arena != NULL ? arena_alloc(ps->arena, n) : xcalloc(1, n);
}

/* Grow an array of pointers from n to room entries. */
static void *
pgrow(struct json_parser *ps, void *old, size_t n, size_t room)
{
	void *p;

	if (ps->arena == NULL)
		return xreallocarray(old, room, sizeof(void *));
	p = arena_alloc(ps->arena, room * sizeof(void *));
	if (n > 0)
		memcpy(p, old, n * sizeof(void *));
	return p;
}

static void
perr(struct json_parser *ps, const char *msg)
{
	if (ps->err == NULL)
		xasprintf(&ps->err, "column %zu: %s",
		    (size_t)(ps->p - ps->s) + 1, msg);
}

static void
pskip(struct json_parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
	    *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct json_value *parse_value(struct json_parser *, int depth);

static int
hex4(const char *p, unsigned int *out)
{
	unsigned int v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void
put_utf8(struct buf *b, unsigned int cp)
{
	char t[4];

	if (cp < 0x80) {
		buf_addch(b, (char)cp);
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, t, 2);
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, t, 3);
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, t, 4);
	}
}

static int parse_string(struct json_parser *, struct buf *);

/* A string at ps->p into *out (NUL-terminated, *len bytes). */
static int
parse_string_value(struct json_parser *ps, char **out, size_t *len)
{
	struct buf b, *into = &b;
	int r;

	if (ps->arena != NULL) {
		into = &ps->arena->scratch;
		buf_reset(into);
	} else
		buf_init(&b);
	r = parse_string(ps, into);
	if (r == -1) {
		if (ps->arena == NULL)
			buf_free(&b);
		return -1;
	}
	if (len != NULL)
		*len = into->len;
	if (ps->arena == NULL) {
		*out = buf_take(&b);
	} else {
		*out = arena_alloc(ps->arena, into->len + 1);
		memcpy(*out, into->data != NULL ? into->data : "",
		    into->len + 1);
	}
	return 0;
}

/* A string at ps->p (on the opening quote) into b. */
static int
parse_string(struct json_parser *ps, struct buf *b)
{
	size_t n;

	ps->p++;
	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end) {
			perr(ps, "unterminated string");
			return -1;
		}
		c = (unsigned char)*ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c < 0x20) {
			perr(ps, "control character in string");
			return -1;
		}
		if (c >= 0x80) {
			n = utf8_seq_len((const unsigned char *)ps->p,
			    (size_t)(ps->end - ps->p));
			if (n == 0) {
				perr(ps, "invalid UTF-8 in string");
				return -1;
			}
			buf_add(b, ps->p, n);
			ps->p += n;
			continue;
		}
		if (c != '\\') {
			/* A run of plain ASCII goes in with one copy. */
			for (n = 1; ps->p + n < ps->end &&
			    (unsigned char)ps->p[n] >= 0x20 &&
			    (unsigned char)ps->p[n] < 0x80 &&
			    ps->p[n] != '"' && ps->p[n] != '\\'; n++)
				;
			buf_add(b, ps->p, n);
			ps->p += n;
			continue;
		}
		if (ps->p + 1 >= ps->end) {
			perr(ps, "unterminated string");
			return -1;
		}
		switch (ps->p[1]) {
		case '"': buf_addch(b, '"'); break;
		case '\\': buf_addch(b, '\\'); break;
		case '/': buf_addch(b, '/'); break;
		case 'b': buf_addch(b, '\b'); break;
		case 'f': buf_addch(b, '\f'); break;
		case 'n': buf_addch(b, '\n'); break;
		case 'r': buf_addch(b, '\r'); break;
		case 't': buf_addch(b, '\t'); break;
		case 'u': {
			unsigned int cp, lo;

			if (ps->end - ps->p < 6 || hex4(ps->p + 2, &cp) == -1) {
				perr(ps, "bad \\u escape");
				return -1;
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				perr(ps, "lone low surrogate");
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->end - ps->p < 12 || ps->p[6] != '\\' ||
				    ps->p[7] != 'u' ||
				    hex4(ps->p + 8, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff) {
					perr(ps, "lone high surrogate");
					return -1;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				ps->p += 6;
			}
			put_utf8(b, cp);
			ps->p += 6;
			continue;
		}
		default:
			perr(ps, "bad escape");
			return -1;
		}
		ps->p += 2;
	}
	return 0;
}

static int
parse_number(struct json_parser *ps, struct json_value *v)
{
	const char *start = ps->p, *q = ps->p;
	char tmp[64];
	int integral = 1;
	locale_t old;

	/* RFC 8259 grammar first: strtod alone accepts hex, inf, "+1", "01". */
	if (q < ps->end && *q == '-')
		q++;
	if (q >= ps->end || !(*q >= '0' && *q <= '9'))
		goto bad;
	if (*q == '0')
		q++;
	else
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	if (q < ps->end && *q == '.') {
		integral = 0;
		q++;
		if (q >= ps->end || !(*q >= '0' && *q <= '9'))
			goto bad;
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < ps->end && (*q == 'e' || *q == 'E')) {
		integral = 0;
		q++;
		if (q < ps->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= ps->end || !(*q >= '0' && *q <= '9'))
			goto bad;
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	if ((size_t)(q - start) >= sizeof(tmp)) {
		perr(ps, "number too long");
		return -1;
	}
	v->type = JSON_NUMBER;
	/*
	 * Up to 18 digits an integer fits int64 and converts to double
	 * exactly as strtod would round it: by hand, as a queue snapshot
	 * holds hundreds of thousands of them.
	 */
	if (integral && q - start - (*start == '-') <= 18) {
		const char *d = start + (*start == '-');
		int64_t i = 0;

		for (; d < q; d++)
			i = i * 10 + (*d - '0');
		v->i = *start == '-' ? -i : i;
		v->d = *start == '-' ? -(double)i : (double)i;	/* -0 too */
		v->is_int = 1;
		ps->p = q;
		return 0;
	}
	memcpy(tmp, start, (size_t)(q - start));
	tmp[q - start] = '\0';
	old = uselocale(c_locale());
	v->d = strtod(tmp, NULL);
	uselocale(old);
	if (integral) {
		long long ll;

		errno = 0;
		ll = strtoll(tmp, NULL, 10);
		if (errno == 0) {
			v->i = ll;
			v->is_int = 1;
		}
	} else if (v->d >= -9.2e18 && v->d <= 9.2e18 &&
	    v->d == (double)(int64_t)v->d) {
		v->i = (int64_t)v->d;
		v->is_int = 1;
	}
	ps->p = q;
	return 0;
bad:
	ps->p = q;
	perr(ps, "bad number");
	return -1;
}

static int
parse_word(struct json_parser *ps, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) {
		perr(ps, "unexpected character");
		return -1;
	}
	ps->p += n;
	return 0;
}

/* The arrays grow by doubling: room is kept for a power of two items. */
static void
push_item(struct json_parser *ps, struct json_value *v,
    struct json_value *item, char *key)
{
	if ((v->n & (v->n - 1)) == 0) {
		size_t room = v->n == 0 ? 4 : v->n * 2;

		if (v->n == 0 || v->n >= 4) {
			v->items = pgrow(ps, v->items, v->n, room);
			if (v->type == JSON_OBJECT)
				v->keys = pgrow(ps, v->keys, v->n, room);
		}
	}
	v->items[v->n] = item;
	if (v->type == JSON_OBJECT)
		v->keys[v->n] = key;
	v->n++;
}

static int
parse_container(struct json_parser *ps, struct json_value *v, int depth)
{
	char close = v->type == JSON_OBJECT ? '}' : ']';

	ps->p++;
	pskip(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		struct json_value *item;
		char *key = NULL;

		pskip(ps);
		if (v->type == JSON_OBJECT) {
			if (ps->p >= ps->end || *ps->p != '"') {
				perr(ps, "expected a key");
				return -1;
			}
			if (parse_string_value(ps, &key, NULL) == -1)
				return -1;
			pskip(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				if (ps->arena == NULL)
					free(key);
				perr(ps, "expected ':'");
				return -1;
			}
			ps->p++;
		}
		if ((item = parse_value(ps, depth + 1)) == NULL) {
			if (ps->arena == NULL)
				free(key);
			return -1;
		}
		push_item(ps, v, item, key);
		pskip(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return 0;
		}
		perr(ps, v->type == JSON_OBJECT ? "expected ',' or '}'" :
		    "expected ',' or ']'");
		return -1;
	}
}

static struct json_value *
parse_value(struct json_parser *ps, int depth)
{
	struct json_value *v;
	int r;

	pskip(ps);
	if (ps->p >= ps->end) {
		perr(ps, "unexpected end of input");
		return NULL;
	}
	if (depth > JSON_MAX_DEPTH) {
		perr(ps, "nesting too deep");
		return NULL;
	}
	v = palloc(ps, sizeof(*v));
	switch (*ps->p) {
	case '{':
		v->type = JSON_OBJECT;
		r = parse_container(ps, v, depth);
		break;
	case '[':
		v->type = JSON_ARRAY;
		r = parse_container(ps, v, depth);
		break;
	case '"':
		v->type = JSON_STRING;
		r = parse_string_value(ps, &v->s, &v->slen);
		break;
	case 't':
		v->type = JSON_BOOL;
		v->b = 1;
		r = parse_word(ps, "true");
		break;
	case 'f':
		v->type = JSON_BOOL;
		r = parse_word(ps, "false");
		break;
	case 'n':
		v->type = JSON_NULL;
		r = parse_word(ps, "null");
		break;
	default:
		r = parse_number(ps, v);
		break;
	}
	if (r == -1) {
		if (ps->arena == NULL)
			json_free(v);
		return NULL;
	}
	return v;
}

/* One value; with used, the bytes it took, else nothing may follow it. */
static struct json_value *
parse_document(const char *s, size_t len, size_t *used, char **err,
    struct json_arena *arena)
{
	struct json_parser ps = { s, s, s + len, NULL, arena };
	struct json_value *v;

	v = parse_value(&ps, 1);
	if (v != NULL && used != NULL) {
		*used = (size_t)(ps.p - s);
	} else if (v != NULL) {
		pskip(&ps);
		if (ps.p != ps.end) {
			perr(&ps, "trailing characters after the value");
			if (arena == NULL)
				json_free(v);
			v = NULL;
		}
	}
	if (v == NULL) {
		if (err != NULL)
			*err = ps.err;
		else
			free(ps.err);
	}
	return v;
}

struct json_value *
json_parse(const char *s, size_t len, char **err)
{
	return parse_document(s, len, NULL, err, NULL);
}

struct json_value *
json_parse_prefix(const char *s, size_t len, size_t *used, char **err)
{
	return parse_document(s, len, used, err, NULL);
}

struct json_value *
json_parse_prefix_in(struct json_arena *a, const char *s, size_t len,
    size_t *used, char **err)
{
	return parse_document(s, len, used, err, a);
}

void
json_free(struct json_value *v)
{
	size_t k;

	if (v == NULL)
		return;
	for (k = 0; k < v->n; k++) {
		json_free(v->items[k]);
		if (v->keys != NULL)
			free(v->keys[k]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	free(v);
}

const struct json_value *
json_get(const struct json_value *v, const char *key)
{
	size_t k;

	if (v == NULL || v->type != JSON_OBJECT)
		return NULL;
	/* The last duplicate wins, as in most JSON implementations. */
	for (k = v->n; k > 0; k--)
		if (strcmp(v->keys[k - 1], key) == 0)
			return v->items[k - 1];
	return NULL;
}

const char *
json_get_str(const struct json_value *v, const char *key)
{
	const struct json_value *m = json_get(v, key);

	return m != NULL && m->type == JSON_STRING ? m->s : NULL;
}

int64_t
json_get_int(const struct json_value *v, const char *key, int64_t dflt)
{
	const struct json_value *m = json_get(v, key);

	return m != NULL && m->type == JSON_NUMBER && m->is_int ? m->i : dflt;
}

int
json_get_bool(const struct json_value *v, const char *key, int dflt)
{
	const struct json_value *m = json_get(v, key);

	return m != NULL && m->type == JSON_BOOL ? m->b : dflt;
}
