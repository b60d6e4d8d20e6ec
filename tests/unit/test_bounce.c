/*
 * Tests of bounce.c: the DSN's structure, fields and hygiene, checked in C
 * and by Python's email package (an independent MIME parser).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "bounce.h"
#include "config.h"
#include "envelope.h"
#include "util.h"

#define PYTHON	"/usr/bin/python3"

static const char original[] =
    "Received: from client.example ([192.0.2.1])\r\n"
    "\tby relay.example with ESMTP id 0000000000000ABCD\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net, carol@example.net\r\n"
    "Subject: quarterly report\r\n"
    "Message-ID: <orig-1@example.org>\r\n"
    "\r\n"
    "SECRET BODY LINE that must not come back in the bounce\r\n";

struct fixture {
	struct config		 cfg;
	struct envelope		 env;
	struct envelope_rcpt	 rcpts[3];
	struct envelope_history	 hist[1];
	char			 msgpath[64];
	int			 fd;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->cfg.me = "relay.example";
	f->cfg.queue_lifetime = 5 * 86400;
	memcpy(f->env.id, "0000000000000ABCD", QID_LEN + 1);
	f->env.sender = "alice@example.org";
	f->env.arrival = 1763800000;
	f->env.origin_uid = -1;
	f->env.rcpts = f->rcpts;
	f->env.nrcpt = 3;

	f->rcpts[0].addr = "bob@example.net";
	f->rcpts[0].orcpt = "rfc822;Bob+2Btag@example.org";
	f->rcpts[0].state = RCPT_BOUNCED;
	f->rcpts[0].attempts = 1;
	f->rcpts[0].last_error = "host mx.example.net[198.51.100.7] said: "
	    "550 5.1.1 <bob@example.net>: Recipient address rejected: User "
	    "unknown in virtual mailbox table (in reply to RCPT TO command)";
	f->rcpts[0].relay = "mx.example.net[198.51.100.7]:25";
	f->hist[0].when = 1763803600;
	f->hist[0].text = "550 5.1.1 user unknown";
	f->rcpts[0].history = f->hist;
	f->rcpts[0].nhistory = 1;

	f->rcpts[1].addr = "carol@example.net";
	f->rcpts[1].state = RCPT_DELIVERED;

	/* A hostile reply trying to add a header and a MIME part. */
	f->rcpts[2].addr = "dave@example.com";
	f->rcpts[2].state = RCPT_BOUNCED;
	f->rcpts[2].last_error = "connect to mx.example.com[203.0.113.9]:25: "
	    "Connection refused\r\nX-Injected: yes\r\n\r\n--evil";
	f->rcpts[2].dsn_status = "4.4.1";

	snprintf(f->msgpath, sizeof(f->msgpath), "/tmp/test_bounce.XXXXXX");
	f->fd = mkstemp(f->msgpath);
	assert_true(f->fd >= 0);
	assert_int_equal(write_all(f->fd, original, strlen(original)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	unlink(f->msgpath);
	free(f);
	return 0;
}

static void
expect_line(const char *dsn, const char *line)
{
	char *want;

	xasprintf(&want, "\r\n%s\r\n", line);
	if (strstr(dsn, want) == NULL)
		fail_msg("DSN lacks line '%s':\n%s", line, dsn);
	free(want);
}

/* The DSN with folded lines joined again ("\r\n " -> " "). */
static char *
unfold(const char *s)
{
	struct buf b;

	buf_init(&b);
	for (; *s != '\0'; s++) {
		if (s[0] == '\r' && s[1] == '\n' && s[2] == ' ') {
			s++;
			continue;
		}
		buf_addch(&b, *s);
	}
	return buf_take(&b);
}

/*
 * Parse the DSN with Python's email package and print what a mail client
 * would see; returns the output, or NULL when Python is not there.
 */
static char *
python_view(const char *dsn, size_t len)
{
	static const char script[] =
	    "import email, sys\n"
	    "from email import policy\n"
	    "m = email.message_from_bytes(open(sys.argv[1], 'rb').read())\n"
	    "assert not m.defects, m.defects\n"
	    "print('type', m.get_content_type(), m.get_param('report-type'))\n"
	    "print('to', m['To'])\n"
	    "print('auto', m['Auto-Submitted'])\n"
	    "parts = m.get_payload()\n"
	    "print('parts', [p.get_content_type() for p in parts])\n"
	    "blocks = parts[1].get_payload()\n"
	    "print('mta', blocks[0]['Reporting-MTA'])\n"
	    "for b in blocks[1:]:\n"
	    "    print('rcpt', b['Final-Recipient'], '|', b['Action'], '|',\n"
	    "        b['Status'], '|', b['Remote-MTA'], '|',\n"
	    "        ' '.join(str(b['Diagnostic-Code']).split()), '|',\n"
	    "        b['Original-Recipient'], '|', b['X-Injected'])\n"
	    "h = parts[2].get_payload()\n"
	    "print('hdrs', 'Subject: quarterly report' in h, 'SECRET' in h)\n"
	    "print('text', 'host mx.example.net said: 550 5.1.1' in "
	    "parts[0].get_payload())\n";
	char path[] = "/tmp/test_bounce_dsn.XXXXXX";
	char spath[] = "/tmp/test_bounce_py.XXXXXX";
	char *cmd, *out;
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *p;
	int fd, status;

	if (access(PYTHON, X_OK) != 0)
		return NULL;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, dsn, len), 0);
	close(fd);
	fd = mkstemp(spath);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, script, strlen(script)), 0);
	close(fd);
	xasprintf(&cmd, PYTHON " %s %s 2>&1", spath, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_add(&b, chunk, n);
	status = pclose(p);
	unlink(spath);
	unlink(path);
	free(cmd);
	out = buf_take(&b);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("python rejected the DSN:\n%s\n%s", out, dsn);
	return out;
}

