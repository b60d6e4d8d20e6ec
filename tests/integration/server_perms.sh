#!/bin/bash
# server_perms: the daemon judges its certificate key and users file for
# the user it drops to (nobody here: root ignores file modes) and names
# the exact chgrp/chmod that fixes them. An unreadable key stops an smtps
# listener from starting and takes STARTTLS away elsewhere; a users file
# others can read is a warning.
. "$(dirname "$0")/lib.sh"
need_root "the daemon must drop to nobody for file modes to matter"
need_cmd swaks
hk_certs
C=$HK_CERTS
grp=$(id -gn "$HK_USER")

mkdir -p "$T/tls"
cp "$C/server.crt" "$C/server.key" "$T/tls/"
chmod 644 "$T/tls/server.crt"
chmod 600 "$T/tls/server.key"
chown root:root "$T/tls/server.key"
SMTPS=$(hk_port)
tls=("tls_cert = $T/tls/server.crt" "tls_key = $T/tls/server.key")

# smtps with a key nobody cannot read: no start, and the fix in words.
hk_conf "${tls[@]}" "listen = 127.0.0.1:$SMTPS smtps"
"$top_builddir/hikyakud" -f -C "$T/conf" </dev/null >"$T/log/bad.out" 2>&1 &&
	fail "hikyakud started with an unreadable key on an smtps listener"
fix="fix: chgrp $grp $T/tls/server.key && chmod 0640 $T/tls/server.key"
grep -qF "server key is not readable by user $HK_USER (owner root:root, mode 0600); $fix" \
	"$T/log/hikyaku.log" || fail "no exact fix in the log: $(grep -i key "$T/log/hikyaku.log")"
assert_grep 'smtps listener cannot run without it' "$T/log/hikyaku.log"

# Relay only: the daemon starts, says why STARTTLS is missing.
hk_conf "${tls[@]}"
printf 'pw\n' | "$top_builddir/hikyaku" -C "$T/conf" passwd alice --stdin >/dev/null ||
	fail "hikyaku passwd"
# passwd gave the new file the daemon's group; undo that for the warning.
chgrp root "$T/conf/users"
chmod 644 "$T/conf/users"
hk_start
grep -qF "$fix; STARTTLS is not offered" "$T/log/hikyaku.log" ||
	fail "no STARTTLS warning with the fix: $(grep -i key "$T/log/hikyaku.log")"
grep -qF "users file is readable by everyone (owner root:root, mode 0644); fix: chgrp $grp $T/conf/users && chmod 0640 $T/conf/users" \
	"$T/log/hikyaku.log" || fail "no users file warning: $(grep -i users "$T/log/hikyaku.log")"
hk_swaks --from a@b.example --to r@remote.example --quit-after EHLO >"$T/swaks.log" 2>&1 ||
	fail "swaks: $(tail -5 "$T/swaks.log")"
assert_no_grep 'STARTTLS' "$T/swaks.log" "EHLO without a readable key"

# Fixed as told (and reloaded): STARTTLS comes back.
chgrp "$grp" "$T/tls/server.key"
chmod 0640 "$T/tls/server.key"
hk_cli reload >"$T/reload.log" 2>&1 || fail "reload: $(cat "$T/reload.log")"
hk_swaks --tls --from a@b.example --to r@remote.example >"$T/swaks-tls.log" 2>&1 ||
	fail "STARTTLS after the fix: $(tail -5 "$T/swaks-tls.log")"
hk_stop
exit 0
