#!/bin/bash
# access_ipv6: access keys for IPv6 clients, end to end. The daemon
# listens on [::1] as well as 127.0.0.1; for a client connecting from ::1
#   - `Connect:::1 REJECT` refuses the greeting (554 5.7.1 Access denied,
#     then only QUIT), logs the line, and leaves IPv4 clients alone;
#   - the longest IPv6 prefix wins: `Connect:::/64 REJECT` under
#     `Connect:::1/128 OK` lets ::1 in, and OK takes loopback relaying
#     away (554 5.7.1 Relay access denied at RCPT, a local name still 250);
#   - a CIDR with ERROR: a 5xx greets 554 with the line's text, a 4xx
#     greets 421 and hangs up;
# and `hikyaku trace --client ::1` names the same access line each time,
# with the reply the daemon logs.
. "$(dirname "$0")/lib.sh"

"$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
	skip "no IPv6 loopback here"
P6=$(hk_port)
hk_conf "listen = [::1]:$P6 relay" "adminaddr = admin@example.org"
L=$T/log/hikyaku.log

# chat HOST PORT CMD...: one reply per line ("250-a" continuations joined
# with " | "), the greeting first; "(closed)" once the server hangs up.
cat >"$T/chat.py" <<'PYEOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=30)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        try:
            l = f.readline().decode()
        except ConnectionResetError:
            # A server that hung up after its 421 answers what we sent
            # after that with a reset instead of an end of file.
            l = ""
        if not l:
            return " | ".join(lines + ["(closed)"])
        l = l.rstrip("\r\n")
        lines.append(l)
        if len(l) < 4 or l[3] != "-":
            return " | ".join(lines)
r = reply()
print(r)
for c in sys.argv[3:] + ["QUIT"]:
    if r.endswith("(closed)"):
        break
    try:
        s.sendall(c.encode() + b"\r\n")
    except OSError:
        print("(closed)")
        break
    r = reply()
    print(r)
PYEOF
chat() { timeout 60 "$PY" "$T/chat.py" "$@"; }
chat6() { chat ::1 "$P6" "$@" >"$T/c6" 2>&1 || fail "chat over [::1]: $(cat "$T/c6")"; }
chat4() { chat 127.0.0.1 "$HK_PORT" "$@" >"$T/c4" 2>&1 || fail "chat over 127.0.0.1: $(cat "$T/c4")"; }
line() { sed -n "$1p" "$2"; }	# line N FILE
tr6() { hk_cli trace --client ::1 "$@" >"$T/trace" 2>&1; }
set_access() {
	printf '%s\n' "$@" >"$T/conf/access"
	chmod 644 "$T/conf/access"
}
reload() {
	hk_cli reload >"$T/reload.txt" 2>&1 || fail "reload: $(cat "$T/reload.txt")"
}

# --- Connect:::1 REJECT ---
set_access '# access_ipv6: one IPv6 client refused' 'Connect:::1	REJECT'
hk_start
wait_for 10 hk_port_listening "$P6" || fail "hikyakud does not listen on [::1]:$P6"

chat6 'EHLO client.test' 'MAIL FROM:<a@example.org>'
assert_eq '554 5.7.1 Access denied' "$(line 1 "$T/c6")" "greeting of the refused ::1"
assert_match '^503 ' "$(line 2 "$T/c6")" "EHLO after a refused greeting"
assert_match '^503 ' "$(line 3 "$T/c6")" "MAIL after a refused greeting"
assert_match '^221 ' "$(line 4 "$T/c6")" "QUIT after a refused greeting"
wait_for 10 grep -q 'reject: CONNECT from unknown\[::1\]' "$L" || fail "no log of the refusal"
assert_grep 'NOQUEUE: reject: CONNECT from unknown\[::1\]: 550 5\.7\.1 Access denied; rule=access:2;' "$L" \
	"log of Connect:::1 REJECT"
