/*
 * `hikyaku trace`: explain where mail goes and which line decided it, by
 * running the daemon's own decision code (core/rules.c) on the loaded
 * configuration; and `hikyaku trace --bt`, sendmail's -bt test mode
 * (/parse ADDR), which `hikyaku-sendmail -bt` execs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "address.h"
#include "cli.h"
#include "config.h"
#include "rules.h"
#include "util.h"
#include "help/usage.h"

#define RULE_COLUMN	60

static void
print_steps(const struct rules_trace *t, size_t from)
{
	size_t	 i;
	int	 n;

	for (i = from; i < t->n; i++) {
		n = printf("  %*s%s", t->v[i].depth * 2, "", t->v[i].text);
		if (t->v[i].rule != NULL)
			printf("%*s[%s]", n < RULE_COLUMN ? RULE_COLUMN - n : 1,
			    "", t->v[i].rule);
		putchar('\n');
	}
}

/*
 * The SMTP session's view: where the client connected to (the judge of
 * IP literals), and the envelope sender as MAIL FROM: gave it.
 */
struct trace_smtp {
	struct rules_client	 client;
	const char		*server_ip;	/* "" when unknown */
	const char		*from;		/* MAIL FROM: argument or "" */
};

/* An address as the injector would complete it, or NULL (printed why). */
static char *
trace_address(const struct config *cfg, const char *in)
{
	char			*out;
	enum address_error	 why;

	if (address_complete(in, cfg->me, NULL, &out, &why) == -1) {
		printf("  <%s>: refused: %s%*s[built-in]\n", in,
		    address_strerror(why), 20, "");
		printf("result: mailer error, host 5.1.3, user %s\n",
		    address_strerror(why));
		return (NULL);
	}
	return (out);
}

/* A MAIL FROM: / RCPT TO: argument parsed as the daemon does, or NULL. */
static char *
trace_path(const struct config *cfg, enum rules_path which, const char *arg,
    const char *server_ip, struct rules_answer *a, struct rules_trace *t)
{
	struct address	 addr;
	char		*text;

	if (rules_parse_path(cfg, which, arg, server_ip, &addr, NULL, a,
	    t) == -1)
		return (NULL);
	text = address_format(&addr);
	address_free(&addr);
	return (text);
}

/* Remember the first stage that discards the mail. */
static void
note_discard(const struct rules_answer *a, char *rule, size_t len)
{
	if (a->verdict == RULES_DISCARD && rule[0] == '\0')
		snprintf(rule, len, "%s", a->rule);
}

/*
 * Trace one recipient. With smtp NULL it is local submission (-bt): no
 * SMTP stages, the injector's address completion. Otherwise the stages
 * run in the daemon's order: connect, MAIL (parse, From:), RCPT (parse,
 * To: and relay). Returns 0 when the mail would be accepted.
 */
