#!/bin/bash
# local_maildir: Maildir delivery through the daemon, end to end over
# SMTP (DESIGN §5). With `mailbox_root` set and no adminaddr, a local name
# that no alias takes goes to mailbox_root/NAME when the name exists (a
# directory there, a system user): the whole message lands in new/ (tmp/
# left empty), the name is matched case-blind, the log says so with
# rule=built-in, and `hikyaku trace` names the same Maildir. A name that
# exists nowhere is refused 550 5.1.1 at RCPT, in the daemon and the trace.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

MB=$T/mailboxes
mkdir -p "$MB/alice"
# The daemon delivers as its own user: the root and alice's Maildir are
# its to write (it creates tmp/ new/ cur/ and, for a system user, the
# Maildir itself).
chmod 777 "$MB" "$MB/alice"
hk_conf "mailbox_root = $MB"
printf '# aliases: nobody here is alice\npostmaster: alice\n' >"$T/conf/aliases"
chmod 644 "$T/conf/aliases"
hk_cli config check -q >"$T/check.log" 2>&1 ||
	fail "config check: $(cat "$T/check.log")"
hk_start

# An unknown name: nothing on the system or under mailbox_root.
UNKNOWN=nosuch$$x
getent passwd "$UNKNOWN" >/dev/null && skip "user $UNKNOWN exists here"

hk_swaks -f sender@example.org -t "Alice@relay.test" \
	--header "Subject: maildir test" --header "Message-Id: <maildir-1@test>" \
	--body $'first line of the body\r\n.a line that starts with a dot\r\nthe last line' \
	>"$T/swaks-alice.log" 2>&1 ||
	fail "swaks to alice: $(tail -5 "$T/swaks-alice.log")"

L=$T/log/hikyaku.log
new_has_one() { [ "$(ls "$MB/alice/new" 2>/dev/null | wc -l)" = 1 ]; }
wait_for 30 new_has_one || fail "no message in $MB/alice/new: $(ls -R "$MB")"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
M=$(ls "$MB/alice/new"/*)
[ -d "$MB/alice/cur" ] || fail "no cur/ in the Maildir"
[ -z "$(ls -A "$MB/alice/tmp")" ] || fail "tmp/ not empty: $(ls "$MB/alice/tmp")"
assert_grep "to=<Alice@relay.test>, relay=local, rule=built-in, .*status=sent \\(delivered to Maildir $MB/alice\\)" "$L"

# The full message: what the client sent after DATA (dot unstuffed),
# line for line, below the trace headers the daemon puts on top.
awk '/^<-  354 /{on=1; next} on && /^ -> \.$/{exit} on{sub(/^ -> /, ""); sub(/^\./, ""); print}' \
	"$T/swaks-alice.log" | tr -d '\r' >"$T/sent"
awk 'body || !/^(Return-Path|Delivered-To|Received): |^\t/{body=1; print}' "$M" >"$T/stored"
assert_grep '^\.a line that starts with a dot$' "$T/sent" "the message swaks sent"
cmp -s "$T/sent" "$T/stored" || fail "the Maildir message is not the message sent: $(diff "$T/sent" "$T/stored")"
assert_grep '^Return-Path: <sender@example.org>$' "$M" "Maildir message"
assert_grep '^Delivered-To: ' "$M" "Maildir message"
assert_grep '^Received: from client.test ' "$M" "Maildir message"

# The trace names the same Maildir and the same rule.
hk_cli trace alice@relay.test >"$T/trace-alice" 2>&1 || fail "trace alice: $(cat "$T/trace-alice")"
assert_grep "local user alice: Maildir $MB/alice +\\[built-in\\]" "$T/trace-alice" "trace alice"
assert_grep '^mailer local, user alice +rule=built-in$' "$T/trace-alice" "trace alice"

# An alias to the Maildir name takes the same way; the Maildir is the
# built-in fallback's, in the log and the trace alike (the alias shows
# in orig_to and in the trace's expansion tree).
hk_swaks -f sender@example.org -t postmaster@relay.test \
	--header "Message-Id: <maildir-2@test>" >"$T/swaks-pm.log" 2>&1 ||
	fail "swaks to postmaster: $(tail -5 "$T/swaks-pm.log")"
two_in_new() { [ "$(ls "$MB/alice/new" | wc -l)" = 2 ]; }
wait_for 30 two_in_new || fail "postmaster@ did not reach alice's Maildir"
assert_grep "to=<alice@relay.test>, orig_to=<postmaster@relay.test>, relay=local, rule=built-in, .*status=sent \\(delivered to Maildir $MB/alice\\)" "$L"

# A system user without a Maildir yet: the daemon creates it.
if getent passwd daemon >/dev/null; then
	hk_swaks -f sender@example.org -t daemon@relay.test \
		--header "Message-Id: <maildir-3@test>" >"$T/swaks-daemon.log" 2>&1 ||
		fail "swaks to daemon: $(tail -5 "$T/swaks-daemon.log")"
	daemon_has_one() { [ "$(ls "$MB/daemon/new" 2>/dev/null | wc -l)" = 1 ]; }
	wait_for 30 daemon_has_one || fail "no Maildir made for the system user daemon: $(ls -R "$MB")"
	assert_grep '^Message-Id: <maildir-3@test>' "$MB"/daemon/new/* "new Maildir's message"
fi

# The unknown name: 550 5.1.1 at RCPT, nothing queued, nothing created.
hk_swaks -f sender@example.org -t "$UNKNOWN@relay.test" --quit-after RCPT \
	>"$T/swaks-unknown.log" 2>&1 && fail "RCPT to an unknown name accepted"
assert_grep "^<\\*\\* +550 5\\.1\\.1 .*$UNKNOWN" "$T/swaks-unknown.log" "RCPT reply for $UNKNOWN"
[ -e "$MB/$UNKNOWN" ] && fail "a Maildir was made for the unknown $UNKNOWN"
hk_queue_empty || fail "something was queued: $(hk_cli queue list)"
if hk_cli trace "$UNKNOWN@relay.test" >"$T/trace-unknown" 2>&1; then
	fail "trace accepted the unknown $UNKNOWN: $(cat "$T/trace-unknown")"
fi
assert_grep "^result: refused: 550 5\\.1\\.1 " "$T/trace-unknown" "trace of $UNKNOWN"
hk_stop
exit 0
