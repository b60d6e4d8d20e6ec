/*
 * Tests of config.c, config_table.c and privsep.c: defaults, every value
 * spelling of hikyaku.conf, listen lines, local-host-names, the exact
 * file:line:column of errors (tests/unit/data/config/bad/expected), and the
 * fix text of secret-file warnings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "config.h"
#include "privsep.h"
#include "util.h"

static char *
data_dir(const char *name)
{
	const char *top = getenv("top_srcdir");
	char *s;

	xasprintf(&s, "%s/tests/unit/data/config/%s", top ? top : ".", name);
	return s;
}

/* A fresh directory with the given files (name, content, name, ...). */
static char *
sandbox(const char *first, ...)
{
	char *dir = xstrdup("/tmp/test_configXXXXXX");
	const char *name;
	va_list ap;

	assert_non_null(mkdtemp(dir));
	va_start(ap, first);
	for (name = first; name != NULL; name = va_arg(ap, const char *)) {
		const char *content = va_arg(ap, const char *);
		char *path;
		FILE *fp;

		xasprintf(&path, "%s/%s", dir, name);
		assert_non_null(fp = fopen(path, "w"));
		fputs(content, fp);
		fclose(fp);
		free(path);
	}
	va_end(ap);
	return dir;
}

static void
sandbox_rm(char *dir)
{
	static const char *const files[] = {
		"hikyaku.conf", "remotes", "local-host-names", "secret"
	};

	for (size_t i = 0; i < nitems(files); i++) {
		char *path;

		xasprintf(&path, "%s/%s", dir, files[i]);
		unlink(path);
		free(path);
	}
	rmdir(dir);
	free(dir);
}

static int
has_diag(const struct diags *d, enum diag_severity sev, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].severity == sev &&
		    strstr(d->v[i].msg, needle) != NULL)
			return 1;
	return 0;
}

static void
test_table(void **state)
{
	static const char *const required[] = {
		"me", "defaultdomain", "adminaddr", "helo_name", "listen",
		"spool", "user", "tls_cert", "tls_key", "control_socket", "log",
		"max_message_size", "max_recipients", "command_timeout",
		"data_timeout", "max_connections", "max_connections_per_ip",
		"pausetime", "maxpause", "queue_lifetime", "sendtimeout",
		"greet_pause", "rate_limit", "bad_rcpt_throttle", "vrfy",
		"expn", "smtpd_plaintext_auth", "max_hops", "dsn_rate",
		"smtp_tls", "max_connections_per_remote", "remote_rate",
		"mailbox_root", "pipe_user", "pipe_timeout", "resolver",
		"peer_lookup",
	};

	for (size_t i = 0; i < nitems(required); i++)
		assert_non_null(config_key_find(required[i]));
	assert_int_equal(config_nkeys, nitems(required));
	for (size_t i = 0; i < config_nkeys; i++) {
		assert_true(strlen(config_keys[i].help) > 10);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(config_keys[i].name,
			    config_keys[j].name);
	}
	assert_string_equal(config_key_suggest("max_recipent"),
	    "max_recipients");
	assert_string_equal(config_key_suggest("Listen"), "listen");
	assert_string_equal(config_key_suggest("pausetiem"), "pausetime");
	assert_null(config_key_suggest("completely_unrelated_thing"));
}

