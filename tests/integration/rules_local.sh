#!/bin/bash
# rules_local: real mail through aliases to an mbox file, a pipe and a
# remote address; through transport entries to two different upstreams;
# sender_relay choosing an upstream; the rest to remotes. The daemon's
# log names the rule (file:line) behind every routing decision.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start a
upstream_start b
upstream_start dflt
mkdir -p "$T/mail" "$T/pipe"
chmod 777 "$T/mail" "$T/pipe"
cat >"$T/pipe.sh" <<EOF
#!/bin/sh
# The message on stdin, the recipient in the environment.
{ echo "RECIPIENT=\$RECIPIENT SENDER=\$SENDER"; cat; } >"$T/pipe/out.\$\$"
EOF
chmod 755 "$T/pipe.sh"

hk_conf "pipe_timeout = 10s" "pausetime = 1"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_dflt"
cat >"$T/conf/aliases" <<EOF
# test aliases
boxer: $T/mail/boxer
piper: "|$T/pipe.sh"
far: someone@remote.example
team: boxer,
	piper, far
void: /dev/null
slow: "|exit 75"
many: m1@other.example, m2@other.example
EOF
cat >"$T/conf/transport" <<EOF
# two upstreams by domain
a.example   smtp:[127.0.0.1]:$UP_PORT_a
.b.example  smtp:[127.0.0.1]:$UP_PORT_b
EOF
cat >"$T/conf/sender_relay" <<EOF
@special.example  [127.0.0.1]:$UP_PORT_b
EOF
chmod 644 "$T/conf/aliases" "$T/conf/transport" "$T/conf/sender_relay"
hk_cli config check -q >"$T/check.log" 2>&1 ||
	fail "config check: $(cat "$T/check.log")"
hk_start

# Local recipients come in through the maildrop here (rules_smtp.sh sends
# to an alias over SMTP).
printf 'Subject: team\nMessage-ID: <team@test>\n\nFrom the team\nhello team\n' |
	hk_sendmail -f sender@example.org team@relay.test ||
	fail "sendmail to team failed"
printf 'Subject: void\n\nnothing\n' | hk_sendmail void@relay.test ||
	fail "sendmail to void failed"
# A remote recipient first, then an alias that adds two more: one
# transaction upstream carries all three.
printf 'Subject: many\nMessage-ID: <many@test>\n\nmany\n' |
	hk_sendmail -f sender@example.org w2@other.example many@relay.test ||
	fail "sendmail to many failed"

hk_swaks -f s@example.org -t x@a.example --header "Message-Id: <to-a@test>" \
	>"$T/swaks-a.log" 2>&1 || fail "swaks to a.example: $(tail -5 "$T/swaks-a.log")"
hk_swaks -f s@example.org -t y@sub.b.example --header "Message-Id: <to-b@test>" \
	>"$T/swaks-b.log" 2>&1 || fail "swaks to b: $(tail -5 "$T/swaks-b.log")"
hk_swaks -f boss@special.example -t z@other.example --header "Message-Id: <sr@test>" \
	>"$T/swaks-sr.log" 2>&1 || fail "swaks sender_relay: $(tail -5 "$T/swaks-sr.log")"
hk_swaks -f s@example.org -t w@other.example --header "Message-Id: <dflt@test>" \
	>"$T/swaks-d.log" 2>&1 || fail "swaks default: $(tail -5 "$T/swaks-d.log")"

mbox_has_message() { [ -s "$T/mail/boxer" ] && grep -q 'hello team' "$T/mail/boxer"; }
pipe_has_message() { ls "$T/pipe"/out.* >/dev/null 2>&1 && grep -q 'hello team' "$T"/pipe/out.*; }
wait_for 30 mbox_has_message || fail "no message in the mbox"
wait_for 30 pipe_has_message || fail "the pipe got nothing"
wait_for 30 upstream_has a 1 || fail "upstream a got $(upstream_count a)"
wait_for 30 upstream_has b 2 || fail "upstream b got $(upstream_count b)"
wait_for 30 upstream_has dflt 3 || fail "default upstream got $(upstream_count dflt)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"

