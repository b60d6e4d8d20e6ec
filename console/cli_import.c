/*
 * hikyaku import postfix|authinfo [FILE] [--dry-run]: translate an
 * existing Postfix main.cf or sendmail authinfo source into the config
 * directory. Every setting read is either translated, or reported as not
 * needed (with why) or not imported: nothing is dropped silently. New
 * lines are appended with a comment naming their source; hikyaku.conf
 * keys are set in place, every other line kept byte for byte. The result
 * is validated (config_load on a scratch copy) before anything is
 * written, and each file is replaced atomically with a FILE~ backup.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "cli.h"
#include "config.h"
#include "maps.h"
#include "remotes.h"
#include "util.h"
#include "help/usage.h"

/* The files config_load reads: the scratch copy needs every one. */
static const char *const import_conf_files[] = {
	"hikyaku.conf", "remotes", "local-host-names", "access", "aliases",
	"transport", "sasl_passwd", "sender_relay", "generics", "users"
};
#define IMPORT_NFILES (sizeof(import_conf_files) / sizeof(import_conf_files[0]))

struct import_key {
	char	*key, *value, *why;
	int	 line;
};

/* A report line, printed in source line order once all is read. */
struct import_msg {
	int	 line;
	size_t	 seq;		/* qsort is not stable: keep the said order */
	char	*text;
};

struct import {
	const char	*src;		/* the file imported from */
	const char	*confdir;
	struct buf	 add[IMPORT_NFILES];	/* lines appended per file */
	struct import_key *keys;	/* hikyaku.conf settings */
	size_t		 nkeys;
	struct import_msg *msgs;
	size_t		 nmsgs;
	int		 failed;	/* a source could not be read */
};

static size_t
import_file_index(const char *name)
{
	size_t i;

	for (i = 0; i < IMPORT_NFILES; i++)
		if (strcmp(import_conf_files[i], name) == 0)
			return i;
	abort();
}

/* One translated line for file, after a comment naming where it came from. */
static void
import_append(struct import *im, const char *file, int line,
    const char *what, const char *text)
{
	struct buf *b = &im->add[import_file_index(file)];

	if (what != NULL)
		buf_printf(b, "# imported from %s line %d (%s) by hikyaku "
		    "import\n", im->src, line, what);
	else
		buf_printf(b, "# imported from %s line %d by hikyaku import\n",
		    im->src, line);
	buf_addstr(b, text);
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		buf_addch(b, '\n');
}

static void
import_set_key(struct import *im, const char *key, const char *value,
    const char *why, int line)
{
	size_t i;

	for (i = 0; i < im->nkeys; i++)
		if (strcmp(im->keys[i].key, key) == 0)
			break;
	if (i == im->nkeys) {
		im->keys = xreallocarray(im->keys, im->nkeys + 1,
		    sizeof(*im->keys));
		im->keys[im->nkeys++].key = xstrdup(key);
	} else {
		free(im->keys[i].value);
		free(im->keys[i].why);
	}
	im->keys[i].value = xstrdup(value);
	im->keys[i].why = xstrdup(why);
	im->keys[i].line = line;
}

static void
import_free(struct import *im)
{
	size_t i;

	for (i = 0; i < IMPORT_NFILES; i++)
		buf_free(&im->add[i]);
	for (i = 0; i < im->nkeys; i++) {
		free(im->keys[i].key);
		free(im->keys[i].value);
		free(im->keys[i].why);
	}
	free(im->keys);
	for (i = 0; i < im->nmsgs; i++)
		free(im->msgs[i].text);
	free(im->msgs);
}

