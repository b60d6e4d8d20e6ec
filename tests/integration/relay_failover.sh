#!/bin/bash
# relay_failover: the first remote refuses connections (a closed port), the
# second one gets the mail at once, and the log says why the first failed.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

closed=$(hk_port)
upstream_start second
hk_conf "pausetime = 1h"
hk_remotes "# the first one is down" \
	"127.0.0.1 smtp --port=$closed" \
	"127.0.0.1 smtp --port=$UP_PORT_second"
hk_start

hk_swaks -f sender@example.org -t rcpt@example.net \
	--header "Message-Id: <failover@test>" >"$T/swaks.log" 2>&1 ||
	fail "swaks failed: $(tail -n 5 "$T/swaks.log")"
# pausetime is an hour: arriving now means failover within the attempt.
wait_for 30 upstream_has second 1 || fail "second remote got nothing: $(hk_cli queue list)"
grep -q 'failover@test' "$T"/up-second/*.eml || fail "wrong message at the second remote"
wait_for 30 hk_queue_empty || fail "queue not empty"
assert_grep "status=sent.*" "$T/log/hikyaku.log"
assert_grep "$closed" "$T/log/hikyaku.log" "daemon log (mention of the refused remote)"
assert_grep "relay=[^ ]*:$UP_PORT_second" "$T/log/hikyaku.log" "daemon log (relay= of the second remote)"
hk_stop || fail "daemon stop"
