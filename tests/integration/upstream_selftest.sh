#!/bin/bash
# upstream_selftest: the test harness itself, without the daemon.
# upstream.py with STARTTLS and AUTH accepts each mechanism from real
# clients (swaks for PLAIN, LOGIN, CRAM-MD5; gsasl for SCRAM-SHA-256),
# refuses a wrong password, honours --mechs, --reply-rcpt, --fail-first
# and --ssl; mkcerts.sh's server certificate verifies against its CA.
. "$(dirname "$0")/lib.sh"
need_cmd swaks gsasl certtool
hk_certs
C=$HK_CERTS
certtool --verify --load-ca-certificate "$C/ca.crt" --infile "$C/server.crt" >"$T/verify.txt" 2>&1 ||
	fail "server.crt does not verify: $(cat "$T/verify.txt")"
certtool --verify --load-ca-certificate "$C/ca.crt" --infile "$C/expired.crt" >/dev/null 2>&1 &&
	fail "expired.crt verifies"

upstream_start up --tls-cert "$C/server.crt" --tls-key "$C/server.key" --require-tls \
	--auth 'u:p#w' --reply-rcpt 'no@example.net=550 5.1.1 no such user'
P=$UP_PORT_up
up_swaks() {
	timeout 30 swaks --server 127.0.0.1 --port "$P" --timeout 20 --tls \
		--tls-ca-path "$C/ca.crt" -f a@example.org "$@" </dev/null
}
n=0
for mech in PLAIN LOGIN CRAM-MD5; do
	n=$((n + 1))
	up_swaks -t b@example.net -a "$mech" -au u -ap 'p#w' >"$T/swaks-$mech.log" 2>&1 ||
		fail "swaks AUTH $mech: $(tail -n 5 "$T/swaks-$mech.log")"
	wait_for 10 upstream_has up $n || fail "message $n missing"
	assert_grep "auth $mech user=u ok" "$T/log/upstream-up.log"
done
timeout 30 gsasl --client --smtp --connect "127.0.0.1:$P" --starttls --no-cb \
	--x509-ca-file="$C/ca.crt" --mechanism SCRAM-SHA-256 -a u -p 'p#w' \
	</dev/null >"$T/gsasl.log" 2>&1 || fail "gsasl SCRAM-SHA-256: $(tail -n 5 "$T/gsasl.log")"
assert_grep 'auth SCRAM-SHA-256 user=u ok' "$T/log/upstream-up.log"
timeout 30 gsasl --client --smtp --connect "127.0.0.1:$P" --starttls --no-cb \
	--x509-ca-file="$C/ca.crt" --mechanism SCRAM-SHA-256 -a u -p wrong \
	</dev/null >"$T/gsasl-bad.log" 2>&1
assert_grep 'auth SCRAM-SHA-256 user=u failed' "$T/log/upstream-up.log"
up_swaks -t b@example.net -a PLAIN -au u -ap wrong >"$T/swaks-bad.log" 2>&1 &&
	fail "wrong password accepted"
up_swaks -t no@example.net -a PLAIN -au u -ap 'p#w' >"$T/swaks-550.log" 2>&1
assert_grep '550 5\.1\.1 no such user' "$T/swaks-550.log"
# No AUTH before TLS, no mail without AUTH.
timeout 30 swaks --server 127.0.0.1 --port "$P" --timeout 20 -f a@example.org -t b@example.net \
	</dev/null >"$T/swaks-plain.log" 2>&1 && fail "mail accepted without TLS and AUTH"

upstream_start one --tls-cert "$C/server.crt" --tls-key "$C/server.key" --auth 'u:p' \
	--mechs CRAM-MD5 --fail-first 1
timeout 30 swaks --server 127.0.0.1 --port "$UP_PORT_one" --timeout 20 -f a@example.org \
	-t b@example.net </dev/null >"$T/swaks-421.log" 2>&1
assert_grep '421 4\.3\.2' "$T/swaks-421.log"
timeout 30 swaks --server 127.0.0.1 --port "$UP_PORT_one" --timeout 20 --tls -f a@example.org \
	-t b@example.net -a CRAM-MD5 -au u -ap p </dev/null >"$T/swaks-one.log" 2>&1 ||
	fail "CRAM-MD5 only: $(tail -n 5 "$T/swaks-one.log")"
assert_grep 'AUTH CRAM-MD5$' "$T/swaks-one.log" "EHLO reply (only CRAM-MD5 offered)"

upstream_start smtps --ssl --tls-cert "$C/server.crt" --tls-key "$C/server.key" --auth 'u:p'
timeout 30 swaks --server 127.0.0.1 --port "$UP_PORT_smtps" --timeout 20 --tlsc \
	--tls-ca-path "$C/ca.crt" -f a@example.org -t b@example.net -a PLAIN -au u -ap p \
	</dev/null >"$T/swaks-smtps.log" 2>&1 || fail "--ssl: $(tail -n 5 "$T/swaks-smtps.log")"
wait_for 10 upstream_has smtps 1 || fail "--ssl message missing"
grep -q '"tls": true' "$T"/up-smtps/*.json || fail "--ssl message not marked tls"
