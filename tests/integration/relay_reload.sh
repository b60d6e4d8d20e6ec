#!/bin/bash
# relay_reload: a broken hikyaku.conf or remotes never stops a running
# daemon. `hikyaku config check` reports file:line:col; SIGHUP and
# `hikyaku reload` keep the old configuration and the log says why; mail
# still flows to the old remote; a good reload then takes effect.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start old
upstream_start new
hk_conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_old"
hk_start
hk_cli config check >"$T/check-ok.txt" 2>&1 || fail "config check of a good config: $(cat "$T/check-ok.txt")"

send() { # N
	hk_swaks -f sender@example.org -t rcpt@example.net --header "Message-Id: <reload-$1@test>" \
		>"$T/swaks-$1.log" 2>&1 || fail "swaks $1: $(tail -n 5 "$T/swaks-$1.log")"
}

# 1. an unknown key on line 9 (7 lines from hk_conf, then two of ours)
hk_conf "pausetime = 30s" "listne = 127.0.0.1:2525 relay"
hk_cli config check >"$T/check-bad.txt" 2>&1 && fail "config check passed a bad config"
assert_grep 'hikyaku\.conf:9:[0-9]+:' "$T/check-bad.txt" "config check output (file:line:col)"
assert_grep 'listen' "$T/check-bad.txt" "config check output (did you mean listen)"
lines=$(wc -l <"$T/log/hikyaku.log")
kill -HUP "$HK_DAEMON_PID"
new_log_has() { tail -n +"$((lines + 1))" "$T/log/hikyaku.log" | grep -Eq -- "$1"; }
wait_for 10 new_log_has 'hikyaku\.conf:9' || fail "log does not say why the reload failed"
kill -0 "$HK_DAEMON_PID" || fail "daemon died on a bad reload"
hk_cli reload >"$T/reload-bad.txt" 2>&1 && fail "hikyaku reload reported success on a bad config"
assert_grep 'hikyaku\.conf:9' "$T/reload-bad.txt" "hikyaku reload output"
send 1
wait_for 30 upstream_has old 1 || fail "mail stopped flowing after a bad reload"

# 2. a broken remotes file: qmqp is refused clearly, the old list stays.
hk_conf
hk_remotes "127.0.0.1 qmqp --port=$UP_PORT_new"
hk_cli config check >"$T/check-remotes.txt" 2>&1 && fail "config check passed qmqp"
assert_grep 'remotes:1:[0-9]+:' "$T/check-remotes.txt" "config check output for remotes"
hk_cli reload >/dev/null 2>&1 && fail "reload accepted a bad remotes file"
kill -0 "$HK_DAEMON_PID" || fail "daemon died on a bad remotes file"
send 2
wait_for 30 upstream_has old 2 || fail "mail did not go to the old remote"
assert_eq 0 "$(upstream_count new)" "messages at the new remote"

# 3. a good reload takes effect.
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_new"
hk_cli reload >"$T/reload-ok.txt" 2>&1 || fail "good reload failed: $(cat "$T/reload-ok.txt")"
send 3
wait_for 30 upstream_has new 1 || fail "reload did not switch remotes"
hk_stop || fail "daemon stop"
