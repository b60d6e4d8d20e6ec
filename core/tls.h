/*
 * tls: GnuTLS credentials, sessions and verification in words.
 *
 * Owns the certificate credentials of each remote (CA file or the system
 * bundle, CRL, client certificate), built lazily on first use and cached by
 * their options; unused credentials are freed after an idle period so the
 * idle daemon does not carry the CA store (DESIGN "Memory"). Promises: a
 * missing or unreadable file is an error in words, never a crash; client
 * sessions use secure priorities, SNI and hostname verification unless
 * --insecure, and with --insecure what failed is still computed so it can
 * be logged. The server side (tls_cert/tls_key) joins this module later.
 */
#ifndef HIKYAKU_TLS_H
#define HIKYAKU_TLS_H

#include <gnutls/gnutls.h>

struct remote;
struct tls_creds;

/* TLS 1.2 and later only. */
#define TLS_PRIORITIES	"NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1"

/* Credentials unused for this long are freed (ms). */
#define TLS_CREDS_IDLE_MS	60000

/*
 * Client credentials for r (CA file or system bundle, CRL, client
 * certificate and key, PEM or DER per --x509fmtder). Shared and cached:
 * each successful call takes a reference that tls_creds_put() returns.
 * NULL with *err (allocated) when a file is missing, unreadable or
 * unparsable: the caller defers with that reason.
 */
struct tls_creds *tls_creds_get(const struct remote *r, char **err);
void		 tls_creds_put(struct tls_creds *);
/* Free every cached credential nobody uses now (idle timer, shutdown). */
void		 tls_creds_flush(void);

/*
 * A client session ready for io_start_tls(): priorities, credentials, SNI
 * for servername (omitted for IP literals), and hostname verification
 * during the handshake unless insecure. The session holds no reference:
 * keep the creds until the session is deinited. 0, or -1 with *err.
 */
int		 tls_client_session(gnutls_session_t *out, struct tls_creds *,
		    const char *servername, int insecure, char **err);

/*
 * Verify the peer of a session (after the handshake, or after it failed
 * on verification) against hostname. Returns 0 when the certificate is
 * good; otherwise -1 and *why (allocated) says what is wrong in words,
 * naming the remote's file:line when r is given.
 */
int		 tls_client_verify(gnutls_session_t, const char *hostname,
		    const struct remote *r, char **why);

/*
 * The words for a verification status and the session's peer chain, e.g.
 * "certificate signed by an unknown authority (issuer CN=Foo CA); pass
 * its CA file with --x509cafile", "certificate expired on 2026-01-01",
 * "hostname mismatch: certificate is for mx.example.net (SANs: ...),
 * remotes line 3 says mail.example.net". Allocated.
 */
char		*tls_verify_words(unsigned status, gnutls_session_t,
		    const char *hostname, const struct remote *r);

/* "TLSv1.3 with cipher AES-256-GCM" for log lines. Allocated. */
char		*tls_session_describe(gnutls_session_t);

#endif