/* Every report names its source line ("SRC:LINE: ..."). */
static void
import_say(struct import *im, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
import_say(struct import *im, int line, const char *fmt, ...)
{
	va_list ap;

	im->msgs = xreallocarray(im->msgs, im->nmsgs + 1, sizeof(*im->msgs));
	im->msgs[im->nmsgs].line = line;
	im->msgs[im->nmsgs].seq = im->nmsgs;
	va_start(ap, fmt);
	xvasprintf(&im->msgs[im->nmsgs].text, fmt, ap);
	va_end(ap);
	im->nmsgs++;
}

static int
import_msg_cmp(const void *a, const void *b)
{
	const struct import_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
import_print_msgs(struct import *im)
{
	size_t i;

	qsort(im->msgs, im->nmsgs, sizeof(*im->msgs), import_msg_cmp);
	for (i = 0; i < im->nmsgs; i++)
		printf("%s:%d: %s\n", im->src, im->msgs[i].line,
		    im->msgs[i].text);
}

/* ---- Postfix main.cf ---- */

struct pf_param {
	char	*key, *value;
	int	 line;
	int	 used;
};

struct pf_conf {
	struct pf_param	*v;
	size_t		 n;
};

static struct pf_param *
pf_get(struct pf_conf *pc, const char *key)
{
	size_t i;

	/* Postfix: the last setting of a parameter wins. */
	for (i = pc->n; i-- > 0;)
		if (strcmp(pc->v[i].key, key) == 0)
			return &pc->v[i];
	return NULL;
}

/*
 * main.cf: "key = value", lines starting with white space continue the
 * previous one, '#' lines are comments (Postfix has no trailing comments).
 */
static int
pf_parse(struct import *im, const char *text, struct pf_conf *pc)
{
	const char *p = text, *nl;
	struct buf logical;
	int lineno = 0, start = 0, bad = 0;
	char *s, *eq, *k, *v;

	buf_init(&logical);
	for (;;) {
		char *phys = NULL;

		if (*p != '\0') {
			nl = strchr(p, '\n');
			phys = nl ? xstrndup(p, (size_t)(nl - p)) : xstrdup(p);
			p = nl ? nl + 1 : p + strlen(p);
			lineno++;
			rtrim(phys);
		}
		if (phys != NULL && (phys[0] == ' ' || phys[0] == '\t') &&
		    *skip_ws(phys) != '#' && *skip_ws(phys) != '\0' &&
		    logical.len > 0) {
			buf_addch(&logical, ' ');
			buf_addstr(&logical, skip_ws(phys));
			free(phys);
			continue;
		}
		if (logical.len > 0) {
			s = buf_take(&logical);
			buf_init(&logical);
			eq = strchr(s, '=');
			if (eq == NULL) {
				import_say(im, start, "not imported: \"%s\" "
				    "is not \"key = value\"", s);
				bad = 1;
			} else {
				*eq = '\0';
				k = xstrdup(skip_ws(s));
				rtrim(k);
				v = xstrdup(skip_ws(eq + 1));
				pc->v = xreallocarray(pc->v, pc->n + 1,
				    sizeof(*pc->v));
				pc->v[pc->n].key = k;
				pc->v[pc->n].value = v;
				pc->v[pc->n].line = start;
				pc->v[pc->n].used = 0;
				pc->n++;
			}
			free(s);
		}
		if (phys == NULL)
			break;
		if (*skip_ws(phys) != '#' && *skip_ws(phys) != '\0') {
			buf_addstr(&logical, phys);
			start = lineno;
		}
		free(phys);
	}
	buf_free(&logical);
	return bad ? -1 : 0;
}

static void
pf_conf_free(struct pf_conf *pc)
{
	size_t i;

	for (i = 0; i < pc->n; i++) {
		free(pc->v[i].key);
		free(pc->v[i].value);
	}
	free(pc->v);
}

/*
 * Expand $name and ${name} from the file itself (as Postfix would for
 * parameters set there); a reference to a parameter the file does not
 * set is left as written and *unresolved set.
 */
static char *
pf_expand(struct pf_conf *pc, const char *s, int *unresolved, int depth)
{
	struct buf b;
	const char *p, *e;
	struct pf_param *ref;
	char *name, *sub;

	buf_init(&b);
	for (p = s; *p != '\0'; p++) {
		if (*p != '$') {
			buf_addch(&b, *p);
			continue;
		}
		if (p[1] == '{') {
			e = strchr(p + 2, '}');
			if (e == NULL) {
				buf_addstr(&b, p);
				*unresolved = 1;
				break;
			}
			name = xstrndup(p + 2, (size_t)(e - p - 2));
		} else {
			for (e = p + 1; *e == '_' || (*e >= 'a' && *e <= 'z') ||
			    (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9');
			    e++)
				;
			name = xstrndup(p + 1, (size_t)(e - p - 1));
			e--;
		}
		ref = pf_get(pc, name);
		if (ref != NULL && depth < 10) {
			sub = pf_expand(pc, ref->value, unresolved, depth + 1);
			buf_addstr(&b, sub);
			free(sub);
		} else {
			buf_add(&b, p, (size_t)(e - p + 1));
			*unresolved = 1;
		}
		free(name);
		p = e;
	}
	buf_addch(&b, '\0');
	return buf_take(&b);
}

/* Split a Postfix list (commas and/or white space). */
static size_t
pf_split(char *s, char **w, size_t max)
{
	char *p;

	for (p = s; *p != '\0'; p++)
		if (*p == ',')
			*p = ' ';
	return split_words(s, w, max);
}

/* Keys Postfix needs and hikyaku does not, with the reason. */
static const struct {
	const char *key, *value, *why;
} pf_not_needed[] = {
	{ "smtp_sasl_auth_enable", NULL, "hikyaku authenticates whenever "
	    "remotes or sasl_passwd holds credentials for the hop" },
	{ "smtp_sasl_security_options", "noanonymous", "hikyaku never "
	    "authenticates anonymously" },
	{ "smtp_sasl_tls_security_options", "noanonymous", "hikyaku never "
	    "authenticates anonymously" },
	{ "smtp_tls_note_starttls_offer", NULL, "hikyaku logs the TLS state "
	    "of every delivery" },
	{ "smtp_tls_loglevel", NULL, "hikyaku logs the TLS state of every "
	    "delivery; `hikyaku tls check` explains failures" },
	{ "smtp_tls_session_cache_database", NULL, "hikyaku keeps no TLS "
	    "session cache" },
	{ "smtp_sasl_type", "cyrus", "hikyaku uses libgsasl" },
	{ "smtp_sasl_mechanism_filter", NULL, "hikyaku chooses the strongest "
	    "mechanism both sides offer; --auth-login on the remotes line "
	    "forces LOGIN" },
	{ "inet_interfaces", "loopback-only", "hikyaku listens on loopback "
	    "by default (listen in hikyaku.conf)" },
	{ "inet_interfaces", "localhost", "hikyaku listens on loopback by "
	    "default (listen in hikyaku.conf)" },
	{ "inet_interfaces", "127.0.0.1", "hikyaku listens on 127.0.0.1 and "
	    "[::1] by default (listen in hikyaku.conf)" },
	{ "mydomain", NULL, "used here only to expand $mydomain" },
	{ "compatibility_level", NULL, "a Postfix upgrade setting" },
	{ "smtp_tls_CApath", NULL, "hikyaku uses the system CA bundle unless "
	    "--x509cafile names one" },
};

static int
pf_security_level_tls(const char *level, const char **smtp_tls)
{
	if (strcmp(level, "none") == 0 || level[0] == '\0') {
		*smtp_tls = "none";
		return 0;
	}
	if (strcmp(level, "may") == 0) {
		*smtp_tls = "may";
		return 1;
	}
	if (strcmp(level, "encrypt") == 0 || strcmp(level, "dane") == 0 ||
	    strcmp(level, "dane-only") == 0 || strcmp(level, "verify") == 0 ||
	    strcmp(level, "secure") == 0 || strcmp(level, "fingerprint") == 0) {
		*smtp_tls = "verify";
		return 1;
	}
	*smtp_tls = NULL;
	return 0;
}

/* TYPE:/path of an indexed Postfix table: the text source beside it. */
static const char *
pf_table_source(const char *spec)
{
	static const char *const types[] = {
		"hash:", "btree:", "lmdb:", "cdb:", "dbm:", "sdbm:",
		"texthash:"
	};
	size_t i, n;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i]);
		if (strncmp(spec, types[i], n) == 0 && spec[n] == '/')
			return spec + n;
	}
	return NULL;
}

