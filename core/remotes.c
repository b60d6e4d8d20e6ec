/*
 * remotes: nullmailer's remotes lines. A line is split into tokens that
 * remember their column, then the option words are applied one by one,
 * so every diagnostic can point at the token it is about.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "remotes.h"
#include "util.h"

struct token {
	const char	*s;	/* NUL-terminated copy */
	int		 col;	/* 1-based column in the line */
};

enum opt_kind { OPT_FLAG, OPT_VALUE };

enum opt_id {
	O_PORT, O_USER, O_PASS, O_PASS_FILE, O_SOURCE, O_AUTH_LOGIN, O_SSL,
	O_TLS, O_STARTTLS, O_CERT, O_KEY, O_CA, O_CRL, O_DER, O_INSECURE,
	O_PLAINTEXT
};

struct opt {
	const char	*name;
	enum opt_kind	 kind;
	enum opt_id	 id;
};

/* nullmailer 2.x smtp options, then hikyaku's own two. */
static const struct opt remote_opts[] = {
	{ "port", OPT_VALUE, O_PORT },
	{ "user", OPT_VALUE, O_USER },
	{ "pass", OPT_VALUE, O_PASS },
	{ "source", OPT_VALUE, O_SOURCE },
	{ "auth-login", OPT_FLAG, O_AUTH_LOGIN },
	{ "ssl", OPT_FLAG, O_SSL },
	{ "tls", OPT_FLAG, O_TLS },
	{ "starttls", OPT_FLAG, O_STARTTLS },
	{ "x509certfile", OPT_VALUE, O_CERT },
	{ "x509keyfile", OPT_VALUE, O_KEY },
	{ "x509cafile", OPT_VALUE, O_CA },
	{ "x509crlfile", OPT_VALUE, O_CRL },
	{ "x509fmtder", OPT_FLAG, O_DER },
	{ "insecure", OPT_FLAG, O_INSECURE },
	{ "pass-file", OPT_VALUE, O_PASS_FILE },
	{ "allow-plaintext-auth", OPT_FLAG, O_PLAINTEXT },
};

static const struct opt *
opt_find(const char *name, size_t len)
{
	for (size_t i = 0; i < nitems(remote_opts); i++)
		if (strlen(remote_opts[i].name) == len &&
		    strncmp(remote_opts[i].name, name, len) == 0)
			return &remote_opts[i];
	return NULL;
}

int
remotes_option_takes_value(const char *arg)
{
	const struct opt	*o;

	/* "--opt=V" and "-pV" carry their value already. */
	if (strchr(arg, '=') != NULL || (arg[0] == '-' && arg[1] != '-' &&
	    arg[1] != '\0' && arg[2] != '\0'))
		return 0;
	if (strcmp(arg, "-p") == 0)
		return 1;
	while (*arg == '-')
		arg++;
	o = opt_find(arg, strlen(arg));
	return o != NULL && o->kind == OPT_VALUE;
}

const char *
remotes_short_form(const char *a, char **val, int *consumed, int argc, char **argv,
    int i)
{
	static const struct {
		const char *ours, *theirs;
	} map[] = {
		{ "--cafile", "--x509cafile" },
		{ "--certfile", "--x509certfile" },
		{ "--keyfile", "--x509keyfile" },
		{ "--crlfile", "--x509crlfile" },
	};
	size_t n, k;

	*val = NULL;
	*consumed = 0;
	if (strcmp(a, "--der") == 0)
		return "--x509fmtder";
	for (k = 0; k < nitems(map); k++) {
		n = strlen(map[k].ours);
		if (strncmp(a, map[k].ours, n) != 0)
			continue;
		if (a[n] == '=') {
			xasprintf(val, "%s=%s", map[k].theirs, a + n + 1);
			return *val;
		}
		if (a[n] == '\0' && i + 1 < argc) {
			xasprintf(val, "%s=%s", map[k].theirs, argv[i + 1]);
			*consumed = 1;
			return *val;
		}
	}
	return NULL;
}

static const char *
opt_suggest(const char *name, size_t len)
{
	const char *names[nitems(remote_opts)];
	char *word = xstrndup(name, len);
	const char *s;

	for (size_t i = 0; i < nitems(remote_opts); i++)
		names[i] = remote_opts[i].name;
	s = config_suggest(word, names, nitems(names));
	free(word);
	return s;
}