static void
test_defaults(void **state)
{
	char *dir = sandbox(NULL);
	struct diags d = { 0 };
	struct config *c;
	char *sock;

	assert_int_equal(config_load(dir, &c, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(c->dir, dir);
	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listens[0].addr, "127.0.0.1");
	assert_int_equal(c->listens[0].port, 25);
	assert_int_equal(c->listens[0].family, AF_INET);
	assert_int_equal(c->listens[0].mode, LISTEN_RELAY);
	assert_string_equal(c->listens[1].addr, "::1");
	assert_int_equal(c->listens[1].family, AF_INET6);
	assert_int_equal(c->listens[1].mode, LISTEN_RELAY);
	assert_int_equal(c->pausetime, 60);
	assert_int_equal(c->maxpause, 86400);
	assert_int_equal(c->queue_lifetime, 5 * 86400);
	assert_int_equal(c->sendtimeout, 3600);
	assert_int_equal(c->command_timeout, 300);
	assert_int_equal(c->data_timeout, 600);
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->max_recipients, 100);
	assert_int_equal(c->max_connections, 100);
	assert_int_equal(c->max_connections_per_ip, 10);
	assert_int_equal(c->max_hops, 30);
	assert_int_equal(c->max_connections_per_remote, 4);
	assert_int_equal(c->vrfy, 0);
	assert_int_equal(c->expn, 0);
	assert_int_equal(c->smtpd_plaintext_auth, 0);
	assert_int_equal(c->peer_lookup, 0);
	assert_int_equal(c->smtp_tls, SMTP_TLS_MAY);
	assert_string_equal(c->log, "syslog");
	assert_non_null(c->user);
	assert_true(strlen(c->user) > 0);
	assert_string_equal(c->pipe_user, "nobody");
	assert_true(c->spool[0] == '/');
	xasprintf(&sock, "%s/ctl.sock", c->spool);
	assert_string_equal(c->control_socket, sock);
	free(sock);
	assert_non_null(c->me);
	assert_string_equal(c->defaultdomain, c->me);
	assert_string_equal(c->helo_name, c->me);
	assert_null(c->adminaddr);
	assert_null(c->tls_cert);
	assert_null(c->resolver);
	assert_string_equal(c->rate_limit, "0");
	assert_int_equal(c->nremotes, 0);
	assert_int_equal(c->nlocal_domains, 0);
	assert_true(config_is_local_domain(c, "localhost"));
	assert_true(config_is_local_domain(c, "LOCALHOST.localdomain."));
	assert_true(config_is_local_domain(c, c->me));
	assert_false(config_is_local_domain(c, "example.org"));
	config_free(c);
	diags_free(&d);
	sandbox_rm(dir);

	/* A directory that does not exist: defaults, with a warning. */
	assert_int_equal(config_load("/nonexistent/hikyaku", &c, &d), 0);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "built-in defaults"));
	config_free(c);
	diags_free(&d);
}