static void
test_failure_dsn(void **state)
{
	struct fixture *f = *state;
	size_t idx[] = { 0, 2 };
	struct buf b;
	char *err = NULL, *view, *end, *unfolded;

	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 2, f->fd, 0,
	    NULL, &err), 0);
	assert_null(err);

	/* Every line ends in CRLF; none is bare. */
	for (end = b.data; (end = strchr(end, '\n')) != NULL; end++)
		assert_true(end > b.data && end[-1] == '\r');
	assert_memory_equal(b.data + b.len - 2, "\r\n", 2);
	assert_non_null(strstr(b.data, "From: Mail Delivery System "
	    "<MAILER-DAEMON@relay.example>\r\n"));
	assert_non_null(strstr(b.data, "\r\nTo: <alice@example.org>\r\n"));
	expect_line(b.data, "Subject: Undelivered Mail Returned to Sender");
	expect_line(b.data, "Auto-Submitted: auto-replied");
	expect_line(b.data, "Reporting-MTA: dns; relay.example");
	expect_line(b.data, "Final-Recipient: rfc822; bob@example.net");
	expect_line(b.data, "Original-Recipient: rfc822;Bob+2Btag@example.org");
	expect_line(b.data, "Action: failed");
	expect_line(b.data, "Status: 5.1.1");
	expect_line(b.data, "Remote-MTA: dns; mx.example.net");
	expect_line(b.data, "Status: 4.4.1");
	expect_line(b.data, "Final-Recipient: rfc822; dave@example.com");
	unfolded = unfold(b.data);
	assert_non_null(strstr(unfolded, "\r\nDiagnostic-Code: smtp; 550 5.1.1 "
	    "<bob@example.net>: Recipient address rejected: User unknown in "
	    "virtual mailbox table (in reply to RCPT TO command)\r\n"));
	assert_non_null(strstr(unfolded, "Diagnostic-Code: X-Hikyaku; connect "
	    "to mx.example.com[203.0.113.9]:25: Connection refused"));
	free(unfolded);
	/* The delivered recipient is not reported; the body is not returned. */
	assert_null(strstr(b.data, "carol@example.net;"));
	assert_null(strstr(b.data, "Final-Recipient: rfc822; carol"));
	assert_null(strstr(b.data, "SECRET"));
	assert_null(strstr(b.data, "\r\nX-Injected"));
	assert_null(strstr(b.data, "\r\n--evil"));
	/* Folded where a space allows: no report line passes 78. */
	for (end = strstr(b.data, "Reporting-MTA"); *end != '\0';) {
		char *nl = strstr(end, "\r\n");

		if (strncmp(end, "--", 2) == 0)
			break;
		assert_true(nl - end <= 78);
		end = nl + 2;
	}

	view = python_view(b.data, b.len);
	if (view != NULL) {
		assert_non_null(strstr(view,
		    "type multipart/report delivery-status\n"));
		assert_non_null(strstr(view, "to <alice@example.org>\n"));
		assert_non_null(strstr(view, "auto auto-replied\n"));
		assert_non_null(strstr(view, "parts ['text/plain', "
		    "'message/delivery-status', 'text/rfc822-headers']\n"));
		assert_non_null(strstr(view, "mta dns; relay.example\n"));
		assert_non_null(strstr(view, "rcpt rfc822; bob@example.net | "
		    "failed | 5.1.1 | dns; mx.example.net | smtp; 550 5.1.1 "
		    "<bob@example.net>: Recipient address rejected: User unknown"
		    " in virtual mailbox table (in reply to RCPT TO command) | "
		    "rfc822;Bob+2Btag@example.org | None\n"));
		assert_non_null(strstr(view, "rcpt rfc822; dave@example.com | "
		    "failed | 4.4.1 | None | X-Hikyaku; connect to "
		    "mx.example.com[203.0.113.9]:25: Connection refused "
		    "X-Injected: yes --evil | None | None\n"));
		assert_non_null(strstr(view, "hdrs True False\n"));
		assert_non_null(strstr(view, "text True\n"));
		free(view);
	} else
		print_message("skipping the Python check: no " PYTHON "\n");
	buf_free(&b);
}

