/*
 * sasl: client AUTH through libgsasl with an allow-list of mechanisms.
 * See sasl.h.
 */
#include <stdlib.h>
#include <string.h>

#include <gsasl.h>

#include "sasl.h"
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
