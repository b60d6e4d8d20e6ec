/*
 * envelope: the queue file format, the maildrop file format and queue IDs.
 *
 * Pure (libhkpure.a): the daemon, the console, `mailq` and the injector all
 * read and write the spool through this module, so they agree byte for
 * byte. Parsing never trusts its input: a truncated, corrupt or future
 * file is an error with a message, never a crash.
 *
 * Spool layout (DESIGN §3, §12):
 *
 *   SPOOL/queue/ID.msg      the RFC 5322 message exactly as it will be sent:
 *                           CRLF line ends, not dot-stuffed, with our
 *                           Received: header first. Written once, never
 *                           changed.
 *   SPOOL/queue/ID.env      the envelope (text below). Rewritten by writing
 *                           ID.env.tmp and renaming it over ID.env on every
 *                           state change. The first rename of ID.env is the
 *                           commit point: an ID.msg without ID.env after a
 *                           crash was never acknowledged and is removed at
 *                           recovery, as is any *.tmp.
 *   SPOOL/maildrop/         mode 1733: the injector drops files here while
 *                           the daemon may be down (format below).
 *   SPOOL/quarantine/       corrupt queue and maildrop files, moved aside
 *                           with a log line; nothing is deleted.
 *
 * Queue IDs are 17 upper-case hex digits: 13 for microseconds since the
 * epoch, 4 from the process ID. Within a process each new ID is strictly
 * greater than the last (and than any ID passed to qid_seed), so IDs sort by
 * arrival even when the wall clock steps back; the files are created with
 * O_EXCL, so a collision between processes is retried, never overwritten.
 *
 * Envelope text format, version 1 (readable with cat):
 *
 *   hikyaku-envelope 1
 *   id: 0000000000000ABCD       envelope keys, one "key: value" per line
 *   sender: alice@example.org   (empty value = null sender <>)
 *   arrival: 1763800000         wall seconds
 *   size: 1234                  bytes of ID.msg
 *   held: 0
 *   smtputf8: 0
 *   body-8bit: 0
 *   client: host.example[192.0.2.1]
 *   helo: host.example
 *   auth-user: alice            (omitted when empty, as are other strings)
 *   tls: TLSv1.3 ...
 *   origin-uid: 1000            -1 unless injected through the maildrop
 *   dsn-sent: 0
 *   rcpt: bob@example.net       starts a recipient block; the keys after it
 *   orcpt: rfc822;bob@...       belong to that recipient
 *   state: deferred             pending|deferred|delivered|bounced
 *   attempts: 2
 *   next-try: 1763800600
 *   last-error: connect to ...: Connection refused
 *   relay: mx.example.net[198.51.100.7]:25
 *   dsn-status: 4.4.1
 *   history: 1763800300 text    oldest first, at most ENVELOPE_HISTORY_MAX
 *   end                         required: a file without it is truncated
 *
 * Values are escaped so no byte can break the line structure: backslash is
 * "\\", CR "\r", LF "\n", TAB "\t", other control bytes and DEL "\xHH".
 * Unknown keys are ignored (a newer daemon may add keys; an older reader
 * still reads the file); an unknown version number is an error.
 *
 * Maildrop file format (written by hikyaku-sendmail through maildrop_write):
 * the same envelope text — id empty or absent, sender, one rcpt line per
 * recipient — through its "end" line, followed directly by the message
 * with LF or CRLF line ends. The daemon takes the submitting uid from the
 * file's owner, never from the text (origin-uid there is ignored).
 * Files are named "ID.RANDOM" (tmp.ID.RANDOM while being written), mode
 * 0644 so the daemon (another uid) can read them; the directory is 1733 so
 * no user can list or remove another user's files, and the random part
 * keeps names unguessable.
 */
#ifndef HIKYAKU_ENVELOPE_H
#define HIKYAKU_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define QID_LEN			17
#define ENVELOPE_VERSION	1
#define ENVELOPE_HISTORY_MAX	10

#define SPOOL_QUEUE_DIR		"queue"
#define SPOOL_MAILDROP_DIR	"maildrop"
#define SPOOL_QUARANTINE_DIR	"quarantine"

enum rcpt_state {
	RCPT_PENDING,		/* never tried */
	RCPT_DEFERRED,		/* tried, failed temporarily, next_try set */
	RCPT_DELIVERED,		/* a remote (or local delivery) took it */
	RCPT_BOUNCED,		/* failed for good; a DSN is due or was sent */
};

