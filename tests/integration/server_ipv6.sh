#!/bin/bash
# server_ipv6: listeners on [::1] and [::], with real clients (swaks,
# Python smtplib) over IPv6: ::1 is loopback and may relay, the log names
# the IPv6 client; `[::]` is IPv6 only (IPV6_V6ONLY: `*` is what takes
# both), so no client reaches the daemon as ::ffff:127.0.0.1 through a
# socket; `hikyakud -bh ::ffff:a.b.c.d` shows such an address judged as
# a.b.c.d (DESIGN section 12). As root, inside the test's network
# namespace, fd00:6::2 and fd00:6::3 on lo play outside IPv6 clients:
# relay denied, local domains accepted, an IPv6 access key honoured.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

if ! $PY -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	skip "no IPv6 loopback (::1) on this machine"
fi
outside=
if [ "${HK_NETNS:-}" = 1 ] && ip -6 addr add fd00:6::2/128 dev lo nodad 2>/dev/null &&
	ip -6 addr add fd00:6::3/128 dev lo nodad 2>/dev/null; then
	outside=fd00:6::2
fi
P6=$(hk_port)
ANY6=$(hk_port)
STAR=$(hk_port)
extra=(
	"listen = [::1]:$P6 relay"
	"listen = [::]:$ANY6 relay"
	"listen = *:$STAR relay"
	"adminaddr = admin@example.org"
)
hk_conf "${extra[@]}"
echo "local.example" >"$T/conf/local-host-names"
printf 'Connect:fd00:6::3 RELAY\n' >"$T/conf/access"
chmod 644 "$T/conf/local-host-names" "$T/conf/access"
# A dead upstream keeps every accepted message in the queue to inspect.
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
hk_start
for p in "$P6" "$ANY6" "$STAR"; do
	wait_for 10 hk_port_listening "$p" || fail "nothing listens on port $p"
done
assert_grep "listening on \[::1\]:$P6 \(relay\)" "$T/log/hikyaku.log"
assert_grep "listening on \[::\]:$ANY6 \(relay\)" "$T/log/hikyaku.log"

# swaks over ::1: a loopback client relays to a remote domain.
timeout 60 swaks --server ::1 --port "$P6" --timeout 30 --helo v6.test \
	--from a@b.example --to r@remote.example </dev/null >"$T/swaks6.log" 2>&1 ||
	fail "swaks to [::1]:$P6: $(tail -5 "$T/swaks6.log")"
assert_grep '^<- +250 2\.0\.0 Ok: queued as [0-9A-F]{17}$' "$T/swaks6.log" "swaks over ::1"
assert_grep 'connect from unknown\[::1\]: relay=yes, rule=built-in' "$T/log/hikyaku.log"
assert_grep '[0-9A-F]{17}: from=<a@b\.example>, size=[0-9]+, nrcpt=1, client=unknown\[::1\], tls=none' \
	"$T/log/hikyaku.log" "queue log line"
grep -rqE '^Received: from v6\.test \(unknown \[IPv6:::1\]\)' "$T/spool" ||
	fail "no Received: from v6.test (unknown [IPv6:::1]) in the queue: $(grep -rh -A1 '^Received:' "$T/spool" | head -4)"

# smtplib over IPv6: to [::] (reached through ::1) and to *'s IPv6 socket.
cat >"$T/smtplib6.py" <<'PYEOF'
import smtplib, sys
for port in map(int, sys.argv[1:]):
    with smtplib.SMTP("::1", port, timeout=20) as s:
        s.ehlo("py6.test")
        s.sendmail("a@b.example", ["r@remote.example"],
                   b"Subject: v6\r\n\r\nover IPv6\r\n")
print("ok")
PYEOF
$PY "$T/smtplib6.py" "$ANY6" "$STAR" >"$T/smtplib6.log" 2>&1 ||
	fail "smtplib over ::1: $(cat "$T/smtplib6.log")"
n=$(grep -c 'client=unknown\[::1\], tls=none' "$T/log/hikyaku.log")
assert_eq 3 "$n" "messages logged from [::1]"

