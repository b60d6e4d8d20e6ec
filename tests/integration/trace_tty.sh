#!/bin/bash
# trace_tty: the tracer's readline front ends on a real terminal (tmux).
#   - `hikyaku-sendmail -bt` on the seed examples: the banner and prompt,
#     `/parse ADDR` answered with the rule, Up recalls the line (history),
#     readline editing of the recalled line, Ctrl-D ends with status 0;
#   - `hikyaku trace --session --client 192.0.2.1`: typed EHLO, MAIL and
#     RCPT get the daemon's (hikyakud -bh) replies with the rules behind
#     them, Up recalls a command, Ctrl-D ends the session cleanly.
. "$(dirname "$0")/lib.sh"
need_cmd tmux

EX=${HK_EXAMPLES:-$top_srcdir/../shared/examples}
[ -d "$EX" ] || EX=/work/shared/examples
[ -f "$EX/access" ] || skip "no seed examples at $EX"
mkdir -p "$T/ex"
for f in access aliases local-host-names transport sasl_passwd remotes; do
	cp "$EX/$f" "$T/ex/$f"
done
echo "me = mail.example.jp" >"$T/ex/hikyaku.conf"

# count REGEX: lines of the screen matching it.
count() { screen | grep -Ec -- "$1"; }
# last_line_is TEXT: the last non-empty row of the screen is TEXT.
last_line_is() { [ "$(screen | sed '/^ *$/d' | tail -n 1 | sed 's/ *$//')" = "$1" ]; }
# see_count N REGEX: wait until N lines of the screen match it.
see_count() {
	local n=0
	while [ "$(count "$2")" != "$1" ]; do
		n=$((n + 1))
		if [ $n -ge 100 ]; then
			screen >&2
			fail "the screen has $(count "$2") lines matching /$2/, want $1"
		fi
		sleep 0.1
	done
}
# ended NAME: the program in the pane exited; its status is in $T/NAME.rc.
ended() { test -s "$T/$1.rc"; }

# --- hikyaku-sendmail -bt ----------------------------------------------
tmux_start 120 40 \
	"env TERM=tmux-256color HIKYAKU_CONFIG_DIR='$T/ex' '$top_builddir/hikyaku-sendmail' -bt 2>'$T/log/bt.stderr'; echo \$? >'$T/bt.rc'; sleep 60" ||
	fail "tmux did not start"
see '^ADDRESS TEST MODE'
wait_for 10 last_line_is '>' || fail "no prompt: $(screen)"

keys '/parse user@foo.com' Enter
FOO='^mailer smtp, host \[mail\.foo\.com\]:25, user user@foo\.com +rule=transport:3$'
see "$FOO"
see 'transport "foo.com" matches: smtp:\[mail\.foo\.com\] +\[transport:3\]'
wait_for 10 last_line_is '>' || fail "no prompt after the trace: $(screen)"

# Up recalls the line; Enter runs it again.
keys Up
wait_for 10 last_line_is '> /parse user@foo.com' ||
	fail "Up did not recall the line: $(screen)"
keys Enter
see_count 2 "$FOO"

# Up, then edit the recalled line: foo.com becomes bar.co.jp.
keys Up
wait_for 10 last_line_is '> /parse user@foo.com' || fail "Up (2): $(screen)"
keys BSpace BSpace BSpace BSpace BSpace BSpace BSpace 'bar.co.jp' Enter
see '^mailer smtp, host \[mx\.bar\.co\.jp\]:25, user user@bar\.co\.jp +rule=transport:4$'
see_count 2 "$FOO"

# A local name: the alias tree and its line.
keys '/parse project3@example.jp' Enter
see '^mailer prog, user "\|/usr/local/bin/procmail" +rule=aliases:6$'

# Ctrl-D at an empty prompt ends with status 0.
wait_for 10 last_line_is '>' || fail "no prompt before Ctrl-D: $(screen)"
keys C-d
wait_for 10 ended bt || fail "-bt did not end on Ctrl-D: $(screen)"
assert_eq 0 "$(cat "$T/bt.rc")" "exit status of -bt after Ctrl-D"
assert_no_grep 'Sanitizer|runtime error' "$T/log/bt.stderr" "-bt stderr"

# --- hikyaku trace --session -------------------------------------------
hk_conf
cat >"$T/conf/access" <<'EOF'
# trace_tty: a client that may send, not relay; one refused sender and one
# refused recipient
Connect:192.0.2	OK
From:spam@bad.example	REJECT
To:gone@relay.test	ERROR:550 5.1.1 gone away
EOF
chmod 644 "$T/conf/access"
tmux_start 120 50 \
	"env TERM=tmux-256color HIKYAKUD='$top_builddir/hikyakud' '$top_builddir/hikyaku' -C '$T/conf' trace --session --client 192.0.2.1 2>'$T/log/session.stderr'; echo \$? >'$T/session.rc'; sleep 60" ||
	fail "tmux did not start (session)"
see '^SMTP session as client 192\.0\.2\.1'
see '^>>> access Connect: 192\.0\.2\.1: "Connect:192\.0\.2" OK +\[access:3\]'
see '^220 relay\.test '
wait_for 10 last_line_is 'smtp>' || fail "no smtp> prompt: $(screen)"

keys 'EHLO client.test' Enter
see '^250 SMTPUTF8'
wait_for 10 last_line_is 'smtp>' || fail "no prompt after EHLO: $(screen)"
keys 'MAIL FROM:<a@b.example>' Enter
see '^250 2\.1\.0 '
keys 'RCPT TO:<v@remote.example>' Enter
see '^554 5\.7\.1 <v@remote\.example>: Relay access denied'
see '^>>> relay to remote\.example: relaying denied +\[access:3\]'
keys 'RCPT TO:<gone@relay.test>' Enter
see '^550 5\.1\.1 gone away'
see '^>>> access To: <gone@relay\.test>: "To:gone@relay\.test" ERROR +\[access:5\]'
see '^>>> rule: access:5$'
wait_for 10 last_line_is 'smtp>' || fail "no prompt after RCPT: $(screen)"

# Up recalls the last command; the daemon answers it again.
keys Up
wait_for 10 last_line_is 'smtp> RCPT TO:<gone@relay.test>' ||
	fail "Up did not recall the RCPT line: $(screen)"
keys Enter
see_count 2 '^550 5\.1\.1 gone away'

# Ctrl-D mid-session: the daemon sees the end, nothing is queued, status 0.
wait_for 10 last_line_is 'smtp>' || fail "no prompt before Ctrl-D: $(screen)"
keys C-d
wait_for 10 ended session || fail "the session did not end on Ctrl-D: $(screen)"
assert_eq 0 "$(cat "$T/session.rc")" "exit status of trace --session after Ctrl-D"
assert_no_grep 'Sanitizer|runtime error' "$T/log/session.stderr" "trace --session stderr"
[ -n "$(ls -A "$T/spool" 2>/dev/null)" ] && fail "the session wrote into the spool: $(ls -R "$T/spool")"
exit 0
