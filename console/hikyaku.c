/*
 * hikyaku: the admin command. Global options, then a subcommand for
 * scripts (console/cli.h); each usage text is generated from help/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "tui.h"
#include "help/usage.h"

int
cli_no_console(void)
{
	fprintf(stderr, "hikyaku: the console needs a terminal; "
	    "without one use the subcommands (hikyaku queue list, "
	    "hikyaku status, ...; hikyaku --help lists them)\n");
	return CLI_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	const char *confdir = NULL;
	int i;

	/* Library code logs through log.h; the CLI wants it on stderr. */
	log_init("hikyaku", "stderr");
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
			confdir = argv[++i];
		} else if (strncmp(argv[i], "-C", 2) == 0 && argv[i][2]) {
			confdir = argv[i] + 2;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage_hikyaku, stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("hikyaku %s\n", PACKAGE_VERSION);
			return CLI_EXIT_OK;
		} else {
			fprintf(stderr, "hikyaku: unknown option %s\n",
			    argv[i]);
			fputs(usage_hikyaku, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (!confdir)
		confdir = config_default_dir();
	if (i >= argc) {
		/* No command: the console, which needs a terminal. */
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) &&
		    getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0)
			return tui_main(confdir);
		return cli_no_console();
	}
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "queue") == 0)
		return cli_queue(argc, argv, confdir);
	if (strcmp(argv[0], "reload") == 0)
		return cli_reload(argc, argv, confdir);
	if (strcmp(argv[0], "status") == 0)
		return cli_status(argc, argv, confdir);
	if (strcmp(argv[0], "config") == 0 && argc >= 2 &&
	    strcmp(argv[1], "check") == 0)
		return cli_config_check(argc - 1, argv + 1, confdir);
	if (strcmp(argv[0], "tls") == 0)
		return cli_tls(argc, argv, confdir);
	if (strcmp(argv[0], "trace") == 0)
		return cli_trace(argc, argv, confdir);
	if (strcmp(argv[0], "smtp") == 0)
		return cli_smtp(argc, argv, confdir);
	if (strcmp(argv[0], "cert") == 0)
		return cli_cert(argc, argv, confdir);
	if (strcmp(argv[0], "passwd") == 0)
		return cli_passwd(argc, argv, confdir);
	if (strcmp(argv[0], "import") == 0)
		return cli_import(argc, argv, confdir);
	if (strcmp(argv[0], "selftest") == 0)
		return cli_selftest(argc, argv, confdir);
	if (strcmp(argv[0], "help") == 0) {
		fputs(usage_hikyaku, stdout);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "hikyaku: unknown command \"%s\"\n", argv[0]);
	fputs(usage_hikyaku, stderr);
	return CLI_EXIT_USAGE;
}
