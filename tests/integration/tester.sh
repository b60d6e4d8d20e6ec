#!/bin/bash
# tester: `hikyaku smtp`, the SMTP session tester.
#   Fed by a pipe: the seed dialogue of smtp-dialogue.txt line by line
#   against the real daemon; STARTTLS + AUTH + a whole message against
#   upstream.py (canned --from/--to, and lines from a pipe); the transcript
#   masks AUTH payloads; one exit status per failed stage (connect, banner,
#   EHLO, TLS verdict, STARTTLS injection, AUTH, MAIL, RCPT, DATA).
#   --remote N takes host, port, TLS mode, CA and credentials from a
#   remotes line; --ssl against an implicit-TLS upstream, and against a
#   port that hangs up in the handshake (the "does the port speak implicit
#   TLS?" verdict); a missing CA file is explained once.
#   In tmux (readline): a typed command gets its reply; Esc and Ctrl-C
#   cancel waits that never end: before the banner (a silent listener),
#   inside the TLS handshake (a peer that stalls after STARTTLS's 220) and
#   during DNS (a resolver that never answers), in `hikyaku smtp` and in
#   the console's Tester, whose status line names the stage it waits in.
#   Also in tmux: the password prompt of --auth without --pass (no echo),
#   the /auth login helper, readline history (Up recalls the last command,
#   never a password) and the console Tester's /remote N.
. "$(dirname "$0")/lib.sh"
need_cmd certtool
hk_certs
C=$HK_CERTS
HK=$top_builddir/hikyaku
PASS='pa#ss0rd'

hk_conf
hk_remotes "# nothing: the daemon keeps what it accepts"

smtp() { # ARGS...: hikyaku smtp with stdin from the caller, bounded
	timeout 60 "$HK" -C "$T/conf" smtp "$@"
}

# A scripted peer (python): MODE silent | banner554 | hangup | inject |
# stall_tls.
peer() {
	local mode=$1 port
	port=$(hk_port)
	rm -f "$T/peer-$mode.log"	# a second peer of a mode waits for its own "ready"
	hk_bg "peer-$mode" "$PY" -c '
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(5)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    if mode == "silent":
        continue                 # accept, never speak
    if mode == "hangup":         # reads the ClientHello, closes: no TLS
        c.recv(4096)
        c.close()
        continue
    if mode == "banner554":
        c.sendall(b"554 5.3.2 not today\r\n")
        c.close()
        continue
    c.sendall(b"220 peer.test ESMTP\r\n")
    f = c.makefile("rb")
    while True:
        l = f.readline()
        if not l:
            break
        v = l.strip().upper()
        if v.startswith(b"EHLO"):
            c.sendall(b"250-peer.test\r\n250 STARTTLS\r\n")
        elif v == b"STARTTLS" and mode == "inject":
            c.sendall(b"220 go ahead\r\n250 injected\r\n")
        elif v == b"STARTTLS":
            c.sendall(b"220 go ahead\r\n")
            time.sleep(3600)     # the ClientHello is never answered
        else:
            c.sendall(b"250 ok\r\n")
' "$mode" "$port"
	wait_for 10 grep -q ready "$T/peer-$mode.log" || fail "peer $mode did not start"
	PEER_PORT=$port
}

expect_exit() { # WANT WHAT: the status of the last smtp run
	[ "$rc" = "$1" ] || { cat "$T/out" >&2; fail "$2: exit $rc, want $1"; }
}

# ---- the seed dialogue, line by line, against the real daemon --------
hk_start
rc=0
sed -n '/^HELO/,$p' /work/shared/examples/smtp-dialogue.txt 2>/dev/null |
	grep -v '^[2-5][0-9][0-9] ' >"$T/seed.txt"
# Without the shared examples: the same lines, from the issue.
[ -s "$T/seed.txt" ] || printf '%s\n' 'HELO client-host' \
	'MAIL From: sender@example.org' 'RCPT To: rcpt@example.com' DATA \
	'To: rcpt@example.com' 'Subject: This is test mail.' \
	'This is test mail from Mac OS X.' . QUIT >"$T/seed.txt"