/*
 * Copy the text source of the map(s) in param into file, after checking
 * it parses as hikyaku's file of that name. An unreadable source is not
 * an error: the report says what to copy.
 */
static void
pf_import_map(struct import *im, struct pf_conf *pc, struct pf_param *pp,
    const char *file)
{
	char *val, *w[16], *text;
	const char *path;
	struct diags d = { 0 };
	struct sasl_passwd *sp = NULL;
	struct transport *tr = NULL;
	size_t i, n;
	int unres = 0, rc;

	pp->used = 1;
	val = pf_expand(pc, pp->value, &unres, 0);
	n = pf_split(val, w, 16);
	for (i = 0; i < n; i++) {
		path = pf_table_source(w[i]);
		if (path == NULL) {
			import_say(im, pp->line, "not imported: %s = %s: only "
			    "file tables (hash:/path, texthash:/path, ...) "
			    "have a text source hikyaku can read", pp->key,
			    w[i]);
			continue;
		}
		text = read_file(path, NULL);
		if (text == NULL) {
			import_say(im, pp->line, "%s: cannot read %s: %s; "
			    "copy its lines (the text source of %s) into "
			    "%s/%s", pp->key, path, strerror(errno), w[i],
			    im->confdir, file);
			continue;
		}
		if (strcmp(file, "sasl_passwd") == 0)
			rc = sasl_passwd_parse(path, text, &sp, &d);
		else
			rc = transport_parse(path, text, &tr, &d);
		sasl_passwd_free(sp);
		sp = NULL;
		transport_free(tr);
		tr = NULL;
		diags_print(&d, stdout);
		diags_free(&d);
		if (rc == -1) {
			import_say(im, pp->line, "not imported: %s: %s does "
			    "not parse as hikyaku's %s (above)", pp->key,
			    path, file);
			im->failed = 1;
		} else {
			struct buf what;

			buf_init(&what);
			buf_printf(&what, "%s, the text source of %s", pp->key,
			    w[i]);
			buf_addch(&what, '\0');
			import_append(im, file, pp->line, what.data, text);
			buf_free(&what);
			import_say(im, pp->line, "%s = %s -> %s: the lines of %s",
			    pp->key, w[i], file, path);
		}
		free(text);
	}
	free(val);
}

static void
pf_import_relayhost(struct import *im, struct pf_conf *pc)
{
	struct pf_param *rh = pf_get(pc, "relayhost");
	struct pf_param *lvl = pf_get(pc, "smtp_tls_security_level");
	struct pf_param *ca = pf_get(pc, "smtp_tls_CAfile");
	struct maps_nexthop nh;
	struct buf line;
	const char *err, *tlsv = NULL;
	char *val, *lv = NULL;
	size_t errcol;
	int unres = 0, tls = 0, port;

	if (lvl != NULL) {
		lvl->used = 1;
		lv = pf_expand(pc, lvl->value, &unres, 0);
		tls = pf_security_level_tls(lv, &tlsv);
		if (tlsv == NULL)
			import_say(im, lvl->line, "not imported: "
			    "smtp_tls_security_level = %s (unknown level)", lv);
		else {
			import_set_key(im, "smtp_tls", tlsv,
			    "smtp_tls_security_level", lvl->line);
			import_say(im, lvl->line, "smtp_tls_security_level = "
			    "%s -> hikyaku.conf: smtp_tls = %s (hops not in "
			    "remotes)%s", lv, tlsv, strcmp(lv, "encrypt") == 0 ?
			    "; hikyaku has no encryption without "
			    "verification, so it verifies" : "");
		}
	}
	if (ca != NULL)
		ca->used = 1;
	if (rh == NULL || rh->value[0] == '\0') {
		if (ca != NULL)
			import_say(im, ca->line, "not imported: "
			    "smtp_tls_CAfile: without relayhost there is no "
			    "remotes line to put --x509cafile= on");
		free(lv);
		return;
	}
	rh->used = 1;
	val = pf_expand(pc, rh->value, &unres, 0);
	if (unres || maps_nexthop_parse(val, &nh, &err, &errcol) == -1) {
		import_say(im, rh->line, "not imported: relayhost = %s: %s",
		    rh->value, unres ? "refers to a parameter this file "
		    "does not set" : err);
		im->failed = 1;
		free(val);
		free(lv);
		return;
	}
	port = nh.port ? nh.port : 25;
	buf_init(&line);
	buf_addstr(&line, nh.host);
	buf_addstr(&line, " smtp");
	if (port != 25)
		buf_printf(&line, " --port=%d", port);
	if (port == 465)
		buf_addstr(&line, " --ssl");
	else if (tls || port == 587)
		buf_addstr(&line, " --starttls");
	if (ca != NULL) {
		char *cav = pf_expand(pc, ca->value, &unres, 0);

		buf_printf(&line, " --x509cafile=%s", cav);
		free(cav);
	}
	buf_addch(&line, '\0');
	{
		struct remote r;
		struct diags d = { 0 };

		if (remotes_parse_line("remotes", 1, line.data, &r, &d) == 1)
			remote_free(&r);
		else {
			diags_print(&d, stdout);
			im->failed = 1;
		}
		diags_free(&d);
	}
	import_append(im, "remotes", rh->line, "relayhost", line.data);
	import_say(im, rh->line, "relayhost = %s -> remotes: %s", rh->value,
	    line.data);
	if (ca != NULL)
		import_say(im, ca->line, "smtp_tls_CAfile = %s -> remotes: "
		    "--x509cafile= on the relayhost line", ca->value);
	if (nh.mx)
		import_say(im, rh->line, "note: without [ ] Postfix looks up "
		    "the MX records of %s; a remotes line connects to %s "
		    "itself", nh.host, nh.host);
	if (lv != NULL && strcmp(lv, "may") == 0 && port != 465)
		import_say(im, lvl->line, "note: the relayhost gets "
		    "--starttls (TLS required, certificate verified): "
		    "hikyaku sends credentials only over TLS");
	maps_nexthop_free(&nh);
	buf_free(&line);
	free(val);
	free(lv);
}

