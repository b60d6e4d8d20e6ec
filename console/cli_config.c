/*
 * `hikyaku config check`: load the configuration directory exactly as the
 * daemon would and print every diagnostic as file:line:column: severity:
 * message, so editors and scripts can jump to the line.
 */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "aliases.h"
#include "cli.h"
#include "config.h"
#include "maps.h"
#include "help/usage.h"

/* What the rule files hold, one line, for a quick sanity look. */
static void
print_rules(const struct config *c)
{
	if (c->access == NULL && c->aliases == NULL && c->transport == NULL &&
	    c->sasl_passwd == NULL && c->sender_relay == NULL &&
	    c->generics == NULL)
		return;
	printf("rules:");
	if (c->access != NULL)
		printf(" access %zu", c->access->n);
	if (c->aliases != NULL)
		printf(" aliases %zu", c->aliases->n);
	if (c->transport != NULL)
		printf(" transport %zu", c->transport->n);
	if (c->sasl_passwd != NULL)
		printf(" sasl_passwd %zu", c->sasl_passwd->n);
	if (c->sender_relay != NULL)
		printf(" sender_relay %zu", c->sender_relay->n);
	if (c->generics != NULL)
		printf(" generics %zu", c->generics->n);
	printf(" (hikyaku trace ADDR shows what they decide)\n");
}

int
cli_config_check(int argc, char **argv, const char *confdir)
{
	struct diags d = { 0 };
	struct config *cfg;
	int quiet = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0 ||
		    strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage_config_check, stdout);
			return CLI_EXIT_OK;
		} else {
			fputs(usage_config_check, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (confdir == NULL)
		confdir = config_default_dir();

	rc = config_load(confdir, &cfg, &d);
	diags_print(&d, stdout);
	if (!quiet) {
		if (rc == 0) {
			printf("%s: configuration OK (%zu listener%s, %zu "
			    "remote%s, %zu local domain%s, %zu warning%s)\n",
			    confdir, cfg->nlisten, cfg->nlisten == 1 ? "" : "s",
			    cfg->nremotes, cfg->nremotes == 1 ? "" : "s",
			    cfg->nlocal_domains,
			    cfg->nlocal_domains == 1 ? "" : "s",
			    d.n, d.n == 1 ? "" : "s");
			print_rules(cfg);
		} else
			printf("%s: %zu error%s, %zu warning%s\n", confdir,
			    diags_count(&d, DIAG_ERROR),
			    diags_count(&d, DIAG_ERROR) == 1 ? "" : "s",
			    diags_count(&d, DIAG_WARNING),
			    diags_count(&d, DIAG_WARNING) == 1 ? "" : "s");
	}
	fflush(stdout);
	config_free(cfg);
	diags_free(&d);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
