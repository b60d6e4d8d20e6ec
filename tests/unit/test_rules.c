/*
 * Tests of rules.c, the decision engine: the relay decision per SMTP
 * stage (built-in policy and access overrides), local recipients
 * (aliases, adminaddr, Maildir, 550 5.1.1), the route order (transport,
 * sender_relay, remotes), a next hop taking a remotes line's options,
 * sasl_passwd credentials, generics, and the file:line every answer
 * names.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pwd.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "rules.h"
#include "util.h"

static char confdir[] = "/tmp/test_rules.XXXXXX";

/* getpwnam() passes through here: the test counts one user's look-ups. */
static const char *counted_user;
static int counted_lookups;

struct passwd *
getpwnam(const char *name)
{
	static struct passwd	*(*next)(const char *);

	if (next == NULL)
		*(void **)&next = dlsym(RTLD_NEXT, "getpwnam");
	if (counted_user != NULL && strcmp(name, counted_user) == 0)
		counted_lookups++;
	return (next(name));
}

static const char aliases_text[] =
    "# aliases\n"
    "project: takagi, iida, support@example.com\n"
    "postmaster: root\n"
    "root: root, /var/mail/root\n"
    "bin: /dev/null\n"
    "prog: \"|/usr/bin/procmail\"\n";

static void
put(const char *name, const char *text)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", confdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
	free(path);
}

static struct config *
load(void)
{
	struct diags	 d = { 0 };
	struct config	*cfg = NULL;

	if (config_load(confdir, &cfg, &d) == -1)
		diags_print(&d, stderr);
	assert_non_null(cfg);
	diags_free(&d);
	return (cfg);
}

static int
setup(void **state)
{
	assert_non_null(mkdtemp(confdir));
	put("hikyaku.conf", "me = mail.example.jp\nuser = root\n");
	put("local-host-names", "example.jp\n");
	put("remotes",
	    "relay.example.net smtp --port=587 --starttls\n"
	    "backup.example.net smtp\n"
	    "mail.foo.com smtp --ssl --user=fu --pass=fp\n");
	put("access",
	    "# access\n"
	    "Connect:192.168.1 RELAY\n"
	    "Connect:127.0.0.2 OK\n"
	    "To:partner.example RELAY\n"
	    "From:spammer@bad.example REJECT\n"
	    "To:blocked@example.jp ERROR:550 5.7.1 go away\n");
	put("aliases", aliases_text);
	put("transport",
	    "# transport\n"
	    "foo.com      smtp:[mail.foo.com]:465\n"
	    ".bar.co.jp   smtp:[mx.bar.co.jp]\n"
	    "dead.example error:5.1.2 no such domain here\n"
	    "mx.example   smtp:mx.example\n");
	put("sender_relay",
	    "@special.example  [submit.special.example]:587\n");
	put("sasl_passwd",
	    "[submit.special.example]:587 su:sp\n"
	    "[backup.example.net]:25 bu:bp\n");
	put("generics", "joe@mail.example.jp joe@example.org\n"
	    "kim kim.sato@example.org\n");
	return (0);
}