/* A file named by an option: a missing one is a warning, never an error. */
static void
check_file(const char *file, int line, int col, const char *opt,
    const char *path, struct diags *d)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			diags_add(d, file, line, col, DIAG_WARNING,
			    "--%s: %s is not a regular file", opt, path);
		return;
	}
	diags_add(d, file, line, col, DIAG_WARNING,
	    "--%s: %s: %s (delivery through this remote will defer until "
	    "it exists)", opt, path, strerror(errno));
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/*
 * A file option's value. Relative to the remotes file's directory when
 * the line came from a file, as relative paths in hikyaku.conf are
 * relative to the config directory: the daemon's working directory must
 * not change what a line means.
 */
static void
set_path(char **dst, const char *file, const char *v)
{
	const char *slash = strrchr(file, '/');

	free(*dst);
	if (v[0] == '/' || v[0] == '\0' || slash == NULL)
		*dst = xstrdup(v);
	else
		xasprintf(dst, "%.*s/%s", (int)(slash - file), file, v);
}

/*
 * Apply one option. seen[] remembers where each option was first given so
 * a repeat can be reported (nullmailer silently takes the last one).
 */
static int
opt_apply(struct remote *r, const struct opt *o, const char *v,
    const char *file, int line, int col, int vcol, int *seen,
    struct diags *d)
{
	char *end;
	long port;

	if (seen[o->id])
		diags_add(d, file, line, col, DIAG_WARNING,
		    "--%s given twice; this one (the last) wins", o->name);
	seen[o->id] = col;

	switch (o->id) {
	case O_PORT:
		errno = 0;
		port = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || port < 1 ||
		    port > 65535) {
			diags_add(d, file, line, vcol, DIAG_ERROR,
			    "--port: \"%s\" is not a port number (1-65535)",
			    v);
			return -1;
		}
		r->port = (int)port;
		r->port_explicit = 1;
		break;
	case O_USER:
		set_str(&r->user, v);
		break;
	case O_PASS:
		set_str(&r->pass, v);
		break;
	case O_PASS_FILE:
		set_path(&r->pass_file, file, v);
		check_file(file, line, vcol, o->name, r->pass_file, d);
		break;
	case O_SOURCE:
		set_str(&r->source, v);
		break;
	case O_AUTH_LOGIN:
		r->auth_login = 1;
		break;
	case O_SSL:
	case O_TLS:
		r->tls = REMOTE_TLS_SSL;
		break;
	case O_STARTTLS:
		if (r->tls != REMOTE_TLS_SSL)
			r->tls = REMOTE_TLS_STARTTLS;
		break;
	case O_CERT:
		set_path(&r->x509certfile, file, v);
		check_file(file, line, vcol, o->name, r->x509certfile, d);
		break;
	case O_KEY:
		set_path(&r->x509keyfile, file, v);
		check_file(file, line, vcol, o->name, r->x509keyfile, d);
		break;
	case O_CA:
		set_path(&r->x509cafile, file, v);
		check_file(file, line, vcol, o->name, r->x509cafile, d);
		break;
	case O_CRL:
		set_path(&r->x509crlfile, file, v);
		check_file(file, line, vcol, o->name, r->x509crlfile, d);
		break;
	case O_DER:
		r->x509fmtder = 1;
		break;
	case O_INSECURE:
		r->insecure = 1;
		break;
	case O_PLAINTEXT:
		r->allow_plaintext_auth = 1;
		break;
	}
	return 0;
}

/*
 * Apply the option tokens t[0..n) to r. Returns 0, or -1 after an error
 * (parsing goes on so one run reports every bad option).
 */
