#!/bin/bash
# relay_diskfull: the spool on a tiny tmpfs. A message that does not fit
# is answered 452 (at MAIL for a declared SIZE, or after DATA when the
# write or sync fails), nothing half-written stays behind, and the daemon
# keeps serving: the next small message is accepted and delivered.
. "$(dirname "$0")/lib.sh"
need_root "mounts a tmpfs for the spool"
need_cmd swaks

mkdir -p "$T/spool"
mount -t tmpfs -o size=1m,mode=755 hk-diskfull "$T/spool" || skip "cannot mount tmpfs"
HK_MOUNTS+=("$T/spool")

upstream_start up
hk_conf "max_message_size = 20M"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

# About 3 MB of base64-sized lines: three times the whole file system.
"$PY" -c 'import sys
line = "A" * 76 + "\r\n"
sys.stdout.write("Subject: too big\r\nMessage-ID: <big@test>\r\n\r\n" + line * 40000)' >"$T/big.eml"
hk_swaks -f sender@example.org -t rcpt@example.net --data "$T/big.eml" >"$T/swaks-big.log" 2>&1
assert_grep '^<\*\* +452' "$T/swaks-big.log" "swaks transcript of the big message (want 452)"
kill -0 "$HK_DAEMON_PID" || fail "daemon died on a full disk"

used=$(df --output=used -k "$T/spool" | tail -n 1)
[ "$used" -lt 512 ] || fail "spool still holds ${used} KiB after the refused message: $(find "$T/spool" -type f -size +100k)"

hk_swaks -f sender@example.org -t rcpt@example.net --header "Message-Id: <small@test>" \
	>"$T/swaks-small.log" 2>&1 || fail "small message after the full disk: $(tail -n 5 "$T/swaks-small.log")"
wait_for 30 upstream_has up 1 || fail "small message not delivered"
grep -q 'small@test' "$T"/up-up/*.eml || fail "wrong message delivered"
assert_eq 1 "$(upstream_count up)" "messages delivered"
hk_stop || fail "daemon stop"
