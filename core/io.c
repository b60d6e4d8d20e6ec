/*
 * io: a buffered, non-blocking connection, plain or TLS, on the event loop.
 *
 * Input is read into one buffer; consumed lines advance an offset and the
 * buffer is compacted lazily. An overlong line switches the io into a
 * discarding mode until its LF, so nothing of it can later surface as a
 * command. Reading stops while paused or while too much unconsumed input
 * is buffered; resuming arms a zero-delay "kick" so input already inside
 * GnuTLS's own buffer (which epoll cannot see) is not stranded.
 *
 * Output that had to wait for the socket owes its owner an IO_LOWAT when
 * it is all written, whoever wrote it: the dispatcher on EV_WRITE or a
 * flush (the kick delivers it then), since owners that pause until their
 * output drains would otherwise wait forever.
 *
 * Callbacks may free the io: io_free() inside a callback only marks it,
 * and the dispatcher finishes the job after the callback returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "event.h"
#include "io.h"
#include "log.h"
#include "util.h"

#define IO_READ_CHUNK	16384
#define IO_INPUT_CAP	(256 * 1024)	/* stop reading past this much */
#define IO_OUTPUT_KEEP	(256 * 1024)	/* output buffer kept when empty */
#define IO_DEFAULT_MAXLINE 4096

enum io_tls_state { IO_TLS_NONE, IO_TLS_HANDSHAKE, IO_TLS_UP };

struct io {
	int			 fd;
	struct ev_fd		*ev;
	io_cb			 cb;
	void			*arg;

	struct buf		 in;
	size_t			 in_off;	/* consumed bytes */
	size_t			 scan_off;	/* no LF before this */
	size_t			 maxline;
	int			 discarding;	/* inside an overlong line */
	int			 paused;
	int			 eof;

	struct buf		 out;
	size_t			 out_off;
	size_t			 tls_send_len;	/* length of an EAGAIN'd send */
	int			 waited;	/* output left for EV_WRITE: IO_LOWAT
						   owed once it is all written */

	int			 connecting;
	enum io_tls_state	 tls_state;
	gnutls_session_t	 tls;

	uint64_t		 deadline;
	struct ev_timer		*deadline_timer;
	struct ev_timer		*kick_timer;

	int			 in_cb;
	int			 freed;
	int			 closed;	/* error/eof reported */
	char			 err[256];
	int			 tls_err;	/* GnuTLS code of a failed handshake */
	char			 peer[INET6_ADDRSTRLEN];
	int			 peer_port;
};

static void	io_dispatch(int, int, void *);
static void	io_update_interest(struct io *);
static void	io_fire(struct io *, enum io_event);

static void
io_set_error(struct io *io, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(io->err, sizeof io->err, fmt, ap);
	va_end(ap);
}

static void
io_destroy(struct io *io)
{
	ev_fd_del(io->ev);
	ev_timer_free(io->deadline_timer);
	ev_timer_free(io->kick_timer);
	if (io->tls != NULL)
		gnutls_deinit(io->tls);
	if (io->fd != -1)
		close(io->fd);
	buf_free(&io->in);
	buf_free(&io->out);
	free(io);
}

void
io_free(struct io *io)
{
	if (io == NULL)
		return;
	if (io->in_cb > 0) {
		io->freed = 1;
		return;
	}
	io_destroy(io);
}

/* Call the owner; returns 0 if the io was freed meanwhile. */
static int
io_call(struct io *io, enum io_event evt)
{
	io->in_cb++;
	io->cb(io, evt, io->arg);
	io->in_cb--;
	if (io->freed) {
		if (io->in_cb == 0)
			io_destroy(io);
		return (0);
	}
	if (io->in_cb == 0) {
		/* A failing flush fires IO_ERROR, whose handler may free. */
		io->in_cb++;
		io_flush(io);
		io->in_cb--;
		if (io->freed) {
			io_destroy(io);
			return (0);
		}
	}
	return (1);
}

static void
io_fire(struct io *io, enum io_event evt)
{
	if (evt == IO_ERROR || evt == IO_DISCONNECTED || evt == IO_TIMEOUT) {
		if (io->closed)
			return;
		io->closed = 1;
		ev_fd_set(io->ev, 0);
	}
	io_call(io, evt);
}

static void
io_deadline_cb(void *arg)
{
	struct io	*io = arg;

	io_set_error(io, "timed out");
	io_fire(io, IO_TIMEOUT);
}

static void
io_kick_cb(void *arg)
{
	struct io	*io = arg;

	io_dispatch(-1, io->waited && io_queued(io) == 0 ?
	    EV_READ | EV_WRITE : EV_READ, io);
}