static void
pf_import_mydestination(struct import *im, struct pf_conf *pc,
    const char *myhostname)
{
	struct pf_param *pp = pf_get(pc, "mydestination");
	char *val, *w[64];
	size_t i, n;
	int unres;

	if (pp == NULL)
		return;
	pp->used = 1;
	val = xstrdup(pp->value);
	n = pf_split(val, w, 64);
	for (i = 0; i < n; i++) {
		char *e;

		unres = 0;
		e = pf_expand(pc, w[i], &unres, 0);
		if (strcmp(w[i], "$myhostname") == 0 ||
		    strcmp(w[i], "${myhostname}") == 0 ||
		    (myhostname != NULL && ascii_strcasecmp(e,
		    myhostname) == 0) || ascii_strcasecmp(e, "localhost") == 0 ||
		    ascii_strncasecmp(e, "localhost.", 10) == 0)
			import_say(im, pp->line, "mydestination: %s: not needed "
			    "in hikyaku: `me` and localhost are always local",
			    w[i]);
		else if (unres)
			import_say(im, pp->line, "not imported: mydestination: "
			    "%s refers to a parameter this file does not set",
			    w[i]);
		else if (strchr(e, ':') != NULL || strchr(e, '/') != NULL)
			import_say(im, pp->line, "not imported: mydestination: "
			    "%s: copy the table's domains into "
			    "local-host-names", w[i]);
		else {
			import_append(im, "local-host-names", pp->line,
			    "mydestination", e);
			import_say(im, pp->line, "mydestination: %s -> "
			    "local-host-names: %s", w[i], e);
		}
		free(e);
	}
	free(val);
}

static void
pf_import_mynetworks(struct import *im, struct pf_conf *pc)
{
	struct pf_param *pp = pf_get(pc, "mynetworks");
	struct pf_param *st = pf_get(pc, "mynetworks_style");
	char *val, *w[64], *net, *line;
	size_t i, n, len;
	int unres = 0;

	if (st != NULL) {
		st->used = 1;
		import_say(im, st->line, "not imported: mynetworks_style = %s: "
		    "hikyaku lets loopback relay; list other networks as "
		    "access lines `Connect:NET RELAY`", st->value);
	}
	if (pp == NULL)
		return;
	pp->used = 1;
	val = pf_expand(pc, pp->value, &unres, 0);
	n = pf_split(val, w, 64);
	for (i = 0; i < n; i++) {
		net = w[i];
		if (strcmp(net, "127.0.0.0/8") == 0 ||
		    strcmp(net, "[::1]/128") == 0 ||
		    strcmp(net, "[::ffff:127.0.0.0]/104") == 0) {
			import_say(im, pp->line, "mynetworks: %s: not needed "
			    "in hikyaku: loopback may relay (built in)", net);
			continue;
		}
		/* Postfix brackets IPv6 networks: anything else with ':'
		 * or a leading '/' is a table. */
		if (net[0] == '/' || (net[0] != '[' &&
		    strchr(net, ':') != NULL)) {
			import_say(im, pp->line, "not imported: mynetworks: %s: "
			    "copy the table's networks as access lines "
			    "`Connect:NET RELAY`", net);
			continue;
		}
		if (net[0] == '$' || net[0] == '!') {
			import_say(im, pp->line, "not imported: mynetworks: %s",
			    net);
			continue;
		}
		/* [2001:db8::]/32 in Postfix is 2001:db8::/32 in access. */
		if (net[0] == '[' && (len = strcspn(net, "]")) < strlen(net))
			xasprintf(&line, "Connect:%.*s%s RELAY", (int)len - 1,
			    net + 1, net + len + 1);
		else
			xasprintf(&line, "Connect:%s RELAY", net);
		import_append(im, "access", pp->line, "mynetworks", line);
		import_say(im, pp->line, "mynetworks: %s -> access: %s", net,
		    line);
		free(line);
	}
	free(val);
}

