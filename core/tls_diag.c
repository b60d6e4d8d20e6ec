/*
 * tls_diag: the verdict on a TLS connection or local certificate files,
 * in words, with the fix. See tls_diag.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "remotes.h"
#include "config.h"
#include "tls_diag.h"
#include "util.h"

#define EXPIRY_WARN_DAYS	30
#define MIN_RSA_BITS		2048
#define MIN_EC_BITS		224
/* Whose job a fix for the peer's certificates is. */
#define PEER_ADMIN		"the server's admin must "
/* A peer's clock this far from ours is worth mentioning (seconds). */
#define CLOCK_SKEW_MAX		(15 * 60)

void
tls_diag_init(struct tls_verdict *v)
{
	memset(v, 0, sizeof(*v));
}

static void
cert_info_free(struct tls_cert_info *ci)
{
	free(ci->subject);
	free(ci->issuer);
	for (size_t i = 0; i < ci->nsans; i++)
		free(ci->sans[i]);
	free(ci->sans);
	free(ci->key_algo);
	free(ci->sig_algo);
}

void
tls_diag_free(struct tls_verdict *v)
{
	size_t i;

	free(v->protocol);
	free(v->cipher);
	for (i = 0; i < v->nchain; i++)
		cert_info_free(&v->chain[i]);
	free(v->chain);
	for (i = 0; i < v->nfindings; i++) {
		free(v->findings[i].text);
		free(v->findings[i].fix);
	}
	free(v->findings);
	memset(v, 0, sizeof(*v));
}

/* Add a finding; fix may be NULL (nothing for the reader to type). */
static void
add_finding(struct tls_verdict *v, enum tls_diag_code code,
    enum tls_diag_severity sev, char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
add_finding(struct tls_verdict *v, enum tls_diag_code code,
    enum tls_diag_severity sev, char *fix, const char *fmt, ...)
{
	struct tls_finding *f;
	va_list ap;

	v->findings = xreallocarray(v->findings, v->nfindings + 1,
	    sizeof(*v->findings));
	f = &v->findings[v->nfindings++];
	f->code = code;
	f->severity = sev;
	f->fix = fix;
	va_start(ap, fmt);
	xvasprintf(&f->text, fmt, ap);
	va_end(ap);
}

static char *
fix_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
fix_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	return s;
}

static void
format_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

/* "remotes line 3" or "the command line", for sentences. */
static char *
remote_where(const struct remote *r)
{
	char *s;
	const char *base;

	if (r == NULL || r->file == NULL || r->line <= 0)
		return xstrdup("the command line");
	base = strrchr(r->file, '/');
	xasprintf(&s, "%s line %d", base ? base + 1 : r->file, r->line);
	return s;
}

/* The host:port a fix should name in a `hikyaku tls check` line. */
static char *
remote_target(const struct remote *r)
{
	char *s;

	if (r == NULL || r->host == NULL)
		return xstrdup("HOST:PORT");
	xasprintf(&s, "%s:%d", r->host, r->port);
	return s;
}

/* ---- certificates in words ---------------------------------------- */

static char *
crt_dn(gnutls_x509_crt_t crt, int issuer)
{
	gnutls_datum_t d = { NULL, 0 };
	char *s;
	int rc;

	rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0) :
	    gnutls_x509_crt_get_dn3(crt, &d, 0);
	if (rc < 0)
		return xstrdup("(unreadable name)");
	s = xstrndup((const char *)d.data, d.size);
	gnutls_free(d.data);
	return s;
}

static void
crt_sans(gnutls_x509_crt_t crt, struct tls_cert_info *ci)
{
	char name[512];
	size_t len;
	unsigned i, type;
	int rc;

	for (i = 0;; i++) {
		len = sizeof(name) - 1;
		rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, name, &len,
		    &type, NULL);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc < 0)
			continue;
		if (type == GNUTLS_SAN_IPADDRESS) {
			char ip[INET6_ADDRSTRLEN];

			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, name, ip,
			    sizeof(ip)) == NULL)
				continue;
			ci->sans = xreallocarray(ci->sans, ci->nsans + 1,
			    sizeof(char *));
			ci->sans[ci->nsans++] = xstrdup(ip);
		} else if (type == GNUTLS_SAN_DNSNAME) {
			ci->sans = xreallocarray(ci->sans, ci->nsans + 1,
			    sizeof(char *));
			ci->sans[ci->nsans++] = xstrndup(name, len);
		}
	}
}

/* What judge_cert_strength reads: subject, key, signature, self-issued. */
static void
cert_strength_fill(struct tls_cert_info *ci, gnutls_x509_crt_t crt)
{
	unsigned bits = 0;
	int algo, sig;
	const char *name;

	ci->subject = crt_dn(crt, 0);
	algo = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	name = algo >= 0 ? gnutls_pk_algorithm_get_name(algo) : NULL;
	ci->key_algo = xstrdup(name ? name : "unknown");
	ci->key_bits = bits;
	sig = gnutls_x509_crt_get_signature_algorithm(crt);
	name = sig >= 0 ? gnutls_sign_get_name(sig) : NULL;
	ci->sig_algo = xstrdup(name ? name : "unknown");
	ci->self_issued = gnutls_x509_crt_check_issuer(crt, crt) != 0;
}

static void
cert_info_fill(struct tls_cert_info *ci, gnutls_x509_crt_t crt)
{
	unsigned char fp[32];
	size_t fplen = sizeof(fp), i;
	unsigned critical = 0;
	time_t now = time(NULL);

	memset(ci, 0, sizeof(*ci));
	cert_strength_fill(ci, crt);
	ci->issuer = crt_dn(crt, 1);
	crt_sans(crt, ci);
	ci->not_before = gnutls_x509_crt_get_activation_time(crt);
	ci->not_after = gnutls_x509_crt_get_expiration_time(crt);
	/* Round down: "0 days left" means it ends within a day. */
	ci->days_left = (long)((ci->not_after - now) / 86400);
	if (ci->not_after < now && ci->days_left == 0)
		ci->days_left = -1;
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp,
	    &fplen) == 0)
		for (i = 0; i < fplen && i * 3 + 3 <= sizeof(ci->sha256); i++)
			snprintf(ci->sha256 + i * 3, 4, "%02X%s", fp[i],
			    i + 1 < fplen ? ":" : "");
	ci->is_ca = gnutls_x509_crt_get_ca_status(crt, &critical) > 0;
}

