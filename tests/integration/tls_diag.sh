#!/bin/bash
# tls_diag.sh: `hikyaku tls check` and `hikyaku cert show|new` name the
# cause and the fix for each TLS diagnosis case of DESIGN section 7.
# Certificates come from tests/integration/tls/mkcerts_diag.sh (certtool),
# servers from tests/integration/tls/smtp_tls_server.py on loopback; the
# checks use --connect 127.0.0.1, so no name is ever resolved.
. "$(dirname "$0")/lib.sh"

need_cmd certtool
[ -x "$top_builddir/hikyaku" ] || fail "no $top_builddir/hikyaku (not built?)"
. "$HK_LIBDIR/tls/diag_lib.sh"
diag_certs
hk_conf

OUT=$T/out
# check WANT-RC ARGS...: run `hikyaku tls check`, output in $OUT.
check() {
	local want=$1 rc
	shift
	hk_cli tls check "$@" --connect 127.0.0.1 --timeout 3 >"$OUT" 2>&1
	rc=$?
	cp "$OUT" "$T/log/last-check.out"
	[ "$rc" = "$want" ] || { cat "$OUT" >&2; fail "tls check $*: exit $rc, expected $want"; }
}
says() { # REGEX [WHAT]
	grep -Eq -- "$1" "$OUT" || { cat "$OUT" >&2; fail "${2:-output} lacks /$1/"; }
}

diag_serve good starttls good-chain.pem good.key
diag_serve leafonly starttls good.crt good.key
diag_serve expired starttls expired.crt expired.key
diag_serve expclock starttls expired.crt expired.key --banner-date "Tue, 01 May 2001 12:00:00 +0000"
diag_serve future starttls future.crt future.key
diag_serve mx starttls mx.crt mx.key
diag_serve self starttls self.crt self.key
diag_serve weak starttls weak.crt weak.key
diag_serve sha1 starttls sha1.crt sha1.key
diag_serve revoked starttls revoked.crt revoked.key
diag_serve plain nostarttls "" ""
diag_serve ssl ssl good-chain.pem good.key
diag_serve old ssl good-chain.pem good.key --old-tls
diag_serve hangup hangup "" ""

# 1. All good: chain shown, verified, exit 0.
check 0 "localhost:$PORT_good" --starttls --cafile "$C/ca.crt"
says '^protocol: +TLS1\.[23]' protocol
says '^cipher: ' cipher
says 'certificate 0: CN=localhost'
says 'names: +localhost, 127\.0\.0\.1'
says 'certificate 1: CN=diag intermediate CA'
says 'days left'
says 'SHA-256: ([0-9A-F]{2}:){31}[0-9A-F]{2}'
says '^verdict: OK'
# ... and the same with the remotes options verbatim.
check 0 "localhost:$PORT_good" --starttls "--x509cafile=$C/ca.crt"
# A client certificate that cannot be read is named as delivery names it.
check 1 "localhost:$PORT_good" --starttls --cafile "$C/ca.crt" --certfile "$T/no-such.pem"
says "cannot read client certificate $T/no-such\.pem: No such file"

# 2. Unknown CA: the chain ends in a root that is not trusted.
check 1 "localhost:$PORT_good" --starttls --cafile "$C/other-ca.crt"
says 'unknown CA'
says 'diag (root|intermediate) CA'
says 'fix: .*--x509cafile='

# 3. Self-signed.
check 1 "localhost:$PORT_self" --cafile "$C/ca.crt"
says 'self-signed certificate: CN=localhost'
says 'fix: .*--save-chain .*--x509cafile='
check 1 "localhost:$PORT_self" --cafile "$C/ca.crt" --save-chain "$T/saved.pem"
[ -s "$T/saved.pem" ] || fail "--save-chain wrote nothing"
check 0 "localhost:$PORT_self" --cafile "$T/saved.pem"

# 4. Missing intermediate: the server sends only its own certificate.
check 1 "localhost:$PORT_leafonly" --cafile "$C/ca.crt"
says 'missing intermediate: .*CN=diag intermediate CA'
says 'fix: .*full chain.*cat intermediate.pem >>'