static void
io_note_peer(struct io *io)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;
	struct sockaddr_in6	*s6;
	struct sockaddr_in	*s4;

	io->peer[0] = '\0';
	if (getpeername(io->fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET) {
		s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, io->peer, sizeof io->peer);
		io->peer_port = ntohs(s4->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		s6 = (struct sockaddr_in6 *)&ss;
		/* ::ffff:a.b.c.d is judged as a.b.c.d everywhere. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12],
			    io->peer, sizeof io->peer);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, io->peer,
			    sizeof io->peer);
		io->peer_port = ntohs(s6->sin6_port);
	} else if (ss.ss_family == AF_UNIX)
		snprintf(io->peer, sizeof io->peer, "local");
}

static struct io *
io_alloc(int fd, io_cb cb, void *arg)
{
	struct io	*io;
	int		 one = 1;

	io = xcalloc(1, sizeof *io);
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	io->maxline = IO_DEFAULT_MAXLINE;
	buf_init(&io->in);
	buf_init(&io->out);
	set_nonblock(fd);
	set_cloexec(fd);
	/* Replies must not wait for Nagle (ENOTSUP on unix sockets is fine). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	io->deadline_timer = ev_timer_new(io_deadline_cb, io);
	io->kick_timer = ev_timer_new(io_kick_cb, io);
	io->ev = ev_fd_add(fd, EV_READ, io_dispatch, io);
	return (io);
}

struct io *
io_new(int fd, io_cb cb, void *arg)
{
	struct io	*io;

	io = io_alloc(fd, cb, arg);
	io_note_peer(io);
	return (io);
}

struct io *
io_connect(const struct sockaddr *sa, socklen_t salen,
    const struct sockaddr *src, socklen_t srclen, io_cb cb, void *arg)
{
	struct io	*io;
	int		 fd, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return (NULL);
	if (src != NULL && bind(fd, src, srclen) == -1)
		goto fail;
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS)
		goto fail;
	io = io_alloc(fd, cb, arg);
	io->connecting = 1;
	ev_fd_set(io->ev, EV_WRITE);
	return (io);
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (NULL);
}

int
io_fd(const struct io *io)
{
	return (io->fd);
}

void
io_set_maxline(struct io *io, size_t n)
{
	io->maxline = n;
}

size_t
io_pending(const struct io *io)
{
	return (io->in.len - io->in_off);
}

void
io_drop_input(struct io *io)
{
	buf_reset(&io->in);
	io->in_off = io->scan_off = 0;
	io->discarding = 0;
}

static void
io_compact(struct io *io)
{
	if (io->in_off == 0)
		return;
	buf_consume(&io->in, io->in_off);
	io->scan_off -= io->in_off;
	io->in_off = 0;
}

enum io_line
io_getline(struct io *io, const char **line, size_t *len)
{
	char	*start, *lf;
	size_t	 avail;

	for (;;) {
		start = io->in.data + io->in_off;
		avail = io->in.len - io->in_off;
		if (avail == 0)
			return (IO_LINE_NONE);
		lf = memchr(io->in.data + io->scan_off, '\n',
		    io->in.len - io->scan_off);
		if (io->discarding) {
			if (lf == NULL) {
				io_drop_input(io);
				io->discarding = 1;
				return (IO_LINE_NONE);
			}
			io->in_off = io->scan_off = (size_t)(lf - io->in.data) + 1;
			io->discarding = 0;
			return (IO_LINE_TOOLONG);
		}
		if (lf == NULL) {
			io->scan_off = io->in.len;
			if (avail > io->maxline) {
				io->discarding = 1;
				continue;
			}
			return (IO_LINE_NONE);
		}
		if ((size_t)(lf - start) + 1 > io->maxline + 2) {
			io->in_off = io->scan_off = (size_t)(lf - io->in.data) + 1;
			return (IO_LINE_TOOLONG);
		}
		*line = start;
		*len = (size_t)(lf - start) + 1;
		io->in_off += *len;
		io->scan_off = io->in_off;
		return (IO_LINE_OK);
	}
}

void
io_pause(struct io *io, int paused)
{
	if (io->paused == paused)
		return;
	io->paused = paused;
	if (!paused && !io->closed)
		ev_timer_after(io->kick_timer, 0);
	io_update_interest(io);
}

static void
io_write_buffered(struct io *io, const void *p, size_t n)
{
	/* Output sent in part is dropped before the buffer would grow, so a
	 * long stream to a slow reader does not drag its sent prefix along. */
	if (io->out_off > 0 && io->out.len + n >= io->out.cap) {
		buf_consume(&io->out, io->out_off);
		io->out_off = 0;
	}
	buf_add(&io->out, p, n);
}

void
io_write(struct io *io, const void *p, size_t n)
{
	io_write_buffered(io, p, n);
	if (io->in_cb == 0)
		io_flush(io);
}

void
io_printf(struct io *io, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(&io->out, fmt, ap);
	va_end(ap);
	if (io->in_cb == 0)
		io_flush(io);
}

size_t
io_queued(const struct io *io)
{
	return (io->out.len - io->out_off);
}

static void
io_update_interest(struct io *io)
{
	int	 want = 0;

	if (io->closed || io->freed)
		return;
	if (io->connecting)
		want = EV_WRITE;
	else if (io->tls_state == IO_TLS_HANDSHAKE)
		want = gnutls_record_get_direction(io->tls) ? EV_WRITE : EV_READ;
	else {
		if (!io->paused && !io->eof && io_pending(io) < IO_INPUT_CAP)
			want |= EV_READ;
		if (io_queued(io) > 0)
			want |= EV_WRITE;
	}
	ev_fd_set(io->ev, want);
}

/* Write what we can; -1 on a fatal error (reported by the caller). */
static int
io_send(struct io *io)
{
	ssize_t	 n;
	size_t	 len;

	while (io_queued(io) > 0) {
		len = io_queued(io);
		if (io->tls_state == IO_TLS_UP) {
			/* GnuTLS wants the same length again after EAGAIN. */
			if (io->tls_send_len != 0)
				len = io->tls_send_len;
			n = gnutls_record_send(io->tls,
			    io->out.data + io->out_off, len);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				io->tls_send_len = len;
				io->waited = 1;
				return (0);
			}
			io->tls_send_len = 0;
			if (n < 0) {
				io_set_error(io, "TLS write: %s",
				    gnutls_strerror((int)n));
				return (-1);
			}
		} else {
			n = send(io->fd, io->out.data + io->out_off, len,
			    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR) {
					io->waited = 1;
					return (0);
				}
				io_set_error(io, "write: %s", strerror(errno));
				return (-1);
			}
		}
		io->out_off += (size_t)n;
	}
	/* A burst (a queue snapshot to a slow reader) does not keep its
	 * megabytes for the life of the connection. */
	if (io->out.cap > IO_OUTPUT_KEEP)
		buf_free(&io->out);
	else
		buf_reset(&io->out);
	io->out_off = 0;
	return (0);
}