static void
pf_import(struct import *im, struct pf_conf *pc)
{
	struct pf_param *pp;
	char *v, *myhostname = NULL;
	size_t i, j;
	int unres;

	pf_import_relayhost(im, pc);
	if ((pp = pf_get(pc, "smtp_sasl_password_maps")) != NULL)
		pf_import_map(im, pc, pp, "sasl_passwd");
	if ((pp = pf_get(pc, "transport_maps")) != NULL)
		pf_import_map(im, pc, pp, "transport");
	if ((pp = pf_get(pc, "myhostname")) != NULL) {
		pp->used = 1;
		unres = 0;
		myhostname = pf_expand(pc, pp->value, &unres, 0);
		if (unres)
			import_say(im, pp->line, "not imported: myhostname = "
			    "%s refers to a parameter this file does not set",
			    pp->value);
		else {
			import_set_key(im, "me", myhostname, "myhostname",
			    pp->line);
			import_say(im, pp->line, "myhostname = %s -> "
			    "hikyaku.conf: me = %s", pp->value, myhostname);
		}
	}
	pf_import_mydestination(im, pc, myhostname);
	pf_import_mynetworks(im, pc);
	if ((pp = pf_get(pc, "message_size_limit")) != NULL) {
		pp->used = 1;
		unres = 0;
		v = pf_expand(pc, pp->value, &unres, 0);
		if (strcmp(v, "0") == 0)
			import_say(im, pp->line, "not imported: "
			    "message_size_limit = 0 (no limit): hikyaku always "
			    "has one; set max_message_size");
		else {
			import_set_key(im, "max_message_size", v,
			    "message_size_limit", pp->line);
			import_say(im, pp->line, "message_size_limit = %s -> "
			    "hikyaku.conf: max_message_size = %s", pp->value,
			    v);
		}
		free(v);
	}
	free(myhostname);

	for (i = 0; i < pc->n; i++) {
		pp = &pc->v[i];
		if (pp->used)
			continue;
		if (pf_get(pc, pp->key) != pp) {
			import_say(im, pp->line, "%s: set again later in the "
			    "file (Postfix uses the last)", pp->key);
			continue;
		}
		for (j = 0; j < sizeof(pf_not_needed) /
		    sizeof(pf_not_needed[0]); j++)
			if (strcmp(pf_not_needed[j].key, pp->key) == 0 &&
			    (pf_not_needed[j].value == NULL ||
			    strcmp(pf_not_needed[j].value, pp->value) == 0))
				break;
		if (j < sizeof(pf_not_needed) / sizeof(pf_not_needed[0]))
			import_say(im, pp->line, "%s = %s: not needed in "
			    "hikyaku: %s", pp->key, pp->value,
			    pf_not_needed[j].why);
		else
			import_say(im, pp->line, "not imported: %s = %s",
			    pp->key, pp->value);
	}
}

/* ---- sendmail authinfo ---- */

struct ai_entry {
	char	*host;		/* sasl_passwd key */
	char	*line;		/* the sasl_passwd line */
	int	 srcline;
};

/* "P=base64": the decoded password, or NULL. */
static char *
ai_base64(const char *s)
{
	gnutls_datum_t in, out;
	char *r;

	in.data = (unsigned char *)(uintptr_t)s;
	in.size = (unsigned)strlen(s);
	if (gnutls_base64_decode2(&in, &out) < 0)
		return NULL;
	r = xstrndup((const char *)out.data, out.size);
	if (strlen(r) != out.size) {
		free(r);
		r = NULL;
	}
	gnutls_free(out.data);
	return r;
}

/*
 * One authinfo line; 1 with *e filled, 0 for blank/comment, -1 reported.
 */
static int
ai_parse_line(struct import *im, int lineno, const char *s,
    struct ai_entry *e)
{
	const char *p = skip_ws(s), *q;
	char *key, *host, *f, *user = NULL, *authz = NULL, *pass = NULL;
	char *port = NULL, *c;
	int rc = -1;

