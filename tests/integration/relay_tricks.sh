#!/bin/bash
# relay_tricks: relay tricks are refused and nothing reaches the upstream.
#
# The daemon trusts loopback clients to relay (127.0.0.0/8, ::1), so an
# outside client is emulated inside the test's private network namespace
# (root only): 10.255.0.1/32 is added to its lo and the daemon listens on
# it too; a client connecting there has source address 10.255.0.1, not
# loopback. The tricks are sent both from that client and from loopback
# (which may relay, but never through a routing trick); without root only
# the loopback half runs. Each trick is also sent in mixed case, and
# with odd spacing and case in the RCPT command itself.
. "$(dirname "$0")/lib.sh"

outside=
if [ "${HK_NETNS:-}" = 1 ] && ip addr add 10.255.0.1/32 dev lo 2>/dev/null; then
	outside=10.255.0.1
fi
upstream_start up
extra=()
[ -n "$outside" ] && extra=("listen = $outside:$HK_PORT relay")
hk_conf "${extra[@]}"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

cat >"$T/tricks.py" <<'PYEOF'
import smtplib, sys
host, port, outside = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
local = "relay.test"            # `me` in hikyaku.conf: a local domain
tricks = [
    ("percent hack", "victim%%remote.example@%s" % local),
    ("percent hack, bracketed", "victim%remote.example@[127.0.0.1]"),
    ("bang path", "remote.example!victim@%s" % local),
    ("bang path, bare", "remote.example!victim"),
    ("quoted local part with @", '"victim@remote.example"@%s' % local),
    ("quoted local part with %", '"victim%%remote.example"@%s' % local),
    ("quoted local part with !", '"remote.example!victim"@%s' % local),
    ("source route", "@%s:victim@remote.example" % local),
    ("source route, two hops", "@%s,@other.example:victim@remote.example" % local),
    ("IP literal not ours", "victim@[192.0.2.7]"),
    ("IPv6 literal not ours", "victim@[IPv6:2001:db8::7]"),
    ("percent hack, trailing dot", "victim%%remote.example@%s." % local),
    # Mixed case must not slip past a check that compares spellings.
    ("percent hack, mixed case", "Victim%%Remote.EXAMPLE@%s" % local.upper()),
    ("bang path, mixed case", "REMOTE.example!Victim@Relay.Test"),
    ("source route, mixed case", "@RELAY.TEST:Victim@Remote.Example"),
    ("quoted local part with @, mixed case", '"Victim@REMOTE.example"@Relay.Test'),
    ("IPv6 literal not ours, mixed case", "victim@[ipv6:2001:DB8::7]"),
]
# Odd spacing and case in the command itself: (what, verb, argument).
raw = [
    ("space after the colon", "RCPT", "TO: <victim%%remote.example@%s>" % local),
    ("spaces inside the brackets", "RCPT", "TO:< victim%%remote.example@%s >" % local),
    ("tab after the colon", "RCPT", "TO:\t<remote.example!victim@%s>" % local),
    ("lower-case verb", "rcpt", "to:<@%s:victim@remote.example>" % local),
    ("mixed-case verb, no brackets", "RcPt", "To:victim%%remote.example@%s" % local),
]
if outside:
    # For an outside client a trailing dot must not make a remote domain
    # look local, and plain relaying is refused with 554 5.7.1.
    tricks += [
        ("trailing dot", "victim@remote.example."),
        ("trailing dots", "victim@remote.example.."),
        ("plain relay", "victim@remote.example"),
        ("upper case remote", "VICTIM@REMOTE.EXAMPLE"),
        ("mixed case remote", "Victim@Remote.Example"),
    ]
    raw += [
        ("plain relay, space after the colon", "RCPT", "TO: <victim@remote.example>"),
        ("plain relay, spaces inside the brackets", "rcpt", "to:< victim@Remote.Example >"),
        ("plain relay, no brackets", "RCPT", "TO:victim@remote.example"),
    ]
bad = 0
src = (host, 0) if outside else None
cases = [(what, "RCPT", "TO:<%s>" % addr) for what, addr in tricks] + raw
# One session per case: the refusals would add up to the hard error
# limit, and the daemon would hang up on the session.
for what, verb, arg in cases:
    with smtplib.SMTP(host, port, "tricks.test", timeout=30,
                      source_address=src) as s:
        s.ehlo()
        code, msg = s.docmd("MAIL", "FROM:<sender@example.org>")
        if code != 250:
            print("%s: MAIL FROM answered %d %s" % (what, code, msg))
            bad += 1
            continue
        addr = arg[3:]
        code, msg = s.docmd(verb, arg)
        text = msg.decode(errors="replace")
        if what.startswith("plain relay") and not (code == 554 and text.startswith("5.7.1")):
            print("%s <%s>: %d %s, want 554 5.7.1" % (what, addr, code, text))
            bad += 1
        elif code < 500:
            print("%s <%s>: accepted with %d %s" % (what, addr, code, text))
            bad += 1
            # Find out whether it would really go somewhere.
            s.docmd("DATA")
            s.send(b"Subject: trick\r\n\r\n" + what.encode() + b"\r\n.\r\n")
            s.getreply()
        else:
            print("ok: %s <%s>: %d %s" % (what, addr, code, text))
sys.exit(1 if bad else 0)
PYEOF

"$PY" "$T/tricks.py" 127.0.0.1 "$HK_PORT" 0 >"$T/tricks-loopback.txt" 2>&1
rc=$?
cat "$T/tricks-loopback.txt" >&2
[ $rc = 0 ] || fail "a relay trick from loopback was accepted (or the session broke), see above"
if [ -n "$outside" ]; then
	"$PY" "$T/tricks.py" "$outside" "$HK_PORT" 1 >"$T/tricks-outside.txt" 2>&1
	rc=$?
	cat "$T/tricks-outside.txt" >&2
	[ $rc = 0 ] || fail "a relay trick from an outside client was accepted (or the session broke), see above"
else
	hk_log "no outside address (needs root and a network namespace): loopback client only"
fi

# A canary through the front door proves the path works; once it is
# there, nothing else may be.
"$PY" - "$HK_PORT" <<'PYEOF' || fail "canary not accepted"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), "tricks.test", timeout=30) as s:
    s.sendmail("sender@example.org", ["canary@example.net"],
               b"Subject: canary\r\nMessage-ID: <canary@test>\r\n\r\ncanary\r\n")
PYEOF
wait_for 30 upstream_has up 1 || fail "canary not delivered"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
assert_eq 1 "$(upstream_count up)" "messages at the upstream (only the canary)"
grep -q 'canary@test' "$T"/up-up/*.eml || fail "the one delivered message is not the canary"
hk_stop || fail "daemon stop"
