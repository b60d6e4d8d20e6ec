/*
 * `hikyaku config check`: load the configuration directory exactly as the
 * daemon would and print every diagnostic as file:line:column: severity:
 * message, so editors and scripts can jump to the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "aliases.h"
#include "cli.h"
#include "config.h"
#include "maps.h"
#include "tls.h"
#include "util.h"
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

/*
 * The server certificate and key as the daemon loads them at start
 * (readable by `user`, a matching pair, inside its validity): broken, it
 * is an error with an smtps listener (the daemon refuses to start) and a
 * warning otherwise (the daemon starts without STARTTLS).
 */
static void
check_server_cert(const struct config *cfg, const char *confdir,
    struct diags *d)
{
	struct tls_server_creds *creds;
	enum diag_severity sev = DIAG_WARNING;
	int cert = cfg->tls_cert != NULL && cfg->tls_cert[0] != '\0';
	int key = cfg->tls_key != NULL && cfg->tls_key[0] != '\0';
	char *file, *why = NULL;
	size_t i;

	if (!cert && !key)
		return;
	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listens[i].mode == LISTEN_SMTPS)
			sev = DIAG_ERROR;
	xasprintf(&file, "%s/hikyaku.conf", confdir);
	if (!cert || !key)
		diags_add(d, file, 0, 0, sev,
		    "tls_cert and tls_key go together: set both");
	else if ((creds = tls_server_creds_load(cfg->tls_cert, cfg->tls_key,
	    geteuid() == 0 ? cfg->user : NULL, &why)) == NULL) {
		diags_add(d, file, 0, 0, sev, "server certificate %s: %s%s",
		    cfg->tls_cert, why, sev == DIAG_ERROR ? "" :
		    " (hikyakud would start without STARTTLS)");
		free(why);
	} else
		tls_server_creds_put(creds);
	free(file);
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
	if (rc == 0) {
		check_server_cert(cfg, confdir, &d);
		if (diags_has_errors(&d))
			rc = -1;
	}
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