static int
teardown(void **state)
{
	char	*cmd;

	xasprintf(&cmd, "rm -rf %s", confdir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return (0);
}

static void
test_relay(void **state)
{
	struct config		*cfg = load();
	struct rules_answer	 a;
	struct rules_client	 out = { .ip = "203.0.113.9" };
	struct rules_client	 lan = { .ip = "192.168.1.20" };
	struct rules_client	 lo = { .ip = "127.0.0.1" };
	struct rules_client	 lo2 = { .ip = "127.0.0.2" };
	struct rules_client	 auth = { .ip = "203.0.113.9",
	    .auth_user = "alice" };

	rules_check_rcpt(cfg, &out, "", "x@elsewhere.org", &a, NULL);
	assert_int_equal(a.verdict, RULES_REJECT);
	assert_string_equal(a.reply,
	    "554 5.7.1 <x@elsewhere.org>: Relay access denied");
	assert_string_equal(a.rule, "built-in");
	rules_check_rcpt(cfg, &lan, "", "x@elsewhere.org", &a, NULL);
	assert_int_equal(a.verdict, RULES_ACCEPT);
	assert_string_equal(a.rule, "access:2");
	rules_check_rcpt(cfg, &lo, "", "x@elsewhere.org", &a, NULL);
	assert_int_equal(a.verdict, RULES_ACCEPT);
	/* A matching line takes the loopback's built-in right away. */
	rules_check_rcpt(cfg, &lo2, "", "x@elsewhere.org", &a, NULL);
	assert_int_equal(a.verdict, RULES_REJECT);
	assert_string_equal(a.rule, "access:3");
	rules_check_rcpt(cfg, &auth, "", "x@elsewhere.org", &a, NULL);
	assert_int_equal(a.verdict, RULES_ACCEPT);
	rules_check_rcpt(cfg, &out, "", "x@partner.example", &a, NULL);
	assert_int_equal(a.verdict, RULES_ACCEPT);
	assert_string_equal(a.rule, "access:4");
	/* Anyone may send to local names that exist. */
	rules_check_rcpt(cfg, &out, "", "project@example.jp", &a, NULL);
	assert_int_equal(a.verdict, RULES_ACCEPT);

	rules_check_connect(cfg, &lan, &a, NULL);
	assert_true(a.relay);
	rules_check_connect(cfg, &out, &a, NULL);
	assert_false(a.relay);
	rules_check_connect(cfg, &lo2, &a, NULL);
	assert_false(a.relay);
	rules_check_mail(cfg, &lan, "spammer@bad.example", &a, NULL);
	assert_int_equal(a.verdict, RULES_REJECT);
	assert_string_equal(a.rule, "access:5");
	rules_check_rcpt(cfg, &lan, "", "blocked@example.jp", &a, NULL);
	assert_int_equal(a.verdict, RULES_REJECT);
	assert_string_equal(a.reply, "550 5.7.1 go away");
	assert_string_equal(a.rule, "access:6");
	config_free(cfg);
}

static void
test_local(void **state)
{
	struct config		*cfg = load();
	struct rules_answer	 a;
	struct rules_client	 out = { .ip = "203.0.113.9" };
	struct rules_result	 r;

	/* Unknown names: 550 5.1.1 when neither adminaddr nor a mailbox. */
	rules_check_rcpt(cfg, &out, "", "nobody-here@example.jp", &a, NULL);
	assert_int_equal(a.verdict, RULES_REJECT);
	assert_non_null(strstr(a.reply, "550 5.1.1"));

	rules_resolve(cfg, "", "bin@example.jp", &r, NULL);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].kind, RULES_DEST_DEVNULL);
	assert_string_equal(r.v[0].rule, "aliases:5");
	rules_result_free(&r);

	rules_resolve(cfg, "", "prog@example.jp", &r, NULL);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].kind, RULES_DEST_PIPE);
	assert_string_equal(r.v[0].target, "/usr/bin/procmail");
	rules_result_free(&r);

	/* root: root, /var/mail/root -- its own name is a mailbox. */
	rules_resolve(cfg, "", "postmaster@mail.example.jp", &r, NULL);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[0].kind, RULES_DEST_ERROR);
	assert_int_equal(r.v[1].kind, RULES_DEST_MBOX);
	assert_string_equal(r.v[1].target, "/var/mail/root");
	assert_string_equal(r.v[1].addr, "root@mail.example.jp");
	assert_string_equal(r.v[1].orig, "postmaster@mail.example.jp");
	assert_string_equal(r.v[1].rule, "aliases:4");
	rules_result_free(&r);
	config_free(cfg);

	/* With a mailbox root, existing names get a Maildir there. */
	put("hikyaku.conf", "me = mail.example.jp\nuser = root\n"
	    "mailbox_root = /var/tmp/hk-mailboxes\n");
	cfg = load();
	rules_resolve(cfg, "", "project@example.jp", &r, NULL);
	/* takagi and iida are no system users: unknown; support is remote. */
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].kind, RULES_DEST_ERROR);
	assert_int_equal(r.v[2].kind, RULES_DEST_SMTP);
	assert_string_equal(r.v[2].addr, "support@example.com");
	assert_string_equal(r.v[2].alias_rule, "aliases:2");
	rules_result_free(&r);
	rules_resolve(cfg, "", "Root@example.jp", &r, NULL);
	assert_int_equal(r.v[0].kind, RULES_DEST_MAILDIR);
	assert_string_equal(r.v[0].target, "/var/tmp/hk-mailboxes/root");
	rules_result_free(&r);
	config_free(cfg);

	/* adminaddr takes unaliased names (nullmailer). */
	put("hikyaku.conf", "me = mail.example.jp\nuser = root\n"
	    "adminaddr = admin@example.org\n");
	cfg = load();
	rules_resolve(cfg, "", "someone@example.jp", &r, NULL);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].kind, RULES_DEST_SMTP);
	assert_string_equal(r.v[0].addr, "admin@example.org");
	assert_string_equal(r.v[0].orig, "someone@example.jp");
	rules_result_free(&r);
	config_free(cfg);
	put("hikyaku.conf", "me = mail.example.jp\nuser = root\n");
}

