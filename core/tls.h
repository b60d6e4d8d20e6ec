/*
 * tls: GnuTLS credentials, sessions and verification in words.
 *
 * Owns the certificate credentials of each remote (CA file or the system
 * bundle, CRL, client certificate), built lazily on first use and cached by
 * their options; unused credentials are freed after an idle period so the
 * idle daemon does not carry the CA store (DESIGN "Memory"). Promises: a
 * missing or unreadable file is an error in words, never a crash; client
 * sessions use secure priorities, SNI and hostname verification unless
 * --insecure, and every failure is explained by the diagnosis engine
 * (tls_diag.h), so with --insecure what failed can still be logged. Server side: the credentials from tls_cert/tls_key, judged
 * before use (readable by the daemon's user with the chgrp/chmod that
 * fixes it, key matching the certificate, dates), reference counted so a
 * reload can swap them while sessions still use the old ones.
 */
#ifndef HIKYAKU_TLS_H
#define HIKYAKU_TLS_H

#include <gnutls/gnutls.h>

struct remote;
struct tls_creds;
struct tls_server_creds;

/* TLS 1.2 and later only. */
#define TLS_PRIORITIES	"NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1"

/* Credentials unused for this long are freed (ms). */
#define TLS_CREDS_IDLE_MS	60000

/*
 * Client credentials for r (CA file or system bundle, CRL, client
 * certificate and key, PEM or DER per --x509fmtder). Shared and cached:
 * each successful call takes a reference that tls_creds_put() returns.
 * NULL with *err (allocated) when a file is missing, unreadable or
 * unparsable: the caller defers with that reason, which for the CA and
 * CRL files is the diagnosis engine's verdict with its fix.
 */
struct tls_creds *tls_creds_get(const struct remote *r, char **err);
/*
 * Add r's client certificate (--x509certfile, its key from --x509keyfile
 * or the same file) to cred; nothing without one. 0, or -1 with *err.
 * Shared with `hikyaku tls check`, which builds its own credentials.
 */
int		 tls_creds_client_cert(gnutls_certificate_credentials_t,
		    const struct remote *r, char **err);
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
 * The diagnosis engine's verdict (tls_diag.h) on a client session whose
 * handshake finished (handshake_rc 0) or failed (its GnuTLS error):
 * the certificate verified against hostname, weak keys and SHA-1
 * signatures (which GnuTLS lets through), and the handshake error. NULL
 * when nothing is wrong; otherwise one line with the cause and the fix,
 * worded as `hikyaku tls check` words it: "hostname mismatch:
 * certificate is for mx.example.net (SANs: ...), remotes line 3 says
 * mail.example.net; fix: edit remotes line 3: ...". Allocated.
 */
char		*tls_client_judge(gnutls_session_t, int handshake_rc,
		    const char *hostname, const struct remote *r);

/*
 * The server hung up on a session whose handshake finished, before its
 * first reply under TLS: the engine's verdict in one line with its fix
 * (a client certificate it asked for and did not get, or refused), or
 * NULL when the session shows no reason. Allocated.
 */
char		*tls_client_judge_close(gnutls_session_t, const struct remote *r);

/*
 * Server credentials from cert_path and key_path (PEM). user is the
 * account that must be able to read them (the daemon's `user` when
 * started as root; NULL: this process). NULL with *err (allocated) naming
 * the cause and the fix: unreadable, key does not match, expired, not yet
 * valid, unparsable. Warnings (expires soon, weak key) are logged. The
 * result holds one reference.
 */
struct tls_server_creds *tls_server_creds_load(const char *cert_path,
		    const char *key_path, const char *user, char **err);
void		 tls_server_creds_ref(struct tls_server_creds *);
/* Drop a reference; the last one frees the credentials. NULL is a no-op. */
void		 tls_server_creds_put(struct tls_server_creds *);

/*
 * A server session ready for io_start_tls(): TLS_PRIORITIES, the
 * credentials, GNUTLS_NO_SIGNAL, no client certificate asked. The session
 * holds no reference: keep one until it is deinited. 0, or -1 with *err.
 */
int		 tls_server_session(gnutls_session_t *out,
		    struct tls_server_creds *, char **err);

/* "TLSv1.3 with cipher AES-256-GCM" for log lines. Allocated. */
char		*tls_session_describe(gnutls_session_t);

#endif
