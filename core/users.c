/*
 * users: parse, look up and rewrite the `users` file. See users.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <gsasl.h>

#include "config.h"
#include "users.h"
#include "util.h"

static const char *const hash_tag[] = {
	[USERS_SHA256] = "{SCRAM-SHA-256}",
	[USERS_SHA1] = "{SCRAM-SHA-1}",
};

static Gsasl_hash
gsasl_hash_of(enum users_hash h)
{
	return h == USERS_SHA256 ? GSASL_HASH_SHA256 : GSASL_HASH_SHA1;
}

int
users_name_valid(const char *name)
{
	const unsigned char *p;

	if (name == NULL || *name == '\0' || *name == '#' ||
	    strlen(name) > 255)
		return 0;
	for (p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == ':' || *p == 0x7f)
			return 0;
	return 1;
}

void
users_secret_free(struct users_secret *s)
{
	free(s->salt);
	free(s->stored_key);
	free(s->server_key);
	memset(s, 0, sizeof(*s));
}

/* base64 text that decodes to exactly want bytes (any length if 0). */
static int
b64_ok(const char *s, size_t want)
{
	char *out = NULL;
	size_t len = 0;
	int ok;

	if (*s == '\0')
		return 0;
	ok = gsasl_base64_from(s, strlen(s), &out, &len) == GSASL_OK &&
	    (want == 0 ? len > 0 : len == want);
	gsasl_free(out);
	return ok;
}

/* "ITER,SALT,STOREDKEY,SERVERKEY" after the tag; NULL or the problem. */
static const char *
secret_parse(enum users_hash h, const char *text, struct users_secret *out)
{
	char *copy = xstrdup(text), *f[5], *p = copy, *end;
	size_t n = 0, hlen = gsasl_hash_length(gsasl_hash_of(h));
	unsigned long iter;
	const char *why = NULL;

	while (n < nitems(f) && (f[n] = strsep(&p, ",")) != NULL)
		n++;
	if (n == 5)
		why = "five fields: remove the salted password (the fifth "
		    "field of gsasl --mkpasswd --verbose), it is as good as "
		    "the password";
	else if (n != 4)
		why = "want ITERATIONS,SALT,STOREDKEY,SERVERKEY";
	else {
		errno = 0;
		iter = strtoul(f[0], &end, 10);
		if (f[0][0] < '1' || f[0][0] > '9' || *end != '\0' ||
		    errno != 0 || iter > 100000000)
			why = "bad iteration count";
		else if (!b64_ok(f[1], 0))
			why = "salt is not base64";
		else if (!b64_ok(f[2], hlen))
			why = "stored key is not base64 of the right length";
		else if (!b64_ok(f[3], hlen))
			why = "server key is not base64 of the right length";
		else {
			out->iter = (unsigned)iter;
			out->salt = xstrdup(f[1]);
			out->stored_key = xstrdup(f[2]);
			out->server_key = xstrdup(f[3]);
		}
	}
	free(copy);
	return why;
}

static void
entry_free(struct users_entry *e)
{
	free(e->name);
	users_secret_free(&e->sha256);
	users_secret_free(&e->sha1);
}

/* One account line; 0, or -1 with a diagnostic added. */
static int
parse_line(const char *path, int lineno, char *line, struct users_entry *e,
    struct diags *d)
{
	char *p = line, *field;
	const char *why;
	enum users_hash h;
	struct users_secret *sec;
	int col;

	memset(e, 0, sizeof(*e));
	e->line = lineno;
	field = strsep(&p, ":");
	if (!users_name_valid(field) || p == NULL) {
		diags_add(d, path, lineno, 1, DIAG_ERROR, "want NAME:{SCRAM-"
		    "SHA-256}ITERATIONS,SALT,STOREDKEY,SERVERKEY (make it "
		    "with: hikyaku passwd NAME)");
		return -1;
	}
	e->name = xstrdup(field);
	while ((field = strsep(&p, ":")) != NULL) {
		col = (int)(field - line) + 1;
		if (strncmp(field, hash_tag[USERS_SHA256],
		    strlen(hash_tag[USERS_SHA256])) == 0)
			h = USERS_SHA256;
		else if (strncmp(field, hash_tag[USERS_SHA1],
		    strlen(hash_tag[USERS_SHA1])) == 0)
			h = USERS_SHA1;
		else {
			diags_add(d, path, lineno, col, DIAG_ERROR, "unknown "
			    "secret \"%.20s\": want {SCRAM-SHA-256} or "
			    "{SCRAM-SHA-1}", field);
			entry_free(e);
			return -1;
		}
		sec = h == USERS_SHA256 ? &e->sha256 : &e->sha1;
		if (sec->iter != 0) {
			diags_add(d, path, lineno, col, DIAG_ERROR, "%s given "
			    "twice", hash_tag[h]);
			entry_free(e);
			return -1;
		}
		if ((why = secret_parse(h, field + strlen(hash_tag[h]),
		    sec)) != NULL) {
			diags_add(d, path, lineno, col, DIAG_ERROR, "%s: %s",
			    hash_tag[h], why);
			entry_free(e);
			return -1;
		}
	}
	if (e->sha256.iter == 0) {
		diags_add(d, path, lineno, 1, DIAG_ERROR, "%s has no "
		    "{SCRAM-SHA-256} secret (set it with: hikyaku passwd %s)",
		    e->name, e->name);
		entry_free(e);
		return -1;
	}
	return 0;
}

