/*
 * cli_tls: `hikyaku tls check` (connect, speak just enough SMTP, handshake
 * and print the verdict of core/tls_diag) and `hikyaku cert show|new`.
 *
 * The check is one short-lived connection from a command line, so it uses
 * a blocking socket with poll() deadlines; the judging is all in tls_diag,
 * which the console and delivery share.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cli.h"
#include "config.h"
#include "remotes.h"
#include "tls.h"
#include "tls_diag.h"
#include "util.h"
#include "help/usage.h"

#define CHECK_TIMEOUT_MS	10000
/* A TLS server never speaks first; an SMTP server greets at once. */
#define SSL_PEEK_MS		700
#define DEFAULT_USER		"hikyaku"

struct check {
	struct remote	 r;
	const char	*servername;	/* name to verify; default r.host */
	const char	*connect_addr;	/* --connect: where to connect */
	const char	*save_chain;
	int		 timeout_ms;
	int		 fd;
	char		*user;		/* the daemon's user, from config */
	char		*confdir;	/* absolute: fixes name files in it */
	char		 banner[1024];
	char		 inbuf[8192];
	size_t		 inlen;
};

/* ---- a blocking line reader with a deadline ------------------------ */

/* Wait until fd is readable; 1 ready, 0 timeout, -1 error. */
static int
wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, ms);
	while (rc == -1 && errno == EINTR);
	return rc;
}

/*
 * Read one line into line (without CRLF). 1: a line, 0: timeout or EOF
 * before a line, -1: error. Bytes after the line stay buffered.
 */
static int
read_line(struct check *c, char *line, size_t size, int ms)
{
	char *nl;
	ssize_t n;
	size_t len;

	for (;;) {
		nl = memchr(c->inbuf, '\n', c->inlen);
		if (nl != NULL || c->inlen == sizeof(c->inbuf)) {
			len = nl ? (size_t)(nl - c->inbuf) + 1 : c->inlen;
			snprintf(line, size, "%.*s", (int)len, c->inbuf);
			memmove(c->inbuf, c->inbuf + len, c->inlen - len);
			c->inlen -= len;
			rtrim(line);
			return 1;
		}
		if (wait_readable(c->fd, ms) <= 0)
			return 0;
		n = read(c->fd, c->inbuf + c->inlen,
		    sizeof(c->inbuf) - c->inlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		c->inlen += (size_t)n;
	}
}

/* An SMTP reply line: three digits, then space, dash or the end. */
static int
is_smtp_line(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '-' ||
	    s[3] == '\0');
}

/* A whole (multi-line) reply; its text joined by spaces in out. */
static int
read_reply(struct check *c, struct buf *out)
{
	char line[1024];

	for (;;) {
		if (read_line(c, line, sizeof(line), c->timeout_ms) != 1 ||
		    !is_smtp_line(line))
			return -1;
		buf_printf(out, "%s%s", out->len ? " " : "", line);
		if (line[3] != '-')
			return atoi(line);
	}
}

static int
send_line(struct check *c, const char *s)
{
	char *l;
	int rc;

	xasprintf(&l, "%s\r\n", s);
	rc = write_all(c->fd, l, strlen(l));
	free(l);
	return rc;
}

/* ---- connecting --------------------------------------------------- */

