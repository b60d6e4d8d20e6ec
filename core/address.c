/*
 * address: RFC 5321 paths and mailboxes, canonicalised and judged.
 * See address.h for what is refused and why.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "address.h"
#include "util.h"

/* RFC 5321 atext, without the non-ASCII extension of RFC 6531. */
static int
is_atext(unsigned char c)
{
	if (isascii(c) && isalnum(c))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
has_non_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * Is s (len bytes) an RFC 5321 Dot-string (UTF-8 allowed as in RFC
 * 6531)? Decides whether a local part must be quoted when written.
 */
static int
is_dot_string(const char *s, size_t len)
{
	size_t i, n;
	int prev_dot = 1;	/* a leading dot is as bad as a double one */

	if (len == 0)
		return 0;
	for (i = 0; i < len; i += n) {
		const unsigned char c = (unsigned char)s[i];

		n = 1;
		if (c == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
			continue;
		}
		prev_dot = 0;
		if (c >= 0x80) {
			if ((n = utf8_seq_len((const unsigned char *)s + i,
			    SIZE_MAX)) == 0)
				return 0;
		} else if (!is_atext(c))
			return 0;
	}
	return !prev_dot;
}

static int
fail(enum address_error *why, enum address_error e)
{
	if (why != NULL)
		*why = e;
	return -1;
}

/* Validate an ASCII host name: LDH labels of 1-63, TLD not all digits. */
static int
check_ldh(const char *d, enum address_error *why)
{
	const char *label = d, *p;
	int all_digits = 1;

	if (strlen(d) > ADDRESS_MAX_DOMAIN)
		return fail(why, ADDR_TOO_LONG);
	for (p = d;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t llen = (size_t)(p - label);

			if (llen == 0 || llen > 63 || label[0] == '-' ||
			    p[-1] == '-')
				return fail(why, ADDR_BAD_DOMAIN);
			if (*p == '\0')
				break;
			label = p + 1;
			all_digits = 1;
			continue;
		}
		if (!(isascii((unsigned char)*p) &&
		    (isalnum((unsigned char)*p) || *p == '-')))
			return fail(why, ADDR_BAD_DOMAIN);
		if (!isdigit((unsigned char)*p))
			all_digits = 0;
	}
	/*
	 * "user@192.0.2.1" without brackets: a numeric TLD cannot exist, and
	 * accepting it would let an IP literal past the literal check.
	 */
	if (all_digits)
		return fail(why, ADDR_BAD_DOMAIN);
	return 0;
}