static void
chain_add(struct tls_verdict *v, gnutls_x509_crt_t crt)
{
	v->chain = xreallocarray(v->chain, v->nchain + 1, sizeof(*v->chain));
	cert_info_fill(&v->chain[v->nchain++], crt);
}

/* "mx.example.net (SANs: mx.example.net, example.net)" */
static char *
cert_names(const struct tls_cert_info *ci, gnutls_x509_crt_t crt)
{
	char cn[256];
	size_t len = sizeof(cn);
	struct buf b;

	buf_init(&b);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, cn, &len) == 0)
		buf_addstr(&b, cn);
	else
		buf_addstr(&b, ci->subject);
	for (size_t i = 0; i < ci->nsans; i++)
		buf_printf(&b, "%s%s", i == 0 ? " (SANs: " : ", ",
		    ci->sans[i]);
	buf_addstr(&b, ci->nsans ? ")" : " (no SANs)");
	return buf_take(&b);
}

/* The first name a fix may suggest: a DNS SAN, else the CN. */
static char *
cert_first_name(const struct tls_cert_info *ci, gnutls_x509_crt_t crt)
{
	char cn[256];
	size_t len = sizeof(cn);

	if (ci->nsans > 0)
		return xstrdup(ci->sans[0]);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, cn, &len) == 0)
		return xstrdup(cn);
	return xstrdup("the name in the certificate");
}

/*
 * A weak key or signature on one certificate. GnuTLS's default profile
 * lets weak keys through, and SHA-1 signatures where the system's policy
 * allows them, so a verified handshake is judged here too. The signature of a self-issued top certificate is
 * never checked by anyone (trust comes from the CA file), so top_root
 * skips it. who prefixes the fix: PEER_ADMIN, or "" for our own files.
 */
static void
judge_cert_strength(struct tls_verdict *v, const struct tls_cert_info *ci,
    int top_root, const char *who)
{
	int rsa = strcmp(ci->key_algo, "RSA") == 0 ||
	    strncmp(ci->key_algo, "RSA-", 4) == 0 ||
	    strcmp(ci->key_algo, "DSA") == 0;
	int ec = strncmp(ci->key_algo, "EC", 2) == 0;

	if ((rsa && ci->key_bits < MIN_RSA_BITS) ||
	    (ec && ci->key_bits < MIN_EC_BITS))
		add_finding(v, TLS_DIAG_WEAK_KEY, TLS_DIAG_ERROR,
		    fix_printf("%sissue a new certificate with a key of at "
		    "least %d bits (certtool --generate-privkey --bits 3072) "
		    "or an ECDSA key", who, rsa ? MIN_RSA_BITS : MIN_EC_BITS),
		    "weak key: %s has a %u-bit %s key (at least %d bits are "
		    "needed to be safe)", ci->subject, ci->key_bits,
		    ci->key_algo, rsa ? MIN_RSA_BITS : MIN_EC_BITS);
	if (top_root)
		return;
	if (strstr(ci->sig_algo, "SHA1") != NULL ||
	    strstr(ci->sig_algo, "MD5") != NULL ||
	    strstr(ci->sig_algo, "MD2") != NULL)
		add_finding(v, TLS_DIAG_WEAK_SIGNATURE, TLS_DIAG_ERROR,
		    fix_printf("%shave it reissued with a SHA-256 signature",
		    who), "weak signature: %s is signed with %s, which can be "
		    "forged", ci->subject, ci->sig_algo);
}

/* Certificate i of n is the self-issued root at the top of a chain. */
static int
is_top_root(const struct tls_cert_info *ci, size_t i, size_t n)
{
	return ci->self_issued && i + 1 == n && i > 0;
}

/* Every certificate of v->chain; who as for judge_cert_strength. */
static void
judge_strength(struct tls_verdict *v, const char *who)
{
	for (size_t i = 0; i < v->nchain; i++)
		judge_cert_strength(v, &v->chain[i],
		    is_top_root(&v->chain[i], i, v->nchain), who);
}

/* ---- CA and CRL files --------------------------------------------- */

struct reader {
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 groups[64];
	int	 ngroups;
	char	 name[64];
};

/* Who reads the CA file: user, or this process when user is unknown. */
static void
reader_load(struct reader *rd, const char *user)
{
	struct passwd *pw = user != NULL ? getpwnam(user) : NULL;

	memset(rd, 0, sizeof(*rd));
	if (pw == NULL) {
		rd->uid = geteuid();
		rd->gid = getegid();
		rd->ngroups = getgroups((int)nitems(rd->groups), rd->groups);
		if (rd->ngroups < 0)
			rd->ngroups = 0;
		pw = getpwuid(rd->uid);
		snprintf(rd->name, sizeof(rd->name), "%s",
		    pw ? pw->pw_name : "this user");
		return;
	}
	rd->uid = pw->pw_uid;
	rd->gid = pw->pw_gid;
	snprintf(rd->name, sizeof(rd->name), "%s", pw->pw_name);
	rd->ngroups = (int)nitems(rd->groups);
	if (getgrouplist(pw->pw_name, pw->pw_gid, rd->groups,
	    &rd->ngroups) == -1)
		rd->ngroups = 0;
}

static int
reader_can(const struct reader *rd, const struct stat *st, mode_t u,
    mode_t g, mode_t o)
{
	if (rd->uid == 0)
		return 1;
	if (rd->uid == st->st_uid)
		return (st->st_mode & u) != 0;
	if (rd->gid == st->st_gid)
		return (st->st_mode & g) != 0;
	for (int i = 0; i < rd->ngroups; i++)
		if (rd->groups[i] == st->st_gid)
			return (st->st_mode & g) != 0;
	return (st->st_mode & o) != 0;
}

/*
 * Can rd open path? Every directory on the way needs search permission,
 * the file read permission; on failure *fix says what to type.
 */
