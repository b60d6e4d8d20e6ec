#!/bin/bash
# relay_failover_kinds: failover to the second remote for the failures of
# the first that are not a closed port (relay_failover.sh has that one):
#  1. the first remote is up but answers 451 to the recipient: the second
#     gets the message at once (pausetime is an hour), the log keeps the
#     first remote's reply;
#  2. the first remote's TLS fails (--ssl with a certificate from a CA
#     nobody trusts): the second gets the message, the log says why the
#     first is down.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

send() { # TAG: one message through the daemon, acknowledged
	hk_swaks -f sender@example.org -t rcpt@example.net \
		--header "Message-Id: <$1@test>" >"$T/swaks-$1.log" 2>&1 ||
		fail "swaks failed: $(tail -n 5 "$T/swaks-$1.log")"
}

arrived() { grep -lq "$2@test" "$T/up-$1"/*.eml 2>/dev/null; }

# 1. 4xx from the first remote.
upstream_start first --reply-rcpt '*=451 4.3.0 first is busy'
upstream_start second
hk_conf "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_first" \
	"127.0.0.1 smtp --port=$UP_PORT_second"
hk_start
send tempfail
wait_for 30 arrived second tempfail || fail "second remote got nothing after a 451: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
assert_eq 0 "$(upstream_count first)" "messages stored by the remote that said 451"
assert_grep "rcpt <rcpt@example.net> 451 4.3.0 first is busy" "$T/log/upstream-first.log" \
	"first upstream's log (the 451 was given)"
assert_grep "to=<rcpt@example.net>, relay=[^ ]*:$UP_PORT_second, .*status=sent" \
	"$T/log/hikyaku.log" "daemon log (delivered by the second remote)"
assert_grep "to=<rcpt@example.net>: remote 127.0.0.1:$UP_PORT_first \(remotes:1\) failed temporarily \(451 4.3.0 first is busy\); trying the next remote \(remotes:2\)" \
	"$T/log/hikyaku.log" "daemon log (the first remote's reply and the failover)"
assert_no_grep 'status=deferred' "$T/log/hikyaku.log" "daemon log (deferred although a remote was left)"
hk_stop || fail "daemon stop"
upstream_stop first

# 2. TLS failure of the first remote.
hk_certs
upstream_start tls --ssl --tls-cert "$HK_CERTS/server.crt" --tls-key "$HK_CERTS/server.key"
hk_remotes "127.0.0.1 smtp --ssl --port=$UP_PORT_tls" \
	"127.0.0.1 smtp --port=$UP_PORT_second"
hk_start
send tlsfail
wait_for 30 arrived second tlsfail || fail "second remote got nothing after a TLS failure: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
assert_eq 0 "$(upstream_count tls)" "messages stored by the remote whose certificate failed"
assert_grep "connection 1\$" "$T/log/upstream-tls.log" "TLS upstream's log (the daemon did connect)"
assert_grep "remote 127.0.0.1:$UP_PORT_tls \(remotes:1\) is down: .*(certificate|TLS|issuer|CA)" \
	"$T/log/hikyaku.log" "daemon log (why the first remote is down)"
assert_grep "to=<rcpt@example.net>: remote 127.0.0.1:$UP_PORT_tls \(remotes:1\) failed temporarily \(TLS .*\); trying the next remote \(remotes:2\)" \
	"$T/log/hikyaku.log" "daemon log (the failover)"
assert_grep "to=<rcpt@example.net>, relay=[^ ]*:$UP_PORT_second, .*status=sent" \
	"$T/log/hikyaku.log" "daemon log (delivered by the second remote)"
hk_stop || fail "daemon stop"