if tr6 x@relay.test; then fail "trace accepted the refused ::1: $(cat "$T/trace")"; fi
assert_grep '^  access Connect: ::1: "Connect:::1" REJECT +\[access:2\]$' "$T/trace" "trace --client ::1"
assert_grep '^result: refused: 550 5\.7\.1 Access denied +rule=access:2$' "$T/trace" "trace --client ::1"
# The IPv6 key does not touch an IPv4 client.
chat4 'EHLO client.test'
assert_match '^220 ' "$(line 1 "$T/c4")" "greeting of 127.0.0.1"

# --- the longest prefix wins; OK takes relaying away ---
set_access '# access_ipv6: a net refused, one host in it let in' \
	'Connect:::/64	REJECT' 'Connect:::1/128	OK'
reload
chat6 'EHLO client.test' 'MAIL FROM:<a@example.org>' 'RCPT TO:<far@remote.example>' \
	'RCPT TO:<someone@relay.test>'
assert_match '^220 ' "$(line 1 "$T/c6")" "greeting of ::1 under Connect:::1/128 OK"
assert_match '^250 2\.1\.0 ' "$(line 3 "$T/c6")" "MAIL from ::1"
assert_eq '554 5.7.1 <far@remote.example>: Relay access denied' "$(line 4 "$T/c6")" \
	"RCPT to a remote domain from ::1"
assert_match '^250 2\.1\.5 ' "$(line 5 "$T/c6")" "RCPT to a local name from ::1"
assert_grep 'NOQUEUE: reject: RCPT from unknown\[::1\]: 554 5\.7\.1 <far@remote\.example>: Relay access denied; rule=access:3;' "$L" \
	"log of the relay refusal"
if tr6 far@remote.example; then fail "trace let ::1 relay: $(cat "$T/trace")"; fi
assert_grep '^  access Connect: ::1: "Connect:::1/128" OK +\[access:3\]$' "$T/trace" "trace (longest prefix)"
assert_grep '^result: refused: 554 5\.7\.1 <far@remote\.example>: Relay access denied +rule=access:3$' "$T/trace" "trace (relay)"
tr6 someone@relay.test || fail "trace refused a local name from ::1: $(cat "$T/trace")"

# --- CIDR with ERROR: 5xx and 4xx ---
set_access '# access_ipv6: a v6 net refused with a text of its own' \
	'Connect:::/96	ERROR:"550 5.7.1 v6 net refused"'
reload
chat6 'EHLO client.test'
assert_eq '554 5.7.1 v6 net refused' "$(line 1 "$T/c6")" "greeting under an ERROR:550 CIDR"
assert_grep 'NOQUEUE: reject: CONNECT from unknown\[::1\]: 550 5\.7\.1 v6 net refused; rule=access:2;' "$L" \
	"log of the CIDR refusal"
if tr6 x@relay.test; then fail "trace accepted ::1 under ::/96: $(cat "$T/trace")"; fi
assert_grep '^  access Connect: ::1: "Connect:::/96" ERROR +\[access:2\]$' "$T/trace" "trace (CIDR)"
assert_grep '^result: refused: 550 5\.7\.1 v6 net refused +rule=access:2$' "$T/trace" "trace (CIDR)"

set_access '# access_ipv6: a v6 net told to come back' \
	'Connect:0:0::/96	ERROR:"450 4.7.1 v6 net busy"'
reload
chat6 'EHLO client.test'
assert_eq '421 4.7.1 v6 net busy' "$(line 1 "$T/c6")" "greeting under an ERROR:450 CIDR"
assert_match '\(closed\)$' "$(line 2 "$T/c6")" "the connection after a 421 greeting"
assert_grep 'NOQUEUE: reject: CONNECT from unknown\[::1\]: 450 4\.7\.1 v6 net busy; rule=access:2;' "$L" \
	"log of the 4xx refusal"
if tr6 x@relay.test; then fail "trace accepted ::1 under a 4xx line: $(cat "$T/trace")"; fi
assert_grep '^result: refused: 450 4\.7\.1 v6 net busy +rule=access:2$' "$T/trace" "trace (4xx)"
chat4 'EHLO client.test'
assert_match '^220 ' "$(line 1 "$T/c4")" "greeting of 127.0.0.1 under a v6 line"
hk_stop
exit 0
