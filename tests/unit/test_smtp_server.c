/*
 * Tests of smtp_server.c: the built-in relay judgement on addresses, and
 * whole sessions on a real event loop and queue, driven by a forked
 * client that speaks raw SMTP (pipelined, smuggling shapes, limits), and
 * peer_lookup against a DNS server of a few records on the same loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "event.h"
#include "log.h"
#include "queue.h"
#include "smtp_server.h"
#include "util.h"

static char		 tmpdir[64];
static struct config	*cfg;
static int		 port;
/* The client's source address (NULL: any) and the greeting it expects. */
static const char	*client_src;
static const char	*greeting = "220 mx.test.example";

/* A free loopback port: bind to 0 and give it back. */
static int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd, p;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	p = ntohs(sin.sin_port);
	close(fd);
	return (p);
}

static void
write_conf(const char *extra)
{
	char	 path[128], *text;

	snprintf(path, sizeof path, "%s/hikyaku.conf", tmpdir);
	xasprintf(&text, "me = mx.test.example\nadminaddr = admin@example.org\n"
	    "listen = 127.0.0.1:%d relay\nspool = %s/spool\n"
	    "max_message_size = 20K\nmax_recipients = 3\nmax_hops = 5\n"
	    "log = stderr\n%s", port, tmpdir, extra);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
	free(text);
}

static struct config *
load_conf(void)
{
	struct config	*c = NULL;
	struct diags	 d;

	memset(&d, 0, sizeof d);
	assert_int_equal(config_load(tmpdir, &c, &d), 0);
	diags_free(&d);
	return (c);
}

