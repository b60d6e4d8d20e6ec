/*
 * sasl: client AUTH through libgsasl with an allow-list of mechanisms,
 * and server AUTH against the users table. See sasl.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gsasl.h>

#include "sasl.h"
#include "users.h"
#include "util.h"

struct sasl_client {
	Gsasl_session	*sctx;
	char		*mech;
	int		 server_first;	/* no initial response */
};

/*
 * What we are willing to use. libgsasl's own ranking (weakest first)
 * picks among these; GSSAPI, NTLM, -PLUS variants without channel binding
 * and anything else it might know never get the chance.
 */
static const char *const allowed[] = {
	"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN",
};

static Gsasl *gsasl_ctx;

int
sasl_mech_allowed(const char *mech)
{
	size_t i;

	for (i = 0; i < nitems(allowed); i++)
		if (ascii_strcasecmp(mech, allowed[i]) == 0)
			return 1;
	return 0;
}

/* The server's list reduced to allowed mechanisms, upper-cased. */
static char *
filter_mechs(const char *server_mechs)
{
	struct buf b;
	const char *p = server_mechs, *end;
	char word[64];

	buf_init(&b);
	while (p != NULL && *(p = skip_ws(p)) != '\0') {
		end = p + strcspn(p, " \t");
		if ((size_t)(end - p) < sizeof(word)) {
			memcpy(word, p, end - p);
			word[end - p] = '\0';
			if (sasl_mech_allowed(word)) {
				size_t i;

				for (i = 0; word[i]; i++)
					if (word[i] >= 'a' && word[i] <= 'z')
						word[i] -= 'a' - 'A';
				if (b.len)
					buf_addch(&b, ' ');
				buf_addstr(&b, word);
			}
		}
		p = end;
	}
	return buf_take(&b);
}

struct sasl_client *
sasl_client_new(const char *server_mechs, const char *user, const char *pass,
    int force_login, const char *hostname, char **err)
{
	struct sasl_client *sc;
	const char *mech;
	char *mechs;
	int rc;

	if (gsasl_ctx == NULL && (rc = gsasl_init(&gsasl_ctx)) != GSASL_OK) {
		xasprintf(err, "libgsasl: %s", gsasl_strerror(rc));
		gsasl_ctx = NULL;
		return NULL;
	}
	mechs = filter_mechs(server_mechs);
	if (force_login) {
		/* --auth-login is nullmailer's "use LOGIN even if not
		 * advertised": some servers accept it without listing it. */
		mech = "LOGIN";
	} else if ((mech = gsasl_client_suggest_mechanism(gsasl_ctx,
	    mechs)) == NULL) {
		xasprintf(err, "no usable AUTH mechanism: the server offers "
		    "\"%s\", we use only SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, "
		    "PLAIN and LOGIN", server_mechs ? server_mechs : "");
		free(mechs);
		return NULL;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->mech = xstrdup(mech);
	free(mechs);
	if ((rc = gsasl_client_start(gsasl_ctx, sc->mech, &sc->sctx)) !=
	    GSASL_OK) {
		xasprintf(err, "AUTH %s: libgsasl: %s", sc->mech,
		    gsasl_strerror(rc));
		sasl_client_free(sc);
		return NULL;
	}
	gsasl_property_set(sc->sctx, GSASL_AUTHID, user);
	gsasl_property_set(sc->sctx, GSASL_PASSWORD, pass);
	gsasl_property_set(sc->sctx, GSASL_SERVICE, "smtp");
	if (hostname != NULL)
		gsasl_property_set(sc->sctx, GSASL_HOSTNAME, hostname);
	sc->server_first = strcmp(sc->mech, "LOGIN") == 0 ||
	    strcmp(sc->mech, "CRAM-MD5") == 0;
	return sc;
}

const char *
sasl_client_mech(const struct sasl_client *sc)
{
	return sc->mech;
}

enum sasl_step
sasl_client_step(struct sasl_client *sc, const char *in, char **out,
    char **err)
{
	char *o = NULL;
	int rc;

	*out = NULL;
	if (in == NULL && sc->server_first)
		return SASL_STEP_MORE;
	rc = gsasl_step64(sc->sctx, in ? in : "", &o);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		/* libgsasl's words name the failure (bad base64, a SCRAM
		 * server signature that does not match), never the secret. */
		xasprintf(err, "AUTH %s: %s", sc->mech, gsasl_strerror(rc));
		gsasl_free(o);
		return SASL_STEP_ERROR;
	}
	*out = xstrdup(o ? o : "");
	gsasl_free(o);
	return rc == GSASL_OK ? SASL_STEP_DONE : SASL_STEP_MORE;
}

