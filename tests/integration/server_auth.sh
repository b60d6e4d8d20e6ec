#!/bin/bash
# server_auth: SMTP AUTH on the submission listener with real clients:
# swaks (PLAIN, LOGIN), the gsasl client (SCRAM-SHA-256, SCRAM-SHA-1),
# raw dialogues for 530 / 538 / 535 / 501 / long AUTH lines, throttling of
# failed attempts per client IP, and a message submitted with AUTH and
# relayed to an upstream with auth=USER in the log and the Received:.
. "$(dirname "$0")/lib.sh"
need_cmd swaks gsasl
hk_certs
C=$HK_CERTS

SUB=$(hk_port)
hk_conf "listen = 127.0.0.1:$SUB submission" \
	"tls_cert = $C/server.crt" "tls_key = $C/server.key"
upstream_start up
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
pw() { printf '%s\n' "$2" | "$top_builddir/hikyaku" -C "$T/conf" passwd "$1" --stdin; }
pw alice 'a1ice:pass#' >"$T/passwd.log" 2>&1 || fail "passwd: $(cat "$T/passwd.log")"
pw bob bobpass >>"$T/passwd.log" 2>&1 || fail "passwd: $(cat "$T/passwd.log")"
pw carol x >>"$T/passwd.log" 2>&1 &&
	"$top_builddir/hikyaku" -C "$T/conf" passwd carol --delete >>"$T/passwd.log" 2>&1 ||
	fail "passwd --delete: $(cat "$T/passwd.log")"
"$top_builddir/hikyaku" -C "$T/conf" passwd carol --delete >/dev/null 2>&1 &&
	fail "passwd --delete of a missing user succeeded"
assert_eq 640 "$(stat -c %a "$T/conf/users")" "users file mode"
grep -q '^alice:{SCRAM-SHA-256}4096,[^:]*:{SCRAM-SHA-1}4096,' "$T/conf/users" ||
	fail "users line: $(cat "$T/conf/users")"
assert_no_grep 'a1ice:pass#|bobpass|carol' "$T/conf/users" "users file"
if [ $HK_ROOT = 1 ]; then
	# Made by root, the file is the daemon's to read through its group,
	# as `hikyaku cert new` does for its key (DESIGN §12).
	G=$(id -gn "$HK_USER")
	assert_eq "root:$G" "$(stat -c %U:%G "$T/conf/users")" "users file owner"
	out=$(hk_cli config check 2>&1)
	case $out in *"users is not"*) fail "config check: $out" ;; esac
	# config check judges the file for the daemon's user, with the fix.
	chgrp root "$T/conf/users"
	out=$(hk_cli config check 2>&1)
	assert_match "users: warning: users is not readable by user $HK_USER .*fix: .*chgrp $G $T/conf/users" \
		"$out" "config check of a users file the daemon cannot read"
	chgrp "$G" "$T/conf/users"
	# An existing file keeps the group its admin gave it.
	chgrp root "$T/conf/users"
	pw bob bobpass2 >>"$T/passwd.log" 2>&1 || fail "passwd: $(cat "$T/passwd.log")"
	assert_eq "root:root" "$(stat -c %U:%G "$T/conf/users")" "users group kept"
	chgrp "$G" "$T/conf/users"
	pw bob bobpass >>"$T/passwd.log" 2>&1 || fail "passwd: $(cat "$T/passwd.log")"
fi
hk_start

# swaks: PLAIN and LOGIN after STARTTLS, relayed to the upstream.
for mech in PLAIN LOGIN; do
	hk_swaks --port "$SUB" --tls --auth "$mech" --auth-user alice \
		--auth-password 'a1ice:pass#' --from a@b.example --to "r-$mech@remote.example" \
		>"$T/swaks-$mech.log" 2>&1 || fail "swaks AUTH $mech: $(tail -5 "$T/swaks-$mech.log")"
	assert_grep '^<~ +235 2\.7\.0' "$T/swaks-$mech.log" "swaks AUTH $mech"