smtp "127.0.0.1:$HK_PORT" --transcript "$T/seed.tr" <"$T/seed.txt" >"$T/out" 2>&1 || rc=$?
expect_exit 0 "seed dialogue"
for re in '^S: 220 ' '^C: HELO client-host' '^S: 250 ' '^C: MAIL From: sender@example.org' \
	'^S: 354 ' '^C: This is test mail from Mac OS X.' '^C: \.$' '^S: 250 .*' '^S: 221 '; do
	assert_grep "$re" "$T/out" "seed dialogue output"
	assert_grep "$re" "$T/seed.tr" "seed dialogue transcript"
done

# MAIL refused by the daemon (source route / % hack): the MAIL status.
rc=0
printf 'EHLO client\nMAIL FROM:<a%%b@c.example>\nRCPT TO:<x@example.com>\n' |
	smtp "127.0.0.1:$HK_PORT" >"$T/out" 2>&1 || rc=$?
expect_exit 8 "MAIL refused"
assert_no_grep '^C: RCPT' "$T/out" "a pipe stops at the first failed stage"
hk_stop || fail "daemon stop"

# ---- STARTTLS and AUTH against upstream.py ----------------------------
upstream_start up --tls-cert "$C/server.crt" --tls-key "$C/server.key" \
	--require-tls --auth "hkuser:$PASS" --reply-rcpt 'nobody@example.net=550 5.1.1 no such user'
UP=$UP_PORT_up
tlsopts=(--starttls --cafile "$C/ca.crt" --servername localhost)

rc=0
smtp "127.0.0.1:$UP" "${tlsopts[@]}" --auth hkuser --pass="$PASS" --mech PLAIN \
	--from sender@example.org --to rcpt@example.net --transcript "$T/full.tr" \
	</dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 0 "canned transaction with STARTTLS and AUTH"
upstream_has up 1 || fail "upstream got no message"
assert_grep '^\* verdict: OK' "$T/out" "certificate verdict, a * note"
assert_no_grep '^[^CS*]|^[CS][^:]' "$T/out" "every line C:, S: or *"
assert_grep '^C: AUTH PLAIN \*\*\*\*$' "$T/full.tr" "masked AUTH PLAIN"
assert_grep '^S: 235 ' "$T/full.tr"
assert_grep '^S: 250 .*queued' "$T/full.tr"
b64=$(printf '\0hkuser\0%s' "$PASS" | base64)
assert_no_grep "$PASS|$b64" "$T/full.tr" "transcript"
assert_no_grep "$PASS|$b64" "$T/out" "output"
[ "$(stat -c %a "$T/full.tr")" = 600 ] || fail "transcript mode $(stat -c %a "$T/full.tr")"

# The same by hand through a pipe: STARTTLS typed, AUTH LOGIN answered
# line by line (the answers are masked), then the seed dialogue.
rc=0
user64=$(printf hkuser | base64)
pass64=$(printf '%s' "$PASS" | base64)
printf '%s\n' 'EHLO client-host' STARTTLS 'EHLO client-host' 'AUTH LOGIN' "$user64" "$pass64" \
	'MAIL From: sender@example.org' 'RCPT To: rcpt@example.net' DATA \
	'Subject: This is test mail.' '' 'typed by hand' . QUIT |
	smtp "127.0.0.1:$UP" --cafile "$C/ca.crt" --servername localhost \
	--transcript "$T/hand.tr" >"$T/out" 2>&1 || rc=$?
expect_exit 0 "STARTTLS and AUTH LOGIN typed through a pipe"
upstream_has up 2 || fail "upstream got no second message"
assert_grep '^\* TLS established' "$T/out"
assert_grep '^\* verdict: OK' "$T/out" "the verdict after STARTTLS, a * note"
assert_no_grep '^[^CS*]|^[CS][^:]' "$T/out" "every piped line C:, S: or *"
assert_grep '^S: 235 ' "$T/hand.tr"
assert_no_grep "$pass64|$PASS" "$T/hand.tr" "hand transcript"
[ "$(grep -c '^C: \*\*\*\*$' "$T/hand.tr")" = 2 ] || fail "LOGIN answers not masked"