void
sasl_client_free(struct sasl_client *sc)
{
	if (sc == NULL)
		return;
	if (sc->sctx != NULL)
		gsasl_finish(sc->sctx);
	free(sc->mech);
	free(sc);
}

/* Server side */

struct sasl_server {
	Gsasl_session		*sctx;
	const struct users	*users;
	char			*mech;
	char			*user;		/* authid once known */
	int			 final_sent;	/* SCRAM's v= went in a 334 */
};

static const char *const server_mechs[] = {
	"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN",
};

/* Per-process key for the fake secrets of unknown names. */
static unsigned char fake_key[32];
static int fake_key_set;

/* HMAC-SHA-256(fake_key, what ":" name), cut to len bytes, as base64. */
static char *
fake_b64(const char *what, const char *name, size_t len)
{
	unsigned char mac[32];
	char *in, *out = NULL, *s;
	size_t outlen;

	if (!fake_key_set) {
		if (gnutls_rnd(GNUTLS_RND_KEY, fake_key,
		    sizeof(fake_key)) < 0)
			return NULL;
		fake_key_set = 1;
	}
	xasprintf(&in, "%s:%s", what, name);
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, fake_key, sizeof(fake_key),
	    in, strlen(in), mac) < 0) {
		free(in);
		return NULL;
	}
	free(in);
	if (len > sizeof(mac))
		len = sizeof(mac);
	if (gsasl_base64_to((const char *)mac, len, &out, &outlen) !=
	    GSASL_OK)
		return NULL;
	s = xstrndup(out, outlen);
	gsasl_free(out);
	return s;
}

/*
 * SCRAM properties for the current authid, real or fake. The keys go to
 * libgsasl in base64, as stored: its header calls them hex-encoded, but
 * the 2.x SCRAM server decodes base64 (what gsasl --mkpasswd prints), and
 * test_users proves an exchange against keys given this way.
 */
static int
scram_property(struct sasl_server *ss, Gsasl_property prop)
{
	const char *name = gsasl_property_fast(ss->sctx, GSASL_AUTHID);
	const struct users_entry *e = users_find(ss->users, name);
	int sha1 = strcmp(ss->mech, "SCRAM-SHA-1") == 0;
	const struct users_secret *sec = NULL;
	char *fake, iter[16];
	int rc;

	if (name == NULL)
		return GSASL_NO_AUTHID;
	if (e != NULL)
		sec = sha1 ? &e->sha1 : &e->sha256;
	if (sec != NULL && sec->iter == 0)
		sec = NULL;
	switch (prop) {
	case GSASL_SCRAM_ITER:
		snprintf(iter, sizeof(iter), "%u", sec != NULL ? sec->iter :
		    USERS_ITERATIONS);
		return gsasl_property_set(ss->sctx, prop, iter);
	case GSASL_SCRAM_SALT:
		if (sec != NULL)
			return gsasl_property_set(ss->sctx, prop, sec->salt);
		fake = fake_b64("salt", name, USERS_SALT_LEN);
		break;
	case GSASL_SCRAM_STOREDKEY:
		if (sec != NULL)
			return gsasl_property_set(ss->sctx, prop,
			    sec->stored_key);
		fake = fake_b64("stored", name, sha1 ? 20 : 32);
		break;
	case GSASL_SCRAM_SERVERKEY:
		if (sec != NULL)
			return gsasl_property_set(ss->sctx, prop,
			    sec->server_key);
		fake = fake_b64("server", name, sha1 ? 20 : 32);
		break;
	default:
		return GSASL_NO_CALLBACK;
	}
	if (fake == NULL)
		return GSASL_AUTHENTICATION_ERROR;
	rc = gsasl_property_set(ss->sctx, prop, fake);
	free(fake);
	return rc;
}

static int
server_callback(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
	struct sasl_server *ss = gsasl_session_hook_get(sctx);
	const char *name, *pass, *authz;

	if (ss == NULL)
		return GSASL_NO_CALLBACK;	/* a client session */
	switch (prop) {
	case GSASL_SCRAM_ITER:
	case GSASL_SCRAM_SALT:
	case GSASL_SCRAM_STOREDKEY:
	case GSASL_SCRAM_SERVERKEY:
		return scram_property(ss, prop);
	case GSASL_VALIDATE_SIMPLE:
		name = gsasl_property_fast(sctx, GSASL_AUTHID);
		pass = gsasl_property_fast(sctx, GSASL_PASSWORD);
		authz = gsasl_property_fast(sctx, GSASL_AUTHZID);
		if (name == NULL || pass == NULL)
			return GSASL_AUTHENTICATION_ERROR;
		/* Acting for someone else is not a thing we grant. */
		if (authz != NULL && *authz != '\0' && strcmp(authz, name) != 0)
			return GSASL_AUTHENTICATION_ERROR;
		return users_check_password(users_find(ss->users, name),
		    pass) ? GSASL_OK : GSASL_AUTHENTICATION_ERROR;
	default:
		return GSASL_NO_CALLBACK;
	}
}

