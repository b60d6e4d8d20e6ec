/*
 * scheduler: decides when and where each queued recipient is delivered.
 *
 * The queue index is an array of entries sorted by queue ID (IDs only grow
 * within a process, so new messages append). Entries due for delivery sit
 * on a FIFO run list; deferred ones wait for one retry timer armed at the
 * earliest next try.
 *
 * Each due recipient is routed by the rules engine (rules.h): local
 * recipients expand through aliases and are delivered here (local.h:
 * mbox, Maildir, pipes), addresses an alias expands to join the envelope
 * as recipients of their own (ORCPT names the alias), and SMTP recipients
 * go to a pool: the remotes list (with failover) or one pool per next hop
 * that transport or sender_relay chose. Every outcome is logged with the
 * rule (file:line) behind it, the same the tracer prints.
 *
 * Delivery is organised per remote (a "pool"): a job is one message and
 * the recipients it should carry to that remote. A pool keeps up to
 * max_connections_per_remote client sessions and a list of waiting jobs;
 * an idle session takes the next job, so several messages share one
 * connection. A connection-level failure marks the remote down and moves
 * the waiting jobs on to the next remote (failover); a recipient that gets
 * a temporary failure from every remote is deferred with backoff.
 * sendtimeout bounds each attempt (a connection's set-up with its first
 * message, then each further message); remote_rate spaces the message
 * starts of a pool evenly, the jobs over the rate waiting on the pool.
 *
 * Every outcome is written to the envelope (queue_update) before anything
 * else acts on it; the message leaves the queue once every recipient is
 * delivered or bounced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounce.h"
#include "config.h"
#include "dns.h"
#include "envelope.h"
#include "event.h"
#include "local.h"
#include "log.h"
#include "queue.h"
#include "remotes.h"
#include "rules.h"
#include "scheduler.h"
#include "smtp_client.h"
#include "util.h"

#define SCHED_IDLE_CLOSE_MS	5000	/* idle upstream sessions linger */
#define SCHED_MAX_OBSERVERS	16
#define SCHED_DOUBLE_BOUNCE	"double-bounce"

struct sched_entry {
	struct envelope		*env;
	int			 inflight;	/* jobs out for this message */
	int			 queued;	/* on the run list */
	int			 deleted;	/* removed while jobs were out */
	int			 dsn_committing; /* its DSN is being synced */
	struct sched_entry	*run_next;
};

struct sched_pool;

struct sched_job {
	struct sched_entry	*entry;
	struct sched_pool	*pool;
	size_t			 remote_idx;	/* index into the pools */
	size_t			*rcpt_idx;	/* recipients carried */
	const char		**rcpt_addrs;
	char			**rules;	/* per recipient: the route rule */
	char			*sender;	/* after generics */
	char			*sender_rule;	/* the generics line, or NULL */
	size_t			 nrcpt;
	struct smtp_client_msg	 msg;
	struct sched_job	*next;
};

struct sched_conn {
	struct sched_pool		*pool;
	struct smtp_client_session	*session;
	struct smtp_client_target	 target;
	struct sched_job		*job;		/* in flight */
	int				 ready;		/* idle and usable */
	int				 ever_ready;
	struct ev_timer			*idle_timer;
	/* sendtimeout: the attempt in progress (connecting, or a message). */
	struct ev_timer			*deadline;
	struct sched_conn		*next;
};

struct sched_pool {
	const struct remote	*remote;	/* &own */
	struct remote		 own;		/* with sasl_passwd credentials */
	size_t			 idx;
	int			 is_route;	/* a transport/sender_relay hop */
	char			*key;		/* route pools: rules' key */
	int			 mx;		/* resolve MX before connecting */
	struct dns_query	*dnsq;
	struct sockaddr_storage	*addrs;		/* MX answer, cached */
	size_t			 naddrs;
	int			 retired;	/* from a previous config */
	struct sched_conn	*conns;
	size_t			 nconn;
	struct sched_job	*waiting, **waiting_tail;
	int			 up;
	int64_t			 down_since;	/* wall ms */
	char			*last_error;
	uint64_t		 delivered;
	/* remote_rate: no message starts before rate_next (monotonic ms). */
	uint64_t		 rate_next;
	struct ev_timer		*rate_timer;
	int			 rate_holding;	/* said so in the log */
};

struct sched_observer_slot {
	sched_observer	 fn;
	void		*arg;
};

static const struct config	*sched_cfg;
static struct sched_entry	**sched_entries;
static size_t			 sched_nentries, sched_entcap;
static struct sched_entry	*sched_run_head, **sched_run_tail = &sched_run_head;
static struct sched_pool	**sched_pools;
static size_t			 sched_npools;
static struct sched_pool	**sched_retired;
static size_t			 sched_nretired;
static struct sched_pool	**sched_routes;
static size_t			 sched_nroutes;
static struct ev_timer		*sched_retry_timer;
static struct ev_timer		*sched_run_timer;
static struct sched_observer_slot sched_observers[SCHED_MAX_OBSERVERS];
static struct sched_stats	 sched_counters;
/*
 * Outcomes per minute for "the last hour" of status: slot minute % 60
 * holds the counts of that minute, zeroed when a later minute reuses it.
 */
enum sched_outcome { SCHED_DELIVERED, SCHED_DEFERRED, SCHED_BOUNCED };
#define SCHED_RATE_MINUTES	60
static struct {
	uint64_t	 minute;	/* monotonic minutes */
	uint32_t	 n[3];		/* by enum sched_outcome */
} sched_rate[SCHED_RATE_MINUTES];
static int			 sched_stopping;
static int64_t			 sched_dsn_window_start;
static int			 sched_dsn_in_window;
static int			 sched_dsn_cap_logged;	/* this window */

static void	sched_run(void *);
static void	sched_pool_kick(struct sched_pool *);
static void	sched_job_finish(struct sched_job *, const char *relay);
static void	sched_entry_settle(struct sched_entry *);

static void
sched_job_free(struct sched_job *j)
{
	size_t	 i;

	if (j->msg.msg_fd != -1)
		close(j->msg.msg_fd);
	smtp_client_msg_clear(&j->msg);
	for (i = 0; j->rules != NULL && i < j->nrcpt; i++)
		free(j->rules[i]);
	free(j->rules);
	free(j->sender);
	free(j->sender_rule);
	free(j->rcpt_idx);
	free(j->rcpt_addrs);
	free(j);
}

static int64_t
wall_now(void)
{
	return (now_wall_ms() / 1000);
}

static void
sched_notify(enum sched_event_kind kind, const struct envelope *env)
{
	size_t	 i;

	for (i = 0; i < nitems(sched_observers); i++)
		if (sched_observers[i].fn != NULL)
			sched_observers[i].fn(kind, env,
			    sched_observers[i].arg);
}

void
sched_observe(sched_observer fn, void *arg)
{
	size_t	 i;

	for (i = 0; i < nitems(sched_observers); i++) {
		if (sched_observers[i].fn == NULL) {
			sched_observers[i].fn = fn;
			sched_observers[i].arg = arg;
			return;
		}
	}
	log_warn("scheduler: too many observers");
}

void
sched_unobserve(sched_observer fn, void *arg)
{
	size_t	 i;

	for (i = 0; i < nitems(sched_observers); i++) {
		if (sched_observers[i].fn == fn &&
		    sched_observers[i].arg == arg) {
			sched_observers[i].fn = NULL;
			sched_observers[i].arg = NULL;
		}
	}
}

/* One delivery outcome: the since-start total and this minute's slot. */
static void
sched_count(enum sched_outcome what)
{
	uint64_t	 minute = now_monotonic_ms() / 60000;
	size_t		 slot = minute % SCHED_RATE_MINUTES;

	if (sched_rate[slot].minute != minute) {
		memset(&sched_rate[slot], 0, sizeof(sched_rate[slot]));
		sched_rate[slot].minute = minute;
	}
	sched_rate[slot].n[what]++;
	switch (what) {
	case SCHED_DELIVERED:
		sched_counters.delivered_total++;
		break;
	case SCHED_DEFERRED:
		sched_counters.deferred_total++;
		break;
	case SCHED_BOUNCED:
		sched_counters.bounced_total++;
		break;
	}
}

/* Binary search by queue ID; *pos is the insertion point when missing. */
static struct sched_entry *
sched_lookup(const char *qid, size_t *pos)
{
	size_t	 lo = 0, hi = sched_nentries, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(sched_entries[mid]->env->id, qid);
		if (c == 0) {
			if (pos != NULL)
				*pos = mid;
			return (sched_entries[mid]);
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos != NULL)
		*pos = lo;
	return (NULL);
}

