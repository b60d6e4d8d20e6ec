#!/bin/bash
# relay_bounce: a 550 at RCPT bounces that recipient only. The DSN goes
# back to the (remote) sender through the same upstream and is RFC 3464:
# multipart/report with per-recipient Action, Status, Diagnostic-Code.
# Then a bounce is never bounced: mail from <> that fails and a DSN that
# fails each end as at most one report to adminaddr (sent from <>), and
# nothing else is sent.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up \
	--reply-rcpt 'nobody@example.net=550 5.1.1 no such user' \
	--reply-rcpt 'gone@example.org=550 5.1.1 sender gone too'
hk_conf "pausetime = 1h" "adminaddr = admin@example.com"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

hk_swaks -f sender@example.org --to nobody@example.net,good@example.net \
	--header "Message-Id: <bounce@test>" --header "Subject: will bounce" \
	>"$T/swaks.log" 2>&1 || fail "swaks failed: $(tail -n 5 "$T/swaks.log")"
# The original for good@ and the DSN for sender@.
wait_for 60 upstream_has up 2 || fail "upstream got $(upstream_count up) of 2 (original + DSN)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"

"$PY" - "$T/up-up" <<'PYEOF' || fail "DSN check"
import email, glob, json, sys
from email import policy
dsn = None
for eml in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    meta = json.load(open(eml[:-4] + ".json"))
    if meta["mail_from"] == "":
        if dsn:
            sys.exit("two DSNs")
        dsn = (meta, email.message_from_binary_file(open(eml, "rb"), policy=policy.default))
    elif meta["rcpt_tos"] != ["good@example.net"]:
        sys.exit("original went to %r" % meta["rcpt_tos"])
if not dsn:
    sys.exit("no message with a null envelope sender (the DSN)")
meta, msg = dsn
if meta["rcpt_tos"] != ["sender@example.org"]:
    sys.exit("DSN went to %r, want the sender" % meta["rcpt_tos"])
if msg.get_content_type() != "multipart/report":
    sys.exit("DSN is %s, want multipart/report" % msg.get_content_type())
if msg.get_param("report-type") != "delivery-status":
    sys.exit("report-type=%r" % msg.get_param("report-type"))
parts = list(msg.iter_parts())
if len(parts) < 2 or parts[1].get_content_type() != "message/delivery-status":
    sys.exit("second part is not message/delivery-status: %r" % [p.get_content_type() for p in parts])
# message/delivery-status: per-message block, then one block per recipient.
blocks = [b for b in parts[1].get_payload()]
rcpts = [b for b in blocks if b.get("Final-Recipient")]
if len(rcpts) != 1:
    sys.exit("want one recipient block, got %d" % len(rcpts))
r = rcpts[0]
checks = {
    "Final-Recipient": "nobody@example.net",
    "Action": "failed",
    "Status": "5.1.1",
    "Diagnostic-Code": "550 5.1.1 no such user",
}
for field, want in checks.items():
    got = str(r.get(field, ""))
    if want.lower() not in got.lower():
        sys.exit("%s: %r does not contain %r" % (field, got, want))
if not any(b.get("Reporting-MTA") for b in blocks):
    sys.exit("no Reporting-MTA")
if "bounce@test" not in msg.as_string():
    sys.exit("the DSN does not return the original's headers")
print("DSN ok")
PYEOF
assert_grep 'to=<nobody@example.net>.*status=bounced' "$T/log/hikyaku.log" "daemon log"

# A bounce is never bounced: mail from <> to a refused address.
n0=$(upstream_count up)
hk_swaks -f '<>' -t nobody@example.net --header "Message-Id: <nullsender@test>" \
	>"$T/swaks-null.log" 2>&1 || fail "swaks (null sender) failed: $(tail -n 5 "$T/swaks-null.log")"
# A failing DSN: the sender is refused too, so its DSN fails; at most one
# report goes to adminaddr.
hk_swaks -f gone@example.org -t nobody@example.net --header "Message-Id: <double@test>" \
	>"$T/swaks-double.log" 2>&1 || fail "swaks (double bounce) failed: $(tail -n 5 "$T/swaks-double.log")"
wait_for 60 hk_queue_empty || fail "queue does not drain: $(hk_cli queue list)"
# Settle: give a wrongly generated bounce time to show up.
sleep 2
"$PY" - "$T/up-up" "$n0" <<'PYEOF' || fail "bounce of a bounce"
import glob, json, sys
metas = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/*.json"))]
new = metas[int(sys.argv[2]):]
for m in new:
    if m["rcpt_tos"] != ["admin@example.com"]:
        sys.exit("unexpected delivery %r (a bounce was bounced?)" % m)
    # <> or Postfix's double-bounce@ sender, whose own bounces are dropped
    if m["mail_from"] != "" and not m["mail_from"].startswith("double-bounce@"):
        sys.exit("report to adminaddr from %r, want <> or double-bounce@" % m["mail_from"])
# One double-bounce report per failed message at most (two failed above).
if len(new) > 2:
    sys.exit("%d reports to adminaddr, want at most two" % len(new))
PYEOF
hk_stop || fail "daemon stop"