int
address_canon_domain(const char *in, char **out, enum address_error *why)
{
	size_t len = strlen(in);
	char *d;

	*out = NULL;
	/* Trailing dots mean "absolute" in DNS and nothing in mail. */
	while (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return fail(why, ADDR_BAD_DOMAIN);
	if (len > ADDRESS_MAX_DOMAIN * 4)
		return fail(why, ADDR_TOO_LONG);
	if (has_non_ascii(in, len)) {
		gnutls_datum_t mapped;
		size_t i, n;

		for (i = 0; i < len; i += n)
			if ((n = utf8_seq_len((const unsigned char *)in + i,
			    SIZE_MAX)) == 0)
				return fail(why, ADDR_IDN);
		if (gnutls_idna_map(in, (unsigned)len, &mapped, 0) < 0)
			return fail(why, ADDR_IDN);
		d = xstrndup((const char *)mapped.data, mapped.size);
		gnutls_free(mapped.data);
	} else
		d = xstrndup(in, len);
	ascii_lower(d);
	if (check_ldh(d, why) == -1) {
		free(d);
		return -1;
	}
	*out = d;
	return 0;
}

/*
 * An address literal "[...]" (brackets included in lit, litlen bytes).
 * Only IPv4 and IPv6 literals can be ours; a General-address-literal
 * ("[tag:x]") never is.
 */
static int
parse_literal(const char *lit, size_t litlen, address_literal_fn is_ours,
    void *arg, char **out, enum address_error *why)
{
	char inner[128], text[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	size_t n = litlen - 2;
	const char *ip = inner;
	int af = AF_INET;

	if (n == 0 || n >= sizeof(inner))
		return fail(why, ADDR_BAD_DOMAIN);
	memcpy(inner, lit + 1, n);
	inner[n] = '\0';
	if (ascii_strncasecmp(inner, "IPv6:", 5) == 0) {
		af = AF_INET6;
		ip = inner + 5;
	} else if (strchr(inner, ':') != NULL)
		return fail(why, ADDR_IP_LITERAL);
	if (inet_pton(af, ip, bin) != 1)
		return fail(why, ADDR_BAD_DOMAIN);
	inet_ntop(af, bin, text, sizeof(text));
	if (is_ours == NULL || !is_ours(text, arg))
		return fail(why, ADDR_IP_LITERAL);
	xasprintf(out, af == AF_INET ? "[%s]" : "[IPv6:%s]", text);
	return 0;
}

/*
 * Parse the local part at p (up to end). Fills *local (unquoted) and
 * *quoted; returns the position after it, or NULL with *why.
 */
static const char *
parse_local(const char *p, const char *end, char **local, int *quoted,
    enum address_error *why)
{
	struct buf b;
	const char *start = p;
	size_t n;

	buf_init(&b);
	if (*p == '"') {
		int special = 0;

		for (p++; p < end && *p != '"'; p += n) {
			unsigned char c = (unsigned char)*p;

			n = 1;
			if (c == '\\') {
				if (p + 1 >= end || (unsigned char)p[1] < 32 ||
				    (unsigned char)p[1] > 126)
					goto syntax;
				c = (unsigned char)p[1];
				p++;
			} else if (c >= 0x80) {
				if ((n = utf8_seq_len((const unsigned char *)p,
				    SIZE_MAX)) == 0)
					goto syntax;
				buf_add(&b, p, n);
				continue;
			} else if (c < 32 || c > 126)
				goto syntax;
			if (c == '@' || c == '%' || c == '!')
				special = 1;
			buf_addch(&b, (char)c);
		}
		if (p >= end)
			goto syntax;
		p++;
		/*
		 * "user@remote"@local is the classic way to smuggle a route
		 * past a relay check that looks only at the domain.
		 */
		if (special) {
			buf_free(&b);
			fail(why, ADDR_QUOTED_SPECIAL);
			return NULL;
		}
		/* "abc"@x is abc@x: quote only what needs it. */
		*quoted = !is_dot_string(b.data, b.len);
	} else {
		int routing = 0;

		for (; p < end && *p != '@'; p += n) {
			unsigned char c = (unsigned char)*p;

			n = 1;
			if (c >= 0x80) {
				if ((n = utf8_seq_len((const unsigned char *)p,
				    SIZE_MAX)) == 0)
					goto syntax;
			} else if (c == '%' || c == '!')
				routing = 1;
			else if (c != '.' && !is_atext(c))
				goto syntax;
		}
		if (p == start)
			goto syntax;
		if (routing) {
			buf_free(&b);
			fail(why, ADDR_ROUTING);
			return NULL;
		}
		buf_add(&b, start, (size_t)(p - start));
		/*
		 * Dots out of place ("john..doe", the old Japanese mobile
		 * carriers' addresses) are kept and written quoted, as
		 * Postfix does, rather than refused.
		 */
		*quoted = !is_dot_string(b.data, b.len);
	}
	if ((size_t)(p - start) > ADDRESS_MAX_LOCAL) {
		buf_free(&b);
		fail(why, ADDR_TOO_LONG);
		return NULL;
	}
	*local = buf_take(&b);
	return p;
syntax:
	buf_free(&b);
	fail(why, ADDR_SYNTAX);
	return NULL;
}

/* A mailbox (no brackets) of exactly len bytes at s. */
static int
parse_mailbox(const char *s, size_t len, address_literal_fn is_ours,
    void *lit_arg, struct address *out, enum address_error *why)
{
	const char *end = s + len, *p;
	char *local = NULL, *domain = NULL;
	int quoted = 0;

	if (len > 0 && s[0] == '@')
		return fail(why, ADDR_SOURCE_ROUTE);
	if ((p = parse_local(s, end, &local, &quoted, why)) == NULL)
		return -1;
	if (p < end) {
		size_t dlen;

		if (*p != '@') {
			free(local);
			return fail(why, ADDR_SYNTAX);
		}
		p++;
		dlen = (size_t)(end - p);
		if (dlen == 0) {
			free(local);
			return fail(why, ADDR_SYNTAX);
		}
		if (*p == '[') {
			if (end[-1] != ']') {
				free(local);
				return fail(why, ADDR_BAD_DOMAIN);
			}
			if (parse_literal(p, dlen, is_ours, lit_arg, &domain,
			    why) == -1) {
				free(local);
				return -1;
			}
		} else {
			char *raw = xstrndup(p, dlen);
			int r = address_canon_domain(raw, &domain, why);

			free(raw);
			if (r == -1) {
				free(local);
				return -1;
			}
		}
	}
	out->local = local;
	out->domain = domain;
	out->quoted_local = quoted;
	out->utf8 = has_non_ascii(local, strlen(local));
	out->input_utf8 = has_non_ascii(s, len);
	return 0;
}

/*
 * End of a path written without brackets, or of a bracketed path's
 * content: the first space (or '>') outside a quoted string.
 */
static const char *
scan_path_end(const char *p, int bracketed)
{
	int inq = 0;

	for (; *p != '\0'; p++) {
		if (inq && *p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '"')
			inq = !inq;
		else if (!inq && bracketed && *p == '>')
			return p;
		else if (!inq && !bracketed && (*p == ' ' || *p == '\t'))
			return p;
	}
	return p;
}

int
address_parse_path(const char *arg, int allow_null,
    address_literal_fn is_ours, void *lit_arg, struct address *out,
    const char **rest_params, enum address_error *why)
{
	const char *p, *start, *end, *after;

	memset(out, 0, sizeof(*out));
	if (why != NULL)
		*why = ADDR_OK;
	/* Postfix tolerates "MAIL FROM: <a@b>"; so do we. */
	p = skip_ws(arg);
	if (*p == '<') {
		start = skip_ws(p + 1);
		end = scan_path_end(start, 1);
		if (*end != '>')
			return fail(why, ADDR_SYNTAX);
		after = end + 1;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == start) {
			if (!allow_null)
				return fail(why, ADDR_NULL);
		} else if ((size_t)(end - start) + 2 > ADDRESS_MAX_PATH)
			return fail(why, ADDR_TOO_LONG);
	} else {
		start = p;
		end = scan_path_end(start, 0);
		after = end;
		if (end == start)
			return fail(why, ADDR_SYNTAX);
		if ((size_t)(end - start) + 2 > ADDRESS_MAX_PATH)
			return fail(why, ADDR_TOO_LONG);
	}
	/* Parameters are separated from the path by white space. */
	if (*after != '\0' && *after != ' ' && *after != '\t')
		return fail(why, ADDR_SYNTAX);
	if (end == start)
		out->local = xstrdup("");
	else if (parse_mailbox(start, (size_t)(end - start), is_ours, lit_arg,
	    out, why) == -1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	if (rest_params != NULL)
		*rest_params = skip_ws(after);
	return 0;
}

int
address_parse(const char *in, struct address *out, enum address_error *why)
{
	const char *rest;

	if (address_parse_path(in, 0, NULL, NULL, out, &rest, why) == -1)
		return -1;
	if (*rest != '\0') {
		address_free(out);
		return fail(why, ADDR_SYNTAX);
	}
	return 0;
}

int
address_next_param(const char **pp, char **keyword, char **value)
{
	const char *p = skip_ws(*pp), *k, *v;
	size_t klen, vlen;

	*keyword = *value = NULL;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	k = p;
	if (!isascii((unsigned char)*p) || !isalnum((unsigned char)*p))
		goto bad;
	while (isascii((unsigned char)*p) &&
	    (isalnum((unsigned char)*p) || *p == '-'))
		p++;
	klen = (size_t)(p - k);
	v = p;
	vlen = 0;
	if (*p == '=') {
		/* esmtp-value: no '=', no space, no controls (RFC 6531: UTF-8) */
		v = ++p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '=' &&
		    ((unsigned char)*p > 32 && (unsigned char)*p != 127))
			p++;
		vlen = (size_t)(p - v);
		if (vlen == 0)
			goto bad;
	}
	if (*p != '\0' && *p != ' ' && *p != '\t')
		goto bad;
	*keyword = xstrndup(k, klen);
	for (char *c = *keyword; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	*value = xstrndup(v, vlen);
	*pp = p;
	return 1;
bad:
	*pp = k;
	return -1;
}

int
address_is_null(const struct address *a)
{
	return a->local != NULL && a->local[0] == '\0' && a->domain == NULL;
}

const char *
address_strerror(enum address_error e)
{
	switch (e) {
	case ADDR_OK:
		return "no error";
	case ADDR_SYNTAX:
		return "address syntax error";
	case ADDR_ROUTING:
		return "routing with % or ! in the local part is not allowed";
	case ADDR_SOURCE_ROUTE:
		return "source routes are not allowed";
	case ADDR_QUOTED_SPECIAL:
		return "quoted local part with @, % or ! is not allowed";
	case ADDR_IP_LITERAL:
		return "address literal is not this host";
	case ADDR_TOO_LONG:
		return "address too long";
	case ADDR_BAD_DOMAIN:
		return "invalid domain name";
	case ADDR_IDN:
		return "invalid internationalised domain name";
	case ADDR_NULL:
		return "null address not allowed here";
	}
	return "unknown address error";
}

char *
address_format(const struct address *a)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	if (a->quoted_local) {
		buf_addch(&b, '"');
		for (p = a->local; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_addch(&b, '\\');
			buf_addch(&b, *p);
		}
		buf_addch(&b, '"');
	} else if (a->local != NULL)
		buf_addstr(&b, a->local);
	if (a->domain != NULL) {
		buf_addch(&b, '@');
		buf_addstr(&b, a->domain);
	}
	if (b.data == NULL)
		buf_addstr(&b, "");
	return buf_take(&b);
}

void
address_free(struct address *a)
{
	free(a->local);
	free(a->domain);
	memset(a, 0, sizeof(*a));
}

int
address_domain_eq(const char *x, const char *y)
{
	size_t lx, ly;

	if (x == NULL || y == NULL)
		return x == y;
	lx = strlen(x);
	ly = strlen(y);
	if (lx > 0 && x[lx - 1] == '.')
		lx--;
	if (ly > 0 && y[ly - 1] == '.')
		ly--;
	return lx == ly && ascii_strncasecmp(x, y, lx) == 0;
}

int
address_complete(const char *in, const char *me, const char *defaultdomain,
    char **out, enum address_error *why)
{
	struct address a;
	char *d;

	*out = NULL;
	if (address_parse(in, &a, why) == -1)
		return -1;
	if (a.domain == NULL && me != NULL && *me != '\0') {
		if (address_canon_domain(me, &a.domain, why) == -1)
			goto fail;
	}
	if (a.domain != NULL && a.domain[0] != '[' &&
	    strchr(a.domain, '.') == NULL && defaultdomain != NULL &&
	    *defaultdomain != '\0') {
		char *joined;
		int r;

		xasprintf(&joined, "%s.%s", a.domain, defaultdomain);
		r = address_canon_domain(joined, &d, why);
		free(joined);
		if (r == -1)
			goto fail;
		free(a.domain);
		a.domain = d;
	}
	if (strlen(a.local) + (a.domain ? strlen(a.domain) + 1 : 0) + 2 >
	    ADDRESS_MAX_PATH) {
		fail(why, ADDR_TOO_LONG);
		goto fail;
	}
	*out = address_format(&a);
	address_free(&a);
	return 0;
fail:
	address_free(&a);
	return -1;
}