static void
test_routes(void **state)
{
	struct config		*cfg = load();
	struct rules_result	 r;
	struct rules_trace	 t = { 0 };
	char			*s;

	/* transport to a hop that is a remotes line: its options. */
	rules_resolve(cfg, "a@example.org", "u@foo.com", &r, &t);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].kind, RULES_DEST_SMTP);
	assert_false(r.v[0].route.default_route);
	assert_string_equal(r.v[0].rule, "transport:2");
	assert_string_equal(r.v[0].route.remote.host, "mail.foo.com");
	assert_int_equal(r.v[0].route.remote.port, 465);
	assert_int_equal(r.v[0].route.remote.tls, REMOTE_TLS_SSL);
	assert_string_equal(r.v[0].route.remote.user, "fu");
	s = rules_dest_summary(&r.v[0]);
	assert_string_equal(s, "mailer smtp, host [mail.foo.com]:465, user "
	    "u@foo.com");
	free(s);
	assert_true(t.n > 0);
	rules_result_free(&r);
	rules_trace_free(&t);

	/* .parent matches subdomains, not the parent itself. */
	rules_resolve(cfg, "", "u@x.bar.co.jp", &r, NULL);
	assert_string_equal(r.v[0].rule, "transport:3");
	assert_false(r.v[0].route.mx);
	rules_result_free(&r);
	rules_resolve(cfg, "", "u@bar.co.jp", &r, NULL);
	assert_true(r.v[0].route.default_route);
	rules_result_free(&r);

	rules_resolve(cfg, "", "u@dead.example", &r, NULL);
	assert_int_equal(r.v[0].kind, RULES_DEST_ERROR);
	assert_string_equal(r.v[0].rule, "transport:4");
	rules_result_free(&r);

	rules_resolve(cfg, "", "u@mx.example", &r, NULL);
	assert_true(r.v[0].route.mx);
	/* smtp_tls = may (the default): opportunistic on hops outside
	 * remotes. */
	assert_int_equal(r.v[0].route.remote.tls, REMOTE_TLS_MAY);
	rules_result_free(&r);

	/* sender_relay, with credentials from sasl_passwd. */
	rules_resolve(cfg, "boss@special.example", "u@other.example", &r,
	    NULL);
	assert_string_equal(r.v[0].rule, "sender_relay:1");
	assert_string_equal(r.v[0].route.remote.host,
	    "submit.special.example");
	assert_int_equal(r.v[0].route.remote.port, 587);
	assert_string_equal(r.v[0].route.remote.user, "su");
	rules_result_free(&r);

	/* Default: remotes; generics rewrites the sender. */
	rules_resolve(cfg, "joe@mail.example.jp", "u@other.example", &r, NULL);
	assert_true(r.v[0].route.default_route);
	assert_string_equal(r.v[0].rule, "remotes");
	assert_string_equal(r.sender, "joe@example.org");
	assert_string_equal(r.sender_rule, "generics:1");
	rules_result_free(&r);
	/* A bare "user" key: that user in every local domain, no other. */
	rules_resolve(cfg, "kim@example.jp", "u@other.example", &r, NULL);
	assert_string_equal(r.sender, "kim.sato@example.org");
	assert_string_equal(r.sender_rule, "generics:2");
	rules_result_free(&r);
	rules_resolve(cfg, "kim@other.example", "u@other.example", &r, NULL);
	assert_string_equal(r.sender, "kim@other.example");
	assert_null(r.sender_rule);
	rules_result_free(&r);
	config_free(cfg);
}

/*
 * MAIL/RCPT arguments: the one parse the daemon and the tracer share.
 * Relay tricks are refused as relaying; an IP literal is ours only when
 * it is the address the client connected to.
 */
