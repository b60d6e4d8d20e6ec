/*
 * hikyaku passwd NAME [--stdin] [--delete]: set or remove a submission
 * account in DIR/users (core/users.h). The password is read from the
 * terminal without echo (asked twice), or as one line from stdin for
 * scripts; it never appears in argv, where `ps` would show it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "users.h"
#include "util.h"
#include "help/usage.h"

#define PASSWD_MAX	1024

/* One line from f without its line end; -1 at EOF or when too long. */
static int
read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '\n' && !feof(f))
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

/* Prompt on the terminal and read with echo off; the echo comes back. */
static int
read_hidden(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) == -1)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == -1)
		return -1;
	rc = read_line(stdin, buf, len);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

static int
get_password(const char *name, int from_stdin, char *pw, size_t len)
{
	char again[PASSWD_MAX], *prompt;
	int rc;

	if (from_stdin) {
		if (read_line(stdin, pw, len) == -1) {
			fprintf(stderr, "hikyaku passwd: no password line on "
			    "stdin (or longer than %d bytes)\n",
			    PASSWD_MAX - 2);
			return -1;
		}
		return 0;
	}
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "hikyaku passwd: stdin is not a terminal; "
		    "pass the password as one line with --stdin\n");
		return -1;
	}
	xasprintf(&prompt, "New password for %s: ", name);
	rc = read_hidden(prompt, pw, len);
	free(prompt);
	if (rc == -1 || read_hidden("Repeat it: ", again,
	    sizeof(again)) == -1) {
		fprintf(stderr, "hikyaku passwd: cannot read the password\n");
		return -1;
	}
	rc = strcmp(pw, again) == 0 ? 0 : -1;
	explicit_bzero(again, sizeof(again));
	if (rc == -1)
		fprintf(stderr, "hikyaku passwd: the passwords differ; "
		    "nothing changed\n");
	return rc;
}

int
cli_passwd(int argc, char **argv, const char *confdir)
{
	char pw[PASSWD_MAX], *path, *err = NULL;
	const char *name = NULL;
	struct stat st;
	int i, from_stdin = 0, del = 0, created, world_readable, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--stdin") == 0)
			from_stdin = 1;
		else if (strcmp(argv[i], "--delete") == 0)
			del = 1;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage_passwd, stdout);
			return CLI_EXIT_OK;
		} else if (argv[i][0] == '-' || name != NULL) {
			fputs(usage_passwd, stderr);
			return CLI_EXIT_USAGE;
		} else
			name = argv[i];
	}
	if (name == NULL || (del && from_stdin)) {
		fputs(usage_passwd, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!users_name_valid(name)) {
		fprintf(stderr, "hikyaku passwd: invalid name \"%s\": no ':', "
		    "blanks or control characters\n", name);
		return CLI_EXIT_USAGE;
	}
	xasprintf(&path, "%s/users", confdir);
	if (!del) {
		if (get_password(name, from_stdin, pw, sizeof(pw)) == -1) {
			explicit_bzero(pw, sizeof(pw));
			free(path);
			return CLI_EXIT_FAIL;
		}
		if (pw[0] == '\0') {
			fprintf(stderr, "hikyaku passwd: empty password; "
			    "nothing changed\n");
			free(path);
			return CLI_EXIT_FAIL;
		}
	}
	created = stat(path, &st) == -1;
	world_readable = !created && (st.st_mode & S_IROTH);
	rc = users_set(path, name, del ? NULL : pw, &err);
	explicit_bzero(pw, sizeof(pw));
	if (rc == -1) {
		fprintf(stderr, "hikyaku passwd: %s\n", err);
		free(err);
		free(path);
		return CLI_EXIT_FAIL;
	}
	/* A new file made by root is root's: the daemon reads it through
	   its group, as the TLS key (0640 root:hikyaku, DESIGN §12). An
	   existing file keeps the group the admin gave it, unless it was
	   readable by others: the daemon may have read it that way, and
	   the rewrite took those bits away. */
	if ((created || world_readable) &&
	    config_give_to_daemon(path, confdir, &err) == -1) {
		fprintf(stderr, "hikyaku passwd: %s\n", err);
		free(err);
	}
	printf("%s %s in %s; run \"hikyaku reload\" so the daemon sees it\n",
	    del ? "removed" : "set", name, path);
	free(path);
	return CLI_EXIT_OK;
}