/* Output that waited was written outside the dispatcher: the kick owes
 * IO_LOWAT. */
static void
io_owe_lowat(struct io *io)
{
	if (io->waited && io_queued(io) == 0)
		ev_timer_after(io->kick_timer, 0);
}

void
io_flush(struct io *io)
{
	if (io->closed || io->freed || io->connecting ||
	    io->tls_state == IO_TLS_HANDSHAKE)
		return;
	if (io_send(io) == -1) {
		io_fire(io, IO_ERROR);
		return;
	}
	io_owe_lowat(io);
	io_update_interest(io);
}

void
io_push(struct io *io, const void *p, size_t n)
{
	ssize_t	 sent;

	if (io->closed || io->freed || io->connecting ||
	    io->tls_state == IO_TLS_HANDSHAKE)
		return;
	/* Plain and nothing waiting: straight from the caller's buffer, so
	 * only what the kernel refuses is copied. */
	if (io->tls_state != IO_TLS_UP && io_queued(io) == 0) {
		sent = send(io->fd, p, n, MSG_NOSIGNAL);
		if (sent > 0) {
			p = (const char *)p + sent;
			n -= (size_t)sent;
		}
		if (n > 0) {
			io_write_buffered(io, p, n);
			io->waited = 1;
		}
		io_update_interest(io);
		return;
	}
	io_write_buffered(io, p, n);
	/* A failure is kept in io_error() and met again by the next flush,
	 * which reports it outside the producer's loop. */
	if (io_send(io) == 0)
		io_owe_lowat(io);
	io_update_interest(io);
}

