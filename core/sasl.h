/*
 * sasl: the client side of SMTP AUTH through libgsasl.
 *
 * Owns the choice of mechanism and the challenge/response steps in base64.
 * Promises: only allow-listed mechanisms are ever used (SCRAM-SHA-256,
 * SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN — never GSSAPI, NTLM or anything
 * libgsasl might pick by itself); among those the server offers, the
 * strongest wins; --auth-login forces LOGIN. Nothing here logs secrets.
 * Whether credentials may be sent on a connection (TLS or
 * --allow-plaintext-auth) is smtp_client's decision.
 */
#ifndef HIKYAKU_SASL_H
#define HIKYAKU_SASL_H

struct sasl_client;

enum sasl_step {
	SASL_STEP_ERROR = -1,	/* *err says why */
	SASL_STEP_MORE,		/* send *out, expect another challenge */
	SASL_STEP_DONE,		/* send *out (may be ""), then expect 235 */
};

/*
 * Start an exchange. server_mechs is the EHLO AUTH parameter list
 * ("PLAIN LOGIN CRAM-MD5"); force_login is --auth-login. Returns NULL with
 * *err (allocated) when no allowed mechanism is offered or libgsasl fails.
 */
struct sasl_client *sasl_client_new(const char *server_mechs,
		    const char *user, const char *pass, int force_login,
		    const char *hostname, char **err);
/* The chosen mechanism name, as sent in "AUTH <mech>". */
const char	*sasl_client_mech(const struct sasl_client *);
/*
 * One step. First call with in NULL, before sending AUTH: *out is the
 * initial response, or NULL for mechanisms where the server speaks first
 * (LOGIN, CRAM-MD5). Then in is each 334 challenge's base64 text and *out
 * the base64 response to send (allocated, may be "").
 */
enum sasl_step	 sasl_client_step(struct sasl_client *, const char *in,
		    char **out, char **err);
void		 sasl_client_free(struct sasl_client *);

/* Is mech (case-insensitive) on the allow list? */
int		 sasl_mech_allowed(const char *mech);

#endif