	if (*p == '\0' || *p == '#')
		return 0;
	if (ascii_strncasecmp(p, "AuthInfo:", 9) != 0) {
		import_say(im, lineno, "not imported: not an AuthInfo: line");
		return -1;
	}
	p += 9;
	q = p + strcspn(p, " \t");
	key = xstrndup(p, (size_t)(q - p));
	if (key[0] == '\0') {
		import_say(im, lineno, "not imported: AuthInfo: without a host "
		    "is sendmail's default entry; put --user/--pass-file on "
		    "the remotes line instead");
		free(key);
		return -1;
	}
	/* AuthInfo:host:port; an IPv6 literal keeps its colons in [ ]. */
	if ((c = strrchr(key, ':')) != NULL && (key[0] != '[' ||
	    c > strchr(key, ']'))) {
		*c = '\0';
		port = c + 1;
	}
	host = key;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host++;
		host[strlen(host) - 1] = '\0';
	}
	for (p = q;;) {
		p = skip_ws(p);
		if (*p == '\0')
			break;
		if (*p != '"' || (q = strchr(p + 1, '"')) == NULL) {
			import_say(im, lineno, "not imported: expected a "
			    "\"X:value\" field at \"%s\"", p);
			goto out;
		}
		f = xstrndup(p + 1, (size_t)(q - p - 1));
		p = q + 1;
		if (f[0] == '\0' || (f[1] != ':' && f[1] != '=')) {
			import_say(im, lineno, "not imported: field \"%s\" is "
			    "not X:value", f);
			free(f);
			goto out;
		}
		switch (f[0]) {
		case 'I':
			free(user);
			user = xstrdup(f + 2);
			break;
		case 'U':
			free(authz);
			authz = xstrdup(f + 2);
			break;
		case 'P':
			free(pass);
			pass = f[1] == '=' ? ai_base64(f + 2) : xstrdup(f + 2);
			if (pass == NULL) {
				import_say(im, lineno, "not imported: \"P=\" "
				    "is not valid base64");
				free(f);
				goto out;
			}
			break;
		case 'M':
			import_say(im, lineno, "M:%s: not needed in hikyaku: it "
			    "chooses the strongest mechanism both sides offer; "
			    "--auth-login on the remotes line forces LOGIN",
			    f + 2);
			break;
		case 'R':
			import_say(im, lineno, "R:%s: not needed in hikyaku: "
			    "the realm is ignored (DIGEST-MD5 only)", f + 2);
			break;
		default:
			import_say(im, lineno, "not imported: field \"%s\"", f);
			break;
		}
		free(f);
	}
	if (user == NULL && authz != NULL) {
		/* sendmail: without I:, U: is the authentication id too. */
		user = authz;
		authz = NULL;
		import_say(im, lineno, "no I: field: U:%s is the user name, as "
		    "in sendmail", user);
	} else if (authz != NULL)
		import_say(im, lineno, "U:%s: not needed in hikyaku: it is "
		    "sendmail's authorization id; the I: user logs in", authz);
	if (user == NULL || pass == NULL) {
		import_say(im, lineno, "not imported: %s", user == NULL ?
		    "no I: (user) field" : "no P: (password) field");
		goto out;
	}
	if (strchr(user, ':') != NULL) {
		import_say(im, lineno, "not imported: user \"%s\" holds ':', "
		    "which sasl_passwd splits user and password at", user);
		goto out;
	}
	if (port != NULL)
		xasprintf(&e->host, "[%s]:%s", host, port);
	else
		e->host = xstrdup(host);
	xasprintf(&e->line, "%s %s:%s", e->host, user, pass);
	e->srcline = lineno;
	rc = 1;
out:
	if (pass != NULL)
		explicit_bzero(pass, strlen(pass));
	free(pass);
	free(user);
	free(authz);
	free(key);
	return rc;
}

static void
ai_import(struct import *im, const char *text)
{
	struct ai_entry *v = NULL, e;
	struct sasl_passwd *sp = NULL;
	struct diags d = { 0 };
	const char *p = text, *nl;
	char *line;
	size_t n = 0, i;
	int lineno = 0;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		line = nl ? xstrndup(p, (size_t)(nl - p)) : xstrdup(p);
		p = nl ? nl + 1 : p + strlen(p);
		lineno++;
		rtrim(line);
		memset(&e, 0, sizeof(e));
		if (ai_parse_line(im, lineno, line, &e) == 1) {
			for (i = 0; i < n; i++)
				if (ascii_strcasecmp(v[i].host, e.host) == 0)
					break;
			if (i < n) {
				import_say(im, lineno, "AuthInfo:%s replaces "
				    "line %d: as in sendmail's map, the later "
				    "line for a host wins", e.host,
				    v[i].srcline);
				free(v[i].host);
				free(v[i].line);
			} else
				v = xreallocarray(v, ++n, sizeof(*v));
			v[i] = e;
		} else if (e.host == NULL && *skip_ws(line) != '\0' &&
		    *skip_ws(line) != '#')
			im->failed = 1;
		free(line);
	}
	for (i = 0; i < n; i++) {
		if (sasl_passwd_parse("sasl_passwd", v[i].line, &sp,
		    &d) == -1) {
			diags_print(&d, stdout);
			im->failed = 1;
		} else {
			import_append(im, "sasl_passwd", v[i].srcline, NULL,
			    v[i].line);
			import_say(im, v[i].srcline, "-> sasl_passwd: %s "
			    "USER:PASSWORD (the I: user)", v[i].host);
		}
		sasl_passwd_free(sp);
		sp = NULL;
		diags_free(&d);
		explicit_bzero(v[i].line, strlen(v[i].line));
		free(v[i].host);
		free(v[i].line);
	}
	free(v);
}

/* ---- merging and writing ---- */

/* The line of a hikyaku.conf text setting key: its start, or NULL. */
static const char *
conf_find_key(const char *text, const char *key, size_t *len)
{
	const char *p = text, *q, *found = NULL;
	size_t kl = strlen(key);

	while (*p != '\0') {
		q = skip_ws(p);
		if (strncmp(q, key, kl) == 0 && *skip_ws(q + kl) == '=') {
			found = p;
			*len = strcspn(p, "\n");
		}
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
	}
	return found;
}