static int
reader_can_read_path(const struct reader *rd, const char *path,
    char **why, char **fix)
{
	char *copy = xstrdup(path), *slash;
	struct stat st;
	struct group *gr;
	const char *grp;

	/* The directories first: a 0700 /etc/hikyaku hides every file. */
	for (slash = strchr(copy + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (stat(copy, &st) == 0 && !reader_can(rd, &st, S_IXUSR,
		    S_IXGRP, S_IXOTH)) {
			xasprintf(why, "directory %s (mode %04o) cannot be "
			    "entered by user %s", copy,
			    (unsigned)(st.st_mode & 07777), rd->name);
			xasprintf(fix, "chmod o+x %s", copy);
			free(copy);
			return 0;
		}
		*slash = '/';
	}
	free(copy);
	if (stat(path, &st) == -1 || reader_can(rd, &st, S_IRUSR, S_IRGRP,
	    S_IROTH))
		return 1;
	gr = getgrgid(rd->gid);
	grp = gr ? gr->gr_name : "GROUP";
	xasprintf(why, "CA file %s (mode %04o) is not readable by user %s, "
	    "which the daemon runs as", path, (unsigned)(st.st_mode & 07777),
	    rd->name);
	/* A CA file holds no secret: readable by all is the usual fix. */
	xasprintf(fix, "chmod 0644 %s   (or keep it private to the daemon: "
	    "chgrp %s %s && chmod 0640 %s)", path, grp, path, path);
	return 0;
}

/* Count certificates (or CRLs) in data read as fmt; 0 when none parse. */
static unsigned
count_in(const gnutls_datum_t *data, gnutls_x509_crt_fmt_t fmt, int crl)
{
	unsigned n = 0, i;

	if (crl) {
		gnutls_x509_crl_t *crls = NULL;

		if (gnutls_x509_crl_list_import2(&crls, &n, data, fmt, 0) < 0)
			return 0;
		for (i = 0; i < n; i++)
			gnutls_x509_crl_deinit(crls[i]);
		gnutls_free(crls);
	} else {
		gnutls_x509_crt_t *crts = NULL;

		if (gnutls_x509_crt_list_import2(&crts, &n, data, fmt, 0) < 0)
			return 0;
		for (i = 0; i < n; i++)
			gnutls_x509_crt_deinit(crts[i]);
		gnutls_free(crts);
	}
	return n;
}

/* Judge one referenced file; returns 0 when it is usable. */
static int
judge_file(struct tls_verdict *v, const struct remote *r, const char *path,
    const char *what, int crl, const struct reader *rd)
{
	gnutls_datum_t data;
	char *why = NULL, *fix = NULL, *where = remote_where(r), *content;
	size_t len;
	int der = r->x509fmtder, rc = -1;
	unsigned as_set, as_other;

	if (access(path, F_OK) == -1 && errno == ENOENT) {
		add_finding(v, TLS_DIAG_CA_MISSING, TLS_DIAG_ERROR,
		    fix_printf("correct the path in --x509%sfile on %s%s",
		    crl ? "crl" : "ca", where, crl ? "" : ", or drop the "
		    "option to use the system CA bundle"),
		    "%s %s does not exist", what, path);
		goto out;
	}
	if (!reader_can_read_path(rd, path, &why, &fix)) {
		add_finding(v, TLS_DIAG_CA_UNREADABLE, TLS_DIAG_ERROR, fix,
		    "%s", why);
		free(why);
		goto out;
	}
	if ((content = read_file(path, &len)) == NULL) {
		add_finding(v, TLS_DIAG_CA_UNREADABLE, TLS_DIAG_ERROR,
		    fix_printf("chmod 0644 %s", path), "cannot read %s %s: %s",
		    what, path, strerror(errno));
		goto out;
	}
	data.data = (unsigned char *)content;
	data.size = (unsigned)len;
	as_set = count_in(&data, der ? GNUTLS_X509_FMT_DER :
	    GNUTLS_X509_FMT_PEM, crl);
	as_other = as_set ? 0 : count_in(&data, der ? GNUTLS_X509_FMT_PEM :
	    GNUTLS_X509_FMT_DER, crl);
	free(content);
	if (as_set > 0)
		rc = 0;
	else if (as_other > 0 && der)
		add_finding(v, TLS_DIAG_CA_FORMAT, TLS_DIAG_ERROR,
		    fix_printf("remove --x509fmtder from %s (the file is PEM)",
		    where), "%s %s is PEM (text with \"-----BEGIN\" lines) "
		    "but --x509fmtder makes it be read as DER", what, path);
	else if (as_other > 0)
		add_finding(v, TLS_DIAG_CA_FORMAT, TLS_DIAG_ERROR,
		    fix_printf("add --x509fmtder to %s (the file is DER), "
		    "or convert it: certtool --infile %s --inder "
		    "--certificate-info > %s.pem", where, path, path),
		    "%s %s is DER (binary) but is read as PEM", what, path);
	else
		add_finding(v, TLS_DIAG_CA_EMPTY, TLS_DIAG_ERROR,
		    fix_printf("check that --x509%sfile on %s names a %s "
		    "file, in PEM (or DER with --x509fmtder)",
		    crl ? "crl" : "ca", where, crl ? "CRL" : "certificate"),
		    "%s %s holds no %s in PEM or DER", what, path,
		    crl ? "CRL" : "certificate");
out:
	free(where);
	return rc;
}

void
tls_diag_files(struct tls_verdict *v, const struct remote *r,
    const char *user)
{
	struct reader rd;

	if (r == NULL)
		return;
	reader_load(&rd, user);
	if (r->x509cafile != NULL &&
	    judge_file(v, r, r->x509cafile, "CA file", 0, &rd) == -1)
		v->ca_failed = 1;
	if (r->x509crlfile != NULL)
		judge_file(v, r, r->x509crlfile, "CRL file", 1, &rd);
}

/* ---- the handshake ------------------------------------------------ */

static const char *
ca_source(const struct remote *r)
{
	return r != NULL && r->x509cafile != NULL ? r->x509cafile :
	    "the system CA bundle";
}

/*
 * GNUTLS_CERT_SIGNER_NOT_FOUND covers three cases that need different
 * fixes; the chain tells them apart (DESIGN §12 "TLS verdicts").
 */
static void
judge_signer(struct tls_verdict *v, const struct tls_diag_input *in)
{
	const struct tls_cert_info *top = &v->chain[v->nchain - 1];
	char *where = remote_where(in->remote), *target;
	/* The directory in use, not a guess: installs differ (--sysconfdir). */
	const char *dir = in->confdir ? in->confdir : config_default_dir();

	target = remote_target(in->remote);
	if (top->self_issued && v->nchain == 1)
		add_finding(v, TLS_DIAG_SELF_SIGNED, TLS_DIAG_ERROR,
		    fix_printf("if this is the server you expect (compare "
		    "its SHA-256 fingerprint with its admin), save its "
		    "certificate and trust it: hikyaku tls check %s "
		    "--save-chain %s/%s.pem, then add "
		    "--x509cafile=%s/%s.pem to %s", target, dir,
		    in->hostname ? in->hostname : "server", dir,
		    in->hostname ? in->hostname : "server", where),
		    "self-signed certificate: %s signed its own certificate "
		    "and it is not in %s", top->subject,
		    ca_source(in->remote));
	else if (top->self_issued)
		add_finding(v, TLS_DIAG_UNKNOWN_CA, TLS_DIAG_ERROR,
		    fix_printf("get the certificate of the CA %s (from the "
		    "server's admin, or save it with hikyaku tls check %s "
		    "--save-chain FILE after checking its fingerprint) and "
		    "pass it: --x509cafile=FILE on %s", top->subject, target,
		    where),
		    "unknown CA: the chain ends in root %s, which is not in %s",
		    top->subject, ca_source(in->remote));
	else if (!top->is_ca)
		add_finding(v, TLS_DIAG_MISSING_INTERMEDIATE, TLS_DIAG_ERROR,
		    fix_printf("the server's admin must send the full chain "
		    "(certificate followed by the intermediate %s); until "
		    "then, append that intermediate to your CA file: cat "
		    "intermediate.pem >> %s", top->issuer,
		    in->remote && in->remote->x509cafile ?
		    in->remote->x509cafile : "ca.pem (and pass "
		    "--x509cafile=ca.pem)"),
		    "missing intermediate: the server did not send the "
		    "intermediate certificate %s that signed its certificate, "
		    "and it is not in %s (if %s is a root CA, not an "
		    "intermediate, it is an unknown CA: pass its certificate "
		    "with --x509cafile)", top->issuer, ca_source(in->remote),
		    top->issuer);
	else
		add_finding(v, TLS_DIAG_UNKNOWN_CA, TLS_DIAG_ERROR,
		    fix_printf("get the root certificate %s from the "
		    "server's admin and pass it: --x509cafile=FILE on %s",
		    top->issuer, where),
		    "unknown CA: %s was issued by %s, which is not in %s",
		    top->subject, top->issuer, ca_source(in->remote));
	free(target);
	free(where);
}

/*
 * The date in an SMTP greeting ("220 mx ESMTP Sendmail; Sun, 22 Nov 2026
 * 15:00:00 +0000"), or -1. Only RFC 5322 dates: anything else is not
 * trusted to say what time the peer thinks it is.
 */
static time_t
banner_date(const char *banner)
{
	const char *p;
	struct tm tm;
	char *end;

	if (banner == NULL)
		return -1;
	for (p = banner; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) ||
		    (p > banner && isalnum((unsigned char)p[-1])))
			continue;
		memset(&tm, 0, sizeof(tm));
		end = strptime(p, "%d %b %Y %H:%M:%S %z", &tm);
		if (end != NULL)
			return timegm(&tm) - tm.tm_gmtoff;
	}
	return -1;
}

