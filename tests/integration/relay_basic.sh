#!/bin/bash
# relay_basic: swaks and Python smtplib send through hikyakud to a real
# upstream; each message arrives once with its envelope, and the queue
# empties.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up
hk_conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

hk_swaks -f sender@example.org -t rcpt@example.net \
	--header "Message-Id: <basic-swaks@test>" --header "Subject: basic swaks" \
	>"$T/swaks.log" 2>&1 || fail "swaks failed: $(tail -n 5 "$T/swaks.log")"
assert_grep '^<-  250 2\.0\.0' "$T/swaks.log" "swaks transcript (250 after DATA)"

timeout 60 "$PY" - "$HK_PORT" >"$T/smtplib.log" 2>&1 <<'PYEOF' || fail "smtplib: $(cat "$T/smtplib.log")"
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "other@example.org"
m["To"] = "a@example.net, b@example.com"
m["Subject"] = "basic smtplib"
m["Message-ID"] = "<basic-smtplib@test>"
m.set_content("hello through hikyaku\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), "client.test", timeout=30) as s:
    refused = s.send_message(m, "other@example.org",
                             ["a@example.net", "b@example.com"])
    assert not refused, refused
print("sent")
PYEOF

wait_for 30 upstream_has up 2 || fail "upstream got $(upstream_count up) of 2 messages"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"

"$PY" - "$T/up-up" <<'PYEOF' || fail "messages at the upstream are not what was sent"
import email, glob, json, sys
seen = {}
for eml in glob.glob(sys.argv[1] + "/*.eml"):
    meta = json.load(open(eml[:-4] + ".json"))
    msg = email.message_from_binary_file(open(eml, "rb"))
    seen[msg["Message-ID"]] = (meta["mail_from"], sorted(meta["rcpt_tos"]), msg)
want = {
    "<basic-swaks@test>": ("sender@example.org", ["rcpt@example.net"]),
    "<basic-smtplib@test>": ("other@example.org", ["a@example.net", "b@example.com"]),
}
for mid, (frm, rcpts) in want.items():
    if mid not in seen:
        sys.exit("missing %s; got %s" % (mid, list(seen)))
    if seen[mid][:2] != (frm, rcpts):
        sys.exit("%s: envelope %r, want %r" % (mid, seen[mid][:2], (frm, rcpts)))
    if not seen[mid][2].get_all("Received"):
        sys.exit("%s: no Received: header" % mid)
if len(seen) != 2:
    sys.exit("unexpected messages: %s" % list(seen))
PYEOF

assert_grep 'to=<rcpt@example.net>.*status=sent' "$T/log/hikyaku.log" "daemon log"
assert_grep 'from=<sender@example.org>' "$T/log/hikyaku.log" "daemon log"
hk_stop || fail "daemon stop"