static void
sched_index_insert(struct sched_entry *e)
{
	size_t	 pos;

	if (sched_lookup(e->env->id, &pos) != NULL)
		fatal("scheduler: duplicate queue ID %s", e->env->id);
	if (sched_nentries == sched_entcap) {
		sched_entcap = sched_entcap == 0 ? 256 : sched_entcap * 2;
		sched_entries = xreallocarray(sched_entries, sched_entcap,
		    sizeof *sched_entries);
	}
	memmove(sched_entries + pos + 1, sched_entries + pos,
	    (sched_nentries - pos) * sizeof *sched_entries);
	sched_entries[pos] = e;
	sched_nentries++;
}

static void
sched_index_remove(struct sched_entry *e)
{
	size_t	 pos;

	if (sched_lookup(e->env->id, &pos) != e)
		return;
	memmove(sched_entries + pos, sched_entries + pos + 1,
	    (sched_nentries - pos - 1) * sizeof *sched_entries);
	sched_nentries--;
}

static void
sched_entry_free(struct sched_entry *e)
{
	envelope_free(e->env);
	free(e->env);
	free(e);
}

/* Drop an entry from the index; freed now or when its jobs come back. */
static void
sched_entry_drop(struct sched_entry *e)
{
	struct sched_entry	**pp;

	sched_index_remove(e);
	if (e->queued) {
		for (pp = &sched_run_head; *pp != NULL; pp = &(*pp)->run_next) {
			if (*pp == e) {
				*pp = e->run_next;
				if (*pp == NULL)
					sched_run_tail = pp;
				break;
			}
		}
		e->queued = 0;
	}
	sched_notify(SCHED_MSG_REMOVED, e->env);
	e->deleted = 1;
	if (e->inflight == 0)
		sched_entry_free(e);
}

static void
sched_run_soon(void)
{
	if (!ev_timer_pending(sched_run_timer))
		ev_timer_after(sched_run_timer, 0);
}

static void
sched_make_runnable(struct sched_entry *e)
{
	if (e->queued || e->deleted)
		return;
	e->queued = 1;
	e->run_next = NULL;
	*sched_run_tail = e;
	sched_run_tail = &e->run_next;
	sched_run_soon();
}

/* Recipients of e that are due now and not already out. */
static int
rcpt_due(const struct envelope_rcpt *r, int64_t now)
{
	return ((r->state == RCPT_PENDING || r->state == RCPT_DEFERRED) &&
	    r->next_try <= now);
}

/* Arm the retry timer for wall time 'when' unless it fires sooner. */
static void
sched_retry_at(int64_t when)
{
	static int64_t	 armed_for;
	int64_t		 now = wall_now();

	if (ev_timer_pending(sched_retry_timer) && armed_for <= when)
		return;
	armed_for = when;
	ev_timer_after(sched_retry_timer,
	    when <= now ? 0 : (uint64_t)(when - now) * 1000);
}

/* The earliest retry of one message, INT64_MAX if none is deferred. */
static int64_t
sched_entry_next_try(const struct sched_entry *e)
{
	int64_t	 soonest = INT64_MAX;
	size_t	 j;

	if (e->env->held || e->inflight > 0)
		return (INT64_MAX);
	for (j = 0; j < e->env->nrcpt; j++) {
		if (e->env->rcpts[j].state == RCPT_DEFERRED &&
		    e->env->rcpts[j].next_try < soonest)
			soonest = e->env->rcpts[j].next_try;
	}
	return (soonest);
}

static void
sched_arm_retry(void)
{
	int64_t		 soonest = INT64_MAX, t;
	size_t		 i;

	for (i = 0; i < sched_nentries; i++) {
		if ((t = sched_entry_next_try(sched_entries[i])) < soonest)
			soonest = t;
	}
	if (soonest == INT64_MAX)
		ev_timer_stop(sched_retry_timer);
	else
		sched_retry_at(soonest);
}

/* A recipient bounced but its DSN could not be queued yet. */
static int
sched_dsn_owed(const struct envelope *env)
{
	size_t	 i;

	if (env->dsn_sent)
		return (0);
	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].state == RCPT_BOUNCED)
			return (1);
	return (0);
}

static void
sched_retry_due(void *arg)
{
	int64_t		 now = wall_now();
	size_t		 i, j;
	struct envelope	*env;

	for (i = 0; i < sched_nentries; i++) {
		env = sched_entries[i]->env;
		if (env->held || sched_entries[i]->inflight > 0)
			continue;
		for (j = 0; j < env->nrcpt; j++) {
			if (rcpt_due(&env->rcpts[j], now) ||
			    sched_dsn_owed(env)) {
				sched_make_runnable(sched_entries[i]);
				break;
			}
		}
	}
	sched_arm_retry();
}

