#!/bin/bash
# server_rules: the daemon's sessions follow the access file through the
# rules engine (Connect:/From:/To:, REJECT/ERROR:/DISCARD/RELAY/OK), log
# the rule behind each decision, let authenticated clients relay from
# outside, and apply bad_rcpt_throttle, VRFY privacy, rate_limit and
# greet_pause (clients with relay rights exempt).
#
# Outside clients (as in relay_tricks.sh): inside the private network
# namespace (root only) 10.255.0.1 and 10.255.0.9 are added to lo and the
# daemon listens on 10.255.0.1 too. 127.0.0.2 is loopback but has its
# relaying taken away by `Connect:127.0.0.2 OK`.
. "$(dirname "$0")/lib.sh"

[ "${HK_NETNS:-}" = 1 ] || skip "needs root and a network namespace (outside clients)"
ip addr add 10.255.0.1/32 dev lo && ip addr add 10.255.0.9/32 dev lo ||
	fail "cannot add outside addresses to lo"
OUT=10.255.0.1

upstream_start up
conf() {
	hk_conf "listen = $OUT:$HK_PORT relay" "adminaddr = admin@example.org" \
		"smtpd_plaintext_auth = yes" "bad_rcpt_throttle = 2/1s" "$@"
}
conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
cat >"$T/conf/access" <<'EOF'
Connect:10.255.0.9	REJECT
From:spam@bad.example	ERROR:553 5.7.1 no spam here
To:gone@relay.test	REJECT
To:void@relay.test	DISCARD
To:partner.example	RELAY
Connect:127.0.0.2	OK
EOF
chmod 644 "$T/conf/access"
printf '%s\n' 's3cret' | "$top_builddir/hikyaku" -C "$T/conf" passwd alice --stdin >"$T/passwd.log" 2>&1 ||
	fail "passwd: $(cat "$T/passwd.log")"
chgrp "$(id -gn "$HK_USER")" "$T/conf/users"
hk_start
L=$T/log/hikyaku.log

cat >"$T/smtp.py" <<'PYEOF'
import smtplib, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
src = sys.argv[3]
def out(*a):
    print(*a, flush=True)
def conn():
    return smtplib.SMTP(host, port, "rules.test", timeout=30, source_address=(src, 0))
what = sys.argv[4]
if what == "cmds":
    # one session, each argument a command; print "CODE TEXT" per reply
    s = conn()
    for c in sys.argv[5:]:
        if c == "DATA-BODY":
            code, msg = s.data(b"Subject: rules\r\n\r\nrules test\r\n")
        else:
            code, msg = s.docmd(c)
        out(code, msg.decode(errors="replace").replace("\n", " | "))
    s.quit()
elif what == "greeting":
    s = socket.create_connection((host, port), source_address=(src, 0), timeout=10)
    f = s.makefile("rb")
    out(f.readline().decode().strip())
    s.sendall(b"EHLO x\r\nQUIT\r\n")
    for line in f:
        out(line.decode().strip())
elif what == "auth":
    s = conn()
    s.ehlo()
    s.login("alice", "s3cret")
    s.sendmail("a@b.example", ["far@remote.example"], b"Subject: auth\r\n\r\nauthenticated relay\r\n")
    s.quit()
    out("sent")
elif what == "throttle":
    s = conn()
    s.ehlo()
    s.docmd("MAIL", "FROM:<a@b.example>")
    for i in range(4):
        t = time.monotonic()
        code, msg = s.docmd("RCPT", "TO:<x%d@remote.example>" % i)
        out(code, "%.2f" % (time.monotonic() - t))
    s.quit()
elif what == "early":
    # talks before the greeting
    s = socket.create_connection((host, port), source_address=(src, 0), timeout=10)
    s.sendall(b"EHLO early\r\n")
    f = s.makefile("rb")
    out(f.readline().decode().strip())
PYEOF
py() { timeout 60 "$PY" "$T/smtp.py" "$1" "$HK_PORT" "${@:2}"; }