static void
test_parse_path(void **state)
{
	struct config		*cfg = load();
	struct rules_answer	 a;
	struct rules_trace	 t = { 0 };
	struct address		 addr;
	const char		*params;
	static const char *const tricks[] = {
		"<user%elsewhere.org@example.jp>",
		"<elsewhere.org!user@example.jp>",
		"<@example.jp:user@elsewhere.org>",
		"<\"user@elsewhere.org\"@example.jp>",
		"<user@[192.0.2.7]>",
	};
	size_t			 i;

	for (i = 0; i < sizeof tricks / sizeof tricks[0]; i++) {
		assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
		    tricks[i], "127.0.0.1", &addr, NULL, &a, &t), -1);
		assert_int_equal(a.verdict, RULES_REJECT);
		assert_memory_equal(a.reply, "554 5.7.1 Relay access denied: ",
		    31);
		assert_string_equal(a.rule, "built-in");
	}
	assert_string_equal(t.v[4].text, "address: address literal is not "
	    "this host (the client connected to 127.0.0.1)");
	rules_trace_free(&t);
	/* In MAIL FROM: the same forms are only bad syntax. */
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_MAIL, tricks[0],
	    "127.0.0.1", &addr, NULL, &a, NULL), -1);
	assert_memory_equal(a.reply, "501 5.1.7 ", 10);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT, "<a b@x>",
	    "127.0.0.1", &addr, NULL, &a, NULL), -1);
	assert_memory_equal(a.reply, "501 5.1.3 ", 10);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
	    "<u@example.jp> NOTIFY=NEVER", "127.0.0.1", &addr, NULL, &a,
	    NULL), -1);
	assert_string_equal(a.reply, "555 5.5.4 Unsupported option: "
	    "NOTIFY=NEVER");

	/* Our own address, also as IPv6 and IPv4-mapped. */
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
	    "<root@[127.0.0.1]>", "127.0.0.1", &addr, NULL, &a, NULL), 0);
	assert_string_equal(addr.domain, "[127.0.0.1]");
	address_free(&addr);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
	    "<root@[127.0.0.1]>", "::ffff:127.0.0.1", &addr, NULL, &a,
	    NULL), 0);
	address_free(&addr);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
	    "<root@[IPv6:::1]>", "::1", &addr, NULL, &a, NULL), 0);
	address_free(&addr);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
	    "<root@[127.0.0.1]>", "", &addr, NULL, &a, NULL), -1);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT,
	    "<root@[127.0.0.1]>", NULL, &addr, NULL, &a, NULL), -1);
	assert_false(rules_literal_is_ours("127.0.0.2", "127.0.0.1"));
	/* No listen line in hikyaku.conf: the default 127.0.0.1:25. */
	assert_string_equal(rules_listen_address(cfg, LISTEN_RELAY),
	    "127.0.0.1");
	assert_string_equal(rules_listen_address(cfg, LISTEN_SUBMISSION), "");
	assert_false(rules_literal_is_ours("::1", "127.0.0.1"));
	assert_true(rules_literal_is_ours("::ffff:127.0.0.1", "127.0.0.1"));
	assert_true(rules_literal_is_ours("2001:db8::1", "2001:DB8:0::1"));
	assert_false(rules_literal_is_ours("2001:db8::1", "2001:db8::2"));
	/* Its first four bytes are 127.0.0.1's, its family is not. */
	assert_false(rules_literal_is_ours("7f00:1::", "127.0.0.1"));
	assert_false(rules_literal_is_ours("mail.example.jp", "127.0.0.1"));

	/* A bare local part is completed with me; <> only in MAIL. */
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT, "<Postmaster>",
	    "", &addr, NULL, &a, NULL), 0);
	assert_string_equal(addr.domain, "mail.example.jp");
	address_free(&addr);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_MAIL,
	    "<> SIZE=10", "", &addr, &params, &a, NULL), 0);
	assert_true(address_is_null(&addr));
	assert_string_equal(params, "SIZE=10");
	address_free(&addr);
	assert_int_equal(rules_parse_path(cfg, RULES_PATH_RCPT, "<>", "",
	    &addr, NULL, &a, NULL), -1);
	config_free(cfg);
}

/*
 * :include: files may name pipes and files when root or the configured
 * `user` owns them, whoever runs the code (the tracer as root agrees
 * with the daemon as `user`).
 */
