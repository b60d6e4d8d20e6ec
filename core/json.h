/*
 * json: the small JSON the control protocol's JSON Lines need (DESIGN
 * §12 "Control protocol").
 *
 * The writer appends to a struct buf and handles commas itself; strings
 * always come out as valid UTF-8 on one line (control characters
 * escaped, invalid bytes replaced by U+FFFD), so one object is one line.
 * The parser reads one document into a tree, refuses anything that is
 * not strict RFC 8259 JSON (trailing garbage, bad escapes, invalid
 * UTF-8, lone surrogates) and nesting deeper than JSON_MAX_DEPTH.
 */
#ifndef HIKYAKU_JSON_H
#define HIKYAKU_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define JSON_MAX_DEPTH	32

struct json_writer {
	struct buf	*b;
	int		 depth;
	int		 need_comma[JSON_MAX_DEPTH + 1];
	int		 after_key;	/* a key was written, its value is next */
};

void	 json_writer_init(struct json_writer *, struct buf *);
/* Deeper than JSON_MAX_DEPTH is a programming error: fatal(). */
void	 json_obj_begin(struct json_writer *);
void	 json_obj_end(struct json_writer *);
void	 json_arr_begin(struct json_writer *);
void	 json_arr_end(struct json_writer *);
void	 json_key(struct json_writer *, const char *);
/* A NULL string is written as null. */
void	 json_str(struct json_writer *, const char *);
/* A string of len bytes that may hold NULs (escaped as \u0000). */
void	 json_strn(struct json_writer *, const char *, size_t);
void	 json_int(struct json_writer *, int64_t);
void	 json_double(struct json_writer *, double);
void	 json_bool(struct json_writer *, int);
void	 json_null(struct json_writer *);
/* Shorthands for "key": value inside an object. */
void	 json_kv_str(struct json_writer *, const char *, const char *);
void	 json_kv_int(struct json_writer *, const char *, int64_t);
void	 json_kv_bool(struct json_writer *, const char *, int);
/* Append s as a quoted JSON string (no writer state involved). */
void	 json_escape(struct buf *, const char *, size_t);

enum json_type {
	JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY,
	JSON_OBJECT
};

struct json_value {
	enum json_type	 type;
	int		 b;		/* JSON_BOOL */
	/* JSON_NUMBER: d always; i too when is_int (integral, fits int64) */
	double		 d;
	int64_t		 i;
	int		 is_int;
	char		*s;		/* JSON_STRING, NUL-terminated */
	size_t		 slen;		/* may hold \u0000, so keep the length */
	/* JSON_ARRAY: items; JSON_OBJECT: items with keys[k] for items[k] */
	struct json_value **items;
	char		**keys;
	size_t		 n;
};

/*
 * Parse exactly one JSON document of len bytes (white space around it
 * allowed, a trailing newline included). Returns the tree, or NULL with
 * *err an allocated "column N: ..." message.
 */
struct json_value *json_parse(const char *, size_t, char **err);
/*
 * Parse the one value at the start of s (white space before it allowed)
 * and set *used to the bytes it took, whatever follows: the items of a
 * long array taken apart a few at a time.
 */
struct json_value *json_parse_prefix(const char *, size_t, size_t *used,
	    char **err);
void	 json_free(struct json_value *);
/*
 * The same, with the tree carved from an arena instead of one malloc per
 * value: it lives until json_arena_reset() or json_arena_free(), and is
 * never given to json_free(). For reading many small documents fast.
 */
struct json_arena;
struct json_arena *json_arena_new(void);
void	 json_arena_reset(struct json_arena *);
void	 json_arena_free(struct json_arena *);
struct json_value *json_parse_prefix_in(struct json_arena *, const char *,
	    size_t, size_t *used, char **err);

/* Member of an object (NULL when absent or v is not an object). */
const struct json_value *json_get(const struct json_value *, const char *);
/* Typed lookups: the member's value, or NULL/dflt when absent or mistyped. */
const char *json_get_str(const struct json_value *, const char *);
int64_t	 json_get_int(const struct json_value *, const char *, int64_t dflt);
int	 json_get_bool(const struct json_value *, const char *, int dflt);

#endif
