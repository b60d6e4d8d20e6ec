#!/bin/bash
# session: `hikyakud -bh IP` runs the real session state machine and rules
# on stdin/stdout (nothing queued, nothing bound, no privileges), with the
# rule behind each reply on ">>> " lines; `hikyaku trace --session` drives
# it through a pipe without a prompt.
. "$(dirname "$0")/lib.sh"

hk_conf "adminaddr = admin@example.org"
cat >"$T/conf/access" <<'EOF'
Connect:192.0.2.66	REJECT
From:spam@bad.example	REJECT
To:gone@relay.test	ERROR:550 5.1.1 gone away
10.1.2			RELAY
EOF
chmod 644 "$T/conf/access"
export HIKYAKUD=$top_builddir/hikyakud

# bh IP [ARGS]: stdin to hikyakud -bh, transcript in $T/bh.out
bh() {
	local ip=$1
	shift
	timeout 30 "$top_builddir/hikyakud" -C "$T/conf" -bh "$ip" "$@" >"$T/bh.out" 2>"$T/bh.err"
}
# reply N: the Nth final reply line of the transcript
reply() { grep -E '^[2-5][0-9][0-9]( |$)' "$T/bh.out" | tr -d '\r' | sed -n "${1}p"; }
# rule N: the rule named before the Nth final reply
rule() {
	tr -d '\r' <"$T/bh.out" | awk -v n="$1" '
		/^>>> rule: / { r = substr($0, 11); next }
		/^[2-5][0-9][0-9]( |$)/ { if (++i == n) { print r; exit } r = "" }'
}

printf 'EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@remote.example>\r\nRCPT TO:<postmaster@relay.test>\r\nRCPT TO:<gone@relay.test>\r\nDATA\r\nSubject: t\r\n\r\nhello\r\n.\r\nMAIL FROM:<spam@bad.example>\r\nQUIT\r\n' |
	bh 192.0.2.1 || fail "hikyakud -bh: $(cat "$T/bh.err")"
assert_match '^220 ' "$(reply 1)" "greeting"
assert_match '^250 ' "$(reply 2)" "EHLO"
assert_match '^250 2\.1\.0' "$(reply 3)" "MAIL"
assert_eq '554 5.7.1 <v@remote.example>: Relay access denied' "$(reply 4)" "relay denied"
assert_eq built-in "$(rule 4)" "rule of the relay refusal"
assert_match '^250 2\.1\.5' "$(reply 5)" "local recipient (adminaddr)"
assert_eq '550 5.1.1 gone away' "$(reply 6)" "To: ERROR:"
assert_eq access:3 "$(rule 6)" "rule of To: ERROR:"
assert_match '^354 ' "$(reply 7)" "DATA"
assert_eq '250 2.0.0 Ok: (not queued: -bh)' "$(reply 8)" "end of DATA"
assert_eq '550 5.7.1 Access denied' "$(reply 9)" "From: REJECT"
assert_eq access:2 "$(rule 9)" "rule of From: REJECT"
assert_match '^221 ' "$(reply 10)" "QUIT"
assert_grep '^>>> relay to remote.example: .*\[built-in\]' "$T/bh.out" "engine steps"
[ -n "$(ls -A "$T/spool" 2>/dev/null)" ] && fail "-bh wrote into the spool: $(ls -R "$T/spool")"

# Relay rights from access; Connect: REJECT gives 554 and takes only QUIT.
printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@remote.example>\r\nQUIT\r\n' | bh 10.1.2.3 ||
	fail "-bh 10.1.2.3"
assert_match '^250 2\.1\.5' "$(reply 4)" "RELAY client"
assert_eq access:4 "$(rule 1)" "connect rule of the RELAY client"
printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n' | bh 192.0.2.66 || fail "-bh 192.0.2.66"
assert_eq '554 5.7.1 Access denied' "$(reply 1)" "Connect: REJECT greeting"
assert_eq access:1 "$(rule 1)" "rule of Connect: REJECT"
assert_match '^503 ' "$(reply 2)" "EHLO after a refused greeting"
assert_match '^503 ' "$(reply 3)" "MAIL after a refused greeting"
assert_match '^221 ' "$(reply 4)" "QUIT after a refused greeting"