static void
test_good(void **state)
{
	char *dir = data_dir("good"), *p;
	struct diags d = { 0 };
	struct config *c;

	if (config_load(dir, &c, &d) != 0)
		diags_print(&d, stderr);
	assert_false(diags_has_errors(&d));
	assert_non_null(c);
	assert_string_equal(c->me, "mail.example.jp");
	assert_string_equal(c->defaultdomain, "example.jp");
	assert_string_equal(c->adminaddr, "root@example.jp");
	assert_string_equal(c->helo_name, "mail.example.jp");
	assert_int_equal(c->nlisten, 3);
	assert_string_equal(c->listens[0].addr, "127.0.0.1");
	assert_int_equal(c->listens[0].port, 2525);
	assert_int_equal(c->listens[0].mode, LISTEN_RELAY);
	assert_int_equal(c->listens[0].line, 6);
	assert_string_equal(c->listens[1].addr, "::1");
	assert_int_equal(c->listens[1].port, 2587);
	assert_int_equal(c->listens[1].family, AF_INET6);
	assert_int_equal(c->listens[1].mode, LISTEN_SUBMISSION);
	assert_string_equal(c->listens[2].addr, "*");
	assert_int_equal(c->listens[2].family, AF_UNSPEC);
	assert_int_equal(c->listens[2].mode, LISTEN_SMTPS);
	/* Relative paths are relative to the configuration directory. */
	xasprintf(&p, "%s/spool", c->dir);
	assert_string_equal(c->spool, p);
	free(p);
	xasprintf(&p, "%s/hikyaku.log", c->dir);
	assert_string_equal(c->log, p);
	free(p);
	assert_string_equal(c->tls_key, "/nonexistent/key.pem");
	assert_int_equal(c->max_message_size, 25 * 1024 * 1024);
	assert_int_equal(c->max_recipients, 50);
	assert_int_equal(c->command_timeout, 120);
	assert_int_equal(c->data_timeout, 3600);
	assert_int_equal(c->pausetime, 30);
	assert_int_equal(c->maxpause, 7200);
	assert_int_equal(c->queue_lifetime, 3 * 86400);
	assert_int_equal(c->sendtimeout, 600);
	assert_string_equal(c->rate_limit, "30/1m");
	assert_string_equal(c->remote_rate, "off");
	assert_int_equal(c->vrfy, 1);
	assert_int_equal(c->expn, 0);
	assert_int_equal(c->peer_lookup, 1);
	assert_int_equal(c->smtpd_plaintext_auth, 0);
	assert_int_equal(c->smtp_tls, SMTP_TLS_VERIFY);
	assert_string_equal(c->resolver, "127.0.0.1:5353");
	/* The example remotes, all five lines. */
	assert_int_equal(c->nremotes, 5);
	assert_string_equal(c->remotes[4].host, "ore.server.jp");
	/* The example local-host-names. */
	assert_int_equal(c->nlocal_domains, 3);
	assert_true(config_is_local_domain(c, "example.jp"));
	assert_true(config_is_local_domain(c, "MAIL.example.jp."));
	assert_true(config_is_local_domain(c, "example2009.jp"));
	assert_false(config_is_local_domain(c, "example2010.jp"));
	assert_false(config_is_local_domain(c, "jp"));
	assert_false(config_is_local_domain(c, ""));
	/* Warnings only: the placeholder CA file and the missing key. */
	assert_true(has_diag(&d, DIAG_WARNING, "<ca.crt>"));
	assert_true(has_diag(&d, DIAG_WARNING, "tls_key"));
	config_free(c);
	diags_free(&d);
	free(dir);
}

/* `config check` output for bad/, compared with bad/expected. */
static void
test_bad(void **state)
{
	char *dir = data_dir("bad"), *path, *want, *line, *save = NULL;
	struct diags d = { 0 };
	struct config *c;
	size_t i = 0;

	assert_int_equal(config_load(dir, &c, &d), -1);
	assert_null(c);
	xasprintf(&path, "%s/expected", dir);
	assert_non_null(want = read_file(path, NULL));
	for (line = strtok_r(want, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), i++) {
		char *got;

		assert_true(i < d.n);
		/* Names are absolute: compare from the directory's name on. */
		got = diag_format(&d.v[i]);
		assert_non_null(strstr(got, "config/bad/"));
		assert_string_equal(strstr(got, "config/bad/") + 11, line);
		free(got);
	}
	assert_int_equal(i, d.n);
	free(want);
	free(path);
	diags_free(&d);
	free(dir);
}

static void
test_syntax(void **state)
{
	char *dir = sandbox("hikyaku.conf",
	    "  # indented comment\n"
	    "\n"
	    "me=host.example\t# trailing comment\n"
	    "adminaddr = ops#1@example.org\n"
	    "max_hops = 40\n"
	    "max_hops = 50\n"
	    "listen = 192.0.2.1:25\n"
	    "listen = 192.0.2.1:25 submission\n",
	    "local-host-names", "Example.COM. other.example\n",
	    NULL);
	struct diags d = { 0 };
	struct config *c;

	assert_int_equal(config_load(dir, &c, &d), -1);
	/* The duplicate listen is the only error. */
	assert_int_equal(diags_count(&d, DIAG_ERROR), 1);
	assert_true(has_diag(&d, DIAG_ERROR, "already on line 7"));
	assert_true(has_diag(&d, DIAG_WARNING, "max_hops was already set "
	    "on line 5"));
	assert_true(has_diag(&d, DIAG_WARNING, "several domains"));
	diags_free(&d);
	sandbox_rm(dir);

	dir = sandbox("hikyaku.conf",
	    "me=host.example\t# trailing comment\n"
	    "adminaddr = ops#1@example.org\n",
	    "local-host-names", "Example.COM.\n", NULL);
	assert_int_equal(config_load(dir, &c, &d), 0);
	assert_string_equal(c->me, "host.example");
	/* '#' inside a value is kept. */
	assert_string_equal(c->adminaddr, "ops#1@example.org");
	assert_string_equal(c->local_domains[0], "example.com");
	assert_true(config_is_local_domain(c, "EXAMPLE.com"));
	config_free(c);
	diags_free(&d);
	sandbox_rm(dir);
}

