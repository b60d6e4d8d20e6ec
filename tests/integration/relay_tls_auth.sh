#!/bin/bash
# relay_tls_auth: every TLS and AUTH option of a remotes line against the
# test upstream (upstream.py: STARTTLS or implicit TLS, AUTH required).
#   --starttls --user --pass with each of SCRAM-SHA-256, CRAM-MD5, PLAIN,
#   LOGIN (the upstream offers one at a time, so the client must pick it);
#   --auth-login (forces LOGIN although SCRAM is offered); --ssl;
#   --x509fmtder (DER CA); --x509certfile (client certificate);
#   dash-less spelling (port=N starttls); --pass-file;
#   --x509certfile presents the client certificate to an upstream that
#   requires one; without it the upstream hangs up after the TLS 1.3
#   handshake, and delivery, `hikyaku tls check` and `hikyaku smtp` give
#   the verdict "client certificate required" with the --x509certfile fix;
#   --x509cafile of the wrong CA: deferred with a readable reason in
#   `hikyaku queue list`; --insecure then delivers it;
#   no --x509cafile: the system CA bundle, which lacks the test CA;
#   --x509crlfile revoking the upstream's certificate: deferred.
. "$(dirname "$0")/lib.sh"
need_cmd swaks certtool
hk_certs
C=$HK_CERTS
hk_conf "pausetime = 1h"
hk_remotes "# set per case"
n_case=0

tls_up() { # NAME [upstream.py options]: an upstream needing TLS and AUTH
	local name=$1
	shift
	upstream_start "$name" --tls-cert "$C/server.crt" --tls-key "$C/server.key" \
		--require-tls --auth 'hkuser:pa#ss0rd' "$@"
}

send() { # message through the daemon, acknowledged
	n_case=$((n_case + 1))
	hk_swaks -f sender@example.org -t "rcpt$n_case@example.net" \
		--header "Message-Id: <tls-$n_case@test>" >"$T/swaks-$n_case.log" 2>&1 ||
		fail "case $n_case: swaks failed: $(tail -n 5 "$T/swaks-$n_case.log")"
}

arrived() { grep -lq "tls-$n_case@test" "$T/up-$1"/*.eml 2>/dev/null; }

# delivered NAME WHAT-MECH: the last message arrived at NAME over TLS with
# AUTH mechanism MECH.
delivered() {
	local name=$1 mech=$2 f
	wait_for 30 arrived "$name" ||
		fail "case $n_case ($name): not delivered: $(hk_cli queue list)"
	f=$(grep -l "tls-$n_case@test" "$T/up-$name"/*.eml)
	"$PY" -c 'import json,sys
m = json.load(open(sys.argv[1]))
assert m["tls"], "delivered without TLS"
assert m["auth_mech"] == sys.argv[2], "AUTH %s, want %s" % (m["auth_mech"], sys.argv[2])' \
		"${f%.eml}.json" "$mech" || fail "case $n_case ($name): wrong TLS/AUTH"
	wait_for 30 hk_queue_empty || fail "case $n_case: queue not empty"
}

run_case() { # NAME MECH REMOTES-LINE
	hk_remotes "$3"
	hk_start
	send
	delivered "$1" "$2"
	hk_stop || fail "daemon stop"
}

auth="--user=hkuser --pass=pa#ss0rd"
for mech in SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN; do
	name=m${mech//-/_}	# upstream names are shell variable suffixes
	tls_up "$name" --mechs "$mech"
	port_var="UP_PORT_$name"
	run_case "$name" "$mech" \
		"127.0.0.1 smtp --port=${!port_var} --starttls $auth --x509cafile=$C/ca.crt"
done

tls_up all
run_case all LOGIN "127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth --auth-login --x509cafile=$C/ca.crt"
run_case all SCRAM-SHA-256 "127.0.0.1 smtp port=$UP_PORT_all starttls user=hkuser pass=pa#ss0rd x509cafile=$C/ca.crt"
run_case all SCRAM-SHA-256 "127.0.0.1 smtp -p $UP_PORT_all --starttls $auth --x509fmtder --x509cafile=$C/ca.der"
run_case all SCRAM-SHA-256 "127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth --x509cafile=$C/ca.crt --x509certfile=$C/client.pem"
run_case all SCRAM-SHA-256 "127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth --x509cafile=$C/ca.crt --x509crlfile=$C/empty.crl"
printf 'pa#ss0rd\n' >"$T/conf/upstream.pass"
chmod 644 "$T/conf/upstream.pass"
run_case all SCRAM-SHA-256 "127.0.0.1 smtp --port=$UP_PORT_all --starttls --user=hkuser --pass-file=$T/conf/upstream.pass --x509cafile=$C/ca.crt"

# --x509certfile really presents the client certificate: this upstream
# requires one signed by the test CA, logs its subject and refuses TLS
# without it.
tls_up ccert --require-client-cert "$C/ca.crt"
run_case ccert SCRAM-SHA-256 "127.0.0.1 smtp --port=$UP_PORT_ccert --starttls $auth --x509cafile=$C/ca.crt --x509certfile=$C/client.pem"
assert_grep 'client certificate subject=.*commonName=hikyaku test client' \
	"$T/log/upstream-ccert.log" "upstream log (client certificate)"
f=$(grep -l "tls-$n_case@test" "$T/up-ccert"/*.eml)
assert_grep '"client_cert": ".*commonName=hikyaku test client' "${f%.eml}.json" "stored client_cert"

upstream_start smtps --ssl --tls-cert "$C/server.crt" --tls-key "$C/server.key" --auth 'hkuser:pa#ss0rd'
run_case smtps SCRAM-SHA-256 "127.0.0.1 smtp --port=$UP_PORT_smtps --ssl $auth --x509cafile=$C/ca.crt"

# Verification failures defer with a reason a person can read.
deferred_case() { # REGEX-OF-REASON REMOTES-LINE
	local n
	hk_remotes "$2"
	hk_start
	send
	wait_for 30 eval 'hk_queue_first | grep -qx state=deferred' ||
		fail "case $n_case: not deferred: $(hk_cli queue list --json)"
	hk_cli queue list >"$T/list-$n_case.txt" 2>&1
	assert_grep "$1" "$T/list-$n_case.txt" "case $n_case: queue list"
	n=$(grep -l "tls-$n_case@test" "$T"/up-*/*.eml 2>/dev/null | wc -l)
	assert_eq 0 "$n" "case $n_case: copies delivered despite the failed verification"
}

