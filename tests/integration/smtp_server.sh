#!/bin/bash
# smtp_server: the SMTP server's replies, limits and log lines, driven
# against the real daemon with raw sockets (Python) and swaks.
#
# Covers PIPELINING (all replies in order, the 250 after each DATA only
# once queued), the SMTP smuggling shapes (bare CR/LF around the dot: one
# 550 5.5.2 at the real CRLF.CRLF, nothing smuggled runs), line limits,
# NUL, SIZE, recipients, hops, bad sequences, deadlines that trickling
# cannot stretch, Postfix-style log lines. As root, inside the test's
# network namespace, 10.255.0.2 on lo plays an outside client: relay
# denied with 554 5.7.1, local domains to adminaddr, per-IP limit.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

outside=
if [ "${HK_NETNS:-}" = 1 ] && ip addr add 10.255.0.2/32 dev lo 2>/dev/null; then
	outside=10.255.0.2
fi
extra=(
	"adminaddr = admin@example.org"
	"max_message_size = 20K"
	"max_recipients = 3"
	"max_hops = 5"
	"command_timeout = 3s"
	"data_timeout = 3s"
	"max_connections_per_ip = 2"
)
[ -n "$outside" ] && extra+=("listen = $outside:$HK_PORT relay")
hk_conf "${extra[@]}"
echo "local.example" >"$T/conf/local-host-names"
chmod 644 "$T/conf/local-host-names"
# A dead upstream keeps every accepted message in the queue to inspect.
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
hk_start

# A real client first.
hk_swaks --from a@b.example --to x@remote.example --pipeline >"$T/swaks.log" 2>&1 ||
	fail "swaks failed: $(tail -5 "$T/swaks.log")"
assert_grep '^<- +250 2\.0\.0 Ok: queued as [0-9A-F]{17}$' "$T/swaks.log" "swaks transcript"
assert_grep '^<- +250-PIPELINING' "$T/swaks.log" "EHLO reply"
assert_no_grep 'STARTTLS|AUTH|CHUNKING' "$T/swaks.log" "EHLO reply"

cat >"$T/drive.py" <<'PYEOF'
import socket, sys, time
host, port, outside = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fails = 0

def conn(addr=host, src=None):
    s = socket.socket()
    if src:
        s.bind((src, 0))
    s.connect((addr, port))
    s.settimeout(20)
    f = s.makefile("rb")
    return s, f

def replies(f, n):
    out = []
    while len(out) < n:
        l = f.readline()
        if not l:
            break
        l = l.decode("utf-8", "replace").rstrip("\r\n")
        if l[3:4] != "-":
            out.append(l)
    return out

def check(name, got, want):
    global fails
    ok = len(got) == len(want) and all(g.startswith(w) for g, w in zip(got, want))
    if not ok:
        print("FAIL %s\n  got  %r\n  want %r" % (name, got, want))
        fails += 1

def session(name, data, want, ehlo=True, addr=host, src=None):
    s, f = conn(addr, src)
    g = replies(f, 1)
    if ehlo:
        data = b"EHLO client.test\r\n" + data
        want = ["250"] + want
    s.sendall(data)
    check(name, g + replies(f, len(want)), ["220 relay.test ESMTP hikyaku"] + want)
    s.close()

TX = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n"
TXR = ["250 2.1.0", "250 2.1.5", "354"]
session("pipelining", TX + b"Subject: 1\r\n\r\nhi\r\n.\r\n" + TX +
        b"Subject: 2\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
        TXR + ["250 2.0.0 Ok: queued as"] + TXR + ["250 2.0.0 Ok: queued as", "221 2.0.0"])