static int
connect_to(struct check *c, char **err)
{
	struct addrinfo hints, *res, *ai;
	char port[16];
	const char *host = c->connect_addr ? c->connect_addr : c->r.host;
	int rc, fd = -1, soerr;
	socklen_t slen;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	/* --connect takes an address, so tests never touch DNS. */
	hints.ai_flags = c->connect_addr ? AI_NUMERICHOST : 0;
	snprintf(port, sizeof(port), "%d", c->r.port);
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		xasprintf(err, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd p;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			slen = sizeof(soerr);
			if (poll(&p, 1, c->timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &slen) == 0 && soerr == 0)
				break;
			errno = soerr ? soerr : ETIMEDOUT;
		}
		xasprintf(err, "cannot connect to %s port %s: %s", host, port,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		if (*err == NULL)
			xasprintf(err, "cannot connect to %s port %s", host,
			    port);
		return -1;
	}
	free(*err);
	*err = NULL;
	/* Blocking from here: every read waits in poll() with a deadline. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	c->fd = fd;
	return 0;
}

/*
 * The plaintext part: greeting, EHLO, STARTTLS. 0 ready for the
 * handshake, -1 when a finding was added (or *err set) instead.
 */
static int
smtp_prelude(struct check *c, struct tls_verdict *v, char **err)
{
	struct buf reply;
	char line[1024];
	int code;

	if (c->r.tls == REMOTE_TLS_SSL) {
		/* Peek: a plaintext greeting here means the wrong port. */
		if (wait_readable(c->fd, SSL_PEEK_MS) == 1 &&
		    read_line(c, line, sizeof(line), SSL_PEEK_MS) == 1) {
			tls_diag_plaintext_banner(v, &c->r, line);
			return -1;
		}
		return 0;
	}
	switch (read_line(c, c->banner, sizeof(c->banner), c->timeout_ms)) {
	case 1:
		break;
	case 0:
		if (c->inlen == 0) {
			tls_diag_port_is_tls(v, &c->r, NULL);
			return -1;
		}
		/* Bytes without a newline: not SMTP. */
		tls_diag_port_is_tls(v, &c->r, "sent bytes that are not SMTP");
		return -1;
	default:
		xasprintf(err, "reading the greeting: %s", strerror(errno));
		return -1;
	}
	if (!is_smtp_line(c->banner)) {
		tls_diag_port_is_tls(v, &c->r, "sent bytes that are not SMTP "
		    "(a TLS port?)");
		return -1;
	}
	/* Skip the rest of a multi-line greeting. */
	strcpy(line, c->banner);
	while (line[3] == '-')
		if (read_line(c, line, sizeof(line), c->timeout_ms) != 1) {
			xasprintf(err, "the greeting was cut short");
			return -1;
		}
	if (c->banner[0] != '2') {
		xasprintf(err, "the server refused us: %s", c->banner);
		return -1;
	}
	buf_init(&reply);
	if (send_line(c, "EHLO hikyaku.tls-check") == -1 ||
	    (code = read_reply(c, &reply)) != 250) {
		xasprintf(err, "EHLO failed: %s", reply.len ? reply.data :
		    "no reply");
		buf_free(&reply);
		return -1;
	}
	/* Each reply line is "250-KEYWORD ..." or "250 KEYWORD". */
	if (strstr(reply.data, "250-STARTTLS") == NULL &&
	    strstr(reply.data, "250 STARTTLS") == NULL &&
	    strstr(reply.data, "250-starttls") == NULL &&
	    strstr(reply.data, "250 starttls") == NULL) {
		buf_free(&reply);
		tls_diag_no_starttls(v, &c->r);
		return -1;
	}
	buf_reset(&reply);
	if (send_line(c, "STARTTLS") == -1 ||
	    (code = read_reply(c, &reply)) != 220) {
		xasprintf(err, "STARTTLS refused: %s", reply.len ? reply.data :
		    "no reply");
		buf_free(&reply);
		return -1;
	}
	buf_free(&reply);
	if (c->inlen != 0) {
		xasprintf(err, "the server sent data after its STARTTLS reply "
		    "(an injection attack, or a broken server)");
		return -1;
	}
	return 0;
}

static int
is_ip_literal(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/*
 * Credentials as delivery would build them, except that a CA file that
 * cannot load leaves the trust list empty: the chain is still shown.
 */
static int
make_creds(struct check *c, const struct tls_verdict *v,
    gnutls_certificate_credentials_t *cred, char **err)
{
	gnutls_x509_crt_fmt_t fmt = c->r.x509fmtder ? GNUTLS_X509_FMT_DER :
	    GNUTLS_X509_FMT_PEM;
	int rc;

	if ((rc = gnutls_certificate_allocate_credentials(cred)) < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		return -1;
	}
	if (c->r.x509cafile == NULL)
		gnutls_certificate_set_x509_system_trust(*cred);
	else if (!v->ca_failed)
		gnutls_certificate_set_x509_trust_file(*cred, c->r.x509cafile,
		    fmt);
	if (c->r.x509crlfile != NULL)
		gnutls_certificate_set_x509_crl_file(*cred, c->r.x509crlfile,
		    fmt);
	if (tls_creds_client_cert(*cred, &c->r, err) == -1) {
		gnutls_certificate_free_credentials(*cred);
		return -1;
	}
	return 0;
}

static void
save_chain(gnutls_session_t s, const char *path)
{
	const gnutls_datum_t *raw;
	gnutls_datum_t pem;
	unsigned n = 0;
	FILE *fp;

	raw = gnutls_certificate_get_peers(s, &n);
	if ((fp = fopen(path, "we")) == NULL) {
		fprintf(stderr, "hikyaku: cannot write %s: %s\n", path,
		    strerror(errno));
		return;
	}
	for (unsigned i = 0; raw != NULL && i < n; i++)
		if (gnutls_pem_base64_encode2("CERTIFICATE", &raw[i],
		    &pem) == 0) {
			fwrite(pem.data, 1, pem.size, fp);
			gnutls_free(pem.data);
		}
	if (fclose(fp) == 0)
		printf("saved the server's chain (%u certificate%s) to %s\n",
		    n, n == 1 ? "" : "s", path);
}

/*
 * Read on to the first reply under TLS (the greeting after --ssl, the
 * EHLO reply after STARTTLS): a TLS 1.3 server that requires a client
 * certificate completes the handshake and only then hangs up. A reply
 * or a silent server adds nothing.
 */
static void
first_reply_under_tls(struct check *c, gnutls_session_t s,
    struct tls_verdict *v)
{
	static const char ehlo[] = "EHLO hikyaku.tls-check\r\n";
	char buf[512];
	ssize_t n;

	if (c->r.tls != REMOTE_TLS_SSL &&
	    gnutls_record_send(s, ehlo, sizeof(ehlo) - 1) < 0) {
		tls_diag_closed_after_handshake(v, s, &c->r);
		return;
	}
	do {
		if (gnutls_record_check_pending(s) == 0 &&
		    wait_readable(c->fd, c->timeout_ms) != 1)
			return;
		n = gnutls_record_recv(s, buf, sizeof(buf));
	} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n <= 0)
		tls_diag_closed_after_handshake(v, s, &c->r);
}

static int
handshake(struct check *c, struct tls_verdict *v, char **err)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	struct tls_diag_input in;
	const char *name = c->servername ? c->servername : c->r.host;
	int rc;

	if (make_creds(c, v, &cred, err) == -1)
		return -1;
	if ((rc = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		gnutls_certificate_free_credentials(cred);
		return -1;
	}
	if ((rc = gnutls_priority_set_direct(s, TLS_PRIORITIES, NULL)) < 0 ||
	    (rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    cred)) < 0 || (!is_ip_literal(name) &&
	    (rc = gnutls_server_name_set(s, GNUTLS_NAME_DNS, name,
	    strlen(name))) < 0)) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		gnutls_deinit(s);
		gnutls_certificate_free_credentials(cred);
		return -1;
	}
	/* No verification in the handshake: the verdict verifies after it,
	 * so a bad chain is still received and shown. Nothing is sent. */
	gnutls_transport_set_int(s, c->fd);
	gnutls_handshake_set_timeout(s, (unsigned)c->timeout_ms);
	do
		rc = gnutls_handshake(s);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	memset(&in, 0, sizeof(in));
	in.session = s;
	in.handshake_rc = rc;
	in.hostname = name;
	in.remote = &c->r;
	in.banner = c->banner[0] ? c->banner : NULL;
	in.confdir = c->confdir;
	tls_diag_session(v, &in);
	if (rc == 0)
		first_reply_under_tls(c, s, v);
	if (rc == 0 && c->save_chain != NULL)
		save_chain(s, c->save_chain);
	if (rc == 0)
		gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	return 0;
}

