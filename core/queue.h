/*
 * queue: the daemon's durable spool (DESIGN §3, §12 "Durability and group
 * commit"). File formats and the layout are in envelope.h.
 *
 * Promise: a message is reported committed (the session may answer 250)
 * only after its ID.msg, its ID.env and the directory entries are on disk:
 * the files are written and closed with every result checked, ID.env is
 * renamed into place, and a sync thread runs one syncfs() on the spool for
 * every commit queued so far (group commit: concurrent sessions share one
 * flush). Any failure (ENOSPC at write, close or sync) unlinks both files
 * and reports the errno; nothing partial remains. Updates after that
 * (crossing off recipients) are tmp+rename without a sync.
 *
 * Threads: everything here runs on the event loop thread except the sync
 * thread's syncfs(); completion callbacks run on the loop, in commit order.
 */
#ifndef HIKYAKU_QUEUE_H
#define HIKYAKU_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct envelope;
struct queue_incoming;

/*
 * Create the spool tree under 'spool' (0755; queue/ and quarantine/ 0750
 * with files 0640, so members of the daemon's group, the admins, can read
 * the queue with the console while the daemon is down; maildrop/ 1733)
 * and, when running as root, give it to owner:group
 * (call before dropping privileges; unprivileged it just creates what it
 * can). Keeps the spool open for the rest of the process. 0, or -1 *err.
 */
int	 queue_open(const char *spool, uid_t owner, gid_t group, char **err);
/* Stop the sync thread (after finishing queued work) and close the spool. */
void	 queue_close(void);

/*
 * Settings the maildrop pickup needs: our host name for Received: and
 * Message-ID, and the largest message accepted (0 = no limit).
 */
void	 queue_configure(const char *me, int64_t max_message_size);

/*
 * Every committed message, SMTP or maildrop, is handed to this hook on the
 * loop thread right after the session's done callback returned (so env is
 * intact during done); the hook takes ownership of env (xmalloc'ed;
 * envelope_free + free). The scheduler registers it. Without a hook the
 * queue frees env.
 */
void	 queue_set_committed_hook(void (*hook)(struct envelope *env,
	    void *arg), void *arg);

/*
 * Start a message. head is xmalloc'ed and filled by the caller (sender,
 * recipients, client facts); the queue takes ownership, sets id and
 * arrival, and creates ID.msg with O_EXCL. NULL with *err on failure
 * (head is freed then too).
 */
struct queue_incoming *queue_incoming_new(struct envelope *head, char **err);
const char *queue_incoming_id(const struct queue_incoming *);
/* The envelope being built (e.g. to set smtputf8 or body_8bit late). */
struct envelope *queue_incoming_envelope(struct queue_incoming *);
/*
 * Append message bytes (CRLF line ends, not dot-stuffed), buffered.
 * 0, or -1 with errno (ENOSPC: answer 452); an error sticks, so the caller
 * may keep reading DATA to its end and then abort.
 */
int	 queue_incoming_write(struct queue_incoming *, const void *, size_t);

/*
 * Called on the loop thread when a commit finished. env is the committed
 * envelope, valid only during the call (the committed hook owns it), or
 * NULL on failure with error = errno (both files are gone then).
 */
typedef void (*queue_done_cb)(void *arg, const struct envelope *env,
	    int error);
/*
 * Finish the message: flush, close, write and rename ID.env, queue for the
 * sync thread. done runs later on the loop (never inside this call), after
 * which the queue frees the incoming: forget the pointer there. done may
 * be NULL.
 */
void	 queue_incoming_commit(struct queue_incoming *, queue_done_cb done,
	    void *arg);
/*
 * The session is going away before its done callback ran: the message is
 * still committed and handed to the committed hook, but done is not called.
 */
void	 queue_incoming_detach(struct queue_incoming *);
/* Give up before commit: unlink ID.msg, free everything. */
void	 queue_incoming_abort(struct queue_incoming *);

/* Rewrite ID.env from env (tmp + rename, no sync). 0, or -1 with errno. */
int	 queue_update(const struct envelope *);
/* Remove a message: ID.env first (the commit point), then ID.msg. */
int	 queue_remove(const char *qid);
/* O_RDONLY|O_CLOEXEC descriptor of ID.msg for delivery; -1 with errno. */
int	 queue_message_open(const char *qid);

/*
 * Start-up: remove orphans (ID.msg without ID.env, *.tmp), move corrupt
 * envelopes (and their message) to quarantine/ with a log line, and hand
 * every good envelope to cb (xmalloc'ed, cb owns it) in queue-ID order.
 * Returns the number of messages recovered, or -1 if the queue directory
 * cannot be read.
 */
int	 queue_recover(void (*cb)(struct envelope *, void *), void *arg);

/*
 * Pick up maildrop files: each valid file becomes a normal queued message
 * through the incoming path (so it is synced) with a Received: header
 * naming the submitting uid, Message-ID/Date added when missing; the drop
 * file is unlinked once the copy is committed. Invalid files go to
 * quarantine/. Returns how many files were taken in hand.
 */
int	 queue_maildrop_scan(void);
/*
 * Watch maildrop/ (inotify, plus a periodic rescan as a backstop) and scan
 * whenever files arrive. Needs the event loop. 0, or -1 with *err.
 */
int	 queue_maildrop_watch(char **err);

/* Number of sync batches run so far (tests, bench, status). */
uint64_t queue_sync_count(void);
/* Number of messages whose commit those syncs covered. */
uint64_t queue_synced_messages(void);

#endif