static void
test_delay_and_double_bounce(void **state)
{
	struct fixture *f = *state;
	size_t idx[] = { 0 };
	struct buf b;
	char *err = NULL, *view;

	f->rcpts[0].last_error = "host mx.example.net[198.51.100.7] said: "
	    "451 try later";
	f->rcpts[0].relay = "mx.example.net[198.51.100.7]:25";
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 1, f->fd, 1,
	    NULL, &err), 0);
	expect_line(b.data, "Action: delayed");
	expect_line(b.data, "Status: 4.0.0");
	expect_line(b.data, "Diagnostic-Code: smtp; 451 try later");
	expect_line(b.data, "Subject: Delayed Mail (still being retried)");
	buf_free(&b);

	/* The null sender gets no DSN; a double bounce goes elsewhere. */
	f->env.sender = "";
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 1, f->fd, 0,
	    NULL, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(b.len, 0);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 1, f->fd, 0,
	    "postmaster@relay.example", &err), 0);
	assert_non_null(strstr(b.data, "\r\nTo: <postmaster@relay.example>\r\n"));
	assert_non_null(strstr(b.data, "from <> comes to you"));
	view = python_view(b.data, b.len);
	if (view != NULL) {
		assert_non_null(strstr(view, "rcpt rfc822; bob@example.net | "
		    "failed | 4.0.0 |"));
		free(view);
	}
	buf_free(&b);
}

/* Past queue_lifetime: the text says the message expired, and after how
 * long, before the last reply; the report keeps that reply. */