/* Read into the input buffer; returns -1 on error, 0 otherwise. */
static int
io_recv(struct io *io)
{
	ssize_t	 n;
	int	 rounds = 0;

	while (!io->eof && io_pending(io) < IO_INPUT_CAP && rounds++ < 16) {
		if (io->in_off > 0 && io->in_off == io->in.len)
			io_drop_input(io);
		else if (io->in_off > 65536)
			io_compact(io);
		buf_reserve(&io->in, IO_READ_CHUNK);
		if (io->tls_state == IO_TLS_UP) {
			n = gnutls_record_recv(io->tls, io->in.data + io->in.len,
			    IO_READ_CHUNK);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				break;
			if (n == GNUTLS_E_REHANDSHAKE)
				continue;
			if (n == GNUTLS_E_PREMATURE_TERMINATION) {
				io->eof = 1;
				break;
			}
			if (n < 0) {
				io_set_error(io, "TLS read: %s",
				    gnutls_strerror((int)n));
				return (-1);
			}
		} else {
			n = recv(io->fd, io->in.data + io->in.len,
			    IO_READ_CHUNK, 0);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				io_set_error(io, "read: %s", strerror(errno));
				return (-1);
			}
		}
		if (n == 0) {
			io->eof = 1;
			break;
		}
		io->in.len += (size_t)n;
		io->in.data[io->in.len] = '\0';
		if (io->tls_state != IO_TLS_UP && (size_t)n < IO_READ_CHUNK)
			break;
		if (io->tls_state == IO_TLS_UP &&
		    gnutls_record_check_pending(io->tls) == 0 &&
		    (size_t)n < IO_READ_CHUNK)
			break;
	}
	return (0);
}

static void
io_handshake(struct io *io)
{
	int	 rc;

	rc = gnutls_handshake(io->tls);
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		io_update_interest(io);
		return;
	}
	if (rc < 0) {
		io->tls_err = rc;
		io_set_error(io, "TLS handshake: %s", gnutls_strerror(rc));
		io_fire(io, IO_ERROR);
		return;
	}
	io->tls_state = IO_TLS_UP;
	io_update_interest(io);
	if (!io_call(io, IO_TLSREADY))
		return;
	/* The peer may have sent data along with its last flight. */
	if (!io->closed && gnutls_record_check_pending(io->tls) > 0)
		ev_timer_after(io->kick_timer, 0);
}

static void
io_dispatch(int fd, int revents, void *arg)
{
	struct io	*io = arg;
	int		 err = 0;
	socklen_t	 len = sizeof err;
	size_t		 before;

	if (io->closed || io->freed)
		return;
	if (io->connecting) {
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == 0 && !(revents & (EV_WRITE | EV_ERROR)))
			return;
		io->connecting = 0;
		if (err != 0) {
			io_set_error(io, "connect: %s", strerror(err));
			io_fire(io, IO_ERROR);
			return;
		}
		io_note_peer(io);
		io_update_interest(io);
		if (!io_call(io, IO_CONNECTED))
			return;
		return;
	}
	if (io->tls_state == IO_TLS_HANDSHAKE) {
		io_handshake(io);
		return;
	}
	if (revents & EV_WRITE) {
		if (io_send(io) == -1) {
			io_fire(io, IO_ERROR);
			return;
		}
		if (io_queued(io) == 0) {
			io->waited = 0;
			if (!io_call(io, IO_LOWAT))
				return;
		}
		if (io->closed)
			return;
	}
	if ((revents & (EV_READ | EV_ERROR)) && !io->paused) {
		before = io_pending(io);
		if (io_recv(io) == -1) {
			io_fire(io, IO_ERROR);
			return;
		}
		if (io_pending(io) > before || (before > 0 && fd == -1)) {
			if (!io_call(io, IO_DATAIN))
				return;
		}
		if (io->closed)
			return;
		if (io->eof && !io->paused) {
			io_set_error(io, "connection closed by peer");
			io_fire(io, IO_DISCONNECTED);
			return;
		}
	}
	io_update_interest(io);
}

void
io_set_deadline(struct io *io, uint64_t when)
{
	io->deadline = when;
	if (when == 0)
		ev_timer_stop(io->deadline_timer);
	else
		ev_timer_at(io->deadline_timer, when);
}

void
io_start_tls(struct io *io, gnutls_session_t session)
{
	/* Plaintext sent before the handshake must never be read as TLS data
	 * (STARTTLS command injection). */
	io_drop_input(io);
	io->tls = session;
	gnutls_transport_set_int(session, io->fd);
	io->tls_state = IO_TLS_HANDSHAKE;
	io_handshake(io);
}

gnutls_session_t
io_tls(const struct io *io)
{
	return (io->tls_state == IO_TLS_UP ? io->tls : NULL);
}

const char *
io_error(const struct io *io)
{
	return (io->err[0] != '\0' ? io->err : "no error");
}

int
io_tls_error(const struct io *io)
{
	return (io->tls_err);
}

const char *
io_peer_addr(const struct io *io)
{
	return (io->peer);
}

int
io_peer_port(const struct io *io)
{
	return (io->peer_port);
}