static void
test_listen(void **state)
{
	static const struct {
		const char *in, *addr;
		int port, family;
		enum listen_mode mode;
	} ok[] = {
		{ "127.0.0.1:25", "127.0.0.1", 25, AF_INET, LISTEN_RELAY },
		{ "[::1]:587 submission", "::1", 587, AF_INET6,
		    LISTEN_SUBMISSION },
		{ "[2001:db8::1]:465\tsmtps", "2001:db8::1", 465, AF_INET6,
		    LISTEN_SMTPS },
		{ "*:2525 relay", "*", 2525, AF_UNSPEC, LISTEN_RELAY },
		{ "0.0.0.0:25", "0.0.0.0", 25, AF_INET, LISTEN_RELAY },
	};
	static const char *const bad[] = {
		"localhost:25", "::1:25", "[::1]25", "[::1:25", "127.0.0.1",
		"127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:25x",
		"127.0.0.1:25 relay extra", "*:25 lmtp", "[1.2.3.4]:25",
	};
	struct listen_cfg l;
	const char *err;

	for (size_t i = 0; i < nitems(ok); i++) {
		assert_int_equal(config_parse_listen(ok[i].in, &l, &err), 0);
		assert_string_equal(l.addr, ok[i].addr);
		assert_int_equal(l.port, ok[i].port);
		assert_int_equal(l.family, ok[i].family);
		assert_int_equal(l.mode, ok[i].mode);
		free(l.addr);
	}
	for (size_t i = 0; i < nitems(bad); i++) {
		err = NULL;
		assert_int_equal(config_parse_listen(bad[i], &l, &err), -1);
		assert_non_null(err);
	}
	assert_string_equal(config_listen_mode_name(LISTEN_SMTPS), "smtps");
}

static void
test_values(void **state)
{
	static const struct {
		const char *line;
		int ok;
	} cases[] = {
		{ "vrfy = yes", 1 }, { "vrfy = On", 1 }, { "vrfy = TRUE", 1 },
		{ "vrfy = 1", 1 }, { "vrfy = no", 1 }, { "vrfy = off", 1 },
		{ "vrfy = false", 1 }, { "vrfy = 0", 1 }, { "vrfy = y", 0 },
		{ "pausetime = 90", 1 }, { "pausetime = 2m", 1 },
		{ "pausetime = 1h", 1 }, { "pausetime = 1d", 1 },
		{ "pausetime = 0", 0 }, { "pausetime = -5", 0 },
		{ "max_message_size = 512K", 1 },
		{ "max_message_size = 1G", 1 },
		{ "max_message_size = 100", 0 },
		{ "max_recipients = 1x", 0 }, { "max_recipients = ", 0 },
		{ "smtp_tls = NONE", 1 }, { "smtp_tls = may", 1 },
		{ "dsn_rate = 10/1h", 1 }, { "dsn_rate = 0", 1 },
		{ "dsn_rate = 10/", 0 }, { "dsn_rate = /1h", 0 },
		{ "resolver = 127.0.0.1", 1 }, { "resolver = [::1]:53", 1 },
		{ "resolver = ::1", 1 }, { "resolver = *:53", 0 },
		{ "tls_cert =", 1 },
		{ "= 5", 0 },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		char *conf, *dir;
		struct diags d = { 0 };
		struct config *c;
		int rc;

		xasprintf(&conf, "%s\n", cases[i].line);
		dir = sandbox("hikyaku.conf", conf, NULL);
		rc = config_load(dir, &c, &d);
		if ((rc == 0) != cases[i].ok) {
			fprintf(stderr, "case \"%s\"\n", cases[i].line);
			diags_print(&d, stderr);
		}
		assert_int_equal(rc == 0, cases[i].ok);
		config_free(c);
		diags_free(&d);
		sandbox_rm(dir);
		free(conf);
	}
}

