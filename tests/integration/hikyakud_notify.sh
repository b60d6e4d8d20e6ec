#!/bin/bash
# hikyakud_notify: systemd readiness (Type=notify, help/hikyakud.md).
# `hikyakud -f` with NOTIFY_SOCKET naming a unix datagram socket the test
# listens on sends READY=1 once, and only when its SMTP port already
# accepts connections (the listener checks at the moment it is told);
# the same through an abstract socket ("@name"). A reload sends nothing
# (Type=notify reloads by signal; the daemon does not speak
# notify-reload's RELOADING=1). A NOTIFY_SOCKET nobody listens on is a
# warning in the log, and the daemon serves anyway.
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
# A reload, and a message after it as the barrier: nothing more is sent.
hk_cli reload >"$T/reload.log" 2>&1 || fail "reload: $(cat "$T/reload.log")"
wait_for 10 grep -q 'configuration reloaded from' "$T/log/hikyaku.log" || fail "no reload in the log"
hk_stop
assert_eq "READY=1 port=open" "$(cat "$T/path.notify")" "notifications after a reload and a stop"

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
