#!/bin/bash
# relay_maildrop: hikyaku-sendmail queues while the daemon is down (drop
# directory); the daemon picks the message up when it starts and delivers
# it, with Message-ID and Date added and Bcc: dropped (-t).
. "$(dirname "$0")/lib.sh"

upstream_start up
hk_conf "defaultdomain = example.org"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
# A first start creates the spool tree, as an installed system has it.
hk_start
hk_stop || fail "daemon stop"
hk_port_listening "$HK_PORT" && fail "daemon still listening"

printf 'From: cron@example.org\nTo: admin@example.net\nBcc: hidden@example.net\nSubject: maildrop\n\nqueued while down\n' |
	hk_sendmail -t -i -f cron@example.org >"$T/sendmail.log" 2>&1 ||
	fail "hikyaku-sendmail failed with the daemon down: $(cat "$T/sendmail.log")"
hk_start
wait_for 30 upstream_has up 1 || fail "dropped message not delivered: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty"
"$PY" - "$T/up-up" <<'PYEOF' || fail "delivered message is wrong"
import email, glob, json, sys
(eml,) = glob.glob(sys.argv[1] + "/*.eml")
meta = json.load(open(eml[:-4] + ".json"))
msg = email.message_from_binary_file(open(eml, "rb"))
assert meta["mail_from"] == "cron@example.org", meta
assert sorted(meta["rcpt_tos"]) == ["admin@example.net", "hidden@example.net"], meta
for h in ("Message-ID", "Date"):
    assert msg[h], "no %s: header added" % h
assert not msg["Bcc"], "Bcc: was not dropped"
assert "queued while down" in msg.get_payload()
PYEOF
hk_stop || fail "daemon stop"
