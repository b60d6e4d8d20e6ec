/*
 * Unit tests for tls, sasl, dns and smtp_client: real sockets on loopback,
 * the real event loop, a real upstream (tests/integration/upstream.py on
 * Debian's python3-aiosmtpd) and certificates from certtool
 * (tests/integration/mkcerts.sh). DNS lookups go to a dnsmasq started here.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "dns.h"
#include "event.h"
#include "log.h"
#include "remotes.h"
#include "sasl.h"
#include "smtp_client.h"
#include "tls.h"
#include "util.h"

#define PYTHON		"/usr/bin/python3"
#define WAIT_MS		20000

static char tmpdir[] = "/tmp/hk-client-XXXXXX";
static char certs[512];
static char logpath[512];
static const char *srcdir;
static int have_upstream;

/* ---- helpers: processes, ports, files ---- */

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Children still running: teardown kills them when a test failed early. */
static pid_t children[16];

static pid_t
spawn(char *const argv[], const char *out)
{
	pid_t pid = fork();
	int fd;

	assert_true(pid != -1);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	for (size_t i = 0; i < nitems(children); i++)
		if (children[i] == 0) {
			children[i] = pid;
			break;
		}
	return pid;
}

static void
stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	for (size_t i = 0; i < nitems(children); i++)
		if (children[i] == pid)
			children[i] = 0;
}

static int
file_contains(const char *path, const char *needle)
{
	char *data = read_file(path, NULL);
	int found = data != NULL && strstr(data, needle) != NULL;

	free(data);
	return found;
}

/* Bounded wait for a line in a log (never a bare sleep). */
static int
wait_for(const char *path, const char *needle, pid_t pid)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (file_contains(path, needle))
			return 1;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return 0;
		usleep(50000);
	}
	return 0;
}

static size_t
count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, sl = strlen(suffix);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The text of every *.SUFFIX file in dir, concatenated. */
static char *
cat_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct buf b;
	size_t sl = strlen(suffix);

	buf_init(&b);
	if (d == NULL)
		return buf_take(&b);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char *path, *data;

		if (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0)
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		if ((data = read_file(path, NULL)) != NULL)
			buf_addstr(&b, data);
		free(data);
		free(path);
	}
	closedir(d);
	return buf_take(&b);
}

/* ---- the upstream ---- */

struct upstream {
	pid_t	 pid;
	int	 port;
	char	 log[600];
	char	 maildir[600];
};

static int upstream_seq;

/* Start upstream.py with extra arguments (NULL-terminated). */
static void
upstream_start(struct upstream *u, ...)
{
	char *argv[40], script[600], port[16];
	const char *a;
	va_list ap;
	int n = 0;

	if (!have_upstream)
		skip();
	upstream_seq++;
	u->port = free_port();
	snprintf(port, sizeof(port), "%d", u->port);
	snprintf(script, sizeof(script), "%s/tests/integration/upstream.py",
	    srcdir);
	snprintf(u->log, sizeof(u->log), "%s/up%d.log", tmpdir, upstream_seq);
	snprintf(u->maildir, sizeof(u->maildir), "%s/mail%d", tmpdir,
	    upstream_seq);
	argv[n++] = PYTHON;
	argv[n++] = script;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--log";
	argv[n++] = u->log;
	argv[n++] = "--maildir";
	argv[n++] = u->maildir;
	va_start(ap, u);
	while ((a = va_arg(ap, const char *)) != NULL && n < 38)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	u->pid = spawn(argv, u->log);
	assert_true(wait_for(u->log, "ready port=", u->pid));
}

static void
upstream_stop(struct upstream *u)
{
	stop(u->pid);
	u->pid = 0;
}

static char *
cert(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", certs, name);
	return p;
}

/* ---- driving one session ---- */

struct run {
	struct smtp_client_session *s;
	struct smtp_client_msg	 msgs[3];
	size_t			 nmsgs, sent, done;
	int			 failed, closed, ready;
	char			*error;
	int			 error_temp;
	int64_t			 timeout;	/* seconds; 0: 10 */
	char			*tls;
	struct ev_timer		*guard;
};

static void
run_cb(struct smtp_client_session *s, enum smtp_client_event ev,
    struct smtp_client_msg *msg, void *arg)
{
	struct run *r = arg;

	switch (ev) {
	case SMTP_CLIENT_READY:
		r->ready++;
		if (smtp_client_tls(s) != NULL && r->tls == NULL)
			r->tls = xstrdup(smtp_client_tls(s));
		/* FALLTHROUGH */
	case SMTP_CLIENT_MSG_DONE:
		if (ev == SMTP_CLIENT_MSG_DONE)
			r->done++;
		if (r->sent < r->nmsgs) {
			assert_int_equal(smtp_client_send(s,
			    &r->msgs[r->sent]), 0);
			r->sent++;
		} else
			smtp_client_quit(s);
		break;
	case SMTP_CLIENT_FAILED:
		r->failed = 1;
		r->error = xstrdup(smtp_client_error(s));
		r->error_temp = smtp_client_error_temporary(s);
		ev_break();
		break;
	case SMTP_CLIENT_CLOSED:
		r->closed = 1;
		ev_break();
		break;
	}
}

static void
guard_cb(void *arg)
{
	fail_msg("session did not finish in time");
}

static int
msg_file(const char *text)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/msgXXXXXX", tmpdir);
	fd = mkstemp(path);
	assert_true(fd != -1);
	unlink(path);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	return fd;
}

static const char body[] =
    "From: a@example.org\r\n"
    "To: b@example.net\r\n"
    "Subject: test\r\n"
    "\r\n"
    "hello\r\n"
    ".leading dot\r\n"
    "..two dots\r\n"
    "last line\r\n";

