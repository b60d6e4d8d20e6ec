#!/bin/bash
# relay_pace: the two limits on time of delivery to a remote.
#  1. sendtimeout: an upstream that answers every command in time (1 s a
#     reply, command_timeout 3 s) but takes longer than sendtimeout (4 s)
#     for the whole attempt is cut off at sendtimeout; the recipient is
#     deferred with an error naming sendtimeout, and nothing arrives.
#  2. remote_rate = 60/1m: six messages queued at once are spread out (one
#     a second: the first and the last arrive at least ~4 s apart), none is
#     deferred, and the log says once that the limit holds mail back.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

# 1. sendtimeout against a trickling upstream.
upstream_start slow --reply-delay 1
hk_conf "pausetime = 1h" "command_timeout = 3" "sendtimeout = 4"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_slow"
hk_start
hk_swaks -f sender@example.org -t rcpt@example.net \
	--header "Message-Id: <trickle@test>" >"$T/swaks.log" 2>&1 ||
	fail "swaks failed: $(tail -n 5 "$T/swaks.log")"
deferred() { hk_queue_first | grep -qx 'state=deferred'; }
wait_for 30 deferred || fail "message not deferred: $(hk_cli queue list --json)"
hk_queue_first >"$T/first.txt"
assert_grep '^last_error=sendtimeout \(4s\) expired' "$T/first.txt" "the deferral's error"
assert_grep 'warning: [0-9A-F]+: sendtimeout \(4s\) expired in state [A-Z]+: delivery attempt to 127.0.0.1:[0-9]+ cut off' \
	"$T/log/hikyaku.log" "daemon log (the cut-off)"
assert_grep 'to=<rcpt@example.net>, .*status=deferred \(sendtimeout \(4s\) expired' \
	"$T/log/hikyaku.log" "daemon log (the deferral)"
# The per-command deadline (3 s) never fired: each reply came in 1 s.
assert_no_grep 'timed out|timeout waiting' "$T/log/hikyaku.log" "daemon log (a per-command timeout)"
assert_eq 0 "$(upstream_count slow)" "messages the trickling upstream stored"
qid=$(sed -n 's/^qid=//p' "$T/first.txt")
# Cut off no sooner than sendtimeout after the connection began.
"$PY" - "$T/log/upstream-slow.log" "$T/log/hikyaku.log" <<'PYEOF' || fail "cut off before sendtimeout"
import datetime, re, sys
up = open(sys.argv[1]).read()
start = re.search(r"^(\S+ \S+) upstream INFO connection 1$", up, re.M).group(1)
start = datetime.datetime.strptime(start, "%Y-%m-%d %H:%M:%S,%f")
cut = re.search(r"^(\S+) \S+ warning: \S+ sendtimeout", open(sys.argv[2]).read(), re.M).group(1)
cut = datetime.datetime.strptime(cut, "%Y-%m-%dT%H:%M:%S.%f")
took = (cut - start).total_seconds()
print("cut off %.2f s after the connection began" % took, file=sys.stderr)
sys.exit(0 if took >= 3.5 else 1)
PYEOF
hk_cli queue delete "$qid" >/dev/null || fail "queue delete $qid"
hk_stop || fail "daemon stop"
upstream_stop slow
mv "$T/log/hikyaku.log" "$T/log/hikyaku-sendtimeout.log"

# 2. remote_rate spreads a burst.
upstream_start up
hk_conf "pausetime = 1h" "remote_rate = 60/1m"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start
hk_stop || fail "daemon stop"
for i in 1 2 3 4 5 6; do
	hk_message "rate-$i@test" "rate $i" |
		hk_sendmail -i -f sender@example.org "rcpt$i@example.net" >"$T/sendmail.log" 2>&1 ||
		fail "hikyaku-sendmail failed: $(cat "$T/sendmail.log")"
done
hk_start
wait_for 60 upstream_has up 6 || fail "only $(upstream_count up) of 6 delivered: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
"$PY" - "$T/log/upstream-up.log" <<'PYEOF' || fail "remote_rate did not spread the burst"
import datetime, re, sys
times = [datetime.datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f") for m in
         re.findall(r"^(\S+ \S+) upstream INFO message ", open(sys.argv[1]).read(), re.M)]
assert len(times) == 6, times
span = (max(times) - min(times)).total_seconds()
print("6 messages at 60/1m arrived over %.2f s" % span, file=sys.stderr)
# One a second: five gaps. Loose: no upper bound, a second of slack.
sys.exit(0 if span >= 4 else 1)
PYEOF
assert_no_grep 'status=deferred' "$T/log/hikyaku.log" "daemon log (a message waiting for the rate was deferred)"
n=$(grep -c 'remote_rate 60/1m holds mail back' "$T/log/hikyaku.log")
assert_eq 1 "$n" "log lines saying remote_rate holds mail back"
hk_stop || fail "daemon stop"