static int
opts_apply(struct remote *r, const struct token *t, size_t n,
    const char *file, int line, struct diags *d)
{
	int seen[O_PLAINTEXT + 1] = { 0 };
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const char *s = t[i].s, *name, *eq, *v = NULL;
		int col = t[i].col, vcol = col, dashes = 0;
		const struct opt *o;
		size_t len;

		if (s[0] == '-' && s[1] != '-' && s[1] != '\0') {
			/* Short options: -p V, -pV; -d -s -h are obsolete. */
			if (strchr("dsh", s[1]) != NULL && s[2] == '\0') {
				diags_add(d, file, line, col, DIAG_WARNING,
				    "%s is ignored (an obsolete nullmailer "
				    "option)", s);
				continue;
			}
			if (s[1] != 'p') {
				diags_add(d, file, line, col, DIAG_ERROR,
				    "unknown option %s (the only short "
				    "option is -p PORT)", s);
				rc = -1;
				continue;
			}
			o = opt_find("port", 4);
			if (s[2] != '\0') {
				v = s + 2;
				vcol = col + 2;
			} else if (i + 1 < n) {
				v = t[++i].s;
				vcol = t[i].col;
			} else {
				diags_add(d, file, line, col, DIAG_ERROR,
				    "-p needs a port number");
				rc = -1;
				continue;
			}
			if (opt_apply(r, o, v, file, line, col, vcol, seen,
			    d) == -1)
				rc = -1;
			continue;
		}

		if (s[0] == '-' && s[1] == '-')
			dashes = 2;
		name = s + dashes;
		eq = strchr(name, '=');
		len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		o = opt_find(name, len);
		if (o == NULL) {
			const char *sug = opt_suggest(name, len);

			if (sug != NULL)
				diags_add(d, file, line, col, DIAG_ERROR,
				    "unknown option %.*s (did you mean "
				    "--%s?)", (int)(len + dashes), s, sug);
			else
				diags_add(d, file, line, col, DIAG_ERROR,
				    "unknown option %.*s", (int)(len + dashes),
				    s);
			rc = -1;
			continue;
		}
		if (o->kind == OPT_FLAG) {
			if (eq != NULL) {
				diags_add(d, file, line, col, DIAG_ERROR,
				    "--%s takes no value", o->name);
				rc = -1;
				continue;
			}
			opt_apply(r, o, "", file, line, col, col, seen, d);
			continue;
		}
		if (eq != NULL) {
			v = eq + 1;
			vcol = col + (int)(v - s);
		} else if (dashes == 0) {
			/* nullmailer 2.x turns "port" into "--port": needs =. */
			diags_add(d, file, line, col, DIAG_ERROR,
			    "%s needs a value: write %s=VALUE", o->name,
			    o->name);
			rc = -1;
			continue;
		} else if (i + 1 < n) {
			v = t[++i].s;
			vcol = t[i].col;
		} else {
			diags_add(d, file, line, col, DIAG_ERROR,
			    "--%s needs a value", o->name);
			rc = -1;
			continue;
		}
		if (opt_apply(r, o, v, file, line, col, vcol, seen, d) == -1)
			rc = -1;
	}

	if (seen[O_SSL] && seen[O_STARTTLS])
		diags_add(d, file, line, seen[O_STARTTLS], DIAG_WARNING,
		    "--starttls is ignored with --ssl (the connection is "
		    "already TLS)");
	if (seen[O_TLS] && seen[O_STARTTLS] && !seen[O_SSL])
		diags_add(d, file, line, seen[O_STARTTLS], DIAG_WARNING,
		    "--starttls is ignored with --tls (which means --ssl in "
		    "nullmailer 2)");
	if (seen[O_PASS] && seen[O_PASS_FILE])
		diags_add(d, file, line, seen[O_PASS_FILE], DIAG_WARNING,
		    "both --pass and --pass-file: --pass is used");
	if ((seen[O_PASS] || seen[O_PASS_FILE]) && !seen[O_USER])
		diags_add(d, file, line, seen[O_PASS] ? seen[O_PASS] :
		    seen[O_PASS_FILE], DIAG_WARNING,
		    "a password without --user is never sent");
	if (!r->port_explicit)
		r->port = r->tls == REMOTE_TLS_SSL ? 465 : 25;
	return rc;
}

/*
 * Split a line into tokens at spaces and tabs. '#' starts a comment only
 * at the start of a token (line start or after white space), so passwords
 * may contain '#'. Returns the number of tokens; *copy holds their text.
 */
static size_t
tokenize(const char *line, char **copy, struct token **out)
{
	size_t len = strlen(line), n = 0;
	char *c = xstrdup(line);
	struct token *t = xreallocarray(NULL, len / 2 + 1, sizeof(*t));

	for (size_t i = 0; i < len;) {
		if (c[i] == ' ' || c[i] == '\t' || c[i] == '\r' ||
		    c[i] == '\n') {
			c[i++] = '\0';
			continue;
		}
		if (c[i] == '#')
			break;
		t[n].s = c + i;
		t[n].col = (int)i + 1;
		n++;
		while (i < len && c[i] != ' ' && c[i] != '\t' &&
		    c[i] != '\r' && c[i] != '\n')
			i++;
	}
	*copy = c;
	*out = t;
	return n;
}

int
remotes_parse_line(const char *file, int lineno, const char *line,
    struct remote *out, struct diags *d)
{
	struct token *t;
	char *copy;
	size_t n = tokenize(line, &copy, &t);
	int rc = 1;

