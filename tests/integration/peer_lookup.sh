#!/bin/bash
# peer_lookup: with `peer_lookup = yes` the daemon looks up each client's
# name (PTR, then A/AAAA of that name must include the client's address,
# Postfix's "verified" name) through the configured resolver, a dnsmasq on
# loopback (DESIGN §5, §12 "DNS"), before judging Connect: and greeting.
#
#   127.0.0.2  PTR client.example.net, whose A is 127.0.0.2: verified
#   127.0.0.3  PTR liar.example.net, whose A is 127.0.0.9: unknown
#   127.0.0.4  PTR ghost.example.net, which has no address: unknown
#
# The verified name shows in the log (client=name[ip]) and in Received:,
# and access host keys match it: a domain key lets it relay, a host key
# refuses it with the line's code; the unverified clients stay
# unknown[ip], the reason logged, and host keys never match them. A
# resolver that never answers leaves the client unknown after the lookup
# deadline, greeted all the same. On smtps the lookup comes before the
# handshake. With peer_lookup = no no query is sent.
. "$(dirname "$0")/lib.sh"
need_cmd swaks certtool
[ -x /usr/sbin/dnsmasq ] || skip "dnsmasq not installed"

DNS_PORT=$(hk_port)
HOLE_PORT=$(hk_port)
SMTPS=$(hk_port)
hk_certs
smtps=("listen = 127.0.0.1:$SMTPS smtps" "tls_cert = $HK_CERTS/server.crt"
	"tls_key = $HK_CERTS/server.key")

# root keeps dnsmasq from switching to user "nobody" (it needs nothing).
dns_user=
[ $HK_ROOT = 1 ] && dns_user=--user=root
hk_bg dnsmasq /usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts \
	--bind-interfaces --listen-address=127.0.0.1 --port="$DNS_PORT" \
	--local=/example.net/ --local=/127.in-addr.arpa/ \
	--ptr-record=2.0.0.127.in-addr.arpa,client.example.net \
	--host-record=client.example.net,127.0.0.2 \
	--ptr-record=3.0.0.127.in-addr.arpa,liar.example.net \
	--host-record=liar.example.net,127.0.0.9 \
	--ptr-record=4.0.0.127.in-addr.arpa,ghost.example.net \
	--log-queries --log-facility=- --pid-file="$T/dnsmasq.pid" $dns_user
DNS_LOG=$T/dnsmasq.log
wait_for 10 grep -q started "$DNS_LOG" || fail "dnsmasq did not start: $(cat "$DNS_LOG")"

# A resolver that takes queries and never answers (the deadline's test).
hk_bg blackhole "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    s.recv(4096)' "$HOLE_PORT"
wait_for 10 grep -q ready "$T/blackhole.log" || fail "black hole did not start"

upstream_start dflt
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_dflt"
write_access() {
	printf '%s\n' "# access for $HK_TEST" "$@" >"$T/conf/access"
	chmod 644 "$T/conf/access"
}
# The /24 line takes the loopback's built-in relay right from every
# client here, so only a host key can give it back.
write_access "Connect:example.net RELAY" "Connect:127.0.0 OK"
hk_conf "resolver = 127.0.0.1:$DNS_PORT" "peer_lookup = yes" "${smtps[@]}"
hk_start
L=$T/log/hikyaku.log

reloads=0
reloaded() { [ "$(grep -c 'configuration reloaded' "$L")" -ge "$1" ]; }
reload() {
	reloads=$((reloads + 1))
	kill -HUP "$HK_DAEMON_PID"
	wait_for 10 reloaded $reloads || fail "reload $reloads not done: $(tail -3 "$L")"
}

# swaks from SRC (a loopback source address) with more ARGS.
from() {
	local src=$1
	shift
	hk_swaks --local-interface "$src" "$@"
}

# 1. Verified: the name in the log and Received:, and the domain key
#    Connect:example.net RELAY (a subdomain match) lets it relay.
from 127.0.0.2 -f s@example.org -t far@remote.example \
	--header "Message-Id: <peer-1@test>" >"$T/s1" 2>&1 ||
	fail "client.example.net could not relay: $(tail -5 "$T/s1")"
assert_grep "connect from client\.example\.net\[127\.0\.0\.2\]: relay=yes, rule=access:2" "$L" "connect log of the verified client"
assert_grep ": client=client\.example\.net\[127\.0\.0\.2\]$" "$L" "client= of the verified client"
assert_grep "client=client\.example\.net\[127\.0\.0\.2\], tls=none" "$L" "from= line of the verified client"
assert_grep "query\[PTR\] 2\.0\.0\.127\.in-addr\.arpa " "$DNS_LOG" "dnsmasq log (PTR)"
assert_grep "query\[A\] client\.example\.net " "$DNS_LOG" "dnsmasq log (forward confirmation)"
wait_for 30 upstream_has dflt 1 || fail "the relayed message did not arrive: $(tail -5 "$L")"
grep -rqF "from client.test (client.example.net [127.0.0.2])" "$T/up-dflt" ||
	fail "Received: does not name client.example.net: $(grep -rh -A1 '^Received:' "$T/up-dflt" | head -4)"

# smtps: the name is known before the handshake, and logged with it.
from 127.0.0.2 --port "$SMTPS" --tls-on-connect --quit-after EHLO >"$T/s1tls" 2>&1 ||
	fail "smtps from 127.0.0.2: $(tail -5 "$T/s1tls")"
assert_grep "TLS connection established from client\.example\.net\[127\.0\.0\.2\]: TLS" "$L" "log of the smtps handshake"

# 2. PTR name that resolves elsewhere: unknown, the domain key does not
#    match, and the address line (no relay) decides.
from 127.0.0.3 -f s@example.org -t far@remote.example >"$T/s2" 2>&1 &&
	fail "the unverified client relayed: $(tail -5 "$T/s2")"
