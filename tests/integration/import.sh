#!/bin/bash
# import: `hikyaku import postfix|authinfo` turns the seed examples
# (postfix-main.cf, authinfo) into hikyaku's files with the same meaning,
# appends with a comment naming the source, keeps every other line of an
# existing file byte for byte, leaves FILE~ backups, changes nothing with
# --dry-run or when the result would not validate, and the result passes
# `config check` and routes as Postfix would (`trace`). No daemon.
. "$(dirname "$0")/lib.sh"

EX=${HK_EXAMPLES:-$top_srcdir/../shared/examples}
[ -d "$EX" ] || EX=/work/shared/examples
[ -f "$EX/postfix-main.cf" ] && [ -f "$EX/authinfo" ] ||
	skip "no seed examples at $EX"

hk() { timeout 30 "$top_builddir/hikyaku" -C "$1" "${@:2}" </dev/null; }
# Every file of a config dir with its mode: a dry run must not change it.
snapshot() { (cd "$1" && for f in * .[!.]*; do [ -e "$f" ] &&
	printf '%s %s\n' "$(stat -c %a "$f")" "$(sha256sum <"$f")"; done) 2>/dev/null; }

# --- main.cf with its tables beside it (paths rewritten to the sandbox) ---
P=$T/pf
mkdir -p "$P"
sed "s#/etc/postfix/#$P/#" "$EX/postfix-main.cf" >"$P/main.cf"
printf '[submission.example.org]:587 relayuser:s3cret#1\n' >"$P/relay_password"
printf 'example.net smtp:[mx.example.net]:2525\nrelayed.example smtp:[submission.example.org]:587\n' >"$P/transport"
C=$T/conf
printf '# my relay\nuser = %s\n\n   me   =  old.example.jp   # keep\n' "$HK_USER" >"$C/hikyaku.conf"
printf '# older route\nold.example   smtp:[10.1.2.3]\n' >"$C/transport"
cp "$C/hikyaku.conf" "$T/conf.orig"
cp "$C/transport" "$T/transport.orig"

before=$(snapshot "$C")
hk "$C" import postfix "$P/main.cf" --dry-run >"$T/dry" 2>&1 ||
	fail "import --dry-run failed: $(cat "$T/dry")"
assert_eq "$before" "$(snapshot "$C")" "config dir after --dry-run"
[ -e "$C/transport~" ] && fail "--dry-run left a backup"
assert_grep '^dry run: nothing written$' "$T/dry"
assert_grep '/remotes: would append:$' "$T/dry"
assert_grep '^submission\.example\.org smtp --port=587 --starttls --x509cafile=/etc/pki/tls/certs/ca-bundle\.crt$' "$T/dry" "dry-run remotes line"

hk "$C" import postfix "$P/main.cf" >"$T/out" 2>&1 ||
	fail "import postfix failed: $(cat "$T/out")"
# Every line of the example is accounted for.
for n in 2 3 4 5 6 7 8; do
	assert_grep "^$P/main.cf:$n: " "$T/out" "report of main.cf line $n"
done
assert_grep 'main.cf:3: smtp_sasl_auth_enable = yes: not needed in hikyaku: ' "$T/out"
assert_grep 'main.cf:5: smtp_sasl_security_options = noanonymous: not needed in hikyaku: ' "$T/out"
assert_grep 'main.cf:6: smtp_tls_security_level = may -> hikyaku.conf: smtp_tls = may' "$T/out"
assert_grep '^config check: ok' "$T/out"
assert_grep 'hikyaku reload' "$T/out"

assert_eq "# imported from $P/main.cf line 2 (relayhost) by hikyaku import
submission.example.org smtp --port=587 --starttls --x509cafile=/etc/pki/tls/certs/ca-bundle.crt" \
	"$(cat "$C/remotes")" "remotes"
