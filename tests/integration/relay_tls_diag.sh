#!/bin/bash
# relay_tls_diag: a delivery that fails on TLS is deferred with the words
# of `hikyaku tls check` -- the verdict and its fix -- as the message's last
# error (`hikyaku queue list` and `queue show`) and in the daemon's log:
# hostname mismatch (naming the remotes line), missing intermediate, not
# yet valid, TLS on the wrong port both ways, an --ssl port that hangs up
# in the handshake, a TLS 1.0/1.1-only server,
# no STARTTLS, DER read as PEM and the reverse, a CA file the daemon's
# user cannot read, weak key and SHA-1 signature (refused when verifying,
# a warning under --insecure).
# Certificates from tls/mkcerts_diag.sh, servers from tls/smtp_tls_server.py
# on loopback; mail.example.net resolves through a dnsmasq the test starts.
. "$(dirname "$0")/lib.sh"
need_cmd certtool swaks
[ -x /usr/sbin/dnsmasq ] || skip "dnsmasq not installed"
. "$HK_LIBDIR/tls/diag_lib.sh"
diag_certs

DNS_PORT=$(hk_port)
# root keeps dnsmasq from switching to user "nobody" (it needs nothing).
dns_user=
[ $HK_ROOT = 1 ] && dns_user=--user=root
hk_bg dnsmasq /usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts \
	--bind-interfaces --listen-address=127.0.0.1 --port="$DNS_PORT" \
	--local=/example.net/ --host-record=mail.example.net,127.0.0.1 \
	--log-facility=- --pid-file="$T/dnsmasq.pid" $dns_user
wait_for 10 grep -q started "$T/dnsmasq.log" || fail "dnsmasq did not start: $(cat "$T/dnsmasq.log")"

# One attempt per message (pausetime), and a STARTTLS connection to an
# implicit-TLS port gives up on the greeting after command_timeout.
hk_conf "resolver = 127.0.0.1:$DNS_PORT" "pausetime = 1h" "command_timeout = 2s"

diag_serve mx starttls mx.crt mx.key
diag_serve leafonly starttls good.crt good.key
diag_serve future starttls future.crt future.key
diag_serve good starttls good-chain.pem good.key
diag_serve weak starttls weak.crt weak.key
diag_serve sha1 starttls sha1.crt sha1.key
diag_serve plain nostarttls "" ""
diag_serve ssl ssl good-chain.pem good.key
diag_serve old ssl good-chain.pem good.key --old-tls
diag_serve hangup hangup "" ""

n_case=0
LOG=$T/log/hikyaku.log

# deferred NAME REMOTES-LINE...: send one message through a fresh daemon
# with that remotes file; once deferred, its last error as `queue list`
# and `queue show` print it and the log lines of this case are kept in
# $T/NAME.{list,show,log}, and the message is deleted.
deferred() {
	local name=$1 qid before=0
	shift
	n_case=$((n_case + 1))
	hk_remotes "$@"
	[ -f "$LOG" ] && before=$(wc -l <"$LOG")
	hk_start
	hk_swaks -f sender@example.org -t "rcpt$n_case@example.org" \
		--header "Message-Id: <diag-$n_case@test>" >"$T/swaks-$n_case.log" 2>&1 ||
		fail "$name: swaks failed: $(tail -n 5 "$T/swaks-$n_case.log")"
	wait_for 30 eval 'hk_queue_first | grep -qx state=deferred' ||
		fail "$name: not deferred: $(hk_cli queue list --json)"
	qid=$(hk_queue_first | sed -n 's/^qid=//p')
	hk_cli queue list >"$T/$name.list" 2>&1
	hk_cli queue show "$qid" >"$T/$name.show" 2>&1
	hk_cli queue delete "$qid" >/dev/null 2>&1 || fail "$name: queue delete $qid"
	hk_stop || fail "$name: daemon stop"
	tail -n +$((before + 1)) "$LOG" >"$T/$name.log"
}

# says NAME REGEX: the last error in queue list, queue show and the log
# (one line each: the verdict with its fix).
says() {
	local f
	for f in list show log; do
		grep -Eq -- "$2" "$T/$1.$f" || {
			cat "$T/$1.$f" >&2
			fail "$1: $f lacks /$2/"
		}
	done
}

# The issue's headline: the name on remotes line 3 is not the certificate's.
deferred mismatch "# the upstream" "" \
	"mail.example.net smtp --port=$PORT_mx --starttls --x509cafile=$C/ca.crt"
says mismatch 'TLS with mail\.example\.net\[127\.0\.0\.1\]:[0-9]+: hostname mismatch: certificate is for mx\.example\.net \(SANs: mx\.example\.net, example\.net\), remotes line 3 says mail\.example\.net; fix: edit remotes line 3: name the server as its certificate does, mx\.example\.net instead of mail\.example\.net'
assert_no_grep 'GnuTLS|Error in the certificate|verify failed' "$T/mismatch.show" "mismatch: queue show"

deferred leafonly "127.0.0.1 smtp --port=$PORT_leafonly --starttls --x509cafile=$C/ca.crt"
says leafonly 'missing intermediate: the server did not send the intermediate certificate CN=diag intermediate CA that signed its certificate.*; fix: the server.s admin must send the full chain .*cat intermediate\.pem >> .*/ca\.crt'

deferred future "127.0.0.1 smtp --port=$PORT_future --starttls --x509cafile=$C/ca.crt"
says future 'certificate not yet valid: the server.s certificate \(CN=localhost\) is valid only from 2090-01-01.*; fix: if this machine.s clock \(.*\) is right, the server.s admin installed a certificate dated in the future'