static int
setup(void **state)
{
	char	*err = NULL, spool[96];

	snprintf(tmpdir, sizeof tmpdir, "/tmp/hk-smtpd-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	port = free_port();
	write_conf("");
	cfg = load_conf();
	log_init("test_smtp_server", "stderr");
	ev_init();
	snprintf(spool, sizeof spool, "%s/spool", tmpdir);
	if (queue_open(spool, getuid(), getgid(), &err) == -1)
		fail_msg("queue_open: %s", err);
	if (smtp_server_listen(cfg, &err) == -1)
		fail_msg("listen: %s", err);
	smtp_server_start();
	return (0);
}

static int
teardown(void **state)
{
	char	*cmd;

	smtp_server_shutdown();
	queue_close();
	config_free(cfg);
	xasprintf(&cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
	return (0);
}

static void
stop_loop(void *arg)
{
	ev_break();
}

/* Client side (in the child): read n final reply lines into out. */
static int
read_replies(FILE *f, int n, char out[][128])
{
	char	 line[1024];
	int	 got = 0;

	while (got < n && fgets(line, sizeof line, f) != NULL) {
		if (strlen(line) < 4 || line[3] == '-')
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		line[127] = '\0';
		memcpy(out[got++], line, 128);
	}
	return (got);
}

/*
 * One client conversation: send 'data' in one write after the greeting,
 * expect replies starting with each string of want (NULL-terminated).
 * Runs in a child; the parent runs the loop until it exits.
 */
static void
converse(const char *name, const char *data, size_t len,
    const char *const *want)
{
	pid_t	 pid;
	int	 status;

	fflush(stderr);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct sockaddr_in	 sin;
		char			 got[32][128];
		int			 fd, n = 0, i, bad = 0;
		FILE			*f;

		while (want[n] != NULL)
			n++;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		if (client_src != NULL &&
		    (inet_pton(AF_INET, client_src, &sin.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1))
			_exit(2);
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
			_exit(2);
		f = fdopen(fd, "r");
		if (read_replies(f, 1, got) != 1 ||
		    strncmp(got[0], greeting, strlen(greeting)) != 0) {
			fprintf(stderr, "%s: greeting \"%s\", want \"%s\"\n",
			    name, got[0], greeting);
			_exit(3);
		}
		if (write_all(fd, data, len) == -1)
			_exit(4);
		if (read_replies(f, n, got) != n)
			bad = 1;
		for (i = 0; !bad && i < n; i++)
			if (strncmp(got[i], want[i], strlen(want[i])) != 0) {
				fprintf(stderr, "%s: reply %d: got \"%s\", want "
				    "\"%s\"\n", name, i, got[i], want[i]);
				bad = 1;
			}
		_exit(bad);
	}
	for (;;) {
		/* Short loop turns until the child is done. */
		struct ev_timer *t = ev_timer_new(stop_loop, NULL);

		ev_timer_after(t, 20);
		ev_run();
		ev_timer_free(t);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: client exit status %d", name, status);
}

#define CONVERSE(name, data, ...) do {					\
	static const char *const w[] = { __VA_ARGS__, NULL };		\
	converse(name, data, sizeof(data) - 1, w);			\
} while (0)

#define TX	"EHLO client.test\r\nMAIL FROM:<a@b.example>\r\n" \
		"RCPT TO:<x@remote.example>\r\nDATA\r\n"
#define TXR	"250", "250 2.1.0", "250 2.1.5", "354"

static void
test_pipelined_messages(void **state)
{
	CONVERSE("pipelining", TX "Subject: a\r\n\r\nhi\r\n.\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<y@local.example>\r\nDATA\r\n"
	    "Subject: b\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
	    TXR, "250 2.0.0 Ok: queued as", "250 2.1.0", "250 2.1.5", "354",
	    "250 2.0.0 Ok: queued as", "221 2.0.0");
}

static void
test_smuggling(void **state)
{
	static const char *const seqs[] = {
		"\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r",
	};
	static const char *const want[] = {
		TXR, "550 5.5.2", "250 2.0.0 Ok", NULL
	};
	char	*data;
	size_t	 i;

	for (i = 0; i < nitems(seqs); i++) {
		xasprintf(&data, TX "Subject: s\r\n\r\nhi%sMAIL FROM:<e@x>\r\n"
		    "RCPT TO:<v@remote.example>\r\nDATA\r\nsmuggled\r\n"
		    ".\r\nNOOP\r\n", seqs[i]);
		converse("smuggling", data, strlen(data), want);
		free(data);
	}
}

static void
test_limits(void **state)
{
	char	*big, *p;
	size_t	 i;

	CONVERSE("long command", "NOOP "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\r\nNOOP\r\n", "500 5.5.2", "250 2.0.0");
	CONVERSE("NUL in data", TX "Subject: n\r\n\r\na\0b\r\n.\r\nNOOP\r\n",
	    TXR, "550 5.5.2", "250");
	CONVERSE("too many recipients", "EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
	    "RCPT TO:<a@r.example>\r\nRCPT TO:<b@r.example>\r\n"
	    "RCPT TO:<c@r.example>\r\nRCPT TO:<d@r.example>\r\n",
	    "250", "250", "250", "250", "250", "452 4.5.3");
	CONVERSE("SIZE declared", "EHLO c\r\nMAIL FROM:<a@b.example> "
	    "SIZE=30000\r\n", "250", "552 5.3.4");
	CONVERSE("loop", TX "Received: 1\r\nReceived: 2\r\nReceived: 3\r\n"
	    "Received: 4\r\nReceived: 5\r\n\r\nbody\r\n.\r\n", TXR,
	    "554 5.4.6");
	CONVERSE("sequence", "MAIL FROM:<a@b.example>\r\nHELO c\r\n"
	    "RCPT TO:<a@r.example>\r\nDATA\r\nFOO\r\nSTARTTLS\r\n",
	    "503 5.5.1", "250", "503 5.5.1", "503 5.5.1", "500 5.5.1",
	    "502 5.5.1");
	CONVERSE("relay tricks", "EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
	    "RCPT TO:<v%remote.example@local.example>\r\n"
	    "RCPT TO:<@local.example:v@remote.example>\r\n",
	    "250", "250", "554 5.7.1", "554 5.7.1");

	/* Over max_message_size: read to the end, then one 552. */
	big = xmalloc(30 * 902 + 512);
	p = big + sprintf(big, TX "Subject: big\r\n\r\n");
	for (i = 0; i < 30; i++) {
		memset(p, 'z', 900);
		p += 900;
		*p++ = '\r';
		*p++ = '\n';
	}
	p += sprintf(p, ".\r\nNOOP\r\n");
	{
		static const char *const w[] = {
			TXR, "552 5.3.4", "250 2.0.0", NULL };

		converse("too big", big, (size_t)(p - big), w);
	}
	free(big);
}

/*
 * A DNS server of a few records, on the test's own loop (c-ares asks it
 * while the parent turns the loop): PTR and A answers, NODATA for other
 * types of a known name, SERVFAIL for 7.0.0.127.in-addr.arpa, NXDOMAIN
 * for the rest.
 */
static const struct fake_rr {
	const char	*name;
	int		 type;
	const char	*value;		/* a name for PTR, an IPv4 for A */
} fake_rrs[] = {
	{ "5.0.0.127.in-addr.arpa", 12, "Peer.Example.Test" },
	{ "peer.example.test", 1, "127.0.0.5" },
	{ "6.0.0.127.in-addr.arpa", 12, "x.peer.example.test" },
	{ "x.peer.example.test", 1, "127.0.0.9" },
};

static size_t
put_name(unsigned char *p, const char *name)
{
	size_t	 n = 0, len;

	while (*name != '\0') {
		len = strcspn(name, ".");
		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += len;
		name += len;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return (n);
}

static void
fake_dns_cb(int fd, int revents, void *arg)
{
	unsigned char		 q[512], r[1024], *a;
	char			 name[256];
	struct sockaddr_storage	 from;
	socklen_t		 fromlen = sizeof from;
	ssize_t			 n;
	size_t			 off = 12, nlen = 0, i, rdlen;
	int			 type, rcode = 3, known = 0;
	uint16_t		 ancount = 0;

	n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fromlen);
	if (n < 17)
		return;
	while (off < (size_t)n && q[off] != 0 && q[off] < 64) {
		if (nlen > 0)
			name[nlen++] = '.';
		memcpy(name + nlen, q + off + 1, q[off]);
		nlen += q[off];
		off += (size_t)q[off] + 1;
	}
	name[nlen] = '\0';
	off++;				/* the root label */
	type = q[off] << 8 | q[off + 1];
	off += 4;			/* type, class */
	memcpy(r, q, off);
	a = r + off;
	for (i = 0; i < nitems(fake_rrs); i++) {
		if (strcasecmp(fake_rrs[i].name, name) != 0)
			continue;
		known = 1;
		rcode = 0;
		if (fake_rrs[i].type != type)
			continue;
		*a++ = 0xc0;		/* the question's name */
		*a++ = 12;
		*a++ = 0;
		*a++ = (unsigned char)type;
		memcpy(a, "\0\1\0\0\0\74", 6);	/* IN, TTL 60 */
		a += 6;
		if (type == 1) {
			rdlen = 4;
			inet_pton(AF_INET, fake_rrs[i].value, a + 2);
		} else
			rdlen = put_name(a + 2, fake_rrs[i].value);
		a[0] = 0;
		a[1] = (unsigned char)rdlen;
		a += 2 + rdlen;
		ancount++;
	}
	if (!known && strcmp(name, "7.0.0.127.in-addr.arpa") == 0)
		rcode = 2;
	r[2] = 0x84 | (q[2] & 0x01);	/* answer, authoritative, RD */
	r[3] = 0x80 | (unsigned char)rcode;
	r[6] = 0;
	r[7] = (unsigned char)ancount;
	memset(r + 8, 0, 4);		/* no authority, no additional */
	sendto(fd, r, (size_t)(a - r), 0, (struct sockaddr *)&from, fromlen);
}

/*
 * peer_lookup = yes: a verified name is lower-cased and matched by a host
 * key (its ERROR: code in the greeting); a PTR name that does not
 * resolve back, or a failed lookup, leaves the client unknown, so the
 * same key does not match and it is greeted.
 */
static void
test_peer_lookup(void **state)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	struct config		*named;
	struct ev_fd		*ev;
	char			 path[128], *conf, *err = NULL;
	int			 dns_fd;

	dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(dns_fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(dns_fd, (struct sockaddr *)&sin, &len),
	    0);
	ev = ev_fd_add(dns_fd, EV_READ, fake_dns_cb, NULL);
	snprintf(path, sizeof path, "%s/access", tmpdir);
	conf = "Connect:peer.example.test ERROR:550 5.7.1 named\n";
	assert_int_equal(write_file_atomic(path, conf, strlen(conf), 0644), 0);
	xasprintf(&conf, "peer_lookup = yes\nresolver = 127.0.0.1:%d\n",
	    ntohs(sin.sin_port));
	write_conf(conf);
	free(conf);
	named = load_conf();
	if (smtp_server_reconfigure(named, &err) == -1 ||
	    dns_init(named->resolver, &err) == -1)
		fail_msg("peer_lookup config: %s", err);

	client_src = "127.0.0.5";
	greeting = "554 5.7.1 named";
	CONVERSE("verified name", "QUIT\r\n", "221");
	greeting = "220 mx.test.example";
	client_src = "127.0.0.6";
	CONVERSE("name not confirmed", "QUIT\r\n", "221");
	client_src = "127.0.0.7";
	CONVERSE("SERVFAIL", "QUIT\r\n", "221");
	client_src = NULL;

	assert_int_equal(smtp_server_reconfigure(cfg, &err), 0);
	config_free(named);
	dns_shutdown();
	ev_fd_del(ev);
	close(dns_fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_messages),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_peer_lookup),
	};

	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, setup, teardown));
}
