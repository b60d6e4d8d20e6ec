/*
 * event: the single-threaded event loop (epoll) every daemon part runs on.
 *
 * Timers live in a binary min-heap keyed by deadline; each timer knows its
 * heap slot so re-arming and stopping are O(log n). Deleted descriptor
 * registrations are parked on a list and freed after the dispatch of the
 * current epoll batch, so a callback may delete any registration, even one
 * whose event is still pending in the same batch.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include "event.h"
#include "log.h"
#include "util.h"

struct ev_fd {
	int		 fd;
	int		 events;
	int		 dead;
	ev_fd_cb	 cb;
	void		*arg;
	struct ev_fd	*next_dead;
};

struct ev_timer {
	uint64_t	 when;
	size_t		 slot;		/* index in the heap, SIZE_MAX if idle */
	ev_cb		 cb;
	void		*arg;
};

struct ev_wakeup {
	int		 fd;
	struct ev_fd	*ev;
	ev_cb		 cb;
	void		*arg;
};

struct ev_sig {
	int		 signo;
	ev_cb		 cb;
	void		*arg;
};

static int		 ev_epfd = -1;
static int		 ev_stop;
static uint64_t		 ev_cached_now;
static struct ev_timer	**ev_heap;
static size_t		 ev_nheap, ev_heapcap;
static struct ev_fd	*ev_dead;
static int		 ev_sigfd = -1;
static struct ev_fd	*ev_sigev;
static struct ev_sig	 ev_sigs[16];
static size_t		 ev_nsigs;
static sigset_t		 ev_sigmask;