static int
trace_one(const struct config *cfg, const struct trace_smtp *smtp,
    const char *in)
{
	struct rules_trace	 t = { 0 };
	struct rules_answer	 a;
	struct rules_result	 res;
	const struct rules_client *client;
	char			*rcpt = NULL, *sender = NULL, *sum;
	char			 discard_rule[256];
	size_t			 i;
	int			 rc = 0;

	printf("trace <%s>\n", in);
	if (smtp == NULL) {
		if ((rcpt = trace_address(cfg, in)) == NULL)
			return (1);
		sender = xstrdup("");
		goto route;
	}
	client = &smtp->client;
	/*
	 * As the daemon does: a DISCARD at one stage drops the mail but the
	 * later stages are still judged, and may refuse.
	 */
	discard_rule[0] = '\0';
	rules_check_connect(cfg, client, &a, &t);
	note_discard(&a, discard_rule, sizeof discard_rule);
	if (a.verdict != RULES_REJECT) {
		if (smtp->from[0] == '\0')
			sender = xstrdup("");
		else
			sender = trace_path(cfg, RULES_PATH_MAIL, smtp->from,
			    smtp->server_ip, &a, &t);
		if (sender != NULL) {
			rules_check_mail(cfg, client, sender, &a, &t);
			note_discard(&a, discard_rule, sizeof discard_rule);
		}
	}
	if (a.verdict != RULES_REJECT) {
		rcpt = trace_path(cfg, RULES_PATH_RCPT, in, smtp->server_ip,
		    &a, &t);
		if (rcpt != NULL) {
			rules_check_rcpt(cfg, client, sender, rcpt, &a, &t);
			note_discard(&a, discard_rule, sizeof discard_rule);
		}
	}
	print_steps(&t, 0);
	rules_trace_free(&t);
	if (a.verdict == RULES_REJECT) {
		printf("result: refused: %s   rule=%s\n", a.reply, a.rule);
		free(rcpt);
		free(sender);
		return (1);
	}
	if (discard_rule[0] != '\0') {
		printf("result: accepted and discarded   rule=%s\n",
		    discard_rule);
		free(rcpt);
		free(sender);
		return (0);
	}
	printf("result: accepted   rule=%s\n", a.rule);
route:
	rules_resolve(cfg, sender, rcpt, &res, &t);
	print_steps(&t, 0);
	for (i = 0; i < res.n; i++) {
		sum = rules_dest_summary(&res.v[i]);
		printf("%s   rule=%s\n", sum, res.v[i].rule != NULL ?
		    res.v[i].rule : "-");
		free(sum);
		if (res.v[i].kind == RULES_DEST_ERROR ||
		    res.v[i].kind == RULES_DEST_RETRY)
			rc = 1;
	}
	rules_result_free(&res);
	rules_trace_free(&t);
	free(rcpt);
	free(sender);
	return (rc);
}

/*
 * sendmail -bv: one line per final address, "ADDR... deliverable: mailer
 * ..." or "ADDR... REASON", as local submission sees it. 0 when all of
 * them are deliverable.
 */
static int
verify_one(const struct config *cfg, const char *sender, const char *in)
{
	struct rules_result	 res;
	char			*rcpt, *sum;
	enum address_error	 why;
	size_t			 i;
	int			 rc = 0;

	if (address_complete(in, cfg->me, NULL, &rcpt, &why) == -1) {
		printf("%s... %s\n", in, address_strerror(why));
		return (1);
	}
	rules_resolve(cfg, sender, rcpt, &res, NULL);
	for (i = 0; i < res.n; i++) {
		switch (res.v[i].kind) {
		case RULES_DEST_ERROR:
			printf("%s... %s\n", res.v[i].addr, res.v[i].text);
			rc = 1;
			break;
		case RULES_DEST_RETRY:
			printf("%s... deferred: %s\n", res.v[i].addr,
			    res.v[i].text);
			rc = 1;
			break;
		default:
			sum = rules_dest_summary(&res.v[i]);
			printf("%s... deliverable: %s\n", res.v[i].addr, sum);
			free(sum);
			break;
		}
	}
	rules_result_free(&res);
	free(rcpt);
	return (rc);
}

/* sendmail -bt: one command per line; readline only on a terminal. */
static int
trace_bt(const struct config *cfg)
{
	int	 tty = isatty(0) && isatty(1);
	char	*line, *p, buf[4096];

	if (tty)
		printf("ADDRESS TEST MODE (hikyaku: every step names the "
		    "line that decided it)\n"
		    "Enter /parse ADDRESS or ADDRESS; Ctrl-D ends.\n");
	for (;;) {
		if (tty) {
			if ((line = readline("> ")) == NULL)
				break;
			if (*line != '\0')
				add_history(line);
		} else {
			if (fgets(buf, sizeof buf, stdin) == NULL)
				break;
			line = xstrdup(buf);
		}
		rtrim(line);
		p = (char *)skip_ws(line);
		if (*p == '\0' || *p == '#') {
			free(line);
			continue;
		}
		if (strncmp(p, "/parse", 6) == 0 && (p[6] == ' ' ||
		    p[6] == '\t' || p[6] == '\0'))
			p = (char *)skip_ws(p + 6);
		else if (strcmp(p, "/quit") == 0) {
			free(line);
			break;
		} else if (*p == '/') {
			printf("unknown command %s (hikyaku knows /parse and "
			    "/quit)\n", p);
			free(line);
			fflush(stdout);
			continue;
		} else if (strncmp(p, "3,0", 3) == 0)
			/* The ruleset form "3,0 addr" of old how-tos. */
			p = (char *)skip_ws(p + 3);
		if (*p == '\0')
			printf("usage: /parse ADDRESS\n");
		else
			trace_one(cfg, NULL, p);
		fflush(stdout);
		free(line);
	}
	return (CLI_EXIT_OK);
}