/* The new text of hikyaku.conf; report what changes. */
static char *
conf_merge(struct import *im, const char *old, int report)
{
	struct buf b;
	const char *at;
	char *cur = xstrdup(old), *setting;
	size_t i, len;

	for (i = 0; i < im->nkeys; i++) {
		const struct config_key *ck = config_key_find(im->keys[i].key);

		xasprintf(&setting, "%s = %s", im->keys[i].key,
		    im->keys[i].value);
		buf_init(&b);
		at = conf_find_key(cur, im->keys[i].key, &len);
		if (at == NULL && ck != NULL && ck->defval != NULL &&
		    strcmp(ck->defval, im->keys[i].value) == 0) {
			if (report)
				printf("hikyaku.conf: %s is the default "
				    "already\n", setting);
			free(setting);
			continue;
		}
		if (at != NULL) {
			if (strlen(setting) == len && strncmp(at, setting,
			    len) == 0) {
				if (report)
					printf("hikyaku.conf: %s already\n",
					    setting);
				free(setting);
				continue;
			}
			buf_add(&b, cur, (size_t)(at - cur));
			buf_addstr(&b, setting);
			buf_addstr(&b, at + len);
			if (report)
				printf("hikyaku.conf: replace \"%.*s\" with "
				    "\"%s\"\n", (int)len, at, setting);
		} else {
			buf_addstr(&b, cur);
			if (b.len > 0 && b.data[b.len - 1] != '\n')
				buf_addch(&b, '\n');
			buf_printf(&b, "# imported from %s line %d (%s) by "
			    "hikyaku import\n%s\n", im->src, im->keys[i].line,
			    im->keys[i].why, setting);
			if (report)
				printf("hikyaku.conf: add \"%s\"\n", setting);
		}
		buf_addch(&b, '\0');
		free(cur);
		cur = buf_take(&b);
		free(setting);
	}
	return cur;
}

struct import_out {
	char	*old;		/* NULL: the file does not exist */
	char	*text;		/* NULL: unchanged */
	struct stat st;
};

static void
import_build(struct import *im, struct import_out *out, int report)
{
	struct buf b;
	char *path;
	size_t i;

	for (i = 0; i < IMPORT_NFILES; i++) {
		xasprintf(&path, "%s/%s", im->confdir, import_conf_files[i]);
		out[i].old = read_file(path, NULL);
		if (out[i].old != NULL && stat(path, &out[i].st) == -1)
			memset(&out[i].st, 0, sizeof(out[i].st));
		free(path);
		if (i == 0 && im->nkeys > 0) {
			out[i].text = conf_merge(im, out[i].old ? out[i].old :
			    "", report);
			if (strcmp(out[i].text, out[i].old != NULL ?
			    out[i].old : "") == 0) {
				free(out[i].text);
				out[i].text = NULL;
			}
			continue;
		}
		if (im->add[i].len == 0)
			continue;
		buf_init(&b);
		if (out[i].old != NULL) {
			buf_addstr(&b, out[i].old);
			if (b.len > 0 && b.data[b.len - 1] != '\n')
				buf_addch(&b, '\n');
		}
		buf_add(&b, im->add[i].data, im->add[i].len);
		buf_addch(&b, '\0');
		out[i].text = buf_take(&b);
	}
}

static mode_t
import_mode(const struct import_out *o, size_t i)
{
	if (o->old != NULL && o->st.st_mode != 0)
		return o->st.st_mode & 07777;
	return strcmp(import_conf_files[i], "sasl_passwd") == 0 ? 0640 : 0644;
}

/* Validate the result in a scratch directory; 0 when it loads. */
static int
import_validate(struct import *im, struct import_out *out)
{
	char tmpl[] = "/tmp/hikyaku-import.XXXXXX", *p, *q, *abs;
	struct config *c = NULL;
	struct diags d = { 0 };
	size_t i, tl;
	int rc;

	if (mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "hikyaku import: mkdtemp: %s\n",
		    strerror(errno));
		return -1;
	}
	abs = realpath(im->confdir, NULL);
	for (i = 0; i < IMPORT_NFILES; i++) {
		xasprintf(&p, "%s/%s", tmpl, import_conf_files[i]);
		if (out[i].text != NULL) {
			if (write_file_atomic(p, out[i].text,
			    strlen(out[i].text), import_mode(&out[i], i)) == -1)
				fprintf(stderr, "hikyaku import: %s: %s\n", p,
				    strerror(errno));
		} else if (out[i].old != NULL && abs != NULL) {
			xasprintf(&q, "%s/%s", abs, import_conf_files[i]);
			if (symlink(q, p) == -1)
				fprintf(stderr, "hikyaku import: %s: %s\n", p,
				    strerror(errno));
			free(q);
		}
		free(p);
	}
	rc = config_load(tmpl, &c, &d);
	config_free(c);
	/* Name the real files, not the scratch copies. */
	tl = strlen(tmpl);
	for (i = 0; i < d.n; i++)
		if (d.v[i].file != NULL && strncmp(d.v[i].file, tmpl, tl) == 0) {
			xasprintf(&p, "%s%s", im->confdir, d.v[i].file + tl);
			free(d.v[i].file);
			d.v[i].file = p;
		}
	if (rc == -1) {
		printf("the result would not validate; nothing written:\n");
		diags_print(&d, stdout);
	}
	diags_free(&d);
	for (i = 0; i < IMPORT_NFILES; i++) {
		xasprintf(&p, "%s/%s", tmpl, import_conf_files[i]);
		unlink(p);
		free(p);
	}
	rmdir(tmpl);
	free(abs);
	return rc;
}