/* ---- choosing the remote ------------------------------------------ */

/* Split "host:port", "[v6]:port" or "host" into c->r. */
static int
parse_target(struct check *c, const char *t)
{
	const char *colon;
	char *end;
	long port;

	if (t[0] == '[' && (colon = strchr(t, ']')) != NULL) {
		c->r.host = xstrndup(t + 1, (size_t)(colon - t - 1));
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else if ((colon = strrchr(t, ':')) != NULL &&
	    strchr(t, ':') == colon)
		c->r.host = xstrndup(t, (size_t)(colon - t));
	else {
		c->r.host = xstrdup(t);
		colon = NULL;
	}
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || errno != 0 || port < 1 || port > 65535)
			return -1;
		c->r.port = (int)port;
		c->r.port_explicit = 1;
	}
	return c->r.host[0] != '\0' ? 0 : -1;
}

/*
 * Take a remotes line: by number, or the first whose host matches. The
 * config may not load (a check run from anywhere): then nothing matches
 * by name, and --remote N says why.
 */
static int
pick_remote(struct check *c, const char *confdir, int lineno)
{
	struct config *cfg = NULL;
	struct diags d = { NULL, 0 };
	size_t i;
	int found = 0;

	if (config_load(confdir, &cfg, &d) == -1) {
		if (lineno > 0) {
			diags_print(&d, stderr);
			diags_free(&d);
			return -1;
		}
		diags_free(&d);
		c->user = xstrdup(DEFAULT_USER);
		return 0;
	}
	diags_free(&d);
	c->user = xstrdup(cfg->user ? cfg->user : DEFAULT_USER);
	for (i = 0; i < cfg->nremotes && !found; i++) {
		const struct remote *r = &cfg->remotes[i];

		if (lineno > 0 ? r->line == lineno :
		    ascii_strcasecmp(r->host, c->r.host) == 0 &&
		    (!c->r.port_explicit || c->r.port == r->port)) {
			int port = c->r.port, explicit = c->r.port_explicit;

			free(c->r.host);
			remote_copy(&c->r, r);
			/* HOST:PORT on the command line wins. */
			if (lineno == 0 && explicit) {
				c->r.port = port;
				c->r.port_explicit = 1;
			}
			found = 1;
		}
	}
	config_free(cfg);
	if (lineno > 0 && !found) {
		fprintf(stderr, "hikyaku: no remote on line %d of %s/remotes\n",
		    lineno, confdir);
		return -1;
	}
	return 0;
}

