#!/bin/bash
# hikyakud_notify: systemd readiness (Type=notify, help/hikyakud.md).
# `hikyakud -f` with NOTIFY_SOCKET naming a unix datagram socket the test
# listens on sends READY=1 once, and only when its SMTP port already
# accepts connections (the listener checks at the moment it is told);
# the same through an abstract socket ("@name"). A reload (SIGHUP or
# `hikyaku reload`) is framed as Type=notify-reload wants:
# "RELOADING=1" with MONOTONIC_USEC (CLOCK_MONOTONIC in microseconds,
# taken during the reload), then "READY=1" with an empty STATUS= when the
# new configuration was taken, or with "STATUS=reload refused: <first
# error>" when it was refused (the daemon runs on either way). A
# NOTIFY_SOCKET nobody listens on is a warning in the log, and the daemon
# serves anyway.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

# notify_listen NAME ADDR: a datagram socket at ADDR; each datagram is
# written to $T/NAME.notify as "DATA port=open|closed".
notify_listen() {
	hk_bg "notify-$1" "$PY" -c '
import os, socket, sys
addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
if not addr.startswith("@"):
    # As /run/systemd/notify: the daemon writes after dropping to user.
    os.chmod(addr, 0o777)
open(out + ".ready", "w").close()
while True:
    data = s.recv(4096).decode()
    c = socket.socket()
    state = "open" if c.connect_ex(("127.0.0.1", port)) == 0 else "closed"
    c.close()
    with open(out, "a") as f:
        f.write("%s port=%s\n" % (data.replace("\n", "|"), state))
' "$2" "$HK_PORT" "$T/$1.notify"
	wait_for 10 test -e "$T/$1.notify.ready" || fail "notify listener $1 did not start"
}

hk_conf
hk_remotes "# none"

# A path socket.
notify_listen path "$T/notify.sock"
NOTIFY_SOCKET=$T/notify.sock hk_start
wait_for 20 test -s "$T/path.notify" || fail "no datagram on NOTIFY_SOCKET"
assert_eq "READY=1 port=open" "$(cat "$T/path.notify")" "notification at start"
hk_swaks --from a@b.example --to r@remote.example --quit-after RCPT >"$T/swaks.log" 2>&1 ||
	fail "swaks: $(tail -5 "$T/swaks.log")"

# CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC counts it.
mono_usec() { "$PY" -c 'import time; print(time.monotonic_ns() // 1000)'; }
notes() { wc -l <"$T/path.notify"; }
note() { sed -n "$1p" "$T/path.notify"; }
# assert_reloading N BEFORE AFTER: datagram N starts a reload and its
# MONOTONIC_USEC lies between the clock read before and after it.
assert_reloading() {
	local usec
	assert_match '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ port=open$' "$(note "$1")" "datagram $1"
	usec=$(note "$1" | sed 's/.*MONOTONIC_USEC=\([0-9]*\).*/\1/')
	[ "$usec" -ge "$2" ] && [ "$usec" -le "$3" ] ||
		fail "MONOTONIC_USEC=$usec is not within [$2, $3] (CLOCK_MONOTONIC in µs)"
}

# A good reload by SIGHUP (what Type=notify-reload sends).
before=$(mono_usec)
kill -HUP "$HK_DAEMON_PID"
wait_for 10 eval '[ "$(notes)" -ge 3 ]' || fail "SIGHUP: no reload datagrams: $(cat "$T/path.notify")"
after=$(mono_usec)
assert_reloading 2 "$before" "$after"
assert_eq "READY=1|STATUS= port=open" "$(note 3)" "end of a good reload"

# A refused reload (by SIGHUP: `hikyaku reload` checks the files itself
# and does not ask the daemon): ready again, and why.
cp "$T/conf/hikyaku.conf" "$T/hikyaku.conf.good"
echo "max_mesage_size = 10M" >>"$T/conf/hikyaku.conf"
before=$(mono_usec)
kill -HUP "$HK_DAEMON_PID"
wait_for 10 eval '[ "$(notes)" -ge 5 ]' || fail "refused reload: no datagrams: $(cat "$T/path.notify")"
after=$(mono_usec)
assert_reloading 4 "$before" "$after"
assert_match "^READY=1\|STATUS=reload refused: $T/conf/hikyaku.conf:[0-9]+:[0-9]+: error: unknown key \"max_mesage_size\".* port=open\$" \
	"$(note 5)" "end of a refused reload"
assert_grep 'reload failed: keeping the running configuration' "$T/log/hikyaku.log"

# A good reload through the control socket clears the refusal's status;
# then a message as the barrier: nothing more is sent.
cp "$T/hikyaku.conf.good" "$T/conf/hikyaku.conf"
before=$(mono_usec)
hk_cli reload >"$T/reload.log" 2>&1 || fail "reload: $(cat "$T/reload.log")"
wait_for 10 eval '[ "$(notes)" -ge 7 ]' || fail "hikyaku reload: no datagrams: $(cat "$T/path.notify")"
after=$(mono_usec)
assert_reloading 6 "$before" "$after"
assert_eq "READY=1|STATUS= port=open" "$(note 7)" "end of a good reload by hikyaku reload"
hk_swaks --from a@b.example --to r@remote.example --quit-after RCPT >"$T/swaks3.log" 2>&1 ||
	fail "swaks after the reloads: $(tail -5 "$T/swaks3.log")"
hk_stop
assert_eq 7 "$(notes)" "datagrams after three reloads and a stop"

# An abstract socket, as systemd may hand out.
notify_listen abstract "@hk-notify-$$"
NOTIFY_SOCKET=@hk-notify-$$ hk_start
wait_for 20 test -s "$T/abstract.notify" || fail "no datagram on the abstract NOTIFY_SOCKET"
assert_eq "READY=1 port=open" "$(cat "$T/abstract.notify")" "notification on an abstract socket"
hk_stop

# Nobody listening: a warning, and the daemon serves.
NOTIFY_SOCKET=$T/nobody.sock hk_start
wait_for 10 grep -q 'warning: NOTIFY_SOCKET: ' "$T/log/hikyaku.log" ||
	fail "no warning for a NOTIFY_SOCKET nobody listens on"
hk_swaks --from a@b.example --to r@remote.example --quit-after RCPT >"$T/swaks2.log" 2>&1 ||
	fail "swaks with a dead NOTIFY_SOCKET: $(tail -5 "$T/swaks2.log")"
hk_stop
exit 0