static int
import_write_one(struct import *im, struct import_out *o, size_t i)
{
	char *path, *bak, *err = NULL;
	mode_t mode = import_mode(o, i);
	int rc = -1;

	xasprintf(&path, "%s/%s", im->confdir, import_conf_files[i]);
	xasprintf(&bak, "%s~", path);
	if (o->old != NULL && write_file_atomic(bak, o->old, strlen(o->old),
	    mode) == -1) {
		fprintf(stderr, "hikyaku import: %s: %s\n", bak,
		    strerror(errno));
		goto out;
	}
	if (write_file_atomic(path, o->text, strlen(o->text), mode) == -1) {
		fprintf(stderr, "hikyaku import: %s: %s\n", path,
		    strerror(errno));
		goto out;
	}
	if (o->old != NULL && (o->st.st_uid != geteuid() ||
	    o->st.st_gid != getegid())) {
		if (chown(path, o->st.st_uid, o->st.st_gid) == -1 ||
		    chown(bak, o->st.st_uid, o->st.st_gid) == -1) {
			fprintf(stderr, "hikyaku import: %s: cannot keep owner "
			    "%ld:%ld: %s\n", path, (long)o->st.st_uid,
			    (long)o->st.st_gid, strerror(errno));
			goto out;
		}
	} else if (o->old == NULL && strcmp(import_conf_files[i],
	    "sasl_passwd") == 0 &&
	    config_give_to_daemon(path, im->confdir, &err) == -1) {
		fprintf(stderr, "hikyaku import: %s\n", err);
		free(err);
	}
	printf("wrote %s%s\n", path, o->old != NULL ? " (previous version "
	    "in FILE~)" : "");
	rc = 0;
out:
	free(path);
	free(bak);
	return rc;
}

static int
import_finish(struct import *im, int dry_run)
{
	struct import_out out[IMPORT_NFILES];
	struct config *c = NULL;
	struct diags d = { 0 };
	size_t i;
	int rc = CLI_EXIT_OK, any = 0;

	memset(out, 0, sizeof(out));
	import_build(im, out, 1);
	for (i = 0; i < IMPORT_NFILES; i++)
		any |= out[i].text != NULL;
	if (!any)
		printf("nothing to write\n");
	else if (import_validate(im, out) == -1)
		rc = CLI_EXIT_FAIL;
	else if (dry_run) {
		for (i = 0; i < IMPORT_NFILES; i++) {
			if (out[i].text == NULL)
				continue;
			if (i == 0)
				printf("--- %s/%s would become:\n%s",
				    im->confdir, import_conf_files[i],
				    out[i].text);
			else
				printf("--- %s/%s: would append:\n%.*s",
				    im->confdir, import_conf_files[i],
				    (int)im->add[i].len, im->add[i].data);
		}
		printf("dry run: nothing written\n");
	} else {
		for (i = 0; i < IMPORT_NFILES && rc == CLI_EXIT_OK; i++)
			if (out[i].text != NULL &&
			    import_write_one(im, &out[i], i) == -1)
				rc = CLI_EXIT_FAIL;
		if (config_load(im->confdir, &c, &d) == -1)
			rc = CLI_EXIT_FAIL;
		diags_print(&d, stdout);
		printf("config check: %s, %zu warning(s)\n", rc == CLI_EXIT_OK ?
		    "ok" : "FAILED", diags_count(&d, DIAG_WARNING));
		if (rc == CLI_EXIT_OK)
			printf("run `hikyaku reload` to make the daemon use "
			    "it\n");
		config_free(c);
		diags_free(&d);
	}
	for (i = 0; i < IMPORT_NFILES; i++) {
		free(out[i].old);
		if (out[i].text != NULL)
			explicit_bzero(out[i].text, strlen(out[i].text));
		free(out[i].text);
	}
	return rc;
}

int
cli_import(int argc, char **argv, const char *confdir)
{
	struct import im;
	struct pf_conf pc = { 0 };
	const char *kind = NULL, *file = NULL;
	char *text;
	int i, dry_run = 0, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0 ||
		    strcmp(argv[i], "-n") == 0)
			dry_run = 1;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(usage_import, stdout);
			return CLI_EXIT_OK;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fputs(usage_import, stderr);
			return CLI_EXIT_USAGE;
		} else if (kind == NULL)
			kind = argv[i];
		else if (file == NULL)
			file = argv[i];
		else {
			fputs(usage_import, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (kind == NULL || (strcmp(kind, "postfix") != 0 &&
	    strcmp(kind, "authinfo") != 0)) {
		fputs(usage_import, stderr);
		return CLI_EXIT_USAGE;
	}
	if (file == NULL)
		file = strcmp(kind, "postfix") == 0 ? "/etc/postfix/main.cf" :
		    "/etc/mail/authinfo";
	if ((text = read_file(file, NULL)) == NULL) {
		fprintf(stderr, "hikyaku import: %s: %s\n", file,
		    strerror(errno));
		return CLI_EXIT_FAIL;
	}
	memset(&im, 0, sizeof(im));
	im.src = file;
	im.confdir = confdir;
	for (i = 0; i < (int)IMPORT_NFILES; i++)
		buf_init(&im.add[i]);
	if (strcmp(kind, "postfix") == 0) {
		if (pf_parse(&im, text, &pc) == -1)
			im.failed = 1;
		pf_import(&im, &pc);
		pf_conf_free(&pc);
	} else
		ai_import(&im, text);
	explicit_bzero(text, strlen(text));
	free(text);
	import_print_msgs(&im);
	if (im.failed) {
		printf("%s: lines above could not be imported; nothing "
		    "written\n", file);
		rc = CLI_EXIT_FAIL;
	} else
		rc = import_finish(&im, dry_run);
	import_free(&im);
	return rc;
}
