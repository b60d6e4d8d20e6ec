#!/bin/bash
# relay_dsn_rate: dsn_rate caps bounces. Eight messages bounced (550) in
# a burst under dsn_rate = 3/1h: three DSNs go out, the other five
# originals stay queued as bounced with their DSN owed (never dropped,
# never sent over the cap), and `queue list` (show, --json) and mailq say
# they wait for dsn_rate and when the next may go. A restart starts a new window: three more go
# out, two still wait. The log says when the cap holds bounces back
# (once a window). Nothing is lost: the count of DSNs sent plus
# originals waiting stays eight.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up --reply-rcpt 'nobody@example.net=550 5.1.1 no such user'
hk_conf "dsn_rate = 3/1h" "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start
log=$T/log/hikyaku.log

N=8
for i in $(seq $N); do
	hk_swaks -f "s$i@example.org" --to nobody@example.net \
		--header "Message-Id: <dsnrate-$i@test>" >"$T/swaks-$i.log" 2>&1 ||
		fail "swaks $i: $(tail -5 "$T/swaks-$i.log")"
done

bounced() { grep -c 'to=<nobody@example\.net>.*status=bounced' "$log"; }
dsns_logged() { grep -c ': sender non-delivery notification: ' "$log"; }
# DSNs that reached the upstream (null envelope sender).
dsns_received() {
	$PY - "$T/up-up" <<'PYEOF'
import glob, json, sys
print(sum(1 for f in glob.glob(sys.argv[1] + "/*.json")
          if json.load(open(f))["mail_from"] == ""))
PYEOF
}
# Queued messages: "bounced" originals (DSN owed) and everything else.
queue_states() {
	hk_cli queue list --json | $PY -c '
import json, sys
waiting = other = 0
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m["sender"] and all(r["state"] == "bounced" for r in m["recipients"]):
        waiting += 1
    else:
        other += 1
print(waiting, other)
'
}

wait_for 60 eval '[ "$(bounced)" -ge $N ]' || fail "only $(bounced) of $N bounced"
wait_for 30 eval '[ "$(dsns_received)" -ge 3 ]' || fail "only $(dsns_received) DSNs arrived"
# The steady state: three DSNs delivered, five originals waiting.
wait_for 30 eval '[ "$(queue_states)" = "5 0" ]' ||
	fail "queue: want 5 originals waiting, nothing else; got $(queue_states): $(hk_cli queue list)"
# queue list says why they stay: the cap, when it lets the next one go,
# and the error that bounced them; queue show and the JSON say the same.
waiting_lines() {
	hk_cli queue list | grep -cE '  bounce waits for dsn_rate \(3/1h\), next in [0-9]+m: .*550 5\.1\.1 no such user'
}
wait_for 10 eval '[ "$(waiting_lines)" = 5 ]' ||
	fail "queue list does not say the bounces wait for dsn_rate: $(hk_cli queue list)"
hk_cli queue list --json | $PY -c '
import json, sys, time
now = time.time()
for line in sys.stdin:
    m = json.loads(line)
    assert m["state"] == "bounced", m
    assert m["dsn_wait_rate"] == "3/1h", m
    # The window began with the first DSN, at most an hour ago.
    assert now < m["dsn_wait_until"] <= now + 3600, m
' || fail "queue list --json: no dsn_wait_rate/dsn_wait_until: $(hk_cli queue list --json)"
# mailq names the same wait, as the reason line of the bounced
# recipient (Postfix style), for each of the five.
hk_sendmail -bp >"$T/mailq.txt" || fail "mailq: $(cat "$T/mailq.txt")"
assert_eq 5 "$(grep -cE '^ *\(bounce waits for dsn_rate \(3/1h\), next in [0-9]+m: .*550 5\.1\.1 no such user\)$' "$T/mailq.txt")" \
	"mailq reason lines naming the dsn_rate wait: $(cat "$T/mailq.txt")"
assert_eq 5 "$(grep -cE '^ {41}nobody@example\.net$' "$T/mailq.txt")" \
	"mailq recipients whose bounce waits: $(cat "$T/mailq.txt")"
qid=$(hk_cli queue list --json | $PY -c 'import json, sys; print(json.loads(sys.stdin.readline())["qid"])')
hk_cli queue show "$qid" >"$T/show.txt" || fail "queue show $qid"
assert_grep '^Bounce:    waits for dsn_rate \(3/1h\), next in [0-9]+m$' "$T/show.txt" "queue show $qid"
# A flush runs the queue again: the window is still full.
hk_cli queue flush >"$T/flush.log" 2>&1 || fail "queue flush: $(cat "$T/flush.log")"
wait_for 30 eval '[ "$(queue_states)" = "5 0" ]' ||
	fail "after a flush: $(queue_states): $(hk_cli queue list)"
hk_stop
assert_eq 3 "$(dsns_logged)" "DSNs queued in the first window"
# The cap says so, once per window, though every waiting bounce retries.
assert_eq 1 "$(grep -c 'warning: dsn_rate 3/1h reached: further bounces wait in the queue, the next in [0-9]' "$log")" \
	"dsn_rate warnings in the first window"
assert_eq 3 "$(dsns_received)" "DSNs received in the first window"

# A restart is a new window: three more, two still waiting.
hk_start
wait_for 30 eval '[ "$(dsns_received)" -ge 6 ]' ||
	fail "after a restart: $(dsns_received) DSNs in all"
wait_for 30 eval '[ "$(queue_states)" = "2 0" ]' ||
	fail "after a restart: want 2 waiting; got $(queue_states): $(hk_cli queue list)"
wait_for 10 eval '[ "$(waiting_lines)" = 2 ]' ||
	fail "after a restart, queue list does not say the bounces wait: $(hk_cli queue list)"
hk_stop
assert_eq 6 "$(dsns_logged)" "DSNs queued after the restart"
assert_eq 6 "$(dsns_received)" "DSNs received after the restart"
exit 0