# As if authenticated; submission without AUTH.
printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@remote.example>\r\nQUIT\r\n' |
	bh 192.0.2.1 -a alice || fail "-bh -a"
assert_match '^250 2\.1\.5' "$(reply 4)" "authenticated relay"
printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n' | bh 192.0.2.1 -m submission || fail "-bh -m"
assert_match '^530 5\.7\.0' "$(reply 3)" "submission without AUTH"

# IP literals: the listener's own address is ours (the address a client
# of this mode reaches, as the tracer judges it), any other is refused.
printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster@[127.0.0.1]>\r\nRCPT TO:<postmaster@[192.0.2.9]>\r\nQUIT\r\n' |
	bh 192.0.2.1 || fail "-bh literals"
assert_match '^250 2\.1\.5' "$(reply 4)" "our own IP literal"
assert_match '^5[0-9][0-9] ' "$(reply 5)" "a foreign IP literal"

# Pipelined smuggling through -bh: one refusal at the real end.
printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster@relay.test>\r\nDATA\r\nhi\n.\nMAIL FROM:<e@x.example>\r\n.\r\nQUIT\r\n' |
	bh 192.0.2.1 || fail "-bh smuggling"
assert_match '^550 5\.5\.2' "$(reply 6)" "smuggling via -bh"
assert_match '^221 ' "$(reply 7)" "smuggling via -bh: nothing ran"

# No privileges: as nobody, the same answers.
if [ $HK_ROOT = 1 ] && command -v setpriv >/dev/null; then
	printf 'EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@remote.example>\r\nQUIT\r\n' |
		setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			"$top_builddir/hikyakud" -C "$T/conf" -bh 192.0.2.1 >"$T/bh.out" 2>"$T/bh.err" ||
		fail "-bh as nobody: $(cat "$T/bh.err")"
	assert_match '^554 5\.7\.1' "$(reply 4)" "-bh as nobody"
fi

# hikyaku trace --session through a pipe: no prompt, lines echoed, rules.
printf 'EHLO c\nMAIL FROM:<a@b.example>\nRCPT TO:<v@remote.example>\nRCPT TO:<gone@relay.test>\nRCPT TO:<postmaster@relay.test>\nDATA\nSubject: x\n\nbody\n.\nQUIT\n' |
	timeout 30 "$top_builddir/hikyaku" -C "$T/conf" trace --session --client 192.0.2.1 >"$T/ts.out" 2>&1 ||
	fail "trace --session: $(cat "$T/ts.out")"
assert_no_grep 'smtp> |data> ' "$T/ts.out" "trace --session without a terminal"
assert_grep '^<<< RCPT TO:<v@remote.example>$' "$T/ts.out" "echoed command"
assert_grep '^554 5\.7\.1 <v@remote.example>: Relay access denied$' "$T/ts.out" "relay refused"
assert_grep '^>>> rule: access:3$' "$T/ts.out" "rule of gone@"
assert_grep '^250 2\.0\.0 Ok: \(not queued: -bh\)$' "$T/ts.out" "DATA"
assert_grep '^221 ' "$T/ts.out" "QUIT"
# The order: each reply follows its command.
awk '/^<<< RCPT TO:<gone@relay.test>/ { c = NR } /^550 5.1.1 gone away/ { r = NR }
	END { exit !(c && r > c) }' "$T/ts.out" || fail "trace --session transcript out of order: $(cat "$T/ts.out")"
printf 'EHLO c\nMAIL FROM:<a@b.example>\nRCPT TO:<v@remote.example>\nQUIT\n' |
	timeout 30 "$top_builddir/hikyaku" -C "$T/conf" trace --session --client 192.0.2.1 --auth alice >"$T/ts2.out" 2>&1 ||
	fail "trace --session --auth: $(cat "$T/ts2.out")"
assert_grep '^250 2\.1\.5' "$T/ts2.out" "trace --session --auth relays"
hk_check_sanitizer || fail "sanitizer report from hikyakud -bh or hikyaku"
exit 0
