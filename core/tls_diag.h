/*
 * tls_diag: TLS and certificate diagnosis in plain words, with the fix.
 *
 * Owns the verdict on a TLS connection or on local certificate files: the
 * protocol and cipher, the peer chain in readable form, and findings that
 * each name the cause and what to type to fix it (DESIGN §7 and §12 "TLS
 * verdicts"). It never opens a connection: callers (hikyaku tls check,
 * the console, delivery) bring a GnuTLS session, finished or failed, and
 * what they saw on the wire. Promises: "unknown CA" and "missing
 * intermediate" are told apart by the chain; key sizes and SHA-1
 * signatures are judged here (GnuTLS accepts RSA-1024); CA files are
 * judged for the daemon's user by stat and its groups; nothing blocks.
 */
#ifndef HIKYAKU_TLS_DIAG_H
#define HIKYAKU_TLS_DIAG_H

#include <stddef.h>
#include <time.h>

#include <gnutls/gnutls.h>

struct remote;

enum tls_diag_code {
	TLS_DIAG_UNKNOWN_CA,		/* chain ends in an untrusted root */
	TLS_DIAG_SELF_SIGNED,		/* the server's own cert is the root */
	TLS_DIAG_MISSING_INTERMEDIATE,	/* top issuer is not self-issued */
	TLS_DIAG_EXPIRED,
	TLS_DIAG_NOT_YET_VALID,
	TLS_DIAG_CLOCK,			/* our clock disagrees with the peer */
	TLS_DIAG_HOSTNAME,		/* name not in CN/SANs */
	TLS_DIAG_REVOKED,		/* listed in the CRL */
	TLS_DIAG_WEAK_KEY,		/* RSA/DSA < 2048 bits, EC < 224 */
	TLS_DIAG_WEAK_SIGNATURE,	/* SHA-1 or MD5 signed */
	TLS_DIAG_CA_FORMAT,		/* DER read as PEM or the reverse */
	TLS_DIAG_CA_UNREADABLE,		/* the daemon's user cannot read it */
	TLS_DIAG_CA_MISSING,		/* no such file */
	TLS_DIAG_CA_EMPTY,		/* no certificate in either format */
	TLS_DIAG_NO_STARTTLS,		/* EHLO reply lacks STARTTLS */
	TLS_DIAG_PLAINTEXT_PORT,	/* --ssl, but the port greets "220" */
	TLS_DIAG_TLS_PORT,		/* STARTTLS, but no greeting/garbage */
	TLS_DIAG_CLIENT_CERT,		/* client certificate wanted or refused */
	TLS_DIAG_EXPIRES_SOON,		/* fewer than 30 days left */
	TLS_DIAG_KEY_MISMATCH,		/* local cert and key do not pair */
	TLS_DIAG_FILE,			/* a local file cannot be read/parsed */
	TLS_DIAG_NO_CERT,		/* the peer sent no certificate */
	TLS_DIAG_HANDSHAKE,		/* other handshake failure */
	TLS_DIAG_OTHER,			/* other verification status */
};

enum tls_diag_severity { TLS_DIAG_INFO, TLS_DIAG_WARNING, TLS_DIAG_ERROR };

struct tls_finding {
	enum tls_diag_code	 code;
	enum tls_diag_severity	 severity;
	char			*text;	/* "hostname mismatch: ..." */
	char			*fix;	/* what to type; NULL: nothing to do */
};

struct tls_cert_info {
	char		*subject, *issuer;
	char		**sans;		/* DNS names and IP addresses */
	size_t		 nsans;
	time_t		 not_before, not_after;
	long		 days_left;	/* negative once expired */
	char		*key_algo;	/* "RSA", "EC/ECDSA", ... */
	unsigned	 key_bits;
	char		*sig_algo;	/* "RSA-SHA256", ... */
	char		 sha256[96];	/* "AB:CD:..." */
	int		 self_issued;	/* subject == issuer */
	int		 is_ca;
};

struct tls_verdict {
	char			*protocol, *cipher;	/* NULL: no handshake */
	struct tls_cert_info	*chain;
	size_t			 nchain;
	struct tls_finding	*findings;
	size_t			 nfindings;
	unsigned		 status;	/* GnuTLS verification status */
	int			 ca_failed;	/* the CA file could not load */
};