void
ev_init(void)
{
	if (ev_epfd != -1)
		return;
	if ((ev_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1: %s", strerror(errno));
	sigemptyset(&ev_sigmask);
	ev_cached_now = now_monotonic_ms();
}

uint64_t
ev_now(void)
{
	return (ev_cached_now);
}

void
ev_break(void)
{
	ev_stop = 1;
}

static uint32_t
ev_epoll_bits(int events)
{
	uint32_t	 bits = 0;

	if (events & EV_READ)
		bits |= EPOLLIN | EPOLLRDHUP;
	if (events & EV_WRITE)
		bits |= EPOLLOUT;
	return (bits);
}

struct ev_fd *
ev_fd_add(int fd, int events, ev_fd_cb cb, void *arg)
{
	struct ev_fd		*e;
	struct epoll_event	 ee;

	ev_init();
	e = xcalloc(1, sizeof *e);
	e->fd = fd;
	e->events = events;
	e->cb = cb;
	e->arg = arg;
	memset(&ee, 0, sizeof ee);
	ee.events = ev_epoll_bits(events);
	ee.data.ptr = e;
	if (epoll_ctl(ev_epfd, EPOLL_CTL_ADD, fd, &ee) == -1)
		fatal("epoll_ctl add fd %d: %s", fd, strerror(errno));
	return (e);
}

void
ev_fd_set(struct ev_fd *e, int events)
{
	struct epoll_event	 ee;

	if (e->dead || e->events == events)
		return;
	e->events = events;
	memset(&ee, 0, sizeof ee);
	ee.events = ev_epoll_bits(events);
	ee.data.ptr = e;
	if (epoll_ctl(ev_epfd, EPOLL_CTL_MOD, e->fd, &ee) == -1)
		fatal("epoll_ctl mod fd %d: %s", e->fd, strerror(errno));
}

void
ev_fd_del(struct ev_fd *e)
{
	if (e == NULL || e->dead)
		return;
	/* The fd may already be closed by its owner: ignore EBADF. */
	epoll_ctl(ev_epfd, EPOLL_CTL_DEL, e->fd, NULL);
	e->dead = 1;
	e->next_dead = ev_dead;
	ev_dead = e;
}

static void
ev_heap_swap(size_t a, size_t b)
{
	struct ev_timer	*t = ev_heap[a];

	ev_heap[a] = ev_heap[b];
	ev_heap[b] = t;
	ev_heap[a]->slot = a;
	ev_heap[b]->slot = b;
}

static void
ev_heap_up(size_t i)
{
	while (i > 0 && ev_heap[(i - 1) / 2]->when > ev_heap[i]->when) {
		ev_heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
ev_heap_down(size_t i)
{
	size_t	 l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < ev_nheap && ev_heap[l]->when < ev_heap[m]->when)
			m = l;
		if (r < ev_nheap && ev_heap[r]->when < ev_heap[m]->when)
			m = r;
		if (m == i)
			return;
		ev_heap_swap(i, m);
		i = m;
	}
}

struct ev_timer *
ev_timer_new(ev_cb cb, void *arg)
{
	struct ev_timer	*t;

	t = xcalloc(1, sizeof *t);
	t->slot = SIZE_MAX;
	t->cb = cb;
	t->arg = arg;
	return (t);
}

void
ev_timer_stop(struct ev_timer *t)
{
	size_t	 i = t->slot;

	if (i == SIZE_MAX)
		return;
	t->slot = SIZE_MAX;
	ev_nheap--;
	if (i == ev_nheap)
		return;
	ev_heap[i] = ev_heap[ev_nheap];
	ev_heap[i]->slot = i;
	ev_heap_up(i);
	ev_heap_down(ev_heap[i]->slot);
}

void
ev_timer_at(struct ev_timer *t, uint64_t when)
{
	ev_timer_stop(t);
	if (ev_nheap == ev_heapcap) {
		ev_heapcap = ev_heapcap == 0 ? 64 : ev_heapcap * 2;
		ev_heap = xreallocarray(ev_heap, ev_heapcap, sizeof *ev_heap);
	}
	t->when = when;
	t->slot = ev_nheap;
	ev_heap[ev_nheap++] = t;
	ev_heap_up(t->slot);
}

void
ev_timer_after(struct ev_timer *t, uint64_t ms)
{
	ev_timer_at(t, now_monotonic_ms() + ms);
}

int
ev_timer_pending(const struct ev_timer *t)
{
	return (t->slot != SIZE_MAX);
}

void
ev_timer_free(struct ev_timer *t)
{
	if (t == NULL)
		return;
	ev_timer_stop(t);
	free(t);
}

static void
ev_wakeup_read(int fd, int revents, void *arg)
{
	struct ev_wakeup	*w = arg;
	uint64_t		 v;

	if (read(w->fd, &v, sizeof v) == -1 && errno != EAGAIN)
		log_warn("wakeup read: %s", strerror(errno));
	w->cb(w->arg);
}

struct ev_wakeup *
ev_wakeup_new(ev_cb cb, void *arg)
{
	struct ev_wakeup	*w;

	w = xcalloc(1, sizeof *w);
	if ((w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd: %s", strerror(errno));
	w->cb = cb;
	w->arg = arg;
	w->ev = ev_fd_add(w->fd, EV_READ, ev_wakeup_read, w);
	return (w);
}

void
ev_wakeup_signal(struct ev_wakeup *w)
{
	uint64_t	 one = 1;

	/* EAGAIN means the counter is saturated: a wake-up is pending. */
	if (write(w->fd, &one, sizeof one) == -1 && errno != EAGAIN)
		log_warn("wakeup write: %s", strerror(errno));
}

void
ev_wakeup_free(struct ev_wakeup *w)
{
	if (w == NULL)
		return;
	ev_fd_del(w->ev);
	close(w->fd);
	free(w);
}

static void
ev_signal_read(int fd, int revents, void *arg)
{
	struct signalfd_siginfo	 si;
	size_t			 i;

	while (read(ev_sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		for (i = 0; i < ev_nsigs; i++)
			if ((int)si.ssi_signo == ev_sigs[i].signo)
				ev_sigs[i].cb(ev_sigs[i].arg);
	}
}

int
ev_signal(int signo, ev_cb cb, void *arg)
{
	ev_init();
	if (ev_nsigs == nitems(ev_sigs))
		return (-1);
	ev_sigs[ev_nsigs].signo = signo;
	ev_sigs[ev_nsigs].cb = cb;
	ev_sigs[ev_nsigs].arg = arg;
	ev_nsigs++;
	sigaddset(&ev_sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &ev_sigmask, NULL) == -1)
		return (-1);
	if (ev_sigfd == -1) {
		ev_sigfd = signalfd(-1, &ev_sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (ev_sigfd == -1)
			return (-1);
		ev_sigev = ev_fd_add(ev_sigfd, EV_READ, ev_signal_read, NULL);
	} else if (signalfd(ev_sigfd, &ev_sigmask, 0) == -1)
		return (-1);
	return (0);
}

static void
ev_reap(void)
{
	struct ev_fd	*e;

	while ((e = ev_dead) != NULL) {
		ev_dead = e->next_dead;
		free(e);
	}
}

static void
ev_run_timers(void)
{
	struct ev_timer	*t;

	while (ev_nheap > 0 && ev_heap[0]->when <= ev_cached_now) {
		t = ev_heap[0];
		ev_timer_stop(t);
		t->cb(t->arg);
	}
}

void
ev_done(void)
{
	ev_fd_del(ev_sigev);
	ev_sigev = NULL;
	if (ev_sigfd != -1)
		close(ev_sigfd);
	ev_sigfd = -1;
	ev_nsigs = 0;
	ev_reap();
	free(ev_heap);
	ev_heap = NULL;
	ev_nheap = ev_heapcap = 0;
	if (ev_epfd != -1)
		close(ev_epfd);
	ev_epfd = -1;
}

int
ev_run(void)
{
	struct epoll_event	 evs[128];
	struct ev_fd		*e;
	int			 n, i, timeout, revents;

	ev_init();
	ev_stop = 0;
	while (!ev_stop) {
		ev_cached_now = now_monotonic_ms();
		ev_run_timers();
		if (ev_stop)
			break;
		timeout = -1;
		if (ev_nheap > 0) {
			ev_cached_now = now_monotonic_ms();
			timeout = ev_heap[0]->when <= ev_cached_now ? 0 :
			    (int)(ev_heap[0]->when - ev_cached_now);
		}
		n = epoll_wait(ev_epfd, evs, (int)nitems(evs), timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return (-1);
		}
		ev_cached_now = now_monotonic_ms();
		for (i = 0; i < n; i++) {
			e = evs[i].data.ptr;
			if (e->dead)
				continue;
			revents = 0;
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
				revents |= EV_READ;
			if (evs[i].events & EPOLLOUT)
				revents |= EV_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				revents |= EV_ERROR;
			e->cb(e->fd, revents, e->arg);
		}
		ev_reap();
	}
	return (0);
}