int
cli_trace(int argc, char **argv, const char *confdir)
{
	struct diags		 d = { 0 };
	struct config		*cfg;
	struct trace_smtp	 smtp = { 0 };
	struct rules_client	*client = &smtp.client;
	const char		*from = "", *mode = "relay", *server = NULL;
	const char		*client_name = NULL;
	char			*sender = NULL;
	enum address_error	 why;
	int			 bt = 0, bv = 0, i, rc = CLI_EXIT_OK;
	int			 naddr = 0;

	/* --session simulates a whole SMTP dialogue (console/cli_session.c). */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--session") == 0)
			return (cli_trace_session(argc, argv, confdir));
	client->ip = "127.0.0.1";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--bt") == 0)
			bt = 1;
		else if (strcmp(argv[i], "--bv") == 0)
			bv = 1;
		else if (strcmp(argv[i], "--client") == 0 && i + 1 < argc)
			client->ip = argv[++i];
		else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strcmp(argv[i], "--client-name") == 0 &&
		    i + 1 < argc)
			client_name = argv[++i];
		else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--auth") == 0 && i + 1 < argc)
			client->auth_user = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage_trace, stdout);
			return (CLI_EXIT_OK);
		} else if (argv[i][0] == '-') {
			fputs(usage_trace, stderr);
			return (CLI_EXIT_USAGE);
		} else
			naddr++;
	}
	if (strcmp(mode, "relay") == 0)
		client->mode = LISTEN_RELAY;
	else if (strcmp(mode, "submission") == 0)
		client->mode = LISTEN_SUBMISSION;
	else {
		fprintf(stderr, "hikyaku trace: --mode is relay or "
		    "submission\n");
		return (CLI_EXIT_USAGE);
	}
	if ((!bt && naddr == 0) || (bt && bv)) {
		fputs(usage_trace, stderr);
		return (CLI_EXIT_USAGE);
	}
	if (config_load(confdir, &cfg, &d) == -1) {
		diags_print(&d, stderr);
		fprintf(stderr, "hikyaku trace: the configuration in %s has "
		    "errors\n", confdir);
		diags_free(&d);
		return (CLI_EXIT_FAIL);
	}
	diags_free(&d);
	if (bt) {
		rc = trace_bt(cfg);
		config_free(cfg);
		return (rc);
	}
	if (client->mode == LISTEN_SUBMISSION && client->auth_user == NULL)
		printf("note: submission mode without --auth: the daemon "
		    "answers 530 5.7.0 (AUTH required)\n");
	/* The name as if peer_lookup had verified it; the daemon has none
	 * without peer_lookup. */
	if (client_name != NULL && cfg->peer_lookup)
		client->hostname = client_name;
	else if (client_name != NULL)
		printf("note: peer_lookup = no: the daemon never knows client "
		    "names, --client-name is ignored\n");
	smtp.from = from;
	smtp.server_ip = server != NULL ? server :
	    rules_listen_address(cfg, client->mode);
	if (bv && from[0] != '\0' &&
	    address_complete(from, cfg->me, NULL, &sender, &why) == -1) {
		fprintf(stderr, "hikyaku trace: --from %s: %s\n", from,
		    address_strerror(why));
		config_free(cfg);
		return (CLI_EXIT_USAGE);
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			if (strcmp(argv[i], "--bt") != 0 &&
			    strcmp(argv[i], "--bv") != 0)
				i++;
			continue;
		}
		if ((bv ? verify_one(cfg, sender != NULL ? sender : "",
		    argv[i]) : trace_one(cfg, &smtp, argv[i])) != 0)
			rc = CLI_EXIT_FAIL;
	}
	free(sender);
	config_free(cfg);
	return (rc);
}