static void
judge_time(struct tls_verdict *v, const struct tls_diag_input *in,
    int expired)
{
	time_t now = time(NULL), peer = banner_date(in->banner), t = 0;
	char date[64], ours[64], theirs[64];
	const struct tls_cert_info *ci = NULL;
	const char *whose;
	size_t i;

	for (i = 0; i < v->nchain; i++) {
		t = expired ? v->chain[i].not_after : v->chain[i].not_before;
		if (expired ? t < now : t > now) {
			ci = &v->chain[i];
			break;
		}
	}
	if (ci == NULL)
		return;
	format_date(t, date, sizeof(date));
	format_date(now, ours, sizeof(ours));
	whose = i == 0 ? "the server's certificate" : "a certificate in its "
	    "chain";
	/*
	 * Our clock is the suspect when the peer's greeting carries a date
	 * inside the certificate's validity that differs from ours.
	 */
	if (peer != -1 && llabs((long long)(peer - now)) > CLOCK_SKEW_MAX &&
	    peer >= ci->not_before && peer <= ci->not_after) {
		format_date(peer, theirs, sizeof(theirs));
		add_finding(v, TLS_DIAG_CLOCK, TLS_DIAG_ERROR,
		    xstrdup("set this machine's clock: timedatectl "
		    "set-ntp true (or chronyc makestep; date -s for a "
		    "one-off)"),
		    "this machine's clock looks wrong: it says %s, the "
		    "server's greeting says %s, and by the server's date "
		    "%s (%s) is valid", ours, theirs, whose, ci->subject);
		return;
	}
	if (expired)
		add_finding(v, TLS_DIAG_EXPIRED, TLS_DIAG_ERROR,
		    fix_printf("the server's admin must renew %s%s", whose,
		    peer == -1 ? " (if this machine's clock is wrong "
		    "instead, set it: timedatectl set-ntp true)" : ""),
		    "certificate expired: %s (%s) expired on %s, %ld days "
		    "ago (this machine's clock says %s)", whose, ci->subject,
		    date, (long)((now - t) / 86400), ours);
	else
		add_finding(v, TLS_DIAG_NOT_YET_VALID, TLS_DIAG_ERROR,
		    fix_printf("if this machine's clock (%s) is right, the "
		    "server's admin installed a certificate dated in the "
		    "future and must replace it; if the clock is wrong, set "
		    "it: timedatectl set-ntp true", ours),
		    "certificate not yet valid: %s (%s) is valid only from "
		    "%s", whose, ci->subject, date);
}

static void
judge_hostname(struct tls_verdict *v, const struct tls_diag_input *in,
    gnutls_x509_crt_t leaf)
{
	char *names = cert_names(&v->chain[0], leaf);
	char *first = cert_first_name(&v->chain[0], leaf);
	const struct remote *r = in->remote;
	const char *host = in->hostname ? in->hostname : "?";

	if (r != NULL && r->file != NULL && r->line > 0) {
		char *where = remote_where(r);

		add_finding(v, TLS_DIAG_HOSTNAME, TLS_DIAG_ERROR,
		    fix_printf("edit %s: name the server as its certificate "
		    "does, %s instead of %s (or ask its admin for a "
		    "certificate that includes %s)", where, first, host, host),
		    "hostname mismatch: certificate is for %s, %s says %s",
		    names, where, host);
		free(where);
	} else
		add_finding(v, TLS_DIAG_HOSTNAME, TLS_DIAG_ERROR,
		    fix_printf("connect by a name the certificate holds, "
		    "e.g. %s (with --servername %s when checking an "
		    "address), or ask the server's admin for a certificate "
		    "that includes %s", first, first, host),
		    "hostname mismatch: certificate is for %s, not %s", names,
		    host);
	free(names);
	free(first);
}