assert_grep "^<\*\* +554 5\.7\.1 <far@remote\.example>: Relay access denied" "$T/s2" "swaks from 127.0.0.3"
assert_grep "unknown\[127\.0\.0\.3\]: client name unknown: hostname liar\.example\.net does not resolve to address 127\.0\.0\.3$" "$L" "log of the failed forward confirmation"
assert_grep "connect from unknown\[127\.0\.0\.3\]: relay=no, rule=access:3" "$L" "connect log of the unverified client"
assert_grep "NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.3\]: 554 5\.7\.1 <far@remote\.example>: Relay access denied; rule=access:3;" "$L" "relay refusal of the unverified client"
assert_no_grep "liar\.example\.net\[" "$L" "log (the unverified name is never shown as the client's)"

# 3. PTR name without any address: unknown as well.
from 127.0.0.4 --quit-after CONNECT >"$T/s3" 2>&1 || fail "127.0.0.4 was not greeted: $(tail -3 "$T/s3")"
assert_grep "unknown\[127\.0\.0\.4\]: client name unknown: hostname ghost\.example\.net does not resolve to address 127\.0\.0\.4: host not found" "$L" "log of the name without address"

# 4. A host key with ERROR: refuses the verified client with its code
#    (554 greeting, RFC 5321 §3.1) and not the unverified one.
write_access "Connect:client.example.net ERROR:550 5.7.1 go away, client" \
	"Connect:liar.example.net REJECT" "Connect:127.0.0 OK"
reload
from 127.0.0.2 --quit-after CONNECT >"$T/s4" 2>&1 && fail "client.example.net was not refused"
assert_grep "^<\*\* +554 5\.7\.1 go away, client" "$T/s4" "greeting of the refused client"
assert_grep "NOQUEUE: reject: CONNECT from client\.example\.net\[127\.0\.0\.2\]: 550 5\.7\.1 go away, client; rule=access:2;" "$L" "log of the host-key refusal"
from 127.0.0.3 --quit-after CONNECT >"$T/s5" 2>&1 || fail "the unverified client was refused by a host key: $(tail -3 "$T/s5")"
assert_grep "^<- +220 " "$T/s5" "greeting of the unverified client"

# The trace judges a given verified name with the same rules.
hk_cli trace far@remote.example --client 127.0.0.2 --client-name client.example.net >"$T/trace1" 2>&1
assert_grep "^result: refused: 550 5\.7\.1 go away, client +rule=access:2" "$T/trace1" "trace --client-name"

# 5. -bh looks the name up as the daemon does (trace --session runs it).
printf 'QUIT\r\n' | "$top_builddir/hikyakud" -bh 127.0.0.2 -C "$T/conf" >"$T/bh" 2>&1 ||
	fail "hikyakud -bh failed: $(cat "$T/bh")"
assert_grep "^>>> peer_lookup: 127\.0\.0\.2 is client\.example\.net \(PTR, forward-confirmed\)" "$T/bh" "-bh lookup"
assert_grep "^554 5\.7\.1 go away, client" "$T/bh" "-bh verdict"

# 6. A resolver that never answers: the client waits the lookup deadline,
#    is unknown (host keys do not match) and is greeted.
hk_conf "resolver = 127.0.0.1:$HOLE_PORT" "peer_lookup = yes"
reload
t0=$(date +%s)
from 127.0.0.2 --quit-after CONNECT >"$T/s6" 2>&1 || fail "no greeting after a dead resolver: $(tail -3 "$T/s6")"
waited=$(( $(date +%s) - t0 ))
assert_grep "^<- +220 " "$T/s6" "greeting after the lookup deadline"
assert_grep "unknown\[127\.0\.0\.2\]: client name unknown: lookup took over 5 s" "$L" "log of the lookup deadline"
[ $waited -ge 4 ] && [ $waited -le 15 ] || fail "greeting came after ${waited}s, want about 5"

# 7. peer_lookup = no: no query at all, the client is unknown[ip] and the
#    host key does not refuse it.
hk_conf "resolver = 127.0.0.1:$DNS_PORT"
reload
assert_no_grep "warning: resolver" "$L" "log (the resolver changed back while a lookup was still retried)"
dns_lines=$(wc -l <"$DNS_LOG")
log_lines=$(wc -l <"$L")
new_log_has() { tail -n +"$((log_lines + 1))" "$L" | grep -Eq -- "$1"; }
from 127.0.0.2 --quit-after CONNECT >"$T/s7" 2>&1 || fail "refused with peer_lookup = no: $(tail -3 "$T/s7")"
wait_for 10 new_log_has "disconnect from unknown\[127\.0\.0\.2\]" ||
	fail "no disconnect line for unknown[127.0.0.2]: $(tail -3 "$L")"
tail -n +"$((log_lines + 1))" "$L" >"$T/log-after"
assert_grep "connect from unknown\[127\.0\.0\.2\]: relay=no, rule=access:4$" "$T/log-after" "connect log with peer_lookup = no"
assert_no_grep "client name" "$T/log-after" "log with peer_lookup = no"
hk_cli trace far@remote.example --client 127.0.0.2 --client-name client.example.net >"$T/trace2" 2>&1
assert_grep "^note: peer_lookup = no: .*--client-name is ignored" "$T/trace2" "trace --client-name with peer_lookup = no"
assert_no_grep "go away" "$T/trace2" "trace --client-name with peer_lookup = no"
tail -n +"$((dns_lines + 1))" "$DNS_LOG" >"$T/dns-after"
assert_no_grep "query\[" "$T/dns-after" "dnsmasq log with peer_lookup = no"

hk_stop
exit 0
