#!/bin/bash
# route_mx: a transport entry `smtp:host:PORT` (unbracketed) looks up the
# MX records of host through the configured resolver (a dnsmasq on
# loopback, DESIGN §12 "DNS") and tries the MX hosts in preference order:
# mail goes to the preferred one, and to the next when it is down. A
# bracketed `smtp:[host]:PORT` is looked up by address only, never MX
# (dnsmasq's query log shows it).
#
# smtp_tls = may (the default) on the way: the first MX offers STARTTLS
# with a certificate from a CA the daemon does not trust, and the mail goes
# encrypted all the same (logged as unverified); the second offers none and
# the mail goes in plaintext.
#
# MX records carry no port, so both upstreams listen on the same port, on
# two loopback addresses (127.0.0.1 and 127.0.0.2) that the two MX hosts
# resolve to.
. "$(dirname "$0")/lib.sh"
need_cmd swaks
[ -x /usr/sbin/dnsmasq ] || skip "dnsmasq not installed"

DNS_PORT=$(hk_port)
MX_PORT=$(hk_port)
DIRECT_PORT=$(hk_port)

# root keeps dnsmasq from switching to user "nobody" (it needs nothing).
dns_user=
[ $HK_ROOT = 1 ] && dns_user=--user=root
hk_bg dnsmasq /usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts \
	--bind-interfaces --listen-address=127.0.0.1 --port="$DNS_PORT" \
	--local=/test/ --local=/example/ \
	--mx-host=mx.example.test,mail2.test,20 \
	--mx-host=mx.example.test,mail1.test,10 \
	--host-record=mail1.test,127.0.0.1 \
	--host-record=mail2.test,127.0.0.2 \
	--host-record=direct.test,127.0.0.2 \
	--log-queries --log-facility=- --pid-file="$T/dnsmasq.pid" $dns_user
DNS_LOG=$T/dnsmasq.log
wait_for 10 grep -q started "$DNS_LOG" || fail "dnsmasq did not start: $(cat "$DNS_LOG")"

hk_certs
HK_UP_PORT=$MX_PORT upstream_start mx1 --host 127.0.0.1 --hostname mail1.test \
	--tls-cert "$HK_CERTS/server.crt" --tls-key "$HK_CERTS/server.key"
HK_UP_PORT=$MX_PORT upstream_start mx2 --host 127.0.0.2 --hostname mail2.test
HK_UP_PORT=$DIRECT_PORT upstream_start direct --host 127.0.0.2 --hostname direct.test
upstream_start dflt

hk_conf "resolver = 127.0.0.1:$DNS_PORT"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_dflt"
cat >"$T/conf/transport" <<EOF
# transport for $HK_TEST
mx.example.test   smtp:mx.example.test:$MX_PORT
b.example         smtp:[direct.test]:$DIRECT_PORT
EOF
chmod 644 "$T/conf/transport"
hk_start
L=$T/log/hikyaku.log

# The trace says which hop is an MX lookup and which is not.
hk_cli trace u1@mx.example.test >"$T/trace1" 2>&1
assert_grep "next hop mx.example.test:$MX_PORT \(MX lookup\)" "$T/trace1" "trace of the MX route"
hk_cli trace u@b.example >"$T/trace2" 2>&1
assert_grep "next hop \[direct.test\]:$DIRECT_PORT," "$T/trace2" "trace of the bracketed route"
assert_no_grep "MX lookup" "$T/trace2" "trace of the bracketed route"

# 1. The preferred MX (mail1.test, preference 10) takes the mail.
hk_swaks -f s@example.org -t u1@mx.example.test >"$T/swaks1.log" 2>&1 ||
	fail "swaks u1: $(tail -3 "$T/swaks1.log")"
wait_for 30 upstream_has mx1 1 || fail "mail1.test got nothing: $(tail -5 "$L")"
assert_eq 0 "$(upstream_count mx2)" "messages at the second MX"
assert_grep "to=<u1@mx.example.test>, relay=mx.example.test\[127.0.0.1\]:$MX_PORT, rule=transport:2, .*status=sent" "$L" "log of the delivery to the first MX"
assert_grep "query\[MX\] mx.example.test " "$DNS_LOG" "dnsmasq log"
assert_grep "tls=True" "$T/log/upstream-mx1.log" "first MX (opportunistic STARTTLS)"
assert_grep "opportunistic TLS \(smtp_tls = may\), certificate not verified: .*unknown CA" "$L" "log of the unverified certificate"

# 2. mail1.test down: the next MX in order carries the mail.
upstream_stop mx1
hk_swaks -f s@example.org -t u2@mx.example.test >"$T/swaks2.log" 2>&1 ||
	fail "swaks u2: $(tail -3 "$T/swaks2.log")"
wait_for 30 upstream_has mx2 1 || fail "mail2.test got nothing: $(tail -5 "$L")"
assert_grep "tls=False" "$T/log/upstream-mx2.log" "second MX (no STARTTLS offered: plaintext)"
assert_grep "to=<u2@mx.example.test>, relay=mx.example.test\[127.0.0.2\]:$MX_PORT, rule=transport:2, .*status=sent" "$L" "log of the failover to the second MX"
grep -q "<u2@mx.example.test>" "$T"/up-mx2/*.json 2>/dev/null ||
	grep -rq "u2@mx.example.test" "$T/up-mx2" || fail "the second MX has not u2's message"

# 3. Bracketed: an address lookup of direct.test, never MX.
hk_swaks -f s@example.org -t u3@b.example >"$T/swaks3.log" 2>&1 ||
	fail "swaks u3: $(tail -3 "$T/swaks3.log")"
wait_for 30 upstream_has direct 1 || fail "direct.test got nothing: $(tail -5 "$L")"
assert_grep "to=<u3@b.example>, relay=direct.test\[127.0.0.2\]:$DIRECT_PORT, rule=transport:3, .*status=sent" "$L" "log of the bracketed route"
assert_grep "query\[A\] direct.test " "$DNS_LOG" "dnsmasq log (bracketed host looked up)"
assert_no_grep "query\[MX\] (direct.test|b.example) " "$DNS_LOG" "dnsmasq log (no MX for a bracketed hop)"

wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
assert_eq 0 "$(upstream_count dflt)" "messages on the default route"
hk_stop
exit 0