static void
judge_revoked(struct tls_verdict *v, const struct tls_diag_input *in,
    gnutls_x509_crt_t *chain)
{
	unsigned char serial[64];
	size_t len = sizeof(serial), i;
	char hex[sizeof(serial) * 2 + 1] = "?";
	const char *crl = in->remote && in->remote->x509crlfile ?
	    in->remote->x509crlfile : "the CRL file";

	if (gnutls_x509_crt_get_serial(chain[0], serial, &len) == 0)
		for (i = 0; i < len; i++)
			snprintf(hex + i * 2, 3, "%02x", serial[i]);
	add_finding(v, TLS_DIAG_REVOKED, TLS_DIAG_ERROR,
	    fix_printf("the server's admin must replace the revoked "
	    "certificate; if %s is out of date, fetch the CA's current CRL",
	    crl),
	    "certificate revoked: %s (serial %s) is listed in %s",
	    v->chain[0].subject, hex, crl);
}

static int
has_code(const struct tls_verdict *v, enum tls_diag_code code)
{
	for (size_t i = 0; i < v->nfindings; i++)
		if (v->findings[i].code == code)
			return 1;
	return 0;
}

/* Alerts a server sends about the client certificate it got. */
static int
is_client_cert_alert(gnutls_alert_description_t alert)
{
	switch (alert) {
	case GNUTLS_A_CERTIFICATE_REQUIRED:
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_CERTIFICATE_EXPIRED:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_UNKNOWN_CA:
	case GNUTLS_A_ACCESS_DENIED:
		return 1;
	default:
		return 0;
	}
}

/*
 * The server asked for a client certificate (its CertificateRequest is
 * remembered by the session) and then ended the session: none was sent,
 * or the one sent was refused. 1 when a finding was added.
 */
static int
judge_client_cert(struct tls_verdict *v, gnutls_session_t s,
    const struct remote *r)
{
	/* GnuTLS keeps the last alert received; 0 (close notify) also
	 * stands for none, and says nothing about the certificate. */
	gnutls_alert_description_t alert = gnutls_alert_get(s);
	const char *name = alert != GNUTLS_A_CLOSE_NOTIFY ?
	    gnutls_alert_get_name(alert) : NULL;
	char *where;

	if (!gnutls_certificate_client_get_request_status(s))
		return 0;
	where = remote_where(r);
	if (gnutls_certificate_get_ours(s) == NULL)
		add_finding(v, TLS_DIAG_CLIENT_CERT, TLS_DIAG_ERROR,
		    fix_printf("add the client certificate and its key that "
		    "the server's admin gave you to %s: --x509certfile=CERT "
		    "--x509keyfile=KEY (one --x509certfile is enough when "
		    "the file holds both)", where),
		    "client certificate required: the server asked for a "
		    "client certificate, none was sent (no --x509certfile), "
		    "and it %s%s%s", name ? "refused the session (alert: " :
		    "hung up", name ? name : "", name ? ")" : "");
	else if (name != NULL && is_client_cert_alert(alert))
		add_finding(v, TLS_DIAG_CLIENT_CERT, TLS_DIAG_ERROR,
		    fix_printf("ask the server's admin which CA it trusts for "
		    "client certificates, and put a certificate from that CA "
		    "(valid today) in --x509certfile on %s", where),
		    "client certificate refused: the server did not accept "
		    "the certificate in %s (alert: %s)", r && r->x509certfile ?
		    r->x509certfile : "--x509certfile", name);
	else {
		free(where);
		return 0;
	}
	free(where);
	return 1;
}

/* --ssl, and the port closed the connection in the middle of the
 * handshake without a word of TLS: most likely not an implicit-TLS port. */
static void
ssl_port_closed(struct tls_verdict *v, const struct remote *r)
{
	char *where = remote_where(r);

	add_finding(v, TLS_DIAG_PLAINTEXT_PORT, TLS_DIAG_ERROR,
	    fix_printf("on %s, keep --ssl and use the server's implicit-TLS "
	    "port (--port=465), or replace --ssl with --starttls if this "
	    "port speaks plain SMTP first (587 or 25)", where),
	    "no TLS on port %d: the server closed the connection during "
	    "the TLS handshake (does the port speak implicit TLS? --ssl is "
	    "usually port 465)", r ? r->port : 0);
	free(where);
}

/* Handshake failures that have a known cause in words. */
static void
judge_handshake_error(struct tls_verdict *v, const struct tls_diag_input *in)
{
	const char *e = gnutls_strerror(in->handshake_rc);
	gnutls_alert_description_t alert;

	/* A TLS 1.2 server refuses a missing client certificate inside the
	 * handshake, with an alert or by hanging up. */
	if (judge_client_cert(v, in->session, in->remote))
		return;
	switch (in->handshake_rc) {
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PULL_ERROR:
		if (in->remote != NULL && in->remote->tls == REMOTE_TLS_SSL) {
			ssl_port_closed(v, in->remote);
			return;
		}
		break;
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
	case GNUTLS_E_UNEXPECTED_PACKET:
		/* "220 ..." read as a TLS record. */
		if (in->remote != NULL && in->remote->tls == REMOTE_TLS_SSL) {
			tls_diag_plaintext_banner(v, in->remote, NULL);
			return;
		}
		break;
	/* A TLS 1.0-only server answers our hello with its old version,
	 * or with a "protocol version" alert. */
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		alert = gnutls_alert_get(in->session);
		if (alert != GNUTLS_A_PROTOCOL_VERSION &&
		    alert != GNUTLS_A_INSUFFICIENT_SECURITY)
			break;
		e = gnutls_alert_get_name(alert);
		/* FALLTHROUGH */
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
	case GNUTLS_E_NO_PRIORITIES_WERE_SET:
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_NO_CIPHER_SUITES:
		add_finding(v, TLS_DIAG_HANDSHAKE, TLS_DIAG_ERROR,
		    xstrdup("the server's admin must enable TLS 1.2 or 1.3 "
		    "with current ciphers"),
		    "TLS handshake failed: %s (the server offers only old "
		    "protocols or ciphers)", e);
		return;
	default:
		break;
	}
	add_finding(v, TLS_DIAG_HANDSHAKE, TLS_DIAG_ERROR, NULL,
	    "TLS handshake failed: %s", e);
}