int
users_load(const char *path, struct users *u, struct diags *d)
{
	char *text, *p, *line;
	int lineno = 0, rc = 0;
	size_t i;
	struct users_entry e;

	memset(u, 0, sizeof(*u));
	if ((text = read_file(path, NULL)) == NULL) {
		if (errno == ENOENT)
			return 0;
		diags_add(d, path, 0, 0, DIAG_ERROR, "cannot read: %s",
		    strerror(errno));
		return -1;
	}
	for (p = text; (line = strsep(&p, "\n")) != NULL;) {
		lineno++;
		rtrim(line);
		if (*skip_ws(line) == '\0' || *skip_ws(line) == '#')
			continue;
		if (parse_line(path, lineno, line, &e, d) == -1) {
			rc = -1;
			continue;
		}
		for (i = 0; i < u->n; i++)
			if (strcmp(u->v[i].name, e.name) == 0)
				break;
		if (i < u->n) {
			diags_add(d, path, lineno, 1, DIAG_ERROR, "%s already "
			    "defined on line %d", e.name, u->v[i].line);
			entry_free(&e);
			rc = -1;
			continue;
		}
		u->v = xreallocarray(u->v, u->n + 1, sizeof(*u->v));
		u->v[u->n++] = e;
	}
	free(text);
	return rc;
}

void
users_free(struct users *u)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		entry_free(&u->v[i]);
	free(u->v);
	memset(u, 0, sizeof(*u));
}

const struct users_entry *
users_find(const struct users *u, const char *name)
{
	size_t i;

	if (u == NULL || name == NULL)
		return NULL;
	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	return NULL;
}

static char *
b64(const char *data, size_t len)
{
	char *out = NULL, *s;
	size_t outlen;

	if (gsasl_base64_to(data, len, &out, &outlen) != GSASL_OK)
		return NULL;
	s = xstrndup(out, outlen);
	gsasl_free(out);
	return s;
}

int
users_secret_make(enum users_hash h, const char *password, const char *salt,
    size_t saltlen, unsigned iter, struct users_secret *out)
{
	char salted[GSASL_HASH_MAX_SIZE], ckey[GSASL_HASH_MAX_SIZE];
	char skey[GSASL_HASH_MAX_SIZE], stkey[GSASL_HASH_MAX_SIZE];
	size_t hlen = gsasl_hash_length(gsasl_hash_of(h));
	int rc;

	memset(out, 0, sizeof(*out));
	/* libgsasl SASLpreps the password here, as its SCRAM client does. */
	rc = gsasl_scram_secrets_from_password(gsasl_hash_of(h), password,
	    iter, salt, saltlen, salted, ckey, skey, stkey);
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	if (rc != GSASL_OK)
		return -1;
	out->iter = iter;
	out->salt = b64(salt, saltlen);
	out->stored_key = b64(stkey, hlen);
	out->server_key = b64(skey, hlen);
	if (out->salt == NULL || out->stored_key == NULL ||
	    out->server_key == NULL) {
		users_secret_free(out);
		return -1;
	}
	return 0;
}

/* Compare base64 keys by their bytes, in time independent of content. */
static int
keys_equal(const char *a, const char *b)
{
	char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0, i;
	unsigned char diff = 0;
	int eq;

	if (gsasl_base64_from(a, strlen(a), &da, &la) != GSASL_OK ||
	    gsasl_base64_from(b, strlen(b), &db, &lb) != GSASL_OK ||
	    la != lb) {
		gsasl_free(da);
		gsasl_free(db);
		return 0;
	}
	for (i = 0; i < la; i++)
		diff |= (unsigned char)(da[i] ^ db[i]);
	eq = diff == 0;
	gsasl_free(da);
	gsasl_free(db);
	return eq;
}

static int
check_secret(enum users_hash h, const struct users_secret *s,
    const char *password)
{
	struct users_secret got;
	char *salt = NULL;
	size_t saltlen = 0;
	int ok;

	if (gsasl_base64_from(s->salt, strlen(s->salt), &salt, &saltlen) !=
	    GSASL_OK)
		return 0;
	ok = users_secret_make(h, password, salt, saltlen, s->iter, &got) ==
	    0 && keys_equal(got.stored_key, s->stored_key);
	users_secret_free(&got);
	gsasl_free(salt);
	return ok;
}

