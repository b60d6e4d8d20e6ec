/*
 * tls: GnuTLS credentials (cached, freed when idle), client sessions and
 * verification results in words. See tls.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <gnutls/x509.h>

#include "config.h"
#include "event.h"
#include "log.h"
#include "privsep.h"
#include "remotes.h"
#include "tls.h"
#include "tls_diag.h"
#include "util.h"

struct tls_creds {
	struct tls_creds *next;
	char		*key;		/* the options that built it */
	gnutls_certificate_credentials_t cred;
	unsigned	 refs;
	uint64_t	 idle_since;	/* ev_now() when refs dropped to 0 */
};

static struct tls_creds *creds_cache;
static struct ev_timer *creds_timer;

static const char *
str_or_empty(const char *s)
{
	return s ? s : "";
}

static char *
creds_key(const struct remote *r)
{
	char *key;

	/* A remotes line cannot hold a newline, so it separates the fields. */
	xasprintf(&key, "%s\n%s\n%s\n%s\n%d", str_or_empty(r->x509cafile),
	    str_or_empty(r->x509crlfile), str_or_empty(r->x509certfile),
	    str_or_empty(r->x509keyfile), r->x509fmtder);
	return key;
}

/*
 * GnuTLS reports a missing file as "Error while reading file": check
 * readability first so the deferral names the file and the errno.
 */