struct sasl_server *
sasl_server_new(const char *mech, const struct users *users, char **err)
{
	struct sasl_server *ss;
	size_t i;
	int rc;

	for (i = 0; i < nitems(server_mechs); i++)
		if (ascii_strcasecmp(mech, server_mechs[i]) == 0)
			break;
	if (i == nitems(server_mechs)) {
		xasprintf(err, "mechanism not offered");
		return NULL;
	}
	if (gsasl_ctx == NULL && (rc = gsasl_init(&gsasl_ctx)) != GSASL_OK) {
		xasprintf(err, "libgsasl: %s", gsasl_strerror(rc));
		gsasl_ctx = NULL;
		return NULL;
	}
	gsasl_callback_set(gsasl_ctx, server_callback);
	ss = xcalloc(1, sizeof(*ss));
	ss->users = users;
	ss->mech = xstrdup(server_mechs[i]);
	if ((rc = gsasl_server_start(gsasl_ctx, ss->mech, &ss->sctx)) !=
	    GSASL_OK) {
		xasprintf(err, "libgsasl: %s", gsasl_strerror(rc));
		sasl_server_free(ss);
		return NULL;
	}
	gsasl_session_hook_set(ss->sctx, ss);
	gsasl_property_set(ss->sctx, GSASL_SERVICE, "smtp");
	return ss;
}

int
sasl_server_client_first(const struct sasl_server *ss)
{
	return strcmp(ss->mech, "LOGIN") != 0;
}

static void
server_note_user(struct sasl_server *ss)
{
	const char *name = gsasl_property_fast(ss->sctx, GSASL_AUTHID);

	if (name != NULL && (ss->user == NULL || strcmp(ss->user, name))) {
		free(ss->user);
		ss->user = xstrdup(name);
	}
}

enum sasl_step
sasl_server_step(struct sasl_server *ss, const char *in, char **out,
    int *bad_input, char **err)
{
	const char *authz;
	char *o = NULL;
	int rc;

	*out = NULL;
	*bad_input = 0;
	if (ss->final_sent) {
		/* RFC 4954: the client answers SCRAM's last 334 with "". */
		if (*in != '\0') {
			*bad_input = 1;
			xasprintf(err, "unexpected data after the server's "
			    "final message");
			return SASL_STEP_ERROR;
		}
		return SASL_STEP_DONE;
	}
	rc = gsasl_step64(ss->sctx, in, &o);
	server_note_user(ss);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		gsasl_free(o);
		*bad_input = rc == GSASL_BASE64_ERROR ||
		    rc == GSASL_MECHANISM_PARSE_ERROR;
		xasprintf(err, "%s", gsasl_strerror(rc));
		return SASL_STEP_ERROR;
	}
	if (rc == GSASL_NEEDS_MORE) {
		*out = xstrdup(o != NULL ? o : "");
		gsasl_free(o);
		return SASL_STEP_MORE;
	}
	authz = gsasl_property_fast(ss->sctx, GSASL_AUTHZID);
	if (ss->user == NULL || (authz != NULL && *authz != '\0' &&
	    strcmp(authz, ss->user) != 0)) {
		gsasl_free(o);
		xasprintf(err, "authorization identity differs from the "
		    "authentication identity");
		return SASL_STEP_ERROR;
	}
	if (o != NULL && *o != '\0') {
		/* SMTP has no "additional data with success". */
		*out = xstrdup(o);
		gsasl_free(o);
		ss->final_sent = 1;
		return SASL_STEP_MORE;
	}
	gsasl_free(o);
	return SASL_STEP_DONE;
}

const char *
sasl_server_user(const struct sasl_server *ss)
{
	return ss->user;
}

const char *
sasl_server_mech(const struct sasl_server *ss)
{
	return ss->mech;
}

void
sasl_server_free(struct sasl_server *ss)
{
	if (ss == NULL)
		return;
	if (ss->sctx != NULL)
		gsasl_finish(ss->sctx);
	free(ss->mech);
	free(ss->user);
	free(ss);
}