static void
test_include_trust(void **state)
{
	struct config		*cfg;
	struct rules_result	 r;
	const struct passwd	*pw;
	char			*inc, *text;
	int			 i;

	xasprintf(&inc, "%s/inc", confdir);
	put("inc", "\"|/bin/cat\"\n");
	xasprintf(&text, "# aliases\nlist: :include:%s\n", inc);
	put("aliases", text);
	free(text);
	pw = getpwnam("nobody");
	if (geteuid() != 0 || pw == NULL ||
	    chown(inc, pw->pw_uid, pw->pw_gid) == -1) {
		put("aliases", aliases_text);
		free(inc);
		skip();
	}
	/* Owned by nobody, configured user root: the pipe is refused. */
	cfg = load();
	rules_resolve(cfg, "", "list@example.jp", &r, NULL);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].kind, RULES_DEST_ERROR);
	rules_result_free(&r);
	config_free(cfg);
	/* The daemon's user owns it: trusted, though we run as root. The
	 * user is looked up once for the config, not at every :include:. */
	put("hikyaku.conf", "me = mail.example.jp\nuser = nobody\n");
	cfg = load();
	counted_user = "nobody";
	counted_lookups = 0;
	for (i = 0; i < 3; i++) {
		rules_resolve(cfg, "", "list@example.jp", &r, NULL);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.v[0].kind, RULES_DEST_PIPE);
		rules_result_free(&r);
	}
	assert_int_equal(counted_lookups, 1);
	counted_user = NULL;
	config_free(cfg);
	put("hikyaku.conf", "me = mail.example.jp\nuser = root\n");
	put("aliases", aliases_text);
	free(inc);
}

/* smtp_tls drives hops outside remotes; remotes lines keep their own. */
static void
test_smtp_tls_policy(void **state)
{
	static const struct {
		const char		*conf;
		enum remote_tls		 tls;
		const char		*words;
	} cases[] = {
		{ "smtp_tls = none\n", REMOTE_TLS_NONE,
		    "TLS not used (smtp_tls = none)" },
		{ "smtp_tls = may\n", REMOTE_TLS_MAY,
		    "TLS when offered, unverified (smtp_tls = may)" },
		{ "smtp_tls = verify\n", REMOTE_TLS_STARTTLS,
		    "TLS required (smtp_tls = verify)" },
	};
	struct config		*cfg;
	struct rules_result	 r;
	struct rules_trace	 t;
	char			*conf;
	size_t			 i, j;
	int			 seen;

	for (i = 0; i < nitems(cases); i++) {
		xasprintf(&conf, "me = mail.example.jp\nuser = root\n%s",
		    cases[i].conf);
		put("hikyaku.conf", conf);
		free(conf);
		cfg = load();
		memset(&t, 0, sizeof t);
		rules_resolve(cfg, "", "u@mx.example", &r, &t);
		assert_int_equal(r.v[0].route.remote.tls, cases[i].tls);
		assert_null(r.v[0].route.remote.user);
		for (seen = 0, j = 0; j < t.n; j++)
			seen |= strstr(t.v[j].text, cases[i].words) != NULL;
		assert_true(seen);
		rules_result_free(&r);
		rules_trace_free(&t);
		/* A remotes line's options win over the policy. */
		rules_resolve(cfg, "", "u@foo.com", &r, NULL);
		assert_int_equal(r.v[0].route.remote.tls, REMOTE_TLS_SSL);
		rules_result_free(&r);
		/* A hop sent credentials: verified whatever the policy
		 * (smtp_client requires STARTTLS for credentials). */
		rules_resolve(cfg, "boss@special.example", "u@other.example",
		    &r, &t);
		assert_string_equal(r.v[0].route.remote.user, "su");
		assert_false(r.v[0].route.remote.insecure);
		for (seen = 0, j = 0; j < t.n; j++)
			seen |= strstr(t.v[j].text, "smtp_tls = verify") ?
			    1 : strstr(t.v[j].text,
			    "TLS required (credentials)") != NULL;
		assert_true(seen);
		rules_result_free(&r);
		rules_trace_free(&t);
		config_free(cfg);
	}
	put("hikyaku.conf", "me = mail.example.jp\nuser = root\n");
}

static void
test_credentials(void **state)
{
	struct config	*cfg = load();
	struct remote	 r;
	char		*rule;

	rules_remote_with_credentials(cfg, &cfg->remotes[1], &r, &rule);
	assert_string_equal(r.user, "bu");
	assert_string_equal(rule, "sasl_passwd:2");
	free(rule);
	remote_free(&r);
	/* A line with its own --user keeps it. */
	rules_remote_with_credentials(cfg, &cfg->remotes[2], &r, &rule);
	assert_string_equal(r.user, "fu");
	assert_null(rule);
	remote_free(&r);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_smtp_tls_policy),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_parse_path),
		cmocka_unit_test(test_include_trust),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