	memset(out, 0, sizeof(*out));
	if (n == 0) {
		rc = 0;
		goto done;
	}
	if (n == 1) {
		diags_add(d, file, lineno, t[0].col + (int)strlen(t[0].s),
		    DIAG_ERROR, "missing protocol after the host: write "
		    "\"%s smtp [options]\"", t[0].s);
		rc = -1;
		goto done;
	}
	if (ascii_strcasecmp(t[1].s, "qmqp") == 0) {
		diags_add(d, file, lineno, t[1].col, DIAG_ERROR,
		    "protocol qmqp is not supported: hikyaku delivers with "
		    "smtp only (write \"%s smtp\")", t[0].s);
		rc = -1;
		goto done;
	}
	if (ascii_strcasecmp(t[1].s, "smtp") != 0) {
		diags_add(d, file, lineno, t[1].col, DIAG_ERROR,
		    "unknown protocol \"%s\" (expected smtp)", t[1].s);
		rc = -1;
		goto done;
	}
	out->file = xstrdup(file);
	out->line = lineno;
	out->host = xstrdup(t[0].s);
	if (opts_apply(out, t + 2, n - 2, file, lineno, d) == -1)
		rc = -1;
done:
	if (rc != 1)
		remote_free(out);
	free(copy);
	free(t);
	return rc;
}

int
remotes_parse_file(const char *path, struct remote **out, size_t *n,
    struct diags *d)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	int lineno = 0, rc = 0;

	*out = NULL;
	*n = 0;
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		diags_add(d, path, 0, 0, DIAG_ERROR, "%s", strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) != -1) {
		struct remote r;
		int got;

		lineno++;
		got = remotes_parse_line(path, lineno, line, &r, d);
		if (got == -1)
			rc = -1;
		if (got != 1)
			continue;
		if (*n == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			*out = xreallocarray(*out, alloc, sizeof(**out));
		}
		(*out)[(*n)++] = r;
	}
	if (ferror(fp)) {
		diags_add(d, path, lineno, 0, DIAG_ERROR, "read: %s",
		    strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

int
remotes_parse_args(struct remote *r, int argc, char **argv,
    const char *file, struct diags *d)
{
	struct token *t = xreallocarray(NULL, (size_t)argc + 1, sizeof(*t));
	int rc;

	for (int i = 0; i < argc; i++) {
		t[i].s = argv[i];
		t[i].col = i + 1;
	}
	rc = opts_apply(r, t, (size_t)argc, file, 0, d);
	free(t);
	return rc;
}

char *
remote_password(const struct remote *r, char **err)
{
	char *data, *nl;

	if (r->pass != NULL)
		return xstrdup(r->pass);
	if (r->pass_file == NULL) {
		xasprintf(err, "no password configured for %s", r->host);
		return NULL;
	}
	if ((data = read_file(r->pass_file, NULL)) == NULL) {
		xasprintf(err, "--pass-file %s: %s", r->pass_file,
		    strerror(errno));
		return NULL;
	}
	if ((nl = strpbrk(data, "\r\n")) != NULL)
		*nl = '\0';
	return data;
}

void
remote_free(struct remote *r)
{
	free(r->file);
	free(r->host);
	free(r->user);
	if (r->pass != NULL) {
		/* Do not leave the password in freed heap memory. */
		explicit_bzero(r->pass, strlen(r->pass));
		free(r->pass);
	}
	free(r->pass_file);
	free(r->x509certfile);
	free(r->x509keyfile);
	free(r->x509cafile);
	free(r->x509crlfile);
	free(r->source);
	memset(r, 0, sizeof(*r));
}

void
remotes_free(struct remote *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		remote_free(&v[i]);
	free(v);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
remote_copy(struct remote *dst, const struct remote *src)
{
	*dst = *src;
	dst->file = dup_or_null(src->file);
	dst->host = dup_or_null(src->host);
	dst->user = dup_or_null(src->user);
	dst->pass = dup_or_null(src->pass);
	dst->pass_file = dup_or_null(src->pass_file);
	dst->x509certfile = dup_or_null(src->x509certfile);
	dst->x509keyfile = dup_or_null(src->x509keyfile);
	dst->x509cafile = dup_or_null(src->x509cafile);
	dst->x509crlfile = dup_or_null(src->x509crlfile);
	dst->source = dup_or_null(src->source);
}