static int
tls_check(int argc, char **argv, const char *confdir)
{
	struct check c;
	struct tls_verdict v;
	struct diags d = { NULL, 0 };
	char **opts = xcalloc((size_t)argc + 1, sizeof(char *));
	char **owned = xcalloc((size_t)argc + 1, sizeof(char *));
	const char *target = NULL;
	char *err = NULL, *text, *val;
	int i, nopts = 0, nowned = 0, lineno = 0, consumed, ret = CLI_EXIT_USAGE;
	long secs;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.timeout_ms = CHECK_TIMEOUT_MS;
	tls_diag_init(&v);
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *mapped;
		int has_val = i + 1 < argc;

		val = NULL;
		if (strcmp(a, "--remote") == 0 && has_val)
			lineno = atoi(argv[++i]);
		else if (strcmp(a, "--servername") == 0 && has_val)
			c.servername = argv[++i];
		else if (strcmp(a, "--connect") == 0 && has_val)
			c.connect_addr = argv[++i];
		else if (strcmp(a, "--save-chain") == 0 && has_val)
			c.save_chain = argv[++i];
		else if (strcmp(a, "--timeout") == 0 && has_val) {
			secs = strtol(argv[++i], NULL, 10);
			if (secs < 1 || secs > 3600)
				goto usage;
			c.timeout_ms = (int)secs * 1000;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_tls_check, stdout);
			ret = CLI_EXIT_OK;
			goto out;
		}
		else if ((mapped = remotes_short_form(a, &val, &consumed, argc, argv,
		    i)) != NULL) {
			opts[nopts++] = (char *)mapped;
			if (val != NULL)
				owned[nowned++] = val;
			i += consumed;
		} else if (a[0] == '-' || strchr(a, '=') != NULL) {
			/* Everything else is a remotes option, verbatim,
			 * with its value when given as the next word. */
			opts[nopts++] = argv[i];
			if (remotes_option_takes_value(a) && has_val)
				opts[nopts++] = argv[++i];
		} else if (target != NULL)
			goto usage;
		else
			target = a;
	}
	if ((target == NULL) == (lineno <= 0))
		goto usage;
	if (target != NULL && parse_target(&c, target) == -1) {
		fprintf(stderr, "hikyaku: bad target \"%s\" (HOST or "
		    "HOST:PORT)\n", target);
		goto usage;
	}
	ret = CLI_EXIT_FAIL;
	if ((c.confdir = realpath(confdir, NULL)) == NULL)
		c.confdir = xstrdup(confdir);
	if (pick_remote(&c, confdir, lineno) == -1)
		goto out;
	if (remotes_parse_args(&c.r, nopts, opts, "command line", &d) == -1) {
		diags_print(&d, stderr);
		ret = CLI_EXIT_USAGE;
		goto out;
	}
	diags_free(&d);
	/* A TLS check with no TLS option: STARTTLS, as delivery would try. */
	if (c.r.tls == REMOTE_TLS_NONE)
		c.r.tls = REMOTE_TLS_STARTTLS;

	printf("checking %s port %d (%s)%s%s\n", c.r.host, c.r.port,
	    c.r.tls == REMOTE_TLS_SSL ? "TLS at once" : "STARTTLS",
	    c.connect_addr ? " at " : "", c.connect_addr ? c.connect_addr : "");
	tls_diag_files(&v, &c.r, c.user);
	if (connect_to(&c, &err) == -1 || smtp_prelude(&c, &v, &err) == -1 ||
	    handshake(&c, &v, &err) == -1) {
		if (err != NULL) {
			fprintf(stderr, "hikyaku: %s\n", err);
			free(err);
		}
	}
	if (v.nchain > 0 || v.nfindings > 0) {
		text = tls_diag_format(&v);
		fputs(text, stdout);
		free(text);
	}
	/* The line delivery would put in the queue's last error. */
	if ((text = tls_diag_summary(&v)) != NULL) {
		printf("summary: %s\n", text);
		free(text);
	}
	ret = tls_diag_ok(&v) && v.nchain > 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	goto out;