static void
msg_init(struct smtp_client_msg *m, const char *const *rcpts, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->qid = "TESTQID";
	m->sender = "a@example.org";
	m->rcpts = rcpts;
	m->nrcpt = n;
	m->msg_fd = msg_file(body);
	m->size = (int64_t)strlen(body);
}

static void
remote_init(struct remote *r, const char *host, int port)
{
	memset(r, 0, sizeof(*r));
	r->file = "remotes";
	r->line = 3;
	r->host = (char *)host;
	r->port = port;
}

static void
run_session(struct run *run, const struct remote *r, size_t nmsgs)
{
	struct smtp_client_target t;

	memset(&t, 0, sizeof(t));
	t.remote = r;
	t.helo_name = "client.test";
	t.timeout = run->timeout ? run->timeout : 10;
	run->nmsgs = nmsgs;
	run->guard = ev_timer_new(guard_cb, NULL);
	ev_timer_after(run->guard, WAIT_MS);
	run->s = smtp_client_new(&t, run_cb, run);
	ev_run();
	ev_timer_free(run->guard);
	smtp_client_free(run->s);
}

static void
run_clear(struct run *run)
{
	size_t i;

	for (i = 0; i < nitems(run->msgs); i++) {
		if (run->msgs[i].msg_fd > 0)
			close(run->msgs[i].msg_fd);
		smtp_client_msg_clear(&run->msgs[i]);
	}
	free(run->error);
	free(run->tls);
}

static const char *const rcpt1[] = { "b@example.net" };

/* Deliver one message to r; assert it was accepted. */
static void
deliver_ok(struct upstream *u, const struct remote *r, const char *mech)
{
	struct run run;
	char *eml, *json, want[64];

	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpt1, 1);
	run_session(&run, r, 1);
	if (run.failed)
		fail_msg("delivery failed: %s", run.error);
	assert_true(run.closed);
	assert_int_equal(run.done, 1);
	assert_int_equal(run.msgs[0].results[0].code, 250);
	assert_string_equal(run.msgs[0].results[0].enhanced, "2.0.0");
	assert_false(run.msgs[0].results[0].temporary);
	assert_non_null(strstr(run.msgs[0].relay, "[127.0.0.1]:"));
	assert_int_equal(count_files(u->maildir, ".eml"), 1);
	/* Dot-stuffing undone by the server: the body arrives unchanged. */
	eml = cat_files(u->maildir, ".eml");
	assert_non_null(strstr(eml, "\r\n.leading dot\r\n..two dots\r\n"
	    "last line\r\n"));
	free(eml);
	json = cat_files(u->maildir, ".json");
	if (mech != NULL) {
		snprintf(want, sizeof(want), "\"auth_mech\": \"%s\"", mech);
		assert_non_null(strstr(json, want));
	}
	free(json);
	run_clear(&run);
}

/* Run one message expecting a connection-level failure; return words. */
static char *
deliver_fail(const struct remote *r)
{
	struct run run;
	char *err;

	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpt1, 1);
	run_session(&run, r, 1);
	assert_true(run.failed);
	assert_true(run.error_temp);
	assert_non_null(run.error);
	err = run.error;
	run.error = NULL;
	run_clear(&run);
	return err;
}

/* ---- tests ---- */

static void
test_plain(void **state)
{
	struct upstream u;
	struct remote r;
	char *err;

	upstream_start(&u, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	deliver_ok(&u, &r, NULL);
	upstream_stop(&u);

	/* --source binds the local end; an address of the other family
	 * cannot reach an IPv4 remote. */
	upstream_start(&u, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.source = "127.0.0.1";
	deliver_ok(&u, &r, NULL);
	r.source = "::1";
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "address family of --source"));
	free(err);
	upstream_stop(&u);
}

