#!/bin/bash
# server_hangup: clients that vanish while a reply is held back (the
# bad-RCPT throttle delays the answer to refused recipients, a failed AUTH
# the 535) must cost the daemon nothing: it keeps serving, and no
# sanitizer finds anything. A write to the dead socket closes the session
# from inside the timer that sends the held reply (core/smtp_server.c).
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up
# 127.0.0.2 is loopback but may not relay: its refused recipients count
# towards bad_rcpt_throttle (3 per session, then each reply waits 1 s).
hk_conf "bad_rcpt_throttle = 3/1s"
printf 'Connect:127.0.0.2 OK\n' >"$T/conf/access"
chmod 644 "$T/conf/access"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

timeout 60 "$PY" - "$HK_PORT" >"$T/hangup.log" 2>&1 <<'PYEOF' || fail "hang-up clients: $(cat "$T/hangup.log")"
import socket, sys, time
port = int(sys.argv[1])
for n in range(5):
    s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                 source_address=("127.0.0.2", 0))
    s.recv(1000)
    # Pipelined: the fourth refused RCPT is held back by the throttle,
    # and the client is gone before the held reply is written.
    s.sendall(b"EHLO hangup.test\r\nMAIL FROM:<a@example.org>\r\n" +
              b"".join(b"RCPT TO:<v%d@victim.example>\r\n" % i
                       for i in range(6)))
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()
print("done")
PYEOF
# Every session ends once its held reply fell due on the dead socket.
closed() { [ "$(grep -c 'disconnect from unknown\[127\.0\.0\.2\]' "$T/log/hikyaku.log")" -ge 5 ]; }
wait_for 30 closed || fail "sessions not closed: $(grep 127.0.0.2 "$T/log/hikyaku.log" | tail -n 5)"

# Still serving, and still delivering.
hk_swaks -f after@example.org -t rcpt@example.net --header "Subject: after" \
	>"$T/swaks.log" 2>&1 || fail "daemon stopped serving after the hang-ups: $(tail -n 5 "$T/swaks.log")"
wait_for 30 upstream_has up 1 || fail "upstream got $(upstream_count up) messages"
hk_stop
