/*
 * bounce: build RFC 3464 delivery status notifications.
 *
 * Pure text assembly: the scheduler decides who bounces and when (never
 * to a null sender; double bounces go to adminaddr/postmaster through
 * to_override) and queues the result like any other message. A DSN is
 * multipart/report with a plain explanation, message/delivery-status
 * and the original headers only (text/rfc822-headers), so bounces stay
 * small. Lines end in CRLF, as queued messages do.
 */
#ifndef HIKYAKU_BOUNCE_H
#define HIKYAKU_BOUNCE_H

#include <stddef.h>

#include "util.h"

struct config;
struct envelope;

/*
 * A recipient that ran out of queue_lifetime: the scheduler bounces it
 * with RFC 3463's "delivery time expired" as its status and its last
 * error after BOUNCE_EXPIRED_PREFIX as its words. The report says the
 * same in a sentence of its own, so it drops the prefix.
 */
#define BOUNCE_EXPIRED_STATUS	"4.4.7"
#define BOUNCE_EXPIRED_PREFIX	"message too old (queue_lifetime): last error: "

/*
 * Append the whole DSN message to out. failed_idx names the recipients
 * (indexes into env's recipients) the report is about. msg_fd is the
 * original message, read with pread from offset 0 (its headers are
 * copied). delay_warning: 0 for "failed", 1 for a "delayed" warning.
 * to_override: NULL to address the sender; otherwise the DSN goes there
 * (double bounce) and the text names the original sender.
 * Returns 0, or -1 with *err allocated (msg_fd unreadable, no recipient).
 */
int	 bounce_build(struct buf *out, const struct config *cfg,
	    const struct envelope *env, const size_t *failed_idx,
	    size_t nfailed, int msg_fd, int delay_warning,
	    const char *to_override, char **err);

/*
 * The RFC 3463 status for a reply: its enhanced code when it carries
 * one ("550 5.1.1 ..." -> "5.1.1"), else derived from the basic code
 * (5xx -> 5.0.0, 4xx -> 4.0.0), else fallback. Writes into st (>= 16).
 */
void	 bounce_status_of(const char *reply, const char *fallback, char *st,
	    size_t stlen);

#endif