# 5. Expired; with a peer date inside the validity our clock is blamed.
check 1 "localhost:$PORT_expired" --cafile "$C/ca.crt"
says 'certificate expired: .* expired on 2002-01-01'
says 'fix: the server.s admin must renew'
check 1 "localhost:$PORT_expclock" --cafile "$C/ca.crt"
says "this machine's clock looks wrong"
says 'fix: .*timedatectl set-ntp true'

# 6. Not yet valid.
check 1 "localhost:$PORT_future" --cafile "$C/ca.crt"
says 'certificate not yet valid: .* 2090-01-01'
says 'fix: .*clock'

# 7. Hostname mismatch, from a remotes line by number and by name.
hk_remotes "# upstream" "" "mail.example.net smtp --port=$PORT_mx --starttls --x509cafile=$C/ca.crt"
check 1 --remote 3
says 'hostname mismatch: certificate is for mx\.example\.net \(SANs: mx\.example\.net, example\.net\), remotes line 3 says mail\.example\.net'
says 'fix: edit remotes line 3: .*mx\.example\.net instead of mail\.example\.net'
says '^summary: TLS: hostname mismatch: certificate is for mx\.example\.net \(SANs: mx\.example\.net, example\.net\), remotes line 3 says mail\.example\.net; fix: edit remotes line 3: name the server as its certificate does, mx\.example\.net instead of mail\.example\.net \(or ask its admin for a certificate that includes mail\.example\.net\)$'
check 1 mail.example.net
says 'remotes line 3 says mail\.example\.net'
hk_remotes "# upstream" "" "mail.example.net smtp --port=1 --starttls --x509cafile=$C/ca.crt"
check 1 --remote 3 --port "$PORT_mx"
says 'remotes line 3 says mail\.example\.net'
says 'remotes line 3 says mail\.example\.net'
check 1 "localhost:$PORT_mx" --cafile "$C/ca.crt"
says 'hostname mismatch: certificate is for mx\.example\.net .*not localhost'
check 0 "mx.example.net:$PORT_mx" --cafile "$C/ca.crt"

# 8. DER read as PEM, and PEM read as DER.
check 1 "localhost:$PORT_good" --cafile "$C/ca.der"
says 'is DER \(binary\) but is read as PEM'
says 'fix: add --x509fmtder'
check 0 "localhost:$PORT_good" --cafile "$C/ca.der" --der
check 1 "localhost:$PORT_good" --cafile "$C/ca.crt" --x509fmtder
says 'is PEM .*--x509fmtder makes it be read as DER'
says 'fix: remove --x509fmtder'

# 9. CA file unreadable by the daemon's user (judged with stat for the
# `user` of hikyaku.conf, so it works even though root reads anything).
if [ "$HK_ROOT" = 1 ]; then
	cp "$C/ca.crt" "$T/private-ca.crt"
	chmod 600 "$T/private-ca.crt"
	check 1 "localhost:$PORT_good" --cafile "$T/private-ca.crt"
	says "CA file .*private-ca.crt \(mode 0600\) is not readable by user $HK_USER"
	says "fix: chmod 0644 .*private-ca.crt"
	says "chgrp .* && chmod 0640"
else
	hk_log "not root: skipping the unreadable-CA case"
fi
check 1 "localhost:$PORT_good" --cafile "$T/no-such-ca.pem"
says 'CA file .*no-such-ca.pem does not exist'

# 10. Revoked by CRL.
check 1 "localhost:$PORT_revoked" --cafile "$C/ca.crt" "--x509crlfile=$C/revoked.crl"
says 'certificate revoked: CN=localhost \(serial [0-9a-f]+\) is listed in .*revoked.crl'
says "fix: the server's admin must replace the revoked certificate; if .*revoked\.crl is out of date, fetch the CA's current CRL"
check 0 "localhost:$PORT_good" --cafile "$C/ca.crt" "--x509crlfile=$C/revoked.crl"