static void
test_starttls_cafile(void **state)
{
	struct upstream u;
	struct remote r;
	char *c = cert("server.crt"), *k = cert("server.key");

	upstream_start(&u, "--tls-cert", c, "--tls-key", k, "--require-tls",
	    NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.tls = REMOTE_TLS_STARTTLS;
	r.x509cafile = cert("ca.crt");
	deliver_ok(&u, &r, NULL);
	assert_true(file_contains(u.log, "tls=True"));
	upstream_stop(&u);
	free(r.x509cafile);
	/* DER with --x509fmtder, and a name (localhost: /etc/hosts; ::1
	 * refuses, so happy eyeballs falls through to 127.0.0.1). */
	upstream_start(&u, "--tls-cert", c, "--tls-key", k, "--require-tls",
	    NULL);
	remote_init(&r, "localhost", u.port);
	r.tls = REMOTE_TLS_STARTTLS;
	r.x509cafile = cert("ca.der");
	r.x509fmtder = 1;
	deliver_ok(&u, &r, NULL);
	upstream_stop(&u);
	free(r.x509cafile);
	free(c);
	free(k);
}

static void
test_ssl(void **state)
{
	struct upstream u;
	struct remote r;
	char *c = cert("server.crt"), *k = cert("server.key");

	upstream_start(&u, "--tls-cert", c, "--tls-key", k, "--ssl", NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.tls = REMOTE_TLS_SSL;
	r.x509cafile = cert("ca.crt");
	deliver_ok(&u, &r, NULL);
	upstream_stop(&u);
	free(r.x509cafile);
	free(c);
	free(k);
}

static void
auth_case(const char *mechs, int auth_login, const char *want)
{
	struct upstream u;
	struct remote r;
	char *c = cert("server.crt"), *k = cert("server.key");

	upstream_start(&u, "--tls-cert", c, "--tls-key", k, "--auth",
	    "joe:s3cr#t", "--mechs", mechs, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	/* No TLS option: credentials make the client use STARTTLS. */
	r.user = "joe";
	r.pass = "s3cr#t";
	r.auth_login = auth_login;
	r.x509cafile = cert("ca.crt");
	deliver_ok(&u, &r, want);
	upstream_stop(&u);
	free(r.x509cafile);
	free(c);
	free(k);
}

static void
test_auth_plain(void **state)
{
	auth_case("PLAIN", 0, "PLAIN");
}

static void
test_auth_login_forced(void **state)
{
	auth_case("PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-256", 1, "LOGIN");
}

static void
test_auth_scram(void **state)
{
	auth_case("PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-256", 0, "SCRAM-SHA-256");
}

static void
test_auth_cram(void **state)
{
	auth_case("PLAIN,LOGIN,CRAM-MD5", 0, "CRAM-MD5");
}

static void
test_auth_pass_file(void **state)
{
	struct upstream u;
	struct remote r;
	char *c = cert("server.crt"), *k = cert("server.key"), *pf;
	upstream_start(&u, "--tls-cert", c, "--tls-key", k, "--auth",
	    "joe:s3cr#t", "--mechs", "PLAIN", NULL);
	xasprintf(&pf, "%s/pass", tmpdir);
	write_file_atomic(pf, "s3cr#t\n", 7, 0600);
	remote_init(&r, "127.0.0.1", u.port);
	r.user = "joe";
	r.pass_file = pf;
	r.tls = REMOTE_TLS_STARTTLS;
	r.x509cafile = cert("ca.crt");
	deliver_ok(&u, &r, "PLAIN");
	upstream_stop(&u);
	free(pf);
	free(r.x509cafile);
	free(c);
	free(k);
}

static void
test_no_plaintext_credentials(void **state)
{
	struct upstream u;
	struct remote r;
	char *err;

	/* The server offers AUTH without TLS: never send the password. */
	upstream_start(&u, "--auth", "joe:pw", "--allow-plain-auth", NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.user = "joe";
	r.pass = "pw";
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "--starttls"));
	free(err);
	assert_false(file_contains(u.log, "auth PLAIN"));
	/* ... unless the remotes line says so. */
	r.allow_plaintext_auth = 1;
	deliver_ok(&u, &r, NULL);
	/* --starttls to a server without it: the check's verdict and fix. */
	r.tls = REMOTE_TLS_STARTTLS;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "no STARTTLS: the server on port"));
	assert_non_null(strstr(err, "; fix: ask the server's admin to enable "
	    "STARTTLS; or, if it has an implicit-TLS port, use --ssl "
	    "--port=465 on remotes line 3"));
	free(err);
	upstream_stop(&u);
}

/* smtp_tls = may for hops outside remotes; none never tries. */
static void
test_opportunistic_tls(void **state)
{
	struct upstream u;
	struct remote r;
	char *c = cert("server.crt"), *k = cert("server.key");
	char *err;

	/* Not offered: plaintext. */
	upstream_start(&u, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.tls = REMOTE_TLS_MAY;
	deliver_ok(&u, &r, NULL);
	assert_true(file_contains(u.log, "tls=False"));
	upstream_stop(&u);

	/* Offered: used although the CA is not trusted (the system bundle
	 * does not hold the test CA), and the client log says what
	 * verification found. */
	upstream_start(&u, "--tls-cert", c, "--tls-key", k, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.tls = REMOTE_TLS_MAY;
	deliver_ok(&u, &r, NULL);
	assert_true(file_contains(u.log, "tls=True"));
	assert_false(file_contains(u.log, "tls=False"));
	assert_true(file_contains(logpath, "opportunistic TLS (smtp_tls = "
	    "may), certificate not verified: "));
	assert_true(file_contains(logpath, "unknown CA"));

	upstream_stop(&u);

	/* none never tries, even when offered. */
	upstream_start(&u, "--tls-cert", c, "--tls-key", k, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	deliver_ok(&u, &r, NULL);
	assert_true(file_contains(u.log, "tls=False"));
	upstream_stop(&u);

	/* A hop sent credentials is verified under may: refused for the
	 * unknown CA, and the password never leaves. */
	upstream_start(&u, "--tls-cert", c, "--tls-key", k, "--auth",
	    "joe:pw", NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.tls = REMOTE_TLS_MAY;
	r.user = "joe";
	r.pass = "pw";
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "unknown CA"));
	free(err);
	assert_false(file_contains(u.log, "auth PLAIN"));
	/* ... and goes through once the CA is given. */
	r.x509cafile = cert("ca.crt");
	deliver_ok(&u, &r, NULL);
	assert_true(file_contains(u.log, "tls=True auth="));
	assert_false(file_contains(u.log, "auth=None"));
	free(r.x509cafile);
	upstream_stop(&u);
	free(c);
	free(k);
}

static void
test_tls_failures(void **state)
{
	struct upstream u;
	struct remote r;
	char *c = cert("server.crt"), *k = cert("server.key");
	char *wc = cert("wronghost.crt"), *wk = cert("wronghost.key");
	char *ec = cert("expired.crt"), *ek = cert("expired.key");
	char *sc = cert("selfsigned.crt"), *sk = cert("selfsigned.key");
	char *err;

	upstream_start(&u, "--tls-cert", c, "--tls-key", k, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	r.tls = REMOTE_TLS_STARTTLS;

	/* Wrong CA: temporary, in words. */
	r.x509cafile = cert("other-ca.crt");
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "unknown CA"));
	assert_non_null(strstr(err, "hikyaku test CA"));
	free(err);

	/* --insecure passes (and logs what failed). */
	r.insecure = 1;
	deliver_ok(&u, &r, NULL);
	r.insecure = 0;
	free(r.x509cafile);

	/* A missing CA file is a deferral naming it and the fix, in the
	 * words of `hikyaku tls check`, not a crash. */
	r.x509cafile = cert("no-such-ca.crt");
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "no-such-ca.crt does not exist"));
	assert_non_null(strstr(err, "; fix: correct the path in "
	    "--x509cafile"));
	free(err);
	free(r.x509cafile);

	/* PEM read as DER. */
	r.x509cafile = cert("ca.crt");
	r.x509fmtder = 1;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "is PEM (text with \"-----BEGIN\" "
	    "lines) but --x509fmtder makes it be read as DER"));
	assert_non_null(strstr(err, "; fix: remove --x509fmtder"));
	free(err);
	r.x509fmtder = 0;
	upstream_stop(&u);

	/* Hostname mismatch names both names and the remotes line. */
	upstream_start(&u, "--tls-cert", wc, "--tls-key", wk, NULL);
	r.port = u.port;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "hostname mismatch"));
	assert_non_null(strstr(err, "wrong.example"));
	assert_non_null(strstr(err, "remotes line 3 says 127.0.0.1"));
	free(err);
	upstream_stop(&u);

	/* Revoked by the CRL. */
	upstream_start(&u, "--tls-cert", c, "--tls-key", k, NULL);
	r.port = u.port;
	r.x509crlfile = cert("revoked.crl");
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "revoked"));
	free(err);
	free(r.x509crlfile);
	r.x509crlfile = NULL;
	upstream_stop(&u);

	/* Self-signed. */
	upstream_start(&u, "--tls-cert", sc, "--tls-key", sk, NULL);
	r.port = u.port;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "self-signed certificate"));
	free(err);
	upstream_stop(&u);

	/* Expired. */
	upstream_start(&u, "--tls-cert", ec, "--tls-key", ek, NULL);
	r.port = u.port;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "expired on 2002-01-01"));
	free(err);
	upstream_stop(&u);

	/* --ssl against a plain port. */
	upstream_start(&u, NULL);
	r.port = u.port;
	r.tls = REMOTE_TLS_SSL;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "TLS on the wrong port: --ssl expects "
	    "TLS at once, but port"));
	assert_non_null(strstr(err, "; fix: on remotes line 3, replace --ssl "
	    "with --starttls"));
	free(err);
	upstream_stop(&u);
	free(r.x509cafile);
	free(c);
	free(k);
	free(wc);
	free(wk);
	free(ec);
	free(ek);
	free(sc);
	free(sk);
}

