/*
 * cli: the `hikyaku` subcommands for scripts. Each takes the arguments
 * after its own name (argv[0] is the subcommand) and the configuration
 * directory, prints to stdout/stderr and returns the exit status:
 * 0 success, 1 failure, 2 usage error.
 */
#ifndef HIKYAKU_CLI_H
#define HIKYAKU_CLI_H

#define CLI_EXIT_OK	0
#define CLI_EXIT_FAIL	1
#define CLI_EXIT_USAGE	2

/* No usable terminal for the console (none, TERM=dumb, or a TERM curses
 * does not know): say so, point to the subcommands, return 2. */
int	 cli_no_console(void);

/* hikyaku queue list|show|retry|delete|hold|release|bounce|flush */
int	 cli_queue(int argc, char **argv, const char *confdir);
/* hikyaku reload */
int	 cli_reload(int argc, char **argv, const char *confdir);
/* hikyaku status [--json] [--check] */
int	 cli_status(int argc, char **argv, const char *confdir);
/* hikyaku config check (console/cli_config.c) */
int	 cli_config_check(int argc, char **argv, const char *confdir);
/* hikyaku tls check (console/cli_tls.c) */
int	 cli_tls(int argc, char **argv, const char *confdir);
/* hikyaku cert show|new (console/cli_tls.c) */
int	 cli_cert(int argc, char **argv, const char *confdir);
/* hikyaku passwd NAME [--stdin] [--delete] (console/cli_passwd.c) */
int	 cli_passwd(int argc, char **argv, const char *confdir);
/* hikyaku import postfix|authinfo [FILE] [--dry-run]: merge an existing
 * main.cf or sendmail authinfo into the config (console/cli_import.c) */
int	 cli_import(int argc, char **argv, const char *confdir);
/* hikyaku smtp: the SMTP session tester (console/cli_smtp.c); exit
 * status per failed stage, see help/tester.md */
int	 cli_smtp(int argc, char **argv, const char *confdir);

/* hikyaku trace ADDR... | --bt (console/cli_trace.c) */
int	 cli_trace(int argc, char **argv, const char *confdir);
/* hikyaku trace --session --client IP [--auth U] [--mode M]: drives
 * hikyakud -bh (console/cli_session.c; argv[0] is "trace") */
int	 cli_trace_session(int argc, char **argv, const char *confdir);
/* hikyaku selftest [--client IP]: open-relay and smuggling checks
 * through hikyakud -bh; 1 when any got through (console/cli_selftest.c) */
int	 cli_selftest(int argc, char **argv, const char *confdir);

#endif
