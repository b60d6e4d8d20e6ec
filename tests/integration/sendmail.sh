#!/bin/bash
# sendmail: hikyaku-sendmail as cron, mailx and git use it — -t with Bcc
# dropped, -f/-F, added Date/Message-ID/From, completion of bare
# addresses, -i and the lone dot, -bs, -bp/mailq in Postfix's format, -q,
# newaliases, exit codes, and injection while the daemon is down.
. "$(dirname "$0")/lib.sh"

upstream_start up
hk_conf "defaultdomain = example" "adminaddr = postmaster@example.net"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
# Start once so the spool (maildrop 1733) exists, then inject while down.
hk_start
hk_stop

SM=$top_builddir/hikyaku-sendmail
ln -s "$SM" "$T/mailq"
ln -s "$SM" "$T/newaliases"

# --- mailq with the daemon down and nothing queued ---
out=$(HIKYAKU_CONFIG_DIR=$T/conf timeout 30 "$T/mailq" 2>/dev/null) ||
	fail "mailq with the daemon down"
assert_eq "Mail queue is empty" "$out" "mailq of an empty queue"

# --- injection while the daemon is down ---
printf 'Subject: down\nTo: Bob <bob@example.net>, "x, y" <xy@example.com>\nCc: carol\nBcc: secret@example.org\n\nwhile down\n' |
	hk_sendmail -t -F "Jo Q. Public" -f jo || fail "sendmail -t while down"
printf 'Subject: dots\nMessage-ID: <dots@test>\n\nline\n.\nafter the dot\n' |
	hk_sendmail -i dots@example.net || fail "sendmail -i"
printf 'Subject: lone dot\nMessage-ID: <lonedot@test>\n\nbefore\n.\nnever read\n' |
	hk_sendmail dots@example.net || fail "sendmail with a lone dot"

# --- usage and data errors ---
echo x | hk_sendmail >/dev/null 2>&1
assert_eq 64 $? "exit status without recipients"
echo x | hk_sendmail 'a%b@example.net' >/dev/null 2>&1
assert_eq 65 $? "exit status for a routing address"
printf 'Subject: none\n\n' | hk_sendmail -t >/dev/null 2>&1
assert_eq 65 $? "exit status of -t without recipient headers"
hk_sendmail -bd </dev/null >/dev/null 2>&1
assert_eq 69 $? "exit status of -bd"
hk_sendmail -bv </dev/null >/dev/null 2>&1
assert_eq 64 $? "exit status of -bv without an address"
# -bv: sendmail's verify mode, one line per final address.
hk_sendmail -bv far@example.net >"$T/bv.out" 2>&1
assert_eq 0 $? "exit status of -bv for a deliverable address"
assert_grep '^far@example\.net\.\.\. deliverable: mailer smtp, host ' "$T/bv.out" "-bv output"
# A local name with no alias goes to adminaddr here.
hk_sendmail -bv nosuchuser@relay.test >"$T/bv2.out" 2>&1
assert_eq 0 $? "exit status of -bv for a local name (adminaddr)"
assert_grep '^postmaster@example\.net\.\.\. deliverable: ' "$T/bv2.out" "-bv output (adminaddr)"
hk_sendmail -bv 'a%b@example.net' >"$T/bv3.out" 2>&1
assert_eq 1 $? "exit status of -bv for a refused address"
assert_grep '^a%b@example\.net\.\.\. ' "$T/bv3.out" "-bv output (refused)"
assert_no_grep 'deliverable' "$T/bv3.out" "-bv output (refused)"
hk_sendmail -Z </dev/null >/dev/null 2>&1
assert_eq 64 $? "exit status of an unknown option"
# Missing spool: nothing can be queued, a temporary failure.
mkdir -p "$T/conf2"
echo "spool = $T/nonexistent" >"$T/conf2/hikyaku.conf"
echo x | HIKYAKU_CONFIG_DIR=$T/conf2 "$SM" bob@example.net >/dev/null 2>"$T/tempfail.err"
assert_eq 75 $? "exit status when the maildrop is missing"
assert_grep 'cannot queue the message' "$T/tempfail.err"

