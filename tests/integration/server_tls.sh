#!/bin/bash
# server_tls: STARTTLS on relay and submission listeners and implicit TLS
# on smtps, with real clients (swaks, curl, gnutls-cli, Python smtplib);
# the STARTTLS injection defence; TLS facts in Received: and the log;
# the handshake deadline; certificate checks at start and on reload.
. "$(dirname "$0")/lib.sh"
need_cmd swaks curl gnutls-cli certtool
hk_certs
C=$HK_CERTS

SUB=$(hk_port)
SMTPS=$(hk_port)
base=(
	"listen = 127.0.0.1:$SUB submission"
	"listen = 127.0.0.1:$SMTPS smtps"
	"tls_cert = $C/server.crt"
	"tls_key = $C/server.key"
	"command_timeout = 4s"
)
hk_conf "${base[@]}"
# A dead upstream keeps accepted mail in the queue to inspect.
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
printf 'secret-1\n' | "$top_builddir/hikyaku" -C "$T/conf" passwd alice --stdin >"$T/passwd.log" 2>&1 ||
	fail "hikyaku passwd: $(cat "$T/passwd.log")"
[ $HK_ROOT = 1 ] && chgrp "$(id -gn "$HK_USER")" "$T/conf/users"
hk_start

# swaks --tls on the relay port: STARTTLS offered and used.
hk_swaks --tls --from a@b.example --to r@remote.example >"$T/swaks-tls.log" 2>&1 ||
	fail "swaks --tls: $(tail -5 "$T/swaks-tls.log")"
assert_grep '^<- +250-STARTTLS' "$T/swaks-tls.log" "EHLO before TLS"
assert_grep '^<~ +250 2\.0\.0 Ok: queued as' "$T/swaks-tls.log" "swaks --tls"
assert_grep 'tls=TLSv1\.[23]/[A-Z0-9-]+, auth=none' "$T/log/hikyaku.log" "log line"
assert_grep 'TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.[23]' \
	"$T/log/hikyaku.log"
grep -rlE 'with ESMTPS id' "$T/spool" >/dev/null 2>&1 ||
	fail "no Received: ... with ESMTPS in the queue"
grep -rqE '^	\(using TLSv1\.[23] with cipher ' "$T/spool" ||
	fail "no (using TLS... with cipher ...) in Received:"

# gnutls-cli with its own STARTTLS, verifying our chain.
# (Its exit status is not judged: the server closes after 221 without a
# TLS close_notify, which gnutls-cli calls abnormal.)
printf 'EHLO gnutls.test\r\nQUIT\r\n' | timeout 20 gnutls-cli --starttls-proto=smtp \
	--x509cafile="$C/ca.crt" --port="$HK_PORT" localhost >"$T/gnutls-cli.log" 2>&1
assert_grep 'Handshake was completed' "$T/gnutls-cli.log"
assert_grep '^250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN' "$T/gnutls-cli.log" \
	"EHLO after STARTTLS"
assert_no_grep '^250-STARTTLS' "$T/gnutls-cli.log" "EHLO after STARTTLS"

# TLS 1.0 and 1.1 are refused, on smtps as under STARTTLS (TLS_PRIORITIES);
# the same client offering TLS 1.2 is the control that it could connect.
tls_version() { # VERSION: gnutls-cli offering only that TLS version
	timeout 20 gnutls-cli --priority "NORMAL:-VERS-ALL:+VERS-$1" \
		--x509cafile="$C/ca.crt" --port="$SMTPS" localhost \
		</dev/null >"$T/gnutls-$1.log" 2>&1
}
tls_version TLS1.2
assert_grep 'Handshake was completed' "$T/gnutls-TLS1.2.log" "TLS 1.2 client"
refusals() {
	grep -c 'TLS handshake failed from unknown\[127\.0\.0\.1\]: .*unsupported version' \
		"$T/log/hikyaku.log"
}
for v in TLS1.1 TLS1.0; do
	n=$(refusals)
	tls_version "$v"
	assert_no_grep 'Handshake was completed' "$T/gnutls-$v.log" "$v client"
	wait_for 10 eval '[ "$(refusals)" -gt "$n" ]' ||
		fail "$v client: no refusal in the log"
done

# curl: smtp:// with --ssl-reqd, smtps:// (submission semantics: AUTH).
hk_message curl1@test >"$T/msg1"
timeout 30 curl -sS --ssl-reqd --cacert "$C/ca.crt" "smtp://localhost:$HK_PORT" \
	--mail-from a@b.example --mail-rcpt r@remote.example -T "$T/msg1" \
	</dev/null >"$T/curl1.log" 2>&1 || fail "curl smtp:// --ssl-reqd: $(cat "$T/curl1.log")"
hk_message curl2@test >"$T/msg2"
timeout 30 curl -sS --cacert "$C/ca.crt" "smtps://localhost:$SMTPS" --user alice:secret-1 \
	--mail-from a@b.example --mail-rcpt r@remote.example -T "$T/msg2" \
	</dev/null >"$T/curl2.log" 2>&1 || fail "curl smtps://: $(cat "$T/curl2.log")"
assert_grep 'auth=alice' "$T/log/hikyaku.log" "log after curl smtps"