deferred_case '[Cc]ertificate|CA|issuer|trust' \
	"127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth --x509cafile=$C/other-ca.crt"
qid=$(hk_queue_first | sed -n 's/^qid=//p')
# --insecure delivers the same message, after a reload and a retry.
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth --insecure --x509cafile=$C/other-ca.crt"
hk_cli reload >"$T/reload.txt" 2>&1 || fail "reload: $(cat "$T/reload.txt")"
hk_cli queue retry "$qid" >/dev/null 2>&1 || fail "queue retry $qid"
delivered all SCRAM-SHA-256
hk_stop || fail "daemon stop"

# Without --x509cafile the system CA bundle is what verifies, and the
# test CA is not in it.
deferred_case 'TLS with 127\.0\.0\.1\[127\.0\.0\.1\]:[0-9]+: .*CN=hikyaku test CA.*is not in the system CA bundle.*unknown CA' \
	"127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth"
hk_cli queue delete "$(hk_queue_first | sed -n 's/^qid=//p')" >/dev/null 2>&1
hk_stop || fail "daemon stop"

deferred_case '[Rr]evoked|CRL|[Cc]ertificate' \
	"127.0.0.1 smtp --port=$UP_PORT_all --starttls $auth --x509cafile=$C/ca.crt --x509crlfile=$C/revoked.crl"
hk_cli queue delete "$(hk_queue_first | sed -n 's/^qid=//p')" >/dev/null 2>&1
hk_stop || fail "daemon stop"

# The same upstream without --x509certfile: no certificate, no delivery.
# Under TLS 1.3 the upstream hangs up after the handshake, before its
# EHLO reply; the verdict says why and what to add to the remotes line.
ccert_verdict='client certificate required: the server asked for a client certificate, none was sent \(no --x509certfile\), and it (hung up|refused the session \(alert: [^)]*\)); fix: add the client certificate and its key that the server.s admin gave you to '
deferred_case "TLS with 127\.0\.0\.1\[127\.0\.0\.1\]:$UP_PORT_ccert: ${ccert_verdict}remotes line 1: --x509certfile=CERT --x509keyfile=KEY" \
	"127.0.0.1 smtp --port=$UP_PORT_ccert --starttls $auth --x509cafile=$C/ca.crt"
assert_no_grep 'lost connection' "$T/list-$n_case.txt" "client certificate: queue list"
hk_cli queue delete "$(hk_queue_first | sed -n 's/^qid=//p')" >/dev/null 2>&1
hk_stop || fail "daemon stop"
# tls check reads on to the EHLO reply, so it sees the hang-up too.
hk_cli tls check --remote 1 >"$T/ccert-check.txt" 2>&1 && fail "tls check passed without a client certificate: $(cat "$T/ccert-check.txt")"
assert_grep "problem: ${ccert_verdict%%; fix:*}" "$T/ccert-check.txt" "tls check (client certificate)"
assert_grep 'fix: add the client certificate and its key .* to remotes line 1: --x509certfile=CERT --x509keyfile=KEY' \
	"$T/ccert-check.txt" "tls check fix (client certificate)"
# With the certificate the check passes.
hk_cli tls check 127.0.0.1:$UP_PORT_ccert --starttls --x509cafile=$C/ca.crt --x509certfile=$C/client.pem >"$T/ccert-check-ok.txt" 2>&1 ||
	fail "tls check with a client certificate: $(cat "$T/ccert-check-ok.txt")"
assert_grep '^verdict: OK' "$T/ccert-check-ok.txt" "tls check with a client certificate"
# The session tester stops at the TLS stage with the same words.
printf 'QUIT\r\n' | timeout 30 "$top_builddir/hikyaku" -C "$T/conf" smtp --remote 1 >"$T/ccert-smtp.txt" 2>&1
assert_eq 6 $? "hikyaku smtp exit code (TLS stage) without a client certificate"
assert_grep "^\* TLS: ${ccert_verdict}the command line|^\* TLS: ${ccert_verdict}remotes line 1" "$T/ccert-smtp.txt" "hikyaku smtp (client certificate)"

# Credentials never go in the clear: an upstream offering AUTH without TLS.
upstream_start plain --auth 'hkuser:pa#ss0rd' --allow-plain-auth
deferred_case 'starttls|TLS|clear' "127.0.0.1 smtp --port=$UP_PORT_plain $auth"
assert_no_grep 'auth .* ok' "$T/log/upstream-plain.log" "plaintext upstream log (credentials sent)"
hk_stop || fail "daemon stop"
