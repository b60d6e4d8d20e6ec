/*
 * queue: durable spool with group commit, recovery and maildrop pickup.
 *
 * Commits are written and renamed on the loop thread (page cache writes
 * are quick); the one slow step, the flush to disk, runs on a sync thread
 * that takes every commit queued so far and covers them all with a single
 * syncfs(). Completions go back to the loop through an ev_wakeup.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "envelope.h"
#include "event.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define QUEUE_WBUF_SIZE		(32 * 1024)
/* Room for the envelope part of a maildrop file beyond the message. */
#define MAILDROP_ENV_SLACK	(1024 * 1024)
/* An injector that died mid-write leaves tmp.*; remove those this old. */
#define MAILDROP_TMP_AGE	3600
#define MAILDROP_RESCAN_MS	(60 * 1000)

struct queue_incoming {
	struct envelope		*env;
	int			 fd;		/* ID.msg, -1 once closed */
	char			*wbuf;
	size_t			 wlen;
	int64_t			 written;
	int			 error;		/* sticky errno */
	queue_done_cb		 done;
	void			*done_arg;
	struct queue_incoming	*next;		/* sync and done lists */
};

struct drop_job {
	char			*name;		/* file in maildrop/ */
	struct drop_job		*next;		/* in-flight list */
};

static struct {
	char			*spool;
	int			 qfd;		/* queue/ */
	int			 mdfd;		/* maildrop/ */
	int			 quarfd;	/* quarantine/ */

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	pthread_t		 thread;
	int			 thread_started;
	int			 stopping;
	/* Under lock: waiting for a sync, and synced waiting for the loop. */
	struct queue_incoming	*pending, **pending_tail;
	struct queue_incoming	*done, **done_tail;
	uint64_t		 syncs;
	uint64_t		 synced;
	struct ev_wakeup	*wakeup;
	/* Loop only: commits of this loop turn, handed over together. */
	struct queue_incoming	*staged, **staged_tail;
	struct ev_timer		*stage_timer;

	void			(*hook)(struct envelope *, void *);
	void			*hook_arg;

	char			*me;
	int64_t			 max_size;
	struct drop_job		*drops;
	int			 inotify_fd;
	struct ev_fd		*inotify_ev;
	struct ev_timer		*rescan;
} q = {
	.qfd = -1, .mdfd = -1, .quarfd = -1, .inotify_fd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
};

/* Spool tree. */