# swaks --tls-on-connect against smtps.
hk_swaks --port "$SMTPS" --tls-on-connect --auth PLAIN --auth-user alice \
	--auth-password secret-1 --from a@b.example --to r@remote.example \
	>"$T/swaks-smtps.log" 2>&1 || fail "swaks --tls-on-connect: $(tail -5 "$T/swaks-smtps.log")"
assert_grep '^<~ +250 2\.0\.0 Ok: queued as' "$T/swaks-smtps.log"

# Python smtplib: starttls + login on the submission port.
/usr/bin/python3 - "$SUB" "$C/ca.crt" >"$T/smtplib.log" 2>&1 <<'PYEOF' ||
import smtplib, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP("localhost", port, timeout=20) as s:
    s.ehlo("py.test")
    assert s.has_extn("starttls"), s.esmtp_features
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    s.starttls(context=ctx)
    s.ehlo("py.test")
    s.login("alice", "secret-1")
    s.sendmail("a@b.example", ["r@remote.example"],
               b"Subject: smtplib\r\n\r\nhello\r\n")
print("ok")
PYEOF
	fail "smtplib starttls/login: $(cat "$T/smtplib.log")"
grep -rqE 'with ESMTPSA id' "$T/spool" || fail "no Received: ... with ESMTPSA"
grep -rqE '^	\(Authenticated sender: alice\)' "$T/spool" ||
	fail "no (Authenticated sender: alice) in Received:"

# STARTTLS injection: a MAIL pipelined behind STARTTLS in plaintext must
# never be answered, neither before nor after the handshake.
/usr/bin/python3 - "$HK_PORT" "$C/ca.crt" >"$T/inject.log" 2>&1 <<'PYEOF' ||
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode()
        assert l, "connection closed"
        lines.append(l.rstrip())
        if l[3:4] == " ":
            return lines
reply()
s.sendall(b"EHLO inject.test\r\n")
reply()
s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
r = reply()
assert r == ["220 2.0.0 Ready to start TLS"], r
# Nothing else may be waiting in plaintext.
s.settimeout(0.5)
try:
    extra = s.recv(100, socket.MSG_PEEK)
except socket.timeout:
    extra = b""
assert extra == b"", extra
s.settimeout(20)
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(s, server_hostname="localhost")
tf = t.makefile("rb")
t.sendall(b"NOOP\r\n")
l = tf.readline().decode()
# The session starts over: NOOP is the first thing answered under TLS.
assert l.startswith("250 2.0.0"), l
t.sendall(b"MAIL FROM:<a@b.example>\r\n")
l = tf.readline().decode()
assert l.startswith("503"), "MAIL accepted without a new EHLO: " + l
t.sendall(b"QUIT\r\n")
print("ok")
PYEOF
	fail "STARTTLS injection: $(cat "$T/inject.log")"
assert_no_grep 'evil@example\.org' "$T/log/hikyaku.log" "log (injected MAIL)"

# The handshake runs under the command deadline: a silent client on the
# smtps port is dropped after command_timeout (4 s), not kept forever.
start=$(date +%s)
/usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
while s.recv(100):
    pass
' "$SMTPS" || fail "silent TLS client: connection not closed"
took=$(($(date +%s) - start))
[ "$took" -le 12 ] || fail "silent TLS client held for ${took}s"

# Reload with a broken new certificate keeps the old one in service.
hk_conf "${base[@]/server.crt/expired.crt}"
hk_cli reload >"$T/reload.log" 2>&1
wait_for 10 grep -q 'keeping the certificate loaded before in service' "$T/log/hikyaku.log" ||
	fail "reload with an expired certificate: no warning"
assert_grep 'certificate expired' "$T/log/hikyaku.log" "reload warning"
hk_swaks --tls --from a@b.example --to r@remote.example >"$T/swaks-tls2.log" 2>&1 ||
	fail "STARTTLS after a failed certificate reload: $(tail -5 "$T/swaks-tls2.log")"
hk_stop

# Start-up: an smtps listener with a key that does not match refuses to
# start and says why; without smtps the daemon starts without STARTTLS.
hk_conf "${base[@]/server.key/wronghost.key}"
"$top_builddir/hikyakud" -f -C "$T/conf" </dev/null >"$T/bad.out" 2>"$T/bad.err" &&
	fail "hikyakud started with a mismatched key on an smtps listener"
assert_grep 'error: .*key mismatch: .*wronghost\.key does not belong to the certificate.*fix: ' \
	"$T/log/hikyaku.log" "start-up error"
assert_grep 'smtps listener cannot run without it' "$T/log/hikyaku.log" "start-up error"
hk_conf "tls_cert = $C/server.crt" "tls_key = $C/wronghost.key"
hk_start
assert_grep 'key mismatch.*STARTTLS is not offered' "$T/log/hikyaku.log" "start-up warning"
hk_swaks --from a@b.example --to r@remote.example >"$T/swaks-plain.log" 2>&1 ||
	fail "plain session: $(tail -5 "$T/swaks-plain.log")"
assert_no_grep 'STARTTLS' "$T/swaks-plain.log" "EHLO with a broken certificate"
hk_stop
exit 0