struct envelope_history {
	int64_t	 when;		/* wall seconds */
	char	*text;
};

struct envelope_rcpt {
	char		*addr;
	char		*orcpt;		/* DSN ORCPT ("rfc822;addr") or NULL */
	enum rcpt_state	 state;
	int		 attempts;
	int64_t		 next_try;	/* wall seconds, 0 = now */
	char		*last_error;	/* in words, with the remote's reply */
	char		*relay;		/* host[ip]:port that took or refused it */
	char		*dsn_status;	/* "4.4.1", "2.0.0", ... */
	struct envelope_history *history;
	size_t		 nhistory;
};

struct envelope {
	char		 id[QID_LEN + 1];
	char		*sender;	/* "" = null sender <> */
	int64_t		 arrival;	/* wall seconds */
	int64_t		 size;		/* bytes of ID.msg */
	int		 held;
	int		 smtputf8;
	int		 body_8bit;
	char		*client;	/* "host[ip]", "local" for the maildrop */
	char		*helo;
	char		*auth_user;
	char		*tls;		/* TLS facts or NULL */
	int		 origin_uid;	/* -1, or the maildrop file's owner */
	int		 dsn_sent;
	struct envelope_rcpt *rcpts;
	size_t		 nrcpt;
	char		*path;		/* file it was read from; not serialised */
	/*
	 * Set by the scheduler, not serialised: the DSN this message owes
	 * is held back by the dsn_rate cap (its text, "3/1h") until
	 * dsn_wait_until (wall seconds). NULL when nothing holds it back.
	 */
	char		*dsn_wait_rate;
	int64_t		 dsn_wait_until;
};

/* Zero an envelope: no recipients, origin_uid -1, every string NULL. */
void	 envelope_init(struct envelope *);
/* Free everything the envelope holds (not the struct itself); re-init it. */
void	 envelope_free(struct envelope *);
/* Add a recipient (copies addr and orcpt, which may be NULL), PENDING. */
struct envelope_rcpt *envelope_add_rcpt(struct envelope *, const char *addr,
	    const char *orcpt);
/* Deep copy (for snapshots handed to another owner). */
void	 envelope_copy(struct envelope *dst, const struct envelope *src);
/*
 * Append "text" at 'when' to a recipient's history, dropping the oldest
 * entry beyond ENVELOPE_HISTORY_MAX.
 */
void	 envelope_rcpt_history_add(struct envelope_rcpt *, int64_t when,
	    const char *text);

/* Append the text form (through "end\n") to b. */
void	 envelope_serialize(const struct envelope *, struct buf *b);
/*
 * Parse exactly one envelope text of len bytes (nothing may follow "end").
 * 0, or -1 with *err (allocated, "line N: ...") and *out left initialised
 * and empty. Needs no NUL terminator.
 */
int	 envelope_parse(const char *text, size_t len, struct envelope *out,
	    char **err);
/* Read and parse a queue .env file; sets out->path. */
int	 envelope_read_file(const char *path, struct envelope *out, char **err);

/* Nonzero when every recipient is delivered or bounced. */
int	 envelope_all_done(const struct envelope *);
/* "pending", "deferred", "delivered", "bounced". */
const char *envelope_state_name(enum rcpt_state);
/* Reverse of envelope_state_name: 0, or -1 for an unknown name. */
int	 envelope_state_parse(const char *, enum rcpt_state *);

/*
 * New queue ID into out (NUL-terminated); see the ordering promise above.
 * Keeps state in the process: call from one thread (the loop).
 */
void	 qid_new(char out[QID_LEN + 1]);
/* Later IDs from this process sort after qid (recovery passes the largest). */
void	 qid_seed(const char *qid);
/* Nonzero when s is a well-formed queue ID. */
int	 qid_valid(const char *s);

/*
 * Maildrop: the envelope part of a maildrop file and where the message
 * starts. The envelope's id may be empty. 0, or -1 with *err.
 */
int	 maildrop_parse(const char *text, size_t len, struct envelope *out,
	    size_t *msg_offset, char **err);
/*
 * Write env (sender and recipients; other fields as given) and the message
 * (LF or CRLF line ends) to SPOOL/maildrop durably: tmp file, fsync,
 * rename, fsync of the directory. On success the file is the daemon's
 * to pick up and the injector may exit 0. 0, or -1 with *err; nothing is
 * left behind on failure.
 */
int	 maildrop_write(const char *spool, const struct envelope *env,
	    const char *msg, size_t len, char **err);

#endif