assert_eq "[submission.example.org]:587 relayuser:s3cret#1" "$(grep -v '^#' "$C/sasl_passwd")" "sasl_passwd"
assert_grep "^# imported from $P/main.cf line 4 \(smtp_sasl_password_maps" "$C/sasl_passwd"
assert_eq 640 "$(stat -c %a "$C/sasl_passwd")" "sasl_passwd mode"
# Appended after the old lines, which stay byte for byte; backup kept.
assert_eq "$(cat "$T/transport.orig")" "$(head -n 2 "$C/transport")" "old transport lines"
assert_eq "# imported from $P/main.cf line 8 (transport_maps, the text source of hash:$P/transport) by hikyaku import
example.net smtp:[mx.example.net]:2525
relayed.example smtp:[submission.example.org]:587" "$(tail -n +3 "$C/transport")" "appended transport"
cmp -s "$T/transport.orig" "$C/transport~" || fail "transport~ is not the previous version"
# smtp_tls = may is hikyaku's default: hikyaku.conf untouched.
cmp -s "$T/conf.orig" "$C/hikyaku.conf" || fail "hikyaku.conf changed: $(cat "$C/hikyaku.conf")"

hk "$C" config check >"$T/check" 2>&1 || fail "config check after import: $(cat "$T/check")"

# Routes as Postfix would: other domains to the relayhost, transport
# entries to their next hop, credentials from the imported sasl_passwd.
hk "$C" trace someone@example.com >"$T/tr1" 2>&1
assert_grep 'route <someone@example.com>: remotes in order \(1 line\), first submission.example.org:587 +\[remotes\]' "$T/tr1" "trace default route"
assert_grep '^mailer smtp, host \[submission.example.org\]:587 \(remotes, in order\)' "$T/tr1" "trace default route"
assert_grep 'credentials for submission.example.org:587: user relayuser +\[sasl_passwd:2\]' "$T/tr1" "trace default route credentials"
hk "$C" trace x@example.net >"$T/tr2" 2>&1
assert_grep '^mailer smtp, host \[mx.example.net\]:2525, user x@example.net +rule=transport:4$' "$T/tr2" "trace transport"
hk "$C" trace y@relayed.example >"$T/tr3" 2>&1
assert_grep 'credentials for submission.example.org: user relayuser +\[sasl_passwd:2\]' "$T/tr3" "trace credentials"

# --- more of main.cf: continuation lines, $references, hikyaku.conf keys ---
C2=$T/conf2
mkdir -p "$C2"
printf '# site settings\nuser = %s\n  max_message_size=5M\n\n# the name\nme = old.example.jp\nlisten = 127.0.0.1:2525 relay\n' "$HK_USER" >"$C2/hikyaku.conf"
cp "$C2/hikyaku.conf" "$T/conf2.orig"
cat >"$P/main2.cf" <<'EOF'
# a satellite
myhostname = mail.example.jp
mydomain = example.jp
mydestination = $myhostname, localhost.$mydomain, localhost,
    $mydomain
mynetworks = 127.0.0.0/8 [::1]/128 192.168.7.0/24
	[2001:db8::]/32
relayhost = smarthost.example.jp:465
message_size_limit = 20480000
biff = no
EOF
hk "$C2" import postfix "$P/main2.cf" >"$T/out2" 2>&1 || fail "import main2.cf: $(cat "$T/out2")"
assert_grep 'main2.cf:10: not imported: biff = no' "$T/out2"
assert_grep 'main2.cf:4: mydestination: \$myhostname: not needed in hikyaku' "$T/out2"
assert_grep 'main2.cf:6: mynetworks: 127.0.0.0/8: not needed in hikyaku' "$T/out2"
assert_grep 'main2.cf:8: note: without \[ \] Postfix looks up the MX records' "$T/out2"
assert_eq "smarthost.example.jp smtp --port=465 --ssl" "$(grep -v '^#' "$C2/remotes")" "remotes (465)"
assert_eq "example.jp" "$(grep -v '^#' "$C2/local-host-names")" "local-host-names"
assert_eq "Connect:192.168.7.0/24 RELAY
Connect:2001:db8::/32 RELAY" "$(grep -v '^#' "$C2/access")" "access"
# The two keys are replaced where they were; every other line kept.
sed -e 's/^  max_message_size=5M$/max_message_size = 20480000/' \
	-e 's/^me = old.example.jp$/me = mail.example.jp/' "$T/conf2.orig" >"$T/conf2.want"