# Exit status per failed stage.
rc=0
smtp "127.0.0.1:$UP" "${tlsopts[@]}" --auth hkuser --pass=wrong \
	--from a@example.org --to b@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 7 "wrong password"
assert_grep '^S: 535 ' "$T/out"

rc=0
smtp "127.0.0.1:$UP" "${tlsopts[@]}" --auth hkuser --pass="$PASS" \
	--from a@example.org --to nobody@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 9 "RCPT refused"

rc=0
smtp "127.0.0.1:$UP" --starttls --cafile "$C/other-ca.crt" --servername localhost \
	--from a@example.org --to b@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 6 "certificate from an unknown CA"
assert_grep '^\* verdict: .*problem' "$T/out" "the verdict"
assert_grep 'other-ca.crt' "$T/out" "the verdict names the CA file"

rc=0
smtp "127.0.0.1:$UP" --starttls --cafile "$C/other-ca.crt" --servername localhost --insecure \
	--stop-after tls </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 0 "--insecure goes on after a bad verdict"

rc=0
smtp "127.0.0.1:$UP" "${tlsopts[@]}" --auth hkuser --pass="$PASS" --stop-after auth \
	--from a@example.org --to b@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 0 "--stop-after auth"
assert_no_grep '^C: MAIL' "$T/out" "--stop-after auth"
assert_grep '^C: QUIT' "$T/out"

upstream_start data --reply-data '554 5.6.0 content rejected'
rc=0
smtp "127.0.0.1:$UP_PORT_data" --from a@example.org --to b@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 10 "DATA refused"

rc=0
smtp "127.0.0.1:$HK_DEAD_PORT" --from a@example.org --to b@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 3 "connection refused"

peer banner554
rc=0
smtp "127.0.0.1:$PEER_PORT" --from a@example.org --to b@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 4 "554 greeting"

peer inject
rc=0
printf 'EHLO x\nSTARTTLS\nMAIL FROM:<a@example.org>\n' |
	smtp "127.0.0.1:$PEER_PORT" --cafile "$C/ca.crt" >"$T/out" 2>&1 || rc=$?
expect_exit 6 "bytes after STARTTLS's 220"
assert_grep 'injection' "$T/out"
assert_no_grep '^C: MAIL' "$T/out" "after the injection"

rc=0
printf 'EHLO\nMAIL FROM:<a@example.org>\n' | smtp "127.0.0.1:$UP" >"$T/out" 2>&1 || rc=$?
expect_exit 5 "EHLO without a name"

# --remote N: everything from the remotes line. The CA must come from it
# (the system bundle lacks the test CA) and so must the credentials.
hk_remotes "# the upstream" \
	"127.0.0.1 smtp --port=$UP --starttls --user=hkuser --pass=$PASS --x509cafile=$C/ca.crt"
n_up=$(upstream_count up)
rc=0
smtp --remote 2 --from sender@example.org --to rcpt@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 0 "--remote 2"
assert_grep "^\* connected to 127\.0\.0\.1 port $UP\$" "$T/out" "--remote 2: host and port"
assert_grep '^C: STARTTLS' "$T/out" "--remote 2: TLS mode"
assert_grep '^\* verdict: OK' "$T/out" "--remote 2: the line's CA file"
assert_grep '^C: AUTH [A-Z0-9-]+' "$T/out" "--remote 2: credentials"
assert_grep '^S: 235 ' "$T/out" "--remote 2: AUTH accepted"
assert_no_grep "$PASS" "$T/out" "--remote 2 output"
wait_for 10 upstream_has up $((n_up + 1)) || fail "--remote 2: upstream got no message"
rc=0
smtp --remote 1 </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 1 "--remote on a comment line"
assert_grep 'no remote on line 1' "$T/out" "--remote on a comment line"