# 11. No STARTTLS offered.
check 1 "localhost:$PORT_plain" --starttls --cafile "$C/ca.crt"
says 'no STARTTLS: the server on port [0-9]+ does not offer STARTTLS'
says 'fix: .*--ssl --port=465'

# 12. TLS on the wrong port: --ssl against a plaintext port, STARTTLS
# against an implicit-TLS port.
check 1 "localhost:$PORT_plain" --ssl --cafile "$C/ca.crt"
says 'TLS on the wrong port: --ssl expects TLS at once, but port [0-9]+ greeted in plain text \("220 '
says 'fix: .*replace --ssl with --starttls'
check 1 "localhost:$PORT_ssl" --starttls --cafile "$C/ca.crt"
says 'TLS on the wrong port: STARTTLS needs an SMTP greeting first'
says 'fix: .*replace --starttls with --ssl'
check 0 "localhost:$PORT_ssl" --ssl --cafile "$C/ca.crt"
# A port that hangs up on the ClientHello without a word of TLS.
check 1 "localhost:$PORT_hangup" --ssl --cafile "$C/ca.crt"
says "no TLS on port $PORT_hangup: the server closed the connection during the TLS handshake \\(does the port speak implicit TLS\\? --ssl is usually port 465\\)"
says 'fix: on the command line, keep --ssl and use the server.s implicit-TLS port \(--port=465\)'
# A server that speaks only TLS 1.0/1.1, which we refuse.
check 1 "localhost:$PORT_old" --ssl --cafile "$C/ca.crt"
says 'TLS handshake failed: .*\(the server offers only old protocols or ciphers\)'
says 'fix: the server.s admin must enable TLS 1\.2 or 1\.3'

# 13. Weak key and SHA-1 signature (GnuTLS alone accepts the first).
check 1 "localhost:$PORT_weak" --cafile "$C/ca.crt"
says 'weak key: CN=localhost has a 1024-bit RSA key'
says 'fix: the server.s admin must issue a new certificate'
check 1 "localhost:$PORT_sha1" --cafile "$C/ca.crt"
says 'weak signature: CN=localhost is signed with [A-Z]+-SHA1'
says 'fix: .*SHA-256'

# Usage errors exit 2.
hk_cli tls check >/dev/null 2>&1; assert_eq 2 $? "tls check without a target"
hk_cli tls check "localhost:$PORT_good" --port=notaport --connect 127.0.0.1 >/dev/null 2>&1
assert_eq 2 $? "tls check with a bad remotes option"

# cert new, cert show: a fresh pair is fine, key mode 0640.
mkdir "$T/new"
hk_cli cert new --out "$T/new" --cn relay.test --days 20 >"$OUT" 2>&1 || { cat "$OUT"; fail "cert new"; }
says 'tls_cert = .*server.crt'
assert_eq 640 "$(stat -c %a "$T/new/server.key")" "key mode"
hk_cli cert new --out "$T/new" --cn relay.test >/dev/null 2>&1 && fail "cert new overwrote a key"
hk_cli cert show "$T/new/server.crt" --key "$T/new/server.key" >"$OUT" 2>&1
assert_eq 0 $? "cert show of a fresh pair"
says 'names: +relay\.test'
says 'expires soon: .* in (19|20) days'
says '^verdict: OK, with warnings'
hk_cli cert show "$C/good.crt" --key "$C/mx.key" >"$OUT" 2>&1
assert_eq 1 $? "cert show with the wrong key"
says 'key mismatch: .*mx.key does not belong to the certificate'
hk_cli cert show "$C/expired.crt" >"$OUT" 2>&1
assert_eq 1 $? "cert show of an expired certificate"
says 'certificate expired: CN=localhost expired on 2002-01-01'
hk_cli cert show "$C/ca.der" >"$OUT" 2>&1
assert_eq 1 $? "cert show of DER without --der"
says 'as PEM: it is DER \(add --der\)'
hk_cli cert show "$C/ca.der" --der >/dev/null 2>&1
assert_eq 0 $? "cert show --der"

for f in "$T"/log/sanitizer*; do
	[ -e "$f" ] && { cat "$f" >&2; fail "sanitizer report from hikyaku"; }
done
exit 0