static void
no_peer_cert(struct tls_verdict *v)
{
	add_finding(v, TLS_DIAG_NO_CERT, TLS_DIAG_ERROR, NULL,
	    "the server sent no certificate");
}

/*
 * Certificate i the peer sent (raw) into *crt, which starts NULL and
 * needs gnutls_x509_crt_deinit() when it is no longer NULL. 0, or -1
 * after adding the finding.
 */
static int
peer_crt_import(struct tls_verdict *v, gnutls_x509_crt_t *crt,
    const gnutls_datum_t *raw, unsigned i)
{
	if (gnutls_x509_crt_init(crt) < 0 ||
	    gnutls_x509_crt_import(*crt, raw, GNUTLS_X509_FMT_DER) < 0) {
		add_finding(v, TLS_DIAG_OTHER, TLS_DIAG_ERROR, NULL,
		    "certificate %u sent by the server cannot be parsed", i);
		return -1;
	}
	return 0;
}

void
tls_diag_strength(struct tls_verdict *v, gnutls_session_t s)
{
	const gnutls_datum_t *raw;
	unsigned n = 0, i;

	raw = gnutls_certificate_get_peers(s, &n);
	if (raw == NULL || n == 0) {
		no_peer_cert(v);
		return;
	}
	for (i = 0; i < n; i++) {
		gnutls_x509_crt_t crt = NULL;
		struct tls_cert_info ci;

		if (peer_crt_import(v, &crt, &raw[i], i) == -1) {
			if (crt != NULL)
				gnutls_x509_crt_deinit(crt);
			return;
		}
		memset(&ci, 0, sizeof(ci));
		cert_strength_fill(&ci, crt);
		gnutls_x509_crt_deinit(crt);
		judge_cert_strength(v, &ci, is_top_root(&ci, i, n), PEER_ADMIN);
		cert_info_free(&ci);
	}
}

void
tls_diag_session(struct tls_verdict *v, const struct tls_diag_input *in)
{
	const gnutls_datum_t *raw;
	gnutls_x509_crt_t *chain = NULL;
	unsigned n = 0, i, status = 0, left;
	gnutls_session_t s = in->session;
	const char *name;
	int rc;

	if (s == NULL)
		return;
	raw = gnutls_certificate_get_peers(s, &n);
	if (raw == NULL || n == 0) {
		if (in->handshake_rc < 0 &&
		    in->handshake_rc != GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
			judge_handshake_error(v, in);
		else
			no_peer_cert(v);
		return;
	}
	if (in->handshake_rc == 0) {
		name = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
		v->protocol = xstrdup(name ? name : "unknown");
		name = gnutls_cipher_get_name(gnutls_cipher_get(s));
		v->cipher = xstrdup(name ? name : "unknown");
	}
	chain = xcalloc(n, sizeof(*chain));
	for (i = 0; i < n; i++) {
		if (peer_crt_import(v, &chain[i], &raw[i], i) == -1) {
			n = i + 1;
			goto out;
		}
		chain_add(v, chain[i]);
	}

	/* A handshake that failed on verification kept its status. */
	if (in->handshake_rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		status = gnutls_session_get_verify_cert_status(s);
	else if ((rc = gnutls_certificate_verify_peers3(s, in->hostname,
	    &status)) < 0) {
		add_finding(v, TLS_DIAG_OTHER, TLS_DIAG_ERROR, NULL,
		    "certificate verification failed: %s",
		    gnutls_strerror(rc));
		goto out;
	}
	v->status = status;
	left = status & ~(unsigned)GNUTLS_CERT_INVALID;
	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
		/* An unusable CA file was already explained, with its fix. */
		if (!v->ca_failed)
			judge_signer(v, in);
		left &= ~(unsigned)GNUTLS_CERT_SIGNER_NOT_FOUND;
	}
	if (status & GNUTLS_CERT_EXPIRED) {
		judge_time(v, in, 1);
		left &= ~(unsigned)GNUTLS_CERT_EXPIRED;
	}
	if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		judge_time(v, in, 0);
		left &= ~(unsigned)GNUTLS_CERT_NOT_ACTIVATED;
	}
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		judge_hostname(v, in, chain[0]);
		left &= ~(unsigned)GNUTLS_CERT_UNEXPECTED_OWNER;
	}
	if (status & GNUTLS_CERT_REVOKED) {
		judge_revoked(v, in, chain);
		left &= ~(unsigned)GNUTLS_CERT_REVOKED;
	}
	judge_strength(v, PEER_ADMIN);
	if ((status & GNUTLS_CERT_INSECURE_ALGORITHM) &&
	    (has_code(v, TLS_DIAG_WEAK_SIGNATURE) ||
	    has_code(v, TLS_DIAG_WEAK_KEY)))
		left &= ~(unsigned)GNUTLS_CERT_INSECURE_ALGORITHM;
	if (left != 0) {
		gnutls_datum_t d;

		/* Rarer statuses: GnuTLS's own sentence says enough. */
		if (gnutls_certificate_verification_status_print(left,
		    GNUTLS_CRT_X509, &d, 0) == 0) {
			add_finding(v, TLS_DIAG_OTHER, TLS_DIAG_ERROR, NULL,
			    "%.*s", (int)d.size, (const char *)d.data);
			gnutls_free(d.data);
		}
	}
	if (in->handshake_rc < 0 &&
	    in->handshake_rc != GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
		judge_handshake_error(v, in);
out:
	for (i = 0; i < n; i++)
		if (chain[i] != NULL)
			gnutls_x509_crt_deinit(chain[i]);
	free(chain);
}

/* ---- what was seen instead of TLS --------------------------------- */