# --ssl: TLS from the first byte, then the greeting under TLS.
upstream_start smtps --ssl --tls-cert "$C/server.crt" --tls-key "$C/server.key" --auth "hkuser:$PASS"
rc=0
smtp "127.0.0.1:$UP_PORT_smtps" --ssl --cafile "$C/ca.crt" --auth hkuser --pass="$PASS" \
	--from sender@example.org --to rcpt@example.net </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 0 "--ssl against an implicit-TLS upstream"
assert_no_grep '^C: STARTTLS' "$T/out" "--ssl"
tls_at=$(grep -n '^\* TLS established' "$T/out" | head -1 | cut -d: -f1)
greet_at=$(grep -n '^S: 220 ' "$T/out" | head -1 | cut -d: -f1)
[ -n "$tls_at" ] && [ -n "$greet_at" ] && [ "$tls_at" -lt "$greet_at" ] ||
	{ cat "$T/out" >&2; fail "--ssl: the greeting did not come under TLS"; }
assert_grep '^S: 235 ' "$T/out" "--ssl: AUTH"
wait_for 10 upstream_has smtps 1 || fail "--ssl: upstream got no message"

# --ssl against a port that hangs up in the handshake without a TLS alert.
peer hangup
rc=0
smtp "127.0.0.1:$PEER_PORT" --ssl --cafile "$C/ca.crt" </dev/null >"$T/out" 2>&1 || rc=$?
expect_exit 6 "--ssl against a port that hangs up"
assert_grep "^\* TLS: no TLS on port $PEER_PORT: the server closed the connection during the TLS handshake \(does the port speak implicit TLS\? --ssl is usually port 465\); fix: on the command line, keep --ssl" \
	"$T/out" "--ssl hang-up verdict"

# A CA file this test reads but the daemon's user (hikyaku.conf `user`)
# cannot: the session works, and the tester names the file for the daemon
# before the handshake, with the fix.
if [ "$HK_ROOT" = 1 ]; then
	cp "$C/ca.crt" "$T/private-ca.crt"
	chmod 600 "$T/private-ca.crt"
	rc=0
	printf 'QUIT\n' | smtp "127.0.0.1:$UP" --starttls \
		--cafile "$T/private-ca.crt" --servername localhost \
		>"$T/out" 2>&1 || rc=$?
	expect_exit 0 "a CA file only root reads"
	assert_grep "^\* for the daemon's user $HK_USER: 1 problem\$" "$T/out" \
		"the files' verdict says whose it is"
	assert_grep "^\* .*CA file $T/private-ca\.crt \(mode 0600\) is not readable by user $HK_USER, which the daemon runs as\$" \
		"$T/out" "the daemon's user cannot read the CA file"
	assert_grep "^\* +fix: chmod 0644 $T/private-ca\.crt " "$T/out" "the fix"
	assert_grep '^\* verdict: OK' "$T/out" "the handshake's own verdict"
fi

# A CA file that does not exist is explained once, not in a verdict block
# and again in the error line.
rc=0
printf 'QUIT\n' | smtp "127.0.0.1:$UP" --starttls --x509cafile /nonexistent \
	>"$T/out" 2>"$T/err" || rc=$?
expect_exit 6 "missing CA file"
assert_eq 1 "$(grep -c 'CA file /nonexistent does not exist' "$T/out")" "missing CA file: times said on stdout"
assert_grep '^\* TLS: CA file /nonexistent does not exist; fix: correct the path in --x509cafile' "$T/out" "missing CA file"
assert_eq 1 "$(grep -c 'CA file /nonexistent does not exist' "$T/err")" "missing CA file: times said on stderr"

# ---- interactive, in tmux ------------------------------------------------
hk_check_sanitizer || fail "sanitizer report from hikyaku smtp"
if ! command -v tmux >/dev/null 2>&1; then
	hk_log "tmux not installed: interactive cases skipped"
	exit 0
fi
TM="tmux -L hk-tester-$$"
tm_cleanup() { $TM kill-server 2>/dev/null; }
trap 'tm_cleanup; hk_cleanup' EXIT