static void
test_rate(void **state)
{
	int n;
	int64_t per;
	const char *err;

	assert_int_equal(config_parse_rate("30/1m", &n, &per, &err), 0);
	assert_int_equal(n, 30);
	assert_int_equal(per, 60);
	assert_int_equal(config_parse_rate("off", &n, &per, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(config_parse_rate("", &n, &per, &err), 0);
	assert_int_equal(config_parse_rate("5/0", &n, &per, &err), -1);
	assert_int_equal(config_parse_rate("5", &n, &per, &err), -1);
}

static void
test_default_dir(void **state)
{
	setenv("HIKYAKU_CONFIG_DIR", "/tmp/elsewhere", 1);
	assert_string_equal(config_default_dir(), "/tmp/elsewhere");
	unsetenv("HIKYAKU_CONFIG_DIR");
	assert_true(config_default_dir()[0] == '/');
}

static void
test_diags_format(void **state)
{
	struct diags d = { 0 };
	char buf[512];
	FILE *fp;

	diags_add(&d, "f", 3, 7, DIAG_ERROR, "bad %s", "thing");
	diags_add(&d, "f", 0, 0, DIAG_WARNING, "whole file");
	diags_add(&d, "f", 2, 0, DIAG_WARNING, "whole line");
	assert_true(diags_has_errors(&d));
	assert_int_equal(diags_count(&d, DIAG_WARNING), 2);
	assert_non_null(fp = fmemopen(buf, sizeof(buf), "w"));
	diags_print(&d, fp);
	fclose(fp);
	assert_string_equal(buf, "f:3:7: error: bad thing\n"
	    "f: warning: whole file\n"
	    "f:2: warning: whole line\n");
	diags_free(&d);
	assert_false(diags_has_errors(&d));
}

/* The name of a user's primary group, for the expected fix text. */
static char *
primary_group(const char *user)
{
	struct passwd *pw = getpwnam(user);
	struct group *gr;

	if (pw == NULL || (gr = getgrgid(pw->pw_gid)) == NULL)
		return NULL;
	return xstrdup(gr->gr_name);
}

static void
test_secret(void **state)
{
	char *dir = sandbox("secret", "pw\n", NULL), *path, *fix, *grp;
	struct diags d = { 0 };

	xasprintf(&path, "%s/secret", dir);

	/* Ours, 0600: fine for us. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(privsep_check_secret(path, NULL, &d, "secret"), 0);
	assert_int_equal(d.n, 0);

	/* World-readable: take read from others, nothing else. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(privsep_check_secret(path, NULL, &d, "secret"), -1);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].file, path);
	assert_int_equal(d.v[0].severity, DIAG_WARNING);
	assert_non_null(strstr(d.v[0].msg, "readable by everyone"));
	xasprintf(&fix, "fix: chmod 0640 %s", path);
	assert_non_null(strstr(d.v[0].msg, fix));
	free(fix);
	diags_free(&d);

	/* nobody cannot read our 0600 file: give it nobody's group. */
	if ((grp = primary_group("nobody")) == NULL ||
	    getpwuid(getuid()) == NULL ||
	    strcmp(getpwuid(getuid())->pw_name, "nobody") == 0) {
		free(grp);
		free(path);
		sandbox_rm(dir);
		skip();
	}
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(privsep_check_secret(path, "nobody", &d, "secret"),
	    -1);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "not readable by user nobody"));
	xasprintf(&fix, "fix: chgrp %s %s && chmod 0640 %s", grp, path, path);
	assert_non_null(strstr(d.v[0].msg, fix));
	free(fix);
	diags_free(&d);

	/* 0604: nobody reads it only as "others"; same fix, both said. */
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(privsep_check_secret(path, "nobody", &d, "secret"),
	    -1);
	assert_int_equal(d.n, 1);
	xasprintf(&fix, "fix: chgrp %s %s && chmod 0640 %s", grp, path, path);
	assert_non_null(strstr(d.v[0].msg, fix));
	free(fix);
	diags_free(&d);

	/* A user that does not exist: say how to create it. */
	assert_int_equal(privsep_check_secret(path, "no-such-user-hk", &d,
	    "secret"), -1);
	assert_non_null(strstr(d.v[0].msg, "useradd"));
	diags_free(&d);

	unlink(path);
	assert_int_equal(privsep_check_secret(path, NULL, &d, "secret"), -1);
	assert_non_null(strstr(d.v[0].msg, "No such file"));
	diags_free(&d);
	free(grp);
	free(path);
	sandbox_rm(dir);
}

