#!/bin/bash
# relay_sched: the scheduler's connections to one remote.
#  1. Twenty messages queued while the daemon is down go out over fewer
#     connections than messages (several messages share one connection).
#  2. max_connections_per_remote = 2 with a slow upstream: it never sees
#     more than two connections at once, and does see two.
#  3. A sender rewritten by generics: the daemon logs the generics line
#     (sender_rule=generics:N) with the tracer's words, and the upstream
#     gets the rewritten sender.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up
hk_conf "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
# A first start creates the spool tree; then queue while the daemon is down.
hk_start
hk_stop || fail "daemon stop"

inject() { # COUNT TAG: messages through the drop directory
	local i
	for i in $(seq "$1"); do
		hk_message "$2-$i@test" "$2 $i" |
			hk_sendmail -i -f sender@example.org "rcpt$i@example.net" \
				>"$T/sendmail.log" 2>&1 ||
			fail "hikyaku-sendmail failed: $(cat "$T/sendmail.log")"
	done
}

connections() { grep -Ec 'upstream INFO connection [0-9]+$' "$T/log/upstream-$1.log"; }

# 1. Connection reuse at daemon level.
inject 20 share
hk_start
wait_for 60 upstream_has up 20 || fail "only $(upstream_count up) of 20 delivered: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
n=$(connections up)
hk_log "20 messages over $n connections"
[ "$n" -lt 20 ] || fail "20 messages took $n connections: no connection carried two messages"
hk_stop || fail "daemon stop"

# 2. The bound on parallel connections, against a slow upstream.
upstream_stop up
HK_UP_PORT=$UP_PORT_up upstream_start up --data-delay 0.4
rm -f "$T"/up-up/*.eml "$T"/up-up/*.json
hk_conf "pausetime = 1h" "max_connections_per_remote = 2"
inject 10 bound
hk_start
wait_for 60 upstream_has up 10 || fail "only $(upstream_count up) of 10 delivered: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
most=$(sed -n 's/.*upstream INFO open \([0-9]*\)$/\1/p' "$T/log/upstream-up.log" | sort -n | tail -n 1)
hk_log "at most $most connections at once (max_connections_per_remote = 2)"
[ -n "$most" ] || fail "upstream log has no 'open N' lines"
[ "$most" -le 2 ] || fail "the upstream saw $most connections at once; max_connections_per_remote is 2"
assert_eq 2 "$most" "parallel connections to a slow remote with 10 messages waiting"
hk_stop || fail "daemon stop"

# 3. The generics line behind a rewritten sender is in the delivery log.
printf '# leaving mail\nsender@example.org   rewritten@example.com\n' >"$T/conf/generics"
chmod 644 "$T/conf/generics"
hk_start
hk_swaks -f sender@example.org -t rcpt@example.net \
	--header "Message-Id: <generics@test>" >"$T/swaks.log" 2>&1 ||
	fail "swaks failed: $(tail -n 5 "$T/swaks.log")"
wait_for 30 upstream_has up 11 || fail "not delivered: $(hk_cli queue list)"
f=$(grep -l 'generics@test' "$T"/up-up/*.eml) || fail "the message did not arrive"
"$PY" -c 'import json, sys
m = json.load(open(sys.argv[1]))
assert m["mail_from"] == "rewritten@example.com", m["mail_from"]' "${f%.eml}.json" ||
	fail "the upstream did not get the rewritten sender"
assert_grep 'generics: sender <sender@example.org> is sent as <rewritten@example.com>, sender_rule=generics:2' \
	"$T/log/hikyaku.log" "daemon log (the rewrite, in the tracer's words)"
assert_grep 'to=<rcpt@example.net>, relay=[^ ]*, rule=remotes, sender_rule=generics:2, .*status=sent' \
	"$T/log/hikyaku.log" "daemon log (sender_rule on the delivery line)"
# The tracer names the same line.
hk_cli trace --from sender@example.org rcpt@example.net >"$T/trace.txt" 2>&1
assert_grep 'generics: sender <sender@example.org> is sent as <rewritten@example.com> +\[generics:2\]' \
	"$T/trace.txt" "hikyaku trace"
# Messages whose sender no generics line matches carry no sender_rule.
assert_no_grep 'share-.*sender_rule|rcpt1@example.net>.*sender_rule' "$T/log/hikyaku.log" \
	"daemon log (sender_rule where no rewrite happened)"
hk_stop || fail "daemon stop"
