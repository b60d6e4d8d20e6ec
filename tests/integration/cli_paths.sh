#!/bin/bash
# cli_paths: paths the CLI tells the admin to use are the ones that work.
# `hikyaku cert new --out DIR` with a relative DIR prints absolute
# tls_cert/tls_key (hikyaku.conf reads relative paths from the config
# directory, not from where the command ran), and the self-signed fix of
# `hikyaku tls check` names the config directory in use, not /etc/hikyaku.
. "$(dirname "$0")/lib.sh"

[ -x "$top_builddir/hikyaku" ] || fail "no $top_builddir/hikyaku (not built?)"
hk_conf
mkdir -p "$T/work/out"

# --- cert new --out with a relative directory ---
out=$(cd "$T/work" && timeout 30 "$top_builddir/hikyaku" -C "$T/conf" cert new \
	--out out --cn localhost 2>&1) || fail "cert new: $out"
assert_match "tls_cert = $T/work/out/server\.crt" "$out" "absolute tls_cert"
assert_match "tls_key = $T/work/out/server\.key" "$out" "absolute tls_key"
[ -s "$T/work/out/server.crt" ] && [ -s "$T/work/out/server.key" ] ||
	fail "cert new wrote no files"
if [ $HK_ROOT = 1 ]; then
	assert_eq "$(id -gn "$HK_USER")" "$(stat -c %G "$T/work/out/server.key")" \
		"group of the new key"
fi

# --- tls check: the self-signed fix names the -C directory ---
hk_bg srv "$PY" "$HK_LIBDIR/tls/smtp_tls_server.py" --mode starttls \
	--cert "$T/work/out/server.crt" --key "$T/work/out/server.key" \
	--portfile "$T/port"
wait_for 10 test -s "$T/port" || fail "TLS server did not start"
out=$(hk_cli tls check "localhost:$(cat "$T/port")" --connect 127.0.0.1 \
	--timeout 5 2>&1)
assert_eq 1 $? "tls check of a self-signed server"
assert_match "self-signed certificate" "$out" "self-signed verdict"
assert_match "fix: .*--save-chain $T/conf/localhost\.pem, then add --x509cafile=$T/conf/localhost\.pem" \
	"$out" "fix names the config directory in use"
case $out in *"/etc/hikyaku"*) fail "fix still names /etc/hikyaku: $out" ;; esac
exit 0