/* config_load judges a remotes file holding --pass. */
static void
test_remotes_secret(void **state)
{
	char *dir = sandbox("hikyaku.conf", "user = nobody\n",
	    "remotes", "relay.example smtp --user=u --pass=p\n", NULL);
	char *path;
	struct diags d = { 0 };
	struct config *c;

	xasprintf(&path, "%s/remotes", dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(dir, &c, &d), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].file, path);
	assert_non_null(strstr(d.v[0].msg, "remotes (it holds --pass)"));
	assert_non_null(strstr(d.v[0].msg, "chmod 0640"));
	config_free(c);
	diags_free(&d);

	/* Without a password nothing is secret. */
	assert_int_equal(chmod(path, 0644), 0);
	free(path);
	sandbox_rm(dir);
	dir = sandbox("remotes", "relay.example smtp --starttls\n", NULL);
	assert_int_equal(config_load(dir, &c, &d), 0);
	assert_int_equal(d.n, 0);
	config_free(c);
	sandbox_rm(dir);

	/* A relative --pass-file is next to remotes, and judged too. */
	dir = sandbox("hikyaku.conf", "user = nobody\n", "remotes",
	    "relay.example smtp --user=u --pass-file=secret\n", "secret",
	    "pw\n", NULL);
	xasprintf(&path, "%s/secret", dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(dir, &c, &d), 0);
	assert_string_equal(c->remotes[0].pass_file, path);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].file, path);
	assert_non_null(strstr(d.v[0].msg, "--pass-file is readable by "
	    "everyone"));
	config_free(c);
	diags_free(&d);
	free(path);
	sandbox_rm(dir);
}

static void
test_privsep_drop(void **state)
{
	char *err = NULL;
	uid_t uid;
	gid_t gid;

	assert_int_equal(privsep_lookup_user("no-such-user-hk", &uid, &gid,
	    &err), -1);
	assert_non_null(strstr(err, "useradd"));
	free(err);
	err = NULL;
	assert_int_equal(privsep_lookup_user("root", &uid, &gid, &err), 0);
	assert_int_equal(uid, 0);
	if (geteuid() == 0) {
		pid_t pid;
		int status;

		assert_int_equal(privsep_drop("root", &err), -1);
		assert_non_null(strstr(err, "refusing to run as root"));
		free(err);
		err = NULL;
		assert_int_equal(privsep_drop(NULL, &err), -1);
		free(err);
		err = NULL;
		/* Drop for real in a child: root must be gone for good. */
		assert_true((pid = fork()) != -1);
		if (pid == 0)
			_exit(privsep_drop("nobody", &err) == 0 &&
			    geteuid() != 0 && getuid() != 0 &&
			    setuid(0) == -1 ? 0 : 1);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	} else
		assert_int_equal(privsep_drop(NULL, &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test(test_diags_format),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_remotes_secret),
		cmocka_unit_test(test_privsep_drop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
