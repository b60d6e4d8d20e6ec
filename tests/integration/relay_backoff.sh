#!/bin/bash
# relay_backoff: the upstream answers 451 at RCPT; the message is deferred
# with attempts=1, a next retry in the future and the reply as last error;
# `hikyaku queue retry ID` after the upstream recovers delivers it.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up --reply-rcpt 'rcpt@example.net=451 4.3.0 try later'
hk_conf "pausetime = 1h" "maxpause = 4h"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

hk_swaks -f sender@example.org -t rcpt@example.net \
	--header "Message-Id: <backoff@test>" >"$T/swaks.log" 2>&1 ||
	fail "swaks failed: $(tail -n 5 "$T/swaks.log")"

deferred() { hk_queue_first | grep -qx 'state=deferred'; }
wait_for 30 deferred || fail "message not deferred: $(hk_cli queue list --json)"
eval "$(hk_queue_first | sed -n "s/^\(qid\|attempts\|next_try\)=\(.*\)/\1='\2'/p")"
assert_eq 1 "$attempts" "attempts after one 451"
now=$(date +%s)
[ "$next_try" -gt $((now + 60)) ] || fail "next retry $next_try is not in the future (now $now, pausetime 1h)"
hk_queue_first | grep -q '^last_error=.*451' || fail "last error lacks the 451 reply: $(hk_queue_first)"
hk_cli queue list >"$T/list.txt" 2>&1
assert_grep "^$qid" "$T/list.txt" "queue list (queue ID first)"
assert_grep 'try later|451' "$T/list.txt" "queue list (reason in words)"
hk_cli queue show "$qid" >"$T/show.txt" 2>&1 || fail "queue show $qid failed"
assert_grep 'rcpt@example.net' "$T/show.txt" "queue show"
assert_eq 0 "$(upstream_count up)" "messages delivered while 451"

# The upstream recovers on the same port; a manual retry delivers now.
upstream_stop up
HK_UP_PORT=$UP_PORT_up upstream_start up
hk_cli queue retry "$qid" >"$T/retry.txt" 2>&1 || fail "queue retry: $(cat "$T/retry.txt")"
wait_for 30 upstream_has up 1 || fail "not delivered after retry: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty after delivery"
assert_grep 'status=deferred' "$T/log/hikyaku.log" "daemon log"
assert_grep 'to=<rcpt@example.net>.*status=sent' "$T/log/hikyaku.log" "daemon log"
hk_stop || fail "daemon stop"
