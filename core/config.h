/*
 * config: the configuration directory (hikyaku.conf, remotes,
 * local-host-names, access, aliases, transport, sasl_passwd, sender_relay,
 * generics) read into one struct config, and the diagnostics every parser
 * in hikyaku reports through.
 *
 * Promises: one key table (config_table.c) drives parsing, `config check`,
 * the console and the man page; every problem is a diagnostic with
 * file:line:column; loading never resolves a name or touches the network;
 * a config that failed to load is never half-applied (the caller keeps
 * its old one). Durations are seconds, sizes bytes. Relative paths in
 * hikyaku.conf are made absolute against the config directory.
 */
#ifndef HIKYAKU_CONFIG_H
#define HIKYAKU_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "remotes.h"

struct access;
struct aliases;
struct transport;
struct sasl_passwd;
struct addr_map;

/* Diagnostics: warnings never fail a load, errors always do. */
struct diag {
	char	*file;
	int	 line, col;	/* 1-based; 0 when the whole file is meant */
	enum diag_severity { DIAG_WARNING, DIAG_ERROR } severity;
	char	*msg;
};

struct diags {
	struct diag	*v;
	size_t		 n;
};

void	 diags_add(struct diags *, const char *file, int line, int col,
	    enum diag_severity, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));
void	 diags_free(struct diags *);
int	 diags_has_errors(const struct diags *);
size_t	 diags_count(const struct diags *, enum diag_severity);
/*
 * One line each: "file:line:col: error: msg" ("file: warning: msg" when
 * line is 0, as compilers do for whole-file problems).
 */
void	 diags_print(const struct diags *, FILE *);
/* The same text for one diagnostic (allocated). */
/* "file:line:col" (as much of it as is known); allocated. */
char	*diag_where(const struct diag *);
char	*diag_format(const struct diag *);

enum listen_mode { LISTEN_RELAY, LISTEN_SUBMISSION, LISTEN_SMTPS };

struct listen_cfg {
	char		*addr;		/* "127.0.0.1", "::1", "*" */
	int		 port;
	int		 family;	/* AF_INET, AF_INET6, AF_UNSPEC for "*" */
	enum listen_mode mode;
	int		 line;		/* in hikyaku.conf; 0 for the default */
};

struct config {
	char		*dir;
	char		*me, *defaultdomain, *adminaddr, *helo_name;
	struct listen_cfg *listens;
	size_t		 nlisten;
	char		*spool, *user, *tls_cert, *tls_key, *control_socket;
	char		*log, *mailbox_root, *pipe_user, *resolver;
	int64_t		 max_message_size, command_timeout, data_timeout;
	int64_t		 pausetime, maxpause, queue_lifetime, sendtimeout;
	int64_t		 greet_pause, pipe_timeout;
	int		 max_recipients, max_connections, max_connections_per_ip;
	int		 max_hops, max_connections_per_remote;
	int		 smtpd_plaintext_auth, vrfy, expn, peer_lookup;
	/* "COUNT/DURATION" or "0" (off): read with config_parse_rate(). */
	char		*rate_limit, *bad_rcpt_throttle, *dsn_rate, *remote_rate;
	enum smtp_tls_policy {
		SMTP_TLS_NONE, SMTP_TLS_MAY, SMTP_TLS_VERIFY
	} smtp_tls;
	struct remote	*remotes;
	size_t		 nremotes;
	char		**local_domains;	/* lower case, no trailing dot */
	size_t		 nlocal_domains;
	/* The rule files; NULL when the file does not exist (no rules). */
	struct access		*access;
	struct aliases		*aliases;
	struct transport	*transport;
	struct sasl_passwd	*sasl_passwd;
	struct addr_map		*sender_relay;
	struct addr_map		*generics;
};

/*
 * Read DIR/hikyaku.conf, DIR/remotes, DIR/local-host-names and the rule
 * files (access, aliases, transport, sasl_passwd, sender_relay,
 * generics). Missing files other than hikyaku.conf are empty; a missing
 * hikyaku.conf means all defaults. Returns 0 when there was no error (warnings allowed) and sets
 * *out; returns -1 with *out NULL otherwise.
 */
int	 config_load(const char *dir, struct config **out, struct diags *d);
/*
 * Only DIR/hikyaku.conf and DIR/local-host-names: what the injector and
 * mailq need, readable by any uid. remotes, the rule files and the
 * secrets (0640 root:hikyaku) are left out, so remotes is empty and the
 * rule tables are NULL; the result must not drive delivery.
 */
int	 config_load_main(const char *dir, struct config **out,
	    struct diags *d);
void	 config_free(struct config *);

/*
 * Run as root: give the secret file at path the group of the daemon's
 * user (`user` in DIR/hikyaku.conf) so it can read the file at 0640,
 * root:GROUP (DESIGN §12). Not root: nothing to do (the file is ours).
 * 0, or -1 with *err (allocated) saying why and what to run instead.
 */
int	 config_give_to_daemon(const char *path, const char *dir, char **err);

/*
 * me, localhost, localhost.localdomain and local-host-names entries;
 * ASCII case-insensitive, a trailing dot ignored. Callers pass A-labels.
 */
int	 config_is_local_domain(const struct config *, const char *domain);

/* $HIKYAKU_CONFIG_DIR, else the compiled-in directory. */
const char *config_default_dir(void);

/*
 * "COUNT/DURATION" ("30/1m", "100/1h"); "0", "off" or "" mean no limit
 * (count 0). Returns 0, or -1 with *err a static message.
 */
int	 config_parse_rate(const char *, int *count, int64_t *per,
	    const char **err);

/* A listen value ("127.0.0.1:25 relay", "[::1]:587 submission"). */
int	 config_parse_listen(const char *, struct listen_cfg *,
	    const char **err);
const char *config_listen_mode_name(enum listen_mode);

/* The key table: one row per key, read by parser, check, console, docs. */
enum config_type {
	CT_STRING, CT_BOOL, CT_INT, CT_DURATION, CT_SIZE, CT_ENUM,
	CT_LISTEN, CT_PATH, CT_RATE
};

struct config_key {
	const char	*name;
	enum config_type type;
	const char	*defval;	/* as it would be written in the file */
	int64_t		 min, max;	/* for CT_INT, CT_DURATION, CT_SIZE */
	const char	*enum_values;	/* CT_ENUM: "none|may|verify" */
	const char	*help;		/* one or two sentences */
	size_t		 offset;	/* into struct config */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/*
 * The candidate closest to word by edit distance, for "did you mean";
 * NULL when none is close enough to be a plausible typo.
 */
const char *config_suggest(const char *word, const char *const *cands,
	    size_t n);

const struct config_key *config_key_find(const char *name);
/* The key name closest to name (edit distance), or NULL if none is near. */
const char *config_key_suggest(const char *name);

#endif