for seq in [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\r", b"\r\n\r.\r\n"]:
    session("smuggling %r" % seq, TX + b"Subject: s\r\n\r\nhello" + seq +
            b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<y@remote.example>\r\n"
            b"DATA\r\nsmuggled\r\n.\r\nNOOP\r\n",
            TXR + ["550 5.5.2", "250 2.0.0 Ok"])
session("command line over 1000 octets", b"NOOP " + b"x" * 1500 + b"\r\nNOOP\r\n", ["500 5.5.2", "250 2.0.0"])
session("command line of 1000 octets", b"NOOP " + b"x" * 995 + b"\r\n", ["250 2.0.0"])
session("DATA line over 998", TX + b"Subject: l\r\n\r\n" + b"y" * 999 + b"\r\n.\r\nNOOP\r\n", TXR + ["550 5.5.2", "250"])
session("DATA line of 998", TX + b"Subject: l\r\n\r\n" + b"y" * 998 + b"\r\n.\r\n", TXR + ["250 2.0.0 Ok: queued"])
session("NUL in DATA", TX + b"Subject: n\r\n\r\na\0b\r\n.\r\n", TXR + ["550 5.5.2"])
session("NUL in a command", b"NO\0OP\r\nNOOP\r\n", ["500 5.5.2", "250"])
session("message too big", TX + b"Subject: b\r\n\r\n" + (b"z" * 900 + b"\r\n") * 30 + b".\r\nNOOP\r\n", TXR + ["552 5.3.4", "250"])
session("SIZE too big", b"MAIL FROM:<a@b.example> SIZE=30000\r\nMAIL FROM:<a@b.example> SIZE=300 BODY=8BITMIME\r\n", ["552 5.3.4", "250 2.1.0"])
session("too many recipients", b"MAIL FROM:<a@b.example>\r\n" + b"".join(b"RCPT TO:<r%d@remote.example>\r\n" % i for i in range(4)), ["250", "250", "250", "250", "452 4.5.3"])
session("mail loop", TX + b"Received: x\r\n" * 5 + b"Subject: h\r\n\r\nb\r\n.\r\n", TXR + ["554 5.4.6"])
session("bad sequence", b"MAIL FROM:<a@b.example>\r\nHELO x\r\nRCPT TO:<a@b.example>\r\nDATA\r\nMAIL FROM:<>\r\nDATA\r\n",
        ["503 5.5.1", "250", "503 5.5.1", "503 5.5.1", "250 2.1.0", "554 5.5.1"], ehlo=False)
session("other verbs", b"FOO\r\nSTARTTLS\r\nAUTH PLAIN\r\nVRFY a\r\nEXPN a\r\nHELP\r\nRSET\r\nNOOP\r\n",
        ["500 5.5.1", "502 5.5.1", "502 5.5.1", "252", "502 5.5.1", "214", "250 2.0.0", "250 2.0.0"])
session("unicode without SMTPUTF8", "MAIL FROM:<jörg@b.example>\r\nMAIL FROM:<jörg@b.example> SMTPUTF8\r\n".encode(), ["553 5.6.7", "250"])
session("local recipient to adminaddr", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster@local.example>\r\nRCPT TO:<u@relay.test>\r\n", ["250", "250", "250"])

# Clients that vanish mid-reply (RST on our write) cost nothing.
for i in range(20):
    s = socket.create_connection((host, port))
    s.sendall(b"EHLO x\r\n" + TX + b"Subject: gone\r\n\r\nhi\r\n.\r\n" + (b"QUIT\r\n" if i % 2 else b""))
    s.close()
session("still serving", b"NOOP\r\n", ["250 2.0.0"])

# Deadlines: trickling one byte at a time does not extend them.
for what, pre in (("command", b""), ("DATA", b"EHLO x\r\n" + TX)):
    s, f = conn()
    replies(f, 1)
    if pre:
        s.sendall(pre)
        replies(f, 4)
    t0 = time.time()
    try:
        while time.time() - t0 < 8:
            s.send(b"x")
            time.sleep(0.3)
    except OSError:
        pass
    r = replies(f, 1)
    if not (r and r[0].startswith("421 4.4.2") and time.time() - t0 < 6):
        print("FAIL %s deadline: %r after %.1f s" % (what, r, time.time() - t0))
        fails += 1
    s.close()

if outside != "-":
    session("outside: relay denied", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x@remote.example>\r\n"
            b"RCPT TO:<y@local.example>\r\nRCPT TO:<z@relay.test>\r\nDATA\r\nSubject: o\r\n\r\nhi\r\n.\r\n",
            ["250", "554 5.7.1 <x@remote.example>: Relay access denied", "250", "250", "354", "250 2.0.0 Ok: queued"],
            addr=outside, src=outside)
    session("outside: IP literal not ours", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x@[127.0.0.1]>\r\n",
            ["250", "554 5.7.1"], addr=outside, src=outside)
    a, fa = conn(outside, outside); replies(fa, 1)
    b, fb = conn(outside, outside); replies(fb, 1)
    c, fc = conn(outside, outside)
    check("outside: per-IP limit", replies(fc, 1), ["421 4.7.0"])
    a.close(); b.close(); c.close()
sys.exit(1 if fails else 0)
PYEOF
timeout 120 "$PY" "$T/drive.py" 127.0.0.1 "$HK_PORT" "${outside:--}" >"$T/drive.log" 2>&1 ||
	fail "$(cat "$T/drive.log")"

log=$T/log/hikyaku.log
assert_grep 'connect from unknown\[127\.0\.0\.1\]' "$log"
assert_grep '[0-9A-F]{17}: client=unknown\[127\.0\.0\.1\]' "$log"
assert_grep '[0-9A-F]{17}: from=<a@b\.example>, size=[0-9]+, nrcpt=1, client=unknown\[127\.0\.0\.1\], tls=none, auth=none' "$log"
assert_grep 'disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=2 rcpt=2 data=2 quit=1 commands=8' "$log"
assert_grep 'reject: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: 550 5\.5\.2' "$log"
assert_grep 'timeout after DATA from unknown\[127\.0\.0\.1\]' "$log"
if [ -n "$outside" ]; then
	assert_grep "NOQUEUE: reject: RCPT from unknown\[$outside\]: 554 5\.7\.1 <x@remote\.example>: Relay access denied" "$log"
	# The queued outside message went to adminaddr, the original kept.
	grep -l "client: unknown\[$outside\]" "$T"/spool/queue/*.env >"$T/outside.env" ||
		fail "no queue file from the outside client"
	env=$(head -1 "$T/outside.env")
	assert_grep '^rcpt: admin@example\.org$' "$env"
	assert_grep '^orcpt: rfc822;y@local\.example$' "$env"
	assert_no_grep 'remote\.example' "$env"
else
	hk_log "not root: the outside-client half was skipped"
fi
hk_stop || fail "daemon stop"
exit 0