static void
test_rcpt_replies(void **state)
{
	static const char *const rcpts[] = {
		"ok@example.net", "bad@example.net", "later@example.net",
	};
	struct upstream u;
	struct remote r;
	struct run run;
	char *json;

	upstream_start(&u, "--reply-rcpt", "bad@example.net=550 5.1.1 no "
	    "such user", "--reply-rcpt", "later@example.net=451 4.3.0 try "
	    "again", NULL);
	remote_init(&r, "127.0.0.1", u.port);
	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpts, 3);
	run_session(&run, &r, 1);
	assert_false(run.failed);
	assert_int_equal(run.done, 1);
	assert_int_equal(run.msgs[0].results[0].code, 250);
	assert_int_equal(run.msgs[0].results[1].code, 550);
	assert_string_equal(run.msgs[0].results[1].enhanced, "5.1.1");
	assert_false(run.msgs[0].results[1].temporary);
	assert_string_equal(run.msgs[0].results[1].reply,
	    "550 5.1.1 no such user");
	assert_int_equal(run.msgs[0].results[2].code, 451);
	assert_true(run.msgs[0].results[2].temporary);
	json = cat_files(u.maildir, ".json");
	assert_non_null(strstr(json, "ok@example.net"));
	assert_null(strstr(json, "bad@example.net"));
	free(json);
	run_clear(&run);
	upstream_stop(&u);

	/* Every recipient refused: no DATA, results all set. */
	upstream_start(&u, "--reply-rcpt", "*=550 5.7.1 go away", NULL);
	r.port = u.port;
	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpts, 3);
	run_session(&run, &r, 1);
	assert_false(run.failed);
	assert_int_equal(run.msgs[0].results[2].code, 550);
	assert_int_equal(count_files(u.maildir, ".eml"), 0);
	run_clear(&run);
	upstream_stop(&u);

	/* 5xx after DATA applies to every accepted recipient. */
	upstream_start(&u, "--reply-data", "554 5.6.0 content refused", NULL);
	r.port = u.port;
	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpts, 1);
	run_session(&run, &r, 1);
	assert_int_equal(run.msgs[0].results[0].code, 554);
	assert_false(run.msgs[0].results[0].temporary);
	run_clear(&run);
	upstream_stop(&u);
}

static void
test_two_messages_one_connection(void **state)
{
	static const char *const rcpts2[] = { "c@example.net",
	    "d@example.net" };
	struct upstream u;
	struct remote r;
	struct run run;

	upstream_start(&u, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpt1, 1);
	msg_init(&run.msgs[1], rcpts2, 2);
	run_session(&run, &r, 2);
	assert_false(run.failed);
	assert_int_equal(run.done, 2);
	assert_int_equal(run.msgs[1].results[1].code, 250);
	assert_int_equal(count_files(u.maildir, ".eml"), 2);
	assert_true(file_contains(u.log, "connection 1"));
	assert_false(file_contains(u.log, "connection 2"));
	run_clear(&run);
	upstream_stop(&u);
}