# --- -bs: SMTP on stdin/stdout ---
printf 'EHLO me\r\nMAIL FROM:<bs@example.org>\r\nRCPT TO:<bs-rcpt@example.net>\r\nDATA\r\nSubject: bs\r\nMessage-ID: <bs@test>\r\n\r\n..dot-stuffed\r\n.\r\nQUIT\r\n' |
	hk_sendmail -bs >"$T/bs.out" || fail "-bs exit status"
assert_grep '^220 ' "$T/bs.out" "-bs greeting"
assert_grep '^250 2\.0\.0 Ok: queued' "$T/bs.out" "-bs after DATA"
assert_grep '^221 ' "$T/bs.out" "-bs QUIT"

# --- the daemon picks it all up and delivers ---
hk_start
wait_for 60 upstream_has up 4 || fail "upstream got $(upstream_count up) of 4 messages"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"

"$PY" - "$T/up-up" <<'PYEOF' || fail "delivered messages are not what was injected"
import email, glob, json, sys
seen = {}
for eml in glob.glob(sys.argv[1] + "/*.eml"):
    meta = json.load(open(eml[:-4] + ".json"))
    msg = email.message_from_binary_file(open(eml, "rb"))
    seen[msg["Subject"]] = (meta, msg)
meta, msg = seen["down"]
assert meta["mail_from"] == "jo@relay.test", meta
assert sorted(meta["rcpt_tos"]) == ["bob@example.net", "postmaster@example.net",
                                    "secret@example.org", "xy@example.com"], meta
assert msg["Bcc"] is None, "Bcc: was not dropped"
assert msg["From"] == '"Jo Q. Public" <jo@relay.test>', msg["From"]
assert msg["Date"] and msg["Message-ID"].endswith("@relay.test>"), msg
body = seen["dots"][1].get_payload()
assert "line\n.\nafter the dot" in body.replace("\r\n", "\n"), repr(body)
body = seen["lone dot"][1].get_payload()
assert "never read" not in body and "before" in body, repr(body)
meta, msg = seen["bs"]
assert meta["mail_from"] == "bs@example.org" and meta["rcpt_tos"] == ["bs-rcpt@example.net"], meta
assert ".dot-stuffed" in msg.get_payload() and "..dot" not in msg.get_payload(), msg.get_payload()
PYEOF

# --- mailq in Postfix's format, with a deferred message ---
upstream_stop up
printf 'Subject: stuck\n\nx\n' | hk_sendmail -f stuck@example.org stuck@example.net ||
	fail "sendmail for the stuck message"
wait_for 30 eval 'hk_queue_first | grep -q "^state=deferred"' ||
	fail "message not deferred: $(hk_cli queue list)"
HIKYAKU_CONFIG_DIR=$T/conf timeout 30 "$T/mailq" >"$T/mailq.out" || fail "mailq"
"$PY" - "$T/mailq.out" <<'PYEOF' || fail "mailq format: $(cat "$T/mailq.out")"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------", lines[0]
assert re.match(r"^[0-9A-F]{17}[ *!] +\d+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d  stuck@example\.org$", lines[1]), lines[1]
assert re.match(r"^ *\(.*[Cc]onnect.*\)$", lines[2]), lines[2]
assert lines[3] == " " * 41 + "stuck@example.net", repr(lines[3])
assert lines[4] == "", lines[4]
assert re.match(r"^-- \d+ Kbytes in 1 Request\.$", lines[5]), lines[5]
PYEOF
cmp -s "$T/mailq.out" <(hk_sendmail -bp) || fail "-bp differs from mailq"

# --- -q asks the daemon to flush; newaliases validates and reloads ---
hk_sendmail -q || fail "sendmail -q"
out=$(HIKYAKU_CONFIG_DIR=$T/conf timeout 30 "$T/newaliases") || fail "newaliases: $out"
assert_match "configuration OK" "$out" "newaliases"
assert_match "reloaded" "$out" "newaliases"
assert_eq 1 "$(printf '%s\n' "$out" | grep -c reloaded)" "newaliases says reloaded once"
exit 0