static void
test_expired(void **state)
{
	struct fixture *f = *state;
	size_t idx[] = { 0, 2 };
	struct buf b;
	char *err = NULL;

	/* As the scheduler marks them (scheduler.c, sched_rcpt_expire). */
	f->rcpts[0].dsn_status = BOUNCE_EXPIRED_STATUS;
	f->rcpts[0].last_error = BOUNCE_EXPIRED_PREFIX
	    "451 4.3.0 try later";
	f->rcpts[2].dsn_status = BOUNCE_EXPIRED_STATUS;
	f->rcpts[2].relay = NULL;
	f->rcpts[2].last_error = BOUNCE_EXPIRED_PREFIX
	    "connect to mx.example.com[203.0.113.9]:25: refused";
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 2, f->fd, 0,
	    NULL, &err), 0);
	assert_non_null(strstr(b.data, "<bob@example.net>:\r\n    The message "
	    "expired after 5 days in the queue (queue_lifetime)\r\n    "
	    "without being delivered; the last attempt:\r\n    host "
	    "mx.example.net said: 451 4.3.0 try later\r\n"));
	assert_non_null(strstr(b.data, "<dave@example.com>:\r\n    The message "
	    "expired after 5 days in the queue (queue_lifetime)\r\n    "
	    "without being delivered; the last attempt:\r\n    connect to "
	    "mx.example.com[203.0.113.9]:25: refused\r\n"));
	expect_line(b.data, "Status: 4.4.7");
	expect_line(b.data, "Diagnostic-Code: smtp; 451 4.3.0 try later");
	buf_free(&b);

	/* Only the scheduler's own prefix goes: a reply quoting the same
	 * words later in its text is shown whole. */
	f->rcpts[2].last_error = "connect: refused " BOUNCE_EXPIRED_PREFIX "x";
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, &idx[1], 1, f->fd,
	    0, NULL, &err), 0);
	assert_non_null(strstr(b.data, "the last attempt:\r\n    connect: "
	    "refused " BOUNCE_EXPIRED_PREFIX "x\r\n"));
	buf_free(&b);

	/* Other lifetimes in words; a plain failure says nothing of it. */
	f->cfg.queue_lifetime = 60;
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 1, f->fd, 0,
	    NULL, &err), 0);
	assert_non_null(strstr(b.data, "expired after 1 minute in the queue"));
	buf_free(&b);
	f->cfg.queue_lifetime = 36 * 3600;
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 1, f->fd, 0,
	    NULL, &err), 0);
	assert_non_null(strstr(b.data, "expired after 36 hours in the queue"));
	buf_free(&b);
	f->rcpts[0].dsn_status = "5.1.1";
	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, idx, 1, f->fd, 0,
	    NULL, &err), 0);
	assert_null(strstr(b.data, "expired"));
	buf_free(&b);
}

static void
test_errors_and_status(void **state)
{
	struct fixture *f = *state;
	size_t bad[] = { 3 };
	struct buf b;
	char *err = NULL, st[16];

	buf_init(&b);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, bad, 1, f->fd, 0,
	    NULL, &err), -1);
	free(err);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, bad, 0, f->fd, 0,
	    NULL, &err), -1);
	free(err);
	assert_int_equal(bounce_build(&b, &f->cfg, &f->env, (size_t[]){ 0 },
	    1, -1, 0, NULL, &err), -1);
	assert_non_null(strstr(err, "reading the message"));
	free(err);
	buf_free(&b);

	bounce_status_of("550 5.7.1 relay denied", "5.0.0", st, sizeof(st));
	assert_string_equal(st, "5.7.1");
	bounce_status_of("said: 452-4.5.3 too many", "4.0.0", st, sizeof(st));
	assert_string_equal(st, "4.5.3");
	bounce_status_of("554 no enhanced code", "5.0.0", st, sizeof(st));
	assert_string_equal(st, "5.0.0");
	bounce_status_of("421 service closing", "5.0.0", st, sizeof(st));
	assert_string_equal(st, "4.0.0");
	/* A class that disagrees with the reply code is not believed. */
	bounce_status_of("550 2.0.0 odd", "5.0.0", st, sizeof(st));
	assert_string_equal(st, "5.0.0");
	bounce_status_of("Connection refused", "4.4.1", st, sizeof(st));
	assert_string_equal(st, "4.4.1");
	bounce_status_of("port 25550 refused", "4.4.1", st, sizeof(st));
	assert_string_equal(st, "4.4.1");
	bounce_status_of(NULL, "5.0.0", st, sizeof(st));
	assert_string_equal(st, "5.0.0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failure_dsn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delay_and_double_bounce,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_status, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
