/*
 * event: the single-threaded event loop (epoll) every daemon part runs on.
 *
 * It owns descriptor readiness callbacks, one-shot timers on the monotonic
 * clock, and wake-ups from other threads (the sync thread of the queue).
 * Callbacks may add, change or delete any registration, including their
 * own; deleted registrations are freed only after the current dispatch.
 */
#ifndef HIKYAKU_EVENT_H
#define HIKYAKU_EVENT_H

#include <stdint.h>

#define EV_READ		0x1
#define EV_WRITE	0x2
#define EV_ERROR	0x4	/* reported only: hang-up or error on the fd */

struct ev_fd;
struct ev_timer;
struct ev_wakeup;

typedef void (*ev_fd_cb)(int fd, int revents, void *arg);
typedef void (*ev_cb)(void *arg);

void		 ev_init(void);
/* Release the loop's own resources (signals, heap) at exit. */
void		 ev_done(void);
/* Run until ev_break(); returns 0, or -1 if epoll fails. */
int		 ev_run(void);
void		 ev_break(void);
/* Monotonic milliseconds, cached at each loop turn. */
uint64_t	 ev_now(void);

struct ev_fd	*ev_fd_add(int fd, int events, ev_fd_cb, void *arg);
void		 ev_fd_set(struct ev_fd *, int events);
/* Unregister (does not close the fd). */
void		 ev_fd_del(struct ev_fd *);

struct ev_timer	*ev_timer_new(ev_cb, void *arg);
/* Fire once, ms milliseconds from now (re-arming moves it). */
void		 ev_timer_after(struct ev_timer *, uint64_t ms);
/* Fire once at monotonic time 'when' (ms). */
void		 ev_timer_at(struct ev_timer *, uint64_t when);
void		 ev_timer_stop(struct ev_timer *);
int		 ev_timer_pending(const struct ev_timer *);
void		 ev_timer_free(struct ev_timer *);

/*
 * A wake-up runs cb on the loop thread after ev_wakeup_signal() is called
 * from any thread (eventfd). Several signals before the loop runs fold into
 * one call.
 */
struct ev_wakeup *ev_wakeup_new(ev_cb, void *arg);
void		 ev_wakeup_signal(struct ev_wakeup *);
void		 ev_wakeup_free(struct ev_wakeup *);

/* Run cb for a signal on the loop (signalfd); the signal is blocked. */
int		 ev_signal(int signo, ev_cb, void *arg);

#endif