int
users_check_password(const struct users_entry *e, const char *password)
{
	static const struct users_secret dummy = {
		USERS_ITERATIONS, "aGlreWFrdS1ub2JvZHk=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};

	if (e == NULL) {
		/* Same cost as a real check; the all-zero key never matches
		 * a SHA-256 output in practice, and the result is ignored. */
		(void)check_secret(USERS_SHA256, &dummy, password);
		return 0;
	}
	if (e->sha256.iter != 0)
		return check_secret(USERS_SHA256, &e->sha256, password);
	return e->sha1.iter != 0 && check_secret(USERS_SHA1, &e->sha1,
	    password);
}

static void
secret_format(struct buf *b, enum users_hash h, const struct users_secret *s)
{
	buf_printf(b, ":%s%u,%s,%s,%s", hash_tag[h], s->iter, s->salt,
	    s->stored_key, s->server_key);
}

/* The new line for name, with fresh salts for both secrets. */
static char *
entry_line(const char *name, const char *password, char **err)
{
	struct users_secret s256, s1;
	char salt[USERS_SALT_LEN];
	struct buf b;

	if (gsasl_nonce(salt, sizeof(salt)) != GSASL_OK ||
	    users_secret_make(USERS_SHA256, password, salt, sizeof(salt),
	    USERS_ITERATIONS, &s256) == -1) {
		xasprintf(err, "cannot derive the secret (is the password "
		    "valid UTF-8?)");
		return NULL;
	}
	if (gsasl_nonce(salt, sizeof(salt)) != GSASL_OK ||
	    users_secret_make(USERS_SHA1, password, salt, sizeof(salt),
	    USERS_ITERATIONS, &s1) == -1) {
		users_secret_free(&s256);
		xasprintf(err, "cannot derive the secret");
		return NULL;
	}
	buf_init(&b);
	buf_addstr(&b, name);
	secret_format(&b, USERS_SHA256, &s256);
	secret_format(&b, USERS_SHA1, &s1);
	buf_addch(&b, '\n');
	users_secret_free(&s256);
	users_secret_free(&s1);
	return buf_take(&b);
}

/* Is this line (without its newline) the account of name? */
static int
line_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncmp(line, name, n) == 0 && line[n] == ':';
}

/* Write text to a temporary beside path with st's owner and mode, rename. */
static int
replace_file(const char *path, const char *text, size_t len,
    const struct stat *st, int exists, char **err)
{
	char *tmp;
	int fd;
	mode_t mode = 0640;

	if (exists)
		mode = st->st_mode & 07777 & ~(mode_t)(S_IWGRP | S_IXGRP |
		    S_IRWXO);
	xasprintf(&tmp, "%s.tmpXXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		xasprintf(err, "cannot create a file beside %s: %s", path,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, mode) == -1 ||
	    (exists && fchown(fd, st->st_uid, st->st_gid) == -1) ||
	    write_all(fd, text, len) == -1 || fsync(fd) == -1) {
		xasprintf(err, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		xasprintf(err, "cannot replace %s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if (fsync_parent_dir(path) == -1) {
		xasprintf(err, "cannot sync the directory of %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
users_set(const char *path, const char *name, const char *password,
    char **err)
{
	struct stat st;
	struct buf out;
	char *text = NULL, *p, *line, *newline = NULL;
	int exists, found = 0, rc;

	if (!users_name_valid(name)) {
		xasprintf(err, "invalid user name \"%s\" (no ':', blanks or "
		    "control characters)", name);
		return -1;
	}
	exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT) {
		xasprintf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (exists && (text = read_file(path, NULL)) == NULL) {
		xasprintf(err, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (password != NULL &&
	    (newline = entry_line(name, password, err)) == NULL) {
		free(text);
		return -1;
	}
	buf_init(&out);
	for (p = text; p != NULL && *p != '\0';) {
		line = p;
		p = strchr(p, '\n');
		if (p != NULL)
			*p++ = '\0';
		if (line_is(line, name)) {
			/* Replace the first, drop any duplicate. */
			if (!found && newline != NULL)
				buf_addstr(&out, newline);
			found = 1;
			continue;
		}
		buf_printf(&out, "%s\n", line);
	}
	free(text);
	if (!found && newline == NULL) {
		xasprintf(err, "no user %s in %s", name, path);
		buf_free(&out);
		return -1;
	}
	if (!found)
		buf_addstr(&out, newline);
	if (newline != NULL) {
		explicit_bzero(newline, strlen(newline));
		free(newline);
	}
	rc = replace_file(path, out.data != NULL ? out.data : "", out.len, &st,
	    exists, err);
	buf_free(&out);
	return rc;
}