static void
test_size_and_smtputf8(void **state)
{
	struct upstream u;
	struct remote r;
	struct run run;

	/* aiosmtpd advertises SIZE 33554432. */
	upstream_start(&u, NULL);
	remote_init(&r, "127.0.0.1", u.port);
	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpt1, 1);
	run.msgs[0].size = 40 * 1024 * 1024;
	msg_init(&run.msgs[1], rcpt1, 1);
	run.msgs[1].smtputf8 = 1;
	run.msgs[1].sender = "j\xc3\xb6rg@example.org";
	run_session(&run, &r, 2);
	assert_int_equal(run.msgs[0].results[0].code, 552);
	assert_string_equal(run.msgs[0].results[0].enhanced, "5.3.4");
	assert_false(run.msgs[0].results[0].temporary);
	/* The server offers SMTPUTF8, so this one goes through. */
	assert_int_equal(run.msgs[1].results[0].code, 250);
	assert_int_equal(count_files(u.maildir, ".eml"), 1);
	run_clear(&run);
	upstream_stop(&u);
}

static void
test_connect_refused(void **state)
{
	struct remote r;
	char *err;

	remote_init(&r, "127.0.0.1", free_port());
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "cannot connect to 127.0.0.1"));
	assert_non_null(strstr(err, "refused"));
	free(err);
}

static void
test_sasl_choice(void **state)
{
	struct sasl_client *sc;
	char *err = NULL, *out = NULL;

	sc = sasl_client_new("LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 "
	    "GSSAPI NTLM", "u", "p", 0, "h", &err);
	assert_non_null(sc);
	assert_string_equal(sasl_client_mech(sc), "SCRAM-SHA-256");
	sasl_client_free(sc);
	sc = sasl_client_new("GSSAPI NTLM PLAIN", "u", "p", 0, "h", &err);
	assert_string_equal(sasl_client_mech(sc), "PLAIN");
	/* PLAIN: initial response "\0u\0p". */
	assert_int_equal(sasl_client_step(sc, NULL, &out, &err),
	    SASL_STEP_DONE);
	assert_string_equal(out, "AHUAcA==");
	free(out);
	sasl_client_free(sc);
	sc = sasl_client_new("GSSAPI NTLM", "u", "p", 0, "h", &err);
	assert_null(sc);
	assert_non_null(strstr(err, "no usable AUTH mechanism"));
	free(err);
	sc = sasl_client_new("PLAIN", "u", "p", 1, "h", &err);
	assert_string_equal(sasl_client_mech(sc), "LOGIN");
	assert_int_equal(sasl_client_step(sc, NULL, &out, &err),
	    SASL_STEP_MORE);
	assert_null(out);
	sasl_client_free(sc);
	assert_true(sasl_mech_allowed("scram-sha-1"));
	assert_false(sasl_mech_allowed("SCRAM-SHA-1-PLUS"));
}

/* ---- a scripted server, for what aiosmtpd cannot be made to do ---- */

/*
 * Play script in a child on a listening socket: "S:text" sends text and
 * CRLF, "C:prefix" reads one line that must start with prefix, "B" reads
 * a message up to the lone dot. The child exits 0 when the client said
 * everything the script expects, 1 at the first difference.
 */
static pid_t
script_start(const char *const *script, int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int lfd, one = 1;
	pid_t pid;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		char line[2048];
		FILE *in;
		int fd = accept(lfd, NULL, NULL);

		alarm(20);
		in = fdopen(dup(fd), "r");
		for (; *script != NULL; script++) {
			const char *st = *script;

			if (st[0] == 'S') {
				dprintf(fd, "%s\r\n", st + 2);
				continue;
			}
			do {
				if (fgets(line, sizeof(line), in) == NULL)
					_exit(1);
				if (st[0] == 'C' && strncmp(line, st + 2,
				    strlen(st + 2)) != 0) {
					fprintf(stderr, "script: want \"%s\", "
					    "got \"%s\"\n", st + 2, line);
					_exit(1);
				}
			} while (st[0] == 'B' && strcmp(line, ".\r\n") != 0);
		}
		/* Let the client close first. */
		while (fgets(line, sizeof(line), in) != NULL)
			;
		_exit(0);
	}
	close(lfd);
	return pid;
}