# TLS on the wrong port, both ways.
deferred starttls465 "127.0.0.1 smtp --port=$PORT_ssl --starttls --x509cafile=$C/ca.crt"
says starttls465 "TLS on the wrong port: STARTTLS needs an SMTP greeting first, but port $PORT_ssl sent no greeting \\(it waits for a TLS handshake, as port 465 does\\); fix: on remotes line 1, replace --starttls with --ssl"
deferred ssl587 "127.0.0.1 smtp --port=$PORT_plain --ssl --x509cafile=$C/ca.crt"
says ssl587 "TLS on the wrong port: --ssl expects TLS at once, but port $PORT_plain greeted in plain text; fix: on remotes line 1, replace --ssl with --starttls"

# An --ssl port that hangs up in the handshake without a TLS alert keeps
# the hint that it may not speak implicit TLS, with the fix.
deferred sslhangup "127.0.0.1 smtp --port=$PORT_hangup --ssl --x509cafile=$C/ca.crt"
says sslhangup "TLS with 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$PORT_hangup: no TLS on port $PORT_hangup: the server closed the connection during the TLS handshake \\(does the port speak implicit TLS\\? --ssl is usually port 465\\); fix: on remotes line 1, keep --ssl and use the server.s implicit-TLS port \\(--port=465\\), or replace --ssl with --starttls"

# A server that speaks only TLS 1.0/1.1.
deferred old "127.0.0.1 smtp --port=$PORT_old --ssl --x509cafile=$C/ca.crt"
says old 'TLS handshake failed: .*\(the server offers only old protocols or ciphers\); fix: the server.s admin must enable TLS 1\.2 or 1\.3 with current ciphers'

deferred nostarttls "127.0.0.1 smtp --port=$PORT_plain --starttls --x509cafile=$C/ca.crt"
says nostarttls "no STARTTLS: the server on port $PORT_plain does not offer STARTTLS in its EHLO reply; fix: ask the server.s admin to enable STARTTLS; or, if it has an implicit-TLS port, use --ssl --port=465 on remotes line 1"

# DER read as PEM, and PEM read as DER.
deferred der "127.0.0.1 smtp --port=$PORT_good --starttls --x509cafile=$C/ca.der"
says der 'CA file .*/ca\.der is DER \(binary\) but is read as PEM; fix: add --x509fmtder to remotes line 1 \(the file is DER\)'
deferred pem "127.0.0.1 smtp --port=$PORT_good --starttls --x509fmtder --x509cafile=$C/ca.crt"
says pem 'CA file .*/ca\.crt is PEM \(text with "-----BEGIN" lines\) but --x509fmtder makes it be read as DER; fix: remove --x509fmtder from remotes line 1'

# A CA file the daemon's user (nobody when root) cannot read.
if [ "$HK_ROOT" = 1 ]; then
	cp "$C/ca.crt" "$T/private-ca.crt"
	chmod 600 "$T/private-ca.crt"
	deferred unreadable "127.0.0.1 smtp --port=$PORT_good --starttls --x509cafile=$T/private-ca.crt"
	says unreadable "CA file $T/private-ca\\.crt \\(mode 0600\\) is not readable by user $HK_USER, which the daemon runs as; fix: chmod 0644 $T/private-ca\\.crt +\\(or keep it private to the daemon: chgrp [^ ]+ $T/private-ca\\.crt && chmod 0640"
else
	hk_log "not root: skipping the unreadable-CA case"
fi

# A weak key passes GnuTLS's checks, so the handshake verifies and the
# refusal comes after it, in the same words as any certificate that does
# not verify. A SHA-1 signature already fails GnuTLS's verification (where
# the system's policy forbids SHA-1) and is explained from that failure.
deferred weak "127.0.0.1 smtp --port=$PORT_weak --starttls --x509cafile=$C/ca.crt"
says weak 'TLS with 127\.0\.0\.1\[127\.0\.0\.1\]:[0-9]+: weak key: CN=localhost has a 1024-bit RSA key \(at least 2048 bits are needed to be safe\); fix: the server.s admin must issue a new certificate with a key of at least 2048 bits \(certtool --generate-privkey --bits 3072\) or an ECDSA key'
deferred sha1 "127.0.0.1 smtp --port=$PORT_sha1 --starttls --x509cafile=$C/ca.crt"
says sha1 'weak signature: CN=localhost is signed with [A-Z]+-SHA1, which can be forged; fix: the server.s admin must have it reissued with a SHA-256 signature'
# --insecure goes on, with a warning that says the same.
n_case=$((n_case + 1))
hk_remotes "127.0.0.1 smtp --port=$PORT_weak --starttls --insecure --x509cafile=$C/ca.crt"
before=$(wc -l <"$LOG")
hk_start
hk_swaks -f sender@example.org -t "rcpt$n_case@example.org" >"$T/swaks-$n_case.log" 2>&1 ||
	fail "insecure: swaks failed: $(tail -n 5 "$T/swaks-$n_case.log")"
wait_for 30 eval "tail -n +$((before + 1)) '$LOG' | grep -q 'certificate not verified (--insecure): weak key: CN=localhost has a 1024-bit RSA key.*; fix: the server.s admin must issue'" ||
	fail "insecure: no warning about the weak key: $(tail -n 5 "$LOG")"
hk_stop || fail "daemon stop"
exit 0
