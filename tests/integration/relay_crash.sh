#!/bin/bash
# relay_crash: SIGKILL hikyakud in the middle of a load of several hundred
# messages from parallel SMTP clients, restart it, and check that every
# message that got a 250 after DATA reaches the upstream (duplicates are
# allowed: delivery is at least once). Clients record the Message-ID of each
# acknowledged message before sending the next.
. "$(dirname "$0")/lib.sh"

CLIENTS=${CRASH_CLIENTS:-6}
PER_CLIENT=${CRASH_PER_CLIENT:-80}
KILL_AFTER=${CRASH_KILL_AFTER:-150}	# acknowledged messages before the kill

upstream_start up
hk_conf "pausetime = 1s" "maxpause = 2s"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

cat >"$T/load.py" <<'PYEOF'
import smtplib, sys, time
port, client, count, ackfile = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ack = open(ackfile, "a", buffering=1)
sent = 0
s = None
while sent < count:
    mid = "crash-%s-%d@test" % (client, sent)
    msg = ("From: c%s@example.org\r\nTo: r@example.net\r\nSubject: load\r\n"
           "Message-ID: <%s>\r\n\r\n%s\r\n" % (client, mid, "x" * 700)).encode()
    try:
        if s is None:
            s = smtplib.SMTP("127.0.0.1", port, "load.test", timeout=20)
        s.sendmail("c%s@example.org" % client, ["r@example.net"], msg)
    except (OSError, smtplib.SMTPException) as e:
        # The daemon died under us: this message was not acknowledged.
        print("client %s: %s after %d" % (client, e, sent), flush=True)
        break
    ack.write(mid + "\n")   # only after the 250
    sent += 1
    if sent % 10 == 0:      # new sessions now and then, as real clients
        s.quit()
        s = None
PYEOF

pids=()
for c in $(seq "$CLIENTS"); do
	hk_bg "load-$c" "$PY" "$T/load.py" "$HK_PORT" "$c" "$PER_CLIENT" "$T/acked-$c"
	pids+=("$HK_BG_PID")
done
acked() { cat "$T"/acked-* 2>/dev/null | wc -l; }
acked_at_least() { [ "$(acked)" -ge "$1" ]; }
wait_for 120 acked_at_least "$KILL_AFTER" || fail "only $(acked) messages acknowledged"
hk_kill
hk_log "killed the daemon after $(acked) acknowledgements"
for p in "${pids[@]}"; do
	wait_for 60 eval "! kill -0 $p" || fail "a load client hangs"
done
total=$(acked)
hk_log "$total messages acknowledged in all"

hk_start
# Every acknowledged Message-ID must arrive.
missing() {
	cat "$T"/acked-* | sort -u >"$T/want"
	cat "$T"/up-up/*.eml 2>/dev/null | sed -n 's/^Message-ID: <\(.*\)>\r\{0,1\}$/\1/p' |
		sort -u >"$T/got"
	comm -23 "$T/want" "$T/got" >"$T/missing"
	[ ! -s "$T/missing" ]
}
wait_for 120 missing || fail "$(wc -l <"$T/missing") of $total acknowledged messages never arrived, e.g. $(head -n 3 "$T/missing" | tr '\n' ' ')"
wait_for 60 hk_queue_empty || fail "queue not empty after recovery: $(hk_cli queue list | head)"
dups=$(($(cat "$T"/up-up/*.eml | grep -c '^Message-ID:') - $(wc -l <"$T/got")))
hk_log "all $total acknowledged messages delivered ($dups duplicates)"
hk_stop || fail "daemon stop"
