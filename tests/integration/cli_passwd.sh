#!/bin/bash
# cli_passwd: `hikyaku passwd NAME` on a real terminal (tmux): the password
# is asked twice and never shown, two different answers change nothing,
# and the daemon then authenticates with what was typed. Without a
# terminal and without --stdin it refuses. Rewriting an existing users
# file that was 0644 leaves it 0640 and, as root, readable by the daemon's
# group, so AUTH keeps working after the reload (DESIGN section 12).
. "$(dirname "$0")/lib.sh"
need_cmd tmux swaks

SUB=$(hk_port)
hk_conf "listen = 127.0.0.1:$SUB submission" "smtpd_plaintext_auth = yes"
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
users=$T/conf/users
PW1=Typed-Secret-4711
PW2=Other-Secret-0815

screen() { "${TM[@]}" capture-pane -p -S - -t hk 2>/dev/null; }
on_screen() { screen | grep -qF -- "$1"; }

# passwd_tty NAME FIRST SECOND: type FIRST and SECOND at the two prompts;
# the exit status lands in $T/NAME.rc, the screen in $T/NAME.screen.
passwd_tty() {
	tmux_start 80 24 \
		"'$top_builddir/hikyaku' -C '$T/conf' passwd $1; echo \$? >'$T/$1.rc'; sleep 60" ||
		fail "tmux did not start"
	wait_for 20 on_screen "New password for $1:" || fail "$1: no first prompt: $(screen)"
	keys -l "$2"
	keys Enter
	wait_for 20 on_screen "Repeat it:" || fail "$1: no second prompt: $(screen)"
	keys -l "$3"
	keys Enter
	wait_for 20 test -s "$T/$1.rc" || fail "$1: hikyaku passwd did not end: $(screen)"
	screen >"$T/$1.screen"
	assert_no_grep "$2|$3" "$T/$1.screen" "$1: the terminal (password echoed)"
}

# The same password twice: set.
passwd_tty alice "$PW1" "$PW1"
assert_eq 0 "$(cat "$T/alice.rc")" "exit status with matching passwords"
assert_grep "set alice in $users" "$T/alice.screen" "alice: screen"
assert_grep '^alice:' "$users" "users file"
assert_no_grep "$PW1" "$users" "users file (password in the clear)"

# Two different answers: refused, nothing written.
cp "$users" "$T/users.before"
passwd_tty bob "$PW1" "$PW2"
assert_eq 1 "$(cat "$T/bob.rc")" "exit status with different passwords"
assert_grep 'the passwords differ; nothing changed' "$T/bob.screen" "bob: screen"
cmp -s "$users" "$T/users.before" || fail "users file changed by a refused passwd"

# No terminal, no --stdin: refused, saying what to do.
"$top_builddir/hikyaku" -C "$T/conf" passwd carol </dev/null >"$T/notty.log" 2>&1 &&
	fail "hikyaku passwd without a terminal succeeded"
assert_grep 'stdin is not a terminal; pass the password as one line with --stdin' "$T/notty.log"

auth() { # USER PASSWORD OUT
	hk_swaks --port "$SUB" --auth PLAIN --auth-user "$1" --auth-password "$2" \
		--from a@b.example --to r@remote.example --quit-after AUTH >"$3" 2>&1
}
hk_start
auth alice "$PW1" "$T/auth1.log" || fail "AUTH with the typed password: $(tail -5 "$T/auth1.log")"
assert_grep '^<- +235 2\.7\.0' "$T/auth1.log" "AUTH with the typed password"
auth alice "$PW2" "$T/auth-bad.log" && fail "AUTH with the wrong password succeeded"

# An existing users file left 0644 (by an admin, or an older tool):
# rewriting it tightens it to 0640, and the daemon's user still reads it.
if [ $HK_ROOT = 1 ]; then
	chgrp root "$users"
	want_group=$(id -gn "$HK_USER")
else
	want_group=$(stat -c %G "$users")
fi
chmod 644 "$users"
printf '%s\n' "$PW2" | "$top_builddir/hikyaku" -C "$T/conf" passwd alice --stdin >"$T/rewrite.log" 2>&1 ||
	fail "passwd --stdin: $(cat "$T/rewrite.log")"
assert_eq "640 $want_group" "$(stat -c '%a %G' "$users")" "mode and group of the rewritten users file"
hk_cli reload >"$T/reload.log" 2>&1 || fail "reload: $(cat "$T/reload.log")"
assert_no_grep 'users file is not readable' "$T/log/hikyaku.log" "log after the reload"
auth alice "$PW2" "$T/auth2.log" || fail "AUTH after the rewrite: $(tail -5 "$T/auth2.log")"
assert_grep '^<- +235 2\.7\.0' "$T/auth2.log" "AUTH after the rewrite"
hk_stop
exit 0