# mbox format: From line, >From quoting, LF line ends, our headers.
head -n1 "$T/mail/boxer" | grep -Eq '^From sender@example.org ' ||
	fail "mbox does not start with a From line: $(head -n1 "$T/mail/boxer")"
assert_grep '^>From the team$' "$T/mail/boxer" "mbox (>From quoting)"
assert_grep '^Delivered-To: boxer@relay.test$' "$T/mail/boxer" "mbox"
if grep -q $'\r' "$T/mail/boxer"; then fail "mbox has CR line ends"; fi
assert_grep '^RECIPIENT=piper@relay.test SENDER=sender@example.org$' "$T"/pipe/out.* "pipe output"

"$PY" - "$T" <<'PYEOF' || fail "upstreams did not get what the rules say"
import email, glob, json, sys
T = sys.argv[1]
def got(name):
    out = {}
    for eml in glob.glob("%s/up-%s/*.eml" % (T, name)):
        meta = json.load(open(eml[:-4] + ".json"))
        msg = email.message_from_binary_file(open(eml, "rb"))
        out[msg["Message-ID"] or msg["Subject"]] = (meta["mail_from"], sorted(meta["rcpt_tos"]))
    return out
a, b, d = got("a"), got("b"), got("dflt")
assert a == {"<to-a@test>": ("s@example.org", ["x@a.example"])}, a
assert b == {"<to-b@test>": ("s@example.org", ["y@sub.b.example"]),
             "<sr@test>": ("boss@special.example", ["z@other.example"])}, b
assert d["<dflt@test>"] == ("s@example.org", ["w@other.example"]), d
assert d["<team@test>"] == ("sender@example.org", ["someone@remote.example"]), d
assert d["<many@test>"] == ("sender@example.org",
    ["m1@other.example", "m2@other.example", "w2@other.example"]), d
PYEOF

L=$T/log/hikyaku.log
assert_grep 'to=<x@a.example>, relay=127.0.0.1\[127.0.0.1\]:[0-9]+, rule=transport:2, .*status=sent' "$L"
assert_grep 'to=<y@sub.b.example>, .*rule=transport:3, .*status=sent' "$L"
assert_grep 'to=<z@other.example>, .*rule=sender_relay:1, .*status=sent' "$L"
assert_grep 'to=<w@other.example>, .*rule=remotes, .*status=sent' "$L"
assert_grep "to=<boxer@relay.test>, orig_to=<team@relay.test>, relay=local, rule=aliases:2, .*status=sent \\(delivered to mailbox $T/mail/boxer\\)" "$L"
assert_grep 'to=<piper@relay.test>, orig_to=<team@relay.test>, relay=local, rule=aliases:3, .*status=sent \(delivered to command' "$L"
assert_grep 'to=<someone@remote.example>, orig_to=<team@relay.test>, .*rule=remotes, .*status=sent' "$L"
assert_grep 'to=<void@relay.test>, .*rule=aliases:7, .*status=sent \(discarded' "$L"

# A pipe that exits 75 defers; the recipient stays queued.
printf 'Subject: slow\n\nslow\n' | hk_sendmail slow@relay.test || fail "sendmail slow"
wait_for 30 grep -Eq 'to=<slow@relay.test>, .*status=deferred' "$L" ||
	fail "exit 75 did not defer"
# An unknown local name bounces (no adminaddr, no mailbox_root).
printf 'Subject: nobody\n\nx\n' | hk_sendmail -f sender@example.org nosuch@relay.test ||
	fail "sendmail nosuch"
wait_for 30 grep -Eq 'to=<nosuch@relay.test>, .*status=bounced \(User unknown' "$L" ||
	fail "unknown local user did not bounce"
hk_stop
exit 0