cmp -s "$T/conf2.want" "$C2/hikyaku.conf" ||
	fail "hikyaku.conf: $(diff "$T/conf2.want" "$C2/hikyaku.conf")"
cmp -s "$T/conf2.orig" "$C2/hikyaku.conf~" || fail "hikyaku.conf~ is not the previous version"
hk "$C2" config check >"$T/check2" 2>&1 || fail "config check (2): $(cat "$T/check2")"
hk "$C2" trace u@example.jp >"$T/tr4" 2>&1
assert_grep 'example.jp.*local' "$T/tr4" "trace mydestination domain"

# --- the example untouched: its tables do not exist here ---
if [ ! -e /etc/postfix/relay_password ] && [ ! -e /etc/postfix/transport ]; then
	C3=$T/conf3
	mkdir -p "$C3"
	hk "$C3" import postfix "$EX/postfix-main.cf" >"$T/out3" 2>&1 ||
		fail "import of the untouched example: $(cat "$T/out3")"
	assert_grep 'main.cf:4: smtp_sasl_password_maps: cannot read /etc/postfix/relay_password: .*copy its lines' "$T/out3"
	assert_grep 'main.cf:8: transport_maps: cannot read /etc/postfix/transport: .*copy its lines' "$T/out3"
	assert_grep '^submission\.example\.org smtp --port=587 --starttls' "$C3/remotes" "remotes (untouched example)"
	[ -e "$C3/sasl_passwd" ] && fail "sasl_passwd written without a source"
	[ -e "$C3/hikyaku.conf" ] && fail "hikyaku.conf written with nothing to change"
fi

# --- sendmail authinfo ---
C4=$T/conf4
mkdir -p "$C4"
printf 'user = %s\n' "$HK_USER" >"$C4/hikyaku.conf"
hk "$C4" import authinfo "$EX/authinfo" >"$T/out4" 2>&1 || fail "import authinfo: $(cat "$T/out4")"
assert_eq "smtp.gmail.com user@example.org:password" "$(grep -v '^#' "$C4/sasl_passwd")" "sasl_passwd from authinfo"
assert_grep 'authinfo:3: AuthInfo:smtp.gmail.com replaces line 2' "$T/out4"
assert_grep 'authinfo:2: U:smmsp: not needed in hikyaku' "$T/out4"
assert_grep 'authinfo:2: M:PLAIN: not needed in hikyaku: .*--auth-login' "$T/out4"
assert_eq 640 "$(stat -c %a "$C4/sasl_passwd")" "sasl_passwd mode (authinfo)"
printf 'AuthInfo:mail.example.com:587 "I:bob" "P=c2VjcmV0" "R:corp"\n' >"$T/authinfo2"
hk "$C4" import authinfo "$T/authinfo2" >"$T/out5" 2>&1 || fail "import authinfo2: $(cat "$T/out5")"
assert_eq "smtp.gmail.com user@example.org:password
[mail.example.com]:587 bob:secret" "$(grep -v '^#' "$C4/sasl_passwd")" "sasl_passwd (P= base64)"
assert_eq 640 "$(stat -c %a "$C4/sasl_passwd~")" "sasl_passwd~ mode"
hk "$C4" config check >"$T/check4" 2>&1 || fail "config check (authinfo): $(cat "$T/check4")"

# --- a result that would not validate: refused, nothing written ---
C5=$T/conf5
mkdir -p "$C5"
printf 'relay.example.org qmqp\n' >"$C5/remotes"
before=$(snapshot "$C5")
if hk "$C5" import authinfo "$EX/authinfo" >"$T/out6" 2>&1; then
	fail "import into a config that does not validate succeeded"
fi
assert_grep 'would not validate; nothing written' "$T/out6"
assert_grep "$C5/remotes:1:" "$T/out6" "the problem names the real file"
assert_eq "$before" "$(snapshot "$C5")" "config dir after a refused import"

# --- usage ---
hk "$C" import >/dev/null 2>&1; assert_eq 2 $? "exit status without a kind"
hk "$C" import exim >/dev/null 2>&1; assert_eq 2 $? "exit status for an unknown kind"
hk "$C" import postfix "$T/nonexistent" >/dev/null 2>&1; assert_eq 1 $? "exit status for a missing file"
exit 0