# tm_run NAME ARGS...: hikyaku smtp in a fresh tmux window; its exit
# status lands in $T/NAME.rc.
tm_run() {
	local name=$1
	shift
	TS=$name
	$TM -f /dev/null new-session -d -s "$name" -x 100 -y 30 \
		"env TERM=tmux-256color LANG=C.UTF-8 NO_COLOR=1 HOME=$T $HK -C $T/conf smtp $*; echo \$? >$T/$name.rc; sleep 60"
}
screen_has() { $TM capture-pane -p -t "$TS" | grep -Eq -- "$1"; }
tm_wait() { # REGEX WHAT
	wait_for 20 screen_has "$1" || { $TM capture-pane -p -t "$TS" >&2; fail "tmux: $2"; }
}
# console_tester NAME [ROWS]: the console in a fresh tmux window (30 rows
# unless told), on its Tester screen; its exit status lands in $T/NAME.rc.
console_tester() {
	TS=$1
	$TM -f /dev/null new-session -d -s "$1" -x 100 -y "${2:-30}" \
		"env TERM=tmux-256color LANG=C.UTF-8 HOME=$T $HK -C $T/conf 2>>$T/log/console.stderr; echo \$? >$T/$1.rc; sleep 60"
	tm_wait '8 Tester' "$1: the console has no Tester tab"
	$TM send-keys -t "$1" 8
	tm_wait '/remote N' "$1: the Tester screen did not open"
}
tm_rc() { # NAME WANT WHAT
	wait_for 20 test -s "$T/$1.rc" || { $TM capture-pane -p -t "$TS" >&2; fail "$3: did not end"; }
	assert_eq "$2" "$(cat "$T/$1.rc")" "$3 exit status"
}

# A typed command gets its reply; Tab completes a verb; AUTH by helper.
tm_run typed "127.0.0.1:$UP" --cafile "$C/ca.crt" --servername localhost
tm_wait '^220 upstream' "no greeting"
$TM send-keys -t "$TS" 'EH' Tab 'client-host' Enter
tm_wait '^250 HELP' "no EHLO reply"
$TM send-keys -t "$TS" 'STARTTLS' Enter
tm_wait 'TLS established' "no TLS"
$TM send-keys -t "$TS" 'EHLO again' Enter
tm_wait '^250-AUTH' "no AUTH offered after TLS"
# auth_helper_session MECH: /auth MECH hkuser in session $TS, the
# password typed at its prompt (never echoed), the transcript saved to
# $T/$TS.tr, then /quit with status 0; the transcript holds no password.
auth_helper_session() {
	$TM send-keys -t "$TS" "/auth $1 hkuser" Enter
	tm_wait 'password for hkuser' "$TS: /auth $1: no password prompt"
	$TM send-keys -t "$TS" "$PASS" Enter
	tm_wait '^235 ' "$TS: AUTH $1 by helper failed"
	screen_has "$PASS" && fail "$TS: /auth $1: the password was echoed"
	$TM send-keys -t "$TS" "/save $T/$TS.tr" Enter
	tm_wait 'saved' "$TS: transcript not saved"
	$TM send-keys -t "$TS" '/quit' Enter
	tm_rc "$TS" 0 "$TS: interactive session"
	assert_no_grep "$PASS|$(printf '%s' "$PASS" | base64)" "$T/$TS.tr" "$TS: transcript"
}
auth_helper_session plain
assert_grep '^C: AUTH PLAIN \*\*\*\*' "$T/typed.tr"

# --auth without --pass asks for the password before connecting, without
# echo; the history recalls commands (Up) but never the password.
tm_run pw "127.0.0.1:$UP" --starttls --cafile "$C/ca.crt" --servername localhost --auth hkuser
tm_wait 'password for hkuser' "--auth without --pass: no prompt"
$TM send-keys -t "$TS" "$PASS"
screen_has "$PASS" && fail "--auth: the password was echoed"
$TM send-keys -t "$TS" Enter
tm_wait '^235 ' "--auth with the prompted password failed"
screen_count() { $TM capture-pane -p -t "$TS" | grep -Ec -- "$1"; }
$TM send-keys -t "$TS" 'HELP' Enter
tm_wait '^250 Supported commands' "no reply to HELP"
$TM send-keys -t "$TS" Up
# The input line (the last one written) holds the recalled command.
input_line() { $TM capture-pane -p -t "$TS" | grep -v '^ *$' | tail -1; }
wait_for 20 eval 'input_line | grep -q "HELP\$"' ||
	{ $TM capture-pane -p -t "$TS" >&2; fail "Up did not recall HELP"; }