static int
script_wait(pid_t pid)
{
	int status, i;

	/* The client has closed; give the child a bounded time to see it. */
	for (i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void
test_scripted_old_server(void **state)
{
	/* No EHLO (so no PIPELINING, SIZE or SMTPUTF8): HELO, one command
	 * at a time, RSET after a refused sender. */
	static const char *const script[] = {
		"S:220 old.test SMTP",
		"C:EHLO client.test\r\n",
		"S:502 5.5.1 what?",
		"C:HELO client.test\r\n",
		"S:250 old.test",
		"C:MAIL FROM:<a@example.org>\r\n",
		"S:550 5.7.1 sender refused",
		"C:RSET\r\n",
		"S:250 ok",
		"C:MAIL FROM:<a@example.org>\r\n",
		"S:250 ok",
		"C:RCPT TO:<b@example.net>\r\n",
		"S:250 ok",
		"C:DATA\r\n",
		"S:354 go on",
		"B",
		"S:250 2.0.0 queued",
		"C:QUIT\r\n",
		"S:221 bye",
		NULL,
	};
	struct remote r;
	struct run run;
	pid_t pid;
	int port;

	pid = script_start(script, &port);
	remote_init(&r, "127.0.0.1", port);
	memset(&run, 0, sizeof(run));
	/* SMTPUTF8 mail to a server without SMTPUTF8 bounces (5.6.7). */
	msg_init(&run.msgs[0], rcpt1, 1);
	run.msgs[0].smtputf8 = 1;
	msg_init(&run.msgs[1], rcpt1, 1);
	msg_init(&run.msgs[2], rcpt1, 1);
	run_session(&run, &r, 3);
	assert_false(run.failed);
	assert_int_equal(run.done, 3);
	assert_int_equal(run.msgs[0].results[0].code, 550);
	assert_string_equal(run.msgs[0].results[0].enhanced, "5.6.7");
	assert_false(run.msgs[0].results[0].temporary);
	assert_int_equal(run.msgs[1].results[0].code, 550);
	assert_string_equal(run.msgs[1].results[0].reply,
	    "550 5.7.1 sender refused");
	assert_int_equal(run.msgs[2].results[0].code, 250);
	assert_int_equal(script_wait(pid), 0);
	run_clear(&run);
}

/* smtp_tls = may: a refused STARTTLS leaves the session in plaintext. */
static void
test_scripted_starttls_refused(void **state)
{
	static const char *const script[] = {
		"S:220 busy.test ESMTP",
		"C:EHLO client.test\r\n",
		"S:250-busy.test",
		"S:250 STARTTLS",
		"C:STARTTLS\r\n",
		"S:454 4.7.0 TLS not available now",
		"C:MAIL FROM:<a@example.org>\r\n",
		"S:250 ok",
		"C:RCPT TO:<b@example.net>\r\n",
		"S:250 ok",
		"C:DATA\r\n",
		"S:354 go on",
		"B",
		"S:250 2.0.0 queued",
		"C:QUIT\r\n",
		"S:221 bye",
		NULL,
	};
	struct remote r;
	struct run run;
	pid_t pid;
	int port;

	pid = script_start(script, &port);
	remote_init(&r, "127.0.0.1", port);
	r.tls = REMOTE_TLS_MAY;
	memset(&run, 0, sizeof(run));
	msg_init(&run.msgs[0], rcpt1, 1);
	run_session(&run, &r, 1);
	assert_false(run.failed);
	assert_int_equal(run.msgs[0].results[0].code, 250);
	assert_null(run.tls);
	assert_int_equal(script_wait(pid), 0);
	assert_true(file_contains(logpath, "STARTTLS refused (454), going "
	    "on without TLS"));
	run_clear(&run);
}

static void
test_scripted_pipelining(void **state)
{
	/* The script answers only after MAIL, every RCPT and DATA arrived:
	 * a client that waited for replies would time out. */
	static const char *const script[] = {
		"S:220 mx.test ESMTP",
		"C:EHLO client.test\r\n",
		"S:250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
		    "250 8BITMIME",
		"C:MAIL FROM:<a@example.org> SIZE=",
		"C:RCPT TO:<b@example.net>\r\n",
		"C:RCPT TO:<c@example.net>\r\n",
		"C:DATA\r\n",
		"S:250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go",
		"B",
		"S:250 2.0.0 queued",
		/* Sender refused: the pipelined RCPTs and DATA fail too. */
		"C:MAIL FROM:<a@example.org> SIZE=",
		"C:RCPT TO:<b@example.net>\r\n",
		"C:RCPT TO:<c@example.net>\r\n",
		"C:DATA\r\n",
		"S:451 4.3.0 try later\r\n503 no\r\n503 no\r\n503 no",
		"C:RSET\r\n",
		"S:250 ok",
		/* Every recipient refused, yet DATA says 354: end it empty. */
		"C:MAIL FROM:<a@example.org> SIZE=",
		"C:RCPT TO:<b@example.net>\r\n",
		"C:RCPT TO:<c@example.net>\r\n",
		"C:DATA\r\n",
		"S:250 ok\r\n550 no\r\n550 no\r\n354 go",
		"C:.\r\n",
		"S:554 5.5.0 no valid recipients",
		"C:QUIT\r\n",
		"S:221 bye",
		NULL,
	};
	static const char *const rcpts[] = { "b@example.net",
	    "c@example.net" };
	struct remote r;
	struct run run;
	pid_t pid;
	int port, i;

	pid = script_start(script, &port);
	remote_init(&r, "127.0.0.1", port);
	memset(&run, 0, sizeof(run));
	for (i = 0; i < 3; i++)
		msg_init(&run.msgs[i], rcpts, 2);
	run_session(&run, &r, 3);
	if (run.failed)
		fail_msg("session failed: %s", run.error);
	assert_int_equal(run.done, 3);
	assert_int_equal(run.msgs[0].results[0].code, 250);
	assert_int_equal(run.msgs[0].results[1].code, 550);
	assert_int_equal(run.msgs[1].results[0].code, 451);
	assert_true(run.msgs[1].results[0].temporary);
	assert_int_equal(run.msgs[1].results[1].code, 451);
	assert_int_equal(run.msgs[2].results[0].code, 550);
	assert_int_equal(run.msgs[2].results[1].code, 550);
	assert_int_equal(script_wait(pid), 0);
	run_clear(&run);
}

static void
test_scripted_starttls_injection(void **state)
{
	static const char *const script[] = {
		"S:220 evil.test ESMTP",
		"C:EHLO client.test\r\n",
		"S:250-evil.test\r\n250 STARTTLS",
		"C:STARTTLS\r\n",
		"S:220 go ahead\r\n250 injected",
		NULL,
	};
	struct remote r;
	pid_t pid;
	int port;
	char *err;

	pid = script_start(script, &port);
	remote_init(&r, "127.0.0.1", port);
	r.tls = REMOTE_TLS_STARTTLS;
	r.x509cafile = cert("ca.crt");
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "STARTTLS injection"));
	free(err);
	script_wait(pid);
	free(r.x509cafile);
}