void
tls_diag_plaintext_banner(struct tls_verdict *v, const struct remote *r,
    const char *line)
{
	char *where = remote_where(r);
	int port = r ? r->port : 0;

	add_finding(v, TLS_DIAG_PLAINTEXT_PORT, TLS_DIAG_ERROR,
	    fix_printf("on %s, replace --ssl with --starttls (this port "
	    "speaks plain SMTP first), or keep --ssl and use the server's "
	    "implicit-TLS port: --port=465", where),
	    "TLS on the wrong port: --ssl expects TLS at once, but port %d "
	    "greeted in plain text%s%s%s", port, line ? " (\"" : "",
	    line ? line : "", line ? "\")" : "");
	free(where);
}

void
tls_diag_port_is_tls(struct tls_verdict *v, const struct remote *r,
    const char *seen)
{
	char *where = remote_where(r);
	int port = r ? r->port : 0;

	add_finding(v, TLS_DIAG_TLS_PORT, TLS_DIAG_ERROR,
	    fix_printf("on %s, replace --starttls with --ssl (port %d "
	    "expects TLS at once), or keep --starttls and use the "
	    "submission port: --port=587", where, port),
	    "TLS on the wrong port: STARTTLS needs an SMTP greeting first, "
	    "but port %d %s", port, seen ? seen : "sent no greeting "
	    "(it waits for a TLS handshake, as port 465 does)");
	free(where);
}

void
tls_diag_no_starttls(struct tls_verdict *v, const struct remote *r)
{
	char *where = remote_where(r);
	int port = r ? r->port : 0;

	add_finding(v, TLS_DIAG_NO_STARTTLS, TLS_DIAG_ERROR,
	    fix_printf("ask the server's admin to enable STARTTLS; or, if "
	    "it has an implicit-TLS port, use --ssl --port=465 on %s; "
	    "removing --starttls would send mail (and any password) in "
	    "clear text", where),
	    "no STARTTLS: the server on port %d does not offer STARTTLS in "
	    "its EHLO reply", port);
	free(where);
}

void
tls_diag_closed_after_handshake(struct tls_verdict *v, gnutls_session_t s,
    const struct remote *r)
{
	judge_client_cert(v, s, r);
}

/* ---- local files -------------------------------------------------- */