# --- relay denied from outside, with the rule in the log ---
py $OUT $OUT cmds "EHLO x" "MAIL FROM:<a@b.example>" "RCPT TO:<x@remote.example>" >"$T/r1" 2>&1 || fail "session 1: $(cat "$T/r1")"
assert_grep '^554 5.7.1 <x@remote.example>: Relay access denied' "$T/r1" "relay from outside"
assert_grep "NOQUEUE: reject: RCPT from unknown\[$OUT\]: 554 5.7.1 <x@remote.example>: Relay access denied; rule=built-in;" "$L" "log of the relay refusal"
assert_grep "connect from unknown\[$OUT\]: relay=no, rule=built-in" "$L" "connect log"

# --- To: RELAY, To: DISCARD, To: REJECT, From: ERROR: ---
py $OUT $OUT cmds "EHLO x" "MAIL FROM:<a@b.example>" "RCPT TO:<p@partner.example>" \
	"RCPT TO:<void@relay.test>" "RCPT TO:<gone@relay.test>" "DATA-BODY" \
	"MAIL FROM:<spam@bad.example>" >"$T/r2" 2>&1 || fail "session 2: $(cat "$T/r2")"
sed -n 3p "$T/r2" | grep -q '^250 ' || fail "To:partner.example RELAY: $(cat "$T/r2")"
sed -n 4p "$T/r2" | grep -q '^250 ' || fail "To: DISCARD is accepted: $(cat "$T/r2")"
sed -n 5p "$T/r2" | grep -q '^550 5.7.1 Access denied' || fail "To: REJECT: $(cat "$T/r2")"
sed -n 6p "$T/r2" | grep -q '^250 ' || fail "DATA: $(cat "$T/r2")"
sed -n 7p "$T/r2" | grep -q '^553 5.7.1 no spam here' || fail "From: ERROR: $(cat "$T/r2")"
assert_grep 'NOQUEUE: accept: RCPT from unknown\[10.255.0.1\]: <p@partner.example>; rule=access:5;' "$L" "log of To: RELAY"
assert_grep 'NOQUEUE: discard: RCPT from unknown\[10.255.0.1\]: <void@relay.test>: access DISCARD; rule=access:4;' "$L" "log of DISCARD"
assert_grep 'NOQUEUE: reject: RCPT from unknown\[10.255.0.1\]: 550 5.7.1 Access denied; rule=access:3;' "$L" "log of To: REJECT"
assert_grep 'NOQUEUE: reject: MAIL from unknown\[10.255.0.1\]: 553 5.7.1 no spam here; rule=access:2; from=<spam@bad.example>' "$L" "log of From: ERROR:"
wait_for 30 upstream_has up 1 || fail "the To: RELAY message did not arrive"
f=$(ls "$T"/up-up/*.eml | head -1)
grep -q 'p@partner.example' "$f" || grep -q 'p@partner.example' "$T/log/upstream-up.log" ||
	fail "upstream message is not for p@partner.example"
grep -q 'void@relay.test' "$T/log/upstream-up.log" "$f" && fail "the discarded recipient was delivered"

# --- everything discarded: accepted, nothing queued ---
py $OUT $OUT cmds "EHLO x" "MAIL FROM:<a@b.example>" "RCPT TO:<void@relay.test>" "DATA-BODY" >"$T/r3" 2>&1 ||
	fail "session 3: $(cat "$T/r3")"
sed -n 4p "$T/r3" | grep -q '^250 ' || fail "all discarded: DATA not accepted: $(cat "$T/r3")"
assert_grep 'NOQUEUE: discard: END-OF-MESSAGE from unknown\[10.255.0.1\]: all 1 recipient discarded' "$L" "log of a dropped message"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
assert_eq 1 "$(upstream_count up)" "messages at the upstream"

# --- Connect: REJECT: 554 greeting, only QUIT ---
py $OUT 10.255.0.9 greeting >"$T/r4" 2>&1 || fail "session 4: $(cat "$T/r4")"
assert_eq '554 5.7.1 Access denied' "$(sed -n 1p "$T/r4")" "Connect: REJECT greeting"
sed -n 2p "$T/r4" | grep -q '^503 ' || fail "EHLO after a 554 greeting: $(cat "$T/r4")"
sed -n 3p "$T/r4" | grep -q '^221 ' || fail "QUIT after a 554 greeting: $(cat "$T/r4")"
assert_grep 'NOQUEUE: reject: CONNECT from unknown\[10.255.0.9\]: 550 5.7.1 Access denied; rule=access:1;' "$L" "log of Connect: REJECT"

# --- Connect:127.0.0.2 OK takes loopback relaying away; 127.0.0.1 keeps it ---
py 127.0.0.1 127.0.0.2 cmds "EHLO x" "MAIL FROM:<a@b.example>" "RCPT TO:<x@remote.example>" >"$T/r5" 2>&1 ||
	fail "session 5: $(cat "$T/r5")"
sed -n 3p "$T/r5" | grep -q '^554 5.7.1' || fail "127.0.0.2 relayed: $(cat "$T/r5")"
assert_grep 'NOQUEUE: reject: RCPT from unknown\[127.0.0.2\]: 554 5.7.1 <x@remote.example>: Relay access denied; rule=access:6;' "$L" "log of 127.0.0.2"
py 127.0.0.1 127.0.0.1 cmds "EHLO x" "MAIL FROM:<a@b.example>" "RCPT TO:<x@remote.example>" >"$T/r6" 2>&1 ||
	fail "session 6: $(cat "$T/r6")"
sed -n 3p "$T/r6" | grep -q '^250 ' || fail "127.0.0.1 may relay: $(cat "$T/r6")"

# --- authenticated relay from outside ---
py $OUT $OUT auth >"$T/r7" 2>&1 || fail "authenticated relay: $(cat "$T/r7")"
wait_for 30 upstream_has up 2 || fail "the authenticated message did not arrive"

# --- VRFY off: 252 whether the name exists or not, same text ---
py $OUT $OUT cmds "EHLO x" "VRFY postmaster" "VRFY nosuchuser@relay.test" "EXPN postmaster" >"$T/r8" 2>&1 ||
	fail "session 8: $(cat "$T/r8")"
a=$(sed -n 2p "$T/r8") b=$(sed -n 3p "$T/r8")
assert_match '^252 ' "$a" "VRFY off"
assert_eq "$a" "$b" "VRFY off discloses nothing"
sed -n 4p "$T/r8" | grep -q '^502 5.5.1' || fail "EXPN off: $(cat "$T/r8")"

# --- bad_rcpt_throttle = 2/1s: the third and fourth refusals wait ---
py $OUT $OUT throttle >"$T/r9" 2>&1 || fail "throttle: $(cat "$T/r9")"
awk 'NR <= 2 && $2 > 0.5 { exit 1 } NR >= 3 && $2 < 0.9 { exit 1 }' "$T/r9" ||
	fail "bad_rcpt_throttle timings (code seconds): $(cat "$T/r9")"

# --- rate_limit and greet_pause, relay rights exempt ---
conf "rate_limit = 2/1m" "greet_pause = 1s"
hk_cli reload >"$T/reload.log" 2>&1 || fail "reload: $(cat "$T/reload.log")"
py $OUT $OUT early >"$T/r10" 2>&1
assert_match '^554 5\.5\.1' "$(sed -n 1p "$T/r10")" "early talker refused"
py $OUT $OUT greeting >"$T/r11" 2>&1
assert_match '^220 ' "$(sed -n 1p "$T/r11")" "second connection in a minute, after the greet pause"
py $OUT $OUT greeting >"$T/r11" 2>&1
assert_match '^421 4\.7\.0' "$(sed -n 1p "$T/r11")" "third connection in a minute (rate_limit)"
for i in 1 2 3; do
	py 127.0.0.1 127.0.0.1 early >"$T/r12" 2>&1
	assert_match '^220 ' "$(sed -n 1p "$T/r12")" "loopback is exempt from greet_pause and rate_limit"
done
assert_grep "refused connect from unknown\[$OUT\]: more than 2 connections in 60s \(rate_limit\)" "$L" "rate_limit log"
hk_stop || fail "daemon stop"
exit 0
