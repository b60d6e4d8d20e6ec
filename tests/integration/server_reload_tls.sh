#!/bin/bash
# server_reload_tls: what a reload and a start-up do with server
# certificates and privileged listeners (DESIGN sections 4 and 12).
#
# - Reloads naming a key that does not match its certificate, or a key the
#   daemon's user cannot read, keep the pair loaded before in service: the
#   STARTTLS handshake still shows the old certificate (Python ssl and
#   gnutls-cli). Once the key is readable, the same reload takes the new
#   pair: the control that the handshake check can see a change.
# - As root: a reload adding a privileged listener (port 25) is refused
#   with "restart needed", all or nothing (a high port and a new
#   certificate in the same reload are not taken either), and the daemon
#   keeps serving on the old configuration.
# - Start-up with an expired certificate: without an smtps listener the
#   daemon starts without STARTTLS and the log says why and how to fix it;
#   with an smtps listener it refuses to start, saying the same.
. "$(dirname "$0")/lib.sh"
need_cmd swaks gnutls-cli certtool
hk_certs
C=$HK_CERTS

# Keys of our own: their modes are changed below.
cp "$C/server.key" "$T/server.key"
cp "$C/selfsigned.key" "$T/new.key"
chmod 644 "$T/server.key" "$T/new.key"
base=("command_timeout = 10s")
hk_conf "${base[@]}" "tls_cert = $C/server.crt" "tls_key = $T/server.key"
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
hk_start
log=$T/log/hikyaku.log

# served_cert NAME: STARTTLS on the relay port; prints which of server.crt
# and selfsigned.crt the daemon presented (or fails).
cat >"$T/served.py" <<'PYEOF'
import smtplib, ssl, sys
port, certs = int(sys.argv[1]), sys.argv[2]
known = {}
for name in ("server", "selfsigned"):
    with open("%s/%s.crt" % (certs, name)) as f:
        known[ssl.PEM_cert_to_DER_cert(f.read())] = name
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
    s.ehlo("served.test")
    if not s.has_extn("starttls"):
        sys.exit("STARTTLS not offered")
    s.starttls(context=ctx)
    s.ehlo("served.test")
    print(known.get(s.sock.getpeercert(binary_form=True), "unknown"))
PYEOF
served_cert() {
	$PY "$T/served.py" "$HK_PORT" "$C" 2>&1
}

reload_warns() { # WHAT: a reload the daemon must answer with a warning
	hk_cli reload >"$T/reload.log" 2>&1 || fail "$1: hikyaku reload: $(cat "$T/reload.log")"
	kill -0 "$HK_DAEMON_PID" || fail "$1: the daemon died"
}
warnings() {
	grep -c 'keeping the certificate loaded before in service' "$log"
}

assert_eq server "$(served_cert)" "certificate served at start"

# 1. A key that does not belong to the new certificate.
n=$(warnings)
hk_conf "${base[@]}" "tls_cert = $C/selfsigned.crt" "tls_key = $C/wronghost.key"
reload_warns "mismatched key"
wait_for 10 eval '[ "$(warnings)" -gt "$n" ]' || fail "mismatched key: no warning in the log"
assert_grep 'reload: .*key mismatch: .*wronghost\.key does not belong to the certificate.*fix: .*keeping the certificate loaded before in service' \
	"$log" "mismatched key warning"
assert_eq server "$(served_cert)" "certificate served after a reload with a mismatched key"
# gnutls-cli, verifying the chain and the name, agrees.
printf 'EHLO gnutls.test\r\nQUIT\r\n' | timeout 20 gnutls-cli --starttls-proto=smtp \
	--x509cafile="$C/ca.crt" --port="$HK_PORT" localhost >"$T/gnutls-cli.log" 2>&1
assert_grep 'Handshake was completed' "$T/gnutls-cli.log" "gnutls-cli after the bad reload"

# 2. A key the daemon's user cannot read (mode 0000 stops a non-root
# daemon; as root the daemon runs as nobody and 0600 root:root stops it).
if [ $HK_ROOT = 1 ]; then
	chmod 600 "$T/new.key"
else
	chmod 000 "$T/new.key"
fi
n=$(warnings)
hk_conf "${base[@]}" "tls_cert = $C/selfsigned.crt" "tls_key = $T/new.key"
reload_warns "unreadable key"
wait_for 10 eval '[ "$(warnings)" -gt "$n" ]' || fail "unreadable key: no warning in the log"
assert_grep "reload: .*new\.key: server key is not readable by .*fix: .*chmod .*keeping the certificate loaded before in service" \
	"$log" "unreadable key warning"
assert_eq server "$(served_cert)" "certificate served after a reload with an unreadable key"
hk_swaks --tls --from a@b.example --to r@remote.example >"$T/swaks-tls.log" 2>&1 ||
	fail "swaks --tls after the bad reloads: $(tail -5 "$T/swaks-tls.log")"

# The control: the key made readable, the same reload takes the new pair.
chmod 644 "$T/new.key"
hk_cli reload >"$T/reload.log" 2>&1 || fail "good reload: $(cat "$T/reload.log")"
assert_eq selfsigned "$(served_cert)" "certificate served after a good reload"