/* What a caller knows about one connection attempt. */
struct tls_diag_input {
	gnutls_session_t	 session;	/* NULL: no handshake ran */
	int			 handshake_rc;	/* 0 or a GnuTLS error */
	const char		*hostname;	/* the name to verify */
	const struct remote	*remote;	/* options, file:line; or NULL */
	const char		*banner;	/* the peer's 220 line, or NULL */
	/* Where fixes suggest saving files; NULL: config_default_dir(). */
	const char		*confdir;
};

void	 tls_diag_init(struct tls_verdict *);
void	 tls_diag_free(struct tls_verdict *);

/*
 * Judge the CA and CRL files of r before connecting: missing, unreadable
 * by user (NULL: the calling process), DER read as PEM or the reverse,
 * holding no certificate. Sets v->ca_failed when the CA file is unusable.
 */
void	 tls_diag_files(struct tls_verdict *, const struct remote *r,
	    const char *user);

/*
 * Judge a handshake: protocol, cipher, chain, and findings from the
 * verification status (verified here against in->hostname with the
 * session's credentials, whether or not the handshake verified), the key
 * sizes and signatures of the chain, and in->banner for clock doubt.
 */
void	 tls_diag_session(struct tls_verdict *,
	    const struct tls_diag_input *in);

/*
 * Judge only the key sizes and signatures of the peer chain of a
 * handshake that verified: the findings tls_diag_session adds for such a
 * session, without the chain report (v->chain stays empty) and without
 * verifying again. Use tls_diag_session for any other session.
 */
void	 tls_diag_strength(struct tls_verdict *, gnutls_session_t);

/*
 * What the caller saw on the wire instead of TLS. plaintext_banner: the
 * line an --ssl connection received before any handshake ("220 ...").
 * port_is_tls: a STARTTLS connection got no greeting or non-SMTP bytes.
 * no_starttls: the EHLO reply (lines joined) lacks STARTTLS.
 */
void	 tls_diag_plaintext_banner(struct tls_verdict *,
	    const struct remote *r, const char *line);
void	 tls_diag_port_is_tls(struct tls_verdict *, const struct remote *r,
	    const char *seen);
void	 tls_diag_no_starttls(struct tls_verdict *, const struct remote *r);

/*
 * The server ended a session whose handshake finished before its first
 * reply under TLS (the greeting after --ssl, the EHLO reply after
 * STARTTLS). A TLS 1.3 server that requires a client certificate learns
 * only then that none came, and says so with an alert or just hangs up.
 * Adds a finding (with the --x509certfile fix) when the session shows
 * that the server asked for a certificate; nothing otherwise.
 */
void	 tls_diag_closed_after_handshake(struct tls_verdict *,
	    gnutls_session_t s, const struct remote *r);

/*
 * Local files: the chain in cert_path (PEM, or DER when der), expiry
 * warnings (< 30 days), weak keys and signatures, and, when key_path is
 * given, that the key belongs to the certificate. 0 when no error finding
 * was added, -1 otherwise.
 */
int	 tls_diag_check_local(struct tls_verdict *, const char *cert_path,
	    const char *key_path, int der);

/* 1 when no finding is an error. */
int	 tls_diag_ok(const struct tls_verdict *);

/* One finding on one line: its text, then "; fix: " and the fix. */
char	*tls_diag_finding_line(const struct tls_finding *);

/*
 * The first error finding on one line, with its fix, for delivery errors
 * and logs: "hostname mismatch: certificate is for mx.example.net (SANs:
 * mx.example.net, example.net), remotes line 3 says mail.example.net;
 * fix: edit remotes line 3: ...". NULL when there is no error. Allocated.
 */
char	*tls_diag_explain(const struct tls_verdict *);

/* "TLS: " and tls_diag_explain(): the check's summary line. Allocated. */
char	*tls_diag_summary(const struct tls_verdict *);

/* The whole verdict as text (chain, findings with fixes). Allocated. */
char	*tls_diag_format(const struct tls_verdict *);
/* The same with head for "verdict" in its "verdict: OK" line. */
char	*tls_diag_format_as(const struct tls_verdict *, const char *head);

/*
 * Make a self-signed server certificate (RSA 3072, SHA-256) for cn (also
 * its DNS SAN) valid for days, written as PEM to cert_path (0644) and
 * key_path (0640). 0, or -1 with *err.
 */
int	 tls_diag_cert_new(const char *cert_path, const char *key_path,
	    const char *cn, int days, char **err);

#endif
