/*
 * remotes: nullmailer's `remotes` file, read exactly as nullmailer's smtp
 * module reads it, plus hikyaku's --pass-file and --allow-plaintext-auth.
 *
 * Promises: every line nullmailer accepts parses unchanged (option forms
 * `--opt=V`, `--opt V`, `-p V`, `-pV`, dash-less `opt=V`); placeholders such
 * as `<uesr>` are literal values; a referenced file that is missing is a
 * warning, never an error; errors carry file:line:column of the offending
 * token. Relative file options (--pass-file, --x509*) read from a file
 * are made relative to that file's directory; given as arguments they
 * stay relative to the working directory. Nothing here resolves names or
 * opens connections.
 */
#ifndef HIKYAKU_REMOTES_H
#define HIKYAKU_REMOTES_H

#include <stddef.h>

struct diags;

/*
 * REMOTE_TLS_MAY (opportunistic STARTTLS, smtp_tls = may) is never parsed
 * from a remotes line: rules.c gives it to next hops outside remotes.
 */
enum remote_tls {
	REMOTE_TLS_NONE, REMOTE_TLS_STARTTLS, REMOTE_TLS_SSL, REMOTE_TLS_MAY
};

struct remote {
	char		*file;		/* where the line came from */
	int		 line;		/* 1-based line number in file */
	char		*host;
	int		 port;		/* explicit, else 25 (465 with --ssl) */
	int		 port_explicit;
	char		*user, *pass, *pass_file;
	int		 auth_login;	/* --auth-login: force LOGIN */
	enum remote_tls	 tls;
	char		*x509certfile, *x509keyfile, *x509cafile, *x509crlfile;
	int		 x509fmtder, insecure, allow_plaintext_auth;
	char		*source;	/* --source: local address to bind */
};

/*
 * Parse one line of a remotes file. Returns 1 and fills *out when the line
 * holds a remote, 0 for a blank or comment line, -1 after adding an error
 * to d (warnings may be added in every case). *out is zeroed first; free
 * it with remote_free().
 */
int	 remotes_parse_line(const char *file, int lineno, const char *line,
	    struct remote *out, struct diags *d);

/*
 * Parse a whole remotes file. A missing file is an empty list (return 0).
 * Returns 0 when no line had an error, -1 otherwise; lines with errors are
 * left out of *out.
 */
int	 remotes_parse_file(const char *path, struct remote **out, size_t *n,
	    struct diags *d);

/*
 * Apply remotes options given as separate arguments (as `hikyaku smtp` and
 * `hikyaku tls check` take them verbatim on their command line) to r,
 * whose host is already set. Diagnostics name `file` with line 0 (so no
 * column is printed). Returns 0 or -1 after adding an error.
 */
int	 remotes_parse_args(struct remote *r, int argc, char **argv,
	    const char *file, struct diags *d);

/*
 * 1 when arg is a remotes option whose value is the next word ("-p 587",
 * "--user alice"), so command lines that take remotes options verbatim
 * know to keep the two together; 0 otherwise.
 */
int	 remotes_option_takes_value(const char *arg);

/*
 * The short forms command lines accept beside the remotes options
 * (--cafile, --certfile, --keyfile, --crlfile, --der; DESIGN §12), given
 * as argv[i]: the remotes option it stands for ("--x509cafile=F"), with
 * *val set when that string is allocated (the caller frees it) and
 * *consumed 1 when the value was the next word. NULL: not a short form.
 */
const char *remotes_short_form(const char *arg, char **val, int *consumed,
	    int argc, char **argv, int i);

/* The password for r: --pass, else the first line of --pass-file. */
char	*remote_password(const struct remote *r, char **err);

void	 remote_free(struct remote *);
void	 remotes_free(struct remote *, size_t);
/* Deep copy (for configs handed to delivery while a reload happens). */
void	 remote_copy(struct remote *dst, const struct remote *src);

#endif