# 3. A reload cannot add a privileged listener: restart needed.
if [ $HK_ROOT = 1 ]; then
	HIGH=$(hk_port)
	hk_port_listening 25 && skip "port 25 is taken in the test's namespace"
	hk_conf "${base[@]}" "tls_cert = $C/server.crt" "tls_key = $T/server.key" \
		"listen = 127.0.0.1:25 relay" "listen = 127.0.0.1:$HIGH relay"
	hk_cli reload >"$T/reload-priv.log" 2>&1 &&
		fail "hikyaku reload accepted a privileged listener: $(cat "$T/reload-priv.log")"
	assert_grep 'reload failed, keeping the running configuration: restart needed to listen on 127\.0\.0\.1:25 \(privileged ports are bound only at start\)' \
		"$T/reload-priv.log" "hikyaku reload output"
	assert_grep 'error: reload: restart needed to listen on 127\.0\.0\.1:25 .*keeping the running configuration' \
		"$log" "log of the refused reload"
	kill -0 "$HK_DAEMON_PID" || fail "the daemon died on a privileged listener"
	hk_port_listening 25 && fail "port 25 listens after a refused reload"
	hk_port_listening "$HIGH" && fail "port $HIGH listens after a refused reload (not all or nothing)"
	assert_eq selfsigned "$(served_cert)" "certificate after the refused reload"
	hk_swaks --from a@b.example --to r@remote.example >"$T/swaks-priv.log" 2>&1 ||
		fail "mail after the refused reload: $(tail -5 "$T/swaks-priv.log")"
	# A restart binds it; a reload that keeps it keeps it listening.
	hk_stop
	hk_start
	hk_port_listening 25 || fail "port 25 does not listen after a restart"
	hk_cli reload >"$T/reload-keep.log" 2>&1 ||
		fail "reload keeping port 25: $(cat "$T/reload-keep.log")"
	hk_port_listening 25 || fail "port 25 closed by a reload that keeps it"
	timeout 60 swaks --server 127.0.0.1 --port 25 --timeout 30 --helo c.test \
		--from a@b.example --to r@remote.example </dev/null >"$T/swaks-25.log" 2>&1 ||
		fail "mail on port 25 after the reload: $(tail -5 "$T/swaks-25.log")"
fi
hk_stop

# 4. Start-up with an expired certificate.
SMTPS=$(hk_port)
hk_conf "${base[@]}" "tls_cert = $C/expired.crt" "tls_key = $C/expired.key"
hk_start
assert_grep 'warning: server certificate .*expired\.crt: certificate expired: CN=localhost expired on 2002-01-01 00:00 UTC; fix: renew it .*; STARTTLS is not offered' \
	"$log" "start-up warning"
hk_swaks --from a@b.example --to r@remote.example >"$T/swaks-expired.log" 2>&1 ||
	fail "plain session with an expired certificate: $(tail -5 "$T/swaks-expired.log")"
assert_no_grep 'STARTTLS' "$T/swaks-expired.log" "EHLO with an expired certificate"
hk_stop
hk_conf "${base[@]}" "tls_cert = $C/expired.crt" "tls_key = $C/expired.key" \
	"listen = 127.0.0.1:$SMTPS smtps"
timeout 30 "$top_builddir/hikyakud" -f -C "$T/conf" </dev/null >"$T/expired.out" 2>"$T/expired.err" &&
	fail "hikyakud started an smtps listener with an expired certificate"
assert_grep 'error: server certificate .*expired\.crt: certificate expired: .*fix: renew it .*the smtps listener cannot run without it' \
	"$log" "start-up error"
hk_port_listening "$HK_PORT" && fail "port $HK_PORT listens after a refused start"

# 5. config check judges the pair as the daemon will: an error with the
# smtps listener (exit 1), a warning without it, nothing for a good pair.
out=$(hk_cli config check 2>&1)
assert_eq 1 $? "config check of an expired certificate with smtps"
assert_match 'hikyaku\.conf: error: server certificate .*expired\.crt: certificate expired: .*fix: renew it' \
	"$out" "config check names the expired certificate"
hk_conf "${base[@]}" "tls_cert = $C/expired.crt" "tls_key = $C/expired.key"
out=$(hk_cli config check 2>&1) || fail "config check without smtps: $out"
assert_match 'hikyaku\.conf: warning: server certificate .*expired\.crt: certificate expired: .*would start without STARTTLS' \
	"$out" "config check warns without smtps"
hk_conf "${base[@]}" "tls_cert = $C/selfsigned.crt" "tls_key = $C/wronghost.key" \
	"listen = 127.0.0.1:$SMTPS smtps"
out=$(hk_cli config check 2>&1)
assert_eq 1 $? "config check of a key that does not match"
assert_match 'error: server certificate .*selfsigned\.crt: .*wronghost\.key does not belong to the certificate' \
	"$out" "config check names the mismatched key"
hk_conf "${base[@]}" "tls_cert = $C/server.crt" "tls_key = $T/server.key"
out=$(hk_cli config check 2>&1) || fail "config check of a good pair: $out"
echo "$out" | grep -q "server certificate" && fail "config check of a good pair: $out"
exit 0
