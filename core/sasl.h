/*
 * sasl: both sides of SMTP AUTH through libgsasl.
 *
 * Owns the choice of mechanism and the challenge/response steps in base64.
 * Promises: only allow-listed mechanisms are ever used (SCRAM-SHA-256,
 * SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN — never GSSAPI, NTLM or anything
 * libgsasl might pick by itself); among those the server offers, the
 * strongest wins; --auth-login forces LOGIN. Nothing here logs secrets.
 * Whether credentials may be sent on a connection (TLS or
 * --allow-plaintext-auth) is smtp_client's decision.
 *
 * Server side: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and LOGIN against the
 * `users` table (users.h), fed to libgsasl through its property callback
 * (SCRAM secrets passed in base64 as stored, which libgsasl 2.x decodes
 * whatever its header says; PLAIN and LOGIN checked by
 * users_check_password()). An unknown name gets a fake
 * salt derived from the name and a per-process key and a full-cost
 * derivation, so neither the salt nor the timing tells names apart.
 * Whether AUTH is offered at all (TLS, smtpd_plaintext_auth) is
 * smtp_server's decision.
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

struct users;
struct sasl_server;

/* Mechanisms the server offers, strongest first, for the EHLO AUTH line. */
#define SASL_SERVER_MECHS	"SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN"

/*
 * Start a server exchange for mech (case-insensitive) against users (kept
 * by the caller for the exchange's lifetime). NULL with *err when the
 * mechanism is not one of SASL_SERVER_MECHS or libgsasl fails.
 */
struct sasl_server *sasl_server_new(const char *mech,
		    const struct users *users, char **err);
/* Does the mechanism expect an initial response (all but LOGIN)? */
int		 sasl_server_client_first(const struct sasl_server *);
/*
 * One step: in is the client's base64 text (the initial response, "" for
 * an empty one, or a line after a 334). SASL_STEP_MORE: send
 * "334 " *out. SASL_STEP_DONE: authenticated, *out is NULL.
 * SASL_STEP_ERROR: *err says why; *bad_input is 1 when the client sent
 * malformed data (501) rather than wrong credentials (535).
 */
enum sasl_step	 sasl_server_step(struct sasl_server *, const char *in,
		    char **out, int *bad_input, char **err);
/* The authentication identity given by the client (after a step), or NULL. */
const char	*sasl_server_user(const struct sasl_server *);
const char	*sasl_server_mech(const struct sasl_server *);
void		 sasl_server_free(struct sasl_server *);

/* Is mech (case-insensitive) on the allow list? */
int		 sasl_mech_allowed(const char *mech);

#endif
