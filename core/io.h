/*
 * io: a buffered, non-blocking connection, plain or TLS, on the event loop.
 *
 * Protocol code (SMTP server and client, control socket) never touches a
 * socket: it gets events through one callback and reads whole lines.
 * Output is buffered and flushed after the callback returns, so every reply
 * produced for a batch of pipelined input leaves in one write (TCP_NODELAY
 * is set on TCP sockets). TLS (GnuTLS) lives entirely below this interface:
 * io_start_tls() runs the handshake on the loop and reports IO_TLSREADY or
 * IO_ERROR; input buffered in plaintext before the handshake is discarded
 * (STARTTLS injection), see io_pending().
 */
#ifndef HIKYAKU_IO_H
#define HIKYAKU_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

struct io;

enum io_event {
	IO_CONNECTED,		/* io_connect() finished */
	IO_TLSREADY,		/* handshake done */
	IO_DATAIN,		/* new input: call io_getline()/io_read() */
	IO_LOWAT,		/* output that waited for the socket is all
				   written (not sent for output written at once) */
	IO_DISCONNECTED,	/* peer closed (EOF) */
	IO_TIMEOUT,		/* the deadline passed */
	IO_ERROR,		/* see io_error() */
};

typedef void (*io_cb)(struct io *, enum io_event, void *arg);

/* Wrap a connected (or connecting) socket; the io owns and closes fd. */
struct io	*io_new(int fd, io_cb, void *arg);
/* Close the connection and free (safe inside the callback). */
void		 io_free(struct io *);
int		 io_fd(const struct io *);

/*
 * Start a non-blocking connect to sa (optionally bound to src first);
 * IO_CONNECTED or IO_ERROR follows. Returns NULL with errno on immediate
 * failure.
 */
struct io	*io_connect(const struct sockaddr *sa, socklen_t salen,
		    const struct sockaddr *src, socklen_t srclen,
		    io_cb, void *arg);

/*
 * Line input. Lines end at LF; the returned line includes its terminator
 * ("...\r\n" or a bare "...\n"), so the caller can judge line endings.
 * Returns IO_LINE_OK and sets line and len (valid until the next io call),
 * IO_LINE_NONE if no complete line is buffered, or IO_LINE_TOOLONG once
 * for a line longer than the maximum: its bytes were discarded up to and
 * including its LF, so no part of it is ever returned as a line.
 */
enum io_line { IO_LINE_NONE, IO_LINE_OK, IO_LINE_TOOLONG };
enum io_line	 io_getline(struct io *, const char **line, size_t *len);
void		 io_set_maxline(struct io *, size_t);
/* Bytes of input buffered and not yet consumed. */
size_t		 io_pending(const struct io *);
/* Drop all buffered input. */
void		 io_drop_input(struct io *);
/* Stop/resume reading from the socket (input stays buffered). */
void		 io_pause(struct io *, int paused);

void		 io_write(struct io *, const void *, size_t);
void		 io_printf(struct io *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* Bytes of output not yet written. */
size_t		 io_queued(const struct io *);
/* Flush now (also done automatically after each callback). */
void		 io_flush(struct io *);
/*
 * Write n bytes now, even inside a callback, as far as the kernel takes
 * them, and buffer the rest: a producer of a long stream (the control
 * snapshot) lets its reader start while it still writes, without a copy
 * of what the kernel took. Reports nothing: an error waits for the next
 * flush.
 */
void		 io_push(struct io *, const void *, size_t);

/* Absolute monotonic deadline in ms (0 = none): IO_TIMEOUT when passed. */
void		 io_set_deadline(struct io *, uint64_t when);

/*
 * Take over a GnuTLS session (configured by the caller: credentials,
 * priorities, server name) and run the handshake. The io deinits it.
 */
void		 io_start_tls(struct io *, gnutls_session_t);
gnutls_session_t io_tls(const struct io *);
/* Last error in words ("connection refused", a GnuTLS message, ...). */
const char	*io_error(const struct io *);
/* The GnuTLS error a failed handshake ended with; 0 when none failed. */
int		 io_tls_error(const struct io *);

/* Peer and local addresses, as "1.2.3.4" / "::1" and port. */
const char	*io_peer_addr(const struct io *);
int		 io_peer_port(const struct io *);

#endif