usage:
	fputs(usage_tls_check, stderr);
out:
	diags_free(&d);
	if (c.fd != -1)
		close(c.fd);
	tls_diag_free(&v);
	remote_free(&c.r);
	free(c.user);
	free(c.confdir);
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(opts);
	return ret;
}

static int
is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int
cli_tls(int argc, char **argv, const char *confdir)
{
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return tls_check(argc - 2, argv + 2, confdir);
	if (argc >= 2 && is_help(argv[1])) {
		fputs(usage_tls_check, stdout);
		return CLI_EXIT_OK;
	}
	fputs(usage_tls_check, stderr);
	return CLI_EXIT_USAGE;
}

/* ---- cert show / cert new ----------------------------------------- */

static int
cert_show(int argc, char **argv)
{
	struct tls_verdict v;
	const char *file = NULL, *key = NULL;
	char *text;
	int der = 0, i, ret;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--der") == 0)
			der = 1;
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else {
			fputs(usage_cert, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (file == NULL) {
		fputs(usage_cert, stderr);
		return CLI_EXIT_USAGE;
	}
	tls_diag_init(&v);
	ret = tls_diag_check_local(&v, file, key, der) == 0 ? CLI_EXIT_OK :
	    CLI_EXIT_FAIL;
	text = tls_diag_format(&v);
	fputs(text, stdout);
	free(text);
	tls_diag_free(&v);
	return ret;
}

static int
cert_new(int argc, char **argv, const char *confdir)
{
	const char *dir = confdir, *cn = NULL;
	char host[HOST_NAME_MAX + 1], *crt, *key, *err = NULL;
	char *abs_crt, *abs_key;
	long days = 365;
	int i, ret;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--cn") == 0 && i + 1 < argc)
			cn = argv[++i];
		else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
			days = strtol(argv[++i], NULL, 10);
			if (days < 1 || days > 36500) {
				fputs(usage_cert, stderr);
				return CLI_EXIT_USAGE;
			}
		} else {
			fputs(usage_cert, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (cn == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		cn = host;
	}
	xasprintf(&crt, "%s/server.crt", dir);
	xasprintf(&key, "%s/server.key", dir);
	if (tls_diag_cert_new(crt, key, cn, (int)days, &err) == -1) {
		fprintf(stderr, "hikyaku: %s\n", err);
		free(err);
		ret = CLI_EXIT_FAIL;
	} else {
		/* root:hikyaku 0640 (DESIGN §12). */
		if (config_give_to_daemon(key, confdir, &err) == -1) {
			fprintf(stderr, "hikyaku: %s\n", err);
			free(err);
		}
		/* hikyaku.conf takes relative paths from its own directory,
		   not from where this ran: print them absolute. */
		abs_crt = realpath(crt, NULL);
		abs_key = realpath(key, NULL);
		if (abs_crt != NULL && abs_key != NULL) {
			free(crt);
			free(key);
			crt = abs_crt;
			key = abs_key;
		} else {
			free(abs_crt);
			free(abs_key);
		}
		printf("wrote %s (self-signed for %s, %ld days) and %s (mode "
		    "0640)\nput in hikyaku.conf:\n  tls_cert = %s\n"
		    "  tls_key = %s\n", crt, cn, days, key, crt, key);
		ret = CLI_EXIT_OK;
	}
	free(crt);
	free(key);
	return ret;
}

int
cli_cert(int argc, char **argv, const char *confdir)
{
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return cert_show(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "new") == 0)
		return cert_new(argc - 2, argv + 2, confdir);
	if (argc >= 2 && is_help(argv[1])) {
		fputs(usage_cert, stdout);
		return CLI_EXIT_OK;
	}
	fputs(usage_cert, stderr);
	return CLI_EXIT_USAGE;
}