static void
test_scripted_auth_refused(void **state)
{
	/* Plaintext AUTH only because the remote says so; 535 fails the
	 * connection, temporarily, and the password never shows. */
	static const char *const script[] = {
		"S:220 mx.test ESMTP",
		"C:EHLO client.test\r\n",
		"S:250-mx.test\r\n250 AUTH PLAIN LOGIN GSSAPI",
		"C:AUTH PLAIN AGpvZQBzM2NyI3Q=\r\n",
		"S:535 5.7.8 authentication failed",
		NULL,
	};
	struct remote r;
	pid_t pid;
	int port;
	char *err;

	pid = script_start(script, &port);
	remote_init(&r, "127.0.0.1", port);
	r.user = "joe";
	r.pass = "s3cr#t";
	r.allow_plaintext_auth = 1;
	err = deliver_fail(&r);
	assert_non_null(strstr(err, "AUTH PLAIN failed"));
	assert_non_null(strstr(err, "535 5.7.8"));
	assert_null(strstr(err, "s3cr"));
	free(err);
	assert_int_equal(script_wait(pid), 0);
	assert_false(file_contains(getenv("TEST_LOG") ? getenv("TEST_LOG") :
	    logpath, "AGpvZQBzM2NyI3Q"));
	assert_true(file_contains(getenv("TEST_LOG") ? getenv("TEST_LOG") :
	    logpath, "AUTH ****"));
}

/*
 * Deliver with a 1 s deadline to a server that accepts and never greets;
 * the temporary error (allocated), which must come within 5 s.
 */
static char *
silent_server_error(enum remote_tls tls)
{
	static const char *const script[] = { "C:EHLO", NULL };
	struct remote r;
	struct run run;
	uint64_t start = now_monotonic_ms();
	pid_t pid;
	int port;
	char *err;

	pid = script_start(script, &port);
	remote_init(&r, "127.0.0.1", port);
	r.tls = tls;
	memset(&run, 0, sizeof(run));
	run.timeout = 1;
	msg_init(&run.msgs[0], rcpt1, 1);
	run_session(&run, &r, 1);
	assert_true(run.failed);
	assert_true(run.error_temp);
	assert_non_null(run.error);
	assert_true(now_monotonic_ms() - start < 5000);
	err = run.error;
	run.error = NULL;
	run_clear(&run);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return err;
}

static void
test_scripted_deadline(void **state)
{
	char *err;

	/* The banner deadline. */
	err = silent_server_error(REMOTE_TLS_NONE);
	assert_non_null(strstr(err, "timeout in state BANNER"));
	free(err);
	/* The same silence where STARTTLS is expected is the check's "TLS
	 * on the wrong port" (an implicit-TLS port waits for a handshake). */
	err = silent_server_error(REMOTE_TLS_STARTTLS);
	assert_non_null(strstr(err, "TLS on the wrong port: STARTTLS needs an "
	    "SMTP greeting first, but port"));
	assert_non_null(strstr(err, "; fix: on remotes line 3, replace "
	    "--starttls with --ssl"));
	free(err);
}

static void
test_tls_creds_cache(void **state)
{
	struct remote r;
	struct tls_creds *a, *b;
	char *err = NULL;

	if (!have_upstream)
		skip();
	remote_init(&r, "x", 25);
	r.x509cafile = cert("ca.crt");
	a = tls_creds_get(&r, &err);
	assert_non_null(a);
	b = tls_creds_get(&r, &err);
	assert_ptr_equal(a, b);
	tls_creds_put(a);
	tls_creds_put(b);
	/* Unused credentials go away (idle timer or flush). */
	tls_creds_flush();
	free(r.x509cafile);
	r.x509cafile = cert("client.crt");
	r.x509crlfile = cert("no-such.crl");
	assert_null(tls_creds_get(&r, &err));
	assert_non_null(strstr(err, "CRL file"));
	assert_non_null(strstr(err, "no-such.crl does not exist; fix: "));
	free(err);
	free(r.x509cafile);
	free(r.x509crlfile);
}

/* ---- DNS against a dnsmasq on loopback ---- */

struct dns_run {
	int			 done;
	enum dns_status		 status;
	char			 addrs[8][64];
	size_t			 n;
};

static void
dns_run_cb(const struct dns_result *res, void *arg)
{
	struct dns_run *d = arg;
	size_t i;

	d->done = 1;
	d->status = res->status;
	for (i = 0; i < res->naddrs && i < 8; i++) {
		const struct sockaddr_storage *ss = &res->addrs[i];
		char ip[INET6_ADDRSTRLEN];
		int port;

		if (ss->ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)
			    ->sin6_addr, ip, sizeof(ip));
			port = ntohs(((const struct sockaddr_in6 *)ss)
			    ->sin6_port);
		} else {
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)
			    ->sin_addr, ip, sizeof(ip));
			port = ntohs(((const struct sockaddr_in *)ss)
			    ->sin_port);
		}
		snprintf(d->addrs[i], sizeof(d->addrs[i]), "%s/%d", ip, port);
	}
	d->n = res->naddrs;
	ev_break();
}

static void
dns_wait(struct dns_run *d)
{
	struct ev_timer *guard = ev_timer_new(guard_cb, NULL);

	ev_timer_after(guard, WAIT_MS);
	ev_run();
	ev_timer_free(guard);
	assert_true(d->done);
}