static int
load_crts(const char *path, int der, gnutls_x509_crt_t **crts, unsigned *n,
    char **err)
{
	gnutls_datum_t data;
	char *content;
	size_t len;
	int rc;

	if ((content = read_file(path, &len)) == NULL) {
		xasprintf(err, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	data.data = (unsigned char *)content;
	data.size = (unsigned)len;
	rc = gnutls_x509_crt_list_import2(crts, n, &data, der ?
	    GNUTLS_X509_FMT_DER : GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || *n == 0) {
		int other = count_in(&data, der ? GNUTLS_X509_FMT_PEM :
		    GNUTLS_X509_FMT_DER, 0) > 0;

		xasprintf(err, "no certificate in %s%s", path, !other ? "" :
		    der ? " as DER: it is PEM (drop --der)" :
		    " as PEM: it is DER (add --der)");
		free(content);
		return -1;
	}
	free(content);
	return 0;
}

static int
key_matches(gnutls_x509_crt_t crt, const char *key_path, int der,
    char **err)
{
	gnutls_x509_privkey_t key;
	gnutls_datum_t data;
	unsigned char id1[64], id2[64];
	size_t l1 = sizeof(id1), l2 = sizeof(id2), len;
	char *content;
	int rc, match;

	if ((content = read_file(key_path, &len)) == NULL) {
		xasprintf(err, "cannot read key %s: %s", key_path,
		    strerror(errno));
		return -1;
	}
	data.data = (unsigned char *)content;
	data.size = (unsigned)len;
	gnutls_x509_privkey_init(&key);
	rc = gnutls_x509_privkey_import2(key, &data, der ?
	    GNUTLS_X509_FMT_DER : GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0)
		rc = gnutls_x509_privkey_import2(key, &data, der ?
		    GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, NULL, 0);
	explicit_bzero(content, len);
	free(content);
	if (rc < 0) {
		xasprintf(err, "cannot parse key %s: %s", key_path,
		    gnutls_strerror(rc));
		gnutls_x509_privkey_deinit(key);
		return -1;
	}
	match = gnutls_x509_crt_get_key_id(crt, 0, id1, &l1) == 0 &&
	    gnutls_x509_privkey_get_key_id(key, 0, id2, &l2) == 0 &&
	    l1 == l2 && memcmp(id1, id2, l1) == 0;
	gnutls_x509_privkey_deinit(key);
	return match ? 1 : 0;
}

int
tls_diag_check_local(struct tls_verdict *v, const char *cert_path,
    const char *key_path, int der)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0, i;
	char *err = NULL, date[64];
	time_t now = time(NULL);
	int rc;

	if (load_crts(cert_path, der, &crts, &n, &err) == -1) {
		add_finding(v, TLS_DIAG_FILE, TLS_DIAG_ERROR, NULL, "%s", err);
		free(err);
		return -1;
	}
	for (i = 0; i < n; i++)
		chain_add(v, crts[i]);
	for (i = 0; i < n; i++) {
		const struct tls_cert_info *ci = &v->chain[i];

		if (ci->not_after < now) {
			format_date(ci->not_after, date, sizeof(date));
			add_finding(v, TLS_DIAG_EXPIRED, TLS_DIAG_ERROR,
			    fix_printf("renew it (a self-signed one: hikyaku "
			    "cert new)"), "certificate expired: %s expired "
			    "on %s", ci->subject, date);
		} else if (ci->not_before > now) {
			format_date(ci->not_before, date, sizeof(date));
			add_finding(v, TLS_DIAG_NOT_YET_VALID, TLS_DIAG_ERROR,
			    xstrdup("check this machine's clock (timedatectl); "
			    "if it is right, reissue the certificate"),
			    "certificate not yet valid: %s is valid only "
			    "from %s", ci->subject, date);
		} else if (ci->days_left < EXPIRY_WARN_DAYS) {
			format_date(ci->not_after, date, sizeof(date));
			add_finding(v, TLS_DIAG_EXPIRES_SOON, TLS_DIAG_WARNING,
			    xstrdup("renew it before then"),
			    "expires soon: %s expires on %s, in %ld days",
			    ci->subject, date, ci->days_left);
		}
	}
	judge_strength(v, "");
	if (key_path != NULL) {
		rc = key_matches(crts[0], key_path, der, &err);
		if (rc == -1) {
			add_finding(v, TLS_DIAG_FILE, TLS_DIAG_ERROR, NULL,
			    "%s", err);
			free(err);
		} else if (rc == 0)
			add_finding(v, TLS_DIAG_KEY_MISMATCH, TLS_DIAG_ERROR,
			    fix_printf("point tls_key at the key this "
			    "certificate was made for, or make a new pair: "
			    "hikyaku cert new"),
			    "key mismatch: %s does not belong to the "
			    "certificate in %s (%s)", key_path, cert_path,
			    v->chain[0].subject);
	}
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return tls_diag_ok(v) ? 0 : -1;
}

/* ---- results ------------------------------------------------------ */

int
tls_diag_ok(const struct tls_verdict *v)
{
	for (size_t i = 0; i < v->nfindings; i++)
		if (v->findings[i].severity == TLS_DIAG_ERROR)
			return 0;
	return 1;
}

char *
tls_diag_finding_line(const struct tls_finding *f)
{
	char *s;

	xasprintf(&s, "%s%s%s", f->text, f->fix ? "; fix: " : "",
	    f->fix ? f->fix : "");
	return s;
}

char *
tls_diag_explain(const struct tls_verdict *v)
{
	for (size_t i = 0; i < v->nfindings; i++)
		if (v->findings[i].severity == TLS_DIAG_ERROR)
			return tls_diag_finding_line(&v->findings[i]);
	return NULL;
}

char *
tls_diag_summary(const struct tls_verdict *v)
{
	char *line = tls_diag_explain(v), *s;

	if (line == NULL)
		return NULL;
	xasprintf(&s, "TLS: %s", line);
	free(line);
	return s;
}

static const char *
severity_word(enum tls_diag_severity s)
{
	switch (s) {
	case TLS_DIAG_ERROR:
		return "problem";
	case TLS_DIAG_WARNING:
		return "warning";
	case TLS_DIAG_INFO:
		break;
	}
	return "note";
}

char *
tls_diag_format(const struct tls_verdict *v)
{
	return tls_diag_format_as(v, "verdict");
}

char *
tls_diag_format_as(const struct tls_verdict *v, const char *head)
{
	char from[64], to[64];
	size_t i, j, nerr = 0;
	struct buf b;

	buf_init(&b);
	if (v->protocol != NULL)
		buf_printf(&b, "protocol:  %s\ncipher:    %s\n", v->protocol,
		    v->cipher);
	for (i = 0; i < v->nchain; i++) {
		const struct tls_cert_info *ci = &v->chain[i];

		format_date(ci->not_before, from, sizeof(from));
		format_date(ci->not_after, to, sizeof(to));
		buf_printf(&b, "certificate %zu: %s\n", i, ci->subject);
		buf_printf(&b, "  issuer:  %s%s\n", ci->issuer,
		    ci->self_issued ? " (self-issued)" : "");
		buf_addstr(&b, "  names:  ");
		for (j = 0; j < ci->nsans; j++)
			buf_printf(&b, "%s %s", j ? "," : "", ci->sans[j]);
		buf_addstr(&b, ci->nsans ? "\n" : " (no SANs)\n");
		buf_printf(&b, "  valid:   %s to %s (%ld days %s)\n", from, to,
		    ci->days_left < 0 ? -ci->days_left : ci->days_left,
		    ci->days_left < 0 ? "ago" : "left");
		buf_printf(&b, "  key:     %s %u bits%s, signed with %s\n",
		    ci->key_algo, ci->key_bits, ci->is_ca ? " (CA)" : "",
		    ci->sig_algo);
		buf_printf(&b, "  SHA-256: %s\n", ci->sha256);
	}
	for (i = 0; i < v->nfindings; i++)
		if (v->findings[i].severity == TLS_DIAG_ERROR)
			nerr++;
	if (nerr == 0)
		buf_printf(&b, "%s: OK%s\n", head, v->nfindings ?
		    ", with warnings" : "");
	else
		buf_printf(&b, "%s: %zu problem%s\n", head, nerr,
		    nerr == 1 ? "" : "s");
	for (i = 0; i < v->nfindings; i++) {
		const struct tls_finding *f = &v->findings[i];

		buf_printf(&b, "  %s: %s\n", severity_word(f->severity),
		    f->text);
		if (f->fix != NULL)
			buf_printf(&b, "    fix: %s\n", f->fix);
	}
	return buf_take(&b);
}

/* ---- cert new ----------------------------------------------------- */

static int
write_new(const char *path, const gnutls_datum_t *d, mode_t mode,
    char **err)
{
	int fd;

	/* Never overwrite: a key in service must not vanish by accident. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1) {
		xasprintf(err, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) == -1 || write_all(fd, d->data, d->size) == -1 ||
	    fsync(fd) == -1) {
		xasprintf(err, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) == -1) {
		xasprintf(err, "cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int
tls_diag_cert_new(const char *cert_path, const char *key_path,
    const char *cn, int days, char **err)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kpem = { NULL, 0 }, cpem = { NULL, 0 };
	unsigned char serial[16];
	time_t now = time(NULL);
	int rc, ret = -1;

	if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
	    (rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_RSA, 3072,
	    0)) < 0 ||
	    (rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn))) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME,
	    cn, (unsigned)strlen(cn), GNUTLS_FSAN_SET)) < 0 ||
	    (rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto gnutls_err;
	serial[0] &= 0x7f;	/* a positive serial number */
	if ((rc = gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 60)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt,
	    now + (time_t)days * 86400)) < 0 ||
	    (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(crt,
	    GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt,
	    GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256,
	    0)) < 0 ||
	    (rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM,
	    &kpem)) < 0 ||
	    (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM,
	    &cpem)) < 0)
		goto gnutls_err;
	if (write_new(key_path, &kpem, 0640, err) == -1)
		goto out;
	if (write_new(cert_path, &cpem, 0644, err) == -1) {
		unlink(key_path);
		goto out;
	}
	ret = 0;
	goto out;
gnutls_err:
	xasprintf(err, "GnuTLS: %s", gnutls_strerror(rc));
out:
	if (kpem.data != NULL) {
		explicit_bzero(kpem.data, kpem.size);
		gnutls_free(kpem.data);
	}
	gnutls_free(cpem.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (key != NULL)
		gnutls_x509_privkey_deinit(key);
	return ret;
}