done
wait_for 20 upstream_has up 2 || fail "submitted mail did not reach the upstream"
assert_grep 'auth=alice' "$T/log/hikyaku.log" "log line"
assert_grep 'sasl_method=PLAIN, sasl_username=alice' "$T/log/hikyaku.log"
grep -lq 'Authenticated sender: alice' "$T"/up-up/*.eml || fail "no Authenticated sender in Received:"
grep -lqE 'with ESMTPSA id' "$T"/up-up/*.eml || fail "no ESMTPSA in Received:"

# gsasl: SCRAM-SHA-256 and SCRAM-SHA-1 (STARTTLS, chain verified).
# --no-cb: we offer no -PLUS mechanism, and gsasl 2.2's client holding
# channel-binding data fails on its own before sending a byte.
for mech in SCRAM-SHA-256 SCRAM-SHA-1; do
	timeout 30 gsasl --client --connect="127.0.0.1:$SUB" --smtp --starttls --no-cb \
		--hostname=localhost --x509-ca-file="$C/ca.crt" -m "$mech" \
		-a bob -p bobpass </dev/null >"$T/gsasl-$mech.log" 2>&1 ||
		fail "gsasl $mech: $(tail -5 "$T/gsasl-$mech.log")"
	timeout 30 gsasl --client --connect="127.0.0.1:$SUB" --smtp --starttls --no-cb \
		--hostname=localhost --x509-ca-file="$C/ca.crt" -m "$mech" \
		-a bob -p wrong </dev/null >"$T/gsasl-$mech-bad.log" 2>&1 &&
		fail "gsasl $mech with a wrong password succeeded"
done
assert_grep 'sasl_method=SCRAM-SHA-1, sasl_username=bob' "$T/log/hikyaku.log"
assert_grep 'SASL SCRAM-SHA-256 authentication failed: .*sasl_username=bob' "$T/log/hikyaku.log"
# Those were this IP's first two failed attempts.

# Raw dialogues: order of refusals, cancel, long lines, throttling.
/usr/bin/python3 - "$SUB" "$C/ca.crt" >"$T/raw.log" 2>&1 <<'PYEOF' ||
import base64, socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)

def reply(f):
    lines = []
    while True:
        l = f.readline().decode()
        assert l, "connection closed"
        lines.append(l.rstrip())
        if l[3:4] == " ":
            return lines

def say(s, f, line):
    s.sendall(line.encode() + b"\r\n")
    return reply(f)

def plain():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    reply(f)
    return s, f

def tls():
    s, f = plain()
    say(s, f, "EHLO raw.test")
    assert say(s, f, "STARTTLS")[0].startswith("220")
    t = ctx.wrap_socket(s, server_hostname="localhost")
    tf = t.makefile("rb")
    e = say(t, tf, "EHLO raw.test")
    assert "250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN" in e, e
    return t, tf

def code(r):
    # "538 5.7.11 Encryption required" -> "538 5.7.11": the whole
    # enhanced code, whatever its length.
    return " ".join(r[-1].split(" ", 2)[:2])

# Plaintext: no AUTH offered, AUTH refused with 538, MAIL with 530.
s, f = plain()
e = say(s, f, "EHLO raw.test")
assert not any("AUTH" in l for l in e), e
assert code(say(s, f, "AUTH PLAIN " + base64.b64encode(b"\0bob\0bobpass").decode())) == "538 5.7.11", "538"
assert code(say(s, f, "MAIL FROM:<a@b.example>")) == "530 5.7.0", "530"
s.close()

# Under TLS: MAIL before AUTH 530; "*" cancels (501); unknown mech 504;
# "=" is an empty initial response; a 12,000-octet AUTH line is read and
# judged (bad base64: 501, not "line too long") but a 1,100-octet NOOP is
# too long.
t, f = tls()
assert code(say(t, f, "MAIL FROM:<a@b.example>")) == "530 5.7.0"
assert say(t, f, "AUTH LOGIN")[0].startswith("334 ")
assert code(say(t, f, "*")) == "501 5.7.0"
assert code(say(t, f, "AUTH GSSAPI")) == "504 5.5.4"
assert say(t, f, "AUTH PLAIN =")[0].startswith("334"), "= not an empty response"
assert code(say(t, f, "*")) == "501 5.7.0"
r = say(t, f, "AUTH PLAIN " + "!" * 12000)
assert code(r) == "501 5.5.2", r
assert code(say(t, f, "NOOP " + "x" * 1100)) == "500 5.5.2"
ok = say(t, f, "AUTH PLAIN " + base64.b64encode(b"\0bob\0bobpass").decode())
assert code(ok) == "235 2.7.0", ok
assert code(say(t, f, "AUTH PLAIN " + base64.b64encode(b"\0bob\0bobpass").decode())) == "503 5.5.1"
assert code(say(t, f, "MAIL FROM:<a@b.example>")) == "250 2.1.0"
t.close()

# Wrong passwords: 535, each slower than the one before; the limit (5
# failures per IP, two already made by gsasl above) ends with 421, and a
# new connection from the same IP gets 421 at AUTH at once.
t, f = tls()
times = []
bad = "AUTH PLAIN " + base64.b64encode(b"\0bob\0nope").decode()
for i in range(2):
    t0 = time.time()
    r = say(t, f, bad)
    times.append(time.time() - t0)
    assert code(r) == "535 5.7.8", r
t0 = time.time()
r = say(t, f, bad)
assert code(r) == "535 5.7.8", r
last = reply(f)
assert last[-1].startswith("421 4.7.0"), last
times.append(time.time() - t0)
assert times[0] >= 1.0 and times[1] > times[0] + 0.3 and times[2] > times[1] + 0.3, times
t, f = tls()
r = say(t, f, "AUTH PLAIN " + base64.b64encode(b"\0bob\0bobpass").decode())
assert r[-1].startswith("421 4.7.0"), r
print("ok", times)
PYEOF
	fail "raw AUTH dialogues: $(cat "$T/raw.log")"
assert_grep 'SASL PLAIN authentication failed: .*sasl_username=bob' "$T/log/hikyaku.log"
assert_grep 'unknown\[127\.0\.0\.1\]: too many failed AUTH attempts' "$T/log/hikyaku.log"
hk_stop
exit 0