# [::] is IPv6 only: a client of 127.0.0.1 is refused there rather than
# arriving as ::ffff:127.0.0.1; `*` takes it on its IPv4 socket, logged
# as 127.0.0.1 (never in the mapped spelling).
cat >"$T/v4.py" <<'PYEOF'
import socket, smtplib, sys
any6, star = int(sys.argv[1]), int(sys.argv[2])
for addr in (("127.0.0.1", any6), ("::ffff:127.0.0.1", any6)):
    s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    try:
        s.connect(addr)
    except ConnectionRefusedError:
        pass
    else:
        sys.exit("[::]:%d took an IPv4 client from %s" % (any6, addr[0]))
    finally:
        s.close()
with smtplib.SMTP("127.0.0.1", star, timeout=20) as s:
    s.ehlo("py4.test")
    s.sendmail("a@b.example", ["r@remote.example"], b"Subject: v4\r\n\r\nv4\r\n")
print("ok")
PYEOF
$PY "$T/v4.py" "$ANY6" "$STAR" >"$T/v4.log" 2>&1 || fail "IPv4 clients: $(cat "$T/v4.log")"
assert_grep 'client=unknown\[127\.0\.0\.1\], tls=none' "$T/log/hikyaku.log" "*: IPv4 client"
assert_no_grep '::ffff:' "$T/log/hikyaku.log" "log (mapped address)"

# A mapped client, judged: ::ffff:127.0.0.1 is loopback and may relay,
# ::ffff:10.1.1.1 is not and may not, as 127.0.0.1 and 10.1.1.1 would.
bh() { # IP OUT: a session from IP, transcript in OUT
	printf 'EHLO mapped.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@remote.example>\r\nQUIT\r\n' |
		timeout 30 "$top_builddir/hikyakud" -C "$T/conf" -bh "$1" >"$2" 2>&1 ||
		fail "hikyakud -bh $1: $(cat "$2")"
}
bh ::ffff:127.0.0.1 "$T/bh-lo.log"
assert_grep '^>>> client ::ffff:127\.0\.0\.1: loopback, may relay' "$T/bh-lo.log"
assert_grep '^250 2\.1\.5 ' "$T/bh-lo.log" "-bh ::ffff:127.0.0.1 RCPT"
bh ::ffff:10.1.1.1 "$T/bh-out.log"
assert_grep '^>>> client ::ffff:10\.1\.1\.1: may send to local domains only' "$T/bh-out.log"
assert_grep '^554 5\.7\.1 <r@remote\.example>: Relay access denied' "$T/bh-out.log"

if [ -n "$outside" ]; then
	# An outside IPv6 client: relay denied, local domains to adminaddr;
	# the access line for fd00:6::3 lets that one relay.
	cat >"$T/outside6.py" <<'PYEOF'
import smtplib, sys
port = int(sys.argv[1])
def session(src, rcpt):
    s = smtplib.SMTP(timeout=20, source_address=(src, 0))
    s.connect("fd00:6::2", port)
    s.ehlo("out6.test")
    s.mail("a@b.example")
    code, msg = s.rcpt(rcpt)
    s.quit()
    return code, msg.decode()
code, msg = session("fd00:6::2", "r@remote.example")
assert code == 554 and "5.7.1" in msg, (code, msg)
code, msg = session("fd00:6::2", "postmaster@local.example")
assert code == 250, (code, msg)
code, msg = session("fd00:6::3", "r@remote.example")
assert code == 250, (code, msg)
print("ok")
PYEOF
	$PY "$T/outside6.py" "$ANY6" >"$T/outside6.log" 2>&1 ||
		fail "outside IPv6 clients: $(cat "$T/outside6.log")"
	assert_grep 'connect from unknown\[fd00:6::2\]: relay=no' "$T/log/hikyaku.log"
	assert_grep 'reject: RCPT from unknown\[fd00:6::2\]: 554 5\.7\.1 <r@remote\.example>: Relay access denied' \
		"$T/log/hikyaku.log"
	assert_grep 'connect from unknown\[fd00:6::3\]: relay=yes' "$T/log/hikyaku.log"
else
	hk_log "no outside IPv6 client (needs root and a network namespace)"
fi
hk_stop
exit 0