static void
test_dns(void **state)
{
	char port[16], resolver[64], logf[600], pidf[600];
	char *argv[] = {
		"/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv",
		"--no-hosts", "--bind-interfaces", "--local=/test/",
		"--listen-address=127.0.0.1", NULL /* port */,
		"--mx-host=example.test,mx1.example.test,20",
		"--mx-host=example.test,mx2.example.test,10",
		"--host-record=mx1.example.test,127.0.0.11",
		"--host-record=mx2.example.test,127.0.0.12,::12",
		"--host-record=plain.test,127.0.0.13",
		"--mx-host=nullmx.test,.,0",
		"--log-queries", "--log-facility=-", NULL /* pid file */,
		"--user=root", NULL,
	};
	struct dns_run d;
	pid_t pid;
	char *err = NULL, *portarg, *pidarg;

	if (access("/usr/sbin/dnsmasq", X_OK) != 0)
		skip();
	snprintf(port, sizeof(port), "%d", free_port());
	xasprintf(&portarg, "--port=%s", port);
	snprintf(pidf, sizeof(pidf), "%s/dnsmasq.pid", tmpdir);
	xasprintf(&pidarg, "--pid-file=%s", pidf);
	argv[7] = portarg;
	argv[16] = pidarg;
	if (geteuid() != 0)
		argv[17] = NULL;
	snprintf(logf, sizeof(logf), "%s/dnsmasq.log", tmpdir);
	pid = spawn(argv, logf);
	assert_true(wait_for(logf, "started", pid));
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%s", port);
	assert_int_equal(dns_init(resolver, &err), 0);

	/* MX sorted by preference, IPv6 first within a host. */
	memset(&d, 0, sizeof(d));
	dns_resolve_mx("example.test", 25, dns_run_cb, &d);
	dns_wait(&d);
	assert_int_equal(d.status, DNS_OK);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.addrs[0], "::12/25");
	assert_string_equal(d.addrs[1], "127.0.0.12/25");
	assert_string_equal(d.addrs[2], "127.0.0.11/25");

	/* No MX: the domain itself. */
	memset(&d, 0, sizeof(d));
	dns_resolve_mx("plain.test", 2525, dns_run_cb, &d);
	dns_wait(&d);
	assert_int_equal(d.status, DNS_OK);
	assert_string_equal(d.addrs[0], "127.0.0.13/2525");

	/* Null MX and unknown names are permanent. */
	memset(&d, 0, sizeof(d));
	dns_resolve_mx("nullmx.test", 25, dns_run_cb, &d);
	dns_wait(&d);
	assert_int_equal(d.status, DNS_NOTFOUND);
	memset(&d, 0, sizeof(d));
	dns_resolve_host("nosuch.test", 25, dns_run_cb, &d);
	dns_wait(&d);
	assert_int_equal(d.status, DNS_NOTFOUND);

	/* Literals are never looked up; a cancelled query stays silent. */
	memset(&d, 0, sizeof(d));
	dns_resolve_host("[::1]", 25, dns_run_cb, &d);
	dns_wait(&d);
	assert_string_equal(d.addrs[0], "::1/25");
	memset(&d, 0, sizeof(d));
	dns_cancel(dns_resolve_host("mx1.example.test", 25, dns_run_cb, &d));
	dns_resolve_host("mx1.example.test", 25, dns_run_cb, &d);
	dns_wait(&d);
	assert_string_equal(d.addrs[0], "127.0.0.11/25");

	/* The log shows no query for the literal. */
	assert_false(file_contains(logf, "query[A] ::1"));
	stop(pid);
	dns_shutdown();
	free(portarg);
	free(pidarg);
}

/* ---- setup ---- */

static int
setup(void **state)
{
	char cmd[1200];

	srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Debug level, so the test can prove no secret is ever logged. */
	snprintf(logpath, sizeof(logpath), "%s/client.log", tmpdir);
	log_init("test_smtp_client", getenv("TEST_LOG") ? getenv("TEST_LOG") :
	    logpath);
	log_set_debug(1);
	ev_init();
	snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
	snprintf(cmd, sizeof(cmd), "%s/tests/integration/mkcerts.sh %s "
	    ">/dev/null 2>&1", srcdir, certs);
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " && " PYTHON
	    " -c 'import aiosmtpd' 2>/dev/null");
	have_upstream = system(cmd) == 0;
	if (!have_upstream)
		fprintf(stderr, "test_smtp_client: no certtool or aiosmtpd, "
		    "upstream tests skipped\n");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[600];

	for (size_t i = 0; i < nitems(children); i++)
		stop(children[i]);
	tls_creds_flush();
	dns_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sasl_choice),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_starttls_cafile),
		cmocka_unit_test(test_ssl),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_login_forced),
		cmocka_unit_test(test_auth_scram),
		cmocka_unit_test(test_auth_cram),
		cmocka_unit_test(test_auth_pass_file),
		cmocka_unit_test(test_no_plaintext_credentials),
		cmocka_unit_test(test_opportunistic_tls),
		cmocka_unit_test(test_tls_failures),
		cmocka_unit_test(test_rcpt_replies),
		cmocka_unit_test(test_two_messages_one_connection),
		cmocka_unit_test(test_size_and_smtputf8),
		cmocka_unit_test(test_scripted_old_server),
		cmocka_unit_test(test_scripted_starttls_refused),
		cmocka_unit_test(test_scripted_pipelining),
		cmocka_unit_test(test_scripted_starttls_injection),
		cmocka_unit_test(test_scripted_auth_refused),
		cmocka_unit_test(test_scripted_deadline),
		cmocka_unit_test(test_tls_creds_cache),
		cmocka_unit_test(test_dns),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
