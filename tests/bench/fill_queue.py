#!/usr/bin/python3
"""fill_queue.py: write N queued messages straight into a spool.

    tests/bench/fill_queue.py SPOOL N [--held PERCENT]

Each message is a pair SPOOL/queue/ID.msg + ID.env in the queue file
format of core/envelope.h (version 1): one sender, one or two deferred
recipients with an attempt, a next try an hour or more ahead, the last
error and its history, so a daemon started on the spool recovers them as
deferred mail and leaves them alone. --held puts that share on hold.

Queue IDs follow core/envelope.h: 13 hex digits of microseconds since
the epoch and 4 of a process number, increasing, so they sort by arrival
(arrivals are spread over the last two days). The files are written with
no fsync: this is for benchmarks and demos, not for real mail. Run it
while the daemon is stopped (it reads the spool only at start).
"""
import os
import sys
import time

MSG = ("Received: from bench.example (bench.example [192.0.2.1])\r\n"
       "\tby relay.test (hikyaku) with ESMTP id {qid}\r\n"
       "From: sender{n}@example.org\r\n"
       "To: rcpt{n}@example.net\r\n"
       "Subject: benchmark message {n}\r\n"
       "Message-ID: <{qid}@bench.example>\r\n"
       "\r\n"
       "Body of benchmark message {n}.\r\n")

ERRORS = [
    "cannot connect to 192.0.2.7 port 25: Connection refused",
    "host mx.example.net[198.51.100.7] said: 451 4.7.1 Greylisted, "
    "please try again later",
    "TLS handshake with smtp.example.org[203.0.113.5]:587 failed: "
    "the certificate has expired",
]


def main():
    args = sys.argv[1:]
    held = 0
    if "--held" in args:
        i = args.index("--held")
        held = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    spool, n = args[0], int(args[1])
    qdir = os.path.join(spool, "queue")
    os.makedirs(qdir, exist_ok=True)
    now = int(time.time())
    start_us = (now - 2 * 86400) * 1000000
    step = (2 * 86400 * 1000000) // max(n, 1)
    for k in range(n):
        us = start_us + k * step
        qid = "%013X%04X" % (us, 0xBE)
        arrival = us // 1000000
        msg = MSG.format(qid=qid, n=k).encode()
        err = ERRORS[k % len(ERRORS)]
        rcpts = ["rcpt%d@example.net" % k]
        if k % 7 == 0:
            rcpts.append("other%d@example.com" % k)
        lines = [
            "hikyaku-envelope 1",
            "id: " + qid,
            "sender: sender%d@example.org" % k,
            "arrival: %d" % arrival,
            "size: %d" % len(msg),
            "held: %d" % (1 if held and k % 100 < held else 0),
            "smtputf8: 0",
            "body-8bit: 0",
            "client: bench.example[192.0.2.1]",
            "helo: bench.example",
            "origin-uid: -1",
            "dsn-sent: 0",
        ]
        for r in rcpts:
            lines += [
                "rcpt: " + r,
                "state: deferred",
                "attempts: %d" % (1 + k % 5),
                "next-try: %d" % (now + 3600 + k % 86400),
                "last-error: " + err,
                "dsn-status: 4.4.1",
                "history: %d %s" % (arrival, err),
            ]
        lines.append("end")
        with open(os.path.join(qdir, qid + ".msg"), "wb") as f:
            f.write(msg)
        with open(os.path.join(qdir, qid + ".env"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print("wrote %d messages to %s" % (n, qdir))


if __name__ == "__main__":
    main()
