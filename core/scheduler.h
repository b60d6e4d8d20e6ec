/*
 * scheduler: decides when and where each queued recipient is delivered.
 *
 * It keeps the in-memory index of the queue (one entry per message: ids,
 * per-recipient state, next attempt), routes recipients (remotes in order
 * with failover; transport and sender_relay come with the rules issue),
 * runs smtp_client sessions with bounded parallel connections per remote,
 * connection reuse, remote_rate pacing and a sendtimeout deadline on each
 * delivery attempt, applies backoff (pausetime doubling to maxpause),
 * bounces (5xx, queue_lifetime) through bounce.c, and records every
 * outcome in the envelope through queue.c before acting on it.
 *
 * Queue actions from the control socket go through the functions below,
 * so they are safe while deliveries run. Observers (the control socket's
 * subscribers, the log) get an event for every change.
 */
#ifndef HIKYAKU_SCHEDULER_H
#define HIKYAKU_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct envelope;

enum sched_event_kind {
	SCHED_MSG_ADDED,	/* a message entered the queue */
	SCHED_MSG_CHANGED,	/* state, attempts, next try or error changed */
	SCHED_MSG_REMOVED,	/* delivered/bounced completely or deleted */
};

typedef void (*sched_observer)(enum sched_event_kind, const struct envelope *,
    void *arg);

/* Load the spool index (recovery) and start scheduling. */
int	 sched_init(const struct config *);
/* A new config after reload: routes and limits change for future tries. */
void	 sched_reconfigure(const struct config *);
/* queue.c committed a new message (from SMTP or the maildrop). */
void	 sched_enqueue(struct envelope *);

/* Control actions. Return 0, or -1 if there is no such message. */
int	 sched_retry(const char *qid);
int	 sched_delete(const char *qid);
int	 sched_hold(const char *qid);
int	 sched_release(const char *qid);
int	 sched_bounce(const char *qid);
void	 sched_flush(void);

/* Iterate over the queue in queue-ID (arrival) order. */
void	 sched_foreach(void (*)(const struct envelope *, void *), void *);
/*
 * The same order, from the offset-th message (0-based) for at most limit
 * messages: a page costs its own size, not the queue's. Returns the
 * number of messages in the queue.
 */
size_t	 sched_foreach_page(size_t offset, size_t limit,
	    void (*)(const struct envelope *, void *), void *);
const struct envelope *sched_find(const char *qid);

void	 sched_observe(sched_observer, void *arg);
void	 sched_unobserve(sched_observer, void *arg);

struct sched_stats {
	size_t	 messages;
	size_t	 recipients_pending;
	size_t	 recipients_deferred;
	size_t	 recipients_held;
	size_t	 active_connections;
	uint64_t delivered_total;
	uint64_t deferred_total;
	uint64_t bounced_total;
	/* The same outcomes in the last 60 minutes (whole minutes). */
	uint64_t delivered_hour;
	uint64_t deferred_hour;
	uint64_t bounced_hour;
};
void	 sched_get_stats(struct sched_stats *);

/* Remote failover state, for status: one line per remotes entry. */
struct sched_remote_state {
	const char	*host;
	int		 port;
	int		 up;		/* last attempt succeeded or never tried */
	int64_t		 down_since;	/* wall ms, 0 if up */
	const char	*last_error;
	uint64_t	 delivered;
};
size_t	 sched_remote_states(struct sched_remote_state *, size_t max);

/* Stop accepting work, close sessions (on SIGTERM). */
void	 sched_shutdown(void);

#endif