static int
sched_persist(struct sched_entry *e)
{
	if (queue_update(e->env) == -1) {
		log_err("%s: cannot update envelope: %s", e->env->id,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* --- pools and connections --- */

static struct sched_pool *
sched_pool_new(const struct remote *r, size_t idx)
{
	struct sched_pool	*p;

	p = xcalloc(1, sizeof *p);
	rules_remote_with_credentials(sched_cfg, r, &p->own, NULL);
	p->remote = &p->own;
	p->idx = idx;
	p->up = 1;
	p->waiting_tail = &p->waiting;
	return (p);
}

static void
sched_pool_push(struct sched_pool *p, struct sched_job *j)
{
	j->next = NULL;
	*p->waiting_tail = j;
	p->waiting_tail = &j->next;
}

static struct sched_job *
sched_pool_pop(struct sched_pool *p)
{
	struct sched_job	*j;

	if ((j = p->waiting) == NULL)
		return (NULL);
	p->waiting = j->next;
	if (p->waiting == NULL)
		p->waiting_tail = &p->waiting;
	j->next = NULL;
	return (j);
}

static void
sched_conn_free(struct sched_conn *c)
{
	struct sched_pool	*p = c->pool;
	struct sched_conn	**pp;

	for (pp = &p->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	p->nconn--;
	sched_counters.active_connections--;
	ev_timer_free(c->idle_timer);
	ev_timer_free(c->deadline);
	smtp_client_free(c->session);
	free(c);
}

/* "remotes:2", "transport:1": the line that named this next hop. */
static char *
sched_pool_where(const struct sched_pool *p)
{
	if (p->remote->file == NULL)
		return (xstrdup("built-in"));
	return (rules_where(p->remote->file, p->remote->line));
}

static void
sched_pool_set_down(struct sched_pool *p, const char *why)
{
	char	*where;

	if (p->up) {
		p->up = 0;
		p->down_since = now_wall_ms();
		where = sched_pool_where(p);
		log_warn("remote %s:%d (%s) is down: %s", p->remote->host,
		    p->remote->port, where, why);
		free(where);
	}
	free(p->last_error);
	p->last_error = xstrdup(why);
}

static void
sched_pool_set_up(struct sched_pool *p)
{
	char	*where;

	if (!p->up) {
		where = sched_pool_where(p);
		log_info("remote %s:%d (%s) is up again", p->remote->host,
		    p->remote->port, where);
		free(where);
	}
	p->up = 1;
	p->down_since = 0;
	free(p->last_error);
	p->last_error = NULL;
}

static void
sched_idle_close(void *arg)
{
	struct sched_conn	*c = arg;

	if (c->ready && c->job == NULL) {
		c->ready = 0;
		smtp_client_quit(c->session);
	}
}

/*
 * remote_rate as the gap between two message starts, ms; 0: no limit.
 * Worked out once per configuration, read at every message start.
 */
static uint64_t sched_gap_ms;

static uint64_t
rate_gap_ms(const struct config *cfg)
{
	int		 count;
	int64_t		 per;
	const char	*err;

	if (cfg->remote_rate == NULL ||
	    config_parse_rate(cfg->remote_rate, &count, &per, &err) == -1 ||
	    count == 0)
		return (0);
	/* Rounded up: evenly spaced starts never exceed COUNT per DURATION. */
	return (((uint64_t)per * 1000 + (uint64_t)count - 1) / (uint64_t)count);
}

static void
sched_pool_rate_due(void *arg)
{
	sched_pool_kick(arg);
}

/*
 * How long remote_rate still holds this pool's next message back (0: it
 * may start now). A burst is spread out, not refused: the jobs wait on
 * the pool (no deferral, no backoff) and a timer kicks it when the window
 * opens. Said once in the log when holding back begins.
 */
static uint64_t
sched_pool_rate_wait(struct sched_pool *p)
{
	uint64_t		 now = now_monotonic_ms(), gap;
	size_t			 waiting = 0;
	struct sched_job	*j;
	char			*where;

	if ((gap = sched_gap_ms) == 0 || now >= p->rate_next)
		return (0);
	if (p->rate_timer == NULL)
		p->rate_timer = ev_timer_new(sched_pool_rate_due, p);
	if (!ev_timer_pending(p->rate_timer))
		ev_timer_after(p->rate_timer, p->rate_next - now);
	if (!p->rate_holding) {
		p->rate_holding = 1;
		for (j = p->waiting; j != NULL; j = j->next)
			waiting++;
		where = sched_pool_where(p);
		log_info("remote %s:%d (%s): remote_rate %s holds mail back: "
		    "%zu message%s waiting, one starts every %llu ms",
		    p->remote->host, p->remote->port, where,
		    sched_cfg->remote_rate, waiting, waiting == 1 ? "" : "s",
		    (unsigned long long)gap);
		free(where);
	}
	return (p->rate_next - now);
}

/* A message starts now: the next one may start a gap later. */
static void
sched_pool_rate_spend(struct sched_pool *p)
{
	uint64_t	 gap = sched_gap_ms;

	if (gap == 0)
		return;
	p->rate_next = now_monotonic_ms() + gap;
	if (p->waiting == NULL)
		p->rate_holding = 0;
}

static void
sched_conn_take_job(struct sched_conn *c)
{
	struct sched_pool	*p = c->pool;
	struct sched_job	*j;

	if (!c->ready || c->job != NULL)
		return;
	if (p->retired || sched_stopping) {
		c->ready = 0;
		ev_timer_stop(c->deadline);
		smtp_client_quit(c->session);
		return;
	}
	if (p->waiting == NULL || sched_pool_rate_wait(p) > 0) {
		/* Idle: no attempt runs, so no sendtimeout either. */
		ev_timer_stop(c->deadline);
		ev_timer_after(c->idle_timer, SCHED_IDLE_CLOSE_MS);
		return;
	}
	j = sched_pool_pop(p);
	ev_timer_stop(c->idle_timer);
	c->job = j;
	c->ready = 0;
	if (smtp_client_send(c->session, &j->msg) == -1) {
		/* Not idle after all: put the job back for another session. */
		c->job = NULL;
		sched_pool_push(p, j);
		return;
	}
	sched_pool_rate_spend(p);
	/* The first message of a connection inherits the connect's deadline. */
	if (!ev_timer_pending(c->deadline))
		ev_timer_after(c->deadline,
		    (uint64_t)sched_cfg->sendtimeout * 1000);
}

/* Jobs of a pool that cannot reach its remote move to the next one. */
/* Every recipient of a job failed for one reason, in our own words. */
static void
sched_job_fail(struct sched_job *j, const char *why, int temporary,
    const char *relay)
{
	size_t	 i;

	smtp_client_msg_clear(&j->msg);
	j->msg.results = xcalloc(j->nrcpt, sizeof *j->msg.results);
	for (i = 0; i < j->nrcpt; i++) {
		j->msg.results[i].temporary = temporary;
		j->msg.results[i].reply = xstrdup(why);
	}
	sched_job_finish(j, relay);
}

static void
sched_pool_fail_waiting(struct sched_pool *p, const char *why, int temporary)
{
	struct sched_job	*j;

	while ((j = sched_pool_pop(p)) != NULL)
		sched_job_fail(j, why, temporary, NULL);
}

/*
 * A connection failed (its job's results are filled): a remote that never
 * got as far as ready is down; the connection goes.
 */
static void
sched_conn_lost(struct sched_conn *c, const char *why, const char *relay)
{
	struct sched_pool	*p = c->pool;
	struct sched_job	*j = c->job;

	c->job = NULL;
	c->ready = 0;
	if (!c->ever_ready) {
		sched_pool_set_down(p, why);
		/* Ask DNS again next time: the MX set may have moved. */
		free(p->addrs);
		p->addrs = NULL;
		p->naddrs = 0;
	}
	if (j != NULL)
		sched_job_finish(j, relay);
	sched_conn_free(c);
	/*
	 * A remote we cannot even reach cannot take the waiting jobs
	 * either: hand them to the next remote (or defer them) now rather
	 * than queueing connection attempts that will fail the same way.
	 */
	if (!p->up)
		sched_pool_fail_waiting(p, why, 1);
	else
		sched_pool_kick(p);
}

/*
 * sendtimeout ran out: nullmailer's deadline for one whole delivery
 * attempt. Per-command deadlines cannot catch a remote that answers each
 * command just in time; this one can. The attempt is cut off and its
 * recipients take the temporary-failure path (next remote, or deferral).
 */
static void
sched_conn_deadline(void *arg)
{
	struct sched_conn	*c = arg;
	struct sched_pool	*p = c->pool;
	struct sched_job	*j = c->job;
	const char		*r = smtp_client_relay(c->session);
	char			*why, *relay = r != NULL ? xstrdup(r) : NULL;

	xasprintf(&why, "sendtimeout (%llds) expired in state %s: delivery "
	    "attempt to %s:%d cut off", (long long)sched_cfg->sendtimeout,
	    smtp_client_state_name(smtp_client_state(c->session)),
	    p->remote->host, p->remote->port);
	log_warn("%s%s%s", j != NULL ? j->entry->env->id : "",
	    j != NULL ? ": " : "", why);
	/* Closed first: the session must not outlive the message it holds. */
	smtp_client_free(c->session);
	c->session = NULL;
	c->job = NULL;
	/* Results as the remote left them are void: none is final. */
	if (j != NULL)
		sched_job_fail(j, why, 1, relay);
	sched_conn_lost(c, why, relay);
	free(relay);
	free(why);
}

static void
sched_client_event(struct smtp_client_session *s, enum smtp_client_event ev,
    struct smtp_client_msg *msg, void *arg)
{
	struct sched_conn	*c = arg;
	struct sched_pool	*p = c->pool;
	struct sched_job	*j;
	const char		*why;
	char			*whycopy;

	switch (ev) {
	case SMTP_CLIENT_READY:
		c->ready = 1;
		c->ever_ready = 1;
		sched_pool_set_up(p);
		sched_conn_take_job(c);
		break;
	case SMTP_CLIENT_MSG_DONE:
		j = c->job;
		c->job = NULL;
		c->ready = 1;
		/* That attempt is over; the next message gets its own. */
		ev_timer_stop(c->deadline);
		if (j != NULL)
			sched_job_finish(j, smtp_client_relay(s));
		sched_conn_take_job(c);
		break;
	case SMTP_CLIENT_FAILED:
		why = smtp_client_error(s);
		whycopy = xstrdup(why != NULL ? why : "connection failed");
		sched_conn_lost(c, whycopy, smtp_client_relay(s));
		free(whycopy);
		break;
	case SMTP_CLIENT_CLOSED:
		j = c->job;
		c->job = NULL;
		if (j != NULL) {
			/* Interrupted by our own quit: send it again later. */
			smtp_client_msg_clear(&j->msg);
			sched_pool_push(p, j);
			sched_conn_free(c);
			sched_pool_kick(p);
		} else
			sched_conn_free(c);
		break;
	}
}

static void
sched_pool_mx_done(const struct dns_result *res, void *arg)
{
	struct sched_pool	*p = arg;
	char			*why;

	p->dnsq = NULL;
	if (res->status != DNS_OK) {
		xasprintf(&why, "MX lookup for %s failed: %s", p->remote->host,
		    res->error != NULL ? res->error : "no answer");
		sched_pool_set_down(p, why);
		sched_pool_fail_waiting(p, why, res->status == DNS_TEMPFAIL);
		free(why);
		return;
	}
	p->addrs = xreallocarray(NULL, res->naddrs, sizeof *p->addrs);
	memcpy(p->addrs, res->addrs, res->naddrs * sizeof *p->addrs);
	p->naddrs = res->naddrs;
	sched_pool_kick(p);
}

static void
sched_pool_kick(struct sched_pool *p)
{
	struct sched_conn	*c;
	int			 idle = 0;
	size_t			 waiting = 0, connecting = 0, max;
	struct sched_job	*j;

	if (p->retired || sched_stopping)
		return;
	if (p->mx && p->addrs == NULL) {
		/* An unbracketed hop: its MX hosts first (DESIGN §5). */
		if (p->dnsq == NULL && p->waiting != NULL)
			p->dnsq = dns_resolve_mx(p->remote->host,
			    p->remote->port, sched_pool_mx_done, p);
		return;
	}
	for (c = p->conns; c != NULL; c = c->next) {
		if (c->ready && c->job == NULL) {
			sched_conn_take_job(c);
			idle++;
		} else if (!c->ever_ready)
			connecting++;
	}
	for (j = p->waiting; j != NULL; j = j->next)
		waiting++;
	/*
	 * Under remote_rate one message may start at a time, and none while
	 * the window is shut: connections opened for the rest would idle.
	 */
	if (waiting > 0 && sched_gap_ms > 0)
		waiting = sched_pool_rate_wait(p) > 0 ? 0 : 1;
	max = sched_cfg->max_connections_per_remote > 0 ?
	    (size_t)sched_cfg->max_connections_per_remote : 1;
	/* A remote that is down gets one probing connection at a time. */
	if (!p->up)
		max = 1;
	/* Open connections for waiting jobs that no connecting one covers. */
	while (waiting > connecting && p->nconn < max) {
		c = xcalloc(1, sizeof *c);
		c->pool = p;
		c->target.remote = p->remote;
		c->target.helo_name = sched_cfg->helo_name != NULL ?
		    sched_cfg->helo_name : sched_cfg->me;
		c->target.timeout = sched_cfg->command_timeout > 0 ?
		    sched_cfg->command_timeout : 300;
		c->target.addrs = p->addrs;
		c->target.naddrs = p->naddrs;
		c->idle_timer = ev_timer_new(sched_idle_close, c);
		c->deadline = ev_timer_new(sched_conn_deadline, c);
		ev_timer_after(c->deadline,
		    (uint64_t)sched_cfg->sendtimeout * 1000);
		c->next = p->conns;
		p->conns = c;
		p->nconn++;
		sched_counters.active_connections++;
		connecting++;
		c->session = smtp_client_new(&c->target, sched_client_event, c);
	}
}

/* --- outcomes --- */

/*
 * One line per outcome, Postfix-style, naming the rule (file:line) that
 * routed it, the generics line that rewrote the sender (sender_rule, only
 * when one did) and, for alias results, the address it came from.
 */
static void
sched_log_outcome_to(const struct envelope *env, const struct envelope_rcpt *r,
    const char *to, const char *relay, const char *rule,
    const char *sender_rule, const char *status, const char *text)
{
	char		 delay[32], *orig = NULL, *srule = NULL;
	const char	*o = r->orcpt;

	if (o != NULL && ascii_strncasecmp(o, "rfc822;", 7) == 0)
		o += 7;
	if (to != NULL && ascii_strcasecmp(to, r->addr) != 0)
		o = r->addr;
	if (o != NULL && ascii_strcasecmp(o, to != NULL ? to : r->addr) != 0)
		xasprintf(&orig, ", orig_to=<%s>", o);
	if (sender_rule != NULL)
		xasprintf(&srule, ", sender_rule=%s", sender_rule);
	snprintf(delay, sizeof delay, "%lld",
	    (long long)(wall_now() - env->arrival));
	log_info("%s: to=<%s>%s, relay=%s, rule=%s%s, delay=%s, attempts=%d, "
	    "dsn=%s, status=%s (%s)", env->id, to != NULL ? to : r->addr,
	    orig != NULL ? orig : "", relay != NULL ? relay : "none",
	    rule != NULL ? rule : "-", srule != NULL ? srule : "", delay,
	    r->attempts, r->dsn_status != NULL ? r->dsn_status : "-", status,
	    text);
	free(orig);
	free(srule);
}

static void
sched_log_outcome(const struct envelope *env, const struct envelope_rcpt *r,
    const char *relay, const char *status, const char *text)
{
	sched_log_outcome_to(env, r, NULL, relay, NULL, NULL, status, text);
}

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
}

/*
 * A recipient that failed temporarily once more: past queue_lifetime it
 * bounces (1), with RFC 3463's 4.4.7 "delivery time expired" as its
 * status and the last error kept in its words.
 */
static int
sched_rcpt_expire(const struct envelope *env, struct envelope_rcpt *r,
    const char *relay, const char *rule, const char *sender_rule)
{
	char	*text;

	if (sched_cfg->queue_lifetime <= 0 ||
	    wall_now() - env->arrival < sched_cfg->queue_lifetime)
		return (0);
	r->state = RCPT_BOUNCED;
	set_str(&r->dsn_status, BOUNCE_EXPIRED_STATUS);
	xasprintf(&text, "%s%s", BOUNCE_EXPIRED_PREFIX,
	    r->last_error != NULL ? r->last_error : "none");
	set_str(&r->last_error, text);
	free(text);
	sched_count(SCHED_BOUNCED);
	sched_log_outcome_to(env, r, NULL, relay, rule, sender_rule, "bounced",
	    r->last_error);
	return (1);
}

static int64_t
sched_backoff(int attempts)
{
	int64_t	 wait = sched_cfg->pausetime > 0 ? sched_cfg->pausetime : 60;
	int	 i;

	for (i = 1; i < attempts && wait < sched_cfg->maxpause; i++)
		wait *= 2;
	if (sched_cfg->maxpause > 0 && wait > sched_cfg->maxpause)
		wait = sched_cfg->maxpause;
	return (wait);
}

/* A temporary failure that the next remote gets to answer. */
static void
sched_log_failover(const struct envelope *env, const struct envelope_rcpt *r,
    const struct sched_job *j, const char *text)
{
	char	*from = sched_pool_where(j->pool);
	char	*to = sched_pool_where(sched_pools[j->remote_idx + 1]);

	log_info("%s: to=<%s>: remote %s:%d (%s) failed temporarily (%s); "
	    "trying the next remote (%s)", env->id, r->addr,
	    j->pool->remote->host, j->pool->remote->port, from, text, to);
	free(from);
	free(to);
}

/*
 * Record a job's per-recipient results. Temporary failures go to the next
 * remote while there is one; after the last they are deferred (or bounced
 * past queue_lifetime). The job is freed.
 */
static void
sched_job_finish(struct sched_job *j, const char *relay)
{
	struct sched_entry		*e = j->entry;
	struct envelope			*env = e->env;
	struct envelope_rcpt		*r;
	struct smtp_client_rcpt_result	*res;
	size_t				 i, nnext = 0;
	size_t				*next = NULL;
	char				 st[16], *text;
	int64_t				 now = wall_now();
	const char			*where;

	e->inflight--;
	if (e->deleted) {
		if (e->inflight == 0)
			sched_entry_free(e);
		goto out;
	}
	where = relay != NULL ? relay : j->msg.relay;
	for (i = 0; i < j->nrcpt; i++) {
		r = &env->rcpts[j->rcpt_idx[i]];
		res = &j->msg.results[i];
		text = res->reply != NULL ? res->reply : "no reply";
		if (res->code >= 200 && res->code < 300) {
			r->attempts++;
			r->state = RCPT_DELIVERED;
			bounce_status_of(text, "2.0.0", st, sizeof st);
			set_str(&r->dsn_status, st);
			set_str(&r->relay, where);
			set_str(&r->last_error, NULL);
			sched_count(SCHED_DELIVERED);
			j->pool->delivered++;
			sched_log_outcome_to(env, r, NULL, where, j->rules[i],
			    j->sender_rule, "sent", text);
			continue;
		}
		bounce_status_of(text, res->temporary ? "4.0.0" : "5.0.0",
		    st, sizeof st);
		set_str(&r->dsn_status, st);
		set_str(&r->relay, where);
		set_str(&r->last_error, text);
		envelope_rcpt_history_add(r, now, text);
		if (!res->temporary) {
			r->attempts++;
			r->state = RCPT_BOUNCED;
			sched_count(SCHED_BOUNCED);
			sched_log_outcome_to(env, r, NULL, where, j->rules[i],
			    j->sender_rule, "bounced", text);
			continue;
		}
		if (!j->pool->is_route && j->remote_idx + 1 < sched_npools) {
			if (next == NULL)
				next = xcalloc(j->nrcpt, sizeof *next);
			next[nnext++] = i;
			sched_log_failover(env, r, j, text);
			continue;
		}
		r->attempts++;
		if (sched_rcpt_expire(env, r, where, j->rules[i],
		    j->sender_rule))
			continue;
		r->state = RCPT_DEFERRED;
		r->next_try = now + sched_backoff(r->attempts);
		sched_count(SCHED_DEFERRED);
		sched_log_outcome_to(env, r, NULL, where, j->rules[i],
		    j->sender_rule, "deferred", text);
	}
	if (nnext > 0) {
		/* Failover: the same recipients, the next remote. */
		struct sched_job	*nj;

		nj = xcalloc(1, sizeof *nj);
		nj->entry = e;
		nj->remote_idx = j->remote_idx + 1;
		nj->pool = sched_pools[nj->remote_idx];
		nj->rcpt_idx = xcalloc(nnext, sizeof *nj->rcpt_idx);
		nj->nrcpt = nnext;
		nj->rcpt_addrs = xcalloc(nnext, sizeof *nj->rcpt_addrs);
		nj->rules = xcalloc(nnext, sizeof *nj->rules);
		for (i = 0; i < nnext; i++) {
			nj->rcpt_idx[i] = j->rcpt_idx[next[i]];
			nj->rcpt_addrs[i] = env->rcpts[nj->rcpt_idx[i]].addr;
			nj->rules[i] = xstrdup(j->rules[next[i]]);
		}
		free(next);
		nj->sender = j->sender;
		j->sender = NULL;
		nj->sender_rule = j->sender_rule;
		j->sender_rule = NULL;
		nj->msg = j->msg;
		nj->msg.results = NULL;
		nj->msg.relay = NULL;
		nj->msg.rcpts = nj->rcpt_addrs;
		nj->msg.nrcpt = nnext;
		j->msg.msg_fd = -1;
		e->inflight++;
		sched_pool_push(nj->pool, nj);
		sched_pool_kick(nj->pool);
	}
	/* A message that is about to leave the queue needs no rewrite: its
	 * removal is the record. */
	if (e->inflight > 0 || !envelope_all_done(env) || sched_dsn_owed(env))
		sched_persist(e);
	sched_notify(SCHED_MSG_CHANGED, env);
	if (e->inflight == 0)
		sched_entry_settle(e);
out:
	sched_job_free(j);
}

/* --- bounces --- */

/* *until: when the current window ends, for a bounce the cap holds back. */
static int
sched_dsn_allowed(int64_t *until)
{
	int		 count;
	int64_t		 per, now = wall_now();
	const char	*err;
	char		 left[32];

	if (sched_cfg->dsn_rate == NULL ||
	    config_parse_rate(sched_cfg->dsn_rate, &count, &per, &err) == -1 ||
	    count == 0)
		return (1);
	if (now - sched_dsn_window_start >= per) {
		sched_dsn_window_start = now;
		sched_dsn_in_window = 0;
		sched_dsn_cap_logged = 0;
	}
	if (sched_dsn_in_window >= count) {
		*until = sched_dsn_window_start + per;
		/* Once per window: each waiting bounce asks again every
		 * minute, and a held-back DSN must not pass unseen. */
		if (!sched_dsn_cap_logged) {
			format_duration(sched_dsn_window_start + per - now,
			    left, sizeof left);
			log_warn("dsn_rate %s reached: further bounces wait in "
			    "the queue, the next in %s", sched_cfg->dsn_rate,
			    left);
			sched_dsn_cap_logged = 1;
		}
		return (0);
	}
	sched_dsn_in_window++;
	return (1);
}

/*
 * Record on the envelope whether dsn_rate holds its DSN back (rate NULL:
 * not), so `queue list` can say why a bounced message stays; observers
 * hear of a change only.
 */
static void
sched_dsn_wait_set(struct envelope *env, const char *rate, int64_t until)
{
	int	 unchanged;

	if (rate == NULL)
		unchanged = env->dsn_wait_rate == NULL;
	else
		unchanged = env->dsn_wait_rate != NULL &&
		    strcmp(env->dsn_wait_rate, rate) == 0 &&
		    env->dsn_wait_until == until;
	if (unchanged)
		return;
	set_str(&env->dsn_wait_rate, rate);
	env->dsn_wait_until = rate != NULL ? until : 0;
	sched_notify(SCHED_MSG_CHANGED, env);
}

static int
is_double_bounce_sender(const char *sender)
{
	size_t	 n = strlen(SCHED_DOUBLE_BOUNCE);

	return (ascii_strncasecmp(sender, SCHED_DOUBLE_BOUNCE, n) == 0 &&
	    sender[n] == '@');
}

/*
 * The DSN of message qid (arg) is on disk, or failed: only now may the
 * original leave the queue, so a crash never loses both.
 */
static void
sched_dsn_done(void *arg, const struct envelope *dsn, int error)
{
	char			*qid = arg;
	struct sched_entry	*e;

	e = sched_lookup(qid, NULL);
	free(qid);
	if (e == NULL)
		return;
	e->dsn_committing = 0;
	if (dsn == NULL) {
		log_err("%s: cannot queue DSN: %s; trying again later",
		    e->env->id, strerror(error));
		sched_retry_at(wall_now() + 60);
		return;
	}
	e->env->dsn_sent = 1;
	if (!envelope_all_done(e->env))
		sched_persist(e);
	if (e->inflight == 0)
		sched_entry_settle(e);
}

/*
 * Queue a DSN for the bounced recipients of e. Returns 0 when none is
 * due, 1 when one is being committed (sched_dsn_done continues), -1 to
 * try again later (rate cap, queue error).
 */
static int
sched_send_dsn(struct sched_entry *e)
{
	struct envelope		*env = e->env, *dsn;
	struct queue_incoming	*qi;
	struct buf		 out;
	size_t			*failed, nfailed = 0, i;
	const char		*to, *override = NULL;
	char			*err = NULL, *admin = NULL, *sender = NULL;
	int			 fd, rc = -1;
	int64_t			 until;

	if (env->dsn_sent)
		return (0);
	if (is_double_bounce_sender(env->sender)) {
		log_warn("%s: undeliverable double bounce discarded", env->id);
		return (0);
	}
	if (env->sender[0] == '\0') {
		/* A bounce that bounced: tell the postmaster, once. */
		if (sched_cfg->adminaddr != NULL &&
		    sched_cfg->adminaddr[0] != '\0')
			admin = xstrdup(sched_cfg->adminaddr);
		else
			xasprintf(&admin, "postmaster@%s", sched_cfg->me);
		override = admin;
		xasprintf(&sender, "%s@%s", SCHED_DOUBLE_BOUNCE, sched_cfg->me);
	}
	if (!sched_dsn_allowed(&until)) {
		sched_dsn_wait_set(env, sched_cfg->dsn_rate, until);
		free(admin);
		free(sender);
		return (-1);
	}
	sched_dsn_wait_set(env, NULL, 0);
	failed = xcalloc(env->nrcpt, sizeof *failed);
	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].state == RCPT_BOUNCED)
			failed[nfailed++] = i;
	buf_init(&out);
	if ((fd = queue_message_open(env->id)) == -1) {
		log_err("%s: cannot open message for its DSN: %s", env->id,
		    strerror(errno));
		goto done;
	}
	if (bounce_build(&out, sched_cfg, env, failed, nfailed, fd, 0,
	    override, &err) == -1) {
		log_err("%s: cannot build DSN: %s", env->id, err);
		close(fd);
		goto done;
	}
	close(fd);
	to = override != NULL ? override : env->sender;
	dsn = xcalloc(1, sizeof *dsn);
	envelope_init(dsn);
	dsn->sender = xstrdup(sender != NULL ? sender : "");
	dsn->client = xstrdup("local");
	envelope_add_rcpt(dsn, to, NULL);
	if ((qi = queue_incoming_new(dsn, &err)) == NULL) {
		log_err("%s: cannot queue DSN: %s", env->id, err);
		goto done;
	}
	if (queue_incoming_write(qi, out.data, out.len) == -1) {
		log_err("%s: cannot queue DSN: %s", env->id, strerror(errno));
		queue_incoming_abort(qi);
		goto done;
	}
	log_info("%s: sender non-delivery notification: %s", env->id,
	    queue_incoming_id(qi));
	e->dsn_committing = 1;
	queue_incoming_commit(qi, sched_dsn_done, xstrdup(env->id));
	rc = 1;
done:
	free(err);
	free(failed);
	free(admin);
	free(sender);
	buf_free(&out);
	return (rc);
}

/* After all of a message's jobs are back: bounce, finish or re-arm. */
static void
sched_entry_settle(struct sched_entry *e)
{
	struct envelope	*env = e->env;

	if (e->dsn_committing)
		return;
	if (sched_dsn_owed(env)) {
		switch (sched_send_dsn(e)) {
		case -1:
			/* Rate-capped or failed: try again a minute later. */
			sched_retry_at(wall_now() + 60);
			return;
		case 1:
			return;
		}
	}
	if (envelope_all_done(env)) {
		if (queue_remove(env->id) == -1)
			log_err("%s: cannot remove: %s", env->id,
			    strerror(errno));
		else
			log_info("%s: removed", env->id);
		sched_entry_drop(e);
		return;
	}
	if (sched_entry_next_try(e) != INT64_MAX)
		sched_retry_at(sched_entry_next_try(e));
}

/* --- running --- */

/* --- routing and local delivery --- */

/* The SMTP recipients of one dispatch that share a pool. */
struct sched_batch {
	struct sched_pool	*pool;
	struct sched_job	*job;
};

/*
 * A local recipient's deliveries (its alias results on this host). The
 * recipient is settled once all are back: any temporary failure defers
 * it (and all of them run again: at least once, as Postfix's local(8)),
 * otherwise any permanent one bounces it.
 */
struct sched_local {
	struct sched_entry	*entry;
	size_t			 ridx;
	int			 pending;	/* pipes still running */
	int			 temp, perm, ok;
	int			 by_smtp;	/* the SMTP job settles it */
	char			*error;		/* first failure, in words */
	char			*error_rule;
};

static struct sched_pool *
sched_route_pool(const struct rules_dest *d)
{
	struct sched_pool	*p;
	size_t			 i;

	if (d->route.default_route)
		return (sched_npools > 0 ? sched_pools[0] : NULL);
	for (i = 0; i < sched_nroutes; i++)
		if (strcmp(sched_routes[i]->key, d->route.key) == 0)
			return (sched_routes[i]);
	p = xcalloc(1, sizeof *p);
	remote_copy(&p->own, &d->route.remote);
	p->remote = &p->own;
	p->is_route = 1;
	p->key = xstrdup(d->route.key);
	p->mx = d->route.mx;
	p->up = 1;
	p->waiting_tail = &p->waiting;
	sched_routes = xreallocarray(sched_routes, sched_nroutes + 1,
	    sizeof *sched_routes);
	sched_routes[sched_nroutes++] = p;
	return (p);
}

static void
sched_batch_add(struct sched_batch **bv, size_t *nb, struct sched_entry *e,
    size_t ridx, const struct rules_dest *d)
{
	struct sched_pool	*p = sched_route_pool(d);
	struct sched_job	*j;
	size_t			 i;

	for (i = 0; i < *nb; i++)
		if ((*bv)[i].pool == p)
			break;
	if (i == *nb) {
		*bv = xreallocarray(*bv, *nb + 1, sizeof **bv);
		(*bv)[i].pool = p;
		j = (*bv)[i].job = xcalloc(1, sizeof *j);
		j->entry = e;
		j->pool = p;
		j->msg.msg_fd = -1;
		(*nb)++;
	}
	/* Grown one by one: expansion appends recipients as we go. */
	j = (*bv)[i].job;
	j->rcpt_idx = xreallocarray(j->rcpt_idx, j->nrcpt + 1,
	    sizeof *j->rcpt_idx);
	j->rcpt_addrs = xreallocarray(j->rcpt_addrs, j->nrcpt + 1,
	    sizeof *j->rcpt_addrs);
	j->rules = xreallocarray(j->rules, j->nrcpt + 1, sizeof *j->rules);
	j->rcpt_idx[j->nrcpt] = ridx;
	j->rcpt_addrs[j->nrcpt] = e->env->rcpts[ridx].addr;
	j->rules[j->nrcpt++] = xstrdup(d->rule != NULL ? d->rule : "remotes");
}

static void
sched_rcpt_defer(struct sched_entry *e, size_t ridx, const char *text,
    const char *rule, const char *relay)
{
	struct envelope		*env = e->env;
	struct envelope_rcpt	*r = &env->rcpts[ridx];
	int64_t			 now = wall_now();

	r->attempts++;
	set_str(&r->last_error, text);
	set_str(&r->dsn_status, "4.0.0");
	envelope_rcpt_history_add(r, now, text);
	if (sched_rcpt_expire(env, r, relay, rule, NULL))
		return;
	r->state = RCPT_DEFERRED;
	r->next_try = now + sched_backoff(r->attempts);
	sched_count(SCHED_DEFERRED);
	sched_log_outcome_to(env, r, NULL, relay, rule, NULL, "deferred",
	    text);
}

static void
sched_rcpt_bounce(struct sched_entry *e, size_t ridx, const char *text,
    const char *status, const char *rule, const char *relay)
{
	struct envelope_rcpt	*r = &e->env->rcpts[ridx];

	r->attempts++;
	r->state = RCPT_BOUNCED;
	set_str(&r->last_error, text);
	set_str(&r->dsn_status, status);
	set_str(&r->relay, relay);
	envelope_rcpt_history_add(r, wall_now(), text);
	sched_count(SCHED_BOUNCED);
	sched_log_outcome_to(e->env, r, NULL, relay, rule, NULL, "bounced",
	    text);
}

/* All of a local recipient's deliveries are back. */
static void
sched_local_settle(struct sched_local *l)
{
	struct envelope_rcpt	*r = &l->entry->env->rcpts[l->ridx];
	char			 count[32];

	/* by_smtp: its own address went out over SMTP too; that job decides. */
	if (!l->by_smtp && l->temp > 0)
		sched_rcpt_defer(l->entry, l->ridx, l->error, l->error_rule,
		    "local");
	else if (!l->by_smtp && l->perm > 0)
		sched_rcpt_bounce(l->entry, l->ridx, l->error, "5.1.1",
		    l->error_rule, "local");
	else if (!l->by_smtp) {
		r->attempts++;
		r->state = RCPT_DELIVERED;
		set_str(&r->dsn_status, "2.0.0");
		set_str(&r->relay, "local");
		set_str(&r->last_error, NULL);
		snprintf(count, sizeof count, "%d destination%s", l->ok,
		    l->ok == 1 ? "" : "s");
		sched_log_outcome_to(l->entry->env, r, NULL, "local", NULL, NULL,
		    "expanded", count);
	}
	free(l->error);
	free(l->error_rule);
	free(l);
}

static void
sched_log_local(const struct envelope *env, const char *to, const char *orig,
    const char *rule, const char *dsn, const char *status, const char *text)
{
	char	*o = NULL;

	if (ascii_strcasecmp(to, orig) != 0)
		xasprintf(&o, ", orig_to=<%s>", orig);
	log_info("%s: to=<%s>%s, relay=local, rule=%s, delay=%lld, dsn=%s, "
	    "status=%s (%s)", env->id, to, o != NULL ? o : "",
	    rule != NULL ? rule : "-", (long long)(wall_now() - env->arrival),
	    dsn, status, text);
	free(o);
}

/* One local delivery's outcome (logged; counted for its recipient). */
static void
sched_local_result(struct sched_local *l, const char *to, const char *rule,
    enum local_status st, const char *text)
{
	struct envelope		*env = l->entry->env;
	struct envelope_rcpt	*r = &env->rcpts[l->ridx];

	if (st == LOCAL_OK) {
		l->ok++;
		sched_count(SCHED_DELIVERED);
		sched_log_local(env, to, r->addr, rule, "2.0.0", "sent", text);
		return;
	}
	if (st == LOCAL_TEMPFAIL)
		l->temp++;
	else
		l->perm++;
	if (l->error == NULL) {
		l->error = xstrdup(text);
		l->error_rule = rule != NULL ? xstrdup(rule) : NULL;
	} else if (st == LOCAL_TEMPFAIL && l->temp == 1) {
		/* A deferral is what the recipient's record will say. */
		set_str(&l->error, text);
		set_str(&l->error_rule, rule);
	}
	/* The recipient's own line says it when it is the only target. */
	if (ascii_strcasecmp(to, r->addr) != 0)
		sched_log_local(env, to, r->addr, rule, st == LOCAL_TEMPFAIL ?
		    "4.0.0" : "5.1.1", st == LOCAL_TEMPFAIL ? "deferred" :
		    "bounced", text);
}

struct sched_pipe_ctx {
	struct sched_local	*local;
	char			*to, *rule;
};

static void
sched_pipe_done(void *arg, enum local_status st, const char *text)
{
	struct sched_pipe_ctx	*pc = arg;
	struct sched_local	*l = pc->local;
	struct sched_entry	*e = l->entry;

	if (!e->deleted && !sched_stopping)
		sched_local_result(l, pc->to, pc->rule, st, text);
	free(pc->to);
	free(pc->rule);
	free(pc);
	if (--l->pending > 0)
		return;
	e->inflight--;
	if (sched_stopping) {
		/* The envelope on disk still says due: the next start runs
		   the pipe again. */
		free(l->error);
		free(l->error_rule);
		free(l);
		return;
	}
	if (e->deleted) {
		free(l->error);
		free(l->error_rule);
		free(l);
		if (e->inflight == 0)
			sched_entry_free(e);
		return;
	}
	sched_local_settle(l);
	sched_persist(e);
	sched_notify(SCHED_MSG_CHANGED, e->env);
	if (e->inflight == 0)
		sched_entry_settle(e);
}

static int
env_has_rcpt(const struct envelope *env, const char *addr)
{
	size_t	 i;

	for (i = 0; i < env->nrcpt; i++)
		if (ascii_strcasecmp(env->rcpts[i].addr, addr) == 0)
			return (1);
	return (0);
}

/*
 * A recipient that the rules expanded: deliver its local results now
 * (pipes later), add the addresses it expands to as recipients of their
 * own, and settle it when every local delivery is back.
 */
static void
sched_expand(struct sched_entry *e, size_t ridx, const struct rules_result *res,
    int *msg_fd, struct sched_batch **bv, size_t *nb)
{
	struct envelope		*env = e->env;
	struct sched_local	*l;
	struct sched_pipe_ctx	*pc;
	const struct rules_dest	*d;
	struct local_msg	 m;
	enum local_status	 st;
	char			*text, *orcpt, *raddr;
	size_t			 i;

	l = xcalloc(1, sizeof *l);
	l->entry = e;
	l->ridx = ridx;
	raddr = xstrdup(env->rcpts[ridx].addr);
	memset(&m, 0, sizeof m);
	m.qid = env->id;
	m.sender = env->sender;
	for (i = 0; i < res->n; i++) {
		d = &res->v[i];
		m.rcpt = d->addr;
		m.user = d->user;
		switch (d->kind) {
		case RULES_DEST_SMTP:
			if (ascii_strcasecmp(d->addr, raddr) == 0) {
				sched_batch_add(bv, nb, e, ridx, d);
				l->by_smtp = 1;
				break;
			}
			if (env_has_rcpt(env, d->addr))
				break;
			xasprintf(&orcpt, "rfc822;%s", raddr);
			envelope_add_rcpt(env, d->addr, orcpt);
			free(orcpt);
			log_info("%s: <%s> expands to <%s> (rule=%s)", env->id,
			    raddr, d->addr, d->alias_rule != NULL ?
			    d->alias_rule : "built-in");
			l->ok++;
			break;
		case RULES_DEST_ERROR:
			sched_local_result(l, d->addr, d->rule, LOCAL_PERMFAIL,
			    d->text);
			break;
		case RULES_DEST_RETRY:
			sched_local_result(l, d->addr, d->rule, LOCAL_TEMPFAIL,
			    d->text);
			break;
		case RULES_DEST_DEVNULL:
			sched_local_result(l, d->addr, d->rule, LOCAL_OK,
			    "discarded (/dev/null)");
			break;
		case RULES_DEST_MBOX:
		case RULES_DEST_MAILDIR:
		case RULES_DEST_PIPE:
			if (*msg_fd == -1 &&
			    (*msg_fd = queue_message_open(env->id)) == -1) {
				xasprintf(&text, "cannot open the queued "
				    "message: %s", strerror(errno));
				sched_local_result(l, d->addr, d->rule,
				    LOCAL_TEMPFAIL, text);
				free(text);
				break;
			}
			m.msg_fd = *msg_fd;
			if (d->kind == RULES_DEST_PIPE) {
				pc = xcalloc(1, sizeof *pc);
				pc->local = l;
				pc->to = xstrdup(d->addr);
				pc->rule = d->rule != NULL ? xstrdup(d->rule) :
				    NULL;
				if (local_pipe_start(&m, d->target,
				    sched_cfg->pipe_user, sched_cfg->pipe_timeout,
				    sched_pipe_done, pc, &text) == 0) {
					l->pending++;
					break;
				}
				free(pc->to);
				free(pc->rule);
				free(pc);
				st = LOCAL_TEMPFAIL;
			} else if (d->kind == RULES_DEST_MBOX)
				st = local_deliver_mbox(&m, d->target, &text);
			else
				st = local_deliver_maildir(&m, d->target, &text);
			sched_local_result(l, d->addr, d->rule, st, text);
			free(text);
			break;
		}
	}
	free(raddr);
	if (l->pending > 0)
		e->inflight++;
	else
		sched_local_settle(l);
}

static void
sched_dispatch(struct sched_entry *e)
{
	struct envelope		*env = e->env;
	struct sched_batch	*bv = NULL;
	struct rules_result	 res;
	struct sched_job	*j;
	size_t			 i, nb = 0, b;
	int64_t			 now = wall_now();
	int			 fd = -1, changed = 0, said_generics = 0;
	char			*sender = NULL, *sender_rule = NULL;
	const struct rules_dest	*d;

	if (env->held || e->deleted || e->inflight > 0)
		return;
	/* The loop sees recipients that expansion appends, too. */
	for (i = 0; i < env->nrcpt; i++) {
		if (!rcpt_due(&env->rcpts[i], now))
			continue;
		rules_resolve(sched_cfg, env->sender, env->rcpts[i].addr, &res,
		    NULL);
		if (sender == NULL) {
			sender = xstrdup(res.sender);
			if (res.sender_rule != NULL)
				sender_rule = xstrdup(res.sender_rule);
		}
		d = res.n == 1 && res.v[0].orig == NULL ? &res.v[0] : NULL;
		if (d != NULL && d->kind == RULES_DEST_SMTP)
			sched_batch_add(&bv, &nb, e, i, d);
		else if (d != NULL && d->kind == RULES_DEST_ERROR) {
			sched_rcpt_bounce(e, i, d->text, res.local ? "5.1.1" :
			    "5.0.0", d->rule, "none");
			changed = 1;
		} else if (d != NULL && d->kind == RULES_DEST_RETRY) {
			sched_rcpt_defer(e, i, d->text, d->rule, "none");
			changed = 1;
		} else {
			sched_expand(e, i, &res, &fd, &bv, &nb);
			changed = 1;
		}
		rules_result_free(&res);
	}
	if (fd != -1)
		close(fd);
	for (b = 0; b < nb; b++) {
		j = bv[b].job;
		if (bv[b].pool == NULL) {
			for (i = 0; i < j->nrcpt; i++)
				sched_rcpt_defer(e, j->rcpt_idx[i], "no remotes "
				    "configured (add a line to remotes)",
				    j->rules[i], "none");
			sched_job_free(j);
			changed = 1;
			continue;
		}
		if ((fd = queue_message_open(env->id)) == -1) {
			log_err("%s: cannot open message file: %s", env->id,
			    strerror(errno));
			sched_job_free(j);
			continue;
		}
		j->sender = xstrdup(sender);
		if (sender_rule != NULL) {
			/* The tracer's words, once per attempt that sends. */
			if (!said_generics)
				log_info("%s: generics: sender <%s> is sent as "
				    "<%s>, sender_rule=%s", env->id,
				    env->sender, sender, sender_rule);
			said_generics = 1;
			j->sender_rule = xstrdup(sender_rule);
		}
		j->msg.qid = env->id;
		j->msg.sender = j->sender;
		j->msg.rcpts = j->rcpt_addrs;
		j->msg.nrcpt = j->nrcpt;
		j->msg.msg_fd = fd;
		j->msg.size = env->size;
		j->msg.smtputf8 = env->smtputf8;
		j->msg.body_8bit = env->body_8bit;
		e->inflight++;
		sched_pool_push(bv[b].pool, j);
		sched_pool_kick(bv[b].pool);
	}
	free(bv);
	free(sender);
	free(sender_rule);
	if (changed) {
		sched_persist(e);
		sched_notify(SCHED_MSG_CHANGED, env);
	}
	if (e->inflight == 0)
		sched_entry_settle(e);
}

static void
sched_run(void *arg)
{
	struct sched_entry	*e;

	if (sched_stopping)
		return;
	while ((e = sched_run_head) != NULL) {
		sched_run_head = e->run_next;
		if (sched_run_head == NULL)
			sched_run_tail = &sched_run_head;
		e->queued = 0;
		sched_dispatch(e);
	}
}

static void
sched_add(struct envelope *env, int notify)
{
	struct sched_entry	*e;

	e = xcalloc(1, sizeof *e);
	e->env = env;
	sched_index_insert(e);
	if (notify)
		sched_notify(SCHED_MSG_ADDED, env);
	if (!env->held)
		sched_make_runnable(e);
}

static void
sched_committed(struct envelope *env, void *arg)
{
	sched_add(env, 1);
}

static void
sched_recovered(struct envelope *env, void *arg)
{
	qid_seed(env->id);
	sched_add(env, 0);
}

static void
sched_build_pools(void)
{
	size_t	 i;

	sched_npools = sched_cfg->nremotes;
	sched_pools = xcalloc(sched_npools == 0 ? 1 : sched_npools,
	    sizeof *sched_pools);
	for (i = 0; i < sched_npools; i++)
		sched_pools[i] = sched_pool_new(&sched_cfg->remotes[i], i);
}

int
sched_init(const struct config *cfg)
{
	int	 n;

	sched_cfg = cfg;
	sched_gap_ms = rate_gap_ms(cfg);
	sched_retry_timer = ev_timer_new(sched_retry_due, NULL);
	sched_run_timer = ev_timer_new(sched_run, NULL);
	sched_build_pools();
	queue_set_committed_hook(sched_committed, NULL);
	if ((n = queue_recover(sched_recovered, NULL)) == -1)
		return (-1);
	if (n > 0)
		log_info("recovered %d queued message%s", n, n == 1 ? "" : "s");
	sched_arm_retry();
	return (0);
}

static void
sched_pool_retire(struct sched_pool *p)
{
	struct sched_conn	*c, *next;
	struct sched_job	*j;

	p->retired = 1;
	if (p->dnsq != NULL) {
		dns_cancel(p->dnsq);
		p->dnsq = NULL;
	}
	/* Waiting jobs start over on the new routes. */
	while ((j = sched_pool_pop(p)) != NULL) {
		j->entry->inflight--;
		if (j->entry->deleted && j->entry->inflight == 0)
			sched_entry_free(j->entry);
		else if (!j->entry->deleted)
			sched_make_runnable(j->entry);
		sched_job_free(j);
	}
	for (c = p->conns; c != NULL; c = next) {
		next = c->next;
		if (c->ready && c->job == NULL) {
			c->ready = 0;
			smtp_client_quit(c->session);
		}
	}
}

void
sched_reconfigure(const struct config *cfg)
{
	size_t	 i;

	/*
	 * Sessions in flight keep their remote (owned by the old config,
	 * which the daemon keeps until exit); they finish their message and
	 * close. New work uses the new remotes.
	 */
	for (i = 0; i < sched_npools + sched_nroutes; i++) {
		struct sched_pool *p = i < sched_npools ? sched_pools[i] :
		    sched_routes[i - sched_npools];

		sched_pool_retire(p);
		sched_retired = xreallocarray(sched_retired, sched_nretired + 1,
		    sizeof *sched_retired);
		sched_retired[sched_nretired++] = p;
	}
	free(sched_pools);
	free(sched_routes);
	sched_routes = NULL;
	sched_nroutes = 0;
	sched_cfg = cfg;
	sched_gap_ms = rate_gap_ms(cfg);
	sched_build_pools();
	sched_run_soon();
}

void
sched_enqueue(struct envelope *env)
{
	sched_add(env, 1);
}

int
sched_retry(const char *qid)
{
	struct sched_entry	*e;
	size_t			 i;

	if ((e = sched_lookup(qid, NULL)) == NULL)
		return (-1);
	for (i = 0; i < e->env->nrcpt; i++)
		if (e->env->rcpts[i].state == RCPT_DEFERRED)
			e->env->rcpts[i].next_try = 0;
	sched_make_runnable(e);
	return (0);
}

void
sched_flush(void)
{
	size_t	 i;

	for (i = 0; i < sched_nentries; i++)
		if (!sched_entries[i]->env->held)
			sched_retry(sched_entries[i]->env->id);
	/* A flush also means "try the remotes again now". */
	for (i = 0; i < sched_npools; i++)
		sched_pool_kick(sched_pools[i]);
	for (i = 0; i < sched_nroutes; i++)
		sched_pool_kick(sched_routes[i]);
}

int
sched_delete(const char *qid)
{
	struct sched_entry	*e;

	if ((e = sched_lookup(qid, NULL)) == NULL)
		return (-1);
	if (queue_remove(qid) == -1) {
		log_err("%s: cannot remove: %s", qid, strerror(errno));
		return (-1);
	}
	log_info("%s: removed (deleted by administrator)", qid);
	sched_entry_drop(e);
	return (0);
}

int
sched_hold(const char *qid)
{
	struct sched_entry	*e;

	if ((e = sched_lookup(qid, NULL)) == NULL)
		return (-1);
	if (e->env->held)
		return (0);
	e->env->held = 1;
	sched_persist(e);
	log_info("%s: held by administrator", qid);
	sched_notify(SCHED_MSG_CHANGED, e->env);
	return (0);
}

int
sched_release(const char *qid)
{
	struct sched_entry	*e;

	if ((e = sched_lookup(qid, NULL)) == NULL)
		return (-1);
	if (!e->env->held)
		return (0);
	e->env->held = 0;
	sched_persist(e);
	log_info("%s: released from hold", qid);
	sched_notify(SCHED_MSG_CHANGED, e->env);
	sched_retry(qid);
	return (0);
}

int
sched_bounce(const char *qid)
{
	struct sched_entry	*e;
	struct envelope_rcpt	*r;
	size_t			 i;

	if ((e = sched_lookup(qid, NULL)) == NULL)
		return (-1);
	for (i = 0; i < e->env->nrcpt; i++) {
		r = &e->env->rcpts[i];
		if (r->state != RCPT_PENDING && r->state != RCPT_DEFERRED)
			continue;
		r->state = RCPT_BOUNCED;
		set_str(&r->dsn_status, "5.0.0");
		set_str(&r->last_error, "bounced by the administrator");
		sched_count(SCHED_BOUNCED);
		sched_log_outcome(e->env, r, NULL, "bounced", r->last_error);
	}
	sched_persist(e);
	sched_notify(SCHED_MSG_CHANGED, e->env);
	if (e->inflight == 0)
		sched_entry_settle(e);
	return (0);
}

void
sched_foreach(void (*fn)(const struct envelope *, void *), void *arg)
{
	size_t	 i;

	for (i = 0; i < sched_nentries; i++)
		fn(sched_entries[i]->env, arg);
}

size_t
sched_foreach_page(size_t offset, size_t limit,
    void (*fn)(const struct envelope *, void *), void *arg)
{
	size_t	 i;

	for (i = offset; i < sched_nentries && i - offset < limit; i++)
		fn(sched_entries[i]->env, arg);
	return (sched_nentries);
}

const struct envelope *
sched_find(const char *qid)
{
	struct sched_entry	*e;

	e = sched_lookup(qid, NULL);
	return (e != NULL ? e->env : NULL);
}

void
sched_get_stats(struct sched_stats *st)
{
	size_t		 i, j;
	struct envelope	*env;
	uint64_t	 minute = now_monotonic_ms() / 60000;

	*st = sched_counters;
	for (i = 0; i < SCHED_RATE_MINUTES; i++) {
		/* A slot not touched for an hour is older than the window. */
		if (sched_rate[i].minute + SCHED_RATE_MINUTES <= minute ||
		    sched_rate[i].minute > minute)
			continue;
		st->delivered_hour += sched_rate[i].n[SCHED_DELIVERED];
		st->deferred_hour += sched_rate[i].n[SCHED_DEFERRED];
		st->bounced_hour += sched_rate[i].n[SCHED_BOUNCED];
	}
	st->messages = sched_nentries;
	st->recipients_pending = st->recipients_deferred = 0;
	st->recipients_held = 0;
	for (i = 0; i < sched_nentries; i++) {
		env = sched_entries[i]->env;
		for (j = 0; j < env->nrcpt; j++) {
			if (env->rcpts[j].state != RCPT_PENDING &&
			    env->rcpts[j].state != RCPT_DEFERRED)
				continue;
			if (env->held)
				st->recipients_held++;
			else if (env->rcpts[j].state == RCPT_DEFERRED)
				st->recipients_deferred++;
			else
				st->recipients_pending++;
		}
	}
}

size_t
sched_remote_states(struct sched_remote_state *out, size_t max)
{
	size_t	 i;

	for (i = 0; i < sched_npools && i < max; i++) {
		out[i].host = sched_pools[i]->remote->host;
		out[i].port = sched_pools[i]->remote->port;
		out[i].up = sched_pools[i]->up;
		out[i].down_since = sched_pools[i]->down_since;
		out[i].last_error = sched_pools[i]->last_error;
		out[i].delivered = sched_pools[i]->delivered;
	}
	return (i);
}

static void
sched_pool_destroy(struct sched_pool *p)
{
	struct sched_job	*j;

	while (p->conns != NULL) {
		j = p->conns->job;
		p->conns->job = NULL;
		if (j != NULL) {
			/* Abandoned in flight: the envelope on disk says it is
			 * still due; the next start delivers it. */
			sched_job_free(j);
		}
		sched_conn_free(p->conns);
	}
	while ((j = sched_pool_pop(p)) != NULL) {
		sched_job_free(j);
	}
	if (p->dnsq != NULL)
		dns_cancel(p->dnsq);
	ev_timer_free(p->rate_timer);
	free(p->addrs);
	free(p->key);
	remote_free(&p->own);
	free(p->last_error);
	free(p);
}

void
sched_shutdown(void)
{
	size_t	 i;

	sched_stopping = 1;
	local_shutdown();
	for (i = 0; i < sched_npools; i++)
		sched_pool_destroy(sched_pools[i]);
	for (i = 0; i < sched_nroutes; i++)
		sched_pool_destroy(sched_routes[i]);
	free(sched_routes);
	sched_routes = NULL;
	sched_nroutes = 0;
	for (i = 0; i < sched_nretired; i++)
		sched_pool_destroy(sched_retired[i]);
	free(sched_pools);
	free(sched_retired);
	sched_pools = sched_retired = NULL;
	sched_npools = sched_nretired = 0;
	for (i = 0; i < sched_nentries; i++)
		sched_entry_free(sched_entries[i]);
	free(sched_entries);
	sched_entries = NULL;
	sched_nentries = sched_entcap = 0;
	sched_run_head = NULL;
	sched_run_tail = &sched_run_head;
	ev_timer_free(sched_retry_timer);
	ev_timer_free(sched_run_timer);
	sched_retry_timer = sched_run_timer = NULL;
}