static int
check_readable(const char *what, const char *path, char **err)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(err, "cannot read %s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * A CA or CRL file failed to load: the diagnosis engine says why and what
 * fixes it (missing, unreadable by this user and the chmod for it, DER
 * read as PEM or the reverse), as `hikyaku tls check` does. It is asked
 * only after a failure, so an ACL it cannot judge never stops delivery;
 * when it finds nothing, *err keeps the plain reason.
 */
static int
creds_file_failed(const struct remote *r, char **err)
{
	struct tls_verdict v;
	char *words;

	tls_diag_init(&v);
	tls_diag_files(&v, r, NULL);
	if ((words = tls_diag_explain(&v)) != NULL) {
		free(*err);
		*err = words;
	}
	tls_diag_free(&v);
	return -1;
}

int
tls_creds_client_cert(gnutls_certificate_credentials_t cred,
    const struct remote *r, char **err)
{
	/* nullmailer reads the key from the certificate file unless
	 * --x509keyfile names another one. */
	const char *keyfile = r->x509keyfile ? r->x509keyfile :
	    r->x509certfile;
	int rc;

	if (r->x509certfile == NULL)
		return 0;
	if (check_readable("client certificate", r->x509certfile, err) == -1 ||
	    check_readable("client key", keyfile, err) == -1)
		return -1;
	rc = gnutls_certificate_set_x509_key_file(cred, r->x509certfile,
	    keyfile, r->x509fmtder ? GNUTLS_X509_FMT_DER : GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		xasprintf(err, "cannot load client certificate %s with key %s: "
		    "%s", r->x509certfile, keyfile, gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

static int
creds_load(gnutls_certificate_credentials_t cred, const struct remote *r,
    char **err)
{
	gnutls_x509_crt_fmt_t fmt;
	const char *fmtname;
	int rc;

	fmt = r->x509fmtder ? GNUTLS_X509_FMT_DER : GNUTLS_X509_FMT_PEM;
	fmtname = r->x509fmtder ? "DER" : "PEM";
	if (r->x509cafile != NULL) {
		if (check_readable("CA file", r->x509cafile, err) == -1)
			return creds_file_failed(r, err);
		rc = gnutls_certificate_set_x509_trust_file(cred,
		    r->x509cafile, fmt);
		if (rc <= 0) {
			xasprintf(err, "no %s certificate in CA file %s%s%s",
			    fmtname, r->x509cafile, rc < 0 ? ": " : "",
			    rc < 0 ? gnutls_strerror(rc) : "");
			return creds_file_failed(r, err);
		}
	} else {
		rc = gnutls_certificate_set_x509_system_trust(cred);
		if (rc <= 0) {
			xasprintf(err, "no system CA bundle could be loaded%s%s"
			    " (install ca-certificates or pass --x509cafile)",
			    rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) :
			    "");
			return -1;
		}
	}
	if (r->x509crlfile != NULL) {
		if (check_readable("CRL file", r->x509crlfile, err) == -1)
			return creds_file_failed(r, err);
		rc = gnutls_certificate_set_x509_crl_file(cred,
		    r->x509crlfile, fmt);
		if (rc < 0) {
			xasprintf(err, "cannot load %s CRL file %s: %s",
			    fmtname, r->x509crlfile, gnutls_strerror(rc));
			return creds_file_failed(r, err);
		}
	}
	return tls_creds_client_cert(cred, r, err);
}

static void
creds_destroy(struct tls_creds *c)
{
	gnutls_certificate_free_credentials(c->cred);
	free(c->key);
	free(c);
}

static void
creds_expire(void *arg)
{
	struct tls_creds **pp, *c;
	uint64_t now = ev_now(), next = 0;

	for (pp = &creds_cache; (c = *pp) != NULL;) {
		if (c->refs == 0 && now - c->idle_since >= TLS_CREDS_IDLE_MS) {
			*pp = c->next;
			log_debug("tls: freeing idle credentials");
			creds_destroy(c);
			continue;
		}
		if (c->refs == 0 &&
		    (next == 0 || c->idle_since + TLS_CREDS_IDLE_MS < next))
			next = c->idle_since + TLS_CREDS_IDLE_MS;
		pp = &c->next;
	}
	if (next != 0)
		ev_timer_at(creds_timer, next);
}

struct tls_creds *
tls_creds_get(const struct remote *r, char **err)
{
	struct tls_creds *c;
	char *key = creds_key(r);
	int rc;

	for (c = creds_cache; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0) {
			free(key);
			c->refs++;
			return c;
		}
	c = xcalloc(1, sizeof(*c));
	c->key = key;
	if ((rc = gnutls_certificate_allocate_credentials(&c->cred)) < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		free(c->key);
		free(c);
		return NULL;
	}
	if (creds_load(c->cred, r, err) == -1) {
		creds_destroy(c);
		return NULL;
	}
	c->refs = 1;
	c->next = creds_cache;
	creds_cache = c;
	return c;
}

void
tls_creds_put(struct tls_creds *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	c->idle_since = ev_now();
	if (creds_timer == NULL)
		creds_timer = ev_timer_new(creds_expire, NULL);
	if (!ev_timer_pending(creds_timer))
		ev_timer_at(creds_timer, c->idle_since + TLS_CREDS_IDLE_MS);
}

void
tls_creds_flush(void)
{
	struct tls_creds **pp, *c;

	for (pp = &creds_cache; (c = *pp) != NULL;) {
		if (c->refs == 0) {
			*pp = c->next;
			creds_destroy(c);
		} else
			pp = &c->next;
	}
	if (creds_cache == NULL && creds_timer != NULL) {
		ev_timer_free(creds_timer);
		creds_timer = NULL;
	}
}

static int
is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

/* A non-blocking session with our priorities and certificate credentials. */
static int
tls_session_init(gnutls_session_t *out, unsigned flags,
    gnutls_certificate_credentials_t cred, char **err)
{
	const char *errpos;
	int rc;

	rc = gnutls_init(out, flags | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_priority_set_direct(*out, TLS_PRIORITIES,
	    &errpos)) < 0 ||
	    (rc = gnutls_credentials_set(*out, GNUTLS_CRD_CERTIFICATE,
	    cred)) < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		gnutls_deinit(*out);
		return -1;
	}
	return 0;
}

int
tls_client_session(gnutls_session_t *out, struct tls_creds *c,
    const char *servername, int insecure, char **err)
{
	gnutls_session_t s;
	int rc;

	if (tls_session_init(&s, GNUTLS_CLIENT, c->cred, err) == -1)
		return -1;
	/* RFC 6066: SNI carries host names only, never address literals. */
	if (servername != NULL && !is_ip_literal(servername) &&
	    (rc = gnutls_server_name_set(s, GNUTLS_NAME_DNS, servername,
	    strlen(servername))) < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		gnutls_deinit(s);
		return -1;
	}
	/* The handshake itself fails on a bad certificate, so nothing is ever
	 * sent to an unverified peer; --insecure verifies afterwards, only to
	 * log what it let through. */
	if (!insecure)
		gnutls_session_set_verify_cert(s, servername, 0);
	*out = s;
	return 0;
}

char *
tls_client_judge(gnutls_session_t s, int handshake_rc, const char *hostname,
    const struct remote *r)
{
	struct tls_verdict	 v;
	struct tls_diag_input	 in;
	char			*words;

	/* One engine explains TLS everywhere: tls check, the console and
	 * the queue's last error say the same thing. */
	memset(&in, 0, sizeof in);
	in.session = s;
	in.handshake_rc = handshake_rc;
	in.hostname = hostname;
	in.remote = r;
	tls_diag_init(&v);
	tls_diag_session(&v, &in);
	words = tls_diag_explain(&v);
	tls_diag_free(&v);
	return words;
}

char *
tls_client_judge_close(gnutls_session_t s, const struct remote *r)
{
	struct tls_verdict	 v;
	char			*words;

	tls_diag_init(&v);
	tls_diag_closed_after_handshake(&v, s, r);
	words = tls_diag_explain(&v);
	tls_diag_free(&v);
	return words;
}

char *
tls_session_describe(gnutls_session_t s)
{
	char *d;
	const char *proto = gnutls_protocol_get_name(
	    gnutls_protocol_get_version(s));
	const char *cipher = gnutls_cipher_get_name(gnutls_cipher_get(s));

	xasprintf(&d, "%s with cipher %s", proto ? proto : "?",
	    cipher ? cipher : "?");
	return d;
}

/* Server side */

struct tls_server_creds {
	gnutls_certificate_credentials_t cred;
	unsigned	 refs;
};

/* A certificate is public, so only "can user read it" matters for it. */
static int
server_file_readable(const char *path, const char *what, const char *user,
    int secret, char **err)
{
	struct diags d;
	struct stat st;
	int rc;

	if (stat(path, &st) == -1) {
		xasprintf(err, "cannot read %s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (!secret && (st.st_mode & S_IROTH))
		return 0;
	memset(&d, 0, sizeof(d));
	rc = privsep_check_secret(path, user, &d, what);
	if (rc == -1 && d.n > 0) {
		/* For a key, "readable by everyone" is a warning, not a
		 * reason to refuse it. */
		if (strstr(d.v[0].msg, " is not readable by ") != NULL) {
			xasprintf(err, "%s: %s", path, d.v[0].msg);
			diags_free(&d);
			return -1;
		}
		log_warn("%s: %s", path, d.v[0].msg);
	}
	diags_free(&d);
	return 0;
}

struct tls_server_creds *
tls_server_creds_load(const char *cert_path, const char *key_path,
    const char *user, char **err)
{
	struct tls_server_creds *c;
	struct tls_verdict v;
	size_t i;
	int rc;

	if (server_file_readable(cert_path, "server certificate", user, 0,
	    err) == -1 ||
	    server_file_readable(key_path, "server key", user, 1, err) == -1)
		return NULL;
	tls_diag_init(&v);
	tls_diag_check_local(&v, cert_path, key_path, 0);
	for (i = 0; i < v.nfindings; i++) {
		const struct tls_finding *f = &v.findings[i];

		if (f->severity == TLS_DIAG_ERROR) {
			*err = tls_diag_finding_line(f);
			tls_diag_free(&v);
			return NULL;
		}
	}
	for (i = 0; i < v.nfindings; i++)
		if (v.findings[i].severity == TLS_DIAG_WARNING) {
			char *line = tls_diag_finding_line(&v.findings[i]);

			log_warn("server certificate %s: %s", cert_path, line);
			free(line);
		}
	tls_diag_free(&v);
	c = xcalloc(1, sizeof(*c));
	if ((rc = gnutls_certificate_allocate_credentials(&c->cred)) < 0) {
		xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
		free(c);
		return NULL;
	}
	if ((rc = gnutls_certificate_set_x509_key_file(c->cred, cert_path,
	    key_path, GNUTLS_X509_FMT_PEM)) < 0) {
		xasprintf(err, "cannot load server certificate %s with key "
		    "%s: %s", cert_path, key_path, gnutls_strerror(rc));
		gnutls_certificate_free_credentials(c->cred);
		free(c);
		return NULL;
	}
	c->refs = 1;
	return c;
}

void
tls_server_creds_ref(struct tls_server_creds *c)
{
	c->refs++;
}

void
tls_server_creds_put(struct tls_server_creds *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	gnutls_certificate_free_credentials(c->cred);
	free(c);
}

int
tls_server_session(gnutls_session_t *out, struct tls_server_creds *c,
    char **err)
{
	gnutls_session_t s;

	if (tls_session_init(&s, GNUTLS_SERVER, c->cred, err) == -1)
		return -1;
	/* Submission clients authenticate with SASL, not certificates. */
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
	*out = s;
	return 0;
}