$TM send-keys -t "$TS" Enter
wait_for 20 eval '[ "$(screen_count "^250 Supported commands")" = 2 ]' ||
	{ $TM capture-pane -p -t "$TS" >&2; fail "Up + Enter did not send HELP again"; }
# Up to the oldest entry; the Z typed after it shows the keys were read.
$TM send-keys -t "$TS" Up Up Up Up Z
wait_for 20 eval 'input_line | grep -q "Z\$"' ||
	{ $TM capture-pane -p -t "$TS" >&2; fail "Up Up Up Up: keys not read"; }
screen_has "$PASS" && fail "the history holds the password"
$TM send-keys -t "$TS" C-u '/quit' Enter
tm_rc pw 0 "prompted password session"

# The /auth login helper: LOGIN's two answers are sent and masked.
tm_run login "127.0.0.1:$UP" --starttls --cafile "$C/ca.crt" --servername localhost
tm_wait 'TLS established' "login: no TLS"
tm_wait '^250-AUTH' "login: no AUTH offered after TLS"
auth_helper_session login
assert_grep '^C: AUTH LOGIN' "$T/login.tr" "/auth login transcript"
assert_eq 2 "$(grep -c '^C: \*\*\*\*$' "$T/login.tr")" "/auth login: masked answers"

# The console's Tester screen (8): STARTTLS, AUTH with the masked
# password field, the canned transaction, the transcript saved masked.
n_up=$(ls "$T/up-up"/*.eml | wc -l)
console_tester console
$TM send-keys -t console "/connect 127.0.0.1:$UP --starttls --cafile $C/ca.crt --servername localhost" Enter
tm_wait 'TLS established' "console: no TLS"
tm_wait '^250-AUTH' "console: no EHLO after TLS"
$TM send-keys -t console '/auth plain hkuser' Enter
tm_wait 'password for hkuser' "console: no password field"
$TM send-keys -t console "$PASS"
tm_wait 'password for hkuser: \*{8}' "console: password not masked"
$TM send-keys -t console Enter
tm_wait '^235 ' "console: AUTH failed"
$TM send-keys -t console '/send sender@example.org rcpt@example.net' Enter
tm_wait '^250 .*queued' "console: message not accepted"
screen_has "$PASS" && fail "console: the password is on the screen"
$TM send-keys -t console "/save $T/console.tr" Enter
tm_wait 'transcript saved' "console: transcript not saved"
assert_no_grep "$PASS" "$T/console.tr" "console transcript"
assert_grep '^C: AUTH PLAIN \*\*\*\*$' "$T/console.tr"
wait_for 10 upstream_has up $((n_up + 1)) || fail "console: upstream got no message"
# Waiting for a banner that never comes, the footer offers Esc once.
peer silent
$TM send-keys -t console "/connect 127.0.0.1:$PEER_PORT" Enter
tm_wait "connected to 127.0.0.1 port $PEER_PORT" "console: no connect to the silent listener"
tm_wait 'waiting for the banner\.\.\. [0-9]+s \(Esc cancels\)' "console: the wait is not shown"
[ "$($TM capture-pane -p -t console | tail -1 | grep -o 'Esc cancel' | wc -l)" = 1 ] ||
	fail "console: the footer does not offer Esc exactly once: $($TM capture-pane -p -t console | tail -1)"
$TM send-keys -t console Escape
tm_wait 'cancelled while waiting \(banner\)' "console: Esc did not cancel the banner wait"
$TM send-keys -t console M-1
$TM send-keys -t console q
wait_for 20 test -s "$T/console.rc" || fail "console did not quit"

# /remote N: the session is prefilled from remotes line 2 (host, port,
# STARTTLS, the CA file and the credentials, which log in by themselves).
# A tall window keeps the whole session on the screen.
console_tester remote 70
$TM send-keys -t remote '/remote 2' Enter
tm_wait '^235 ' "console: /remote 2 did not log in with the line's credentials"
tm_wait "remotes line 2: 127\\.0\\.0\\.1 port $UP STARTTLS with AUTH" "console: /remote 2 not prefilled"
tm_wait "connected to 127\\.0\\.0\\.1 port $UP" "console: /remote 2 did not connect"
tm_wait '^> STARTTLS$' "console: /remote 2 did not start TLS"
tm_wait 'verdict: OK' "console: /remote 2 did not use the line's CA file"
screen_has "$PASS" && fail "console: /remote 2 shows the password"
$TM send-keys -t remote M-1
$TM send-keys -t remote q
wait_for 20 test -s "$T/remote.rc" || fail "console (/remote) did not quit"

# Esc before the banner: the listener that never speaks (started above).
tm_run silent "127.0.0.1:$PEER_PORT"
tm_wait "connected to 127.0.0.1" "no connect to the silent listener"
$TM send-keys -t "$TS" Escape
tm_wait 'cancelled while waiting \(banner\)' "Esc did not cancel the banner wait"
$TM send-keys -t "$TS" '/quit' Enter
tm_rc silent 4 "cancelled banner"

# Ctrl-C inside a TLS handshake that never ends.
peer stall_tls
tm_run stall "127.0.0.1:$PEER_PORT" --starttls --cafile "$C/ca.crt"
tm_wait 'TLS handshake with' "no handshake started"
$TM send-keys -t "$TS" C-c
tm_wait 'cancelled while waiting \(tls\)' "Ctrl-C did not cancel the handshake"
$TM send-keys -t "$TS" C-d
tm_rc stall 6 "cancelled handshake"

# Esc during DNS: the configured resolver reads queries and never answers.
DNS_PORT=$(hk_port)
hk_bg blackhole-dns "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    s.recvfrom(4096)
' "$DNS_PORT"
wait_for 10 grep -q ready "$T/blackhole-dns.log" || fail "blackhole resolver did not start"
hk_conf "resolver = 127.0.0.1:$DNS_PORT"
tm_run dns "mail.example.test:25"
tm_wait 'resolving mail.example.test' "no DNS lookup"
$TM send-keys -t "$TS" Escape
tm_wait 'cancelled while waiting \(connect\)' "Esc did not cancel DNS"
$TM send-keys -t "$TS" '/quit' Enter
tm_rc dns 3 "cancelled DNS"

# The console's Tester, started with that resolver: Esc cancels the wait
# during DNS and inside a TLS handshake, and the status line names the
# stage it waits in.
console_tester console2
# esc_cancels COMMAND LABEL STAGE: COMMAND starts a wait the status line
# calls LABEL; Esc ends it as a failure of STAGE.
esc_cancels() {
	$TM send-keys -t console2 "$1" Enter
	tm_wait "$2\\.\\.\\. [0-9]+s \\(Esc cancels\\)" "console: the wait for $2 is not shown"
	$TM send-keys -t console2 Escape
	tm_wait "cancelled while waiting \\($3\\)" "console: Esc did not cancel $2"
	tm_wait "cancelled: $2" "console: the status line does not say $2 was cancelled"
}
esc_cancels "/connect mail.example.test:25" resolving connect
# A peer of its own: the one above still stalls the first session.
peer stall_tls
esc_cancels "/connect 127.0.0.1:$PEER_PORT --starttls --cafile $C/ca.crt" \
	'TLS handshake' tls
$TM send-keys -t console2 M-1
$TM send-keys -t console2 q
wait_for 20 test -s "$T/console2.rc" || fail "console (resolver) did not quit"
assert_eq 0 "$(cat "$T/console2.rc")" "console exit status"
if grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$T/log/console.stderr"; then
	cat "$T/log/console.stderr" >&2
	fail "the console reported a sanitizer error"
fi
hk_check_sanitizer || fail "sanitizer report from hikyaku smtp"
exit 0