static int
make_dir(const char *path, mode_t mode, uid_t owner, gid_t group, char **err)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		xasprintf(err, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0) {
		xasprintf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		xasprintf(err, "%s: not a directory", path);
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != owner || st.st_gid != group) &&
	    chown(path, owner, group) < 0) {
		xasprintf(err, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	/* mkdir applies the umask and an old spool may have other modes:
	 * maildrop must be exactly 1733 for the injector's promises. */
	if ((st.st_mode & 07777) != mode && (geteuid() == 0 ||
	    st.st_uid == geteuid()) && chmod(path, mode) < 0) {
		xasprintf(err, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
open_dir(const char *path, char **err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		xasprintf(err, "%s: %s", path, strerror(errno));
	return fd;
}

int
queue_open(const char *spool, uid_t owner, gid_t group, char **err)
{
	static const struct { const char *name; mode_t mode; } dirs[] = {
		{ SPOOL_QUEUE_DIR, 0750 },
		{ SPOOL_MAILDROP_DIR, 01733 },
		{ SPOOL_QUARANTINE_DIR, 0750 },
	};
	char *path;
	size_t i;
	int rc;

	queue_close();
	/* Others must reach maildrop/ and public.sock inside the spool. */
	if (make_dir(spool, 0755, owner, group, err) < 0)
		return -1;
	for (i = 0; i < nitems(dirs); i++) {
		xasprintf(&path, "%s/%s", spool, dirs[i].name);
		rc = make_dir(path, dirs[i].mode, owner, group, err);
		free(path);
		if (rc < 0)
			return -1;
	}
	q.spool = xstrdup(spool);
	xasprintf(&path, "%s/%s", spool, SPOOL_QUEUE_DIR);
	q.qfd = open_dir(path, err);
	free(path);
	xasprintf(&path, "%s/%s", spool, SPOOL_MAILDROP_DIR);
	q.mdfd = q.qfd < 0 ? -1 : open_dir(path, err);
	free(path);
	xasprintf(&path, "%s/%s", spool, SPOOL_QUARANTINE_DIR);
	q.quarfd = q.mdfd < 0 ? -1 : open_dir(path, err);
	free(path);
	if (q.quarfd < 0) {
		queue_close();
		return -1;
	}
	q.pending = NULL;
	q.pending_tail = &q.pending;
	q.done = NULL;
	q.done_tail = &q.done;
	return 0;
}

void
queue_configure(const char *me, int64_t max_message_size)
{
	free(q.me);
	q.me = xstrdup(me);
	q.max_size = max_message_size;
}

void
queue_set_committed_hook(void (*hook)(struct envelope *, void *), void *arg)
{
	q.hook = hook;
	q.hook_arg = arg;
}

uint64_t
queue_sync_count(void)
{
	uint64_t n;

	pthread_mutex_lock(&q.lock);
	n = q.syncs;
	pthread_mutex_unlock(&q.lock);
	return n;
}

uint64_t
queue_synced_messages(void)
{
	uint64_t n;

	pthread_mutex_lock(&q.lock);
	n = q.synced;
	pthread_mutex_unlock(&q.lock);
	return n;
}

/* File names inside queue/. */

static void
qname(char *out, size_t size, const char *qid, const char *suffix)
{
	snprintf(out, size, "%.*s%s", QID_LEN, qid, suffix);
}

#define QNAME_SIZE	(QID_LEN + 16)

/* Sync thread. */

static void *
sync_main(void *unused)
{
	struct queue_incoming *batch, *it;
	uint64_t n;
	int rc, err;

	pthread_mutex_lock(&q.lock);
	for (;;) {
		while (q.pending == NULL && !q.stopping)
			pthread_cond_wait(&q.cond, &q.lock);
		if (q.pending == NULL)
			break;
		batch = q.pending;
		q.pending = NULL;
		q.pending_tail = &q.pending;
		pthread_mutex_unlock(&q.lock);

		/* One flush covers every file and directory entry of the
		 * batch: that is the whole point of group commit. */
		rc = syncfs(q.qfd);
		err = rc < 0 ? errno : 0;
		n = 0;
		for (it = batch; it != NULL; it = it->next) {
			it->error = err;
			n++;
		}

		pthread_mutex_lock(&q.lock);
		q.syncs++;
		q.synced += n;
		*q.done_tail = batch;
		for (it = batch; it->next != NULL; it = it->next)
			;
		q.done_tail = &it->next;
		pthread_mutex_unlock(&q.lock);
		ev_wakeup_signal(q.wakeup);
		pthread_mutex_lock(&q.lock);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

static void incoming_free(struct queue_incoming *);

/* On the loop: run completions in commit order. */
static void
done_run(void *unused)
{
	struct queue_incoming *list, *it, *next;
	char name[QNAME_SIZE];

	pthread_mutex_lock(&q.lock);
	list = q.done;
	q.done = NULL;
	q.done_tail = &q.done;
	pthread_mutex_unlock(&q.lock);

	for (it = list; it != NULL; it = next) {
		next = it->next;
		if (it->error != 0) {
			/* Never acknowledged, so it must not be delivered. */
			qname(name, sizeof(name), it->env->id, ".env");
			unlinkat(q.qfd, name, 0);
			qname(name, sizeof(name), it->env->id, ".msg");
			unlinkat(q.qfd, name, 0);
			log_warn("%s: not queued: %s", it->env->id,
			    strerror(it->error));
		}
		if (it->done != NULL)
			it->done(it->done_arg, it->error == 0 ? it->env : NULL,
			    it->error);
		if (it->error == 0 && q.hook != NULL) {
			q.hook(it->env, q.hook_arg);
			it->env = NULL;
		}
		incoming_free(it);
	}
}

/*
 * On the loop, once per turn: give the sync thread every commit made in
 * this turn at once. Signalling it per commit would let a fast disk sync
 * each file alone while the next sessions are still being served.
 */
static void
stage_flush(void *unused)
{
	if (q.staged == NULL)
		return;
	pthread_mutex_lock(&q.lock);
	*q.pending_tail = q.staged;
	q.pending_tail = q.staged_tail;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
	q.staged = NULL;
	q.staged_tail = &q.staged;
}

static void
sync_start(void)
{
	sigset_t all, old;
	int rc;

	if (q.thread_started)
		return;
	q.wakeup = ev_wakeup_new(done_run, NULL);
	q.stage_timer = ev_timer_new(stage_flush, NULL);
	q.staged = NULL;
	q.staged_tail = &q.staged;
	q.stopping = 0;
	/* Signals belong to the loop's signalfd: a SIGTERM delivered to
	 * this thread would take its default action instead. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q.thread, NULL, sync_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		fatal("queue: cannot start the sync thread: %s",
		    strerror(rc));
	q.thread_started = 1;
}

void
queue_close(void)
{
	struct drop_job *d;

	if (q.thread_started) {
		stage_flush(NULL);
		ev_timer_free(q.stage_timer);
		q.stage_timer = NULL;
		pthread_mutex_lock(&q.lock);
		q.stopping = 1;
		pthread_cond_signal(&q.cond);
		pthread_mutex_unlock(&q.lock);
		pthread_join(q.thread, NULL);
		q.thread_started = 0;
		/* The thread finished every queued sync: report them now,
		 * the loop may not turn again. */
		done_run(NULL);
		ev_wakeup_free(q.wakeup);
		q.wakeup = NULL;
	}
	if (q.inotify_ev != NULL)
		ev_fd_del(q.inotify_ev);
	q.inotify_ev = NULL;
	if (q.inotify_fd >= 0)
		close(q.inotify_fd);
	q.inotify_fd = -1;
	if (q.rescan != NULL)
		ev_timer_free(q.rescan);
	q.rescan = NULL;
	while ((d = q.drops) != NULL) {
		q.drops = d->next;
		free(d->name);
		free(d);
	}
	if (q.qfd >= 0)
		close(q.qfd);
	if (q.mdfd >= 0)
		close(q.mdfd);
	if (q.quarfd >= 0)
		close(q.quarfd);
	q.qfd = q.mdfd = q.quarfd = -1;
	free(q.spool);
	q.spool = NULL;
}

/* Incoming messages. */

static void
incoming_free(struct queue_incoming *inc)
{
	if (inc->fd >= 0)
		close(inc->fd);
	if (inc->env != NULL) {
		envelope_free(inc->env);
		free(inc->env);
	}
	free(inc->wbuf);
	free(inc);
}

struct queue_incoming *
queue_incoming_new(struct envelope *head, char **err)
{
	struct queue_incoming *inc;
	char name[QNAME_SIZE];
	int fd = -1, tries;

	for (tries = 0; tries < 10 && fd < 0; tries++) {
		qid_new(head->id);
		qname(name, sizeof(name), head->id, ".msg");
		fd = openat(q.qfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0640);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		xasprintf(err, "cannot create queue file %s/%s/%s: %s",
		    q.spool, SPOOL_QUEUE_DIR, name, strerror(errno));
		envelope_free(head);
		free(head);
		return NULL;
	}
	head->arrival = now_wall_ms() / 1000;
	inc = xcalloc(1, sizeof(*inc));
	inc->env = head;
	inc->fd = fd;
	return inc;
}

const char *
queue_incoming_id(const struct queue_incoming *inc)
{
	return inc->env->id;
}

struct envelope *
queue_incoming_envelope(struct queue_incoming *inc)
{
	return inc->env;
}

static int
incoming_flush(struct queue_incoming *inc)
{
	if (inc->error == 0 && inc->wlen > 0 &&
	    write_all(inc->fd, inc->wbuf, inc->wlen) < 0)
		inc->error = errno;
	inc->wlen = 0;
	if (inc->error != 0) {
		errno = inc->error;
		return -1;
	}
	return 0;
}

int
queue_incoming_write(struct queue_incoming *inc, const void *data,
    size_t len)
{
	if (inc->error != 0) {
		errno = inc->error;
		return -1;
	}
	if (inc->wbuf == NULL)
		inc->wbuf = xmalloc(QUEUE_WBUF_SIZE);
	inc->written += (int64_t)len;
	if (inc->wlen + len > QUEUE_WBUF_SIZE && incoming_flush(inc) < 0)
		return -1;
	if (len >= QUEUE_WBUF_SIZE) {
		if (write_all(inc->fd, data, len) < 0) {
			inc->error = errno;
			return -1;
		}
		return 0;
	}
	memcpy(inc->wbuf + inc->wlen, data, len);
	inc->wlen += len;
	return 0;
}

/* Hand a finished incoming to the loop without a sync (failures). */
static void
incoming_finish_now(struct queue_incoming *inc)
{
	pthread_mutex_lock(&q.lock);
	inc->next = NULL;
	*q.done_tail = inc;
	q.done_tail = &inc->next;
	pthread_mutex_unlock(&q.lock);
	ev_wakeup_signal(q.wakeup);
}

/* Write ID.env.tmp and rename it over ID.env; -1 with errno. */
static int
env_write(const struct envelope *env)
{
	char tmp[QNAME_SIZE], name[QNAME_SIZE];
	struct buf b;
	int fd, saved;

	qname(tmp, sizeof(tmp), env->id, ".env.tmp");
	qname(name, sizeof(name), env->id, ".env");
	buf_init(&b);
	envelope_serialize(env, &b);
	fd = openat(q.qfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640);
	if (fd < 0) {
		buf_free(&b);
		return -1;
	}
	if (write_all(fd, b.data, b.len) < 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0 || renameat(q.qfd, tmp, q.qfd, name) < 0) {
		saved = errno;
		goto fail;
	}
	buf_free(&b);
	return 0;
fail:
	unlinkat(q.qfd, tmp, 0);
	buf_free(&b);
	errno = saved;
	return -1;
}

void
queue_incoming_commit(struct queue_incoming *inc, queue_done_cb done,
    void *arg)
{
	char name[QNAME_SIZE];
	int rc;

	inc->done = done;
	inc->done_arg = arg;
	sync_start();

	rc = incoming_flush(inc);
	/* close reports delayed write errors (ENOSPC on NFS, quotas). */
	if (close(inc->fd) < 0 && rc == 0) {
		inc->error = errno;
		rc = -1;
	}
	inc->fd = -1;
	free(inc->wbuf);
	inc->wbuf = NULL;
	if (rc == 0) {
		inc->env->size = inc->written;
		if (env_write(inc->env) < 0) {
			inc->error = errno;
			rc = -1;
		}
	}
	if (rc < 0) {
		qname(name, sizeof(name), inc->env->id, ".msg");
		unlinkat(q.qfd, name, 0);
		incoming_finish_now(inc);
		return;
	}

	inc->next = NULL;
	*q.staged_tail = inc;
	q.staged_tail = &inc->next;
	if (!ev_timer_pending(q.stage_timer))
		ev_timer_after(q.stage_timer, 0);
}

void
queue_incoming_detach(struct queue_incoming *inc)
{
	/* The sync thread never reads done/done_arg; only the loop does. */
	inc->done = NULL;
	inc->done_arg = NULL;
}

void
queue_incoming_abort(struct queue_incoming *inc)
{
	char name[QNAME_SIZE];

	qname(name, sizeof(name), inc->env->id, ".msg");
	unlinkat(q.qfd, name, 0);
	incoming_free(inc);
}

/* Updates of committed messages. */

int
queue_update(const struct envelope *env)
{
	return env_write(env);
}

int
queue_remove(const char *qid)
{
	char name[QNAME_SIZE];
	int rc = 0;

	if (!qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	qname(name, sizeof(name), qid, ".env");
	if (unlinkat(q.qfd, name, 0) < 0)
		rc = -1;
	qname(name, sizeof(name), qid, ".msg");
	if (unlinkat(q.qfd, name, 0) < 0 && rc == 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int
queue_message_open(const char *qid)
{
	char name[QNAME_SIZE];

	if (!qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	qname(name, sizeof(name), qid, ".msg");
	return openat(q.qfd, name, O_RDONLY | O_CLOEXEC);
}

/* Recovery. */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a directory's entry names (no dot files), sorted. */
static char **
dir_names(int dfd, size_t *count)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int fd;

	*count = 0;
	if ((fd = dup(dfd)) < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* Doubling: a spool of 100,000 files is read at start. */
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*count = n;
	return names != NULL ? names : xcalloc(1, sizeof(*names));
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Move a bad file aside for the admin; dfd is queue/ or maildrop/. */
static void
quarantine(int dfd, const char *name, const char *why)
{
	const char *dir = dfd == q.mdfd ? SPOOL_MAILDROP_DIR : SPOOL_QUEUE_DIR;

	if (renameat(dfd, name, q.quarfd, name) < 0)
		log_err("%s/%s: cannot move to %s/: %s (it is bad: %s)", dir,
		    name, SPOOL_QUARANTINE_DIR, strerror(errno), why);
	else
		log_warn("%s/%s: moved to %s/%s/: %s", dir, name, q.spool,
		    SPOOL_QUARANTINE_DIR, why);
}

int
queue_recover(void (*cb)(struct envelope *, void *), void *arg)
{
	char **names, base[QID_LEN + 1], other[QNAME_SIZE], *path, *err;
	struct envelope *env;
	struct stat st;
	size_t n, i;
	int count = 0;

	if ((names = dir_names(q.qfd, &n)) == NULL) {
		log_err("%s/%s: %s", q.spool, SPOOL_QUEUE_DIR,
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char *name = names[i];
		size_t blen = strlen(name);

		if (has_suffix(name, ".tmp")) {
			/* An update or commit cut short: never a commit. */
			unlinkat(q.qfd, name, 0);
			log_info("recovery: removed unfinished %s", name);
			continue;
		}
		if (blen != QID_LEN + 4 || (!has_suffix(name, ".msg") &&
		    !has_suffix(name, ".env"))) {
			log_warn("recovery: ignoring stray file %s/%s/%s",
			    q.spool, SPOOL_QUEUE_DIR, name);
			continue;
		}
		memcpy(base, name, QID_LEN);
		base[QID_LEN] = '\0';
		if (!qid_valid(base)) {
			log_warn("recovery: ignoring stray file %s/%s/%s",
			    q.spool, SPOOL_QUEUE_DIR, name);
			continue;
		}
		qid_seed(base);
		if (has_suffix(name, ".msg")) {
			qname(other, sizeof(other), base, ".env");
			if (fstatat(q.qfd, other, &st, 0) < 0 &&
			    errno == ENOENT) {
				/* Its envelope never landed: the message was
				 * never acknowledged. */
				if (unlinkat(q.qfd, name, 0) == 0)
					log_info("recovery: removed orphan %s",
					    name);
			}
			continue;
		}
		qname(other, sizeof(other), base, ".msg");
		if (fstatat(q.qfd, other, &st, 0) < 0) {
			quarantine(q.qfd, name, "envelope without message");
			continue;
		}
		env = xmalloc(sizeof(*env));
		xasprintf(&path, "%s/%s/%s", q.spool, SPOOL_QUEUE_DIR, name);
		err = NULL;
		if (envelope_read_file(path, env, &err) == 0 &&
		    strcmp(env->id, base) != 0)
			err = xstrdup("queue ID does not match file name");
		if (err != NULL) {
			quarantine(q.qfd, name, err);
			quarantine(q.qfd, other, err);
			free(err);
			envelope_free(env);
			free(env);
			free(path);
			continue;
		}
		free(path);
		count++;
		cb(env, arg);
	}
	strv_free(names, n);
	if (count > 0)
		log_info("recovery: %d messages in the queue", count);
	return count;
}

/* Maildrop pickup. */

/* Does the header section of msg hold field name (with its colon)? */
static int
has_header(const char *msg, size_t len, const char *field)
{
	size_t pos = 0, flen = strlen(field);

	while (pos < len) {
		const char *line = msg + pos, *nl;
		size_t llen;

		nl = memchr(line, '\n', len - pos);
		llen = nl != NULL ? (size_t)(nl - line) : len - pos;
		if (llen == 0 || (llen == 1 && line[0] == '\r'))
			return 0;
		if (llen >= flen && ascii_strncasecmp(line, field, flen) == 0)
			return 1;
		pos += llen + 1;
	}
	return 0;
}

/* RFC 5321 4.5.3.1.6: 998 octets per line, CRLF not counted. */
#define DROP_LINE_MAX	998

/* Where add_crlf left off at the end of the previous chunk. */
struct crlf_state {
	int	 cr;		/* it ended in CR */
	size_t	 col;		/* octets on the current output line */
};

/*
 * Message bytes to CRLF line ends, chunk by chunk: a lone CR or LF becomes
 * CRLF (nothing downstream may see a bare one). A line longer than
 * DROP_LINE_MAX is folded with CRLF SPACE, as Postfix's
 * smtp_line_length_limit does: the upstream would refuse it ("500 Line
 * too long") and bounce mail the injector said was queued, while a
 * folded header stays valid as continuation lines.
 */
static void
add_crlf(struct buf *b, const char *msg, size_t len, struct crlf_state *st)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n') {
			buf_addstr(b, "\r\n");
			st->cr = 0;
			st->col = 0;
			continue;
		}
		if (st->cr) {
			buf_addstr(b, "\r\n");
			st->col = 0;
		}
		st->cr = msg[i] == '\r';
		if (st->cr)
			continue;
		if (st->col >= DROP_LINE_MAX) {
			buf_addstr(b, "\r\n ");
			st->col = 1;
		}
		buf_addch(b, msg[i]);
		st->col++;
	}
}

static int
has_8bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* Canonical form of a drop file address; NULL with *why when refused. */
static char *
drop_address(const char *in, const char **why)
{
	enum address_error aerr;
	char *out;

	if (address_complete(in, q.me != NULL ? q.me : "localhost", NULL,
	    &out, &aerr) < 0) {
		*why = address_strerror(aerr);
		return NULL;
	}
	return out;
}

static void
drop_forget(const char *name)
{
	struct drop_job **pp, *d;

	for (pp = &q.drops; (d = *pp) != NULL; pp = &d->next)
		if (strcmp(d->name, name) == 0) {
			*pp = d->next;
			free(d->name);
			free(d);
			return;
		}
}

static int
drop_in_flight(const char *name)
{
	struct drop_job *d;

	for (d = q.drops; d != NULL; d = d->next)
		if (strcmp(d->name, name) == 0)
			return 1;
	return 0;
}

static void
drop_done(void *arg, const struct envelope *env, int error)
{
	struct drop_job *d = arg;

	if (env != NULL) {
		/* A crash before this unlink lands means one duplicate, never
		 * a loss: the copy in queue/ is already synced. */
		if (unlinkat(q.mdfd, d->name, 0) < 0)
			log_warn("%s/%s/%s: %s", q.spool, SPOOL_MAILDROP_DIR,
			    d->name, strerror(errno));
		log_info("%s: from=<%s>, size=%" PRId64 ", nrcpt=%zu, "
		    "uid=%d (maildrop)", env->id, env->sender, env->size,
		    env->nrcpt, env->origin_uid);
	} else {
		log_warn("maildrop %s: not queued (%s), will retry", d->name,
		    strerror(error));
	}
	drop_forget(d->name);
}

/* Read up to len bytes, retrying on EINTR: the count, or -1 with errno. */
static ssize_t
read_some(int fd, char *p, size_t len)
{
	ssize_t r;

	do
		r = read(fd, p, len);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Validate and canonicalise a drop file's envelope into a new head. */
static struct envelope *
drop_head(const struct envelope *parsed, uid_t uid, const char **why)
{
	struct envelope *head;
	char *addr;
	size_t i;

	head = xmalloc(sizeof(*head));
	envelope_init(head);
	if (parsed->sender[0] == '\0')
		head->sender = xstrdup("");
	else if ((head->sender = drop_address(parsed->sender, why)) == NULL)
		goto bad;
	for (i = 0; i < parsed->nrcpt; i++) {
		if ((addr = drop_address(parsed->rcpts[i].addr, why)) == NULL)
			goto bad;
		envelope_add_rcpt(head, addr, parsed->rcpts[i].orcpt);
		free(addr);
	}
	head->client = xstrdup("local");
	head->origin_uid = (int)uid;
	head->smtputf8 = has_8bit(head->sender, strlen(head->sender));
	for (i = 0; i < head->nrcpt; i++)
		head->smtputf8 |= has_8bit(head->rcpts[i].addr,
		    strlen(head->rcpts[i].addr));
	return head;
bad:
	envelope_free(head);
	free(head);
	return NULL;
}

/*
 * Copy the message of a drop file into inc: our Received: line, Date and
 * Message-ID when the header section (as far as the first chunk shows it)
 * lacks them, then the body in CRLF form, streamed so a big message costs
 * no more memory than a chunk. 0, or -1 with errno.
 */
static int
drop_copy(struct queue_incoming *inc, int fd, const char *first,
    size_t firstlen, uid_t uid, int64_t limit, int64_t total)
{
	struct envelope *env = queue_incoming_envelope(inc);
	const char *me = q.me != NULL ? q.me : "localhost";
	char date[64], *chunk = NULL;
	struct buf b;
	struct crlf_state st = { 0, 0 };
	int nl = 1, rc = -1;
	ssize_t r;

	format_rfc5322_date(now_wall_ms() / 1000, date, sizeof(date));
	buf_init(&b);
	buf_printf(&b, "Received: by %s (hikyaku, from uid %u)\r\n"
	    "\tid %s; %s\r\n", me, (unsigned)uid, env->id, date);
	if (!has_header(first, firstlen, "Date:"))
		buf_printf(&b, "Date: %s\r\n", date);
	if (!has_header(first, firstlen, "Message-ID:"))
		buf_printf(&b, "Message-ID: <%s@%s>\r\n", env->id, me);
	env->body_8bit = has_8bit(first, firstlen);
	add_crlf(&b, first, firstlen, &st);
	for (;;) {
		if (b.len > 0)
			nl = b.data[b.len - 1] == '\n';
		if (queue_incoming_write(inc, b.data, b.len) < 0)
			goto out;
		b.len = 0;
		if (chunk == NULL)
			chunk = xmalloc(QUEUE_WBUF_SIZE);
		if ((r = read_some(fd, chunk, QUEUE_WBUF_SIZE)) < 0)
			goto out;
		if (r == 0)
			break;
		total += r;
		if (limit > 0 && total > limit) {
			errno = EFBIG;
			goto out;
		}
		env->body_8bit |= has_8bit(chunk, (size_t)r);
		add_crlf(&b, chunk, (size_t)r, &st);
	}
	/* End with CRLF, whatever the injector's last line was. */
	if (st.cr || !nl)
		buf_addstr(&b, "\r\n");
	rc = queue_incoming_write(inc, b.data, b.len);
out:
	buf_free(&b);
	free(chunk);
	return rc;
}

/*
 * Turn one drop file into a queued message. Returns 1 when taken in hand
 * (committing or quarantined), 0 when left for later.
 */
static int
drop_take(const char *name)
{
	struct envelope parsed, *head;
	struct queue_incoming *inc;
	struct drop_job *job;
	struct stat st;
	const char *why = NULL;
	char *text, *err = NULL;
	size_t len = 0, off;
	int64_t limit;
	ssize_t r = 0;
	int fd;

	/* The file is another user's: no symlinks, no FIFOs, no hard links
	 * to files that user could not read. */
	fd = openat(q.mdfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		quarantine(q.mdfd, name, strerror(errno));
		return 1;
	}
	limit = q.max_size > 0 ? q.max_size + MAILDROP_ENV_SLACK : 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		quarantine(q.mdfd, name, "not a plain file with one link");
		return 1;
	}
	if (limit > 0 && st.st_size > limit) {
		close(fd);
		quarantine(q.mdfd, name, "larger than max_message_size");
		return 1;
	}
	/* The envelope and the start of the header section. */
	text = xmalloc(MAILDROP_ENV_SLACK);
	while (len < MAILDROP_ENV_SLACK &&
	    (r = read_some(fd, text + len, MAILDROP_ENV_SLACK - len)) > 0)
		len += (size_t)r;
	if (r < 0) {
		log_warn("maildrop %s: %s, will retry", name, strerror(errno));
		close(fd);
		free(text);
		return 0;
	}
	if (maildrop_parse(text, len, &parsed, &off, &err) < 0) {
		close(fd);
		quarantine(q.mdfd, name, err);
		free(err);
		free(text);
		return 1;
	}
	head = drop_head(&parsed, st.st_uid, &why);
	envelope_free(&parsed);
	if (head == NULL) {
		close(fd);
		xasprintf(&err, "bad address: %s", why);
		quarantine(q.mdfd, name, err);
		free(err);
		free(text);
		return 1;
	}
	if ((inc = queue_incoming_new(head, &err)) == NULL) {
		close(fd);
		log_warn("maildrop %s: %s, will retry", name, err);
		free(err);
		free(text);
		return 0;
	}
	r = drop_copy(inc, fd, text + off, len - off, st.st_uid, limit,
	    (int64_t)len);
	close(fd);
	free(text);
	if (r < 0) {
		if (errno == EFBIG) {
			queue_incoming_abort(inc);
			quarantine(q.mdfd, name, "larger than max_message_size");
			return 1;
		}
		log_warn("maildrop %s: %s, will retry", name, strerror(errno));
		queue_incoming_abort(inc);
		return 0;
	}
	job = xcalloc(1, sizeof(*job));
	job->name = xstrdup(name);
	job->next = q.drops;
	q.drops = job;
	queue_incoming_commit(inc, drop_done, job);
	return 1;
}

int
queue_maildrop_scan(void)
{
	struct stat st;
	char **names;
	size_t n, i;
	int taken = 0;

	if (q.mdfd < 0 || (names = dir_names(q.mdfd, &n)) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], "tmp.", 4) == 0) {
			if (fstatat(q.mdfd, names[i], &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_mtime + MAILDROP_TMP_AGE <
			    now_wall_ms() / 1000 &&
			    unlinkat(q.mdfd, names[i], 0) == 0)
				log_info("maildrop: removed abandoned %s",
				    names[i]);
			continue;
		}
		if (drop_in_flight(names[i]))
			continue;
		taken += drop_take(names[i]);
	}
	strv_free(names, n);
	return taken;
}

static void
maildrop_event(int fd, int revents, void *unused)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(fd, ev, sizeof(ev)) > 0)
		;
	queue_maildrop_scan();
}

static void
maildrop_rescan(void *unused)
{
	queue_maildrop_scan();
	ev_timer_after(q.rescan, MAILDROP_RESCAN_MS);
}

int
queue_maildrop_watch(char **err)
{
	char *path;

	q.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (q.inotify_fd < 0) {
		xasprintf(err, "inotify: %s", strerror(errno));
		return -1;
	}
	xasprintf(&path, "%s/%s", q.spool, SPOOL_MAILDROP_DIR);
	/* The injector renames its finished file into place. */
	if (inotify_add_watch(q.inotify_fd, path, IN_MOVED_TO |
	    IN_CLOSE_WRITE) < 0) {
		xasprintf(err, "inotify %s: %s", path, strerror(errno));
		free(path);
		close(q.inotify_fd);
		q.inotify_fd = -1;
		return -1;
	}
	free(path);
	q.inotify_ev = ev_fd_add(q.inotify_fd, EV_READ, maildrop_event, NULL);
	/* A backstop: inotify can overflow, and files dropped before the
	 * watch existed need a look. */
	q.rescan = ev_timer_new(maildrop_rescan, NULL);
	ev_timer_after(q.rescan, MAILDROP_RESCAN_MS);
	return 0;
}
